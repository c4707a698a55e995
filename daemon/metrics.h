/*
 * metrics.h - the daemon's counters and their Prometheus text rendering
 * (exposition format 0.0.4), served by http.c on /metrics.
 *
 * Counters and histograms live here and are bumped where things happen
 * (dispatch and conn for requests, the sequencer for events and batches,
 * watch for alerts) with one array increment each: every caller runs on
 * the event loop thread, so nothing is locked or atomic. Gauges (queue
 * depths, connections, database and sequencer state) are not kept here:
 * the scraper reads them from their owners at scrape time and passes them
 * in a struct metrics_gauges, so this file knows no libevent or libpq and
 * its rendering is unit-tested (tests/unit/test_metrics.c).
 */
#ifndef CUSTODY_METRICS_H
#define CUSTODY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"

/* Request body field numbers, error codes, event types and verdicts below these are counted. */
#define METRICS_REQUEST_TYPES 64
#define METRICS_OUTCOMES      16
#define METRICS_EVENT_TYPES   32
#define METRICS_VERDICTS      4
/* Distinct alert rules counted; later ones are counted as rule="other". */
#define METRICS_MAX_RULES 64

/* Forgets every count and sets the build info (version borrowed, static) and start time. */
void metrics_init(const char *version, int64_t start_ms);

/*
 * One answered request: body_case is the Request's body field number (0:
 * the frame was not a decodable Request or named no known type),
 * error_code 0 for a success or its Custody__ErrorCode.
 */
void metrics_request(int body_case, int error_code);

/* One event stored in the log, of Custody__EventType type and Custody__Verdict verdict. */
void metrics_event(int type, int verdict);

/* One alert raised by rule (copied on first sight). */
void metrics_alert(const char *rule);

/* One committed write transaction of items submissions taking commit_us microseconds. */
void metrics_batch(size_t items, int64_t commit_us);

/* One batch decided while the batch ahead of it was being written (sequencer.c). */
void metrics_batch_behind(void);

/* A database lane as the scraper sees it. */
struct metrics_lane {
	const char *name; /* "write", "read" */
	bool up;
	int connections, connections_up;
	int queued_jobs;
};

/* The values read from their owners at scrape time. */
struct metrics_gauges {
	size_t verify_queue; /* submissions in the verify pool */
	int verify_threads;
	size_t conns_unix, conns_tcp; /* open client connections */
	struct metrics_lane lanes[2];
	const char *const *seq_states; /* every sequencer state name */
	size_t n_seq_states;
	const char *seq_state; /* the current one */
	size_t seq_pending;    /* submissions queued for the sequencer */
	size_t held_bytes;     /* submission bytes held (conn.h req_hold) */
	bool log_loaded;
	uint64_t log_size;	    /* entries in the verifiable log */
	int64_t last_checkpoint_ms; /* wall time of the last checkpoint stored; 0: none yet */
	size_t tile_cache_tiles;    /* log tiles the proof cache holds (tilecache.h) */
	uint64_t tile_cache_hits, tile_cache_misses;
	bool ready; /* what /readyz answers */
};

/*
 * Renders every metric in the text format into a new buffer: *out (owned
 * by the caller, free()) of *len bytes, NUL-terminated. CU_ERR_NOMEM.
 */
CU_MUST_USE int metrics_render(const struct metrics_gauges *g, char **out, size_t *len);

#endif
