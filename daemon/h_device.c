/*
 * h_device.c - read handlers about one device: where (current state),
 * history (its events, oldest first) and contents (what is inside it);
 * and events, the stored events at a facility and in a time window, which
 * answer in the history's shape.
 *
 * Each runs one job on the read lane; response fields borrow from the
 * PGresults, which live until the callback returns, so every response is
 * packed inside the callback. Each job first reads the device's scope
 * columns, and answers only requesters whose scope holds the device
 * (query_may_read_device, auth.h).
 */
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

/* Container class: the highest class among the chips inside. */
static const char *container_class(const PGresult *sum)
{
	if (db_value_bool(sum, 0, 2))
		return "4A090.a";
	if (db_value_bool(sum, 0, 3))
		return "4A090.b";
	return "";
}

static void on_where(struct query *q, const struct db_job *job)
{
	const PGresult *res = db_job_result(job, 1), *sum = db_job_result(job, 2);
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__DeviceState st = CUSTODY__DEVICE_STATE__INIT;
	uint8_t head[32], last[32], key[32];

	if (!query_may_read_device(q, db_job_result(job, 0), "where"))
		return;
	if (PQntuples(res) == 0) { /* gone between the two statements: cannot happen */
		req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND, "device %s is not registered",
			 q->key);
		return;
	}
	st.serial = PQgetvalue(res, 0, 0);
	st.kind = enum_value(&custody__device_kind__descriptor, PQgetvalue(res, 0, 1));
	st.model = PQgetvalue(res, 0, 2);
	st.eccn_class = PQgetvalue(res, 0, 3);
	st.tpp = (uint64_t)db_value_i64(res, 0, 4);
	st.owner = PQgetvalue(res, 0, 5);
	st.custodian = PQgetvalue(res, 0, 6);
	st.status = enum_value(&custody__device_status__descriptor, PQgetvalue(res, 0, 7));
	st.facility = PQgetvalue(res, 0, 8);
	st.facility_name = PQgetvalue(res, 0, 9);
	st.country = PQgetvalue(res, 0, 10);
	st.destination = PQgetvalue(res, 0, 11);
	st.container = PQgetvalue(res, 0, 12);
	st.location = PQgetvalue(res, 0, 13);
	set_id(&st.head, res, 0, 14, head);
	st.head_seq = (uint64_t)db_value_i64(res, 0, 15);
	set_id(&st.last_event, res, 0, 16, last);
	st.last_seq = (uint64_t)db_value_i64(res, 0, 17);
	st.last_type = enum_value(&custody__event_type__descriptor, PQgetvalue(res, 0, 18));
	st.last_at_ms = db_value_i64(res, 0, 19);
	st.last_via = PQgetvalue(res, 0, 20);
	set_id(&st.device_key, res, 0, 21, key);
	st.registered_at_ms = db_value_i64(res, 0, 22);
	st.contents_count = (uint64_t)db_value_i64(sum, 0, 0);
	st.contents_tpp = (uint64_t)db_value_i64(sum, 0, 1);
	if (st.kind != CUSTODY__DEVICE_KIND__CHIP)
		st.eccn_class = (char *)container_class(sum);
	resp.body_case = CUSTODY__RESPONSE__BODY_WHERE;
	resp.where = &st;
	req_reply(q->req, &resp);
}

void h_where(struct req *req, const Custody__Request *msg)
{
	const char *serial = msg->where->serial;
	struct db_job *job;

	if (!serial_ok(req, serial) || (job = query_job(req, on_where, serial, 0)) == NULL)
		return;
	db_job_add(job, SQL_DEVICE_SCOPE);
	db_param_text(job, serial);
	db_job_add(job, SQL_WHERE);
	db_param_text(job, serial);
	db_job_add(job, SQL_CONTENTS_SUMMARY);
	db_param_text(job, serial);
	query_submit(job);
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
