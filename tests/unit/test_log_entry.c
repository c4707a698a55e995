/*
 * Unit tests for daemon/log_entry.c, written to the contract in
 * log_entry.h: a stub with its envelope attached is, byte for byte, the
 * entry the sequencer packed whole (with and without rule hits, events and
 * admin actions); an entry stored whole is its leaf as it is; every
 * mismatch (kind, seq, a missing row, a signer or signature of another
 * length, bytes that are no LogEntry or not its canonical encoding) is
 * refused with its fault; an unknown field is kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "log_entry.h"

static uint8_t body[300], signer[32], sig[64];

/* A leaf as seq_log.c packs it: kind, seq, envelope, recorded_at_ms, verdict, n_rules hits. */
static void make_entry(Custody__LogEntry *e, Custody__SignedEnvelope *env, Custody__RuleHit *hits,
		       Custody__RuleHit **ptrs, size_t n_rules, Custody__EntryKind kind)
{
	custody__log_entry__init(e);
	custody__signed_envelope__init(env);
	env->body = (ProtobufCBinaryData){sizeof(body), body};
	env->signer = (ProtobufCBinaryData){sizeof(signer), signer};
	env->sig = (ProtobufCBinaryData){sizeof(sig), sig};
	e->kind = kind;
	e->seq = 1234567;
	e->envelope = env;
	e->recorded_at_ms = 1765000000123;
	if (kind == CUSTODY__ENTRY_KIND__ENTRY_EVENT)
		e->verdict =
		    n_rules > 0 ? CUSTODY__VERDICT__ACCEPT_WITH_ALERTS : CUSTODY__VERDICT__ACCEPT;
	for (size_t i = 0; i < n_rules; i++) {
		custody__rule_hit__init(&hits[i]);
		hits[i].rule = (char *)"dest.embargoed";
		hits[i].severity = CUSTODY__SEVERITY__SEVERITY_ALERT;
		hits[i].reason = (char *)"a reason";
		ptrs[i] = &hits[i];
	}
	e->rules = ptrs;
	e->n_rules = n_rules;
}

static const struct log_envelope row_env = {body, sizeof(body), signer, 32, sig, 64};

/* Packs e whole (*full) and without its envelope (*stub). */
static void pack_both(Custody__LogEntry *e, uint8_t **full, size_t *full_len, uint8_t **stub,
		      size_t *stub_len)
{
	Custody__SignedEnvelope *env = e->envelope;

	assert_int_equal(log_entry_pack(e, full, full_len), CU_OK);
	e->envelope = NULL;
	assert_int_equal(log_entry_pack(e, stub, stub_len), CU_OK);
	e->envelope = env;
}

static void expect_fault(const uint8_t *stub, size_t len, Custody__EntryKind kind, uint64_t seq,
			 const struct log_envelope *env, enum log_entry_fault want)
{
	uint8_t *out = (uint8_t *)"unchanged";
	size_t out_len = 99;
	enum log_entry_fault fault = LOG_ENTRY_FAULT_NONE;

	assert_int_equal(log_entry_rebuild(stub, len, kind, seq, env, &out, &out_len, &fault),
			 CU_ERR_INVALID);
	assert_int_equal(fault, want);
	assert_null(out);
	assert_int_equal(out_len, 0);
	assert_string_not_equal(log_entry_fault_str(fault), "unknown fault");
}

static void test_round_trip(void **state)
{
	static const Custody__EntryKind kinds[] = {CUSTODY__ENTRY_KIND__ENTRY_EVENT,
						   CUSTODY__ENTRY_KIND__ENTRY_ADMIN};

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		for (size_t n_rules = 0; n_rules <= 3; n_rules++) {
			Custody__LogEntry e;
			Custody__SignedEnvelope env;
			Custody__RuleHit hits[3], *ptrs[3];
			uint8_t *full, *stub, *out;
			size_t full_len, stub_len, out_len;
			enum log_entry_fault fault;

			make_entry(&e, &env, hits, ptrs, n_rules, kinds[k]);
			pack_both(&e, &full, &full_len, &stub, &stub_len);
			assert_true(stub_len + sizeof(body) + 32 + 64 < full_len);
			assert_int_equal(log_entry_rebuild(stub, stub_len, kinds[k], e.seq,
							   &row_env, &out, &out_len, &fault),
					 CU_OK);
			assert_int_equal(fault, LOG_ENTRY_FAULT_NONE);
			assert_int_equal(out_len, full_len);
			assert_memory_equal(out, full, full_len);
			free(out);
			/* stored whole (before migration 011): the leaf as it is, env unused */
			assert_int_equal(log_entry_rebuild(full, full_len, kinds[k], e.seq, NULL,
							   &out, &out_len, &fault),
					 CU_OK);
			assert_int_equal(out_len, full_len);
			assert_memory_equal(out, full, full_len);
			free(out);
			free(full);
			free(stub);
		}
	}
}

static void test_refused(void **state)
{
	Custody__LogEntry e;
	Custody__SignedEnvelope env;
	Custody__RuleHit hits[1], *ptrs[1];
	uint8_t *full, *stub, bad[256];
	size_t full_len, stub_len;
	const Custody__EntryKind ev = CUSTODY__ENTRY_KIND__ENTRY_EVENT;
	struct log_envelope short_signer = row_env, long_sig = row_env;

	(void)state;
	make_entry(&e, &env, hits, ptrs, 1, ev);
	pack_both(&e, &full, &full_len, &stub, &stub_len);
	expect_fault(stub, stub_len, CUSTODY__ENTRY_KIND__ENTRY_ADMIN, e.seq, &row_env,
		     LOG_ENTRY_FAULT_ROW);
	expect_fault(stub, stub_len, ev, e.seq + 1, &row_env, LOG_ENTRY_FAULT_ROW);
	expect_fault(full, full_len, ev, e.seq - 1, &row_env, LOG_ENTRY_FAULT_ROW);
	expect_fault(stub, stub_len, ev, e.seq, NULL, LOG_ENTRY_FAULT_NO_ENVELOPE);
	short_signer.signer_len = 31;
	expect_fault(stub, stub_len, ev, e.seq, &short_signer, LOG_ENTRY_FAULT_SIGNER);
	long_sig.sig_len = 65;
	expect_fault(stub, stub_len, ev, e.seq, &long_sig, LOG_ENTRY_FAULT_SIG);
	/* no LogEntry: a truncated one, a length past the end */
	expect_fault(stub, stub_len - 1, ev, e.seq, &row_env, LOG_ENTRY_FAULT_STUB);
	memcpy(bad, "\x08\x01\x32\x7f", 4);
	expect_fault(bad, 4, ev, e.seq, &row_env, LOG_ENTRY_FAULT_STUB);
	/* the same message in other bytes: a seq in a longer varint */
	e.envelope = NULL;
	e.seq = 5;
	e.n_rules = 0;
	free(stub);
	assert_int_equal(log_entry_pack(&e, &stub, &stub_len), CU_OK);
	assert_memory_equal(stub, "\x08\x01\x10\x05", 4);
	memcpy(bad, "\x08\x01\x10\x85\x00", 5);
	memcpy(bad + 5, stub + 4, stub_len - 4);
	expect_fault(bad, stub_len + 1, ev, 5, &row_env, LOG_ENTRY_FAULT_STUB);
	free(full);
	free(stub);
}

/*
 * A field this build does not know (a later LogEntry's) is kept where
 * protobuf-c packs unknown fields, after the known ones: the leaf as a
 * build that knows it packs it, if its number is the highest.
 */
static void test_unknown_field_kept(void **state)
{
	Custody__LogEntry e;
	Custody__SignedEnvelope env;
	Custody__RuleHit hits[1], *ptrs[1];
	uint8_t *full, *stub, *out, bad[256];
	size_t full_len, stub_len, out_len;
	enum log_entry_fault fault;

	(void)state;
	make_entry(&e, &env, hits, ptrs, 1, CUSTODY__ENTRY_KIND__ENTRY_EVENT);
	pack_both(&e, &full, &full_len, &stub, &stub_len);
	assert_true(stub_len + 2 <= sizeof(bad));
	memcpy(bad, stub, stub_len);
	memcpy(bad + stub_len, "\x78\x01", 2); /* field 15, varint 1 */
	assert_int_equal(
	    log_entry_rebuild(bad, stub_len + 2, e.kind, e.seq, &row_env, &out, &out_len, &fault),
	    CU_OK);
	assert_int_equal(out_len, full_len + 2);
	assert_memory_equal(out, full, full_len);
	assert_memory_equal(out + full_len, "\x78\x01", 2);
	free(out);
	free(full);
	free(stub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_unknown_field_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
