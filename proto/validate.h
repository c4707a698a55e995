/*
 * validate.h - structural checks of events and admin actions.
 *
 * These are the checks that need no stored state: identifiers, lengths,
 * which fields each event type requires or forbids, duplicates. They run
 * in custodyctl before signing (so users get the error locally) and in
 * custodyd on every submission. What depends on the devices' current
 * state lives in the daemon's state machine.
 */
#ifndef CUSTODY_VALIDATE_H
#define CUSTODY_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"

#define VALIDATE_ID_MAX	      64   /* party and facility ids */
#define VALIDATE_SERIAL_MAX   64   /* device serials */
#define VALIDATE_NAME_MAX     200  /* names of parties and facilities */
#define VALIDATE_MODEL_MAX    64   /* device model names */
#define VALIDATE_LOCATION_MAX 128  /* position within a facility */
#define VALIDATE_NOTE_MAX     1024 /* free-text note of an event */
#define VALIDATE_MAX_DEVICES  4096 /* devices (or reported serials) per event */
#define VALIDATE_ERR_MAX      256  /* size of an error message buffer */

/* Policy data (PolicyLoad). */
#define VALIDATE_POLICY_MAX_ROWS     200000 /* rows of one load */
#define VALIDATE_SOURCE_MAX	     256    /* PolicyLoad.source */
#define VALIDATE_LICENSE_NUMBER_MAX  64	    /* 1-64 of [A-Za-z0-9._/-] */
#define VALIDATE_LICENSE_MAX_DESTS   300    /* destinations of one license */
#define VALIDATE_SCREEN_ID_MAX	     128    /* a screening entry's _id */
#define VALIDATE_SCREEN_NAME_MAX     1024   /* its name and each alt name */
#define VALIDATE_SCREEN_ALT_NAMES    64	    /* alt names per entry */
#define VALIDATE_SCREEN_FIELD_MAX    256    /* source, entity_number, type */
#define VALIDATE_SCREEN_PROGRAMS_MAX 1024   /* programs, "; "-joined */
#define VALIDATE_SCREEN_COUNTRIES    256    /* countries per entry */

/* 1-64 of [A-Za-z0-9._-]. */
bool validate_ident(const char *s);

/* 1-64 of [A-Za-z0-9._:/-], starting with a letter or digit. */
bool validate_serial(const char *s);

/* Two upper-case ASCII letters. */
bool validate_country(const char *s);

/* Valid UTF-8 of at most max_bytes bytes without control characters. */
bool validate_text(const char *s, size_t max_bytes);

/*
 * Checks an event's structure. occurred_at_ms may be at most max_skew_ms
 * ahead of now_ms. On failure returns CU_ERR_INVALID and writes a one-line
 * reason naming the field into err (VALIDATE_ERR_MAX bytes).
 */
CU_MUST_USE int validate_event(const Custody__Event *ev, int64_t now_ms, int64_t max_skew_ms,
			       char *err, size_t err_size);

/*
 * Checks one row of policy data; like validate_event, but the message
 * names only the field, so the caller can say where the row came from
 * (an index, or a file and line). They take no kind: a CountryGroupRow is
 * checked the same way for COUNTRY_GROUPS and COUNTRY_OVERRIDES.
 */
CU_MUST_USE int validate_country_group_row(const Custody__CountryGroupRow *row, char *err,
					   size_t err_size);
CU_MUST_USE int validate_model_row(const Custody__ModelRow *row, char *err, size_t err_size);
CU_MUST_USE int validate_roster_row(const Custody__RosterRow *row, char *err, size_t err_size);
CU_MUST_USE int validate_license(const Custody__License *lic, char *err, size_t err_size);
CU_MUST_USE int validate_screening_entry(const Custody__ScreeningEntry *e, char *err,
					 size_t err_size);

/*
 * Checks a PolicyLoad: kind set, effective_from_ms >= 0, source text and
 * a 32-byte (or empty) source_sha256, only the rows of its kind (at most
 * VALIDATE_POLICY_MAX_ROWS; at least one for COUNTRY_GROUPS and MODELS,
 * whose empty set would leave nothing to judge by), each row as above,
 * and no two rows with the same key: (group, country), model, (exporter,
 * facility, notice), license number, screening id. Messages name the row
 * as "licenses[3]: ...".
 */
CU_MUST_USE int validate_policy_load(const Custody__PolicyLoad *pl, char *err, size_t err_size);

/*
 * Checks a KeyRecord: a 32-byte key, a party id, a role, and a validity
 * that ends after it starts (like validate_event).
 */
CU_MUST_USE int validate_key_record(const Custody__KeyRecord *k, char *err, size_t err_size);

/*
 * Key lifecycle (validate_keys.c): a rotation needs a 32-byte old key, a
 * valid new KeyRecord of another key, and old_valid_until_ms >= 0; a
 * revocation a 32-byte key, 0 <= revoked_at_ms <= now_ms + max_skew_ms
 * and a reason of at most VALIDATE_NOTE_MAX bytes of text. Whether the
 * keys are registered is custodyd's to check.
 */
CU_MUST_USE int validate_key_rotation(const Custody__KeyRotation *r, char *err, size_t err_size);
CU_MUST_USE int validate_key_revocation(const Custody__KeyRevocation *r, int64_t now_ms,
					int64_t max_skew_ms, char *err, size_t err_size);

/*
 * Checks an admin action's structure; like validate_event. load_policy is
 * checked by validate_policy_load; alert_note needs an alert_id, a state
 * that is unset (a comment), ACKNOWLEDGED or RESOLVED, and a note of 1 to
 * VALIDATE_NOTE_MAX bytes of text.
 */
CU_MUST_USE int validate_admin(const Custody__AdminAction *act, int64_t now_ms, int64_t max_skew_ms,
			       char *err, size_t err_size);

#endif
