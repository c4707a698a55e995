/*
 * metrics.c - counters, histograms and the Prometheus text rendering
 * (see metrics.h).
 *
 * Labels come from the .proto's own descriptors (request body field names,
 * ErrorCode, EventType and Verdict value names, in lower case), so the
 * label values an operator sees are the protocol's names and no second
 * list needs keeping in step. A series is rendered once it has counted
 * something; Prometheus treats an absent series of a counter as 0.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody.pb-c.h"
#include "enums.h"

#define RULE_NAME_MAX 64

static const double batch_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};
static const double commit_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				       0.1,    0.25,  0.5,    1,     2.5,  5,	  10};

#define N_BATCH_BOUNDS	(sizeof(batch_bounds) / sizeof(batch_bounds[0]))
#define N_COMMIT_BOUNDS (sizeof(commit_bounds) / sizeof(commit_bounds[0]))
#define MAX_BOUNDS	16

struct histogram {
	const double *bounds;
	size_t n_bounds;
	uint64_t buckets[MAX_BOUNDS]; /* per bucket, not cumulative; +Inf is count */
	uint64_t count;
	double sum;
};

static struct {
	const char *version;
	int64_t start_ms;
	uint64_t requests[METRICS_REQUEST_TYPES][METRICS_OUTCOMES];
	uint64_t events[METRICS_EVENT_TYPES][METRICS_VERDICTS];
	char rules[METRICS_MAX_RULES][RULE_NAME_MAX];
	uint64_t rule_alerts[METRICS_MAX_RULES + 1]; /* the last: "other" */
	size_t n_rules;
	struct histogram batch_size, commit_seconds;
	uint64_t batches_behind;
} m;

void metrics_init(const char *version, int64_t start_ms)
{
	memset(&m, 0, sizeof(m));
	m.version = version;
	m.start_ms = start_ms;
	m.batch_size.bounds = batch_bounds;
	m.batch_size.n_bounds = N_BATCH_BOUNDS;
	m.commit_seconds.bounds = commit_bounds;
	m.commit_seconds.n_bounds = N_COMMIT_BOUNDS;
}

void metrics_request(int body_case, int error_code)
{
	if (body_case < 0 || body_case >= METRICS_REQUEST_TYPES)
		body_case = 0;
	if (error_code < 0 || error_code >= METRICS_OUTCOMES)
		error_code = CUSTODY__ERROR_CODE__INTERNAL;
	m.requests[body_case][error_code]++;
}

void metrics_event(int type, int verdict)
{
	if (type < 0 || type >= METRICS_EVENT_TYPES)
		type = 0;
	if (verdict < 0 || verdict >= METRICS_VERDICTS)
		verdict = 0;
	m.events[type][verdict]++;
}

void metrics_alert(const char *rule)
{
	size_t i;

	for (i = 0; i < m.n_rules; i++) {
		if (strcmp(m.rules[i], rule) == 0)
			break;
	}
	if (i == m.n_rules && m.n_rules < METRICS_MAX_RULES && strlen(rule) < RULE_NAME_MAX)
		snprintf(m.rules[m.n_rules++], RULE_NAME_MAX, "%s", rule);
	m.rule_alerts[i < m.n_rules ? i : METRICS_MAX_RULES]++;
}

static void observe(struct histogram *h, double v)
{
	size_t i = 0;

	while (i < h->n_bounds && v > h->bounds[i])
		i++;
	if (i < h->n_bounds)
		h->buckets[i]++;
	h->count++;
	h->sum += v;
}

void metrics_batch(size_t items, int64_t commit_us)
{
	observe(&m.batch_size, (double)items);
	observe(&m.commit_seconds, (double)commit_us / 1e6);
}

void metrics_batch_behind(void)
{
	m.batches_behind++;
}

/* ---- rendering ------------------------------------------------------------ */

struct out {
	char *buf;
	size_t len, cap;
	bool nomem;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->nomem)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->nomem = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap * 2 + (size_t)n;
		char *p = realloc(o->buf, cap);

		if (p == NULL) {
			o->nomem = true;
			return;
		}
		o->buf = p;
		o->cap = cap;
	}
}

/* A label value with \, " and newline escaped as the text format wants. */
static void put_label(struct out *o, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			put(o, "\\\\");
		else if (*v == '"')
			put(o, "\\\"");
		else if (*v == '\n')
			put(o, "\\n");
		else
			put(o, "%c", *v);
	}
}

static void put_head(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The request type of body field number f: the field's name in Request. */
static const char *request_type_name(int f)
{
	const ProtobufCFieldDescriptor *fd =
	    protobuf_c_message_descriptor_get_field(&custody__request__descriptor, (unsigned)f);

	return f == 0 || fd == NULL ? "unknown" : fd->name;
}

static void put_requests(struct out *o)
{
	put_head(o, "custody_requests_total", "counter",
		 "Requests answered, by request type and outcome (ok or the error code).");
	for (int t = 0; t < METRICS_REQUEST_TYPES; t++) {
		for (int c = 0; c < METRICS_OUTCOMES; c++) {
			if (m.requests[t][c] == 0)
				continue;
			put(o, "custody_requests_total{type=\"%s\",outcome=\"",
			    request_type_name(t));
			put_label(o, c == 0
					 ? "ok"
					 : enum_label(&custody__error_code__descriptor, c, NULL));
			put(o, "\"} %llu\n", (unsigned long long)m.requests[t][c]);
		}
	}
}

static void put_events(struct out *o)
{
	put_head(o, "custody_events_total", "counter",
		 "Events stored in the log, by event type and verdict.");
	for (int t = 0; t < METRICS_EVENT_TYPES; t++) {
		for (int v = 0; v < METRICS_VERDICTS; v++) {
			if (m.events[t][v] == 0)
				continue;
			put(o, "custody_events_total{type=\"");
			put_label(o, enum_label(&custody__event_type__descriptor, t, NULL));
			put(o, "\",verdict=\"");
			put_label(o, enum_label(&custody__verdict__descriptor, v, NULL));
			put(o, "\"} %llu\n", (unsigned long long)m.events[t][v]);
		}
	}
}

static void put_alerts(struct out *o)
{
	put_head(o, "custody_alerts_total", "counter",
		 "Alerts raised (by events and by the timer rules), by rule.");
	for (size_t i = 0; i <= METRICS_MAX_RULES; i++) {
		if (m.rule_alerts[i] == 0)
			continue;
		put(o, "custody_alerts_total{rule=\"");
		put_label(o, i < m.n_rules ? m.rules[i] : "other");
		put(o, "\"} %llu\n", (unsigned long long)m.rule_alerts[i]);
	}
}

static void put_histogram(struct out *o, const char *name, const char *help,
			  const struct histogram *h)
{
	uint64_t cumulative = 0;

	put_head(o, name, "histogram", help);
	for (size_t i = 0; i < h->n_bounds; i++) {
		cumulative += h->buckets[i];
		put(o, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i],
		    (unsigned long long)cumulative);
	}
	put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
	put(o, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

static void put_gauge(struct out *o, const char *name, const char *help, double v)
{
	put_head(o, name, "gauge", help);
	put(o, "%s %.15g\n", name, v);
}

static void put_queues(struct out *o, const struct metrics_gauges *g)
{
	put_gauge(o, "custody_verify_queue", "Submissions in the verify pool (queued or checked).",
		  (double)g->verify_queue);
	put_gauge(o, "custody_verify_threads", "Signature-check threads.",
		  (double)g->verify_threads);
	put_gauge(o, "custody_sequencer_queue", "Submissions queued for the sequencer.",
		  (double)g->seq_pending);
	put_gauge(o, "custody_submission_bytes_held",
		  "Bytes of submissions held: checking, queued or being written (max_held_bytes).",
		  (double)g->held_bytes);
	put_head(o, "custody_connections", "gauge", "Open client connections, by transport.");
	put(o, "custody_connections{transport=\"unix\"} %zu\n", g->conns_unix);
	put(o, "custody_connections{transport=\"tcp\"} %zu\n", g->conns_tcp);
}

static void put_database(struct out *o, const struct metrics_gauges *g)
{
	put_head(o, "custody_db_up", "gauge",
		 "1 when the database lane has a connection ready, else 0.");
	for (int i = 0; i < 2; i++)
		put(o, "custody_db_up{lane=\"%s\"} %d\n", g->lanes[i].name, g->lanes[i].up ? 1 : 0);
	put_head(o, "custody_db_connections", "gauge",
		 "Database connections of the lane, by state (up: ready or busy).");
	for (int i = 0; i < 2; i++) {
		const struct metrics_lane *l = &g->lanes[i];

		put(o, "custody_db_connections{lane=\"%s\",state=\"up\"} %d\n", l->name,
		    l->connections_up);
		put(o, "custody_db_connections{lane=\"%s\",state=\"down\"} %d\n", l->name,
		    l->connections - l->connections_up);
	}
	put_head(o, "custody_db_queued_jobs", "gauge",
		 "Database jobs waiting for a connection of the lane.");
	for (int i = 0; i < 2; i++)
		put(o, "custody_db_queued_jobs{lane=\"%s\"} %d\n", g->lanes[i].name,
		    g->lanes[i].queued_jobs);
	put_head(o, "custody_sequencer_state", "gauge",
		 "1 for the sequencer's current state, 0 for the others.");
	for (size_t i = 0; i < g->n_seq_states; i++)
		put(o, "custody_sequencer_state{state=\"%s\"} %d\n", g->seq_states[i],
		    g->seq_state != NULL && strcmp(g->seq_states[i], g->seq_state) == 0);
}

static void put_log_and_process(struct out *o, const struct metrics_gauges *g)
{
	put_gauge(o, "custody_log_loaded", "1 once the verifiable log is loaded and checked.",
		  g->log_loaded ? 1 : 0);
	put_gauge(o, "custody_log_entries", "Entries in the verifiable log (its tree size).",
		  (double)g->log_size);
	put_gauge(o, "custody_log_last_checkpoint_timestamp_seconds",
		  "Unix time of the last checkpoint this process stored (0: none yet).",
		  (double)g->last_checkpoint_ms / 1000.0);
	put_gauge(o, "custody_tile_cache_tiles",
		  "Log tiles the proof cache holds, with their inner nodes (tile_cache_max).",
		  (double)g->tile_cache_tiles);
	put_head(o, "custody_tile_cache_lookups_total", "counter",
		 "Proof nodes asked of the tile cache, by whether it held them.");
	put(o, "custody_tile_cache_lookups_total{result=\"hit\"} %llu\n",
	    (unsigned long long)g->tile_cache_hits);
	put(o, "custody_tile_cache_lookups_total{result=\"miss\"} %llu\n",
	    (unsigned long long)g->tile_cache_misses);
	put_gauge(o, "custody_ready", "1 when /readyz answers 200.", g->ready ? 1 : 0);
	put_gauge(o, "process_start_time_seconds", "Start time of the process since the epoch.",
		  (double)m.start_ms / 1000.0);
	put_head(o, "custody_build_info", "gauge", "custodyd's version; always 1.");
	put(o, "custody_build_info{version=\"");
	put_label(o, m.version != NULL ? m.version : "unknown");
	put(o, "\"} 1\n");
}

int metrics_render(const struct metrics_gauges *g, char **out, size_t *len)
{
	struct out o = {malloc(8192), 0, 8192, false};

	if (o.buf == NULL)
		return CU_ERR_NOMEM;
	o.buf[0] = '\0';
	put_requests(&o);
	put_events(&o);
	put_alerts(&o);
	put_histogram(&o, "custody_batch_size", "Submissions per committed write transaction.",
		      &m.batch_size);
	put_histogram(&o, "custody_batch_commit_seconds",
		      "Time from sending a batch's write transaction to its COMMIT.",
		      &m.commit_seconds);
	put_head(&o, "custody_batches_behind_total", "counter",
		 "Batches decided while the batch ahead of them was being written.");
	put(&o, "custody_batches_behind_total %llu\n", (unsigned long long)m.batches_behind);
	put_queues(&o, g);
	put_database(&o, g);
	put_log_and_process(&o, g);
	if (o.nomem) {
		free(o.buf);
		return CU_ERR_NOMEM;
	}
	*out = o.buf;
	*len = o.len;
	return CU_OK;
}
