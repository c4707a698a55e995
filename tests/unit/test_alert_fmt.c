/*
 * Unit tests for client/alert_fmt.c: an alert as a watch line, JSON, table
 * row and key/value block; rule hits, id lists and verdicts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alert_fmt.h"
#include "test_util.h"

/* 2026-11-22T13:40:00Z */
#define T0 1795354800000LL

/* An alert with two notes (storage in the fixture). */
struct alert_fixture {
	Custody__Alert a;
	Custody__AlertNoteRecord notes[2];
	Custody__AlertNoteRecord *note_ptrs[2];
	uint8_t id[32];
};

static void alert_fixture_init(struct alert_fixture *x)
{
	custody__alert__init(&x->a);
	memset(x->id, 0x01, sizeof(x->id));
	x->a.id = 17;
	x->a.rule = "handoff.deadline";
	x->a.severity = CUSTODY__SEVERITY__SEVERITY_ALERT;
	x->a.reason = "not received by the deadline";
	x->a.raised_at_ms = T0;
	x->a.event_seq = 12;
	x->a.event_id.data = x->id;
	x->a.event_id.len = sizeof(x->id);
	x->a.device = "SRV-0001";
	x->a.facility = "nw-jp-inzai";
	x->a.country = "JP";
	x->a.exporter = "northwind";
	x->a.state = CUSTODY__ALERT_STATE__ACKNOWLEDGED;
	for (size_t i = 0; i < 2; i++) {
		custody__alert_note_record__init(&x->notes[i]);
		x->note_ptrs[i] = &x->notes[i];
	}
	x->notes[0].admin_seq = 40;
	x->notes[0].party = "bis";
	x->notes[0].note = "looking";
	x->notes[0].at_ms = T0 + 60000;
	x->notes[1].admin_seq = 41;
	x->notes[1].party = "bis";
	x->notes[1].state = CUSTODY__ALERT_STATE__ACKNOWLEDGED;
	x->notes[1].note = "carrier delayed";
	x->notes[1].at_ms = T0 + 120000;
}

static void test_line(void **state)
{
	struct alert_fixture x;
	char line[ALERT_FMT_LINE_MAX];

	(void)state;
	alert_fixture_init(&x);
	alert_fmt_line(&x.a, line, sizeof(line));
	assert_string_equal(line, "alert 17 2026-11-22T13:40:00Z handoff.deadline alert "
				  "acknowledged device=SRV-0001 facility=nw-jp-inzai country=JP "
				  "exporter=northwind event_seq=12: not received by the deadline");
	/* Empty fields read "-"; control characters cannot reach the terminal. */
	x.a.device = "";
	x.a.facility = "";
	x.a.country = "";
	x.a.state = CUSTODY__ALERT_STATE__ALERT_STATE_UNSPECIFIED;
	x.a.event_seq = 0;
	x.a.reason = "evil\n\x1b[2Jreason";
	alert_fmt_line(&x.a, line, sizeof(line));
	assert_string_equal(line, "alert 17 2026-11-22T13:40:00Z handoff.deadline alert - "
				  "device=- facility=- country=- exporter=northwind event_seq=0: "
				  "evil??[2Jreason");
}

static void test_json(void **state)
{
	struct alert_fixture x;
	struct out_json j;
	struct capture c;
	char *text;

	(void)state;
	alert_fixture_init(&x);
	x.a.notes = x.note_ptrs;
	x.a.n_notes = 2;
	capture_begin(&c);
	out_json_init(&j, c.f);
	alert_fmt_json(&j, &x.a);
	text = capture_end(&c);
	assert_string_equal(
	    text,
	    "{\"id\":17,\"rule\":\"handoff.deadline\",\"severity\":\"SEVERITY_ALERT\","
	    "\"reason\":\"not received by the deadline\","
	    "\"raised_at\":\"2026-11-22T13:40:00Z\",\"event_seq\":12,"
	    "\"event_id\":\"0101010101010101010101010101010101010101010101010101010101010101\","
	    "\"device\":\"SRV-0001\",\"facility\":\"nw-jp-inzai\",\"country\":\"JP\","
	    "\"exporter\":\"northwind\",\"state\":\"ACKNOWLEDGED\",\"notes\":["
	    "{\"admin_seq\":40,\"party\":\"bis\",\"state\":null,\"note\":\"looking\","
	    "\"at\":\"2026-11-22T13:41:00Z\"},"
	    "{\"admin_seq\":41,\"party\":\"bis\",\"state\":\"ACKNOWLEDGED\","
	    "\"note\":\"carrier delayed\",\"at\":\"2026-11-22T13:42:00Z\"}]}\n");
	free(text);
}

static void test_table_and_print(void **state)
{
	struct alert_fixture x;
	struct out_table *t = NULL;
	struct capture c;
	char *text;

	(void)state;
	alert_fixture_init(&x);
	assert_int_equal(out_table_new(ALERT_FMT_COLS, alert_fmt_headers, &t), CU_OK);
	alert_fmt_row(t, &x.a);
	capture_begin(&c);
	assert_int_equal(out_table_print(t, c.f), CU_OK);
	out_table_free(t);
	text = capture_end(&c);
	assert_string_equal(text, "ID  RAISED                RULE              SEVERITY  STATE"
				  "         DEVICE    FACILITY     COUNTRY  REASON\n"
				  "17  2026-11-22T13:40:00Z  handoff.deadline  alert     "
				  "acknowledged  SRV-0001  nw-jp-inzai  JP       "
				  "not received by the deadline\n");
	free(text);

	capture_begin(&c);
	assert_int_equal(alert_fmt_print(&x.a, c.f), CU_OK);
	text = capture_end(&c);
	assert_non_null(strstr(text, "alert:      17\n"));
	assert_non_null(strstr(text, "state:      acknowledged\n"));
	assert_non_null(strstr(text, "event:      seq 12, 0101"));
	assert_non_null(strstr(text, "\nno notes\n"));
	free(text);

	x.a.notes = x.note_ptrs;
	x.a.n_notes = 2;
	x.a.event_seq = 0;
	capture_begin(&c);
	assert_int_equal(alert_fmt_print(&x.a, c.f), CU_OK);
	text = capture_end(&c);
	assert_non_null(strstr(text, "event:      none (raised by a timer)\n"));
	assert_non_null(strstr(text, "\n\nADMIN SEQ  AT"));
	assert_non_null(
	    strstr(text, "       40  2026-11-22T13:41:00Z  bis    comment       looking\n"));
	assert_non_null(strstr(text, "       41  2026-11-22T13:42:00Z  bis    acknowledged  "
				     "carrier delayed\n"));
	free(text);
}

static void test_rules_ids_verdict(void **state)
{
	Custody__RuleHit hits[2] = {CUSTODY__RULE_HIT__INIT, CUSTODY__RULE_HIT__INIT};
	Custody__RuleHit *hit_ptrs[2] = {&hits[0], &hits[1]};
	uint64_t ids[3] = {7, 8, 18446744073709551615ULL};
	char text_buf[ALERT_FMT_LINE_MAX];
	struct out_json j;
	struct capture c;
	char *text;

	(void)state;
	hits[0].rule = "state.destroyed";
	hits[0].severity = CUSTODY__SEVERITY__SEVERITY_REJECT;
	hits[0].reason = "the device was destroyed";
	hits[1].rule = "license.none";
	hits[1].severity = CUSTODY__SEVERITY__SEVERITY_ALERT;
	hits[1].reason = "no \"license\"\tcovers it";
	alert_fmt_rule(&hits[0], text_buf, sizeof(text_buf));
	assert_string_equal(text_buf, "state.destroyed (reject): the device was destroyed");
	alert_fmt_rule(&hits[1], text_buf, sizeof(text_buf));
	assert_string_equal(text_buf, "license.none (alert): no \"license\"?covers it");
	alert_fmt_ids(ids, 0, text_buf, sizeof(text_buf));
	assert_string_equal(text_buf, "-");
	alert_fmt_ids(ids, 3, text_buf, sizeof(text_buf));
	assert_string_equal(text_buf, "7, 8, 18446744073709551615");
	alert_fmt_ids(ids, 3, text_buf, 6);
	assert_string_equal(text_buf, "7, 8,");

	capture_begin(&c);
	out_json_init(&j, c.f);
	out_json_begin_object(&j);
	out_json_key(&j, "verdict");
	alert_fmt_verdict_json(&j, CUSTODY__VERDICT__ACCEPT_WITH_ALERTS);
	out_json_key(&j, "unset");
	alert_fmt_verdict_json(&j, CUSTODY__VERDICT__VERDICT_UNSPECIFIED);
	out_json_key(&j, "rules");
	alert_fmt_rules_json(&j, hit_ptrs, 2);
	out_json_key(&j, "none");
	alert_fmt_rules_json(&j, hit_ptrs, 0);
	out_json_key(&j, "alert_ids");
	alert_fmt_ids_json(&j, ids, 3);
	out_json_end_object(&j);
	text = capture_end(&c);
	assert_string_equal(text, "{\"verdict\":\"ACCEPT_WITH_ALERTS\",\"unset\":null,\"rules\":["
				  "{\"rule\":\"state.destroyed\",\"severity\":\"SEVERITY_REJECT\","
				  "\"reason\":\"the device was destroyed\"},"
				  "{\"rule\":\"license.none\",\"severity\":\"SEVERITY_ALERT\","
				  "\"reason\":\"no \\\"license\\\"\\tcovers it\"}],\"none\":[],"
				  "\"alert_ids\":[7,8,18446744073709551615]}\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_table_and_print),
	    cmocka_unit_test(test_rules_ids_verdict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
