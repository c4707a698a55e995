/*
 * bundle_keys.c - the key lifecycle in proof bundles (docs/bundle.md,
 * docs/keys.md): rotations and revocations of the signers' keys, carried
 * as logged entries like the registrations, and the validity they leave
 * each key with when its events are checked.
 *
 * A key is valid from its registration's valid_from (or the registration's
 * recording) until the earliest of its registered valid_until, the ends
 * its rotations gave it and its revocations; custodyd refuses what a key
 * signs outside that, by the time of recording and by the event's own
 * date, and verify checks both the same way. All of a key's changes in
 * the bundle apply, also those logged after the event: a revocation
 * backdated to when a compromise began fails the events dated or recorded
 * after it.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bundle_internal.h"
#include "codec.h"

/* When a rotation, logged as entry e, ends the old key (as custodyd does). */
static int64_t rotation_end(const struct bundle_entry *e)
{
	int64_t until = e->act->rotate_key->old_valid_until_ms;

	return until > e->log->recorded_at_ms ? until : e->log->recorded_at_ms;
}

void bundle_keys_file(struct bundle_state *st, size_t i)
{
	const struct bundle_entry *e = &st->entries[i];
	const Custody__AdminAction *act = e->act;
	struct bundle_change *c = &st->changes[st->n_changes++];

	memset(c, 0, sizeof(*c));
	c->entry = i;
	if (act->action_case == CUSTODY__ADMIN_ACTION__ACTION_ROTATE_KEY) {
		st->keys[st->n_keys++] = (struct bundle_reg){act->rotate_key->new_key, NULL, i};
		c->pubkey = act->rotate_key->old_pubkey.data;
		c->until_ms = rotation_end(e);
	} else {
		c->pubkey = act->revoke_key->pubkey.data;
		c->revoked_ms = act->revoke_key->revoked_at_ms != 0 ? act->revoke_key->revoked_at_ms
								    : act->issued_at_ms;
	}
}

static int cmp_change(const void *a, const void *b)
{
	const struct bundle_change *x = a, *y = b;
	int c = memcmp(x->pubkey, y->pubkey, KEY_PUBLIC_BYTES);

	if (c != 0)
		return c;
	return x->entry < y->entry ? -1 : x->entry > y->entry;
}

void bundle_keys_sort(struct bundle_state *st)
{
	qsort(st->changes, st->n_changes, sizeof(*st->changes), cmp_change);
}

/* The earlier of two ends, 0 meaning none. */
static int64_t earlier(int64_t a, int64_t b)
{
	return a == 0 || (b != 0 && b < a) ? b : a;
}

/* Reports e signed at or after end (by date or recording), which why names. */
static void check_end(struct bundle_report *r, const struct bundle_entry *e, const char *pk,
		      int64_t end, const char *why)
{
	char at[CODEC_TIME_MAX], date[CODEC_TIME_MAX];

	if (end == 0)
		return;
	codec_time_format(end, at);
	codec_time_format(e->ev->occurred_at_ms, date);
	if (e->event.recorded_at_ms >= end)
		bundle_problem(r,
			       "entry %" PRIu64 ": signer key %s was %s at %s, before the event "
			       "was recorded",
			       e->index, pk, why, at);
	else if (e->ev->occurred_at_ms >= end)
		bundle_problem(r,
			       "entry %" PRIu64 ": signer key %s was %s at %s, and the event is "
			       "dated %s, not before that",
			       e->index, pk, why, at, date);
}

void bundle_keys_check_validity(struct bundle_report *r, const struct bundle_entry *e,
				const struct bundle_reg *k)
{
	struct bundle_state *st = r->state;
	const Custody__KeyRecord *key = k->key;
	int64_t from = key->valid_from_ms != 0 ? key->valid_from_ms
					       : st->entries[k->entry].log->recorded_at_ms;
	int64_t until = key->valid_until_ms, revoked = 0;
	char pk[KEY_PUB_TEXT_MAX];

	for (size_t i = 0; i < st->n_changes; i++) {
		const struct bundle_change *c = &st->changes[i];

		if (memcmp(c->pubkey, key->pubkey.data, KEY_PUBLIC_BYTES) != 0)
			continue;
		st->entries[c->entry].needed = true;
		until = earlier(until, c->until_ms);
		revoked = earlier(revoked, c->revoked_ms);
	}
	key_pub_format(key->pubkey.data, pk);
	if (e->event.recorded_at_ms < from ||
	    (key->valid_from_ms != 0 && e->ev->occurred_at_ms < from))
		bundle_problem(r,
			       "entry %" PRIu64 ": signer key %s was not valid when the event was "
			       "recorded or dated (it is valid from its registration)",
			       e->index, pk);
	if (revoked != 0 && (until == 0 || revoked <= until))
		check_end(r, e, pk, revoked, "revoked");
	else
		check_end(r, e, pk, until, "expired");
}

bool bundle_keys_self_signed(const struct bundle_entry *e)
{
	const Custody__AdminAction *act = e->act;
	const uint8_t *pk = NULL;

	if (act == NULL)
		return false;
	if (act->action_case == CUSTODY__ADMIN_ACTION__ACTION_ROTATE_KEY)
		pk = act->rotate_key->old_pubkey.data;
	else if (act->action_case == CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY)
		pk = act->revoke_key->pubkey.data;
	return pk != NULL && memcmp(pk, e->log->envelope->signer.data, KEY_PUBLIC_BYTES) == 0;
}

void bundle_keys_check_needed(struct bundle_report *r)
{
	const struct bundle_state *st = r->state;
	char pk[KEY_PUB_TEXT_MAX];

	for (size_t i = 0; i < st->n_changes; i++) {
		if (st->entries[st->changes[i].entry].needed)
			continue;
		key_pub_format(st->changes[i].pubkey, pk);
		bundle_problem(r,
			       "entry %" PRIu64 ": changes key %s, which signs no event of the "
			       "bundle",
			       st->entries[st->changes[i].entry].index, pk);
	}
}
