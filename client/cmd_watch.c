/*
 * cmd_watch.c - "watch": print alerts as the server raises them, forever.
 *
 * The server answers a WatchRequest with WatchResult, then pushes (id 0)
 * every stored alert with id > after_id that matches the filters, oldest
 * first, then each new one. So the whole of "no alert lost, none printed
 * twice" is one number: the id of the last alert printed. Every
 * (re)connection asks for the alerts after it, and a pushed alert whose
 * id is not above it is dropped (the server may resend what it pushed just
 * before a connection broke). With --state-file that number also survives
 * a restart of custodyctl: it is rewritten (temporary file, then rename)
 * after each alert is printed and flushed, so a crash in between prints
 * that one alert again rather than losing it.
 *
 * A lost connection (server restart, network, or the server dropping a
 * watcher that fell behind with an UNAVAILABLE error) is retried after
 * 100 ms, doubling up to 5 s, without end. Only the first connection must
 * succeed: an unreachable server or a refused WatchRequest at the start is
 * a plain error, so a typo does not loop forever.
 *
 * The idle wait for pushes has no timeout (--timeout bounds connecting
 * and the WatchResult); a closed connection ends it at once and TCP
 * keepalive notices a dead peer. SIGINT and SIGTERM end the watch with
 * status 0: they are blocked except inside the connection's waits (see
 * net_set_interrupt), so they never cut a line or a state file in half.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alert_fmt.h"
#include "cmd.h"
#include "enums.h"
#include "net.h"
#include "out.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS	 5000
/* A connection that lived this long was healthy: the backoff starts over. */
#define HEALTHY_MS 1000
/* TCP keepalive: probe an idle connection after this long. */
#define KEEPALIVE_IDLE_S 30
/* Longest state file we read: a number and a newline. */
#define STATE_MAX 32

struct watch_opts {
	Custody__WatchRequest req; /* filters; after_id is set per connection */
	const char *state_file;
	uint64_t count; /* stop after this many alerts; 0: never */
	bool after_given;
};

/* What to do after a step of a connection. */
enum step {
	GO_ON,	   /* keep reading */
	END_STOP,  /* done: --count reached or a stop signal */
	END_RETRY, /* lost or refused for now: reconnect */
	END_FATAL, /* reported; give up */
};

struct watch {
	struct ctl *ctl;
	struct watch_opts *o;
	struct net_conn *conn;
	uint64_t last_id; /* last alert printed, or where to start */
	uint64_t printed;
	int backoff_ms;
	bool started;		   /* a WatchResult has been received */
	bool lost;		   /* reconnecting after a loss */
	int rc;			   /* for END_FATAL */
	char problem[NET_ERR_MAX]; /* why the last connection ended */
	char told[NET_ERR_MAX];	   /* the problem last printed, not to repeat it */
};

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static const struct option watch_opts[] = {
    {"after", required_argument, NULL, 'a'},	{"country", required_argument, NULL, 'c'},
    {"facility", required_argument, NULL, 'f'}, {"rule", required_argument, NULL, 'r'},
    {"exporter", required_argument, NULL, 'e'}, {"state-file", required_argument, NULL, 's'},
    {"count", required_argument, NULL, 'n'},	{NULL, 0, NULL, 0},
};

/* Parses argv (borrowed) into o, whose strings then point into argv. */
static int parse_opts(struct ctl *ctl, int argc, char **argv, struct watch_opts *o)
{
	Custody__WatchRequest *r = &o->req;
	int c, rc = CU_OK;

	custody__watch_request__init(r);
	while (rc == CU_OK && (c = getopt_long(argc, argv, ":", watch_opts, NULL)) != -1) {
		if (c == 'a') {
			rc = ctl_parse_uint(ctl, "--after", optarg, 0, UINT64_MAX, &r->after_id);
			o->after_given = true;
		} else if (c == 'c') {
			r->country = ctl_upper(optarg);
		} else if (c == 'f') {
			r->facility = optarg;
		} else if (c == 'r') {
			r->rule = optarg;
		} else if (c == 'e') {
			r->exporter = optarg;
		} else if (c == 's') {
			o->state_file = optarg;
		} else if (c == 'n') {
			rc = ctl_parse_uint(ctl, "--count", optarg, 1, UINT64_MAX, &o->count);
		} else {
			rc = ctl_bad_option(ctl, watch_opts, argv, c);
		}
	}
	if (rc != CU_OK)
		return rc;
	if (optind < argc)
		return ctl_usage_error(ctl, "watch: unexpected argument \"%s\"", argv[optind]);
	if (o->state_file != NULL && o->state_file[0] == '\0')
		return ctl_usage_error(ctl, "watch: --state-file needs a path");
	return CU_OK;
}

/*
 * Reads the alert id stored in the state file path (borrowed) into *id.
 * A missing file leaves *id alone.
 */
static int state_load(struct ctl *ctl, const char *path, uint64_t *id)
{
	char text[STATE_MAX + 1];
	char *end = NULL;
	size_t len;
	FILE *f = fopen(path, "re");

	if (f == NULL && errno == ENOENT)
		return CU_OK;
	if (f == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "--state-file %s: %s", path,
				strerror(errno));
	len = fread(text, 1, STATE_MAX, f);
	text[len] = '\0';
	fclose(f);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		text[--len] = '\0';
	errno = 0;
	*id = strtoull(text, &end, 10);
	if (len == 0 || len == STATE_MAX || text[0] < '0' || text[0] > '9' || *end != '\0' ||
	    errno != 0)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "USAGE",
				"--state-file %s does not hold an alert id; fix or remove it",
				path);
	return CU_OK;
}

/*
 * Replaces the state file path (borrowed) with one holding id: written
 * and synced under a temporary name in the same directory, then renamed
 * over it, so a reader sees the old number or the new one, never half.
 */
static int state_save(struct ctl *ctl, const char *path, uint64_t id)
{
	char text[STATE_MAX];
	int len = snprintf(text, sizeof(text), "%" PRIu64 "\n", id);

	return ctl_write_file_atomic(ctl, "--state-file", path, text, (size_t)len, 0600);
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ends a connection as END_FATAL with rc (already reported). */
static enum step fatal(struct watch *w, int rc)
{
	w->rc = rc;
	return END_FATAL;
}

/*
 * Ends a connection to retry it, noting why (printf-style). Before the
 * watch has started there is nothing to resume: the reason is reported
 * as an I/O error (exit 3) instead. A stop signal makes it END_STOP.
 */
static enum step retry(struct watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum step retry(struct watch *w, const char *fmt, ...)
{
	va_list ap;

	if (stop_requested)
		return END_STOP;
	va_start(ap, fmt);
	vsnprintf(w->problem, sizeof(w->problem), fmt, ap);
	va_end(ap);
	if (!w->started)
		return fatal(w, ctl_fail(w->ctl, CTL_EXIT_IO, "IO", "%s", w->problem));
	return END_RETRY;
}

/*
 * Prints alert a (borrowed) unless it was printed already, then records
 * it. END_STOP once --count alerts are out.
 */
static enum step take_alert(struct watch *w, const Custody__Alert *a)
{
	char line[ALERT_FMT_LINE_MAX];
	struct out_json j;

	if (a == NULL || a->id <= w->last_id)
		return GO_ON;
	if (w->ctl->json) {
		out_json_init(&j, stdout);
		alert_fmt_json(&j, a);
	} else {
		alert_fmt_line(a, line, sizeof(line));
		printf("%s\n", line);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		return fatal(
		    w, ctl_fail(w->ctl, CTL_EXIT_IO, "IO", "error writing to standard output"));
	w->last_id = a->id;
	w->printed++;
	if (w->o->state_file != NULL && state_save(w->ctl, w->o->state_file, w->last_id) != CU_OK)
		return fatal(w, CU_ERR_IO);
	if (w->o->count != 0 && w->printed >= w->o->count)
		return END_STOP;
	return GO_ON;
}

/*
 * Handles an Error e (borrowed) from the server. UNAVAILABLE and INTERNAL
 * ("our side failed", among them a watcher that fell behind) are retried
 * once the watch has started; anything else is reported (exit 1).
 */
static enum step take_error(struct watch *w, const Custody__Error *e)
{
	if (w->started && (e->code == CUSTODY__ERROR_CODE__UNAVAILABLE ||
			   e->code == CUSTODY__ERROR_CODE__INTERNAL))
		return retry(w, "the server said %s: %s",
			     enum_name(&custody__error_code__descriptor, e->code), e->message);
	return fatal(w, ctl_server_error(w->ctl, e));
}

/* Notes on stderr that the watch runs again after a loss. */
static void tell_resumed(struct watch *w)
{
	if (w->lost)
		ctl_note("custodyctl: watch: reconnected to %s; resuming after alert %" PRIu64,
			 w->ctl->server, w->last_id);
	w->lost = false;
	w->told[0] = '\0';
}

/*
 * Handles one message r (borrowed); request_id is our WatchRequest's id,
 * *answered whether its WatchResult has come.
 */
static enum step take_message(struct watch *w, const Custody__Response *r, uint64_t request_id,
			      bool *answered)
{
	if (r->id != 0 && r->id != request_id)
		return GO_ON; /* not ours */
	if (r->body_case == CUSTODY__RESPONSE__BODY_ERROR && r->error != NULL)
		return take_error(w, r->error);
	if (r->id == 0 && r->body_case == CUSTODY__RESPONSE__BODY_ALERT)
		return take_alert(w, r->alert);
	if (r->id == 0)
		return GO_ON; /* a push we do not know */
	if (r->body_case != CUSTODY__RESPONSE__BODY_WATCH || *answered)
		return fatal(w, ctl_fail(w->ctl, CTL_EXIT_IO, "PROTOCOL",
					 "%s: unexpected answer to watch (body %d)", w->ctl->server,
					 (int)r->body_case));
	*answered = true;
	w->started = true;
	tell_resumed(w);
	return GO_ON;
}

/* Connects and sends the WatchRequest for the alerts after w->last_id. */
static enum step subscribe(struct watch *w, uint64_t *request_id)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	struct net_identity id;
	uint8_t server_pk[KEY_PUBLIC_BYTES];
	char err[NET_ERR_MAX];
	int rc = ctl_identity(w->ctl, &id, server_pk);

	if (rc != CU_OK)
		return fatal(w, rc);
	rc = net_open(w->ctl->server, w->ctl->timeout_ms, &id, &w->conn, err, sizeof(err));
	if (rc == CU_ERR_INVALID)
		return fatal(w, ctl_usage_error(w->ctl, "--server: %s", err));
	if (rc != CU_OK)
		return retry(w, "%s", err);
	net_keepalive(w->conn, KEEPALIVE_IDLE_S);
	w->o->req.after_id = w->last_id;
	req.body_case = CUSTODY__REQUEST__BODY_WATCH;
	req.watch = &w->o->req;
	if (net_send(w->conn, &req, request_id) != CU_OK)
		return retry(w, "%s: %s", w->ctl->server, net_error(w->conn));
	return GO_ON;
}

/*
 * One connection: connect, subscribe, then print pushed alerts until it
 * ends. *healthy tells whether it got going (answered, and printed an
 * alert or lived HEALTHY_MS), which starts the backoff over.
 */
static enum step session(struct watch *w, bool *healthy)
{
	int64_t began_ms = monotonic_ms();
	uint64_t printed = w->printed, request_id = 0;
	bool answered = false;
	enum step next = subscribe(w, &request_id);

	while (next == GO_ON) {
		Custody__Response *r = NULL;

		/* Only the wait for pushes is unbounded, not the WatchResult. */
		if (net_recv_any(w->conn, answered, &r) != CU_OK) {
			next = retry(w, "%s: %s", w->ctl->server, net_error(w->conn));
			break;
		}
		next = take_message(w, r, request_id, &answered);
		custody__response__free_unpacked(r, NULL);
	}
	*healthy = answered && (w->printed > printed || monotonic_ms() - began_ms >= HEALTHY_MS);
	net_close(w->conn);
	w->conn = NULL;
	return stop_requested && next != END_FATAL ? END_STOP : next;
}

/* Notes on stderr why the watch is reconnecting, once per reason. */
static void tell_problem(struct watch *w)
{
	if (!w->lost)
		ctl_note("custodyctl: watch: connection lost (%s); reconnecting", w->problem);
	else if (strcmp(w->problem, w->told) != 0)
		ctl_note("custodyctl: watch: still reconnecting: %s", w->problem);
	w->lost = true;
	memcpy(w->told, w->problem, sizeof(w->told));
	w->problem[0] = '\0';
}

/* Runs connections until --count, a stop signal or a fatal error. */
static int run(struct watch *w)
{
	w->backoff_ms = BACKOFF_FIRST_MS;
	for (;;) {
		bool healthy = false;
		enum step end = session(w, &healthy);

		if (end == END_STOP)
			return CU_OK;
		if (end == END_FATAL)
			return w->rc;
		if (healthy)
			w->backoff_ms = BACKOFF_FIRST_MS;
		tell_problem(w);
		if (net_sleep_ms(w->backoff_ms) != CU_OK)
			return CU_OK; /* stopped while waiting */
		w->backoff_ms =
		    w->backoff_ms * 2 < BACKOFF_MAX_MS ? w->backoff_ms * 2 : BACKOFF_MAX_MS;
	}
}

/*
 * Catches SIGINT and SIGTERM into stop_requested and blocks them except
 * inside the connection's waits; *old gets the mask to restore.
 */
static void catch_stop_signals(sigset_t *old)
{
	struct sigaction sa;
	sigset_t stop, wait_mask;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, old);
	wait_mask = *old;
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	net_set_interrupt(&stop_requested, &wait_mask);
}

int cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	struct watch_opts o = {0};
	struct watch w = {.ctl = ctl, .o = &o};
	sigset_t old;
	int rc = parse_opts(ctl, argc, argv, &o);

	if (rc != CU_OK)
		return rc;
	w.last_id = o.req.after_id;
	if (o.state_file != NULL && !o.after_given)
		rc = state_load(ctl, o.state_file, &w.last_id);
	/* Writing the starting point now finds an unwritable path before any alert. */
	if (rc == CU_OK && o.state_file != NULL)
		rc = state_save(ctl, o.state_file, w.last_id);
	if (rc != CU_OK)
		return rc;
	catch_stop_signals(&old);
	rc = run(&w);
	net_set_interrupt(NULL, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
