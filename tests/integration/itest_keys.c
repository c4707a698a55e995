/*
 * itest_keys.c - the key lifecycle's admin actions through the raw
 * protocol, where custodyctl would not send them: malformed rotations and
 * revocations (a key of the wrong length, a revocation dated beyond the
 * clock skew, a rotation to a key of another party) are BAD_REQUEST, and
 * the same signed revocation sent twice
 * is applied once (the second answer is a duplicate of the first). Also
 * one hostile admin body tests/fuzz found: a PolicyLoad carrying a field
 * number 0 (proto/pb.h), BAD_REQUEST rather than a load stored that could
 * not be read back. What was stored is counted by
 * tests/integration/90-keys.sh, which runs this (and restarts custodyd).
 *
 *   CUSTODY_SERVER=unix:PATH  CUSTODY_ADMIN_KEY=the bootstrap admin's key file
 *   ITEST_REVOKE=public key (base64, hex or file) to revoke, registered
 *   ITEST_ROTATE=a registered key of party acme, not of party globex
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "custody.pb-c.h"
#include "envelope.h"
#include "itest_lib.h"
#include "key.h"

static struct cu_key *admin_key;

/* Signs act (issued now) with the admin key into *env (envelope_clear it). */
static void seal(Custody__AdminAction *act, Custody__SignedEnvelope *env)
{
	act->issued_at_ms = codec_now_ms();
	assert_int_equal(envelope_seal(ENVELOPE_ADMIN, admin_key, &act->base, env), CU_OK);
}

static Custody__Response *send_env(Custody__SignedEnvelope *env)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;

	req.body_case = CUSTODY__REQUEST__BODY_ADMIN;
	req.admin = env;
	return call_once(&req);
}

static Custody__Response *admin(Custody__AdminAction *act)
{
	Custody__SignedEnvelope env;
	Custody__Response *resp;

	seal(act, &env);
	resp = send_env(&env);
	envelope_clear(&env);
	return resp;
}

static void test_malformed(void **state)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__KeyRevocation rev = CUSTODY__KEY_REVOCATION__INIT;
	Custody__KeyRotation rot = CUSTODY__KEY_ROTATION__INIT;
	Custody__KeyRecord rec = CUSTODY__KEY_RECORD__INIT;
	uint8_t pk[33] = {1}, other[32] = {2};

	(void)state;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY;
	act.revoke_key = &rev;
	rev.pubkey.data = pk;
	rev.pubkey.len = 31;
	expect_error(admin(&act), CUSTODY__ERROR_CODE__BAD_REQUEST,
		     "revoke_key.pubkey: 32-byte Ed25519 public key required");
	rev.pubkey.len = 32;
	rev.revoked_at_ms = codec_now_ms() + 3600 * 1000;
	expect_error(admin(&act), CUSTODY__ERROR_CODE__BAD_REQUEST, "in the future");
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_ROTATE_KEY;
	act.rotate_key = &rot;
	rot.old_pubkey.data = other;
	rot.old_pubkey.len = 32;
	rot.new_key = &rec;
	rec.pubkey.data = pk;
	rec.pubkey.len = 33;
	rec.party = "acme";
	rec.role = CUSTODY__ROLE__EXPORTER;
	expect_error(admin(&act), CUSTODY__ERROR_CODE__BAD_REQUEST,
		     "rotate_key.new_key.pubkey: 32-byte");
	rot.new_key = NULL;
	expect_error(admin(&act), CUSTODY__ERROR_CODE__BAD_REQUEST, "rotate_key.new_key: missing");
	/* A oneof member left NULL is not sent at all. */
	act.rotate_key = NULL;
	expect_error(admin(&act), CUSTODY__ERROR_CODE__BAD_REQUEST,
		     "unknown or missing admin action");
}

static void test_other_party(void **state)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__KeyRotation rot = CUSTODY__KEY_ROTATION__INIT;
	Custody__KeyRecord rec = CUSTODY__KEY_RECORD__INIT;
	uint8_t old[KEY_PUBLIC_BYTES], fresh[KEY_PUBLIC_BYTES];

	(void)state;
	assert_int_equal(key_pub_load(getenv("ITEST_ROTATE"), old), CU_OK);
	memset(fresh, 0x5a, sizeof(fresh));
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_ROTATE_KEY;
	act.rotate_key = &rot;
	rot.old_pubkey.data = old;
	rot.old_pubkey.len = sizeof(old);
	rot.new_key = &rec;
	rec.pubkey.data = fresh;
	rec.pubkey.len = sizeof(fresh);
	rec.party = "globex";
	rec.role = CUSTODY__ROLE__OPERATOR;
	expect_error(admin(&act), CUSTODY__ERROR_CODE__BAD_REQUEST,
		     "for the old key's party and role (party acme, role OPERATOR), not for "
		     "party globex");
	rec.party = "acme";
	rec.role = CUSTODY__ROLE__EXPORTER;
	expect_error(admin(&act), CUSTODY__ERROR_CODE__BAD_REQUEST, "not for party acme, role");
}

static void test_resubmitted(void **state)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__KeyRevocation rev = CUSTODY__KEY_REVOCATION__INIT;
	Custody__SignedEnvelope env;
	Custody__Response *a, *b;
	uint8_t pk[KEY_PUBLIC_BYTES];

	(void)state;
	assert_int_equal(key_pub_load(getenv("ITEST_REVOKE"), pk), CU_OK);
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY;
	act.revoke_key = &rev;
	rev.pubkey.data = pk;
	rev.pubkey.len = sizeof(pk);
	rev.reason = "laptop stolen";
	seal(&act, &env);
	a = send_env(&env);
	b = send_env(&env);
	envelope_clear(&env);
	expect_body(a, CUSTODY__RESPONSE__BODY_ADMIN);
	expect_body(b, CUSTODY__RESPONSE__BODY_ADMIN);
	assert_false(a->admin->duplicate);
	assert_true(b->admin->duplicate);
	assert_int_equal(a->admin->seq, b->admin->seq);
	assert_memory_equal(a->admin->action_id.data, b->admin->action_id.data, 32);
	custody__response__free_unpacked(a, NULL);
	custody__response__free_unpacked(b, NULL);
}

/* Signs the raw AdminAction body (len bytes) with the admin key and sends it. */
static Custody__Response *send_body(uint8_t *body, size_t len)
{
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	uint8_t sig[KEY_SIG_BYTES];

	assert_int_equal(envelope_sign(ENVELOPE_ADMIN, admin_key, body, len, sig), CU_OK);
	env.body.data = body;
	env.body.len = len;
	env.signer.data = admin_key->pk;
	env.signer.len = KEY_PUBLIC_BYTES;
	env.sig.data = sig;
	env.sig.len = sizeof(sig);
	return send_env(&env);
}

/* A signed PolicyLoad with "80 00 00" (field 0) inside: refused, nothing stored. */
static void test_field_zero_policy(void **state)
{
	Custody__PolicyLoad pl = CUSTODY__POLICY_LOAD__INIT;
	uint8_t body[256], inner[128];
	size_t n, k = 0;
	uint64_t now = (uint64_t)codec_now_ms();

	(void)state;
	pl.kind = CUSTODY__POLICY_KIND__ROSTER;
	pl.source = "itest-field-zero";
	n = custody__policy_load__pack(&pl, inner);
	assert_true(n + 3 < 128);
	memcpy(inner + n, "\x80\x00\x00", 3);
	n += 3;
	body[k++] = 0x08; /* issued_at_ms */
	for (; now >= 0x80; now >>= 7)
		body[k++] = (uint8_t)(now | 0x80);
	body[k++] = (uint8_t)now;
	body[k++] = 0x6a; /* load_policy = 13 */
	body[k++] = (uint8_t)n;
	memcpy(body + k, inner, n);
	expect_error(send_body(body, k + n), CUSTODY__ERROR_CODE__BAD_REQUEST,
		     "not a valid AdminAction");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_other_party),
	    cmocka_unit_test(test_resubmitted),
	    cmocka_unit_test(test_field_zero_policy),
	};

	if (key_load(getenv("CUSTODY_ADMIN_KEY"), &admin_key) != CU_OK)
		return 2;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
