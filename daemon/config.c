/*
 * config.c - the configuration table and its parser (see config.h).
 *
 * A file is parsed into a fresh struct and handed out only when every line
 * parsed and every required key is present, so a bad file never leaves a
 * half-applied configuration behind (the PgBouncer and Redis way). On
 * SIGHUP the daemon parses the file again the same way and, only when all
 * of it is good, runs with the new struct (config_reload_merge decides
 * which of its values apply at once and which wait for a restart).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum key_type {
	KEY_STRING,
	KEY_INT,
	KEY_MODE, /* octal permission bits */
};

struct key_def {
	const char *name;
	enum key_type type;
	size_t offset;
	const char *default_text; /* NULL: required */
	long min, max;		  /* for KEY_INT and KEY_MODE */
	const char *help;
	bool reloadable; /* SIGHUP applies a new value; otherwise it needs a restart */
};

#define RELOAD	true
#define RESTART false

#define OFF(field) offsetof(struct config, field)

static const struct key_def key_defs[] = {
    {"database", KEY_STRING, OFF(database), NULL, 0, 0,
     "libpq connection string of the custody database", RESTART},
    {"schema_database", KEY_STRING, OFF(schema_database), "", 0, 0,
     "libpq connection string used only to apply schema migrations at start-up, as the "
     "schema's owner (empty: database)",
     RESTART},
    {"listen_unix", KEY_STRING, OFF(listen_unix), "/run/custody/custodyd.sock", 0, 0,
     "Unix socket for local clients (empty: none)", RESTART},
    {"listen_tcp", KEY_STRING, OFF(listen_tcp), "127.0.0.1:7420", 0, 0,
     "TCP address HOST:PORT (empty: none)", RESTART},
    {"unix_socket_mode", KEY_MODE, OFF(unix_socket_mode), "0660", 0, 0777,
     "permission bits of the Unix socket", RESTART},
    {"admin_key", KEY_STRING, OFF(admin_key), NULL, 0, 0,
     "bootstrap admin public key (base64, hex, or a key file)", RESTART},
    {"models_file", KEY_STRING, OFF(models_file), NULL, 0, 0,
     "accelerator model table (CSV: model,tpp,eccn_class,...), in force from the epoch", RELOAD},
    {"country_groups_file", KEY_STRING, OFF(country_groups_file), NULL, 0, 0,
     "EAR country groups (CSV: group,iso3166_alpha2,ear_name), in force from the epoch", RELOAD},
    {"policy_regime", KEY_STRING, OFF(policy_regime), "may2025", 0, 0,
     "rule set in force: may2025 (controls enforced since May 2025), jan2025 (January "
     "2025 rule as written: allocation caps, LPP) or siia (SIIA proposal)",
     RELOAD},
    {"site_notice_days", KEY_INT, OFF(site_notice_days), "180", 0, 3650,
     "days an authorized site must be notified before its first shipment", RELOAD},
    {"transfer_notice_days", KEY_INT, OFF(transfer_notice_days), "60", 0, 3650,
     "days of advance notice a move between countries needs", RELOAD},
    {"ship_deadline_days", KEY_INT, OFF(ship_deadline_days), "14", 1, 3650,
     "a SHIP without a deadline must be received within this many days", RELOAD},
    {"rma_deadline_days", KEY_INT, OFF(rma_deadline_days), "60", 1, 3650,
     "an RMA_OUT without a deadline must come back within this many days", RELOAD},
    {"attest_interval_hours", KEY_INT, OFF(attest_interval_hours), "24", 1, 8760,
     "an installed accelerator silent for longer raises attest.dark", RELOAD},
    {"max_travel_kmh", KEY_INT, OFF(max_travel_kmh), "1000", 1, 1000000,
     "a device seen at two facilities faster than this raises travel.impossible", RELOAD},
    {"transshipment_hubs", KEY_STRING, OFF(transshipment_hubs), "SG,MY,TH,VN,IN,HK,AE", 0, 0,
     "countries where devices under way to elsewhere raise route.hub (comma-separated)", RELOAD},
    {"lpp_cap_tpp", KEY_INT, OFF(lpp_cap_tpp), "26900000", 0, 2000000000,
     "jan2025: License Exception LPP TPP per consignee and calendar year", RELOAD},
    {"timer_interval_ms", KEY_INT, OFF(timer_interval_ms), "60000", 100, 3600000,
     "how often overdue shipments and silent accelerators are looked for", RELOAD},
    {"log_key", KEY_STRING, OFF(log_key), "/var/lib/custody/log.key", 0, 0,
     "the verifiable log's Ed25519 signing key; generated (mode 0600, with .pub) on first "
     "start if missing",
     RESTART},
    {"log_origin", KEY_STRING, OFF(log_origin), "custody.example/log", 0, 0,
     "origin line of the log's signed checkpoints: a name unique to this log", RESTART},
    {"server_key", KEY_STRING, OFF(server_key), "/var/lib/custody/server.key", 0, 0,
     "custodyd's Ed25519 identity in the Noise handshake on TCP; generated (mode 0600, with "
     ".pub) on first start if missing",
     RESTART},
    {"unix_allowed_users", KEY_STRING, OFF(unix_allowed_users), "", 0, 0,
     "users (names or uids) allowed on the Unix socket besides root and custodyd's own", RELOAD},
    {"unix_allowed_groups", KEY_STRING, OFF(unix_allowed_groups), "", 0, 0,
     "groups (names or gids) whose members' connections are allowed on the Unix socket", RELOAD},
    {"handshake_timeout_ms", KEY_INT, OFF(handshake_timeout_ms), "10000", 100, 600000,
     "a TCP client must finish the Noise handshake within this time", RELOAD},
    {"idle_timeout_ms", KEY_INT, OFF(idle_timeout_ms), "300000", 1000, 86400000,
     "close a connection that sends no whole request for this long (watches excepted)", RELOAD},
    {"max_handshakes", KEY_INT, OFF(max_handshakes), "128", 1, 1000000,
     "TCP handshakes in progress at once; a new one past this evicts the oldest", RELOAD},
    {"max_connections_per_key", KEY_INT, OFF(max_connections_per_key), "64", 0, 1000000,
     "open TCP connections per client key (0: no limit)", RELOAD},
    {"key_rate_per_s", KEY_INT, OFF(key_rate_per_s), "5000", 0, 100000000,
     "requests per second per client key over TCP (0: no limit)", RELOAD},
    {"key_rate_burst", KEY_INT, OFF(key_rate_burst), "10000", 1, 100000000,
     "requests a client key may send at once before key_rate_per_s applies", RELOAD},
    {"pid_file", KEY_STRING, OFF(pid_file), "", 0, 0, "file to write the process id to", RESTART},
    {"log_level", KEY_STRING, OFF(log_level), "info", 0, 0, "debug, info, warn or error", RELOAD},
    {"log_format", KEY_STRING, OFF(log_format), "logfmt", 0, 0,
     "logfmt (key=value lines) or json (one JSON object a line)", RESTART},
    {"log_target", KEY_STRING, OFF(log_target), "stderr", 0, 0,
     "stderr, or journald (its native protocol, with structured fields)", RESTART},
    {"http_listen", KEY_STRING, OFF(http_listen), "", 0, 0,
     "ADDRESS:PORT serving /metrics, /healthz and /readyz (empty: none)", RESTART},
    {"http_allow_remote", KEY_STRING, OFF(http_allow_remote), "no", 0, 0,
     "yes: http_listen may be a non-loopback address", RESTART},
    {"db_pool_size", KEY_INT, OFF(db_pool_size), "4", 1, 64,
     "database connections for queries (one more is used for writes)", RESTART},
    {"db_statement_timeout_ms", KEY_INT, OFF(db_statement_timeout_ms), "30000", 100, 3600000,
     "statement timeout of every database statement", RESTART},
    {"max_frame_bytes", KEY_INT, OFF(max_frame_bytes), "1048576", 1024, 64 << 20,
     "largest request frame accepted", RESTART},
    {"max_connections", KEY_INT, OFF(max_connections), "1024", 1, 1000000,
     "open client connections", RELOAD},
    {"max_inflight_per_connection", KEY_INT, OFF(max_inflight_per_connection), "128", 1, 65536,
     "pipelined requests in flight per connection before reading pauses", RELOAD},
    {"max_verifying_per_connection", KEY_INT, OFF(max_verifying_per_connection), "16", 1, 65536,
     "submissions of one connection waiting for their signature check before it is read no "
     "further",
     RELOAD},
    {"max_held_bytes", KEY_INT, OFF(max_held_bytes), "268435456", 1048576, 1 << 30,
     "bytes of submissions held (checking, queued, being written) before new ones get UNAVAILABLE",
     RELOAD},
    {"max_output_bytes_per_connection", KEY_INT, OFF(max_output_bytes_per_connection), "4194304",
     65536, 1 << 30, "unsent response bytes per connection before reading pauses", RELOAD},
    {"batch_max_events", KEY_INT, OFF(batch_max_events), "512", 1, 65536,
     "submissions written per transaction", RELOAD},
    {"batch_max_devices", KEY_INT, OFF(batch_max_devices), "16384", 1, 1 << 20,
     "devices named per transaction (a batch takes at least one submission)", RELOAD},
    {"batch_linger_ms", KEY_INT, OFF(batch_linger_ms), "0", 0, 1000,
     "wait this long for more submissions before writing a batch", RELOAD},
    {"max_pending", KEY_INT, OFF(max_pending), "100000", 1, 10000000,
     "queued submissions before new ones get UNAVAILABLE", RESTART},
    {"device_cache_max", KEY_INT, OFF(device_cache_max), "65536", 0, 10000000,
     "device rows the sequencer keeps between batches (0: load every batch's devices)", RESTART},
    {"tile_cache_max", KEY_INT, OFF(tile_cache_max), "1024", 0, 1 << 20,
     "full log tiles kept with their inner nodes for proofs (16 KiB each; 0: none)", RESTART},
    {"verify_threads", KEY_INT, OFF(verify_threads), "0", 0, 256,
     "threads checking submissions' signatures off the event loop (0: one per online CPU)",
     RESTART},
    {"verify_queue_max", KEY_INT, OFF(verify_queue_max), "10000", 1, 10000000,
     "submissions waiting for their signature check before new ones get UNAVAILABLE", RESTART},
    {"max_clock_skew_ms", KEY_INT, OFF(max_clock_skew_ms), "300000", 0, 86400000,
     "how far in the future an event or action may be dated", RESTART},
    {"shutdown_grace_ms", KEY_INT, OFF(shutdown_grace_ms), "10000", 0, 600000,
     "on SIGTERM, how long to wait for in-flight work", RELOAD},
};

#define KEY_COUNT (sizeof(key_defs) / sizeof(key_defs[0]))

static struct config_key_info key_infos[KEY_COUNT];

const struct config_key_info *config_keys(size_t *count)
{
	for (size_t i = 0; i < KEY_COUNT; i++) {
		key_infos[i].name = key_defs[i].name;
		key_infos[i].default_text = key_defs[i].default_text;
		key_infos[i].help = key_defs[i].help;
		key_infos[i].reloadable = key_defs[i].reloadable;
	}
	*count = KEY_COUNT;
	return key_infos;
}

/* Stores text as the value of key def in cfg. */
static int set_value(struct config *cfg, const struct key_def *def, const char *text)
{
	char *field = (char *)cfg + def->offset;
	char *end = NULL;
	long v;

	if (def->type == KEY_STRING) {
		char *copy = strdup(text);

		if (copy == NULL)
			return CU_ERR_NOMEM;
		free(*(char **)field);
		*(char **)field = copy;
		return CU_OK;
	}
	errno = 0;
	v = strtol(text, &end, def->type == KEY_MODE ? 8 : 10);
	if (errno != 0 || end == text || *end != '\0' || v < def->min || v > def->max)
		return CU_ERR_INVALID;
	*(int *)field = (int)v;
	return CU_OK;
}

static const struct key_def *find_key(const char *name)
{
	for (size_t i = 0; i < KEY_COUNT; i++) {
		if (strcmp(key_defs[i].name, name) == 0)
			return &key_defs[i];
	}
	return NULL;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* Parses one line; seen marks keys already set by the file. */
static int parse_line(struct config *cfg, char *line, int lineno, unsigned char *seen, char *err,
		      size_t err_size)
{
	char *eq, *key, *value;
	const struct key_def *def;
	int rc;

	line = trim(line);
	if (*line == '\0' || *line == '#')
		return CU_OK;
	eq = strchr(line, '=');
	if (eq == NULL)
		return cu_fail(err, err_size, "line %d: expected \"key = value\"", lineno);
	*eq = '\0';
	key = trim(line);
	value = trim(eq + 1);
	def = find_key(key);
	if (def == NULL)
		return cu_fail(err, err_size, "line %d: unknown key \"%.64s\"", lineno, key);
	if (seen[def - key_defs])
		return cu_fail(err, err_size, "line %d: %s is set twice", lineno, key);
	seen[def - key_defs] = 1;
	rc = set_value(cfg, def, value);
	if (rc == CU_ERR_NOMEM)
		return cu_fail(err, err_size, "out of memory");
	if (rc != CU_OK)
		return cu_fail(err, err_size,
			       "line %d: %s: \"%.64s\" is not a valid value (%s %ld..%ld)", lineno,
			       key, value, def->type == KEY_MODE ? "octal" : "integer", def->min,
			       def->max);
	return CU_OK;
}

/* Fills keys the file did not set with their defaults. */
static int apply_defaults(struct config *cfg, const unsigned char *seen, char *err, size_t err_size)
{
	for (size_t i = 0; i < KEY_COUNT; i++) {
		if (seen[i])
			continue;
		if (key_defs[i].default_text == NULL)
			return cu_fail(err, err_size, "%s is required", key_defs[i].name);
		if (set_value(cfg, &key_defs[i], key_defs[i].default_text) != CU_OK)
			return cu_fail(err, err_size, "out of memory");
	}
	return CU_OK;
}

/* Reads the lines of f (NULL: no lines) into a new config *out. */
static int config_read(FILE *f, struct config **out, char *err, size_t err_size)
{
	unsigned char seen[KEY_COUNT] = {0};
	struct config *cfg = calloc(1, sizeof(*cfg));
	char line[4096];
	int lineno = 0, rc = CU_ERR_NOMEM;

	if (cfg == NULL) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			rc = cu_fail(err, err_size, "line %d: longer than %zu bytes", lineno,
				     sizeof(line) - 2);
			goto fail;
		}
		rc = parse_line(cfg, line, lineno, seen, err, err_size);
		if (rc != CU_OK)
			goto fail;
	}
	rc = apply_defaults(cfg, seen, err, err_size);
	if (rc != CU_OK)
		goto fail;
	*out = cfg;
	return CU_OK;
fail:
	config_free(cfg);
	return rc;
}

int config_load(const char *path, struct config **out, char *err, size_t err_size)
{
	FILE *f = fopen(path, "r");
	int rc;

	if (f == NULL) {
		rc = errno == ENOENT ? CU_ERR_NOT_FOUND : CU_ERR_IO;
		snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
		return rc;
	}
	rc = config_read(f, out, err, err_size);
	fclose(f);
	return rc;
}

int config_parse(const char *text, size_t len, struct config **out, char *err, size_t err_size)
{
	FILE *f = NULL;
	int rc;

	if (len > 0) {
		/* Read only ("r"): fmemopen does not write to the buffer. */
		f = fmemopen((void *)text, len, "r");
		if (f == NULL) {
			snprintf(err, err_size, "out of memory");
			return CU_ERR_NOMEM;
		}
	}
	rc = config_read(f, out, err, err_size);
	if (f != NULL)
		fclose(f);
	return rc;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < KEY_COUNT; i++) {
		if (key_defs[i].type == KEY_STRING)
			free(*(char **)((char *)cfg + key_defs[i].offset));
	}
	free(cfg);
}

/* Whether key def has the same value in a and b. */
static bool same_value(const struct config *a, const struct config *b, const struct key_def *def)
{
	const char *fa = (const char *)a + def->offset, *fb = (const char *)b + def->offset;

	if (def->type == KEY_STRING)
		return strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
	return *(const int *)fa == *(const int *)fb;
}

void config_reload_merge(struct config *cur, struct config *next,
			 void (*changed)(const char *name, bool reloadable, void *arg), void *arg)
{
	for (size_t i = 0; i < KEY_COUNT; i++) {
		const struct key_def *def = &key_defs[i];
		char *fc = (char *)cur + def->offset, *fn = (char *)next + def->offset;

		if (!same_value(cur, next, def) && changed != NULL)
			changed(def->name, def->reloadable, arg);
		if (def->reloadable)
			continue;
		if (def->type == KEY_STRING) {
			char *keep = *(char **)fc;

			*(char **)fc = *(char **)fn;
			*(char **)fn = keep;
		} else {
			*(int *)fn = *(int *)fc;
		}
	}
}
