/*
 * crash_audit.c - the auditor of the reliability suite (docs/reliability.md):
 * checks a custody database against what a client was told and against
 * itself, from one REPEATABLE READ snapshot, so it may run while custodyd
 * keeps writing.
 *
 *  1. acknowledged: every event in the --acked file of crash-load (read
 *     before the snapshot is taken, so each was committed before it) is
 *     stored exactly once, with the seq its acknowledgement gave;
 *  2. replay: the device states are recomputed from the stored events in
 *     seq order with the daemon's own state machine (daemon/state.c) and
 *     the model table of --models (the suite loads no other policy), REJECT
 *     evidence skipped, and must equal the devices table field by field,
 *     with nothing missing or extra;
 *  3. log: the log entries are numbered 0..n-1 without a gap, each is the
 *     stub of a stored event or admin action (its LogEntry without the
 *     envelope, which that row completes) and each of those has one entry;
 *     the newest checkpoint verifies under the log key (--log-pub,
 *     --origin), covers all n entries, and its root equals the
 *     root recomputed from the entries (proto/merkle.c) and the stored one;
 *  4. --unacked FILE (request frames crash-load could not get answered):
 *     each such event is stored exactly once with the very bytes sent;
 *  5. --final (the client has stopped and resent everything): every event
 *     of those files was acknowledged, every stored event was acknowledged
 *     (nothing invented), and every stored signature and id verifies.
 * Prints one line of figures; exits 0 when all holds, 1 otherwise (the
 * first problems are printed), 2 on a usage error.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "codec.h"
#include "enums.h"
#include "envelope.h"
#include "frame.h"
#include "hmap.h"
#include "key.h"
#include "log_entry.h"
#include "merkle.h"
#include "models.h"
#include "note.h"
#include "state.h"

#define PRINT_MAX 10
#define DAY_MS	  86400000LL

struct options {
	const char *db, *acked, *unacked, *log_pub, *origin, *models;
	int ship_days, rma_days;
	bool final;
};

/* One stored event or admin action; spans borrow the PGresult. */
struct stored {
	uint64_t seq;
	const uint8_t *id, *body, *signer, *sig;
	size_t body_len;
	bool reject;
	unsigned log_entries;
	unsigned acked; /* times the acked file names it */
};

struct audit {
	struct options o;
	PGconn *db;
	PGresult *events_res, *admin_res;
	struct stored *ev, *adm;
	size_t n_ev, n_adm;
	struct hmap *by_id; /* event id -> struct stored */
	size_t problems, acked_checked, unacked_checked, devices, log_size;
};

static void problem(struct audit *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct audit *a, const char *fmt, ...)
{
	va_list ap;

	if (a->problems++ >= PRINT_MAX)
		return;
	va_start(ap, fmt);
	fputs("crash-audit: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static uint64_t be64(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | (uint8_t)p[i];
	return v;
}

/* Runs sql (binary results when binary); NULL after printing the error. */
static PGresult *query(struct audit *a, const char *sql, bool binary)
{
	PGresult *r = PQexecParams(a->db, sql, 0, NULL, NULL, NULL, NULL, binary ? 1 : 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "crash-audit: %s: %s", sql, PQerrorMessage(a->db));
		PQclear(r);
		return NULL;
	}
	return r;
}

/* Fills rows from r (binary: seq, id, body, signer, sig, verdict). */
static int load_rows(PGresult *r, struct stored **out, size_t *n)
{
	*n = (size_t)PQntuples(r);
	*out = calloc(*n + 1, sizeof(**out));
	if (*out == NULL)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < *n; i++) {
		struct stored *s = &(*out)[i];
		int row = (int)i;

		s->seq = be64(PQgetvalue(r, row, 0));
		s->id = (const uint8_t *)PQgetvalue(r, row, 1);
		s->body = (const uint8_t *)PQgetvalue(r, row, 2);
		s->body_len = (size_t)PQgetlength(r, row, 2);
		s->signer = (const uint8_t *)PQgetvalue(r, row, 3);
		s->sig = (const uint8_t *)PQgetvalue(r, row, 4);
		s->reject = strcmp(PQgetvalue(r, row, 5), "REJECT") == 0;
	}
	return CU_OK;
}

/* Loads events and admin actions in seq order, events indexed by id. */
static int load_stored(struct audit *a)
{
	void *old;

	a->events_res = query(a,
			      "SELECT seq, id, body, signer, sig, verdict FROM events"
			      " ORDER BY seq",
			      true);
	a->admin_res = query(a,
			     "SELECT seq, id, body, signer, sig, 'ACCEPT'::text"
			     " FROM admin_actions ORDER BY seq",
			     true);
	a->by_id = hmap_new();
	if (a->events_res == NULL || a->admin_res == NULL || a->by_id == NULL)
		return CU_ERR_IO;
	if (load_rows(a->events_res, &a->ev, &a->n_ev) != CU_OK ||
	    load_rows(a->admin_res, &a->adm, &a->n_adm) != CU_OK)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < a->n_ev; i++) {
		old = NULL;
		if (hmap_put(a->by_id, a->ev[i].id, 32, &a->ev[i], &old) != CU_OK)
			return CU_ERR_NOMEM;
		if (old != NULL)
			problem(a, "event seq %llu stored twice (also seq %llu)",
				(unsigned long long)a->ev[i].seq,
				(unsigned long long)((struct stored *)old)->seq);
	}
	return CU_OK;
}

/* The stored row of seq in rows[0..n) (sorted by seq), or NULL. */
static struct stored *find_seq(struct stored *rows, size_t n, uint64_t seq)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rows[mid].seq == seq)
			return &rows[mid];
		if (rows[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Check 1: each line "<hex id> <seq> <dup>" of the acked file (read before the snapshot). */
static int check_acked(struct audit *a, const char *text)
{
	const char *p = text, *nl;
	uint8_t id[32];
	size_t id_len;
	unsigned long long seq;
	int dup;

	for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		char line[160];
		struct stored *s;

		if ((size_t)(nl - p) >= sizeof(line) || nl - p < 64)
			return CU_ERR_INVALID;
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (sodium_hex2bin(id, sizeof(id), line, 64, NULL, &id_len, NULL) != 0 ||
		    id_len != 32 || sscanf(line + 64, " %llu %d", &seq, &dup) != 2)
			return CU_ERR_INVALID;
		a->acked_checked++;
		s = hmap_get(a->by_id, id, 32);
		if (s == NULL) {
			problem(a, "acknowledged event %.16s... (seq %llu) is not stored", line,
				seq);
			continue;
		}
		s->acked++;
		if (s->seq != seq)
			problem(a, "event %.16s... acknowledged as seq %llu, stored as %llu", line,
				seq, (unsigned long long)s->seq);
		if (s->acked > 1)
			problem(a, "event %.16s... acknowledged twice", line);
	}
	return CU_OK;
}

/* Replays one stored event into ws. */
static int replay_one(struct audit *a, struct state_ws *ws, const struct models *models,
		      const struct stored *s)
{
	Custody__Event *ev = custody__event__unpack(NULL, s->body_len, s->body);
	struct state_ctx ctx = {s->id, s->seq, models, (int64_t)a->o.ship_days * DAY_MS,
				(int64_t)a->o.rma_days * DAY_MS};
	struct state_result res = {0};
	int rc;

	if (ev == NULL) {
		problem(a, "event seq %llu: body is not an Event", (unsigned long long)s->seq);
		return CU_OK;
	}
	rc = state_apply(ws, ev, &ctx, &res);
	if (rc == CU_OK && res.code != 0)
		problem(a, "replay refuses stored event seq %llu: %s", (unsigned long long)s->seq,
			res.message);
	state_result_clear(&res);
	custody__event__free_unpacked(ev, NULL);
	return rc;
}

/* Compares one devices row (text columns, see check_devices) with its replayed state. */
static void compare_device(struct audit *a, PGresult *r, int row, const struct dev *d)
{
	const struct stored *head = find_seq(a->ev, a->n_ev, d->head_seq);
	char key_hex[65] = "";
	char want[20][160];
	int nf = PQnfields(r);

	if (d->has_device_key)
		sodium_bin2hex(key_hex, sizeof(key_hex), d->device_key, 32);
	snprintf(want[0], 160, "%s", d->serial);
	snprintf(want[1], 160, "%s", enum_name(&custody__device_kind__descriptor, d->kind));
	snprintf(want[2], 160, "%s", d->model);
	snprintf(want[3], 160, "%s", d->eccn_class);
	snprintf(want[4], 160, "%lld", (long long)d->tpp);
	snprintf(want[5], 160, "%s", key_hex);
	snprintf(want[6], 160, "%s", d->owner);
	snprintf(want[7], 160, "%s", d->custodian);
	snprintf(want[8], 160, "%s", enum_name(&custody__device_status__descriptor, d->status));
	snprintf(want[9], 160, "%s", d->facility);
	snprintf(want[10], 160, "%s", d->dest_facility);
	snprintf(want[11], 160, "%s", d->parent);
	snprintf(want[12], 160, "%s", d->location);
	snprintf(want[13], 160, "%llu", (unsigned long long)d->head_seq);
	snprintf(want[14], 160, "%llu", (unsigned long long)d->last_seq);
	snprintf(want[15], 160, "%llu", (unsigned long long)d->registered_seq);
	snprintf(want[16], 160, "%lld", (long long)d->last_at_ms);
	snprintf(want[17], 160, "%lld", (long long)d->seen_at_ms);
	snprintf(want[18], 160, "%llu", (unsigned long long)d->shipment_seq);
	snprintf(want[19], 160, "%lld", (long long)d->deadline_ms);
	for (int f = 0; f < nf && f < 20; f++) {
		if (strcmp(PQgetvalue(r, row, f), want[f]) != 0)
			problem(a, "device %s: %s is %s, the replay says %s", d->serial,
				PQfname(r, f), PQgetvalue(r, row, f), want[f]);
	}
	if (head == NULL || memcmp(head->id, d->head_id, 32) != 0)
		problem(a, "device %s: head seq %llu is not the replay's head event", d->serial,
			(unsigned long long)d->head_seq);
}

/* Check 2: the devices table equals the replay of the stored events. */
static int check_devices(struct audit *a, const struct models *models)
{
	struct state_ws *ws = state_ws_new();
	PGresult *r = NULL;
	int rc = ws != NULL ? CU_OK : CU_ERR_NOMEM;

	for (size_t i = 0; i < a->n_ev && rc == CU_OK; i++) {
		if (!a->ev[i].reject)
			rc = replay_one(a, ws, models, &a->ev[i]);
	}
	if (rc == CU_OK)
		r = query(a,
			  "SELECT serial, kind, model, eccn_class, tpp,"
			  " coalesce(encode(device_key, 'hex'), '') AS device_key, owner_id,"
			  " custodian_id, status, facility_id,"
			  " coalesce(dest_facility_id, '') AS dest_facility_id,"
			  " coalesce(parent_serial, '') AS parent_serial, location, head_seq,"
			  " last_seq, registered_seq, custody_ms(last_at) AS last_at,"
			  " coalesce(custody_ms(seen_at), 0) AS seen_at,"
			  " coalesce(shipment_seq, 0) AS shipment_seq,"
			  " coalesce(custody_ms(deadline), 0) AS deadline FROM devices",
			  false);
	if (rc == CU_OK && r == NULL)
		rc = CU_ERR_IO;
	for (int row = 0; rc == CU_OK && row < PQntuples(r); row++) {
		const struct dev *d = state_ws_get(ws, PQgetvalue(r, row, 0));

		if (d == NULL)
			problem(a, "device %s is stored but no replayed event made it",
				PQgetvalue(r, row, 0));
		else
			compare_device(a, r, row, d);
	}
	if (rc == CU_OK) {
		size_t pos = 0, n = 0;

		while (state_ws_next(ws, &pos) != NULL)
			n++;
		a->devices = n;
		if (n != (size_t)PQntuples(r))
			problem(a, "the replay has %zu devices, the devices table %d", n,
				PQntuples(r));
	}
	PQclear(r);
	state_ws_free(ws);
	return rc;
}

/*
 * One log entry: the stub stored (without the envelope, daemon/log_entry.h)
 * of a stored submission, which its row's envelope completes into the leaf
 * (*leaf, *leaf_len: a new buffer; NULL with a problem noted if it is not).
 */
static void check_entry(struct audit *a, uint64_t idx, const uint8_t *bytes, size_t len,
			uint8_t **leaf, size_t *leaf_len)
{
	Custody__LogEntry *e = custody__log_entry__unpack(NULL, len, bytes);
	struct stored *s = NULL;
	struct log_envelope env;
	enum log_entry_fault fault = LOG_ENTRY_FAULT_NONE;

	*leaf = NULL;
	if (e == NULL || e->envelope != NULL) {
		problem(a, "log entry %llu is not a stub (a LogEntry without its envelope)",
			(unsigned long long)idx);
		goto fail;
	}
	if (e->kind == CUSTODY__ENTRY_KIND__ENTRY_EVENT)
		s = find_seq(a->ev, a->n_ev, e->seq);
	else if (e->kind == CUSTODY__ENTRY_KIND__ENTRY_ADMIN)
		s = find_seq(a->adm, a->n_adm, e->seq);
	if (s != NULL) {
		env = (struct log_envelope){s->body, s->body_len, s->signer, 32, s->sig, 64};
		if (log_entry_rebuild(bytes, len, e->kind, e->seq, &env, leaf, leaf_len, &fault) !=
		    CU_OK)
			s = NULL;
	}
	if (s == NULL) {
		problem(a, "log entry %llu (seq %llu) is not a stored submission's: %s",
			(unsigned long long)idx, (unsigned long long)e->seq,
			log_entry_fault_str(fault));
		goto fail;
	}
	s->log_entries++;
fail:
	if (e != NULL)
		custody__log_entry__free_unpacked(e, NULL);
}

/* The newest checkpoint: verified under the log key; its size and root into *size, root. */
static int read_checkpoint(struct audit *a, uint64_t *size, uint8_t root[32])
{
	PGresult *r = query(a,
			    "SELECT size, root, note FROM log_checkpoints"
			    " ORDER BY size DESC LIMIT 1",
			    true);
	struct note_verifier v;
	struct note_opened opened;
	struct note_checkpoint cp;
	uint8_t pk[KEY_PUBLIC_BYTES];
	char err[256] = "";
	int rc = r != NULL ? CU_OK : CU_ERR_IO;

	if (rc == CU_OK && PQntuples(r) != 1)
		rc = CU_ERR_NOT_FOUND;
	if (rc == CU_OK)
		rc = key_pub_load(a->o.log_pub, pk);
	if (rc == CU_OK)
		rc = note_verifier_init(&v, a->o.origin, NOTE_TYPE_ED25519, pk);
	if (rc == CU_OK)
		rc = note_open(PQgetvalue(r, 0, 2), (size_t)PQgetlength(r, 0, 2), &v, 1, &opened,
			       err, sizeof(err));
	if (rc == CU_OK)
		rc = note_checkpoint_parse(opened.text, opened.text_len, &cp, err, sizeof(err));
	if (rc == CU_OK && (cp.origin_len != strlen(a->o.origin) ||
			    memcmp(cp.origin, a->o.origin, cp.origin_len) != 0))
		rc = CU_ERR_INVALID;
	if (rc != CU_OK) {
		problem(a, "newest checkpoint does not verify: %s %s", cu_strerror(rc), err);
	} else {
		*size = cp.size;
		memcpy(root, cp.root, 32);
		if (be64(PQgetvalue(r, 0, 0)) != cp.size ||
		    memcmp(PQgetvalue(r, 0, 1), cp.root, 32) != 0)
			problem(a, "checkpoint row's size or root differs from its signed note");
	}
	PQclear(r);
	return rc == CU_ERR_IO ? rc : CU_OK;
}

/* Check 3: the log's entries, root and newest checkpoint. */
static int check_log(struct audit *a)
{
	PGresult *r = query(a, "SELECT idx, entry FROM log_entries ORDER BY idx", true);
	struct merkle_range range;
	uint8_t leaf[32], root[32], cp_root[32];
	uint64_t cp_size = 0;
	int n;

	if (r == NULL)
		return CU_ERR_IO;
	merkle_range_init(&range);
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		const uint8_t *entry = (const uint8_t *)PQgetvalue(r, i, 1);
		size_t len = (size_t)PQgetlength(r, i, 1);
		uint8_t *full = NULL;
		size_t full_len = 0;

		if (be64(PQgetvalue(r, i, 0)) != (uint64_t)i) {
			problem(a, "log entry %d is numbered %llu", i,
				(unsigned long long)be64(PQgetvalue(r, i, 0)));
			break;
		}
		check_entry(a, (uint64_t)i, entry, len, &full, &full_len);
		/* not rebuilt (a problem already): the stub itself, a leaf no root has */
		if (full != NULL)
			merkle_leaf_hash(full, full_len, leaf);
		else
			merkle_leaf_hash(entry, len, leaf);
		free(full);
		if (merkle_range_append(&range, leaf, NULL, NULL) != CU_OK)
			break;
	}
	PQclear(r);
	a->log_size = (size_t)n;
	merkle_range_root(&range, root);
	for (size_t i = 0; i < a->n_ev + a->n_adm; i++) {
		const struct stored *s = i < a->n_ev ? &a->ev[i] : &a->adm[i - a->n_ev];

		if (s->log_entries != 1)
			problem(a, "%s seq %llu is in the log %u times",
				i < a->n_ev ? "event" : "admin action", (unsigned long long)s->seq,
				s->log_entries);
	}
	if (read_checkpoint(a, &cp_size, cp_root) != CU_OK)
		return CU_ERR_IO;
	if (cp_size != (uint64_t)n)
		problem(a, "newest checkpoint has size %llu, the log %d entries",
			(unsigned long long)cp_size, n);
	else if (memcmp(root, cp_root, 32) != 0)
		problem(a, "root of the %d stored entries differs from the checkpoint's", n);
	return CU_OK;
}

/* Check 4 for one recorded request frame. */
static void check_unacked_one(struct audit *a, const uint8_t *frame, size_t len)
{
	Custody__Request *req = NULL;
	const struct stored *s;
	uint8_t id[32];
	uint32_t body_len;

	if (len < FRAME_HEADER_BYTES || frame_decode_header(frame, 1u << 24, &body_len) != CU_OK ||
	    body_len != len - FRAME_HEADER_BYTES ||
	    (req = custody__request__unpack(NULL, body_len, frame + FRAME_HEADER_BYTES)) == NULL ||
	    req->body_case != CUSTODY__REQUEST__BODY_SUBMIT) {
		problem(a, "unacked record %zu is not a submit frame", a->unacked_checked);
		goto fail;
	}
	envelope_id(req->submit->body.data, req->submit->body.len, id);
	s = hmap_get(a->by_id, id, 32);
	a->unacked_checked++;
	if (s == NULL) {
		problem(a, "resent event of request %llu is not stored",
			(unsigned long long)req->id);
	} else if (s->body_len != req->submit->body.len ||
		   memcmp(s->body, req->submit->body.data, s->body_len) != 0 ||
		   memcmp(s->signer, req->submit->signer.data, 32) != 0 ||
		   memcmp(s->sig, req->submit->sig.data, 64) != 0) {
		problem(a, "event of request %llu is stored with other bytes than sent",
			(unsigned long long)req->id);
	} else if (a->o.final && s->acked != 1) {
		problem(a, "resent event of request %llu was never acknowledged",
			(unsigned long long)req->id);
	}
fail:
	if (req != NULL)
		custody__request__free_unpacked(req, NULL);
}

/* Check 4: every frame of the unacked file (4-byte big-endian length, frame). */
static void check_unacked(struct audit *a, const uint8_t *data, size_t len)
{
	size_t off = 0;

	while (len - off >= 4) {
		size_t n = (size_t)data[off] << 24 | (size_t)data[off + 1] << 16 |
			   (size_t)data[off + 2] << 8 | data[off + 3];

		if (n > len - off - 4) {
			problem(a, "unacked file ends inside a record");
			return;
		}
		check_unacked_one(a, data + off + 4, n);
		off += 4 + n;
	}
}

/* Check 5: nothing stored that was not acknowledged; every signature and id. */
static void check_final(struct audit *a)
{
	for (size_t i = 0; i < a->n_ev; i++) {
		const struct stored *s = &a->ev[i];
		Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
		uint8_t id[32];

		if (s->acked != 1)
			problem(a, "stored event seq %llu was never acknowledged",
				(unsigned long long)s->seq);
		env.body.data = (uint8_t *)s->body;
		env.body.len = s->body_len;
		env.signer.data = (uint8_t *)s->signer;
		env.signer.len = 32;
		env.sig.data = (uint8_t *)s->sig;
		env.sig.len = 64;
		envelope_id(s->body, s->body_len, id);
		if (memcmp(id, s->id, 32) != 0 || envelope_verify(ENVELOPE_EVENT, &env) != CU_OK)
			problem(a, "stored event seq %llu: id or signature does not verify",
				(unsigned long long)s->seq);
	}
}

/* Reads all of path into *out (NUL-terminated, the caller's), its length into *len. */
static int read_all(const char *path, uint8_t **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 65536, n = 0, got;
	uint8_t *p = malloc(cap + 1), *q;

	if (f == NULL || p == NULL) {
		fprintf(stderr, "crash-audit: cannot read %s\n", path);
		goto fail;
	}
	while ((got = fread(p + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			q = realloc(p, 2 * cap + 1);
			if (q == NULL)
				goto fail;
			p = q;
			cap *= 2;
		}
	}
	fclose(f);
	p[n] = '\0';
	*out = p;
	*len = n;
	return CU_OK;
fail:
	if (f != NULL)
		fclose(f);
	free(p);
	return CU_ERR_IO;
}

static const struct option long_opts[] = {
    {"db", required_argument, NULL, 'd'},	 {"acked", required_argument, NULL, 'a'},
    {"unacked", required_argument, NULL, 'u'},	 {"log-pub", required_argument, NULL, 'l'},
    {"origin", required_argument, NULL, 'g'},	 {"models", required_argument, NULL, 'm'},
    {"ship-days", required_argument, NULL, 's'}, {"rma-days", required_argument, NULL, 'r'},
    {"final", no_argument, NULL, 'F'},		 {NULL, 0, NULL, 0},
};

/* Fills o from argv: CU_OK, or CU_ERR_INVALID after printing the usage. */
static int parse_options(int argc, char **argv, struct options *o)
{
	int opt;

	*o = (struct options){.db = "", .ship_days = 14, .rma_days = 60};
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			o->db = optarg;
			break;
		case 'a':
			o->acked = optarg;
			break;
		case 'u':
			o->unacked = optarg;
			break;
		case 'l':
			o->log_pub = optarg;
			break;
		case 'g':
			o->origin = optarg;
			break;
		case 'm':
			o->models = optarg;
			break;
		case 's':
			o->ship_days = atoi(optarg);
			break;
		case 'r':
			o->rma_days = atoi(optarg);
			break;
		case 'F':
			o->final = true;
			break;
		default:
			goto fail;
		}
	}
	if (o->acked != NULL && o->log_pub != NULL && o->origin != NULL && o->models != NULL &&
	    optind == argc)
		return CU_OK;
fail:
	fprintf(stderr, "usage: crash-audit --acked FILE --log-pub FILE --origin ORIGIN"
			" --models CSV [--db CONNINFO] [--unacked FILE] [--ship-days N]"
			" [--rma-days N] [--final]\n");
	return CU_ERR_INVALID;
}

/* Checks 1 to 5 inside one snapshot. */
static int audit_run(struct audit *a, const char *acked, const uint8_t *unacked, size_t unacked_len,
		     const struct models *models)
{
	PGresult *r = query(a, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", false);
	int rc = r != NULL ? CU_OK : CU_ERR_IO;

	PQclear(r);
	if (rc == CU_OK)
		rc = load_stored(a);
	if (rc == CU_OK && check_acked(a, acked) != CU_OK) {
		problem(a, "%s: malformed line", a->o.acked);
	}
	if (rc == CU_OK)
		rc = check_devices(a, models);
	if (rc == CU_OK)
		rc = check_log(a);
	if (rc == CU_OK && unacked != NULL)
		check_unacked(a, unacked, unacked_len);
	if (rc == CU_OK && a->o.final)
		check_final(a);
	return rc;
}

int main(int argc, char **argv)
{
	static struct audit a;
	struct models *models = NULL;
	uint8_t *acked = NULL, *unacked = NULL;
	size_t acked_len, unacked_len = 0;
	char err[256];
	int rc;

	if (parse_options(argc, argv, &a.o) != CU_OK)
		return 2;
	if (sodium_init() < 0)
		return 1;
	/* The acked file first: each line in it was committed before the snapshot. */
	rc = read_all(a.o.acked, &acked, &acked_len);
	if (rc == CU_OK && a.o.unacked != NULL)
		rc = read_all(a.o.unacked, &unacked, &unacked_len);
	if (rc == CU_OK && models_load(a.o.models, &models, err, sizeof(err)) != CU_OK) {
		fprintf(stderr, "crash-audit: %s: %s\n", a.o.models, err);
		rc = CU_ERR_INVALID;
	}
	if (rc == CU_OK) {
		a.db = PQconnectdb(a.o.db);
		if (PQstatus(a.db) != CONNECTION_OK) {
			fprintf(stderr, "crash-audit: %s", PQerrorMessage(a.db));
			rc = CU_ERR_IO;
		}
	}
	if (rc == CU_OK)
		rc = audit_run(&a, (const char *)acked, unacked, unacked_len, models);
	if (rc == CU_OK)
		printf("crash-audit: %zu events, %zu acknowledged checked, %zu resent checked,"
		       " %zu devices equal their replay, log of %zu entries matches the"
		       " checkpoint%s: %s\n",
		       a.n_ev, a.acked_checked, a.unacked_checked, a.devices, a.log_size,
		       a.o.final ? ", final" : "", a.problems == 0 ? "ok" : "FAILED");
	else
		fprintf(stderr, "crash-audit: could not audit: %s\n", cu_strerror(rc));
	PQclear(a.events_res);
	PQclear(a.admin_res);
	PQfinish(a.db);
	hmap_free(a.by_id, NULL);
	free(a.ev);
	free(a.adm);
	free(acked);
	free(unacked);
	models_free(models);
	return rc == CU_OK && a.problems == 0 ? 0 : 1;
}
