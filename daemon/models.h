/*
 * models.h - the accelerator model table: model name -> TPP and ECCN
 * class (policy data, deploy/policy/accelerators.csv, from the project's
 * reference data). A chip's TPP and class are looked up here when it is
 * registered and stored with the device.
 */
#ifndef CUSTODY_MODELS_H
#define CUSTODY_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"

#define MODELS_CLASS_MAX 16

struct model_info {
	char name[65];
	int64_t tpp;			   /* total processing performance */
	char eccn_class[MODELS_CLASS_MAX]; /* "3A090.a", "3A090.b", "none" */
};

struct models;

/*
 * Loads a CSV with a header row naming at least the columns model, tpp and
 * eccn_class (others are ignored). *out is owned by the caller. On failure
 * err names the line.
 */
CU_MUST_USE int models_load(const char *path, struct models **out, char *err, size_t err_size);

/*
 * Builds a table from the rows of a MODELS policy load (validated).
 * CU_ERR_EXISTS if a model is listed twice.
 */
CU_MUST_USE int models_from_rows(const Custody__ModelRow *const *rows, size_t n,
				 struct models **out);

/* Frees the table; accepts NULL. */
void models_free(struct models *models);

/* The row for name (exact match), or NULL. */
const struct model_info *models_find(const struct models *models, const char *name);

/* Number of models. */
size_t models_count(const struct models *models);

#endif
