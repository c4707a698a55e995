/*
 * bundle_path.c - the devices of a proof bundle: containment, chains and
 * custody paths (see bundle.h, docs/bundle.md).
 *
 * The events are replayed in log order with custodyd's rules for what an
 * event reaches: the devices it names (its own-chain links) and everything
 * inside each of its `devices` at that moment, through that device (the
 * "via"); PACK puts its items in its container, UNPACK and a report of a
 * loss or theft take them out. Rejected events (evidence) change nothing.
 *
 * Replay runs twice. The first pass only follows containment and places,
 * to find the subject's devices (a shipment's contents when it left, the
 * devices a facility bundle leaves at the facility). Then the devices
 * whose chains must be whole are fixed: the subject's and, transitively,
 * every container one of them was packed into (their chains say what
 * moved the subject while it was inside). The second pass checks those
 * chains link by link from REGISTER and records every event that reaches
 * them; an event entry that reaches none of them has no business in the
 * bundle.
 */
#include "bundle_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Most path steps a report records (16 bytes each). */
#define MAX_STEPS ((size_t)1 << 24)

struct bdev {
	const char *serial; /* borrowed from an event */
	const Custody__DeviceRef *reg;
	size_t reg_entry; /* position of its REGISTER in the entries */
	/* Replay state. */
	size_t parent, first_child, next_sibling, prev_sibling;
	const char *facility, *destination;
	Custody__DeviceStatus status;
	const uint8_t *head; /* id of its last own event, NULL before any */
	size_t head_entry;
	bool registered;
	/* What it is to the bundle. */
	bool subject, tracked, reported_early;
	struct bundle_step *steps;
	size_t n_steps, cap_steps;
};

struct bundle_devs {
	struct bdev *d;
	size_t n;
	size_t total_steps;
};

/* One replay pass. */
struct replay {
	struct bundle_report *r;
	struct bundle_state *st;
	struct bundle_devs *t;
	bool record;	   /* second pass: chains, steps, needed entries */
	size_t ship_entry; /* first pass: the subject shipment's entry, or BUNDLE_NONE */
};

/* ---- the table ------------------------------------------------------------ */

static int cmp_serial_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_serial_dev(const void *serial, const void *dev)
{
	return strcmp(serial, ((const struct bdev *)dev)->serial);
}

/* The device called serial, or NULL. */
static struct bdev *find_dev(const struct bundle_devs *t, const char *serial)
{
	return t != NULL ? bsearch(serial, t->d, t->n, sizeof(*t->d), cmp_serial_dev) : NULL;
}

/* The i-th device an event names: devices, then the container. */
static const Custody__DeviceRef *named(const Custody__Event *ev, size_t i)
{
	return i < ev->n_devices ? ev->devices[i] : ev->container;
}

static size_t n_named(const Custody__Event *ev)
{
	return ev->n_devices + (ev->container != NULL);
}

/* Collects the serials every decoded event names, sorted and distinct. */
static int collect_serials(const struct bundle_state *st, const char ***out, size_t *n_out)
{
	const char **s;
	size_t total = 0, n = 0;

	for (size_t i = 0; i < st->n_entries; i++)
		total +=
		    st->entries[i].ok && st->entries[i].is_event ? n_named(st->entries[i].ev) : 0;
	s = malloc((total + 1) * sizeof(*s));
	if (s == NULL)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < st->n_entries; i++) {
		const Custody__Event *ev = st->entries[i].ev;

		if (!st->entries[i].ok || !st->entries[i].is_event)
			continue;
		for (size_t k = 0; k < n_named(ev); k++)
			s[n++] = named(ev, k)->serial;
	}
	qsort(s, n, sizeof(*s), cmp_serial_ptr);
	*n_out = 0;
	for (size_t i = 0; i < n; i++) {
		if (*n_out == 0 || strcmp(s[*n_out - 1], s[i]) != 0)
			s[(*n_out)++] = s[i];
	}
	*out = s;
	return CU_OK;
}

int bundle_devices_build(struct bundle_state *st)
{
	struct bundle_devs *t = calloc(1, sizeof(*t));
	const char **serials = NULL;
	int rc = t != NULL ? collect_serials(st, &serials, &t->n) : CU_ERR_NOMEM;

	if (rc == CU_OK && (t->d = calloc(t->n + 1, sizeof(*t->d))) == NULL)
		rc = CU_ERR_NOMEM;
	if (rc != CU_OK) {
		free(serials);
		bundle_devices_free(t);
		return rc;
	}
	for (size_t i = 0; i < t->n; i++)
		t->d[i].serial = serials[i];
	free(serials);
	st->devs = t;
	for (size_t i = 0; i < st->n_entries; i++) {
		const struct bundle_entry *e = &st->entries[i];

		if (!e->ok || !e->is_event || e->rejected ||
		    e->ev->type != CUSTODY__EVENT_TYPE__REGISTER)
			continue;
		for (size_t k = 0; k < e->ev->n_devices; k++) {
			struct bdev *d = find_dev(t, e->ev->devices[k]->serial);

			if (d->reg == NULL) {
				d->reg = e->ev->devices[k];
				d->reg_entry = i;
			}
		}
	}
	return CU_OK;
}

const Custody__DeviceRef *bundle_device_register(const struct bundle_state *st, const char *serial,
						 size_t *entry)
{
	const struct bdev *d = find_dev(st->devs, serial);

	if (d == NULL || d->reg == NULL)
		return NULL;
	*entry = d->reg_entry;
	return d->reg;
}

void bundle_devices_free(struct bundle_devs *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; t->d != NULL && i < t->n; i++)
		free(t->d[i].steps);
	free(t->d);
	free(t);
}

/* ---- containment ------------------------------------------------------------ */

static size_t idx(const struct bundle_devs *t, const struct bdev *d)
{
	return (size_t)(d - t->d);
}

/* Takes d out of its container, if it is in one. */
static void detach(struct bundle_devs *t, struct bdev *d)
{
	if (d->parent == BUNDLE_NONE)
		return;
	if (d->prev_sibling != BUNDLE_NONE)
		t->d[d->prev_sibling].next_sibling = d->next_sibling;
	else
		t->d[d->parent].first_child = d->next_sibling;
	if (d->next_sibling != BUNDLE_NONE)
		t->d[d->next_sibling].prev_sibling = d->prev_sibling;
	d->parent = d->prev_sibling = d->next_sibling = BUNDLE_NONE;
}

/* Puts d into c, unless that would make containment a cycle (false then). */
static bool attach(struct bundle_devs *t, struct bdev *d, struct bdev *c)
{
	size_t di = idx(t, d);

	for (size_t a = idx(t, c); a != BUNDLE_NONE; a = t->d[a].parent) {
		if (a == di)
			return false;
	}
	detach(t, d);
	d->parent = idx(t, c);
	d->next_sibling = c->first_child;
	if (c->first_child != BUNDLE_NONE)
		t->d[c->first_child].prev_sibling = di;
	c->first_child = di;
	return true;
}

/* The device after cur in a depth-first walk of what is inside root. */
static size_t next_inside(const struct bundle_devs *t, size_t root, size_t cur)
{
	if (t->d[cur].first_child != BUNDLE_NONE)
		return t->d[cur].first_child;
	while (cur != root) {
		if (t->d[cur].next_sibling != BUNDLE_NONE)
			return t->d[cur].next_sibling;
		cur = t->d[cur].parent;
	}
	return BUNDLE_NONE;
}

/* ---- replay ------------------------------------------------------------------ */

/* Appends a step to d's path (second pass, tracked devices only). */
static void add_step(struct replay *rp, struct bdev *d, size_t entry, const char *via)
{
	struct bundle_devs *t = rp->t;

	rp->st->entries[entry].needed = true;
	if (t->total_steps == MAX_STEPS) {
		bundle_problem(rp->r, "the bundle's paths have more than %zu steps", MAX_STEPS);
		t->total_steps++;
	}
	if (t->total_steps > MAX_STEPS)
		return;
	if (d->n_steps == d->cap_steps) {
		size_t cap = d->cap_steps ? 2 * d->cap_steps : 8;
		struct bundle_step *s = realloc(d->steps, cap * sizeof(*s));

		if (s == NULL) {
			rp->st->nomem = true;
			return;
		}
		d->steps = s;
		d->cap_steps = cap;
	}
	d->steps[d->n_steps++] = (struct bundle_step){&rp->st->entries[entry].event, via};
	t->total_steps++;
}

/* What an event does to the status and place of d (root: the device it names). */
static void effect(struct bdev *d, const struct bdev *root, const Custody__Event *ev)
{
	switch (ev->type) {
	case CUSTODY__EVENT_TYPE__PACK:
	case CUSTODY__EVENT_TYPE__UNPACK:
		if (d != root)
			d->status = root->status; /* contents follow their container */
		break;
	case CUSTODY__EVENT_TYPE__SHIP:
	case CUSTODY__EVENT_TYPE__RMA_OUT:
		d->status = ev->type == CUSTODY__EVENT_TYPE__SHIP
				? CUSTODY__DEVICE_STATUS__IN_TRANSIT
				: CUSTODY__DEVICE_STATUS__IN_REPAIR;
		d->destination = ev->to_facility;
		break;
	case CUSTODY__EVENT_TYPE__RECEIVE:
	case CUSTODY__EVENT_TYPE__RMA_IN:
		d->status = CUSTODY__DEVICE_STATUS__STORED;
		d->facility = ev->facility;
		d->destination = "";
		break;
	case CUSTODY__EVENT_TYPE__INSTALL:
		d->status = CUSTODY__DEVICE_STATUS__INSTALLED;
		break;
	case CUSTODY__EVENT_TYPE__REMOVE:
		d->status = CUSTODY__DEVICE_STATUS__STORED;
		break;
	case CUSTODY__EVENT_TYPE__DECOMMISSION:
		d->status = CUSTODY__DEVICE_STATUS__DECOMMISSIONED;
		break;
	case CUSTODY__EVENT_TYPE__DESTROY:
		d->status = CUSTODY__DEVICE_STATUS__DESTROYED;
		break;
	case CUSTODY__EVENT_TYPE__REPORT:
		if (ev->reason == CUSTODY__REPORT_REASON__REPORT_FOUND) {
			d->status = CUSTODY__DEVICE_STATUS__STORED;
			d->facility = ev->facility;
			d->destination = "";
		} else if (ev->reason == CUSTODY__REPORT_REASON__REPORT_LOST) {
			d->status = CUSTODY__DEVICE_STATUS__LOST;
		} else if (ev->reason == CUSTODY__REPORT_REASON__REPORT_STOLEN) {
			d->status = CUSTODY__DEVICE_STATUS__STOLEN;
		}
		break;
	default: /* MOVE, ATTEST: neither place nor status */
		break;
	}
}

/* Checks and advances d's own chain at entry i, which names it as ref. */
static void link_own(struct replay *rp, struct bdev *d, const Custody__DeviceRef *ref, size_t i)
{
	const struct bundle_entry *e = &rp->st->entries[i];

	if (rp->record && d->tracked) {
		if (d->head == NULL && !d->reported_early) {
			bundle_problem(rp->r,
				       "device %s: entry %" PRIu64 " comes before its REGISTER",
				       d->serial, e->index);
			d->reported_early = true;
		} else if (d->head != NULL &&
			   (ref->prev.len != ENVELOPE_ID_BYTES ||
			    memcmp(ref->prev.data, d->head, ENVELOPE_ID_BYTES) != 0)) {
			bundle_problem(rp->r,
				       "entry %" PRIu64
				       ": the prev of device %s is not its previous "
				       "event (entry %" PRIu64 ")",
				       e->index, d->serial, rp->st->entries[d->head_entry].index);
		}
		add_step(rp, d, i, NULL);
	}
	d->head = e->event.id;
	d->head_entry = i;
}

/* Applies a REGISTER: the devices come into being at its facility. */
static void replay_register(struct replay *rp, size_t i)
{
	const struct bundle_entry *e = &rp->st->entries[i];

	for (size_t k = 0; k < e->ev->n_devices; k++) {
		struct bdev *d = find_dev(rp->t, e->ev->devices[k]->serial);

		if (d->registered) {
			if (rp->record)
				bundle_problem(rp->r,
					       "entry %" PRIu64 ": device %s registered again",
					       e->index, d->serial);
			continue;
		}
		d->registered = true;
		d->facility = e->ev->facility;
		d->status = CUSTODY__DEVICE_STATUS__STORED;
		if (rp->record && d->tracked)
			add_step(rp, d, i, NULL);
		d->head = e->event.id;
		d->head_entry = i;
	}
}

/* Records a step for every tracked device inside root (second pass). */
static void steps_inside(struct replay *rp, struct bdev *root, size_t i)
{
	struct bundle_devs *t = rp->t;
	size_t r = idx(t, root);

	if (!rp->record)
		return;
	for (size_t c = t->d[r].first_child; c != BUNDLE_NONE; c = next_inside(t, r, c)) {
		if (t->d[c].tracked)
			add_step(rp, &t->d[c], i, root->serial);
	}
}

/* Applies the event's effect to d and everything inside it. */
static void effect_all(struct replay *rp, struct bdev *d, const Custody__Event *ev)
{
	struct bundle_devs *t = rp->t;
	size_t r = idx(t, d);

	effect(d, d, ev);
	for (size_t c = d->first_child; c != BUNDLE_NONE; c = next_inside(t, r, c))
		effect(&t->d[c], d, ev);
}

/* PACK, UNPACK, and a loss or theft: who is inside what. */
static void nest(struct replay *rp, struct bdev *d, struct bdev *c, size_t i)
{
	const Custody__Event *ev = rp->st->entries[i].ev;

	if (ev->type == CUSTODY__EVENT_TYPE__PACK) {
		if (!attach(rp->t, d, c)) {
			if (rp->record)
				bundle_problem(
				    rp->r, "entry %" PRIu64 ": packing %s into %s makes a cycle",
				    rp->st->entries[i].index, d->serial, c->serial);
			return;
		}
		d->status = c->status;
	} else if (ev->type == CUSTODY__EVENT_TYPE__UNPACK) {
		detach(rp->t, d);
		d->status = CUSTODY__DEVICE_STATUS__STORED;
	} else if (ev->type == CUSTODY__EVENT_TYPE__REPORT &&
		   (ev->reason == CUSTODY__REPORT_REASON__REPORT_LOST ||
		    ev->reason == CUSTODY__REPORT_REASON__REPORT_STOLEN)) {
		detach(rp->t, d);
	}
}

/* Marks the devices of the subject shipment and what they held (first pass). */
static void mark_shipment(struct replay *rp, size_t i)
{
	const Custody__Event *ev = rp->st->entries[i].ev;
	struct bundle_devs *t = rp->t;

	for (size_t k = 0; k < ev->n_devices; k++) {
		struct bdev *d = find_dev(t, ev->devices[k]->serial);
		size_t r = idx(t, d);

		d->subject = true;
		for (size_t c = d->first_child; c != BUNDLE_NONE; c = next_inside(t, r, c))
			t->d[c].subject = true;
	}
}

/* Replays one accepted event other than REGISTER, or records a rejected one. */
static void replay_event(struct replay *rp, size_t i)
{
	const struct bundle_entry *e = &rp->st->entries[i];
	const Custody__Event *ev = e->ev;
	struct bdev *c = ev->container ? find_dev(rp->t, ev->container->serial) : NULL;

	for (size_t k = 0; k < n_named(ev); k++) {
		struct bdev *d = find_dev(rp->t, named(ev, k)->serial);

		if (!e->rejected)
			link_own(rp, d, named(ev, k), i);
		else if (rp->record && d->tracked)
			add_step(rp, d, i, NULL);
	}
	for (size_t k = 0; k < ev->n_devices; k++) {
		struct bdev *d = find_dev(rp->t, ev->devices[k]->serial);

		if (!e->rejected) {
			nest(rp, d, c, i);
			effect_all(rp, d, ev);
		}
		steps_inside(rp, d, i);
	}
}

/* One pass over the events in log order. */
static void replay(struct replay *rp)
{
	struct bundle_devs *t = rp->t;

	for (size_t k = 0; k < t->n; k++) {
		struct bdev *d = &t->d[k];

		d->parent = d->first_child = d->next_sibling = d->prev_sibling = BUNDLE_NONE;
		d->facility = d->destination = "";
		d->status = 0;
		d->head = NULL;
		d->registered = false;
	}
	for (size_t i = 0; i < rp->st->n_entries; i++) {
		const struct bundle_entry *e = &rp->st->entries[i];

		if (!e->ok || !e->is_event)
			continue;
		if (i == rp->ship_entry)
			mark_shipment(rp, i);
		if (e->ev->type == CUSTODY__EVENT_TYPE__REGISTER && !e->rejected)
			replay_register(rp, i);
		else
			replay_event(rp, i);
	}
}

/* ---- the subject ----------------------------------------------------------------- */

/* Finds the subject shipment's entry; BUNDLE_NONE (and a problem) if unusable. */
static size_t find_shipment(struct bundle_report *r)
{
	const struct bundle_state *st = r->state;

	for (size_t i = 0; i < st->n_entries; i++) {
		const struct bundle_entry *e = &st->entries[i];

		if (!e->ok || !e->is_event ||
		    memcmp(e->event.id, r->shipment, ENVELOPE_ID_BYTES) != 0)
			continue;
		if (e->ev->type != CUSTODY__EVENT_TYPE__SHIP &&
		    e->ev->type != CUSTODY__EVENT_TYPE__RMA_OUT) {
			bundle_problem(r,
				       "the subject event (entry %" PRIu64 ") is not a SHIP or "
				       "RMA_OUT",
				       e->index);
			return BUNDLE_NONE;
		}
		if (e->rejected) {
			bundle_problem(r,
				       "the subject shipment (entry %" PRIu64 ") was rejected: "
				       "it moved nothing",
				       e->index);
			return BUNDLE_NONE;
		}
		return i;
	}
	bundle_problem(r, "the subject shipment is not among the bundle's events");
	return BUNDLE_NONE;
}

/* After the first pass: a facility's devices are those it leaves there. */
static void mark_facility_devices(struct bundle_report *r, struct bundle_devs *t)
{
	for (size_t k = 0; k < t->n; k++) {
		struct bdev *d = &t->d[k];

		d->tracked = d->reg != NULL;
		d->subject = d->registered && strcmp(d->facility, r->facility) == 0;
	}
}

struct edge {
	size_t item, container;
};

static int cmp_edge(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	return x->item < y->item ? -1 : x->item > y->item;
}

/* Collects (item, container) of every accepted PACK, sorted by item. */
static int pack_edges(const struct bundle_state *st, struct edge **out, size_t *n_out)
{
	const struct bundle_devs *t = st->devs;
	struct edge *e;
	size_t n = 0, total = 0;

	for (size_t i = 0; i < st->n_entries; i++) {
		const struct bundle_entry *x = &st->entries[i];

		if (x->ok && x->is_event && !x->rejected &&
		    x->ev->type == CUSTODY__EVENT_TYPE__PACK)
			total += x->ev->n_devices;
	}
	e = malloc((total + 1) * sizeof(*e));
	if (e == NULL)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < st->n_entries; i++) {
		const struct bundle_entry *x = &st->entries[i];

		if (!x->ok || !x->is_event || x->rejected ||
		    x->ev->type != CUSTODY__EVENT_TYPE__PACK)
			continue;
		for (size_t k = 0; k < x->ev->n_devices; k++)
			e[n++] = (struct edge){idx(t, find_dev(t, x->ev->devices[k]->serial)),
					       idx(t, find_dev(t, x->ev->container->serial))};
	}
	qsort(e, n, sizeof(*e), cmp_edge);
	*out = e;
	*n_out = n;
	return CU_OK;
}

/* Tracks the subject's devices and every container that held a tracked one. */
static int track(struct bundle_state *st)
{
	struct bundle_devs *t = st->devs;
	struct edge *e = NULL;
	size_t n_edges = 0, head = 0, tail = 0;
	size_t *queue = malloc((t->n + 1) * sizeof(*queue));
	int rc = queue != NULL ? pack_edges(st, &e, &n_edges) : CU_ERR_NOMEM;

	for (size_t k = 0; rc == CU_OK && k < t->n; k++) {
		t->d[k].tracked |= t->d[k].subject;
		if (t->d[k].tracked)
			queue[tail++] = k;
	}
	while (rc == CU_OK && head < tail) {
		size_t item = queue[head++], lo = 0, hi = n_edges;

		while (lo < hi) { /* the first edge of item */
			size_t mid = lo + (hi - lo) / 2;

			if (e[mid].item < item)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < n_edges && e[lo].item == item; lo++) {
			if (!t->d[e[lo].container].tracked) {
				t->d[e[lo].container].tracked = true;
				queue[tail++] = e[lo].container;
			}
		}
	}
	free(e);
	free(queue);
	return rc;
}

/* Resolves the subject's devices (first pass included). */
static void find_subject(struct bundle_report *r, struct replay *rp)
{
	struct bdev *d;

	rp->ship_entry = BUNDLE_NONE;
	if (r->device != NULL) {
		d = find_dev(rp->t, r->device);
		if (d == NULL)
			bundle_problem(r, "device %s: no event of the bundle names it", r->device);
		else
			d->subject = true;
	} else if (r->shipment != NULL) {
		rp->ship_entry = find_shipment(r);
	}
	replay(rp);
	if (r->facility != NULL)
		mark_facility_devices(r, rp->t);
}

/* ---- the report ------------------------------------------------------------------ */

/* Fills r's devices: the subject's by serial, then the other tracked ones. */
static int fill_devices(struct bundle_report *r)
{
	const struct bundle_devs *t = r->state->devs;
	size_t n = 0;

	r->devices = calloc(t->n + 1, sizeof(*r->devices));
	if (r->devices == NULL)
		return CU_ERR_NOMEM;
	for (int subject = 1; subject >= 0; subject--) {
		for (size_t k = 0; k < t->n; k++) {
			const struct bdev *d = &t->d[k];
			struct bundle_device *o = &r->devices[n];

			if (!d->tracked || d->subject != subject)
				continue;
			o->serial = d->serial;
			o->kind = d->reg != NULL ? d->reg->kind : 0;
			o->model = d->reg != NULL ? d->reg->model : "";
			o->subject = d->subject;
			o->steps = d->steps;
			o->n_steps = d->n_steps;
			o->facility = d->facility;
			o->country = bundle_country(r->state, d->facility);
			o->status = d->status;
			o->destination = d->destination;
			o->destination_country = bundle_country(r->state, d->destination);
			n++;
		}
	}
	r->n_devices = n;
	return CU_OK;
}

/* What the second pass leaves to say: missing REGISTERs, entries not needed. */
static void check_completeness(struct bundle_report *r)
{
	const struct bundle_state *st = r->state;
	const struct bundle_devs *t = st->devs;

	for (size_t k = 0; k < t->n; k++) {
		if (t->d[k].tracked && t->d[k].reg == NULL)
			bundle_problem(r, "device %s: its REGISTER is not in the bundle",
				       t->d[k].serial);
	}
	for (size_t i = 0; i < st->n_entries; i++) {
		if (st->entries[i].ok && st->entries[i].is_event && !st->entries[i].needed)
			bundle_problem(r,
				       "entry %" PRIu64 ": the event reaches none of the bundle's "
				       "devices",
				       st->entries[i].index);
	}
}

int bundle_paths(struct bundle_report *r)
{
	struct replay rp = {r, r->state, r->state->devs, false, BUNDLE_NONE};
	int rc;

	find_subject(r, &rp);
	rc = track(r->state);
	if (rc != CU_OK)
		return rc;
	rp.record = true;
	rp.ship_entry = BUNDLE_NONE;
	replay(&rp);
	check_completeness(r);
	return fill_devices(r);
}
