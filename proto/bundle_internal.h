/*
 * bundle_internal.h - what bundle.c (the file, the checkpoint, the entries
 * and the registry) shares with bundle_path.c (the devices: containment,
 * chains and custody paths). Not for use outside libcustody's bundle files.
 */
#ifndef CUSTODY_BUNDLE_INTERNAL_H
#define CUSTODY_BUNDLE_INTERNAL_H

#include "bundle.h"

/* No such device / entry. */
#define BUNDLE_NONE ((size_t)-1)

/* One entry of the bundle, decoded. */
struct bundle_entry {
	uint64_t index;
	Custody__LogEntry *log;	   /* owned; NULL if it did not decode */
	Custody__Event *ev;	   /* owned; event entries */
	Custody__AdminAction *act; /* owned; admin entries */
	struct bundle_event event; /* event entries: the public view */
	bool ok;		   /* decoded, well formed, signature verified */
	bool is_event;		   /* an ENTRY_EVENT (else ENTRY_ADMIN) */
	bool rejected;		   /* verdict REJECT: evidence, never applied */
	bool needed;		   /* reaches a device / registers what an event uses */
};

/* A registration of a key or a facility; borrows the entry's action. */
struct bundle_reg {
	const Custody__KeyRecord *key;
	const Custody__Facility *facility;
	size_t entry; /* position in bundle_state.entries */
};

/*
 * A logged change of a key: a rotate_key of it (the old key) or a
 * revoke_key; borrows the entry's action (bundle_keys.c).
 */
struct bundle_change {
	const uint8_t *pubkey; /* the key it changes */
	size_t entry;	       /* position in bundle_state.entries */
	int64_t until_ms;      /* a rotation: the key is valid until then; else 0 */
	int64_t revoked_ms;    /* a revocation: revoked from then on; else 0 */
};

struct bundle_devs;

struct bundle_state {
	Custody__ProofBundle *pb; /* owned */
	struct bundle_entry *entries;
	size_t n_entries;
	struct bundle_reg *keys; /* sorted by public key */
	size_t n_keys;
	struct bundle_reg *facilities; /* sorted by id */
	size_t n_facilities;
	struct bundle_change *changes; /* sorted by public key, then log order */
	size_t n_changes;
	struct bundle_devs *devs; /* bundle_path.c's */
	bool nomem;		  /* an allocation failed: the report is incomplete */
};

/* Records a problem in r (formatted, one line); marks r not verified. */
void bundle_problem(struct bundle_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Country of the registered facility id, or "" (borrowed from the bundle). */
const char *bundle_country(const struct bundle_state *st, const char *id);

/*
 * Builds the device table from the decoded events: every serial they name
 * and, for each, its first accepted REGISTER. CU_ERR_NOMEM.
 */
CU_MUST_USE int bundle_devices_build(struct bundle_state *st);

/*
 * The REGISTER reference of serial (borrowed) and, in *entry, its position
 * in st->entries; NULL if the bundle registers no such device.
 */
const Custody__DeviceRef *bundle_device_register(const struct bundle_state *st, const char *serial,
						 size_t *entry);

/*
 * Replays the events: finds the subject's devices, checks each one's chain
 * and those of the containers that held it, marks every event entry that
 * reaches one, and fills r's devices. Problems go to r. CU_ERR_NOMEM.
 */
CU_MUST_USE int bundle_paths(struct bundle_report *r);

/*
 * Key lifecycle (bundle_keys.c). bundle_keys_file files entry i's
 * rotate_key (the new key's registration into st->keys, and a change of
 * the old key) or revoke_key (a change) into the arrays sized for every
 * admin entry; bundle_keys_sort sorts the changes once all are filed.
 */
void bundle_keys_file(struct bundle_state *st, size_t i);
void bundle_keys_sort(struct bundle_state *st);

/*
 * Checks that event entry e was signed while its signer, registered by k,
 * was valid as the bundle's changes of it leave it: recorded at or after
 * the key's valid_from (or its registration), dated at or after a stated
 * valid_from, and both recorded and dated before its earliest valid_until
 * and revocation. Marks the changes it applies needed.
 */
void bundle_keys_check_validity(struct bundle_report *r, const struct bundle_entry *e,
				const struct bundle_reg *k);

/* Is admin entry e a key change signed by the key it changes? */
bool bundle_keys_self_signed(const struct bundle_entry *e);

/* Every change must be of a key that signs an event of the bundle. */
void bundle_keys_check_needed(struct bundle_report *r);

/* Frees the device table; accepts NULL. */
void bundle_devices_free(struct bundle_devs *devs);

#endif
