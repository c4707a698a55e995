/* Unit tests for daemon/policy.c: versions and effective dates, country
 * groups read from the real deploy/policy/country_groups.csv (Hong Kong as
 * China, operator overrides), screening (exact and near matches, name
 * normalization), roster notices and license lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"
#include "policy.h"
#include "test_util.h"

#define DAY_MS	 (24LL * 3600 * 1000)
#define T0	 1772323200000LL /* 2026-03-01T00:00:00Z */
#define MAX_ROWS 512

/* A PolicyLoad under construction, with storage for its rows. */
struct load_builder {
	Custody__PolicyLoad pl;
	Custody__CountryGroupRow groups[MAX_ROWS];
	Custody__CountryGroupRow *group_ptrs[MAX_ROWS];
	Custody__RosterRow roster[16];
	Custody__RosterRow *roster_ptrs[16];
	Custody__License licenses[8];
	Custody__License *license_ptrs[8];
	Custody__ScreeningEntry screening[8];
	Custody__ScreeningEntry *screening_ptrs[8];
	Custody__ModelRow models[8];
	Custody__ModelRow *model_ptrs[8];
	char *owned[3 * MAX_ROWS]; /* strings copied from the CSV */
	size_t n_owned;
};

static void begin(struct load_builder *b, Custody__PolicyKind kind, int64_t effective_ms)
{
	memset(b, 0, sizeof(*b));
	custody__policy_load__init(&b->pl);
	b->pl.kind = kind;
	b->pl.effective_from_ms = effective_ms;
	b->pl.source = "test";
	b->pl.country_groups = b->group_ptrs;
	b->pl.roster = b->roster_ptrs;
	b->pl.licenses = b->license_ptrs;
	b->pl.screening = b->screening_ptrs;
	b->pl.models = b->model_ptrs;
}

static void builder_clear(struct load_builder *b)
{
	for (size_t i = 0; i < b->n_owned; i++)
		free(b->owned[i]);
	b->n_owned = 0;
}

static char *keep(struct load_builder *b, const char *s)
{
	char *copy = strdup(s);

	assert_non_null(copy);
	assert_true(b->n_owned < sizeof(b->owned) / sizeof(b->owned[0]));
	b->owned[b->n_owned++] = copy;
	return copy;
}

static void add_group(struct load_builder *b, const char *group, const char *cc, bool member)
{
	Custody__CountryGroupRow *r = &b->groups[b->pl.n_country_groups];

	assert_true(b->pl.n_country_groups < MAX_ROWS);
	custody__country_group_row__init(r);
	r->group = (char *)group;
	r->country = (char *)cc;
	r->member = member;
	b->group_ptrs[b->pl.n_country_groups++] = r;
}

static void add_roster(struct load_builder *b, const char *exporter, const char *facility,
		       int64_t at_ms, Custody__RosterNotice notice)
{
	Custody__RosterRow *r = &b->roster[b->pl.n_roster];

	custody__roster_row__init(r);
	r->exporter = (char *)exporter;
	r->facility = (char *)facility;
	r->notified_at_ms = at_ms;
	r->notice = notice;
	b->roster_ptrs[b->pl.n_roster++] = r;
}

static Custody__License *add_license(struct load_builder *b, const char *number, const char *holder)
{
	Custody__License *l = &b->licenses[b->pl.n_licenses];

	custody__license__init(l);
	l->number = (char *)number;
	l->holder = (char *)holder;
	b->license_ptrs[b->pl.n_licenses++] = l;
	return l;
}

static Custody__ScreeningEntry *add_entry(struct load_builder *b, const char *id, const char *name)
{
	Custody__ScreeningEntry *e = &b->screening[b->pl.n_screening];

	custody__screening_entry__init(e);
	e->id = (char *)id;
	e->source = "Entity List (EL) - Bureau of Industry and Security";
	e->name = (char *)name;
	b->screening_ptrs[b->pl.n_screening++] = e;
	return e;
}

static void add_model(struct load_builder *b, const char *model, uint64_t tpp,
		      const char *eccn_class)
{
	Custody__ModelRow *m = &b->models[b->pl.n_models];

	custody__model_row__init(m);
	m->model = (char *)model;
	m->tpp = tpp;
	m->eccn_class = (char *)eccn_class;
	b->model_ptrs[b->pl.n_models++] = m;
}

static void store_add(struct policy_store *store, struct load_builder *b, uint64_t admin_seq)
{
	char err[256];

	assert_int_equal(policy_store_add(store, &b->pl, admin_seq, err, sizeof(err)), CU_OK);
}

/* The real country groups file of the source tree. */
static struct csv *open_country_groups(void)
{
	struct csv *csv = NULL;

	assert_int_equal(csv_open(test_source_path("deploy/policy/country_groups.csv"), 1, &csv),
			 CU_OK);
	return csv;
}

/* Fills b with the rows of the real file, as custodyctl would; returns the row count. */
static size_t load_country_groups_csv(struct load_builder *b, int64_t effective_ms)
{
	struct csv *csv = open_country_groups();
	char **fields;
	size_t count, rows = 0;
	int rc;

	begin(b, CUSTODY__POLICY_KIND__COUNTRY_GROUPS, effective_ms);
	assert_int_equal(csv_next(csv, &fields, &count), CU_OK);
	assert_true(count >= 3);
	assert_string_equal(fields[0], "group");
	assert_string_equal(fields[1], "iso3166_alpha2");
	while ((rc = csv_next(csv, &fields, &count)) == CU_OK) {
		assert_true(count >= 2);
		add_group(b, keep(b, fields[0]), keep(b, fields[1]), true);
		b->groups[b->pl.n_country_groups - 1].name = keep(b, count > 2 ? fields[2] : "");
		rows++;
	}
	assert_int_equal(rc, CU_ERR_NOT_FOUND);
	csv_close(csv);
	return rows;
}

static uint32_t mask_of(const char *groups)
{
	char copy[256];
	uint32_t mask = 0;

	snprintf(copy, sizeof(copy), "%s", groups);
	for (char *save, *g = strtok_r(copy, " ", &save); g != NULL;
	     g = strtok_r(NULL, " ", &save)) {
		int bit = policy_group_parse(g);

		assert_true(bit >= 0);
		mask |= CG_BIT(bit);
	}
	return mask;
}

/* ---- groups ----------------------------------------------------------- */

static void test_group_names(void **state)
{
	(void)state;
	assert_int_equal(policy_group_parse("A:1"), CG_A1);
	assert_int_equal(policy_group_parse("D:5"), CG_D5);
	assert_int_equal(policy_group_parse("E:2"), CG_E2);
	assert_int_equal(policy_group_parse("SUPP5_740_A_AIA"), CG_TIER1);
	assert_int_equal(policy_group_parse("D:6"), -1);
	assert_int_equal(policy_group_parse("d:5"), -1);
	assert_int_equal(policy_group_parse(""), -1);
	for (int g = 0; g < CG_COUNT; g++)
		assert_int_equal(policy_group_parse(policy_group_name((enum cgroup)g)), g);
}

struct group_case {
	const char *cc;
	const char *groups; /* exactly these, space-separated */
};

/* Memberships in the 2026-07-23 eCFR edition (deploy/policy/README.md). */
static const struct group_case csv_cases[] = {
    {"US", "A:1 A:2 A:3 A:4 SUPP5_740_A_AIA"},
    {"JP", "A:1 A:2 A:3 A:4 A:5 SUPP5_740_A_AIA"},
    {"TW", "A:6 D:3 SUPP5_740_A_AIA"},
    {"CN", "D:1 D:3 D:4 D:5"},
    {"HK", "D:1 D:3 D:4 D:5"}, /* read as China */
    {"MO", "D:1 D:3 D:4"},     /* Macau is not in D:5 itself: rules add it */
    {"KH", "D:1"},	       /* left D:5 on 2026-02-03 */
    {"NI", "D:1 D:5"},	       /* joined D:5 on 2024-03-15 */
    {"IR", "D:2 D:3 D:4 D:5 E:1"},
    {"CU", "D:2 D:3 D:5 E:2"},
    {"KP", "D:1 D:2 D:3 D:4 D:5 E:1"},
    {"IL", "A:6 D:2 D:3 D:4"},
    {"AE", "A:5"},
    {"IN", "A:1 A:2 A:3 A:5"},
    {"SG", "A:6"},
    {"VN", "D:1 D:3"},
    {"SA", "D:3 D:4"},
    {"KZ", "A:4 D:1 D:3"},
    {"ZZ", ""}, /* not a country */
    {"", ""},
};

static void test_country_groups_csv(void **state)
{
	struct policy_store *store = policy_store_new();
	struct load_builder *b = malloc(sizeof(*b));
	struct policy_view view;
	const char *tier1[] = {"AU", "BE", "CA", "DE", "DK", "ES", "FI", "FR", "GB", "IE",
			       "IT", "JP", "KR", "NL", "NO", "NZ", "SE", "TW", "US"};
	size_t rows;

	(void)state;
	assert_non_null(store);
	assert_non_null(b);
	rows = load_country_groups_csv(b, 0);
	assert_int_equal(rows, 343);
	store_add(store, b, 0);
	builder_clear(b);

	policy_view_at(store, T0, &view);
	for (size_t i = 0; i < sizeof(csv_cases) / sizeof(csv_cases[0]); i++) {
		uint32_t got = policy_country_groups(&view, csv_cases[i].cc);

		if (got != mask_of(csv_cases[i].groups))
			fail_msg("%s: mask %#x, want %#x (%s)", csv_cases[i].cc, got,
				 mask_of(csv_cases[i].groups), csv_cases[i].groups);
	}
	for (size_t i = 0; i < sizeof(tier1) / sizeof(tier1[0]); i++)
		assert_true(policy_country_groups(&view, tier1[i]) & CG_BIT(CG_TIER1));
	assert_int_equal(policy_country_groups(&view, "HK"), policy_country_groups(&view, "CN"));

	/* Nothing in force before the built-in version's date: an empty view. */
	policy_view_at(store, -1, &view);
	assert_int_equal(policy_country_groups(&view, "CN"), 0);
	policy_store_free(store);
	free(b);
}

/* An older edition in code: KH still in D:5, NI not yet. */
static void add_old_edition(struct load_builder *b)
{
	add_group(b, "D:1", "KH", true);
	add_group(b, "D:5", "KH", true);
	add_group(b, "D:1", "NI", true);
	add_group(b, "D:1", "CN", true);
	add_group(b, "D:5", "CN", true);
	add_group(b, "A:1", "US", true);
	add_group(b, "SUPP5_740_A_AIA", "US", true);
	add_group(b, "D:4", "IL", true);
}

#define NI_JOINED 1710460800000LL /* 2024-03-15 */
#define KH_LEFT	  1770076800000LL /* 2026-02-03 */

/* The old edition, then overrides: NI into D:5, later KH out of D:5 and more. */
static struct policy_store *overrides_store(struct load_builder *b)
{
	struct policy_store *store = policy_store_new();

	assert_non_null(store);
	begin(b, CUSTODY__POLICY_KIND__COUNTRY_GROUPS, 0);
	add_old_edition(b);
	store_add(store, b, 0);

	/* NI joins D:5 (member = true adds). */
	begin(b, CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES, NI_JOINED);
	add_group(b, "D:5", "NI", true);
	store_add(store, b, 1);
	/* KH leaves D:5 (member = false removes); the set replaces the one above, so NI is repeated. */
	begin(b, CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES, KH_LEFT);
	add_group(b, "D:5", "NI", true);
	add_group(b, "D:5", "KH", false);
	add_group(b, "A:6", "IL", true);
	add_group(b, "A:1", "XK", true); /* a country the groups do not list */
	add_group(b, "D:5", "CN", false);
	add_group(b, "D:4", "CN", true);
	store_add(store, b, 2);
	return store;
}

static void test_country_overrides(void **state)
{
	struct load_builder *b = malloc(sizeof(*b));
	struct policy_store *store;
	struct policy_view view;

	(void)state;
	assert_non_null(b);
	store = overrides_store(b);
	policy_view_at(store, NI_JOINED - 1, &view);
	assert_int_equal(policy_country_groups(&view, "KH"), mask_of("D:1 D:5"));
	assert_int_equal(policy_country_groups(&view, "NI"), mask_of("D:1"));

	policy_view_at(store, NI_JOINED, &view);
	assert_int_equal(policy_country_groups(&view, "KH"), mask_of("D:1 D:5"));
	assert_int_equal(policy_country_groups(&view, "NI"), mask_of("D:1 D:5"));
	assert_int_equal(policy_country_groups(&view, "IL"), mask_of("D:4"));

	policy_view_at(store, KH_LEFT - 1, &view);
	assert_int_equal(policy_country_groups(&view, "KH"), mask_of("D:1 D:5"));

	policy_view_at(store, KH_LEFT, &view);
	assert_int_equal(policy_country_groups(&view, "KH"), mask_of("D:1"));
	assert_int_equal(policy_country_groups(&view, "NI"), mask_of("D:1 D:5"));
	assert_int_equal(policy_country_groups(&view, "IL"), mask_of("A:6 D:4"));
	assert_int_equal(policy_country_groups(&view, "XK"), mask_of("A:1"));
	assert_int_equal(policy_country_groups(&view, "US"), mask_of("A:1 SUPP5_740_A_AIA"));
	/* Overrides of China apply to Hong Kong, which reads as China. */
	assert_int_equal(policy_country_groups(&view, "CN"), mask_of("D:1 D:4"));
	assert_int_equal(policy_country_groups(&view, "HK"), mask_of("D:1 D:4"));
	policy_store_free(store);
	free(b);
}

/* A new edition of the groups keeps the overrides in force on top of it. */
static void test_overrides_outlive_edition(void **state)
{
	struct load_builder *b = malloc(sizeof(*b));
	struct policy_store *store;
	struct policy_view view;

	(void)state;
	assert_non_null(b);
	store = overrides_store(b);
	begin(b, CUSTODY__POLICY_KIND__COUNTRY_GROUPS, KH_LEFT + DAY_MS);
	add_group(b, "D:5", "KH", true);
	add_group(b, "D:5", "CN", true);
	store_add(store, b, 3);
	policy_view_at(store, KH_LEFT + DAY_MS, &view);
	assert_int_equal(policy_country_groups(&view, "KH"), 0);
	assert_int_equal(policy_country_groups(&view, "NI"), mask_of("D:5"));
	assert_int_equal(policy_country_groups(&view, "CN"), mask_of("D:4"));
	assert_int_equal(policy_country_groups(&view, "IL"), mask_of("A:6"));

	policy_store_free(store);
	free(b);
}

static void test_overrides_on_real_file(void **state)
{
	struct policy_store *store = policy_store_new();
	struct load_builder *b = malloc(sizeof(*b));
	struct load_builder *o = malloc(sizeof(*o));
	struct policy_view view;

	(void)state;
	assert_non_null(b);
	assert_non_null(o);
	load_country_groups_csv(b, 0);
	store_add(store, b, 0);
	begin(o, CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES, T0);
	add_group(o, "D:5", "KH", true);
	add_group(o, "D:5", "NI", false);
	add_group(o, "A:5", "VN", true);
	store_add(store, o, 1);
	builder_clear(b);

	policy_view_at(store, T0 - 1, &view);
	assert_int_equal(policy_country_groups(&view, "KH"), mask_of("D:1"));
	assert_int_equal(policy_country_groups(&view, "NI"), mask_of("D:1 D:5"));
	policy_view_at(store, T0, &view);
	assert_int_equal(policy_country_groups(&view, "KH"), mask_of("D:1 D:5"));
	assert_int_equal(policy_country_groups(&view, "NI"), mask_of("D:1"));
	assert_int_equal(policy_country_groups(&view, "VN"), mask_of("A:5 D:1 D:3"));
	assert_int_equal(policy_country_groups(&view, "CN"), mask_of("D:1 D:3 D:4 D:5"));
	policy_store_free(store);
	free(b);
	free(o);
}

static void test_bad_group_refused(void **state)
{
	struct policy_store *store = policy_store_new();
	struct load_builder *b = malloc(sizeof(*b));
	struct policy_view view;
	char err[256] = "";

	(void)state;
	assert_non_null(b);
	begin(b, CUSTODY__POLICY_KIND__COUNTRY_GROUPS, 0);
	add_group(b, "D:5", "CN", true);
	add_group(b, "Z:9", "CN", true);
	assert_int_equal(policy_store_add(store, &b->pl, 0, err, sizeof(err)), CU_ERR_INVALID);
	assert_true(strlen(err) > 0);
	/* Nothing of the refused load is in force. */
	policy_view_at(store, T0, &view);
	assert_int_equal(policy_country_groups(&view, "CN"), 0);

	begin(b, CUSTODY__POLICY_KIND__POLICY_KIND_UNSPECIFIED, 0);
	assert_int_equal(policy_store_add(store, &b->pl, 0, err, sizeof(err)), CU_ERR_INVALID);
	begin(b, (Custody__PolicyKind)99, 0);
	assert_int_equal(policy_store_add(store, &b->pl, 0, err, sizeof(err)), CU_ERR_INVALID);
	policy_store_free(store);
	policy_store_free(NULL);
	free(b);
}

/* ---- versions ---------------------------------------------------------- */

/* Which of the numbers is the license set in force at t. */
static void expect_licenses(const struct policy_store *store, int64_t t, const char *want)
{
	struct policy_view view;
	const Custody__License *l;
	char got[128] = "";
	size_t pos = 0;

	policy_view_at(store, t, &view);
	while ((l = policy_license_next(&view, &pos)) != NULL) {
		if (got[0] != '\0')
			strncat(got, " ", sizeof(got) - strlen(got) - 1);
		strncat(got, l->number, sizeof(got) - strlen(got) - 1);
		assert_ptr_equal(policy_license(&view, l->number), l);
	}
	if (strcmp(got, want) != 0)
		fail_msg("licenses at %lld: \"%s\", want \"%s\"", (long long)t, got, want);
}

/* Load order: 2000 (L-B), 1000 (L-A), 2000 again (L-C), 1500 (L-D); a roster at 1200. */
static struct policy_store *versions_store(void)
{
	struct policy_store *store = policy_store_new();
	struct load_builder *b = malloc(sizeof(*b));

	assert_non_null(store);
	assert_non_null(b);
	begin(b, CUSTODY__POLICY_KIND__LICENSES, 2000);
	add_license(b, "L-B1", "hyper");
	add_license(b, "L-B2", "hyper");
	store_add(store, b, 11);
	begin(b, CUSTODY__POLICY_KIND__LICENSES, 1000);
	add_license(b, "L-A", "hyper");
	store_add(store, b, 12);
	begin(b, CUSTODY__POLICY_KIND__LICENSES, 2000);
	add_license(b, "L-C", "hyper");
	store_add(store, b, 13);
	begin(b, CUSTODY__POLICY_KIND__LICENSES, 1500);
	add_license(b, "L-D", "hyper");
	store_add(store, b, 14);
	/* Another kind does not touch the licenses. */
	begin(b, CUSTODY__POLICY_KIND__ROSTER, 1200);
	add_roster(b, "hyper", "", 0, 0);
	store_add(store, b, 15);
	free(b);
	return store;
}

static void test_versions(void **state)
{
	struct policy_store *store = versions_store();
	struct policy_view view;

	(void)state;
	expect_licenses(store, 999, "");
	expect_licenses(store, 1000, "L-A");
	expect_licenses(store, 1499, "L-A");
	expect_licenses(store, 1500, "L-D");
	expect_licenses(store, 1999, "L-D");
	/* Equal effective dates: the later load wins, and replaces the whole set. */
	expect_licenses(store, 2000, "L-C");
	expect_licenses(store, INT64_MAX, "L-C");

	policy_view_at(store, 2000, &view);
	assert_null(policy_license(&view, "L-B1"));
	assert_null(policy_license(&view, "L-A"));
	assert_non_null(policy_license(&view, "L-C"));
	assert_true(policy_trusted(&view, "hyper"));
	policy_view_at(store, 1199, &view);
	assert_false(policy_trusted(&view, "hyper"));
	assert_null(view.of[CUSTODY__POLICY_KIND__ROSTER]);
	assert_null(view.of[CUSTODY__POLICY_KIND__SCREENING]);
	policy_store_free(store);
}

static void test_store_iteration(void **state)
{
	struct policy_store *store = versions_store();
	const struct policy_version *version;
	const Custody__PolicyLoad *pl;
	uint64_t admin_seq;
	size_t pos = 0, n = 0;

	(void)state;
	/* Versions come back in load order with their admin sequence numbers. */
	while (policy_store_next(store, &pos, &pl, &admin_seq) != NULL) {
		assert_int_equal(admin_seq, 11 + n);
		n++;
	}
	assert_int_equal(n, 5);
	pos = 0;
	assert_non_null(policy_store_next(store, &pos, &pl, &admin_seq));
	assert_int_equal(pl->effective_from_ms, 2000);
	assert_int_equal(pl->n_licenses, 2);
	pos = 2;
	version = policy_store_next(store, &pos, &pl, &admin_seq);
	assert_non_null(version);
	assert_ptr_equal(policy_version_load(version), pl);
	assert_int_equal(pl->effective_from_ms, 2000);
	assert_string_equal(pl->licenses[0]->number, "L-C");
	assert_null(policy_store_next(NULL, &pos, &pl, &admin_seq));
	policy_store_free(store);
}

/* The store keeps its own copy: the caller's rows may go away. */
static void test_store_copies(void **state)
{
	struct policy_store *store = policy_store_new();
	struct load_builder *b = malloc(sizeof(*b));
	struct policy_view view;
	char number[] = "L-COPY";
	char holder[] = "hyper";
	const Custody__License *l;

	(void)state;
	assert_non_null(b);
	begin(b, CUSTODY__POLICY_KIND__LICENSES, 0);
	add_license(b, number, holder);
	store_add(store, b, 0);
	memset(number, 'x', sizeof(number) - 1);
	memset(holder, 'y', sizeof(holder) - 1);
	memset(b, 0xa5, sizeof(*b));
	policy_view_at(store, 0, &view);
	l = policy_license(&view, "L-COPY");
	assert_non_null(l);
	assert_string_equal(l->holder, "hyper");
	policy_store_free(store);
	free(b);
}

/* ---- roster ------------------------------------------------------------- */

static void test_roster_notices(void **state)
{
	struct policy_store *store = policy_store_new();
	struct load_builder *b = malloc(sizeof(*b));
	struct policy_view view;
	const int64_t site = T0 - 200 * DAY_MS, transfer = T0 - 90 * DAY_MS;

	(void)state;
	assert_non_null(b);
	begin(b, CUSTODY__POLICY_KIND__ROSTER, T0 - 365 * DAY_MS);
	add_roster(b, "hyper", "jp-inzai", site, CUSTODY__ROSTER_NOTICE__SITE);
	add_roster(b, "hyper", "jp-inzai", transfer, CUSTODY__ROSTER_NOTICE__TRANSFER);
	add_roster(b, "hyper", "de-fra", site - DAY_MS, 0); /* unset: SITE */
	add_roster(b, "euro", "", 0, 0);		    /* trusted, no site yet */
	store_add(store, b, 0);

	policy_view_at(store, T0, &view);
	assert_true(policy_trusted(&view, "hyper"));
	assert_true(policy_trusted(&view, "euro"));
	assert_false(policy_trusted(&view, "oem"));
	assert_false(policy_trusted(&view, "jp-inzai"));
	assert_false(policy_trusted(&view, ""));
	assert_int_equal(policy_notice(&view, "hyper", "jp-inzai", CUSTODY__ROSTER_NOTICE__SITE),
			 site);
	assert_int_equal(
	    policy_notice(&view, "hyper", "jp-inzai", CUSTODY__ROSTER_NOTICE__TRANSFER), transfer);
	assert_int_equal(policy_notice(&view, "hyper", "de-fra", CUSTODY__ROSTER_NOTICE__SITE),
			 site - DAY_MS);
	assert_int_equal(policy_notice(&view, "hyper", "de-fra", CUSTODY__ROSTER_NOTICE__TRANSFER),
			 0);
	assert_int_equal(policy_notice(&view, "euro", "jp-inzai", CUSTODY__ROSTER_NOTICE__SITE), 0);
	assert_int_equal(policy_notice(&view, "oem", "jp-inzai", CUSTODY__ROSTER_NOTICE__SITE), 0);

	/* Before the roster's effective date there is none. */
	policy_view_at(store, T0 - 366 * DAY_MS, &view);
	assert_false(policy_trusted(&view, "hyper"));
	assert_int_equal(policy_notice(&view, "hyper", "jp-inzai", CUSTODY__ROSTER_NOTICE__SITE),
			 0);

	/* A new roster without the site withdraws it. */
	begin(b, CUSTODY__POLICY_KIND__ROSTER, T0);
	add_roster(b, "hyper", "de-fra", site, CUSTODY__ROSTER_NOTICE__SITE);
	store_add(store, b, 1);
	policy_view_at(store, T0, &view);
	assert_true(policy_trusted(&view, "hyper"));
	assert_false(policy_trusted(&view, "euro"));
	assert_int_equal(policy_notice(&view, "hyper", "jp-inzai", CUSTODY__ROSTER_NOTICE__SITE),
			 0);
	assert_int_equal(policy_notice(&view, "hyper", "de-fra", CUSTODY__ROSTER_NOTICE__SITE),
			 site);
	policy_store_free(store);
	free(b);
}

/* ---- licenses and models -------------------------------------------------- */

static void test_license_lookup(void **state)
{
	struct policy_store *store = policy_store_new();
	struct load_builder *b = malloc(sizeof(*b));
	struct policy_view view;
	const Custody__License *l;
	char *dests[] = {"AE", "SA"};
	char *eccns[] = {"3A090.a"};
	Custody__License *w;
	size_t pos = 0;

	(void)state;
	assert_non_null(b);
	policy_view_at(store, T0, &view);
	assert_null(policy_license(&view, "BIS-1"));
	assert_null(policy_license_next(&view, &pos));

	begin(b, CUSTODY__POLICY_KIND__LICENSES, 0);
	w = add_license(b, "BIS-1", "hyper");
	w->destinations = dests;
	w->n_destinations = 2;
	w->eccns = eccns;
	w->n_eccns = 1;
	w->max_tpp = 26900000;
	w->max_units = 1000;
	w->valid_from_ms = T0 - DAY_MS;
	w->valid_until_ms = T0 + DAY_MS;
	w->consignee = "op-ae";
	add_license(b, "BIS-2", "euro");
	store_add(store, b, 0);

	policy_view_at(store, T0, &view);
	l = policy_license(&view, "BIS-1");
	assert_non_null(l);
	assert_string_equal(l->holder, "hyper");
	assert_int_equal(l->n_destinations, 2);
	assert_string_equal(l->destinations[1], "SA");
	assert_string_equal(l->eccns[0], "3A090.a");
	assert_int_equal(l->max_tpp, 26900000);
	assert_int_equal(l->max_units, 1000);
	assert_int_equal(l->valid_until_ms, T0 + DAY_MS);
	assert_string_equal(l->consignee, "op-ae");
	assert_string_equal(policy_license(&view, "BIS-2")->holder, "euro");
	assert_null(policy_license(&view, "bis-1")); /* numbers are exact */
	assert_null(policy_license(&view, "BIS-"));
	assert_null(policy_license(&view, ""));
	pos = 0;
	assert_ptr_equal(policy_license_next(&view, &pos), l);
	assert_string_equal(policy_license_next(&view, &pos)->number, "BIS-2");
	assert_null(policy_license_next(&view, &pos));
	assert_null(policy_license_next(&view, &pos));
	policy_store_free(store);
	free(b);
}

static void test_models(void **state)
{
	struct policy_store *store = policy_store_new();
	struct load_builder *b = malloc(sizeof(*b));
	struct policy_view view;
	const struct model_info *m;
	char err[256];

	(void)state;
	assert_non_null(b);
	policy_view_at(store, T0, &view);
	assert_null(policy_models(&view));
	assert_null(policy_model(&view, "H100-SXM"));
	begin(b, CUSTODY__POLICY_KIND__MODELS, 0);
	add_model(b, "H100-SXM", 15832, "3A090.a");
	add_model(b, "H20", 2368, "none");
	store_add(store, b, 0);
	policy_view_at(store, T0, &view);
	m = policy_model(&view, "H100-SXM");
	assert_non_null(m);
	assert_int_equal(m->tpp, 15832);
	assert_string_equal(m->eccn_class, "3A090.a");
	assert_string_equal(policy_model(&view, "H20")->eccn_class, "none");
	assert_null(policy_model(&view, "h100-sxm"));
	assert_int_equal(models_count(policy_models(&view)), 2);

	/* A model listed twice is refused, and the table in force stays. */
	begin(b, CUSTODY__POLICY_KIND__MODELS, 0);
	add_model(b, "B200", 72000, "3A090.a");
	add_model(b, "B200", 72000, "3A090.a");
	assert_int_not_equal(policy_store_add(store, &b->pl, 1, err, sizeof(err)), CU_OK);
	policy_view_at(store, T0, &view);
	assert_null(policy_model(&view, "B200"));
	assert_non_null(policy_model(&view, "H20"));
	policy_store_free(store);
	free(b);
}

/* ---- screening ----------------------------------------------------------- */

struct screen_case {
	const char *name;
	const char *entry; /* id of the entry matched, NULL for none */
	bool exact;
	const char *matched; /* name or alias that matched */
};

static const struct screen_case screen_cases[] = {
    /* exact: the entry's name, case and spacing ignored */
    {"Shadow Compute Trading Ltd", "e-shadow", true, "Shadow Compute Trading Ltd"},
    {"shadow compute trading ltd", "e-shadow", true, "Shadow Compute Trading Ltd"},
    {"SHADOW  COMPUTE\tTRADING   LTD", "e-shadow", true, "Shadow Compute Trading Ltd"},
    {"  Shadow Compute Trading Ltd  ", "e-shadow", true, "Shadow Compute Trading Ltd"},
    {"Acme Robotics Co., Ltd.", "e-acme", true, "Acme Robotics Co., Ltd."},
    /* near: punctuation and company forms */
    {"Shadow Compute Trading Limited", "e-shadow", false, "Shadow Compute Trading Ltd"},
    {"Shadow Compute Trading", "e-shadow", false, "Shadow Compute Trading Ltd"},
    {"Shadow-Compute Trading, Ltd.", "e-shadow", false, "Shadow Compute Trading Ltd"},
    {"The Shadow Compute Trading Co., Ltd.", "e-shadow", false, "Shadow Compute Trading Ltd"},
    {"Shadow Compute Trading Inc", "e-shadow", false, "Shadow Compute Trading Ltd"},
    {"ACME ROBOTICS", "e-acme", false, "Acme Robotics Co., Ltd."},
    {"Acme Robotics Corporation", "e-acme", false, "Acme Robotics Co., Ltd."},
    {"Acme Robotics Co Ltd", "e-acme", false, "Acme Robotics Co., Ltd."},
    {"Lin & Sons Holdings", "e-lin", false, "Lin and Sons Limited"},
    /* aliases are near matches, even letter for letter */
    {"Northern Star Electronics", "e-acme", false, "Northern Star Electronics"},
    {"northern star electronics gmbh", "e-acme", false, "Northern Star Electronics"},
    {"SCT Hong Kong Ltd", "e-shadow", false, "SCT Hong Kong Limited"},
    {"SCT Hong Kong Limited", "e-shadow", false, "SCT Hong Kong Limited"},
    /* no match */
    {"Shadow Compute", NULL, false, NULL},
    {"Shadow Computing Trading Ltd", NULL, false, NULL},
    {"Shadow Compute Trading Ltd 2", NULL, false, NULL},
    {"Acme Robotic", NULL, false, NULL},
    {"Ltd", NULL, false, NULL}, /* only company forms: nothing to compare */
    {"Co., Ltd.", NULL, false, NULL},
    {"", NULL, false, NULL},
    {"Hyperscale Cloud Inc", NULL, false, NULL},
};

static void test_screen(void **state)
{
	struct policy_store *store = policy_store_new();
	struct load_builder *b = malloc(sizeof(*b));
	struct policy_view view;
	struct policy_screen_hit hit;
	char *acme_alts[] = {"Northern Star Electronics"};
	char *shadow_alts[] = {"SCT Hong Kong Limited"};
	Custody__ScreeningEntry *e;
	int failures = 0;

	(void)state;
	assert_non_null(b);
	policy_view_at(store, T0, &view);
	assert_false(policy_screen(&view, "Shadow Compute Trading Ltd", &hit));

	begin(b, CUSTODY__POLICY_KIND__SCREENING, 0);
	e = add_entry(b, "e-shadow", "Shadow Compute Trading Ltd");
	e->alt_names = shadow_alts;
	e->n_alt_names = 1;
	e = add_entry(b, "e-acme", "Acme Robotics Co., Ltd.");
	e->alt_names = acme_alts;
	e->n_alt_names = 1;
	add_entry(b, "e-lin", "Lin and Sons Limited");
	store_add(store, b, 0);
	policy_view_at(store, T0, &view);

	for (size_t i = 0; i < sizeof(screen_cases) / sizeof(screen_cases[0]); i++) {
		const struct screen_case *c = &screen_cases[i];
		bool matched = policy_screen(&view, c->name, &hit);
		bool ok = matched == (c->entry != NULL);

		if (ok && matched)
			ok = hit.entry != NULL && strcmp(hit.entry->id, c->entry) == 0 &&
			     hit.exact == c->exact && hit.matched_name != NULL &&
			     strcmp(hit.matched_name, c->matched) == 0;
		if (!ok) {
			print_error("screen \"%s\": got %s%s%s (%s), want %s%s (%s)\n", c->name,
				    matched ? "" : "no match",
				    matched && hit.entry ? hit.entry->id : "",
				    matched ? (hit.exact ? " exact" : " near") : "",
				    matched && hit.matched_name ? hit.matched_name : "-",
				    c->entry ? c->entry : "no match",
				    c->entry ? (c->exact ? " exact" : " near") : "",
				    c->matched ? c->matched : "-");
			failures++;
		}
	}
	assert_int_equal(failures, 0);
	policy_store_free(store);
	free(b);
}

struct normalize_case {
	const char *in, *out;
};

static const struct normalize_case normalize_cases[] = {
    {"Acme Robotics Co., Ltd.", "acme robotics"},
    {"  The   Foo-Bar GmbH ", "foo bar"},
    {"A&B Inc", "a and b"},
    {"Lin & Sons", "lin and sons"},
    {"SHADOW COMPUTE TRADING LIMITED", "shadow compute trading"},
    {"Trading LLC (HK)", "trading hk"},
    {"Pte. Ltd.", ""},
    {"Coral Holdings Sdn Bhd", "coral"},
    {"Company 42 Inc.", "42"},
    {"Costco", "costco"}, /* "co" only as a whole word */
    {"", ""},
};

static void test_normalize(void **state)
{
	char out[128];

	(void)state;
	for (size_t i = 0; i < sizeof(normalize_cases) / sizeof(normalize_cases[0]); i++) {
		policy_normalize_name(normalize_cases[i].in, out, sizeof(out));
		if (strcmp(out, normalize_cases[i].out) != 0)
			fail_msg("normalize \"%s\": \"%s\", want \"%s\"", normalize_cases[i].in,
				 out, normalize_cases[i].out);
	}
	/* Truncates to the buffer, always terminated. */
	policy_normalize_name("abcdefgh ijk", out, 5);
	assert_string_equal(out, "abcd");
	out[0] = 'x';
	policy_normalize_name("abc", out, 1);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_group_names),
	    cmocka_unit_test(test_country_groups_csv),
	    cmocka_unit_test(test_country_overrides),
	    cmocka_unit_test(test_overrides_outlive_edition),
	    cmocka_unit_test(test_overrides_on_real_file),
	    cmocka_unit_test(test_bad_group_refused),
	    cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_store_iteration),
	    cmocka_unit_test(test_store_copies),
	    cmocka_unit_test(test_roster_notices),
	    cmocka_unit_test(test_license_lookup),
	    cmocka_unit_test(test_models),
	    cmocka_unit_test(test_screen),
	    cmocka_unit_test(test_normalize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
