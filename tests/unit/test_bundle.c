/* Unit tests for proto/bundle.c and proto/bundle_path.c: proof bundles built
 * in memory from real keys, signed envelopes, a Merkle tree, a signed
 * checkpoint and cosignatures; the custody paths a good bundle yields, every
 * byte of the file flipped, and each way a bundle can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "bundle.h"
#include "merkle.h"

#define MAX_LEAVES 64
#define HASH	   MERKLE_HASH_SIZE
#define ORIGIN	   "custody.test/log"
#define T0	   1795354800000LL /* 2026-11-22T13:40:00Z */
#define HOUR	   3600000LL

/* What a test world varies: each a way the log itself can be wrong. */
enum twist {
	PLAIN = 0,
	BAD_PREV = 1,	  /* INSTALL names the PACK as GPU-1's previous event */
	WRONG_SIGNER = 2, /* SHIP signed by the Japanese operator's key for acme */
	ODD_ENTRY = 3,	  /* the PACK's LogEntry carries a field of no known number */
	EXPIRED_KEY = 4,  /* the operator's key expires before the RECEIVE is recorded */
};

/* Positions of the world's entries in the log. */
enum {
	E_KEY_EXPORTER,
	E_KEY_OPERATOR,
	E_FAC_US,
	E_FAC_JP,
	E_REG_GPU,
	E_REG_SRV,
	E_REG_OTHER, /* GPU-9: in the log, never in a GPU-1 bundle */
	E_PACK,
	E_SHIP,
	E_RECEIVE,
	E_UNPACK,
	E_INSTALL,
	E_SHIP_REJECTED,
	E_ATTEST,
	E_KEY_UNUSED, /* a key no bundled event uses */
	E_TAIL,	      /* after the bundle's entries: the tree is larger */
	N_WORLD_ENTRIES
};

/* Entries of the bundles about GPU-1, its shipment and jp-1. */
static const size_t bundle_entries[] = {
    E_KEY_EXPORTER, E_KEY_OPERATOR, E_FAC_US, E_FAC_JP,	 E_REG_GPU,	  E_REG_SRV, E_PACK,
    E_SHIP,	    E_RECEIVE,	    E_UNPACK, E_INSTALL, E_SHIP_REJECTED, E_ATTEST,
};
#define N_BUNDLE_ENTRIES (sizeof(bundle_entries) / sizeof(bundle_entries[0]))

/* A log and everyone's keys. */
struct world {
	struct cu_key *log_key, *admin, *exporter, *operator_, *device, *unused;
	struct cu_key *witness[3];
	struct note_verifier log_v, witness_v[3];
	char witness_vkey[3][NOTE_VKEY_MAX];
	uint8_t *leaf[MAX_LEAVES];
	size_t leaf_len[MAX_LEAVES];
	uint8_t id[MAX_LEAVES][ENVELOPE_ID_BYTES];
	size_t n;
	size_t odd_entry; /* the entry given an unknown field, or SIZE_MAX */
	struct merkle_range range;
	uint8_t nodes[8][MAX_LEAVES][HASH];
	char text[NOTE_CHECKPOINT_TEXT_MAX];
	size_t text_len;
	char note[1024];
};

/* ---- building the log ------------------------------------------------------ */

static void store_node(void *arg, unsigned level, uint64_t index, const uint8_t hash[HASH])
{
	struct world *w = arg;

	assert_true(level < 8 && index < MAX_LEAVES);
	memcpy(w->nodes[level][index], hash, HASH);
}

static int get_node(void *arg, unsigned level, uint64_t index, uint8_t out[HASH])
{
	struct world *w = arg;

	memcpy(out, w->nodes[level][index], HASH);
	return CU_OK;
}

/* Appends a LogEntry of kind around a fresh envelope of msg signed by key. */
static size_t append(struct world *w, Custody__EntryKind kind, const struct cu_key *key,
		     const ProtobufCMessage *msg, Custody__Verdict verdict)
{
	Custody__LogEntry e = CUSTODY__LOG_ENTRY__INIT;
	Custody__SignedEnvelope env = CUSTODY__SIGNED_ENVELOPE__INIT;
	uint8_t leaf[HASH], one = 1;
	ProtobufCMessageUnknownField odd = {50, PROTOBUF_C_WIRE_TYPE_VARINT, 1, &one};
	size_t i = w->n++;

	assert_true(i < MAX_LEAVES);
	assert_int_equal(envelope_seal(kind == CUSTODY__ENTRY_KIND__ENTRY_EVENT ? ENVELOPE_EVENT
										: ENVELOPE_ADMIN,
				       key, msg, &env),
			 CU_OK);
	envelope_id(env.body.data, env.body.len, w->id[i]);
	e.kind = kind;
	e.seq = i + 1;
	e.envelope = &env;
	e.recorded_at_ms = T0 + (int64_t)i * HOUR + 1000;
	e.verdict = verdict;
	if (i == w->odd_entry) {
		e.base.n_unknown_fields = 1;
		e.base.unknown_fields = &odd;
	}
	w->leaf_len[i] = custody__log_entry__get_packed_size(&e);
	w->leaf[i] = malloc(w->leaf_len[i]);
	custody__log_entry__pack(&e, w->leaf[i]);
	envelope_clear(&env);
	merkle_leaf_hash(w->leaf[i], w->leaf_len[i], leaf);
	assert_int_equal(merkle_range_append(&w->range, leaf, store_node, w), CU_OK);
	return i;
}

static void add_key(struct world *w, const struct cu_key *key, const char *party,
		    Custody__Role role, int64_t valid_until_ms)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__KeyRecord k = CUSTODY__KEY_RECORD__INIT;

	k.pubkey.data = (uint8_t *)key->pk;
	k.pubkey.len = KEY_PUBLIC_BYTES;
	k.party = (char *)party;
	k.role = role;
	k.valid_until_ms = valid_until_ms;
	act.issued_at_ms = T0;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_KEY;
	act.register_key = &k;
	append(w, CUSTODY__ENTRY_KIND__ENTRY_ADMIN, w->admin, &act.base, 0);
}

static void add_facility(struct world *w, const char *id, const char *country)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__Facility f = CUSTODY__FACILITY__INIT;

	f.id = (char *)id;
	f.name = (char *)id;
	f.owner = "acme";
	f.operator_ = "acme";
	f.country = (char *)country;
	act.issued_at_ms = T0;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_FACILITY;
	act.register_facility = &f;
	append(w, CUSTODY__ENTRY_KIND__ENTRY_ADMIN, w->admin, &act.base, 0);
}

/* An event under construction: up to two devices and a container. */
struct ev {
	Custody__Event e;
	Custody__DeviceRef refs[3];
	Custody__DeviceRef *ptrs[2];
};

/* Starts an event of type by actor at facility, the i-th hour after T0. */
static void ev_init(struct ev *x, Custody__EventType type, const char *actor, const char *facility,
		    int hour)
{
	memset(x, 0, sizeof(*x));
	custody__event__init(&x->e);
	for (int i = 0; i < 3; i++)
		custody__device_ref__init(&x->refs[i]);
	x->e.type = type;
	x->e.actor = (char *)actor;
	x->e.facility = (char *)facility;
	x->e.occurred_at_ms = T0 + hour * HOUR;
	x->e.devices = x->ptrs;
}

/* Adds device serial with the id of entry prev (SIZE_MAX: none) as its prev. */
static Custody__DeviceRef *ev_device(struct world *w, struct ev *x, const char *serial, size_t prev)
{
	Custody__DeviceRef *r = &x->refs[x->e.n_devices];

	r->serial = (char *)serial;
	if (prev != SIZE_MAX) {
		r->prev.data = w->id[prev];
		r->prev.len = ENVELOPE_ID_BYTES;
	}
	x->ptrs[x->e.n_devices++] = r;
	return r;
}

static void ev_container(struct world *w, struct ev *x, const char *serial, size_t prev)
{
	x->refs[2].serial = (char *)serial;
	x->refs[2].prev.data = w->id[prev];
	x->refs[2].prev.len = ENVELOPE_ID_BYTES;
	x->e.container = &x->refs[2];
}

static size_t add_event(struct world *w, const struct cu_key *key, struct ev *x,
			Custody__Verdict verdict)
{
	return append(w, CUSTODY__ENTRY_KIND__ENTRY_EVENT, key, &x->e.base, verdict);
}

static void add_register(struct world *w, const char *serial, Custody__DeviceKind kind,
			 const char *model, const struct cu_key *device_key, int hour)
{
	struct ev x;
	Custody__DeviceRef *r;

	ev_init(&x, CUSTODY__EVENT_TYPE__REGISTER, "acme", "us-1", hour);
	r = ev_device(w, &x, serial, SIZE_MAX);
	r->kind = kind;
	r->model = (char *)model;
	if (device_key != NULL) {
		r->device_key.data = (uint8_t *)device_key->pk;
		r->device_key.len = KEY_PUBLIC_BYTES;
	}
	add_event(w, w->exporter, &x, CUSTODY__VERDICT__ACCEPT);
}

/* GPU-1 goes into SRV-1, which is shipped from us-1 to jp-1 and received. */
static void add_journey(struct world *w, enum twist twist)
{
	struct ev x;

	ev_init(&x, CUSTODY__EVENT_TYPE__PACK, "acme", "us-1", 3);
	ev_device(w, &x, "GPU-1", E_REG_GPU);
	ev_container(w, &x, "SRV-1", E_REG_SRV);
	add_event(w, w->exporter, &x, CUSTODY__VERDICT__ACCEPT);
	ev_init(&x, CUSTODY__EVENT_TYPE__SHIP, "acme", "us-1", 4);
	x.e.to_facility = "jp-1";
	ev_device(w, &x, "SRV-1", E_PACK);
	add_event(w, twist == WRONG_SIGNER ? w->operator_ : w->exporter, &x,
		  CUSTODY__VERDICT__ACCEPT);
	ev_init(&x, CUSTODY__EVENT_TYPE__RECEIVE, "jpops", "jp-1", 30);
	ev_device(w, &x, "SRV-1", E_SHIP);
	add_event(w, w->operator_, &x, CUSTODY__VERDICT__ACCEPT_WITH_ALERTS);
}

/* Out of SRV-1, installed; a refused SHIP; an attestation by GPU-1 itself. */
static void add_arrival(struct world *w, enum twist twist)
{
	struct ev x;

	ev_init(&x, CUSTODY__EVENT_TYPE__UNPACK, "jpops", "jp-1", 31);
	ev_device(w, &x, "GPU-1", E_PACK);
	ev_container(w, &x, "SRV-1", E_RECEIVE);
	add_event(w, w->operator_, &x, CUSTODY__VERDICT__ACCEPT);
	ev_init(&x, CUSTODY__EVENT_TYPE__INSTALL, "jpops", "jp-1", 32);
	x.e.location = "hall-2/rack-14";
	ev_device(w, &x, "GPU-1", twist == BAD_PREV ? E_PACK : E_UNPACK);
	add_event(w, w->operator_, &x, CUSTODY__VERDICT__ACCEPT);
	ev_init(&x, CUSTODY__EVENT_TYPE__SHIP, "jpops", "jp-1", 33);
	x.e.to_facility = "us-1";
	ev_device(w, &x, "GPU-1", E_INSTALL);
	add_event(w, w->operator_, &x, CUSTODY__VERDICT__REJECT);
	ev_init(&x, CUSTODY__EVENT_TYPE__ATTEST, "acme", "", 34);
	ev_device(w, &x, "GPU-1", E_INSTALL);
	add_event(w, w->device, &x, CUSTODY__VERDICT__ACCEPT);
}

static void make_keys(struct world *w)
{
	static const char *const names[3] = {"witness-a", "witness-b", "witness-c"};

	assert_int_equal(key_generate(&w->log_key), CU_OK);
	assert_int_equal(key_generate(&w->admin), CU_OK);
	assert_int_equal(key_generate(&w->exporter), CU_OK);
	assert_int_equal(key_generate(&w->operator_), CU_OK);
	assert_int_equal(key_generate(&w->device), CU_OK);
	assert_int_equal(key_generate(&w->unused), CU_OK);
	assert_int_equal(note_verifier_init(&w->log_v, ORIGIN, NOTE_TYPE_ED25519, w->log_key->pk),
			 CU_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(key_generate(&w->witness[i]), CU_OK);
		assert_int_equal(note_verifier_init(&w->witness_v[i], names[i], NOTE_TYPE_COSIG_V1,
						    w->witness[i]->pk),
				 CU_OK);
		assert_int_equal(note_verifier_format(&w->witness_v[i], w->witness_vkey[i],
						      sizeof(w->witness_vkey[i])),
				 CU_OK);
	}
}

/* Builds the world's log and its signed checkpoint. */
static void world_sign(struct world *w);

static struct world *world_new(enum twist twist)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	make_keys(w);
	merkle_range_init(&w->range);
	w->odd_entry = twist == ODD_ENTRY ? E_PACK : SIZE_MAX;
	add_key(w, w->exporter, "acme", CUSTODY__ROLE__EXPORTER, 0);
	add_key(w, w->operator_, "jpops", CUSTODY__ROLE__OPERATOR,
		twist == EXPIRED_KEY ? T0 + E_RECEIVE * HOUR : 0);
	add_facility(w, "us-1", "US");
	add_facility(w, "jp-1", "JP");
	add_register(w, "GPU-1", CUSTODY__DEVICE_KIND__CHIP, "H100-SXM", w->device, 1);
	add_register(w, "SRV-1", CUSTODY__DEVICE_KIND__SERVER, "DGX-H100", NULL, 1);
	add_register(w, "GPU-9", CUSTODY__DEVICE_KIND__CHIP, "H100-SXM", NULL, 2);
	add_journey(w, twist);
	add_arrival(w, twist);
	add_key(w, w->unused, "acme", CUSTODY__ROLE__EXPORTER, 0);
	add_register(w, "GPU-8", CUSTODY__DEVICE_KIND__CHIP, "H100-SXM", NULL, 40);
	assert_int_equal(w->n, N_WORLD_ENTRIES);
	world_sign(w);
	return w;
}

/* Signs the checkpoint of w's log as it now is. */
static void world_sign(struct world *w)
{
	uint8_t root[HASH];
	size_t len;

	merkle_range_root(&w->range, root);
	assert_int_equal(
	    note_checkpoint_format(ORIGIN, w->n, root, w->text, sizeof(w->text), &w->text_len),
	    CU_OK);
	assert_int_equal(
	    note_sign(w->text, w->text_len, ORIGIN, w->log_key, w->note, sizeof(w->note), &len),
	    CU_OK);
}

/* Appends signer's revocation of key from at_ms on, signs the checkpoint; its index. */
static size_t add_revocation(struct world *w, const struct cu_key *signer, const struct cu_key *key,
			     int64_t at_ms)
{
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__KeyRevocation rev = CUSTODY__KEY_REVOCATION__INIT;
	size_t i;

	rev.pubkey.data = (uint8_t *)key->pk;
	rev.pubkey.len = KEY_PUBLIC_BYTES;
	rev.revoked_at_ms = at_ms;
	act.issued_at_ms = T0 + 50 * HOUR;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY;
	act.revoke_key = &rev;
	i = append(w, CUSTODY__ENTRY_KIND__ENTRY_ADMIN, signer, &act.base, 0);
	world_sign(w);
	return i;
}

static void world_free(struct world *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->leaf[i]);
	key_free(w->log_key);
	key_free(w->admin);
	key_free(w->exporter);
	key_free(w->operator_);
	key_free(w->device);
	key_free(w->unused);
	for (int i = 0; i < 3; i++)
		key_free(w->witness[i]);
	free(w);
}

/* ---- building bundles -------------------------------------------------------- */

/* A ProofBundle and the storage it points into. */
struct bundle {
	Custody__ProofBundle pb;
	Custody__BundleEntry e[MAX_LEAVES], *ep[MAX_LEAVES];
	uint8_t proof[MAX_LEAVES][MERKLE_PROOF_MAX * HASH];
	ProtobufCBinaryData hashes[MAX_LEAVES][MERKLE_PROOF_MAX];
	Custody__Cosignature c[4], *cp[4];
	char lines[4][NOTE_SIG_LINE_MAX];
	char note[2048];
	uint8_t shipment[ENVELOPE_ID_BYTES];
};

/* Adds log entry i of w, with its inclusion proof. */
static void bundle_add(struct bundle *b, struct world *w, size_t i)
{
	size_t k = b->pb.n_entries++, count = 0;
	Custody__BundleEntry *e = &b->e[k];

	custody__bundle_entry__init(e);
	e->index = i;
	e->entry.data = w->leaf[i];
	e->entry.len = w->leaf_len[i];
	assert_int_equal(merkle_inclusion_proof(i, w->n, get_node, w, b->proof[k], &count), CU_OK);
	for (size_t h = 0; h < count; h++) {
		b->hashes[k][h].data = b->proof[k] + h * HASH;
		b->hashes[k][h].len = HASH;
	}
	e->proof = b->hashes[k];
	e->n_proof = count;
	b->ep[k] = e;
}

/* Adds witness i's cosignature of text (timestamp ts). */
static void bundle_cosign(struct bundle *b, struct world *w, int i, const char *text,
			  size_t text_len, uint64_t ts)
{
	size_t k = b->pb.n_cosignatures++, len;

	assert_int_equal(note_cosig_sign(text, text_len, w->witness_v[i].name, w->witness[i], ts,
					 b->lines[k], sizeof(b->lines[k]), &len),
			 CU_OK);
	custody__cosignature__init(&b->c[k]);
	b->c[k].witness_key = w->witness_vkey[i];
	b->c[k].signature = b->lines[k];
	b->cp[k] = &b->c[k];
}

/* The bundle about GPU-1: its entries, cosigned by witness-a. */
static struct bundle *bundle_new(struct world *w)
{
	struct bundle *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	custody__proof_bundle__init(&b->pb);
	b->pb.subject_case = CUSTODY__PROOF_BUNDLE__SUBJECT_DEVICE;
	b->pb.device = "GPU-1";
	snprintf(b->note, sizeof(b->note), "%s", w->note);
	b->pb.checkpoint = b->note;
	b->pb.entries = b->ep;
	b->pb.cosignatures = b->cp;
	for (size_t i = 0; i < N_BUNDLE_ENTRIES; i++)
		bundle_add(b, w, bundle_entries[i]);
	bundle_cosign(b, w, 0, w->text, w->text_len, 1795400000);
	return b;
}

/* Drops the bundle's entry at log index i. */
static void bundle_drop(struct bundle *b, size_t i)
{
	for (size_t k = 0; k < b->pb.n_entries; k++) {
		if (b->ep[k]->index != i)
			continue;
		memmove(&b->ep[k], &b->ep[k + 1], (b->pb.n_entries - k - 1) * sizeof(b->ep[0]));
		b->pb.n_entries--;
		return;
	}
	fail_msg("no entry %zu in the bundle", i);
}

/* Encodes b into a new buffer. */
static uint8_t *encode(const struct bundle *b, size_t *len)
{
	uint8_t *out = NULL;

	assert_int_equal(bundle_encode(&b->pb, &out, len), CU_OK);
	return out;
}

/* Verifies data with the log key and the given witnesses and quorum. */
static int verify_with(struct world *w, const uint8_t *data, size_t len, size_t n_witnesses,
		       size_t quorum, struct bundle_report **r)
{
	struct bundle_keys keys = {&w->log_v, w->witness_v, n_witnesses, quorum, NULL, 0};

	return bundle_verify(data, len, &keys, r);
}

/* Encodes b, verifies it (witness-a required) and returns the report. */
static int verify_bundle(struct world *w, const struct bundle *b, struct bundle_report **r)
{
	size_t len;
	uint8_t *data = encode(b, &len);
	int rc = verify_with(w, data, len, 1, 1, r);

	free(data);
	return rc;
}

/* Whether one of r's problems contains text. */
static bool has_problem(const struct bundle_report *r, const char *text)
{
	for (size_t i = 0; i < r->n_problems; i++) {
		if (strstr(r->problems[i], text) != NULL)
			return true;
	}
	return false;
}

/* Asserts that b fails to verify with a problem containing text. */
static void expect_problem(struct world *w, const struct bundle *b, const char *text)
{
	struct bundle_report *r = NULL;

	assert_int_equal(verify_bundle(w, b, &r), CU_ERR_INVALID);
	assert_non_null(r);
	assert_false(r->verified);
	if (!has_problem(r, text)) {
		for (size_t i = 0; i < r->n_problems; i++)
			print_message("problem: %s\n", r->problems[i]);
		fail_msg("no problem mentions \"%s\"", text);
	}
	bundle_report_free(r);
}

/* ---- tests ---------------------------------------------------------------------- */

/* Asserts step k of device d: the event at log index i, and how it came. */
static void expect_step(const struct bundle_device *d, size_t k, size_t i, Custody__EventType type,
			const char *via)
{
	assert_true(k < d->n_steps);
	assert_int_equal(d->steps[k].event->index, i);
	assert_int_equal(d->steps[k].event->ev->type, type);
	if (via == NULL)
		assert_null(d->steps[k].via);
	else
		assert_string_equal(d->steps[k].via, via);
}

static void test_good_bundle(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);
	struct bundle_report *r = NULL;
	const struct bundle_device *gpu, *srv;

	(void)state;
	assert_int_equal(verify_bundle(w, b, &r), CU_OK);
	assert_true(r->verified);
	assert_int_equal(r->n_problems, 0);
	assert_string_equal(r->device, "GPU-1");
	assert_string_equal(r->origin, ORIGIN);
	assert_int_equal(r->tree_size, N_WORLD_ENTRIES);
	assert_int_equal(r->n_entries, N_BUNDLE_ENTRIES);
	assert_int_equal(r->n_events, 9);
	assert_int_equal(r->n_rejected, 1);
	assert_int_equal(r->n_registrations, 4);
	assert_int_equal(r->n_admin_signers, 1);
	assert_memory_equal(r->admin_signers[0], w->admin->pk, KEY_PUBLIC_BYTES);
	assert_int_equal(r->n_cosigners, 1);
	assert_true(r->cosigners[0].verified && r->cosigners[0].required);
	assert_int_equal(r->cosigners[0].timestamp, 1795400000);
	assert_int_equal(r->n_devices, 2);
	gpu = &r->devices[0];
	srv = &r->devices[1];
	assert_string_equal(gpu->serial, "GPU-1");
	assert_true(gpu->subject);
	assert_int_equal(gpu->kind, CUSTODY__DEVICE_KIND__CHIP);
	assert_int_equal(gpu->n_steps, 8);
	expect_step(gpu, 0, E_REG_GPU, CUSTODY__EVENT_TYPE__REGISTER, NULL);
	expect_step(gpu, 1, E_PACK, CUSTODY__EVENT_TYPE__PACK, NULL);
	expect_step(gpu, 2, E_SHIP, CUSTODY__EVENT_TYPE__SHIP, "SRV-1");
	expect_step(gpu, 3, E_RECEIVE, CUSTODY__EVENT_TYPE__RECEIVE, "SRV-1");
	expect_step(gpu, 4, E_UNPACK, CUSTODY__EVENT_TYPE__UNPACK, NULL);
	expect_step(gpu, 5, E_INSTALL, CUSTODY__EVENT_TYPE__INSTALL, NULL);
	expect_step(gpu, 6, E_SHIP_REJECTED, CUSTODY__EVENT_TYPE__SHIP, NULL);
	expect_step(gpu, 7, E_ATTEST, CUSTODY__EVENT_TYPE__ATTEST, NULL);
	assert_int_equal(gpu->steps[6].event->verdict, CUSTODY__VERDICT__REJECT);
	assert_string_equal(gpu->steps[2].event->country, "US");
	assert_string_equal(gpu->steps[2].event->to_country, "JP");
	assert_string_equal(gpu->steps[3].event->country, "JP");
	assert_string_equal(gpu->facility, "jp-1");
	assert_string_equal(gpu->country, "JP");
	assert_int_equal(gpu->status, CUSTODY__DEVICE_STATUS__INSTALLED);
	assert_string_equal(srv->serial, "SRV-1");
	assert_false(srv->subject);
	assert_int_equal(srv->n_steps, 5);
	assert_int_equal(srv->status, CUSTODY__DEVICE_STATUS__STORED);
	bundle_report_free(r);
	free(b);
	world_free(w);
}

static void test_shipment_and_facility_subjects(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);
	struct bundle_report *r = NULL;

	(void)state;
	b->pb.subject_case = CUSTODY__PROOF_BUNDLE__SUBJECT_SHIPMENT;
	memcpy(b->shipment, w->id[E_SHIP], ENVELOPE_ID_BYTES);
	b->pb.shipment.data = b->shipment;
	b->pb.shipment.len = ENVELOPE_ID_BYTES;
	assert_int_equal(verify_bundle(w, b, &r), CU_OK);
	assert_int_equal(r->n_devices, 2);
	assert_true(r->devices[0].subject && r->devices[1].subject);
	assert_string_equal(r->devices[0].serial, "GPU-1");
	assert_string_equal(r->devices[1].serial, "SRV-1");
	bundle_report_free(r);

	b->pb.subject_case = CUSTODY__PROOF_BUNDLE__SUBJECT_FACILITY;
	b->pb.facility = "jp-1";
	assert_int_equal(verify_bundle(w, b, &r), CU_OK);
	assert_int_equal(r->n_devices, 2);
	assert_true(r->devices[0].subject && r->devices[1].subject);
	bundle_report_free(r);

	/* Nothing the bundle carries is at us-1 in the end. */
	b->pb.facility = "us-1";
	assert_int_equal(verify_bundle(w, b, &r), CU_OK);
	assert_false(r->devices[0].subject || r->devices[1].subject);
	bundle_report_free(r);

	/* A SHIP that was refused moved nothing. */
	b->pb.subject_case = CUSTODY__PROOF_BUNDLE__SUBJECT_SHIPMENT;
	b->pb.shipment.data = b->shipment;
	b->pb.shipment.len = ENVELOPE_ID_BYTES;
	memcpy(b->shipment, w->id[E_SHIP_REJECTED], ENVELOPE_ID_BYTES);
	expect_problem(w, b, "was rejected");
	memcpy(b->shipment, w->id[E_INSTALL], ENVELOPE_ID_BYTES);
	expect_problem(w, b, "not a SHIP or RMA_OUT");
	memcpy(b->shipment, w->id[E_REG_OTHER], ENVELOPE_ID_BYTES);
	expect_problem(w, b, "not among the bundle's events");
	free(b);
	world_free(w);
}

/*
 * Flips every byte of a good bundle file, with XOR 0x01 and with XOR 0xff,
 * and verifies each copy: every one must fail.
 */
static void test_every_byte_matters(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);
	struct bundle_report *r = NULL;
	static const uint8_t masks[] = {0x01, 0xff};
	size_t len, checked = 0;
	uint8_t *data = encode(b, &len);
	uint8_t *copy = malloc(len);

	(void)state;
	assert_non_null(copy);
	assert_int_equal(verify_with(w, data, len, 1, 1, &r), CU_OK);
	bundle_report_free(r);
	for (size_t m = 0; m < sizeof(masks); m++) {
		for (size_t pos = 0; pos < len; pos++) {
			int rc;

			memcpy(copy, data, len);
			copy[pos] ^= masks[m];
			rc = verify_with(w, copy, len, 1, 1, &r);
			if (rc == CU_OK)
				fail_msg(
				    "the bundle still verifies with byte %zu of %zu XOR 0x%02x",
				    pos, len, masks[m]);
			assert_int_equal(rc, CU_ERR_INVALID);
			assert_true(r->n_problems > 0);
			bundle_report_free(r);
			checked++;
		}
	}
	assert_int_equal(checked, 2 * len);
	print_message("every one of the %zu bytes of the bundle matters\n", len);
	free(copy);
	free(data);
	free(b);
	world_free(w);
}

static void test_missing_register(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);

	(void)state;
	bundle_drop(b, E_REG_GPU);
	expect_problem(w, b, "device GPU-1: its REGISTER is not in the bundle");
	expect_problem(w, b, "comes before its REGISTER");
	free(b);
	b = bundle_new(w);
	bundle_drop(b, E_REG_SRV); /* the container's chain must be whole too */
	expect_problem(w, b, "device SRV-1: its REGISTER is not in the bundle");
	free(b);
	world_free(w);
}

static void test_broken_prev(void **state)
{
	struct world *w = world_new(BAD_PREV);
	struct bundle *b = bundle_new(w);

	(void)state;
	expect_problem(w, b, "the prev of device GPU-1 is not its previous event");
	free(b);
	world_free(w);
}

/* A chain with an event left out is broken at the event after it. */
static void test_dropped_event(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);

	(void)state;
	bundle_drop(b, E_UNPACK);
	expect_problem(w, b, "the prev of device GPU-1 is not its previous event");
	free(b);
	world_free(w);
}

static void test_signer_not_actor(void **state)
{
	struct world *w = world_new(WRONG_SIGNER);
	struct bundle *b = bundle_new(w);

	(void)state;
	expect_problem(w, b, "belongs to jpops, not to the actor acme");
	free(b);
	b = bundle_new(w);
	bundle_drop(b, E_KEY_OPERATOR);
	expect_problem(w, b, "is not registered in the bundle");
	free(b);
	world_free(w);
}

static void test_key_validity_and_admin_keys(void **state)
{
	struct world *w = world_new(EXPIRED_KEY);
	struct bundle *b = bundle_new(w);
	struct bundle_report *r = NULL;
	uint8_t admin[2][KEY_PUBLIC_BYTES];
	struct bundle_keys keys = {&w->log_v, w->witness_v, 1, 1, admin, 1};
	size_t len;
	uint8_t *data;

	(void)state;
	expect_problem(w, b, "was expired at 2026-11-22T22:40:00Z, before the event was recorded");
	free(b);
	world_free(w);
	w = world_new(PLAIN);
	b = bundle_new(w);
	data = encode(b, &len);
	keys.log = &w->log_v;
	keys.witnesses = w->witness_v;
	memcpy(admin[0], w->exporter->pk, KEY_PUBLIC_BYTES);
	memcpy(admin[1], w->admin->pk, KEY_PUBLIC_BYTES);
	assert_int_equal(bundle_verify(data, len, &keys, &r), CU_ERR_INVALID);
	assert_true(has_problem(r, "not by a given admin key"));
	bundle_report_free(r);
	keys.n_admin_keys = 2;
	assert_int_equal(bundle_verify(data, len, &keys, &r), CU_OK);
	bundle_report_free(r);
	free(data);
	free(b);
	world_free(w);
}

/*
 * Revocations: one after the operator's last event, signed by the key
 * itself, leaves its events valid (also with the admin key pinned); one
 * backdated before its INSTALL fails that event; one of a key no event
 * uses is extra.
 */
static void test_key_revocations(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);
	struct bundle_report *r = NULL;
	uint8_t admin[KEY_PUBLIC_BYTES];
	struct bundle_keys keys = {&w->log_v, w->witness_v, 1, 1, &admin, 1};
	size_t i = add_revocation(w, w->operator_, w->operator_, T0 + 100 * HOUR), len;
	uint8_t *data;

	(void)state;
	free(b);
	b = bundle_new(w);
	bundle_add(b, w, i);
	memcpy(admin, w->admin->pk, KEY_PUBLIC_BYTES);
	data = encode(b, &len);
	assert_int_equal(bundle_verify(data, len, &keys, &r), CU_OK);
	assert_int_equal(r->n_registrations, 5);
	bundle_report_free(r);
	free(data);
	free(b);
	i = add_revocation(w, w->admin, w->operator_, T0 + 31 * HOUR + HOUR / 2);
	b = bundle_new(w);
	bundle_add(b, w, i);
	expect_problem(w, b,
		       "was revoked at 2026-11-23T21:10:00Z, and the event is dated "
		       "2026-11-23T21:40:00Z, not before that");
	free(b);
	i = add_revocation(w, w->admin, w->unused, T0);
	b = bundle_new(w);
	bundle_add(b, w, i);
	expect_problem(w, b, "which signs no event of the bundle");
	free(b);
	world_free(w);
}

static void test_proof_for_wrong_index(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);
	ProtobufCBinaryData *p;
	size_t n;

	(void)state;
	p = b->ep[7]->proof; /* swap the proofs of two entries */
	n = b->ep[7]->n_proof;
	b->ep[7]->proof = b->ep[8]->proof;
	b->ep[7]->n_proof = b->ep[8]->n_proof;
	b->ep[8]->proof = p;
	b->ep[8]->n_proof = n;
	expect_problem(w, b, "inclusion proof does not match the checkpoint root");
	free(b);
	b = bundle_new(w);
	b->ep[12]->index = E_TAIL; /* the right proof, the wrong index */
	expect_problem(w, b, "inclusion proof does not match the checkpoint root");
	b->ep[12]->index = E_TAIL + 1;
	expect_problem(w, b, "not in the checkpoint's tree");
	free(b);
	world_free(w);
}

static void test_quorum(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);
	struct bundle_report *r = NULL;
	size_t len;
	uint8_t *data = encode(b, &len);

	(void)state;
	assert_int_equal(verify_with(w, data, len, 2, 2, &r), CU_ERR_INVALID);
	assert_true(has_problem(r, "1 of the given witnesses cosigned it, 2 are required"));
	bundle_report_free(r);
	assert_int_equal(verify_with(w, data, len, 2, 1, &r), CU_OK);
	bundle_report_free(r);
	assert_int_equal(verify_with(w, data, len, 0, 0, &r), CU_OK);
	assert_false(r->cosigners[0].required);
	bundle_report_free(r);
	free(data);
	/* Two witnesses: the quorum of two is met. */
	bundle_cosign(b, w, 1, w->text, w->text_len, 1795400001);
	data = encode(b, &len);
	assert_int_equal(verify_with(w, data, len, 2, 2, &r), CU_OK);
	assert_int_equal(r->n_required_cosigned, 2);
	bundle_report_free(r);
	free(data);
	/* The same witness twice is refused, not counted twice. */
	b->pb.n_cosignatures = 1;
	bundle_cosign(b, w, 0, w->text, w->text_len, 1795400002);
	expect_problem(w, b, "cosigned twice");
	free(b);
	world_free(w);
}

static void test_unknown_witness_bad_cosignature(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);
	char other[NOTE_CHECKPOINT_TEXT_MAX];
	uint8_t root[HASH] = {0};
	size_t other_len;

	(void)state;
	/* witness-c is not asked for, and its cosignature is of another checkpoint. */
	assert_int_equal(
	    note_checkpoint_format(ORIGIN, w->n + 1, root, other, sizeof(other), &other_len),
	    CU_OK);
	bundle_cosign(b, w, 2, other, other_len, 1795400000);
	expect_problem(w, b, "cosignature 2 (witness-c)");
	free(b);
	world_free(w);
}

static void test_checkpoint_keys(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);
	struct bundle_report *r = NULL;
	struct note_verifier right = w->log_v;
	struct cu_key *other = NULL;
	size_t len;
	uint8_t *data = encode(b, &len);

	(void)state;
	assert_int_equal(key_generate(&other), CU_OK);
	assert_int_equal(note_verifier_init(&w->log_v, ORIGIN, NOTE_TYPE_ED25519, other->pk),
			 CU_OK);
	assert_int_equal(verify_with(w, data, len, 1, 1, &r), CU_ERR_INVALID);
	assert_true(has_problem(r, "checkpoint: note has no signature from a known key"));
	bundle_report_free(r);
	/* The right key under another name: the origin is not its name. */
	assert_int_equal(
	    note_verifier_init(&w->log_v, "other.log", NOTE_TYPE_ED25519, w->log_key->pk), CU_OK);
	assert_int_equal(verify_with(w, data, len, 1, 1, &r), CU_ERR_INVALID);
	bundle_report_free(r);
	w->log_v = right;
	key_free(other);
	free(data);
	/* A cosignature line inside the checkpoint note. */
	snprintf(b->note + strlen(b->note), sizeof(b->note) - strlen(b->note), "%s", b->lines[0]);
	expect_problem(w, b, "signature lines besides the log's");
	free(b);
	world_free(w);
}

static void test_file_framing(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);
	struct bundle_report *r = NULL;
	uint8_t zero = 0;
	ProtobufCMessageUnknownField odd = {99, PROTOBUF_C_WIRE_TYPE_VARINT, 1, &zero};
	size_t len;
	uint8_t *data = encode(b, &len), *longer = malloc(len + 1);

	(void)state;
	memcpy(longer, data, len);
	longer[len] = '\n';
	assert_int_equal(verify_with(w, longer, len + 1, 1, 1, &r), CU_ERR_INVALID);
	assert_int_equal(r->n_problems, 1);
	bundle_report_free(r);
	data[0] = 'C';
	assert_int_equal(verify_with(w, data, len, 1, 1, &r), CU_ERR_INVALID);
	assert_true(has_problem(r, "not a custody proof bundle"));
	bundle_report_free(r);
	assert_int_equal(verify_with(w, data, 3, 1, 1, &r), CU_ERR_INVALID);
	bundle_report_free(r);
	free(longer);
	free(data);
	/* Fields of no known number, in the bundle, an entry, a LogEntry. */
	b->pb.base.n_unknown_fields = 1;
	b->pb.base.unknown_fields = &odd;
	expect_problem(w, b, "fields this verifier does not know");
	b->pb.base.n_unknown_fields = 0;
	b->e[3].base.n_unknown_fields = 1;
	b->e[3].base.unknown_fields = &odd;
	expect_problem(w, b, "fields this verifier does not know");
	free(b);
	world_free(w);
	w = world_new(ODD_ENTRY);
	b = bundle_new(w);
	expect_problem(w, b, "the LogEntry has unknown fields");
	free(b);
	world_free(w);
}

/* A bundle carries only what its subject needs. */
static void test_nothing_extra(void **state)
{
	struct world *w = world_new(PLAIN);
	struct bundle *b = bundle_new(w);

	(void)state;
	bundle_add(b, w, E_KEY_UNUSED);
	expect_problem(w, b, "which signs no event of the bundle");
	free(b);
	b = bundle_new(w);
	b->pb.n_entries = 0;
	for (size_t i = 0; i < N_BUNDLE_ENTRIES; i++) {
		bundle_add(b, w, bundle_entries[i]);
		if (bundle_entries[i] == E_REG_SRV)
			bundle_add(b, w, E_REG_OTHER);
	}
	expect_problem(w, b, "the event reaches none of the bundle's devices");
	b->pb.device = "GPU-9"; /* another device: GPU-1's events are not its */
	expect_problem(w, b, "the event reaches none of the bundle's devices");
	b->pb.device = "GPU-2";
	expect_problem(w, b, "device GPU-2: no event of the bundle names it");
	free(b);
	b = bundle_new(w);
	bundle_drop(b, E_FAC_JP);
	expect_problem(w, b, "facility jp-1 has no registration in the bundle");
	free(b);
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_bundle),
	    cmocka_unit_test(test_shipment_and_facility_subjects),
	    cmocka_unit_test(test_every_byte_matters),
	    cmocka_unit_test(test_missing_register),
	    cmocka_unit_test(test_broken_prev),
	    cmocka_unit_test(test_dropped_event),
	    cmocka_unit_test(test_signer_not_actor),
	    cmocka_unit_test(test_key_validity_and_admin_keys),
	    cmocka_unit_test(test_key_revocations),
	    cmocka_unit_test(test_proof_for_wrong_index),
	    cmocka_unit_test(test_quorum),
	    cmocka_unit_test(test_unknown_witness_bad_cosignature),
	    cmocka_unit_test(test_checkpoint_keys),
	    cmocka_unit_test(test_file_framing),
	    cmocka_unit_test(test_nothing_extra),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
