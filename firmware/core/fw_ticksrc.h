/* Tick-source self-check: which candidate counter really advances at its nominal rate,
 * judged against an independent reference clock. Pure logic; the port takes the readings. */
#ifndef M7FW_FW_TICKSRC_H
#define M7FW_FW_TICKSRC_H

#include <stddef.h>
#include <stdint.h>

#include "board.h"

/* fw_ticksrc_pick results besides a candidate index. */
#define FW_TICKSRC_NONE	  (-1) /* no candidate ran at its nominal rate */
#define FW_TICKSRC_NO_REF (-2) /* the reference did not advance: nothing can be judged */

/* Default tolerance: 2 %, far above sampling jitter over a 1 ms window, far below the
 * 3x between an 8 MHz and a 24 MHz counter. */
#define FW_TICKSRC_TOL_PPM 20000u

/* What the check concluded about one candidate. */
enum fw_ticksrc_verdict {
	FW_TICKSRC_UNTESTED = 0, /* not sampled, or the reference was unusable */
	FW_TICKSRC_STUCK,	 /* read the same value twice: not a running counter */
	FW_TICKSRC_WRONG_RATE,	 /* advances, but not at its nominal rate */
	FW_TICKSRC_OK,		 /* advances at its nominal rate within the tolerance */
};

/* Two readings of a counter, `bits` wide (differences are taken modulo 2^bits, so one
 * wrap between the readings is harmless). */
struct fw_ticksrc_reading {
	uint64_t start, end;
	uint8_t bits; /* 1..64 */
};

/* One candidate: filled in by the port, judged by fw_ticksrc_pick. */
struct fw_ticksrc_cand {
	const char *name;		 /* for the boot LOG line, e.g. "sysctr-read" */
	enum board_tick_source source;	 /* what BOOT_INFO reports if it is chosen */
	uint32_t nominal_hz;		 /* the rate it should run at */
	int sampled;			 /* nonzero when `r` holds readings */
	struct fw_ticksrc_reading r;	 /* taken inside the reference's window */
	enum fw_ticksrc_verdict verdict; /* out */
	uint32_t measured_hz;		 /* out: 0 when stuck or untested */
};

/* Judges every candidate against the reference (running at ref_hz) and returns the
 * index of the first one, in the caller's order of preference, whose measured rate is
 * within tol_ppm of its nominal rate; FW_TICKSRC_NONE or FW_TICKSRC_NO_REF otherwise. */
int fw_ticksrc_pick(struct fw_ticksrc_cand *cand, size_t n, const struct fw_ticksrc_reading *ref,
		    uint32_t ref_hz, uint32_t tol_ppm);

/* Rate of `r` in Hz measured against `ref` running at ref_hz; 0 if either did not
 * advance. */
uint32_t fw_ticksrc_rate(const struct fw_ticksrc_reading *r, const struct fw_ticksrc_reading *ref,
			 uint32_t ref_hz);

/* "ok", "stuck", "wrong-rate", "untested". */
const char *fw_ticksrc_verdict_to_string(enum fw_ticksrc_verdict v);

#endif
