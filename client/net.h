/*
 * net.h - custodyctl's connection to custodyd.
 *
 * One blocking-style connection per run: a Unix socket ("unix:/path") or
 * TCP ("host:port", "[v6addr]:port"). Requests go out as frames (frame.h)
 * with ids 1, 2, 3...; responses come back as frames whose length is
 * checked against NET_MAX_RESPONSE_BYTES before anything is allocated.
 * Every connect, read and write is bounded by the timeout, so a silent or
 * slow server cannot hang the client.
 */
#ifndef CUSTODY_CLIENT_NET_H
#define CUSTODY_CLIENT_NET_H

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

/*
 * Connects to server (borrowed), within timeout_ms. On success *out is
 * owned by the caller (net_close). On failure writes a one-line reason
 * into err and returns CU_ERR_INVALID for an address that cannot be
 * parsed, CU_ERR_TIMEOUT, or CU_ERR_IO.
 */
CU_MUST_USE int net_open(const char *server, int timeout_ms, struct net_conn **out, char *err,
			 size_t err_size);

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

/* The reason for the last failure on c (borrowed, valid until the next call). */
const char *net_error(const struct net_conn *c);

#endif
