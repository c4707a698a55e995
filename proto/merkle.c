/*
 * merkle.c - RFC 6962 / RFC 9162 Merkle tree for the verifiable log: hashing,
 * compact ranges, proofs from stored complete nodes, and tlog-tiles
 * coordinates. See merkle.h for the node numbering.
 *
 * Proof generation walks up from a node as transparency-dev/merkle does;
 * verification follows the RFC 9162 algorithms step by step, so the two
 * sides are written independently and the tests can play one against the
 * other and against a naive recursive RFC 6962 implementation.
 */
#include "merkle.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#define LEAF_PREFIX 0x00
#define NODE_PREFIX 0x01

void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_SIZE])
{
	const uint8_t prefix = LEAF_PREFIX;
	crypto_hash_sha256_state state;

	crypto_hash_sha256_init(&state);
	crypto_hash_sha256_update(&state, &prefix, 1);
	if (len > 0) {
		crypto_hash_sha256_update(&state, data, len);
	}
	crypto_hash_sha256_final(&state, out);
}

void merkle_node_hash(const uint8_t left[MERKLE_HASH_SIZE], const uint8_t right[MERKLE_HASH_SIZE],
		      uint8_t out[MERKLE_HASH_SIZE])
{
	/* Copying first makes out = left or out = right safe. */
	uint8_t buf[1 + 2 * MERKLE_HASH_SIZE];

	buf[0] = NODE_PREFIX;
	memcpy(buf + 1, left, MERKLE_HASH_SIZE);
	memcpy(buf + 1 + MERKLE_HASH_SIZE, right, MERKLE_HASH_SIZE);
	crypto_hash_sha256(out, buf, sizeof(buf));
}

static bool hash_equal(const uint8_t a[MERKLE_HASH_SIZE], const uint8_t b[MERKLE_HASH_SIZE])
{
	return memcmp(a, b, MERKLE_HASH_SIZE) == 0;
}

static bool bit_set(uint64_t value, unsigned bit)
{
	return ((value >> bit) & 1) != 0;
}

/* ---- compact ranges ---- */

void merkle_range_init(struct merkle_range *range)
{
	memset(range, 0, sizeof(*range));
}

int merkle_range_append(struct merkle_range *range, const uint8_t leaf[MERKLE_HASH_SIZE],
			merkle_visit_fn visit, void *arg)
{
	uint8_t hash[MERKLE_HASH_SIZE];
	uint64_t index = range->size;
	unsigned level = 0;

	if (index == UINT64_MAX) {
		return CU_ERR_TOO_BIG;
	}
	memcpy(hash, leaf, MERKLE_HASH_SIZE);
	if (visit != NULL) {
		visit(arg, 0, index, hash);
	}
	/* Each set low bit of the old size is a left sibling that the new leaf
	 * completes; the loop stops below level 64 since size < 2^64 - 1. */
	while (bit_set(index, level)) {
		merkle_node_hash(range->hashes[level], hash, hash);
		level++;
		if (visit != NULL) {
			visit(arg, level, index >> level, hash);
		}
	}
	memcpy(range->hashes[level], hash, MERKLE_HASH_SIZE);
	range->size = index + 1;
	return CU_OK;
}

static void empty_root(uint8_t out[MERKLE_HASH_SIZE])
{
	static const uint8_t nothing[1];

	crypto_hash_sha256(out, nothing, 0);
}

void merkle_range_root(const struct merkle_range *range, uint8_t out[MERKLE_HASH_SIZE])
{
	unsigned level;

	if (range->size == 0) {
		empty_root(out);
		return;
	}
	/* RFC 6962 splits at the largest power of two, so the root folds the
	 * right-edge subtrees from the smallest (rightmost) up. */
	level = (unsigned)__builtin_ctzll(range->size);
	memcpy(out, range->hashes[level], MERKLE_HASH_SIZE);
	for (level++; level < MERKLE_MAX_LEVELS; level++) {
		if (bit_set(range->size, level)) {
			merkle_node_hash(range->hashes[level], out, out);
		}
	}
}

int merkle_range_load(struct merkle_range *range, uint64_t size, merkle_get_fn get, void *arg)
{
	unsigned level;
	int rc;

	merkle_range_init(range);
	for (level = 0; level < MERKLE_MAX_LEVELS; level++) {
		if (!bit_set(size, level)) {
			continue;
		}
		rc = get(arg, level, (size >> level) - 1, range->hashes[level]);
		if (rc != CU_OK) {
			goto fail;
		}
	}
	range->size = size;
	return CU_OK;
fail:
	merkle_range_init(range);
	return rc;
}

/* ---- proofs ---- */

/*
 * Hash of the incomplete right-edge subtree of level `level` in a tree of
 * size leaves (leaves [(size >> level) << level, size)), folded from the
 * complete nodes the bits of size below level name. Requires one of those
 * bits to be set.
 */
static int right_edge_hash(uint64_t size, unsigned level, merkle_get_fn get, void *arg,
			   uint8_t out[MERKLE_HASH_SIZE])
{
	uint8_t left[MERKLE_HASH_SIZE];
	unsigned bit = (unsigned)__builtin_ctzll(size);
	int rc;

	assert(bit < level);
	rc = get(arg, bit, (size >> bit) - 1, out);
	for (bit++; rc == CU_OK && bit < level; bit++) {
		if (!bit_set(size, bit)) {
			continue;
		}
		rc = get(arg, bit, (size >> bit) - 1, left);
		if (rc == CU_OK) {
			merkle_node_hash(left, out, out);
		}
	}
	return rc;
}

/*
 * The sibling of node (level, index) where that sibling is on the right.
 * A right-edge hash comes from edge when it holds it for this size, and is
 * kept there once folded (edge may be NULL).
 */
static int right_sibling(uint64_t size, unsigned level, uint64_t index, merkle_get_fn get,
			 void *arg, struct merkle_edge *edge, uint8_t out[MERKLE_HASH_SIZE])
{
	uint64_t bit = 1ull << level;
	int rc;

	if (index + 1 < size >> level) {
		return get(arg, level, index + 1, out);
	}
	if (edge == NULL) {
		return right_edge_hash(size, level, get, arg, out);
	}
	if (edge->size != size) {
		edge->size = size;
		edge->known = 0;
	}
	if (edge->known & bit) {
		memcpy(out, edge->hash[level], MERKLE_HASH_SIZE);
		return CU_OK;
	}
	rc = right_edge_hash(size, level, get, arg, out);
	if (rc == CU_OK) {
		memcpy(edge->hash[level], out, MERKLE_HASH_SIZE);
		edge->known |= bit;
	}
	return rc;
}

/*
 * Appends to proof the path from complete node (level, index) up to the
 * root of the tree of size leaves: at each level the sibling, if the node
 * has one (a node alone at the end of its level is carried up unchanged).
 */
static int proof_path(uint64_t size, unsigned level, uint64_t index, merkle_get_fn get, void *arg,
		      struct merkle_edge *edge, uint8_t *proof, size_t *count)
{
	uint64_t last = (size - 1) >> level; /* the right edge at this level */
	int rc = CU_OK;

	for (; last > 0; level++, index >>= 1, last >>= 1) {
		uint8_t *slot = proof + *count * MERKLE_HASH_SIZE;

		if (index == last && index % 2 == 0) {
			continue; /* alone at the end of its level */
		}
		assert(*count < MERKLE_PROOF_MAX);
		if (index % 2 == 1) {
			rc = get(arg, level, index - 1, slot);
		} else {
			rc = right_sibling(size, level, index, get, arg, edge, slot);
		}
		if (rc != CU_OK) {
			return rc;
		}
		(*count)++;
	}
	return CU_OK;
}

int merkle_inclusion_proof(uint64_t index, uint64_t size, merkle_get_fn get, void *arg,
			   uint8_t *proof, size_t *count)
{
	return merkle_inclusion_proof_edge(index, size, get, arg, NULL, proof, count);
}

int merkle_inclusion_proof_edge(uint64_t index, uint64_t size, merkle_get_fn get, void *arg,
				struct merkle_edge *edge, uint8_t *proof, size_t *count)
{
	int rc;

	*count = 0;
	if (index >= size) {
		return CU_ERR_INVALID;
	}
	rc = proof_path(size, 0, index, get, arg, edge, proof, count);
	if (rc != CU_OK) {
		*count = 0;
	}
	return rc;
}

int merkle_consistency_proof(uint64_t size1, uint64_t size2, merkle_get_fn get, void *arg,
			     uint8_t *proof, size_t *count)
{
	unsigned level;
	uint64_t index;
	int rc = CU_OK;

	*count = 0;
	if (size1 == 0 || size1 > size2) {
		return CU_ERR_INVALID;
	}
	if (size1 == size2) {
		return CU_OK;
	}
	/* The largest complete subtree ending at size1, then its path in the
	 * tree of size2. When size1 is a power of two that subtree is root1,
	 * which the verifier already has, so it is left out. */
	level = (unsigned)__builtin_ctzll(size1);
	index = (size1 - 1) >> level;
	if (index != 0) {
		rc = get(arg, level, index, proof);
		*count = 1;
	}
	if (rc == CU_OK) {
		rc = proof_path(size2, level, index, get, arg, NULL, proof, count);
	}
	if (rc != CU_OK) {
		*count = 0;
	}
	return rc;
}

/* RFC 9162: "right-shift both fn and sn equally until either LSB(fn) is set or fn is 0". */
static void skip_lone_levels(uint64_t *fn, uint64_t *sn)
{
	while (*fn != 0 && *fn % 2 == 0) {
		*fn >>= 1;
		*sn >>= 1;
	}
}

int merkle_verify_inclusion(const uint8_t leaf[MERKLE_HASH_SIZE], uint64_t index, uint64_t size,
			    const uint8_t *proof, size_t count,
			    const uint8_t root[MERKLE_HASH_SIZE])
{
	uint8_t r[MERKLE_HASH_SIZE];
	uint64_t fn = index, sn = size - 1;
	size_t i;

	if (index >= size || count > MERKLE_PROOF_MAX) {
		return CU_ERR_INVALID;
	}
	memcpy(r, leaf, MERKLE_HASH_SIZE);
	for (i = 0; i < count; i++) {
		const uint8_t *p = proof + i * MERKLE_HASH_SIZE;

		if (sn == 0) {
			return CU_ERR_INVALID; /* proof longer than the path */
		}
		if (fn % 2 == 1 || fn == sn) {
			merkle_node_hash(p, r, r);
			skip_lone_levels(&fn, &sn);
		} else {
			merkle_node_hash(r, p, r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && hash_equal(r, root) ? CU_OK : CU_ERR_INVALID;
}

/* RFC 9162 section 2.1.4.2 steps 3 to 7, for 0 < size1 < size2. */
static int verify_consistency_path(uint64_t size1, uint64_t size2, const uint8_t *path,
				   size_t count, const uint8_t seed[MERKLE_HASH_SIZE],
				   const uint8_t root1[MERKLE_HASH_SIZE],
				   const uint8_t root2[MERKLE_HASH_SIZE])
{
	uint8_t fr[MERKLE_HASH_SIZE], sr[MERKLE_HASH_SIZE];
	uint64_t fn = size1 - 1, sn = size2 - 1;
	size_t i;

	while (fn % 2 == 1) {
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, seed, MERKLE_HASH_SIZE);
	memcpy(sr, seed, MERKLE_HASH_SIZE);
	for (i = 0; i < count; i++) {
		const uint8_t *c = path + i * MERKLE_HASH_SIZE;

		if (sn == 0) {
			return CU_ERR_INVALID;
		}
		if (fn % 2 == 1 || fn == sn) {
			merkle_node_hash(c, fr, fr);
			merkle_node_hash(c, sr, sr);
			skip_lone_levels(&fn, &sn);
		} else {
			merkle_node_hash(sr, c, sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && hash_equal(fr, root1) && hash_equal(sr, root2) ? CU_OK : CU_ERR_INVALID;
}

int merkle_verify_consistency(uint64_t size1, uint64_t size2, const uint8_t *proof, size_t count,
			      const uint8_t root1[MERKLE_HASH_SIZE],
			      const uint8_t root2[MERKLE_HASH_SIZE])
{
	if (size1 == 0 || size1 > size2 || count > MERKLE_PROOF_MAX) {
		return CU_ERR_INVALID;
	}
	if (size1 == size2) {
		return count == 0 && hash_equal(root1, root2) ? CU_OK : CU_ERR_INVALID;
	}
	if (count == 0) {
		return CU_ERR_INVALID;
	}
	/* Step 2: a power-of-two size1 is a complete subtree, so the proof
	 * starts from root1 itself instead of carrying it. */
	if ((size1 & (size1 - 1)) == 0) {
		return verify_consistency_path(size1, size2, proof, count, root1, root1, root2);
	}
	return verify_consistency_path(size1, size2, proof + MERKLE_HASH_SIZE, count - 1, proof,
				       root1, root2);
}

/* ---- tlog-tiles ---- */

uint64_t merkle_tile_level_hashes(uint64_t size, unsigned tile_level)
{
	unsigned shift = tile_level * MERKLE_TILE_HEIGHT;

	/* Shifting a uint64_t by 64 or more is undefined, not zero. */
	return tile_level < MERKLE_MAX_LEVELS / MERKLE_TILE_HEIGHT ? size >> shift : 0;
}

uint64_t merkle_tile_count(uint64_t size, unsigned tile_level)
{
	uint64_t hashes = merkle_tile_level_hashes(size, tile_level);

	return hashes / MERKLE_TILE_WIDTH + (hashes % MERKLE_TILE_WIDTH != 0);
}

unsigned merkle_tile_width(uint64_t size, unsigned tile_level, uint64_t tile_index)
{
	uint64_t hashes = merkle_tile_level_hashes(size, tile_level);
	uint64_t full = hashes / MERKLE_TILE_WIDTH;

	if (tile_index < full) {
		return MERKLE_TILE_WIDTH;
	}
	return tile_index == full ? (unsigned)(hashes % MERKLE_TILE_WIDTH) : 0;
}

int merkle_tile_locate(uint64_t size, unsigned level, uint64_t index, struct merkle_tile_pos *pos)
{
	unsigned below; /* levels between the tile's stored level and this node */

	if (level >= MERKLE_MAX_LEVELS || index >= size >> level) {
		return CU_ERR_INVALID;
	}
	below = level % MERKLE_TILE_HEIGHT;
	pos->tile.level = level / MERKLE_TILE_HEIGHT;
	/* The node covers stored hashes [index << below, (index + 1) << below)
	 * of its tile level; shift right first so nothing overflows. */
	pos->tile.index = index >> (MERKLE_TILE_HEIGHT - below);
	pos->tile.width = merkle_tile_width(size, pos->tile.level, pos->tile.index);
	pos->first = (unsigned)((index << below) % MERKLE_TILE_WIDTH);
	pos->count = 1u << below;
	return CU_OK;
}

/* Writes n as "x001/x234/067" at out (UINT64_MAX takes 34 bytes with the NUL). */
static void format_tile_index(uint64_t n, char *out, size_t out_size)
{
	unsigned groups[7]; /* UINT64_MAX has 20 digits */
	unsigned count = 0;
	size_t used = 0;

	do {
		groups[count++] = (unsigned)(n % 1000);
		n /= 1000;
	} while (n > 0);
	while (count > 1) {
		used += (size_t)snprintf(out + used, out_size - used, "x%03u/", groups[--count]);
	}
	snprintf(out + used, out_size - used, "%03u", groups[0]);
}

static bool width_valid(unsigned width)
{
	return width >= 1 && width <= MERKLE_TILE_WIDTH;
}

/* Appends ".p/<W>" for a partial tile. */
static void format_partial(unsigned width, char out[MERKLE_TILE_PATH_MAX])
{
	size_t used = strlen(out);

	if (width < MERKLE_TILE_WIDTH) {
		snprintf(out + used, MERKLE_TILE_PATH_MAX - used, ".p/%u", width);
	}
}

int merkle_tile_path(const struct merkle_tile *tile, char out[MERKLE_TILE_PATH_MAX])
{
	int used;

	if (tile->level > 63 || !width_valid(tile->width)) { /* the spec's limits */
		return CU_ERR_INVALID;
	}
	used = snprintf(out, MERKLE_TILE_PATH_MAX, "tile/%u/", tile->level);
	format_tile_index(tile->index, out + used, MERKLE_TILE_PATH_MAX - (size_t)used);
	format_partial(tile->width, out);
	return CU_OK;
}

int merkle_entries_path(const struct merkle_tile *tile, char out[MERKLE_TILE_PATH_MAX])
{
	static const char prefix[] = "tile/entries/";

	if (tile->level != 0 || !width_valid(tile->width)) {
		return CU_ERR_INVALID;
	}
	memcpy(out, prefix, sizeof(prefix));
	format_tile_index(tile->index, out + sizeof(prefix) - 1,
			  MERKLE_TILE_PATH_MAX - (sizeof(prefix) - 1));
	format_partial(tile->width, out);
	return CU_OK;
}
