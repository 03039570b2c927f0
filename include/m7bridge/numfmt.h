/* Integers to decimal text for the JSON renderers: no locale, no NUL, length returned. */
#ifndef M7BRIDGE_NUMFMT_H
#define M7BRIDGE_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room m7b_fmt_u64 / m7b_fmt_i64 may need: 18446744073709551615, -9223372036854775808. */
#define M7B_U64_DEC_MAX 20
#define M7B_I64_DEC_MAX 20

/* Writes v in decimal (no NUL) to out, which holds M7B_U64_DEC_MAX bytes; returns the
 * number of characters written (1..20). */
size_t m7b_fmt_u64(char *out, uint64_t v);
/* The same for a signed value, with a leading '-' when negative. */
size_t m7b_fmt_i64(char *out, int64_t v);
/* Number of decimal digits of v (1..20). */
size_t m7b_dec_len_u64(uint64_t v);

#ifdef __cplusplus
}
#endif
#endif
