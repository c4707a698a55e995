/*
 * h_policy.c - policy_info: the regime in force, the rule parameters and
 * every policy version loaded (built-in files and signed loads), with
 * which one of each kind is in force now.
 */
#include <stdlib.h>

#include "codec.h"
#include "conn.h"
#include "dispatch.h"
#include "sequencer.h"

void h_policy_info(struct req *req, const Custody__Request *msg)
{
	const struct policy_store *store = sequencer_policy();
	const struct sequencer_options *opt = sequencer_options();
	Custody__Response resp = CUSTODY__RESPONSE__INIT;
	Custody__PolicyInfo info = CUSTODY__POLICY_INFO__INIT;
	Custody__PolicyVersion *vers = NULL, **ptrs = NULL;
	char *hubs[RULES_MAX_HUBS];
	const struct policy_version *v;
	const Custody__PolicyLoad *pl;
	struct policy_view now;
	uint64_t admin_seq;
	size_t pos = 0, n = 0;

	(void)msg;
	if (store == NULL) {
		req_fail(req, CUSTODY__ERROR_CODE__UNAVAILABLE,
			 "policy data not loaded yet (database unavailable); retry later");
		return;
	}
	while (policy_store_next(store, &pos, &pl, &admin_seq) != NULL)
		n++;
	vers = calloc(n + 1, sizeof(*vers));
	ptrs = calloc(n + 1, sizeof(*ptrs));
	if (vers == NULL || ptrs == NULL) {
		free(vers);
		free(ptrs);
		req_fail(req, CUSTODY__ERROR_CODE__INTERNAL, "out of memory");
		return;
	}
	policy_view_at(store, codec_now_ms(), &now);
	for (pos = 0, n = 0; (v = policy_store_next(store, &pos, &pl, &admin_seq)) != NULL; n++) {
		Custody__PolicyVersion *pv = &vers[n];

		custody__policy_version__init(pv);
		pv->kind = pl->kind;
		pv->effective_from_ms = pl->effective_from_ms;
		pv->admin_seq = admin_seq;
		pv->source = pl->source;
		pv->source_sha256 = pl->source_sha256;
		pv->rows = pl->n_country_groups + pl->n_models + pl->n_roster + pl->n_licenses +
			   pl->n_screening;
		pv->in_force = now.of[pl->kind] == v;
		ptrs[n] = pv;
	}
	for (size_t i = 0; i < opt->rules.n_hubs; i++)
		hubs[i] = (char *)opt->rules.hubs[i];
	info.regime = (char *)rules_regime_name(opt->rules.regime);
	info.regime_name = (char *)rules_regime_title(opt->rules.regime);
	info.versions = ptrs;
	info.n_versions = n;
	info.site_notice_days = (uint32_t)(opt->rules.site_notice_ms / 86400000);
	info.transfer_notice_days = (uint32_t)(opt->rules.transfer_notice_ms / 86400000);
	info.ship_deadline_days = (uint32_t)(opt->ship_deadline_ms / 86400000);
	info.attest_interval_hours = (uint32_t)(opt->attest_interval_ms / 3600000);
	info.max_travel_kmh = opt->rules.max_travel_kmh;
	info.hubs = hubs;
	info.n_hubs = opt->rules.n_hubs;
	resp.body_case = CUSTODY__RESPONSE__BODY_POLICY_INFO;
	resp.policy_info = &info;
	req_reply(req, &resp);
	free(vers);
	free(ptrs);
}
