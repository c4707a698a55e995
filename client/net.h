/*
 * net.h - custodyctl's connection to custodyd.
 *
 * One blocking-style connection per run: a Unix socket ("unix:/path") or
 * TCP ("host:port", "[v6addr]:port"), the latter inside the Noise channel. Requests go out as frames (frame.h)
 * with ids 1, 2, 3...; responses come back as frames whose length is
 * checked against NET_MAX_RESPONSE_BYTES before anything is allocated.
 * Every connect, read and write is bounded by the timeout, so a silent or
 * slow server cannot hang the client; only a watcher waiting for pushed
 * (id 0) messages may wait without bound for the next one to begin.
 */
#ifndef CUSTODY_CLIENT_NET_H
#define CUSTODY_CLIENT_NET_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"

/* Largest response frame we accept from the server. */
#define NET_MAX_RESPONSE_BYTES (16u * 1024u * 1024u)
/* Largest request frame we send (the server may allow less). */
#define NET_MAX_REQUEST_BYTES (16u * 1024u * 1024u)
/* Size of an error message buffer. */
#define NET_ERR_MAX 256

struct net_conn;
struct cu_key;

/* Who we are and whom we expect, for TCP (the Noise handshake). */
struct net_identity {
	const struct cu_key *key; /* our identity key (borrowed) */
	const uint8_t *server_pk; /* the pinned Ed25519 key of the server (32 bytes) */
};

/*
 * Connects to server (borrowed), within timeout_ms. A TCP address needs id
 * (borrowed; ignored on a Unix socket): the handshake proves id->key and
 * refuses a server whose key is not id->server_pk. On success *out is
 * owned by the caller (net_close). On failure writes a one-line reason
 * into err and returns CU_ERR_INVALID for an address that cannot be
 * parsed or a missing identity, CU_ERR_TIMEOUT, CU_ERR_SIGNATURE (not the
 * pinned server), or CU_ERR_IO.
 */
CU_MUST_USE int net_open(const char *server, int timeout_ms, const struct net_identity *id,
			 struct net_conn **out, char *err, size_t err_size);

/* Closes and frees a connection; accepts NULL. */
void net_close(struct net_conn *c);

/*
 * Sends req (borrowed) as one frame after setting req->id to the next
 * request id, which is also stored in *id.
 */
CU_MUST_USE int net_send(struct net_conn *c, Custody__Request *req, uint64_t *id);

/*
 * Reads the next response: one with a request id, or an id-0 error (the
 * server refused one of our frames and is closing). Other id-0 pushes are
 * skipped. *resp is owned by the caller (custody__response__free_unpacked).
 */
CU_MUST_USE int net_recv(struct net_conn *c, Custody__Response **resp);

/*
 * Sends req and waits for its response, skipping responses to other ids.
 * An id-0 error is returned as the answer. *resp is owned by the caller.
 */
CU_MUST_USE int net_call(struct net_conn *c, Custody__Request *req, Custody__Response **resp);

/*
 * Reads the next message of any id, pushes included; *resp is owned by the
 * caller. With wait_idle the wait for a message to begin has no bound (a
 * closed connection still ends it, with CU_ERR_IO); the message itself
 * must then arrive within the timeout. For watchers of pushed alerts.
 */
CU_MUST_USE int net_recv_any(struct net_conn *c, bool wait_idle, Custody__Response **resp);

/*
 * Makes every later wait (connect, send, receive, net_sleep_ms) give up
 * with CU_ERR_IO and errno EINTR once *flag (borrowed for the rest of the
 * run; set by a signal handler) is non-zero. The caller blocks its stop
 * signals and passes in mask (copied; NULL: the current mask) the mask to
 * wait with, which lets them in: a signal then only arrives inside a wait,
 * after the flag was checked, so none is lost.
 */
void net_set_interrupt(const volatile sig_atomic_t *flag, const sigset_t *mask);

/*
 * Turns on TCP keepalive probes after idle_s seconds of silence (then
 * every 10 s, giving up after 3), so a long idle wait notices a peer that
 * vanished without closing. Does nothing on a Unix socket.
 */
void net_keepalive(struct net_conn *c, int idle_s);

/*
 * Sleeps ms milliseconds (reconnect backoff). Returns CU_OK, or CU_ERR_IO
 * when the stop flag of net_set_interrupt went up.
 */
CU_MUST_USE int net_sleep_ms(int ms);

/* The reason for the last failure on c (borrowed, valid until the next call). */
const char *net_error(const struct net_conn *c);

#endif
