/*
 * tunnel.c - the secure channel on libevent buffers (see tunnel.h).
 *
 * Messages are at most 64 KiB, so each is copied out of the evbuffer into
 * one scratch buffer and decrypted from there; plaintext is written
 * straight into reserved space of the destination buffer. The scratch
 * buffer is shared by all tunnels (the loop is single-threaded), so an
 * idle connection costs no 64 KiB of its own. It only ever holds wire
 * bytes (ciphertext and public handshake material), never plaintext.
 */
#include "tunnel.h"

#include <stdlib.h>

#include "channel.h"

struct tunnel {
	struct channel *ch;
};

static uint8_t wire[CHANNEL_MAX_WIRE_BYTES]; /* one message in or out */
static uint8_t plain[CHANNEL_MAX_PLAINTEXT]; /* one message's plaintext spanning chunks */

int tunnel_new(const struct cu_key *key, struct tunnel **out)
{
	struct tunnel *t = malloc(sizeof(*t));
	int rc;

	if (t == NULL)
		return CU_ERR_NOMEM;
	rc = channel_new_server(key, &t->ch);
	if (rc != CU_OK) {
		free(t);
		return rc;
	}
	*out = t;
	return CU_OK;
}

void tunnel_free(struct tunnel *t)
{
	if (t == NULL)
		return;
	channel_free(t->ch);
	free(t);
}

bool tunnel_ready(const struct tunnel *t)
{
	return channel_ready(t->ch);
}

const uint8_t *tunnel_peer_key(const struct tunnel *t)
{
	return channel_peer_key(t->ch);
}

/*
 * Copies the next whole message off raw_in into wire; *len 0 if none has
 * arrived whole yet. A message of length 0 is never valid: CU_ERR_INVALID.
 */
static int take_message(struct evbuffer *raw_in, size_t *len)
{
	uint8_t hdr[CHANNEL_HEADER_BYTES];
	size_t n;

	*len = 0;
	if (evbuffer_copyout(raw_in, hdr, sizeof(hdr)) != (ev_ssize_t)sizeof(hdr))
		return CU_OK;
	n = channel_msg_len(hdr);
	if (n == 0)
		return CU_ERR_INVALID;
	if (evbuffer_get_length(raw_in) < sizeof(hdr) + n)
		return CU_OK;
	evbuffer_drain(raw_in, sizeof(hdr));
	evbuffer_remove(raw_in, wire, n);
	*len = n;
	return CU_OK;
}

/* One handshake message in, and this side's answer out. */
static int handshake_step(struct tunnel *t, size_t len, struct evbuffer *raw_out)
{
	size_t n = 0;
	int rc = channel_hs_read(t->ch, wire, len);

	if (rc != CU_OK || !channel_hs_write_turn(t->ch))
		return rc;
	rc = channel_hs_write(t->ch, wire, sizeof(wire), &n);
	if (rc == CU_OK && evbuffer_add(raw_out, wire, n) != 0)
		rc = CU_ERR_NOMEM;
	return rc;
}

/* One transport message decrypted into plain_in. */
static int open_step(struct tunnel *t, size_t len, struct evbuffer *plain_in)
{
	struct evbuffer_iovec v;
	int rc;

	if (len <= NOISE_TAG_BYTES)
		return CU_ERR_INVALID;
	if (evbuffer_reserve_space(plain_in, len - NOISE_TAG_BYTES, &v, 1) < 1)
		return CU_ERR_NOMEM;
	rc = channel_open(t->ch, wire, len, v.iov_base);
	if (rc != CU_OK)
		return rc;
	v.iov_len = len - NOISE_TAG_BYTES;
	return evbuffer_commit_space(plain_in, &v, 1) == 0 ? CU_OK : CU_ERR_NOMEM;
}

int tunnel_pull(struct tunnel *t, struct evbuffer *raw_in, struct evbuffer *raw_out,
		struct evbuffer *plain_in, size_t in_limit)
{
	size_t len;
	int rc = CU_OK;

	while (rc == CU_OK) {
		bool ready = channel_ready(t->ch);

		if (ready && evbuffer_get_length(plain_in) >= in_limit)
			break;
		rc = take_message(raw_in, &len);
		if (rc != CU_OK || len == 0)
			break;
		rc = ready ? open_step(t, len, plain_in) : handshake_step(t, len, raw_out);
	}
	return rc;
}

int tunnel_push(struct tunnel *t, struct evbuffer *plain_out, struct evbuffer *raw_out,
		size_t out_limit)
{
	struct evbuffer_iovec v;
	uint8_t *pt;
	size_t n;
	int rc = CU_OK;

	if (!channel_ready(t->ch))
		return CU_OK;
	while (rc == CU_OK && evbuffer_get_length(plain_out) > 0 &&
	       evbuffer_get_length(raw_out) < out_limit) {
		n = evbuffer_get_length(plain_out);
		if (n > CHANNEL_MAX_PLAINTEXT)
			n = CHANNEL_MAX_PLAINTEXT;
		/*
		 * In place when the first chunk holds it all; otherwise copied
		 * here, not pulled up: a pullup of several responses mallocs a
		 * chunk for them on every flush.
		 */
		if (evbuffer_peek(plain_out, (ev_ssize_t)n, NULL, &v, 1) == 1 && v.iov_len >= n) {
			pt = v.iov_base;
		} else {
			if (evbuffer_copyout(plain_out, plain, n) != (ev_ssize_t)n)
				return CU_ERR_NOMEM;
			pt = plain;
		}
		rc = channel_seal(t->ch, pt, n, wire);
		if (rc == CU_OK && evbuffer_add(raw_out, wire, n + CHANNEL_OVERHEAD) != 0)
			rc = CU_ERR_NOMEM;
		if (rc == CU_OK)
			evbuffer_drain(plain_out, n);
	}
	return rc;
}
