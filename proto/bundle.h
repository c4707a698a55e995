/*
 * bundle.h - proof bundles: a self-contained, offline-checkable record of a
 * device's (or a shipment's, or a facility's) custody (DESIGN section 5,
 * docs/bundle.md).
 *
 * A bundle file is the line BUNDLE_MAGIC followed by the canonical
 * protobuf serialization of a ProofBundle (custody.proto): the events and
 * the registrations of their signers' keys and facilities, as log entries
 * with RFC 9162 inclusion proofs, a checkpoint signed by the log and the
 * witnesses' cosignatures of it. custodyctl prove writes one and
 * custodyctl verify checks it with bundle_verify, which trusts nothing but
 * the keys it is given: the log's key, the witnesses' keys and, if any,
 * the admin keys.
 *
 * Pure: no I/O. bundle_verify parses a byte buffer and returns a report
 * (every problem found, and the custody path of each device) that owns
 * everything it points to.
 */
#ifndef CUSTODY_BUNDLE_H
#define CUSTODY_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "envelope.h"
#include "key.h"
#include "note.h"

#define BUNDLE_MAGIC	 "custody proof bundle v1\n"
#define BUNDLE_MAGIC_LEN (sizeof(BUNDLE_MAGIC) - 1)
/* Largest bundle file bundle_verify reads. */
#define BUNDLE_MAX_BYTES ((size_t)1 << 30)
/* Problems a report keeps word for word; later ones are only counted. */
#define BUNDLE_MAX_PROBLEMS 200

/* What bundle_verify checks the bundle against. All borrowed. */
struct bundle_keys {
	const struct note_verifier *log;       /* the log's key (type 0x01) */
	const struct note_verifier *witnesses; /* witness keys (type 0x04) */
	size_t n_witnesses;
	size_t quorum; /* cosignatures of those witnesses that must verify */
	/* If n_admin_keys > 0, every registration must be signed by one of them. */
	const uint8_t (*admin_keys)[KEY_PUBLIC_BYTES];
	size_t n_admin_keys;
};

/* A cosignature in the bundle; key_text borrows the bundle. */
struct bundle_cosigner {
	const char *key_text;	  /* its verifier key as written */
	struct note_verifier key; /* parsed (name empty if it did not parse) */
	uint64_t timestamp;	  /* seconds since the epoch, as cosigned */
	bool verified;
	bool required; /* one of bundle_keys.witnesses */
};

/* One logged event of the bundle; ev borrows the report. */
struct bundle_event {
	uint64_t index; /* its leaf in the log */
	uint8_t id[ENVELOPE_ID_BYTES];
	const Custody__Event *ev; /* the signed event */
	const uint8_t *signer;	  /* 32 bytes */
	Custody__Verdict verdict;
	int64_t recorded_at_ms;
	const char *country;	/* of ev->facility; "" if none or not registered */
	const char *to_country; /* of ev->to_facility, likewise */
};

/* An event reaching a device: directly, or through the container via. */
struct bundle_step {
	const struct bundle_event *event;
	const char *via; /* NULL when the event names the device */
};

/* A device whose chain the bundle carries. */
struct bundle_device {
	const char *serial;
	Custody__DeviceKind kind;
	const char *model;
	bool subject;		   /* what the bundle is about (else a container of one) */
	struct bundle_step *steps; /* every event reaching it, in log order */
	size_t n_steps;
	/* Where its last bundled event leaves it. */
	const char *facility;
	const char *country;
	Custody__DeviceStatus status;
	const char *destination; /* IN_TRANSIT / IN_REPAIR: heading to; else "" */
	const char *destination_country;
};

struct bundle_state;

/* The outcome of bundle_verify. */
struct bundle_report {
	bool verified; /* every check held (n_problems == 0) */
	char **problems;
	size_t n_problems;
	size_t n_more_problems; /* found beyond BUNDLE_MAX_PROBLEMS */

	/* The subject: which of the three is set says its kind. */
	const char *device;	 /* borrowed from the bundle, or NULL */
	const uint8_t *shipment; /* 32 bytes, or NULL */
	const char *facility;	 /* likewise */

	/* The checkpoint (zero if it could not be read). */
	char origin[NOTE_NAME_MAX + 1];
	uint64_t tree_size;
	uint8_t root[NOTE_CHECKPOINT_ROOT_BYTES];

	struct bundle_cosigner *cosigners;
	size_t n_cosigners;
	size_t n_required_cosigned; /* distinct required witnesses whose cosignature verified */
	size_t quorum;

	size_t n_entries, n_events, n_rejected, n_registrations;
	uint8_t (*admin_signers)[KEY_PUBLIC_BYTES]; /* distinct signers of the registrations */
	size_t n_admin_signers;

	/* Subject devices first, then the containers, each group by serial. */
	struct bundle_device *devices;
	size_t n_devices;

	struct bundle_state *state; /* private: what the pointers above point into */
};

/*
 * Writes the bundle file of b (borrowed): BUNDLE_MAGIC and b packed. *out
 * (malloc'd, owned by the caller) gets *out_len bytes. CU_ERR_NOMEM.
 */
CU_MUST_USE int bundle_encode(const Custody__ProofBundle *b, uint8_t **out, size_t *out_len);

/*
 * Checks the bundle file data (len bytes, borrowed only for the call)
 * against keys: the encoding, the checkpoint and its cosignatures, every
 * entry's inclusion proof and signature, the registrations, each device's
 * chain from its REGISTER, and that every entry is one the subject needs.
 * Returns CU_OK if everything holds, CU_ERR_INVALID if not (the report
 * lists why), CU_ERR_NOMEM. In the first two cases *out is a new report
 * owned by the caller (bundle_report_free).
 */
CU_MUST_USE int bundle_verify(const uint8_t *data, size_t len, const struct bundle_keys *keys,
			      struct bundle_report **out);

/* Frees a report and everything it owns; accepts NULL. */
void bundle_report_free(struct bundle_report *r);

#endif
