/*
 * cmd_whoami.c - "whoami": asks the server (KeyInfoRequest) who the --key
 * key belongs to, so a user can check which party and role will sign
 * before submitting anything. Only the public half of the key is read.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "enums.h"
#include "out.h"

/* Writes the roles of p as "exporter,operator" into out. */
static void roles_text(const Custody__Party *p, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < p->n_roles && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s", i > 0 ? "," : "",
					 enum_label(&custody__role__descriptor, p->roles[i], NULL));
}

/* Prints r and the base64 key pub (both borrowed) as one JSON document. */
static void print_json(const Custody__KeyInfoResult *r, const char *pub)
{
	struct out_json j;

	out_json_init(&j, stdout);
	out_json_begin_object(&j);
	out_json_kstr(&j, "public_key", pub);
	out_json_key(&j, "key");
	if (r->key == NULL) {
		out_json_null(&j);
	} else {
		out_json_begin_object(&j);
		out_json_kstr(&j, "party", r->key->party);
		out_json_kenum(&j, "role", &custody__role__descriptor, r->key->role);
		out_json_ktime(&j, "valid_from", r->key->valid_from_ms);
		out_json_ktime(&j, "valid_until", r->key->valid_until_ms);
		out_json_end_object(&j);
	}
	out_json_key(&j, "party");
	if (r->party == NULL) {
		out_json_null(&j);
	} else {
		out_json_begin_object(&j);
		out_json_kstr(&j, "id", r->party->id);
		out_json_kstr(&j, "name", r->party->name);
		out_json_kstr(&j, "country", r->party->country);
		out_json_kstr(&j, "hq_country", r->party->hq_country);
		out_json_kstr(&j, "parent_country", r->party->parent_country);
		out_json_key(&j, "roles");
		out_json_begin_array(&j);
		for (size_t i = 0; i < r->party->n_roles; i++)
			out_json_enum(&j, &custody__role__descriptor, r->party->roles[i]);
		out_json_end_array(&j);
		out_json_kbool(&j, "trusted_exporter", r->party->trusted_exporter);
		out_json_end_object(&j);
	}
	out_json_kbool(&j, "bootstrap_admin", r->bootstrap_admin);
	out_json_ktime(&j, "revoked_at", r->revoked_at_ms);
	out_json_kstr(&j, "revoked_reason", r->revoked_reason);
	out_json_end_object(&j);
}

/* Prints r and the base64 key pub (both borrowed) as a key/value block. */
static int print_human(const Custody__KeyInfoResult *r, const char *pub)
{
	const Custody__KeyRecord *k = r->key;
	const Custody__Party *p = r->party;
	struct out_table *t = NULL;
	char from[CODEC_TIME_MAX], until[CODEC_TIME_MAX], revoked[CODEC_TIME_MAX];
	char roles[128];
	int rc = out_table_new(2, NULL, &t);

	if (rc != CU_OK)
		return rc;
	out_table_kv(t, "key", "%s", pub);
	out_table_kv(t, "party", "%s", k != NULL ? k->party : p != NULL ? p->id : "-");
	if (p != NULL) {
		roles_text(p, roles, sizeof(roles));
		out_table_kv(t, "name", "%s", p->name);
		out_table_kv(t, "country", "%s (hq %s, parent %s)", p->country, p->hq_country,
			     p->parent_country);
		out_table_kv(t, "party roles", "%s", roles);
		out_table_kv(t, "trusted", "%s", p->trusted_exporter ? "yes" : "no");
	}
	if (k != NULL) {
		out_table_kv(t, "role", "%s",
			     enum_label(&custody__role__descriptor, k->role, NULL));
		out_table_kv(t, "valid from", "%s",
			     k->valid_from_ms != 0 ? out_time(k->valid_from_ms, from)
						   : "(registration)");
		out_table_kv(t, "valid until", "%s",
			     k->valid_until_ms != 0 ? out_time(k->valid_until_ms, until)
						    : "(no expiry)");
	} else {
		out_table_kv(t, "role", "(no key record)");
	}
	if (r->revoked_at_ms != 0)
		out_table_kv(t, "revoked", "%s%s%s%s", out_time(r->revoked_at_ms, revoked),
			     r->revoked_reason[0] != '\0' ? " (" : "", r->revoked_reason,
			     r->revoked_reason[0] != '\0' ? ")" : "");
	out_table_kv(t, "bootstrap admin", "%s", r->bootstrap_admin ? "yes" : "no");
	rc = out_table_print(t, stdout);
	out_table_free(t);
	return rc;
}

int cmd_whoami(struct ctl *ctl, int argc, char **argv)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__KeyInfoRequest info = CUSTODY__KEY_INFO_REQUEST__INIT;
	Custody__Response *resp = NULL;
	uint8_t pk[KEY_PUBLIC_BYTES];
	char pub[KEY_PUB_TEXT_MAX];
	int first = 0;
	int rc = ctl_parse_positional(ctl, argc, argv, 0, 0, &first);

	if (rc != CU_OK)
		return rc;
	if (ctl->key_path == NULL)
		return ctl_usage_error(ctl,
				       "whoami needs a key: pass --key FILE or set CUSTODY_KEY");
	rc = ctl_load_pub(ctl, "--key", ctl->key_path, pk);
	if (rc != CU_OK)
		return rc;
	key_pub_format(pk, pub);
	info.pubkey.data = pk;
	info.pubkey.len = sizeof(pk);
	req.body_case = CUSTODY__REQUEST__BODY_KEY_INFO;
	req.key_info = &info;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_KEY_INFO, &resp);
	if (rc != CU_OK)
		return rc;
	if (ctl->json)
		print_json(resp->key_info, pub);
	else if (print_human(resp->key_info, pub) != CU_OK)
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	custody__response__free_unpacked(resp, NULL);
	return rc;
}
