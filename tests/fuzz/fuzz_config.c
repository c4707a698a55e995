/*
 * fuzz_config.c - libFuzzer target for custodyd's configuration parser
 * (daemon/config.c): config_parse of arbitrary bytes, and config_load of
 * the same bytes as a file (a memfd, so nothing touches the disk).
 *
 * Invariants: both entry points agree (same result, same message, same
 * values); a failure says which line or which required key; a success
 * has every string key set and the integer keys the daemon divides by
 * or allocates with positive.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

static int load_as_file(const uint8_t *data, size_t size, struct config **out, char *err,
			size_t err_size)
{
	char path[64];
	int fd = memfd_create("fuzz-config", MFD_CLOEXEC), rc;

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rc = config_load(path, out, err, err_size);
	close(fd);
	return rc;
}

static void same(const char *a, const char *b)
{
	FUZZ_CHECK(a != NULL && b != NULL && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c1 = NULL, *c2 = NULL;
	char e1[512] = "", e2[512] = "";
	int rc1, rc2;

	if (size > (1u << 16))
		return 0;
	rc1 = config_parse((const char *)data, size, &c1, e1, sizeof(e1));
	rc2 = load_as_file(data, size, &c2, e2, sizeof(e2));
	FUZZ_CHECK(rc1 == rc2);
	FUZZ_CHECK(rc1 == CU_OK || rc1 == CU_ERR_INVALID);
	if (rc1 != CU_OK) {
		FUZZ_CHECK(strcmp(e1, e2) == 0);
		FUZZ_CHECK(strncmp(e1, "line ", 5) == 0 || strstr(e1, " is required") != NULL);
		return 0;
	}
	same(c1->database, c2->database);
	same(c1->listen_unix, c2->listen_unix);
	same(c1->listen_tcp, c2->listen_tcp);
	same(c1->log_level, c2->log_level);
	same(c1->policy_regime, c2->policy_regime);
	FUZZ_CHECK(memcmp(&c1->unix_socket_mode, &c2->unix_socket_mode, sizeof(int)) == 0);
	FUZZ_CHECK(c1->max_frame_bytes == c2->max_frame_bytes && c1->max_frame_bytes > 0);
	FUZZ_CHECK(c1->db_pool_size > 0 && c1->batch_max_events > 0 && c1->max_connections > 0);
	config_free(c1);
	config_free(c2);
	return 0;
}
