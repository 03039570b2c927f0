/* COBS encoder (incremental and one-shot) and one-shot decoder. Freestanding (memcpy). */
#include "m7bridge/cobs.h"

#include "m7bridge/wire.h"

#include <string.h>

#include "cobs_scan.h"

void m7b_cobs_enc_init(struct m7b_cobs_enc *e, uint8_t *out, size_t cap)
{
	e->out = out;
	e->end = out + cap;
	e->code_at = out;
	e->code = 1;
	e->overflow = cap == 0;
	if (!e->overflow)
		e->out++; /* room for the first code byte */
}

/* Starts a new run; its code byte is written when the run closes. */
static bool cobs_open_run(struct m7b_cobs_enc *e)
{
	if (e->out >= e->end)
		return false;
	e->code_at = e->out++;
	e->code = 1;
	return true;
}

/* Fast path of put, when the piece fits the output and cannot fill a run (code + n stays
 * below 0xFF): copy it as it is, then turn each zero into the code byte of the run it
 * starts, writing the finished run's length back at the previous one. The same bytes as
 * the general loop (test_cobs compares them); zeros are found a word at a time. */
static void cobs_put_short(struct m7b_cobs_enc *e, const uint8_t *p, size_t n)
{
	uint8_t *o = e->out, *code_at = e->code_at;
	size_t i = 0;

	memcpy(o, p, n);
#ifdef COBS_LITTLE_ENDIAN
	for (; n - i >= sizeof(cobs_word); i += sizeof(cobs_word)) {
		cobs_word w, m;

		memcpy(&w, o + i, sizeof(w));
		for (m = cobs_zero_mask(w); m; m &= m - 1) {
			uint8_t *z = o + i + cobs_first_zero(m);

			*code_at = (uint8_t)(z - code_at);
			code_at = z;
		}
	}
#endif
	for (; i < n; i++) {
		if (o[i] == 0) {
			*code_at = (uint8_t)(o + i - code_at);
			code_at = o + i;
		}
	}
	e->out = o + n;
	e->code_at = code_at;
	e->code = (uint8_t)(e->out - code_at);
}

void m7b_cobs_enc_put(struct m7b_cobs_enc *e, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	if (e->overflow || n == 0)
		return; /* n == 0 may come with buf NULL */
	if (n < 0xffu - e->code && n <= (size_t)(e->end - e->out)) {
		cobs_put_short(e, p, n);
		return;
	}
	while (n > 0) {
		/* A full run (254 data bytes, code 0xFF, no implied zero) closes only when
		 * more input follows, which keeps the encoding canonical. */
		if (e->code == 0xff) {
			*e->code_at = 0xff;
			if (!cobs_open_run(e))
				goto overflow;
		}
		/* Copy the longest stretch of non-zero bytes that still fits this run. */
		size_t room = 0xffu - e->code;
		size_t lim = n < room ? n : room;
		size_t avail = (size_t)(e->end - e->out);
		size_t m = lim < avail ? lim : avail;
		size_t k = cobs_copy_nonzero(e->out, p, m);

		e->out += k;
		e->code = (uint8_t)(e->code + k);
		p += k;
		n -= k;
		/* Stopped by the end of out, not by a zero: the data does not fit. */
		if (k == m && m < lim && *p != 0)
			goto overflow;
		if (k < lim) {
			/* p[0] is a zero: it closes the run and becomes the code byte. */
			*e->code_at = e->code;
			if (!cobs_open_run(e))
				goto overflow;
			p++;
			n--;
		}
	}
	return;
overflow:
	e->overflow = true;
}

int m7b_cobs_enc_finish(struct m7b_cobs_enc *e, uint8_t *out_start)
{
	if (e->overflow)
		return -M7B_ENOSPC;
	*e->code_at = e->code;
	return (int)(e->out - out_start);
}

int m7b_cobs_encode(uint8_t *out, size_t cap, const uint8_t *in, size_t n)
{
	struct m7b_cobs_enc e;

	m7b_cobs_enc_init(&e, out, cap);
	m7b_cobs_enc_put(&e, in, n);
	return m7b_cobs_enc_finish(&e, out);
}

int m7b_cobs_decode(uint8_t *out, size_t cap, const uint8_t *in, size_t n)
{
	size_t i = 0, o = 0;

	while (i < n) {
		uint8_t code = in[i++];
		size_t r = (size_t)code - 1u;

		if (code == 0 || r > n - i || cobs_scan_zero(in + i, r) != r)
			return -M7B_EBADMSG;
		if (r > cap - o)
			return -M7B_ENOSPC;
		if (r > 0)
			memcpy(out + o, in + i, r);
		o += r;
		i += r;
		/* A run shorter than 254 implies a zero, except after the last run. */
		if (code != 0xff && i < n) {
			if (o >= cap)
				return -M7B_ENOSPC;
			out[o++] = 0;
		}
	}
	return (int)o;
}
