/*
 * tilecache.h - full log tiles with their inner nodes, for proofs.
 *
 * A proof needs, from each tile it crosses, the hash of a subtree of 1 to
 * 128 of the tile's hashes: folded from the stored row, up to 255 SHA-256
 * per tile and three tiles per proof on a log of 10,000,000 entries. A
 * full tile (256 hashes) never changes once stored, so the cache keeps
 * full tiles with every inner node computed once (511 hashes, 16 KiB),
 * least recently used first out. Partial tiles on the right edge change
 * with every batch and are not cached.
 */
#ifndef CUSTODY_TILECACHE_H
#define CUSTODY_TILECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "merkle.h"

struct tilecache;

/* A cache of at most max tiles (0: caches nothing), or NULL when out of memory. */
struct tilecache *tilecache_new(size_t max);

/* Frees the cache; accepts NULL. */
void tilecache_free(struct tilecache *c);

/*
 * Is full tile (level, index) cached? If so, and out is not NULL, writes
 * the hash of its positions [first, first + count) (count a power of two
 * up to 256, first a multiple of it) and counts a hit.
 */
bool tilecache_node(struct tilecache *c, unsigned level, uint64_t index, unsigned first,
		    unsigned count, uint8_t out[MERKLE_HASH_SIZE]);

/*
 * Adds full tile (level, index) from its 256 stored hashes, computing its
 * inner nodes; evicts the least recently used tile if full. Out of memory
 * only caches less.
 */
void tilecache_put(struct tilecache *c, unsigned level, uint64_t index,
		   const uint8_t hashes[MERKLE_TILE_WIDTH * MERKLE_HASH_SIZE]);

/* Tiles cached, and lookups that hit or missed since start. */
struct tilecache_stats {
	size_t tiles;
	uint64_t hits, misses;
};
void tilecache_stats(const struct tilecache *c, struct tilecache_stats *out);

#endif
