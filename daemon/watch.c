/*
 * watch.c - alert subscriptions (see watch.h).
 *
 * Each watch is a small state machine:
 *
 *   QUERYING --page pushed, more may follow--> QUERYING
 *   QUERYING --client's output full----------> WAITING --output drained--> QUERYING
 *   QUERYING --short page, nothing missed----> LIVE (held-back alerts flushed first)
 *
 * Why no alert is lost at the catch-up/live boundary: the watch is in the
 * list before its first page is asked for, so an alert committed after that
 * reaches watch_publish and is held back (pending); one committed before is
 * visible to every later page. The pages end at a short page asked for
 * after the last alert was dropped from pending (pending is bounded; see
 * `missed`), so pages and pending together hold every alert; ids at or
 * below last_sent are skipped, so none is sent twice.
 *
 * Catch-up is paced by the client: a page stops at the row the connection
 * refuses (output full) and resumes from the database once the output has
 * drained. A live watcher that falls behind is told so and disconnected
 * (watch.h): holding its alerts would need unbounded memory.
 *
 * Scope: a scoped requester's watch (auth.h) is held to its alerts, an
 * exporter's to its devices, an operator's to the facilities it operates
 * (looked up in the registry as each alert is pushed); a key revoked or
 * expired while watching loses its watch at the next live alert.
 *
 * Lifetime: the connection tells us when it closes (conn_observe); from
 * then on the watch never touches it. A watch whose page is being read
 * when that happens is freed by the page's callback.
 */
#include "watch.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_row.h"
#include "auth.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "validate.h"

#define WATCH_PAGE	  1000 /* alerts per catch-up page */
#define WATCH_PENDING_MAX 1000 /* live alerts held back per watch during catch-up */
#define WATCH_ERR_MAX	  256

enum watch_phase {
	WATCH_QUERYING, /* a catch-up page is being read */
	WATCH_WAITING,	/* catch-up paused until the client's output drains */
	WATCH_LIVE,	/* caught up: alerts are pushed as they are published */
};

/* A live alert held back during catch-up. */
struct pending {
	struct pending *next;
	Custody__Alert *alert; /* owned, unpacked copy */
};

struct watch {
	struct watch *prev, *next; /* all attached watches */
	struct conn *conn;	   /* NULL once detached */
	struct req *req;	   /* the watch request, until its first page is answered */
	char peer[64];		   /* the client, for logs */
	char country[3];
	char facility[VALIDATE_ID_MAX + 1];
	char rule[VALIDATE_ID_MAX + 1];
	char exporter[VALIDATE_ID_MAX + 1];
	char operator_[VALIDATE_ID_MAX + 1]; /* scope: alerts at facilities it operates */
	struct principal who;		     /* who watches: checked again before each push */
	uint64_t last_sent;		     /* highest id pushed (or the client's after_id) */
	enum watch_phase phase;
	/* Pending alerts were dropped since the page in flight was asked for. */
	bool missed;
	bool detached; /* off the list; freed when its page callback runs */
	struct pending *head, *tail;
	size_t n_pending;
};

static struct db *watch_db;
static struct watch *watches;

static void on_closed(void *arg);
static void on_drained(void *arg);
static const struct conn_observer observer = {on_closed, on_drained};

void watch_init(struct db *db)
{
	watch_db = db;
}

/* ---- lifetime ------------------------------------------------------------ */

static void pending_clear(struct watch *w)
{
	struct pending *p, *next;

	for (p = w->head; p != NULL; p = next) {
		next = p->next;
		custody__alert__free_unpacked(p->alert, NULL);
		free(p);
	}
	w->head = w->tail = NULL;
	w->n_pending = 0;
}

static void watch_free(struct watch *w)
{
	pending_clear(w);
	free(w);
}

/*
 * Takes w off the list and away from its connection (which the caller has
 * already let go of, or which is gone). Frees w unless a page is being
 * read; the page's callback frees it then.
 */
static void watch_detach(struct watch *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->conn = NULL;
	w->detached = true;
	if (w->phase != WATCH_QUERYING)
		watch_free(w);
	else
		pending_clear(w);
}

/* Ends the watch and closes its connection after sending an id-0 error. */
static void watch_abort(struct watch *w, Custody__ErrorCode code, const char *why)
{
	char message[WATCH_ERR_MAX];

	snprintf(message, sizeof(message), "%s; reconnect with after_id = %" PRIu64, why,
		 w->last_sent);
	conn_send_error(w->conn, code, message, 1);
	conn_unobserve(w->conn);
	watch_detach(w);
}

void watch_free_all(void)
{
	while (watches != NULL) {
		struct watch *w = watches;

		if (w->conn != NULL)
			conn_unobserve(w->conn);
		/* No page is read any more (the database is gone): free it now. */
		w->phase = WATCH_LIVE;
		watch_detach(w);
	}
}

/* ---- pushing ------------------------------------------------------------- */

static const char *str(const char *s)
{
	return s != NULL ? s : "";
}

static bool watch_matches(const struct watch *w, const Custody__Alert *a)
{
	return (w->country[0] == '\0' || strcmp(w->country, str(a->country)) == 0) &&
	       (w->facility[0] == '\0' || strcmp(w->facility, str(a->facility)) == 0) &&
	       (w->exporter[0] == '\0' || strcmp(w->exporter, str(a->exporter)) == 0) &&
	       (w->operator_[0] == '\0' ||
		auth_operates(auth_registry(), w->operator_, str(a->facility))) &&
	       alert_row_rule_matches(w->rule, str(a->rule));
}

/* Pushes one alert; see conn_push for the codes. */
static int push(struct watch *w, const Custody__Alert *alert)
{
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	int rc;

	resp.body_case = CUSTODY__RESPONSE__BODY_ALERT;
	resp.alert = (Custody__Alert *)alert; /* packed, never changed */
	rc = conn_push(w->conn, &resp);
	if (rc == CU_OK)
		w->last_sent = alert->id;
	return rc;
}

/*
 * Holds a live alert back during catch-up. Past WATCH_PENDING_MAX (or out
 * of memory) the held-back alerts are dropped and `missed` makes catch-up
 * read one more page, asked for after the drop, which finds them stored.
 */
static void hold_back(struct watch *w, const Custody__Alert *alert)
{
	size_t len = custody__alert__get_packed_size(alert);
	uint8_t *buf = w->n_pending < WATCH_PENDING_MAX ? malloc(len + 1) : NULL;
	struct pending *p = buf != NULL ? malloc(sizeof(*p)) : NULL;

	if (p != NULL) {
		custody__alert__pack(alert, buf);
		p->alert = custody__alert__unpack(NULL, len, buf);
	}
	free(buf);
	if (p == NULL || p->alert == NULL) {
		free(p);
		pending_clear(w);
		w->missed = true;
		return;
	}
	p->next = NULL;
	if (w->tail != NULL)
		w->tail->next = p;
	else
		w->head = p;
	w->tail = p;
	w->n_pending++;
}

void watch_publish(const Custody__Alert *alert)
{
	struct watch *w, *next;
	char why[AUTH_WHY_MAX];

	metrics_alert(alert->rule); /* every alert raised comes through here, once */
	for (w = watches; w != NULL; w = next) {
		next = w->next;
		if (alert->id <= w->last_sent || !watch_matches(w, alert))
			continue;
		if (w->phase != WATCH_LIVE) {
			hold_back(w, alert);
			continue;
		}
		if (!auth_still_allowed(&w->who, CUSTODY__REQUEST__BODY_WATCH, why)) {
			log_warn("alert watcher %s loses its watch: %s", w->peer, why);
			watch_abort(w, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
				    "the watching key may no longer watch alerts");
			continue;
		}
		/* CU_ERR_IO: the connection is closing; it will tell us. */
		if (push(w, alert) == CU_ERR_TOO_BIG) {
			log_info("alert watcher %s fell behind at alert %" PRIu64 "; disconnecting",
				 w->peer, w->last_sent);
			watch_abort(w, CUSTODY__ERROR_CODE__UNAVAILABLE, "watch fell behind");
		}
	}
}

/* ---- catch-up ------------------------------------------------------------ */

static void on_page(struct db_job *job, void *arg);

/* Asks for the next page (with the current max id first if unanswered). */
static int submit_page(struct watch *w)
{
	struct db_job *job = db_job_new(on_page, w);
	int rc;

	if (job == NULL)
		return CU_ERR_NOMEM;
	if (w->req != NULL)
		db_job_add(job, SQL_ALERT_MAX_ID);
	db_job_add(job, SQL_ALERTS_AFTER);
	db_param_i64(job, w->last_sent > INT64_MAX ? INT64_MAX : (int64_t)w->last_sent);
	db_param_text(job, w->country);
	db_param_text(job, w->facility);
	db_param_text(job, w->rule);
	db_param_text(job, w->exporter);
	db_param_i64(job, WATCH_PAGE);
	db_param_text(job, w->operator_);
	rc = db_submit(watch_db, DB_LANE_READ, job);
	if (rc != CU_OK) {
		db_job_free(job);
		return rc;
	}
	w->missed = false;
	w->phase = WATCH_QUERYING;
	return CU_OK;
}

/* Pushes the held-back alerts and goes live, or waits if the client is full. */
static void go_live(struct watch *w)
{
	struct pending *p;

	for (p = w->head; p != NULL; p = p->next) {
		if (p->alert->id <= w->last_sent)
			continue;
		if (push(w, p->alert) != CU_OK) {
			/* The rest is stored: read it once the client has caught up. */
			pending_clear(w);
			w->phase = WATCH_WAITING;
			return;
		}
	}
	pending_clear(w);
	w->phase = WATCH_LIVE;
}

/* Pushes a page's rows; false if the client could take no more. */
static bool push_rows(struct watch *w, const PGresult *res)
{
	struct alert_row row;

	for (int r = 0; r < PQntuples(res); r++) {
		alert_row_fill(&row, res, r);
		if (row.alert.id > w->last_sent && push(w, &row.alert) != CU_OK)
			return false;
	}
	return true;
}

/* After a page: read another, wait for the client, or go live. */
static void continue_catch_up(struct watch *w, const PGresult *res)
{
	int rc;

	if (!push_rows(w, res)) {
		w->phase = WATCH_WAITING;
		return;
	}
	if (PQntuples(res) < WATCH_PAGE && !w->missed) {
		go_live(w);
		return;
	}
	rc = submit_page(w);
	if (rc != CU_OK)
		watch_abort(w, CUSTODY__ERROR_CODE__UNAVAILABLE,
			    rc == CU_ERR_NOMEM ? "server out of memory" : "server busy");
}

/* Answers the watch request: the highest alert id stored. */
static void reply_result(struct watch *w, const PGresult *max)
{
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__WatchResult out = CUSTODY__WATCH_RESULT__INIT;

	out.last_id = (uint64_t)db_value_i64(max, 0, 0);
	resp.body_case = CUSTODY__RESPONSE__BODY_WATCH;
	resp.watch = &out;
	req_reply(w->req, &resp);
	w->req = NULL;
}

/* A page failed: the request, or else the connection, learns why. */
static void page_failed(struct watch *w, const struct db_job *job)
{
	bool conn_lost = db_job_status(job) == DB_ERR_CONN;
	struct req *req = w->req;

	if (!conn_lost)
		log_error("alert watch of %s: page failed: %s", w->peer, db_job_error(job));
	if (req != NULL) {
		/* Let go first: answering may close the connection. */
		w->req = NULL;
		conn_unobserve(w->conn);
		watch_detach(w);
		if (conn_lost)
			req_fail(req, CUSTODY__ERROR_CODE__UNAVAILABLE,
				 "database unavailable; retry later");
		else
			req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "query failed on the server");
		return;
	}
	watch_abort(w, conn_lost ? CUSTODY__ERROR_CODE__UNAVAILABLE : CUSTODY__ERROR_CODE__INTERNAL,
		    conn_lost ? "database unavailable" : "query failed on the server");
}

static void on_page(struct db_job *job, void *arg)
{
	struct watch *w = arg;

	/*
	 * The phase is still QUERYING, so a close while answering only marks
	 * the watch detached; it is freed here.
	 */
	if (!w->detached && db_job_status(job) == DB_OK && w->req != NULL)
		reply_result(w, db_job_result(job, 0));
	if (w->detached) {
		/* The client left; the request still needs its one answer. */
		if (w->req != NULL)
			req_fail(w->req, CUSTODY__ERROR_CODE__UNAVAILABLE, "connection closed");
		watch_free(w);
		return;
	}
	w->phase = WATCH_WAITING; /* no page in flight any more */
	if (db_job_status(job) != DB_OK) {
		page_failed(w, job);
		return;
	}
	continue_catch_up(w, db_job_result(job, db_job_size(job) - 1));
}

/* ---- connection events --------------------------------------------------- */

static void on_closed(void *arg)
{
	watch_detach(arg);
}

static void on_drained(void *arg)
{
	struct watch *w = arg;
	int rc;

	if (w->phase != WATCH_WAITING)
		return;
	rc = submit_page(w);
	if (rc != CU_OK)
		watch_abort(w, CUSTODY__ERROR_CODE__UNAVAILABLE,
			    rc == CU_ERR_NOMEM ? "server out of memory" : "server busy");
}

/* ---- the request ---------------------------------------------------------- */

/* A new attached watch for req's connection; NULL (req answered) on failure. */
/*
 * A new watch on req's connection with in's filters narrowed to scope
 * (auth_list_filters); NULL with req answered on failure.
 */
static struct watch *watch_new(struct req *req, const Custody__WatchRequest *in,
			       const struct auth_filters *scope)
{
	struct watch *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return NULL;
	}
	if (conn_observe(req_conn(req), &observer, w) != CU_OK) {
		free(w);
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "already watching on this connection; open another connection for "
			 "other filters");
		return NULL;
	}
	snprintf(w->country, sizeof(w->country), "%s", in->country);
	snprintf(w->facility, sizeof(w->facility), "%s", in->facility);
	snprintf(w->rule, sizeof(w->rule), "%s", in->rule);
	/* auth_check refused an exporter filter naming another party. */
	snprintf(w->exporter, sizeof(w->exporter), "%s",
		 scope->owner[0] != '\0' ? scope->owner : in->exporter);
	snprintf(w->operator_, sizeof(w->operator_), "%s", scope->operator_);
	w->who = *req_principal(req);
	snprintf(w->peer, sizeof(w->peer), "%s", req_peer(req));
	w->conn = req_conn(req);
	w->req = req;
	w->last_sent = in->after_id;
	w->phase = WATCH_WAITING;
	w->next = watches;
	if (watches != NULL)
		watches->prev = w;
	watches = w;
	return w;
}

void h_watch(struct req *req, const Custody__Request *msg)
{
	const Custody__WatchRequest *in = msg->watch;
	char err[WATCH_ERR_MAX];
	struct auth_id id;
	struct auth_filters scope;
	struct watch *w;
	int rc;

	if (alert_row_check_filters(in->country, in->facility, in->rule, in->exporter, err,
				    sizeof(err)) != CU_OK) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "%s", err);
		return;
	}
	if (auth_whoami(req, &id) != CU_OK)
		return;
	auth_list_filters(&id, &scope);
	w = watch_new(req, in, &scope);
	if (w == NULL)
		return;
	rc = submit_page(w);
	if (rc == CU_OK) {
		log_debug("alert watch from %s after id %" PRIu64, req_peer(req), in->after_id);
		return;
	}
	/* Let go first: answering may close the connection. */
	w->req = NULL;
	conn_unobserve(w->conn);
	watch_detach(w);
	req_fail(req,
		 rc == CU_ERR_NOMEM ? CUSTODY__ERROR_CODE__INTERNAL
				    : CUSTODY__ERROR_CODE__UNAVAILABLE,
		 "%s",
		 rc == CU_ERR_NOMEM	? "out of memory"
		 : rc == CU_ERR_TOO_BIG ? "server busy: too many queries queued; retry later"
					: "database unavailable; retry later");
}
