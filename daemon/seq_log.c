/*
 * seq_log.c - the verifiable log's part of a batch: each stored submission
 * becomes a LogEntry leaf, and the batch's transaction also stores the
 * entries (as stubs, without the envelope: log_entry.h), the tiles they
 * changed and the signed checkpoint of the new tree (DESIGN section 5).
 * tlog.c keeps the tree's right edge in memory; this file turns it into
 * rows.
 */
#include <stdlib.h>
#include <string.h>

#include "enums.h"
#include "log_entry.h"
#include "merkle.h"
#include "seq_internal.h"

/*
 * The LogEntry of a stored item: *full, the leaf the tree hashes, and
 * *stub, the row log_entries stores (the same entry without the envelope
 * that the item's events or admin_actions row holds; log_entry.h). Both
 * are new buffers; on error neither is set.
 */
static int pack_entry(const struct item *it, uint8_t **full, size_t *full_len, uint8_t **stub,
		      size_t *stub_len)
{
	Custody__LogEntry e = CUSTODY__LOG_ENTRY__INIT;
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	Custody__RuleHit hits[RULES_MAX_HITS], *ptrs[RULES_MAX_HITS];
	int rc;

	env.body.data = it->body;
	env.body.len = it->body_len;
	env.signer.data = (uint8_t *)it->signer;
	env.signer.len = 32;
	env.sig.data = (uint8_t *)it->sig;
	env.sig.len = 64;
	e.kind = it->is_admin ? CUSTODY__ENTRY_KIND__ENTRY_ADMIN : CUSTODY__ENTRY_KIND__ENTRY_EVENT;
	e.seq = it->seq;
	e.recorded_at_ms = it->recorded_ms;
	if (!it->is_admin) {
		e.verdict = it->verdict.reject	     ? CUSTODY__VERDICT__REJECT
			    : it->verdict.n_hits > 0 ? CUSTODY__VERDICT__ACCEPT_WITH_ALERTS
						     : CUSTODY__VERDICT__ACCEPT;
		for (size_t i = 0; i < it->verdict.n_hits; i++) {
			custody__rule_hit__init(&hits[i]);
			hits[i].rule = (char *)it->verdict.hits[i].rule;
			hits[i].severity = it->verdict.hits[i].severity;
			hits[i].reason = (char *)it->verdict.hits[i].reason;
			ptrs[i] = &hits[i];
		}
		e.rules = ptrs;
		e.n_rules = it->verdict.n_hits;
	}
	rc = log_entry_pack(&e, stub, stub_len);
	if (rc != CU_OK)
		return rc;
	e.envelope = &env;
	rc = log_entry_pack(&e, full, full_len);
	if (rc != CU_OK) {
		free(*stub);
		*stub = NULL;
	}
	return rc;
}

int seq_log_prepare(struct item *it)
{
	uint8_t *full = NULL, *stub = NULL;
	size_t full_len = 0, stub_len = 0;
	int rc = pack_entry(it, &full, &full_len, &stub, &stub_len);

	if (rc != CU_OK)
		return rc;
	merkle_leaf_hash(full, full_len, it->leaf);
	free(full);
	free(it->entry);
	it->entry = stub;
	it->entry_len = stub_len;
	it->prepared = true;
	return CU_OK;
}

int seq_log_append(struct item *it, const struct seq_ctx *ctx)
{
	int rc = it->prepared ? CU_OK : seq_log_prepare(it);

	if (rc == CU_OK)
		rc = tlog_append_leaf(ctx->tlog, it->leaf, &it->log_index);
	if (rc != CU_OK)
		return rc;
	it->prepared = false;
	it->logged = true;
	return CU_OK;
}

/* One SQL_INSERT_ENTRY with the stored entry (the stub) of every logged item of batch. */
static int add_entries(struct item *batch, struct db_job *job)
{
	size_t n = 0, i = 0;
	int64_t *idx, *seqs;
	const char **kinds;
	const uint8_t **entries;
	size_t *lens;
	int rc = CU_OK;

	for (const struct item *it = batch; it != NULL; it = it->next)
		n += it->logged && it->entry != NULL;
	if (n == 0)
		return CU_OK;
	idx = malloc(n * sizeof(*idx));
	seqs = malloc(n * sizeof(*seqs));
	kinds = malloc(n * sizeof(*kinds));
	entries = malloc(n * sizeof(*entries));
	lens = malloc(n * sizeof(*lens));
	if (idx == NULL || seqs == NULL || kinds == NULL || entries == NULL || lens == NULL)
		rc = CU_ERR_NOMEM;
	for (struct item *it = batch; it != NULL && rc == CU_OK; it = it->next) {
		if (!it->logged || it->entry == NULL)
			continue;
		idx[i] = (int64_t)it->log_index;
		seqs[i] = (int64_t)it->seq;
		kinds[i] = it->is_admin ? "ENTRY_ADMIN" : "ENTRY_EVENT";
		entries[i] = it->entry;
		lens[i++] = it->entry_len;
	}
	if (rc == CU_OK) {
		db_job_add(job, SQL_INSERT_ENTRY);
		db_param_i64_array(job, idx, n);
		db_param_text_array(job, kinds, n);
		db_param_i64_array(job, seqs, n);
		db_param_bytes_array(job, entries, lens, n);
	}
	free(idx);
	free(seqs);
	free(kinds);
	free(entries);
	free(lens);
	return rc;
}

int seq_log_finish(const struct seq_ctx *ctx, struct item *batch, struct db_job *job)
{
	const struct tlog_tile *tile;
	uint8_t root[32];
	size_t pos = 0, len = 0;
	int rc = add_entries(batch, job);

	if (rc != CU_OK)
		return rc;
	while ((tile = tlog_dirty_next(ctx->tlog, &pos)) != NULL) {
		db_job_add(job, SQL_INSERT_TILE);
		db_param_i64(job, tile->level);
		db_param_i64(job, (int64_t)tile->index);
		db_param_i64(job, tile->width);
		db_param_bytes(job, &tile->hashes[0][0], (size_t)tile->width * 32);
	}
	rc = tlog_checkpoint(ctx->tlog, ctx->checkpoint, TLOG_CHECKPOINT_MAX, &len);
	if (rc != CU_OK)
		return rc;
	tlog_root(ctx->tlog, root);
	db_job_add(job, SQL_INSERT_CHECKPOINT);
	db_param_i64(job, (int64_t)tlog_size(ctx->tlog));
	db_param_bytes(job, root, 32);
	db_param_text(job, ctx->checkpoint);
	db_param_i64(job, ctx->now_ms);
	return CU_OK;
}

void seq_log_receipt(struct item *it, const struct tlog *tlog, struct merkle_edge *edge)
{
	if (!it->logged)
		return;
	it->receipt_size = tlog_size(tlog);
	if (tlog_inclusion_proof_edge(tlog, it->log_index, it->receipt_size, edge, it->proof,
				      &it->proof_count) != CU_OK)
		it->receipt_size = 0; /* no receipt; the entry is stored all the same */
}
