/*
 * log_entry.h - a log leaf as stored and as hashed (DESIGN section 5).
 *
 * A leaf of the verifiable log is a LogEntry (proto/custody.proto): kind,
 * seq, the submission's SignedEnvelope exactly as submitted, recorded_at_ms,
 * verdict and rules. The envelope (body, signer, sig) is already stored in
 * the submission's own row (events or admin_actions, same kind and seq), so
 * log_entries.entry holds a stub: the same LogEntry packed without its
 * envelope (schema/011_log_stub.sql). Every reader rebuilds the leaf by
 * attaching the row's envelope and packing again; protobuf-c packs fields
 * in field-number order, so the bytes are exactly those the sequencer
 * packed and hashed (SHA-256(0x00 || entry), RFC 9162).
 *
 * An entry stored before migration 011 still carries its envelope: it is
 * the leaf as it is. Pure: no I/O.
 */
#ifndef CUSTODY_LOG_ENTRY_H
#define CUSTODY_LOG_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"

#define LOG_ENTRY_SIGNER_BYTES 32
#define LOG_ENTRY_SIG_BYTES    64

/* A submission's envelope as its row stores it (borrowed bytes). */
struct log_envelope {
	const uint8_t *body;
	size_t body_len;
	const uint8_t *signer;
	size_t signer_len;
	const uint8_t *sig;
	size_t sig_len;
};

/* Why a stored entry could not be rebuilt (with CU_ERR_INVALID). */
enum log_entry_fault {
	LOG_ENTRY_FAULT_NONE = 0,
	LOG_ENTRY_FAULT_STUB,	     /* the stored bytes are no LogEntry */
	LOG_ENTRY_FAULT_ROW,	     /* its kind or seq differ from the row's */
	LOG_ENTRY_FAULT_NO_ENVELOPE, /* no events or admin_actions row of that seq */
	LOG_ENTRY_FAULT_SIGNER,	     /* the row's signer is not 32 bytes */
	LOG_ENTRY_FAULT_SIG,	     /* the row's signature is not 64 bytes */
};

/* A static description of fault. */
const char *log_entry_fault_str(enum log_entry_fault fault);

/* e packed into a new buffer (*out, *len; the caller frees it). CU_ERR_NOMEM. */
CU_MUST_USE int log_entry_pack(const Custody__LogEntry *e, uint8_t **out, size_t *len);

/*
 * The leaf bytes of a stored entry: stub (stub_len bytes, from the row of
 * kind and seq) must be a LogEntry of that kind and seq; without an
 * envelope, env's is attached (env NULL: the submission's row is missing)
 * and it is packed again; with one (stored before migration 011) it is the
 * leaf as it is. *out is a new buffer of *len bytes (the caller frees it).
 * CU_ERR_INVALID with *fault saying why; CU_ERR_NOMEM.
 */
CU_MUST_USE int log_entry_rebuild(const uint8_t *stub, size_t stub_len, Custody__EntryKind kind,
				  uint64_t seq, const struct log_envelope *env, uint8_t **out,
				  size_t *len, enum log_entry_fault *fault);

#endif
