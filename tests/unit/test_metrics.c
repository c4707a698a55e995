/* Unit tests for daemon/metrics.c: the Prometheus text rendering of
 * counters, histograms and gauges, its labels and their escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "custody.pb-c.h"
#include "metrics.h"

static const char *const states[] = {"down", "idle", "writing"};

static void gauges(struct metrics_gauges *g)
{
	memset(g, 0, sizeof(*g));
	g->verify_queue = 3;
	g->verify_threads = 2;
	g->conns_unix = 4;
	g->conns_tcp = 1;
	g->lanes[0] = (struct metrics_lane){"write", true, 1, 1, 0};
	g->lanes[1] = (struct metrics_lane){"read", false, 4, 0, 7};
	g->seq_states = states;
	g->n_seq_states = 3;
	g->seq_state = "idle";
	g->log_loaded = true;
	g->log_size = 42;
	g->last_checkpoint_ms = 1700000000500;
	g->held_bytes = 4096;
	g->tile_cache_tiles = 12;
	g->tile_cache_hits = 345;
	g->tile_cache_misses = 6;
	g->ready = true;
}

static char *render(void)
{
	struct metrics_gauges g;
	char *text = NULL;
	size_t len = 0;

	gauges(&g);
	assert_int_equal(metrics_render(&g, &text, &len), CU_OK);
	assert_int_equal(strlen(text), len);
	return text;
}

/* Asserts that text has line as a whole line. */
static void has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	}
	fail_msg("missing line: %s", line);
}

static void test_counters(void **state)
{
	char *text;

	(void)state;
	metrics_init("1.2.3", 1700000000000);
	for (int i = 0; i < 3; i++)
		metrics_request(CUSTODY__REQUEST__BODY_SUBMIT, 0);
	metrics_request(CUSTODY__REQUEST__BODY_WHERE, CUSTODY__ERROR_CODE__NOT_FOUND);
	metrics_request(0, CUSTODY__ERROR_CODE__BAD_REQUEST);
	metrics_request(1000, 99); /* out of range: unknown, internal */
	metrics_event(CUSTODY__EVENT_TYPE__REGISTER, CUSTODY__VERDICT__ACCEPT);
	metrics_event(CUSTODY__EVENT_TYPE__SHIP, CUSTODY__VERDICT__REJECT);
	metrics_event(CUSTODY__EVENT_TYPE__SHIP, CUSTODY__VERDICT__REJECT);
	metrics_alert("route.hub");
	metrics_alert("route.hub");
	metrics_alert("say \"hi\"\\\n");
	text = render();
	has_line(text, "# TYPE custody_requests_total counter");
	has_line(text, "custody_requests_total{type=\"submit\",outcome=\"ok\"} 3");
	has_line(text, "custody_requests_total{type=\"where\",outcome=\"not_found\"} 1");
	has_line(text, "custody_requests_total{type=\"unknown\",outcome=\"bad_request\"} 1");
	has_line(text, "custody_requests_total{type=\"unknown\",outcome=\"internal\"} 1");
	assert_null(strstr(text, "outcome=\"ok\"} 0"));
	has_line(text, "custody_events_total{type=\"register\",verdict=\"accept\"} 1");
	has_line(text, "custody_events_total{type=\"ship\",verdict=\"reject\"} 2");
	has_line(text, "custody_alerts_total{rule=\"route.hub\"} 2");
	has_line(text, "custody_alerts_total{rule=\"say \\\"hi\\\"\\\\\\n\"} 1");
	has_line(text, "custody_build_info{version=\"1.2.3\"} 1");
	has_line(text, "process_start_time_seconds 1700000000");
	free(text);
}

static void test_too_many_rules(void **state)
{
	char name[32], *text;

	(void)state;
	metrics_init("x", 0);
	for (int i = 0; i < METRICS_MAX_RULES + 5; i++) {
		snprintf(name, sizeof(name), "rule.%d", i);
		metrics_alert(name);
	}
	text = render();
	has_line(text, "custody_alerts_total{rule=\"rule.0\"} 1");
	has_line(text, "custody_alerts_total{rule=\"other\"} 5");
	assert_null(strstr(text, "rule.64\""));
	free(text);
}

static void test_histograms(void **state)
{
	char *text;

	(void)state;
	metrics_init("x", 0);
	metrics_batch(1, 300);	   /* 0.0003 s */
	metrics_batch(7, 2000);	   /* 0.002 s */
	metrics_batch(512, 20000); /* 0.02 s */
	metrics_batch(100000, 60000000);
	text = render();
	has_line(text, "# TYPE custody_batch_size histogram");
	has_line(text, "custody_batch_size_bucket{le=\"1\"} 1");
	has_line(text, "custody_batch_size_bucket{le=\"5\"} 1");
	has_line(text, "custody_batch_size_bucket{le=\"10\"} 2");
	has_line(text, "custody_batch_size_bucket{le=\"500\"} 2");
	has_line(text, "custody_batch_size_bucket{le=\"1000\"} 3");
	has_line(text, "custody_batch_size_bucket{le=\"5000\"} 3");
	has_line(text, "custody_batch_size_bucket{le=\"+Inf\"} 4");
	has_line(text, "custody_batch_size_count 4");
	has_line(text, "custody_batch_size_sum 100520");
	has_line(text, "custody_batch_commit_seconds_bucket{le=\"0.0005\"} 1");
	has_line(text, "custody_batch_commit_seconds_bucket{le=\"0.0025\"} 2");
	has_line(text, "custody_batch_commit_seconds_bucket{le=\"0.025\"} 3");
	has_line(text, "custody_batch_commit_seconds_bucket{le=\"10\"} 3");
	has_line(text, "custody_batch_commit_seconds_bucket{le=\"+Inf\"} 4");
	has_line(text, "custody_batch_commit_seconds_count 4");
	free(text);
}

static void test_gauges(void **state)
{
	char *text;

	(void)state;
	metrics_init("x", 0);
	text = render();
	has_line(text, "custody_verify_queue 3");
	has_line(text, "custody_verify_threads 2");
	has_line(text, "custody_connections{transport=\"unix\"} 4");
	has_line(text, "custody_connections{transport=\"tcp\"} 1");
	has_line(text, "custody_db_up{lane=\"write\"} 1");
	has_line(text, "custody_db_up{lane=\"read\"} 0");
	has_line(text, "custody_db_connections{lane=\"read\",state=\"down\"} 4");
	has_line(text, "custody_db_queued_jobs{lane=\"read\"} 7");
	has_line(text, "custody_sequencer_state{state=\"idle\"} 1");
	has_line(text, "custody_sequencer_state{state=\"down\"} 0");
	has_line(text, "custody_log_entries 42");
	has_line(text, "custody_log_last_checkpoint_timestamp_seconds 1700000000.5");
	has_line(text, "custody_ready 1");
	has_line(text, "custody_tile_cache_tiles 12");
	has_line(text, "custody_submission_bytes_held 4096");
	has_line(text, "custody_tile_cache_lookups_total{result=\"hit\"} 345");
	has_line(text, "custody_tile_cache_lookups_total{result=\"miss\"} 6");
	/* Nothing counted: no series, but every family still has its HELP and TYPE. */
	has_line(text, "# TYPE custody_events_total counter");
	assert_null(strstr(text, "custody_events_total{"));
	/* Every line ends with a newline, and no HELP is repeated. */
	assert_int_equal(text[strlen(text) - 1], '\n');
	assert_null(strstr(strstr(text, "# HELP custody_ready ") + 1, "# HELP custody_ready "));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counters),
	    cmocka_unit_test(test_too_many_rules),
	    cmocka_unit_test(test_histograms),
	    cmocka_unit_test(test_gauges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
