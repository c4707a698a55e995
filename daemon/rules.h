/*
 * rules.h - the diversion safeguards: a pure rule engine run on every
 * submitted event before it is stored (DESIGN section 6, DOMAIN.md).
 *
 * (event, device state before it, registry, policy data in force when it
 * occurred, regime, tallies) -> hits, each a stable rule id, a severity
 * (REJECT refuses the event, ALERT accepts it and raises an alert) and a
 * reason a person can read. No I/O: the sequencer loads the state.
 *
 * Terms used below:
 *   exporter    the owner of the event's first named device
 *   items       the named devices and everything inside them; their class
 *               is the highest ECCN class of the chips among them
 *               (3A090.a above 3A090.b above none); controlled = a or b
 *   destination SHIP and RMA_OUT: to_facility and its country
 *   D:5+        D:5 or Macau (MO); Hong Kong reads as China everywhere
 *   Tier 1      SUPP5_740_A_AIA (the 19 destinations, the US among them)
 *   license     a license in force covering the exporter (holder), the
 *               destination country, every item class (3A090.x also
 *               covers 4A090.x), the consignee if it names one, and the
 *               quantity (TPP and chips used so far plus this event's);
 *               Event.license names one, else any covering license counts
 *   trusted     on the roster in force, or registered as a trusted exporter
 *   authorized  a site with a SITE notice on the roster, or registered as
 *               authorized (authorized_since is then the notice date)
 *   VEU-covered a trusted exporter's SHIP to its own authorized site with
 *               every notice in time (veu.* rules below pass)
 *
 * Rules (id, severity, regimes; see rules_describe for the table):
 *   dest.embargoed        REJECT  SHIP/RMA_OUT of controlled items to E:1,
 *                                 E:2 or D:5+ without a license
 *   dest.license_required REJECT  may2025, siia: 3A090.a items to D:1 or
 *                                 D:4 (unless also A:5 or A:6) without a
 *                                 license; under siia a trusted exporter's
 *                                 VEU-covered move to its own site is exempt
 *   party.hq_d5           REJECT  controlled items and a party to the event
 *                                 (actor, consignee, carrier, owner or
 *                                 operator of facility or to_facility)
 *                                 headquartered, or with its ultimate
 *                                 parent, in D:5+, without a license
 *   screen.exact          REJECT  a party's name is a screening entry's name
 *   screen.near           ALERT   a party's normalized name equals an
 *                                 entry's normalized name or alias
 *   license.invalid       REJECT  Event.license names no license in force,
 *                                 or one that does not cover the event
 *   veu.unauthorized_site REJECT  trusted exporter, controlled items, SHIP
 *                                 to a non-US facility that is not its own
 *                                 site on the roster (and no license)
 *   veu.site_notice       REJECT  ... site notified less than
 *                                 site_notice_ms before the shipment
 *   veu.transfer_notice   REJECT  ... across countries without a TRANSFER
 *                                 notice for the site transfer_notice_ms
 *                                 before the shipment
 *   handoff.never_shipped ALERT   RECEIVE of a device not in transit
 *   handoff.wrong_facility ALERT  RECEIVE at another facility than the
 *                                 shipment's destination
 *   handoff.wrong_receiver ALERT  RECEIVE by another party than the
 *                                 destination's operator
 *   handoff.not_in_shipment ALERT RECEIVE of devices of several shipments
 *   handoff.overdue       ALERT   (timer) shipment not received by deadline
 *   rma.swap              ALERT   RMA_IN of a device not sent for repair
 *   contents.mismatch     ALERT   ATTEST of a container whose reported
 *                                 contents differ from its recorded chips
 *   travel.impossible     ALERT   a device at two facilities faster than
 *                                 max_travel_kmh (great-circle distance)
 *   attest.dark           ALERT   (timer) installed chip not attested for
 *                                 longer than the attest interval
 *   route.hub             ALERT   an event at a facility in a transshipment
 *                                 hub country for devices in transit to
 *                                 another facility
 *   alloc.tier1_share     REJECT  jan2025: a trusted exporter's TPP in Tier 1
 *                                 would fall below 75% (exactly 75% passes)
 *   alloc.country_share   REJECT  jan2025: ... above 7% in one non-Tier-1
 *                                 country (exactly 7% passes)
 *   alloc.us_share        REJECT  jan2025: ... a US-headquartered one below
 *                                 50% in the US (exactly 50% passes)
 *   alloc.lpp_cap         REJECT  jan2025: without license or VEU cover, a
 *                                 consignee's TPP to non-Tier-1 countries in
 *                                 a calendar year would exceed the LPP cap
 *                                 (exactly the cap passes)
 * The allocation rules refuse only an event that makes a share worse.
 */
#ifndef CUSTODY_RULES_H
#define CUSTODY_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "policy.h"
#include "registry.h"
#include "state.h"
#include "tally.h"

#define RULES_MAX_HITS	  24
#define RULES_REASON_MAX  320
#define RULES_MAX_HUBS	  32
#define RULES_LPP_CAP_TPP 26900000

enum regime {
	REGIME_MAY2025, /* controls enforced since May 2025 (default) */
	REGIME_JAN2025, /* January 2025 AI Diffusion rule as written */
	REGIME_SIIA,	/* SIIA proposal: intra-company anywhere but D:5+, no caps */
};

/* Regime by config name ("may2025", "jan2025", "siia"), or -1. */
int rules_regime_parse(const char *name);
const char *rules_regime_name(enum regime r);  /* "may2025" */
const char *rules_regime_title(enum regime r); /* readable */

struct rules_params {
	enum regime regime;
	int64_t site_notice_ms;	    /* default 180 days */
	int64_t transfer_notice_ms; /* default 60 days */
	double max_travel_kmh;	    /* default 1000 */
	int64_t lpp_cap_tpp;	    /* default RULES_LPP_CAP_TPP */
	char hubs[RULES_MAX_HUBS][3];
	size_t n_hubs;
};

/* Fills p with the defaults (hubs SG MY TH VN IN HK AE). */
void rules_params_default(struct rules_params *p);

struct rules_input {
	const Custody__Event *ev;
	uint64_t seq;		       /* the sequence number it would get */
	const struct state_ws *ws;     /* devices before the event */
	const struct registry *reg;    /* parties and facilities */
	const struct policy_view *pol; /* data in force at ev->occurred_at_ms */
	const struct rules_params *params;
	const struct tally *tally;
};

struct rule_hit {
	const char *rule; /* static */
	Custody__Severity severity;
	bool alert; /* raise an alert for it */
	char reason[RULES_REASON_MAX];
	char device[VALIDATE_SERIAL_MAX + 1]; /* the device it is about */
	char facility[VALIDATE_ID_MAX + 1];   /* the place it is about */
};

/* One tally change the event makes if it is accepted. */
struct rules_usage {
	char key[TALLY_KEY_MAX];
	int64_t amount;
	bool stored; /* license and LPP use are stored; allocation is derived */
};

#define RULES_MAX_USAGE 8

struct verdict {
	struct rule_hit hits[RULES_MAX_HITS];
	size_t n_hits;
	bool reject; /* some hit has severity REJECT */
	struct rules_usage usage[RULES_MAX_USAGE];
	size_t n_usage;
};

/*
 * Empties v. The slots (12.5 KiB) are left as they are: each is written
 * whole when added, and none is read past n_hits or n_usage.
 */
static inline void verdict_clear(struct verdict *v)
{
	v->n_hits = 0;
	v->reject = false;
	v->n_usage = 0;
}

/*
 * Runs every rule of the regime on in->ev (which passed validate_event and
 * state checks) and fills v. CU_ERR_NOMEM only when memory ran out.
 */
CU_MUST_USE int rules_check(const struct rules_input *in, struct verdict *v);

/* Adds a hit (used by the sequencer for state rules and timers). */
void rules_add_hit(struct verdict *v, const char *rule, const char *device, const char *facility,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Static facts about a rule id: severity and whether it raises an alert. */
struct rule_def {
	const char *id;
	Custody__Severity severity;
	bool alert;
	const char *summary;
};

/* The rule called id, or NULL. */
const struct rule_def *rules_find(const char *id);

/* The table of all rules: *count rows. */
const struct rule_def *rules_describe(size_t *count);

/* Great-circle distance in km between two coordinates (degrees). */
double rules_distance_km(double lat1, double lon1, double lat2, double lon2);

#endif
