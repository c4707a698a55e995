/*
 * http.c - the observability port (see http.h).
 *
 * One generic callback routes the three paths; everything else is 404,
 * and a method other than GET or HEAD on a known path is 405 with an Allow
 * header. evhttp itself drops HEAD bodies, enforces the header and body
 * limits (413/400) and closes connections idle past the timeout. The
 * gauges are read from their owners (connections, database lanes, verify
 * pool, sequencer) at scrape time, on the loop thread that owns them.
 */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "conn.h"
#include "db.h"
#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "sequencer.h"

#define HTTP_MAX_HEADERS_BYTES 8192
#define HTTP_MAX_BODY_BYTES    1024
#define HTTP_TIMEOUT_S	       10

static struct {
	struct evhttp *http;
	const struct db *db;
	bool shutting_down;
} h;

/* Parses listen into sa; with allow_remote not "yes", refuses non-loopback addresses. */
static int parse_listen(const char *listen, const char *allow_remote, struct sockaddr_storage *sa,
			char *err, size_t err_size)
{
	int len = (int)sizeof(*sa);
	bool remote_ok, loopback = false;

	if (strcmp(allow_remote, "yes") != 0 && strcmp(allow_remote, "no") != 0)
		return cu_fail(err, err_size, "http_allow_remote: \"%.32s\" is not yes or no",
			       allow_remote);
	remote_ok = strcmp(allow_remote, "yes") == 0;
	memset(sa, 0, sizeof(*sa));
	if (evutil_parse_sockaddr_port(listen, (struct sockaddr *)sa, &len) != 0 ||
	    (sa->ss_family == AF_INET && ((struct sockaddr_in *)sa)->sin_port == 0) ||
	    (sa->ss_family == AF_INET6 && ((struct sockaddr_in6 *)sa)->sin6_port == 0))
		return cu_fail(err, err_size,
			       "http_listen: \"%.64s\" is not ADDRESS:PORT or [IPv6]:PORT with a "
			       "numeric address and a port from 1",
			       listen);
	if (sa->ss_family == AF_INET)
		loopback = ntohl(((struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24 == 127;
	else
		loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)sa)->sin6_addr);
	if (!loopback && !remote_ok)
		return cu_fail(err, err_size,
			       "http_listen: %.64s is not a loopback address; the metrics port "
			       "has no authentication, so serving it beyond this host needs "
			       "http_allow_remote = yes",
			       listen);
	return CU_OK;
}

int http_check(const char *listen, const char *allow_remote, char *err, size_t err_size)
{
	struct sockaddr_storage sa;

	if (listen[0] == '\0')
		return strcmp(allow_remote, "yes") == 0 || strcmp(allow_remote, "no") == 0
			   ? CU_OK
			   : cu_fail(err, err_size, "http_allow_remote: \"%.32s\" is not yes or no",
				     allow_remote);
	return parse_listen(listen, allow_remote, &sa, err, err_size);
}

/* NULL when ready, else why not (static text). */
static const char *not_ready(const struct sequencer_status *st)
{
	if (h.shutting_down)
		return "shutting down";
	if (!db_lane_up(h.db, DB_LANE_WRITE))
		return "database unreachable (write connection down)";
	if (!db_lane_up(h.db, DB_LANE_READ))
		return "database unreachable (no query connection)";
	if (!st->writing)
		return "sequencer not writing";
	if (!st->log_loaded)
		return "log not loaded";
	return NULL;
}

static void fill_gauges(struct metrics_gauges *g, const struct sequencer_status *st)
{
	static const char *const lane_names[2] = {"write", "read"};

	memset(g, 0, sizeof(*g));
	h_submit_queue(&g->verify_queue, &g->verify_threads);
	g->conns_tcp = conn_count_tcp();
	g->conns_unix = conn_count() - g->conns_tcp;
	for (int i = 0; i < 2; i++) {
		struct metrics_lane *l = &g->lanes[i];

		l->name = lane_names[i];
		l->up = db_lane_up(h.db, (enum db_lane)i);
		db_lane_stats(h.db, (enum db_lane)i, &l->connections, &l->connections_up,
			      &l->queued_jobs);
	}
	g->seq_states = st->states;
	g->n_seq_states = st->n_states;
	g->seq_state = st->state;
	g->seq_pending = st->pending;
	g->held_bytes = conn_held_bytes();
	g->log_loaded = st->log_loaded;
	g->log_size = st->log_size;
	g->last_checkpoint_ms = st->last_checkpoint_ms;
	h_proof_cache_stats(&g->tile_cache_tiles, &g->tile_cache_hits, &g->tile_cache_misses);
	g->ready = not_ready(st) == NULL;
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *type,
		       const char *text, size_t len)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(hdr, "Content-Type", type);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	if (body == NULL || evbuffer_add(body, text, len) != 0) {
		if (body != NULL)
			evbuffer_free(body);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_send_reply(req, code, reason, body);
	evbuffer_free(body);
}

static void serve_metrics(struct evhttp_request *req)
{
	struct sequencer_status st;
	struct metrics_gauges g;
	char *text = NULL;
	size_t len = 0;

	sequencer_status(&st);
	fill_gauges(&g, &st);
	if (metrics_render(&g, &text, &len) != CU_OK) {
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	reply_text(req, HTTP_OK, "OK", "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

static void serve_readyz(struct evhttp_request *req)
{
	struct sequencer_status st;
	const char *why;
	char text[128];

	sequencer_status(&st);
	why = not_ready(&st);
	snprintf(text, sizeof(text), "%s\n", why != NULL ? why : "ready");
	reply_text(req, why != NULL ? HTTP_SERVUNAVAIL : HTTP_OK,
		   why != NULL ? "Service Unavailable" : "OK", "text/plain; charset=utf-8", text,
		   strlen(text));
}

static void on_request(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	size_t path_len = strcspn(uri, "?#");
	int route = -1;
	static const char *const paths[] = {"/metrics", "/healthz", "/readyz"};

	(void)arg;
	for (int i = 0; i < 3; i++) {
		if (strlen(paths[i]) == path_len && strncmp(uri, paths[i], path_len) == 0)
			route = i;
	}
	if (route < 0) {
		static const char text[] = "not found: try /metrics, /healthz or /readyz\n";

		reply_text(req, HTTP_NOTFOUND, "Not Found", "text/plain; charset=utf-8", text,
			   sizeof(text) - 1);
		return;
	}
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		static const char text[] = "only GET and HEAD\n";

		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		reply_text(req, 405, "Method Not Allowed", "text/plain; charset=utf-8", text,
			   sizeof(text) - 1);
		return;
	}
	if (route == 0)
		serve_metrics(req);
	else if (route == 1)
		reply_text(req, HTTP_OK, "OK", "text/plain; charset=utf-8", "ok\n", 3);
	else
		serve_readyz(req);
}

int http_start(struct event_base *base, const struct db *db, const char *listen,
	       const char *allow_remote, char *err, size_t err_size)
{
	struct sockaddr_storage sa;
	char host[INET6_ADDRSTRLEN] = "";
	uint16_t port;
	int rc;

	if (listen[0] == '\0')
		return http_check(listen, allow_remote, err, err_size);
	rc = parse_listen(listen, allow_remote, &sa, err, err_size);
	if (rc != CU_OK)
		return rc;
	if (sa.ss_family == AF_INET) {
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host,
				 sizeof(host));
		port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
	} else {
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host,
				 sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
	}
	h.db = db;
	h.http = evhttp_new(base);
	if (h.http == NULL)
		return cu_fail(err, err_size, "http_listen: out of memory");
	evhttp_set_max_headers_size(h.http, HTTP_MAX_HEADERS_BYTES);
	evhttp_set_max_body_size(h.http, HTTP_MAX_BODY_BYTES);
	evhttp_set_timeout(h.http, HTTP_TIMEOUT_S);
	/* Every method reaches on_request, which answers 405 rather than evhttp's 501. */
	evhttp_set_allowed_methods(h.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
					       EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
					       EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
					       EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h.http, on_request, NULL);
	if (evhttp_bind_socket_with_handle(h.http, host, port) == NULL) {
		http_stop();
		snprintf(err, err_size, "http_listen: cannot listen on %s: %s", listen,
			 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return CU_ERR_IO;
	}
	log_info("http: /metrics, /healthz and /readyz on %s", listen);
	return CU_OK;
}

void http_set_shutting_down(void)
{
	h.shutting_down = true;
}

void http_stop(void)
{
	if (h.http != NULL)
		evhttp_free(h.http);
	h.http = NULL;
}
