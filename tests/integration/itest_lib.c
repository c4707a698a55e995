/*
 * itest_lib.c - the raw-protocol plumbing of the integration test programs
 * (see itest_lib.h). Failures are cmocka assertions.
 */
#include "itest_lib.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#include <arpa/inet.h>
#include <cmocka.h>

#include "channel.h"
#include "frame.h"

#define MAX_FDS 65536

static uint64_t next_id = 1;

/* The Noise channel of each connect_as() socket, by fd; NULL for plain ones. */
struct tchan {
	struct channel *ch;
	uint8_t plain[CHANNEL_MAX_PLAINTEXT];
	size_t off, len;
};
static struct tchan *chans[MAX_FDS];

/* Reads exactly len raw bytes: 1, 0 on EOF before any byte, -1 on timeout. */
static int raw_recv_exact(int fd, uint8_t *buf, size_t len, int timeout_ms)
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

static void raw_send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

int connect_tcp_raw(void)
{
	const char *addr = getenv("DAEMON_TCP");
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char host[64];
	const char *colon;
	int fd, one = 1;

	assert_non_null(addr);
	colon = strrchr(addr, ':');
	assert_non_null(colon);
	assert_true((size_t)(colon - addr) < sizeof(host));
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	assert_int_equal(inet_pton(AF_INET, host, &sa.sin_addr), 1);
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0 && fd < MAX_FDS);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

void server_pubkey(uint8_t pk[32])
{
	const char *spec = getenv("CUSTODY_SERVER_KEY");

	assert_non_null(spec);
	assert_int_equal(key_pub_load(spec, pk), CU_OK);
}

/* Reads one wire message of the channel into buf (CHANNEL_MAX_WIRE_BYTES): its length, 0 at EOF. */
static size_t recv_message(int fd, uint8_t *buf, int timeout_ms)
{
	uint8_t hdr[CHANNEL_HEADER_BYTES];
	size_t n;
	int rc = raw_recv_exact(fd, hdr, sizeof(hdr), timeout_ms);

	if (rc == 0)
		return 0;
	assert_int_equal(rc, 1);
	n = channel_msg_len(hdr);
	assert_int_equal(raw_recv_exact(fd, buf, n, timeout_ms), 1);
	return n;
}

int try_connect_as(const struct cu_key *key, const uint8_t server_pk[32], int *fd_out)
{
	static uint8_t wire[CHANNEL_MAX_WIRE_BYTES];
	int fd = connect_tcp_raw();
	struct tchan *t = calloc(1, sizeof(*t));
	size_t n;
	int rc;

	assert_non_null(t);
	assert_int_equal(channel_new_client(key, server_pk, &t->ch), CU_OK);
	for (rc = CU_OK; rc == CU_OK && !channel_ready(t->ch);) {
		if (channel_hs_write_turn(t->ch)) {
			assert_int_equal(channel_hs_write(t->ch, wire, sizeof(wire), &n), CU_OK);
			raw_send_all(fd, wire, n);
			continue;
		}
		n = recv_message(fd, wire, TIMEOUT_MS);
		rc = n == 0 ? CU_ERR_IO : channel_hs_read(t->ch, wire, n);
	}
	if (rc != CU_OK) {
		channel_free(t->ch);
		free(t);
		close(fd);
		return rc;
	}
	if (chans[fd] != NULL) {
		channel_free(chans[fd]->ch);
		free(chans[fd]);
	}
	chans[fd] = t;
	*fd_out = fd;
	return CU_OK;
}

int connect_as(const struct cu_key *key)
{
	uint8_t pk[32];
	int fd = -1;

	server_pubkey(pk);
	assert_int_equal(try_connect_as(key, pk, &fd), CU_OK);
	return fd;
}

void close_conn(int fd)
{
	if (fd >= 0 && fd < MAX_FDS && chans[fd] != NULL) {
		channel_free(chans[fd]->ch);
		free(chans[fd]);
		chans[fd] = NULL;
	}
	close(fd);
}

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
	static uint8_t wire[CHANNEL_MAX_WIRE_BYTES];
	struct tchan *t = fd >= 0 && fd < MAX_FDS ? chans[fd] : NULL;
	const uint8_t *p = buf;

	if (t == NULL) {
		raw_send_all(fd, buf, len);
		return;
	}
	while (len > 0) {
		size_t n = len < CHANNEL_MAX_PLAINTEXT ? len : CHANNEL_MAX_PLAINTEXT;

		assert_int_equal(channel_seal(t->ch, p, n, wire), CU_OK);
		raw_send_all(fd, wire, n + CHANNEL_OVERHEAD);
		p += n;
		len -= n;
	}
}

/* Reads exactly len bytes (decrypted on a channel): 1, 0 on EOF before any byte, -1 on timeout. */
static int recv_exact(int fd, uint8_t *buf, size_t len, int timeout_ms)
{
	static uint8_t wire[CHANNEL_MAX_WIRE_BYTES];
	struct tchan *t = fd >= 0 && fd < MAX_FDS ? chans[fd] : NULL;
	size_t got = 0, n;

	if (t == NULL)
		return raw_recv_exact(fd, buf, len, timeout_ms);
	while (got < len) {
		if (t->off == t->len) {
			uint8_t hdr[CHANNEL_HEADER_BYTES];
			int rc = raw_recv_exact(fd, hdr, sizeof(hdr), timeout_ms);

			if (rc <= 0)
				return got == 0 ? rc : -1;
			n = channel_msg_len(hdr);
			assert_int_equal(raw_recv_exact(fd, wire, n, timeout_ms), 1);
			assert_int_equal(channel_open(t->ch, wire, n, t->plain), CU_OK);
			t->off = 0;
			t->len = n - NOISE_TAG_BYTES;
		}
		n = t->len - t->off < len - got ? t->len - t->off : len - got;
		memcpy(buf + got, t->plain + t->off, n);
		t->off += n;
		got += n;
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
