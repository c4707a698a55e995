/*
 * itest_log_scale.c - the verifiable log at scale, through the raw
 * protocol: ITEST_LOG_ENTRIES (default 100,000) signed REGISTER events are
 * pipelined into custodyd, then inclusion proofs for random entries at
 * random checkpointed sizes and consistency proofs between random
 * checkpointed sizes are fetched and verified against the signed
 * checkpoints, tile levels above 0 included; and the served tiles of each
 * level fold into the level above.
 *
 * Environment: CUSTODY_SERVER, ITEST_DBNAME (checkpoint sizes are read
 * from the database), ITEST_EXPORTER_KEY (registered exporter key of
 * party "acme", facility "acme-us"), ITEST_DAEMON_DIR (log.key.pub),
 * ITEST_LOG_ENTRIES, ITEST_ORIGIN.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "codec.h"
#include "custody.pb-c.h"
#include "envelope.h"
#include "itest_lib.h"
#include "key.h"
#include "merkle.h"
#include "note.h"

#define WINDOW 512 /* requests in flight */

static PGconn *pg;
static struct cu_key *exporter;
static struct note_verifier verifier;

/* Sends one signed REGISTER of chip number n. */
static void send_register(int fd, uint64_t n)
{
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__DeviceRef ref = CUSTODY__DEVICE_REF__INIT, *refs[1] = {&ref};
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__SignedEnvelope env;
	char serial[32];

	snprintf(serial, sizeof(serial), "SCALE-%07llu-%d", (unsigned long long)n, (int)getpid());
	ref.serial = serial;
	ref.kind = CUSTODY__DEVICE_KIND__CHIP;
	ref.model = "H100-SXM";
	ev.type = CUSTODY__EVENT_TYPE__REGISTER;
	ev.actor = "acme";
	ev.facility = "acme-us";
	ev.occurred_at_ms = codec_now_ms();
	ev.devices = refs;
	ev.n_devices = 1;
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, exporter, &ev.base, &env), CU_OK);
	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = &env;
	send_request(fd, &req);
	envelope_clear(&env);
}

static void fill(int fd, uint64_t total)
{
	uint64_t sent = 0, answered = 0;
	struct timespec t0, t1;
	double secs;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (answered < total) {
		Custody__Response *resp;

		while (sent < total && sent - answered < WINDOW)
			send_register(fd, sent++);
		resp = recv_frame(fd, 60000, false);
		assert_non_null(resp);
		if (resp->body_case != CUSTODY__RESPONSE__BODY_SUBMIT)
			fail_msg("submit %llu refused: %s", (unsigned long long)answered,
				 resp->body_case == CUSTODY__RESPONSE__BODY_ERROR
				     ? resp->error->message
				     : "unexpected answer");
		assert_non_null(resp->submit->receipt);
		custody__response__free_unpacked(resp, NULL);
		answered++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("stored %llu events in %.1f s (%.0f/s, pipelined, one connection)\n",
	       (unsigned long long)total, secs, (double)total / secs);
}

static uint64_t checkpoint_root(const char *text, uint8_t root[32])
{
	struct note_opened opened;
	struct note_checkpoint cp;
	char err[256];

	assert_int_equal(note_open(text, strlen(text), &verifier, 1, &opened, err, sizeof(err)),
			 CU_OK);
	assert_int_equal(note_checkpoint_parse(opened.text, opened.text_len, &cp, err, sizeof(err)),
			 CU_OK);
	memcpy(root, cp.root, 32);
	return cp.size;
}

static void copy_proof(ProtobufCBinaryData *const hashes, size_t n, uint8_t *proof)
{
	assert_true(n <= MERKLE_PROOF_MAX);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(hashes[i].len, 32);
		memcpy(proof + i * 32, hashes[i].data, 32);
	}
}

static void check_inclusion(int fd, uint64_t index, uint64_t size)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__InclusionRequest in = CUSTODY__INCLUSION_REQUEST__INIT;
	uint8_t root[32], leaf[32], proof[MERKLE_PROOF_MAX * 32];
	Custody__Response *resp;
	const Custody__InclusionResult *r;

	in.index = index;
	in.tree_size = size;
	req.body_case = CUSTODY__REQUEST__BODY_INCLUSION;
	req.inclusion = &in;
	resp = call(fd, &req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_INCLUSION);
	r = resp->inclusion;
	assert_int_equal(checkpoint_root(r->checkpoint, root), size);
	copy_proof(r->proof, r->n_proof, proof);
	merkle_leaf_hash(r->entry.data, r->entry.len, leaf);
	assert_int_equal(merkle_verify_inclusion(leaf, index, size, proof, r->n_proof, root),
			 CU_OK);
	custody__response__free_unpacked(resp, NULL);
}

static void check_consistency(int fd, uint64_t size1, uint64_t size2)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__ConsistencyRequest c = CUSTODY__CONSISTENCY_REQUEST__INIT;
	uint8_t root1[32], root2[32], proof[MERKLE_PROOF_MAX * 32];
	Custody__Response *resp;
	const Custody__ConsistencyResult *r;

	c.size1 = size1;
	c.size2 = size2;
	req.body_case = CUSTODY__REQUEST__BODY_CONSISTENCY;
	req.consistency = &c;
	resp = call(fd, &req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_CONSISTENCY);
	r = resp->consistency;
	assert_int_equal(checkpoint_root(r->checkpoint1, root1), size1);
	assert_int_equal(checkpoint_root(r->checkpoint2, root2), size2);
	copy_proof(r->proof, r->n_proof, proof);
	assert_int_equal(merkle_verify_consistency(size1, size2, proof, r->n_proof, root1, root2),
			 CU_OK);
	custody__response__free_unpacked(resp, NULL);
}

/* Tile (level, index) of width hashes, served through the protocol (caller frees). */
static Custody__Response *ask_tile(int fd, unsigned level, uint64_t index, unsigned width)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__TileRequest tr = CUSTODY__TILE_REQUEST__INIT;
	Custody__Response *resp;

	tr.level = level;
	tr.index = index;
	tr.width = width;
	req.body_case = CUSTODY__REQUEST__BODY_TILE;
	req.tile = &tr;
	resp = call(fd, &req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_TILE);
	assert_int_equal(resp->tile->hashes.len, (size_t)width * 32);
	return resp;
}

/*
 * The served tiles hang together: at each tile level L >= 1, a random hash
 * of tile L/0 is the root of the full tile below it (256 hashes folded).
 */
static void check_tiles(int fd, uint64_t size)
{
	for (unsigned level = 1; level < 8 && (size >> (8 * level)) > 0; level++) {
		uint64_t have = size >> (8 * level);
		unsigned width = have < 256 ? (unsigned)have : 256;
		unsigned k = (unsigned)randombytes_uniform(width);
		Custody__Response *top = ask_tile(fd, level, 0, width);
		Custody__Response *below = ask_tile(fd, level - 1, k, 256);
		uint8_t h[256 * 32];

		memcpy(h, below->tile->hashes.data, sizeof(h));
		for (unsigned n = 256; n > 1; n /= 2) {
			for (unsigned i = 0; i < n / 2; i++)
				merkle_node_hash(h + 64 * i, h + 64 * i + 32, h + 32 * i);
		}
		assert_memory_equal(h, top->tile->hashes.data + (size_t)k * 32, 32);
		custody__response__free_unpacked(top, NULL);
		custody__response__free_unpacked(below, NULL);
	}
}

static void test_log_at_scale(void **state)
{
	uint64_t total = (uint64_t)env_i64("ITEST_LOG_ENTRIES", 100000);
	int fd = connect_daemon();
	PGresult *sizes;
	int n;

	(void)state;
	fill(fd, total);
	sizes = PQexec(pg, "SELECT size FROM log_checkpoints ORDER BY size");
	assert_int_equal(PQresultStatus(sizes), PGRES_TUPLES_OK);
	n = PQntuples(sizes);
	assert_true(n > 10);
	assert_true(strtoull(PQgetvalue(sizes, n - 1, 0), NULL, 10) >= total);
	for (int k = 0; k < 300; k++) {
		uint64_t size =
		    strtoull(PQgetvalue(sizes, (int)randombytes_uniform((uint32_t)n), 0), NULL, 10);

		check_inclusion(fd, randombytes_uniform((uint32_t)size), size);
	}
	for (int k = 0; k < 100; k++) {
		int a = (int)randombytes_uniform((uint32_t)n),
		    b = (int)randombytes_uniform((uint32_t)n);
		uint64_t s1 = strtoull(PQgetvalue(sizes, a < b ? a : b, 0), NULL, 10);
		uint64_t s2 = strtoull(PQgetvalue(sizes, a < b ? b : a, 0), NULL, 10);

		check_consistency(fd, s1, s2);
	}
	/* The first and the last leaf of the largest tree, the edges of the tiles. */
	check_inclusion(fd, 0, strtoull(PQgetvalue(sizes, n - 1, 0), NULL, 10));
	check_inclusion(fd, strtoull(PQgetvalue(sizes, n - 1, 0), NULL, 10) - 1,
			strtoull(PQgetvalue(sizes, n - 1, 0), NULL, 10));
	check_tiles(fd, strtoull(PQgetvalue(sizes, n - 1, 0), NULL, 10));
	PQclear(sizes);
	close(fd);
}

static int setup(void **state)
{
	char conninfo[256], path[512];
	uint8_t pk[32];

	(void)state;
	snprintf(conninfo, sizeof(conninfo), "dbname=%s", getenv("ITEST_DBNAME"));
	pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK)
		return -1;
	if (key_load(getenv("ITEST_EXPORTER_KEY"), &exporter) != CU_OK)
		return -1;
	snprintf(path, sizeof(path), "%s/log.key.pub", getenv("ITEST_DAEMON_DIR"));
	if (key_pub_load(path, pk) != CU_OK ||
	    note_verifier_init(&verifier, getenv("ITEST_ORIGIN"), NOTE_TYPE_ED25519, pk) != CU_OK)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	key_free(exporter);
	PQfinish(pg);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_log_at_scale)};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
