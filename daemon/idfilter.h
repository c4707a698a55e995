/*
 * idfilter.h - which event ids may already be stored.
 *
 * Every batch asks PostgreSQL whether any of its events was stored before
 * (a resent request is answered with what it got the first time). Almost
 * none ever was, and the lookup cost the sequencer's one writing backend
 * 3.5 us an event (docs/benchmarks.md). The filter answers "certainly not
 * stored" for nearly every new id, so only the few it cannot rule out are
 * looked up: a Bloom filter of the ids of every stored event, filled by
 * the start-up check of the log (which reads every entry) and by every
 * committed batch after it.
 *
 * It never says "not stored" of an id it was given; it says "maybe" of
 * about 1 in 100 others (10 bits and 7 probes an id, while within its
 * capacity). Past its capacity it adds a layer twice as large, so the rate
 * stays bounded without reading the stored ids again. The ids are
 * SHA-256 outputs (envelope_id), so their bytes serve as the hashes; a
 * client that grinds bodies to collide with the filter only buys itself a
 * lookup.
 */
#ifndef CUSTODY_IDFILTER_H
#define CUSTODY_IDFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"

struct idfilter;

/* A filter sized for capacity ids (at least a minimum), or NULL when out of memory. */
struct idfilter *idfilter_new(uint64_t capacity);

/* Frees it; accepts NULL. */
void idfilter_free(struct idfilter *f);

/* Adds id; CU_ERR_NOMEM when a new layer cannot be had (f is unchanged then). */
CU_MUST_USE int idfilter_add(struct idfilter *f, const uint8_t id[32]);

/* False only if id was certainly never added. */
bool idfilter_maybe(const struct idfilter *f, const uint8_t id[32]);

/* Ids added, and the bytes the filter holds. */
uint64_t idfilter_count(const struct idfilter *f);
size_t idfilter_bytes(const struct idfilter *f);

#endif
