/*
 * cmd_report.c - "report veu" (the semi-annual VEU inventory report of an
 * exporter) and "report shipment EVENT_ID" (the shipment notice of a SHIP
 * or RMA_OUT event): ask the server, write CSV, JSON or text (see
 * report_fmt.h for the formats).
 *
 * "report" is also the custody event that reports devices lost, stolen,
 * tampered or found ("report SERIAL... --reason R"). A first argument of
 * "veu" or "shipment" picks a report; anything else is that event, handed
 * to cmd_event as if the event table had been asked. A device whose
 * serial is "veu" or "shipment" is reported with its options first:
 * "report --reason lost veu".
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "codec.h"
#include "envelope.h"
#include "out.h"
#include "report_fmt.h"

enum report_format {
	FORMAT_DEFAULT,
	FORMAT_TEXT,
	FORMAT_CSV,
	FORMAT_JSON,
};

static const char *const format_names[] = {"", "text", "csv", "json"};

/* The report command line; strings point into argv. */
struct report_opts {
	const char *exporter;
	int64_t from_ms, to_ms;
	bool from_given, to_given;
	enum report_format format;
};

static const struct option report_opts[] = {
    {"exporter", required_argument, NULL, 'e'},
    {"from", required_argument, NULL, 'f'},
    {"to", required_argument, NULL, 't'},
    {"format", required_argument, NULL, 'F'},
    {NULL, 0, NULL, 0},
};

/* Parses --format text (borrowed) against the formats the report allows. */
static int parse_format(struct ctl *ctl, const char *text, bool allow_text,
			enum report_format *format)
{
	for (int f = FORMAT_TEXT; f <= FORMAT_JSON; f++) {
		if ((f != FORMAT_TEXT || allow_text) && strcmp(text, format_names[f]) == 0) {
			*format = (enum report_format)f;
			return CU_OK;
		}
	}
	return ctl_usage_error(ctl, "--format: \"%s\" is not one of: %s", text,
			       allow_text ? "text, csv, json" : "csv, json");
}

/*
 * Parses the options of "report KIND" (argv[0] is KIND; borrowed) into o;
 * veu takes --exporter, --from and --to, both take --format.
 */
static int parse_opts(struct ctl *ctl, int argc, char **argv, bool veu, struct report_opts *o)
{
	int c, rc = CU_OK;

	while (rc == CU_OK && (c = getopt_long(argc, argv, ":", report_opts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return ctl_bad_option(ctl, report_opts, argv, c);
		if (c == 'F') {
			rc = parse_format(ctl, optarg, !veu, &o->format);
			continue;
		}
		if (!veu)
			return ctl_usage_error(ctl, "report %s takes no option but --format",
					       argv[0]);
		if (c == 'e') {
			o->exporter = optarg;
		} else if (c == 'f') {
			o->from_given = true;
			rc = ctl_parse_time(ctl, "--from", optarg, &o->from_ms);
		} else {
			o->to_given = true;
			rc = ctl_parse_time(ctl, "--to", optarg, &o->to_ms);
		}
	}
	if (rc != CU_OK)
		return rc;
	if (ctl->json && o->format != FORMAT_DEFAULT && o->format != FORMAT_JSON)
		return ctl_usage_error(ctl, "report %s: --json and --format %s contradict", argv[0],
				       format_names[o->format]);
	if (ctl->json)
		o->format = FORMAT_JSON;
	return CU_OK;
}

/* "report veu --exporter X --from TIME --to TIME [--format csv|json]". */
static int report_veu(struct ctl *ctl, int argc, char **argv)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__VeuReportRequest veu = CUSTODY__VEU_REPORT_REQUEST__INIT;
	Custody__Response *resp = NULL;
	struct report_opts o = {0};
	struct out_json j;
	int rc = parse_opts(ctl, argc, argv, true, &o);

	if (rc != CU_OK)
		return rc;
	if (ctl_require(ctl, o.exporter != NULL, "--exporter") != CU_OK ||
	    ctl_require(ctl, o.from_given, "--from") != CU_OK ||
	    ctl_require(ctl, o.to_given, "--to") != CU_OK)
		return CU_ERR_INVALID;
	if (o.to_ms <= o.from_ms)
		return ctl_usage_error(ctl, "report veu: --to must be later than --from");
	if (optind < argc)
		return ctl_usage_error(ctl, "report veu: unexpected argument \"%s\"", argv[optind]);
	veu.exporter = (char *)o.exporter;
	veu.from_ms = o.from_ms;
	veu.to_ms = o.to_ms;
	req.body_case = CUSTODY__REQUEST__BODY_VEU_REPORT;
	req.veu_report = &veu;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_VEU_REPORT, &resp);
	if (rc != CU_OK)
		return rc;
	if (o.format == FORMAT_JSON) {
		out_json_init(&j, stdout);
		report_fmt_veu_json(&j, resp->veu_report);
	} else {
		report_fmt_veu_csv(stdout, resp->veu_report);
	}
	custody__response__free_unpacked(resp, NULL);
	return CU_OK;
}

/* "report shipment EVENT_ID [--format text|csv|json]". */
static int report_shipment(struct ctl *ctl, int argc, char **argv)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__ShipmentRequest ship = CUSTODY__SHIPMENT_REQUEST__INIT;
	Custody__Response *resp = NULL;
	uint8_t id[ENVELOPE_ID_BYTES];
	struct report_opts o = {0};
	struct out_json j;
	int rc = parse_opts(ctl, argc, argv, false, &o);

	if (rc != CU_OK)
		return rc;
	if (optind >= argc)
		return ctl_usage_error(ctl, "report shipment: the EVENT_ID is required");
	if (optind + 1 < argc)
		return ctl_usage_error(ctl, "report shipment: unexpected argument \"%s\"",
				       argv[optind + 1]);
	if (codec_hex_decode(argv[optind], id, sizeof(id)) != CU_OK)
		return ctl_usage_error(
		    ctl, "report shipment: \"%s\" is not a 64-digit hex event id", argv[optind]);
	ship.event_id.data = id;
	ship.event_id.len = sizeof(id);
	req.body_case = CUSTODY__REQUEST__BODY_SHIPMENT;
	req.shipment = &ship;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_SHIPMENT, &resp);
	if (rc != CU_OK)
		return rc;
	if (o.format == FORMAT_JSON) {
		out_json_init(&j, stdout);
		report_fmt_shipment_json(&j, resp->shipment);
	} else if (o.format == FORMAT_CSV) {
		report_fmt_shipment_csv(stdout, resp->shipment);
	} else if (report_fmt_shipment_print(resp->shipment, stdout) != CU_OK) {
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	}
	custody__response__free_unpacked(resp, NULL);
	return rc;
}

/* Runs "report SERIAL..." as the REPORT custody event of the event table. */
static int report_event(struct ctl *ctl, int argc, char **argv)
{
	for (size_t i = 0; i < cmd_event_count(); i++) {
		const struct cmd_def *def = cmd_event_def(i);

		if (strcmp(def->name, argv[0]) != 0)
			continue;
		/* Its usage, not the reports', is the help for its errors. */
		ctl->cmd_help = def->help;
		ctl->cmd_usage = def->usage;
		return cmd_event(ctl, argc, argv);
	}
	return ctl_usage_error(ctl, "report: give veu, shipment, or device SERIALs");
}

int cmd_report(struct ctl *ctl, int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "";

	if (argc < 2)
		return ctl_usage_error(ctl, "report: give veu, shipment, or device SERIALs");
	/* The kind is the first argument: getopt scans what follows it. */
	if (strcmp(kind, "veu") == 0)
		return report_veu(ctl, argc - 1, argv + 1);
	if (strcmp(kind, "shipment") == 0)
		return report_shipment(ctl, argc - 1, argv + 1);
	return report_event(ctl, argc, argv);
}
