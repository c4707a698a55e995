/*
 * devcache.c - the sequencer's cache of device rows (see devcache.h).
 *
 * A hash map from serial to entry, and a doubly linked LRU list through
 * the entries (most recent first). An entry is the row (bookkeeping
 * fields cleared) and its children's serials, NUL-separated in one block.
 */
#include "devcache.h"

#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "lru.h"

struct entry {
	struct lru_node lru; /* first: a node is its entry (lru.h) */
	struct dev row;
	char *children; /* n_children NUL-terminated serials, back to back */
	size_t n_children;
};

struct devcache {
	struct hmap *map; /* serial -> entry */
	struct lru lru;
	size_t count, max;
	uint64_t hits, misses;
};

struct devcache *devcache_new(size_t max)
{
	struct devcache *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->map = hmap_new()) == NULL) {
		free(c);
		return NULL;
	}
	c->max = max;
	return c;
}

static void entry_free(void *p)
{
	struct entry *e = p;

	if (e != NULL)
		free(e->children);
	free(e);
}

void devcache_clear(struct devcache *c)
{
	if (c == NULL)
		return;
	for (struct lru_node *n = c->lru.head, *next; n != NULL; n = next) {
		struct entry *e = (struct entry *)n;

		next = n->next;
		hmap_remove(c->map, e->row.serial, strlen(e->row.serial));
		entry_free(e);
	}
	c->lru.head = c->lru.tail = NULL;
	c->count = 0;
}

void devcache_free(struct devcache *c)
{
	if (c == NULL)
		return;
	devcache_clear(c);
	hmap_free(c->map, NULL);
	free(c);
}

static void drop(struct devcache *c, const char *serial)
{
	struct entry *e = hmap_remove(c->map, serial, strlen(serial));

	if (e == NULL)
		return;
	lru_unlink(&c->lru, &e->lru);
	entry_free(e);
	c->count--;
}

/* Appends the entry of serial to *out (grown as needed); false if it is not cached. */
static bool collect(struct devcache *c, const char *serial, struct entry ***out, size_t *n,
		    size_t *cap, bool *nomem)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct entry **p = realloc(*out, ncap * sizeof(*p));

		if (p == NULL) {
			*nomem = true;
			return false;
		}
		*out = p;
		*cap = ncap;
	}
	if (((*out)[*n] = hmap_get_str(c->map, serial)) == NULL)
		return false;
	(*n)++;
	return true;
}

/*
 * Collects serial's entry and its descendants' into *out, breadth-first
 * (containment is a tree); false if one is missing.
 */
static bool closure(struct devcache *c, const char *serial, struct entry ***out, size_t *n,
		    size_t *cap, bool *nomem)
{
	if (!collect(c, serial, out, n, cap, nomem))
		return false;
	for (size_t i = 0; i < *n; i++) {
		const char *child = (*out)[i]->children;

		for (size_t k = 0; k < (*out)[i]->n_children; k++, child += strlen(child) + 1) {
			if (!collect(c, child, out, n, cap, nomem))
				return false;
		}
	}
	return true;
}

int devcache_fill(struct devcache *c, const char *serial, struct state_ws *ws, bool *hit)
{
	struct entry **found = NULL;
	size_t n = 0, cap = 0;
	bool nomem = false;
	int rc = CU_OK;

	*hit = false;
	if (c->max == 0 || !closure(c, serial, &found, &n, &cap, &nomem)) {
		free(found);
		c->misses++;
		return nomem ? CU_ERR_NOMEM : CU_OK;
	}
	for (size_t i = 0; i < n && rc == CU_OK; i++) {
		rc = state_ws_add(ws, &found[i]->row);
		lru_touch(&c->lru, &found[i]->lru);
	}
	free(found);
	c->hits++;
	*hit = rc == CU_OK;
	return rc;
}

/* The NUL-separated serials of d's children in the working set. */
static char *children_of(const struct dev *d, size_t *count)
{
	size_t len = 0, n = 0;
	char *out, *p;

	for (const struct dev *k = d->first_child; k != NULL; k = k->next_sibling) {
		len += strlen(k->serial) + 1;
		n++;
	}
	if ((out = malloc(len > 0 ? len : 1)) == NULL)
		return NULL;
	p = out;
	for (const struct dev *k = d->first_child; k != NULL; k = k->next_sibling) {
		size_t l = strlen(k->serial) + 1;

		memcpy(p, k->serial, l);
		p += l;
	}
	*count = n;
	return out;
}

/* Stores one row of a committed working set; false when out of memory. */
static bool store_one(struct devcache *c, const struct state_ws *ws, const struct dev *d)
{
	struct entry *e = hmap_get_str(c->map, d->serial);
	size_t n = 0;
	char *children = children_of(d, &n);

	if (children == NULL)
		return false;
	/* A parent the batch did not load may have lost or gained this child. */
	if (e != NULL && strcmp(e->row.parent, d->parent) != 0 &&
	    state_ws_get(ws, e->row.parent) == NULL)
		drop(c, e->row.parent);
	if (d->parent[0] != '\0' && state_ws_get(ws, d->parent) == NULL)
		drop(c, d->parent);
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			free(children);
			return false;
		}
		e->row = *d;
		if (hmap_put(c->map, e->row.serial, strlen(e->row.serial), e, NULL) != CU_OK) {
			free(children);
			free(e);
			return false;
		}
		c->count++;
	} else {
		lru_unlink(&c->lru, &e->lru);
		free(e->children);
		e->row = *d;
	}
	e->row.is_new = e->row.dirty = false;
	e->row.first_child = e->row.next_sibling = NULL;
	e->children = children;
	e->n_children = n;
	lru_push_front(&c->lru, &e->lru);
	return true;
}

void devcache_store(struct devcache *c, const struct state_ws *ws)
{
	size_t pos = 0;
	struct dev *d;

	if (c->max == 0)
		return;
	while ((d = state_ws_next(ws, &pos)) != NULL) {
		if (!store_one(c, ws, d)) {
			/* Out of memory: d's old entry may be stale; forget it. */
			drop(c, d->serial);
		}
	}
	while (c->count > c->max)
		drop(c, ((struct entry *)c->lru.tail)->row.serial);
}

void devcache_stats(const struct devcache *c, struct devcache_stats *out)
{
	out->rows = c->count;
	out->hits = c->hits;
	out->misses = c->misses;
}
