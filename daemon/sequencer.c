/*
 * sequencer.c - the queue, the batch lifecycle and the answers (see
 * sequencer.h; deciding lives in seq_events.c and seq_admin.c).
 *
 * States:
 *   DOWN     write lane down: submissions get UNAVAILABLE at once
 *   SYNCING  taking the advisory lock, reading sequence numbers and the
 *            registry (at start-up and after every reconnect, since a
 *            batch in doubt may or may not have committed)
 *   IDLE     waiting for submissions (or for the linger timer)
 *   LOADING  batch: reading ids and device rows
 *   WRITING  batch: transaction in flight; answers go out after COMMIT
 * A batch that fails for a lost connection is answered UNAVAILABLE; the
 * client resends the same bytes, which is idempotent.
 */
#include "sequencer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "conn.h"
#include "enums.h"
#include "key.h"
#include "log.h"
#include "seq_internal.h"

#define RESYNC_RETRY_MS 2000

enum seq_state {
	SEQ_DOWN,
	SEQ_SYNCING,
	SEQ_IDLE,
	SEQ_LOADING,
	SEQ_WRITING,
};

static struct {
	struct event_base *base;
	struct db *db;
	struct sequencer_options opt;
	enum seq_state state;
	struct registry *reg;
	uint64_t next_seq, next_admin_seq;
	uint64_t batch_first_seq, batch_first_admin_seq;
	struct item *head, *tail; /* queued */
	int pending;
	struct item *batch; /* in flight */
	struct event *linger, *retry;
	bool ever_ready;
	bool draining;
	void (*drained)(void);
} seq;

/* ---- items and answers -------------------------------------------------- */

static void item_free(struct item *it)
{
	if (it == NULL)
		return;
	if (it->ev != NULL)
		custody__event__free_unpacked(it->ev, NULL);
	if (it->act != NULL)
		custody__admin_action__free_unpacked(it->act, NULL);
	state_result_clear(&it->res);
	free(it->body);
	free(it);
}

void seq_refuse(struct item *it, Custody__ErrorCode code, const char *fmt, ...)
{
	va_list ap;

	it->res.code = code;
	va_start(ap, fmt);
	vsnprintf(it->res.message, sizeof(it->res.message), fmt, ap);
	va_end(ap);
}

bool seq_key_usable(struct item *it, const struct key_rec *key, const struct seq_ctx *ctx)
{
	const char *why = registry_key_unusable(key, ctx->now_ms);
	char pk[KEY_PUB_TEXT_MAX];

	if (why == NULL)
		return true;
	key_pub_format(it->signer, pk);
	seq_refuse(it, CUSTODY__ERROR_CODE__UNAUTHENTICATED, "signer key %s is %s", pk, why);
	return false;
}

/* Answers a refused item: the error with its rule or conflicting heads. */
static void reply_error(struct item *it)
{
	const struct state_result *res = &it->res;
	Custody__Error err = CUSTODY__ERROR__INIT;
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__RuleHit hit = CUSTODY__RULE_HIT__INIT, *hits[1] = {&hit};
	Custody__DeviceRef *refs = NULL, **ref_ptrs = NULL;

	err.code = res->code;
	err.message = (char *)res->message;
	if (res->rule[0] != '\0') {
		hit.rule = (char *)res->rule;
		hit.severity = CUSTODY__SEVERITY__SEVERITY_REJECT;
		hit.reason = (char *)res->message;
		err.rules = hits;
		err.n_rules = 1;
	}
	if (res->n_heads > 0) {
		refs = calloc(res->n_heads, sizeof(*refs));
		ref_ptrs = calloc(res->n_heads, sizeof(*ref_ptrs));
	}
	for (size_t i = 0; refs != NULL && ref_ptrs != NULL && i < res->n_heads; i++) {
		custody__device_ref__init(&refs[i]);
		refs[i].serial = (char *)res->heads[i].serial;
		refs[i].prev.data = (uint8_t *)res->heads[i].head_id;
		refs[i].prev.len = STATE_ID_BYTES;
		ref_ptrs[i] = &refs[i];
		err.n_heads = i + 1;
	}
	err.heads = ref_ptrs;
	resp.body_case = CUSTODY__RESPONSE__BODY_ERROR;
	resp.error = &err;
	req_reply(it->req, &resp);
	free(refs);
	free(ref_ptrs);
}

/* Answers an item from its verdict (or from the earlier copy's). */
static void reply(struct item *it)
{
	const struct item *v = it->dup_of != NULL ? it->dup_of : it;
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__SubmitResult sub = CUSTODY__SUBMIT_RESULT__INIT;
	Custody__AdminResult adm = CUSTODY__ADMIN_RESULT__INIT;

	if (v->res.code != 0) {
		it->res.code = v->res.code;
		if (it != v) {
			memcpy(it->res.message, v->res.message, sizeof(it->res.message));
			memcpy(it->res.rule, v->res.rule, sizeof(it->res.rule));
		}
		reply_error(it);
		return;
	}
	if (it->is_admin) {
		adm.action_id.data = it->id;
		adm.action_id.len = 32;
		adm.seq = v->seq;
		adm.duplicate = v->duplicate;
		adm.unchanged = v->unchanged;
		resp.body_case = CUSTODY__RESPONSE__BODY_ADMIN;
		resp.admin = &adm;
	} else {
		sub.event_id.data = it->id;
		sub.event_id.len = 32;
		sub.seq = v->seq;
		sub.duplicate = v->duplicate || it->dup_of != NULL;
		sub.recorded_at_ms = v->recorded_ms;
		resp.body_case = CUSTODY__RESPONSE__BODY_SUBMIT;
		resp.submit = &sub;
	}
	req_reply(it->req, &resp);
}

/* Answers every item of a list and frees them. */
static void reply_all(struct item *list)
{
	struct item *it = list, *next;

	/* Answer first, free after: a duplicate's verdict lives in its original. */
	for (; it != NULL; it = it->next)
		reply(it);
	for (it = list; it != NULL; it = next) {
		next = it->next;
		item_free(it);
	}
}

/* Fails every item of a list with one error and frees them. */
static void fail_all(struct item *list, Custody__ErrorCode code, const char *why)
{
	struct item *next;

	for (; list != NULL; list = next) {
		next = list->next;
		req_fail(list->req, code, "%s", why);
		item_free(list);
	}
}

/* ---- the batch lifecycle ------------------------------------------------ */

static void kick(void);

/*
 * Ends the batch in flight (its items already answered) and moves to next:
 * IDLE takes the next batch, DOWN waits for the write lane to come back.
 */
static void batch_end(enum seq_state next)
{
	seq.batch = NULL;
	seq.state = next;
	if (seq.draining && seq.drained != NULL) {
		void (*done)(void) = seq.drained;

		seq.drained = NULL;
		done();
		return;
	}
	kick();
}

/* Forgets the sequence numbers the failed batch had taken. */
static void batch_rewind(void)
{
	seq.next_seq = seq.batch_first_seq;
	seq.next_admin_seq = seq.batch_first_admin_seq;
}

/* Ends the batch in flight with a database failure. */
static void batch_failed(const struct db_job *job)
{
	bool lost = db_job_status(job) == DB_ERR_CONN;

	batch_rewind();
	if (lost) {
		log_warn("batch failed, database unavailable: %s", db_job_error(job));
		fail_all(seq.batch, CUSTODY__ERROR_CODE__UNAVAILABLE,
			 "database unavailable; resend the same request to retry");
	} else {
		log_error("batch failed: %s", db_job_error(job));
		fail_all(seq.batch, CUSTODY__ERROR_CODE__INTERNAL,
			 "the server failed to store the batch; it was not stored");
	}
	/* After a lost connection, sequencer_lane(up) resynchronizes. */
	batch_end(lost ? SEQ_DOWN : SEQ_IDLE);
}

static void on_written(struct db_job *job, void *arg)
{
	(void)arg;
	if (db_job_status(job) != DB_OK) {
		batch_failed(job);
		return;
	}
	for (struct item *it = seq.batch; it != NULL; it = it->next) {
		if (it->is_admin && it->written && seq_admin_commit(it, seq.reg) != CU_OK)
			log_error("out of memory updating the registry; restart custodyd");
	}
	log_debug("batch committed: seq up to %llu", (unsigned long long)seq.next_seq - 1);
	reply_all(seq.batch);
	batch_end(SEQ_IDLE);
}

static void on_loaded(struct db_job *job, void *arg)
{
	struct seq_ctx ctx = {seq.reg,	     seq.opt.models,	  seq.opt.admin_key,
			      &seq.next_seq, &seq.next_admin_seq, codec_now_ms()};
	struct db_job *write;
	bool nothing = false;

	(void)arg;
	if (db_job_status(job) != DB_OK) {
		batch_failed(job);
		return;
	}
	write = seq.batch->is_admin
		    ? seq_admin_decide(seq.batch, job, &ctx, on_written, NULL, &nothing)
		    : seq_events_decide(seq.batch, job, &ctx, on_written, NULL, &nothing);
	if (write == NULL) {
		if (nothing) {
			reply_all(seq.batch);
		} else {
			batch_rewind();
			fail_all(seq.batch, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		}
		batch_end(SEQ_IDLE);
		return;
	}
	seq.state = SEQ_WRITING;
	if (db_submit(seq.db, DB_LANE_WRITE, write) != CU_OK) {
		db_job_free(write);
		batch_rewind();
		fail_all(seq.batch, CUSTODY__ERROR_CODE__UNAVAILABLE,
			 "database unavailable; resend the same request to retry");
		batch_end(SEQ_DOWN);
	}
}

/* Takes the next batch off the queue: one admin action, or events. */
static void take_batch(void)
{
	struct item **tail = &seq.batch;
	int n = 0;

	seq.batch = NULL;
	while (seq.head != NULL && n < seq.opt.batch_max) {
		struct item *it = seq.head;

		if (n > 0 && (it->is_admin || seq.batch->is_admin))
			break;
		seq.head = it->next;
		it->next = NULL;
		*tail = it;
		tail = &it->next;
		n++;
		seq.pending--;
	}
	if (seq.head == NULL)
		seq.tail = NULL;
}

static void start_batch(void)
{
	struct db_job *load;

	take_batch();
	seq.batch_first_seq = seq.next_seq;
	seq.batch_first_admin_seq = seq.next_admin_seq;
	load = seq.batch->is_admin ? seq_admin_load_job(seq.batch, on_loaded, NULL)
				   : seq_events_load_job(seq.batch, on_loaded, NULL);
	if (load == NULL) {
		fail_all(seq.batch, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		batch_end(SEQ_IDLE);
		return;
	}
	seq.state = SEQ_LOADING;
	if (db_submit(seq.db, DB_LANE_WRITE, load) != CU_OK) {
		db_job_free(load);
		fail_all(seq.batch, CUSTODY__ERROR_CODE__UNAVAILABLE,
			 "database unavailable; resend the same request to retry");
		batch_end(SEQ_DOWN);
	}
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (seq.state == SEQ_IDLE && seq.head != NULL)
		start_batch();
}

/* Starts a batch if the sequencer is idle and work is queued. */
static void kick(void)
{
	struct timeval tv;

	while (seq.state == SEQ_IDLE && seq.head != NULL) {
		if (seq.opt.linger_ms > 0 && seq.pending < seq.opt.batch_max) {
			if (!evtimer_pending(seq.linger, NULL)) {
				tv.tv_sec = seq.opt.linger_ms / 1000;
				tv.tv_usec = (seq.opt.linger_ms % 1000) * 1000;
				evtimer_add(seq.linger, &tv);
			}
			return;
		}
		start_batch();
	}
}

/* ---- submissions --------------------------------------------------------- */

/* Queues it, or answers UNAVAILABLE when the sequencer cannot take it. */
static void enqueue(struct item *it)
{
	const char *why = NULL;

	if (seq.draining)
		why = "server shutting down";
	else if (seq.state == SEQ_DOWN)
		why = "database unavailable; retry later";
	else if (seq.pending >= seq.opt.max_pending)
		why = "server busy: too many submissions queued; retry later";
	if (why != NULL) {
		req_fail(it->req, CUSTODY__ERROR_CODE__UNAVAILABLE, "%s", why);
		item_free(it);
		return;
	}
	if (seq.tail != NULL)
		seq.tail->next = it;
	else
		seq.head = it;
	seq.tail = it;
	seq.pending++;
	kick();
}

/* A new item with copies of the envelope's bytes; NULL when out of memory. */
static struct item *item_new(struct req *req, const Custody__SignedEnvelope *env,
			     const uint8_t id[32])
{
	struct item *it = calloc(1, sizeof(*it));

	if (it == NULL)
		return NULL;
	it->body = malloc(env->body.len);
	if (it->body == NULL) {
		free(it);
		return NULL;
	}
	memcpy(it->body, env->body.data, env->body.len);
	it->body_len = env->body.len;
	memcpy(it->signer, env->signer.data, 32);
	memcpy(it->sig, env->sig.data, 64);
	memcpy(it->id, id, 32);
	it->req = req;
	return it;
}

void sequencer_submit_event(struct req *req, const Custody__SignedEnvelope *env, Custody__Event *ev,
			    const uint8_t id[32])
{
	struct item *it = item_new(req, env, id);

	if (it == NULL) {
		custody__event__free_unpacked(ev, NULL);
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return;
	}
	it->ev = ev;
	enqueue(it);
}

void sequencer_submit_admin(struct req *req, const Custody__SignedEnvelope *env,
			    Custody__AdminAction *act, const uint8_t id[32])
{
	struct item *it = item_new(req, env, id);

	if (it == NULL) {
		custody__admin_action__free_unpacked(act, NULL);
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return;
	}
	it->is_admin = true;
	it->act = act;
	enqueue(it);
}

/* ---- resynchronizing ------------------------------------------------------ */

static int load_parties(struct registry *reg, const PGresult *res)
{
	struct party p;

	for (int r = 0; r < PQntuples(res); r++) {
		char roles[256], *save = NULL;

		memset(&p, 0, sizeof(p));
		snprintf(p.id, sizeof(p.id), "%s", PQgetvalue(res, r, 0));
		snprintf(p.name, sizeof(p.name), "%s", PQgetvalue(res, r, 1));
		snprintf(p.country, sizeof(p.country), "%s", PQgetvalue(res, r, 2));
		snprintf(p.hq_country, sizeof(p.hq_country), "%s", PQgetvalue(res, r, 3));
		snprintf(p.parent_country, sizeof(p.parent_country), "%s", PQgetvalue(res, r, 4));
		snprintf(roles, sizeof(roles), "%s", PQgetvalue(res, r, 5));
		for (char *t = strtok_r(roles, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			int role = enum_value(&custody__role__descriptor, t);

			if (role != 0)
				p.roles |= 1u << role;
		}
		p.trusted_exporter = db_value_bool(res, r, 6);
		if (registry_put_party(reg, &p) != CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

static int load_keys(struct registry *reg, const PGresult *res)
{
	struct key_rec k;

	for (int r = 0; r < PQntuples(res); r++) {
		memset(&k, 0, sizeof(k));
		if (db_value_bytes(res, r, 0, k.pubkey, 32) != CU_OK)
			return CU_ERR_INVALID;
		snprintf(k.party, sizeof(k.party), "%s", PQgetvalue(res, r, 1));
		k.role = enum_value(&custody__role__descriptor, PQgetvalue(res, r, 2));
		if (k.role == 0)
			return CU_ERR_INVALID;
		k.valid_from_ms = db_value_i64(res, r, 3);
		k.valid_until_ms = db_value_i64(res, r, 4);
		k.revoked_at_ms = db_value_i64(res, r, 5);
		if (registry_put_key(reg, &k) != CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

static int load_facilities(struct registry *reg, const PGresult *res)
{
	struct facility f;

	for (int r = 0; r < PQntuples(res); r++) {
		memset(&f, 0, sizeof(f));
		snprintf(f.id, sizeof(f.id), "%s", PQgetvalue(res, r, 0));
		snprintf(f.name, sizeof(f.name), "%s", PQgetvalue(res, r, 1));
		snprintf(f.owner, sizeof(f.owner), "%s", PQgetvalue(res, r, 2));
		snprintf(f.operator_, sizeof(f.operator_), "%s", PQgetvalue(res, r, 3));
		snprintf(f.country, sizeof(f.country), "%s", PQgetvalue(res, r, 4));
		f.latitude = strtod(PQgetvalue(res, r, 5), NULL);
		f.longitude = strtod(PQgetvalue(res, r, 6), NULL);
		f.authorized = db_value_bool(res, r, 7);
		f.authorized_since_ms = db_value_i64(res, r, 8);
		if (registry_put_facility(reg, &f) != CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

static void retry_resync_later(void)
{
	struct timeval tv = {RESYNC_RETRY_MS / 1000, (RESYNC_RETRY_MS % 1000) * 1000};

	seq.state = SEQ_DOWN;
	evtimer_add(seq.retry, &tv);
}

static void on_synced(struct db_job *job, void *arg)
{
	struct registry *reg;

	(void)arg;
	if (db_job_status(job) != DB_OK) {
		log_warn("sequencer cannot start: %s", db_job_error(job));
		seq.state = SEQ_DOWN;
		return;
	}
	if (!db_value_bool(db_job_result(job, 0), 0, 0)) {
		if (!seq.ever_ready && seq.opt.on_fatal != NULL) {
			seq.opt.on_fatal("another custodyd holds the sequencer lock on this "
					 "database; only one may write");
			return;
		}
		log_error("another custodyd holds the sequencer lock; retrying");
		retry_resync_later();
		return;
	}
	reg = registry_new();
	if (reg == NULL || load_parties(reg, db_job_result(job, 2)) != CU_OK ||
	    load_keys(reg, db_job_result(job, 3)) != CU_OK ||
	    load_facilities(reg, db_job_result(job, 4)) != CU_OK) {
		log_error("cannot load the registry");
		registry_free(reg);
		retry_resync_later();
		return;
	}
	registry_free(seq.reg);
	seq.reg = reg;
	seq.next_seq = (uint64_t)db_value_i64(db_job_result(job, 1), 0, 0) + 1;
	seq.next_admin_seq = (uint64_t)db_value_i64(db_job_result(job, 1), 0, 1) + 1;
	seq.state = SEQ_IDLE;
	log_info("sequencer ready: next event seq %llu", (unsigned long long)seq.next_seq);
	if (!seq.ever_ready) {
		seq.ever_ready = true;
		if (seq.opt.on_ready != NULL)
			seq.opt.on_ready();
	}
	kick();
}

static void resync(void)
{
	struct db_job *job = db_job_new(on_synced, NULL);

	if (job == NULL) {
		retry_resync_later();
		return;
	}
	db_job_add(job, SQL_TRY_LOCK);
	db_param_i64(job, SQL_SEQUENCER_LOCK_KEY);
	db_job_add(job, SQL_MAX_SEQS);
	db_job_add(job, SQL_LOAD_PARTIES);
	db_job_add(job, SQL_LOAD_KEYS);
	db_job_add(job, SQL_LOAD_FACILITIES);
	seq.state = SEQ_SYNCING;
	if (db_submit(seq.db, DB_LANE_WRITE, job) != CU_OK) {
		db_job_free(job);
		seq.state = SEQ_DOWN;
	}
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (seq.state == SEQ_DOWN && db_lane_up(seq.db, DB_LANE_WRITE))
		resync();
}

void sequencer_lane(bool up)
{
	if (up && seq.state == SEQ_DOWN) {
		resync();
		return;
	}
	if (!up) {
		/* Jobs in flight fail through their callbacks; queued work cannot wait. */
		struct item *queued = seq.head;

		seq.head = seq.tail = NULL;
		seq.pending = 0;
		if (seq.state == SEQ_IDLE || seq.state == SEQ_SYNCING)
			seq.state = SEQ_DOWN;
		fail_all(queued, CUSTODY__ERROR_CODE__UNAVAILABLE,
			 "database unavailable; resend the same request to retry");
	}
}

/* ---- set-up and tear-down -------------------------------------------------- */

int sequencer_init(struct event_base *base, struct db *db, const struct sequencer_options *opt)
{
	memset(&seq, 0, sizeof(seq));
	seq.base = base;
	seq.db = db;
	seq.opt = *opt;
	seq.state = SEQ_DOWN;
	seq.linger = evtimer_new(base, on_linger, NULL);
	seq.retry = evtimer_new(base, on_retry, NULL);
	if (seq.linger == NULL || seq.retry == NULL) {
		sequencer_free();
		return CU_ERR_NOMEM;
	}
	return CU_OK;
}

void sequencer_free(void)
{
	struct item *queued = seq.head;

	seq.head = seq.tail = NULL;
	fail_all(queued, CUSTODY__ERROR_CODE__UNAVAILABLE, "server shutting down");
	if (seq.linger != NULL)
		event_free(seq.linger);
	if (seq.retry != NULL)
		event_free(seq.retry);
	registry_free(seq.reg);
	memset(&seq, 0, sizeof(seq));
}

const struct registry *sequencer_registry(void)
{
	return seq.reg;
}

bool sequencer_is_bootstrap_admin(const uint8_t pk[32])
{
	return memcmp(pk, seq.opt.admin_key, 32) == 0;
}

void sequencer_drain(void (*done)(void))
{
	struct item *queued = seq.head;

	seq.draining = true;
	seq.head = seq.tail = NULL;
	seq.pending = 0;
	fail_all(queued, CUSTODY__ERROR_CODE__UNAVAILABLE, "server shutting down");
	if (seq.state == SEQ_LOADING || seq.state == SEQ_WRITING) {
		seq.drained = done;
		return;
	}
	done();
}
