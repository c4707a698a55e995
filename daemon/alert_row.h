/*
 * alert_row.h - what the alert readers (h_alerts.c, watch.c) share: an
 * alert row of the database as a protocol Alert, and the checks and
 * matching of the filters both requests take (country, facility, rule,
 * exporter), so a query and a live push select exactly the same alerts.
 */
#ifndef CUSTODY_ALERT_ROW_H
#define CUSTODY_ALERT_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "cu_err.h"
#include "custody.pb-c.h"

/* An Alert and the storage its bytes field points into. Do not move it once filled. */
struct alert_row {
	Custody__Alert alert;
	uint8_t event_id[32];
};

/*
 * Fills out from row r of a result with the alert columns of sql.c
 * (ALERT_SELECT). The strings borrow from res: use out before res is freed.
 */
void alert_row_fill(struct alert_row *out, const PGresult *res, int r);

/*
 * Checks the shared filters; "" means "any" for each. On failure returns
 * CU_ERR_INVALID with a message naming the field in err.
 */
CU_MUST_USE int alert_row_check_filters(const char *country, const char *facility, const char *rule,
					const char *exporter, char *err, size_t err_size);

/* Does rule match the filter: "" (any), the rule id, or a prefix ending in "."? */
bool alert_row_rule_matches(const char *filter, const char *rule);

#endif
