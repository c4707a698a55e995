/* Unit tests for daemon/rules.c, written to the specification in rules.h.
 *
 * One table per rule family. Each row is a small world (an event, the
 * devices before it, licenses, roster rows, country-group overrides, tally
 * values, parameters) on top of a fixed registry and the real country
 * groups file, and the exact set of rule ids (with severities) the engine
 * must return: "" means nothing may fire. A family's rows all run and every
 * mismatch is printed before the family fails. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"
#include "rules.h"
#include "test_util.h"

#define DAY_MS	   (24LL * 3600 * 1000)
#define T0	   1772323200000LL /* 2026-03-01T00:00:00Z */
#define Y2026	   1767225600000LL /* 2026-01-01T00:00:00Z */
#define MAX_DEVS   6
#define MAX_TOKENS 16
#define EV(type)   CUSTODY__EVENT_TYPE__##type
#define ST(status) CUSTODY__DEVICE_STATUS__##status
#define KIND(kind) CUSTODY__DEVICE_KIND__##kind

/* ---- the fixed world ------------------------------------------------------ */

/* id, name, country, headquarters, ultimate parent */
static const struct party parties[] = {
    {"hyper", "Hyperscale Cloud Inc", "US", "US", "US"},
    {"euro", "EuroCloud GmbH", "DE", "DE", "DE"},
    {"oem", "Plain Servers Corp", "US", "US", "US"},
    {"op-us", "Oregon Colo LLC", "US", "US", "US"},
    {"op-jp", "Nihon Datacenter KK", "JP", "JP", "JP"},
    {"op-in", "Mumbai Compute Pvt Ltd", "IN", "IN", "IN"},
    {"op-in2", "Chennai Racks Pvt Ltd", "IN", "IN", "IN"},
    {"op-sg", "Lion City Logistics Pte Ltd", "SG", "SG", "SG"},
    {"ops", "Global Site Services Plc", "GB", "GB", "GB"},
    {"rep", "Formosa Repair Co", "TW", "TW", "TW"},
    {"cn-co", "Dragon Compute Co", "CN", "CN", "CN"},
    {"hk-co", "Harbour Compute Ltd", "HK", "HK", "HK"},
    {"mo-co", "Lotus Compute Ltd", "MO", "MO", "MO"},
    {"sg-shell", "Pacific Bridge Trading Pte", "SG", "SG", "CN"},
    {"mo-shell", "Jade Gate Holdings", "AE", "AE", "MO"},
    {"kh-co", "Angkor Compute", "KH", "KH", "KH"},
    {"shadow", "Shadow Compute Trading Limited", "SG", "SG", "SG"},
    {"shadow-x", "shadow  COMPUTE trading LTD", "SG", "SG", "SG"},
    {"north", "Northern Star Electronics", "AE", "AE", "AE"},
    {"carrier", "Swift Freight Inc", "US", "US", "US"},
    {"carrier-cn", "Red Dragon Freight", "CN", "CN", "CN"},
};

/* id, name, owner, operator, country, latitude, longitude (0, 0: none) */
static const struct facility facilities[] = {
    {"us-or", "us-or", "hyper", "op-us", "US", 45.5229, -122.9898}, /* Hillsboro, OR */
    {"us-va", "us-va", "hyper", "op-us", "US", 39.0438, -77.4874},
    {"us-nc", "us-nc", "hyper", "op-us", "US", 0, 0},
    {"jp-inzai", "jp-inzai", "hyper", "op-jp", "JP", 35.8324, 140.1453}, /* Inzai, Chiba */
    {"jp-osaka", "jp-osaka", "hyper", "op-jp", "JP", 34.6937, 135.5023},
    {"jp-new", "jp-new", "hyper", "op-jp", "JP", 35.4437, 139.6380}, /* not on the default roster */
    {"jp-euro", "jp-euro", "euro", "op-jp", "JP", 35.6762, 139.6503},
    {"jp-cnop", "jp-cnop", "op-jp", "cn-co", "JP", 35.0116, 135.7681},
    {"jp-shell", "jp-shell", "sg-shell", "op-jp", "JP", 34.9858, 135.7588},
    {"jp-shadow", "jp-shadow", "op-jp", "shadow-x", "JP", 33.5904, 130.4017},
    {"jp-nc", "jp-nc", "hyper", "op-jp", "JP", 0, 0},
    {"de-fra", "de-fra", "hyper", "ops", "DE", 50.1109, 8.6821},
    {"in-mum", "in-mum", "hyper", "op-in", "IN", 19.0760, 72.8777},
    {"in-che", "in-che", "hyper", "op-in2", "IN", 13.0827, 80.2707},
    {"ae-dxb", "ae-dxb", "hyper", "ops", "AE", 25.2048, 55.2708},
    {"br-sao", "br-sao", "hyper", "ops", "BR", -23.5505, -46.6333},
    {"mx-qro", "mx-qro", "hyper", "ops", "MX", 20.5888, -100.3899},
    {"my-jhr", "my-jhr", "hyper", "ops", "MY", 1.4927, 103.7414},
    {"sg-hub", "sg-hub", "op-sg", "op-sg", "SG", 1.3521, 103.8198},
    {"sg-dc", "sg-dc", "hyper", "op-sg", "SG", 1.2900, 103.8500},
    {"vn-hn", "vn-hn", "hyper", "ops", "VN", 21.0278, 105.8342},
    {"vn-new", "vn-new", "hyper", "ops", "VN", 10.8231, 106.6297}, /* not on the default roster */
    {"sa-ryd", "sa-ryd", "hyper", "ops", "SA", 24.7136, 46.6753},
    {"il-tlv", "il-tlv", "hyper", "ops", "IL", 32.0853, 34.7818},
    {"kz-ala", "kz-ala", "hyper", "ops", "KZ", 43.2220, 76.8512},
    {"cn-bj", "cn-bj", "ops", "ops", "CN", 39.9042, 116.4074},
    {"cn-hyper", "cn-hyper", "hyper", "ops", "CN", 31.2304, 121.4737},
    {"hk-1", "hk-1", "ops", "ops", "HK", 22.3193, 114.1694},
    {"mo-1", "mo-1", "ops", "ops", "MO", 22.1987, 113.5439},
    {"ir-1", "ir-1", "ops", "ops", "IR", 35.6892, 51.3890},
    {"cu-1", "cu-1", "ops", "ops", "CU", 23.1136, -82.3666},
    {"kp-1", "kp-1", "ops", "ops", "KP", 39.0392, 125.7625},
    {"ru-1", "ru-1", "ops", "ops", "RU", 55.7558, 37.6173},
    {"kh-1", "kh-1", "ops", "ops", "KH", 11.5564, 104.9282},
    {"ni-1", "ni-1", "ops", "ops", "NI", 12.1140, -86.2362},
    {"tw-rep", "tw-rep", "rep", "rep", "TW", 25.0330, 121.5654},
};

/* Sites of the default roster: SITE and TRANSFER notices a year before T0. */
static const char *const hyper_sites[] = {"jp-inzai", "jp-osaka", "de-fra", "in-mum", "in-che",
					  "ae-dxb",   "br-sao",	  "mx-qro", "my-jhr", "sg-dc",
					  "vn-hn",    "sa-ryd",	  "il-tlv", "kz-ala"};

static const struct {
	const char *name, *eccn;
	uint64_t tpp;
} models[] = {
    {"TEST-100", "3A090.a", 100},
    {"H100-SXM", "3A090.a", 15832},
    {"H20", "none", 2368},
};

/* ---- scenarios ------------------------------------------------------------ */

struct dev_spec {
	const char *serial;
	Custody__DeviceKind kind;     /* 0: CHIP */
	const char *eccn;	      /* chips: NULL is "3A090.a" */
	int64_t tpp;		      /* chips: 0 is 1000 */
	const char *owner;	      /* NULL: "hyper" */
	Custody__DeviceStatus status; /* 0: STORED */
	const char *facility;	      /* NULL: the event's facility */
	const char *dest;	      /* in transit or repair: the destination */
	uint64_t shipment_seq;
	int64_t last_at_ms; /* 0: 30 days before the event */
	const char *parent;
	/* at_kmh > 0: last_at_ms such that reaching the event's facility took
	 * exactly at_kmh (rounded to the slower ms), plus extra_ms. */
	double at_kmh;
	int64_t extra_ms;
};

struct ev_spec {
	Custody__EventType type;
	const char *actor;    /* NULL: the first device's owner */
	const char *facility; /* NULL: "us-or" */
	const char *to, *consignee, *carrier, *license;
	int64_t at_ms;	       /* 0: T0 */
	const char *serials;   /* space-separated; NULL: devices without a parent */
	const char *register_; /* REGISTER: "serial=model ..." */
	const char *reported;  /* ATTEST: reported contents */
};

struct license_spec {
	const char *number;
	const char *holder; /* NULL: the first device's owner */
	const char *dests;  /* space-separated */
	const char *eccns;  /* NULL: "3A090.a 3A090.b" */
	uint64_t max_tpp, max_units;
	int64_t from_ms, until_ms;
	const char *consignee;
};

struct roster_spec {
	const char *exporter, *facility;
	int64_t at_ms;
	Custody__RosterNotice notice; /* 0: SITE */
};

struct override_spec {
	const char *group, *cc;
	bool member;
};

struct tally_spec {
	const char *key;
	int64_t value;
};

struct params_spec {
	enum regime regime;
	int64_t site_notice_ms, transfer_notice_ms; /* 0: default */
	double max_travel_kmh;			    /* 0: default */
	int64_t lpp_cap_tpp;			    /* 0: default */
	const char *hubs;			    /* NULL: default */
};

struct scenario {
	const char *name;
	struct ev_spec ev;
	struct dev_spec devs[MAX_DEVS];
	struct license_spec licenses[2];
	struct roster_spec roster[3]; /* on top of the default roster */
	struct override_spec overrides[2];
	struct tally_spec tally[6];
	struct params_spec params;
	const char *expect; /* "rule:R rule:A ..." exactly; "" is nothing */
	const char *usage;  /* NULL: not checked; else "key=amount ..." exactly */
};

/* ---- building a world ----------------------------------------------------- */

static struct registry *reg;
/* Country groups (the real file), models and screening list, loaded once. */
static struct policy_store *base;

struct tokens {
	char buf[1024];
	char *v[MAX_TOKENS];
	size_t n;
};

static void split(struct tokens *t, const char *s)
{
	char *save;

	t->n = 0;
	snprintf(t->buf, sizeof(t->buf), "%s", s != NULL ? s : "");
	for (char *w = strtok_r(t->buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		assert_true(t->n < MAX_TOKENS);
		t->v[t->n++] = w;
	}
}

/* The real country groups file of the source tree. */
static struct csv *open_country_groups(void)
{
	struct csv *csv = NULL;

	assert_int_equal(csv_open(test_source_path("deploy/policy/country_groups.csv"), 1, &csv),
			 CU_OK);
	return csv;
}

static void add_load(struct policy_store *store, const Custody__PolicyLoad *pl)
{
	char err[256];

	if (policy_store_add(store, pl, 0, err, sizeof(err)) != CU_OK)
		fail_msg("policy load of kind %d refused: %s", pl->kind, err);
}

/* Loads the real country groups file as a COUNTRY_GROUPS version. */
static void add_country_groups(struct policy_store *store)
{
	static Custody__CountryGroupRow rows[512], *ptrs[512];
	static char text[512][2][24];
	struct csv *csv = open_country_groups();
	Custody__PolicyLoad pl;
	char **fields;
	size_t count, n = 0;

	custody__policy_load__init(&pl);
	pl.kind = CUSTODY__POLICY_KIND__COUNTRY_GROUPS;
	assert_int_equal(csv_next(csv, &fields, &count), CU_OK); /* header */
	while (csv_next(csv, &fields, &count) == CU_OK) {
		assert_true(count >= 2 && n < 512);
		custody__country_group_row__init(&rows[n]);
		snprintf(text[n][0], sizeof(text[n][0]), "%s", fields[0]);
		snprintf(text[n][1], sizeof(text[n][1]), "%s", fields[1]);
		rows[n].group = text[n][0];
		rows[n].country = text[n][1];
		ptrs[n] = &rows[n];
		n++;
	}
	csv_close(csv);
	assert_true(n > 300);
	pl.country_groups = ptrs;
	pl.n_country_groups = n;
	add_load(store, &pl);
}

static void add_models(struct policy_store *store)
{
	Custody__PolicyLoad pl;
	Custody__ModelRow rows[sizeof(models) / sizeof(models[0])];
	Custody__ModelRow *ptrs[sizeof(models) / sizeof(models[0])];

	custody__policy_load__init(&pl);
	pl.kind = CUSTODY__POLICY_KIND__MODELS;
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++) {
		custody__model_row__init(&rows[i]);
		rows[i].model = (char *)models[i].name;
		rows[i].eccn_class = (char *)models[i].eccn;
		rows[i].tpp = models[i].tpp;
		ptrs[i] = &rows[i];
	}
	pl.models = ptrs;
	pl.n_models = sizeof(models) / sizeof(models[0]);
	add_load(store, &pl);
}

static void add_screening(struct policy_store *store)
{
	Custody__PolicyLoad pl;
	Custody__ScreeningEntry e[2], *ptrs[2] = {&e[0], &e[1]};
	char *shadow_alts[] = {"SCT Hong Kong Limited"};
	char *acme_alts[] = {"Northern Star Electronics"};

	custody__policy_load__init(&pl);
	pl.kind = CUSTODY__POLICY_KIND__SCREENING;
	for (int i = 0; i < 2; i++) {
		custody__screening_entry__init(&e[i]);
		e[i].source = "Entity List (EL) - Bureau of Industry and Security";
	}
	e[0].id = "e-shadow";
	e[0].name = "Shadow Compute Trading Ltd";
	e[0].alt_names = shadow_alts;
	e[0].n_alt_names = 1;
	e[1].id = "e-acme";
	e[1].name = "Acme Robotics Ltd";
	e[1].alt_names = acme_alts;
	e[1].n_alt_names = 1;
	pl.screening = ptrs;
	pl.n_screening = 2;
	add_load(store, &pl);
}

static int world_setup(void **state)
{
	(void)state;
	reg = registry_new();
	assert_non_null(reg);
	for (size_t i = 0; i < sizeof(parties) / sizeof(parties[0]); i++)
		assert_int_equal(registry_put_party(reg, &parties[i]), CU_OK);
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		assert_int_equal(registry_put_facility(reg, &facilities[i]), CU_OK);
	base = policy_store_new();
	assert_non_null(base);
	add_country_groups(base);
	add_models(base);
	add_screening(base);
	return 0;
}

static int world_teardown(void **state)
{
	(void)state;
	registry_free(reg);
	policy_store_free(base);
	return 0;
}

/* Everything one scenario builds; freed by world_clear. */
struct world {
	const struct scenario *sc;
	struct policy_store *store;
	struct policy_view view;
	struct state_ws *ws;
	struct tally *tally;
	struct rules_params params;
	Custody__Event ev;
	Custody__DeviceRef refs[MAX_TOKENS], *ref_ptrs[MAX_TOKENS];
	struct tokens serials, reported, reg_specs, dests[2], eccns[2];
	int64_t at_ms;
	const char *exporter;
};

static void roster_row(Custody__RosterRow *rows, size_t *n, const char *exporter,
		       const char *facility, int64_t at_ms, Custody__RosterNotice notice)
{
	custody__roster_row__init(&rows[*n]);
	rows[*n].exporter = (char *)exporter;
	rows[*n].facility = (char *)facility;
	rows[*n].notified_at_ms = at_ms;
	rows[*n].notice = notice;
	(*n)++;
}

/* hyper's sites and euro's jp-euro, notified a year before T0, plus the scenario's rows. */
static void add_roster(struct world *w)
{
	const struct roster_spec *r = w->sc->roster;
	Custody__PolicyLoad pl;
	Custody__RosterRow rows[64], *ptrs[64];
	size_t n = 0;

	custody__policy_load__init(&pl);
	pl.kind = CUSTODY__POLICY_KIND__ROSTER;
	for (int notice = 1; notice <= 2; notice++) {
		for (size_t i = 0; i < sizeof(hyper_sites) / sizeof(hyper_sites[0]); i++)
			roster_row(rows, &n, "hyper", hyper_sites[i], T0 - 365 * DAY_MS, notice);
		roster_row(rows, &n, "euro", "jp-euro", T0 - 365 * DAY_MS, notice);
	}
	for (size_t i = 0; i < sizeof(w->sc->roster) / sizeof(r[0]) && r[i].exporter; i++)
		roster_row(rows, &n, r[i].exporter, r[i].facility, r[i].at_ms, r[i].notice);
	for (size_t i = 0; i < n; i++)
		ptrs[i] = &rows[i];
	pl.roster = ptrs;
	pl.n_roster = n;
	add_load(w->store, &pl);
}

static void add_licenses(struct world *w)
{
	const struct scenario *sc = w->sc;
	Custody__PolicyLoad pl;
	Custody__License rows[2], *ptrs[2];
	size_t n = 0;

	custody__policy_load__init(&pl);
	pl.kind = CUSTODY__POLICY_KIND__LICENSES;
	for (size_t i = 0; i < 2 && sc->licenses[i].number != NULL; i++) {
		const struct license_spec *s = &sc->licenses[i];
		Custody__License *l = &rows[n];

		custody__license__init(l);
		l->number = (char *)s->number;
		l->holder = (char *)(s->holder != NULL ? s->holder : w->exporter);
		split(&w->dests[i], s->dests);
		split(&w->eccns[i], s->eccns != NULL ? s->eccns : "3A090.a 3A090.b");
		l->destinations = w->dests[i].v;
		l->n_destinations = w->dests[i].n;
		l->eccns = w->eccns[i].v;
		l->n_eccns = w->eccns[i].n;
		l->max_tpp = s->max_tpp;
		l->max_units = s->max_units;
		l->valid_from_ms = s->from_ms;
		l->valid_until_ms = s->until_ms;
		l->consignee = (char *)(s->consignee != NULL ? s->consignee : "");
		ptrs[n++] = l;
	}
	if (n == 0)
		return;
	pl.licenses = ptrs;
	pl.n_licenses = n;
	add_load(w->store, &pl);
}

static void add_overrides(struct world *w)
{
	const struct scenario *sc = w->sc;
	Custody__PolicyLoad pl;
	Custody__CountryGroupRow rows[2], *ptrs[2];
	size_t n = 0;

	custody__policy_load__init(&pl);
	pl.kind = CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES;
	for (size_t i = 0; i < 2 && sc->overrides[i].group != NULL; i++) {
		custody__country_group_row__init(&rows[n]);
		rows[n].group = (char *)sc->overrides[i].group;
		rows[n].country = (char *)sc->overrides[i].cc;
		rows[n].member = sc->overrides[i].member;
		ptrs[n] = &rows[n];
		n++;
	}
	if (n == 0)
		return;
	pl.country_groups = ptrs;
	pl.n_country_groups = n;
	add_load(w->store, &pl);
}

/* The scenario's own versions on top of the base ones. */
static void build_policy(struct world *w)
{
	struct policy_view own;

	w->store = policy_store_new();
	assert_non_null(w->store);
	add_roster(w);
	add_licenses(w);
	add_overrides(w);
	policy_view_at(base, w->at_ms, &w->view);
	policy_view_at(w->store, w->at_ms, &own);
	for (size_t k = 0; k < sizeof(own.of) / sizeof(own.of[0]); k++) {
		if (own.of[k] != NULL)
			w->view.of[k] = own.of[k];
	}
}

static void build_params(struct world *w)
{
	const struct params_spec *p = &w->sc->params;
	struct tokens hubs;

	rules_params_default(&w->params);
	w->params.regime = p->regime;
	if (p->site_notice_ms != 0)
		w->params.site_notice_ms = p->site_notice_ms;
	if (p->transfer_notice_ms != 0)
		w->params.transfer_notice_ms = p->transfer_notice_ms;
	if (p->max_travel_kmh != 0)
		w->params.max_travel_kmh = p->max_travel_kmh;
	if (p->lpp_cap_tpp != 0)
		w->params.lpp_cap_tpp = p->lpp_cap_tpp;
	if (p->hubs != NULL) {
		split(&hubs, p->hubs);
		w->params.n_hubs = 0;
		for (size_t i = 0; i < hubs.n; i++)
			memcpy(w->params.hubs[w->params.n_hubs++], hubs.v[i], 3);
	}
}

static const char *ev_facility(const struct scenario *sc)
{
	return sc->ev.facility != NULL ? sc->ev.facility : "us-or";
}

/* When the device was last seen so that its trip took exactly at_kmh. */
static int64_t last_at_for_speed(const struct world *w, const struct dev_spec *s)
{
	const struct facility *from = registry_facility(reg, s->facility);
	const struct facility *to = registry_facility(reg, ev_facility(w->sc));
	double km = rules_distance_km(from->latitude, from->longitude, to->latitude, to->longitude);

	return w->at_ms - ((int64_t)ceil(km * 3600000.0 / s->at_kmh) + s->extra_ms);
}

static void build_devices(struct world *w)
{
	const struct scenario *sc = w->sc;

	w->ws = state_ws_new();
	assert_non_null(w->ws);
	for (size_t i = 0; i < MAX_DEVS && sc->devs[i].serial != NULL; i++) {
		const struct dev_spec *s = &sc->devs[i];
		struct dev d;

		memset(&d, 0, sizeof(d));
		snprintf(d.serial, sizeof(d.serial), "%s", s->serial);
		d.kind = s->kind ? s->kind : KIND(CHIP);
		if (d.kind == KIND(CHIP)) {
			snprintf(d.eccn_class, sizeof(d.eccn_class), "%s",
				 s->eccn != NULL ? s->eccn : "3A090.a");
			d.tpp = s->tpp != 0 ? s->tpp : 1000;
		}
		snprintf(d.owner, sizeof(d.owner), "%s", s->owner != NULL ? s->owner : "hyper");
		snprintf(d.custodian, sizeof(d.custodian), "%s", d.owner);
		d.status = s->status ? s->status : ST(STORED);
		snprintf(d.facility, sizeof(d.facility), "%s",
			 s->facility != NULL ? s->facility : ev_facility(sc));
		snprintf(d.dest_facility, sizeof(d.dest_facility), "%s", s->dest ? s->dest : "");
		snprintf(d.parent, sizeof(d.parent), "%s", s->parent ? s->parent : "");
		d.shipment_seq = s->shipment_seq;
		d.last_at_ms = s->last_at_ms != 0 ? s->last_at_ms : w->at_ms - 30 * DAY_MS;
		if (s->at_kmh > 0)
			d.last_at_ms = last_at_for_speed(w, s);
		d.head_seq = d.last_seq = d.registered_seq = 1;
		assert_int_equal(state_ws_add(w->ws, &d), CU_OK);
	}
	state_ws_link(w->ws);
}

static void add_ref(struct world *w, const char *serial)
{
	Custody__DeviceRef *r = &w->refs[w->ev.n_devices];

	assert_true(w->ev.n_devices < MAX_TOKENS);
	custody__device_ref__init(r);
	r->serial = (char *)serial;
	w->ref_ptrs[w->ev.n_devices++] = r;
}

static void build_event(struct world *w)
{
	const struct ev_spec *s = &w->sc->ev;
	Custody__Event *ev = &w->ev;

	custody__event__init(ev);
	ev->type = s->type;
	ev->occurred_at_ms = w->at_ms;
	ev->facility = (char *)ev_facility(w->sc);
	ev->to_facility = (char *)(s->to ? s->to : "");
	ev->consignee = (char *)(s->consignee ? s->consignee : "");
	ev->carrier = (char *)(s->carrier ? s->carrier : "");
	ev->license = (char *)(s->license ? s->license : "");
	ev->devices = w->ref_ptrs;
	if (s->register_ != NULL) {
		split(&w->reg_specs, s->register_);
		for (size_t i = 0; i < w->reg_specs.n; i++) {
			char *eq = strchr(w->reg_specs.v[i], '=');

			assert_non_null(eq);
			*eq = '\0';
			add_ref(w, w->reg_specs.v[i]);
			w->refs[i].kind = KIND(CHIP);
			w->refs[i].model = eq + 1;
		}
	} else if (s->serials != NULL) {
		split(&w->serials, s->serials);
		for (size_t i = 0; i < w->serials.n; i++)
			add_ref(w, w->serials.v[i]);
	} else {
		for (size_t i = 0; i < MAX_DEVS && w->sc->devs[i].serial != NULL; i++) {
			if (w->sc->devs[i].parent == NULL)
				add_ref(w, w->sc->devs[i].serial);
		}
	}
	split(&w->reported, s->reported);
	ev->reported_contents = w->reported.v;
	ev->n_reported_contents = w->reported.n;
	ev->actor = (char *)(s->actor != NULL ? s->actor : w->exporter);
}

static void build_world(struct world *w, const struct scenario *sc)
{
	memset(w, 0, sizeof(*w));
	w->sc = sc;
	w->at_ms = sc->ev.at_ms != 0 ? sc->ev.at_ms : T0;
	w->exporter = sc->devs[0].owner != NULL ? sc->devs[0].owner : "hyper";
	if (sc->ev.type == EV(REGISTER) && sc->ev.actor != NULL)
		w->exporter = sc->ev.actor;
	build_params(w);
	build_policy(w);
	build_devices(w);
	build_event(w);
	w->tally = tally_new();
	assert_non_null(w->tally);
	for (size_t i = 0; i < 6 && sc->tally[i].key != NULL; i++)
		assert_int_equal(tally_add(w->tally, sc->tally[i].key, sc->tally[i].value), CU_OK);
	tally_commit(w->tally);
}

static void world_clear(struct world *w)
{
	policy_store_free(w->store);
	state_ws_free(w->ws);
	tally_free(w->tally);
}

/* ---- checking a verdict ------------------------------------------------------ */

static char sev_letter(Custody__Severity s)
{
	return s == CUSTODY__SEVERITY__SEVERITY_REJECT	? 'R'
	       : s == CUSTODY__SEVERITY__SEVERITY_ALERT ? 'A'
							: '?';
}

/* The hits as "rule:R rule:A", the usage as "key=amount". */
static void describe(const struct verdict *v, char *hits, char *usage, size_t size)
{
	size_t n = 0, m = 0;

	hits[0] = usage[0] = '\0';
	for (size_t i = 0; i < v->n_hits && n < size; i++)
		n += (size_t)snprintf(hits + n, size - n, "%s%s:%c", i ? " " : "", v->hits[i].rule,
				      sev_letter(v->hits[i].severity));
	for (size_t i = 0; i < v->n_usage && m < size; i++)
		m += (size_t)snprintf(usage + m, size - m, "%s%s=%lld", i ? " " : "",
				      v->usage[i].key, (long long)v->usage[i].amount);
}

static int compare_words(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Do the space-separated words of a and b make the same multiset? */
static bool same_words(const char *a, const char *b)
{
	struct tokens ta, tb;

	split(&ta, a);
	split(&tb, b);
	if (ta.n != tb.n)
		return false;
	qsort(ta.v, ta.n, sizeof(ta.v[0]), compare_words);
	qsort(tb.v, tb.n, sizeof(tb.v[0]), compare_words);
	for (size_t i = 0; i < ta.n; i++) {
		if (strcmp(ta.v[i], tb.v[i]) != 0)
			return false;
	}
	return true;
}

/* Runs one scenario; prints and returns false on a mismatch. */
static bool run_scenario(const struct scenario *sc)
{
	struct world w;
	struct rules_input in;
	struct verdict v;
	char got[1024], usage[1024];
	bool ok;

	build_world(&w, sc);
	memset(&in, 0, sizeof(in));
	in.ev = &w.ev;
	in.seq = 100;
	in.ws = w.ws;
	in.reg = reg;
	in.pol = &w.view;
	in.params = &w.params;
	in.tally = w.tally;
	assert_int_equal(rules_check(&in, &v), CU_OK);
	describe(&v, got, usage, sizeof(got));
	ok = same_words(sc->expect, got) && v.reject == (strstr(sc->expect, ":R") != NULL);
	if (!ok)
		print_error("FAIL %s\n     want [%s]\n     got  [%s]\n", sc->name, sc->expect, got);
	for (size_t i = 0; i < v.n_hits; i++) {
		const struct rule_def *def = rules_find(v.hits[i].rule);

		assert_non_null(def);
		assert_int_equal(v.hits[i].severity, def->severity);
		assert_int_equal(v.hits[i].alert, def->alert);
		assert_true(strlen(v.hits[i].reason) > 10);
		if (!ok)
			print_error("       %s: %s\n", v.hits[i].rule, v.hits[i].reason);
	}
	/* License and LPP use are stored; allocation is derived. */
	for (size_t i = 0; i < v.n_usage; i++)
		assert_int_equal(v.usage[i].stored, strncmp(v.usage[i].key, "alloc:", 6) != 0);
	if (sc->usage != NULL && !same_words(sc->usage, usage)) {
		print_error("FAIL %s (usage)\n     want [%s]\n     got  [%s]\n", sc->name,
			    sc->usage, usage);
		ok = false;
	}
	world_clear(&w);
	return ok;
}

static void run_table(const struct scenario *table, size_t n)
{
	size_t failed = 0;

	for (size_t i = 0; i < n; i++)
		failed += run_scenario(&table[i]) ? 0 : 1;
	if (failed != 0)
		fail_msg("%zu of %zu scenarios failed", failed, n);
}

/* ---- tables ---------------------------------------------------------------- */

/* Braced initializers as macro calls, so that rows read as one call each. */
#define LIST(...)                                                                                  \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}
#define CASE(...) LIST(__VA_ARGS__)
#define DEV(...)  LIST(__VA_ARGS__)
/* Devices: one chip of hyper's or oem's, or in transit from us-or. */
#define CHIP(s)	     DEV(.serial = s)
#define OEM_CHIP(s)  DEV(.serial = s, .owner = "oem")
#define HYPER_G1     LIST(CHIP("G1"))
#define OEM_G1	     LIST(OEM_CHIP("G1"))
#define HYPER_TPP(t) LIST(DEV(.serial = "G1", .tpp = t))
#define TRANSIT(s, to, seq)                                                                        \
	DEV(.serial = s, .status = ST(IN_TRANSIT), .facility = "us-or", .dest = to,                \
	    .shipment_seq = seq)
/* Events. */
#define SHIP_TO(dest)		LIST(.type = EV(SHIP), .to = dest)
#define SHIP_FOR(dest, to_whom) LIST(.type = EV(SHIP), .to = dest, .consignee = to_whom)
#define SHIP_FROM(fac, dest)	LIST(.type = EV(SHIP), .facility = fac, .to = dest)
#define SHIP_NAMED(dest, lic)	LIST(.type = EV(SHIP), .to = dest, .license = lic)
#define RECEIVE_AT(fac, by)	LIST(.type = EV(RECEIVE), .facility = fac, .actor = by)
#define ATTEST_AT(fac, by)	LIST(.type = EV(ATTEST), .facility = fac, .actor = by)
#define RMA_IN_AT(fac, by)	LIST(.type = EV(RMA_IN), .facility = fac, .actor = by)
#define REGISTER_AT(fac, spec)                                                                     \
	LIST(.type = EV(REGISTER), .facility = fac, .actor = "hyper", .register_ = spec)
/* Roster rows of hyper's, given ago_ms before the event at T0. */
#define SITE(fac, ago_ms) LIST("hyper", fac, T0 - (ago_ms), CUSTODY__ROSTER_NOTICE__SITE)
#define XFER(fac, ago_ms) LIST("hyper", fac, T0 - (ago_ms), CUSTODY__ROSTER_NOTICE__TRANSFER)
#define JAN2025		  LIST(.regime = REGIME_JAN2025)
#define SIIA		  LIST(.regime = REGIME_SIIA)
/* The most common expectations. */
#define EMBARGOED	 "dest.embargoed:R"
#define LICENSE_REQUIRED "dest.license_required:R"
#define HQ_D5		 "party.hq_d5:R"

/* dest.embargoed, with every way a license may or may not waive it. */
static const struct scenario dest_embargoed[] = {
    CASE("E:1 Iran", SHIP_TO("ir-1"), OEM_G1, .expect = EMBARGOED),
    CASE("E:2 Cuba", SHIP_TO("cu-1"), OEM_G1, .expect = EMBARGOED),
    CASE("E:1 North Korea", SHIP_TO("kp-1"), OEM_G1, .expect = EMBARGOED),
    CASE("D:5 China", SHIP_TO("cn-bj"), OEM_G1, .expect = EMBARGOED),
    CASE("D:5 Russia", SHIP_TO("ru-1"), OEM_G1, .expect = EMBARGOED),
    CASE("D:5 Nicaragua", SHIP_TO("ni-1"), OEM_G1, .expect = EMBARGOED),
    CASE("Macau (not in D:5 in the file)", SHIP_TO("mo-1"), OEM_G1, .expect = EMBARGOED),
    CASE("Hong Kong reads as China", SHIP_TO("hk-1"), OEM_G1, .expect = EMBARGOED),
    CASE("RMA_OUT to China", {.type = EV(RMA_OUT), .to = "cn-bj"}, OEM_G1, .expect = EMBARGOED),
    CASE("3A090.b chip to China", SHIP_TO("cn-bj"),
	 {DEV(.serial = "G1", .owner = "oem", .eccn = "3A090.b")}, .expect = EMBARGOED),
    CASE("server holding a 3A090.a chip to China", SHIP_TO("cn-bj"),
	 {DEV(.serial = "SRV", .kind = KIND(SERVER), .owner = "oem"),
	  DEV(.serial = "G1", .owner = "oem", .parent = "SRV")},
	 .expect = EMBARGOED),
    CASE("non-controlled chip to China", SHIP_TO("cn-bj"),
	 {DEV(.serial = "G1", .owner = "oem", .eccn = "none", .tpp = 2368)}, .expect = ""),
    CASE("non-controlled chip to Iran", SHIP_TO("ir-1"),
	 {DEV(.serial = "G1", .owner = "oem", .eccn = "none", .tpp = 2368)}, .expect = ""),
    CASE("E:1 alone (Iran's D:5 taken away by override)", SHIP_TO("ir-1"), OEM_G1,
	 .overrides = {{"D:5", "IR", false}}, .expect = EMBARGOED),
    CASE("Cambodia left D:5: D:1 only", SHIP_TO("kh-1"), OEM_G1, .expect = LICENSE_REQUIRED),
    CASE("Cambodia put back in D:5 by override", SHIP_TO("kh-1"), OEM_G1,
	 .overrides = {{"D:5", "KH", true}}, .expect = EMBARGOED),
    CASE("Nicaragua taken out of D:5 by override (still D:1)", SHIP_TO("ni-1"), OEM_G1,
	 .overrides = {{"D:5", "NI", false}}, .expect = LICENSE_REQUIRED),
    CASE("covering license waives", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "CN", .eccns = "3A090.a"}}, .expect = "",
	 .usage = "license:L1:tpp=1000 license:L1:units=1 alloc:oem:US=-1000 alloc:oem:CN=1000"),
    CASE("covering license for Hong Kong", SHIP_TO("hk-1"), OEM_G1,
	 .licenses = {{"L1", .dests = "HK"}}, .expect = ""),
    CASE("license for another destination", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "RU"}}, .expect = EMBARGOED),
    CASE("license for another ECCN", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "CN", .eccns = "3A090.b"}}, .expect = EMBARGOED),
    CASE("license for 3A090.a covers a server holding one (4A090.a)", SHIP_TO("cn-bj"),
	 {DEV(.serial = "SRV", .kind = KIND(SERVER), .owner = "oem"),
	  DEV(.serial = "G1", .owner = "oem", .parent = "SRV")},
	 .licenses = {{"L1", .dests = "CN", .eccns = "3A090.a"}}, .expect = ""),
    CASE("license for 4A090.a covers a server holding a 3A090.a chip", SHIP_TO("cn-bj"),
	 {DEV(.serial = "SRV", .kind = KIND(SERVER), .owner = "oem"),
	  DEV(.serial = "G1", .owner = "oem", .parent = "SRV")},
	 .licenses = {{"L1", .dests = "CN", .eccns = "4A090.a"}}, .expect = ""),
    CASE("license for 4A090.a only does not cover a bare 3A090.a chip", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "CN", .eccns = "4A090.a"}}, .expect = EMBARGOED),
    CASE("a+b chips, license for 3A090.a only", SHIP_TO("cn-bj"),
	 {OEM_CHIP("G1"), DEV(.serial = "G2", .owner = "oem", .eccn = "3A090.b")},
	 .licenses = {{"L1", .dests = "CN", .eccns = "3A090.a"}}, .expect = EMBARGOED),
    CASE("expired license (valid_until == occurred_at)", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "CN", .until_ms = T0}}, .expect = EMBARGOED),
    CASE("license valid until 1 ms later", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "CN", .until_ms = T0 + 1}}, .expect = ""),
    CASE("license not yet valid", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "CN", .from_ms = T0 + 1}}, .expect = EMBARGOED),
    CASE("license valid from exactly now", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "CN", .from_ms = T0}}, .expect = ""),
    CASE("license held by another exporter", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .holder = "hyper", .dests = "CN"}}, .expect = EMBARGOED),
    CASE("max_tpp exactly reached", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "CN", .max_tpp = 10000}}, .tally = {{"license:L1:tpp", 9000}},
	 .expect = "",
	 .usage = "license:L1:tpp=1000 license:L1:units=1 alloc:oem:US=-1000 alloc:oem:CN=1000"),
    CASE("max_tpp one TPP short", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "CN", .max_tpp = 10000}}, .tally = {{"license:L1:tpp", 9001}},
	 .expect = EMBARGOED),
    CASE("max_units exactly reached", SHIP_TO("cn-bj"), {OEM_CHIP("G1"), OEM_CHIP("G2")},
	 .licenses = {{"L1", .dests = "CN", .max_units = 5}}, .tally = {{"license:L1:units", 3}},
	 .expect = "",
	 .usage = "license:L1:tpp=2000 license:L1:units=2 alloc:oem:US=-2000 alloc:oem:CN=2000"),
    CASE("max_units one chip short", SHIP_TO("cn-bj"), {OEM_CHIP("G1"), OEM_CHIP("G2")},
	 .licenses = {{"L1", .dests = "CN", .max_units = 5}}, .tally = {{"license:L1:units", 4}},
	 .expect = EMBARGOED),
    CASE("license for the consignee (the destination's operator)", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "CN", .consignee = "ops"}}, .expect = ""),
    CASE("license for another consignee", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "CN", .consignee = "cn-co"}}, .expect = EMBARGOED),
    CASE("second license covers when the first does not", SHIP_TO("cn-bj"), OEM_G1,
	 .licenses = {{"L1", .dests = "RU"}, {"L2", .dests = "CN"}}, .expect = "",
	 .usage = "license:L2:tpp=1000 license:L2:units=1 alloc:oem:US=-1000 alloc:oem:CN=1000"),
    CASE("trusted exporter's own roster site in China is still embargoed", SHIP_TO("cn-hyper"),
	 HYPER_G1, .roster = {SITE("cn-hyper", 365 * DAY_MS), XFER("cn-hyper", 365 * DAY_MS)},
	 .expect = EMBARGOED),
};

/* dest.license_required: May 2025 controls and the SIIA proposal only. */
static const struct scenario dest_license_required[] = {
    CASE("3A090.a to Vietnam (D:1)", SHIP_TO("vn-hn"), OEM_G1, .expect = LICENSE_REQUIRED),
    CASE("3A090.a to Saudi Arabia (D:4)", SHIP_TO("sa-ryd"), OEM_G1, .expect = LICENSE_REQUIRED),
    CASE("3A090.a to Kazakhstan (D:1, A:4)", SHIP_TO("kz-ala"), OEM_G1, .expect = LICENSE_REQUIRED),
    CASE("3A090.a to Israel (D:4 and A:6)", SHIP_TO("il-tlv"), OEM_G1, .expect = ""),
    CASE("3A090.a to Vietnam once it is in A:5 (override)", SHIP_TO("vn-hn"), OEM_G1,
	 .overrides = {{"A:5", "VN", true}}, .expect = ""),
    CASE("3A090.b only to Vietnam", SHIP_TO("vn-hn"),
	 {DEV(.serial = "G1", .owner = "oem", .eccn = "3A090.b")}, .expect = ""),
    CASE("a and b chips to Vietnam", SHIP_TO("vn-hn"),
	 {DEV(.serial = "G1", .owner = "oem", .eccn = "3A090.b"), OEM_CHIP("G2")},
	 .expect = LICENSE_REQUIRED),
    CASE("server with a 3A090.a chip to Vietnam", SHIP_TO("vn-hn"),
	 {DEV(.serial = "SRV", .kind = KIND(SERVER), .owner = "oem"),
	  DEV(.serial = "B1", .kind = KIND(BOARD), .owner = "oem", .parent = "SRV"),
	  DEV(.serial = "G1", .owner = "oem", .parent = "B1")},
	 .expect = LICENSE_REQUIRED),
    CASE("non-controlled to Vietnam", SHIP_TO("vn-hn"),
	 {DEV(.serial = "G1", .owner = "oem", .eccn = "none")}, .expect = ""),
    CASE("3A090.a to Vietnam under siia", SHIP_TO("vn-hn"), OEM_G1, .params = SIIA,
	 .expect = LICENSE_REQUIRED),
    CASE("3A090.a to Vietnam under jan2025", SHIP_TO("vn-hn"), OEM_G1, .params = JAN2025,
	 .expect = ""),
    CASE("3A090.a to Vietnam with a covering license", SHIP_TO("vn-hn"), OEM_G1,
	 .licenses = {{"L1", .dests = "VN"}}, .expect = "",
	 .usage = "license:L1:tpp=1000 license:L1:units=1 alloc:oem:US=-1000 alloc:oem:VN=1000"),
    CASE("3A090.a to Vietnam, license for Laos", SHIP_TO("vn-hn"), OEM_G1,
	 .licenses = {{"L1", .dests = "LA"}}, .expect = LICENSE_REQUIRED),
    CASE("3A090.a to Japan", SHIP_TO("jp-inzai"), OEM_G1, .expect = ""),
    CASE("3A090.a within the US", SHIP_TO("us-va"), OEM_G1, .expect = ""),
    CASE("may2025: own Vietnam site still needs a license", SHIP_TO("vn-hn"), HYPER_G1,
	 .expect = LICENSE_REQUIRED),
    CASE("trusted exporter to its own Vietnam site under siia", SHIP_TO("vn-hn"), HYPER_G1,
	 .params = SIIA, .expect = ""),
    CASE("trusted exporter, Vietnam site notified 10 days ago: no VEU cover", SHIP_TO("vn-new"),
	 HYPER_G1, .roster = {SITE("vn-new", 10 * DAY_MS), XFER("vn-new", 100 * DAY_MS)},
	 .expect = "veu.site_notice:R dest.license_required:R"),
    CASE("3A090.a to Macau: embargoed, not license_required", SHIP_TO("mo-1"), OEM_G1,
	 .expect = EMBARGOED),
};

/* party.hq_d5: headquarters or ultimate parent in D:5 or Macau. */
static const struct scenario party_hq[] = {
    CASE("consignee headquartered in China", SHIP_FOR("jp-inzai", "cn-co"), OEM_G1,
	 .expect = HQ_D5),
    CASE("consignee headquartered in Hong Kong (as China)", SHIP_FOR("jp-inzai", "hk-co"), OEM_G1,
	 .expect = HQ_D5),
    CASE("consignee headquartered in Macau", SHIP_FOR("jp-inzai", "mo-co"), OEM_G1,
	 .expect = HQ_D5),
    CASE("consignee with its ultimate parent in China", SHIP_FOR("jp-inzai", "sg-shell"), OEM_G1,
	 .expect = HQ_D5),
    CASE("consignee with its ultimate parent in Macau", SHIP_FOR("jp-inzai", "mo-shell"), OEM_G1,
	 .expect = HQ_D5),
    CASE("actor headquartered in China", {.type = EV(SHIP), .to = "jp-inzai", .actor = "cn-co"},
	 OEM_G1, .expect = HQ_D5),
    CASE("carrier headquartered in China",
	 {.type = EV(SHIP), .to = "jp-inzai", .carrier = "carrier-cn"}, OEM_G1, .expect = HQ_D5),
    CASE("destination operated by a Chinese company", SHIP_TO("jp-cnop"), OEM_G1, .expect = HQ_D5),
    CASE("destination owned by a company with a Chinese parent", SHIP_TO("jp-shell"), OEM_G1,
	 .expect = HQ_D5),
    CASE("origin facility operated by a Chinese company", SHIP_FROM("jp-cnop", "jp-inzai"), OEM_G1,
	 .expect = HQ_D5),
    CASE("RECEIVE by a Chinese operator at its site", RECEIVE_AT("jp-cnop", "cn-co"),
	 {DEV(.serial = "G1", .owner = "oem", .status = ST(IN_TRANSIT), .facility = "us-or",
	      .dest = "jp-cnop", .shipment_seq = 7)},
	 .expect = HQ_D5),
    CASE("INSTALL at a site owned by a company with a Chinese parent",
	 {.type = EV(INSTALL), .facility = "jp-shell", .actor = "op-jp"}, OEM_G1, .expect = HQ_D5),
    CASE("Cambodian consignee (KH left D:5)", SHIP_FOR("jp-inzai", "kh-co"), OEM_G1, .expect = ""),
    CASE("Cambodian consignee once KH is back in D:5 (override)", SHIP_FOR("jp-inzai", "kh-co"),
	 OEM_G1, .overrides = {{"D:5", "KH", true}}, .expect = HQ_D5),
    CASE("non-controlled items and a Chinese consignee", SHIP_FOR("jp-inzai", "cn-co"),
	 {DEV(.serial = "G1", .owner = "oem", .eccn = "none")}, .expect = ""),
    CASE("license covering the event waives it", SHIP_FOR("jp-inzai", "cn-co"), OEM_G1,
	 .licenses = {{"L1", .dests = "JP"}}, .expect = "",
	 .usage = "license:L1:tpp=1000 license:L1:units=1 alloc:oem:US=-1000 alloc:oem:JP=1000"),
    CASE("license for another destination does not", SHIP_FOR("jp-inzai", "cn-co"), OEM_G1,
	 .licenses = {{"L1", .dests = "KR"}}, .expect = HQ_D5),
    CASE("Singapore party with a Singapore parent", SHIP_FOR("jp-inzai", "op-sg"), OEM_G1,
	 .expect = ""),
    CASE("party unknown to the registry", SHIP_FOR("jp-inzai", "nobody"), OEM_G1, .expect = ""),
};

/* screen.exact / screen.near against "Shadow Compute Trading Ltd" (alias
 * "SCT Hong Kong Limited") and "Acme Robotics Ltd" (alias "Northern Star
 * Electronics"). */
static const struct scenario screening[] = {
    CASE("consignee named like an entry, other case and spacing", SHIP_FOR("jp-inzai", "shadow-x"),
	 OEM_G1, .expect = "screen.exact:R"),
    CASE("consignee \"Shadow Compute Trading Limited\" is near", SHIP_FOR("jp-inzai", "shadow"),
	 OEM_G1, .expect = "screen.near:A"),
    CASE("consignee named like an alias is near", SHIP_FOR("jp-inzai", "north"), OEM_G1,
	 .expect = "screen.near:A"),
    CASE("carrier on the list", {.type = EV(SHIP), .to = "jp-inzai", .carrier = "shadow-x"}, OEM_G1,
	 .expect = "screen.exact:R"),
    CASE("actor near", {.type = EV(SHIP), .to = "jp-inzai", .actor = "shadow"}, OEM_G1,
	 .expect = "screen.near:A"),
    CASE("destination operator on the list", SHIP_TO("jp-shadow"), OEM_G1,
	 .expect = "screen.exact:R"),
    CASE("origin operator on the list", SHIP_FROM("jp-shadow", "jp-inzai"), OEM_G1,
	 .expect = "screen.exact:R"),
    CASE("non-controlled items are screened too", SHIP_FOR("jp-inzai", "shadow-x"),
	 {DEV(.serial = "G1", .owner = "oem", .eccn = "none")}, .expect = "screen.exact:R"),
    CASE("INSTALL by a near-listed actor", {.type = EV(INSTALL), .actor = "shadow"}, OEM_G1,
	 .expect = "screen.near:A"),
    CASE("exact and near parties in one event",
	 {.type = EV(SHIP), .to = "jp-inzai", .consignee = "shadow-x", .carrier = "north"}, OEM_G1,
	 .expect = "screen.exact:R screen.near:A"),
    CASE("clean parties",
	 {.type = EV(SHIP), .to = "jp-inzai", .consignee = "op-jp", .carrier = "carrier"}, OEM_G1,
	 .expect = ""),
};

/* license.invalid: Event.license names a license that is missing or does not cover. */
static const struct scenario license_invalid[] = {
    CASE("named license unknown", SHIP_NAMED("jp-inzai", "NOPE"), OEM_G1,
	 .expect = "license.invalid:R"),
    CASE("named license covers", SHIP_NAMED("jp-inzai", "L1"), OEM_G1,
	 .licenses = {{"L1", .dests = "JP"}}, .expect = "",
	 .usage = "license:L1:tpp=1000 license:L1:units=1 alloc:oem:US=-1000 alloc:oem:JP=1000"),
    CASE("named license for another destination", SHIP_NAMED("jp-inzai", "L1"), OEM_G1,
	 .licenses = {{"L1", .dests = "KR"}}, .expect = "license.invalid:R"),
    CASE("named license for another ECCN", SHIP_NAMED("jp-inzai", "L1"), OEM_G1,
	 .licenses = {{"L1", .dests = "JP", .eccns = "3A090.b"}}, .expect = "license.invalid:R"),
    CASE("named license expired", SHIP_NAMED("jp-inzai", "L1"), OEM_G1,
	 .licenses = {{"L1", .dests = "JP", .until_ms = T0 - 1}}, .expect = "license.invalid:R"),
    CASE("named license of another holder", SHIP_NAMED("jp-inzai", "L1"), OEM_G1,
	 .licenses = {{"L1", .holder = "euro", .dests = "JP"}}, .expect = "license.invalid:R"),
    CASE("named license for another consignee", SHIP_NAMED("jp-inzai", "L1"), OEM_G1,
	 .licenses = {{"L1", .dests = "JP", .consignee = "op-in"}}, .expect = "license.invalid:R"),
    CASE("named license exhausted by 1 TPP", SHIP_NAMED("jp-inzai", "L1"), OEM_G1,
	 .licenses = {{"L1", .dests = "JP", .max_tpp = 5000}}, .tally = {{"license:L1:tpp", 4001}},
	 .expect = "license.invalid:R"),
    CASE("named license with exactly enough TPP left", SHIP_NAMED("jp-inzai", "L1"), OEM_G1,
	 .licenses = {{"L1", .dests = "JP", .max_tpp = 5000}}, .tally = {{"license:L1:tpp", 4000}},
	 .expect = ""),
    CASE("named license not covering China: invalid and embargoed", SHIP_NAMED("cn-bj", "L1"),
	 OEM_G1, .licenses = {{"L1", .dests = "JP"}},
	 .expect = "license.invalid:R dest.embargoed:R"),
    CASE("named license wrong although another one covers", SHIP_NAMED("cn-bj", "L1"), OEM_G1,
	 .licenses = {{"L1", .dests = "KR"}, {"L2", .dests = "CN"}},
	 .expect = "license.invalid:R dest.embargoed:R"),
    CASE("unnamed covering license not needed: not used", SHIP_TO("jp-inzai"), OEM_G1,
	 .licenses = {{"L1", .dests = "JP"}}, .expect = "",
	 .usage = "alloc:oem:US=-1000 alloc:oem:JP=1000"),
};

/* veu.*: a trusted exporter's shipments to its own authorized sites. */
static const struct scenario veu[] = {
    CASE("own authorized site, notices in time", SHIP_TO("jp-inzai"), HYPER_G1, .expect = ""),
    CASE("another company's authorized site", SHIP_TO("jp-euro"), HYPER_G1,
	 .expect = "veu.unauthorized_site:R"),
    CASE("own site not on the roster", SHIP_TO("jp-new"), HYPER_G1,
	 .expect = "veu.unauthorized_site:R"),
    CASE("own site on another exporter's roster only", SHIP_TO("jp-new"), HYPER_G1,
	 .roster = {{"euro", "jp-new", T0 - 365 * DAY_MS, 0},
		    {"euro", "jp-new", T0 - 365 * DAY_MS, CUSTODY__ROSTER_NOTICE__TRANSFER}},
	 .expect = "veu.unauthorized_site:R"),
    CASE("own site not on the roster, covering license", SHIP_TO("jp-new"), HYPER_G1,
	 .licenses = {{"L1", .dests = "JP"}}, .expect = "",
	 .usage = "license:L1:tpp=1000 license:L1:units=1 alloc:hyper:US=-1000 "
		  "alloc:hyper:JP=1000"),
    CASE("site notified exactly 180 days before", SHIP_TO("jp-new"), HYPER_G1,
	 .roster = {SITE("jp-new", 180 * DAY_MS), XFER("jp-new", 180 * DAY_MS)}, .expect = ""),
    CASE("site notified 180 days minus 1 ms before", SHIP_TO("jp-new"), HYPER_G1,
	 .roster = {SITE("jp-new", 180 * DAY_MS - 1), XFER("jp-new", 180 * DAY_MS)},
	 .expect = "veu.site_notice:R"),
    CASE("site notified too late, covering license", SHIP_TO("jp-new"), HYPER_G1,
	 .roster = {SITE("jp-new", DAY_MS)}, .licenses = {{"L1", .dests = "JP"}}, .expect = ""),
    CASE("site notice of 30 days: exactly 30 days", SHIP_TO("jp-new"), HYPER_G1,
	 .roster = {SITE("jp-new", 30 * DAY_MS), XFER("jp-new", 100 * DAY_MS)},
	 .params = {.site_notice_ms = 30 * DAY_MS}, .expect = ""),
    CASE("site notice of 30 days: 30 days minus 1 ms", SHIP_TO("jp-new"), HYPER_G1,
	 .roster = {SITE("jp-new", 30 * DAY_MS - 1), XFER("jp-new", 100 * DAY_MS)},
	 .params = {.site_notice_ms = 30 * DAY_MS}, .expect = "veu.site_notice:R"),
    CASE("transfer notice exactly 60 days before", SHIP_TO("jp-new"), HYPER_G1,
	 .roster = {SITE("jp-new", 365 * DAY_MS), XFER("jp-new", 60 * DAY_MS)}, .expect = ""),
    CASE("transfer notice 60 days minus 1 ms before", SHIP_TO("jp-new"), HYPER_G1,
	 .roster = {SITE("jp-new", 365 * DAY_MS), XFER("jp-new", 60 * DAY_MS - 1)},
	 .expect = "veu.transfer_notice:R"),
    CASE("no transfer notice", SHIP_TO("jp-new"), HYPER_G1,
	 .roster = {SITE("jp-new", 365 * DAY_MS)}, .expect = "veu.transfer_notice:R"),
    CASE("transfer notice of 10 days: exactly 10 days", SHIP_TO("jp-new"), HYPER_G1,
	 .roster = {SITE("jp-new", 365 * DAY_MS), XFER("jp-new", 10 * DAY_MS)},
	 .params = {.transfer_notice_ms = 10 * DAY_MS}, .expect = ""),
    CASE("in-country move without a transfer notice", SHIP_FROM("jp-inzai", "jp-new"), HYPER_G1,
	 .roster = {SITE("jp-new", 365 * DAY_MS)}, .expect = ""),
    CASE("in-country move to another company's site", SHIP_FROM("jp-inzai", "jp-euro"), HYPER_G1,
	 .expect = "veu.unauthorized_site:R"),
    CASE("shipment to a US facility skips the VEU rules", SHIP_FROM("jp-inzai", "us-va"), HYPER_G1,
	 .expect = ""),
    CASE("non-trusted exporter skips them", SHIP_TO("jp-euro"), OEM_G1, .expect = ""),
    CASE("non-controlled items skip them", SHIP_TO("jp-euro"),
	 {DEV(.serial = "G1", .eccn = "none")}, .expect = ""),
    CASE("RMA_OUT to a repair site is not a VEU shipment",
	 {.type = EV(RMA_OUT), .facility = "jp-inzai", .to = "tw-rep"}, HYPER_G1, .expect = ""),
};

/* handoff.* and rma.swap. */
static const struct scenario handoff[] = {
    CASE("received where shipped, by the operator", RECEIVE_AT("jp-inzai", "op-jp"),
	 {TRANSIT("G1", "jp-inzai", 7)}, .expect = ""),
    CASE("never shipped", RECEIVE_AT("jp-inzai", "op-jp"),
	 {DEV(.serial = "G1", .facility = "us-or")}, .expect = "handoff.never_shipped:A"),
    CASE("RECEIVE of a device out for repair", RECEIVE_AT("jp-inzai", "op-jp"),
	 {DEV(.serial = "G1", .status = ST(IN_REPAIR), .facility = "jp-inzai", .dest = "tw-rep",
	      .shipment_seq = 7)},
	 .expect = "handoff.never_shipped:A"),
    CASE("wrong facility, right operator", RECEIVE_AT("jp-inzai", "op-jp"),
	 {TRANSIT("G1", "jp-osaka", 7)}, .expect = "handoff.wrong_facility:A"),
    CASE("wrong receiver", RECEIVE_AT("jp-inzai", "ops"), {TRANSIT("G1", "jp-inzai", 7)},
	 .expect = "handoff.wrong_receiver:A"),
    CASE("wrong facility and receiver", RECEIVE_AT("jp-euro", "euro"),
	 {TRANSIT("G1", "jp-inzai", 7)},
	 .expect = "handoff.wrong_facility:A handoff.wrong_receiver:A"),
    CASE("two devices of one shipment", RECEIVE_AT("jp-inzai", "op-jp"),
	 {TRANSIT("G1", "jp-inzai", 7), TRANSIT("G2", "jp-inzai", 7)}, .expect = ""),
    CASE("devices of two shipments in one receipt", RECEIVE_AT("jp-inzai", "op-jp"),
	 {TRANSIT("G1", "jp-inzai", 7), TRANSIT("G2", "jp-inzai", 8)},
	 .expect = "handoff.not_in_shipment:A"),
    CASE("two devices at the wrong facility: one alert", RECEIVE_AT("jp-inzai", "op-jp"),
	 {TRANSIT("G1", "jp-osaka", 7), TRANSIT("G2", "jp-osaka", 7)},
	 .expect = "handoff.wrong_facility:A"),
    CASE("one shipped and one not", RECEIVE_AT("jp-inzai", "op-jp"),
	 {TRANSIT("G1", "jp-inzai", 7), DEV(.serial = "G2", .facility = "jp-osaka")},
	 .expect = "handoff.never_shipped:A"),
    CASE("RMA_IN back at its origin from repair", RMA_IN_AT("jp-inzai", "op-jp"),
	 {DEV(.serial = "G1", .status = ST(IN_REPAIR), .facility = "jp-inzai", .dest = "tw-rep",
	      .shipment_seq = 7, .last_at_ms = T0 - 10 * DAY_MS)},
	 .expect = ""),
    CASE("RMA_IN of a device never sent for repair", RMA_IN_AT("jp-inzai", "op-jp"),
	 {DEV(.serial = "G1", .facility = "jp-inzai")}, .expect = "rma.swap:A"),
    CASE("RMA_IN of a device shipped, not sent for repair", RMA_IN_AT("jp-inzai", "op-jp"),
	 {TRANSIT("G1", "jp-inzai", 7)}, .expect = "rma.swap:A"),
};

/* contents.mismatch: ATTEST with reported contents. */
#define SRV_AT_JP DEV(.serial = "SRV", .kind = KIND(SERVER), .status = ST(INSTALLED))
/* SRV holding G1 and G2; SRV holding B1 holding G1 and G2. */
#define SRV_G1_G2                                                                                  \
	LIST(SRV_AT_JP, DEV(.serial = "G1", .parent = "SRV"), DEV(.serial = "G2", .parent = "SRV"))
#define SRV_B1_G1_G2                                                                               \
	LIST(SRV_AT_JP, DEV(.serial = "B1", .kind = KIND(BOARD), .parent = "SRV"),                 \
	     DEV(.serial = "G1", .parent = "B1"), DEV(.serial = "G2", .parent = "B1"))
#define ATTEST_SRV(list)                                                                           \
	LIST(.type = EV(ATTEST), .facility = "jp-inzai", .actor = "op-jp", .serials = "SRV",       \
	     .reported = list)
static const struct scenario contents[] = {
    CASE("exact match", ATTEST_SRV("G1 G2"), SRV_G1_G2, .expect = ""),
    CASE("exact match, other order", ATTEST_SRV("G2 G1"), SRV_G1_G2, .expect = ""),
    CASE("missing chip", ATTEST_SRV("G1"), SRV_G1_G2, .expect = "contents.mismatch:A"),
    CASE("extra serial", ATTEST_SRV("G1 G2 G9"), SRV_G1_G2, .expect = "contents.mismatch:A"),
    CASE("swapped serial", ATTEST_SRV("G1 G9"), SRV_G1_G2, .expect = "contents.mismatch:A"),
    CASE("chip of another server reported", ATTEST_SRV("G1 G2 G3"),
	 {SRV_AT_JP, DEV(.serial = "G1", .parent = "SRV"), DEV(.serial = "G2", .parent = "SRV"),
	  DEV(.serial = "SRV2", .kind = KIND(SERVER)), DEV(.serial = "G3", .parent = "SRV2")},
	 .expect = "contents.mismatch:A"),
    CASE("nested board inside the server, chips reported", ATTEST_SRV("G1 G2"), SRV_B1_G1_G2,
	 .expect = ""),
    CASE("nested board reported too", ATTEST_SRV("B1 G1 G2"), SRV_B1_G1_G2, .expect = ""),
    CASE("nested chip missing", ATTEST_SRV("G1"), SRV_B1_G1_G2, .expect = "contents.mismatch:A"),
    CASE("only the board reported, its chips missing", ATTEST_SRV("B1"),
	 {SRV_AT_JP, DEV(.serial = "B1", .kind = KIND(BOARD), .parent = "SRV"),
	  DEV(.serial = "G1", .parent = "B1")},
	 .expect = "contents.mismatch:A"),
    CASE("nothing reported: nothing to compare", ATTEST_SRV(NULL),
	 {SRV_AT_JP, DEV(.serial = "G1", .parent = "SRV")}, .expect = ""),
    CASE("empty server reporting a chip", ATTEST_SRV("G9"), {SRV_AT_JP},
	 .expect = "contents.mismatch:A"),
};

/* travel.impossible; rows with at_kmh put the device's last event exactly that fast away. */
#define TRAVEL(kmh, extra)                                                                         \
	DEV(.serial = "G1", .status = ST(IN_TRANSIT), .facility = "us-or", .dest = "jp-inzai",     \
	    .shipment_seq = 7, .at_kmh = kmh, .extra_ms = extra)
static const struct scenario travel[] = {
    CASE("exactly max_travel_kmh", RECEIVE_AT("jp-inzai", "op-jp"), {TRAVEL(1000, 0)},
	 .expect = ""),
    CASE("1 ms faster than max_travel_kmh", RECEIVE_AT("jp-inzai", "op-jp"), {TRAVEL(1000, -1)},
	 .expect = "travel.impossible:A"),
    CASE("a minute slower", RECEIVE_AT("jp-inzai", "op-jp"), {TRAVEL(1000, 60000)}, .expect = ""),
    CASE("twice as fast", RECEIVE_AT("jp-inzai", "op-jp"), {TRAVEL(2000, 0)},
	 .expect = "travel.impossible:A"),
    CASE("configured 5000 km/h: 4000 km/h passes", RECEIVE_AT("jp-inzai", "op-jp"),
	 {TRAVEL(4000, 0)}, .params = {.max_travel_kmh = 5000}, .expect = ""),
    CASE("configured 5000 km/h: 1 ms faster", RECEIVE_AT("jp-inzai", "op-jp"), {TRAVEL(5000, -1)},
	 .params = {.max_travel_kmh = 5000}, .expect = "travel.impossible:A"),
    CASE("in-country, 1200 km/h", ATTEST_AT("jp-osaka", "op-jp"),
	 {DEV(.serial = "G1", .facility = "jp-inzai", .at_kmh = 1200)},
	 .expect = "travel.impossible:A"),
    CASE("in-country, 900 km/h", ATTEST_AT("jp-osaka", "op-jp"),
	 {DEV(.serial = "G1", .facility = "jp-inzai", .at_kmh = 900)}, .expect = ""),
    CASE("same facility a millisecond later", ATTEST_AT("jp-inzai", "op-jp"),
	 {DEV(.serial = "G1", .facility = "jp-inzai", .last_at_ms = T0 - 1)}, .expect = ""),
    CASE("same facility, same millisecond", ATTEST_AT("jp-inzai", "op-jp"),
	 {DEV(.serial = "G1", .facility = "jp-inzai", .last_at_ms = T0)}, .expect = ""),
    CASE("event facility without coordinates", RECEIVE_AT("jp-nc", "op-jp"),
	 {DEV(.serial = "G1", .status = ST(IN_TRANSIT), .facility = "us-or", .dest = "jp-nc",
	      .shipment_seq = 7, .last_at_ms = T0 - 60000)},
	 .expect = ""),
    CASE("last facility without coordinates", RECEIVE_AT("jp-inzai", "op-jp"),
	 {DEV(.serial = "G1", .status = ST(IN_TRANSIT), .facility = "us-nc", .dest = "jp-inzai",
	      .shipment_seq = 7, .last_at_ms = T0 - 60000)},
	 .expect = ""),
    CASE("second device too fast", RECEIVE_AT("jp-inzai", "op-jp"),
	 {DEV(.serial = "G0", .status = ST(IN_TRANSIT), .facility = "us-or", .dest = "jp-inzai",
	      .shipment_seq = 7),
	  TRAVEL(1000, -1)},
	 .expect = "travel.impossible:A"),
};

/* route.hub. */
static const struct scenario hub[] = {
    CASE("in transit to JP, received in Singapore by the JP operator",
	 RECEIVE_AT("sg-hub", "op-jp"), {TRANSIT("G1", "jp-inzai", 7)},
	 .expect = "route.hub:A handoff.wrong_facility:A"),
    CASE("in transit to JP, received in Singapore by the hub's operator",
	 RECEIVE_AT("sg-hub", "op-sg"), {TRANSIT("G1", "jp-inzai", 7)},
	 .expect = "route.hub:A handoff.wrong_facility:A handoff.wrong_receiver:A"),
    CASE("in transit to JP, attested in Singapore", ATTEST_AT("sg-hub", "op-sg"),
	 {TRANSIT("G1", "jp-inzai", 7)}, .expect = "route.hub:A"),
    CASE("in transit to JP, received in Hong Kong", RECEIVE_AT("hk-1", "op-jp"),
	 {TRANSIT("G1", "jp-inzai", 7)}, .expect = "route.hub:A handoff.wrong_facility:A"),
    CASE("destination itself in a hub", RECEIVE_AT("sg-dc", "op-sg"), {TRANSIT("G1", "sg-dc", 7)},
	 .expect = ""),
    CASE("another facility in the destination's hub country", RECEIVE_AT("sg-hub", "op-sg"),
	 {TRANSIT("G1", "sg-dc", 7)}, .expect = "route.hub:A handoff.wrong_facility:A"),
    CASE("hubs configured to JP only: Japan is a hub", RECEIVE_AT("jp-inzai", "ops"),
	 {TRANSIT("G1", "de-fra", 7)}, .params = {.hubs = "JP"},
	 .expect = "route.hub:A handoff.wrong_facility:A"),
    CASE("hubs configured to JP only: Singapore is not", RECEIVE_AT("sg-hub", "op-jp"),
	 {TRANSIT("G1", "jp-inzai", 7)}, .params = {.hubs = "JP"},
	 .expect = "handoff.wrong_facility:A"),
    CASE("no hubs configured", RECEIVE_AT("sg-hub", "op-jp"), {TRANSIT("G1", "jp-inzai", 7)},
	 .params = {.hubs = ""}, .expect = "handoff.wrong_facility:A"),
    CASE("in repair, attested in a hub", ATTEST_AT("sg-hub", "op-sg"),
	 {DEV(.serial = "G1", .status = ST(IN_REPAIR), .facility = "jp-inzai", .dest = "tw-rep",
	      .shipment_seq = 7)},
	 .expect = "route.hub:A"),
    CASE("stored at a hub facility", ATTEST_AT("sg-hub", "op-sg"),
	 {DEV(.serial = "G1", .facility = "sg-hub")}, .expect = ""),
};

/* alloc.*: the January 2025 rule. A tally of 10,000 TPP spread as given. */
#define TIER1_76                                                                                   \
	LIST({"alloc:hyper:US", 7600}, {"alloc:hyper:IN", 600}, {"alloc:hyper:AE", 600},           \
	     {"alloc:hyper:BR", 600}, {"alloc:hyper:MX", 600})
#define TIER1_75                                                                                   \
	LIST({"alloc:hyper:US", 7500}, {"alloc:hyper:IN", 700}, {"alloc:hyper:AE", 700},           \
	     {"alloc:hyper:BR", 700}, {"alloc:hyper:MX", 400})
#define US_51                                                                                      \
	LIST({"alloc:hyper:US", 5100}, {"alloc:hyper:JP", 4000}, {"alloc:hyper:IN", 300},          \
	     {"alloc:hyper:AE", 300}, {"alloc:hyper:BR", 300})
#define US_50                                                                                      \
	LIST({"alloc:hyper:US", 5000}, {"alloc:hyper:JP", 4100}, {"alloc:hyper:IN", 300},          \
	     {"alloc:hyper:AE", 300}, {"alloc:hyper:BR", 300})
#define EURO_US_51                                                                                 \
	LIST({"alloc:euro:US", 5100}, {"alloc:euro:JP", 4000}, {"alloc:euro:IN", 300},             \
	     {"alloc:euro:AE", 300}, {"alloc:euro:BR", 300})
#define OEM_TIER1_76                                                                               \
	LIST({"alloc:oem:US", 7600}, {"alloc:oem:IN", 600}, {"alloc:oem:AE", 600},                 \
	     {"alloc:oem:BR", 600}, {"alloc:oem:MX", 600})
#define TIER1_60 LIST({"alloc:hyper:US", 5000}, {"alloc:hyper:JP", 1000}, {"alloc:hyper:IN", 4000})

static const struct scenario alloc[] = {
    CASE("Tier 1 share exactly 75%", SHIP_TO("my-jhr"), HYPER_TPP(100), .tally = TIER1_76,
	 .params = JAN2025, .expect = "", .usage = "alloc:hyper:US=-100 alloc:hyper:MY=100"),
    CASE("Tier 1 share just below 75%", SHIP_TO("my-jhr"), HYPER_TPP(101), .tally = TIER1_76,
	 .params = JAN2025, .expect = "alloc.tier1_share:R"),
    CASE("Tier 1 share just below 75%, may2025", SHIP_TO("my-jhr"), HYPER_TPP(101),
	 .tally = TIER1_76, .expect = ""),
    CASE("Tier 1 share just below 75%, siia", SHIP_TO("my-jhr"), HYPER_TPP(101), .tally = TIER1_76,
	 .params = SIIA, .expect = ""),
    CASE("Tier 1 share just below 75%, non-trusted exporter", SHIP_TO("my-jhr"),
	 {DEV(.serial = "G1", .owner = "oem", .tpp = 101)}, .tally = OEM_TIER1_76,
	 .params = JAN2025, .expect = ""),
    CASE("country share exactly 7%", SHIP_FROM("ae-dxb", "in-mum"), HYPER_TPP(100),
	 .tally = TIER1_76, .params = JAN2025, .expect = "",
	 .usage = "alloc:hyper:AE=-100 alloc:hyper:IN=100"),
    CASE("country share just above 7%", SHIP_FROM("ae-dxb", "in-mum"), HYPER_TPP(101),
	 .tally = TIER1_76, .params = JAN2025, .expect = "alloc.country_share:R"),
    CASE("US share exactly 50%", SHIP_TO("jp-inzai"), HYPER_TPP(100), .tally = US_51,
	 .params = JAN2025, .expect = ""),
    CASE("US share just below 50%", SHIP_TO("jp-inzai"), HYPER_TPP(101), .tally = US_51,
	 .params = JAN2025, .expect = "alloc.us_share:R"),
    CASE("US share just below 50%, non-US exporter", SHIP_TO("jp-euro"),
	 {DEV(.serial = "G1", .owner = "euro", .tpp = 101)}, .tally = EURO_US_51, .params = JAN2025,
	 .expect = ""),
    CASE("improving a bad Tier 1 share", SHIP_FROM("in-mum", "us-va"), HYPER_TPP(100),
	 .tally = TIER1_60, .params = JAN2025, .expect = ""),
    CASE("bad Tier 1 share unchanged by a move between other countries",
	 SHIP_FROM("in-mum", "ae-dxb"), HYPER_TPP(100), .tally = TIER1_60, .params = JAN2025,
	 .expect = ""),
    CASE("REGISTER in Malaysia takes the Tier 1 share below 75%",
	 REGISTER_AT("my-jhr", "N1=TEST-100"), .tally = TIER1_75, .params = JAN2025,
	 .expect = "alloc.tier1_share:R", .usage = "alloc:hyper:MY=100"),
    CASE("REGISTER in the US at 75%", REGISTER_AT("us-or", "N1=TEST-100"), .tally = TIER1_75,
	 .params = JAN2025, .expect = "", .usage = "alloc:hyper:US=100"),
    CASE("REGISTER in Japan takes the US share below 50%", REGISTER_AT("jp-inzai", "N1=TEST-100"),
	 .tally = US_50, .params = JAN2025, .expect = "alloc.us_share:R",
	 .usage = "alloc:hyper:JP=100"),
};

/* alloc.lpp_cap: License Exception LPP, per consignee and calendar year. */
static const struct scenario lpp[] = {
    CASE("exactly the cap", SHIP_TO("in-mum"), OEM_G1, .tally = {{"lpp:op-in:2026", 26899000}},
	 .params = JAN2025, .expect = "",
	 .usage = "lpp:op-in:2026=1000 alloc:oem:US=-1000 alloc:oem:IN=1000"),
    CASE("one TPP over the cap", SHIP_TO("in-mum"), OEM_G1, .tally = {{"lpp:op-in:2026", 26899001}},
	 .params = JAN2025, .expect = "alloc.lpp_cap:R"),
    CASE("first use of the year", SHIP_TO("in-mum"), OEM_G1, .params = JAN2025, .expect = "",
	 .usage = "lpp:op-in:2026=1000 alloc:oem:US=-1000 alloc:oem:IN=1000"),
    CASE("another consignee's use does not count", SHIP_TO("in-mum"), OEM_G1,
	 .tally = {{"lpp:op-in2:2026", 26900000}}, .params = JAN2025, .expect = ""),
    CASE("explicit consignee counts, not the operator", SHIP_FOR("in-mum", "op-in2"), OEM_G1,
	 .tally = {{"lpp:op-in2:2026", 26899001}}, .params = JAN2025, .expect = "alloc.lpp_cap:R"),
    CASE("explicit consignee's use key", SHIP_FOR("in-mum", "op-in2"), OEM_G1,
	 .tally = {{"lpp:op-in:2026", 26900000}}, .params = JAN2025, .expect = "",
	 .usage = "lpp:op-in2:2026=1000 alloc:oem:US=-1000 alloc:oem:IN=1000"),
    CASE("last year's use does not count", SHIP_TO("in-mum"), OEM_G1,
	 .tally = {{"lpp:op-in:2025", 26900000}}, .params = JAN2025, .expect = ""),
    CASE("first ms of 2026 counts in 2026", {.type = EV(SHIP), .to = "in-mum", .at_ms = Y2026},
	 OEM_G1, .tally = {{"lpp:op-in:2025", 26900000}}, .params = JAN2025, .expect = "",
	 .usage = "lpp:op-in:2026=1000 alloc:oem:US=-1000 alloc:oem:IN=1000"),
    CASE("last ms of 2025 counts in 2025", {.type = EV(SHIP), .to = "in-mum", .at_ms = Y2026 - 1},
	 OEM_G1, .tally = {{"lpp:op-in:2025", 26899001}}, .params = JAN2025,
	 .expect = "alloc.lpp_cap:R"),
    CASE("TPP counts every chip of the shipment", SHIP_TO("in-mum"),
	 {DEV(.serial = "G1", .owner = "oem", .tpp = 600),
	  DEV(.serial = "G2", .owner = "oem", .tpp = 401)},
	 .tally = {{"lpp:op-in:2026", 26899000}}, .params = JAN2025, .expect = "alloc.lpp_cap:R"),
    CASE("not under may2025", SHIP_TO("in-mum"), OEM_G1, .tally = {{"lpp:op-in:2026", 26900000}},
	 .expect = "", .usage = "alloc:oem:US=-1000 alloc:oem:IN=1000"),
    CASE("Tier 1 destination: no LPP", SHIP_TO("jp-inzai"), OEM_G1,
	 .tally = {{"lpp:op-jp:2026", 26900000}}, .params = JAN2025, .expect = "",
	 .usage = "alloc:oem:US=-1000 alloc:oem:JP=1000"),
    CASE("in-country shipment is not an export", SHIP_FROM("in-mum", "in-che"), OEM_G1,
	 .tally = {{"lpp:op-in2:2026", 26900000}}, .params = JAN2025, .expect = ""),
    CASE("covering license instead of LPP", SHIP_TO("in-mum"), OEM_G1,
	 .licenses = {{"L1", .dests = "IN"}}, .tally = {{"lpp:op-in:2026", 26900000}},
	 .params = JAN2025, .expect = "",
	 .usage = "license:L1:tpp=1000 license:L1:units=1 alloc:oem:US=-1000 alloc:oem:IN=1000"),
    CASE("VEU cover instead of LPP", SHIP_TO("in-mum"), HYPER_G1,
	 .tally = {{"lpp:op-in:2026", 26900000}}, .params = JAN2025, .expect = "",
	 .usage = "alloc:hyper:US=-1000 alloc:hyper:IN=1000"),
    CASE("non-controlled items: no LPP", SHIP_TO("in-mum"),
	 {DEV(.serial = "G1", .owner = "oem", .eccn = "none")},
	 .tally = {{"lpp:op-in:2026", 26900000}}, .params = JAN2025, .expect = ""),
    CASE("configured cap: exactly reached", SHIP_TO("in-mum"), OEM_G1,
	 .tally = {{"lpp:op-in:2026", 4000}},
	 .params = {.regime = REGIME_JAN2025, .lpp_cap_tpp = 5000}, .expect = ""),
    CASE("configured cap: one TPP over", SHIP_TO("in-mum"), OEM_G1,
	 .tally = {{"lpp:op-in:2026", 4001}},
	 .params = {.regime = REGIME_JAN2025, .lpp_cap_tpp = 5000}, .expect = "alloc.lpp_cap:R"),
    CASE("over the cap and the consignee is listed: both reported", SHIP_FOR("in-mum", "shadow-x"),
	 OEM_G1, .tally = {{"lpp:shadow-x:2026", 26900000}}, .params = JAN2025,
	 .expect = "screen.exact:R alloc.lpp_cap:R"),
};

#define FAMILY_TEST(table)                                                                         \
	static void test_##table(void **state)                                                     \
	{                                                                                          \
		(void)state;                                                                       \
		run_table(table, sizeof(table) / sizeof(table[0]));                                \
	}
FAMILY_TEST(dest_embargoed)
FAMILY_TEST(dest_license_required)
FAMILY_TEST(party_hq)
FAMILY_TEST(screening)
FAMILY_TEST(license_invalid)
FAMILY_TEST(veu)
FAMILY_TEST(handoff)
FAMILY_TEST(contents)
FAMILY_TEST(travel)
FAMILY_TEST(hub)
FAMILY_TEST(alloc)
FAMILY_TEST(lpp)

/* ---- static facts ------------------------------------------------------------ */

/* Every rule rules.h specifies, with its severity. */
static const struct {
	const char *id;
	char severity;
} specified[] = {
    {"dest.embargoed", 'R'},
    {"dest.license_required", 'R'},
    {"party.hq_d5", 'R'},
    {"screen.exact", 'R'},
    {"screen.near", 'A'},
    {"license.invalid", 'R'},
    {"veu.unauthorized_site", 'R'},
    {"veu.site_notice", 'R'},
    {"veu.transfer_notice", 'R'},
    {"handoff.never_shipped", 'A'},
    {"handoff.wrong_facility", 'A'},
    {"handoff.wrong_receiver", 'A'},
    {"handoff.not_in_shipment", 'A'},
    {"handoff.overdue", 'A'},
    {"rma.swap", 'A'},
    {"contents.mismatch", 'A'},
    {"travel.impossible", 'A'},
    {"attest.dark", 'A'},
    {"route.hub", 'A'},
    {"alloc.tier1_share", 'R'},
    {"alloc.country_share", 'R'},
    {"alloc.us_share", 'R'},
    {"alloc.lpp_cap", 'R'},
};

static void test_rule_table(void **state)
{
	const struct rule_def *table;
	size_t n;

	(void)state;
	table = rules_describe(&n);
	assert_true(n >= sizeof(specified) / sizeof(specified[0]));
	for (size_t i = 0; i < sizeof(specified) / sizeof(specified[0]); i++) {
		const struct rule_def *def = rules_find(specified[i].id);

		if (def == NULL)
			fail_msg("rule %s is not in the table", specified[i].id);
		assert_string_equal(def->id, specified[i].id);
		if (sev_letter(def->severity) != specified[i].severity)
			fail_msg("rule %s has severity %c, rules.h says %c", def->id,
				 sev_letter(def->severity), specified[i].severity);
		/* Policy rules all raise alerts. */
		assert_true(def->alert);
		assert_true(strlen(def->summary) > 10);
	}
	for (size_t i = 0; i < n; i++) {
		assert_ptr_equal(rules_find(table[i].id), &table[i]);
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(table[i].id, table[j].id);
	}
	assert_null(rules_find("dest"));
	assert_null(rules_find("dest.embargoed "));
	assert_null(rules_find(""));
}

static void test_add_hit(void **state)
{
	struct verdict v;

	(void)state;
	memset(&v, 0, sizeof(v));
	rules_add_hit(&v, "route.hub", "G1", "sg-hub", "%s at %s", "G1", "sg-hub");
	assert_int_equal(v.n_hits, 1);
	assert_false(v.reject);
	assert_string_equal(v.hits[0].reason, "G1 at sg-hub");
	assert_string_equal(v.hits[0].device, "G1");
	assert_string_equal(v.hits[0].facility, "sg-hub");
	rules_add_hit(&v, "route.hub", "G2", "sg-hub", "again");
	assert_int_equal(v.n_hits, 1); /* at most once per rule */
	rules_add_hit(&v, "state.status", NULL, NULL, "status");
	assert_int_equal(v.n_hits, 2);
	assert_true(v.reject);
	assert_false(v.hits[1].alert);
	assert_string_equal(v.hits[1].device, "");
}

static void test_regimes(void **state)
{
	(void)state;
	assert_int_equal(rules_regime_parse("may2025"), REGIME_MAY2025);
	assert_int_equal(rules_regime_parse("jan2025"), REGIME_JAN2025);
	assert_int_equal(rules_regime_parse("siia"), REGIME_SIIA);
	assert_int_equal(rules_regime_parse("SIIA"), -1);
	assert_int_equal(rules_regime_parse("may2025 "), -1);
	assert_int_equal(rules_regime_parse(""), -1);
	assert_int_equal(rules_regime_parse("jan2026"), -1);
	for (int r = REGIME_MAY2025; r <= REGIME_SIIA; r++) {
		assert_int_equal(rules_regime_parse(rules_regime_name((enum regime)r)), r);
		assert_true(strlen(rules_regime_title((enum regime)r)) > 5);
	}
}

static void test_params_default(void **state)
{
	struct rules_params p;
	const char *hubs[] = {"SG", "MY", "TH", "VN", "IN", "HK", "AE"};

	(void)state;
	rules_params_default(&p);
	assert_int_equal(p.regime, REGIME_MAY2025);
	assert_int_equal(p.site_notice_ms, 180 * DAY_MS);
	assert_int_equal(p.transfer_notice_ms, 60 * DAY_MS);
	assert_true(p.max_travel_kmh == 1000.0);
	assert_int_equal(p.lpp_cap_tpp, 26900000);
	assert_int_equal(p.n_hubs, 7);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(p.hubs[i], hubs[i]);
}

static void test_distance(void **state)
{
	const struct facility *hil = &facilities[0], *jp = &facilities[3];
	double km;

	(void)state;
	km = rules_distance_km(hil->latitude, hil->longitude, jp->latitude, jp->longitude);
	assert_true(fabs(km - 7800.0) < 78.0); /* Hillsboro OR - Inzai JP, about 7,800 km */
	assert_true(
	    fabs(rules_distance_km(jp->latitude, jp->longitude, hil->latitude, hil->longitude) -
		 km) < 1e-9);
	/* London (Big Ben) - New York (Statue of Liberty): 5,575 km. */
	assert_true(fabs(rules_distance_km(51.5007, -0.1246, 40.6892, -74.0445) - 5575.0) < 20.0);
	assert_true(rules_distance_km(35.0, 139.0, 35.0, 139.0) == 0.0);
	/* A quarter of the equator, and antipodes: half the circumference. */
	assert_true(fabs(rules_distance_km(0, 0, 0, 90) - 10007.5) < 1.0);
	assert_true(fabs(rules_distance_km(0, 0, 0, 180) - 20015.1) < 1.0);
	assert_true(fabs(rules_distance_km(90, 0, -90, 0) - 20015.1) < 1.0);
	/* Across the antimeridian. */
	assert_true(fabs(rules_distance_km(0, 179.5, 0, -179.5) - 111.2) < 0.5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rule_table),
	    cmocka_unit_test(test_add_hit),
	    cmocka_unit_test(test_regimes),
	    cmocka_unit_test(test_params_default),
	    cmocka_unit_test(test_distance),
	    cmocka_unit_test(test_dest_embargoed),
	    cmocka_unit_test(test_dest_license_required),
	    cmocka_unit_test(test_party_hq),
	    cmocka_unit_test(test_screening),
	    cmocka_unit_test(test_license_invalid),
	    cmocka_unit_test(test_veu),
	    cmocka_unit_test(test_handoff),
	    cmocka_unit_test(test_contents),
	    cmocka_unit_test(test_travel),
	    cmocka_unit_test(test_hub),
	    cmocka_unit_test(test_alloc),
	    cmocka_unit_test(test_lpp),
	};

	return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
