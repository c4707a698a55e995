/*
 * cmd_verify.c - "verify FILE --log-key VKEY [--witness VKEY ...]": checks a
 * proof bundle offline (no server, no database) with bundle_verify and
 * prints the custody path of each of its devices.
 *
 * What is trusted comes from the command line only: the log's verifier
 * key, the witnesses' keys, how many of them must have cosigned, and
 * optionally the admin keys the registrations must be signed with. A
 * bundle that does not verify prints nothing but the reasons (stderr, or
 * the JSON document with "verified": false) and exits 1: a path from a
 * bundle that failed a check is not shown, so it cannot be mistaken for
 * one that holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bundle.h"
#include "cmd.h"
#include "enums.h"
#include "out.h"

/* Most --witness and --admin-key options. */
#define MAX_KEYS 32
/* Largest cosignature timestamp shown as a time (year 9999). */
#define MAX_SHOWN_SECONDS 253402300799ULL

struct verify_opts {
	const char *path;
	struct note_verifier log;
	struct note_verifier witnesses[MAX_KEYS];
	size_t n_witnesses;
	uint8_t admin_keys[MAX_KEYS][KEY_PUBLIC_BYTES];
	size_t n_admin_keys;
	uint64_t quorum;
	bool have_log, have_quorum;
};

static const struct option verify_opts[] = {
    {"log-key", required_argument, NULL, 'l'},
    {"witness", required_argument, NULL, 'w'},
    {"quorum", required_argument, NULL, 'q'},
    {"admin-key", required_argument, NULL, 'a'},
    {NULL, 0, NULL, 0},
};

/*
 * Parses a verifier key of type given to opt: the key itself, or the
 * path of a file whose first line is one (as "log-key > FILE" writes).
 */
static int parse_vkey(struct ctl *ctl, const char *opt, const char *text, uint8_t type,
		      struct note_verifier *v)
{
	char line[NOTE_VKEY_MAX + 2] = "", err[256] = "";
	FILE *f;

	if (strchr(text, '+') == NULL && (f = fopen(text, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		text = line;
	}
	if (note_verifier_parse(text, v, err, sizeof(err)) != CU_OK)
		return ctl_usage_error(ctl, "%s: not a verifier key (%s)", opt, err);
	if (v->type != type)
		return ctl_usage_error(ctl, "%s: %s is a key of type 0x%02x, not 0x%02x", opt,
				       v->name, v->type, type);
	return CU_OK;
}

/* Handles one option c of verify. */
static int verify_option(struct ctl *ctl, int c, struct verify_opts *o)
{
	switch (c) {
	case 'l':
		o->have_log = true;
		return parse_vkey(ctl, "--log-key", optarg, NOTE_TYPE_ED25519, &o->log);
	case 'w':
		if (o->n_witnesses == MAX_KEYS)
			return ctl_usage_error(ctl, "--witness: at most %d", MAX_KEYS);
		if (parse_vkey(ctl, "--witness", optarg, NOTE_TYPE_COSIG_V1,
			       &o->witnesses[o->n_witnesses]) != CU_OK)
			return CU_ERR_INVALID;
		for (size_t i = 0; i < o->n_witnesses; i++) {
			const struct note_verifier *a = &o->witnesses[i];
			const struct note_verifier *b = &o->witnesses[o->n_witnesses];

			if (a->key_id == b->key_id && strcmp(a->name, b->name) == 0 &&
			    memcmp(a->pk, b->pk, sizeof(a->pk)) == 0)
				return ctl_usage_error(ctl, "--witness %s: given twice", optarg);
		}
		o->n_witnesses++;
		return CU_OK;
	case 'q':
		o->have_quorum = true;
		return ctl_parse_uint(ctl, "--quorum", optarg, 0, MAX_KEYS, &o->quorum);
	default: /* 'a' */
		if (o->n_admin_keys == MAX_KEYS)
			return ctl_usage_error(ctl, "--admin-key: at most %d", MAX_KEYS);
		return ctl_load_pub(ctl, "--admin-key", optarg, o->admin_keys[o->n_admin_keys++]);
	}
}

/* Parses argv (borrowed) into o. */
static int parse_opts(struct ctl *ctl, int argc, char **argv, struct verify_opts *o)
{
	int c, rc = CU_OK;

	while (rc == CU_OK && (c = getopt_long(argc, argv, ":", verify_opts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return ctl_bad_option(ctl, verify_opts, argv, c);
		rc = verify_option(ctl, c, o);
	}
	if (rc != CU_OK)
		return rc;
	if (optind + 1 != argc)
		return ctl_usage_error(ctl, "verify: give exactly one bundle FILE");
	o->path = argv[optind];
	if (!o->have_log)
		return ctl_require(ctl, false, "--log-key");
	if (!o->have_quorum)
		o->quorum = o->n_witnesses;
	if (o->quorum > o->n_witnesses)
		return ctl_usage_error(ctl, "--quorum %llu: only %zu --witness keys given",
				       (unsigned long long)o->quorum, o->n_witnesses);
	return CU_OK;
}

/* Reads the whole file path into *data (malloc'd, owned by the caller). */
static int read_file(struct ctl *ctl, const char *path, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf = NULL;
	int err = 0;

	if (f == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "%s: %s", path, strerror(errno));
	if (fstat(fileno(f), &st) != 0)
		err = errno;
	else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > BUNDLE_MAX_BYTES)
		err = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
	else if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		err = ENOMEM;
	else if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size || ferror(f))
		err = ferror(f) ? EIO : EAGAIN; /* changed while we read it */
	fclose(f);
	if (err != 0) {
		free(buf);
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "%s: cannot read: %s", path, strerror(err));
	}
	*data = buf;
	*len = (size_t)st.st_size;
	return CU_OK;
}

/* ---- JSON ------------------------------------------------------------------ */

/* A cosignature time (seconds), as RFC 3339 when it can be one. */
static void json_seconds(struct out_json *j, const char *key, uint64_t s)
{
	if (s <= MAX_SHOWN_SECONDS)
		out_json_ktime(j, key, (int64_t)s * 1000);
	else
		out_json_kuint(j, key, s);
}

static void json_step(struct out_json *j, const struct bundle_step *s)
{
	const struct bundle_event *e = s->event;
	ProtobufCBinaryData id = {ENVELOPE_ID_BYTES, (uint8_t *)e->id};

	out_json_begin_object(j);
	out_json_kuint(j, "index", e->index);
	out_json_kid(j, "event_id", &id);
	out_json_ktime(j, "occurred_at", e->ev->occurred_at_ms);
	out_json_ktime(j, "recorded_at", e->recorded_at_ms);
	out_json_kenum(j, "type", &custody__event_type__descriptor, e->ev->type);
	out_json_kenum(j, "verdict", &custody__verdict__descriptor, e->verdict);
	out_json_kstr(j, "actor", e->ev->actor);
	out_json_kstr(j, "facility", e->ev->facility);
	out_json_kstr(j, "country", e->country);
	out_json_kstr(j, "to_facility", e->ev->to_facility);
	out_json_kstr(j, "to_country", e->to_country);
	out_json_kstr(j, "via", s->via);
	out_json_end_object(j);
}

static void json_device(struct out_json *j, const struct bundle_device *d)
{
	out_json_begin_object(j);
	out_json_kstr(j, "serial", d->serial);
	out_json_kenum_or_null(j, "kind", &custody__device_kind__descriptor, d->kind);
	out_json_kstr(j, "model", d->model);
	out_json_kbool(j, "subject", d->subject);
	out_json_kenum_or_null(j, "status", &custody__device_status__descriptor, d->status);
	out_json_kstr(j, "facility", d->facility);
	out_json_kstr(j, "country", d->country);
	out_json_kstr(j, "destination", d->destination);
	out_json_kstr(j, "destination_country", d->destination_country);
	out_json_key(j, "path");
	out_json_begin_array(j);
	for (size_t i = 0; i < d->n_steps; i++)
		json_step(j, &d->steps[i]);
	out_json_end_array(j);
	out_json_end_object(j);
}

static void json_cosigners(struct out_json *j, const struct bundle_report *r)
{
	out_json_key(j, "cosignatures");
	out_json_begin_array(j);
	for (size_t i = 0; i < r->n_cosigners; i++) {
		const struct bundle_cosigner *c = &r->cosigners[i];

		out_json_begin_object(j);
		out_json_kstr(j, "witness", c->key.name);
		out_json_kstr(j, "witness_key", c->key_text);
		json_seconds(j, "timestamp", c->timestamp);
		out_json_kbool(j, "verified", c->verified);
		out_json_kbool(j, "required", c->required);
		out_json_end_object(j);
	}
	out_json_end_array(j);
	out_json_kuint(j, "required_cosignatures", r->n_required_cosigned);
	out_json_kuint(j, "quorum", r->quorum);
}

static void json_subject(struct out_json *j, const struct bundle_report *r)
{
	ProtobufCBinaryData id = {ENVELOPE_ID_BYTES, (uint8_t *)r->shipment};

	out_json_key(j, "subject");
	out_json_begin_object(j);
	if (r->device != NULL)
		out_json_kstr(j, "device", r->device);
	else if (r->shipment != NULL)
		out_json_kid(j, "shipment", &id);
	else if (r->facility != NULL)
		out_json_kstr(j, "facility", r->facility);
	out_json_end_object(j);
}

/* The whole report as one JSON document. */
static void print_json(const struct bundle_report *r)
{
	char root[CODEC_B64_SIZE(NOTE_CHECKPOINT_ROOT_BYTES)];
	struct out_json j;

	codec_b64_encode(r->root, sizeof(r->root), root, sizeof(root));
	out_json_init(&j, stdout);
	out_json_begin_object(&j);
	out_json_kbool(&j, "verified", r->verified);
	out_json_key(&j, "problems");
	out_json_begin_array(&j);
	for (size_t i = 0; i < r->n_problems; i++)
		out_json_string(&j, r->problems[i]);
	out_json_end_array(&j);
	out_json_kuint(&j, "more_problems", r->n_more_problems);
	json_subject(&j, r);
	out_json_key(&j, "checkpoint");
	out_json_begin_object(&j);
	out_json_kstr(&j, "origin", r->origin);
	out_json_kuint(&j, "tree_size", r->tree_size);
	out_json_kstr(&j, "root", root);
	out_json_end_object(&j);
	json_cosigners(&j, r);
	out_json_kuint(&j, "entries", r->n_entries);
	out_json_kuint(&j, "events", r->n_events);
	out_json_kuint(&j, "rejected", r->n_rejected);
	out_json_kuint(&j, "registrations", r->n_registrations);
	out_json_key(&j, "admin_keys");
	out_json_begin_array(&j);
	for (size_t i = 0; i < r->n_admin_signers; i++)
		out_json_hex(&j, &(ProtobufCBinaryData){KEY_PUBLIC_BYTES, r->admin_signers[i]});
	out_json_end_array(&j);
	out_json_key(&j, "devices");
	out_json_begin_array(&j);
	for (size_t i = 0; i < r->n_devices && r->verified; i++)
		json_device(&j, &r->devices[i]);
	out_json_end_array(&j);
	out_json_end_object(&j);
}

/* ---- text -------------------------------------------------------------------- */

/* "jp-1 (JP)", "-" for no facility, "?" for an unknown country. */
static const char *place(const char *facility, const char *country, char *out, size_t size)
{
	if (facility[0] == '\0')
		snprintf(out, size, "-");
	else
		snprintf(out, size, "%s (%s)", facility, country[0] != '\0' ? country : "?");
	return out;
}

/* Adds one step of a path as a table row. */
static void add_step_row(struct out_table *t, const struct bundle_step *s)
{
	const struct bundle_event *e = s->event;
	char when[CODEC_TIME_MAX], type[48], from[160], to[160], index[24];
	const char *cells[7] = {when,
				type,
				place(e->ev->facility, e->country, from, sizeof(from)),
				place(e->ev->to_facility, e->to_country, to, sizeof(to)),
				s->via != NULL ? s->via : "-",
				e->ev->actor,
				index};

	out_time(e->ev->occurred_at_ms, when);
	snprintf(type, sizeof(type), "%s%s",
		 enum_name(&custody__event_type__descriptor, e->ev->type),
		 e->verdict == CUSTODY__VERDICT__REJECT ? " (REJECTED)" : "");
	snprintf(index, sizeof(index), "%llu", (unsigned long long)e->index);
	out_table_add(t, cells);
}

/* Where the device's last bundled event leaves it, in a few words. */
static void print_last_known(const struct bundle_device *d, const char *indent)
{
	char at[160], to[160];

	place(d->facility, d->country, at, sizeof(at));
	if (d->destination[0] != '\0')
		printf("%slast known: %s from %s to %s\n", indent,
		       enum_name(&custody__device_status__descriptor, d->status), at,
		       place(d->destination, d->destination_country, to, sizeof(to)));
	else
		printf("%slast known: %s at %s\n", indent,
		       enum_name(&custody__device_status__descriptor, d->status), at);
}

/* Prints a subject device: what it is, its path, where it ends. */
static int print_device(const struct bundle_device *d)
{
	static const char *const headers[] = {"OCCURRED", "EVENT", "FACILITY", "TO",
					      "VIA",	  "ACTOR", "ENTRY"};
	struct out_table *t = NULL;
	char serial[160];
	int rc;

	printf("\n%s  %s %s\n", out_safe(d->serial, serial, sizeof(serial)),
	       d->kind != 0 ? enum_label(&custody__device_kind__descriptor, d->kind, NULL) : "?",
	       d->model);
	rc = out_table_new(7, headers, &t);
	if (rc != CU_OK)
		return rc;
	out_table_align_right(t, 6);
	for (size_t i = 0; i < d->n_steps; i++)
		add_step_row(t, &d->steps[i]);
	rc = out_table_print(t, stdout);
	out_table_free(t);
	if (rc == CU_OK)
		print_last_known(d, "");
	return rc;
}

/* Prints the devices that were checked without being the subject. */
static void print_others(const struct bundle_report *r)
{
	bool first = true;

	for (size_t i = 0; i < r->n_devices; i++) {
		const struct bundle_device *d = &r->devices[i];

		if (d->subject)
			continue;
		if (first)
			printf("\nalso checked (%s):\n",
			       r->facility != NULL
				   ? "devices the bundle does not leave at the facility"
				   : "containers that held a device of the subject");
		first = false;
		printf("  %s  %s %s, %zu events; ", d->serial,
		       d->kind != 0 ? enum_label(&custody__device_kind__descriptor, d->kind, NULL)
				    : "?",
		       d->model, d->n_steps);
		print_last_known(d, "");
	}
}

/* The header: subject, checkpoint, cosigners, counts, admin keys. */
static void print_summary(const struct bundle_report *r)
{
	char root[CODEC_B64_SIZE(NOTE_CHECKPOINT_ROOT_BYTES)], hex[2 * KEY_PUBLIC_BYTES + 1];
	char when[CODEC_TIME_MAX], id[OUT_ID_TEXT];

	if (r->device != NULL)
		printf("proof bundle of device %s\n", r->device);
	else if (r->shipment != NULL)
		printf(
		    "proof bundle of shipment %s\n",
		    out_id(&(ProtobufCBinaryData){ENVELOPE_ID_BYTES, (uint8_t *)r->shipment}, id));
	else
		printf("proof bundle of facility %s\n", r->facility);
	codec_b64_encode(r->root, sizeof(r->root), root, sizeof(root));
	printf("checkpoint:    %s, tree size %llu, root %s\n", r->origin,
	       (unsigned long long)r->tree_size, root);
	for (size_t i = 0; i < r->n_cosigners; i++) {
		const struct bundle_cosigner *c = &r->cosigners[i];

		if (c->timestamp <= MAX_SHOWN_SECONDS)
			out_time((int64_t)c->timestamp * 1000, when);
		printf("%s%s at %s%s\n", i == 0 ? "cosigned by:   " : "               ",
		       c->key.name, c->timestamp <= MAX_SHOWN_SECONDS ? when : "?",
		       c->required ? " (required)" : "");
	}
	if (r->n_cosigners == 0)
		printf("cosigned by:   nobody\n");
	printf("entries:       %zu: %zu events (%zu rejected, kept as evidence), %zu "
	       "registrations\n",
	       r->n_entries, r->n_events, r->n_rejected, r->n_registrations);
	for (size_t i = 0; i < r->n_admin_signers; i++) {
		codec_hex_encode(r->admin_signers[i], KEY_PUBLIC_BYTES, hex, sizeof(hex));
		printf("%s%s\n", i == 0 ? "registered by: " : "               ", hex);
	}
}

/* Prints a verified report for people. */
static int print_text(const struct bundle_report *r)
{
	size_t subjects = 0;
	int rc = CU_OK;

	print_summary(r);
	for (size_t i = 0; i < r->n_devices && rc == CU_OK; i++) {
		if (r->devices[i].subject) {
			rc = print_device(&r->devices[i]);
			subjects++;
		}
	}
	if (rc != CU_OK)
		return rc;
	if (subjects == 0)
		printf("\nno device of the bundle is at %s\n", r->facility);
	print_others(r);
	printf("\nverified: every signature, every device's chain from its REGISTER, every "
	       "inclusion proof, the checkpoint and %zu of %zu required cosignatures\n",
	       r->n_required_cosigned, r->quorum);
	return CU_OK;
}

/* Prints the outcome of bundle_verify (rc, the report r); returns the command's. */
static int report(struct ctl *ctl, int rc, const struct bundle_report *r)
{
	for (size_t i = 0; i < r->n_problems; i++)
		ctl_note("custodyctl: bundle does not verify: %s", r->problems[i]);
	if (r->n_more_problems > 0)
		ctl_note("custodyctl: bundle does not verify: and %zu more problems",
			 r->n_more_problems);
	if (ctl->json)
		print_json(r);
	else if (rc == CU_OK && print_text(r) != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	if (rc != CU_OK) {
		ctl_set_status(ctl, CTL_EXIT_SERVER);
		ctl->error_reported = true;
	}
	return rc;
}

int cmd_verify(struct ctl *ctl, int argc, char **argv)
{
	struct verify_opts *o = calloc(1, sizeof(*o));
	struct bundle_report *r = NULL;
	struct bundle_keys keys;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = o != NULL ? parse_opts(ctl, argc, argv, o) : CU_ERR_NOMEM;

	if (rc == CU_OK)
		rc = read_file(ctl, o->path, &data, &len);
	if (rc == CU_OK) {
		keys = (struct bundle_keys){&o->log,	       o->witnesses,  o->n_witnesses,
					    (size_t)o->quorum, o->admin_keys, o->n_admin_keys};
		rc = bundle_verify(data, len, &keys, &r);
		if (r != NULL)
			rc = report(ctl, rc, r);
		else
			rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	} else if (rc == CU_ERR_NOMEM) {
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	}
	bundle_report_free(r);
	free(data);
	free(o);
	return rc;
}
