/* COBS encoder (incremental and one-shot) and one-shot decoder. Freestanding. */
#include "m7bridge/cobs.h"

#include "m7bridge/wire.h"

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
	while (n--) {
		uint8_t b = *p++;

		/* A full run (254 data bytes, code 0xFF, no implied zero) closes only when
		 * more input follows, which keeps the encoding canonical. */
		if (e->code == 0xff) {
			*e->code_at = 0xff;
			if (!cobs_open_run(e))
				goto overflow;
		}
		if (b == 0) {
			*e->code_at = e->code;
			if (!cobs_open_run(e))
				goto overflow;
		} else {
			if (e->out >= e->end)
				goto overflow;
			*e->out++ = b;
			e->code++;
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

		if (code == 0)
			return -M7B_EBADMSG;
		for (uint8_t k = 1; k < code; k++) {
			if (i >= n || in[i] == 0)
				return -M7B_EBADMSG;
			if (o >= cap)
				return -M7B_ENOSPC;
			out[o++] = in[i++];
		}
		/* A run shorter than 254 implies a zero, except after the last run. */
		if (code != 0xff && i < n) {
			if (o >= cap)
				return -M7B_ENOSPC;
			out[o++] = 0;
		}
	}
	return (int)o;
}
