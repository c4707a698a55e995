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

/* Checks an admin action's structure; like validate_event. */
CU_MUST_USE int validate_admin(const Custody__AdminAction *act, int64_t now_ms, int64_t max_skew_ms,
			       char *err, size_t err_size);

#endif
