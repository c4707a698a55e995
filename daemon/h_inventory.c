/*
 * h_inventory.c - inventory of a facility or a country: counts and TPP by
 * kind and status, totals of accelerators on hand, and optionally the
 * devices themselves, paged by serial.
 *
 * A device counts where it was last known to be (its facility); in-transit
 * and in-repair devices are counted at the facility they left, with their
 * status saying so. "On hand" means chips STORED or INSTALLED there.
 *
 * Scoped requesters (auth.h) count only what their scope holds: an
 * exporter its own devices, an operator the facilities it operates (a
 * country's inventory counts only those; another party's facility is
 * FORBIDDEN before this handler runs).
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "dispatch.h"
#include "enums.h"
#include "query.h"
#include "validate.h"

#define BY_FACILITY   1 /* query variant; 0 = by country */
#define LIST_PAGE     1000
#define LIST_PAGE_MAX 10000

static bool on_hand(Custody__DeviceKind kind, Custody__DeviceStatus status)
{
	return kind == CUSTODY__DEVICE_KIND__CHIP && (status == CUSTODY__DEVICE_STATUS__STORED ||
						      status == CUSTODY__DEVICE_STATUS__INSTALLED);
}

/* Fills counts and totals from the grouped rows. */
static int fill_counts(Custody__InventoryResult *out, const PGresult *res,
		       Custody__InventoryCount **counts_out)
{
	int rows = PQntuples(res);
	Custody__InventoryCount *counts = calloc((size_t)rows + 1, sizeof(*counts));
	Custody__InventoryCount **ptrs = calloc((size_t)rows + 1, sizeof(*ptrs));

	if (counts == NULL || ptrs == NULL) {
		free(counts);
		free(ptrs);
		return CU_ERR_NOMEM;
	}
	for (int r = 0; r < rows; r++) {
		Custody__InventoryCount *c = &counts[r];

		custody__inventory_count__init(c);
		c->kind = enum_value(&custody__device_kind__descriptor, PQgetvalue(res, r, 0));
		c->status = enum_value(&custody__device_status__descriptor, PQgetvalue(res, r, 1));
		c->count = (uint64_t)db_value_i64(res, r, 2);
		c->tpp = (uint64_t)db_value_i64(res, r, 3);
		out->total_devices += c->count;
		if (on_hand(c->kind, c->status)) {
			out->total_chips += c->count;
			out->total_tpp += c->tpp;
		}
		ptrs[r] = c;
	}
	out->counts = ptrs;
	out->n_counts = (size_t)rows;
	*counts_out = counts;
	return CU_OK;
}

/* Fills the device page (summary fields) from the list rows. */
static int fill_devices(Custody__InventoryResult *out, const PGresult *res, uint32_t limit,
			Custody__DeviceState **devs_out)
{
	int rows = PQntuples(res);
	Custody__DeviceState *devs;
	Custody__DeviceState **ptrs;

	if ((uint32_t)rows > limit) {
		rows = (int)limit;
		out->more = true;
	}
	devs = calloc((size_t)rows + 1, sizeof(*devs));
	ptrs = calloc((size_t)rows + 1, sizeof(*ptrs));
	if (devs == NULL || ptrs == NULL) {
		free(devs);
		free(ptrs);
		return CU_ERR_NOMEM;
	}
	for (int r = 0; r < rows; r++) {
		Custody__DeviceState *d = &devs[r];

		custody__device_state__init(d);
		d->serial = PQgetvalue(res, r, 0);
		d->kind = enum_value(&custody__device_kind__descriptor, PQgetvalue(res, r, 1));
		d->model = PQgetvalue(res, r, 2);
		d->eccn_class = PQgetvalue(res, r, 3);
		d->tpp = (uint64_t)db_value_i64(res, r, 4);
		d->status = enum_value(&custody__device_status__descriptor, PQgetvalue(res, r, 5));
		d->facility = PQgetvalue(res, r, 6);
		d->container = PQgetvalue(res, r, 7);
		d->location = PQgetvalue(res, r, 8);
		ptrs[r] = d;
	}
	out->devices = ptrs;
	out->n_devices = (size_t)rows;
	*devs_out = devs;
	return CU_OK;
}

static void on_inventory(struct query *q, const struct db_job *job)
{
	bool by_facility = q->variant == BY_FACILITY;
	int first = by_facility ? 1 : 0;
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__InventoryResult out = CUSTODY__INVENTORY_RESULT__INIT;
	Custody__InventoryCount *counts = NULL;
	Custody__DeviceState *devs = NULL;

	if (by_facility && PQntuples(db_job_result(job, 0)) == 0) {
		req_fail(q->req, CUSTODY__ERROR_CODE__NOT_FOUND, "facility %s is not registered",
			 q->key);
		return;
	}
	if (fill_counts(&out, db_job_result(job, first), &counts) != CU_OK ||
	    (db_job_size(job) > first + 1 &&
	     fill_devices(&out, db_job_result(job, first + 1), q->limit, &devs) != CU_OK)) {
		req_fail(q->req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		goto done;
	}
	resp.body_case = CUSTODY__RESPONSE__BODY_INVENTORY;
	resp.inventory = &out;
	req_reply(q->req, &resp);
done:
	free(counts);
	free(out.counts);
	free(devs);
	free(out.devices);
}

void h_inventory(struct req *req, const Custody__Request *msg)
{
	const Custody__InventoryRequest *in = msg->inventory;
	bool by_facility = in->facility[0] != '\0';
	uint32_t limit = query_limit(in->limit, LIST_PAGE, LIST_PAGE_MAX);
	struct auth_id id;
	struct auth_filters scope;
	struct db_job *job;

	if (by_facility == (in->country[0] != '\0')) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "give exactly one of facility and country");
		return;
	}
	if (by_facility ? !validate_ident(in->facility) : !validate_country(in->country)) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "%s",
			 by_facility ? "facility: not a valid id"
				     : "country: ISO 3166 alpha-2 code required (e.g. JP)");
		return;
	}
	if (in->after_serial[0] != '\0' && !validate_serial(in->after_serial)) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "after_serial: not a valid serial");
		return;
	}
	if (auth_whoami(req, &id) != CU_OK)
		return;
	auth_list_filters(&id, &scope);
	job = query_job(req, on_inventory, by_facility ? in->facility : in->country, limit);
	if (job == NULL)
		return;
	query_of(job)->variant = by_facility ? BY_FACILITY : 0;
	if (by_facility) {
		db_job_add(job, SQL_FACILITY_EXISTS);
		db_param_text(job, in->facility);
	}
	db_job_add(job, by_facility ? SQL_INVENTORY_FACILITY : SQL_INVENTORY_COUNTRY);
	db_param_text(job, by_facility ? in->facility : in->country);
	db_param_text(job, scope.owner);
	db_param_text(job, scope.operator_);
	if (in->list_devices) {
		db_job_add(job, by_facility ? SQL_LIST_FACILITY : SQL_LIST_COUNTRY);
		db_param_text(job, by_facility ? in->facility : in->country);
		db_param_text(job, in->after_serial);
		db_param_i64(job, (int64_t)limit + 1);
		db_param_text(job, scope.owner);
		db_param_text(job, scope.operator_);
	}
	query_submit(job);
}
