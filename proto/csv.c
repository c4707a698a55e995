/*
 * csv.c - RFC 4180 reader (see csv.h). A small state machine over getc:
 * field start, unquoted, quoted, quote-in-quoted.
 */
#include "csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct csv {
	FILE *f;
	int skip_comments;
	int line;	 /* current physical line */
	int record_line; /* line where the last record started */
	char *buf;	 /* field bytes, NUL-separated */
	size_t len, cap;
	size_t starts[CSV_MAX_FIELDS];
	char *fields[CSV_MAX_FIELDS];
};

int csv_open(const char *path, int skip_comments, struct csv **out)
{
	struct csv *csv = calloc(1, sizeof(*csv));

	if (csv == NULL)
		return CU_ERR_NOMEM;
	csv->f = fopen(path, "r");
	if (csv->f == NULL) {
		int rc = errno == ENOENT ? CU_ERR_NOT_FOUND : CU_ERR_IO;

		free(csv);
		return rc;
	}
	csv->skip_comments = skip_comments;
	csv->line = 1;
	*out = csv;
	return CU_OK;
}

int csv_open_mem(const char *data, size_t len, int skip_comments, struct csv **out)
{
	struct csv *csv;

	/* fmemopen of zero bytes fails on some libcs; an empty text is no data. */
	if (len == 0) {
		data = "\n";
		len = 1;
	}
	csv = calloc(1, sizeof(*csv));
	if (csv == NULL)
		return CU_ERR_NOMEM;
	csv->f = fmemopen((void *)data, len, "r");
	if (csv->f == NULL) {
		free(csv);
		return CU_ERR_NOMEM;
	}
	csv->skip_comments = skip_comments;
	csv->line = 1;
	*out = csv;
	return CU_OK;
}

void csv_close(struct csv *csv)
{
	if (csv == NULL)
		return;
	fclose(csv->f);
	free(csv->buf);
	free(csv);
}

int csv_line(const struct csv *csv)
{
	return csv->record_line;
}

static int put_byte(struct csv *csv, char c)
{
	if (csv->len + 1 >= csv->cap) {
		size_t cap = csv->cap ? csv->cap * 2 : 256;
		char *buf;

		if (cap > CSV_MAX_RECORD)
			return CU_ERR_TOO_BIG;
		buf = realloc(csv->buf, cap);
		if (buf == NULL)
			return CU_ERR_NOMEM;
		csv->buf = buf;
		csv->cap = cap;
	}
	csv->buf[csv->len++] = c;
	return CU_OK;
}

/* Ends the current field; *count is the number of fields so far. */
static int end_field(struct csv *csv, size_t *count)
{
	if (*count >= CSV_MAX_FIELDS)
		return CU_ERR_TOO_BIG;
	if (put_byte(csv, '\0') != CU_OK)
		return CU_ERR_NOMEM;
	(*count)++;
	if (*count < CSV_MAX_FIELDS)
		csv->starts[*count] = csv->len;
	return CU_OK;
}

/* Skips the rest of a comment line. */
static void skip_line(struct csv *csv)
{
	int c;

	while ((c = getc(csv->f)) != EOF && c != '\n')
		;
	csv->line++;
}

/* Reads one record's bytes into csv->buf; returns CU_OK or an error. */
static int read_record(struct csv *csv, size_t *count)
{
	int c, quoted = 0, after_quote = 0, rc = CU_OK;

	for (;;) {
		c = getc(csv->f);
		if (c == EOF) {
			if (quoted && !after_quote)
				return CU_ERR_INVALID;
			return end_field(csv, count);
		}
		if (c == '\n')
			csv->line++;
		if (quoted && !after_quote) {
			if (c == '"')
				after_quote = 1;
			else
				rc = put_byte(csv, (char)c);
		} else if (c == '"' && (after_quote || csv->len == csv->starts[*count])) {
			/* An opening quote, or the second of a doubled one. */
			if (after_quote)
				rc = put_byte(csv, '"');
			quoted = 1;
			after_quote = 0;
		} else if (c == ',' || c == '\n') {
			quoted = after_quote = 0;
			rc = end_field(csv, count);
			if (rc == CU_OK && c == '\n')
				return CU_OK;
			/* A comma after the last field we have room for: one too many. */
			if (rc == CU_OK && *count == CSV_MAX_FIELDS)
				return CU_ERR_TOO_BIG;
		} else if (c == '\r') {
			continue;
		} else if (after_quote) {
			return CU_ERR_INVALID; /* text after a closing quote */
		} else {
			rc = put_byte(csv, (char)c);
		}
		if (rc != CU_OK)
			return rc;
	}
}

int csv_next(struct csv *csv, char ***fields, size_t *count)
{
	size_t n = 0;
	int c, rc;

	for (;;) {
		c = getc(csv->f);
		if (c == EOF)
			return CU_ERR_NOT_FOUND;
		if (csv->skip_comments && c == '#') {
			skip_line(csv);
			continue;
		}
		if (c == '\n' || c == '\r') {
			if (c == '\n')
				csv->line++;
			continue; /* blank line */
		}
		ungetc(c, csv->f);
		break;
	}
	csv->record_line = csv->line;
	csv->len = 0;
	csv->starts[0] = 0;
	rc = read_record(csv, &n);
	if (rc != CU_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		csv->fields[i] = csv->buf + csv->starts[i];
	*fields = csv->fields;
	*count = n;
	return CU_OK;
}
