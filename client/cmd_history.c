/*
 * cmd_history.c - "history SERIAL": a device's events, oldest first.
 *
 * The history must be checkable without trusting the server, so every
 * entry is verified here from the signed envelope it carries:
 *   - the Ed25519 signature over the event domain and body;
 *   - event_id == SHA-256(body);
 *   - the entry's type, actor, time (and facility) match the signed body;
 *   - the device (or the "via" container) is in the signed event, with
 *     the entry's prev;
 *   - the device's own chain links up: each own event's prev is the id
 *     of the previous own event (from REGISTER, when paging from the
 *     start), so a dropped or reordered event shows.
 * A bad entry is marked in the output and on stderr, and the command
 * exits 1 after printing everything.
 *
 * All pages are fetched before anything is printed, so a failure part way
 * leaves one error, not half a table or half a JSON document.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "enums.h"
#include "envelope.h"
#include "event_fmt.h"
#include "out.h"

#define ID_BYTES      ENVELOPE_ID_BYTES
#define MAX_PAGE_SIZE 10000
#define DETAIL_MAX    256

struct history_opts {
	const char *serial;
	uint64_t limit;
	uint64_t after_seq;
	bool all;
};

/* What is known of the device's own chain while walking the entries. */
struct chain {
	bool from_start; /* paging began at the first event */
	bool have_last;
	uint8_t last[ID_BYTES]; /* id of the previous own event */
};

static const struct option history_opts[] = {
    {"limit", required_argument, NULL, 'l'},
    {"after", required_argument, NULL, 'a'},
    {"all", no_argument, NULL, 'A'},
    {NULL, 0, NULL, 0},
};

/* Parses argv (borrowed) into o, whose serial then points into argv. */
static int parse_opts(struct ctl *ctl, int argc, char **argv, struct history_opts *o)
{
	int c, rc = CU_OK;

	while (rc == CU_OK && (c = getopt_long(argc, argv, ":", history_opts, NULL)) != -1) {
		if (c == 'l')
			rc = ctl_parse_uint(ctl, "--limit", optarg, 1, MAX_PAGE_SIZE, &o->limit);
		else if (c == 'a')
			rc = ctl_parse_uint(ctl, "--after", optarg, 0, UINT64_MAX, &o->after_seq);
		else if (c == 'A')
			o->all = true;
		else
			rc = ctl_bad_option(ctl, history_opts, argv, c);
	}
	if (rc != CU_OK)
		return rc;
	if (optind + 1 != argc)
		return ctl_usage_error(ctl, "history: give exactly one device SERIAL");
	o->serial = argv[optind];
	return CU_OK;
}

/* Fetches one page, or with --all every page, into p. */
static int fetch_pages(struct ctl *ctl, const struct history_opts *o, struct ctl_pages *p)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__HistoryRequest hist = CUSTODY__HISTORY_REQUEST__INIT;
	int rc;

	hist.serial = (char *)o->serial;
	hist.after_seq = o->after_seq;
	hist.limit = (uint32_t)o->limit;
	req.body_case = CUSTODY__REQUEST__BODY_HISTORY;
	req.history = &hist;
	for (;;) {
		Custody__Response *r = NULL;
		const Custody__HistoryResult *h;

		rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_HISTORY, &r);
		if (rc == CU_OK)
			rc = ctl_pages_add(ctl, p, r);
		if (rc != CU_OK)
			return rc;
		h = r->history;
		if (!o->all || !h->more || h->n_entries == 0)
			return CU_OK;
		if (h->entries[h->n_entries - 1]->seq <= hist.after_seq)
			return ctl_fail(ctl, CTL_EXIT_SERVER, "PROTOCOL",
					"the server's history pages do not advance");
		hist.after_seq = h->entries[h->n_entries - 1]->seq;
	}
}

/* Whether a and b (borrowed) hold the same bytes. */
static bool bytes_equal(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* The reference to serial among ev's devices and container, or NULL. */
static const Custody__DeviceRef *find_ref(const Custody__Event *ev, const char *serial)
{
	for (size_t i = 0; i < ev->n_devices; i++) {
		if (strcmp(ev->devices[i]->serial, serial) == 0)
			return ev->devices[i];
	}
	if (ev->container != NULL && strcmp(ev->container->serial, serial) == 0)
		return ev->container;
	return NULL;
}

/* Checks that entry e of serial appears in the signed event ev as it says. */
static const char *check_ref(const char *serial, const Custody__HistoryEntry *e,
			     const Custody__Event *ev)
{
	const Custody__DeviceRef *ref;

	if (e->via[0] != '\0')
		return find_ref(ev, e->via) != NULL
			   ? NULL
			   : "the via container is not in the signed event";
	ref = find_ref(ev, serial);
	if (ref == NULL)
		return "the device is not in the signed event";
	if (!bytes_equal(&ref->prev, &e->prev))
		return "prev differs from the signed event";
	return NULL;
}

/*
 * Checks the signed material of entry e of serial. Returns NULL if it
 * checks out, else what is wrong (static text). *ev_out gets the decoded
 * event when the body decodes (owned by the caller:
 * custody__event__free_unpacked), else NULL.
 */
static const char *check_signed(const char *serial, const Custody__HistoryEntry *e,
				Custody__Event **ev_out)
{
	const Custody__SignedEnvelope *env = e->envelope;
	uint8_t id[ID_BYTES];
	Custody__Event *ev;
	int rc;

	*ev_out = NULL;
	if (env == NULL)
		return "no signed envelope";
	rc = envelope_verify(ENVELOPE_EVENT, env);
	if (rc == CU_ERR_INVALID)
		return "malformed envelope";
	if (rc != CU_OK)
		return "signature does not verify";
	envelope_id(env->body.data, env->body.len, id);
	if (e->event_id.len != ID_BYTES || memcmp(e->event_id.data, id, ID_BYTES) != 0)
		return "event id is not the SHA-256 of the signed body";
	ev = custody__event__unpack(NULL, env->body.len, env->body.data);
	if (ev == NULL)
		return "the signed body is not an Event";
	*ev_out = ev;
	if (ev->type != e->type || strcmp(ev->actor, e->actor) != 0 ||
	    ev->occurred_at_ms != e->occurred_at_ms ||
	    (ev->facility[0] != '\0' && strcmp(ev->facility, e->facility) != 0))
		return "the entry's fields differ from the signed event";
	return check_ref(serial, e, ev);
}

/*
 * Checks that an own event links to the previous own event, then makes it
 * the previous one. A bad entry still moves the chain on, so only the
 * entry that is wrong is flagged, not every one after it.
 */
static const char *check_chain(const Custody__HistoryEntry *e, struct chain *ch)
{
	const char *problem = NULL;

	if (ch->have_last) {
		if (e->prev.len != ID_BYTES || memcmp(e->prev.data, ch->last, ID_BYTES) != 0)
			problem = "chain broken: prev is not the device's previous event";
	} else if (ch->from_start && e->prev.len != 0) {
		problem = "chain broken: the first event has a prev";
	}
	ch->have_last = e->event_id.len == ID_BYTES;
	if (ch->have_last)
		memcpy(ch->last, e->event_id.data, ID_BYTES);
	ch->from_start = false;
	return problem;
}

/* Verifies entry e of serial: signed material, then (own events) the chain. */
static const char *verify_entry(const char *serial, const Custody__HistoryEntry *e,
				struct chain *ch, Custody__Event **ev_out)
{
	const char *problem = check_signed(serial, e, ev_out);
	const char *chain_problem = NULL;

	if (e->via[0] == '\0')
		chain_problem = check_chain(e, ch);
	return problem != NULL ? problem : chain_problem;
}

/* Writes one entry as JSON, with its verdict and decoded event. */
static void entry_json(struct out_json *j, const Custody__HistoryEntry *e, const Custody__Event *ev,
		       const char *problem)
{
	out_json_begin_object(j);
	out_json_kuint(j, "seq", e->seq);
	out_json_kid(j, "event_id", &e->event_id);
	out_json_kenum(j, "type", &custody__event_type__descriptor, e->type);
	out_json_kstr(j, "actor", e->actor);
	out_json_ktime(j, "occurred_at", e->occurred_at_ms);
	out_json_ktime(j, "recorded_at", e->recorded_at_ms);
	out_json_kstr(j, "facility", e->facility);
	out_json_kid(j, "prev", &e->prev);
	out_json_kstr(j, "via", e->via);
	out_json_kbool(j, "verified", problem == NULL);
	out_json_key(j, "problem");
	if (problem != NULL)
		out_json_string(j, problem);
	else
		out_json_null(j);
	out_json_key(j, "envelope");
	if (e->envelope != NULL) {
		out_json_begin_object(j);
		out_json_khex(j, "body", &e->envelope->body);
		out_json_khex(j, "signer", &e->envelope->signer);
		out_json_khex(j, "sig", &e->envelope->sig);
		out_json_end_object(j);
	} else {
		out_json_null(j);
	}
	out_json_key(j, "event");
	if (ev != NULL)
		event_fmt_json(j, ev);
	else
		out_json_null(j);
	out_json_end_object(j);
}

/* Adds one entry as a table row. */
static void entry_row(struct out_table *t, const char *serial, const Custody__HistoryEntry *e,
		      const Custody__Event *ev, const char *problem)
{
	char seq[24], when[CODEC_TIME_MAX], id[OUT_ID_TEXT], prev[OUT_ID_TEXT];
	char detail[DETAIL_MAX] = "";
	const char *cells[9] = {
	    seq,
	    when,
	    enum_name(&custody__event_type__descriptor, e->type),
	    e->actor,
	    e->facility[0] != '\0' ? e->facility : "-",
	    out_short_id(&e->event_id, id),
	    out_short_id(&e->prev, prev),
	    e->via[0] != '\0' ? e->via : "-",
	    detail,
	};

	snprintf(seq, sizeof(seq), "%llu", (unsigned long long)e->seq);
	out_time(e->occurred_at_ms, when);
	if (problem != NULL)
		snprintf(detail, sizeof(detail), "!! INVALID: %s", problem);
	else if (ev != NULL)
		event_fmt_detail(ev, e->via[0] != '\0' ? e->via : serial, detail, sizeof(detail));
	out_table_add(t, cells);
}

/*
 * Verifies every entry of every page and adds it to the table t or the
 * JSON array j (one of them is NULL). Returns the number of bad entries.
 */
static size_t render(const char *serial, const struct ctl_pages *p, bool from_start,
		     struct out_table *t, struct out_json *j)
{
	struct chain ch = {.from_start = from_start};
	char id[OUT_ID_TEXT];
	size_t bad = 0;

	for (size_t i = 0; i < p->n; i++) {
		const Custody__HistoryResult *h = p->resp[i]->history;

		for (size_t k = 0; k < h->n_entries; k++) {
			const Custody__HistoryEntry *e = h->entries[k];
			Custody__Event *ev = NULL;
			const char *problem = verify_entry(serial, e, &ch, &ev);

			if (problem != NULL) {
				bad++;
				ctl_note("custodyctl: history entry seq %llu (event %s) FAILED "
					 "verification: %s",
					 (unsigned long long)e->seq, out_id(&e->event_id, id),
					 problem);
			}
			if (j != NULL)
				entry_json(j, e, ev, problem);
			else
				entry_row(t, serial, e, ev, problem);
			custody__event__free_unpacked(ev, NULL);
		}
	}
	return bad;
}

/* Number of entries over all pages of p (borrowed). */
static size_t count_entries(const struct ctl_pages *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += p->resp[i]->history->n_entries;
	return n;
}

/* Prints the pages as JSON or a table; *bad gets the failed entries. */
static int print_pages(struct ctl *ctl, const struct history_opts *o, const struct ctl_pages *p,
		       size_t *bad)
{
	static const char *const headers[] = {"SEQ",   "TIME", "TYPE", "ACTOR", "FACILITY",
					      "EVENT", "PREV", "VIA",  "DETAIL"};
	const Custody__HistoryResult *last = p->resp[p->n - 1]->history;
	struct out_table *t = NULL;
	struct out_json j;
	int rc;

	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kstr(&j, "serial", o->serial);
		out_json_key(&j, "entries");
		out_json_begin_array(&j);
		*bad = render(o->serial, p, o->after_seq == 0, NULL, &j);
		out_json_end_array(&j);
		out_json_kbool(&j, "more", last->more);
		out_json_end_object(&j);
		return CU_OK;
	}
	rc = out_table_new(9, headers, &t);
	if (rc != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	out_table_align_right(t, 0);
	*bad = render(o->serial, p, o->after_seq == 0, t, NULL);
	rc = out_table_print(t, stdout);
	out_table_free(t);
	if (rc != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	if (last->more && last->n_entries > 0)
		printf("(more: --after %llu, or --all)\n",
		       (unsigned long long)last->entries[last->n_entries - 1]->seq);
	return CU_OK;
}

int cmd_history(struct ctl *ctl, int argc, char **argv)
{
	struct history_opts o = {0};
	struct ctl_pages p = {0};
	size_t bad = 0;
	int rc = parse_opts(ctl, argc, argv, &o);

	if (rc != CU_OK)
		return rc;
	rc = fetch_pages(ctl, &o, &p);
	if (rc == CU_OK)
		rc = print_pages(ctl, &o, &p, &bad);
	if (rc == CU_OK && bad > 0) {
		ctl_note("custodyctl: %zu of %zu history entries FAILED verification; do not "
			 "trust this history",
			 bad, count_entries(&p));
		ctl_set_status(ctl, CTL_EXIT_SERVER);
		rc = CU_ERR_SIGNATURE;
	}
	ctl_pages_free(&p);
	return rc;
}
