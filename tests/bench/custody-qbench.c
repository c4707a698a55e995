/*
 * custody-qbench.c - the query, memory and storage benchmark of custodyd
 * (docs/benchmarks.md, "Queries, memory and storage"; issue 6 item 3).
 * It shares custody-bench's Noise client and set-up (bench_client.c,
 * bench_setup.c, bench_events.c's world):
 *
 *   --populate N   registers N chips through the real daemon, in REGISTER
 *                  events of up to 4,096 chips each (VALIDATE_MAX_DEVICES;
 *                  such a frame is about 200 KB, under max_frame_bytes) at
 *                  the run's US facility, serials TAG-q<i>;
 *   --query where|inventory|inclusion
 *                  C connections, a window of pipelined requests each, for
 *                  --seconds: where() of random serials TAG-q<i> (i < N),
 *                  the country inventory of US (counts, no device list),
 *                  inclusion proofs of random indexes of the latest tree;
 *   --idle-connections N  holds N more open connections during the run.
 *
 * It prints queries/s, latency p50/p99/max, custodyd's CPU and RSS and
 * the ratio to the target, then one `qbench-result key=value` line.
 * tests/bench/qrun starts PostgreSQL and custodyd and calls it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "codec.h"
#include "envelope.h"
#include "frame.h"
#include "qbench.h"
#include "validate.h"

#define KEY_CONNS 60 /* connections per key, under max_connections_per_key (64) */

enum mode { M_NONE, M_POPULATE, M_WHERE, M_INVENTORY, M_INCLUSION };

#define MAX_MODES 8

struct options {
	struct bench_target target;
	const char *admin_key, *tag, *country;
	enum mode mode;		    /* the one running now */
	enum mode modes[MAX_MODES]; /* --query, in order */
	size_t n_modes, populate;
	unsigned repeat;
	size_t conns, idle, devices;
	int pid, pg_pid;
	struct qb_loop_opts loop;
};

struct run {
	const struct options *o;
	struct bench_world *w;
	enum mode mode;
	uint64_t tree_size; /* inclusion */
	uint64_t inv_total; /* inventory: total_devices of the last answer */
	size_t n_active;    /* connections driven */
	size_t per_event;   /* populate */
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: custody-qbench --admin-key FILE (--server HOST:PORT --server-key PUB | --unix PATH)\n"
	    "                      --tag TAG [--populate N] [--query where,inventory,inclusion]\n"
	    "                      [--repeat R] [--devices N] [--connections C] [--window W] [--seconds S]\n"
	    "                      [--idle-connections N] [--country CC] [--pid PID] [--pg-pid PID]\n"
	    "  --populate N   register N chips (REGISTER events of 4,096) as the run's exporter\n"
	    "  --query LIST   then measure these, each --repeat R times (default 3), with medians\n"
	    "  --devices N    where: serials TAG-q0 .. TAG-q(N-1) exist (default: --populate, or 1000000)\n"
	    "  --connections C (default 8), --window W in flight each (default 16, at most 256)\n"
	    "  --seconds S    length of a query run (default 10)\n"
	    "  --idle-connections N  hold N more open connections (for the RSS figure)\n"
	    "Exits 0 when every answer was a success, 1 otherwise, 2 on a usage error.\n");
}

static const struct option long_opts[] = {
    {"server", required_argument, NULL, 's'},
    {"server-key", required_argument, NULL, 'k'},
    {"unix", required_argument, NULL, 'u'},
    {"admin-key", required_argument, NULL, 'a'},
    {"tag", required_argument, NULL, 't'},
    {"populate", required_argument, NULL, 'N'},
    {"query", required_argument, NULL, 'q'},
    {"repeat", required_argument, NULL, 'R'},
    {"devices", required_argument, NULL, 'd'},
    {"connections", required_argument, NULL, 'c'},
    {"window", required_argument, NULL, 'w'},
    {"seconds", required_argument, NULL, 'S'},
    {"idle-connections", required_argument, NULL, 'I'},
    {"country", required_argument, NULL, 'C'},
    {"pid", required_argument, NULL, 'p'},
    {"pg-pid", required_argument, NULL, 'P'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* A comma-separated list of where, inventory, inclusion into o->modes. */
static int parse_modes(const char *arg, struct options *o)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		enum mode m = strcmp(t, "where") == 0	    ? M_WHERE
			      : strcmp(t, "inventory") == 0 ? M_INVENTORY
			      : strcmp(t, "inclusion") == 0 ? M_INCLUSION
							    : M_NONE;

		if (m == M_NONE || o->n_modes == MAX_MODES)
			return CU_ERR_INVALID;
		o->modes[o->n_modes++] = m;
	}
	return o->n_modes > 0 ? CU_OK : CU_ERR_INVALID;
}

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
	case 't':
		o->tag = arg;
		return strlen(arg) < 20 ? CU_OK : CU_ERR_INVALID;
	case 'N':
		o->populate = strtoul(arg, NULL, 10);
		return o->populate >= 1 ? CU_OK : CU_ERR_INVALID;
	case 'q':
		return parse_modes(arg, o);
	case 'R':
		o->repeat = (unsigned)strtoul(arg, NULL, 10);
		return o->repeat >= 1 && o->repeat <= 20 ? CU_OK : CU_ERR_INVALID;
	case 'd':
		o->devices = strtoul(arg, NULL, 10);
		return o->devices >= 1 ? CU_OK : CU_ERR_INVALID;
	case 'c':
		o->conns = strtoul(arg, NULL, 10);
		return o->conns >= 1 && o->conns <= 1024 ? CU_OK : CU_ERR_INVALID;
	case 'w':
		o->loop.window = (unsigned)strtoul(arg, NULL, 10);
		return o->loop.window >= 1 && o->loop.window <= 256 ? CU_OK : CU_ERR_INVALID;
	case 'S':
		o->loop.seconds = strtod(arg, NULL);
		return o->loop.seconds > 0 ? CU_OK : CU_ERR_INVALID;
	case 'I':
		o->idle = strtoul(arg, NULL, 10);
		return o->idle <= 100000 ? CU_OK : CU_ERR_INVALID;
	case 'C':
		o->country = arg;
		return CU_OK;
	case 'p':
		o->pid = atoi(arg);
		return CU_OK;
	case 'P':
		o->pg_pid = atoi(arg);
		return CU_OK;
	default:
		return CU_ERR_INVALID;
	}
}

static int parse_args(int argc, char **argv, struct options *o)
{
	bool have_server = false, have_key = false;
	int opt, idx = 0;

	*o = (struct options){.conns = 8, .devices = 1000000, .country = "US", .repeat = 3};
	o->loop = (struct qb_loop_opts){16, 10, 60000, 20};
	while ((opt = getopt_long(argc, argv, "", long_opts, &idx)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			exit(0);
		}
		if (parse_one(opt, optarg, o) != CU_OK) {
			fprintf(stderr, "custody-qbench: bad value for --%s: %s\n",
				long_opts[idx].name, optarg ? optarg : "");
			return CU_ERR_INVALID;
		}
		have_server |= opt == 's' || opt == 'u';
		have_key |= opt == 'k' || opt == 'u';
	}
	if (optind != argc || o->admin_key == NULL || o->tag == NULL ||
	    (o->populate == 0 && o->n_modes == 0) || !have_server || !have_key) {
		usage(stderr);
		return CU_ERR_INVALID;
	}
	return CU_OK;
}

static int pack_request(Custody__Request *req, uint8_t **frame, size_t *len)
{
	return frame_pack(&req->base, FRAME_DEFAULT_MAX_BYTES, frame, len);
}

/* REGISTER of chips [first, first + n) at the run's US facility, signed by connection c's key. */
static int make_register(struct run *r, size_t c, size_t first, size_t n, uint64_t id,
			 uint8_t **frame, size_t *len)
{
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__DeviceRef *refs = calloc(n, sizeof(*refs)), **prefs = calloc(n, sizeof(*prefs));
	char(*serials)[48] = calloc(n, sizeof(*serials));
	int rc = refs && prefs && serials ? CU_OK : CU_ERR_NOMEM;

	for (size_t i = 0; i < n && rc == CU_OK; i++) {
		custody__device_ref__init(&refs[i]);
		snprintf(serials[i], sizeof(serials[i]), "%s-q%zu", r->o->tag, first + i);
		refs[i].serial = serials[i];
		refs[i].kind = CUSTODY__DEVICE_KIND__CHIP;
		refs[i].model = "H100-SXM";
		prefs[i] = &refs[i];
	}
	ev.type = CUSTODY__EVENT_TYPE__REGISTER;
	ev.actor = r->w->party;
	ev.facility = r->w->fac_us;
	ev.occurred_at_ms = codec_now_ms() - 3600 * 1000;
	ev.devices = prefs;
	ev.n_devices = n;
	if (rc == CU_OK)
		rc = envelope_seal(ENVELOPE_EVENT, r->w->exporter[c], &ev.base, &env);
	req.id = id;
	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = &env;
	if (rc == CU_OK)
		rc = pack_request(&req, frame, len);
	envelope_clear(&env);
	free(refs);
	free(prefs);
	free(serials);
	return rc;
}

static int make_fn(void *arg, size_t c, uint64_t k, uint64_t id, uint8_t **frame, size_t *len)
{
	struct run *r = arg;
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__WhereRequest wr = CUSTODY__WHERE_REQUEST__INIT;
	Custody__InventoryRequest ir = CUSTODY__INVENTORY_REQUEST__INIT;
	Custody__InclusionRequest pr = CUSTODY__INCLUSION_REQUEST__INIT;
	char serial[48];

	req.id = id;
	switch (r->mode) {
	case M_POPULATE: {
		size_t first = (k * r->o->conns + c) * r->per_event, left = r->o->populate - first;

		if (first >= r->o->populate)
			return CU_ERR_NOT_FOUND;
		return make_register(r, c, first, left < r->per_event ? left : r->per_event, id,
				     frame, len);
	}
	case M_WHERE:
		snprintf(serial, sizeof(serial), "%s-q%u", r->o->tag,
			 (unsigned)randombytes_uniform((uint32_t)r->o->devices));
		wr.serial = serial;
		req.body_case = CUSTODY__REQUEST__BODY_WHERE;
		req.where = &wr;
		break;
	case M_INVENTORY:
		ir.country = (char *)r->o->country;
		req.body_case = CUSTODY__REQUEST__BODY_INVENTORY;
		req.inventory = &ir;
		break;
	default:
		pr.index =
		    ((uint64_t)randombytes_random() << 32 | randombytes_random()) % r->tree_size;
		req.body_case = CUSTODY__REQUEST__BODY_INCLUSION;
		req.inclusion = &pr;
		break;
	}
	return pack_request(&req, frame, len);
}

static int check_fn(void *arg, const Custody__Response *resp, const char **why)
{
	struct run *r = arg;
	Custody__Response__BodyCase want = r->mode == M_POPULATE ? CUSTODY__RESPONSE__BODY_SUBMIT
					   : r->mode == M_WHERE	 ? CUSTODY__RESPONSE__BODY_WHERE
					   : r->mode == M_INVENTORY
					       ? CUSTODY__RESPONSE__BODY_INVENTORY
					       : CUSTODY__RESPONSE__BODY_INCLUSION;

	if (resp->body_case != want)
		return CU_ERR_INVALID;
	if (want == CUSTODY__RESPONSE__BODY_SUBMIT && resp->submit->duplicate) {
		*why = "duplicate: the chips were registered before (another --tag?)";
		return CU_ERR_INVALID;
	}
	if (want == CUSTODY__RESPONSE__BODY_INVENTORY)
		r->inv_total = resp->inventory->total_devices;
	if (want == CUSTODY__RESPONSE__BODY_INCLUSION && resp->inclusion->n_proof == 0 &&
	    r->tree_size > 1) {
		*why = "an inclusion proof without hashes";
		return CU_ERR_INVALID;
	}
	return CU_OK;
}

static const char *const mode_names[] = {"-", "populate", "where", "inventory", "inclusion"};

/* The target of a mode and whether more is better (queries/s) or less (p50 ms). */
static double target_of(enum mode m, bool *more_is_better)
{
	*more_is_better = m != M_INVENTORY;
	return m == M_WHERE ? 20000 : m == M_INVENTORY ? 200 : m == M_INCLUSION ? 5000 : 0;
}

/* Resident memory of pid in KiB from /proc/PID/status (field VmRSS or VmHWM), or -1. */
static long rss_kb(int pid, const char *field)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = pid > 0 ? fopen(path, "r") : NULL;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, strlen(field)) == 0)
			kb = strtol(line + strlen(field) + 1, NULL, 10);
	if (f != NULL)
		fclose(f);
	return kb;
}

/* Opens n connections into out, connection i as keys[first + i / per_key]. */
static int open_conns(const struct bench_target *t, struct cu_key **keys, size_t first,
		      size_t per_key, size_t n, struct bench_conn **out)
{
	for (size_t i = 0; i < n; i++) {
		int rc = bconn_open(t, keys[first + i / per_key], &out[i]);

		if (rc != CU_OK) {
			fprintf(stderr, "custody-qbench: connection %zu of %zu: %s\n", i, n,
				cu_strerror(rc));
			return rc;
		}
	}
	return CU_OK;
}

static void close_conns(struct bench_conn **c, size_t n)
{
	for (size_t i = 0; c != NULL && i < n; i++) {
		bconn_free(c[i]);
		c[i] = NULL;
	}
}

/* One measured run of r->mode; prints its line; *res gets the numbers. */
static int one_run(struct run *r, struct bench_conn **conns, const struct qb_loop_opts *lo,
		   unsigned n, struct qb_loop_result *res)
{
	struct bench_cpu a, b;
	double busy, cores = (double)sysconf(_SC_NPROCESSORS_ONLN);
	int rc;

	bench_cpu_sample(r->o->pid, r->o->pg_pid, &a);
	rc = qb_loop_run(conns, r->n_active, make_fn, check_fn, r, lo, res);
	bench_cpu_sample(r->o->pid, r->o->pg_pid, &b);
	busy = a.machine_s < 0 || res->wall_s <= 0
		   ? -1
		   : 100 * (b.machine_s - a.machine_s) / (res->wall_s * cores);
	printf("%-9s run %u: %zu ok, %zu errors in %.2f s: %.0f/s, latency p50 %.2f p99 %.2f max "
	       "%.2f ms; custodyd CPU %.0f %%, PostgreSQL %.0f %%, machine busy %.0f %%",
	       mode_names[r->mode], n, res->ok, res->errors, res->wall_s, res->per_s, res->p50_ms,
	       res->p99_ms, res->max_ms,
	       a.daemon_s < 0 ? -1 : 100 * (b.daemon_s - a.daemon_s) / res->wall_s,
	       a.pg_s < 0 ? -1 : 100 * (b.pg_s - a.pg_s) / res->wall_s, busy);
	if (r->mode == M_INVENTORY)
		printf("; total_devices %llu", (unsigned long long)r->inv_total);
	if (r->mode == M_INCLUSION)
		printf("; tree size %llu", (unsigned long long)r->tree_size);
	printf("\n");
	fflush(stdout);
	return rc;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* o->repeat runs of r->mode, then the medians and the ratio to the target. */
static int measure(struct run *r, struct bench_conn **conns)
{
	struct qb_loop_result res;
	struct qb_loop_opts lo = r->o->loop;
	double qps[20], p50[20], p99[20], t, mq, m50, m99;
	bool more;
	int rc = CU_OK;

	/* inventory is a latency target: one request at a time, over one connection */
	r->n_active = r->mode == M_INVENTORY ? 1 : r->o->conns;
	if (r->mode == M_INVENTORY)
		lo.window = 1;
	for (unsigned i = 0; i < r->o->repeat && rc == CU_OK; i++) {
		rc = one_run(r, conns, &lo, i + 1, &res);
		qps[i] = res.per_s;
		p50[i] = res.p50_ms;
		p99[i] = res.p99_ms;
	}
	if (rc != CU_OK)
		return rc;
	t = target_of(r->mode, &more);
	mq = median(qps, r->o->repeat);
	m50 = median(p50, r->o->repeat);
	m99 = median(p99, r->o->repeat);
	printf(
	    "%-9s median of %u: %.0f/s, p50 %.2f ms, p99 %.2f ms; target %s %.0f%s: ratio %.2f\n",
	    mode_names[r->mode], r->o->repeat, mq, m50, m99, more ? ">=" : "<=", t,
	    more ? "/s" : " ms",
	    more      ? mq / t
	    : m50 > 0 ? t / m50
		      : 0);
	printf(
	    "qbench-result mode=%s per_s=%.0f p50_ms=%.3f p99_ms=%.3f connections=%zu window=%u\n",
	    mode_names[r->mode], mq, m50, m99, r->n_active, lo.window);
	return CU_OK;
}

/* Registers the chips: up to VALIDATE_MAX_DEVICES per REGISTER, 4 in flight per connection. */
static int populate(struct run *r, struct bench_conn **conns)
{
	struct qb_loop_opts lo = {.window = 4, .stall_timeout_ms = 120000, .max_errors = 1};
	struct qb_loop_result res;
	int rc;

	r->mode = M_POPULATE;
	r->n_active = r->o->conns;
	r->per_event = VALIDATE_MAX_DEVICES;
	printf("populating: %zu chips in REGISTER events of %zu over %zu connections ...\n",
	       r->o->populate, r->per_event, r->o->conns);
	fflush(stdout);
	rc = qb_loop_run(conns, r->o->conns, make_fn, check_fn, r, &lo, &res);
	printf("populated: %zu events (%zu chips) in %.1f s: %.0f chips/s\n", res.ok,
	       r->o->populate, res.wall_s,
	       res.wall_s > 0 ? (double)r->o->populate / res.wall_s : 0);
	return rc;
}

/* The latest checkpoint's tree size, asked over c. */
static int tree_size(struct bench_conn *c, uint64_t *size)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__CheckpointRequest cr = CUSTODY__CHECKPOINT_REQUEST__INIT;
	Custody__Response *resp = NULL;
	int rc;

	req.id = 1;
	req.body_case = CUSTODY__REQUEST__BODY_CHECKPOINT;
	req.checkpoint = &cr;
	rc = bconn_call(c, &req, 30000, &resp);
	if (rc == CU_OK && resp->body_case != CUSTODY__RESPONSE__BODY_CHECKPOINT)
		rc = CU_ERR_INVALID;
	if (rc == CU_OK)
		*size = resp->checkpoint->tree_size;
	if (resp != NULL)
		custody__response__free_unpacked(resp, NULL);
	return rc == CU_OK && *size == 0 ? CU_ERR_NOT_FOUND : rc;
}

/* Inclusion runs over connections as the admin key (unscoped: any entry may be proved). */
static int measure_inclusion(struct run *r)
{
	struct cu_key *admin = NULL;
	struct bench_conn **c = calloc(r->o->conns, sizeof(*c));
	int rc = c == NULL ? CU_ERR_NOMEM : key_load(r->o->admin_key, &admin);

	if (rc == CU_OK)
		rc = open_conns(&r->o->target, &admin, 0, KEY_CONNS, r->o->conns, c);
	if (rc == CU_OK)
		rc = tree_size(c[0], &r->tree_size);
	if (rc == CU_OK)
		rc = measure(r, c);
	else
		fprintf(stderr, "custody-qbench: no checkpoint to prove against: %s\n",
			cu_strerror(rc));
	close_conns(c, r->o->conns);
	free(c);
	key_free(admin);
	return rc;
}

static int run_all(struct run *r, struct bench_conn **conns)
{
	int rc = r->o->populate > 0 ? populate(r, conns) : CU_OK;

	for (size_t i = 0; i < r->o->n_modes && rc == CU_OK; i++) {
		r->mode = r->o->modes[i];
		rc = r->mode == M_INCLUSION ? measure_inclusion(r) : measure(r, conns);
	}
	if (r->o->pid > 0)
		printf("custodyd RSS %.1f MiB (peak %.1f MiB) with %zu + %zu open connections;"
		       " target <= 256 MiB with 1,000,000 devices and 1,000 connections\n"
		       "qbench-result mode=rss rss_kb=%ld hwm_kb=%ld idle=%zu\n",
		       (double)rss_kb(r->o->pid, "VmRSS:") / 1024,
		       (double)rss_kb(r->o->pid, "VmHWM:") / 1024, r->o->conns, r->o->idle,
		       rss_kb(r->o->pid, "VmRSS:"), rss_kb(r->o->pid, "VmHWM:"), r->o->idle);
	return rc;
}

static int qbench_main(struct options *o)
{
	size_t n_keys = o->conns + (o->idle + KEY_CONNS - 1) / KEY_CONNS;
	struct bench_world w;
	struct bench_conn **conns = calloc(o->conns + o->idle, sizeof(*conns));
	struct run r = {.o = o, .w = &w};
	struct rlimit rl;
	int rc;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	rc = conns == NULL ? CU_ERR_NOMEM : bench_world_init(&w, n_keys, o->tag);
	if (rc == CU_OK)
		rc = bench_setup_register(&o->target, o->admin_key, &w);
	if (rc == CU_OK)
		rc = open_conns(&o->target, w.exporter, 0, 1, o->conns, conns);
	if (rc == CU_OK && o->idle > 0)
		rc = open_conns(&o->target, w.exporter, o->conns, KEY_CONNS, o->idle,
				conns + o->conns);
	if (rc == CU_OK && o->idle > 0)
		printf("holding %zu idle connections open\n", o->idle);
	if (rc == CU_OK)
		rc = run_all(&r, conns);
	close_conns(conns, o->conns + o->idle);
	bench_world_clear(&w);
	free(conns);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;

	if (sodium_init() < 0)
		return 1;
	if (parse_args(argc, argv, &o) != CU_OK)
		return 2;
	if (o.populate > 0)
		o.devices = o.populate;
	return qbench_main(&o) == CU_OK ? 0 : 1;
}
