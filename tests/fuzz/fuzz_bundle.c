/*
 * fuzz_bundle.c - libFuzzer target for the proof-bundle reader
 * (proto/bundle*.c): bundle_verify of arbitrary bytes, as custodyctl
 * verify reads a bundle file someone handed over, against the log key and
 * the witness key of the real run of tests/integration/85-bundle.sh that
 * wrote the seed bundles, so mutations of a genuine bundle reach the deep
 * checks (inclusion proofs, signatures, registrations, device chains).
 *
 * Invariants: the result is CU_OK, CU_ERR_INVALID or CU_ERR_NOMEM, with a
 * report in the first two cases; the report says verified exactly when it
 * lists no problem and the call returned CU_OK; it keeps at most
 * BUNDLE_MAX_PROBLEMS problems, each a non-empty line; a verified bundle
 * has one subject, its checkpoint and the witness quorum.
 */
#include <string.h>

#include <sodium.h>

#include "bundle.h"
#include "fuzz.h"

#define LOG_VKEY	"custody.test/bundle+22d695e6+ARHzi4tDoNvbgC/gqFz3ac3CGghYP/ho9DqSlv9X5jAZ"
#define WITNESS_VKEY	"w1+30b93749+BHfrDc2YO9YFFJVA0w/tI0+Oozs7sWHpPamZmi9uzbQw"
#define FUZZ_MAX_BUNDLE (1u << 20)

static struct note_verifier log_key, witness;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_CHECK(sodium_init() >= 0);
	FUZZ_CHECK(note_verifier_parse(LOG_VKEY, &log_key, NULL, 0) == CU_OK);
	FUZZ_CHECK(note_verifier_parse(WITNESS_VKEY, &witness, NULL, 0) == CU_OK);
	return 0;
}

static void check_report(int rc, const struct bundle_report *r, size_t quorum)
{
	int subjects = (r->device != NULL) + (r->shipment != NULL) + (r->facility != NULL);

	FUZZ_CHECK(r->verified == (rc == CU_OK));
	FUZZ_CHECK(r->verified == (r->n_problems == 0 && r->n_more_problems == 0));
	FUZZ_CHECK(r->n_problems <= BUNDLE_MAX_PROBLEMS);
	FUZZ_CHECK(r->n_more_problems == 0 || r->n_problems == BUNDLE_MAX_PROBLEMS);
	for (size_t i = 0; i < r->n_problems; i++)
		FUZZ_CHECK(r->problems[i] != NULL && r->problems[i][0] != '\0');
	FUZZ_CHECK(subjects <= 1);
	if (!r->verified)
		return;
	FUZZ_CHECK(subjects == 1);
	FUZZ_CHECK(r->tree_size > 0 && r->n_entries <= r->tree_size);
	FUZZ_CHECK(r->n_required_cosigned >= quorum);
	FUZZ_CHECK(strcmp(r->origin, log_key.name) == 0);
	for (size_t i = 0; i < r->n_devices; i++)
		FUZZ_CHECK(r->devices[i].serial != NULL && r->devices[i].n_steps > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_keys keys = {
	    .log = &log_key, .witnesses = &witness, .n_witnesses = 1, .quorum = 1};
	struct bundle_report *r = NULL;
	int rc;

	if (size > FUZZ_MAX_BUNDLE)
		return 0;
	rc = bundle_verify(data, size, &keys, &r);
	FUZZ_CHECK(rc == CU_OK || rc == CU_ERR_INVALID || rc == CU_ERR_NOMEM);
	FUZZ_CHECK((r != NULL) == (rc != CU_ERR_NOMEM));
	if (r != NULL)
		check_report(rc, r, keys.quorum);
	bundle_report_free(r);
	return 0;
}
