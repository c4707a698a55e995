/*
 * hostile_load.c - the hostile side of custody-hostile: one epoll loop
 * driving every hostile connection, plus the daemon's VmRSS and liveness.
 *
 *   held unix / held tcp  connections opened during the ramp and kept;
 *                         each sends a log_key request now and then so
 *                         that idle_timeout_ms never applies, and must be
 *                         answered (a held connection the daemon closes is
 *                         counted as lost);
 *   slow handshake        TCP: a real first Noise message, one byte per
 *                         SLOW_BYTE_MS, never finished (handshake_timeout_ms
 *                         and max_handshakes must close it);
 *   slow frame            Unix: a frame header announcing 1,000 bytes, then
 *                         one byte per SLOW_BYTE_MS (idle_timeout_ms must
 *                         close it);
 *   oversized             Unix: a header announcing 2 GiB (BAD_REQUEST, then
 *                         closed);
 *   garbage               Unix: well-framed random bytes (BAD_REQUEST, the
 *                         connection goes on); TCP: random bytes instead of
 *                         a handshake (closed);
 *   bad signatures        Unix: Submit frames whose signature is broken, a
 *                         window of them in flight (UNAUTHENTICATED).
 * A slot whose connection the daemon closed opens a new one at once, so
 * the pressure stays the same for the whole phase.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sodium.h>

#include "channel.h"
#include "frame.h"
#include "hostile.h"

#define SLOW_BYTE_MS	  250
#define KEEPALIVE_MS	  8000
#define FLOOD_PERIOD_MS	  20 /* a new oversized / garbage attempt per slot */
#define BADSIG_WINDOW	  64
#define RSS_PERIOD_MS	  200
#define TICK_MS		  10 /* how often every slot is looked at */
#define GARBAGE_MAX_BYTES 2000
#define SLOW_FRAME_BODY	  1000
#define HC_BUF		  512

enum hkind {
	H_HELD_UNIX,
	H_HELD_TCP,
	H_SLOW_HS,
	H_SLOW_FRAME,
	H_OVERSIZED,
	H_GARBAGE,
	H_TCP_GARBAGE,
	H_BADSIG,
};

struct hconn {
	enum hkind kind;
	int fd;		       /* raw socket (not the held and bad-signature kinds) */
	struct bench_conn *bc; /* held and bad-signature kinds */
	int64_t next_ns;       /* next thing to send */
	int64_t opened_ns;
	uint8_t msg[64]; /* slow handshake: the message dribbled */
	size_t msg_len, pos;
	size_t inflight;     /* bad signatures: unanswered; held: keepalives */
	uint8_t buf[HC_BUF]; /* raw kinds: the answer being read */
	size_t buf_len;
	bool open;
};

struct loop {
	const struct hostile_opts *o;
	const struct cu_key *tcp_key;
	uint8_t *const *bad;
	const uint32_t *bad_lens;
	size_t n_bad, next_bad;
	struct hconn *hc;
	size_t n;
	int epfd;
	uint64_t req_id;
	struct hostile_result *res;
	int64_t next_scan_ns;
};

long hostile_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	}
	fclose(f);
	return kb;
}

/* A non-blocking socket connecting to t; -1 on failure. */
static int raw_connect(const struct bench_target *t)
{
	int fd;

	if (t->unix_socket) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		memcpy(sa.sun_path, t->path, sizeof(sa.sun_path) - 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			close(fd);
			return -1;
		}
	} else {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(t->port)};

		inet_pton(AF_INET, t->host, &sa.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			close(fd);
			return -1;
		}
	}
	if (fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int hc_fd(const struct hconn *h)
{
	return h->bc != NULL ? bconn_fd(h->bc) : h->fd;
}

/* Sends len bytes on a raw socket, as much as fits; false when it is gone. */
static bool raw_send(struct hconn *h, const void *p, size_t len)
{
	ssize_t n = send(h->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	return n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK;
}

/* The first message of a Noise handshake as key would send it, framed. */
static size_t first_hs_message(const struct cu_key *key, const uint8_t *server_pk, uint8_t out[64])
{
	struct channel *ch = NULL;
	size_t n = 0;

	if (channel_new_client(key, server_pk, &ch) != CU_OK ||
	    channel_hs_write(ch, out, 64, &n) != CU_OK)
		n = 0;
	channel_free(ch);
	return n;
}

/* Opens slot h (of its kind) and registers it with epoll; false on failure. */
static bool hc_open(struct loop *l, struct hconn *h, int64_t now)
{
	const struct hostile_opts *o = l->o;
	bool tcp = h->kind == H_HELD_TCP || h->kind == H_SLOW_HS || h->kind == H_TCP_GARBAGE;
	const struct bench_target *t = tcp ? &o->tcp_t : &o->unix_t;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = h};

	h->bc = NULL;
	h->fd = -1;
	h->pos = h->inflight = h->buf_len = 0;
	h->opened_ns = now;
	h->next_ns = now;
	if (h->kind == H_HELD_UNIX || h->kind == H_HELD_TCP || h->kind == H_BADSIG) {
		if (bconn_open(t, l->tcp_key, &h->bc) != CU_OK)
			return false;
		/* Spread the keepalives over the period. */
		h->next_ns = now + (int64_t)(randombytes_uniform(KEEPALIVE_MS) + 1) * 1000000;
	} else {
		h->fd = raw_connect(t);
		if (h->fd < 0)
			return false;
	}
	if (h->kind == H_SLOW_HS)
		h->msg_len = first_hs_message(l->tcp_key, o->tcp_t.server_pk, h->msg);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, hc_fd(h), &ev) != 0) {
		bconn_free(h->bc);
		if (h->fd >= 0)
			close(h->fd);
		h->bc = NULL;
		h->fd = -1;
		return false;
	}
	h->open = true;
	return true;
}

static void hc_close(struct loop *l, struct hconn *h)
{
	if (!h->open)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, hc_fd(h), NULL);
	bconn_free(h->bc);
	if (h->fd >= 0)
		close(h->fd);
	h->bc = NULL;
	h->fd = -1;
	h->open = false;
}

/* Sends one request of body case bc (log_key) on a held connection. */
static bool held_keepalive(struct loop *l, struct hconn *h)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__LogKeyRequest lk = CUSTODY__LOG_KEY_REQUEST__INIT;
	uint8_t *frame = NULL;
	size_t len;
	bool pending, ok;

	req.id = ++l->req_id;
	req.body_case = CUSTODY__REQUEST__BODY_LOG_KEY;
	req.log_key = &lk;
	ok = frame_pack(&req.base, FRAME_DEFAULT_MAX_BYTES, &frame, &len) == CU_OK &&
	     bconn_queue(h->bc, frame, len) == CU_OK && bconn_flush(h->bc, &pending) == CU_OK;
	free(frame);
	if (ok) {
		h->inflight++;
		l->res->keepalive_sent++;
	}
	return ok;
}

/* Keeps BADSIG_WINDOW broken submissions in flight. */
static bool badsig_send(struct loop *l, struct hconn *h)
{
	bool pending;

	while (h->inflight < BADSIG_WINDOW) {
		size_t i = l->next_bad++ % l->n_bad;

		if (bconn_queue(h->bc, l->bad[i], l->bad_lens[i]) != CU_OK)
			return false;
		h->inflight++;
		l->res->badsig_sent++;
	}
	return bconn_flush(h->bc, &pending) == CU_OK;
}

/* A frame of random bytes (well framed) on a raw Unix socket. */
static bool garbage_send(struct loop *l, struct hconn *h)
{
	uint8_t frame[FRAME_HEADER_BYTES + GARBAGE_MAX_BYTES];
	uint32_t len = 1 + randombytes_uniform(GARBAGE_MAX_BYTES);

	frame_encode_header(frame, len);
	randombytes_buf(frame + FRAME_HEADER_BYTES, len);
	if (h->kind == H_TCP_GARBAGE) {
		l->res->tcp_garbage_sent++;
		return raw_send(h, frame + 2, len + 2);
	}
	l->res->garbage_sent++;
	return raw_send(h, frame, FRAME_HEADER_BYTES + len);
}

/* Whatever slot h has to send at now; false when its connection is gone. */
static bool hc_tick(struct loop *l, struct hconn *h, int64_t now)
{
	static const uint8_t huge[FRAME_HEADER_BYTES] = {0x7f, 0xff, 0xff, 0xff};
	uint8_t hdr[FRAME_HEADER_BYTES], byte;

	if (h->kind == H_BADSIG)
		return badsig_send(l, h);
	if (now < h->next_ns)
		return true;
	switch (h->kind) {
	case H_HELD_UNIX:
	case H_HELD_TCP:
		h->next_ns = now + (int64_t)KEEPALIVE_MS * 1000000;
		return held_keepalive(l, h);
	case H_SLOW_HS:
		h->next_ns = now + (int64_t)SLOW_BYTE_MS * 1000000;
		/* Past the message: random bytes, so it can never finish. */
		byte = h->pos < h->msg_len ? h->msg[h->pos] : (uint8_t)randombytes_uniform(256);
		h->pos++;
		return raw_send(h, &byte, 1);
	case H_SLOW_FRAME:
		h->next_ns = now + (int64_t)SLOW_BYTE_MS * 1000000;
		frame_encode_header(hdr, SLOW_FRAME_BODY);
		byte = h->pos < FRAME_HEADER_BYTES ? hdr[h->pos] : 0x08;
		h->pos++;
		return h->pos > FRAME_HEADER_BYTES + SLOW_FRAME_BODY - 1 || raw_send(h, &byte, 1);
	case H_OVERSIZED:
		h->next_ns = INT64_MAX; /* one attempt per connection */
		l->res->oversized_sent++;
		return raw_send(h, huge, sizeof(huge));
	case H_GARBAGE:
	case H_TCP_GARBAGE:
		h->next_ns = now + (int64_t)FLOOD_PERIOD_MS * 1000000;
		return garbage_send(l, h);
	default:
		return true;
	}
}

/* Takes the answers of a held or bad-signature connection. */
static bool bconn_answers(struct loop *l, struct hconn *h)
{
	Custody__Response *r;
	int rc = bconn_read(h->bc), rc2;

	while ((rc2 = bconn_next(h->bc, &r)) == CU_OK && r != NULL) {
		bool err = r->body_case == CUSTODY__RESPONSE__BODY_ERROR;

		if (h->inflight > 0)
			h->inflight--;
		if (h->kind == H_BADSIG) {
			if (err && r->error->code == CUSTODY__ERROR_CODE__UNAUTHENTICATED)
				l->res->badsig_refused++;
			else
				l->res->badsig_other++;
		} else if (!err && r->body_case == CUSTODY__RESPONSE__BODY_LOG_KEY) {
			l->res->keepalive_ok++;
		}
		custody__response__free_unpacked(r, NULL);
	}
	return rc == CU_OK && rc2 == CU_OK;
}

/* Counts the whole error frames read on a raw socket. */
static void raw_frames(struct loop *l, struct hconn *h)
{
	for (;;) {
		uint32_t len;
		Custody__Response *r;

		if (h->buf_len < FRAME_HEADER_BYTES ||
		    frame_decode_header(h->buf, HC_BUF - FRAME_HEADER_BYTES, &len) != CU_OK ||
		    h->buf_len < FRAME_HEADER_BYTES + len)
			return;
		r = custody__response__unpack(NULL, len, h->buf + FRAME_HEADER_BYTES);
		if (r != NULL && r->body_case == CUSTODY__RESPONSE__BODY_ERROR) {
			if (h->kind == H_OVERSIZED &&
			    r->error->code == CUSTODY__ERROR_CODE__BAD_REQUEST)
				l->res->oversized_errors++;
			else if (h->kind == H_GARBAGE)
				l->res->garbage_errors++;
		}
		if (r != NULL)
			custody__response__free_unpacked(r, NULL);
		h->buf_len -= FRAME_HEADER_BYTES + len;
		memmove(h->buf, h->buf + FRAME_HEADER_BYTES + len, h->buf_len);
	}
}

/* Reads a raw socket; false at EOF or on an error (closed by the daemon). */
static bool raw_answers(struct loop *l, struct hconn *h)
{
	for (;;) {
		ssize_t n = recv(h->fd, h->buf + h->buf_len, HC_BUF - h->buf_len, 0);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;
		h->buf_len += (size_t)n;
		raw_frames(l, h);
		if (h->buf_len == HC_BUF)
			h->buf_len = 0; /* an answer too long to be an error: drop it */
	}
}

/* The daemon closed slot h: count it by kind, and open a new one. */
static void hc_closed(struct loop *l, struct hconn *h, int64_t now)
{
	double age_ms = (double)(now - h->opened_ns) / 1e6;
	struct hostile_result *r = l->res;

	hc_close(l, h);
	switch (h->kind) {
	case H_HELD_UNIX:
	case H_HELD_TCP:
		r->held_lost++;
		return; /* not reopened: a held connection must not be closed */
	case H_SLOW_HS:
		r->slow_hs_closed++;
		if (age_ms > r->slow_hs_age_ms)
			r->slow_hs_age_ms = age_ms;
		break;
	case H_SLOW_FRAME:
		r->slow_frame_closed++;
		if (age_ms > r->slow_frame_age_ms)
			r->slow_frame_age_ms = age_ms;
		break;
	case H_OVERSIZED:
		r->oversized_closed++;
		break;
	case H_GARBAGE:
		r->garbage_closed++;
		break;
	case H_TCP_GARBAGE:
		r->tcp_garbage_closed++;
		break;
	case H_BADSIG:
		r->badsig_other += h->inflight;
		break;
	}
	if (hc_open(l, h, now)) {
		if (h->kind == H_SLOW_HS)
			r->slow_hs_conns++;
		else if (h->kind == H_SLOW_FRAME)
			r->slow_frame_conns++;
	}
}

/* One pass: what is due is sent, what is readable read. */
static void loop_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[256];
	int64_t now = bench_now_ns();
	int n;

	/* The scan of every slot, every TICK_MS: the tool must not starve custodyd of CPU. */
	for (size_t i = 0; now >= l->next_scan_ns && i < l->n; i++) {
		struct hconn *h = &l->hc[i];

		if (h->open && !hc_tick(l, h, now))
			hc_closed(l, h, now);
	}
	if (now >= l->next_scan_ns)
		l->next_scan_ns = now + (int64_t)TICK_MS * 1000000;
	n = epoll_wait(l->epfd, evs, 256, timeout_ms);
	now = bench_now_ns();
	for (int k = 0; k < n; k++) {
		struct hconn *h = evs[k].data.ptr;
		bool alive;

		if (!h->open)
			continue;
		alive = h->bc != NULL ? bconn_answers(l, h) : raw_answers(l, h);
		if (!alive)
			hc_closed(l, h, now);
	}
}

/* Flooder connections of kind (a --flood-kinds word). */
static size_t flood_count(const struct hostile_opts *o, const char *kind)
{
	char list[128];
	char *save = NULL;

	if (o->flood_kinds == NULL)
		return o->flooders;
	snprintf(list, sizeof(list), "%s", o->flood_kinds);
	for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, kind) == 0)
			return o->flooders;
	}
	return 0;
}

/* Slots by kind, in this order: held unix, held tcp, then the hostile ones. */
static int loop_init(struct loop *l)
{
	const struct hostile_opts *o = l->o;
	const struct {
		enum hkind kind;
		size_t count;
	} plan[] = {
	    {H_HELD_UNIX, o->hold_unix},
	    {H_HELD_TCP, o->hold_tcp},
	    {H_SLOW_HS, o->slow_hs},
	    {H_SLOW_FRAME, o->slow_frame},
	    {H_OVERSIZED, flood_count(o, "oversized")},
	    {H_GARBAGE, flood_count(o, "garbage")},
	    {H_TCP_GARBAGE, flood_count(o, "tcp-garbage")},
	    {H_BADSIG, flood_count(o, "badsig")},
	};
	size_t k = 0;

	l->n = 0;
	for (size_t p = 0; p < sizeof(plan) / sizeof(plan[0]); p++)
		l->n += plan[p].count;
	l->hc = calloc(l->n, sizeof(*l->hc));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->hc == NULL || l->epfd < 0)
		return CU_ERR_NOMEM;
	for (size_t p = 0; p < sizeof(plan) / sizeof(plan[0]); p++) {
		for (size_t i = 0; i < plan[p].count; i++) {
			l->hc[k].kind = plan[p].kind;
			l->hc[k].fd = -1;
			k++;
		}
	}
	return CU_OK;
}

/* Opens the held connections, serving the ones already open meanwhile. */
static int ramp(struct loop *l)
{
	size_t held = l->o->hold_unix + l->o->hold_tcp;

	for (size_t i = 0; i < held; i++) {
		if (!hc_open(l, &l->hc[i], bench_now_ns())) {
			fprintf(stderr, "custody-hostile: held connection %zu of %zu: %s\n", i + 1,
				held, strerror(errno));
			return CU_ERR_IO;
		}
		if (i % 100 == 99)
			loop_once(l, 0);
	}
	for (size_t i = 0; i < held; i++) {
		if (l->hc[i].open)
			l->res->held_unix += l->hc[i].kind == H_HELD_UNIX;
		if (l->hc[i].open)
			l->res->held_tcp += l->hc[i].kind == H_HELD_TCP;
	}
	return CU_OK;
}

/* Opens every hostile slot. */
static void open_hostile(struct loop *l)
{
	size_t held = l->o->hold_unix + l->o->hold_tcp;
	int64_t now = bench_now_ns();

	for (size_t i = held; i < l->n; i++) {
		struct hconn *h = &l->hc[i];

		if (!hc_open(l, h, now))
			continue;
		l->res->slow_hs_conns += h->kind == H_SLOW_HS;
		l->res->slow_frame_conns += h->kind == H_SLOW_FRAME;
	}
}

/* Held connections open now. */
static size_t held_open(const struct loop *l)
{
	size_t n = 0;

	for (size_t i = 0; i < l->o->hold_unix + l->o->hold_tcp; i++)
		n += l->hc[i].open;
	return n;
}

/* The hostile phase: o->seconds of everything at once, sampling VmRSS. */
static void hostile_phase(struct loop *l, volatile int *phase_started)
{
	int64_t end = bench_now_ns() + (int64_t)(l->o->seconds * 1e9), next_rss = 0;
	struct hostile_result *r = l->res;

	r->held_min_open = held_open(l);
	open_hostile(l);
	*phase_started = 1;
	while (bench_now_ns() < end) {
		loop_once(l, 5);
		if (bench_now_ns() >= next_rss) {
			long kb = hostile_rss_kb(l->o->pid);
			size_t open = held_open(l);

			next_rss = bench_now_ns() + (int64_t)RSS_PERIOD_MS * 1000000;
			if (kb > r->rss_peak_kb)
				r->rss_peak_kb = kb;
			if (open < r->held_min_open)
				r->held_min_open = open;
			if (kb < 0) {
				fprintf(stderr, "custody-hostile: custodyd (pid %d) is gone\n",
					l->o->pid);
				break;
			}
		}
	}
}

/* The oldest slow connections still open at the end of the phase. */
static void slow_still_open(struct loop *l)
{
	int64_t now = bench_now_ns();

	for (size_t i = 0; l->hc != NULL && i < l->n; i++) {
		const struct hconn *h = &l->hc[i];
		double age_ms = (double)(now - h->opened_ns) / 1e6;

		if (h->open && h->kind == H_SLOW_HS && age_ms > l->res->slow_hs_open_ms)
			l->res->slow_hs_open_ms = age_ms;
		if (h->open && h->kind == H_SLOW_FRAME && age_ms > l->res->slow_frame_open_ms)
			l->res->slow_frame_open_ms = age_ms;
	}
}

int hostile_load_run(const struct hostile_opts *o, const struct cu_key *tcp_key,
		     uint8_t *const *bad_frames, const uint32_t *bad_lens, size_t n_bad,
		     volatile int *phase_started, struct hostile_result *res)
{
	struct loop l = {.o = o,
			 .tcp_key = tcp_key,
			 .bad = bad_frames,
			 .bad_lens = bad_lens,
			 .n_bad = n_bad,
			 .res = res,
			 .epfd = -1};
	int rc = n_bad > 0 ? loop_init(&l) : CU_ERR_INVALID;

	memset(res, 0, sizeof(*res));
	res->rss_start_kb = hostile_rss_kb(o->pid);
	if (rc == CU_OK)
		rc = ramp(&l);
	if (rc == CU_OK) {
		printf("held: %zu on the Unix socket, %zu TCP (Noise), daemon VmRSS %ld KiB\n",
		       res->held_unix, res->held_tcp, hostile_rss_kb(o->pid));
		fflush(stdout);
		hostile_phase(&l, phase_started);
	}
	*phase_started = 1;
	res->rss_end_kb = hostile_rss_kb(o->pid);
	res->daemon_alive = res->rss_end_kb >= 0;
	slow_still_open(&l);
	for (size_t i = 0; l.hc != NULL && i < l.n; i++)
		hc_close(&l, &l.hc[i]);
	free(l.hc);
	if (l.epfd >= 0)
		close(l.epfd);
	return rc;
}
