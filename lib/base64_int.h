/* Base64 encoder internals for the tests: each vector path on its own, so that every
 * path the CPU has is compared with the scalar encoder. Private to lib/. */
#ifndef M7B_BASE64_INT_H
#define M7B_BASE64_INT_H

#include <stddef.h>

/* Vector steps of the encoder; later x86 paths need the earlier ones too. */
enum base64_path {
	BASE64_SCALAR, /* none: 3-byte groups through a table of character pairs */
	BASE64_SSSE3,  /* x86-64 with SSSE3: 12 bytes per step */
	BASE64_AVX2,   /* x86-64 with AVX2: 24 bytes per step */
	BASE64_NEON,   /* AArch64: 12 bytes per step */
};

/* The path m7b_base64_encode takes in this build on this CPU. */
enum base64_path base64_best_path(void);
/* m7b_base64_encode through the given path: BASE64_SCALAR, or one the CPU has (an x86
 * path up to the best one, or the best one elsewhere). */
int base64_encode_with(enum base64_path path, const void *in, size_t n, char *out, size_t cap);
/* Short name of a path. */
const char *base64_path_to_string(enum base64_path path);

#endif
