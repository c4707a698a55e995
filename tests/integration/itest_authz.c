/*
 * itest_authz.c - every request type x every role over key connections
 * (the Noise transport, connect_as), against the registry and devices
 * 88-authz.sh set up: each role is denied what it must not do (FORBIDDEN)
 * and not denied what it may (any other answer: the request itself may
 * still be NOT_FOUND or BAD_REQUEST, which is not what is tested here).
 *
 * Environment: ITEST_KEYS (directory of the role keys), CUSTODY_ADMIN_KEY
 * (the bootstrap admin), ITEST_SHIP_EVENT (hex id of acme's SHIP of GPU-1
 * carried by fast to acme-us2). GPU-3 (acme's, at acme-us) has the device
 * key gpu-dev.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec.h"
#include "envelope.h"
#include "itest_lib.h"
#include "key.h"

/* The principals, in the columns of the table below. */
enum who { W_EXP, W_OPR, W_DEV, W_CAR, W_REG, W_WIT, W_ADM, W_BOOT, W_N };

static const char *const key_file[W_N] = {"acme-exp", "acme-opr", "gpu2-dev",  "fast-car",
					  "bis-reg",  "w1-wit",	  "ops-admin", NULL};
static const char *const party[W_N] = {"acme", "acme", "ops", "fast", "bis", "w1", "ops", ""};
static struct cu_key *keys[W_N];
static struct cu_key *beta_key;		  /* another party's exporter key, for relays */
static struct cu_key *beta_opr, *dev_key; /* beta's operator; GPU-3's own device key */
static uint8_t ship_id[32];
static int serial_n;

/* Storage a request builder fills; the request borrows from it. */
struct built {
	Custody__Request req;
	union {
		Custody__WhereRequest where;
		Custody__HistoryRequest history;
		Custody__InventoryRequest inventory;
		Custody__ContentsRequest contents;
		Custody__KeyInfoRequest key_info;
		Custody__AlertsRequest alerts;
		Custody__WatchRequest watch;
		Custody__VeuReportRequest veu_report;
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
	} u;
	Custody__SignedEnvelope env;
	char serial[32];
};

typedef void (*build_fn)(struct built *b, enum who w);

#define SET(b, field, type, init)                                                                  \
	do {                                                                                       \
		custody__##type##__init(&(b)->u.field);                                            \
		(b)->req.body_case = init;                                                         \
		(b)->req.field = &(b)->u.field;                                                    \
	} while (0)

static void b_where(struct built *b, enum who w)
{
	(void)w;
	SET(b, where, where_request, CUSTODY__REQUEST__BODY_WHERE);
	b->u.where.serial = "BETA-1";
}

static void b_history(struct built *b, enum who w)
{
	(void)w;
	SET(b, history, history_request, CUSTODY__REQUEST__BODY_HISTORY);
	b->u.history.serial = "BETA-1";
}

static void b_contents(struct built *b, enum who w)
{
	(void)w;
	SET(b, contents, contents_request, CUSTODY__REQUEST__BODY_CONTENTS);
	b->u.contents.serial = "BETA-1";
}

static void b_inventory(struct built *b, enum who w)
{
	(void)w;
	SET(b, inventory, inventory_request, CUSTODY__REQUEST__BODY_INVENTORY);
	b->u.inventory.facility = "beta-us";
}

static void b_key_info(struct built *b, enum who w)
{
	SET(b, key_info, key_info_request, CUSTODY__REQUEST__BODY_KEY_INFO);
	b->u.key_info.pubkey.data = keys[w]->pk;
	b->u.key_info.pubkey.len = 32;
}

static void b_alerts(struct built *b, enum who w)
{
	(void)w;
	SET(b, alerts, alerts_request, CUSTODY__REQUEST__BODY_ALERTS);
	b->u.alerts.exporter = "beta";
}

static void b_watch(struct built *b, enum who w)
{
	(void)w;
	SET(b, watch, watch_request, CUSTODY__REQUEST__BODY_WATCH);
	b->u.watch.exporter = "beta";
}

static void b_veu(struct built *b, enum who w)
{
	(void)w;
	SET(b, veu_report, veu_report_request, CUSTODY__REQUEST__BODY_VEU_REPORT);
	b->u.veu_report.exporter = "beta";
	b->u.veu_report.to_ms = codec_now_ms();
}

static void b_shipment(struct built *b, enum who w)
{
	(void)w;
	SET(b, shipment, shipment_request, CUSTODY__REQUEST__BODY_SHIPMENT);
	b->u.shipment.event_id.data = ship_id;
	b->u.shipment.event_id.len = 32;
}

static void b_policy_info(struct built *b, enum who w)
{
	(void)w;
	SET(b, policy_info, policy_info_request, CUSTODY__REQUEST__BODY_POLICY_INFO);
}

static void b_log_key(struct built *b, enum who w)
{
	(void)w;
	SET(b, log_key, log_key_request, CUSTODY__REQUEST__BODY_LOG_KEY);
}

static void b_checkpoint(struct built *b, enum who w)
{
	(void)w;
	SET(b, checkpoint, checkpoint_request, CUSTODY__REQUEST__BODY_CHECKPOINT);
}

static void b_inclusion_index(struct built *b, enum who w)
{
	(void)w;
	SET(b, inclusion, inclusion_request, CUSTODY__REQUEST__BODY_INCLUSION);
}

static void b_inclusion_facility(struct built *b, enum who w)
{
	(void)w;
	SET(b, inclusion, inclusion_request, CUSTODY__REQUEST__BODY_INCLUSION);
	b->u.inclusion.facility = "beta-us";
}

static void b_consistency(struct built *b, enum who w)
{
	(void)w;
	SET(b, consistency, consistency_request, CUSTODY__REQUEST__BODY_CONSISTENCY);
	b->u.consistency.size1 = 1;
}

static void b_entries(struct built *b, enum who w)
{
	(void)w;
	SET(b, entries, entries_request, CUSTODY__REQUEST__BODY_ENTRIES);
	b->u.entries.count = 1;
}

static void b_tile(struct built *b, enum who w)
{
	(void)w;
	SET(b, tile, tile_request, CUSTODY__REQUEST__BODY_TILE);
	b->u.tile.width = 1;
}

static void b_cosign(struct built *b, enum who w)
{
	SET(b, cosign, cosign_request, CUSTODY__REQUEST__BODY_COSIGN);
	b->u.cosign.tree_size = 1;
	b->u.cosign.witness_key.data = keys[w]->pk;
	b->u.cosign.witness_key.len = 32;
	b->u.cosign.signature = "\xe2\x80\x94 w1 AAAA\n";
}

static void b_events(struct built *b, enum who w)
{
	(void)w;
	SET(b, events, events_request, CUSTODY__REQUEST__BODY_EVENTS);
	b->u.events.facility = "beta-us";
}

/* A REGISTER at acme-us (which acme operates) signed by key for actor. */
static void seal_register(struct built *b, const struct cu_key *key, const char *actor)
{
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__DeviceRef ref = CUSTODY__DEVICE_REF__INIT;
	Custody__DeviceRef *refs[1] = {&ref};

	snprintf(b->serial, sizeof(b->serial), "AUTHZ-%d-%d", (int)getpid(), ++serial_n);
	ev.type = CUSTODY__EVENT_TYPE__REGISTER;
	ev.actor = (char *)actor;
	ev.occurred_at_ms = codec_now_ms() - 1000;
	ev.facility = "acme-us";
	ref.serial = b->serial;
	ref.kind = CUSTODY__DEVICE_KIND__SERVER;
	ref.model = "DGX-H100";
	ev.devices = refs;
	ev.n_devices = 1;
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, key, &ev.base, &b->env), CU_OK);
	b->req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	b->req.submit = &b->env;
}

static void b_submit(struct built *b, enum who w)
{
	seal_register(b, keys[w], party[w]);
}

/* An event of another party, handed in over this connection. */
static void b_submit_relayed(struct built *b, enum who w)
{
	(void)w;
	seal_register(b, beta_key, "beta");
}

static void b_admin(struct built *b, enum who w)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__Party p = CUSTODY__PARTY__INIT;
	Custody__Role roles[1] = {CUSTODY__ROLE__EXPORTER};
	char id[32];

	snprintf(id, sizeof(id), "authz-%d-%d", (int)getpid(), ++serial_n);
	p.id = id;
	p.name = id;
	p.country = "US";
	p.hq_country = "US";
	p.parent_country = "US";
	p.roles = roles;
	p.n_roles = 1;
	act.issued_at_ms = codec_now_ms();
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_PARTY;
	act.register_party = &p;
	assert_int_equal(envelope_seal(ENVELOPE_ADMIN, keys[w], &act.base, &b->env), CU_OK);
	b->req.body_case = CUSTODY__REQUEST__BODY_ADMIN;
	b->req.admin = &b->env;
}

/*
 * The matrix: per request, per principal (exporter, operator, device,
 * carrier, regulator, witness, admin, bootstrap admin), 'F' = must be
 * FORBIDDEN, '.' = must not be. Requests name things outside acme's scope
 * (beta's device BETA-1 at beta-us, beta's alerts and report).
 */
static const struct {
	const char *name;
	build_fn build;
	const char *expect;
} matrix[] = {
    {"admin: register a party", b_admin, "FFFFFF.."},
    {"submit: REGISTER at acme-us", b_submit, "..FFFFFF"},
    {"submit: relayed from beta", b_submit_relayed, "FFFFFFFF"},
    {"where BETA-1", b_where, "FFFF.FFF"},
    {"history BETA-1", b_history, "FFFF.FFF"},
    {"contents BETA-1", b_contents, "FFFF.FFF"},
    {"inventory beta-us", b_inventory, ".FFF.FFF"},
    {"key_info self", b_key_info, "........"},
    {"alerts of beta", b_alerts, "F.FF.FFF"},
    {"watch beta", b_watch, "F.FF.FFF"},
    {"veu_report beta", b_veu, "FFFF.FFF"},
    {"shipment of GPU-1", b_shipment, "..F..FFF"},
    {"policy_info", b_policy_info, "........"},
    {"log_key", b_log_key, "........"},
    {"checkpoint", b_checkpoint, "........"},
    {"inclusion by index", b_inclusion_index, "FFFF...."},
    {"inclusion by facility", b_inclusion_facility, "........"},
    {"consistency", b_consistency, "........"},
    {"entries", b_entries, "FFFF.F.."},
    {"tile", b_tile, "........"},
    {"cosign own key", b_cosign, "FFFFF.FF"},
    {"events at beta-us", b_events, ".FFF.FFF"},
};

static void test_every_request_every_role(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		for (int w = 0; w < W_N; w++) {
			struct built b;
			Custody__Response *resp;
			int fd = connect_as(keys[w]);
			bool forbidden;

			memset(&b, 0, sizeof(b));
			custody__request__init(&b.req);
			matrix[i].build(&b, (enum who)w);
			resp = call(fd, &b.req);
			forbidden = resp->body_case == CUSTODY__RESPONSE__BODY_ERROR &&
				    resp->error->code == CUSTODY__ERROR_CODE__FORBIDDEN;
			if (forbidden != (matrix[i].expect[w] == 'F'))
				fail_msg("%s as %s: %s (%s)", matrix[i].name,
					 key_file[w] != NULL ? key_file[w] : "bootstrap admin",
					 forbidden ? "FORBIDDEN" : "not FORBIDDEN",
					 resp->body_case == CUSTODY__RESPONSE__BODY_ERROR
					     ? resp->error->message
					     : "answered");
			custody__response__free_unpacked(resp, NULL);
			envelope_clear(&b.env);
			close_conn(fd);
		}
	}
}

/* GPU-3's head, asked over the Unix socket. */
static void head_of(const char *serial, uint8_t head[32])
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__WhereRequest w = CUSTODY__WHERE_REQUEST__INIT;
	Custody__Response *resp;

	w.serial = (char *)serial;
	req.body_case = CUSTODY__REQUEST__BODY_WHERE;
	req.where = &w;
	resp = call_once(&req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_WHERE);
	assert_int_equal(resp->where->head.len, 32);
	memcpy(head, resp->where->head.data, 32);
	custody__response__free_unpacked(resp, NULL);
}

/* Hands in GPU-3's own ATTEST (signed by its device key) over a connection as via. */
static Custody__Response *relay_attest(const struct cu_key *via)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__DeviceRef ref = CUSTODY__DEVICE_REF__INIT;
	Custody__DeviceRef *refs[1] = {&ref};
	Custody__SignedEnvelope env;
	Custody__Response *resp;
	uint8_t head[32];
	int fd;

	head_of("GPU-3", head);
	ev.type = CUSTODY__EVENT_TYPE__ATTEST;
	ev.actor = "acme";
	ev.occurred_at_ms = codec_now_ms() - 1000 + ++serial_n;
	ref.serial = "GPU-3";
	ref.prev.data = head;
	ref.prev.len = 32;
	ev.devices = refs;
	ev.n_devices = 1;
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, dev_key, &ev.base, &env), CU_OK);
	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = &env;
	fd = connect_as(via);
	resp = call(fd, &req);
	close_conn(fd);
	envelope_clear(&env);
	return resp;
}

/*
 * A device's own ATTEST may be relayed by its owner or by the operator of
 * the facility it is at, by no one else (the sequencer checks, with the
 * device's row).
 */
static void test_relayed_attest(void **state)
{
	(void)state;
	expect_ok(relay_attest(keys[W_EXP]), CUSTODY__RESPONSE__BODY_SUBMIT);
	expect_ok(relay_attest(keys[W_OPR]), CUSTODY__RESPONSE__BODY_SUBMIT);
	expect_error(relay_attest(beta_opr), CUSTODY__ERROR_CODE__FORBIDDEN, "may relay only");
	expect_error(relay_attest(keys[W_CAR]), CUSTODY__ERROR_CODE__FORBIDDEN, "may relay only");
}

/*
 * where() requests sent back to back on one connection share batches in
 * the daemon (h_device.c): more than a batch holds, mixing devices the
 * requester may read, another party's, and unregistered serials, each
 * answered as on its own. Answers may come in any order; ids pair them.
 */
#define PIPELINED 150

static void pipelined_where(const struct cu_key *key, const char *const *serials, const int *expect,
			    int n_serials)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__WhereRequest w = CUSTODY__WHERE_REQUEST__INIT;
	uint64_t first = 0;
	bool seen[PIPELINED] = {false};
	int fd = connect_as(key);

	req.body_case = CUSTODY__REQUEST__BODY_WHERE;
	req.where = &w;
	for (int i = 0; i < PIPELINED; i++) {
		w.serial = (char *)serials[i % n_serials];
		send_request(fd, &req);
		if (i == 0)
			first = req.id;
	}
	for (int i = 0; i < PIPELINED; i++) {
		Custody__Response *resp = recv_frame(fd, 10000, false);
		uint64_t k = resp->id - first;
		int want;

		assert_true(resp->id >= first && k < PIPELINED && !seen[k]);
		seen[k] = true;
		want = expect[k % (uint64_t)n_serials];
		if (want < 0) {
			expect_body(resp, CUSTODY__RESPONSE__BODY_WHERE);
			assert_string_equal(resp->where->serial, serials[k % (uint64_t)n_serials]);
		} else {
			assert_int_equal(resp->body_case, CUSTODY__RESPONSE__BODY_ERROR);
			if ((int)resp->error->code != want)
				fail_msg("where %s: error %d (%s), not %d",
					 serials[k % (uint64_t)n_serials], resp->error->code,
					 resp->error->message, want);
		}
		custody__response__free_unpacked(resp, NULL);
	}
	close_conn(fd);
}

static void test_where_pipelined(void **state)
{
	static const char *const serials[] = {"GPU-1", "BETA-1", "NOPE-9", "GPU-2", "GPU-1"};
	const int exporter[] = {-1, CUSTODY__ERROR_CODE__FORBIDDEN, CUSTODY__ERROR_CODE__FORBIDDEN,
				-1, -1};
	const int regulator[] = {-1, -1, CUSTODY__ERROR_CODE__NOT_FOUND, -1, -1};

	(void)state;
	pipelined_where(keys[W_EXP], serials, exporter, 5);
	pipelined_where(keys[W_REG], serials, regulator, 5);
}

static struct cu_key *load(const char *dir, const char *name)
{
	char path[512];
	struct cu_key *k = NULL;

	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	assert_int_equal(key_load(path, &k), CU_OK);
	return k;
}

static int setup(void **state)
{
	const char *dir = getenv("ITEST_KEYS");
	const char *ship = getenv("ITEST_SHIP_EVENT");
	const char *boot = getenv("CUSTODY_ADMIN_KEY");

	(void)state;
	assert_non_null(dir);
	assert_non_null(ship);
	assert_non_null(boot);
	assert_int_equal(codec_hex_decode(ship, ship_id, sizeof(ship_id)), CU_OK);
	for (int w = 0; w < W_N; w++)
		keys[w] = key_file[w] != NULL ? load(dir, key_file[w]) : NULL;
	assert_int_equal(key_load(boot, &keys[W_BOOT]), CU_OK);
	beta_key = load(dir, "beta-exp");
	beta_opr = load(dir, "beta-opr");
	dev_key = load(dir, "gpu-dev");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int w = 0; w < W_N; w++)
		key_free(keys[w]);
	key_free(beta_key);
	key_free(beta_opr);
	key_free(dev_key);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_request_every_role),
	    cmocka_unit_test(test_relayed_attest),
	    cmocka_unit_test(test_where_pipelined),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
