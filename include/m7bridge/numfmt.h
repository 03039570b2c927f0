/* Integers to decimal text for the JSON renderers: no locale, no NUL, length returned. */
#ifndef M7BRIDGE_NUMFMT_H
#define M7BRIDGE_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room to give m7b_fmt_u64 / m7b_fmt_i64. The text is at most 20 characters
 * (18446744073709551615, -9223372036854775808); the formatters store whole words and may
 * scribble on the room after it, never beyond. */
#define M7B_U64_DEC_MAX 24
#define M7B_I64_DEC_MAX 25

/* Writes v in decimal (no NUL) at out, which has M7B_U64_DEC_MAX bytes of room; returns
 * the number of characters (1..20). Bytes of the room after them are unspecified. */
size_t m7b_fmt_u64(char *out, uint64_t v);
/* The same for a signed value (room M7B_I64_DEC_MAX), with a leading '-' when negative. */
size_t m7b_fmt_i64(char *out, int64_t v);
/* Number of decimal digits of v (1..20). */
size_t m7b_dec_len_u64(uint64_t v);

#ifdef __cplusplus
}
#endif
#endif
