/*
 * dispatch.c - request routing (see dispatch.h): one table from request
 * type to handler. A frame that is not a Request, or a Request of a type
 * this server does not know, gets BAD_REQUEST and the connection goes on:
 * the framing is intact, so the next frame can still be read. Every known
 * request passes auth_check (auth.h) before its handler runs.
 */
#include "dispatch.h"

#include "auth.h"
#include "conn.h"
#include "log.h"
#include "metrics.h"
#include "pb.h"
#include "peer.h"

struct route {
	Custody__Request__BodyCase body;
	const char *name;
	handler_fn handler;
};

static const struct route routes[] = {
    {CUSTODY__REQUEST__BODY_ADMIN, "admin", h_admin},
    {CUSTODY__REQUEST__BODY_SUBMIT, "submit", h_submit},
    {CUSTODY__REQUEST__BODY_WHERE, "where", h_where},
    {CUSTODY__REQUEST__BODY_HISTORY, "history", h_history},
    {CUSTODY__REQUEST__BODY_INVENTORY, "inventory", h_inventory},
    {CUSTODY__REQUEST__BODY_CONTENTS, "contents", h_contents},
    {CUSTODY__REQUEST__BODY_EVENTS, "events", h_events},
    {CUSTODY__REQUEST__BODY_KEY_INFO, "key_info", h_key_info},
    {CUSTODY__REQUEST__BODY_ALERTS, "alerts", h_alerts},
    {CUSTODY__REQUEST__BODY_WATCH, "watch", h_watch},
    {CUSTODY__REQUEST__BODY_VEU_REPORT, "veu_report", h_veu_report},
    {CUSTODY__REQUEST__BODY_SHIPMENT, "shipment", h_shipment},
    {CUSTODY__REQUEST__BODY_POLICY_INFO, "policy_info", h_policy_info},
    {CUSTODY__REQUEST__BODY_LOG_KEY, "log_key", h_log_key},
    {CUSTODY__REQUEST__BODY_CHECKPOINT, "checkpoint", h_checkpoint},
    {CUSTODY__REQUEST__BODY_INCLUSION, "inclusion", h_inclusion},
    {CUSTODY__REQUEST__BODY_CONSISTENCY, "consistency", h_consistency},
    {CUSTODY__REQUEST__BODY_ENTRIES, "entries", h_entries},
    {CUSTODY__REQUEST__BODY_TILE, "tile", h_tile},
    {CUSTODY__REQUEST__BODY_COSIGN, "cosign", h_cosign},
};

void dispatch_frame(struct conn *conn, const uint8_t *body, size_t len)
{
	/* One block (pb.h): a request is unpacked and freed on every frame. */
	Custody__Request *msg =
	    (Custody__Request *)pb_block_unpack(&custody__request__descriptor, len, body);
	const struct route *route = NULL;
	struct req *req;

	if (msg == NULL || !pb_fields_valid(&msg->base)) {
		/* pb.h: a field number 0 protobuf-c lets through. */
		pb_block_free(msg);
		metrics_request(0, CUSTODY__ERROR_CODE__BAD_REQUEST);
		conn_send_error(conn, CUSTODY__ERROR_CODE__BAD_REQUEST,
				"frame is not a valid protobuf Request", 0);
		return;
	}
	req = req_new(conn, msg->id);
	if (req == NULL) {
		conn_send_error(conn, CUSTODY__ERROR_CODE__INTERNAL, "out of memory", 0);
		goto done;
	}
	if (msg->id == 0) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "request id 0 is reserved for server messages; use ids from 1");
		goto done;
	}
	if (!peer_take_token(req_principal(req))) {
		req_fail(req, CUSTODY__ERROR_CODE__UNAVAILABLE,
			 "rate limit: this key sends more than key_rate_per_s requests a second; "
			 "retry later");
		goto done;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (routes[i].body == msg->body_case)
			route = &routes[i];
	}
	if (route == NULL) {
		/* Unknown field numbers leave the oneof unset. */
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST,
			 "request has no body, or a request type this server does not know "
			 "(body field %d)",
			 (int)msg->body_case);
		goto done;
	}
	req_set_type(req, (int)msg->body_case);
	log_debug("request %llu from %s: %s", (unsigned long long)msg->id, req_peer(req),
		  route->name);
	if (auth_check(req, msg) != CU_OK)
		goto done; /* answered */
	route->handler(req, msg);
done:
	pb_block_free(msg);
}
