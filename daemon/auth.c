/*
 * auth.c - the role x request table and the scope rules (see auth.h and
 * docs/auth.md).
 *
 * Pure: it reads the registry and the rows it is handed and never does
 * I/O, so the unit tests run every request type against every role. The
 * table is the one place that says which role may send which request;
 * the helpers are the one place that says what a scoped role may see and
 * sign.
 */
#include "auth.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "enums.h"

#define D AUTH_DENIED
#define A AUTH_ALLOWED
#define S AUTH_SCOPED

struct auth_row {
	Custody__Request__BodyCase body;
	const char *name;
	/* indexed by Custody__Role: -, admin, exporter, operator, carrier, device, regulator, witness */
	unsigned char access[8];
};

/*
 * One row per request type. SCOPED: the row's refinement below or the
 * handler narrows it (docs/auth.md says how, per row).
 */
static const struct auth_row table[] = {
    /*                                               adm exp opr car dev reg wit */
    {CUSTODY__REQUEST__BODY_ADMIN, "admin", {D, S, S, S, S, S, S, S}},
    {CUSTODY__REQUEST__BODY_SUBMIT, "submit", {D, D, S, S, S, S, D, D}},
    {CUSTODY__REQUEST__BODY_WHERE, "where", {D, D, S, S, S, S, A, D}},
    {CUSTODY__REQUEST__BODY_HISTORY, "history", {D, D, S, S, S, S, A, D}},
    {CUSTODY__REQUEST__BODY_INVENTORY, "inventory", {D, D, S, S, D, D, A, D}},
    {CUSTODY__REQUEST__BODY_CONTENTS, "contents", {D, D, S, S, S, S, A, D}},
    {CUSTODY__REQUEST__BODY_KEY_INFO, "key_info", {D, A, A, A, A, A, A, A}},
    {CUSTODY__REQUEST__BODY_ALERTS, "alerts", {D, D, S, S, D, D, A, D}},
    {CUSTODY__REQUEST__BODY_WATCH, "watch", {D, D, S, S, D, D, A, D}},
    {CUSTODY__REQUEST__BODY_VEU_REPORT, "veu_report", {D, D, S, D, D, D, A, D}},
    {CUSTODY__REQUEST__BODY_SHIPMENT, "shipment", {D, D, S, S, S, D, A, D}},
    {CUSTODY__REQUEST__BODY_POLICY_INFO, "policy_info", {D, A, A, A, A, A, A, A}},
    {CUSTODY__REQUEST__BODY_LOG_KEY, "log_key", {D, A, A, A, A, A, A, A}},
    {CUSTODY__REQUEST__BODY_CHECKPOINT, "checkpoint", {D, A, A, A, A, A, A, A}},
    {CUSTODY__REQUEST__BODY_INCLUSION, "inclusion", {D, A, S, S, S, S, A, A}},
    {CUSTODY__REQUEST__BODY_CONSISTENCY, "consistency", {D, A, A, A, A, A, A, A}},
    {CUSTODY__REQUEST__BODY_ENTRIES, "entries", {D, A, D, D, D, D, A, D}},
    {CUSTODY__REQUEST__BODY_TILE, "tile", {D, A, A, A, A, A, A, A}},
    {CUSTODY__REQUEST__BODY_COSIGN, "cosign", {D, D, D, D, D, D, D, S}},
    {CUSTODY__REQUEST__BODY_EVENTS, "events", {D, D, S, S, D, D, A, D}},
};

#undef D
#undef A
#undef S

static const struct auth_row *find_row(Custody__Request__BodyCase body)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].body == body)
			return &table[i];
	}
	return NULL;
}

enum auth_access auth_access(Custody__Request__BodyCase body, Custody__Role role)
{
	const struct auth_row *row = find_row(body);

	if (row == NULL || role <= CUSTODY__ROLE__ROLE_UNSPECIFIED || role > CUSTODY__ROLE__WITNESS)
		return AUTH_DENIED;
	return (enum auth_access)row->access[role];
}

const char *auth_request_name(Custody__Request__BodyCase body)
{
	const struct auth_row *row = find_row(body);

	return row != NULL ? row->name : NULL;
}

const char *auth_role_name(const struct auth_id *id)
{
	static const char *const names[] = {"none",    "admin",	 "exporter",  "operator",
					    "carrier", "device", "regulator", "witness"};

	if (id->kind == PRINCIPAL_LOCAL)
		return "local";
	if (id->kind != PRINCIPAL_KEY || id->role < 0 || id->role > CUSTODY__ROLE__WITNESS)
		return "unauthenticated";
	return id->bootstrap_admin ? "bootstrap admin" : names[id->role];
}

static int refuse(struct auth_verdict *v, Custody__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(struct auth_verdict *v, Custody__ErrorCode code, const char *fmt, ...)
{
	va_list ap;

	v->code = code;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
	return CU_ERR_PERM;
}

int auth_resolve(const struct principal *p, const struct registry *reg, bool bootstrap_admin,
		 int64_t now_ms, struct auth_id *out, struct auth_verdict *v)
{
	const struct key_rec *k;
	const char *unusable;

	memset(out, 0, sizeof(*out));
	memset(v, 0, sizeof(*v));
	out->kind = p != NULL ? p->kind : PRINCIPAL_NONE;
	if (out->kind == PRINCIPAL_LOCAL)
		return CU_OK;
	if (out->kind != PRINCIPAL_KEY)
		return refuse(v, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			      "the connection is not authenticated");
	memcpy(out->pubkey, p->pubkey, 32);
	if (bootstrap_admin) {
		out->role = CUSTODY__ROLE__ADMIN;
		out->bootstrap_admin = true;
		return CU_OK;
	}
	if (reg == NULL)
		return refuse(v, CUSTODY__ERROR_CODE__UNAVAILABLE,
			      "the registry is not loaded yet; retry later");
	k = registry_key(reg, p->pubkey);
	if (k == NULL)
		return refuse(v, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			      "the connection's key is not registered");
	unusable = registry_key_unusable(k, now_ms);
	if (unusable != NULL)
		return refuse(v, CUSTODY__ERROR_CODE__UNAUTHENTICATED, "the connection's key is %s",
			      unusable);
	out->role = k->role;
	snprintf(out->party, sizeof(out->party), "%s", k->party);
	return CU_OK;
}

/* Is signer id's own key or a key of id's party? */
static bool own_signer(const struct auth_id *id, const struct registry *reg,
		       const uint8_t signer[32])
{
	const struct key_rec *k;

	if (memcmp(signer, id->pubkey, 32) == 0)
		return true;
	k = reg != NULL && id->party[0] != '\0' ? registry_key(reg, signer) : NULL;
	return k != NULL && strcmp(k->party, id->party) == 0;
}

/*
 * Admin and submit: the envelope's signer must be id's own key or one of
 * its party; a submission may also carry a device's own signature (an
 * ATTEST the device's owner or the operator of its facility relays; the
 * sequencer checks that with the device's row).
 */
static int check_signer(const struct auth_id *id, const struct registry *reg,
			const Custody__SignedEnvelope *env, bool is_submit, struct auth_verdict *v)
{
	const struct key_rec *k;

	if (env == NULL || env->signer.len != 32)
		return CU_OK; /* malformed: the handler answers BAD_REQUEST */
	if (own_signer(id, reg, env->signer.data))
		return CU_OK;
	k = reg != NULL ? registry_key(reg, env->signer.data) : NULL;
	if (is_submit && (k == NULL || k->role == CUSTODY__ROLE__DEVICE))
		return CU_OK;
	return refuse(
	    v, CUSTODY__ERROR_CODE__FORBIDDEN,
	    "a key of role %s may send only envelopes signed by itself or its party (%s)%s",
	    auth_role_name(id), id->party[0] ? id->party : "none",
	    is_submit ? ", or a device's own ATTEST" : "");
}

/* What SCOPED rows check from the request alone. */
static int refine(const struct auth_id *id, const struct registry *reg, const Custody__Request *msg,
		  struct auth_verdict *v)
{
	switch (msg->body_case) {
	case CUSTODY__REQUEST__BODY_ADMIN:
		return check_signer(id, reg, msg->admin, false, v);
	case CUSTODY__REQUEST__BODY_SUBMIT:
		return check_signer(id, reg, msg->submit, true, v);
	case CUSTODY__REQUEST__BODY_INCLUSION:
		if (msg->inclusion->event_id.len == 0 && msg->inclusion->facility[0] == '\0' &&
		    msg->inclusion->key.len == 0)
			return refuse(
			    v, CUSTODY__ERROR_CODE__FORBIDDEN,
			    "a key of role %s may ask for inclusion proofs by event id, facility "
			    "or key, not by index",
			    auth_role_name(id));
		return CU_OK;
	case CUSTODY__REQUEST__BODY_COSIGN:
		if (msg->cosign->witness_key.len == 32 &&
		    !own_signer(id, reg, msg->cosign->witness_key.data))
			return refuse(
			    v, CUSTODY__ERROR_CODE__FORBIDDEN,
			    "a witness key may hand in only its own party's cosignatures");
		return CU_OK;
	case CUSTODY__REQUEST__BODY_VEU_REPORT:
		if (strcmp(msg->veu_report->exporter, id->party) != 0)
			return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
				      "an exporter key may ask only for its own VEU report (%s)",
				      id->party);
		return CU_OK;
	default:
		return CU_OK;
	}
}

/* Alerts, watch, inventory and events: filters that contradict the scope. */
static int refine_filters(const struct auth_id *id, const struct registry *reg,
			  const Custody__Request *msg, struct auth_verdict *v)
{
	const char *exporter = "", *facility = "";

	if (msg->body_case == CUSTODY__REQUEST__BODY_ALERTS) {
		exporter = msg->alerts->exporter;
		facility = msg->alerts->facility;
	} else if (msg->body_case == CUSTODY__REQUEST__BODY_WATCH) {
		exporter = msg->watch->exporter;
		facility = msg->watch->facility;
	} else if (msg->body_case == CUSTODY__REQUEST__BODY_INVENTORY) {
		facility = msg->inventory->facility;
	} else if (msg->body_case == CUSTODY__REQUEST__BODY_EVENTS) {
		facility = msg->events->facility;
	} else {
		return CU_OK;
	}
	if (id->role == CUSTODY__ROLE__EXPORTER && exporter[0] != '\0' &&
	    strcmp(exporter, id->party) != 0)
		return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
			      "an exporter key sees only its own party's (%s) alerts", id->party);
	if (id->role == CUSTODY__ROLE__OPERATOR && facility[0] != '\0' &&
	    !auth_operates(reg, id->party, facility))
		return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
			      "facility %s is not operated by %s", facility, id->party);
	return CU_OK;
}

int auth_decide(const struct auth_id *id, const struct registry *reg, const Custody__Request *msg,
		struct auth_verdict *v)
{
	const char *name = auth_request_name(msg->body_case);
	enum auth_access access;

	memset(v, 0, sizeof(*v));
	if (id->kind == PRINCIPAL_LOCAL)
		return CU_OK;
	if (id->kind != PRINCIPAL_KEY)
		return refuse(v, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			      "the connection is not authenticated");
	if (name == NULL)
		return CU_OK; /* unknown request: the dispatcher answers BAD_REQUEST */
	access = auth_access(msg->body_case, id->role);
	if (access == AUTH_DENIED)
		return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
			      "a key of role %s may not send %s requests", auth_role_name(id),
			      name);
	if (access == AUTH_ALLOWED)
		return CU_OK;
	if (refine(id, reg, msg, v) != CU_OK)
		return CU_ERR_PERM;
	return refine_filters(id, reg, msg, v);
}

bool auth_reads_all(const struct auth_id *id)
{
	return id->kind == PRINCIPAL_LOCAL ||
	       (id->kind == PRINCIPAL_KEY && id->role == CUSTODY__ROLE__REGULATOR);
}

bool auth_operates(const struct registry *reg, const char *party, const char *facility)
{
	const struct facility *f;

	if (reg == NULL || party[0] == '\0' || facility == NULL || facility[0] == '\0')
		return false;
	f = registry_facility(reg, facility);
	return f != NULL && strcmp(f->operator_, party) == 0;
}

static bool same_party(const struct auth_id *id, const char *party)
{
	return id->party[0] != '\0' && party != NULL && strcmp(party, id->party) == 0;
}

bool auth_may_read_device(const struct auth_id *id, const struct registry *reg,
			  const struct auth_device *d)
{
	if (auth_reads_all(id))
		return true;
	if (id->kind != PRINCIPAL_KEY)
		return false;
	switch (id->role) {
	case CUSTODY__ROLE__EXPORTER:
		return same_party(id, d->owner);
	case CUSTODY__ROLE__OPERATOR:
		return auth_operates(reg, id->party, d->facility) ||
		       auth_operates(reg, id->party, d->destination);
	case CUSTODY__ROLE__CARRIER:
		return d->status == CUSTODY__DEVICE_STATUS__IN_TRANSIT &&
		       same_party(id, d->custodian);
	case CUSTODY__ROLE__DEVICE:
		return d->device_key != NULL && memcmp(d->device_key, id->pubkey, 32) == 0;
	default:
		return false;
	}
}

void auth_list_filters(const struct auth_id *id, struct auth_filters *f)
{
	f->owner = "";
	f->operator_ = "";
	if (auth_reads_all(id) || id->kind != PRINCIPAL_KEY)
		return;
	if (id->role == CUSTODY__ROLE__EXPORTER)
		f->owner = id->party;
	else if (id->role == CUSTODY__ROLE__OPERATOR)
		f->operator_ = id->party;
}

bool auth_may_read_alert(const struct auth_id *id, const struct registry *reg, const char *exporter,
			 const char *facility)
{
	if (auth_reads_all(id))
		return true;
	if (id->kind == PRINCIPAL_KEY && id->role == CUSTODY__ROLE__EXPORTER)
		return same_party(id, exporter);
	if (id->kind == PRINCIPAL_KEY && id->role == CUSTODY__ROLE__OPERATOR)
		return auth_operates(reg, id->party, facility);
	return false;
}

bool auth_may_read_shipment(const struct auth_id *id, const struct registry *reg,
			    const char *exporter, const char *from, const char *to,
			    const char *carrier)
{
	if (auth_reads_all(id))
		return true;
	if (id->kind != PRINCIPAL_KEY)
		return false;
	switch (id->role) {
	case CUSTODY__ROLE__EXPORTER:
		return same_party(id, exporter);
	case CUSTODY__ROLE__OPERATOR:
		return auth_operates(reg, id->party, from) || auth_operates(reg, id->party, to);
	case CUSTODY__ROLE__CARRIER:
		return same_party(id, carrier);
	default:
		return false;
	}
}

bool auth_may_relay(const struct auth_id *id, const struct registry *reg, const char *owner,
		    const char *facility)
{
	if (id->kind == PRINCIPAL_LOCAL)
		return true;
	return id->kind == PRINCIPAL_KEY &&
	       (same_party(id, owner) || auth_operates(reg, id->party, facility));
}

/* ---- signer scope -------------------------------------------------------- */

static const char *type_name(const Custody__Event *ev)
{
	return enum_name(&custody__event_type__descriptor, ev->type);
}

/* Exporter: every device and container it acts on is its party's. */
static int sign_exporter(const struct key_rec *key, const Custody__Event *ev,
			 const struct state_ws *ws, struct auth_verdict *v)
{
	const struct dev *d;

	if (ev->type == CUSTODY__EVENT_TYPE__REGISTER)
		return CU_OK; /* the devices become the actor's */
	for (size_t i = 0; i <= ev->n_devices; i++) {
		const char *serial = i < ev->n_devices	     ? ev->devices[i]->serial
				     : ev->container != NULL ? ev->container->serial
							     : NULL;

		if (serial == NULL || (d = state_ws_get(ws, serial)) == NULL)
			continue;
		if (strcmp(d->owner, key->party) != 0)
			return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
				      "an exporter key of %s signs only for devices %s owns; %s "
				      "belongs to %s",
				      key->party, key->party, d->serial, d->owner);
	}
	return CU_OK;
}

/* Operator: the event happens at a facility it operates. */
static int sign_operator(const struct key_rec *key, const struct registry *reg,
			 const Custody__Event *ev, const struct state_ws *ws,
			 struct auth_verdict *v)
{
	const struct dev *d;

	if (ev->facility[0] != '\0') {
		if (auth_operates(reg, key->party, ev->facility))
			return CU_OK;
		return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
			      "an operator key of %s signs only events at facilities %s operates, "
			      "not at %s",
			      key->party, key->party, ev->facility);
	}
	/* ATTEST and REPORT may omit the facility: where the devices are. */
	for (size_t i = 0; i < ev->n_devices; i++) {
		if ((d = state_ws_get(ws, ev->devices[i]->serial)) == NULL)
			continue;
		if (!auth_operates(reg, key->party, d->facility))
			return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
				      "an operator key of %s signs only for devices at facilities "
				      "%s operates; %s is at %s",
				      key->party, key->party, d->serial, d->facility);
	}
	return CU_OK;
}

/* Carrier: SHIP naming it as carrier; RECEIVE of what it carries. */
static int sign_carrier(const struct key_rec *key, const Custody__Event *ev,
			const struct state_ws *ws, struct auth_verdict *v)
{
	const struct dev *d;

	if (ev->type == CUSTODY__EVENT_TYPE__SHIP && strcmp(ev->carrier, key->party) == 0)
		return CU_OK;
	if (ev->type != CUSTODY__EVENT_TYPE__RECEIVE)
		return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
			      "a carrier key signs only SHIP naming %s as carrier and RECEIVE of "
			      "what it carries, not %s",
			      key->party, type_name(ev));
	for (size_t i = 0; i < ev->n_devices; i++) {
		if ((d = state_ws_get(ws, ev->devices[i]->serial)) == NULL)
			continue;
		if (d->status != CUSTODY__DEVICE_STATUS__IN_TRANSIT ||
		    strcmp(d->custodian, key->party) != 0)
			return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
				      "%s is not on a shipment carried by %s", d->serial,
				      key->party);
	}
	return CU_OK;
}

/* Device: ATTEST of the device whose key it is. */
static int sign_device(const struct key_rec *key, const Custody__Event *ev,
		       const struct state_ws *ws, struct auth_verdict *v)
{
	const struct dev *d;

	if (ev->type != CUSTODY__EVENT_TYPE__ATTEST)
		return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
			      "a device key signs only ATTEST events, not %s", type_name(ev));
	for (size_t i = 0; i < ev->n_devices; i++) {
		if ((d = state_ws_get(ws, ev->devices[i]->serial)) == NULL)
			continue;
		if (!d->has_device_key || memcmp(d->device_key, key->pubkey, 32) != 0)
			return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
				      "a device key attests only for its own device, not for %s",
				      d->serial);
	}
	return CU_OK;
}

int auth_may_sign_event(const struct key_rec *key, const struct registry *reg,
			const Custody__Event *ev, const struct state_ws *ws, struct auth_verdict *v)
{
	memset(v, 0, sizeof(*v));
	switch (key->role) {
	case CUSTODY__ROLE__EXPORTER:
		return sign_exporter(key, ev, ws, v);
	case CUSTODY__ROLE__OPERATOR:
		return sign_operator(key, reg, ev, ws, v);
	case CUSTODY__ROLE__CARRIER:
		return sign_carrier(key, ev, ws, v);
	case CUSTODY__ROLE__DEVICE:
		return sign_device(key, ev, ws, v);
	default:
		return refuse(v, CUSTODY__ERROR_CODE__FORBIDDEN,
			      "a key with role %s cannot submit %s events",
			      enum_name(&custody__role__descriptor, key->role), type_name(ev));
	}
}
