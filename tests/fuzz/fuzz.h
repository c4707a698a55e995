/*
 * fuzz.h - what every libFuzzer target of tests/fuzz shares: the entry
 * point's prototype and FUZZ_CHECK, an invariant that aborts (a crash
 * libFuzzer saves and reports) with the file, line and condition when it
 * fails. Targets are built only with -Dfuzz=true and clang (meson.build).
 */
#ifndef CUSTODY_FUZZ_H
#define CUSTODY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* libFuzzer calls this once per input; 0 keeps the input in the corpus. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
