/*
 * h_submit.c - handlers for signed submissions: custody events (submit)
 * and admin actions (admin).
 *
 * Here only what needs no stored state is checked: the envelope's shape,
 * the signature over the exact bytes, that the body decodes, and the
 * structural rules of validate.c. Failures are answered at once and never
 * stored. Who may sign what, and whether the devices allow it, is decided
 * by the sequencer in arrival order.
 */
#include "conn.h"
#include "dispatch.h"
#include "envelope.h"
#include "sequencer.h"
#include "validate.h"

#include "codec.h"

static int64_t max_skew_ms = 300000;

void h_submit_configure(int64_t max_clock_skew_ms)
{
	max_skew_ms = max_clock_skew_ms;
}

/* Checks an envelope's shape and signature; answers and returns false if bad. */
static bool verify(struct req *req, const Custody__SignedEnvelope *env, enum envelope_kind kind)
{
	int rc;

	if (env->body.len == 0 || env->signer.len != 32 || env->sig.len != 64) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "envelope needs a body, a 32-byte signer key and a 64-byte signature");
		return false;
	}
	rc = envelope_verify(kind, env);
	if (rc == CU_ERR_SIGNATURE) {
		req_fail(req, CUSTODY__ERROR_CODE__UNAUTHENTICATED,
			 "signature does not verify for the signer key over \"%s\" || body",
			 kind == ENVELOPE_EVENT ? "custody/event/v1\\n" : "custody/admin/v1\\n");
		return false;
	}
	if (rc != CU_OK) {
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "cannot verify: %s", cu_strerror(rc));
		return false;
	}
	return true;
}

void h_submit(struct req *req, const Custody__Request *msg)
{
	const Custody__SignedEnvelope *env = msg->submit;
	char err[VALIDATE_ERR_MAX];
	uint8_t id[ENVELOPE_ID_BYTES];
	Custody__Event *ev;

	if (!verify(req, env, ENVELOPE_EVENT))
		return;
	ev = custody__event__unpack(NULL, env->body.len, env->body.data);
	if (ev == NULL) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "body is not a valid Event");
		return;
	}
	if (validate_event(ev, codec_now_ms(), max_skew_ms, err, sizeof(err)) != CU_OK) {
		custody__event__free_unpacked(ev, NULL);
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "%s", err);
		return;
	}
	envelope_id(env->body.data, env->body.len, id);
	sequencer_submit_event(req, env, ev, id);
}

void h_admin(struct req *req, const Custody__Request *msg)
{
	const Custody__SignedEnvelope *env = msg->admin;
	char err[VALIDATE_ERR_MAX];
	uint8_t id[ENVELOPE_ID_BYTES];
	Custody__AdminAction *act;

	if (!verify(req, env, ENVELOPE_ADMIN))
		return;
	act = custody__admin_action__unpack(NULL, env->body.len, env->body.data);
	if (act == NULL) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "body is not a valid AdminAction");
		return;
	}
	if (validate_admin(act, codec_now_ms(), max_skew_ms, err, sizeof(err)) != CU_OK) {
		custody__admin_action__free_unpacked(act, NULL);
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "%s", err);
		return;
	}
	envelope_id(env->body.data, env->body.len, id);
	sequencer_submit_admin(req, env, act, id);
}
