/*
 * envelope.c - signing and verifying envelopes (see envelope.h).
 */
#include "envelope.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char *domain_of(enum envelope_kind kind)
{
	return kind == ENVELOPE_EVENT ? ENVELOPE_DOMAIN_EVENT : ENVELOPE_DOMAIN_ADMIN;
}

void envelope_id(const uint8_t *body, size_t body_len, uint8_t id[ENVELOPE_ID_BYTES])
{
	crypto_hash_sha256(id, body, body_len);
}

/* Returns a new malloc'd DOMAIN || body, or NULL. */
static uint8_t *prefixed(enum envelope_kind kind, const uint8_t *body, size_t body_len,
			 size_t *out_len)
{
	const char *domain = domain_of(kind);
	size_t dlen = strlen(domain);
	uint8_t *msg = malloc(dlen + body_len + 1);

	if (msg == NULL)
		return NULL;
	memcpy(msg, domain, dlen);
	if (body_len > 0)
		memcpy(msg + dlen, body, body_len);
	*out_len = dlen + body_len;
	return msg;
}

int envelope_sign(enum envelope_kind kind, const struct cu_key *key, const uint8_t *body,
		  size_t body_len, uint8_t sig[KEY_SIG_BYTES])
{
	size_t msg_len;
	uint8_t *msg = prefixed(kind, body, body_len, &msg_len);
	int rc;

	if (msg == NULL)
		return CU_ERR_NOMEM;
	rc = crypto_sign_detached(sig, NULL, msg, msg_len, key->sk) == 0 ? CU_OK : CU_ERR_CRYPTO;
	free(msg);
	return rc;
}

int envelope_verify(enum envelope_kind kind, const Custody__SignedEnvelope *env)
{
	size_t msg_len;
	uint8_t *msg;
	int rc;

	if (env->body.len == 0 || env->signer.len != KEY_PUBLIC_BYTES ||
	    env->sig.len != KEY_SIG_BYTES)
		return CU_ERR_INVALID;
	msg = prefixed(kind, env->body.data, env->body.len, &msg_len);
	if (msg == NULL)
		return CU_ERR_NOMEM;
	rc = crypto_sign_verify_detached(env->sig.data, msg, msg_len, env->signer.data) == 0
		 ? CU_OK
		 : CU_ERR_SIGNATURE;
	free(msg);
	return rc;
}

int envelope_seal(enum envelope_kind kind, const struct cu_key *key, const ProtobufCMessage *msg,
		  Custody__SignedEnvelope *env)
{
	size_t body_len = protobuf_c_message_get_packed_size(msg);
	uint8_t *block = malloc(body_len + KEY_PUBLIC_BYTES + KEY_SIG_BYTES);
	uint8_t *signer, *sig;

	if (block == NULL)
		return CU_ERR_NOMEM;
	protobuf_c_message_pack(msg, block);
	signer = block + body_len;
	sig = signer + KEY_PUBLIC_BYTES;
	memcpy(signer, key->pk, KEY_PUBLIC_BYTES);
	if (envelope_sign(kind, key, block, body_len, sig) != CU_OK) {
		free(block);
		return CU_ERR_CRYPTO;
	}
	custody__signed_envelope__init(env);
	env->body.data = block;
	env->body.len = body_len;
	env->signer.data = signer;
	env->signer.len = KEY_PUBLIC_BYTES;
	env->sig.data = sig;
	env->sig.len = KEY_SIG_BYTES;
	return CU_OK;
}

void envelope_clear(Custody__SignedEnvelope *env)
{
	free(env->body.data);
	custody__signed_envelope__init(env);
}
