/*
 * policy_file.c - published policy data files to PolicyLoad (see
 * policy_file.h): reading the file, the loader's helpers and the CSV
 * kinds. What only the screening list needs is in policy_csl.c.
 *
 * The file is read into memory once, so the SHA-256 recorded with the
 * load is the hash of exactly the bytes parsed. Each CSV kind is one
 * declarative table: header name, the .proto field of the row message it
 * fills and how its text becomes a value; one generic routine fills rows
 * through the protobuf-c descriptors. A row is attached to the PolicyLoad
 * as soon as it is allocated, so policy_file_free cleans up after a
 * failure at any point. Everything in the PolicyLoad is malloc'd, except
 * string fields still pointing at protobuf-c's shared empty string.
 */
#include "policy_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "csv.h"
#include "policy_file_internal.h"
#include "validate.h"

#define MAX_COLUMNS 16
#define MS_PER_DAY  86400000LL
#define MAX_TPP	    1e15

/* Writes "name: where: message" into ld->err. */
static void vreport(struct policy_loader *ld, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void vreport(struct policy_loader *ld, const char *fmt, va_list ap)
{
	char what[POLICY_FILE_ERR_MAX];

	vsnprintf(what, sizeof(what), fmt, ap);
	snprintf(ld->err, ld->err_size, "%s: %s%s%s", ld->name, ld->where,
		 ld->where[0] != '\0' ? ": " : "", what);
}

int policy_file_fail(struct policy_loader *ld, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, fmt, ap);
	va_end(ap);
	return CU_ERR_INVALID;
}

int policy_file_fail_rc(struct policy_loader *ld, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, fmt, ap);
	va_end(ap);
	return rc;
}

int policy_file_fail_nomem(struct policy_loader *ld)
{
	return policy_file_fail_rc(ld, CU_ERR_NOMEM, "out of memory");
}

/* ---- memory ---------------------------------------------------------- */

void policy_file_free_str(char *s)
{
	if (s != protobuf_c_empty_string)
		free(s);
}

static void free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* Frees every string field of msg (a row built here) and msg itself. */
static void free_row(void *row)
{
	ProtobufCMessage *msg = row;
	const ProtobufCMessageDescriptor *desc;

	if (msg == NULL)
		return;
	desc = msg->descriptor;
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		char *base = (char *)row;

		if (f->type != PROTOBUF_C_TYPE_STRING)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			free_list(*(char ***)(base + f->offset),
				  *(size_t *)(base + f->quantifier_offset));
		else
			policy_file_free_str(*(char **)(base + f->offset));
	}
	free(row);
}

/* The rows of pl's kind as a generic array (pointer to its fields). */
static void rows_of(Custody__PolicyLoad *pl, void ***rows, size_t **n)
{
	*rows = (void **)&pl->screening;
	*n = &pl->n_screening;
	if (pl->kind == CUSTODY__POLICY_KIND__COUNTRY_GROUPS ||
	    pl->kind == CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES) {
		*rows = (void **)&pl->country_groups;
		*n = &pl->n_country_groups;
	} else if (pl->kind == CUSTODY__POLICY_KIND__MODELS) {
		*rows = (void **)&pl->models;
		*n = &pl->n_models;
	} else if (pl->kind == CUSTODY__POLICY_KIND__ROSTER) {
		*rows = (void **)&pl->roster;
		*n = &pl->n_roster;
	} else if (pl->kind == CUSTODY__POLICY_KIND__LICENSES) {
		*rows = (void **)&pl->licenses;
		*n = &pl->n_licenses;
	}
}

void policy_file_free(Custody__PolicyLoad *pl)
{
	void **field;
	size_t *n;
	void **rows;

	if (pl == NULL)
		return;
	rows_of(pl, &field, &n);
	rows = *(void ***)field;
	for (size_t i = 0; i < *n; i++)
		free_row(rows[i]);
	free(rows);
	policy_file_free_str(pl->source);
	free(pl->source_sha256.data);
	free(pl);
}

/* Appends row (owned by ld->pl from then on, even on failure). */
static int push_row(struct policy_loader *ld, void *row)
{
	void **field;
	size_t *n;

	if (ld->n_rows >= VALIDATE_POLICY_MAX_ROWS) {
		free_row(row);
		return policy_file_fail(ld, "more than %d rows", VALIDATE_POLICY_MAX_ROWS);
	}
	if (ld->n_rows == ld->cap_rows) {
		size_t cap = ld->cap_rows ? ld->cap_rows * 2 : 64;
		void **rows;

		rows = realloc(ld->rows, cap * sizeof(*rows));
		if (rows == NULL) {
			free_row(row);
			return policy_file_fail_nomem(ld);
		}
		ld->rows = rows;
		ld->cap_rows = cap;
	}
	ld->rows[ld->n_rows++] = row;
	rows_of(ld->pl, &field, &n);
	*(void ***)field = ld->rows;
	*n = ld->n_rows;
	return CU_OK;
}

/* ---- text ------------------------------------------------------------ */

bool policy_file_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims s in place (it may be written) and returns its first non-space. */
static char *trim(char *s)
{
	size_t n;

	while (policy_file_is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && policy_file_is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/*
 * Copies the n bytes at s into a new string, trimmed, with each run of
 * tabs and line breaks made one space. *out gets it (caller frees).
 */
int policy_file_clean_copy(struct policy_loader *ld, const char *s, size_t n, char **out)
{
	char *copy = malloc(n + 1);
	size_t len = 0;

	if (copy == NULL)
		return policy_file_fail_nomem(ld);
	for (size_t i = 0; i < n; i++) {
		if (!policy_file_is_space(s[i]))
			copy[len++] = s[i];
		else if (len > 0 && copy[len - 1] != ' ')
			copy[len++] = ' ';
	}
	while (len > 0 && copy[len - 1] == ' ')
		len--;
	copy[len] = '\0';
	*out = copy;
	return CU_OK;
}

/* Sets the string field *dst to a cleaned copy of s. */
int policy_file_set_text(struct policy_loader *ld, char **dst, const char *s)
{
	char *copy = NULL;
	int rc = policy_file_clean_copy(ld, s, strlen(s), &copy);

	if (rc == CU_OK) {
		policy_file_free_str(*dst);
		*dst = copy;
	}
	return rc;
}

/* Appends a cleaned copy of the n bytes at s to a list, unless empty. */
int policy_file_list_add(struct policy_loader *ld, char ***list, size_t *count, const char *s,
			 size_t n)
{
	char *copy = NULL;
	char **grown;
	int rc = policy_file_clean_copy(ld, s, n, &copy);

	if (rc != CU_OK)
		return rc;
	if (copy[0] == '\0') {
		free(copy);
		return CU_OK;
	}
	grown = realloc(*list, (*count + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(copy);
		return policy_file_fail_nomem(ld);
	}
	grown[(*count)++] = copy;
	*list = grown;
	return CU_OK;
}

/* Appends each ';'-separated item of text to a list. */
static int list_split(struct policy_loader *ld, char ***list, size_t *count, const char *text)
{
	int rc = CU_OK;

	while (rc == CU_OK) {
		size_t n = strcspn(text, ";");

		rc = policy_file_list_add(ld, list, count, text, n);
		if (text[n] == '\0')
			break;
		text += n + 1;
	}
	return rc;
}

/* ---- values ---------------------------------------------------------- */

/* A whole number; empty means 0. */
static int parse_count(struct policy_loader *ld, const char *column, const char *text,
		       uint64_t *out)
{
	uint64_t v = 0;

	for (const char *p = text; *p != '\0'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return policy_file_fail(ld, "%s: \"%.32s\" is not a whole number", column,
						text);
		v = v * 10 + d;
	}
	*out = v;
	return CU_OK;
}

/* A decimal number from 0 to MAX_TPP, rounded to the nearest whole. */
static int parse_tpp(struct policy_loader *ld, const char *column, const char *text, uint64_t *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || !(v <= MAX_TPP))
		return policy_file_fail(ld, "%s: \"%.32s\" is not a number from 0 to %.0f", column,
					text, MAX_TPP);
	*out = (uint64_t)(v + 0.5);
	return CU_OK;
}

/*
 * A date or RFC 3339 time. With end_of_day, a bare date means the end of
 * that day (the start of the next), so "valid until 2027-12-31" covers the
 * 31st.
 */
static int parse_when(struct policy_loader *ld, const char *column, const char *text,
		      bool end_of_day, int64_t *ms)
{
	if (strcasecmp(text, "now") == 0 || codec_time_parse(text, ms) != CU_OK)
		return policy_file_fail(ld,
					"%s: \"%.40s\" is not a date (2026-01-31) or time "
					"(2026-01-31T12:00:00Z)",
					column, text);
	if (end_of_day && strlen(text) == 10)
		*ms += MS_PER_DAY;
	return CU_OK;
}

static int parse_yes_no(struct policy_loader *ld, const char *column, const char *text,
			protobuf_c_boolean *out)
{
	if (strcasecmp(text, "yes") == 0 || strcasecmp(text, "true") == 0)
		*out = 1;
	else if (strcasecmp(text, "no") == 0 || strcasecmp(text, "false") == 0)
		*out = 0;
	else
		return policy_file_fail(ld, "%s: \"%.32s\" is not yes or no", column, text);
	return CU_OK;
}

/* site, transfer, or empty (site). */
static int parse_notice(struct policy_loader *ld, const char *column, const char *text, int *out)
{
	if (text[0] == '\0' || strcasecmp(text, "site") == 0)
		*out = CUSTODY__ROSTER_NOTICE__SITE;
	else if (strcasecmp(text, "transfer") == 0)
		*out = CUSTODY__ROSTER_NOTICE__TRANSFER;
	else
		return policy_file_fail(ld, "%s: \"%.32s\" is not site or transfer", column, text);
	return CU_OK;
}

/* ---- rows ------------------------------------------------------------ */

/* How a column's text becomes a field. */
enum value_type {
	V_TEXT,	     /* string */
	V_LIST,	     /* repeated string, ';'-separated */
	V_COUNT,     /* uint64, whole number, empty = 0 */
	V_TPP,	     /* uint64, decimal number rounded */
	V_DATE,	     /* int64 ms; empty = 0 unless the column is required */
	V_DATE_END,  /* the same, a bare date meaning the end of that day */
	V_YES_NO,    /* bool */
	V_NOTICE,    /* RosterNotice */
	V_ADDRESSES, /* screening: countries ending the "; "-separated addresses */
	V_PROGRAMS,  /* screening: programs, rejoined with "; " */
};

/* A CSV column of a kind: header name, the field it fills, how. */
struct column {
	const char *name;
	const char *field; /* .proto field name in the kind's row message */
	enum value_type type;
	bool required;
};

static const struct column group_cols[] = {
    {"group", "group", V_TEXT, true},
    {"iso3166_alpha2", "country", V_TEXT, true},
    {"ear_name", "name", V_TEXT, false},
    {NULL, NULL, V_TEXT, false},
};
static const struct column override_cols[] = {
    {"group", "group", V_TEXT, true},	  {"iso3166_alpha2", "country", V_TEXT, true},
    {"member", "member", V_YES_NO, true}, {"ear_name", "name", V_TEXT, false},
    {NULL, NULL, V_TEXT, false},
};
static const struct column model_cols[] = {
    {"model", "model", V_TEXT, true},
    {"tpp", "tpp", V_TPP, true},
    {"eccn_class", "eccn_class", V_TEXT, true},
    {"vendor", "vendor", V_TEXT, false},
    {NULL, NULL, V_TEXT, false},
};
static const struct column roster_cols[] = {
    {"exporter", "exporter", V_TEXT, true},
    {"facility", "facility", V_TEXT, true},
    {"notified_on", "notified_at_ms", V_DATE, true},
    {"notice", "notice", V_NOTICE, false},
    {NULL, NULL, V_TEXT, false},
};
static const struct column license_cols[] = {
    {"number", "number", V_TEXT, true},
    {"holder", "holder", V_TEXT, true},
    {"destinations", "destinations", V_LIST, true},
    {"eccns", "eccns", V_LIST, true},
    {"max_tpp", "max_tpp", V_COUNT, false},
    {"max_units", "max_units", V_COUNT, false},
    {"valid_from", "valid_from_ms", V_DATE, false},
    {"valid_until", "valid_until_ms", V_DATE_END, false},
    {"consignee", "consignee", V_TEXT, false},
    {NULL, NULL, V_TEXT, false},
};
/* consolidated.csv; its other columns are not needed for screening. */
static const struct column csl_cols[] = {
    {"_id", "id", V_TEXT, true},
    {"source", "source", V_TEXT, true},
    {"entity_number", "entity_number", V_TEXT, false},
    {"type", "type", V_TEXT, false},
    {"name", "name", V_TEXT, true},
    {"alt_names", "alt_names", V_LIST, false},
    {"addresses", "countries", V_ADDRESSES, false},
    {"programs", "programs", V_PROGRAMS, false},
    {NULL, NULL, V_TEXT, false},
};

/* The row message and CSV columns of each kind. */
static const struct kind_format {
	const ProtobufCMessageDescriptor *desc;
	const struct column *cols;
} formats[] = {
    [CUSTODY__POLICY_KIND__COUNTRY_GROUPS] = {&custody__country_group_row__descriptor, group_cols},
    [CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES] = {&custody__country_group_row__descriptor,
						 override_cols},
    [CUSTODY__POLICY_KIND__MODELS] = {&custody__model_row__descriptor, model_cols},
    [CUSTODY__POLICY_KIND__ROSTER] = {&custody__roster_row__descriptor, roster_cols},
    [CUSTODY__POLICY_KIND__LICENSES] = {&custody__license__descriptor, license_cols},
    [CUSTODY__POLICY_KIND__SCREENING] = {&custody__screening_entry__descriptor, csl_cols},
};

/* Allocates an empty row of the load's kind and attaches it. */
int policy_file_new_row(struct policy_loader *ld, void **out)
{
	const ProtobufCMessageDescriptor *desc = formats[ld->pl->kind].desc;
	void *row = malloc(desc->sizeof_message);

	if (row == NULL)
		return policy_file_fail_nomem(ld);
	protobuf_c_message_init(desc, row);
	*out = row;
	return push_row(ld, row);
}

/* Stores the text of column col into its field of row. */
static int set_value(struct policy_loader *ld, void *row, const struct column *col,
		     const char *text)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(formats[ld->pl->kind].desc, col->field);
	char *at = (char *)row + f->offset;

	switch (col->type) {
	case V_TEXT:
		return policy_file_set_text(ld, (char **)at, text);
	case V_LIST:
		return list_split(ld, (char ***)at, (size_t *)((char *)row + f->quantifier_offset),
				  text);
	case V_COUNT:
		return parse_count(ld, col->name, text, (uint64_t *)at);
	case V_TPP:
		return parse_tpp(ld, col->name, text, (uint64_t *)at);
	case V_DATE:
	case V_DATE_END:
		if (text[0] == '\0' && !col->required)
			return CU_OK;
		return parse_when(ld, col->name, text, col->type == V_DATE_END, (int64_t *)at);
	case V_YES_NO:
		return parse_yes_no(ld, col->name, text, (protobuf_c_boolean *)at);
	case V_NOTICE:
		return parse_notice(ld, col->name, text, (int *)at);
	case V_ADDRESSES:
		return policy_csl_add_countries(ld, row, text);
	default:
		return policy_csl_add_programs(ld, row, text);
	}
}

/* Checks a finished row with its validator from validate.h. */
int policy_file_check_row(struct policy_loader *ld, const void *row)
{
	char why[VALIDATE_ERR_MAX];
	int rc;

	switch (ld->pl->kind) {
	case CUSTODY__POLICY_KIND__COUNTRY_GROUPS:
	case CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES:
		rc = validate_country_group_row(row, why, sizeof(why));
		break;
	case CUSTODY__POLICY_KIND__MODELS:
		rc = validate_model_row(row, why, sizeof(why));
		break;
	case CUSTODY__POLICY_KIND__ROSTER:
		rc = validate_roster_row(row, why, sizeof(why));
		break;
	case CUSTODY__POLICY_KIND__LICENSES:
		rc = validate_license(row, why, sizeof(why));
		break;
	default:
		rc = validate_screening_entry(row, why, sizeof(why));
		break;
	}
	return rc == CU_OK ? CU_OK : policy_file_fail(ld, "%s", why);
}

/* ---- CSV ------------------------------------------------------------- */

/*
 * Maps the columns of the kind to their positions in the header (idx[i]
 * = -1 when absent). A missing required column or a repeated one is an
 * error.
 */
static int find_columns(struct policy_loader *ld, const struct column *cols, char **header,
			size_t n, int *idx)
{
	for (size_t c = 0; cols[c].name != NULL; c++) {
		idx[c] = -1;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(trim(header[i]), cols[c].name) != 0)
				continue;
			if (idx[c] >= 0)
				return policy_file_fail(ld, "header: column \"%s\" appears twice",
							cols[c].name);
			idx[c] = (int)i;
		}
		if (idx[c] < 0 && cols[c].required)
			return policy_file_fail(ld, "header: required column \"%s\" is missing",
						cols[c].name);
	}
	return CU_OK;
}

/* Turns one record into one row; idx maps the kind's columns to fields. */
static int csv_row(struct policy_loader *ld, char **fields, const int *idx)
{
	const struct column *cols = formats[ld->pl->kind].cols;
	void *row = NULL;
	int rc = policy_file_new_row(ld, &row);

	for (size_t c = 0; rc == CU_OK && cols[c].name != NULL; c++)
		rc = set_value(ld, row, &cols[c], idx[c] >= 0 ? trim(fields[idx[c]]) : "");
	return rc == CU_OK ? policy_file_check_row(ld, row) : rc;
}

/* Reports a csv_next failure at the current record. */
static int csv_error(struct policy_loader *ld, int rc)
{
	if (rc == CU_ERR_TOO_BIG)
		return policy_file_fail_rc(ld, CU_ERR_TOO_BIG, "record over %u bytes or %d fields",
					   CSV_MAX_RECORD, CSV_MAX_FIELDS);
	if (rc == CU_ERR_NOMEM)
		return policy_file_fail_nomem(ld);
	return policy_file_fail(ld, "malformed CSV (unbalanced or stray quote)");
}

static void at_line(struct policy_loader *ld, const struct csv *csv)
{
	snprintf(ld->where, sizeof(ld->where), "line %d", csv_line(csv));
}

/* Reads the header and turns each following record into a row. */
static int read_csv(struct policy_loader *ld, struct csv *csv)
{
	int idx[MAX_COLUMNS];
	char **fields;
	size_t n, header_n;
	int rc = csv_next(csv, &fields, &n);

	if (rc == CU_ERR_NOT_FOUND)
		return policy_file_fail(ld, "no header row (empty file)");
	at_line(ld, csv);
	if (rc != CU_OK)
		return csv_error(ld, rc);
	if (strncmp(fields[0], POLICY_FILE_UTF8_BOM, 3) == 0)
		memmove(fields[0], fields[0] + 3, strlen(fields[0] + 3) + 1);
	header_n = n;
	rc = find_columns(ld, formats[ld->pl->kind].cols, fields, n, idx);
	while (rc == CU_OK && (rc = csv_next(csv, &fields, &n)) == CU_OK) {
		at_line(ld, csv);
		if (n != header_n)
			return policy_file_fail(ld, "%zu fields, but the header has %zu", n,
						header_n);
		rc = csv_row(ld, fields, idx);
	}
	if (rc == CU_ERR_NOT_FOUND)
		return CU_OK;
	if (ld->err[0] != '\0')
		return rc;
	at_line(ld, csv);
	return csv_error(ld, rc);
}

/* ---- entry points ---------------------------------------------------- */

/* Parses data as kind into ld->pl. */
static int parse_rows(struct policy_loader *ld, const char *data, size_t len)
{
	bool screening = ld->pl->kind == CUSTODY__POLICY_KIND__SCREENING;
	const char *nul;
	struct csv *csv = NULL;
	int rc;

	if (screening && policy_csl_is_json(data, len))
		return policy_csl_read_json(ld, data, len);
	/* The CSV reader would end a field at a NUL byte: refuse them. */
	nul = memchr(data, '\0', len);
	if (nul != NULL) {
		size_t line = 1;

		for (const char *p = data; p < nul; p++)
			line += *p == '\n';
		snprintf(ld->where, sizeof(ld->where), "line %zu", line);
		return policy_file_fail(ld, "NUL byte (not a text file)");
	}
	rc = csv_open_mem(data, len, !screening, &csv);
	if (rc != CU_OK)
		return policy_file_fail_nomem(ld);
	rc = read_csv(ld, csv);
	csv_close(csv);
	return rc;
}

/* Fills source (base name of name) and source_sha256 of pl. */
static int set_source(struct policy_loader *ld, const char *data, size_t len)
{
	const char *base = strrchr(ld->name, '/');
	int rc = policy_file_set_text(ld, &ld->pl->source, base != NULL ? base + 1 : ld->name);

	if (rc != CU_OK)
		return rc;
	ld->pl->source_sha256.data = malloc(crypto_hash_sha256_BYTES);
	if (ld->pl->source_sha256.data == NULL)
		return policy_file_fail_nomem(ld);
	ld->pl->source_sha256.len = crypto_hash_sha256_BYTES;
	crypto_hash_sha256(ld->pl->source_sha256.data, (const unsigned char *)data, len);
	return CU_OK;
}

int policy_file_parse(Custody__PolicyKind kind, const char *name, const char *data, size_t len,
		      Custody__PolicyLoad **out, char *err, size_t err_size)
{
	struct policy_loader ld = {.name = name, .err = err, .err_size = err_size};
	char why[VALIDATE_ERR_MAX];
	int rc;

	err[0] = '\0';
	if (kind < CUSTODY__POLICY_KIND__COUNTRY_GROUPS || kind > CUSTODY__POLICY_KIND__SCREENING)
		return policy_file_fail(&ld, "unknown policy kind %d", (int)kind);
	if (len > POLICY_FILE_MAX_BYTES)
		return policy_file_fail_rc(&ld, CU_ERR_TOO_BIG,
					   "%zu bytes, more than the limit of %u", len,
					   POLICY_FILE_MAX_BYTES);
	ld.pl = malloc(sizeof(*ld.pl));
	if (ld.pl == NULL)
		return policy_file_fail_nomem(&ld);
	custody__policy_load__init(ld.pl);
	ld.pl->kind = kind;
	rc = set_source(&ld, data, len);
	if (rc == CU_OK)
		rc = parse_rows(&ld, data, len);
	ld.where[0] = '\0';
	if (rc == CU_OK && validate_policy_load(ld.pl, why, sizeof(why)) != CU_OK)
		rc = policy_file_fail(&ld, "%s", why);
	if (rc != CU_OK) {
		policy_file_free(ld.pl);
		return rc;
	}
	*out = ld.pl;
	return CU_OK;
}

/* Reads the whole file at path into *data (caller frees) of *len bytes. */
static int read_file(const char *path, char **data, size_t *len, char *err, size_t err_size)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = CU_ERR_IO;

	if (fd < 0) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? CU_ERR_NOT_FOUND : CU_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, err_size, "%s: not a regular file", path);
		goto fail;
	}
	if ((uintmax_t)st.st_size > POLICY_FILE_MAX_BYTES) {
		snprintf(err, err_size, "%s: %jd bytes, more than the limit of %u", path,
			 (intmax_t)st.st_size, POLICY_FILE_MAX_BYTES);
		rc = CU_ERR_TOO_BIG;
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		snprintf(err, err_size, "%s: out of memory", path);
		rc = CU_ERR_NOMEM;
		goto fail;
	}
	/* Exactly the size fstat saw, plus a probe byte to catch a growing file. */
	while (got <= (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (n < 0 || got != (size_t)st.st_size) {
		snprintf(err, err_size, "%s: %s", path,
			 n < 0 ? strerror(errno) : "the file changed while it was read");
		goto fail;
	}
	close(fd);
	*data = buf;
	*len = got;
	return CU_OK;
fail:
	free(buf);
	close(fd);
	return rc;
}

int policy_file_load(Custody__PolicyKind kind, const char *path, Custody__PolicyLoad **out,
		     char *err, size_t err_size)
{
	char *data = NULL;
	size_t len = 0;
	int rc = read_file(path, &data, &len, err, err_size);

	if (rc != CU_OK)
		return rc;
	rc = policy_file_parse(kind, path, data, len, out, err, err_size);
	free(data);
	return rc;
}
