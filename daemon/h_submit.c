/*
 * h_submit.c - handlers for signed submissions: custody events (submit)
 * and admin actions (admin).
 *
 * Here only what needs no stored state is checked. The envelope's shape is
 * checked on the loop and a bad one answered at once. The rest runs on the
 * verify pool (verify_pool.h): the signature over the exact bytes, that
 * the body decodes, the structural rules of validate.c, the id. The pool
 * hands submissions back to the loop in arrival order; each failure is
 * answered in its turn and never stored, the others go to the sequencer
 * in that order, which decides who may sign what and whether the devices
 * allow it. A submission past verify_queue_max unreleased ones is
 * answered UNAVAILABLE at once.
 *
 * Threads: a submission's work (envelope_verify, protobuf-c unpacking,
 * validate_*, codec_now_ms, envelope_id: pure, or libsodium after
 * sodium_init, all thread-safe) runs on a worker and touches only its own
 * submission and max_skew_ms (set before the pool starts, then read-only).
 * Everything else here, the request handle included, is the loop's.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conn.h"
#include "dispatch.h"
#include "envelope.h"
#include "log.h"
#include "pb.h"
#include "sequencer.h"
#include "validate.h"
#include "verify_pool.h"

#include "codec.h"

struct submission {
	struct verify_task task; /* first: the pool hands back &task */
	struct req *req;	 /* the loop's; valid while unanswered */
	enum envelope_kind kind;
	Custody__SignedEnvelope env; /* points into bytes */
	/* Written by the worker, read by the loop once released. */
	bool failed;
	Custody__ErrorCode code; /* when failed */
	char err[VALIDATE_ERR_MAX];
	void *body_msg; /* the unpacked Event or AdminAction, owned */
	uint8_t id[ENVELOPE_ID_BYTES];
	uint8_t bytes[]; /* body, signer, sig */
};

static int64_t max_skew_ms = 300000;
static struct verify_pool *pool; /* loop */
static struct event *pool_ready; /* loop: the pool's eventfd */

void h_submit_configure(int64_t max_clock_skew_ms)
{
	max_skew_ms = max_clock_skew_ms;
}

static void submission_fail(struct submission *s, Custody__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Worker: records why s is refused. */
static void submission_fail(struct submission *s, Custody__ErrorCode code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	s->failed = true;
	s->code = code;
}

/*
 * Worker: unpacks and validates the Event of s into s->body_msg, in one
 * block (pb_block_unpack): the loop frees it with one free.
 */
static void decode_event(struct submission *s)
{
	Custody__Event *ev = (Custody__Event *)pb_block_unpack(&custody__event__descriptor,
							       s->env.body.len, s->env.body.data);

	if (ev == NULL || !pb_fields_valid(&ev->base)) {
		pb_block_free(ev);
		submission_fail(s, CUSTODY__ERROR_CODE__BAD_REQUEST, "body is not a valid Event");
		return;
	}
	if (validate_event(ev, codec_now_ms(), max_skew_ms, s->err, sizeof(s->err)) != CU_OK) {
		pb_block_free(ev);
		s->failed = true;
		s->code = CUSTODY__ERROR_CODE__BAD_REQUEST;
		return;
	}
	s->body_msg = ev;
}

/* Worker: unpacks and validates the AdminAction of s into s->body_msg. */
static void decode_admin(struct submission *s)
{
	Custody__AdminAction *act =
	    custody__admin_action__unpack(NULL, s->env.body.len, s->env.body.data);

	if (act == NULL || !pb_fields_valid(&act->base)) {
		if (act != NULL)
			custody__admin_action__free_unpacked(act, NULL);
		submission_fail(s, CUSTODY__ERROR_CODE__BAD_REQUEST,
				"body is not a valid AdminAction");
		return;
	}
	if (validate_admin(act, codec_now_ms(), max_skew_ms, s->err, sizeof(s->err)) != CU_OK) {
		custody__admin_action__free_unpacked(act, NULL);
		s->failed = true;
		s->code = CUSTODY__ERROR_CODE__BAD_REQUEST;
		return;
	}
	s->body_msg = act;
}

/* Worker: the signature, the body, the id. */
static void submission_work(struct verify_task *task)
{
	struct submission *s = (struct submission *)task;
	int rc = envelope_verify(s->kind, &s->env);

	if (rc == CU_ERR_SIGNATURE) {
		submission_fail(s, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
				"signature does not verify for the signer key over \"%s\" || body",
				s->kind == ENVELOPE_EVENT ? "custody/event/v1\\n"
							  : "custody/admin/v1\\n");
		return;
	}
	if (rc != CU_OK) {
		submission_fail(s, CUSTODY__ERROR_CODE__INTERNAL, "cannot verify: %s",
				cu_strerror(rc));
		return;
	}
	if (s->kind == ENVELOPE_EVENT)
		decode_event(s);
	else
		decode_admin(s);
	if (!s->failed)
		envelope_id(s->env.body.data, s->env.body.len, s->id);
}

/* Frees the unpacked body of s, if it still owns one. */
static void free_body(struct submission *s)
{
	if (s->body_msg == NULL)
		return;
	if (s->kind == ENVELOPE_EVENT)
		pb_block_free(s->body_msg);
	else
		custody__admin_action__free_unpacked(s->body_msg, NULL);
	s->body_msg = NULL;
}

/*
 * Loop, in arrival order: answers a refused submission or hands it to the
 * sequencer (which takes req and the body), then frees s.
 */
static void submission_done(struct verify_task *task, bool cancelled)
{
	struct submission *s = (struct submission *)task;

	req_verify_end(s->req);
	if (cancelled) {
		free_body(s);
		req_fail(s->req, CUSTODY__ERROR_CODE__UNAVAILABLE, "server shutting down");
	} else if (s->failed) {
		req_fail(s->req, s->code, "%s", s->err);
	} else if (s->kind == ENVELOPE_EVENT) {
		sequencer_submit_event(s->req, &s->env, s->body_msg, s->id);
	} else {
		sequencer_submit_admin(s->req, &s->env, s->body_msg, s->id);
	}
	free(s);
}

/* A submission for req with copies of env's bytes (owned); NULL when out of memory. */
static struct submission *submission_new(struct req *req, const Custody__SignedEnvelope *env,
					 enum envelope_kind kind)
{
	struct submission *s = calloc(1, sizeof(*s) + env->body.len + 32 + 64);
	uint8_t *p;

	if (s == NULL)
		return NULL;
	s->task.work = submission_work;
	s->task.done = submission_done;
	s->req = req;
	s->kind = kind;
	s->env = (Custody__SignedEnvelope)CUSTODY__SIGNED_ENVELOPE__INIT;
	p = s->bytes;
	memcpy(p, env->body.data, env->body.len);
	s->env.body.data = p;
	s->env.body.len = env->body.len;
	p += env->body.len;
	memcpy(p, env->signer.data, 32);
	s->env.signer.data = p;
	s->env.signer.len = 32;
	memcpy(p + 32, env->sig.data, 64);
	s->env.sig.data = p + 32;
	s->env.sig.len = 64;
	return s;
}

/* Checks env's shape and queues it for the pool; answers req on failure. */
static void submit(struct req *req, const Custody__SignedEnvelope *env, enum envelope_kind kind)
{
	struct submission *s;

	if (env->body.len == 0 || env->signer.len != 32 || env->sig.len != 64) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "envelope needs a body, a 32-byte signer key and a 64-byte signature");
		return;
	}
	assert(pool != NULL); /* started before the listeners */
	if (!req_hold(req, env->body.len)) {
		req_fail(req, CUSTODY__ERROR_CODE__UNAVAILABLE,
			 "server busy: %zu bytes of submissions held (max_held_bytes); retry later",
			 conn_held_bytes());
		return;
	}
	s = submission_new(req, env, kind);
	if (s == NULL) {
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return;
	}
	if (verify_pool_submit(pool, &s->task) != CU_OK) {
		free(s);
		req_fail(req, CUSTODY__ERROR_CODE__UNAVAILABLE,
			 "server busy: too many signature checks queued; retry later");
		return;
	}
	req_verify_begin(req);
}

void h_submit(struct req *req, const Custody__Request *msg)
{
	submit(req, msg->submit, ENVELOPE_EVENT);
}

void h_admin(struct req *req, const Custody__Request *msg)
{
	submit(req, msg->admin, ENVELOPE_ADMIN);
}

/* The pool's eventfd is readable: take back what is finished, in order. */
static void on_pool_ready(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	verify_pool_release(pool);
}

int h_submit_start(struct event_base *base, int threads, int queue_max)
{
	int rc = verify_pool_new(threads, (size_t)queue_max, &pool);

	if (rc != CU_OK) {
		log_error("cannot start the verify pool: %s", cu_strerror(rc));
		return rc;
	}
	pool_ready =
	    event_new(base, verify_pool_fd(pool), EV_READ | EV_PERSIST, on_pool_ready, NULL);
	if (pool_ready == NULL || event_add(pool_ready, NULL) != 0) {
		log_error("cannot watch the verify pool");
		h_submit_stop();
		return CU_ERR_NOMEM;
	}
	log_info("verify pool: %d threads, at most %d submissions queued",
		 verify_pool_threads(pool), queue_max);
	return CU_OK;
}

void h_submit_queue(size_t *queued, int *threads)
{
	*queued = pool != NULL ? verify_pool_pending(pool) : 0;
	*threads = pool != NULL ? verify_pool_threads(pool) : 0;
}

void h_submit_stop(void)
{
	if (pool_ready != NULL)
		event_free(pool_ready);
	pool_ready = NULL;
	verify_pool_free(pool); /* answers what it still holds */
	pool = NULL;
}
