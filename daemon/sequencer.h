/*
 * sequencer.h - the single writer (DESIGN section 7).
 *
 * Verified submissions (custody events and admin actions) queue here. The
 * sequencer takes them in arrival order in batches: it loads the state of
 * every device the batch names, decides each submission with the state
 * machine and the registry, writes all accepted ones in one transaction,
 * and only after COMMIT answers every waiting client. One fsync per batch,
 * not per event. It holds a PostgreSQL advisory lock on its connection, so
 * a second custodyd on the same database cannot write, and an epoch that
 * every write transaction checks: one that finds a newer epoch stops.
 */
#ifndef CUSTODY_SEQUENCER_H
#define CUSTODY_SEQUENCER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "db.h"
#include "policy.h"
#include "registry.h"
#include "rules.h"

struct req;

struct sequencer_options {
	int batch_max;		 /* submissions per transaction */
	int batch_max_devices;	 /* devices named per transaction (bounds its memory) */
	int linger_ms;		 /* wait for more before writing a short batch */
	int max_pending;	 /* queued submissions before UNAVAILABLE */
	size_t device_cache_max; /* device rows kept between batches (devcache.h) */
	uint8_t admin_key[32];
	const struct cu_key *log_key; /* signs checkpoints; borrowed */
	const char *log_origin;	      /* checkpoints' origin line; borrowed */
	/* Built-in policy data (config files), in force from the epoch; borrowed. */
	const Custody__PolicyLoad *const *builtin;
	size_t n_builtin;
	struct rules_params rules;
	int64_t ship_deadline_ms;	   /* SHIP without a deadline: due after this */
	int64_t rma_deadline_ms;	   /* RMA_OUT without a deadline */
	int64_t attest_interval_ms;	   /* installed chips attest at least this often */
	int sweep_interval_ms;		   /* how often the timer rules run */
	void (*on_fatal)(const char *why); /* cannot ever start (lock held) */
	void (*on_ready)(void);		   /* first time ready to write */
	/*
	 * Superseded after having served: another custodyd claimed a newer
	 * epoch. The sequencer no longer writes; why is the line to log, and
	 * custodyd should shut down. Called from a database callback.
	 */
	void (*on_stop)(const char *why);
};

/* Sets up the sequencer on db's write lane. */
CU_MUST_USE int sequencer_init(struct event_base *base, struct db *db,
			       const struct sequencer_options *opt);

/* Frees queued submissions (answering them UNAVAILABLE) and the state. */
void sequencer_free(void);

/* db lane callback for the write lane: resynchronize when it comes up. */
void sequencer_lane(bool up);

/*
 * Queues a verified event. Takes ownership of ev (from pb_block_unpack,
 * pb.h) and of req; copies env's bytes. id is SHA-256 of env->body.
 */
void sequencer_submit_event(struct req *req, const Custody__SignedEnvelope *env, Custody__Event *ev,
			    const uint8_t id[32]);

/* Queues a verified admin action; like sequencer_submit_event. */
void sequencer_submit_admin(struct req *req, const Custody__SignedEnvelope *env,
			    Custody__AdminAction *act, const uint8_t id[32]);

/* The policy store as last committed; borrowed. NULL before the first sync. */
const struct policy_store *sequencer_policy(void);

/*
 * The epoch the sequencer holds, for other writers to check in their own
 * transactions (SQL_EPOCH_CHECK); 0 while it holds none.
 */
int64_t sequencer_epoch(void);

/* The options the sequencer runs with (regime, parameters). */
const struct sequencer_options *sequencer_options(void);

/* What the metrics and /readyz show of the sequencer (static strings). */
struct sequencer_status {
	const char *const *states; /* every state's name */
	size_t n_states;
	const char *state;	    /* the current one */
	bool writing;		    /* holds the lock and takes submissions */
	size_t pending;		    /* submissions queued */
	bool log_loaded;	    /* the log is in memory and matched its checkpoint */
	uint64_t log_size;	    /* its entries */
	int64_t last_checkpoint_ms; /* wall time this process last stored one; 0: none */
};

/* Fills out from the sequencer's state. */
void sequencer_status(struct sequencer_status *out);

/*
 * The latest signed checkpoint stored (by this process's last batch, or
 * the one it loaded at start-up) and its tree size in *size; NULL when the
 * log is not loaded or empty. The text changes when the next batch
 * commits: copy it if it must outlive the caller's callback.
 */
const char *sequencer_checkpoint(uint64_t *size);

/* The registry as last committed; borrowed. NULL before the first sync. */
const struct registry *sequencer_registry(void);

/* True if pk is the configured bootstrap admin key. */
bool sequencer_is_bootstrap_admin(const uint8_t pk[32]);

/*
 * SIGHUP: takes from opt (copied; opt->builtin borrowed as at init) the
 * options that may change while running: batch_max, linger_ms, rules,
 * the deadlines, attest_interval_ms, sweep_interval_ms and the built-in
 * policy loads, and rebuilds the policy store from the new built-in loads
 * followed by every signed load already in force. Applied between
 * batches: at once when none is in flight, else when it ends, so a batch
 * is decided with one consistent set. The caller keeps opt->builtin's
 * loads alive until the next reconfigure or sequencer_free.
 */
void sequencer_reconfigure(const struct sequencer_options *opt);

/*
 * Stops taking submissions (queued ones get UNAVAILABLE) and calls done
 * once the batch in flight, if any, has been committed and answered.
 */
void sequencer_drain(void (*done)(void));

#endif
