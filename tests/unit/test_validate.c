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

/* ---- policy data --------------------------------------------------------- */

/* A valid row set of every kind; cases break one thing. */
struct pfix {
	Custody__PolicyLoad pl;
	Custody__CountryGroupRow group[2];
	Custody__CountryGroupRow *groupp[2];
	Custody__ModelRow model[2];
	Custody__ModelRow *modelp[2];
	Custody__RosterRow roster[2];
	Custody__RosterRow *rosterp[2];
	Custody__License lic[2];
	Custody__License *licp[2];
	char *dests[3];
	char *eccns[3];
	Custody__ScreeningEntry scr[2];
	Custody__ScreeningEntry *scrp[2];
	char *alts[2];
	char *countries[2];
	char long_text[1100];
};

static uint8_t sha[32] = {7};

static void make_policy(struct pfix *f, Custody__PolicyKind kind)
{
	memset(f, 0, sizeof(*f));
	custody__policy_load__init(&f->pl);
	for (int i = 0; i < 2; i++) {
		custody__country_group_row__init(&f->group[i]);
		custody__model_row__init(&f->model[i]);
		custody__roster_row__init(&f->roster[i]);
		custody__license__init(&f->lic[i]);
		custody__screening_entry__init(&f->scr[i]);
		f->groupp[i] = &f->group[i];
		f->modelp[i] = &f->model[i];
		f->rosterp[i] = &f->roster[i];
		f->licp[i] = &f->lic[i];
		f->scrp[i] = &f->scr[i];
	}
	f->group[0].group = "A:1";
	f->group[0].country = "AR";
	f->group[0].name = "Argentina";
	f->group[1].group = "SUPP5_740_A_AIA";
	f->group[1].country = "AR";
	f->model[0].model = "H100-SXM";
	f->model[0].tpp = 15832;
	f->model[0].eccn_class = "3A090.a";
	f->model[0].vendor = "NVIDIA";
	f->model[1].model = "H20";
	f->model[1].eccn_class = "none";
	f->roster[0].exporter = "acme";
	f->roster[0].facility = "jp-1";
	f->roster[0].notified_at_ms = NOW;
	f->roster[0].notice = CUSTODY__ROSTER_NOTICE__SITE;
	f->roster[1].exporter = "acme";
	f->roster[1].notified_at_ms = NOW;
	f->dests[0] = "AE";
	f->dests[1] = "SA";
	f->eccns[0] = "3A090.a";
	f->eccns[1] = "4A090.a";
	for (int i = 0; i < 2; i++) {
		f->lic[i].number = i == 0 ? "D123/45.A_b-6" : "D999";
		f->lic[i].holder = "acme";
		f->lic[i].destinations = f->dests;
		f->lic[i].n_destinations = 2;
		f->lic[i].eccns = f->eccns;
		f->lic[i].n_eccns = 2;
		f->lic[i].valid_from_ms = NOW;
	}
	f->alts[0] = "Shadow Compute HK";
	f->alts[1] = "SCT Ltd";
	f->countries[0] = "HK";
	f->scr[0].id = "81c13b38";
	f->scr[0].source = "Entity List (EL) - Bureau of Industry and Security";
	f->scr[0].name = "Shadow Compute Trading Ltd";
	f->scr[0].alt_names = f->alts;
	f->scr[0].n_alt_names = 2;
	f->scr[0].countries = f->countries;
	f->scr[0].n_countries = 1;
	f->scr[1].id = "61201";
	f->scr[1].name = "Red Harbor Logistics Co.";
	f->scr[1].programs = "IRAN-EO13846; SDGT";
	memset(f->long_text, 'x', sizeof(f->long_text) - 1);
	f->pl.kind = kind;
	f->pl.source = "file.csv";
	f->pl.source_sha256.data = sha;
	f->pl.source_sha256.len = 32;
	switch (kind) {
	case CUSTODY__POLICY_KIND__COUNTRY_GROUPS:
	case CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES:
		f->pl.country_groups = f->groupp;
		f->pl.n_country_groups = 2;
		break;
	case CUSTODY__POLICY_KIND__MODELS:
		f->pl.models = f->modelp;
		f->pl.n_models = 2;
		break;
	case CUSTODY__POLICY_KIND__ROSTER:
		f->pl.roster = f->rosterp;
		f->pl.n_roster = 2;
		break;
	case CUSTODY__POLICY_KIND__LICENSES:
		f->pl.licenses = f->licp;
		f->pl.n_licenses = 2;
		break;
	default:
		f->pl.screening = f->scrp;
		f->pl.n_screening = 2;
		break;
	}
}

/* Text of exactly n bytes from the fixture's long buffer. */
static char *text_of(struct pfix *f, size_t n)
{
	f->long_text[n] = '\0';
	return f->long_text;
}

struct policy_case {
	const char *name;
	Custody__PolicyKind kind;
	void (*mutate)(struct pfix *f);
	const char *want; /* NULL: accepted; else in the error */
};

#define K_GROUPS    CUSTODY__POLICY_KIND__COUNTRY_GROUPS
#define K_OVERRIDES CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES
#define K_MODELS    CUSTODY__POLICY_KIND__MODELS
#define K_ROSTER    CUSTODY__POLICY_KIND__ROSTER
#define K_LICENSES  CUSTODY__POLICY_KIND__LICENSES
#define K_SCREENING CUSTODY__POLICY_KIND__SCREENING

static void nothing(struct pfix *f)
{
	(void)f;
}
static void no_kind(struct pfix *f)
{
	f->pl.kind = 0;
}
static void kind_7(struct pfix *f)
{
	f->pl.kind = 7;
}
static void negative_effective(struct pfix *f)
{
	f->pl.effective_from_ms = -1;
}
static void future_effective(struct pfix *f)
{
	f->pl.effective_from_ms = NOW + 86400000LL * 365;
}
static void source_newline(struct pfix *f)
{
	f->pl.source = "a\nb";
}
static void source_long(struct pfix *f)
{
	f->pl.source = text_of(f, VALIDATE_SOURCE_MAX + 1);
}
static void sha_31(struct pfix *f)
{
	f->pl.source_sha256.len = 31;
}
static void sha_none(struct pfix *f)
{
	f->pl.source_sha256.len = 0;
}
static void extra_models(struct pfix *f)
{
	f->pl.models = f->modelp;
	f->pl.n_models = 1;
}
static void extra_screening(struct pfix *f)
{
	f->pl.screening = f->scrp;
	f->pl.n_screening = 1;
}
static void no_groups(struct pfix *f)
{
	f->pl.n_country_groups = 0;
}
static void no_models(struct pfix *f)
{
	f->pl.n_models = 0;
}
static void no_licenses(struct pfix *f)
{
	f->pl.n_licenses = 0;
}
static void too_many_rows(struct pfix *f)
{
	f->pl.n_screening = VALIDATE_POLICY_MAX_ROWS + 1;
}
static void group_f1(struct pfix *f)
{
	f->group[1].group = "F:1";
}
static void group_lower(struct pfix *f)
{
	f->group[1].group = "d:5";
}
static void group_e2(struct pfix *f)
{
	f->group[1].group = "E:2";
}
static void country_lower(struct pfix *f)
{
	f->group[1].country = "ar";
}
static void country_empty(struct pfix *f)
{
	f->group[0].country = "";
}
static void group_name_ctrl(struct pfix *f)
{
	f->group[0].name = "Argen\ttina";
}
static void group_dup(struct pfix *f)
{
	f->group[1].group = "A:1";
}
static void override_member(struct pfix *f)
{
	f->group[0].member = true;
}
static void model_empty(struct pfix *f)
{
	f->model[1].model = "";
}
static void model_64(struct pfix *f)
{
	f->model[1].model = text_of(f, 64);
}
static void model_65(struct pfix *f)
{
	f->model[1].model = text_of(f, 65);
}
static void model_class(struct pfix *f)
{
	f->model[0].eccn_class = "3A090.c";
}
static void model_class_empty(struct pfix *f)
{
	f->model[0].eccn_class = "";
}
static void model_tpp_zero(struct pfix *f)
{
	f->model[0].tpp = 0;
}
static void model_b(struct pfix *f)
{
	f->model[1].eccn_class = "3A090.b";
	f->model[1].tpp = 2896;
}
static void model_dup(struct pfix *f)
{
	f->model[1].model = "H100-SXM";
}
static void roster_exporter(struct pfix *f)
{
	f->roster[0].exporter = "ac me";
}
static void roster_facility(struct pfix *f)
{
	f->roster[0].facility = "jp/1";
}
static void roster_no_date(struct pfix *f)
{
	f->roster[1].notified_at_ms = 0;
}
static void roster_notice(struct pfix *f)
{
	f->roster[0].notice = 3;
}
static void roster_transfer(struct pfix *f)
{
	f->roster[1].facility = "jp-1";
	f->roster[1].notice = CUSTODY__ROSTER_NOTICE__TRANSFER;
}
static void roster_dup_unset(struct pfix *f)
{
	f->roster[1].facility = "jp-1"; /* unset notice means SITE */
}
static void lic_number_space(struct pfix *f)
{
	f->lic[0].number = "D 1";
}
static void lic_number_hash(struct pfix *f)
{
	f->lic[0].number = "D#1";
}
static void lic_number_65(struct pfix *f)
{
	f->lic[0].number = text_of(f, 65);
}
static void lic_number_64(struct pfix *f)
{
	f->lic[0].number = text_of(f, 64);
}
static void lic_holder(struct pfix *f)
{
	f->lic[0].holder = "";
}
static void lic_no_dest(struct pfix *f)
{
	f->lic[0].n_destinations = 0;
}
static void lic_bad_dest(struct pfix *f)
{
	f->dests[1] = "Saudi";
}
static void lic_dup_dest(struct pfix *f)
{
	f->dests[1] = "AE";
}
static void lic_no_eccn(struct pfix *f)
{
	f->lic[0].n_eccns = 0;
}
static void lic_bad_eccn(struct pfix *f)
{
	f->eccns[1] = "5A002";
}
static void lic_dup_eccn(struct pfix *f)
{
	f->eccns[1] = "3A090.a";
}
static void lic_all_eccns(struct pfix *f)
{
	f->eccns[1] = "4A090.b";
}
static void lic_until_equal(struct pfix *f)
{
	f->lic[0].valid_until_ms = NOW;
}
static void lic_until_after(struct pfix *f)
{
	f->lic[0].valid_until_ms = NOW + 1;
}
static void lic_from_negative(struct pfix *f)
{
	f->lic[0].valid_from_ms = -5;
}
static void lic_consignee(struct pfix *f)
{
	f->lic[0].consignee = "acme ae";
}
static void lic_consignee_ok(struct pfix *f)
{
	f->lic[0].consignee = "acme-ae";
}
static void lic_dup(struct pfix *f)
{
	f->lic[1].number = f->lic[0].number;
}
static void scr_no_id(struct pfix *f)
{
	f->scr[1].id = "";
}
static void scr_no_name(struct pfix *f)
{
	f->scr[1].name = "";
}
static void scr_name_1024(struct pfix *f)
{
	f->scr[1].name = text_of(f, 1024);
}
static void scr_name_1025(struct pfix *f)
{
	f->scr[1].name = text_of(f, 1025);
}
static void scr_name_utf8(struct pfix *f)
{
	f->scr[1].name = "Red \xc3\x28 Harbor";
}
static void scr_alt_65(struct pfix *f)
{
	f->scr[0].n_alt_names = 65;
}
static void scr_alt_empty(struct pfix *f)
{
	f->alts[1] = "";
}
static void scr_alt_long(struct pfix *f)
{
	f->alts[1] = text_of(f, 1025);
}
static void scr_country(struct pfix *f)
{
	f->countries[0] = "HKG";
}
static void scr_programs_long(struct pfix *f)
{
	f->scr[1].programs = text_of(f, VALIDATE_SCREEN_PROGRAMS_MAX + 1);
}
static void scr_dup(struct pfix *f)
{
	f->scr[1].id = "81c13b38";
}

static const struct policy_case policy_cases[] = {
    {"groups", K_GROUPS, nothing, NULL},
    {"overrides", K_OVERRIDES, override_member, NULL},
    {"models", K_MODELS, nothing, NULL},
    {"roster", K_ROSTER, nothing, NULL},
    {"licenses", K_LICENSES, nothing, NULL},
    {"screening", K_SCREENING, nothing, NULL},
    {"no kind", K_GROUPS, no_kind, "kind: unknown or missing"},
    {"kind 7", K_GROUPS, kind_7, "kind: unknown or missing"},
    {"negative effective", K_MODELS, negative_effective, "effective_from_ms"},
    {"future effective", K_MODELS, future_effective, NULL},
    {"source newline", K_MODELS, source_newline, "source:"},
    {"source long", K_MODELS, source_long, "source:"},
    {"sha 31", K_MODELS, sha_31, "source_sha256"},
    {"sha none", K_MODELS, sha_none, NULL},
    {"models in groups", K_GROUPS, extra_models,
     "models: a COUNTRY_GROUPS load takes only country_groups"},
    {"screening in licenses", K_LICENSES, extra_screening, "screening: a LICENSES load takes"},
    {"no groups", K_GROUPS, no_groups, "country_groups: a COUNTRY_GROUPS load needs"},
    {"no overrides", K_OVERRIDES, no_groups, NULL},
    {"no models", K_MODELS, no_models, "models: a MODELS load needs at least one row"},
    {"no licenses", K_LICENSES, no_licenses, NULL},
    {"too many rows", K_SCREENING, too_many_rows, "screening: 200001 rows, at most 200000"},
    {"group F:1", K_GROUPS, group_f1, "country_groups[1]: group: \"F:1\""},
    {"group lower", K_GROUPS, group_lower, "country_groups[1]: group"},
    {"group E:2", K_GROUPS, group_e2, NULL},
    {"country lower", K_OVERRIDES, country_lower, "country_groups[1]: country: \"ar\""},
    {"country empty", K_GROUPS, country_empty, "country_groups[0]: country"},
    {"group name ctrl", K_GROUPS, group_name_ctrl, "country_groups[0]: name"},
    {"group dup", K_GROUPS, group_dup, "country_groups: AR in A:1 appears more than once"},
    {"override dup", K_OVERRIDES, group_dup, "AR in A:1 appears more than once"},
    {"model empty", K_MODELS, model_empty, "models[1]: model"},
    {"model 64", K_MODELS, model_64, NULL},
    {"model 65", K_MODELS, model_65, "models[1]: model"},
    {"model class", K_MODELS, model_class, "models[0]: eccn_class: \"3A090.c\""},
    {"model class empty", K_MODELS, model_class_empty, "models[0]: eccn_class"},
    {"model tpp 0", K_MODELS, model_tpp_zero, "models[0]: tpp"},
    {"model .b", K_MODELS, model_b, NULL},
    {"model dup", K_MODELS, model_dup, "models: H100-SXM appears more than once"},
    {"roster exporter", K_ROSTER, roster_exporter, "roster[0]: exporter"},
    {"roster facility", K_ROSTER, roster_facility, "roster[0]: facility"},
    {"roster date", K_ROSTER, roster_no_date, "roster[1]: notified_at_ms"},
    {"roster notice", K_ROSTER, roster_notice, "roster[0]: notice"},
    {"roster transfer", K_ROSTER, roster_transfer, NULL},
    {"roster dup", K_ROSTER, roster_dup_unset,
     "roster: acme, facility \"jp-1\", notice SITE appears more than once"},
    {"license number space", K_LICENSES, lic_number_space, "licenses[0]: number: \"D 1\""},
    {"license number hash", K_LICENSES, lic_number_hash, "licenses[0]: number"},
    {"license number 64", K_LICENSES, lic_number_64, NULL},
    {"license number 65", K_LICENSES, lic_number_65, "licenses[0]: number"},
    {"license holder", K_LICENSES, lic_holder, "licenses[0]: holder"},
    {"license no dest", K_LICENSES, lic_no_dest, "licenses[0]: destinations: 1 to 300"},
    {"license bad dest", K_LICENSES, lic_bad_dest, "licenses[0]: destinations[1]: \"Saudi\""},
    {"license dup dest", K_LICENSES, lic_dup_dest, "destinations: AE listed twice"},
    {"license no eccn", K_LICENSES, lic_no_eccn, "licenses[0]: eccns: at least one"},
    {"license bad eccn", K_LICENSES, lic_bad_eccn, "licenses[0]: eccns[1]: \"5A002\""},
    {"license dup eccn", K_LICENSES, lic_dup_eccn, "eccns: 3A090.a listed twice"},
    {"license 4A090.b", K_LICENSES, lic_all_eccns, NULL},
    {"license until = from", K_LICENSES, lic_until_equal, "licenses[0]: valid_until_ms"},
    {"license until > from", K_LICENSES, lic_until_after, NULL},
    {"license from < 0", K_LICENSES, lic_from_negative, "licenses[0]: valid_from_ms"},
    {"license consignee", K_LICENSES, lic_consignee, "licenses[0]: consignee"},
    {"license consignee ok", K_LICENSES, lic_consignee_ok, NULL},
    {"license dup", K_LICENSES, lic_dup, "licenses: number D123/45.A_b-6 appears more than once"},
    {"screening no id", K_SCREENING, scr_no_id, "screening[1]: id"},
    {"screening no name", K_SCREENING, scr_no_name, "screening[1]: name: required"},
    {"screening name 1024", K_SCREENING, scr_name_1024, NULL},
    {"screening name 1025", K_SCREENING, scr_name_1025,
     "screening[1]: name: 1025 bytes, not 1-1024"},
    {"screening name utf8", K_SCREENING, scr_name_utf8, "screening[1]: name"},
    {"screening 65 alt names", K_SCREENING, scr_alt_65, "screening[0]: alt_names: 65 names"},
    {"screening empty alt", K_SCREENING, scr_alt_empty, "screening[0]: alt_names[1]"},
    {"screening long alt", K_SCREENING, scr_alt_long, "screening[0]: alt_names[1]"},
    {"screening country", K_SCREENING, scr_country, "screening[0]: countries[0]: \"HKG\""},
    {"screening programs", K_SCREENING, scr_programs_long, "screening[1]: programs"},
    {"screening dup", K_SCREENING, scr_dup, "screening: id 81c13b38 appears more than once"},
};

static void test_policy_load(void **state)
{
	static Custody__ScreeningEntry *many[VALIDATE_POLICY_MAX_ROWS + 1];
	static struct pfix f;
	char err[VALIDATE_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
		const struct policy_case *c = &policy_cases[i];
		int rc;

		make_policy(&f, c->kind);
		if (c->mutate == too_many_rows) {
			for (size_t j = 0; j <= VALIDATE_POLICY_MAX_ROWS; j++)
				many[j] = &f.scr[0];
			f.pl.screening = many;
		}
		c->mutate(&f);
		err[0] = '\0';
		rc = validate_policy_load(&f.pl, err, sizeof(err));
		if (c->want == NULL && rc != CU_OK)
			fail_msg("%s: unexpected error: %s", c->name, err);
		if (c->want != NULL && (rc != CU_ERR_INVALID || strstr(err, c->want) == NULL))
			fail_msg("%s: error \"%s\" lacks \"%s\"", c->name, err, c->want);
	}
}

/* load_policy and alert_note through validate_admin. */
static void test_admin_policy_and_notes(void **state)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__AlertNote note = CUSTODY__ALERT_NOTE__INIT;
	static struct pfix f;
	char err[VALIDATE_ERR_MAX];
	char long_note[VALIDATE_NOTE_MAX + 2];

	(void)state;
	act.issued_at_ms = NOW;
	make_policy(&f, K_LICENSES);
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_LOAD_POLICY;
	act.load_policy = &f.pl;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_OK);
	lic_dup_dest(&f);
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "licenses[0]: destinations: AE listed twice"));
	act.load_policy = NULL;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);

	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_ALERT_NOTE;
	act.alert_note = &note;
	note.alert_id = 42;
	note.note = "Checked with the exporter: paperwork delayed.";
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_OK); /* comment */
	note.state = CUSTODY__ALERT_STATE__ACKNOWLEDGED;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_OK);
	note.state = CUSTODY__ALERT_STATE__RESOLVED;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_OK);
	note.state = CUSTODY__ALERT_STATE__OPEN;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "alert_note.state"));
	note.state = 9;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	note.state = CUSTODY__ALERT_STATE__RESOLVED;
	note.alert_id = 0;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "alert_note.alert_id"));
	note.alert_id = 42;
	note.note = "";
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "alert_note.note"));
	note.note = "line\nbreak";
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	memset(long_note, 'n', sizeof(long_note) - 1);
	long_note[VALIDATE_NOTE_MAX] = '\0';
	note.note = long_note;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_OK);
	long_note[VALIDATE_NOTE_MAX] = 'n';
	long_note[VALIDATE_NOTE_MAX + 1] = '\0';
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	act.alert_note = NULL;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
}

static void test_admin_key_changes(void **state)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__KeyRotation rot = CUSTODY__KEY_ROTATION__INIT;
	Custody__KeyRevocation rev = CUSTODY__KEY_REVOCATION__INIT;
	Custody__KeyRecord key = CUSTODY__KEY_RECORD__INIT;
	uint8_t old[32] = {1}, fresh[33] = {2};
	char err[VALIDATE_ERR_MAX];

	(void)state;
	act.issued_at_ms = NOW;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_ROTATE_KEY;
	act.rotate_key = &rot;
	rot.old_pubkey = (ProtobufCBinaryData){32, old};
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_string_equal(err, "rotate_key.new_key: missing");
	rot.new_key = &key;
	key.pubkey = (ProtobufCBinaryData){32, fresh};
	key.party = "acme";
	key.role = CUSTODY__ROLE__EXPORTER;
	rot.old_valid_until_ms = NOW + 1000;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_OK);
	key.pubkey.len = 33;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "rotate_key.new_key.pubkey: 32-byte"));
	key.pubkey = (ProtobufCBinaryData){32, old};
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_string_equal(err, "rotate_key: the new key is the old key");
	key.pubkey.data = fresh;
	rot.old_pubkey.len = 31;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	rot.old_pubkey.len = 32;
	rot.old_valid_until_ms = -1;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);

	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY;
	act.revoke_key = &rev;
	rev.pubkey = (ProtobufCBinaryData){32, old};
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_OK);
	rev.revoked_at_ms = NOW + SKEW; /* backdated or up to the skew ahead */
	rev.reason = "compromised";
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_OK);
	rev.revoked_at_ms = NOW + SKEW + 1;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "in the future"));
	rev.revoked_at_ms = 1;
	rev.reason = "line\nbreak";
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	rev.reason = NULL;
	rev.pubkey.len = 0;
	assert_int_equal(validate_admin(&act, NOW, SKEW, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "revoke_key.pubkey"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ship_ok),
	    cmocka_unit_test(test_common_fields),
	    cmocka_unit_test(test_devices),
	    cmocka_unit_test(test_register),
	    cmocka_unit_test(test_per_type_fields),
	    cmocka_unit_test(test_container),
	    cmocka_unit_test(test_admin),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_policy_load),
	    cmocka_unit_test(test_admin_policy_and_notes),
	    cmocka_unit_test(test_admin_key_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
