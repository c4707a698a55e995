/*
 * conn.c - client connections (see conn.h).
 *
 * Reading: the read callback takes whole frames off the input buffer while
 * the connection may take more requests; a frame of bad size is answered
 * with BAD_REQUEST and ends the connection, since the stream can no longer
 * be trusted to be in step. When reading resumes after backpressure, frames
 * already buffered are processed from a deferred event ("kick"), never from
 * inside a reply, so replies cannot recurse into request processing.
 *
 * Lifetime: a connection is freed when its socket is closed and no request
 * is in flight. Requests in flight hold the struct, not the socket. An
 * observer (an alert watch) holds neither: it is told when the socket
 * closes and lets go of the connection then.
 */
#include "conn.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "dispatch.h"
#include "frame.h"
#include "log.h"

struct conn {
	struct conn *prev, *next; /* all open connections */
	struct bufferevent *bev;  /* NULL once the socket is closed */
	struct event *kick;	  /* deferred input processing */
	uint64_t serial;	  /* connection number, for logs */
	char peer[64];
	struct principal principal;
	int inflight;
	bool closing; /* take no more requests; close once answered and flushed */
	bool eof;     /* the client finished sending; answer what is buffered */
	bool reading; /* EV_READ currently enabled on the socket */
	const struct conn_observer *observer;
	void *observer_arg;
};

struct req {
	struct conn *conn;
	uint64_t id;
};

static struct conn_limits limits = {FRAME_DEFAULT_MAX_BYTES, 128, 4u << 20};
static struct conn *all_conns;
static size_t open_count;
static uint64_t next_serial = 1;

void conn_set_limits(const struct conn_limits *l)
{
	limits = *l;
}

size_t conn_count(void)
{
	return open_count;
}

static void conn_free(struct conn *conn)
{
	if (conn->prev != NULL)
		conn->prev->next = conn->next;
	else
		all_conns = conn->next;
	if (conn->next != NULL)
		conn->next->prev = conn->prev;
	if (conn->kick != NULL)
		event_free(conn->kick);
	free(conn);
}

/* Tells the observer, if any, that the socket is gone, and forgets it. */
static void notify_closed(struct conn *conn)
{
	const struct conn_observer *obs = conn->observer;

	conn->observer = NULL;
	if (obs != NULL && obs->closed != NULL)
		obs->closed(conn->observer_arg);
}

/* Closes the socket; frees the connection if nothing is in flight. */
static void conn_close(struct conn *conn)
{
	if (conn->bev != NULL) {
		log_debug("connection %llu (%s) closed", (unsigned long long)conn->serial,
			  conn->peer);
		bufferevent_free(conn->bev);
		conn->bev = NULL;
		open_count--;
		notify_closed(conn);
	}
	if (conn->inflight == 0)
		conn_free(conn);
}

static size_t output_len(const struct conn *conn)
{
	return evbuffer_get_length(bufferevent_get_output(conn->bev));
}

/* May the connection take another request now? */
static bool may_take(const struct conn *conn)
{
	return !conn->closing && conn->inflight < limits.max_inflight &&
	       output_len(conn) < limits.max_output_bytes;
}

/* Is a whole frame (or a header we will refuse) waiting in the input? */
static bool frame_waiting(const struct conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	uint8_t hdr[FRAME_HEADER_BYTES];
	uint32_t body_len = 0;

	if (evbuffer_copyout(in, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		return false;
	if (frame_decode_header(hdr, limits.max_frame_bytes, &body_len) != CU_OK)
		return true;
	return evbuffer_get_length(in) >= FRAME_HEADER_BYTES + (size_t)body_len;
}

/*
 * Decides whether to read from the socket and whether buffered frames need
 * processing, and closes a connection that is done: closing (or at EOF
 * with no whole frame left), nothing in flight, everything sent. Returns
 * false if the connection was freed.
 */
static bool conn_update(struct conn *conn)
{
	bool take, want_read;

	if (conn->bev == NULL)
		return true;
	take = may_take(conn);
	if ((conn->closing || (conn->eof && !frame_waiting(conn))) && conn->inflight == 0 &&
	    output_len(conn) == 0) {
		conn_close(conn);
		return false;
	}
	want_read = take && !conn->eof;
	if (want_read != conn->reading) {
		if (want_read)
			bufferevent_enable(conn->bev, EV_READ);
		else
			bufferevent_disable(conn->bev, EV_READ);
		conn->reading = want_read;
	}
	if (take && frame_waiting(conn))
		event_active(conn->kick, EV_TIMEOUT, 0);
	return true;
}

/* Appends a framed response to the output buffer. */
static void conn_write(struct conn *conn, const Custody__Response *resp)
{
	struct evbuffer *out = bufferevent_get_output(conn->bev);
	size_t n = protobuf_c_message_get_packed_size(&resp->base);
	uint8_t hdr[FRAME_HEADER_BYTES];
	struct evbuffer_iovec v;

	frame_encode_header(hdr, (uint32_t)n);
	if (evbuffer_add(out, hdr, sizeof(hdr)) != 0 || evbuffer_reserve_space(out, n, &v, 1) < 1) {
		log_error("connection %llu: out of memory writing a response",
			  (unsigned long long)conn->serial);
		conn->closing = true;
		return;
	}
	protobuf_c_message_pack(&resp->base, v.iov_base);
	v.iov_len = n;
	evbuffer_commit_space(out, &v, 1);
}

/* Writes resp, or an INTERNAL error in its place if it is too large. */
static void conn_send(struct conn *conn, Custody__Response *resp)
{
	Custody__Error err = CUSTODY__ERROR__INIT;
	Custody__Response small = CUSTODY__RESPONSE__INIT;

	if (protobuf_c_message_get_packed_size(&resp->base) > CONN_MAX_RESPONSE_BYTES) {
		log_error("connection %llu: response to request %llu too large",
			  (unsigned long long)conn->serial, (unsigned long long)resp->id);
		err.code = CUSTODY__ERROR_CODE__INTERNAL;
		err.message = "response too large: ask for a smaller page";
		small.id = resp->id;
		small.body_case = CUSTODY__RESPONSE__BODY_ERROR;
		small.error = &err;
		resp = &small;
	}
	conn_write(conn, resp);
}

void conn_send_error(struct conn *conn, Custody__ErrorCode code, const char *message,
		     int close_after)
{
	Custody__Error err = CUSTODY__ERROR__INIT;
	Custody__Response resp = CUSTODY__RESPONSE__INIT;

	if (conn->bev == NULL)
		return;
	err.code = code;
	err.message = (char *)message;
	resp.body_case = CUSTODY__RESPONSE__BODY_ERROR;
	resp.error = &err;
	conn_write(conn, &resp);
	if (close_after)
		conn->closing = true;
}

/*
 * Takes complete frames off the input while the connection may read.
 * Returns false if the connection was freed.
 */
static bool conn_process_input(struct conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	uint8_t hdr[FRAME_HEADER_BYTES];
	uint32_t body_len = 0;
	uint8_t *body;
	int rc;

	while (conn->bev != NULL && may_take(conn) &&
	       evbuffer_copyout(in, hdr, sizeof(hdr)) == (ssize_t)sizeof(hdr)) {
		rc = frame_decode_header(hdr, limits.max_frame_bytes, &body_len);
		if (rc != CU_OK) {
			log_info("connection %llu (%s): %s frame, closing",
				 (unsigned long long)conn->serial, conn->peer,
				 rc == CU_ERR_TOO_BIG ? "oversized" : "empty");
			conn_send_error(conn, CUSTODY__ERROR_CODE__BAD_REQUEST,
					rc == CU_ERR_TOO_BIG ? "frame larger than max_frame_bytes"
							     : "empty frame (length 0)",
					1);
			break;
		}
		if (evbuffer_get_length(in) < FRAME_HEADER_BYTES + (size_t)body_len)
			break;
		body = evbuffer_pullup(in, FRAME_HEADER_BYTES + (ssize_t)body_len);
		if (body == NULL) {
			conn_send_error(conn, CUSTODY__ERROR_CODE__INTERNAL, "out of memory", 1);
			break;
		}
		dispatch_frame(conn, body + FRAME_HEADER_BYTES, body_len);
		evbuffer_drain(in, FRAME_HEADER_BYTES + (size_t)body_len);
	}
	return conn_update(conn);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process_input(arg);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct conn *conn = arg;

	(void)fd;
	(void)what;
	if (conn->bev != NULL)
		conn_process_input(conn);
}

/* Runs when the output buffer has drained (low watermark 0). */
static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *conn = arg;

	(void)bev;
	if (!conn_update(conn) || conn->bev == NULL)
		return;
	if (conn->observer != NULL && conn->observer->drained != NULL && output_len(conn) == 0)
		conn->observer->drained(conn->observer_arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *conn = arg;

	(void)bev;
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING)) {
		/* The client finished sending; answer what it asked, then close. */
		conn->eof = true;
		conn_process_input(conn);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
		conn_close(conn);
}

int conn_new(struct event_base *base, evutil_socket_t fd, const char *peer,
	     const char *reject_reason)
{
	struct conn *conn = calloc(1, sizeof(*conn));

	if (conn == NULL) {
		evutil_closesocket(fd);
		return CU_ERR_NOMEM;
	}
	conn->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	conn->kick = event_new(base, -1, 0, on_kick, conn);
	if (conn->bev == NULL || conn->kick == NULL) {
		if (conn->bev != NULL)
			bufferevent_free(conn->bev);
		else
			evutil_closesocket(fd);
		if (conn->kick != NULL)
			event_free(conn->kick);
		free(conn);
		return CU_ERR_NOMEM;
	}
	conn->serial = next_serial++;
	conn->principal.kind = PRINCIPAL_LOCAL;
	snprintf(conn->peer, sizeof(conn->peer), "%s", peer);
	conn->next = all_conns;
	if (all_conns != NULL)
		all_conns->prev = conn;
	all_conns = conn;
	open_count++;
	bufferevent_setcb(conn->bev, on_read, on_write, on_event, conn);
	log_debug("connection %llu from %s", (unsigned long long)conn->serial, peer);
	if (reject_reason != NULL) {
		conn_send_error(conn, CUSTODY__ERROR_CODE__UNAVAILABLE, reject_reason, 1);
		bufferevent_enable(conn->bev, EV_WRITE);
		return CU_OK;
	}
	conn->reading = true;
	/* Never buffer more than one whole frame ahead of processing. */
	bufferevent_setwatermark(conn->bev, EV_READ, 0,
				 FRAME_HEADER_BYTES + (size_t)limits.max_frame_bytes);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	return CU_OK;
}

void conn_drain_all(void)
{
	struct conn *conn, *next;

	for (conn = all_conns; conn != NULL; conn = next) {
		next = conn->next;
		conn->closing = true;
		conn_update(conn);
	}
}

void conn_close_all(void)
{
	while (all_conns != NULL) {
		struct conn *conn = all_conns;

		if (conn->bev != NULL)
			conn_close(conn);
		if (all_conns == conn) /* requests still in flight: free anyway */
			conn_free(conn);
	}
}

struct req *req_new(struct conn *conn, uint64_t id)
{
	struct req *req = malloc(sizeof(*req));

	if (req == NULL)
		return NULL;
	req->conn = conn;
	req->id = id;
	conn->inflight++;
	return req;
}

uint64_t req_id(const struct req *req)
{
	return req->id;
}

const char *req_peer(const struct req *req)
{
	return req->conn->peer;
}

void req_reply(struct req *req, Custody__Response *resp)
{
	struct conn *conn = req->conn;

	resp->id = req->id;
	if (conn->bev != NULL)
		conn_send(conn, resp);
	conn->inflight--;
	free(req);
	if (conn->bev == NULL) {
		if (conn->inflight == 0)
			conn_free(conn);
		return;
	}
	conn_update(conn);
}

void req_fail(struct req *req, Custody__ErrorCode code, const char *fmt, ...)
{
	Custody__Error err = CUSTODY__ERROR__INIT;
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	err.code = code;
	err.message = message;
	resp.body_case = CUSTODY__RESPONSE__BODY_ERROR;
	resp.error = &err;
	req_reply(req, &resp);
}

const struct principal *req_principal(const struct req *req)
{
	return &req->conn->principal;
}

struct conn *req_conn(const struct req *req)
{
	return req->conn;
}

int conn_push(struct conn *conn, Custody__Response *resp)
{
	if (conn->bev == NULL || conn->closing)
		return CU_ERR_IO;
	if (output_len(conn) >= limits.max_output_bytes)
		return CU_ERR_TOO_BIG;
	resp->id = 0;
	conn_send(conn, resp);
	/*
	 * Reading stops by itself once the output is over the limit (may_take).
	 * A failed write marks the connection closing; close it from the loop,
	 * never from inside the caller's iteration over its observers.
	 */
	if (conn->closing)
		event_active(conn->kick, EV_TIMEOUT, 0);
	return CU_OK;
}

int conn_observe(struct conn *conn, const struct conn_observer *obs, void *arg)
{
	if (conn->observer != NULL)
		return CU_ERR_EXISTS;
	conn->observer = obs;
	conn->observer_arg = arg;
	return CU_OK;
}

void conn_unobserve(struct conn *conn)
{
	conn->observer = NULL;
	conn->observer_arg = NULL;
}
