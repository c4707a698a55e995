/* Unit tests for daemon/tilecache.c: every inner node of a cached full
 * tile equals the subtree hash computed from scratch; least recently used
 * tiles leave first; a cache of 0 keeps nothing; bad ranges miss. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "merkle.h"
#include "tilecache.h"

static uint8_t hashes[MERKLE_TILE_WIDTH * MERKLE_HASH_SIZE];

/* RFC 6962 root of hashes [first, first + count), count a power of two. */
static void subtree(unsigned first, unsigned count, uint8_t out[MERKLE_HASH_SIZE])
{
	struct merkle_range r;

	merkle_range_init(&r);
	for (unsigned i = first; i < first + count; i++)
		assert_int_equal(
		    merkle_range_append(&r, hashes + (size_t)i * MERKLE_HASH_SIZE, NULL, NULL),
		    CU_OK);
	merkle_range_root(&r, out);
}

static void test_every_node(void **state)
{
	struct tilecache *c = tilecache_new(4);
	struct tilecache_stats st;
	uint8_t got[MERKLE_HASH_SIZE], want[MERKLE_HASH_SIZE];

	(void)state;
	assert_non_null(c);
	assert_false(tilecache_node(c, 0, 7, 0, 1, got));
	tilecache_put(c, 0, 7, hashes, MERKLE_TILE_WIDTH);
	assert_true(tilecache_node(c, 0, 7, 0, 0, NULL)); /* present */
	for (unsigned count = 1; count <= MERKLE_TILE_WIDTH; count *= 2) {
		for (unsigned first = 0; first < MERKLE_TILE_WIDTH; first += count) {
			subtree(first, count, want);
			assert_true(tilecache_node(c, 0, 7, first, count, got));
			assert_memory_equal(got, want, MERKLE_HASH_SIZE);
		}
	}
	/* Another level or index is another tile. */
	assert_false(tilecache_node(c, 1, 7, 0, 1, got));
	assert_false(tilecache_node(c, 0, 8, 0, 1, got));
	/* Ranges that are not a subtree of the tile. */
	assert_false(tilecache_node(c, 0, 7, 1, 2, got));
	assert_false(tilecache_node(c, 0, 7, 0, 3, got));
	assert_false(tilecache_node(c, 0, 7, 0, 512, got));
	assert_false(tilecache_node(c, 0, 7, 256, 1, got));
	tilecache_stats(c, &st);
	assert_int_equal(st.tiles, 1);
	assert_int_equal(st.hits, 511);
	assert_int_equal(st.misses, 7); /* 3 absent tiles, 4 bad ranges */
	tilecache_free(c);
}

static void test_lru(void **state)
{
	struct tilecache *c = tilecache_new(2);
	uint8_t got[MERKLE_HASH_SIZE];

	(void)state;
	tilecache_put(c, 1, 1, hashes, MERKLE_TILE_WIDTH);
	tilecache_put(c, 1, 2, hashes, MERKLE_TILE_WIDTH);
	assert_true(tilecache_node(c, 1, 1, 0, 1, got));   /* 1 is now the most recent */
	tilecache_put(c, 1, 3, hashes, MERKLE_TILE_WIDTH); /* evicts 2 */
	assert_true(tilecache_node(c, 1, 1, 0, 0, NULL));
	assert_false(tilecache_node(c, 1, 2, 0, 0, NULL));
	assert_true(tilecache_node(c, 1, 3, 0, 0, NULL));
	tilecache_put(c, 1, 3, hashes, MERKLE_TILE_WIDTH); /* already there: nothing changes */
	tilecache_put(c, 2, 0, hashes, MERKLE_TILE_WIDTH); /* evicts 1, the least recent */
	assert_false(tilecache_node(c, 1, 1, 0, 0, NULL));
	assert_true(tilecache_node(c, 2, 0, 0, 0, NULL));
	/* A level-0 tile enters cold: the next tile in evicts it, not the hot ones. */
	tilecache_put(c, 0, 9, hashes, MERKLE_TILE_WIDTH); /* evicts 1/3, then sits cold */
	assert_false(tilecache_node(c, 1, 3, 0, 0, NULL));
	tilecache_put(c, 0, 10, hashes, MERKLE_TILE_WIDTH); /* evicts 0/9, not 2/0 */
	assert_false(tilecache_node(c, 0, 9, 0, 0, NULL));
	assert_true(tilecache_node(c, 2, 0, 0, 0, NULL));
	assert_true(tilecache_node(c, 0, 10, 0, 1, got));  /* asked again: now hot */
	tilecache_put(c, 1, 4, hashes, MERKLE_TILE_WIDTH); /* evicts 2/0, the least recent */
	assert_false(tilecache_node(c, 2, 0, 0, 0, NULL));
	assert_true(tilecache_node(c, 0, 10, 0, 0, NULL));
	tilecache_free(c);
}

/* A partial row serves the subtrees inside its width; a wider row replaces it. */
static void test_partial(void **state)
{
	struct tilecache *c = tilecache_new(4);
	uint8_t got[MERKLE_HASH_SIZE], want[MERKLE_HASH_SIZE];

	(void)state;
	tilecache_put(c, 1, 5, hashes, 100);
	for (unsigned count = 1; count <= MERKLE_TILE_WIDTH; count *= 2) {
		for (unsigned first = 0; first < MERKLE_TILE_WIDTH; first += count) {
			bool inside = first + count <= 100;

			assert_int_equal(tilecache_node(c, 1, 5, first, count, got), inside);
			if (inside) {
				subtree(first, count, want);
				assert_memory_equal(got, want, MERKLE_HASH_SIZE);
			}
		}
	}
	tilecache_put(c, 1, 5, hashes, 64); /* narrower: changes nothing */
	assert_true(tilecache_node(c, 1, 5, 96, 4, got));
	tilecache_put(c, 1, 5, hashes, 200);
	assert_true(tilecache_node(c, 1, 5, 128, 64, got));
	subtree(128, 64, want);
	assert_memory_equal(got, want, MERKLE_HASH_SIZE);
	assert_false(tilecache_node(c, 1, 5, 128, 128, got));
	tilecache_put(c, 1, 6, hashes, 0);   /* no such row: ignored */
	tilecache_put(c, 1, 6, hashes, 257); /* nor this */
	assert_false(tilecache_node(c, 1, 6, 0, 0, NULL));
	tilecache_free(c);
}

static void test_zero(void **state)
{
	struct tilecache *c = tilecache_new(0);
	struct tilecache_stats st;

	(void)state;
	tilecache_put(c, 0, 0, hashes, MERKLE_TILE_WIDTH);
	assert_false(tilecache_node(c, 0, 0, 0, 0, NULL));
	tilecache_stats(c, &st);
	assert_int_equal(st.tiles, 0);
	tilecache_free(c);
	tilecache_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_node),
	    cmocka_unit_test(test_lru),
	    cmocka_unit_test(test_partial),
	    cmocka_unit_test(test_zero),
	};

	if (sodium_init() < 0)
		return 1;
	randombytes_buf(hashes, sizeof(hashes));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
