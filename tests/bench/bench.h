/*
 * bench.h - what the pieces of custody-bench share: the target daemon, the
 * client connections (bench_client.c), the pre-signed workload
 * (bench_events.c), the load loop (bench_load.c) and the machine limits
 * measured beside it (bench_limits.c).
 *
 * The workload is built and signed before the clock starts. Event rank r
 * (0..n-1) belongs to connection r % C and is that connection's
 * (r / C)-th event; its request id is r + 1, so an answer finds its event
 * without a table.
 */
#ifndef CUSTODY_BENCH_H
#define CUSTODY_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "key.h"

/* Where custodyd listens: TCP inside the Noise channel, or the Unix socket. */
struct bench_target {
	bool unix_socket;
	char path[108];			     /* unix_socket */
	char host[64];			     /* TCP: numeric IPv4 */
	uint16_t port;			     /* TCP */
	uint8_t server_pk[KEY_PUBLIC_BYTES]; /* TCP: the pinned server key */
};

/* Parses HOST:PORT (numeric IPv4) into t's host and port; CU_ERR_INVALID if malformed. */
CU_MUST_USE int bench_target_parse_tcp(const char *s, struct bench_target *t);

/* One client connection (bench_client.c); its fields are the client's own. */
struct bench_conn;

/*
 * Connects to t and, on TCP, runs the Noise handshake as key (borrowed);
 * the socket is non-blocking afterwards. *out is the caller's (bconn_free).
 */
CU_MUST_USE int bconn_open(const struct bench_target *t, const struct cu_key *key,
			   struct bench_conn **out);

/* Closes and frees; accepts NULL. */
void bconn_free(struct bench_conn *c);

/* The socket, for epoll. */
int bconn_fd(const struct bench_conn *c);

/* Queues len bytes of frames (sealed on TCP) for bconn_flush. */
CU_MUST_USE int bconn_queue(struct bench_conn *c, const uint8_t *frames, size_t len);

/* Writes queued bytes until done or EAGAIN; *pending tells whether some are left. */
CU_MUST_USE int bconn_flush(struct bench_conn *c, bool *pending);

/* Reads what the socket has (decrypting on TCP); CU_ERR_IO on EOF or error. */
CU_MUST_USE int bconn_read(struct bench_conn *c);

/*
 * The next whole response frame read so far: CU_OK with *resp (the
 * caller's, custody__response__free_unpacked) or NULL when none is whole.
 */
CU_MUST_USE int bconn_next(struct bench_conn *c, Custody__Response **resp);

/* Sends req (with its id) and waits up to timeout_ms for the answer with that id. */
CU_MUST_USE int bconn_call(struct bench_conn *c, const Custody__Request *req, int timeout_ms,
			   Custody__Response **resp);

/* One pre-signed event of the workload. */
struct bench_event {
	Custody__SignedEnvelope env; /* sealed: body, signer, sig */
	uint8_t *frame;		     /* the whole Request frame, id = rank + 1 */
	uint32_t frame_len;
	uint8_t type;	      /* Custody__EventType */
	const char *facility; /* borrowed from the workload */
	int64_t occurred_ms;
	int64_t sched_ns; /* when it is due (rate mode) or was sent */
	int64_t lat_ns;	  /* acknowledgement latency, -1 until answered */
};

/* The parties, facilities and keys the workload needs (registered by main). */
struct bench_world {
	char tag[24];		   /* unique per run: names never clash with earlier runs */
	char party[48];		   /* exporter and operator of both facilities */
	char fac_us[48];	   /* where devices are registered and packed */
	char fac_jp[48];	   /* where they are shipped, received, installed */
	size_t n_conns;		   /* C */
	struct cu_key **exporter;  /* one per connection */
	struct cu_key **operator_; /* one per connection */
};

/* The workload: n = C * per_conn events, indexed by rank. */
struct bench_workload {
	struct bench_event *ev;
	size_t n;
	size_t per_conn;
	unsigned attests; /* ATTESTs per server */
	bool single;	  /* lone chips: every event names one device, holding nothing */
	size_t n_servers, n_devices;
	size_t by_type[16];
};

/* Fills w with n_conns fresh exporter and operator keys and names from tag. */
CU_MUST_USE int bench_world_init(struct bench_world *w, size_t n_conns, const char *tag);
void bench_world_clear(struct bench_world *w);

/*
 * Builds and signs at least n_events events (rounded up to a multiple of
 * C) on threads threads: per connection, servers of 8 chips each go
 * REGISTER (chips), REGISTER (server), PACK, SHIP, RECEIVE, INSTALL, then
 * attests x ATTEST, in waves of wave servers (1..64: the window) so that
 * an event's predecessor is a wave earlier on its connection. With single,
 * each unit is one lone chip instead (REGISTER of it alone, SHIP, RECEIVE,
 * INSTALL, ATTESTs): every event names exactly one device and acts on
 * nothing inside it (issue 6's "single-device signed events").
 */
CU_MUST_USE int bench_workload_build(const struct bench_world *w, size_t n_events, unsigned attests,
				     bool single, unsigned wave, unsigned threads,
				     struct bench_workload *out);
void bench_workload_free(struct bench_workload *wl);

/* Offered load and pipelining of a run. */
struct bench_load_opts {
	double rate_per_s; /* 0: as fast as the window allows */
	unsigned window;   /* requests in flight per connection */
	int stall_timeout_ms;
	unsigned max_errors; /* stop after this many failed answers */
};

/* What a run measured. */
struct bench_load_result {
	double wall_s; /* first send to last answer */
	size_t answered, ok, alerts, errors;
	double events_per_s;
	double p50_ms, p99_ms, max_ms;
};

/*
 * Drives the workload over conns (one per connection, n_conns = C) and
 * fills res. CU_ERR_INVALID when an answer was not a new stored event
 * (the first few are printed), CU_ERR_IO on a connection failure,
 * CU_ERR_TIMEOUT when nothing was answered for stall_timeout_ms.
 */
CU_MUST_USE int bench_load_run(struct bench_conn **conns, size_t n_conns, struct bench_workload *wl,
			       const struct bench_load_opts *o, struct bench_load_result *res);

/* The machine's limits, measured on the workload's own events. */
struct bench_limits {
	unsigned verify_threads;
	double verify_per_s;
	size_t copy_batch;
	double copy_rows_per_s;
	double naive1_per_s, naive4_per_s;
};

/* Ed25519 verifications/s of the workload's envelopes on threads threads for seconds. */
CU_MUST_USE int bench_limit_verify(const struct bench_workload *wl, unsigned threads,
				   double seconds, double *per_s);

/*
 * COPY rows/s of the events table's row shape into a scratch table
 * bench_copy (LIKE events INCLUDING INDEXES), batch rows per COPY +
 * COMMIT, in the database of conninfo; dropped afterwards.
 */
CU_MUST_USE int bench_limit_copy(const char *conninfo, const struct bench_workload *wl,
				 const char *actor, size_t batch, double *rows_per_s);

/*
 * The naive baseline: one INSERT + COMMIT per event into bench_naive
 * (LIKE events INCLUDING INDEXES) over conns connections for seconds.
 */
CU_MUST_USE int bench_limit_naive(const char *conninfo, const struct bench_workload *wl,
				  const char *actor, unsigned conns, double seconds, double *per_s);

/* Registers w's party, facilities and keys over one connection as the admin key. */
CU_MUST_USE int bench_setup_register(const struct bench_target *t, const char *admin_key_path,
				     const struct bench_world *w);

/* Opens w->n_conns connections into conns, connection i as w->exporter[i]. */
CU_MUST_USE int bench_connect_all(const struct bench_target *t, const struct bench_world *w,
				  struct bench_conn **conns);

/* CPU seconds used so far, read from /proc (bench_report.c); -1 when unknown. */
struct bench_cpu {
	double daemon_s;  /* custodyd (--pid) */
	double pg_s;	  /* the postmaster (--pg-pid) and its children */
	double self_s;	  /* custody-bench itself */
	double machine_s; /* all cores, busy time (not idle, not iowait) */
	double iowait_s;
};

void bench_cpu_sample(int daemon_pid, int pg_pid, struct bench_cpu *out);

/* Peak resident memory (VmHWM) of pid in KiB, or -1. */
long bench_peak_rss_kb(int pid);

/* What the report prints beside the load's result. */
struct bench_report {
	const struct bench_workload *wl;
	const struct bench_load_opts *load;
	size_t n_conns;
	const struct bench_load_result *res;
	struct bench_cpu cpu; /* over the load phase */
	long daemon_rss_kb;
	const struct bench_limits *lim; /* NULL: not measured */
};

/* Prints the machine, the result, the limits and the ratios, and one key=value line. */
void bench_report_print(const struct bench_report *r);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

#endif
