/*
 * policy_csl.c - what only the US Consolidated Screening List needs (see
 * policy_file.h for the formats): its multi-valued fields, shared by the
 * CSV and JSON forms so that both give the same entries, and the reader
 * of consolidated.json.
 *
 * The list is published (trade.gov, "Consolidated Screening List") as
 * consolidated.csv, whose multi-valued columns hold items separated by
 * "; " and whose addresses each end in a country code ("605 Trail Lake
 * Drive, Richardson, TX, 75081, US"), and as consolidated.json, where
 * they are arrays and each address is an object with a country.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy_file.h"
#include "policy_file_internal.h"
#include "validate.h"

#define JSON_DEPTH 32
#define JSON_SLACK (16u << 20) /* memory for a JSON tree beyond 4 x its size */

/* Appends one program (n bytes at s) to e->programs, "; "-joined. */
static int add_program(struct policy_loader *ld, Custody__ScreeningEntry *e, const char *s,
		       size_t n)
{
	size_t old = strlen(e->programs), size;
	char *item = NULL, *joined;
	int rc = policy_file_clean_copy(ld, s, n, &item);

	if (rc != CU_OK || item[0] == '\0') {
		free(item);
		return rc;
	}
	size = old + 2 + strlen(item) + 1;
	joined = malloc(size);
	if (joined == NULL) {
		free(item);
		return policy_file_fail_nomem(ld);
	}
	snprintf(joined, size, "%s%s%s", e->programs, old > 0 ? "; " : "", item);
	free(item);
	policy_file_free_str(e->programs);
	e->programs = joined;
	return CU_OK;
}

/* Adds the country code ending an address (n bytes at s), if valid and new. */
static int add_country(struct policy_loader *ld, Custody__ScreeningEntry *e, const char *s,
		       size_t n)
{
	const char *start = s;
	char code[3];

	for (size_t i = 0; i < n; i++) {
		if (s[i] == ',')
			start = s + i + 1;
	}
	n -= (size_t)(start - s);
	while (n > 0 && policy_file_is_space(*start)) {
		start++;
		n--;
	}
	while (n > 0 && policy_file_is_space(start[n - 1]))
		n--;
	if (n != 2)
		return CU_OK;
	memcpy(code, start, 2);
	code[2] = '\0';
	if (!validate_country(code))
		return CU_OK;
	for (size_t i = 0; i < e->n_countries; i++) {
		if (strcmp(e->countries[i], code) == 0)
			return CU_OK;
	}
	return policy_file_list_add(ld, &e->countries, &e->n_countries, code, 2);
}

static int add_alt_name(struct policy_loader *ld, Custody__ScreeningEntry *e, const char *s,
			size_t n)
{
	return policy_file_list_add(ld, &e->alt_names, &e->n_alt_names, s, n);
}

typedef int (*item_fn)(struct policy_loader *ld, Custody__ScreeningEntry *e, const char *s,
		       size_t n);

/* Calls fn on each ';'-separated item of text. */
static int each_item(struct policy_loader *ld, Custody__ScreeningEntry *e, const char *text,
		     item_fn fn)
{
	int rc = CU_OK;

	while (rc == CU_OK) {
		size_t n = strcspn(text, ";");

		rc = fn(ld, e, text, n);
		if (text[n] == '\0')
			break;
		text += n + 1;
	}
	return rc;
}

int policy_csl_add_countries(struct policy_loader *ld, Custody__ScreeningEntry *e, const char *text)
{
	return each_item(ld, e, text, add_country);
}

int policy_csl_add_programs(struct policy_loader *ld, Custody__ScreeningEntry *e, const char *text)
{
	return each_item(ld, e, text, add_program);
}

/* ---- JSON ------------------------------------------------------------ */

/* Line of the byte at offset of data (for JSON messages). */
static size_t line_at(const char *data, size_t offset)
{
	size_t line = 1;

	for (size_t i = 0; i < offset; i++)
		line += data[i] == '\n';
	return line;
}

/*
 * The text of key in obj: "" when absent or null, a string's value, or
 * with allow_number a number's text. Any other type is an error.
 */
static int json_text(struct policy_loader *ld, const struct json_value *obj, const char *key,
		     bool allow_number, const char **out)
{
	const struct json_value *v = json_get(obj, key);

	*out = "";
	if (v == NULL || v->type == JSON_NULL)
		return CU_OK;
	if (v->type == JSON_STRING || (allow_number && v->type == JSON_NUMBER)) {
		*out = v->u.str;
		return CU_OK;
	}
	return policy_file_fail(ld, "%s: expected a string, got %s", key, json_type_name(v->type));
}

/* Calls fn on each string of the array (or null, or, if allowed, string) at key. */
static int json_each_string(struct policy_loader *ld, Custody__ScreeningEntry *e,
			    const struct json_value *obj, const char *key, bool allow_string,
			    item_fn fn)
{
	const struct json_value *v = json_get(obj, key);
	int rc = CU_OK;

	if (v == NULL || v->type == JSON_NULL)
		return CU_OK;
	if (allow_string && v->type == JSON_STRING)
		return each_item(ld, e, v->u.str, fn);
	if (v->type != JSON_ARRAY)
		return policy_file_fail(ld, "%s: expected an array, got %s", key,
					json_type_name(v->type));
	for (size_t i = 0; i < v->len && rc == CU_OK; i++) {
		if (v->u.items[i].type != JSON_STRING)
			return policy_file_fail(ld, "%s[%zu]: expected a string, got %s", key, i,
						json_type_name(v->u.items[i].type));
		rc = fn(ld, e, v->u.items[i].u.str, v->u.items[i].len);
	}
	return rc;
}

/* The countries of a JSON entry's addresses (objects, or address strings). */
static int json_countries(struct policy_loader *ld, Custody__ScreeningEntry *e,
			  const struct json_value *obj)
{
	const struct json_value *v = json_get(obj, "addresses");
	const char *country = NULL;
	int rc = CU_OK;

	if (v == NULL || v->type == JSON_NULL)
		return CU_OK;
	if (v->type != JSON_ARRAY)
		return policy_file_fail(ld, "addresses: expected an array, got %s",
					json_type_name(v->type));
	for (size_t i = 0; i < v->len && rc == CU_OK; i++) {
		const struct json_value *a = &v->u.items[i];

		if (a->type == JSON_STRING) {
			rc = add_country(ld, e, a->u.str, a->len);
			continue;
		}
		if (a->type != JSON_OBJECT)
			return policy_file_fail(ld, "addresses[%zu]: expected an object, got %s", i,
						json_type_name(a->type));
		rc = json_text(ld, a, "country", false, &country);
		if (rc == CU_OK)
			rc = add_country(ld, e, country, strlen(country));
	}
	return rc;
}

/* The single-valued fields of a JSON entry; ids may be numbers. */
static int json_texts(struct policy_loader *ld, Custody__ScreeningEntry *e,
		      const struct json_value *obj)
{
	const struct {
		const char *key;
		char **field;
		bool number;
	} texts[] = {
	    {json_get(obj, "id") != NULL ? "id" : "_id", &e->id, true},
	    {"source", &e->source, false},
	    {"entity_number", &e->entity_number, true},
	    {"type", &e->type, false},
	    {"name", &e->name, false},
	};
	const char *text = NULL;
	int rc = CU_OK;

	for (size_t i = 0; rc == CU_OK && i < sizeof(texts) / sizeof(texts[0]); i++) {
		rc = json_text(ld, obj, texts[i].key, texts[i].number, &text);
		if (rc == CU_OK)
			rc = policy_file_set_text(ld, texts[i].field, text);
	}
	return rc;
}

/* One element of results. */
static int csl_json_entry(struct policy_loader *ld, const struct json_value *obj)
{
	Custody__ScreeningEntry *e = NULL;
	int rc;

	if (obj->type != JSON_OBJECT)
		return policy_file_fail(ld, "expected an object, got %s",
					json_type_name(obj->type));
	rc = policy_file_new_row(ld, (void **)&e);
	if (rc == CU_OK)
		rc = json_texts(ld, e, obj);
	if (rc == CU_OK)
		rc = json_each_string(ld, e, obj, "alt_names", false, add_alt_name);
	if (rc == CU_OK)
		rc = json_countries(ld, e, obj);
	if (rc == CU_OK)
		rc = json_each_string(ld, e, obj, "programs", true, add_program);
	return rc == CU_OK ? policy_file_check_row(ld, e) : rc;
}

/* consolidated.json: {"results": [...], ...} or a bare array of entries. */
int policy_csl_read_json(struct policy_loader *ld, const char *data, size_t len)
{
	struct json_limits lim = {POLICY_FILE_MAX_BYTES, 4 * len + JSON_SLACK, JSON_DEPTH};
	const struct json_value *results;
	struct json_doc *doc = NULL;
	char why[POLICY_FILE_ERR_MAX];
	int rc = json_parse(data, len, &lim, &doc, why, sizeof(why));

	if (rc != CU_OK)
		return policy_file_fail_rc(ld, rc, "JSON %s", why);
	results = json_root(doc);
	if (results->type == JSON_OBJECT)
		results = json_get(results, "results");
	if (results == NULL || results->type != JSON_ARRAY) {
		json_free(doc);
		return policy_file_fail(ld, "expected a \"results\" array or an array of entries");
	}
	for (size_t i = 0; i < results->len && rc == CU_OK; i++) {
		snprintf(ld->where, sizeof(ld->where), "results[%zu] (line %zu)", i,
			 line_at(data, results->u.items[i].offset));
		rc = csl_json_entry(ld, &results->u.items[i]);
	}
	json_free(doc);
	return rc;
}

/* Whether the first byte past a BOM and spaces opens a JSON value. */
bool policy_csl_is_json(const char *data, size_t len)
{
	size_t i = len >= 3 && memcmp(data, POLICY_FILE_UTF8_BOM, 3) == 0 ? 3 : 0;

	while (i < len && policy_file_is_space(data[i]))
		i++;
	return i < len && (data[i] == '{' || data[i] == '[');
}
