/*
 * report_fmt.c - the VEU report and shipment notices as CSV, JSON and text
 * (see report_fmt.h).
 *
 * The VEU report and the shipment notice list the same ReportItem, so one
 * function turns an item into its CSV cells and one into JSON; the
 * report-specific columns (the site) are put in front by the caller.
 */
#include "report_fmt.h"

#include <inttypes.h>
#include <string.h>

#include "enums.h"

/* Cells of an item in CSV: the columns of item_headers. */
#define ITEM_COLS 10
/* Site columns a VEU record has in front of the item's. */
#define SITE_COLS 3
#define LABEL_MAX 32

static const char *const item_headers[ITEM_COLS] = {
    "serial",	   "kind", "model",	    "eccn",   "tpp",
    "received_at", "via",  "from_facility", "status", "event_id",
};

static const char *const site_headers[SITE_COLS] = {"site", "site_name", "country"};

void report_fmt_csv_field(FILE *f, const char *s)
{
	const char *text = s != NULL ? s : "";

	if (strpbrk(text, ",\"\r\n") == NULL) {
		fputs(text, f);
		return;
	}
	fputc('"', f);
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '"')
			fputc('"', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

void report_fmt_csv_record(FILE *f, const char *const *fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', f);
		report_fmt_csv_field(f, fields[i]);
	}
	fputc('\n', f);
}

/* Text of an item's cells: buffers the cell pointers of item_cells use. */
struct item_text {
	char kind[LABEL_MAX], tpp[24], received[CODEC_TIME_MAX], status[LABEL_MAX];
	char event_id[OUT_ID_TEXT];
};

/* An enum value's name into out, or "" for the unset value 0. */
static const char *enum_or_empty(const ProtobufCEnumDescriptor *desc, int value,
				 char out[LABEL_MAX])
{
	snprintf(out, LABEL_MAX, "%s", value != 0 ? enum_name(desc, value) : "");
	return out;
}

/* Fills cells (ITEM_COLS) with the CSV text of item it, using buf. */
static void item_cells(const Custody__ReportItem *it, struct item_text *buf, const char **cells)
{
	snprintf(buf->tpp, sizeof(buf->tpp), "%" PRIu64, it->tpp);
	if (it->received_at_ms != 0)
		codec_time_format(it->received_at_ms, buf->received);
	else
		buf->received[0] = '\0';
	if (it->event_id.len != 0)
		out_id(&it->event_id, buf->event_id);
	else
		buf->event_id[0] = '\0';
	cells[0] = it->serial;
	cells[1] = enum_or_empty(&custody__device_kind__descriptor, it->kind, buf->kind);
	cells[2] = it->model;
	cells[3] = it->eccn_class;
	cells[4] = buf->tpp;
	cells[5] = buf->received;
	cells[6] = it->via;
	cells[7] = it->from_facility;
	cells[8] = enum_or_empty(&custody__device_status__descriptor, it->status, buf->status);
	cells[9] = buf->event_id;
}

void report_fmt_veu_csv(FILE *f, const Custody__VeuReport *r)
{
	const char *cells[SITE_COLS + ITEM_COLS];
	struct item_text buf;

	memcpy(cells, site_headers, sizeof(site_headers));
	memcpy(cells + SITE_COLS, item_headers, sizeof(item_headers));
	report_fmt_csv_record(f, cells, SITE_COLS + ITEM_COLS);
	for (size_t s = 0; s < r->n_sites; s++) {
		const Custody__VeuSite *site = r->sites[s];

		cells[0] = site->facility;
		cells[1] = site->name;
		cells[2] = site->country;
		for (size_t i = 0; i < site->n_received; i++) {
			item_cells(site->received[i], &buf, cells + SITE_COLS);
			report_fmt_csv_record(f, cells, SITE_COLS + ITEM_COLS);
		}
	}
}

/* Writes item it (borrowed) as a JSON object. */
static void item_json(struct out_json *j, const Custody__ReportItem *it)
{
	out_json_begin_object(j);
	out_json_kstr(j, "serial", it->serial);
	out_json_kenum_or_null(j, "kind", &custody__device_kind__descriptor, it->kind);
	out_json_kstr(j, "model", it->model);
	out_json_kstr(j, "eccn_class", it->eccn_class);
	out_json_kuint(j, "tpp", it->tpp);
	out_json_ktime(j, "received_at", it->received_at_ms);
	out_json_kstr(j, "via", it->via);
	out_json_kstr(j, "from_facility", it->from_facility);
	out_json_kenum_or_null(j, "status", &custody__device_status__descriptor, it->status);
	out_json_kid(j, "event_id", &it->event_id);
	out_json_end_object(j);
}

/* Writes n items (borrowed) as a JSON array; *tpp gets their total TPP. */
static void items_json(struct out_json *j, Custody__ReportItem *const *items, size_t n,
		       uint64_t *tpp)
{
	*tpp = 0;
	out_json_begin_array(j);
	for (size_t i = 0; i < n; i++) {
		item_json(j, items[i]);
		*tpp += items[i]->tpp;
	}
	out_json_end_array(j);
}

void report_fmt_veu_json(struct out_json *j, const Custody__VeuReport *r)
{
	uint64_t received = 0, received_tpp = 0, on_hand = 0, on_hand_tpp = 0, tpp = 0;

	out_json_begin_object(j);
	out_json_kstr(j, "exporter", r->exporter);
	out_json_ktime(j, "from", r->from_ms);
	out_json_ktime(j, "to", r->to_ms);
	out_json_key(j, "sites");
	out_json_begin_array(j);
	for (size_t s = 0; s < r->n_sites; s++) {
		const Custody__VeuSite *site = r->sites[s];

		out_json_begin_object(j);
		out_json_kstr(j, "facility", site->facility);
		out_json_kstr(j, "name", site->name);
		out_json_kstr(j, "country", site->country);
		out_json_kstr(j, "operator", site->operator_);
		out_json_key(j, "received");
		items_json(j, site->received, site->n_received, &tpp);
		out_json_kuint(j, "received_items", site->n_received);
		out_json_kuint(j, "received_tpp", tpp);
		out_json_kuint(j, "on_hand_chips", site->on_hand_chips);
		out_json_kuint(j, "on_hand_tpp", site->on_hand_tpp);
		out_json_end_object(j);
		received += site->n_received;
		received_tpp += tpp;
		on_hand += site->on_hand_chips;
		on_hand_tpp += site->on_hand_tpp;
	}
	out_json_end_array(j);
	out_json_key(j, "totals");
	out_json_begin_object(j);
	out_json_kuint(j, "sites", r->n_sites);
	out_json_kuint(j, "received_items", received);
	out_json_kuint(j, "received_tpp", received_tpp);
	out_json_kuint(j, "on_hand_chips", on_hand);
	out_json_kuint(j, "on_hand_tpp", on_hand_tpp);
	out_json_end_object(j);
	out_json_end_object(j);
}

void report_fmt_shipment_csv(FILE *f, const Custody__ShipmentNotice *n)
{
	const char *cells[ITEM_COLS];
	struct item_text buf;

	report_fmt_csv_record(f, item_headers, ITEM_COLS);
	for (size_t i = 0; i < n->n_items; i++) {
		item_cells(n->items[i], &buf, cells);
		report_fmt_csv_record(f, cells, ITEM_COLS);
	}
}

void report_fmt_shipment_json(struct out_json *j, const Custody__ShipmentNotice *n)
{
	uint64_t tpp = 0;

	out_json_begin_object(j);
	out_json_kid(j, "event_id", &n->event_id);
	out_json_kuint(j, "seq", n->seq);
	out_json_kenum_or_null(j, "type", &custody__event_type__descriptor, n->type);
	out_json_kstr(j, "exporter", n->exporter);
	out_json_kstr(j, "from_facility", n->from_facility);
	out_json_kstr(j, "from_country", n->from_country);
	out_json_kstr(j, "to_facility", n->to_facility);
	out_json_kstr(j, "to_country", n->to_country);
	out_json_kstr(j, "consignee", n->consignee);
	out_json_kstr(j, "carrier", n->carrier);
	out_json_ktime(j, "shipped_at", n->shipped_at_ms);
	out_json_ktime(j, "deadline", n->deadline_ms);
	out_json_kstr(j, "license", n->license);
	out_json_key(j, "items");
	items_json(j, n->items, n->n_items, &tpp);
	out_json_kuint(j, "total_items", n->n_items);
	out_json_kuint(j, "total_chips", n->total_chips);
	out_json_kuint(j, "total_tpp", n->total_tpp);
	out_json_kbool(j, "received", n->received);
	out_json_end_object(j);
}

/* s, or "-" when it is empty (NULL reads as empty). */
static const char *or_dash(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

/* Prints the header lines of n as a key/value block. */
static int print_header(const Custody__ShipmentNotice *n, FILE *f)
{
	char id[OUT_ID_TEXT], when[CODEC_TIME_MAX];
	struct out_table *t = NULL;
	int rc = out_table_new(2, NULL, &t);

	if (rc != CU_OK)
		return rc;
	out_table_kv(t, "shipment", "%s (%s, seq %" PRIu64 ")", out_id(&n->event_id, id),
		     enum_name(&custody__event_type__descriptor, n->type), n->seq);
	out_table_kv(t, "exporter", "%s", or_dash(n->exporter));
	out_table_kv(t, "from", "%s (%s)", or_dash(n->from_facility), or_dash(n->from_country));
	out_table_kv(t, "to", "%s (%s)", or_dash(n->to_facility), or_dash(n->to_country));
	out_table_kv(t, "consignee", "%s", or_dash(n->consignee));
	out_table_kv(t, "carrier", "%s", or_dash(n->carrier));
	out_table_kv(t, "shipped", "%s", out_time(n->shipped_at_ms, when));
	out_table_kv(t, "deadline", "%s", out_time(n->deadline_ms, when));
	out_table_kv(t, "license", "%s", or_dash(n->license));
	out_table_kv(t, "totals", "%zu item%s, %" PRIu64 " chip%s, TPP %" PRIu64, n->n_items,
		     n->n_items == 1 ? "" : "s", n->total_chips, n->total_chips == 1 ? "" : "s",
		     n->total_tpp);
	out_table_kv(t, "received", "%s", n->received ? "yes, every item" : "not yet");
	rc = out_table_print(t, f);
	out_table_free(t);
	return rc;
}

/* An enum value's label into out ("installed"), or "-" for the unset value 0. */
static void label_or_dash(const ProtobufCEnumDescriptor *desc, int value, char out[LABEL_MAX])
{
	snprintf(out, LABEL_MAX, "%s", value != 0 ? enum_label(desc, value, NULL) : "-");
}

/* Prints the items of n as a table. */
static int print_items(const Custody__ShipmentNotice *n, FILE *f)
{
	static const char *const headers[] = {"SERIAL", "KIND", "MODEL",  "ECCN",
					      "TPP",	"VIA",	"STATUS", "RECEIVED"};
	struct out_table *t = NULL;
	char kind[LABEL_MAX], tpp[24], status[LABEL_MAX], received[CODEC_TIME_MAX];
	int rc = out_table_new(8, headers, &t);

	if (rc != CU_OK)
		return rc;
	out_table_align_right(t, 4);
	for (size_t i = 0; i < n->n_items; i++) {
		const Custody__ReportItem *it = n->items[i];
		const char *cells[8] = {it->serial,
					kind,
					or_dash(it->model),
					or_dash(it->eccn_class),
					tpp,
					or_dash(it->via),
					status,
					received};

		label_or_dash(&custody__device_kind__descriptor, it->kind, kind);
		snprintf(tpp, sizeof(tpp), "%" PRIu64, it->tpp);
		label_or_dash(&custody__device_status__descriptor, it->status, status);
		out_time(it->received_at_ms, received);
		out_table_add(t, cells);
	}
	rc = out_table_print(t, f);
	out_table_free(t);
	return rc;
}

int report_fmt_shipment_print(const Custody__ShipmentNotice *n, FILE *f)
{
	int rc = print_header(n, f);

	if (rc != CU_OK)
		return rc;
	fputc('\n', f);
	return print_items(n, f);
}
