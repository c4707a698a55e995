/* Unit tests for proto/validate.c: table-driven structural checks of
 * events and admin actions. Each case mutates a valid event and expects
 * acceptance or a message naming the bad field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

#define NOW  1795354800000LL
#define SKEW 300000LL

static uint8_t prev_id[32] = {1};

struct fixture {
	Custody__Event ev;
	Custody__DeviceRef dev[3];
	Custody__DeviceRef *devp[3];
	Custody__DeviceRef container;
	char *contents[3];
};

/* A valid SHIP of two devices; cases edit it. */
static void make_ship(struct fixture *f)
{
	custody__event__init(&f->ev);
	for (int i = 0; i < 3; i++) {
		custody__device_ref__init(&f->dev[i]);
		f->dev[i].prev.data = prev_id;
		f->dev[i].prev.len = 32;
		f->devp[i] = &f->dev[i];
	}
	f->dev[0].serial = "GPU-1";
	f->dev[1].serial = "GPU-2";
	f->dev[2].serial = "SRV-1";
	f->ev.type = CUSTODY__EVENT_TYPE__SHIP;
	f->ev.actor = "acme";
	f->ev.occurred_at_ms = NOW;
	f->ev.facility = "us-1";
	f->ev.to_facility = "jp-1";
	f->ev.devices = f->devp;
	f->ev.n_devices = 2;
	custody__device_ref__init(&f->container);
	f->container.serial = "SRV-1";
	f->container.prev.data = prev_id;
	f->container.prev.len = 32;
}

static int check(struct fixture *f, const char *want_in_error)
{
	char err[VALIDATE_ERR_MAX] = "";
	int rc = validate_event(&f->ev, NOW, SKEW, err, sizeof(err));

	if (want_in_error == NULL) {
		if (rc != CU_OK)
			fail_msg("unexpected error: %s", err);
		return rc;
	}
	assert_int_equal(rc, CU_ERR_INVALID);
	if (strstr(err, want_in_error) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want_in_error);
	return rc;
}

static void test_ship_ok(void **state)
{
	struct fixture f;

	(void)state;
	make_ship(&f);
	check(&f, NULL);
	f.ev.consignee = "acme-jp";
	f.ev.carrier = "fastfreight";
	f.ev.deadline_ms = NOW + 1000;
	check(&f, NULL);
}

static void test_common_fields(void **state)
{
	struct fixture f;

	(void)state;
	make_ship(&f);
	f.ev.type = 99;
	check(&f, "type");
	make_ship(&f);
	f.ev.actor = "";
	check(&f, "actor");
	make_ship(&f);
	f.ev.actor = "has space";
	check(&f, "actor");
	make_ship(&f);
	f.ev.occurred_at_ms = 0;
	check(&f, "occurred_at_ms");
	make_ship(&f);
	f.ev.occurred_at_ms = NOW + SKEW + 1;
	check(&f, "future");
	make_ship(&f);
	f.ev.occurred_at_ms = NOW + SKEW;
	check(&f, NULL);
	make_ship(&f);
	f.ev.note = "line\nbreak";
	check(&f, "note");
	make_ship(&f);
	f.ev.note = "\xc3\x28"; /* invalid UTF-8 */
	check(&f, "note");
	make_ship(&f);
	f.ev.note = "Grüße aus Tōkyō";
	check(&f, NULL);
}

static void test_devices(void **state)
{
	struct fixture f;

	(void)state;
	make_ship(&f);
	f.ev.n_devices = 0;
	check(&f, "devices");
	make_ship(&f);
	f.dev[1].serial = "GPU-1";
	check(&f, "GPU-1 appears more than once");
	make_ship(&f);
	f.dev[1].serial = "-GPU";
	check(&f, "devices[1]: serial");
	make_ship(&f);
	f.dev[1].serial = "GPU 2";
	check(&f, "devices[1]: serial");
	make_ship(&f);
	f.dev[0].serial = "A234567890123456789012345678901234567890123456789012345678901234";
	check(&f, NULL);
	f.dev[0].serial = "A2345678901234567890123456789012345678901234567890123456789012345";
	check(&f, "devices[0]: serial");
	make_ship(&f);
	f.dev[0].prev.len = 0;
	check(&f, "prev");
	make_ship(&f);
	f.dev[0].model = "H100-SXM";
	check(&f, "REGISTER only");
}

static void test_register(void **state)
{
	struct fixture f;

	(void)state;
	make_ship(&f);
	f.ev.type = CUSTODY__EVENT_TYPE__REGISTER;
	f.ev.to_facility = "";
	for (int i = 0; i < 2; i++) {
		f.dev[i].prev.len = 0;
		f.dev[i].kind = CUSTODY__DEVICE_KIND__CHIP;
		f.dev[i].model = "H100-SXM";
	}
	check(&f, NULL);
	f.dev[1].prev.len = 32;
	check(&f, "REGISTER takes no prev");
	f.dev[1].prev.len = 0;
	f.dev[1].kind = 0;
	check(&f, "kind");
	f.dev[1].kind = CUSTODY__DEVICE_KIND__CHIP;
	f.dev[1].model = "";
	check(&f, "model");
	f.dev[1].model = "H100-SXM";
	f.dev[1].device_key.len = 31;
	f.dev[1].device_key.data = prev_id;
	check(&f, "device_key");
	f.dev[1].device_key.len = 32;
	check(&f, NULL);
	f.ev.facility = "";
	check(&f, "facility is required");
}

static void test_per_type_fields(void **state)
{
	struct fixture f;

	(void)state;
	make_ship(&f);
	f.ev.to_facility = "";
	check(&f, "to_facility");
	make_ship(&f);
	f.ev.to_facility = "us-1";
	check(&f, "same as facility");
	make_ship(&f);
	f.ev.deadline_ms = NOW - 1;
	check(&f, "deadline_ms");
	make_ship(&f);
	f.ev.location = "row 4";
	check(&f, "location");
	make_ship(&f);
	f.ev.type = CUSTODY__EVENT_TYPE__RECEIVE;
	check(&f, "to_facility");
	f.ev.to_facility = "";
	check(&f, NULL);
	f.ev.carrier = "fastfreight";
	check(&f, "SHIP only");

	make_ship(&f);
	f.ev.type = CUSTODY__EVENT_TYPE__MOVE;
	f.ev.to_facility = "";
	check(&f, "location is required");
	f.ev.location = "hall B, rack 7";
	check(&f, NULL);

	make_ship(&f);
	f.ev.type = CUSTODY__EVENT_TYPE__ATTEST;
	f.ev.to_facility = "";
	check(&f, "exactly one device");
	f.ev.n_devices = 1;
	check(&f, NULL);
	f.ev.facility = "";
	check(&f, NULL);
	f.contents[0] = "GPU-9";
	f.contents[1] = "GPU-9";
	f.ev.reported_contents = f.contents;
	f.ev.n_reported_contents = 2;
	check(&f, "reported_contents: GPU-9 appears more than once");
	f.contents[1] = "bad serial";
	check(&f, "reported_contents[1]");
	f.contents[1] = "GPU-8";
	check(&f, NULL);

	make_ship(&f);
	f.ev.type = CUSTODY__EVENT_TYPE__REPORT;
	f.ev.to_facility = "";
	check(&f, "reason");
	f.ev.reason = CUSTODY__REPORT_REASON__REPORT_LOST;
	check(&f, NULL);
	f.ev.reason = CUSTODY__REPORT_REASON__REPORT_FOUND;
	f.ev.facility = "";
	check(&f, "facility is required to report a device found");

	make_ship(&f);
	f.ev.type = CUSTODY__EVENT_TYPE__DESTROY;
	f.ev.to_facility = "";
	f.ev.reason = CUSTODY__REPORT_REASON__REPORT_LOST;
	check(&f, "only REPORT");
}

static void test_container(void **state)
{
	struct fixture f;

	(void)state;
	make_ship(&f);
	f.ev.type = CUSTODY__EVENT_TYPE__PACK;
	f.ev.to_facility = "";
	check(&f, "container is required");
	f.ev.container = &f.container;
	check(&f, NULL);
	f.container.serial = "GPU-2";
	check(&f, "GPU-2 appears more than once");
	f.container.serial = "SRV-1";
	f.container.prev.len = 0;
	check(&f, "container (SRV-1): prev");

	make_ship(&f);
	f.ev.container = &f.container;
	check(&f, "only PACK and UNPACK");
}

static void test_admin(void **state)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__Party party = CUSTODY__PARTY__INIT;
	Custody__Facility fac = CUSTODY__FACILITY__INIT;
	Custody__KeyRecord key = CUSTODY__KEY_RECORD__INIT;
	Custody__Role roles[2] = {CUSTODY__ROLE__EXPORTER, CUSTODY__ROLE__OPERATOR};
	char err[VALIDATE_ERR_MAX];

	(void)state;
	act.issued_at_ms = NOW;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "action"));

	party.id = "acme";
	party.name = "Acme Cloud, Inc.";
	party.country = "US";
	party.hq_country = "US";
	party.parent_country = "US";
	party.roles = roles;
	party.n_roles = 2;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_PARTY;
	act.register_party = &party;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_OK);
	party.hq_country = "usa";
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	party.hq_country = "US";
	roles[1] = CUSTODY__ROLE__EXPORTER;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "twice"));

	fac.id = "jp-1";
	fac.name = "Tokyo DC 1";
	fac.owner = "acme";
	fac.operator_ = "acme";
	fac.country = "JP";
	fac.latitude = 35.68;
	fac.longitude = 139.76;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_FACILITY;
	act.register_facility = &fac;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_OK);
	fac.latitude = 91;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "latitude"));

	key.pubkey.data = prev_id;
	key.pubkey.len = 32;
	key.party = "acme";
	key.role = CUSTODY__ROLE__EXPORTER;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_KEY;
	act.register_key = &key;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_OK);
	key.pubkey.len = 33;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	key.pubkey.len = 32;
	key.valid_from_ms = NOW;
	key.valid_until_ms = NOW;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	key.valid_until_ms = 0;
	act.issued_at_ms = NOW + SKEW + 1;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
}

static void test_text(void **state)
{
	(void)state;
	assert_true(validate_text("", 0));
	assert_true(validate_text("abc", 3));
	assert_false(validate_text("abcd", 3));
	assert_false(validate_text("\xed\xa0\x80", 8)); /* surrogate */
	assert_false(validate_text("\xc0\xaf", 8));	/* overlong */
	assert_false(validate_text("tab\there", 16));
	assert_true(validate_text("\xf0\x9f\x98\x80", 4));
	assert_true(validate_country("JP"));
	assert_false(validate_country("jp"));
	assert_false(validate_country("JPN"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ship_ok),	    cmocka_unit_test(test_common_fields),
	    cmocka_unit_test(test_devices),	    cmocka_unit_test(test_register),
	    cmocka_unit_test(test_per_type_fields), cmocka_unit_test(test_container),
	    cmocka_unit_test(test_admin),	    cmocka_unit_test(test_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
