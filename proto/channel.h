/*
 * channel.h - custody's secure channel: Noise_XX_25519_ChaChaPoly_SHA256
 * between two Ed25519 identities, as it travels on a TCP stream.
 *
 * On the wire every Noise message, handshake or transport, is a 2-byte
 * big-endian length L (16 <= L <= 65535 for transport messages) followed by
 * L bytes. The prologue is "custody/noise/v1". Static keys are the parties'
 * Ed25519 identity keys converted to X25519.
 *
 *   -> e                     (payload empty)
 *   <- e, ee, s, es          (payload empty)
 *   -> s, se                 (payload: the initiator's 32-byte Ed25519 key)
 *
 * The initiator (client) knows the server's Ed25519 key in advance and
 * refuses message 2 unless its static key is that key's X25519 form, so it
 * never reveals who it is to the wrong server. The responder (server)
 * learns the client's Ed25519 key from message 3 and checks that it
 * converts to the static key the client proved; the daemon then decides
 * whether that key may talk at all.
 *
 * After the handshake both directions carry the same byte stream as the
 * plaintext protocol (4-byte length + protobuf frames), cut into transport
 * messages of at most CHANNEL_MAX_PLAINTEXT bytes; message boundaries mean
 * nothing to the frames inside. A failed decryption, a bad length or an
 * exhausted nonce is fatal: the caller closes the connection.
 *
 * Pure computation (no I/O); the daemon and the clients move the bytes.
 */
#ifndef CUSTODY_CHANNEL_H
#define CUSTODY_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "key.h"
#include "noise.h"

#define CHANNEL_PROTOCOL     "Noise_XX_25519_ChaChaPoly_SHA256"
#define CHANNEL_PROLOGUE     "custody/noise/v1"
#define CHANNEL_HEADER_BYTES 2
/* Largest wire message: header + Noise message. */
#define CHANNEL_MAX_WIRE_BYTES (CHANNEL_HEADER_BYTES + NOISE_MAX_MSG_BYTES)
/* Plaintext carried by one transport message. */
#define CHANNEL_MAX_PLAINTEXT NOISE_MAX_PLAINTEXT_BYTES
/* Wire overhead of one transport message. */
#define CHANNEL_OVERHEAD (CHANNEL_HEADER_BYTES + NOISE_TAG_BYTES)

struct channel;

/*
 * A client side: me (borrowed; its secret is converted and copied into
 * guarded memory) talking to the server whose Ed25519 key is server_pk.
 * *out is owned by the caller (channel_free).
 */
CU_MUST_USE int channel_new_client(const struct cu_key *me, const uint8_t server_pk[32],
				   struct channel **out);

/* A server side for identity me (borrowed, copied). */
CU_MUST_USE int channel_new_server(const struct cu_key *me, struct channel **out);

/* Wipes and frees; accepts NULL. */
void channel_free(struct channel *ch);

/* Is the handshake finished (transport messages may flow)? */
bool channel_ready(const struct channel *ch);

/* Is it this side's turn to send a handshake message? */
bool channel_hs_write_turn(const struct channel *ch);

/*
 * Writes this side's next handshake message, header included, into out
 * (CHANNEL_MAX_WIRE_BYTES is always enough); *len gets its size.
 */
CU_MUST_USE int channel_hs_write(struct channel *ch, uint8_t *out, size_t cap, size_t *len);

/*
 * Reads the peer's next handshake message msg (len bytes, header already
 * taken off). CU_ERR_CRYPTO when it does not decrypt; CU_ERR_SIGNATURE when
 * the server is not the one expected (client) or the client's Ed25519 key
 * does not match its static key (server); CU_ERR_INVALID otherwise. Any
 * failure is final.
 */
CU_MUST_USE int channel_hs_read(struct channel *ch, const uint8_t *msg, size_t len);

/*
 * The peer's Ed25519 key: on a server once ready, the client's proved key;
 * on a client, the server key it was given. NULL before that.
 */
const uint8_t *channel_peer_key(const struct channel *ch);

/* Decodes a wire header: the length of the message that follows. */
size_t channel_msg_len(const uint8_t hdr[CHANNEL_HEADER_BYTES]);

/*
 * Encrypts len (1..CHANNEL_MAX_PLAINTEXT) bytes of pt into out as one wire
 * message (len + CHANNEL_OVERHEAD bytes, header included).
 */
CU_MUST_USE int channel_seal(struct channel *ch, const uint8_t *pt, size_t len, uint8_t *out);

/*
 * Decrypts one transport message ct (len bytes, header already taken off)
 * into out (len - NOISE_TAG_BYTES bytes). CU_ERR_INVALID for a bad length,
 * CU_ERR_CRYPTO for a bad tag, CU_ERR_LIMIT when the nonce is exhausted.
 */
CU_MUST_USE int channel_open(struct channel *ch, const uint8_t *ct, size_t len, uint8_t *out);

#endif
