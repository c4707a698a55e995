/*
 * noise.h - the Noise Protocol Framework (revision 34), 25519 + ChaChaPoly
 * + SHA256, on libsodium.
 *
 * custodyd's TCP transport is Noise_XX_25519_ChaChaPoly_SHA256 whose
 * static keys are the parties' Ed25519 identity keys converted to X25519
 * (noise_x25519_from_ed25519_*). The handshake engine is generic over the
 * pattern's token table, so the same code runs the other patterns of the
 * cacophony test vectors (NN, NK, KK, ...), byte for byte.
 *
 * Pure computation, no I/O: a caller feeds handshake messages in and out
 * (noise_hs_write / noise_hs_read), then splits the finished handshake into
 * two cipher states for the transport (noise_encrypt / noise_decrypt).
 * Secret material (static and ephemeral keys, chaining key, cipher keys)
 * lives in sodium_malloc'd memory and is wiped on free.
 */
#ifndef CUSTODY_NOISE_H
#define CUSTODY_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"

#define NOISE_KEY_BYTES	 32
#define NOISE_HASH_BYTES 32
#define NOISE_TAG_BYTES	 16
/* Largest Noise message, handshake or transport, ciphertext included. */
#define NOISE_MAX_MSG_BYTES 65535u
/* Largest transport plaintext: one message less its tag. */
#define NOISE_MAX_PLAINTEXT_BYTES (NOISE_MAX_MSG_BYTES - NOISE_TAG_BYTES)

enum noise_role { NOISE_INITIATOR, NOISE_RESPONDER };

/*
 * A transport cipher state: key and nonce. After 2^64-1 messages the nonce
 * is exhausted and every further call fails with CU_ERR_LIMIT; a failed
 * decryption leaves the state unchanged. Lives in sodium_malloc'd memory
 * (noise_hs_split hands out two); free with noise_cipher_free.
 */
struct noise_cipher;

struct noise_hs;

/*
 * Parameters of a handshake. protocol_name is the full name, e.g.
 * "Noise_XX_25519_ChaChaPoly_SHA256" (the pattern, with any psk or
 * deferred modifiers, is parsed from it). Keys are borrowed and copied:
 * s_priv the local static X25519 secret (NULL if the pattern sends none),
 * rs_pub the remote static public key known in advance (NULL unless the
 * pattern's pre-message needs it), psk (NULL unless the pattern has psk
 * tokens). e_priv fixes the ephemeral key instead of a random one (test
 * vectors only; NULL in production).
 */
struct noise_params {
	const char *protocol_name;
	enum noise_role role;
	const uint8_t *prologue;
	size_t prologue_len;
	const uint8_t *s_priv;
	const uint8_t *rs_pub;
	const uint8_t *psk;
	const uint8_t *e_priv;
};

/*
 * A new handshake state in *out (owned by the caller: noise_hs_free).
 * CU_ERR_INVALID for an unknown or unsupported protocol name or a key the
 * pattern needs but params lack; CU_ERR_NOMEM.
 */
CU_MUST_USE int noise_hs_new(const struct noise_params *params, struct noise_hs **out);

/* Wipes and frees; accepts NULL. */
void noise_hs_free(struct noise_hs *hs);

/* Is it this side's turn to write (false: to read, or finished)? */
bool noise_hs_write_turn(const struct noise_hs *hs);

/* Has every message of the pattern been written or read? */
bool noise_hs_done(const struct noise_hs *hs);

/*
 * Writes the next handshake message, carrying payload (may be empty), into
 * out (out_cap bytes); *out_len gets its size. CU_ERR_INVALID if it is not
 * this side's turn, CU_ERR_TOO_BIG if the message would exceed out_cap or
 * NOISE_MAX_MSG_BYTES.
 */
CU_MUST_USE int noise_hs_write(struct noise_hs *hs, const uint8_t *payload, size_t payload_len,
			       uint8_t *out, size_t out_cap, size_t *out_len);

/*
 * Reads the next handshake message msg (len bytes); its payload goes to
 * payload (payload_cap bytes), *payload_len gets its size. CU_ERR_INVALID
 * if it is not this side's turn or the message is too short or too long,
 * CU_ERR_CRYPTO if decryption or a DH fails (the handshake is then dead:
 * every later call fails), CU_ERR_TOO_BIG if payload_cap is too small.
 */
CU_MUST_USE int noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload,
			      size_t payload_cap, size_t *payload_len);

/* The remote static public key once received or pre-known, else NULL. */
const uint8_t *noise_hs_remote_static(const struct noise_hs *hs);

/* The handshake hash h (NOISE_HASH_BYTES), for channel binding and tests. */
const uint8_t *noise_hs_hash(const struct noise_hs *hs);

/*
 * Splits a finished handshake into the cipher this side sends with and the
 * one it receives with (both owned by the caller). CU_ERR_INVALID if the
 * handshake is not done. The handshake state may be freed afterwards.
 */
CU_MUST_USE int noise_hs_split(struct noise_hs *hs, struct noise_cipher **send,
			       struct noise_cipher **recv);

/* Wipes and frees; accepts NULL. */
void noise_cipher_free(struct noise_cipher *c);

/*
 * Encrypts len bytes of pt (len <= NOISE_MAX_PLAINTEXT_BYTES) with
 * associated data ad into out (len + NOISE_TAG_BYTES bytes; may not
 * overlap pt). CU_ERR_TOO_BIG, CU_ERR_LIMIT (nonce exhausted).
 */
CU_MUST_USE int noise_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
			      const uint8_t *pt, size_t len, uint8_t *out);

/*
 * Decrypts len bytes of ct (NOISE_TAG_BYTES <= len <= NOISE_MAX_MSG_BYTES)
 * into out (len - NOISE_TAG_BYTES bytes). CU_ERR_CRYPTO on a bad tag (the
 * nonce does not advance), CU_ERR_INVALID for a bad length, CU_ERR_LIMIT.
 */
CU_MUST_USE int noise_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
			      const uint8_t *ct, size_t len, uint8_t *out);

/* Test hook: sets the next nonce (to reach exhaustion without 2^64 calls). */
void noise_cipher_set_nonce(struct noise_cipher *c, uint64_t n);

/* X25519 public key of an Ed25519 public key; CU_ERR_INVALID if it is not a valid point. */
CU_MUST_USE int noise_x25519_from_ed25519_pk(const uint8_t ed_pk[32], uint8_t x_pk[32]);

/* X25519 secret key of a 64-byte Ed25519 secret key (out: 32 bytes the caller wipes). */
CU_MUST_USE int noise_x25519_from_ed25519_sk(const uint8_t ed_sk[64], uint8_t x_sk[32]);

#endif
