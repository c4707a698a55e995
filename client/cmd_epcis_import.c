/*
 * cmd_epcis_import.c - "import-epcis FILE [--dry-run]": an EPCIS 2.0
 * document turned into custody events signed with --key (docs/epcis.md).
 *
 * Everything is checked before anything is sent:
 *   1. the document is read and every event mapped (epcis_read); one bad
 *      event fails the whole document;
 *   2. every device the document does not register itself is looked up
 *      (pipelined where requests): unknown devices and devices outside
 *      the key's scope fail here, with nothing submitted;
 *   3. in document order, each event gets the key's party as actor and,
 *      for each of its devices, the device's head as prev: the server's
 *      head for its first event, then the id (SHA-256 of the body) of the
 *      document's previous event of that device; each event is then
 *      checked with validate_event.
 * Then the events are signed and submitted one by one, in order. The
 * server can still refuse one (a policy rule, a device registered since):
 * then the events before it are stored, it and those after are not, and
 * the command says exactly that and exits 1.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "codec.h"
#include "enums.h"
#include "envelope.h"
#include "epcis.h"
#include "event_fmt.h"
#include "validate.h"

#define ID_BYTES	ENVELOPE_ID_BYTES
#define PIPELINE_WINDOW 128

/* One device the document names, with its current head as we walk it. */
struct device {
	const char *serial; /* borrowed from the document */
	size_t first_event; /* index of the first event naming it */
	bool known;	    /* has a head (on the server, or registered above) */
	uint8_t head[ID_BYTES];
};

struct import {
	struct ctl *ctl;
	struct epcis_doc *doc;
	size_t n_events;
	struct device *devices; /* sorted by serial */
	size_t n_devices;
	uint8_t (*prevs)[ID_BYTES]; /* storage the events' prev fields point to */
	uint8_t (*ids)[ID_BYTES];   /* id of each event once filled */
	char *actor;		    /* owned: the --key key's party */
	const char **lookup;	    /* serials to ask the server about (where) */
	size_t n_lookup;
	Custody__WhereRequest where;
};

static int nomem(struct ctl *ctl)
{
	return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
}

/* Device references of ev: its devices, then its container if any. */
static size_t ref_count(const Custody__Event *ev)
{
	return ev->n_devices + (ev->container != NULL);
}

static Custody__DeviceRef *ref_at(const Custody__Event *ev, size_t i)
{
	return i < ev->n_devices ? ev->devices[i] : ev->container;
}

static int cmp_device(const void *a, const void *b)
{
	return strcmp(((const struct device *)a)->serial, ((const struct device *)b)->serial);
}

/* By serial, then by first event, so the first of a serial's run is its earliest. */
static int cmp_device_event(const void *a, const void *b)
{
	const struct device *x = a, *y = b;
	int c = strcmp(x->serial, y->serial);

	return c != 0 ? c : (x->first_event > y->first_event) - (x->first_event < y->first_event);
}

static struct device *find_device(struct import *im, const char *serial)
{
	struct device key = {.serial = serial};

	return bsearch(&key, im->devices, im->n_devices, sizeof(key), cmp_device);
}

/* Reads FILE ("-": stdin), at most EPCIS_MAX_DOCUMENT_BYTES, into *data (owned). */
static int read_file(struct ctl *ctl, const char *path, char **data, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *buf = NULL;
	int rc = CU_OK;

	if (f == NULL)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "USAGE", "cannot open %s", path);
	for (;;) {
		char *grown = n == 0 || n == cap ? realloc(buf, n == 0 ? cap : (cap *= 2)) : buf;

		if (grown == NULL) {
			rc = nomem(ctl);
			break;
		}
		buf = grown;
		n += fread(buf + n, 1, cap - n, f);
		if (n > EPCIS_MAX_DOCUMENT_BYTES) {
			rc = ctl_fail(ctl, CTL_EXIT_USAGE, "USAGE", "%s: more than %u bytes", path,
				      EPCIS_MAX_DOCUMENT_BYTES);
			break;
		}
		if (n < cap) {
			if (ferror(f))
				rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "cannot read %s", path);
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (rc != CU_OK) {
		free(buf);
		return rc;
	}
	*data = buf;
	*len = n;
	return CU_OK;
}

/* The distinct devices of the document, sorted, each with its first event. */
static int collect_devices(struct import *im)
{
	size_t total = 0, n = 0;

	for (size_t i = 0; i < im->n_events; i++)
		total += epcis_doc_event(im->doc, i)->n_devices + 1;
	im->devices = calloc(total, sizeof(*im->devices));
	im->prevs = calloc(total, sizeof(*im->prevs));
	im->ids = calloc(im->n_events, sizeof(*im->ids));
	if (im->devices == NULL || im->prevs == NULL || im->ids == NULL)
		return nomem(im->ctl);
	for (size_t i = 0; i < im->n_events; i++) {
		Custody__Event *ev = epcis_doc_event(im->doc, i);

		for (size_t k = 0; k < ref_count(ev); k++) {
			im->devices[n].serial = ref_at(ev, k)->serial;
			im->devices[n].first_event = i;
			n++;
		}
	}
	qsort(im->devices, n, sizeof(*im->devices), cmp_device_event);
	im->n_devices = 0;
	for (size_t i = 0; i < n; i++) {
		if (im->n_devices == 0 ||
		    strcmp(im->devices[im->n_devices - 1].serial, im->devices[i].serial) != 0)
			im->devices[im->n_devices++] = im->devices[i];
	}
	return CU_OK;
}

/* The where requests of the devices the document does not register first. */
static void fill_where(void *arg, size_t i, Custody__Request *req)
{
	struct import *im = arg;

	custody__where_request__init(&im->where);
	im->where.serial = (char *)im->lookup[i];
	req->body_case = CUSTODY__REQUEST__BODY_WHERE;
	req->where = &im->where;
}

static int take_where(void *arg, size_t i, Custody__Response *r)
{
	struct import *im = arg;
	const char *serial = im->lookup[i];
	struct device *d = find_device(im, serial);
	int rc = CU_OK;

	if (r->body_case == CUSTODY__RESPONSE__BODY_ERROR && r->error != NULL) {
		const Custody__Error *e = r->error;
		const char *code = e->code == CUSTODY__ERROR_CODE__NOT_FOUND   ? "NOT_FOUND"
				   : e->code == CUSTODY__ERROR_CODE__FORBIDDEN ? "FORBIDDEN"
									       : NULL;

		rc = code != NULL ? ctl_fail(im->ctl, CTL_EXIT_SERVER, code,
					     "event %zu: device %s: %s; nothing imported",
					     d->first_event + 1, serial, e->message)
				  : ctl_server_error(im->ctl, e);
	} else if (r->body_case != CUSTODY__RESPONSE__BODY_WHERE || r->where == NULL ||
		   r->where->head.len != ID_BYTES) {
		rc = ctl_fail(im->ctl, CTL_EXIT_IO, "PROTOCOL", "%s: unexpected answer to where %s",
			      im->ctl->server, serial);
	} else {
		memcpy(d->head, r->where->head.data, ID_BYTES);
		d->known = true;
	}
	custody__response__free_unpacked(r, NULL);
	return rc;
}

/* Asks the server for the head of every device not registered by the document first. */
static int fetch_heads(struct import *im)
{
	im->lookup = calloc(im->n_devices + 1, sizeof(*im->lookup));
	if (im->lookup == NULL)
		return nomem(im->ctl);
	for (size_t i = 0; i < im->n_devices; i++) {
		struct device *d = &im->devices[i];
		Custody__Event *first = epcis_doc_event(im->doc, d->first_event);

		if (first->type != CUSTODY__EVENT_TYPE__REGISTER)
			im->lookup[im->n_lookup++] = d->serial;
	}
	return ctl_pipeline(im->ctl, im->n_lookup, PIPELINE_WINDOW, fill_where, take_where, im);
}

/* Sets actor and prevs of event i, checks it, and moves its devices' heads to its id. */
static int chain_event(struct import *im, size_t i, size_t *next_prev)
{
	Custody__Event *ev = epcis_doc_event(im->doc, i);
	bool reg = ev->type == CUSTODY__EVENT_TYPE__REGISTER;
	char err[VALIDATE_ERR_MAX];
	uint8_t *body;
	size_t len;

	ev->actor = im->actor;
	for (size_t k = 0; !reg && k < ref_count(ev); k++) {
		Custody__DeviceRef *ref = ref_at(ev, k);
		struct device *d = find_device(im, ref->serial);

		if (!d->known) /* cannot happen: fetch_heads asked for it */
			return ctl_fail(im->ctl, CTL_EXIT_USAGE, "BAD_DOCUMENT",
					"event %zu: no head known for device %s; nothing imported",
					i + 1, ref->serial);
		memcpy(im->prevs[*next_prev], d->head, ID_BYTES);
		ref->prev.data = im->prevs[(*next_prev)++];
		ref->prev.len = ID_BYTES;
	}
	if (validate_event(ev, codec_now_ms(), CTL_MAX_SKEW_MS, err, sizeof(err)) != CU_OK)
		return ctl_fail(im->ctl, CTL_EXIT_USAGE, "BAD_DOCUMENT",
				"event %zu: %s; nothing imported", i + 1, err);
	len = custody__event__get_packed_size(ev);
	body = malloc(len + 1);
	if (body == NULL)
		return nomem(im->ctl);
	custody__event__pack(ev, body);
	envelope_id(body, len, im->ids[i]);
	free(body);
	for (size_t k = 0; k < ref_count(ev); k++) {
		struct device *d = find_device(im, ref_at(ev, k)->serial);

		memcpy(d->head, im->ids[i], ID_BYTES);
		d->known = true;
	}
	return CU_OK;
}

/* Prints what --dry-run would submit: the events as JSON, with their ids. */
static void print_dry_run(struct import *im)
{
	struct out_json j;

	out_json_init(&j, stdout);
	out_json_begin_object(&j);
	out_json_kbool(&j, "dry_run", true);
	out_json_key(&j, "events");
	out_json_begin_array(&j);
	for (size_t i = 0; i < im->n_events; i++) {
		ProtobufCBinaryData id = {ID_BYTES, im->ids[i]};

		out_json_begin_object(&j);
		out_json_kstr(&j, "epcis_event_id", epcis_doc_event_name(im->doc, i));
		out_json_kid(&j, "event_id", &id);
		out_json_key(&j, "event");
		event_fmt_json(&j, epcis_doc_event(im->doc, i));
		out_json_end_object(&j);
	}
	out_json_end_array(&j);
	out_json_end_object(&j);
}

/* Signs and submits event i; checks the id the server acknowledges. */
static int submit_one(struct import *im, const struct cu_key *key, size_t i, uint64_t *seq,
		      bool *duplicate)
{
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__Response *r = NULL;
	int rc = envelope_seal(ENVELOPE_EVENT, key, &epcis_doc_event(im->doc, i)->base, &env);

	if (rc != CU_OK)
		return ctl_fail(im->ctl, CTL_EXIT_IO, "IO", "cannot sign: %s", cu_strerror(rc));
	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = &env;
	rc = ctl_call(im->ctl, &req, CUSTODY__RESPONSE__BODY_SUBMIT, &r);
	if (rc == CU_OK && (r->submit->event_id.len != ID_BYTES ||
			    memcmp(r->submit->event_id.data, im->ids[i], ID_BYTES) != 0))
		rc = ctl_fail(im->ctl, CTL_EXIT_SERVER, "PROTOCOL",
			      "the server acknowledged another event id than the one sent");
	if (rc == CU_OK) {
		*seq = r->submit->seq;
		*duplicate = r->submit->duplicate;
	}
	custody__response__free_unpacked(r, NULL);
	envelope_clear(&env);
	return rc;
}

/* Says which of n events are stored when event i (from 0) was refused. */
static void report_partial(size_t n, size_t i)
{
	char stored[64], rest[64] = "";

	if (i == 0)
		snprintf(stored, sizeof(stored), "none of the %zu events is stored", n);
	else
		snprintf(stored, sizeof(stored), "events 1-%zu of %zu are stored", i, n);
	if (i + 2 <= n)
		snprintf(rest, sizeof(rest), "; events %zu-%zu were not submitted", i + 2, n);
	ctl_note("custodyctl: import-epcis: %s; event %zu was refused%s", stored, i + 1, rest);
}

/* Submits every event in order; on a refusal says what was stored. */
static int submit_all(struct import *im, const struct cu_key *key)
{
	char hex[OUT_ID_TEXT];

	for (size_t i = 0; i < im->n_events; i++) {
		ProtobufCBinaryData id = {ID_BYTES, im->ids[i]};
		uint64_t seq = 0;
		bool duplicate = false;

		if (submit_one(im, key, i, &seq, &duplicate) != CU_OK) {
			report_partial(im->n_events, i);
			return CU_ERR_INVALID;
		}
		if (!im->ctl->json)
			printf("event %zu: %s stored as %s seq %llu%s\n", i + 1,
			       enum_name(&custody__event_type__descriptor,
					 epcis_doc_event(im->doc, i)->type),
			       out_id(&id, hex), (unsigned long long)seq,
			       duplicate ? " (already recorded)" : "");
	}
	if (im->ctl->json) {
		struct out_json j;

		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kuint(&j, "imported", im->n_events);
		out_json_key(&j, "event_ids");
		out_json_begin_array(&j);
		for (size_t i = 0; i < im->n_events; i++) {
			ProtobufCBinaryData id = {ID_BYTES, im->ids[i]};

			out_json_id(&j, &id);
		}
		out_json_end_array(&j);
		out_json_end_object(&j);
	} else {
		printf("imported %zu events\n", im->n_events);
	}
	return CU_OK;
}

/* Checks the whole document against the server's heads, then submits (or shows) it. */
static int run_import(struct import *im, const struct cu_key *key, bool dry_run)
{
	size_t next_prev = 0;
	int rc = ctl_key_party(im->ctl, key->pk, &im->actor);

	if (rc == CU_OK)
		rc = collect_devices(im);
	if (rc == CU_OK)
		rc = fetch_heads(im);
	for (size_t i = 0; rc == CU_OK && i < im->n_events; i++)
		rc = chain_event(im, i, &next_prev);
	if (rc != CU_OK)
		return rc;
	if (dry_run) {
		print_dry_run(im);
		return CU_OK;
	}
	return submit_all(im, key);
}

static const struct option import_options[] = {
    {"dry-run", no_argument, NULL, 'D'},
    {NULL, 0, NULL, 0},
};

int cmd_import_epcis(struct ctl *ctl, int argc, char **argv)
{
	struct import im = {.ctl = ctl};
	struct cu_key *key = NULL;
	char err[VALIDATE_ERR_MAX + 200];
	bool dry_run = false;
	char *data = NULL;
	size_t len = 0;
	int c, rc = CU_OK;

	while (rc == CU_OK && (c = getopt_long(argc, argv, ":", import_options, NULL)) != -1) {
		if (c == 'D')
			dry_run = true;
		else
			rc = ctl_bad_option(ctl, import_options, argv, c);
	}
	if (rc == CU_OK && optind + 1 != argc)
		rc = ctl_usage_error(ctl, "import-epcis: give exactly one FILE (- for stdin)");
	if (rc == CU_OK)
		rc = read_file(ctl, argv[optind], &data, &len);
	if (rc == CU_OK && epcis_read(data, len, &im.doc, err, sizeof(err)) != CU_OK)
		rc = ctl_fail(ctl, CTL_EXIT_USAGE, "BAD_DOCUMENT", "%s: %s; nothing imported",
			      argv[optind], err);
	if (rc == CU_OK)
		rc = ctl_load_key(ctl, &key);
	if (rc == CU_OK) {
		im.n_events = epcis_doc_count(im.doc);
		rc = run_import(&im, key, dry_run);
	}
	key_free(key);
	free(im.actor);
	free(im.devices);
	free(im.prevs);
	free(im.ids);
	free(im.lookup);
	epcis_doc_free(im.doc);
	free(data);
	return rc;
}
