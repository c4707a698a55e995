/*
 * h_report.c - the documents exporters owe: the VEU report (per site of an
 * exporter, the items received in a period, with dates and ECCNs, and what
 * is on hand now) and the shipment notice of one SHIP or RMA_OUT event (its
 * contents and ECCNs, for the receiving site).
 *
 * Both are read in one job each; the responses borrow from the PGresults
 * and are packed inside the callback. A container's class is the highest
 * class of the chips inside it (sql.c, DEVICE_CLASS); TPP is counted on
 * chips only, so a container and its contents are never counted twice.
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "codec.h"
#include "conn.h"
#include "dispatch.h"
#include "enums.h"
#include "query.h"
#include "registry.h"
#include "sequencer.h"
#include "validate.h"

#define REPORT_TIME_MAX_MS 253402300800000LL /* year 10000: custody_ts() stays in range */
#define REPORT_ID_BYTES	   32

/* A ReportItem and the storage of its event id. */
struct item_slot {
	Custody__ReportItem item;
	uint8_t event_id[REPORT_ID_BYTES];
};

/* Arrays a report borrows; free with slots_free. */
struct slots {
	struct item_slot *items;
	Custody__ReportItem **ptrs;
};

static int slots_alloc(struct slots *s, int n)
{
	s->items = calloc((size_t)n + 1, sizeof(*s->items));
	s->ptrs = calloc((size_t)n + 1, sizeof(*s->ptrs));
	return s->items != NULL && s->ptrs != NULL ? CU_OK : CU_ERR_NOMEM;
}

static void slots_free(struct slots *s)
{
	free(s->items);
	free(s->ptrs);
}

/* ---- veu_report -------------------------------------------------------- */

/* Fills an item from row r of SQL_VEU_RECEIVED (column 0 is the site). */
static void fill_received(struct item_slot *s, const PGresult *res, int r)
{
	Custody__ReportItem *it = &s->item;

	custody__report_item__init(it);
	it->serial = PQgetvalue(res, r, 1);
	it->kind = enum_value(&custody__device_kind__descriptor, PQgetvalue(res, r, 2));
	it->model = PQgetvalue(res, r, 3);
	it->eccn_class = PQgetvalue(res, r, 4);
	it->tpp = (uint64_t)db_value_i64(res, r, 5);
	it->via = PQgetvalue(res, r, 6);
	it->received_at_ms = db_value_i64(res, r, 7);
	if (db_value_bytes(res, r, 8, s->event_id, REPORT_ID_BYTES) == CU_OK) {
		it->event_id.data = s->event_id;
		it->event_id.len = REPORT_ID_BYTES;
	}
	it->from_facility = PQgetvalue(res, r, 9);
	it->status = enum_value(&custody__device_status__descriptor, PQgetvalue(res, r, 10));
}

/* Fills site i from SQL_VEU_SITES and gives it its rows of received (both byte-ordered by site). */
static void fill_site(Custody__VeuSite *site, const PGresult *sites, int i, const PGresult *rec,
		      Custody__ReportItem **ptrs, int *next_row)
{
	int r = *next_row, rows = PQntuples(rec), first;

	custody__veu_site__init(site);
	site->facility = PQgetvalue(sites, i, 0);
	site->name = PQgetvalue(sites, i, 1);
	site->country = PQgetvalue(sites, i, 2);
	site->operator_ = PQgetvalue(sites, i, 3);
	site->on_hand_chips = (uint64_t)db_value_i64(sites, i, 4);
	site->on_hand_tpp = (uint64_t)db_value_i64(sites, i, 5);
	/* Rows of a site the site list lacks cannot occur (same conditions); skip them. */
	while (r < rows && strcmp(PQgetvalue(rec, r, 0), site->facility) < 0)
		r++;
	first = r;
	while (r < rows && strcmp(PQgetvalue(rec, r, 0), site->facility) == 0)
		r++;
	site->received = &ptrs[first];
	site->n_received = (size_t)(r - first);
	*next_row = r;
}

static void on_veu_report(struct query *q, const struct db_job *job)
{
	const PGresult *exp = db_job_result(job, 0), *sites = db_job_result(job, 1),
		       *rec = db_job_result(job, 2);
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__VeuReport out = CUSTODY__VEU_REPORT__INIT;
	int n_sites = PQntuples(sites), n_rec = PQntuples(rec), next_row = 0;
	Custody__VeuSite *site_v = calloc((size_t)n_sites + 1, sizeof(*site_v));
	Custody__VeuSite **site_p = calloc((size_t)n_sites + 1, sizeof(*site_p));
	struct slots items = {NULL, NULL};

	if (PQntuples(exp) == 0) {
		req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND, "party %s is not registered",
			 q->key);
		goto done;
	}
	if (site_v == NULL || site_p == NULL || slots_alloc(&items, n_rec) != CU_OK) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		goto done;
	}
	for (int r = 0; r < n_rec; r++) {
		fill_received(&items.items[r], rec, r);
		items.ptrs[r] = &items.items[r].item;
	}
	for (int i = 0; i < n_sites; i++) {
		fill_site(&site_v[i], sites, i, rec, items.ptrs, &next_row);
		site_p[i] = &site_v[i];
	}
	out.exporter = q->key;
	out.from_ms = db_value_i64(exp, 0, 0); /* echoed by SQL_VEU_EXPORTER */
	out.to_ms = db_value_i64(exp, 0, 1);
	out.sites = site_p;
	out.n_sites = (size_t)n_sites;
	resp.body_case = CUSTODY__RESPONSE__BODY_VEU_REPORT;
	resp.veu_report = &out;
	req_reply(q->req, &resp);
done:
	free(site_v);
	free(site_p);
	slots_free(&items);
}

/* Adds stmt with the report's parameters: exporter, from, to. */
static void add_period(struct db_job *job, enum sql_stmt stmt, const Custody__VeuReportRequest *in)
{
	db_job_add(job, stmt);
	db_param_text(job, in->exporter);
	db_param_i64(job, in->from_ms);
	db_param_i64(job, in->to_ms);
}

void h_veu_report(struct req *req, const Custody__Request *msg)
{
	const Custody__VeuReportRequest *in = msg->veu_report;
	struct db_job *job;

	if (!validate_ident(in->exporter)) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "exporter: a party id is required");
		return;
	}
	if (in->from_ms < 0 || in->to_ms >= REPORT_TIME_MAX_MS || in->from_ms >= in->to_ms) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "from_ms, to_ms: a period in Unix milliseconds with from_ms < to_ms");
		return;
	}
	job = query_job(req, on_veu_report, in->exporter, 0);
	if (job == NULL)
		return;
	add_period(job, SQL_VEU_EXPORTER, in);
	add_period(job, SQL_VEU_SITES, in);
	add_period(job, SQL_VEU_RECEIVED, in);
	query_submit(job);
}

/* ---- shipment ------------------------------------------------------------- */

/* What the notice borrows besides the PGresults. */
struct notice_parts {
	Custody__Event *event; /* decoded stored body */
	uint8_t id[REPORT_ID_BYTES];
	struct slots items;
};

/*
 * Fills the items from SQL_SHIPMENT_ITEMS, with the totals, the exporter
 * (owner of the first device the event named) and whether all arrived.
 */
static void fill_items(Custody__ShipmentNotice *n, struct notice_parts *p, const PGresult *res)
{
	int rows = PQntuples(res);

	n->received = true;
	for (int r = 0; r < rows; r++) {
		Custody__ReportItem *it = &p->items.items[r].item;

		custody__report_item__init(it);
		it->serial = PQgetvalue(res, r, 0);
		it->kind = enum_value(&custody__device_kind__descriptor, PQgetvalue(res, r, 1));
		it->model = PQgetvalue(res, r, 2);
		it->eccn_class = PQgetvalue(res, r, 3);
		it->tpp = (uint64_t)db_value_i64(res, r, 4);
		it->via = PQgetvalue(res, r, 5);
		it->status = enum_value(&custody__device_status__descriptor, PQgetvalue(res, r, 6));
		it->event_id = n->event_id;
		it->from_facility = n->from_facility;
		if (r == 0)
			n->exporter = PQgetvalue(res, r, 7);
		if (db_value_bool(res, r, 8))
			n->received = false; /* still under this shipment */
		if (it->kind == CUSTODY__DEVICE_KIND__CHIP) {
			n->total_chips++;
			n->total_tpp += it->tpp;
		}
		p->items.ptrs[r] = it;
	}
	n->items = p->items.ptrs;
	n->n_items = (size_t)rows;
}

/* Fills the notice from the stored event (row 0 of SQL_SHIPMENT_EVENT). */
static void fill_event(Custody__ShipmentNotice *n, struct notice_parts *p, const PGresult *res)
{
	const Custody__Event *ev = p->event;
	const struct registry *reg = sequencer_registry();
	const struct facility *to = reg != NULL ? registry_facility(reg, ev->to_facility) : NULL;

	n->event_id.data = p->id;
	n->event_id.len = REPORT_ID_BYTES;
	n->seq = (uint64_t)db_value_i64(res, 0, 0);
	n->type = enum_value(&custody__event_type__descriptor, PQgetvalue(res, 0, 1));
	n->from_facility = PQgetvalue(res, 0, 4);
	n->from_country = PQgetvalue(res, 0, 5);
	n->shipped_at_ms = db_value_i64(res, 0, 6);
	n->to_facility = ev->to_facility;
	n->to_country = to != NULL ? (char *)to->country : "";
	n->consignee = ev->consignee;
	n->carrier = ev->carrier;
	/* A SHIP without its own deadline is due after the configured default. */
	n->deadline_ms = ev->deadline_ms;
	if (n->deadline_ms == 0)
		n->deadline_ms = n->shipped_at_ms + (n->type == CUSTODY__EVENT_TYPE__SHIP
							 ? sequencer_options()->ship_deadline_ms
							 : sequencer_options()->rma_deadline_ms);
	n->license = ev->license;
}

/*
 * Answers with an error unless row 0 of res is an accepted SHIP or
 * RMA_OUT; then decodes its body into p->event (owned by p).
 */
static bool shipment_ok(struct query *q, const PGresult *res, struct notice_parts *p)
{
	const char *type, *verdict;
	unsigned char *body;
	size_t len = 0;

	if (PQntuples(res) == 0) {
		req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND, "event %s is not stored", q->key);
		return false;
	}
	type = PQgetvalue(res, 0, 1);
	verdict = PQgetvalue(res, 0, 2);
	if (strcmp(type, "SHIP") != 0 && strcmp(type, "RMA_OUT") != 0) {
		req_fail(q->req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "event %s is a %s, not a SHIP or RMA_OUT", q->key, type);
		return false;
	}
	if (strcmp(verdict, "REJECT") == 0) {
		req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND,
			 "event %s was rejected: nothing was shipped", q->key);
		return false;
	}
	body = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 3), &len);
	p->event = body != NULL ? custody__event__unpack(NULL, len, body) : NULL;
	PQfreemem(body);
	if (p->event == NULL) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "stored event %s does not decode",
			 q->key);
		return false;
	}
	return true;
}

static void on_shipment(struct query *q, const struct db_job *job)
{
	const PGresult *ev = db_job_result(job, 0), *items = db_job_result(job, 1);
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__ShipmentNotice out = CUSTODY__SHIPMENT_NOTICE__INIT;
	struct notice_parts p = {.event = NULL};
	struct auth_id id;

	if (auth_whoami(q->req, &id) != CU_OK)
		goto done;
	if (PQntuples(ev) == 0 && !auth_reads_all(&id)) {
		auth_forbid(q->req, &id, "shipment", "event %s is not in the scope of this key",
			    q->key);
		goto done;
	}
	if (!shipment_ok(q, ev, &p))
		goto done;
	if (codec_hex_decode(q->key, p.id, sizeof(p.id)) != CU_OK ||
	    slots_alloc(&p.items, PQntuples(items)) != CU_OK) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		goto done;
	}
	fill_event(&out, &p, ev);
	fill_items(&out, &p, items);
	if (!auth_may_read_shipment(&id, auth_registry(), out.exporter, out.from_facility,
				    out.to_facility, out.carrier)) {
		auth_forbid(q->req, &id, "shipment", "shipment %s is not in the scope of this key",
			    q->key);
		goto done;
	}
	resp.body_case = CUSTODY__RESPONSE__BODY_SHIPMENT;
	resp.shipment = &out;
	req_reply(q->req, &resp);
done:
	if (p.event != NULL)
		custody__event__free_unpacked(p.event, NULL);
	slots_free(&p.items);
}

void h_shipment(struct req *req, const Custody__Request *msg)
{
	const ProtobufCBinaryData *id = &msg->shipment->event_id;
	char hex[2 * REPORT_ID_BYTES + 1];
	struct db_job *job;

	if (id->len != REPORT_ID_BYTES) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "event_id: the 32-byte id of a SHIP or RMA_OUT event is required");
		return;
	}
	codec_hex_encode(id->data, id->len, hex, sizeof(hex));
	job = query_job(req, on_shipment, hex, 0);
	if (job == NULL)
		return;
	db_job_add(job, SQL_SHIPMENT_EVENT);
	db_param_bytes(job, id->data, id->len);
	db_job_add(job, SQL_SHIPMENT_ITEMS);
	db_param_bytes(job, id->data, id->len);
	query_submit(job);
}
