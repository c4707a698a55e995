/* Unit tests for daemon/auth.c: every request type x every role (and the
 * local administrator, no principal and the bootstrap admin key) against
 * an expected table written out here independently of auth.c, requests
 * outside a role's scope, principal resolution, and the scope helpers the
 * handlers and the sequencer use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"

#define NOW_MS 1795354800000LL

/* Roles by index: 1..7 as Custody__Role; the principals tested. */
enum who { W_NONE, W_LOCAL, W_BOOT, W_ADMIN, W_EXP, W_OPR, W_CAR, W_DEV, W_REG, W_WIT, W_N };

static const char *const who_name[W_N] = {"none",      "local",	   "bootstrap", "admin",
					  "exporter",  "operator", "carrier",	"device",
					  "regulator", "witness"};

/* Expected access per request type, written independently of auth.c. */
struct expect_row {
	Custody__Request__BodyCase body;
	/* admin exporter operator carrier device regulator witness */
	const char *roles; /* 'A' allowed, 'S' scoped, '-' denied */
};

static const struct expect_row expected[] = {
    {CUSTODY__REQUEST__BODY_ADMIN, "SSSSSSS"},	   {CUSTODY__REQUEST__BODY_SUBMIT, "-SSSS--"},
    {CUSTODY__REQUEST__BODY_WHERE, "-SSSSA-"},	   {CUSTODY__REQUEST__BODY_HISTORY, "-SSSSA-"},
    {CUSTODY__REQUEST__BODY_INVENTORY, "-SS--A-"}, {CUSTODY__REQUEST__BODY_CONTENTS, "-SSSSA-"},
    {CUSTODY__REQUEST__BODY_KEY_INFO, "AAAAAAA"},  {CUSTODY__REQUEST__BODY_ALERTS, "-SS--A-"},
    {CUSTODY__REQUEST__BODY_WATCH, "-SS--A-"},	   {CUSTODY__REQUEST__BODY_VEU_REPORT, "-S---A-"},
    {CUSTODY__REQUEST__BODY_SHIPMENT, "-SSS-A-"},  {CUSTODY__REQUEST__BODY_POLICY_INFO, "AAAAAAA"},
    {CUSTODY__REQUEST__BODY_LOG_KEY, "AAAAAAA"},   {CUSTODY__REQUEST__BODY_CHECKPOINT, "AAAAAAA"},
    {CUSTODY__REQUEST__BODY_INCLUSION, "ASSSSAA"}, {CUSTODY__REQUEST__BODY_CONSISTENCY, "AAAAAAA"},
    {CUSTODY__REQUEST__BODY_ENTRIES, "A----A-"},   {CUSTODY__REQUEST__BODY_TILE, "AAAAAAA"},
    {CUSTODY__REQUEST__BODY_COSIGN, "------S"},	   {CUSTODY__REQUEST__BODY_EVENTS, "-SS--A-"},
};

static struct registry *reg;

static void pk_of(enum who w, uint8_t pk[32])
{
	memset(pk, 0xA0 + (int)w, 32);
}

static Custody__Role role_of(enum who w)
{
	return w >= W_ADMIN ? (Custody__Role)(w - W_ADMIN + 1) : CUSTODY__ROLE__ROLE_UNSPECIFIED;
}

static void put_party(const char *id)
{
	struct party p = {0};

	snprintf(p.id, sizeof(p.id), "%s", id);
	assert_int_equal(registry_put_party(reg, &p), CU_OK);
}

static void put_key(const uint8_t pk[32], const char *party, Custody__Role role)
{
	struct key_rec k = {0};

	memcpy(k.pubkey, pk, 32);
	snprintf(k.party, sizeof(k.party), "%s", party);
	k.role = role;
	k.valid_from_ms = NOW_MS - 1000;
	assert_int_equal(registry_put_key(reg, &k), CU_OK);
}

static void put_facility(const char *id, const char *owner, const char *op)
{
	struct facility f = {0};

	snprintf(f.id, sizeof(f.id), "%s", id);
	snprintf(f.owner, sizeof(f.owner), "%s", owner);
	snprintf(f.operator_, sizeof(f.operator_), "%s", op);
	assert_int_equal(registry_put_facility(reg, &f), CU_OK);
}

/* One party per role ("p-exporter", ...) with one key; "other" too. */
static int setup(void **state)
{
	uint8_t pk[32];
	char party[32];

	(void)state;
	reg = registry_new();
	assert_non_null(reg);
	for (int w = W_ADMIN; w < W_N; w++) {
		snprintf(party, sizeof(party), "p-%s", who_name[w]);
		put_party(party);
		pk_of((enum who)w, pk);
		put_key(pk, party, role_of((enum who)w));
	}
	put_party("other");
	memset(pk, 0x11, 32);
	put_key(pk, "other", CUSTODY__ROLE__EXPORTER);
	put_facility("fac-opr", "p-exporter", "p-operator");
	put_facility("fac-other", "other", "other");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	registry_free(reg);
	return 0;
}

/* Resolves principal w; asserts it resolves unless it is W_NONE. */
static void resolve(enum who w, struct auth_id *id)
{
	struct principal p = {PRINCIPAL_KEY, {0}};
	struct auth_verdict v;
	int rc;

	p.kind = w == W_NONE ? PRINCIPAL_NONE : w == W_LOCAL ? PRINCIPAL_LOCAL : PRINCIPAL_KEY;
	pk_of(w, p.pubkey);
	rc = auth_resolve(&p, reg, w == W_BOOT, NOW_MS, id, &v);
	if (w == W_NONE) {
		assert_int_equal(rc, CU_ERR_PERM);
		assert_int_equal(v.code, CUSTODY__ERROR_CODE__UNAUTHENTICATED);
		id->kind = PRINCIPAL_NONE;
		return;
	}
	assert_int_equal(rc, CU_OK);
}

/* Storage for one request of any type. */
struct any_req {
	Custody__Request msg;
	Custody__SignedEnvelope env;
	Custody__WhereRequest where;
	Custody__HistoryRequest history;
	Custody__InventoryRequest inventory;
	Custody__ContentsRequest contents;
	Custody__KeyInfoRequest key_info;
	Custody__AlertsRequest alerts;
	Custody__WatchRequest watch;
	Custody__VeuReportRequest veu;
	Custody__ShipmentRequest shipment;
	Custody__PolicyInfoRequest policy_info;
	Custody__LogKeyRequest log_key;
	Custody__CheckpointRequest checkpoint;
	Custody__InclusionRequest inclusion;
	Custody__ConsistencyRequest consistency;
	Custody__EntriesRequest entries;
	Custody__TileRequest tile;
	Custody__CosignRequest cosign;
	Custody__EventsRequest events;
	uint8_t pk[32], event_id[32];
};

static void init_all(struct any_req *r)
{
	custody__request__init(&r->msg);
	custody__signed_envelope__init(&r->env);
	custody__where_request__init(&r->where);
	custody__history_request__init(&r->history);
	custody__inventory_request__init(&r->inventory);
	custody__contents_request__init(&r->contents);
	custody__key_info_request__init(&r->key_info);
	custody__alerts_request__init(&r->alerts);
	custody__watch_request__init(&r->watch);
	custody__veu_report_request__init(&r->veu);
	custody__shipment_request__init(&r->shipment);
	custody__policy_info_request__init(&r->policy_info);
	custody__log_key_request__init(&r->log_key);
	custody__checkpoint_request__init(&r->checkpoint);
	custody__inclusion_request__init(&r->inclusion);
	custody__consistency_request__init(&r->consistency);
	custody__entries_request__init(&r->entries);
	custody__tile_request__init(&r->tile);
	custody__cosign_request__init(&r->cosign);
	custody__events_request__init(&r->events);
}

/*
 * A request of type body that stays inside the scope of principal w
 * (signed by its own key, its own party's report, inclusion by event id).
 */
static void make(struct any_req *r, Custody__Request__BodyCase body, enum who w,
		 const struct auth_id *id)
{
	void *sub[] = {
	    [CUSTODY__REQUEST__BODY_ADMIN] = &r->env,
	    [CUSTODY__REQUEST__BODY_SUBMIT] = &r->env,
	    [CUSTODY__REQUEST__BODY_WHERE] = &r->where,
	    [CUSTODY__REQUEST__BODY_HISTORY] = &r->history,
	    [CUSTODY__REQUEST__BODY_INVENTORY] = &r->inventory,
	    [CUSTODY__REQUEST__BODY_CONTENTS] = &r->contents,
	    [CUSTODY__REQUEST__BODY_KEY_INFO] = &r->key_info,
	    [CUSTODY__REQUEST__BODY_ALERTS] = &r->alerts,
	    [CUSTODY__REQUEST__BODY_WATCH] = &r->watch,
	    [CUSTODY__REQUEST__BODY_VEU_REPORT] = &r->veu,
	    [CUSTODY__REQUEST__BODY_SHIPMENT] = &r->shipment,
	    [CUSTODY__REQUEST__BODY_POLICY_INFO] = &r->policy_info,
	    [CUSTODY__REQUEST__BODY_LOG_KEY] = &r->log_key,
	    [CUSTODY__REQUEST__BODY_CHECKPOINT] = &r->checkpoint,
	    [CUSTODY__REQUEST__BODY_INCLUSION] = &r->inclusion,
	    [CUSTODY__REQUEST__BODY_CONSISTENCY] = &r->consistency,
	    [CUSTODY__REQUEST__BODY_ENTRIES] = &r->entries,
	    [CUSTODY__REQUEST__BODY_TILE] = &r->tile,
	    [CUSTODY__REQUEST__BODY_COSIGN] = &r->cosign,
	    [CUSTODY__REQUEST__BODY_EVENTS] = &r->events,
	};

	init_all(r);
	pk_of(w, r->pk);
	memset(r->event_id, 7, sizeof(r->event_id));
	r->env.signer.data = r->pk;
	r->env.signer.len = 32;
	r->inclusion.event_id.data = r->event_id;
	r->inclusion.event_id.len = 32;
	r->cosign.witness_key.data = r->pk;
	r->cosign.witness_key.len = 32;
	r->veu.exporter = (char *)id->party;
	r->msg.id = 1;
	r->msg.body_case = body;
	/* Every oneof member is a pointer at the same place: set it through admin. */
	r->msg.admin = sub[body];
}

/* Every Request body field of the .proto has a row here and in auth.c. */
static void test_table_covers_every_request(void **state)
{
	const ProtobufCMessageDescriptor *d = &custody__request__descriptor;
	size_t bodies = 0;

	(void)state;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		bool found = false;

		if (f->id == 1)
			continue; /* id */
		bodies++;
		for (size_t j = 0; j < sizeof(expected) / sizeof(expected[0]); j++)
			found |= expected[j].body == (Custody__Request__BodyCase)f->id;
		assert_true(found);
		assert_non_null(auth_request_name((Custody__Request__BodyCase)f->id));
	}
	assert_int_equal(bodies, sizeof(expected) / sizeof(expected[0]));
	assert_null(auth_request_name(CUSTODY__REQUEST__BODY__NOT_SET));
}

/* The table says what the expected rows say, cell by cell. */
static void test_table_matches(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		for (int role = 1; role <= 7; role++) {
			char c = expected[i].roles[role - 1];
			enum auth_access want = c == 'A'   ? AUTH_ALLOWED
						: c == 'S' ? AUTH_SCOPED
							   : AUTH_DENIED;

			if (auth_access(expected[i].body, (Custody__Role)role) != want)
				fail_msg("%s x role %d: table says %d, expected %c",
					 auth_request_name(expected[i].body), role,
					 auth_access(expected[i].body, (Custody__Role)role), c);
		}
		assert_int_equal(auth_access(expected[i].body, 0), AUTH_DENIED);
		assert_int_equal(auth_access(expected[i].body, 8), AUTH_DENIED);
	}
}

/* What auth_decide answers for principal w sending an in-scope body. */
static void check_decision(Custody__Request__BodyCase body, char cell, enum who w)
{
	struct any_req r;
	struct auth_id id;
	struct auth_verdict v;
	int rc;

	resolve(w, &id);
	make(&r, body, w, &id);
	rc = auth_decide(&id, reg, &r.msg, &v);
	if (w == W_NONE) {
		assert_int_equal(rc, CU_ERR_PERM);
		assert_int_equal(v.code, CUSTODY__ERROR_CODE__UNAUTHENTICATED);
	} else if (w == W_LOCAL || cell != '-') {
		if (rc != CU_OK)
			fail_msg("%s by %s: refused (%s)", auth_request_name(body), who_name[w],
				 v.why);
	} else {
		if (rc != CU_ERR_PERM || v.code != CUSTODY__ERROR_CODE__FORBIDDEN)
			fail_msg("%s by %s: not FORBIDDEN", auth_request_name(body), who_name[w]);
		/* The message names the role and the request type. */
		assert_non_null(strstr(v.why, auth_role_name(&id)));
		assert_non_null(strstr(v.why, auth_request_name(body)));
	}
}

/* Every request type x every principal. */
static void test_decide_every_request_every_role(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		for (int w = 0; w < W_N; w++) {
			/* The bootstrap admin key acts as role ADMIN. */
			int col = w == W_BOOT ? 0 : w >= W_ADMIN ? w - W_ADMIN : 0;
			char cell = w >= W_BOOT ? expected[i].roles[col] : 'A';

			check_decision(expected[i].body, cell, (enum who)w);
		}
	}
}

static void expect_forbidden(enum who w, struct any_req *r)
{
	struct auth_id id;
	struct auth_verdict v;

	resolve(w, &id);
	assert_int_equal(auth_decide(&id, reg, &r->msg, &v), CU_ERR_PERM);
	assert_int_equal(v.code, CUSTODY__ERROR_CODE__FORBIDDEN);
	assert_true(strlen(v.why) > 10);
}

static void expect_allowed(enum who w, struct any_req *r)
{
	struct auth_id id;
	struct auth_verdict v;

	resolve(w, &id);
	if (auth_decide(&id, reg, &r->msg, &v) != CU_OK)
		fail_msg("%s: refused (%s)", who_name[w], v.why);
}

/* Envelopes the table allows a role but signed by keys outside its scope. */
static void test_decide_out_of_scope(void **state)
{
	struct any_req r;
	struct auth_id id;

	(void)state;
	resolve(W_EXP, &id);
	/* Envelopes signed by another party's key. */
	for (int w = W_ADMIN; w < W_N; w++) {
		make(&r, CUSTODY__REQUEST__BODY_ADMIN, (enum who)w, &id);
		memset(r.pk, 0x11, 32); /* other's exporter key */
		expect_forbidden((enum who)w, &r);
	}
	make(&r, CUSTODY__REQUEST__BODY_SUBMIT, W_OPR, &id);
	memset(r.pk, 0x11, 32);
	expect_forbidden(W_OPR, &r);
	expect_allowed(W_LOCAL, &r);
	/* The bootstrap admin relays no one's admin actions but its own. */
	make(&r, CUSTODY__REQUEST__BODY_ADMIN, W_BOOT, &id);
	pk_of(W_ADMIN, r.pk);
	expect_forbidden(W_BOOT, &r);
	/* An unregistered signer may be a device: the sequencer decides. */
	make(&r, CUSTODY__REQUEST__BODY_SUBMIT, W_OPR, &id);
	memset(r.pk, 0x77, 32);
	expect_allowed(W_OPR, &r);
	/* A key of the same party signs for its party. */
	put_key((uint8_t[32]){0x22}, "p-operator", CUSTODY__ROLE__OPERATOR);
	make(&r, CUSTODY__REQUEST__BODY_SUBMIT, W_OPR, &id);
	memcpy(r.pk, (uint8_t[32]){0x22}, 32);
	expect_allowed(W_OPR, &r);
}

/* Inclusion, cosignatures, reports and filters outside the scope. */
static void test_decide_out_of_scope_content(void **state)
{
	struct any_req r;
	struct auth_id id;

	(void)state;
	resolve(W_EXP, &id);
	/* Inclusion by index gives away arbitrary entries. */
	for (int w = W_EXP; w <= W_DEV; w++) {
		make(&r, CUSTODY__REQUEST__BODY_INCLUSION, (enum who)w, &id);
		r.inclusion.event_id.len = 0;
		expect_forbidden((enum who)w, &r);
		r.inclusion.facility = "fac-other";
		expect_allowed((enum who)w, &r);
	}
	make(&r, CUSTODY__REQUEST__BODY_INCLUSION, W_REG, &id);
	r.inclusion.event_id.len = 0;
	expect_allowed(W_REG, &r);
	expect_allowed(W_WIT, &r);
	expect_allowed(W_ADMIN, &r);
	/* A witness hands in only its own cosignatures. */
	make(&r, CUSTODY__REQUEST__BODY_COSIGN, W_WIT, &id);
	memset(r.pk, 0x11, 32);
	expect_forbidden(W_WIT, &r);
	/* Someone else's VEU report. */
	make(&r, CUSTODY__REQUEST__BODY_VEU_REPORT, W_EXP, &id);
	r.veu.exporter = "other";
	expect_forbidden(W_EXP, &r);
	expect_allowed(W_REG, &r);
	/* Filters outside the scope. */
	make(&r, CUSTODY__REQUEST__BODY_ALERTS, W_EXP, &id);
	r.alerts.exporter = "other";
	expect_forbidden(W_EXP, &r);
	expect_allowed(W_REG, &r);
	make(&r, CUSTODY__REQUEST__BODY_WATCH, W_EXP, &id);
	r.watch.exporter = "other";
	expect_forbidden(W_EXP, &r);
	make(&r, CUSTODY__REQUEST__BODY_WATCH, W_OPR, &id);
	r.watch.facility = "fac-other";
	expect_forbidden(W_OPR, &r);
	r.watch.facility = "fac-opr";
	expect_allowed(W_OPR, &r);
	make(&r, CUSTODY__REQUEST__BODY_INVENTORY, W_OPR, &id);
	r.inventory.facility = "fac-other";
	expect_forbidden(W_OPR, &r);
	r.inventory.facility = "fac-opr";
	expect_allowed(W_OPR, &r);
	r.inventory.facility = "fac-other";
	expect_allowed(W_EXP, &r); /* held to its own devices (owner filter) */
	make(&r, CUSTODY__REQUEST__BODY_EVENTS, W_OPR, &id);
	r.events.facility = "fac-other";
	expect_forbidden(W_OPR, &r);
	r.events.facility = "fac-opr";
	expect_allowed(W_OPR, &r);
	r.events.facility = "";
	expect_allowed(W_OPR, &r); /* held to its facilities (operator filter) */
	r.events.facility = "fac-other";
	expect_allowed(W_EXP, &r); /* held to its own devices (owner filter) */
	expect_allowed(W_REG, &r);
}

/* Unknown, revoked, expired and not yet valid keys; no registry yet. */
static void test_resolve(void **state)
{
	struct principal p = {PRINCIPAL_KEY, {0}};
	struct auth_id id;
	struct auth_verdict v;
	struct key_rec k = {0};

	(void)state;
	memset(p.pubkey, 0x55, 32);
	assert_int_equal(auth_resolve(&p, reg, false, NOW_MS, &id, &v), CU_ERR_PERM);
	assert_int_equal(v.code, CUSTODY__ERROR_CODE__UNAUTHENTICATED);
	assert_int_equal(auth_resolve(&p, NULL, false, NOW_MS, &id, &v), CU_ERR_PERM);
	assert_int_equal(v.code, CUSTODY__ERROR_CODE__UNAVAILABLE);
	assert_int_equal(auth_resolve(&p, NULL, true, NOW_MS, &id, &v), CU_OK);
	assert_true(id.bootstrap_admin);
	assert_int_equal(id.role, CUSTODY__ROLE__ADMIN);
	assert_string_equal(id.party, "");
	memcpy(k.pubkey, p.pubkey, 32);
	snprintf(k.party, sizeof(k.party), "p-exporter");
	k.role = CUSTODY__ROLE__EXPORTER;
	k.valid_from_ms = NOW_MS - 1000;
	k.revoked_at_ms = NOW_MS - 10;
	assert_int_equal(registry_put_key(reg, &k), CU_OK);
	assert_int_equal(auth_resolve(&p, reg, false, NOW_MS, &id, &v), CU_ERR_PERM);
	assert_non_null(strstr(v.why, "revoked"));
	k.revoked_at_ms = 0;
	k.valid_until_ms = NOW_MS - 10;
	assert_int_equal(registry_put_key(reg, &k), CU_OK);
	assert_int_equal(auth_resolve(&p, reg, false, NOW_MS, &id, &v), CU_ERR_PERM);
	assert_non_null(strstr(v.why, "expired"));
	k.valid_until_ms = 0;
	k.valid_from_ms = NOW_MS + 1000;
	assert_int_equal(registry_put_key(reg, &k), CU_OK);
	assert_int_equal(auth_resolve(&p, reg, false, NOW_MS, &id, &v), CU_ERR_PERM);
	assert_non_null(strstr(v.why, "not yet valid"));
	k.valid_from_ms = NOW_MS - 1000;
	assert_int_equal(registry_put_key(reg, &k), CU_OK);
	assert_int_equal(auth_resolve(&p, reg, false, NOW_MS, &id, &v), CU_OK);
	assert_string_equal(id.party, "p-exporter");
	assert_int_equal(id.role, CUSTODY__ROLE__EXPORTER);
}

/* Device reads: who may see which device. */
static void test_read_device(void **state)
{
	uint8_t devpk[32];
	struct auth_device mine = {"p-exporter", "p-exporter", CUSTODY__DEVICE_STATUS__STORED,
				   "fac-other",	 "",	       NULL};
	struct auth_device theirs = {"other",	"other", CUSTODY__DEVICE_STATUS__STORED,
				     "fac-opr", "",	 NULL};
	struct auth_device moving = {"other",	  "p-carrier", CUSTODY__DEVICE_STATUS__IN_TRANSIT,
				     "fac-other", "fac-opr",   NULL};
	struct auth_device away = {"other",	"other", CUSTODY__DEVICE_STATUS__STORED,
				   "fac-other", "",	 devpk};
	struct auth_id id[W_N];

	(void)state;
	pk_of(W_DEV, devpk);
	for (int w = W_LOCAL; w < W_N; w++)
		resolve((enum who)w, &id[w]);
	assert_true(auth_may_read_device(&id[W_EXP], reg, &mine));
	assert_false(auth_may_read_device(&id[W_EXP], reg, &theirs));
	assert_true(auth_may_read_device(&id[W_OPR], reg, &theirs)); /* at its facility */
	assert_true(auth_may_read_device(&id[W_OPR], reg, &moving)); /* heading there */
	assert_false(auth_may_read_device(&id[W_OPR], reg, &mine));  /* elsewhere */
	assert_true(auth_may_read_device(&id[W_CAR], reg, &moving)); /* it carries it */
	assert_false(auth_may_read_device(&id[W_CAR], reg, &theirs));
	assert_true(auth_may_read_device(&id[W_DEV], reg, &away)); /* itself */
	assert_false(auth_may_read_device(&id[W_DEV], reg, &mine));
	for (int w = W_LOCAL; w < W_N; w++) {
		bool all = w == W_LOCAL || w == W_REG;

		assert_int_equal(auth_reads_all(&id[w]), all);
		if (all)
			assert_true(auth_may_read_device(&id[w], reg, &theirs));
	}
	assert_false(auth_may_read_device(&id[W_ADMIN], reg, &mine));
	assert_false(auth_may_read_device(&id[W_BOOT], reg, &mine));
	assert_false(auth_may_read_device(&id[W_WIT], reg, &moving));
}

/* List filters, alerts, shipments, relays. */
static void test_filters_alerts_shipments(void **state)
{
	struct auth_id id[W_N];
	struct auth_filters f;

	(void)state;
	for (int w = W_LOCAL; w < W_N; w++)
		resolve((enum who)w, &id[w]);
	auth_list_filters(&id[W_EXP], &f);
	assert_string_equal(f.owner, "p-exporter");
	assert_string_equal(f.operator_, "");
	auth_list_filters(&id[W_OPR], &f);
	assert_string_equal(f.owner, "");
	assert_string_equal(f.operator_, "p-operator");
	auth_list_filters(&id[W_REG], &f);
	assert_string_equal(f.owner, "");
	assert_string_equal(f.operator_, "");
	auth_list_filters(&id[W_LOCAL], &f);
	assert_string_equal(f.owner, "");

	assert_true(auth_may_read_alert(&id[W_EXP], reg, "p-exporter", "fac-other"));
	assert_false(auth_may_read_alert(&id[W_EXP], reg, "other", "fac-opr"));
	assert_true(auth_may_read_alert(&id[W_OPR], reg, "other", "fac-opr"));
	assert_false(auth_may_read_alert(&id[W_OPR], reg, "p-operator", "fac-other"));
	assert_true(auth_may_read_alert(&id[W_REG], reg, "other", "fac-other"));
	assert_false(auth_may_read_alert(&id[W_CAR], reg, "other", "fac-other"));

	assert_true(auth_may_read_shipment(&id[W_EXP], reg, "p-exporter", "a", "b", ""));
	assert_false(auth_may_read_shipment(&id[W_EXP], reg, "other", "fac-opr", "b", ""));
	assert_true(auth_may_read_shipment(&id[W_OPR], reg, "other", "fac-other", "fac-opr", ""));
	assert_true(auth_may_read_shipment(&id[W_OPR], reg, "other", "fac-opr", "x", ""));
	assert_false(auth_may_read_shipment(&id[W_OPR], reg, "other", "fac-other", "x", ""));
	assert_true(auth_may_read_shipment(&id[W_CAR], reg, "other", "x", "y", "p-carrier"));
	assert_false(auth_may_read_shipment(&id[W_CAR], reg, "other", "x", "y", "other"));
	assert_false(auth_may_read_shipment(&id[W_WIT], reg, "p-witness", "x", "y", ""));

	assert_true(auth_may_relay(&id[W_EXP], reg, "p-exporter", "fac-other"));
	assert_true(auth_may_relay(&id[W_OPR], reg, "other", "fac-opr"));
	assert_false(auth_may_relay(&id[W_OPR], reg, "other", "fac-other"));
	assert_false(auth_may_relay(&id[W_CAR], reg, "other", "fac-opr"));
	assert_true(auth_may_relay(&id[W_LOCAL], reg, "other", "fac-other"));
	assert_true(auth_operates(reg, "p-operator", "fac-opr"));
	assert_false(auth_operates(reg, "p-operator", "nowhere"));
	assert_false(auth_operates(reg, "", "fac-opr"));
}

/* ---- signer scope ---------------------------------------------------------- */

static void add_dev(struct state_ws *ws, const char *serial, const char *owner,
		    const char *facility, Custody__DeviceStatus status, const char *custodian,
		    const uint8_t *device_key)
{
	struct dev d;

	memset(&d, 0, sizeof(d));
	snprintf(d.serial, sizeof(d.serial), "%s", serial);
	d.kind = CUSTODY__DEVICE_KIND__CHIP;
	snprintf(d.owner, sizeof(d.owner), "%s", owner);
	snprintf(d.custodian, sizeof(d.custodian), "%s", custodian);
	snprintf(d.facility, sizeof(d.facility), "%s", facility);
	d.status = status;
	if (device_key != NULL) {
		memcpy(d.device_key, device_key, 32);
		d.has_device_key = true;
	}
	assert_int_equal(state_ws_add(ws, &d), CU_OK);
}

/* May the key of principal w sign an event of type on serial at facility? */
static int sign(enum who w, Custody__EventType type, const char *serial, const char *facility,
		const char *carrier, const struct state_ws *ws)
{
	uint8_t pk[32];
	const struct key_rec *key;
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__DeviceRef ref = CUSTODY__DEVICE_REF__INIT;
	Custody__DeviceRef *refs[1] = {&ref};
	struct auth_verdict v;
	int rc;

	pk_of(w, pk);
	key = registry_key(reg, pk);
	assert_non_null(key);
	ev.type = type;
	ev.actor = (char *)key->party;
	ev.facility = (char *)facility;
	ev.carrier = (char *)carrier;
	ref.serial = (char *)serial;
	ev.devices = refs;
	ev.n_devices = 1;
	rc = auth_may_sign_event(key, reg, &ev, ws, &v);
	if (rc != CU_OK) {
		assert_int_equal(v.code, CUSTODY__ERROR_CODE__FORBIDDEN);
		assert_true(strlen(v.why) > 10);
	}
	return rc;
}

static void test_signer_scope(void **state)
{
	struct state_ws *ws = state_ws_new();
	uint8_t devpk[32];
	const int ok = CU_OK, no = CU_ERR_PERM;

	(void)state;
	assert_non_null(ws);
	pk_of(W_DEV, devpk);
	add_dev(ws, "MINE", "p-exporter", "fac-opr", CUSTODY__DEVICE_STATUS__STORED, "p-exporter",
		devpk);
	add_dev(ws, "THEIRS", "other", "fac-other", CUSTODY__DEVICE_STATUS__STORED, "other", NULL);
	add_dev(ws, "CARRIED", "other", "fac-other", CUSTODY__DEVICE_STATUS__IN_TRANSIT,
		"p-carrier", NULL);
	state_ws_link(ws);

	/* Exporter: registers anything, acts only on what its party owns. */
	assert_int_equal(sign(W_EXP, CUSTODY__EVENT_TYPE__REGISTER, "NEW", "fac-other", "", ws),
			 ok);
	assert_int_equal(sign(W_EXP, CUSTODY__EVENT_TYPE__SHIP, "MINE", "fac-opr", "", ws), ok);
	assert_int_equal(sign(W_EXP, CUSTODY__EVENT_TYPE__SHIP, "THEIRS", "fac-other", "", ws), no);
	assert_int_equal(sign(W_EXP, CUSTODY__EVENT_TYPE__RECEIVE, "THEIRS", "fac-opr", "", ws),
			 no);
	/* Operator: only at facilities it operates (or where the devices are). */
	assert_int_equal(sign(W_OPR, CUSTODY__EVENT_TYPE__RECEIVE, "THEIRS", "fac-opr", "", ws),
			 ok);
	assert_int_equal(sign(W_OPR, CUSTODY__EVENT_TYPE__INSTALL, "MINE", "fac-other", "", ws),
			 no);
	assert_int_equal(sign(W_OPR, CUSTODY__EVENT_TYPE__ATTEST, "MINE", "", "", ws), ok);
	assert_int_equal(sign(W_OPR, CUSTODY__EVENT_TYPE__REPORT, "THEIRS", "", "", ws), no);
	/* Carrier: SHIP naming it, RECEIVE of what it carries. */
	assert_int_equal(
	    sign(W_CAR, CUSTODY__EVENT_TYPE__SHIP, "THEIRS", "fac-other", "p-carrier", ws), ok);
	assert_int_equal(sign(W_CAR, CUSTODY__EVENT_TYPE__SHIP, "THEIRS", "fac-other", "other", ws),
			 no);
	assert_int_equal(sign(W_CAR, CUSTODY__EVENT_TYPE__RECEIVE, "CARRIED", "fac-opr", "", ws),
			 ok);
	assert_int_equal(sign(W_CAR, CUSTODY__EVENT_TYPE__RECEIVE, "THEIRS", "fac-opr", "", ws),
			 no);
	assert_int_equal(sign(W_CAR, CUSTODY__EVENT_TYPE__INSTALL, "CARRIED", "fac-opr", "", ws),
			 no);
	/* Device: ATTEST of itself only. */
	assert_int_equal(sign(W_DEV, CUSTODY__EVENT_TYPE__ATTEST, "MINE", "", "", ws), ok);
	assert_int_equal(sign(W_DEV, CUSTODY__EVENT_TYPE__ATTEST, "THEIRS", "", "", ws), no);
	assert_int_equal(sign(W_DEV, CUSTODY__EVENT_TYPE__MOVE, "MINE", "fac-opr", "", ws), no);
	/* Regulator, witness, admin: no events at all. */
	for (int w = W_ADMIN; w < W_N; w++) {
		if (w == W_REG || w == W_WIT || w == W_ADMIN)
			assert_int_equal(sign((enum who)w, CUSTODY__EVENT_TYPE__REGISTER, "NEW2",
					      "fac-opr", "", ws),
					 no);
	}
	state_ws_free(ws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table_covers_every_request),
	    cmocka_unit_test(test_table_matches),
	    cmocka_unit_test_setup_teardown(test_decide_every_request_every_role, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_decide_out_of_scope, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_decide_out_of_scope_content, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_device, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_filters_alerts_shipments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_signer_scope, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
