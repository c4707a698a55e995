/*
 * itest_alerts.c - the read side of alerts and reports through the raw
 * protocol: the alerts request (filters, paging, one alert with notes),
 * watch (catch-up from 0 and from a middle id, live pushes, requests on a
 * watching connection, one watch per connection), the shipment notice and
 * the VEU report.
 *
 * It does not make its own data: an integration script raises alerts and
 * makes shipments first (through custodyctl or itest programs), then runs
 * this. Every answer is checked against the database through libpq, and
 * against expectations given in the environment where the script knows
 * them. Run with:
 *
 *   CUSTODY_SERVER=unix:PATH   the daemon's Unix socket
 *   ITEST_DBNAME=NAME          its database (PG* variables locate the server)
 *   ITEST_MIN_ALERTS=N         at least N alerts must be stored (default 1)
 *   ITEST_RAISE_CMD=CMD        optional: a shell command raising at least one
 *                              new alert each time it runs; enables the live
 *                              push tests (skipped without it)
 *   ITEST_NOTE_KEY=FILE        optional: secret key of a party that may note
 *                              the first alert (a regulator, its exporter or
 *                              a registered admin); with it, a comment and an
 *                              ACKNOWLEDGED note are signed on that alert
 *                              before the checks
 *   ITEST_NOTED_ALERT=ID       optional: an alert that has notes (default: the
 *                              one noted here, else the one with most notes)
 *   ITEST_MIN_NOTES=N          optional: ... and at least N of them
 *   ITEST_SHIP_EVENT=HEX       optional: a SHIP/RMA_OUT event id (default: the
 *                              latest accepted SHIP); with, optionally,
 *   ITEST_SHIP_TO, ITEST_SHIP_CHIPS, ITEST_SHIP_TPP, ITEST_SHIP_RECEIVED (0/1)
 *   ITEST_VEU_EXPORTER=PARTY   optional: exporter of the VEU report test
 *                              (skipped without it); with, optionally,
 *   ITEST_VEU_FROM_MS, ITEST_VEU_TO_MS   the period (default 0 .. now + 1 day)
 *   ITEST_VEU_EXPECT=SITE:RECEIVED:ON_HAND[,...]   every site of the report,
 *                              in order, with its number of received items
 *                              and of chips on hand
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "codec.h"
#include "custody.pb-c.h"
#include "envelope.h"
#include "itest_lib.h"
#include "key.h"

#define QUIET_MS 300 /* how long "nothing more arrives" is watched for */

static PGconn *pg;
static uint64_t noted_id; /* the alert test_alert_notes wrote notes on, or 0 */

/* ---- the database -------------------------------------------------------- */

static PGresult *sql(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static PGresult *sql(const char *fmt, ...)
{
	char text[2048];
	va_list ap;
	PGresult *res;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	res = PQexec(pg, text);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", text, PQresultErrorMessage(res));
	return res;
}

/* The first column of the first row as an integer; 0 if no row or NULL. */
static int64_t sql_i64(const char *query)
{
	PGresult *res = sql("%s", query);
	int64_t v = PQntuples(res) > 0 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;

	PQclear(res);
	return v;
}

/* Writes text as a quoted SQL literal into out. */
static void literal(char *out, size_t size, const char *text)
{
	char *lit = PQescapeLiteral(pg, text, strlen(text));

	assert_non_null(lit);
	snprintf(out, size, "%s", lit);
	PQfreemem(lit);
}

/* A growing list of alert ids. */
struct ids {
	uint64_t *v;
	size_t n, cap;
};

static void ids_add(struct ids *ids, uint64_t id)
{
	if (ids->n == ids->cap) {
		ids->cap = ids->cap ? 2 * ids->cap : 64;
		ids->v = realloc(ids->v, ids->cap * sizeof(*ids->v));
		assert_non_null(ids->v);
	}
	ids->v[ids->n++] = id;
}

static void ids_free(struct ids *ids)
{
	free(ids->v);
	memset(ids, 0, sizeof(*ids));
}

/* Alert ids matching where (SQL over alerts a), in id order. */
static void ids_where(struct ids *out, const char *where)
{
	PGresult *res = sql("SELECT a.id FROM alerts a WHERE %s ORDER BY a.id", where);

	for (int r = 0; r < PQntuples(res); r++)
		ids_add(out, strtoull(PQgetvalue(res, r, 0), NULL, 10));
	PQclear(res);
}

static void ids_equal(const struct ids *got, const struct ids *want, const char *what)
{
	if (got->n != want->n) {
		for (size_t i = 0; i < got->n || i < want->n; i++)
			print_message("%s #%zu: got %" PRIu64 ", expected %" PRIu64 "\n", what, i,
				      i < got->n ? got->v[i] : 0, i < want->n ? want->v[i] : 0);
		fail_msg("%s: %zu alerts, expected %zu", what, got->n, want->n);
	}
	for (size_t i = 0; i < got->n; i++) {
		if (got->v[i] != want->v[i])
			fail_msg("%s: alert #%zu is %" PRIu64 ", expected %" PRIu64, what, i,
				 got->v[i], want->v[i]);
	}
}

/* ---- alerts requests ------------------------------------------------------ */

/* Sanity of one alert as served (list, single or pushed). */
static void check_alert(const Custody__Alert *a)
{
	assert_true(a->id > 0);
	assert_true(strlen(a->rule) > 0);
	assert_true(a->severity == CUSTODY__SEVERITY__SEVERITY_ALERT ||
		    a->severity == CUSTODY__SEVERITY__SEVERITY_REJECT);
	assert_true(strlen(a->reason) > 0);
	assert_true(a->raised_at_ms > 0);
	assert_true(a->state >= CUSTODY__ALERT_STATE__OPEN &&
		    a->state <= CUSTODY__ALERT_STATE__RESOLVED);
	assert_true(a->event_id.len == 0 || a->event_id.len == 32);
}

/* Pages through every alert matching f (pages of limit) into out. */
static void list_all(Custody__AlertsRequest *f, uint32_t limit, struct ids *out)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	int fd = connect_daemon();
	bool more = true;

	req.body_case = CUSTODY__REQUEST__BODY_ALERTS;
	req.alerts = f;
	f->limit = limit;
	f->after_id = 0;
	while (more) {
		Custody__Response *resp = call(fd, &req);

		expect_body(resp, CUSTODY__RESPONSE__BODY_ALERTS);
		more = resp->alerts->more;
		if (more)
			assert_int_equal(resp->alerts->n_alerts, limit != 0 ? limit : 1000);
		for (size_t i = 0; i < resp->alerts->n_alerts; i++) {
			const Custody__Alert *a = resp->alerts->alerts[i];

			check_alert(a);
			assert_int_equal(a->n_notes, 0);
			assert_true(a->id > f->after_id); /* ascending, after the page */
			f->after_id = a->id;
			ids_add(out, a->id);
		}
		custody__response__free_unpacked(resp, NULL);
	}
	close(fd);
}

/* The alerts request with filter f matches SQL where. */
static void check_filter(Custody__AlertsRequest *f, const char *where, const char *what)
{
	struct ids got = {0}, want = {0};

	list_all(f, 3, &got);
	ids_where(&want, where);
	ids_equal(&got, &want, what);
	ids_free(&got);
	ids_free(&want);
}

static void test_alerts_paging(void **state)
{
	Custody__AlertsRequest f = CUSTODY__ALERTS_REQUEST__INIT;
	struct ids all = {0}, small = {0}, big = {0};

	(void)state;
	ids_where(&all, "true");
	if ((int64_t)all.n < env_i64("ITEST_MIN_ALERTS", 1))
		fail_msg("only %zu alerts stored; the script should have raised more", all.n);
	list_all(&f, 1, &small);
	ids_equal(&small, &all, "pages of 1");
	list_all(&f, 0, &big);
	ids_equal(&big, &all, "default page");
	ids_free(&all);
	ids_free(&small);
	ids_free(&big);
}

/* The first non-empty value of column col of alerts (into out); false if none. */
static bool some_value(const char *col, char *out, size_t size)
{
	PGresult *res = sql("SELECT %s FROM alerts WHERE %s <> '' ORDER BY id LIMIT 1", col, col);
	bool found = PQntuples(res) == 1;

	if (found)
		snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return found;
}

static void test_alerts_filters(void **state)
{
	static const char *const cols[] = {"device", "facility_id", "country", "rule",
					   "exporter_id"};
	static const char *const states[] = {"OPEN", "ACKNOWLEDGED", "RESOLVED"};
	char value[128], lit[300], where[512];
	int64_t mid_ms;

	(void)state;
	for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
		Custody__AlertsRequest f = CUSTODY__ALERTS_REQUEST__INIT;

		if (!some_value(cols[c], value, sizeof(value)))
			continue;
		f.device = c == 0 ? value : "";
		f.facility = c == 1 ? value : "";
		f.country = c == 2 ? value : "";
		f.rule = c == 3 ? value : "";
		f.exporter = c == 4 ? value : "";
		literal(lit, sizeof(lit), value);
		snprintf(where, sizeof(where), "a.%s = %s", cols[c], lit);
		check_filter(&f, where, cols[c]);
		if (c == 3 && strchr(value, '.') != NULL) { /* the rule's family, as a prefix */
			Custody__AlertsRequest p = CUSTODY__ALERTS_REQUEST__INIT;

			strchr(value, '.')[1] = '\0';
			p.rule = value;
			literal(lit, sizeof(lit), value);
			snprintf(where, sizeof(where), "starts_with(a.rule, %s)", lit);
			check_filter(&p, where, "rule prefix");
		}
	}
	for (int s = 0; s < 3; s++) {
		Custody__AlertsRequest f = CUSTODY__ALERTS_REQUEST__INIT;

		f.state = (Custody__AlertState)(s + 1);
		snprintf(where, sizeof(where), "custody_alert_state(a.id) = '%s'", states[s]);
		check_filter(&f, where, states[s]);
	}
	mid_ms = sql_i64("SELECT custody_ms(raised_at) FROM alerts ORDER BY id"
			 " OFFSET (SELECT count(*) / 2 FROM alerts) LIMIT 1");
	{
		Custody__AlertsRequest from = CUSTODY__ALERTS_REQUEST__INIT;
		Custody__AlertsRequest to = CUSTODY__ALERTS_REQUEST__INIT;

		from.from_ms = mid_ms;
		snprintf(where, sizeof(where), "a.raised_at >= custody_ts(%" PRId64 ")", mid_ms);
		check_filter(&from, where, "from_ms");
		to.to_ms = mid_ms;
		snprintf(where, sizeof(where), "a.raised_at < custody_ts(%" PRId64 ")", mid_ms);
		check_filter(&to, where, "to_ms");
	}
}

static void test_alerts_bad_input(void **state)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__AlertsRequest f = CUSTODY__ALERTS_REQUEST__INIT;
	Custody__Response *resp;

	(void)state;
	req.body_case = CUSTODY__REQUEST__BODY_ALERTS;
	req.alerts = &f;
	f.country = "jp";
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "country");
	f.country = "";
	f.device = "-not a serial";
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "device");
	f.device = "";
	f.facility = "no spaces";
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "facility");
	f.facility = "";
	f.rule = "rule with spaces";
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "rule");
	f.rule = "";
	f.exporter = "a/b";
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "exporter");
	f.exporter = "";
	f.state = (Custody__AlertState)9;
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "state");
	f.state = 0;
	f.from_ms = 2000;
	f.to_ms = 1000;
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "to_ms");
	f.from_ms = f.to_ms = 0;
	/* An unknown rule is no error: it matches nothing. */
	f.rule = "no.such-rule";
	resp = call_once(&req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_ALERTS);
	assert_int_equal(resp->alerts->n_alerts, 0);
	assert_false(resp->alerts->more);
	custody__response__free_unpacked(resp, NULL);
	f.rule = "";
	f.id = (uint64_t)sql_i64("SELECT coalesce(max(id), 0) + 1000 FROM alerts");
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__NOT_FOUND, "does not exist");
}

/* Signs and submits an alert note with key. */
static void add_note(const struct cu_key *key, uint64_t alert_id, Custody__AlertState st,
		     const char *text)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__AlertNote note = CUSTODY__ALERT_NOTE__INIT;
	Custody__SignedEnvelope env;
	Custody__Response *resp;

	note.alert_id = alert_id;
	note.state = st;
	note.note = (char *)text;
	act.issued_at_ms = codec_now_ms();
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_ALERT_NOTE;
	act.alert_note = &note;
	assert_int_equal(envelope_seal(ENVELOPE_ADMIN, key, &act.base, &env), CU_OK);
	req.body_case = CUSTODY__REQUEST__BODY_ADMIN;
	req.admin = &env;
	resp = call_once(&req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_ADMIN);
	custody__response__free_unpacked(resp, NULL);
	envelope_clear(&env);
}

/* With ITEST_NOTE_KEY: a comment, then ACKNOWLEDGED, on the first alert. */
static void test_alert_notes(void **state)
{
	const char *path = getenv("ITEST_NOTE_KEY");
	uint64_t id = (uint64_t)sql_i64("SELECT coalesce(min(id), 0) FROM alerts");
	struct cu_key *key = NULL;

	(void)state;
	if (path == NULL || path[0] == '\0')
		skip();
	assert_int_equal(key_load(path, &key), CU_OK);
	assert_true(id > 0);
	add_note(key, id, 0, "looking into it");
	add_note(key, id, CUSTODY__ALERT_STATE__ACKNOWLEDGED, "known transfer; checking");
	key_free(key);
	noted_id = id;
	assert_int_equal(sql_i64("SELECT count(*) FROM alerts WHERE custody_alert_state(id) ="
				 " 'ACKNOWLEDGED'"),
			 1);
}

/* The alert to fetch alone: see ITEST_NOTED_ALERT. */
static uint64_t noted_alert(void)
{
	int64_t id = env_i64("ITEST_NOTED_ALERT", 0);

	if (id > 0)
		return (uint64_t)id;
	if (noted_id != 0)
		return noted_id;
	return (uint64_t)sql_i64("SELECT a.id FROM alerts a LEFT JOIN alert_notes n"
				 " ON n.alert_id = a.id GROUP BY a.id"
				 " ORDER BY count(n.admin_seq) DESC, a.id LIMIT 1");
}

static void check_notes(const Custody__Alert *a)
{
	PGresult *res = sql("SELECT admin_seq, party_id, state, note, custody_ms(noted_at)"
			    " FROM alert_notes WHERE alert_id = %" PRIu64 " ORDER BY admin_seq",
			    a->id);

	assert_int_equal(a->n_notes, (size_t)PQntuples(res));
	assert_true((int64_t)a->n_notes >= env_i64("ITEST_MIN_NOTES", 0));
	if (a->id == noted_id) {
		assert_int_equal(a->n_notes, 2);
		assert_int_equal(a->notes[0]->state, 0);
		assert_int_equal(a->notes[1]->state, CUSTODY__ALERT_STATE__ACKNOWLEDGED);
		assert_int_equal(a->state, CUSTODY__ALERT_STATE__ACKNOWLEDGED);
	}
	for (size_t i = 0; i < a->n_notes; i++) {
		const Custody__AlertNoteRecord *n = a->notes[i];
		const char *st = PQgetvalue(res, (int)i, 2);

		assert_int_equal(n->admin_seq, strtoull(PQgetvalue(res, (int)i, 0), NULL, 10));
		assert_string_equal(n->party, PQgetvalue(res, (int)i, 1));
		assert_string_equal(n->note, PQgetvalue(res, (int)i, 3));
		assert_int_equal(n->at_ms, strtoll(PQgetvalue(res, (int)i, 4), NULL, 10));
		if (st[0] == '\0')
			assert_int_equal(n->state, 0);
		else
			assert_string_equal(protobuf_c_enum_descriptor_get_value(
						&custody__alert_state__descriptor, n->state)
						->name,
					    st);
	}
	PQclear(res);
}

static void test_alert_with_notes(void **state)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__AlertsRequest f = CUSTODY__ALERTS_REQUEST__INIT;
	Custody__Response *resp;
	const Custody__Alert *a;
	PGresult *res;

	(void)state;
	f.id = noted_alert();
	f.country = "ignored-with-id"; /* filters do not apply to a single alert */
	req.body_case = CUSTODY__REQUEST__BODY_ALERTS;
	req.alerts = &f;
	resp = call_once(&req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_ALERTS);
	assert_int_equal(resp->alerts->n_alerts, 1);
	a = resp->alerts->alerts[0];
	check_alert(a);
	assert_int_equal(a->id, f.id);
	res = sql("SELECT a.rule, a.reason, a.device, a.facility_id, a.country, a.exporter_id,"
		  " custody_alert_state(a.id), coalesce(encode(e.id, 'hex'), ''),"
		  " coalesce(a.event_seq, 0), custody_ms(a.raised_at)"
		  " FROM alerts a LEFT JOIN events e ON e.seq = a.event_seq WHERE a.id = %" PRIu64,
		  a->id);
	assert_int_equal(PQntuples(res), 1);
	assert_string_equal(a->rule, PQgetvalue(res, 0, 0));
	assert_string_equal(a->reason, PQgetvalue(res, 0, 1));
	assert_string_equal(a->device, PQgetvalue(res, 0, 2));
	assert_string_equal(a->facility, PQgetvalue(res, 0, 3));
	assert_string_equal(a->country, PQgetvalue(res, 0, 4));
	assert_string_equal(a->exporter, PQgetvalue(res, 0, 5));
	assert_string_equal(
	    protobuf_c_enum_descriptor_get_value(&custody__alert_state__descriptor, a->state)->name,
	    PQgetvalue(res, 0, 6));
	if (a->event_id.len == 32) {
		char hex[65];

		codec_hex_encode(a->event_id.data, 32, hex, sizeof(hex));
		assert_string_equal(hex, PQgetvalue(res, 0, 7));
	}
	assert_int_equal(a->event_seq, strtoull(PQgetvalue(res, 0, 8), NULL, 10));
	assert_int_equal(a->raised_at_ms, strtoll(PQgetvalue(res, 0, 9), NULL, 10));
	PQclear(res);
	check_notes(a);
	custody__response__free_unpacked(resp, NULL);
}

/* ---- watch ------------------------------------------------------------------ */

/* Starts a watch on fd; returns WatchResult.last_id. */
static uint64_t watch(int fd, Custody__WatchRequest *w)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__Response *resp;
	uint64_t last;

	req.body_case = CUSTODY__REQUEST__BODY_WATCH;
	req.watch = w;
	resp = call(fd, &req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_WATCH);
	last = resp->watch->last_id;
	custody__response__free_unpacked(resp, NULL);
	return last;
}

/*
 * Reads frames on a watching fd: pushed alerts go to pushed (checked: id 0,
 * ascending), the response to request id `want` (if not 0) is returned.
 * Once that response came and pushed holds `until` (0: no need), it stops
 * when nothing more arrives for quiet_ms.
 */
static Custody__Response *read_watch(int fd, struct ids *pushed, uint64_t until, uint64_t want,
				     int quiet_ms)
{
	Custody__Response *answer = NULL;

	for (;;) {
		bool have_all = until == 0 || (pushed->n > 0 && pushed->v[pushed->n - 1] >= until);
		bool done = have_all && (want == 0 || answer != NULL);
		Custody__Response *r;

		/* Once done, anything arriving within quiet_ms is extra (and counted). */
		r = recv_frame(fd, done ? quiet_ms : TIMEOUT_MS, done);
		if (r == NULL) {
			if (!done)
				fail_msg("watch: connection closed before alert %" PRIu64
					 " or the answer to request %" PRIu64,
					 until, want);
			return answer;
		}
		if (r->id == 0) {
			expect_body(r, CUSTODY__RESPONSE__BODY_ALERT);
			check_alert(r->alert);
			if (pushed->n > 0 && r->alert->id <= pushed->v[pushed->n - 1])
				fail_msg("watch: alert %" PRIu64 " after %" PRIu64, r->alert->id,
					 pushed->v[pushed->n - 1]);
			ids_add(pushed, r->alert->id);
			custody__response__free_unpacked(r, NULL);
			continue;
		}
		assert_int_equal(r->id, want);
		assert_null(answer);
		answer = r;
	}
}

static void test_watch_catch_up(void **state)
{
	Custody__WatchRequest w = CUSTODY__WATCH_REQUEST__INIT;
	struct ids pushed = {0}, want = {0};
	char where[256], country[8];
	int fd = connect_daemon();
	uint64_t last, mid;

	(void)state;
	last = watch(fd, &w);
	assert_int_equal(last, (uint64_t)sql_i64("SELECT coalesce(max(id), 0) FROM alerts"));
	ids_where(&want, "true");
	read_watch(fd, &pushed, last, 0, QUIET_MS);
	ids_equal(&pushed, &want, "watch from 0");
	close(fd);
	ids_free(&pushed);
	ids_free(&want);

	/* From the middle, with a filter. */
	mid = (uint64_t)sql_i64("SELECT id FROM alerts ORDER BY id"
				" OFFSET (SELECT count(*) / 2 FROM alerts) LIMIT 1");
	w.after_id = mid;
	if (some_value("country", country, sizeof(country)))
		w.country = country;
	snprintf(where, sizeof(where), "a.id > %" PRIu64 " AND ('%s' = '' OR a.country = '%s')",
		 mid, w.country, w.country);
	ids_where(&want, where);
	fd = connect_daemon();
	last = watch(fd, &w);
	read_watch(fd, &pushed, want.n > 0 ? want.v[want.n - 1] : 0, 0, QUIET_MS);
	ids_equal(&pushed, &want, "watch from the middle");
	close(fd);
	ids_free(&pushed);
	ids_free(&want);
}

static void test_watch_requests(void **state)
{
	Custody__WatchRequest w = CUSTODY__WATCH_REQUEST__INIT;
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__AlertsRequest f = CUSTODY__ALERTS_REQUEST__INIT;
	Custody__Response *resp;
	struct ids pushed = {0};
	int fd = connect_daemon();

	(void)state;
	w.rule = "bad rule";
	req.body_case = CUSTODY__REQUEST__BODY_WATCH;
	req.watch = &w;
	expect_error(call(fd, &req), CUSTODY__ERROR_CODE__BAD_REQUEST, "rule");
	w.rule = "";
	w.after_id = (uint64_t)sql_i64("SELECT coalesce(max(id), 0) FROM alerts");
	watch(fd, &w);
	/* One watch per connection. */
	expect_error(call(fd, &req), CUSTODY__ERROR_CODE__BAD_REQUEST, "already watching");
	/* Other requests are still answered on a watching connection. */
	req.body_case = CUSTODY__REQUEST__BODY_ALERTS;
	req.alerts = &f;
	f.limit = 1;
	send_request(fd, &req);
	resp = read_watch(fd, &pushed, 0, req.id, QUIET_MS);
	assert_non_null(resp);
	expect_body(resp, CUSTODY__RESPONSE__BODY_ALERTS);
	custody__response__free_unpacked(resp, NULL);
	close(fd);
	ids_free(&pushed);
}

/* Runs ITEST_RAISE_CMD; false (test skipped) when there is none. */
static bool raise_alerts(void)
{
	const char *cmd = getenv("ITEST_RAISE_CMD");

	if (cmd == NULL || cmd[0] == '\0')
		return false;
	if (system(cmd) != 0)
		fail_msg("ITEST_RAISE_CMD failed: %s", cmd);
	return true;
}

static void test_watch_live(void **state)
{
	Custody__WatchRequest w = CUSTODY__WATCH_REQUEST__INIT;
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__AlertsRequest f = CUSTODY__ALERTS_REQUEST__INIT;
	Custody__Response *resp;
	struct ids pushed = {0}, want = {0};
	char where[128];
	int fd = connect_daemon();
	uint64_t last;

	(void)state;
	if (getenv("ITEST_RAISE_CMD") == NULL) {
		close(fd);
		skip();
	}
	w.after_id = (uint64_t)sql_i64("SELECT coalesce(max(id), 0) FROM alerts");
	last = watch(fd, &w);
	assert_int_equal(last, w.after_id);
	assert_true(raise_alerts());
	snprintf(where, sizeof(where), "a.id > %" PRIu64, last);
	ids_where(&want, where);
	if (want.n == 0)
		fail_msg("ITEST_RAISE_CMD raised no alert");
	/* A request in between is answered while alerts are pushed. */
	req.body_case = CUSTODY__REQUEST__BODY_ALERTS;
	req.alerts = &f;
	f.after_id = last;
	send_request(fd, &req);
	resp = read_watch(fd, &pushed, want.v[want.n - 1], req.id, QUIET_MS);
	expect_body(resp, CUSTODY__RESPONSE__BODY_ALERTS);
	assert_int_equal(resp->alerts->n_alerts, want.n);
	custody__response__free_unpacked(resp, NULL);
	ids_equal(&pushed, &want, "live pushes");
	close(fd);
	ids_free(&pushed);
	ids_free(&want);
}

/* Alerts raised while a watch catches up arrive once each, in order. */
static void test_watch_boundary(void **state)
{
	Custody__WatchRequest w = CUSTODY__WATCH_REQUEST__INIT;
	Custody__Request req = CUSTODY__REQUEST__INIT;
	struct ids pushed = {0}, want = {0};
	Custody__Response *resp;
	int fd = connect_daemon();

	(void)state;
	if (getenv("ITEST_RAISE_CMD") == NULL) {
		close(fd);
		skip();
	}
	req.body_case = CUSTODY__REQUEST__BODY_WATCH;
	req.watch = &w;
	send_request(fd, &req); /* not read yet: the catch-up runs meanwhile */
	assert_true(raise_alerts());
	ids_where(&want, "true");
	resp = read_watch(fd, &pushed, want.v[want.n - 1], req.id, QUIET_MS);
	expect_body(resp, CUSTODY__RESPONSE__BODY_WATCH);
	custody__response__free_unpacked(resp, NULL);
	ids_equal(&pushed, &want, "catch-up and live together");
	close(fd);
	ids_free(&pushed);
	ids_free(&want);
}

/* ---- shipment notice --------------------------------------------------------- */

static Custody__Response *shipment(const uint8_t *id, size_t len)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__ShipmentRequest s = CUSTODY__SHIPMENT_REQUEST__INIT;

	s.event_id.data = (uint8_t *)id;
	s.event_id.len = len;
	req.body_case = CUSTODY__REQUEST__BODY_SHIPMENT;
	req.shipment = &s;
	return call_once(&req);
}

/* The event id to test (hex): ITEST_SHIP_EVENT or the latest accepted SHIP. */
static bool ship_event(char hex[65])
{
	const char *env = getenv("ITEST_SHIP_EVENT");
	PGresult *res;
	bool found;

	if (env != NULL && strlen(env) == 64) {
		memcpy(hex, env, 65);
		return true;
	}
	res = sql("SELECT encode(id, 'hex') FROM events WHERE type = 'SHIP'"
		  " AND verdict <> 'REJECT' ORDER BY seq DESC LIMIT 1");
	found = PQntuples(res) == 1;
	if (found)
		memcpy(hex, PQgetvalue(res, 0, 0), 65);
	PQclear(res);
	return found;
}

static void check_notice(const Custody__ShipmentNotice *n, const char *hex)
{
	PGresult *res = sql(
	    "SELECT e.seq, e.type, coalesce(e.facility_id, ''), f.country,"
	    " (SELECT count(*) FROM event_devices WHERE seq = e.seq),"
	    " (SELECT count(*) FROM event_devices x JOIN devices d USING (serial)"
	    "  WHERE x.seq = e.seq AND d.kind = 'CHIP'),"
	    " (SELECT coalesce(sum(d.tpp), 0) FROM event_devices x JOIN devices d USING (serial)"
	    "  WHERE x.seq = e.seq AND d.kind = 'CHIP'),"
	    " NOT EXISTS (SELECT 1 FROM devices d WHERE d.shipment_seq = e.seq),"
	    " custody_ms(e.occurred_at)"
	    " FROM events e LEFT JOIN facilities f ON f.id = e.facility_id"
	    " WHERE e.id = '\\x%s'",
	    hex);
	uint64_t chips = 0, tpp = 0;
	char to_country[3] = "";

	assert_int_equal(PQntuples(res), 1);
	assert_int_equal(n->seq, strtoull(PQgetvalue(res, 0, 0), NULL, 10));
	assert_string_equal(
	    protobuf_c_enum_descriptor_get_value(&custody__event_type__descriptor, n->type)->name,
	    PQgetvalue(res, 0, 1));
	assert_string_equal(n->from_facility, PQgetvalue(res, 0, 2));
	assert_string_equal(n->from_country, PQgetvalue(res, 0, 3));
	assert_int_equal(n->n_items, strtoull(PQgetvalue(res, 0, 4), NULL, 10));
	assert_int_equal(n->total_chips, strtoull(PQgetvalue(res, 0, 5), NULL, 10));
	assert_int_equal(n->total_tpp, strtoull(PQgetvalue(res, 0, 6), NULL, 10));
	assert_int_equal(n->received, PQgetvalue(res, 0, 7)[0] == 't');
	assert_int_equal(n->shipped_at_ms, strtoll(PQgetvalue(res, 0, 8), NULL, 10));
	PQclear(res);
	assert_true(strlen(n->to_facility) > 0);
	assert_true(strlen(n->exporter) > 0);
	{
		char lit[200], q[300];

		literal(lit, sizeof(lit), n->to_facility);
		snprintf(q, sizeof(q), "SELECT country FROM facilities WHERE id = %s", lit);
		res = sql("%s", q);
		if (PQntuples(res) == 1)
			snprintf(to_country, sizeof(to_country), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		assert_string_equal(n->to_country, to_country);
	}
	for (size_t i = 0; i < n->n_items; i++) {
		const Custody__ReportItem *it = n->items[i];

		assert_true(strlen(it->serial) > 0);
		assert_int_equal(it->event_id.len, 32);
		assert_memory_equal(it->event_id.data, n->event_id.data, 32);
		if (it->kind == CUSTODY__DEVICE_KIND__CHIP) {
			chips++;
			tpp += it->tpp;
			assert_true(strncmp(it->eccn_class, "4A090", 5) != 0);
		} else {
			assert_true(strncmp(it->eccn_class, "3A090", 5) != 0);
		}
	}
	assert_int_equal(chips, n->total_chips);
	assert_int_equal(tpp, n->total_tpp);
}

static void test_shipment(void **state)
{
	char hex[65];
	uint8_t id[32];
	Custody__Response *resp;
	const Custody__ShipmentNotice *n;
	PGresult *res;

	(void)state;
	if (!ship_event(hex))
		skip();
	assert_int_equal(codec_hex_decode(hex, id, 32), CU_OK);
	resp = shipment(id, 32);
	expect_body(resp, CUSTODY__RESPONSE__BODY_SHIPMENT);
	n = resp->shipment;
	assert_memory_equal(n->event_id.data, id, 32);
	check_notice(n, hex);
	if (getenv("ITEST_SHIP_TO") != NULL)
		assert_string_equal(n->to_facility, getenv("ITEST_SHIP_TO"));
	if (getenv("ITEST_SHIP_CHIPS") != NULL)
		assert_int_equal(n->total_chips, env_i64("ITEST_SHIP_CHIPS", 0));
	if (getenv("ITEST_SHIP_TPP") != NULL)
		assert_int_equal(n->total_tpp, env_i64("ITEST_SHIP_TPP", 0));
	if (getenv("ITEST_SHIP_RECEIVED") != NULL)
		assert_int_equal(n->received, env_i64("ITEST_SHIP_RECEIVED", 0) != 0);
	custody__response__free_unpacked(resp, NULL);

	expect_error(shipment(id, 31), CUSTODY__ERROR_CODE__BAD_REQUEST, "event_id");
	id[0] ^= 0xff;
	expect_error(shipment(id, 32), CUSTODY__ERROR_CODE__NOT_FOUND, "not stored");
	res = sql("SELECT encode(id, 'hex') FROM events WHERE type = 'RECEIVE' LIMIT 1");
	if (PQntuples(res) == 1) {
		assert_int_equal(codec_hex_decode(PQgetvalue(res, 0, 0), id, 32), CU_OK);
		expect_error(shipment(id, 32), CUSTODY__ERROR_CODE__BAD_REQUEST,
			     "not a SHIP or RMA_OUT");
	}
	PQclear(res);
}

/* ---- VEU report ----------------------------------------------------------------- */

static Custody__Response *veu_report(const char *exporter, int64_t from_ms, int64_t to_ms)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__VeuReportRequest r = CUSTODY__VEU_REPORT_REQUEST__INIT;

	r.exporter = (char *)exporter;
	r.from_ms = from_ms;
	r.to_ms = to_ms;
	req.body_case = CUSTODY__REQUEST__BODY_VEU_REPORT;
	req.veu_report = &r;
	return call_once(&req);
}

/* Each received item is an accepted RECEIVE at its site, in the period. */
static void check_site(const Custody__VeuSite *s, const char *exporter, int64_t from_ms,
		       int64_t to_ms)
{
	for (size_t i = 0; i < s->n_received; i++) {
		const Custody__ReportItem *it = s->received[i];
		char hex[65], lit[200];
		PGresult *res;

		assert_int_equal(it->event_id.len, 32);
		assert_true(it->received_at_ms >= from_ms && it->received_at_ms < to_ms);
		codec_hex_encode(it->event_id.data, 32, hex, sizeof(hex));
		literal(lit, sizeof(lit), it->serial);
		res = sql("SELECT e.type, e.facility_id, d.owner_id FROM events e"
			  " JOIN event_devices x ON x.seq = e.seq JOIN devices d USING (serial)"
			  " WHERE e.id = '\\x%s' AND x.serial = %s",
			  hex, lit);
		assert_int_equal(PQntuples(res), 1);
		assert_string_equal(PQgetvalue(res, 0, 0), "RECEIVE");
		assert_string_equal(PQgetvalue(res, 0, 1), s->facility);
		assert_string_equal(PQgetvalue(res, 0, 2), exporter);
		PQclear(res);
		if (it->kind == CUSTODY__DEVICE_KIND__CHIP)
			assert_true(strncmp(it->eccn_class, "4A090", 5) != 0);
		else
			assert_true(strncmp(it->eccn_class, "3A090", 5) != 0);
	}
}

/* Checks the sites against ITEST_VEU_EXPECT ("site:received:on_hand,..."). */
static void check_expected_sites(const Custody__VeuReport *rep, const char *expect)
{
	char buf[1024], *save = NULL;
	size_t i = 0;

	snprintf(buf, sizeof(buf), "%s", expect);
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save), i++) {
		char site[128];
		unsigned long received = 0, on_hand = 0;

		if (sscanf(t, "%127[^:]:%lu:%lu", site, &received, &on_hand) != 3)
			fail_msg("ITEST_VEU_EXPECT: bad entry \"%s\"", t);
		if (i >= rep->n_sites)
			fail_msg("VEU report lacks site %s", site);
		assert_string_equal(rep->sites[i]->facility, site);
		assert_int_equal(rep->sites[i]->n_received, received);
		assert_int_equal(rep->sites[i]->on_hand_chips, on_hand);
	}
	assert_int_equal(rep->n_sites, i);
}

static void test_veu_report(void **state)
{
	const char *exporter = getenv("ITEST_VEU_EXPORTER");
	int64_t from_ms = env_i64("ITEST_VEU_FROM_MS", 0);
	int64_t to_ms = env_i64("ITEST_VEU_TO_MS", codec_now_ms() + 86400000);
	Custody__Response *resp;
	const Custody__VeuReport *rep;

	(void)state;
	if (exporter == NULL)
		skip();
	resp = veu_report(exporter, from_ms, to_ms);
	expect_body(resp, CUSTODY__RESPONSE__BODY_VEU_REPORT);
	rep = resp->veu_report;
	assert_string_equal(rep->exporter, exporter);
	assert_int_equal(rep->from_ms, from_ms);
	assert_int_equal(rep->to_ms, to_ms);
	for (size_t i = 0; i < rep->n_sites; i++) {
		if (i > 0)
			assert_true(strcmp(rep->sites[i - 1]->facility, rep->sites[i]->facility) <
				    0);
		check_site(rep->sites[i], exporter, from_ms, to_ms);
	}
	if (getenv("ITEST_VEU_EXPECT") != NULL)
		check_expected_sites(rep, getenv("ITEST_VEU_EXPECT"));
	custody__response__free_unpacked(resp, NULL);

	expect_error(veu_report("no-such-party", from_ms, to_ms), CUSTODY__ERROR_CODE__NOT_FOUND,
		     "no-such-party");
	expect_error(veu_report(exporter, to_ms, from_ms), CUSTODY__ERROR_CODE__BAD_REQUEST,
		     "from_ms");
	expect_error(veu_report("", from_ms, to_ms), CUSTODY__ERROR_CODE__BAD_REQUEST, "exporter");
}

/* ---- main ------------------------------------------------------------------------- */

static int setup(void **state)
{
	char conninfo[256];

	(void)state;
	snprintf(conninfo, sizeof(conninfo), "dbname=%s", getenv("ITEST_DBNAME"));
	pg = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	PQfinish(pg);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alert_notes),	     cmocka_unit_test(test_alerts_paging),
	    cmocka_unit_test(test_alerts_filters),   cmocka_unit_test(test_alerts_bad_input),
	    cmocka_unit_test(test_alert_with_notes), cmocka_unit_test(test_watch_catch_up),
	    cmocka_unit_test(test_watch_requests),   cmocka_unit_test(test_watch_live),
	    cmocka_unit_test(test_watch_boundary),   cmocka_unit_test(test_shipment),
	    cmocka_unit_test(test_veu_report),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
