/*
 * fuzz_policy_file.c - libFuzzer target for the policy data importers
 * (proto/policy_file.c, proto/policy_csl.c, over proto/csv.c and
 * proto/json.c): policy_file_parse of arbitrary bytes as each of the six
 * kinds (the first byte picks it), which is what custodyctl policy load
 * and custodyd's start-up read from files an operator downloaded.
 *
 * Invariants: a parse returns CU_OK with a PolicyLoad of the right kind,
 * the file's SHA-256 and rows that pass validate_policy_load again, or an
 * error with a message; a load that parses repacks idempotently (pack,
 * unpack, pack gives the same bytes) and still validates after that.
 */
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "policy_file.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Custody__PolicyKind kind;
	Custody__PolicyLoad *pl = NULL, *again;
	uint8_t sha[32], *b1, *b2;
	char err[POLICY_FILE_ERR_MAX] = "", verr[VALIDATE_ERR_MAX];
	size_t n1, n2;
	int rc;

	if (size == 0 || size > (4u << 20))
		return 0;
	kind = (Custody__PolicyKind)(1 + data[0] % 6);
	rc = policy_file_parse(kind, "fuzz.csv", (const char *)data + 1, size - 1, &pl, err,
			       sizeof(err));
	FUZZ_CHECK(rc == CU_OK || rc == CU_ERR_INVALID || rc == CU_ERR_TOO_BIG ||
		   rc == CU_ERR_NOMEM);
	if (rc != CU_OK) {
		FUZZ_CHECK(err[0] != '\0' && pl == NULL);
		return 0;
	}
	FUZZ_CHECK(pl->kind == kind);
	crypto_hash_sha256(sha, data + 1, size - 1);
	FUZZ_CHECK(pl->source_sha256.len == 32 && memcmp(pl->source_sha256.data, sha, 32) == 0);
	FUZZ_CHECK(validate_policy_load(pl, verr, sizeof(verr)) == CU_OK);
	n1 = custody__policy_load__get_packed_size(pl);
	b1 = malloc(n1 + 1);
	FUZZ_CHECK(b1 != NULL && custody__policy_load__pack(pl, b1) == n1);
	again = custody__policy_load__unpack(NULL, n1, b1);
	FUZZ_CHECK(again != NULL);
	n2 = custody__policy_load__get_packed_size(again);
	b2 = malloc(n2 + 1);
	FUZZ_CHECK(b2 != NULL && custody__policy_load__pack(again, b2) == n2);
	FUZZ_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
	FUZZ_CHECK(validate_policy_load(again, verr, sizeof(verr)) == CU_OK);
	custody__policy_load__free_unpacked(again, NULL);
	free(b1);
	free(b2);
	policy_file_free(pl);
	return 0;
}
