/*
 * policy.c - loaded policy versions and their indexes (see policy.h).
 *
 * A version keeps its own copy of the PolicyLoad (packed and unpacked
 * again, so the store owns every byte) and the hash indexes its lookups
 * need. Versions are never removed: an old event is judged by old data.
 */
#include "policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

#define NAME_KEY_MAX 1100

struct override {
	uint32_t add, remove;
};

struct policy_version {
	Custody__PolicyLoad *pl;
	uint64_t admin_seq;
	size_t order;	    /* load order, for equal effective dates */
	struct hmap *index; /* kind-specific, see build_index */
	struct hmap *near;  /* SCREENING: normalized name or alias -> entry */
	struct override *overrides;
	struct models *models;
};

struct policy_store {
	struct policy_version **v;
	size_t n, cap;
};

static const char *const group_names[CG_COUNT] = {
    "A:1", "A:2", "A:3", "A:4", "A:5", "A:6", "D:1",
    "D:2", "D:3", "D:4", "D:5", "E:1", "E:2", "SUPP5_740_A_AIA",
};

int policy_group_parse(const char *name)
{
	for (int g = 0; g < CG_COUNT; g++) {
		if (strcmp(group_names[g], name) == 0)
			return g;
	}
	return -1;
}

const char *policy_group_name(enum cgroup g)
{
	return g < CG_COUNT ? group_names[g] : "?";
}

/* ---- names ------------------------------------------------------------- */

/* Company-form words that do not tell two companies apart. */
static const char *const noise_words[] = {
    "co",  "company", "corp",  "corporation", "inc",	  "incorporated", "ltd", "limited",
    "llc", "plc",     "gmbh",  "ag",	      "sa",	  "srl",	  "bv",	 "nv",
    "pte", "pty",     "kk",    "jsc",	      "ojsc",	  "pjsc",	  "oao", "ooo",
    "zao", "fze",     "fzco",  "fzc",	      "fzllc",	  "llp",	  "lp",	 "sdn",
    "bhd", "the",     "group", "holding",     "holdings",
};

static bool is_noise(const char *word, size_t len)
{
	for (size_t i = 0; i < sizeof(noise_words) / sizeof(noise_words[0]); i++) {
		if (strlen(noise_words[i]) == len && memcmp(noise_words[i], word, len) == 0)
			return true;
	}
	return false;
}

void policy_normalize_name(const char *name, char *out, size_t out_size)
{
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)name;

	if (out_size == 0)
		return;
	while (*p != '\0') {
		char word[128];
		size_t len = 0;

		/* Words are runs of letters and digits; "&" reads as "and". */
		while (*p != '\0' && !isalnum(*p) && *p < 0x80 && *p != '&')
			p++;
		if (*p == '&') {
			snprintf(word, sizeof(word), "and");
			len = 3;
			p++;
		} else {
			while (*p != '\0' && (isalnum(*p) || *p >= 0x80)) {
				if (len + 1 < sizeof(word))
					word[len++] = (char)tolower(*p);
				p++;
			}
		}
		if (len == 0 || is_noise(word, len))
			continue;
		if (n > 0 && n + 1 < out_size)
			out[n++] = ' ';
		for (size_t i = 0; i < len && n + 1 < out_size; i++)
			out[n++] = word[i];
	}
	out[n] = '\0';
}

/* The exact-match key: lower case, runs of spaces as one, trimmed. */
static void exact_key(const char *name, char *out, size_t out_size)
{
	size_t n = 0;
	bool space = false;

	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (isspace(*p)) {
			space = n > 0;
			continue;
		}
		if (space && n + 1 < out_size)
			out[n++] = ' ';
		space = false;
		if (n + 1 < out_size)
			out[n++] = (char)tolower(*p);
	}
	out[n] = '\0';
}

/* ---- versions ---------------------------------------------------------- */

static void version_free(struct policy_version *v)
{
	if (v == NULL)
		return;
	hmap_free(v->index, NULL);
	hmap_free(v->near, NULL);
	free(v->overrides);
	models_free(v->models);
	if (v->pl != NULL)
		custody__policy_load__free_unpacked(v->pl, NULL);
	free(v);
}

static Custody__PolicyLoad *copy_load(const Custody__PolicyLoad *pl)
{
	size_t len = custody__policy_load__get_packed_size(pl);
	uint8_t *buf = malloc(len ? len : 1);
	Custody__PolicyLoad *copy;

	if (buf == NULL)
		return NULL;
	custody__policy_load__pack(pl, buf);
	copy = custody__policy_load__unpack(NULL, len, buf);
	free(buf);
	return copy;
}

/* Builds a "a\x1fb\x1fc" key. */
static size_t join_key(char *out, size_t out_size, const char *a, const char *b, int c)
{
	int n = snprintf(out, out_size, "%s\x1f%s\x1f%d", a, b, c);

	return n < 0 || (size_t)n >= out_size ? out_size - 1 : (size_t)n;
}

static int index_groups(struct policy_version *v)
{
	Custody__PolicyLoad *pl = v->pl;
	bool overrides = pl->kind == CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES;

	if (overrides) {
		v->overrides = calloc(pl->n_country_groups + 1, sizeof(*v->overrides));
		if (v->overrides == NULL)
			return CU_ERR_NOMEM;
	}
	for (size_t i = 0; i < pl->n_country_groups; i++) {
		const Custody__CountryGroupRow *r = pl->country_groups[i];
		int g = policy_group_parse(r->group);
		uintptr_t mask;

		if (g < 0)
			return CU_ERR_INVALID;
		if (overrides) {
			struct override *o = hmap_get_str(v->index, r->country);

			if (o == NULL) {
				o = &v->overrides[i];
				if (hmap_put(v->index, r->country, strlen(r->country), o, NULL) !=
				    CU_OK)
					return CU_ERR_NOMEM;
			}
			if (r->member)
				o->add |= CG_BIT(g);
			else
				o->remove |= CG_BIT(g);
			continue;
		}
		/* Masks are stored in the pointer itself, offset so 0 stays "absent". */
		mask = (uintptr_t)hmap_get_str(v->index, r->country);
		mask = (mask ? mask - 1 : 0) | CG_BIT(g);
		if (hmap_put(v->index, r->country, strlen(r->country), (void *)(mask + 1), NULL) !=
		    CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

static int index_roster(struct policy_version *v)
{
	char key[256];

	for (size_t i = 0; i < v->pl->n_roster; i++) {
		Custody__RosterRow *r = v->pl->roster[i];
		int notice = r->notice ? r->notice : CUSTODY__ROSTER_NOTICE__SITE;
		size_t len = join_key(key, sizeof(key), r->exporter, r->facility, notice);

		if (hmap_put(v->index, key, len, r, NULL) != CU_OK)
			return CU_ERR_NOMEM;
		/* The exporter alone marks it trusted. */
		if (hmap_put(v->index, r->exporter, strlen(r->exporter), r, NULL) != CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

static int index_licenses(struct policy_version *v)
{
	for (size_t i = 0; i < v->pl->n_licenses; i++) {
		Custody__License *l = v->pl->licenses[i];

		if (hmap_put(v->index, l->number, strlen(l->number), l, NULL) != CU_OK)
			return CU_ERR_NOMEM;
	}
	return CU_OK;
}

static int index_name(struct hmap *map, const char *name, bool exact, void *entry)
{
	char key[NAME_KEY_MAX];

	if (exact)
		exact_key(name, key, sizeof(key));
	else
		policy_normalize_name(name, key, sizeof(key));
	if (key[0] == '\0' || hmap_get_str(map, key) != NULL)
		return CU_OK; /* first entry wins; any match is a hit */
	return hmap_put(map, key, strlen(key), entry, NULL);
}

static int index_screening(struct policy_version *v)
{
	v->near = hmap_new();
	if (v->near == NULL)
		return CU_ERR_NOMEM;
	for (size_t i = 0; i < v->pl->n_screening; i++) {
		Custody__ScreeningEntry *e = v->pl->screening[i];

		if (index_name(v->index, e->name, true, e) != CU_OK ||
		    index_name(v->near, e->name, false, e) != CU_OK)
			return CU_ERR_NOMEM;
		for (size_t a = 0; a < e->n_alt_names; a++) {
			if (index_name(v->near, e->alt_names[a], false, e) != CU_OK)
				return CU_ERR_NOMEM;
		}
	}
	return CU_OK;
}

static int build_index(struct policy_version *v, char *err, size_t err_size)
{
	int rc = CU_OK;

	v->index = hmap_new();
	if (v->index == NULL)
		return CU_ERR_NOMEM;
	switch (v->pl->kind) {
	case CUSTODY__POLICY_KIND__COUNTRY_GROUPS:
	case CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES:
		rc = index_groups(v);
		break;
	case CUSTODY__POLICY_KIND__MODELS:
		rc = models_from_rows((const Custody__ModelRow *const *)v->pl->models,
				      v->pl->n_models, &v->models);
		break;
	case CUSTODY__POLICY_KIND__ROSTER:
		rc = index_roster(v);
		break;
	case CUSTODY__POLICY_KIND__LICENSES:
		rc = index_licenses(v);
		break;
	case CUSTODY__POLICY_KIND__SCREENING:
		rc = index_screening(v);
		break;
	default:
		rc = CU_ERR_INVALID;
	}
	if (rc == CU_ERR_INVALID)
		snprintf(err, err_size, "policy data of kind %d cannot be indexed", v->pl->kind);
	return rc;
}

/* ---- the store --------------------------------------------------------- */

struct policy_store *policy_store_new(void)
{
	return calloc(1, sizeof(struct policy_store));
}

void policy_store_free(struct policy_store *store)
{
	if (store == NULL)
		return;
	for (size_t i = 0; i < store->n; i++)
		version_free(store->v[i]);
	free(store->v);
	free(store);
}

int policy_store_add(struct policy_store *store, const Custody__PolicyLoad *pl, uint64_t admin_seq,
		     char *err, size_t err_size)
{
	struct policy_version *v;
	int rc;

	snprintf(err, err_size, "out of memory");
	if ((size_t)pl->kind > CUSTODY__POLICY_KIND__SCREENING || pl->kind == 0) {
		snprintf(err, err_size, "unknown policy kind %d", pl->kind);
		return CU_ERR_INVALID;
	}
	if (store->n == store->cap) {
		size_t cap = store->cap ? store->cap * 2 : 8;
		struct policy_version **grown = realloc(store->v, cap * sizeof(*grown));

		if (grown == NULL)
			return CU_ERR_NOMEM;
		store->v = grown;
		store->cap = cap;
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return CU_ERR_NOMEM;
	v->pl = copy_load(pl);
	v->admin_seq = admin_seq;
	v->order = store->n;
	rc = v->pl != NULL ? build_index(v, err, err_size) : CU_ERR_NOMEM;
	if (rc != CU_OK) {
		version_free(v);
		return rc;
	}
	store->v[store->n++] = v;
	return CU_OK;
}

void policy_view_at(const struct policy_store *store, int64_t t_ms, struct policy_view *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; store != NULL && i < store->n; i++) {
		const struct policy_version *v = store->v[i];
		const struct policy_version **slot = &out->of[v->pl->kind];

		if (v->pl->effective_from_ms > t_ms)
			continue;
		/* Later effective date wins; equal dates: the later load. */
		if (*slot == NULL || v->pl->effective_from_ms >= (*slot)->pl->effective_from_ms)
			*slot = v;
	}
}

const struct policy_version *policy_store_next(const struct policy_store *store, size_t *pos,
					       const Custody__PolicyLoad **pl, uint64_t *admin_seq)
{
	const struct policy_version *v;

	if (store == NULL || *pos >= store->n)
		return NULL;
	v = store->v[(*pos)++];
	*pl = v->pl;
	*admin_seq = v->admin_seq;
	return v;
}

const Custody__PolicyLoad *policy_version_load(const struct policy_version *v)
{
	return v->pl;
}

/* ---- lookups ------------------------------------------------------------ */

static const struct policy_version *kind(const struct policy_view *v, Custody__PolicyKind k)
{
	return v->of[k];
}

uint32_t policy_country_groups(const struct policy_view *v, const char *cc)
{
	const struct policy_version *groups = kind(v, CUSTODY__POLICY_KIND__COUNTRY_GROUPS);
	const struct policy_version *ovr = kind(v, CUSTODY__POLICY_KIND__COUNTRY_OVERRIDES);
	uint32_t mask = 0;
	const struct override *o;
	const char *asked = cc;

	if (strcmp(cc, "HK") == 0)
		cc = "CN"; /* Hong Kong is treated as China since 2020-12-23 */
	if (groups != NULL) {
		uintptr_t m = (uintptr_t)hmap_get_str(groups->index, cc);

		mask = m ? (uint32_t)(m - 1) : 0;
	}
	if (ovr != NULL && (o = hmap_get_str(ovr->index, cc)) != NULL)
		mask = (mask | o->add) & ~o->remove;
	/* An override naming Hong Kong itself applies on top of China's. */
	if (ovr != NULL && asked != cc && (o = hmap_get_str(ovr->index, asked)) != NULL)
		mask = (mask | o->add) & ~o->remove;
	return mask;
}

const struct models *policy_models(const struct policy_view *v)
{
	const struct policy_version *m = kind(v, CUSTODY__POLICY_KIND__MODELS);

	return m != NULL ? m->models : NULL;
}

const struct model_info *policy_model(const struct policy_view *v, const char *name)
{
	const struct models *m = policy_models(v);

	return m != NULL ? models_find(m, name) : NULL;
}

bool policy_trusted(const struct policy_view *v, const char *exporter)
{
	const struct policy_version *r = kind(v, CUSTODY__POLICY_KIND__ROSTER);

	return r != NULL && hmap_get_str(r->index, exporter) != NULL;
}

int64_t policy_notice(const struct policy_view *v, const char *exporter, const char *facility,
		      Custody__RosterNotice notice)
{
	const struct policy_version *r = kind(v, CUSTODY__POLICY_KIND__ROSTER);
	const Custody__RosterRow *row;
	char key[256];
	size_t len;

	if (r == NULL)
		return 0;
	len = join_key(key, sizeof(key), exporter, facility, notice);
	row = hmap_get(r->index, key, len);
	return row != NULL ? row->notified_at_ms : 0;
}

const Custody__License *policy_license_next(const struct policy_view *v, size_t *pos)
{
	const struct policy_version *l = kind(v, CUSTODY__POLICY_KIND__LICENSES);

	if (l == NULL || *pos >= l->pl->n_licenses)
		return NULL;
	return l->pl->licenses[(*pos)++];
}

const Custody__License *policy_license(const struct policy_view *v, const char *number)
{
	const struct policy_version *l = kind(v, CUSTODY__POLICY_KIND__LICENSES);

	return l != NULL ? hmap_get_str(l->index, number) : NULL;
}

bool policy_screen(const struct policy_view *v, const char *name, struct policy_screen_hit *hit)
{
	const struct policy_version *s = kind(v, CUSTODY__POLICY_KIND__SCREENING);
	char key[NAME_KEY_MAX];

	memset(hit, 0, sizeof(*hit));
	if (s == NULL || name[0] == '\0')
		return false;
	exact_key(name, key, sizeof(key));
	hit->entry = hmap_get_str(s->index, key);
	if (hit->entry != NULL) {
		hit->exact = true;
		hit->matched_name = hit->entry->name;
		return true;
	}
	policy_normalize_name(name, key, sizeof(key));
	if (key[0] == '\0')
		return false;
	hit->entry = hmap_get_str(s->near, key);
	if (hit->entry == NULL)
		return false;
	hit->matched_name = hit->entry->name;
	for (size_t a = 0; a < hit->entry->n_alt_names; a++) {
		char alt[NAME_KEY_MAX];

		policy_normalize_name(hit->entry->alt_names[a], alt, sizeof(alt));
		if (strcmp(alt, key) == 0)
			hit->matched_name = hit->entry->alt_names[a];
	}
	return true;
}
