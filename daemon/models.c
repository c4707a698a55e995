/*
 * models.c - loading and looking up the model table (see models.h).
 */
#include "models.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "hmap.h"

struct models {
	struct hmap *by_name;
};

/* Column positions found in the header. */
struct columns {
	int model, tpp, eccn_class;
};

static int find_columns(char **fields, size_t n, struct columns *cols)
{
	cols->model = cols->tpp = cols->eccn_class = -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(fields[i], "model") == 0)
			cols->model = (int)i;
		else if (strcmp(fields[i], "tpp") == 0)
			cols->tpp = (int)i;
		else if (strcmp(fields[i], "eccn_class") == 0)
			cols->eccn_class = (int)i;
	}
	return cols->model >= 0 && cols->tpp >= 0 && cols->eccn_class >= 0 ? CU_OK : CU_ERR_INVALID;
}

/* Parses one data row into a new model_info. */
static int parse_row(char **fields, size_t n, const struct columns *cols, struct model_info **out)
{
	struct model_info *m;
	char *end = NULL;
	double tpp;

	if ((size_t)cols->model >= n || (size_t)cols->tpp >= n || (size_t)cols->eccn_class >= n)
		return CU_ERR_INVALID;
	if (fields[cols->model][0] == '\0' || strlen(fields[cols->model]) >= sizeof(m->name) ||
	    strlen(fields[cols->eccn_class]) >= MODELS_CLASS_MAX)
		return CU_ERR_INVALID;
	errno = 0;
	tpp = strtod(fields[cols->tpp], &end);
	if (errno != 0 || end == fields[cols->tpp] || *end != '\0' || tpp < 0 || tpp > 1e15)
		return CU_ERR_INVALID;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return CU_ERR_NOMEM;
	snprintf(m->name, sizeof(m->name), "%s", fields[cols->model]);
	snprintf(m->eccn_class, sizeof(m->eccn_class), "%s", fields[cols->eccn_class]);
	m->tpp = (int64_t)(tpp + 0.5);
	*out = m;
	return CU_OK;
}

/* Reads every data row of csv into models. */
static int load_rows(struct csv *csv, struct models *models, char *err, size_t err_size)
{
	struct columns cols;
	struct model_info *m = NULL;
	char **fields;
	size_t n;
	int rc;

	if (csv_next(csv, &fields, &n) != CU_OK || find_columns(fields, n, &cols) != CU_OK) {
		snprintf(err, err_size, "header must name the columns model, tpp and eccn_class");
		return CU_ERR_INVALID;
	}
	while ((rc = csv_next(csv, &fields, &n)) == CU_OK) {
		void *old = NULL;

		rc = parse_row(fields, n, &cols, &m);
		if (rc == CU_OK)
			rc = hmap_put(models->by_name, m->name, strlen(m->name), m, &old);
		if (rc == CU_OK && old != NULL) {
			free(old);
			rc = CU_ERR_EXISTS;
		}
		if (rc != CU_OK) {
			snprintf(err, err_size, "line %d: %s", csv_line(csv),
				 rc == CU_ERR_EXISTS ? "model listed twice"
						     : "bad row (model, tpp >= 0, eccn_class)");
			if (rc != CU_ERR_EXISTS)
				free(m);
			return CU_ERR_INVALID;
		}
	}
	if (rc != CU_ERR_NOT_FOUND) {
		snprintf(err, err_size, "line %d: malformed CSV", csv_line(csv));
		return CU_ERR_INVALID;
	}
	return CU_OK;
}

int models_load(const char *path, struct models **out, char *err, size_t err_size)
{
	struct models *models = calloc(1, sizeof(*models));
	struct csv *csv = NULL;
	int rc = CU_ERR_NOMEM;

	snprintf(err, err_size, "out of memory");
	if (models == NULL || (models->by_name = hmap_new()) == NULL)
		goto fail;
	rc = csv_open(path, 1, &csv);
	if (rc != CU_OK) {
		snprintf(err, err_size, "cannot open: %s", cu_strerror(rc));
		goto fail;
	}
	rc = load_rows(csv, models, err, err_size);
	if (rc != CU_OK)
		goto fail;
	if (hmap_count(models->by_name) == 0) {
		snprintf(err, err_size, "no models listed");
		rc = CU_ERR_INVALID;
		goto fail;
	}
	csv_close(csv);
	*out = models;
	return CU_OK;
fail:
	csv_close(csv);
	models_free(models);
	return rc;
}

int models_from_rows(const Custody__ModelRow *const *rows, size_t n, struct models **out)
{
	struct models *models = calloc(1, sizeof(*models));
	int rc = CU_ERR_NOMEM;

	if (models == NULL || (models->by_name = hmap_new()) == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct model_info *m = calloc(1, sizeof(*m));

		if (m == NULL)
			goto fail;
		snprintf(m->name, sizeof(m->name), "%s", rows[i]->model);
		snprintf(m->eccn_class, sizeof(m->eccn_class), "%s", rows[i]->eccn_class);
		m->tpp = (int64_t)rows[i]->tpp;
		if (hmap_get_str(models->by_name, m->name) != NULL ||
		    hmap_put(models->by_name, m->name, strlen(m->name), m, NULL) != CU_OK) {
			rc = hmap_get_str(models->by_name, m->name) != NULL ? CU_ERR_EXISTS
									    : CU_ERR_NOMEM;
			free(m);
			goto fail;
		}
	}
	*out = models;
	return CU_OK;
fail:
	models_free(models);
	return rc;
}

void models_free(struct models *models)
{
	if (models == NULL)
		return;
	hmap_free(models->by_name, free);
	free(models);
}

const struct model_info *models_find(const struct models *models, const char *name)
{
	return models != NULL ? hmap_get_str(models->by_name, name) : NULL;
}

size_t models_count(const struct models *models)
{
	return hmap_count(models->by_name);
}
