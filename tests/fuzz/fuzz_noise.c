/*
 * fuzz_noise.c - libFuzzer target for the Noise handshake reader
 * (proto/noise.c, proto/channel.c): what custodyd and custodyctl read from
 * the other end of a TCP connection before anything is authenticated.
 *
 * The first byte picks what reads the rest:
 *   0  a server channel reads message 1 (-> e) from arbitrary bytes;
 *   1  a responder that has written message 2 reads message 3 (-> s, se);
 *   2  an initiator that has written message 1 reads message 2;
 *   3  a finished responder decrypts a transport message.
 * Modes 1-3 use fixed static and ephemeral keys, so every run of an input
 * takes the same path, and the genuine message of each step is known.
 *
 * Invariants: message 1 is accepted exactly when it is a bare 32-byte
 * ephemeral key (the channel carries no payload there); a message 2, a
 * message 3 or a transport message is accepted only if it is byte for
 * byte the genuine one, since forging it would need a key the fuzzer
 * lacks; after a handshake message fails to decrypt the handshake is dead,
 * and after a transport message fails the nonce has not moved (the genuine
 * message still decrypts).
 *
 * CUSTODY_FUZZ_WRITE_SEEDS=DIR writes the genuine messages to DIR as seed
 * inputs (tests/fuzz/corpus/fuzz_noise/ was made that way).
 */
#include <string.h>

#include <sodium.h>

#include "channel.h"
#include "fuzz.h"
#include "noise.h"

enum { MSG_1, MSG_2, MSG_3, MSG_T, N_MSGS };

static struct cu_key server_id, client_id;
static uint8_t x_server[32], x_client[32], e_server[32], e_client[32];
static uint8_t genuine[N_MSGS][256];
static size_t genuine_len[N_MSGS];
static const uint8_t transport_pt[] = "\0\0\0\5hello";

static void key_from_seed(struct cu_key *k, uint8_t fill)
{
	uint8_t seed[32];

	memset(seed, fill, sizeof(seed));
	FUZZ_CHECK(crypto_sign_seed_keypair(k->pk, k->sk, seed) == 0);
}

static struct noise_hs *hs_new(enum noise_role role)
{
	struct noise_params p = {
	    .protocol_name = CHANNEL_PROTOCOL,
	    .role = role,
	    .prologue = (const uint8_t *)CHANNEL_PROLOGUE,
	    .prologue_len = strlen(CHANNEL_PROLOGUE),
	    .s_priv = role == NOISE_INITIATOR ? x_client : x_server,
	    .e_priv = role == NOISE_INITIATOR ? e_client : e_server,
	};
	struct noise_hs *hs = NULL;

	FUZZ_CHECK(noise_hs_new(&p, &hs) == CU_OK);
	return hs;
}

/* Writes the next message of hs as genuine[i], or checks it is the same. */
static void step_write(struct noise_hs *hs, int i, const uint8_t *payload, size_t len)
{
	uint8_t out[256];
	size_t n = 0;

	FUZZ_CHECK(noise_hs_write(hs, payload, len, out, sizeof(out), &n) == CU_OK);
	if (genuine_len[i] == 0) {
		memcpy(genuine[i], out, n);
		genuine_len[i] = n;
	}
	FUZZ_CHECK(n == genuine_len[i] && memcmp(out, genuine[i], n) == 0);
}

static void step_read(struct noise_hs *hs, int i)
{
	uint8_t payload[64];
	size_t n = 0;

	FUZZ_CHECK(noise_hs_read(hs, genuine[i], genuine_len[i], payload, sizeof(payload), &n) ==
		   CU_OK);
}

/* Runs both sides up to (not including) the read of message `upto`. */
static void handshake(int upto, struct noise_hs **ini, struct noise_hs **resp)
{
	*ini = hs_new(NOISE_INITIATOR);
	*resp = hs_new(NOISE_RESPONDER);
	step_write(*ini, MSG_1, NULL, 0);
	if (upto == MSG_1)
		return;
	step_read(*resp, MSG_1);
	step_write(*resp, MSG_2, NULL, 0);
	if (upto == MSG_2)
		return;
	step_read(*ini, MSG_2);
	step_write(*ini, MSG_3, client_id.pk, sizeof(client_id.pk));
}

static void write_seeds(const char *dir)
{
	static const char *names[N_MSGS] = {"msg1", "msg2", "msg3", "transport"};
	static const uint8_t modes[N_MSGS] = {0, 2, 1, 3};
	char path[4096];

	for (int i = 0; i < N_MSGS; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "wb");
		FUZZ_CHECK(f != NULL);
		fputc(modes[i], f);
		fwrite(genuine[i], 1, genuine_len[i], f);
		FUZZ_CHECK(fclose(f) == 0);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct noise_hs *ini, *resp;
	struct noise_cipher *tx, *rx;
	const char *dir = getenv("CUSTODY_FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	FUZZ_CHECK(sodium_init() >= 0);
	key_from_seed(&server_id, 0x53);
	key_from_seed(&client_id, 0x43);
	FUZZ_CHECK(noise_x25519_from_ed25519_sk(server_id.sk, x_server) == CU_OK);
	FUZZ_CHECK(noise_x25519_from_ed25519_sk(client_id.sk, x_client) == CU_OK);
	memset(e_server, 0x65, sizeof(e_server));
	memset(e_client, 0x45, sizeof(e_client));
	handshake(N_MSGS, &ini, &resp);
	step_read(resp, MSG_3);
	FUZZ_CHECK(noise_hs_split(ini, &tx, &rx) == CU_OK);
	genuine_len[MSG_T] = sizeof(transport_pt) + NOISE_TAG_BYTES;
	FUZZ_CHECK(noise_encrypt(tx, NULL, 0, transport_pt, sizeof(transport_pt), genuine[MSG_T]) ==
		   CU_OK);
	noise_cipher_free(tx);
	noise_cipher_free(rx);
	noise_hs_free(ini);
	noise_hs_free(resp);
	if (dir != NULL)
		write_seeds(dir);
	return 0;
}

/* Mode 0: what custodyd's TCP listener does with a new connection's first message. */
static void server_reads_msg1(const uint8_t *msg, size_t len)
{
	struct channel *ch = NULL;
	uint8_t out[CHANNEL_MAX_WIRE_BYTES];
	size_t n = 0;
	int rc;

	FUZZ_CHECK(channel_new_server(&server_id, &ch) == CU_OK);
	rc = channel_hs_read(ch, msg, len);
	FUZZ_CHECK((rc == CU_OK) == (len == 32));
	if (rc == CU_OK) {
		rc = channel_hs_write(ch, out, sizeof(out), &n);
		FUZZ_CHECK(rc == CU_OK || rc == CU_ERR_CRYPTO);
	} else {
		FUZZ_CHECK(channel_hs_read(ch, msg, len) != CU_OK);
		FUZZ_CHECK(!channel_hs_write_turn(ch) && !channel_ready(ch));
	}
	channel_free(ch);
}

/* Reads msg as message i (MSG_2, MSG_3) or as a transport message (MSG_T). */
static void peer_reads(int i, const uint8_t *msg, size_t len)
{
	struct noise_hs *ini, *resp, *reader;
	struct noise_cipher *tx = NULL, *rx = NULL;
	uint8_t payload[NOISE_MAX_MSG_BYTES];
	size_t n = 0;
	int rc;

	handshake(i == MSG_T ? N_MSGS : i, &ini, &resp);
	reader = i == MSG_2 ? ini : resp;
	if (i == MSG_T) {
		step_read(resp, MSG_3);
		FUZZ_CHECK(noise_hs_split(resp, &tx, &rx) == CU_OK);
		rc = len < NOISE_TAG_BYTES || len > NOISE_MAX_MSG_BYTES
			 ? CU_ERR_INVALID
			 : noise_decrypt(rx, NULL, 0, msg, len, payload);
	} else {
		rc = noise_hs_read(reader, msg, len, payload, sizeof(payload), &n);
	}
	FUZZ_CHECK(rc != CU_OK || (len == genuine_len[i] && memcmp(msg, genuine[i], len) == 0));
	if (rc == CU_ERR_CRYPTO && i != MSG_T)
		FUZZ_CHECK(noise_hs_read(reader, genuine[i], genuine_len[i], payload,
					 sizeof(payload), &n) != CU_OK);
	if (rc != CU_OK && i == MSG_T)
		FUZZ_CHECK(noise_decrypt(rx, NULL, 0, genuine[i], genuine_len[i], payload) ==
			   CU_OK);
	noise_cipher_free(tx);
	noise_cipher_free(rx);
	noise_hs_free(ini);
	noise_hs_free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		server_reads_msg1(data + 1, size - 1);
		break;
	case 1:
		peer_reads(MSG_3, data + 1, size - 1);
		break;
	case 2:
		peer_reads(MSG_2, data + 1, size - 1);
		break;
	default:
		peer_reads(MSG_T, data + 1, size - 1);
		break;
	}
	return 0;
}
