/* Incremental stream decoder: COBS runs are undone as bytes arrive, so a frame is
 * checked the moment its 0x00 delimiter comes in. Freestanding, no allocation. */
#include "m7bridge/decoder.h"

#include <string.h>

#include "cobs_scan.h"

void m7b_decoder_init(struct m7b_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void m7b_decoder_reset(struct m7b_decoder *d)
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
	m7b_decoder_reset(d);
}

/* Marks the candidate as rejected; its bytes are skipped up to the next delimiter. */
static void decoder_discard(struct m7b_decoder *d, enum m7b_reject why)
{
	d->discard = true;
	d->pending = (uint8_t)why;
}

/* Checks a complete body; returns 1 with f set, or 0 after counting a rejection. */
static int decoder_finish(struct m7b_decoder *d, struct m7b_frame *f)
{
	int r;

	if (d->run != 0) {
		/* The delimiter arrived inside a run: truncated frame or noise. */
		decoder_reject(d, M7B_REJECT_COBS);
		return 0;
	}
	if (d->len < M7B_BODY_MIN) {
		decoder_reject(d, M7B_REJECT_RUNT);
		return 0;
	}
	r = m7b_wire_parse(d->body, d->len, f);
	if (r < 0) {
		decoder_reject(d, r == -M7B_EMSGSIZE  ? M7B_REJECT_LEN
				  : r == -M7B_EBADMSG ? M7B_REJECT_CRC
						      : M7B_REJECT_VERSION);
		return 0;
	}
	d->stats.frames++;
	m7b_decoder_reset(d);
	return 1;
}

/* Fast path for a candidate that starts at p (a code byte, nothing pending) and whose
 * delimiter is already in [p, end). Decoding is then a shift by one byte with each later
 * code byte turned into the zero it stands for: one copy of the whole candidate and a walk
 * along the code bytes, a few instructions per run. A full run (code 0xFF) followed by
 * more implies no zero: its successor's code byte is taken out, which a body allows once.
 * The body is then checked exactly as the incremental path would. Returns the position
 * after the delimiter with *got set, or NULL when the delimiter is not in the buffer or
 * the body would overflow: the incremental path then takes the candidate from p, with identical results and
 * counters (test_decoder and fuzz_decoder compare the two). */
static const uint8_t *decoder_whole(struct m7b_decoder *d, const uint8_t *p, const uint8_t *end,
				    struct m7b_frame *f, int *got)
{
	size_t n = cobs_scan_zero(p, (size_t)(end - p));
	size_t c = 0, shift = 0, dropped = 0;
	uint8_t *body = d->body;
	uint8_t left;

	if (n == (size_t)(end - p) || n - 1 > M7B_BODY_MAX + 1)
		return NULL;
	if (n - 1 <= M7B_BODY_MAX) {
		memcpy(body, p + 1, n - 1);
	} else {
		/* One byte over: a body only if a full run drops its successor's code byte
		 * (at most one can, in this length). Find it and copy around it. */
		for (size_t next;; c = next) {
			next = c + p[c];
			if (next >= n)
				return NULL; /* none: oversize, which the other path counts */
			if (p[c] == 0xff) {
				dropped = next;
				break;
			}
		}
		memcpy(body, p + 1, dropped - 1);
		memcpy(body + dropped - 1, p + dropped + 1, n - 1 - dropped);
		c = 0;
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
			if (next != dropped)
				memmove(body + next - 1 - shift, body + next - shift, n - 1 - next);
			shift++;
		} else {
			body[next - 1 - shift] = 0;
		}
		c = next;
	}
	d->len = (uint16_t)(n - 1 - shift);
	d->raw = (uint32_t)n;
	d->run = left;
	*got = decoder_finish(d, f);
	return p + n + 1;
}

int m7b_decoder_next(struct m7b_decoder *d, const uint8_t **pos, const uint8_t *end,
		     struct m7b_frame *f)
{
	const uint8_t *p = *pos;
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
