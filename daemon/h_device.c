/*
 * h_device.c - read handlers about one device: where (current state),
 * history (its events, oldest first) and contents (what is inside it);
 * and events, the stored events at a facility and in a time window, which
 * answer in the history's shape.
 *
 * Each runs one job on the read lane (where: one job for every where() of
 * a turn of the loop, see where_batch); response fields borrow from the
 * PGresults, which live until the callback returns, so every response is
 * packed inside the callback. Each job first reads the device's scope
 * columns (where: as the first columns of its one statement), and answers
 * only requesters whose scope holds the device (query_may_read_device,
 * auth.h).
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "db.h"
#include "dispatch.h"
#include "enums.h"
#include "query.h"
#include "validate.h"

#define HISTORY_PAGE	 1000
#define HISTORY_PAGE_MAX 10000

/* Answers BAD_REQUEST unless serial is valid; returns validity. */
static bool serial_ok(struct req *req, const char *serial)
{
	if (validate_serial(serial))
		return true;
	req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
		 "serial: 1-64 of A-Z a-z 0-9 . _ : / -, starting with a letter or digit");
	return false;
}

/* Points a bytes field at a decoded bytea column (buf: 32 bytes). */
static void set_id(ProtobufCBinaryData *field, const PGresult *res, int row, int col, uint8_t *buf)
{
	if (db_value_bytes(res, row, col, buf, 32) == CU_OK) {
		field->data = buf;
		field->len = 32;
	}
}

/* ---- where ------------------------------------------------------------- */

/* SQL_WHERE's columns: the scope's six, the device's, the contents summary's. */
enum {
	W_OWNER,
	W_CUSTODIAN,
	W_STATUS,
	W_FACILITY,
	W_DESTINATION,
	W_DEVICE_KEY,
	W_SERIAL,
	W_KIND,
	W_MODEL,
	W_ECCN,
	W_TPP,
	W_FACILITY_NAME,
	W_COUNTRY,
	W_CONTAINER,
	W_LOCATION,
	W_HEAD,
	W_HEAD_SEQ,
	W_LAST,
	W_LAST_SEQ,
	W_LAST_TYPE,
	W_LAST_AT,
	W_LAST_VIA,
	W_REGISTERED_AT,
	W_CONTENTS,
	W_CONTENTS_TPP,
	W_ANY_A,
	W_ANY_B,
};

/* Container class: the highest class among the chips inside. */
static const char *container_class(const PGresult *res, int row)
{
	if (db_value_bool(res, row, W_ANY_A))
		return "4A090.a";
	if (db_value_bool(res, row, W_ANY_B))
		return "4A090.b";
	return "";
}

/* Answers q->req from row (-1: none) of a SQL_WHERE result. */
static void reply_where(struct query *q, const PGresult *res, int row)
{
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__DeviceState st = CUSTODY__DEVICE_STATE__INIT;
	uint8_t head[32], last[32], key[32];

	if (!query_may_read_device_at(q, res, row, "where"))
		return;
	st.owner = PQgetvalue(res, row, W_OWNER);
	st.custodian = PQgetvalue(res, row, W_CUSTODIAN);
	st.status = enum_value(&custody__device_status__descriptor, PQgetvalue(res, row, W_STATUS));
	st.facility = PQgetvalue(res, row, W_FACILITY);
	st.destination = PQgetvalue(res, row, W_DESTINATION);
	set_id(&st.device_key, res, row, W_DEVICE_KEY, key);
	st.serial = PQgetvalue(res, row, W_SERIAL);
	st.kind = enum_value(&custody__device_kind__descriptor, PQgetvalue(res, row, W_KIND));
	st.model = PQgetvalue(res, row, W_MODEL);
	st.eccn_class = PQgetvalue(res, row, W_ECCN);
	st.tpp = (uint64_t)db_value_i64(res, row, W_TPP);
	st.facility_name = PQgetvalue(res, row, W_FACILITY_NAME);
	st.country = PQgetvalue(res, row, W_COUNTRY);
	st.container = PQgetvalue(res, row, W_CONTAINER);
	st.location = PQgetvalue(res, row, W_LOCATION);
	set_id(&st.head, res, row, W_HEAD, head);
	st.head_seq = (uint64_t)db_value_i64(res, row, W_HEAD_SEQ);
	set_id(&st.last_event, res, row, W_LAST, last);
	st.last_seq = (uint64_t)db_value_i64(res, row, W_LAST_SEQ);
	st.last_type =
	    enum_value(&custody__event_type__descriptor, PQgetvalue(res, row, W_LAST_TYPE));
	st.last_at_ms = db_value_i64(res, row, W_LAST_AT);
	st.last_via = PQgetvalue(res, row, W_LAST_VIA);
	st.registered_at_ms = db_value_i64(res, row, W_REGISTERED_AT);
	st.contents_count = (uint64_t)db_value_i64(res, row, W_CONTENTS);
	st.contents_tpp = (uint64_t)db_value_i64(res, row, W_CONTENTS_TPP);
	if (st.kind != CUSTODY__DEVICE_KIND__CHIP)
		st.eccn_class = (char *)container_class(res, row);
	resp.body_case = CUSTODY__RESPONSE__BODY_WHERE;
	resp.where = &st;
	req_reply(q->req, &resp);
}

/*
 * where() requests are answered in batches: the requests of one turn of
 * the loop (up to WHERE_BATCH_MAX) share one SQL_WHERE statement, so a
 * busy server pays one round trip, one plan and one executor start-up per
 * batch, not per request. A lone request waits for nothing: the batch goes
 * out when the loop has run the events that were ready with it.
 */
#define WHERE_BATCH_MAX 64

struct where_batch {
	int n;
	struct query q[WHERE_BATCH_MAX]; /* q[i].req asked for q[i].key */
};

static struct where_batch *where_pending;

/* Row of res whose serial is serial, or -1. */
static int where_row(const PGresult *res, const char *serial)
{
	for (int r = 0; r < PQntuples(res); r++)
		if (strcmp(PQgetvalue(res, r, W_SERIAL), serial) == 0)
			return r;
	return -1;
}

static void on_where_batch(struct db_job *job, void *arg)
{
	struct where_batch *b = arg;
	const PGresult *res = db_job_status(job) == DB_OK ? db_job_result(job, 0) : NULL;

	for (int i = 0; i < b->n; i++) {
		if (res == NULL)
			query_fail(b->q[i].req, job);
		else
			reply_where(&b->q[i], res, where_row(res, b->q[i].key));
	}
	free(b);
}

static void where_flush(struct where_batch *b)
{
	const char *serials[WHERE_BATCH_MAX];
	struct db_job *job = db_job_new(on_where_batch, b);
	int rc = CU_ERR_NOMEM;

	if (job != NULL) {
		for (int i = 0; i < b->n; i++)
			serials[i] = b->q[i].key;
		db_job_add(job, SQL_WHERE);
		db_param_text_array(job, serials, (size_t)b->n);
		if ((rc = query_submit_job(job)) == CU_OK)
			return;
		db_job_free(job);
	}
	for (int i = 0; i < b->n; i++)
		query_fail_submit(b->q[i].req, rc);
	free(b);
}

static void on_where_turn(evutil_socket_t fd, short what, void *arg)
{
	struct where_batch *b = where_pending;

	(void)fd;
	(void)what;
	(void)arg;
	where_pending = NULL;
	if (b != NULL)
		where_flush(b);
}

void h_where(struct req *req, const Custody__Request *msg)
{
	static const struct timeval now = {0, 0};
	const char *serial = msg->where->serial;
	struct where_batch *b = where_pending;

	if (!serial_ok(req, serial))
		return;
	if (b == NULL) {
		/* A zero timeout runs once the events ready in this turn have run. */
		if ((b = calloc(1, sizeof(*b))) == NULL ||
		    event_base_once(query_base(), -1, EV_TIMEOUT, on_where_turn, NULL, &now) != 0) {
			free(b);
			req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
			return;
		}
		where_pending = b;
	}
	b->q[b->n].req = req;
	snprintf(b->q[b->n].key, sizeof(b->q[b->n].key), "%s", serial);
	if (++b->n == WHERE_BATCH_MAX) {
		where_pending = NULL; /* the turn's callback then finds nothing */
		where_flush(b);
	}
}

/* ---- history ----------------------------------------------------------- */

/* Per-entry storage the response borrows. */
struct history_slot {
	Custody__HistoryEntry entry;
	Custody__SignedEnvelope env;
	uint8_t id[32], prev[32], signer[32], sig[64];
	unsigned char *body;
};

/* Fills one entry from row r of the SQL_HISTORY result. */
static void fill_entry(struct history_slot *s, const PGresult *res, int r)
{
	size_t body_len = 0;

	custody__history_entry__init(&s->entry);
	custody__signed_envelope__init(&s->env);
	s->entry.seq = (uint64_t)db_value_i64(res, r, 0);
	set_id(&s->entry.event_id, res, r, 1, s->id);
	s->entry.type = enum_value(&custody__event_type__descriptor, PQgetvalue(res, r, 2));
	s->entry.actor = PQgetvalue(res, r, 3);
	s->entry.occurred_at_ms = db_value_i64(res, r, 4);
	s->entry.recorded_at_ms = db_value_i64(res, r, 5);
	s->entry.facility = PQgetvalue(res, r, 6);
	set_id(&s->entry.prev, res, r, 7, s->prev);
	s->entry.via = PQgetvalue(res, r, 8);
	s->body = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 9), &body_len);
	s->env.body.data = s->body;
	s->env.body.len = s->body != NULL ? body_len : 0;
	set_id(&s->env.signer, res, r, 10, s->signer);
	if (db_value_bytes(res, r, 11, s->sig, 64) == CU_OK) {
		s->env.sig.data = s->sig;
		s->env.sig.len = 64;
	}
	s->entry.envelope = &s->env;
}

/*
 * Answers q->req with the entries of res (SQL_HISTORY's columns), at most
 * q->limit of them; serial names the device ("" for an events request).
 */
static void reply_entries(struct query *q, const PGresult *res, const char *serial)
{
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__HistoryResult hist = CUSTODY__HISTORY_RESULT__INIT;
	struct history_slot *slots;
	Custody__HistoryEntry **entries;
	int rows = PQntuples(res);

	/* The query asked for one row more than the page, to tell if more follow. */
	if ((uint32_t)rows > q->limit) {
		rows = (int)q->limit;
		hist.more = true;
	}
	slots = calloc((size_t)rows + 1, sizeof(*slots));
	entries = calloc((size_t)rows + 1, sizeof(*entries));
	if (slots == NULL || entries == NULL) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		rows = 0;
		goto done;
	}
	for (int r = 0; r < rows; r++) {
		fill_entry(&slots[r], res, r);
		entries[r] = &slots[r].entry;
	}
	hist.serial = (char *)serial;
	hist.entries = entries;
	hist.n_entries = (size_t)rows;
	resp.body_case = CUSTODY__RESPONSE__BODY_HISTORY;
	resp.history = &hist;
	req_reply(q->req, &resp);
done:
	for (int r = 0; r < rows; r++)
		PQfreemem(slots[r].body);
	free(slots);
	free(entries);
}

static void on_history(struct query *q, const struct db_job *job)
{
	if (query_may_read_device(q, db_job_result(job, 0), "history"))
		reply_entries(q, db_job_result(job, 1), q->key);
}

void h_history(struct req *req, const Custody__Request *msg)
{
	const Custody__HistoryRequest *h = msg->history;
	uint32_t limit = query_limit(h->limit, HISTORY_PAGE, HISTORY_PAGE_MAX);
	struct db_job *job;

	if (!serial_ok(req, h->serial) ||
	    (job = query_job(req, on_history, h->serial, limit)) == NULL)
		return;
	db_job_add(job, SQL_DEVICE_SCOPE);
	db_param_text(job, h->serial);
	db_job_add(job, SQL_HISTORY);
	db_param_text(job, h->serial);
	db_param_i64(job, h->after_seq > INT64_MAX ? INT64_MAX : (int64_t)h->after_seq);
	db_param_i64(job, (int64_t)limit + 1);
	query_submit(job);
}

/* ---- events ------------------------------------------------------------ */

static void on_events(struct query *q, const struct db_job *job)
{
	if (q->key[0] != '\0' && PQntuples(db_job_result(job, 0)) == 0) {
		req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND, "facility %s is not registered",
			 q->key);
		return;
	}
	reply_entries(q, db_job_result(job, q->key[0] != '\0' ? 1 : 0), "");
}

/* Events at a facility and in a time window; the scope filters come from auth.c. */
void h_events(struct req *req, const Custody__Request *msg)
{
	const Custody__EventsRequest *e = msg->events;
	uint32_t limit = query_limit(e->limit, HISTORY_PAGE, HISTORY_PAGE_MAX);
	struct auth_filters scope;
	struct auth_id id;
	struct db_job *job;

	if (e->facility[0] != '\0' && !validate_ident(e->facility)) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "facility: not a valid id");
		return;
	}
	if (e->from_ms < 0 || e->to_ms < 0 || (e->to_ms != 0 && e->to_ms <= e->from_ms)) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "from_ms and to_ms: 0 or later, to_ms after from_ms (0 = no end)");
		return;
	}
	if (auth_whoami(req, &id) != CU_OK)
		return;
	auth_list_filters(&id, &scope);
	if ((job = query_job(req, on_events, e->facility, limit)) == NULL)
		return;
	if (e->facility[0] != '\0') {
		db_job_add(job, SQL_FACILITY_EXISTS);
		db_param_text(job, e->facility);
	}
	db_job_add(job, SQL_EVENTS);
	db_param_i64(job, e->after_seq > INT64_MAX ? INT64_MAX : (int64_t)e->after_seq);
	db_param_text(job, e->facility);
	db_param_i64(job, e->from_ms);
	db_param_i64(job, e->to_ms);
	db_param_i64(job, (int64_t)limit + 1);
	db_param_text(job, scope.owner);
	db_param_text(job, scope.operator_);
	query_submit(job);
}

/* ---- contents ----------------------------------------------------------- */

static void on_contents(struct query *q, const struct db_job *job)
{
	const PGresult *exists = db_job_result(job, 0), *res = db_job_result(job, 1);
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__ContentsResult out = CUSTODY__CONTENTS_RESULT__INIT;
	int rows = PQntuples(res);
	Custody__ContentItem *items = calloc((size_t)rows + 1, sizeof(*items));
	Custody__ContentItem **ptrs = calloc((size_t)rows + 1, sizeof(*ptrs));

	if (!query_may_read_device(q, exists, "contents"))
		goto done;
	if (items == NULL || ptrs == NULL) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		goto done;
	}
	for (int r = 0; r < rows; r++) {
		Custody__ContentItem *it = &items[r];

		custody__content_item__init(it);
		it->serial = PQgetvalue(res, r, 0);
		it->kind = enum_value(&custody__device_kind__descriptor, PQgetvalue(res, r, 1));
		it->model = PQgetvalue(res, r, 2);
		it->parent = PQgetvalue(res, r, 3);
		it->depth = (uint32_t)db_value_i64(res, r, 4);
		it->status = enum_value(&custody__device_status__descriptor, PQgetvalue(res, r, 5));
		it->tpp = (uint64_t)db_value_i64(res, r, 6);
		it->eccn_class = PQgetvalue(res, r, 7);
		out.total_tpp += it->tpp;
		ptrs[r] = it;
	}
	out.serial = q->key;
	out.items = ptrs;
	out.n_items = (size_t)rows;
	resp.body_case = CUSTODY__RESPONSE__BODY_CONTENTS;
	resp.contents = &out;
	req_reply(q->req, &resp);
done:
	free(items);
	free(ptrs);
}

void h_contents(struct req *req, const Custody__Request *msg)
{
	const char *serial = msg->contents->serial;
	struct db_job *job;

	if (!serial_ok(req, serial) || (job = query_job(req, on_contents, serial, 0)) == NULL)
		return;
	db_job_add(job, SQL_DEVICE_SCOPE);
	db_param_text(job, serial);
	db_job_add(job, SQL_CONTENTS);
	db_param_text(job, serial);
	query_submit(job);
}
