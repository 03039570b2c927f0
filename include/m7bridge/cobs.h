/* Consistent Overhead Byte Stuffing: incremental encoder and one-shot codec. Freestanding. */
#ifndef M7BRIDGE_COBS_H
#define M7BRIDGE_COBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Incremental encoder: put any number of pieces, then finish. No temporary buffer, so
 * the firmware encodes straight into a transport buffer. */
struct m7b_cobs_enc {
	uint8_t *out;	  /* next byte to write */
	uint8_t *end;	  /* one past the output buffer */
	uint8_t *code_at; /* where the current run's code byte goes */
	uint8_t code;	  /* current run length + 1 */
	bool overflow;	  /* out was too small: the result is unusable */
};

/* Starts encoding into out[0..cap). */
void m7b_cobs_enc_init(struct m7b_cobs_enc *e, uint8_t *out, size_t cap);
/* Appends n bytes of input. */
void m7b_cobs_enc_put(struct m7b_cobs_enc *e, const void *buf, size_t n);
/* Closes the last run (no delimiter); returns the encoded length counted from
 * out_start (the out given to init) or -M7B_ENOSPC. */
int m7b_cobs_enc_finish(struct m7b_cobs_enc *e, uint8_t *out_start);

/* One-shot encode without delimiter; returns length or -M7B_ENOSPC. */
int m7b_cobs_encode(uint8_t *out, size_t cap, const uint8_t *in, size_t n);
/* One-shot decode of one encoded block (no delimiter, no 0x00 inside); returns the
 * decoded length, -M7B_EBADMSG (malformed) or -M7B_ENOSPC. */
int m7b_cobs_decode(uint8_t *out, size_t cap, const uint8_t *in, size_t n);

#ifdef __cplusplus
}
#endif
#endif
