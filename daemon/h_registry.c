/*
 * h_registry.c - key_info: which party and role a public key belongs to.
 * Served from the sequencer's in-memory registry, so it costs no database
 * round trip; custodyctl uses it to fill in the actor of an event.
 */
#include <string.h>

#include "conn.h"
#include "dispatch.h"
#include "key.h"
#include "sequencer.h"

void h_key_info(struct req *req, const Custody__Request *msg)
{
	const Custody__KeyInfoRequest *in = msg->key_info;
	const struct registry *reg = sequencer_registry();
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__KeyInfoResult out = CUSTODY__KEY_INFO_RESULT__INIT;
	Custody__KeyRecord key = CUSTODY__KEY_RECORD__INIT;
	Custody__Party party = CUSTODY__PARTY__INIT;
	Custody__Role roles[8];
	const struct key_rec *k;
	const struct party *p;

	if (in->pubkey.len != KEY_PUBLIC_BYTES) {
		req_fail(req, CUSTODY__ERROR_CODE__BAD_REQUEST, "pubkey: 32 bytes required");
		return;
	}
	if (reg == NULL) {
		req_fail(req, CUSTODY__ERROR_CODE__UNAVAILABLE, "registry not loaded yet; retry");
		return;
	}
	out.bootstrap_admin = sequencer_is_bootstrap_admin(in->pubkey.data);
	k = registry_key(reg, in->pubkey.data);
	if (k == NULL && !out.bootstrap_admin) {
		req_fail(req, CUSTODY__ERROR_CODE__NOT_FOUND, "this key is not registered");
		return;
	}
	key.pubkey = in->pubkey;
	key.role = CUSTODY__ROLE__ADMIN;
	if (k != NULL) {
		key.party = (char *)k->party;
		key.role = k->role;
		key.valid_from_ms = k->valid_from_ms;
		key.valid_until_ms = k->valid_until_ms;
		out.revoked_at_ms = k->revoked_at_ms;
		out.revoked_reason = (char *)registry_key_revoked_reason(reg, k->pubkey);
		p = registry_party(reg, k->party);
		if (p != NULL) {
			party.id = (char *)p->id;
			party.name = (char *)p->name;
			party.country = (char *)p->country;
			party.hq_country = (char *)p->hq_country;
			party.parent_country = (char *)p->parent_country;
			party.trusted_exporter = p->trusted_exporter;
			for (int r = CUSTODY__ROLE__ADMIN; r <= CUSTODY__ROLE__WITNESS; r++) {
				if (p->roles & (1u << r))
					roles[party.n_roles++] = (Custody__Role)r;
			}
			party.roles = roles;
			out.party = &party;
		}
	}
	out.key = &key;
	resp.body_case = CUSTODY__RESPONSE__BODY_KEY_INFO;
	resp.key_info = &out;
	req_reply(req, &resp);
}
