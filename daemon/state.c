/*
 * state.c - the device state machine (see state.h).
 *
 * state_apply runs in two phases so a refused event leaves the working set
 * untouched: check (chain heads, then every device against what the event
 * type requires) and apply (heads, links, then the type's effect on each
 * device and everything inside it). The per-type requirements and effects
 * are one table, type_rules, so the rules read in one place.
 */
#include "state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enums.h"
#include "hmap.h"

struct state_ws {
	struct hmap *devs; /* serial -> struct dev */
};

/* Status sets, as bit masks over Custody__DeviceStatus. */
#define ST(s)	(1u << CUSTODY__DEVICE_STATUS__##s)
#define AT_SITE (ST(STORED) | ST(INSTALLED))
#define NOT_TERMINAL                                                                               \
	(ST(STORED) | ST(IN_TRANSIT) | ST(INSTALLED) | ST(IN_REPAIR) | ST(LOST) | ST(STOLEN))

enum effect {
	FX_NONE,
	FX_PACK,
	FX_UNPACK,
	FX_SHIP,
	FX_ARRIVE, /* RECEIVE, RMA_IN, REPORT FOUND: now at ev->facility */
	FX_INSTALL,
	FX_REMOVE,
	FX_MOVE,
	FX_RMA_OUT,
	FX_DECOMMISSION,
	FX_DESTROY,
	FX_REPORT,
	FX_ATTEST,
	FX_FOLLOW, /* take the status and location of the acted-on device */
};

struct type_rule {
	unsigned allowed;    /* statuses the devices may be in */
	bool facility_match; /* devices must be at ev->facility */
	bool contained_ok;   /* may act on a device inside a container */
	enum effect effect;
	const char *hint; /* what to do instead, for status errors */
};

static const struct type_rule type_rules[] = {
    [CUSTODY__EVENT_TYPE__PACK] = {AT_SITE, true, false, FX_PACK, NULL},
    [CUSTODY__EVENT_TYPE__UNPACK] = {AT_SITE, true, true, FX_UNPACK, NULL},
    [CUSTODY__EVENT_TYPE__SHIP] = {ST(STORED), true, false, FX_SHIP, "REMOVE it before shipping"},
    [CUSTODY__EVENT_TYPE__RECEIVE] = {NOT_TERMINAL, false, false, FX_ARRIVE, NULL},
    [CUSTODY__EVENT_TYPE__INSTALL] = {ST(STORED), true, false, FX_INSTALL, NULL},
    [CUSTODY__EVENT_TYPE__REMOVE] = {ST(INSTALLED), true, false, FX_REMOVE, NULL},
    [CUSTODY__EVENT_TYPE__MOVE] = {AT_SITE, true, false, FX_MOVE, NULL},
    [CUSTODY__EVENT_TYPE__ATTEST] = {NOT_TERMINAL, false, true, FX_ATTEST, NULL},
    [CUSTODY__EVENT_TYPE__RMA_OUT] = {ST(STORED), true, false, FX_RMA_OUT,
				      "REMOVE it before sending it for repair"},
    /* A unit that was not sent out may come back: rma.swap raises an alert. */
    [CUSTODY__EVENT_TYPE__RMA_IN] = {NOT_TERMINAL, false, false, FX_ARRIVE, NULL},
    [CUSTODY__EVENT_TYPE__DECOMMISSION] = {AT_SITE, true, false, FX_DECOMMISSION, NULL},
    [CUSTODY__EVENT_TYPE__DESTROY] = {AT_SITE | ST(DECOMMISSIONED), true, false, FX_DESTROY, NULL},
    [CUSTODY__EVENT_TYPE__REPORT] = {NOT_TERMINAL, false, true, FX_REPORT, NULL},
};

#define TYPE_COUNT (sizeof(type_rules) / sizeof(type_rules[0]))

/* ---- working set ------------------------------------------------------- */

struct state_ws *state_ws_new(void)
{
	struct state_ws *ws = calloc(1, sizeof(*ws));

	if (ws == NULL)
		return NULL;
	ws->devs = hmap_new();
	if (ws->devs == NULL) {
		free(ws);
		return NULL;
	}
	return ws;
}

void state_ws_free(struct state_ws *ws)
{
	if (ws == NULL)
		return;
	hmap_free(ws->devs, free);
	free(ws);
}

/* Inserts d (heap-allocated, ownership passes to ws). */
static int ws_insert(struct state_ws *ws, struct dev *d)
{
	void *old = NULL;

	if (hmap_put(ws->devs, d->serial, strlen(d->serial), d, &old) != CU_OK)
		return CU_ERR_NOMEM;
	free(old);
	return CU_OK;
}

int state_ws_add(struct state_ws *ws, const struct dev *row)
{
	struct dev *d = malloc(sizeof(*d));

	if (d == NULL)
		return CU_ERR_NOMEM;
	*d = *row;
	d->is_new = d->dirty = false;
	d->first_child = d->next_sibling = NULL;
	if (ws_insert(ws, d) != CU_OK) {
		free(d);
		return CU_ERR_NOMEM;
	}
	return CU_OK;
}

struct dev *state_ws_get(const struct state_ws *ws, const char *serial)
{
	return hmap_get_str(ws->devs, serial);
}

struct dev *state_ws_next(const struct state_ws *ws, size_t *pos)
{
	return hmap_next(ws->devs, pos, NULL, NULL);
}

static void add_child(struct dev *parent, struct dev *child)
{
	child->next_sibling = parent->first_child;
	parent->first_child = child;
}

static void remove_child(struct dev *parent, struct dev *child)
{
	for (struct dev **p = &parent->first_child; *p != NULL; p = &(*p)->next_sibling) {
		if (*p == child) {
			*p = child->next_sibling;
			child->next_sibling = NULL;
			return;
		}
	}
}

void state_ws_link(struct state_ws *ws)
{
	size_t pos = 0;
	struct dev *d, *parent;

	while ((d = state_ws_next(ws, &pos)) != NULL) {
		if (d->parent[0] != '\0' && (parent = state_ws_get(ws, d->parent)) != NULL)
			add_child(parent, d);
	}
}

/* ---- results ----------------------------------------------------------- */

void state_result_clear(struct state_result *res)
{
	free(res->heads);
	free(res->links);
	memset(res, 0, sizeof(*res));
}

static void refuse(struct state_result *res, Custody__ErrorCode code, const char *rule,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void refuse(struct state_result *res, Custody__ErrorCode code, const char *rule,
		   const char *fmt, ...)
{
	va_list ap;

	res->code = code;
	snprintf(res->rule, sizeof(res->rule), "%s", rule != NULL ? rule : "");
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
}

static int add_link(struct state_result *res, const char *serial, uint64_t prev_seq,
		    const char *via)
{
	struct state_link *links, *l;

	if ((res->n_links & (res->n_links - 1)) == 0) { /* 0 or a power of two: grow */
		size_t cap = res->n_links ? res->n_links * 2 : 4;

		links = realloc(res->links, cap * sizeof(*links));
		if (links == NULL)
			return CU_ERR_NOMEM;
		res->links = links;
	}
	l = &res->links[res->n_links++];
	snprintf(l->serial, sizeof(l->serial), "%s", serial);
	snprintf(l->via, sizeof(l->via), "%s", via);
	l->prev_seq = prev_seq;
	return CU_OK;
}

/* ---- check phase ------------------------------------------------------- */

static const char *status_name(Custody__DeviceStatus s)
{
	return enum_name(&custody__device_status__descriptor, s);
}

static const char *type_name(Custody__EventType t)
{
	return enum_name(&custody__event_type__descriptor, t);
}

static const char *kind_word(Custody__DeviceKind k)
{
	switch (k) {
	case CUSTODY__DEVICE_KIND__CHIP:
		return "chip";
	case CUSTODY__DEVICE_KIND__BOARD:
		return "board";
	case CUSTODY__DEVICE_KIND__SERVER:
		return "server";
	case CUSTODY__DEVICE_KIND__RACK:
		return "rack";
	default:
		return "device";
	}
}

/* Every explicit device ref of ev: the devices, then the container. */
static const Custody__DeviceRef *ref_at(const Custody__Event *ev, size_t i)
{
	return i < ev->n_devices ? ev->devices[i] : ev->container;
}

static size_t ref_count(const Custody__Event *ev)
{
	return ev->n_devices + (ev->container != NULL ? 1 : 0);
}

/* REGISTER: devices must be new; chips must have a known model. */
static int check_register(const struct state_ws *ws, const Custody__Event *ev,
			  const struct models *models, struct state_result *res)
{
	for (size_t i = 0; i < ev->n_devices; i++) {
		const Custody__DeviceRef *r = ev->devices[i];
		const struct dev *d = state_ws_get(ws, r->serial);

		if (d != NULL) {
			res->heads = calloc(1, sizeof(*res->heads));
			if (res->heads == NULL)
				return CU_ERR_NOMEM;
			snprintf(res->heads[0].serial, sizeof(res->heads[0].serial), "%s",
				 d->serial);
			memcpy(res->heads[0].head_id, d->head_id, STATE_ID_BYTES);
			res->n_heads = 1;
			refuse(res, CUSTODY__ERROR_CODE__CONFLICT, NULL,
			       "device %s is already registered", r->serial);
			return CU_OK;
		}
		if (r->kind == CUSTODY__DEVICE_KIND__CHIP &&
		    models_find(models, r->model) == NULL) {
			refuse(res, CUSTODY__ERROR_CODE__REJECTED, "model.unknown",
			       "device %s: model %s is not in the model table, so its TPP and "
			       "ECCN class are unknown",
			       r->serial, r->model);
			return CU_OK;
		}
	}
	return CU_OK;
}

/* Every named device must exist and its prev must be its head. */
static int check_chain(const struct state_ws *ws, const Custody__Event *ev,
		       struct state_result *res)
{
	size_t n = ref_count(ev), stale = 0;

	for (size_t i = 0; i < n; i++) {
		const Custody__DeviceRef *r = ref_at(ev, i);
		const struct dev *d = state_ws_get(ws, r->serial);

		if (d == NULL) {
			refuse(res, CUSTODY__ERROR_CODE__NOT_FOUND, NULL,
			       "device %s is not registered", r->serial);
			return CU_OK;
		}
		if (memcmp(r->prev.data, d->head_id, STATE_ID_BYTES) != 0) {
			struct state_head *h = realloc(res->heads, (stale + 1) * sizeof(*h));

			if (h == NULL)
				return CU_ERR_NOMEM;
			res->heads = h;
			snprintf(h[stale].serial, sizeof(h[stale].serial), "%s", d->serial);
			memcpy(h[stale].head_id, d->head_id, STATE_ID_BYTES);
			res->n_heads = ++stale;
		}
	}
	if (stale > 0)
		refuse(res, CUSTODY__ERROR_CODE__CONFLICT, NULL,
		       "stale prev for %zu device%s (first: %s): another event came first; "
		       "re-read the head and re-sign",
		       stale, stale > 1 ? "s" : "", res->heads[0].serial);
	return CU_OK;
}

/* Terminal states: nothing after DESTROY, only DESTROY after DECOMMISSION. */
static bool check_terminal(const struct dev *d, const Custody__Event *ev, struct state_result *res)
{
	if (d->status == CUSTODY__DEVICE_STATUS__DESTROYED) {
		refuse(res, CUSTODY__ERROR_CODE__REJECTED, "state.destroyed",
		       "device %s was destroyed (event seq %llu): no event may follow", d->serial,
		       (unsigned long long)d->last_seq);
		return false;
	}
	if (d->status == CUSTODY__DEVICE_STATUS__DECOMMISSIONED &&
	    ev->type != CUSTODY__EVENT_TYPE__DESTROY) {
		refuse(res, CUSTODY__ERROR_CODE__REJECTED, "state.decommissioned",
		       "device %s is decommissioned: only DESTROY may follow", d->serial);
		return false;
	}
	return true;
}

/* Status, containment and place requirements of the type for device d. */
static bool check_device(const struct dev *d, bool is_container, const Custody__Event *ev,
			 struct state_result *res)
{
	const struct type_rule *rule = &type_rules[ev->type];

	if (!check_terminal(d, ev, res))
		return false;
	if (!is_container && d->parent[0] != '\0' && !rule->contained_ok) {
		refuse(res, CUSTODY__ERROR_CODE__REJECTED, "state.contained",
		       "device %s is inside %s: UNPACK it first, or act on %s", d->serial,
		       d->parent, d->parent);
		return false;
	}
	if (!(rule->allowed & (1u << d->status))) {
		refuse(res, CUSTODY__ERROR_CODE__REJECTED, "state.status",
		       "device %s is %s: %s is not possible%s%s", d->serial, status_name(d->status),
		       type_name(ev->type), rule->hint ? "; " : "", rule->hint ? rule->hint : "");
		return false;
	}
	if (rule->facility_match && strcmp(d->facility, ev->facility) != 0) {
		refuse(res, CUSTODY__ERROR_CODE__REJECTED, "state.facility_mismatch",
		       "device %s is at %s, not at %s", d->serial, d->facility, ev->facility);
		return false;
	}
	return true;
}

/* PACK and UNPACK: kinds nest, and unpacked items are in the container. */
static bool check_container(const struct state_ws *ws, const Custody__Event *ev,
			    struct state_result *res)
{
	const struct dev *c = state_ws_get(ws, ev->container->serial);

	for (size_t i = 0; i < ev->n_devices; i++) {
		const struct dev *d = state_ws_get(ws, ev->devices[i]->serial);

		if (ev->type == CUSTODY__EVENT_TYPE__PACK && d->kind >= c->kind) {
			refuse(res, CUSTODY__ERROR_CODE__REJECTED, "state.pack_kind",
			       "%s (%s) cannot go inside %s (%s): containers hold smaller kinds "
			       "(chip < board < server < rack)",
			       d->serial, kind_word(d->kind), c->serial, kind_word(c->kind));
			return false;
		}
		if (ev->type == CUSTODY__EVENT_TYPE__UNPACK && strcmp(d->parent, c->serial) != 0) {
			refuse(res, CUSTODY__ERROR_CODE__REJECTED, "state.not_inside",
			       "device %s is not inside %s", d->serial, c->serial);
			return false;
		}
	}
	return true;
}

/* REPORT FOUND only for a device reported lost or stolen. */
static bool check_report(const struct dev *d, const Custody__Event *ev, struct state_result *res)
{
	if (ev->reason == CUSTODY__REPORT_REASON__REPORT_FOUND &&
	    d->status != CUSTODY__DEVICE_STATUS__LOST &&
	    d->status != CUSTODY__DEVICE_STATUS__STOLEN) {
		refuse(res, CUSTODY__ERROR_CODE__REJECTED, "state.status",
		       "device %s is %s, not lost or stolen: it cannot be reported found",
		       d->serial, status_name(d->status));
		return false;
	}
	return true;
}

/* Runs every check; leaves res->code 0 when the event may be applied. */
static int check_event(const struct state_ws *ws, const Custody__Event *ev,
		       const struct state_ctx *ctx, struct state_result *res)
{
	size_t n = ref_count(ev);
	int rc;

	if (ev->type == CUSTODY__EVENT_TYPE__REGISTER)
		return check_register(ws, ev, ctx->models, res);
	if ((size_t)ev->type >= TYPE_COUNT || type_rules[ev->type].allowed == 0) {
		refuse(res, CUSTODY__ERROR_CODE__BAD_REQUEST, NULL, "unknown event type");
		return CU_OK;
	}
	rc = check_chain(ws, ev, res);
	if (rc != CU_OK || res->code != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const struct dev *d = state_ws_get(ws, ref_at(ev, i)->serial);

		if (!check_device(d, i >= ev->n_devices, ev, res) || !check_report(d, ev, res))
			return CU_OK;
	}
	if (ev->container != NULL)
		check_container(ws, ev, res);
	return CU_OK;
}

/* ---- apply phase ------------------------------------------------------- */

/*
 * What an effect does to one device d: the acted-on device itself (root ==
 * d) or one inside it.
 */
static void effect_one(struct dev *d, const struct dev *root, const Custody__Event *ev,
		       const struct state_ctx *ctx, enum effect fx)
{
	if (ev->occurred_at_ms > d->last_at_ms)
		d->last_at_ms = ev->occurred_at_ms;
	switch (fx) {
	case FX_FOLLOW:
		d->status = root->status;
		snprintf(d->location, sizeof(d->location), "%s", root->location);
		d->seen_at_ms = root->seen_at_ms;
		break;
	case FX_SHIP:
	case FX_RMA_OUT:
		d->status = fx == FX_SHIP ? CUSTODY__DEVICE_STATUS__IN_TRANSIT
					  : CUSTODY__DEVICE_STATUS__IN_REPAIR;
		snprintf(d->dest_facility, sizeof(d->dest_facility), "%s", ev->to_facility);
		/*
		 * Under way, the named carrier has custody, else the shipper: a
		 * carrier is the custodian only of shipments that name it (auth.h).
		 */
		if (fx == FX_SHIP)
			snprintf(d->custodian, sizeof(d->custodian), "%s",
				 ev->carrier[0] != '\0' ? ev->carrier : ev->actor);
		d->location[0] = '\0';
		d->shipment_seq = ctx->seq;
		d->deadline_ms = ev->deadline_ms != 0
				     ? ev->deadline_ms
				     : ev->occurred_at_ms + (fx == FX_SHIP ? ctx->ship_deadline_ms
									   : ctx->rma_deadline_ms);
		break;
	case FX_ARRIVE:
		d->status = CUSTODY__DEVICE_STATUS__STORED;
		snprintf(d->facility, sizeof(d->facility), "%s", ev->facility);
		snprintf(d->custodian, sizeof(d->custodian), "%s", ev->actor);
		d->dest_facility[0] = '\0';
		d->location[0] = '\0';
		d->shipment_seq = 0;
		d->deadline_ms = 0;
		break;
	case FX_INSTALL:
		d->status = CUSTODY__DEVICE_STATUS__INSTALLED;
		snprintf(d->location, sizeof(d->location), "%s", ev->location);
		d->seen_at_ms = ev->occurred_at_ms;
		break;
	case FX_ATTEST:
		if (ev->occurred_at_ms > d->seen_at_ms)
			d->seen_at_ms = ev->occurred_at_ms;
		break;
	case FX_REMOVE:
		d->status = CUSTODY__DEVICE_STATUS__STORED;
		snprintf(d->location, sizeof(d->location), "%s", ev->location);
		break;
	case FX_MOVE:
		snprintf(d->location, sizeof(d->location), "%s", ev->location);
		break;
	case FX_DECOMMISSION:
		d->status = CUSTODY__DEVICE_STATUS__DECOMMISSIONED;
		break;
	case FX_DESTROY:
		d->status = CUSTODY__DEVICE_STATUS__DESTROYED;
		d->location[0] = '\0';
		break;
	case FX_REPORT:
		if (ev->reason == CUSTODY__REPORT_REASON__REPORT_LOST)
			d->status = CUSTODY__DEVICE_STATUS__LOST;
		else if (ev->reason == CUSTODY__REPORT_REASON__REPORT_STOLEN)
			d->status = CUSTODY__DEVICE_STATUS__STOLEN;
		break;
	default:
		break;
	}
}

/*
 * Applies fx to everything inside root (not root itself), linking each
 * descendant to the event through root. Depth-first with an explicit
 * stack, since containment can be deep and wide.
 */
static int effect_inside(struct dev *root, const Custody__Event *ev, enum effect fx,
			 const struct state_ctx *ctx, struct state_result *res)
{
	struct dev **stack = NULL;
	size_t top = 0, cap = 0;
	int rc = CU_OK;

	for (struct dev *c = root->first_child; c != NULL || top > 0;) {
		if (c == NULL) {
			c = stack[--top];
			continue;
		}
		effect_one(c, root, ev, ctx, fx);
		c->last_seq = ctx->seq;
		c->dirty = true;
		rc = add_link(res, c->serial, 0, root->serial);
		if (rc != CU_OK)
			break;
		if (c->first_child != NULL) {
			if (top == cap) {
				struct dev **s = realloc(stack, (cap ? cap * 2 : 16) * sizeof(*s));

				if (s == NULL) {
					rc = CU_ERR_NOMEM;
					break;
				}
				stack = s;
				cap = cap ? cap * 2 : 16;
			}
			if (c->next_sibling != NULL)
				stack[top++] = c->next_sibling;
			c = c->first_child;
		} else {
			c = c->next_sibling;
		}
	}
	free(stack);
	return rc;
}

/* REGISTER: creates the rows. */
static int apply_register(struct state_ws *ws, const Custody__Event *ev,
			  const struct state_ctx *ctx, struct state_result *res)
{
	for (size_t i = 0; i < ev->n_devices; i++) {
		const Custody__DeviceRef *r = ev->devices[i];
		const struct model_info *m = models_find(ctx->models, r->model);
		struct dev *d = calloc(1, sizeof(*d));

		if (d == NULL)
			return CU_ERR_NOMEM;
		snprintf(d->serial, sizeof(d->serial), "%s", r->serial);
		d->kind = r->kind;
		snprintf(d->model, sizeof(d->model), "%s", r->model);
		if (r->kind == CUSTODY__DEVICE_KIND__CHIP && m != NULL) {
			snprintf(d->eccn_class, sizeof(d->eccn_class), "%s", m->eccn_class);
			d->tpp = m->tpp;
		}
		if (r->device_key.len == 32) {
			memcpy(d->device_key, r->device_key.data, 32);
			d->has_device_key = true;
		}
		snprintf(d->owner, sizeof(d->owner), "%s", ev->actor);
		snprintf(d->custodian, sizeof(d->custodian), "%s", ev->actor);
		d->status = CUSTODY__DEVICE_STATUS__STORED;
		snprintf(d->facility, sizeof(d->facility), "%s", ev->facility);
		memcpy(d->head_id, ctx->event_id, STATE_ID_BYTES);
		d->head_seq = d->last_seq = d->registered_seq = ctx->seq;
		d->last_at_ms = ev->occurred_at_ms;
		d->is_new = d->dirty = true;
		if (ws_insert(ws, d) != CU_OK) {
			free(d);
			return CU_ERR_NOMEM;
		}
		if (add_link(res, d->serial, 0, "") != CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

/* PACK/UNPACK: moves item d into or out of container c. */
static void apply_nesting(struct dev *d, struct dev *c, bool pack)
{
	if (pack) {
		snprintf(d->parent, sizeof(d->parent), "%s", c->serial);
		add_child(c, d);
		d->status = c->status;
		snprintf(d->location, sizeof(d->location), "%s", c->location);
		return;
	}
	remove_child(c, d);
	d->parent[0] = '\0';
	d->status = CUSTODY__DEVICE_STATUS__STORED;
	d->location[0] = '\0';
}

/* A device reported lost or stolen is no longer inside its container. */
static void detach_if_gone(struct state_ws *ws, struct dev *d, const Custody__Event *ev)
{
	struct dev *parent;

	if (ev->reason != CUSTODY__REPORT_REASON__REPORT_LOST &&
	    ev->reason != CUSTODY__REPORT_REASON__REPORT_STOLEN)
		return;
	if (d->parent[0] == '\0')
		return;
	parent = state_ws_get(ws, d->parent);
	if (parent != NULL)
		remove_child(parent, d);
	d->parent[0] = '\0';
}

/* Applies a checked event: heads and links, then the type's effect. */
static int apply_event(struct state_ws *ws, const Custody__Event *ev, const struct state_ctx *ctx,
		       struct state_result *res)
{
	enum effect fx = type_rules[ev->type].effect;
	struct dev *c = ev->container ? state_ws_get(ws, ev->container->serial) : NULL;
	size_t n = ref_count(ev);

	if (ev->type == CUSTODY__EVENT_TYPE__REPORT &&
	    ev->reason == CUSTODY__REPORT_REASON__REPORT_FOUND)
		fx = FX_ARRIVE;
	for (size_t i = 0; i < n; i++) {
		struct dev *d = state_ws_get(ws, ref_at(ev, i)->serial);

		if (add_link(res, d->serial, d->head_seq, "") != CU_OK)
			return CU_ERR_NOMEM;
		memcpy(d->head_id, ctx->event_id, STATE_ID_BYTES);
		d->head_seq = d->last_seq = ctx->seq;
		if (ev->occurred_at_ms > d->last_at_ms)
			d->last_at_ms = ev->occurred_at_ms;
		d->dirty = true;
	}
	for (size_t i = 0; i < ev->n_devices; i++) {
		struct dev *d = state_ws_get(ws, ev->devices[i]->serial);
		enum effect inside = fx;

		if (fx == FX_PACK || fx == FX_UNPACK) {
			apply_nesting(d, c, fx == FX_PACK);
			inside = FX_FOLLOW; /* what is inside the item follows it */
		} else {
			if (fx == FX_REPORT)
				detach_if_gone(ws, d, ev);
			effect_one(d, d, ev, ctx, fx);
		}
		if (inside != FX_NONE && effect_inside(d, ev, inside, ctx, res) != CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

int state_check(const struct state_ws *ws, const Custody__Event *ev, const struct state_ctx *ctx,
		struct state_result *res)
{
	memset(res, 0, sizeof(*res));
	return check_event(ws, ev, ctx, res);
}

int state_apply(struct state_ws *ws, const Custody__Event *ev, const struct state_ctx *ctx,
		struct state_result *res)
{
	int rc;

	memset(res, 0, sizeof(*res));
	rc = check_event(ws, ev, ctx, res);
	if (rc != CU_OK || res->code != 0)
		return rc;
	if (ev->type == CUSTODY__EVENT_TYPE__REGISTER)
		return apply_register(ws, ev, ctx, res);
	return apply_event(ws, ev, ctx, res);
}
