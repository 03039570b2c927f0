/* Unit tests for the base64 encoder's vector paths (lib/base64.c): each path this CPU
 * has gives the scalar encoder's output byte for byte at every length, content and
 * alignment; and m7b_base64_encode takes the path it should. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64_int.h"
#include "m7bridge/base64.h"
#include "wire_testlib.h"

#define MAX_LEN 300

/* The path this build should pick on this CPU, by the conditions it documents. */
static enum base64_path expected_best(void)
{
#if defined(M7B_BASE64_PORTABLE)
	return BASE64_SCALAR;
#elif defined(__x86_64__)
	if (__builtin_cpu_supports("avx2"))
		return BASE64_AVX2;
	return __builtin_cpu_supports("ssse3") ? BASE64_SSSE3 : BASE64_SCALAR;
#elif defined(__aarch64__) && defined(__ARM_NEON)
	return BASE64_NEON;
#else
	return BASE64_SCALAR;
#endif
}

/* Vector paths this CPU can run: on x86-64 every one up to the best, else the best. */
static size_t vector_paths(enum base64_path *out)
{
	enum base64_path best = base64_best_path();
	size_t n = 0;

	if (best == BASE64_SSSE3 || best == BASE64_AVX2)
		out[n++] = BASE64_SSSE3;
	if (best == BASE64_AVX2)
		out[n++] = BASE64_AVX2;
	if (best == BASE64_NEON)
		out[n++] = BASE64_NEON;
	return n;
}

/* Encodes in[0..n) through path and through the scalar encoder into guarded buffers:
 * same return, same text and NUL, nothing written past it; both refuse a buffer one
 * byte short. */
static void check_same(enum base64_path path, const uint8_t *in, size_t n)
{
	static char vec[MAX_LEN / 3 * 4 + 32], scalar[MAX_LEN / 3 * 4 + 32];
	size_t need = (n + 2) / 3 * 4;

	memset(vec, '#', sizeof(vec));
	memset(scalar, '#', sizeof(scalar));
	assert_int_equal(base64_encode_with(path, in, n, vec, need + 1), (int)need);
	assert_int_equal(base64_encode_with(BASE64_SCALAR, in, n, scalar, need + 1), (int)need);
	assert_memory_equal(vec, scalar, sizeof(vec));
	assert_int_equal(vec[need], '\0');
	assert_int_equal(vec[need + 1], '#');
	assert_int_equal(base64_encode_with(path, in, n, vec, need), -ENOSPC);
}

/* Random data at every length 0..300 and at 16 offsets of the input, each read from
 * the end of a heap block that holds exactly it (a load past the input shows under
 * ASan); the public entry point is the best path. */
static void test_paths_vs_scalar_random(void **state)
{
	(void)state;
	enum base64_path paths[4];
	size_t np = vector_paths(paths);
	uint64_t s = 2024;

	paths[np++] = base64_best_path();
	for (size_t n = 0; n <= MAX_LEN; n++) {
		for (size_t off = 0; off < 16; off++) {
			uint8_t *buf = malloc(off + n + 1);
			assert_non_null(buf);
			wt_fill(&s, buf, off + n + 1);
			for (size_t k = 0; k < np; k++)
				check_same(paths[k], buf + off + 1, n);
			char a[MAX_LEN / 3 * 4 + 8], b[MAX_LEN / 3 * 4 + 8];
			assert_int_equal(m7b_base64_encode(buf + off + 1, n, a, sizeof(a)),
					 base64_encode_with(base64_best_path(), buf + off + 1, n, b,
							    sizeof(b)));
			assert_string_equal(a, b);
			free(buf);
		}
	}
}

/* Each byte of a 64-byte input runs through all 256 values, the others random: every
 * 6-bit value, so every character class and its edges, at every lane and step. */
static void test_paths_vs_scalar_all_values(void **state)
{
	(void)state;
	enum base64_path paths[4];
	size_t np = vector_paths(paths);
	uint8_t in[64];
	uint64_t s = 77;

	for (size_t pos = 0; pos < sizeof(in); pos++) {
		for (unsigned v = 0; v < 256; v++) {
			wt_fill(&s, in, sizeof(in));
			in[pos] = (uint8_t)v;
			for (size_t k = 0; k < np; k++) {
				check_same(paths[k], in, sizeof(in));
				check_same(paths[k], in, 48); /* 64-byte DATA payloads */
			}
		}
	}
}

/* No bytes may come as NULL: every path writes just the NUL. */
static void test_empty_null(void **state)
{
	(void)state;
	enum base64_path paths[4];
	size_t np = vector_paths(paths);
	char out[4] = "###";

	paths[np++] = BASE64_SCALAR;
	for (size_t k = 0; k < np; k++) {
		assert_int_equal(base64_encode_with(paths[k], NULL, 0, out, sizeof(out)), 0);
		assert_int_equal(out[0], '\0');
		assert_int_equal(out[1], '#');
	}
	assert_int_equal(m7b_base64_encode(NULL, 0, out, 1), 0);
	assert_int_equal(m7b_base64_encode(NULL, 0, out, 0), -ENOSPC);
}

/* The public encoder takes the path this CPU should: a build that silently lost its
 * vector steps fails here rather than only running slower. */
static void test_selected_path(void **state)
{
	(void)state;
	printf("base64 path: %s\n", base64_path_to_string(base64_best_path()));
	assert_string_equal(base64_path_to_string(base64_best_path()),
			    base64_path_to_string(expected_best()));
	assert_string_equal(base64_path_to_string((enum base64_path)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths_vs_scalar_random),
		cmocka_unit_test(test_paths_vs_scalar_all_values),
		cmocka_unit_test(test_empty_null),
		cmocka_unit_test(test_selected_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
