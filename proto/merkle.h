/*
 * merkle.h - the verifiable log's Merkle tree (DESIGN.md section 5): RFC 6962
 * / RFC 9162 hashing, compact ranges, inclusion and consistency proofs, and
 * the C2SP tlog-tiles layout (https://c2sp.org/tlog-tiles) the tree hashes
 * are stored in.
 *
 * Node (level, index) is the complete subtree of 2^level leaves starting at
 * leaf index * 2^level; a tree of size n has n >> level complete nodes at
 * each level, and they never change as the tree grows. Only complete nodes
 * are ever stored or asked for: hashes of the incomplete right edge are
 * computed from them (as transparency-dev/merkle does).
 *
 * Pure: no I/O and no allocation. Stored hashes reach this module through
 * the caller's merkle_get_fn and leave it through merkle_visit_fn.
 */
#ifndef CUSTODY_MERKLE_H
#define CUSTODY_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"

#define MERKLE_HASH_SIZE 32
/* Levels a tree of up to 2^64 - 1 leaves can have below its root. */
#define MERKLE_MAX_LEVELS 64
/*
 * Longest proof: an inclusion proof has at most 64 hashes (one per level),
 * a consistency proof one more (the subtree it starts from, e.g. sizes 3
 * and 2^63 + 1). Proof buffers are MERKLE_PROOF_MAX * MERKLE_HASH_SIZE bytes.
 */
#define MERKLE_PROOF_MAX 65

/* SHA-256(0x00 || data): the hash of a log entry. data may be NULL if len is 0. */
void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_SIZE]);

/* SHA-256(0x01 || left || right). out may be the same buffer as left or right. */
void merkle_node_hash(const uint8_t left[MERKLE_HASH_SIZE], const uint8_t right[MERKLE_HASH_SIZE],
		      uint8_t out[MERKLE_HASH_SIZE]);

/*
 * Called for each complete node a merkle_range_append creates, lowest level
 * first (the leaf itself at level 0), so the caller can store the hashes it
 * needs (tiles keep levels 0, 8, 16, ...). hash is borrowed for the call.
 * Cannot fail: collect into memory and write it out after the append.
 */
typedef void (*merkle_visit_fn)(void *arg, unsigned level, uint64_t index,
				const uint8_t hash[MERKLE_HASH_SIZE]);

/*
 * Writes the hash of complete node (level, index) into out. Returns CU_OK or
 * a negative cu_err (e.g. CU_ERR_NOT_FOUND), which the caller of the
 * function that took the callback gets back unchanged.
 */
typedef int (*merkle_get_fn)(void *arg, unsigned level, uint64_t index,
			     uint8_t out[MERKLE_HASH_SIZE]);

/*
 * A compact range [0, size): the hashes of the complete subtrees that the
 * set bits of size name along the tree's right edge, O(log n) of them.
 * Enough to append leaves and compute the root. Caller-allocated (2 KiB).
 */
struct merkle_range {
	uint64_t size;
	/* hashes[l] is node (l, (size >> l) - 1) when bit l of size is set. */
	uint8_t hashes[MERKLE_MAX_LEVELS][MERKLE_HASH_SIZE];
};

/* Makes range the empty tree. */
void merkle_range_init(struct merkle_range *range);

/*
 * Appends leaf (a leaf hash, see merkle_leaf_hash) as leaf number
 * range->size, calling visit (if not NULL) for every node that becomes
 * complete. Returns CU_ERR_TOO_BIG if the tree already has 2^64 - 1 leaves.
 */
CU_MUST_USE int merkle_range_append(struct merkle_range *range,
				    const uint8_t leaf[MERKLE_HASH_SIZE], merkle_visit_fn visit,
				    void *arg);

/* The tree's root (RFC 6962 MTH); for size 0, SHA-256 of the empty string. */
void merkle_range_root(const struct merkle_range *range, uint8_t out[MERKLE_HASH_SIZE]);

/*
 * Rebuilds the range of a tree of size leaves from stored nodes, asking get
 * for one node per set bit of size. On failure returns get's error and
 * leaves range empty.
 */
CU_MUST_USE int merkle_range_load(struct merkle_range *range, uint64_t size, merkle_get_fn get,
				  void *arg);

/*
 * RFC 9162 section 2.1.3.1 inclusion proof of leaf index in the tree of
 * size leaves, bottom-up, into proof (room for MERKLE_PROOF_MAX hashes);
 * *count gets the number of hashes. get must serve every complete node of
 * that tree. Returns CU_ERR_INVALID if index >= size, or get's error (then
 * *count is 0).
 */
CU_MUST_USE int merkle_inclusion_proof(uint64_t index, uint64_t size, merkle_get_fn get, void *arg,
				       uint8_t *proof, size_t *count);

/*
 * The right-edge hashes of one tree, folded once and reused by every
 * inclusion proof in it: the proofs of leaves near the end of a tree (a
 * batch's receipts) each need the same few, and each costs up to one node
 * hash per set bit of the size. Keyed by size only: whoever holds one
 * empties it (merkle_edge_reset) whenever the tree may have changed
 * without changing size, as after a rollback.
 */
struct merkle_edge {
	uint64_t size;	/* the tree the hashes belong to */
	uint64_t known; /* bit L: hash[L] holds the edge hash at level L */
	uint8_t hash[64][MERKLE_HASH_SIZE];
};

static inline void merkle_edge_reset(struct merkle_edge *edge)
{
	edge->size = 0;
	edge->known = 0;
}

/* merkle_inclusion_proof, taking and keeping right-edge hashes in edge. */
CU_MUST_USE int merkle_inclusion_proof_edge(uint64_t index, uint64_t size, merkle_get_fn get,
					    void *arg, struct merkle_edge *edge, uint8_t *proof,
					    size_t *count);

/*
 * RFC 9162 section 2.1.4.1 consistency proof between the trees of size1 and
 * size2 leaves, like merkle_inclusion_proof. Equal sizes give an empty
 * proof. Returns CU_ERR_INVALID if size1 is 0 (nothing to prove from an
 * empty tree; merkle_verify_consistency refuses it) or size1 > size2.
 */
CU_MUST_USE int merkle_consistency_proof(uint64_t size1, uint64_t size2, merkle_get_fn get,
					 void *arg, uint8_t *proof, size_t *count);

/*
 * RFC 9162 section 2.1.3.2: CU_OK if the count hashes at proof (NULL if
 * count is 0) prove that leaf (a leaf hash) is leaf index of the tree of
 * size leaves with the given root; CU_ERR_INVALID otherwise, including
 * index >= size and a proof of the wrong length.
 */
CU_MUST_USE int merkle_verify_inclusion(const uint8_t leaf[MERKLE_HASH_SIZE], uint64_t index,
					uint64_t size, const uint8_t *proof, size_t count,
					const uint8_t root[MERKLE_HASH_SIZE]);

/*
 * RFC 9162 section 2.1.4.2: CU_OK if proof shows that the tree of size1
 * leaves and root1 is a prefix of the tree of size2 leaves and root2;
 * CU_ERR_INVALID otherwise. Equal sizes need an empty proof and equal
 * roots. size1 == 0 is always refused: every tree extends the empty tree,
 * so such a "proof" says nothing (the transparency-dev vectors want this).
 */
CU_MUST_USE int merkle_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t *proof,
					  size_t count, const uint8_t root1[MERKLE_HASH_SIZE],
					  const uint8_t root2[MERKLE_HASH_SIZE]);

/*
 * C2SP tlog-tiles. Tile (L, N) holds the hashes of nodes (8L, N*256 + i),
 * i < width: full tiles 256 of them, the rightmost tile of a level may be
 * partial. A tree of size n has n >> 8L hashes at tile level L.
 */
#define MERKLE_TILE_HEIGHT 8
#define MERKLE_TILE_WIDTH  256
/* Longest tile or entry bundle path, with its NUL. */
#define MERKLE_TILE_PATH_MAX 64

struct merkle_tile {
	unsigned level; /* L: holds tree level L * MERKLE_TILE_HEIGHT */
	uint64_t index; /* N: tile number within the level */
	unsigned width; /* hashes in it, 1..256 (256: full) */
};

/* Where a node's hash is found: the MTH of tile positions [first, first + count). */
struct merkle_tile_pos {
	struct merkle_tile tile;
	unsigned first;
	unsigned count; /* 2^(level % 8): hash them with a merkle_range */
};

/* Hashes of tile level tile_level in a tree of size leaves: size >> 8L. */
uint64_t merkle_tile_level_hashes(uint64_t size, unsigned tile_level);

/* Tiles (full and partial) at tile_level in a tree of size leaves. */
uint64_t merkle_tile_count(uint64_t size, unsigned tile_level);

/* Width of tile (tile_level, tile_index) in a tree of size leaves: 0 if absent. */
unsigned merkle_tile_width(uint64_t size, unsigned tile_level, uint64_t tile_index);

/*
 * Locates complete node (level, index) of the tree of size leaves in that
 * tree's tiles. Returns CU_ERR_INVALID if the tree has no such node.
 */
CU_MUST_USE int merkle_tile_locate(uint64_t size, unsigned level, uint64_t index,
				   struct merkle_tile_pos *pos);

/*
 * Writes "tile/<L>/<N>[.p/<W>]" with N in 3-digit groups (1234067 is
 * "x001/x234/067"). Returns CU_ERR_INVALID if L > 63 or the width is not
 * 1..256.
 */
CU_MUST_USE int merkle_tile_path(const struct merkle_tile *tile, char out[MERKLE_TILE_PATH_MAX]);

/*
 * Writes the entry bundle path "tile/entries/<N>[.p/<W>]" of level-0 tile
 * N, the bundle of the entries whose leaf hashes that tile holds. Returns
 * CU_ERR_INVALID if the tile is not level 0 or the width is not 1..256.
 */
CU_MUST_USE int merkle_entries_path(const struct merkle_tile *tile, char out[MERKLE_TILE_PATH_MAX]);

#endif
