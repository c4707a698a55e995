/*
 * key.h - Ed25519 identity keys and their files.
 *
 * A secret key lives in sodium_malloc'd memory (guard pages, wiped on
 * free) and is stored on disk as its 32-byte seed, base64, in a file of
 * mode 0600:
 *     custody secret key v1
 *     <base64 seed>
 * The public key file next to it (PATH.pub) reads
 *     custody public key v1
 *     <base64 public key>
 * On the command line and in configs a public key is given as its base64
 * (44 characters) or hex (64 characters), or as the path of either file.
 */
#ifndef CUSTODY_KEY_H
#define CUSTODY_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"

#define KEY_PUBLIC_BYTES 32
#define KEY_SECRET_BYTES 64
#define KEY_SIG_BYTES	 64
/* Size of the text key_pub_format writes, with its NUL. */
#define KEY_PUB_TEXT_MAX 45

struct cu_key {
	uint8_t pk[KEY_PUBLIC_BYTES];
	uint8_t sk[KEY_SECRET_BYTES];
};

/* Makes a new random key in guarded memory; free with key_free. */
CU_MUST_USE int key_generate(struct cu_key **out);

/*
 * Writes key to path (mode 0600) and its public half to path.pub (0644).
 * Never overwrites: CU_ERR_EXISTS if either file exists.
 */
CU_MUST_USE int key_save(const struct cu_key *key, const char *path);

/*
 * Reads a secret key file. Refuses (CU_ERR_PERM) a file that group or
 * others may read or write. On success *out is owned by the caller.
 */
CU_MUST_USE int key_load(const char *path, struct cu_key **out);

/* Wipes and frees a key; accepts NULL. */
void key_free(struct cu_key *key);

/* Formats a public key as base64 into out (KEY_PUB_TEXT_MAX bytes). */
void key_pub_format(const uint8_t pk[KEY_PUBLIC_BYTES], char out[KEY_PUB_TEXT_MAX]);

/* Parses a public key written as base64 or hex. */
CU_MUST_USE int key_pub_parse(const char *text, uint8_t pk[KEY_PUBLIC_BYTES]);

/*
 * Reads a public key from spec: a base64 or hex literal, or the path of a
 * public or secret key file. CU_ERR_NOT_FOUND if it is neither.
 */
CU_MUST_USE int key_pub_load(const char *spec, uint8_t pk[KEY_PUBLIC_BYTES]);

#endif
