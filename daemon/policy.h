/*
 * policy.h - policy data in memory: every loaded version of every kind,
 * and the view of what was in force at a given time (DESIGN section 6).
 *
 * Each load (a signed PolicyLoad admin action, or a built-in file the
 * config names) replaces the whole data set of its kind from its
 * effective date on. An event is judged by the data in force when it
 * occurred: for each kind, the version with the latest effective date not
 * after the event, and among equal dates the one loaded last. Pure data
 * structure: no I/O here.
 */
#ifndef CUSTODY_POLICY_H
#define CUSTODY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "models.h"

/* EAR country groups, as bits of a membership mask. */
enum cgroup {
	CG_A1,
	CG_A2,
	CG_A3,
	CG_A4,
	CG_A5,
	CG_A6,
	CG_D1,
	CG_D2,
	CG_D3,
	CG_D4,
	CG_D5,
	CG_E1,
	CG_E2,
	CG_TIER1, /* SUPP5_740_A_AIA: Supplement No. 5 to Part 740 (a) */
	CG_COUNT
};

#define CG_BIT(g) (1u << (g))

/* The group called name ("A:1", "SUPP5_740_A_AIA"), or -1. */
int policy_group_parse(const char *name);

/* The name of group g. */
const char *policy_group_name(enum cgroup g);

struct policy_store;
struct policy_version;

/* The data of each kind in force at one time; any part may be NULL. */
struct policy_view {
	const struct policy_version *of[CUSTODY__POLICY_KIND__SCREENING + 1];
};

/* A screening-list match. */
struct policy_screen_hit {
	const Custody__ScreeningEntry *entry;
	bool exact;		  /* the party's name is the entry's name */
	const char *matched_name; /* the name or alias that matched */
};

/* A new empty store, or NULL. */
struct policy_store *policy_store_new(void);

/* Frees the store; accepts NULL. */
void policy_store_free(struct policy_store *store);

/*
 * Adds a version: a copy of pl (already validated), loaded by admin action
 * admin_seq (0 for a built-in file). CU_ERR_NOMEM, or CU_ERR_INVALID with
 * err set if the rows cannot be indexed.
 */
CU_MUST_USE int policy_store_add(struct policy_store *store, const Custody__PolicyLoad *pl,
				 uint64_t admin_seq, char *err, size_t err_size);

/* The view of the data in force at t_ms. */
void policy_view_at(const struct policy_store *store, int64_t t_ms, struct policy_view *out);

/*
 * Versions, in load order: *pos starts at 0; returns NULL at the end.
 * *pl, *admin_seq describe the returned version.
 */
const struct policy_version *policy_store_next(const struct policy_store *store, size_t *pos,
					       const Custody__PolicyLoad **pl, uint64_t *admin_seq);

/* The load a version came from. */
const Custody__PolicyLoad *policy_version_load(const struct policy_version *v);

/*
 * Group membership mask of country cc in the view: COUNTRY_GROUPS, with
 * Hong Kong read as China, then COUNTRY_OVERRIDES applied.
 */
uint32_t policy_country_groups(const struct policy_view *v, const char *cc);

/* The model row of name in force, or NULL. */
const struct model_info *policy_model(const struct policy_view *v, const char *name);

/* The model table in force (NULL if none). */
const struct models *policy_models(const struct policy_view *v);

/* Is exporter on the trusted-exporter roster? */
bool policy_trusted(const struct policy_view *v, const char *exporter);

/*
 * When the notice of kind for (exporter, facility) was given, or 0 if the
 * roster has none.
 */
int64_t policy_notice(const struct policy_view *v, const char *exporter, const char *facility,
		      Custody__RosterNotice notice);

/* Licenses in force: *pos starts at 0; NULL at the end. */
const Custody__License *policy_license_next(const struct policy_view *v, size_t *pos);

/* The license numbered number, or NULL. */
const Custody__License *policy_license(const struct policy_view *v, const char *number);

/*
 * Screens a party name: an exact match (same name, ignoring case and
 * spacing) of an entry's name, else a near match (names equal after
 * normalization: case, punctuation and company suffixes dropped) of an
 * entry's name or alias. Returns whether anything matched.
 */
bool policy_screen(const struct policy_view *v, const char *name, struct policy_screen_hit *hit);

/*
 * Normalizes a name for near matching into out: lower-case ASCII letters
 * and digits, words separated by one space, with company-form words
 * ("ltd", "co", "inc", "limited", "llc", "corp", "gmbh", ...) dropped.
 */
void policy_normalize_name(const char *name, char *out, size_t out_size);

#endif
