/*
 * itest_lib.c - the raw-protocol plumbing of the integration test programs
 * (see itest_lib.h). Failures are cmocka assertions.
 */
#include "itest_lib.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "frame.h"

static uint64_t next_id = 1;

int connect_daemon(void)
{
	const char *server = getenv("CUSTODY_SERVER");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_non_null(server);
	assert_true(strncmp(server, "unix:", 5) == 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", server + 5);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

void send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Reads exactly len bytes: 1, 0 on EOF before any byte, -1 on timeout. */
static int recv_exact(int fd, uint8_t *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;

		if (poll(&p, 1, timeout_ms) != 1)
			return -1;
		n = recv(fd, buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return got == 0 ? 0 : -1;
		got += (size_t)n;
	}
	return 1;
}

/* One response frame; NULL on EOF, or on timeout when may_time_out. */
Custody__Response *recv_frame(int fd, int timeout_ms, bool may_time_out)
{
	uint8_t hdr[4], *body;
	uint32_t len = 0;
	Custody__Response *resp;
	int rc = recv_exact(fd, hdr, 4, timeout_ms);

	if (rc == 0 || (rc < 0 && may_time_out))
		return NULL;
	assert_int_equal(rc, 1);
	assert_int_equal(frame_decode_header(hdr, 16u << 20, &len), CU_OK);
	body = malloc(len);
	assert_non_null(body);
	assert_int_equal(recv_exact(fd, body, len, TIMEOUT_MS), 1);
	resp = custody__response__unpack(NULL, len, body);
	free(body);
	assert_non_null(resp);
	return resp;
}

void send_frame(int fd, const Custody__Request *req)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(frame_pack(&req->base, 16u << 20, &buf, &len), CU_OK);
	send_all(fd, buf, len);
	free(buf);
}

void send_request(int fd, Custody__Request *req)
{
	req->id = next_id++;
	send_frame(fd, req);
}

/* Sends req and returns its response; pushed alerts met on the way fail. */
Custody__Response *call(int fd, Custody__Request *req)
{
	Custody__Response *resp;

	send_request(fd, req);
	resp = recv_frame(fd, TIMEOUT_MS, false);
	assert_non_null(resp);
	assert_int_equal(resp->id, req->id);
	return resp;
}

Custody__Response *call_once(Custody__Request *req)
{
	int fd = connect_daemon();
	Custody__Response *resp = call(fd, req);

	close(fd);
	return resp;
}

void expect_body(const Custody__Response *resp, Custody__Response__BodyCase body)
{
	if (resp->body_case == CUSTODY__RESPONSE__BODY_ERROR)
		fail_msg("unexpected error %d: %s", resp->error->code, resp->error->message);
	assert_int_equal(resp->body_case, body);
}

void expect_ok(Custody__Response *resp, Custody__Response__BodyCase body)
{
	expect_body(resp, body);
	custody__response__free_unpacked(resp, NULL);
}

void expect_error_kept(const Custody__Response *resp, Custody__ErrorCode code, const char *text)
{
	if (resp->body_case != CUSTODY__RESPONSE__BODY_ERROR)
		fail_msg("expected error %d (%s), got body %d", code, text, resp->body_case);
	if (resp->error->code != code)
		fail_msg("expected error %d, got %d: %s", code, resp->error->code,
			 resp->error->message);
	if (text != NULL && strstr(resp->error->message, text) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", resp->error->message, text);
}

void expect_error(Custody__Response *resp, Custody__ErrorCode code, const char *text)
{
	expect_error_kept(resp, code, text);
	custody__response__free_unpacked(resp, NULL);
}

int64_t env_i64(const char *name, int64_t fallback)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? strtoll(v, NULL, 10) : fallback;
}
