/*
 * fuzz_csv.c - libFuzzer target for the RFC 4180 CSV reader (proto/csv.c)
 * over a memory buffer, as policy_file_parse feeds it the bytes of a
 * policy data file. The first byte says whether '#' comment lines are
 * skipped; the rest is the file.
 *
 * Invariants: every record has 1..CSV_MAX_FIELDS NUL-terminated fields
 * whose bytes all come from the input; the reader ends with NOT_FOUND,
 * INVALID or TOO_BIG and never moves its line number backwards; a
 * record's text is never longer than the input.
 */
#include <string.h>

#include "csv.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csv *csv = NULL;
	char **fields;
	size_t count, total = 0;
	int rc, line = 0, records = 0;

	if (size == 0)
		return 0;
	FUZZ_CHECK(csv_open_mem((const char *)data + 1, size - 1, data[0] & 1, &csv) == CU_OK);
	while ((rc = csv_next(csv, &fields, &count)) == CU_OK) {
		FUZZ_CHECK(count >= 1 && count <= CSV_MAX_FIELDS);
		FUZZ_CHECK(csv_line(csv) >= line);
		line = csv_line(csv);
		for (size_t i = 0; i < count; i++) {
			size_t n = strlen(fields[i]);

			FUZZ_CHECK(n <= size - 1);
			total += n;
		}
		FUZZ_CHECK(total <= size);
		total = 0;
		FUZZ_CHECK(++records <= (int)size);
	}
	FUZZ_CHECK(rc == CU_ERR_NOT_FOUND || rc == CU_ERR_INVALID || rc == CU_ERR_TOO_BIG);
	csv_close(csv);
	return 0;
}
