/*
 * epcis_write.c - custody events as EPCIS 2.0 JSON-LD events (epcis.h).
 *
 * Every field of the signed Event is written, in an EPCIS field where one
 * means the same and in a "custody:" extension member otherwise, so
 * epcis_read gives back the same Event (tests/unit/test_epcis.c checks
 * that byte for byte, actor and prev aside, which import fills in). A
 * stored event also carries its signed body, signer and signature, so an
 * exported document can be checked without the server.
 */
#include "epcis.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "enums.h"

void epcis_write_begin(struct out_json *j, int64_t now_ms)
{
	out_json_begin_object(j);
	out_json_key(j, "@context");
	out_json_begin_array(j);
	out_json_string(j, EPCIS_CONTEXT);
	out_json_begin_object(j);
	out_json_kstr(j, "custody", EPCIS_NS);
	out_json_end_object(j);
	out_json_end_array(j);
	out_json_kstr(j, "type", "EPCISDocument");
	out_json_kstr(j, "schemaVersion", "2.0");
	out_json_ktime(j, "creationDate", now_ms);
	out_json_key(j, "epcisBody");
	out_json_begin_object(j);
	out_json_key(j, "eventList");
	out_json_begin_array(j);
}

void epcis_write_end(struct out_json *j)
{
	out_json_end_array(j);
	out_json_end_object(j);
	out_json_end_object(j);
}

/* key: the URI of prefix + id. */
static void kuri(struct out_json *j, const char *key, const char *prefix, const char *id)
{
	char uri[EPCIS_URI_MAX];

	out_json_kstr(j, key, epcis_uri(uri, prefix, id));
}

static void device_uri(struct out_json *j, const char *serial)
{
	char uri[EPCIS_URI_MAX];

	out_json_string(j, epcis_uri(uri, EPCIS_DEVICE_PREFIX, serial));
}

/* key: an array of the devices' URIs. */
static void device_list(struct out_json *j, const char *key, Custody__DeviceRef *const *refs,
			size_t n)
{
	out_json_key(j, key);
	out_json_begin_array(j);
	for (size_t i = 0; i < n; i++)
		device_uri(j, refs[i]->serial);
	out_json_end_array(j);
}

/* One {"type": type, key: uri} element of a source or destination list. */
static void source_dest(struct out_json *j, const char *type, const char *key, const char *prefix,
			const char *id)
{
	out_json_begin_object(j);
	out_json_kstr(j, "type", type);
	kuri(j, key, prefix, id);
	out_json_end_object(j);
}

/* sourceList and destinationList of a SHIP or RMA_OUT. */
static void write_move_lists(struct out_json *j, const Custody__Event *ev)
{
	out_json_key(j, "sourceList");
	out_json_begin_array(j);
	if (ev->actor[0] != '\0') {
		source_dest(j, "owning_party", "source", EPCIS_PARTY_PREFIX, ev->actor);
		source_dest(j, "possessing_party", "source", EPCIS_PARTY_PREFIX, ev->actor);
	}
	if (ev->facility[0] != '\0')
		source_dest(j, "location", "source", EPCIS_FACILITY_PREFIX, ev->facility);
	out_json_end_array(j);
	out_json_key(j, "destinationList");
	out_json_begin_array(j);
	if (ev->consignee[0] != '\0') {
		source_dest(j, "owning_party", "destination", EPCIS_PARTY_PREFIX, ev->consignee);
		source_dest(j, "possessing_party", "destination", EPCIS_PARTY_PREFIX,
			    ev->consignee);
	}
	if (ev->to_facility[0] != '\0')
		source_dest(j, "location", "destination", EPCIS_FACILITY_PREFIX, ev->to_facility);
	out_json_end_array(j);
}

/* Do all devices of a REGISTER share kind and model, without device keys? */
static bool uniform_devices(const Custody__Event *ev)
{
	for (size_t i = 0; i < ev->n_devices; i++) {
		const Custody__DeviceRef *d = ev->devices[i];

		if (d->device_key.len != 0 || d->kind != ev->devices[0]->kind ||
		    strcmp(d->model, ev->devices[0]->model) != 0)
			return false;
	}
	return true;
}

/*
 * The master data of a REGISTER: kind and model for all devices, or per
 * device when they differ or carry device keys.
 */
static void write_ilmd(struct out_json *j, const Custody__Event *ev)
{
	if (ev->n_devices == 0)
		return;
	out_json_key(j, "ilmd");
	out_json_begin_object(j);
	if (uniform_devices(ev)) {
		out_json_kenum(j, "custody:kind", &custody__device_kind__descriptor,
			       ev->devices[0]->kind);
		out_json_kstr(j, "custody:model", ev->devices[0]->model);
		out_json_end_object(j);
		return;
	}
	out_json_key(j, "custody:devices");
	out_json_begin_array(j);
	for (size_t i = 0; i < ev->n_devices; i++) {
		const Custody__DeviceRef *d = ev->devices[i];

		out_json_begin_object(j);
		kuri(j, "id", EPCIS_DEVICE_PREFIX, d->serial);
		out_json_kenum(j, "kind", &custody__device_kind__descriptor, d->kind);
		out_json_kstr(j, "model", d->model);
		if (d->device_key.len != 0)
			out_json_khex(j, "deviceKey", &d->device_key);
		out_json_end_object(j);
	}
	out_json_end_array(j);
	out_json_end_object(j);
}

/* key: s, only when s is set. */
static void kstr_set(struct out_json *j, const char *key, const char *s)
{
	if (s != NULL && s[0] != '\0')
		out_json_kstr(j, key, s);
}

/* The custody: members for fields EPCIS has no place for. */
static void write_extensions(struct out_json *j, const Custody__Event *ev)
{
	out_json_kenum(j, "custody:type", &custody__event_type__descriptor, ev->type);
	kstr_set(j, "custody:actor", ev->actor);
	kstr_set(j, "custody:location", ev->location);
	kstr_set(j, "custody:carrier", ev->carrier);
	kstr_set(j, "custody:license", ev->license);
	kstr_set(j, "custody:note", ev->note);
	if (ev->deadline_ms != 0)
		out_json_ktime(j, "custody:deadline", ev->deadline_ms);
	if (ev->reason != CUSTODY__REPORT_REASON__REPORT_REASON_UNSPECIFIED)
		out_json_kenum(j, "custody:reason", &custody__report_reason__descriptor,
			       ev->reason);
	if (ev->type == CUSTODY__EVENT_TYPE__ATTEST) {
		out_json_key(j, "custody:reportedContents");
		out_json_begin_array(j);
		for (size_t i = 0; i < ev->n_reported_contents; i++)
			device_uri(j, ev->reported_contents[i]);
		out_json_end_array(j);
	}
}

/* What the server stored: sequence number, signer, signature, signed body. */
static void write_record(struct out_json *j, const struct epcis_record *rec)
{
	const ProtobufCBinaryData *body = &rec->envelope->body;
	size_t b64_size = CODEC_B64_SIZE(body->len);
	char *b64 = malloc(b64_size);

	out_json_kuint(j, "custody:seq", rec->seq);
	out_json_khex(j, "custody:signer", &rec->envelope->signer);
	out_json_khex(j, "custody:signature", &rec->envelope->sig);
	out_json_key(j, "custody:body");
	if (b64 != NULL) {
		codec_b64_encode(body->data, body->len, b64, b64_size);
		out_json_string(j, b64);
		free(b64);
	} else {
		out_json_null(j); /* out of memory: the document stays well-formed */
	}
}

/* The EPCIS fields that say where it happened. */
static void write_where(struct out_json *j, const Custody__Event *ev, bool moving)
{
	if (ev->facility[0] != '\0') {
		out_json_key(j, "readPoint");
		out_json_begin_object(j);
		kuri(j, "id", EPCIS_FACILITY_PREFIX, ev->facility);
		out_json_end_object(j);
		/* A shipment leaves its business location: it has none until received. */
		if (!moving) {
			out_json_key(j, "bizLocation");
			out_json_begin_object(j);
			kuri(j, "id", EPCIS_FACILITY_PREFIX, ev->facility);
			out_json_end_object(j);
		}
	}
	if (moving)
		write_move_lists(j, ev);
}

void epcis_write_event(struct out_json *j, const Custody__Event *ev, const struct epcis_record *rec)
{
	const struct epcis_step *s = epcis_step_of(ev->type);
	bool moving =
	    ev->type == CUSTODY__EVENT_TYPE__SHIP || ev->type == CUSTODY__EVENT_TYPE__RMA_OUT;
	const char *disposition = s != NULL ? s->disposition : NULL;
	char hex[OUT_ID_TEXT];

	out_json_begin_object(j);
	out_json_kstr(j, "type", s != NULL && s->aggregation ? "AggregationEvent" : "ObjectEvent");
	out_json_ktime(j, "eventTime", ev->occurred_at_ms);
	out_json_kstr(j, "eventTimeZoneOffset", "+00:00");
	if (rec != NULL) {
		out_json_ktime(j, "recordTime", rec->recorded_at_ms);
		kuri(j, "eventID", EPCIS_EVENT_PREFIX, out_id(rec->event_id, hex));
	}
	out_json_kstr(j, "action", s != NULL ? s->action : "OBSERVE");
	if (s != NULL && s->aggregation) {
		if (ev->container != NULL)
			kuri(j, "parentID", EPCIS_DEVICE_PREFIX, ev->container->serial);
		device_list(j, "childEPCs", ev->devices, ev->n_devices);
	} else {
		device_list(j, "epcList", ev->devices, ev->n_devices);
	}
	out_json_kstr(j, "bizStep", s != NULL ? s->biz_step : "other");
	if (ev->type == CUSTODY__EVENT_TYPE__REPORT)
		disposition = epcis_report_disposition(ev->reason);
	if (disposition != NULL)
		out_json_kstr(j, "disposition", disposition);
	write_where(j, ev, moving);
	if (ev->type == CUSTODY__EVENT_TYPE__REGISTER)
		write_ilmd(j, ev);
	write_extensions(j, ev);
	if (rec != NULL)
		write_record(j, rec);
	out_json_end_object(j);
}
