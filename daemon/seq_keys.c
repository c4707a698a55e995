/*
 * seq_keys.c - the key lifecycle in the sequencer (docs/keys.md): whether
 * a key may sign what it signed, and deciding, writing and applying the
 * admin actions that rotate and revoke keys.
 *
 * A key signs nothing recorded at or after its end (the earliest of its
 * valid_until and revoked_at), nor anything dated at or after it: a
 * revoked key cannot sign new events, whatever date it writes, and a
 * backdated revocation also refuses the events dated after the
 * compromise began. Key changes are rows of their own (key_changes), never
 * updates of the key's registration; the registry applies them after
 * COMMIT, and at start-up from the stored rows.
 */
#include <string.h>

#include "codec.h"
#include "enums.h"
#include "key.h"
#include "seq_internal.h"

/* The time the item is dated: an event's occurrence, an action's issue. */
static int64_t dated_ms(const struct item *it)
{
	return it->is_admin ? it->act->issued_at_ms : it->ev->occurred_at_ms;
}

bool seq_key_usable(struct item *it, const struct key_rec *key, const struct seq_ctx *ctx)
{
	int64_t when = 0, dated = dated_ms(it);
	bool by_date = false;
	const char *why = registry_key_refusal(key, ctx->now_ms, dated, &when, &by_date);
	const char *reason = why != NULL && strcmp(why, "revoked") == 0
				 ? registry_key_revoked_reason(ctx->reg, key->pubkey)
				 : "";
	char pk[KEY_PUB_TEXT_MAX], at[CODEC_TIME_MAX], date[CODEC_TIME_MAX];

	if (why == NULL)
		return true;
	key_pub_format(it->signer, pk);
	codec_time_format(when, at);
	codec_time_format(dated, date);
	if (!by_date && strcmp(why, "not yet valid") == 0)
		seq_refuse(it, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			   "signer key %s is not yet valid: it is valid from %s", pk, at);
	else if (!by_date)
		seq_refuse(it, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			   "signer key %s is %s at %s%s%s%s", pk, why, at,
			   reason[0] != '\0' ? " (" : "", reason, reason[0] != '\0' ? ")" : "");
	else if (strcmp(why, "not yet valid") == 0)
		seq_refuse(it, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			   "signer key %s is not yet valid at %s, the submission's date: it is "
			   "valid from %s",
			   pk, date, at);
	else
		seq_refuse(it, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			   "signer key %s is %s at %s, and the submission is dated %s, not before "
			   "that",
			   pk, why, at, date);
	return false;
}

/* The key an action changes. */
static const uint8_t *subject_key(const Custody__AdminAction *act)
{
	if (act->action_case == CUSTODY__ADMIN_ACTION__ACTION_ROTATE_KEY)
		return act->rotate_key->old_pubkey.data;
	if (act->action_case == CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY)
		return act->revoke_key->pubkey.data;
	return NULL;
}

bool seq_keys_self_signed(const struct item *it)
{
	const uint8_t *pk = subject_key(it->act);

	return pk != NULL && memcmp(pk, it->signer, KEY_PUBLIC_BYTES) == 0;
}

/*
 * The registered key the action changes, or NULL with the item refused:
 * UNAUTHENTICATED if it signed the action itself and is not registered or
 * not usable, else NOT_FOUND.
 */
static const struct key_rec *changed_key(struct item *it, const struct seq_ctx *ctx)
{
	const uint8_t *pk = subject_key(it->act);
	const struct key_rec *k = registry_key(ctx->reg, pk);
	char text[KEY_PUB_TEXT_MAX];

	key_pub_format(pk, text);
	if (k == NULL && seq_keys_self_signed(it))
		seq_refuse(it, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			   "signer key %s is neither the bootstrap admin key nor registered", text);
	else if (k == NULL)
		seq_refuse(it, CUSTODY__ERROR_CODE__NOT_FOUND, "key %s is not registered", text);
	else if (seq_keys_self_signed(it) && !seq_key_usable(it, k, ctx))
		k = NULL;
	return k;
}

/* When a rotation recorded at recorded_ms ends the old key. */
static int64_t rotation_end_ms(const Custody__KeyRotation *rot, int64_t recorded_ms)
{
	return rot->old_valid_until_ms > recorded_ms ? rot->old_valid_until_ms : recorded_ms;
}

/* When a revocation takes effect. */
static int64_t revocation_ms(const Custody__AdminAction *act)
{
	return act->revoke_key->revoked_at_ms != 0 ? act->revoke_key->revoked_at_ms
						   : act->issued_at_ms;
}

static void add_change_row(struct db_job *job, const struct item *it, const uint8_t *pk,
			   const char *kind, int64_t until_ms, const uint8_t *successor,
			   int64_t revoked_ms, const char *reason)
{
	static const uint8_t none[1]; /* no successor: 0 bytes, never NULL for memcpy */

	db_job_add(job, SQL_INSERT_KEY_CHANGE);
	db_param_i64(job, (int64_t)it->seq);
	db_param_bytes(job, pk, KEY_PUBLIC_BYTES);
	db_param_text(job, kind);
	db_param_i64(job, until_ms);
	db_param_bytes(job, successor != NULL ? successor : none,
		       successor != NULL ? KEY_PUBLIC_BYTES : 0);
	db_param_i64(job, revoked_ms);
	db_param_text(job, reason);
	db_param_i64(job, it->recorded_ms);
}

/* Is the new key of a rotation one the old key may become? Refuses it if not. */
static bool check_successor(struct item *it, const struct seq_ctx *ctx, const struct key_rec *old,
			    const struct key_rec *k)
{
	const struct key_rec *known = registry_key(ctx->reg, k->pubkey);
	const char *role = enum_name(&custody__role__descriptor, old->role);

	if (strcmp(k->party, old->party) != 0 || k->role != old->role) {
		seq_refuse(it, CUSTODY__ERROR_CODE__BAD_REQUEST,
			   "a rotation's new key is for the old key's party and role (party %s, "
			   "role %s), not for party %s, role %s",
			   old->party, role, k->party,
			   enum_name(&custody__role__descriptor, k->role));
		return false;
	}
	if (known != NULL) {
		seq_refuse(it, CUSTODY__ERROR_CODE__CONFLICT,
			   "the new key is already registered (party %s, role %s): a rotation "
			   "needs a new key",
			   known->party, enum_name(&custody__role__descriptor, known->role));
		return false;
	}
	return true;
}

void seq_keys_decide_rotate(struct item *it, const struct seq_ctx *ctx, struct db_job *job)
{
	const Custody__KeyRotation *rot = it->act->rotate_key;
	const struct key_rec *old = changed_key(it, ctx);
	const char *why;
	char pk[KEY_PUB_TEXT_MAX];
	struct key_rec k;

	if (old == NULL)
		return;
	why = registry_key_unusable(old, ctx->now_ms);
	if (why != NULL) {
		key_pub_format(old->pubkey, pk);
		seq_refuse(it, CUSTODY__ERROR_CODE__CONFLICT,
			   "key %s is %s and cannot be rotated: register a new key for party %s",
			   pk, why, old->party);
		return;
	}
	registry_key_from_pb(rot->new_key, ctx->now_ms, &k);
	if (!check_successor(it, ctx, old, &k))
		return;
	seq_admin_row(job, it, "rotate_key");
	db_job_add(job, SQL_INSERT_KEY);
	db_param_bytes(job, k.pubkey, KEY_PUBLIC_BYTES);
	db_param_text(job, k.party);
	db_param_text(job, enum_name(&custody__role__descriptor, k.role));
	db_param_i64(job, k.valid_from_ms);
	db_param_i64(job, k.valid_until_ms);
	db_param_i64(job, (int64_t)it->seq);
	db_param_i64(job, it->recorded_ms);
	add_change_row(job, it, old->pubkey, "rotate", rotation_end_ms(rot, it->recorded_ms),
		       k.pubkey, 0, "");
}

void seq_keys_decide_revoke(struct item *it, const struct seq_ctx *ctx, struct db_job *job)
{
	const Custody__KeyRevocation *rev = it->act->revoke_key;
	const struct key_rec *k = changed_key(it, ctx);
	int64_t at = revocation_ms(it->act);
	char pk[KEY_PUB_TEXT_MAX], when[CODEC_TIME_MAX];

	if (k == NULL)
		return;
	if (k->revoked_at_ms != 0 && k->revoked_at_ms <= at) {
		key_pub_format(k->pubkey, pk);
		codec_time_format(k->revoked_at_ms, when);
		seq_refuse(it, CUSTODY__ERROR_CODE__CONFLICT,
			   "key %s is already revoked at %s (a revocation may only move it "
			   "earlier)",
			   pk, when);
		return;
	}
	seq_admin_row(job, it, "revoke_key");
	add_change_row(job, it, k->pubkey, "revoke", 0, NULL, at,
		       rev->reason != NULL ? rev->reason : "");
}

int seq_keys_commit(const struct item *it, struct registry *reg)
{
	const Custody__AdminAction *act = it->act;
	struct key_rec k;

	if (act->action_case == CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY)
		return registry_key_end(reg, act->revoke_key->pubkey.data, 0, revocation_ms(act),
					act->revoke_key->reason);
	registry_key_from_pb(act->rotate_key->new_key, it->recorded_ms, &k);
	if (registry_put_key(reg, &k) != CU_OK)
		return CU_ERR_NOMEM;
	return registry_key_end(reg, act->rotate_key->old_pubkey.data,
				rotation_end_ms(act->rotate_key, it->recorded_ms), 0, NULL);
}
