/*
 * seq_admin.c - deciding and writing one admin action: a registration, a
 * policy load or an alert note.
 *
 * Admin actions are rare and change who may sign what and which rules
 * hold, so each is a batch of its own: events queued after it are decided
 * against the registry and policy as they stand after its COMMIT.
 * Registering the same thing twice with the same details is answered
 * "unchanged"; with different details, CONFLICT. A policy load is stored
 * as signed (its body is the data) and added to the in-memory store.
 * Alert notes may also be signed by regulators and by the exporter the
 * alert is about; each moves the alert along open -> acknowledged ->
 * resolved or just comments. Key rotations and revocations (seq_keys.c)
 * may also be signed by the key they change.
 */
#include <stdio.h>
#include <string.h>

#include "enums.h"
#include "key.h"
#include "seq_internal.h"

struct db_job *seq_admin_load_job(struct item *item, db_done_fn done, void *arg)
{
	struct db_job *job = db_job_new(done, arg);

	if (job == NULL)
		return NULL;
	db_job_add(job, SQL_FIND_ADMIN);
	db_param_bytes(job, item->id, 32);
	if (item->act->action_case == CUSTODY__ADMIN_ACTION__ACTION_ALERT_NOTE) {
		db_job_add(job, SQL_FIND_ALERT);
		db_param_i64(job, (int64_t)item->act->alert_note->alert_id);
	}
	return job;
}

/*
 * The signer's registered key if it is usable (NULL for the bootstrap admin
 * key, which *is_bootstrap then says); refuses the item if neither.
 */
static const struct key_rec *signer_key(struct item *it, const struct seq_ctx *ctx,
					bool *is_bootstrap)
{
	const struct key_rec *key;
	char pk[KEY_PUB_TEXT_MAX];

	*is_bootstrap = memcmp(it->signer, ctx->admin_key, 32) == 0;
	if (*is_bootstrap)
		return NULL;
	key = registry_key(ctx->reg, it->signer);
	key_pub_format(it->signer, pk);
	if (key == NULL) {
		seq_refuse(it, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			   "signer key %s is neither the bootstrap admin key nor registered", pk);
		return NULL;
	}
	if (!seq_key_usable(it, key, ctx))
		return NULL;
	return key;
}

/* May the signer act as admin? Refuses the item if not. */
static bool authorize(struct item *it, const struct seq_ctx *ctx)
{
	bool bootstrap;
	const struct key_rec *key = signer_key(it, ctx, &bootstrap);

	if (bootstrap)
		return true;
	if (key == NULL)
		return false;
	if (key->role != CUSTODY__ROLE__ADMIN) {
		seq_refuse(it, CUSTODY__ERROR_CODE__FORBIDDEN,
			   "admin actions need the bootstrap admin key or an ADMIN key; this key "
			   "of party %s has role %s",
			   key->party, enum_name(&custody__role__descriptor, key->role));
		return false;
	}
	return true;
}

void seq_admin_row(struct db_job *job, const struct item *it, const char *kind)
{
	db_job_add(job, SQL_INSERT_ADMIN);
	db_param_i64(job, (int64_t)it->seq);
	db_param_bytes(job, it->id, 32);
	db_param_text(job, kind);
	db_param_bytes(job, it->signer, 32);
	db_param_bytes(job, it->body, it->body_len);
	db_param_bytes(job, it->sig, 64);
	db_param_i64(job, it->act->issued_at_ms);
	db_param_i64(job, it->recorded_ms);
}

static void decide_party(struct item *it, const struct seq_ctx *ctx, struct db_job *job)
{
	const Custody__Party *pb = it->act->register_party;
	const struct party *old = registry_party(ctx->reg, pb->id);
	struct party p;
	char roles[128] = "";

	registry_party_from_pb(pb, &p);
	if (old != NULL) {
		if (registry_party_equal(old, &p))
			it->unchanged = true;
		else
			seq_refuse(it, CUSTODY__ERROR_CODE__CONFLICT,
				   "party %s is already registered with different details", pb->id);
		return;
	}
	for (size_t i = 0; i < pb->n_roles; i++) {
		if (i > 0)
			strcat(roles, ",");
		strcat(roles, enum_name(&custody__role__descriptor, pb->roles[i]));
	}
	seq_admin_row(job, it, "register_party");
	db_job_add(job, SQL_INSERT_PARTY);
	db_param_text(job, p.id);
	db_param_text(job, p.name);
	db_param_text(job, p.country);
	db_param_text(job, p.hq_country);
	db_param_text(job, p.parent_country);
	db_param_text(job, roles);
	db_param_bool(job, p.trusted_exporter);
	db_param_i64(job, (int64_t)it->seq);
	db_param_i64(job, it->recorded_ms);
}

static void decide_key(struct item *it, const struct seq_ctx *ctx, struct db_job *job)
{
	const Custody__KeyRecord *pb = it->act->register_key;
	const struct party *party = registry_party(ctx->reg, pb->party);
	const struct key_rec *old;
	struct key_rec k;

	registry_key_from_pb(pb, ctx->now_ms, &k);
	if (party == NULL) {
		seq_refuse(it, CUSTODY__ERROR_CODE__NOT_FOUND, "party %s is not registered",
			   pb->party);
		return;
	}
	if (!(party->roles & (1u << pb->role))) {
		seq_refuse(it, CUSTODY__ERROR_CODE__REJECTED,
			   "party %s does not have role %s: register the party with it first",
			   pb->party, enum_name(&custody__role__descriptor, pb->role));
		snprintf(it->res.rule, sizeof(it->res.rule), "registry.role");
		return;
	}
	old = registry_key(ctx->reg, k.pubkey);
	if (old != NULL) {
		if (registry_key_equal(old, &k))
			it->unchanged = true;
		else
			seq_refuse(it, CUSTODY__ERROR_CODE__CONFLICT,
				   "this key is already registered (party %s, role %s)", old->party,
				   enum_name(&custody__role__descriptor, old->role));
		return;
	}
	seq_admin_row(job, it, "register_key");
	db_job_add(job, SQL_INSERT_KEY);
	db_param_bytes(job, k.pubkey, 32);
	db_param_text(job, k.party);
	db_param_text(job, enum_name(&custody__role__descriptor, k.role));
	db_param_i64(job, k.valid_from_ms);
	db_param_i64(job, k.valid_until_ms);
	db_param_i64(job, (int64_t)it->seq);
	db_param_i64(job, it->recorded_ms);
}

static void decide_facility(struct item *it, const struct seq_ctx *ctx, struct db_job *job)
{
	const Custody__Facility *pb = it->act->register_facility;
	const struct facility *old = registry_facility(ctx->reg, pb->id);
	const char *parties[2] = {pb->owner, pb->operator_};
	struct facility f;

	registry_facility_from_pb(pb, &f);
	for (int i = 0; i < 2; i++) {
		if (registry_party(ctx->reg, parties[i]) == NULL) {
			seq_refuse(it, CUSTODY__ERROR_CODE__NOT_FOUND, "party %s is not registered",
				   parties[i]);
			return;
		}
	}
	if (old != NULL) {
		if (registry_facility_equal(old, &f))
			it->unchanged = true;
		else
			seq_refuse(it, CUSTODY__ERROR_CODE__CONFLICT,
				   "facility %s is already registered with different details",
				   f.id);
		return;
	}
	seq_admin_row(job, it, "register_facility");
	db_job_add(job, SQL_INSERT_FACILITY);
	db_param_text(job, f.id);
	db_param_text(job, f.name);
	db_param_text(job, f.owner);
	db_param_text(job, f.operator_);
	db_param_text(job, f.country);
	db_param_double(job, f.latitude);
	db_param_double(job, f.longitude);
	db_param_bool(job, f.authorized);
	db_param_i64(job, f.authorized_since_ms);
	db_param_i64(job, (int64_t)it->seq);
	db_param_i64(job, it->recorded_ms);
}

static void decide_policy(struct item *it, struct db_job *job)
{
	seq_admin_row(job, it, "load_policy");
}

static const char *const note_states[] = {
    [CUSTODY__ALERT_STATE__OPEN] = "OPEN",
    [CUSTODY__ALERT_STATE__ACKNOWLEDGED] = "ACKNOWLEDGED",
    [CUSTODY__ALERT_STATE__RESOLVED] = "RESOLVED",
};

/*
 * Alert notes: a regulator on any alert, the exporter on its own, an
 * admin on any; the step must follow open -> acknowledged -> resolved.
 */
static void decide_note(struct item *it, const struct seq_ctx *ctx, const PGresult *alert,
			struct db_job *job)
{
	const Custody__AlertNote *note = it->act->alert_note;
	bool bootstrap;
	const struct key_rec *key = signer_key(it, ctx, &bootstrap);
	const char *party = bootstrap ? "" : key != NULL ? key->party : NULL;
	int state;

	if (party == NULL)
		return;
	if (alert == NULL || PQntuples(alert) == 0) {
		seq_refuse(it, CUSTODY__ERROR_CODE__NOT_FOUND, "alert %llu does not exist",
			   (unsigned long long)note->alert_id);
		return;
	}
	if (bootstrap) {
		seq_refuse(it, CUSTODY__ERROR_CODE__FORBIDDEN,
			   "an alert note needs the key of a registered party (regulator, the "
			   "exporter, or an admin), so the note has an author");
		return;
	}
	if (key->role != CUSTODY__ROLE__REGULATOR && key->role != CUSTODY__ROLE__ADMIN &&
	    !(key->role == CUSTODY__ROLE__EXPORTER &&
	      strcmp(PQgetvalue(alert, 0, 0), key->party) == 0)) {
		seq_refuse(it, CUSTODY__ERROR_CODE__FORBIDDEN,
			   "party %s (role %s) may not annotate alert %llu: regulators may, and "
			   "the exporter whose devices it is about",
			   key->party, enum_name(&custody__role__descriptor, key->role),
			   (unsigned long long)note->alert_id);
		return;
	}
	state = enum_value(&custody__alert_state__descriptor, PQgetvalue(alert, 0, 1));
	if (state == CUSTODY__ALERT_STATE__RESOLVED && note->state != 0) {
		seq_refuse(it, CUSTODY__ERROR_CODE__CONFLICT, "alert %llu is already resolved",
			   (unsigned long long)note->alert_id);
		return;
	}
	if (note->state == CUSTODY__ALERT_STATE__ACKNOWLEDGED &&
	    state == CUSTODY__ALERT_STATE__ACKNOWLEDGED) {
		seq_refuse(it, CUSTODY__ERROR_CODE__CONFLICT, "alert %llu is already acknowledged",
			   (unsigned long long)note->alert_id);
		return;
	}
	seq_admin_row(job, it, "alert_note");
	db_job_add(job, SQL_INSERT_NOTE);
	db_param_i64(job, (int64_t)it->seq);
	db_param_i64(job, (int64_t)note->alert_id);
	db_param_text(job, party);
	db_param_text(job, note->state != 0 ? note_states[note->state] : "");
	db_param_text(job, note->note);
	db_param_i64(job, it->recorded_ms);
}

/* Decides the action by its kind, adding its rows to job (or refusing it). */
static void decide_action(struct item *it, const struct seq_ctx *ctx, const struct db_job *loaded,
			  struct db_job *job)
{
	switch (it->act->action_case) {
	case CUSTODY__ADMIN_ACTION__ACTION_REGISTER_PARTY:
		decide_party(it, ctx, job);
		break;
	case CUSTODY__ADMIN_ACTION__ACTION_REGISTER_KEY:
		decide_key(it, ctx, job);
		break;
	case CUSTODY__ADMIN_ACTION__ACTION_REGISTER_FACILITY:
		decide_facility(it, ctx, job);
		break;
	case CUSTODY__ADMIN_ACTION__ACTION_LOAD_POLICY:
		decide_policy(it, job);
		break;
	case CUSTODY__ADMIN_ACTION__ACTION_ALERT_NOTE:
		decide_note(it, ctx, db_job_result(loaded, 1), job);
		break;
	case CUSTODY__ADMIN_ACTION__ACTION_ROTATE_KEY:
		seq_keys_decide_rotate(it, ctx, job);
		break;
	case CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY:
		seq_keys_decide_revoke(it, ctx, job);
		break;
	default:
		seq_refuse(it, CUSTODY__ERROR_CODE__BAD_REQUEST, "unknown admin action");
	}
}

struct db_job *seq_admin_decide(struct item *it, const struct db_job *loaded,
				const struct seq_ctx *ctx, db_done_fn done, void *arg,
				bool *nothing_to_write)
{
	const PGresult *found = db_job_result(loaded, 0);
	struct db_job *job;

	*nothing_to_write = true;
	if (found != NULL && PQntuples(found) > 0) {
		it->duplicate = true;
		it->seq = (uint64_t)db_value_i64(found, 0, 0);
		it->recorded_ms = db_value_i64(found, 0, 1);
		return NULL;
	}
	if (it->act->action_case != CUSTODY__ADMIN_ACTION__ACTION_ALERT_NOTE &&
	    !seq_keys_self_signed(it) && !authorize(it, ctx))
		return NULL;
	job = db_job_new(done, arg);
	if (job == NULL) {
		*nothing_to_write = false;
		return NULL;
	}
	it->seq = *ctx->next_admin_seq;
	it->recorded_ms = ctx->now_ms;
	seq_begin(job, ctx);
	decide_action(it, ctx, loaded, job);
	if (it->res.code != 0 || it->unchanged) {
		it->seq = 0;
		db_job_free(job);
		return NULL;
	}
	if (seq_log_append(it, ctx) != CU_OK || seq_log_finish(ctx, it, job) != CU_OK) {
		it->seq = 0;
		db_job_free(job);
		*nothing_to_write = false; /* out of memory: the caller rewinds */
		return NULL;
	}
	db_job_add(job, SQL_COMMIT);
	(*ctx->next_admin_seq)++;
	it->written = true;
	*nothing_to_write = false;
	return job;
}

int seq_admin_commit(struct item *it, struct registry *reg, struct policy_store *policy)
{
	const Custody__AdminAction *act = it->act;
	struct party p;
	struct key_rec k;
	struct facility f;
	char err[256];

	switch (act->action_case) {
	case CUSTODY__ADMIN_ACTION__ACTION_LOAD_POLICY:
		return policy_store_add(policy, act->load_policy, it->seq, err, sizeof(err));
	case CUSTODY__ADMIN_ACTION__ACTION_ALERT_NOTE:
		return CU_OK;
	case CUSTODY__ADMIN_ACTION__ACTION_REGISTER_PARTY:
		registry_party_from_pb(act->register_party, &p);
		return registry_put_party(reg, &p);
	case CUSTODY__ADMIN_ACTION__ACTION_REGISTER_KEY:
		registry_key_from_pb(act->register_key, it->recorded_ms, &k);
		return registry_put_key(reg, &k);
	case CUSTODY__ADMIN_ACTION__ACTION_REGISTER_FACILITY:
		registry_facility_from_pb(act->register_facility, &f);
		return registry_put_facility(reg, &f);
	case CUSTODY__ADMIN_ACTION__ACTION_ROTATE_KEY:
	case CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY:
		return seq_keys_commit(it, reg);
	default:
		return CU_OK;
	}
}
