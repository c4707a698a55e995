/*
 * bench_events.c - custody-bench's workload, built and signed before the
 * clock starts: the life of servers of eight accelerators each, from
 * registration at an exporter's US staging site to attestations in its
 * Japanese data center, the trip of the quickstart demo at scale.
 *
 * Every connection owns its devices, so pipelined chains never conflict
 * across connections. Within a connection, servers go in waves as wide as
 * the window, stage by stage (all REGISTERs of a wave, then all its
 * PACKs, ...), so an event's predecessor on its device is a whole wave
 * earlier: already acknowledged when the event is sent.
 * Each prev is the id (SHA-256 of the body) of the device's previous
 * event, computed here.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "codec.h"
#include "envelope.h"
#include "frame.h"

#define CHIPS_PER_SERVER 8
#define WAVE_MAX	 64
#define STAGES_FIXED	 6 /* REGISTER x2, PACK, SHIP, RECEIVE, INSTALL */
#define HOUR_MS		 (3600LL * 1000)
#define EV(t)		 CUSTODY__EVENT_TYPE__##t

int bench_world_init(struct bench_world *w, size_t n_conns, const char *tag)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->tag, sizeof(w->tag), "%s", tag);
	snprintf(w->party, sizeof(w->party), "bench-%s", tag);
	snprintf(w->fac_us, sizeof(w->fac_us), "bench-%s-us", tag);
	snprintf(w->fac_jp, sizeof(w->fac_jp), "bench-%s-jp", tag);
	w->n_conns = n_conns;
	w->exporter = calloc(n_conns, sizeof(*w->exporter));
	w->operator_ = calloc(n_conns, sizeof(*w->operator_));
	if (w->exporter == NULL || w->operator_ == NULL)
		return CU_ERR_NOMEM;
	for (size_t c = 0; c < n_conns; c++) {
		int rc = key_generate(&w->exporter[c]);

		if (rc == CU_OK)
			rc = key_generate(&w->operator_[c]);
		if (rc != CU_OK)
			return rc;
	}
	return CU_OK;
}

void bench_world_clear(struct bench_world *w)
{
	for (size_t c = 0; c < w->n_conns; c++) {
		if (w->exporter != NULL)
			key_free(w->exporter[c]);
		if (w->operator_ != NULL)
			key_free(w->operator_[c]);
	}
	free(w->exporter);
	free(w->operator_);
	memset(w, 0, sizeof(*w));
}

/* The chain heads of one server and its chips while its events are built. */
struct server {
	uint8_t chips_head[ENVELOPE_ID_BYTES]; /* all chips share their REGISTER */
	uint8_t head[ENVELOPE_ID_BYTES];
	char serial[64];
	int64_t off_ms; /* spreads the servers' times apart */
};

/* What one build thread works on. */
struct build_job {
	const struct bench_world *w;
	struct bench_workload *wl;
	size_t first_conn, conn_step;
	size_t wave; /* servers per wave, <= WAVE_MAX */
	int64_t now_ms;
	int rc;
};

/* Seals ev as the event of rank with key, frames it and records its id in id_out. */
static int seal(struct bench_workload *wl, size_t rank, const struct cu_key *key,
		Custody__Event *ev, uint8_t id_out[ENVELOPE_ID_BYTES])
{
	struct bench_event *be = &wl->ev[rank];
	Custody__Request req = CUSTODY__REQUEST__INIT;
	size_t len;
	int rc = envelope_seal(ENVELOPE_EVENT, key, &ev->base, &be->env);

	if (rc != CU_OK)
		return rc;
	envelope_id(be->env.body.data, be->env.body.len, id_out);
	req.id = rank + 1;
	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = &be->env;
	rc = frame_pack(&req.base, FRAME_DEFAULT_MAX_BYTES, &be->frame, &len);
	be->frame_len = (uint32_t)len;
	be->type = (uint8_t)ev->type;
	be->facility = ev->facility;
	be->occurred_ms = ev->occurred_at_ms;
	be->lat_ns = -1;
	return rc;
}

/* REGISTER of the server's chips (stage 0) or of the server itself (stage 1). */
static int build_register(const struct build_job *j, size_t conn, struct server *s, unsigned stage,
			  size_t rank)
{
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__DeviceRef refs[CHIPS_PER_SERVER], *prefs[CHIPS_PER_SERVER];
	char serials[CHIPS_PER_SERVER][80];
	size_t n = stage == 0 ? CHIPS_PER_SERVER : 1;

	for (size_t i = 0; i < n; i++) {
		custody__device_ref__init(&refs[i]);
		prefs[i] = &refs[i];
		if (stage == 0) {
			snprintf(serials[i], sizeof(serials[i]), "%s-g%zu", s->serial, i);
			refs[i].kind = CUSTODY__DEVICE_KIND__CHIP;
			refs[i].model = "H100-SXM";
		} else {
			snprintf(serials[i], sizeof(serials[i]), "%s", s->serial);
			refs[i].kind = j->wl->single ? CUSTODY__DEVICE_KIND__CHIP
						     : CUSTODY__DEVICE_KIND__SERVER;
			refs[i].model = j->wl->single ? "H100-SXM" : "DGX-H100";
		}
		refs[i].serial = serials[i];
	}
	ev.type = EV(REGISTER);
	ev.actor = (char *)j->w->party;
	ev.facility = (char *)j->w->fac_us;
	ev.occurred_at_ms = j->now_ms - 72 * HOUR_MS + s->off_ms + stage;
	ev.devices = prefs;
	ev.n_devices = n;
	return seal(j->wl, rank, j->w->exporter[conn], &ev, stage == 0 ? s->chips_head : s->head);
}

/* PACK of the chips into the server. */
static int build_pack(const struct build_job *j, size_t conn, struct server *s, size_t rank)
{
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__DeviceRef refs[CHIPS_PER_SERVER], *prefs[CHIPS_PER_SERVER];
	Custody__DeviceRef box = CUSTODY__DEVICE_REF__INIT;
	char serials[CHIPS_PER_SERVER][80];
	uint8_t chips_head[ENVELOPE_ID_BYTES], id[ENVELOPE_ID_BYTES];
	int rc;

	memcpy(chips_head, s->chips_head, sizeof(chips_head));
	for (size_t i = 0; i < CHIPS_PER_SERVER; i++) {
		custody__device_ref__init(&refs[i]);
		prefs[i] = &refs[i];
		snprintf(serials[i], sizeof(serials[i]), "%s-g%zu", s->serial, i);
		refs[i].serial = serials[i];
		refs[i].prev.data = chips_head;
		refs[i].prev.len = ENVELOPE_ID_BYTES;
	}
	box.serial = s->serial;
	box.prev.data = s->head;
	box.prev.len = ENVELOPE_ID_BYTES;
	ev.type = EV(PACK);
	ev.actor = (char *)j->w->party;
	ev.facility = (char *)j->w->fac_us;
	ev.occurred_at_ms = j->now_ms - 71 * HOUR_MS + s->off_ms;
	ev.devices = prefs;
	ev.n_devices = CHIPS_PER_SERVER;
	ev.container = &box;
	rc = seal(j->wl, rank, j->w->exporter[conn], &ev, id);
	memcpy(s->head, id, sizeof(id));
	memcpy(s->chips_head, id, sizeof(id));
	return rc;
}

/* Stage 3..: SHIP, RECEIVE, INSTALL, then ATTESTs, each of the server (or lone chip) alone. */
static int build_move(const struct build_job *j, size_t conn, struct server *s, unsigned stage,
		      size_t rank)
{
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__DeviceRef ref = CUSTODY__DEVICE_REF__INIT, *pref = &ref;
	uint8_t prev[ENVELOPE_ID_BYTES];
	char location[64];
	const struct cu_key *key = j->w->operator_[conn];

	memcpy(prev, s->head, sizeof(prev));
	ref.serial = s->serial;
	ref.prev.data = prev;
	ref.prev.len = sizeof(prev);
	ev.actor = (char *)j->w->party;
	ev.devices = &pref;
	ev.n_devices = 1;
	ev.facility = (char *)j->w->fac_jp;
	if (stage == 3) {
		ev.type = EV(SHIP);
		ev.facility = (char *)j->w->fac_us;
		ev.to_facility = (char *)j->w->fac_jp;
		ev.occurred_at_ms = j->now_ms - 48 * HOUR_MS + s->off_ms;
		ev.deadline_ms = j->now_ms + 12 * 24 * HOUR_MS;
		key = j->w->exporter[conn];
	} else if (stage == 4) {
		ev.type = EV(RECEIVE);
		ev.occurred_at_ms = j->now_ms - 24 * HOUR_MS + s->off_ms;
	} else if (stage == 5) {
		ev.type = EV(INSTALL);
		snprintf(location, sizeof(location), "hall-%zu/rack-%s", conn % 4, s->serial);
		ev.location = location;
		ev.occurred_at_ms = j->now_ms - 23 * HOUR_MS + s->off_ms;
	} else {
		ev.type = EV(ATTEST);
		ev.occurred_at_ms = j->now_ms - (12 - (stage - STAGES_FIXED)) * HOUR_MS + s->off_ms;
	}
	return seal(j->wl, rank, key, &ev, s->head);
}

/*
 * The stage a unit's st-th event is: lone chips skip the REGISTER of chips
 * (0) and the PACK (2).
 */
static unsigned stage_of(const struct bench_workload *wl, unsigned st)
{
	if (!wl->single)
		return st;
	return st == 0 ? 1 : st + 2;
}

/* Builds connection conn's per_conn events. */
static int build_conn(const struct build_job *j, size_t conn)
{
	struct bench_workload *wl = j->wl;
	size_t c_n = j->w->n_conns, i = 0;
	size_t stages = STAGES_FIXED + wl->attests - (wl->single ? 2 : 0);
	struct server s[WAVE_MAX];
	int rc = CU_OK;

	for (size_t wave = 0; i < wl->per_conn; wave++) {
		for (size_t k = 0; k < j->wave; k++) {
			size_t n = wave * j->wave + k;

			snprintf(s[k].serial, sizeof(s[k].serial), "B%s-c%zu-s%zu", j->w->tag, conn,
				 n);
			s[k].off_ms = (int64_t)((n * c_n + conn) % 3000000);
		}
		for (unsigned u = 0; u < stages && rc == CU_OK; u++) {
			unsigned st = stage_of(wl, u);

			for (size_t k = 0; k < j->wave && i < wl->per_conn && rc == CU_OK;
			     k++, i++) {
				size_t rank = i * c_n + conn;

				if (st <= 1)
					rc = build_register(j, conn, &s[k], st, rank);
				else if (st == 2)
					rc = build_pack(j, conn, &s[k], rank);
				else
					rc = build_move(j, conn, &s[k], st, rank);
			}
		}
		if (rc != CU_OK)
			return rc;
	}
	return CU_OK;
}

static void *build_thread(void *arg)
{
	struct build_job *j = arg;

	for (size_t c = j->first_conn; c < j->w->n_conns && j->rc == CU_OK; c += j->conn_step)
		j->rc = build_conn(j, c);
	return NULL;
}

/* Counts types, servers and devices of the built workload. */
static void count_workload(struct bench_workload *wl)
{
	for (size_t r = 0; r < wl->n; r++) {
		const struct bench_event *e = &wl->ev[r];

		wl->by_type[e->type < 16 ? e->type : 0]++;
	}
	if (wl->single) {
		wl->n_servers = 0;
		wl->n_devices = wl->by_type[EV(REGISTER)];
		return;
	}
	wl->n_servers = wl->by_type[EV(PACK)];
	wl->n_devices = wl->by_type[EV(REGISTER)] / 2 * (CHIPS_PER_SERVER + 1);
}

int bench_workload_build(const struct bench_world *w, size_t n_events, unsigned attests,
			 bool single, unsigned wave, unsigned threads, struct bench_workload *out)
{
	struct build_job jobs[64];
	pthread_t tids[64];
	unsigned started = 0;
	int rc = CU_OK;

	memset(out, 0, sizeof(*out));
	if (w->n_conns == 0 || threads == 0 || attests > 10 || wave == 0 || wave > WAVE_MAX)
		return CU_ERR_INVALID;
	threads = threads > 64 ? 64 : threads;
	out->attests = attests;
	out->single = single;
	out->per_conn = (n_events + w->n_conns - 1) / w->n_conns;
	out->n = out->per_conn * w->n_conns;
	out->ev = calloc(out->n, sizeof(*out->ev));
	if (out->ev == NULL)
		return CU_ERR_NOMEM;
	for (unsigned t = 0; t < threads; t++, started++) {
		jobs[t] = (struct build_job){w, out, t, threads, wave, codec_now_ms(), CU_OK};
		if (pthread_create(&tids[t], NULL, build_thread, &jobs[t]) != 0) {
			rc = CU_ERR_NOMEM;
			break;
		}
	}
	for (unsigned t = 0; t < started; t++) {
		pthread_join(tids[t], NULL);
		if (jobs[t].rc != CU_OK)
			rc = jobs[t].rc;
	}
	if (rc == CU_OK)
		count_workload(out);
	return rc;
}

void bench_workload_free(struct bench_workload *wl)
{
	if (wl->ev != NULL) {
		for (size_t r = 0; r < wl->n; r++) {
			envelope_clear(&wl->ev[r].env);
			free(wl->ev[r].frame);
		}
	}
	free(wl->ev);
	memset(wl, 0, sizeof(*wl));
}
