/*
 * bench_client.c - custody-bench's client connections: TCP inside the Noise
 * channel (the path of every remote client), or plaintext frames on the
 * Unix socket. The logic follows tests/integration/itest_lib.c, but
 * non-blocking with buffers, so that one loop can drive many connections
 * at full speed without a thread each.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "bench.h"
#include "channel.h"
#include "frame.h"

#define BCONN_MAX_FRAME (16u << 20)

struct buf {
	uint8_t *p;
	size_t off, len, cap; /* bytes [off, len) are live */
};

struct bench_conn {
	int fd;
	struct channel *ch; /* NULL on the Unix socket */
	struct buf in;	    /* raw bytes from the socket */
	struct buf plain;   /* the decrypted stream, frames not yet taken */
	struct buf out;	    /* wire bytes to send */
};

/* Makes room for extra more bytes after the live ones (compacting first). */
static int buf_reserve(struct buf *b, size_t extra)
{
	if (b->off > 0 && (b->off == b->len || b->off > b->cap / 2)) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + extra > b->cap) {
		size_t cap = b->cap == 0 ? 4096 : b->cap;
		uint8_t *p;

		while (cap < b->len + extra)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL)
			return CU_ERR_NOMEM;
		b->p = p;
		b->cap = cap;
	}
	return CU_OK;
}

static int buf_append(struct buf *b, const uint8_t *data, size_t len)
{
	int rc = buf_reserve(b, len);

	if (rc != CU_OK)
		return rc;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return CU_OK;
}

/* A connected socket to t (blocking). */
static int socket_connect(const struct bench_target *t, int *fd_out)
{
	int fd, one = 1;

	if (t->unix_socket) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		memcpy(sa.sun_path, t->path, sizeof(sa.sun_path) - 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			goto fail;
	} else {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(t->port)};

		if (inet_pton(AF_INET, t->host, &sa.sin_addr) != 1)
			return CU_ERR_INVALID;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			goto fail;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	*fd_out = fd;
	return CU_OK;
fail:
	if (fd >= 0)
		close(fd);
	return CU_ERR_IO;
}

/* Waits up to timeout_ms for events on c's socket: CU_OK, or CU_ERR_TIMEOUT. */
static int wait_fd(const struct bench_conn *c, short events, int timeout_ms)
{
	struct pollfd p = {c->fd, events, 0};
	int n;

	do {
		n = poll(&p, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	return n == 1 ? CU_OK : n == 0 ? CU_ERR_TIMEOUT : CU_ERR_IO;
}

/* Flushes all queued output, waiting for the socket as needed. */
static int flush_all(struct bench_conn *c, int timeout_ms)
{
	bool pending = true;
	int rc;

	while (pending) {
		rc = bconn_flush(c, &pending);
		if (rc == CU_OK && pending)
			rc = wait_fd(c, POLLOUT, timeout_ms);
		if (rc != CU_OK)
			return rc;
	}
	return CU_OK;
}

/* Reads raw bytes into c->in: CU_OK (maybe none: EAGAIN), CU_ERR_IO at EOF or error. */
static int read_raw(struct bench_conn *c)
{
	for (;;) {
		ssize_t n;
		int rc = buf_reserve(&c->in, 65536);

		if (rc != CU_OK)
			return rc;
		n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
		if (n > 0) {
			c->in.len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return CU_OK;
		return CU_ERR_IO;
	}
}

/* The next whole wire message in c->in: its body and length, or NULL. */
static const uint8_t *take_message(struct bench_conn *c, size_t *len)
{
	size_t have = c->in.len - c->in.off, n;
	const uint8_t *p = c->in.p + c->in.off;

	if (have < CHANNEL_HEADER_BYTES)
		return NULL;
	n = channel_msg_len(p);
	if (have < CHANNEL_HEADER_BYTES + n)
		return NULL;
	c->in.off += CHANNEL_HEADER_BYTES + n;
	*len = n;
	return p + CHANNEL_HEADER_BYTES;
}

/* The client side of the Noise XX handshake, blocking up to 10 s per message. */
static int handshake(struct bench_conn *c, const struct cu_key *key, const uint8_t server_pk[32])
{
	uint8_t wire[CHANNEL_MAX_WIRE_BYTES];
	const uint8_t *msg;
	size_t n;
	int rc = channel_new_client(key, server_pk, &c->ch);

	while (rc == CU_OK && !channel_ready(c->ch)) {
		if (channel_hs_write_turn(c->ch)) {
			rc = channel_hs_write(c->ch, wire, sizeof(wire), &n);
			if (rc == CU_OK)
				rc = buf_append(&c->out, wire, n);
			if (rc == CU_OK)
				rc = flush_all(c, 10000);
			continue;
		}
		msg = take_message(c, &n);
		if (msg != NULL) {
			rc = channel_hs_read(c->ch, msg, n);
			continue;
		}
		rc = wait_fd(c, POLLIN, 10000);
		if (rc == CU_OK)
			rc = read_raw(c);
	}
	return rc;
}

int bconn_open(const struct bench_target *t, const struct cu_key *key, struct bench_conn **out)
{
	struct bench_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return CU_ERR_NOMEM;
	c->fd = -1;
	rc = socket_connect(t, &c->fd);
	if (rc == CU_OK && fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0)
		rc = CU_ERR_IO;
	if (rc == CU_OK && !t->unix_socket)
		rc = handshake(c, key, t->server_pk);
	if (rc != CU_OK) {
		bconn_free(c);
		return rc;
	}
	*out = c;
	return CU_OK;
}

void bconn_free(struct bench_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	channel_free(c->ch);
	free(c->in.p);
	free(c->plain.p);
	free(c->out.p);
	free(c);
}

int bconn_fd(const struct bench_conn *c)
{
	return c->fd;
}

int bconn_queue(struct bench_conn *c, const uint8_t *frames, size_t len)
{
	int rc;

	if (c->ch == NULL)
		return buf_append(&c->out, frames, len);
	while (len > 0) {
		size_t n = len < CHANNEL_MAX_PLAINTEXT ? len : CHANNEL_MAX_PLAINTEXT;

		rc = buf_reserve(&c->out, n + CHANNEL_OVERHEAD);
		if (rc == CU_OK)
			rc = channel_seal(c->ch, frames, n, c->out.p + c->out.len);
		if (rc != CU_OK)
			return rc;
		c->out.len += n + CHANNEL_OVERHEAD;
		frames += n;
		len -= n;
	}
	return CU_OK;
}

int bconn_flush(struct bench_conn *c, bool *pending)
{
	while (c->out.off < c->out.len) {
		ssize_t n =
		    send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return CU_ERR_IO;
		c->out.off += (size_t)n;
	}
	if (c->out.off == c->out.len)
		c->out.off = c->out.len = 0;
	*pending = c->out.off < c->out.len;
	return CU_OK;
}

int bconn_read(struct bench_conn *c)
{
	const uint8_t *msg;
	size_t n;
	int rc = read_raw(c), rc2;

	if (c->ch == NULL) {
		rc2 = buf_append(&c->plain, c->in.p + c->in.off, c->in.len - c->in.off);
		c->in.off = c->in.len = 0;
		return rc2 != CU_OK ? rc2 : rc;
	}
	while ((msg = take_message(c, &n)) != NULL) {
		if (n < NOISE_TAG_BYTES)
			return CU_ERR_INVALID;
		rc2 = buf_reserve(&c->plain, n);
		if (rc2 == CU_OK)
			rc2 = channel_open(c->ch, msg, n, c->plain.p + c->plain.len);
		if (rc2 != CU_OK)
			return rc2;
		c->plain.len += n - NOISE_TAG_BYTES;
	}
	return rc;
}

int bconn_next(struct bench_conn *c, Custody__Response **resp)
{
	size_t have = c->plain.len - c->plain.off;
	const uint8_t *p = c->plain.p + c->plain.off;
	uint32_t len;
	int rc;

	*resp = NULL;
	if (have < FRAME_HEADER_BYTES)
		return CU_OK;
	rc = frame_decode_header(p, BCONN_MAX_FRAME, &len);
	if (rc != CU_OK)
		return rc;
	if (have < FRAME_HEADER_BYTES + (size_t)len)
		return CU_OK;
	*resp = custody__response__unpack(NULL, len, p + FRAME_HEADER_BYTES);
	c->plain.off += FRAME_HEADER_BYTES + (size_t)len;
	return *resp != NULL ? CU_OK : CU_ERR_INVALID;
}

int bconn_call(struct bench_conn *c, const Custody__Request *req, int timeout_ms,
	       Custody__Response **resp)
{
	uint8_t *frame = NULL;
	size_t len;
	int rc = frame_pack(&req->base, BCONN_MAX_FRAME, &frame, &len);

	if (rc == CU_OK)
		rc = bconn_queue(c, frame, len);
	free(frame);
	if (rc == CU_OK)
		rc = flush_all(c, timeout_ms);
	while (rc == CU_OK) {
		rc = bconn_next(c, resp);
		if (rc != CU_OK || *resp != NULL) {
			if (rc == CU_OK && (*resp)->id != req->id) {
				custody__response__free_unpacked(*resp, NULL);
				*resp = NULL;
				continue;
			}
			break;
		}
		rc = wait_fd(c, POLLIN, timeout_ms);
		if (rc == CU_OK)
			rc = bconn_read(c);
	}
	return rc;
}

int bench_target_parse_tcp(const char *s, struct bench_target *t)
{
	const char *colon = strrchr(s, ':');
	long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(t->host))
		return CU_ERR_INVALID;
	memcpy(t->host, s, (size_t)(colon - s));
	t->host[colon - s] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		return CU_ERR_INVALID;
	t->port = (uint16_t)port;
	return CU_OK;
}
