/*
 * devcache.h - the sequencer's cache of device rows.
 *
 * custodyd's sequencer is the only writer of devices (DESIGN section 5),
 * so after a batch commits it knows the stored row of every device the
 * batch loaded or changed. The cache keeps those rows, up to a bound,
 * least recently used first out, so the next batch loads from PostgreSQL
 * only the devices it has not seen lately.
 *
 * A batch needs each named device with everything inside it. Every entry
 * keeps the serials of its children, and a lookup hits only when the
 * device and all its descendants are cached; otherwise the whole closure
 * is loaded from the database. Rows enter only from the working set of a
 * batch sent to be written (the sequencer clears the cache if that write
 * fails, so the next batch can be decided while it commits), which holds
 * the closure of everything it loaded, so the children lists are complete
 * when stored; an entry whose children may have changed without it (a
 * device moved out of it by a batch that did not load it) is dropped.
 */
#ifndef CUSTODY_DEVCACHE_H
#define CUSTODY_DEVCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"
#include "state.h"

struct devcache;

/* A cache of at most max rows (0: caches nothing), or NULL when out of memory. */
struct devcache *devcache_new(size_t max);

/* Frees the cache; accepts NULL. */
void devcache_free(struct devcache *c);

/* Forgets every row (the database may have changed behind us: resync). */
void devcache_clear(struct devcache *c);

/*
 * If serial and all its descendants are cached, adds their rows to ws
 * (not yet linked: call state_ws_link after adding) and sets *hit.
 * CU_ERR_NOMEM when ws cannot grow (ws is then to be discarded).
 */
CU_MUST_USE int devcache_fill(struct devcache *c, const char *serial, struct state_ws *ws,
			      bool *hit);

/*
 * Once the batch of ws is sent to be written: stores the row of every
 * device in ws as the batch left it. Out of memory only caches less.
 */
void devcache_store(struct devcache *c, const struct state_ws *ws);

/* Rows cached, and lookups since start that hit or missed. */
struct devcache_stats {
	size_t rows;
	uint64_t hits, misses;
};
void devcache_stats(const struct devcache *c, struct devcache_stats *out);

#endif
