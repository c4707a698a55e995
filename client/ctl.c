/*
 * ctl.c - shared plumbing of custodyctl commands (see ctl.h).
 *
 * Keeping error reporting here means every command says things the same
 * way and picks the same exit status for the same kind of failure; the
 * commands themselves only decide what to ask and how to print answers.
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "enums.h"
#include "net.h"
#include "out.h"
#include "validate.h"

#define PROG	    "custodyctl"
#define MESSAGE_MAX 1024
/* Devices per inventory page ctl_facility_devices asks for (the server's most). */
#define CTL_INVENTORY_PAGE 10000

void ctl_init(struct ctl *ctl)
{
	const char *server = getenv("CUSTODY_SERVER");
	const char *key = getenv("CUSTODY_KEY");
	const char *server_key = getenv("CUSTODY_SERVER_KEY");

	memset(ctl, 0, sizeof(*ctl));
	ctl->server_key = server_key != NULL && server_key[0] != '\0' ? server_key : NULL;
	ctl->server = server != NULL && server[0] != '\0' ? server : CTL_DEFAULT_SERVER;
	ctl->key_path = key != NULL && key[0] != '\0' ? key : NULL;
	ctl->timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
	ctl->cmd_name = "";
}

void ctl_cleanup(struct ctl *ctl)
{
	net_close(ctl->conn);
	ctl->conn = NULL;
	key_free(ctl->conn_key);
	ctl->conn_key = NULL;
}

void ctl_set_status(struct ctl *ctl, int status)
{
	if (ctl->exit_status == CTL_EXIT_OK)
		ctl->exit_status = status;
}

/* Writes the JSON error document (once) for an error err (may be NULL). */
static void json_error(struct ctl *ctl, const char *code, const char *message,
		       const Custody__Error *err)
{
	struct out_json j;

	if (!ctl->json || ctl->error_reported)
		return;
	out_json_init(&j, stdout);
	out_json_begin_object(&j);
	out_json_key(&j, "error");
	out_json_begin_object(&j);
	out_json_kstr(&j, "code", code);
	out_json_kstr(&j, "message", message);
	out_json_key(&j, "rules");
	out_json_begin_array(&j);
	for (size_t i = 0; err != NULL && i < err->n_rules; i++) {
		out_json_begin_object(&j);
		out_json_kstr(&j, "rule", err->rules[i]->rule);
		out_json_kenum(&j, "severity", &custody__severity__descriptor,
			       err->rules[i]->severity);
		out_json_kstr(&j, "reason", err->rules[i]->reason);
		out_json_end_object(&j);
	}
	out_json_end_array(&j);
	out_json_key(&j, "heads");
	out_json_begin_array(&j);
	for (size_t i = 0; err != NULL && i < err->n_heads; i++) {
		out_json_begin_object(&j);
		out_json_kstr(&j, "serial", err->heads[i]->serial);
		out_json_kid(&j, "head", &err->heads[i]->prev);
		out_json_end_object(&j);
	}
	out_json_end_array(&j);
	out_json_end_object(&j);
	out_json_end_object(&j);
}

/* Common part of ctl_fail and ctl_usage_error. */
static int report(struct ctl *ctl, int status, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int report(struct ctl *ctl, int status, const char *code, const char *fmt, va_list ap)
{
	char message[MESSAGE_MAX];
	char safe[MESSAGE_MAX];

	vsnprintf(message, sizeof(message), fmt, ap);
	fprintf(stderr, PROG ": %s\n", out_safe(message, safe, sizeof(safe)));
	json_error(ctl, code, message, NULL);
	ctl->error_reported = true;
	ctl_set_status(ctl, status);
	return status == CTL_EXIT_IO ? CU_ERR_IO : CU_ERR_INVALID;
}

int ctl_fail(struct ctl *ctl, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = report(ctl, status, code, fmt, ap);
	va_end(ap);
	return rc;
}

int ctl_usage_error(struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = report(ctl, CTL_EXIT_USAGE, "USAGE", fmt, ap);
	va_end(ap);
	if (ctl->cmd_name[0] != '\0')
		fprintf(stderr, PROG ": see '" PROG " %s --help'\n", ctl->cmd_name);
	else
		fprintf(stderr, PROG ": see '" PROG " --help'\n");
	return rc;
}

void ctl_note(const char *fmt, ...)
{
	char line[MESSAGE_MAX];
	char safe[MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", out_safe(line, safe, sizeof(safe)));
}

void ctl_print_usage(const struct ctl *ctl, FILE *f)
{
	/* The synopsis ends at the first blank line; option details follow it. */
	const char *details = strstr(ctl->cmd_usage, "\n\n");
	int synopsis_len =
	    details != NULL ? (int)(details - ctl->cmd_usage) : (int)strlen(ctl->cmd_usage);

	fprintf(f, "usage: " PROG " %s%s%.*s\n\n%s.\n", ctl->cmd_name, synopsis_len > 0 ? " " : "",
		synopsis_len, ctl->cmd_usage, ctl->cmd_help);
	if (details != NULL)
		fprintf(f, "%s\n", details + 1);
}

/* Whether arg ("--json", "--server=x") is one of main.c's global options. */
static bool is_global_option(const char *arg)
{
	static const char *const globals[] = {"--server", "--key", "--json", "--timeout"};

	for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++) {
		size_t n = strlen(globals[i]);

		if (strncmp(arg, globals[i], n) == 0 && (arg[n] == '\0' || arg[n] == '='))
			return true;
	}
	return false;
}

int ctl_bad_option(struct ctl *ctl, const struct option *opts, char **argv, int c)
{
	if (c == ':') {
		for (const struct option *o = opts; o->name != NULL; o++) {
			if (o->flag == NULL && o->val == optopt)
				return ctl_usage_error(ctl, "option --%s needs a value", o->name);
		}
		return ctl_usage_error(ctl, "option -%c needs a value", optopt);
	}
	if (optopt != 0)
		return ctl_usage_error(ctl, "unknown option -%c", optopt);
	if (is_global_option(argv[optind - 1]))
		return ctl_usage_error(ctl, "%s is a global option: put it before the command",
				       argv[optind - 1]);
	return ctl_usage_error(ctl, "unknown option %s", argv[optind - 1]);
}

int ctl_parse_positional(struct ctl *ctl, int argc, char **argv, int min_args, int max_args,
			 int *first)
{
	static const struct option opts[] = {
	    {NULL, 0, NULL, 0},
	};
	int c, n;

	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1)
		return ctl_bad_option(ctl, opts, argv, c);
	n = argc - optind;
	if (n < min_args)
		return ctl_usage_error(ctl, "%s: missing argument (usage: " PROG " %s %s)",
				       ctl->cmd_name, ctl->cmd_name, ctl->cmd_usage);
	if (n > max_args)
		return ctl_usage_error(ctl, "%s: unexpected argument \"%s\"", ctl->cmd_name,
				       argv[optind + max_args]);
	*first = optind;
	return CU_OK;
}

int ctl_require(struct ctl *ctl, bool given, const char *opt)
{
	if (given)
		return CU_OK;
	return ctl_usage_error(ctl, "%s: %s is required", ctl->cmd_name, opt);
}

int ctl_parse_time(struct ctl *ctl, const char *opt, const char *text, int64_t *ms)
{
	if (codec_time_parse(text, ms) != CU_OK)
		return ctl_usage_error(ctl,
				       "%s: \"%s\" is not a time (2026-11-22T13:40:00Z, "
				       "2026-11-22, or now)",
				       opt, text);
	return CU_OK;
}

/* Writes the accepted names of desc ("chip, board, ...") into out. */
static void enum_choices(const ProtobufCEnumDescriptor *desc, const char *prefix, char *out,
			 size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < desc->n_values && used < size; i++) {
		if (desc->values[i].value == 0)
			continue;
		used += (size_t)snprintf(out + used, size - used, "%s%s", used > 0 ? ", " : "",
					 enum_label(desc, desc->values[i].value, prefix));
	}
}

int ctl_parse_enum(struct ctl *ctl, const char *opt, const ProtobufCEnumDescriptor *desc,
		   const char *prefix, const char *text, int *value)
{
	char choices[256];

	if (enum_parse(desc, text, prefix, value) == CU_OK)
		return CU_OK;
	enum_choices(desc, prefix, choices, sizeof(choices));
	return ctl_usage_error(ctl, "%s: \"%s\" is not one of: %s", opt, text, choices);
}

int ctl_parse_uint(struct ctl *ctl, const char *opt, const char *text, uint64_t min, uint64_t max,
		   uint64_t *value)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v < min || v > max)
		return ctl_usage_error(ctl, "%s: \"%s\" is not a whole number from %llu to %llu",
				       opt, text, (unsigned long long)min, (unsigned long long)max);
	*value = v;
	return CU_OK;
}

int ctl_parse_double(struct ctl *ctl, const char *opt, const char *text, double min, double max,
		     double *value)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (end == text || *end != '\0' || errno != 0 || !isfinite(v) || v < min || v > max)
		return ctl_usage_error(ctl, "%s: \"%s\" is not a number from %g to %g", opt, text,
				       min, max);
	*value = v;
	return CU_OK;
}

char *ctl_upper(char *s)
{
	for (char *p = s; *p != '\0'; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	}
	return s;
}

int ctl_key_error(struct ctl *ctl, const char *path, int rc)
{
	switch (rc) {
	case CU_ERR_PERM:
		return ctl_fail(ctl, CTL_EXIT_USAGE, "KEY",
				"key file %s is readable or writable by group/others; chmod 600 %s",
				path, path);
	case CU_ERR_NOT_FOUND:
		return ctl_fail(ctl, CTL_EXIT_USAGE, "KEY", "key file %s: no such file", path);
	case CU_ERR_INVALID:
	case CU_ERR_TOO_BIG:
		return ctl_fail(ctl, CTL_EXIT_USAGE, "KEY", "%s is not a custody key file (%s)",
				path, cu_strerror(rc));
	case CU_ERR_EXISTS:
		return ctl_fail(ctl, CTL_EXIT_USAGE, "KEY",
				"%s or %s.pub already exists; refusing to overwrite a key", path,
				path);
	case CU_ERR_IO:
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "key file %s: %s (%s)", path,
				cu_strerror(rc), strerror(errno));
	default:
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "key file %s: %s", path, cu_strerror(rc));
	}
}

int ctl_load_key(struct ctl *ctl, struct cu_key **key)
{
	int rc;

	if (ctl->key_path == NULL)
		return ctl_usage_error(ctl, "%s needs a key: pass --key FILE or set CUSTODY_KEY",
				       ctl->cmd_name);
	rc = key_load(ctl->key_path, key);
	if (rc != CU_OK)
		return ctl_key_error(ctl, ctl->key_path, rc);
	return CU_OK;
}

int ctl_load_pub(struct ctl *ctl, const char *what, const char *spec, uint8_t pk[KEY_PUBLIC_BYTES])
{
	int rc = key_pub_load(spec, pk);

	if (rc == CU_ERR_NOT_FOUND)
		return ctl_usage_error(ctl,
				       "%s: \"%s\" is neither a public key (base64 or hex) nor a "
				       "key file",
				       what, spec);
	if (rc != CU_OK)
		return ctl_key_error(ctl, spec, rc);
	return CU_OK;
}

static bool is_unix_server(const char *server)
{
	return strncmp(server, "unix:", 5) == 0;
}

int ctl_identity(struct ctl *ctl, struct net_identity *id, uint8_t server_pk[KEY_PUBLIC_BYTES])
{
	int rc;

	id->key = NULL;
	id->server_pk = NULL;
	if (is_unix_server(ctl->server))
		return CU_OK;
	if (ctl->server_key == NULL)
		return ctl_usage_error(ctl,
				       "%s is a TCP address: pin the server's public key with "
				       "--server-key KEY or CUSTODY_SERVER_KEY",
				       ctl->server);
	rc = ctl_load_pub(ctl, "--server-key", ctl->server_key, server_pk);
	if (rc == CU_OK && ctl->conn_key == NULL)
		rc = ctl_load_key(ctl, &ctl->conn_key);
	if (rc != CU_OK)
		return rc;
	id->key = ctl->conn_key;
	id->server_pk = server_pk;
	return CU_OK;
}

/* Opens the connection on first use. */
static int ctl_connect(struct ctl *ctl)
{
	struct net_identity id;
	uint8_t server_pk[KEY_PUBLIC_BYTES];
	char err[NET_ERR_MAX];
	int rc;

	if (ctl->conn != NULL)
		return CU_OK;
	rc = ctl_identity(ctl, &id, server_pk);
	if (rc != CU_OK)
		return rc;
	rc = net_open(ctl->server, ctl->timeout_ms, &id, &ctl->conn, err, sizeof(err));
	if (rc == CU_ERR_INVALID) {
		rc = ctl_fail(ctl, CTL_EXIT_USAGE, "USAGE", "--server: %s", err);
		ctl_note(PROG ": see '" PROG " --help'");
		return rc;
	}
	if (rc != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "%s", err);
	return CU_OK;
}

/*
 * A send failed: the server may have refused the connection with an error
 * before closing it (a Unix peer it does not allow, too many connections),
 * and that error says more than the broken pipe.
 */
static int send_failed(struct ctl *ctl)
{
	char why[NET_ERR_MAX];
	Custody__Response *r = NULL;
	int rc;

	snprintf(why, sizeof(why), "%s", net_error(ctl->conn));
	if (net_recv(ctl->conn, &r) == CU_OK) {
		if (r->body_case == CUSTODY__RESPONSE__BODY_ERROR && r->error != NULL) {
			rc = ctl_server_error(ctl, r->error);
			custody__response__free_unpacked(r, NULL);
			return rc;
		}
		custody__response__free_unpacked(r, NULL);
	}
	return ctl_fail(ctl, CTL_EXIT_IO, "IO", "%s: %s", ctl->server, why);
}

int ctl_send(struct ctl *ctl, Custody__Request *req, uint64_t *id)
{
	int rc = ctl_connect(ctl);

	if (rc != CU_OK)
		return rc;
	rc = net_send(ctl->conn, req, id);
	if (rc != CU_OK)
		return send_failed(ctl);
	return CU_OK;
}

int ctl_recv(struct ctl *ctl, Custody__Response **resp)
{
	int rc = net_recv(ctl->conn, resp);

	if (rc != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "%s: %s", ctl->server,
				net_error(ctl->conn));
	return CU_OK;
}

int ctl_call(struct ctl *ctl, Custody__Request *req, Custody__Response__BodyCase want,
	     Custody__Response **resp)
{
	Custody__Response *r = NULL;
	int rc = ctl_connect(ctl);

	if (rc != CU_OK)
		return rc;
	rc = net_call(ctl->conn, req, &r);
	if (rc != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "%s: %s", ctl->server,
				net_error(ctl->conn));
	if (r->body_case == CUSTODY__RESPONSE__BODY_ERROR && r->error != NULL)
		rc = ctl_server_error(ctl, r->error);
	else if (r->body_case != want)
		rc = ctl_fail(ctl, CTL_EXIT_IO, "PROTOCOL",
			      "%s: unexpected response (body %d, expected %d)", ctl->server,
			      (int)r->body_case, (int)want);
	if (rc != CU_OK) {
		custody__response__free_unpacked(r, NULL);
		return rc;
	}
	*resp = r;
	return CU_OK;
}

int ctl_server_error(struct ctl *ctl, const Custody__Error *err)
{
	const char *code = enum_name(&custody__error_code__descriptor, err->code);
	char id[OUT_ID_TEXT];

	ctl_note(PROG ": %s: %s", code, err->message);
	json_error(ctl, code, err->message, err);
	ctl->error_reported = true;
	ctl_set_status(ctl, CTL_EXIT_SERVER);
	for (size_t i = 0; i < err->n_rules; i++)
		ctl_note("  rule %s: %s", err->rules[i]->rule, err->rules[i]->reason);
	for (size_t i = 0; i < err->n_heads; i++)
		ctl_note("  %s head %s", err->heads[i]->serial, out_id(&err->heads[i]->prev, id));
	return CU_ERR_INVALID;
}

int ctl_key_party(struct ctl *ctl, const uint8_t pk[KEY_PUBLIC_BYTES], char **party)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__KeyInfoRequest info = CUSTODY__KEY_INFO_REQUEST__INIT;
	Custody__Response *resp = NULL;
	const Custody__KeyRecord *key;
	int rc;

	info.pubkey.data = (uint8_t *)pk;
	info.pubkey.len = KEY_PUBLIC_BYTES;
	req.body_case = CUSTODY__REQUEST__BODY_KEY_INFO;
	req.key_info = &info;
	rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_KEY_INFO, &resp);
	if (rc != CU_OK)
		return rc;
	key = resp->key_info != NULL ? resp->key_info->key : NULL;
	if (key == NULL || key->party == NULL || key->party[0] == '\0') {
		rc = ctl_fail(ctl, CTL_EXIT_SERVER, "NOT_FOUND",
			      "the key %s is not registered to a party; pass --actor PARTY",
			      ctl->key_path != NULL ? ctl->key_path : "");
		goto fail;
	}
	*party = strdup(key->party);
	if (*party == NULL)
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
fail:
	custody__response__free_unpacked(resp, NULL);
	return rc;
}

int ctl_facility_devices(struct ctl *ctl, const char *facility, ctl_serial_fn fn, void *arg)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__InventoryRequest in = CUSTODY__INVENTORY_REQUEST__INIT;
	char after[VALIDATE_SERIAL_MAX + 1] = "";
	bool more = true;
	int rc = CU_OK;

	in.facility = (char *)facility;
	in.list_devices = true;
	in.limit = CTL_INVENTORY_PAGE;
	in.after_serial = after;
	req.body_case = CUSTODY__REQUEST__BODY_INVENTORY;
	req.inventory = &in;
	while (rc == CU_OK && more) {
		Custody__Response *r = NULL;
		const Custody__InventoryResult *inv;

		rc = ctl_call(ctl, &req, CUSTODY__RESPONSE__BODY_INVENTORY, &r);
		if (rc != CU_OK)
			break;
		inv = r->inventory;
		for (size_t i = 0; rc == CU_OK && i < inv->n_devices; i++)
			rc = fn(arg, inv->devices[i]->serial);
		more = rc == CU_OK && inv->more && inv->n_devices > 0;
		if (more)
			snprintf(after, sizeof(after), "%s",
				 inv->devices[inv->n_devices - 1]->serial);
		custody__response__free_unpacked(r, NULL);
	}
	return rc;
}

int ctl_pages_add(struct ctl *ctl, struct ctl_pages *p, Custody__Response *r)
{
	if (p->n == p->cap) {
		size_t cap = p->cap != 0 ? p->cap * 2 : 4;
		Custody__Response **resp = reallocarray(p->resp, cap, sizeof(*resp));

		if (resp == NULL) {
			custody__response__free_unpacked(r, NULL);
			return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
		}
		p->resp = resp;
		p->cap = cap;
	}
	p->resp[p->n++] = r;
	return CU_OK;
}

void ctl_pages_free(struct ctl_pages *p)
{
	for (size_t i = 0; i < p->n; i++)
		custody__response__free_unpacked(p->resp[i], NULL);
	free(p->resp);
}

int ctl_write_file_atomic(struct ctl *ctl, const char *what, const char *path, const void *data,
			  size_t len, mode_t mode)
{
	size_t size = strlen(path) + sizeof(".XXXXXX");
	char *tmp = malloc(size);
	int fd, err = 0, rc = CU_OK;

	if (tmp == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	snprintf(tmp, size, "%s.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		goto fail;
	}
	errno = EIO; /* what a short write means */
	if (fchmod(fd, mode) != 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
		err = errno;
	if (close(fd) != 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) != 0)
		err = errno;
	if (err != 0)
		unlink(tmp);
fail:
	if (err != 0)
		rc = ctl_fail(ctl, CTL_EXIT_IO, "IO", "%s %s: cannot write: %s", what, path,
			      strerror(err));
	free(tmp);
	return rc;
}

/* Receives one answer of a pipeline whose first request had id first_id. */
static int pipeline_take(struct ctl *ctl, uint64_t first_id, size_t sent, bool *answered,
			 ctl_take_fn take, void *arg)
{
	Custody__Response *r = NULL;
	uint64_t k;
	int rc = ctl_recv(ctl, &r);

	if (rc != CU_OK)
		return rc;
	k = r->id - first_id;
	if (r->id == 0 && r->body_case == CUSTODY__RESPONSE__BODY_ERROR && r->error != NULL)
		rc = ctl_server_error(ctl, r->error);
	else if (r->id < first_id || k >= sent || answered[k])
		rc = ctl_fail(ctl, CTL_EXIT_IO, "PROTOCOL", "%s: an answer to no request (id %llu)",
			      ctl->server, (unsigned long long)r->id);
	if (rc != CU_OK) {
		custody__response__free_unpacked(r, NULL);
		return rc;
	}
	answered[k] = true;
	return take(arg, (size_t)k, r);
}

int ctl_pipeline(struct ctl *ctl, size_t n, size_t window, ctl_fill_fn fill, ctl_take_fn take,
		 void *arg)
{
	bool *answered = calloc(n + 1, sizeof(*answered));
	size_t sent = 0, got = 0;
	uint64_t first_id = 0, id = 0;
	int rc = CU_OK;

	if (answered == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	while (rc == CU_OK && got < n) {
		while (rc == CU_OK && sent < n && sent - got < window) {
			Custody__Request req = CUSTODY__REQUEST__INIT;

			fill(arg, sent, &req);
			rc = ctl_send(ctl, &req, &id);
			if (rc == CU_OK && sent == 0)
				first_id = id;
			if (rc == CU_OK && id != first_id + sent)
				rc = ctl_fail(ctl, CTL_EXIT_IO, "INTERNAL",
					      "request ids out of order");
			sent++;
		}
		if (rc == CU_OK)
			rc = pipeline_take(ctl, first_id, sent, answered, take, arg);
		got++;
	}
	free(answered);
	return rc;
}
