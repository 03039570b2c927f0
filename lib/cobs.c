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

void m7b_cobs_enc_put(struct m7b_cobs_enc *e, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	if (e->overflow)
		return;
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
