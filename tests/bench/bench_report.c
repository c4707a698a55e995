/*
 * bench_report.c - where custody-bench's numbers come from besides its own
 * clock (CPU time and peak memory of custodyd, PostgreSQL and the machine,
 * from /proc), and how they are printed: human-readable, every result
 * beside its limit as a ratio, then one `bench-result key=value ...` line
 * that tests/bench/run collects to take medians.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

/* utime + stime (+ cutime + cstime when with_waited) of pid in ticks, and its ppid; -1 if gone. */
static long long stat_ticks(int pid, bool with_waited, int *ppid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long long cut, cst;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p == NULL ||
	    sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", ppid,
		   &ut, &st, &cut, &cst) != 5)
		return -1;
	return (long long)(ut + st) + (with_waited ? cut + cst : 0);
}

/* CPU seconds of pid, plus those of its live children when children. */
static double proc_cpu_s(int pid, bool children)
{
	double hz = (double)sysconf(_SC_CLK_TCK);
	int ppid;
	long long total = stat_ticks(pid, children, &ppid);
	DIR *d;
	struct dirent *de;

	if (pid <= 0 || total < 0)
		return -1;
	if (children && (d = opendir("/proc")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			int child = atoi(de->d_name);
			long long t;

			if (child > 0 && (t = stat_ticks(child, false, &ppid)) >= 0 && ppid == pid)
				total += t;
		}
		closedir(d);
	}
	return (double)total / hz;
}

void bench_cpu_sample(int daemon_pid, int pg_pid, struct bench_cpu *out)
{
	double hz = (double)sysconf(_SC_CLK_TCK);
	unsigned long long v[8] = {0};
	struct rusage ru;
	FILE *f = fopen("/proc/stat", "r");

	out->daemon_s = proc_cpu_s(daemon_pid, false);
	out->pg_s = proc_cpu_s(pg_pid, true);
	getrusage(RUSAGE_SELF, &ru);
	out->self_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	out->machine_s = out->iowait_s = -1;
	if (f != NULL && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
				&v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		out->machine_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
		out->iowait_s = (double)v[4] / hz;
	}
	if (f != NULL)
		fclose(f);
}

long bench_peak_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* The CPU model of /proc/cpuinfo into out. */
static void cpu_model(char *out, size_t cap)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(out, cap, "unknown");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
			snprintf(out, cap, "%s", colon + 2);
			out[strcspn(out, "\n")] = '\0';
			break;
		}
	}
	if (f != NULL)
		fclose(f);
}

static void print_cpu_line(const char *who, double s, double wall, long cores)
{
	if (s < 0)
		printf("  %-22s (not measured)\n", who);
	else
		printf("  %-22s %8.1f s   %5.1f %% of %ld cores\n", who, s,
		       100.0 * s / (wall * (double)cores), cores);
}

static void print_result(const struct bench_report *r, long cores)
{
	const struct bench_load_result *res = r->res;
	double wall = res->wall_s > 0 ? res->wall_s : 1;

	printf("result (durable: each answer comes after its batch's COMMIT, fsync on):\n");
	printf("  %-22s %8.0f   (%zu events in %.2f s; %zu accepted with alerts)\n", "events/s",
	       res->events_per_s, res->ok, res->wall_s, res->alerts);
	printf("  %-22s p50 %.2f ms   p99 %.2f ms   max %.2f ms   (%s)\n", "ack latency",
	       res->p50_ms, res->p99_ms, res->max_ms,
	       r->load->rate_per_s > 0 ? "from each event's scheduled send time"
				       : "from each event's send time");
	print_cpu_line("custodyd CPU", r->cpu.daemon_s, wall, cores);
	print_cpu_line("PostgreSQL CPU", r->cpu.pg_s, wall, cores);
	print_cpu_line("custody-bench CPU", r->cpu.self_s, wall, cores);
	print_cpu_line("machine busy CPU", r->cpu.machine_s, wall, cores);
	print_cpu_line("machine iowait", r->cpu.iowait_s, wall, cores);
	if (r->daemon_rss_kb >= 0)
		printf("  %-22s %8.1f MiB\n", "custodyd peak RSS", (double)r->daemon_rss_kb / 1024);
}

static void print_limit(const char *what, double limit, double eps)
{
	if (limit <= 0)
		printf("  %-44s (not measured)\n", what);
	else
		printf("  %-44s %9.0f /s   events/s / limit = %.3f\n", what, limit, eps / limit);
}

static void print_limits(const struct bench_report *r)
{
	const struct bench_limits *l = r->lim;
	double eps = r->res->events_per_s;
	char what[96];

	printf("limits, measured in this run on the same machine (PostgreSQL, custodyd and the\n"
	       "bench share its cores; each limit is measured alone, after the load):\n");
	snprintf(what, sizeof(what), "Ed25519 verify (libsodium, %u threads)", l->verify_threads);
	print_limit(what, l->verify_per_s, eps);
	snprintf(what, sizeof(what), "PostgreSQL COPY rows (%zu per COMMIT)", l->copy_batch);
	print_limit(what, l->copy_rows_per_s, eps);
	print_limit("naive INSERT + COMMIT, 1 connection", l->naive1_per_s, eps);
	print_limit("naive INSERT + COMMIT, 4 connections", l->naive4_per_s, eps);
}

void bench_report_print(const struct bench_report *r)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	const struct bench_workload *wl = r->wl;
	const struct bench_load_result *res = r->res;
	const struct bench_limits *l = r->lim;
	char model[256], units[96];

	cpu_model(model, sizeof(model));
	printf("\nmachine: %ld cores (%s), %.1f GiB RAM\n", cores, model,
	       (double)pages * (double)page / (1024.0 * 1024 * 1024));
	if (wl->single)
		snprintf(units, sizeof(units), "single-device events over %zu lone chips",
			 wl->n_devices);
	else
		snprintf(units, sizeof(units), "events over %zu servers (%zu devices)",
			 wl->n_servers, wl->n_devices);
	printf("load: %zu connections, window %u, %s, %zu %s\n", r->n_conns, r->load->window,
	       r->load->rate_per_s > 0 ? "paced" : "as fast as answers come", wl->n, units);
	if (r->load->rate_per_s > 0)
		printf("offered load: %.0f events/s\n", r->load->rate_per_s);
	print_result(r, cores);
	if (l != NULL)
		print_limits(r);
	printf("bench-result events_per_s=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f"
	       " daemon_cpu_s=%.2f daemon_cpu_pct=%.1f pg_cpu_s=%.2f bench_cpu_s=%.2f"
	       " machine_cpu_pct=%.1f rss_mib=%.1f",
	       res->events_per_s, res->p50_ms, res->p99_ms, res->max_ms, r->cpu.daemon_s,
	       100.0 * r->cpu.daemon_s / (res->wall_s * (double)cores), r->cpu.pg_s, r->cpu.self_s,
	       100.0 * r->cpu.machine_s / (res->wall_s * (double)cores),
	       (double)r->daemon_rss_kb / 1024);
	if (l != NULL)
		printf(" verify_per_s=%.0f copy_rows_per_s=%.0f naive1_per_s=%.0f"
		       " naive4_per_s=%.0f",
		       l->verify_per_s, l->copy_rows_per_s, l->naive1_per_s, l->naive4_per_s);
	printf("\n");
	fflush(stdout);
}
