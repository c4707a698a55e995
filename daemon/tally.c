/*
 * tally.c - named counters with undo (see tally.h).
 */
#include "tally.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

struct counter {
	char key[TALLY_KEY_MAX];
	int64_t value;
};

struct undo {
	struct counter *c;
	int64_t delta;
};

struct tally {
	struct hmap *map;
	struct undo *undo;
	size_t n_undo, cap_undo;
};

struct tally *tally_new(void)
{
	struct tally *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->map = hmap_new();
	if (t->map == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void tally_free(struct tally *t)
{
	if (t == NULL)
		return;
	hmap_free(t->map, free);
	free(t->undo);
	free(t);
}

int64_t tally_get(const struct tally *t, const char *key)
{
	const struct counter *c = hmap_get_str(t->map, key);

	return c != NULL ? c->value : 0;
}

int tally_add(struct tally *t, const char *key, int64_t delta)
{
	struct counter *c = hmap_get_str(t->map, key);

	if (strlen(key) >= TALLY_KEY_MAX)
		return CU_ERR_INVALID;
	if (t->n_undo == t->cap_undo) {
		size_t cap = t->cap_undo ? t->cap_undo * 2 : 64;
		struct undo *u = realloc(t->undo, cap * sizeof(*u));

		if (u == NULL)
			return CU_ERR_NOMEM;
		t->undo = u;
		t->cap_undo = cap;
	}
	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		if (c == NULL)
			return CU_ERR_NOMEM;
		snprintf(c->key, sizeof(c->key), "%s", key);
		if (hmap_put(t->map, c->key, strlen(c->key), c, NULL) != CU_OK) {
			free(c);
			return CU_ERR_NOMEM;
		}
	}
	c->value += delta;
	t->undo[t->n_undo++] = (struct undo){c, delta};
	return CU_OK;
}

void tally_commit(struct tally *t)
{
	t->n_undo = 0;
}

void tally_rollback(struct tally *t)
{
	tally_rollback_to(t, 0);
}

size_t tally_mark(const struct tally *t)
{
	return t->n_undo;
}

void tally_commit_to(struct tally *t, size_t mark)
{
	if (mark >= t->n_undo) {
		t->n_undo = 0;
		return;
	}
	memmove(t->undo, t->undo + mark, (t->n_undo - mark) * sizeof(*t->undo));
	t->n_undo -= mark;
}

void tally_rollback_to(struct tally *t, size_t mark)
{
	/* Counters created by the undone adds stay, at their old value 0. */
	while (t->n_undo > mark) {
		struct undo *u = &t->undo[--t->n_undo];

		u->c->value -= u->delta;
	}
}

const char *tally_next(const struct tally *t, const char *prefix, size_t *pos, int64_t *value)
{
	const struct counter *c;
	size_t plen = strlen(prefix);

	while ((c = hmap_next(t->map, pos, NULL, NULL)) != NULL) {
		if (strncmp(c->key, prefix, plen) == 0) {
			*value = c->value;
			return c->key;
		}
	}
	return NULL;
}
