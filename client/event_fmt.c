/*
 * event_fmt.c - showing custody events (see event_fmt.h).
 *
 * Events printed here may come from the server (history), so nothing is
 * assumed about them: a missing container, odd enum values or ids of the
 * wrong length are shown as such, never dereferenced blindly.
 */
#include "event_fmt.h"

#include <string.h>

#include "enums.h"

/* Writes the device reference d (borrowed) as a JSON object. */
static void json_device_ref(struct out_json *j, const Custody__DeviceRef *d)
{
	out_json_begin_object(j);
	out_json_kstr(j, "serial", d->serial);
	out_json_kid(j, "prev", &d->prev);
	out_json_kenum_or_null(j, "kind", &custody__device_kind__descriptor, d->kind);
	out_json_kstr(j, "model", d->model);
	out_json_khex(j, "device_key", &d->device_key);
	out_json_end_object(j);
}

void event_fmt_json(struct out_json *j, const Custody__Event *ev)
{
	out_json_begin_object(j);
	out_json_kenum(j, "type", &custody__event_type__descriptor, ev->type);
	out_json_kstr(j, "actor", ev->actor);
	out_json_ktime(j, "occurred_at", ev->occurred_at_ms);
	out_json_kstr(j, "facility", ev->facility);
	out_json_key(j, "devices");
	out_json_begin_array(j);
	for (size_t i = 0; i < ev->n_devices; i++)
		json_device_ref(j, ev->devices[i]);
	out_json_end_array(j);
	out_json_key(j, "container");
	if (ev->container != NULL)
		json_device_ref(j, ev->container);
	else
		out_json_null(j);
	out_json_kstr(j, "to_facility", ev->to_facility);
	out_json_kstr(j, "consignee", ev->consignee);
	out_json_kstr(j, "carrier", ev->carrier);
	out_json_ktime(j, "deadline", ev->deadline_ms);
	out_json_kstr(j, "location", ev->location);
	out_json_kenum_or_null(j, "reason", &custody__report_reason__descriptor, ev->reason);
	out_json_kstr(j, "note", ev->note);
	out_json_key(j, "reported_contents");
	out_json_begin_array(j);
	for (size_t i = 0; i < ev->n_reported_contents; i++)
		out_json_string(j, ev->reported_contents[i]);
	out_json_end_array(j);
	out_json_end_object(j);
}

/* Adds the reported contents of an ATTEST as one "a, b, c" row. */
static void add_contents(struct out_table *t, const Custody__Event *ev)
{
	char list[1024];
	size_t used = 0;

	list[0] = '\0';
	for (size_t i = 0; i < ev->n_reported_contents && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
					 i > 0 ? ", " : "", ev->reported_contents[i]);
	out_table_kv(t, "contents", "%zu: %s", ev->n_reported_contents, list);
}

/* Adds the optional fields of ev that are set to the key/value table t. */
static void add_optional_fields(struct out_table *t, const Custody__Event *ev)
{
	char when[CODEC_TIME_MAX], id[OUT_ID_TEXT];

	if (ev->facility[0] != '\0')
		out_table_kv(t, "facility", "%s", ev->facility);
	if (ev->container != NULL)
		out_table_kv(t, "container", "%s (prev %s)", ev->container->serial,
			     out_id(&ev->container->prev, id));
	if (ev->to_facility[0] != '\0')
		out_table_kv(t, "to facility", "%s", ev->to_facility);
	if (ev->consignee[0] != '\0')
		out_table_kv(t, "consignee", "%s", ev->consignee);
	if (ev->carrier[0] != '\0')
		out_table_kv(t, "carrier", "%s", ev->carrier);
	if (ev->deadline_ms != 0)
		out_table_kv(t, "deadline", "%s", out_time(ev->deadline_ms, when));
	if (ev->location[0] != '\0')
		out_table_kv(t, "location", "%s", ev->location);
	if (ev->reason != 0)
		out_table_kv(
		    t, "reason", "%s",
		    enum_label(&custody__report_reason__descriptor, ev->reason, "REPORT_"));
	if (ev->note[0] != '\0')
		out_table_kv(t, "note", "%s", ev->note);
	if (ev->n_reported_contents > 0)
		add_contents(t, ev);
}

/* Prints the devices of ev as a table (with kind and model for REGISTER). */
static int print_devices(const Custody__Event *ev, FILE *f)
{
	static const char *const headers[] = {"SERIAL", "PREV", "KIND", "MODEL", "DEVICE KEY"};
	bool registering = ev->type == CUSTODY__EVENT_TYPE__REGISTER;
	struct out_table *t = NULL;
	char prev[OUT_ID_TEXT], key[OUT_ID_TEXT], kind[32];
	int rc = out_table_new(registering ? 5 : 2, headers, &t);

	if (rc != CU_OK)
		return rc;
	for (size_t i = 0; i < ev->n_devices; i++) {
		const Custody__DeviceRef *d = ev->devices[i];
		const char *cells[5] = {d->serial, out_id(&d->prev, prev), kind, d->model,
					out_id(&d->device_key, key)};

		snprintf(kind, sizeof(kind), "%s",
			 enum_label(&custody__device_kind__descriptor, d->kind, NULL));
		out_table_add(t, cells);
	}
	rc = out_table_print(t, f);
	out_table_free(t);
	return rc;
}

int event_fmt_print(const Custody__Event *ev, FILE *f)
{
	struct out_table *t = NULL;
	char when[CODEC_TIME_MAX];
	int rc = out_table_new(2, NULL, &t);

	if (rc != CU_OK)
		return rc;
	out_table_kv(t, "type", "%s", enum_name(&custody__event_type__descriptor, ev->type));
	out_table_kv(t, "actor", "%s", ev->actor);
	out_table_kv(t, "occurred at", "%s", out_time(ev->occurred_at_ms, when));
	add_optional_fields(t, ev);
	rc = out_table_print(t, f);
	out_table_free(t);
	if (rc != CU_OK)
		return rc;
	fputc('\n', f);
	return print_devices(ev, f);
}

/* The device reference of ev for serial, or NULL. */
static const Custody__DeviceRef *find_ref(const Custody__Event *ev, const char *serial)
{
	for (size_t i = 0; i < ev->n_devices; i++) {
		if (strcmp(ev->devices[i]->serial, serial) == 0)
			return ev->devices[i];
	}
	return NULL;
}

/* Detail of a PACK or UNPACK, seen from an item or from the container. */
static void pack_detail(const Custody__Event *ev, const char *serial, char *out, size_t size)
{
	bool pack = ev->type == CUSTODY__EVENT_TYPE__PACK;

	if (ev->container == NULL)
		snprintf(out, size, "(no container)");
	else if (strcmp(ev->container->serial, serial) == 0)
		snprintf(out, size, "%s %zu device%s", pack ? "takes in" : "gives out",
			 ev->n_devices, ev->n_devices == 1 ? "" : "s");
	else
		snprintf(out, size, "%s %s", pack ? "into" : "out of", ev->container->serial);
}

void event_fmt_detail(const Custody__Event *ev, const char *serial, char *out, size_t size)
{
	const Custody__DeviceRef *ref;

	out[0] = '\0';
	switch (ev->type) {
	case CUSTODY__EVENT_TYPE__REGISTER:
		ref = find_ref(ev, serial);
		if (ref != NULL)
			snprintf(out, size, "%s %s",
				 enum_label(&custody__device_kind__descriptor, ref->kind, NULL),
				 ref->model);
		break;
	case CUSTODY__EVENT_TYPE__PACK:
	case CUSTODY__EVENT_TYPE__UNPACK:
		pack_detail(ev, serial, out, size);
		break;
	case CUSTODY__EVENT_TYPE__SHIP:
	case CUSTODY__EVENT_TYPE__RMA_OUT:
		snprintf(out, size, "→ %s", ev->to_facility);
		break;
	case CUSTODY__EVENT_TYPE__INSTALL:
	case CUSTODY__EVENT_TYPE__REMOVE:
	case CUSTODY__EVENT_TYPE__MOVE:
		snprintf(out, size, "%s", ev->location);
		break;
	case CUSTODY__EVENT_TYPE__ATTEST:
		if (ev->n_reported_contents > 0)
			snprintf(out, size, "reports %zu inside", ev->n_reported_contents);
		break;
	case CUSTODY__EVENT_TYPE__REPORT:
		snprintf(out, size, "%s",
			 enum_label(&custody__report_reason__descriptor, ev->reason, "REPORT_"));
		break;
	default:
		break;
	}
}
