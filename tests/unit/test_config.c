/* Unit tests for daemon/config.c and daemon/csv.c: defaults, required
 * keys, bad values with line numbers, and CSV quoting. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_and_values),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_parse_buffer),
	    cmocka_unit_test(test_csv),
	    cmocka_unit_test(test_example_documents_every_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
