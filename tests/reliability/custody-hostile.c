/*
 * custody-hostile.c - the reliability suite's load tool (see hostile.h):
 * options, the set-up both modes share (a party, facilities and keys
 * registered with the admin key, workloads signed before the clock
 * starts), and the hostile mode's report. Figures go to stdout, with one
 * "hostile: key=value ..." line that tests/reliability/30-hostile.sh
 * checks; the thresholds live in the script.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "frame.h"
#include "hostile.h"

#define GOOD_EVENTS 4000
#define BAD_EVENTS  4000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: custody-hostile burst --unix PATH --admin-key FILE --out FILE\n"
		"                       [--connections C] [--events N] [--window W]\n"
		"       custody-hostile hostile --unix PATH --tcp HOST:PORT --server-key PUB\n"
		"                       --admin-key FILE --pid PID [--hold-unix N] [--hold-tcp N]\n"
		"                       [--slow-handshakes N] [--slow-frames N] [--flooders N]\n"
		"                       [--flood-kinds oversized,garbage,tcp-garbage,badsig]\n"
		"                       [--seconds S] [--good-interval-ms MS]\n"
		"\n"
		"burst: signed submissions over C (8) Unix connections, W (32) in flight each,\n"
		"  N (20000) in all; writes \"ID status\" per submission sent to --out.\n"
		"hostile: holds N Unix (4000) and N TCP (1000) connections, then for S (30) s\n"
		"  runs slowloris handshakes (200) and frames (200), and per flooder (4) one\n"
		"  oversized, one garbage, one TCP garbage and one bad-signature connection,\n"
		"  while a well-behaved TCP client sends a request every MS (20) ms.\n");
}

static const struct option long_opts[] = {
    {"unix", required_argument, NULL, 'u'},
    {"tcp", required_argument, NULL, 'T'},
    {"server-key", required_argument, NULL, 'k'},
    {"admin-key", required_argument, NULL, 'a'},
    {"out", required_argument, NULL, 'o'},
    {"connections", required_argument, NULL, 'c'},
    {"events", required_argument, NULL, 'n'},
    {"window", required_argument, NULL, 'w'},
    {"hold-unix", required_argument, NULL, 'U'},
    {"hold-tcp", required_argument, NULL, 'H'},
    {"slow-handshakes", required_argument, NULL, 's'},
    {"slow-frames", required_argument, NULL, 'f'},
    {"flooders", required_argument, NULL, 'F'},
    {"flood-kinds", required_argument, NULL, 'K'},
    {"seconds", required_argument, NULL, 'S'},
    {"pid", required_argument, NULL, 'p'},
    {"good-interval-ms", required_argument, NULL, 'g'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option into o; CU_ERR_INVALID for a bad value. */
static int parse_opt(struct hostile_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'u':
		o->unix_t.unix_socket = true;
		snprintf(o->unix_t.path, sizeof(o->unix_t.path), "%s", arg);
		return CU_OK;
	case 'T':
		o->have_tcp = true;
		return bench_target_parse_tcp(arg, &o->tcp_t);
	case 'k':
		return key_pub_load(arg, o->tcp_t.server_pk);
	case 'a':
		o->admin_key = arg;
		return CU_OK;
	case 'o':
		o->out_path = arg;
		return CU_OK;
	case 'K':
		o->flood_kinds = arg;
		return CU_OK;
	case 'S':
		o->seconds = strtod(arg, NULL);
		return o->seconds > 0 ? CU_OK : CU_ERR_INVALID;
	default:
		break;
	}
	long v = strtol(arg, NULL, 10);
	size_t *fields[] = {&o->conns,	 &o->events,	 &o->hold_unix, &o->hold_tcp,
			    &o->slow_hs, &o->slow_frame, &o->flooders};
	const char *names = "cnUHsfF";
	const char *at = strchr(names, c);

	if (v < 0)
		return CU_ERR_INVALID;
	if (at != NULL && *at != '\0') {
		*fields[at - names] = (size_t)v;
		return CU_OK;
	}
	if (c == 'w')
		o->window = (unsigned)v;
	else if (c == 'p')
		o->pid = (int)v;
	else if (c == 'g')
		o->good_interval_ms = (int)v;
	else
		return CU_ERR_INVALID;
	return CU_OK;
}

static int parse_args(int argc, char **argv, struct hostile_opts *o)
{
	int c;

	*o = (struct hostile_opts){.conns = 8,
				   .events = 20000,
				   .window = 32,
				   .hold_unix = 4000,
				   .hold_tcp = 1000,
				   .slow_hs = 200,
				   .slow_frame = 200,
				   .flooders = 4,
				   .seconds = 30,
				   .good_interval_ms = 20};
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == '?' || parse_opt(o, c, optarg) != CU_OK) {
			if (c != '?')
				fprintf(stderr, "custody-hostile: bad value for option %c\n", c);
			return CU_ERR_INVALID;
		}
	}
	if (!o->unix_t.unix_socket || o->admin_key == NULL || o->window == 0 || o->window > 64 ||
	    o->conns == 0)
		return CU_ERR_INVALID;
	snprintf(o->tag, sizeof(o->tag), "h%lx%04x", (long)time(NULL) & 0xffffff,
		 (unsigned)getpid() & 0xffff);
	return CU_OK;
}

/* Frames of wl's envelopes with one signature byte flipped; ids from 1. */
static int bad_frames(const struct bench_workload *wl, uint8_t ***frames, uint32_t **lens)
{
	*frames = calloc(wl->n, sizeof(**frames));
	*lens = calloc(wl->n, sizeof(**lens));
	if (*frames == NULL || *lens == NULL)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < wl->n; i++) {
		Custody__SignedEnvelope env = wl->ev[i].env;
		Custody__Request req = CUSTODY__REQUEST__INIT;
		uint8_t sig[64];
		size_t len;

		memcpy(sig, env.sig.data, sizeof(sig));
		sig[i % sizeof(sig)] ^= 0x01;
		env.sig.data = sig;
		req.id = i + 1;
		req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
		req.submit = &env;
		if (frame_pack(&req.base, FRAME_DEFAULT_MAX_BYTES, &(*frames)[i], &len) != CU_OK)
			return CU_ERR_NOMEM;
		(*lens)[i] = (uint32_t)len;
	}
	return CU_OK;
}

static void print_report(const struct hostile_result *r, const struct good_result *g)
{
	printf("well-behaved: %zu requests, %zu ok, %zu errors; latency p50 %.2f ms, p99 %.2f "
	       "ms, max %.2f ms (p99 of submissions %.2f ms, of where %.2f ms); connected after "
	       "%zu lost handshakes\n",
	       g->requests, g->ok, g->errors, g->p50_ms, g->p99_ms, g->max_ms, g->submit_p99_ms,
	       g->where_p99_ms, g->connect_retries);
	printf("custodyd VmRSS: %ld KiB at start, %ld KiB peak, %ld KiB at end\n", r->rss_start_kb,
	       r->rss_peak_kb, r->rss_end_kb);
	printf(
	    "hostile: held_unix=%zu held_tcp=%zu held_lost=%zu held_min_open=%zu "
	    "keepalive_sent=%zu keepalive_ok=%zu "
	    "slow_hs_conns=%zu slow_hs_closed=%zu slow_hs_age_ms=%.0f slow_hs_open_ms=%.0f "
	    "slow_frame_conns=%zu slow_frame_closed=%zu slow_frame_age_ms=%.0f "
	    "slow_frame_open_ms=%.0f "
	    "oversized_sent=%zu oversized_errors=%zu oversized_closed=%zu "
	    "garbage_sent=%zu garbage_errors=%zu garbage_closed=%zu "
	    "tcp_garbage_sent=%zu tcp_garbage_closed=%zu "
	    "badsig_sent=%zu badsig_refused=%zu badsig_other=%zu "
	    "good_requests=%zu good_ok=%zu good_errors=%zu good_p50_ms=%.2f good_p99_ms=%.2f "
	    "good_max_ms=%.2f good_connect_retries=%zu rss_start_kb=%ld rss_peak_kb=%ld rss_end_kb=%ld daemon_alive=%d\n",
	    r->held_unix, r->held_tcp, r->held_lost, r->held_min_open, r->keepalive_sent,
	    r->keepalive_ok, r->slow_hs_conns, r->slow_hs_closed, r->slow_hs_age_ms,
	    r->slow_hs_open_ms, r->slow_frame_conns, r->slow_frame_closed, r->slow_frame_age_ms,
	    r->slow_frame_open_ms, r->oversized_sent, r->oversized_errors, r->oversized_closed,
	    r->garbage_sent, r->garbage_errors, r->garbage_closed, r->tcp_garbage_sent,
	    r->tcp_garbage_closed, r->badsig_sent, r->badsig_refused, r->badsig_other, g->requests,
	    g->ok, g->errors, g->p50_ms, g->p99_ms, g->max_ms, g->connect_retries, r->rss_start_kb,
	    r->rss_peak_kb, r->rss_end_kb, r->daemon_alive);
}

/* Runs the hostile phase with the well-behaved client beside it. */
static int run_phase(const struct hostile_opts *o, struct bench_world *good,
		     struct bench_workload *good_wl, uint8_t **bad, uint32_t *bad_lens,
		     size_t n_bad)
{
	volatile int started = 0, stop = 0;
	struct good_client g = {.t = &o->tcp_t,
				.key = good->exporter[0],
				.wl = good_wl,
				.interval_ms = o->good_interval_ms,
				.started = &started,
				.stop = &stop};
	struct hostile_result r;
	pthread_t th;
	int rc;

	if (pthread_create(&th, NULL, good_client_run, &g) != 0)
		return CU_ERR_NOMEM;
	rc = hostile_load_run(o, good->operator_[0], bad, bad_lens, n_bad, &started, &r);
	stop = 1;
	pthread_join(th, NULL);
	print_report(&r, &g.res);
	return rc != CU_OK ? rc : g.rc;
}

static int hostile_mode(const struct hostile_opts *o)
{
	struct bench_world good, badw;
	struct bench_workload good_wl = {0}, bad_wl = {0};
	uint8_t **bad = NULL;
	uint32_t *bad_lens = NULL;
	char tag[24];
	int rc;

	snprintf(tag, sizeof(tag), "%.18s-bad", o->tag);
	rc = bench_world_init(&good, 1, o->tag);
	if (rc == CU_OK)
		rc = bench_world_init(&badw, o->flooders > 0 ? o->flooders : 1, tag);
	if (rc == CU_OK)
		rc = bench_setup_register(&o->unix_t, o->admin_key, &good);
	if (rc == CU_OK)
		rc = bench_setup_register(&o->unix_t, o->admin_key, &badw);
	if (rc == CU_OK)
		rc = bench_workload_build(&good, GOOD_EVENTS, 4, false, 1, 2, &good_wl);
	if (rc == CU_OK)
		rc = bench_workload_build(&badw, BAD_EVENTS, 4, false, 1, 2, &bad_wl);
	if (rc == CU_OK)
		rc = bad_frames(&bad_wl, &bad, &bad_lens);
	if (rc == CU_OK)
		rc = run_phase(o, &good, &good_wl, bad, bad_lens, bad_wl.n);
	if (rc != CU_OK)
		fprintf(stderr, "custody-hostile: %s\n", cu_strerror(rc));
	for (size_t i = 0; bad != NULL && i < bad_wl.n; i++)
		free(bad[i]);
	free(bad);
	free(bad_lens);
	bench_workload_free(&good_wl);
	bench_workload_free(&bad_wl);
	bench_world_clear(&good);
	bench_world_clear(&badw);
	return rc == CU_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct hostile_opts o;
	const char *mode = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		return 1;
	if (strcmp(mode, "burst") != 0 && strcmp(mode, "hostile") != 0) {
		usage(stderr);
		return 2;
	}
	if (parse_args(argc - 1, argv + 1, &o) != CU_OK) {
		usage(stderr);
		return 2;
	}
	if (strcmp(mode, "burst") == 0) {
		if (o.out_path == NULL) {
			usage(stderr);
			return 2;
		}
		return hostile_burst(&o);
	}
	if (!o.have_tcp || o.pid <= 0) {
		usage(stderr);
		return 2;
	}
	return hostile_mode(&o);
}
