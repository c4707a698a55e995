/*
 * note.h - C2SP signed notes, tlog checkpoints and Ed25519 cosignatures.
 *
 * The log publishes its tree heads as checkpoints (c2sp.org/tlog-checkpoint)
 * inside signed notes (c2sp.org/signed-note), and witnesses add cosignature
 * lines (c2sp.org/tlog-cosignature, cosignature/v1) to the same note. These
 * formats are what third-party witnesses and monitors already speak, so this
 * module follows the specifications byte for byte, checked against the
 * vectors of Go's golang.org/x/mod/sumdb/note and of real logs.
 *
 * A signed note is
 *     <text, ending in "\n">
 *     "\n"
 *     "— <key name> <base64(key id (4, big-endian) || signature)>\n" (1..100)
 * where "—" is U+2014 (em dash) and the signatures cover the text only. A
 * key is named by (key name, key id); the key id is
 *     SHA-256(key name || "\n" || type || 32-byte public key)[:4]
 * with type 0x01 for plain Ed25519 note signatures (the log's key) and 0x04
 * for cosignature/v1 (witness keys).
 *
 * Everything here is pure: no I/O, no clock (timestamps are passed in).
 * Parsed results borrow spans of the caller's input (pointer + length, not
 * NUL-terminated). The only allocations are the key note_signer_parse
 * returns and a short-lived copy of the message a cosignature covers.
 * Secret keys are struct cu_key from key.h.
 */
#ifndef CUSTODY_NOTE_H
#define CUSTODY_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "cu_err.h"
#include "key.h"

/* Signature types of c2sp.org/signed-note that we implement. */
#define NOTE_TYPE_ED25519  0x01 /* Ed25519 over the note text */
#define NOTE_TYPE_COSIG_V1 0x04 /* timestamped Ed25519 witness cosignature */

/* Our limit on key names, in bytes (the specification sets none). */
#define NOTE_NAME_MAX 255
/* Most signature lines a note may carry (the specification asks for >= 16). */
#define NOTE_MAX_SIGS 100
/* Largest decoded signature value we parse (post-quantum ones are ~5 kB). */
#define NOTE_SIG_MAX_BYTES 5120
/* Size of a root hash in a checkpoint. */
#define NOTE_CHECKPOINT_ROOT_BYTES 32

/* Buffer sizes, each with room for the NUL. */
#define NOTE_VKEY_MAX	  (NOTE_NAME_MAX + 10 + CODEC_B64_SIZE(1 + KEY_PUBLIC_BYTES))
#define NOTE_SKEY_MAX	  (12 + NOTE_VKEY_MAX) /* "PRIVATE+KEY+" + a vkey-sized rest */
#define NOTE_SIG_LINE_MAX (4 + NOTE_NAME_MAX + 1 + CODEC_B64_SIZE(4 + 8 + KEY_SIG_BYTES) + 1)
#define NOTE_CHECKPOINT_TEXT_MAX                                                                   \
	(NOTE_NAME_MAX + 1 + 20 + 1 + CODEC_B64_SIZE(NOTE_CHECKPOINT_ROOT_BYTES) + 1)

/*
 * A known public key: what a verifier key string
 *     <name>+<key id, 8 lowercase hex digits>+<base64(type || public key)>
 * holds. Plain data, no ownership.
 */
struct note_verifier {
	char name[NOTE_NAME_MAX + 1];
	size_t name_len;
	uint32_t key_id;
	uint8_t type; /* NOTE_TYPE_ED25519 or NOTE_TYPE_COSIG_V1 */
	uint8_t pk[KEY_PUBLIC_BYTES];
};

/*
 * Checks a key name: non-empty, valid UTF-8, no Unicode white space, no '+'
 * and no control character (it could not appear in a note). CU_ERR_INVALID
 * otherwise. Does not apply NOTE_NAME_MAX.
 */
CU_MUST_USE int note_name_check(const char *name, size_t len);

/* Computes the key id of (name, type, pk); name must be valid. */
uint32_t note_key_id(const char *name, size_t name_len, uint8_t type,
		     const uint8_t pk[KEY_PUBLIC_BYTES]);

/*
 * Fills v for a key name, type (NOTE_TYPE_*) and public key, computing the
 * key id. CU_ERR_INVALID for a bad name (or longer than NOTE_NAME_MAX) or an
 * unknown type.
 */
CU_MUST_USE int note_verifier_init(struct note_verifier *v, const char *name, uint8_t type,
				   const uint8_t pk[KEY_PUBLIC_BYTES]);

/* Writes v as a verifier key string into out; CU_ERR_TOO_BIG if it won't fit. */
CU_MUST_USE int note_verifier_format(const struct note_verifier *v, char *out, size_t out_size);

/*
 * Parses a verifier key string strictly: valid name, exactly 8 lowercase hex
 * digits, padded canonical base64 of exactly 33 bytes, type 0x01 or 0x04, and
 * a key id that matches the name and key. CU_ERR_INVALID with a one-line
 * reason in err (err may be NULL when err_size is 0).
 */
CU_MUST_USE int note_verifier_parse(const char *text, struct note_verifier *v, char *err,
				    size_t err_size);

/*
 * Writes the signer key string "PRIVATE+KEY+<name>+<id>+base64(type || seed)"
 * of key (the format of Go's sumdb/note) into out, for handing a key to other
 * tools. out then holds the secret: the caller wipes it (sodium_memzero).
 */
CU_MUST_USE int note_signer_format(const char *name, uint8_t type, const struct cu_key *key,
				   char *out, size_t out_size);

/*
 * Parses a signer key string: fills v with its public half and sets *key to a
 * new key in guarded memory (free with key_free). The key id must match the
 * derived public key. CU_ERR_INVALID with a reason in err.
 */
CU_MUST_USE int note_signer_parse(const char *text, struct note_verifier *v, struct cu_key **key,
				  char *err, size_t err_size);

/*
 * Signs text (text_len bytes: non-empty, ending in "\n", valid UTF-8 without
 * control characters other than newline) with key under the key name (type
 * 0x01) and writes the signed note, NUL-terminated, into out; *out_len gets
 * its length without the NUL; out must not overlap text. CU_ERR_INVALID for
 * a bad text or name, CU_ERR_TOO_BIG if out is too small.
 */
CU_MUST_USE int note_sign(const char *text, size_t text_len, const char *name,
			  const struct cu_key *key, char *out, size_t out_size, size_t *out_len);

/* One signature line of an opened note; spans borrow the message. */
struct note_sig {
	const char *name; /* key name, name_len bytes */
	size_t name_len;
	const char *b64; /* the base64 value as written, b64_len bytes */
	size_t b64_len;
	uint32_t key_id;
	const struct note_verifier *verifier; /* the known key that verified it, or NULL */
	uint64_t timestamp;		      /* cosignature/v1 time in seconds, else 0 */
};

/*
 * An opened note. sigs lists, in order of appearance, each known key that
 * signed once (n_verified of them; a repeated key keeps its first line's
 * timestamp) and each distinct unknown signature line.
 */
struct note_opened {
	const char *text; /* the signed text, with its final "\n" */
	size_t text_len;
	struct note_sig sigs[NOTE_MAX_SIGS];
	size_t n_sigs;
	size_t n_verified;
};

/*
 * Opens the signed note msg (msg_len bytes) against the known keys
 * verifiers[0..n_verifiers). Every signature line whose (name, key id)
 * matches a known key is verified, repeated ones too; lines of other keys
 * are reported, not verified. Returns
 *   CU_OK             at least one known key signed and every one verified;
 *   CU_ERR_INVALID    malformed note (not UTF-8, a control character, no
 *                     blank line, a bad signature line, more than
 *                     NOTE_MAX_SIGS lines) or two known keys with the same
 *                     name and id;
 *   CU_ERR_SIGNATURE  a signature of a known key does not verify;
 *   CU_ERR_NOT_FOUND  well formed but no known key signed it: *out still
 *                     lists the signers, for a diagnostic only: the text
 *                     MUST NOT be trusted;
 *   CU_ERR_NOMEM.
 * err gets a one-line reason. out borrows msg and verifiers.
 */
CU_MUST_USE int note_open(const char *msg, size_t msg_len, const struct note_verifier *verifiers,
			  size_t n_verifiers, struct note_opened *out, char *err, size_t err_size);

/*
 * Writes the note n (opened by note_open) again with only the signature
 * line of the known key v, which must have verified it: the text, a blank
 * line, that one line. Drops cosignatures and unknown signers. Output is
 * NUL-terminated; *out_len excludes the NUL. CU_ERR_NOT_FOUND if v did not
 * sign n, CU_ERR_TOO_BIG if out is too small.
 */
CU_MUST_USE int note_only_signed_by(const struct note_opened *n, const struct note_verifier *v,
				    char *out, size_t out_size, size_t *out_len);

/* A parsed checkpoint; origin and extensions borrow the text. */
struct note_checkpoint {
	const char *origin; /* first line, without "\n" */
	size_t origin_len;
	uint64_t size; /* tree size */
	uint8_t root[NOTE_CHECKPOINT_ROOT_BYTES];
	const char *extensions; /* the extension lines, each ending in "\n" */
	size_t extensions_len;	/* 0 when there are none */
};

/*
 * Writes the checkpoint body "<origin>\n<size>\n<base64 root>\n" into out
 * (NOTE_CHECKPOINT_TEXT_MAX bytes suffice), NUL-terminated; *out_len excludes the
 * NUL. The origin must be a valid key name (the log signs under it).
 */
CU_MUST_USE int note_checkpoint_format(const char *origin, uint64_t size,
				       const uint8_t root[NOTE_CHECKPOINT_ROOT_BYTES], char *out,
				       size_t out_size, size_t *out_len);

/*
 * Parses a checkpoint body (the text of an opened note) strictly: a
 * non-empty origin line, a decimal tree size without leading zeros that fits
 * 64 bits, the padded base64 of a 32-byte root, then only non-empty
 * extension lines; every line ends in "\n". CU_ERR_INVALID with a reason.
 */
CU_MUST_USE int note_checkpoint_parse(const char *text, size_t text_len,
				      struct note_checkpoint *out, char *err, size_t err_size);

/*
 * Cosigns a checkpoint body as a cosignature/v1 witness: signs
 *     "cosignature/v1\ntime <timestamp>\n" || checkpoint
 * and writes the signature line "— <name> base64(id || timestamp (8,
 * big-endian) || signature)\n" (type 0x04 key id), NUL-terminated, into line;
 * *line_len excludes the NUL. A cosigned checkpoint is the signed note
 * followed by such lines. CU_ERR_INVALID if checkpoint does not parse, the
 * name is bad or timestamp > 2^63-1; CU_ERR_TOO_BIG; CU_ERR_NOMEM.
 */
CU_MUST_USE int note_cosig_sign(const char *checkpoint, size_t checkpoint_len, const char *name,
				const struct cu_key *key, uint64_t timestamp, char *line,
				size_t line_size, size_t *line_len);

/*
 * Verifies one cosignature line (exactly as note_cosig_sign writes it, with its
 * "\n") of the witness key v (type 0x04) over a checkpoint body and sets
 * *timestamp. CU_ERR_INVALID for a malformed line or checkpoint, or a line of
 * another key; CU_ERR_SIGNATURE if it does not verify; CU_ERR_NOMEM.
 */
CU_MUST_USE int note_cosig_verify(const char *checkpoint, size_t checkpoint_len,
				  const struct note_verifier *v, const char *line, size_t line_len,
				  uint64_t *timestamp, char *err, size_t err_size);

#endif
