/*
 * listener.c - listening sockets (see listener.h), with libevent's
 * evconnlistener. A stale Unix socket file left by a crash is replaced,
 * but one another live process is listening on is refused.
 */
#include "listener.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/listener.h>
#include <event2/util.h>

#include "conn.h"
#include "log.h"
#include "peer.h"

static struct evconnlistener *unix_listener, *tcp_listener;
static char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int max_connections;
static struct event *resume_timer;

/*
 * Describes the peer for logs; for a Unix peer, also whether its
 * credentials may connect (*allowed; always true for TCP, which
 * authenticates in the handshake).
 */
static void describe_peer(evutil_socket_t fd, const struct sockaddr *sa, char *out, size_t n,
			  bool *allowed)
{
	char host[64] = "?";

	*allowed = true;
	if (sa->sa_family == AF_UNIX) {
		struct ucred cred;
		socklen_t len = sizeof(cred);

		*allowed = false;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
			snprintf(out, n, "unix:uid=%u,gid=%u,pid=%d", (unsigned)cred.uid,
				 (unsigned)cred.gid, (int)cred.pid);
			*allowed = peer_unix_allowed(cred.uid, cred.gid);
		} else {
			snprintf(out, n, "unix");
		}
		return;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		evutil_inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, n, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, n, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(out, n, "unknown");
	}
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	char peer[96];
	bool allowed;
	struct conn_origin origin = {.peer = peer, .tcp = sa->sa_family != AF_UNIX};

	(void)socklen;
	(void)arg;
	describe_peer(fd, sa, peer, sizeof(peer), &allowed);
	if (!allowed) {
		log_warn("refusing %s: its user and group are not in unix_allowed_users or "
			 "unix_allowed_groups",
			 peer);
		origin.reject_code = CUSTODY__ERROR_CODE__FORBIDDEN;
		origin.reject_reason = "this user may not use custodyd's Unix socket "
				       "(unix_allowed_users, unix_allowed_groups)";
	} else if (conn_count() >= (size_t)max_connections) {
		log_warn("refusing %s: max_connections (%d) reached", peer, max_connections);
		origin.reject_code = CUSTODY__ERROR_CODE__UNAVAILABLE;
		origin.reject_reason = "too many connections; retry later";
	}
	if (conn_new(evconnlistener_get_base(l), fd, &origin) != CU_OK)
		log_error("out of memory accepting %s", peer);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (unix_listener != NULL)
		evconnlistener_enable(unix_listener);
	if (tcp_listener != NULL)
		evconnlistener_enable(tcp_listener);
}

/* Out of file descriptors: stop accepting for a moment instead of spinning. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {0, 100000};

	(void)arg;
	log_warn("accept failed: %s", evutil_socket_error_to_string(err));
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		evconnlistener_disable(l);
		evtimer_add(resume_timer, &tv);
	}
}

/* Binds the Unix socket at path, replacing a stale socket file. */
static int open_unix(const char *path, int mode, char *err, size_t err_size)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, err_size, "listen_unix: path longer than %zu bytes",
			 sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		int probe = socket(AF_UNIX, SOCK_STREAM, 0);
		int live = probe >= 0 && S_ISSOCK(st.st_mode) &&
			   connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;

		if (probe >= 0)
			close(probe);
		if (live || !S_ISSOCK(st.st_mode)) {
			snprintf(err, err_size, "listen_unix: %s %s", path,
				 live ? "is in use by another process"
				      : "exists and is not a socket");
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, (mode_t)mode) != 0 || listen(fd, 512) != 0) {
		snprintf(err, err_size, "listen_unix: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static struct evconnlistener *wrap(struct event_base *base, int fd)
{
	struct evconnlistener *l = evconnlistener_new(
	    base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);

	if (l == NULL)
		close(fd);
	else
		evconnlistener_set_error_cb(l, on_accept_error);
	return l;
}

static int open_tcp(struct event_base *base, const char *address, char *err, size_t err_size)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (evutil_parse_sockaddr_port(address, (struct sockaddr *)&ss, &len) != 0) {
		snprintf(err, err_size, "listen_tcp: \"%s\" is not ADDRESS:PORT", address);
		return CU_ERR_INVALID;
	}
	tcp_listener = evconnlistener_new_bind(base, on_accept, NULL,
					       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
						   LEV_OPT_REUSEABLE,
					       512, (struct sockaddr *)&ss, len);
	if (tcp_listener == NULL) {
		snprintf(err, err_size, "listen_tcp: %s: %s", address, strerror(errno));
		return CU_ERR_IO;
	}
	evconnlistener_set_error_cb(tcp_listener, on_accept_error);
	return CU_OK;
}

int listener_start(struct event_base *base, const struct listener_options *opt, char *err,
		   size_t err_size)
{
	int fd;

	max_connections = opt->max_connections;
	resume_timer = evtimer_new(base, on_resume, NULL);
	if (resume_timer == NULL) {
		snprintf(err, err_size, "out of memory");
		return CU_ERR_NOMEM;
	}
	if (opt->unix_path[0] != '\0') {
		fd = open_unix(opt->unix_path, opt->unix_mode, err, err_size);
		if (fd < 0)
			return CU_ERR_IO;
		snprintf(unix_path, sizeof(unix_path), "%s", opt->unix_path);
		unix_listener = wrap(base, fd);
		if (unix_listener == NULL) {
			snprintf(err, err_size, "out of memory");
			return CU_ERR_NOMEM;
		}
		log_info("listening on unix:%s", unix_path);
	}
	if (opt->tcp_address[0] != '\0') {
		int rc = open_tcp(base, opt->tcp_address, err, err_size);

		if (rc != CU_OK)
			return rc;
		log_info("listening on %s", opt->tcp_address);
	}
	return CU_OK;
}

void listener_set_max_connections(int n)
{
	max_connections = n;
}

void listener_stop(void)
{
	if (unix_listener != NULL) {
		evconnlistener_free(unix_listener);
		unlink(unix_path);
	}
	if (tcp_listener != NULL)
		evconnlistener_free(tcp_listener);
	if (resume_timer != NULL)
		event_free(resume_timer);
	unix_listener = tcp_listener = NULL;
	resume_timer = NULL;
}
