/*
 * envelope.h - signed envelopes (DESIGN section 4).
 *
 * The signature covers the exact bytes that travel, with a domain prefix
 * that keeps an event signature from ever being valid as an admin action
 * (or anything else) and the reverse:
 *     sig = Ed25519(sk, DOMAIN || body)
 * The id of the signed thing is SHA-256(body).
 */
#ifndef CUSTODY_ENVELOPE_H
#define CUSTODY_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "key.h"

#define ENVELOPE_DOMAIN_EVENT "custody/event/v1\n"
#define ENVELOPE_DOMAIN_ADMIN "custody/admin/v1\n"
#define ENVELOPE_ID_BYTES     32

enum envelope_kind {
	ENVELOPE_EVENT,
	ENVELOPE_ADMIN,
};

/* Computes the id of a body: SHA-256(body). */
void envelope_id(const uint8_t *body, size_t body_len, uint8_t id[ENVELOPE_ID_BYTES]);

/* Signs DOMAIN(kind) || body with key into sig. */
CU_MUST_USE int envelope_sign(enum envelope_kind kind, const struct cu_key *key,
			      const uint8_t *body, size_t body_len, uint8_t sig[KEY_SIG_BYTES]);

/*
 * Checks an envelope: body present, signer 32 bytes, sig 64 bytes
 * (CU_ERR_INVALID otherwise) and the signature valid for DOMAIN(kind)
 * (CU_ERR_SIGNATURE otherwise). Borrows env.
 */
CU_MUST_USE int envelope_verify(enum envelope_kind kind, const Custody__SignedEnvelope *env);

/*
 * Builds a signed envelope around msg: packs it into a new malloc'd body,
 * signs it and fills env (whose body.data, signer.data and sig.data point
 * into one malloc'd block that envelope_clear frees).
 */
CU_MUST_USE int envelope_seal(enum envelope_kind kind, const struct cu_key *key,
			      const ProtobufCMessage *msg, Custody__SignedEnvelope *env);

/* Frees what envelope_seal allocated and resets env; accepts an empty env. */
void envelope_clear(Custody__SignedEnvelope *env);

#endif
