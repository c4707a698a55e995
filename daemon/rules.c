/*
 * rules.c - the diversion safeguards (see rules.h for every rule).
 *
 * rules_check first gathers the facts every rule reads (who the exporter
 * is, where the items go, their class and TPP, which license covers them)
 * into struct facts, then runs the rule functions in a fixed order. Each
 * rule function reads facts and adds at most one hit per rule id, so a
 * thousand-device event at the wrong place raises one alert, not a
 * thousand.
 */
#include "rules.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "enums.h"

#define DAY_MS	 (24LL * 3600 * 1000)
#define REJ	 CUSTODY__SEVERITY__SEVERITY_REJECT
#define ALR	 CUSTODY__SEVERITY__SEVERITY_ALERT
#define EV(type) CUSTODY__EVENT_TYPE__##type

static const struct rule_def defs[] = {
    {"dest.embargoed", REJ, true, "controlled items to E:1, E:2, D:5 or Macau without a license"},
    {"dest.license_required", REJ, true,
     "3A090.a items to D:1/D:4 (not A:5/A:6) without a license (May 2025 controls)"},
    {"party.hq_d5", REJ, true, "a party headquartered or parented in D:5 or Macau, no license"},
    {"screen.exact", REJ, true, "a party is on the Consolidated Screening List"},
    {"screen.near", ALR, true, "a party's name is close to a screening-list name or alias"},
    {"license.invalid", REJ, true, "the named license does not cover the event"},
    {"veu.unauthorized_site", REJ, true, "trusted exporter ships to a site not its own authorized"},
    {"veu.site_notice", REJ, true, "authorized site notified too recently"},
    {"veu.transfer_notice", REJ, true, "move between countries without advance notice"},
    {"handoff.never_shipped", ALR, true, "received a device that was not shipped"},
    {"handoff.wrong_facility", ALR, true, "received at another facility than shipped to"},
    {"handoff.wrong_receiver", ALR, true, "received by another party than the site's operator"},
    {"handoff.not_in_shipment", ALR, true, "received devices of more than one shipment"},
    {"handoff.overdue", ALR, true, "shipment not received by its deadline (timer)"},
    {"rma.swap", ALR, true, "a device came back from repair that was not sent"},
    {"contents.mismatch", ALR, true, "attested contents differ from recorded contents"},
    {"travel.impossible", ALR, true, "a device moved between facilities faster than possible"},
    {"attest.dark", ALR, true, "installed accelerator stopped attesting (timer)"},
    {"route.hub", ALR, true, "devices in transit turned up in a transshipment hub"},
    {"alloc.tier1_share", REJ, true, "UVEU compute in Tier 1 would fall below 75%"},
    {"alloc.country_share", REJ, true, "UVEU compute in one other country would exceed 7%"},
    {"alloc.us_share", REJ, true, "US-headquartered UVEU compute in the US would fall below 50%"},
    {"alloc.lpp_cap", REJ, true, "LPP allowance of the consignee for the year exceeded"},
    {"state.destroyed", REJ, true, "an event after DESTROY"},
    {"state.decommissioned", REJ, true, "an event other than DESTROY after DECOMMISSION"},
    {"state.contained", REJ, true, "a device inside a container acted on alone"},
    {"state.status", REJ, false, "the device's status does not allow the event"},
    {"state.facility_mismatch", REJ, false, "the device is not at the event's facility"},
    {"state.pack_kind", REJ, false, "containers hold smaller kinds only"},
    {"state.not_inside", REJ, false, "UNPACK of a device not inside the container"},
    {"model.unknown", REJ, false, "a chip model not in the model table"},
};

#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

const struct rule_def *rules_find(const char *id)
{
	for (size_t i = 0; i < N_DEFS; i++) {
		if (strcmp(defs[i].id, id) == 0)
			return &defs[i];
	}
	return NULL;
}

const struct rule_def *rules_describe(size_t *count)
{
	*count = N_DEFS;
	return defs;
}

static const char *const regime_names[] = {"may2025", "jan2025", "siia"};
static const char *const regime_titles[] = {
    "controls enforced since May 2025",
    "January 2025 AI Diffusion rule as written",
    "SIIA proposal (intra-company transfers, no caps)",
};

int rules_regime_parse(const char *name)
{
	for (int i = 0; i < 3; i++) {
		if (strcmp(regime_names[i], name) == 0)
			return i;
	}
	return -1;
}

const char *rules_regime_name(enum regime r)
{
	return (unsigned)r < 3 ? regime_names[r] : "?";
}

const char *rules_regime_title(enum regime r)
{
	return (unsigned)r < 3 ? regime_titles[r] : "?";
}

void rules_params_default(struct rules_params *p)
{
	static const char *const hubs[] = {"SG", "MY", "TH", "VN", "IN", "HK", "AE"};

	memset(p, 0, sizeof(*p));
	p->regime = REGIME_MAY2025;
	p->site_notice_ms = 180 * DAY_MS;
	p->transfer_notice_ms = 60 * DAY_MS;
	p->max_travel_kmh = 1000.0;
	p->lpp_cap_tpp = RULES_LPP_CAP_TPP;
	for (size_t i = 0; i < sizeof(hubs) / sizeof(hubs[0]); i++)
		memcpy(p->hubs[p->n_hubs++], hubs[i], 3);
}

double rules_distance_km(double lat1, double lon1, double lat2, double lon2)
{
	const double r = 6371.0088, rad = M_PI / 180.0;
	double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
	double a = sin(dlat / 2) * sin(dlat / 2) +
		   cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);

	return 2 * r * asin(fmin(1.0, sqrt(a)));
}

/* ---- hits ----------------------------------------------------------------- */

static bool has_hit(const struct verdict *v, const char *rule)
{
	for (size_t i = 0; i < v->n_hits; i++) {
		if (strcmp(v->hits[i].rule, rule) == 0)
			return true;
	}
	return false;
}

void rules_add_hit(struct verdict *v, const char *rule, const char *device, const char *facility,
		   const char *fmt, ...)
{
	const struct rule_def *def = rules_find(rule);
	struct rule_hit *h;
	va_list ap;

	if (v->n_hits == RULES_MAX_HITS || has_hit(v, rule))
		return;
	h = &v->hits[v->n_hits++];
	memset(h, 0, sizeof(*h));
	h->rule = def != NULL ? def->id : "unknown";
	h->severity = def != NULL ? def->severity : REJ;
	h->alert = def != NULL && def->alert;
	snprintf(h->device, sizeof(h->device), "%s", device != NULL ? device : "");
	snprintf(h->facility, sizeof(h->facility), "%s", facility != NULL ? facility : "");
	va_start(ap, fmt);
	vsnprintf(h->reason, sizeof(h->reason), fmt, ap);
	va_end(ap);
	if (h->severity == REJ)
		v->reject = true;
}

static void add_usage(struct verdict *v, bool stored, int64_t amount, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_usage(struct verdict *v, bool stored, int64_t amount, const char *fmt, ...)
{
	struct rules_usage *u;
	va_list ap;

	if (v->n_usage == RULES_MAX_USAGE || amount == 0)
		return;
	u = &v->usage[v->n_usage++];
	va_start(ap, fmt);
	vsnprintf(u->key, sizeof(u->key), fmt, ap);
	va_end(ap);
	u->amount = amount;
	u->stored = stored;
}

/* ---- facts ------------------------------------------------------------------ */

struct items {
	bool class_a, class_b; /* 3A090.a / 3A090.b chips among them */
	bool bare_a, bare_b;   /* ... named themselves, not inside a container */
	int64_t tpp;	       /* TPP of the exporter's chips */
	int64_t units;	       /* the exporter's chips */
};

struct facts {
	const struct rules_input *in;
	const Custody__Event *ev;
	const char *exporter; /* "" if unknown */
	const struct party *exp_party;
	const struct facility *fac, *dest;
	const char *fac_cc, *dest_cc; /* "" if unknown */
	const char *consignee;	      /* ev->consignee, else the destination's operator */
	struct items items;
	bool controlled;
	bool ships;			/* SHIP or RMA_OUT with a destination */
	bool exports;			/* ... to another country */
	const struct party *parties[7]; /* parties to the event, distinct */
	size_t n_parties;
	const Custody__License *license; /* covering, or NULL */
	bool license_named;
	bool license_used; /* a rule needed it */
	bool veu_covered;
};

static const char *country_of(const struct facility *f)
{
	return f != NULL ? f->country : "";
}

static uint32_t groups(const struct facts *f, const char *cc)
{
	return cc[0] != '\0' ? policy_country_groups(f->in->pol, cc) : 0;
}

static bool in_d5plus(const struct facts *f, const char *cc)
{
	return strcmp(cc, "MO") == 0 || (groups(f, cc) & CG_BIT(CG_D5)) != 0;
}

static bool in_tier1(const struct facts *f, const char *cc)
{
	return (groups(f, cc) & CG_BIT(CG_TIER1)) != 0;
}

static void add_chip(struct items *it, const char *eccn_class, int64_t tpp, bool mine)
{
	if (strcmp(eccn_class, "3A090.a") == 0)
		it->class_a = true;
	else if (strcmp(eccn_class, "3A090.b") == 0)
		it->class_b = true;
	if (mine) {
		it->tpp += tpp;
		it->units++;
	}
}

/* Adds d and everything inside it (kinds nest, so depth is at most 4). */
static void scan_tree(const struct dev *d, const char *exporter, struct items *it)
{
	if (d->kind == CUSTODY__DEVICE_KIND__CHIP)
		add_chip(it, d->eccn_class, d->tpp, strcmp(d->owner, exporter) == 0);
	for (const struct dev *c = d->first_child; c != NULL; c = c->next_sibling)
		scan_tree(c, exporter, it);
}

static void scan_items(struct facts *f)
{
	const Custody__Event *ev = f->ev;
	const struct state_ws *ws = f->in->ws;

	for (size_t i = 0; i < ev->n_devices; i++) {
		const struct dev *d = state_ws_get(ws, ev->devices[i]->serial);
		const char *cls = "";

		if (ev->type == EV(REGISTER)) {
			const struct model_info *m =
			    policy_model(f->in->pol, ev->devices[i]->model);

			if (ev->devices[i]->kind == CUSTODY__DEVICE_KIND__CHIP && m != NULL) {
				add_chip(&f->items, m->eccn_class, m->tpp, true);
				cls = m->eccn_class;
			}
		} else if (d != NULL) {
			scan_tree(d, f->exporter, &f->items);
			cls = d->kind == CUSTODY__DEVICE_KIND__CHIP ? d->eccn_class : "";
		}
		f->items.bare_a |= strcmp(cls, "3A090.a") == 0;
		f->items.bare_b |= strcmp(cls, "3A090.b") == 0;
	}
	f->controlled = f->items.class_a || f->items.class_b;
}

/* Why l does not cover the event (into why), or NULL if it does. */
static const char *license_gap(const struct facts *f, const Custody__License *l, const char *cc,
			       char *why, size_t why_size)
{
	int64_t t = f->ev->occurred_at_ms;
	int64_t used_tpp, used_units;
	char key[TALLY_KEY_MAX];
	bool dest_ok = false, a3 = false, a4 = false, b3 = false, b4 = false, a_ok, b_ok;

	if (strcmp(l->holder, f->exporter) != 0) {
		snprintf(why, why_size, "is held by %s, not by %s", l->holder, f->exporter);
		return why;
	}
	if (t < l->valid_from_ms || (l->valid_until_ms != 0 && t >= l->valid_until_ms)) {
		snprintf(why, why_size, "is not valid when the event occurred");
		return why;
	}
	for (size_t i = 0; i < l->n_destinations; i++)
		dest_ok |= strcmp(l->destinations[i], cc) == 0;
	if (!dest_ok) {
		snprintf(why, why_size, "does not cover destination %s", cc);
		return why;
	}
	for (size_t i = 0; i < l->n_eccns; i++) {
		a3 |= strcmp(l->eccns[i], "3A090.a") == 0;
		a4 |= strcmp(l->eccns[i], "4A090.a") == 0;
		b3 |= strcmp(l->eccns[i], "3A090.b") == 0;
		b4 |= strcmp(l->eccns[i], "4A090.b") == 0;
	}
	/* 3A090.x covers chips and what holds them; 4A090.x only chips inside something. */
	a_ok = a3 || (a4 && !f->items.bare_a);
	b_ok = b3 || (b4 && !f->items.bare_b);
	if ((f->items.class_a && !a_ok) || (f->items.class_b && !b_ok)) {
		snprintf(why, why_size, "does not cover ECCN %s",
			 f->items.class_a && !a_ok ? "3A090.a" : "3A090.b");
		return why;
	}
	if (l->consignee[0] != '\0' && strcmp(l->consignee, f->consignee) != 0) {
		snprintf(why, why_size, "is for consignee %s, not %s", l->consignee, f->consignee);
		return why;
	}
	snprintf(key, sizeof(key), "license:%s:tpp", l->number);
	used_tpp = tally_get(f->in->tally, key);
	snprintf(key, sizeof(key), "license:%s:units", l->number);
	used_units = tally_get(f->in->tally, key);
	if (f->ships && l->max_tpp != 0 && used_tpp + f->items.tpp > (int64_t)l->max_tpp) {
		snprintf(why, why_size, "has %lld TPP left; the shipment needs %lld",
			 (long long)((int64_t)l->max_tpp - used_tpp), (long long)f->items.tpp);
		return why;
	}
	if (f->ships && l->max_units != 0 && used_units + f->items.units > (int64_t)l->max_units) {
		snprintf(why, why_size, "has %lld chips left; the shipment has %lld",
			 (long long)((int64_t)l->max_units - used_units),
			 (long long)f->items.units);
		return why;
	}
	return NULL;
}

/* Finds the covering license (named, or any of the exporter's). */
static void find_license(struct facts *f, struct verdict *v)
{
	const char *cc = f->ships ? f->dest_cc : f->fac_cc;
	const Custody__License *l;
	char why[200];
	size_t pos = 0;

	if (f->ev->license[0] != '\0') {
		f->license_named = true;
		l = policy_license(f->in->pol, f->ev->license);
		if (l == NULL)
			rules_add_hit(v, "license.invalid", NULL, NULL,
				      "license %s is not in the license data in force",
				      f->ev->license);
		else if (license_gap(f, l, cc, why, sizeof(why)) != NULL)
			rules_add_hit(v, "license.invalid", NULL, NULL, "license %s %s", l->number,
				      why);
		else
			f->license = l;
		return;
	}
	if (!f->controlled || cc[0] == '\0')
		return;
	while ((l = policy_license_next(f->in->pol, &pos)) != NULL) {
		if (license_gap(f, l, cc, why, sizeof(why)) == NULL) {
			f->license = l;
			return;
		}
	}
}

/*
 * The parties to the event: actor, consignee, carrier, and the owners and
 * operators of its facilities; each registered one once.
 */
static void gather_parties(struct facts *f)
{
	const Custody__Event *ev = f->ev;
	const char *ids[7] = {ev->actor, ev->consignee, ev->carrier, "", "", "", ""};

	if (f->fac != NULL) {
		ids[3] = f->fac->owner;
		ids[4] = f->fac->operator_;
	}
	if (f->dest != NULL) {
		ids[5] = f->dest->owner;
		ids[6] = f->dest->operator_;
	}
	for (size_t i = 0; i < 7; i++) {
		const struct party *p = ids[i][0] ? registry_party(f->in->reg, ids[i]) : NULL;
		bool seen = false;

		for (size_t k = 0; p != NULL && k < f->n_parties; k++)
			seen |= f->parties[k] == p;
		if (p != NULL && !seen)
			f->parties[f->n_parties++] = p;
	}
}

static void gather(const struct rules_input *in, struct facts *f, struct verdict *v)
{
	const Custody__Event *ev = in->ev;
	const struct dev *first =
	    ev->n_devices > 0 ? state_ws_get(in->ws, ev->devices[0]->serial) : NULL;

	memset(f, 0, sizeof(*f));
	f->in = in;
	f->ev = ev;
	f->exporter = ev->type == EV(REGISTER) ? ev->actor : first != NULL ? first->owner : "";
	f->exp_party = registry_party(in->reg, f->exporter);
	f->fac = ev->facility[0] ? registry_facility(in->reg, ev->facility) : NULL;
	f->dest = ev->to_facility[0] ? registry_facility(in->reg, ev->to_facility) : NULL;
	f->fac_cc = country_of(f->fac);
	f->dest_cc = country_of(f->dest);
	f->consignee = ev->consignee[0] ? ev->consignee : f->dest != NULL ? f->dest->operator_ : "";
	f->ships = (ev->type == EV(SHIP) || ev->type == EV(RMA_OUT)) && f->dest != NULL;
	f->exports = f->ships && strcmp(f->fac_cc, f->dest_cc) != 0;
	scan_items(f);
	gather_parties(f);
	find_license(f, v);
}

/* A rule that a license waives: uses the license, or adds the hit. */
static bool needs_license(struct facts *f)
{
	if (f->license != NULL) {
		f->license_used = true;
		return false;
	}
	return true;
}

/* ---- destination and parties --------------------------------------------------- */

static void rule_screening(struct facts *f, struct verdict *v)
{
	struct policy_screen_hit hit;

	for (size_t i = 0; i < f->n_parties; i++) {
		const struct party *p = f->parties[i];

		if (p == NULL || !policy_screen(f->in->pol, p->name, &hit))
			continue;
		if (hit.exact)
			rules_add_hit(v, "screen.exact", NULL, NULL,
				      "party %s (\"%s\") is on the screening list: %s, entry %s",
				      p->id, p->name, hit.entry->source, hit.entry->id);
		else
			rules_add_hit(v, "screen.near", NULL, NULL,
				      "party %s (\"%s\") is close to \"%s\" on the screening list "
				      "(%s, entry %s)",
				      p->id, p->name, hit.matched_name, hit.entry->source,
				      hit.entry->id);
	}
}

static void rule_hq(struct facts *f, struct verdict *v)
{
	const Custody__Event *ev = f->ev;

	if (!f->controlled)
		return;
	for (size_t i = 0; i < f->n_parties; i++) {
		const struct party *p = f->parties[i];
		const char *where;

		where = in_d5plus(f, p->hq_country)	  ? p->hq_country
			: in_d5plus(f, p->parent_country) ? p->parent_country
							  : NULL;
		if (where == NULL || !needs_license(f))
			continue;
		rules_add_hit(v, "party.hq_d5", NULL, f->dest ? f->dest->id : ev->facility,
			      "party %s has its %s in %s (D:5 or Macau) and no license covers "
			      "the event",
			      p->id, where == p->hq_country ? "headquarters" : "ultimate parent",
			      where);
		return;
	}
}

static void rule_destination(struct facts *f, struct verdict *v)
{
	const char *cc = f->dest_cc;
	uint32_t g;

	if (!f->ships || !f->controlled)
		return;
	g = groups(f, cc);
	if ((g & (CG_BIT(CG_E1) | CG_BIT(CG_E2))) != 0 || in_d5plus(f, cc)) {
		if (needs_license(f))
			rules_add_hit(v, "dest.embargoed", NULL, f->dest->id,
				      "destination %s is in %s: controlled items need a license "
				      "(presumption of denial)",
				      cc, in_d5plus(f, cc) ? "D:5/Macau" : "E:1/E:2");
		return;
	}
	if (f->in->params->regime == REGIME_JAN2025 || !f->items.class_a)
		return;
	/* Only the SIIA proposal lets a trusted exporter's own sites stand in for a license. */
	if (f->veu_covered && f->in->params->regime == REGIME_SIIA)
		return;
	if ((g & (CG_BIT(CG_D1) | CG_BIT(CG_D4))) != 0 &&
	    (g & (CG_BIT(CG_A5) | CG_BIT(CG_A6))) == 0 && needs_license(f))
		rules_add_hit(v, "dest.license_required", NULL, f->dest->id,
			      "3A090.a items to %s (D:1/D:4, not A:5/A:6) need a license under "
			      "the %s",
			      cc, rules_regime_title(f->in->params->regime));
}

/* ---- trusted exporters ---------------------------------------------------------- */

/*
 * Trusted: on the roster in force, or registered as a trusted exporter.
 * The roster is the versioned source; the registration is the party's
 * declared status when it was registered.
 */
static bool trusted(const struct facts *f)
{
	return policy_trusted(f->in->pol, f->exporter) ||
	       (f->exp_party != NULL && f->exp_party->trusted_exporter);
}

/*
 * When the exporter notified site as an authorized site: the roster's SITE
 * notice, or else the site's registration (authorized, owned by the
 * exporter, authorized_since; without a date, the epoch). 0 if neither.
 */
static int64_t site_notice(const struct facts *f, const struct facility *site)
{
	int64_t t = policy_notice(f->in->pol, f->exporter, site->id, CUSTODY__ROSTER_NOTICE__SITE);

	if (t != 0 || !site->authorized || strcmp(site->owner, f->exporter) != 0)
		return t;
	return site->authorized_since_ms != 0 ? site->authorized_since_ms : 1;
}

static void days_text(int64_t ms, char *out, size_t size)
{
	snprintf(out, size, "%.1f days", (double)ms / (double)DAY_MS);
}

static void rule_veu(struct facts *f, struct verdict *v)
{
	const struct rules_params *p = f->in->params;
	int64_t t = f->ev->occurred_at_ms, site, transfer;
	char have[32], need[32];

	if (f->ev->type != EV(SHIP) || f->dest == NULL || !f->controlled ||
	    strcmp(f->dest_cc, "US") == 0 || !trusted(f))
		return;
	site = site_notice(f, f->dest);
	if (strcmp(f->dest->owner, f->exporter) != 0 || site == 0) {
		if (needs_license(f))
			rules_add_hit(v, "veu.unauthorized_site", NULL, f->dest->id,
				      "%s is not an authorized site of trusted exporter %s%s",
				      f->dest->id, f->exporter,
				      strcmp(f->dest->owner, f->exporter) != 0
					  ? " (another company owns it)"
					  : " (not on the roster)");
		return;
	}
	if (t - site < p->site_notice_ms) {
		days_text(t - site, have, sizeof(have));
		days_text(p->site_notice_ms, need, sizeof(need));
		if (needs_license(f))
			rules_add_hit(v, "veu.site_notice", NULL, f->dest->id,
				      "site %s was notified %s before this shipment; the first "
				      "shipment needs %s",
				      f->dest->id, have, need);
		return;
	}
	if (f->exports) {
		transfer = policy_notice(f->in->pol, f->exporter, f->dest->id,
					 CUSTODY__ROSTER_NOTICE__TRANSFER);
		if (transfer == 0 || t - transfer < p->transfer_notice_ms) {
			days_text(p->transfer_notice_ms, need, sizeof(need));
			if (needs_license(f))
				rules_add_hit(v, "veu.transfer_notice", NULL, f->dest->id,
					      "a move from %s to %s needs a transfer notice for %s "
					      "given %s before it%s",
					      f->fac_cc, f->dest_cc, f->dest->id, need,
					      transfer == 0 ? "; none is on the roster" : "");
			return;
		}
	}
	f->veu_covered = true;
}

/* ---- allocation (January 2025 rule as written) ---------------------------------- */

/* Where the exporter's compute counts: destination while under way. */
static const char *alloc_country(const struct facts *f, const struct dev *d)
{
	const struct facility *fac;

	if ((d->status == CUSTODY__DEVICE_STATUS__IN_TRANSIT ||
	     d->status == CUSTODY__DEVICE_STATUS__IN_REPAIR) &&
	    d->dest_facility[0] != '\0')
		fac = registry_facility(f->in->reg, d->dest_facility);
	else
		fac = registry_facility(f->in->reg, d->facility);
	return country_of(fac);
}

/* The countries the event moves the exporter's compute from and to. */
static void alloc_move(const struct facts *f, const char **from, const char **to)
{
	const Custody__Event *ev = f->ev;
	const struct dev *d =
	    ev->n_devices > 0 ? state_ws_get(f->in->ws, ev->devices[0]->serial) : NULL;

	*from = *to = "";
	switch (ev->type) {
	case EV(REGISTER):
		*to = f->fac_cc;
		return;
	case EV(SHIP):
	case EV(RMA_OUT):
		*to = f->dest_cc;
		break;
	case EV(RECEIVE):
	case EV(RMA_IN):
		*to = f->fac_cc;
		break;
	case EV(REPORT):
		if (ev->reason != CUSTODY__REPORT_REASON__REPORT_FOUND)
			return;
		*to = f->fac_cc;
		break;
	case EV(DECOMMISSION):
	case EV(DESTROY):
		if (d != NULL && d->status == CUSTODY__DEVICE_STATUS__DECOMMISSIONED)
			return; /* already out of the count */
		break;
	default:
		return;
	}
	*from = d != NULL ? alloc_country(f, d) : "";
}

/*
 * Did the share part/total fall from before? Compared as cross products in
 * 128 bits: TPP sums times TPP sums overflow 64. From nothing, any share
 * below 100% is a fall.
 */
static bool share_fell(int64_t part, int64_t total, int64_t part_before, int64_t total_before)
{
	if (total_before <= 0)
		return part < total;
	return (__int128)part * total_before < (__int128)part_before * total;
}

static void rule_alloc(struct facts *f, struct verdict *v)
{
	const char *from, *to, *key;
	char prefix[TALLY_KEY_MAX];
	int64_t total = 0, total_before, tier1 = 0, tier1_before, to_amt = 0, us = 0, us_before;
	int64_t val, t;
	size_t pos = 0;
	bool us_hq;

	alloc_move(f, &from, &to);
	t = f->items.tpp;
	if (t == 0 || strcmp(from, to) == 0)
		return;
	if (from[0] != '\0')
		add_usage(v, false, -t, "alloc:%s:%s", f->exporter, from);
	if (to[0] != '\0')
		add_usage(v, false, t, "alloc:%s:%s", f->exporter, to);
	if (f->in->params->regime != REGIME_JAN2025 || !trusted(f))
		return;
	snprintf(prefix, sizeof(prefix), "alloc:%s:", f->exporter);
	while ((key = tally_next(f->in->tally, prefix, &pos, &val)) != NULL) {
		const char *cc = key + strlen(prefix);

		total += val;
		tier1 += in_tier1(f, cc) ? val : 0;
		us += strcmp(cc, "US") == 0 ? val : 0;
		to_amt += strcmp(cc, to) == 0 ? val : 0;
	}
	total_before = total;
	tier1_before = tier1;
	us_before = us;
	/* Apply the move. */
	total += (to[0] ? t : 0) - (from[0] ? t : 0);
	tier1 += (to[0] && in_tier1(f, to) ? t : 0) - (from[0] && in_tier1(f, from) ? t : 0);
	us += (strcmp(to, "US") == 0 ? t : 0) - (strcmp(from, "US") == 0 ? t : 0);
	to_amt += to[0] ? t : 0;
	if (total <= 0)
		return;
	if (share_fell(tier1, total, tier1_before, total_before) && tier1 * 100 < total * 75)
		rules_add_hit(v, "alloc.tier1_share", NULL, f->dest ? f->dest->id : "",
			      "%s's compute in the US and Tier 1 would be %.2f%% of %lld TPP; "
			      "at least 75%% is required",
			      f->exporter, 100.0 * (double)tier1 / (double)total, (long long)total);
	if (to[0] && !in_tier1(f, to) && to_amt * 100 > total * 7)
		rules_add_hit(v, "alloc.country_share", NULL, f->dest ? f->dest->id : "",
			      "%s's compute in %s would be %.2f%% of %lld TPP; at most 7%% may "
			      "be in any one country outside Tier 1",
			      f->exporter, to, 100.0 * (double)to_amt / (double)total,
			      (long long)total);
	us_hq = f->exp_party != NULL && strcmp(f->exp_party->hq_country, "US") == 0;
	if (us_hq && share_fell(us, total, us_before, total_before) && us * 100 < total * 50)
		rules_add_hit(v, "alloc.us_share", NULL, f->dest ? f->dest->id : "",
			      "US-headquartered %s's compute in the US would be %.2f%% of %lld "
			      "TPP; at least 50%% is required",
			      f->exporter, 100.0 * (double)us / (double)total, (long long)total);
}

static int year_of(int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	return tm.tm_year + 1900;
}

static void rule_lpp(struct facts *f, struct verdict *v)
{
	char key[TALLY_KEY_MAX];
	int64_t used, cap = f->in->params->lpp_cap_tpp;

	if (f->in->params->regime != REGIME_JAN2025 || f->ev->type != EV(SHIP) || !f->exports ||
	    !f->controlled || in_tier1(f, f->dest_cc) || f->veu_covered)
		return;
	if (!needs_license(f))
		return;
	snprintf(key, sizeof(key), "lpp:%s:%d", f->consignee, year_of(f->ev->occurred_at_ms));
	used = tally_get(f->in->tally, key);
	if (used + f->items.tpp > cap) {
		rules_add_hit(v, "alloc.lpp_cap", NULL, f->dest->id,
			      "consignee %s has received %lld TPP under LPP in %d; %lld more "
			      "would pass the cap of %lld",
			      f->consignee, (long long)used, year_of(f->ev->occurred_at_ms),
			      (long long)f->items.tpp, (long long)cap);
		return;
	}
	add_usage(v, true, f->items.tpp, "%s", key);
}

/* ---- handoffs, contents, travel, hubs ----------------------------------------------- */

static void rule_handoff(struct facts *f, struct verdict *v)
{
	const Custody__Event *ev = f->ev;
	bool rma = ev->type == EV(RMA_IN);
	uint64_t shipment = 0;

	if (ev->type != EV(RECEIVE) && !rma)
		return;
	for (size_t i = 0; i < ev->n_devices; i++) {
		const struct dev *d = state_ws_get(f->in->ws, ev->devices[i]->serial);
		Custody__DeviceStatus want =
		    rma ? CUSTODY__DEVICE_STATUS__IN_REPAIR : CUSTODY__DEVICE_STATUS__IN_TRANSIT;
		const struct facility *dest;

		if (d == NULL)
			continue;
		if (d->status != want) {
			if (rma)
				rules_add_hit(
				    v, "rma.swap", d->serial, ev->facility,
				    "%s comes back from repair but was never sent out "
				    "(it is %s at %s): another unit may have replaced "
				    "the one sent",
				    d->serial,
				    enum_name(&custody__device_status__descriptor, d->status),
				    d->facility);
			else
				rules_add_hit(
				    v, "handoff.never_shipped", d->serial, ev->facility,
				    "%s was received at %s but was never shipped (it is "
				    "%s at %s)",
				    d->serial, ev->facility,
				    enum_name(&custody__device_status__descriptor, d->status),
				    d->facility);
			continue;
		}
		if (rma)
			continue; /* back from repair: only whether it was sent out matters */
		if (shipment == 0)
			shipment = d->shipment_seq;
		else if (d->shipment_seq != shipment)
			rules_add_hit(v, "handoff.not_in_shipment", d->serial, ev->facility,
				      "%s belongs to shipment seq %llu, not to seq %llu that this "
				      "receipt takes",
				      d->serial, (unsigned long long)d->shipment_seq,
				      (unsigned long long)shipment);
		if (strcmp(d->dest_facility, ev->facility) != 0)
			rules_add_hit(v, "handoff.wrong_facility", d->serial, ev->facility,
				      "%s was shipped to %s but received at %s", d->serial,
				      d->dest_facility, ev->facility);
		dest = registry_facility(f->in->reg, d->dest_facility);
		if (dest != NULL && strcmp(dest->operator_, ev->actor) != 0)
			rules_add_hit(v, "handoff.wrong_receiver", d->serial, ev->facility,
				      "%s was received by %s, not by %s, the operator of its "
				      "destination %s",
				      d->serial, ev->actor, dest->operator_, dest->id);
	}
}

static bool reported(const Custody__Event *ev, const char *serial)
{
	for (size_t i = 0; i < ev->n_reported_contents; i++) {
		if (strcmp(ev->reported_contents[i], serial) == 0)
			return true;
	}
	return false;
}

static bool inside(const struct dev *root, const char *serial)
{
	for (const struct dev *c = root->first_child; c != NULL; c = c->next_sibling) {
		if (strcmp(c->serial, serial) == 0 || inside(c, serial))
			return true;
	}
	return false;
}

/* Counts recorded chips under d that were not reported; first one in *first. */
static size_t missing_chips(const Custody__Event *ev, const struct dev *d, const char **first)
{
	size_t n = 0;

	for (const struct dev *c = d->first_child; c != NULL; c = c->next_sibling) {
		if (c->kind == CUSTODY__DEVICE_KIND__CHIP && !reported(ev, c->serial)) {
			if (n++ == 0 && *first == NULL)
				*first = c->serial;
		}
		n += missing_chips(ev, c, first);
	}
	return n;
}

static void rule_contents(struct facts *f, struct verdict *v)
{
	const Custody__Event *ev = f->ev;
	const struct dev *d;
	const char *first_missing = NULL, *first_extra = NULL;
	size_t missing, extra = 0;

	if (ev->type != EV(ATTEST) || ev->n_reported_contents == 0 || ev->n_devices != 1)
		return;
	d = state_ws_get(f->in->ws, ev->devices[0]->serial);
	if (d == NULL || d->kind == CUSTODY__DEVICE_KIND__CHIP)
		return;
	missing = missing_chips(ev, d, &first_missing);
	for (size_t i = 0; i < ev->n_reported_contents; i++) {
		if (!inside(d, ev->reported_contents[i]) && extra++ == 0)
			first_extra = ev->reported_contents[i];
	}
	if (missing == 0 && extra == 0)
		return;
	rules_add_hit(
	    v, "contents.mismatch", d->serial, ev->facility[0] ? ev->facility : d->facility,
	    "%s reports contents that differ from its record: %zu recorded chip%s "
	    "missing%s%s%s, %zu unknown serial%s reported%s%s%s",
	    d->serial, missing, missing == 1 ? "" : "s", missing ? " (first " : "",
	    missing ? first_missing : "", missing ? ")" : "", extra, extra == 1 ? "" : "s",
	    extra ? " (first " : "", extra ? first_extra : "", extra ? ")" : "");
}

static bool has_coords(const struct facility *f)
{
	return f != NULL && (f->latitude != 0.0 || f->longitude != 0.0);
}

static void rule_travel(struct facts *f, struct verdict *v)
{
	const Custody__Event *ev = f->ev;

	if (!has_coords(f->fac) || ev->type == EV(REGISTER))
		return;
	for (size_t i = 0; i < ev->n_devices; i++) {
		const struct dev *d = state_ws_get(f->in->ws, ev->devices[i]->serial);
		const struct facility *last;
		double km, hours, kmh;

		if (d == NULL || strcmp(d->facility, f->fac->id) == 0)
			continue;
		last = registry_facility(f->in->reg, d->facility);
		if (!has_coords(last))
			continue;
		km = rules_distance_km(last->latitude, last->longitude, f->fac->latitude,
				       f->fac->longitude);
		hours = (double)(ev->occurred_at_ms - d->last_at_ms) / 3600000.0;
		kmh = hours > 0 ? km / hours : INFINITY;
		if (km < 1.0 || kmh <= f->in->params->max_travel_kmh)
			continue;
		rules_add_hit(v, "travel.impossible", d->serial, f->fac->id,
			      "%s was at %s %.1f h before it appeared at %s, %.0f km away "
			      "(%.0f km/h; at most %.0f km/h is possible)",
			      d->serial, last->id, hours, f->fac->id, km, kmh,
			      f->in->params->max_travel_kmh);
		return;
	}
}

static bool is_hub(const struct rules_params *p, const char *cc)
{
	for (size_t i = 0; i < p->n_hubs; i++) {
		if (strcmp(p->hubs[i], cc) == 0)
			return true;
	}
	return false;
}

static void rule_hub(struct facts *f, struct verdict *v)
{
	const Custody__Event *ev = f->ev;

	if (f->fac == NULL || !is_hub(f->in->params, f->fac_cc))
		return;
	for (size_t i = 0; i < ev->n_devices; i++) {
		const struct dev *d = state_ws_get(f->in->ws, ev->devices[i]->serial);

		if (d == NULL || d->dest_facility[0] == '\0' ||
		    strcmp(d->dest_facility, f->fac->id) == 0 ||
		    (d->status != CUSTODY__DEVICE_STATUS__IN_TRANSIT &&
		     d->status != CUSTODY__DEVICE_STATUS__IN_REPAIR))
			continue;
		rules_add_hit(v, "route.hub", d->serial, f->fac->id,
			      "%s, under way to %s, turned up at %s in %s, a transshipment hub",
			      d->serial, d->dest_facility, f->fac->id, f->fac_cc);
		return;
	}
}

/* ---- the engine ------------------------------------------------------------------ */

int rules_check(const struct rules_input *in, struct verdict *v)
{
	struct facts f;

	verdict_clear(v);
	gather(in, &f, v);
	rule_screening(&f, v);
	rule_veu(&f, v);
	rule_destination(&f, v);
	rule_hq(&f, v);
	rule_lpp(&f, v);
	rule_alloc(&f, v);
	rule_handoff(&f, v);
	rule_contents(&f, v);
	rule_travel(&f, v);
	rule_hub(&f, v);
	if (f.license != NULL && (f.license_used || f.license_named) && f.ships) {
		add_usage(v, true, f.items.tpp, "license:%s:tpp", f.license->number);
		add_usage(v, true, f.items.units, "license:%s:units", f.license->number);
	}
	return CU_OK;
}
