/*
 * custody-bench.c - the throughput and latency benchmark of custodyd
 * (docs/benchmarks.md). It targets a running custodyd, registers its own
 * party, facilities and keys with the admin key, builds and signs the
 * whole workload before the clock starts, drives C connections with a
 * window of submissions each (bench_load.c), then measures the machine's
 * limits in the same run (bench_limits.c) and prints every result beside
 * its limit, as a ratio.
 *
 * tests/bench/run starts a throwaway PostgreSQL and custodyd and calls it;
 * it is built with the rest but not run by tests/run.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"
#include "codec.h"
#include "envelope.h"

struct options {
	struct bench_target target;
	const char *admin_key, *pg, *tag;
	size_t conns, events;
	unsigned attests, verify_threads, copy_batch;
	int pid, pg_pid;
	double verify_s, naive_s;
	struct bench_load_opts load;
	bool skip_limits, single;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: custody-bench --admin-key FILE (--server HOST:PORT --server-key PUB | --unix PATH)\n"
	    "                     [--connections C] [--events N] [--rate R] [--window W]\n"
	    "                     [--attests A] [--pid PID] [--pg-pid PID] [--pg CONNSTR]\n"
	    "                     [--copy-batch B] [--verify-threads T] [--tag TAG] [--no-limits]\n"
	    "                     [--single]\n"
	    "\n"
	    "  --connections C   concurrent connections (default 64), each its own keys and devices\n"
	    "  --events N        signed events to submit (default 200000; rounded up to a multiple of C)\n"
	    "  --rate R          offered load in events/s (default 0: as fast as answers come)\n"
	    "  --window W        submissions in flight per connection (default 32, at most 64)\n"
	    "  --attests A       ATTESTs per server after INSTALL (default 4, at most 10)\n"
	    "  --single          lone chips instead of servers of 8: every event names one\n"
	    "                    device and acts on nothing inside it (REGISTER, SHIP,\n"
	    "                    RECEIVE, INSTALL, ATTEST)\n"
	    "  --pid PID         custodyd's pid: its CPU time over the run and peak RSS\n"
	    "  --pg-pid PID      the postmaster's pid: CPU time of it and its children\n"
	    "  --pg CONNSTR      libpq connection string of custodyd's database, as a role that\n"
	    "                    may create tables, for the COPY and naive-INSERT limits\n"
	    "  --copy-batch B    rows per COPY + COMMIT (default 512, custodyd's batch_max_events)\n"
	    "  --verify-threads T  threads of the verify limit and of signing (default: nproc)\n"
	    "  --unix PATH       the Unix socket instead of TCP inside the Noise channel\n"
	    "  --tag TAG         names of the run's party, facilities, serials (default: unique)\n"
	    "  --no-limits       skip the limits (verify, COPY, naive INSERT)\n"
	    "Exits 0 when every event was stored, 1 when any was not (the first few are\n"
	    "printed), 2 on a usage error.\n");
}

static const struct option long_opts[] = {
    {"server", required_argument, NULL, 's'},
    {"server-key", required_argument, NULL, 'k'},
    {"unix", required_argument, NULL, 'u'},
    {"admin-key", required_argument, NULL, 'a'},
    {"connections", required_argument, NULL, 'c'},
    {"events", required_argument, NULL, 'n'},
    {"rate", required_argument, NULL, 'r'},
    {"window", required_argument, NULL, 'w'},
    {"attests", required_argument, NULL, 'A'},
    {"pid", required_argument, NULL, 'p'},
    {"pg-pid", required_argument, NULL, 'P'},
    {"pg", required_argument, NULL, 'g'},
    {"copy-batch", required_argument, NULL, 'b'},
    {"verify-threads", required_argument, NULL, 'T'},
    {"tag", required_argument, NULL, 't'},
    {"no-limits", no_argument, NULL, 'L'},
    {"single", no_argument, NULL, '1'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option into o; CU_ERR_INVALID for a bad value. */
static int parse_one(int opt, const char *arg, struct options *o)
{
	switch (opt) {
	case 's':
		return bench_target_parse_tcp(arg, &o->target);
	case 'k':
		return key_pub_load(arg, o->target.server_pk);
	case 'u':
		o->target.unix_socket = true;
		snprintf(o->target.path, sizeof(o->target.path), "%s", arg);
		return CU_OK;
	case 'a':
		o->admin_key = arg;
		return CU_OK;
	case 'c':
		o->conns = strtoul(arg, NULL, 10);
		return o->conns >= 1 && o->conns <= 1024 ? CU_OK : CU_ERR_INVALID;
	case 'n':
		o->events = strtoul(arg, NULL, 10);
		return o->events >= 1 ? CU_OK : CU_ERR_INVALID;
	case 'r':
		o->load.rate_per_s = strtod(arg, NULL);
		return o->load.rate_per_s >= 0 ? CU_OK : CU_ERR_INVALID;
	case 'w':
		o->load.window = (unsigned)strtoul(arg, NULL, 10);
		return o->load.window >= 1 && o->load.window <= 64 ? CU_OK : CU_ERR_INVALID;
	case 'A':
		o->attests = (unsigned)strtoul(arg, NULL, 10);
		return o->attests <= 10 ? CU_OK : CU_ERR_INVALID;
	case 'p':
		o->pid = atoi(arg);
		return CU_OK;
	case 'P':
		o->pg_pid = atoi(arg);
		return CU_OK;
	case 'g':
		o->pg = arg;
		return CU_OK;
	case 'b':
		o->copy_batch = (unsigned)strtoul(arg, NULL, 10);
		return o->copy_batch >= 1 ? CU_OK : CU_ERR_INVALID;
	case 'T':
		o->verify_threads = (unsigned)strtoul(arg, NULL, 10);
		return o->verify_threads >= 1 ? CU_OK : CU_ERR_INVALID;
	case 't':
		o->tag = arg;
		return CU_OK;
	case 'L':
		o->skip_limits = true;
		return CU_OK;
	case '1':
		o->single = true;
		return CU_OK;
	default:
		return CU_ERR_INVALID;
	}
}

static int parse_args(int argc, char **argv, struct options *o)
{
	bool have_server = false, have_key = false;
	int opt, idx = 0;

	*o = (struct options){.conns = 64,
			      .events = 200000,
			      .attests = 4,
			      .copy_batch = 512,
			      .verify_s = 2,
			      .naive_s = 2};
	o->load = (struct bench_load_opts){0, 32, 60000, 20};
	o->verify_threads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	while ((opt = getopt_long(argc, argv, "", long_opts, &idx)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			exit(0);
		}
		if (parse_one(opt, optarg, o) != CU_OK) {
			fprintf(stderr, "custody-bench: bad value for --%s: %s\n",
				long_opts[idx].name, optarg ? optarg : "");
			return CU_ERR_INVALID;
		}
		have_server |= opt == 's' || opt == 'u';
		have_key |= opt == 'k' || opt == 'u';
	}
	if (optind != argc || o->admin_key == NULL || !have_server || !have_key) {
		usage(stderr);
		return CU_ERR_INVALID;
	}
	return CU_OK;
}

/* A tag unique enough that names never clash with an earlier run's. */
static void make_tag(const struct options *o, char *out, size_t cap)
{
	if (o->tag != NULL)
		snprintf(out, cap, "%s", o->tag);
	else
		snprintf(out, cap, "%llx%04x", (unsigned long long)(codec_now_ms() / 1000),
			 (unsigned)getpid() & 0xffff);
}

/* Builds and signs the workload, and says how long that took. */
static int build(const struct options *o, const struct bench_world *w, struct bench_workload *wl)
{
	int64_t t0 = bench_now_ns();
	int rc = bench_workload_build(w, o->events, o->attests, o->single, o->load.window,
				      o->verify_threads, wl);

	if (rc != CU_OK) {
		fprintf(stderr, "custody-bench: building the workload: %s\n", cu_strerror(rc));
		return rc;
	}
	printf("signed %zu events before the clock (%.1f s): REGISTER %zu, PACK %zu, SHIP %zu,"
	       " RECEIVE %zu, INSTALL %zu, ATTEST %zu\n",
	       wl->n, (double)(bench_now_ns() - t0) / 1e9, wl->by_type[1], wl->by_type[2],
	       wl->by_type[4], wl->by_type[5], wl->by_type[6], wl->by_type[9]);
	return CU_OK;
}

/* The limits of the machine; each failure is said and leaves that limit 0. */
static void measure_limits(const struct options *o, const struct bench_world *w,
			   const struct bench_workload *wl, struct bench_limits *l)
{
	*l =
	    (struct bench_limits){.verify_threads = o->verify_threads, .copy_batch = o->copy_batch};
	printf("measuring the limits ...\n");
	fflush(stdout);
	if (bench_limit_verify(wl, o->verify_threads, o->verify_s, &l->verify_per_s) != CU_OK)
		l->verify_per_s = 0;
	if (o->pg == NULL) {
		printf("  (no --pg: the PostgreSQL limits are not measured)\n");
		return;
	}
	if (bench_limit_copy(o->pg, wl, w->party, o->copy_batch, &l->copy_rows_per_s) != CU_OK)
		l->copy_rows_per_s = 0;
	if (bench_limit_naive(o->pg, wl, w->party, 1, o->naive_s, &l->naive1_per_s) != CU_OK)
		l->naive1_per_s = 0;
	if (bench_limit_naive(o->pg, wl, w->party, 4, o->naive_s, &l->naive4_per_s) != CU_OK)
		l->naive4_per_s = 0;
}

/* The load phase: CPU sampled around it, the daemon's peak RSS after it. */
static int load(const struct options *o, struct bench_conn **conns, struct bench_workload *wl,
		struct bench_report *rep, struct bench_load_result *res)
{
	struct bench_cpu before, after;
	int rc;

	printf("running: %zu connections, window %u, %s ...\n", o->conns, o->load.window,
	       o->load.rate_per_s > 0 ? "paced" : "unpaced");
	fflush(stdout);
	bench_cpu_sample(o->pid, o->pg_pid, &before);
	rc = bench_load_run(conns, o->conns, wl, &o->load, res);
	bench_cpu_sample(o->pid, o->pg_pid, &after);
	rep->cpu.daemon_s = before.daemon_s < 0 ? -1 : after.daemon_s - before.daemon_s;
	rep->cpu.pg_s = before.pg_s < 0 ? -1 : after.pg_s - before.pg_s;
	rep->cpu.self_s = after.self_s - before.self_s;
	rep->cpu.machine_s = before.machine_s < 0 ? -1 : after.machine_s - before.machine_s;
	rep->cpu.iowait_s = before.iowait_s < 0 ? -1 : after.iowait_s - before.iowait_s;
	rep->daemon_rss_kb = o->pid > 0 ? bench_peak_rss_kb(o->pid) : -1;
	if (rc != CU_OK)
		fprintf(stderr,
			"custody-bench: the run FAILED (%s): %zu of %zu answered, %zu errors\n",
			cu_strerror(rc), res->answered, wl->n, res->errors);
	return rc;
}

static int bench_main(const struct options *o)
{
	struct bench_world w;
	struct bench_workload wl = {0};
	struct bench_conn **conns = calloc(o->conns, sizeof(*conns));
	struct bench_load_result res = {0};
	struct bench_limits lim;
	struct bench_report rep = {.load = &o->load, .n_conns = o->conns, .res = &res};
	char tag[24];
	int rc;

	make_tag(o, tag, sizeof(tag));
	rc = conns == NULL ? CU_ERR_NOMEM : bench_world_init(&w, o->conns, tag);
	if (rc == CU_OK)
		rc = bench_setup_register(&o->target, o->admin_key, &w);
	if (rc == CU_OK)
		rc = build(o, &w, &wl);
	if (rc == CU_OK)
		rc = bench_connect_all(&o->target, &w, conns);
	if (rc == CU_OK)
		rc = load(o, conns, &wl, &rep, &res);
	for (size_t i = 0; conns != NULL && i < o->conns; i++)
		bconn_free(conns[i]);
	if (rc == CU_OK && !o->skip_limits) {
		measure_limits(o, &w, &wl, &lim);
		rep.lim = &lim;
	}
	rep.wl = &wl;
	if (rc == CU_OK)
		bench_report_print(&rep);
	bench_workload_free(&wl);
	bench_world_clear(&w);
	free(conns);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc;

	if (sodium_init() < 0)
		return 1;
	if (parse_args(argc, argv, &o) != CU_OK)
		return 2;
	rc = bench_main(&o);
	return rc == CU_OK ? 0 : 1;
}
