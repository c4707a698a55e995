/*
 * cmd_event.c - the fourteen custody event commands: register, pack,
 * unpack, ship, receive, install, remove, move, attest, rma-out, rma-in,
 * decommission, destroy and report.
 *
 * They differ only in which options they take, so they are one table:
 * a row per event type says which options it accepts and requires and
 * where its facility comes from. One code path parses, fills in what the
 * user left out, checks, signs and submits:
 *
 *   1. parse options against the row (usage errors exit 2);
 *   2. actor: --actor, else the --key key's party (KeyInfoRequest);
 *   3. prev of each device (and container): --prev SERIAL=HEX, else the
 *      head from a WhereRequest; the where requests are pipelined;
 *   4. facility: --facility, else where the devices are (if the type acts
 *      where the devices are; they must agree);
 *   5. validate_event locally, then seal (event domain) and submit, or
 *      with --dry-run print the event and its id;
 *   6. show the policy verdict: ACCEPT, or ACCEPT_WITH_ALERTS with the
 *      rules that fired and the alerts raised (exit 0), or REJECTED with
 *      every rule, the seq under which the event is kept as evidence and
 *      its alerts (exit 1).
 *
 * Nothing is asked of the server that the command line already says, so
 * a --dry-run with --actor, --prev and --facility works offline.
 */
#include <stdlib.h>
#include <string.h>

#include "alert_fmt.h"
#include "cmd.h"
#include "codec.h"
#include "enums.h"
#include "envelope.h"
#include "event_fmt.h"
#include "out.h"
#include "validate.h"

#define ID_BYTES ENVELOPE_ID_BYTES
/*
 * Where requests in flight at once. Bounded so neither side's socket
 * buffers fill up while the other is still writing (which would stall
 * both until the timeout); 128 answers are a few tens of kilobytes.
 */
#define PIPELINE_WINDOW 128

/* Type-specific options; the common ones are accepted by every type. */
enum {
	OPT_FACILITY = 1 << 0,
	OPT_KIND = 1 << 1,
	OPT_MODEL = 1 << 2,
	OPT_DEVICE_KEY = 1 << 3,
	OPT_CONTAINER = 1 << 4,
	OPT_TO = 1 << 5,
	OPT_CONSIGNEE = 1 << 6,
	OPT_CARRIER = 1 << 7,
	OPT_DEADLINE = 1 << 8,
	OPT_LOCATION = 1 << 9,
	OPT_CONTENTS = 1 << 10,
	OPT_REASON = 1 << 11,
	OPT_LICENSE = 1 << 12,
};

/* Where the facility of an event comes from when --facility is absent. */
enum facility_rule {
	FAC_AS_GIVEN, /* only --facility (required or optional per the row) */
	FAC_CURRENT,  /* the devices' current facility */
	FAC_PRESENT,  /* the device's facility if it is stored or installed there */
};

struct event_spec {
	struct cmd_def cmd;
	Custody__EventType type;
	unsigned takes; /* OPT_* accepted */
	unsigned needs; /* OPT_* required */
	enum facility_rule facility;
	bool one_device;
};

static const char common_help[] =
    "Event options (all event commands):\n"
    "  --facility F          where it happens (default for most types: where the\n"
    "                        devices are now, as the server reports)\n"
    "  --at TIME             when it happened (default now): 2026-11-22T13:40:00Z,\n"
    "                        2026-11-22 or now\n"
    "  --note TEXT           free text, at most 1024 bytes\n"
    "  --actor PARTY         acting party (default: the party of the --key key)\n"
    "  --prev SERIAL=HEX64   previous event id of SERIAL (default: its current head,\n"
    "                        asked from the server); repeatable\n"
    "  --dry-run             print the event and its id; do not sign or send it\n";

#define EV(name, help, usage)                                                                      \
	{                                                                                          \
		name, cmd_event, help, usage " [EVENT OPTIONS]", common_help                       \
	}

static const struct event_spec specs[] = {
    {EV("register", "Register new devices at a facility",
	"SERIAL... --facility F --kind KIND --model MODEL [--device-key KEY]"),
     CUSTODY__EVENT_TYPE__REGISTER, OPT_FACILITY | OPT_KIND | OPT_MODEL | OPT_DEVICE_KEY,
     OPT_FACILITY | OPT_KIND | OPT_MODEL, FAC_AS_GIVEN, false},
    {EV("pack", "Pack devices into a container", "SERIAL... --container SERIAL"),
     CUSTODY__EVENT_TYPE__PACK, OPT_FACILITY | OPT_CONTAINER, OPT_CONTAINER, FAC_CURRENT, false},
    {EV("unpack", "Take devices out of a container", "SERIAL... --container SERIAL"),
     CUSTODY__EVENT_TYPE__UNPACK, OPT_FACILITY | OPT_CONTAINER, OPT_CONTAINER, FAC_CURRENT, false},
    {EV("ship", "Ship devices to another facility",
	"SERIAL... --to F [--consignee PARTY] [--carrier PARTY] [--deadline TIME]\n"
	"       [--license NUMBER]"),
     CUSTODY__EVENT_TYPE__SHIP,
     OPT_FACILITY | OPT_TO | OPT_CONSIGNEE | OPT_CARRIER | OPT_DEADLINE | OPT_LICENSE, OPT_TO,
     FAC_CURRENT, false},
    {EV("receive", "Receive devices at a facility", "SERIAL... --facility F"),
     CUSTODY__EVENT_TYPE__RECEIVE, OPT_FACILITY, OPT_FACILITY, FAC_AS_GIVEN, false},
    {EV("install", "Install devices (racked, powered) where they are", "SERIAL... [--location L]"),
     CUSTODY__EVENT_TYPE__INSTALL, OPT_FACILITY | OPT_LOCATION, 0, FAC_CURRENT, false},
    {EV("remove", "De-install devices, back to storage", "SERIAL... [--location L]"),
     CUSTODY__EVENT_TYPE__REMOVE, OPT_FACILITY | OPT_LOCATION, 0, FAC_CURRENT, false},
    {EV("move", "Move devices within their facility", "SERIAL... --location L"),
     CUSTODY__EVENT_TYPE__MOVE, OPT_FACILITY | OPT_LOCATION, OPT_LOCATION, FAC_CURRENT, false},
    {EV("attest", "Attest a device's presence and what is inside it",
	"SERIAL [--contents S1,S2,...]"),
     CUSTODY__EVENT_TYPE__ATTEST, OPT_FACILITY | OPT_CONTENTS, 0, FAC_PRESENT, true},
    {EV("rma-out", "Send devices to a repair site", "SERIAL... --to F [--license NUMBER]"),
     CUSTODY__EVENT_TYPE__RMA_OUT, OPT_FACILITY | OPT_TO | OPT_LICENSE, OPT_TO, FAC_CURRENT, false},
    {EV("rma-in", "Receive devices back from repair", "SERIAL... --facility F"),
     CUSTODY__EVENT_TYPE__RMA_IN, OPT_FACILITY, OPT_FACILITY, FAC_AS_GIVEN, false},
    {EV("decommission", "Take devices out of service for good", "SERIAL..."),
     CUSTODY__EVENT_TYPE__DECOMMISSION, OPT_FACILITY, 0, FAC_CURRENT, false},
    {EV("destroy", "Record that devices were destroyed", "SERIAL..."), CUSTODY__EVENT_TYPE__DESTROY,
     OPT_FACILITY, 0, FAC_CURRENT, false},
    {EV("report", "Report devices lost, stolen, tampered or found",
	"SERIAL... --reason lost|stolen|tampered|found|other [--facility F]"),
     CUSTODY__EVENT_TYPE__REPORT, OPT_FACILITY | OPT_REASON, OPT_REASON, FAC_AS_GIVEN, false},
};

#define N_SPECS (sizeof(specs) / sizeof(specs[0]))

size_t cmd_event_count(void)
{
	return N_SPECS;
}

const struct cmd_def *cmd_event_def(size_t i)
{
	return i < N_SPECS ? &specs[i].cmd : NULL;
}

static const struct option event_opts[] = {
    {"facility", required_argument, NULL, 'f'},
    {"kind", required_argument, NULL, 'k'},
    {"model", required_argument, NULL, 'm'},
    {"device-key", required_argument, NULL, 'K'},
    {"container", required_argument, NULL, 'c'},
    {"to", required_argument, NULL, 't'},
    {"consignee", required_argument, NULL, 'C'},
    {"carrier", required_argument, NULL, 'r'},
    {"deadline", required_argument, NULL, 'd'},
    {"location", required_argument, NULL, 'l'},
    {"contents", required_argument, NULL, 'i'},
    {"reason", required_argument, NULL, 'R'},
    {"at", required_argument, NULL, 'a'},
    {"note", required_argument, NULL, 'n'},
    {"actor", required_argument, NULL, 'A'},
    {"prev", required_argument, NULL, 'p'},
    {"dry-run", no_argument, NULL, 'D'},
    {"license", required_argument, NULL, 'L'},
    {NULL, 0, NULL, 0},
};

/* Names of the OPT_* bits for messages, in bit order. */
static const char *const opt_names[] = {
    "--facility", "--kind",	 "--model",   "--device-key", "--container",
    "--to",	  "--consignee", "--carrier", "--deadline",   "--location",
    "--contents", "--reason",	 "--license",
};

#define N_OPT_BITS (sizeof(opt_names) / sizeof(opt_names[0]))
_Static_assert(1u << (N_OPT_BITS - 1) == OPT_LICENSE, "opt_names must name every OPT_* bit");

struct prev_override {
	const char *serial; /* borrowed from argv */
	uint8_t id[ID_BYTES];
};

/* The command line, parsed. Strings are borrowed from argv. */
struct event_args {
	const struct event_spec *spec;
	unsigned given; /* OPT_* seen */
	const char *facility, *model, *container, *to, *consignee, *carrier, *license;
	const char *location, *note, *actor;
	int kind, reason;
	int64_t at_ms, deadline_ms;
	uint8_t device_key[KEY_PUBLIC_BYTES];
	char **contents; /* malloc'd array of n_contents pointers into argv */
	size_t n_contents;
	struct prev_override *prevs; /* malloc'd, room for argc entries */
	size_t n_prevs;
	char **serials; /* borrowed from argv */
	size_t n_serials;
	bool dry_run;
};

/* Frees what a owns (the contents and prev arrays), not a itself. */
static void args_free(struct event_args *a)
{
	free(a->contents);
	free(a->prevs);
}

/* Splits "S1,S2,..." (modified in place) into a->contents. */
static int parse_contents(struct ctl *ctl, struct event_args *a, char *text)
{
	size_t cap = 1;
	char *save = NULL;

	for (const char *p = text; *p != '\0'; p++)
		cap += *p == ',';
	free(a->contents);
	a->n_contents = 0;
	a->contents = calloc(cap, sizeof(*a->contents));
	if (a->contents == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	for (char *s = strtok_r(text, ",", &save); s != NULL; s = strtok_r(NULL, ",", &save))
		a->contents[a->n_contents++] = s;
	return CU_OK;
}

/* Parses "--prev SERIAL=HEX64" into the next override. */
static int parse_prev(struct ctl *ctl, struct event_args *a, char *text)
{
	char *eq = strchr(text, '=');
	struct prev_override *o = &a->prevs[a->n_prevs];

	if (eq == NULL || eq == text)
		return ctl_usage_error(ctl, "--prev: \"%s\" is not SERIAL=HEX64", text);
	*eq = '\0';
	if (codec_hex_decode(eq + 1, o->id, sizeof(o->id)) != CU_OK)
		return ctl_usage_error(ctl, "--prev %s: \"%s\" is not a 64-digit hex event id",
				       text, eq + 1);
	o->serial = text;
	a->n_prevs++;
	return CU_OK;
}

/* Handles an option every event type takes; c is its getopt value. */
static int common_option(struct ctl *ctl, struct event_args *a, int c)
{
	switch (c) {
	case 'a':
		return ctl_parse_time(ctl, "--at", optarg, &a->at_ms);
	case 'n':
		a->note = optarg;
		return CU_OK;
	case 'A':
		a->actor = optarg;
		return CU_OK;
	case 'p':
		return parse_prev(ctl, a, optarg);
	default: /* 'D': every other value of event_opts is handled before */
		a->dry_run = true;
		return CU_OK;
	}
}

/* Handles a type-specific option c and records its OPT_* bit. */
static int type_option(struct ctl *ctl, struct event_args *a, int c)
{
	switch (c) {
	case 'f':
		a->given |= OPT_FACILITY;
		a->facility = optarg;
		return CU_OK;
	case 'k':
		a->given |= OPT_KIND;
		return ctl_parse_enum(ctl, "--kind", &custody__device_kind__descriptor, NULL,
				      optarg, &a->kind);
	case 'm':
		a->given |= OPT_MODEL;
		a->model = optarg;
		return CU_OK;
	case 'K':
		a->given |= OPT_DEVICE_KEY;
		return ctl_load_pub(ctl, "--device-key", optarg, a->device_key);
	case 'c':
		a->given |= OPT_CONTAINER;
		a->container = optarg;
		return CU_OK;
	case 't':
		a->given |= OPT_TO;
		a->to = optarg;
		return CU_OK;
	case 'C':
		a->given |= OPT_CONSIGNEE;
		a->consignee = optarg;
		return CU_OK;
	case 'L':
		a->given |= OPT_LICENSE;
		a->license = optarg;
		return CU_OK;
	case 'r':
		a->given |= OPT_CARRIER;
		a->carrier = optarg;
		return CU_OK;
	case 'd':
		a->given |= OPT_DEADLINE;
		return ctl_parse_time(ctl, "--deadline", optarg, &a->deadline_ms);
	case 'l':
		a->given |= OPT_LOCATION;
		a->location = optarg;
		return CU_OK;
	case 'i':
		a->given |= OPT_CONTENTS;
		return parse_contents(ctl, a, optarg);
	case 'R':
		a->given |= OPT_REASON;
		return ctl_parse_enum(ctl, "--reason", &custody__report_reason__descriptor,
				      "REPORT_", optarg, &a->reason);
	default:
		return common_option(ctl, a, c);
	}
}

/* Checks the parsed options against the type's row. */
static int check_args(struct ctl *ctl, const struct event_args *a)
{
	const struct event_spec *s = a->spec;

	for (size_t bit = 0; bit < N_OPT_BITS; bit++) {
		unsigned mask = 1u << bit;

		if ((a->given & mask) && !(s->takes & mask))
			return ctl_usage_error(ctl, "%s does not take %s", s->cmd.name,
					       opt_names[bit]);
		if (ctl_require(ctl, !(s->needs & mask) || (a->given & mask), opt_names[bit]) !=
		    CU_OK)
			return CU_ERR_INVALID;
	}
	if (a->n_serials == 0)
		return ctl_usage_error(ctl, "%s: give at least one device SERIAL", s->cmd.name);
	if (s->one_device && a->n_serials != 1)
		return ctl_usage_error(ctl, "%s acts on exactly one device", s->cmd.name);
	if ((a->given & OPT_DEVICE_KEY) && a->n_serials != 1)
		return ctl_usage_error(ctl, "--device-key needs exactly one SERIAL");
	if (s->type == CUSTODY__EVENT_TYPE__REGISTER && a->n_prevs > 0)
		return ctl_usage_error(ctl,
				       "register takes no --prev: new devices have no history");
	return CU_OK;
}

/* Parses argv for the event type spec into a (to be args_free'd). */
static int parse_args(struct ctl *ctl, const struct event_spec *spec, int argc, char **argv,
		      struct event_args *a)
{
	int c;

	memset(a, 0, sizeof(*a));
	a->spec = spec;
	a->prevs = calloc((size_t)argc, sizeof(*a->prevs)); /* at most one per argument */
	if (a->prevs == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	while ((c = getopt_long(argc, argv, ":", event_opts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return ctl_bad_option(ctl, event_opts, argv, c);
		if (type_option(ctl, a, c) != CU_OK)
			return CU_ERR_INVALID;
	}
	a->serials = argv + optind;
	a->n_serials = (size_t)(argc - optind);
	return check_args(ctl, a);
}

/* The event under construction and the storage its pointers use. */
struct event_build {
	Custody__Event ev;
	Custody__DeviceRef container;
	Custody__DeviceRef *refs;      /* n_serials */
	Custody__DeviceRef **ref_ptrs; /* n_serials + 1: devices, then the container */
	uint8_t (*prev_ids)[ID_BYTES]; /* n_serials + 1, parallel to ref_ptrs */
	size_t n_refs;		       /* devices plus the container, if any */
	char *actor;		       /* owned, when asked from the server */
	char *facility;		       /* owned, when taken from the devices' state */
};

/* Frees what b owns, not b itself; the event points into it, so goes too. */
static void build_free(struct event_build *b)
{
	free(b->refs);
	free(b->ref_ptrs);
	free(b->prev_ids);
	free(b->actor);
	free(b->facility);
}

/* Fills b->ev from the command line; prev and defaults come later. */
static int build_event(struct ctl *ctl, const struct event_args *a, struct event_build *b)
{
	Custody__Event *ev = &b->ev;
	size_t n = a->n_serials;

	b->refs = calloc(n, sizeof(*b->refs));
	b->ref_ptrs = calloc(n + 1, sizeof(*b->ref_ptrs));
	b->prev_ids = calloc(n + 1, sizeof(*b->prev_ids));
	if (b->refs == NULL || b->ref_ptrs == NULL || b->prev_ids == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	for (size_t i = 0; i < n; i++) {
		custody__device_ref__init(&b->refs[i]);
		b->refs[i].serial = a->serials[i];
		b->refs[i].kind = (Custody__DeviceKind)a->kind;
		if (a->model != NULL)
			b->refs[i].model = (char *)a->model;
		if (a->given & OPT_DEVICE_KEY) {
			b->refs[i].device_key.data = (uint8_t *)a->device_key;
			b->refs[i].device_key.len = KEY_PUBLIC_BYTES;
		}
		b->ref_ptrs[i] = &b->refs[i];
	}
	b->n_refs = n;
	custody__event__init(ev);
	ev->type = a->spec->type;
	ev->occurred_at_ms = a->at_ms != 0 ? a->at_ms : codec_now_ms();
	ev->devices = b->ref_ptrs;
	ev->n_devices = n;
	if (a->container != NULL) {
		custody__device_ref__init(&b->container);
		b->container.serial = (char *)a->container;
		b->ref_ptrs[b->n_refs++] = &b->container;
		ev->container = &b->container;
	}
	return CU_OK;
}

/* Copies the optional string fields of a into b->ev. */
static void build_fields(const struct event_args *a, struct event_build *b)
{
	Custody__Event *ev = &b->ev;

	if (a->facility != NULL)
		ev->facility = (char *)a->facility;
	if (a->to != NULL)
		ev->to_facility = (char *)a->to;
	if (a->consignee != NULL)
		ev->consignee = (char *)a->consignee;
	if (a->license != NULL)
		ev->license = (char *)a->license;
	if (a->carrier != NULL)
		ev->carrier = (char *)a->carrier;
	if (a->location != NULL)
		ev->location = (char *)a->location;
	if (a->note != NULL)
		ev->note = (char *)a->note;
	if (a->actor != NULL)
		ev->actor = (char *)a->actor;
	ev->deadline_ms = a->deadline_ms;
	ev->reason = (Custody__ReportReason)a->reason;
	ev->reported_contents = a->contents;
	ev->n_reported_contents = a->n_contents;
}

/* Sets ref i's prev to the id in b->prev_ids[i] (already filled). */
static void set_prev(struct event_build *b, size_t i)
{
	b->ref_ptrs[i]->prev.data = b->prev_ids[i];
	b->ref_ptrs[i]->prev.len = ID_BYTES;
}

/*
 * Applies the --prev overrides; each must name a device of the event (a
 * serial given twice gets it twice, and validate_event reports that).
 */
static int apply_overrides(struct ctl *ctl, const struct event_args *a, struct event_build *b)
{
	for (size_t o = 0; o < a->n_prevs; o++) {
		bool found = false;

		for (size_t i = 0; i < b->n_refs; i++) {
			if (strcmp(b->ref_ptrs[i]->serial, a->prevs[o].serial) != 0)
				continue;
			memcpy(b->prev_ids[i], a->prevs[o].id, ID_BYTES);
			set_prev(b, i);
			found = true;
		}
		if (!found)
			return ctl_usage_error(ctl, "--prev %s: not a device of this event",
					       a->prevs[o].serial);
	}
	return CU_OK;
}

/* What a WhereRequest told us about one device. */
struct device_state {
	bool has_head;
	uint8_t head[ID_BYTES];
	char *facility; /* owned */
	Custody__DeviceStatus status;
};

/* Stores the answer r (borrowed) for device serial into st. */
static int take_state(struct ctl *ctl, const char *serial, const Custody__Response *r,
		      struct device_state *st)
{
	const Custody__DeviceState *d = r->where;

	if (r->body_case == CUSTODY__RESPONSE__BODY_ERROR && r->error != NULL) {
		if (r->error->code == CUSTODY__ERROR_CODE__NOT_FOUND)
			return ctl_fail(ctl, CTL_EXIT_SERVER, "NOT_FOUND",
					"device %s is not registered", serial);
		return ctl_server_error(ctl, r->error);
	}
	if (r->body_case != CUSTODY__RESPONSE__BODY_WHERE || d == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "PROTOCOL",
				"%s: unexpected answer to where %s (body %d)", ctl->server, serial,
				(int)r->body_case);
	st->status = d->status;
	st->has_head = d->head.len == ID_BYTES;
	if (st->has_head)
		memcpy(st->head, d->head.data, ID_BYTES);
	st->facility = strdup(d->facility);
	if (st->facility == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	return CU_OK;
}

/* The where requests of fetch_states, for ctl_pipeline. */
struct state_fetch {
	struct ctl *ctl;
	Custody__DeviceRef **refs;
	struct device_state *st;
	Custody__WhereRequest where;
};

static void fill_where(void *arg, size_t i, Custody__Request *req)
{
	struct state_fetch *f = arg;

	custody__where_request__init(&f->where);
	f->where.serial = f->refs[i]->serial;
	req->body_case = CUSTODY__REQUEST__BODY_WHERE;
	req->where = &f->where;
}

static int take_where(void *arg, size_t i, Custody__Response *r)
{
	struct state_fetch *f = arg;
	int rc = take_state(f->ctl, f->refs[i]->serial, r, &f->st[i]);

	custody__response__free_unpacked(r, NULL);
	return rc;
}

/* Asks the server where each of refs is, PIPELINE_WINDOW in flight. */
static int fetch_states(struct ctl *ctl, Custody__DeviceRef **refs, size_t n,
			struct device_state *st)
{
	struct state_fetch f = {.ctl = ctl, .refs = refs, .st = st};

	return ctl_pipeline(ctl, n, PIPELINE_WINDOW, fill_where, take_where, &f);
}

/* Picks the event's facility from the devices' states per the type's rule. */
static int choose_facility(struct ctl *ctl, const struct event_args *a, struct event_build *b,
			   const struct device_state *st)
{
	const char *fac = st[0].facility;

	if (a->spec->facility == FAC_PRESENT) {
		if (st[0].status != CUSTODY__DEVICE_STATUS__STORED &&
		    st[0].status != CUSTODY__DEVICE_STATUS__INSTALLED)
			return CU_OK;
	}
	for (size_t i = 1; i < a->n_serials; i++) {
		if (strcmp(st[i].facility, fac) != 0)
			return ctl_usage_error(ctl,
					       "the devices are at different facilities (%s at %s, "
					       "%s at %s); pass --facility",
					       a->serials[0], fac, a->serials[i], st[i].facility);
	}
	if (fac[0] == '\0')
		return a->spec->facility == FAC_PRESENT
			   ? CU_OK
			   : ctl_usage_error(ctl,
					     "the server knows no facility for %s; pass "
					     "--facility",
					     a->serials[0]);
	b->facility = strdup(fac);
	if (b->facility == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	b->ev.facility = b->facility;
	return CU_OK;
}

/* Uses the fetched heads as prev where --prev did not say. */
static int use_heads(struct ctl *ctl, struct event_build *b, const struct device_state *st)
{
	for (size_t i = 0; i < b->n_refs; i++) {
		if (b->ref_ptrs[i]->prev.len != 0)
			continue;
		if (!st[i].has_head)
			return ctl_fail(ctl, CTL_EXIT_SERVER, "PROTOCOL",
					"the server gave no valid head for %s; pass --prev",
					b->ref_ptrs[i]->serial);
		memcpy(b->prev_ids[i], st[i].head, ID_BYTES);
		set_prev(b, i);
	}
	return CU_OK;
}

/* Fills prev and facility from the server where the command line did not. */
static int fill_from_server(struct ctl *ctl, const struct event_args *a, struct event_build *b)
{
	bool need_facility = a->facility == NULL && a->spec->facility != FAC_AS_GIVEN;
	bool need_prev = false;
	struct device_state *st;
	int rc;

	for (size_t i = 0; i < b->n_refs; i++)
		need_prev |= b->ref_ptrs[i]->prev.len == 0;
	if (!need_prev && !need_facility)
		return CU_OK;
	st = calloc(b->n_refs, sizeof(*st));
	if (st == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	rc = fetch_states(ctl, b->ref_ptrs, b->n_refs, st);
	if (rc == CU_OK)
		rc = use_heads(ctl, b, st);
	if (rc == CU_OK && need_facility)
		rc = choose_facility(ctl, a, b, st);
	for (size_t i = 0; i < b->n_refs; i++)
		free(st[i].facility);
	free(st);
	return rc;
}

/* Prints what --dry-run would have sent, with the event id. */
static int print_dry_run(struct ctl *ctl, const Custody__Event *ev)
{
	size_t len = custody__event__get_packed_size(ev);
	uint8_t *body = malloc(len + 1);
	ProtobufCBinaryData id = {ID_BYTES, NULL};
	uint8_t id_bytes[ID_BYTES];
	char hex[OUT_ID_TEXT];
	struct out_json j;

	if (body == NULL)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	custody__event__pack(ev, body);
	envelope_id(body, len, id_bytes);
	free(body);
	id.data = id_bytes;
	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kbool(&j, "dry_run", true);
		out_json_kid(&j, "event_id", &id);
		out_json_key(&j, "event");
		event_fmt_json(&j, ev);
		out_json_end_object(&j);
		return CU_OK;
	}
	if (event_fmt_print(ev, stdout) != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "out of memory");
	printf("\nevent id: %s\n(dry run: not signed, not sent)\n", out_id(&id, hex));
	return CU_OK;
}

/* Prints the verdict of an accepted event r (borrowed) for people. */
static void print_verdict(const Custody__SubmitResult *r)
{
	char ids[ALERT_FMT_LINE_MAX], rule[ALERT_FMT_LINE_MAX];

	alert_fmt_ids(r->alert_ids, r->n_alert_ids, ids, sizeof(ids));
	if (r->verdict != 0 && r->n_alert_ids > 0)
		printf("verdict: %s, alerts %s\n",
		       enum_name(&custody__verdict__descriptor, r->verdict), ids);
	else if (r->verdict != 0)
		printf("verdict: %s\n", enum_name(&custody__verdict__descriptor, r->verdict));
	for (size_t i = 0; i < r->n_rules; i++) {
		alert_fmt_rule(r->rules[i], rule, sizeof(rule));
		printf("  rule %s\n", rule);
	}
}

/* Prints the server's acceptance of the event with id sent_id. */
static int print_accepted(struct ctl *ctl, const Custody__Event *ev, const Custody__SubmitResult *r,
			  const uint8_t sent_id[ID_BYTES])
{
	const char *type = enum_name(&custody__event_type__descriptor, ev->type);
	char hex[OUT_ID_TEXT];
	struct out_json j;

	if (ctl->json) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kstr(&j, "type", type);
		out_json_kid(&j, "event_id", &r->event_id);
		out_json_kuint(&j, "seq", r->seq);
		out_json_kbool(&j, "duplicate", r->duplicate);
		out_json_ktime(&j, "recorded_at", r->recorded_at_ms);
		out_json_key(&j, "verdict");
		alert_fmt_verdict_json(&j, r->verdict);
		out_json_key(&j, "rules");
		alert_fmt_rules_json(&j, r->rules, r->n_rules);
		out_json_key(&j, "alert_ids");
		alert_fmt_ids_json(&j, r->alert_ids, r->n_alert_ids);
		out_json_end_object(&j);
	} else {
		printf("%s accepted: event %s seq %llu%s\n", type, out_id(&r->event_id, hex),
		       (unsigned long long)r->seq, r->duplicate ? " (already recorded)" : "");
		print_verdict(r);
	}
	if (r->event_id.len != ID_BYTES || memcmp(r->event_id.data, sent_id, ID_BYTES) != 0) {
		fprintf(stderr, "custodyctl: the server acknowledged a different event id than the "
				"SHA-256 of what was sent\n");
		ctl_set_status(ctl, CTL_EXIT_SERVER);
		return CU_ERR_SIGNATURE;
	}
	return CU_OK;
}

/*
 * Reports the REJECTED error e (borrowed): on stderr every rule hit, where
 * the event is kept as evidence and the alerts raised; with --json one
 * {"verdict":"REJECT","error":{...}} document (the error object as
 * ctl.c writes it, plus recorded_seq, event_id and alert_ids). Exit 1.
 */
static int print_rejected(struct ctl *ctl, const Custody__Error *e)
{
	char text[ALERT_FMT_LINE_MAX], hex[OUT_ID_TEXT];
	struct out_json j;

	ctl_note("custodyctl: REJECTED: %s", e->message);
	for (size_t i = 0; i < e->n_rules; i++) {
		alert_fmt_rule(e->rules[i], text, sizeof(text));
		ctl_note("  rule %s", text);
	}
	if (e->recorded_seq != 0)
		ctl_note("  kept as evidence: seq %llu, event %s",
			 (unsigned long long)e->recorded_seq, out_id(&e->event_id, hex));
	if (e->n_alert_ids > 0) {
		alert_fmt_ids(e->alert_ids, e->n_alert_ids, text, sizeof(text));
		ctl_note("  alerts raised: %s", text);
	}
	if (ctl->json && !ctl->error_reported) {
		out_json_init(&j, stdout);
		out_json_begin_object(&j);
		out_json_kstr(&j, "verdict", "REJECT");
		out_json_key(&j, "error");
		out_json_begin_object(&j);
		out_json_kstr(&j, "code", "REJECTED");
		out_json_kstr(&j, "message", e->message);
		out_json_key(&j, "rules");
		alert_fmt_rules_json(&j, e->rules, e->n_rules);
		out_json_key(&j, "heads");
		out_json_begin_array(&j);
		out_json_end_array(&j);
		out_json_kuint(&j, "recorded_seq", e->recorded_seq);
		out_json_kid(&j, "event_id", &e->event_id);
		out_json_key(&j, "alert_ids");
		alert_fmt_ids_json(&j, e->alert_ids, e->n_alert_ids);
		out_json_end_object(&j);
		out_json_end_object(&j);
	}
	ctl->error_reported = true;
	ctl_set_status(ctl, CTL_EXIT_SERVER);
	return CU_ERR_INVALID;
}

/*
 * Sends the submission req (borrowed) and waits for its answer, like
 * ctl_call but showing a REJECTED verdict in full (print_rejected). On
 * success *resp (owned by the caller) holds a SubmitResult.
 */
static int call_submit(struct ctl *ctl, Custody__Request *req, Custody__Response **resp)
{
	Custody__Response *r = NULL;
	uint64_t id = 0;
	int rc = ctl_send(ctl, req, &id);

	while (rc == CU_OK) {
		rc = ctl_recv(ctl, &r);
		if (rc != CU_OK)
			return rc;
		if (r->id == id || r->id == 0)
			break;
		custody__response__free_unpacked(r, NULL); /* an answer nobody waits for */
	}
	if (rc != CU_OK)
		return rc;
	if (r->body_case == CUSTODY__RESPONSE__BODY_ERROR && r->error != NULL)
		rc = r->error->code == CUSTODY__ERROR_CODE__REJECTED
			 ? print_rejected(ctl, r->error)
			 : ctl_server_error(ctl, r->error);
	else if (r->body_case != CUSTODY__RESPONSE__BODY_SUBMIT || r->submit == NULL)
		rc = ctl_fail(ctl, CTL_EXIT_IO, "PROTOCOL",
			      "%s: unexpected response (body %d, expected %d)", ctl->server,
			      (int)r->body_case, (int)CUSTODY__RESPONSE__BODY_SUBMIT);
	if (rc != CU_OK) {
		custody__response__free_unpacked(r, NULL);
		return rc;
	}
	*resp = r;
	return CU_OK;
}

/* Signs ev with key (both borrowed), submits it and prints the answer. */
static int submit_event(struct ctl *ctl, const struct cu_key *key, const Custody__Event *ev)
{
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__Response *resp = NULL;
	uint8_t id[ID_BYTES];
	int rc = envelope_seal(ENVELOPE_EVENT, key, &ev->base, &env);

	if (rc != CU_OK)
		return ctl_fail(ctl, CTL_EXIT_IO, "IO", "cannot sign: %s", cu_strerror(rc));
	envelope_id(env.body.data, env.body.len, id);
	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = &env;
	rc = call_submit(ctl, &req, &resp);
	if (rc != CU_OK)
		goto fail;
	rc = print_accepted(ctl, ev, resp->submit, id);
	custody__response__free_unpacked(resp, NULL);
fail:
	envelope_clear(&env);
	return rc;
}

/* Completes, checks and sends (or shows) the event of a; key may be NULL. */
static int run_event(struct ctl *ctl, const struct event_args *a, const struct cu_key *key)
{
	struct event_build b = {0};
	char err[VALIDATE_ERR_MAX] = "";
	int rc = build_event(ctl, a, &b);

	if (rc != CU_OK)
		goto fail;
	build_fields(a, &b);
	if (a->actor == NULL) {
		rc = ctl_key_party(ctl, key->pk, &b.actor);
		if (rc != CU_OK)
			goto fail;
		b.ev.actor = b.actor;
	}
	rc = apply_overrides(ctl, a, &b);
	if (rc == CU_OK && b.ev.type != CUSTODY__EVENT_TYPE__REGISTER)
		rc = fill_from_server(ctl, a, &b);
	if (rc != CU_OK)
		goto fail;
	if (validate_event(&b.ev, codec_now_ms(), CTL_MAX_SKEW_MS, err, sizeof(err)) != CU_OK) {
		rc = ctl_usage_error(ctl, "%s: %s", a->spec->cmd.name, err);
		goto fail;
	}
	rc = a->dry_run ? print_dry_run(ctl, &b.ev) : submit_event(ctl, key, &b.ev);
fail:
	build_free(&b);
	return rc;
}

int cmd_event(struct ctl *ctl, int argc, char **argv)
{
	const struct event_spec *spec = NULL;
	struct event_args a;
	struct cu_key *key = NULL;
	int rc;

	for (size_t i = 0; i < N_SPECS && spec == NULL; i++) {
		if (strcmp(specs[i].cmd.name, argv[0]) == 0)
			spec = &specs[i];
	}
	if (spec == NULL)
		return ctl_usage_error(ctl, "unknown event command \"%s\"", argv[0]);
	rc = parse_args(ctl, spec, argc, argv, &a);
	if (rc != CU_OK)
		goto fail;
	/* The key signs, and names the actor when --actor is absent. */
	if (a.dry_run && a.actor == NULL && ctl->key_path == NULL) {
		rc = ctl_usage_error(ctl,
				     "%s --dry-run needs --actor PARTY, or a --key to ask "
				     "the server whose it is",
				     spec->cmd.name);
		goto fail;
	}
	if (!a.dry_run || a.actor == NULL) {
		rc = ctl_load_key(ctl, &key);
		if (rc != CU_OK)
			goto fail;
	}
	rc = run_event(ctl, &a, key);
fail:
	key_free(key);
	args_free(&a);
	return rc;
}
