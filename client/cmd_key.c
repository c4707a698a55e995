/*
 * cmd_key.c - the key lifecycle (docs/keys.md): "key rotate" replaces a
 * registered key with a new one of the same party and role, the old one
 * valid until a given time; "key revoke" ends a key from a given time on.
 *
 * Both build one signed AdminAction (rotate_key, revoke_key) and send it
 * with cmd_admin_send. They are signed with --key: an admin key, or the
 * key being changed itself. rotate asks the server (KeyInfoRequest) for
 * the old key's party and role, which the new key takes over.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "codec.h"
#include "enums.h"
#include "out.h"

/* Prints the outcome of the action: what line says, or the JSON document. */
static void print_change(const struct ctl *ctl, const char *action, const char *pub,
			 const char *line, const Custody__AdminResult *r)
{
	char id[OUT_ID_TEXT];
	struct out_json j;

	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kstr(&j, "action", action);
		out_json_kstr(&j, "key", pub);
		out_json_kid(&j, "action_id", &r->action_id);
		out_json_kuint(&j, "seq", r->seq);
		out_json_kbool(&j, "duplicate", r->duplicate);
		out_json_end_object(&j);
	} else if (r->duplicate) {
		printf("key %s: this exact action was already applied (action %s, seq %llu)\n", pub,
		       out_id(&r->action_id, id), (unsigned long long)r->seq);
	} else {
		printf("%s (action %s, seq %llu)\n", line, out_id(&r->action_id, id),
		       (unsigned long long)r->seq);
	}
}

/* Sends act and prints line for it; action and pub name it in JSON. */
static int send_change(struct ctl *ctl, Custody__AdminAction *act, const char *action,
		       const char *pub, const char *line)
{
	Custody__Response *resp = NULL;
	int rc = cmd_admin_send(ctl, act, &resp);

	if (rc != CU_OK)
		return rc;
	print_change(ctl, action, pub, line, resp->admin);
	custody__response__free_unpacked(resp, NULL);
	return CU_OK;
}

/* Asks the server for key pk's registration: *resp owns the KeyInfoResult. */
static int key_info(struct ctl *ctl, uint8_t pk[KEY_PUBLIC_BYTES], Custody__Response **resp)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__KeyInfoRequest info = CUSTODY__KEY_INFO_REQUEST__INIT;

	info.pubkey.data = pk;
	info.pubkey.len = KEY_PUBLIC_BYTES;
	req.body_case = CUSTODY__REQUEST__BODY_KEY_INFO;
	req.key_info = &info;
	return ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_KEY_INFO, resp);
}

static const struct option rotate_opts[] = {
    {"old", required_argument, NULL, 'o'},
    {"new", required_argument, NULL, 'n'},
    {"old-valid-until", required_argument, NULL, 'u'},
    {"new-valid-until", required_argument, NULL, 'v'},
    {NULL, 0, NULL, 0},
};

/* What "key rotate" was given. */
struct rotate_args {
	const char *old_spec, *new_spec;
	int64_t old_until_ms, new_until_ms;
	bool has_until;
};

static int parse_rotate(struct ctl *ctl, int argc, char **argv, struct rotate_args *a)
{
	int c, rc = CU_OK;

	while (rc == CU_OK && (c = getopt_long(argc, argv, ":", rotate_opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			a->old_spec = optarg;
			break;
		case 'n':
			a->new_spec = optarg;
			break;
		case 'u':
			rc = ctl_parse_time(ctl, "--old-valid-until", optarg, &a->old_until_ms);
			a->has_until = true;
			break;
		case 'v':
			rc = ctl_parse_time(ctl, "--new-valid-until", optarg, &a->new_until_ms);
			break;
		default:
			return ctl_bad_option(ctl, rotate_opts, argv, c);
		}
	}
	if (rc != CU_OK)
		return rc;
	if (optind < argc)
		return ctl_usage_error(ctl, "key rotate: unexpected argument \"%s\"", argv[optind]);
	if (ctl_require(ctl, a->old_spec != NULL, "--old") != CU_OK ||
	    ctl_require(ctl, a->new_spec != NULL, "--new") != CU_OK ||
	    ctl_require(ctl, a->has_until, "--old-valid-until") != CU_OK)
		return CU_ERR_INVALID;
	return CU_OK;
}

static int key_rotate(struct ctl *ctl, int argc, char **argv)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__KeyRotation rot = CUSTODY__KEY_ROTATION__INIT;
	Custody__KeyRecord rec = CUSTODY__KEY_RECORD__INIT;
	Custody__Response *info = NULL;
	struct rotate_args a = {0};
	uint8_t old_pk[KEY_PUBLIC_BYTES], new_pk[KEY_PUBLIC_BYTES];
	char old_pub[KEY_PUB_TEXT_MAX], new_pub[KEY_PUB_TEXT_MAX], until[CODEC_TIME_MAX];
	char line[3 * KEY_PUB_TEXT_MAX + 3 * CODEC_TIME_MAX];
	int rc = parse_rotate(ctl, argc, argv, &a);

	if (rc == CU_OK)
		rc = ctl_load_pub(ctl, "--old", a.old_spec, old_pk);
	if (rc == CU_OK)
		rc = ctl_load_pub(ctl, "--new", a.new_spec, new_pk);
	if (rc == CU_OK)
		rc = key_info(ctl, old_pk, &info);
	if (rc != CU_OK)
		return rc;
	if (info->key_info->key == NULL || info->key_info->key->party[0] == '\0') {
		custody__response__free_unpacked(info, NULL);
		return ctl_fail(ctl, CTL_EXIT_SERVER, "NOT_FOUND",
				"key rotate: the old key is not a registered key of a party");
	}
	rec.pubkey.data = new_pk;
	rec.pubkey.len = sizeof(new_pk);
	rec.party = info->key_info->key->party;
	rec.role = info->key_info->key->role;
	rec.valid_until_ms = a.new_until_ms;
	rot.old_pubkey.data = old_pk;
	rot.old_pubkey.len = sizeof(old_pk);
	rot.new_key = &rec;
	rot.old_valid_until_ms = a.old_until_ms;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_ROTATE_KEY;
	act.rotate_key = &rot;
	key_pub_format(old_pk, old_pub);
	key_pub_format(new_pk, new_pub);
	codec_time_format(a.old_until_ms, until);
	snprintf(line, sizeof(line),
		 "rotated key %s (party %s, role %s) to %s; the old key is valid until %s", old_pub,
		 rec.party, enum_label(&custody__role__descriptor, rec.role, NULL), new_pub, until);
	rc = send_change(ctl, &act, "rotate_key", old_pub, line);
	custody__response__free_unpacked(info, NULL);
	return rc;
}

static const struct option revoke_opts[] = {
    {"at", required_argument, NULL, 'a'},
    {"reason", required_argument, NULL, 'r'},
    {NULL, 0, NULL, 0},
};

static int key_revoke(struct ctl *ctl, int argc, char **argv)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__KeyRevocation rev = CUSTODY__KEY_REVOCATION__INIT;
	uint8_t pk[KEY_PUBLIC_BYTES];
	char pub[KEY_PUB_TEXT_MAX], at[CODEC_TIME_MAX], line[KEY_PUB_TEXT_MAX + 64];
	int c, rc = CU_OK;

	while (rc == CU_OK && (c = getopt_long(argc, argv, ":", revoke_opts, NULL)) != -1) {
		if (c == 'a')
			rc = ctl_parse_time(ctl, "--at", optarg, &rev.revoked_at_ms);
		else if (c == 'r')
			rev.reason = optarg;
		else
			return ctl_bad_option(ctl, revoke_opts, argv, c);
	}
	if (rc != CU_OK)
		return rc;
	if (optind + 1 != argc)
		return ctl_usage_error(ctl, "key revoke: give one PUBKEY");
	rc = ctl_load_pub(ctl, "PUBKEY", argv[optind], pk);
	if (rc != CU_OK)
		return rc;
	rev.pubkey.data = pk;
	rev.pubkey.len = sizeof(pk);
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY;
	act.revoke_key = &rev;
	key_pub_format(pk, pub);
	if (rev.revoked_at_ms != 0)
		codec_time_format(rev.revoked_at_ms, at);
	snprintf(line, sizeof(line), "revoked key %s %s%s", pub,
		 rev.revoked_at_ms != 0 ? "from " : "now", rev.revoked_at_ms != 0 ? at : "");
	return send_change(ctl, &act, "revoke_key", pub, line);
}

int cmd_key(struct ctl *ctl, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";

	/* The verb is the first argument: getopt scans what follows it. */
	if (strcmp(verb, "rotate") == 0)
		return key_rotate(ctl, argc - 1, argv + 1);
	if (strcmp(verb, "revoke") == 0)
		return key_revoke(ctl, argc - 1, argv + 1);
	return ctl_usage_error(ctl, "key: give rotate or revoke%s%s%s", argc > 1 ? " (not \"" : "",
			       verb, argc > 1 ? "\")" : "");
}
