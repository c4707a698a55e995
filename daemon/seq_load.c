/*
 * seq_load.c - what the sequencer reads back when it synchronizes (see
 * seq_internal.h): the registry's parties, keys and facilities, the policy
 * store and the tally, from their SQL_LOAD_* results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enums.h"
#include "log.h"
#include "seq_internal.h"

int seq_load_parties(struct registry *reg, const PGresult *res)
{
	struct party p;

	for (int r = 0; r < PQntuples(res); r++) {
		char roles[256], *save = NULL;

		memset(&p, 0, sizeof(p));
		snprintf(p.id, sizeof(p.id), "%s", PQgetvalue(res, r, 0));
		snprintf(p.name, sizeof(p.name), "%s", PQgetvalue(res, r, 1));
		snprintf(p.country, sizeof(p.country), "%s", PQgetvalue(res, r, 2));
		snprintf(p.hq_country, sizeof(p.hq_country), "%s", PQgetvalue(res, r, 3));
		snprintf(p.parent_country, sizeof(p.parent_country), "%s", PQgetvalue(res, r, 4));
		snprintf(roles, sizeof(roles), "%s", PQgetvalue(res, r, 5));
		for (char *t = strtok_r(roles, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			int role = enum_value(&custody__role__descriptor, t);

			if (role != 0)
				p.roles |= 1u << role;
		}
		p.trusted_exporter = db_value_bool(res, r, 6);
		if (registry_put_party(reg, &p) != CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

int seq_load_keys(struct registry *reg, const PGresult *res)
{
	struct key_rec k;

	for (int r = 0; r < PQntuples(res); r++) {
		memset(&k, 0, sizeof(k));
		if (db_value_bytes(res, r, 0, k.pubkey, 32) != CU_OK)
			return CU_ERR_INVALID;
		snprintf(k.party, sizeof(k.party), "%s", PQgetvalue(res, r, 1));
		k.role = enum_value(&custody__role__descriptor, PQgetvalue(res, r, 2));
		if (k.role == 0)
			return CU_ERR_INVALID;
		k.valid_from_ms = db_value_i64(res, r, 3);
		k.valid_until_ms = db_value_i64(res, r, 4);
		k.valid_from_stated = db_value_bool(res, r, 6);
		/* revoked_at (column 5) is set with its reason */
		if (registry_put_key(reg, &k) != CU_OK ||
		    registry_key_end(reg, k.pubkey, 0, db_value_i64(res, r, 5),
				     PQgetvalue(res, r, 7)) != CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

int seq_load_facilities(struct registry *reg, const PGresult *res)
{
	struct facility f;

	for (int r = 0; r < PQntuples(res); r++) {
		memset(&f, 0, sizeof(f));
		snprintf(f.id, sizeof(f.id), "%s", PQgetvalue(res, r, 0));
		snprintf(f.name, sizeof(f.name), "%s", PQgetvalue(res, r, 1));
		snprintf(f.owner, sizeof(f.owner), "%s", PQgetvalue(res, r, 2));
		snprintf(f.operator_, sizeof(f.operator_), "%s", PQgetvalue(res, r, 3));
		snprintf(f.country, sizeof(f.country), "%s", PQgetvalue(res, r, 4));
		f.latitude = strtod(PQgetvalue(res, r, 5), NULL);
		f.longitude = strtod(PQgetvalue(res, r, 6), NULL);
		f.authorized = db_value_bool(res, r, 7);
		f.authorized_since_ms = db_value_i64(res, r, 8);
		if (registry_put_facility(reg, &f) != CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

/* The policy store: built-in files first, then every signed load in order. */
struct policy_store *seq_load_policy(const PGresult *res, const Custody__PolicyLoad *const *builtin,
				     size_t n_builtin)
{
	struct policy_store *store = policy_store_new();
	char err[256];

	for (size_t i = 0; store != NULL && i < n_builtin; i++) {
		if (policy_store_add(store, builtin[i], 0, err, sizeof(err)) != CU_OK) {
			log_error("built-in policy data: %s", err);
			policy_store_free(store);
			return NULL;
		}
	}
	for (int r = 0; store != NULL && r < PQntuples(res); r++) {
		uint64_t admin_seq = (uint64_t)db_value_i64(res, r, 0);
		size_t len = 0;
		unsigned char *body =
		    PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 1), &len);
		Custody__AdminAction *act =
		    body != NULL ? custody__admin_action__unpack(NULL, len, body) : NULL;
		int rc = CU_ERR_INVALID;

		snprintf(err, sizeof(err), "the stored body is not a policy load");
		if (act != NULL && act->action_case == CUSTODY__ADMIN_ACTION__ACTION_LOAD_POLICY)
			rc = policy_store_add(store, act->load_policy, admin_seq, err, sizeof(err));
		if (act != NULL)
			custody__admin_action__free_unpacked(act, NULL);
		PQfreemem(body);
		if (rc != CU_OK) {
			log_error("policy load at admin seq %llu cannot be read back: %s",
				  (unsigned long long)admin_seq, err);
			policy_store_free(store);
			return NULL;
		}
	}
	return store;
}

/* The tally from stored device places and usage rows. */
struct tally *seq_load_tally(const PGresult *alloc, const PGresult *usage)
{
	struct tally *t = tally_new();
	const PGresult *sets[2] = {alloc, usage};

	for (int i = 0; t != NULL && i < 2; i++) {
		for (int r = 0; r < PQntuples(sets[i]); r++) {
			if (tally_add(t, PQgetvalue(sets[i], r, 0), db_value_i64(sets[i], r, 1)) !=
			    CU_OK) {
				tally_free(t);
				return NULL;
			}
		}
	}
	if (t != NULL)
		tally_commit(t);
	return t;
}
