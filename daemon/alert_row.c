/*
 * alert_row.c - alert rows and alert filters (see alert_row.h).
 */
#include "alert_row.h"

#include <string.h>

#include "db.h"
#include "enums.h"
#include "validate.h"

/* Column order of ALERT_SELECT (sql.c). */
enum {
	COL_ID,
	COL_RULE,
	COL_SEVERITY,
	COL_REASON,
	COL_RAISED_AT,
	COL_EVENT_SEQ,
	COL_EVENT_ID,
	COL_DEVICE,
	COL_FACILITY,
	COL_COUNTRY,
	COL_EXPORTER,
	COL_STATE,
};

void alert_row_fill(struct alert_row *out, const PGresult *res, int r)
{
	Custody__Alert *a = &out->alert;

	custody__alert__init(a);
	a->id = (uint64_t)db_value_i64(res, r, COL_ID);
	a->rule = PQgetvalue(res, r, COL_RULE);
	a->severity = enum_value(&custody__severity__descriptor, PQgetvalue(res, r, COL_SEVERITY));
	a->reason = PQgetvalue(res, r, COL_REASON);
	a->raised_at_ms = db_value_i64(res, r, COL_RAISED_AT);
	a->event_seq = (uint64_t)db_value_i64(res, r, COL_EVENT_SEQ);
	/* Timer alerts may have no event: the id stays empty then. */
	if (db_value_bytes(res, r, COL_EVENT_ID, out->event_id, sizeof(out->event_id)) == CU_OK) {
		a->event_id.data = out->event_id;
		a->event_id.len = sizeof(out->event_id);
	}
	a->device = PQgetvalue(res, r, COL_DEVICE);
	a->facility = PQgetvalue(res, r, COL_FACILITY);
	a->country = PQgetvalue(res, r, COL_COUNTRY);
	a->exporter = PQgetvalue(res, r, COL_EXPORTER);
	a->state = enum_value(&custody__alert_state__descriptor, PQgetvalue(res, r, COL_STATE));
}

int alert_row_check_filters(const char *country, const char *facility, const char *rule,
			    const char *exporter, char *err, size_t err_size)
{
	if (country[0] != '\0' && !validate_country(country))
		return cu_fail(err, err_size, "country: ISO 3166 alpha-2 code required (e.g. JP)");
	if (facility[0] != '\0' && !validate_ident(facility))
		return cu_fail(err, err_size, "facility: not a valid id");
	/* Rule ids are identifiers; an unknown one is fine and matches nothing. */
	if (rule[0] != '\0' && !validate_ident(rule))
		return cu_fail(
		    err, err_size,
		    "rule: a rule id or a prefix ending in \".\" (1-64 of A-Z a-z 0-9 . _ -)");
	if (exporter[0] != '\0' && !validate_ident(exporter))
		return cu_fail(err, err_size, "exporter: not a valid party id");
	return CU_OK;
}

bool alert_row_rule_matches(const char *filter, const char *rule)
{
	size_t n = strlen(filter);

	if (n == 0 || strcmp(filter, rule) == 0)
		return true;
	return filter[n - 1] == '.' && strncmp(rule, filter, n) == 0;
}
