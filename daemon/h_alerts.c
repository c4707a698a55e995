/*
 * h_alerts.c - the alerts request: stored alerts matching filters, oldest
 * first and paged by id, or one alert with its notes (its signed lifecycle
 * steps, in the order of the administrative record).
 *
 * The filtered list is one prepared statement whose filters are text
 * parameters that are empty when unused, so every combination shares one
 * plan cache entry. The response borrows from the PGresults, so it is
 * packed inside the callback.
 *
 * Scoped requesters (auth.h) see only their scope's alerts: an exporter
 * those about its devices, an operator those at facilities it operates.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "alert_row.h"
#include "auth.h"
#include "conn.h"
#include "dispatch.h"
#include "enums.h"
#include "query.h"
#include "validate.h"

#define ALERTS_PAGE	   1000
#define ALERTS_PAGE_MAX	   10000
#define ALERTS_TIME_MAX_MS 253402300800000LL /* year 10000: custody_ts() stays in range */
#define ALERTS_BY_ID	   1		     /* query variant: one alert with its notes */
#define ALERTS_ERR_MAX	   256

/* Fills one AlertNoteRecord from row r of SQL_ALERT_NOTES. */
static void fill_note(Custody__AlertNoteRecord *n, const PGresult *res, int r)
{
	custody__alert_note_record__init(n);
	n->admin_seq = (uint64_t)db_value_i64(res, r, 0);
	n->party = PQgetvalue(res, r, 1);
	/* "" (a comment) is no state name: enum_value gives UNSPECIFIED. */
	n->state = enum_value(&custody__alert_state__descriptor, PQgetvalue(res, r, 2));
	n->note = PQgetvalue(res, r, 3);
	n->at_ms = db_value_i64(res, r, 4);
}

/*
 * Answers and returns false unless the one alert in res exists and is in
 * the requester's scope; a scoped requester gets FORBIDDEN either way.
 */
static bool may_read_alert(struct query *q, const PGresult *res)
{
	struct auth_id id;
	struct alert_row row;

	if (auth_whoami(q->req, &id) != CU_OK)
		return false;
	if (PQntuples(res) > 0) {
		alert_row_fill(&row, res, 0);
		if (auth_may_read_alert(&id, auth_registry(), row.alert.exporter,
					row.alert.facility))
			return true;
	} else if (auth_reads_all(&id)) {
		req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND, "alert %s does not exist", q->key);
		return false;
	}
	auth_forbid(q->req, &id, "alerts", "alert %s is not in the scope of this key", q->key);
	return false;
}

static void on_alert_one(struct query *q, const struct db_job *job)
{
	const PGresult *res = db_job_result(job, 0), *notes = db_job_result(job, 1);
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__AlertsResult out = CUSTODY__ALERTS_RESULT__INIT;
	Custody__Alert *list[1];
	struct alert_row row;
	int n = PQntuples(notes);
	Custody__AlertNoteRecord *recs = calloc((size_t)n + 1, sizeof(*recs));
	Custody__AlertNoteRecord **ptrs = calloc((size_t)n + 1, sizeof(*ptrs));

	if (!may_read_alert(q, res))
		goto done;
	if (recs == NULL || ptrs == NULL) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		goto done;
	}
	alert_row_fill(&row, res, 0);
	for (int r = 0; r < n; r++) {
		fill_note(&recs[r], notes, r);
		ptrs[r] = &recs[r];
	}
	row.alert.notes = ptrs;
	row.alert.n_notes = (size_t)n;
	list[0] = &row.alert;
	out.alerts = list;
	out.n_alerts = 1;
	resp.body_case = CUSTODY__RESPONSE__BODY_ALERTS;
	resp.alerts = &out;
	req_reply(q->req, &resp);
done:
	free(recs);
	free(ptrs);
}

static void on_alerts(struct query *q, const struct db_job *job)
{
	const PGresult *res = db_job_result(job, 0);
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__AlertsResult out = CUSTODY__ALERTS_RESULT__INIT;
	int rows = PQntuples(res);
	struct alert_row *slots;
	Custody__Alert **ptrs;

	if (q->variant == ALERTS_BY_ID) {
		on_alert_one(q, job);
		return;
	}
	/* The query asked for one row more than the page, to tell if more follow. */
	if ((uint32_t)rows > q->limit) {
		rows = (int)q->limit;
		out.more = true;
	}
	slots = calloc((size_t)rows + 1, sizeof(*slots));
	ptrs = calloc((size_t)rows + 1, sizeof(*ptrs));
	if (slots == NULL || ptrs == NULL) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		goto done;
	}
	for (int r = 0; r < rows; r++) {
		alert_row_fill(&slots[r], res, r);
		ptrs[r] = &slots[r].alert;
	}
	out.alerts = ptrs;
	out.n_alerts = (size_t)rows;
	resp.body_case = CUSTODY__RESPONSE__BODY_ALERTS;
	resp.alerts = &out;
	req_reply(q->req, &resp);
done:
	free(slots);
	free(ptrs);
}

/* One alert by id, with its notes. */
static void alerts_by_id(struct req *req, uint64_t id)
{
	char key[24];
	int64_t sql_id = id > INT64_MAX ? INT64_MAX : (int64_t)id; /* no such alert then */
	struct db_job *job;

	snprintf(key, sizeof(key), "%" PRIu64, id);
	job = query_job(req, on_alerts, key, 1);
	if (job == NULL)
		return;
	query_of(job)->variant = ALERTS_BY_ID;
	db_job_add(job, SQL_ALERT_ONE);
	db_param_i64(job, sql_id);
	db_job_add(job, SQL_ALERT_NOTES);
	db_param_i64(job, sql_id);
	query_submit(job);
}

/*
 * Checks what the list filters add to the shared ones. On failure returns
 * CU_ERR_INVALID with a message naming the field in err.
 */
static int check_request(const Custody__AlertsRequest *in, char *err, size_t err_size)
{
	if (alert_row_check_filters(in->country, in->facility, in->rule, in->exporter, err,
				    err_size) != CU_OK)
		return CU_ERR_INVALID;
	if (in->device[0] != '\0' && !validate_serial(in->device))
		return cu_fail(err, err_size, "device: not a valid serial");
	if (in->state != 0 &&
	    (in->state < CUSTODY__ALERT_STATE__OPEN || in->state > CUSTODY__ALERT_STATE__RESOLVED))
		return cu_fail(err, err_size, "state: OPEN, ACKNOWLEDGED or RESOLVED (or unset)");
	if (in->from_ms < 0 || in->from_ms >= ALERTS_TIME_MAX_MS)
		return cu_fail(err, err_size, "from_ms: a Unix time in milliseconds from 0");
	if (in->to_ms < 0 || in->to_ms >= ALERTS_TIME_MAX_MS)
		return cu_fail(err, err_size, "to_ms: a Unix time in milliseconds, or 0 for none");
	if (in->to_ms != 0 && in->to_ms <= in->from_ms)
		return cu_fail(err, err_size, "to_ms: must be after from_ms");
	return CU_OK;
}

void h_alerts(struct req *req, const Custody__Request *msg)
{
	const Custody__AlertsRequest *in = msg->alerts;
	uint32_t limit = query_limit(in->limit, ALERTS_PAGE, ALERTS_PAGE_MAX);
	char err[ALERTS_ERR_MAX];
	struct auth_id id;
	struct auth_filters scope;
	struct db_job *job;

	if (in->id != 0) {
		alerts_by_id(req, in->id);
		return;
	}
	if (check_request(in, err, sizeof(err)) != CU_OK) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "%s", err);
		return;
	}
	if (auth_whoami(req, &id) != CU_OK)
		return;
	auth_list_filters(&id, &scope);
	job = query_job(req, on_alerts, "", limit);
	if (job == NULL)
		return;
	db_job_add(job, SQL_ALERTS);
	db_param_i64(job, in->after_id > INT64_MAX ? INT64_MAX : (int64_t)in->after_id);
	db_param_text(job, in->device);
	db_param_text(job, in->facility);
	db_param_text(job, in->country);
	db_param_text(job, in->rule);
	db_param_text(job, in->state != 0 ? enum_name(&custody__alert_state__descriptor, in->state)
					  : "");
	db_param_i64(job, in->from_ms);
	db_param_i64(job, in->to_ms);
	/* auth_check refused an exporter filter naming another party. */
	db_param_text(job, scope.owner[0] != '\0' ? scope.owner : in->exporter);
	db_param_i64(job, (int64_t)limit + 1);
	db_param_text(job, scope.operator_);
	query_submit(job);
}
