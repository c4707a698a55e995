/* Unit tests for daemon/log.c: logfmt and JSON lines, the escaping of
 * quotes, newlines, control bytes and invalid UTF-8 (checked by decoding
 * with the strict JSON parser of proto/json.c), cutting long messages,
 * and journald entries over a datagram socket of the test's own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "json.h"
#include "log.h"

#define TS 1700000000123 /* 2023-11-14T22:13:20.123Z */

static const struct json_limits limits = {1 << 20, 1 << 22, 8};

/* A hostile message and what a reader must decode it to. */
static const char hostile[] = "say \"hi\"\\ \n level=error msg=\"forged\" \r\t\x01\x1b[31m\x7f"
			      " caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 bad:\xff\xfe"
			      " cut:\xe2\x82 overlong:\xc0\xaf surrogate:\xed\xa0\x80 end";
static const char decoded[] =
    "say \"hi\"\\ \n level=error msg=\"forged\" \r\t\x01\x1b[31m\x7f"
    " caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 bad:\xef\xbf\xbd\xef\xbf\xbd"
    " cut:\xef\xbf\xbd\xef\xbf\xbd overlong:\xef\xbf\xbd\xef\xbf\xbd"
    " surrogate:\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end";

/* Parses a JSON document of len bytes, which must be valid. */
static struct json_doc *parse(const char *text, size_t len)
{
	struct json_doc *doc = NULL;
	char err[200] = "";

	if (json_parse(text, len, &limits, &doc, err, sizeof(err)) != CU_OK)
		fail_msg("not JSON (%s): %.*s", err, (int)len, text);
	return doc;
}

/* A line has exactly one newline, its last byte, and no raw control bytes. */
static void one_clean_line(const char *line, size_t len)
{
	assert_int_equal(strlen(line), len);
	assert_true(len > 0 && line[len - 1] == '\n');
	for (size_t i = 0; i + 1 < len; i++)
		assert_true((unsigned char)line[i] >= 0x20 && line[i] != 0x7f);
}

static void test_logfmt(void **state)
{
	char line[4096], *p;
	size_t len;
	struct json_doc *doc;

	(void)state;
	len = log_format_line(LOG_FORMAT_LOGFMT, TS, LOG_LEVEL_WARN, "plain text", line,
			      sizeof(line));
	assert_string_equal(line, "ts=2023-11-14T22:13:20.123Z level=warn msg=\"plain text\"\n");
	assert_int_equal(len, strlen(line));
	len = log_format_line(LOG_FORMAT_LOGFMT, TS, LOG_LEVEL_INFO, hostile, line, sizeof(line));
	one_clean_line(line, len);
	/* The quoted value is the only msg= field and decodes with JSON's rules. */
	p = strstr(line, "msg=\"");
	assert_non_null(p);
	assert_null(strstr(p + 1, " msg=\"f"));
	doc = parse(p + 4, len - (size_t)(p + 4 - line) - 1);
	assert_int_equal(json_root(doc)->type, JSON_STRING);
	assert_string_equal(json_root(doc)->u.str, decoded);
	json_free(doc);
}

static void test_json(void **state)
{
	char line[4096];
	size_t len;
	struct json_doc *doc;
	const struct json_value *root;

	(void)state;
	len = log_format_line(LOG_FORMAT_JSON, TS, LOG_LEVEL_ERROR, hostile, line, sizeof(line));
	one_clean_line(line, len);
	doc = parse(line, len - 1);
	root = json_root(doc);
	assert_string_equal(json_get(root, "ts")->u.str, "2023-11-14T22:13:20.123Z");
	assert_string_equal(json_get(root, "level")->u.str, "error");
	assert_string_equal(json_get(root, "msg")->u.str, decoded);
	assert_null(json_get(root, "forged"));
	json_free(doc);
}

static void test_cut(void **state)
{
	char msg[3000], line[256];
	size_t len;
	struct json_doc *doc;

	(void)state;
	/* Two-byte characters and escapes: the cut must not split either. */
	for (size_t i = 0; i + 3 < sizeof(msg); i += 3)
		memcpy(msg + i, "\xc3\xa9\"", 3);
	msg[sizeof(msg) - 1 - (sizeof(msg) - 1) % 3] = '\0';
	for (size_t cap = 64; cap <= sizeof(line); cap += 37) {
		len = log_format_line(LOG_FORMAT_JSON, TS, LOG_LEVEL_INFO, msg, line, cap);
		assert_true(len < cap);
		one_clean_line(line, len);
		doc = parse(line, len - 1);
		json_free(doc);
	}
}

static void test_configure(void **state)
{
	char err[200];

	(void)state;
	assert_int_equal(log_configure("loud", "logfmt", "stderr", NULL, err, sizeof(err)),
			 CU_ERR_INVALID);
	assert_non_null(strstr(err, "log_level"));
	assert_int_equal(log_configure("info", "xml", "stderr", NULL, err, sizeof(err)),
			 CU_ERR_INVALID);
	assert_non_null(strstr(err, "log_format"));
	assert_int_equal(log_configure("info", "json", "syslog", NULL, err, sizeof(err)),
			 CU_ERR_INVALID);
	assert_non_null(strstr(err, "log_target"));
	/* A journald socket that is not there: a warning, and stderr. */
	assert_int_equal(
	    log_configure("info", "json", "journald", "/nonexistent/journal", err, sizeof(err)),
	    CU_OK);
	log_info("still logging to stderr");
	assert_int_equal(log_configure("info", "logfmt", "stderr", NULL, err, sizeof(err)), CU_OK);
}

static void test_journald(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[] = "/tmp/custody-log-XXXXXX", buf[8192], err[200];
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ssize_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/socket", dir);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(log_configure("info", "logfmt", "journald", sa.sun_path, err, sizeof(err)),
			 CU_OK);
	log_debug("below the level: not sent");
	log_warn("%s", hostile);
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "PRIORITY=4\n"));
	assert_non_null(strstr(buf, "SYSLOG_IDENTIFIER=custodyd\n"));
	assert_non_null(strstr(buf, "CUSTODY_LEVEL=warn\n"));
	assert_non_null(strstr(buf, "CODE_FILE=tests/unit/test_log.c\n"));
	assert_non_null(strstr(buf, "CODE_FUNC=test_journald\n"));
	/* MESSAGE is escaped: every field is one line, and nothing else arrived. */
	assert_non_null(strstr(buf, "MESSAGE=say \\\"hi\\\"\\\\ \\n level=error"));
	assert_int_equal(buf[n - 1], '\n');
	assert_null(strstr(buf, "\n level=error"));
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	log_close();
	close(fd);
	unlink(sa.sun_path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_logfmt),   cmocka_unit_test(test_json),
	    cmocka_unit_test(test_cut),	     cmocka_unit_test(test_configure),
	    cmocka_unit_test(test_journald),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
