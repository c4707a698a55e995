/*
 * test_util.h - what several unit tests share: capturing what a function
 * prints, and finding files of the source tree (policy data).
 */
#ifndef CUSTODY_TEST_UTIL_H
#define CUSTODY_TEST_UTIL_H

#include <stddef.h>
#include <stdio.h>

/* Output written to f, collected in memory. */
struct capture {
	FILE *f;
	char *text;
	size_t len;
};

/* Starts capturing: c->f is a stream to print into. */
void capture_begin(struct capture *c);

/* Ends it: the text written (NUL-terminated, owned by the caller). */
char *capture_end(struct capture *c);

/*
 * The path of relpath in the source tree (a static buffer): from
 * CUSTODY_SOURCE_ROOT or CUSTODY_EXAMPLE_CONF (meson test sets both), or
 * relative to the build or source directory when run by hand. Fails the
 * test if the file is not found.
 */
const char *test_source_path(const char *relpath);

/*
 * The whole of the file at path, NUL-terminated, in a malloc'd buffer the
 * caller frees; *len gets its size (without the NUL). Fails the test if
 * the file cannot be read.
 */
char *test_read_file(const char *path, size_t *len);

#endif
