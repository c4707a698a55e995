/*
 * Unit tests for client/report_fmt.c: RFC 4180 quoting, and the VEU report
 * and shipment notice as CSV, JSON and text, read back from memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report_fmt.h"
#include "test_util.h"

/* 2026-11-22T13:40:00Z */
#define T0 1795354800000LL

/* What a writer put into a memory stream; the caller frees it. */

/* The CSV text of one field. */
static char *csv_of(const char *s)
{
	struct capture c;

	capture_begin(&c);
	report_fmt_csv_field(c.f, s);
	return capture_end(&c);
}

static void test_csv_field(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"GPU-0001", "GPU-0001"},
	    {"", ""},
	    {"Northwind, Inc.", "\"Northwind, Inc.\""},
	    {"19\" rack", "\"19\"\" rack\""},
	    {"two\nlines", "\"two\nlines\""},
	    {"cr\rhere", "\"cr\rhere\""},
	    {"\"", "\"\"\"\""},
	    {" spaced ", " spaced "},
	    {"caf\xc3\xa9", "caf\xc3\xa9"},
	};
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = csv_of(cases[i].in);
		assert_string_equal(text, cases[i].out);
		free(text);
	}
	text = csv_of(NULL);
	assert_string_equal(text, "");
	free(text);
}

static void test_csv_record(void **state)
{
	const char *fields[] = {"a", "b,c", "", "d\"e"};
	struct capture c;
	char *text;

	(void)state;
	capture_begin(&c);
	report_fmt_csv_record(c.f, fields, 4);
	report_fmt_csv_record(c.f, fields, 1);
	text = capture_end(&c);
	assert_string_equal(text, "a,\"b,c\",,\"d\"\"e\"\na\n");
	free(text);
}

/* Storage of a small VEU report: two sites, two items at the first. */
struct veu_fixture {
	Custody__VeuReport report;
	Custody__VeuSite sites[2];
	Custody__VeuSite *site_ptrs[2];
	Custody__ReportItem items[2];
	Custody__ReportItem *item_ptrs[2];
	uint8_t id[32];
};

static void veu_fixture_init(struct veu_fixture *x)
{
	custody__veu_report__init(&x->report);
	x->report.exporter = "northwind";
	x->report.from_ms = T0;
	x->report.to_ms = T0 + 86400000LL;
	for (size_t i = 0; i < 2; i++) {
		custody__veu_site__init(&x->sites[i]);
		x->site_ptrs[i] = &x->sites[i];
		custody__report_item__init(&x->items[i]);
		x->item_ptrs[i] = &x->items[i];
	}
	memset(x->id, 0xab, sizeof(x->id));
	x->sites[0].facility = "nw-jp-inzai";
	x->sites[0].name = "Northwind \"Inzai\", DC";
	x->sites[0].country = "JP";
	x->sites[0].operator_ = "northwind";
	x->sites[0].received = x->item_ptrs;
	x->sites[0].n_received = 2;
	x->sites[0].on_hand_chips = 8;
	x->sites[0].on_hand_tpp = 126656;
	x->sites[1].facility = "nw-sg-1";
	x->sites[1].name = "Empty";
	x->sites[1].country = "SG";
	x->sites[1].on_hand_chips = 1;
	x->sites[1].on_hand_tpp = 100;
	x->items[0].serial = "GPU-0001";
	x->items[0].kind = CUSTODY__DEVICE_KIND__CHIP;
	x->items[0].model = "H100-SXM";
	x->items[0].eccn_class = "3A090.a";
	x->items[0].tpp = 15832;
	x->items[0].via = "SRV-0001";
	x->items[0].received_at_ms = T0;
	x->items[0].event_id.data = x->id;
	x->items[0].event_id.len = sizeof(x->id);
	x->items[0].from_facility = "nw-us-hillsboro";
	x->items[0].status = CUSTODY__DEVICE_STATUS__INSTALLED;
	x->items[1].serial = "SRV-0001";
	x->items[1].kind = CUSTODY__DEVICE_KIND__SERVER;
	x->items[1].model = "DGX-H100";
	x->report.sites = x->site_ptrs;
	x->report.n_sites = 2;
}

#define ID_HEX "abababababababababababababababababababababababababababababababab"

static void test_veu_csv(void **state)
{
	struct veu_fixture x;
	struct capture c;
	char *text;

	(void)state;
	veu_fixture_init(&x);
	capture_begin(&c);
	report_fmt_veu_csv(c.f, &x.report);
	text = capture_end(&c);
	assert_string_equal(
	    text, "site,site_name,country,serial,kind,model,eccn,tpp,received_at,via,"
		  "from_facility,status,event_id\n"
		  "nw-jp-inzai,\"Northwind \"\"Inzai\"\", DC\",JP,GPU-0001,CHIP,H100-SXM,3A090.a,"
		  "15832,2026-11-22T13:40:00Z,SRV-0001,nw-us-hillsboro,INSTALLED," ID_HEX "\n"
		  "nw-jp-inzai,\"Northwind \"\"Inzai\"\", DC\",JP,SRV-0001,SERVER,DGX-H100,,0,,,,,"
		  "\n");
	free(text);
}

static void test_veu_json(void **state)
{
	struct veu_fixture x;
	struct out_json j;
	struct capture c;
	char *text;

	(void)state;
	veu_fixture_init(&x);
	x.sites[0].n_received = 1;
	capture_begin(&c);
	out_json_init(&j, c.f);
	report_fmt_veu_json(&j, &x.report);
	text = capture_end(&c);
	assert_string_equal(
	    text,
	    "{\"exporter\":\"northwind\",\"from\":\"2026-11-22T13:40:00Z\","
	    "\"to\":\"2026-11-23T13:40:00Z\",\"sites\":["
	    "{\"facility\":\"nw-jp-inzai\",\"name\":\"Northwind \\\"Inzai\\\", DC\","
	    "\"country\":\"JP\",\"operator\":\"northwind\",\"received\":["
	    "{\"serial\":\"GPU-0001\",\"kind\":\"CHIP\",\"model\":\"H100-SXM\","
	    "\"eccn_class\":\"3A090.a\",\"tpp\":15832,\"received_at\":\"2026-11-22T13:40:00Z\","
	    "\"via\":\"SRV-0001\",\"from_facility\":\"nw-us-hillsboro\",\"status\":\"INSTALLED\","
	    "\"event_id\":\"" ID_HEX "\"}],"
	    "\"received_items\":1,\"received_tpp\":15832,\"on_hand_chips\":8,"
	    "\"on_hand_tpp\":126656},"
	    "{\"facility\":\"nw-sg-1\",\"name\":\"Empty\",\"country\":\"SG\",\"operator\":\"\","
	    "\"received\":[],\"received_items\":0,\"received_tpp\":0,\"on_hand_chips\":1,"
	    "\"on_hand_tpp\":100}],"
	    "\"totals\":{\"sites\":2,\"received_items\":1,\"received_tpp\":15832,"
	    "\"on_hand_chips\":9,\"on_hand_tpp\":126756}}\n");
	free(text);
}

/* A shipment notice of the two items of the VEU fixture. */
static void shipment_init(Custody__ShipmentNotice *n, struct veu_fixture *x)
{
	custody__shipment_notice__init(n);
	n->event_id.data = x->id;
	n->event_id.len = sizeof(x->id);
	n->seq = 12;
	n->type = CUSTODY__EVENT_TYPE__SHIP;
	n->exporter = "northwind";
	n->from_facility = "nw-us-hillsboro";
	n->from_country = "US";
	n->to_facility = "nw-jp-inzai";
	n->to_country = "JP";
	n->shipped_at_ms = T0;
	n->license = "D1234567";
	n->items = x->item_ptrs;
	n->n_items = 2;
	n->total_chips = 1;
	n->total_tpp = 15832;
}

static void test_shipment_csv(void **state)
{
	Custody__ShipmentNotice n;
	struct veu_fixture x;
	struct capture c;
	char *text;

	(void)state;
	veu_fixture_init(&x);
	shipment_init(&n, &x);
	capture_begin(&c);
	report_fmt_shipment_csv(c.f, &n);
	text = capture_end(&c);
	assert_string_equal(text,
			    "serial,kind,model,eccn,tpp,received_at,via,from_facility,status,"
			    "event_id\n"
			    "GPU-0001,CHIP,H100-SXM,3A090.a,15832,2026-11-22T13:40:00Z,SRV-0001,"
			    "nw-us-hillsboro,INSTALLED," ID_HEX "\n"
			    "SRV-0001,SERVER,DGX-H100,,0,,,,,\n");
	free(text);
}

static void test_shipment_json(void **state)
{
	Custody__ShipmentNotice n;
	struct veu_fixture x;
	struct out_json j;
	struct capture c;
	char *text;

	(void)state;
	veu_fixture_init(&x);
	shipment_init(&n, &x);
	n.n_items = 0;
	capture_begin(&c);
	out_json_init(&j, c.f);
	report_fmt_shipment_json(&j, &n);
	text = capture_end(&c);
	assert_string_equal(
	    text, "{\"event_id\":\"" ID_HEX "\",\"seq\":12,\"type\":\"SHIP\","
		  "\"exporter\":\"northwind\",\"from_facility\":\"nw-us-hillsboro\","
		  "\"from_country\":\"US\",\"to_facility\":\"nw-jp-inzai\",\"to_country\":\"JP\","
		  "\"consignee\":\"\",\"carrier\":\"\",\"shipped_at\":\"2026-11-22T13:40:00Z\","
		  "\"deadline\":null,\"license\":\"D1234567\",\"items\":[],\"total_items\":0,"
		  "\"total_chips\":1,\"total_tpp\":15832,\"received\":false}\n");
	free(text);
}

static void test_shipment_text(void **state)
{
	Custody__ShipmentNotice n;
	struct veu_fixture x;
	struct capture c;
	char *text;

	(void)state;
	veu_fixture_init(&x);
	shipment_init(&n, &x);
	n.carrier = "bad\x1b[31mcarrier";
	capture_begin(&c);
	assert_int_equal(report_fmt_shipment_print(&n, c.f), CU_OK);
	text = capture_end(&c);
	assert_non_null(strstr(text, "shipment:   " ID_HEX " (SHIP, seq 12)\n"));
	assert_non_null(strstr(text, "from:       nw-us-hillsboro (US)\n"));
	assert_non_null(strstr(text, "to:         nw-jp-inzai (JP)\n"));
	assert_non_null(strstr(text, "consignee:  -\n"));
	assert_non_null(strstr(text, "carrier:    bad?[31mcarrier\n"));
	assert_non_null(strstr(text, "deadline:   -\n"));
	assert_non_null(strstr(text, "license:    D1234567\n"));
	assert_non_null(strstr(text, "totals:     2 items, 1 chip, TPP 15832\n"));
	assert_non_null(strstr(text, "received:   not yet\n"));
	assert_non_null(strstr(
	    text,
	    "\n\nSERIAL    KIND    MODEL     ECCN       TPP  VIA       STATUS     RECEIVED\n"));
	assert_non_null(strstr(text,
			       "\nGPU-0001  chip    H100-SXM  3A090.a  15832  SRV-0001  installed  "
			       "2026-11-22T13:40:00Z\n"));
	assert_non_null(strstr(text,
			       "\nSRV-0001  server  DGX-H100  -            0  -         -          "
			       "-\n"));
	assert_null(strchr(text, '\x1b'));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_csv_field),	  cmocka_unit_test(test_csv_record),
	    cmocka_unit_test(test_veu_csv),	  cmocka_unit_test(test_veu_json),
	    cmocka_unit_test(test_shipment_csv),  cmocka_unit_test(test_shipment_json),
	    cmocka_unit_test(test_shipment_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
