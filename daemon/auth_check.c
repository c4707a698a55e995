/*
 * auth_check.c - the request side of auth.h: resolving a request's
 * principal against the registry as last committed, running the table
 * before every handler, and answering and logging refusals in one way.
 */
#include <stdarg.h>
#include <stdio.h>

#include "auth.h"
#include "codec.h"
#include "conn.h"
#include "log.h"
#include "sequencer.h"

const struct registry *auth_registry(void)
{
	return sequencer_registry();
}

int auth_whoami(struct req *req, struct auth_id *out)
{
	const struct principal *p = req_principal(req);
	bool bootstrap =
	    p != NULL && p->kind == PRINCIPAL_KEY && sequencer_is_bootstrap_admin(p->pubkey);
	struct auth_verdict v;

	if (auth_resolve(p, auth_registry(), bootstrap, codec_now_ms(), out, &v) == CU_OK)
		return CU_OK;
	if (v.code == CUSTODY__ERROR_CODE__UNAUTHENTICATED)
		log_warn("unauthenticated request from %s: %s", req_peer(req), v.why);
	req_fail(req, v.code, "%s", v.why);
	return CU_ERR_PERM;
}

void auth_forbid(struct req *req, const struct auth_id *id, const char *request, const char *fmt,
		 ...)
{
	char why[AUTH_WHY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warn("forbidden: %s (party %s, role %s) request %s: %s", req_peer(req),
		 id->party[0] ? id->party : "-", auth_role_name(id), request, why);
	req_fail(req, CUSTODY__ERROR_CODE__FORBIDDEN, "%s (role %s, request %s)", why,
		 auth_role_name(id), request);
}

bool auth_still_allowed(const struct principal *p, Custody__Request__BodyCase body, char *why)
{
	struct auth_id id;
	struct auth_verdict v;
	bool bootstrap = p->kind == PRINCIPAL_KEY && sequencer_is_bootstrap_admin(p->pubkey);

	if (auth_resolve(p, auth_registry(), bootstrap, codec_now_ms(), &id, &v) != CU_OK) {
		snprintf(why, AUTH_WHY_MAX, "%s", v.why);
		return false;
	}
	if (id.kind == PRINCIPAL_KEY && auth_access(body, id.role) == AUTH_DENIED) {
		snprintf(why, AUTH_WHY_MAX, "a key of role %s may not send %s requests",
			 auth_role_name(&id), auth_request_name(body));
		return false;
	}
	return true;
}

int auth_check(struct req *req, const Custody__Request *msg)
{
	const char *name = auth_request_name(msg->body_case);
	struct auth_id id;
	struct auth_verdict v;

	if (auth_whoami(req, &id) != CU_OK)
		return CU_ERR_PERM;
	if (auth_decide(&id, auth_registry(), msg, &v) == CU_OK)
		return CU_OK;
	if (v.code == CUSTODY__ERROR_CODE__FORBIDDEN) {
		auth_forbid(req, &id, name != NULL ? name : "unknown", "%s", v.why);
		return CU_ERR_PERM;
	}
	req_fail(req, v.code, "%s", v.why);
	return CU_ERR_PERM;
}
