/*
 * bundle.c - proof bundle files and their verification, up to the devices
 * (see bundle.h; bundle_path.c replays the events).
 *
 * The order of the checks follows what each needs: the file must decode
 * (else nothing else can be said), then the checkpoint gives the root and
 * the text the cosignatures cover, each entry is proven against the root
 * and decoded, the registrations make the registry, and the events are
 * checked against it. Every check that fails adds a problem and the
 * others go on, so one run lists everything that is wrong; only a file
 * that does not decode stops early.
 *
 * Strictness is the point: a bundle is accepted only in the exact
 * encoding custodyctl prove writes (canonical protobuf, no unknown field),
 * so no byte of the file can change without verification failing, and it
 * may carry nothing its subject does not need.
 */
#include "bundle_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enums.h"
#include "merkle.h"
#include "validate.h"

#define ERR_MAX 256

int bundle_encode(const Custody__ProofBundle *b, uint8_t **out, size_t *out_len)
{
	size_t len = custody__proof_bundle__get_packed_size(b);
	uint8_t *buf = malloc(BUNDLE_MAGIC_LEN + len + 1);

	if (buf == NULL)
		return CU_ERR_NOMEM;
	memcpy(buf, BUNDLE_MAGIC, BUNDLE_MAGIC_LEN);
	custody__proof_bundle__pack(b, buf + BUNDLE_MAGIC_LEN);
	*out = buf;
	*out_len = BUNDLE_MAGIC_LEN + len;
	return CU_OK;
}

void bundle_problem(struct bundle_report *r, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	int n;

	r->verified = false;
	if (r->n_problems >= BUNDLE_MAX_PROBLEMS) {
		r->n_more_problems++;
		return;
	}
	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		r->state->nomem = true;
		r->n_more_problems++;
		return;
	}
	r->problems[r->n_problems++] = text;
}

/* ---- the file ------------------------------------------------------------ */

/* The message field f of m (borrowed): the n_out messages it holds. */
static ProtobufCMessage *const *sub_messages(const ProtobufCMessage *m,
					     const ProtobufCFieldDescriptor *f, size_t *n_out)
{
	const char *base = (const char *)m;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		*n_out = *(const size_t *)(const void *)(base + f->quantifier_offset);
		return *(ProtobufCMessage *const *const *)(const void *)(base + f->offset);
	}
	/* A oneof member shares its storage with the others: is it the one set? */
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id) {
		*n_out = 0;
		return NULL;
	}
	*n_out = *(ProtobufCMessage *const *)(const void *)(base + f->offset) != NULL;
	return (ProtobufCMessage *const *)(const void *)(base + f->offset);
}

/*
 * Whether m (borrowed) or any message inside it kept fields its
 * descriptor does not know. protobuf-c keeps them and packs them again, so
 * the canonical check alone would let them through.
 */
static bool has_unknown_fields(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (m->n_unknown_fields > 0)
		return true;
	for (unsigned i = 0; i < d->n_fields; i++) {
		ProtobufCMessage *const *sub;
		size_t n = 0;

		if (d->fields[i].type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		sub = sub_messages(m, &d->fields[i], &n);
		for (size_t k = 0; k < n; k++) {
			if (has_unknown_fields(sub[k]))
				return true;
		}
	}
	return false;
}

/*
 * CU_OK if m packs to exactly the len bytes at data, CU_ERR_INVALID if
 * not, CU_ERR_NOMEM.
 */
static int canonical(const ProtobufCMessage *m, const uint8_t *data, size_t len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf;
	int rc;

	if (n != len)
		return CU_ERR_INVALID;
	buf = malloc(n + 1);
	if (buf == NULL)
		return CU_ERR_NOMEM;
	protobuf_c_message_pack(m, buf);
	rc = n == 0 || memcmp(buf, data, n) == 0 ? CU_OK : CU_ERR_INVALID;
	free(buf);
	return rc;
}

/* Decodes the file into st->pb; a file that does not decode is one problem. */
static int parse_file(struct bundle_report *r, const uint8_t *data, size_t len)
{
	Custody__ProofBundle *pb;
	int rc;

	if (len > BUNDLE_MAX_BYTES) {
		bundle_problem(r, "the file is larger than %zu bytes", BUNDLE_MAX_BYTES);
		return CU_OK;
	}
	if (len < BUNDLE_MAGIC_LEN || memcmp(data, BUNDLE_MAGIC, BUNDLE_MAGIC_LEN) != 0) {
		bundle_problem(r, "not a custody proof bundle (the first line must be \"%.*s\")",
			       (int)BUNDLE_MAGIC_LEN - 1, BUNDLE_MAGIC);
		return CU_OK;
	}
	pb = custody__proof_bundle__unpack(NULL, len - BUNDLE_MAGIC_LEN, data + BUNDLE_MAGIC_LEN);
	if (pb == NULL) {
		bundle_problem(r, "the bundle does not decode as a ProofBundle");
		return CU_OK;
	}
	r->state->pb = pb;
	if (has_unknown_fields(&pb->base)) {
		bundle_problem(r, "the bundle has fields this verifier does not know");
		return CU_OK;
	}
	rc = canonical(&pb->base, data + BUNDLE_MAGIC_LEN, len - BUNDLE_MAGIC_LEN);
	if (rc == CU_ERR_INVALID)
		bundle_problem(r, "the bundle is not in the canonical encoding (or has bytes "
				  "after it)");
	return rc == CU_ERR_INVALID ? CU_OK : rc;
}

/* ---- checkpoint and cosignatures ------------------------------------------- */

/* Length of the signed text of a note (up to its last blank line), or 0. */
static size_t note_text_len(const char *note, size_t len)
{
	for (size_t i = len; i >= 2; i--) {
		if (note[i - 2] == '\n' && note[i - 1] == '\n')
			return i - 1;
	}
	return 0;
}

/* Checks the log's signature: exactly one signature line, the log key's. */
static void check_log_signature(struct bundle_report *r, const struct bundle_keys *keys,
				const char *note, size_t len)
{
	struct note_opened *op = malloc(sizeof(*op));
	char err[ERR_MAX] = "";
	size_t lines = 0;

	if (op == NULL) {
		r->state->nomem = true;
		return;
	}
	if (note_open(note, len, keys->log, 1, op, err, sizeof(err)) != CU_OK) {
		bundle_problem(r, "checkpoint: %s", err);
	} else {
		for (size_t i = op->text_len + 1; i < len; i++)
			lines += note[i] == '\n';
		if (lines != 1)
			bundle_problem(r,
				       "checkpoint: it carries signature lines besides the log's "
				       "(cosignatures belong in the bundle's cosignatures)");
	}
	free(op);
}

/*
 * Checks the checkpoint note and fills r's origin, size and root. *text
 * and *text_len get the checkpoint body (empty if there is none) and
 * *have_root whether the root can be used to check proofs.
 */
static void check_checkpoint(struct bundle_report *r, const struct bundle_keys *keys,
			     const char **text, size_t *text_len, bool *have_root)
{
	const char *note = r->state->pb->checkpoint;
	size_t len = strlen(note);
	struct note_checkpoint cp;
	char err[ERR_MAX] = "";

	*have_root = false;
	*text = note;
	*text_len = note_text_len(note, len);
	check_log_signature(r, keys, note, len);
	if (*text_len == 0)
		return; /* note_open said why */
	if (note_checkpoint_parse(note, *text_len, &cp, err, sizeof(err)) != CU_OK) {
		bundle_problem(r, "checkpoint: %s", err);
		return;
	}
	*have_root = true;
	r->tree_size = cp.size;
	memcpy(r->root, cp.root, sizeof(r->root));
	if (cp.origin_len > NOTE_NAME_MAX) {
		bundle_problem(r, "checkpoint: the origin is longer than %d bytes", NOTE_NAME_MAX);
		return;
	}
	memcpy(r->origin, cp.origin, cp.origin_len);
	r->origin[cp.origin_len] = '\0';
	if (cp.origin_len != keys->log->name_len ||
	    memcmp(cp.origin, keys->log->name, cp.origin_len) != 0)
		bundle_problem(r, "checkpoint: its origin \"%s\" is not the log key's name \"%s\"",
			       r->origin, keys->log->name);
}

static bool same_key(const struct note_verifier *a, const struct note_verifier *b)
{
	return a->type == b->type && a->key_id == b->key_id && a->name_len == b->name_len &&
	       memcmp(a->name, b->name, a->name_len) == 0 &&
	       memcmp(a->pk, b->pk, sizeof(a->pk)) == 0;
}

/* Checks cosignature i against the checkpoint body; fills r->cosigners[i]. */
static void check_cosignature(struct bundle_report *r, const struct bundle_keys *keys, size_t i,
			      const char *text, size_t text_len)
{
	const Custody__Cosignature *c = r->state->pb->cosignatures[i];
	struct bundle_cosigner *w = &r->cosigners[i];
	char err[ERR_MAX] = "";

	w->key_text = c->witness_key;
	if (note_verifier_parse(c->witness_key, &w->key, err, sizeof(err)) != CU_OK) {
		memset(&w->key, 0, sizeof(w->key));
		bundle_problem(r, "cosignature %zu: witness key: %s", i + 1, err);
		return;
	}
	for (size_t k = 0; k < i; k++) {
		if (same_key(&r->cosigners[k].key, &w->key)) {
			bundle_problem(r, "cosignature %zu: witness %s cosigned twice", i + 1,
				       w->key.name);
			return;
		}
	}
	if (text_len == 0) {
		bundle_problem(r, "cosignature %zu (%s): no checkpoint to check it against", i + 1,
			       w->key.name);
		return;
	}
	if (note_cosig_verify(text, text_len, &w->key, c->signature, strlen(c->signature),
			      &w->timestamp, err, sizeof(err)) != CU_OK) {
		bundle_problem(r, "cosignature %zu (%s): %s", i + 1, w->key.name, err);
		return;
	}
	w->verified = true;
	for (size_t k = 0; k < keys->n_witnesses; k++)
		w->required |= same_key(&keys->witnesses[k], &w->key);
	r->n_required_cosigned += w->required;
}

/* Checks every cosignature and the quorum. */
static int check_cosignatures(struct bundle_report *r, const struct bundle_keys *keys,
			      const char *text, size_t text_len)
{
	const Custody__ProofBundle *pb = r->state->pb;

	r->quorum = keys->quorum;
	if (pb->n_cosignatures > 0) {
		r->cosigners = calloc(pb->n_cosignatures, sizeof(*r->cosigners));
		if (r->cosigners == NULL)
			return CU_ERR_NOMEM;
		r->n_cosigners = pb->n_cosignatures;
	}
	for (size_t i = 0; i < pb->n_cosignatures; i++)
		check_cosignature(r, keys, i, text, text_len);
	if (r->n_required_cosigned < keys->quorum)
		bundle_problem(r,
			       "checkpoint: %zu of the given witnesses cosigned it, %zu are "
			       "required",
			       r->n_required_cosigned, keys->quorum);
	return CU_OK;
}

/* ---- entries ----------------------------------------------------------------- */

/* Checks the inclusion proof of entry i against the checkpoint root. */
static void check_inclusion(struct bundle_report *r, size_t i)
{
	const Custody__BundleEntry *be = r->state->pb->entries[i];
	uint8_t proof[MERKLE_PROOF_MAX * MERKLE_HASH_SIZE], leaf[MERKLE_HASH_SIZE];
	unsigned long long index = be->index;

	if (be->index >= r->tree_size) {
		bundle_problem(r, "entry %llu: not in the checkpoint's tree of %" PRIu64 " entries",
			       index, r->tree_size);
		return;
	}
	if (be->n_proof > MERKLE_PROOF_MAX) {
		bundle_problem(r, "entry %llu: the inclusion proof is too long", index);
		return;
	}
	for (size_t k = 0; k < be->n_proof; k++) {
		if (be->proof[k].len != MERKLE_HASH_SIZE) {
			bundle_problem(r, "entry %llu: inclusion proof hash %zu is not 32 bytes",
				       index, k + 1);
			return;
		}
		memcpy(proof + k * MERKLE_HASH_SIZE, be->proof[k].data, MERKLE_HASH_SIZE);
	}
	merkle_leaf_hash(be->entry.data, be->entry.len, leaf);
	if (merkle_verify_inclusion(leaf, be->index, r->tree_size, proof, be->n_proof, r->root) !=
	    CU_OK)
		bundle_problem(r, "entry %llu: inclusion proof does not match the checkpoint root",
			       index);
}

/*
 * Verifies the envelope of entry e under kind and decodes its body as a
 * desc message (owned by the caller); NULL, with a problem, if either fails.
 */
static ProtobufCMessage *open_body(struct bundle_report *r, const struct bundle_entry *e,
				   enum envelope_kind kind, const ProtobufCMessageDescriptor *desc)
{
	const Custody__SignedEnvelope *env = e->log->envelope;
	unsigned long long index = e->index;
	ProtobufCMessage *m;
	int rc = envelope_verify(kind, env);

	if (rc == CU_ERR_INVALID) {
		bundle_problem(r, "entry %llu: malformed signed envelope", index);
		return NULL;
	}
	if (rc != CU_OK) {
		bundle_problem(r, "entry %llu: the %s's signature does not verify", index,
			       kind == ENVELOPE_EVENT ? "event" : "action");
		return NULL;
	}
	m = protobuf_c_message_unpack(desc, NULL, env->body.len, env->body.data);
	if (m == NULL)
		bundle_problem(r, "entry %llu: the signed body is not an %s", index,
			       desc->short_name);
	return m;
}

/* Decodes and checks the event of entry e (whose LogEntry decoded). */
static void decode_event(struct bundle_report *r, struct bundle_entry *e)
{
	const Custody__SignedEnvelope *env = e->log->envelope;
	unsigned long long index = e->index;
	char err[VALIDATE_ERR_MAX] = "";
	Custody__Verdict v = e->log->verdict;

	e->ev = (Custody__Event *)open_body(r, e, ENVELOPE_EVENT, &custody__event__descriptor);
	if (e->ev == NULL)
		return;
	if (validate_event(e->ev, 0, INT64_MAX, err, sizeof(err)) != CU_OK) {
		bundle_problem(r, "entry %llu: malformed event: %s", index, err);
		return;
	}
	if (v != CUSTODY__VERDICT__ACCEPT && v != CUSTODY__VERDICT__ACCEPT_WITH_ALERTS &&
	    v != CUSTODY__VERDICT__REJECT) {
		bundle_problem(r, "entry %llu: the event has no verdict", index);
		return;
	}
	e->event.index = e->index;
	envelope_id(env->body.data, env->body.len, e->event.id);
	e->event.ev = e->ev;
	e->event.signer = env->signer.data;
	e->event.verdict = v;
	e->event.recorded_at_ms = e->log->recorded_at_ms;
	e->event.country = "";
	e->event.to_country = "";
	e->is_event = true;
	e->rejected = v == CUSTODY__VERDICT__REJECT;
	e->ok = true;
	r->n_events++;
	r->n_rejected += e->rejected;
}

/* Decodes and checks the administrative action of entry e. */
static void decode_admin(struct bundle_report *r, struct bundle_entry *e)
{
	unsigned long long index = e->index;
	char err[VALIDATE_ERR_MAX] = "";

	e->act = (Custody__AdminAction *)open_body(r, e, ENVELOPE_ADMIN,
						   &custody__admin_action__descriptor);
	if (e->act == NULL)
		return;
	if (validate_admin(e->act, 0, INT64_MAX, err, sizeof(err)) != CU_OK) {
		bundle_problem(r, "entry %llu: malformed administrative action: %s", index, err);
		return;
	}
	if (e->log->verdict != 0 || e->log->n_rules != 0) {
		bundle_problem(r, "entry %llu: an administrative action with a verdict", index);
		return;
	}
	e->ok = true;
	r->n_registrations++;
}

/* Decodes entry i: the LogEntry (strictly), then its event or action. */
static int decode_entry(struct bundle_report *r, size_t i)
{
	const Custody__BundleEntry *be = r->state->pb->entries[i];
	struct bundle_entry *e = &r->state->entries[i];
	unsigned long long index = be->index;
	int rc;

	e->index = be->index;
	e->log = custody__log_entry__unpack(NULL, be->entry.len, be->entry.data);
	if (e->log == NULL) {
		bundle_problem(r, "entry %llu: not a LogEntry", index);
		return CU_OK;
	}
	if (has_unknown_fields(&e->log->base)) {
		bundle_problem(r, "entry %llu: the LogEntry has unknown fields", index);
		return CU_OK;
	}
	rc = canonical(&e->log->base, be->entry.data, be->entry.len);
	if (rc != CU_OK) {
		if (rc == CU_ERR_INVALID)
			bundle_problem(r, "entry %llu: the LogEntry is not canonically encoded",
				       index);
		return rc == CU_ERR_INVALID ? CU_OK : rc;
	}
	if (e->log->envelope == NULL)
		bundle_problem(r, "entry %llu: no signed envelope", index);
	else if (e->log->kind == CUSTODY__ENTRY_KIND__ENTRY_EVENT)
		decode_event(r, e);
	else if (e->log->kind == CUSTODY__ENTRY_KIND__ENTRY_ADMIN)
		decode_admin(r, e);
	else
		bundle_problem(r, "entry %llu: unknown entry kind %d", index, (int)e->log->kind);
	return CU_OK;
}

/* Proves and decodes every entry; indexes must increase. */
static int check_entries(struct bundle_report *r, bool have_root)
{
	struct bundle_state *st = r->state;
	int rc;

	st->n_entries = st->pb->n_entries;
	r->n_entries = st->n_entries;
	if (st->n_entries == 0)
		return CU_OK;
	st->entries = calloc(st->n_entries, sizeof(*st->entries));
	if (st->entries == NULL)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < st->n_entries; i++) {
		uint64_t index = st->pb->entries[i]->index;

		if (i > 0 && index <= st->pb->entries[i - 1]->index)
			bundle_problem(
			    r, "entry %" PRIu64 ": indexes must increase (it follows %" PRIu64 ")",
			    index, st->pb->entries[i - 1]->index);
		if (have_root)
			check_inclusion(r, i);
		rc = decode_entry(r, i);
		if (rc != CU_OK)
			return rc;
	}
	return CU_OK;
}

/* ---- the registry ---------------------------------------------------------------- */

static int cmp_key_reg(const void *a, const void *b)
{
	const struct bundle_reg *x = a, *y = b;

	return memcmp(x->key->pubkey.data, y->key->pubkey.data, KEY_PUBLIC_BYTES);
}

static int cmp_facility_reg(const void *a, const void *b)
{
	const struct bundle_reg *x = a, *y = b;

	return strcmp(x->facility->id, y->facility->id);
}

static int cmp_pk(const void *a, const void *b)
{
	return memcmp(a, b, KEY_PUBLIC_BYTES);
}

/* Files the registration of entry i, or reports an action a bundle has no use for. */
static void file_registration(struct bundle_report *r, size_t i)
{
	struct bundle_state *st = r->state;
	const Custody__AdminAction *act = st->entries[i].act;

	if (act->action_case == CUSTODY__ADMIN_ACTION__ACTION_REGISTER_KEY)
		st->keys[st->n_keys++] = (struct bundle_reg){act->register_key, NULL, i};
	else if (act->action_case == CUSTODY__ADMIN_ACTION__ACTION_REGISTER_FACILITY)
		st->facilities[st->n_facilities++] =
		    (struct bundle_reg){NULL, act->register_facility, i};
	else if (act->action_case == CUSTODY__ADMIN_ACTION__ACTION_ROTATE_KEY ||
		 act->action_case == CUSTODY__ADMIN_ACTION__ACTION_REVOKE_KEY)
		bundle_keys_file(st, i);
	else
		bundle_problem(r,
			       "entry %" PRIu64 ": a bundle carries only registrations of keys "
			       "and facilities, and changes of keys",
			       st->entries[i].index);
}

/* Reports registrations of the same key or facility. */
static void find_twice(struct bundle_report *r)
{
	const struct bundle_state *st = r->state;
	char pk[KEY_PUB_TEXT_MAX];

	for (size_t i = 1; i < st->n_keys; i++) {
		if (cmp_key_reg(&st->keys[i - 1], &st->keys[i]) != 0)
			continue;
		key_pub_format(st->keys[i].key->pubkey.data, pk);
		bundle_problem(r, "entry %" PRIu64 ": key %s is registered a second time",
			       st->entries[st->keys[i].entry].index, pk);
	}
	for (size_t i = 1; i < st->n_facilities; i++) {
		if (cmp_facility_reg(&st->facilities[i - 1], &st->facilities[i]) == 0)
			bundle_problem(r,
				       "entry %" PRIu64 ": facility %s is registered a second time",
				       st->entries[st->facilities[i].entry].index,
				       st->facilities[i].facility->id);
	}
}

static const struct bundle_reg *find_key(const struct bundle_state *st, const uint8_t *pk);

/*
 * Lists the distinct signers of the registrations; checks them against
 * --admin-key. A key's change signed by the key itself needs no admin if
 * the bundle registers that key (whose registration is checked in turn).
 */
static int collect_admin_signers(struct bundle_report *r, const struct bundle_keys *keys)
{
	const struct bundle_state *st = r->state;
	size_t n = 0;

	r->admin_signers = malloc((st->n_keys + st->n_facilities + 1) * KEY_PUBLIC_BYTES);
	if (r->admin_signers == NULL)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < st->n_entries; i++) {
		const struct bundle_entry *e = &st->entries[i];
		const uint8_t *pk = e->ok && !e->is_event ? e->log->envelope->signer.data : NULL;
		bool allowed =
		    keys->n_admin_keys == 0 ||
		    (pk != NULL && bundle_keys_self_signed(e) && find_key(st, pk) != NULL);
		char text[KEY_PUB_TEXT_MAX];

		if (pk == NULL)
			continue;
		for (size_t k = 0; k < keys->n_admin_keys; k++)
			allowed |= memcmp(keys->admin_keys[k], pk, KEY_PUBLIC_BYTES) == 0;
		key_pub_format(pk, text);
		if (!allowed)
			bundle_problem(r,
				       "entry %" PRIu64 ": signed by %s, not by a given admin key",
				       e->index, text);
		memcpy(r->admin_signers[n++], pk, KEY_PUBLIC_BYTES);
	}
	qsort(r->admin_signers, n, KEY_PUBLIC_BYTES, cmp_pk);
	for (size_t i = 0; i < n; i++) {
		if (r->n_admin_signers == 0 ||
		    cmp_pk(r->admin_signers[r->n_admin_signers - 1], r->admin_signers[i]) != 0)
			memmove(r->admin_signers[r->n_admin_signers++], r->admin_signers[i],
				KEY_PUBLIC_BYTES);
	}
	return CU_OK;
}

/* Builds the sorted key and facility registries from the admin entries. */
static int collect_registrations(struct bundle_report *r, const struct bundle_keys *keys)
{
	struct bundle_state *st = r->state;
	size_t n_admin = 0;

	for (size_t i = 0; i < st->n_entries; i++)
		n_admin += st->entries[i].ok && !st->entries[i].is_event;
	st->keys = calloc(n_admin + 1, sizeof(*st->keys));
	st->facilities = calloc(n_admin + 1, sizeof(*st->facilities));
	st->changes = calloc(n_admin + 1, sizeof(*st->changes));
	if (st->keys == NULL || st->facilities == NULL || st->changes == NULL)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < st->n_entries; i++) {
		if (st->entries[i].ok && !st->entries[i].is_event)
			file_registration(r, i);
	}
	qsort(st->keys, st->n_keys, sizeof(*st->keys), cmp_key_reg);
	qsort(st->facilities, st->n_facilities, sizeof(*st->facilities), cmp_facility_reg);
	bundle_keys_sort(st);
	find_twice(r);
	return collect_admin_signers(r, keys);
}

/* bsearch comparators: a key (the public key, the facility id) against a registration. */
static int cmp_pk_key_reg(const void *pk, const void *reg)
{
	return memcmp(pk, ((const struct bundle_reg *)reg)->key->pubkey.data, KEY_PUBLIC_BYTES);
}

static int cmp_id_facility_reg(const void *id, const void *reg)
{
	return strcmp(id, ((const struct bundle_reg *)reg)->facility->id);
}

/* The registration of key pk, or NULL. */
static const struct bundle_reg *find_key(const struct bundle_state *st, const uint8_t *pk)
{
	return bsearch(pk, st->keys, st->n_keys, sizeof(*st->keys), cmp_pk_key_reg);
}

/* The registration of facility id, or NULL. */
static const struct bundle_reg *find_facility(const struct bundle_state *st, const char *id)
{
	return bsearch(id, st->facilities, st->n_facilities, sizeof(*st->facilities),
		       cmp_id_facility_reg);
}

const char *bundle_country(const struct bundle_state *st, const char *id)
{
	const struct bundle_reg *f = id[0] != '\0' ? find_facility(st, id) : NULL;

	return f != NULL ? f->facility->country : "";
}

/* ---- events against the registry ----------------------------------------------- */

/* May a key of role sign an event of type? (As custodyd decides.) */
static bool role_may_sign(Custody__Role role, Custody__EventType type)
{
	if (role == CUSTODY__ROLE__DEVICE)
		return type == CUSTODY__EVENT_TYPE__ATTEST;
	return role == CUSTODY__ROLE__EXPORTER || role == CUSTODY__ROLE__OPERATOR ||
	       role == CUSTODY__ROLE__CARRIER;
}

/* An ATTEST signed by its device's own key, given at its REGISTER. */
static void check_device_signer(struct bundle_report *r, const struct bundle_entry *e,
				const char *pk)
{
	const struct bundle_state *st = r->state;
	const Custody__Event *ev = e->ev;
	const Custody__DeviceRef *reg = NULL;
	size_t at = BUNDLE_NONE;

	if (ev->type == CUSTODY__EVENT_TYPE__ATTEST)
		reg = bundle_device_register(st, ev->devices[0]->serial, &at);
	if (reg == NULL || at > (size_t)(e - st->entries) ||
	    reg->device_key.len != KEY_PUBLIC_BYTES ||
	    memcmp(reg->device_key.data, e->event.signer, KEY_PUBLIC_BYTES) != 0) {
		bundle_problem(r,
			       "entry %" PRIu64 ": signer key %s is not registered in the bundle",
			       e->index, pk);
		return;
	}
	if (strcmp(st->entries[at].ev->actor, ev->actor) != 0)
		bundle_problem(
		    r, "entry %" PRIu64 ": device %s attests for its owner %s, not for %s",
		    e->index, ev->devices[0]->serial, st->entries[at].ev->actor, ev->actor);
}

/* Is the event's signer registered to its actor, for it, at that time? */
static void check_signer(struct bundle_report *r, const struct bundle_entry *e)
{
	struct bundle_state *st = r->state;
	const struct bundle_reg *k = find_key(st, e->event.signer);
	const Custody__Event *ev = e->ev;
	char pk[KEY_PUB_TEXT_MAX];

	key_pub_format(e->event.signer, pk);
	if (k == NULL) {
		check_device_signer(r, e, pk);
		return;
	}
	st->entries[k->entry].needed = true;
	if (strcmp(k->key->party, ev->actor) != 0)
		bundle_problem(
		    r, "entry %" PRIu64 ": signer key %s belongs to %s, not to the actor %s",
		    e->index, pk, k->key->party, ev->actor);
	if (!role_may_sign(k->key->role, ev->type))
		bundle_problem(r, "entry %" PRIu64 ": a key of role %s cannot sign a %s event",
			       e->index, enum_name(&custody__role__descriptor, k->key->role),
			       enum_name(&custody__event_type__descriptor, ev->type));
	if (k->entry > (size_t)(e - st->entries))
		bundle_problem(r, "entry %" PRIu64 ": signed by key %s, registered only later",
			       e->index, pk);
	bundle_keys_check_validity(r, e, k);
}

/* The country of facility id named by entry e, marking its registration needed. */
static const char *facility_country(struct bundle_report *r, const struct bundle_entry *e,
				    const char *id)
{
	struct bundle_state *st = r->state;
	const struct bundle_reg *f;

	if (id[0] == '\0')
		return "";
	f = find_facility(st, id);
	if (f == NULL) {
		bundle_problem(r,
			       "entry %" PRIu64 ": facility %s has no registration in the bundle",
			       e->index, id);
		return "";
	}
	st->entries[f->entry].needed = true;
	return f->facility->country;
}

/* Checks every event's signer and facilities against the bundle's registry. */
static void check_events(struct bundle_report *r)
{
	struct bundle_state *st = r->state;

	for (size_t i = 0; i < st->n_entries; i++) {
		struct bundle_entry *e = &st->entries[i];

		if (!e->ok || !e->is_event)
			continue;
		check_signer(r, e);
		e->event.country = facility_country(r, e, e->ev->facility);
		e->event.to_country = facility_country(r, e, e->ev->to_facility);
	}
}

/* The subject facility must be registered in the bundle too. */
static void check_subject_facility(struct bundle_report *r)
{
	struct bundle_state *st = r->state;
	const struct bundle_reg *f;

	if (r->facility == NULL)
		return;
	f = find_facility(st, r->facility);
	if (f == NULL)
		bundle_problem(r, "facility %s (the subject) has no registration in the bundle",
			       r->facility);
	else
		st->entries[f->entry].needed = true;
}

/* Every registration must be one an event (or the subject) needs. */
static void check_needed_registrations(struct bundle_report *r)
{
	const struct bundle_state *st = r->state;
	char pk[KEY_PUB_TEXT_MAX];

	for (size_t i = 0; i < st->n_keys; i++) {
		if (st->entries[st->keys[i].entry].needed)
			continue;
		key_pub_format(st->keys[i].key->pubkey.data, pk);
		bundle_problem(r,
			       "entry %" PRIu64 ": registers key %s, which signs no event of the "
			       "bundle",
			       st->entries[st->keys[i].entry].index, pk);
	}
	for (size_t i = 0; i < st->n_facilities; i++) {
		if (!st->entries[st->facilities[i].entry].needed)
			bundle_problem(r,
				       "entry %" PRIu64
				       ": registers facility %s, which no event of "
				       "the bundle names",
				       st->entries[st->facilities[i].entry].index,
				       st->facilities[i].facility->id);
	}
}

/* ---- verify ---------------------------------------------------------------------- */

/* Notes the subject; a bundle without one says nothing. */
static void take_subject(struct bundle_report *r)
{
	const Custody__ProofBundle *pb = r->state->pb;

	switch (pb->subject_case) {
	case CUSTODY__PROOF_BUNDLE__SUBJECT_DEVICE:
		r->device = pb->device;
		break;
	case CUSTODY__PROOF_BUNDLE__SUBJECT_SHIPMENT:
		if (pb->shipment.len == ENVELOPE_ID_BYTES)
			r->shipment = pb->shipment.data;
		else
			bundle_problem(r, "the subject shipment id is not 32 bytes");
		break;
	case CUSTODY__PROOF_BUNDLE__SUBJECT_FACILITY:
		r->facility = pb->facility;
		break;
	default:
		bundle_problem(r, "the bundle names no subject");
	}
}

/* Everything after the file decoded. */
static int verify_content(struct bundle_report *r, const struct bundle_keys *keys)
{
	const char *text = NULL;
	size_t text_len = 0;
	bool have_root = false;
	int rc;

	take_subject(r);
	check_checkpoint(r, keys, &text, &text_len, &have_root);
	rc = check_cosignatures(r, keys, text, text_len);
	if (rc == CU_OK)
		rc = check_entries(r, have_root);
	if (rc == CU_OK)
		rc = collect_registrations(r, keys);
	if (rc == CU_OK)
		rc = bundle_devices_build(r->state);
	if (rc != CU_OK)
		return rc;
	check_events(r);
	check_subject_facility(r);
	rc = bundle_paths(r);
	if (rc == CU_OK) {
		check_needed_registrations(r);
		bundle_keys_check_needed(r);
	}
	return rc;
}

int bundle_verify(const uint8_t *data, size_t len, const struct bundle_keys *keys,
		  struct bundle_report **out)
{
	struct bundle_report *r = calloc(1, sizeof(*r));
	int rc = CU_ERR_NOMEM;

	*out = NULL;
	if (r == NULL)
		return CU_ERR_NOMEM;
	r->verified = true;
	r->state = calloc(1, sizeof(*r->state));
	r->problems = calloc(BUNDLE_MAX_PROBLEMS, sizeof(*r->problems));
	if (r->state == NULL || r->problems == NULL)
		goto fail;
	rc = parse_file(r, data, len);
	if (rc == CU_OK && r->verified)
		rc = verify_content(r, keys);
	if (rc == CU_OK && r->state->nomem)
		rc = CU_ERR_NOMEM;
	if (rc != CU_OK)
		goto fail;
	*out = r;
	return r->verified ? CU_OK : CU_ERR_INVALID;
fail:
	bundle_report_free(r);
	return rc;
}

void bundle_report_free(struct bundle_report *r)
{
	struct bundle_state *st;

	if (r == NULL)
		return;
	st = r->state;
	for (size_t i = 0; i < r->n_problems; i++)
		free(r->problems[i]);
	free(r->problems);
	free(r->cosigners);
	free(r->admin_signers);
	free(r->devices);
	if (st != NULL) {
		for (size_t i = 0; i < st->n_entries; i++) {
			custody__log_entry__free_unpacked(st->entries[i].log, NULL);
			custody__event__free_unpacked(st->entries[i].ev, NULL);
			custody__admin_action__free_unpacked(st->entries[i].act, NULL);
		}
		free(st->entries);
		free(st->keys);
		free(st->facilities);
		free(st->changes);
		bundle_devices_free(st->devs);
		custody__proof_bundle__free_unpacked(st->pb, NULL);
		free(st);
	}
	free(r);
}
