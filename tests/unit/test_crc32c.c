/* Unit tests for lib/crc32c.c: check value, known vectors, every length and alignment
 * against a bitwise reference, incremental chaining. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

#include <cmocka.h>

#include "m7bridge/crc32c.h"
#include "wire_testlib.h"

static void test_check_value(void **state)
{
	(void)state;
	assert_int_equal(m7b_crc32c(0, "123456789", 9), 0xE3069283u);
}

static void test_empty(void **state)
{
	(void)state;
	uint8_t b = 0x55;
	assert_int_equal(m7b_crc32c(0, &b, 0), 0);
	assert_int_equal(m7b_crc32c(0xE3069283u, &b, 0), 0xE3069283u);
	assert_int_equal(m7b_crc32c(0x12345678u, NULL, 0), 0x12345678u);
}

/* iSCSI (RFC 3720, B.4) vectors, also found in many CRC-32C test suites. */
static void test_rfc3720(void **state)
{
	(void)state;
	uint8_t b[32];
	memset(b, 0, sizeof(b));
	assert_int_equal(m7b_crc32c(0, b, 32), 0x8A9136AAu);
	memset(b, 0xFF, sizeof(b));
	assert_int_equal(m7b_crc32c(0, b, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(m7b_crc32c(0, b, 32), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	assert_int_equal(m7b_crc32c(0, b, 32), 0x113FDB5Cu);
}

/* The bodies of the wire-v1 test vectors carry their CRC after the payload: the
 * CRC over the whole body (data + little-endian CRC) is the fixed residue 0x48674BC7. */
static void test_residue(void **state)
{
	(void)state;
	uint64_t s = 7;
	uint8_t b[600];
	for (size_t n = 0; n < 500; n += 7) {
		wt_fill(&s, b, n);
		uint32_t c = m7b_crc32c(0, b, n);
		for (int i = 0; i < 4; i++)
			b[n + (size_t)i] = (uint8_t)(c >> (8 * i));
		assert_int_equal(m7b_crc32c(0, b, n + 4), 0x48674BC7u);
	}
}

/* Every length 0..1100 at every alignment 0..15 equals the bitwise reference: covers
 * the head/body/tail split of any word-at-a-time or hardware path. */
static void test_lengths_alignments(void **state)
{
	(void)state;
	static uint8_t buf[1100 + 16 + 8];
	uint64_t s = 42;
	wt_fill(&s, buf, sizeof(buf));
	for (size_t al = 0; al < 16; al++)
		for (size_t n = 0; n <= 1100; n++)
			assert_int_equal(m7b_crc32c(0, buf + al, n), wt_crc32c(buf + al, n));
}

/* Chaining at every split point equals one shot; so do many small pieces. */
static void test_incremental(void **state)
{
	(void)state;
	uint8_t buf[700];
	uint64_t s = 99;
	wt_fill(&s, buf, sizeof(buf));
	uint32_t whole = m7b_crc32c(0, buf, sizeof(buf));
	assert_int_equal(whole, wt_crc32c(buf, sizeof(buf)));
	for (size_t k = 0; k <= sizeof(buf); k++) {
		uint32_t c = m7b_crc32c(0, buf, k);
		assert_int_equal(m7b_crc32c(c, buf + k, sizeof(buf) - k), whole);
	}
	for (size_t piece = 1; piece <= 40; piece++) {
		uint32_t c = 0;
		for (size_t o = 0; o < sizeof(buf); o += piece) {
			size_t n = sizeof(buf) - o < piece ? sizeof(buf) - o : piece;
			c = m7b_crc32c(c, buf + o, n);
		}
		assert_int_equal(c, whole);
	}
	/* three-way split with a random pattern */
	for (int i = 0; i < 2000; i++) {
		size_t a = (size_t)(wt_rand(&s) % (sizeof(buf) + 1));
		size_t b = a + (size_t)(wt_rand(&s) % (sizeof(buf) - a + 1));
		uint32_t c = m7b_crc32c(0, buf, a);
		c = m7b_crc32c(c, buf + a, b - a);
		c = m7b_crc32c(c, buf + b, sizeof(buf) - b);
		assert_int_equal(c, whole);
	}
}

/* Every single-bit change of the input changes the CRC. */
static void test_detects_bit_flips(void **state)
{
	(void)state;
	uint8_t buf[492];
	uint64_t s = 5;
	wt_fill(&s, buf, sizeof(buf));
	uint32_t ok = m7b_crc32c(0, buf, sizeof(buf));
	for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(m7b_crc32c(0, buf, sizeof(buf)), ok);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

/* Which implementation lib/crc32c.c selects on this CPU, by the same conditions. */
static const char *crc32c_path(void)
{
#if defined(M7B_CRC32C_PORTABLE) || defined(M7B_FREESTANDING)
	return "table";
#elif defined(__x86_64__)
	return __builtin_cpu_supports("sse4.2") ? "sse4.2" : "table";
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
	return "armv8-crc";
#elif defined(__aarch64__) && defined(__linux__)
	return getauxval(AT_HWCAP) & (1ul << 7) /* HWCAP_CRC32 */ ? "armv8-crc" : "table";
#else
	return "table";
#endif
}

/* Prints the path taken; M7B_EXPECT_CRC32C_PATH (CI's arm64 run) makes it a check. */
static void test_selected_path(void **state)
{
	(void)state;
	const char *expect = getenv("M7B_EXPECT_CRC32C_PATH");
#if defined(M7B_CRC32C_PORTABLE)
	expect = "table"; /* the firmware's fallback, whatever the CPU */
#endif
	printf("crc32c path: %s\n", crc32c_path());
	if (expect && *expect)
		assert_string_equal(crc32c_path(), expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_rfc3720),
		cmocka_unit_test(test_residue),
		cmocka_unit_test(test_lengths_alignments),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_detects_bit_flips),
		cmocka_unit_test(test_selected_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
