/*
 * Unit tests for daemon/notify.c: a real AF_UNIX datagram socket (a path,
 * and the abstract namespace) stands in for systemd and receives what the
 * notifier sends: READY/STATUS, RELOADING with MONOTONIC_USEC, STOPPING,
 * and WATCHDOG=1 from the libevent timer at half of $WATCHDOG_USEC, which
 * stays off when $WATCHDOG_PID names another process. Bad $NOTIFY_SOCKET
 * values are refused and leave notifications off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "notify.h"

/* A bound datagram socket playing systemd, and the directory it lives in. */
struct receiver {
	int fd;
	char dir[64];
	char path[96];
};

static void receiver_open_path(struct receiver *r)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {2, 0};

	snprintf(r->dir, sizeof(r->dir), "/tmp/test_notify.XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->path, sizeof(r->path), "%s/notify.sock", r->dir);
	r->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(r->fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", r->path);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", r->path, 1), 0);
}

static void receiver_close(struct receiver *r)
{
	notify_close();
	close(r->fd);
	if (r->path[0] != '\0') {
		unlink(r->path);
		rmdir(r->dir);
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/* The next datagram, NUL-terminated, in buf; fails the test after 2 s. */
static const char *receive(struct receiver *r, char *buf, size_t size)
{
	ssize_t n = recv(r->fd, buf, size - 1, 0);

	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

/* Is a datagram waiting? (Does not wait.) */
static bool pending(struct receiver *r)
{
	char c;

	return recv(r->fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
}

static void test_messages(void **state)
{
	struct receiver r = {0};
	char buf[2048], *end;
	unsigned long long usec;
	struct timespec now;

	(void)state;
	receiver_open_path(&r);
	assert_int_equal(notify_init(), CU_OK);
	assert_true(notify_enabled());
	/* A reload before the first READY must not announce readiness. */
	assert_int_equal(notify_reloading(), CU_OK);
	receive(&r, buf, sizeof(buf));
	assert_non_null(strstr(buf, "RELOADING=1\nMONOTONIC_USEC="));
	assert_int_equal(notify_reloaded(), CU_OK);
	assert_null(strstr(receive(&r, buf, sizeof(buf)), "READY=1"));
	assert_int_equal(notify_status("applying schema migrations"), CU_OK);
	assert_string_equal(receive(&r, buf, sizeof(buf)), "STATUS=applying schema migrations");
	/* A newline in the status would smuggle in a variable: cut there. */
	assert_int_equal(notify_ready("serving\nSTOPPING=1"), CU_OK);
	assert_string_equal(receive(&r, buf, sizeof(buf)), "READY=1\nSTATUS=serving");
	assert_int_equal(notify_reloading(), CU_OK);
	receive(&r, buf, sizeof(buf));
	end = strstr(buf, "MONOTONIC_USEC=");
	assert_non_null(end);
	usec = strtoull(end + strlen("MONOTONIC_USEC="), &end, 10);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &now), 0);
	assert_true(usec <= (unsigned long long)now.tv_sec * 1000000ULL + now.tv_nsec / 1000);
	assert_true(usec + 5000000ULL > (unsigned long long)now.tv_sec * 1000000ULL);
	assert_int_equal(notify_reloaded(), CU_OK);
	assert_non_null(strstr(receive(&r, buf, sizeof(buf)), "READY=1"));
	assert_int_equal(notify_stopping("shutting down"), CU_OK);
	assert_string_equal(receive(&r, buf, sizeof(buf)), "STOPPING=1\nSTATUS=shutting down");
	/* Length is checked before anything is sent. */
	memset(buf, 'x', NOTIFY_MAX_MESSAGE + 1);
	buf[NOTIFY_MAX_MESSAGE + 1] = '\0';
	assert_int_equal(notify_send(buf), CU_ERR_TOO_BIG);
	assert_false(pending(&r));
	receiver_close(&r);
}

static void test_abstract(void **state)
{
	struct receiver r = {.fd = -1};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {2, 0};
	char name[64], buf[256];
	int len = snprintf(name, sizeof(name), "@custody-test-notify-%ld", (long)getpid());

	(void)state;
	r.fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(r.fd >= 0);
	memcpy(sa.sun_path + 1, name + 1, (size_t)len - 1); /* sun_path[0] stays NUL */
	assert_int_equal(bind(r.fd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)len)),
			 0);
	assert_int_equal(setsockopt(r.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	assert_int_equal(notify_init(), CU_OK);
	assert_int_equal(notify_ready(NULL), CU_OK);
	assert_string_equal(receive(&r, buf, sizeof(buf)), "READY=1");
	receiver_close(&r);
}

static void test_bad_addresses(void **state)
{
	char longname[200];

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_init(), CU_OK);
	assert_false(notify_enabled());
	assert_int_equal(notify_ready("x"), CU_OK); /* a no-op without systemd */
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	const char *bad[] = {"relative/path", "@", longname, "vsock:2:1234"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(setenv("NOTIFY_SOCKET", bad[i], 1), 0);
		assert_int_equal(notify_init(), CU_ERR_INVALID);
		assert_false(notify_enabled());
	}
	longname[0] = '@';
	assert_int_equal(setenv("NOTIFY_SOCKET", longname, 1), 0);
	assert_int_equal(notify_init(), CU_ERR_INVALID);
	/* A path to nothing: the datagram is not sent, and the caller hears so. */
	assert_int_equal(setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock", 1), 0);
	assert_int_equal(notify_init(), CU_OK);
	assert_int_equal(notify_ready(NULL), CU_ERR_IO);
	notify_close();
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_env(void **state)
{
	char pid[32];

	(void)state;
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "20000000", 1);
	assert_int_equal(notify_watchdog_usec(), 20000000);
	setenv("WATCHDOG_USEC", "20s", 1);
	assert_int_equal(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	assert_int_equal(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "300000", 1);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(notify_watchdog_usec(), 300000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(notify_watchdog_usec(), 0);
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(arg, NULL);
}

/* Runs a loop with the watchdog for run_ms; the WATCHDOG=1 datagrams received. */
static int run_watchdog(struct receiver *r, int run_ms)
{
	struct event_base *base = event_base_new();
	struct timeval tv = {run_ms / 1000, (run_ms % 1000) * 1000};
	char buf[64];
	int n = 0;

	assert_non_null(base);
	assert_int_equal(notify_init(), CU_OK);
	assert_int_equal(notify_watchdog_start(base), CU_OK);
	assert_int_equal(event_base_once(base, -1, EV_TIMEOUT, on_stop, base, &tv), 0);
	assert_int_equal(event_base_dispatch(base), 0);
	notify_close();
	event_base_free(base);
	while (pending(r)) {
		assert_string_equal(receive(r, buf, sizeof(buf)), "WATCHDOG=1");
		n++;
	}
	return n;
}

static void test_watchdog_timer(void **state)
{
	struct receiver r = {0};
	char pid[32];
	int n;

	(void)state;
	receiver_open_path(&r);
	/* 100 ms: a keep-alive at once and every 50 ms, so about 11 in 500 ms. */
	setenv("WATCHDOG_USEC", "100000", 1);
	n = run_watchdog(&r, 500);
	assert_in_range(n, 4, 12); /* fewer when the machine is busy */
	/* Meant for another process: nothing is sent. */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(run_watchdog(&r, 200), 0);
	unsetenv("WATCHDOG_PID");
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(run_watchdog(&r, 100), 0);
	receiver_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_messages),	   cmocka_unit_test(test_abstract),
	    cmocka_unit_test(test_bad_addresses),  cmocka_unit_test(test_watchdog_env),
	    cmocka_unit_test(test_watchdog_timer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
