/*
 * auth.h - who may ask what: roles and scopes for every request (docs/auth.md).
 *
 * Two layers. The request table (one row per Request body case, one
 * column per role) says whether a role may send a request at all, always
 * (ALLOWED), only within its scope (SCOPED) or never (DENIED);
 * auth_check runs it for every request before its handler. Scopes that
 * need stored data (a device's owner, where it is, a facility's operator)
 * are decided where the data is, in the handlers and the sequencer, by the
 * auth_may_* helpers below, so every rule is written once, here.
 *
 * The pure part (table, resolution, helpers) is in auth.c, part of the
 * daemon's core and unit-tested; auth_check.c ties it to requests.
 */
#ifndef CUSTODY_AUTH_H
#define CUSTODY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "principal.h"
#include "registry.h"
#include "state.h"
#include "validate.h"

#define AUTH_WHY_MAX 256

enum auth_access {
	AUTH_DENIED = 0,
	AUTH_ALLOWED = 1, /* no further check */
	AUTH_SCOPED = 2,  /* only within the role's scope, checked with the data */
};

/* The requester as resolved for one request. */
struct auth_id {
	enum principal_kind kind;
	Custody__Role role;		 /* PRINCIPAL_KEY: its role (ADMIN: bootstrap admin) */
	char party[VALIDATE_ID_MAX + 1]; /* PRINCIPAL_KEY: its party; "" for bootstrap admin */
	uint8_t pubkey[32];		 /* PRINCIPAL_KEY */
	bool bootstrap_admin;
};

/* A refusal: code 0 = allowed; else the error to answer and why. */
struct auth_verdict {
	Custody__ErrorCode code;
	char why[AUTH_WHY_MAX];
};

/* What the read scopes need to know about one device. */
struct auth_device {
	const char *owner;
	const char *custodian;
	Custody__DeviceStatus status;
	const char *facility;	   /* last known facility */
	const char *destination;   /* "" unless in transit or repair */
	const uint8_t *device_key; /* 32 bytes or NULL */
};

/* Filters a scoped requester's list queries are held to ("" = none). */
struct auth_filters {
	const char *owner;     /* devices (alerts: exporter) of this party only */
	const char *operator_; /* at facilities this party operates only */
};

/* The request table: access of role (1..7) to body; DENIED for unknown. */
enum auth_access auth_access(Custody__Request__BodyCase body, Custody__Role role);

/* The request type's name ("where"), or NULL for a body the table lacks. */
const char *auth_request_name(Custody__Request__BodyCase body);

/* A name for the requester's role in messages: "local", "regulator", ... */
const char *auth_role_name(const struct auth_id *id);

/*
 * Resolves principal p against reg (the registry as last committed; NULL
 * if not loaded yet) at now_ms into *out. bootstrap_admin says whether p's
 * key is the configured bootstrap admin key. Returns CU_OK, or fills v
 * (UNAUTHENTICATED: no principal, key unknown or not usable now;
 * UNAVAILABLE: registry not loaded) and returns CU_ERR_PERM.
 */
CU_MUST_USE int auth_resolve(const struct principal *p, const struct registry *reg,
			     bool bootstrap_admin, int64_t now_ms, struct auth_id *out,
			     struct auth_verdict *v);

/*
 * The request-level decision for msg (borrowed) from id: the table, then
 * what the request alone shows (envelope signers, inclusion by index, the
 * cosigning key, the VEU report's exporter). Returns CU_OK, or fills v
 * (FORBIDDEN) and returns CU_ERR_PERM. Scopes needing stored data are left
 * to the handlers.
 */
CU_MUST_USE int auth_decide(const struct auth_id *id, const struct registry *reg,
			    const Custody__Request *msg, struct auth_verdict *v);

/* Does id read everything (LOCAL or a regulator)? */
bool auth_reads_all(const struct auth_id *id);

/* May id read device d (where, history, contents, and its events)? */
bool auth_may_read_device(const struct auth_id *id, const struct registry *reg,
			  const struct auth_device *d);

/* The filters id's inventory, alert and watch queries are held to. */
void auth_list_filters(const struct auth_id *id, struct auth_filters *f);

/* Does facility exist and is it operated by party? */
bool auth_operates(const struct registry *reg, const char *party, const char *facility);

/* May id read an alert about exporter's devices at facility? */
bool auth_may_read_alert(const struct auth_id *id, const struct registry *reg, const char *exporter,
			 const char *facility);

/* May id read the notice of a shipment by exporter from -> to with carrier? */
bool auth_may_read_shipment(const struct auth_id *id, const struct registry *reg,
			    const char *exporter, const char *from, const char *to,
			    const char *carrier);

/*
 * May id relay an ATTEST signed by a device's own key, for a device owned
 * by owner at facility? (its owner, or the operator of the facility).
 */
bool auth_may_relay(const struct auth_id *id, const struct registry *reg, const char *owner,
		    const char *facility);

/*
 * The signer scope of a custody event (docs/auth.md): may key (registered,
 * usable; key->party is the event's actor) sign ev, given the devices'
 * rows in ws? Devices ws lacks are left to the state machine (NOT_FOUND).
 * Returns CU_OK, or fills v (FORBIDDEN) and returns CU_ERR_PERM.
 */
CU_MUST_USE int auth_may_sign_event(const struct key_rec *key, const struct registry *reg,
				    const Custody__Event *ev, const struct state_ws *ws,
				    struct auth_verdict *v);

/* ---- requests (auth_check.c) ------------------------------------------- */

struct req;

/*
 * Resolves who sent req (its principal, looked up in the registry now) and
 * decides msg with the table (auth_decide). Returns CU_OK, or answers req
 * with the refusal (FORBIDDEN names the role and the request type; it is
 * logged once) and returns CU_ERR_PERM: req is then gone.
 */
CU_MUST_USE int auth_check(struct req *req, const Custody__Request *msg);

/*
 * The requester of req as resolved now, for a handler's scoped checks.
 * CU_OK, or req is answered (UNAUTHENTICATED / UNAVAILABLE) and gone.
 */
CU_MUST_USE int auth_whoami(struct req *req, struct auth_id *out);

/*
 * Answers req FORBIDDEN ("<why> (role R, request T)") and logs the attempt
 * once with the peer, party, role and request type; req is gone.
 */
void auth_forbid(struct req *req, const struct auth_id *id, const char *request, const char *fmt,
		 ...) __attribute__((format(printf, 4, 5)));

/*
 * Is principal p (a copy kept beyond its request, e.g. by a watch) still
 * allowed to send body requests now? For keys revoked or expired since,
 * or roles no longer allowed, false; why (AUTH_WHY_MAX bytes) says why.
 */
bool auth_still_allowed(const struct principal *p, Custody__Request__BodyCase body, char *why);

/* The registry auth checks use (the sequencer's last committed one). */
const struct registry *auth_registry(void);

#endif
