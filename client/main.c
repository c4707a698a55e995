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
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct option global_opts[] = {
    {"server", required_argument, NULL, 's'}, {"key", required_argument, NULL, 'k'},
    {"json", no_argument, NULL, 'j'},	      {"timeout", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
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
	fprintf(f, "usage: " PROG " [--server ADDR] [--key FILE] [--json] [--timeout SECONDS]\n"
		   "                  COMMAND [ARGS]\n"
		   "\n"
		   "Client of custodyd, the chain-of-custody registry of export-controlled AI\n"
		   "hardware.\n"
		   "\n"
		   "Global options:\n"
		   "  --server ADDR      unix:/path/to.sock, HOST:PORT or [IPv6]:PORT\n"
		   "                     (default $CUSTODY_SERVER, else " CTL_DEFAULT_SERVER ")\n"
		   "  --key FILE         secret key for signing and whoami (default $CUSTODY_KEY)\n"
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
