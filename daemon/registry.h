/*
 * registry.h - parties, their keys and facilities, held in memory.
 *
 * The registry is small (thousands of rows) and read on every submission,
 * so custodyd keeps a copy in memory, loaded from PostgreSQL when the
 * sequencer (the only writer) connects and updated after each committed
 * registration. Pure data structure: no I/O here.
 */
#ifndef CUSTODY_REGISTRY_H
#define CUSTODY_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "validate.h"

struct party {
	char id[VALIDATE_ID_MAX + 1];
	char name[VALIDATE_NAME_MAX + 1];
	char country[3];
	char hq_country[3];
	char parent_country[3];
	uint32_t roles; /* bit (1 << Custody__Role) per role */
	bool trusted_exporter;
};

struct key_rec {
	uint8_t pubkey[32];
	char party[VALIDATE_ID_MAX + 1];
	Custody__Role role;
	int64_t valid_from_ms;
	int64_t valid_until_ms; /* 0 = no expiry; rotations end it earlier */
	int64_t revoked_at_ms;	/* 0 = not revoked */
	/*
	 * valid_from was stated at registration (else it is the registration's
	 * time, and events dated before it, entered late, are still signed
	 * within the key's validity)
	 */
	bool valid_from_stated;
};

struct facility {
	char id[VALIDATE_ID_MAX + 1];
	char name[VALIDATE_NAME_MAX + 1];
	char owner[VALIDATE_ID_MAX + 1];
	char operator_[VALIDATE_ID_MAX + 1];
	char country[3];
	double latitude, longitude;
	bool authorized;
	int64_t authorized_since_ms;
};

struct registry;

/* A new empty registry, or NULL. Free with registry_free. */
struct registry *registry_new(void);
void registry_free(struct registry *reg);

/* Lookups; borrowed pointers valid until the entry is replaced. */
const struct party *registry_party(const struct registry *reg, const char *id);
const struct key_rec *registry_key(const struct registry *reg, const uint8_t pubkey[32]);
const struct facility *registry_facility(const struct registry *reg, const char *id);

/* Inserts or replaces copies of the given rows. */
CU_MUST_USE int registry_put_party(struct registry *reg, const struct party *p);
CU_MUST_USE int registry_put_key(struct registry *reg, const struct key_rec *k);
CU_MUST_USE int registry_put_facility(struct registry *reg, const struct facility *f);

/* Converters from the protocol messages (already validated). */
void registry_party_from_pb(const Custody__Party *pb, struct party *out);
void registry_key_from_pb(const Custody__KeyRecord *pb, int64_t now_ms, struct key_rec *out);
void registry_facility_from_pb(const Custody__Facility *pb, struct facility *out);

/* Field-by-field equality, for idempotent re-registration. */
bool registry_party_equal(const struct party *a, const struct party *b);
bool registry_key_equal(const struct key_rec *a, const struct key_rec *b);
bool registry_facility_equal(const struct facility *a, const struct facility *b);

/*
 * Is key usable to sign at now_ms? Returns NULL if so, else a static reason
 * ("revoked", "expired", "not yet valid").
 */
const char *registry_key_unusable(const struct key_rec *k, int64_t now_ms);

/*
 * Why key may not sign a submission recorded at now_ms and dated dated_ms
 * (an event's occurred_at_ms, an admin action's issued_at_ms): NULL if it
 * may. Else a static reason ("revoked", "expired", "not yet valid"), with
 * *when_ms the time the key was revoked, expired or becomes valid, and
 * *by_date true if only the date is outside the key's validity. A key is
 * usable from valid_from until valid_until and revoked_at, both
 * exclusive; the date is held against valid_from only if it was stated.
 */
const char *registry_key_refusal(const struct key_rec *k, int64_t now_ms, int64_t dated_ms,
				 int64_t *when_ms, bool *by_date);

/*
 * Ends key pk's validity (a rotation's valid_until_ms, a revocation's
 * revoked_at_ms; 0 = leave it): each only ever moves earlier. A revocation
 * that does keeps a copy of its reason (borrowed; NULL or "" for none).
 * Returns CU_ERR_NOT_FOUND if pk is not registered, CU_ERR_NOMEM.
 */
CU_MUST_USE int registry_key_end(struct registry *reg, const uint8_t pubkey[32],
				 int64_t valid_until_ms, int64_t revoked_at_ms, const char *reason);

/* The reason given with key pk's revocation in force; "" if none (borrowed). */
const char *registry_key_revoked_reason(const struct registry *reg, const uint8_t pubkey[32]);

#endif
