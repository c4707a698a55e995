/* Unit tests for proto/note.c: signed notes, keys, checkpoints, cosignatures,
 * against published vectors (each cited where defined) and libsodium. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "key.h"
#include "note.h"

/* U+2014 EM DASH and a space; kept apart so no hex escape runs on. */
#define DASH "\xe2\x80\x94 "

/* golang.org/x/mod sumdb/note note_test.go (TestSign, TestOpen). */
#define PETER_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define PETER_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define ENOCH_VKEY "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
#define GO_TEXT                                                                                    \
	"If you think cryptography is the answer to your problem,\n"                               \
	"then you don't know what your problem is.\n"
#define PETER_B64                                                                                  \
	"x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6Ryy"    \
	"BwJnAM="
#define PETER_SIG DASH "PeterNeumann " PETER_B64 "\n"
#define ENOCH_B64                                                                                  \
	"rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1Rv"   \
	"Mc+QQ="
#define ENOCH_SIG DASH "EnochRoot " ENOCH_B64 "\n"
/* Go's TestOpen: "ABCD" put into the base64 at byte 60 of the line. */
#define BAD_PETER_SIG                                                                              \
	DASH "PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZIABCDnNIuGUgYN1FFYC2pZ"       \
	     "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
#define BAD_ENOCH_SIG                                                                              \
	DASH "EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5nABCD2tiOHp+vAF1aGrQ5ovT"     \
	     "G01oOTGwnWLox33WWd1RvMc+QQ=\n"

/* The example of c2sp.org/signed-note. */
#define SPEC_VKEY "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
#define SPEC_NOTE                                                                                  \
	"This is an example message.\n\n" DASH                                                     \
	"example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6T"                                       \
	"fXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"

/* transparency-dev/formats note/note_cosigv1_test.go: a type 0x01 key whose
 * base64 holds a '+', and a real witness's cosignature/v1 (0x04) key. */
#define PLUS_VKEY   "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
#define REMORA_VKEY "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"

/* A checkpoint of the arche2025h1 staging CT log, as served with the log's
 * Ed25519 (0x01) and RFC 6962 (0x05) signatures and four witness
 * cosignatures, among them remora.n621.de's (test vector of the tlog_scales
 * Python package; checked here with an independent Ed25519). */
#define ARCHE	    "arche2025h1.staging.ct.transparency.dev"
#define ARCHE_VKEY  ARCHE "+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"
#define ARCHE_BODY  ARCHE "\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n"
#define REMORA_TIME 1779573024u
#define REMORA_LINE                                                                                \
	DASH                                                                                       \
	    "remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCI" \
	    "obWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n"
#define ARCHE_NOTE                                                                                 \
	ARCHE_BODY                                                                                 \
	"\n" DASH ARCHE " zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbl"            \
	"lzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=\n" DASH ARCHE " ui8GwCF1+kWqZ"   \
	"rxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=\n" DASH   \
	"transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTz"  \
	"wZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==\n" DASH                      \
	"witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iE" \
	"cxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==\n" REMORA_LINE DASH                         \
	"witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+A" \
	"JmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==\n"

/* The example of c2sp.org/tlog-cosignature (keys not published). */
#define SOFA_BODY                                                                                  \
	"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
#define SOFA_NOTE                                                                                  \
	SOFA_BODY                                                                                  \
	"\n" DASH "example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurm"           \
	"RDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n" DASH "witness.example.com/w1 jWb" \
	"PPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbI" \
	"UBkBIfZ+qnA==\n"

/* Cosignature of SOFA_BODY at 1679315147 by the key with seed 00 01 .. 1f,
 * computed from the specification text with Python's cryptography package
 * (OpenSSL Ed25519), independently of this C code. */
#define KAT_VKEY "witness.example/w1+e75f6532+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
#define KAT_TIME 1679315147u
#define KAT_LINE                                                                                   \
	DASH "witness.example/w1 519lMgAAAABkGFDLBuRDazBLVac2NE+Y+IjbjQOcXLfF9CSDZVUIoS83rE1nFZsV" \
	     "E8YiWV6Ngr7lV8H6bdoBQGP/l73euDMQ9k+bBQ==\n"

static char msg[32768];
/* The result of the note being opened; tests run one at a time. */
static struct note_opened opened;

/* Changes one base64 character into another valid one. */
static void flip_b64(char *c)
{
	*c = *c == 'A' ? 'B' : 'A';
}

/* Sets msg to the concatenation of the NULL-terminated list of strings. */
static size_t build(const char *first, ...)
{
	va_list ap;
	size_t len = 0;

	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
		size_t n = strlen(s);

		assert_true(len + n < sizeof(msg));
		memcpy(msg + len, s, n);
		len += n;
	}
	va_end(ap);
	msg[len] = '\0';
	return len;
}

static void parse_vkey(const char *text, struct note_verifier *v)
{
	char err[128] = "";

	assert_int_equal(note_verifier_parse(text, v, err, sizeof(err)), CU_OK);
}

static int open_msg(size_t len, const struct note_verifier *vs, size_t n, struct note_opened *out)
{
	char err[256];

	return note_open(msg, len, vs, n, out, err, sizeof(err));
}

/*
 * Writes the verifier key of name for blob (type || public key), with the
 * key id computed here from its definition, not by note.c.
 */
static void make_vkey(const char *name, const uint8_t *blob, size_t blob_len, char *out,
		      size_t size)
{
	uint8_t buf[NOTE_NAME_MAX + 1 + 64], sum[crypto_hash_sha256_BYTES];
	char b64[128];
	size_t n = strlen(name);

	assert_true(n + 1 + blob_len <= sizeof(buf));
	memcpy(buf, name, n);
	buf[n] = '\n';
	memcpy(buf + n + 1, blob, blob_len);
	crypto_hash_sha256(sum, buf, n + 1 + blob_len);
	sodium_bin2base64(b64, sizeof(b64), blob, blob_len, sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, size, "%s+%02x%02x%02x%02x+%s", name, sum[0], sum[1], sum[2], sum[3], b64);
}

/* A key in guarded memory from a 32-byte seed, as key_load would make. */
static struct cu_key *key_from_seed(const uint8_t seed[32])
{
	struct cu_key *key = sodium_malloc(sizeof(*key));

	assert_non_null(key);
	assert_int_equal(crypto_sign_seed_keypair(key->pk, key->sk, seed), 0);
	return key;
}

static void test_key_ids_and_vkeys(void **state)
{
	static const char *const vkeys[] = {PETER_VKEY, ENOCH_VKEY,  SPEC_VKEY,
					    PLUS_VKEY,	REMORA_VKEY, ARCHE_VKEY};
	static const uint32_t ids[] = {0xc74f20a3, 0xaf0cfe78, 0x530d903a,
				       0x7997405c, 0xda77ade7, 0xba2f06c0};
	struct note_verifier v;
	char out[NOTE_VKEY_MAX];
	uint8_t blob[1 + KEY_PUBLIC_BYTES];

	(void)state;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		parse_vkey(vkeys[i], &v);
		assert_int_equal(v.key_id, ids[i]);
		/* The id is SHA-256(name || "\n" || type || key)[:4], big-endian. */
		blob[0] = v.type;
		memcpy(blob + 1, v.pk, KEY_PUBLIC_BYTES);
		make_vkey(v.name, blob, sizeof(blob), out, sizeof(out));
		assert_string_equal(out, vkeys[i]);
		/* Formatting gives back the published string byte for byte. */
		assert_int_equal(note_verifier_format(&v, out, sizeof(out)), CU_OK);
		assert_string_equal(out, vkeys[i]);
	}
	assert_int_equal(v.type, NOTE_TYPE_ED25519);
	parse_vkey(REMORA_VKEY, &v);
	assert_int_equal(v.type, NOTE_TYPE_COSIG_V1);
	assert_string_equal(v.name, "remora.n621.de");
	/* The same key under the other type has another id. */
	assert_int_not_equal(note_key_id(v.name, v.name_len, NOTE_TYPE_ED25519, v.pk), v.key_id);
	assert_int_equal(note_verifier_format(&v, out, strlen(REMORA_VKEY)), CU_ERR_TOO_BIG);
}

static void expect_bad_vkey(const char *text)
{
	struct note_verifier v;
	char err[128] = "";

	if (note_verifier_parse(text, &v, err, sizeof(err)) != CU_ERR_INVALID)
		fail_msg("accepted verifier key \"%s\"", text);
	assert_true(err[0] != '\0');
}

/* Go's key manglings: no proper substring and no one-byte change of good. */
static void expect_mangled_bad(const char *good, void (*expect_bad)(const char *))
{
	char key[128];
	size_t len = strlen(good);

	assert_true(len < sizeof(key));
	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i + 1; j <= len; j++) {
			if (i == 0 && j == len)
				continue;
			memcpy(key, good + i, j - i);
			key[j - i] = '\0';
			expect_bad(key);
		}
	}
	for (size_t i = 0; i < len; i++) {
		memcpy(key, good, len + 1);
		key[i]++;
		expect_bad(key);
		/* Ours: libsodium 1.0.18 reads any byte >= 0x80 in base64 as '/'. */
		key[i] = (char)(good[i] ^ 0xff);
		expect_bad(key);
	}
}

static void test_vkey_rejections(void **state)
{
	uint8_t blob[1 + KEY_PUBLIC_BYTES];
	char text[128];
	struct note_verifier ok;

	(void)state;
	expect_mangled_bad(PETER_VKEY, expect_bad_vkey);
	/* Wrong key length and unknown algorithm, with adjusted key ids (Go). */
	expect_bad_vkey(
	    "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==");
	expect_bad_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
	/* Strictness of our own: case, length, trailing text, empty name. */
	expect_bad_vkey("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
	expect_bad_vkey("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
	expect_bad_vkey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n");
	expect_bad_vkey("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
	expect_bad_vkey("");

	/* A well-formed key of type 0x02 (ECDSA) is refused as unsupported. */
	memset(blob, 7, sizeof(blob));
	blob[0] = 0x02;
	make_vkey("a", blob, sizeof(blob), text, sizeof(text));
	expect_bad_vkey(text);
	blob[0] = NOTE_TYPE_ED25519; /* the control: the same as type 0x01 parses */
	make_vkey("a", blob, sizeof(blob), text, sizeof(text));
	parse_vkey(text, &ok);
	/* A key of another length, even with the right id. */
	make_vkey("a", blob, sizeof(blob) - 1, text, sizeof(text));
	expect_bad_vkey(text);
}

static void test_names(void **state)
{
	/* Space, '+', controls, NBSP, em space, ideographic space, line
	 * separator, overlong, surrogate, stray byte, truncated sequence. */
	static const char *const bad[] = {
	    "",		"a b",		"a+b",		 "a\tb",	 "a\nb",
	    "a\x01",	"\xc2\xa0",	"a\xe2\x80\x83", "\xe3\x80\x80", "\xe2\x80\xa8",
	    "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",	 "\xff",	 "\xe2\x80"};
	struct note_verifier v;
	uint8_t pk[KEY_PUBLIC_BYTES] = {0};
	char long_name[NOTE_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (note_name_check(bad[i], strlen(bad[i])) != CU_ERR_INVALID)
			fail_msg("accepted name #%zu", i);
		assert_int_equal(note_verifier_init(&v, bad[i], NOTE_TYPE_ED25519, pk),
				 CU_ERR_INVALID);
	}
	/* A name with an embedded NUL is refused when given as a span. */
	assert_int_equal(note_name_check("a\0b", 3), CU_ERR_INVALID);
	assert_int_equal(note_name_check("example.com/log-1", 17), CU_OK);
	assert_int_equal(note_name_check("caf\xc3\xa9/\xe2\x80\x94", 9), CU_OK);
	assert_int_equal(note_verifier_init(&v, "a", 0x02, pk), CU_ERR_INVALID);

	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[NOTE_NAME_MAX + 1] = '\0';
	assert_int_equal(note_verifier_init(&v, long_name, NOTE_TYPE_ED25519, pk), CU_ERR_INVALID);
	long_name[NOTE_NAME_MAX] = '\0';
	assert_int_equal(note_verifier_init(&v, long_name, NOTE_TYPE_ED25519, pk), CU_OK);
	assert_int_equal(v.name_len, NOTE_NAME_MAX);
}

static void test_signer_key_known_answer(void **state)
{
	struct note_verifier v, want;
	struct cu_key *key = NULL;
	char err[128], out[1024], skey[NOTE_SKEY_MAX];
	size_t len = 0;

	(void)state;
	assert_int_equal(note_signer_parse(PETER_SKEY, &v, &key, err, sizeof(err)), CU_OK);
	parse_vkey(PETER_VKEY, &want);
	assert_memory_equal(&v, &want, sizeof(v));
	assert_memory_equal(key->pk, want.pk, KEY_PUBLIC_BYTES);

	/* Ed25519 is deterministic: Go's TestSign output, byte for byte. */
	assert_int_equal(
	    note_sign(GO_TEXT, strlen(GO_TEXT), "PeterNeumann", key, out, sizeof(out), &len),
	    CU_OK);
	assert_int_equal(len, strlen(GO_TEXT "\n" PETER_SIG));
	assert_string_equal(out, GO_TEXT "\n" PETER_SIG);

	assert_int_equal(
	    note_signer_format("PeterNeumann", NOTE_TYPE_ED25519, key, skey, sizeof(skey)), CU_OK);
	assert_string_equal(skey, PETER_SKEY);
	assert_int_equal(note_signer_format("PeterNeumann", NOTE_TYPE_ED25519, key, skey, 20),
			 CU_ERR_TOO_BIG);
	key_free(key);
}

static void expect_bad_skey(const char *text)
{
	struct note_verifier v;
	struct cu_key *key = NULL;
	char err[128] = "";

	if (note_signer_parse(text, &v, &key, err, sizeof(err)) != CU_ERR_INVALID)
		fail_msg("accepted signer key \"%s\"", text);
	assert_null(key);
	assert_true(err[0] != '\0');
}

static void test_signer_key_rejections(void **state)
{
	(void)state;
	expect_mangled_bad(PETER_SKEY, expect_bad_skey);
	expect_bad_skey(PETER_VKEY); /* a verifier key is not a signer key */
	expect_bad_skey(
	    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz=");
}

static void test_open_go_vectors(void **state)
{
	struct note_verifier peter, enoch, list[3];
	struct note_opened *n = &opened;
	size_t len;

	(void)state;
	parse_vkey(PETER_VKEY, &peter);
	parse_vkey(ENOCH_VKEY, &enoch);

	/* One signature verified, one from an unknown key. */
	len = build(GO_TEXT, "\n", PETER_SIG, ENOCH_SIG, NULL);
	assert_int_equal(open_msg(len, &peter, 1, n), CU_OK);
	assert_int_equal(n->text_len, strlen(GO_TEXT));
	assert_memory_equal(n->text, GO_TEXT, n->text_len);
	assert_int_equal(n->n_verified, 1);
	assert_int_equal(n->n_sigs, 2);
	assert_ptr_equal(n->sigs[0].verifier, &peter);
	assert_int_equal(n->sigs[0].key_id, 0xc74f20a3);
	assert_int_equal(n->sigs[0].timestamp, 0);
	assert_null(n->sigs[1].verifier);
	assert_int_equal(n->sigs[1].key_id, 0xaf0cfe78);
	assert_int_equal(n->sigs[1].name_len, 9);
	assert_memory_equal(n->sigs[1].name, "EnochRoot", 9);

	/* Both verified. */
	list[0] = peter;
	list[1] = enoch;
	assert_int_equal(open_msg(len, list, 2, n), CU_OK);
	assert_int_equal(n->n_verified, 2);
	assert_ptr_equal(n->sigs[1].verifier, &list[1]);

	/* Neither known: rejected, but the signers are still reported. */
	assert_int_equal(open_msg(len, NULL, 0, n), CU_ERR_NOT_FOUND);
	assert_int_equal(n->n_verified, 0);
	assert_int_equal(n->n_sigs, 2);

	/* A duplicated verifier is ambiguous only when it is used. */
	list[0] = enoch;
	list[1] = peter;
	list[2] = enoch;
	len = build(GO_TEXT, "\n", ENOCH_SIG, NULL);
	assert_int_equal(open_msg(len, list, 3, n), CU_ERR_INVALID);
	len = build(GO_TEXT, "\n", PETER_SIG, NULL);
	assert_int_equal(open_msg(len, list, 3, n), CU_OK);
}

static void test_open_limits_and_duplicates(void **state)
{
	struct note_verifier peter;
	struct note_opened *n = &opened;
	size_t len = build(GO_TEXT, "\n", NULL), value_len = 0;
	uint8_t value[80];
	char b64[128];

	(void)state;
	parse_vkey(PETER_VKEY, &peter);
	/* 100 signature lines are accepted, 101 are not, known or not. */
	for (int i = 0; i < NOTE_MAX_SIGS; i++)
		len = strlen(strcat(msg, PETER_SIG));
	assert_int_equal(open_msg(len, &peter, 1, n), CU_OK);
	assert_int_equal(n->n_sigs, 1);
	len = strlen(strcat(msg, PETER_SIG));
	assert_int_equal(open_msg(len, &peter, 1, n), CU_ERR_INVALID);
	assert_int_equal(open_msg(len, NULL, 0, n), CU_ERR_INVALID);
	assert_int_equal(n->n_sigs, 0);

	/* A signature of a known key that does not verify. */
	len = build(GO_TEXT, "\n", BAD_PETER_SIG, NULL);
	assert_int_equal(open_msg(len, &peter, 1, n), CU_ERR_SIGNATURE);
	assert_null(n->text);
	/* A valid signature with a byte appended does not verify. */
	assert_int_equal(sodium_base642bin(value, sizeof(value), PETER_B64, strlen(PETER_B64), NULL,
					   &value_len, NULL, sodium_base64_VARIANT_ORIGINAL),
			 0);
	assert_int_equal(value_len, 68);
	value[value_len++] = 0;
	sodium_bin2base64(b64, sizeof(b64), value, value_len, sodium_base64_VARIANT_ORIGINAL);
	len = build(GO_TEXT, "\n", DASH "PeterNeumann ", b64, "\n", NULL);
	assert_int_equal(open_msg(len, &peter, 1, n), CU_ERR_SIGNATURE);
	/* ... even after a good one by the same key. */
	len = build(GO_TEXT, "\n", PETER_SIG, BAD_PETER_SIG, NULL);
	assert_int_equal(open_msg(len, &peter, 1, n), CU_ERR_SIGNATURE);

	/* Repeats are listed once: Go's duplicated verified/unverified case. */
	len = build(GO_TEXT, "\n", PETER_SIG, PETER_SIG, ENOCH_SIG, ENOCH_SIG, BAD_ENOCH_SIG, NULL);
	assert_int_equal(open_msg(len, &peter, 1, n), CU_OK);
	assert_int_equal(n->n_verified, 1);
	assert_int_equal(n->n_sigs, 3);
	assert_null(n->sigs[1].verifier);
	assert_null(n->sigs[2].verifier);
	assert_int_not_equal(n->sigs[1].b64_len, n->sigs[2].b64_len);
}

/* Opens msg (len bytes) against PeterNeumann's key and expects a malformed note. */
static void expect_malformed(const char *what, size_t len)
{
	struct note_opened *n = &opened;
	struct note_verifier peter;
	char err[256] = "";

	parse_vkey(PETER_VKEY, &peter);
	if (note_open(msg, len, &peter, 1, n, err, sizeof(err)) != CU_ERR_INVALID)
		fail_msg("accepted a note with %s", what);
	assert_true(err[0] != '\0');
}

/* The note made of the strings after what must be refused as malformed. */
#define MALFORMED(what, ...) expect_malformed(what, build(__VA_ARGS__, NULL))

static void test_open_malformed_go(void **state)
{
	char peter_cut[sizeof(PETER_SIG)];

	(void)state;
	memcpy(peter_cut, PETER_SIG, strlen(PETER_SIG) - 1);
	peter_cut[strlen(PETER_SIG) - 1] = '\0';
	/* Go's badMsgs. */
	MALFORMED("no signatures", GO_TEXT);
	MALFORMED("an empty signature block", GO_TEXT, "\n");
	MALFORMED("no final newline", GO_TEXT, "\n", peter_cut);
	MALFORMED("a control char", "\x01", GO_TEXT, "\n", PETER_SIG);
	MALFORMED("invalid UTF-8", "\xff", GO_TEXT, "\n", PETER_SIG);
	MALFORMED("a space in a key name", GO_TEXT, "\n", DASH "Bad Name ", PETER_B64);
	MALFORMED("a line that is not a signature", GO_TEXT, "\n", PETER_SIG, "Unexpected line.\n");
}

static void test_open_malformed_text(void **state)
{
	(void)state;
	MALFORMED("a carriage return", "a\r\n", "\n", PETER_SIG);
	MALFORMED("a tab", "a\tb\n", "\n", PETER_SIG);
	MALFORMED("overlong UTF-8", "\xe0\x80\xaf\n", "\n", PETER_SIG);
	MALFORMED("a surrogate", "\xed\xa0\x80\n", "\n", PETER_SIG);
	MALFORMED("a code point above U+10FFFF", "\xf4\x90\x80\x80\n", "\n", PETER_SIG);
	MALFORMED("truncated UTF-8", "\xe2\x80\n", "\n", PETER_SIG);
	MALFORMED("a trailing blank line", GO_TEXT, "\n", PETER_SIG, "\n");
	MALFORMED("nothing", "");
	/* A malformed line is reported as such even after a bad signature. */
	MALFORMED("a bad line after a bad signature", GO_TEXT, "\n", BAD_PETER_SIG, "x\n");
}

static void test_open_malformed_sig_lines(void **state)
{
	(void)state;
	MALFORMED("a hyphen for the em dash", GO_TEXT, "\n", "- PeterNeumann AAAAAAAA\n");
	MALFORMED("an en dash", GO_TEXT, "\n", "\xe2\x80\x93 PeterNeumann AAAAAAAA\n");
	MALFORMED("no signature", GO_TEXT, "\n", DASH "PeterNeumann\n");
	MALFORMED("an empty signature", GO_TEXT, "\n", DASH "PeterNeumann \n");
	MALFORMED("an empty name", GO_TEXT, "\n", DASH " AAAAAAAA\n");
	MALFORMED("a '+' in a name", GO_TEXT, "\n", DASH "a+b AAAAAAAA\n");
	MALFORMED("a no-break space in a name", GO_TEXT, "\n", DASH "a\xc2\xa0", "b AAAAAAAA\n");
	MALFORMED("a signature of only a key id", GO_TEXT, "\n", DASH "PeterNeumann AAAAAA==\n");
	MALFORMED("base64 with spare bits set", GO_TEXT, "\n", DASH "PeterNeumann AAAAAAB=\n");
	MALFORMED("a space in the base64", GO_TEXT, "\n", DASH "PeterNeumann AAAA AAAA\n");
	MALFORMED("padding inside the base64", GO_TEXT, "\n", DASH "PeterNeumann AA==AAAA\n");
	MALFORMED("unpadded base64", GO_TEXT, "\n", DASH "PeterNeumann AAAAAAA\n");
	/* The good signature, with more base64 after its padding or without it. */
	MALFORMED("base64 after the padding", GO_TEXT, "\n", DASH "PeterNeumann ", PETER_B64,
		  "AAAA\n");
	MALFORMED("a missing padding", GO_TEXT, "\n", DASH "PeterNeumann ",
		  "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq",
		  "fqdngotpRZb6KE6RyyBwJnAM\n");
}

static void test_open_spec_example(void **state)
{
	struct note_verifier v;
	struct note_opened *n = &opened;
	size_t len = build(SPEC_NOTE, NULL);

	(void)state;
	parse_vkey(SPEC_VKEY, &v);
	assert_int_equal(open_msg(len, &v, 1, n), CU_OK);
	assert_int_equal(n->text_len, strlen("This is an example message.\n"));
	assert_int_equal(n->n_verified, 1);

	/* The tlog-cosignature example parses: two signers we do not know. */
	len = build(SOFA_NOTE, NULL);
	assert_int_equal(open_msg(len, &v, 1, n), CU_ERR_NOT_FOUND);
	assert_int_equal(n->n_sigs, 2);
	assert_int_equal(n->sigs[1].key_id, 0x8d66cf3f);
	assert_int_equal(n->text_len, strlen(SOFA_BODY));
}

static void test_sign_open_roundtrip(void **state)
{
	struct cu_key *key = NULL, *other = NULL;
	struct note_verifier v, wrong;
	struct note_opened *n = &opened;
	const char *text = "custody log\n\nan empty line above is part of the text\n\n";
	char out[1024];
	size_t len = 0;

	(void)state;
	assert_int_equal(key_generate(&key), CU_OK);
	assert_int_equal(key_generate(&other), CU_OK);
	assert_int_equal(note_verifier_init(&v, "custody.example/log", NOTE_TYPE_ED25519, key->pk),
			 CU_OK);
	assert_int_equal(
	    note_sign(text, strlen(text), "custody.example/log", key, out, sizeof(out), &len),
	    CU_OK);
	assert_int_equal(len, strlen(out));
	memcpy(msg, out, len + 1);
	assert_int_equal(open_msg(len, &v, 1, n), CU_OK);
	assert_int_equal(n->text_len, strlen(text));
	assert_memory_equal(n->text, text, n->text_len);

	/* Tampered text, tampered signature. */
	msg[0] ^= 1;
	assert_int_equal(open_msg(len, &v, 1, n), CU_ERR_SIGNATURE);
	msg[0] ^= 1;
	flip_b64(&msg[len - 10]);
	assert_int_equal(open_msg(len, &v, 1, n), CU_ERR_SIGNATURE);
	memcpy(msg, out, len + 1);

	/* Another key under the same name has another id: unknown, ignored. */
	assert_int_equal(
	    note_verifier_init(&wrong, "custody.example/log", NOTE_TYPE_ED25519, other->pk), CU_OK);
	assert_int_equal(open_msg(len, &wrong, 1, n), CU_ERR_NOT_FOUND);
	/* A key forged to collide on name and id fails, it is not ignored. */
	wrong.key_id = v.key_id;
	assert_int_equal(open_msg(len, &wrong, 1, n), CU_ERR_SIGNATURE);
	/* The same key as a cosignature key has another id. */
	assert_int_equal(
	    note_verifier_init(&wrong, "custody.example/log", NOTE_TYPE_COSIG_V1, key->pk), CU_OK);
	assert_int_equal(open_msg(len, &wrong, 1, n), CU_ERR_NOT_FOUND);
	key_free(key);
	key_free(other);
}

static void test_sign_rejections(void **state)
{
	static const char *const bad_text[] = {"no newline", "a\tb\n", "\xff\n", "a\0b\n"};
	static const size_t bad_len[] = {10, 4, 2, 4};
	struct cu_key *key = NULL;
	char out[512], *tiny, long_name[NOTE_NAME_MAX + 2];
	const char *bad_name[] = {"a b", "a+b", "", long_name};
	size_t len = 0, need;

	(void)state;
	memset(long_name, 'n', NOTE_NAME_MAX + 1);
	long_name[NOTE_NAME_MAX + 1] = '\0';
	assert_int_equal(key_generate(&key), CU_OK);
	for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++)
		assert_int_equal(
		    note_sign(bad_text[i], bad_len[i], "a", key, out, sizeof(out), &len),
		    CU_ERR_INVALID);
	assert_int_equal(note_sign("", 0, "a", key, out, sizeof(out), &len), CU_ERR_INVALID);
	for (size_t i = 0; i < sizeof(bad_name) / sizeof(bad_name[0]); i++)
		assert_int_equal(note_sign("t\n", 2, bad_name[i], key, out, sizeof(out), &len),
				 CU_ERR_INVALID);

	/* "t\n" "\n" "— a " base64(68 bytes) = 92 "\n", then the NUL. */
	need = 3 + 4 + 2 + 92 + 1 + 1;
	assert_int_equal(note_sign("t\n", 2, "a", key, out, need - 1, &len), CU_ERR_TOO_BIG);
	assert_int_equal(note_sign("t\n", 2, "a", key, out, 2, &len), CU_ERR_TOO_BIG);
	tiny = malloc(1); /* so that AddressSanitizer sees any write past it */
	assert_non_null(tiny);
	assert_int_equal(note_sign("t\n", 2, "a", key, tiny, 1, &len), CU_ERR_TOO_BIG);
	assert_int_equal(note_sign("t\n", 2, "a", key, tiny, 0, &len), CU_ERR_TOO_BIG);
	free(tiny);
	assert_int_equal(note_sign("t\n", 2, "a", key, out, need, &len), CU_OK);
	assert_int_equal(len, need - 1);
	key_free(key);
}

static void test_checkpoint_roundtrip(void **state)
{
	struct note_checkpoint cp;
	char out[NOTE_CHECKPOINT_TEXT_MAX], err[128];
	const char *ext = "o.example/l\n7\n"
			  "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
			  "ext one\n"
			  "ext two\n";
	uint8_t root[NOTE_CHECKPOINT_ROOT_BYTES];
	size_t len = 0;

	(void)state;
	/* The example of c2sp.org/tlog-checkpoint. */
	assert_int_equal(note_checkpoint_parse(SOFA_BODY, strlen(SOFA_BODY), &cp, err, sizeof(err)),
			 CU_OK);
	assert_int_equal(cp.size, 20852163);
	assert_int_equal(cp.origin_len, strlen("example.com/behind-the-sofa"));
	assert_memory_equal(cp.origin, "example.com/behind-the-sofa", cp.origin_len);
	assert_null(cp.extensions);
	assert_int_equal(note_checkpoint_format("example.com/behind-the-sofa", cp.size, cp.root,
						out, sizeof(out), &len),
			 CU_OK);
	assert_string_equal(out, SOFA_BODY);
	assert_int_equal(len, strlen(SOFA_BODY));
	/* Extremes of the tree size. */
	randombytes_buf(root, sizeof(root));
	assert_int_equal(note_checkpoint_format("l", 0, root, out, sizeof(out), &len), CU_OK);
	assert_int_equal(note_checkpoint_parse(out, len, &cp, err, sizeof(err)), CU_OK);
	assert_int_equal(cp.size, 0);
	assert_memory_equal(cp.root, root, sizeof(root));
	assert_int_equal(note_checkpoint_format("l", UINT64_MAX, root, out, sizeof(out), &len),
			 CU_OK);
	assert_non_null(strstr(out, "\n18446744073709551615\n"));
	assert_int_equal(note_checkpoint_parse(out, len, &cp, err, sizeof(err)), CU_OK);
	assert_true(cp.size == UINT64_MAX);

	/* Extension lines are kept, opaque. */
	assert_int_equal(note_checkpoint_parse(ext, strlen(ext), &cp, err, sizeof(err)), CU_OK);
	assert_int_equal(cp.extensions_len, strlen("ext one\next two\n"));
	assert_memory_equal(cp.extensions, "ext one\next two\n", cp.extensions_len);

	/* Formatting refuses a bad origin and a short buffer. */
	assert_int_equal(note_checkpoint_format("a b", 1, root, out, sizeof(out), &len),
			 CU_ERR_INVALID);
	assert_int_equal(note_checkpoint_format("", 1, root, out, sizeof(out), &len),
			 CU_ERR_INVALID);
	assert_int_equal(note_checkpoint_format("l", 1, root, out, 20, &len), CU_ERR_TOO_BIG);
}

static void expect_bad_checkpoint(const char *text, const char *what)
{
	struct note_checkpoint cp;
	char err[128] = "";

	if (note_checkpoint_parse(text, strlen(text), &cp, err, sizeof(err)) != CU_ERR_INVALID)
		fail_msg("accepted a checkpoint with %s", what);
	assert_true(err[0] != '\0');
}

static void test_checkpoint_rejections(void **state)
{
#define ROOT "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
	(void)state;
	expect_bad_checkpoint("o\n01\n" ROOT "\n", "a leading zero");
	expect_bad_checkpoint("o\n00\n" ROOT "\n", "two zeros");
	expect_bad_checkpoint("o\n+1\n" ROOT "\n", "a plus sign");
	expect_bad_checkpoint("o\n-1\n" ROOT "\n", "a minus sign");
	expect_bad_checkpoint("o\n 1\n" ROOT "\n", "a space before the size");
	expect_bad_checkpoint("o\n1 \n" ROOT "\n", "a space after the size");
	expect_bad_checkpoint("o\n0x10\n" ROOT "\n", "a hex size");
	expect_bad_checkpoint("o\n18446744073709551616\n" ROOT "\n", "a size over 64 bits");
	expect_bad_checkpoint("o\n\n" ROOT "\n", "an empty size");
	expect_bad_checkpoint("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",
			      "unpadded base64");
	expect_bad_checkpoint("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2!=\n", "bad base64");
	expect_bad_checkpoint("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", "spare bits");
	expect_bad_checkpoint("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n",
			      "a 31-byte root");
	expect_bad_checkpoint("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IA\n",
			      "a 33-byte root");
	expect_bad_checkpoint("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=AAAA\n",
			      "a 35-byte root");
	expect_bad_checkpoint("o\n1\n\n", "an empty root");
	expect_bad_checkpoint("o\n1\n", "two lines");
	expect_bad_checkpoint("o\n", "one line");
	expect_bad_checkpoint("", "nothing");
	expect_bad_checkpoint("o\n1\n" ROOT, "no final newline");
	expect_bad_checkpoint("\n1\n" ROOT "\n", "an empty origin");
	expect_bad_checkpoint("o\n1\n" ROOT "\n\n", "an empty extension line");
	expect_bad_checkpoint("o\n1\n" ROOT "\next\n\n", "an empty line after an extension");
	expect_bad_checkpoint("o\r\n1\n" ROOT "\n", "a carriage return");
	expect_bad_checkpoint("o\xff\n1\n" ROOT "\n", "invalid UTF-8");
#undef ROOT
}

static void test_cosig_real_checkpoint(void **state)
{
	struct note_verifier vs[2];
	struct note_opened *n = &opened;
	struct note_checkpoint cp;
	char err[128], *p;
	uint64_t t = 0;
	size_t len = build(ARCHE_NOTE, NULL);

	(void)state;
	parse_vkey(ARCHE_VKEY, &vs[0]);
	parse_vkey(REMORA_VKEY, &vs[1]);
	assert_int_equal(open_msg(len, vs, 2, n), CU_OK);
	assert_int_equal(n->n_verified, 2);
	assert_int_equal(n->n_sigs, 6);
	/* Same name as the log, other id (its RFC 6962 signature): unknown. */
	assert_null(n->sigs[0].verifier);
	assert_int_equal(n->sigs[0].name_len, vs[0].name_len);
	assert_ptr_equal(n->sigs[1].verifier, &vs[0]);
	assert_int_equal(n->sigs[1].timestamp, 0);
	assert_ptr_equal(n->sigs[4].verifier, &vs[1]);
	assert_int_equal(n->sigs[4].timestamp, REMORA_TIME);
	assert_int_equal(note_checkpoint_parse(n->text, n->text_len, &cp, err, sizeof(err)), CU_OK);
	assert_int_equal(cp.size, 1432088532);

	/* The witness alone is enough to open it (quorum is the caller's). */
	assert_int_equal(open_msg(len, &vs[1], 1, n), CU_OK);
	assert_int_equal(n->n_verified, 1);

	/* The same line through note_cosig_verify. */
	assert_int_equal(note_cosig_verify(ARCHE_BODY, strlen(ARCHE_BODY), &vs[1], REMORA_LINE,
					   strlen(REMORA_LINE), &t, err, sizeof(err)),
			 CU_OK);
	assert_int_equal(t, REMORA_TIME);

	/* A different tree size breaks both signatures. */
	p = strstr(msg, "1432088532");
	p[9] = '3';
	assert_int_equal(open_msg(len, &vs[0], 1, n), CU_ERR_SIGNATURE);
	assert_int_equal(open_msg(len, &vs[1], 1, n), CU_ERR_SIGNATURE);
}

static void test_cosig_known_answer(void **state)
{
	uint8_t seed[32];
	struct cu_key *key;
	struct note_verifier v, want;
	char line[NOTE_SIG_LINE_MAX], vkey[NOTE_VKEY_MAX], err[128];
	size_t len = 0;
	uint64_t t = 0;

	(void)state;
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)i;
	key = key_from_seed(seed);
	assert_int_equal(note_verifier_init(&v, "witness.example/w1", NOTE_TYPE_COSIG_V1, key->pk),
			 CU_OK);
	parse_vkey(KAT_VKEY, &want);
	assert_memory_equal(&v, &want, sizeof(v));
	assert_int_equal(note_verifier_format(&v, vkey, sizeof(vkey)), CU_OK);
	assert_string_equal(vkey, KAT_VKEY);

	assert_int_equal(note_cosig_sign(SOFA_BODY, strlen(SOFA_BODY), "witness.example/w1", key,
					 KAT_TIME, line, sizeof(line), &len),
			 CU_OK);
	assert_string_equal(line, KAT_LINE);
	assert_int_equal(len, strlen(KAT_LINE));
	assert_int_equal(
	    note_cosig_verify(SOFA_BODY, strlen(SOFA_BODY), &v, line, len, &t, err, sizeof(err)),
	    CU_OK);
	assert_int_equal(t, KAT_TIME);
	key_free(key);
}

/*
 * Signs a cosignature line by hand, for what note_cosig_sign refuses to make: a
 * timestamp over 2^63-1, or extra_bytes zero bytes after the signature.
 */
static size_t forge_cosig_line(const struct cu_key *key, const struct note_verifier *v,
			       const char *body, uint64_t t, size_t extra_bytes, char *line,
			       size_t size)
{
	uint8_t value[4 + 8 + 64 + 8] = {0}, *m;
	char head[64], b64[CODEC_B64_SIZE(sizeof(value))];
	size_t hlen, blen = strlen(body);

	hlen = (size_t)snprintf(head, sizeof(head), "cosignature/v1\ntime %llu\n",
				(unsigned long long)t);
	m = malloc(hlen + blen);
	assert_non_null(m);
	memcpy(m, head, hlen);
	memcpy(m + hlen, body, blen);
	for (int i = 0; i < 4; i++)
		value[i] = (uint8_t)(v->key_id >> (24 - 8 * i));
	for (int i = 0; i < 8; i++)
		value[4 + i] = (uint8_t)(t >> (56 - 8 * i));
	assert_int_equal(crypto_sign_detached(value + 12, NULL, m, hlen + blen, key->sk), 0);
	free(m);
	assert_true(extra_bytes <= 8);
	codec_b64_encode(value, 4 + 8 + 64 + extra_bytes, b64, sizeof(b64));
	return (size_t)snprintf(line, size, DASH "%s %s\n", v->name, b64);
}

/* A log key, a witness key, a checkpoint and the witness's cosignature. */
struct cosig_fixture {
	struct cu_key *log, *wit;
	struct note_verifier lv, wv;
	char body[NOTE_CHECKPOINT_TEXT_MAX];
	size_t body_len;
	char line[NOTE_SIG_LINE_MAX];
	size_t line_len;
};

#define FIXTURE_TIME 1700000000u

static int cosig_setup(void **state)
{
	struct cosig_fixture *f = calloc(1, sizeof(*f));
	uint8_t root[NOTE_CHECKPOINT_ROOT_BYTES];

	assert_non_null(f);
	assert_int_equal(key_generate(&f->log), CU_OK);
	assert_int_equal(key_generate(&f->wit), CU_OK);
	assert_int_equal(
	    note_verifier_init(&f->lv, "custody.example/log", NOTE_TYPE_ED25519, f->log->pk),
	    CU_OK);
	assert_int_equal(note_verifier_init(&f->wv, "w.example/1", NOTE_TYPE_COSIG_V1, f->wit->pk),
			 CU_OK);
	randombytes_buf(root, sizeof(root));
	assert_int_equal(note_checkpoint_format("custody.example/log", 42, root, f->body,
						sizeof(f->body), &f->body_len),
			 CU_OK);
	assert_int_equal(note_cosig_sign(f->body, f->body_len, "w.example/1", f->wit, FIXTURE_TIME,
					 f->line, sizeof(f->line), &f->line_len),
			 CU_OK);
	*state = f;
	return 0;
}

static int cosig_teardown(void **state)
{
	struct cosig_fixture *f = *state;

	key_free(f->log);
	key_free(f->wit);
	free(f);
	return 0;
}

/* note_cosig_verify of the fixture's checkpoint against v. */
static int verify_line(struct cosig_fixture *f, const struct note_verifier *v, const char *line,
		       size_t line_len, uint64_t *t)
{
	char err[128];

	return note_cosig_verify(f->body, f->body_len, v, line, line_len, t, err, sizeof(err));
}

static void test_cosig_flow(void **state)
{
	struct cosig_fixture *f = *state;
	struct note_verifier both[2] = {f->lv, f->wv};
	size_t note_len = 0;
	uint64_t t = 0;

	/* The log signs, the witness cosigns, a client opens both. */
	assert_int_equal(note_sign(f->body, f->body_len, "custody.example/log", f->log, msg,
				   sizeof(msg), &note_len),
			 CU_OK);
	memcpy(msg + note_len, f->line, f->line_len + 1);
	assert_int_equal(open_msg(note_len + f->line_len, both, 2, &opened), CU_OK);
	assert_int_equal(opened.n_verified, 2);
	assert_int_equal(opened.sigs[1].timestamp, FIXTURE_TIME);
	assert_int_equal(verify_line(f, &f->wv, f->line, f->line_len, &t), CU_OK);
	assert_int_equal(t, FIXTURE_TIME);

	/* Keeping only the log's line gives back the note the log signed. */
	{
		char only[NOTE_SIG_MAX_BYTES], signed_only[NOTE_SIG_MAX_BYTES];
		size_t only_len = 0, signed_len = 0;
		struct note_verifier other = f->wv;

		assert_int_equal(note_sign(f->body, f->body_len, "custody.example/log", f->log,
					   signed_only, sizeof(signed_only), &signed_len),
				 CU_OK);
		assert_int_equal(
		    note_only_signed_by(&opened, &f->lv, only, sizeof(only), &only_len), CU_OK);
		assert_int_equal(only_len, signed_len);
		assert_string_equal(only, signed_only);
		assert_int_equal(note_only_signed_by(&opened, &f->lv, only, 20, &only_len),
				 CU_ERR_TOO_BIG);
		other.key_id ^= 1;
		assert_int_equal(
		    note_only_signed_by(&opened, &other, only, sizeof(only), &only_len),
		    CU_ERR_NOT_FOUND);
	}

	/* Only checkpoints are cosigned, under a valid name, into a big enough buffer. */
	assert_int_equal(
	    note_cosig_sign("x\n", 2, "w.example/1", f->wit, 1, msg, sizeof(msg), &note_len),
	    CU_ERR_INVALID);
	assert_int_equal(
	    note_cosig_sign(f->body, f->body_len, "w 1", f->wit, 1, msg, sizeof(msg), &note_len),
	    CU_ERR_INVALID);
	assert_int_equal(
	    note_cosig_sign(f->body, f->body_len, "w.example/1", f->wit, 1, msg, 60, &note_len),
	    CU_ERR_TOO_BIG);
}

static void test_cosig_tampering(void **state)
{
	struct cosig_fixture *f = *state;
	char saved[NOTE_SIG_LINE_MAX];
	uint64_t t = 0;

	memcpy(saved, f->body, f->body_len + 1);
	flip_b64(&f->body[f->body_len - 10]); /* inside the base64 root */
	assert_int_equal(verify_line(f, &f->wv, f->line, f->line_len, &t), CU_ERR_SIGNATURE);
	memcpy(f->body, saved, f->body_len + 1);

	memcpy(saved, f->line, f->line_len + 1);
	flip_b64(&f->line[strlen(DASH "w.example/1 ") + 8]); /* inside the timestamp */
	assert_int_equal(verify_line(f, &f->wv, f->line, f->line_len, &t), CU_ERR_SIGNATURE);
	memcpy(f->line, saved, f->line_len + 1);

	f->line[f->line_len - 1] = 'X'; /* the line must end in its newline */
	assert_int_equal(verify_line(f, &f->wv, f->line, f->line_len, &t), CU_ERR_INVALID);
	memcpy(f->line, saved, f->line_len + 1);
	assert_int_equal(verify_line(f, &f->wv, f->line, f->line_len - 1, &t), CU_ERR_INVALID);
	assert_int_equal(note_cosig_verify("x\n", 2, &f->wv, f->line, f->line_len, &t, NULL, 0),
			 CU_ERR_INVALID);
	assert_int_equal(verify_line(f, &f->wv, f->line, f->line_len, &t), CU_OK);
}

static void test_cosig_whose_line(void **state)
{
	struct cosig_fixture *f = *state;
	struct note_verifier plain;
	char other[NOTE_SIG_LINE_MAX];
	size_t other_len = 0, len;
	uint64_t t = 0;

	/* Another key under the witness's name: not its line. */
	assert_int_equal(note_cosig_sign(f->body, f->body_len, "w.example/1", f->log, 1, other,
					 sizeof(other), &other_len),
			 CU_OK);
	assert_int_equal(verify_line(f, &f->wv, other, other_len, &t), CU_ERR_INVALID);
	assert_int_equal(verify_line(f, &f->lv, f->line, f->line_len, &t), CU_ERR_INVALID);

	/* The witness key as a plain Ed25519 key: another id, another type. */
	assert_int_equal(note_verifier_init(&plain, "w.example/1", NOTE_TYPE_ED25519, f->wit->pk),
			 CU_OK);
	assert_int_equal(verify_line(f, &plain, f->line, f->line_len, &t), CU_ERR_INVALID);
	len = build(f->body, "\n", f->line, NULL);
	assert_int_equal(open_msg(len, &plain, 1, &opened), CU_ERR_NOT_FOUND);
	plain.key_id = f->wv.key_id; /* same name and id, still not a cosignature key */
	assert_int_equal(verify_line(f, &plain, f->line, f->line_len, &t), CU_ERR_INVALID);
}

static void test_cosig_timestamp_limits(void **state)
{
	struct cosig_fixture *f = *state;
	const uint64_t max = (uint64_t)INT64_MAX;
	char line[256];
	size_t len = 0;
	uint64_t t = 0;

	/* Timestamps above 2^63-1 are neither made nor accepted. */
	assert_int_equal(note_cosig_sign(f->body, f->body_len, "w.example/1", f->wit, max + 1, line,
					 sizeof(line), &len),
			 CU_ERR_INVALID);
	len = forge_cosig_line(f->wit, &f->wv, f->body, max, 0, line, sizeof(line));
	assert_int_equal(verify_line(f, &f->wv, line, len, &t), CU_OK);
	assert_true(t == max);
	len = forge_cosig_line(f->wit, &f->wv, f->body, max + 1, 0, line, sizeof(line));
	assert_int_equal(verify_line(f, &f->wv, line, len, &t), CU_ERR_SIGNATURE);

	/* A valid cosignature with a byte appended does not verify. */
	len = forge_cosig_line(f->wit, &f->wv, f->body, FIXTURE_TIME, 1, line, sizeof(line));
	assert_int_equal(verify_line(f, &f->wv, line, len, &t), CU_ERR_SIGNATURE);
	len = forge_cosig_line(f->wit, &f->wv, f->body, FIXTURE_TIME, 0, line, sizeof(line));
	assert_int_equal(verify_line(f, &f->wv, line, len, &t), CU_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_ids_and_vkeys),
	    cmocka_unit_test(test_vkey_rejections),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_signer_key_known_answer),
	    cmocka_unit_test(test_signer_key_rejections),
	    cmocka_unit_test(test_open_go_vectors),
	    cmocka_unit_test(test_open_limits_and_duplicates),
	    cmocka_unit_test(test_open_malformed_go),
	    cmocka_unit_test(test_open_malformed_text),
	    cmocka_unit_test(test_open_malformed_sig_lines),
	    cmocka_unit_test(test_open_spec_example),
	    cmocka_unit_test(test_sign_open_roundtrip),
	    cmocka_unit_test(test_sign_rejections),
	    cmocka_unit_test(test_checkpoint_roundtrip),
	    cmocka_unit_test(test_checkpoint_rejections),
	    cmocka_unit_test(test_cosig_real_checkpoint),
	    cmocka_unit_test(test_cosig_known_answer),
	    cmocka_unit_test_setup_teardown(test_cosig_flow, cosig_setup, cosig_teardown),
	    cmocka_unit_test_setup_teardown(test_cosig_tampering, cosig_setup, cosig_teardown),
	    cmocka_unit_test_setup_teardown(test_cosig_whose_line, cosig_setup, cosig_teardown),
	    cmocka_unit_test_setup_teardown(test_cosig_timestamp_limits, cosig_setup,
					    cosig_teardown),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
