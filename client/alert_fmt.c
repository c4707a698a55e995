/*
 * alert_fmt.c - showing alerts, rule hits and verdicts (see alert_fmt.h).
 *
 * Severities and states are shown to people as lower-case labels
 * ("alert", "open") and written to JSON as their value names, like every
 * other enum custodyctl prints. enum_label returns a static buffer, so a
 * label is copied before the next one is asked for.
 */
#include "alert_fmt.h"

#include <inttypes.h>
#include <string.h>

#include "enums.h"

#define LABEL_MAX 32

const char *const alert_fmt_headers[ALERT_FMT_COLS] = {
    "ID", "RAISED", "RULE", "SEVERITY", "STATE", "DEVICE", "FACILITY", "COUNTRY", "REASON",
};

/* Copies the label of severity value into out ("alert", "reject"). */
static const char *severity_label(int value, char out[LABEL_MAX])
{
	snprintf(out, LABEL_MAX, "%s",
		 enum_label(&custody__severity__descriptor, value, "SEVERITY_"));
	return out;
}

/* Copies the label of alert state value into out ("open"); "-" when unset. */
static const char *state_label(int value, char out[LABEL_MAX])
{
	if (value == 0)
		snprintf(out, LABEL_MAX, "-");
	else
		snprintf(out, LABEL_MAX, "%s",
			 enum_label(&custody__alert_state__descriptor, value, NULL));
	return out;
}

/* s, or "-" when it is empty (NULL reads as empty). */
static const char *or_dash(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

void alert_fmt_row(struct out_table *t, const Custody__Alert *a)
{
	char id[24], raised[CODEC_TIME_MAX], severity[LABEL_MAX], state[LABEL_MAX];
	const char *cells[ALERT_FMT_COLS] = {
	    id,
	    out_time(a->raised_at_ms, raised),
	    a->rule,
	    severity_label(a->severity, severity),
	    state_label(a->state, state),
	    or_dash(a->device),
	    or_dash(a->facility),
	    or_dash(a->country),
	    a->reason,
	};

	snprintf(id, sizeof(id), "%" PRIu64, a->id);
	out_table_add(t, cells);
}

/* Writes one note record n (borrowed) as a JSON object. */
static void note_json(struct out_json *j, const Custody__AlertNoteRecord *n)
{
	out_json_begin_object(j);
	out_json_kuint(j, "admin_seq", n->admin_seq);
	out_json_kstr(j, "party", n->party);
	out_json_kenum_or_null(j, "state", &custody__alert_state__descriptor, n->state);
	out_json_kstr(j, "note", n->note);
	out_json_ktime(j, "at", n->at_ms);
	out_json_end_object(j);
}

void alert_fmt_json(struct out_json *j, const Custody__Alert *a)
{
	out_json_begin_object(j);
	out_json_kuint(j, "id", a->id);
	out_json_kstr(j, "rule", a->rule);
	out_json_kenum_or_null(j, "severity", &custody__severity__descriptor, a->severity);
	out_json_kstr(j, "reason", a->reason);
	out_json_ktime(j, "raised_at", a->raised_at_ms);
	out_json_kuint(j, "event_seq", a->event_seq);
	out_json_kid(j, "event_id", &a->event_id);
	out_json_kstr(j, "device", a->device);
	out_json_kstr(j, "facility", a->facility);
	out_json_kstr(j, "country", a->country);
	out_json_kstr(j, "exporter", a->exporter);
	out_json_kenum_or_null(j, "state", &custody__alert_state__descriptor, a->state);
	out_json_key(j, "notes");
	out_json_begin_array(j);
	for (size_t i = 0; i < a->n_notes; i++)
		note_json(j, a->notes[i]);
	out_json_end_array(j);
	out_json_end_object(j);
}

void alert_fmt_line(const Custody__Alert *a, char *out, size_t size)
{
	char raised[CODEC_TIME_MAX], severity[LABEL_MAX], state[LABEL_MAX];
	char line[ALERT_FMT_LINE_MAX];

	snprintf(line, sizeof(line),
		 "alert %" PRIu64 " %s %s %s %s device=%s facility=%s country=%s exporter=%s "
		 "event_seq=%" PRIu64 ": %s",
		 a->id, out_time(a->raised_at_ms, raised), or_dash(a->rule),
		 severity_label(a->severity, severity), state_label(a->state, state),
		 or_dash(a->device), or_dash(a->facility), or_dash(a->country),
		 or_dash(a->exporter), a->event_seq, a->reason != NULL ? a->reason : "");
	out_safe(line, out, size);
}

/* Prints the notes of a as a table, or a line saying there are none. */
static int print_notes(const Custody__Alert *a, FILE *f)
{
	static const char *const headers[] = {"ADMIN SEQ", "AT", "PARTY", "STEP", "NOTE"};
	struct out_table *t = NULL;
	char seq[24], at[CODEC_TIME_MAX], step[LABEL_MAX];
	const char *cells[5] = {seq, at, NULL, step, NULL};
	int rc;

	if (a->n_notes == 0) {
		fputs("\nno notes\n", f);
		return CU_OK;
	}
	rc = out_table_new(5, headers, &t);
	if (rc != CU_OK)
		return rc;
	out_table_align_right(t, 0);
	for (size_t i = 0; i < a->n_notes; i++) {
		const Custody__AlertNoteRecord *n = a->notes[i];

		snprintf(seq, sizeof(seq), "%" PRIu64, n->admin_seq);
		out_time(n->at_ms, at);
		if (n->state == 0)
			snprintf(step, sizeof(step), "comment");
		else
			state_label(n->state, step);
		cells[2] = n->party;
		cells[4] = n->note;
		out_table_add(t, cells);
	}
	fputc('\n', f);
	rc = out_table_print(t, f);
	out_table_free(t);
	return rc;
}

int alert_fmt_print(const Custody__Alert *a, FILE *f)
{
	char when[CODEC_TIME_MAX], label[LABEL_MAX], id[OUT_ID_TEXT];
	struct out_table *t = NULL;
	int rc = out_table_new(2, NULL, &t);

	if (rc != CU_OK)
		return rc;
	out_table_kv(t, "alert", "%" PRIu64, a->id);
	out_table_kv(t, "rule", "%s", a->rule);
	out_table_kv(t, "severity", "%s", severity_label(a->severity, label));
	out_table_kv(t, "state", "%s", state_label(a->state, label));
	out_table_kv(t, "raised at", "%s", out_time(a->raised_at_ms, when));
	out_table_kv(t, "device", "%s", or_dash(a->device));
	out_table_kv(t, "facility", "%s", or_dash(a->facility));
	out_table_kv(t, "country", "%s", or_dash(a->country));
	out_table_kv(t, "exporter", "%s", or_dash(a->exporter));
	if (a->event_seq != 0)
		out_table_kv(t, "event", "seq %" PRIu64 ", %s", a->event_seq,
			     out_id(&a->event_id, id));
	else
		out_table_kv(t, "event", "none (raised by a timer)");
	out_table_kv(t, "reason", "%s", a->reason);
	rc = out_table_print(t, f);
	out_table_free(t);
	if (rc != CU_OK)
		return rc;
	return print_notes(a, f);
}

void alert_fmt_rule(const Custody__RuleHit *h, char *out, size_t size)
{
	char severity[LABEL_MAX], line[ALERT_FMT_LINE_MAX];

	snprintf(line, sizeof(line), "%s (%s): %s", or_dash(h->rule),
		 severity_label(h->severity, severity), h->reason != NULL ? h->reason : "");
	out_safe(line, out, size);
}

void alert_fmt_ids(const uint64_t *ids, size_t n, char *out, size_t size)
{
	size_t used = 0;

	snprintf(out, size, "-");
	for (size_t i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%" PRIu64, i > 0 ? ", " : "",
					 ids[i]);
}

void alert_fmt_rules_json(struct out_json *j, Custody__RuleHit *const *rules, size_t n)
{
	out_json_begin_array(j);
	for (size_t i = 0; i < n; i++) {
		out_json_begin_object(j);
		out_json_kstr(j, "rule", rules[i]->rule);
		out_json_kenum(j, "severity", &custody__severity__descriptor, rules[i]->severity);
		out_json_kstr(j, "reason", rules[i]->reason);
		out_json_end_object(j);
	}
	out_json_end_array(j);
}

void alert_fmt_ids_json(struct out_json *j, const uint64_t *ids, size_t n)
{
	out_json_begin_array(j);
	for (size_t i = 0; i < n; i++)
		out_json_uint(j, ids[i]);
	out_json_end_array(j);
}

void alert_fmt_verdict_json(struct out_json *j, Custody__Verdict v)
{
	if (v == 0)
		out_json_null(j);
	else
		out_json_enum(j, &custody__verdict__descriptor, v);
}
