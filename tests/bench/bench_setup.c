/*
 * bench_setup.c - what custody-bench registers before it measures, signed
 * with the admin key: one party (exporter and operator), its US staging
 * site and its Japanese data center, and an exporter and an operator key
 * per connection (so that no key's rate limit or connection quota is what
 * is measured); then the C connections, each as its exporter key.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "codec.h"
#include "envelope.h"

#define CALL_TIMEOUT_MS	 30000
#define JP_AUTHORIZED_MS 1740787200000LL /* 2025-03-01 */

/* Signs act with admin and sends it; anything but an AdminResult fails. */
static int admin_call(struct bench_conn *c, const struct cu_key *admin, Custody__AdminAction *act,
		      uint64_t id, const char *what)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	Custody__Response *resp = NULL;
	int rc;

	act->issued_at_ms = codec_now_ms();
	rc = envelope_seal(ENVELOPE_ADMIN, admin, &act->base, &env);
	if (rc != CU_OK)
		return rc;
	req.id = id;
	req.body_case = CUSTODY__REQUEST__BODY_ADMIN;
	req.admin = &env;
	rc = bconn_call(c, &req, CALL_TIMEOUT_MS, &resp);
	envelope_clear(&env);
	if (rc != CU_OK) {
		fprintf(stderr, "custody-bench: %s: no answer (%s)\n", what, cu_strerror(rc));
		return rc;
	}
	if (resp->body_case != CUSTODY__RESPONSE__BODY_ADMIN) {
		fprintf(stderr, "custody-bench: %s refused: %s\n", what,
			resp->body_case == CUSTODY__RESPONSE__BODY_ERROR ? resp->error->message
									 : "unexpected answer");
		rc = CU_ERR_INVALID;
	}
	custody__response__free_unpacked(resp, NULL);
	return rc;
}

static int register_party(struct bench_conn *c, const struct cu_key *admin,
			  const struct bench_world *w)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__Party p = CUSTODY__PARTY__INIT;
	Custody__Role roles[2] = {CUSTODY__ROLE__EXPORTER, CUSTODY__ROLE__OPERATOR};
	char name[80];

	snprintf(name, sizeof(name), "custody-bench %s", w->tag);
	p.id = (char *)w->party;
	p.name = name;
	p.country = p.hq_country = p.parent_country = "US";
	p.roles = roles;
	p.n_roles = 2;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_PARTY;
	act.register_party = &p;
	return admin_call(c, admin, &act, 1, "register party");
}

static int register_facility(struct bench_conn *c, const struct cu_key *admin,
			     const struct bench_world *w, bool jp)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__Facility f = CUSTODY__FACILITY__INIT;

	f.id = (char *)(jp ? w->fac_jp : w->fac_us);
	f.name = jp ? "bench Inzai DC" : "bench Hillsboro staging";
	f.owner = f.operator_ = (char *)w->party;
	f.country = jp ? "JP" : "US";
	f.latitude = jp ? 35.83 : 45.52;
	f.longitude = jp ? 140.15 : -122.99;
	f.authorized = true;
	f.authorized_since_ms = jp ? JP_AUTHORIZED_MS : 0;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_FACILITY;
	act.register_facility = &f;
	return admin_call(c, admin, &act, jp ? 3 : 2, "register facility");
}

static int register_key(struct bench_conn *c, const struct cu_key *admin,
			const struct bench_world *w, const struct cu_key *key, Custody__Role role,
			uint64_t id)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__KeyRecord k = CUSTODY__KEY_RECORD__INIT;

	k.pubkey.data = (uint8_t *)key->pk;
	k.pubkey.len = KEY_PUBLIC_BYTES;
	k.party = (char *)w->party;
	k.role = role;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_KEY;
	act.register_key = &k;
	return admin_call(c, admin, &act, id, "register key");
}

int bench_setup_register(const struct bench_target *t, const char *admin_key_path,
			 const struct bench_world *w)
{
	struct cu_key *admin = NULL;
	struct bench_conn *c = NULL;
	int rc = key_load(admin_key_path, &admin);

	if (rc != CU_OK) {
		fprintf(stderr, "custody-bench: %s: %s\n", admin_key_path, cu_strerror(rc));
		return rc;
	}
	rc = bconn_open(t, admin, &c);
	if (rc != CU_OK)
		fprintf(stderr, "custody-bench: cannot connect as the admin key: %s\n",
			cu_strerror(rc));
	if (rc == CU_OK)
		rc = register_party(c, admin, w);
	if (rc == CU_OK)
		rc = register_facility(c, admin, w, false);
	if (rc == CU_OK)
		rc = register_facility(c, admin, w, true);
	for (size_t i = 0; i < w->n_conns && rc == CU_OK; i++) {
		rc = register_key(c, admin, w, w->exporter[i], CUSTODY__ROLE__EXPORTER, 10 + 2 * i);
		if (rc == CU_OK)
			rc = register_key(c, admin, w, w->operator_[i], CUSTODY__ROLE__OPERATOR,
					  11 + 2 * i);
	}
	bconn_free(c);
	key_free(admin);
	return rc;
}

int bench_connect_all(const struct bench_target *t, const struct bench_world *w,
		      struct bench_conn **conns)
{
	for (size_t i = 0; i < w->n_conns; i++) {
		int rc = bconn_open(t, w->exporter[i], &conns[i]);

		if (rc != CU_OK) {
			fprintf(stderr, "custody-bench: connection %zu: %s\n", i, cu_strerror(rc));
			return rc;
		}
	}
	return CU_OK;
}
