/*
 * log_entry.c - a log leaf from its stored stub and its submission's
 * envelope (see log_entry.h).
 */
#include "log_entry.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pb.h"

const char *log_entry_fault_str(enum log_entry_fault fault)
{
	switch (fault) {
	case LOG_ENTRY_FAULT_NONE:
		return "no fault";
	case LOG_ENTRY_FAULT_STUB:
		return "the stored entry is no LogEntry";
	case LOG_ENTRY_FAULT_ROW:
		return "the stored entry's kind or seq differ from its row's";
	case LOG_ENTRY_FAULT_NO_ENVELOPE:
		return "no stored submission has its kind and seq";
	case LOG_ENTRY_FAULT_SIGNER:
		return "its submission's signer is not 32 bytes";
	case LOG_ENTRY_FAULT_SIG:
		return "its submission's signature is not 64 bytes";
	}
	return "unknown fault";
}

int log_entry_pack(const Custody__LogEntry *e, uint8_t **out, size_t *len)
{
	size_t n = custody__log_entry__get_packed_size(e);

	/* an empty message packs to 0 bytes: malloc(0) may return NULL */
	*out = malloc(n > 0 ? n : 1);
	if (*out == NULL)
		return CU_ERR_NOMEM;
	*len = custody__log_entry__pack(e, *out);
	return CU_OK;
}

/* A copy of the len bytes at data into *out, *out_len. CU_ERR_NOMEM. */
static int copy_bytes(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
	*out = malloc(len > 0 ? len : 1);
	if (*out == NULL)
		return CU_ERR_NOMEM;
	if (len > 0)
		memcpy(*out, data, len);
	*out_len = len;
	return CU_OK;
}

/*
 * CU_OK if e (an unpacked stub without envelope) packs back to exactly
 * the stored bytes, else CU_ERR_INVALID: a changed byte that protobuf-c
 * reads as the same message (a longer varint, fields out of order) is a
 * changed entry too. Unknown fields (a later LogEntry's) pack back as
 * they were, after the known ones. CU_ERR_NOMEM.
 */
static int check_canonical(const Custody__LogEntry *e, const uint8_t *stub, size_t stub_len)
{
	uint8_t *again = NULL;
	size_t len = 0;
	int rc;

	if (!pb_fields_valid(&e->base) || custody__log_entry__get_packed_size(e) != stub_len)
		return CU_ERR_INVALID;
	rc = log_entry_pack(e, &again, &len);
	if (rc == CU_OK && (len != stub_len || (len > 0 && memcmp(again, stub, len) != 0)))
		rc = CU_ERR_INVALID;
	free(again);
	return rc;
}

/* The envelope's lengths: CU_ERR_INVALID with *fault unless the row has what a leaf needs. */
static int check_envelope(const struct log_envelope *env, enum log_entry_fault *fault)
{
	if (env == NULL || (env->body == NULL && env->body_len > 0))
		*fault = LOG_ENTRY_FAULT_NO_ENVELOPE;
	else if (env->signer == NULL || env->signer_len != LOG_ENTRY_SIGNER_BYTES)
		*fault = LOG_ENTRY_FAULT_SIGNER;
	else if (env->sig == NULL || env->sig_len != LOG_ENTRY_SIG_BYTES)
		*fault = LOG_ENTRY_FAULT_SIG;
	return *fault == LOG_ENTRY_FAULT_NONE ? CU_OK : CU_ERR_INVALID;
}

/* Attaches env to the unpacked stub e and packs the whole entry. */
static int pack_with(Custody__LogEntry *e, const struct log_envelope *env, uint8_t **out,
		     size_t *len)
{
	Custody__SignedEnvelope se = CUSTODY__SIGNED_ENVELOPE__INIT;
	int rc;

	se.body.data = (uint8_t *)env->body;
	se.body.len = env->body_len;
	se.signer.data = (uint8_t *)env->signer;
	se.signer.len = env->signer_len;
	se.sig.data = (uint8_t *)env->sig;
	se.sig.len = env->sig_len;
	e->envelope = &se;
	rc = log_entry_pack(e, out, len);
	e->envelope = NULL; /* se is ours, not the unpacked message's */
	return rc;
}

/* A stub of the expected kind and seq: the leaf, its envelope attached. */
static int rebuild_stub(Custody__LogEntry *e, const uint8_t *stub, size_t stub_len,
			const struct log_envelope *env, uint8_t **out, size_t *len,
			enum log_entry_fault *fault)
{
	int rc = check_canonical(e, stub, stub_len);

	if (rc == CU_ERR_INVALID)
		*fault = LOG_ENTRY_FAULT_STUB;
	if (rc == CU_OK)
		rc = check_envelope(env, fault);
	if (rc == CU_OK)
		rc = pack_with(e, env, out, len);
	return rc;
}

int log_entry_rebuild(const uint8_t *stub, size_t stub_len, Custody__EntryKind kind, uint64_t seq,
		      const struct log_envelope *env, uint8_t **out, size_t *len,
		      enum log_entry_fault *fault)
{
	Custody__LogEntry *e;
	int rc = CU_ERR_INVALID;

	*out = NULL;
	*len = 0;
	*fault = LOG_ENTRY_FAULT_NONE;
	e = custody__log_entry__unpack(NULL, stub_len, stub);
	if (e == NULL) {
		*fault = LOG_ENTRY_FAULT_STUB;
		return CU_ERR_INVALID;
	}
	if (e->kind != kind || e->seq != seq)
		*fault = LOG_ENTRY_FAULT_ROW;
	else if (e->envelope != NULL) /* stored whole, before migration 011 */
		rc = copy_bytes(stub, stub_len, out, len);
	else
		rc = rebuild_stub(e, stub, stub_len, env, out, len, fault);
	custody__log_entry__free_unpacked(e, NULL);
	if (rc != CU_OK) {
		free(*out);
		*out = NULL;
		*len = 0;
	}
	return rc;
}
