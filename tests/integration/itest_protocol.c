/*
 * itest_protocol.c - drives a running custodyd through the raw protocol:
 * malformed, truncated, oversized and garbage frames, unknown request
 * types, missing fields, bad and unregistered signatures, replays, stale
 * heads, pipelining, and events on destroyed or contained devices. After
 * every bad input it checks with libpq that nothing was stored and that
 * the daemon still serves another client.
 *
 * Run by tests/integration/10-protocol.sh with:
 *   CUSTODY_SERVER=unix:PATH  CUSTODY_ADMIN_KEY=secret key file of the
 *   daemon's bootstrap admin  PG* + ITEST_DBNAME for the daemon's database
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "codec.h"
#include "custody.pb-c.h"
#include "envelope.h"
#include "frame.h"
#include "itest_lib.h"
#include "key.h"
#include "merkle.h"
#include "note.h"

static struct cu_key *admin_key, *exporter_key, *stranger_key;
static PGconn *pg;
static int serial_counter;

/* ---- checks --------------------------------------------------------------- */

/* expect_error(), and the message must say more than a word. */
static void expect_refusal(Custody__Response *resp, Custody__ErrorCode code, const char *text)
{
	expect_error_kept(resp, code, text);
	assert_true(strlen(resp->error->message) > 5);
	custody__response__free_unpacked(resp, NULL);
}

static long count_rows(const char *sql)
{
	PGresult *res = PQexec(pg, sql);
	long n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(res));
	n = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

/* Everything that a bad input must leave unchanged. */
/* Applied events, links, devices, admin actions; refused events kept as evidence. */
struct snapshot {
	long events, links, devices, admin, evidence;
};

static struct snapshot snap(void)
{
	struct snapshot s = {
	    count_rows("SELECT count(*) FROM events WHERE verdict <> 'REJECT'"),
	    count_rows("SELECT count(*) FROM event_devices"),
	    count_rows("SELECT count(*) FROM devices"),
	    count_rows("SELECT count(*) FROM admin_actions"),
	    count_rows("SELECT count(*) FROM events WHERE verdict = 'REJECT'"),
	};
	return s;
}

static void assert_unchanged(struct snapshot before)
{
	struct snapshot now = snap();

	assert_int_equal(now.events, before.events);
	assert_int_equal(now.links, before.links);
	assert_int_equal(now.devices, before.devices);
	assert_int_equal(now.admin, before.admin);
	assert_int_equal(now.evidence, before.evidence);
}

/*
 * A policy or state rejection: nothing applied, but the event is kept as
 * evidence under the seq the answer names, with one alert; resubmitting
 * the same bytes gives the same answer.
 */
static void assert_evidence(struct snapshot before, const Custody__Response *resp)
{
	struct snapshot now = snap();
	char sql[128];

	assert_int_equal(now.events, before.events);
	assert_int_equal(now.links, before.links);
	assert_int_equal(now.devices, before.devices);
	assert_int_equal(now.evidence, before.evidence + 1);
	assert_true(resp->error->recorded_seq > 0);
	assert_int_equal(resp->error->event_id.len, 32);
	assert_int_equal(resp->error->n_alert_ids, 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM alerts WHERE id = %llu AND event_seq = %llu",
		 (unsigned long long)resp->error->alert_ids[0],
		 (unsigned long long)resp->error->recorded_seq);
	assert_int_equal(count_rows(sql), 1);
}

/* ---- building requests --------------------------------------------------- */

static Custody__Response *submit_env(int fd, Custody__SignedEnvelope *env)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;

	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = env;
	return call(fd, &req);
}

static Custody__Response *submit(struct cu_key *key, Custody__Event *ev)
{
	Custody__SignedEnvelope env;
	Custody__Response *resp;
	int fd = connect_daemon();

	assert_int_equal(envelope_seal(ENVELOPE_EVENT, key, &ev->base, &env), CU_OK);
	resp = submit_env(fd, &env);
	envelope_clear(&env);
	close(fd);
	return resp;
}

static Custody__Response *admin(struct cu_key *key, Custody__AdminAction *act)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__SignedEnvelope env;
	Custody__Response *resp;

	act->issued_at_ms = codec_now_ms();
	assert_int_equal(envelope_seal(ENVELOPE_ADMIN, key, &act->base, &env), CU_OK);
	req.body_case = CUSTODY__REQUEST__BODY_ADMIN;
	req.admin = &env;
	resp = call_once(&req);
	envelope_clear(&env);
	return resp;
}

/* An event of type on the given devices (prev filled by the caller). */
struct ev {
	Custody__Event e;
	Custody__DeviceRef refs[4];
	Custody__DeviceRef *ptrs[4];
	Custody__DeviceRef container;
	uint8_t prevs[5][32];
	char serials[4][32];
};

static void ev_init(struct ev *ev, Custody__EventType type, const char *facility)
{
	memset(ev, 0, sizeof(*ev));
	custody__event__init(&ev->e);
	ev->e.type = type;
	ev->e.actor = "acme";
	ev->e.occurred_at_ms = codec_now_ms();
	ev->e.facility = (char *)facility;
	ev->e.devices = ev->ptrs;
}

static void ev_add(struct ev *ev, const char *serial, const uint8_t *prev)
{
	size_t i = ev->e.n_devices++;

	custody__device_ref__init(&ev->refs[i]);
	snprintf(ev->serials[i], sizeof(ev->serials[i]), "%s", serial);
	ev->refs[i].serial = ev->serials[i];
	if (prev != NULL) {
		memcpy(ev->prevs[i], prev, 32);
		ev->refs[i].prev.data = ev->prevs[i];
		ev->refs[i].prev.len = 32;
	} else {
		ev->refs[i].kind = CUSTODY__DEVICE_KIND__CHIP;
		ev->refs[i].model = "H100-SXM";
	}
	ev->ptrs[i] = &ev->refs[i];
}

/* The current head of a device, via where. */
static void head_of(const char *serial, uint8_t head[32])
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__WhereRequest w = CUSTODY__WHERE_REQUEST__INIT;
	Custody__Response *resp;

	w.serial = (char *)serial;
	req.body_case = CUSTODY__REQUEST__BODY_WHERE;
	req.where = &w;
	resp = call_once(&req);
	assert_int_equal(resp->body_case, CUSTODY__RESPONSE__BODY_WHERE);
	assert_int_equal(resp->where->head.len, 32);
	memcpy(head, resp->where->head.data, 32);
	custody__response__free_unpacked(resp, NULL);
}

/* Registers a new chip at us-1 and returns its serial (static buffer). */
static const char *new_chip(uint8_t head[32])
{
	static char serial[32];
	struct ev ev;

	snprintf(serial, sizeof(serial), "ITEST-%d-%d", (int)getpid(), ++serial_counter);
	ev_init(&ev, CUSTODY__EVENT_TYPE__REGISTER, "us-1");
	ev_add(&ev, serial, NULL);
	expect_ok(submit(exporter_key, &ev.e), CUSTODY__RESPONSE__BODY_SUBMIT);
	head_of(serial, head);
	return serial;
}

/* The daemon still answers a well-formed request on a new connection. */
static void assert_daemon_serves(void)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__InventoryRequest inv = CUSTODY__INVENTORY_REQUEST__INIT;

	inv.facility = "us-1";
	req.body_case = CUSTODY__REQUEST__BODY_INVENTORY;
	req.inventory = &inv;
	expect_ok(call_once(&req), CUSTODY__RESPONSE__BODY_INVENTORY);
}

/* ---- setup: a party with an exporter key and two facilities -------------- */

static int setup(void **state)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__Party party = CUSTODY__PARTY__INIT;
	Custody__KeyRecord key = CUSTODY__KEY_RECORD__INIT;
	Custody__Facility fac = CUSTODY__FACILITY__INIT;
	Custody__Role roles[2] = {CUSTODY__ROLE__EXPORTER, CUSTODY__ROLE__OPERATOR};
	const char *ids[2] = {"us-1", "jp-1"}, *countries[2] = {"US", "JP"};
	char conninfo[256];

	(void)state;
	snprintf(conninfo, sizeof(conninfo), "dbname=%s", getenv("ITEST_DBNAME"));
	pg = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	assert_int_equal(key_load(getenv("CUSTODY_ADMIN_KEY"), &admin_key), CU_OK);
	assert_int_equal(key_generate(&exporter_key), CU_OK);
	assert_int_equal(key_generate(&stranger_key), CU_OK);

	party.id = "acme";
	party.name = "Acme Cloud";
	party.country = party.hq_country = party.parent_country = "US";
	party.roles = roles;
	party.n_roles = 2;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_PARTY;
	act.register_party = &party;
	expect_ok(admin(admin_key, &act), CUSTODY__RESPONSE__BODY_ADMIN);

	key.pubkey.data = exporter_key->pk;
	key.pubkey.len = 32;
	key.party = "acme";
	key.role = CUSTODY__ROLE__EXPORTER;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_KEY;
	act.register_key = &key;
	expect_ok(admin(admin_key, &act), CUSTODY__RESPONSE__BODY_ADMIN);

	for (int i = 0; i < 2; i++) {
		fac.id = (char *)ids[i];
		fac.name = (char *)ids[i];
		fac.owner = fac.operator_ = "acme";
		fac.country = (char *)countries[i];
		act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_FACILITY;
		act.register_facility = &fac;
		expect_ok(admin(admin_key, &act), CUSTODY__RESPONSE__BODY_ADMIN);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	key_free(admin_key);
	key_free(exporter_key);
	key_free(stranger_key);
	PQfinish(pg);
	return 0;
}

/* ---- frames ---------------------------------------------------------------- */

static void test_truncated_frame(void **state)
{
	struct snapshot before = snap();
	uint8_t partial[14] = {0, 0, 0, 100, 8, 1};
	int stalled = connect_daemon();

	(void)state;
	/* A frame that promises 100 bytes and stops after 10 ... */
	send_all(stalled, partial, sizeof(partial));
	/* ... does not keep anyone else waiting. */
	assert_daemon_serves();
	close(stalled);
	assert_daemon_serves();
	assert_unchanged(before);
}

static void test_oversized_frame(void **state)
{
	struct snapshot before = snap();
	uint8_t hdr[4] = {0x7f, 0xff, 0xff, 0xff};
	int fd = connect_daemon();
	Custody__Response *resp;

	(void)state;
	send_all(fd, hdr, sizeof(hdr));
	resp = recv_frame(fd, TIMEOUT_MS, false);
	assert_non_null(resp);
	assert_int_equal(resp->id, 0);
	expect_refusal(resp, CUSTODY__ERROR_CODE__BAD_REQUEST, "max_frame_bytes");
	assert_null(recv_frame(fd, TIMEOUT_MS, false)); /* and the connection is closed */
	close(fd);
	assert_daemon_serves();
	assert_unchanged(before);
}

static void test_empty_frame(void **state)
{
	uint8_t hdr[4] = {0, 0, 0, 0};
	int fd = connect_daemon();

	(void)state;
	send_all(fd, hdr, sizeof(hdr));
	expect_refusal(recv_frame(fd, TIMEOUT_MS, false), CUSTODY__ERROR_CODE__BAD_REQUEST,
		       "empty frame");
	assert_null(recv_frame(fd, TIMEOUT_MS, false));
	close(fd);
	assert_daemon_serves();
}

static void test_garbage_frame(void **state)
{
	struct snapshot before = snap();
	uint8_t junk[4 + 24];
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__WhereRequest w = CUSTODY__WHERE_REQUEST__INIT;
	int fd = connect_daemon();
	Custody__Response *resp;

	(void)state;
	frame_encode_header(junk, 24);
	memset(junk + 4, 0xff, 24);
	send_all(fd, junk, sizeof(junk));
	resp = recv_frame(fd, TIMEOUT_MS, false);
	assert_non_null(resp);
	assert_int_equal(resp->id, 0);
	expect_refusal(resp, CUSTODY__ERROR_CODE__BAD_REQUEST, "not a valid protobuf Request");
	/* The framing is intact, so the same connection goes on. */
	w.serial = "NO-SUCH-DEVICE";
	req.body_case = CUSTODY__REQUEST__BODY_WHERE;
	req.where = &w;
	expect_refusal(call(fd, &req), CUSTODY__ERROR_CODE__NOT_FOUND, "NO-SUCH-DEVICE");
	close(fd);
	assert_unchanged(before);
}

static void test_unknown_request_type(void **state)
{
	/* id = 7 (field 1, varint), then field 99 (length-delimited, 1 byte). */
	uint8_t frame[] = {0, 0, 0, 6, 0x08, 0x07, 0x9a, 0x06, 0x01, 0x00};
	int fd = connect_daemon();
	Custody__Response *resp;

	(void)state;
	send_all(fd, frame, sizeof(frame));
	resp = recv_frame(fd, TIMEOUT_MS, false);
	assert_non_null(resp);
	assert_int_equal(resp->id, 7);
	expect_refusal(resp, CUSTODY__ERROR_CODE__BAD_REQUEST, "does not know");
	close(fd);
	assert_daemon_serves();
}

static void test_request_id_zero(void **state)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__WhereRequest w = CUSTODY__WHERE_REQUEST__INIT;
	int fd = connect_daemon();

	(void)state;
	w.serial = "X";
	req.body_case = CUSTODY__REQUEST__BODY_WHERE;
	req.where = &w;
	send_frame(fd, &req);
	expect_refusal(recv_frame(fd, TIMEOUT_MS, false), CUSTODY__ERROR_CODE__BAD_REQUEST, "id 0");
	close(fd);
}

static void test_missing_fields(void **state)
{
	struct snapshot before = snap();
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	Custody__WhereRequest w = CUSTODY__WHERE_REQUEST__INIT;
	Custody__InventoryRequest inv = CUSTODY__INVENTORY_REQUEST__INIT;
	struct ev ev;

	(void)state;
	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = &env;
	expect_refusal(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "envelope");

	req.body_case = CUSTODY__REQUEST__BODY_WHERE;
	req.where = &w;
	expect_refusal(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "serial");

	req.body_case = CUSTODY__REQUEST__BODY_INVENTORY;
	req.inventory = &inv;
	expect_refusal(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "exactly one");

	/* Properly signed, but REGISTER without a facility. */
	ev_init(&ev, CUSTODY__EVENT_TYPE__REGISTER, "");
	ev_add(&ev, "ITEST-NOFAC", NULL);
	expect_refusal(submit(exporter_key, &ev.e), CUSTODY__ERROR_CODE__BAD_REQUEST,
		       "facility is required");

	/* A body that is not an Event at all. */
	env.body.data = (uint8_t *)"\xff\xff\xff";
	env.body.len = 3;
	env.signer.data = exporter_key->pk;
	env.signer.len = 32;
	env.sig.data = malloc(64);
	env.sig.len = 64;
	assert_int_equal(
	    envelope_sign(ENVELOPE_EVENT, exporter_key, env.body.data, 3, env.sig.data), CU_OK);
	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = &env;
	expect_refusal(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "not a valid Event");
	free(env.sig.data);
	assert_unchanged(before);
	assert_daemon_serves();
}

/* ---- signatures -------------------------------------------------------------- */

static void test_unregistered_key(void **state)
{
	struct snapshot before = snap();
	struct ev ev;

	(void)state;
	ev_init(&ev, CUSTODY__EVENT_TYPE__REGISTER, "us-1");
	ev_add(&ev, "ITEST-STRANGER", NULL);
	expect_refusal(submit(stranger_key, &ev.e), CUSTODY__ERROR_CODE__UNAUTHENTICATED,
		       "not registered");
	assert_unchanged(before);
	assert_int_equal(count_rows("SELECT count(*) FROM devices WHERE serial = 'ITEST-STRANGER'"),
			 0);
	assert_daemon_serves();
}

static void test_bad_signature(void **state)
{
	struct snapshot before = snap();
	Custody__SignedEnvelope env;
	struct ev ev;
	int fd = connect_daemon();

	(void)state;
	ev_init(&ev, CUSTODY__EVENT_TYPE__REGISTER, "us-1");
	ev_add(&ev, "ITEST-BADSIG", NULL);
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, exporter_key, &ev.e.base, &env), CU_OK);
	env.sig.data[10] ^= 0x01;
	expect_refusal(submit_env(fd, &env), CUSTODY__ERROR_CODE__UNAUTHENTICATED, "signature");
	env.sig.data[10] ^= 0x01;
	env.body.data[env.body.len - 1] ^= 0x01; /* the signed bytes changed */
	expect_refusal(submit_env(fd, &env), CUSTODY__ERROR_CODE__UNAUTHENTICATED, "signature");
	envelope_clear(&env);

	/* An event signed as if it were an admin action (wrong domain). */
	assert_int_equal(envelope_seal(ENVELOPE_ADMIN, exporter_key, &ev.e.base, &env), CU_OK);
	expect_refusal(submit_env(fd, &env), CUSTODY__ERROR_CODE__UNAUTHENTICATED, "signature");
	envelope_clear(&env);
	close(fd);
	assert_unchanged(before);
	assert_daemon_serves();
}

static void test_admin_authorization(void **state)
{
	struct snapshot before = snap();
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__Party party = CUSTODY__PARTY__INIT;
	Custody__Role role = CUSTODY__ROLE__EXPORTER;

	(void)state;
	party.id = "evil";
	party.name = "Evil Corp";
	party.country = party.hq_country = party.parent_country = "US";
	party.roles = &role;
	party.n_roles = 1;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_PARTY;
	act.register_party = &party;
	expect_refusal(admin(exporter_key, &act), CUSTODY__ERROR_CODE__FORBIDDEN, "ADMIN");
	expect_refusal(admin(stranger_key, &act), CUSTODY__ERROR_CODE__UNAUTHENTICATED,
		       "bootstrap admin");
	assert_unchanged(before);
}

/* ---- chains ------------------------------------------------------------------- */

static void test_replay_is_idempotent(void **state)
{
	Custody__SignedEnvelope env;
	Custody__Response *a, *b, *c, *d;
	uint8_t head[32];
	struct ev ev;
	char sql[256];
	int fd = connect_daemon();
	const char *serial = new_chip(head);
	struct snapshot before;

	(void)state;
	ev_init(&ev, CUSTODY__EVENT_TYPE__MOVE, "us-1");
	ev.e.location = "cage 1";
	ev_add(&ev, serial, head);
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, exporter_key, &ev.e.base, &env), CU_OK);
	a = submit_env(fd, &env);
	assert_int_equal(a->body_case, CUSTODY__RESPONSE__BODY_SUBMIT);
	assert_false(a->submit->duplicate);
	before = snap();
	b = submit_env(fd, &env);
	assert_int_equal(b->body_case, CUSTODY__RESPONSE__BODY_SUBMIT);
	assert_true(b->submit->duplicate);
	assert_int_equal(b->submit->seq, a->submit->seq);
	assert_memory_equal(b->submit->event_id.data, a->submit->event_id.data, 32);
	assert_int_equal(b->submit->recorded_at_ms, a->submit->recorded_at_ms);
	assert_unchanged(before);

	/* Replays pipelined into one batch: still stored once. */
	{
		Custody__Request req = CUSTODY__REQUEST__INIT;

		req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
		req.submit = &env;
		req.id = 9001;
		send_frame(fd, &req);
		req.id = 9002;
		send_frame(fd, &req);
		c = recv_frame(fd, TIMEOUT_MS, false);
		d = recv_frame(fd, TIMEOUT_MS, false);
		assert_int_equal(c->body_case, CUSTODY__RESPONSE__BODY_SUBMIT);
		assert_int_equal(d->body_case, CUSTODY__RESPONSE__BODY_SUBMIT);
		assert_int_equal(c->submit->seq, a->submit->seq);
		assert_int_equal(d->submit->seq, a->submit->seq);
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM event_devices WHERE serial = '%s'",
		 serial);
	assert_int_equal(count_rows(sql), 2); /* REGISTER and the one MOVE */
	assert_unchanged(before);
	custody__response__free_unpacked(a, NULL);
	custody__response__free_unpacked(b, NULL);
	custody__response__free_unpacked(c, NULL);
	custody__response__free_unpacked(d, NULL);
	envelope_clear(&env);
	close(fd);
}

static void test_stale_prev_conflict(void **state)
{
	uint8_t head[32], new_head[32];
	const char *serial = new_chip(head);
	struct snapshot before;
	Custody__Response *resp;
	struct ev ev;

	(void)state;
	ev_init(&ev, CUSTODY__EVENT_TYPE__MOVE, "us-1");
	ev.e.location = "cage 2";
	ev_add(&ev, serial, head);
	expect_ok(submit(exporter_key, &ev.e), CUSTODY__RESPONSE__BODY_SUBMIT);
	head_of(serial, new_head);

	before = snap();
	ev.e.location = "cage 3"; /* a different event with the old prev */
	resp = submit(exporter_key, &ev.e);
	assert_int_equal(resp->body_case, CUSTODY__RESPONSE__BODY_ERROR);
	assert_int_equal(resp->error->code, CUSTODY__ERROR_CODE__CONFLICT);
	assert_int_equal(resp->error->n_heads, 1);
	assert_string_equal(resp->error->heads[0]->serial, serial);
	assert_memory_equal(resp->error->heads[0]->prev.data, new_head, 32);
	custody__response__free_unpacked(resp, NULL);
	assert_unchanged(before);
}

static void test_pipelined_conflict(void **state)
{
	uint8_t head[32];
	const char *serial = new_chip(head);
	Custody__SignedEnvelope env[2];
	Custody__Request req = CUSTODY__REQUEST__INIT;
	int ok = 0, conflict = 0;
	int fd = connect_daemon();
	struct ev ev;

	(void)state;
	/* Two different events naming the same prev: only one can win. */
	for (int i = 0; i < 2; i++) {
		ev_init(&ev, CUSTODY__EVENT_TYPE__MOVE, "us-1");
		ev.e.location = i == 0 ? "rack A" : "rack B";
		ev_add(&ev, serial, head);
		assert_int_equal(envelope_seal(ENVELOPE_EVENT, exporter_key, &ev.e.base, &env[i]),
				 CU_OK);
		req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
		req.submit = &env[i];
		req.id = 500 + (uint64_t)i;
		send_frame(fd, &req);
	}
	for (int i = 0; i < 2; i++) {
		Custody__Response *resp = recv_frame(fd, TIMEOUT_MS, false);

		assert_non_null(resp);
		if (resp->body_case == CUSTODY__RESPONSE__BODY_SUBMIT)
			ok++;
		else if (resp->error->code == CUSTODY__ERROR_CODE__CONFLICT)
			conflict++;
		custody__response__free_unpacked(resp, NULL);
	}
	assert_int_equal(ok, 1);
	assert_int_equal(conflict, 1);
	envelope_clear(&env[0]);
	envelope_clear(&env[1]);
	close(fd);
}

/*
 * A chain pipelined without waiting: each MOVE names the one sent before
 * it as prev, so all are stored only if the sequencer takes them in the
 * order they arrived, whatever order the verify pool checks them in.
 * Meanwhile a second connection pipelines registrations with one forged
 * signature in the middle: only that one is refused.
 */
/* Sends env on fd as request id, without waiting for the answer. */
static void send_env(int fd, uint64_t id, Custody__SignedEnvelope *env)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;

	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = env;
	req.id = id;
	send_frame(fd, &req);
}

enum { CHAIN = 64, OTHERS = 32, FORGED = 13 };

/*
 * Pipelines CHAIN MOVEs of serial on fd1, each naming the one before as
 * prev (starting from prev, which ends as the last one's id), and between
 * them OTHERS registrations on fd2, number FORGED with a forged signature.
 */
static void send_chain(int fd1, int fd2, const char *serial, uint8_t prev[32],
		       Custody__SignedEnvelope *chain, Custody__SignedEnvelope *others)
{
	int64_t t0 = codec_now_ms();
	char other[32];
	struct ev ev;

	for (int i = 0; i < CHAIN; i++) {
		ev_init(&ev, CUSTODY__EVENT_TYPE__MOVE, "us-1");
		ev.e.location = "pipelined chain";
		ev.e.occurred_at_ms = t0 + i;
		ev_add(&ev, serial, prev);
		assert_int_equal(envelope_seal(ENVELOPE_EVENT, exporter_key, &ev.e.base, &chain[i]),
				 CU_OK);
		send_env(fd1, 7000 + (uint64_t)i, &chain[i]);
		envelope_id(chain[i].body.data, chain[i].body.len, prev);
		if (i % 2 != 0)
			continue;
		snprintf(other, sizeof(other), "ITEST-%d-P%d", (int)getpid(), i / 2);
		ev_init(&ev, CUSTODY__EVENT_TYPE__REGISTER, "us-1");
		ev_add(&ev, other, NULL);
		assert_int_equal(
		    envelope_seal(ENVELOPE_EVENT, exporter_key, &ev.e.base, &others[i / 2]), CU_OK);
		if (i / 2 == FORGED)
			others[i / 2].sig.data[7] ^= 0x01; /* no longer matches */
		send_env(fd2, 8000 + (uint64_t)(i / 2), &others[i / 2]);
	}
}

/*
 * A chain pipelined without waiting: all of it is stored only if the
 * sequencer takes the events in the order they arrived, whatever order
 * the verify pool checks them in. Meanwhile a second connection pipelines
 * registrations with one forged signature in the middle: only that one is
 * refused.
 */
static void test_pipelined_chain(void **state)
{
	static Custody__SignedEnvelope chain[CHAIN], others[OTHERS];
	static uint64_t seq_of[CHAIN];
	uint8_t prev[32], head[32];
	const char *serial = new_chip(prev);
	int fd1 = connect_daemon(), fd2 = connect_daemon();

	(void)state;
	send_chain(fd1, fd2, serial, prev, chain, others);
	for (int i = 0; i < CHAIN; i++) {
		Custody__Response *resp = recv_frame(fd1, TIMEOUT_MS, false);

		assert_non_null(resp);
		assert_true(resp->id >= 7000 && resp->id < 7000 + CHAIN);
		if (resp->body_case != CUSTODY__RESPONSE__BODY_SUBMIT)
			fail_msg("chain event %d refused: %s", (int)(resp->id - 7000),
				 resp->body_case == CUSTODY__RESPONSE__BODY_ERROR
				     ? resp->error->message
				     : "?");
		seq_of[resp->id - 7000] = resp->submit->seq;
		custody__response__free_unpacked(resp, NULL);
	}
	for (int i = 1; i < CHAIN; i++)
		assert_true(seq_of[i] > seq_of[i - 1]); /* stored in the order sent */
	for (int i = 0; i < OTHERS; i++) {
		Custody__Response *resp = recv_frame(fd2, TIMEOUT_MS, false);

		assert_non_null(resp);
		if (resp->id == 8000 + FORGED)
			expect_refusal(resp, CUSTODY__ERROR_CODE__UNAUTHENTICATED, "signature");
		else
			expect_ok(resp, CUSTODY__RESPONSE__BODY_SUBMIT);
	}
	head_of(serial, head);
	assert_memory_equal(head, prev, 32);
	for (int i = 0; i < CHAIN; i++)
		envelope_clear(&chain[i]);
	for (int i = 0; i < OTHERS; i++)
		envelope_clear(&others[i]);
	close(fd1);
	close(fd2);
}

static void test_destroyed_device(void **state)
{
	uint8_t head[32];
	const char *serial = new_chip(head);
	struct snapshot before;
	Custody__Response *resp;
	struct ev ev;

	(void)state;
	ev_init(&ev, CUSTODY__EVENT_TYPE__DESTROY, "us-1");
	ev_add(&ev, serial, head);
	expect_ok(submit(exporter_key, &ev.e), CUSTODY__RESPONSE__BODY_SUBMIT);
	head_of(serial, head);

	before = snap();
	ev_init(&ev, CUSTODY__EVENT_TYPE__MOVE, "us-1");
	ev.e.location = "anywhere";
	ev_add(&ev, serial, head);
	resp = submit(exporter_key, &ev.e);
	assert_int_equal(resp->body_case, CUSTODY__RESPONSE__BODY_ERROR);
	assert_int_equal(resp->error->code, CUSTODY__ERROR_CODE__REJECTED);
	assert_int_equal(resp->error->n_rules, 1);
	assert_string_equal(resp->error->rules[0]->rule, "state.destroyed");
	assert_int_equal(resp->error->rules[0]->severity, CUSTODY__SEVERITY__SEVERITY_REJECT);
	assert_evidence(before, resp);
	{
		/* The same bytes again: the stored verdict, nothing new stored. */
		uint64_t seq = resp->error->recorded_seq;
		Custody__Response *again = submit(exporter_key, &ev.e);

		assert_int_equal(again->body_case, CUSTODY__RESPONSE__BODY_ERROR);
		assert_int_equal(again->error->code, CUSTODY__ERROR_CODE__REJECTED);
		assert_int_equal(again->error->recorded_seq, seq);
		assert_int_equal(again->error->n_rules, 1);
		assert_string_equal(again->error->rules[0]->rule, "state.destroyed");
		assert_int_equal(again->error->rules[0]->severity,
				 CUSTODY__SEVERITY__SEVERITY_REJECT);
		assert_string_equal(again->error->rules[0]->reason, resp->error->rules[0]->reason);
		/* ... and the alert it raised then, not a new one. */
		assert_int_equal(again->error->n_alert_ids, 1);
		assert_int_equal(again->error->alert_ids[0], resp->error->alert_ids[0]);
		custody__response__free_unpacked(again, NULL);
	}
	custody__response__free_unpacked(resp, NULL);
}

static void test_contained_device(void **state)
{
	uint8_t chip_head[32], srv_head[32];
	const char *chip;
	char chip_serial[32], srv_serial[32];
	struct snapshot before;
	struct ev ev;

	(void)state;
	chip = new_chip(chip_head);
	snprintf(chip_serial, sizeof(chip_serial), "%s", chip);
	snprintf(srv_serial, sizeof(srv_serial), "%s-SRV", chip);
	ev_init(&ev, CUSTODY__EVENT_TYPE__REGISTER, "us-1");
	ev_add(&ev, srv_serial, NULL);
	ev.refs[0].kind = CUSTODY__DEVICE_KIND__SERVER;
	ev.refs[0].model = "DGX-H100";
	expect_ok(submit(exporter_key, &ev.e), CUSTODY__RESPONSE__BODY_SUBMIT);
	head_of(srv_serial, srv_head);

	ev_init(&ev, CUSTODY__EVENT_TYPE__PACK, "us-1");
	ev_add(&ev, chip_serial, chip_head);
	custody__device_ref__init(&ev.container);
	ev.container.serial = srv_serial;
	ev.container.prev.data = srv_head;
	ev.container.prev.len = 32;
	ev.e.container = &ev.container;
	expect_ok(submit(exporter_key, &ev.e), CUSTODY__RESPONSE__BODY_SUBMIT);
	head_of(chip_serial, chip_head);

	before = snap();
	ev_init(&ev, CUSTODY__EVENT_TYPE__SHIP, "us-1");
	ev.e.to_facility = "jp-1";
	ev_add(&ev, chip_serial, chip_head);
	{
		Custody__Response *resp = submit(exporter_key, &ev.e);

		assert_int_equal(resp->body_case, CUSTODY__RESPONSE__BODY_ERROR);
		assert_int_equal(resp->error->code, CUSTODY__ERROR_CODE__REJECTED);
		assert_string_equal(resp->error->rules[0]->rule, "state.contained");
		assert_evidence(before, resp);
		custody__response__free_unpacked(resp, NULL);
	}
}

/*
 * The LogEntry bytes of leaf index (owned by the caller), or NULL, rebuilt
 * as every reader of the log must (daemon/log_entry.h): the stored entry
 * is a stub without the envelope, which the row of its submission (events
 * or admin_actions, same kind and seq) holds.
 */
static uint8_t *stored_entry(uint64_t index, size_t *len)
{
	char sql[512];
	PGresult *res;
	Custody__LogEntry *e;
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	uint8_t *bytes = NULL;

	snprintf(sql, sizeof(sql),
		 "SELECT l.entry, coalesce(e.body, a.body), coalesce(e.signer, a.signer),"
		 " coalesce(e.sig, a.sig) FROM log_entries l"
		 " LEFT JOIN events e ON l.kind = 'ENTRY_EVENT' AND e.seq = l.seq"
		 " LEFT JOIN admin_actions a ON l.kind = 'ENTRY_ADMIN' AND a.seq = l.seq"
		 " WHERE l.idx = %llu",
		 (unsigned long long)index);
	res = PQexecParams(pg, sql, 0, NULL, NULL, NULL, NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		PQclear(res);
		return NULL;
	}
	e = custody__log_entry__unpack(NULL, (size_t)PQgetlength(res, 0, 0),
				       (const uint8_t *)PQgetvalue(res, 0, 0));
	assert_non_null(e);
	assert_null(e->envelope); /* the stub: the envelope is stored once, in its row */
	assert_true(PQgetlength(res, 0, 0) < 100 + 80 * (int)e->n_rules);
	assert_int_equal(PQgetlength(res, 0, 2), 32);
	assert_int_equal(PQgetlength(res, 0, 3), 64);
	env.body.data = (uint8_t *)PQgetvalue(res, 0, 1);
	env.body.len = (size_t)PQgetlength(res, 0, 1);
	env.signer.data = (uint8_t *)PQgetvalue(res, 0, 2);
	env.signer.len = 32;
	env.sig.data = (uint8_t *)PQgetvalue(res, 0, 3);
	env.sig.len = 64;
	e->envelope = &env;
	*len = custody__log_entry__get_packed_size(e);
	bytes = malloc(*len + 1);
	assert_non_null(bytes);
	custody__log_entry__pack(e, bytes);
	e->envelope = NULL;
	custody__log_entry__free_unpacked(e, NULL);
	PQclear(res);
	return bytes;
}

/*
 * A submission's answer carries its log receipt: the stored leaf is the
 * submission as signed, the inclusion proof leads to the root of the
 * checkpoint, and the checkpoint is signed by the log's key (its .pub next
 * to the daemon's config). Any changed byte breaks the proof.
 */
static void test_log_receipt(void **state)
{
	uint8_t head[32], leaf[32], proof[MERKLE_PROOF_MAX * 32], pk[32];
	const char *serial = new_chip(head);
	const Custody__LogReceipt *r;
	Custody__SignedEnvelope env;
	Custody__Response *resp;
	Custody__LogEntry *entry;
	struct note_verifier v;
	struct note_opened opened;
	struct note_checkpoint cp;
	char err[256], path[512];
	uint8_t *bytes;
	size_t len = 0;
	struct ev ev;

	(void)state;
	snprintf(path, sizeof(path), "%s/log.key.pub", getenv("ITEST_DAEMON_DIR"));
	assert_int_equal(key_pub_load(path, pk), CU_OK);
	assert_int_equal(note_verifier_init(&v, "custody.test/protocol", NOTE_TYPE_ED25519, pk),
			 CU_OK);
	ev_init(&ev, CUSTODY__EVENT_TYPE__MOVE, "us-1");
	ev.e.location = "cage 7";
	ev_add(&ev, serial, head);
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, exporter_key, &ev.e.base, &env), CU_OK);
	resp = submit_env(connect_daemon(), &env);
	assert_int_equal(resp->body_case, CUSTODY__RESPONSE__BODY_SUBMIT);
	r = resp->submit->receipt;
	assert_non_null(r);
	assert_true(r->index < r->tree_size);
	assert_true(r->n_proof <= MERKLE_PROOF_MAX);
	for (size_t i = 0; i < r->n_proof; i++) {
		assert_int_equal(r->proof[i].len, 32);
		memcpy(proof + i * 32, r->proof[i].data, 32);
	}
	/* The checkpoint: signed by the log, for the receipt's tree size. */
	assert_int_equal(
	    note_open(r->checkpoint, strlen(r->checkpoint), &v, 1, &opened, err, sizeof(err)),
	    CU_OK);
	assert_int_equal(note_checkpoint_parse(opened.text, opened.text_len, &cp, err, sizeof(err)),
			 CU_OK);
	assert_int_equal(cp.size, r->tree_size);
	/* The leaf: the submission exactly as signed, with the server's verdict. */
	bytes = stored_entry(r->index, &len);
	assert_non_null(bytes);
	entry = custody__log_entry__unpack(NULL, len, bytes);
	assert_non_null(entry);
	assert_int_equal(entry->kind, CUSTODY__ENTRY_KIND__ENTRY_EVENT);
	assert_int_equal(entry->seq, resp->submit->seq);
	assert_int_equal(entry->verdict, CUSTODY__VERDICT__ACCEPT);
	assert_int_equal(entry->recorded_at_ms, resp->submit->recorded_at_ms);
	assert_int_equal(entry->envelope->body.len, env.body.len);
	assert_memory_equal(entry->envelope->body.data, env.body.data, env.body.len);
	assert_memory_equal(entry->envelope->sig.data, env.sig.data, 64);
	custody__log_entry__free_unpacked(entry, NULL);
	merkle_leaf_hash(bytes, len, leaf);
	assert_int_equal(
	    merkle_verify_inclusion(leaf, r->index, r->tree_size, proof, r->n_proof, cp.root),
	    CU_OK);
	/* One changed byte anywhere breaks it. */
	bytes[len / 2] ^= 1;
	merkle_leaf_hash(bytes, len, leaf);
	assert_int_not_equal(
	    merkle_verify_inclusion(leaf, r->index, r->tree_size, proof, r->n_proof, cp.root),
	    CU_OK);
	bytes[len / 2] ^= 1;
	merkle_leaf_hash(bytes, len, leaf);
	if (r->n_proof > 0) {
		proof[5] ^= 0x80;
		assert_int_not_equal(merkle_verify_inclusion(leaf, r->index, r->tree_size, proof,
							     r->n_proof, cp.root),
				     CU_OK);
	}
	free(bytes);
	envelope_clear(&env);
	custody__response__free_unpacked(resp, NULL);
}

/* Root of a signed checkpoint text, checked against the log's key v. */
static uint64_t open_checkpoint(const struct note_verifier *v, const char *text, uint8_t root[32])
{
	struct note_opened opened;
	struct note_checkpoint cp;
	char err[256];

	assert_int_equal(note_open(text, strlen(text), v, 1, &opened, err, sizeof(err)), CU_OK);
	assert_int_equal(note_checkpoint_parse(opened.text, opened.text_len, &cp, err, sizeof(err)),
			 CU_OK);
	memcpy(root, cp.root, 32);
	return cp.size;
}

static void log_verifier(struct note_verifier *v)
{
	uint8_t pk[32];
	char path[512];

	snprintf(path, sizeof(path), "%s/log.key.pub", getenv("ITEST_DAEMON_DIR"));
	assert_int_equal(key_pub_load(path, pk), CU_OK);
	assert_int_equal(note_verifier_init(v, "custody.test/protocol", NOTE_TYPE_ED25519, pk),
			 CU_OK);
}

static Custody__Response *ask_inclusion(uint64_t index, const uint8_t *event_id, uint64_t size)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__InclusionRequest in = CUSTODY__INCLUSION_REQUEST__INIT;

	in.index = index;
	in.tree_size = size;
	if (event_id != NULL) {
		in.event_id.data = (uint8_t *)event_id;
		in.event_id.len = 32;
	}
	req.body_case = CUSTODY__REQUEST__BODY_INCLUSION;
	req.inclusion = &in;
	return call_once(&req);
}

/* Verifies an InclusionResult against its own checkpoint; returns its index. */
static uint64_t verify_inclusion(const struct note_verifier *v, const Custody__InclusionResult *r)
{
	uint8_t root[32], leaf[32], proof[MERKLE_PROOF_MAX * 32];

	assert_int_equal(open_checkpoint(v, r->checkpoint, root), r->tree_size);
	assert_true(r->n_proof <= MERKLE_PROOF_MAX);
	for (size_t i = 0; i < r->n_proof; i++) {
		assert_int_equal(r->proof[i].len, 32);
		memcpy(proof + i * 32, r->proof[i].data, 32);
	}
	merkle_leaf_hash(r->entry.data, r->entry.len, leaf);
	assert_int_equal(
	    merkle_verify_inclusion(leaf, r->index, r->tree_size, proof, r->n_proof, root), CU_OK);
	return r->index;
}

/*
 * Proofs from the stored log: every entry's inclusion in every checkpointed
 * size, by index and by event id; consistency between checkpointed sizes;
 * entries by range; refusals for sizes never checkpointed.
 */
static void test_log_proofs(void **state)
{
	struct note_verifier v;
	PGresult *sizes = PQexec(pg, "SELECT size FROM log_checkpoints ORDER BY size");
	Custody__Response *resp;
	int n = PQntuples(sizes);
	uint64_t latest;

	(void)state;
	log_verifier(&v);
	assert_true(n >= 10);
	latest = (uint64_t)strtoull(PQgetvalue(sizes, n - 1, 0), NULL, 10);
	for (int s = 0; s < n; s += (s < n - 4 ? 3 : 1)) {
		uint64_t size = (uint64_t)strtoull(PQgetvalue(sizes, s, 0), NULL, 10);

		for (uint64_t i = 0; i < size; i++) {
			resp = ask_inclusion(i, NULL, size);
			assert_int_equal(resp->body_case, CUSTODY__RESPONSE__BODY_INCLUSION);
			assert_int_equal(verify_inclusion(&v, resp->inclusion), i);
			custody__response__free_unpacked(resp, NULL);
		}
	}
	/* By index in the latest tree (size 0): answered with the sequencer's checkpoint. */
	for (uint64_t i = 0; i < latest; i += latest / 7 + 1) {
		resp = ask_inclusion(i, NULL, 0);
		assert_int_equal(resp->body_case, CUSTODY__RESPONSE__BODY_INCLUSION);
		assert_int_equal(resp->inclusion->tree_size, latest);
		assert_int_equal(verify_inclusion(&v, resp->inclusion), i);
		custody__response__free_unpacked(resp, NULL);
	}
	/* By event id, in the latest tree: the entry recording that event. */
	{
		PGresult *ev =
		    PQexecParams(pg, "SELECT id, seq FROM events ORDER BY seq DESC LIMIT 1", 0,
				 NULL, NULL, NULL, NULL, 1);
		Custody__LogEntry *e;

		assert_int_equal(PQntuples(ev), 1);
		resp = ask_inclusion(0, (const uint8_t *)PQgetvalue(ev, 0, 0), 0);
		assert_int_equal(resp->body_case, CUSTODY__RESPONSE__BODY_INCLUSION);
		assert_int_equal(resp->inclusion->tree_size, latest);
		verify_inclusion(&v, resp->inclusion);
		e = custody__log_entry__unpack(NULL, resp->inclusion->entry.len,
					       resp->inclusion->entry.data);
		assert_non_null(e);
		assert_int_equal(e->kind, CUSTODY__ENTRY_KIND__ENTRY_EVENT);
		custody__log_entry__free_unpacked(e, NULL);
		custody__response__free_unpacked(resp, NULL);
		PQclear(ev);
	}
	/* Consistency: each checkpointed size with the next and with the latest. */
	for (int s = 0; s + 1 < n; s++) {
		for (int k = 0; k < 2; k++) {
			Custody__Request req = CUSTODY__REQUEST__INIT;
			Custody__ConsistencyRequest c = CUSTODY__CONSISTENCY_REQUEST__INIT;
			uint8_t root1[32], root2[32], proof[MERKLE_PROOF_MAX * 32];
			const Custody__ConsistencyResult *r;

			c.size1 = (uint64_t)strtoull(PQgetvalue(sizes, s, 0), NULL, 10);
			c.size2 =
			    k == 0 ? (uint64_t)strtoull(PQgetvalue(sizes, s + 1, 0), NULL, 10) : 0;
			req.body_case = CUSTODY__REQUEST__BODY_CONSISTENCY;
			req.consistency = &c;
			resp = call_once(&req);
			assert_int_equal(resp->body_case, CUSTODY__RESPONSE__BODY_CONSISTENCY);
			r = resp->consistency;
			assert_int_equal(open_checkpoint(&v, r->checkpoint1, root1), r->size1);
			assert_int_equal(open_checkpoint(&v, r->checkpoint2, root2), r->size2);
			for (size_t i = 0; i < r->n_proof; i++)
				memcpy(proof + i * 32, r->proof[i].data, 32);
			assert_int_equal(merkle_verify_consistency(r->size1, r->size2, proof,
								   r->n_proof, root1, root2),
					 CU_OK);
			custody__response__free_unpacked(resp, NULL);
		}
	}
	/* Entries by range are the leaves, rebuilt from the stored stubs. */
	{
		Custody__Request req = CUSTODY__REQUEST__INIT;
		Custody__EntriesRequest en = CUSTODY__ENTRIES_REQUEST__INIT;
		size_t len = 0;
		uint8_t *bytes = stored_entry(2, &len);

		en.start = 2;
		en.count = 3;
		req.body_case = CUSTODY__REQUEST__BODY_ENTRIES;
		req.entries = &en;
		resp = call_once(&req);
		assert_int_equal(resp->body_case, CUSTODY__RESPONSE__BODY_ENTRIES);
		assert_int_equal(resp->entries->n_entries, 3);
		assert_int_equal(resp->entries->entries[0].len, len);
		assert_memory_equal(resp->entries->entries[0].data, bytes, len);
		free(bytes);
		custody__response__free_unpacked(resp, NULL);
	}
	/* Sizes never checkpointed, indexes outside the tree. */
	resp = ask_inclusion(0, NULL, latest + 1000);
	expect_error_kept(resp, CUSTODY__ERROR_CODE__NOT_FOUND, "no checkpoint");
	custody__response__free_unpacked(resp, NULL);
	resp = ask_inclusion(latest, NULL, latest);
	expect_error_kept(resp, CUSTODY__ERROR_CODE__BAD_REQUEST, "not in the tree");
	custody__response__free_unpacked(resp, NULL);
	PQclear(sizes);
}

/* An inclusion request naming the entry by facility or key registration. */
static Custody__Response *ask_registration(const char *facility, const uint8_t *key)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__InclusionRequest in = CUSTODY__INCLUSION_REQUEST__INIT;

	if (facility != NULL)
		in.facility = (char *)facility;
	if (key != NULL) {
		in.key.data = (uint8_t *)key;
		in.key.len = 32;
	}
	req.body_case = CUSTODY__REQUEST__BODY_INCLUSION;
	req.inclusion = &in;
	return call_once(&req);
}

/* The AdminAction a verified InclusionResult's entry records (caller frees). */
static Custody__AdminAction *registration_of(const Custody__InclusionResult *r)
{
	Custody__LogEntry *e = custody__log_entry__unpack(NULL, r->entry.len, r->entry.data);
	Custody__AdminAction *act;

	assert_non_null(e);
	assert_int_equal(e->kind, CUSTODY__ENTRY_KIND__ENTRY_ADMIN);
	act = custody__admin_action__unpack(NULL, e->envelope->body.len, e->envelope->body.data);
	assert_non_null(act);
	custody__log_entry__free_unpacked(e, NULL);
	return act;
}

/*
 * Registrations by name (what a proof bundle needs to show who a facility
 * and a signer are) and tiles: the stored hashes, served as far as the
 * latest checkpoint reaches.
 */
static void test_log_registrations_and_tiles(void **state)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__TileRequest tr = CUSTODY__TILE_REQUEST__INIT;
	struct note_verifier v;
	Custody__Response *resp;
	Custody__AdminAction *act;
	uint64_t size;

	(void)state;
	log_verifier(&v);
	resp = ask_registration("jp-1", NULL);
	expect_body(resp, CUSTODY__RESPONSE__BODY_INCLUSION);
	verify_inclusion(&v, resp->inclusion);
	act = registration_of(resp->inclusion);
	assert_int_equal(act->action_case, CUSTODY__ADMIN_ACTION__ACTION_REGISTER_FACILITY);
	assert_string_equal(act->register_facility->id, "jp-1");
	assert_string_equal(act->register_facility->country, "JP");
	custody__admin_action__free_unpacked(act, NULL);
	custody__response__free_unpacked(resp, NULL);

	resp = ask_registration(NULL, exporter_key->pk);
	expect_body(resp, CUSTODY__RESPONSE__BODY_INCLUSION);
	verify_inclusion(&v, resp->inclusion);
	act = registration_of(resp->inclusion);
	assert_int_equal(act->action_case, CUSTODY__ADMIN_ACTION__ACTION_REGISTER_KEY);
	assert_memory_equal(act->register_key->pubkey.data, exporter_key->pk, 32);
	assert_string_equal(act->register_key->party, "acme");
	custody__admin_action__free_unpacked(act, NULL);
	custody__response__free_unpacked(resp, NULL);

	expect_error(ask_registration("nowhere-1", NULL), CUSTODY__ERROR_CODE__NOT_FOUND,
		     "registration of that facility");
	expect_error(ask_registration(NULL, stranger_key->pk), CUSTODY__ERROR_CODE__NOT_FOUND,
		     "registration of that key");
	expect_error(ask_registration("us-1", exporter_key->pk), CUSTODY__ERROR_CODE__BAD_REQUEST,
		     "one of index, event_id, facility and key");
	expect_error(ask_registration("bad id!", NULL), CUSTODY__ERROR_CODE__BAD_REQUEST,
		     "facility");

	/* Tile 0/0: the leaf hashes of the stored entries, as wide as the tree. */
	size = (uint64_t)count_rows("SELECT max(size) FROM log_checkpoints");
	assert_true(size > 1 && size < 256);
	tr.width = (uint32_t)size;
	req.body_case = CUSTODY__REQUEST__BODY_TILE;
	req.tile = &tr;
	resp = call_once(&req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_TILE);
	assert_int_equal(resp->tile->width, size);
	assert_int_equal(resp->tile->hashes.len, size * 32);
	for (uint64_t i = 0; i < size; i++) {
		size_t len = 0;
		uint8_t *bytes = stored_entry(i, &len), leaf[32];

		assert_non_null(bytes);
		merkle_leaf_hash(bytes, len, leaf);
		assert_memory_equal(resp->tile->hashes.data + i * 32, leaf, 32);
		free(bytes);
	}
	custody__response__free_unpacked(resp, NULL);
	/* A narrower tile is a prefix of the same hashes. */
	tr.width = 1;
	resp = call_once(&req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_TILE);
	assert_int_equal(resp->tile->hashes.len, 32);
	custody__response__free_unpacked(resp, NULL);
	tr.width = (uint32_t)size + 1; /* beyond the checkpoint */
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__NOT_FOUND, "no tile 0/0 of width");
	tr.width = 0; /* a full tile does not exist yet */
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__NOT_FOUND, "no tile");
	tr.level = 1; /* nor any hash of tree level 8 */
	tr.width = 1;
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__NOT_FOUND, "no tile 1/0");
	tr.level = 8;
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "level must be below 8");
	tr.level = 0;
	tr.width = 257;
	expect_error(call_once(&req), CUSTODY__ERROR_CODE__BAD_REQUEST, "width at most 256");
}

/* Sends a cosignature line for tree_size with key pk. */
static Custody__Response *cosign_req(uint64_t tree_size, const uint8_t *pk, const char *line)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__CosignRequest cr = CUSTODY__COSIGN_REQUEST__INIT;

	cr.tree_size = tree_size;
	cr.witness_key.data = (uint8_t *)pk;
	cr.witness_key.len = 32;
	cr.signature = (char *)line;
	req.body_case = CUSTODY__REQUEST__BODY_COSIGN;
	req.cosign = &cr;
	return call_once(&req);
}

/* The latest checkpoint's body (opened with v) into body; returns its size. */
static uint64_t latest_body(const struct note_verifier *v, char *body, size_t body_size)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__CheckpointRequest cr = CUSTODY__CHECKPOINT_REQUEST__INIT;
	Custody__Response *resp;
	struct note_opened opened;
	char err[256];
	uint64_t size;

	req.body_case = CUSTODY__REQUEST__BODY_CHECKPOINT;
	req.checkpoint = &cr;
	resp = call_once(&req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_CHECKPOINT);
	size = resp->checkpoint->tree_size;
	assert_int_equal(note_open(resp->checkpoint->checkpoint,
				   strlen(resp->checkpoint->checkpoint), v, 1, &opened, err,
				   sizeof(err)),
			 CU_OK);
	assert_true(opened.text_len < body_size);
	memcpy(body, opened.text, opened.text_len);
	body[opened.text_len] = '\0';
	custody__response__free_unpacked(resp, NULL);
	return size;
}

/*
 * Cosignatures: only a registered WITNESS key's valid cosignature of a
 * stored checkpoint is kept, once per witness and size; every refusal
 * stores nothing; the checkpoint is then served with it.
 */
static void test_cosign(void **state)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__Party party = CUSTODY__PARTY__INIT;
	Custody__KeyRecord key = CUSTODY__KEY_RECORD__INIT;
	Custody__Role role = CUSTODY__ROLE__WITNESS;
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__CheckpointRequest cr = CUSTODY__CHECKPOINT_REQUEST__INIT;
	struct note_verifier v[2];
	struct note_opened opened;
	struct cu_key *wk = NULL;
	Custody__Response *resp;
	char body[NOTE_CHECKPOINT_TEXT_MAX], line[NOTE_SIG_LINE_MAX + 1],
	    bad[NOTE_SIG_LINE_MAX + 1];
	char vkey[NOTE_VKEY_MAX], err[256];
	uint64_t size, now = (uint64_t)time(NULL);
	size_t len = 0;

	(void)state;
	assert_int_equal(key_generate(&wk), CU_OK);
	party.id = "wit-1";
	party.name = "A witness";
	party.country = party.hq_country = party.parent_country = "DE";
	party.roles = &role;
	party.n_roles = 1;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_PARTY;
	act.register_party = &party;
	expect_ok(admin(admin_key, &act), CUSTODY__RESPONSE__BODY_ADMIN);
	key.pubkey.data = wk->pk;
	key.pubkey.len = 32;
	key.party = "wit-1";
	key.role = CUSTODY__ROLE__WITNESS;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_KEY;
	act.register_key = &key;
	expect_ok(admin(admin_key, &act), CUSTODY__RESPONSE__BODY_ADMIN);

	log_verifier(&v[0]);
	assert_int_equal(note_verifier_init(&v[1], "wit-1", NOTE_TYPE_COSIG_V1, wk->pk), CU_OK);
	size = latest_body(&v[0], body, sizeof(body));
	assert_int_equal(
	    note_cosig_sign(body, strlen(body), "wit-1", wk, now, line, sizeof(line), &len), CU_OK);

	/* Refusals, each storing nothing. */
	expect_error(cosign_req(size + 1000, wk->pk, line), CUSTODY__ERROR_CODE__NOT_FOUND,
		     "no checkpoint of tree size");
	expect_error(cosign_req(size, stranger_key->pk, line), CUSTODY__ERROR_CODE__UNAUTHENTICATED,
		     "not registered");
	expect_error(cosign_req(size, exporter_key->pk, line), CUSTODY__ERROR_CODE__FORBIDDEN,
		     "only WITNESS keys");
	memcpy(bad, line, len + 1);
	bad[len - 5] = bad[len - 5] == 'A' ? 'B' : 'A'; /* inside the signature */
	expect_error(cosign_req(size, wk->pk, bad), CUSTODY__ERROR_CODE__UNAUTHENTICATED,
		     "does not verify");
	assert_int_equal(
	    note_cosig_sign(body, strlen(body), "wit-2", wk, now, bad, sizeof(bad), &len), CU_OK);
	expect_error(cosign_req(size, wk->pk, bad), CUSTODY__ERROR_CODE__UNAUTHENTICATED,
		     "does not verify");
	assert_int_equal(
	    note_cosig_sign(body, strlen(body), "wit-1", wk, now + 3600, bad, sizeof(bad), &len),
	    CU_OK);
	expect_error(cosign_req(size, wk->pk, bad), CUSTODY__ERROR_CODE__BAD_REQUEST,
		     "in the future");
	expect_error(cosign_req(size, wk->pk, "no newline"), CUSTODY__ERROR_CODE__BAD_REQUEST,
		     "signature");
	{ /* a cosignature of this size, claimed for an earlier checkpoint */
		char sql[128];

		snprintf(sql, sizeof(sql),
			 "SELECT max(size) FROM log_checkpoints WHERE size < %llu",
			 (unsigned long long)size);
		expect_error(cosign_req((uint64_t)count_rows(sql), wk->pk, line),
			     CUSTODY__ERROR_CODE__UNAUTHENTICATED, "does not verify");
	}
	assert_int_equal(count_rows("SELECT count(*) FROM log_cosignatures"), 0);

	/* Kept once; a second cosignature of the same size is a duplicate. */
	resp = cosign_req(size, wk->pk, line);
	expect_body(resp, CUSTODY__RESPONSE__BODY_COSIGN);
	assert_false(resp->cosign->duplicate);
	assert_int_equal(resp->cosign->cosignatures, 1);
	custody__response__free_unpacked(resp, NULL);
	assert_int_equal(
	    note_cosig_sign(body, strlen(body), "wit-1", wk, now - 1, bad, sizeof(bad), &len),
	    CU_OK);
	resp = cosign_req(size, wk->pk, bad);
	expect_body(resp, CUSTODY__RESPONSE__BODY_COSIGN);
	assert_true(resp->cosign->duplicate);
	assert_int_equal(resp->cosign->cosignatures, 1);
	custody__response__free_unpacked(resp, NULL);
	assert_int_equal(count_rows("SELECT count(*) FROM log_cosignatures"), 1);

	/* Served with the checkpoint: both keys verify the note. */
	cr.tree_size = size;
	cr.min_cosignatures = 1;
	req.body_case = CUSTODY__REQUEST__BODY_CHECKPOINT;
	req.checkpoint = &cr;
	resp = call_once(&req);
	expect_body(resp, CUSTODY__RESPONSE__BODY_CHECKPOINT);
	assert_int_equal(resp->checkpoint->n_cosignatures, 1);
	assert_int_equal(note_verifier_format(&v[1], vkey, sizeof(vkey)), CU_OK);
	assert_string_equal(resp->checkpoint->cosignatures[0]->witness_key, vkey);
	assert_string_equal(resp->checkpoint->cosignatures[0]->signature, line);
	assert_int_equal(note_open(resp->checkpoint->checkpoint,
				   strlen(resp->checkpoint->checkpoint), v, 2, &opened, err,
				   sizeof(err)),
			 CU_OK);
	assert_int_equal(opened.n_verified, 2);
	custody__response__free_unpacked(resp, NULL);
	key_free(wk);
}

static void test_pipelining(void **state)
{
	enum { N = 100 };
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__WhereRequest w = CUSTODY__WHERE_REQUEST__INIT;
	bool seen[N] = {false};
	int fd = connect_daemon();

	(void)state;
	w.serial = "NOT-THERE";
	req.body_case = CUSTODY__REQUEST__BODY_WHERE;
	req.where = &w;
	for (int i = 0; i < N; i++) {
		req.id = 1000 + (uint64_t)i;
		send_frame(fd, &req);
	}
	for (int i = 0; i < N; i++) {
		Custody__Response *resp = recv_frame(fd, TIMEOUT_MS, false);

		assert_non_null(resp);
		assert_true(resp->id >= 1000 && resp->id < 1000 + N);
		assert_false(seen[resp->id - 1000]);
		seen[resp->id - 1000] = true;
		expect_refusal(resp, CUSTODY__ERROR_CODE__NOT_FOUND, "NOT-THERE");
	}
	close(fd);
}

static void test_append_only(void **state)
{
	const char *statements[] = {
	    "UPDATE events SET type = 'DESTROY'",
	    "DELETE FROM events",
	    "DELETE FROM event_devices",
	    "UPDATE admin_actions SET kind = 'x'",
	    "TRUNCATE events CASCADE",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
		PGresult *res = PQexec(pg, statements[i]);

		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		if (strstr(PQresultErrorMessage(res), "append-only") == NULL)
			fail_msg("%s: %s", statements[i], PQresultErrorMessage(res));
		PQclear(res);
	}
	assert_true(count_rows("SELECT count(*) FROM events") > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_truncated_frame),
	    cmocka_unit_test(test_oversized_frame),
	    cmocka_unit_test(test_empty_frame),
	    cmocka_unit_test(test_garbage_frame),
	    cmocka_unit_test(test_unknown_request_type),
	    cmocka_unit_test(test_request_id_zero),
	    cmocka_unit_test(test_missing_fields),
	    cmocka_unit_test(test_unregistered_key),
	    cmocka_unit_test(test_bad_signature),
	    cmocka_unit_test(test_admin_authorization),
	    cmocka_unit_test(test_replay_is_idempotent),
	    cmocka_unit_test(test_stale_prev_conflict),
	    cmocka_unit_test(test_pipelined_conflict),
	    cmocka_unit_test(test_pipelined_chain),
	    cmocka_unit_test(test_destroyed_device),
	    cmocka_unit_test(test_contained_device),
	    cmocka_unit_test(test_pipelining),
	    cmocka_unit_test(test_append_only),
	    cmocka_unit_test(test_log_receipt),
	    cmocka_unit_test(test_log_proofs),
	    cmocka_unit_test(test_log_registrations_and_tiles),
	    cmocka_unit_test(test_cosign),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
