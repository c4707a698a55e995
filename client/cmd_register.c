/*
 * cmd_register.c - the administrative registrations: "register-party",
 * "register-key" and "register-facility".
 *
 * Each builds one AdminAction, checks it with validate_admin (so a typo
 * is caught here, before anything is signed), seals it with the admin key
 * under the admin domain and sends it as Request.admin. The three share
 * submit_action; they differ only in their options.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "codec.h"
#include "envelope.h"
#include "out.h"
#include "validate.h"

/* Most roles --roles takes (there are 7; duplicates are validate's job). */
#define MAX_ROLES 16

/* Prints the AdminResult for the thing registered, "party acme". */
static void print_result(const struct ctl *ctl, const char *action, const char *noun,
			 const char *subject, const Custody__AdminResult *r)
{
	char id[OUT_ID_TEXT];
	struct out_json j;

	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kstr(&j, "action", action);
		out_json_kstr(&j, "subject", subject);
		out_json_kid(&j, "action_id", &r->action_id);
		out_json_kuint(&j, "seq", r->seq);
		out_json_kbool(&j, "duplicate", r->duplicate);
		out_json_kbool(&j, "unchanged", r->unchanged);
		out_json_end_object(&j);
	} else if (r->duplicate) {
		printf("%s %s: this exact action was already applied (action %s, seq %llu)\n", noun,
		       subject, out_id(&r->action_id, id), (unsigned long long)r->seq);
	} else if (r->unchanged) {
		printf("%s %s already registered (unchanged)\n", noun, subject);
	} else {
		printf("registered %s %s (action %s, seq %llu)\n", noun, subject,
		       out_id(&r->action_id, id), (unsigned long long)r->seq);
	}
}

int cmd_admin_send(struct ctl *ctl, Custody__AdminAction *act, Custody__Response **resp)
{
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	Custody__Request req = CUSTODY__REQUEST__INIT;
	struct cu_key *key = NULL;
	char err[VALIDATE_ERR_MAX] = "";
	int rc;

	*resp = NULL;
	act->issued_at_ms = codec_now_ms();
	if (validate_admin(act, codec_now_ms(), CTL_MAX_SKEW_MS, err, sizeof(err)) != CU_OK)
		return ctl_usage_error(ctl, "%s: %s", ctl->cmd_name, err);
	rc = ctl_load_key(ctl, &key);
	if (rc != CU_OK)
		return rc;
	rc = envelope_seal(ENVELOPE_ADMIN, key, &act->base, &env);
	if (rc != CU_OK) {
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "cannot sign: %s", cu_strerror(rc));
		goto fail;
	}
	req.body_case = CUSTODY__REQUEST__BODY_ADMIN;
	req.admin = &env;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_ADMIN, resp);
fail:
	envelope_clear(&env);
	key_free(key);
	return rc;
}

/*
 * Sends act (borrowed) with cmd_admin_send and prints the result. action
 * is the JSON name ("register_party"), noun and subject (borrowed) name
 * what is registered in messages.
 */
static int submit_action(struct ctl *ctl, Custody__AdminAction *act, const char *action,
			 const char *noun, const char *subject)
{
	Custody__Response *resp = NULL;
	int rc = cmd_admin_send(ctl, act, &resp);

	if (rc != CU_OK)
		return rc;
	print_result(ctl, action, noun, subject, resp->admin);
	custody__response__free_unpacked(resp, NULL);
	return CU_OK;
}

/*
 * Checks that exactly one positional argument (the ID or PUBKEY) follows
 * the options and stores it in *arg.
 */
static int one_argument(struct ctl *ctl, int argc, char **argv, const char *what, char **arg)
{
	if (optind >= argc)
		return ctl_usage_error(ctl, "%s: %s is required", ctl->cmd_name, what);
	if (optind + 1 < argc)
		return ctl_usage_error(ctl, "%s: unexpected argument \"%s\"", ctl->cmd_name,
				       argv[optind + 1]);
	*arg = argv[optind];
	return CU_OK;
}

/* Parses "exporter,operator" (modified in place) into p's roles. */
static int parse_roles(struct ctl *ctl, char *text, Custody__Role *roles, Custody__Party *p)
{
	char *save = NULL;
	int value = 0;

	for (char *name = strtok_r(text, ",", &save); name != NULL;
	     name = strtok_r(NULL, ",", &save)) {
		if (p->n_roles == MAX_ROLES)
			return ctl_usage_error(ctl, "--roles: at most %d roles", MAX_ROLES);
		if (ctl_parse_enum(ctl, "--roles", &custody__role__descriptor, NULL, name,
				   &value) != CU_OK)
			return CU_ERR_INVALID;
		roles[p->n_roles++] = (Custody__Role)value;
	}
	p->roles = roles;
	return CU_OK;
}

static const struct option party_opts[] = {
    {"name", required_argument, NULL, 'n'},
    {"country", required_argument, NULL, 'c'},
    {"hq", required_argument, NULL, 'q'},
    {"parent-country", required_argument, NULL, 'p'},
    {"roles", required_argument, NULL, 'r'},
    {"trusted", no_argument, NULL, 't'},
    {NULL, 0, NULL, 0},
};

/* Parses register-party's options into p; roles is p's role storage. */
static int parse_party(struct ctl *ctl, int argc, char **argv, Custody__Party *p,
		       Custody__Role *roles)
{
	int c;

	while ((c = getopt_long(argc, argv, ":", party_opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			p->name = optarg;
			break;
		case 'c':
			p->country = ctl_upper(optarg);
			break;
		case 'q':
			p->hq_country = ctl_upper(optarg);
			break;
		case 'p':
			p->parent_country = ctl_upper(optarg);
			break;
		case 'r':
			if (parse_roles(ctl, optarg, roles, p) != CU_OK)
				return CU_ERR_INVALID;
			break;
		case 't':
			p->trusted_exporter = true;
			break;
		default:
			return ctl_bad_option(ctl, party_opts, argv, c);
		}
	}
	if (ctl_require(ctl, p->name[0] != '\0', "--name") != CU_OK ||
	    ctl_require(ctl, p->country[0] != '\0', "--country") != CU_OK ||
	    ctl_require(ctl, p->n_roles > 0, "--roles") != CU_OK)
		return CU_ERR_INVALID;
	if (p->hq_country[0] == '\0')
		p->hq_country = p->country;
	if (p->parent_country[0] == '\0')
		p->parent_country = p->country;
	return one_argument(ctl, argc, argv, "the party ID", &p->id);
}

int cmd_register_party(struct ctl *ctl, int argc, char **argv)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__Party party = CUSTODY__PARTY__INIT;
	Custody__Role roles[MAX_ROLES];
	int rc = parse_party(ctl, argc, argv, &party, roles);

	if (rc != CU_OK)
		return rc;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_PARTY;
	act.register_party = &party;
	return submit_action(ctl, &act, "register_party", "party", party.id);
}

static const struct option key_opts[] = {
    {"party", required_argument, NULL, 'p'},
    {"role", required_argument, NULL, 'r'},
    {"valid-from", required_argument, NULL, 'f'},
    {"valid-until", required_argument, NULL, 'u'},
    {NULL, 0, NULL, 0},
};

/* Parses register-key's options into k; *spec gets the PUBKEY argument. */
static int parse_key(struct ctl *ctl, int argc, char **argv, Custody__KeyRecord *k, char **spec)
{
	int c, role = 0, rc = CU_OK;

	while (rc == CU_OK && (c = getopt_long(argc, argv, ":", key_opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			k->party = optarg;
			break;
		case 'r':
			rc = ctl_parse_enum(ctl, "--role", &custody__role__descriptor, NULL, optarg,
					    &role);
			k->role = (Custody__Role)role;
			break;
		case 'f':
			rc = ctl_parse_time(ctl, "--valid-from", optarg, &k->valid_from_ms);
			break;
		case 'u':
			rc = ctl_parse_time(ctl, "--valid-until", optarg, &k->valid_until_ms);
			break;
		default:
			return ctl_bad_option(ctl, key_opts, argv, c);
		}
	}
	if (rc != CU_OK)
		return rc;
	if (ctl_require(ctl, k->party[0] != '\0', "--party") != CU_OK ||
	    ctl_require(ctl, k->role != 0, "--role") != CU_OK)
		return CU_ERR_INVALID;
	return one_argument(ctl, argc, argv, "PUBKEY", spec);
}

int cmd_register_key(struct ctl *ctl, int argc, char **argv)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__KeyRecord rec = CUSTODY__KEY_RECORD__INIT;
	uint8_t pk[KEY_PUBLIC_BYTES];
	char pub[KEY_PUB_TEXT_MAX];
	char *spec = NULL;
	int rc = parse_key(ctl, argc, argv, &rec, &spec);

	if (rc != CU_OK)
		return rc;
	rc = ctl_load_pub(ctl, "PUBKEY", spec, pk);
	if (rc != CU_OK)
		return rc;
	rec.pubkey.data = pk;
	rec.pubkey.len = sizeof(pk);
	key_pub_format(pk, pub);
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_KEY;
	act.register_key = &rec;
	return submit_action(ctl, &act, "register_key", "key", pub);
}

static const struct option facility_opts[] = {
    {"name", required_argument, NULL, 'n'},
    {"owner", required_argument, NULL, 'o'},
    {"operator", required_argument, NULL, 'p'},
    {"country", required_argument, NULL, 'c'},
    {"lat", required_argument, NULL, 'y'},
    {"lon", required_argument, NULL, 'x'},
    {"authorized", no_argument, NULL, 'a'},
    {"authorized-since", required_argument, NULL, 's'},
    {NULL, 0, NULL, 0},
};

/* Handles one register-facility option c; *coords counts --lat/--lon. */
static int facility_option(struct ctl *ctl, int c, Custody__Facility *f, int *coords)
{
	switch (c) {
	case 'n':
		f->name = optarg;
		return CU_OK;
	case 'o':
		f->owner = optarg;
		return CU_OK;
	case 'p':
		f->operator_ = optarg;
		return CU_OK;
	case 'c':
		f->country = ctl_upper(optarg);
		return CU_OK;
	case 'y':
		*coords |= 1;
		return ctl_parse_double(ctl, "--lat", optarg, -90, 90, &f->latitude);
	case 'x':
		*coords |= 2;
		return ctl_parse_double(ctl, "--lon", optarg, -180, 180, &f->longitude);
	case 'a':
		f->authorized = true;
		return CU_OK;
	default: /* 's' */
		f->authorized = true;
		return ctl_parse_time(ctl, "--authorized-since", optarg, &f->authorized_since_ms);
	}
}

/* Parses register-facility's options into f. */
static int parse_facility(struct ctl *ctl, int argc, char **argv, Custody__Facility *f)
{
	int c, coords = 0;

	while ((c = getopt_long(argc, argv, ":", facility_opts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return ctl_bad_option(ctl, facility_opts, argv, c);
		if (facility_option(ctl, c, f, &coords) != CU_OK)
			return CU_ERR_INVALID;
	}
	if (ctl_require(ctl, f->name[0] != '\0', "--name") != CU_OK ||
	    ctl_require(ctl, f->owner[0] != '\0', "--owner") != CU_OK ||
	    ctl_require(ctl, f->operator_[0] != '\0', "--operator") != CU_OK ||
	    ctl_require(ctl, f->country[0] != '\0', "--country") != CU_OK)
		return CU_ERR_INVALID;
	if (coords == 1 || coords == 2)
		return ctl_usage_error(ctl, "%s: --lat and --lon go together", ctl->cmd_name);
	return one_argument(ctl, argc, argv, "the facility ID", &f->id);
}

int cmd_register_facility(struct ctl *ctl, int argc, char **argv)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__Facility facility = CUSTODY__FACILITY__INIT;
	int rc = parse_facility(ctl, argc, argv, &facility);

	if (rc != CU_OK)
		return rc;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_FACILITY;
	act.register_facility = &facility;
	return submit_action(ctl, &act, "register_facility", "facility", facility.id);
}
