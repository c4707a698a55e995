/*
 * epcis_read.c - an EPCIS 2.0 JSON-LD document read into custody events
 * (epcis.h).
 *
 * The document is untrusted: it is parsed by proto/json.c within limits,
 * every identifier must be one of our URIs naming a valid serial, facility
 * or party, every event must map to exactly one custody event type, and
 * any problem fails the whole document with the event's position and
 * eventID, so import submits nothing from a document it cannot take
 * whole. Fields EPCIS has that custody has not (quantities, sensor data,
 * business transactions, the parties of a source list) are ignored, as
 * docs/epcis.md says.
 *
 * The Events point into the parsed tree (strings) and into blocks the doc
 * owns (arrays, device keys), so they live exactly as long as the doc.
 */
#include "epcis.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "enums.h"
#include "json.h"
#include "validate.h"

#define JSON_DEPTH    64
#define JSON_SLACK    (1u << 20)
#define QUOTE_MAX     96 /* bytes of a document value quoted in a message */
#define ERR_WHERE_MAX 160

struct epcis_doc {
	struct json_doc *json;
	size_t n;
	Custody__Event *events;
	const char **names;
	void **blocks; /* everything else allocated for the events */
	size_t n_blocks, cap_blocks;
};

/* State while reading one event. */
struct reader {
	struct epcis_doc *doc;
	const struct json_value *ev; /* the EPCIS event object */
	char where[ERR_WHERE_MAX];   /* "event 3 (urn:...)" */
	char *err;
	size_t err_size;
};

static int fail(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes "WHERE: message" into r->err; returns CU_ERR_INVALID. */
static int fail(struct reader *r, const char *fmt, ...)
{
	char msg[VALIDATE_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(r->err, r->err_size, "%s: %s", r->where, msg);
	return CU_ERR_INVALID;
}

/* A document value made safe and short for a message, in out (the caller's). */
static const char *quote(const char *s, char out[QUOTE_MAX])
{
	return out_safe(s, out, QUOTE_MAX);
}

/* A zeroed block of n * size bytes that doc frees; NULL when out of memory. */
static void *doc_alloc(struct epcis_doc *doc, size_t n, size_t size)
{
	void *p;

	if (doc->n_blocks == doc->cap_blocks) {
		size_t cap = doc->cap_blocks ? 2 * doc->cap_blocks : 64;
		void **v = realloc(doc->blocks, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		doc->blocks = v;
		doc->cap_blocks = cap;
	}
	p = calloc(n > 0 ? n : 1, size);
	if (p != NULL)
		doc->blocks[doc->n_blocks++] = p;
	return p;
}

/* The string member key of obj, or NULL; a member of another type fails. */
static int get_string(struct reader *r, const struct json_value *obj, const char *key,
		      const char **out)
{
	const struct json_value *v = json_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return CU_OK;
	if (v->type != JSON_STRING)
		return fail(r, "%s must be a string, not %s", key, json_type_name(v->type));
	*out = v->u.str;
	return CU_OK;
}

/* Like get_string, but the member must be there. */
static int need_string(struct reader *r, const struct json_value *obj, const char *key,
		       const char **out)
{
	int rc = get_string(r, obj, key, out);

	if (rc == CU_OK && *out == NULL)
		return fail(r, "%s is missing", key);
	return rc;
}

/*
 * The id in uri after prefix, checked as a serial (serial true) or as a
 * party or facility id. what names the field in messages.
 */
static int uri_id(struct reader *r, const char *uri, const char *prefix, bool serial,
		  const char *what, const char **id)
{
	size_t n = strlen(prefix);
	char q[QUOTE_MAX];

	if (strncmp(uri, prefix, n) != 0)
		return fail(r, "%s \"%s\" is not a %s...%s URI", what, quote(uri, q), prefix,
			    serial ? "SERIAL" : "ID");
	*id = uri + n;
	if (serial ? !validate_serial(*id) : !validate_ident(*id))
		return fail(r, "%s \"%s\": not a valid %s", what, quote(uri, q),
			    serial ? "device serial" : "id");
	return CU_OK;
}

/* The facility of {"id": URI} member key of the event, or NULL if absent. */
static int location_member(struct reader *r, const char *key, const char **facility)
{
	const struct json_value *v = json_get(r->ev, key);
	const char *uri;

	*facility = NULL;
	if (v == NULL)
		return CU_OK;
	if (v->type != JSON_OBJECT)
		return fail(r, "%s must be an object", key);
	if (need_string(r, v, "id", &uri) != CU_OK)
		return CU_ERR_INVALID;
	return uri_id(r, uri, EPCIS_FACILITY_PREFIX, false, key, facility);
}

/* Keeps *have, or takes next; two different facilities fail. */
static int agree(struct reader *r, const char **have, const char *next, const char *what)
{
	if (next == NULL)
		return CU_OK;
	if (*have != NULL && strcmp(*have, next) != 0)
		return fail(r, "%s names facility %s, but the event happens at %s", what, next,
			    *have);
	*have = next;
	return CU_OK;
}

/* Device refs for the array member key (device URIs); n_min items at least. */
static int device_refs(struct reader *r, const char *key, size_t n_min, Custody__DeviceRef ***out,
		       size_t *n_out)
{
	const struct json_value *v = json_get(r->ev, key);
	Custody__DeviceRef *refs, **ptrs;

	if (v == NULL || v->type != JSON_ARRAY)
		return fail(r, "%s must be an array of device URIs", key);
	if (v->len < n_min || v->len > VALIDATE_MAX_DEVICES)
		return fail(r, "%s must hold %zu to %d devices, not %zu", key, n_min,
			    VALIDATE_MAX_DEVICES, v->len);
	refs = doc_alloc(r->doc, v->len, sizeof(*refs));
	ptrs = doc_alloc(r->doc, v->len, sizeof(*ptrs));
	if (refs == NULL || ptrs == NULL)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < v->len; i++) {
		const struct json_value *it = &v->u.items[i];

		custody__device_ref__init(&refs[i]);
		if (it->type != JSON_STRING)
			return fail(r, "%s[%zu] must be a string", key, i);
		if (uri_id(r, it->u.str, EPCIS_DEVICE_PREFIX, true, key,
			   (const char **)&refs[i].serial) != CU_OK)
			return CU_ERR_INVALID;
		ptrs[i] = &refs[i];
	}
	*out = ptrs;
	*n_out = v->len;
	return CU_OK;
}

/* Which custody event type the EPCIS event is. */
static int pick_step(struct reader *r, bool aggregation, const struct epcis_step **out)
{
	const char *biz_raw, *disp_raw, *type_name, *action, *biz, *disp;
	const struct epcis_step *last = NULL, *by_disposition = NULL;
	size_t matches = 0;
	char q[QUOTE_MAX];
	int type;

	if (need_string(r, r->ev, "bizStep", &biz_raw) != CU_OK ||
	    need_string(r, r->ev, "action", &action) != CU_OK ||
	    get_string(r, r->ev, "disposition", &disp_raw) != CU_OK ||
	    get_string(r, r->ev, "custody:type", &type_name) != CU_OK)
		return CU_ERR_INVALID;
	biz = epcis_cbv_word(biz_raw, "bizstep");
	disp = disp_raw != NULL ? epcis_cbv_word(disp_raw, "disp") : "";
	if (type_name != NULL) {
		if (enum_parse(&custody__event_type__descriptor, type_name, NULL, &type) != CU_OK ||
		    (*out = epcis_step_of((Custody__EventType)type)) == NULL)
			return fail(r, "custody:type \"%s\" is not a custody event type",
				    quote(type_name, q));
		if ((*out)->aggregation != aggregation || strcmp((*out)->biz_step, biz) != 0)
			return fail(r, "custody:type %s does not go with a %s of bizStep \"%s\"",
				    type_name, aggregation ? "AggregationEvent" : "ObjectEvent",
				    quote(biz_raw, q));
	} else {
		for (size_t i = 0; i < epcis_step_count(); i++) {
			const struct epcis_step *s = epcis_step_at(i);

			if (s->aggregation != aggregation || strcmp(s->biz_step, biz) != 0)
				continue;
			matches++;
			last = s;
			if (s->disposition != NULL && strcmp(s->disposition, disp) == 0)
				by_disposition = s;
		}
		if (matches == 0)
			return fail(r,
				    "bizStep \"%s\" of an %s is not one custody imports "
				    "(docs/epcis.md)",
				    quote(biz_raw, q),
				    aggregation ? "AggregationEvent" : "ObjectEvent");
		/* Two types share a step (repairing): the disposition tells them apart. */
		*out = matches == 1 ? last : by_disposition;
		if (*out == NULL)
			return fail(r,
				    "bizStep \"%s\" needs a disposition that says which custody "
				    "event it is (or custody:type)",
				    quote(biz_raw, q));
	}
	if (strcmp((*out)->action, action) != 0)
		return fail(r, "action of a %s must be %s, not \"%s\"", biz, (*out)->action,
			    quote(action, q));
	return CU_OK;
}

/* The time in the string member key, in ms; *ms stays 0 if absent and !required. */
static int time_member(struct reader *r, const char *key, bool required, int64_t *ms)
{
	const char *text;
	char q[QUOTE_MAX];

	if (get_string(r, r->ev, key, &text) != CU_OK)
		return CU_ERR_INVALID;
	if (text == NULL)
		return required ? fail(r, "%s is missing", key) : CU_OK;
	/* codec_time_parse also takes "now" and bare dates: a document must say when. */
	if (strchr(text, 'T') == NULL || codec_time_parse(text, ms) != CU_OK)
		return fail(r, "%s \"%s\" is not an RFC 3339 date-time", key, quote(text, q));
	return CU_OK;
}

/* A source or destination list's entries: facility of "location", party of owning_party. */
static int read_list(struct reader *r, const char *list, const char *key, const char **facility,
		     const char **party)
{
	const struct json_value *v = json_get(r->ev, list);

	*facility = *party = NULL;
	if (v == NULL)
		return CU_OK;
	if (v->type != JSON_ARRAY)
		return fail(r, "%s must be an array", list);
	for (size_t i = 0; i < v->len; i++) {
		const struct json_value *it = &v->u.items[i];
		const char *type, *uri, *word, *id;
		bool location;

		if (it->type != JSON_OBJECT)
			return fail(r, "%s[%zu] must be an object", list, i);
		if (need_string(r, it, "type", &type) != CU_OK ||
		    need_string(r, it, key, &uri) != CU_OK)
			return CU_ERR_INVALID;
		word = epcis_cbv_word(type, "sdt");
		location = strcmp(word, "location") == 0;
		if (!location && strcmp(word, "owning_party") != 0 &&
		    strcmp(word, "possessing_party") != 0)
			continue; /* another party or location type: nothing of ours */
		if (uri_id(r, uri, location ? EPCIS_FACILITY_PREFIX : EPCIS_PARTY_PREFIX, false,
			   list, &id) != CU_OK)
			return CU_ERR_INVALID;
		if (!location && *party != NULL && strcmp(*party, id) != 0)
			return fail(r, "%s names two parties, %s and %s", list, *party, id);
		if (location && agree(r, facility, id, list) != CU_OK)
			return CU_ERR_INVALID;
		if (!location)
			*party = id;
	}
	return CU_OK;
}

/* Facility, destination and consignee from readPoint, bizLocation and the lists. */
static int read_where(struct reader *r, const struct epcis_step *s, Custody__Event *e)
{
	const char *fac = NULL, *next, *to, *consignee, *ignored;

	if (location_member(r, "bizLocation", &next) != CU_OK ||
	    agree(r, &fac, next, "bizLocation") != CU_OK)
		return CU_ERR_INVALID;
	if (location_member(r, "readPoint", &next) != CU_OK ||
	    agree(r, &fac, next, "readPoint") != CU_OK)
		return CU_ERR_INVALID;
	if (read_list(r, "sourceList", "source", &next, &ignored) != CU_OK ||
	    agree(r, &fac, next, "sourceList") != CU_OK)
		return CU_ERR_INVALID;
	if (fac != NULL)
		e->facility = (char *)fac;
	if (s->type != CUSTODY__EVENT_TYPE__SHIP && s->type != CUSTODY__EVENT_TYPE__RMA_OUT)
		return CU_OK;
	if (read_list(r, "destinationList", "destination", &to, &consignee) != CU_OK)
		return CU_ERR_INVALID;
	if (to == NULL)
		return fail(r, "a %s needs a destinationList entry of type location", s->biz_step);
	e->to_facility = (char *)to;
	if (consignee != NULL)
		e->consignee = (char *)consignee;
	return CU_OK;
}

/* The string extension members, each into its field when present. */
static int read_strings(struct reader *r, Custody__Event *e)
{
	static const struct {
		const char *key;
		size_t offset;
	} fields[] = {
	    {"custody:location", offsetof(Custody__Event, location)},
	    {"custody:carrier", offsetof(Custody__Event, carrier)},
	    {"custody:license", offsetof(Custody__Event, license)},
	    {"custody:note", offsetof(Custody__Event, note)},
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *s;

		if (get_string(r, r->ev, fields[i].key, &s) != CU_OK)
			return CU_ERR_INVALID;
		if (s != NULL)
			*(char **)((char *)e + fields[i].offset) = (char *)s;
	}
	return CU_OK;
}

/* REPORT's reason: custody:reason, else what the disposition says. */
static int read_reason(struct reader *r, Custody__Event *e)
{
	const char *text, *disp;
	char q[QUOTE_MAX];
	int reason;

	if (get_string(r, r->ev, "custody:reason", &text) != CU_OK ||
	    get_string(r, r->ev, "disposition", &disp) != CU_OK)
		return CU_ERR_INVALID;
	if (text != NULL) {
		if (enum_parse(&custody__report_reason__descriptor, text, "REPORT_", &reason) !=
		    CU_OK)
			return fail(r,
				    "custody:reason \"%s\" is not lost, stolen, tampered, "
				    "found or other",
				    quote(text, q));
		e->reason = (Custody__ReportReason)reason;
		return CU_OK;
	}
	disp = disp != NULL ? epcis_cbv_word(disp, "disp") : "";
	if (strcmp(disp, "stolen") == 0)
		e->reason = CUSTODY__REPORT_REASON__REPORT_STOLEN;
	else if (strcmp(disp, "damaged") == 0)
		e->reason = CUSTODY__REPORT_REASON__REPORT_TAMPERED;
	else if (strcmp(disp, "available") == 0)
		e->reason = CUSTODY__REPORT_REASON__REPORT_FOUND;
	else
		return fail(r, "a report needs custody:reason (disposition \"%s\" does not say)",
			    quote(disp, q));
	return CU_OK;
}

/* ATTEST's custody:reportedContents: device URIs. */
static int read_contents(struct reader *r, Custody__Event *e)
{
	const struct json_value *v = json_get(r->ev, "custody:reportedContents");

	if (v == NULL)
		return CU_OK;
	if (v->type != JSON_ARRAY || v->len > VALIDATE_MAX_DEVICES)
		return fail(r,
			    "custody:reportedContents must be an array of at most %d device "
			    "URIs",
			    VALIDATE_MAX_DEVICES);
	e->reported_contents = doc_alloc(r->doc, v->len, sizeof(char *));
	if (e->reported_contents == NULL)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < v->len; i++) {
		if (v->u.items[i].type != JSON_STRING)
			return fail(r, "custody:reportedContents[%zu] must be a string", i);
		if (uri_id(r, v->u.items[i].u.str, EPCIS_DEVICE_PREFIX, true,
			   "custody:reportedContents",
			   (const char **)&e->reported_contents[i]) != CU_OK)
			return CU_ERR_INVALID;
	}
	e->n_reported_contents = v->len;
	return CU_OK;
}

/* Kind and model (and device key) of device d from a master-data object. */
static int read_master(struct reader *r, const struct json_value *obj, const char *kind_key,
		       const char *model_key, Custody__DeviceRef *d)
{
	const char *kind, *model;
	char q[QUOTE_MAX];
	int value;

	if (need_string(r, obj, kind_key, &kind) != CU_OK ||
	    need_string(r, obj, model_key, &model) != CU_OK)
		return CU_ERR_INVALID;
	if (enum_parse(&custody__device_kind__descriptor, kind, NULL, &value) != CU_OK)
		return fail(r, "ilmd: kind \"%s\" is not chip, board, server or rack",
			    quote(kind, q));
	d->kind = (Custody__DeviceKind)value;
	d->model = (char *)model;
	return CU_OK;
}

/* The ilmd "custody:devices" entry for serial, or NULL. */
static const struct json_value *master_entry(const struct json_value *list, const char *serial)
{
	char uri[EPCIS_URI_MAX];

	epcis_uri(uri, EPCIS_DEVICE_PREFIX, serial);
	for (size_t i = 0; list != NULL && list->type == JSON_ARRAY && i < list->len; i++) {
		const struct json_value *id = json_get(&list->u.items[i], "id");

		if (id != NULL && id->type == JSON_STRING && strcmp(id->u.str, uri) == 0)
			return &list->u.items[i];
	}
	return NULL;
}

/* A device's optional "deviceKey" (hex) from its master-data entry. */
static int read_device_key(struct reader *r, const struct json_value *entry, Custody__DeviceRef *d)
{
	const char *hex;
	uint8_t *key;

	if (get_string(r, entry, "deviceKey", &hex) != CU_OK)
		return CU_ERR_INVALID;
	if (hex == NULL)
		return CU_OK;
	key = doc_alloc(r->doc, 32, 1);
	if (key == NULL)
		return CU_ERR_NOMEM;
	if (codec_hex_decode(hex, key, 32) != CU_OK)
		return fail(r, "ilmd: deviceKey of %s is not 64 hex digits", d->serial);
	d->device_key.data = key;
	d->device_key.len = 32;
	return CU_OK;
}

/* A REGISTER's master data: ilmd custody:kind and custody:model, or custody:devices. */
static int read_ilmd(struct reader *r, Custody__Event *e)
{
	const struct json_value *ilmd = json_get(r->ev, "ilmd"), *list;

	if (ilmd == NULL || ilmd->type != JSON_OBJECT)
		return fail(r, "commissioning needs ilmd with custody:kind and custody:model");
	list = json_get(ilmd, "custody:devices");
	for (size_t i = 0; i < e->n_devices; i++) {
		Custody__DeviceRef *d = e->devices[i];
		const struct json_value *entry = master_entry(list, d->serial);
		int rc = entry != NULL ? read_master(r, entry, "kind", "model", d)
				       : read_master(r, ilmd, "custody:kind", "custody:model", d);

		if (rc == CU_OK && entry != NULL)
			rc = read_device_key(r, entry, d);
		if (rc != CU_OK)
			return rc;
	}
	return CU_OK;
}

/* The devices: epcList, or parentID and childEPCs. */
static int read_devices(struct reader *r, bool aggregation, Custody__Event *e)
{
	const char *parent;
	Custody__DeviceRef *c;

	if (json_get(r->ev, "quantityList") != NULL || json_get(r->ev, "childQuantityList") != NULL)
		return fail(r, "quantities (classes of objects) are not imported: custody "
			       "records serialised devices only");
	if (!aggregation)
		return device_refs(r, "epcList", 1, &e->devices, &e->n_devices);
	if (need_string(r, r->ev, "parentID", &parent) != CU_OK)
		return CU_ERR_INVALID;
	c = doc_alloc(r->doc, 1, sizeof(*c));
	if (c == NULL)
		return CU_ERR_NOMEM;
	custody__device_ref__init(c);
	if (uri_id(r, parent, EPCIS_DEVICE_PREFIX, true, "parentID", (const char **)&c->serial) !=
	    CU_OK)
		return CU_ERR_INVALID;
	e->container = c;
	return device_refs(r, "childEPCs", 1, &e->devices, &e->n_devices);
}

/* Maps the EPCIS event r->ev into e. */
static int read_event(struct reader *r, Custody__Event *e)
{
	const struct epcis_step *s = NULL;
	const char *type;
	char q[QUOTE_MAX];
	bool aggregation;
	int rc;

	if (r->ev->type != JSON_OBJECT)
		return fail(r, "an event must be an object");
	if (need_string(r, r->ev, "type", &type) != CU_OK)
		return CU_ERR_INVALID;
	aggregation = strcmp(type, "AggregationEvent") == 0;
	if (!aggregation && strcmp(type, "ObjectEvent") != 0)
		return fail(r, "%s is not imported (only ObjectEvent and AggregationEvent)",
			    quote(type, q));
	rc = pick_step(r, aggregation, &s);
	if (rc == CU_OK)
		e->type = s->type;
	if (rc == CU_OK)
		rc = time_member(r, "eventTime", true, &e->occurred_at_ms);
	if (rc == CU_OK)
		rc = time_member(r, "custody:deadline", false, &e->deadline_ms);
	if (rc == CU_OK)
		rc = read_devices(r, aggregation, e);
	if (rc == CU_OK)
		rc = read_where(r, s, e);
	if (rc == CU_OK)
		rc = read_strings(r, e);
	if (rc == CU_OK && s->type == CUSTODY__EVENT_TYPE__REPORT)
		rc = read_reason(r, e);
	if (rc == CU_OK && s->type == CUSTODY__EVENT_TYPE__ATTEST)
		rc = read_contents(r, e);
	if (rc == CU_OK && s->type == CUSTODY__EVENT_TYPE__REGISTER)
		rc = read_ilmd(r, e);
	return rc;
}

/* The eventList of the document root, checked. */
static int event_list(const struct json_value *root, const struct json_value **list, char *err,
		      size_t err_size)
{
	const struct json_value *type = json_get(root, "type"), *version, *body;

	if (root->type != JSON_OBJECT || type == NULL || type->type != JSON_STRING ||
	    strcmp(type->u.str, "EPCISDocument") != 0)
		return cu_fail(err, err_size, "not an EPCIS document (type must be EPCISDocument)");
	version = json_get(root, "schemaVersion");
	if (version == NULL || version->type != JSON_STRING ||
	    strncmp(version->u.str, "2.", 2) != 0)
		return cu_fail(err, err_size, "schemaVersion must be 2.x (EPCIS 2.0)");
	body = json_get(root, "epcisBody");
	*list = json_get(body, "eventList");
	if (*list == NULL || (*list)->type != JSON_ARRAY)
		return cu_fail(err, err_size, "epcisBody.eventList is missing or not an array");
	if ((*list)->len == 0)
		return cu_fail(err, err_size, "the document has no events");
	if ((*list)->len > EPCIS_MAX_EVENTS)
		return cu_fail(err, err_size, "%zu events: at most %d per document", (*list)->len,
			       EPCIS_MAX_EVENTS);
	return CU_OK;
}

/* Maps every event of list into doc, stopping at the first problem. */
static int read_events(struct epcis_doc *doc, const struct json_value *list, char *err,
		       size_t err_size)
{
	struct reader r = {.doc = doc, .err = err, .err_size = err_size};

	doc->events = doc_alloc(doc, list->len, sizeof(*doc->events));
	doc->names = doc_alloc(doc, list->len, sizeof(*doc->names));
	if (doc->events == NULL || doc->names == NULL)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < list->len; i++) {
		const struct json_value *id = json_get(&list->u.items[i], "eventID");
		char q[QUOTE_MAX];
		int rc;

		r.ev = &list->u.items[i];
		doc->names[i] = id != NULL && id->type == JSON_STRING ? id->u.str : "";
		snprintf(r.where, sizeof(r.where), "event %zu%s%s%s", i + 1,
			 doc->names[i][0] ? " (" : "", quote(doc->names[i], q),
			 doc->names[i][0] ? ")" : "");
		custody__event__init(&doc->events[i]);
		rc = read_event(&r, &doc->events[i]);
		if (rc == CU_ERR_NOMEM)
			snprintf(err, err_size, "out of memory");
		if (rc != CU_OK)
			return rc;
		doc->n++;
	}
	return CU_OK;
}

int epcis_read(const char *text, size_t len, struct epcis_doc **out, char *err, size_t err_size)
{
	struct json_limits lim = {EPCIS_MAX_DOCUMENT_BYTES, 8 * len + JSON_SLACK, JSON_DEPTH};
	struct epcis_doc *doc = calloc(1, sizeof(*doc));
	const struct json_value *list = NULL;
	int rc;

	*out = NULL;
	if (doc == NULL) {
		snprintf(err, err_size, "out of memory");
		return CU_ERR_NOMEM;
	}
	rc = json_parse(text, len, &lim, &doc->json, err, err_size);
	if (rc == CU_OK)
		rc = event_list(json_root(doc->json), &list, err, err_size);
	if (rc == CU_OK)
		rc = read_events(doc, list, err, err_size);
	if (rc != CU_OK) {
		epcis_doc_free(doc);
		return rc;
	}
	*out = doc;
	return CU_OK;
}

size_t epcis_doc_count(const struct epcis_doc *doc)
{
	return doc->n;
}

Custody__Event *epcis_doc_event(struct epcis_doc *doc, size_t i)
{
	return i < doc->n ? &doc->events[i] : NULL;
}

const char *epcis_doc_event_name(const struct epcis_doc *doc, size_t i)
{
	return i < doc->n ? doc->names[i] : "";
}

void epcis_doc_free(struct epcis_doc *doc)
{
	if (doc == NULL)
		return;
	for (size_t i = 0; i < doc->n_blocks; i++)
		free(doc->blocks[i]);
	free(doc->blocks);
	json_free(doc->json);
	free(doc);
}
