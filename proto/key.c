/*
 * key.c - Ed25519 key generation and key files (see key.h).
 *
 * Secrets never sit in ordinary heap or stack memory longer than needed:
 * the seed is decoded straight into sodium_malloc'd memory and every
 * temporary copy is wiped with sodium_memzero before returning.
 */
#include "key.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"

#define SECRET_HEADER "custody secret key v1\n"
#define PUBLIC_HEADER "custody public key v1\n"
#define SEED_BYTES    32
/* Largest key file we read: header, base64 and some slack. */
#define KEY_FILE_MAX 256

int key_generate(struct cu_key **out)
{
	struct cu_key *key;

	if (sodium_init() < 0)
		return CU_ERR_CRYPTO;
	key = sodium_malloc(sizeof(*key));
	if (key == NULL)
		return CU_ERR_NOMEM;
	crypto_sign_keypair(key->pk, key->sk);
	*out = key;
	return CU_OK;
}

void key_free(struct cu_key *key)
{
	if (key != NULL)
		sodium_free(key); /* wipes before unmapping */
}

/* Writes all of buf to a new file at path with the given mode. */
static int write_new_file(const char *path, mode_t mode, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	size_t off = 0;

	if (fd < 0)
		return errno == EEXIST ? CU_ERR_EXISTS : CU_ERR_IO;
	if (fchmod(fd, mode) != 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0)
		return CU_ERR_IO;
	return CU_OK;
fail:
	close(fd);
	unlink(path);
	return CU_ERR_IO;
}

int key_save(const struct cu_key *key, const char *path)
{
	char text[KEY_FILE_MAX];
	char pub_path[4096];
	char b64[CODEC_B64_SIZE(SEED_BYTES)];
	int n, rc;

	if (snprintf(pub_path, sizeof(pub_path), "%s.pub", path) >= (int)sizeof(pub_path))
		return CU_ERR_TOO_BIG;
	if (access(pub_path, F_OK) == 0)
		return CU_ERR_EXISTS;
	/* The first 32 bytes of a libsodium Ed25519 secret key are its seed. */
	codec_b64_encode(key->sk, SEED_BYTES, b64, sizeof(b64));
	n = snprintf(text, sizeof(text), SECRET_HEADER "%s\n", b64);
	rc = write_new_file(path, 0600, text, (size_t)n);
	sodium_memzero(b64, sizeof(b64));
	sodium_memzero(text, sizeof(text));
	if (rc != CU_OK)
		return rc;
	key_pub_format(key->pk, b64);
	n = snprintf(text, sizeof(text), PUBLIC_HEADER "%s\n", b64);
	rc = write_new_file(pub_path, 0644, text, (size_t)n);
	if (rc != CU_OK)
		unlink(path);
	return rc;
}

/*
 * Reads a small file into buf (NUL-terminated). With secret set, refuses a
 * file group or others can access.
 */
static int read_small_file(const char *path, int secret, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t len = 0;
	int rc = CU_ERR_IO;

	if (fd < 0)
		return errno == ENOENT ? CU_ERR_NOT_FOUND : CU_ERR_IO;
	if (fstat(fd, &st) != 0)
		goto fail;
	rc = CU_ERR_INVALID;
	if (!S_ISREG(st.st_mode))
		goto fail;
	rc = CU_ERR_PERM;
	if (secret && (st.st_mode & 077) != 0)
		goto fail;
	rc = CU_ERR_TOO_BIG;
	if (st.st_size >= (off_t)cap)
		goto fail;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = CU_ERR_IO;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	return CU_OK;
fail:
	close(fd);
	return rc;
}

/* Points *body at the line after header in text and cuts it at '\n'. */
static int split_key_text(char *text, const char *header, char **body)
{
	size_t hlen = strlen(header);
	char *nl;

	if (strncmp(text, header, hlen) != 0)
		return CU_ERR_INVALID;
	*body = text + hlen;
	nl = strchr(*body, '\n');
	if (nl != NULL)
		*nl = '\0';
	return CU_OK;
}

int key_load(const char *path, struct cu_key **out)
{
	struct cu_key *key = NULL;
	uint8_t *seed = NULL;
	char *text = NULL;
	size_t seed_len = 0;
	char *body;
	int rc = CU_ERR_CRYPTO;

	if (sodium_init() < 0)
		return rc;
	rc = CU_ERR_NOMEM;
	text = sodium_malloc(KEY_FILE_MAX);
	if (text == NULL)
		goto fail;
	rc = read_small_file(path, 1, text, KEY_FILE_MAX);
	if (rc != CU_OK)
		goto fail;
	rc = split_key_text(text, SECRET_HEADER, &body);
	if (rc != CU_OK)
		goto fail;
	rc = CU_ERR_NOMEM;
	key = sodium_malloc(sizeof(*key));
	seed = sodium_malloc(SEED_BYTES);
	if (key == NULL || seed == NULL)
		goto fail;
	rc = codec_b64_decode(body, seed, SEED_BYTES, &seed_len);
	if (rc == CU_OK && seed_len != SEED_BYTES)
		rc = CU_ERR_INVALID;
	if (rc != CU_OK)
		goto fail;
	crypto_sign_seed_keypair(key->pk, key->sk, seed);
	sodium_free(seed);
	sodium_free(text);
	*out = key;
	return CU_OK;
fail:
	if (seed != NULL)
		sodium_free(seed);
	if (text != NULL)
		sodium_free(text);
	key_free(key);
	return rc;
}

void key_pub_format(const uint8_t pk[KEY_PUBLIC_BYTES], char out[KEY_PUB_TEXT_MAX])
{
	codec_b64_encode(pk, KEY_PUBLIC_BYTES, out, KEY_PUB_TEXT_MAX);
}

int key_pub_parse(const char *text, uint8_t pk[KEY_PUBLIC_BYTES])
{
	size_t len = 0;

	if (strlen(text) == 2 * KEY_PUBLIC_BYTES)
		return codec_hex_decode(text, pk, KEY_PUBLIC_BYTES);
	if (codec_b64_decode(text, pk, KEY_PUBLIC_BYTES, &len) != CU_OK || len != KEY_PUBLIC_BYTES)
		return CU_ERR_INVALID;
	return CU_OK;
}

int key_pub_load(const char *spec, uint8_t pk[KEY_PUBLIC_BYTES])
{
	char text[KEY_FILE_MAX];
	struct cu_key *key = NULL;
	char *body;
	int rc;

	if (key_pub_parse(spec, pk) == CU_OK)
		return CU_OK;
	rc = read_small_file(spec, 0, text, sizeof(text));
	if (rc != CU_OK)
		return rc;
	if (split_key_text(text, PUBLIC_HEADER, &body) == CU_OK)
		return key_pub_parse(body, pk);
	sodium_memzero(text, sizeof(text));
	rc = key_load(spec, &key);
	if (rc != CU_OK)
		return rc;
	memcpy(pk, key->pk, KEY_PUBLIC_BYTES);
	key_free(key);
	return CU_OK;
}
