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
 * Transport: a Unix connection reads and writes frames on its socket
 * buffers. A TCP connection first runs the Noise handshake (tunnel.h) and
 * is admitted by the key it proved (peer.h); its frames then live in
 * plaintext buffers of its own (in, out) that the tunnel fills from and
 * seals into the socket buffers. A handshake must finish within
 * handshake_timeout_ms; at most max_handshakes run at once, and a new one
 * past that evicts the oldest, so a flood of silent sockets cannot lock
 * out a real client. A connection with nothing in flight and no watch that
 * sends no whole request for idle_timeout_ms is closed.
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
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "channel.h"
#include "dispatch.h"
#include "frame.h"
#include "key.h"
#include "log.h"
#include "metrics.h"
#include "peer.h"
#include "tunnel.h"

/* Sealed bytes queued on a TCP socket before the rest waits as plaintext. */
#define CONN_SEALED_QUEUE_BYTES (256u << 10)
/* How long a refused client has to read why before its socket closes. */
#define REFUSED_LINGER_MS 1000

struct conn {
	struct conn *prev, *next;	/* all open connections */
	struct conn *hs_prev, *hs_next; /* in a handshake queue, oldest first */
	bool in_hs_queue;
	int hs_queue;		 /* which: HS_SILENT or HS_ANSWERED */
	struct bufferevent *bev; /* NULL once the socket is closed */
	struct event *kick;	 /* deferred input processing */
	struct event *flush;	 /* deferred sealing of the responses written (TCP) */
	struct event *timer;	 /* handshake and idle timeouts */
	uint64_t serial;	 /* connection number, for logs */
	char peer[64];
	struct principal principal;
	struct tunnel *tunnel;	   /* TCP only */
	struct evbuffer *in, *out; /* plaintext frames (the socket's own on Unix) */
	int64_t active_ms;	   /* last whole request (monotonic) */
	int inflight;
	int verifying; /* requests of it in the verify pool */
	bool closing;  /* take no more requests; close once answered and flushed */
	bool broken;   /* the stream cannot be trusted: close without flushing */
	bool refused;  /* told why it may not connect: discard input until it leaves */
	bool eof;      /* the client finished sending; answer what is buffered */
	bool reading;  /* EV_READ currently enabled on the socket */
	bool tcp;      /* came over TCP (counted in open_tcp while open) */
	const struct conn_observer *observer;
	void *observer_arg;
};

struct req {
	struct conn *conn;
	uint64_t id;
	int type;    /* the Request's body field number, for metrics; 0 unknown */
	size_t held; /* bytes counted in held_bytes (req_hold) */
};

static struct conn_limits limits = {
    FRAME_DEFAULT_MAX_BYTES, 128, 4u << 20, 10000, 300000, 128, 16, 256u << 20};
static size_t held_bytes; /* over every request, see req_hold */
static const struct cu_key *server_key;
static struct conn *all_conns;
static size_t open_count, open_tcp, handshaking; /* handshaking: the length of the queue */
/*
 * TCP connections in their handshake, oldest first, so that evicting the
 * oldest at max_handshakes is O(1): under a flood of slow handshakes every
 * new connection evicts one, and a walk over all connections each time
 * would cost the loop O(connections) per accept. Two queues: HS_SILENT
 * holds those whose first message is not complete yet (what a slowloris
 * flood looks like), HS_ANSWERED those custodyd has answered. Eviction
 * takes the oldest silent one first, so a flood of dribbling sockets
 * cannot push out a real client that sent its first message whole.
 */
enum { HS_SILENT, HS_ANSWERED, HS_QUEUES };
static struct hs_queue {
	struct conn *head, *tail;
} hs_queues[HS_QUEUES];
static uint64_t next_serial = 1;

void conn_set_limits(const struct conn_limits *l)
{
	limits = *l;
}

void conn_set_server_key(const struct cu_key *key)
{
	server_key = key;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void arm_timer(struct conn *conn, int64_t ms)
{
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(conn->timer, &tv);
}

static bool is_handshaking(const struct conn *conn)
{
	return conn->tunnel != NULL && !tunnel_ready(conn->tunnel);
}

/* Appends conn (the newest) to handshake queue which. */
static void hs_queue_add(struct conn *conn, int which)
{
	struct hs_queue *q = &hs_queues[which];

	conn->hs_next = NULL;
	conn->hs_prev = q->tail;
	if (q->tail != NULL)
		q->tail->hs_next = conn;
	else
		q->head = conn;
	q->tail = conn;
	conn->in_hs_queue = true;
	conn->hs_queue = which;
	handshaking++;
}

/*
 * Takes conn out of the handshake queue, if it is in it: its handshake
 * ended, or it closed (a stream that broke in the very message that
 * finished the handshake is closed without being admitted).
 */
static void hs_queue_remove(struct conn *conn)
{
	struct hs_queue *q;

	if (!conn->in_hs_queue)
		return;
	q = &hs_queues[conn->hs_queue];
	conn->in_hs_queue = false;
	if (conn->hs_prev != NULL)
		conn->hs_prev->hs_next = conn->hs_next;
	else
		q->head = conn->hs_next;
	if (conn->hs_next != NULL)
		conn->hs_next->hs_prev = conn->hs_prev;
	else
		q->tail = conn->hs_prev;
	conn->hs_prev = conn->hs_next = NULL;
	handshaking--;
}

size_t conn_count(void)
{
	return open_count;
}

size_t conn_count_tcp(void)
{
	return open_tcp;
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
	if (conn->flush != NULL)
		event_free(conn->flush);
	if (conn->timer != NULL)
		event_free(conn->timer);
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
		hs_queue_remove(conn);
		if (conn->tcp)
			open_tcp--;
		if (conn->tunnel != NULL) {
			evbuffer_free(conn->in);
			evbuffer_free(conn->out);
			tunnel_free(conn->tunnel);
			conn->tunnel = NULL;
		}
		conn->in = conn->out = NULL;
		bufferevent_free(conn->bev);
		conn->bev = NULL;
		evtimer_del(conn->timer);
		open_count--;
		peer_release(&conn->principal);
		conn->principal.kind = PRINCIPAL_NONE;
		notify_closed(conn);
	}
	if (conn->inflight == 0)
		conn_free(conn);
}

/* Unsent bytes: plaintext waiting, and (TCP) sealed bytes on the socket. */
static size_t output_len(const struct conn *conn)
{
	size_t n = evbuffer_get_length(conn->out);

	if (conn->tunnel != NULL)
		n += evbuffer_get_length(bufferevent_get_output(conn->bev));
	return n;
}

/* Seals what waits in out onto the socket (TCP); a failure breaks the stream. */
static void conn_flush(struct conn *conn)
{
	int rc;

	if (conn->tunnel == NULL || conn->broken)
		return;
	rc = tunnel_push(conn->tunnel, conn->out, bufferevent_get_output(conn->bev),
			 CONN_SEALED_QUEUE_BYTES);
	if (rc != CU_OK) {
		log_warn("connection %llu (%s): cannot seal output: %s, closing",
			 (unsigned long long)conn->serial, conn->peer, cu_strerror(rc));
		conn->broken = true;
	}
}

/* May the connection take another request now? */
static bool may_take(const struct conn *conn)
{
	return !conn->closing && conn->inflight < limits.max_inflight &&
	       conn->verifying < limits.max_verifying && output_len(conn) < limits.max_output_bytes;
}

/* Is a whole frame (or a header we will refuse) waiting in the input? */
static bool frame_waiting(const struct conn *conn)
{
	struct evbuffer *in = conn->in;
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
	if (conn->broken) {
		conn_close(conn);
		return false;
	}
	if (conn->refused)
		return true; /* closed by the client, or by the timer */
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
	struct evbuffer *out = conn->out;
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
	/*
	 * Sealed once the callback writing it returns, with every other
	 * response written meanwhile: the answers to a batch are one Noise
	 * message per connection, not one per response (on_flush).
	 */
	if (conn->tunnel != NULL)
		event_active(conn->flush, EV_TIMEOUT, 0);
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

/* A TCP client finished its handshake: admit the key it proved, or refuse it. */
static void conn_admit(struct conn *conn)
{
	const uint8_t *pk = tunnel_peer_key(conn->tunnel);
	Custody__ErrorCode code = CUSTODY__ERROR_CODE__UNAUTHENTICATED;
	char why[160], text[KEY_PUB_TEXT_MAX];

	hs_queue_remove(conn);
	key_pub_format(pk, text);
	if (peer_admit(pk, &conn->principal, &code, why, sizeof(why)) != CU_OK) {
		log_warn("connection %llu (%s): refused key %s: %s",
			 (unsigned long long)conn->serial, conn->peer, text, why);
		conn_send_error(conn, code, why, 1);
		return;
	}
	log_info("connection %llu (%s): key %s", (unsigned long long)conn->serial, conn->peer,
		 text);
	conn->active_ms = mono_ms();
	arm_timer(conn, limits.idle_timeout_ms);
}

/*
 * TCP: moves whole wire messages from the socket into the plaintext input
 * (running the handshake first). A broken stream is closed at once: false
 * then, and conn may be gone.
 */
static bool conn_pull(struct conn *conn)
{
	bool was_ready;
	size_t out_before;
	int rc;

	if (conn->bev == NULL)
		return false;
	if (conn->tunnel == NULL)
		return true;
	was_ready = tunnel_ready(conn->tunnel);
	out_before = evbuffer_get_length(bufferevent_get_output(conn->bev));
	rc = tunnel_pull(conn->tunnel, bufferevent_get_input(conn->bev),
			 bufferevent_get_output(conn->bev), conn->in,
			 FRAME_HEADER_BYTES + (size_t)limits.max_frame_bytes);
	if (rc != CU_OK) {
		log_warn("connection %llu (%s): %s in the %s, closing",
			 (unsigned long long)conn->serial, conn->peer,
			 rc == CU_ERR_CRYPTO	  ? "a message that does not decrypt"
			 : rc == CU_ERR_SIGNATURE ? "an identity that does not match its key"
			 : rc == CU_ERR_LIMIT	  ? "nonce exhaustion"
						  : "a malformed message",
			 was_ready ? "channel" : "handshake");
		conn->broken = true;
		conn_close(conn);
		return false;
	}
	if (!was_ready && tunnel_ready(conn->tunnel)) {
		conn_admit(conn);
	} else if (conn->in_hs_queue && conn->hs_queue == HS_SILENT &&
		   evbuffer_get_length(bufferevent_get_output(conn->bev)) > out_before) {
		/* Its first message was whole: custodyd answered it. */
		hs_queue_remove(conn);
		hs_queue_add(conn, HS_ANSWERED);
	}
	return true;
}

/*
 * Takes complete frames off the input while the connection may read.
 * Returns false if the connection was freed.
 */
static bool conn_process_input(struct conn *conn)
{
	uint8_t hdr[FRAME_HEADER_BYTES];
	uint32_t body_len = 0;
	uint8_t *body;
	int rc;

	for (;;) {
		if (!conn_pull(conn))
			return false;
		if (!may_take(conn) ||
		    evbuffer_copyout(conn->in, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
			break;
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
		if (evbuffer_get_length(conn->in) < FRAME_HEADER_BYTES + (size_t)body_len)
			break;
		body = evbuffer_pullup(conn->in, FRAME_HEADER_BYTES + (ssize_t)body_len);
		if (body == NULL) {
			conn_send_error(conn, CUSTODY__ERROR_CODE__INTERNAL, "out of memory", 1);
			break;
		}
		conn->active_ms = mono_ms();
		dispatch_frame(conn, body + FRAME_HEADER_BYTES, body_len);
		evbuffer_drain(conn->in, FRAME_HEADER_BYTES + (size_t)body_len);
	}
	return conn_update(conn);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *conn = arg;

	if (conn->refused) {
		evbuffer_drain(bufferevent_get_input(bev),
			       evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	conn_process_input(conn);
}

/* The responses written since the last flush go out sealed together. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct conn *conn = arg;

	(void)fd;
	(void)what;
	if (conn->bev == NULL)
		return;
	conn_flush(conn);
	conn_update(conn);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct conn *conn = arg;

	(void)fd;
	(void)what;
	if (conn->bev != NULL)
		conn_process_input(conn);
}

/* Handshake deadline, or the idle check: closes a connection past either. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *conn = arg;
	int64_t idle_ms;

	(void)fd;
	(void)what;
	if (conn->bev == NULL)
		return;
	if (conn->refused) {
		conn_close(conn);
		return;
	}
	if (is_handshaking(conn)) {
		log_info("connection %llu (%s): no handshake within %d ms, closing",
			 (unsigned long long)conn->serial, conn->peer, limits.handshake_timeout_ms);
		conn_close(conn);
		return;
	}
	idle_ms = mono_ms() - conn->active_ms;
	if (conn->observer != NULL || conn->inflight > 0 || idle_ms < limits.idle_timeout_ms) {
		arm_timer(conn, idle_ms < limits.idle_timeout_ms ? limits.idle_timeout_ms - idle_ms
								 : limits.idle_timeout_ms);
		return;
	}
	log_info("connection %llu (%s): idle for %d ms, closing", (unsigned long long)conn->serial,
		 conn->peer, limits.idle_timeout_ms);
	conn_close(conn);
}

/* Runs when the socket's output buffer has drained (low watermark 0). */
static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *conn = arg;

	(void)bev;
	conn_flush(conn);
	if (!conn_update(conn) || conn->bev == NULL)
		return;
	if (conn->observer != NULL && conn->observer->drained != NULL && output_len(conn) == 0)
		conn->observer->drained(conn->observer_arg);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *conn = arg;

	(void)bev;
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) && !is_handshaking(conn) &&
	    !conn->refused) {
		/* The client finished sending; answer what it asked, then close. */
		conn->eof = true;
		conn_process_input(conn);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
		conn_close(conn);
}

/*
 * Past max_handshakes: the oldest connection still in its handshake goes,
 * the oldest silent one if there is one.
 */
static void evict_oldest_handshake(void)
{
	struct conn *oldest = hs_queues[HS_SILENT].head;

	if (oldest == NULL)
		oldest = hs_queues[HS_ANSWERED].head;
	if (oldest == NULL)
		return;
	log_debug("connection %llu (%s): max_handshakes (%d) reached, evicting it",
		  (unsigned long long)oldest->serial, oldest->peer, limits.max_handshakes);
	conn_close(oldest);
}

/* The TCP half of conn_new: the tunnel and its own plaintext buffers. */
static int conn_secure(struct conn *conn)
{
	if (server_key == NULL || tunnel_new(server_key, &conn->tunnel) != CU_OK)
		return CU_ERR_NOMEM;
	conn->in = evbuffer_new();
	conn->out = evbuffer_new();
	if (conn->in == NULL || conn->out == NULL) {
		if (conn->in != NULL)
			evbuffer_free(conn->in);
		if (conn->out != NULL)
			evbuffer_free(conn->out);
		tunnel_free(conn->tunnel);
		return CU_ERR_NOMEM;
	}
	if (handshaking >= (size_t)limits.max_handshakes)
		evict_oldest_handshake();
	hs_queue_add(conn, HS_SILENT);
	return CU_OK;
}

static struct conn *conn_alloc(struct event_base *base, evutil_socket_t fd)
{
	struct conn *conn = calloc(1, sizeof(*conn));

	if (conn == NULL) {
		evutil_closesocket(fd);
		return NULL;
	}
	conn->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	conn->kick = event_new(base, -1, 0, on_kick, conn);
	conn->flush = event_new(base, -1, 0, on_flush, conn);
	conn->timer = evtimer_new(base, on_timer, conn);
	if (conn->bev == NULL || conn->kick == NULL || conn->flush == NULL || conn->timer == NULL) {
		if (conn->bev != NULL)
			bufferevent_free(conn->bev);
		else
			evutil_closesocket(fd);
		if (conn->kick != NULL)
			event_free(conn->kick);
		if (conn->flush != NULL)
			event_free(conn->flush);
		if (conn->timer != NULL)
			event_free(conn->timer);
		free(conn);
		return NULL;
	}
	return conn;
}

int conn_new(struct event_base *base, evutil_socket_t fd, const struct conn_origin *origin)
{
	struct conn *conn;

	if (origin->tcp && origin->reject_reason != NULL) {
		/* No channel to say it in: the client sees the close. */
		evutil_closesocket(fd);
		return CU_OK;
	}
	conn = conn_alloc(base, fd);
	if (conn == NULL)
		return CU_ERR_NOMEM;
	if (origin->tcp && conn_secure(conn) != CU_OK) {
		bufferevent_free(conn->bev);
		event_free(conn->kick);
		event_free(conn->timer);
		free(conn);
		return CU_ERR_NOMEM;
	}
	if (!origin->tcp) {
		conn->in = bufferevent_get_input(conn->bev);
		conn->out = bufferevent_get_output(conn->bev);
		conn->principal.kind = PRINCIPAL_LOCAL;
	}
	conn->serial = next_serial++;
	conn->active_ms = mono_ms();
	snprintf(conn->peer, sizeof(conn->peer), "%s", origin->peer);
	conn->next = all_conns;
	if (all_conns != NULL)
		all_conns->prev = conn;
	all_conns = conn;
	open_count++;
	conn->tcp = origin->tcp;
	open_tcp += origin->tcp;
	bufferevent_setcb(conn->bev, on_read, on_write, on_event, conn);
	log_debug("connection %llu from %s", (unsigned long long)conn->serial, origin->peer);
	if (origin->reject_reason != NULL) {
		/*
		 * Lingering close: the error goes out, what the client sends
		 * meanwhile is read and dropped, and the socket closes when the
		 * client leaves or after a second. Closing at once would destroy
		 * the error in flight when the client's request arrives (a reset).
		 */
		conn_send_error(conn, origin->reject_code, origin->reject_reason, 1);
		conn->refused = true;
		bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
		arm_timer(conn, REFUSED_LINGER_MS);
		return CU_OK;
	}
	conn->reading = true;
	/* Never buffer more than one whole frame (or two wire messages) ahead. */
	bufferevent_setwatermark(conn->bev, EV_READ, 0,
				 origin->tcp ? 2 * (size_t)CHANNEL_MAX_WIRE_BYTES
					     : FRAME_HEADER_BYTES + (size_t)limits.max_frame_bytes);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	arm_timer(conn, origin->tcp ? limits.handshake_timeout_ms : limits.idle_timeout_ms);
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
	req->type = 0;
	req->held = 0;
	conn->inflight++;
	return req;
}

bool req_hold(struct req *req, size_t bytes)
{
	if (held_bytes > 0 &&
	    (bytes > limits.max_held_bytes || held_bytes > limits.max_held_bytes - bytes))
		return false;
	held_bytes += bytes;
	req->held += bytes;
	return true;
}

size_t conn_held_bytes(void)
{
	return held_bytes;
}

void req_set_type(struct req *req, int body_case)
{
	req->type = body_case;
}

void req_verify_begin(struct req *req)
{
	req->conn->verifying++;
}

void req_verify_end(struct req *req)
{
	struct conn *conn = req->conn;

	conn->verifying--;
	/* Reading may resume; the request keeps conn alive (inflight > 0). */
	if (conn->bev != NULL)
		conn_update(conn);
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
	metrics_request(req->type,
			resp->body_case == CUSTODY__RESPONSE__BODY_ERROR && resp->error != NULL
			    ? (int)resp->error->code
			    : 0);
	if (conn->bev != NULL)
		conn_send(conn, resp);
	conn->inflight--;
	held_bytes -= req->held;
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
