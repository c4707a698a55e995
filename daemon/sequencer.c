/*
 * sequencer.c - the queue, the batch lifecycle and resynchronizing (see
 * sequencer.h; deciding lives in seq_events.c and seq_admin.c, the answers
 * in seq_reply.c, reading back the registry, policy and tally in
 * seq_load.c).
 *
 * States:
 *   DOWN     write lane down: submissions get UNAVAILABLE at once
 *   SYNCING  taking the advisory lock and claiming the next epoch, reading
 *            sequence numbers and the registry (at start-up and after
 *            every reconnect, since a batch in doubt may or may not have
 *            committed)
 *   IDLE     waiting for submissions (or for the linger timer)
 *   LOADING  batch: reading ids and device rows (or, its predecessor
 *            committed, waiting for the load of the batch behind it)
 *   WRITING  batch: transaction in flight; answers go out after COMMIT.
 *            The next batch may be taken, loaded and decided meanwhile
 *            (take_behind), and is logged and sent the moment this one
 *            commits; if this one fails, that one gets the same answer
 *   SWEEPING timer rules: their one statement in flight
 *   STOPPED  superseded: another custodyd claimed a newer epoch; never
 *            writes again (submissions get UNAVAILABLE) and asks to stop
 * A batch that fails for a lost connection is answered UNAVAILABLE; the
 * client resends the same bytes, which is idempotent.
 *
 * Every write transaction (batches and sweeps) first checks that this
 * sequencer's epoch is still the database's newest (schema/005_epoch.sql):
 * the advisory lock keeps a second custodyd out, the epoch makes sure that
 * one which got in anyway and one that lost its lock never both append.
 */
#include "sequencer.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "codec.h"
#include "conn.h"
#include "devcache.h"
#include "idfilter.h"
#include "key.h"
#include "log.h"
#include "metrics.h"
#include "pb.h"
#include "seq_internal.h"
#include "sql.h"
#include "watch.h"

#define RESYNC_RETRY_MS 2000
/*
 * A stored log that does not match its checkpoint after a reconnect is
 * checked again after 2 s, then twice as long each time, up to
 * MISMATCH_RETRY_MAX_MS: each check reads every entry (about 30 s of the
 * database's time at 10,000,000 entries), and a log changed behind the
 * daemon's back stays so until an operator acts.
 */
#define MISMATCH_RETRY_MAX_MS (5 * 60 * 1000)
/*
 * At start-up a held sequencer lock is asked for again every
 * LOCK_RETRY_MS for LOCK_WAIT_MS before custodyd gives up: the backend of
 * a custodyd killed a moment ago holds it until PostgreSQL has finished
 * that backend's statement and seen the client gone.
 */
#define LOCK_RETRY_MS 250
#define LOCK_WAIT_MS  5000

enum seq_state {
	SEQ_DOWN,
	SEQ_SYNCING,
	SEQ_IDLE,
	SEQ_LOADING,
	SEQ_WRITING,
	SEQ_SWEEPING, /* timer rules: overdue shipments, dark accelerators */
	SEQ_STOPPED,
};

/* What submissions caught by a lost database connection are told (resending is idempotent). */
#define RESEND_REPLY "database unavailable; resend the same request to retry"

/* What superseded submissions are told. */
#define SUPERSEDED_REPLY                                                                           \
	"this server no longer writes: another custodyd has taken over the database"

/*
 * A batch of submissions, and where its sequence numbers and tally adds
 * began (to rewind them if it fails). Two may be in flight: the one being
 * written and the one decided behind it (take_behind).
 */
struct batch {
	struct item *items;
	struct state_ws *ws; /* its devices (event batches) */
	uint64_t first_seq, first_admin_seq, first_alert_id;
	size_t tally_mark;    /* the tally's undoable adds before this batch's */
	struct db_job *write; /* decided behind: sent once the batch ahead commits */
	int64_t sent_us;      /* its write was sent (monotonic) */
	uint64_t last_seq;    /* its last event's sequence number, once sent */
	bool is_admin;
	bool read_lane; /* behind: loaded on the read lane, beside the write ahead */
	bool decided;	/* behind: decided; write (NULL: nothing to write) waits */
	bool committed; /* written, and kept for the check of the load behind it */
	bool voided;	/* behind: the batch ahead failed; answered so when loaded */
	Custody__ErrorCode void_code;
	const char *void_why;
};

/* Most alerts one sweep raises; the next sweep takes the rest. */
#define SWEEP_MAX_ALERTS 1000

static struct {
	struct event_base *base;
	struct db *db;
	struct sequencer_options opt;
	enum seq_state state;
	struct registry *reg;
	struct policy_store *policy;
	struct tally *tally;
	struct tlog *tlog;
	char checkpoint[TLOG_CHECKPOINT_MAX];	    /* signed checkpoint of the last batch */
	uint64_t checkpoint_size;		    /* its tree size */
	char batch_checkpoint[TLOG_CHECKPOINT_MAX]; /* signed for the batch in flight */
	uint64_t next_seq, next_admin_seq, next_alert_id;
	struct item *head, *tail; /* queued */
	int pending;
	struct batch slots[2];
	struct batch *cur;	     /* in flight: loading, or being written */
	struct batch *behind;	     /* taken while cur is written (take_behind); NULL if none */
	enum seq_state after_void;   /* where batch_end was going when it waited for behind */
	struct devcache *cache;	     /* device rows as the last batches left them */
	struct idfilter *stored_ids; /* ids of every stored event; NULL: look each up */
	struct event *linger, *retry, *sweep;
	int64_t epoch;	 /* claimed with the lock; 0 before */
	char holder[96]; /* names this daemon in the epoch it claims */
	bool ever_ready;
	int lock_waited_ms;	    /* start-up: how long the lock has been held by another */
	int mismatch_retry_ms;	    /* the next check of a mismatched log; 0 = none failed */
	bool sweep_due;		    /* the timer fired during a batch: sweep before the next */
	bool log_loaded;	    /* the stored log matched its checkpoint */
	int64_t last_checkpoint_ms; /* wall time the last checkpoint was stored */
	bool draining;
	void (*drained)(void);
	struct sequencer_options next_opt; /* SIGHUP: applied between batches */
	bool reconfigure;
} seq;

/* ---- the batch lifecycle ------------------------------------------------ */

static void kick(void);
static void start_sweep(void);
static void arm_sweep(void);
static void apply_reconfigure(void);
static void on_loaded(struct db_job *job, void *arg);
static void on_written(struct db_job *job, void *arg);
static void resync(void);

/* The free one of the two batch slots, cleared. */
static struct batch *batch_get(void)
{
	struct batch *b =
	    seq.cur == &seq.slots[0] || seq.behind == &seq.slots[0] ? &seq.slots[1] : &seq.slots[0];

	memset(b, 0, sizeof(*b));
	return b;
}

/* Forgets a batch whose items are answered (any left are failed, never dropped). */
static void batch_clear(struct batch *b)
{
	seq_fail_all(b->items, CUSTODY__ERROR_CODE__INTERNAL, "the server dropped the batch");
	state_ws_free(b->ws);
	db_job_free(b->write);
	memset(b, 0, sizeof(*b));
}

/* The decision context of the batch being decided now. */
static void make_ctx(struct seq_ctx *ctx)
{
	*ctx = (struct seq_ctx){
	    .reg = seq.reg,
	    .policy = seq.policy,
	    .tally = seq.tally,
	    .rules = &seq.opt.rules,
	    .ship_deadline_ms = seq.opt.ship_deadline_ms,
	    .rma_deadline_ms = seq.opt.rma_deadline_ms,
	    .admin_key = seq.opt.admin_key,
	    .next_seq = &seq.next_seq,
	    .next_admin_seq = &seq.next_admin_seq,
	    .next_alert_id = &seq.next_alert_id,
	    .tlog = seq.tlog,
	    .checkpoint = seq.batch_checkpoint,
	    .now_ms = codec_now_ms(),
	    .epoch = seq.epoch,
	};
}

/* Where b's sequence numbers and tally adds begin, before it is decided. */
static void batch_mark(struct batch *b)
{
	b->first_seq = seq.next_seq;
	b->first_admin_seq = seq.next_admin_seq;
	b->first_alert_id = seq.next_alert_id;
	b->tally_mark = tally_mark(seq.tally);
}

static void on_drained(evutil_socket_t fd, short what, void *arg)
{
	void (*done)(void) = seq.drained;

	(void)fd;
	(void)what;
	(void)arg;
	seq.drained = NULL;
	if (done != NULL)
		done();
}

/*
 * The state is next: a reconfiguration or a drain waiting for it goes
 * ahead, then the queue. A drain ends from the event loop, once the
 * callback that got here has answered everything it holds: the batch that
 * committed just before a batch decided behind it ended is answered after
 * that end.
 */
static void settle(enum seq_state next)
{
	static const struct timeval now = {0, 0};

	seq.state = next;
	apply_reconfigure();
	if (seq.draining && seq.drained != NULL) {
		if (event_base_once(seq.base, -1, EV_TIMEOUT, on_drained, NULL, &now) != 0)
			on_drained(-1, 0, NULL);
		return;
	}
	kick();
}

/*
 * Ends the batch in flight (its items already answered) and moves to next:
 * IDLE takes the next batch, DOWN waits for the write lane to come back.
 * A batch behind it whose load is still out (voided: it is answered with
 * this batch's error when it comes back) is waited for first.
 */
static void batch_end(enum seq_state next)
{
	if (seq.cur != NULL)
		batch_clear(seq.cur);
	seq.cur = NULL;
	if (seq.behind != NULL) {
		seq.after_void = next;
		seq.state = SEQ_LOADING;
		return;
	}
	settle(next);
}

/*
 * Forgets what the failed batch in flight had taken: its sequence numbers,
 * its tally adds and log appends (and those of the batch decided behind
 * it), and the device rows both left in the cache.
 */
static void batch_rewind(const struct batch *b)
{
	seq.next_seq = b->first_seq;
	seq.next_admin_seq = b->first_admin_seq;
	seq.next_alert_id = b->first_alert_id;
	if (seq.tally != NULL)
		tally_rollback(seq.tally);
	tlog_rollback(seq.tlog);
	seq.batch_checkpoint[0] = '\0';
	devcache_clear(seq.cache);
}

/* Answers every item of the batch behind with one error and forgets it. */
static void fail_behind(Custody__ErrorCode code, const char *why)
{
	seq_fail_all(seq.behind->items, code, why);
	seq.behind->items = NULL;
	batch_clear(seq.behind);
	seq.behind = NULL;
}

/*
 * The load of the batch behind failed: it is answered UNAVAILABLE (resend),
 * and a batch ahead kept only for that load ends.
 */
static void behind_load_failed(void)
{
	fail_behind(CUSTODY__ERROR_CODE__UNAVAILABLE, RESEND_REPLY);
	if (seq.cur != NULL && seq.cur->committed)
		batch_end(SEQ_IDLE);
}

/*
 * The batch in flight failed: the batch behind it, decided on what it
 * would have stored, gets the same answer (at once if decided, when its
 * load comes back otherwise).
 */
static void drop_behind(Custody__ErrorCode code, const char *why)
{
	struct batch *b = seq.behind;

	if (b == NULL)
		return;
	log_warn("the batch behind the failed one is not stored either: %s", why);
	if (!b->decided) {
		b->voided = true;
		b->void_code = code;
		b->void_why = why;
		return;
	}
	fail_behind(code, why);
}

/* Puts items, never decided, back at the head of the queue. */
static void requeue(struct item *items)
{
	struct item *last = items;
	int n = 1;

	if (items == NULL)
		return;
	for (; last->next != NULL; last = last->next)
		n++;
	last->next = seq.head;
	seq.head = items;
	if (seq.tail == NULL)
		seq.tail = last;
	seq.pending += n;
}

void seq_begin(struct db_job *job, const struct seq_ctx *ctx)
{
	db_job_add(job, SQL_BEGIN);
	db_job_add(job, SQL_EPOCH_CHECK);
	db_param_i64(job, ctx->epoch);
}

/*
 * True if job failed because another sequencer has claimed a newer epoch;
 * *newest is that epoch.
 */
static bool superseded(const struct db_job *job, int64_t *newest)
{
	const PGresult *res = db_job_error_result(job);
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *detail = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;

	if (state == NULL || strcmp(state, SQL_STATE_SUPERSEDED) != 0)
		return false;
	*newest = detail != NULL ? strtoll(detail, NULL, 10) : 0;
	return true;
}

/*
 * Superseded: never write again. Queued submissions get UNAVAILABLE (the
 * batch in flight, if any, has been answered) and custodyd is asked to
 * stop.
 */
static void stop_superseded(int64_t newest)
{
	struct item *queued = seq.head;
	char why[160];

	seq.head = seq.tail = NULL;
	seq.pending = 0;
	seq.state = SEQ_STOPPED;
	seq_fail_all(queued, CUSTODY__ERROR_CODE__UNAVAILABLE, SUPERSEDED_REPLY);
	snprintf(why, sizeof(why),
		 "another custodyd (epoch %lld) has taken over this database; this one (epoch "
		 "%lld) stops",
		 (long long)newest, (long long)seq.epoch);
	if (seq.opt.on_stop != NULL)
		seq.opt.on_stop(why);
}

/* Fails the batch in flight and the one behind it with one answer, then ends it. */
static void fail_batch(Custody__ErrorCode code, const char *why, enum seq_state next)
{
	seq_fail_all(seq.cur->items, code, why);
	seq.cur->items = NULL;
	drop_behind(code, why);
	batch_end(next);
}

/* Ends the batch in flight with a database failure. */
static void batch_failed(const struct db_job *job)
{
	bool lost = db_job_status(job) == DB_ERR_CONN;
	int64_t newest;

	batch_rewind(seq.cur);
	if (superseded(job, &newest)) {
		fail_batch(CUSTODY__ERROR_CODE__UNAVAILABLE, SUPERSEDED_REPLY "; it was not stored",
			   SEQ_STOPPED);
		stop_superseded(newest);
		return;
	}
	if (lost) {
		log_warn("batch failed, database unavailable: %s", db_job_error(job));
		fail_batch(CUSTODY__ERROR_CODE__UNAVAILABLE, RESEND_REPLY, SEQ_DOWN);
		/* sequencer_lane(up) resynchronizes. */
		return;
	}
	log_error("batch failed: %s", db_job_error(job));
	fail_batch(CUSTODY__ERROR_CODE__INTERNAL,
		   "the server failed to store the batch; it was not stored", SEQ_IDLE);
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * The written batch's events are (about to be) stored: their ids go into
 * the filter, which may hold ids of a batch that then failed (a lookup
 * finds nothing for them), never lack a stored one.
 */
static void note_stored(const struct item *batch)
{
	for (const struct item *it = batch; it != NULL && seq.stored_ids != NULL; it = it->next) {
		if (!it->written || it->is_admin || idfilter_add(seq.stored_ids, it->id) == CU_OK)
			continue;
		log_warn("out of memory for the filter of stored event ids: every batch looks its "
			 "ids up in the database until the next start-up check");
		idfilter_free(seq.stored_ids);
		seq.stored_ids = NULL;
	}
}

static void take_behind(void);

/* Sends the write of the batch in flight (seq.cur), decided and logged. */
static void send_write(struct db_job *write)
{
	struct batch *b = seq.cur;
	struct merkle_edge edge; /* right-edge hashes the batch's receipts share */
	int rc;

	seq.state = SEQ_WRITING;
	b->sent_us = mono_us();
	rc = db_submit(seq.db, DB_LANE_WRITE, write);
	if (rc != CU_OK) {
		db_job_free(write);
		batch_rewind(b);
		if (rc == CU_ERR_IO) {
			fail_batch(CUSTODY__ERROR_CODE__UNAVAILABLE, RESEND_REPLY, SEQ_DOWN);
			return;
		}
		/* Out of memory building it: nothing was sent, the lane is fine. */
		log_error("batch not written: out of memory building its statements");
		fail_batch(CUSTODY__ERROR_CODE__INTERNAL,
			   "the server failed to store the batch; it was not stored", SEQ_IDLE);
		return;
	}
	/*
	 * The next batch starts from what this one leaves (batch_rewind
	 * forgets it if the write fails), so it can be decided during this
	 * write.
	 */
	if (b->ws != NULL)
		devcache_store(seq.cache, b->ws);
	if (!b->is_admin)
		note_stored(b->items);
	/*
	 * The receipts prove inclusion in this batch's checkpoint, before the
	 * next appends; they share its right-edge hashes (the tree of this
	 * size may differ from the last one of the same size: rolled back).
	 */
	merkle_edge_reset(&edge);
	for (struct item *it = b->items; it != NULL; it = it->next)
		seq_log_receipt(it, seq.tlog, &edge);
	b->last_seq = seq.next_seq - 1;
	take_behind();
}

/* The batch in flight, decided behind the one before it, is logged and sent. */
static void finish_and_send(struct db_job *write)
{
	struct seq_ctx ctx;

	make_ctx(&ctx);
	if (seq_events_finish(seq.cur->items, write, &ctx) != CU_OK) {
		db_job_free(write);
		batch_rewind(seq.cur);
		fail_batch(CUSTODY__ERROR_CODE__INTERNAL, "out of memory", SEQ_IDLE);
		return;
	}
	send_write(write);
}

/* Decides the batch in flight from its load and sends its write. */
static void decide_and_send(const struct db_job *loaded)
{
	struct batch *b = seq.cur;
	struct seq_ctx ctx;
	struct db_job *write;
	bool nothing = false;

	make_ctx(&ctx);
	batch_mark(b);
	if (b->is_admin) {
		write = seq_admin_decide(b->items, loaded, &ctx, on_written, NULL, &nothing);
	} else {
		write =
		    seq_events_decide(b->items, loaded, b->ws, &ctx, on_written, NULL, &nothing);
		if (write != NULL && seq_events_finish(b->items, write, &ctx) != CU_OK) {
			db_job_free(write);
			write = NULL;
		}
	}
	if (write != NULL) {
		send_write(write);
		return;
	}
	if (nothing) {
		tally_commit(seq.tally); /* nothing was added */
		seq_reply_all(b->items, seq.checkpoint);
		b->items = NULL;
		batch_end(SEQ_IDLE);
		return;
	}
	batch_rewind(b);
	fail_batch(CUSTODY__ERROR_CODE__INTERNAL, "out of memory", SEQ_IDLE);
}

/*
 * Decides the batch behind while the one in flight is being written: its
 * write (log rows, checkpoint and COMMIT still to come) waits for that
 * COMMIT.
 */
static void decide_behind(const struct db_job *loaded)
{
	struct batch *b = seq.behind;
	struct seq_ctx ctx;
	bool nothing = false;

	make_ctx(&ctx);
	batch_mark(b);
	b->write = seq_events_decide(b->items, loaded, b->ws, &ctx, on_written, NULL, &nothing);
	if (b->write == NULL && !nothing) {
		seq.next_seq = b->first_seq;
		seq.next_admin_seq = b->first_admin_seq;
		seq.next_alert_id = b->first_alert_id;
		tally_rollback_to(seq.tally, b->tally_mark);
		fail_behind(CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return;
	}
	b->decided = true;
	metrics_batch_behind();
}

/*
 * The load of the batch behind read a row the batch in flight changes:
 * it is read again after that batch's COMMIT, on the write lane.
 */
static void reload_after_write(struct batch *b)
{
	struct db_job *load;

	state_ws_free(b->ws);
	b->ws = NULL;
	b->read_lane = false;
	load = seq_events_load_job(b->items, seq.stored_ids, seq.cache, NULL, &b->ws, on_loaded, b);
	if (load != NULL && db_submit(seq.db, DB_LANE_WRITE, load) == CU_OK)
		return;
	db_job_free(load);
	behind_load_failed();
}

/* A load came back: of the batch in flight, or of the batch behind it. */
static void on_loaded(struct db_job *job, void *arg)
{
	struct batch *b = arg;

	if (b == seq.behind && b->voided) {
		fail_behind(b->void_code, b->void_why);
		if (seq.cur != NULL)
			return;
		/* The write lane may have come back while this load was out. */
		if (seq.after_void == SEQ_DOWN && db_lane_up(seq.db, DB_LANE_WRITE)) {
			resync();
			return;
		}
		settle(seq.after_void);
		return;
	}
	if (db_job_status(job) != DB_OK) {
		if (b != seq.behind)
			batch_failed(job);
		else
			behind_load_failed();
		return;
	}
	if (b == seq.behind) {
		if (b->read_lane && seq_events_loaded_stale(job, seq.cur->ws)) {
			reload_after_write(b);
			return;
		}
		if (!seq.cur->committed) {
			decide_behind(job);
			return;
		}
		/* The batch ahead committed while this one loaded: this one is next. */
		batch_clear(seq.cur);
		seq.cur = b;
		seq.behind = NULL;
	}
	decide_and_send(job);
}

/* The committed events go to the watchers (the admin actions took effect at COMMIT). */
static void publish(const struct item *items)
{
	for (const struct item *it = items; it != NULL; it = it->next) {
		if (it->written && !it->is_admin)
			seq_events_publish(it, seq.reg);
	}
}

static void on_written(struct db_job *job, void *arg)
{
	struct batch *b = seq.cur, *next = seq.behind;
	struct item *items;
	int64_t t0 = mono_us();

	(void)arg;
	if (db_job_status(job) != DB_OK) {
		batch_failed(job);
		return;
	}
	/* The batch behind, if decided, added to the tally too: its adds stay undoable. */
	if (next != NULL && next->decided) {
		tally_commit_to(seq.tally, next->tally_mark);
		next->tally_mark = 0;
	} else {
		tally_commit(seq.tally);
	}
	seq_events_count(b->items, t0 - b->sent_us);
	/* Published only once stored: a failed batch's checkpoint is never served. */
	if (seq.batch_checkpoint[0] != '\0') {
		memcpy(seq.checkpoint, seq.batch_checkpoint, sizeof(seq.checkpoint));
		seq.checkpoint_size = tlog_size(seq.tlog);
		seq.batch_checkpoint[0] = '\0';
		seq.last_checkpoint_ms = codec_now_ms();
	}
	tlog_commit(seq.tlog);
	for (struct item *it = b->items; b->is_admin && it != NULL; it = it->next) {
		if (it->written && seq_admin_commit(it, seq.reg, seq.policy) != CU_OK)
			log_error(
			    "out of memory updating the registry or policy; restart custodyd");
	}
	log_debug("batch committed: seq up to %llu", (unsigned long long)b->last_seq);
	items = b->items;
	b->items = NULL;
	if (next != NULL && next->decided) {
		/* Decided during this write: logged and sent at once, before b is answered. */
		batch_clear(b);
		seq.cur = next;
		seq.behind = NULL;
		if (next->write != NULL) {
			struct db_job *write = next->write;

			next->write = NULL;
			finish_and_send(write);
		} else {
			seq_reply_all(
			    next->items,
			    seq.checkpoint); /* all refused or duplicates: nothing to write */
			next->items = NULL;
			batch_end(SEQ_IDLE);
		}
	} else if (next != NULL) {
		/* Kept until the load behind it is back: it checks that load against b's rows. */
		b->committed = true;
		seq.state = SEQ_LOADING;
	}
	publish(items);
	seq_reply_all(items, seq.checkpoint);
	if (next == NULL)
		batch_end(SEQ_IDLE);
}

/* Devices an item names: its own and its container. */
static size_t item_devices(const struct item *it)
{
	if (it->is_admin || it->ev == NULL)
		return 0;
	return it->ev->n_devices + (it->ev->container != NULL);
}

/*
 * Takes the next batch off the queue into b: one admin action, or events,
 * at most batch_max of them naming at most batch_max_devices devices (the
 * batch's working set, statements and results grow with its devices: a
 * batch of 4,096-chip REGISTERs would otherwise hold hundreds of MiB at
 * once).
 */
static void take_batch(struct batch *b)
{
	struct item **tail = &b->items;
	size_t devices = 0;
	int n = 0;

	while (seq.head != NULL && n < seq.opt.batch_max) {
		struct item *it = seq.head;

		if (n > 0 && (it->is_admin || b->is_admin))
			break;
		devices += item_devices(it);
		if (n > 0 && devices > (size_t)seq.opt.batch_max_devices)
			break;
		seq.head = it->next;
		it->next = NULL;
		*tail = it;
		tail = &it->next;
		b->is_admin = it->is_admin;
		n++;
		seq.pending--;
	}
	if (seq.head == NULL)
		seq.tail = NULL;
}

static void start_batch(void)
{
	struct batch *b = batch_get();
	struct db_job *load;

	seq.cur = b;
	take_batch(b);
	batch_mark(b); /* what a failed load rewinds to */
	load = b->is_admin ? seq_admin_load_job(b->items, on_loaded, b)
			   : seq_events_load_job(b->items, seq.stored_ids, seq.cache, NULL, &b->ws,
						 on_loaded, b);
	if (load == NULL) {
		fail_batch(CUSTODY__ERROR_CODE__INTERNAL, "out of memory", SEQ_IDLE);
		return;
	}
	seq.state = SEQ_LOADING;
	if (db_submit(seq.db, DB_LANE_WRITE, load) != CU_OK) {
		db_job_free(load);
		fail_batch(CUSTODY__ERROR_CODE__UNAVAILABLE, RESEND_REPLY, SEQ_DOWN);
	}
}

/*
 * While a batch of events is being written and a whole batch is queued,
 * the next one is taken and decided behind it (DESIGN section 7): its
 * load runs on the read lane beside the write, against the device rows
 * the batch in flight leaves (in the cache) and the ids it stores (in the
 * filter). A load that needs that batch's stored rows or ids (a resend of
 * one of its events; a device it changed that is not cached) runs on the
 * write lane after it instead. Not while a sweep, a reconfiguration or a
 * drain waits for the sequencer to be idle, nor without the filter.
 */
static void take_behind(void)
{
	struct batch *b;
	struct db_job *load;
	struct seq_ahead ahead;
	bool after_write = false;

	if (seq.state != SEQ_WRITING || seq.behind != NULL || seq.cur == NULL ||
	    seq.cur->is_admin || seq.head == NULL || seq.head->is_admin ||
	    seq.pending < seq.opt.batch_max / 4 || seq.sweep_due || seq.reconfigure ||
	    seq.draining || seq.stored_ids == NULL)
		return;
	b = batch_get();
	take_batch(b);
	ahead = (struct seq_ahead){
	    .items = seq.cur->items, .ws = seq.cur->ws, .after_write = &after_write};
	load =
	    seq_events_load_job(b->items, seq.stored_ids, seq.cache, &ahead, &b->ws, on_loaded, b);
	b->read_lane = !after_write;
	if (load == NULL ||
	    db_submit(seq.db, b->read_lane ? DB_LANE_READ : DB_LANE_WRITE, load) != CU_OK) {
		/* Taken later, the usual way. */
		db_job_free(load);
		requeue(b->items);
		b->items = NULL;
		batch_clear(b);
		return;
	}
	seq.behind = b;
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (seq.state == SEQ_IDLE && seq.head != NULL)
		start_batch();
}

/* Starts a batch if the sequencer is idle and work is queued (or takes one behind a write). */
static void kick(void)
{
	struct timeval tv;

	if (seq.state == SEQ_WRITING) {
		take_behind();
		return;
	}
	if (seq.state == SEQ_IDLE && seq.sweep_due && !seq.draining) {
		seq.sweep_due = false;
		start_sweep(); /* its end kicks again */
		return;
	}
	while (seq.state == SEQ_IDLE && seq.head != NULL) {
		if (seq.opt.linger_ms > 0 && seq.pending < seq.opt.batch_max) {
			if (!evtimer_pending(seq.linger, NULL)) {
				tv.tv_sec = seq.opt.linger_ms / 1000;
				tv.tv_usec = (seq.opt.linger_ms % 1000) * 1000;
				evtimer_add(seq.linger, &tv);
			}
			return;
		}
		start_batch();
	}
}

/* ---- submissions --------------------------------------------------------- */

/* Queues it, or answers UNAVAILABLE when the sequencer cannot take it. */
static void enqueue(struct item *it)
{
	const char *why = NULL;

	if (seq.draining)
		why = "server shutting down";
	else if (seq.state == SEQ_STOPPED)
		why = SUPERSEDED_REPLY;
	else if (seq.state == SEQ_DOWN)
		why = "database unavailable; retry later";
	else if (seq.pending >= seq.opt.max_pending)
		why = "server busy: too many submissions queued; retry later";
	if (why != NULL) {
		req_fail(it->req, CUSTODY__ERROR_CODE__UNAVAILABLE, "%s", why);
		seq_item_free(it);
		return;
	}
	if (seq.tail != NULL)
		seq.tail->next = it;
	else
		seq.head = it;
	seq.tail = it;
	seq.pending++;
	kick();
}

/*
 * A new item with copies of the envelope's bytes, the body in the same
 * allocation; NULL when out of memory. Zeroed but for the verdict's slots
 * (12.5 of its 15.4 KiB; verdict_clear).
 */
static struct item *item_new(struct req *req, const Custody__SignedEnvelope *env,
			     const uint8_t id[32])
{
	struct item *it = malloc(sizeof(*it) + env->body.len);
	size_t off = offsetof(struct item, verdict), end = off + sizeof(it->verdict);

	if (it == NULL)
		return NULL;
	memset(it, 0, off);
	memset((char *)it + end, 0, sizeof(*it) - end);
	verdict_clear(&it->verdict);
	it->body = (uint8_t *)(it + 1);
	memcpy(it->body, env->body.data, env->body.len);
	it->body_len = env->body.len;
	memcpy(it->signer, env->signer.data, 32);
	memcpy(it->sig, env->sig.data, 64);
	memcpy(it->id, id, 32);
	it->req = req;
	return it;
}

void sequencer_submit_event(struct req *req, const Custody__SignedEnvelope *env, Custody__Event *ev,
			    const uint8_t id[32])
{
	struct item *it = item_new(req, env, id);

	if (it == NULL) {
		pb_block_free(ev);
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return;
	}
	it->ev = ev;
	enqueue(it);
}

void sequencer_submit_admin(struct req *req, const Custody__SignedEnvelope *env,
			    Custody__AdminAction *act, const uint8_t id[32])
{
	struct item *it = item_new(req, env, id);

	if (it == NULL) {
		custody__admin_action__free_unpacked(act, NULL);
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return;
	}
	it->is_admin = true;
	it->act = act;
	enqueue(it);
}

/* ---- resynchronizing ------------------------------------------------------ */

static void retry_resync_later(void);
static void retry_resync_in(int ms);
static void install_stored_ids(void);

/* 2 s after the first mismatch, then twice the last wait, at most MISMATCH_RETRY_MAX_MS. */
static int next_mismatch_retry(int last_ms)
{
	if (last_ms == 0)
		return RESYNC_RETRY_MS;
	return last_ms >= MISMATCH_RETRY_MAX_MS / 2 ? MISMATCH_RETRY_MAX_MS : last_ms * 2;
}

/* What a sync loaded, installed once the log check (seq_logload.c) passes. */
static struct {
	struct registry *reg;
	struct policy_store *policy;
	struct tally *tally;
	uint64_t next_seq, next_admin_seq, next_alert_id;
	char checkpoint[TLOG_CHECKPOINT_MAX]; /* the latest stored, "" if none */
} synced;

static void synced_clear(void)
{
	registry_free(synced.reg);
	policy_store_free(synced.policy);
	tally_free(synced.tally);
	memset(&synced, 0, sizeof(synced));
}

/*
 * The stored log matched its checkpoint (rc CU_OK, tlog loaded): the
 * sequencer is ready. A log that does not match is never appended to:
 * custodyd refuses to start (or, after a reconnect, stops writing and says
 * why); a database that went away is retried.
 */
static void on_log_loaded(int rc, const char *err)
{
	seq.log_loaded = rc == CU_OK;
	if (rc != CU_OK) {
		synced_clear();
		if (rc == CU_ERR_IO) {
			log_warn("sequencer cannot start: %s", err);
			retry_resync_later();
		} else if (!seq.ever_ready && seq.opt.on_fatal != NULL) {
			char why[TLOG_ERR_MAX + 64];

			snprintf(why, sizeof(why),
				 "the stored log does not match its checkpoint: %s", err);
			seq.opt.on_fatal(why);
		} else {
			seq.mismatch_retry_ms = next_mismatch_retry(seq.mismatch_retry_ms);
			log_error("the stored log does not match its checkpoint: %s; not writing "
				  "(checking again in %d s)",
				  err, seq.mismatch_retry_ms / 1000);
			retry_resync_in(seq.mismatch_retry_ms);
		}
		return;
	}
	seq.mismatch_retry_ms = 0;
	log_info("log: %llu entries, matching the last signed checkpoint",
		 (unsigned long long)tlog_size(seq.tlog));
	install_stored_ids();
	registry_free(seq.reg);
	seq.reg = synced.reg;
	policy_store_free(seq.policy);
	seq.policy = synced.policy;
	tally_free(seq.tally);
	seq.tally = synced.tally;
	seq.next_seq = synced.next_seq;
	seq.next_admin_seq = synced.next_admin_seq;
	seq.next_alert_id = synced.next_alert_id;
	if (synced.checkpoint[0] != '\0') {
		memcpy(seq.checkpoint, synced.checkpoint, sizeof(seq.checkpoint));
		seq.checkpoint_size = tlog_size(seq.tlog);
	}
	memset(&synced, 0, sizeof(synced));
	seq.state = SEQ_IDLE;
	log_info("sequencer ready: next event seq %llu", (unsigned long long)seq.next_seq);
	if (!seq.ever_ready) {
		seq.ever_ready = true;
		arm_sweep();
		if (seq.opt.on_ready != NULL)
			seq.opt.on_ready();
	}
	kick();
}

/*
 * The check's filter of stored ids replaces the one before, if it holds
 * every stored event: one id per sequence number. Otherwise (events stored
 * without log entries, or no memory for it) every batch looks its ids up.
 */
static void install_stored_ids(void)
{
	struct idfilter *ids = seq_logload_take_ids();
	uint64_t n = ids != NULL ? idfilter_count(ids) : 0;

	idfilter_free(seq.stored_ids);
	seq.stored_ids = NULL;
	if (ids != NULL && n != synced.next_seq - 1) {
		log_warn("the log holds %llu events, the events table %llu: every batch looks its "
			 "ids up in the database",
			 (unsigned long long)n, (unsigned long long)(synced.next_seq - 1));
		idfilter_free(ids);
		return;
	}
	seq.stored_ids = ids;
	if (ids != NULL)
		log_info("stored event ids: %llu in a filter of %zu KiB", (unsigned long long)n,
			 idfilter_bytes(ids) / 1024);
}

static void retry_resync_in(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	seq.state = SEQ_DOWN;
	evtimer_add(seq.retry, &tv);
}

static void retry_resync_later(void)
{
	retry_resync_in(RESYNC_RETRY_MS);
}

static void on_synced(struct db_job *job, void *arg)
{
	struct registry *reg;
	struct policy_store *policy;
	struct tally *tally;

	(void)arg;
	if (db_job_status(job) != DB_OK) {
		/* The lane coming back up resyncs too; the timer covers a failed query. */
		log_warn("sequencer cannot start: %s", db_job_error(job));
		retry_resync_later();
		return;
	}
	if (PQgetisnull(db_job_result(job, 0), 0, 0)) {
		if (!seq.ever_ready && seq.lock_waited_ms < LOCK_WAIT_MS) {
			if (seq.lock_waited_ms == 0)
				log_info(
				    "the sequencer lock is held by another session; waiting up "
				    "to %d ms for it",
				    LOCK_WAIT_MS);
			seq.lock_waited_ms += LOCK_RETRY_MS;
			retry_resync_in(LOCK_RETRY_MS);
			return;
		}
		if (!seq.ever_ready && seq.opt.on_fatal != NULL) {
			seq.opt.on_fatal("another custodyd holds the sequencer lock on this "
					 "database; only one may write");
			return;
		}
		log_error("another custodyd holds the sequencer lock; retrying");
		retry_resync_later();
		return;
	}
	seq.epoch = db_value_i64(db_job_result(job, 0), 0, 0);
	log_info("sequencer lock taken: epoch %lld", (long long)seq.epoch);
	reg = registry_new();
	policy = seq_load_policy(db_job_result(job, 5), seq.opt.builtin, seq.opt.n_builtin);
	tally = seq_load_tally(db_job_result(job, 6), db_job_result(job, 7));
	if (reg == NULL || seq_load_parties(reg, db_job_result(job, 2)) != CU_OK ||
	    seq_load_keys(reg, db_job_result(job, 3)) != CU_OK ||
	    seq_load_facilities(reg, db_job_result(job, 4)) != CU_OK || policy == NULL ||
	    tally == NULL) {
		log_error("cannot load the registry, policy data or tallies");
		registry_free(reg);
		policy_store_free(policy);
		tally_free(tally);
		retry_resync_later();
		return;
	}
	synced_clear();
	synced.reg = reg;
	synced.policy = policy;
	synced.tally = tally;
	synced.next_seq = (uint64_t)db_value_i64(db_job_result(job, 1), 0, 0) + 1;
	synced.next_admin_seq = (uint64_t)db_value_i64(db_job_result(job, 1), 0, 1) + 1;
	synced.next_alert_id = (uint64_t)db_value_i64(db_job_result(job, 1), 0, 2) + 1;
	if (PQgetlength(db_job_result(job, 8), 0, 1) < (int)sizeof(synced.checkpoint))
		memcpy(synced.checkpoint, PQgetvalue(db_job_result(job, 8), 0, 1),
		       (size_t)PQgetlength(db_job_result(job, 8), 0, 1) + 1);
	seq_logload_start(seq.db, seq.tlog, db_job_result(job, 8), db_job_result(job, 9),
			  on_log_loaded);
}

static void resync(void)
{
	struct db_job *job = db_job_new(on_synced, NULL);

	if (job == NULL) {
		retry_resync_later();
		return;
	}
	/* What we knew of the devices may predate another daemon's epoch. */
	devcache_clear(seq.cache);
	/* Claimed before the loads, so they see every batch of the epochs before. */
	db_job_add(job, SQL_LOCK_AND_CLAIM);
	db_param_i64(job, SQL_SEQUENCER_LOCK_KEY);
	db_param_text(job, seq.holder);
	db_job_add(job, SQL_MAX_SEQS);
	db_job_add(job, SQL_LOAD_PARTIES);
	db_job_add(job, SQL_LOAD_KEYS);
	db_job_add(job, SQL_LOAD_FACILITIES);
	db_job_add(job, SQL_LOAD_POLICY);
	db_job_add(job, SQL_LOAD_ALLOC);
	db_job_add(job, SQL_LOAD_USAGE);
	db_job_add(job, SQL_LOG_HEAD);
	db_job_add(job, SQL_LOG_EDGE);
	seq.state = SEQ_SYNCING;
	if (db_submit(seq.db, DB_LANE_WRITE, job) != CU_OK) {
		db_job_free(job);
		seq.state = SEQ_DOWN;
	}
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (seq.state == SEQ_DOWN && db_lane_up(seq.db, DB_LANE_WRITE))
		resync();
}

void sequencer_lane(bool up)
{
	if (up && seq.state == SEQ_DOWN) {
		resync();
		return;
	}
	if (!up) {
		/* Jobs in flight fail through their callbacks; queued work cannot wait. */
		struct item *queued = seq.head;

		seq.head = seq.tail = NULL;
		seq.pending = 0;
		if (seq.state == SEQ_IDLE || seq.state == SEQ_SYNCING)
			seq.state = SEQ_DOWN;
		seq_fail_all(queued, CUSTODY__ERROR_CODE__UNAVAILABLE, RESEND_REPLY);
	}
}

/* ---- timer rules ------------------------------------------------------------ */

static void arm_sweep(void)
{
	struct timeval tv = {seq.opt.sweep_interval_ms / 1000,
			     (seq.opt.sweep_interval_ms % 1000) * 1000};

	if (seq.sweep != NULL && seq.opt.sweep_interval_ms > 0)
		evtimer_add(seq.sweep, &tv);
}

/* Publishes the alerts a sweep stored, in id order. */
static void publish_swept_row(const PGresult *res, int r)
{
	Custody__Alert a = CUSTODY__ALERT__INIT;
	uint8_t event_id[32];

	if (db_value_bytes(res, r, 9, event_id, 32) == CU_OK) {
		a.event_id.data = event_id;
		a.event_id.len = 32;
	}
	a.id = (uint64_t)db_value_i64(res, r, 0);
	a.rule = PQgetvalue(res, r, 1);
	a.severity = CUSTODY__SEVERITY__SEVERITY_ALERT;
	a.reason = PQgetvalue(res, r, 2);
	a.raised_at_ms = db_value_i64(res, r, 3);
	a.event_seq = (uint64_t)db_value_i64(res, r, 4);
	a.device = PQgetvalue(res, r, 5);
	a.facility = PQgetvalue(res, r, 6);
	a.country = PQgetvalue(res, r, 7);
	a.exporter = PQgetvalue(res, r, 8);
	a.state = CUSTODY__ALERT_STATE__OPEN;
	watch_publish(&a);
}

/* Publishes the alerts a sweep stored, in id order (watchers need it). */
static void publish_swept(const PGresult *res)
{
	int n = PQntuples(res);
	uint64_t first = seq.next_alert_id;
	int *row_of = n > 0 ? calloc((size_t)n, sizeof(*row_of)) : NULL;

	/* RETURNING gives no order: the ids are first..first+n-1. */
	for (int r = 0; row_of != NULL && r < n; r++) {
		uint64_t k = (uint64_t)db_value_i64(res, r, 0) - first;

		if (k < (uint64_t)n)
			row_of[k] = r;
	}
	for (int k = 0; k < n; k++)
		publish_swept_row(res, row_of != NULL ? row_of[k] : k);
	free(row_of);
	seq.next_alert_id = first + (uint64_t)n;
}

static void on_swept(struct db_job *job, void *arg)
{
	int64_t newest;

	(void)arg;
	if (superseded(job, &newest)) {
		batch_end(SEQ_STOPPED);
		stop_superseded(newest);
		return;
	}
	if (db_job_status(job) == DB_OK) {
		const PGresult *res = db_job_result(job, 1);

		if (PQntuples(res) > 0)
			log_info("timer rules raised %d alert%s", PQntuples(res),
				 PQntuples(res) == 1 ? "" : "s");
		publish_swept(res);
	} else {
		log_warn("timer rules failed: %s", db_job_error(job));
	}
	arm_sweep();
	batch_end(db_job_status(job) == DB_ERR_CONN ? SEQ_DOWN : SEQ_IDLE);
}

/* Runs the timer rules now, as the write lane's next job; the sequencer is idle. */
static void start_sweep(void)
{
	struct db_job *job = db_job_new(on_swept, NULL);

	if (job == NULL) {
		arm_sweep();
		return;
	}
	/* One implicit transaction: the check, then the sweep (results[1]). */
	db_job_add(job, SQL_EPOCH_CHECK);
	db_param_i64(job, seq.epoch);
	db_job_add(job, SQL_SWEEP);
	db_param_i64(job, (int64_t)seq.next_alert_id - 1);
	db_param_i64(job, codec_now_ms());
	db_param_i64(job, seq.opt.attest_interval_ms);
	db_param_i64(job, SWEEP_MAX_ALERTS);
	seq.state = SEQ_SWEEPING;
	if (db_submit(seq.db, DB_LANE_WRITE, job) != CU_OK) {
		db_job_free(job);
		seq.state = SEQ_DOWN;
		arm_sweep();
	}
}

/*
 * The timer: the rules run now if the sequencer is idle, else between the
 * batch in flight and the next (kick): under a steady load it is never idle
 * when the timer fires, and the overdue shipments and dark accelerators
 * must not wait for the load to stop.
 */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (seq.draining)
		return;
	if (seq.state == SEQ_IDLE) {
		start_sweep();
		return;
	}
	if (seq.state == SEQ_LOADING || seq.state == SEQ_WRITING) {
		seq.sweep_due = true;
		return;
	}
	arm_sweep(); /* down, syncing or stopped: try again later */
}

/* ---- set-up and tear-down -------------------------------------------------- */

/* Names this daemon in the epochs it claims: "custodyd pid N on HOST". */
static void holder_name(void)
{
	char host[64];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = '\0';
	snprintf(seq.holder, sizeof(seq.holder), "custodyd pid %ld on %s", (long)getpid(), host);
}

int sequencer_init(struct event_base *base, struct db *db, const struct sequencer_options *opt)
{
	memset(&seq, 0, sizeof(seq));
	seq.base = base;
	seq.db = db;
	seq.opt = *opt;
	seq.state = SEQ_DOWN;
	holder_name();
	seq.linger = evtimer_new(base, on_linger, NULL);
	seq.retry = evtimer_new(base, on_retry, NULL);
	seq.sweep = evtimer_new(base, on_sweep, NULL);
	seq.cache = devcache_new(opt->device_cache_max);
	if (seq.linger == NULL || seq.retry == NULL || seq.sweep == NULL || seq.cache == NULL ||
	    tlog_new(opt->log_origin, opt->log_key, &seq.tlog) != CU_OK) {
		sequencer_free();
		return CU_ERR_NOMEM;
	}
	return CU_OK;
}

void sequencer_free(void)
{
	struct item *queued = seq.head;

	seq.head = seq.tail = NULL;
	seq_fail_all(queued, CUSTODY__ERROR_CODE__UNAVAILABLE, "server shutting down");
	if (seq.linger != NULL)
		event_free(seq.linger);
	if (seq.retry != NULL)
		event_free(seq.retry);
	if (seq.sweep != NULL)
		event_free(seq.sweep);
	registry_free(seq.reg);
	policy_store_free(seq.policy);
	tally_free(seq.tally);
	synced_clear();
	tlog_free(seq.tlog);
	batch_clear(&seq.slots[0]);
	batch_clear(&seq.slots[1]);
	devcache_free(seq.cache);
	idfilter_free(seq.stored_ids);
	memset(&seq, 0, sizeof(seq));
}

const char *sequencer_checkpoint(uint64_t *size)
{
	if (!seq.log_loaded || seq.checkpoint[0] == '\0')
		return NULL;
	*size = seq.checkpoint_size;
	return seq.checkpoint;
}

const struct registry *sequencer_registry(void)
{
	return seq.reg;
}

bool sequencer_is_bootstrap_admin(const uint8_t pk[32])
{
	return memcmp(pk, seq.opt.admin_key, 32) == 0;
}

/*
 * A store of the built-in loads of seq.opt followed by the signed loads of
 * old, in their order; NULL when out of memory or a load cannot be indexed.
 */
static struct policy_store *rebuild_policy(const struct policy_store *old)
{
	struct policy_store *store = policy_store_new();
	const Custody__PolicyLoad *pl;
	uint64_t admin_seq;
	size_t pos = 0;
	char err[256] = "out of memory";

	if (store == NULL)
		goto fail;
	for (size_t i = 0; i < seq.opt.n_builtin; i++) {
		if (policy_store_add(store, seq.opt.builtin[i], 0, err, sizeof(err)) != CU_OK)
			goto fail;
	}
	while (policy_store_next(old, &pos, &pl, &admin_seq) != NULL) {
		if (admin_seq != 0 &&
		    policy_store_add(store, pl, admin_seq, err, sizeof(err)) != CU_OK)
			goto fail;
	}
	return store;
fail:
	log_error("SIGHUP: cannot rebuild the policy data: %s; keeping the old", err);
	policy_store_free(store);
	return NULL;
}

/* Applies a pending reconfiguration unless a batch or sweep is in flight. */
static void apply_reconfigure(void)
{
	const struct sequencer_options *n = &seq.next_opt;
	struct policy_store *store;

	if (!seq.reconfigure || seq.state == SEQ_LOADING || seq.state == SEQ_WRITING ||
	    seq.state == SEQ_SWEEPING)
		return;
	seq.reconfigure = false;
	seq.opt.batch_max = n->batch_max;
	seq.opt.batch_max_devices = n->batch_max_devices;
	seq.opt.linger_ms = n->linger_ms;
	seq.opt.builtin = n->builtin;
	seq.opt.n_builtin = n->n_builtin;
	seq.opt.rules = n->rules;
	seq.opt.ship_deadline_ms = n->ship_deadline_ms;
	seq.opt.rma_deadline_ms = n->rma_deadline_ms;
	seq.opt.attest_interval_ms = n->attest_interval_ms;
	seq.opt.sweep_interval_ms = n->sweep_interval_ms;
	/* Before the first sync there is no store yet: the sync builds it. */
	if (seq.policy == NULL || (store = rebuild_policy(seq.policy)) == NULL)
		return;
	policy_store_free(seq.policy);
	seq.policy = store;
	log_info("sequencer: new policy data and rule parameters in force");
}

void sequencer_reconfigure(const struct sequencer_options *opt)
{
	seq.next_opt = *opt;
	seq.reconfigure = true;
	apply_reconfigure();
}

void sequencer_drain(void (*done)(void))
{
	struct item *queued = seq.head;

	seq.draining = true;
	seq.head = seq.tail = NULL;
	seq.pending = 0;
	seq_fail_all(queued, CUSTODY__ERROR_CODE__UNAVAILABLE, "server shutting down");
	if (seq.state == SEQ_LOADING || seq.state == SEQ_WRITING || seq.state == SEQ_SWEEPING) {
		seq.drained = done;
		return;
	}
	done();
}

const struct policy_store *sequencer_policy(void)
{
	return seq.policy;
}

const struct sequencer_options *sequencer_options(void)
{
	return &seq.opt;
}

void sequencer_status(struct sequencer_status *out)
{
	static const char *const names[] = {"down",    "syncing",  "idle",   "loading",
					    "writing", "sweeping", "stopped"};

	out->states = names;
	out->n_states = sizeof(names) / sizeof(names[0]);
	out->state = names[seq.state];
	out->writing =
	    seq.state != SEQ_DOWN && seq.state != SEQ_SYNCING && seq.state != SEQ_STOPPED;
	out->pending = (size_t)seq.pending;
	out->log_loaded = seq.log_loaded && seq.tlog != NULL;
	out->log_size = seq.tlog != NULL ? tlog_size(seq.tlog) : 0;
	out->last_checkpoint_ms = seq.last_checkpoint_ms;
}

int64_t sequencer_epoch(void)
{
	return seq.state == SEQ_DOWN || seq.state == SEQ_SYNCING || seq.state == SEQ_STOPPED
		   ? 0
		   : seq.epoch;
}
