/*
 * note.c - signed notes, checkpoints and cosignatures (see note.h).
 *
 * Every input is a (pointer, length) span: lines are found with memchr
 * inside the span and base64 is decoded by libsodium into fixed buffers
 * whose capacity is passed along, so nothing reads past what the caller
 * gave. A note is validated in full before any signature is checked, so a
 * malformed note is always reported as malformed, whatever its signatures.
 */
#include "note.h"

#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* U+2014 EM DASH in UTF-8, then a space: how every signature line starts. */
#define SIG_PREFIX	    "\xe2\x80\x94 "
#define SIG_PREFIX_LEN	    4
#define KEY_ID_BYTES	    4
#define COSIG_TIME_BYTES    8
#define COSIG_VALUE_BYTES   (KEY_ID_BYTES + COSIG_TIME_BYTES + KEY_SIG_BYTES)
#define COSIG_HEADER	    "cosignature/v1\ntime "
#define SIGNER_PREFIX	    "PRIVATE+KEY+"
#define SIGNER_PREFIX_LEN   12
#define SEED_BYTES	    32
#define KEY_BLOB_BYTES	    (1 + KEY_PUBLIC_BYTES) /* type || key, in key strings */
#define SHOWN_NAME_MAX	    80			   /* bytes of a name quoted in errors */
#define COSIG_TIMESTAMP_MAX ((uint64_t)INT64_MAX)

/* Length to quote of a name in an error message. */
static int shown(size_t len)
{
	return len > SHOWN_NAME_MAX ? SHOWN_NAME_MAX : (int)len;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/*
 * Decodes one UTF-8 sequence at s (n > 0 bytes left) into *cp and returns
 * its length, or 0 if it is not valid UTF-8: truncated, overlong, a
 * surrogate or above U+10FFFF (what Go's utf8.DecodeRune refuses too).
 */
static size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, c &= 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, c &= 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* The signed-note rule for the whole note: UTF-8, no control but "\n". */
static bool text_ok(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t len = utf8_decode(p + i, n - i, &cp);

		if (len == 0 || (cp < 0x20 && cp != '\n'))
			return false;
		i += len;
	}
	return true;
}

/* Unicode White_Space, the set Go's unicode.IsSpace tests for names. */
static bool is_space(uint32_t cp)
{
	switch (cp) {
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
	case ' ':
	case 0x85:
	case 0xa0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202f:
	case 0x205f:
	case 0x3000:
		return true;
	}
	return cp >= 0x2000 && cp <= 0x200a;
}

int note_name_check(const char *name, size_t len)
{
	const uint8_t *p = (const uint8_t *)name;
	size_t i = 0;

	if (len == 0)
		return CU_ERR_INVALID;
	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);

		if (n == 0 || cp < 0x20 || cp == '+' || is_space(cp))
			return CU_ERR_INVALID;
		i += n;
	}
	return CU_OK;
}

/* Measures and checks a NUL-terminated name argument of ours. */
static int name_arg(const char *name, size_t *len)
{
	*len = strnlen(name, NOTE_NAME_MAX + 1);
	if (*len > NOTE_NAME_MAX)
		return CU_ERR_INVALID;
	return note_name_check(name, *len);
}

uint32_t note_key_id(const char *name, size_t name_len, uint8_t type,
		     const uint8_t pk[KEY_PUBLIC_BYTES])
{
	crypto_hash_sha256_state st;
	uint8_t sum[crypto_hash_sha256_BYTES];
	const uint8_t sep[2] = {'\n', type};

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)name, name_len);
	crypto_hash_sha256_update(&st, sep, sizeof(sep));
	crypto_hash_sha256_update(&st, pk, KEY_PUBLIC_BYTES);
	crypto_hash_sha256_final(&st, sum);
	return get_be32(sum);
}

static bool type_ok(uint8_t type)
{
	return type == NOTE_TYPE_ED25519 || type == NOTE_TYPE_COSIG_V1;
}

/* note_verifier_init for a name span (not NUL-terminated). */
static int verifier_fill(struct note_verifier *v, const char *name, size_t name_len, uint8_t type,
			 const uint8_t pk[KEY_PUBLIC_BYTES])
{
	if (name_len > NOTE_NAME_MAX || note_name_check(name, name_len) != CU_OK || !type_ok(type))
		return CU_ERR_INVALID;
	memset(v, 0, sizeof(*v));
	memcpy(v->name, name, name_len);
	v->name_len = name_len;
	v->type = type;
	memcpy(v->pk, pk, KEY_PUBLIC_BYTES);
	v->key_id = note_key_id(name, name_len, type, pk);
	return CU_OK;
}

int note_verifier_init(struct note_verifier *v, const char *name, uint8_t type,
		       const uint8_t pk[KEY_PUBLIC_BYTES])
{
	return verifier_fill(v, name, strnlen(name, NOTE_NAME_MAX + 1), type, pk);
}

/* Parses exactly 8 lowercase hex digits at s (NUL-terminated) into *id. */
static int parse_hex_id(const char *s, uint32_t *id)
{
	uint32_t v = 0;

	for (int i = 0; i < 8; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint32_t)(c - 'a' + 10);
		else
			return CU_ERR_INVALID;
	}
	*id = v;
	return CU_OK;
}

/*
 * Splits "<name>+<8 lowercase hex>+<rest>", the shape of a verifier key and
 * of a signer key after its prefix. The rest (base64) may itself hold '+'.
 */
static int split_key(const char *s, const char **name, size_t *name_len, uint32_t *id,
		     const char **rest, char *err, size_t err_size)
{
	const char *plus = strchr(s, '+');

	if (plus == NULL)
		return cu_fail(err, err_size, "key has no '+' after its name");
	*name = s;
	*name_len = (size_t)(plus - s);
	if (*name_len > NOTE_NAME_MAX || note_name_check(s, *name_len) != CU_OK)
		return cu_fail(err, err_size, "key has an invalid name");
	if (parse_hex_id(plus + 1, id) != CU_OK || plus[9] != '+')
		return cu_fail(err, err_size, "key id is not 8 lowercase hex digits");
	*rest = plus + 10;
	return CU_OK;
}

/* Decodes base64(type || 32-byte key) and checks the type. */
static int decode_key_blob(const char *b64, uint8_t blob[KEY_BLOB_BYTES], char *err,
			   size_t err_size)
{
	size_t len = 0;

	if (codec_b64_decode_span(b64, strlen(b64), blob, KEY_BLOB_BYTES, &len) != CU_OK ||
	    len != KEY_BLOB_BYTES)
		return cu_fail(err, err_size, "key is not the base64 of a type and 32 bytes");
	if (!type_ok(blob[0]))
		return cu_fail(err, err_size, "unsupported key type 0x%02x", blob[0]);
	return CU_OK;
}

int note_verifier_parse(const char *text, struct note_verifier *v, char *err, size_t err_size)
{
	const char *name, *b64;
	size_t name_len;
	uint32_t id;
	uint8_t blob[KEY_BLOB_BYTES];
	int rc;

	rc = split_key(text, &name, &name_len, &id, &b64, err, err_size);
	if (rc != CU_OK)
		return rc;
	rc = decode_key_blob(b64, blob, err, err_size);
	if (rc != CU_OK)
		return rc;
	rc = verifier_fill(v, name, name_len, blob[0], blob + 1);
	if (rc != CU_OK)
		return rc;
	if (v->key_id != id)
		return cu_fail(err, err_size, "key id %08" PRIx32 " does not match the key", id);
	return CU_OK;
}

int note_verifier_format(const struct note_verifier *v, char *out, size_t out_size)
{
	uint8_t blob[KEY_BLOB_BYTES];
	char b64[CODEC_B64_SIZE(KEY_BLOB_BYTES)];
	int n;

	blob[0] = v->type;
	memcpy(blob + 1, v->pk, KEY_PUBLIC_BYTES);
	codec_b64_encode(blob, sizeof(blob), b64, sizeof(b64));
	n = snprintf(out, out_size, "%s+%08" PRIx32 "+%s", v->name, v->key_id, b64);
	if (n < 0 || (size_t)n >= out_size)
		return CU_ERR_TOO_BIG;
	return CU_OK;
}

int note_signer_format(const char *name, uint8_t type, const struct cu_key *key, char *out,
		       size_t out_size)
{
	struct note_verifier v;
	uint8_t blob[1 + SEED_BYTES];
	char b64[CODEC_B64_SIZE(sizeof(blob))];
	int n, rc;

	rc = note_verifier_init(&v, name, type, key->pk);
	if (rc != CU_OK)
		return rc;
	/* A libsodium secret key is seed || public key; Go stores the seed. */
	blob[0] = type;
	memcpy(blob + 1, key->sk, SEED_BYTES);
	codec_b64_encode(blob, sizeof(blob), b64, sizeof(b64));
	n = snprintf(out, out_size, SIGNER_PREFIX "%s+%08" PRIx32 "+%s", v.name, v.key_id, b64);
	sodium_memzero(blob, sizeof(blob));
	sodium_memzero(b64, sizeof(b64));
	if (n < 0 || (size_t)n >= out_size) {
		sodium_memzero(out, out_size);
		return CU_ERR_TOO_BIG;
	}
	return CU_OK;
}

/* Makes a key in guarded memory from the seed in blob (type || seed). */
static int key_from_seed(const uint8_t blob[KEY_BLOB_BYTES], struct cu_key **out)
{
	struct cu_key *key = sodium_malloc(sizeof(*key));

	if (key == NULL)
		return CU_ERR_NOMEM;
	if (crypto_sign_seed_keypair(key->pk, key->sk, blob + 1) != 0) {
		key_free(key);
		return CU_ERR_CRYPTO;
	}
	*out = key;
	return CU_OK;
}

int note_signer_parse(const char *text, struct note_verifier *v, struct cu_key **key, char *err,
		      size_t err_size)
{
	const char *name, *b64;
	size_t name_len;
	uint32_t id;
	uint8_t blob[KEY_BLOB_BYTES];
	struct cu_key *k = NULL;
	int rc;

	*key = NULL;
	if (sodium_init() < 0)
		return CU_ERR_CRYPTO;
	if (strncmp(text, SIGNER_PREFIX, SIGNER_PREFIX_LEN) != 0)
		return cu_fail(err, err_size, "signer key does not start with " SIGNER_PREFIX);
	rc = split_key(text + SIGNER_PREFIX_LEN, &name, &name_len, &id, &b64, err, err_size);
	if (rc == CU_OK)
		rc = decode_key_blob(b64, blob, err, err_size);
	if (rc == CU_OK)
		rc = key_from_seed(blob, &k);
	if (rc == CU_OK)
		rc = verifier_fill(v, name, name_len, blob[0], k->pk);
	if (rc == CU_OK && v->key_id != id)
		rc = cu_fail(err, err_size, "key id %08" PRIx32 " does not match the key", id);
	sodium_memzero(blob, sizeof(blob));
	if (rc != CU_OK) {
		key_free(k);
		return rc;
	}
	*key = k;
	return CU_OK;
}

/*
 * Appends "— <name> <base64(value)>\n" and a NUL at out[*pos] (out_size
 * bytes in all) and advances *pos past the "\n".
 */
static int put_sig_line(char *out, size_t out_size, size_t *pos, const char *name, size_t name_len,
			const uint8_t *value, size_t value_len)
{
	char b64[CODEC_B64_SIZE(COSIG_VALUE_BYTES)];
	size_t b64_len, need;
	char *p;

	assert(value_len <= COSIG_VALUE_BYTES);
	codec_b64_encode(value, value_len, b64, sizeof(b64));
	b64_len = strlen(b64);
	need = SIG_PREFIX_LEN + name_len + 1 + b64_len + 1;
	if (*pos > out_size || out_size - *pos <= need)
		return CU_ERR_TOO_BIG;
	p = out + *pos;
	memcpy(p, SIG_PREFIX, SIG_PREFIX_LEN);
	p += SIG_PREFIX_LEN;
	memcpy(p, name, name_len);
	p += name_len;
	*p++ = ' ';
	memcpy(p, b64, b64_len);
	p += b64_len;
	*p++ = '\n';
	*p = '\0';
	*pos += need;
	return CU_OK;
}

int note_sign(const char *text, size_t text_len, const char *name, const struct cu_key *key,
	      char *out, size_t out_size, size_t *out_len)
{
	uint8_t value[KEY_ID_BYTES + KEY_SIG_BYTES];
	size_t name_len, pos;
	int rc;

	if (text_len == 0 || text[text_len - 1] != '\n' || !text_ok(text, text_len))
		return CU_ERR_INVALID;
	rc = name_arg(name, &name_len);
	if (rc != CU_OK)
		return rc;
	if (out_size < 2 || out_size - 2 < text_len)
		return CU_ERR_TOO_BIG;
	put_be32(value, note_key_id(name, name_len, NOTE_TYPE_ED25519, key->pk));
	if (crypto_sign_detached(value + KEY_ID_BYTES, NULL, (const uint8_t *)text, text_len,
				 key->sk) != 0)
		return CU_ERR_CRYPTO;
	memcpy(out, text, text_len);
	out[text_len] = '\n'; /* the blank line that ends the text */
	pos = text_len + 1;
	rc = put_sig_line(out, out_size, &pos, name, name_len, value, sizeof(value));
	if (rc != CU_OK)
		return rc;
	*out_len = pos;
	return CU_OK;
}

/*
 * Builds "cosignature/v1\ntime <t>\n" || body in a new malloc'd buffer;
 * *msg is owned by the caller.
 */
static int cosig_message(uint64_t t, const char *body, size_t body_len, uint8_t **msg,
			 size_t *msg_len)
{
	char head[sizeof(COSIG_HEADER) + 21];
	int n = snprintf(head, sizeof(head), COSIG_HEADER "%" PRIu64 "\n", t);

	if (n < 0 || (size_t)n >= sizeof(head))
		return CU_ERR_INVALID;
	if (body_len > SIZE_MAX - (size_t)n)
		return CU_ERR_TOO_BIG;
	*msg = malloc((size_t)n + body_len);
	if (*msg == NULL)
		return CU_ERR_NOMEM;
	memcpy(*msg, head, (size_t)n);
	memcpy(*msg + n, body, body_len);
	*msg_len = (size_t)n + body_len;
	return CU_OK;
}

/* Checks an Ed25519 cosignature/v1 signature made at time t over body. */
static int cosig_check(const uint8_t pk[KEY_PUBLIC_BYTES], const char *body, size_t body_len,
		       uint64_t t, const uint8_t sig[KEY_SIG_BYTES])
{
	uint8_t *msg = NULL;
	size_t msg_len;
	int rc;

	/* The specification caps timestamps at 2^63-1. */
	if (t > COSIG_TIMESTAMP_MAX)
		return CU_ERR_SIGNATURE;
	rc = cosig_message(t, body, body_len, &msg, &msg_len);
	if (rc != CU_OK)
		return rc;
	if (crypto_sign_verify_detached(sig, msg, msg_len, pk) != 0)
		rc = CU_ERR_SIGNATURE;
	free(msg);
	return rc;
}

/*
 * Verifies a decoded signature value (key id || signature) by v over text;
 * *timestamp gets the cosignature time (0 for type 0x01). A value of the
 * wrong length for the type is a signature that does not verify.
 */
static int verify_value(const struct note_verifier *v, const char *text, size_t text_len,
			const uint8_t *value, size_t value_len, uint64_t *timestamp)
{
	const uint8_t *sig = value + KEY_ID_BYTES;
	size_t sig_len = value_len - KEY_ID_BYTES;
	uint64_t t;
	int rc;

	*timestamp = 0;
	if (v->type == NOTE_TYPE_ED25519) {
		if (sig_len != KEY_SIG_BYTES ||
		    crypto_sign_verify_detached(sig, (const uint8_t *)text, text_len, v->pk) != 0)
			return CU_ERR_SIGNATURE;
		return CU_OK;
	}
	if (v->type != NOTE_TYPE_COSIG_V1 || sig_len != COSIG_TIME_BYTES + KEY_SIG_BYTES)
		return CU_ERR_SIGNATURE;
	t = get_be64(sig);
	rc = cosig_check(v->pk, text, text_len, t, sig + COSIG_TIME_BYTES);
	if (rc == CU_OK)
		*timestamp = t;
	return rc;
}

/* A cursor over lines that each end in "\n" (the caller checked the end). */
struct line_iter {
	const char *p;
	const char *end;
};

/* Returns the next line, without its "\n", or false at the end. */
static bool next_line(struct line_iter *it, const char **line, size_t *len)
{
	const char *nl;

	if (it->p >= it->end)
		return false;
	nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
	if (nl == NULL) /* cannot happen: every span here ends in "\n" */
		return false;
	*line = it->p;
	*len = (size_t)(nl - it->p);
	it->p = nl + 1;
	return true;
}

/*
 * Parses one signature line (without its "\n"): "— ", a valid key name, one
 * space and the padded base64 of 5 to NOTE_SIG_MAX_BYTES bytes, decoded into
 * value (NOTE_SIG_MAX_BYTES). Fills sig's spans and key id.
 */
static int parse_sig_line(const char *line, size_t len, struct note_sig *sig, uint8_t *value,
			  size_t *value_len, char *err, size_t err_size)
{
	const char *space;

	memset(sig, 0, sizeof(*sig));
	if (len < SIG_PREFIX_LEN || memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
		return cu_fail(err, err_size, "signature line does not start with an em dash");
	line += SIG_PREFIX_LEN;
	len -= SIG_PREFIX_LEN;
	space = memchr(line, ' ', len);
	if (space == NULL)
		return cu_fail(err, err_size, "signature line has no space after its key name");
	sig->name = line;
	sig->name_len = (size_t)(space - line);
	sig->b64 = space + 1;
	sig->b64_len = len - sig->name_len - 1;
	if (note_name_check(sig->name, sig->name_len) != CU_OK)
		return cu_fail(err, err_size, "signature line has an invalid key name");
	if (codec_b64_decode_span(sig->b64, sig->b64_len, value, NOTE_SIG_MAX_BYTES, value_len) !=
		CU_OK ||
	    *value_len <= KEY_ID_BYTES)
		return cu_fail(err, err_size, "signature of %.*s is not base64 of 5 to %d bytes",
			       shown(sig->name_len), sig->name, NOTE_SIG_MAX_BYTES);
	sig->key_id = get_be32(value);
	return CU_OK;
}

/*
 * Checks the whole message (UTF-8, no control character but "\n") and
 * splits it at its last blank line into the text and the signature block.
 */
static int split_note(const char *msg, size_t msg_len, struct note_opened *out,
		      struct line_iter *block, char *err, size_t err_size)
{
	size_t i;

	if (!text_ok(msg, msg_len))
		return cu_fail(err, err_size, "note is not UTF-8 text without control characters");
	/* The last "\n\n" ends the text: signature lines are never empty. */
	for (i = msg_len; i >= 2; i--)
		if (msg[i - 2] == '\n' && msg[i - 1] == '\n')
			break;
	if (i < 2)
		return cu_fail(err, err_size, "note has no blank line before its signatures");
	if (i == msg_len)
		return cu_fail(err, err_size, "note has no signature lines");
	if (msg[msg_len - 1] != '\n')
		return cu_fail(err, err_size, "note does not end in a newline");
	out->text = msg;
	out->text_len = i - 1;
	block->p = msg + i;
	block->end = msg + msg_len;
	return CU_OK;
}

/* First pass: every line must parse, and there are at most NOTE_MAX_SIGS. */
static int check_sig_block(struct line_iter it, char *err, size_t err_size)
{
	uint8_t value[NOTE_SIG_MAX_BYTES];
	struct note_sig sig;
	const char *line;
	size_t len, value_len, count = 0;
	int rc;

	while (next_line(&it, &line, &len)) {
		if (++count > NOTE_MAX_SIGS)
			return cu_fail(err, err_size, "note has more than %d signatures",
				       NOTE_MAX_SIGS);
		rc = parse_sig_line(line, len, &sig, value, &value_len, err, err_size);
		if (rc != CU_OK)
			return rc;
	}
	return CU_OK;
}

/* Finds the known key named like sig; two of them is a broken key list. */
static int find_verifier(const struct note_verifier *vs, size_t n, const struct note_sig *sig,
			 const struct note_verifier **found)
{
	*found = NULL;
	for (size_t i = 0; i < n; i++) {
		if (vs[i].key_id != sig->key_id || vs[i].name_len != sig->name_len ||
		    memcmp(vs[i].name, sig->name, sig->name_len) != 0)
			continue;
		if (*found != NULL)
			return CU_ERR_INVALID;
		*found = &vs[i];
	}
	return CU_OK;
}

/* Lists sig unless already listed: once per known key, once per unknown line. */
static void record_sig(struct note_opened *out, const struct note_sig *sig)
{
	for (size_t i = 0; i < out->n_sigs; i++) {
		const struct note_sig *s = &out->sigs[i];

		if (sig->verifier != NULL && s->verifier == sig->verifier)
			return;
		if (sig->verifier == NULL && s->verifier == NULL && s->name_len == sig->name_len &&
		    s->b64_len == sig->b64_len && memcmp(s->name, sig->name, s->name_len) == 0 &&
		    memcmp(s->b64, sig->b64, s->b64_len) == 0)
			return;
	}
	if (out->n_sigs >= NOTE_MAX_SIGS) /* cannot happen: check_sig_block counted */
		return;
	out->sigs[out->n_sigs++] = *sig;
	if (sig->verifier != NULL)
		out->n_verified++;
}

/* Second pass: match each line to the known keys and verify those. */
static int verify_sig_block(struct line_iter it, const struct note_verifier *vs, size_t n_vs,
			    struct note_opened *out, char *err, size_t err_size)
{
	uint8_t value[NOTE_SIG_MAX_BYTES];
	struct note_sig sig;
	const char *line;
	size_t len, value_len;
	int rc;

	while (next_line(&it, &line, &len)) {
		rc = parse_sig_line(line, len, &sig, value, &value_len, err, err_size);
		if (rc != CU_OK)
			return rc;
		if (find_verifier(vs, n_vs, &sig, &sig.verifier) != CU_OK)
			return cu_fail(err, err_size, "ambiguous key %.*s+%08" PRIx32,
				       shown(sig.name_len), sig.name, sig.key_id);
		if (sig.verifier != NULL) {
			rc = verify_value(sig.verifier, out->text, out->text_len, value, value_len,
					  &sig.timestamp);
			if (rc == CU_ERR_SIGNATURE)
				(void)cu_fail(err, err_size,
					      "invalid signature for key %s+%08" PRIx32,
					      sig.verifier->name, sig.key_id);
			if (rc != CU_OK)
				return rc;
		}
		record_sig(out, &sig);
	}
	return CU_OK;
}

int note_open(const char *msg, size_t msg_len, const struct note_verifier *verifiers,
	      size_t n_verifiers, struct note_opened *out, char *err, size_t err_size)
{
	struct line_iter block;
	int rc;

	out->text = NULL;
	out->text_len = 0;
	out->n_sigs = 0;
	out->n_verified = 0;
	if (sodium_init() < 0)
		return CU_ERR_CRYPTO;
	rc = split_note(msg, msg_len, out, &block, err, err_size);
	if (rc == CU_OK)
		rc = check_sig_block(block, err, err_size);
	if (rc == CU_OK)
		rc = verify_sig_block(block, verifiers, n_verifiers, out, err, err_size);
	if (rc != CU_OK) {
		out->text = NULL;
		out->text_len = 0;
		out->n_sigs = 0;
		out->n_verified = 0;
		return rc;
	}
	if (out->n_verified == 0) {
		(void)cu_fail(err, err_size, "note has no signature from a known key");
		return CU_ERR_NOT_FOUND;
	}
	return CU_OK;
}

int note_checkpoint_format(const char *origin, uint64_t size,
			   const uint8_t root[NOTE_CHECKPOINT_ROOT_BYTES], char *out,
			   size_t out_size, size_t *out_len)
{
	char b64[CODEC_B64_SIZE(NOTE_CHECKPOINT_ROOT_BYTES)];
	size_t origin_len;
	int n, rc;

	rc = name_arg(origin, &origin_len);
	if (rc != CU_OK)
		return rc;
	codec_b64_encode(root, NOTE_CHECKPOINT_ROOT_BYTES, b64, sizeof(b64));
	n = snprintf(out, out_size, "%s\n%" PRIu64 "\n%s\n", origin, size, b64);
	if (n < 0 || (size_t)n >= out_size)
		return CU_ERR_TOO_BIG;
	*out_len = (size_t)n;
	return CU_OK;
}

/* ASCII decimal, no sign, no leading zero unless it is "0", fits 64 bits. */
static int parse_tree_size(const char *s, size_t len, uint64_t *size)
{
	uint64_t v = 0;

	if (len == 0 || (s[0] == '0' && len > 1))
		return CU_ERR_INVALID;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return CU_ERR_INVALID;
		v = v * 10 + d;
	}
	*size = v;
	return CU_OK;
}

/* Checks the extension lines: any number, none of them empty. */
static int check_extensions(struct line_iter it, char *err, size_t err_size)
{
	const char *line;
	size_t len;

	while (next_line(&it, &line, &len))
		if (len == 0)
			return cu_fail(err, err_size, "checkpoint has an empty extension line");
	return CU_OK;
}

int note_checkpoint_parse(const char *text, size_t text_len, struct note_checkpoint *out, char *err,
			  size_t err_size)
{
	struct line_iter it = {text, text + text_len};
	const char *origin, *size, *root;
	size_t origin_len, size_len, root_len, got = 0;

	memset(out, 0, sizeof(*out));
	if (text_len == 0 || text[text_len - 1] != '\n')
		return cu_fail(err, err_size, "checkpoint does not end in a newline");
	if (!text_ok(text, text_len))
		return cu_fail(err, err_size, "checkpoint is not UTF-8 without control characters");
	if (!next_line(&it, &origin, &origin_len) || !next_line(&it, &size, &size_len) ||
	    !next_line(&it, &root, &root_len))
		return cu_fail(err, err_size, "checkpoint has fewer than three lines");
	if (origin_len == 0)
		return cu_fail(err, err_size, "checkpoint has an empty origin");
	if (parse_tree_size(size, size_len, &out->size) != CU_OK)
		return cu_fail(err, err_size, "checkpoint tree size is not canonical decimal");
	if (codec_b64_decode_span(root, root_len, out->root, NOTE_CHECKPOINT_ROOT_BYTES, &got) !=
		CU_OK ||
	    got != NOTE_CHECKPOINT_ROOT_BYTES)
		return cu_fail(err, err_size, "checkpoint root is not the base64 of 32 bytes");
	if (check_extensions(it, err, err_size) != CU_OK)
		return CU_ERR_INVALID;
	out->origin = origin;
	out->origin_len = origin_len;
	if (it.p < it.end) {
		out->extensions = it.p;
		out->extensions_len = (size_t)(it.end - it.p);
	}
	return CU_OK;
}

int note_cosig_sign(const char *checkpoint, size_t checkpoint_len, const char *name,
		    const struct cu_key *key, uint64_t timestamp, char *line, size_t line_size,
		    size_t *line_len)
{
	struct note_checkpoint cp;
	uint8_t value[COSIG_VALUE_BYTES];
	uint8_t *msg = NULL;
	size_t name_len, msg_len, pos = 0;
	int rc;

	/* A witness states something about a tree head: refuse anything else. */
	if (note_checkpoint_parse(checkpoint, checkpoint_len, &cp, NULL, 0) != CU_OK ||
	    timestamp > COSIG_TIMESTAMP_MAX)
		return CU_ERR_INVALID;
	rc = name_arg(name, &name_len);
	if (rc != CU_OK)
		return rc;
	rc = cosig_message(timestamp, checkpoint, checkpoint_len, &msg, &msg_len);
	if (rc != CU_OK)
		return rc;
	put_be32(value, note_key_id(name, name_len, NOTE_TYPE_COSIG_V1, key->pk));
	put_be64(value + KEY_ID_BYTES, timestamp);
	if (crypto_sign_detached(value + KEY_ID_BYTES + COSIG_TIME_BYTES, NULL, msg, msg_len,
				 key->sk) != 0)
		rc = CU_ERR_CRYPTO;
	free(msg);
	if (rc == CU_OK)
		rc = put_sig_line(line, line_size, &pos, name, name_len, value, sizeof(value));
	if (rc != CU_OK)
		return rc;
	*line_len = pos;
	return CU_OK;
}

/* Checks that line is exactly one signature line, "\n" included. */
static bool one_line(const char *line, size_t len)
{
	return len > 0 && line[len - 1] == '\n' && memchr(line, '\n', len - 1) == NULL &&
	       text_ok(line, len);
}

int note_cosig_verify(const char *checkpoint, size_t checkpoint_len, const struct note_verifier *v,
		      const char *line, size_t line_len, uint64_t *timestamp, char *err,
		      size_t err_size)
{
	struct note_checkpoint cp;
	struct note_sig sig;
	uint8_t value[NOTE_SIG_MAX_BYTES];
	size_t value_len;
	int rc;

	if (sodium_init() < 0)
		return CU_ERR_CRYPTO;
	rc = note_checkpoint_parse(checkpoint, checkpoint_len, &cp, err, err_size);
	if (rc != CU_OK)
		return rc;
	if (v->type != NOTE_TYPE_COSIG_V1)
		return cu_fail(err, err_size, "key %s is not a cosignature/v1 key", v->name);
	if (!one_line(line, line_len))
		return cu_fail(err, err_size, "cosignature is not one line of text");
	rc = parse_sig_line(line, line_len - 1, &sig, value, &value_len, err, err_size);
	if (rc != CU_OK)
		return rc;
	if (sig.key_id != v->key_id || sig.name_len != v->name_len ||
	    memcmp(sig.name, v->name, v->name_len) != 0)
		return cu_fail(err, err_size, "cosignature is not from key %s+%08" PRIx32, v->name,
			       v->key_id);
	rc = verify_value(v, checkpoint, checkpoint_len, value, value_len, timestamp);
	if (rc == CU_ERR_SIGNATURE)
		(void)cu_fail(err, err_size, "invalid cosignature from key %s+%08" PRIx32, v->name,
			      v->key_id);
	return rc;
}

int note_only_signed_by(const struct note_opened *n, const struct note_verifier *v, char *out,
			size_t out_size, size_t *out_len)
{
	for (size_t i = 0; i < n->n_sigs; i++) {
		const struct note_sig *sig = &n->sigs[i];
		int len;

		if (sig->verifier == NULL || sig->verifier->key_id != v->key_id ||
		    sig->verifier->name_len != v->name_len ||
		    memcmp(sig->verifier->name, v->name, v->name_len) != 0 ||
		    memcmp(sig->verifier->pk, v->pk, sizeof(v->pk)) != 0)
			continue;
		if (n->text_len > INT_MAX || sig->name_len > INT_MAX || sig->b64_len > INT_MAX)
			return CU_ERR_TOO_BIG;
		len = snprintf(out, out_size, "%.*s\n" SIG_PREFIX "%.*s %.*s\n", (int)n->text_len,
			       n->text, (int)sig->name_len, sig->name, (int)sig->b64_len, sig->b64);
		if (len < 0 || (size_t)len >= out_size)
			return CU_ERR_TOO_BIG;
		*out_len = (size_t)len;
		return CU_OK;
	}
	return CU_ERR_NOT_FOUND;
}
