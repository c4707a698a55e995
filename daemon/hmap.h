/*
 * hmap.h - a hash map from byte-string keys to pointers.
 *
 * Keys are copied in; values are borrowed pointers the caller owns.
 * Hashing is SipHash (libsodium crypto_shorthash) under a random key per
 * process, because keys (serials, ids) come from the network and a fixed
 * hash would let a client flood one bucket.
 */
#ifndef CUSTODY_HMAP_H
#define CUSTODY_HMAP_H

#include <stddef.h>
#include <string.h>

#include "cu_err.h"

struct hmap;

/* A new empty map, or NULL when out of memory. */
struct hmap *hmap_new(void);

/* Frees the map and its key copies; calls free_value on each value if set. */
void hmap_free(struct hmap *map, void (*free_value)(void *value));

/*
 * Maps key to value, replacing (and returning in *old, if given) any
 * previous value. CU_ERR_NOMEM when growing fails (the map is unchanged).
 */
CU_MUST_USE int hmap_put(struct hmap *map, const void *key, size_t key_len, void *value,
			 void **old);

/* The value for key, or NULL. */
void *hmap_get(const struct hmap *map, const void *key, size_t key_len);

/* Removes key; returns its value or NULL if it was absent. */
void *hmap_remove(struct hmap *map, const void *key, size_t key_len);

/* Number of entries. */
size_t hmap_count(const struct hmap *map);

/*
 * Iteration: start with *pos = 0; each call returns the next value (and
 * its key, if key is not NULL) or NULL at the end. The map must not change
 * during iteration.
 */
void *hmap_next(const struct hmap *map, size_t *pos, const void **key, size_t *key_len);

/* Convenience for NUL-terminated string keys. */
static inline void *hmap_get_str(const struct hmap *map, const char *key)
{
	return hmap_get(map, key, strlen(key));
}

#endif
