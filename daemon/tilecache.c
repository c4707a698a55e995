/*
 * tilecache.c - full log tiles with their inner nodes (see tilecache.h).
 *
 * Each entry holds the 511 nodes of its tile, level by level: the 256
 * stored hashes, then the 128 above them, ... up to the tile's root; of a
 * partial tile, those of the subtrees inside its width.
 * Subtree level k (count 2^k) starts at 512 - (512 >> k). Entries are in
 * an hmap by (level, index) and on an LRU list (lru.h), most recently
 * used first.
 */
#include "tilecache.h"

#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "lru.h"

#define NODES (2 * MERKLE_TILE_WIDTH - 1)

struct tile_key {
	uint64_t index;
	uint32_t level;
	uint32_t zero; /* padding, always 0: the key is hashed as bytes */
};

struct entry {
	struct lru_node lru; /* first: a node is its entry (lru.h) */
	struct tile_key key;
	unsigned width; /* stored hashes; nodes of subtrees inside [0, width) are set */
	uint8_t nodes[NODES][MERKLE_HASH_SIZE];
};

struct tilecache {
	struct hmap *map;
	struct lru lru;
	size_t max, count;
	uint64_t hits, misses;
};

struct tilecache *tilecache_new(size_t max)
{
	struct tilecache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->max = max;
	c->map = hmap_new();
	if (c->map == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void tilecache_free(struct tilecache *c)
{
	if (c == NULL)
		return;
	hmap_free(c->map, free);
	free(c);
}

static struct tile_key key_of(unsigned level, uint64_t index)
{
	struct tile_key k = {.index = index, .level = level, .zero = 0};

	return k;
}

/* Index in nodes[] of subtree [first, first + count). */
static size_t node_at(unsigned first, unsigned count)
{
	unsigned k = 0;

	while ((1u << k) < count)
		k++;
	return (size_t)(2 * MERKLE_TILE_WIDTH - (2 * MERKLE_TILE_WIDTH >> k)) + first / count;
}

bool tilecache_node(struct tilecache *c, unsigned level, uint64_t index, unsigned first,
		    unsigned count, uint8_t out[MERKLE_HASH_SIZE])
{
	struct tile_key k = key_of(level, index);
	struct entry *e = c != NULL ? hmap_get(c->map, &k, sizeof(k)) : NULL;

	if (e == NULL) {
		if (c != NULL && out != NULL)
			c->misses++;
		return false;
	}
	if (out == NULL)
		return first + count <= e->width;
	if (count == 0 || count > MERKLE_TILE_WIDTH || (count & (count - 1)) != 0 ||
	    first % count != 0 || first + count > e->width) {
		if (out != NULL)
			c->misses++;
		return false;
	}
	memcpy(out, e->nodes[node_at(first, count)], MERKLE_HASH_SIZE);
	lru_touch(&c->lru, &e->lru);
	c->hits++;
	return true;
}

/* Sets e's nodes from width stored hashes: every subtree inside [0, width). */
static void fill_nodes(struct entry *e, const uint8_t *hashes, unsigned width)
{
	size_t below = 0, here = MERKLE_TILE_WIDTH;

	e->width = width;
	memcpy(e->nodes, hashes, (size_t)width * MERKLE_HASH_SIZE);
	/* Node i of a level is below[2i] + below[2i+1], when both are inside the width. */
	for (size_t n = MERKLE_TILE_WIDTH / 2, span = 2; n >= 1; n /= 2, span *= 2) {
		for (size_t i = 0; i < n && (i + 1) * span <= width; i++)
			merkle_node_hash(e->nodes[below + 2 * i], e->nodes[below + 2 * i + 1],
					 e->nodes[below + here + i]);
		below += here;
		here = n;
	}
}

void tilecache_put(struct tilecache *c, unsigned level, uint64_t index, const uint8_t *hashes,
		   unsigned width)
{
	struct tile_key k = key_of(level, index);
	struct entry *e;

	if (c == NULL || c->max == 0 || width == 0 || width > MERKLE_TILE_WIDTH)
		return;
	if ((e = hmap_get(c->map, &k, sizeof(k))) != NULL) {
		if (e->width < width) /* the tile grew: a wider row of the same tile */
			fill_nodes(e, hashes, width);
		return;
	}
	if (c->count == c->max) {
		e = (struct entry *)c->lru.tail;
		lru_unlink(&c->lru, &e->lru);
		hmap_remove(c->map, &e->key, sizeof(e->key));
		c->count--;
	} else if ((e = malloc(sizeof(*e))) == NULL) {
		return;
	}
	e->key = k;
	fill_nodes(e, hashes, width);
	if (hmap_put(c->map, &e->key, sizeof(e->key), e, NULL) != CU_OK) {
		free(e);
		return;
	}
	/*
	 * Tiles of level 0 (one per 256 entries: most are read once, by a proof
	 * of a random old entry) enter at the cold end, and become hot only if
	 * asked for again; tiles above, few and on every proof's path, enter
	 * hot. A stream of one-off level-0 tiles then never evicts them.
	 */
	if (level == 0)
		lru_push_back(&c->lru, &e->lru);
	else
		lru_push_front(&c->lru, &e->lru);
	c->count++;
}

void tilecache_stats(const struct tilecache *c, struct tilecache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return;
	out->tiles = c->count;
	out->hits = c->hits;
	out->misses = c->misses;
}
