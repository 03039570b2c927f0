/* Helpers shared by the libFuzzer targets. */
#ifndef M7B_FUZZ_COMMON_H
#define M7B_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The entry point libFuzzer calls with each input; every target defines it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: abort() so libFuzzer records the input, even in
 * builds where assert() is compiled out. */
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

#endif
