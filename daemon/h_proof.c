/*
 * h_proof.c - proofs from the stored log: inclusion of an entry (by index,
 * event id, the registration of a facility or key, or a key's change) and consistency
 * between two checkpointed sizes; the entries and tiles themselves.
 *
 * A proof is made in two rounds on the read lane. The first reads the
 * checkpoint(s), kept for the answer, and the entry's index; then the
 * proof is computed once with a getter that takes what the tile cache
 * holds (tilecache.h) and notes the other tiles, those tiles are read in
 * the second round, and the proof is computed again from them and the
 * first round's cached nodes.
 * An inclusion proof by index in the latest tree skips the first round:
 * the sequencer holds that checkpoint. A tile row at least as wide as the
 * tree needs is good for any size: rows only ever grow to the right.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "dispatch.h"
#include "key.h"
#include "log.h"
#include "merkle.h"
#include "query.h"
#include "sequencer.h"
#include "tilecache.h"
#include "tlog.h"
#include "tlog_rows.h"

#define MAX_TILES	 (2 * MERKLE_PROOF_MAX)
#define ENTRIES_MAX	 1000
#define KIND_INCLUSION	 1 /* query variants */
#define KIND_CONSISTENCY 2

/*
 * What the first round learnt, for the second: the nodes the tile cache
 * served (by the order the proof asks for them, which depends only on the
 * index and sizes), so a tile evicted in between is not needed again.
 */
#define MEMO_MAX (2 * MERKLE_PROOF_MAX)
struct memo {
	bool have[MEMO_MAX];
	uint8_t hash[MEMO_MAX][MERKLE_HASH_SIZE];
};

/* Tiles a proof needs (first round) or has (second round). */
struct tiles {
	uint64_t size;
	struct merkle_tile want[MAX_TILES];
	size_t n_want;
	struct memo *memo;
	size_t calls;			   /* nodes asked for so far */
	const PGresult *rows;		   /* second round; NULL: no tiles were read */
	unsigned char *decoded[MAX_TILES]; /* rows' hashes, decoded once */
	size_t decoded_len[MAX_TILES];
	bool missing;
};

static struct tilecache *tile_cache;

int h_proof_init(size_t max)
{
	tile_cache = tilecache_new(max);
	return tile_cache != NULL ? CU_OK : CU_ERR_NOMEM;
}

void h_proof_cache_stats(size_t *tiles, uint64_t *hits, uint64_t *misses)
{
	struct tilecache_stats st;

	tilecache_stats(tile_cache, &st);
	*tiles = st.tiles;
	*hits = st.hits;
	*misses = st.misses;
}

void h_proof_free(void)
{
	tilecache_free(tile_cache);
	tile_cache = NULL;
}

static void tiles_release(struct tiles *t)
{
	for (size_t i = 0; i < MAX_TILES; i++)
		PQfreemem(t->decoded[i]);
}

/* First round: serves node (level, index) from the cache or notes its tile. */
static int note_tile(void *arg, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_SIZE])
{
	struct tiles *t = arg;
	struct merkle_tile_pos pos;
	size_t call = t->calls++;

	memset(out, 0, MERKLE_HASH_SIZE);
	if (merkle_tile_locate(t->size, level, index, &pos) != CU_OK)
		return CU_ERR_INVALID;
	if (call < MEMO_MAX && tilecache_node(tile_cache, pos.tile.level, pos.tile.index, pos.first,
					      pos.count, t->memo->hash[call])) {
		t->memo->have[call] = true;
		return CU_OK;
	}
	for (size_t i = 0; i < t->n_want; i++) {
		if (t->want[i].level == pos.tile.level && t->want[i].index == pos.tile.index)
			return CU_OK;
	}
	if (t->n_want == MAX_TILES)
		return CU_ERR_TOO_BIG;
	t->want[t->n_want++] = pos.tile;
	return CU_OK;
}

/* Row r's hashes, decoded on first use (NULL if malformed). */
static const unsigned char *row_hashes(struct tiles *t, int r, size_t *len)
{
	if (r >= MAX_TILES)
		return NULL;
	if (t->decoded[r] == NULL)
		t->decoded[r] = PQunescapeBytea((const unsigned char *)PQgetvalue(t->rows, r, 3),
						&t->decoded_len[r]);
	*len = t->decoded_len[r];
	return t->decoded[r];
}

/*
 * Second round: node (level, index) from the first round's memo, the
 * cache, or its stored tile row, which enters the cache with its inner
 * nodes; with no room in the cache (tile_cache_max 0) the row is folded
 * (pos.count is a power of two: fold pairs until one hash is left).
 */
static int tile_node(void *arg, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_SIZE])
{
	struct tiles *t = arg;
	struct merkle_tile_pos pos;
	uint8_t scratch[MERKLE_TILE_WIDTH / 2][MERKLE_HASH_SIZE];
	size_t call = t->calls++, len = 0;
	const unsigned char *hashes = NULL;
	int r;

	if (call < MEMO_MAX && t->memo->have[call]) {
		memcpy(out, t->memo->hash[call], MERKLE_HASH_SIZE);
		return CU_OK;
	}
	if (merkle_tile_locate(t->size, level, index, &pos) != CU_OK)
		return CU_ERR_INVALID;
	if (tilecache_node(tile_cache, pos.tile.level, pos.tile.index, pos.first, pos.count, out))
		return CU_OK;
	for (r = 0; r < PQntuples(t->rows); r++) {
		if ((unsigned)db_value_i64(t->rows, r, 0) == pos.tile.level &&
		    (uint64_t)db_value_i64(t->rows, r, 1) == pos.tile.index)
			break;
	}
	if (r < PQntuples(t->rows))
		hashes = row_hashes(t, r, &len);
	if (hashes == NULL || len < (size_t)(pos.first + pos.count) * MERKLE_HASH_SIZE ||
	    pos.count > MERKLE_TILE_WIDTH / 2) {
		t->missing = true;
		return hashes == NULL ? CU_ERR_NOT_FOUND : CU_ERR_INVALID;
	}
	if (len <= MERKLE_TILE_WIDTH * MERKLE_HASH_SIZE && len % MERKLE_HASH_SIZE == 0) {
		tilecache_put(tile_cache, pos.tile.level, pos.tile.index, hashes,
			      (unsigned)(len / MERKLE_HASH_SIZE));
		if (tilecache_node(tile_cache, pos.tile.level, pos.tile.index, pos.first, pos.count,
				   out))
			return CU_OK;
	}
	memcpy(scratch, hashes + (size_t)pos.first * MERKLE_HASH_SIZE,
	       (size_t)pos.count * MERKLE_HASH_SIZE);
	for (unsigned n = pos.count; n > 1; n /= 2) {
		for (unsigned i = 0; i < n / 2; i++)
			merkle_node_hash(scratch[2 * i], scratch[2 * i + 1], scratch[i]);
	}
	memcpy(out, scratch[0], MERKLE_HASH_SIZE);
	return CU_OK;
}

/* Adds the tile read for t's wanted tiles to job. */
static void add_tiles_read(struct db_job *job, const struct tiles *t)
{
	char levels[MAX_TILES * 4 + 3] = "{", indexes[MAX_TILES * 21 + 3] = "{";
	size_t ln = 1, in = 1;

	for (size_t i = 0; i < t->n_want; i++) {
		ln += (size_t)snprintf(levels + ln, sizeof(levels) - ln, "%s%u", i ? "," : "",
				       t->want[i].level);
		in += (size_t)snprintf(indexes + in, sizeof(indexes) - in, "%s%" PRIu64,
				       i ? "," : "", t->want[i].index);
	}
	snprintf(levels + ln, sizeof(levels) - ln, "}");
	snprintf(indexes + in, sizeof(indexes) - in, "}");
	db_job_add(job, SQL_LOG_TILES_AT);
	db_param_text(job, levels);
	db_param_text(job, indexes);
}

/* Points hashes[] at count proof hashes in proof. */
static void proof_refs(uint8_t *proof, size_t count, ProtobufCBinaryData *hashes)
{
	for (size_t i = 0; i < count; i++) {
		hashes[i].data = proof + i * MERKLE_HASH_SIZE;
		hashes[i].len = MERKLE_HASH_SIZE;
	}
}

/* The checkpoint row of res (size, note), or false with req answered. */
static bool checkpoint_row(struct req *req, const PGresult *res, uint64_t asked, uint64_t *size)
{
	if (PQntuples(res) == 1) {
		*size = (uint64_t)db_value_i64(res, 0, 0);
		return true;
	}
	if (asked == 0)
		req_fail(req, CUSTODY__ERROR_CODE__NOT_FOUND, "the log is empty");
	else
		req_fail(req, CUSTODY__ERROR_CODE__NOT_FOUND,
			 "no checkpoint of tree size %" PRIu64
			 ": proofs are for the sizes checkpoints were signed at",
			 asked);
	return false;
}

/* ---- inclusion ------------------------------------------------------------ */

/* The second round's state (the query's data). */
struct proof_ctx {
	uint64_t index, size1, size;	 /* inclusion: index; consistency: size1 */
	bool tiles_read;		 /* inclusion: the job's first result is the tiles */
	char note[TLOG_CHECKPOINT_MAX];	 /* the checkpoint of size, from the first round */
	char note1[TLOG_CHECKPOINT_MAX]; /* consistency: that of size1 */
	struct memo memo;
};

static void on_inclusion_tiles(struct query *q, const struct db_job *job)
{
	struct proof_ctx *ctx = q->data;
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__InclusionResult r = CUSTODY__INCLUSION_RESULT__INIT;
	ProtobufCBinaryData hashes[MERKLE_PROOF_MAX];
	uint8_t proof[MERKLE_PROOF_MAX * MERKLE_HASH_SIZE];
	int next = 0;
	struct tiles t = {.size = ctx->size, .memo = &ctx->memo};
	const PGresult *entry;
	size_t count = 0, len = 0;
	uint8_t *bytes = NULL;
	char err[TLOG_ERR_MAX];

	if (ctx->tiles_read)
		t.rows = db_job_result(job, next++);
	entry = db_job_result(job, next);
	if (PQntuples(entry) != 1 ||
	    merkle_inclusion_proof(ctx->index, t.size, tile_node, &t, proof, &count) != CU_OK) {
		tiles_release(&t);
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL,
			 "the stored log cannot prove entry %" PRIu64 " in size %" PRIu64,
			 ctx->index, t.size);
		return;
	}
	tiles_release(&t);
	if (tlog_rows_entry(entry, 0, &bytes, &len, err, sizeof(err)) != CU_OK) {
		log_error("inclusion proof: %s", err);
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL,
			 "the stored log entry %" PRIu64 " is damaged", ctx->index);
		return;
	}
	proof_refs(proof, count, hashes);
	r.index = ctx->index;
	r.tree_size = t.size;
	r.proof = hashes;
	r.n_proof = count;
	r.checkpoint = ctx->note;
	r.entry.data = bytes;
	r.entry.len = bytes != NULL ? len : 0;
	resp.body_case = CUSTODY__RESPONSE__BODY_INCLUSION;
	resp.inclusion = &r;
	req_reply(q->req, &resp);
	free(bytes);
}

/*
 * The second round of an inclusion proof of entry index in the tree of
 * size, whose checkpoint is note (copied): plans the proof (the cache
 * serves what it holds), then reads the other tiles and the entry.
 */
static void prove_inclusion(struct req *req, uint64_t index, uint64_t size, const char *note)
{
	struct proof_ctx *ctx = calloc(1, sizeof(*ctx));
	struct tiles t = {.size = size, .memo = ctx != NULL ? &ctx->memo : NULL};
	uint8_t proof[MERKLE_PROOF_MAX * MERKLE_HASH_SIZE];
	size_t count = 0;
	struct db_job *next;

	if (ctx == NULL) {
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return;
	}
	if (index >= size) {
		free(ctx);
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "entry %" PRIu64 " is not in the tree of size %" PRIu64, index, size);
		return;
	}
	if (merkle_inclusion_proof(index, size, note_tile, &t, proof, &count) != CU_OK) {
		free(ctx);
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "cannot plan the proof");
		return;
	}
	if ((next = query_job(req, on_inclusion_tiles, "", 0)) == NULL) {
		free(ctx);
		return;
	}
	query_of(next)->data = ctx;
	ctx->index = index;
	ctx->size = size;
	if (t.n_want > 0) {
		add_tiles_read(next, &t);
		ctx->tiles_read = true;
	}
	snprintf(ctx->note, sizeof(ctx->note), "%s", note);
	db_job_add(next, SQL_LOG_ENTRY);
	db_param_i64(next, (int64_t)index);
	query_submit(next);
}

/*
 * Inclusion by event id: answers FORBIDDEN and returns false unless the
 * requester may read one of the event's devices, or is its actor, or is
 * unscoped (regulator, admin, witness, local). A scoped requester gets
 * FORBIDDEN for an unknown event too.
 */
static bool may_prove_event(struct query *q, const struct db_job *job)
{
	const PGresult *scope = db_job_size(job) > 2 ? db_job_result(job, 2) : NULL;
	struct auth_id id;
	struct auth_device d;
	uint8_t key[32];

	if (scope == NULL)
		return true; /* unscoped: no scope was read */
	if (auth_whoami(q->req, &id) != CU_OK)
		return false;
	for (int r = 0; r < PQntuples(scope); r++) {
		query_device_scope(scope, r, &d, key);
		if (strcmp(PQgetvalue(scope, r, 6), id.party) == 0 ||
		    (!PQgetisnull(scope, r, 0) && auth_may_read_device(&id, auth_registry(), &d)))
			return true;
	}
	auth_forbid(q->req, &id, "inclusion", "that event is not in the scope of this key");
	return false;
}

static void on_inclusion_head(struct query *q, const struct db_job *job)
{
	const PGresult *cp = db_job_result(job, 0);
	uint64_t index = 0, asked = 0, size = 0;

	if (sscanf(q->key, "%" SCNu64 " %" SCNu64, &index, &asked) != 2) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "lost the request");
		return;
	}
	if (!checkpoint_row(q->req, cp, asked, &size))
		return;
	if (q->variant == 1 && !may_prove_event(q, job))
		return;
	if (q->limit == 1) { /* by name: the second result has the index */
		const PGresult *found = db_job_result(job, 1);

		if (PQntuples(found) != 1) {
			req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND, "no log entry records %s",
				 q->variant == 1   ? "that event"
				 : q->variant == 2 ? "the registration of that facility"
				 : q->variant == 3 ? "the registration of that key"
						   : "that change of that key");
			return;
		}
		index = (uint64_t)db_value_i64(found, 0, 0);
	}
	prove_inclusion(q->req, index, size, PQgetvalue(cp, 0, 1));
}

void h_inclusion(struct req *req, const Custody__Request *msg)
{
	const Custody__InclusionRequest *in = msg->inclusion;
	/* 0: by index; 1: event id; 2: facility; 3: key; 4: key change (query variants) */
	int by = in->event_id.len > 0	   ? 1
		 : in->facility[0] != '\0' ? 2
		 : in->key.len == 0	   ? 0
		 : in->key_change == 0	   ? 3
					   : 4;
	int named = (in->event_id.len > 0) + (in->facility[0] != '\0') + (in->key.len > 0);
	char key[VALIDATE_SERIAL_MAX + 1];
	const char *note;
	uint64_t latest = 0;
	struct auth_id id;
	struct db_job *job;

	if (named > 1 || (named == 1 && in->index != 0)) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "name the entry by one of index, event_id, facility and key");
		return;
	}
	if (in->key_change != 0 && in->key.len == 0) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "key_change: needs the key");
		return;
	}
	if ((by == 1 && in->event_id.len != 32) || (by >= 3 && in->key.len != KEY_PUBLIC_BYTES)) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "%s: must be 32 bytes",
			 by == 1 ? "event_id" : "key");
		return;
	}
	if (by == 2 && !validate_ident(in->facility)) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "facility: not a valid facility id");
		return;
	}
	if (in->tree_size > INT64_MAX || in->index > INT64_MAX) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "index or tree_size out of range");
		return;
	}
	if (auth_whoami(req, &id) != CU_OK)
		return;
	/* By index in the latest tree (or its size): the sequencer has the checkpoint. */
	note = by == 0 ? sequencer_checkpoint(&latest) : NULL;
	if (note != NULL && (in->tree_size == 0 || in->tree_size == latest)) {
		prove_inclusion(req, in->index, latest, note);
		return;
	}
	/* The query carries the index and the size asked for to the next round. */
	snprintf(key, sizeof(key), "%" PRIu64 " %" PRIu64, in->index, in->tree_size);
	job = query_job(req, on_inclusion_head, key, by != 0);
	if (job == NULL)
		return;
	query_of(job)->variant = by;
	db_job_add(job, SQL_LOG_CHECKPOINT_AT);
	db_param_i64(job, (int64_t)in->tree_size);
	if (by == 1) {
		db_job_add(job, SQL_LOG_FIND_EVENT);
		db_param_bytes(job, in->event_id.data, 32);
		if (auth_access(msg->body_case, id.role) == AUTH_SCOPED && !auth_reads_all(&id)) {
			db_job_add(job, SQL_EVENT_SCOPE);
			db_param_bytes(job, in->event_id.data, 32);
		}
	} else if (by == 2) {
		db_job_add(job, SQL_LOG_FIND_FACILITY);
		db_param_text(job, in->facility);
	} else if (by == 3) {
		db_job_add(job, SQL_LOG_FIND_KEY);
		db_param_bytes(job, in->key.data, KEY_PUBLIC_BYTES);
	} else if (by == 4) {
		db_job_add(job, SQL_LOG_FIND_KEY_CHANGE);
		db_param_bytes(job, in->key.data, KEY_PUBLIC_BYTES);
		db_param_i64(job, in->key_change);
	}
	query_submit(job);
}

/* ---- consistency ---------------------------------------------------------- */

static void on_consistency_tiles(struct query *q, const struct db_job *job)
{
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__ConsistencyResult r = CUSTODY__CONSISTENCY_RESULT__INIT;
	ProtobufCBinaryData hashes[MERKLE_PROOF_MAX];
	uint8_t proof[MERKLE_PROOF_MAX * MERKLE_HASH_SIZE];
	struct proof_ctx *ctx = q->data;
	struct tiles t = {.rows = db_job_result(job, 0), .size = ctx->size, .memo = &ctx->memo};
	size_t count = 0;
	int rc = merkle_consistency_proof(ctx->size1, t.size, tile_node, &t, proof, &count);

	tiles_release(&t);
	if (rc != CU_OK) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL,
			 "the stored log cannot prove consistency");
		return;
	}
	proof_refs(proof, count, hashes);
	r.size1 = ctx->size1;
	r.size2 = t.size;
	r.proof = hashes;
	r.n_proof = count;
	r.checkpoint1 = ctx->note1;
	r.checkpoint2 = ctx->note;
	resp.body_case = CUSTODY__RESPONSE__BODY_CONSISTENCY;
	resp.consistency = &r;
	req_reply(q->req, &resp);
}

static void on_consistency_head(struct query *q, const struct db_job *job)
{
	uint64_t asked1 = 0, asked2 = 0, size1 = 0, size2 = 0;
	uint8_t proof[MERKLE_PROOF_MAX * MERKLE_HASH_SIZE];
	struct proof_ctx *ctx;
	struct tiles t = {0};
	size_t count = 0;
	struct db_job *next;

	if (sscanf(q->key, "%" SCNu64 " %" SCNu64, &asked1, &asked2) != 2) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "lost the request");
		return;
	}
	if (!checkpoint_row(q->req, db_job_result(job, 0), asked1, &size1) ||
	    !checkpoint_row(q->req, db_job_result(job, 1), asked2, &size2))
		return;
	if (size1 > size2) {
		req_fail(q->req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "size1 %" PRIu64 " is larger than size2 %" PRIu64, size1, size2);
		return;
	}
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return;
	}
	t.size = size2;
	t.memo = &ctx->memo;
	if (merkle_consistency_proof(size1, size2, note_tile, &t, proof, &count) != CU_OK) {
		free(ctx);
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "cannot plan the proof");
		return;
	}
	if ((next = query_job(q->req, on_consistency_tiles, "", 0)) == NULL) {
		free(ctx);
		return;
	}
	ctx->size1 = size1;
	ctx->size = size2;
	snprintf(ctx->note1, sizeof(ctx->note1), "%s", PQgetvalue(db_job_result(job, 0), 0, 1));
	snprintf(ctx->note, sizeof(ctx->note), "%s", PQgetvalue(db_job_result(job, 1), 0, 1));
	query_of(next)->data = ctx;
	add_tiles_read(next, &t);
	query_submit(next);
}

void h_consistency(struct req *req, const Custody__Request *msg)
{
	const Custody__ConsistencyRequest *in = msg->consistency;
	char key[VALIDATE_SERIAL_MAX + 1];
	struct db_job *job;

	if (in->size1 == 0 || in->size1 > INT64_MAX || in->size2 > INT64_MAX) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "size1 must be a checkpointed size above 0 (size2 0 = the latest)");
		return;
	}
	snprintf(key, sizeof(key), "%" PRIu64 " %" PRIu64, in->size1, in->size2);
	job = query_job(req, on_consistency_head, key, 0);
	if (job == NULL)
		return;
	db_job_add(job, SQL_LOG_CHECKPOINT_AT);
	db_param_i64(job, (int64_t)in->size1);
	db_job_add(job, SQL_LOG_CHECKPOINT_AT);
	db_param_i64(job, (int64_t)in->size2);
	query_submit(job);
}

/* ---- entries ------------------------------------------------------------- */

/* Frees the n rebuilt entries of rebuild_entries and the array. */
static void free_entries(ProtobufCBinaryData *entries, int n)
{
	for (int i = 0; i < n; i++)
		free(entries[i].data);
	free(entries);
}

/*
 * The leaves of the SQL_LOG_ENTRIES rows, rebuilt from their stubs
 * (tlog_rows_entry) into entries[] (one per row, zeroed by the caller).
 * A damaged entry is logged once and fails them all.
 */
static int rebuild_entries(const PGresult *res, ProtobufCBinaryData *entries)
{
	char err[TLOG_ERR_MAX];

	for (int i = 0; i < PQntuples(res); i++) {
		int rc =
		    tlog_rows_entry(res, i, &entries[i].data, &entries[i].len, err, sizeof(err));

		if (rc != CU_OK) {
			log_error("entries: %s", err);
			return rc;
		}
	}
	return CU_OK;
}

static void on_entries(struct query *q, const struct db_job *job)
{
	const PGresult *res = db_job_result(job, 0);
	int n = PQntuples(res);
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__EntriesResult r = CUSTODY__ENTRIES_RESULT__INIT;
	ProtobufCBinaryData *entries = calloc((size_t)n + 1, sizeof(*entries));
	uint64_t start = 0;

	if (entries == NULL || sscanf(q->key, "%" SCNu64, &start) != 1) {
		free(entries);
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return;
	}
	if (rebuild_entries(res, entries) != CU_OK) {
		free_entries(entries, n);
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "the stored log is damaged");
		return;
	}
	r.start = start;
	r.entries = entries;
	r.n_entries = (size_t)n;
	resp.body_case = CUSTODY__RESPONSE__BODY_ENTRIES;
	resp.entries = &r;
	req_reply(q->req, &resp);
	free_entries(entries, n);
}

void h_entries(struct req *req, const Custody__Request *msg)
{
	const Custody__EntriesRequest *in = msg->entries;
	uint32_t count = query_limit(in->count, 100, ENTRIES_MAX);
	char key[VALIDATE_SERIAL_MAX + 1];
	struct db_job *job;

	if (in->start > INT64_MAX - ENTRIES_MAX) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "start out of range");
		return;
	}
	snprintf(key, sizeof(key), "%" PRIu64, in->start);
	job = query_job(req, on_entries, key, count);
	if (job == NULL)
		return;
	db_job_add(job, SQL_LOG_ENTRIES);
	db_param_i64(job, (int64_t)in->start);
	db_param_i64(job, (int64_t)(in->start + count));
	query_submit(job);
}

/* ---- tiles ---------------------------------------------------------------- */

static void on_tile(struct query *q, const struct db_job *job)
{
	const PGresult *cp = db_job_result(job, 0), *tile = db_job_result(job, 1);
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__TileResult r = CUSTODY__TILE_RESULT__INIT;
	unsigned level = 0, width = 0;
	uint64_t index = 0, size = 0, end = 0;
	unsigned char *hashes;
	size_t len = 0;

	if (sscanf(q->key, "%u %" SCNu64 " %u", &level, &index, &width) != 3) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "lost the request");
		return;
	}
	/* Hashes of tree level 8 * level the latest checkpoint covers. */
	if (PQntuples(cp) == 1)
		size = (uint64_t)db_value_i64(cp, 0, 0);
	end = size >> (8 * level);
	if (index * MERKLE_TILE_WIDTH + width > end || PQntuples(tile) != 1) {
		req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND,
			 "no tile %u/%" PRIu64 " of width %u in the tree of size %" PRIu64, level,
			 index, width, size);
		return;
	}
	hashes = PQunescapeBytea((const unsigned char *)PQgetvalue(tile, 0, 1), &len);
	if (hashes == NULL || len < (size_t)width * MERKLE_HASH_SIZE) {
		PQfreemem(hashes);
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "stored tile is short");
		return;
	}
	r.level = level;
	r.index = index;
	r.width = width;
	r.hashes.data = hashes;
	r.hashes.len = (size_t)width * MERKLE_HASH_SIZE; /* a prefix of a wider row */
	resp.body_case = CUSTODY__RESPONSE__BODY_TILE;
	resp.tile = &r;
	req_reply(q->req, &resp);
	PQfreemem(hashes);
}

void h_tile(struct req *req, const Custody__Request *msg)
{
	const Custody__TileRequest *in = msg->tile;
	unsigned width = in->width == 0 ? MERKLE_TILE_WIDTH : in->width;
	char key[VALIDATE_SERIAL_MAX + 1];
	struct db_job *job;

	if (in->level >= 8 || width > MERKLE_TILE_WIDTH ||
	    in->index > (UINT64_MAX >> 8) / MERKLE_TILE_WIDTH) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "level must be below 8, width at most %d, index in range",
			 MERKLE_TILE_WIDTH);
		return;
	}
	snprintf(key, sizeof(key), "%u %" PRIu64 " %u", in->level, in->index, width);
	job = query_job(req, on_tile, key, 0);
	if (job == NULL)
		return;
	db_job_add(job, SQL_LOG_CHECKPOINT_AT);
	db_param_i64(job, 0);
	db_job_add(job, SQL_LOG_TILE);
	db_param_i64(job, in->level);
	db_param_i64(job, (int64_t)in->index);
	db_param_i64(job, width);
	query_submit(job);
}
