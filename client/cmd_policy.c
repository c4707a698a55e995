/*
 * cmd_policy.c - "policy load KIND FILE" and "policy show".
 *
 * load reads a published data file with policy_file_load (country groups,
 * overrides, the model table, the trusted-exporter roster, licenses or the
 * Consolidated Screening List), stamps the date it takes effect, checks
 * the whole AdminAction with validate_admin (so a bad file never gets
 * signed), seals it with the --key admin key under the admin domain and
 * sends it as Request.admin, like the registrations of cmd_register.c.
 * With --dry-run it stops before sending: it prints what the load holds
 * and, when a key is given, signs it and checks the signature, so a file
 * and a key can be tried offline.
 *
 * show asks for PolicyInfo: the regime in force, its parameters, and every
 * version of every kind of policy data with its effective date.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "codec.h"
#include "enums.h"
#include "envelope.h"
#include "frame.h"
#include "net.h"
#include "out.h"
#include "policy_file.h"
#include "validate.h"

#define KINDS "country-groups, country-overrides, models, roster, licenses or screening"

struct load_opts {
	Custody__PolicyKind kind;
	const char *file;
	const char *source; /* --source, or NULL */
	int64_t effective_ms;
	bool dry_run;
};

/* Rows of the kind a load carries. */
static size_t load_rows(const Custody__PolicyLoad *pl)
{
	return pl->n_country_groups + pl->n_models + pl->n_roster + pl->n_licenses +
	       pl->n_screening;
}

static const struct option load_options[] = {
    {"effective", required_argument, NULL, 'e'},
    {"source", required_argument, NULL, 's'},
    {"dry-run", no_argument, NULL, 'D'},
    {NULL, 0, NULL, 0},
};

/* Parses "load KIND FILE [options]" (argv[0] is "load") into o. */
static int parse_load(struct ctl *ctl, int argc, char **argv, struct load_opts *o)
{
	int c, kind = 0, rc = CU_OK;

	o->effective_ms = codec_now_ms();
	while (rc == CU_OK && (c = getopt_long(argc, argv, ":", load_options, NULL)) != -1) {
		if (c == 'e')
			rc = ctl_parse_time(ctl, "--effective", optarg, &o->effective_ms);
		else if (c == 's')
			o->source = optarg;
		else if (c == 'D')
			o->dry_run = true;
		else
			rc = ctl_bad_option(ctl, load_options, argv, c);
	}
	if (rc != CU_OK)
		return rc;
	if (argc - optind != 2)
		return ctl_usage_error(ctl, "policy load: give KIND and FILE (KIND is %s)", KINDS);
	if (enum_parse(&custody__policy_kind__descriptor, argv[optind], NULL, &kind) != CU_OK)
		return ctl_usage_error(ctl, "policy load: \"%s\" is not a kind: %s", argv[optind],
				       KINDS);
	o->kind = (Custody__PolicyKind)kind;
	o->file = argv[optind + 1];
	return CU_OK;
}

/* Reports a policy_file_load failure rc with its message err. */
static int file_error(struct ctl *ctl, int rc, const char *err)
{
	if (rc == CU_ERR_IO || rc == CU_ERR_NOMEM)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "%s", err);
	return ctl_fail(ctl, CTL_EXIT_USAGE, "POLICY_FILE", "%s", err);
}

/* Reads o->file into *pl (owned by the caller) with the options applied. */
static int read_load(struct ctl *ctl, const struct load_opts *o, Custody__PolicyLoad **pl)
{
	char err[POLICY_FILE_ERR_MAX];
	char *source;
	int rc = policy_file_load(o->kind, o->file, pl, err, sizeof(err));

	if (rc != CU_OK)
		return file_error(ctl, rc, err);
	(*pl)->effective_from_ms = o->effective_ms;
	if (o->source == NULL)
		return CU_OK;
	source = strdup(o->source);
	if (source == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	free((*pl)->source);
	(*pl)->source = source;
	return CU_OK;
}

/* Writes the description of pl (borrowed) shared by both JSON answers. */
static void load_json(struct out_json *j, const Custody__PolicyLoad *pl)
{
	out_json_kenum(j, "kind", &custody__policy_kind__descriptor, pl->kind);
	out_json_kuint(j, "rows", load_rows(pl));
	out_json_kstr(j, "source", pl->source);
	out_json_khex(j, "source_sha256", &pl->source_sha256);
	out_json_ktime(j, "effective_from", pl->effective_from_ms);
}

/* Adds the rows describing pl to a key/value table. */
static void load_kv(struct out_table *t, const Custody__PolicyLoad *pl)
{
	char when[CODEC_TIME_MAX], hex[OUT_ID_TEXT];

	out_table_kv(t, "kind", "%s", enum_name(&custody__policy_kind__descriptor, pl->kind));
	out_table_kv(t, "rows", "%zu", load_rows(pl));
	out_table_kv(t, "source", "%s", pl->source);
	out_table_kv(t, "source sha256", "%s", out_id(&pl->source_sha256, hex));
	out_table_kv(t, "effective from", "%s", out_time(pl->effective_from_ms, when));
}

/* Prints the server's answer r to the load pl (both borrowed). */
static int print_loaded(struct ctl *ctl, const Custody__PolicyLoad *pl,
			const Custody__AdminResult *r)
{
	struct out_table *t = NULL;
	char hex[OUT_ID_TEXT];
	struct out_json j;
	int rc;

	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kstr(&j, "action", "load_policy");
		out_json_kid(&j, "action_id", &r->action_id);
		out_json_kuint(&j, "seq", r->seq);
		out_json_kbool(&j, "duplicate", r->duplicate);
		out_json_kbool(&j, "unchanged", r->unchanged);
		load_json(&j, pl);
		out_json_end_object(&j);
		return CU_OK;
	}
	rc = out_table_new(2, NULL, &t);
	if (rc != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	out_table_kv(t, "action id", "%s", out_id(&r->action_id, hex));
	out_table_kv(t, "admin seq", "%llu%s", (unsigned long long)r->seq,
		     r->duplicate   ? " (this exact load was already applied)"
		     : r->unchanged ? " (unchanged)"
				    : "");
	load_kv(t, pl);
	rc = out_table_print(t, stdout);
	out_table_free(t);
	return rc == CU_OK ? CU_OK : ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
}

/*
 * --dry-run: prints the load, the size and id of the action body, and the
 * signer when env (borrowed) is sealed.
 */
static int print_dry_run(struct ctl *ctl, const Custody__AdminAction *act,
			 const Custody__SignedEnvelope *env)
{
	size_t len = custody__admin_action__get_packed_size(act);
	uint8_t id_bytes[ENVELOPE_ID_BYTES];
	uint8_t *body = malloc(len + 1);
	ProtobufCBinaryData id = {ENVELOPE_ID_BYTES, id_bytes};
	struct out_table *t = NULL;
	char hex[OUT_ID_TEXT], signer[KEY_PUB_TEXT_MAX] = "";
	struct out_json j;
	int rc = body != NULL ? out_table_new(2, NULL, &t) : CU_ERR_NOMEM;

	if (rc != CU_OK) {
		free(body);
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	}
	custody__admin_action__pack(act, body);
	envelope_id(body, len, id_bytes);
	free(body);
	if (env->signer.len == KEY_PUBLIC_BYTES)
		key_pub_format(env->signer.data, signer);
	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kbool(&j, "dry_run", true);
		load_json(&j, act->load_policy);
		out_json_kuint(&j, "body_bytes", len);
		out_json_kid(&j, "action_id", &id);
		out_json_key(&j, "signer");
		if (signer[0] != '\0')
			out_json_string(&j, signer);
		else
			out_json_null(&j);
		out_json_end_object(&j);
		out_table_free(t);
		return CU_OK;
	}
	load_kv(t, act->load_policy);
	out_table_kv(t, "body", "%zu bytes", len);
	out_table_kv(t, "action id", "%s", out_id(&id, hex));
	out_table_kv(t, "signed by", "%s", signer[0] != '\0' ? signer : "(no --key: not signed)");
	rc = out_table_print(t, stdout);
	out_table_free(t);
	if (rc != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	printf("(dry run: not sent)\n");
	return CU_OK;
}

/* Seals act with the --key key into env; checks the signature on a dry run. */
static int seal(struct ctl *ctl, const Custody__AdminAction *act, bool dry_run,
		Custody__SignedEnvelope *env)
{
	struct cu_key *key = NULL;
	int rc;

	if (dry_run && ctl->key_path == NULL)
		return CU_OK;
	rc = ctl_load_key(ctl, &key);
	if (rc != CU_OK)
		return rc;
	rc = envelope_seal(ENVELOPE_ADMIN, key, &act->base, env);
	if (rc == CU_OK && dry_run)
		rc = envelope_verify(ENVELOPE_ADMIN, env);
	key_free(key);
	if (rc != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "cannot sign: %s", cu_strerror(rc));
	return CU_OK;
}

/* Sends the sealed load env and prints the answer. */
static int send_load(struct ctl *ctl, const Custody__PolicyLoad *pl, Custody__SignedEnvelope *env)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__Response *resp = NULL;
	size_t bytes;
	int rc;

	req.body_case = CUSTODY__REQUEST__BODY_ADMIN;
	req.admin = env;
	bytes = custody__request__get_packed_size(&req);
	if (bytes > NET_MAX_REQUEST_BYTES)
		return ctl_fail(ctl, CTL_EXIT_USAGE, "USAGE",
				"policy load: the request is %zu bytes, more than the %u bytes "
				"custodyctl sends",
				bytes, NET_MAX_REQUEST_BYTES);
	if (bytes > FRAME_DEFAULT_MAX_BYTES)
		ctl_note("custodyctl: note: the request is %zu bytes; the server refuses it unless "
			 "its max_frame_bytes is at least that (default %u)",
			 bytes, FRAME_DEFAULT_MAX_BYTES);
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_ADMIN, &resp);
	if (rc != CU_OK)
		return rc;
	rc = print_loaded(ctl, pl, resp->admin);
	custody__response__free_unpacked(resp, NULL);
	return rc;
}

/* "policy load KIND FILE [--effective TIME] [--source TEXT] [--dry-run]". */
static int policy_load(struct ctl *ctl, int argc, char **argv)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	Custody__PolicyLoad *pl = NULL;
	struct load_opts o = {0};
	char err[VALIDATE_ERR_MAX] = "";
	int rc = parse_load(ctl, argc, argv, &o);

	if (rc == CU_OK)
		rc = read_load(ctl, &o, &pl);
	if (rc != CU_OK)
		return rc;
	act.issued_at_ms = codec_now_ms();
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_LOAD_POLICY;
	act.load_policy = pl;
	if (validate_admin(&act, codec_now_ms(), CTL_MAX_SKEW_MS, err, sizeof(err)) != CU_OK) {
		rc = ctl_fail(ctl, CTL_EXIT_USAGE, "POLICY_FILE", "%s: %s", o.file, err);
		goto fail;
	}
	rc = seal(ctl, &act, o.dry_run, &env);
	if (rc == CU_OK && o.dry_run)
		rc = print_dry_run(ctl, &act, &env);
	else if (rc == CU_OK)
		rc = send_load(ctl, pl, &env);
fail:
	envelope_clear(&env);
	policy_file_free(pl);
	return rc;
}

/* Writes PolicyInfo p (borrowed) as one JSON document. */
static void info_json(const Custody__PolicyInfo *p)
{
	struct out_json j;

	out_json_init(&j, stdout);
	out_json_begin_object(&j);
	out_json_kstr(&j, "regime", p->regime);
	out_json_kstr(&j, "regime_name", p->regime_name);
	out_json_kuint(&j, "site_notice_days", p->site_notice_days);
	out_json_kuint(&j, "transfer_notice_days", p->transfer_notice_days);
	out_json_kuint(&j, "ship_deadline_days", p->ship_deadline_days);
	out_json_kuint(&j, "attest_interval_hours", p->attest_interval_hours);
	out_json_key(&j, "max_travel_kmh");
	out_json_decimal(&j, p->max_travel_kmh, 1);
	out_json_key(&j, "hubs");
	out_json_begin_array(&j);
	for (size_t i = 0; i < p->n_hubs; i++)
		out_json_string(&j, p->hubs[i]);
	out_json_end_array(&j);
	out_json_key(&j, "versions");
	out_json_begin_array(&j);
	for (size_t i = 0; i < p->n_versions; i++) {
		const Custody__PolicyVersion *v = p->versions[i];

		out_json_begin_object(&j);
		out_json_kenum(&j, "kind", &custody__policy_kind__descriptor, v->kind);
		out_json_ktime(&j, "effective_from", v->effective_from_ms);
		out_json_kuint(&j, "admin_seq", v->admin_seq);
		out_json_kstr(&j, "source", v->source);
		out_json_khex(&j, "source_sha256", &v->source_sha256);
		out_json_kuint(&j, "rows", v->rows);
		out_json_kbool(&j, "in_force", v->in_force);
		out_json_end_object(&j);
	}
	out_json_end_array(&j);
	out_json_end_object(&j);
}

/* Prints the regime and its parameters as a key/value block. */
static int info_params(const Custody__PolicyInfo *p)
{
	struct out_table *t = NULL;
	char hubs[512] = "-";
	size_t used = 0;
	int rc = out_table_new(2, NULL, &t);

	if (rc != CU_OK)
		return rc;
	for (size_t i = 0; i < p->n_hubs && used < sizeof(hubs); i++)
		used += (size_t)snprintf(hubs + used, sizeof(hubs) - used, "%s%s", i ? ", " : "",
					 p->hubs[i]);
	out_table_kv(t, "regime", "%s (%s)", p->regime, p->regime_name);
	out_table_kv(t, "site notice", "%u days", p->site_notice_days);
	out_table_kv(t, "transfer notice", "%u days", p->transfer_notice_days);
	out_table_kv(t, "ship deadline", "%u days", p->ship_deadline_days);
	out_table_kv(t, "attest interval", "%u hours", p->attest_interval_hours);
	out_table_kv(t, "max travel speed", "%.0f km/h", p->max_travel_kmh);
	out_table_kv(t, "transshipment hubs", "%s", hubs);
	rc = out_table_print(t, stdout);
	out_table_free(t);
	return rc;
}

/* Prints the versions of policy data as a table. */
static int info_versions(const Custody__PolicyInfo *p)
{
	static const char *const headers[] = {"KIND",	"EFFECTIVE FROM", "ADMIN SEQ", "ROWS",
					      "SOURCE", "SHA256",	  "IN FORCE"};
	char when[CODEC_TIME_MAX], seq[24], rows[24], sha[OUT_ID_TEXT], kind[32];
	struct out_table *t = NULL;
	int rc = out_table_new(7, headers, &t);

	if (rc != CU_OK)
		return rc;
	out_table_align_right(t, 2);
	out_table_align_right(t, 3);
	for (size_t i = 0; i < p->n_versions; i++) {
		const Custody__PolicyVersion *v = p->versions[i];
		const char *cells[7] = {kind,
					out_time(v->effective_from_ms, when),
					seq,
					rows,
					v->source[0] != '\0' ? v->source : "-",
					out_short_id(&v->source_sha256, sha),
					v->in_force ? "yes" : "no"};

		/* As KIND is written on the command line: country-groups. */
		snprintf(kind, sizeof(kind), "%s",
			 enum_label(&custody__policy_kind__descriptor, v->kind, NULL));
		for (char *c = kind; *c != '\0'; c++)
			*c = *c == '_' ? '-' : *c;
		if (v->admin_seq == 0)
			snprintf(seq, sizeof(seq), "built-in");
		else
			snprintf(seq, sizeof(seq), "%llu", (unsigned long long)v->admin_seq);
		snprintf(rows, sizeof(rows), "%llu", (unsigned long long)v->rows);
		out_table_add(t, cells);
	}
	putchar('\n');
	rc = out_table_print(t, stdout);
	out_table_free(t);
	return rc;
}

/* "policy show". */
static int policy_show(struct ctl *ctl, int argc, char **argv)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__PolicyInfoRequest info = CUSTODY__POLICY_INFO_REQUEST__INIT;
	Custody__Response *resp = NULL;
	int first = 0;
	int rc = ctl_parse_positional(ctl, argc, argv, 0, 0, &first);

	if (rc != CU_OK)
		return rc;
	req.body_case = CUSTODY__REQUEST__BODY_POLICY_INFO;
	req.policy_info = &info;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_POLICY_INFO, &resp);
	if (rc != CU_OK)
		return rc;
	if (ctl->json)
		info_json(resp->policy_info);
	else if (info_params(resp->policy_info) != CU_OK ||
		 info_versions(resp->policy_info) != CU_OK)
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	custody__response__free_unpacked(resp, NULL);
	return rc;
}

int cmd_policy(struct ctl *ctl, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";

	/* The verb is the first argument: getopt scans what follows it. */
	if (strcmp(verb, "load") == 0)
		return policy_load(ctl, argc - 1, argv + 1);
	if (strcmp(verb, "show") == 0)
		return policy_show(ctl, argc - 1, argv + 1);
	return ctl_usage_error(ctl, "policy: give load or show%s%s%s", argc > 1 ? " (not \"" : "",
			       verb, argc > 1 ? "\")" : "");
}
