/*
 * hostile.h - what the pieces of custody-hostile share (tests/reliability/).
 *
 * custody-hostile drives a running custodyd for the reliability suite with
 * the client code of tests/bench (bench.h): signed workloads, Noise and
 * Unix connections. Two modes:
 *   burst    (hostile_burst.c) signed submissions as fast as a window
 *            allows, recording for every submission sent what the daemon
 *            answered, for tests/integration/45-signals.sh (SIGTERM);
 *   hostile  (hostile_load.c, hostile_good.c) thousands of held
 *            connections, slowloris, oversized and garbage frames and
 *            invalid signatures while one well-behaved client measures
 *            its latency, for tests/reliability/30-hostile.sh.
 */
#ifndef CUSTODY_HOSTILE_H
#define CUSTODY_HOSTILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"

/* The options of both modes (custody-hostile --help). */
struct hostile_opts {
	struct bench_target unix_t; /* --unix */
	struct bench_target tcp_t;  /* --tcp + --server-key */
	bool have_tcp;
	const char *admin_key;
	const char *out_path; /* burst: one line per submission sent */
	char tag[24];
	size_t conns;		 /* burst: connections */
	size_t events;		 /* burst: events to submit */
	unsigned window;	 /* burst: in flight per connection */
	size_t hold_unix;	 /* hostile: idle connections held on the Unix socket */
	size_t hold_tcp;	 /* hostile: Noise connections held on TCP */
	size_t slow_hs;		 /* hostile: TCP clients dribbling a handshake */
	size_t slow_frame;	 /* hostile: Unix clients dribbling a frame */
	size_t flooders;	 /* hostile: connections each for oversized, garbage, bad-sig */
	const char *flood_kinds; /* hostile: which of them (comma-separated); NULL: all */
	double seconds;		 /* hostile: length of the hostile phase */
	int pid;		 /* hostile: custodyd, for VmRSS and liveness */
	int good_interval_ms;
};

/* Figures of the well-behaved client (hostile_good.c). */
struct good_result {
	size_t requests, ok, errors;
	size_t connect_retries; /* handshakes lost to the flood before one succeeded */
	double p50_ms, p99_ms, max_ms;
	double submit_p99_ms, where_p99_ms; /* the two kinds of request apart */
};

/* Figures of the hostile clients and the daemon (hostile_load.c). */
struct hostile_result {
	size_t held_unix, held_tcp;	      /* connections open at the end of the ramp */
	size_t held_lost;		      /* held ones the daemon closed */
	size_t held_min_open;		      /* fewest held open during the hostile phase */
	size_t keepalive_sent, keepalive_ok;  /* requests on held connections */
	size_t slow_hs_conns, slow_hs_closed; /* dribbled handshakes: opened, closed by daemon */
	size_t slow_frame_conns, slow_frame_closed;
	double slow_hs_age_ms, slow_frame_age_ms;   /* longest kept before the daemon closed it */
	double slow_hs_open_ms, slow_frame_open_ms; /* oldest still open at the end */
	size_t oversized_sent, oversized_errors, oversized_closed;
	size_t garbage_sent, garbage_errors, garbage_closed;
	size_t tcp_garbage_sent, tcp_garbage_closed;
	size_t badsig_sent, badsig_refused, badsig_other;
	long rss_start_kb, rss_peak_kb, rss_end_kb;
	bool daemon_alive;
};

/* burst mode: see hostile_burst.c. Returns the process exit status. */
int hostile_burst(const struct hostile_opts *o);

/*
 * The well-behaved client: once *started, one TCP Noise connection as key, alternating a
 * where request for a device it registered and the next signed event of
 * wl every interval_ms, until *stop; every answer must be OK.
 */
struct good_client {
	const struct bench_target *t;
	const struct cu_key *key;
	struct bench_workload *wl; /* one connection's events, in order */
	int interval_ms;
	volatile int *started; /* connects and starts once it is set */
	volatile int *stop;
	struct good_result res;
	int rc;
};

/* Thread body: runs c (a struct good_client *) and fills c->res and c->rc. */
void *good_client_run(void *c);

/*
 * hostile mode's hostile side: holds, floods and measures until
 * o->seconds have passed since the ramp ended (*phase_started is set to 1
 * then, so the well-behaved client starts with the hostility). bad_frames
 * are n_bad whole Submit frames with broken signatures.
 */
CU_MUST_USE int hostile_load_run(const struct hostile_opts *o, const struct cu_key *tcp_key,
				 uint8_t *const *bad_frames, const uint32_t *bad_lens, size_t n_bad,
				 volatile int *phase_started, struct hostile_result *res);

/* VmRSS of pid in KiB, or -1. */
long hostile_rss_kb(int pid);

#endif
