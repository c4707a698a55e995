/*
 * idfilter.c - which event ids may already be stored (see idfilter.h).
 *
 * A list of Bloom filters, oldest first; ids go into the newest, and an id
 * is "maybe" if any layer has all its bits. A layer of m bits (a multiple
 * of 64) takes m / BITS_PER_ID ids; probe i of an id sets bit
 * (h1 + i * h2) mod m, with h1 and h2 two words of the id (double hashing).
 */
#include "idfilter.h"

#include <stdlib.h>
#include <string.h>

#define BITS_PER_ID  10
#define PROBES	     7
#define MIN_CAPACITY (1u << 16)

struct layer {
	uint64_t *bits;
	uint64_t m; /* bits */
	uint64_t capacity, count;
};

struct idfilter {
	struct layer *layers;
	size_t n;
	uint64_t count;
	size_t bytes;
};

/* Two 64-bit words of the id; h2 odd, so the probes of an id differ. */
static void id_words(const uint8_t id[32], uint64_t *h1, uint64_t *h2)
{
	memcpy(h1, id, sizeof(*h1));
	memcpy(h2, id + 8, sizeof(*h2));
	*h2 |= 1;
}

/* Appends a layer for at least capacity ids. */
static int add_layer(struct idfilter *f, uint64_t capacity)
{
	uint64_t m = (capacity * BITS_PER_ID + 63) / 64 * 64;
	struct layer *grown;
	uint64_t *bits;

	bits = calloc(m / 64, sizeof(*bits));
	if (bits == NULL)
		return CU_ERR_NOMEM;
	grown = realloc(f->layers, (f->n + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(bits);
		return CU_ERR_NOMEM;
	}
	f->layers = grown;
	f->layers[f->n++] =
	    (struct layer){.bits = bits, .m = m, .capacity = m / BITS_PER_ID, .count = 0};
	f->bytes += m / 8;
	return CU_OK;
}

struct idfilter *idfilter_new(uint64_t capacity)
{
	struct idfilter *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	if (add_layer(f, capacity > MIN_CAPACITY ? capacity : MIN_CAPACITY) != CU_OK) {
		free(f);
		return NULL;
	}
	return f;
}

void idfilter_free(struct idfilter *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++)
		free(f->layers[i].bits);
	free(f->layers);
	free(f);
}

int idfilter_add(struct idfilter *f, const uint8_t id[32])
{
	struct layer *l = &f->layers[f->n - 1];
	uint64_t h1, h2;

	if (l->count == l->capacity) {
		if (add_layer(f, l->capacity * 2) != CU_OK)
			return CU_ERR_NOMEM;
		l = &f->layers[f->n - 1];
	}
	id_words(id, &h1, &h2);
	for (uint64_t i = 0; i < PROBES; i++) {
		uint64_t bit = (h1 + i * h2) % l->m;

		l->bits[bit / 64] |= UINT64_C(1) << (bit % 64);
	}
	l->count++;
	f->count++;
	return CU_OK;
}

/* True if every probe of the id is set in l. */
static bool layer_has(const struct layer *l, uint64_t h1, uint64_t h2)
{
	for (uint64_t i = 0; i < PROBES; i++) {
		uint64_t bit = (h1 + i * h2) % l->m;

		if ((l->bits[bit / 64] & (UINT64_C(1) << (bit % 64))) == 0)
			return false;
	}
	return true;
}

bool idfilter_maybe(const struct idfilter *f, const uint8_t id[32])
{
	uint64_t h1, h2;

	id_words(id, &h1, &h2);
	for (size_t i = 0; i < f->n; i++) {
		if (layer_has(&f->layers[i], h1, h2))
			return true;
	}
	return false;
}

uint64_t idfilter_count(const struct idfilter *f)
{
	return f->count;
}

size_t idfilter_bytes(const struct idfilter *f)
{
	return f->bytes;
}
