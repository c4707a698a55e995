/*
 * test_util.c - helpers shared by unit tests (see test_util.h).
 */
#include "test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

void capture_begin(struct capture *c)
{
	c->text = NULL;
	c->len = 0;
	c->f = open_memstream(&c->text, &c->len);
	assert_non_null(c->f);
}

char *capture_end(struct capture *c)
{
	assert_int_equal(fclose(c->f), 0);
	return c->text;
}

const char *test_source_path(const char *relpath)
{
	static char found[4096];
	const char *root = getenv("CUSTODY_SOURCE_ROOT"), *conf = getenv("CUSTODY_EXAMPLE_CONF");
	char paths[4][4096] = {"", ""};

	snprintf(paths[0], sizeof(paths[0]), "../%s", relpath);
	snprintf(paths[1], sizeof(paths[1]), "%s", relpath);
	if (root != NULL)
		snprintf(paths[2], sizeof(paths[2]), "%s/%s", root, relpath);
	/* The example config lives in deploy/, one level below the root. */
	if (conf != NULL && strrchr(conf, '/') != NULL)
		snprintf(paths[3], sizeof(paths[3]), "%.*s/../%s", (int)(strrchr(conf, '/') - conf),
			 conf, relpath);
	for (int i = 3; i >= 0; i--) {
		if (paths[i][0] != '\0' && access(paths[i], R_OK) == 0) {
			snprintf(found, sizeof(found), "%s", paths[i]);
			return found;
		}
	}
	fail_msg("%s not found (CUSTODY_SOURCE_ROOT unset?)", relpath);
	return NULL;
}

char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long size;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size >= 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	buf[size] = '\0';
	*len = (size_t)size;
	return buf;
}
