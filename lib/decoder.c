/* Incremental stream decoder: COBS runs are undone as bytes arrive, so a frame is
 * checked the moment its 0x00 delimiter comes in. Freestanding, no allocation. */
#include "m7bridge/decoder.h"

#include <stddef.h>
#include <string.h>

#include "cobs_scan.h"
#include "wire_int.h"

void m7b_decoder_init(struct m7b_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

/* m7b_decoder_reset, inline for the paths that end each candidate. */
static inline void decoder_restart(struct m7b_decoder *d)
{
	d->len = 0;
	d->raw = 0;
	d->run = 0;
	d->code = 0;
	d->discard = false;
	d->pending = M7B_REJECT_NONE;
}

/* Counts a rejected candidate and starts the next one. */
static void decoder_reject(struct m7b_decoder *d, enum m7b_reject why)
{
	d->stats.rejected++;
	d->stats.reject[why]++;
	d->stats.noise_bytes += d->raw;
	d->last_reject = why;
	decoder_restart(d);
}

void m7b_decoder_reset(struct m7b_decoder *d)
{
	/* A candidate cut off by the reset is a truncated frame, lost like one whose 0x00
	 * came inside a run: counted so, with its bytes as noise. One already being skipped
	 * keeps its own reason. */
	if (d->discard)
		decoder_reject(d, (enum m7b_reject)d->pending);
	else if (d->raw != 0)
		decoder_reject(d, M7B_REJECT_COBS);
	else
		decoder_restart(d);
}

/* Marks the candidate as rejected; its bytes are skipped up to the next delimiter. */
static void decoder_discard(struct m7b_decoder *d, enum m7b_reject why)
{
	d->discard = true;
	d->pending = (uint8_t)why;
}

/* Checks a complete body of len bytes, whose candidate took raw bytes on the wire and
 * ended left bytes short of its last run; returns 1 with f set, or 0 after counting a
 * rejection. Either way the decoder then waits for a new candidate (fresh: it already
 * does, as nothing but the body was touched). fast: as for wire_parse_as. */
__attribute__((always_inline)) static inline int decoder_check(struct m7b_decoder *d, size_t len,
							       uint32_t raw, uint8_t left,
							       bool fresh, bool fast,
							       struct m7b_frame *f)
{
	enum m7b_reject why;
	int r;

	if (left != 0) {
		why = M7B_REJECT_COBS; /* the delimiter arrived inside a run: truncated or noise */
	} else if ((size_t)wire_get16(d->body + 8) + M7B_BODY_MIN != len) {
		/* The length field, read first (from old bytes in a runt: body is always
		 * M7B_BODY_MAX long and was cleared at init): a body it fits is no runt, so a
		 * good frame takes one test for both. wire_parse_as repeats it for free. */
		why = len < M7B_BODY_MIN ? M7B_REJECT_RUNT : M7B_REJECT_LEN;
	} else if ((r = wire_parse_as(d->body, len, f, fast)) < 0) {
		why = r == -M7B_EMSGSIZE  ? M7B_REJECT_LEN
		      : r == -M7B_EBADMSG ? M7B_REJECT_CRC
					  : M7B_REJECT_VERSION;
	} else {
		d->stats.frames++;
		if (!fresh)
			decoder_restart(d);
		return 1;
	}
	d->raw = raw;
	decoder_reject(d, why);
	return 0;
}

/* decoder_check on the candidate the incremental path has assembled. */
static int decoder_finish(struct m7b_decoder *d, struct m7b_frame *f)
{
	return decoder_check(d, d->len, d->raw, d->run, false, false, f);
}

/* Copies s[0..avail) into body up to its first 0x00 and returns that zero's index, or
 * SIZE_MAX when there is none among the first M7B_BODY_MAX + 2 bytes (the most a body
 * can take, see decoder_whole) or in s[0..avail). body gets s[0..min(z, M7B_BODY_MAX)),
 * and may get bytes past the zero too (they are overwritten or ignored). */
#if defined(__SSE2__) && !defined(M7B_DECODER_PORTABLE) && !defined(M7B_FREESTANDING)
#include <emmintrin.h>

/* A mask of the zero bytes of v. */
static inline unsigned decoder_zeros(__m128i v)
{
	return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128()));
}

/* The 16 bytes at s + k into body + k; a mask of their zeros. */
static inline unsigned decoder_copy16(uint8_t *body, const uint8_t *s, size_t k)
{
	const __m128i v = _mm_loadu_si128((const void *)(s + k));

	_mm_storeu_si128((void *)(body + k), v);
	return decoder_zeros(v);
}

/* 32 bytes per step, stored whole and tested for a zero together (the bytewise minimum
 * of the two halves has one where either has); the last step ends at the limit and goes
 * over bytes already known to hold no zero. */
__attribute__((always_inline)) static inline size_t
decoder_copy_scan(uint8_t *body, const uint8_t *s, size_t avail)
{
	const size_t lim = avail < M7B_BODY_MAX ? avail : M7B_BODY_MAX;
	size_t k = 0;
	unsigned m;

	if (lim >= 32) {
		const size_t last = lim - 32;

		do {
			const __m128i a = _mm_loadu_si128((const void *)(s + k));
			const __m128i b = _mm_loadu_si128((const void *)(s + k + 16));

			_mm_storeu_si128((void *)(body + k), a);
			_mm_storeu_si128((void *)(body + k + 16), b);
			m = decoder_zeros(_mm_min_epu8(a, b));
			if (m) {
				/* Where a has none, the minimum's zeros are b's. */
				m = decoder_zeros(a) | m << 16;
				return k + (size_t)__builtin_ctz(m);
			}
			k += 32;
		} while (k <= last);
	}
	if (lim >= 16) {
		if (k + 16 <= lim) {
			m = decoder_copy16(body, s, k);
			if (m)
				return k + (size_t)__builtin_ctz(m);
			k += 16;
		}
		if (k < lim) {
			m = decoder_copy16(body, s, lim - 16);
			if (m)
				return lim - 16 + (size_t)__builtin_ctz(m);
		}
	} else {
		k = cobs_copy_nonzero(body, s, lim);
		if (k < lim)
			return k;
	}
	for (k = lim; k < avail && k < M7B_BODY_MAX + 2; k++)
		if (s[k] == 0)
			return k;
	return SIZE_MAX;
}
#else
/* A word at a time (cobs_scan.h). */
static inline size_t decoder_copy_scan(uint8_t *body, const uint8_t *s, size_t avail)
{
	const size_t lim = avail < M7B_BODY_MAX ? avail : M7B_BODY_MAX;
	size_t k = cobs_copy_nonzero(body, s, lim);

	if (k < lim)
		return k;
	for (; k < avail && k < M7B_BODY_MAX + 2; k++)
		if (s[k] == 0)
			return k;
	return SIZE_MAX;
}
#endif

/* Fast path for a candidate that starts at p (a code byte, nothing pending) and whose
 * delimiter is already in [p, end). Decoding is then a shift by one byte with each later
 * code byte turned into the zero it stands for: one pass that copies the candidate while
 * it looks for the delimiter, and a walk along the code bytes, a few instructions per
 * run. A full run (code 0xFF) followed by more implies no zero: its successor's code byte
 * is dropped, and the rest of the candidate copied again one byte further down. The body
 * is then checked exactly as the incremental path would. Returns the position after the
 * delimiter with *got set, or NULL when the delimiter is not in the buffer or the body
 * would overflow: the incremental path then takes the candidate from p, with identical
 * results and counters (test_decoder and fuzz_decoder compare the two). decoder_body is
 * its part after the copy, which found the delimiter at p + 1 + z (z < SIZE_MAX); fast:
 * as for wire_parse_as. */
__attribute__((always_inline)) static inline const uint8_t *decoder_body(struct m7b_decoder *d,
									 const uint8_t *p, size_t z,
									 struct m7b_frame *f,
									 int *got, bool fast)
{
	uint8_t *body = d->body;
	size_t n = z + 1, c = 0, shift = 0;
	uint8_t left;

	if (n - 1 > M7B_BODY_MAX) {
		/* One byte over: a body only if a full run drops its successor's code byte
		 * (the first full run that has one); otherwise oversize, which the other path
		 * counts. Checked first: the walk below writes only inside a body. */
		for (size_t next;; c = next) {
			next = c + p[c];
			if (next >= n)
				return NULL;
			if (p[c] == 0xff)
				break;
		}
		c = 0;
	}
	if (n <= 0xff) {
		/* Too short for a full run with more after it: each code byte but the
		 * last becomes a zero, in place. Positions count up from -n to the
		 * delimiter at 0, so one addition also tells whether the run ends past
		 * the delimiter: four instructions a run. */
		const uint8_t *pe = p + n;
		uint8_t *be = body + n - 1;
		ptrdiff_t at = (ptrdiff_t)p[0] - (ptrdiff_t)n;

		/* Keeps pe and be in registers (else the compiler rebuilds pe + at). */
		__asm__("" : "+r"(pe), "+r"(be));
		while (at < 0) {
			be[at] = 0;
			at += pe[at];
		}
		left = (uint8_t)at;
		goto walked;
	}
	for (;;) {
		size_t code = p[c], next = c + code;

		if (next >= n) {
			/* Exactly at the delimiter: well formed. Beyond it: the run was cut
			 * short; the body holds n - 1 - shift bytes, so it is not oversize. */
			left = (uint8_t)(next - n);
			break;
		}
		if (code == 0xff) {
			/* p[next] is dropped: what follows moves one byte down. From p, as
			 * the copy above may have stopped short of the last byte. */
			memcpy(body + next - 1 - shift, p + next + 1, n - 1 - next);
			shift++;
		} else {
			body[next - 1 - shift] = 0;
		}
		c = next;
	}
walked:
	/* What the copy's limit ensures; lets the compiler drop wire_parse's size check. */
	if (n - 1 - shift > M7B_BODY_MAX)
		__builtin_unreachable();
	*got = decoder_check(d, n - 1 - shift, (uint32_t)n, left, true, fast, f);
	return p + n + 1;
}

/* See decoder_body. */
__attribute__((always_inline)) static inline const uint8_t *
decoder_whole(struct m7b_decoder *d, const uint8_t *p, const uint8_t *end, struct m7b_frame *f,
	      int *got)
{
	size_t z = decoder_copy_scan(d->body, p + 1, (size_t)(end - p - 1));

	if (z == SIZE_MAX)
		return NULL;
	return decoder_body(d, p, z, f, got, false);
}

/* The general loop, from p on; *pos is where the call began (for the byte count). Kept
 * out of line so that the common case in m7b_decoder_next stays small; p comes last, so
 * that the other arguments stay in the registers m7b_decoder_next got them in. */
__attribute__((noinline)) static int decoder_loop(struct m7b_decoder *d, const uint8_t **pos,
						  const uint8_t *end, struct m7b_frame *f,
						  const uint8_t *p)
{
	int got = 0;

	while (p < end && !got) {
		uint8_t b = *p;

		if (b != 0 && d->raw == 0 && !d->discard) {
			const uint8_t *q = decoder_whole(d, p, end, f, &got);

			if (q) {
				p = q;
				continue;
			}
		}
		if (b == 0) {
			p++;
			if (d->discard)
				decoder_reject(d, (enum m7b_reject)d->pending);
			else if (d->raw == 0)
				d->stats.empty++;
			else
				got = decoder_finish(d, f);
			continue;
		}
		if (d->discard) {
			/* Skip quickly to the next delimiter. */
			const uint8_t *q = p + cobs_scan_zero(p, (size_t)(end - p));

			d->stats.noise_bytes += (uint64_t)(q - p);
			p = q;
			continue;
		}
		if (d->run == 0) {
			/* A code byte. The previous run implies a zero unless it was full. */
			if (d->code != 0 && d->code != 0xff) {
				if (d->len >= M7B_BODY_MAX) {
					decoder_discard(d, M7B_REJECT_OVERSIZE);
					continue;
				}
				d->body[d->len++] = 0;
			}
			d->code = b;
			d->run = (uint8_t)(b - 1);
			d->raw++;
			p++;
			continue;
		}
		/* Data bytes of the current run, up to a zero (an early delimiter). */
		size_t k = d->run;

		if (k > (size_t)(end - p))
			k = (size_t)(end - p);
		size_t room = M7B_BODY_MAX - (size_t)d->len;
		size_t m = k < room ? k : room;
		size_t i = cobs_copy_nonzero(d->body + d->len, p, m);

		d->len = (uint16_t)(d->len + i);
		d->raw = (uint16_t)(d->raw + i);
		d->run = (uint8_t)(d->run - i);
		p += i;
		/* Stopped by the body size, not by a zero: one byte more than a body holds. */
		if (i == m && m < k && *p != 0)
			decoder_discard(d, M7B_REJECT_OVERSIZE);
	}
	d->stats.bytes += (uint64_t)(p - *pos);
	*pos = p;
	return got;
}

_Static_assert(
	offsetof(struct m7b_decoder, run) == offsetof(struct m7b_decoder, raw) + 4 &&
		offsetof(struct m7b_decoder, code) == offsetof(struct m7b_decoder, raw) + 5 &&
		offsetof(struct m7b_decoder, discard) == offsetof(struct m7b_decoder, raw) + 6 &&
		offsetof(struct m7b_decoder, pending) == offsetof(struct m7b_decoder, raw) + 7,
	"raw, run, code, discard and pending fill one 8-byte word");

/* Whether no candidate has begun (raw == 0, not discarding): one test of the word that
 * raw, run, code, discard and pending fill. decoder_restart clears them all and a
 * candidate sets none before it has taken a byte, which raw counts, so the word is zero
 * whenever raw is. */
static inline bool decoder_fresh(const struct m7b_decoder *d)
{
	uint64_t w;

	memcpy(&w, (const uint8_t *)d + offsetof(struct m7b_decoder, raw), sizeof(w));
	return w == 0;
}

/* What decoder_next_at does with a candidate decoder_body took from p to q. */
__attribute__((always_inline)) static inline int decoder_took(struct m7b_decoder *d,
							      const uint8_t **pos, const uint8_t *p,
							      const uint8_t *q, const uint8_t *end,
							      struct m7b_frame *f, int got)
{
	if (got) {
		*pos = q;
		d->stats.bytes += (uint64_t)(q - p);
		return 1;
	}
	return decoder_loop(d, pos, end, f, q);
}

/* decoder_next_at's candidate of 0xff bytes or more, whose walk may call memcpy: out of
 * line, so that the common case keeps no register across a call. */
__attribute__((noinline)) static int decoder_next_long(struct m7b_decoder *d, const uint8_t **pos,
						       const uint8_t *end, struct m7b_frame *f,
						       const uint8_t *p, size_t z)
{
	int got = 0;
	const uint8_t *q = decoder_body(d, p, z, f, &got, true);

	if (!q)
		return decoder_loop(d, pos, end, f, p);
	return decoder_took(d, pos, p, q, end, f, got);
}

/* m7b_decoder_next for p < end: first the common case, a whole good frame that starts
 * at p with nothing pending; the general loop for everything else. Where the CRC is
 * inline (x86-64; the CPU test is made here, once), nothing in the common case calls a
 * function but in a tail call, so it spills nothing and saves registers only once its
 * first tests pass. */
__attribute__((always_inline)) static inline int
decoder_next_at(struct m7b_decoder *d, const uint8_t **pos, const uint8_t *p, const uint8_t *end,
		struct m7b_frame *f)
{
	if (*p != 0 && decoder_fresh(d) && crc32c_fast_ok()) {
		size_t z = decoder_copy_scan(d->body, p + 1, (size_t)(end - p - 1));

		if (z < 0xff) {
			/* n = z + 1 <= 0xff: the short walk, in place. */
			int got = 0;
			const uint8_t *q = decoder_body(d, p, z, f, &got, true);

			return decoder_took(d, pos, p, q, end, f, got);
		}
		if (z != SIZE_MAX)
			return decoder_next_long(d, pos, end, f, p, z);
	}
	return decoder_loop(d, pos, end, f, p);
}

/* The call that finds the input used up costs a compare, not a function's set-up: the
 * registers are saved past it. */
int m7b_decoder_next(struct m7b_decoder *d, const uint8_t **pos, const uint8_t *end,
		     struct m7b_frame *f)
{
	const uint8_t *p = *pos;

	if (p >= end)
		return 0;
	return decoder_next_at(d, pos, p, end, f);
}

const char *m7b_decoder_reject_name(enum m7b_reject r)
{
	switch (r) {
	case M7B_REJECT_NONE:
		return "none";
	case M7B_REJECT_COBS:
		return "cobs";
	case M7B_REJECT_RUNT:
		return "runt";
	case M7B_REJECT_LEN:
		return "length";
	case M7B_REJECT_CRC:
		return "crc";
	case M7B_REJECT_VERSION:
		return "version";
	case M7B_REJECT_OVERSIZE:
		return "oversize";
	case M7B_REJECT_COUNT:
		break;
	}
	return "unknown";
}
