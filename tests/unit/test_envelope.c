/* Unit tests for proto/envelope.c and proto/key.c: signing, verifying,
 * domain separation, tampering, key files and their permissions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "envelope.h"
#include "key.h"

static Custody__Event *sample_event(void)
{
	static Custody__Event ev = CUSTODY__EVENT__INIT;
	static Custody__DeviceRef dev = CUSTODY__DEVICE_REF__INIT;
	static Custody__DeviceRef *devs[1] = {&dev};

	ev.type = CUSTODY__EVENT_TYPE__REGISTER;
	ev.actor = "acme";
	ev.occurred_at_ms = 1795354800000LL;
	ev.facility = "us-1";
	dev.serial = "GPU-1";
	dev.kind = CUSTODY__DEVICE_KIND__CHIP;
	dev.model = "H100-SXM";
	ev.n_devices = 1;
	ev.devices = devs;
	return &ev;
}

static void test_seal_verify(void **state)
{
	struct cu_key *key = NULL;
	Custody__SignedEnvelope env;
	uint8_t id[ENVELOPE_ID_BYTES], want[ENVELOPE_ID_BYTES];

	(void)state;
	assert_int_equal(key_generate(&key), CU_OK);
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, key, &sample_event()->base, &env), CU_OK);
	assert_int_equal(envelope_verify(ENVELOPE_EVENT, &env), CU_OK);
	assert_memory_equal(env.signer.data, key->pk, 32);

	/* The id is SHA-256 of the body alone. */
	envelope_id(env.body.data, env.body.len, id);
	crypto_hash_sha256(want, env.body.data, env.body.len);
	assert_memory_equal(id, want, sizeof(id));

	/* An event signature is not an admin signature (domain separation). */
	assert_int_equal(envelope_verify(ENVELOPE_ADMIN, &env), CU_ERR_SIGNATURE);
	envelope_clear(&env);
	key_free(key);
}

static void test_signature_covers_domain_and_bytes(void **state)
{
	struct cu_key *key = NULL;
	Custody__SignedEnvelope env;
	uint8_t *msg;
	size_t dlen = strlen(ENVELOPE_DOMAIN_EVENT);

	(void)state;
	assert_int_equal(key_generate(&key), CU_OK);
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, key, &sample_event()->base, &env), CU_OK);
	/* Check against libsodium directly: sig = Ed25519(sk, domain || body). */
	msg = malloc(dlen + env.body.len);
	memcpy(msg, ENVELOPE_DOMAIN_EVENT, dlen);
	memcpy(msg + dlen, env.body.data, env.body.len);
	assert_int_equal(
	    crypto_sign_verify_detached(env.sig.data, msg, dlen + env.body.len, key->pk), 0);
	free(msg);
	envelope_clear(&env);
	key_free(key);
}

static void test_tampering(void **state)
{
	struct cu_key *key = NULL, *other = NULL;
	Custody__SignedEnvelope env;

	(void)state;
	assert_int_equal(key_generate(&key), CU_OK);
	assert_int_equal(key_generate(&other), CU_OK);
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, key, &sample_event()->base, &env), CU_OK);

	env.body.data[env.body.len - 1] ^= 1;
	assert_int_equal(envelope_verify(ENVELOPE_EVENT, &env), CU_ERR_SIGNATURE);
	env.body.data[env.body.len - 1] ^= 1;

	env.sig.data[0] ^= 0x80;
	assert_int_equal(envelope_verify(ENVELOPE_EVENT, &env), CU_ERR_SIGNATURE);
	env.sig.data[0] ^= 0x80;

	memcpy(env.signer.data, other->pk, 32);
	assert_int_equal(envelope_verify(ENVELOPE_EVENT, &env), CU_ERR_SIGNATURE);
	memcpy(env.signer.data, key->pk, 32);
	assert_int_equal(envelope_verify(ENVELOPE_EVENT, &env), CU_OK);

	/* Wrong lengths are malformed, not merely bad signatures. */
	env.sig.len = 63;
	assert_int_equal(envelope_verify(ENVELOPE_EVENT, &env), CU_ERR_INVALID);
	env.sig.len = 64;
	env.signer.len = 31;
	assert_int_equal(envelope_verify(ENVELOPE_EVENT, &env), CU_ERR_INVALID);
	env.signer.len = 32;
	env.body.len = 0;
	assert_int_equal(envelope_verify(ENVELOPE_EVENT, &env), CU_ERR_INVALID);
	envelope_clear(&env);
	key_free(key);
	key_free(other);
}

static void test_key_files(void **state)
{
	char dir[] = "/tmp/custody-keytest-XXXXXX";
	char path[256], pub[256], text[KEY_PUB_TEXT_MAX];
	struct cu_key *key = NULL, *back = NULL;
	uint8_t pk[32];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/id", dir);
	snprintf(pub, sizeof(pub), "%s/id.pub", dir);
	assert_int_equal(key_generate(&key), CU_OK);
	assert_int_equal(key_save(key, path), CU_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(key_save(key, path), CU_ERR_EXISTS);

	assert_int_equal(key_load(path, &back), CU_OK);
	assert_memory_equal(back->pk, key->pk, 32);
	assert_memory_equal(back->sk, key->sk, 64);
	key_free(back);
	back = NULL;

	/* Public key from the .pub file, the secret file, base64 and hex. */
	assert_int_equal(key_pub_load(pub, pk), CU_OK);
	assert_memory_equal(pk, key->pk, 32);
	assert_int_equal(key_pub_load(path, pk), CU_OK);
	assert_memory_equal(pk, key->pk, 32);
	key_pub_format(key->pk, text);
	memset(pk, 0, sizeof(pk));
	assert_int_equal(key_pub_load(text, pk), CU_OK);
	assert_memory_equal(pk, key->pk, 32);
	assert_int_equal(key_pub_parse("not a key", pk), CU_ERR_INVALID);
	assert_int_equal(key_pub_load("/nonexistent/key", pk), CU_ERR_NOT_FOUND);

	/* A secret key others can read is refused. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(key_load(path, &back), CU_ERR_PERM);
	assert_null(back);

	unlink(path);
	unlink(pub);
	rmdir(dir);
	key_free(key);
}

static void test_key_file_garbage(void **state)
{
	char dir[] = "/tmp/custody-keytest-XXXXXX";
	char path[256];
	struct cu_key *key = NULL;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/bad", dir);
	f = fopen(path, "w");
	fputs("custody secret key v1\nAAAA\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(key_load(path, &key), CU_ERR_INVALID);
	f = fopen(path, "w");
	fputs("something else\n", f);
	fclose(f);
	assert_int_equal(key_load(path, &key), CU_ERR_INVALID);
	assert_null(key);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seal_verify),
	    cmocka_unit_test(test_signature_covers_domain_and_bytes),
	    cmocka_unit_test(test_tampering),
	    cmocka_unit_test(test_key_files),
	    cmocka_unit_test(test_key_file_garbage),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
