/*
 * report_fmt.h - how custodyctl writes the regulatory reports: the VEU
 * inventory report (CSV, JSON) and the shipment notice of a SHIP or
 * RMA_OUT event (text, CSV, JSON). Pure formatting over a FILE, so the
 * unit tests link it and read back what it wrote.
 *
 * CSV follows RFC 4180 but for the line ends: the first record is the
 * header, and a field holding a comma, a double quote, CR or LF is put in
 * double quotes with its quotes doubled. Records end in LF, not CRLF, so
 * head, grep and cut work on them; CSV readers accept either. Field text is written exactly as
 * the server sent it (the server validates identifiers and free text);
 * times are RFC 3339, enums their value names, ids lowercase hex, and
 * unset values empty fields.
 */
#ifndef CUSTODY_CLIENT_REPORT_FMT_H
#define CUSTODY_CLIENT_REPORT_FMT_H

#include <stddef.h>
#include <stdio.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "out.h"

/* Writes s (borrowed; NULL reads as "") to f as one CSV field. */
void report_fmt_csv_field(FILE *f, const char *s);

/* Writes n fields (borrowed) to f as one CSV record, its LF included. */
void report_fmt_csv_record(FILE *f, const char *const *fields, size_t n);

/*
 * Writes the VEU report r (borrowed) as CSV: a header, then one record per
 * item received at each site: site, site_name, country, serial, kind,
 * model, eccn, tpp, received_at, via, from_facility, status, event_id.
 */
void report_fmt_veu_csv(FILE *f, const Custody__VeuReport *r);

/*
 * Writes r (borrowed) as one JSON object: exporter, period, each site with
 * its received items and on-hand chips and TPP, and the totals over all
 * sites.
 */
void report_fmt_veu_json(struct out_json *j, const Custody__VeuReport *r);

/*
 * Writes the items of the shipment notice n (borrowed) as CSV: a header,
 * then serial, kind, model, eccn, tpp, received_at, via, from_facility,
 * status, event_id per item.
 */
void report_fmt_shipment_csv(FILE *f, const Custody__ShipmentNotice *n);

/* Writes n (borrowed) as one JSON object: every field and its items. */
void report_fmt_shipment_json(struct out_json *j, const Custody__ShipmentNotice *n);

/*
 * Prints n (borrowed) for people to f: header lines (shipment, exporter,
 * from, to, consignee, carrier, shipped, deadline, license, totals,
 * received), a blank line, then a table of one line per item.
 * CU_ERR_NOMEM if a table cannot be built.
 */
CU_MUST_USE int report_fmt_shipment_print(const Custody__ShipmentNotice *n, FILE *f);

#endif
