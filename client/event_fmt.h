/*
 * event_fmt.h - how custodyctl shows a custody Event: as JSON, as a
 * key/value block with a device table, and as the one-cell summary of the
 * history table's DETAIL column. Shared by the event commands (--dry-run)
 * and history (which decodes each signed event it receives).
 */
#ifndef CUSTODY_CLIENT_EVENT_FMT_H
#define CUSTODY_CLIENT_EVENT_FMT_H

#include <stddef.h>
#include <stdio.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "out.h"

/* Writes ev (borrowed) as one JSON object value. */
void event_fmt_json(struct out_json *j, const Custody__Event *ev);

/* Prints ev (borrowed) for people to f: its fields, then its devices. */
CU_MUST_USE int event_fmt_print(const Custody__Event *ev, FILE *f);

/*
 * Writes what ev did to the device serial (borrowed) in a few words into
 * out: "→ jp-1" for a SHIP, "into SRV-1" for a PACK, the location of an
 * INSTALL, the reason of a REPORT...
 */
void event_fmt_detail(const Custody__Event *ev, const char *serial, char *out, size_t size);

#endif
