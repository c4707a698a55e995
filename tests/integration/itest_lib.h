/*
 * itest_lib.h - what integration test programs share to talk the raw
 * protocol to a running custodyd: connecting to $CUSTODY_SERVER (unix:PATH),
 * framed requests with fresh ids, responses, and the usual expectations.
 * Every function fails the running cmocka test on a protocol or I/O error.
 */
#ifndef CUSTODY_ITEST_LIB_H
#define CUSTODY_ITEST_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody.pb-c.h"

#define TIMEOUT_MS 10000

struct cu_key;

/* A new connection to $CUSTODY_SERVER; the caller closes it. */
int connect_daemon(void);

/*
 * A Noise connection to $DAEMON_TCP as key, pinned to $CUSTODY_SERVER_KEY;
 * send_frame, recv_frame, call and send_all then work on the returned fd
 * through the channel. Close it with close_conn.
 */
int connect_as(const struct cu_key *key);

/*
 * The handshake of connect_as against the server key server_pk: CU_OK
 * with *fd set, or the handshake's error (CU_ERR_SIGNATURE: not that
 * server; CU_ERR_IO: the server closed the connection).
 */
int try_connect_as(const struct cu_key *key, const uint8_t server_pk[32], int *fd);

/* A plain TCP socket to $DAEMON_TCP (no handshake), for raw-byte tests. */
int connect_tcp_raw(void);

/* The pinned server key of $CUSTODY_SERVER_KEY. */
void server_pubkey(uint8_t pk[32]);

/* Closes fd and forgets its channel, if any. */
void close_conn(int fd);

/* Writes all len bytes of buf, raw (no framing). */
void send_all(int fd, const void *buf, size_t len);

/*
 * One response frame (the caller frees it with custody__response__free_unpacked);
 * NULL on EOF, or after timeout_ms of silence when may_time_out.
 */
Custody__Response *recv_frame(int fd, int timeout_ms, bool may_time_out);

/* Sends req as one frame with the request id it already has (0 included). */
void send_frame(int fd, const Custody__Request *req);

/* Sends req with a fresh request id (set in req->id). */
void send_request(int fd, Custody__Request *req);

/* Sends req and returns the next frame, which must be its response. */
Custody__Response *call(int fd, Custody__Request *req);

/* call() on a connection of its own. */
Custody__Response *call_once(Custody__Request *req);

/* resp must have body (an error fails with its message); resp is kept. */
void expect_body(const Custody__Response *resp, Custody__Response__BodyCase body);

/* expect_body(), then frees resp. */
void expect_ok(Custody__Response *resp, Custody__Response__BodyCase body);

/* resp must be an error of code whose message contains text (unless NULL); resp is kept. */
void expect_error_kept(const Custody__Response *resp, Custody__ErrorCode code, const char *text);

/* expect_error_kept(), then frees resp. */
void expect_error(Custody__Response *resp, Custody__ErrorCode code, const char *text);

/* An integer from the environment, or fallback when unset or empty. */
int64_t env_i64(const char *name, int64_t fallback);

#endif
