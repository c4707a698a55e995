/*
 * h_proof.c - proofs from the stored log: inclusion of an entry (by index,
 * event id, the registration of a facility or key, or a key's change) and consistency
 * between two checkpointed sizes; the entries and tiles themselves.
 *
 * A proof is made in two rounds on the read lane. The first reads the
 * checkpoint(s) (and the entry's index); then the proof is computed once
 * with a getter that only notes which tiles it would read, those tiles
 * are read in the second round, and the proof is computed again from
 * them. A tile row at least as wide as the tree needs is good for any
 * size: rows only ever grow to the right.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "dispatch.h"
#include "key.h"
#include "merkle.h"
#include "query.h"

#define MAX_TILES	 (2 * MERKLE_PROOF_MAX)
#define ENTRIES_MAX	 1000
#define KIND_INCLUSION	 1 /* query variants */
#define KIND_CONSISTENCY 2

/* Tiles a proof needs (first round) or has (second round). */
struct tiles {
	uint64_t size;
	struct merkle_tile want[MAX_TILES];
	size_t n_want;
	const PGresult *rows; /* second round */
	bool missing;
};

/* First round: notes the tile that holds node (level, index). */
static int note_tile(void *arg, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_SIZE])
{
	struct tiles *t = arg;
	struct merkle_tile_pos pos;

	memset(out, 0, MERKLE_HASH_SIZE);
	if (merkle_tile_locate(t->size, level, index, &pos) != CU_OK)
		return CU_ERR_INVALID;
	for (size_t i = 0; i < t->n_want; i++) {
		if (t->want[i].level == pos.tile.level && t->want[i].index == pos.tile.index)
			return CU_OK;
	}
	if (t->n_want == MAX_TILES)
		return CU_ERR_TOO_BIG;
	t->want[t->n_want++] = pos.tile;
	return CU_OK;
}

/* Second round: node (level, index) hashed up from its stored tile. */
static int tile_node(void *arg, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_SIZE])
{
	struct tiles *t = arg;
	struct merkle_tile_pos pos;
	uint8_t *hashes = NULL;
	size_t len = 0;
	int rc = CU_ERR_NOT_FOUND;

	if (merkle_tile_locate(t->size, level, index, &pos) != CU_OK)
		return CU_ERR_INVALID;
	for (int r = 0; r < PQntuples(t->rows) && rc == CU_ERR_NOT_FOUND; r++) {
		if ((unsigned)db_value_i64(t->rows, r, 0) != pos.tile.level ||
		    (uint64_t)db_value_i64(t->rows, r, 1) != pos.tile.index)
			continue;
		hashes = PQunescapeBytea((const unsigned char *)PQgetvalue(t->rows, r, 3), &len);
		if (hashes == NULL || len < (size_t)(pos.first + pos.count) * MERKLE_HASH_SIZE) {
			rc = CU_ERR_INVALID;
			break;
		}
		/* pos.count is a power of two: fold pairs until one hash is left. */
		for (unsigned n = pos.count; n > 1; n /= 2) {
			for (unsigned i = 0; i < n / 2; i++) {
				uint8_t *h = hashes + (size_t)(pos.first + i) * MERKLE_HASH_SIZE;

				merkle_node_hash(
				    hashes + (size_t)(pos.first + 2 * i) * MERKLE_HASH_SIZE,
				    hashes + (size_t)(pos.first + 2 * i + 1) * MERKLE_HASH_SIZE, h);
			}
		}
		memcpy(out, hashes + (size_t)pos.first * MERKLE_HASH_SIZE, MERKLE_HASH_SIZE);
		rc = CU_OK;
	}
	PQfreemem(hashes);
	t->missing |= rc != CU_OK;
	return rc;
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

static void on_inclusion_tiles(struct query *q, const struct db_job *job)
{
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__InclusionResult r = CUSTODY__INCLUSION_RESULT__INIT;
	ProtobufCBinaryData hashes[MERKLE_PROOF_MAX];
	uint8_t proof[MERKLE_PROOF_MAX * MERKLE_HASH_SIZE];
	const PGresult *cp = db_job_result(job, 1), *entry = db_job_result(job, 2);
	struct tiles t = {.rows = db_job_result(job, 0)};
	uint64_t index = 0;
	size_t count = 0, len = 0;
	unsigned char *bytes;

	if (sscanf(q->key, "%" SCNu64 " %" SCNu64, &index, &t.size) != 2 || PQntuples(cp) != 1 ||
	    PQntuples(entry) != 1 ||
	    merkle_inclusion_proof(index, t.size, tile_node, &t, proof, &count) != CU_OK) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL,
			 "the stored log cannot prove entry %" PRIu64 " in size %" PRIu64, index,
			 t.size);
		return;
	}
	bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(entry, 0, 1), &len);
	proof_refs(proof, count, hashes);
	r.index = index;
	r.tree_size = t.size;
	r.proof = hashes;
	r.n_proof = count;
	r.checkpoint = PQgetvalue(cp, 0, 1);
	r.entry.data = bytes;
	r.entry.len = bytes != NULL ? len : 0;
	resp.body_case = CUSTODY__RESPONSE__BODY_INCLUSION;
	resp.inclusion = &r;
	req_reply(q->req, &resp);
	PQfreemem(bytes);
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
	struct tiles t = {0};
	uint8_t proof[MERKLE_PROOF_MAX * MERKLE_HASH_SIZE];
	size_t count = 0;
	char key[VALIDATE_SERIAL_MAX + 1];
	struct db_job *next;

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
	if (index >= size) {
		req_fail(q->req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "entry %" PRIu64 " is not in the tree of size %" PRIu64, index, size);
		return;
	}
	t.size = size;
	if (merkle_inclusion_proof(index, size, note_tile, &t, proof, &count) != CU_OK) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "cannot plan the proof");
		return;
	}
	snprintf(key, sizeof(key), "%" PRIu64 " %" PRIu64, index, size);
	next = query_job(q->req, on_inclusion_tiles, key, 0);
	if (next == NULL)
		return;
	add_tiles_read(next, &t);
	db_job_add(next, SQL_LOG_CHECKPOINT_AT);
	db_param_i64(next, (int64_t)size);
	db_job_add(next, SQL_LOG_ENTRIES);
	db_param_i64(next, (int64_t)index);
	db_param_i64(next, (int64_t)index + 1);
	query_submit(next);
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
	const PGresult *cp1 = db_job_result(job, 1), *cp2 = db_job_result(job, 2);
	struct tiles t = {.rows = db_job_result(job, 0)};
	uint64_t size1 = 0;
	size_t count = 0;

	if (sscanf(q->key, "%" SCNu64 " %" SCNu64, &size1, &t.size) != 2 || PQntuples(cp1) != 1 ||
	    PQntuples(cp2) != 1 ||
	    merkle_consistency_proof(size1, t.size, tile_node, &t, proof, &count) != CU_OK) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL,
			 "the stored log cannot prove consistency");
		return;
	}
	proof_refs(proof, count, hashes);
	r.size1 = size1;
	r.size2 = t.size;
	r.proof = hashes;
	r.n_proof = count;
	r.checkpoint1 = PQgetvalue(cp1, 0, 1);
	r.checkpoint2 = PQgetvalue(cp2, 0, 1);
	resp.body_case = CUSTODY__RESPONSE__BODY_CONSISTENCY;
	resp.consistency = &r;
	req_reply(q->req, &resp);
}

static void on_consistency_head(struct query *q, const struct db_job *job)
{
	uint64_t asked1 = 0, asked2 = 0, size1 = 0, size2 = 0;
	uint8_t proof[MERKLE_PROOF_MAX * MERKLE_HASH_SIZE];
	struct tiles t = {0};
	char key[VALIDATE_SERIAL_MAX + 1];
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
	t.size = size2;
	if (merkle_consistency_proof(size1, size2, note_tile, &t, proof, &count) != CU_OK) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "cannot plan the proof");
		return;
	}
	snprintf(key, sizeof(key), "%" PRIu64 " %" PRIu64, size1, size2);
	next = query_job(q->req, on_consistency_tiles, key, 0);
	if (next == NULL)
		return;
	add_tiles_read(next, &t);
	db_job_add(next, SQL_LOG_CHECKPOINT_AT);
	db_param_i64(next, (int64_t)size1);
	db_job_add(next, SQL_LOG_CHECKPOINT_AT);
	db_param_i64(next, (int64_t)size2);
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
	for (int i = 0; i < n; i++) {
		entries[i].data =
		    PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 1), &entries[i].len);
		if (entries[i].data == NULL)
			entries[i].len = 0;
	}
	r.start = start;
	r.entries = entries;
	r.n_entries = (size_t)n;
	resp.body_case = CUSTODY__RESPONSE__BODY_ENTRIES;
	resp.entries = &r;
	req_reply(q->req, &resp);
	for (int i = 0; i < n; i++)
		PQfreemem(entries[i].data);
	free(entries);
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
