/*
 * fuzz_epcis.c - libFuzzer target for the EPCIS 2.0 JSON-LD reader
 * (client/epcis_read.c): epcis_read of arbitrary bytes, as custodyctl
 * import-epcis reads a document from a trading partner.
 *
 * Invariants: a read fails with INVALID, TOO_BIG or NOMEM, a message and
 * no document, or succeeds with at most EPCIS_MAX_EVENTS events, each of which
 * packs, unpacks and packs again to the same bytes (the events import
 * would sign are well-formed protobuf) and names its eventID.
 */
#include <string.h>

#include "epcis.h"
#include "fuzz.h"

static void check_event(const Custody__Event *ev)
{
	size_t n1 = custody__event__get_packed_size(ev), n2;
	uint8_t *b1 = malloc(n1 + 1), *b2;
	Custody__Event *again;

	FUZZ_CHECK(b1 != NULL && custody__event__pack(ev, b1) == n1);
	again = custody__event__unpack(NULL, n1, b1);
	FUZZ_CHECK(again != NULL);
	FUZZ_CHECK(again->type == ev->type && again->n_devices == ev->n_devices);
	n2 = custody__event__get_packed_size(again);
	b2 = malloc(n2 + 1);
	FUZZ_CHECK(b2 != NULL && custody__event__pack(again, b2) == n2);
	FUZZ_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
	custody__event__free_unpacked(again, NULL);
	free(b1);
	free(b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct epcis_doc *doc = NULL;
	char err[512] = "";
	int rc;

	if (size > (1u << 20))
		return 0;
	rc = epcis_read((const char *)data, size, &doc, err, sizeof(err));
	FUZZ_CHECK(rc == CU_OK || rc == CU_ERR_INVALID || rc == CU_ERR_TOO_BIG ||
		   rc == CU_ERR_NOMEM);
	if (rc != CU_OK) {
		FUZZ_CHECK(doc == NULL && err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(epcis_doc_count(doc) <= EPCIS_MAX_EVENTS);
	for (size_t i = 0; i < epcis_doc_count(doc); i++) {
		check_event(epcis_doc_event(doc, i));
		FUZZ_CHECK(epcis_doc_event_name(doc, i) != NULL);
	}
	epcis_doc_free(doc);
	return 0;
}
