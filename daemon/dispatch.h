/*
 * dispatch.h - decodes a request frame and routes it to its handler.
 *
 * The dispatcher owns the unpacked Request; handlers borrow it for the
 * duration of the call and copy what they need to keep. Every handler
 * receives a request handle it must answer exactly once (conn.h).
 */
#ifndef CUSTODY_DISPATCH_H
#define CUSTODY_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"

struct conn;
struct req;

/* A request handler: answers req (now or later) from the borrowed msg. */
typedef void (*handler_fn)(struct req *req, const Custody__Request *msg);

/* Decodes one frame body from conn and runs its handler. */
void dispatch_frame(struct conn *conn, const uint8_t *body, size_t len);

/* How far in the future submissions may be dated (h_submit.c). */
void h_submit_configure(int64_t max_clock_skew_ms);

struct event_base;

/*
 * Starts the verify pool that checks submissions off the loop (h_submit.c,
 * verify_pool.h): threads workers (0: one per online CPU), at most
 * queue_max submissions queued. Call after h_submit_configure, before
 * clients connect; log says why on failure.
 */
CU_MUST_USE int h_submit_start(struct event_base *base, int threads, int queue_max);

/*
 * Stops the pool: waits for the checks running, answers every submission
 * it still holds UNAVAILABLE. Accepts a pool never started.
 */
void h_submit_stop(void);

/* The verify pool's submissions (queued or finished, not yet released) and threads. */
void h_submit_queue(size_t *queued, int *threads);

/* Handlers, one family per file (h_<family>.c). */
void h_admin(struct req *req, const Custody__Request *msg);
void h_submit(struct req *req, const Custody__Request *msg);
void h_where(struct req *req, const Custody__Request *msg);
void h_history(struct req *req, const Custody__Request *msg);
void h_contents(struct req *req, const Custody__Request *msg);
void h_events(struct req *req, const Custody__Request *msg);
void h_inventory(struct req *req, const Custody__Request *msg);
void h_key_info(struct req *req, const Custody__Request *msg);
void h_alerts(struct req *req, const Custody__Request *msg);
void h_watch(struct req *req, const Custody__Request *msg); /* watch.c */
void h_veu_report(struct req *req, const Custody__Request *msg);
void h_shipment(struct req *req, const Custody__Request *msg);
void h_policy_info(struct req *req, const Custody__Request *msg);
void h_log_key(struct req *req, const Custody__Request *msg);
void h_checkpoint(struct req *req, const Custody__Request *msg);
void h_inclusion(struct req *req, const Custody__Request *msg);
/* h_proof.c's tile cache (tilecache.h) of at most max tiles; freed by h_proof_free. */
CU_MUST_USE int h_proof_init(size_t max);
void h_proof_free(void);
/* Its counts, for /metrics. */
void h_proof_cache_stats(size_t *tiles, uint64_t *hits, uint64_t *misses);
void h_consistency(struct req *req, const Custody__Request *msg);
void h_entries(struct req *req, const Custody__Request *msg);
void h_tile(struct req *req, const Custody__Request *msg);
void h_cosign(struct req *req, const Custody__Request *msg);

#endif
