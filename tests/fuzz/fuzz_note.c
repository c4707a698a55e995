/*
 * fuzz_note.c - libFuzzer target for the C2SP signed-note, checkpoint,
 * cosignature and key-string parsers (proto/note.c): what custodyctl reads
 * from a server or a witness, what the witness command and custodyd's
 * cosign handler read from the other side.
 *
 * The first byte picks the parser of the rest:
 *   0  note_open against the log key and a witness key of a real run of
 *      tests/integration/85-bundle.sh (the seeds are its checkpoints),
 *      then note_cosig_verify of every signature line and
 *      note_checkpoint_parse of the text;
 *   1  note_verifier_parse and note_signer_parse;
 *   2  note_checkpoint_parse.
 *
 * Invariants: an opened note's text is a prefix of the input ending in
 * "\n" and at least one known key verified it; note_only_signed_by of a
 * verifying key reopens to the same text; a key string that parses formats
 * back to the same bytes (one spelling per key); a checkpoint that parses
 * formats back to the same text, less its extension lines.
 */
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "key.h"
#include "note.h"

#define LOG_VKEY     "custody.test/bundle+22d695e6+ARHzi4tDoNvbgC/gqFz3ac3CGghYP/ho9DqSlv9X5jAZ"
#define WITNESS_VKEY "w1+30b93749+BHfrDc2YO9YFFJVA0w/tI0+Oozs7sWHpPamZmi9uzbQw"
#define MAX_TEXT     (1u << 16)

static struct note_verifier keys[2];

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_CHECK(sodium_init() >= 0);
	FUZZ_CHECK(note_verifier_parse(LOG_VKEY, &keys[0], NULL, 0) == CU_OK);
	FUZZ_CHECK(note_verifier_parse(WITNESS_VKEY, &keys[1], NULL, 0) == CU_OK);
	return 0;
}

/* A NUL-terminated copy of data (the key-string parsers take C strings). */
static char *cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static void check_checkpoint(const char *text, size_t len)
{
	struct note_checkpoint cp;
	char err[256], again[NOTE_CHECKPOINT_TEXT_MAX], origin[NOTE_NAME_MAX + 1];
	size_t n = 0;
	int rc = note_checkpoint_parse(text, len, &cp, err, sizeof(err));

	FUZZ_CHECK(rc == CU_OK || rc == CU_ERR_INVALID);
	if (rc != CU_OK)
		return;
	FUZZ_CHECK(cp.origin == text && cp.origin_len > 0);
	FUZZ_CHECK(cp.extensions_len == 0 || cp.extensions[cp.extensions_len - 1] == '\n');
	if (cp.origin_len > NOTE_NAME_MAX || memchr(cp.origin, '\0', cp.origin_len) != NULL)
		return;
	memcpy(origin, cp.origin, cp.origin_len);
	origin[cp.origin_len] = '\0';
	if (note_checkpoint_format(origin, cp.size, cp.root, again, sizeof(again), &n) != CU_OK)
		return; /* an origin that parses but is no valid key name */
	FUZZ_CHECK(n + cp.extensions_len == len && memcmp(again, text, n) == 0);
}

/* Mode 0: a signed note, maybe cosigned. */
static void check_note(const char *msg, size_t len)
{
	struct note_opened *o = calloc(1, sizeof(*o)), *o2 = calloc(1, sizeof(*o2));
	char err[256], *out = malloc(len + NOTE_SIG_LINE_MAX + 1);
	size_t n = 0;
	int rc;

	FUZZ_CHECK(o != NULL && o2 != NULL && out != NULL);
	rc = note_open(msg, len, keys, 2, o, err, sizeof(err));
	FUZZ_CHECK(rc == CU_OK || rc == CU_ERR_INVALID || rc == CU_ERR_SIGNATURE ||
		   rc == CU_ERR_NOT_FOUND || rc == CU_ERR_NOMEM);
	if (rc == CU_OK || rc == CU_ERR_NOT_FOUND) {
		FUZZ_CHECK(o->text == msg && o->text_len < len && msg[o->text_len - 1] == '\n');
		FUZZ_CHECK(o->n_sigs <= NOTE_MAX_SIGS && o->n_verified <= o->n_sigs);
		FUZZ_CHECK((rc == CU_OK) == (o->n_verified > 0));
	}
	if (rc == CU_OK && o->sigs[0].verifier != NULL) {
		const struct note_verifier *v = o->sigs[0].verifier;

		if (v->type == NOTE_TYPE_ED25519) {
			FUZZ_CHECK(note_only_signed_by(o, v, out, len + NOTE_SIG_LINE_MAX + 1,
						       &n) == CU_OK);
			FUZZ_CHECK(note_open(out, n, v, 1, o2, err, sizeof(err)) == CU_OK);
			FUZZ_CHECK(o2->text_len == o->text_len &&
				   memcmp(o2->text, o->text, o->text_len) == 0);
		}
	}
	if (rc == CU_OK || rc == CU_ERR_NOT_FOUND)
		check_checkpoint(o->text, o->text_len);
	free(o);
	free(o2);
	free(out);
}

/* Mode 0 too: each line after the text as a cosignature of the witness. */
static void check_cosig_lines(const char *msg, size_t len)
{
	const char *blank = NULL, *p, *end = msg + len;
	uint64_t ts = 0;
	char err[256];

	for (p = msg; p + 1 < end; p++) {
		if (p[0] == '\n' && p[1] == '\n') {
			blank = p;
			break;
		}
	}
	if (blank == NULL)
		return;
	for (p = blank + 2; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t line_len = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		int rc = note_cosig_verify(msg, (size_t)(blank - msg) + 1, &keys[1], p, line_len,
					   &ts, err, sizeof(err));

		FUZZ_CHECK(rc == CU_OK || rc == CU_ERR_INVALID || rc == CU_ERR_SIGNATURE ||
			   rc == CU_ERR_NOMEM);
		p += line_len;
	}
}

/* Mode 1: key strings. */
static void check_keys(const uint8_t *data, size_t size)
{
	char *text = cstr(data, size), err[256], again[NOTE_SKEY_MAX];
	struct note_verifier v;
	struct cu_key *key = NULL;

	if (note_verifier_parse(text, &v, err, sizeof(err)) == CU_OK) {
		FUZZ_CHECK(note_verifier_format(&v, again, sizeof(again)) == CU_OK);
		FUZZ_CHECK(strcmp(again, text) == 0);
	}
	if (note_signer_parse(text, &v, &key, err, sizeof(err)) == CU_OK) {
		FUZZ_CHECK(note_signer_format(v.name, v.type, key, again, sizeof(again)) == CU_OK);
		FUZZ_CHECK(strcmp(again, text) == 0);
		sodium_memzero(again, sizeof(again));
		key_free(key);
	}
	sodium_memzero(text, size);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > MAX_TEXT)
		return 0;
	switch (data[0] % 3) {
	case 0:
		check_note((const char *)data + 1, size - 1);
		check_cosig_lines((const char *)data + 1, size - 1);
		break;
	case 1:
		check_keys(data + 1, size - 1);
		break;
	default:
		check_checkpoint((const char *)data + 1, size - 1);
		break;
	}
	return 0;
}
