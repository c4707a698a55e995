/*
 * net.c - the client connection (see net.h).
 *
 * The socket is non-blocking and every wait goes through ppoll() with what
 * is left of a deadline, so the timeout bounds a whole frame (a server
 * that drips one byte a second cannot stretch it). Writes use MSG_NOSIGNAL
 * so a server that hangs up gives an error, not SIGPIPE.
 *
 * Over TCP everything travels inside the Noise channel (channel.h): the
 * handshake runs in net_open, pinned to the server key the caller gives,
 * and frames are then sealed on the way out and opened on the way in; the
 * plaintext of the last transport message waits in a buffer of the
 * connection until the frame reader takes it.
 *
 * A long-running command (watch) blocks its stop signals and hands us the
 * mask to wait with (net_set_interrupt): a signal can then only arrive
 * inside ppoll, after the stop flag was checked, so none is lost between
 * the check and the wait.
 */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "channel.h"
#include "frame.h"

#define UNIX_PREFIX "unix:"

struct net_conn {
	int fd;
	int timeout_ms;
	uint64_t next_id;
	char err[NET_ERR_MAX];
	struct channel *ch; /* TCP: the Noise channel; NULL on Unix */
	uint8_t *wire;	    /* CHANNEL_MAX_WIRE_BYTES: one message in or out */
	uint8_t *plain;	    /* CHANNEL_MAX_PLAINTEXT: the last message opened */
	size_t plain_off, plain_len;
};

/* Writes a reason into err (err_size bytes) and returns rc: one-line failures. */
static int set_err(char *err, size_t err_size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_err(char *err, size_t err_size, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return rc;
}

/* The stop flag and wait mask of net_set_interrupt; NULL: none. */
static const volatile sig_atomic_t *stop_flag;
static sigset_t wait_mask;

void net_set_interrupt(const volatile sig_atomic_t *flag, const sigset_t *mask)
{
	stop_flag = flag;
	if (mask != NULL)
		wait_mask = *mask;
	else
		sigprocmask(SIG_SETMASK, NULL, &wait_mask);
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether the stop flag is up; then errno is EINTR. */
static bool stopping(void)
{
	if (stop_flag == NULL || *stop_flag == 0)
		return false;
	errno = EINTR;
	return true;
}

/*
 * Waits until fd (or nothing, when fd < 0) is ready for events, or
 * deadline_ms (monotonic; INT64_MAX for never) passes. Returns CU_OK,
 * CU_ERR_TIMEOUT, or CU_ERR_IO with errno set (EINTR: the stop flag is up).
 */
static int wait_ready(int fd, short events, int64_t deadline_ms)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		int64_t left_ms = deadline_ms - monotonic_ms();
		struct timespec ts;
		int n;

		if (stopping())
			return CU_ERR_IO;
		if (left_ms <= 0)
			return CU_ERR_TIMEOUT;
		if (left_ms > INT32_MAX)
			left_ms = INT32_MAX;
		ts.tv_sec = left_ms / 1000;
		ts.tv_nsec = (long)(left_ms % 1000) * 1000000;
		n = ppoll(&pfd, fd >= 0 ? 1 : 0, &ts, stop_flag != NULL ? &wait_mask : NULL);
		if (n > 0)
			return CU_OK;
		if (n < 0 && errno != EINTR)
			return CU_ERR_IO;
	}
}

int net_sleep_ms(int ms)
{
	int rc = wait_ready(-1, 0, monotonic_ms() + ms);

	return rc == CU_ERR_TIMEOUT ? CU_OK : rc;
}

/*
 * Makes a non-blocking socket and connects it to addr before deadline_ms.
 * On success *fd_out is the socket; on failure errno says why.
 */
static int connect_addr(int family, const struct sockaddr *addr, socklen_t addr_len,
			int64_t deadline_ms, int *fd_out)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = CU_ERR_IO;
	int so_error = 0;
	socklen_t len = sizeof(so_error);
	int saved_errno;

	if (fd < 0)
		return CU_ERR_IO;
	if (connect(fd, addr, addr_len) == 0)
		goto done;
	if (errno != EINPROGRESS && errno != EAGAIN)
		goto fail;
	rc = wait_ready(fd, POLLOUT, deadline_ms);
	if (rc != CU_OK)
		goto fail;
	rc = CU_ERR_IO;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
		goto fail;
	if (so_error != 0) {
		errno = so_error;
		goto fail;
	}
done:
	*fd_out = fd;
	return CU_OK;
fail:
	saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return rc;
}

/*
 * Connects to the Unix socket at path (borrowed; server is the whole
 * address, for messages). *fd gets the socket.
 */
static int open_unix(const char *server, const char *path, int64_t deadline_ms, int *fd, char *err,
		     size_t err_size)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int rc;

	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path))
		return set_err(err, err_size, CU_ERR_INVALID,
			       "\"%s\": a socket path of 1-%zu bytes is needed after unix:", server,
			       sizeof(sun.sun_path) - 1);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	rc = connect_addr(AF_UNIX, (const struct sockaddr *)&sun, sizeof(sun), deadline_ms, fd);
	if (rc == CU_ERR_TIMEOUT)
		return set_err(err, err_size, rc, "cannot connect to %s: timed out", server);
	if (rc != CU_OK)
		return set_err(err, err_size, rc, "cannot connect to %s: %s", server,
			       strerror(errno));
	return CU_OK;
}

/*
 * Splits "host:port" or "[v6addr]:port" into host and port (copied into
 * the caller's buffers of NET_ERR_MAX bytes).
 */
static int split_host_port(const char *server, char *host, char *port, char *err, size_t err_size)
{
	const char *colon, *host_start = server, *host_end;

	if (server[0] == '[') {
		host_start = server + 1;
		host_end = strchr(host_start, ']');
		colon = host_end != NULL ? host_end + 1 : NULL;
		if (colon == NULL || *colon != ':')
			colon = NULL;
	} else {
		colon = strrchr(server, ':');
		host_end = colon;
		if (colon != NULL && memchr(server, ':', (size_t)(colon - server)) != NULL)
			return set_err(err, err_size, CU_ERR_INVALID,
				       "\"%s\": write an IPv6 address in brackets, e.g. [::1]:7420",
				       server);
	}
	if (colon == NULL || host_end == host_start || colon[1] == '\0')
		return set_err(err, err_size, CU_ERR_INVALID,
			       "\"%s\" is not a server address (unix:/path/to.sock, HOST:PORT or "
			       "[IPv6]:PORT)",
			       server);
	if ((size_t)(host_end - host_start) >= NET_ERR_MAX || strlen(colon + 1) >= NET_ERR_MAX)
		return set_err(err, err_size, CU_ERR_INVALID, "server address too long");
	memcpy(host, host_start, (size_t)(host_end - host_start));
	host[host_end - host_start] = '\0';
	strcpy(port, colon + 1);
	return CU_OK;
}

/* Resolves host:port and tries each address until one connects. */
static int open_tcp(const char *server, int64_t deadline_ms, int *fd, char *err, size_t err_size)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *list = NULL;
	char host[NET_ERR_MAX], port[NET_ERR_MAX];
	int rc = split_host_port(server, host, port, err, err_size);
	int gai, one = 1;

	if (rc != CU_OK)
		return rc;
	gai = getaddrinfo(host, port, &hints, &list);
	if (gai != 0)
		return set_err(err, err_size, CU_ERR_IO, "cannot connect to %s: %s", server,
			       gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
	rc = CU_ERR_IO;
	errno = EHOSTUNREACH;
	for (struct addrinfo *ai = list; ai != NULL && rc != CU_OK; ai = ai->ai_next) {
		rc = connect_addr(ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline_ms, fd);
		if (rc == CU_ERR_TIMEOUT)
			break;
	}
	if (rc == CU_OK) {
		/* Requests are small and answered one by one: do not delay them. */
		setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	} else if (rc == CU_ERR_TIMEOUT) {
		set_err(err, err_size, rc, "cannot connect to %s: timed out", server);
	} else {
		set_err(err, err_size, rc, "cannot connect to %s: %s", server, strerror(errno));
	}
	freeaddrinfo(list);
	return rc;
}

static int handshake(struct net_conn *c, const char *server, const struct net_identity *id);

int net_open(const char *server, int timeout_ms, const struct net_identity *id,
	     struct net_conn **out, char *err, size_t err_size)
{
	int64_t deadline_ms = monotonic_ms() + timeout_ms;
	bool is_unix = strncmp(server, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0;
	struct net_conn *c;
	int fd = -1;
	int rc;

	if (!is_unix && (id == NULL || id->key == NULL || id->server_pk == NULL))
		return set_err(err, err_size, CU_ERR_INVALID,
			       "%s is a TCP address: TCP needs your key (--key or CUSTODY_KEY) and "
			       "the server's public key (--server-key or CUSTODY_SERVER_KEY)",
			       server);
	if (is_unix)
		rc = open_unix(server, server + strlen(UNIX_PREFIX), deadline_ms, &fd, err,
			       err_size);
	else
		rc = open_tcp(server, deadline_ms, &fd, err, err_size);
	if (rc != CU_OK)
		return rc;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return set_err(err, err_size, CU_ERR_NOMEM, "out of memory");
	}
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	c->next_id = 1;
	if (!is_unix && (rc = handshake(c, server, id)) != CU_OK) {
		set_err(err, err_size, rc, "%s", c->err);
		net_close(c);
		return rc;
	}
	*out = c;
	return CU_OK;
}

void net_close(struct net_conn *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	channel_free(c->ch);
	if (c->plain != NULL)
		sodium_memzero(c->plain, CHANNEL_MAX_PLAINTEXT);
	free(c->plain);
	free(c->wire);
	free(c);
}

const char *net_error(const struct net_conn *c)
{
	return c->err;
}

/* Writes all of buf to the socket before the connection's timeout runs out. */
static int raw_write_all(struct net_conn *c, const uint8_t *buf, size_t len)
{
	int64_t deadline_ms = monotonic_ms() + c->timeout_ms;
	size_t off = 0;
	int rc;

	while (off < len) {
		ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return set_err(c->err, sizeof(c->err), CU_ERR_IO, "sending: %s",
				       strerror(errno));
		rc = wait_ready(c->fd, POLLOUT, deadline_ms);
		if (rc == CU_ERR_TIMEOUT)
			return set_err(c->err, sizeof(c->err), rc,
				       "timed out after %d s sending to the server",
				       c->timeout_ms / 1000);
		if (rc != CU_OK)
			return set_err(c->err, sizeof(c->err), rc, "sending: %s", strerror(errno));
	}
	return CU_OK;
}

/* Reads exactly len bytes from the socket into buf before deadline_ms. */
static int raw_read_exact(struct net_conn *c, uint8_t *buf, size_t len, int64_t deadline_ms)
{
	size_t off = 0;
	int rc;

	while (off < len) {
		ssize_t n = recv(c->fd, buf + off, len - off, 0);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == 0)
			return set_err(c->err, sizeof(c->err), CU_ERR_IO,
				       "connection closed by the server");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return set_err(c->err, sizeof(c->err), CU_ERR_IO, "receiving: %s",
				       strerror(errno));
		rc = wait_ready(c->fd, POLLIN, deadline_ms);
		if (rc == CU_ERR_TIMEOUT)
			return set_err(c->err, sizeof(c->err), rc,
				       "timed out after %d s waiting for the server",
				       c->timeout_ms / 1000);
		if (rc != CU_OK)
			return set_err(c->err, sizeof(c->err), rc, "receiving: %s",
				       strerror(errno));
	}
	return CU_OK;
}

/* Reads one wire message of the channel into c->wire; *len gets its size. */
static int read_message(struct net_conn *c, int64_t deadline_ms, size_t *len)
{
	uint8_t hdr[CHANNEL_HEADER_BYTES];
	int rc = raw_read_exact(c, hdr, sizeof(hdr), deadline_ms);

	if (rc != CU_OK)
		return rc;
	*len = channel_msg_len(hdr);
	if (*len == 0)
		return set_err(c->err, sizeof(c->err), CU_ERR_INVALID,
			       "the server sent an empty channel message");
	return raw_read_exact(c, c->wire, *len, deadline_ms);
}

/* Writes all of buf: sealed in transport messages over TCP, as is on Unix. */
static int write_all(struct net_conn *c, const uint8_t *buf, size_t len)
{
	int rc = CU_OK;

	if (c->ch == NULL)
		return raw_write_all(c, buf, len);
	while (rc == CU_OK && len > 0) {
		size_t n = len < CHANNEL_MAX_PLAINTEXT ? len : CHANNEL_MAX_PLAINTEXT;

		rc = channel_seal(c->ch, buf, n, c->wire);
		if (rc != CU_OK)
			return set_err(c->err, sizeof(c->err), rc, "cannot encrypt: %s",
				       cu_strerror(rc));
		rc = raw_write_all(c, c->wire, n + CHANNEL_OVERHEAD);
		buf += n;
		len -= n;
	}
	return rc;
}

/* Reads exactly len bytes of the (decrypted, over TCP) stream before deadline_ms. */
static int read_exact(struct net_conn *c, uint8_t *buf, size_t len, int64_t deadline_ms)
{
	size_t n;
	int rc;

	if (c->ch == NULL)
		return raw_read_exact(c, buf, len, deadline_ms);
	while (len > 0) {
		if (c->plain_off == c->plain_len) {
			rc = read_message(c, deadline_ms, &n);
			if (rc != CU_OK)
				return rc;
			rc = channel_open(c->ch, c->wire, n, c->plain);
			if (rc != CU_OK)
				return set_err(c->err, sizeof(c->err), rc,
					       "the server sent a message that does not decrypt "
					       "(%s): closing",
					       cu_strerror(rc));
			c->plain_off = 0;
			c->plain_len = n - NOISE_TAG_BYTES;
		}
		n = c->plain_len - c->plain_off < len ? c->plain_len - c->plain_off : len;
		memcpy(buf, c->plain + c->plain_off, n);
		c->plain_off += n;
		buf += n;
		len -= n;
	}
	return CU_OK;
}

/* The Noise handshake as the client (channel.h), within the connection's timeout. */
static int handshake(struct net_conn *c, const char *server, const struct net_identity *id)
{
	int64_t deadline_ms = monotonic_ms() + c->timeout_ms;
	size_t n = 0;
	char want[KEY_PUB_TEXT_MAX];
	int rc;

	c->wire = malloc(CHANNEL_MAX_WIRE_BYTES);
	c->plain = malloc(CHANNEL_MAX_PLAINTEXT);
	if (c->wire == NULL || c->plain == NULL)
		return set_err(c->err, sizeof(c->err), CU_ERR_NOMEM, "out of memory");
	rc = channel_new_client(id->key, id->server_pk, &c->ch);
	if (rc != CU_OK)
		return set_err(c->err, sizeof(c->err), rc, "the server key is not a valid key");
	while (rc == CU_OK && !channel_ready(c->ch)) {
		if (channel_hs_write_turn(c->ch)) {
			rc = channel_hs_write(c->ch, c->wire, CHANNEL_MAX_WIRE_BYTES, &n);
			if (rc == CU_OK)
				rc = raw_write_all(c, c->wire, n);
			continue;
		}
		rc = read_message(c, deadline_ms, &n);
		if (rc == CU_ERR_IO)
			return set_err(c->err, sizeof(c->err), rc,
				       "%s closed the connection during the handshake (busy, or "
				       "not a custodyd speaking Noise)",
				       server);
		if (rc == CU_OK)
			rc = channel_hs_read(c->ch, c->wire, n);
	}
	key_pub_format(id->server_pk, want);
	if (rc == CU_ERR_SIGNATURE)
		return set_err(
		    c->err, sizeof(c->err), rc,
		    "%s is not the server whose key is %s (server key mismatch): refusing "
		    "to go on",
		    server, want);
	if (rc != CU_OK && c->err[0] == '\0')
		set_err(c->err, sizeof(c->err), rc, "handshake with %s failed: %s", server,
			cu_strerror(rc));
	return rc;
}

int net_send(struct net_conn *c, Custody__Request *req, uint64_t *id)
{
	uint8_t *frame = NULL;
	size_t frame_len = 0;
	int rc;

	req->id = c->next_id++;
	rc = frame_pack(&req->base, NET_MAX_REQUEST_BYTES, &frame, &frame_len);
	if (rc != CU_OK)
		return set_err(c->err, sizeof(c->err), rc, "cannot frame the request: %s",
			       cu_strerror(rc));
	rc = write_all(c, frame, frame_len);
	free(frame);
	if (rc == CU_OK)
		*id = req->id;
	return rc;
}

/*
 * Reads one frame and unpacks it; the length is checked before allocating.
 * With wait_idle the wait for the frame to begin is unbounded; the frame
 * itself must still arrive within the timeout.
 */
static int read_response(struct net_conn *c, bool wait_idle, Custody__Response **resp)
{
	int64_t deadline_ms;
	uint8_t hdr[FRAME_HEADER_BYTES];
	uint8_t *body = NULL;
	uint32_t body_len = 0;
	int rc = CU_OK;

	if (wait_idle && c->plain_off == c->plain_len &&
	    wait_ready(c->fd, POLLIN, INT64_MAX) != CU_OK)
		return set_err(c->err, sizeof(c->err), CU_ERR_IO, "receiving: %s", strerror(errno));
	deadline_ms = monotonic_ms() + c->timeout_ms;
	rc = read_exact(c, hdr, sizeof(hdr), deadline_ms);
	if (rc != CU_OK)
		return rc;
	rc = frame_decode_header(hdr, NET_MAX_RESPONSE_BYTES, &body_len);
	if (rc == CU_ERR_TOO_BIG)
		return set_err(c->err, sizeof(c->err), rc,
			       "the server sent a frame larger than %u bytes (is it custodyd?)",
			       NET_MAX_RESPONSE_BYTES);
	if (rc != CU_OK)
		return set_err(c->err, sizeof(c->err), rc, "the server sent an empty frame");
	body = malloc(body_len);
	if (body == NULL)
		return set_err(c->err, sizeof(c->err), CU_ERR_NOMEM, "out of memory");
	rc = read_exact(c, body, body_len, deadline_ms);
	if (rc != CU_OK)
		goto fail;
	*resp = custody__response__unpack(NULL, body_len, body);
	if (*resp == NULL)
		rc = set_err(c->err, sizeof(c->err), CU_ERR_INVALID,
			     "the server sent a malformed response");
fail:
	free(body);
	return rc;
}

int net_recv(struct net_conn *c, Custody__Response **resp)
{
	for (;;) {
		Custody__Response *r = NULL;
		int rc = read_response(c, false, &r);

		if (rc != CU_OK)
			return rc;
		if (r->id != 0 || r->body_case == CUSTODY__RESPONSE__BODY_ERROR) {
			*resp = r;
			return CU_OK;
		}
		custody__response__free_unpacked(r, NULL); /* a push we do not use */
	}
}

int net_call(struct net_conn *c, Custody__Request *req, Custody__Response **resp)
{
	uint64_t id = 0;
	int rc = net_send(c, req, &id);

	while (rc == CU_OK) {
		Custody__Response *r = NULL;

		rc = net_recv(c, &r);
		if (rc != CU_OK)
			break;
		if (r->id == id || r->id == 0) {
			*resp = r;
			return CU_OK;
		}
		custody__response__free_unpacked(r, NULL); /* an answer nobody waits for */
	}
	return rc;
}

int net_recv_any(struct net_conn *c, bool wait_idle, Custody__Response **resp)
{
	return read_response(c, wait_idle, resp);
}

void net_keepalive(struct net_conn *c, int idle_s)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);
	int one = 1, interval_s = 10, probes = 3;

	/* Best effort: an old kernel without these options keeps its defaults. */
	if (getsockname(c->fd, (struct sockaddr *)&addr, &len) != 0 ||
	    (addr.ss_family != AF_INET && addr.ss_family != AF_INET6))
		return;
	setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(c->fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
	setsockopt(c->fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof(interval_s));
	setsockopt(c->fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
}
