/*
 * state.h - the device state machine: what each event type requires of
 * its devices and what it does to them (DESIGN section 4).
 *
 * Pure: it works on a working set of device rows the sequencer loaded for
 * one batch (the devices the batch names, plus everything inside them) and
 * never does I/O. The sequencer applies the batch's events in order, then
 * writes the dirty rows and the returned event-device links.
 *
 * Acting on a container acts on everything inside it; a contained device
 * can be acted on alone only by UNPACK, ATTEST and REPORT; nothing may
 * follow DESTROY, and only DESTROY may follow DECOMMISSION.
 */
#ifndef CUSTODY_STATE_H
#define CUSTODY_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "models.h"
#include "validate.h"

#define STATE_ID_BYTES 32

struct dev {
	char serial[VALIDATE_SERIAL_MAX + 1];
	Custody__DeviceKind kind;
	char model[VALIDATE_MODEL_MAX + 1];
	char eccn_class[MODELS_CLASS_MAX];
	int64_t tpp;
	uint8_t device_key[32];
	bool has_device_key;
	char owner[VALIDATE_ID_MAX + 1];
	char custodian[VALIDATE_ID_MAX + 1];
	Custody__DeviceStatus status;
	char facility[VALIDATE_ID_MAX + 1];
	char dest_facility[VALIDATE_ID_MAX + 1]; /* "" unless in transit or repair */
	char parent[VALIDATE_SERIAL_MAX + 1];	 /* "" when not inside a container */
	char location[VALIDATE_LOCATION_MAX + 1];
	uint8_t head_id[STATE_ID_BYTES]; /* last event of its own chain */
	uint64_t head_seq;
	uint64_t last_seq; /* last event that touched it, own or via */
	uint64_t registered_seq;
	int64_t last_at_ms;    /* when that last event occurred */
	int64_t seen_at_ms;    /* last INSTALL or ATTEST; 0 = never */
	uint64_t shipment_seq; /* the SHIP / RMA_OUT it is under way with */
	int64_t deadline_ms;   /* ... to be received by; 0 = none */

	/* Working-set bookkeeping, not stored. */
	bool is_new; /* registered in this batch: INSERT, not UPDATE */
	bool dirty;  /* changed in this batch */
	struct dev *first_child, *next_sibling;
};

/* One event-device link to store (event_devices row). */
struct state_link {
	char serial[VALIDATE_SERIAL_MAX + 1];
	uint64_t prev_seq;		   /* own chain: previous event; 0 if none */
	char via[VALIDATE_SERIAL_MAX + 1]; /* "" for the own chain */
};

/* A device's current head, returned with CONFLICT. */
struct state_head {
	char serial[VALIDATE_SERIAL_MAX + 1];
	uint8_t head_id[STATE_ID_BYTES];
};

/* Verdict of one event. code 0 means accepted. */
struct state_result {
	Custody__ErrorCode code;
	char message[256];
	char rule[48]; /* REJECTED: stable rule id */
	struct state_head *heads;
	size_t n_heads;
	struct state_link *links;
	size_t n_links;
};

/* What state_apply needs besides the event. */
struct state_ctx {
	const uint8_t *event_id;     /* 32 bytes */
	uint64_t seq;		     /* the sequence number the event will get */
	const struct models *models; /* in force when the event occurred */
	int64_t ship_deadline_ms;    /* SHIP without deadline_ms: due after this */
	int64_t rma_deadline_ms;     /* RMA_OUT without deadline_ms: due after this */
};

struct state_ws;

/* A new empty working set, or NULL. */
struct state_ws *state_ws_new(void);

/* Frees the set and its rows; accepts NULL. */
void state_ws_free(struct state_ws *ws);

/* Adds a copy of a stored row (bookkeeping fields are reset). */
CU_MUST_USE int state_ws_add(struct state_ws *ws, const struct dev *row);

/* Builds the parent/child links between loaded rows; call after adding. */
void state_ws_link(struct state_ws *ws);

/* The row for serial, or NULL; borrowed. */
struct dev *state_ws_get(const struct state_ws *ws, const char *serial);

/*
 * Iterates over all rows: start with *pos = 0; returns NULL at the end.
 */
struct dev *state_ws_next(const struct state_ws *ws, size_t *pos);

/*
 * Checks ev against the working set and, if it is valid, applies it:
 * res->code = 0 with the links to store, or an error code (NOT_FOUND,
 * CONFLICT with heads, REJECTED with a rule) and the set unchanged.
 * Returns CU_ERR_NOMEM if memory ran out (the set may then be partly
 * changed and must be discarded). ev must have passed validate_event.
 * The caller owns res and clears it with state_result_clear.
 */
CU_MUST_USE int state_apply(struct state_ws *ws, const Custody__Event *ev,
			    const struct state_ctx *ctx, struct state_result *res);

/*
 * Only the checks of state_apply: res->code 0 if ev could be applied. The
 * set is not changed.
 */
CU_MUST_USE int state_check(const struct state_ws *ws, const Custody__Event *ev,
			    const struct state_ctx *ctx, struct state_result *res);

/* Frees the arrays in res and zeroes it. */
void state_result_clear(struct state_result *res);

#endif
