/*
 * cmd_prove.c - "prove --device SERIAL | --shipment ID | --facility ID -o
 * FILE": writes a proof bundle (docs/bundle.md) that custodyctl verify
 * checks offline.
 *
 * First a checkpoint: the latest one cosigned by --min-cosignatures
 * witnesses (default 1; 0 takes the latest even if nobody cosigned it),
 * kept with the log's signature line only, its cosignatures beside it.
 * Then rounds until the bundle is whole:
 *   1. the histories of the devices wanted (at first the subject's: the
 *      device, the shipment's items or the facility's inventory);
 *   2. each new event's entry and inclusion proof in the checkpoint's tree
 *      (events logged after it are left out: the bundle ends there);
 *   3. the registrations of the new events' signer keys and facilities, and
 *      every logged change (rotation, revocation) of those keys;
 *   4. the bundle is built and checked with bundle_verify, the code verify
 *      runs, which lists the devices whose chains the bundle must carry
 *      whole: the subject's, the containers that held them, and for a
 *      facility every device the bundle registers. Those not fetched yet
 *      make the next round.
 * Each round's requests are pipelined, so a device with thousands of
 * events costs a few round trips, not thousands. The file is written only
 * once the bundle verifies (with the log's key; witnesses are verify's
 * business), atomically, mode 0644.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "cmd.h"
#include "codec.h"
#include "out.h"

#define ID_BYTES       ENVELOPE_ID_BYTES
#define HISTORY_PAGE   1000
#define HISTORY_WINDOW 16
#define PROOF_WINDOW   128
/* Rounds of containers inside containers before giving up. */
#define MAX_ROUNDS 64

/* A device whose history the bundle carries. */
struct wanted {
	char *serial; /* owned */
	bool fetched;
};

/* An entry of the bundle: an event, or the registration of a key or facility. */
struct item {
	uint8_t id[ID_BYTES];	 /* events: the event id; keys: the key */
	char *facility;		 /* facilities: the id (owned) */
	Custody__Response *incl; /* owned; NULL if left out */
};

/* The n-th logged change (rotation, revocation) of a signer's key. */
struct change {
	uint8_t key[KEY_PUBLIC_BYTES];
	uint32_t n;		 /* from 1 */
	Custody__Response *incl; /* owned; NULL if there is none (in the tree) */
};

/* A sorted set of items of one kind. */
struct items {
	struct item *v;
	size_t n, cap;
	size_t n_old; /* those asked for in earlier rounds */
};

struct prove {
	struct ctl *ctl;
	const char *device, *facility, *out_path;
	uint8_t shipment[ID_BYTES];
	bool by_shipment;
	uint64_t min_cosignatures;

	Custody__Response *checkpoint; /* owned */
	struct note_verifier log_v;
	char *note; /* the checkpoint with the log's signature only (owned) */
	uint64_t size;

	struct wanted *devices; /* sorted by serial */
	size_t n_devices, cap_devices;
	struct items events, keys, facilities;
	struct change *changes; /* the signer keys' logged changes, in request order */
	size_t n_changes, cap_changes;
	size_t n_later; /* events left out: logged after the checkpoint */
};

static const struct option prove_opts[] = {
    {"device", required_argument, NULL, 'd'},	{"shipment", required_argument, NULL, 's'},
    {"facility", required_argument, NULL, 'f'}, {"min-cosignatures", required_argument, NULL, 'm'},
    {"output", required_argument, NULL, 'o'},	{NULL, 0, NULL, 0},
};

/* Parses argv (borrowed) into p. */
static int parse_opts(struct ctl *ctl, int argc, char **argv, struct prove *p)
{
	const char *shipment = NULL;
	int c, rc = CU_OK;

	p->min_cosignatures = 1;
	while (rc == CU_OK && (c = getopt_long(argc, argv, ":o:", prove_opts, NULL)) != -1) {
		if (c == 'd')
			p->device = optarg;
		else if (c == 's')
			shipment = optarg;
		else if (c == 'f')
			p->facility = optarg;
		else if (c == 'o')
			p->out_path = optarg;
		else if (c == 'm')
			rc = ctl_parse_uint(ctl, "--min-cosignatures", optarg, 0, 100,
					    &p->min_cosignatures);
		else
			return ctl_bad_option(ctl, prove_opts, argv, c);
	}
	if (rc != CU_OK)
		return rc;
	if (optind != argc)
		return ctl_usage_error(ctl, "prove: unexpected argument \"%s\"", argv[optind]);
	if ((p->device != NULL) + (shipment != NULL) + (p->facility != NULL) != 1)
		return ctl_usage_error(ctl,
				       "prove: give one of --device, --shipment and --facility");
	if (shipment != NULL && codec_hex_decode(shipment, p->shipment, ID_BYTES) != CU_OK)
		return ctl_usage_error(ctl, "--shipment: an event id is 64 hex digits");
	p->by_shipment = shipment != NULL;
	return ctl_require(ctl, p->out_path != NULL, "-o FILE");
}

/* ---- sets --------------------------------------------------------------------- */

static int cmp_wanted(const void *a, const void *b)
{
	return strcmp(((const struct wanted *)a)->serial, ((const struct wanted *)b)->serial);
}

static int cmp_item_id(const void *a, const void *b)
{
	return memcmp(((const struct item *)a)->id, ((const struct item *)b)->id, ID_BYTES);
}

static int cmp_item_facility(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->facility, ((const struct item *)b)->facility);
}

/*
 * Makes room for one more element in v, which holds n of elem bytes in
 * room for *cap: returns v or its reallocation, or NULL (v unchanged).
 */
static void *grow(void *v, size_t n, size_t *cap, size_t elem)
{
	size_t want = *cap ? 2 * *cap : 64;

	if (n < *cap)
		return v;
	v = realloc(v, want * elem);
	if (v != NULL)
		*cap = want;
	return v;
}

/* Adds serial (copied) to the devices wanted unless it is there. */
static int want_device(struct prove *p, const char *serial, size_t n_sorted)
{
	struct wanted key = {(char *)serial, false}, *v;

	if (n_sorted > 0 && bsearch(&key, p->devices, n_sorted, sizeof(key), cmp_wanted) != NULL)
		return CU_OK;
	v = grow(p->devices, p->n_devices, &p->cap_devices, sizeof(*v));
	if (v == NULL)
		return CU_ERR_NOMEM;
	p->devices = v;
	key.serial = strdup(serial);
	if (key.serial == NULL)
		return CU_ERR_NOMEM;
	p->devices[p->n_devices++] = key;
	return CU_OK;
}

/* Sorts the devices after additions and drops the ones added twice. */
static void sort_devices(struct prove *p)
{
	size_t n = 0;

	if (p->n_devices > 1)
		qsort(p->devices, p->n_devices, sizeof(*p->devices), cmp_wanted);
	for (size_t i = 0; i < p->n_devices; i++) {
		if (n > 0 && strcmp(p->devices[n - 1].serial, p->devices[i].serial) == 0) {
			p->devices[n - 1].fetched |= p->devices[i].fetched;
			free(p->devices[i].serial);
			continue;
		}
		p->devices[n++] = p->devices[i];
	}
	p->n_devices = n;
}

/*
 * Adds an item (the id, or the facility copied) to s unless s has it:
 * s->v[0..s->n_old) is sorted, later additions are not yet.
 */
static int add_item(struct items *s, const uint8_t *id, const char *facility)
{
	struct item key = {{0}, (char *)facility, NULL}, *v;
	int (*cmp)(const void *, const void *) = facility ? cmp_item_facility : cmp_item_id;

	if (id != NULL)
		memcpy(key.id, id, ID_BYTES);
	if (s->n_old > 0 && bsearch(&key, s->v, s->n_old, sizeof(key), cmp) != NULL)
		return CU_OK;
	v = grow(s->v, s->n, &s->cap, sizeof(*v));
	if (v == NULL)
		return CU_ERR_NOMEM;
	s->v = v;
	if (facility != NULL && (key.facility = strdup(facility)) == NULL)
		return CU_ERR_NOMEM;
	s->v[s->n++] = key;
	return CU_OK;
}

/* Sorts the items added this round after the old ones and drops repeats. */
static void sort_new_items(struct items *s, bool by_facility)
{
	int (*cmp)(const void *, const void *) = by_facility ? cmp_item_facility : cmp_item_id;
	size_t n = s->n_old;

	if (s->n > s->n_old)
		qsort(s->v + s->n_old, s->n - s->n_old, sizeof(*s->v), cmp);
	for (size_t i = s->n_old; i < s->n; i++) {
		if (n > s->n_old && cmp(&s->v[n - 1], &s->v[i]) == 0) {
			free(s->v[i].facility);
			continue;
		}
		s->v[n++] = s->v[i];
	}
	s->n = n;
}

/* Makes every item old again: one sorted array. */
static void settle_items(struct items *s, bool by_facility)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), by_facility ? cmp_item_facility : cmp_item_id);
	s->n_old = s->n;
}

static void items_free(struct items *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].facility);
		custody__response__free_unpacked(s->v[i].incl, NULL);
	}
	free(s->v);
}

static int nomem(struct ctl *ctl)
{
	return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
}

/* Checks that r (borrowed) has body want; reports an error answer. */
static int expect_body(struct ctl *ctl, const Custody__Response *r,
		       Custody__Response__BodyCase want)
{
	if (r->body_case == CUSTODY__RESPONSE__BODY_ERROR && r->error != NULL)
		return ctl_server_error(ctl, r->error);
	if (r->body_case != want)
		return ctl_fail(ctl, CTL_EXIT_IO, "PROTOCOL",
				"%s: unexpected response (body %d, expected %d)", ctl->server,
				(int)r->body_case, (int)want);
	return CU_OK;
}

/* ---- the checkpoint ----------------------------------------------------------- */

/* Fills the log key and checkpoint requests (two, pipelined). */
struct head_round {
	struct prove *p;
	Custody__LogKeyRequest lk;
	Custody__CheckpointRequest cp;
	Custody__Response *log_key;
};

static void fill_head(void *arg, size_t i, Custody__Request *req)
{
	struct head_round *h = arg;

	if (i == 0) {
		req->body_case = CUSTODY__REQUEST__BODY_LOG_KEY;
		req->log_key = &h->lk;
	} else {
		h->cp.min_cosignatures = (uint32_t)h->p->min_cosignatures;
		req->body_case = CUSTODY__REQUEST__BODY_CHECKPOINT;
		req->checkpoint = &h->cp;
	}
}

static int take_head(void *arg, size_t i, Custody__Response *r)
{
	struct head_round *h = arg;
	int rc = expect_body(h->p->ctl, r,
			     i == 0 ? CUSTODY__RESPONSE__BODY_LOG_KEY
				    : CUSTODY__RESPONSE__BODY_CHECKPOINT);

	if (rc != CU_OK)
		custody__response__free_unpacked(r, NULL);
	else if (i == 0)
		h->log_key = r;
	else
		h->p->checkpoint = r;
	return rc;
}

/* Keeps the checkpoint's note with the log's signature line only. */
static int strip_note(struct prove *p)
{
	const char *note = p->checkpoint->checkpoint->checkpoint;
	size_t len = strlen(note), out_len = 0;
	struct note_opened *op = malloc(sizeof(*op));
	struct note_checkpoint cp;
	char err[256] = "";
	int rc = CU_ERR_NOMEM;

	p->note = malloc(len + 1);
	if (op != NULL && p->note != NULL) {
		rc = note_open(note, len, &p->log_v, 1, op, err, sizeof(err));
		if (rc == CU_OK)
			rc = note_only_signed_by(op, &p->log_v, p->note, len + 1, &out_len);
		if (rc == CU_OK)
			rc = note_checkpoint_parse(op->text, op->text_len, &cp, err, sizeof(err));
	}
	free(op);
	if (rc == CU_ERR_NOMEM)
		return nomem(p->ctl);
	if (rc != CU_OK || cp.size != p->checkpoint->checkpoint->tree_size)
		return ctl_fail(p->ctl, CTL_EXIT_SERVER, "PROTOCOL",
				"%s: the checkpoint does not verify with the log's key: %s",
				p->ctl->server, err[0] ? err : "its size is not the size served");
	p->size = cp.size;
	return CU_OK;
}

/* Asks for the log's key and the checkpoint the bundle is proven against. */
static int fetch_checkpoint(struct prove *p)
{
	struct head_round h = {p, CUSTODY__LOG_KEY_REQUEST__INIT, CUSTODY__CHECKPOINT_REQUEST__INIT,
			       NULL};
	char err[256] = "";
	int rc = ctl_pipeline(p->ctl, 2, 2, fill_head, take_head, &h);

	if (rc == CU_OK && note_verifier_parse(h.log_key->log_key->verifier_key, &p->log_v, err,
					       sizeof(err)) != CU_OK)
		rc = ctl_fail(p->ctl, CTL_EXIT_SERVER, "PROTOCOL", "%s: the log key: %s",
			      p->ctl->server, err);
	custody__response__free_unpacked(h.log_key, NULL);
	return rc == CU_OK ? strip_note(p) : rc;
}

/* ---- the subject's devices ------------------------------------------------------ */

/* The devices a shipment carried: its items, contents included. */
static int shipment_devices(struct prove *p)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__ShipmentRequest sr = CUSTODY__SHIPMENT_REQUEST__INIT;
	Custody__Response *r = NULL;
	int rc;

	sr.event_id.data = p->shipment;
	sr.event_id.len = ID_BYTES;
	req.body_case = CUSTODY__REQUEST__BODY_SHIPMENT;
	req.shipment = &sr;
	rc = ctl_call(p->ctl, &req, CUSTODY__RESPONSE__BODY_SHIPMENT, &r);
	for (size_t i = 0; rc == CU_OK && i < r->shipment->n_items; i++)
		rc = want_device(p, r->shipment->items[i]->serial, 0);
	custody__response__free_unpacked(r, NULL);
	return rc == CU_ERR_NOMEM ? nomem(p->ctl) : rc;
}

static int want_facility_device(void *arg, const char *serial)
{
	return want_device(arg, serial, 0);
}

/* The devices whose last known facility is the subject facility. */
static int facility_devices(struct prove *p)
{
	int rc = ctl_facility_devices(p->ctl, p->facility, want_facility_device, p);

	return rc == CU_ERR_NOMEM ? nomem(p->ctl) : rc;
}

/* ---- histories ------------------------------------------------------------------ */

/* One round of history requests: a page for each device still paging. */
struct history_round {
	struct prove *p;
	size_t *dev;	 /* positions in p->devices of the devices paging */
	uint64_t *after; /* their next page starts after this seq */
	size_t n;
	size_t *next_dev; /* the same for the round after this one */
	uint64_t *next_after;
	size_t n_next;
	Custody__HistoryRequest h;
};

static void fill_history(void *arg, size_t i, Custody__Request *req)
{
	struct history_round *hr = arg;

	custody__history_request__init(&hr->h);
	hr->h.serial = hr->p->devices[hr->dev[i]].serial;
	hr->h.after_seq = hr->after[i];
	hr->h.limit = HISTORY_PAGE;
	req->body_case = CUSTODY__REQUEST__BODY_HISTORY;
	req->history = &hr->h;
}

/* Notes each event of a history page; a device with more pages goes on. */
static int take_history(void *arg, size_t i, Custody__Response *r)
{
	struct history_round *hr = arg;
	struct prove *p = hr->p;
	const Custody__HistoryResult *h = r->history;
	int rc = expect_body(p->ctl, r, CUSTODY__RESPONSE__BODY_HISTORY);

	for (size_t k = 0; rc == CU_OK && k < h->n_entries; k++) {
		if (h->entries[k]->event_id.len != ID_BYTES)
			rc = ctl_fail(p->ctl, CTL_EXIT_SERVER, "PROTOCOL",
				      "%s: a history entry without an event id", p->ctl->server);
		else if (add_item(&p->events, h->entries[k]->event_id.data, NULL) != CU_OK)
			rc = nomem(p->ctl);
	}
	if (rc == CU_OK && h->more && h->n_entries > 0) {
		if (h->entries[h->n_entries - 1]->seq <= hr->after[i])
			rc = ctl_fail(p->ctl, CTL_EXIT_SERVER, "PROTOCOL",
				      "the server's history pages do not advance");
		hr->next_dev[hr->n_next] = hr->dev[i];
		hr->next_after[hr->n_next++] = h->entries[h->n_entries - 1]->seq;
	}
	custody__response__free_unpacked(r, NULL);
	return rc;
}

/* Fetches the whole history of every device wanted but not fetched yet. */
static int fetch_histories(struct prove *p, size_t *n_fetched)
{
	size_t cap = p->n_devices + 1;
	struct history_round hr = {.p = p};
	size_t *dev = malloc(2 * cap * sizeof(*dev));
	uint64_t *after = calloc(2 * cap, sizeof(*after));
	int rc = dev != NULL && after != NULL ? CU_OK : nomem(p->ctl);

	hr.dev = dev;
	hr.after = after;
	for (size_t i = 0; rc == CU_OK && i < p->n_devices; i++) {
		if (!p->devices[i].fetched)
			hr.dev[hr.n++] = i;
		p->devices[i].fetched = true;
	}
	*n_fetched = hr.n;
	for (int half = 1; rc == CU_OK && hr.n > 0; half ^= 1) {
		hr.next_dev = dev + half * cap;
		hr.next_after = after + half * cap;
		hr.n_next = 0;
		rc = ctl_pipeline(p->ctl, hr.n, HISTORY_WINDOW, fill_history, take_history, &hr);
		hr.dev = hr.next_dev;
		hr.after = hr.next_after;
		hr.n = hr.n_next;
	}
	free(dev);
	free(after);
	return rc;
}

/* ---- inclusion proofs -------------------------------------------------------------- */

enum item_kind {
	ITEM_EVENT,
	ITEM_KEY,
	ITEM_FACILITY,
};

/* One round of inclusion requests for the new items of one kind. */
struct proof_round {
	struct prove *p;
	struct items *s;
	enum item_kind kind;
	Custody__InclusionRequest in;
};

static void fill_proof(void *arg, size_t i, Custody__Request *req)
{
	struct proof_round *pr = arg;
	struct item *it = &pr->s->v[pr->s->n_old + i];

	custody__inclusion_request__init(&pr->in);
	pr->in.tree_size = pr->p->size;
	if (pr->kind == ITEM_FACILITY) {
		pr->in.facility = it->facility;
	} else if (pr->kind == ITEM_KEY) {
		pr->in.key.data = it->id;
		pr->in.key.len = KEY_PUBLIC_BYTES;
	} else {
		pr->in.event_id.data = it->id;
		pr->in.event_id.len = ID_BYTES;
	}
	req->body_case = CUSTODY__REQUEST__BODY_INCLUSION;
	req->inclusion = &pr->in;
}

/*
 * Keeps the entry and proof of item i. Two refusals are expected: an
 * event logged after the checkpoint (BAD_REQUEST: not in that tree) is
 * left out, and a key with no registration is a device's own key (given
 * at its REGISTER), which verify checks there.
 */
static int take_proof(void *arg, size_t i, Custody__Response *r)
{
	struct proof_round *pr = arg;
	struct prove *p = pr->p;
	const Custody__Error *err = r->body_case == CUSTODY__RESPONSE__BODY_ERROR ? r->error : NULL;
	int rc = CU_OK;

	if (err != NULL && pr->kind == ITEM_EVENT &&
	    err->code == CUSTODY__ERROR_CODE__BAD_REQUEST) {
		p->n_later++;
	} else if (err == NULL || pr->kind != ITEM_KEY ||
		   err->code != CUSTODY__ERROR_CODE__NOT_FOUND) {
		rc = expect_body(p->ctl, r, CUSTODY__RESPONSE__BODY_INCLUSION);
		if (rc == CU_OK &&
		    (r->inclusion->tree_size != p->size || r->inclusion->index >= p->size))
			rc = ctl_fail(p->ctl, CTL_EXIT_SERVER, "PROTOCOL",
				      "%s: an inclusion proof for another tree", p->ctl->server);
		if (rc == CU_OK) {
			pr->s->v[pr->s->n_old + i].incl = r;
			return CU_OK;
		}
	}
	custody__response__free_unpacked(r, NULL);
	return rc;
}

/* Asks for the entries and proofs of the items of s new this round. */
static int fetch_proofs(struct prove *p, struct items *s, enum item_kind kind)
{
	struct proof_round pr = {p, s, kind, CUSTODY__INCLUSION_REQUEST__INIT};

	sort_new_items(s, kind == ITEM_FACILITY);
	return ctl_pipeline(p->ctl, s->n - s->n_old, PROOF_WINDOW, fill_proof, take_proof, &pr);
}

/* Notes the signer and the facilities of the event logged as r's entry. */
static int note_registrations(struct prove *p, const Custody__InclusionResult *in)
{
	Custody__LogEntry *e = custody__log_entry__unpack(NULL, in->entry.len, in->entry.data);
	const Custody__SignedEnvelope *env = e != NULL ? e->envelope : NULL;
	Custody__Event *ev = NULL;
	int rc = CU_OK;

	if (env != NULL && env->signer.len == KEY_PUBLIC_BYTES)
		ev = custody__event__unpack(NULL, env->body.len, env->body.data);
	if (ev == NULL)
		rc = ctl_fail(p->ctl, CTL_EXIT_SERVER, "PROTOCOL",
			      "%s: log entry %llu is not a signed event", p->ctl->server,
			      (unsigned long long)in->index);
	if (rc == CU_OK)
		rc = add_item(&p->keys, env->signer.data, NULL);
	if (rc == CU_OK && ev->facility[0] != '\0')
		rc = add_item(&p->facilities, NULL, ev->facility);
	if (rc == CU_OK && ev->to_facility[0] != '\0')
		rc = add_item(&p->facilities, NULL, ev->to_facility);
	custody__event__free_unpacked(ev, NULL);
	custody__log_entry__free_unpacked(e, NULL);
	return rc == CU_ERR_NOMEM ? nomem(p->ctl) : rc;
}

/* ---- key changes ----------------------------------------------------------------- */

/* Asks for change n of key next. */
static int want_change(struct prove *p, const uint8_t *key, uint32_t n)
{
	struct change *v = grow(p->changes, p->n_changes, &p->cap_changes, sizeof(*v));

	if (v == NULL)
		return nomem(p->ctl);
	p->changes = v;
	memcpy(v[p->n_changes].key, key, KEY_PUBLIC_BYTES);
	v[p->n_changes].n = n;
	v[p->n_changes++].incl = NULL;
	return CU_OK;
}

/* One round of change requests: changes [first, first + n). */
struct change_round {
	struct prove *p;
	size_t first;
	Custody__InclusionRequest in;
};

static void fill_change(void *arg, size_t i, Custody__Request *req)
{
	struct change_round *cr = arg;
	struct change *c = &cr->p->changes[cr->first + i];

	custody__inclusion_request__init(&cr->in);
	cr->in.tree_size = cr->p->size;
	cr->in.key.data = c->key;
	cr->in.key.len = KEY_PUBLIC_BYTES;
	cr->in.key_change = c->n;
	req->body_case = CUSTODY__REQUEST__BODY_INCLUSION;
	req->inclusion = &cr->in;
}

/*
 * Keeps the entry and proof of a change. NOT_FOUND (no further change)
 * and BAD_REQUEST (logged after the checkpoint) end the key's changes.
 */
static int take_change(void *arg, size_t i, Custody__Response *r)
{
	struct change_round *cr = arg;
	struct prove *p = cr->p;
	const Custody__Error *err = r->body_case == CUSTODY__RESPONSE__BODY_ERROR ? r->error : NULL;
	int rc = CU_OK;

	if (err == NULL || (err->code != CUSTODY__ERROR_CODE__NOT_FOUND &&
			    err->code != CUSTODY__ERROR_CODE__BAD_REQUEST)) {
		rc = expect_body(p->ctl, r, CUSTODY__RESPONSE__BODY_INCLUSION);
		if (rc == CU_OK &&
		    (r->inclusion->tree_size != p->size || r->inclusion->index >= p->size))
			rc = ctl_fail(p->ctl, CTL_EXIT_SERVER, "PROTOCOL",
				      "%s: an inclusion proof for another tree", p->ctl->server);
		if (rc == CU_OK) {
			p->changes[cr->first + i].incl = r;
			return CU_OK;
		}
	}
	custody__response__free_unpacked(r, NULL);
	return rc;
}

/* Proves every logged change of the registered keys new this round (keys from first on). */
static int fetch_changes(struct prove *p, size_t first)
{
	struct change_round cr = {p, p->n_changes, CUSTODY__INCLUSION_REQUEST__INIT};
	int rc = CU_OK;

	for (size_t i = first; rc == CU_OK && i < p->keys.n; i++) {
		if (p->keys.v[i].incl != NULL)
			rc = want_change(p, p->keys.v[i].id, 1);
	}
	while (rc == CU_OK && cr.first < p->n_changes) {
		size_t end = p->n_changes;

		rc = ctl_pipeline(p->ctl, end - cr.first, PROOF_WINDOW, fill_change, take_change,
				  &cr);
		for (size_t i = cr.first; rc == CU_OK && i < end; i++) {
			if (p->changes[i].incl != NULL)
				rc = want_change(p, p->changes[i].key, p->changes[i].n + 1);
		}
		cr.first = end;
	}
	return rc;
}

/* Proves this round's new events, then the registrations they need. */
static int prove_new_events(struct prove *p)
{
	int rc = fetch_proofs(p, &p->events, ITEM_EVENT);

	for (size_t i = p->events.n_old; rc == CU_OK && i < p->events.n; i++) {
		if (p->events.v[i].incl != NULL)
			rc = note_registrations(p, p->events.v[i].incl->inclusion);
	}
	settle_items(&p->events, false);
	if (rc == CU_OK)
		rc = fetch_proofs(p, &p->keys, ITEM_KEY);
	if (rc == CU_OK)
		rc = fetch_changes(p, p->keys.n_old);
	settle_items(&p->keys, false);
	if (rc == CU_OK)
		rc = fetch_proofs(p, &p->facilities, ITEM_FACILITY);
	settle_items(&p->facilities, true);
	return rc;
}

/* ---- the bundle ---------------------------------------------------------------------- */

static int cmp_entry_index(const void *a, const void *b)
{
	const Custody__BundleEntry *x = *(Custody__BundleEntry *const *)a;
	const Custody__BundleEntry *y = *(Custody__BundleEntry *const *)b;

	return x->index < y->index ? -1 : x->index > y->index;
}

/* Points e[*n] (and ep[*n]) at the entry and proof of in, if there is one. */
static void point_entry(const Custody__Response *incl, Custody__BundleEntry *e,
			Custody__BundleEntry **ep, size_t *n)
{
	const Custody__InclusionResult *in = incl != NULL ? incl->inclusion : NULL;

	if (in == NULL)
		return;
	custody__bundle_entry__init(&e[*n]);
	e[*n].index = in->index;
	e[*n].entry = in->entry;
	e[*n].n_proof = in->n_proof;
	e[*n].proof = in->proof;
	ep[*n] = &e[*n];
	(*n)++;
}

/* Points the entries at every proven item and key change, in index order. */
static size_t collect_entries(struct prove *p, Custody__BundleEntry *e, Custody__BundleEntry **ep)
{
	struct items *sets[3] = {&p->events, &p->keys, &p->facilities};
	size_t n = 0, kept = 0;

	for (int k = 0; k < 3; k++) {
		for (size_t i = 0; i < sets[k]->n; i++)
			point_entry(sets[k]->v[i].incl, e, ep, &n);
	}
	for (size_t i = 0; i < p->n_changes; i++)
		point_entry(p->changes[i].incl, e, ep, &n);
	qsort(ep, n, sizeof(*ep), cmp_entry_index);
	for (size_t i = 0; i < n; i++) {
		if (kept == 0 || ep[kept - 1]->index != ep[i]->index)
			ep[kept++] = ep[i];
	}
	return kept;
}

/* Encodes the bundle of everything proven so far into *data. */
static int build_bundle(struct prove *p, uint8_t **data, size_t *len)
{
	size_t cap = p->events.n + p->keys.n + p->facilities.n + p->n_changes + 1;
	Custody__BundleEntry *e = calloc(cap, sizeof(*e));
	Custody__BundleEntry **ep = calloc(cap, sizeof(*ep));
	Custody__ProofBundle pb = CUSTODY__PROOF_BUNDLE__INIT;
	const Custody__CheckpointResult *cp = p->checkpoint->checkpoint;
	int rc = CU_ERR_NOMEM;

	if (e != NULL && ep != NULL) {
		if (p->device != NULL) {
			pb.subject_case = CUSTODY__PROOF_BUNDLE__SUBJECT_DEVICE;
			pb.device = (char *)p->device;
		} else if (p->by_shipment) {
			pb.subject_case = CUSTODY__PROOF_BUNDLE__SUBJECT_SHIPMENT;
			pb.shipment.data = p->shipment;
			pb.shipment.len = ID_BYTES;
		} else {
			pb.subject_case = CUSTODY__PROOF_BUNDLE__SUBJECT_FACILITY;
			pb.facility = (char *)p->facility;
		}
		pb.checkpoint = p->note;
		pb.cosignatures = cp->cosignatures;
		pb.n_cosignatures = cp->n_cosignatures;
		pb.entries = ep;
		pb.n_entries = collect_entries(p, e, ep);
		rc = bundle_encode(&pb, data, len);
	}
	free(e);
	free(ep);
	return rc == CU_OK ? CU_OK : nomem(p->ctl);
}

/*
 * Verifies the bundle as verify will (with the log's key; which witnesses
 * to require is the verifier's choice) and wants the devices whose chains
 * it must carry. *added gets how many of them were not wanted yet.
 */
static int check_bundle(struct prove *p, const uint8_t *data, size_t len,
			struct bundle_report **report, size_t *added)
{
	struct bundle_keys keys = {&p->log_v, NULL, 0, 0, NULL, 0};
	size_t n_sorted = p->n_devices;
	int rc = bundle_verify(data, len, &keys, report);

	*added = 0;
	if (rc == CU_ERR_NOMEM)
		return nomem(p->ctl);
	for (size_t i = 0; i < (*report)->n_devices; i++) {
		rc = want_device(p, (*report)->devices[i].serial, n_sorted);
		if (rc != CU_OK)
			return nomem(p->ctl);
	}
	*added = p->n_devices - n_sorted;
	sort_devices(p);
	return CU_OK;
}

/* Rounds of histories, proofs and checks until the bundle is whole. */
static int prove_rounds(struct prove *p, uint8_t **data, size_t *len, struct bundle_report **report)
{
	for (int round = 0; round < MAX_ROUNDS; round++) {
		size_t fetched = 0, added = 0;
		int rc = fetch_histories(p, &fetched);

		if (rc == CU_OK)
			rc = prove_new_events(p);
		if (rc == CU_OK)
			rc = build_bundle(p, data, len);
		if (rc == CU_OK)
			rc = check_bundle(p, *data, *len, report, &added);
		if (rc != CU_OK || added == 0)
			return rc;
		bundle_report_free(*report);
		*report = NULL;
		free(*data);
		*data = NULL;
	}
	return ctl_fail(p->ctl, CTL_EXIT_SERVER, "PROTOCOL",
			"the bundle still needs more devices after %d rounds", MAX_ROUNDS);
}

/* ---- the command ------------------------------------------------------------------------- */

/* Reports why the bundle does not verify (the server's answers do not hold). */
static int report_problems(struct prove *p, const struct bundle_report *r)
{
	for (size_t i = 0; i < r->n_problems; i++)
		ctl_note("custodyctl: the bundle would not verify: %s", r->problems[i]);
	if (p->n_later > 0)
		ctl_note(
		    "custodyctl: %zu events were logged after the checkpoint of tree size %llu "
		    "and are left out; a later checkpoint needs its cosignatures first (or "
		    "--min-cosignatures 0)",
		    p->n_later, (unsigned long long)p->size);
	return ctl_fail(p->ctl, CTL_EXIT_SERVER, "NOT_VERIFIED",
			"%s: no bundle written: %zu problems", p->out_path, r->n_problems);
}

static void print_result(const struct prove *p, const struct bundle_report *r, size_t len)
{
	struct out_json j;
	size_t subjects = 0;

	for (size_t i = 0; i < r->n_devices; i++)
		subjects += r->devices[i].subject;
	if (!p->ctl->json) {
		printf(
		    "wrote %s: %zu entries (%zu events, %zu registrations) for %zu devices, tree "
		    "size %llu, %zu cosignatures, %zu bytes\n",
		    p->out_path, r->n_entries, r->n_events, r->n_registrations, subjects,
		    (unsigned long long)r->tree_size, r->n_cosigners, len);
		if (p->n_later > 0)
			printf("(%zu events logged after that checkpoint are not in it)\n",
			       p->n_later);
		return;
	}
	out_json_init(&j, stdout);
	out_json_begin_object(&j);
	out_json_kstr(&j, "file", p->out_path);
	out_json_kuint(&j, "bytes", len);
	out_json_kuint(&j, "tree_size", r->tree_size);
	out_json_kuint(&j, "cosignatures", r->n_cosigners);
	out_json_kuint(&j, "entries", r->n_entries);
	out_json_kuint(&j, "events", r->n_events);
	out_json_kuint(&j, "registrations", r->n_registrations);
	out_json_kuint(&j, "left_out", p->n_later);
	out_json_key(&j, "devices");
	out_json_begin_array(&j);
	for (size_t i = 0; i < r->n_devices; i++) {
		if (r->devices[i].subject)
			out_json_string(&j, r->devices[i].serial);
	}
	out_json_end_array(&j);
	out_json_end_object(&j);
}

/* The devices the subject starts from, and the subject facility's registration. */
static int start(struct prove *p)
{
	int rc = CU_OK;

	if (p->device != NULL)
		rc = want_device(p, p->device, 0) == CU_OK ? CU_OK : nomem(p->ctl);
	else if (p->by_shipment)
		rc = shipment_devices(p);
	else if ((rc = facility_devices(p)) == CU_OK && add_item(&p->facilities, NULL, p->facility))
		rc = nomem(p->ctl);
	sort_devices(p);
	return rc;
}

static void prove_free(struct prove *p)
{
	for (size_t i = 0; i < p->n_devices; i++)
		free(p->devices[i].serial);
	free(p->devices);
	items_free(&p->events);
	items_free(&p->keys);
	items_free(&p->facilities);
	for (size_t i = 0; i < p->n_changes; i++)
		custody__response__free_unpacked(p->changes[i].incl, NULL);
	free(p->changes);
	custody__response__free_unpacked(p->checkpoint, NULL);
	free(p->note);
	free(p);
}

int cmd_prove(struct ctl *ctl, int argc, char **argv)
{
	struct prove *p = calloc(1, sizeof(*p));
	struct bundle_report *r = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	if (p == NULL)
		return nomem(ctl);
	p->ctl = ctl;
	rc = parse_opts(ctl, argc, argv, p);
	if (rc == CU_OK)
		rc = fetch_checkpoint(p);
	if (rc == CU_OK)
		rc = start(p);
	if (rc == CU_OK)
		rc = prove_rounds(p, &data, &len, &r);
	if (rc == CU_OK && !r->verified)
		rc = report_problems(p, r);
	if (rc == CU_OK)
		rc = ctl_write_file_atomic(ctl, "-o", p->out_path, data, len, 0644);
	if (rc == CU_OK)
		print_result(p, r, len);
	bundle_report_free(r);
	free(data);
	prove_free(p);
	return rc;
}
