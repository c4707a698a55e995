/*
 * main.c - custodyd: start-up, signals and shutdown. The work happens in
 * the modules; this file only wires them together in order:
 *
 *   config -> migrations (blocking, before serving; as schema_database
 *   when set, which may be a more privileged role than database) -> model
 *   table and admin key -> event loop, database lanes, sequencer -> once
 *   the sequencer holds the lock and has loaded the registry: listeners,
 *   pid file, READY=1 to systemd (notify.c) -> loop -> on SIGTERM/SIGINT,
 *   or when another custodyd has taken over the database: STOPPING=1, stop
 *   listening, drain, exit. On SIGHUP the config and policy data files are
 *   read again (daemon_reload), between RELOADING=1 and READY=1.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sodium.h>

#include "codec.h"
#include "config.h"
#include "conn.h"
#include "db.h"
#include "dispatch.h"
#include "http.h"
#include "key.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "note.h"
#include "notify.h"
#include "peer.h"
#include "policy_file.h"
#include "query.h"
#include "rules.h"
#include "sequencer.h"
#include "validate.h"
#include "watch.h"

#define DEFAULT_CONFIG	 "/etc/custody/custodyd.conf"
#define EXIT_USAGE	 2
#define SHUTDOWN_TICK_MS 50
#define CUSTODYD_VERSION "0.1.0"

static struct {
	struct event_base *base;
	struct config *cfg;
	const char *config_path;	 /* re-read on SIGHUP */
	Custody__PolicyLoad *builtin[2]; /* country groups, models */
	struct cu_key *log_key;		 /* signs the log's checkpoints */
	struct cu_key *server_key;	 /* Noise identity on TCP */
	struct rules_params rules;
	struct db *db;
	struct event *sig_term, *sig_int, *sig_hup, *shutdown_tick;
	int64_t shutdown_deadline_ms;
	bool shutting_down, drained, listening;
	int exit_code;
} d;

static void usage(FILE *out)
{
	fprintf(out, "usage: custodyd [-c CONFIG] [--migrate] [--check-config] [--version]\n"
		     "\n"
		     "  -c, --config FILE  configuration (default " DEFAULT_CONFIG ")\n"
		     "      --migrate      apply pending schema migrations and exit\n"
		     "      --check-config check the configuration, model table and admin key\n"
		     "      --version      print the version\n");
}

/* Logs a failed notification to systemd (rc from notify_*); serving goes on. */
static void notified(int rc, const char *what)
{
	if (rc != CU_OK)
		log_warn("cannot notify NOTIFY_SOCKET of %s: %s", what, cu_strerror(rc));
}

static void fatal_exit(const char *why)
{
	log_error("%s", why);
	notified(notify_status(why), "the failure");
	d.exit_code = 1;
	event_base_loopexit(d.base, NULL);
}

static void on_lane(void *arg, enum db_lane lane, bool up)
{
	(void)arg;
	if (lane == DB_LANE_WRITE)
		sequencer_lane(up);
}

static int write_pid_file(const char *path)
{
	FILE *f;

	if (path[0] == '\0')
		return CU_OK;
	f = fopen(path, "w");
	if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
		log_error("cannot write pid_file %s: %s", path, strerror(errno));
		return CU_ERR_IO;
	}
	return CU_OK;
}

/* The sequencer is ready: start serving. */
static void on_ready(void)
{
	struct listener_options lo = {d.cfg->listen_unix, d.cfg->unix_socket_mode,
				      d.cfg->listen_tcp, d.cfg->max_connections};
	char err[256];

	if (listener_start(d.base, &lo, err, sizeof(err)) != CU_OK) {
		fatal_exit(err);
		return;
	}
	d.listening = true;
	if (write_pid_file(d.cfg->pid_file) != CU_OK) {
		fatal_exit("cannot write the pid file");
		return;
	}
	log_info("custodyd %s ready", CUSTODYD_VERSION);
	notified(notify_ready("serving"), "READY=1");
}

static void on_drained(void)
{
	d.drained = true;
}

/* During shutdown: exit once drained and every client is answered. */
static void on_shutdown_tick(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = {0, SHUTDOWN_TICK_MS * 1000};

	(void)fd;
	(void)what;
	(void)arg;
	if ((d.drained && conn_count() == 0) || codec_now_ms() >= d.shutdown_deadline_ms) {
		event_base_loopexit(d.base, NULL);
		return;
	}
	evtimer_add(d.shutdown_tick, &tv);
}

/* Stops listening, answers what is in flight, then exits the loop. */
static void begin_shutdown(void)
{
	d.shutting_down = true;
	http_set_shutting_down();
	notified(notify_stopping("shutting down"), "STOPPING=1");
	d.shutdown_deadline_ms = codec_now_ms() + d.cfg->shutdown_grace_ms;
	if (d.listening)
		listener_stop();
	d.listening = false;
	conn_drain_all();
	sequencer_drain(on_drained);
	on_shutdown_tick(-1, 0, NULL);
}

static void daemon_reload(void);

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (sig == SIGHUP) {
		if (d.shutting_down)
			return;
		notified(notify_reloading(), "RELOADING=1");
		daemon_reload();
		notified(notify_reloaded(), "the end of the reload");
		return;
	}
	if (d.shutting_down) {
		log_info("second signal: exiting now");
		event_base_loopexit(d.base, NULL);
		return;
	}
	log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	begin_shutdown();
}

static void on_stop_now(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (!d.shutting_down)
		begin_shutdown();
}

/*
 * The sequencer was superseded: log why and shut down with exit status 1,
 * from the loop rather than inside the sequencer's database callback.
 */
static void on_sequencer_stop(const char *why)
{
	struct timeval now = {0, 0};

	log_error("%s", why);
	d.exit_code = 1;
	if (event_base_once(d.base, -1, EV_TIMEOUT, on_stop_now, NULL, &now) != 0)
		begin_shutdown();
}

static int setup_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
	d.sig_term = evsignal_new(d.base, SIGTERM, on_signal, NULL);
	d.sig_int = evsignal_new(d.base, SIGINT, on_signal, NULL);
	d.sig_hup = evsignal_new(d.base, SIGHUP, on_signal, NULL);
	d.shutdown_tick = evtimer_new(d.base, on_shutdown_tick, NULL);
	if (d.sig_term == NULL || d.sig_int == NULL || d.sig_hup == NULL ||
	    d.shutdown_tick == NULL || evsignal_add(d.sig_term, NULL) != 0 ||
	    evsignal_add(d.sig_int, NULL) != 0 || evsignal_add(d.sig_hup, NULL) != 0)
		return CU_ERR_NOMEM;
	return CU_OK;
}

/* Parses the rule parameters of cfg into *out; logs what is wrong. */
static int parse_rules(const struct config *cfg, struct rules_params *out)
{
	char hubs[256], *save = NULL;
	int regime = rules_regime_parse(cfg->policy_regime);

	rules_params_default(out);
	if (regime < 0) {
		log_error("policy_regime: \"%s\" is not may2025, jan2025 or siia",
			  cfg->policy_regime);
		return CU_ERR_INVALID;
	}
	out->regime = (enum regime)regime;
	out->site_notice_ms = (int64_t)cfg->site_notice_days * 86400000;
	out->transfer_notice_ms = (int64_t)cfg->transfer_notice_days * 86400000;
	out->max_travel_kmh = cfg->max_travel_kmh;
	out->lpp_cap_tpp = cfg->lpp_cap_tpp;
	out->n_hubs = 0;
	snprintf(hubs, sizeof(hubs), "%s", cfg->transshipment_hubs);
	for (char *t = strtok_r(hubs, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
		if (!validate_country(t) || out->n_hubs == RULES_MAX_HUBS) {
			log_error("transshipment_hubs: \"%s\" is not a list of at most %d country "
				  "codes",
				  cfg->transshipment_hubs, RULES_MAX_HUBS);
			return CU_ERR_INVALID;
		}
		memcpy(out->hubs[out->n_hubs++], t, 3);
	}
	return CU_OK;
}

/*
 * Loads the built-in policy files of cfg into out[2] (the caller's,
 * policy_file_free) and checks that they index as a policy store would;
 * on failure logs which file and why and leaves out NULL.
 */
static int load_builtin(const struct config *cfg, Custody__PolicyLoad *out[2])
{
	static const struct {
		Custody__PolicyKind kind;
		const char *key;
	} files[2] = {{CUSTODY__POLICY_KIND__COUNTRY_GROUPS, "country_groups_file"},
		      {CUSTODY__POLICY_KIND__MODELS, "models_file"}};
	const char *paths[2] = {cfg->country_groups_file, cfg->models_file};
	struct policy_store *trial = policy_store_new();
	char err[POLICY_FILE_ERR_MAX];
	int rc = CU_ERR_NOMEM, i;

	out[0] = out[1] = NULL;
	snprintf(err, sizeof(err), "out of memory");
	for (i = 0; trial != NULL && i < 2; i++) {
		rc = policy_file_load(files[i].kind, paths[i], &out[i], err, sizeof(err));
		if (rc == CU_OK)
			rc = policy_store_add(trial, out[i], 0, err, sizeof(err));
		if (rc != CU_OK)
			break;
	}
	policy_store_free(trial);
	if (rc == CU_OK)
		return CU_OK;
	log_error("%s: %s", files[i < 2 ? i : 0].key, err);
	for (i = 0; i < 2; i++) {
		policy_file_free(out[i]);
		out[i] = NULL;
	}
	return rc;
}

/* Loads the built-in policy files, the rule parameters and the admin key. */
static int load_policy(uint8_t admin_key[32])
{
	int rc = load_builtin(d.cfg, d.builtin);

	if (rc != CU_OK)
		return rc;
	rc = parse_rules(d.cfg, &d.rules);
	if (rc != CU_OK)
		return rc;
	rc = key_pub_load(d.cfg->admin_key, admin_key);
	if (rc != CU_OK) {
		log_error("admin_key: not a public key or key file (%s)", cu_strerror(rc));
		return rc;
	}
	return CU_OK;
}

/*
 * Loads the secret key file of config key name at path into *out,
 * generating it (0600, with .pub) the first time; with create false only
 * checks a key that exists.
 */
static int load_own_key(const char *name, const char *path, bool create, struct cu_key **out)
{
	int rc = key_load(path, out);

	if (rc == CU_ERR_NOT_FOUND && !create) {
		log_info("%s %s does not exist yet: custodyd will generate it", name, path);
		return CU_OK;
	}
	if (rc == CU_ERR_NOT_FOUND) {
		rc = key_generate(out);
		if (rc == CU_OK)
			rc = key_save(*out, path);
		if (rc == CU_OK)
			log_info("generated the %s %s", name, path);
	}
	if (rc != CU_OK)
		log_error("%s %s: %s (it must be a secret key file of mode 0600)", name, path,
			  cu_strerror(rc));
	return rc;
}

/*
 * Loads the log's signing key and the server's Noise identity (see
 * load_own_key; the latter only with listen_tcp) and logs their public halves, which regulators, witnesses
 * and TCP clients pin.
 */
static int load_keys(bool create)
{
	struct note_verifier v;
	char text[NOTE_VKEY_MAX];

	if (load_own_key("log_key", d.cfg->log_key, create, &d.log_key) != CU_OK)
		return CU_ERR_INVALID;
	/* The Noise identity is only needed where TCP clients come. */
	if (d.cfg->listen_tcp[0] != '\0' &&
	    load_own_key("server_key", d.cfg->server_key, create, &d.server_key) != CU_OK)
		return CU_ERR_INVALID;
	if (d.server_key != NULL) {
		key_pub_format(d.server_key->pk, text);
		log_info("server key (pin it in TCP clients): %s", text);
	}
	if (d.log_key == NULL)
		return CU_OK;
	if (note_verifier_init(&v, d.cfg->log_origin, NOTE_TYPE_ED25519, d.log_key->pk) != CU_OK ||
	    note_verifier_format(&v, text, sizeof(text)) != CU_OK) {
		log_error("log_origin: \"%s\" is not a valid checkpoint origin (no spaces or '+')",
			  d.cfg->log_origin);
		return CU_ERR_INVALID;
	}
	log_info("log verifier key: %s", text);
	return CU_OK;
}

/* The Unix allow-lists and per-key limits of cfg into *out; logs what is wrong. */
static int parse_peers(const struct config *cfg, struct peer_limits *out)
{
	char err[200];

	memset(out, 0, sizeof(*out));
	out->max_connections_per_key = cfg->max_connections_per_key;
	out->key_rate_per_s = cfg->key_rate_per_s;
	out->key_rate_burst = cfg->key_rate_burst;
	if (peer_parse_ids(cfg->unix_allowed_users, false, out, err, sizeof(err)) != CU_OK) {
		log_error("unix_allowed_users: %s", err);
		return CU_ERR_INVALID;
	}
	if (peer_parse_ids(cfg->unix_allowed_groups, true, out, err, sizeof(err)) != CU_OK) {
		log_error("unix_allowed_groups: %s", err);
		return CU_ERR_INVALID;
	}
	return CU_OK;
}

static int configure_peers(void)
{
	struct peer_limits pl;

	if (parse_peers(d.cfg, &pl) != CU_OK)
		return CU_ERR_INVALID;
	peer_configure(&pl);
	return CU_OK;
}

/* The connection limits of cfg. */
static struct conn_limits conn_limits_of(const struct config *cfg)
{
	struct conn_limits cl = {
	    .max_frame_bytes = (uint32_t)cfg->max_frame_bytes,
	    .max_inflight = cfg->max_inflight_per_connection,
	    .max_output_bytes = (size_t)cfg->max_output_bytes_per_connection,
	    .handshake_timeout_ms = cfg->handshake_timeout_ms,
	    .idle_timeout_ms = cfg->idle_timeout_ms,
	    .max_handshakes = cfg->max_handshakes,
	    .max_verifying = cfg->max_verifying_per_connection,
	    .max_held_bytes = (size_t)cfg->max_held_bytes,
	};

	return cl;
}

/* The sequencer options of d.cfg, d.builtin and d.rules. */
static struct sequencer_options seq_options(void)
{
	struct sequencer_options so = {
	    .batch_max = d.cfg->batch_max_events,
	    .batch_max_devices = d.cfg->batch_max_devices,
	    .linger_ms = d.cfg->batch_linger_ms,
	    .max_pending = d.cfg->max_pending,
	    .device_cache_max = (size_t)d.cfg->device_cache_max,
	    .log_key = d.log_key,
	    .log_origin = d.cfg->log_origin,
	    .builtin = (const Custody__PolicyLoad *const *)d.builtin,
	    .n_builtin = 2,
	    .rules = d.rules,
	    .ship_deadline_ms = (int64_t)d.cfg->ship_deadline_days * 86400000,
	    .rma_deadline_ms = (int64_t)d.cfg->rma_deadline_days * 86400000,
	    .attest_interval_ms = (int64_t)d.cfg->attest_interval_hours * 3600000,
	    .sweep_interval_ms = d.cfg->timer_interval_ms,
	    .on_fatal = fatal_exit,
	    .on_ready = on_ready,
	    .on_stop = on_sequencer_stop,
	};

	return so;
}

/* Builds the loop, the database lanes and the sequencer. */
static int start(const uint8_t admin_key[32])
{
	struct db_options dbo = {d.cfg->database, d.cfg->db_pool_size,
				 d.cfg->db_statement_timeout_ms, d.cfg->max_pending};
	struct sequencer_options so = seq_options();
	struct conn_limits cl = conn_limits_of(d.cfg);

	char err[256];

	memcpy(so.admin_key, admin_key, 32);
	metrics_init(CUSTODYD_VERSION, codec_now_ms());
	conn_set_limits(&cl);
	conn_set_server_key(d.server_key);
	h_submit_configure(d.cfg->max_clock_skew_ms);
	d.base = event_base_new();
	/* Lane callbacks only run from the loop, after the sequencer exists. */
	if (d.base == NULL || setup_signals() != CU_OK ||
	    db_new(d.base, &dbo, on_lane, NULL, &d.db) != CU_OK ||
	    sequencer_init(d.base, d.db, &so) != CU_OK)
		return CU_ERR_NOMEM;
	if (notify_watchdog_start(d.base) != CU_OK)
		return CU_ERR_NOMEM;
	if (h_submit_start(d.base, d.cfg->verify_threads, d.cfg->verify_queue_max) != CU_OK)
		return CU_ERR_IO;
	query_init(d.base, d.db);
	if (h_proof_init((size_t)d.cfg->tile_cache_max) != CU_OK)
		return CU_ERR_NOMEM;
	watch_init(d.db);
	if (http_start(d.base, d.db, d.cfg->http_listen, d.cfg->http_allow_remote, err,
		       sizeof(err)) != CU_OK) {
		log_error("%s", err);
		return CU_ERR_IO;
	}
	return CU_OK;
}

struct reload_count {
	int changed, restart;
};

/* config_reload_merge's report: what changed, and what waits for a restart. */
static void on_changed_key(const char *name, bool reloadable, void *arg)
{
	struct reload_count *n = arg;

	n->changed++;
	if (reloadable) {
		log_info("SIGHUP: %s changed", name);
		return;
	}
	n->restart++;
	log_warn("SIGHUP: %s changed: needs restart; the running value stays until then", name);
}

/* Puts the reloadable part of d.cfg, d.builtin and d.rules into force. */
static void apply_reloaded(enum log_level level, const struct peer_limits *pl)
{
	struct conn_limits cl = conn_limits_of(d.cfg);
	struct sequencer_options so = seq_options();

	log_set_level(level);
	peer_configure(pl);
	conn_set_limits(&cl);
	listener_set_max_connections(d.cfg->max_connections);
	sequencer_reconfigure(&so);
}

/*
 * SIGHUP: parses the config file and the policy data files it names into
 * new structs, and swaps them in only when every part is good (the
 * PgBouncer way); otherwise logs why (with the line, for the file) and
 * keeps running as before. Keys that cannot change without a restart
 * keep their running values and are logged "needs restart".
 */
static void daemon_reload(void)
{
	Custody__PolicyLoad *builtin[2] = {NULL, NULL}, *old[2];
	struct reload_count n = {0, 0};
	struct config *next = NULL;
	struct rules_params rules;
	struct peer_limits pl;
	enum log_level level;
	char err[512];

	log_info("SIGHUP: reloading %s", d.config_path);
	if (config_load(d.config_path, &next, err, sizeof(err)) != CU_OK) {
		log_error("SIGHUP: config %s: %s", d.config_path, err);
		goto fail;
	}
	if (log_parse_level(next->log_level, &level) != CU_OK) {
		log_error("log_level: \"%s\" is not debug, info, warn or error", next->log_level);
		goto fail;
	}
	if (parse_rules(next, &rules) != CU_OK || parse_peers(next, &pl) != CU_OK ||
	    load_builtin(next, builtin) != CU_OK)
		goto fail;
	config_reload_merge(d.cfg, next, on_changed_key, &n);
	config_free(d.cfg);
	d.cfg = next;
	memcpy(old, d.builtin, sizeof(old));
	memcpy(d.builtin, builtin, sizeof(old));
	d.rules = rules;
	apply_reloaded(level, &pl);
	for (int i = 0; i < 2; i++)
		policy_file_free(old[i]);
	log_info("SIGHUP: configuration reloaded: %d keys changed, %d of them need restart; "
		 "%zu country group rows, %zu models",
		 n.changed, n.restart, d.builtin[0]->n_country_groups, d.builtin[1]->n_models);
	return;
fail:
	log_error("SIGHUP: reload failed; the running configuration stays in force");
	config_free(next);
}

static void stop(void)
{
	http_stop();
	if (d.listening)
		listener_stop();
	h_submit_stop(); /* answers what it holds; before the connections go */
	db_free(d.db);	 /* answers jobs in flight */
	sequencer_free();
	conn_close_all();
	h_proof_free();
	watch_free_all(); /* after the connections have let go of them */
	if (d.sig_term != NULL)
		event_free(d.sig_term);
	if (d.sig_int != NULL)
		event_free(d.sig_int);
	if (d.sig_hup != NULL)
		event_free(d.sig_hup);
	if (d.shutdown_tick != NULL)
		event_free(d.shutdown_tick);
	notify_close(); /* its watchdog timer is on d.base */
	if (d.base != NULL)
		event_base_free(d.base);
	for (int i = 0; i < 2; i++)
		policy_file_free(d.builtin[i]);
	peer_shutdown();
	key_free(d.log_key);
	key_free(d.server_key);
	if (d.cfg != NULL && d.cfg->pid_file[0] != '\0')
		unlink(d.cfg->pid_file);
	config_free(d.cfg);
	log_close();
	libevent_global_shutdown();
}

static int run(bool migrate_only, bool check_only)
{
	uint8_t admin_key[32];
	char err[512];
	int rc;

	if (log_configure(d.cfg->log_level, d.cfg->log_format, d.cfg->log_target, NULL, err,
			  sizeof(err)) != CU_OK ||
	    http_check(d.cfg->http_listen, d.cfg->http_allow_remote, err, sizeof(err)) != CU_OK) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	if (check_only) {
		if (load_policy(admin_key) != CU_OK || load_keys(false) != CU_OK ||
		    configure_peers() != CU_OK)
			return 1;
		printf("configuration OK (%zu country group rows, %zu models, regime %s)\n",
		       d.builtin[0]->n_country_groups, d.builtin[1]->n_models,
		       rules_regime_name(d.rules.regime));
		return 0;
	}
	rc = notify_init();
	if (rc != CU_OK)
		log_warn("NOTIFY_SOCKET=\"%s\": %s; not notifying systemd", getenv("NOTIFY_SOCKET"),
			 rc == CU_ERR_INVALID ? "not an absolute path or @name that fits sun_path"
					      : "cannot make a socket");
	notified(notify_status("applying schema migrations"), "the status");
	if (migrate_run(d.cfg->schema_database[0] != '\0' ? d.cfg->schema_database
							  : d.cfg->database,
			err, sizeof(err)) != CU_OK) {
		log_error("%s", err);
		return 1;
	}
	if (migrate_only)
		return 0;
	if (load_policy(admin_key) != CU_OK || load_keys(true) != CU_OK ||
	    configure_peers() != CU_OK)
		return 1;
	if (start(admin_key) != CU_OK) {
		log_error("cannot start up: out of memory, or as logged above");
		return 1;
	}
	event_base_dispatch(d.base);
	return d.exit_code;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"migrate", no_argument, NULL, 'm'},
	    {"check-config", no_argument, NULL, 'k'}, {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	const char *config_path = DEFAULT_CONFIG;
	bool migrate_only = false, check_only = false;
	char err[512];
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'm':
			migrate_only = true;
			break;
		case 'k':
			check_only = true;
			break;
		case 'V':
			printf("custodyd %s\n", CUSTODYD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (sodium_init() < 0) {
		log_error("libsodium failed to initialize");
		return 1;
	}
	d.config_path = config_path;
	if (config_load(config_path, &d.cfg, err, sizeof(err)) != CU_OK) {
		log_error("config %s: %s", config_path, err);
		return EXIT_USAGE;
	}
	rc = run(migrate_only, check_only);
	stop();
	return rc;
}
