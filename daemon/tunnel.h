/*
 * tunnel.h - a connection's secure channel (channel.h) over its socket
 * buffers: handshake messages and ciphertext on the socket side,
 * plaintext frames on the connection side.
 *
 * conn.c owns one per TCP connection. tunnel_pull takes whole wire
 * messages off the socket's input: during the handshake it answers into
 * the socket's output; after it, it decrypts into the plaintext input,
 * but only while that holds less than in_limit bytes, so a client cannot
 * make the daemon decrypt ahead of what it processes. tunnel_push seals
 * the plaintext output into the socket's output while that holds less
 * than out_limit bytes; the rest waits as plaintext until the socket
 * drains. Any error is fatal to the connection.
 */
#ifndef CUSTODY_TUNNEL_H
#define CUSTODY_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "cu_err.h"
#include "key.h"

struct tunnel;

/* A server side for identity key (borrowed, copied); *out owned by the caller. */
CU_MUST_USE int tunnel_new(const struct cu_key *key, struct tunnel **out);

/* Wipes and frees; accepts NULL. */
void tunnel_free(struct tunnel *t);

/* Has the handshake finished? */
bool tunnel_ready(const struct tunnel *t);

/* The client's proved Ed25519 key once ready, else NULL. */
const uint8_t *tunnel_peer_key(const struct tunnel *t);

/*
 * Processes whole wire messages from raw_in (see above). Returns CU_OK, or
 * CU_ERR_CRYPTO (a message did not decrypt), CU_ERR_SIGNATURE (the
 * client's identity payload does not match its static key),
 * CU_ERR_INVALID (bad length or order), CU_ERR_LIMIT (nonce exhausted),
 * CU_ERR_NOMEM.
 */
CU_MUST_USE int tunnel_pull(struct tunnel *t, struct evbuffer *raw_in, struct evbuffer *raw_out,
			    struct evbuffer *plain_in, size_t in_limit);

/* Seals plain_out into raw_out (see above); errors as tunnel_pull. */
CU_MUST_USE int tunnel_push(struct tunnel *t, struct evbuffer *plain_out, struct evbuffer *raw_out,
			    size_t out_limit);

#endif
