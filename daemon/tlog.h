/*
 * tlog.h - the verifiable log's in-memory right edge (DESIGN.md section 5).
 *
 * The log is an RFC 6962 tree whose hashes are stored as C2SP tlog-tiles
 * (https://c2sp.org/tlog-tiles) in an append-only table: tile (L, N) at
 * width W is one row, and a tile that grows gets a new, wider row next to
 * the old ones, exactly as tlog-tiles serves "tile/L/N.p/W" beside
 * "tile/L/N". The sequencer keeps one struct tlog: at start-up it loads the
 * rightmost stored tile of each tile level, then for each batch it appends
 * the entries, writes the rows tlog_dirty lists and a checkpoint
 * (tlog_checkpoint) in the batch's transaction, and calls tlog_commit or,
 * if the transaction failed, tlog_rollback.
 *
 * What it holds: the compact range of the tree (enough for the root), the
 * rightmost tile of each level as of the last commit point, and every tile
 * touched since. That is exactly what the inclusion proofs of the entries
 * appended since the commit point need (every sibling on such a path lies in
 * a tile on or right of the committed edge), so receipts are served from
 * memory, and memory stays bounded by the batch size: about 16 KiB per held
 * tile (its hashes and their inner nodes), B / 256 + 8 tiles for a batch of B.
 *
 * Pure: no I/O, no clock. Like tally.c, it undoes a failed batch itself.
 */
#ifndef CUSTODY_TLOG_H
#define CUSTODY_TLOG_H

#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "key.h"
#include "merkle.h"
#include "note.h"

/* Tile levels of a tree of up to 2^64 - 1 leaves: stored levels 0, 8, ..., 56. */
#define TLOG_TILE_LEVELS (MERKLE_MAX_LEVELS / MERKLE_TILE_HEIGHT)
/* Buffer size for tlog_checkpoint: checkpoint text, blank line, signature line, NUL. */
#define TLOG_CHECKPOINT_MAX (NOTE_CHECKPOINT_TEXT_MAX + NOTE_SIG_LINE_MAX)
/* A reasonable size for the err buffers of tlog_load and tlog_check_checkpoint. */
#define TLOG_ERR_MAX 256

/*
 * One stored tile, as a row of the tiles table holds it: the hashes of nodes
 * (8 * level, index * 256 + i) for i < width (1..256). Hashes past width are
 * meaningless.
 */
struct tlog_tile {
	unsigned level; /* tile level L: holds tree level 8L */
	uint64_t index; /* tile number N within the level */
	unsigned width; /* hashes in it; 256 = full */
	uint8_t hashes[MERKLE_TILE_WIDTH][MERKLE_HASH_SIZE];
};

struct tlog;

/*
 * A new, empty log (size 0, committed) whose checkpoints carry origin as
 * their first line and are signed by key under that name. origin is copied;
 * key (Ed25519) is borrowed and must outlive the log. On success *out is
 * owned by the caller (tlog_free). CU_ERR_INVALID if origin is not a valid
 * note key name of at most NOTE_NAME_MAX bytes; CU_ERR_NOMEM.
 */
CU_MUST_USE int tlog_new(const char *origin, const struct cu_key *key, struct tlog **out);

/* Frees the log and every tile it holds; accepts NULL. */
void tlog_free(struct tlog *t);

/*
 * Replaces the state of t by that of the stored tree of size leaves, given
 * the rightmost tile of each tile level as stored for that size (tiles[0..n)
 * in any order; copied). Each must be the tile holding the last hash of its
 * level at exactly the width size implies, one per level that size has, and
 * none for other levels; size 0 takes no tiles (tiles may then be NULL).
 * A full edge tile must hash to the last hash of the level above, so every
 * hash given is tied to the root. If expected_root is not NULL (the root of
 * the latest stored checkpoint, see tlog_check_checkpoint), the root rebuilt
 * from the tiles must equal it. The loaded state is the commit point.
 * Returns CU_OK, or CU_ERR_INVALID with a one-line reason in err and t
 * unchanged; CU_ERR_NOMEM (t unchanged).
 */
CU_MUST_USE int tlog_load(struct tlog *t, uint64_t size, const struct tlog_tile *tiles, size_t n,
			  const uint8_t *expected_root, char *err, size_t err_size);

/*
 * Appends entry (len bytes, the exact bytes of a log entry; NULL if len is
 * 0) as leaf SHA-256(0x00 || entry), updating the range and the tiles; sets
 * *index (may be NULL) to its leaf index. CU_ERR_INVALID for a NULL entry
 * with len > 0, CU_ERR_TOO_BIG if the log is full, CU_ERR_NOMEM; on error t
 * is unchanged.
 */
CU_MUST_USE int tlog_append(struct tlog *t, const uint8_t *entry, size_t len, uint64_t *index);

/* tlog_append of an entry whose leaf hash (merkle_leaf_hash) is already made. */
CU_MUST_USE int tlog_append_leaf(struct tlog *t, const uint8_t leaf[MERKLE_HASH_SIZE],
				 uint64_t *index);

/* Leaves in the tree, appended ones included. */
uint64_t tlog_size(const struct tlog *t);

/* The tree's current root (RFC 6962 MTH). */
void tlog_root(const struct tlog *t, uint8_t out[MERKLE_HASH_SIZE]);

/*
 * The tiles to store for the appends since the commit point: every tile
 * whose width changed, at its current width (tiles filled in the batch at
 * 256, the new rightmost partial tiles), ordered by level then index.
 * Iterate with *pos = 0 first; returns the next tile (borrowed, valid until
 * the next call that changes t) or NULL at the end.
 */
const struct tlog_tile *tlog_dirty_next(const struct tlog *t, size_t *pos);

/* How many tiles tlog_dirty_next lists. */
size_t tlog_dirty_count(const struct tlog *t);

/*
 * Writes the signed checkpoint note ("<origin>\n<size>\n<base64 root>\n",
 * a blank line, the Ed25519 signature line under the origin) for the
 * current size and root into out (TLOG_CHECKPOINT_MAX bytes suffice),
 * NUL-terminated; *len excludes the NUL. CU_ERR_TOO_BIG if out is too small.
 */
CU_MUST_USE int tlog_checkpoint(const struct tlog *t, char *out, size_t out_size, size_t *len);

/*
 * Verifies a signed checkpoint (text, len bytes) against this log's key and
 * origin and sets *size and root from it: the start-up check that storage
 * matches the last checkpoint (pass root on to tlog_load). Returns
 * CU_ERR_SIGNATURE if the log's signature does not verify, CU_ERR_NOT_FOUND
 * if the log did not sign it, CU_ERR_INVALID for a malformed note or
 * checkpoint or another origin; err gets the reason.
 */
CU_MUST_USE int tlog_check_checkpoint(const struct tlog *t, const char *text, size_t len,
				      uint64_t *size, uint8_t root[MERKLE_HASH_SIZE], char *err,
				      size_t err_size);

/*
 * The RFC 9162 inclusion proof of leaf index in the tree of size leaves
 * (index < size <= tlog_size), bottom-up into proof (room for
 * MERKLE_PROOF_MAX hashes), from memory only; *count gets the number of
 * hashes. Always succeeds for a leaf appended since the commit point;
 * returns CU_ERR_NOT_FOUND if a hash it needs is no longer in memory (the
 * caller asks storage instead), CU_ERR_INVALID for a bad index or size.
 */
CU_MUST_USE int tlog_inclusion_proof(const struct tlog *t, uint64_t index, uint64_t size,
				     uint8_t *proof, size_t *count);

/*
 * tlog_inclusion_proof, with right-edge hashes taken from and kept in edge
 * (proto/merkle.h): for many proofs in one tree, emptied by the caller
 * whenever the tree may have changed at the same size.
 */
CU_MUST_USE int tlog_inclusion_proof_edge(const struct tlog *t, uint64_t index, uint64_t size,
					  struct merkle_edge *edge, uint8_t *proof, size_t *count);

/*
 * The batch is stored: the current state becomes the commit point, and
 * every tile but the rightmost of each level is dropped.
 */
void tlog_commit(struct tlog *t);

/*
 * The batch failed: returns to the commit point exactly (size, range,
 * tiles and their widths), forgetting every append since.
 */
void tlog_rollback(struct tlog *t);

#endif
