/*
 * config.h - custodyd's configuration: one declarative table of keys
 * (name, type, default, limits, help) in config.c, parsed from a file of
 * "key = value" lines. deploy/custodyd.conf documents every key.
 */
#ifndef CUSTODY_CONFIG_H
#define CUSTODY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"

struct config {
	char *database;		   /* libpq connection string */
	char *schema_database;	   /* for migrations only; "" = database */
	char *listen_unix;	   /* Unix socket path, "" = none */
	char *listen_tcp;	   /* HOST:PORT, "" = none */
	int unix_socket_mode;	   /* permission bits of the Unix socket */
	char *admin_key;	   /* bootstrap admin public key or its file */
	char *models_file;	   /* accelerator model table (CSV) */
	char *country_groups_file; /* EAR country groups (CSV) */
	char *policy_regime;	   /* may2025, jan2025 or siia */
	int site_notice_days;	   /* authorized site notice before first shipment */
	int transfer_notice_days;  /* advance notice of moves between countries */
	int ship_deadline_days;	   /* SHIP without a deadline: received within */
	int rma_deadline_days;	   /* RMA_OUT without a deadline: back within */
	int attest_interval_hours; /* installed chips attest at least this often */
	int max_travel_kmh;	   /* faster than this between facilities: alert */
	char *transshipment_hubs;  /* country codes, comma-separated */
	int lpp_cap_tpp;	   /* License Exception LPP: TPP per consignee-year */
	int timer_interval_ms;	   /* how often the timer rules run */
	char *log_key;		   /* the log's signing key (generated if missing) */
	char *log_origin;	   /* origin line of the log's checkpoints */
	char *server_key;	   /* Noise identity on TCP (generated if missing) */
	char *unix_allowed_users;  /* Unix peers allowed besides root and us */
	char *unix_allowed_groups;
	int handshake_timeout_ms; /* TCP: Noise handshake deadline */
	int idle_timeout_ms;	  /* close connections idle this long */
	int max_handshakes;	  /* TCP handshakes at once */
	int max_connections_per_key;
	int key_rate_per_s; /* requests per second per key (0: no limit) */
	int key_rate_burst;
	char *pid_file;		     /* "" = none */
	char *log_level;	     /* debug, info, warn, error */
	char *log_format;	     /* logfmt or json */
	char *log_target;	     /* stderr or journald */
	char *http_listen;	     /* metrics and health port HOST:PORT, "" = none */
	char *http_allow_remote;     /* yes: http_listen may be non-loopback */
	int db_pool_size;	     /* query connections (plus one sequencer) */
	int db_statement_timeout_ms; /* per statement */
	int max_frame_bytes;	     /* largest request frame */
	int max_connections;	     /* open client connections */
	int max_inflight_per_connection;
	int max_verifying_per_connection; /* submissions in the verify pool per connection */
	int max_held_bytes;		  /* submission bytes held server-wide (conn.h req_hold) */
	int max_output_bytes_per_connection;
	int batch_max_events;  /* submissions per transaction */
	int batch_max_devices; /* devices named per transaction */
	int batch_linger_ms;   /* wait for more submissions before a batch */
	int max_pending;       /* queued submissions before UNAVAILABLE */
	int device_cache_max;  /* device rows cached between batches */
	int tile_cache_max;    /* full log tiles cached for proofs (tilecache.h) */
	int verify_threads;    /* signature-check threads (0: one per CPU) */
	int verify_queue_max;  /* submissions awaiting their check before UNAVAILABLE */
	int max_clock_skew_ms; /* how far in the future events may be dated */
	int shutdown_grace_ms; /* on SIGTERM, wait this long for in-flight work */
};

/* One row of the key table, for listing and documentation checks. */
struct config_key_info {
	const char *name;
	const char *default_text; /* NULL: required */
	const char *help;
	bool reloadable; /* SIGHUP applies it; otherwise "needs restart" */
};

/*
 * Reads path into a new config (owned by the caller, free with
 * config_free). On failure returns CU_ERR_INVALID (or CU_ERR_IO/NOT_FOUND
 * for the file) with a message naming the line in err.
 */
CU_MUST_USE int config_load(const char *path, struct config **out, char *err, size_t err_size);

/*
 * The SIGHUP step after config_load parsed next: makes next the
 * configuration to run from now on. For every key whose value differs
 * between cur and next, calls changed (if not NULL) with its name and
 * whether it is reloadable. Every key that is not reloadable then gets
 * its value in next from cur: strings are moved (cur's pointer goes to
 * next, next's to cur), so pointers other modules borrowed from cur's
 * restart-only values stay valid while next is in use. cur then holds
 * leftovers only; the caller frees it.
 */
void config_reload_merge(struct config *cur, struct config *next,
			 void (*changed)(const char *name, bool reloadable, void *arg), void *arg);

/*
 * Like config_load, over the len bytes at text (borrowed; need not be
 * NUL-terminated), for callers that hold the file's contents and for
 * tests/fuzz/fuzz_config.c.
 */
CU_MUST_USE int config_parse(const char *text, size_t len, struct config **out, char *err,
			     size_t err_size);

/* Frees a config; accepts NULL. */
void config_free(struct config *cfg);

/* The key table: *count rows. */
const struct config_key_info *config_keys(size_t *count);

#endif
