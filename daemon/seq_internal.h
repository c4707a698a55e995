/*
 * seq_internal.h - what the sequencer's files share: the queued item and
 * the per-kind batch steps. Not for other modules.
 *
 * sequencer.c   queue, batch lifecycle, resync, answers
 * seq_events.c  deciding a batch of custody events
 * seq_rows.c    the decided batch's rows, a statement per table
 * seq_admin.c   deciding and writing one admin action
 * seq_log.c     the batch's log entries, tiles and checkpoint
 */
#ifndef CUSTODY_SEQ_INTERNAL_H
#define CUSTODY_SEQ_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody.pb-c.h"
#include "db.h"
#include "models.h"
#include "policy.h"
#include "registry.h"
#include "rules.h"
#include "state.h"
#include "tally.h"
#include "tlog.h"

struct req;
struct devcache;
struct idfilter;

/* One queued submission and, once decided, its verdict. */
struct item {
	struct item *next;
	struct req *req;
	bool is_admin;
	uint8_t id[32];
	uint8_t *body; /* exact signed bytes, right after the item (item_new) */
	size_t body_len;
	uint8_t signer[32];
	uint8_t sig[64];
	Custody__Event *ev;	   /* owned (pb_block_unpack), events */
	Custody__AdminAction *act; /* owned, admin actions */

	/* verdict */
	struct state_result res; /* res.code 0 = accepted */
	struct verdict verdict;	 /* events: the rules that fired */
	bool evidence;		 /* REJECT stored as evidence (res.code REJECTED) */
	char exporter[VALIDATE_ID_MAX + 1];
	uint64_t first_alert_id; /* alerts raised: ids first_alert_id.. */
	size_t n_alerts;

	/* the verifiable log */
	bool logged;	  /* appended in this batch */
	bool prepared;	  /* entry and leaf hash made (seq_log_prepare), not yet appended */
	uint8_t leaf[32]; /* its leaf hash, once prepared */
	uint8_t
	    *entry; /* its stored entry (stub, log_entry.h), until the batch is written (owned) */
	size_t entry_len;
	uint64_t log_index;    /* its leaf index */
	uint64_t receipt_size; /* tree size of the receipt; 0 = none */
	uint8_t proof[MERKLE_PROOF_MAX * MERKLE_HASH_SIZE];
	size_t proof_count;
	uint64_t seq;
	int64_t recorded_ms;
	bool duplicate;	     /* stored before, by an earlier batch */
	bool unchanged;	     /* admin: identical record already registered */
	struct item *dup_of; /* same bytes earlier in this batch */
	bool written;	     /* part of the batch's transaction */
};

/* Context the batch steps need. */
struct seq_ctx {
	struct registry *reg;
	const struct policy_store *policy;
	struct tally *tally;
	const struct rules_params *rules;
	int64_t ship_deadline_ms, rma_deadline_ms;
	const uint8_t *admin_key;
	uint64_t *next_seq;	  /* events */
	uint64_t *next_admin_seq; /* admin actions */
	uint64_t *next_alert_id;
	struct tlog *tlog;
	char *checkpoint; /* TLOG_CHECKPOINT_MAX bytes: the batch's signed checkpoint */
	int64_t now_ms;
	int64_t epoch; /* the sequencer's epoch, checked by every write transaction */
};

/*
 * Starts a write job's transaction: BEGIN, then the epoch check, which
 * fails the whole job if another sequencer has claimed a newer epoch.
 */
void seq_begin(struct db_job *job, const struct seq_ctx *ctx);

/* Sets item's verdict to an error. */
void seq_refuse(struct item *item, Custody__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Synchronizing (seq_load.c): the rows of SQL_LOAD_PARTIES, SQL_LOAD_KEYS
 * and SQL_LOAD_FACILITIES into reg (CU_ERR_NOMEM, or CU_ERR_INVALID for a
 * malformed key row); the policy store, built-in loads first, then every
 * stored one of SQL_LOAD_POLICY in order (NULL, logged, if one cannot be
 * read back); the tally from SQL_LOAD_ALLOC and SQL_LOAD_USAGE (NULL when
 * out of memory).
 */
int seq_load_parties(struct registry *reg, const PGresult *res);
int seq_load_keys(struct registry *reg, const PGresult *res);
int seq_load_facilities(struct registry *reg, const PGresult *res);
struct policy_store *seq_load_policy(const PGresult *res, const Custody__PolicyLoad *const *builtin,
				     size_t n_builtin);
struct tally *seq_load_tally(const PGresult *alloc, const PGresult *usage);

/* Answers (seq_reply.c). Frees an item (NULL is fine). */
void seq_item_free(struct item *item);

/*
 * Answers every item of a list from its verdict (a duplicate from its
 * original's), with checkpoint, the batch's signed checkpoint, in the log
 * receipts; then frees them.
 */
void seq_reply_all(struct item *list, const char *checkpoint);

/* Fails every item of a list with one error and frees them. */
void seq_fail_all(struct item *list, Custody__ErrorCode code, const char *why);

/*
 * Keys (seq_keys.c). seq_key_usable refuses the item (UNAUTHENTICATED,
 * naming the key and why) if key, which signed it, is revoked, expired or
 * not yet valid at ctx->now_ms, or at the item's own date (an event's
 * occurred_at_ms, an action's issued_at_ms; registry_key_refusal); it
 * returns whether the key is usable.
 */
bool seq_key_usable(struct item *item, const struct key_rec *key, const struct seq_ctx *ctx);

/* Is the item a rotate_key or revoke_key signed by the key it changes? */
bool seq_keys_self_signed(const struct item *item);

/* Decide rotate_key / revoke_key (authorized already) and add their rows to job. */
void seq_keys_decide_rotate(struct item *item, const struct seq_ctx *ctx, struct db_job *job);
void seq_keys_decide_revoke(struct item *item, const struct seq_ctx *ctx, struct db_job *job);

/* After COMMIT: applies a written rotate_key or revoke_key to the registry. */
CU_MUST_USE int seq_keys_commit(const struct item *item, struct registry *reg);

/* Admin: adds the admin_actions row of item, of the given kind, to job. */
void seq_admin_row(struct db_job *job, const struct item *item, const char *kind);

/* Up to SEQ_COLS_MAX column arrays of one statement, freed together. */
#define SEQ_COLS_MAX 24
struct seq_cols {
	void *p[SEQ_COLS_MAX];
	int count;
	bool nomem; /* an allocation failed: leave the statement out */
};

/* A new n-element column of elem-byte items (NULL and c->nomem on failure). */
void *seq_col(struct seq_cols *c, size_t n, size_t elem);
void seq_cols_free(struct seq_cols *c);

/*
 * The log at start-up (seq_logload.c): checks the stored log against its
 * last signed checkpoint, from head and edge (SQL_LOG_HEAD, SQL_LOG_EDGE;
 * read here, not kept) and the stored entries, read in chunks on db's
 * write lane, and loads tlog from it. Calls done exactly once, maybe
 * before returning: CU_OK (tlog loaded), CU_ERR_INVALID (the log does not
 * match; err says why), CU_ERR_IO (the database failed; retry),
 * CU_ERR_NOMEM.
 */
typedef void (*seq_logload_fn)(int rc, const char *err);
void seq_logload_start(struct db *db, struct tlog *tlog, const PGresult *head, const PGresult *edge,
		       seq_logload_fn done);
/*
 * From done, when the check passed: the filter of the ids of every event
 * entry it read (idfilter_count: how many; the caller owns it), NULL if it
 * ran out of memory.
 */
struct idfilter *seq_logload_take_ids(void);

/* Events: what an alert of hit h is about (device, facility, its country). */
const char *seq_hit_device(const struct item *item, const struct rule_hit *h);
const char *seq_hit_facility(const struct item *item, const struct rule_hit *h);
const char *seq_facility_country(const struct registry *reg, const char *facility);

/*
 * Events: adds the rows of every written item of batch and of every
 * changed device of ws to job; assigns the items' alert ids.
 */
CU_MUST_USE int seq_rows_add(struct db_job *job, struct item *batch, const struct state_ws *ws,
			     const struct seq_ctx *ctx);

/*
 * A batch taken while the one ahead of it is still being written
 * (sequencer.c): its items and working set, already decided but not
 * stored. A load that depends on them sets *after_write: it must run after
 * that batch's COMMIT, on the write lane.
 */
struct seq_ahead {
	const struct item *items;
	const struct state_ws *ws;
	bool *after_write;
};

/*
 * Events: the load job (the ids stored ids may hold, all of them when it
 * is NULL, and the closure of every named device not in cache). *ws is
 * set to a new working set holding the cached rows; the caller owns it
 * (with the job) and passes it to seq_events_decide. ahead: the batch
 * being written, or NULL when there is none.
 */
struct db_job *seq_events_load_job(struct item *batch, const struct idfilter *stored_ids,
				   struct devcache *cache, const struct seq_ahead *ahead,
				   struct state_ws **ws, db_done_fn done, void *arg);

/*
 * Events: true if the load job, run beside the write of the batch ahead
 * (the read lane), read a device row that batch changes: the row it read
 * is the one before.
 */
bool seq_events_loaded_stale(const struct db_job *loaded, const struct state_ws *ahead);

/*
 * Events: decides every item from the load job's results and returns the
 * write job without its log rows and COMMIT (seq_events_finish adds them);
 * NULL with *nothing_to_write when all were refused or duplicates, NULL
 * otherwise means out of memory. The log is not touched: a batch decided
 * while the one ahead commits is logged after it.
 */
struct db_job *seq_events_decide(struct item *batch, const struct db_job *loaded,
				 struct state_ws *ws, const struct seq_ctx *ctx, db_done_fn done,
				 void *arg, bool *nothing_to_write);

/*
 * Events: appends the decided batch's stored items to the log, then adds
 * their log rows, tiles, the signed checkpoint and COMMIT to job.
 */
CU_MUST_USE int seq_events_finish(struct item *batch, struct db_job *job,
				  const struct seq_ctx *ctx);

/* Admin: the load job (has this action been applied?). */
struct db_job *seq_admin_load_job(struct item *item, db_done_fn done, void *arg);

/* Admin: decides the action; returns the write job like seq_events_decide. */
struct db_job *seq_admin_decide(struct item *item, const struct db_job *loaded,
				const struct seq_ctx *ctx, db_done_fn done, void *arg,
				bool *nothing_to_write);

/*
 * Admin: after COMMIT, applies the action to what is kept in memory: the
 * registry, or the policy store.
 */
int seq_admin_commit(struct item *item, struct registry *reg, struct policy_store *policy);

/*
 * Log: makes a stored item's entry (the stub its row keeps) and leaf hash,
 * which depend on nothing but the item: done while a batch is decided, so
 * appending it after the batch ahead commits costs only the tree's nodes.
 */
CU_MUST_USE int seq_log_prepare(struct item *item);

/* Log: appends a stored item to the tree (preparing it first if need be); its entry row waits for seq_log_finish. */
CU_MUST_USE int seq_log_append(struct item *item, const struct seq_ctx *ctx);

/*
 * Log: after the batch's appends, adds to job one row per logged item of
 * batch (one statement), the changed tiles and the signed checkpoint.
 */
CU_MUST_USE int seq_log_finish(const struct seq_ctx *ctx, struct item *batch, struct db_job *job);

/* Log: after COMMIT, before tlog_commit: the item's receipt (proof). */
void seq_log_receipt(struct item *item, const struct tlog *tlog, struct merkle_edge *edge);

/*
 * After COMMIT: counts the batch (events or one admin action) in the
 * metrics: its size, its commit time, each stored event by type and verdict.
 */
void seq_events_count(const struct item *batch, int64_t commit_us);

/* Events: the alerts an item raised, for watchers, after COMMIT. */
void seq_events_publish(const struct item *item, const struct registry *reg);

#endif
