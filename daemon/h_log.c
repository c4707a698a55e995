/*
 * h_log.c - what the verifiable log publishes about itself: its verifier
 * key, its signed checkpoints with the witnesses' cosignatures, and the
 * door through which witnesses hand those cosignatures in.
 *
 * Checkpoints and cosignatures are read from storage (the sequencer
 * stores a checkpoint in the transaction of every batch). A cosignature
 * takes two rounds on the read lane: read the checkpoint it claims to sign
 * and the witness's key record, verify, then insert it; the primary key
 * (size, witness key) makes a second one from the same witness a
 * duplicate, never a change. The insert checks the sequencer's epoch
 * first, like every write, so a daemon that was superseded keeps nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "note.h"
#include "query.h"
#include "sequencer.h"

/* How far in the future a cosignature's timestamp may be (seconds). */
#define COSIG_MAX_SKEW_S 300
/* Most cosignatures served with one checkpoint. */
#define COSIGS_MAX 64

void h_log_key(struct req *req, const Custody__Request *msg)
{
	const struct sequencer_options *opt = sequencer_options();
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__LogKeyResult r = CUSTODY__LOG_KEY_RESULT__INIT;
	struct note_verifier v;
	char text[NOTE_VKEY_MAX];

	(void)msg;
	if (note_verifier_init(&v, opt->log_origin, NOTE_TYPE_ED25519, opt->log_key->pk) != CU_OK ||
	    note_verifier_format(&v, text, sizeof(text)) != CU_OK) {
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "cannot format the log key");
		return;
	}
	r.verifier_key = text;
	r.origin = (char *)opt->log_origin;
	resp.body_case = CUSTODY__RESPONSE__BODY_LOG_KEY;
	resp.log_key = &r;
	req_reply(req, &resp);
}

/* ---- checkpoints ---------------------------------------------------------- */

/* A witness's verifier key string (type 0x04) from its party id and key. */
static int witness_vkey(const char *party, const uint8_t pk[KEY_PUBLIC_BYTES], char *out,
			size_t out_size)
{
	struct note_verifier v;

	if (note_verifier_init(&v, party, NOTE_TYPE_COSIG_V1, pk) != CU_OK)
		return CU_ERR_INVALID;
	return note_verifier_format(&v, out, out_size);
}

static void on_checkpoint(struct query *q, const struct db_job *job)
{
	const PGresult *res = db_job_result(job, 0);
	int n = PQntuples(res);
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__CheckpointResult r = CUSTODY__CHECKPOINT_RESULT__INIT;
	Custody__Cosignature cs[COSIGS_MAX], *csp[COSIGS_MAX];
	char vkeys[COSIGS_MAX][NOTE_VKEY_MAX];
	size_t n_cs = 0, len;
	char *text;

	if (n == 0) {
		if (q->variant > 0)
			req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND,
				 "no checkpoint%s has %d cosignature%s yet",
				 q->limit ? " of that size" : "", q->variant,
				 q->variant == 1 ? "" : "s");
		else if (q->limit)
			req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND,
				 "no checkpoint of that tree size: checkpoints are signed at the"
				 " sizes the log had after each batch");
		else
			req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND,
				 "the log has no checkpoint yet: nothing has been stored");
		return;
	}
	len = strlen(PQgetvalue(res, 0, 1)) + 1;
	for (int i = 0; i < n && n_cs < COSIGS_MAX; i++) {
		uint8_t pk[KEY_PUBLIC_BYTES];

		if (PQgetisnull(res, i, 2))
			continue;
		if (db_value_bytes(res, i, 3, pk, sizeof(pk)) != CU_OK ||
		    witness_vkey(PQgetvalue(res, i, 2), pk, vkeys[n_cs], sizeof(vkeys[n_cs])) !=
			CU_OK) {
			log_error("stored cosignature of %s is unreadable", PQgetvalue(res, i, 2));
			continue;
		}
		custody__cosignature__init(&cs[n_cs]);
		cs[n_cs].witness_key = vkeys[n_cs];
		cs[n_cs].signature = PQgetvalue(res, i, 4);
		csp[n_cs] = &cs[n_cs];
		len += strlen(cs[n_cs].signature);
		n_cs++;
	}
	text = malloc(len);
	if (text == NULL) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return;
	}
	/* The log's signed note, then one line per cosignature. */
	strcpy(text, PQgetvalue(res, 0, 1));
	for (size_t i = 0; i < n_cs; i++)
		strcat(text, cs[i].signature);
	r.checkpoint = text;
	r.tree_size = (uint64_t)db_value_i64(res, 0, 0);
	r.cosignatures = csp;
	r.n_cosignatures = n_cs;
	resp.body_case = CUSTODY__RESPONSE__BODY_CHECKPOINT;
	resp.checkpoint = &r;
	req_reply(q->req, &resp);
	free(text);
}

void h_checkpoint(struct req *req, const Custody__Request *msg)
{
	const Custody__CheckpointRequest *in = msg->checkpoint;
	struct db_job *job;

	if (in->tree_size > INT64_MAX || in->min_cosignatures > COSIGS_MAX) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "tree_size out of range or min_cosignatures above %d", COSIGS_MAX);
		return;
	}
	job = query_job(req, on_checkpoint, "", in->tree_size != 0);
	if (job == NULL)
		return;
	query_of(job)->variant = (int)in->min_cosignatures;
	db_job_add(job, SQL_LOG_CHECKPOINT_COSIGS);
	db_param_i64(job, in->min_cosignatures);
	db_param_i64(job, (int64_t)in->tree_size);
	query_submit(job);
}

/* ---- cosignatures --------------------------------------------------------- */

/* What a cosignature carries from the first round to the second. */
struct cosign {
	uint64_t size;
	uint8_t key[KEY_PUBLIC_BYTES];
	char line[NOTE_SIG_LINE_MAX + 1];
	char party[NOTE_NAME_MAX + 1];
	uint64_t timestamp;
};

static void on_cosign_stored(struct query *q, const struct db_job *job)
{
	const struct cosign *c = q->data;
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__CosignResult r = CUSTODY__COSIGN_RESULT__INIT;

	r.tree_size = c->size;
	r.duplicate = PQntuples(db_job_result(job, 1)) == 0;
	r.cosignatures = (uint32_t)db_value_i64(db_job_result(job, 2), 0, 0);
	if (!r.duplicate)
		log_info("witness %s cosigned the checkpoint of size %" PRIu64 " (%u cosignatures)",
			 c->party, c->size, r.cosignatures);
	resp.body_case = CUSTODY__RESPONSE__BODY_COSIGN;
	resp.cosign = &r;
	req_reply(q->req, &resp);
}

/* Checks the witness's key record (SQL_LOG_WITNESS_KEY); false with req answered. */
static bool witness_ok(struct req *req, const PGresult *key, struct cosign *c)
{
	if (PQntuples(key) != 1) {
		req_fail(req, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			 "witness key is not registered");
		return false;
	}
	if (strcmp(PQgetvalue(key, 0, 1), "WITNESS") != 0) {
		req_fail(req, CUSTODY__ERROR_CODE__FORBIDDEN,
			 "key of %s has role %s: only WITNESS keys cosign checkpoints",
			 PQgetvalue(key, 0, 0), PQgetvalue(key, 0, 1));
		return false;
	}
	if (!db_value_bool(key, 0, 2)) {
		req_fail(req, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			 "witness key of %s is not valid now (expired, revoked or not yet valid)",
			 PQgetvalue(key, 0, 0));
		return false;
	}
	snprintf(c->party, sizeof(c->party), "%s", PQgetvalue(key, 0, 0));
	return true;
}

static void on_cosign_checked(struct query *q, const struct db_job *job)
{
	const PGresult *cp = db_job_result(job, 0), *key = db_job_result(job, 1);
	const struct sequencer_options *opt = sequencer_options();
	struct cosign *c = q->data;
	struct note_verifier log_v, wit_v;
	struct note_opened opened;
	char err[160];
	struct db_job *next;

	if (PQntuples(cp) != 1) {
		req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND,
			 "no checkpoint of tree size %" PRIu64, c->size);
		return;
	}
	if (!witness_ok(q->req, key, c))
		return;
	if (note_verifier_init(&log_v, opt->log_origin, NOTE_TYPE_ED25519, opt->log_key->pk) !=
		CU_OK ||
	    note_open(PQgetvalue(cp, 0, 1), strlen(PQgetvalue(cp, 0, 1)), &log_v, 1, &opened, err,
		      sizeof(err)) != CU_OK) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL,
			 "the stored checkpoint does not open");
		return;
	}
	if (note_verifier_init(&wit_v, c->party, NOTE_TYPE_COSIG_V1, c->key) != CU_OK) {
		req_fail(q->req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "party id %s is not a valid key name", c->party);
		return;
	}
	if (note_cosig_verify(opened.text, opened.text_len, &wit_v, c->line, strlen(c->line),
			      &c->timestamp, err, sizeof(err)) != CU_OK) {
		req_fail(q->req, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			 "cosignature of %s does not verify for the checkpoint of size %" PRIu64
			 ": %s",
			 c->party, c->size, err);
		return;
	}
	if (c->timestamp > (uint64_t)time(NULL) + COSIG_MAX_SKEW_S) {
		req_fail(q->req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "cosignature timestamp %" PRIu64 " is in the future", c->timestamp);
		return;
	}
	if (sequencer_epoch() == 0) {
		req_fail(q->req, CUSTODY__ERROR_CODE__UNAVAILABLE,
			 "the log's writer is not ready; retry later");
		return;
	}
	next = query_job(q->req, on_cosign_stored, "", 0);
	if (next == NULL)
		return;
	query_of(next)->data = c;
	q->data = NULL;
	/* One implicit transaction: nothing is kept once another custodyd took over. */
	db_job_add(next, SQL_EPOCH_CHECK);
	db_param_i64(next, sequencer_epoch());
	db_job_add(next, SQL_LOG_COSIGN_INSERT);
	db_param_i64(next, (int64_t)c->size);
	db_param_bytes(next, c->key, sizeof(c->key));
	db_param_text(next, c->party);
	db_param_text(next, c->line);
	db_param_i64(next, (int64_t)c->timestamp);
	db_job_add(next, SQL_LOG_COSIGN_COUNT);
	db_param_i64(next, (int64_t)c->size);
	query_submit(next);
}

void h_cosign(struct req *req, const Custody__Request *msg)
{
	const Custody__CosignRequest *in = msg->cosign;
	size_t line_len = strlen(in->signature);
	struct cosign *c;
	struct db_job *job;

	if (in->tree_size == 0 || in->tree_size > INT64_MAX) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "tree_size: the size of a checkpoint is required");
		return;
	}
	if (in->witness_key.len != KEY_PUBLIC_BYTES) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "witness_key: must be 32 bytes");
		return;
	}
	if (line_len == 0 || line_len > NOTE_SIG_LINE_MAX || in->signature[line_len - 1] != '\n') {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "signature: one signature line ending in a newline, at most %d bytes",
			 NOTE_SIG_LINE_MAX);
		return;
	}
	c = calloc(1, sizeof(*c));
	job = c != NULL ? query_job(req, on_cosign_checked, "", 0) : NULL;
	if (job == NULL) {
		if (c == NULL)
			req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		free(c);
		return;
	}
	c->size = in->tree_size;
	memcpy(c->key, in->witness_key.data, sizeof(c->key));
	memcpy(c->line, in->signature, line_len + 1);
	query_of(job)->data = c;
	db_job_add(job, SQL_LOG_CHECKPOINT_AT);
	db_param_i64(job, (int64_t)c->size);
	db_job_add(job, SQL_LOG_WITNESS_KEY);
	db_param_bytes(job, c->key, sizeof(c->key));
	query_submit(job);
}
