/*
 * channel.c - the secure channel (see channel.h): the Noise XX handshake
 * with custody's payload conventions, then transport messages.
 *
 * A channel walks three handshake steps; any failure marks it failed, and
 * a failed channel refuses every later call, so a caller that forgets to
 * close after an error still sends and accepts nothing.
 */
#include "channel.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct channel {
	struct noise_hs *hs; /* NULL once split */
	struct noise_cipher *tx, *rx;
	bool is_client;
	bool failed;
	int step; /* handshake messages done: 0..3 */
	uint8_t my_pk[32];
	uint8_t peer_pk[32];  /* client: the expected server key; server: once proved */
	uint8_t expect_x[32]; /* client: the server's X25519 static key */
};

static int channel_new(const struct cu_key *me, bool is_client, struct channel **out)
{
	struct channel *ch = calloc(1, sizeof(*ch));
	uint8_t s_priv[32];
	struct noise_params p = {
	    .protocol_name = CHANNEL_PROTOCOL,
	    .role = is_client ? NOISE_INITIATOR : NOISE_RESPONDER,
	    .prologue = (const uint8_t *)CHANNEL_PROLOGUE,
	    .prologue_len = sizeof(CHANNEL_PROLOGUE) - 1,
	    .s_priv = s_priv,
	};
	int rc;

	if (ch == NULL)
		return CU_ERR_NOMEM;
	ch->is_client = is_client;
	memcpy(ch->my_pk, me->pk, 32);
	rc = noise_x25519_from_ed25519_sk(me->sk, s_priv);
	if (rc == CU_OK)
		rc = noise_hs_new(&p, &ch->hs);
	sodium_memzero(s_priv, sizeof(s_priv));
	if (rc != CU_OK) {
		free(ch);
		return rc;
	}
	*out = ch;
	return CU_OK;
}

int channel_new_client(const struct cu_key *me, const uint8_t server_pk[32], struct channel **out)
{
	uint8_t x[32];
	int rc = noise_x25519_from_ed25519_pk(server_pk, x);

	if (rc != CU_OK)
		return rc;
	rc = channel_new(me, true, out);
	if (rc != CU_OK)
		return rc;
	memcpy((*out)->expect_x, x, 32);
	memcpy((*out)->peer_pk, server_pk, 32);
	return CU_OK;
}

int channel_new_server(const struct cu_key *me, struct channel **out)
{
	return channel_new(me, false, out);
}

void channel_free(struct channel *ch)
{
	if (ch == NULL)
		return;
	noise_hs_free(ch->hs);
	noise_cipher_free(ch->tx);
	noise_cipher_free(ch->rx);
	free(ch);
}

bool channel_ready(const struct channel *ch)
{
	return !ch->failed && ch->tx != NULL;
}

bool channel_hs_write_turn(const struct channel *ch)
{
	return !ch->failed && ch->hs != NULL && noise_hs_write_turn(ch->hs);
}

/* Marks ch failed and passes rc on. */
static int fail(struct channel *ch, int rc)
{
	ch->failed = true;
	return rc;
}

/* After the last handshake message: the transport ciphers. */
static int finish(struct channel *ch)
{
	int rc = noise_hs_split(ch->hs, &ch->tx, &ch->rx);

	if (rc != CU_OK)
		return fail(ch, rc);
	noise_hs_free(ch->hs);
	ch->hs = NULL;
	return CU_OK;
}

int channel_hs_write(struct channel *ch, uint8_t *out, size_t cap, size_t *len)
{
	const uint8_t *payload = NULL;
	size_t payload_len = 0, n = 0;
	int rc;

	if (!channel_hs_write_turn(ch) || cap < CHANNEL_HEADER_BYTES)
		return CU_ERR_INVALID;
	if (ch->is_client && ch->step == 2) {
		payload = ch->my_pk;
		payload_len = 32;
	}
	rc = noise_hs_write(ch->hs, payload, payload_len, out + CHANNEL_HEADER_BYTES,
			    cap - CHANNEL_HEADER_BYTES, &n);
	if (rc != CU_OK)
		return fail(ch, rc);
	out[0] = (uint8_t)(n >> 8);
	out[1] = (uint8_t)n;
	*len = CHANNEL_HEADER_BYTES + n;
	ch->step++;
	return noise_hs_done(ch->hs) ? finish(ch) : CU_OK;
}

/* The server's check of message 3: the payload is the key the client proved. */
static int check_client_key(struct channel *ch, const uint8_t *payload, size_t len)
{
	const uint8_t *rs = noise_hs_remote_static(ch->hs);
	uint8_t x[32];

	if (len != 32 || rs == NULL)
		return CU_ERR_INVALID;
	if (noise_x25519_from_ed25519_pk(payload, x) != CU_OK || sodium_memcmp(x, rs, 32) != 0)
		return CU_ERR_SIGNATURE;
	memcpy(ch->peer_pk, payload, 32);
	return CU_OK;
}

int channel_hs_read(struct channel *ch, const uint8_t *msg, size_t len)
{
	uint8_t payload[64];
	size_t payload_len = 0;
	const uint8_t *rs;
	int rc;

	if (ch->failed || ch->hs == NULL || noise_hs_write_turn(ch->hs))
		return fail(ch, CU_ERR_INVALID);
	rc = noise_hs_read(ch->hs, msg, len, payload, sizeof(payload), &payload_len);
	if (rc != CU_OK)
		return fail(ch, rc == CU_ERR_TOO_BIG ? CU_ERR_INVALID : rc);
	ch->step++;
	if (ch->is_client) {
		/* Message 2: the server's static key must be the one we expect. */
		rs = noise_hs_remote_static(ch->hs);
		if (payload_len != 0)
			return fail(ch, CU_ERR_INVALID);
		if (rs == NULL || sodium_memcmp(rs, ch->expect_x, 32) != 0)
			return fail(ch, CU_ERR_SIGNATURE);
		return CU_OK;
	}
	if (ch->step == 1)
		return payload_len == 0 ? CU_OK : fail(ch, CU_ERR_INVALID);
	rc = check_client_key(ch, payload, payload_len);
	if (rc != CU_OK)
		return fail(ch, rc);
	return finish(ch);
}

const uint8_t *channel_peer_key(const struct channel *ch)
{
	if (ch->failed || (!ch->is_client && ch->tx == NULL))
		return NULL;
	return ch->peer_pk;
}

size_t channel_msg_len(const uint8_t hdr[CHANNEL_HEADER_BYTES])
{
	return (size_t)hdr[0] << 8 | hdr[1];
}

int channel_seal(struct channel *ch, const uint8_t *pt, size_t len, uint8_t *out)
{
	size_t n = len + NOISE_TAG_BYTES;
	int rc;

	if (!channel_ready(ch) || len == 0 || len > CHANNEL_MAX_PLAINTEXT)
		return CU_ERR_INVALID;
	rc = noise_encrypt(ch->tx, NULL, 0, pt, len, out + CHANNEL_HEADER_BYTES);
	if (rc != CU_OK)
		return fail(ch, rc);
	out[0] = (uint8_t)(n >> 8);
	out[1] = (uint8_t)n;
	return CU_OK;
}

int channel_open(struct channel *ch, const uint8_t *ct, size_t len, uint8_t *out)
{
	int rc;

	if (!channel_ready(ch))
		return CU_ERR_INVALID;
	if (len <= NOISE_TAG_BYTES || len > NOISE_MAX_MSG_BYTES)
		return fail(ch, CU_ERR_INVALID);
	rc = noise_decrypt(ch->rx, NULL, 0, ct, len, out);
	return rc == CU_OK ? CU_OK : fail(ch, rc);
}
