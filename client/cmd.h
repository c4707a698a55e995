/*
 * cmd.h - the contract between main.c's command table and the cmd_*.c
 * files: what a command is, and each command family's entry point.
 *
 * A handler gets the ctl (global options, connection) and its own argv,
 * where argv[0] is the command name; it parses its options with
 * getopt_long, does its work and returns 0 or a negative cu_err code
 * after reporting the error through the ctl (see ctl.h). Both are
 * borrowed; a handler may edit argv's strings in place (upper-casing a
 * country code, splitting a comma list) and point into them.
 */
#ifndef CUSTODY_CLIENT_CMD_H
#define CUSTODY_CLIENT_CMD_H

#include <stddef.h>

#include "ctl.h"

typedef int (*cmd_fn)(struct ctl *ctl, int argc, char **argv);

struct cmd_def {
	const char *name;
	cmd_fn run;
	const char *help;  /* one line, no final period */
	const char *usage; /* arguments and options after the name */
	const char *more;  /* further help shared by a family, or NULL */
};

CU_MUST_USE int cmd_keygen(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_pubkey(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_whoami(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_register_party(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_register_key(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_register_facility(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_where(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_history(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_inventory(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_contents(struct ctl *ctl, int argc, char **argv);
/* "log-key" and "checkpoint": the verifiable log's key and latest checkpoint (cmd_log.c). */
CU_MUST_USE int cmd_log_key(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_checkpoint(struct ctl *ctl, int argc, char **argv);
/* "prove ... -o FILE" and "verify FILE ...": proof bundles (cmd_prove.c, cmd_verify.c). */
CU_MUST_USE int cmd_prove(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_verify(struct ctl *ctl, int argc, char **argv);
/* "witness --log VKEY --state FILE": an independent witness (cmd_witness.c). */
CU_MUST_USE int cmd_witness(struct ctl *ctl, int argc, char **argv);
/* "key rotate ..." and "key revoke PUBKEY ..." (cmd_key.c). */
CU_MUST_USE int cmd_key(struct ctl *ctl, int argc, char **argv);
/*
 * Stamps act (borrowed) with the time, checks it with validate_admin, signs
 * it with --key and sends it (cmd_register.c). *resp (owned by the caller)
 * gets the AdminResult response.
 */
CU_MUST_USE int cmd_admin_send(struct ctl *ctl, Custody__AdminAction *act,
			       Custody__Response **resp);
/* "policy load KIND FILE ..." and "policy show" (cmd_policy.c). */
CU_MUST_USE int cmd_policy(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_alerts(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_alert(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_watch(struct ctl *ctl, int argc, char **argv);
/* "report veu|shipment ..."; any other "report ..." is the REPORT event. */
CU_MUST_USE int cmd_report(struct ctl *ctl, int argc, char **argv);

/* "export-epcis ..." and "import-epcis FILE": GS1 EPCIS 2.0 (cmd_epcis_*.c, docs/epcis.md). */
CU_MUST_USE int cmd_export_epcis(struct ctl *ctl, int argc, char **argv);
CU_MUST_USE int cmd_import_epcis(struct ctl *ctl, int argc, char **argv);

struct out_json;

/*
 * Writes a DeviceState (borrowed) as a JSON object: every field, under its
 * .proto name ("_ms" dropped for times, which are RFC 3339). Used by where
 * and by inventory --devices.
 */
void cmd_where_json(struct out_json *j, const Custody__DeviceState *d);

/*
 * The custody event commands (register, pack, ... report) come from the
 * event table in cmd_event.c: count and i-th definition (borrowed,
 * static). Their run is cmd_event, which looks the type up by argv[0].
 */
size_t cmd_event_count(void);
const struct cmd_def *cmd_event_def(size_t i);
CU_MUST_USE int cmd_event(struct ctl *ctl, int argc, char **argv);

#endif
