/*
 * seq_reply.c - the sequencer's items and their answers (see
 * seq_internal.h): a submission's SubmitResult or AdminResult with its
 * rules, alerts and log receipt, or its error with the conflicting heads.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "conn.h"
#include "pb.h"
#include "seq_internal.h"

void seq_item_free(struct item *it)
{
	if (it == NULL)
		return;
	pb_block_free(it->ev); /* from h_submit.c */
	if (it->act != NULL)
		custody__admin_action__free_unpacked(it->act, NULL);
	state_result_clear(&it->res);
	free(it->entry);
	free(it);
}

void seq_refuse(struct item *it, Custody__ErrorCode code, const char *fmt, ...)
{
	va_list ap;

	it->res.code = code;
	va_start(ap, fmt);
	vsnprintf(it->res.message, sizeof(it->res.message), fmt, ap);
	va_end(ap);
}

/* Points hits[i] at the verdict's rule hits (or the state machine's one rule). */
static size_t fill_hits(const struct item *v, Custody__RuleHit *hits, Custody__RuleHit **ptrs,
			bool alerts_only)
{
	size_t n = 0;

	for (size_t i = 0; i < v->verdict.n_hits; i++) {
		const struct rule_hit *h = &v->verdict.hits[i];

		if (alerts_only && h->severity != CUSTODY__SEVERITY__SEVERITY_ALERT)
			continue;
		custody__rule_hit__init(&hits[n]);
		hits[n].rule = (char *)h->rule;
		hits[n].severity = h->severity;
		hits[n].reason = (char *)h->reason;
		ptrs[n] = &hits[n];
		n++;
	}
	if (n == 0 && !alerts_only && v->res.rule[0] != '\0') {
		custody__rule_hit__init(&hits[0]);
		hits[0].rule = (char *)v->res.rule;
		hits[0].severity = CUSTODY__SEVERITY__SEVERITY_REJECT;
		hits[0].reason = (char *)v->res.message;
		ptrs[0] = &hits[0];
		n = 1;
	}
	return n;
}

/* Points r at v's receipt (its proof and the batch's checkpoint); false if none. */
static bool fill_receipt(const struct item *v, const char *checkpoint, Custody__LogReceipt *r,
			 ProtobufCBinaryData *hashes)
{
	if (!v->logged || v->receipt_size == 0)
		return false;
	custody__log_receipt__init(r);
	r->index = v->log_index;
	r->tree_size = v->receipt_size;
	for (size_t i = 0; i < v->proof_count; i++) {
		hashes[i].data = (uint8_t *)v->proof + i * MERKLE_HASH_SIZE;
		hashes[i].len = MERKLE_HASH_SIZE;
	}
	r->proof = hashes;
	r->n_proof = v->proof_count;
	r->checkpoint = (char *)checkpoint;
	return true;
}

/* The alert ids of v, into ids (RULES_MAX_HITS). */
static size_t fill_alert_ids(const struct item *v, uint64_t *ids)
{
	size_t n = v->n_alerts < RULES_MAX_HITS ? v->n_alerts : RULES_MAX_HITS;

	for (size_t i = 0; i < n; i++)
		ids[i] = v->first_alert_id + i;
	return n;
}

/*
 * Answers a refused item from v (itself, or the earlier copy of the same
 * bytes): the error with its rules, or the conflicting heads.
 */
static void reply_error(struct item *it, const struct item *v, const char *checkpoint)
{
	const struct state_result *res = &v->res;
	Custody__Error err = CUSTODY__ERROR__INIT;
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__RuleHit hits[RULES_MAX_HITS], *hit_ptrs[RULES_MAX_HITS];
	uint64_t alert_ids[RULES_MAX_HITS];
	Custody__DeviceRef *refs = NULL, **ref_ptrs = NULL;
	Custody__LogReceipt receipt;
	ProtobufCBinaryData hashes[MERKLE_PROOF_MAX];

	err.code = res->code;
	if (fill_receipt(v, checkpoint, &receipt, hashes))
		err.receipt = &receipt;
	err.message = (char *)res->message;
	err.n_rules = fill_hits(v, hits, hit_ptrs, false);
	err.rules = hit_ptrs;
	if (v->evidence) {
		err.recorded_seq = v->seq;
		err.event_id.data = it->id;
		err.event_id.len = 32;
		err.n_alert_ids = fill_alert_ids(v, alert_ids);
		err.alert_ids = alert_ids;
	}
	if (res->n_heads > 0) {
		refs = calloc(res->n_heads, sizeof(*refs));
		ref_ptrs = calloc(res->n_heads, sizeof(*ref_ptrs));
	}
	for (size_t i = 0; refs != NULL && ref_ptrs != NULL && i < res->n_heads; i++) {
		custody__device_ref__init(&refs[i]);
		refs[i].serial = (char *)res->heads[i].serial;
		refs[i].prev.data = (uint8_t *)res->heads[i].head_id;
		refs[i].prev.len = STATE_ID_BYTES;
		ref_ptrs[i] = &refs[i];
		err.n_heads = i + 1;
	}
	err.heads = ref_ptrs;
	resp.body_case = CUSTODY__RESPONSE__BODY_ERROR;
	resp.error = &err;
	req_reply(it->req, &resp);
	free(refs);
	free(ref_ptrs);
}

/* Answers an item from its verdict (or from the earlier copy's). */
static void reply(struct item *it, const char *checkpoint)
{
	const struct item *v = it->dup_of != NULL ? it->dup_of : it;
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__SubmitResult sub = CUSTODY__SUBMIT_RESULT__INIT;
	Custody__AdminResult adm = CUSTODY__ADMIN_RESULT__INIT;
	Custody__RuleHit hits[RULES_MAX_HITS], *hit_ptrs[RULES_MAX_HITS];
	uint64_t alert_ids[RULES_MAX_HITS];
	Custody__LogReceipt receipt;
	ProtobufCBinaryData hashes[MERKLE_PROOF_MAX];
	bool has_receipt = fill_receipt(v, checkpoint, &receipt, hashes);

	if (v->res.code != 0) {
		reply_error(it, v, checkpoint);
		return;
	}
	if (it->is_admin) {
		adm.action_id.data = it->id;
		adm.action_id.len = 32;
		adm.seq = v->seq;
		adm.duplicate = v->duplicate;
		adm.unchanged = v->unchanged;
		adm.receipt = has_receipt ? &receipt : NULL;
		resp.body_case = CUSTODY__RESPONSE__BODY_ADMIN;
		resp.admin = &adm;
	} else {
		sub.event_id.data = it->id;
		sub.event_id.len = 32;
		sub.seq = v->seq;
		sub.duplicate = v->duplicate || it->dup_of != NULL;
		sub.recorded_at_ms = v->recorded_ms;
		sub.n_rules = fill_hits(v, hits, hit_ptrs, true);
		sub.rules = hit_ptrs;
		sub.verdict = sub.n_rules > 0 ? CUSTODY__VERDICT__ACCEPT_WITH_ALERTS
					      : CUSTODY__VERDICT__ACCEPT;
		sub.n_alert_ids = fill_alert_ids(v, alert_ids);
		sub.alert_ids = alert_ids;
		sub.receipt = has_receipt ? &receipt : NULL;
		resp.body_case = CUSTODY__RESPONSE__BODY_SUBMIT;
		resp.submit = &sub;
	}
	req_reply(it->req, &resp);
}

/* Answers every item of a list and frees them. */
void seq_reply_all(struct item *list, const char *checkpoint)
{
	struct item *it = list, *next;

	/* Answer first, free after: a duplicate's verdict lives in its original. */
	for (; it != NULL; it = it->next)
		reply(it, checkpoint);
	for (it = list; it != NULL; it = next) {
		next = it->next;
		seq_item_free(it);
	}
}

/* Fails every item of a list with one error and frees them. */
void seq_fail_all(struct item *list, Custody__ErrorCode code, const char *why)
{
	struct item *next;

	for (; list != NULL; list = next) {
		next = list->next;
		req_fail(list->req, code, "%s", why);
		seq_item_free(list);
	}
}
