/*
 * seq_logload.c - the start-up check of the stored log, before the
 * sequencer appends to it: the entries stored, the last checkpoint's
 * signature, the root rebuilt from every stored entry and the root rebuilt
 * from the stored right-edge tiles must all agree (DESIGN section 5). A
 * log that does not match its checkpoint is never appended to.
 *
 * The entries are read in chunks of LOGLOAD_CHUNK with their submissions'
 * envelopes (a stored entry is a stub without it), rebuilt into leaves
 * (log_entry.h) and hashed here (SHA-256(0x00 || entry)), one job after
 * the other on the write lane, and folded into a merkle_range as they
 * come: memory stays a few megabytes for a log of any size (a chunk of
 * rows in binary format), and the loop serves requests between chunks.
 *
 * Every event entry's id goes into a filter of stored ids (idfilter.h) on
 * the way: the sequencer then asks PostgreSQL whether an event was stored
 * before only when the filter cannot rule it out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "idfilter.h"
#include "log.h"
#include "merkle.h"
#include "seq_internal.h"
#include "tlog_rows.h"

/*
 * Entries per read: a few megabytes of rows, and a plan cheap enough for
 * PostgreSQL not to compile it (jit_above_cost 100,000: 16,384 probes cost
 * about 150,000, and compiling took 10 ms a chunk).
 */
#define LOGLOAD_CHUNK 8192

static struct {
	bool busy;
	struct db *db;
	struct tlog *tlog;
	seq_logload_fn done;
	uint64_t size, read; /* leaves in the checkpoint; read and folded so far */
	uint8_t root[MERKLE_HASH_SIZE];
	struct tlog_tile *tiles; /* the stored right edge */
	size_t n_tiles;
	struct merkle_range range;
	struct idfilter *ids; /* the event ids read so far; NULL when out of memory */
	char err[TLOG_ERR_MAX];
} ll;

/* Ends the check: reports rc (err says why) and forgets everything. */
static void finish(int rc)
{
	seq_logload_fn done = ll.done;

	free(ll.tiles);
	ll.tiles = NULL;
	ll.n_tiles = 0;
	ll.busy = false;
	done(rc, ll.err);
	idfilter_free(ll.ids); /* unless done took it */
	ll.ids = NULL;
}

struct idfilter *seq_logload_take_ids(void)
{
	struct idfilter *f = ll.ids;

	ll.ids = NULL;
	return f;
}

/* Adds the id of row r, if it is an event's, to the filter (given up when out of memory). */
static void note_id(const PGresult *res, int r)
{
	uint8_t id[32];

	if (ll.ids == NULL || !tlog_rows_event_id(res, r, id))
		return;
	if (idfilter_add(ll.ids, id) != CU_OK) {
		log_warn("out of memory for the filter of stored event ids: every batch looks "
			 "its ids up in the database");
		idfilter_free(ll.ids);
		ll.ids = NULL;
	}
}

/* Every leaf is folded in: the two roots must match the checkpoint's. */
static int load_edge(void)
{
	uint8_t got[MERKLE_HASH_SIZE];

	merkle_range_root(&ll.range, got);
	if (ll.size > 0 && sodium_memcmp(got, ll.root, MERKLE_HASH_SIZE) != 0) {
		snprintf(ll.err, sizeof(ll.err),
			 "the root recomputed from the %llu stored entries differs from the "
			 "checkpoint's: an entry was changed",
			 (unsigned long long)ll.size);
		return CU_ERR_INVALID;
	}
	return tlog_load(ll.tlog, ll.size, ll.tiles, ll.n_tiles, ll.size > 0 ? ll.root : NULL,
			 ll.err, sizeof(ll.err));
}

static void read_chunk(void);

/*
 * Rebuilds the leaf of row r (tlog_rows_entry) and folds its hash into
 * the range. On error ll.err says why.
 */
static int fold_leaf(const PGresult *res, int r)
{
	uint8_t leaf[MERKLE_HASH_SIZE], *entry = NULL;
	size_t len = 0;
	char why[TLOG_ERR_MAX - 32]; /* room for what follows it in ll.err */
	int rc;

	if (tlog_rows_index(res, r) != ll.read) {
		snprintf(ll.err, sizeof(ll.err), "log entry %llu is missing: an entry was changed",
			 (unsigned long long)ll.read);
		return CU_ERR_INVALID;
	}
	rc = tlog_rows_entry(res, r, &entry, &len, why, sizeof(why));
	if (rc == CU_OK) {
		merkle_leaf_hash(entry, len, leaf);
		rc = merkle_range_append(&ll.range, leaf, NULL, NULL);
	}
	free(entry);
	if (rc != CU_OK)
		snprintf(ll.err, sizeof(ll.err), "%s: an entry was changed",
			 rc == CU_ERR_INVALID ? why : "log entry cannot be hashed");
	return rc;
}

static void on_chunk(struct db_job *job, void *arg)
{
	const PGresult *res;
	uint64_t want = ll.size - ll.read < LOGLOAD_CHUNK ? ll.size - ll.read : LOGLOAD_CHUNK;

	(void)arg;
	if (db_job_status(job) != DB_OK) {
		snprintf(ll.err, sizeof(ll.err), "reading log entries from %llu: %s",
			 (unsigned long long)ll.read, db_job_error(job));
		finish(CU_ERR_IO);
		return;
	}
	res = db_job_result(job, 0);
	if ((uint64_t)PQntuples(res) != want) {
		snprintf(ll.err, sizeof(ll.err),
			 "%d entries read back from index %llu, the checkpoint needs %llu",
			 PQntuples(res), (unsigned long long)ll.read, (unsigned long long)want);
		finish(CU_ERR_INVALID);
		return;
	}
	for (int r = 0; r < PQntuples(res); r++, ll.read++) {
		if (fold_leaf(res, r) != CU_OK) {
			finish(CU_ERR_INVALID);
			return;
		}
		note_id(res, r);
	}
	if (ll.read < ll.size) {
		read_chunk();
		return;
	}
	finish(load_edge());
}

static void read_chunk(void)
{
	struct db_job *job = db_job_new(on_chunk, NULL);

	if (job == NULL) {
		snprintf(ll.err, sizeof(ll.err), "out of memory");
		finish(CU_ERR_NOMEM);
		return;
	}
	db_job_add(job, SQL_LOG_ENTRIES);
	db_param_i64(job, (int64_t)ll.read);
	db_param_i64(job, (int64_t)(ll.read + LOGLOAD_CHUNK));
	if (db_submit(ll.db, DB_LANE_WRITE, job) != CU_OK) {
		db_job_free(job);
		snprintf(ll.err, sizeof(ll.err), "the database went away");
		finish(CU_ERR_IO);
	}
}

void seq_logload_start(struct db *db, struct tlog *tlog, const PGresult *head, const PGresult *edge,
		       seq_logload_fn done)
{
	int rc;

	ll.err[0] = '\0';
	if (ll.busy) { /* an earlier check still has a job in flight */
		snprintf(ll.err, sizeof(ll.err), "the previous check of the log is still running");
		done(CU_ERR_IO, ll.err);
		return;
	}
	ll.busy = true;
	ll.db = db;
	ll.tlog = tlog;
	ll.done = done;
	ll.read = 0;
	merkle_range_init(&ll.range);
	idfilter_free(ll.ids);
	ll.ids = NULL;
	rc = tlog_rows_head(tlog, head, edge, &ll.size, ll.root, &ll.tiles, &ll.n_tiles, ll.err,
			    sizeof(ll.err));
	if (rc != CU_OK) {
		finish(rc);
		return;
	}
	ll.ids = idfilter_new(ll.size + ll.size / 2);
	if (ll.size == 0) {
		finish(load_edge());
		return;
	}
	log_info("log: checking %llu stored entries against the last signed checkpoint",
		 (unsigned long long)ll.size);
	read_chunk();
}
