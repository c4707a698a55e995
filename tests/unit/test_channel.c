/*
 * Unit tests for proto/channel.c: the XX handshake between Ed25519
 * identities, the pinned server key, the client's identity payload,
 * transport messages, and that any failure is final.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "channel.h"
#include "key.h"

static uint8_t wire[CHANNEL_MAX_WIRE_BYTES];

struct pair {
	struct cu_key *client_key, *server_key;
	struct channel *client, *server;
};

static void pair_new(struct pair *p, const uint8_t *pinned)
{
	assert_int_equal(key_generate(&p->client_key), CU_OK);
	assert_int_equal(key_generate(&p->server_key), CU_OK);
	assert_int_equal(channel_new_client(p->client_key,
					    pinned != NULL ? pinned : p->server_key->pk,
					    &p->client),
			 CU_OK);
	assert_int_equal(channel_new_server(p->server_key, &p->server), CU_OK);
}

static void pair_free(struct pair *p)
{
	channel_free(p->client);
	channel_free(p->server);
	key_free(p->client_key);
	key_free(p->server_key);
}

/* Moves one handshake message from one side to the other; returns the reader's verdict. */
static int pass(struct channel *from, struct channel *to)
{
	size_t n = 0;

	assert_true(channel_hs_write_turn(from));
	assert_false(channel_hs_write_turn(to));
	assert_int_equal(channel_hs_write(from, wire, sizeof(wire), &n), CU_OK);
	assert_int_equal(channel_msg_len(wire), n - CHANNEL_HEADER_BYTES);
	return channel_hs_read(to, wire + CHANNEL_HEADER_BYTES, n - CHANNEL_HEADER_BYTES);
}

static void handshake(struct pair *p)
{
	assert_int_equal(pass(p->client, p->server), CU_OK);
	assert_int_equal(pass(p->server, p->client), CU_OK);
	assert_int_equal(pass(p->client, p->server), CU_OK);
	assert_true(channel_ready(p->client));
	assert_true(channel_ready(p->server));
}

/* Seals len bytes on from and opens them on to, asserting they arrive intact. */
static void roundtrip(struct channel *from, struct channel *to, size_t len)
{
	static uint8_t pt[CHANNEL_MAX_PLAINTEXT], out[CHANNEL_MAX_PLAINTEXT];

	randombytes_buf(pt, len);
	assert_int_equal(channel_seal(from, pt, len, wire), CU_OK);
	assert_int_equal(channel_msg_len(wire), len + NOISE_TAG_BYTES);
	assert_int_equal(channel_open(to, wire + CHANNEL_HEADER_BYTES, len + NOISE_TAG_BYTES, out),
			 CU_OK);
	assert_memory_equal(pt, out, len);
}

static void test_handshake_and_identities(void **state)
{
	struct pair p;

	(void)state;
	pair_new(&p, NULL);
	assert_null(channel_peer_key(p.server));
	handshake(&p);
	/* The server learned the client's Ed25519 key; the client reached the pinned one. */
	assert_memory_equal(channel_peer_key(p.server), p.client_key->pk, 32);
	assert_memory_equal(channel_peer_key(p.client), p.server_key->pk, 32);
	roundtrip(p.client, p.server, 1);
	roundtrip(p.server, p.client, CHANNEL_MAX_PLAINTEXT);
	roundtrip(p.client, p.server, 4096);
	pair_free(&p);
}

static void test_wrong_server_refused(void **state)
{
	uint8_t other[32], sk[64];
	struct pair p;

	(void)state;
	crypto_sign_keypair(other, sk);
	pair_new(&p, other);
	assert_int_equal(pass(p.client, p.server), CU_OK);
	assert_int_equal(pass(p.server, p.client), CU_ERR_SIGNATURE);
	/* Failed for good: the client sends nothing more, above all not its identity. */
	assert_false(channel_hs_write_turn(p.client));
	assert_false(channel_ready(p.client));
	assert_null(channel_peer_key(p.client));
	pair_free(&p);
}

/*
 * A client whose identity payload names another key than the static it
 * proved (a raw Noise initiator): refused with CU_ERR_SIGNATURE. A tampered
 * payload does not even decrypt.
 */
static void test_identity_must_match_static(void **state)
{
	struct cu_key *client, *claimed, *server_key;
	struct channel *server;
	struct noise_hs *hs;
	uint8_t x_sk[32];
	size_t n = 0;
	struct noise_params np = {
	    .protocol_name = CHANNEL_PROTOCOL,
	    .role = NOISE_INITIATOR,
	    .prologue = (const uint8_t *)CHANNEL_PROLOGUE,
	    .prologue_len = strlen(CHANNEL_PROLOGUE),
	    .s_priv = x_sk,
	};

	(void)state;
	for (int tamper = 0; tamper < 2; tamper++) {
		assert_int_equal(key_generate(&client), CU_OK);
		assert_int_equal(key_generate(&claimed), CU_OK);
		assert_int_equal(key_generate(&server_key), CU_OK);
		assert_int_equal(noise_x25519_from_ed25519_sk(client->sk, x_sk), CU_OK);
		assert_int_equal(noise_hs_new(&np, &hs), CU_OK);
		assert_int_equal(channel_new_server(server_key, &server), CU_OK);
		assert_int_equal(noise_hs_write(hs, NULL, 0, wire, sizeof(wire), &n), CU_OK);
		assert_int_equal(channel_hs_read(server, wire, n), CU_OK);
		assert_int_equal(channel_hs_write(server, wire, sizeof(wire), &n), CU_OK);
		assert_int_equal(noise_hs_read(hs, wire + CHANNEL_HEADER_BYTES,
					       n - CHANNEL_HEADER_BYTES, NULL, 0, &n),
				 CU_OK);
		assert_int_equal(noise_hs_write(hs, tamper ? client->pk : claimed->pk, 32, wire,
						sizeof(wire), &n),
				 CU_OK);
		if (tamper)
			wire[48 + 3] ^= 0x01; /* s is 48 sealed bytes; then the payload */
		assert_int_equal(channel_hs_read(server, wire, n),
				 tamper ? CU_ERR_CRYPTO : CU_ERR_SIGNATURE);
		assert_false(channel_ready(server));
		assert_null(channel_peer_key(server));
		noise_hs_free(hs);
		channel_free(server);
		key_free(client);
		key_free(claimed);
		key_free(server_key);
	}
	sodium_memzero(x_sk, sizeof(x_sk));
}

static void test_tampered_transport_is_final(void **state)
{
	static uint8_t out[64];
	const uint8_t pt[8] = "abcdefgh";
	struct pair p;

	(void)state;
	pair_new(&p, NULL);
	handshake(&p);
	assert_int_equal(channel_seal(p.client, pt, sizeof(pt), wire), CU_OK);
	wire[CHANNEL_HEADER_BYTES] ^= 0x40;
	assert_int_equal(channel_open(p.server, wire + CHANNEL_HEADER_BYTES, 24, out),
			 CU_ERR_CRYPTO);
	/* Even the intact message is refused now: the channel is dead. */
	wire[CHANNEL_HEADER_BYTES] ^= 0x40;
	assert_int_equal(channel_open(p.server, wire + CHANNEL_HEADER_BYTES, 24, out),
			 CU_ERR_INVALID);
	assert_int_equal(channel_seal(p.server, pt, sizeof(pt), wire), CU_ERR_INVALID);
	pair_free(&p);
}

static void test_lengths(void **state)
{
	static uint8_t big[CHANNEL_MAX_PLAINTEXT + 1], out[64];
	struct pair p;

	(void)state;
	pair_new(&p, NULL);
	/* Nothing may be sealed before the handshake. */
	assert_int_equal(channel_seal(p.client, big, 1, wire), CU_ERR_INVALID);
	handshake(&p);
	assert_int_equal(channel_seal(p.client, big, 0, wire), CU_ERR_INVALID);
	assert_int_equal(channel_seal(p.client, big, sizeof(big), wire), CU_ERR_INVALID);
	/* A message no longer than a tag is malformed, and fatal. */
	assert_int_equal(channel_open(p.server, big, NOISE_TAG_BYTES, out), CU_ERR_INVALID);
	assert_false(channel_ready(p.server));
	pair_free(&p);
}

static void test_replayed_message(void **state)
{
	static uint8_t copy[CHANNEL_MAX_WIRE_BYTES], out[64];
	const uint8_t pt[4] = "ping";
	struct pair p;

	(void)state;
	pair_new(&p, NULL);
	handshake(&p);
	assert_int_equal(channel_seal(p.client, pt, sizeof(pt), copy), CU_OK);
	assert_int_equal(channel_open(p.server, copy + CHANNEL_HEADER_BYTES, 20, out), CU_OK);
	/* The same bytes again: the nonce moved on, so they no longer decrypt. */
	assert_int_equal(channel_open(p.server, copy + CHANNEL_HEADER_BYTES, 20, out),
			 CU_ERR_CRYPTO);
	pair_free(&p);
}

static void test_out_of_turn(void **state)
{
	struct pair p;
	size_t n = 0;

	(void)state;
	pair_new(&p, NULL);
	/* The server speaks second; writing first fails and changes nothing. */
	assert_int_equal(channel_hs_write(p.server, wire, sizeof(wire), &n), CU_ERR_INVALID);
	/* A client reading before it wrote is a protocol error, and final. */
	assert_int_equal(channel_hs_read(p.client, wire, 32), CU_ERR_INVALID);
	assert_false(channel_hs_write_turn(p.client));
	pair_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_and_identities),
	    cmocka_unit_test(test_wrong_server_refused),
	    cmocka_unit_test(test_identity_must_match_static),
	    cmocka_unit_test(test_tampered_transport_is_final),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_replayed_message),
	    cmocka_unit_test(test_out_of_turn),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
