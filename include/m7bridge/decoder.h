/* Incremental stream decoder for wire protocol v1: bytes in, checked frames out.
 * Freestanding, no allocation: the firmware and the daemon use the same code. */
#ifndef M7BRIDGE_DECODER_H
#define M7BRIDGE_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m7bridge/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why a candidate body was rejected; each has a counter. */
enum m7b_reject {
	M7B_REJECT_NONE = 0,
	M7B_REJECT_COBS,     /* malformed COBS (a run crosses the delimiter) */
	M7B_REJECT_RUNT,     /* shorter than header + CRC */
	M7B_REJECT_LEN,	     /* len field disagrees with the body size */
	M7B_REJECT_CRC,	     /* CRC mismatch */
	M7B_REJECT_VERSION,  /* not version 1 */
	M7B_REJECT_OVERSIZE, /* more than 492 body bytes before a delimiter */
	M7B_REJECT_COUNT
};

struct m7b_decoder_stats {
	uint64_t frames;		   /* frames delivered */
	uint64_t bytes;			   /* bytes fed */
	uint64_t empty;			   /* empty frames (0x00 0x00), ignored by design */
	uint64_t rejected;		   /* candidates rejected, all reasons */
	uint64_t reject[M7B_REJECT_COUNT]; /* by reason */
	uint64_t noise_bytes; /* bytes of rejected candidates (hello world!, garbage) */
};

struct m7b_decoder {
	uint8_t body[M7B_BODY_MAX];
	uint16_t len;	 /* decoded bytes in body */
	uint32_t raw;	 /* encoded bytes of the current candidate (before any discard) */
	uint8_t run;	 /* data bytes left in the current COBS run */
	uint8_t code;	 /* code byte of the current run; 0 = expecting a code byte */
	bool discard;	 /* candidate already rejected: skip to the next 0x00 */
	uint8_t pending; /* rejection reason for the discarded candidate */
	enum m7b_reject last_reject; /* reason of the most recent rejection */
	struct m7b_decoder_stats stats;
};

/* Resets state and counters. */
void m7b_decoder_init(struct m7b_decoder *d);
/* Ends a partial candidate (after the link reopened): it counts as rejected (COBS,
 * truncated; a candidate already rejected keeps its reason) with its bytes as noise.
 * Keeps the counters. */
void m7b_decoder_reset(struct m7b_decoder *d);
/* Consumes bytes from *pos up to end and stops after each good frame: returns 1 with f
 * set (its payload stays valid until the next call), or 0 once the input is used up.
 * Rejected candidates only update the counters and last_reject. */
int m7b_decoder_next(struct m7b_decoder *d, const uint8_t **pos, const uint8_t *end,
		     struct m7b_frame *f);
/* Short name of a rejection reason. */
const char *m7b_decoder_reject_name(enum m7b_reject r);

#ifdef __cplusplus
}
#endif
#endif
