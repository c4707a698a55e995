/*
 * Unit tests for proto/merkle.c: the transparency-dev/merkle proof vectors
 * in tests/data/merkle, property tests against a naive recursive RFC 6962
 * implementation (roots, inclusion and consistency proofs, tampering), and
 * the C2SP tlog-tiles coordinates and paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "codec.h"
#include "json.h"
#include "merkle.h"

#define HASH	    MERKLE_HASH_SIZE
#define PROOF_BYTES (MERKLE_PROOF_MAX * HASH)

/* What tests/data/merkle holds (see its README.md). */
#define VECTOR_INCLUSION_FILES	 98
#define VECTOR_CONSISTENCY_FILES 98
#define VECTOR_WANT_OK		 12
#define VECTOR_SHORT_LEAF	 11 /* leafHash not 32 bytes: refused before the call */

/* Every exhaustive property test runs up to this tree size. */
#define EXHAUSTIVE_MAX 300
/* Proofs compared with the naive RFC recursion, all of them, up to this size. */
#define NAIVE_ALL_MAX 64
/* Proofs tampered with byte by byte, all of them, up to this size. */
#define TAMPER_ALL_MAX 40
/* The big tree: the tile example of the spec (70,000 leaves). */
#define BIG_TREE 70000

static char source_root[2048];

/* ---- deterministic randomness ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* xorshift64: reproducible, so a failure names the same case every run. */
static uint64_t rng_below(uint64_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state % n;
}

/* ---- a node store fed by merkle_range_append and read through merkle_get_fn ---- */

struct store {
	uint64_t capacity; /* leaves */
	uint8_t *hashes[MERKLE_MAX_LEVELS];
	bool *present[MERKLE_MAX_LEVELS];
	uint64_t visits;
	uint64_t limit;	 /* get asserts the node is complete in a tree of this size */
	uint8_t *leaves; /* leaf hashes, for the naive implementation */
	struct merkle_range range;
};

static struct store *store_new(uint64_t capacity)
{
	struct store *s = calloc(1, sizeof(*s));
	unsigned level;

	assert_non_null(s);
	s->capacity = capacity;
	for (level = 0; level < MERKLE_MAX_LEVELS && (capacity >> level) > 0; level++) {
		s->hashes[level] = calloc(capacity >> level, HASH);
		s->present[level] = calloc(capacity >> level, sizeof(bool));
		assert_non_null(s->hashes[level]);
		assert_non_null(s->present[level]);
	}
	s->leaves = calloc(capacity + 1, HASH);
	assert_non_null(s->leaves);
	merkle_range_init(&s->range);
	return s;
}

static void store_free(struct store *s)
{
	unsigned level;

	for (level = 0; level < MERKLE_MAX_LEVELS; level++) {
		free(s->hashes[level]);
		free(s->present[level]);
	}
	free(s->leaves);
	free(s);
}

static void store_visit(void *arg, unsigned level, uint64_t index, const uint8_t hash[HASH])
{
	struct store *s = arg;

	assert_true(level < MERKLE_MAX_LEVELS);
	assert_true(index < s->capacity >> level);
	assert_false(s->present[level][index]); /* each node is created once */
	s->present[level][index] = true;
	memcpy(s->hashes[level] + index * HASH, hash, HASH);
	s->visits++;
}

static int store_get(void *arg, unsigned level, uint64_t index, uint8_t out[HASH])
{
	struct store *s = arg;

	/* The library may only ask for complete nodes of the tree at hand. */
	assert_true(level < MERKLE_MAX_LEVELS);
	assert_true(index < s->limit >> level);
	assert_true(s->present[level][index]);
	memcpy(out, s->hashes[level] + index * HASH, HASH);
	return CU_OK;
}

/* Leaf i's data is its index, so no two leaves are alike. */
static void store_append_to(struct store *s, uint64_t size)
{
	while (s->range.size < size) {
		uint64_t i = s->range.size;

		merkle_leaf_hash((const uint8_t *)&i, sizeof(i), s->leaves + i * HASH);
		assert_int_equal(
		    merkle_range_append(&s->range, s->leaves + i * HASH, store_visit, s), CU_OK);
	}
	s->limit = s->range.size;
}

/* Root of the tree of the first size leaves, from the stored nodes. */
static void store_root(struct store *s, uint64_t size, uint8_t out[HASH])
{
	struct merkle_range r;
	uint64_t saved = s->limit;

	s->limit = size;
	assert_int_equal(merkle_range_load(&r, size, store_get, s), CU_OK);
	merkle_range_root(&r, out);
	s->limit = saved;
}

/* ---- naive RFC 6962 section 2.1 ---- */

static size_t split_point(size_t n)
{
	size_t k = 1;

	while (k * 2 < n) {
		k *= 2;
	}
	return k;
}

static void naive_mth(const uint8_t *leaves, size_t n, uint8_t out[HASH])
{
	uint8_t left[HASH], right[HASH];
	size_t k;

	if (n == 0) {
		crypto_hash_sha256(out, (const uint8_t *)"", 0);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves, HASH);
		return;
	}
	k = split_point(n);
	naive_mth(leaves, k, left);
	naive_mth(leaves + k * HASH, n - k, right);
	merkle_node_hash(left, right, out);
}

static void naive_push_mth(const uint8_t *leaves, size_t n, uint8_t *proof, size_t *count)
{
	naive_mth(leaves, n, proof + *count * HASH);
	(*count)++;
}

/* PATH(m, D[n]) of RFC 6962 section 2.1.1. */
static void naive_path(size_t m, const uint8_t *leaves, size_t n, uint8_t *proof, size_t *count)
{
	size_t k;

	if (n <= 1) {
		return;
	}
	k = split_point(n);
	if (m < k) {
		naive_path(m, leaves, k, proof, count);
		naive_push_mth(leaves + k * HASH, n - k, proof, count);
	} else {
		naive_path(m - k, leaves + k * HASH, n - k, proof, count);
		naive_push_mth(leaves, k, proof, count);
	}
}

/* SUBPROOF(m, D[n], b) of RFC 6962 section 2.1.2. */
static void naive_subproof(size_t m, const uint8_t *leaves, size_t n, bool b, uint8_t *proof,
			   size_t *count)
{
	size_t k;

	if (m == n) {
		if (!b) {
			naive_push_mth(leaves, n, proof, count);
		}
		return;
	}
	k = split_point(n);
	if (m <= k) {
		naive_subproof(m, leaves, k, b, proof, count);
		naive_push_mth(leaves + k * HASH, n - k, proof, count);
	} else {
		naive_subproof(m - k, leaves + k * HASH, n - k, false, proof, count);
		naive_push_mth(leaves, k, proof, count);
	}
}

/* ---- the transparency-dev vectors ---- */

/* The eight RFC 6962 test leaves the happy-path vectors are built on. */
static const char *const rfc_leaves_hex[8] = {"",
					      "00",
					      "10",
					      "2021",
					      "3031",
					      "40414243",
					      "5051525354555657",
					      "606162636465666768696a6b6c6d6e6f"};

struct vector_counts {
	unsigned inclusion, consistency;
	unsigned accepted, rejected, short_leaf, stand_ins, happy_checked;
};

static struct store *rfc_tree(void)
{
	struct store *s = store_new(8);
	uint8_t data[16];
	unsigned i;

	for (i = 0; i < 8; i++) {
		size_t len = strlen(rfc_leaves_hex[i]) / 2;

		assert_int_equal(codec_hex_decode(rfc_leaves_hex[i], data, len), CU_OK);
		merkle_leaf_hash(data, len, s->leaves + i * HASH);
		assert_int_equal(
		    merkle_range_append(&s->range, s->leaves + i * HASH, store_visit, s), CU_OK);
	}
	s->limit = 8;
	return s;
}

/*
 * Our API takes 32-byte hashes; some vectors use 12-byte dummies or empty
 * strings. A root or proof hash of another length gets a 32-byte stand-in
 * derived from its bytes (equal dummies stay equal, different ones
 * different, none equals a real hash), which is all the verifier may rely
 * on. Returns whether the value was exactly 32 bytes.
 */
static bool decode_hash(const struct json_value *v, uint8_t out[HASH], struct vector_counts *c)
{
	static const char tag[] = "custody test stand-in";
	crypto_hash_sha256_state st;
	uint8_t raw[64];
	size_t len = 0;

	assert_non_null(v);
	assert_int_equal(v->type, JSON_STRING);
	assert_int_equal(codec_b64_decode(v->u.str, raw, sizeof(raw), &len), CU_OK);
	if (len == HASH) {
		memcpy(out, raw, HASH);
		return true;
	}
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)tag, sizeof(tag));
	crypto_hash_sha256_update(&st, raw, len);
	crypto_hash_sha256_final(&st, out);
	c->stand_ins++;
	return false;
}

static size_t decode_proof(const struct json_value *v, uint8_t *proof, struct vector_counts *c)
{
	size_t i;

	assert_non_null(v);
	if (v->type == JSON_NULL) {
		return 0;
	}
	assert_int_equal(v->type, JSON_ARRAY);
	assert_true(v->len <= MERKLE_PROOF_MAX);
	for (i = 0; i < v->len; i++) {
		decode_hash(&v->u.items[i], proof + i * HASH, c);
	}
	return v->len;
}

static uint64_t get_u64(const struct json_value *obj, const char *key)
{
	uint64_t n = 0;

	assert_int_equal(json_u64(json_get(obj, key), &n), CU_OK);
	return n;
}

static bool want_err(const struct json_value *obj)
{
	const struct json_value *v = json_get(obj, "wantErr");

	assert_non_null(v);
	assert_true(v->type == JSON_TRUE || v->type == JSON_FALSE);
	return v->type == JSON_TRUE;
}

/*
 * A happy path must be exactly what we compute over the RFC leaves: the
 * leaf, the roots and the proof. a and b are leaf and root (inclusion) or
 * root1 and root2.
 */
static void check_happy(const char *name, bool inclusion, uint64_t x, uint64_t size,
			const uint8_t *a, const uint8_t *b, const uint8_t *proof, size_t count,
			struct vector_counts *c)
{
	uint8_t ours[PROOF_BYTES], expect[HASH];
	struct store *rfc;
	size_t n = 0;
	int rc;

	if (strcmp(name, "happy-path.json") != 0) {
		return;
	}
	rfc = rfc_tree();
	if (inclusion) {
		assert_memory_equal(a, rfc->leaves + x * HASH, HASH);
		rc = merkle_inclusion_proof(x, size, store_get, rfc, ours, &n);
	} else {
		store_root(rfc, x, expect);
		assert_memory_equal(a, expect, HASH);
		rc = merkle_consistency_proof(x, size, store_get, rfc, ours, &n);
	}
	assert_int_equal(rc, CU_OK);
	store_root(rfc, size, expect);
	assert_memory_equal(b, expect, HASH);
	assert_int_equal(n, count);
	if (n > 0) {
		assert_memory_equal(ours, proof, n * HASH);
	}
	store_free(rfc);
	c->happy_checked++;
}

static int run_inclusion(const struct json_value *obj, const char *name, struct vector_counts *c)
{
	uint8_t leaf[HASH], root[HASH], proof[PROOF_BYTES];
	uint64_t index = get_u64(obj, "leafIdx"), size = get_u64(obj, "treeSize");
	bool leaf_ok = decode_hash(json_get(obj, "leafHash"), leaf, c);
	size_t count = decode_proof(json_get(obj, "proof"), proof, c);
	int rc;

	decode_hash(json_get(obj, "root"), root, c);
	if (!leaf_ok) {
		/* As transparency-dev does: a leaf hash is checked for its
		 * length before anything else (our callers decode into 32 bytes). */
		c->short_leaf++;
		return CU_ERR_INVALID;
	}
	rc = merkle_verify_inclusion(leaf, index, size, count > 0 ? proof : NULL, count, root);
	if (rc == CU_OK) {
		check_happy(name, true, index, size, leaf, root, proof, count, c);
	}
	return rc;
}

static int run_consistency(const struct json_value *obj, const char *name, struct vector_counts *c)
{
	uint8_t root1[HASH], root2[HASH], proof[PROOF_BYTES];
	uint64_t size1 = get_u64(obj, "size1"), size2 = get_u64(obj, "size2");
	size_t count = decode_proof(json_get(obj, "proof"), proof, c);
	int rc;

	decode_hash(json_get(obj, "root1"), root1, c);
	decode_hash(json_get(obj, "root2"), root2, c);
	rc = merkle_verify_consistency(size1, size2, count > 0 ? proof : NULL, count, root1, root2);
	if (rc == CU_OK) {
		check_happy(name, false, size1, size2, root1, root2, proof, count, c);
	}
	return rc;
}

static void run_vector_file(const char *path, const char *name, bool inclusion,
			    struct vector_counts *c)
{
	static const struct json_limits limits = {1u << 16, 1u << 20, 8};
	static char text[1u << 16];
	struct json_doc *doc = NULL;
	char err[256];
	size_t len;
	bool wanted_err;
	FILE *f = fopen(path, "rb");
	int rc;

	if (f == NULL) {
		fail_msg("cannot open %s", path);
	}
	len = fread(text, 1, sizeof(text), f);
	fclose(f);
	assert_true(len < sizeof(text));
	if (json_parse(text, len, &limits, &doc, err, sizeof(err)) != CU_OK) {
		fail_msg("%s: %s", path, err);
	}
	wanted_err = want_err(json_root(doc));
	if (inclusion) {
		rc = run_inclusion(json_root(doc), name, c);
		c->inclusion++;
	} else {
		rc = run_consistency(json_root(doc), name, c);
		c->consistency++;
	}
	json_free(doc);
	if ((rc == CU_OK) == wanted_err) {
		fail_msg("%s: verification returned %d, wantErr is %s", path, rc,
			 wanted_err ? "true" : "false");
	}
	assert_true(rc == CU_OK || rc == CU_ERR_INVALID);
	if (rc == CU_OK) {
		c->accepted++;
	} else {
		c->rejected++;
	}
}

static bool is_json(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* Runs every *.json file under dir_path (inclusion/additional nests one level deeper). */
static void run_vector_tree(const char *dir_path, bool inclusion, unsigned depth,
			    struct vector_counts *c)
{
	char path[4096];
	struct dirent *entry;
	DIR *dir = opendir(dir_path);

	if (dir == NULL) {
		fail_msg("%s not found (CUSTODY_SOURCE_ROOT unset?)", dir_path);
	}
	assert_true(depth < 4);
	while ((entry = readdir(dir)) != NULL) {
		if (entry->d_name[0] == '.') {
			continue;
		}
		assert_true((size_t)snprintf(path, sizeof(path), "%s/%s", dir_path, entry->d_name) <
			    sizeof(path));
		if (is_json(entry->d_name)) {
			run_vector_file(path, entry->d_name, inclusion, c);
		} else {
			run_vector_tree(path, inclusion, depth + 1, c);
		}
	}
	closedir(dir);
}

static void run_vector_dir(const char *kind, struct vector_counts *c)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/tests/data/merkle/%s", source_root, kind);
	run_vector_tree(path, strcmp(kind, "inclusion") == 0, 0, c);
}

static void test_vectors(void **state)
{
	struct vector_counts c = {0};

	(void)state;
	run_vector_dir("inclusion", &c);
	run_vector_dir("consistency", &c);
	print_message("merkle vectors: %u inclusion + %u consistency files, %u accepted, %u "
		      "rejected (%u with a short leaf hash before the call), %u stand-in hashes, "
		      "%u happy paths regenerated\n",
		      c.inclusion, c.consistency, c.accepted, c.rejected, c.short_leaf, c.stand_ins,
		      c.happy_checked);
	assert_int_equal(c.inclusion, VECTOR_INCLUSION_FILES);
	assert_int_equal(c.consistency, VECTOR_CONSISTENCY_FILES);
	assert_int_equal(c.accepted, VECTOR_WANT_OK);
	assert_int_equal(c.rejected,
			 VECTOR_INCLUSION_FILES + VECTOR_CONSISTENCY_FILES - VECTOR_WANT_OK);
	assert_int_equal(c.short_leaf, VECTOR_SHORT_LEAF);
	assert_int_equal(c.happy_checked, 10); /* inclusion and consistency 0-4 */
}

/* ---- hashing ---- */

static void test_hashes(void **state)
{
	/* rfc6962_test.go of transparency-dev/merkle, and the size-2 root of
	 * the RFC leaves "" and 00 (consistency/3/happy-path.json). */
	static const char empty_root[] =
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	static const char empty_leaf[] =
	    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d";
	static const char leaf_l123456[] =
	    "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56";
	static const char root_2[] =
	    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125";
	static const uint8_t zero = 0;
	uint8_t out[HASH], l[HASH], r[HASH], expect[HASH];
	struct merkle_range range;

	(void)state;
	merkle_range_init(&range);
	merkle_range_root(&range, out);
	assert_int_equal(codec_hex_decode(empty_root, expect, HASH), CU_OK);
	assert_memory_equal(out, expect, HASH);
	merkle_leaf_hash(NULL, 0, l);
	assert_int_equal(codec_hex_decode(empty_leaf, expect, HASH), CU_OK);
	assert_memory_equal(l, expect, HASH);
	merkle_leaf_hash((const uint8_t *)"L123456", 7, out);
	assert_int_equal(codec_hex_decode(leaf_l123456, expect, HASH), CU_OK);
	assert_memory_equal(out, expect, HASH);
	merkle_leaf_hash(&zero, 1, r);
	merkle_node_hash(l, r, out);
	assert_int_equal(codec_hex_decode(root_2, expect, HASH), CU_OK);
	assert_memory_equal(out, expect, HASH);
	/* out may be an input. */
	merkle_node_hash(l, r, r);
	assert_memory_equal(r, expect, HASH);
	merkle_leaf_hash(&zero, 1, r);
	merkle_node_hash(l, r, l);
	assert_memory_equal(l, expect, HASH);
}

/* ---- compact ranges ---- */

static uint64_t popcount(uint64_t n)
{
	return (uint64_t)__builtin_popcountll(n);
}

/* The valid entries of two ranges of the same size are the same. */
static void assert_ranges_equal(const struct merkle_range *a, const struct merkle_range *b)
{
	unsigned level;

	assert_int_equal(a->size, b->size);
	for (level = 0; level < MERKLE_MAX_LEVELS; level++) {
		if ((a->size >> level) & 1) {
			assert_memory_equal(a->hashes[level], b->hashes[level], HASH);
		}
	}
}

static void test_range_roots(void **state)
{
	struct store *s = store_new(EXHAUSTIVE_MAX);
	struct merkle_range loaded;
	uint8_t root[HASH], naive[HASH];
	uint64_t n;

	(void)state;
	for (n = 0; n <= EXHAUSTIVE_MAX; n++) {
		store_append_to(s, n);
		/* Every node is visited once: n >> l of them at level l. */
		assert_int_equal(s->visits, 2 * n - popcount(n));
		merkle_range_root(&s->range, root);
		naive_mth(s->leaves, n, naive);
		assert_memory_equal(root, naive, HASH);
		assert_int_equal(merkle_range_load(&loaded, n, store_get, s), CU_OK);
		assert_ranges_equal(&loaded, &s->range);
	}
	store_free(s);
}

static int failing_get(void *arg, unsigned level, uint64_t index, uint8_t out[HASH])
{
	unsigned *calls_left = arg;

	(void)level;
	(void)index;
	if (*calls_left == 0) {
		return CU_ERR_NOT_FOUND;
	}
	(*calls_left)--;
	memset(out, 0xab, HASH);
	return CU_OK;
}

static void test_range_limits(void **state)
{
	struct merkle_range range;
	uint8_t leaf[HASH] = {0}, root[HASH], empty[HASH];
	unsigned calls = 2;

	(void)state;
	merkle_range_init(&range);
	range.size = UINT64_MAX;
	assert_int_equal(merkle_range_append(&range, leaf, NULL, NULL), CU_ERR_TOO_BIG);
	assert_int_equal(range.size, UINT64_MAX);
	range.size = UINT64_MAX - 1; /* all levels but 0 set: the carry must stop at 63 */
	assert_int_equal(merkle_range_append(&range, leaf, NULL, NULL), CU_OK);
	assert_int_equal(range.size, UINT64_MAX);
	merkle_range_root(&range, root);

	/* A failing get leaves the range empty and passes the error on. */
	assert_int_equal(merkle_range_load(&range, 7, failing_get, &calls), CU_ERR_NOT_FOUND);
	assert_int_equal(range.size, 0);
	merkle_range_root(&range, root);
	crypto_hash_sha256(empty, (const uint8_t *)"", 0);
	assert_memory_equal(root, empty, HASH);
	calls = 64;
	assert_int_equal(merkle_range_load(&range, UINT64_MAX, failing_get, &calls), CU_OK);
	assert_int_equal(calls, 0);
}

/* ---- proofs ---- */

/* One proof: inclusion of leaf a at index x in the tree of size leaves and
 * root b, or consistency of size x (root a) with size (root b). */
struct pcase {
	bool inclusion;
	uint64_t x, size;
	uint8_t a[HASH], b[HASH];
	uint8_t proof[PROOF_BYTES + HASH]; /* room for one hash too many */
	size_t count;
};

static int pcase_verify(const struct pcase *p)
{
	if (p->inclusion) {
		return merkle_verify_inclusion(p->a, p->x, p->size, p->proof, p->count, p->b);
	}
	return merkle_verify_consistency(p->x, p->size, p->proof, p->count, p->a, p->b);
}

/* Generates the proof with get, and the one the naive RFC recursion gives. */
static void pcase_make(struct store *s, bool inclusion, uint64_t x, uint64_t size, struct pcase *p,
		       uint8_t *naive, size_t *naive_count)
{
	int rc;

	p->inclusion = inclusion;
	p->x = x;
	p->size = size;
	p->count = 99;
	store_root(s, size, p->b);
	s->limit = size;
	*naive_count = 0;
	if (inclusion) {
		memcpy(p->a, s->leaves + x * HASH, HASH);
		rc = merkle_inclusion_proof(x, size, store_get, s, p->proof, &p->count);
		if (naive != NULL) {
			naive_path(x, s->leaves, size, naive, naive_count);
		}
	} else {
		store_root(s, x, p->a);
		rc = merkle_consistency_proof(x, size, store_get, s, p->proof, &p->count);
		if (naive != NULL) {
			naive_subproof(x, s->leaves, size, true, naive, naive_count);
		}
	}
	s->limit = s->range.size;
	assert_int_equal(rc, CU_OK);
	assert_true(p->count <= 64);
}

/* Flips one bit of each byte of buf in turn: verification must fail each time. */
static void flip_each(const struct pcase *p, uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		buf[i] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(pcase_verify(p), CU_ERR_INVALID);
		buf[i] ^= (uint8_t)(1u << (i % 8));
	}
}

/* Any changed byte, a proof one hash short or long, or other positions fail. */
static void pcase_tamper(struct pcase *p)
{
	struct pcase m;

	flip_each(p, p->proof, p->count * HASH);
	flip_each(p, p->a, HASH);
	flip_each(p, p->b, HASH);
	m = *p;
	memcpy(m.proof + m.count * HASH, m.b, HASH);
	m.count = p->count + 1;
	assert_int_equal(pcase_verify(&m), CU_ERR_INVALID);
	if (p->count > 0) {
		m.count = p->count - 1;
		assert_int_equal(pcase_verify(&m), CU_ERR_INVALID);
	}
	m = *p;
	m.x = p->x + 1; /* next index, or a bigger first tree */
	if (m.x < p->size) {
		assert_int_equal(pcase_verify(&m), CU_ERR_INVALID);
	}
	m.x = p->size + !p->inclusion; /* index == size, or size1 > size2 */
	assert_int_equal(pcase_verify(&m), CU_ERR_INVALID);
	if (!p->inclusion && p->x < p->size) {
		memcpy(m.a, p->b, HASH);
		memcpy(m.b, p->a, HASH);
		m.x = p->size;
		m.size = p->x;
		assert_int_equal(pcase_verify(&m), CU_ERR_INVALID);
	}
}

/* Makes a proof, verifies it, compares it with the naive one, tampers with it. */
static unsigned long check_proof(struct store *s, bool inclusion, uint64_t x, uint64_t size,
				 bool naive, bool tamper)
{
	uint8_t naive_proof[PROOF_BYTES];
	size_t naive_count = 0;
	struct pcase p;

	pcase_make(s, inclusion, x, size, &p, naive ? naive_proof : NULL, &naive_count);
	assert_int_equal(pcase_verify(&p), CU_OK);
	if (naive) {
		assert_int_equal(p.count, naive_count);
		assert_memory_equal(p.proof, naive_proof, p.count * HASH);
	}
	if (tamper) {
		pcase_tamper(&p);
	}
	return 1;
}

/* Every index of every size (inclusion) or every pair of sizes (consistency). */
static void run_exhaustive(bool inclusion)
{
	struct store *s = store_new(EXHAUSTIVE_MAX);
	unsigned long proofs = 0;
	uint64_t size, x;

	store_append_to(s, EXHAUSTIVE_MAX);
	for (size = 1; size <= EXHAUSTIVE_MAX; size++) {
		for (x = inclusion ? 0 : 1; x < size + !inclusion; x++) {
			proofs += check_proof(s, inclusion, x, size, size <= NAIVE_ALL_MAX,
					      size <= TAMPER_ALL_MAX);
		}
	}
	print_message("%s: %lu proofs, sizes 1..%d\n", inclusion ? "inclusion" : "consistency",
		      proofs, EXHAUSTIVE_MAX);
	assert_int_equal(proofs, EXHAUSTIVE_MAX * (EXHAUSTIVE_MAX + 1) / 2);
	store_free(s);
}

static void test_inclusion_exhaustive(void **state)
{
	(void)state;
	run_exhaustive(true);
}

static void test_consistency_exhaustive(void **state)
{
	(void)state;
	run_exhaustive(false);
}

/*
 * A get that serves nodes the way custodyd will: only tile levels (0, 8,
 * ...) are stored, the rest is rehashed from the tile hashes.
 */
static int tile_get(void *arg, unsigned level, uint64_t index, uint8_t out[HASH])
{
	struct store *s = arg;
	struct merkle_tile_pos pos;
	struct merkle_range sub;
	unsigned stored = level - level % MERKLE_TILE_HEIGHT, i;
	uint64_t first;

	assert_int_equal(merkle_tile_locate(s->limit, level, index, &pos), CU_OK);
	assert_true(pos.first + pos.count <= pos.tile.width);
	first = pos.tile.index * MERKLE_TILE_WIDTH + pos.first;
	merkle_range_init(&sub);
	for (i = 0; i < pos.count; i++) {
		assert_true(s->present[stored][first + i]);
		assert_int_equal(
		    merkle_range_append(&sub, s->hashes[stored] + (first + i) * HASH, NULL, NULL),
		    CU_OK);
	}
	merkle_range_root(&sub, out);
	return CU_OK;
}

/* The same proofs from every node stored and from tile levels only. */
static void check_tile_proof(struct store *s, bool inclusion, uint64_t x, uint64_t size)
{
	uint8_t a[PROOF_BYTES], b[PROOF_BYTES];
	size_t na = 0, nb = 0;

	s->limit = size;
	if (inclusion) {
		assert_int_equal(merkle_inclusion_proof(x, size, store_get, s, a, &na), CU_OK);
		assert_int_equal(merkle_inclusion_proof(x, size, tile_get, s, b, &nb), CU_OK);
	} else {
		assert_int_equal(merkle_consistency_proof(x, size, store_get, s, a, &na), CU_OK);
		assert_int_equal(merkle_consistency_proof(x, size, tile_get, s, b, &nb), CU_OK);
	}
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na * HASH);
	s->limit = s->range.size;
}

static void test_random_big(void **state)
{
	struct store *s = store_new(BIG_TREE);
	struct merkle_range loaded;
	uint8_t root[HASH], naive[HASH];
	unsigned long cases = 0;
	unsigned i;

	(void)state;
	/* Every size: the range loaded from stored nodes is the appended one. */
	while (s->range.size < BIG_TREE) {
		store_append_to(s, s->range.size + 1);
		assert_int_equal(merkle_range_load(&loaded, s->range.size, store_get, s), CU_OK);
		assert_ranges_equal(&loaded, &s->range);
	}
	assert_int_equal(s->visits, 2 * BIG_TREE - popcount(BIG_TREE));
	for (i = 0; i < 40; i++) {
		uint64_t size2 = 1 + rng_below(i < 30 ? 5000 : BIG_TREE);
		uint64_t size1 = 1 + rng_below(size2), index = rng_below(size2);
		bool small = size2 <= 5000;

		store_root(s, size2, root);
		naive_mth(s->leaves, size2, naive);
		assert_memory_equal(root, naive, HASH);
		cases += check_proof(s, true, index, size2, small, i % 4 == 0);
		cases += check_proof(s, false, size1, size2, small, i % 4 == 0);
		check_tile_proof(s, true, index, size2);
		check_tile_proof(s, false, size1, size2);
	}
	/* Edges of tiles and powers of two, through the tile-backed get. */
	for (i = 0; i < 20; i++) {
		uint64_t size2 = (i < 10) ? (65536u + i - 5) : (256u * (i + 1) + (i % 3) - 1);

		check_tile_proof(s, true, size2 - 1, size2);
		check_tile_proof(s, false, size2 - size2 / 3, size2);
		cases += check_proof(s, false, size2 - 1, size2, false, true);
	}
	print_message("random: %lu proofs in trees up to %d leaves\n", cases, BIG_TREE);
	store_free(s);
}

static int counting_get(void *arg, unsigned level, uint64_t index, uint8_t out[HASH])
{
	(void)level;
	(void)index;
	(*(unsigned long *)arg)++;
	memset(out, 0x5a, HASH);
	return CU_OK;
}

/* Counts the gets of store_get, for what the edge cache saves. */
static int counted_store_get(void *arg, unsigned level, uint64_t index, uint8_t out[HASH])
{
	struct store *s = arg;

	s->visits++;
	return store_get(arg, level, index, out);
}

/*
 * A batch's receipts: proofs of the last leaves of one tree, with the
 * right-edge hashes shared through a merkle_edge, are the proofs made
 * without it, and cost fewer gets. An edge for another size starts over;
 * one emptied by merkle_edge_reset serves a different tree of the same size.
 */
static void test_proof_edge(void **state)
{
	static const uint64_t sizes[] = {1,   2,   3,	 7,    255,   256,   257,
					 511, 513, 1000, 4097, 65535, 65537, 69999};
	struct store *s = store_new(BIG_TREE), *other = store_new(600);
	uint8_t a[PROOF_BYTES], b[PROOF_BYTES];
	struct merkle_edge edge;
	size_t na, nb, k;
	uint64_t plain, shared, x;

	(void)state;
	store_append_to(s, BIG_TREE);
	merkle_edge_reset(&edge);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint64_t size = sizes[k], first = size > 512 ? size - 512 : 0;

		s->limit = size;
		plain = shared = 0;
		for (x = first; x < size; x++) {
			s->visits = 0;
			assert_int_equal(
			    merkle_inclusion_proof(x, size, counted_store_get, s, a, &na), CU_OK);
			plain += s->visits;
			s->visits = 0;
			assert_int_equal(merkle_inclusion_proof_edge(x, size, counted_store_get, s,
								     &edge, b, &nb),
					 CU_OK);
			shared += s->visits;
			assert_int_equal(na, nb);
			assert_memory_equal(a, b, na * HASH);
		}
		/* A power of two has no incomplete edge; any other size kept one. */
		assert_true((size & (size - 1)) == 0 || (edge.size == size && edge.known != 0));
		/* 65535: 11,275 gets alone, 7,725 shared; 69999: 8,462 and 5,457. */
		assert_true(shared <= plain);
		if (size > 2 && (size & (size - 1)) != 0)
			assert_true(shared < plain);
	}
	/* The same size, another tree: stale until reset. */
	store_append_to(other, 600);
	s->limit = 600;
	assert_int_equal(merkle_inclusion_proof_edge(599, 600, store_get, s, &edge, a, &na), CU_OK);
	merkle_edge_reset(&edge);
	assert_int_equal(merkle_inclusion_proof_edge(0, 600, store_get, other, &edge, b, &nb),
			 CU_OK);
	assert_int_equal(merkle_inclusion_proof(0, 600, store_get, other, a, &na), CU_OK);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na * HASH);
	s->limit = s->range.size;
	store_free(other);
	store_free(s);
}

/* Sizes near 2^64: proof lengths stay within MERKLE_PROOF_MAX. */
static void test_proof_lengths(void **state)
{
	uint8_t proof[PROOF_BYTES];
	unsigned long gets = 0;
	size_t count = 0;
	unsigned calls = 3;

	(void)state;
	assert_int_equal(merkle_inclusion_proof(0, UINT64_MAX, counting_get, &gets, proof, &count),
			 CU_OK);
	assert_int_equal(count, 64);
	assert_int_equal(
	    merkle_inclusion_proof(UINT64_MAX - 1, UINT64_MAX, counting_get, &gets, proof, &count),
	    CU_OK);
	assert_int_equal(count, 63);
	assert_int_equal(
	    merkle_consistency_proof(3, (1ull << 63) + 1, counting_get, &gets, proof, &count),
	    CU_OK);
	assert_int_equal(count, MERKLE_PROOF_MAX);
	/* Bad sizes; the empty tree proves nothing, not even against itself. */
	assert_int_equal(merkle_inclusion_proof(5, 5, counting_get, &gets, proof, &count),
			 CU_ERR_INVALID);
	assert_int_equal(merkle_inclusion_proof(0, 0, counting_get, &gets, proof, &count),
			 CU_ERR_INVALID);
	assert_int_equal(merkle_consistency_proof(0, 5, counting_get, &gets, proof, &count),
			 CU_ERR_INVALID);
	assert_int_equal(merkle_consistency_proof(6, 5, counting_get, &gets, proof, &count),
			 CU_ERR_INVALID);
	crypto_hash_sha256(proof, (const uint8_t *)"", 0);
	assert_int_equal(merkle_verify_consistency(0, 0, NULL, 0, proof, proof), CU_ERR_INVALID);
	assert_int_equal(merkle_verify_consistency(0, 1, NULL, 0, proof, proof), CU_ERR_INVALID);
	/* get's error comes back unchanged and the proof is empty. */
	assert_int_equal(merkle_inclusion_proof(0, 1000, failing_get, &calls, proof, &count),
			 CU_ERR_NOT_FOUND);
	assert_int_equal(count, 0);
	assert_int_equal(
	    merkle_verify_inclusion(proof, 0, UINT64_MAX, proof, MERKLE_PROOF_MAX + 1, proof),
	    CU_ERR_INVALID);
}

/* ---- tiles ---- */

static void test_tile_paths(void **state)
{
	static const struct {
		bool entries;
		struct merkle_tile tile;
		const char *expect; /* NULL: CU_ERR_INVALID */
	} cases[] = {
	    {false, {0, 1234067, 256}, "tile/0/x001/x234/067"},
	    {false, {0, 0, 256}, "tile/0/000"},
	    {false, {0, 999, 256}, "tile/0/999"},
	    {false, {0, 1000, 256}, "tile/0/x001/000"},
	    {false, {1, 1, 17}, "tile/1/001.p/17"},
	    {false, {2, 0, 1}, "tile/2/000.p/1"},
	    {false, {0, 273, 112}, "tile/0/273.p/112"},
	    {false, {63, UINT64_MAX, 255}, "tile/63/x018/x446/x744/x073/x709/x551/615.p/255"},
	    {true, {0, 1234067, 256}, "tile/entries/x001/x234/067"},
	    {true, {0, 273, 112}, "tile/entries/273.p/112"},
	    {true, {0, UINT64_MAX, 1}, "tile/entries/x018/x446/x744/x073/x709/x551/615.p/1"},
	    {false, {64, 0, 256}, NULL},
	    {false, {0, 0, 0}, NULL},
	    {false, {0, 0, 257}, NULL},
	    {true, {0, 0, 0}, NULL},
	    {true, {0, 0, 257}, NULL},
	    {true, {1, 0, 256}, NULL},
	};
	char out[MERKLE_TILE_PATH_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = cases[i].entries ? merkle_entries_path(&cases[i].tile, out)
					  : merkle_tile_path(&cases[i].tile, out);

		assert_int_equal(rc, cases[i].expect != NULL ? CU_OK : CU_ERR_INVALID);
		if (cases[i].expect != NULL) {
			assert_string_equal(out, cases[i].expect);
		}
	}
}

static void test_tile_widths(void **state)
{
	/* The spec's examples: 70,000 leaves are 273 full level 0 tiles, one
	 * of width 112, a full level 1 tile, one of width 17, one level 2
	 * tile of width 1; 256 leaves a full level 0 tile and a level 1 tile
	 * of width 1. */
	static const struct {
		uint64_t size;
		unsigned level;
		uint64_t count, index;
		unsigned width;
	} cases[] = {
	    {70000, 0, 274, 272, 256}, {70000, 0, 274, 273, 112}, {70000, 0, 274, 274, 0},
	    {70000, 1, 2, 0, 256},     {70000, 1, 2, 1, 17},	  {70000, 2, 1, 0, 1},
	    {70000, 3, 0, 0, 0},       {256, 0, 1, 0, 256},	  {256, 1, 1, 0, 1},
	    {256, 2, 0, 0, 0},	       {0, 0, 0, 0, 0},		  {UINT64_MAX, 7, 1, 0, 255},
	    {UINT64_MAX, 8, 0, 0, 0},  {UINT64_MAX, 63, 0, 0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(merkle_tile_count(cases[i].size, cases[i].level), cases[i].count);
		assert_int_equal(merkle_tile_width(cases[i].size, cases[i].level, cases[i].index),
				 cases[i].width);
	}
	assert_int_equal(merkle_tile_level_hashes(70000, 1), 273);
	assert_int_equal(merkle_tile_level_hashes(UINT64_MAX, 7), 255);
}

static void test_tile_locate(void **state)
{
	static const struct {
		uint64_t size;
		unsigned level;
		uint64_t index;
		struct merkle_tile_pos want; /* count 0: CU_ERR_INVALID */
	} cases[] = {
	    {1234068, 0, 1234067, {{0, 4820, 148}, 147, 1}},
	    {70000, 8, 5, {{1, 0, 256}, 5, 1}},
	    {70000, 8, 272, {{1, 1, 17}, 16, 1}},
	    {70000, 3, 33, {{0, 1, 256}, 8, 8}},
	    {70000, 15, 1, {{1, 0, 256}, 128, 128}},
	    {70000, 9, 135, {{1, 1, 17}, 14, 2}},
	    {70000, 16, 0, {{2, 0, 1}, 0, 1}},
	    {1ull << 63, 63, 0, {{7, 0, 128}, 0, 128}},
	    {UINT64_MAX, 0, UINT64_MAX - 1, {{0, (UINT64_MAX - 1) / 256, 255}, 254, 1}},
	    {70000, 17, 0, {{0, 0, 0}, 0, 0}},
	    {70000, 0, 70000, {{0, 0, 0}, 0, 0}},
	    {70000, 64, 0, {{0, 0, 0}, 0, 0}},
	};
	struct merkle_tile_pos pos;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct merkle_tile_pos *want = &cases[i].want;
		int rc = merkle_tile_locate(cases[i].size, cases[i].level, cases[i].index, &pos);

		assert_int_equal(rc, want->count != 0 ? CU_OK : CU_ERR_INVALID);
		if (rc == CU_OK) {
			assert_int_equal(pos.tile.level, want->tile.level);
			assert_int_equal(pos.tile.index, want->tile.index);
			assert_int_equal(pos.tile.width, want->tile.width);
			assert_int_equal(pos.first, want->first);
			assert_int_equal(pos.count, want->count);
		}
	}
}

/* The tiles of a tree hold exactly its nodes at levels 0, 8, 16, ... */
static void check_tiles_hold_stored(const struct store *s, uint64_t size)
{
	unsigned tl;

	for (tl = 0; tl * MERKLE_TILE_HEIGHT < MERKLE_MAX_LEVELS; tl++) {
		unsigned level = tl * MERKLE_TILE_HEIGHT;
		uint64_t hashes = merkle_tile_level_hashes(size, tl), n, total = 0;
		uint64_t tiles = merkle_tile_count(size, tl);

		for (n = 0; n < tiles; n++) {
			unsigned w = merkle_tile_width(size, tl, n), i;

			assert_true(w >= 1 && w <= MERKLE_TILE_WIDTH);
			assert_true(w == MERKLE_TILE_WIDTH || n == tiles - 1);
			for (i = 0; i < w; i++) {
				assert_true(s->present[level][n * MERKLE_TILE_WIDTH + i]);
			}
			total += w;
		}
		assert_int_equal(merkle_tile_width(size, tl, tiles), 0);
		assert_int_equal(total, hashes);
		/* Nothing beyond: the next node of this level is not complete. */
		if (s->range.size == size && s->present[level] != NULL &&
		    hashes < s->capacity >> level) {
			assert_false(s->present[level][hashes]);
		}
		if (hashes == 0) {
			break;
		}
	}
}

static void test_tiles_hold_stored(void **state)
{
	struct store *s = store_new(BIG_TREE);
	uint64_t size;

	(void)state;
	for (size = 0; size <= 600; size++) {
		store_append_to(s, size);
		check_tiles_hold_stored(s, size);
	}
	store_append_to(s, BIG_TREE);
	check_tiles_hold_stored(s, BIG_TREE);
	for (size = 65530; size <= 65540; size++) {
		check_tiles_hold_stored(s, size);
	}
	store_free(s);
}

int main(void)
{
	const char *env = getenv("CUSTODY_SOURCE_ROOT");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_hashes),
	    cmocka_unit_test(test_range_roots),
	    cmocka_unit_test(test_range_limits),
	    cmocka_unit_test(test_inclusion_exhaustive),
	    cmocka_unit_test(test_consistency_exhaustive),
	    cmocka_unit_test(test_random_big),
	    cmocka_unit_test(test_proof_lengths),
	    cmocka_unit_test(test_proof_edge),
	    cmocka_unit_test(test_tile_paths),
	    cmocka_unit_test(test_tile_widths),
	    cmocka_unit_test(test_tile_locate),
	    cmocka_unit_test(test_tiles_hold_stored),
	};

	snprintf(source_root, sizeof(source_root), "%s", env != NULL ? env : ".");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
