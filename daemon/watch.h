/*
 * watch.h - alert subscriptions (the watch request, DESIGN section 6).
 *
 * A connection subscribes with WatchRequest; it is answered WatchResult,
 * then every stored alert after its after_id that matches its filters is
 * pushed (Response id 0, body alert), oldest first, read from the database
 * in pages, and then every new alert as the sequencer commits it. The
 * subscription is registered before the first page is read and live alerts
 * are held back until the pages reach the end, so nothing is lost at the
 * boundary, and nothing is sent twice (ids at or below the last one sent
 * are skipped).
 *
 * The request handler, h_watch, is declared in dispatch.h with the others.
 * A connection has at most one watch; it ends when the connection closes.
 * A live watcher whose unsent output reaches max_output_bytes_per_connection
 * gets an UNAVAILABLE error (id 0) naming the last id it was sent and is
 * disconnected: it resumes with that after_id and misses nothing.
 */
#ifndef CUSTODY_WATCH_H
#define CUSTODY_WATCH_H

#include "custody.pb-c.h"
#include "db.h"

/* Sets the database whose read lane serves catch-up pages (borrowed). */
void watch_init(struct db *db);

/*
 * Ends every watch and frees them (at exit, after db_free and
 * conn_close_all). Safe to call when none exist.
 */
void watch_free_all(void);

/*
 * A new alert was committed: push it to the watchers it matches. The
 * sequencer calls it once per alert, after COMMIT, in increasing id order.
 * alert is borrowed (copied where it must be kept).
 */
void watch_publish(const Custody__Alert *alert);

#endif
