/*
 * itest_transport.c - the Noise channel and the connection limits of a
 * running custodyd, from the outside: a registered key is served, an
 * unregistered one and a client pinning another server are refused,
 * modified and replayed handshake messages and tampered ciphertext close
 * the connection without an answer, plaintext on the TCP port gets
 * nothing, the per-key connection and rate limits hold, silent and
 * dribbling sockets are timed out or evicted, and through it all a
 * well-behaved client is served at once. A key revoked while connected
 * loses its connection's rights at its next request.
 *
 * Run by tests/integration/87-transport.sh with DAEMON_TCP, CUSTODY_SERVER,
 * CUSTODY_SERVER_KEY, ITEST_KEY (a registered exporter key), and the
 * limits the script configured: ITEST_MAX_PER_KEY, ITEST_RATE_BURST; and
 * ITEST_REVOKE_KEY, a registered key the test revokes with CUSTODY_ADMIN_KEY.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "channel.h"
#include "codec.h"
#include "custody.pb-c.h"
#include "envelope.h"
#include "frame.h"
#include "itest_lib.h"
#include "key.h"

static struct cu_key *good_key;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A key_info request about our own key: every authenticated role may ask it. */
static Custody__Request *key_info_request(Custody__Request *req, Custody__KeyInfoRequest *ki,
					  const struct cu_key *key)
{
	custody__request__init(req);
	custody__key_info_request__init(ki);
	ki->pubkey.data = (uint8_t *)key->pk;
	ki->pubkey.len = 32;
	req->body_case = CUSTODY__REQUEST__BODY_KEY_INFO;
	req->key_info = ki;
	return req;
}

/* One round trip on fd must succeed. */
static void expect_served(int fd)
{
	Custody__Request req;
	Custody__KeyInfoRequest ki;

	expect_ok(call(fd, key_info_request(&req, &ki, good_key)),
		  CUSTODY__RESPONSE__BODY_KEY_INFO);
}

/* The server must close fd without sending a byte (within the I/O timeout). */
static void expect_closed_silently(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};
	uint8_t b;

	assert_int_equal(poll(&p, 1, TIMEOUT_MS), 1);
	assert_int_equal(recv(fd, &b, 1, 0), 0);
	close(fd);
}

/* The server closes fd, possibly after some bytes (a timeout's close). */
static void expect_closed(int fd, int timeout_ms)
{
	uint8_t buf[4096];
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;

		assert_true(now_ms() < deadline);
		if (poll(&p, 1, (int)(deadline - now_ms())) != 1)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		assert_true(n > 0);
	}
	close_conn(fd);
}

static void write_raw(int fd, const uint8_t *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads one wire message (header and body) raw into buf; returns its whole size. */
static size_t read_raw_message(int fd, uint8_t *buf)
{
	size_t got = 0, need = CHANNEL_HEADER_BYTES;

	while (got < need) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;

		assert_int_equal(poll(&p, 1, TIMEOUT_MS), 1);
		n = recv(fd, buf + got, need - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
		if (got == CHANNEL_HEADER_BYTES)
			need += channel_msg_len(buf);
	}
	return got;
}

/*
 * Runs the client side of a handshake by hand on a raw socket, so a test
 * can change a message: flip_msg (1 or 3, 0 = none) gets one bit flipped
 * at offset flip_at of its body before it is sent. The written messages
 * are kept in msg1/msg3 (CHANNEL_MAX_WIRE_BYTES each) when not NULL.
 * Returns the socket and the channel (NULL if its own checks failed).
 */
static int manual_handshake(int flip_msg, size_t flip_at, uint8_t *msg1, size_t *len1,
			    uint8_t *msg3, size_t *len3, struct channel **out)
{
	static uint8_t wire[CHANNEL_MAX_WIRE_BYTES];
	uint8_t pk[32];
	struct channel *ch;
	int fd = connect_tcp_raw();
	size_t n;

	server_pubkey(pk);
	assert_int_equal(channel_new_client(good_key, pk, &ch), CU_OK);
	assert_int_equal(channel_hs_write(ch, wire, sizeof(wire), &n), CU_OK);
	if (flip_msg == 1)
		wire[CHANNEL_HEADER_BYTES + flip_at] ^= 0x01;
	if (msg1 != NULL) {
		memcpy(msg1, wire, n);
		*len1 = n;
	}
	write_raw(fd, wire, n);
	n = read_raw_message(fd, wire);
	if (channel_hs_read(ch, wire + CHANNEL_HEADER_BYTES, n - CHANNEL_HEADER_BYTES) != CU_OK) {
		channel_free(ch);
		*out = NULL;
		return fd;
	}
	assert_int_equal(channel_hs_write(ch, wire, sizeof(wire), &n), CU_OK);
	if (flip_msg == 3)
		wire[CHANNEL_HEADER_BYTES + flip_at] ^= 0x01;
	if (msg3 != NULL) {
		memcpy(msg3, wire, n);
		*len3 = n;
	}
	write_raw(fd, wire, n);
	*out = ch;
	return fd;
}

/* A request sealed on ch and sent raw on fd, with one bit of its ciphertext flipped when asked. */
static void send_sealed(int fd, struct channel *ch, bool tamper)
{
	static uint8_t wire[CHANNEL_MAX_WIRE_BYTES];
	Custody__Request req;
	Custody__KeyInfoRequest ki;
	uint8_t *frame;
	size_t len;

	key_info_request(&req, &ki, good_key);
	req.id = 7;
	assert_int_equal(frame_pack(&req.base, 1u << 20, &frame, &len), CU_OK);
	assert_int_equal(channel_seal(ch, frame, len, wire), CU_OK);
	free(frame);
	if (tamper)
		wire[CHANNEL_HEADER_BYTES + 3] ^= 0x80;
	write_raw(fd, wire, len + CHANNEL_OVERHEAD);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_registered_key_served(void **state)
{
	int fd = connect_as(good_key);

	(void)state;
	expect_served(fd);
	expect_served(fd);
	close_conn(fd);
}

static void test_unregistered_key_refused(void **state)
{
	struct cu_key *stranger;
	int fd;
	Custody__Response *resp;

	(void)state;
	assert_int_equal(key_generate(&stranger), CU_OK);
	fd = connect_as(stranger);
	resp = recv_frame(fd, TIMEOUT_MS, false);
	assert_non_null(resp);
	assert_int_equal(resp->id, 0);
	expect_error(resp, CUSTODY__ERROR_CODE__UNAUTHENTICATED, "not registered");
	expect_closed(fd, TIMEOUT_MS);
	key_free(stranger);
}

static void test_wrong_server_key_refused(void **state)
{
	uint8_t other[32], sk[64];
	int fd = -1;

	(void)state;
	crypto_sign_keypair(other, sk);
	sodium_memzero(sk, sizeof(sk));
	assert_int_equal(try_connect_as(good_key, other, &fd), CU_ERR_SIGNATURE);
	/* The real server key still works. */
	fd = connect_as(good_key);
	expect_served(fd);
	close_conn(fd);
}

static void test_modified_handshake(void **state)
{
	struct channel *ch;
	int fd;

	(void)state;
	/* Message 1 carries only e: a flipped bit makes every later message fail. */
	fd = manual_handshake(1, 5, NULL, NULL, NULL, NULL, &ch);
	if (ch != NULL) {
		channel_free(ch);
		expect_closed_silently(fd);
	} else {
		close(fd);
	}
	/* Message 3: its encrypted static key no longer decrypts. */
	for (size_t at = 0; at < 80; at += 16) {
		fd = manual_handshake(3, at, NULL, NULL, NULL, NULL, &ch);
		assert_non_null(ch);
		channel_free(ch);
		expect_closed_silently(fd);
	}
	fd = connect_as(good_key);
	expect_served(fd);
	close_conn(fd);
}

static void test_replayed_handshake(void **state)
{
	static uint8_t msg1[CHANNEL_MAX_WIRE_BYTES], msg3[CHANNEL_MAX_WIRE_BYTES];
	static uint8_t wire[CHANNEL_MAX_WIRE_BYTES];
	size_t len1 = 0, len3 = 0;
	struct channel *ch;
	int fd;

	(void)state;
	fd = manual_handshake(0, 0, msg1, &len1, msg3, &len3, &ch);
	assert_non_null(ch);
	send_sealed(fd, ch, false);
	read_raw_message(fd, wire); /* the answer: the session was good */
	channel_free(ch);
	close(fd);
	/* The same bytes again: the server's new ephemeral key makes message 3 stale. */
	fd = connect_tcp_raw();
	write_raw(fd, msg1, len1);
	read_raw_message(fd, wire);
	write_raw(fd, msg3, len3);
	expect_closed_silently(fd);
}

static void test_tampered_ciphertext(void **state)
{
	static uint8_t wire[CHANNEL_MAX_WIRE_BYTES];
	struct channel *ch;
	int fd;

	(void)state;
	fd = manual_handshake(0, 0, NULL, NULL, NULL, NULL, &ch);
	assert_non_null(ch);
	send_sealed(fd, ch, true);
	expect_closed_silently(fd);
	channel_free(ch);
	/* A transport message too short to hold a tag. */
	fd = manual_handshake(0, 0, NULL, NULL, NULL, NULL, &ch);
	assert_non_null(ch);
	memset(wire, 0, 12);
	wire[1] = 10;
	write_raw(fd, wire, 12);
	expect_closed_silently(fd);
	channel_free(ch);
}

static void test_plaintext_on_tcp(void **state)
{
	Custody__Request req;
	Custody__KeyInfoRequest ki;
	uint8_t *frame;
	size_t len;
	int fd = connect_tcp_raw();

	(void)state;
	key_info_request(&req, &ki, good_key);
	req.id = 1;
	assert_int_equal(frame_pack(&req.base, 1u << 20, &frame, &len), CU_OK);
	write_raw(fd, frame, len);
	free(frame);
	expect_closed_silently(fd);
}

static void test_oversized_frame_in_channel(void **state)
{
	uint8_t hdr[4];
	int fd = connect_as(good_key);

	(void)state;
	frame_encode_header(hdr, (64u << 20) + 1);
	send_all(fd, hdr, sizeof(hdr));
	expect_error(recv_frame(fd, TIMEOUT_MS, false), CUSTODY__ERROR_CODE__BAD_REQUEST,
		     "max_frame_bytes");
	expect_closed(fd, TIMEOUT_MS);
}

static void test_connections_per_key(void **state)
{
	int max = (int)env_i64("ITEST_MAX_PER_KEY", 4);
	int fds[64], extra;

	(void)state;
	assert_true(max < 64);
	for (int i = 0; i < max; i++) {
		fds[i] = connect_as(good_key);
		expect_served(fds[i]);
	}
	extra = connect_as(good_key);
	expect_error(recv_frame(extra, TIMEOUT_MS, false), CUSTODY__ERROR_CODE__UNAVAILABLE,
		     "max_connections_per_key");
	expect_closed(extra, TIMEOUT_MS);
	close_conn(fds[0]);
	usleep(200 * 1000); /* let the server see the close */
	extra = connect_as(good_key);
	expect_served(extra);
	close_conn(extra);
	for (int i = 1; i < max; i++)
		close_conn(fds[i]);
}

static void test_rate_limit(void **state)
{
	int burst = (int)env_i64("ITEST_RATE_BURST", 20);
	int n = burst * 3, ok = 0, limited = 0;
	Custody__Request reqs[256];
	Custody__KeyInfoRequest kis[256];
	int fd;

	(void)state;
	assert_true(n <= 256);
	usleep(1100 * 1000); /* a full bucket */
	fd = connect_as(good_key);
	for (int i = 0; i < n; i++)
		send_request(fd, key_info_request(&reqs[i], &kis[i], good_key));
	for (int i = 0; i < n; i++) {
		Custody__Response *r = recv_frame(fd, TIMEOUT_MS, false);

		assert_non_null(r);
		if (r->body_case == CUSTODY__RESPONSE__BODY_KEY_INFO) {
			ok++;
		} else {
			expect_error_kept(r, CUSTODY__ERROR_CODE__UNAVAILABLE, "rate limit");
			limited++;
		}
		custody__response__free_unpacked(r, NULL);
	}
	print_message("rate limit: %d served, %d refused of %d sent at once (burst %d)\n", ok,
		      limited, n, burst);
	assert_true(ok >= burst && ok < n);
	assert_true(limited > 0);
	close_conn(fd);

	/* A new connection does not bring a new budget: the spent one refills by the clock. */
	usleep(200 * 1000); /* the server sees the close; about 2 tokens come back */
	fd = connect_as(good_key);
	for (int i = 0; i < burst; i++)
		send_request(fd, key_info_request(&reqs[i], &kis[i], good_key));
	ok = 0;
	for (int i = 0; i < burst; i++) {
		Custody__Response *r = recv_frame(fd, TIMEOUT_MS, false);

		assert_non_null(r);
		ok += r->body_case == CUSTODY__RESPONSE__BODY_KEY_INFO;
		custody__response__free_unpacked(r, NULL);
	}
	print_message("after reconnecting: %d of %d served\n", ok, burst);
	assert_true(ok < burst / 2);
	close_conn(fd);
	usleep(1100 * 1000); /* leave a refilled budget to the tests after */
}

static void test_handshake_timeout(void **state)
{
	int fd = connect_tcp_raw();
	int64_t t0 = now_ms();

	(void)state;
	expect_closed(fd, TIMEOUT_MS);
	print_message("silent socket closed after %lld ms\n", (long long)(now_ms() - t0));
}

static void test_idle_timeout(void **state)
{
	int fd = connect_as(good_key);
	int64_t t0 = now_ms();

	(void)state;
	expect_served(fd);
	expect_closed(fd, TIMEOUT_MS);
	print_message("idle connection closed after %lld ms\n", (long long)(now_ms() - t0));
}

/* The daemon's resident memory in KiB (from /proc; ITEST_DAEMON_PID). */
static long daemon_rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%lld/status",
		 (long long)env_i64("ITEST_DAEMON_PID", 0));
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = atol(line + 6);
	}
	fclose(f);
	assert_true(kib > 0);
	return kib;
}

/*
 * A client that pipelines requests without end and never reads an answer
 * (a child process, blocked in send once custodyd stops reading from it):
 * custodyd stops reading once the unsent output reaches
 * max_output_bytes_per_connection, so its memory stays bounded. Returns
 * the child's pid; the caller kills it.
 */
static pid_t start_stalled_reader(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		Custody__Request req;
		Custody__KeyInfoRequest ki;
		int fd = connect_as(good_key);

		key_info_request(&req, &ki, good_key);
		for (;;)
			send_request(fd, &req);
	}
	usleep(1500 * 1000); /* until its output fills up and custodyd stops reading */
	return pid;
}

/*
 * Hundreds of sockets that never finish a handshake (more than
 * max_handshakes), one that dribbles its first message a byte at a time,
 * one that stops mid-frame after its handshake, and one that sends without
 * ever reading: a new client still gets its handshake and an answer at
 * once, and custodyd's memory stays bounded.
 */
static void test_flood_does_not_starve(void **state)
{
	enum { N_IDLE = 300 };
	static uint8_t wire[CHANNEL_MAX_WIRE_BYTES];
	int idle[N_IDLE], dribbler, stalled, fd;
	pid_t reader;
	uint8_t pk[32];
	struct channel *ch;
	size_t n;
	int64_t t0, worst = 0;
	long rss_before, rss_after;

	(void)state;
	rss_before = daemon_rss_kib();
	reader = start_stalled_reader();
	for (int i = 0; i < N_IDLE; i++)
		idle[i] = connect_tcp_raw();
	server_pubkey(pk);
	assert_int_equal(channel_new_client(good_key, pk, &ch), CU_OK);
	assert_int_equal(channel_hs_write(ch, wire, sizeof(wire), &n), CU_OK);
	dribbler = connect_tcp_raw();
	stalled = connect_as(good_key);
	send_all(stalled, "\0\0", 2); /* half a frame header, then nothing */
	for (int round = 0; round < 5; round++) {
		write_raw(dribbler, wire + round, 1);
		t0 = now_ms();
		fd = connect_as(good_key);
		expect_served(fd);
		close_conn(fd);
		if (now_ms() - t0 > worst)
			worst = now_ms() - t0;
	}
	rss_after = daemon_rss_kib();
	kill(reader, SIGKILL);
	waitpid(reader, NULL, 0);
	channel_free(ch);
	for (int i = 0; i < N_IDLE; i++)
		close(idle[i]);
	close(dribbler);
	close_conn(stalled);
	print_message(
	    "under %d silent sockets, a dribbler, a stalled sender and a client that "
	    "never reads: worst handshake + answer %lld ms; custodyd RSS %ld -> %ld KiB\n",
	    N_IDLE, (long long)worst, rss_before, rss_after);
	assert_true(worst < 2000);
	/*
	 * The client that never reads holds at most its output limit (4 MiB)
	 * and a frame; the slack is larger under ASan, whose quarantine keeps
	 * freed memory resident.
	 */
	assert_true(rss_after - rss_before < env_i64("ITEST_RSS_SLACK_KIB", 32 * 1024));
}

/*
 * A key revoked while connected: its next request on the open connection
 * is refused, and it can no longer connect.
 */
static void test_revoked_while_connected(void **state)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__KeyRevocation rev = CUSTODY__KEY_REVOCATION__INIT;
	Custody__SignedEnvelope env;
	Custody__Request req = CUSTODY__REQUEST__INIT;
	struct cu_key *victim, *admin;
	int fd, fresh;

	(void)state;
	assert_int_equal(key_load(getenv("ITEST_REVOKE_KEY"), &victim), CU_OK);
	assert_int_equal(key_load(getenv("CUSTODY_ADMIN_KEY"), &admin), CU_OK);
	fd = connect_as(victim);
	expect_served(fd);
	act.issued_at_ms = codec_now_ms();
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY;
	act.revoke_key = &rev;
	rev.pubkey.data = victim->pk;
	rev.pubkey.len = 32;
	rev.reason = "transport test";
	assert_int_equal(envelope_seal(ENVELOPE_ADMIN, admin, &act.base, &env), CU_OK);
	req.body_case = CUSTODY__REQUEST__BODY_ADMIN;
	req.admin = &env;
	expect_ok(call_once(&req), CUSTODY__RESPONSE__BODY_ADMIN);
	envelope_clear(&env);
	{
		Custody__Request kreq;
		Custody__KeyInfoRequest ki;

		expect_error(call(fd, key_info_request(&kreq, &ki, good_key)),
			     CUSTODY__ERROR_CODE__UNAUTHENTICATED, "revoked");
	}
	close_conn(fd);
	fresh = connect_as(victim);
	expect_error(recv_frame(fresh, TIMEOUT_MS, false), CUSTODY__ERROR_CODE__UNAUTHENTICATED,
		     "revoked");
	expect_closed(fresh, TIMEOUT_MS);
	key_free(victim);
	key_free(admin);
}

static int setup(void **state)
{
	const char *path = getenv("ITEST_KEY");

	(void)state;
	if (path == NULL || key_load(path, &good_key) != CU_OK)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	key_free(good_key);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest main_tests[] = {
	    cmocka_unit_test(test_registered_key_served),
	    cmocka_unit_test(test_unregistered_key_refused),
	    cmocka_unit_test(test_wrong_server_key_refused),
	    cmocka_unit_test(test_modified_handshake),
	    cmocka_unit_test(test_replayed_handshake),
	    cmocka_unit_test(test_tampered_ciphertext),
	    cmocka_unit_test(test_plaintext_on_tcp),
	    cmocka_unit_test(test_oversized_frame_in_channel),
	    cmocka_unit_test(test_connections_per_key),
	    cmocka_unit_test(test_flood_does_not_starve),
	    cmocka_unit_test(test_revoked_while_connected),
	};
	const struct CMUnitTest timeout_tests[] = {
	    cmocka_unit_test(test_rate_limit),
	    cmocka_unit_test(test_handshake_timeout),
	    cmocka_unit_test(test_idle_timeout),
	};

	if (sodium_init() < 0)
		return 1;
	if (argc > 1 && strcmp(argv[1], "timeouts") == 0)
		return cmocka_run_group_tests(timeout_tests, setup, teardown);
	return cmocka_run_group_tests(main_tests, setup, teardown);
}
