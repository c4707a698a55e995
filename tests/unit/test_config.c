/* Unit tests for daemon/config.c and daemon/csv.c: defaults, required
 * keys, bad values with line numbers, the SIGHUP merge (reloadable keys
 * change, the others keep their running values), the example config's
 * agreement with the key table, and CSV quoting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "csv.h"
#include "test_util.h"

static char path[64];

static void write_file(const char *text)
{
	int fd;
	FILE *f;

	strcpy(path, "/tmp/custody-cfg-XXXXXX");
	fd = mkstemp(path);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
}

static void test_defaults_and_values(void **state)
{
	struct config *cfg = NULL;
	char err[256] = "";

	(void)state;
	write_file("# comment\n"
		   "database = host=/tmp/x dbname=custody\n"
		   "admin_key=AAAA\n"
		   "  models_file =  /x/models.csv  \n"
		   "country_groups_file = /x/groups.csv\n"
		   "unix_socket_mode = 0600\n"
		   "batch_max_events = 64\n");
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), CU_OK);
	assert_string_equal(cfg->database, "host=/tmp/x dbname=custody");
	assert_string_equal(cfg->models_file, "/x/models.csv");
	assert_int_equal(cfg->unix_socket_mode, 0600);
	assert_int_equal(cfg->batch_max_events, 64);
	assert_string_equal(cfg->policy_regime, "may2025"); /* default */
	assert_int_equal(cfg->site_notice_days, 180);
	assert_string_equal(cfg->transshipment_hubs, "SG,MY,TH,VN,IN,HK,AE");
	assert_int_equal(cfg->max_frame_bytes, 1048576); /* default */
	assert_string_equal(cfg->listen_tcp, "127.0.0.1:7420");
	config_free(cfg);
	unlink(path);
}

static void expect_error(const char *text, const char *want)
{
	struct config *cfg = NULL;
	char err[256] = "";

	char err2[256] = "";

	write_file(text);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), CU_ERR_INVALID);
	assert_null(cfg);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	unlink(path);
	/* The same bytes from memory: the same answer. */
	assert_int_equal(config_parse(text, strlen(text), &cfg, err2, sizeof(err2)),
			 CU_ERR_INVALID);
	assert_null(cfg);
	assert_string_equal(err2, err);
}

/* config_parse reads exactly len bytes: no NUL needed, none past them read. */
static void test_parse_buffer(void **state)
{
	static const char text[] = "database = x\nadmin_key = y\nmodels_file = z\n"
				   "country_groups_file = w\nbogus = 1\n";
	struct config *cfg = NULL;
	char err[256] = "";
	size_t len = strlen(text) - strlen("bogus = 1\n");

	(void)state;
	assert_int_equal(config_parse(text, len - 1, &cfg, err, sizeof(err)), CU_OK);
	assert_string_equal(cfg->country_groups_file, "w");
	config_free(cfg);
	cfg = NULL;
	assert_int_equal(config_parse(text, strlen(text), &cfg, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "line 5: unknown key"));
	assert_int_equal(config_parse("", 0, &cfg, err, sizeof(err)), CU_ERR_INVALID);
	assert_non_null(strstr(err, "is required"));
	assert_null(cfg);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("database = x\nadmin_key = y\n", "models_file is required");
	expect_error("database = x\nadmin_key = y\nmodels_file = z\n",
		     "country_groups_file is required");
	expect_error("database = x\nadmin_key = y\nmodels_file = z\nbogus = 1\n",
		     "line 4: unknown key \"bogus\"");
	expect_error("database = x\ndatabase = y\n", "line 2: database is set twice");
	expect_error("database = x\nadmin_key = y\nmodels_file = z\nmax_frame_bytes = 12\n",
		     "line 4: max_frame_bytes");
	expect_error("database = x\nadmin_key = y\nmodels_file = z\nbatch_max_events = 1x\n",
		     "line 4");
	expect_error("just words\n", "line 1: expected");
}

static void test_missing_file(void **state)
{
	struct config *cfg = NULL;
	char err[256];

	(void)state;
	assert_int_equal(config_load("/nonexistent/custodyd.conf", &cfg, err, sizeof(err)),
			 CU_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "/nonexistent/custodyd.conf"));
}

static void test_csv(void **state)
{
	struct csv *csv = NULL;
	char **f;
	size_t n;

	(void)state;
	write_file("# skipped\na,b,c\n\"x, y\",\"say \"\"hi\"\"\",\r\n\"multi\nline\",2,3\n");
	assert_int_equal(csv_open(path, 1, &csv), CU_OK);
	assert_int_equal(csv_next(csv, &f, &n), CU_OK);
	assert_int_equal(n, 3);
	assert_string_equal(f[2], "c");
	assert_int_equal(csv_next(csv, &f, &n), CU_OK);
	assert_int_equal(n, 3);
	assert_string_equal(f[0], "x, y");
	assert_string_equal(f[1], "say \"hi\"");
	assert_string_equal(f[2], "");
	assert_int_equal(csv_next(csv, &f, &n), CU_OK);
	assert_string_equal(f[0], "multi\nline");
	assert_int_equal(csv_line(csv), 4);
	assert_int_equal(csv_next(csv, &f, &n), CU_ERR_NOT_FOUND);
	csv_close(csv);
	unlink(path);

	write_file("a,\"unterminated\n");
	assert_int_equal(csv_open(path, 0, &csv), CU_OK);
	assert_int_equal(csv_next(csv, &f, &n), CU_ERR_INVALID);
	csv_close(csv);
	unlink(path);
	write_file("a,\"x\"y\n");
	assert_int_equal(csv_open(path, 0, &csv), CU_OK);
	assert_int_equal(csv_next(csv, &f, &n), CU_ERR_INVALID);
	csv_close(csv);
	unlink(path);
}

/*
 * deploy/custodyd.conf documents every key the daemon knows, and only
 * those: each key appears as "key =" or "#key =" at the start of a line.
 */
static void test_example_documents_every_key(void **state)
{
	const char *example = getenv("CUSTODY_EXAMPLE_CONF");
	const struct config_key_info *keys;
	size_t n, documented = 0;
	char line[1024];
	FILE *f;

	(void)state;
	assert_non_null(example);
	keys = config_keys(&n);
	f = fopen(example, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line[0] == '#' ? line + 1 : line;
		size_t len = strcspn(p, " =");
		bool known = false;

		if (len == 0 || strncmp(p + len, " =", 2) != 0 ||
		    (p[len + 2] != ' ' && p[len + 2] != '\n'))
			continue;
		for (size_t i = 0; i < n; i++) {
			if (strlen(keys[i].name) == len && strncmp(keys[i].name, p, len) == 0)
				known = true;
		}
		if (!known)
			fail_msg("%s documents an unknown key: %s", example, line);
		documented++;
	}
	fclose(f);
	for (size_t i = 0; i < n; i++) {
		char want[80];

		snprintf(want, sizeof(want), "%s =", keys[i].name);
		f = fopen(example, "r");
		while (fgets(line, sizeof(line), f) != NULL) {
			const char *p = line + (line[0] == '#');

			if (strncmp(p, want, strlen(want)) == 0 &&
			    (p[strlen(want)] == ' ' || p[strlen(want)] == '\n'))
				break;
		}
		if (feof(f))
			fail_msg("%s does not document key %s", example, keys[i].name);
		fclose(f);
	}
	assert_int_equal(documented, n);
}

/*
 * custodyd.conf(5), generated from deploy/custodyd.conf by docs/man/genman.py,
 * names every key of the table in bold at the head of an entry.
 */
static void test_man_page_names_every_key(void **state)
{
	const char *man = getenv("CUSTODY_CONF_MAN");
	const struct config_key_info *keys;
	size_t n, len;
	char *text;

	(void)state;
	assert_non_null(man);
	text = test_read_file(man, &len);
	keys = config_keys(&n);
	for (size_t i = 0; i < n; i++) {
		char want[96];

		snprintf(want, sizeof(want), "\n\\fB%s\\fR ", keys[i].name);
		if (strstr(text, want) == NULL)
			fail_msg("%s does not document key %s", man, keys[i].name);
	}
	free(text);
}

#define BASE_CONF                                                                                  \
	"database = host=/tmp/a dbname=custody\n"                                                  \
	"admin_key = AAAA\n"                                                                       \
	"models_file = /x/models.csv\n"                                                            \
	"country_groups_file = /x/groups.csv\n"

static struct config *load_text(const char *text)
{
	struct config *cfg = NULL;
	char err[256] = "";

	write_file(text);
	if (config_load(path, &cfg, err, sizeof(err)) != CU_OK)
		fail_msg("config: %s", err);
	unlink(path);
	return cfg;
}

struct changes {
	char names[512];
	int reloadable, restart;
};

static void note_change(const char *name, bool reloadable, void *arg)
{
	struct changes *c = arg;

	strcat(c->names, name);
	strcat(c->names, reloadable ? "+ " : "! ");
	if (reloadable)
		c->reloadable++;
	else
		c->restart++;
}

/*
 * The SIGHUP merge: reloadable keys take the new file's values, the others
 * keep the running ones (strings by pointer), and every change is reported
 * once with its kind.
 */
static void test_reload_merge(void **state)
{
	struct config *cur = load_text(BASE_CONF "log_level = info\nkey_rate_per_s = 100\n"
						 "max_frame_bytes = 65536\n");
	struct config *next = load_text("database = host=/tmp/b dbname=other\n"
					"admin_key = AAAA\n"
					"models_file = /y/models.csv\n"
					"country_groups_file = /x/groups.csv\n"
					"log_level = debug\nkey_rate_per_s = 7\n"
					"max_frame_bytes = 2048\nlisten_tcp = 127.0.0.1:9\n");
	char *running_database = cur->database, *running_tcp = cur->listen_tcp;
	struct changes c = {"", 0, 0};

	(void)state;
	config_reload_merge(cur, next, note_change, &c);
	assert_string_equal(c.names, "database! listen_tcp! models_file+ key_rate_per_s+ "
				     "log_level+ max_frame_bytes! ");
	assert_int_equal(c.reloadable, 3);
	assert_int_equal(c.restart, 3);
	/* Reloadable: the new values. */
	assert_string_equal(next->log_level, "debug");
	assert_int_equal(next->key_rate_per_s, 7);
	assert_string_equal(next->models_file, "/y/models.csv");
	/* Restart-only: the running values, the very same strings. */
	assert_ptr_equal(next->database, running_database);
	assert_ptr_equal(next->listen_tcp, running_tcp);
	assert_string_equal(next->database, "host=/tmp/a dbname=custody");
	assert_int_equal(next->max_frame_bytes, 65536);
	/* cur now holds the leftovers, freed without touching next's strings. */
	assert_string_equal(cur->database, "host=/tmp/b dbname=other");
	config_free(cur);
	assert_string_equal(next->database, "host=/tmp/a dbname=custody");

	/* A second merge of an unchanged file reports nothing. */
	cur = next;
	next = load_text("database = host=/tmp/a dbname=custody\n"
			 "admin_key = AAAA\nmodels_file = /y/models.csv\n"
			 "country_groups_file = /x/groups.csv\nlog_level = debug\n"
			 "key_rate_per_s = 7\nmax_frame_bytes = 65536\n");
	memset(&c, 0, sizeof(c));
	config_reload_merge(cur, next, note_change, &c);
	assert_string_equal(c.names, "");
	config_free(cur);
	config_free(next);
}

/*
 * Swap only on success: a broken new file leaves the caller's pointer
 * alone (the running config is untouched) and names the line.
 */
static void test_reload_bad_file_keeps_running(void **state)
{
	struct config *running = load_text(BASE_CONF "log_level = warn\n");
	struct config *slot = running;
	char err[256] = "";

	(void)state;
	write_file(BASE_CONF "log_level = warn\nkey_rate_per_s = lots\n");
	assert_int_equal(config_load(path, &slot, err, sizeof(err)), CU_ERR_INVALID);
	unlink(path);
	assert_ptr_equal(slot, running);
	assert_non_null(strstr(err, "line 6: key_rate_per_s"));
	write_file(BASE_CONF "log_level = warn\nthis is not a key line\n");
	assert_int_equal(config_load(path, &slot, err, sizeof(err)), CU_ERR_INVALID);
	unlink(path);
	assert_ptr_equal(slot, running);
	assert_non_null(strstr(err, "line 6: expected"));
	assert_int_equal(config_load("/nonexistent/x.conf", &slot, err, sizeof(err)),
			 CU_ERR_NOT_FOUND);
	assert_ptr_equal(slot, running);
	assert_string_equal(running->log_level, "warn");
	config_free(running);
}

/* The key's row in the table, or NULL. */
static const struct config_key_info *key_info(const char *name, size_t len)
{
	size_t n;
	const struct config_key_info *keys = config_keys(&n);

	for (size_t i = 0; i < n; i++) {
		if (strlen(keys[i].name) == len && strncmp(keys[i].name, name, len) == 0)
			return &keys[i];
	}
	return NULL;
}

/*
 * Every key of deploy/custodyd.conf sits under a comment paragraph that
 * says "SIGHUP: reloaded." or "SIGHUP: needs a restart.", as the table
 * has it. A paragraph starts at a comment line after a blank or key line.
 */
static void test_example_marks_reload(void **state)
{
	const char *example = getenv("CUSTODY_EXAMPLE_CONF");
	char line[1024];
	int mark = -1, checked = 0; /* -1: none, 0: restart, 1: reloaded */
	bool in_comment = false;
	FILE *f;

	(void)state;
	assert_non_null(example);
	f = fopen(example, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line[0] == '#' ? line + 1 : line;
		size_t len = strcspn(p, " =");
		const struct config_key_info *k =
		    strncmp(p + len, " =", 2) == 0 ? key_info(p, len) : NULL;

		if (k != NULL) {
			if (mark < 0)
				fail_msg("%s: no SIGHUP note above key %s", example, k->name);
			if (mark != (int)k->reloadable)
				fail_msg("%s: key %s is %s in the table but not so noted", example,
					 k->name, k->reloadable ? "reloadable" : "restart-only");
			checked++;
			in_comment = false;
		} else if (line[0] == '#') {
			if (!in_comment)
				mark = -1;
			in_comment = true;
			if (strstr(line, "SIGHUP: reloaded.") != NULL)
				mark = 1;
			else if (strstr(line, "SIGHUP: needs a restart.") != NULL)
				mark = 0;
		} else {
			in_comment = false;
		}
	}
	fclose(f);
	assert_true(checked > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_and_values),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_parse_buffer),
	    cmocka_unit_test(test_csv),
	    cmocka_unit_test(test_example_documents_every_key),
	    cmocka_unit_test(test_man_page_names_every_key),
	    cmocka_unit_test(test_reload_merge),
	    cmocka_unit_test(test_reload_bad_file_keeps_running),
	    cmocka_unit_test(test_example_marks_reload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
