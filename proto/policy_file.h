/*
 * policy_file.h - reads a published policy data file into a PolicyLoad,
 * the message an admin signs to replace one kind of policy data.
 *
 * Formats. Every CSV file starts with a header row naming its columns;
 * column order is free, columns not listed here are ignored, blank lines
 * and (except in the screening list) lines starting with '#' are skipped,
 * and each field is trimmed of surrounding spaces. Required columns are
 * marked *.
 *   COUNTRY_GROUPS     group*, iso3166_alpha2*, ear_name: EAR Supplement
 *                      No. 1 to Part 740 (deploy/policy/country_groups.csv)
 *   COUNTRY_OVERRIDES  group*, iso3166_alpha2*, member* (yes/no/true/false),
 *                      ear_name; a note column is ignored like any other
 *   MODELS             model*, tpp*, eccn_class*, vendor (the layout of
 *                      deploy/policy/accelerators.csv; tpp is rounded)
 *   ROSTER             exporter*, facility* (may be empty: exporter trusted,
 *                      no site yet), notified_on* (a date or an RFC 3339
 *                      time), notice (site or transfer; empty = site)
 *   LICENSES           number*, holder*, destinations*, eccns* (lists
 *                      separated by ';'), max_tpp, max_units (empty = 0),
 *                      valid_from (empty = 0), valid_until (empty = no
 *                      expiry; a bare date means through the end of that
 *                      day, UTC), consignee
 *   SCREENING          the US Consolidated Screening List as trade.gov
 *                      publishes it, either consolidated.csv (columns _id*,
 *                      source*, name*, entity_number, type, programs,
 *                      addresses, alt_names; multi-valued fields separated
 *                      by "; ", each address ending in its country code) or
 *                      consolidated.json ({"results": [...]} or a bare
 *                      array; addresses as objects with a country), told
 *                      apart by the first byte ('{' or '[' is JSON).
 * Dates are UTC days ("2026-01-31") or RFC 3339 times; "now" is refused,
 * since a file must mean the same thing whenever it is loaded.
 *
 * Screening text is normalized, never cut: tabs and line breaks become
 * spaces, surrounding spaces go, empty list items are dropped, countries
 * are the distinct valid two-letter codes of the addresses in order, and
 * programs are joined with "; ". A name (or alias) over 1024 bytes, more
 * than 64 aliases, or any other row that validate.h refuses is an error.
 *
 * Every error names the file and the line (CSV) or the entry and line
 * (JSON), and the field. Each row is checked with the row validators of
 * validate.h and the whole load with validate_policy_load.
 */
#ifndef CUSTODY_POLICY_FILE_H
#define CUSTODY_POLICY_FILE_H

#include <stddef.h>

#include "cu_err.h"
#include "custody.pb-c.h"

/* Largest file read, in bytes. */
#define POLICY_FILE_MAX_BYTES (256u * 1024u * 1024u)
/* A good size for the err buffer of the functions below. */
#define POLICY_FILE_ERR_MAX 512

/*
 * Reads the file at path (borrowed) as policy data of kind and builds a
 * new PolicyLoad: kind, the rows, source = the file's base name,
 * source_sha256 = SHA-256 of the file's bytes; effective_from_ms is left
 * 0 for the caller. *out is owned by the caller (policy_file_free). On
 * failure returns CU_ERR_INVALID (bad data), CU_ERR_TOO_BIG, CU_ERR_IO,
 * CU_ERR_NOT_FOUND or CU_ERR_NOMEM and writes a message into err.
 */
CU_MUST_USE int policy_file_load(Custody__PolicyKind kind, const char *path,
				 Custody__PolicyLoad **out, char *err, size_t err_size);

/*
 * Like policy_file_load, over len bytes at data (borrowed) that came from
 * a file called name (borrowed; used in messages and as the source).
 */
CU_MUST_USE int policy_file_parse(Custody__PolicyKind kind, const char *name, const char *data,
				  size_t len, Custody__PolicyLoad **out, char *err,
				  size_t err_size);

/* Frees a PolicyLoad built above, and everything in it; accepts NULL. */
void policy_file_free(Custody__PolicyLoad *pl);

#endif
