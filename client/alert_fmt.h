/*
 * alert_fmt.h - how custodyctl shows alerts and policy verdicts: an alert
 * as a table row, a one-line record (watch), a key/value block with its
 * notes (alert show) and JSON; rule hits and alert id lists as text and
 * JSON (alerts, watch and the event commands' verdicts). Pure formatting:
 * no connection, so the unit tests link it.
 *
 * Everything shown comes from the server, so text goes through out_safe
 * (tables, lines) or the JSON writer, never straight to the terminal.
 */
#ifndef CUSTODY_CLIENT_ALERT_FMT_H
#define CUSTODY_CLIENT_ALERT_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "out.h"

/* Columns of the alerts table. */
#define ALERT_FMT_COLS 9
/* Size of a buffer that holds one alert line or rule hit with its reason. */
#define ALERT_FMT_LINE_MAX 2048

/* Titles of the alerts table (static). */
extern const char *const alert_fmt_headers[ALERT_FMT_COLS];

/* Appends a (borrowed) to t as a row under alert_fmt_headers. */
void alert_fmt_row(struct out_table *t, const Custody__Alert *a);

/* Writes a (borrowed) as one JSON object value, notes included. */
void alert_fmt_json(struct out_json *j, const Custody__Alert *a);

/*
 * Writes a (borrowed) as one line without a newline into out, control
 * characters replaced: "alert 17 2026-11-22T13:40:00Z handoff.deadline
 * alert open device=GPU-1 facility=nw-jp country=JP exporter=nw
 * event_seq=12: reason". Empty fields read "-".
 */
void alert_fmt_line(const Custody__Alert *a, char *out, size_t size);

/* Prints a (borrowed) to f for people: its fields, then its notes. */
CU_MUST_USE int alert_fmt_print(const Custody__Alert *a, FILE *f);

/*
 * Writes a rule hit h (borrowed) into out for people, control characters
 * replaced: "state.destroyed (reject): the device was destroyed".
 */
void alert_fmt_rule(const Custody__RuleHit *h, char *out, size_t size);

/* Writes "7, 8, 9" for n ids (borrowed) into out, "-" when there are none. */
void alert_fmt_ids(const uint64_t *ids, size_t n, char *out, size_t size);

/* Writes n rule hits (borrowed) as a JSON array of {rule, severity, reason}. */
void alert_fmt_rules_json(struct out_json *j, Custody__RuleHit *const *rules, size_t n);

/* Writes n alert ids (borrowed) as a JSON array of numbers. */
void alert_fmt_ids_json(struct out_json *j, const uint64_t *ids, size_t n);

/* Writes a verdict as its name ("ACCEPT_WITH_ALERTS"), null when unset. */
void alert_fmt_verdict_json(struct out_json *j, Custody__Verdict v);

#endif
