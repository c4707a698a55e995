/*
 * cmd_epcis_export.c - "export-epcis [SERIAL...] [--devices-at F]
 * [--facility F] [--from TIME] [--to TIME] [-o FILE]": custody events as
 * one GS1 EPCIS 2.0 JSON-LD document (docs/epcis.md).
 *
 *   1. the devices: the SERIALs, and with --devices-at every device whose
 *      last known facility is F (the inventory the server lists, paged);
 *   2. each device's whole history, and with --facility (or with only a
 *      time window) the events the server's events query gives for the
 *      facility and window, pages followed; every entry is checked like
 *      history does: signature, and id = SHA-256(body);
 *   3. the events, each once (a container's event shows in the history of
 *      everything inside), in sequence order, those that occurred in
 *      [--from, --to);
 *   4. the document is built in memory and written at once, to stdout or
 *      atomically to FILE, so a failure leaves no half document.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "envelope.h"
#include "epcis.h"

#define ID_BYTES ENVELOPE_ID_BYTES

struct export_opts {
	const char *facility, *devices_at, *out_path;
	int64_t from_ms, to_ms; /* to 0: no bound */
	char **serials;		/* borrowed from argv */
	size_t n_serials;
};

/* Every device to export (owned strings) and every history page fetched. */
struct export_state {
	struct ctl *ctl;
	char **serials;
	size_t n_serials, cap_serials;
	struct ctl_pages pages;
	const Custody__HistoryEntry **entries; /* borrowed from pages */
	size_t n_entries;
};

static int nomem(struct ctl *ctl)
{
	return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
}

static const struct option export_options[] = {
    {"facility", required_argument, NULL, 'f'}, {"devices-at", required_argument, NULL, 'd'},
    {"from", required_argument, NULL, 'F'},	{"to", required_argument, NULL, 'T'},
    {"output", required_argument, NULL, 'o'},	{NULL, 0, NULL, 0},
};

static int parse_opts(struct ctl *ctl, int argc, char **argv, struct export_opts *o)
{
	int c, rc = CU_OK;

	while (rc == CU_OK && (c = getopt_long(argc, argv, ":o:", export_options, NULL)) != -1) {
		if (c == 'f')
			o->facility = optarg;
		else if (c == 'd')
			o->devices_at = optarg;
		else if (c == 'F')
			rc = ctl_parse_time(ctl, "--from", optarg, &o->from_ms);
		else if (c == 'T')
			rc = ctl_parse_time(ctl, "--to", optarg, &o->to_ms);
		else if (c == 'o')
			o->out_path = optarg;
		else
			rc = ctl_bad_option(ctl, export_options, argv, c);
	}
	if (rc != CU_OK)
		return rc;
	o->serials = argv + optind;
	o->n_serials = (size_t)(argc - optind);
	if (o->n_serials == 0 && o->facility == NULL && o->devices_at == NULL && o->from_ms == 0 &&
	    o->to_ms == 0)
		return ctl_usage_error(ctl, "export-epcis: give device SERIALs, --devices-at F, "
					    "--facility F or --from/--to");
	if (o->to_ms != 0 && o->to_ms <= o->from_ms)
		return ctl_usage_error(ctl, "export-epcis: --to must be later than --from");
	return CU_OK;
}

/* Adds a copy of serial (borrowed) to the devices to export. */
static int add_serial(struct export_state *s, const char *serial)
{
	if (s->n_serials == s->cap_serials) {
		size_t cap = s->cap_serials ? 2 * s->cap_serials : 64;
		char **v = realloc(s->serials, cap * sizeof(*v));

		if (v == NULL)
			return nomem(s->ctl);
		s->serials = v;
		s->cap_serials = cap;
	}
	s->serials[s->n_serials] = strdup(serial);
	if (s->serials[s->n_serials] == NULL)
		return nomem(s->ctl);
	s->n_serials++;
	return CU_OK;
}

static int add_facility_device(void *arg, const char *serial)
{
	return add_serial(arg, serial);
}

/* Follows the pages of req (history or events; *after is its after_seq) into s->pages. */
static int follow_pages(struct export_state *s, Custody__Request *req, uint64_t *after)
{
	for (;;) {
		Custody__Response *r = NULL;
		const Custody__HistoryResult *h;
		int rc = ctl_call(s->ctl, req, CUSTODY__RESPONSE__BODY_HISTORY, &r);

		if (rc == CU_OK)
			rc = ctl_pages_add(s->ctl, &s->pages, r);
		if (rc != CU_OK)
			return rc;
		h = r->history;
		s->n_entries += h->n_entries;
		if (!h->more || h->n_entries == 0)
			return CU_OK;
		if (h->entries[h->n_entries - 1]->seq <= *after)
			return ctl_fail(s->ctl, CTL_EXIT_SERVER, "PROTOCOL",
					"the server's pages do not advance");
		*after = h->entries[h->n_entries - 1]->seq;
	}
}

/* Every page of serial's history. */
static int fetch_history(struct export_state *s, const char *serial)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__HistoryRequest hist = CUSTODY__HISTORY_REQUEST__INIT;

	hist.serial = (char *)serial;
	req.body_case = CUSTODY__REQUEST__BODY_HISTORY;
	req.history = &hist;
	return follow_pages(s, &req, &hist.after_seq);
}

/* Every page of the events at o->facility (if any) in [from, to). */
static int fetch_events(struct export_state *s, const struct export_opts *o)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__EventsRequest ev = CUSTODY__EVENTS_REQUEST__INIT;

	if (o->facility != NULL)
		ev.facility = (char *)o->facility;
	ev.from_ms = o->from_ms;
	ev.to_ms = o->to_ms;
	req.body_case = CUSTODY__REQUEST__BODY_EVENTS;
	req.events = &ev;
	return follow_pages(s, &req, &ev.after_seq);
}

static int cmp_entry_seq(const void *a, const void *b)
{
	const Custody__HistoryEntry *x = *(const Custody__HistoryEntry *const *)a;
	const Custody__HistoryEntry *y = *(const Custody__HistoryEntry *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every entry of every page, in sequence order, each event once. */
static int collect_entries(struct export_state *s)
{
	size_t n = 0;

	s->entries = calloc(s->n_entries + 1, sizeof(*s->entries));
	if (s->entries == NULL)
		return nomem(s->ctl);
	for (size_t p = 0; p < s->pages.n; p++) {
		const Custody__HistoryResult *h = s->pages.resp[p]->history;

		for (size_t i = 0; i < h->n_entries; i++)
			s->entries[n++] = h->entries[i];
	}
	qsort(s->entries, n, sizeof(*s->entries), cmp_entry_seq);
	s->n_entries = 0;
	for (size_t i = 0; i < n; i++) {
		if (s->n_entries == 0 || s->entries[s->n_entries - 1]->seq != s->entries[i]->seq)
			s->entries[s->n_entries++] = s->entries[i];
	}
	return CU_OK;
}

/*
 * Checks entry e's signed envelope like history does; *ev gets the decoded
 * event (owned by the caller). Reports and fails if it does not hold.
 */
static int open_entry(struct ctl *ctl, const Custody__HistoryEntry *e, Custody__Event **ev)
{
	const Custody__SignedEnvelope *env = e->envelope;
	uint8_t id[ID_BYTES];
	char hex[OUT_ID_TEXT];

	*ev = NULL;
	if (env != NULL && envelope_verify(ENVELOPE_EVENT, env) == CU_OK) {
		envelope_id(env->body.data, env->body.len, id);
		if (e->event_id.len == ID_BYTES && memcmp(e->event_id.data, id, ID_BYTES) == 0)
			*ev = custody__event__unpack(NULL, env->body.len, env->body.data);
	}
	if (*ev == NULL)
		return ctl_fail(ctl, CTL_EXIT_SERVER, "SIGNATURE",
				"event seq %llu (%s) from the server does not verify; nothing "
				"exported",
				(unsigned long long)e->seq, out_id(&e->event_id, hex));
	return CU_OK;
}

/* Writes the document of the collected entries to f; *written gets the count. */
static int write_document(struct export_state *s, const struct export_opts *o, FILE *f,
			  size_t *written)
{
	struct out_json j;
	int rc = CU_OK;

	*written = 0;
	out_json_init(&j, f);
	epcis_write_begin(&j, codec_now_ms());
	for (size_t i = 0; rc == CU_OK && i < s->n_entries; i++) {
		const Custody__HistoryEntry *e = s->entries[i];
		struct epcis_record rec = {e->seq, e->recorded_at_ms, e->envelope, &e->event_id};
		Custody__Event *ev = NULL;

		rc = open_entry(s->ctl, e, &ev);
		if (rc != CU_OK)
			break;
		if (ev->occurred_at_ms >= o->from_ms &&
		    (o->to_ms == 0 || ev->occurred_at_ms < o->to_ms)) {
			epcis_write_event(&j, ev, &rec);
			(*written)++;
		}
		custody__event__free_unpacked(ev, NULL);
	}
	epcis_write_end(&j);
	return rc;
}

/* Builds the document in memory, then writes it out whole. */
static int emit(struct export_state *s, const struct export_opts *o)
{
	char *data = NULL;
	size_t len = 0, written = 0;
	FILE *f = open_memstream(&data, &len);
	int rc;

	if (f == NULL)
		return nomem(s->ctl);
	rc = write_document(s, o, f, &written);
	if (fclose(f) != 0 && rc == CU_OK)
		rc = nomem(s->ctl);
	if (rc == CU_OK && o->out_path != NULL) {
		rc = ctl_write_file_atomic(s->ctl, "-o", o->out_path, data, len, 0644);
		if (rc == CU_OK)
			fprintf(stderr, "custodyctl: %zu events written to %s\n", written,
				o->out_path);
	} else if (rc == CU_OK && (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)) {
		rc = ctl_fail(s->ctl, CTL_EXIT_IO, "IO", "cannot write the document to stdout");
	}
	free(data);
	return rc;
}

int cmd_export_epcis(struct ctl *ctl, int argc, char **argv)
{
	struct export_opts o = {0};
	struct export_state s = {.ctl = ctl};
	int rc = parse_opts(ctl, argc, argv, &o);

	for (size_t i = 0; rc == CU_OK && i < o.n_serials; i++)
		rc = add_serial(&s, o.serials[i]);
	if (rc == CU_OK && o.devices_at != NULL)
		rc = ctl_facility_devices(ctl, o.devices_at, add_facility_device, &s);
	for (size_t i = 0; rc == CU_OK && i < s.n_serials; i++)
		rc = fetch_history(&s, s.serials[i]);
	/* A facility or a time window alone: the server's events query. */
	if (rc == CU_OK && (o.facility != NULL || (o.n_serials == 0 && o.devices_at == NULL)))
		rc = fetch_events(&s, &o);
	if (rc == CU_OK)
		rc = collect_entries(&s);
	if (rc == CU_OK)
		rc = emit(&s, &o);
	for (size_t i = 0; i < s.n_serials; i++)
		free(s.serials[i]);
	free(s.serials);
	free(s.entries);
	ctl_pages_free(&s.pages);
	return rc;
}
