/*
 * validate.c - structural checks of events and admin actions (see
 * validate.h). Every failure names the field, so a client author can fix
 * the request from the message alone.
 */
#include "validate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enums.h"

#define STR(s) ((s) != NULL ? (s) : "")

static bool valid_license_number(const char *s);

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool validate_ident(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++) {
		if (!is_alnum(s[n]) && s[n] != '.' && s[n] != '_' && s[n] != '-')
			return false;
	}
	return n >= 1 && n <= VALIDATE_ID_MAX;
}

bool validate_serial(const char *s)
{
	size_t n = 0;

	if (s == NULL || !is_alnum(s[0]))
		return false;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (!is_alnum(c) && c != '.' && c != '_' && c != ':' && c != '/' && c != '-')
			return false;
	}
	return n <= VALIDATE_SERIAL_MAX;
}

bool validate_country(const char *s)
{
	return s != NULL && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
	       s[2] == '\0';
}

/* Length of the UTF-8 sequence starting at p, or 0 if it is malformed. */
static size_t utf8_seq_len(const unsigned char *p)
{
	size_t len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past Unicode are malformed. */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

bool validate_text(const char *s, size_t max_bytes)
{
	const unsigned char *p = (const unsigned char *)STR(s);
	size_t total = 0;

	while (p[total] != '\0') {
		size_t n = utf8_seq_len(p + total);

		if (n == 0 || (n == 1 && (p[total] < 0x20 || p[total] == 0x7f)))
			return false;
		total += n;
		if (total > max_bytes)
			return false;
	}
	return true;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Finds a duplicate among n strings. Returns it, or NULL when all differ.
 * Sorts a copy of the pointer array, so it costs O(n log n).
 */
static const char *find_duplicate(const char **names, size_t n)
{
	const char *dup = NULL;

	qsort(names, n, sizeof(*names), cmp_str_ptr);
	for (size_t i = 1; i < n && dup == NULL; i++) {
		if (strcmp(names[i - 1], names[i]) == 0)
			dup = names[i];
	}
	return dup;
}

/* Which optional fields an event type takes; the rest must be unset. */
enum {
	F_FACILITY = 1 << 0,	 /* facility required */
	F_FACILITY_OPT = 1 << 1, /* facility allowed */
	F_CONTAINER = 1 << 2,
	F_TO_FACILITY = 1 << 3,
	F_SHIPPING = 1 << 4, /* consignee, carrier, deadline_ms */
	F_LOCATION = 1 << 5,
	F_LOCATION_REQ = 1 << 6,
	F_REASON = 1 << 7,
	F_CONTENTS = 1 << 8,
	F_ONE_DEVICE = 1 << 9,
};

static unsigned fields_of(Custody__EventType type)
{
	switch (type) {
	case CUSTODY__EVENT_TYPE__REGISTER:
		return F_FACILITY;
	case CUSTODY__EVENT_TYPE__PACK:
	case CUSTODY__EVENT_TYPE__UNPACK:
		return F_FACILITY | F_CONTAINER;
	case CUSTODY__EVENT_TYPE__SHIP:
		return F_FACILITY | F_TO_FACILITY | F_SHIPPING;
	case CUSTODY__EVENT_TYPE__INSTALL:
	case CUSTODY__EVENT_TYPE__REMOVE:
		return F_FACILITY | F_LOCATION;
	case CUSTODY__EVENT_TYPE__MOVE:
		return F_FACILITY | F_LOCATION | F_LOCATION_REQ;
	case CUSTODY__EVENT_TYPE__ATTEST:
		return F_FACILITY_OPT | F_CONTENTS | F_ONE_DEVICE;
	case CUSTODY__EVENT_TYPE__RMA_OUT:
		return F_FACILITY | F_TO_FACILITY;
	case CUSTODY__EVENT_TYPE__REPORT:
		return F_FACILITY_OPT | F_REASON;
	case CUSTODY__EVENT_TYPE__RECEIVE:
	case CUSTODY__EVENT_TYPE__RMA_IN:
	case CUSTODY__EVENT_TYPE__DECOMMISSION:
	case CUSTODY__EVENT_TYPE__DESTROY:
		return F_FACILITY;
	default:
		return 0;
	}
}

/* Checks one device reference; index is its position for messages. */
static int check_device_ref(const Custody__DeviceRef *d, bool registering, const char *where,
			    char *err, size_t err_size)
{
	if (!validate_serial(d->serial))
		return cu_fail(err, err_size,
			       "%s: serial \"%.64s\" is not valid (1-64 of A-Z a-z 0-9 . _ : / -, "
			       "starting with a letter or digit)",
			       where, STR(d->serial));
	if (registering) {
		if (d->prev.len != 0)
			return cu_fail(err, err_size, "%s (%s): REGISTER takes no prev", where,
				       d->serial);
		if (d->kind < CUSTODY__DEVICE_KIND__CHIP || d->kind > CUSTODY__DEVICE_KIND__RACK)
			return cu_fail(err, err_size,
				       "%s (%s): kind must be chip, board, server or rack", where,
				       d->serial);
		if (STR(d->model)[0] == '\0' || !validate_text(d->model, VALIDATE_MODEL_MAX))
			return cu_fail(err, err_size,
				       "%s (%s): model is required (at most %d bytes of text)",
				       where, d->serial, VALIDATE_MODEL_MAX);
		if (d->device_key.len != 0 && d->device_key.len != 32)
			return cu_fail(err, err_size, "%s (%s): device_key must be 32 bytes", where,
				       d->serial);
		return CU_OK;
	}
	if (d->prev.len != 32)
		return cu_fail(err, err_size,
			       "%s (%s): prev must be the 32-byte id of its last event", where,
			       d->serial);
	if (d->kind != 0 || STR(d->model)[0] != '\0' || d->device_key.len != 0)
		return cu_fail(err, err_size,
			       "%s (%s): kind, model and device_key are for REGISTER only", where,
			       d->serial);
	return CU_OK;
}

/* Checks the devices (and container) for validity and duplicates. */
static int check_devices(const Custody__Event *ev, unsigned fields, char *err, size_t err_size)
{
	bool registering = ev->type == CUSTODY__EVENT_TYPE__REGISTER;
	size_t n = ev->n_devices;
	const char **names;
	const char *dup;
	char where[32];
	int rc;

	if (n == 0 || n > VALIDATE_MAX_DEVICES)
		return cu_fail(err, err_size, "devices: between 1 and %d devices required",
			       VALIDATE_MAX_DEVICES);
	if ((fields & F_ONE_DEVICE) && n != 1)
		return cu_fail(err, err_size, "devices: %s acts on exactly one device",
			       enum_name(&custody__event_type__descriptor, ev->type));
	for (size_t i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "devices[%zu]", i);
		rc = check_device_ref(ev->devices[i], registering, where, err, err_size);
		if (rc != CU_OK)
			return rc;
	}
	if (fields & F_CONTAINER) {
		if (ev->container == NULL)
			return cu_fail(err, err_size, "container is required");
		rc = check_device_ref(ev->container, false, "container", err, err_size);
		if (rc != CU_OK)
			return rc;
	} else if (ev->container != NULL) {
		return cu_fail(err, err_size, "container: only PACK and UNPACK name a container");
	}
	names = malloc((n + 1) * sizeof(*names));
	if (names == NULL)
		return cu_fail(err, err_size, "out of memory");
	for (size_t i = 0; i < n; i++)
		names[i] = ev->devices[i]->serial;
	if (ev->container != NULL)
		names[n++] = ev->container->serial;
	dup = find_duplicate(names, n);
	rc =
	    dup != NULL ? cu_fail(err, err_size, "devices: %s appears more than once", dup) : CU_OK;
	free(names);
	return rc;
}

/* Checks the reported contents of an ATTEST. */
static int check_contents(const Custody__Event *ev, char *err, size_t err_size)
{
	const char **names;
	const char *dup;
	int rc = CU_OK;

	if (ev->n_reported_contents > VALIDATE_MAX_DEVICES)
		return cu_fail(err, err_size, "reported_contents: at most %d serials",
			       VALIDATE_MAX_DEVICES);
	for (size_t i = 0; i < ev->n_reported_contents; i++) {
		if (!validate_serial(ev->reported_contents[i]))
			return cu_fail(err, err_size,
				       "reported_contents[%zu]: \"%.64s\" is not a serial", i,
				       STR(ev->reported_contents[i]));
	}
	if (ev->n_reported_contents < 2)
		return CU_OK;
	names = malloc(ev->n_reported_contents * sizeof(*names));
	if (names == NULL)
		return cu_fail(err, err_size, "out of memory");
	memcpy(names, ev->reported_contents, ev->n_reported_contents * sizeof(*names));
	dup = find_duplicate(names, ev->n_reported_contents);
	if (dup != NULL)
		rc = cu_fail(err, err_size, "reported_contents: %s appears more than once", dup);
	free(names);
	return rc;
}

/* Checks facility, destination and the other per-type fields. */
static int check_places(const Custody__Event *ev, unsigned fields, char *err, size_t err_size)
{
	const char *type = enum_name(&custody__event_type__descriptor, ev->type);
	bool has_facility = STR(ev->facility)[0] != '\0';

	if ((fields & F_FACILITY) && !has_facility)
		return cu_fail(err, err_size, "facility is required for %s", type);
	if (!(fields & (F_FACILITY | F_FACILITY_OPT)) && has_facility)
		return cu_fail(err, err_size, "facility: %s takes none", type);
	if (has_facility && !validate_ident(ev->facility))
		return cu_fail(err, err_size, "facility: \"%.64s\" is not a valid id",
			       ev->facility);
	if (fields & F_TO_FACILITY) {
		if (!validate_ident(ev->to_facility))
			return cu_fail(err, err_size,
				       "to_facility: a valid facility id is required");
		if (strcmp(ev->to_facility, ev->facility) == 0)
			return cu_fail(err, err_size, "to_facility: same as facility");
	} else if (STR(ev->to_facility)[0] != '\0') {
		return cu_fail(err, err_size, "to_facility: only SHIP and RMA_OUT take one");
	}
	if (!(fields & F_SHIPPING) &&
	    (STR(ev->consignee)[0] != '\0' || STR(ev->carrier)[0] != '\0' || ev->deadline_ms != 0))
		return cu_fail(err, err_size,
			       "consignee, carrier and deadline_ms are for SHIP only");
	if (STR(ev->consignee)[0] != '\0' && !validate_ident(ev->consignee))
		return cu_fail(err, err_size, "consignee: not a valid party id");
	if (STR(ev->carrier)[0] != '\0' && !validate_ident(ev->carrier))
		return cu_fail(err, err_size, "carrier: not a valid party id");
	if (ev->deadline_ms != 0 && ev->deadline_ms <= ev->occurred_at_ms)
		return cu_fail(err, err_size, "deadline_ms: must be after occurred_at_ms");
	if (STR(ev->license)[0] != '\0' && !(fields & F_TO_FACILITY))
		return cu_fail(err, err_size, "license: only SHIP and RMA_OUT name one");
	if (STR(ev->license)[0] != '\0' && !valid_license_number(ev->license))
		return cu_fail(err, err_size,
			       "license: 1-%d characters of letters, digits and . _ / -",
			       VALIDATE_LICENSE_NUMBER_MAX);
	return CU_OK;
}

/* Checks location, reason, contents and note. */
static int check_details(const Custody__Event *ev, unsigned fields, char *err, size_t err_size)
{
	const char *type = enum_name(&custody__event_type__descriptor, ev->type);
	bool has_location = STR(ev->location)[0] != '\0';

	if ((fields & F_LOCATION_REQ) && !has_location)
		return cu_fail(err, err_size, "location is required for %s", type);
	if (!(fields & F_LOCATION) && has_location)
		return cu_fail(err, err_size, "location: %s takes none", type);
	if (!validate_text(ev->location, VALIDATE_LOCATION_MAX))
		return cu_fail(err, err_size, "location: at most %d bytes of text",
			       VALIDATE_LOCATION_MAX);
	if (fields & F_REASON) {
		if (ev->reason < CUSTODY__REPORT_REASON__REPORT_LOST ||
		    ev->reason > CUSTODY__REPORT_REASON__REPORT_OTHER)
			return cu_fail(
			    err, err_size,
			    "reason: lost, stolen, tampered, found or other is required");
		if (ev->reason == CUSTODY__REPORT_REASON__REPORT_FOUND &&
		    STR(ev->facility)[0] == '\0')
			return cu_fail(err, err_size,
				       "facility is required to report a device found");
	} else if (ev->reason != 0) {
		return cu_fail(err, err_size, "reason: only REPORT takes one");
	}
	if (!(fields & F_CONTENTS) && ev->n_reported_contents != 0)
		return cu_fail(err, err_size, "reported_contents: only ATTEST takes them");
	if (!validate_text(ev->note, VALIDATE_NOTE_MAX))
		return cu_fail(err, err_size, "note: at most %d bytes of text", VALIDATE_NOTE_MAX);
	return check_contents(ev, err, err_size);
}

int validate_event(const Custody__Event *ev, int64_t now_ms, int64_t max_skew_ms, char *err,
		   size_t err_size)
{
	unsigned fields = fields_of(ev->type);
	int rc;

	if (fields == 0)
		return cu_fail(err, err_size, "type: unknown event type %d", (int)ev->type);
	if (!validate_ident(ev->actor))
		return cu_fail(err, err_size, "actor: a valid party id is required");
	if (ev->occurred_at_ms <= 0)
		return cu_fail(err, err_size, "occurred_at_ms is required");
	if (ev->occurred_at_ms > now_ms + max_skew_ms)
		return cu_fail(
		    err, err_size,
		    "occurred_at_ms is %lld ms in the future (allowed clock skew %lld ms)",
		    (long long)(ev->occurred_at_ms - now_ms), (long long)max_skew_ms);
	rc = check_devices(ev, fields, err, err_size);
	if (rc == CU_OK)
		rc = check_places(ev, fields, err, err_size);
	if (rc == CU_OK)
		rc = check_details(ev, fields, err, err_size);
	return rc;
}

static int check_party(const Custody__Party *p, char *err, size_t err_size)
{
	unsigned seen = 0;

	if (!validate_ident(p->id))
		return cu_fail(err, err_size, "party.id: 1-64 of A-Z a-z 0-9 . _ - required");
	if (STR(p->name)[0] == '\0' || !validate_text(p->name, VALIDATE_NAME_MAX))
		return cu_fail(err, err_size, "party.name: 1-%d bytes of text required",
			       VALIDATE_NAME_MAX);
	if (!validate_country(p->country) || !validate_country(p->hq_country) ||
	    !validate_country(p->parent_country))
		return cu_fail(err, err_size,
			       "party: country, hq_country and parent_country must be ISO 3166 "
			       "alpha-2 codes (e.g. US)");
	if (p->n_roles == 0)
		return cu_fail(err, err_size, "party.roles: at least one role required");
	for (size_t i = 0; i < p->n_roles; i++) {
		int r = p->roles[i];

		if (r < CUSTODY__ROLE__ADMIN || r > CUSTODY__ROLE__WITNESS)
			return cu_fail(err, err_size, "party.roles[%zu]: unknown role %d", i, r);
		if (seen & (1u << r))
			return cu_fail(err, err_size, "party.roles: %s listed twice",
				       enum_name(&custody__role__descriptor, r));
		seen |= 1u << r;
	}
	return CU_OK;
}

int validate_key_record(const Custody__KeyRecord *k, char *err, size_t err_size)
{
	if (k == NULL)
		return cu_fail(err, err_size, "key: missing");
	if (k->pubkey.len != 32)
		return cu_fail(err, err_size, "key.pubkey: 32-byte Ed25519 public key required");
	if (!validate_ident(k->party))
		return cu_fail(err, err_size, "key.party: a valid party id is required");
	if (k->role < CUSTODY__ROLE__ADMIN || k->role > CUSTODY__ROLE__WITNESS)
		return cu_fail(err, err_size, "key.role: a role is required");
	if (k->valid_from_ms < 0 || k->valid_until_ms < 0 ||
	    (k->valid_until_ms != 0 && k->valid_until_ms <= k->valid_from_ms))
		return cu_fail(err, err_size, "key: valid_until_ms must be after valid_from_ms");
	return CU_OK;
}

static int check_facility(const Custody__Facility *f, char *err, size_t err_size)
{
	if (!validate_ident(f->id))
		return cu_fail(err, err_size, "facility.id: 1-64 of A-Z a-z 0-9 . _ - required");
	if (STR(f->name)[0] == '\0' || !validate_text(f->name, VALIDATE_NAME_MAX))
		return cu_fail(err, err_size, "facility.name: 1-%d bytes of text required",
			       VALIDATE_NAME_MAX);
	if (!validate_ident(f->owner) || !validate_ident(f->operator_))
		return cu_fail(err, err_size, "facility: owner and operator party ids required");
	if (!validate_country(f->country))
		return cu_fail(err, err_size, "facility.country: ISO 3166 alpha-2 code required");
	if (!isfinite(f->latitude) || !isfinite(f->longitude) || f->latitude < -90 ||
	    f->latitude > 90 || f->longitude < -180 || f->longitude > 180)
		return cu_fail(err, err_size,
			       "facility: latitude must be in [-90, 90], longitude in [-180, 180]");
	if (f->authorized_since_ms < 0)
		return cu_fail(err, err_size, "facility.authorized_since_ms: must not be negative");
	return CU_OK;
}

/* Whether s is one of the NULL-terminated list of names. */
static bool one_of(const char *s, const char *const *names)
{
	for (; *names != NULL; names++) {
		if (strcmp(s, *names) == 0)
			return true;
	}
	return false;
}

static const char *const country_groups[] = {
    "A:1", "A:2", "A:3", "A:4", "A:5", "A:6", "D:1",
    "D:2", "D:3", "D:4", "D:5", "E:1", "E:2", "SUPP5_740_A_AIA",
    NULL,
};
static const char *const model_classes[] = {"3A090.a", "3A090.b", "none", NULL};
static const char *const license_eccns[] = {"3A090.a", "3A090.b", "4A090.a", "4A090.b", NULL};

int validate_country_group_row(const Custody__CountryGroupRow *row, char *err, size_t err_size)
{
	if (!one_of(STR(row->group), country_groups))
		return cu_fail(err, err_size,
			       "group: \"%.32s\" is not one of A:1..A:6, D:1..D:5, E:1, E:2, "
			       "SUPP5_740_A_AIA",
			       STR(row->group));
	if (!validate_country(row->country))
		return cu_fail(err, err_size, "country: \"%.32s\" is not an ISO 3166 alpha-2 code",
			       STR(row->country));
	if (!validate_text(row->name, VALIDATE_NAME_MAX))
		return cu_fail(err, err_size, "name: at most %d bytes of text", VALIDATE_NAME_MAX);
	return CU_OK;
}

int validate_model_row(const Custody__ModelRow *row, char *err, size_t err_size)
{
	if (STR(row->model)[0] == '\0' || !validate_text(row->model, VALIDATE_MODEL_MAX))
		return cu_fail(err, err_size, "model: 1-%d bytes of printable text required",
			       VALIDATE_MODEL_MAX);
	if (!one_of(STR(row->eccn_class), model_classes))
		return cu_fail(err, err_size,
			       "eccn_class: \"%.32s\" is not one of 3A090.a, 3A090.b, none",
			       STR(row->eccn_class));
	if (row->tpp == 0 && strcmp(row->eccn_class, "none") != 0)
		return cu_fail(err, err_size, "tpp: must be above 0 for a %s model",
			       row->eccn_class);
	if (!validate_text(row->vendor, VALIDATE_NAME_MAX))
		return cu_fail(err, err_size, "vendor: at most %d bytes of text",
			       VALIDATE_NAME_MAX);
	return CU_OK;
}

int validate_roster_row(const Custody__RosterRow *row, char *err, size_t err_size)
{
	if (!validate_ident(row->exporter))
		return cu_fail(err, err_size, "exporter: a valid party id is required");
	if (STR(row->facility)[0] != '\0' && !validate_ident(row->facility))
		return cu_fail(err, err_size, "facility: \"%.64s\" is not a valid facility id",
			       row->facility);
	if (row->notified_at_ms <= 0)
		return cu_fail(err, err_size, "notified_at_ms: the date of the notice is required");
	if (row->notice != CUSTODY__ROSTER_NOTICE__ROSTER_NOTICE_UNSPECIFIED &&
	    row->notice != CUSTODY__ROSTER_NOTICE__SITE &&
	    row->notice != CUSTODY__ROSTER_NOTICE__TRANSFER)
		return cu_fail(err, err_size, "notice: must be SITE or TRANSFER");
	return CU_OK;
}

/* 1-64 of [A-Za-z0-9._/-]. */
static bool valid_license_number(const char *s)
{
	size_t n = 0;

	for (; s != NULL && s[n] != '\0'; n++) {
		if (!is_alnum(s[n]) && strchr("._/-", s[n]) == NULL)
			return false;
	}
	return n >= 1 && n <= VALIDATE_LICENSE_NUMBER_MAX;
}

/* Index of the first string of list equal to an earlier one, or n. */
static size_t first_repeat(char *const *list, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(list[i], list[j]) == 0)
				return i;
		}
	}
	return n;
}

/* Checks a license's destinations and ECCNs. */
static int check_license_scope(const Custody__License *lic, char *err, size_t err_size)
{
	size_t i;

	if (lic->n_destinations == 0 || lic->n_destinations > VALIDATE_LICENSE_MAX_DESTS)
		return cu_fail(err, err_size, "destinations: 1 to %d country codes required",
			       VALIDATE_LICENSE_MAX_DESTS);
	for (i = 0; i < lic->n_destinations; i++) {
		if (!validate_country(lic->destinations[i]))
			return cu_fail(err, err_size,
				       "destinations[%zu]: \"%.32s\" is not an ISO 3166 alpha-2 "
				       "code",
				       i, STR(lic->destinations[i]));
	}
	i = first_repeat(lic->destinations, lic->n_destinations);
	if (i < lic->n_destinations)
		return cu_fail(err, err_size, "destinations: %s listed twice",
			       lic->destinations[i]);
	if (lic->n_eccns == 0)
		return cu_fail(err, err_size, "eccns: at least one ECCN class required");
	for (i = 0; i < lic->n_eccns; i++) {
		if (!one_of(STR(lic->eccns[i]), license_eccns))
			return cu_fail(err, err_size,
				       "eccns[%zu]: \"%.32s\" is not one of 3A090.a, 3A090.b, "
				       "4A090.a, 4A090.b",
				       i, STR(lic->eccns[i]));
	}
	i = first_repeat(lic->eccns, lic->n_eccns);
	if (i < lic->n_eccns)
		return cu_fail(err, err_size, "eccns: %s listed twice", lic->eccns[i]);
	return CU_OK;
}

int validate_license(const Custody__License *lic, char *err, size_t err_size)
{
	int rc;

	if (!valid_license_number(lic->number))
		return cu_fail(err, err_size,
			       "number: \"%.64s\" is not 1-%d of A-Z a-z 0-9 . _ / -",
			       STR(lic->number), VALIDATE_LICENSE_NUMBER_MAX);
	if (!validate_ident(lic->holder))
		return cu_fail(err, err_size, "holder: a valid party id is required");
	rc = check_license_scope(lic, err, err_size);
	if (rc != CU_OK)
		return rc;
	if (lic->valid_from_ms < 0)
		return cu_fail(err, err_size, "valid_from_ms: must not be negative");
	if (lic->valid_until_ms < 0 ||
	    (lic->valid_until_ms != 0 && lic->valid_until_ms <= lic->valid_from_ms))
		return cu_fail(err, err_size,
			       "valid_until_ms: must be 0 (no expiry) or after valid_from_ms");
	if (STR(lic->consignee)[0] != '\0' && !validate_ident(lic->consignee))
		return cu_fail(err, err_size, "consignee: \"%.64s\" is not a valid party id",
			       lic->consignee);
	return CU_OK;
}

/* Checks the names of a screening entry. */
static int check_screening_names(const Custody__ScreeningEntry *e, char *err, size_t err_size)
{
	if (STR(e->name)[0] == '\0')
		return cu_fail(err, err_size, "name: required");
	if (!validate_text(e->name, VALIDATE_SCREEN_NAME_MAX))
		return cu_fail(err, err_size, "name: %zu bytes, not 1-%d bytes of valid text",
			       strlen(e->name), VALIDATE_SCREEN_NAME_MAX);
	if (e->n_alt_names > VALIDATE_SCREEN_ALT_NAMES)
		return cu_fail(err, err_size, "alt_names: %zu names, at most %d allowed",
			       e->n_alt_names, VALIDATE_SCREEN_ALT_NAMES);
	for (size_t i = 0; i < e->n_alt_names; i++) {
		if (STR(e->alt_names[i])[0] == '\0' ||
		    !validate_text(e->alt_names[i], VALIDATE_SCREEN_NAME_MAX))
			return cu_fail(err, err_size,
				       "alt_names[%zu]: 1-%d bytes of valid text required", i,
				       VALIDATE_SCREEN_NAME_MAX);
	}
	return CU_OK;
}

int validate_screening_entry(const Custody__ScreeningEntry *e, char *err, size_t err_size)
{
	if (STR(e->id)[0] == '\0' || !validate_text(e->id, VALIDATE_SCREEN_ID_MAX))
		return cu_fail(err, err_size, "id: 1-%d bytes of text required",
			       VALIDATE_SCREEN_ID_MAX);
	if (!validate_text(e->source, VALIDATE_SCREEN_FIELD_MAX) ||
	    !validate_text(e->entity_number, VALIDATE_SCREEN_FIELD_MAX) ||
	    !validate_text(e->type, VALIDATE_SCREEN_FIELD_MAX))
		return cu_fail(err, err_size,
			       "source, entity_number, type: at most %d bytes of valid text each",
			       VALIDATE_SCREEN_FIELD_MAX);
	if (!validate_text(e->programs, VALIDATE_SCREEN_PROGRAMS_MAX))
		return cu_fail(err, err_size, "programs: at most %d bytes of valid text",
			       VALIDATE_SCREEN_PROGRAMS_MAX);
	if (e->n_countries > VALIDATE_SCREEN_COUNTRIES)
		return cu_fail(err, err_size, "countries: at most %d", VALIDATE_SCREEN_COUNTRIES);
	for (size_t i = 0; i < e->n_countries; i++) {
		if (!validate_country(e->countries[i]))
			return cu_fail(err, err_size,
				       "countries[%zu]: \"%.32s\" is not an ISO 3166 alpha-2 code",
				       i, STR(e->countries[i]));
	}
	return check_screening_names(e, err, err_size);
}

/* Orders of rows by their key, for finding duplicates. */
static int cmp_group_rows(const void *a, const void *b)
{
	const Custody__CountryGroupRow *x = *(const Custody__CountryGroupRow *const *)a;
	const Custody__CountryGroupRow *y = *(const Custody__CountryGroupRow *const *)b;
	int c = strcmp(x->group, y->group);

	return c != 0 ? c : strcmp(x->country, y->country);
}

static int cmp_model_rows(const void *a, const void *b)
{
	return strcmp((*(const Custody__ModelRow *const *)a)->model,
		      (*(const Custody__ModelRow *const *)b)->model);
}

/* A roster row's notice; unset means SITE. */
static int roster_notice(const Custody__RosterRow *r)
{
	return r->notice == CUSTODY__ROSTER_NOTICE__ROSTER_NOTICE_UNSPECIFIED
		   ? CUSTODY__ROSTER_NOTICE__SITE
		   : (int)r->notice;
}

static int cmp_roster_rows(const void *a, const void *b)
{
	const Custody__RosterRow *x = *(const Custody__RosterRow *const *)a;
	const Custody__RosterRow *y = *(const Custody__RosterRow *const *)b;
	int c = strcmp(x->exporter, y->exporter);

	if (c == 0)
		c = strcmp(STR(x->facility), STR(y->facility));
	return c != 0 ? c : roster_notice(x) - roster_notice(y);
}

static int cmp_licenses(const void *a, const void *b)
{
	return strcmp((*(const Custody__License *const *)a)->number,
		      (*(const Custody__License *const *)b)->number);
}

static int cmp_screening(const void *a, const void *b)
{
	return strcmp((*(const Custody__ScreeningEntry *const *)a)->id,
		      (*(const Custody__ScreeningEntry *const *)b)->id);
}

/*
 * Sorts a copy of the n row pointers by cmp and sets *dup to a row whose
 * key another row shares, or NULL. CU_ERR_NOMEM if the copy fails.
 */
static int find_duplicate_row(void *const *rows, size_t n, int (*cmp)(const void *, const void *),
			      const void **dup)
{
	void **sorted;

	*dup = NULL;
	if (n < 2)
		return CU_OK;
	sorted = malloc(n * sizeof(*sorted));
	if (sorted == NULL)
		return CU_ERR_NOMEM;
	memcpy(sorted, rows, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp);
	for (size_t i = 1; i < n && *dup == NULL; i++) {
		if (cmp(&sorted[i - 1], &sorted[i]) == 0)
			*dup = sorted[i];
	}
	free(sorted);
	return CU_OK;
}

/* Describes the key of a duplicated row of kind into out. */
static void describe_key(Custody__PolicyKind kind, const void *row, char *out, size_t size)
{
	const Custody__CountryGroupRow *g = row;
	const Custody__RosterRow *r = row;

	switch (kind) {
	case CUSTODY__POLICY_KIND__COUNTRY_GROUPS:
	case CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES:
		snprintf(out, size, "country_groups: %s in %s", g->country, g->group);
		break;
	case CUSTODY__POLICY_KIND__MODELS:
		snprintf(out, size, "models: %.64s", ((const Custody__ModelRow *)row)->model);
		break;
	case CUSTODY__POLICY_KIND__ROSTER:
		snprintf(out, size, "roster: %s, facility \"%s\", notice %s", r->exporter,
			 STR(r->facility),
			 enum_name(&custody__roster_notice__descriptor, roster_notice(r)));
		break;
	case CUSTODY__POLICY_KIND__LICENSES:
		snprintf(out, size, "licenses: number %s", ((const Custody__License *)row)->number);
		break;
	default:
		snprintf(out, size, "screening: id %.128s",
			 ((const Custody__ScreeningEntry *)row)->id);
		break;
	}
}

/* The rows of one kind of a PolicyLoad, seen generically. */
struct policy_rows {
	const char *field; /* .proto name of the repeated field */
	size_t n;
	void *const *rows;
	int (*check)(const void *row, char *err, size_t err_size);
	int (*cmp)(const void *a, const void *b);
};

static int check_group_row(const void *row, char *err, size_t err_size)
{
	return validate_country_group_row(row, err, err_size);
}

static int check_model_row(const void *row, char *err, size_t err_size)
{
	return validate_model_row(row, err, err_size);
}

static int check_roster_row(const void *row, char *err, size_t err_size)
{
	return validate_roster_row(row, err, err_size);
}

static int check_license_row(const void *row, char *err, size_t err_size)
{
	return validate_license(row, err, err_size);
}

static int check_screening_row(const void *row, char *err, size_t err_size)
{
	return validate_screening_entry(row, err, err_size);
}

/* Fills the five row sets of pl (all, whatever the kind). */
static void policy_row_sets(const Custody__PolicyLoad *pl, struct policy_rows sets[5])
{
	sets[0] = (struct policy_rows){"country_groups", pl->n_country_groups,
				       (void *const *)pl->country_groups, check_group_row,
				       cmp_group_rows};
	sets[1] = (struct policy_rows){"models", pl->n_models, (void *const *)pl->models,
				       check_model_row, cmp_model_rows};
	sets[2] = (struct policy_rows){"roster", pl->n_roster, (void *const *)pl->roster,
				       check_roster_row, cmp_roster_rows};
	sets[3] = (struct policy_rows){"licenses", pl->n_licenses, (void *const *)pl->licenses,
				       check_license_row, cmp_licenses};
	sets[4] = (struct policy_rows){"screening", pl->n_screening, (void *const *)pl->screening,
				       check_screening_row, cmp_screening};
}

/* Index into policy_row_sets of the rows kind takes, or -1. */
static int rows_of_kind(Custody__PolicyKind kind)
{
	switch (kind) {
	case CUSTODY__POLICY_KIND__COUNTRY_GROUPS:
	case CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES:
		return 0;
	case CUSTODY__POLICY_KIND__MODELS:
		return 1;
	case CUSTODY__POLICY_KIND__ROSTER:
		return 2;
	case CUSTODY__POLICY_KIND__LICENSES:
		return 3;
	case CUSTODY__POLICY_KIND__SCREENING:
		return 4;
	default:
		return -1;
	}
}

/* Checks every row of set, then looks for two with the same key. */
static int check_rows(Custody__PolicyKind kind, const struct policy_rows *set, char *err,
		      size_t err_size)
{
	char why[VALIDATE_ERR_MAX], key[VALIDATE_ERR_MAX];
	const void *dup = NULL;

	for (size_t i = 0; i < set->n; i++) {
		if (set->check(set->rows[i], why, sizeof(why)) != CU_OK)
			return cu_fail(err, err_size, "%s[%zu]: %s", set->field, i, why);
	}
	if (find_duplicate_row(set->rows, set->n, set->cmp, &dup) != CU_OK)
		return cu_fail(err, err_size, "out of memory");
	if (dup == NULL)
		return CU_OK;
	describe_key(kind, dup, key, sizeof(key));
	return cu_fail(err, err_size, "%s appears more than once", key);
}

int validate_policy_load(const Custody__PolicyLoad *pl, char *err, size_t err_size)
{
	struct policy_rows sets[5];
	int which = rows_of_kind(pl->kind);
	const char *kind = enum_name(&custody__policy_kind__descriptor, pl->kind);

	if (which < 0)
		return cu_fail(err, err_size, "kind: unknown or missing policy kind %d",
			       (int)pl->kind);
	if (pl->effective_from_ms < 0)
		return cu_fail(err, err_size, "effective_from_ms: must not be negative");
	if (!validate_text(pl->source, VALIDATE_SOURCE_MAX))
		return cu_fail(err, err_size, "source: at most %d bytes of text",
			       VALIDATE_SOURCE_MAX);
	if (pl->source_sha256.len != 0 && pl->source_sha256.len != 32)
		return cu_fail(err, err_size, "source_sha256: must be empty or 32 bytes");
	policy_row_sets(pl, sets);
	for (int i = 0; i < 5; i++) {
		if (i != which && sets[i].n != 0)
			return cu_fail(err, err_size, "%s: a %s load takes only %s", sets[i].field,
				       kind, sets[which].field);
	}
	if (sets[which].n > VALIDATE_POLICY_MAX_ROWS)
		return cu_fail(err, err_size, "%s: %zu rows, at most %d allowed", sets[which].field,
			       sets[which].n, VALIDATE_POLICY_MAX_ROWS);
	if (sets[which].n == 0 && (pl->kind == CUSTODY__POLICY_KIND__COUNTRY_GROUPS ||
				   pl->kind == CUSTODY__POLICY_KIND__MODELS))
		return cu_fail(err, err_size, "%s: a %s load needs at least one row",
			       sets[which].field, kind);
	return check_rows(pl->kind, &sets[which], err, err_size);
}

static int check_alert_note(const Custody__AlertNote *n, char *err, size_t err_size)
{
	if (n->alert_id == 0)
		return cu_fail(err, err_size, "alert_note.alert_id: required");
	if (n->state != CUSTODY__ALERT_STATE__ALERT_STATE_UNSPECIFIED &&
	    n->state != CUSTODY__ALERT_STATE__ACKNOWLEDGED &&
	    n->state != CUSTODY__ALERT_STATE__RESOLVED)
		return cu_fail(err, err_size,
			       "alert_note.state: must be ACKNOWLEDGED, RESOLVED or unset (a "
			       "comment)");
	if (STR(n->note)[0] == '\0' || !validate_text(n->note, VALIDATE_NOTE_MAX))
		return cu_fail(err, err_size, "alert_note.note: 1-%d bytes of text required",
			       VALIDATE_NOTE_MAX);
	return CU_OK;
}

int validate_admin(const Custody__AdminAction *act, int64_t now_ms, int64_t max_skew_ms, char *err,
		   size_t err_size)
{
	if (act->issued_at_ms <= 0)
		return cu_fail(err, err_size, "issued_at_ms is required");
	if (act->issued_at_ms > now_ms + max_skew_ms)
		return cu_fail(err, err_size, "issued_at_ms is in the future");
	switch (act->action_case) {
	case CUSTODY__ADMIN_ACTION__ACTION_REGISTER_PARTY:
		return check_party(act->register_party, err, err_size);
	case CUSTODY__ADMIN_ACTION__ACTION_REGISTER_KEY:
		return validate_key_record(act->register_key, err, err_size);
	case CUSTODY__ADMIN_ACTION__ACTION_REGISTER_FACILITY:
		return check_facility(act->register_facility, err, err_size);
	case CUSTODY__ADMIN_ACTION__ACTION_LOAD_POLICY:
		if (act->load_policy == NULL)
			return cu_fail(err, err_size, "load_policy: missing");
		return validate_policy_load(act->load_policy, err, err_size);
	case CUSTODY__ADMIN_ACTION__ACTION_ALERT_NOTE:
		if (act->alert_note == NULL)
			return cu_fail(err, err_size, "alert_note: missing");
		return check_alert_note(act->alert_note, err, err_size);
	case CUSTODY__ADMIN_ACTION__ACTION_ROTATE_KEY:
		return validate_key_rotation(act->rotate_key, err, err_size);
	case CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY:
		return validate_key_revocation(act->revoke_key, now_ms, max_skew_ms, err, err_size);
	default:
		return cu_fail(err, err_size, "action: unknown or missing admin action");
	}
}
