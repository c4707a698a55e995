/*
 * main.c - custodyctl, the command-line client of custodyd.
 *
 * Parses the global options (up to the first non-option, the command),
 * finds the command in the table and hands it the rest of argv. The
 * commands live in cmd_*.c; custody event commands come from the event
 * table of cmd_event.c so each event type is described in one place.
 */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "ctl.h"

#define PROG "custodyctl"
/* Longest --timeout: a day. */
#define MAX_TIMEOUT_S 86400

static const struct cmd_def commands[] = {
    {"keygen", cmd_keygen, "Make a key pair: FILE (mode 0600) and FILE.pub; print the public key",
     "FILE"},
    {"pubkey", cmd_pubkey, "Print the base64 public key of a key file (default: --key)", "[FILE]"},
    {"whoami", cmd_whoami, "Show the party, role and validity of the --key key", ""},
    {"register-party", cmd_register_party, "Register a party (admin key)",
     "ID --name NAME --country CC --roles ROLE[,ROLE...]\n"
     "       [--hq CC] [--parent-country CC] [--trusted]\n"
     "\n"
     "  --hq and --parent-country default to --country. ROLE is one of admin,\n"
     "  exporter, operator, carrier, device, regulator, witness. --trusted marks a\n"
     "  trusted exporter."},
    {"register-key", cmd_register_key, "Register a party's public key (admin key)",
     "PUBKEY --party ID --role ROLE\n"
     "       [--valid-from TIME] [--valid-until TIME]\n"
     "\n"
     "  PUBKEY is a base64 or hex public key, or the path of a .pub or secret key\n"
     "  file. TIME is 2026-11-22T13:40:00Z, 2026-11-22 or now."},
    {"key", cmd_key, "Rotate or revoke a registered key (admin key, or the key itself)",
     "rotate --old PUBKEY --new PUBKEY --old-valid-until TIME\n"
     "       [--new-valid-until TIME]\n"
     "       key revoke PUBKEY [--at TIME] [--reason TEXT]\n"
     "\n"
     "  rotate registers the new key for the old key's party and role; the old key\n"
     "  signs nothing recorded or dated at or after --old-valid-until (now: at once).\n"
     "  revoke ends the key from --at on (default now; may be backdated to when a\n"
     "  compromise began): its signatures dated or recorded from then on are\n"
     "  refused and fail verify; older ones stay valid. TEXT: at most 1024 bytes.\n"
     "  PUBKEY is a base64 or hex public key, or the path of a .pub or secret key\n"
     "  file. TIME is 2026-11-22T13:40:00Z, 2026-11-22 or now. Signed with --key:\n"
     "  an admin key, or the key being rotated or revoked. See docs/keys.md."},
    {"register-facility", cmd_register_facility, "Register a facility (admin key)",
     "ID --name NAME --owner PARTY --operator PARTY --country CC\n"
     "       [--lat DEG --lon DEG] [--authorized] [--authorized-since TIME]\n"
     "\n"
     "  --authorized puts the facility on the authorized-site roster;\n"
     "  --authorized-since implies it."},
    {"where", cmd_where, "Show where a device is and its current state", "SERIAL"},
    {"history", cmd_history, "Show a device's events, each checked against its signature",
     "SERIAL [--limit N] [--after SEQ] [--all]\n"
     "\n"
     "  --limit N    page size (server default 1000, at most 10000)\n"
     "  --after SEQ  only events after sequence number SEQ\n"
     "  --all        follow pages until the end"},
    {"inventory", cmd_inventory, "Count the devices at a facility or in a country",
     "--facility F | --country CC [--devices] [--limit N] [--after SERIAL]\n"
     "\n"
     "  --devices       also list the devices (paged: --limit, --after)"},
    {"contents", cmd_contents, "List everything inside a container", "SERIAL"},
    {"log-key", cmd_log_key, "Print the verifiable log's verifier key (name+keyid+base64)", ""},
    {"checkpoint", cmd_checkpoint, "Print a signed checkpoint of the log, with its cosignatures",
     "[--size N] [--min-cosignatures N]\n"
     "\n"
     "  Without options, the latest checkpoint. --size N: the checkpoint of tree\n"
     "  size N; --min-cosignatures N: the latest cosigned by at least N witnesses."},
    {"witness", cmd_witness, "Witness the log: check it only grows, cosign its checkpoints",
     "--log VKEY --state FILE [--interval SECONDS]\n"
     "\n"
     "  VKEY is the log's verifier key (custodyctl log-key), pinned out of band.\n"
     "  --key is the witness's key, registered with role witness. Each round\n"
     "  fetches the latest checkpoint, checks the log's signature and a\n"
     "  consistency proof from the checkpoint in FILE (the last one cosigned;\n"
     "  without FILE the first is trusted), saves the new one in FILE (0600), then\n"
     "  cosigns it and hands the cosignature to custodyd. A checkpoint that\n"
     "  contradicts FILE is refused loudly, with both checkpoints written to\n"
     "  FILE.fork, and the witness exits 4. --interval repeats the round every\n"
     "  SECONDS until SIGINT or SIGTERM."},
    {"prove", cmd_prove, "Write a proof bundle of a device, shipment or facility, for verify",
     "--device SERIAL | --shipment EVENT_ID | --facility ID -o FILE\n"
     "       [--min-cosignatures N]\n"
     "\n"
     "  Writes FILE (0644, atomically): the events of the device (of every device\n"
     "  the SHIP or RMA_OUT event EVENT_ID carried; of every device at the\n"
     "  facility), the containers that held them, the registrations of their\n"
     "  signers' keys and facilities, each with its inclusion proof, and the\n"
     "  latest checkpoint cosigned by N witnesses (default 1; 0: the latest, even\n"
     "  if nobody cosigned it). Events logged after it are left out. The bundle\n"
     "  is checked as verify would before it is written. See docs/bundle.md."},
    {"export-epcis", cmd_export_epcis, "Write custody events as a GS1 EPCIS 2.0 JSON-LD document",
     "[SERIAL...] [--devices-at F] [--facility F] [--from TIME] [--to TIME]\n"
     "       [-o FILE]\n"
     "\n"
     "  SERIALs: each device's whole history; --devices-at F: the histories of\n"
     "  every device whose last known facility is F; --facility F: the events\n"
     "  that happened at F (the server's events query); --from/--to alone: every\n"
     "  event in the window that the key may read. --from/--to keep the events\n"
     "  that occurred in [FROM, TO). Each event once, in sequence order, each\n"
     "  checked against its signature. -o FILE writes FILE (0644) atomically;\n"
     "  default stdout. See docs/epcis.md."},
    {"import-epcis", cmd_import_epcis, "Turn an EPCIS 2.0 document into events signed with --key",
     "FILE [--dry-run]\n"
     "\n"
     "  FILE (- for stdin) is an EPCIS 2.0 JSON-LD document of ObjectEvents and\n"
     "  AggregationEvents (docs/epcis.md has the mapping). The whole document is\n"
     "  checked first: every event must map to a custody event and every device\n"
     "  it does not register must be visible to --key (on TCP); else nothing is\n"
     "  sent.\n"
     "  Then each event gets the key's party as actor and its devices' heads as\n"
     "  prev, and is signed and submitted in order. --dry-run prints the custody\n"
     "  events instead. A refusal by the server part way stops the import and\n"
     "  says which events are stored."},
    {"verify", cmd_verify, "Check a proof bundle offline and print the custody path",
     "FILE --log-key VKEY [--witness VKEY]... [--quorum N] [--admin-key KEY]...\n"
     "\n"
     "  Needs no server. Checks every signature, each device's chain from its\n"
     "  REGISTER, every inclusion proof, the checkpoint (signed by --log-key, the\n"
     "  log's verifier key from 'custodyctl log-key', or a file holding it) and\n"
     "  the cosignatures: every one must verify, and at least N (default: as many\n"
     "  as --witness keys given) must be of the given witnesses' keys.\n"
     "  --admin-key: the registrations must be signed by one of these keys.\n"
     "  Prints each device's path (date, event, facility and country, actor) and\n"
     "  exits 0 only if everything holds; else prints every failed check, exit 1."},
    {"policy", cmd_policy, "Load policy data (admin key), or show the policy in force",
     "load KIND FILE [--effective TIME] [--source TEXT] [--dry-run]\n"
     "       policy show\n"
     "\n"
     "  KIND is country-groups, country-overrides, models, roster, licenses or\n"
     "  screening; FILE is its published CSV (the Consolidated Screening List also\n"
     "  as consolidated.json). A load replaces all data of its kind from TIME on\n"
     "  (2026-11-22T13:40:00Z, 2026-11-22 or now; default now).\n"
     "  --source TEXT  what to record as the data's origin (default: the file name)\n"
     "  --dry-run      check the file and print the load, signed if a key is given;\n"
     "                 send nothing\n"
     "  show prints the regime, its parameters and every version of the data."},
    {"alerts", cmd_alerts, "List alerts raised by the policy rules, oldest first",
     "[--device S] [--facility F] [--country CC] [--rule R]\n"
     "       [--state open|acknowledged|resolved] [--exporter PARTY]\n"
     "       [--since TIME] [--until TIME] [--limit N] [--after ID] [--all]\n"
     "\n"
     "  --rule R     a rule id, or a prefix ending in \".\" (handoff.)\n"
     "  --since, --until  raised at or after / before TIME (2026-11-22T13:40:00Z,\n"
     "               2026-11-22 or now)\n"
     "  --limit N    page size (server default 1000, at most 10000)\n"
     "  --after ID   only alerts after alert ID\n"
     "  --all        follow pages until the end"},
    {"alert", cmd_alert, "Show an alert, or acknowledge, resolve or comment on it (signed)",
     "show ID\n"
     "       alert ack|resolve|comment ID --note TEXT\n"
     "\n"
     "  show prints the alert and its notes. ack, resolve and comment sign a note\n"
     "  with --key (a regulator's key, the devices' exporter's, or an admin key);\n"
     "  TEXT is at most 1024 bytes."},
    {"watch", cmd_watch, "Print alerts as they are raised; reconnect and resume after a loss",
     "[--after ID] [--country CC] [--facility F] [--rule R]\n"
     "       [--exporter PARTY] [--state-file PATH] [--count N]\n"
     "\n"
     "  Prints every matching alert after ID (default 0: all stored ones first),\n"
     "  one line each (--json: one object a line), and then each new one. A lost\n"
     "  connection is retried (100 ms doubling to 5 s) and resumed after the\n"
     "  last alert printed, so none is lost or printed twice.\n"
     "  --state-file PATH  start after the id stored in PATH (unless --after) and\n"
     "                     store each printed alert's id there\n"
     "  --count N          exit after N alerts\n"
     "  SIGINT/SIGTERM end the watch with status 0."},
    {"report", cmd_report, "Write a VEU inventory report or a shipment notice",
     "veu --exporter PARTY --from TIME --to TIME [--format csv|json]\n"
     "       report shipment EVENT_ID [--format text|csv|json]\n"
     "       report SERIAL... --reason lost|stolen|tampered|found|other [EVENT OPTIONS]\n"
     "\n"
     "  veu: the items each authorized site of the exporter received in\n"
     "  [--from, --to), as CSV (default) or JSON with the on-hand totals.\n"
     "  shipment: the contents and ECCNs of a SHIP or RMA_OUT event (id in hex).\n"
     "  --json means --format json. 'report SERIAL...' is the custody event that\n"
     "  reports devices; its EVENT OPTIONS are every event's (see '" PROG " help\n"
     "  ship'). A device named veu or shipment goes after the options:\n"
     "  'report --reason lost veu'."},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct option global_opts[] = {
    {"server", required_argument, NULL, 's'},
    {"key", required_argument, NULL, 'k'},
    {"json", no_argument, NULL, 'j'},
    {"timeout", required_argument, NULL, 't'},
    {"server-key", required_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The command called name (borrowed), or NULL; the result is static. */
static const struct cmd_def *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	for (size_t i = 0; i < cmd_event_count(); i++) {
		if (strcmp(cmd_event_def(i)->name, name) == 0)
			return cmd_event_def(i);
	}
	return NULL;
}

/* Prints the overview of options and commands to f (borrowed). */
static void print_help(FILE *f)
{
	fprintf(f, "usage: " PROG " [--server ADDR] [--server-key KEY] [--key FILE] [--json]\n"
		   "                  [--timeout SECONDS] COMMAND [ARGS]\n"
		   "\n"
		   "Client of custodyd, the chain-of-custody registry of export-controlled AI\n"
		   "hardware.\n"
		   "\n"
		   "Global options:\n"
		   "  --server ADDR      unix:/path/to.sock, HOST:PORT or [IPv6]:PORT\n"
		   "                     (default $CUSTODY_SERVER, else " CTL_DEFAULT_SERVER ")\n"
		   "  --server-key KEY   TCP: the server's public key to pin (base64, hex or a\n"
		   "                     .pub file; default $CUSTODY_SERVER_KEY); the Noise\n"
		   "                     handshake refuses any other server\n"
		   "  --key FILE         secret key for signing, whoami and the TCP handshake\n"
		   "                     (default $CUSTODY_KEY)\n"
		   "  --json             print one JSON document on stdout\n"
		   "  --timeout SECONDS  connect/read/write timeout (default 30)\n"
		   "\n"
		   "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-18s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nCustody events (signed with --key):\n");
	for (size_t i = 0; i < cmd_event_count(); i++)
		fprintf(f, "  %-18s %s\n", cmd_event_def(i)->name, cmd_event_def(i)->help);
	fprintf(f, "\nRun '" PROG " COMMAND --help' for a command's arguments.\n"
		   "Exit status: 0 ok, 1 the server refused, 2 usage error, 3 connection/I/O.\n");
}

/* Parses the global options; *cmd_index gets the index of the command. */
static int parse_global(struct ctl *ctl, int argc, char **argv, bool *help, int *cmd_index)
{
	uint64_t timeout_s = 0;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", global_opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl->server = optarg;
			break;
		case 'k':
			ctl->key_path = optarg;
			break;
		case 'S':
			ctl->server_key = optarg;
			break;
		case 'j':
			ctl->json = true;
			break;
		case 't':
			rc = ctl_parse_uint(ctl, "--timeout", optarg, 1, MAX_TIMEOUT_S, &timeout_s);
			if (rc != CU_OK)
				return rc;
			ctl->timeout_ms = (int)timeout_s * 1000;
			break;
		case 'h':
			*help = true;
			break;
		default:
			return ctl_bad_option(ctl, global_opts, argv, c);
		}
	}
	*cmd_index = optind;
	return CU_OK;
}

/* Makes cmd the current command of ctl (for usage and error messages). */
static void select_command(struct ctl *ctl, const struct cmd_def *cmd)
{
	ctl->cmd_name = cmd->name;
	ctl->cmd_help = cmd->help;
	ctl->cmd_usage = cmd->usage;
}

/* Prints cmd's usage, and its family's shared help, on stdout. */
static int show_usage(struct ctl *ctl, const struct cmd_def *cmd)
{
	select_command(ctl, cmd);
	ctl_print_usage(ctl, stdout);
	if (cmd->more != NULL)
		printf("\n%s", cmd->more);
	return CU_OK;
}

/* Does a command's argv ask for help ("--help" or "-h" before any "--")? */
static bool asks_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

/* Runs "help [COMMAND]": the command's usage, or the overview. */
static int run_help(struct ctl *ctl, int argc, char **argv)
{
	const struct cmd_def *cmd = argc > 1 ? find_command(argv[1]) : NULL;

	if (argc <= 1) {
		print_help(stdout);
		return CU_OK;
	}
	if (cmd == NULL)
		return ctl_usage_error(ctl, "unknown command \"%s\"", argv[1]);
	return show_usage(ctl, cmd);
}

/* Runs the command at argv[0]; --help anywhere in it shows its usage. */
static int run_command(struct ctl *ctl, int argc, char **argv)
{
	const struct cmd_def *cmd = find_command(argv[0]);

	if (strcmp(argv[0], "help") == 0)
		return run_help(ctl, argc, argv);
	if (cmd == NULL)
		return ctl_usage_error(ctl, "unknown command \"%s\"", argv[0]);
	if (asks_help(argc, argv))
		return show_usage(ctl, cmd);
	select_command(ctl, cmd);
	optind = 0; /* glibc: start a fresh scan of the command's argv */
	return cmd->run(ctl, argc, argv);
}

/* Turns the outcome into the exit status, noting failures nobody reported. */
static int finish(struct ctl *ctl, int rc)
{
	if (rc != CU_OK && ctl->exit_status == CTL_EXIT_OK)
		rc = ctl_fail(ctl, CTL_EXIT_IO, "INTERNAL", "%s failed: %s", ctl->cmd_name,
			      cu_strerror(rc));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": error writing to standard output\n");
		ctl_set_status(ctl, CTL_EXIT_IO);
	}
	ctl_cleanup(ctl);
	return ctl->exit_status;
}

int main(int argc, char **argv)
{
	struct ctl ctl;
	bool help = false;
	int cmd_index = 0;
	int rc;

	ctl_init(&ctl);
	/* libsodium must be initialised before its guarded allocator is used. */
	if (sodium_init() < 0)
		rc = ctl_fail(&ctl, CTL_EXIT_IO, "INTERNAL", "cannot initialise libsodium");
	else
		rc = parse_global(&ctl, argc, argv, &help, &cmd_index);
	if (rc == CU_OK && help) {
		print_help(stdout);
	} else if (rc == CU_OK && cmd_index >= argc) {
		print_help(stderr);
		rc = ctl_fail(&ctl, CTL_EXIT_USAGE, "USAGE", "no command given");
	} else if (rc == CU_OK) {
		rc = run_command(&ctl, argc - cmd_index, argv + cmd_index);
	}
	return finish(&ctl, rc);
}
