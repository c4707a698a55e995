/*
 * cmd_alerts.c - "alerts" (list alerts by filters) and "alert show|ack|
 * resolve|comment ID" (one alert with its notes; a signed step in its
 * life).
 *
 * A step is an AlertNote inside an AdminAction, sealed under the admin
 * domain exactly like the registrations of cmd_register.c: stamped,
 * checked locally with validate_admin, signed with the --key key and sent
 * as Request.admin. The server decides whether that key may note the
 * alert (a regulator's, the devices' exporter's, or an admin key).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_fmt.h"
#include "cmd.h"
#include "codec.h"
#include "envelope.h"
#include "out.h"
#include "validate.h"

#define MAX_PAGE_SIZE 10000

/* The alerts command line; strings point into argv. */
struct alerts_opts {
	Custody__AlertsRequest req;
	uint64_t limit;
	bool all;
};

static const struct option alerts_opts[] = {
    {"device", required_argument, NULL, 'd'},  {"facility", required_argument, NULL, 'f'},
    {"country", required_argument, NULL, 'c'}, {"rule", required_argument, NULL, 'r'},
    {"state", required_argument, NULL, 's'},   {"exporter", required_argument, NULL, 'e'},
    {"since", required_argument, NULL, 'S'},   {"until", required_argument, NULL, 'U'},
    {"limit", required_argument, NULL, 'l'},   {"after", required_argument, NULL, 'a'},
    {"all", no_argument, NULL, 'A'},	       {NULL, 0, NULL, 0},
};

/* Handles the alerts option c, whose value is optarg. */
static int alerts_option(struct ctl *ctl, struct alerts_opts *o, int c)
{
	Custody__AlertsRequest *r = &o->req;
	int state = 0, rc;

	switch (c) {
	case 'd':
		r->device = optarg;
		return CU_OK;
	case 'f':
		r->facility = optarg;
		return CU_OK;
	case 'c':
		r->country = ctl_upper(optarg);
		return CU_OK;
	case 'r':
		r->rule = optarg;
		return CU_OK;
	case 's':
		rc = ctl_parse_enum(ctl, "--state", &custody__alert_state__descriptor, NULL, optarg,
				    &state);
		r->state = (Custody__AlertState)state;
		return rc;
	case 'e':
		r->exporter = optarg;
		return CU_OK;
	case 'S':
		return ctl_parse_time(ctl, "--since", optarg, &r->from_ms);
	case 'U':
		return ctl_parse_time(ctl, "--until", optarg, &r->to_ms);
	case 'l':
		return ctl_parse_uint(ctl, "--limit", optarg, 1, MAX_PAGE_SIZE, &o->limit);
	case 'a':
		return ctl_parse_uint(ctl, "--after", optarg, 0, UINT64_MAX, &r->after_id);
	default: /* 'A' */
		o->all = true;
		return CU_OK;
	}
}

/* Parses the alerts argv (borrowed) into o. */
static int parse_alerts(struct ctl *ctl, int argc, char **argv, struct alerts_opts *o)
{
	int c;

	custody__alerts_request__init(&o->req);
	while ((c = getopt_long(argc, argv, ":", alerts_opts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return ctl_bad_option(ctl, alerts_opts, argv, c);
		if (alerts_option(ctl, o, c) != CU_OK)
			return CU_ERR_INVALID;
	}
	if (optind < argc)
		return ctl_usage_error(ctl, "alerts: unexpected argument \"%s\"", argv[optind]);
	if (o->req.to_ms != 0 && o->req.to_ms <= o->req.from_ms)
		return ctl_usage_error(ctl, "alerts: --until must be later than --since");
	o->req.limit = (uint32_t)o->limit;
	return CU_OK;
}

/*
 * Fetches one page, or with --all every page, into p. Everything is
 * fetched before anything is printed, so a failure leaves one error.
 */
static int fetch_pages(struct ctl *ctl, struct alerts_opts *o, struct ctl_pages *p)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	int rc;

	req.body_case = CUSTODY__REQUEST__BODY_ALERTS;
	req.alerts = &o->req;
	for (;;) {
		Custody__Response *r = NULL;
		const Custody__AlertsResult *a;

		rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_ALERTS, &r);
		if (rc == CU_OK)
			rc = ctl_pages_add(ctl, p, r);
		if (rc != CU_OK)
			return rc;
		a = r->alerts;
		if (!o->all || !a->more || a->n_alerts == 0)
			return CU_OK;
		if (a->alerts[a->n_alerts - 1]->id <= o->req.after_id)
			return ctl_fail(ctl, CTL_EXIT_SERVER, "PROTOCOL",
					"the server's alert pages do not advance");
		o->req.after_id = a->alerts[a->n_alerts - 1]->id;
	}
}

/* Prints the pages p (borrowed) as one JSON document or a table. */
static int print_pages(struct ctl *ctl, const struct ctl_pages *p)
{
	const Custody__AlertsResult *last = p->resp[p->n - 1]->alerts;
	struct out_table *t = NULL;
	struct out_json j;
	int rc;

	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_key(&j, "alerts");
		out_json_begin_array(&j);
		for (size_t i = 0; i < p->n; i++) {
			for (size_t k = 0; k < p->resp[i]->alerts->n_alerts; k++)
				alert_fmt_json(&j, p->resp[i]->alerts->alerts[k]);
		}
		out_json_end_array(&j);
		out_json_kbool(&j, "more", last->more);
		out_json_end_object(&j);
		return CU_OK;
	}
	rc = out_table_new(ALERT_FMT_COLS, alert_fmt_headers, &t);
	if (rc != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	out_table_align_right(t, 0);
	for (size_t i = 0; i < p->n; i++) {
		for (size_t k = 0; k < p->resp[i]->alerts->n_alerts; k++)
			alert_fmt_row(t, p->resp[i]->alerts->alerts[k]);
	}
	rc = out_table_print(t, stdout);
	out_table_free(t);
	if (rc != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	if (last->more && last->n_alerts > 0)
		printf("(more: --after %" PRIu64 ", or --all)\n",
		       last->alerts[last->n_alerts - 1]->id);
	return CU_OK;
}

int cmd_alerts(struct ctl *ctl, int argc, char **argv)
{
	struct alerts_opts o = {0};
	struct ctl_pages p = {0};
	int rc = parse_alerts(ctl, argc, argv, &o);

	if (rc != CU_OK)
		return rc;
	rc = fetch_pages(ctl, &o, &p);
	if (rc == CU_OK)
		rc = print_pages(ctl, &p);
	ctl_pages_free(&p);
	return rc;
}

/* "alert show ID": the alert and its notes. */
static int alert_show(struct ctl *ctl, uint64_t id)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__AlertsRequest ask = CUSTODY__ALERTS_REQUEST__INIT;
	Custody__Response *resp = NULL;
	const Custody__Alert *a;
	struct out_json j;
	int rc;

	ask.id = id;
	req.body_case = CUSTODY__REQUEST__BODY_ALERTS;
	req.alerts = &ask;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_ALERTS, &resp);
	if (rc != CU_OK)
		return rc;
	a = resp->alerts->n_alerts > 0 ? resp->alerts->alerts[0] : NULL;
	if (a == NULL || a->id != id) {
		rc = ctl_fail(ctl, CTL_EXIT_SERVER, "NOT_FOUND", "no alert %" PRIu64, id);
	} else if (ctl->json) {
		out_json_init(&j, stdout);
		alert_fmt_json(&j, a);
	} else if (alert_fmt_print(a, stdout) != CU_OK) {
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	}
	custody__response__free_unpacked(resp, NULL);
	return rc;
}

/* Prints the AdminResult r (borrowed) of note n (borrowed). */
static void print_noted(const struct ctl *ctl, const Custody__AlertNote *n,
			const Custody__AdminResult *r)
{
	static const char *const done[] = {"commented on", "reopened", "acknowledged", "resolved"};
	char id[OUT_ID_TEXT];
	struct out_json j;

	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kstr(&j, "action", "alert_note");
		out_json_kuint(&j, "alert_id", n->alert_id);
		out_json_key(&j, "state");
		if (n->state == 0)
			out_json_null(&j);
		else
			out_json_enum(&j, &custody__alert_state__descriptor, n->state);
		out_json_kid(&j, "action_id", &r->action_id);
		out_json_kuint(&j, "seq", r->seq);
		out_json_kbool(&j, "duplicate", r->duplicate);
		out_json_kbool(&j, "unchanged", r->unchanged);
		out_json_end_object(&j);
		return;
	}
	printf("alert %" PRIu64 " %s (action %s, admin seq %" PRIu64 ")%s\n", n->alert_id,
	       done[n->state], out_id(&r->action_id, id), r->seq,
	       r->duplicate ? ": this exact note was already recorded" : "");
}

/* Stamps, checks, signs and sends the note n (borrowed); prints the result. */
static int submit_note(struct ctl *ctl, Custody__AlertNote *n)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__Response *resp = NULL;
	struct cu_key *key = NULL;
	char err[VALIDATE_ERR_MAX] = "";
	int rc;

	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_ALERT_NOTE;
	act.alert_note = n;
	act.issued_at_ms = codec_now_ms();
	if (validate_admin(&act, codec_now_ms(), CTL_MAX_SKEW_MS, err, sizeof(err)) != CU_OK)
		return ctl_usage_error(ctl, "alert: %s", err);
	rc = ctl_load_key(ctl, &key);
	if (rc != CU_OK)
		return rc;
	rc = envelope_seal(ENVELOPE_ADMIN, key, &act.base, &env);
	if (rc != CU_OK) {
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "cannot sign: %s", cu_strerror(rc));
		goto fail;
	}
	req.body_case = CUSTODY__REQUEST__BODY_ADMIN;
	req.admin = &env;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_ADMIN, &resp);
	if (rc != CU_OK)
		goto fail;
	print_noted(ctl, n, resp->admin);
	custody__response__free_unpacked(resp, NULL);
fail:
	envelope_clear(&env);
	key_free(key);
	return rc;
}

static const struct option note_opts[] = {
    {"note", required_argument, NULL, 'n'},
    {NULL, 0, NULL, 0},
};

/* The alert subcommands and the state each one's note records. */
static const struct {
	const char *name;
	Custody__AlertState state;
} steps[] = {
    {"ack", CUSTODY__ALERT_STATE__ACKNOWLEDGED},
    {"resolve", CUSTODY__ALERT_STATE__RESOLVED},
    {"comment", CUSTODY__ALERT_STATE__ALERT_STATE_UNSPECIFIED},
};

#define N_STEPS (sizeof(steps) / sizeof(steps[0]))

/*
 * Parses "VERB ID [--note TEXT]" (argv[0] is the verb; borrowed): *id gets
 * ID and *note (pointing into argv) the --note, or NULL.
 */
static int parse_alert(struct ctl *ctl, int argc, char **argv, uint64_t *id, char **note)
{
	int c;

	while ((c = getopt_long(argc, argv, ":", note_opts, NULL)) != -1) {
		if (c != 'n')
			return ctl_bad_option(ctl, note_opts, argv, c);
		*note = optarg;
	}
	if (optind >= argc)
		return ctl_usage_error(ctl, "alert %s: the alert ID is required", argv[0]);
	if (optind + 1 < argc)
		return ctl_usage_error(ctl, "alert %s: unexpected argument \"%s\"", argv[0],
				       argv[optind + 1]);
	return ctl_parse_uint(ctl, "alert ID", argv[optind], 1, UINT64_MAX, id);
}

int cmd_alert(struct ctl *ctl, int argc, char **argv)
{
	Custody__AlertNote n = CUSTODY__ALERT_NOTE__INIT;
	const char *verb = argc > 1 ? argv[1] : "";
	bool show = strcmp(verb, "show") == 0;
	size_t step = 0;
	char *note = NULL;
	uint64_t id = 0;
	int rc;

	while (step < N_STEPS && strcmp(verb, steps[step].name) != 0)
		step++;
	if (!show && step == N_STEPS)
		return ctl_usage_error(ctl, "alert: give show, ack, resolve or comment%s%s%s",
				       argc > 1 ? " (not \"" : "", verb, argc > 1 ? "\")" : "");
	/* The verb is the first argument: getopt scans what follows it. */
	rc = parse_alert(ctl, argc - 1, argv + 1, &id, &note);
	if (rc != CU_OK)
		return rc;
	if (show) {
		if (note != NULL)
			return ctl_usage_error(ctl, "alert show takes no --note");
		return alert_show(ctl, id);
	}
	if (ctl_require(ctl, note != NULL, "--note") != CU_OK)
		return CU_ERR_INVALID;
	n.alert_id = id;
	n.state = steps[step].state;
	n.note = note;
	return submit_note(ctl, &n);
}
