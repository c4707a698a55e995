/*
 * conn.h - client connections and the requests in flight on them.
 *
 * A connection reads frames (frame.h decides their size before anything is
 * buffered beyond it), hands each to the dispatcher, and writes responses
 * in whatever order handlers finish. A request handle (struct req) is what
 * a handler owns until it answers; the connection lives until its socket
 * is gone and every request on it has been answered, so a handler may
 * answer after the client left (the answer is then dropped).
 *
 * Backpressure: a connection stops reading while it has
 * max_inflight_per_connection requests in flight or more than
 * max_output_bytes_per_connection unsent bytes, so no client can make the
 * daemon hold unbounded memory.
 */
#ifndef CUSTODY_CONN_H
#define CUSTODY_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "principal.h"

/* Largest response frame we send; clients must accept this much. */
#define CONN_MAX_RESPONSE_BYTES (16u << 20)

struct conn;
struct req;

struct conn_limits {
	uint32_t max_frame_bytes;
	int max_inflight;
	size_t max_output_bytes;
	int handshake_timeout_ms; /* TCP: the Noise handshake must finish within */
	int idle_timeout_ms;	  /* no whole request, nothing in flight, no watch */
	int max_handshakes;	  /* TCP handshakes at once; past it the oldest goes */
	int max_verifying;	  /* submissions in the verify pool per connection */
	size_t max_held_bytes;	  /* submission bytes held server-wide (req_hold) */
};

struct cu_key;

/* Sets the limits for connections made from now on. */
void conn_set_limits(const struct conn_limits *limits);

/* The daemon's Noise identity for TCP connections (borrowed for the run). */
void conn_set_server_key(const struct cu_key *key);

/* Where an accepted socket comes from. */
struct conn_origin {
	const char *peer;	   /* for logs */
	bool tcp;		   /* Noise first; otherwise a local (Unix) client */
	const char *reject_reason; /* non-NULL: refuse it */
	Custody__ErrorCode reject_code;
};

/*
 * Takes over an accepted socket. With origin->reject_reason set, a Unix
 * client gets an error frame of reject_code with that message and is
 * disconnected; a TCP client (no channel yet) is disconnected at once.
 */
CU_MUST_USE int conn_new(struct event_base *base, evutil_socket_t fd,
			 const struct conn_origin *origin);

/* Open connections; of them, those that came over TCP. */
size_t conn_count(void);
size_t conn_count_tcp(void);

/* Stops reading from every connection; each closes once it has answered. */
void conn_drain_all(void);

/* Closes every connection now and frees them (at exit). */
void conn_close_all(void);

/*
 * Starts a request with the client's id on conn; the dispatcher calls it
 * for every decoded frame. The caller owns the returned handle (NULL when
 * out of memory) until req_reply or req_fail.
 */
struct req *req_new(struct conn *conn, uint64_t id);

/* Records the Request's body field number, which metrics count the answer under. */
void req_set_type(struct req *req, int body_case);

/*
 * A submission of req enters (begin) or leaves (end) the verify pool.
 * While max_verifying of a connection's submissions wait for their
 * signature check the connection reads nothing more, so one connection
 * can put at most that many checks ahead of another's submission (the
 * pool hands submissions back in arrival order). Call end before
 * answering req or handing it on.
 */
void req_verify_begin(struct req *req);
void req_verify_end(struct req *req);

/*
 * Counts bytes (a submission's body) against max_held_bytes, over every
 * connection, until req is answered: the memory a flood of large
 * submissions can make custodyd hold while they wait for their signature
 * check, their batch and its commit. false (nothing counted): the budget
 * is spent; the caller answers UNAVAILABLE. A submission is always taken
 * when nothing else is held, so one as large as max_frame_bytes passes.
 */
CU_MUST_USE bool req_hold(struct req *req, size_t bytes);

/* Submission bytes held now (req_hold), for /metrics. */
size_t conn_held_bytes(void);

/* The request's id and the peer's description, for logs. */
uint64_t req_id(const struct req *req);
const char *req_peer(const struct req *req);

/*
 * Answers: sets resp->id, sends resp if the client is still there, and
 * frees req. resp is borrowed (packed before returning).
 */
void req_reply(struct req *req, Custody__Response *resp);

/* Answers with an error of code and a printf-style message; frees req. */
void req_fail(struct req *req, Custody__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Sends an error with request id 0 (the frame's id could not be read) on
 * conn. With close_after set, the connection is closed once it is sent.
 */
void conn_send_error(struct conn *conn, Custody__ErrorCode code, const char *message,
		     int close_after);

/* Who sent the request (borrowed; valid while req is unanswered). */
const struct principal *req_principal(const struct req *req);

/* The connection a request came on; valid while req is unanswered. */
struct conn *req_conn(const struct req *req);

/*
 * Sends a server-pushed message (id 0, set here) on conn; resp is borrowed.
 * CU_ERR_IO if the connection is closed or closing, CU_ERR_TOO_BIG if its
 * unsent output already reaches max_output_bytes: nothing is sent then, so
 * the caller decides what a slow client gets (watch.c).
 */
CU_MUST_USE int conn_push(struct conn *conn, Custody__Response *resp);

/*
 * Something that outlives single requests on a connection (an alert watch)
 * and must learn when the connection goes away. closed runs once, when the
 * socket is closed; from then on the observer must not use conn (it may be
 * freed any time). drained runs whenever everything queued has been sent.
 * Neither may close the connection.
 */
struct conn_observer {
	void (*closed)(void *arg);
	void (*drained)(void *arg);
};

/*
 * Attaches obs (borrowed, static) with arg to conn. One observer per
 * connection: CU_ERR_EXISTS if conn has one already.
 */
CU_MUST_USE int conn_observe(struct conn *conn, const struct conn_observer *obs, void *arg);

/* Detaches the observer of conn, if any; its callbacks will not run again. */
void conn_unobserve(struct conn *conn);

#endif
