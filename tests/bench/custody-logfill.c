/*
 * custody-logfill.c - fills custody's verifiable log with synthetic entries,
 * so that tests/bench/qrun can measure inclusion proofs on a log of
 * 10,000,000 entries (docs/benchmarks.md; issue 6) without submitting
 * 10,000,000 signed events through custodyd.
 *
 *   custody-logfill --conf CUSTODYD.CONF --entries N [--entry-bytes B]
 *                   [--chunk C] [--database CONNINFO]
 *
 * It writes exactly what custodyd's sequencer writes for a batch
 * (daemon/seq_log.c), with the daemon's own SQL (daemon/sql.c) and tree
 * (daemon/tlog.c): it takes the sequencer lock and claims an epoch as the
 * sequencer does (so it refuses to run beside a custodyd), loads the log's
 * right edge and checks it against the latest signed checkpoint as
 * load_log does, then appends N entries in transactions of C (default
 * 65,536): each starts with the epoch check, COPYs the entries (binary COPY
 * format), then the tiles tlog_dirty_next lists, then inserts the signed
 * checkpoint of the new size. So every commit leaves a consistent log that
 * a custodyd started afterwards accepts, and an interrupted fill loses only
 * its last chunk.
 *
 * Each entry is the leaf of a synthetic event, stored as the sequencer
 * stores one: its events row (ATTEST, the next event seq as the sequencer
 * would assign it, verdict ACCEPT, a random 32-byte id, actor the first
 * party) and its log_entries row, the stub without the envelope that the
 * events row holds (daemon/log_entry.h), so custodyd's start-up check
 * and proofs rebuild it. The whole LogEntry, hashed into the tree, is
 * exactly B bytes; its body, signer and signature are random bytes
 * (randombytes_buf): the body is no event and the signature verifies
 * nothing. B defaults to the mean size of a real single-device event's
 * entry. A database without a party first gets one (custody-logfill), by
 * a synthetic register_party admin action, logged like the events.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "config.h"
#include "custody.pb-c.h"
#include "key.h"
#include "log_entry.h"
#include "sql.h"
#include "tlog.h"
#include "tlog_rows.h"

/*
 * A single-device event's entry, as custody-bench's stored: ATTEST and
 * RECEIVE 230 bytes, SHIP 261, INSTALL 265 (mean 240; PACK 723, REGISTER
 * 206-493; all events of its mix 311).
 */
#define DEFAULT_ENTRY_BYTES 256
#define DEFAULT_CHUNK	    65536
#define MAX_ENTRY_BYTES	    (1 << 20)
#define COPY_FLUSH_BYTES    (1 << 20)
#define PROGRESS_EVERY_S    5.0

struct options {
	const char *conf;     /* custodyd.conf */
	const char *database; /* overrides the conf's database */
	uint64_t entries;
	size_t entry_bytes;
	size_t chunk;
};

/* Rows of one binary COPY, sent in pieces of about COPY_FLUSH_BYTES. */
struct copybuf {
	uint8_t *data;
	size_t len, cap;
};

struct fill {
	const struct options *o;
	PGconn *pg;
	struct tlog *log;
	struct cu_key *key;
	char epoch[24];	   /* our sequencer epoch, as text */
	uint64_t next_seq; /* the next event's seq (SQL_MAX_SEQS + 1) */
	size_t body_len;   /* envelope body bytes that make an entry entry_bytes long */
	uint8_t *entry;	   /* one packed entry */
	uint8_t *body;	   /* its envelope's random body */
	uint8_t signer[KEY_PUBLIC_BYTES], sig[KEY_SIG_BYTES], id[32]; /* and the rest, random */
	char actor[128];      /* the events' actor_id ('' until write_chunk registers one) */
	struct copybuf copy;  /* the COPY being written (events, then tiles) */
	struct copybuf stubs; /* the chunk's log_entries rows, sent after its events */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: custody-logfill --conf CUSTODYD.CONF --entries N [--entry-bytes B]\n"
		"                       [--chunk C] [--database CONNINFO]\n\n"
		"  --conf FILE        custodyd's config: database, log_key, log_origin\n"
		"  --entries N        synthetic entries to append after those stored\n"
		"  --entry-bytes B    bytes per entry (default %d, a single-device event's)\n"
		"  --chunk C          entries per transaction (default %d)\n"
		"  --database STR     libpq connection string instead of the conf's database\n"
		"custodyd must not be running on the database (the sequencer lock is taken).\n"
		"Exits 0 when every entry was stored, 1 on an error, 2 on a usage error.\n",
		DEFAULT_ENTRY_BYTES, DEFAULT_CHUNK);
}

static int parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (text[0] < '0' || text[0] > '9')
		return CU_ERR_INVALID;
	v = strtoull(text, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return CU_ERR_INVALID;
	*out = v;
	return CU_OK;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {{"conf", required_argument, NULL, 'c'},
					      {"entries", required_argument, NULL, 'n'},
					      {"entry-bytes", required_argument, NULL, 'b'},
					      {"chunk", required_argument, NULL, 'k'},
					      {"database", required_argument, NULL, 'd'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	uint64_t v = 0;
	int opt, rc = CU_OK;

	/* entries UINT64_MAX: not given (it is required) */
	*o = (struct options){
	    .entries = UINT64_MAX, .entry_bytes = DEFAULT_ENTRY_BYTES, .chunk = DEFAULT_CHUNK};
	while (rc == CU_OK && (opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->conf = optarg;
			break;
		case 'd':
			o->database = optarg;
			break;
		case 'n':
			rc = parse_u64(optarg, 0, INT64_MAX / 2, &o->entries);
			break;
		case 'b':
			rc = parse_u64(optarg, 1, MAX_ENTRY_BYTES, &v);
			o->entry_bytes = (size_t)v;
			break;
		case 'k':
			rc = parse_u64(optarg, 1, 1 << 22, &v);
			o->chunk = (size_t)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			rc = CU_ERR_INVALID;
		}
	}
	if (rc != CU_OK || optind != argc || o->conf == NULL || o->entries == UINT64_MAX) {
		usage(stderr);
		return CU_ERR_INVALID;
	}
	return CU_OK;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Consumes res: CU_OK if its status is want, else prints what failed and why. */
static int pg_check(PGresult *res, ExecStatusType want, const char *what)
{
	int rc = PQresultStatus(res) == want ? CU_OK : CU_ERR_IO;

	if (rc != CU_OK)
		fprintf(stderr, "custody-logfill: %s: %s", what, PQresultErrorMessage(res));
	PQclear(res);
	return rc;
}

/* Runs one statement of the daemon's (text parameters) and checks its status. */
static int pg_run(struct fill *f, enum sql_stmt stmt, int n, const char *const *params,
		  ExecStatusType want, const char *what)
{
	return pg_check(PQexecParams(f->pg, sql_text(stmt), n, NULL, params, NULL, NULL, 0), want,
			what);
}

/* ---- binary COPY --------------------------------------------------------- */

static int copy_reserve(struct copybuf *b, size_t more)
{
	size_t cap = b->cap > 0 ? b->cap : 2 * COPY_FLUSH_BYTES;
	uint8_t *p;

	while (cap < b->len + more)
		cap *= 2;
	if (cap == b->cap)
		return CU_OK;
	p = realloc(b->data, cap);
	if (p == NULL)
		return CU_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return CU_OK;
}

static void put_be(struct copybuf *b, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		b->data[b->len++] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

/* Field count of the next row (room reserved by the caller). */
static void put_row(struct copybuf *b, unsigned fields)
{
	put_be(b, fields, 2);
}

static void put_int(struct copybuf *b, uint64_t v, unsigned bytes)
{
	put_be(b, bytes, 4);
	put_be(b, v, bytes);
}

static void put_bytes(struct copybuf *b, const void *data, size_t len)
{
	put_be(b, len, 4);
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

/* Sends what b holds once it is big enough (or always, with force). */
static int copy_flush(struct fill *f, bool force)
{
	if (f->copy.len == 0 || (!force && f->copy.len < COPY_FLUSH_BYTES))
		return CU_OK;
	if (PQputCopyData(f->pg, (const char *)f->copy.data, (int)f->copy.len) != 1) {
		fprintf(stderr, "custody-logfill: COPY: %s", PQerrorMessage(f->pg));
		return CU_ERR_IO;
	}
	f->copy.len = 0;
	return CU_OK;
}

/* Starts "COPY table (columns) FROM STDIN (FORMAT binary)" and writes its header. */
static int copy_begin(struct fill *f, const char *target)
{
	static const uint8_t signature[11] = "PGCOPY\n\377\r\n";
	char sql[160];
	int rc;

	snprintf(sql, sizeof(sql), "COPY %s FROM STDIN (FORMAT binary)", target);
	rc = pg_check(PQexec(f->pg, sql), PGRES_COPY_IN, target);
	if (rc == CU_OK)
		rc = copy_reserve(&f->copy, sizeof(signature) + 8);
	if (rc != CU_OK)
		return rc;
	memcpy(f->copy.data + f->copy.len, signature, sizeof(signature));
	f->copy.len += sizeof(signature);
	put_be(&f->copy, 0, 4); /* flags */
	put_be(&f->copy, 0, 4); /* header extension length */
	return CU_OK;
}

/* Writes the trailer, ends the COPY and checks its result. */
static int copy_end(struct fill *f, const char *target)
{
	int rc = copy_reserve(&f->copy, 2);

	if (rc != CU_OK)
		return rc;
	put_be(&f->copy, 0xffff, 2);
	rc = copy_flush(f, true);
	if (rc != CU_OK)
		return rc;
	if (PQputCopyEnd(f->pg, NULL) != 1) {
		fprintf(stderr, "custody-logfill: COPY %s: %s", target, PQerrorMessage(f->pg));
		return CU_ERR_IO;
	}
	rc = pg_check(PQgetResult(f->pg), PGRES_COMMAND_OK, target);
	/* Drain to the end of the command, so the connection is ready for the next one. */
	for (PGresult *res; (res = PQgetResult(f->pg)) != NULL;)
		PQclear(res);
	return rc;
}

/* ---- the entries ---------------------------------------------------------- */

/* The synthetic event seq with the current random envelope into *e (env its). */
static void event_entry(struct fill *f, uint64_t seq, size_t body_len, int64_t recorded_ms,
			Custody__LogEntry *e, Custody__SignedEnvelope *env)
{
	custody__log_entry__init(e);
	custody__signed_envelope__init(env);
	env->body.data = f->body;
	env->body.len = body_len;
	env->signer.data = f->signer;
	env->signer.len = KEY_PUBLIC_BYTES;
	env->sig.data = f->sig;
	env->sig.len = KEY_SIG_BYTES;
	e->kind = CUSTODY__ENTRY_KIND__ENTRY_EVENT;
	e->seq = seq;
	e->envelope = env;
	e->recorded_at_ms = recorded_ms;
	e->verdict = CUSTODY__VERDICT__ACCEPT;
}

/* The size of a whole entry with a body of body_len bytes. */
static size_t entry_size(struct fill *f, size_t body_len)
{
	Custody__LogEntry e;
	Custody__SignedEnvelope env;

	/* the largest seq of the fill: its entries are never longer than sized */
	event_entry(f, f->next_seq + f->o->entries, body_len, wall_ms(), &e, &env);
	return custody__log_entry__get_packed_size(&e);
}

/*
 * Finds the body length that makes an entry entry_bytes long (at most one
 * byte short where a length prefix grows) and allocates the buffers.
 */
static int size_entries(struct fill *f)
{
	size_t want = f->o->entry_bytes, len, body = 0;

	f->body = malloc(want + 1);
	f->entry = malloc(want + 64);
	if (f->body == NULL || f->entry == NULL)
		return CU_ERR_NOMEM;
	len = entry_size(f, 0);
	if (len > want) {
		fprintf(stderr, "custody-logfill: --entry-bytes must be at least %zu\n", len);
		return CU_ERR_INVALID;
	}
	body = want - len;
	while (body > 0 && entry_size(f, body) > want)
		body--;
	f->body_len = body;
	return CU_OK;
}

/* Microseconds since 2000-01-01 UTC: a timestamptz in binary COPY. */
static uint64_t pg_time(int64_t unix_ms)
{
	return (uint64_t)((unix_ms - 946684800000LL) * 1000);
}

/* The stub of e (without its envelope) as a log_entries row of index into f->stubs. */
static int add_stub(struct fill *f, Custody__LogEntry *e, uint64_t index, const char *kind)
{
	Custody__SignedEnvelope *env = e->envelope;
	size_t len, kind_len = strlen(kind);
	int rc;

	e->envelope = NULL;
	len = custody__log_entry__get_packed_size(e);
	rc = copy_reserve(&f->stubs, 2 + 12 + 4 + kind_len + 12 + 4 + len);
	if (rc == CU_OK) {
		put_row(&f->stubs, 4);
		put_int(&f->stubs, index, 8);
		put_bytes(&f->stubs, kind, kind_len);
		put_int(&f->stubs, e->seq, 8);
		put_be(&f->stubs, len, 4);
		f->stubs.len += custody__log_entry__pack(e, f->stubs.data + f->stubs.len);
	}
	e->envelope = env;
	return rc;
}

/* The events row of the synthetic event e into the COPY of events. */
static int add_event_row(struct fill *f, const Custody__LogEntry *e)
{
	const Custody__SignedEnvelope *env = e->envelope;
	size_t actor_len = strlen(f->actor);
	uint64_t at = pg_time(e->recorded_at_ms);
	int rc = copy_reserve(&f->copy, 2 + 12 + 36 + 10 + 4 + actor_len + 36 + 2 * 12 + 4 +
					    env->body.len + 68 + 10);

	if (rc != CU_OK)
		return rc;
	put_row(&f->copy, 10);
	put_int(&f->copy, e->seq, 8);
	put_bytes(&f->copy, f->id, sizeof(f->id));
	put_bytes(&f->copy, "ATTEST", 6);
	put_bytes(&f->copy, f->actor, actor_len);
	put_bytes(&f->copy, env->signer.data, env->signer.len);
	put_int(&f->copy, at, 8); /* occurred_at */
	put_int(&f->copy, at, 8); /* recorded_at */
	put_bytes(&f->copy, env->body.data, env->body.len);
	put_bytes(&f->copy, env->sig.data, env->sig.len);
	put_bytes(&f->copy, "ACCEPT", 6);
	return copy_flush(f, false);
}

/*
 * Appends one random event to the tree: its events row to the COPY of
 * events, its stub to f->stubs.
 */
static int add_entry(struct fill *f)
{
	uint64_t index = tlog_size(f->log);
	Custody__LogEntry e;
	Custody__SignedEnvelope env;
	size_t len;
	int rc;

	randombytes_buf(f->body, f->body_len);
	randombytes_buf(f->signer, sizeof(f->signer));
	randombytes_buf(f->sig, sizeof(f->sig));
	randombytes_buf(f->id, sizeof(f->id));
	event_entry(f, f->next_seq++, f->body_len, wall_ms(), &e, &env);
	len = custody__log_entry__pack(&e, f->entry);
	rc = tlog_append(f->log, f->entry, len, NULL);
	if (rc == CU_OK)
		rc = add_event_row(f, &e);
	if (rc == CU_OK)
		rc = add_stub(f, &e, index, "ENTRY_EVENT");
	return rc;
}

/* COPYs the tiles the appends since the commit point changed (SQL_INSERT_TILE's rows). */
static int copy_tiles(struct fill *f)
{
	const struct tlog_tile *tile;
	size_t pos = 0;
	int rc = copy_begin(f, "log_tiles (level, idx, width, hashes)");

	while (rc == CU_OK && (tile = tlog_dirty_next(f->log, &pos)) != NULL) {
		rc = copy_reserve(&f->copy, 2 + 8 + 12 + 8 + 4 + (size_t)tile->width * 32);
		if (rc != CU_OK)
			break;
		put_row(&f->copy, 4);
		put_int(&f->copy, tile->level, 4);
		put_int(&f->copy, tile->index, 8);
		put_int(&f->copy, tile->width, 4);
		put_bytes(&f->copy, tile->hashes, (size_t)tile->width * 32);
		rc = copy_flush(f, false);
	}
	return rc == CU_OK ? copy_end(f, "log_tiles") : rc;
}

/* SQL_INSERT_CHECKPOINT with the signed checkpoint of the current tree. */
static int insert_checkpoint(struct fill *f)
{
	char note[TLOG_CHECKPOINT_MAX], size[24], ms[24];
	uint8_t root[MERKLE_HASH_SIZE];
	const char *params[4] = {size, (const char *)root, note, ms};
	const int lens[4] = {0, MERKLE_HASH_SIZE, 0, 0}, formats[4] = {0, 1, 0, 0};
	size_t len = 0;
	int rc = tlog_checkpoint(f->log, note, sizeof(note), &len);

	if (rc != CU_OK)
		return rc;
	tlog_root(f->log, root);
	snprintf(size, sizeof(size), "%" PRIu64, tlog_size(f->log));
	snprintf(ms, sizeof(ms), "%" PRId64, wall_ms());
	return pg_check(
	    PQexecParams(f->pg, sql_text(SQL_INSERT_CHECKPOINT), 4, NULL, params, lens, formats, 0),
	    PGRES_COMMAND_OK, "insert the checkpoint");
}

/* COPYs the chunk's log_entries rows that add_entry held in f->stubs. */
static int copy_stubs(struct fill *f)
{
	int rc = copy_begin(f, "log_entries (idx, kind, seq, entry)");

	if (rc == CU_OK)
		rc = copy_flush(f, true);
	for (size_t off = 0; rc == CU_OK && off < f->stubs.len; off += COPY_FLUSH_BYTES) {
		size_t n =
		    f->stubs.len - off < COPY_FLUSH_BYTES ? f->stubs.len - off : COPY_FLUSH_BYTES;

		if (PQputCopyData(f->pg, (const char *)f->stubs.data + off, (int)n) != 1) {
			fprintf(stderr, "custody-logfill: COPY: %s", PQerrorMessage(f->pg));
			rc = CU_ERR_IO;
		}
	}
	f->stubs.len = 0;
	return rc == CU_OK ? copy_end(f, "log_entries") : rc;
}

/*
 * The log entry of the synthetic admin action seq, recorded at ms, with
 * body and f's random signer and sig: the whole entry into the tree, its
 * stub into f->stubs.
 */
static int append_admin_entry(struct fill *f, uint64_t seq, int64_t ms, uint8_t *body,
			      size_t body_len)
{
	Custody__LogEntry e = CUSTODY__LOG_ENTRY__INIT;
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	uint64_t index = tlog_size(f->log);
	uint8_t *full = NULL;
	size_t len = 0;
	int rc;

	env.body = (ProtobufCBinaryData){body_len, body};
	env.signer = (ProtobufCBinaryData){KEY_PUBLIC_BYTES, f->signer};
	env.sig = (ProtobufCBinaryData){KEY_SIG_BYTES, f->sig};
	e.kind = CUSTODY__ENTRY_KIND__ENTRY_ADMIN;
	e.seq = seq;
	e.envelope = &env;
	e.recorded_at_ms = ms;
	rc = log_entry_pack(&e, &full, &len);
	if (rc == CU_OK)
		rc = tlog_append(f->log, full, len, NULL);
	free(full);
	return rc == CU_OK ? add_stub(f, &e, index, "ENTRY_ADMIN") : rc;
}

/*
 * A party for the events' actor_id, in the chunk's transaction: a
 * synthetic register_party admin action (random body and signature, as
 * the events), its log entry and the parties row.
 */
static int register_party(struct fill *f)
{
	PGresult *res = PQexec(f->pg, "SELECT coalesce(max(seq), 0) + 1 FROM admin_actions");
	uint8_t body[64];
	char seq[24] = "", ms[24];
	const char *admin[8] = {seq,
				(const char *)f->id,
				"register_party",
				(const char *)f->signer,
				(const char *)body,
				(const char *)f->sig,
				ms,
				ms};
	const int lens[8] = {0, 32, 0, KEY_PUBLIC_BYTES, sizeof(body), KEY_SIG_BYTES, 0, 0};
	const int formats[8] = {0, 1, 0, 1, 1, 1, 0, 0};
	const char *party[9] = {"custody-logfill",
				"custody-logfill's synthetic events",
				"US",
				"US",
				"US",
				"exporter",
				"false",
				seq,
				ms};
	int64_t now = wall_ms();
	int rc;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		snprintf(seq, sizeof(seq), "%s", PQgetvalue(res, 0, 0));
	rc = pg_check(res, PGRES_TUPLES_OK, "the next admin seq");
	if (rc != CU_OK)
		return rc;
	snprintf(ms, sizeof(ms), "%" PRId64, now);
	randombytes_buf(body, sizeof(body));
	randombytes_buf(f->signer, sizeof(f->signer));
	randombytes_buf(f->sig, sizeof(f->sig));
	randombytes_buf(f->id, sizeof(f->id));
	rc = append_admin_entry(f, strtoull(seq, NULL, 10), now, body, sizeof(body));
	if (rc == CU_OK)
		rc = pg_check(PQexecParams(f->pg, sql_text(SQL_INSERT_ADMIN), 8, NULL, admin, lens,
					   formats, 0),
			      PGRES_COMMAND_OK, "insert the register_party admin action");
	if (rc == CU_OK)
		rc = pg_run(f, SQL_INSERT_PARTY, 9, party, PGRES_COMMAND_OK, "insert the party");
	return rc;
}

/*
 * One transaction: n entries (first the party they need, if there is
 * none), their tiles and the checkpoint; then the commit point.
 */
static int write_chunk(struct fill *f, uint64_t n)
{
	const char *epoch = f->epoch;
	bool new_party = f->actor[0] == '\0';
	uint64_t first_seq = f->next_seq;
	int rc = pg_run(f, SQL_BEGIN, 0, NULL, PGRES_COMMAND_OK, "BEGIN");

	f->stubs.len = 0;
	if (rc == CU_OK)
		rc = pg_run(f, SQL_EPOCH_CHECK, 1, &epoch, PGRES_TUPLES_OK,
			    "the sequencer epoch check");
	if (rc == CU_OK && new_party) {
		rc = register_party(f);
		snprintf(f->actor, sizeof(f->actor), "custody-logfill");
	}
	if (rc == CU_OK)
		rc = copy_begin(f, "events (seq, id, type, actor_id, signer, occurred_at,"
				   " recorded_at, body, sig, verdict)");
	for (uint64_t i = 0; rc == CU_OK && i < n; i++)
		rc = add_entry(f);
	if (rc == CU_OK)
		rc = copy_end(f, "events");
	if (rc == CU_OK)
		rc = copy_stubs(f);
	if (rc == CU_OK)
		rc = copy_tiles(f);
	if (rc == CU_OK)
		rc = insert_checkpoint(f);
	if (rc == CU_OK)
		rc = pg_run(f, SQL_COMMIT, 0, NULL, PGRES_COMMAND_OK, "COMMIT");
	if (rc == CU_OK) {
		tlog_commit(f->log);
		return CU_OK;
	}
	if (new_party)
		f->actor[0] = '\0';
	f->next_seq = first_seq;
	tlog_rollback(f->log);
	return rc;
}

/* ---- start-up: the lock and the stored log --------------------------------- */

/* SQL_LOCK_AND_CLAIM: the sequencer's lock and a new epoch, or an error if custodyd holds it. */
static int claim_sequencer(struct fill *f)
{
	char key[24], holder[64];
	const char *params[2] = {key, holder};
	PGresult *res;
	int rc = CU_OK;

	snprintf(key, sizeof(key), "%lld", (long long)SQL_SEQUENCER_LOCK_KEY);
	snprintf(holder, sizeof(holder), "custody-logfill pid %ld", (long)getpid());
	res = PQexecParams(f->pg, sql_text(SQL_LOCK_AND_CLAIM), 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_check(res, PGRES_TUPLES_OK, "take the sequencer lock");
	if (PQgetisnull(res, 0, 0)) {
		fprintf(stderr, "custody-logfill: another process (a running custodyd?) holds the "
				"sequencer lock on this database; stop it first\n");
		rc = CU_ERR_EXISTS;
	} else {
		snprintf(f->epoch, sizeof(f->epoch), "%s", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return rc;
}

/*
 * The sequencer's start-up check without the leaf recomputation: the
 * latest checkpoint must be ours and for the number of stored entries, and
 * the edge tiles must rebuild its root.
 */
static int load_from(struct fill *f, const PGresult *head, const PGresult *edge)
{
	uint64_t size = 0;
	uint8_t root[MERKLE_HASH_SIZE];
	struct tlog_tile *tiles = NULL;
	size_t n = 0;
	char err[TLOG_ERR_MAX] = "";
	int rc = tlog_rows_head(f->log, head, edge, &size, root, &tiles, &n, err, sizeof(err));

	if (rc == CU_OK)
		rc = tlog_load(f->log, size, tiles, n, size > 0 ? root : NULL, err, sizeof(err));
	free(tiles);
	if (rc != CU_OK && err[0] != '\0')
		fprintf(stderr,
			"custody-logfill: the stored log does not match its checkpoint: %s\n", err);
	return rc;
}

static int load_log(struct fill *f)
{
	PGresult *head = PQexec(f->pg, sql_text(SQL_LOG_HEAD));
	PGresult *edge = PQexec(f->pg, sql_text(SQL_LOG_EDGE));
	int rc = CU_OK;

	if (PQresultStatus(head) != PGRES_TUPLES_OK || PQresultStatus(edge) != PGRES_TUPLES_OK) {
		fprintf(
		    stderr, "custody-logfill: read the log: %s",
		    PQresultErrorMessage(PQresultStatus(head) != PGRES_TUPLES_OK ? head : edge));
		rc = CU_ERR_IO;
	}
	if (rc == CU_OK)
		rc = load_from(f, head, edge);
	PQclear(head);
	PQclear(edge);
	return rc;
}

/*
 * The events' actor, the first party stored ('' if none yet: write_chunk
 * registers one), and the seq after the newest event's (SQL_MAX_SEQS).
 */
static int read_start(struct fill *f)
{
	PGresult *res = PQexec(f->pg, "SELECT id FROM parties ORDER BY id LIMIT 1");
	int rc;

	f->actor[0] = '\0';
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		snprintf(f->actor, sizeof(f->actor), "%s", PQgetvalue(res, 0, 0));
	rc = pg_check(res, PGRES_TUPLES_OK, "read the parties");
	if (rc != CU_OK)
		return rc;
	res = PQexec(f->pg, sql_text(SQL_MAX_SEQS));
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		f->next_seq = strtoull(PQgetvalue(res, 0, 0), NULL, 10) + 1;
	return pg_check(res, PGRES_TUPLES_OK, "read the newest seqs");
}

/* Reads the conf, the log key, connects and loads the stored log into f. */
static int fill_open(struct fill *f, struct config **cfg)
{
	char err[256] = "";
	int rc = config_load(f->o->conf, cfg, err, sizeof(err));

	if (rc != CU_OK) {
		fprintf(stderr, "custody-logfill: %s: %s\n", f->o->conf, err);
		return rc;
	}
	rc = key_load((*cfg)->log_key, &f->key);
	if (rc != CU_OK) {
		fprintf(stderr, "custody-logfill: log_key %s: %s\n", (*cfg)->log_key,
			cu_strerror(rc));
		return rc;
	}
	rc = tlog_new((*cfg)->log_origin, f->key, &f->log);
	if (rc != CU_OK) {
		fprintf(stderr, "custody-logfill: log_origin \"%s\": %s\n", (*cfg)->log_origin,
			cu_strerror(rc));
		return rc;
	}
	f->pg = PQconnectdb(f->o->database != NULL ? f->o->database : (*cfg)->database);
	if (PQstatus(f->pg) != CONNECTION_OK) {
		fprintf(stderr, "custody-logfill: connect: %s", PQerrorMessage(f->pg));
		return CU_ERR_IO;
	}
	rc = claim_sequencer(f);
	if (rc == CU_OK)
		rc = load_log(f);
	if (rc == CU_OK)
		rc = read_start(f);
	return rc == CU_OK ? size_entries(f) : rc;
}

static void fill_close(struct fill *f)
{
	PQfinish(f->pg);
	tlog_free(f->log);
	key_free(f->key);
	free(f->copy.data);
	free(f->stubs.data);
	free(f->entry);
	free(f->body);
}

/* Appends the entries chunk by chunk, printing progress every few seconds. */
static int fill_run(struct fill *f)
{
	uint64_t start = tlog_size(f->log), done = 0;
	double t0 = now_s(), last = t0, s;
	int rc = CU_OK;

	printf("custody-logfill: %" PRIu64 " entries stored; appending %" PRIu64
	       " of %zu bytes, %zu per transaction (epoch %s)\n",
	       start, f->o->entries, entry_size(f, f->body_len), f->o->chunk, f->epoch);
	fflush(stdout);
	while (rc == CU_OK && done < f->o->entries) {
		uint64_t n =
		    f->o->entries - done < f->o->chunk ? f->o->entries - done : f->o->chunk;

		rc = write_chunk(f, n);
		done += rc == CU_OK ? n : 0;
		s = now_s();
		if (rc == CU_OK && (s - last >= PROGRESS_EVERY_S || done == f->o->entries)) {
			printf("  %" PRIu64 " / %" PRIu64 " appended, tree size %" PRIu64
			       ", %.0f entries/s\n",
			       done, f->o->entries, tlog_size(f->log), (double)done / (s - t0));
			fflush(stdout);
			last = s;
		}
	}
	s = now_s() - t0;
	if (rc != CU_OK)
		fprintf(stderr,
			"custody-logfill: stopped after %" PRIu64 " entries; the log is "
			"consistent at size %" PRIu64 "\n",
			done, tlog_size(f->log));
	printf("logfill-result entries=%" PRIu64 " tree_size=%" PRIu64
	       " seconds=%.1f entries_per_s=%.0f\n",
	       done, tlog_size(f->log), s, s > 0 ? (double)done / s : 0);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	struct fill f = {.o = &o};
	struct config *cfg = NULL;
	int rc;

	if (sodium_init() < 0)
		return 1;
	if (parse_args(argc, argv, &o) != CU_OK)
		return 2;
	rc = fill_open(&f, &cfg);
	if (rc == CU_OK)
		rc = fill_run(&f);
	fill_close(&f);
	config_free(cfg);
	return rc == CU_OK ? 0 : 1;
}
