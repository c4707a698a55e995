/*
 * epcis.h - GS1 EPCIS 2.0 JSON-LD for custody events: the mapping table
 * (epcis_map.c), writing custody events as EPCIS events (epcis_write.c)
 * and reading an EPCIS document back into custody events (epcis_read.c).
 * docs/epcis.md is the user-facing description of all three.
 *
 * Identifiers are URNs of a custody namespace: devices
 * "urn:custody:device:SERIAL", facilities "urn:custody:facility:ID",
 * parties "urn:custody:party:ID", events "urn:custody:event:HEX". What
 * EPCIS has no field for travels in extension members of the JSON-LD
 * prefix "custody" (EPCIS_NS), e.g. "custody:type", "custody:signature".
 *
 * No I/O here: the writer writes to an out_json, the reader parses bytes
 * it is given, so the unit tests drive both directly.
 */
#ifndef CUSTODY_CLIENT_EPCIS_H
#define CUSTODY_CLIENT_EPCIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "out.h"

#define EPCIS_CONTEXT	      "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
#define EPCIS_NS	      "urn:custody:epcis:"
#define EPCIS_DEVICE_PREFIX   "urn:custody:device:"
#define EPCIS_FACILITY_PREFIX "urn:custody:facility:"
#define EPCIS_PARTY_PREFIX    "urn:custody:party:"
#define EPCIS_EVENT_PREFIX    "urn:custody:event:"
/* Room for any of our URIs: the longest prefix, a 64-character id, NUL. */
#define EPCIS_URI_MAX 96
/* Largest document import-epcis reads. */
#define EPCIS_MAX_DOCUMENT_BYTES (64u << 20)
/* Events one document may hold. */
#define EPCIS_MAX_EVENTS 100000

/* How one custody event type looks in EPCIS. */
struct epcis_step {
	Custody__EventType type;
	bool aggregation;	 /* AggregationEvent; else ObjectEvent */
	const char *action;	 /* "ADD", "OBSERVE" or "DELETE" */
	const char *biz_step;	 /* a CBV 2.0 business step, or a custody URI */
	const char *disposition; /* a CBV 2.0 disposition, or NULL */
};

/* The row of type (static), or NULL for types without one. */
const struct epcis_step *epcis_step_of(Custody__EventType type);

/* Rows in table order (static), i < epcis_step_count(). */
size_t epcis_step_count(void);
const struct epcis_step *epcis_step_at(size_t i);

/*
 * The CBV bare word of a business step, disposition or source/destination
 * type written in any of its spellings: "shipping",
 * "urn:epcglobal:cbv:bizstep:shipping", "https://ref.gs1.org/cbv/BizStep-
 * shipping" or "https://gs1.org/voc/BizStep-shipping" (vocab: "bizstep",
 * "disp" or "sdt"). Other URIs come back as they are. Borrowed from text.
 */
const char *epcis_cbv_word(const char *text, const char *vocab);

/* The disposition a REPORT of reason r gets. */
const char *epcis_report_disposition(Custody__ReportReason r);

/* Writes prefix followed by id into out (EPCIS_URI_MAX bytes). */
const char *epcis_uri(char out[EPCIS_URI_MAX], const char *prefix, const char *id);

/* What the server said about a stored event, beside its signed body. */
struct epcis_record {
	uint64_t seq;
	int64_t recorded_at_ms;
	const Custody__SignedEnvelope *envelope; /* borrowed; body, signer, sig */
	const ProtobufCBinaryData *event_id;	 /* borrowed; 32 bytes */
};

/*
 * Writes the opening of an EPCIS document (context, header, up to the
 * opening of eventList) created at now_ms. Then epcis_write_event for
 * each event, then epcis_write_end.
 */
void epcis_write_begin(struct out_json *j, int64_t now_ms);

/*
 * Writes ev (borrowed) as one EPCIS event; rec (borrowed) may be NULL
 * for an event that is not stored (no eventID, recordTime or signature).
 */
void epcis_write_event(struct out_json *j, const Custody__Event *ev,
		       const struct epcis_record *rec);

void epcis_write_end(struct out_json *j);

/* An EPCIS document read into custody events; opaque. */
struct epcis_doc;

/*
 * Reads the len bytes at text (borrowed) as an EPCIS 2.0 document and maps
 * every event to a custody Event, checking the whole document before
 * returning: on any problem nothing is returned and err says which event
 * and what ("event 3 (urn:...): bizStep \"picking\" is not imported").
 * The events have no actor and no prev yet (import fills them). *out is
 * owned by the caller (epcis_doc_free). Returns CU_ERR_INVALID for a bad
 * document, CU_ERR_TOO_BIG past the limits, CU_ERR_NOMEM.
 */
CU_MUST_USE int epcis_read(const char *text, size_t len, struct epcis_doc **out, char *err,
			   size_t err_size);

/* Number of events in doc. */
size_t epcis_doc_count(const struct epcis_doc *doc);

/*
 * Event i of doc (borrowed from doc; the caller may set its actor and
 * its devices' prev, pointing at storage that outlives doc's use).
 */
Custody__Event *epcis_doc_event(struct epcis_doc *doc, size_t i);

/* The eventID the document gave event i, or "" (borrowed from doc). */
const char *epcis_doc_event_name(const struct epcis_doc *doc, size_t i);

void epcis_doc_free(struct epcis_doc *doc);

#endif
