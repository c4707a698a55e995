/*
 * Unit tests for proto/noise.c: every cacophony vector of
 * tests/data/noise/ byte for byte, then the ways a handshake or a transport
 * message must fail (tampering, replay, truncation, turns, limits), and XX
 * with statics converted from Ed25519 identity keys, as custodyd uses it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "json.h"
#include "noise.h"
#include "test_util.h"

#define VECTORS_PATH "tests/data/noise/noise_25519_chachapoly_sha256.json"
#define VECTOR_COUNT 59
#define XX_NAME	     "Noise_XX_25519_ChaChaPoly_SHA256"
#define NN_NAME	     "Noise_NN_25519_ChaChaPoly_SHA256"
#define NK_NAME	     "Noise_NK_25519_ChaChaPoly_SHA256"

/* A hex field of a vector, decoded. */
struct bytes {
	uint8_t b[1024];
	size_t len;
	bool present;
};

/* The keys and prologue of one side of a vector. */
struct side {
	struct bytes prologue, s, e, rs, psk;
};

/* ---- vectors ---- */

static void hex_decode(const struct json_value *f, struct bytes *out)
{
	assert_int_equal(f->type, JSON_STRING);
	assert_true(f->len % 2 == 0 && f->len / 2 <= sizeof(out->b));
	assert_int_equal(
	    sodium_hex2bin(out->b, sizeof(out->b), f->u.str, f->len, NULL, &out->len, NULL), 0);
	assert_int_equal(out->len, f->len / 2);
	out->present = true;
}

static void hex_field(const struct json_value *v, const char *key, struct bytes *out)
{
	const struct json_value *f = json_get(v, key);

	memset(out, 0, sizeof(*out));
	if (f != NULL)
		hex_decode(f, out);
}

static void side_load(const struct json_value *v, const char *prefix, struct side *side)
{
	char key[64];
	const struct json_value *psks;

	snprintf(key, sizeof(key), "%s_prologue", prefix);
	hex_field(v, key, &side->prologue);
	snprintf(key, sizeof(key), "%s_static", prefix);
	hex_field(v, key, &side->s);
	snprintf(key, sizeof(key), "%s_ephemeral", prefix);
	hex_field(v, key, &side->e);
	snprintf(key, sizeof(key), "%s_remote_static", prefix);
	hex_field(v, key, &side->rs);
	snprintf(key, sizeof(key), "%s_psks", prefix);
	psks = json_get(v, key);
	memset(&side->psk, 0, sizeof(side->psk));
	if (psks != NULL) {
		/* The API carries one psk; the vectors never have more. */
		assert_int_equal(psks->type, JSON_ARRAY);
		assert_int_equal(psks->len, 1);
		hex_decode(&psks->u.items[0], &side->psk);
		assert_int_equal(side->psk.len, NOISE_KEY_BYTES);
	}
}

static const uint8_t *opt(const struct bytes *b)
{
	return b->present ? b->b : NULL;
}

static struct noise_hs *side_hs(const char *name, enum noise_role role, const struct side *side)
{
	struct noise_params p = {
	    .protocol_name = name,
	    .role = role,
	    .prologue = side->prologue.b,
	    .prologue_len = side->prologue.len,
	    .s_priv = opt(&side->s),
	    .rs_pub = opt(&side->rs),
	    .psk = opt(&side->psk),
	    .e_priv = opt(&side->e),
	};
	struct noise_hs *hs = NULL;

	assert_int_equal(noise_hs_new(&p, &hs), CU_OK);
	assert_non_null(hs);
	return hs;
}

/* One handshake message from w to r: the exact ciphertext, the payload back. */
static void vector_hs_step(struct noise_hs *w, struct noise_hs *r, const struct bytes *payload,
			   const struct bytes *ct)
{
	static uint8_t msg[NOISE_MAX_MSG_BYTES], pt[NOISE_MAX_MSG_BYTES];
	size_t len = 0, pt_len = 0;

	assert_true(noise_hs_write_turn(w));
	assert_false(noise_hs_write_turn(r));
	assert_int_equal(noise_hs_write(w, payload->b, payload->len, msg, sizeof(msg), &len),
			 CU_OK);
	assert_int_equal(len, ct->len);
	assert_memory_equal(msg, ct->b, len);
	assert_int_equal(noise_hs_read(r, msg, len, pt, sizeof(pt), &pt_len), CU_OK);
	assert_int_equal(pt_len, payload->len);
	assert_memory_equal(pt, payload->b, pt_len);
}

/* One transport message: the exact ciphertext, the payload back. */
static void vector_transport_step(struct noise_cipher *send, struct noise_cipher *recv,
				  const struct bytes *payload, const struct bytes *ct)
{
	uint8_t msg[sizeof(ct->b) + NOISE_TAG_BYTES], pt[sizeof(ct->b)];

	assert_int_equal(noise_encrypt(send, NULL, 0, payload->b, payload->len, msg), CU_OK);
	assert_int_equal(payload->len + NOISE_TAG_BYTES, ct->len);
	assert_memory_equal(msg, ct->b, ct->len);
	assert_int_equal(noise_decrypt(recv, NULL, 0, msg, ct->len, pt), CU_OK);
	assert_memory_equal(pt, payload->b, payload->len);
}

/*
 * Runs one vector. Messages alternate initiator, responder across the whole
 * list; once a one-way pattern (done after its first message) is split,
 * every message goes initiator to responder.
 */
static void vector_run(const struct json_value *v)
{
	const struct json_value *name = json_get(v, "protocol_name"),
				*msgs = json_get(v, "messages");
	struct noise_cipher *send[2] = {NULL, NULL}, *recv[2] = {NULL, NULL};
	struct noise_hs *hs[2];
	struct side init, resp;
	struct bytes hash, payload, ct;
	bool split = false, one_way = false;

	assert_non_null(name);
	assert_non_null(msgs);
	assert_int_equal(msgs->type, JSON_ARRAY);
	side_load(v, "init", &init);
	side_load(v, "resp", &resp);
	hex_field(v, "handshake_hash", &hash);
	assert_int_equal(hash.len, NOISE_HASH_BYTES);
	hs[0] = side_hs(name->u.str, NOISE_INITIATOR, &init);
	hs[1] = side_hs(name->u.str, NOISE_RESPONDER, &resp);
	for (size_t i = 0; i < msgs->len; i++) {
		size_t from = one_way ? 0 : i % 2;

		hex_field(&msgs->u.items[i], "payload", &payload);
		hex_field(&msgs->u.items[i], "ciphertext", &ct);
		if (split) {
			vector_transport_step(send[from], recv[1 - from], &payload, &ct);
			continue;
		}
		vector_hs_step(hs[from], hs[1 - from], &payload, &ct);
		if (!noise_hs_done(hs[0]))
			continue;
		assert_true(noise_hs_done(hs[1]));
		assert_memory_equal(noise_hs_hash(hs[0]), hash.b, NOISE_HASH_BYTES);
		assert_memory_equal(noise_hs_hash(hs[1]), hash.b, NOISE_HASH_BYTES);
		for (size_t s = 0; s < 2; s++)
			assert_int_equal(noise_hs_split(hs[s], &send[s], &recv[s]), CU_OK);
		split = true;
		one_way = i == 0;
	}
	assert_true(split);
	for (size_t s = 0; s < 2; s++) {
		noise_hs_free(hs[s]);
		noise_cipher_free(send[s]);
		noise_cipher_free(recv[s]);
	}
}

static void test_vectors(void **state)
{
	const struct json_limits limits = {
	    .max_input_bytes = 1 << 20, .max_memory_bytes = 16 << 20, .max_depth = 8};
	const struct json_value *vectors;
	struct json_doc *doc = NULL;
	char err[256];
	size_t len = 0, run = 0;
	char *text;

	(void)state;
	text = test_read_file(test_source_path(VECTORS_PATH), &len);
	assert_int_equal(json_parse(text, len, &limits, &doc, err, sizeof(err)), CU_OK);
	vectors = json_get(json_root(doc), "vectors");
	assert_non_null(vectors);
	assert_int_equal(vectors->type, JSON_ARRAY);
	for (size_t i = 0; i < vectors->len; i++) {
		vector_run(&vectors->u.items[i]);
		run++;
	}
	/* A vector lost from the file or skipped here fails the count. */
	assert_int_equal(run, VECTOR_COUNT);
	json_free(doc);
	free(text);
}

/* ---- XX, as custodyd runs it ---- */

struct xx {
	struct noise_hs *hs[2]; /* initiator, responder */
	uint8_t s_priv[2][32];
};

static void xx_new(struct xx *x)
{
	for (int i = 0; i < 2; i++) {
		struct noise_params p = {.protocol_name = XX_NAME,
					 .role = i == 0 ? NOISE_INITIATOR : NOISE_RESPONDER,
					 .s_priv = x->s_priv[i]};

		assert_int_equal(noise_hs_new(&p, &x->hs[i]), CU_OK);
	}
}

static void xx_random(struct xx *x)
{
	randombytes_buf(x->s_priv, sizeof(x->s_priv));
	xx_new(x);
}

static void xx_free(struct xx *x)
{
	noise_hs_free(x->hs[0]);
	noise_hs_free(x->hs[1]);
}

/* Message m of the handshake written into msg (its length returned), not read. */
static size_t xx_write(struct xx *x, size_t m, uint8_t *msg, size_t cap)
{
	size_t len = 0;

	assert_int_equal(noise_hs_write(x->hs[m % 2], (const uint8_t *)"hello", 5, msg, cap, &len),
			 CU_OK);
	return len;
}

static void xx_read_ok(struct xx *x, size_t m, const uint8_t *msg, size_t len)
{
	uint8_t pt[64];
	size_t pt_len = 0;

	assert_int_equal(noise_hs_read(x->hs[1 - m % 2], msg, len, pt, sizeof(pt), &pt_len), CU_OK);
	assert_int_equal(pt_len, 5);
	assert_memory_equal(pt, "hello", 5);
}

/* A dead handshake refuses everything. */
static void assert_dead(struct noise_hs *hs)
{
	uint8_t buf[256];
	size_t len = 0;
	struct noise_cipher *s = NULL, *r = NULL;

	assert_false(noise_hs_write_turn(hs));
	assert_false(noise_hs_done(hs));
	assert_int_equal(noise_hs_write(hs, NULL, 0, buf, sizeof(buf), &len), CU_ERR_INVALID);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(noise_hs_read(hs, buf, sizeof(buf), buf, sizeof(buf), &len),
			 CU_ERR_INVALID);
	assert_int_equal(noise_hs_split(hs, &s, &r), CU_ERR_INVALID);
	assert_null(s);
	assert_null(r);
}

/*
 * XX with bit (pos % 8) of byte pos of message tampered flipped: the
 * handshake must not complete. Returns the length of that message.
 */
static size_t xx_tampered(size_t tampered, size_t pos)
{
	uint8_t msg[256], pt[64];
	size_t len = 0, msg_len = 0, pt_len;
	int rc = CU_OK;
	struct xx x;

	xx_random(&x);
	for (size_t m = 0; m < 3 && rc == CU_OK; m++) {
		len = xx_write(&x, m, msg, sizeof(msg));
		if (m == tampered) {
			msg_len = len;
			if (pos >= len)
				break;
			msg[pos] ^= (uint8_t)(1u << (pos % 8));
		}
		rc = noise_hs_read(x.hs[1 - m % 2], msg, len, pt, sizeof(pt), &pt_len);
		if (rc != CU_OK) {
			assert_true(rc == CU_ERR_CRYPTO || rc == CU_ERR_INVALID);
			/* Message 1 carries no tag: its damage shows in message 2. */
			assert_true(m >= 1 && m >= tampered);
			assert_dead(x.hs[1 - m % 2]);
		}
	}
	if (pos < msg_len) {
		assert_int_not_equal(rc, CU_OK);
		assert_false(noise_hs_done(x.hs[0]) && noise_hs_done(x.hs[1]));
	}
	xx_free(&x);
	return msg_len;
}

static void test_xx_flipped_bit(void **state)
{
	(void)state;
	for (size_t m = 0; m < 3; m++) {
		size_t runs = 0;

		for (size_t pos = 0; pos < xx_tampered(m, pos); pos++)
			runs++;
		/* e and "hello"; e, s, tags; s and two tags. */
		assert_int_equal(runs, m == 0 ? 37 : m == 1 ? 101 : 69);
	}
}

static void test_xx_replayed_msg2(void **state)
{
	uint8_t m1[128], m2[128], other[128];
	size_t len1, len2;
	struct xx x, y;

	(void)state;
	xx_random(&x);
	len1 = xx_write(&x, 0, m1, sizeof(m1));
	xx_read_ok(&x, 0, m1, len1);
	len2 = xx_write(&x, 1, m2, sizeof(m2));
	xx_read_ok(&x, 1, m2, len2);

	/* A fresh initiator with the same static key: its ephemeral differs. */
	memcpy(y.s_priv, x.s_priv, sizeof(y.s_priv));
	xx_new(&y);
	(void)xx_write(&y, 0, other, sizeof(other));
	assert_int_equal(noise_hs_read(y.hs[0], m2, len2, other, sizeof(other), &len1),
			 CU_ERR_CRYPTO);
	assert_dead(y.hs[0]);
	/* The first initiator, past message 2, does not take it again. */
	assert_int_equal(noise_hs_read(x.hs[0], m2, len2, other, sizeof(other), &len1),
			 CU_ERR_INVALID);
	xx_free(&x);
	xx_free(&y);
}

static void test_xx_truncated(void **state)
{
	static uint8_t big[NOISE_MAX_MSG_BYTES + 1];
	uint8_t m1[128], m2[128], pt[128];
	size_t len1, len2, pt_len;
	struct xx x;

	(void)state;
	for (int variant = 0; variant < 3; variant++) {
		xx_random(&x);
		len1 = xx_write(&x, 0, m1, sizeof(m1));
		xx_read_ok(&x, 0, m1, len1);
		len2 = xx_write(&x, 1, m2, sizeof(m2));
		if (variant == 0) /* one byte less: the tag is wrong */
			assert_int_equal(
			    noise_hs_read(x.hs[0], m2, len2 - 1, pt, sizeof(pt), &pt_len),
			    CU_ERR_CRYPTO);
		else if (variant == 1) /* shorter than e, s and two tags */
			assert_int_equal(
			    noise_hs_read(x.hs[0], m2, 32 + 48 + 15, pt, sizeof(pt), &pt_len),
			    CU_ERR_INVALID);
		else /* over the Noise maximum */
			assert_int_equal(
			    noise_hs_read(x.hs[0], big, sizeof(big), pt, sizeof(pt), &pt_len),
			    CU_ERR_INVALID);
		assert_dead(x.hs[0]);
		xx_free(&x);
	}
}

/* Runs a whole XX handshake and splits both sides: c[side][0] send, [1] recv. */
static void xx_complete(struct xx *x, struct noise_cipher *c[2][2])
{
	uint8_t msg[256];
	size_t len;

	for (size_t m = 0; m < 3; m++) {
		len = xx_write(x, m, msg, sizeof(msg));
		xx_read_ok(x, m, msg, len);
	}
	assert_true(noise_hs_done(x->hs[0]) && noise_hs_done(x->hs[1]));
	assert_memory_equal(noise_hs_hash(x->hs[0]), noise_hs_hash(x->hs[1]), NOISE_HASH_BYTES);
	for (int s = 0; s < 2; s++)
		assert_int_equal(noise_hs_split(x->hs[s], &c[s][0], &c[s][1]), CU_OK);
}

static void ciphers_free(struct noise_cipher *c[2][2])
{
	for (int s = 0; s < 2; s++) {
		noise_cipher_free(c[s][0]);
		noise_cipher_free(c[s][1]);
	}
}

static void test_transport_tampered(void **state)
{
	static const uint8_t ad[] = "frame 7";
	uint8_t ct[64], pt[64];
	struct noise_cipher *c[2][2];
	struct xx x;

	(void)state;
	xx_random(&x);
	xx_complete(&x, c);
	assert_int_equal(noise_encrypt(c[0][0], ad, sizeof(ad), (const uint8_t *)"first", 5, ct),
			 CU_OK);
	for (size_t i = 0; i < 5 + NOISE_TAG_BYTES; i++) {
		ct[i] ^= 0x40;
		assert_int_equal(
		    noise_decrypt(c[1][1], ad, sizeof(ad), ct, 5 + NOISE_TAG_BYTES, pt),
		    CU_ERR_CRYPTO);
		ct[i] ^= 0x40;
	}
	/* Other associated data, or a wrong length, fails too. */
	assert_int_equal(noise_decrypt(c[1][1], ad, 3, ct, 5 + NOISE_TAG_BYTES, pt), CU_ERR_CRYPTO);
	assert_int_equal(noise_decrypt(c[1][1], ad, sizeof(ad), ct, 4 + NOISE_TAG_BYTES, pt),
			 CU_ERR_CRYPTO);
	assert_int_equal(noise_decrypt(c[1][1], ad, sizeof(ad), ct, NOISE_TAG_BYTES - 1, pt),
			 CU_ERR_INVALID);
	/* None of it advanced the nonce: the genuine message still decrypts. */
	assert_int_equal(noise_decrypt(c[1][1], ad, sizeof(ad), ct, 5 + NOISE_TAG_BYTES, pt),
			 CU_OK);
	assert_memory_equal(pt, "first", 5);
	/* And the same bytes again (a replay) do not: the nonce moved on. */
	assert_int_equal(noise_decrypt(c[1][1], ad, sizeof(ad), ct, 5 + NOISE_TAG_BYTES, pt),
			 CU_ERR_CRYPTO);
	/* The other direction has its own key: the sender cannot read its own message. */
	assert_int_equal(noise_decrypt(c[0][1], ad, sizeof(ad), ct, 5 + NOISE_TAG_BYTES, pt),
			 CU_ERR_CRYPTO);
	ciphers_free(c);
	xx_free(&x);
}

static void test_nonce_exhaustion(void **state)
{
	uint8_t ct[64], pt[64];
	struct noise_cipher *c[2][2];
	struct xx x;

	(void)state;
	xx_random(&x);
	xx_complete(&x, c);
	/* 2^64-2 is the last usable nonce. */
	noise_cipher_set_nonce(c[0][0], UINT64_MAX - 1);
	noise_cipher_set_nonce(c[1][1], UINT64_MAX - 1);
	assert_int_equal(noise_encrypt(c[0][0], NULL, 0, (const uint8_t *)"last", 4, ct), CU_OK);
	assert_int_equal(noise_decrypt(c[1][1], NULL, 0, ct, 4 + NOISE_TAG_BYTES, pt), CU_OK);
	assert_memory_equal(pt, "last", 4);
	assert_int_equal(noise_encrypt(c[0][0], NULL, 0, (const uint8_t *)"more", 4, ct),
			 CU_ERR_LIMIT);
	assert_int_equal(noise_decrypt(c[1][1], NULL, 0, ct, 4 + NOISE_TAG_BYTES, pt),
			 CU_ERR_LIMIT);
	/* Set straight to 2^64-1. */
	noise_cipher_set_nonce(c[1][0], UINT64_MAX);
	noise_cipher_set_nonce(c[0][1], UINT64_MAX);
	assert_int_equal(noise_encrypt(c[1][0], NULL, 0, NULL, 0, ct), CU_ERR_LIMIT);
	assert_int_equal(noise_decrypt(c[0][1], NULL, 0, ct, NOISE_TAG_BYTES, NULL), CU_ERR_LIMIT);
	ciphers_free(c);
	xx_free(&x);
}

static void test_sizes(void **state)
{
	static uint8_t pt[NOISE_MAX_MSG_BYTES + 1], ct[NOISE_MAX_MSG_BYTES + 1];
	struct noise_cipher *c[2][2];
	struct xx x;

	(void)state;
	xx_random(&x);
	xx_complete(&x, c);
	randombytes_buf(pt, NOISE_MAX_PLAINTEXT_BYTES);
	assert_int_equal(noise_encrypt(c[0][0], NULL, 0, pt, NOISE_MAX_PLAINTEXT_BYTES + 1, ct),
			 CU_ERR_TOO_BIG);
	assert_int_equal(noise_encrypt(c[0][0], NULL, 0, pt, NOISE_MAX_PLAINTEXT_BYTES, ct), CU_OK);
	assert_int_equal(noise_decrypt(c[1][1], NULL, 0, ct, NOISE_MAX_MSG_BYTES + 1, pt),
			 CU_ERR_INVALID);
	memset(pt, 0, sizeof(pt));
	assert_int_equal(noise_decrypt(c[1][1], NULL, 0, ct, NOISE_MAX_MSG_BYTES, pt), CU_OK);
	/* Empty messages work both ways, without buffers. */
	assert_int_equal(noise_encrypt(c[1][0], NULL, 0, NULL, 0, ct), CU_OK);
	assert_int_equal(noise_decrypt(c[0][1], NULL, 0, ct, NOISE_TAG_BYTES, NULL), CU_OK);
	ciphers_free(c);
	xx_free(&x);
}

static void test_hs_sizes(void **state)
{
	static uint8_t payload[NOISE_MAX_MSG_BYTES], msg[NOISE_MAX_MSG_BYTES + 64];
	uint8_t pt[8];
	size_t len = 0, pt_len = 0;
	struct xx x;

	(void)state;
	xx_random(&x);
	/* Message 1 is e (32 bytes) and the payload in the clear. */
	assert_int_equal(
	    noise_hs_write(x.hs[0], payload, NOISE_MAX_MSG_BYTES - 31, msg, sizeof(msg), &len),
	    CU_ERR_TOO_BIG);
	assert_int_equal(noise_hs_write(x.hs[0], payload, 5, msg, 36, &len), CU_ERR_TOO_BIG);
	/* Refusals change nothing: the next write is still message 1. */
	assert_true(noise_hs_write_turn(x.hs[0]));
	assert_int_equal(
	    noise_hs_write(x.hs[0], payload, NOISE_MAX_MSG_BYTES - 32, msg, sizeof(msg), &len),
	    CU_OK);
	assert_int_equal(len, NOISE_MAX_MSG_BYTES);
	/* A short payload buffer is the reader's problem, not the message's: it may retry. */
	assert_int_equal(noise_hs_read(x.hs[1], msg, len, pt, sizeof(pt), &pt_len), CU_ERR_TOO_BIG);
	assert_int_equal(noise_hs_read(x.hs[1], msg, len, payload, sizeof(payload), &pt_len),
			 CU_OK);
	assert_int_equal(pt_len, NOISE_MAX_MSG_BYTES - 32);
	xx_free(&x);
}

static void test_turns(void **state)
{
	uint8_t msg[256], pt[64];
	size_t len = 0, pt_len = 0;
	struct noise_cipher *s = NULL, *r = NULL, *c[2][2];
	struct xx x;

	(void)state;
	xx_random(&x);
	assert_true(noise_hs_write_turn(x.hs[0]));
	assert_false(noise_hs_write_turn(x.hs[1]));
	assert_int_equal(noise_hs_write(x.hs[1], NULL, 0, msg, sizeof(msg), &len), CU_ERR_INVALID);
	memset(msg, 0, sizeof(msg));
	assert_int_equal(noise_hs_read(x.hs[0], msg, 64, pt, sizeof(pt), &pt_len), CU_ERR_INVALID);
	assert_int_equal(noise_hs_split(x.hs[0], &s, &r), CU_ERR_INVALID);
	/* Out-of-turn calls change nothing: the handshake still completes. */
	xx_complete(&x, c);
	assert_int_equal(noise_hs_write(x.hs[0], NULL, 0, msg, sizeof(msg), &len), CU_ERR_INVALID);
	assert_int_equal(noise_hs_read(x.hs[1], msg, 64, pt, sizeof(pt), &pt_len), CU_ERR_INVALID);
	/* Split once: a second pair of ciphers would reuse the keys' nonces. */
	assert_int_equal(noise_hs_split(x.hs[0], &s, &r), CU_ERR_INVALID);
	ciphers_free(c);
	xx_free(&x);
}

static int new_hs(const char *name, enum noise_role role, const uint8_t *s, const uint8_t *rs,
		  const uint8_t *psk)
{
	struct noise_params p = {
	    .protocol_name = name, .role = role, .s_priv = s, .rs_pub = rs, .psk = psk};
	struct noise_hs *hs = NULL;
	int rc = noise_hs_new(&p, &hs);

	assert_true(rc == CU_OK ? hs != NULL : hs == NULL);
	noise_hs_free(hs);
	return rc;
}

static void test_bad_params(void **state)
{
	static const char *const bad_names[] = {
	    "Noise_XX_25519_AESGCM_SHA256",	    "Noise_XX_448_ChaChaPoly_SHA256",
	    "Noise_XX_25519_ChaChaPoly_BLAKE2s",    "Noise_ZZ_25519_ChaChaPoly_SHA256",
	    "Noise__25519_ChaChaPoly_SHA256",	    "Noise_XXpsk0+psk2_25519_ChaChaPoly_SHA256",
	    "Noise_NNpsk3_25519_ChaChaPoly_SHA256", "Noise_XXfallback_25519_ChaChaPoly_SHA256",
	    "Noise_NNpsk_25519_ChaChaPoly_SHA256",  "NoiseXX_25519_ChaChaPoly_SHA256",
	    "Noise_XX_25519_ChaChaPoly_SHA256 ",    "",
	};
	uint8_t key[32] = {1};

	(void)state;
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		assert_int_equal(new_hs(bad_names[i], NOISE_INITIATOR, key, key, key),
				 CU_ERR_INVALID);
	/* Keys the pattern needs. */
	assert_int_equal(new_hs(XX_NAME, NOISE_INITIATOR, NULL, NULL, NULL), CU_ERR_INVALID);
	assert_int_equal(new_hs(XX_NAME, NOISE_RESPONDER, NULL, NULL, NULL), CU_ERR_INVALID);
	assert_int_equal(new_hs(NK_NAME, NOISE_INITIATOR, NULL, NULL, NULL), CU_ERR_INVALID);
	assert_int_equal(new_hs(NK_NAME, NOISE_INITIATOR, NULL, key, NULL), CU_OK);
	assert_int_equal(new_hs(NK_NAME, NOISE_RESPONDER, NULL, NULL, NULL), CU_ERR_INVALID);
	assert_int_equal(new_hs(NK_NAME, NOISE_RESPONDER, key, NULL, NULL), CU_OK);
	assert_int_equal(
	    new_hs("Noise_NNpsk0_25519_ChaChaPoly_SHA256", NOISE_RESPONDER, NULL, NULL, NULL),
	    CU_ERR_INVALID);
	assert_int_equal(
	    new_hs("Noise_NNpsk2_25519_ChaChaPoly_SHA256", NOISE_RESPONDER, NULL, NULL, key),
	    CU_OK);
	assert_int_equal(new_hs(NN_NAME, NOISE_INITIATOR, NULL, NULL, NULL), CU_OK);
	assert_int_equal(new_hs(NN_NAME, (enum noise_role)7, NULL, NULL, NULL), CU_ERR_INVALID);
}

/* A pre-known remote static of small order makes es all zero: refused. */
static void test_low_order_key(void **state)
{
	const uint8_t zero[32] = {0};
	struct noise_params p = {.protocol_name = NK_NAME, .role = NOISE_INITIATOR, .rs_pub = zero};
	struct noise_hs *hs = NULL;
	uint8_t msg[128];
	size_t len = 0;

	(void)state;
	assert_int_equal(noise_hs_new(&p, &hs), CU_OK);
	assert_int_equal(noise_hs_write(hs, NULL, 0, msg, sizeof(msg), &len), CU_ERR_CRYPTO);
	assert_dead(hs);
	noise_hs_free(hs);
}

static void test_random_ephemeral(void **state)
{
	struct noise_params p = {.protocol_name = NN_NAME, .role = NOISE_INITIATOR};
	uint8_t msg[2][64];
	size_t len = 0;

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct noise_hs *hs = NULL;

		assert_int_equal(noise_hs_new(&p, &hs), CU_OK);
		assert_int_equal(noise_hs_write(hs, NULL, 0, msg[i], sizeof(msg[i]), &len), CU_OK);
		assert_int_equal(len, 32);
		noise_hs_free(hs);
	}
	assert_memory_not_equal(msg[0], msg[1], 32);
}

static void test_xx_ed25519(void **state)
{
	uint8_t ed_pk[2][crypto_sign_PUBLICKEYBYTES], ed_sk[2][crypto_sign_SECRETKEYBYTES];
	uint8_t x_pk[2][32], msg[256], pt[64];
	size_t len = 0, pt_len = 0;
	struct noise_cipher *c[2][2];
	struct xx x;

	(void)state;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(crypto_sign_keypair(ed_pk[i], ed_sk[i]), 0);
		assert_int_equal(noise_x25519_from_ed25519_pk(ed_pk[i], x_pk[i]), CU_OK);
		assert_int_equal(noise_x25519_from_ed25519_sk(ed_sk[i], x.s_priv[i]), CU_OK);
	}
	xx_new(&x);
	assert_null(noise_hs_remote_static(x.hs[0]));
	/* Empty payloads, given as NULL. */
	for (size_t m = 0; m < 3; m++) {
		assert_int_equal(noise_hs_write(x.hs[m % 2], NULL, 0, msg, sizeof(msg), &len),
				 CU_OK);
		assert_int_equal(noise_hs_read(x.hs[1 - m % 2], msg, len, NULL, 0, &pt_len), CU_OK);
		assert_int_equal(pt_len, 0);
	}
	assert_true(noise_hs_done(x.hs[0]) && noise_hs_done(x.hs[1]));
	assert_memory_equal(noise_hs_remote_static(x.hs[0]), x_pk[1], 32);
	assert_memory_equal(noise_hs_remote_static(x.hs[1]), x_pk[0], 32);
	for (int s = 0; s < 2; s++)
		assert_int_equal(noise_hs_split(x.hs[s], &c[s][0], &c[s][1]), CU_OK);
	assert_int_equal(noise_encrypt(c[1][0], NULL, 0, (const uint8_t *)"hi", 2, msg), CU_OK);
	assert_int_equal(noise_decrypt(c[0][1], NULL, 0, msg, 2 + NOISE_TAG_BYTES, pt), CU_OK);
	assert_memory_equal(pt, "hi", 2);
	/* Not a point of the curve: refused. */
	memset(ed_pk[0], 0xff, sizeof(ed_pk[0]));
	assert_int_equal(noise_x25519_from_ed25519_pk(ed_pk[0], x_pk[0]), CU_ERR_INVALID);
	sodium_memzero(x.s_priv, sizeof(x.s_priv));
	sodium_memzero(ed_sk, sizeof(ed_sk));
	ciphers_free(c);
	xx_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_xx_flipped_bit),
	    cmocka_unit_test(test_xx_replayed_msg2),
	    cmocka_unit_test(test_xx_truncated),
	    cmocka_unit_test(test_transport_tampered),
	    cmocka_unit_test(test_nonce_exhaustion),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_hs_sizes),
	    cmocka_unit_test(test_turns),
	    cmocka_unit_test(test_bad_params),
	    cmocka_unit_test(test_low_order_key),
	    cmocka_unit_test(test_random_ephemeral),
	    cmocka_unit_test(test_xx_ed25519),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
