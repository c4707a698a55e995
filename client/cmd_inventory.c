/*
 * cmd_inventory.c - "inventory --facility F | --country CC": what is on
 * hand at a facility or in a country. Prints the counts by kind and
 * status, the totals (with TPP in H100 equivalents, the unit export
 * thresholds are usually discussed in), and with --devices one page of
 * the devices themselves.
 */
#include <stdio.h>

#include "cmd.h"
#include "enums.h"
#include "out.h"

#define MAX_PAGE_SIZE 10000
/* Total processing performance of one H100 (TPP = 2 x MacTOPS x bits). */
#define H100_TPP 15832.0

struct inventory_opts {
	const char *facility, *country, *after;
	uint64_t limit;
	bool devices;
};

static const struct option inventory_opts[] = {
    {"facility", required_argument, NULL, 'f'}, {"country", required_argument, NULL, 'c'},
    {"devices", no_argument, NULL, 'd'},	{"limit", required_argument, NULL, 'l'},
    {"after", required_argument, NULL, 'a'},	{NULL, 0, NULL, 0},
};

/* Parses argv (borrowed) into o, whose strings then point into argv. */
static int parse_opts(struct ctl *ctl, int argc, char **argv, struct inventory_opts *o)
{
	int c, rc = CU_OK;

	while (rc == CU_OK && (c = getopt_long(argc, argv, ":", inventory_opts, NULL)) != -1) {
		if (c == 'f')
			o->facility = optarg;
		else if (c == 'c')
			o->country = ctl_upper(optarg);
		else if (c == 'd')
			o->devices = true;
		else if (c == 'l')
			rc = ctl_parse_uint(ctl, "--limit", optarg, 1, MAX_PAGE_SIZE, &o->limit);
		else if (c == 'a')
			o->after = optarg;
		else
			rc = ctl_bad_option(ctl, inventory_opts, argv, c);
	}
	if (rc != CU_OK)
		return rc;
	if ((o->facility == NULL) == (o->country == NULL))
		return ctl_usage_error(ctl, "inventory: give either --facility F or --country CC");
	if (!o->devices && (o->limit != 0 || o->after != NULL))
		return ctl_usage_error(ctl, "inventory: --limit and --after page --devices");
	if (optind < argc)
		return ctl_usage_error(ctl, "inventory: unexpected argument \"%s\"", argv[optind]);
	return CU_OK;
}

/* Prints the query o and its answer r (both borrowed) as one JSON document. */
static void print_json(const struct inventory_opts *o, const Custody__InventoryResult *r)
{
	struct out_json j;

	out_json_init(&j, stdout);
	out_json_begin_object(&j);
	out_json_kstr(&j, "facility", o->facility);
	out_json_kstr(&j, "country", o->country);
	out_json_key(&j, "counts");
	out_json_begin_array(&j);
	for (size_t i = 0; i < r->n_counts; i++) {
		out_json_begin_object(&j);
		out_json_kenum(&j, "kind", &custody__device_kind__descriptor, r->counts[i]->kind);
		out_json_kenum(&j, "status", &custody__device_status__descriptor,
			       r->counts[i]->status);
		out_json_kuint(&j, "count", r->counts[i]->count);
		out_json_kuint(&j, "tpp", r->counts[i]->tpp);
		out_json_end_object(&j);
	}
	out_json_end_array(&j);
	out_json_kuint(&j, "total_devices", r->total_devices);
	out_json_kuint(&j, "total_chips", r->total_chips);
	out_json_kuint(&j, "total_tpp", r->total_tpp);
	out_json_key(&j, "h100_equivalents");
	out_json_decimal(&j, (double)r->total_tpp / H100_TPP, 2);
	out_json_key(&j, "devices");
	out_json_begin_array(&j);
	for (size_t i = 0; i < r->n_devices; i++)
		cmd_where_json(&j, r->devices[i]);
	out_json_end_array(&j);
	out_json_kbool(&j, "more", r->more);
	out_json_end_object(&j);
}

/* Prints the counts by kind and status, then the totals. */
static int print_counts(const Custody__InventoryResult *r)
{
	static const char *const headers[] = {"KIND", "STATUS", "COUNT", "TPP"};
	struct out_table *t = NULL;
	char kind[32], status[32], count[24], tpp[24];
	const char *cells[4] = {kind, status, count, tpp};
	int rc = out_table_new(4, headers, &t);

	if (rc != CU_OK)
		return rc;
	out_table_align_right(t, 2);
	out_table_align_right(t, 3);
	for (size_t i = 0; i < r->n_counts; i++) {
		const Custody__InventoryCount *c = r->counts[i];

		snprintf(kind, sizeof(kind), "%s",
			 enum_label(&custody__device_kind__descriptor, c->kind, NULL));
		snprintf(status, sizeof(status), "%s",
			 enum_label(&custody__device_status__descriptor, c->status, NULL));
		snprintf(count, sizeof(count), "%llu", (unsigned long long)c->count);
		snprintf(tpp, sizeof(tpp), "%llu", (unsigned long long)c->tpp);
		out_table_add(t, cells);
	}
	rc = out_table_print(t, stdout);
	out_table_free(t);
	if (rc != CU_OK)
		return rc;
	printf("\ndevices:           %llu\n"
	       "chips on hand:     %llu\n"
	       "total TPP:         %llu\n"
	       "H100 equivalents:  %.2f\n",
	       (unsigned long long)r->total_devices, (unsigned long long)r->total_chips,
	       (unsigned long long)r->total_tpp, (double)r->total_tpp / H100_TPP);
	return CU_OK;
}

/* Prints the page of devices and how to get the next one. */
static int print_devices(const Custody__InventoryResult *r)
{
	static const char *const headers[] = {"SERIAL", "KIND",	    "MODEL",
					      "STATUS", "FACILITY", "CONTAINER"};
	struct out_table *t = NULL;
	char kind[32], status[32];
	int rc = out_table_new(6, headers, &t);

	if (rc != CU_OK)
		return rc;
	for (size_t i = 0; i < r->n_devices; i++) {
		const Custody__DeviceState *d = r->devices[i];
		const char *cells[6] = {d->serial,   kind,
					d->model,    status,
					d->facility, d->container[0] != '\0' ? d->container : "-"};

		snprintf(kind, sizeof(kind), "%s",
			 enum_label(&custody__device_kind__descriptor, d->kind, NULL));
		snprintf(status, sizeof(status), "%s",
			 enum_label(&custody__device_status__descriptor, d->status, NULL));
		out_table_add(t, cells);
	}
	putchar('\n');
	rc = out_table_print(t, stdout);
	out_table_free(t);
	if (rc == CU_OK && r->more && r->n_devices > 0)
		printf("(more: --after %s)\n", r->devices[r->n_devices - 1]->serial);
	return rc;
}

int cmd_inventory(struct ctl *ctl, int argc, char **argv)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__InventoryRequest inv = CUSTODY__INVENTORY_REQUEST__INIT;
	Custody__Response *resp = NULL;
	struct inventory_opts o = {0};
	int rc = parse_opts(ctl, argc, argv, &o);

	if (rc != CU_OK)
		return rc;
	if (o.facility != NULL)
		inv.facility = (char *)o.facility;
	if (o.country != NULL)
		inv.country = (char *)o.country;
	if (o.after != NULL)
		inv.after_serial = (char *)o.after;
	inv.list_devices = o.devices;
	inv.limit = (uint32_t)o.limit;
	req.body_case = CUSTODY__REQUEST__BODY_INVENTORY;
	req.inventory = &inv;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_INVENTORY, &resp);
	if (rc != CU_OK)
		return rc;
	if (ctl->json)
		print_json(&o, resp->inventory);
	else if (print_counts(resp->inventory) != CU_OK ||
		 (o.devices && print_devices(resp->inventory) != CU_OK))
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	custody__response__free_unpacked(resp, NULL);
	return rc;
}
