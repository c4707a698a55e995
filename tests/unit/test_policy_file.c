/* Unit tests for proto/policy_file.c and proto/policy_csl.c: every kind
 * read from the project's data files and tests/data fixtures, the
 * Consolidated Screening List's CSV and JSON forms giving the same load
 * with all 13 source lists, and a table of bad files whose errors must
 * name the file, the line (or entry) and the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec.h"
#include "policy_file.h"
#include "validate.h"

static char root[512];

/* Path of a file under the source tree (static buffer). */
static const char *src_path(const char *rel)
{
	static char path[1024];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return path;
}

static Custody__PolicyLoad *load_ok(Custody__PolicyKind kind, const char *rel)
{
	Custody__PolicyLoad *pl = NULL;
	char err[POLICY_FILE_ERR_MAX] = "";

	if (policy_file_load(kind, src_path(rel), &pl, err, sizeof(err)) != CU_OK)
		fail_msg("%s: %s", rel, err);
	assert_int_equal(pl->kind, kind);
	assert_int_equal(pl->effective_from_ms, 0);
	assert_int_equal(pl->source_sha256.len, 32);
	assert_int_equal(validate_policy_load(pl, err, sizeof(err)), CU_OK);
	return pl;
}

static int64_t ms(const char *text)
{
	int64_t v = 0;

	assert_int_equal(codec_time_parse(text, &v), CU_OK);
	return v;
}

static void test_country_groups(void **state)
{
	Custody__PolicyLoad *pl =
	    load_ok(CUSTODY__POLICY_KIND__COUNTRY_GROUPS, "deploy/policy/country_groups.csv");
	uint8_t want[32];
	FILE *f = fopen(src_path("deploy/policy/country_groups.csv"), "rb");
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf), f);
	size_t d5 = 0;

	(void)state;
	fclose(f);
	crypto_hash_sha256(want, (const unsigned char *)buf, n);
	assert_memory_equal(pl->source_sha256.data, want, 32);
	assert_string_equal(pl->source, "country_groups.csv");
	assert_int_equal(pl->n_country_groups, 343);
	assert_string_equal(pl->country_groups[0]->group, "A:1");
	assert_string_equal(pl->country_groups[0]->country, "AR");
	assert_string_equal(pl->country_groups[0]->name, "Argentina");
	for (size_t i = 0; i < pl->n_country_groups; i++)
		d5 += strcmp(pl->country_groups[i]->group, "D:5") == 0;
	assert_true(d5 > 20);
	assert_int_equal(pl->n_models + pl->n_roster + pl->n_licenses + pl->n_screening, 0);
	policy_file_free(pl);
	policy_file_free(NULL);
}

static void test_overrides(void **state)
{
	Custody__PolicyLoad *pl =
	    load_ok(CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES, "tests/data/policy/overrides.csv");

	(void)state;
	assert_int_equal(pl->n_country_groups, 4);
	assert_string_equal(pl->country_groups[0]->group, "D:5");
	assert_string_equal(pl->country_groups[0]->country, "KH");
	assert_false(pl->country_groups[0]->member);
	assert_true(pl->country_groups[1]->member);
	assert_true(pl->country_groups[2]->member); /* TRUE */
	assert_string_equal(pl->country_groups[3]->country, "AE");
	assert_false(pl->country_groups[3]->member);
	assert_string_equal(pl->country_groups[3]->name, "");
	policy_file_free(pl);
}

static void test_models(void **state)
{
	Custody__PolicyLoad *pl =
	    load_ok(CUSTODY__POLICY_KIND__MODELS, "deploy/policy/accelerators.csv");
	const Custody__ModelRow *h100 = NULL, *h20 = NULL;

	(void)state;
	assert_int_equal(pl->n_models, 18);
	for (size_t i = 0; i < pl->n_models; i++) {
		if (strcmp(pl->models[i]->model, "H100-SXM") == 0)
			h100 = pl->models[i];
		if (strcmp(pl->models[i]->model, "H20") == 0)
			h20 = pl->models[i];
	}
	assert_non_null(h100);
	assert_int_equal(h100->tpp, 15832);
	assert_string_equal(h100->eccn_class, "3A090.a");
	assert_string_equal(h100->vendor, "NVIDIA");
	assert_non_null(h20);
	assert_int_equal(h20->tpp, 2368);
	assert_string_equal(h20->eccn_class, "none");
	policy_file_free(pl);
}

static void test_roster(void **state)
{
	Custody__PolicyLoad *pl =
	    load_ok(CUSTODY__POLICY_KIND__ROSTER, "tests/data/policy/roster.csv");
	Custody__RosterRow **r = pl->roster;

	(void)state;
	assert_int_equal(pl->n_roster, 5);
	assert_string_equal(r[0]->exporter, "acme");
	assert_string_equal(r[0]->facility, "jp-tok-1");
	assert_int_equal(r[0]->notified_at_ms, ms("2026-01-31"));
	assert_int_equal(r[0]->notice, CUSTODY__ROSTER_NOTICE__SITE);
	assert_int_equal(r[1]->notice, CUSTODY__ROSTER_NOTICE__TRANSFER);
	assert_int_equal(r[1]->notified_at_ms, ms("2026-03-01T00:00:00Z"));
	assert_int_equal(r[2]->notified_at_ms, ms("2025-11-15T08:30:00Z"));
	assert_int_equal(r[2]->notice, CUSTODY__ROSTER_NOTICE__SITE);
	assert_string_equal(r[3]->facility, "");
	assert_int_equal(r[3]->notice, CUSTODY__ROSTER_NOTICE__SITE);
	assert_string_equal(r[4]->exporter, "hyperion");
	policy_file_free(pl);
}

static void test_licenses(void **state)
{
	Custody__PolicyLoad *pl =
	    load_ok(CUSTODY__POLICY_KIND__LICENSES, "tests/data/policy/licenses.csv");
	Custody__License **l = pl->licenses;

	(void)state;
	assert_int_equal(pl->n_licenses, 3);
	assert_string_equal(l[0]->number, "D1234567");
	assert_string_equal(l[0]->holder, "acme");
	assert_int_equal(l[0]->n_destinations, 2);
	assert_string_equal(l[0]->destinations[1], "SA");
	assert_int_equal(l[0]->n_eccns, 2);
	assert_string_equal(l[0]->eccns[1], "4A090.a");
	assert_int_equal(l[0]->max_tpp, 100000000);
	assert_int_equal(l[0]->max_units, 5000);
	assert_int_equal(l[0]->valid_from_ms, ms("2026-01-01"));
	/* A bare valid_until date covers that whole day. */
	assert_int_equal(l[0]->valid_until_ms, ms("2027-01-01"));
	assert_string_equal(l[0]->consignee, "acme-ae");
	assert_string_equal(l[1]->number, "BIS/2026/0042");
	assert_int_equal(l[1]->n_destinations, 3);
	assert_string_equal(l[1]->destinations[1], "BD");
	assert_string_equal(l[1]->destinations[2], "LK");
	assert_int_equal(l[1]->max_tpp, 0);
	assert_int_equal(l[1]->valid_until_ms, 0);
	assert_string_equal(l[1]->consignee, "");
	assert_int_equal(l[2]->n_eccns, 4);
	assert_int_equal(l[2]->valid_from_ms, 0);
	assert_int_equal(l[2]->valid_until_ms, ms("2027-06-30T12:00:00Z"));
	policy_file_free(pl);
}

static const Custody__ScreeningEntry *find_entry(const Custody__PolicyLoad *pl, const char *name)
{
	for (size_t i = 0; i < pl->n_screening; i++) {
		if (strcmp(pl->screening[i]->name, name) == 0)
			return pl->screening[i];
	}
	fail_msg("no screening entry named %s", name);
	return NULL;
}

static void assert_list(char **list, size_t n, const char *const *want)
{
	size_t i = 0;

	for (; want[i] != NULL; i++) {
		assert_true(i < n);
		assert_string_equal(list[i], want[i]);
	}
	assert_int_equal(n, i);
}

/* The entries the integration tests rely on, and the tricky ones. */
static void check_csl_entries(const Custody__PolicyLoad *pl)
{
	const Custody__ScreeningEntry *e = find_entry(pl, "Shadow Compute Trading Ltd");

	assert_list(e->alt_names, e->n_alt_names,
		    (const char *const[]){"Shadow Compute HK", "SCT Ltd", NULL});
	assert_list(e->countries, e->n_countries, (const char *const[]){"HK", NULL});
	assert_string_equal(e->source, "Entity List (EL) - Bureau of Industry and Security");
	assert_string_equal(e->type, "");
	e = find_entry(pl, "Red Harbor Logistics Co.");
	assert_list(e->alt_names, e->n_alt_names,
		    (const char *const[]){"Red Harbour Logistics", NULL});
	assert_list(e->countries, e->n_countries, (const char *const[]){"AE", "IR", NULL});
	assert_string_equal(e->programs, "IRAN-EO13846; SDGT");
	assert_string_equal(e->id, "61201");
	assert_string_equal(e->entity_number, "61201");
	assert_string_equal(e->type, "Entity");
	assert_string_equal(e->source,
			    "Specially Designated Nationals (SDN) - Treasury Department");
	e = find_entry(pl, "Orion \"Nova\" Avionics, LLC");
	assert_int_equal(e->n_alt_names, 3);
	assert_string_equal(e->alt_names[2],
			    "\xd0\x9e\xd0\x9e\xd0\x9e \xd0\x9e\xd1\x80\xd0\xb8\xd0\xbe\xd0\xbd-"
			    "\xd0\x9d\xd0\xbe\xd0\xb2\xd0\xb0");
	e = find_entry(pl, "Jade Meridian Microelectronics Co., Ltd.");
	assert_list(e->countries, e->n_countries, (const char *const[]){"CN", "HK", "SG", NULL});
	e = find_entry(pl, "Lumen Arc Data Services Co., Ltd.");
	assert_list(e->countries, e->n_countries, (const char *const[]){"CN", NULL});
	e = find_entry(pl, "Caspian Precision Machinery Company; and any successor, sub-unit, or "
			   "subsidiary thereof");
	assert_int_equal(e->n_countries, 0);
	assert_int_equal(e->n_alt_names, 0);
	assert_string_equal(e->programs, "INKSNA");
	e = find_entry(pl, "OCEAN LANTERN");
	assert_string_equal(e->type, "Vessel");
	assert_int_equal(e->n_countries, 0);
}

static const char *const csl_sources[] = {
    "Entity List (EL) - Bureau of Industry and Security",
    "Denied Persons List (DPL) - Bureau of Industry and Security",
    "Unverified List (UVL) - Bureau of Industry and Security",
    "Military End User (MEU) List - Bureau of Industry and Security",
    "Nonproliferation Sanctions (ISN) - State Department",
    "ITAR Debarred (DTC) - State Department",
    "Specially Designated Nationals (SDN) - Treasury Department",
    "Foreign Sanctions Evaders (FSE) - Treasury Department",
    "Sectoral Sanctions Identifications List (SSI) - Treasury Department",
    "Palestinian Legislative Council List (PLC) - Treasury Department",
    "Capta List (CAP) - Treasury Department",
    "Non-SDN Menu-Based Sanctions List (NS-MBS List) - Treasury Department",
    "Non-SDN Chinese Military-Industrial Complex Companies List (CMIC) - Treasury Department",
};

/* Packs pl without its source and hash, which differ between the files. */
static uint8_t *pack_rows(Custody__PolicyLoad *pl, size_t *len)
{
	char *source = pl->source;
	ProtobufCBinaryData sha = pl->source_sha256;
	uint8_t *buf;

	pl->source = "";
	pl->source_sha256.len = 0;
	pl->source_sha256.data = NULL;
	*len = custody__policy_load__get_packed_size(pl);
	buf = malloc(*len);
	custody__policy_load__pack(pl, buf);
	pl->source = source;
	pl->source_sha256 = sha;
	return buf;
}

static void test_csl_csv_and_json(void **state)
{
	Custody__PolicyLoad *csv =
	    load_ok(CUSTODY__POLICY_KIND__SCREENING, "tests/data/csl/consolidated.csv");
	Custody__PolicyLoad *json =
	    load_ok(CUSTODY__POLICY_KIND__SCREENING, "tests/data/csl/consolidated.json");
	size_t csv_len = 0, json_len = 0;
	uint8_t *a, *b;

	(void)state;
	assert_string_equal(csv->source, "consolidated.csv");
	assert_string_equal(json->source, "consolidated.json");
	assert_int_equal(csv->n_screening, 24);
	assert_int_equal(json->n_screening, 24);
	for (size_t i = 0; i < sizeof(csl_sources) / sizeof(csl_sources[0]); i++) {
		size_t seen = 0;

		for (size_t j = 0; j < csv->n_screening; j++)
			seen += strcmp(csv->screening[j]->source, csl_sources[i]) == 0;
		if (seen == 0)
			fail_msg("no entry from %s", csl_sources[i]);
	}
	for (size_t j = 0; j < csv->n_screening; j++) {
		size_t known = 0;

		for (size_t i = 0; i < sizeof(csl_sources) / sizeof(csl_sources[0]); i++)
			known += strcmp(csv->screening[j]->source, csl_sources[i]) == 0;
		assert_int_equal(known, 1);
	}
	check_csl_entries(csv);
	check_csl_entries(json);
	/* Same entries in the same order: the packed loads are identical. */
	a = pack_rows(csv, &csv_len);
	b = pack_rows(json, &json_len);
	assert_int_equal(csv_len, json_len);
	assert_memory_equal(a, b, csv_len);
	assert_memory_not_equal(csv->source_sha256.data, json->source_sha256.data, 32);
	free(a);
	free(b);
	policy_file_free(csv);
	policy_file_free(json);
}

struct bad_case {
	Custody__PolicyKind kind;
	const char *text;
	const char *want; /* must appear in the message */
};

#define GROUPS	  CUSTODY__POLICY_KIND__COUNTRY_GROUPS
#define OVERRIDES CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES
#define MODELS	  CUSTODY__POLICY_KIND__MODELS
#define ROSTER	  CUSTODY__POLICY_KIND__ROSTER
#define LICENSES  CUSTODY__POLICY_KIND__LICENSES
#define SCREENING CUSTODY__POLICY_KIND__SCREENING

#define LIC_HEADER "number,holder,destinations,eccns,valid_from,valid_until\n"
#define CSL_HEADER "_id,source,name,alt_names,addresses\n"

static const struct bad_case bad_cases[] = {
    {GROUPS, "", "dir/bad.csv: no header row (empty file)"},
    {GROUPS, "group,country\nA:1,AR\n",
     "bad.csv: line 1: header: required column \"iso3166_alpha2\" is missing"},
    {GROUPS, "group,iso3166_alpha2,group\n", "header: column \"group\" appears twice"},
    {GROUPS, "group,iso3166_alpha2\n", "bad.csv: country_groups: a COUNTRY_GROUPS load needs"},
    {GROUPS, "group,iso3166_alpha2\nA:1,AR\n\nZ:9,FR\n", "bad.csv: line 4: group: \"Z:9\""},
    {GROUPS, "group,iso3166_alpha2\nA:1,ar\n", "bad.csv: line 2: country: \"ar\""},
    {GROUPS, "group,iso3166_alpha2\nA:1,AR\nA:1,AR\n",
     "bad.csv: country_groups: AR in A:1 appears more than once"},
    {GROUPS, "group,iso3166_alpha2\nA:1,AR,extra\n",
     "bad.csv: line 2: 3 fields, but the header has 2"},
    {GROUPS, "group,iso3166_alpha2,ear_name\n\"A:1\",AR,\"Argen\ntina\"\nA:1,FR,\"x\n",
     "bad.csv: line 4: malformed CSV"},
    {GROUPS, "group,iso3166_alpha2,ear_name\nA:1,AR,\"Argen\ntina\"\nA:1,F1,x\n",
     "bad.csv: line 4: country"},
    {OVERRIDES, "group,iso3166_alpha2\nD:5,KH\n", "required column \"member\""},
    {OVERRIDES, "group,iso3166_alpha2,member\nD:5,KH,maybe\n",
     "bad.csv: line 2: member: \"maybe\" is not yes or no"},
    {MODELS, "model,tpp,eccn_class\nX1,fast,3A090.a\n", "bad.csv: line 2: tpp: \"fast\""},
    {MODELS, "model,tpp,eccn_class\nX1,-5,3A090.a\n", "line 2: tpp: \"-5\""},
    {MODELS, "model,tpp,eccn_class\nX1,0,3A090.a\n", "line 2: tpp: must be above 0"},
    {MODELS, "model,tpp,eccn_class\nX1,100,3A090.c\n", "line 2: eccn_class: \"3A090.c\""},
    {MODELS, "model,tpp,eccn_class\n,100,none\n", "line 2: model:"},
    {MODELS, "model,tpp,eccn_class\nX1,1,none\nX1,2,none\n", "models: X1 appears more than once"},
    {ROSTER, "exporter,facility,notified_on\nacme,jp-1,now\n",
     "bad.csv: line 2: notified_on: \"now\" is not a date"},
    {ROSTER, "exporter,facility,notified_on\nacme,jp-1,\n", "line 2: notified_on: \"\""},
    {ROSTER, "exporter,facility,notified_on\nacme,jp-1,31/01/2026\n", "notified_on"},
    {ROSTER, "exporter,facility,notified_on,notice\nacme,jp-1,2026-01-31,remote\n",
     "line 2: notice: \"remote\" is not site or transfer"},
    {ROSTER, "exporter,facility,notified_on\nhas space,jp-1,2026-01-31\n", "line 2: exporter"},
    {ROSTER, "exporter,facility,notified_on\nacme,jp 1,2026-01-31\n", "line 2: facility"},
    {ROSTER,
     "exporter,facility,notified_on,notice\nacme,jp-1,2026-01-31,site\nacme,jp-1,2026-02-01,\n",
     "roster: acme, facility \"jp-1\", notice SITE appears more than once"},
    {LICENSES, LIC_HEADER "L1,acme,,3A090.a,,\n", "line 2: destinations: 1 to 300"},
    {LICENSES, LIC_HEADER "L1,acme,JP;XX1,3A090.a,,\n", "line 2: destinations[1]: \"XX1\""},
    {LICENSES, LIC_HEADER "L1,acme,JP;JP,3A090.a,,\n", "destinations: JP listed twice"},
    {LICENSES, LIC_HEADER "L1,acme,JP,5A002,,\n", "line 2: eccns[0]: \"5A002\""},
    {LICENSES, LIC_HEADER "L1,acme,JP,,,\n", "line 2: eccns: at least one"},
    {LICENSES, LIC_HEADER "L1,acme,JP,3A090.a,2026-05-01,2026-04-30\n", "line 2: valid_until"},
    {LICENSES, LIC_HEADER "L 1,acme,JP,3A090.a,,\n", "line 2: number: \"L 1\""},
    {LICENSES, "number,holder,destinations,eccns,max_units\nL1,acme,JP,3A090.a,-1\n",
     "line 2: max_units: \"-1\" is not a whole number"},
    {LICENSES,
     "number,holder,destinations,eccns,max_tpp\nL1,acme,JP,3A090.a,99999999999999999999\n",
     "max_tpp"},
    {LICENSES, LIC_HEADER "L1,acme,JP,3A090.a,,\nL1,acme,KR,3A090.a,,\n",
     "licenses: number L1 appears more than once"},
    {SCREENING, "source,name\nEL,X\n", "required column \"_id\""},
    {SCREENING, CSL_HEADER "1,EL,,,\n", "line 2: name: required"},
    {SCREENING, CSL_HEADER "1,EL,A,,\n1,SDN,B,,\n", "screening: id 1 appears more than once"},
    {SCREENING, CSL_HEADER "1,EL,\"A\",\"x\"y\",\n", "line 2: malformed CSV"},
    {SCREENING, "{\"results\": {}}", "bad.csv: expected a \"results\" array"},
    {SCREENING, "{\"results\": [}", "bad.csv: JSON byte 13 (line 1, column 14)"},
    {SCREENING, "[1]", "bad.csv: results[0] (line 1): expected an object, got number"},
    {SCREENING,
     "{\"results\": [\n{\"id\": \"1\", \"name\": \"A\"},\n{\"id\": \"2\", \"name\": 5}]}",
     "bad.csv: results[1] (line 3): name: expected a string, got number"},
    {SCREENING, "[{\"id\": \"1\", \"name\": \"A\", \"alt_names\": \"B\"}]",
     "results[0] (line 1): alt_names: expected an array, got string"},
    {SCREENING, "[{\"id\": \"1\", \"name\": \"A\", \"addresses\": [7]}]",
     "addresses[0]: expected an object, got number"},
    {SCREENING, "[{\"id\": \"1\", \"name\": \"A\", \"alt_names\": [\"B\", null]}]",
     "alt_names[1]: expected a string, got null"},
    {SCREENING, "[{\"name\": \"A\"}]", "results[0] (line 1): id: 1-128 bytes"},
    {SCREENING, "[{\"id\": \"1\", \"name\": \"A\"}, {\"id\": \"1\", \"name\": \"B\"}]",
     "screening: id 1 appears more than once"},
    {SCREENING, "[{\"id\": \"1\", \"name\": \"A\\u0007B\"}]", "results[0] (line 1): name:"},
};

static void test_bad_files(void **state)
{
	char err[POLICY_FILE_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		Custody__PolicyLoad *pl = NULL;
		const char *text = bad_cases[i].text;
		int rc = policy_file_parse(bad_cases[i].kind, "dir/bad.csv", text, strlen(text),
					   &pl, err, sizeof(err));

		if (rc == CU_OK)
			fail_msg("case %zu accepted", i);
		assert_null(pl);
		if (strstr(err, bad_cases[i].want) == NULL)
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err, bad_cases[i].want);
	}
}

/* Builds a one-entry JSON list whose name is name_len bytes and alt_names n_alt. */
static char *big_entry(size_t name_len, size_t n_alt)
{
	size_t cap = name_len + n_alt * 16 + 128, used;
	char *s = malloc(cap);

	used = (size_t)snprintf(s, cap, "[{\"id\": \"1\", \"name\": \"");
	memset(s + used, 'N', name_len);
	used += name_len;
	used += (size_t)snprintf(s + used, cap - used, "\", \"alt_names\": [");
	for (size_t i = 0; i < n_alt; i++)
		used += (size_t)snprintf(s + used, cap - used, "%s\"alias %zu\"", i ? ", " : "", i);
	snprintf(s + used, cap - used, "]}]");
	return s;
}

static void test_screening_limits(void **state)
{
	Custody__PolicyLoad *pl = NULL;
	char err[POLICY_FILE_ERR_MAX];
	char *text = big_entry(1024, 64);

	(void)state;
	assert_int_equal(
	    policy_file_parse(SCREENING, "c.json", text, strlen(text), &pl, err, sizeof(err)),
	    CU_OK);
	assert_int_equal(strlen(pl->screening[0]->name), 1024);
	assert_int_equal(pl->screening[0]->n_alt_names, 64);
	policy_file_free(pl);
	free(text);
	text = big_entry(1025, 0);
	assert_int_equal(
	    policy_file_parse(SCREENING, "c.json", text, strlen(text), &pl, err, sizeof(err)),
	    CU_ERR_INVALID);
	assert_non_null(strstr(err, "c.json: results[0] (line 1): name: 1025 bytes, not 1-1024"));
	free(text);
	text = big_entry(10, 65);
	assert_int_equal(
	    policy_file_parse(SCREENING, "c.json", text, strlen(text), &pl, err, sizeof(err)),
	    CU_ERR_INVALID);
	assert_non_null(strstr(err, "alt_names: 65 names, at most 64"));
	free(text);
}

/* Line breaks and tabs inside screening text become single spaces. */
static void test_screening_normalizes(void **state)
{
	const char *text = "\xef\xbb\xbf_id,source,name,alt_names,addresses,programs\r\n"
			   "7,\"Entity List (EL) - Bureau of Industry and Security\","
			   "\"  Multi\r\n  Line\tName \",\" A ;; B;\",\"x, y, Nowhere; Town, gb; "
			   "Street, DE; Other, DE\",\"EAR;  ; SDGT\"\r\n";
	Custody__PolicyLoad *pl = NULL;
	char err[POLICY_FILE_ERR_MAX];
	const Custody__ScreeningEntry *e;

	(void)state;
	assert_int_equal(
	    policy_file_parse(SCREENING, "s.csv", text, strlen(text), &pl, err, sizeof(err)),
	    CU_OK);
	e = pl->screening[0];
	assert_string_equal(e->name, "Multi Line Name");
	assert_list(e->alt_names, e->n_alt_names, (const char *const[]){"A", "B", NULL});
	assert_list(e->countries, e->n_countries, (const char *const[]){"DE", NULL});
	assert_string_equal(e->programs, "EAR; SDGT");
	policy_file_free(pl);
}

/* A NUL byte would cut a CSV field short without a word: refused. */
static void test_nul_byte(void **state)
{
	static const char text[] = "group,iso3166_alpha2\nA:1,AR\nA:1,F\0R\n";
	Custody__PolicyLoad *pl = NULL;
	char err[POLICY_FILE_ERR_MAX];

	(void)state;
	assert_int_equal(
	    policy_file_parse(GROUPS, "g.csv", text, sizeof(text) - 1, &pl, err, sizeof(err)),
	    CU_ERR_INVALID);
	assert_string_equal(err, "g.csv: line 3: NUL byte (not a text file)");
}

/* The row limit holds while reading, not only when the load is checked. */
static void test_row_limit(void **state)
{
	size_t rows = VALIDATE_POLICY_MAX_ROWS + 1, cap = 16 + rows * 14;
	char *text = malloc(cap);
	size_t used = (size_t)snprintf(text, cap, "_id,source,name\n");
	Custody__PolicyLoad *pl = NULL;
	char err[POLICY_FILE_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < rows; i++)
		used += (size_t)snprintf(text + used, cap - used, "%zu,S,N%zu\n", i, i % 10);
	assert_int_equal(policy_file_parse(SCREENING, "big.csv", text, used, &pl, err, sizeof(err)),
			 CU_ERR_INVALID);
	assert_string_equal(err, "big.csv: line 200002: more than 200000 rows");
	free(text);
}

static void test_file_errors(void **state)
{
	Custody__PolicyLoad *pl = NULL;
	char err[POLICY_FILE_ERR_MAX];

	(void)state;
	assert_int_equal(policy_file_load(GROUPS, "/nonexistent/groups.csv", &pl, err, sizeof(err)),
			 CU_ERR_NOT_FOUND);
	assert_non_null(strstr(err, "/nonexistent/groups.csv"));
	assert_int_equal(policy_file_load(GROUPS, root, &pl, err, sizeof(err)), CU_ERR_IO);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(policy_file_parse(0, "x.csv", "a\n", 2, &pl, err, sizeof(err)),
			 CU_ERR_INVALID);
	assert_non_null(strstr(err, "unknown policy kind"));
	assert_null(pl);
}

int main(void)
{
	const char *env = getenv("CUSTODY_SOURCE_ROOT");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_country_groups),
	    cmocka_unit_test(test_overrides),
	    cmocka_unit_test(test_models),
	    cmocka_unit_test(test_roster),
	    cmocka_unit_test(test_licenses),
	    cmocka_unit_test(test_csl_csv_and_json),
	    cmocka_unit_test(test_bad_files),
	    cmocka_unit_test(test_screening_limits),
	    cmocka_unit_test(test_screening_normalizes),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_nul_byte),
	    cmocka_unit_test(test_row_limit),
	};

	snprintf(root, sizeof(root), "%s", env != NULL ? env : ".");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
