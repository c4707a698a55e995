/*
 * registry.c - the in-memory registry (see registry.h). Three hash maps of
 * heap-allocated rows; replacing a row frees the old copy.
 */
#include "registry.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

struct registry {
	struct hmap *parties;	 /* id -> struct party */
	struct hmap *keys;	 /* pubkey -> struct key_rec */
	struct hmap *facilities; /* id -> struct facility */
	struct hmap *reasons;	 /* pubkey -> revocation reason (malloc'd text) */
};

struct registry *registry_new(void)
{
	struct registry *reg = calloc(1, sizeof(*reg));

	if (reg == NULL)
		return NULL;
	reg->parties = hmap_new();
	reg->keys = hmap_new();
	reg->facilities = hmap_new();
	reg->reasons = hmap_new();
	if (reg->parties == NULL || reg->keys == NULL || reg->facilities == NULL ||
	    reg->reasons == NULL) {
		registry_free(reg);
		return NULL;
	}
	return reg;
}

void registry_free(struct registry *reg)
{
	if (reg == NULL)
		return;
	hmap_free(reg->parties, free);
	hmap_free(reg->keys, free);
	hmap_free(reg->facilities, free);
	hmap_free(reg->reasons, free);
	free(reg);
}

const struct party *registry_party(const struct registry *reg, const char *id)
{
	return hmap_get_str(reg->parties, id);
}

const struct key_rec *registry_key(const struct registry *reg, const uint8_t pubkey[32])
{
	return hmap_get(reg->keys, pubkey, 32);
}

const struct facility *registry_facility(const struct registry *reg, const char *id)
{
	return hmap_get_str(reg->facilities, id);
}

/* Copies size bytes of row and maps key to the copy, freeing any old row. */
static int put_copy(struct hmap *map, const void *key, size_t key_len, const void *row, size_t size)
{
	void *copy = malloc(size);
	void *old = NULL;

	if (copy == NULL)
		return CU_ERR_NOMEM;
	memcpy(copy, row, size);
	if (hmap_put(map, key, key_len, copy, &old) != CU_OK) {
		free(copy);
		return CU_ERR_NOMEM;
	}
	free(old);
	return CU_OK;
}

int registry_put_party(struct registry *reg, const struct party *p)
{
	return put_copy(reg->parties, p->id, strlen(p->id), p, sizeof(*p));
}

int registry_put_key(struct registry *reg, const struct key_rec *k)
{
	return put_copy(reg->keys, k->pubkey, 32, k, sizeof(*k));
}

int registry_put_facility(struct registry *reg, const struct facility *f)
{
	return put_copy(reg->facilities, f->id, strlen(f->id), f, sizeof(*f));
}

void registry_party_from_pb(const Custody__Party *pb, struct party *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", pb->id);
	snprintf(out->name, sizeof(out->name), "%s", pb->name);
	snprintf(out->country, sizeof(out->country), "%s", pb->country);
	snprintf(out->hq_country, sizeof(out->hq_country), "%s", pb->hq_country);
	snprintf(out->parent_country, sizeof(out->parent_country), "%s", pb->parent_country);
	for (size_t i = 0; i < pb->n_roles; i++)
		out->roles |= 1u << pb->roles[i];
	out->trusted_exporter = pb->trusted_exporter;
}

void registry_key_from_pb(const Custody__KeyRecord *pb, int64_t now_ms, struct key_rec *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->pubkey, pb->pubkey.data, 32);
	snprintf(out->party, sizeof(out->party), "%s", pb->party);
	out->role = pb->role;
	out->valid_from_ms = pb->valid_from_ms != 0 ? pb->valid_from_ms : now_ms;
	out->valid_until_ms = pb->valid_until_ms;
	out->valid_from_stated = pb->valid_from_ms != 0;
}

void registry_facility_from_pb(const Custody__Facility *pb, struct facility *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", pb->id);
	snprintf(out->name, sizeof(out->name), "%s", pb->name);
	snprintf(out->owner, sizeof(out->owner), "%s", pb->owner);
	snprintf(out->operator_, sizeof(out->operator_), "%s", pb->operator_);
	snprintf(out->country, sizeof(out->country), "%s", pb->country);
	out->latitude = pb->latitude;
	out->longitude = pb->longitude;
	out->authorized = pb->authorized;
	out->authorized_since_ms = pb->authorized_since_ms;
}

bool registry_party_equal(const struct party *a, const struct party *b)
{
	return strcmp(a->id, b->id) == 0 && strcmp(a->name, b->name) == 0 &&
	       strcmp(a->country, b->country) == 0 && strcmp(a->hq_country, b->hq_country) == 0 &&
	       strcmp(a->parent_country, b->parent_country) == 0 && a->roles == b->roles &&
	       a->trusted_exporter == b->trusted_exporter;
}

/* Registering the same key again matches whatever validity it was given. */
bool registry_key_equal(const struct key_rec *a, const struct key_rec *b)
{
	return memcmp(a->pubkey, b->pubkey, 32) == 0 && strcmp(a->party, b->party) == 0 &&
	       a->role == b->role && a->valid_until_ms == b->valid_until_ms;
}

bool registry_facility_equal(const struct facility *a, const struct facility *b)
{
	return strcmp(a->id, b->id) == 0 && strcmp(a->name, b->name) == 0 &&
	       strcmp(a->owner, b->owner) == 0 && strcmp(a->operator_, b->operator_) == 0 &&
	       strcmp(a->country, b->country) == 0 && a->latitude == b->latitude &&
	       a->longitude == b->longitude && a->authorized == b->authorized &&
	       a->authorized_since_ms == b->authorized_since_ms;
}

/* The earlier of two ends, 0 meaning none. */
static int64_t earlier_end(int64_t a, int64_t b)
{
	if (a == 0)
		return b;
	return b != 0 && b < a ? b : a;
}

/* Why k may not sign at t, the start of its validity taken as from_ms. */
static const char *refusal_at(const struct key_rec *k, int64_t t, int64_t from_ms, int64_t *when_ms)
{
	if (k->revoked_at_ms != 0 && k->revoked_at_ms <= t) {
		*when_ms = k->revoked_at_ms;
		return "revoked";
	}
	if (k->valid_until_ms != 0 && k->valid_until_ms <= t) {
		*when_ms = k->valid_until_ms;
		return "expired";
	}
	if (from_ms > t) {
		*when_ms = from_ms;
		return "not yet valid";
	}
	return NULL;
}

const char *registry_key_unusable(const struct key_rec *k, int64_t now_ms)
{
	int64_t when;

	return refusal_at(k, now_ms, k->valid_from_ms, &when);
}

const char *registry_key_refusal(const struct key_rec *k, int64_t now_ms, int64_t dated_ms,
				 int64_t *when_ms, bool *by_date)
{
	const char *why = refusal_at(k, now_ms, k->valid_from_ms, when_ms);

	*by_date = why == NULL;
	if (why != NULL)
		return why;
	return refusal_at(k, dated_ms, k->valid_from_stated ? k->valid_from_ms : INT64_MIN,
			  when_ms);
}

int registry_key_end(struct registry *reg, const uint8_t pubkey[32], int64_t valid_until_ms,
		     int64_t revoked_at_ms, const char *reason)
{
	struct key_rec *k = hmap_get(reg->keys, pubkey, 32);
	const char *text = reason != NULL ? reason : "";

	if (k == NULL)
		return CU_ERR_NOT_FOUND;
	k->valid_until_ms = earlier_end(k->valid_until_ms, valid_until_ms);
	if (revoked_at_ms == 0 || k->revoked_at_ms == earlier_end(k->revoked_at_ms, revoked_at_ms))
		return CU_OK;
	k->revoked_at_ms = revoked_at_ms;
	return put_copy(reg->reasons, pubkey, 32, text, strlen(text) + 1);
}

const char *registry_key_revoked_reason(const struct registry *reg, const uint8_t pubkey[32])
{
	const char *r = hmap_get(reg->reasons, pubkey, 32);

	return r != NULL ? r : "";
}
