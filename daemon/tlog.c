/*
 * tlog.c - the verifiable log's in-memory right edge (see tlog.h).
 *
 * Tiles are held per tile level as a run of consecutive tile numbers: the
 * rightmost tile at the commit point, then the tiles the appends since then
 * opened. Appends only ever write past a tile's width, so undoing a batch is
 * cutting each kept tile back to its committed width and dropping the tiles
 * the batch opened; no copy of a tile is ever taken.
 *
 * Each held tile also keeps the inner nodes of its subtrees (levels 8L + 1
 * to 8L + 7), which appends hand over for free: an inclusion proof then reads
 * each of its up to 64 hashes directly instead of rehashing up to 128 tile
 * hashes per step, which matters when the sequencer proves a whole batch.
 */
#include "tlog.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/*
 * A held tile, the inner nodes above its hashes and its width at the commit
 * point (0: opened since). Node j at height k (1..7) above the tile's hashes,
 * covering hashes [j << k, (j + 1) << k), is inner[inner_slot(k, j)] and is
 * meaningful once complete, when (j + 1) << k <= width.
 */
struct kept_tile {
	struct tlog_tile tile;
	uint8_t inner[MERKLE_TILE_WIDTH][MERKLE_HASH_SIZE];
	unsigned committed_width;
};

/* The tiles held at one tile level: tiles[i] is tile number first + i. */
struct level_tiles {
	struct kept_tile **tiles;
	size_t n, cap;
	uint64_t first;
};

struct tlog {
	char origin[NOTE_NAME_MAX + 1];
	const struct cu_key *key; /* borrowed */
	struct merkle_range range;
	struct merkle_range committed; /* range at the commit point */
	struct level_tiles levels[TLOG_TILE_LEVELS];
};

/* A set of levels read as the tiles of a tree of size leaves (merkle_get_fn arg). */
struct tiles_view {
	const struct level_tiles *levels;
	uint64_t size;
};

/* ---- tiles held per level ---- */

static struct kept_tile *level_find(const struct level_tiles *lv, uint64_t index)
{
	if (lv->n == 0 || index < lv->first || index - lv->first >= lv->n) {
		return NULL;
	}
	return lv->tiles[index - lv->first];
}

static struct kept_tile *level_last(const struct level_tiles *lv)
{
	return lv->n > 0 ? lv->tiles[lv->n - 1] : NULL;
}

/* Adds an empty tile (level, index) after the last one held; it must follow it. */
static int level_push(struct level_tiles *lv, unsigned level, uint64_t index)
{
	struct kept_tile *kt;

	assert(lv->n == 0 || index == lv->first + lv->n);
	if (lv->n == lv->cap) {
		size_t cap = lv->cap > 0 ? lv->cap * 2 : 4;
		struct kept_tile **tiles = realloc(lv->tiles, cap * sizeof(*tiles));

		if (tiles == NULL) {
			return CU_ERR_NOMEM;
		}
		lv->tiles = tiles;
		lv->cap = cap;
	}
	kt = calloc(1, sizeof(*kt));
	if (kt == NULL) {
		return CU_ERR_NOMEM;
	}
	kt->tile.level = level;
	kt->tile.index = index;
	if (lv->n == 0) {
		lv->first = index;
	}
	lv->tiles[lv->n++] = kt;
	return CU_OK;
}

static void level_clear(struct level_tiles *lv)
{
	size_t i;

	for (i = 0; i < lv->n; i++) {
		free(lv->tiles[i]);
	}
	free(lv->tiles);
	memset(lv, 0, sizeof(*lv));
}

static void levels_clear(struct level_tiles levels[TLOG_TILE_LEVELS])
{
	unsigned level;

	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		level_clear(&levels[level]);
	}
}

/* Drops empty tiles at the end of each level: those of an append that failed. */
static void levels_drop_empty(struct level_tiles levels[TLOG_TILE_LEVELS])
{
	unsigned level;

	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		struct level_tiles *lv = &levels[level];

		while (lv->n > 0 && lv->tiles[lv->n - 1]->tile.width == 0) {
			free(lv->tiles[--lv->n]);
		}
	}
}

/* ---- reading hashes out of tiles ---- */

/* Heap order: height k has 256 >> k slots from 256 >> k (slot 1 would be the tile's MTH). */
static size_t inner_slot(unsigned height, uint64_t j)
{
	assert(height >= 1 && height < MERKLE_TILE_HEIGHT &&
	       j < (uint64_t)(MERKLE_TILE_WIDTH >> height));
	return (MERKLE_TILE_WIDTH >> height) + (size_t)j;
}

/* Node j at height (0: the tile's own hashes) of a held tile. */
static const uint8_t *tile_node(const struct kept_tile *kt, unsigned height, uint64_t j)
{
	return height == 0 ? kt->tile.hashes[j] : kt->inner[inner_slot(height, j)];
}

/* Computes every complete inner node of a tile given as stored. */
static void tile_fill_inner(struct kept_tile *kt)
{
	unsigned height;
	uint64_t j;

	for (height = 1; height < MERKLE_TILE_HEIGHT; height++) {
		for (j = 0; j < kt->tile.width >> height; j++) {
			merkle_node_hash(tile_node(kt, height - 1, 2 * j),
					 tile_node(kt, height - 1, 2 * j + 1),
					 kt->inner[inner_slot(height, j)]);
		}
	}
}

/* Cuts a tile back to width, wiping what lies past it so no stale hash remains. */
static void tile_truncate(struct kept_tile *kt, unsigned width)
{
	unsigned height;
	size_t from, to;

	kt->tile.width = width;
	memset((uint8_t *)kt->tile.hashes + (size_t)width * MERKLE_HASH_SIZE, 0,
	       (size_t)(MERKLE_TILE_WIDTH - width) * MERKLE_HASH_SIZE);
	for (height = 1; height < MERKLE_TILE_HEIGHT; height++) {
		from = (MERKLE_TILE_WIDTH >> height) + (width >> height);
		to = MERKLE_TILE_WIDTH >> (height - 1);
		memset(kt->inner[from], 0, (to - from) * MERKLE_HASH_SIZE);
	}
}

/* merkle_get_fn over a tiles_view; CU_ERR_NOT_FOUND for a hash not held. */
static int view_get(void *arg, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_SIZE])
{
	const struct tiles_view *view = arg;
	struct merkle_tile_pos pos;
	const struct kept_tile *kt;
	int rc;

	rc = merkle_tile_locate(view->size, level, index, &pos);
	if (rc != CU_OK) {
		return rc;
	}
	kt = level_find(&view->levels[pos.tile.level], pos.tile.index);
	if (kt == NULL || kt->tile.width < pos.first + pos.count) {
		return CU_ERR_NOT_FOUND;
	}
	memcpy(out, tile_node(kt, level % MERKLE_TILE_HEIGHT, pos.first / pos.count),
	       MERKLE_HASH_SIZE);
	return CU_OK;
}

/* ---- life cycle ---- */

int tlog_new(const char *origin, const struct cu_key *key, struct tlog **out)
{
	size_t len = origin != NULL ? strlen(origin) : 0;
	struct tlog *t;

	*out = NULL;
	if (origin == NULL || key == NULL || len > NOTE_NAME_MAX ||
	    note_name_check(origin, len) != CU_OK) {
		return CU_ERR_INVALID;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		return CU_ERR_NOMEM;
	}
	memcpy(t->origin, origin, len + 1);
	t->key = key;
	merkle_range_init(&t->range);
	merkle_range_init(&t->committed);
	*out = t;
	return CU_OK;
}

void tlog_free(struct tlog *t)
{
	if (t == NULL) {
		return;
	}
	levels_clear(t->levels);
	free(t);
}

/* ---- loading the edge ---- */

/* Checks one given tile against the shape of the tree of size leaves. */
static int check_edge_tile(uint64_t size, const struct tlog_tile *tile, unsigned seen, char *err,
			   size_t err_size)
{
	uint64_t hashes, last;
	unsigned want;

	if (tile->level >= TLOG_TILE_LEVELS || merkle_tile_level_hashes(size, tile->level) == 0) {
		return cu_fail(err, err_size,
			       "tile %u/%" PRIu64 ": a tree of %" PRIu64
			       " leaves has no hashes at tile level %u",
			       tile->level, tile->index, size, tile->level);
	}
	if ((seen & (1u << tile->level)) != 0) {
		return cu_fail(err, err_size, "two tiles at tile level %u", tile->level);
	}
	hashes = merkle_tile_level_hashes(size, tile->level);
	last = (hashes - 1) / MERKLE_TILE_WIDTH;
	if (tile->index != last) {
		return cu_fail(err, err_size,
			       "tile %u/%" PRIu64
			       " is not the rightmost of its level in a tree of %" PRIu64
			       " leaves (tile %" PRIu64 " is)",
			       tile->level, tile->index, size, last);
	}
	want = merkle_tile_width(size, tile->level, last);
	if (tile->width != want) {
		return cu_fail(err, err_size,
			       "tile %u/%" PRIu64 " has width %u, a tree of %" PRIu64
			       " leaves needs %u",
			       tile->level, tile->index, tile->width, size, want);
	}
	return CU_OK;
}

/* The given tiles are exactly the rightmost tile of each level size has. */
static int check_edge_tiles(uint64_t size, const struct tlog_tile *tiles, size_t n, char *err,
			    size_t err_size)
{
	unsigned seen = 0, level;
	size_t i;
	int rc;

	if (n > 0 && tiles == NULL) {
		return cu_fail(err, err_size, "no tiles given");
	}
	for (i = 0; i < n; i++) {
		rc = check_edge_tile(size, &tiles[i], seen, err, err_size);
		if (rc != CU_OK) {
			return rc;
		}
		seen |= 1u << tiles[i].level;
	}
	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		if (merkle_tile_level_hashes(size, level) > 0 && (seen & (1u << level)) == 0) {
			return cu_fail(err, err_size,
				       "no tile for tile level %u: a tree of %" PRIu64
				       " leaves has %" PRIu64 " hashes there",
				       level, size, merkle_tile_level_hashes(size, level));
		}
	}
	return CU_OK;
}

/* Copies checked tiles into levels, each as the commit point of its level. */
static int install_tiles(struct level_tiles levels[TLOG_TILE_LEVELS], const struct tlog_tile *tiles,
			 size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		struct level_tiles *lv = &levels[tiles[i].level];
		struct kept_tile *kt;

		rc = level_push(lv, tiles[i].level, tiles[i].index);
		if (rc != CU_OK) {
			return rc;
		}
		kt = level_last(lv);
		kt->tile = tiles[i];
		kt->committed_width = tiles[i].width;
		tile_truncate(kt, kt->tile.width); /* whatever the caller left past width */
		tile_fill_inner(kt);
	}
	return CU_OK;
}

/*
 * A full edge tile is not part of the compact range (the node above it is),
 * so check it against that node: then every given hash reaches the root.
 */
static int check_full_tiles(const struct level_tiles levels[TLOG_TILE_LEVELS], char *err,
			    size_t err_size)
{
	uint8_t mth[MERKLE_HASH_SIZE];
	unsigned level;

	for (level = 0; level + 1 < TLOG_TILE_LEVELS; level++) {
		const struct kept_tile *kt = level_last(&levels[level]);
		const struct kept_tile *above = level_last(&levels[level + 1]);

		if (kt == NULL || kt->tile.width < MERKLE_TILE_WIDTH) {
			continue;
		}
		/* check_edge_tiles made the tile above exist and hold node kt's index last. */
		assert(above != NULL && above->tile.index == kt->tile.index / MERKLE_TILE_WIDTH);
		merkle_node_hash(tile_node(kt, MERKLE_TILE_HEIGHT - 1, 0),
				 tile_node(kt, MERKLE_TILE_HEIGHT - 1, 1), mth);
		if (memcmp(mth, above->tile.hashes[kt->tile.index % MERKLE_TILE_WIDTH],
			   MERKLE_HASH_SIZE) != 0) {
			return cu_fail(err, err_size,
				       "tile %u/%" PRIu64
				       " does not hash to its node in tile %u/%" PRIu64,
				       level, kt->tile.index, level + 1, above->tile.index);
		}
	}
	return CU_OK;
}

static int check_root(const struct merkle_range *range, const uint8_t *expected_root, char *err,
		      size_t err_size)
{
	uint8_t root[MERKLE_HASH_SIZE];
	char got_hex[2 * MERKLE_HASH_SIZE + 1], want_hex[2 * MERKLE_HASH_SIZE + 1];

	if (expected_root == NULL) {
		return CU_OK;
	}
	merkle_range_root(range, root);
	if (memcmp(root, expected_root, MERKLE_HASH_SIZE) == 0) {
		return CU_OK;
	}
	sodium_bin2hex(got_hex, sizeof(got_hex), root, MERKLE_HASH_SIZE);
	sodium_bin2hex(want_hex, sizeof(want_hex), expected_root, MERKLE_HASH_SIZE);
	return cu_fail(err, err_size,
		       "the tiles of a tree of %" PRIu64 " leaves have root %s, expected %s",
		       range->size, got_hex, want_hex);
}

int tlog_load(struct tlog *t, uint64_t size, const struct tlog_tile *tiles, size_t n,
	      const uint8_t *expected_root, char *err, size_t err_size)
{
	struct level_tiles fresh[TLOG_TILE_LEVELS];
	struct tiles_view view = {fresh, size};
	struct merkle_range range;
	int rc;

	memset(fresh, 0, sizeof(fresh));
	rc = check_edge_tiles(size, tiles, n, err, err_size);
	if (rc != CU_OK) {
		goto fail;
	}
	rc = install_tiles(fresh, tiles, n);
	if (rc != CU_OK) {
		goto fail;
	}
	rc = check_full_tiles(fresh, err, err_size);
	if (rc != CU_OK) {
		goto fail;
	}
	/* Cannot miss a node: the edge tiles hold the whole compact range. */
	rc = merkle_range_load(&range, size, view_get, &view);
	if (rc != CU_OK) {
		rc = cu_fail(err, err_size, "edge tiles do not hold the compact range");
		goto fail;
	}
	rc = check_root(&range, expected_root, err, err_size);
	if (rc != CU_OK) {
		goto fail;
	}
	levels_clear(t->levels);
	memcpy(t->levels, fresh, sizeof(fresh));
	t->range = range;
	t->committed = range;
	return CU_OK;
fail:
	levels_clear(fresh);
	return rc;
}

/* ---- appending ---- */

/*
 * Opens the tiles the leaf that makes the tree new_size leaves will write
 * to, so that the append itself (whose visit cannot fail) only fills them.
 * Each level gets at most one new hash per leaf.
 */
static int open_tiles(struct tlog *t, uint64_t new_size)
{
	unsigned level;
	int rc;

	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		uint64_t hashes = merkle_tile_level_hashes(new_size, level);
		uint64_t tile_index;

		if (hashes == merkle_tile_level_hashes(new_size - 1, level)) {
			continue; /* no new hash at this level */
		}
		tile_index = (hashes - 1) / MERKLE_TILE_WIDTH;
		if (level_find(&t->levels[level], tile_index) != NULL) {
			continue;
		}
		rc = level_push(&t->levels[level], level, tile_index);
		if (rc != CU_OK) {
			levels_drop_empty(t->levels);
			return rc;
		}
	}
	return CU_OK;
}

/*
 * merkle_visit_fn: stores each new node into the tile its stored hashes are
 * in: levels 0, 8, 16, ... as the tile's hashes, the others as inner nodes.
 */
static void store_node(void *arg, unsigned level, uint64_t index,
		       const uint8_t hash[MERKLE_HASH_SIZE])
{
	struct tlog *t = arg;
	unsigned height = level % MERKLE_TILE_HEIGHT;
	uint64_t per_tile = MERKLE_TILE_WIDTH >> height; /* nodes of this level per tile */
	uint64_t j = index % per_tile;
	struct kept_tile *kt;

	/* Nodes complete bottom-up, so the tile holding this node's last stored
	 * hash was filled (and opened by open_tiles) earlier in this append. */
	kt = level_find(&t->levels[level / MERKLE_TILE_HEIGHT], index / per_tile);
	assert(kt != NULL);
	if (height > 0) {
		assert((j + 1) << height <= kt->tile.width);
		memcpy(kt->inner[inner_slot(height, j)], hash, MERKLE_HASH_SIZE);
		return;
	}
	/* Nodes of a level arrive in order. */
	assert(kt->tile.width == j);
	memcpy(kt->tile.hashes[j], hash, MERKLE_HASH_SIZE);
	kt->tile.width++;
}

int tlog_append(struct tlog *t, const uint8_t *entry, size_t len, uint64_t *index)
{
	uint8_t leaf[MERKLE_HASH_SIZE];

	if (entry == NULL && len > 0) {
		return CU_ERR_INVALID;
	}
	merkle_leaf_hash(entry, len, leaf);
	return tlog_append_leaf(t, leaf, index);
}

int tlog_append_leaf(struct tlog *t, const uint8_t leaf[MERKLE_HASH_SIZE], uint64_t *index)
{
	uint64_t at = t->range.size;
	int rc;

	if (at == UINT64_MAX) {
		return CU_ERR_TOO_BIG;
	}
	rc = open_tiles(t, at + 1);
	if (rc != CU_OK) {
		return rc;
	}
	rc = merkle_range_append(&t->range, leaf, store_node, t);
	if (rc != CU_OK) {
		levels_drop_empty(t->levels);
		return rc;
	}
	if (index != NULL) {
		*index = at;
	}
	return CU_OK;
}

uint64_t tlog_size(const struct tlog *t)
{
	return t->range.size;
}

void tlog_root(const struct tlog *t, uint8_t out[MERKLE_HASH_SIZE])
{
	merkle_range_root(&t->range, out);
}

/* ---- the rows to store ---- */

static bool tile_dirty(const struct kept_tile *kt)
{
	return kt->tile.width != kt->committed_width;
}

/* The pos-th held tile in (level, index) order, or NULL past the last. */
static const struct kept_tile *held_tile(const struct tlog *t, size_t pos)
{
	unsigned level;

	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		if (pos < t->levels[level].n) {
			return t->levels[level].tiles[pos];
		}
		pos -= t->levels[level].n;
	}
	return NULL;
}

const struct tlog_tile *tlog_dirty_next(const struct tlog *t, size_t *pos)
{
	const struct kept_tile *kt;

	while ((kt = held_tile(t, *pos)) != NULL) {
		(*pos)++;
		if (tile_dirty(kt)) {
			return &kt->tile;
		}
	}
	return NULL;
}

size_t tlog_dirty_count(const struct tlog *t)
{
	size_t pos = 0, count = 0;

	while (tlog_dirty_next(t, &pos) != NULL) {
		count++;
	}
	return count;
}

/* ---- checkpoints and proofs ---- */

int tlog_checkpoint(const struct tlog *t, char *out, size_t out_size, size_t *len)
{
	char text[NOTE_CHECKPOINT_TEXT_MAX];
	uint8_t root[MERKLE_HASH_SIZE];
	size_t text_len;
	int rc;

	tlog_root(t, root);
	rc = note_checkpoint_format(t->origin, t->range.size, root, text, sizeof(text), &text_len);
	if (rc != CU_OK) {
		return rc;
	}
	return note_sign(text, text_len, t->origin, t->key, out, out_size, len);
}

int tlog_check_checkpoint(const struct tlog *t, const char *text, size_t len, uint64_t *size,
			  uint8_t root[MERKLE_HASH_SIZE], char *err, size_t err_size)
{
	struct note_verifier verifier;
	struct note_opened opened;
	struct note_checkpoint cp;
	size_t origin_len = strlen(t->origin);
	int rc;

	rc = note_verifier_init(&verifier, t->origin, NOTE_TYPE_ED25519, t->key->pk);
	if (rc != CU_OK) {
		return cu_fail(err, err_size, "bad log origin");
	}
	rc = note_open(text, len, &verifier, 1, &opened, err, err_size);
	if (rc != CU_OK) {
		return rc;
	}
	rc = note_checkpoint_parse(opened.text, opened.text_len, &cp, err, err_size);
	if (rc != CU_OK) {
		return rc;
	}
	if (cp.origin_len != origin_len || memcmp(cp.origin, t->origin, origin_len) != 0) {
		return cu_fail(err, err_size, "checkpoint of origin \"%.*s\", not \"%s\"",
			       (int)cp.origin_len, cp.origin, t->origin);
	}
	*size = cp.size;
	memcpy(root, cp.root, MERKLE_HASH_SIZE);
	return CU_OK;
}

int tlog_inclusion_proof(const struct tlog *t, uint64_t index, uint64_t size, uint8_t *proof,
			 size_t *count)
{
	return tlog_inclusion_proof_edge(t, index, size, NULL, proof, count);
}

int tlog_inclusion_proof_edge(const struct tlog *t, uint64_t index, uint64_t size,
			      struct merkle_edge *edge, uint8_t *proof, size_t *count)
{
	/* Located in the current tree: a node complete at size is complete now. */
	struct tiles_view view = {t->levels, t->range.size};

	*count = 0;
	if (index >= size || size > t->range.size) {
		return CU_ERR_INVALID;
	}
	return merkle_inclusion_proof_edge(index, size, view_get, &view, edge, proof, count);
}

/* ---- commit points ---- */

void tlog_commit(struct tlog *t)
{
	unsigned level;
	size_t i;

	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		struct level_tiles *lv = &t->levels[level];
		struct kept_tile *last = level_last(lv);

		if (last == NULL) {
			continue;
		}
		for (i = 0; i + 1 < lv->n; i++) {
			free(lv->tiles[i]);
		}
		lv->tiles[0] = last;
		lv->n = 1;
		lv->first = last->tile.index;
		last->committed_width = last->tile.width;
	}
	t->committed = t->range;
}

void tlog_rollback(struct tlog *t)
{
	unsigned level;

	for (level = 0; level < TLOG_TILE_LEVELS; level++) {
		struct level_tiles *lv = &t->levels[level];

		/* Only the first tile of a level can predate the batch. */
		while (lv->n > 0 && level_last(lv)->committed_width == 0) {
			free(lv->tiles[--lv->n]);
		}
		if (lv->n > 0) {
			tile_truncate(lv->tiles[0], lv->tiles[0]->committed_width);
		}
	}
	t->range = t->committed;
}
