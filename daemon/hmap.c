/*
 * hmap.c - open-addressing hash map with linear probing and backward-shift
 * deletion (no tombstones), kept at most 3/4 full (see hmap.h).
 */
#include "hmap.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	uint64_t hash; /* 0 = empty; real hashes have the top bit set */
	void *key;
	size_t key_len;
	void *value;
};

struct hmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t count;
};

static unsigned char hash_key[crypto_shorthash_KEYBYTES];
static int hash_key_ready;

static uint64_t hash_of(const void *key, size_t len)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t h;

	if (!hash_key_ready) {
		if (sodium_init() < 0)
			abort(); /* libsodium cannot start: nothing in custody works */
		crypto_shorthash_keygen(hash_key);
		hash_key_ready = 1;
	}
	crypto_shorthash(out, key, len, hash_key);
	memcpy(&h, out, sizeof(h));
	return h | (UINT64_C(1) << 63);
}

struct hmap *hmap_new(void)
{
	struct hmap *map = calloc(1, sizeof(*map));

	if (map == NULL)
		return NULL;
	map->cap = 16;
	map->slots = calloc(map->cap, sizeof(*map->slots));
	if (map->slots == NULL) {
		free(map);
		return NULL;
	}
	return map;
}

void hmap_free(struct hmap *map, void (*free_value)(void *value))
{
	if (map == NULL)
		return;
	for (size_t i = 0; i < map->cap; i++) {
		if (map->slots[i].hash == 0)
			continue;
		free(map->slots[i].key);
		if (free_value != NULL)
			free_value(map->slots[i].value);
	}
	free(map->slots);
	free(map);
}

/* Index of key's slot, or of the empty slot where it would go. */
static size_t probe(const struct hmap *map, uint64_t h, const void *key, size_t len)
{
	size_t mask = map->cap - 1;
	size_t i = (size_t)h & mask;

	while (map->slots[i].hash != 0) {
		const struct slot *s = &map->slots[i];

		if (s->hash == h && s->key_len == len && memcmp(s->key, key, len) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

static int grow(struct hmap *map)
{
	struct slot *old = map->slots;
	size_t old_cap = map->cap;
	struct slot *slots = calloc(old_cap * 2, sizeof(*slots));

	if (slots == NULL)
		return CU_ERR_NOMEM;
	map->slots = slots;
	map->cap = old_cap * 2;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].hash != 0)
			map->slots[probe(map, old[i].hash, old[i].key, old[i].key_len)] = old[i];
	}
	free(old);
	return CU_OK;
}

int hmap_put(struct hmap *map, const void *key, size_t key_len, void *value, void **old)
{
	uint64_t h = hash_of(key, key_len);
	size_t i;
	void *copy;

	if (old != NULL)
		*old = NULL;
	if ((map->count + 1) * 4 > map->cap * 3 && grow(map) != CU_OK)
		return CU_ERR_NOMEM;
	i = probe(map, h, key, key_len);
	if (map->slots[i].hash != 0) {
		if (old != NULL)
			*old = map->slots[i].value;
		map->slots[i].value = value;
		return CU_OK;
	}
	copy = malloc(key_len > 0 ? key_len : 1);
	if (copy == NULL)
		return CU_ERR_NOMEM;
	memcpy(copy, key, key_len);
	map->slots[i] = (struct slot){h, copy, key_len, value};
	map->count++;
	return CU_OK;
}

void *hmap_get(const struct hmap *map, const void *key, size_t key_len)
{
	size_t i = probe(map, hash_of(key, key_len), key, key_len);

	return map->slots[i].hash != 0 ? map->slots[i].value : NULL;
}

void *hmap_remove(struct hmap *map, const void *key, size_t key_len)
{
	size_t mask = map->cap - 1;
	size_t i = probe(map, hash_of(key, key_len), key, key_len);
	size_t j;
	void *value;

	if (map->slots[i].hash == 0)
		return NULL;
	value = map->slots[i].value;
	free(map->slots[i].key);
	/* Shift back later entries of the run so probes never stop early. */
	for (j = (i + 1) & mask; map->slots[j].hash != 0; j = (j + 1) & mask) {
		size_t home = (size_t)map->slots[j].hash & mask;

		/* Move j into the hole at i unless its home lies in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			map->slots[i] = map->slots[j];
			i = j;
		}
	}
	map->slots[i].hash = 0;
	map->count--;
	return value;
}

size_t hmap_count(const struct hmap *map)
{
	return map->count;
}

void *hmap_next(const struct hmap *map, size_t *pos, const void **key, size_t *key_len)
{
	for (; *pos < map->cap; (*pos)++) {
		const struct slot *s = &map->slots[*pos];

		if (s->hash == 0)
			continue;
		(*pos)++;
		if (key != NULL)
			*key = s->key;
		if (key_len != NULL)
			*key_len = s->key_len;
		return s->value;
	}
	return NULL;
}
