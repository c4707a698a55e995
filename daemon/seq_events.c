/*
 * seq_events.c - deciding and writing a batch of custody events.
 *
 * Load: which of the batch's event ids are already stored (idempotency;
 * only those the filter of stored ids cannot rule out), and the rows of
 * every named device plus everything inside them. Decide: in arrival order, each event is checked for who signed it (registry),
 * what it refers to (facilities, parties) and what it does (state.c)
 * against the working set as the batch's earlier events left it. Write:
 * one transaction with the accepted events, their device links and the
 * final row of every changed device, a statement per table (seq_rows.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "devcache.h"
#include "enums.h"
#include "hmap.h"
#include "idfilter.h"
#include "key.h"
#include "log.h"
#include "metrics.h"
#include "seq_internal.h"
#include "sequencer.h"
#include "watch.h"

/* ---- load -------------------------------------------------------------- */

/* Adds serial to the list if it is not there yet. */
static int add_serial(struct hmap *seen, const char **list, size_t *n, const char *serial)
{
	if (hmap_get_str(seen, serial) != NULL)
		return CU_OK;
	if (hmap_put(seen, serial, strlen(serial), (void *)serial, NULL) != CU_OK)
		return CU_ERR_NOMEM;
	list[(*n)++] = serial;
	return CU_OK;
}

/* True if an item of list has this id. */
static bool has_id(const struct item *list, const uint8_t id[32])
{
	for (const struct item *it = list; it != NULL; it = it->next) {
		if (memcmp(it->id, id, 32) == 0)
			return true;
	}
	return false;
}

struct db_job *seq_events_load_job(struct item *batch, const struct idfilter *stored_ids,
				   struct devcache *cache, const struct seq_ahead *ahead,
				   struct state_ws **ws_out, db_done_fn done, void *arg)
{
	size_t n_items = 0, n_refs = 0, n_serials = 0, n_missed = 0;
	const uint8_t **ids = NULL;
	const char **serials = NULL;
	struct hmap *seen = hmap_new();
	struct state_ws *ws = state_ws_new();
	struct db_job *job = db_job_new(done, arg);
	int rc = seen != NULL && ws != NULL && job != NULL ? CU_OK : CU_ERR_NOMEM;
	bool hit;

	for (struct item *it = batch; it != NULL; it = it->next) {
		n_items++;
		n_refs += it->ev->n_devices + 1;
	}
	ids = malloc(n_items * sizeof(*ids));
	serials = malloc(n_refs * sizeof(*serials));
	if (ids == NULL || serials == NULL)
		rc = CU_ERR_NOMEM;
	n_items = 0;
	for (struct item *it = batch; it != NULL && rc == CU_OK; it = it->next) {
		if (stored_ids == NULL || idfilter_maybe(stored_ids, it->id)) {
			ids[n_items++] = it->id;
			/* A resend of an event the batch ahead is writing: found only after its COMMIT. */
			if (ahead != NULL && has_id(ahead->items, it->id))
				*ahead->after_write = true;
		}
		for (size_t i = 0; i < it->ev->n_devices && rc == CU_OK; i++)
			rc = add_serial(seen, serials, &n_serials, it->ev->devices[i]->serial);
		if (it->ev->container != NULL && rc == CU_OK)
			rc = add_serial(seen, serials, &n_serials, it->ev->container->serial);
	}
	/* Cached closures go to the working set; the database loads the rest. */
	for (size_t i = 0; i < n_serials && rc == CU_OK; i++) {
		rc = devcache_fill(cache, serials[i], ws, &hit);
		if (rc != CU_OK || hit)
			continue;
		serials[n_missed++] = serials[i];
		/* Changed (or registered) by the batch ahead but not cached: its row is not stored yet. */
		if (ahead != NULL && state_ws_get(ahead->ws, serials[i]) != NULL)
			*ahead->after_write = true;
	}
	if (rc == CU_OK) {
		db_job_add(job, SQL_FIND_EVENTS);
		db_param_bytea_array(job, ids, 32, n_items);
		db_job_add(job, SQL_LOAD_DEVICES);
		db_param_text_array(job, serials, n_missed);
	}
	free(ids);
	free(serials);
	hmap_free(seen, NULL);
	if (rc != CU_OK) {
		db_job_free(job);
		state_ws_free(ws);
		return NULL;
	}
	*ws_out = ws;
	return job;
}

bool seq_events_loaded_stale(const struct db_job *loaded, const struct state_ws *ahead)
{
	const PGresult *res = db_job_result(loaded, 1);

	for (int r = 0; r < PQntuples(res); r++) {
		if (state_ws_get(ahead, PQgetvalue(res, r, 0)) != NULL)
			return true;
	}
	return false;
}

/* ---- decide ------------------------------------------------------------ */

/* Reads one SQL_LOAD_DEVICES row (column order in sql.c). */
static int row_to_dev(const PGresult *res, int r, struct dev *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->serial, sizeof(d->serial), "%s", PQgetvalue(res, r, 0));
	d->kind = enum_value(&custody__device_kind__descriptor, PQgetvalue(res, r, 1));
	snprintf(d->model, sizeof(d->model), "%s", PQgetvalue(res, r, 2));
	snprintf(d->eccn_class, sizeof(d->eccn_class), "%s", PQgetvalue(res, r, 3));
	d->tpp = db_value_i64(res, r, 4);
	d->has_device_key = db_value_bytes(res, r, 5, d->device_key, 32) == CU_OK;
	snprintf(d->owner, sizeof(d->owner), "%s", PQgetvalue(res, r, 6));
	snprintf(d->custodian, sizeof(d->custodian), "%s", PQgetvalue(res, r, 7));
	d->status = enum_value(&custody__device_status__descriptor, PQgetvalue(res, r, 8));
	snprintf(d->facility, sizeof(d->facility), "%s", PQgetvalue(res, r, 9));
	snprintf(d->dest_facility, sizeof(d->dest_facility), "%s", PQgetvalue(res, r, 10));
	snprintf(d->parent, sizeof(d->parent), "%s", PQgetvalue(res, r, 11));
	snprintf(d->location, sizeof(d->location), "%s", PQgetvalue(res, r, 12));
	if (db_value_bytes(res, r, 13, d->head_id, 32) != CU_OK || d->kind == 0 || d->status == 0)
		return CU_ERR_INVALID;
	d->head_seq = (uint64_t)db_value_i64(res, r, 14);
	d->last_seq = (uint64_t)db_value_i64(res, r, 15);
	d->registered_seq = (uint64_t)db_value_i64(res, r, 16);
	d->last_at_ms = db_value_i64(res, r, 17);
	d->seen_at_ms = db_value_i64(res, r, 18);
	d->shipment_seq = (uint64_t)db_value_i64(res, r, 19);
	d->deadline_ms = db_value_i64(res, r, 20);
	return CU_OK;
}

/* Adds the loaded rows to the working set, then links it. */
static int load_ws(struct state_ws *ws, const PGresult *res)
{
	struct dev d;

	for (int r = 0; r < PQntuples(res); r++) {
		if (row_to_dev(res, r, &d) != CU_OK || state_ws_add(ws, &d) != CU_OK)
			return CU_ERR_NOMEM;
	}
	state_ws_link(ws);
	return CU_OK;
}

/* Refuses the item FORBIDDEN with v's reason and logs the attempt once. */
static bool forbid(struct item *it, const struct auth_verdict *v)
{
	char pk[KEY_PUB_TEXT_MAX];

	key_pub_format(it->signer, pk);
	log_warn("forbidden: %s event signed by %s (actor %s) from %s: %s",
		 enum_name(&custody__event_type__descriptor, it->ev->type), pk, it->ev->actor,
		 it->req != NULL ? req_peer(it->req) : "-", v->why);
	seq_refuse(it, CUSTODY__ERROR_CODE__FORBIDDEN, "%s", v->why);
	return false;
}

/*
 * May the connection that sent the item hand in this signature? Its own
 * key's or its party's always; a device's own ATTEST (key NULL: an
 * unregistered device key; or a DEVICE key) only if it is the device's
 * owner or the operator of the facility the device is at (auth.h).
 */
static bool relay_allowed(struct item *it, const struct key_rec *key, const struct state_ws *ws,
			  const struct seq_ctx *ctx)
{
	const struct principal *p = it->req != NULL ? req_principal(it->req) : NULL;
	const struct dev *d = state_ws_get(ws, it->ev->devices[0]->serial);
	struct auth_id id;
	struct auth_verdict v;

	if (p == NULL || p->kind == PRINCIPAL_LOCAL)
		return true;
	if (auth_resolve(p, ctx->reg, sequencer_is_bootstrap_admin(p->pubkey), ctx->now_ms, &id,
			 &v) != CU_OK) {
		seq_refuse(it, v.code, "%s", v.why);
		return false;
	}
	if (memcmp(id.pubkey, it->signer, 32) == 0 ||
	    (key != NULL && id.party[0] != '\0' && strcmp(key->party, id.party) == 0))
		return true;
	if ((key == NULL || key->role == CUSTODY__ROLE__DEVICE) &&
	    it->ev->type == CUSTODY__EVENT_TYPE__ATTEST && d != NULL &&
	    auth_may_relay(&id, ctx->reg, d->owner, d->facility))
		return true;
	v.code = CUSTODY__ERROR_CODE__FORBIDDEN;
	snprintf(
	    v.why, sizeof(v.why),
	    "a key of role %s of %s may relay only its party's signatures, or the ATTEST of a device "
	    "its party owns or whose facility it operates",
	    auth_role_name(&id), id.party[0] ? id.party : "no party");
	return forbid(it, &v);
}

/* An ATTEST signed by an unregistered device key (the device's own). */
static bool authorize_device_key(struct item *it, const struct state_ws *ws)
{
	const Custody__Event *ev = it->ev;
	const struct dev *d = ev->type == CUSTODY__EVENT_TYPE__ATTEST
				  ? state_ws_get(ws, ev->devices[0]->serial)
				  : NULL;
	char pk[KEY_PUB_TEXT_MAX];

	key_pub_format(it->signer, pk);
	if (d == NULL || !d->has_device_key || memcmp(d->device_key, it->signer, 32) != 0) {
		seq_refuse(it, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			   "signer key %s is not registered", pk);
		return false;
	}
	if (strcmp(d->owner, ev->actor) != 0) {
		seq_refuse(it, CUSTODY__ERROR_CODE__FORBIDDEN,
			   "device %s attests for its owner %s, not for %s", d->serial, d->owner,
			   ev->actor);
		return false;
	}
	return true;
}

/*
 * Is the signer allowed to submit this event (its key, its party, the
 * signer scope of auth.h), and the connection to hand it in? Refuses the
 * item if not.
 */
static bool authorize(struct item *it, const struct state_ws *ws, const struct seq_ctx *ctx)
{
	const struct key_rec *key = registry_key(ctx->reg, it->signer);
	const Custody__Event *ev = it->ev;
	struct auth_verdict v;

	if (key == NULL)
		return authorize_device_key(it, ws) && relay_allowed(it, NULL, ws, ctx);
	if (!seq_key_usable(it, key, ctx))
		return false;
	if (strcmp(key->party, ev->actor) != 0) {
		v.code = CUSTODY__ERROR_CODE__FORBIDDEN;
		snprintf(v.why, sizeof(v.why), "signer key belongs to party %s, not to actor %s",
			 key->party, ev->actor);
		return forbid(it, &v);
	}
	if (auth_may_sign_event(key, ctx->reg, ev, ws, &v) != CU_OK)
		return forbid(it, &v);
	return relay_allowed(it, key, ws, ctx);
}

/* Do the facilities and parties the event names exist? */
static bool check_refs(struct item *it, const struct seq_ctx *ctx)
{
	const Custody__Event *ev = it->ev;
	const char *facilities[2] = {ev->facility, ev->to_facility};
	const char *parties[2] = {ev->consignee, ev->carrier};

	for (int i = 0; i < 2; i++) {
		if (facilities[i][0] != '\0' &&
		    registry_facility(ctx->reg, facilities[i]) == NULL) {
			seq_refuse(it, CUSTODY__ERROR_CODE__NOT_FOUND,
				   "facility %s is not registered", facilities[i]);
			return false;
		}
		if (parties[i][0] != '\0' && registry_party(ctx->reg, parties[i]) == NULL) {
			seq_refuse(it, CUSTODY__ERROR_CODE__NOT_FOUND, "party %s is not registered",
				   parties[i]);
			return false;
		}
	}
	return true;
}

/* The stored item of this batch whose id is id, or NULL. */
static struct item *stored_item(struct item *batch, const uint8_t id[32])
{
	for (struct item *it = batch; it != NULL; it = it->next) {
		if (it->duplicate && memcmp(it->id, id, 32) == 0)
			return it;
	}
	return NULL;
}

/* Part 0 of SQL_FIND_EVENTS: the batch's item with this stored event's id is a duplicate. */
static void mark_event(struct item *batch, const PGresult *found, int r, const uint8_t id[32])
{
	for (struct item *it = batch; it != NULL; it = it->next) {
		if (it->duplicate || memcmp(it->id, id, 32) != 0)
			continue;
		it->duplicate = true;
		it->seq = (uint64_t)db_value_i64(found, r, 2);
		it->recorded_ms = db_value_i64(found, r, 3);
		it->evidence = strcmp(PQgetvalue(found, r, 4), "REJECT") == 0;
		if (it->evidence)
			seq_refuse(it, CUSTODY__ERROR_CODE__REJECTED,
				   "the event was refused when it was first submitted");
		return;
	}
}

/* Part 1: one rule hit the duplicate it was stored with. */
static void mark_rule(struct item *it, const PGresult *found, int r)
{
	const struct rule_def *def;
	struct rule_hit *h;

	if (it->verdict.n_hits == RULES_MAX_HITS)
		return;
	def = rules_find(PQgetvalue(found, r, 4));
	h = &it->verdict.hits[it->verdict.n_hits++];
	h->rule = def != NULL ? def->id : "unknown";
	h->severity = enum_value(&custody__severity__descriptor, PQgetvalue(found, r, 5));
	snprintf(h->reason, sizeof(h->reason), "%s", PQgetvalue(found, r, 6));
	it->verdict.reject |= h->severity == CUSTODY__SEVERITY__SEVERITY_REJECT;
}

/*
 * Marks items already stored by earlier batches as duplicates, with the
 * verdict, rules and alerts they were stored with (SQL_FIND_EVENTS: the
 * events come first, then the rules, then the alerts).
 */
static void mark_stored(struct item *batch, const struct db_job *loaded)
{
	const PGresult *found = db_job_result(loaded, 0);
	struct item *it;
	uint8_t id[32];

	for (int r = 0; r < PQntuples(found); r++) {
		int64_t part = db_value_i64(found, r, 0);

		if (db_value_bytes(found, r, 1, id, 32) != CU_OK)
			continue;
		if (part == 0) {
			mark_event(batch, found, r, id);
			continue;
		}
		if ((it = stored_item(batch, id)) == NULL)
			continue;
		if (part == 1)
			mark_rule(it, found, r);
		else if (part == 2 && it->n_alerts++ == 0)
			it->first_alert_id = (uint64_t)db_value_i64(found, r, 2);
	}
}

/* Who the event's devices belong to (the actor, for REGISTER). */
static void find_exporter(struct item *it, const struct state_ws *ws)
{
	const Custody__Event *ev = it->ev;
	const struct dev *d = ev->n_devices > 0 ? state_ws_get(ws, ev->devices[0]->serial) : NULL;

	snprintf(it->exporter, sizeof(it->exporter), "%s",
		 ev->type == CUSTODY__EVENT_TYPE__REGISTER || d == NULL ? ev->actor : d->owner);
}

/* Applies the accepted event's tally changes (allocation, license, LPP). */
static int apply_usage(const struct item *it, struct tally *tally)
{
	for (size_t i = 0; i < it->verdict.n_usage; i++) {
		if (tally_add(tally, it->verdict.usage[i].key, it->verdict.usage[i].amount) !=
		    CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

/*
 * Judges one event: state machine first (a stale head or an unknown device
 * is refused and not stored), then the rules. A REJECT verdict is stored
 * as evidence without touching the devices.
 */
static int judge(struct item *it, struct state_ws *ws, const struct seq_ctx *ctx)
{
	const Custody__Event *ev = it->ev;
	struct policy_view view;
	struct state_ctx sctx = {it->id, *ctx->next_seq, NULL, ctx->ship_deadline_ms,
				 ctx->rma_deadline_ms};
	struct rules_input in = {ev, *ctx->next_seq, ws, ctx->reg, &view, ctx->rules, ctx->tally};
	int rc;

	policy_view_at(ctx->policy, ev->occurred_at_ms, &view);
	sctx.models = policy_models(&view);
	find_exporter(it, ws);
	rc = state_check(ws, ev, &sctx, &it->res);
	if (rc != CU_OK)
		return rc;
	if (it->res.code == CUSTODY__ERROR_CODE__REJECTED && it->res.rule[0] != '\0') {
		rules_add_hit(&it->verdict, it->res.rule, NULL, NULL, "%s", it->res.message);
		it->verdict.reject = true;
	} else if (it->res.code != 0) {
		return CU_OK; /* refused, not judged: nothing is stored */
	} else {
		rc = rules_check(&in, &it->verdict);
		if (rc != CU_OK)
			return rc;
	}
	if (it->verdict.reject) {
		char why[RULES_REASON_MAX];

		snprintf(why, sizeof(why), "%s", it->verdict.hits[0].reason);
		state_result_clear(&it->res);
		seq_refuse(it, CUSTODY__ERROR_CODE__REJECTED, "%s", why);
		it->evidence = true;
		return CU_OK;
	}
	rc = state_apply(ws, ev, &sctx, &it->res);
	if (rc == CU_OK && it->res.code == 0)
		rc = apply_usage(it, ctx->tally);
	return rc;
}

/* Decides one item against the working set; its rows come after (seq_rows.c). */
static int decide_one(struct item *it, struct state_ws *ws, struct hmap *in_batch,
		      const struct seq_ctx *ctx)
{
	struct item *first = hmap_get(in_batch, it->id, 32);
	int rc;

	if (it->duplicate)
		return CU_OK;
	if (first != NULL) {
		it->dup_of = first;
		return CU_OK;
	}
	if (hmap_put(in_batch, it->id, 32, it, NULL) != CU_OK)
		return CU_ERR_NOMEM;
	if (!authorize(it, ws, ctx) || !check_refs(it, ctx))
		return CU_OK;
	rc = judge(it, ws, ctx);
	if (rc != CU_OK || (it->res.code != 0 && !it->evidence))
		return rc;
	it->seq = (*ctx->next_seq)++;
	it->recorded_ms = ctx->now_ms;
	it->written = true;
	return seq_log_prepare(it);
}

void seq_events_publish(const struct item *it, const struct registry *reg)
{
	uint64_t id = it->first_alert_id;

	for (size_t i = 0; i < it->verdict.n_hits; i++) {
		const struct rule_hit *h = &it->verdict.hits[i];
		Custody__Alert a = CUSTODY__ALERT__INIT;

		if (!h->alert)
			continue;
		a.id = id++;
		a.rule = (char *)h->rule;
		a.severity = h->severity;
		a.reason = (char *)h->reason;
		a.raised_at_ms = it->recorded_ms;
		a.event_seq = it->seq;
		a.event_id.data = (uint8_t *)it->id;
		a.event_id.len = 32;
		a.device = (char *)seq_hit_device(it, h);
		a.facility = (char *)seq_hit_facility(it, h);
		a.country = (char *)seq_facility_country(reg, a.facility);
		a.exporter = (char *)it->exporter;
		a.state = CUSTODY__ALERT_STATE__OPEN;
		watch_publish(&a);
	}
}

struct db_job *seq_events_decide(struct item *batch, const struct db_job *loaded,
				 struct state_ws *ws, const struct seq_ctx *ctx, db_done_fn done,
				 void *arg, bool *nothing_to_write)
{
	struct hmap *in_batch = hmap_new();
	struct db_job *job = db_job_new(done, arg);
	int rc =
	    in_batch != NULL && job != NULL ? load_ws(ws, db_job_result(loaded, 1)) : CU_ERR_NOMEM;
	size_t accepted = 0;

	*nothing_to_write = false;
	if (rc == CU_OK) {
		mark_stored(batch, loaded);
		seq_begin(job, ctx);
	}
	for (struct item *it = batch; it != NULL && rc == CU_OK; it = it->next) {
		rc = decide_one(it, ws, in_batch, ctx);
		accepted += it->written;
	}
	if (rc == CU_OK && accepted > 0)
		rc = seq_rows_add(job, batch, ws, ctx);
	hmap_free(in_batch, NULL);
	if (rc != CU_OK || accepted == 0) {
		db_job_free(job);
		*nothing_to_write = rc == CU_OK;
		return NULL;
	}
	return job;
}

int seq_events_finish(struct item *batch, struct db_job *job, const struct seq_ctx *ctx)
{
	int rc = CU_OK;

	for (struct item *it = batch; it != NULL && rc == CU_OK; it = it->next) {
		if (it->written)
			rc = seq_log_append(it, ctx);
	}
	if (rc == CU_OK)
		rc = seq_log_finish(ctx, batch, job);
	if (rc == CU_OK)
		db_job_add(job, SQL_COMMIT);
	return rc;
}

void seq_events_count(const struct item *batch, int64_t commit_us)
{
	size_t n = 0;

	for (const struct item *it = batch; it != NULL; it = it->next) {
		n++;
		if (!it->written || it->is_admin)
			continue;
		metrics_event(it->ev->type, it->verdict.reject ? CUSTODY__VERDICT__REJECT
					    : it->verdict.n_hits > 0
						? CUSTODY__VERDICT__ACCEPT_WITH_ALERTS
						: CUSTODY__VERDICT__ACCEPT);
	}
	metrics_batch(n, commit_us);
}
