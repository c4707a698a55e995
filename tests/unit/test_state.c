/* Unit tests for daemon/state.c: every event type's requirements and
 * effects, containment, terminal states, chain conflicts, and that a
 * refused event leaves the working set unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "models.h"
#include "state.h"

#define MAX_REFS 16

/* An event under construction, with storage for its device refs. */
struct ev_builder {
	Custody__Event ev;
	Custody__DeviceRef refs[MAX_REFS];
	Custody__DeviceRef *ptrs[MAX_REFS];
	Custody__DeviceRef container;
};

struct fixture {
	struct models *models;
	struct state_ws *ws;
	uint64_t seq;
	uint8_t id[32];
	struct state_result res;
};

static struct fixture fx;

static int setup(void **state)
{
	char path[] = "/tmp/custody-models-XXXXXX";
	char err[256];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	(void)state;
	fputs("# test model table\nmodel,vendor,tpp,eccn_class\nH100-SXM,NVIDIA,15832,3A090.a\n"
	      "H20,NVIDIA,2368,none\n",
	      f);
	fclose(f);
	assert_int_equal(models_load(path, &fx.models, err, sizeof(err)), CU_OK);
	unlink(path);
	fx.ws = state_ws_new();
	assert_non_null(fx.ws);
	fx.seq = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	state_result_clear(&fx.res);
	state_ws_free(fx.ws);
	models_free(fx.models);
	return 0;
}

static void begin(struct ev_builder *b, Custody__EventType type, const char *facility)
{
	memset(b, 0, sizeof(*b));
	custody__event__init(&b->ev);
	b->ev.type = type;
	b->ev.actor = "acme";
	b->ev.occurred_at_ms = 1795354800000LL;
	b->ev.facility = (char *)facility;
	b->ev.devices = b->ptrs;
	custody__device_ref__init(&b->container);
}

/* Adds serial with its current head as prev (or none when unknown). */
static void add(struct ev_builder *b, const char *serial)
{
	Custody__DeviceRef *r = &b->refs[b->ev.n_devices];
	const struct dev *d = state_ws_get(fx.ws, serial);

	custody__device_ref__init(r);
	r->serial = (char *)serial;
	if (d != NULL) {
		r->prev.data = (uint8_t *)d->head_id;
		r->prev.len = 32;
	}
	b->ptrs[b->ev.n_devices++] = r;
}

static void add_new(struct ev_builder *b, const char *serial, Custody__DeviceKind kind,
		    const char *model)
{
	add(b, serial);
	b->refs[b->ev.n_devices - 1].prev.len = 0;
	b->refs[b->ev.n_devices - 1].kind = kind;
	b->refs[b->ev.n_devices - 1].model = (char *)model;
}

static void set_container(struct ev_builder *b, const char *serial)
{
	const struct dev *d = state_ws_get(fx.ws, serial);

	b->container.serial = (char *)serial;
	b->container.prev.data = (uint8_t *)d->head_id;
	b->container.prev.len = 32;
	b->ev.container = &b->container;
}

/* Applies b; returns the verdict code (0 = accepted). */
static int apply(struct ev_builder *b)
{
	struct state_ctx ctx = {0};

	state_result_clear(&fx.res);
	ctx.ship_deadline_ms = 14 * 86400000LL;
	ctx.rma_deadline_ms = 60 * 86400000LL;
	fx.seq++;
	memset(fx.id, 0, sizeof(fx.id));
	memcpy(fx.id, &fx.seq, sizeof(fx.seq));
	ctx.event_id = fx.id;
	ctx.seq = fx.seq;
	ctx.models = fx.models;
	assert_int_equal(state_apply(fx.ws, &b->ev, &ctx, &fx.res), CU_OK);
	if (fx.res.code != 0)
		fx.seq--; /* refused events get no sequence number */
	return fx.res.code;
}

static void expect_rejected(struct ev_builder *b, const char *rule)
{
	assert_int_equal(apply(b), CUSTODY__ERROR_CODE__REJECTED);
	assert_string_equal(fx.res.rule, rule);
	assert_true(strlen(fx.res.message) > 10);
}

static const struct dev *get(const char *serial)
{
	const struct dev *d = state_ws_get(fx.ws, serial);

	assert_non_null(d);
	return d;
}

/* Registers SRV-1 holding GPU-1, GPU-2 at us-1. */
static void build_server(void)
{
	struct ev_builder b;

	begin(&b, CUSTODY__EVENT_TYPE__REGISTER, "us-1");
	add_new(&b, "GPU-1", CUSTODY__DEVICE_KIND__CHIP, "H100-SXM");
	add_new(&b, "GPU-2", CUSTODY__DEVICE_KIND__CHIP, "H100-SXM");
	add_new(&b, "SRV-1", CUSTODY__DEVICE_KIND__SERVER, "DGX-H100");
	assert_int_equal(apply(&b), 0);
	begin(&b, CUSTODY__EVENT_TYPE__PACK, "us-1");
	add(&b, "GPU-1");
	add(&b, "GPU-2");
	set_container(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);
}

static void test_register(void **state)
{
	struct ev_builder b;
	const struct dev *d;

	(void)state;
	begin(&b, CUSTODY__EVENT_TYPE__REGISTER, "us-1");
	add_new(&b, "GPU-1", CUSTODY__DEVICE_KIND__CHIP, "H100-SXM");
	add_new(&b, "SRV-1", CUSTODY__DEVICE_KIND__SERVER, "DGX-H100");
	assert_int_equal(apply(&b), 0);
	assert_int_equal(fx.res.n_links, 2);
	assert_int_equal(fx.res.links[0].prev_seq, 0);
	d = get("GPU-1");
	assert_true(d->is_new && d->dirty);
	assert_int_equal(d->tpp, 15832);
	assert_string_equal(d->eccn_class, "3A090.a");
	assert_string_equal(d->owner, "acme");
	assert_string_equal(d->custodian, "acme");
	assert_string_equal(d->facility, "us-1");
	assert_int_equal(d->status, CUSTODY__DEVICE_STATUS__STORED);
	assert_int_equal(d->head_seq, 1);
	assert_int_equal(get("SRV-1")->tpp, 0); /* containers sum their contents */

	/* Registering again: CONFLICT with the current head. */
	begin(&b, CUSTODY__EVENT_TYPE__REGISTER, "us-1");
	add_new(&b, "GPU-1", CUSTODY__DEVICE_KIND__CHIP, "H100-SXM");
	assert_int_equal(apply(&b), CUSTODY__ERROR_CODE__CONFLICT);
	assert_int_equal(fx.res.n_heads, 1);
	assert_string_equal(fx.res.heads[0].serial, "GPU-1");
	assert_memory_equal(fx.res.heads[0].head_id, get("GPU-1")->head_id, 32);

	/* A chip of unknown model cannot be classified. */
	begin(&b, CUSTODY__EVENT_TYPE__REGISTER, "us-1");
	add_new(&b, "GPU-9", CUSTODY__DEVICE_KIND__CHIP, "Mystery-9000");
	expect_rejected(&b, "model.unknown");
	assert_null(state_ws_get(fx.ws, "GPU-9"));
}

static void test_pack_and_containment(void **state)
{
	struct ev_builder b;

	(void)state;
	build_server();
	assert_string_equal(get("GPU-1")->parent, "SRV-1");
	assert_int_equal(fx.res.n_links, 3); /* two items and the container */

	/* A contained chip cannot be shipped alone. */
	begin(&b, CUSTODY__EVENT_TYPE__SHIP, "us-1");
	b.ev.to_facility = "jp-1";
	add(&b, "GPU-1");
	expect_rejected(&b, "state.contained");
	assert_int_equal(get("GPU-1")->status, CUSTODY__DEVICE_STATUS__STORED);

	/* Kinds nest: a server does not go inside a chip. */
	begin(&b, CUSTODY__EVENT_TYPE__REGISTER, "us-1");
	add_new(&b, "GPU-3", CUSTODY__DEVICE_KIND__CHIP, "H20");
	assert_int_equal(apply(&b), 0);
	begin(&b, CUSTODY__EVENT_TYPE__PACK, "us-1");
	add(&b, "SRV-1");
	set_container(&b, "GPU-3");
	expect_rejected(&b, "state.pack_kind");

	/* UNPACK only what is inside. */
	begin(&b, CUSTODY__EVENT_TYPE__UNPACK, "us-1");
	add(&b, "GPU-3");
	set_container(&b, "SRV-1");
	expect_rejected(&b, "state.not_inside");
	begin(&b, CUSTODY__EVENT_TYPE__UNPACK, "us-1");
	add(&b, "GPU-2");
	set_container(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);
	assert_string_equal(get("GPU-2")->parent, "");
	assert_string_equal(get("GPU-1")->parent, "SRV-1");
}

static void test_ship_moves_contents(void **state)
{
	struct ev_builder b;
	const struct dev *gpu;
	uint64_t gpu_head;

	(void)state;
	build_server();
	gpu_head = get("GPU-1")->head_seq;
	begin(&b, CUSTODY__EVENT_TYPE__SHIP, "us-1");
	b.ev.to_facility = "jp-1";
	b.ev.carrier = "fastfreight";
	add(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);
	/* One own link for the server, one via-link per chip inside. */
	assert_int_equal(fx.res.n_links, 3);
	assert_string_equal(fx.res.links[0].serial, "SRV-1");
	assert_string_equal(fx.res.links[0].via, "");
	assert_string_equal(fx.res.links[1].via, "SRV-1");
	gpu = get("GPU-1");
	assert_int_equal(gpu->status, CUSTODY__DEVICE_STATUS__IN_TRANSIT);
	assert_string_equal(gpu->dest_facility, "jp-1");
	assert_string_equal(gpu->custodian, "fastfreight");
	assert_int_equal(gpu->head_seq, gpu_head); /* its own chain is untouched */
	assert_int_equal(gpu->last_seq, fx.seq);

	/* Received in Japan: everything inside arrives too. */
	begin(&b, CUSTODY__EVENT_TYPE__RECEIVE, "jp-1");
	b.ev.actor = "acme-jp";
	add(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);
	gpu = get("GPU-2");
	assert_int_equal(gpu->status, CUSTODY__DEVICE_STATUS__STORED);
	assert_string_equal(gpu->facility, "jp-1");
	assert_string_equal(gpu->dest_facility, "");
	assert_string_equal(gpu->custodian, "acme-jp");

	/* Shipped on without a carrier: the shipper, not the last carrier, has it. */
	begin(&b, CUSTODY__EVENT_TYPE__SHIP, "jp-1");
	b.ev.actor = "acme-jp";
	b.ev.to_facility = "us-1";
	add(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);
	assert_string_equal(get("GPU-2")->custodian, "acme-jp");
	begin(&b, CUSTODY__EVENT_TYPE__RECEIVE, "jp-1");
	b.ev.actor = "acme-jp";
	add(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);

	begin(&b, CUSTODY__EVENT_TYPE__INSTALL, "jp-1");
	b.ev.location = "hall-2/rack-14";
	add(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);
	assert_int_equal(get("GPU-1")->status, CUSTODY__DEVICE_STATUS__INSTALLED);
	assert_string_equal(get("GPU-1")->location, "hall-2/rack-14");

	/* Installed hardware must be removed before it ships. */
	begin(&b, CUSTODY__EVENT_TYPE__SHIP, "jp-1");
	b.ev.to_facility = "us-1";
	add(&b, "SRV-1");
	expect_rejected(&b, "state.status");
	assert_non_null(strstr(fx.res.message, "REMOVE"));
}

static void test_stale_prev(void **state)
{
	struct ev_builder b;
	uint8_t old_head[32];

	(void)state;
	build_server();
	memcpy(old_head, get("SRV-1")->head_id, 32);
	begin(&b, CUSTODY__EVENT_TYPE__MOVE, "us-1");
	b.ev.location = "cage 3";
	add(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);

	begin(&b, CUSTODY__EVENT_TYPE__MOVE, "us-1");
	b.ev.location = "cage 4";
	add(&b, "SRV-1");
	b.refs[0].prev.data = old_head;
	assert_int_equal(apply(&b), CUSTODY__ERROR_CODE__CONFLICT);
	assert_int_equal(fx.res.n_heads, 1);
	assert_memory_equal(fx.res.heads[0].head_id, get("SRV-1")->head_id, 32);
	assert_string_equal(get("SRV-1")->location, "cage 3");

	begin(&b, CUSTODY__EVENT_TYPE__MOVE, "us-1");
	b.ev.location = "cage 4";
	add(&b, "NOPE-1");
	b.refs[0].prev.data = old_head;
	b.refs[0].prev.len = 32;
	assert_int_equal(apply(&b), CUSTODY__ERROR_CODE__NOT_FOUND);
}

static void test_facility_mismatch(void **state)
{
	struct ev_builder b;

	(void)state;
	build_server();
	begin(&b, CUSTODY__EVENT_TYPE__INSTALL, "jp-1");
	add(&b, "SRV-1");
	expect_rejected(&b, "state.facility_mismatch");
	assert_int_equal(get("SRV-1")->status, CUSTODY__DEVICE_STATUS__STORED);
}

static void test_terminal_states(void **state)
{
	struct ev_builder b;

	(void)state;
	build_server();
	begin(&b, CUSTODY__EVENT_TYPE__DECOMMISSION, "us-1");
	add(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);
	assert_int_equal(get("GPU-1")->status, CUSTODY__DEVICE_STATUS__DECOMMISSIONED);

	begin(&b, CUSTODY__EVENT_TYPE__INSTALL, "us-1");
	add(&b, "SRV-1");
	expect_rejected(&b, "state.decommissioned");

	begin(&b, CUSTODY__EVENT_TYPE__DESTROY, "us-1");
	add(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);
	assert_int_equal(get("GPU-2")->status, CUSTODY__DEVICE_STATUS__DESTROYED);

	/* Nothing happens to a destroyed device, not even an attestation. */
	begin(&b, CUSTODY__EVENT_TYPE__ATTEST, "");
	add(&b, "GPU-1");
	expect_rejected(&b, "state.destroyed");
	begin(&b, CUSTODY__EVENT_TYPE__REPORT, "");
	b.ev.reason = CUSTODY__REPORT_REASON__REPORT_STOLEN;
	add(&b, "SRV-1");
	expect_rejected(&b, "state.destroyed");
}

static void test_report_and_rma(void **state)
{
	struct ev_builder b;

	(void)state;
	build_server();
	/* A chip reported stolen is no longer inside its server. */
	begin(&b, CUSTODY__EVENT_TYPE__REPORT, "");
	b.ev.reason = CUSTODY__REPORT_REASON__REPORT_STOLEN;
	add(&b, "GPU-1");
	assert_int_equal(apply(&b), 0);
	assert_int_equal(get("GPU-1")->status, CUSTODY__DEVICE_STATUS__STOLEN);
	assert_string_equal(get("GPU-1")->parent, "");
	assert_null(get("SRV-1")->first_child->next_sibling); /* only GPU-2 left */

	begin(&b, CUSTODY__EVENT_TYPE__REPORT, "jp-1");
	b.ev.reason = CUSTODY__REPORT_REASON__REPORT_FOUND;
	add(&b, "GPU-2");
	expect_rejected(&b, "state.status");

	begin(&b, CUSTODY__EVENT_TYPE__REPORT, "jp-1");
	b.ev.reason = CUSTODY__REPORT_REASON__REPORT_FOUND;
	add(&b, "GPU-1");
	assert_int_equal(apply(&b), 0);
	assert_int_equal(get("GPU-1")->status, CUSTODY__DEVICE_STATUS__STORED);
	assert_string_equal(get("GPU-1")->facility, "jp-1");

	/*
	 * RMA_IN of a unit that was not sent out is possible (a different unit
	 * came back): the state machine takes it, the rules raise rma.swap.
	 */
	begin(&b, CUSTODY__EVENT_TYPE__RMA_IN, "us-1");
	add(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);
	assert_int_equal(get("SRV-1")->status, CUSTODY__DEVICE_STATUS__STORED);
	begin(&b, CUSTODY__EVENT_TYPE__RMA_OUT, "us-1");
	b.ev.to_facility = "repair-1";
	b.ev.occurred_at_ms = 1795354800000LL + 1000;
	add(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);
	assert_int_equal(get("GPU-2")->status, CUSTODY__DEVICE_STATUS__IN_REPAIR);
	/* Under way: the shipment and its default deadline reach the contents. */
	assert_int_equal(get("GPU-2")->shipment_seq, fx.seq);
	assert_int_equal(get("GPU-2")->deadline_ms, 1795354800000LL + 1000 + 60 * 86400000LL);
	assert_int_equal(get("GPU-2")->last_at_ms, 1795354800000LL + 1000);
	begin(&b, CUSTODY__EVENT_TYPE__RMA_IN, "us-1");
	b.ev.occurred_at_ms = 1795354800000LL + 2000;
	add(&b, "SRV-1");
	assert_int_equal(apply(&b), 0);
	assert_int_equal(get("GPU-2")->status, CUSTODY__DEVICE_STATUS__STORED);
	assert_int_equal(get("GPU-2")->shipment_seq, 0);
	assert_int_equal(get("GPU-2")->deadline_ms, 0);
	assert_int_equal(get("SRV-1")->last_at_ms, 1795354800000LL + 2000);
}

static void test_nested_containers(void **state)
{
	struct ev_builder b;

	(void)state;
	build_server();
	begin(&b, CUSTODY__EVENT_TYPE__REGISTER, "us-1");
	add_new(&b, "RACK-1", CUSTODY__DEVICE_KIND__RACK, "NVL-rack");
	assert_int_equal(apply(&b), 0);
	begin(&b, CUSTODY__EVENT_TYPE__PACK, "us-1");
	add(&b, "SRV-1");
	set_container(&b, "RACK-1");
	assert_int_equal(apply(&b), 0);

	begin(&b, CUSTODY__EVENT_TYPE__SHIP, "us-1");
	b.ev.to_facility = "jp-1";
	add(&b, "RACK-1");
	assert_int_equal(apply(&b), 0);
	assert_int_equal(fx.res.n_links, 4); /* rack, server, two chips */
	for (size_t i = 1; i < fx.res.n_links; i++)
		assert_string_equal(fx.res.links[i].via, "RACK-1");
	assert_int_equal(get("GPU-2")->status, CUSTODY__DEVICE_STATUS__IN_TRANSIT);

	/* The server inside the rack cannot be received on its own. */
	begin(&b, CUSTODY__EVENT_TYPE__RECEIVE, "jp-1");
	add(&b, "SRV-1");
	expect_rejected(&b, "state.contained");
}

static void test_loaded_rows_link(void **state)
{
	struct state_ws *ws = state_ws_new();
	struct dev row;

	(void)state;
	memset(&row, 0, sizeof(row));
	strcpy(row.serial, "SRV-9");
	assert_int_equal(state_ws_add(ws, &row), CU_OK);
	strcpy(row.serial, "GPU-9");
	strcpy(row.parent, "SRV-9");
	assert_int_equal(state_ws_add(ws, &row), CU_OK);
	state_ws_link(ws);
	assert_ptr_equal(state_ws_get(ws, "SRV-9")->first_child, state_ws_get(ws, "GPU-9"));
	assert_false(state_ws_get(ws, "GPU-9")->dirty);
	state_ws_free(ws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_register, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pack_and_containment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ship_moves_contents, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_prev, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_facility_mismatch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_terminal_states, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_and_rma, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nested_containers, setup, teardown),
	    cmocka_unit_test(test_loaded_rows_link),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
