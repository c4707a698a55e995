/*
 * Unit tests for daemon/tlog.c, written to the contract in tlog.h.
 *
 * A model keeps every leaf hash and a reference merkle_range; a fake tiles
 * table keeps the widest row per tile of everything tlog_dirty_next ever
 * listed, as the append-only table would. After each batch the table must
 * equal the tiles computed from scratch, every proof of the batch must
 * verify and the checkpoint must open with the log's key. Loading is
 * checked against a log that appended everything itself, rollback against
 * a log that never saw the failed batch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "key.h"
#include "merkle.h"
#include "note.h"
#include "tlog.h"

#define HASH	    MERKLE_HASH_SIZE
#define PROOF_BYTES (MERKLE_PROOF_MAX * HASH)
#define ORIGIN	    "custody.example/log"
/* Largest tree any test builds (the tile example of the spec is 70,000). */
#define MAX_LEAVES 80000
#define ENTRY_MAX  64

/* Entries of the main history, of failed batches and of what follows a load. */
#define SALT_MAIN   1
#define SALT_FAILED 2
#define SALT_AFTER  3

static struct cu_key *log_key;
static struct note_verifier log_verifier;

/* ---- entries and the model ---- */

static size_t entry_bytes(unsigned salt, uint64_t i, uint8_t out[ENTRY_MAX])
{
	int len = snprintf((char *)out, ENTRY_MAX, "entry %u/%" PRIu64, salt, i);

	assert_true(len > 0 && len < ENTRY_MAX);
	return (size_t)len;
}

/* What the log should hold: every leaf hash and a range fed the same leaves. */
struct model {
	uint8_t (*leaves)[HASH];
	uint64_t size;
	struct merkle_range range;
};

static struct model *model_new(void)
{
	struct model *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->leaves = calloc(MAX_LEAVES, HASH);
	assert_non_null(m->leaves);
	merkle_range_init(&m->range);
	return m;
}

static void model_free(struct model *m)
{
	free(m->leaves);
	free(m);
}

/* Appends count entries of salt to t and to m (m may be NULL). */
static void append_batch(struct tlog *t, struct model *m, unsigned salt, uint64_t count)
{
	uint8_t entry[ENTRY_MAX];
	uint64_t i, index;

	for (i = 0; i < count; i++) {
		uint64_t n = tlog_size(t);
		size_t len = entry_bytes(salt, n, entry);

		assert_int_equal(tlog_append(t, entry, len, &index), CU_OK);
		assert_int_equal(index, n);
		if (m == NULL) {
			continue;
		}
		assert_int_equal(m->size, n);
		assert_true(n < MAX_LEAVES);
		merkle_leaf_hash(entry, len, m->leaves[n]);
		assert_int_equal(merkle_range_append(&m->range, m->leaves[n], NULL, NULL), CU_OK);
		m->size++;
	}
}

/* The hashes of stored level `level` of m's tree, from scratch (n >> level of them). */
static uint8_t (*scratch_level(const struct model *m, unsigned level))[HASH]
{
	uint8_t(*buf)[HASH] = calloc(m->size + 1, HASH);
	uint64_t count = m->size, k;
	unsigned l;

	assert_non_null(buf);
	memcpy(buf, m->leaves, m->size * HASH);
	for (l = 0; l < level; l++) {
		for (k = 0; k < count / 2; k++) {
			merkle_node_hash(buf[2 * k], buf[2 * k + 1], buf[k]);
		}
		count /= 2;
	}
	return buf;
}

/* ---- the tiles table: widest row per tile of everything ever inserted ---- */

struct table {
	struct tlog_tile *rows[TLOG_TILE_LEVELS]; /* by tile index; width 0: no row */
	uint64_t slots[TLOG_TILE_LEVELS];
	size_t inserts;
};

static struct table *table_new(void)
{
	struct table *tb = calloc(1, sizeof(*tb));
	unsigned level;

	assert_non_null(tb);
	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		tb->slots[level] = merkle_tile_count(MAX_LEAVES, level) + 1;
		tb->rows[level] = calloc(tb->slots[level], sizeof(struct tlog_tile));
		assert_non_null(tb->rows[level]);
	}
	return tb;
}

static void table_free(struct table *tb)
{
	unsigned level;

	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		free(tb->rows[level]);
	}
	free(tb);
}

/*
 * Inserts t's dirty tiles. Each must be a new row: strictly wider than the
 * widest row of its tile so far and agreeing with it (tiles only grow), and
 * listed in (level, index) order.
 */
static void table_insert_dirty(struct table *tb, const struct tlog *t)
{
	const struct tlog_tile *tile;
	size_t pos = 0, listed = 0;
	unsigned prev_level = 0;
	uint64_t prev_index = 0;

	while ((tile = tlog_dirty_next(t, &pos)) != NULL) {
		struct tlog_tile *row;

		assert_true(tile->level < TLOG_TILE_LEVELS);
		assert_true(tile->index < tb->slots[tile->level]);
		assert_true(tile->width >= 1 && tile->width <= MERKLE_TILE_WIDTH);
		assert_true(listed == 0 || tile->level > prev_level ||
			    (tile->level == prev_level && tile->index > prev_index));
		row = &tb->rows[tile->level][tile->index];
		assert_true(tile->width > row->width);
		if (row->width > 0) {
			assert_memory_equal(tile->hashes, row->hashes, (size_t)row->width * HASH);
		}
		*row = *tile;
		prev_level = tile->level;
		prev_index = tile->index;
		listed++;
		tb->inserts++;
	}
	assert_int_equal(listed, tlog_dirty_count(t));
}

/* The table holds exactly the tiles of m's tree, every hash right. */
static void table_check(const struct table *tb, const struct model *m)
{
	unsigned level;
	uint64_t n, i;

	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		uint8_t(*want)[HASH] = scratch_level(m, level * MERKLE_TILE_HEIGHT);
		uint64_t tiles = merkle_tile_count(m->size, level);

		for (n = 0; n < tb->slots[level]; n++) {
			const struct tlog_tile *row = &tb->rows[level][n];

			assert_int_equal(row->width,
					 n < tiles ? merkle_tile_width(m->size, level, n) : 0);
			assert_true(row->width == 0 || (row->level == level && row->index == n));
			for (i = 0; i < row->width; i++) {
				assert_memory_equal(row->hashes[i], want[n * MERKLE_TILE_WIDTH + i],
						    HASH);
			}
		}
		free(want);
	}
}

/* The rightmost row of each level of the tree of size leaves, as the sequencer reads them. */
static size_t table_edge(const struct table *tb, uint64_t size, struct tlog_tile *edge)
{
	unsigned level;
	size_t n = 0;

	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		uint64_t hashes = merkle_tile_level_hashes(size, level);

		if (hashes > 0) {
			edge[n] = tb->rows[level][(hashes - 1) / MERKLE_TILE_WIDTH];
			assert_int_equal(edge[n].width,
					 merkle_tile_width(size, level, edge[n].index));
			n++;
		}
	}
	return n;
}

/* ---- checks on a log ---- */

static struct tlog *log_new(void)
{
	struct tlog *t;

	assert_int_equal(tlog_new(ORIGIN, log_key, &t), CU_OK);
	return t;
}

static void check_root(const struct tlog *t, const struct model *m)
{
	uint8_t got[HASH], want[HASH];

	assert_int_equal(tlog_size(t), m->size);
	tlog_root(t, got);
	merkle_range_root(&m->range, want);
	assert_memory_equal(got, want, HASH);
}

/* Proofs of leaves [from, m->size) in the current tree, and a few smaller trees. */
static void check_proofs(const struct tlog *t, const struct model *m, uint64_t from)
{
	uint8_t proof[PROOF_BYTES], root[HASH];
	struct merkle_range older;
	uint64_t i, size;
	size_t count;

	tlog_root(t, root);
	for (i = from; i < m->size; i++) {
		assert_int_equal(tlog_inclusion_proof(t, i, m->size, proof, &count), CU_OK);
		assert_int_equal(
		    merkle_verify_inclusion(m->leaves[i], i, m->size, proof, count, root), CU_OK);
	}
	/* The batch's first leaf in every tree size of the batch (at most 300 of them). */
	merkle_range_init(&older);
	for (i = 0; i < from; i++) {
		assert_int_equal(merkle_range_append(&older, m->leaves[i], NULL, NULL), CU_OK);
	}
	for (size = from + 1; size <= m->size && size <= from + 300; size++) {
		assert_int_equal(merkle_range_append(&older, m->leaves[size - 1], NULL, NULL),
				 CU_OK);
		merkle_range_root(&older, root);
		assert_int_equal(tlog_inclusion_proof(t, from, size, proof, &count), CU_OK);
		assert_int_equal(
		    merkle_verify_inclusion(m->leaves[from], from, size, proof, count, root),
		    CU_OK);
	}
}

static void check_checkpoint(const struct tlog *t, const struct model *m)
{
	char note[TLOG_CHECKPOINT_MAX], err[TLOG_ERR_MAX];
	uint8_t want[HASH], root[HASH];
	struct note_opened opened;
	struct note_checkpoint cp;
	uint64_t size;
	size_t len;

	merkle_range_root(&m->range, want);
	assert_int_equal(tlog_checkpoint(t, note, sizeof(note), &len), CU_OK);
	assert_int_equal(strlen(note), len);
	assert_int_equal(note_open(note, len, &log_verifier, 1, &opened, err, sizeof(err)), CU_OK);
	assert_int_equal(opened.n_verified, 1);
	assert_int_equal(note_checkpoint_parse(opened.text, opened.text_len, &cp, err, sizeof(err)),
			 CU_OK);
	assert_int_equal(cp.origin_len, strlen(ORIGIN));
	assert_memory_equal(cp.origin, ORIGIN, cp.origin_len);
	assert_int_equal(cp.size, m->size);
	assert_memory_equal(cp.root, want, HASH);
	assert_int_equal(cp.extensions_len, 0);

	assert_int_equal(tlog_check_checkpoint(t, note, len, &size, root, err, sizeof(err)), CU_OK);
	assert_int_equal(size, m->size);
	assert_memory_equal(root, want, HASH);
}

/* Both logs list the same dirty tiles, hash for hash. */
static void check_same_dirty(const struct tlog *a, const struct tlog *b)
{
	const struct tlog_tile *ta, *tb;
	size_t pa = 0, pb = 0;

	do {
		ta = tlog_dirty_next(a, &pa);
		tb = tlog_dirty_next(b, &pb);
		assert_true((ta == NULL) == (tb == NULL));
		if (ta != NULL) {
			assert_int_equal(ta->level, tb->level);
			assert_int_equal(ta->index, tb->index);
			assert_int_equal(ta->width, tb->width);
			assert_memory_equal(ta->hashes, tb->hashes, (size_t)ta->width * HASH);
		}
	} while (ta != NULL);
}

/* Same size, root, dirty tiles and (Ed25519 being deterministic) checkpoint. */
static void check_same_log(const struct tlog *a, const struct tlog *b)
{
	char na[TLOG_CHECKPOINT_MAX], nb[TLOG_CHECKPOINT_MAX];
	uint8_t ra[HASH], rb[HASH];
	size_t la, lb;

	assert_int_equal(tlog_size(a), tlog_size(b));
	tlog_root(a, ra);
	tlog_root(b, rb);
	assert_memory_equal(ra, rb, HASH);
	check_same_dirty(a, b);
	assert_int_equal(tlog_checkpoint(a, na, sizeof(na), &la), CU_OK);
	assert_int_equal(tlog_checkpoint(b, nb, sizeof(nb), &lb), CU_OK);
	assert_string_equal(na, nb);
}

/* ---- tests ---- */

static void test_new_and_limits(void **state)
{
	static const char *const bad_origins[] = {"", "two words", "a+b", "tab\there", "new\nline"};
	char name[NOTE_NAME_MAX + 2], note[TLOG_CHECKPOINT_MAX];
	uint8_t proof[PROOF_BYTES], empty[HASH];
	struct tlog *t;
	size_t i, count, len;
	uint64_t index;

	(void)state;
	for (i = 0; i < sizeof(bad_origins) / sizeof(bad_origins[0]); i++) {
		assert_int_equal(tlog_new(bad_origins[i], log_key, &t), CU_ERR_INVALID);
		assert_null(t);
	}
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(tlog_new(name, log_key, &t), CU_ERR_INVALID);
	assert_int_equal(tlog_new(ORIGIN, NULL, &t), CU_ERR_INVALID);
	tlog_free(NULL);

	t = log_new();
	assert_int_equal(tlog_size(t), 0);
	tlog_root(t, empty);
	crypto_hash_sha256(proof, (const uint8_t *)"", 0);
	assert_memory_equal(empty, proof, HASH);
	assert_int_equal(tlog_dirty_count(t), 0);
	assert_int_equal(tlog_inclusion_proof(t, 0, 0, proof, &count), CU_ERR_INVALID);
	assert_int_equal(tlog_append(t, NULL, 1, &index), CU_ERR_INVALID);
	assert_int_equal(tlog_append(t, NULL, 0, &index), CU_OK); /* the empty entry */
	assert_int_equal(index, 0);
	assert_int_equal(tlog_inclusion_proof(t, 0, 1, proof, &count), CU_OK);
	assert_int_equal(count, 0);
	assert_int_equal(tlog_inclusion_proof(t, 1, 1, proof, &count), CU_ERR_INVALID);
	assert_int_equal(tlog_inclusion_proof(t, 0, 2, proof, &count), CU_ERR_INVALID);
	assert_int_equal(tlog_checkpoint(t, note, 40, &len), CU_ERR_TOO_BIG);
	tlog_free(t);
}

/*
 * The sequencer's life: batches of awkward sizes, each stored and committed.
 * Sizes cross tile boundaries at levels 0 and 1 both mid-batch and exactly.
 */
static void test_batches(void **state)
{
	static const uint64_t batches[] = {1, 7, 255, 256, 257, 1000, 3000,
					   1, 2, 513, 64,  700, 0,    1};
	struct model *m = model_new();
	struct table *tb = table_new();
	struct tlog *t = log_new();
	uint8_t proof[PROOF_BYTES];
	size_t i, count;

	(void)state;
	for (i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		uint64_t from = m->size;

		append_batch(t, m, SALT_MAIN, batches[i]);
		check_root(t, m);
		check_proofs(t, m, from);
		check_checkpoint(t, m);
		table_insert_dirty(tb, t);
		table_check(tb, m);
		tlog_commit(t);
		assert_int_equal(tlog_dirty_count(t), 0);
		check_root(t, m);
	}
	/* Memory is bounded: leaf 0's tile was dropped long ago. */
	assert_int_equal(tlog_inclusion_proof(t, 0, m->size, proof, &count), CU_ERR_NOT_FOUND);
	assert_int_equal(count, 0);
	tlog_free(t);
	table_free(tb);
	model_free(m);
}

/* Appends `good` after a failed batch of `failed` entries on top of `base`. */
static void rollback_case(uint64_t base, uint64_t failed, uint64_t good)
{
	struct tlog *t = log_new(), *never = log_new();
	struct model *m = model_new();

	append_batch(t, NULL, SALT_MAIN, base);
	append_batch(never, m, SALT_MAIN, base);
	tlog_commit(t);
	tlog_commit(never);
	tlog_rollback(t); /* nothing to undo */
	check_same_log(t, never);

	append_batch(t, NULL, SALT_FAILED, failed);
	tlog_rollback(t);
	check_root(t, m);
	assert_int_equal(tlog_dirty_count(t), 0);
	check_same_log(t, never);

	append_batch(t, NULL, SALT_MAIN, good);
	append_batch(never, m, SALT_MAIN, good);
	check_same_log(t, never);
	check_root(t, m);
	check_proofs(t, m, base);
	tlog_commit(t);
	tlog_commit(never);
	check_same_log(t, never);
	tlog_free(t);
	tlog_free(never);
	model_free(m);
}

static void test_rollback(void **state)
{
	(void)state;
	rollback_case(0, 1, 1);
	rollback_case(0, 600, 3);
	rollback_case(0, 5, 0);
	rollback_case(300, 212, 2);    /* the failed batch fills tile 0/1 exactly */
	rollback_case(511, 1, 1);      /* ... completes node (8, 1) */
	rollback_case(65530, 300, 10); /* ... opens tile level 2 */
}

/*
 * Log A appends everything; at each size log B is loaded from A's stored
 * edge rows, then both append the same entries and must agree on root, dirty
 * rows and proofs, before A rolls back and goes on.
 */
static void test_load(void **state)
{
	static const uint64_t sizes[] = {0, 1, 255, 256, 257, 65535, 65536, 65537, 70000};
	static struct tlog_tile edge[TLOG_TILE_LEVELS];
	struct table *tb = table_new();
	struct tlog *a = log_new(), *b = log_new();
	uint8_t root[HASH], pa[PROOF_BYTES], pb[PROOF_BYTES];
	char err[TLOG_ERR_MAX];
	size_t i, n, ca, cb;
	uint64_t leaf;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		append_batch(a, NULL, SALT_MAIN, sizes[i] - tlog_size(a));
		table_insert_dirty(tb, a);
		tlog_commit(a);

		n = table_edge(tb, sizes[i], edge);
		tlog_root(a, root);
		assert_int_equal(
		    tlog_load(b, sizes[i], n > 0 ? edge : NULL, n, root, err, sizeof(err)), CU_OK);
		check_same_log(a, b);

		append_batch(a, NULL, SALT_AFTER, 300);
		append_batch(b, NULL, SALT_AFTER, 300);
		check_same_log(a, b);
		for (leaf = sizes[i]; leaf < tlog_size(a); leaf++) {
			assert_int_equal(tlog_inclusion_proof(a, leaf, tlog_size(a), pa, &ca),
					 CU_OK);
			assert_int_equal(tlog_inclusion_proof(b, leaf, tlog_size(b), pb, &cb),
					 CU_OK);
			assert_int_equal(ca, cb);
			assert_memory_equal(pa, pb, ca * HASH);
		}
		tlog_commit(b);
		append_batch(b, NULL, SALT_AFTER, 1); /* B goes on from its own commit */
		tlog_rollback(a);
		assert_int_equal(tlog_size(a), sizes[i]);
	}
	tlog_free(a);
	tlog_free(b);
	table_free(tb);
}

/* Expects tlog_load to refuse with a reason containing `why` and t to be unchanged. */
static void expect_refused(struct tlog *t, uint64_t size, const struct tlog_tile *tiles, size_t n,
			   const uint8_t *root, const char *why)
{
	char err[TLOG_ERR_MAX] = "";
	uint8_t before[HASH], after[HASH];
	uint64_t size_before = tlog_size(t);

	tlog_root(t, before);
	assert_int_equal(tlog_load(t, size, tiles, n, root, err, sizeof(err)), CU_ERR_INVALID);
	if (strstr(err, why) == NULL) {
		fail_msg("load of size %" PRIu64 ": error \"%s\" does not say \"%s\"", size, err,
			 why);
	}
	assert_int_equal(tlog_size(t), size_before);
	tlog_root(t, after);
	assert_memory_equal(before, after, HASH);
}

/* Builds the stored edge of a log of size leaves and its root. */
static size_t build_edge(uint64_t size, struct tlog_tile *edge, uint8_t root[HASH])
{
	struct table *tb = table_new();
	struct tlog *t = log_new();
	size_t n;

	append_batch(t, NULL, SALT_MAIN, size);
	table_insert_dirty(tb, t);
	tlog_root(t, root);
	n = table_edge(tb, size, edge);
	tlog_free(t);
	table_free(tb);
	return n;
}

static void test_load_malformed(void **state)
{
	static struct tlog_tile good[TLOG_TILE_LEVELS], bad[TLOG_TILE_LEVELS + 1];
	static struct tlog_tile full[TLOG_TILE_LEVELS];
	uint8_t root[HASH], full_root[HASH], other[HASH];
	char err[TLOG_ERR_MAX];
	struct tlog *t = log_new();
	size_t n, n_full;

	(void)state;
	/* 70000 leaves: tiles 0/273 (width 112), 1/1 (width 17), 2/0 (width 1). */
	n = build_edge(70000, good, root);
	assert_int_equal(n, 3);
	assert_int_equal(good[0].width, 112);
	/* t holds something else, which every refused load must leave alone. */
	append_batch(t, NULL, SALT_FAILED, 5);
	tlog_commit(t);

	memcpy(bad, good, sizeof(good));
	bad[0].width = 111;
	expect_refused(t, 70000, bad, n, root, "has width 111");
	bad[0].width = 0;
	expect_refused(t, 70000, bad, n, root, "has width 0");
	bad[0].width = 257;
	expect_refused(t, 70000, bad, n, root, "has width 257");

	memcpy(bad, good, sizeof(good));
	expect_refused(t, 70000, bad, n - 1, root, "no tile for tile level 2");
	expect_refused(t, 70000, bad + 1, n - 1, root, "no tile for tile level 0");
	expect_refused(t, 70000, NULL, 2, root, "no tiles given");

	bad[0].index = 272;
	bad[0].width = 256;
	expect_refused(t, 70000, bad, n, root, "not the rightmost");
	bad[0].index = 274;
	expect_refused(t, 70000, bad, n, root, "not the rightmost");

	memcpy(bad, good, sizeof(good));
	bad[n] = good[2];
	expect_refused(t, 70000, bad, n + 1, root, "two tiles at tile level 2");
	bad[n].level = 3;
	expect_refused(t, 70000, bad, n + 1, root, "has no hashes at tile level 3");
	bad[n].level = 99;
	expect_refused(t, 70000, bad, n + 1, root, "has no hashes at tile level 99");
	expect_refused(t, 0, good, 1, NULL, "has no hashes at tile level 0");

	/* A changed hash of a partial tile changes the root: the checkpoint catches it. */
	memcpy(bad, good, sizeof(good));
	bad[0].hashes[50][7] ^= 1;
	expect_refused(t, 70000, bad, n, root, "have root");
	bad[0].hashes[50][7] ^= 1;
	bad[1].hashes[16][0] ^= 0x80;
	expect_refused(t, 70000, bad, n, root, "have root");
	/* The right tiles, but the checkpoint of another size. */
	build_edge(69999, bad, other);
	expect_refused(t, 70000, good, n, other, "have root");

	/* 65536 leaves: tiles 0/255 and 1/0 full, 2/0 width 1; a full tile is
	 * not in the compact range, so it is checked against the node above it
	 * even with no checkpoint at hand. */
	n_full = build_edge(65536, full, full_root);
	assert_int_equal(n_full, 3);
	assert_int_equal(full[0].width, 256);
	assert_int_equal(full[1].width, 256);
	memcpy(bad, full, sizeof(full));
	bad[0].hashes[0][0] ^= 1;
	expect_refused(t, 65536, bad, n_full, NULL,
		       "tile 0/255 does not hash to its node in tile 1/0");
	memcpy(bad, full, sizeof(full));
	bad[1].hashes[3][31] ^= 1;
	expect_refused(t, 65536, bad, n_full, NULL,
		       "tile 1/0 does not hash to its node in tile 2/0");
	memcpy(bad, full, sizeof(full));
	bad[2].hashes[0][9] ^= 1;
	expect_refused(t, 65536, bad, n_full, full_root,
		       "tile 1/0 does not hash to its node in tile 2/0");

	/* And the good ones load, with or without the root. */
	assert_int_equal(tlog_load(t, 70000, good, n, root, err, sizeof(err)), CU_OK);
	assert_int_equal(tlog_load(t, 65536, full, n_full, NULL, err, sizeof(err)), CU_OK);
	tlog_root(t, other);
	assert_memory_equal(other, full_root, HASH);
	tlog_free(t);
}

/* The far end of the tree: a loaded log of 2^64 - 2 leaves takes one more, then refuses. */
static void test_full_tree(void **state)
{
	static struct tlog_tile edge[TLOG_TILE_LEVELS];
	const uint64_t size = UINT64_MAX - 1;
	uint8_t root[HASH], leaf[HASH], proof[PROOF_BYTES], before[HASH];
	char err[TLOG_ERR_MAX];
	struct tlog *t = log_new();
	unsigned level;
	uint64_t index;
	size_t count;

	(void)state;
	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		uint64_t hashes = merkle_tile_level_hashes(size, level);

		edge[level].level = level;
		edge[level].index = (hashes - 1) / MERKLE_TILE_WIDTH;
		edge[level].width = merkle_tile_width(size, level, edge[level].index);
		randombytes_buf(edge[level].hashes, sizeof(edge[level].hashes));
	}
	assert_int_equal(edge[0].width, 254);
	assert_int_equal(tlog_load(t, size, edge, TLOG_TILE_LEVELS, NULL, err, sizeof(err)), CU_OK);
	tlog_root(t, before);

	assert_int_equal(tlog_append(t, (const uint8_t *)"last", 4, &index), CU_OK);
	assert_int_equal(index, size);
	assert_int_equal(tlog_size(t), UINT64_MAX);
	merkle_leaf_hash((const uint8_t *)"last", 4, leaf);
	tlog_root(t, root);
	assert_int_equal(tlog_inclusion_proof(t, index, UINT64_MAX, proof, &count), CU_OK);
	/* Leaf 2^64 - 2 is alone at level 0, then a right child up to level 63. */
	assert_int_equal(count, 63);
	assert_int_equal(merkle_verify_inclusion(leaf, index, UINT64_MAX, proof, count, root),
			 CU_OK);
	assert_int_equal(tlog_dirty_count(t), 1); /* no node above the leaf completes */

	assert_int_equal(tlog_append(t, (const uint8_t *)"more", 4, &index), CU_ERR_TOO_BIG);
	assert_int_equal(tlog_size(t), UINT64_MAX);
	tlog_rollback(t);
	assert_int_equal(tlog_size(t), size);
	tlog_root(t, root);
	assert_memory_equal(root, before, HASH);
	assert_int_equal(tlog_dirty_count(t), 0);
	tlog_free(t);
}

/* Signs a checkpoint body with the log's key under the log's name. */
static size_t sign_body(const char *body, char *note, size_t note_size)
{
	size_t len;

	assert_int_equal(note_sign(body, strlen(body), ORIGIN, log_key, note, note_size, &len),
			 CU_OK);
	return len;
}

static void test_check_checkpoint(void **state)
{
	char note[TLOG_CHECKPOINT_MAX + 64], err[TLOG_ERR_MAX], body[NOTE_CHECKPOINT_TEXT_MAX];
	uint8_t root[HASH], got[HASH];
	struct cu_key *other_key;
	struct tlog *t = log_new(), *other;
	uint64_t size;
	size_t len, body_len;
	char *at;

	(void)state;
	append_batch(t, NULL, SALT_MAIN, 1234);
	tlog_root(t, root);
	assert_int_equal(tlog_checkpoint(t, note, sizeof(note), &len), CU_OK);
	assert_int_equal(tlog_check_checkpoint(t, note, len, &size, got, err, sizeof(err)), CU_OK);
	assert_int_equal(size, 1234);
	assert_memory_equal(got, root, HASH);

	/* The size changed after signing. */
	at = strstr(note, "1234");
	assert_non_null(at);
	at[3] = '5';
	assert_int_equal(tlog_check_checkpoint(t, note, len, &size, got, err, sizeof(err)),
			 CU_ERR_SIGNATURE);

	/* Signed by another key under the same name. */
	assert_int_equal(key_generate(&other_key), CU_OK);
	assert_int_equal(tlog_new(ORIGIN, other_key, &other), CU_OK);
	append_batch(other, NULL, SALT_MAIN, 3);
	assert_int_equal(tlog_checkpoint(other, note, sizeof(note), &len), CU_OK);
	assert_int_equal(tlog_check_checkpoint(t, note, len, &size, got, err, sizeof(err)),
			 CU_ERR_NOT_FOUND);
	tlog_free(other);
	key_free(other_key);

	/* Our signature over another log's checkpoint, or over no checkpoint at all. */
	assert_int_equal(
	    note_checkpoint_format("other.example/log", 5, root, body, sizeof(body), &body_len),
	    CU_OK);
	len = sign_body(body, note, sizeof(note));
	assert_int_equal(tlog_check_checkpoint(t, note, len, &size, got, err, sizeof(err)),
			 CU_ERR_INVALID);
	assert_non_null(strstr(err, "other.example/log"));
	len = sign_body(ORIGIN "\nfive\nAAAA\n", note, sizeof(note));
	assert_int_equal(tlog_check_checkpoint(t, note, len, &size, got, err, sizeof(err)),
			 CU_ERR_INVALID);
	assert_int_equal(tlog_check_checkpoint(t, "garbage\n", 8, &size, got, err, sizeof(err)),
			 CU_ERR_INVALID);
	tlog_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_and_limits),   cmocka_unit_test(test_batches),
	    cmocka_unit_test(test_rollback),	     cmocka_unit_test(test_load),
	    cmocka_unit_test(test_load_malformed),   cmocka_unit_test(test_full_tree),
	    cmocka_unit_test(test_check_checkpoint),
	};
	int rc;

	if (sodium_init() < 0 || key_generate(&log_key) != CU_OK) {
		return 1;
	}
	if (note_verifier_init(&log_verifier, ORIGIN, NOTE_TYPE_ED25519, log_key->pk) != CU_OK) {
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	key_free(log_key);
	return rc;
}
