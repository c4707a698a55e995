/*
 * tilecache.h - full log tiles with their inner nodes, for proofs.
 *
 * A proof needs, from each tile it crosses, the hash of a subtree of 1 to
 * 128 of the tile's hashes: folded from the stored row, up to 255 SHA-256
 * per tile and three tiles per proof on a log of 10,000,000 entries. A
 * stored tile row never changes (a tile that grows gets a new, wider row,
 * whose first hashes are the narrower row's), so the cache keeps tiles
 * with every inner node computed once (up to 511 hashes, 16 KiB), least
 * recently used first out: full tiles, and the partial tiles of the right
 * edge at the widest row seen, which serve every proof of a tree no wider.
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
 * Does the cached tile (level, index) hold positions [first, first +
 * count) (count a power of two up to 256, first a multiple of it)? If so,
 * and out is not NULL, writes the hash of that subtree and counts a hit
 * (out NULL: only asks, counting nothing).
 */
bool tilecache_node(struct tilecache *c, unsigned level, uint64_t index, unsigned first,
		    unsigned count, uint8_t out[MERKLE_HASH_SIZE]);

/*
 * Adds tile (level, index) from a stored row of width hashes (1..256),
 * computing the inner nodes inside that width; a wider row of a cached
 * tile replaces its narrower one. Evicts the least recently used tile if
 * full. Out of memory only caches less.
 */
void tilecache_put(struct tilecache *c, unsigned level, uint64_t index, const uint8_t *hashes,
		   unsigned width);

/* Tiles cached, and lookups that hit or missed since start. */
struct tilecache_stats {
	size_t tiles;
	uint64_t hits, misses;
};
void tilecache_stats(const struct tilecache *c, struct tilecache_stats *out);

#endif
