/* Unit tests for daemon/registry.c's key lifecycle: when a key may sign
 * (registry_key_refusal, by the time of recording and by the submission's
 * own date) and how rotations and revocations end it (registry_key_end). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "registry.h"

#define T0   1700000000000LL /* registration */
#define HOUR 3600000LL

static struct key_rec key_at(int64_t from_ms, bool stated)
{
	struct key_rec k;

	memset(&k, 0, sizeof(k));
	memset(k.pubkey, 7, sizeof(k.pubkey));
	strcpy(k.party, "acme");
	k.role = CUSTODY__ROLE__EXPORTER;
	k.valid_from_ms = from_ms;
	k.valid_from_stated = stated;
	return k;
}

/* The reason, or "ok"; *when and *by_date as registry_key_refusal says. */
static const char *why(const struct key_rec *k, int64_t now, int64_t dated, int64_t *when,
		       bool *by_date)
{
	const char *r = registry_key_refusal(k, now, dated, when, by_date);

	return r != NULL ? r : "ok";
}

static void test_validity_window(void **state)
{
	struct key_rec k = key_at(T0, false);
	int64_t when = 0;
	bool by_date = false;

	(void)state;
	assert_string_equal(why(&k, T0, T0, &when, &by_date), "ok");
	/* Registered now without a stated start: events of the past may be entered. */
	assert_string_equal(why(&k, T0 + 1, T0 - 5 * 24 * HOUR, &when, &by_date), "ok");
	assert_string_equal(why(&k, T0 - 1, T0 - 1, &when, &by_date), "not yet valid");
	assert_false(by_date);
	assert_int_equal(when, T0);
	/* A stated start holds against the date too. */
	k = key_at(T0, true);
	assert_string_equal(why(&k, T0 + 1, T0 - 1, &when, &by_date), "not yet valid");
	assert_true(by_date);
	/* Expiry is exclusive: at valid_until the key is expired, by now or by date. */
	k.valid_until_ms = T0 + HOUR;
	assert_string_equal(why(&k, T0 + HOUR - 1, T0 + HOUR - 1, &when, &by_date), "ok");
	assert_string_equal(why(&k, T0 + HOUR, T0, &when, &by_date), "expired");
	assert_false(by_date);
	assert_int_equal(when, T0 + HOUR);
	assert_string_equal(why(&k, T0 + 1, T0 + HOUR, &when, &by_date), "expired");
	assert_true(by_date);
}

static void test_revocation_dates(void **state)
{
	struct key_rec k = key_at(T0, false);
	int64_t when = 0;
	bool by_date = false;

	(void)state;
	k.revoked_at_ms = T0 + 2 * HOUR;
	k.valid_until_ms = T0 + 3 * HOUR;
	/* Before the revocation, by both times: fine. */
	assert_string_equal(why(&k, T0 + HOUR, T0 + HOUR, &when, &by_date), "ok");
	/* Recorded after it: refused whatever date the event carries. */
	assert_string_equal(why(&k, T0 + 2 * HOUR, T0, &when, &by_date), "revoked");
	assert_false(by_date);
	assert_int_equal(when, T0 + 2 * HOUR);
	/* Revocation comes first when both ended the key. */
	assert_string_equal(why(&k, T0 + 4 * HOUR, T0, &when, &by_date), "revoked");
	/* A revocation dated in the future (within skew): dated after it is refused. */
	assert_string_equal(why(&k, T0 + HOUR, T0 + 2 * HOUR + 1, &when, &by_date), "revoked");
	assert_true(by_date);
	assert_string_equal(registry_key_unusable(&k, T0 + 2 * HOUR - 1) == NULL ? "ok" : "no",
			    "ok");
	assert_string_equal(registry_key_unusable(&k, T0 + 2 * HOUR), "revoked");
}

static void test_key_end(void **state)
{
	struct registry *reg = registry_new();
	struct key_rec k = key_at(T0, false);
	const struct key_rec *got;
	uint8_t other[32];

	(void)state;
	assert_non_null(reg);
	memset(other, 9, sizeof(other));
	assert_int_equal(registry_key_end(reg, other, T0, 0, NULL), CU_ERR_NOT_FOUND);
	assert_int_equal(registry_put_key(reg, &k), CU_OK);
	/* A rotation sets valid_until; a later one cannot extend it. */
	assert_int_equal(registry_key_end(reg, k.pubkey, T0 + 2 * HOUR, 0, NULL), CU_OK);
	assert_int_equal(registry_key_end(reg, k.pubkey, T0 + 5 * HOUR, 0, NULL), CU_OK);
	got = registry_key(reg, k.pubkey);
	assert_int_equal(got->valid_until_ms, T0 + 2 * HOUR);
	assert_int_equal(got->revoked_at_ms, 0);
	assert_int_equal(registry_key_end(reg, k.pubkey, T0 + HOUR, 0, NULL), CU_OK);
	assert_int_equal(got->valid_until_ms, T0 + HOUR);
	/* Revocations: the earliest holds. */
	assert_string_equal(registry_key_revoked_reason(reg, k.pubkey), "");
	assert_int_equal(registry_key_end(reg, k.pubkey, 0, T0 + 30 * 60000, "stolen"), CU_OK);
	assert_int_equal(registry_key_end(reg, k.pubkey, 0, T0 + 40 * 60000, "later"), CU_OK);
	assert_int_equal(got->revoked_at_ms, T0 + 30 * 60000);
	assert_string_equal(registry_key_revoked_reason(reg, k.pubkey), "stolen");
	assert_int_equal(got->valid_until_ms, T0 + HOUR);
	assert_int_equal(registry_key_end(reg, k.pubkey, 0, T0 + 10 * 60000, "earlier"), CU_OK);
	assert_int_equal(got->revoked_at_ms, T0 + 10 * 60000);
	assert_string_equal(registry_key_revoked_reason(reg, k.pubkey), "earlier");
	registry_free(reg);
}

static void test_from_pb(void **state)
{
	Custody__KeyRecord pb = CUSTODY__KEY_RECORD__INIT;
	uint8_t pk[32];
	struct key_rec k;

	(void)state;
	memset(pk, 3, sizeof(pk));
	pb.pubkey.data = pk;
	pb.pubkey.len = 32;
	pb.party = "acme";
	pb.role = CUSTODY__ROLE__OPERATOR;
	registry_key_from_pb(&pb, T0, &k);
	assert_int_equal(k.valid_from_ms, T0);
	assert_false(k.valid_from_stated);
	pb.valid_from_ms = T0 - HOUR;
	registry_key_from_pb(&pb, T0, &k);
	assert_int_equal(k.valid_from_ms, T0 - HOUR);
	assert_true(k.valid_from_stated);
	assert_int_equal(k.revoked_at_ms, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validity_window),
	    cmocka_unit_test(test_revocation_dates),
	    cmocka_unit_test(test_key_end),
	    cmocka_unit_test(test_from_pb),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
