/*
 * http.h - the observability port: a small HTTP server (libevent evhttp)
 * on the daemon's loop serving
 *
 *   /metrics  every metric in the Prometheus text format (metrics.h)
 *   /healthz  200 while the loop runs
 *   /readyz   200 when the database is reachable, the sequencer writes and
 *             the log is loaded; 503 with the reason otherwise
 *
 * Off unless http_listen is set; a non-loopback address is refused unless
 * http_allow_remote = yes, since the metrics name request types, rules and
 * volumes an operator may not want to publish. GET and HEAD only, small
 * header and body limits, a timeout per connection; answers are built in
 * memory from counters, so a scrape never waits on the database.
 */
#ifndef CUSTODY_HTTP_H
#define CUSTODY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "cu_err.h"

struct db;

/*
 * Checks the config values http_listen ("" = off; ADDRESS:PORT or
 * [IPv6]:PORT, numeric) and http_allow_remote ("yes" or "no") without
 * binding. CU_ERR_INVALID with the reason in err.
 */
CU_MUST_USE int http_check(const char *listen, const char *allow_remote, char *err,
			   size_t err_size);

/*
 * Starts serving on listen (checked as by http_check; "" does nothing) on
 * base; db (borrowed for the run) is what /readyz and the database metrics
 * look at. CU_ERR_INVALID or CU_ERR_IO (cannot bind) with the reason in err.
 */
CU_MUST_USE int http_start(struct event_base *base, const struct db *db, const char *listen,
			   const char *allow_remote, char *err, size_t err_size);

/* From now on /readyz answers 503 "shutting down". */
void http_set_shutting_down(void);

/* Stops serving and frees the server; accepts a server never started. */
void http_stop(void);

#endif
