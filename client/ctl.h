/*
 * ctl.h - what every custodyctl command shares: the global options, the
 * one connection to the server, error reporting with the right exit
 * status, option-value parsing and key loading.
 *
 * Error contract: functions that fail report the error themselves (one
 * line on stderr, "custodyctl: ...", and with --json one {"error":...}
 * document on stdout), record the exit status in the ctl and return a
 * negative cu_err code. Callers only propagate the code; main() exits
 * with the recorded status. The first reported error decides the status.
 *
 * Ownership: every function borrows the ctl and its string arguments for
 * the duration of the call; what a function hands back is noted with it.
 */
#ifndef CUSTODY_CLIENT_CTL_H
#define CUSTODY_CLIENT_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <getopt.h>
#include <sys/types.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "key.h"
#include "net.h"

/* Process exit statuses. */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_SERVER = 1, /* the server answered with an error (or lied) */
	CTL_EXIT_USAGE = 2,  /* bad command line or local input */
	CTL_EXIT_IO = 3,     /* cannot connect, I/O error or timeout */
	CTL_EXIT_FORK = 4,   /* witness: the log forked or was rewritten */
};

#define CTL_DEFAULT_SERVER     "unix:/run/custody/custodyd.sock"
#define CTL_DEFAULT_TIMEOUT_MS 30000
/* Clock skew allowed when checking events and actions locally. */
#define CTL_MAX_SKEW_MS (5 * 60 * 1000)

struct net_conn;

struct ctl {
	const char *server;	 /* --server, $CUSTODY_SERVER or the default */
	const char *key_path;	 /* --key or $CUSTODY_KEY; NULL if neither */
	const char *server_key;	 /* --server-key or $CUSTODY_SERVER_KEY (TCP); NULL if neither */
	struct cu_key *conn_key; /* our identity on TCP, loaded by the first connect */
	bool json;		 /* --json */
	int timeout_ms;		 /* --timeout */
	const char *cmd_name;	 /* the command being run, for messages */
	const char *cmd_help;	 /* its one-line help */
	const char *cmd_usage;
	struct net_conn *conn; /* opened by the first request */
	int exit_status;       /* enum ctl_exit, set by the first error */
	bool error_reported;   /* the JSON error document is out */
};

/* Fills ctl with defaults (from the environment where it says so). */
void ctl_init(struct ctl *ctl);

/* Closes the connection, if any. */
void ctl_cleanup(struct ctl *ctl);

/*
 * Reports an error: "custodyctl: <message>" on stderr and, with --json,
 * {"error":{"code":code,"message":...}} on stdout. code (borrowed) names
 * the kind of error for programs ("USAGE", "IO", a server ErrorCode name).
 * Records status; returns CU_ERR_IO for CTL_EXIT_IO, else CU_ERR_INVALID.
 */
CU_MUST_USE int ctl_fail(struct ctl *ctl, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A usage error (exit 2) with a hint to run "custodyctl CMD --help". */
CU_MUST_USE int ctl_usage_error(struct ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints one more stderr line for the error being reported. */
void ctl_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Records status without printing (when output says it already). */
void ctl_set_status(struct ctl *ctl, int status);

/* Prints the current command's usage and help to f. */
void ctl_print_usage(const struct ctl *ctl, FILE *f);

/*
 * Reports a getopt_long failure: c is what getopt returned ('?' or ':'),
 * opts (borrowed) the command's long options. Returns CU_ERR_INVALID.
 */
CU_MUST_USE int ctl_bad_option(struct ctl *ctl, const struct option *opts, char **argv, int c);

/*
 * Parses the argv of a command that takes no options and between min_args
 * and max_args positional arguments (--help is handled before commands
 * run, in main.c). *first gets the index of the first positional argument.
 */
CU_MUST_USE int ctl_parse_positional(struct ctl *ctl, int argc, char **argv, int min_args,
				     int max_args, int *first);

/* A usage error "CMD: OPT is required" unless given. */
CU_MUST_USE int ctl_require(struct ctl *ctl, bool given, const char *opt);

/* Parses a time (codec_time_parse) given to option opt (borrowed). */
CU_MUST_USE int ctl_parse_time(struct ctl *ctl, const char *opt, const char *text, int64_t *ms);

/* Parses an enum value given to option opt; prefix may be NULL. */
CU_MUST_USE int ctl_parse_enum(struct ctl *ctl, const char *opt,
			       const ProtobufCEnumDescriptor *desc, const char *prefix,
			       const char *text, int *value);

/* Parses a decimal integer in min..max given to option opt. */
CU_MUST_USE int ctl_parse_uint(struct ctl *ctl, const char *opt, const char *text, uint64_t min,
			       uint64_t max, uint64_t *value);

/* Parses a finite decimal number in min..max given to option opt. */
CU_MUST_USE int ctl_parse_double(struct ctl *ctl, const char *opt, const char *text, double min,
				 double max, double *value);

/* Upper-cases s in place (country codes) and returns it. */
char *ctl_upper(char *s);

/*
 * Loads the secret key named by --key / $CUSTODY_KEY. *key is owned by the
 * caller (key_free).
 */
CU_MUST_USE int ctl_load_key(struct ctl *ctl, struct cu_key **key);

/*
 * Reads a public key from spec (borrowed): a base64/hex literal or a key
 * file; what names it in messages.
 */
CU_MUST_USE int ctl_load_pub(struct ctl *ctl, const char *what, const char *spec,
			     uint8_t pk[KEY_PUBLIC_BYTES]);

/* Reports a failure of key_load/key_save/key_pub_load on path. */
CU_MUST_USE int ctl_key_error(struct ctl *ctl, const char *path, int rc);

/*
 * Sends req (borrowed; its id is set) without waiting, connecting first if
 * needed. *id gets the request id.
 */
CU_MUST_USE int ctl_send(struct ctl *ctl, Custody__Request *req, uint64_t *id);

/*
 * What net_open needs for ctl->server: nothing on a Unix socket; over TCP
 * our key (--key, loaded once and kept in ctl) and the pinned server key
 * (--server-key, parsed into server_pk, which *id then points to).
 * Reports usage and key-file errors itself.
 */
CU_MUST_USE int ctl_identity(struct ctl *ctl, struct net_identity *id,
			     uint8_t server_pk[KEY_PUBLIC_BYTES]);

/*
 * Receives the next response (see net_recv); *resp is owned by the caller.
 * Error responses are returned, not reported.
 */
CU_MUST_USE int ctl_recv(struct ctl *ctl, Custody__Response **resp);

/*
 * Sends req, waits for its response and checks it: an Error is reported
 * (exit 1), another body than want is reported as a protocol error. On
 * success *resp (owned by the caller) has body want.
 */
CU_MUST_USE int ctl_call(struct ctl *ctl, Custody__Request *req, Custody__Response__BodyCase want,
			 Custody__Response **resp);

/*
 * Reports an Error from the server (borrowed): "CODE: message", then the
 * rule hits of REJECTED and the heads of CONFLICT. Exit status 1.
 */
CU_MUST_USE int ctl_server_error(struct ctl *ctl, const Custody__Error *err);

/*
 * Asks the server who the public key pk belongs to. *party (owned by the
 * caller, free) gets the key's party id.
 */
CU_MUST_USE int ctl_key_party(struct ctl *ctl, const uint8_t pk[KEY_PUBLIC_BYTES], char **party);

/*
 * Replaces the file path (borrowed) with len bytes of data: written and
 * synced under a temporary name in the same directory with the given
 * mode, then renamed over it, so a reader sees the old file or the new
 * one, never half. what names the file in messages ("--state-file").
 */
CU_MUST_USE int ctl_write_file_atomic(struct ctl *ctl, const char *what, const char *path,
				      const void *data, size_t len, mode_t mode);

/* Fills req for request i of a pipeline; what it points to lives in arg. */
typedef void (*ctl_fill_fn)(void *arg, size_t i, Custody__Request *req);

/* Takes the answer to request i of a pipeline; owns resp (also on failure). */
typedef int (*ctl_take_fn)(void *arg, size_t i, Custody__Response *resp);

/*
 * Pipelines n requests on the connection: sends them in order (fill makes
 * request i; what it points to may be reused for the next one once it is
 * sent) with at most window of them unanswered, and hands each answer to
 * take as it comes, in any order. Returns the first failure: of sending or
 * receiving (reported here), a response to no request of this run or an
 * id-0 error (reported), or take's (which reports its own).
 */
CU_MUST_USE int ctl_pipeline(struct ctl *ctl, size_t n, size_t window, ctl_fill_fn fill,
			     ctl_take_fn take, void *arg);

/* Called for each device of a facility; serial is borrowed for the call. */
typedef int (*ctl_serial_fn)(void *arg, const char *serial);

/*
 * Calls fn for every device whose last known facility is facility
 * (borrowed), as the server's inventory lists them page by page. Returns
 * the first failure: of a request (reported here) or fn's (fn reports
 * its own, except CU_ERR_NOMEM, which is returned as it is).
 */
CU_MUST_USE int ctl_facility_devices(struct ctl *ctl, const char *facility, ctl_serial_fn fn,
				     void *arg);

/* Responses fetched page by page (owned), for commands that follow pages. */
struct ctl_pages {
	Custody__Response **resp;
	size_t n, cap;
};

/* Appends r; ownership passes to p, which frees r even on failure. */
CU_MUST_USE int ctl_pages_add(struct ctl *ctl, struct ctl_pages *p, Custody__Response *r);

/* Frees the responses p owns and its array, not p itself. */
void ctl_pages_free(struct ctl_pages *p);

#endif
