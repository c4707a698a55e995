/*
 * cmd_where.c - "where SERIAL": the current state of one device as the
 * server derives it from the events (WhereRequest -> DeviceState), as a
 * key/value block or JSON. cmd_where_json is shared with inventory.
 */
#include <stdio.h>

#include "cmd.h"
#include "enums.h"
#include "out.h"

void cmd_where_json(struct out_json *j, const Custody__DeviceState *d)
{
	out_json_begin_object(j);
	out_json_kstr(j, "serial", d->serial);
	out_json_kenum(j, "kind", &custody__device_kind__descriptor, d->kind);
	out_json_kstr(j, "model", d->model);
	out_json_kstr(j, "eccn_class", d->eccn_class);
	out_json_kuint(j, "tpp", d->tpp);
	out_json_kstr(j, "owner", d->owner);
	out_json_kstr(j, "custodian", d->custodian);
	out_json_kenum(j, "status", &custody__device_status__descriptor, d->status);
	out_json_kstr(j, "facility", d->facility);
	out_json_kstr(j, "facility_name", d->facility_name);
	out_json_kstr(j, "country", d->country);
	out_json_kstr(j, "destination", d->destination);
	out_json_kstr(j, "container", d->container);
	out_json_kstr(j, "location", d->location);
	out_json_kid(j, "head", &d->head);
	out_json_kuint(j, "head_seq", d->head_seq);
	out_json_kid(j, "last_event", &d->last_event);
	out_json_kuint(j, "last_seq", d->last_seq);
	out_json_kenum(j, "last_type", &custody__event_type__descriptor, d->last_type);
	out_json_ktime(j, "last_at", d->last_at_ms);
	out_json_kstr(j, "last_via", d->last_via);
	out_json_khex(j, "device_key", &d->device_key);
	out_json_kuint(j, "contents_count", d->contents_count);
	out_json_kuint(j, "contents_tpp", d->contents_tpp);
	out_json_ktime(j, "registered_at", d->registered_at_ms);
	out_json_end_object(j);
}

/* Adds the identity rows: what the device is and who holds it. */
static void add_identity(struct out_table *t, const Custody__DeviceState *d)
{
	out_table_kv(t, "serial", "%s", d->serial);
	out_table_kv(t, "kind", "%s", enum_label(&custody__device_kind__descriptor, d->kind, NULL));
	out_table_kv(t, "model", "%s", d->model[0] != '\0' ? d->model : "-");
	out_table_kv(t, "eccn class", "%s", d->eccn_class[0] != '\0' ? d->eccn_class : "-");
	out_table_kv(t, "tpp", "%llu", (unsigned long long)d->tpp);
	out_table_kv(t, "status", "%s",
		     enum_label(&custody__device_status__descriptor, d->status, NULL));
	out_table_kv(t, "facility", "%s (%s, %s)", d->facility[0] != '\0' ? d->facility : "-",
		     d->facility_name[0] != '\0' ? d->facility_name : "?",
		     d->country[0] != '\0' ? d->country : "?");
	if (d->destination[0] != '\0')
		out_table_kv(t, "destination", "%s", d->destination);
	out_table_kv(t, "container", "%s", d->container[0] != '\0' ? d->container : "-");
	out_table_kv(t, "location", "%s", d->location[0] != '\0' ? d->location : "-");
	out_table_kv(t, "custodian", "%s", d->custodian[0] != '\0' ? d->custodian : "-");
	out_table_kv(t, "owner", "%s", d->owner[0] != '\0' ? d->owner : "-");
}

/* Adds contents, last event, head and the rest. */
static void add_record(struct out_table *t, const Custody__DeviceState *d)
{
	char when[CODEC_TIME_MAX], id[OUT_ID_TEXT], via[128] = "";

	if (d->contents_count > 0 || d->kind > CUSTODY__DEVICE_KIND__CHIP)
		out_table_kv(t, "contents", "%llu devices, tpp %llu",
			     (unsigned long long)d->contents_count,
			     (unsigned long long)d->contents_tpp);
	if (d->last_via[0] != '\0')
		snprintf(via, sizeof(via), " via %s", d->last_via);
	out_table_kv(t, "last event", "%s at %s%s (seq %llu, %s)",
		     enum_name(&custody__event_type__descriptor, d->last_type),
		     out_time(d->last_at_ms, when), via, (unsigned long long)d->last_seq,
		     out_short_id(&d->last_event, id));
	out_table_kv(t, "head", "%s (seq %llu)", out_id(&d->head, id),
		     (unsigned long long)d->head_seq);
	out_table_kv(t, "registered", "%s", out_time(d->registered_at_ms, when));
	if (d->device_key.len != 0)
		out_table_kv(t, "device key", "%s", out_id(&d->device_key, id));
}

/* Prints d as a key/value block. */
static int print_human(const Custody__DeviceState *d)
{
	struct out_table *t = NULL;
	int rc = out_table_new(2, NULL, &t);

	if (rc != CU_OK)
		return rc;
	add_identity(t, d);
	add_record(t, d);
	rc = out_table_print(t, stdout);
	out_table_free(t);
	return rc;
}

int cmd_where(struct ctl *ctl, int argc, char **argv)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__WhereRequest where = CUSTODY__WHERE_REQUEST__INIT;
	Custody__Response *resp = NULL;
	struct out_json j;
	int first = 0;
	int rc = ctl_parse_positional(ctl, argc, argv, 1, 1, &first);

	if (rc != CU_OK)
		return rc;
	where.serial = argv[first];
	req.body_case = CUSTODY__REQUEST__BODY_WHERE;
	req.where = &where;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_WHERE, &resp);
	if (rc != CU_OK)
		return rc;
	if (ctl->json) {
		out_json_init(&j, stdout);
		cmd_where_json(&j, resp->where);
	} else if (print_human(resp->where) != CU_OK) {
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	}
	custody__response__free_unpacked(resp, NULL);
	return rc;
}
