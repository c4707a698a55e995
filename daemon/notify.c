/*
 * notify.c - sd_notify(3) spoken directly (see notify.h): one datagram per
 * message on an unconnected AF_UNIX socket, sent with MSG_DONTWAIT so that
 * a supervisor that does not read never stalls the event loop. The
 * protocol is small and stable (systemd documents it as an interface for
 * reimplementation), so custodyd does not link libsystemd for it.
 */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

static struct {
	int fd; /* -1: notifications off */
	struct sockaddr_un addr;
	socklen_t addr_len;
	bool ready_sent;      /* READY=1 went out at least once */
	bool watchdog_failed; /* the last keep-alive failed (logged once) */
	struct event *watchdog;
} nt = {.fd = -1};

/* Fills nt.addr from the value of $NOTIFY_SOCKET; false when it cannot be one. */
static bool parse_address(const char *name)
{
	size_t len = strlen(name);

	memset(&nt.addr, 0, sizeof(nt.addr));
	nt.addr.sun_family = AF_UNIX;
	if (name[0] == '@') {
		/* Abstract namespace: a leading NUL, the name without a terminator. */
		if (len < 2 || len > sizeof(nt.addr.sun_path))
			return false;
		memcpy(nt.addr.sun_path + 1, name + 1, len - 1);
		nt.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
		return true;
	}
	if (name[0] != '/' || len >= sizeof(nt.addr.sun_path))
		return false;
	memcpy(nt.addr.sun_path, name, len + 1);
	nt.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return true;
}

int notify_init(void)
{
	const char *name = getenv("NOTIFY_SOCKET");

	notify_close();
	nt.ready_sent = false;
	if (name == NULL || name[0] == '\0')
		return CU_OK;
	if (!parse_address(name))
		return CU_ERR_INVALID;
	nt.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (nt.fd < 0)
		return CU_ERR_IO;
	return CU_OK;
}

bool notify_enabled(void)
{
	return nt.fd >= 0;
}

int notify_send(const char *msg)
{
	size_t len = strlen(msg);
	ssize_t n;

	if (nt.fd < 0)
		return CU_OK;
	if (len > NOTIFY_MAX_MESSAGE)
		return CU_ERR_TOO_BIG;
	do {
		n = sendto(nt.fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT,
			   (const struct sockaddr *)&nt.addr, nt.addr_len);
	} while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? CU_OK : CU_ERR_IO;
}

/*
 * Sends head, then "STATUS=status" when status is not NULL. A newline in
 * status would start another variable: it is cut there.
 */
static int send_with_status(const char *head, const char *status)
{
	char msg[NOTIFY_MAX_MESSAGE + 1];
	int n;

	if (status == NULL)
		return notify_send(head);
	n = snprintf(msg, sizeof(msg), "%s%sSTATUS=%.*s", head, head[0] != '\0' ? "\n" : "",
		     (int)strcspn(status, "\n"), status);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return CU_ERR_TOO_BIG;
	return notify_send(msg);
}

int notify_ready(const char *status)
{
	int rc = send_with_status("READY=1", status);

	if (rc == CU_OK)
		nt.ready_sent = true;
	return rc;
}

int notify_status(const char *status)
{
	return send_with_status("", status);
}

int notify_reloading(void)
{
	struct timespec ts;
	char msg[96];

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return CU_ERR_IO;
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
		     (unsigned long long)ts.tv_nsec / 1000);
	return send_with_status(msg, "reloading the configuration");
}

int notify_reloaded(void)
{
	if (!nt.ready_sent)
		return notify_status("reloaded; starting up");
	return send_with_status("READY=1", "serving");
}

int notify_stopping(const char *status)
{
	return send_with_status("STOPPING=1", status);
}

uint64_t notify_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end = NULL;
	unsigned long long v;

	if (usec == NULL || usec[0] < '0' || usec[0] > '9')
		return 0;
	if (pid != NULL && pid[0] != '\0') {
		errno = 0;
		v = strtoull(pid, &end, 10);
		if (errno != 0 || *end != '\0' || v != (unsigned long long)getpid())
			return 0;
	}
	errno = 0;
	v = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0')
		return 0;
	return (uint64_t)v;
}

/* The keep-alive; a failure is logged when it starts and when it ends. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	int rc = notify_send("WATCHDOG=1");

	(void)fd;
	(void)what;
	(void)arg;
	if (rc != CU_OK && !nt.watchdog_failed)
		log_warn("watchdog keep-alive to NOTIFY_SOCKET failed: %s", strerror(errno));
	else if (rc == CU_OK && nt.watchdog_failed)
		log_info("watchdog keep-alive to NOTIFY_SOCKET works again");
	nt.watchdog_failed = rc != CU_OK;
}

int notify_watchdog_start(struct event_base *base)
{
	uint64_t usec = notify_watchdog_usec() / 2;
	struct timeval tv;

	if (nt.fd < 0 || usec == 0 || nt.watchdog != NULL)
		return CU_OK;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	nt.watchdog = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
	if (nt.watchdog == NULL || event_add(nt.watchdog, &tv) != 0) {
		if (nt.watchdog != NULL)
			event_free(nt.watchdog);
		nt.watchdog = NULL;
		return CU_ERR_NOMEM;
	}
	on_watchdog(-1, 0, NULL);
	return CU_OK;
}

void notify_close(void)
{
	if (nt.watchdog != NULL)
		event_free(nt.watchdog);
	nt.watchdog = NULL;
	nt.watchdog_failed = false;
	if (nt.fd >= 0)
		close(nt.fd);
	nt.fd = -1;
}
