/*
 * noise.c - the Noise Protocol Framework, revision 34, for 25519 +
 * ChaChaPoly + SHA256 on libsodium (the API is in noise.h).
 *
 * The three layers of the spec, each on its own: a cipher state (key and
 * nonce, section 5.1), a symmetric state (chaining key ck and handshake hash
 * h, 5.2) and a handshake state (the keys and the pattern, 5.3). Every
 * handshake pattern is one line of a table (sections 7.4, 7.5, 18.4) in the
 * spec's own notation, compiled with its psk modifier (9.2) into token
 * arrays when a handshake starts, so all of them run through one token loop.
 *
 * A message's layout is fixed by its tokens and by whether a key is already
 * set, so its size is known before any state changes: bad lengths and short
 * buffers are refused up front and leave the handshake usable. Only a failed
 * DH or decryption can leave the state half-updated; the handshake is then
 * marked dead and refuses every later call.
 */
#include <sodium.h>
#include <string.h>

#include "noise.h"

#define DH_BYTES	32
#define MAX_MSGS	4
#define MAX_TOKENS	8
#define MAX_NAME_BYTES	255
#define PROTOCOL_PREFIX "Noise_"
#define PROTOCOL_SUFFIX "_25519_ChaChaPoly_SHA256"

enum token { TOK_E, TOK_S, TOK_EE, TOK_ES, TOK_SE, TOK_SS, TOK_PSK };

struct noise_cipher {
	uint8_t k[NOISE_KEY_BYTES];
	uint64_t n;
	bool has_key;
};

/*
 * Lives in sodium_malloc'd memory as a whole: every secret (s, e, psk, ck
 * and the cipher key) is inside.
 */
struct noise_hs {
	struct noise_cipher cs; /* the symmetric state's cipher */
	uint8_t ck[NOISE_HASH_BYTES];
	uint8_t h[NOISE_HASH_BYTES];
	uint8_t s_priv[DH_BYTES], s_pub[DH_BYTES];
	uint8_t e_priv[DH_BYTES], e_pub[DH_BYTES];
	uint8_t rs[DH_BYTES], re[DH_BYTES];
	uint8_t psk[NOISE_KEY_BYTES];
	bool has_s, has_rs, has_re;
	bool psk_mode; /* the pattern has a psk token: e tokens also MixKey */
	enum noise_role role;
	uint8_t tokens[MAX_MSGS][MAX_TOKENS];
	size_t ntokens[MAX_MSGS];
	size_t nmsgs, next_msg;
	bool dead, split_done;
};

/*
 * A pattern as the spec writes it: the pre-messages of each side ("s" or
 * none) and the messages, separated by '|', the first from the initiator.
 */
struct pattern_def {
	const char *name;
	const char *init_pre;
	const char *resp_pre;
	const char *msgs;
};

static const struct pattern_def patterns[] = {
    /* one-way (7.4) */
    {"N", "", "s", "e,es"},
    {"K", "s", "s", "e,es,ss"},
    {"X", "", "s", "e,es,s,ss"},
    /* fundamental interactive (7.5) */
    {"NN", "", "", "e|e,ee"},
    {"NK", "", "s", "e,es|e,ee"},
    {"NX", "", "", "e|e,ee,s,es"},
    {"KN", "s", "", "e|e,ee,se"},
    {"KK", "s", "s", "e,es,ss|e,ee,se"},
    {"KX", "s", "", "e|e,ee,se,s,es"},
    {"XN", "", "", "e|e,ee|s,se"},
    {"XK", "", "s", "e,es|e,ee|s,se"},
    {"XX", "", "", "e|e,ee,s,es|s,se"},
    {"IN", "", "", "e,s|e,ee,se"},
    {"IK", "", "s", "e,es,s,ss|e,ee,se"},
    {"IX", "", "", "e,s|e,ee,se,s,es"},
    /* deferred (18.4) */
    {"NK1", "", "s", "e|e,ee,es"},
    {"NX1", "", "", "e|e,ee,s|es"},
    {"X1N", "", "", "e|e,ee|s|se"},
    {"X1K", "", "s", "e,es|e,ee|s|se"},
    {"XK1", "", "s", "e|e,ee,es|s,se"},
    {"X1K1", "", "s", "e|e,ee,es|s|se"},
    {"X1X", "", "", "e|e,ee,s,es|s|se"},
    {"XX1", "", "", "e|e,ee,s|es,s,se"},
    {"X1X1", "", "", "e|e,ee,s|es,s|se"},
    {"K1N", "s", "", "e|e,ee|se"},
    {"K1K", "s", "s", "e,es|e,ee|se"},
    {"KK1", "s", "s", "e|e,ee,se,es"},
    {"K1K1", "s", "s", "e|e,ee,es|se"},
    {"K1X", "s", "", "e|e,ee,s,es|se"},
    {"KX1", "s", "", "e|e,ee,se,s|es"},
    {"K1X1", "s", "", "e|e,ee,s|se,es"},
    {"I1N", "", "", "e,s|e,ee|se"},
    {"I1K", "", "s", "e,es,s|e,ee|se"},
    {"IK1", "", "s", "e,s|e,ee,se,es"},
    {"I1K1", "", "s", "e,s|e,ee,es|se"},
    {"I1X", "", "", "e,s|e,ee,s,es|se"},
    {"IX1", "", "", "e,s|e,ee,se,s|es"},
    {"I1X1", "", "", "e,s|e,ee,s|se,es"},
};

/* ---- cipher state (5.1) ---- */

static void cipher_init_key(struct noise_cipher *c, const uint8_t k[NOISE_KEY_BYTES])
{
	memcpy(c->k, k, NOISE_KEY_BYTES);
	c->n = 0;
	c->has_key = true;
}

/* The ChaChaPoly nonce: 32 zero bits, then the counter little-endian. */
static void cipher_nonce(uint64_t n, uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES])
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

/* EncryptWithAd with a key set: out gets len + NOISE_TAG_BYTES bytes. */
CU_MUST_USE static int cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
				      const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	/* 2^64-1 is reserved (5.1): using it would let the next nonce wrap. */
	if (c->n == UINT64_MAX)
		return CU_ERR_LIMIT;
	cipher_nonce(c->n, nonce);
	if (crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, ad, ad_len, NULL, nonce,
						      c->k) != 0)
		return CU_ERR_CRYPTO;
	c->n++;
	return CU_OK;
}

/* DecryptWithAd with a key set: len >= NOISE_TAG_BYTES; n advances only on success. */
CU_MUST_USE static int cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
				      const uint8_t *ct, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	if (c->n == UINT64_MAX)
		return CU_ERR_LIMIT;
	cipher_nonce(c->n, nonce);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len, ad, ad_len, nonce,
						      c->k) != 0)
		return CU_ERR_CRYPTO;
	c->n++;
	return CU_OK;
}

/* ---- hash, HMAC and HKDF (4.3) ---- */

static void hmac(const uint8_t key[NOISE_HASH_BYTES], const uint8_t *a, size_t a_len,
		 const uint8_t *b, size_t b_len, uint8_t out[NOISE_HASH_BYTES])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, NOISE_HASH_BYTES);
	crypto_auth_hmacsha256_update(&st, a, a_len);
	crypto_auth_hmacsha256_update(&st, b, b_len);
	crypto_auth_hmacsha256_final(&st, out);
	/* The state holds the key's inner and outer pads. */
	sodium_memzero(&st, sizeof(st));
}

/*
 * HKDF(ck, ikm) of the spec: two or three outputs (out3 may be NULL).
 * out1 may be ck itself: ck is read only before out1 is written.
 */
static void hkdf(const uint8_t ck[NOISE_HASH_BYTES], const uint8_t *ikm, size_t ikm_len,
		 uint8_t *out1, uint8_t *out2, uint8_t *out3)
{
	uint8_t temp_key[NOISE_HASH_BYTES];
	const uint8_t one = 1, two = 2, three = 3;

	hmac(ck, ikm, ikm_len, NULL, 0, temp_key);
	hmac(temp_key, &one, 1, NULL, 0, out1);
	hmac(temp_key, out1, NOISE_HASH_BYTES, &two, 1, out2);
	if (out3 != NULL)
		hmac(temp_key, out2, NOISE_HASH_BYTES, &three, 1, out3);
	sodium_memzero(temp_key, sizeof(temp_key));
}

/* ---- symmetric state (5.2) ---- */

static void mix_hash(struct noise_hs *hs, const uint8_t *data, size_t len)
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, hs->h, NOISE_HASH_BYTES);
	crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, hs->h);
	sodium_memzero(&st, sizeof(st));
}

static void mix_key(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t temp_k[NOISE_HASH_BYTES];

	hkdf(hs->ck, ikm, len, hs->ck, temp_k, NULL);
	cipher_init_key(&hs->cs, temp_k);
	sodium_memzero(temp_k, sizeof(temp_k));
}

static void mix_key_and_hash(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t temp_h[NOISE_HASH_BYTES], temp_k[NOISE_HASH_BYTES];

	hkdf(hs->ck, ikm, len, hs->ck, temp_h, temp_k);
	mix_hash(hs, temp_h, sizeof(temp_h));
	cipher_init_key(&hs->cs, temp_k);
	sodium_memzero(temp_h, sizeof(temp_h));
	sodium_memzero(temp_k, sizeof(temp_k));
}

/* out gets len bytes, plus a tag once a key is set; may not overlap pt. */
CU_MUST_USE static int encrypt_and_hash(struct noise_hs *hs, const uint8_t *pt, size_t len,
					uint8_t *out, size_t *out_len)
{
	int rc;

	if (hs->cs.has_key) {
		rc = cipher_encrypt(&hs->cs, hs->h, NOISE_HASH_BYTES, pt, len, out);
		if (rc != CU_OK)
			return rc;
		len += NOISE_TAG_BYTES;
	} else if (len > 0) {
		memcpy(out, pt, len);
	}
	mix_hash(hs, out, len);
	*out_len = len;
	return CU_OK;
}

/* ct is len bytes (the caller checked it holds a tag if a key is set). */
CU_MUST_USE static int decrypt_and_hash(struct noise_hs *hs, const uint8_t *ct, size_t len,
					uint8_t *out)
{
	int rc;

	if (hs->cs.has_key) {
		rc = cipher_decrypt(&hs->cs, hs->h, NOISE_HASH_BYTES, ct, len, out);
		if (rc != CU_OK)
			return rc;
	} else if (len > 0) {
		memcpy(out, ct, len);
	}
	mix_hash(hs, ct, len);
	return CU_OK;
}

/* ---- the pattern ---- */

static enum noise_role msg_sender(size_t msg)
{
	return msg % 2 == 0 ? NOISE_INITIATOR : NOISE_RESPONDER;
}

/* A token's name (len bytes at s) as a token, or -1. */
static int token_parse(const char *s, size_t len)
{
	static const char *const names[] = {
	    [TOK_E] = "e",   [TOK_S] = "s",   [TOK_EE] = "ee",	 [TOK_ES] = "es",
	    [TOK_SE] = "se", [TOK_SS] = "ss", [TOK_PSK] = "psk",
	};

	for (int t = 0; t < (int)(sizeof(names) / sizeof(names[0])); t++) {
		if (strlen(names[t]) == len && memcmp(names[t], s, len) == 0)
			return t;
	}
	return -1;
}

CU_MUST_USE static int add_token(struct noise_hs *hs, size_t msg, int tok)
{
	if (tok < 0 || msg >= MAX_MSGS || hs->ntokens[msg] >= MAX_TOKENS)
		return CU_ERR_INVALID;
	hs->tokens[msg][hs->ntokens[msg]++] = (uint8_t)tok;
	return CU_OK;
}

/*
 * Compiles def's messages into hs->tokens, with a psk token first in the
 * first message (psk_pos 0) or last in message psk_pos (psk_pos > 0), or
 * none (psk_pos < 0).
 */
CU_MUST_USE static int pattern_compile(struct noise_hs *hs, const struct pattern_def *def,
				       int psk_pos)
{
	const char *p = def->msgs;
	size_t msg = 0;
	int rc = CU_OK;

	if (psk_pos == 0)
		rc = add_token(hs, 0, TOK_PSK);
	while (rc == CU_OK && *p != '\0') {
		size_t len = strcspn(p, ",|");

		rc = add_token(hs, msg, token_parse(p, len));
		p += len;
		if (*p == '|')
			msg++;
		if (*p != '\0')
			p++;
	}
	hs->nmsgs = msg + 1;
	if (rc == CU_OK && psk_pos > 0)
		rc = (size_t)psk_pos <= hs->nmsgs ? add_token(hs, (size_t)psk_pos - 1, TOK_PSK)
						  : CU_ERR_INVALID;
	hs->psk_mode = psk_pos >= 0;
	return rc;
}

/*
 * Finds the pattern of a protocol name "Noise_<pattern>_25519_ChaChaPoly_SHA256"
 * where <pattern> is a table name, optionally followed by one "psk<N>".
 */
CU_MUST_USE static int pattern_find(const char *name, const struct pattern_def **def, int *psk_pos)
{
	size_t len = strnlen(name, MAX_NAME_BYTES + 1);
	size_t pre = strlen(PROTOCOL_PREFIX), suf = strlen(PROTOCOL_SUFFIX);
	const char *pat = name + pre, *psk;
	size_t pat_len, base_len;

	if (len > MAX_NAME_BYTES || len <= pre + suf || memcmp(name, PROTOCOL_PREFIX, pre) != 0 ||
	    memcmp(name + len - suf, PROTOCOL_SUFFIX, suf) != 0)
		return CU_ERR_INVALID;
	pat_len = len - pre - suf;
	psk = memmem(pat, pat_len, "psk", 3);
	base_len = psk != NULL ? (size_t)(psk - pat) : pat_len;
	*psk_pos = -1;
	if (psk != NULL) {
		/* Exactly one digit: the API carries one psk, so "psk0+psk2" is refused. */
		if (pat_len - base_len != 4 || psk[3] < '0' || psk[3] > '9')
			return CU_ERR_INVALID;
		*psk_pos = psk[3] - '0';
	}
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		if (strlen(patterns[i].name) == base_len &&
		    memcmp(patterns[i].name, pat, base_len) == 0) {
			*def = &patterns[i];
			return CU_OK;
		}
	}
	return CU_ERR_INVALID;
}

/* Does this side's static key take part: sent, pre-known or in a DH? */
static bool pattern_uses_local_static(const struct noise_hs *hs, const struct pattern_def *def)
{
	bool init = hs->role == NOISE_INITIATOR;

	if (strcmp(init ? def->init_pre : def->resp_pre, "s") == 0)
		return true;
	for (size_t m = 0; m < hs->nmsgs; m++) {
		for (size_t t = 0; t < hs->ntokens[m]; t++) {
			int tok = hs->tokens[m][t];

			if ((tok == TOK_S && msg_sender(m) == hs->role) || tok == TOK_SS ||
			    (tok == TOK_ES && !init) || (tok == TOK_SE && init))
				return true;
		}
	}
	return false;
}

/*
 * The bytes message msg adds to its payload: keys, tags, and whether its
 * payload is encrypted, which depends on whether a key is set by then.
 */
static size_t msg_overhead(const struct noise_hs *hs, size_t msg)
{
	bool has_key = hs->cs.has_key;
	size_t bytes = 0;

	for (size_t t = 0; t < hs->ntokens[msg]; t++) {
		switch (hs->tokens[msg][t]) {
		case TOK_E:
			bytes += DH_BYTES;
			has_key = has_key || hs->psk_mode;
			break;
		case TOK_S:
			bytes += DH_BYTES + (has_key ? NOISE_TAG_BYTES : 0);
			break;
		default: /* DH and psk tokens */
			has_key = true;
			break;
		}
	}
	return bytes + (has_key ? NOISE_TAG_BYTES : 0);
}

/* ---- handshake state (5.3) ---- */

/* MixKey(DH(priv, pub)); CU_ERR_CRYPTO for an all-zero result (a low-order point). */
CU_MUST_USE static int mix_dh(struct noise_hs *hs, const uint8_t *priv, const uint8_t *pub)
{
	uint8_t shared[DH_BYTES];
	int rc = CU_OK;

	if (crypto_scalarmult_curve25519(shared, priv, pub) != 0)
		rc = CU_ERR_CRYPTO;
	else
		mix_key(hs, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return rc;
}

/* The ee, es, se and ss tokens: which keys meet depends on the role. */
CU_MUST_USE static int dh_token(struct noise_hs *hs, int tok)
{
	bool init = hs->role == NOISE_INITIATOR;
	bool local_e = tok == TOK_EE || (tok == TOK_ES && init) || (tok == TOK_SE && !init);
	bool remote_e = tok == TOK_EE || (tok == TOK_ES && !init) || (tok == TOK_SE && init);

	if (!local_e && !hs->has_s)
		return CU_ERR_INVALID;
	if (remote_e ? !hs->has_re : !hs->has_rs)
		return CU_ERR_INVALID;
	return mix_dh(hs, local_e ? hs->e_priv : hs->s_priv, remote_e ? hs->re : hs->rs);
}

/* Writes token tok at out + *pos (room checked by the caller). */
CU_MUST_USE static int write_token(struct noise_hs *hs, int tok, uint8_t *out, size_t *pos)
{
	size_t n = 0;
	int rc = CU_OK;

	switch (tok) {
	case TOK_E:
		memcpy(out + *pos, hs->e_pub, DH_BYTES);
		mix_hash(hs, hs->e_pub, DH_BYTES);
		if (hs->psk_mode)
			mix_key(hs, hs->e_pub, DH_BYTES);
		*pos += DH_BYTES;
		break;
	case TOK_S:
		rc = encrypt_and_hash(hs, hs->s_pub, DH_BYTES, out + *pos, &n);
		*pos += n;
		break;
	case TOK_PSK:
		mix_key_and_hash(hs, hs->psk, NOISE_KEY_BYTES);
		break;
	default:
		rc = dh_token(hs, tok);
		break;
	}
	return rc;
}

/* Reads token tok at msg + *pos (length checked by the caller). */
CU_MUST_USE static int read_token(struct noise_hs *hs, int tok, const uint8_t *msg, size_t *pos)
{
	size_t n;
	int rc = CU_OK;

	switch (tok) {
	case TOK_E:
		memcpy(hs->re, msg + *pos, DH_BYTES);
		hs->has_re = true;
		mix_hash(hs, hs->re, DH_BYTES);
		if (hs->psk_mode)
			mix_key(hs, hs->re, DH_BYTES);
		*pos += DH_BYTES;
		break;
	case TOK_S:
		n = DH_BYTES + (hs->cs.has_key ? NOISE_TAG_BYTES : 0);
		rc = decrypt_and_hash(hs, msg + *pos, n, hs->rs);
		hs->has_rs = rc == CU_OK;
		*pos += n;
		break;
	case TOK_PSK:
		mix_key_and_hash(hs, hs->psk, NOISE_KEY_BYTES);
		break;
	default:
		rc = dh_token(hs, tok);
		break;
	}
	return rc;
}

/* Copies the keys of params the pattern needs into hs, and makes the ephemeral. */
CU_MUST_USE static int hs_load_keys(struct noise_hs *hs, const struct noise_params *params,
				    const struct pattern_def *def)
{
	const char *remote_pre = hs->role == NOISE_INITIATOR ? def->resp_pre : def->init_pre;

	if (params->s_priv != NULL) {
		memcpy(hs->s_priv, params->s_priv, DH_BYTES);
		if (crypto_scalarmult_curve25519_base(hs->s_pub, hs->s_priv) != 0)
			return CU_ERR_INVALID;
		hs->has_s = true;
	} else if (pattern_uses_local_static(hs, def)) {
		return CU_ERR_INVALID;
	}
	/* A remote static the pattern transmits is taken from the message only. */
	if (strcmp(remote_pre, "s") == 0) {
		if (params->rs_pub == NULL)
			return CU_ERR_INVALID;
		memcpy(hs->rs, params->rs_pub, DH_BYTES);
		hs->has_rs = true;
	}
	if (hs->psk_mode) {
		if (params->psk == NULL)
			return CU_ERR_INVALID;
		memcpy(hs->psk, params->psk, NOISE_KEY_BYTES);
	}
	if (params->e_priv != NULL)
		memcpy(hs->e_priv, params->e_priv, DH_BYTES);
	else
		randombytes_buf(hs->e_priv, DH_BYTES);
	if (crypto_scalarmult_curve25519_base(hs->e_pub, hs->e_priv) != 0)
		return CU_ERR_CRYPTO;
	return CU_OK;
}

/* InitializeSymmetric, the prologue, and the pre-messages (initiator's first). */
static void hs_init_symmetric(struct noise_hs *hs, const struct noise_params *params,
			      const struct pattern_def *def)
{
	size_t name_len = strlen(params->protocol_name);
	bool init = hs->role == NOISE_INITIATOR;

	if (name_len <= NOISE_HASH_BYTES)
		memcpy(hs->h, params->protocol_name, name_len); /* zero-padded: hs is zeroed */
	else
		crypto_hash_sha256(hs->h, (const uint8_t *)params->protocol_name, name_len);
	memcpy(hs->ck, hs->h, NOISE_HASH_BYTES);
	mix_hash(hs, params->prologue, params->prologue_len);
	if (strcmp(def->init_pre, "s") == 0)
		mix_hash(hs, init ? hs->s_pub : hs->rs, DH_BYTES);
	if (strcmp(def->resp_pre, "s") == 0)
		mix_hash(hs, init ? hs->rs : hs->s_pub, DH_BYTES);
}

int noise_hs_new(const struct noise_params *params, struct noise_hs **out)
{
	const struct pattern_def *def = NULL;
	struct noise_hs *hs = NULL;
	int psk_pos = -1, rc;

	*out = NULL;
	if (params == NULL || params->protocol_name == NULL ||
	    (params->role != NOISE_INITIATOR && params->role != NOISE_RESPONDER) ||
	    (params->prologue == NULL && params->prologue_len > 0))
		return CU_ERR_INVALID;
	rc = pattern_find(params->protocol_name, &def, &psk_pos);
	if (rc != CU_OK)
		return rc;
	/* sodium_malloc needs it; idempotent and thread-safe. */
	if (sodium_init() < 0)
		return CU_ERR_CRYPTO;
	hs = sodium_malloc(sizeof(*hs));
	if (hs == NULL)
		return CU_ERR_NOMEM;
	memset(hs, 0, sizeof(*hs));
	hs->role = params->role;
	rc = pattern_compile(hs, def, psk_pos);
	if (rc != CU_OK)
		goto fail;
	rc = hs_load_keys(hs, params, def);
	if (rc != CU_OK)
		goto fail;
	hs_init_symmetric(hs, params, def);
	*out = hs;
	return CU_OK;
fail:
	noise_hs_free(hs);
	return rc;
}

void noise_hs_free(struct noise_hs *hs)
{
	if (hs == NULL)
		return;
	sodium_memzero(hs, sizeof(*hs));
	sodium_free(hs);
}

bool noise_hs_write_turn(const struct noise_hs *hs)
{
	return hs != NULL && !hs->dead && hs->next_msg < hs->nmsgs &&
	       msg_sender(hs->next_msg) == hs->role;
}

bool noise_hs_done(const struct noise_hs *hs)
{
	return hs != NULL && !hs->dead && hs->next_msg == hs->nmsgs;
}

int noise_hs_write(struct noise_hs *hs, const uint8_t *payload, size_t payload_len, uint8_t *out,
		   size_t out_cap, size_t *out_len)
{
	size_t overhead, pos = 0, n = 0;
	int rc = CU_OK;

	if (!noise_hs_write_turn(hs) || out == NULL || (payload == NULL && payload_len > 0))
		return CU_ERR_INVALID;
	overhead = msg_overhead(hs, hs->next_msg);
	if (payload_len > NOISE_MAX_MSG_BYTES - overhead || overhead + payload_len > out_cap)
		return CU_ERR_TOO_BIG;
	/* Keeps NULL away from libsodium and memcpy: an empty payload is still read. */
	if (payload == NULL)
		payload = out;
	for (size_t t = 0; t < hs->ntokens[hs->next_msg] && rc == CU_OK; t++)
		rc = write_token(hs, hs->tokens[hs->next_msg][t], out, &pos);
	if (rc == CU_OK)
		rc = encrypt_and_hash(hs, payload, payload_len, out + pos, &n);
	if (rc != CU_OK)
		goto fail;
	hs->next_msg++;
	*out_len = pos + n;
	return CU_OK;
fail:
	/* Only a DH with a bad pre-known key gets here: the state is half-mixed. */
	hs->dead = true;
	sodium_memzero(out, overhead + payload_len);
	return rc;
}

int noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t len, uint8_t *payload,
		  size_t payload_cap, size_t *payload_len)
{
	size_t overhead, plen, pos = 0;
	uint8_t none[1];
	int rc = CU_ERR_INVALID;

	if (hs == NULL || hs->dead || hs->next_msg >= hs->nmsgs ||
	    msg_sender(hs->next_msg) == hs->role || (msg == NULL && len > 0))
		return CU_ERR_INVALID;
	overhead = msg_overhead(hs, hs->next_msg);
	/* A message of the wrong size is the peer's fault: it ends the handshake. */
	if (len > NOISE_MAX_MSG_BYTES || len < overhead)
		goto fail;
	plen = len - overhead;
	/* A short buffer is the caller's: nothing has changed, it may retry. */
	if (plen > payload_cap || (payload == NULL && plen > 0))
		return CU_ERR_TOO_BIG;
	if (payload == NULL)
		payload = none; /* never written: plen is 0 */
	rc = CU_OK;
	for (size_t t = 0; t < hs->ntokens[hs->next_msg] && rc == CU_OK; t++)
		rc = read_token(hs, hs->tokens[hs->next_msg][t], msg, &pos);
	if (rc == CU_OK)
		rc = decrypt_and_hash(hs, msg + pos, len - pos, payload);
	if (rc != CU_OK)
		goto fail;
	hs->next_msg++;
	*payload_len = plen;
	return CU_OK;
fail:
	hs->dead = true;
	if (payload != NULL && payload != none)
		sodium_memzero(payload, payload_cap);
	return rc;
}

const uint8_t *noise_hs_remote_static(const struct noise_hs *hs)
{
	return hs != NULL && hs->has_rs ? hs->rs : NULL;
}

const uint8_t *noise_hs_hash(const struct noise_hs *hs)
{
	return hs->h;
}

int noise_hs_split(struct noise_hs *hs, struct noise_cipher **send, struct noise_cipher **recv)
{
	struct noise_cipher *c1 = NULL, *c2 = NULL;
	int rc = CU_ERR_NOMEM;

	*send = NULL;
	*recv = NULL;
	/* Once only: two pairs of ciphers with the same keys would reuse nonces. */
	if (!noise_hs_done(hs) || hs->split_done)
		return CU_ERR_INVALID;
	c1 = sodium_malloc(sizeof(*c1));
	c2 = sodium_malloc(sizeof(*c2));
	if (c1 == NULL || c2 == NULL)
		goto fail;
	hkdf(hs->ck, NULL, 0, c1->k, c2->k, NULL);
	c1->n = c2->n = 0;
	c1->has_key = c2->has_key = true;
	hs->split_done = true;
	/* Nothing of the handshake is needed any more but h and rs. */
	sodium_memzero(hs->ck, sizeof(hs->ck));
	sodium_memzero(&hs->cs, sizeof(hs->cs));
	sodium_memzero(hs->e_priv, sizeof(hs->e_priv));
	*send = hs->role == NOISE_INITIATOR ? c1 : c2;
	*recv = hs->role == NOISE_INITIATOR ? c2 : c1;
	return CU_OK;
fail:
	noise_cipher_free(c1);
	noise_cipher_free(c2);
	return rc;
}

void noise_cipher_free(struct noise_cipher *c)
{
	if (c == NULL)
		return;
	sodium_memzero(c, sizeof(*c));
	sodium_free(c);
}

int noise_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *pt,
		  size_t len, uint8_t *out)
{
	if (len > NOISE_MAX_PLAINTEXT_BYTES)
		return CU_ERR_TOO_BIG;
	if (c == NULL || !c->has_key || out == NULL || (pt == NULL && len > 0) ||
	    (ad == NULL && ad_len > 0))
		return CU_ERR_INVALID;
	return cipher_encrypt(c, ad, ad_len, pt != NULL ? pt : out, len, out);
}

int noise_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len, const uint8_t *ct,
		  size_t len, uint8_t *out)
{
	uint8_t none[1];

	if (c == NULL || !c->has_key || ct == NULL || len < NOISE_TAG_BYTES ||
	    len > NOISE_MAX_MSG_BYTES || (out == NULL && len > NOISE_TAG_BYTES) ||
	    (ad == NULL && ad_len > 0))
		return CU_ERR_INVALID;
	/* An empty plaintext needs no buffer, but libsodium gets a valid pointer. */
	return cipher_decrypt(c, ad, ad_len, ct, len, out != NULL ? out : none);
}

void noise_cipher_set_nonce(struct noise_cipher *c, uint64_t n)
{
	c->n = n;
}

int noise_x25519_from_ed25519_pk(const uint8_t ed_pk[32], uint8_t x_pk[32])
{
	if (crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_pk) != 0)
		return CU_ERR_INVALID;
	return CU_OK;
}

int noise_x25519_from_ed25519_sk(const uint8_t ed_sk[64], uint8_t x_sk[32])
{
	if (crypto_sign_ed25519_sk_to_curve25519(x_sk, ed_sk) != 0)
		return CU_ERR_CRYPTO;
	return CU_OK;
}
