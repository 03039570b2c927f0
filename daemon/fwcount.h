/* The firmware's HEARTBEAT counters summed on Linux: the M7 keeps u32 counters that wrap
 * and restart at each boot; these are 64-bit totals that only grow. Pure logic. */
#ifndef M7B_FWCOUNT_H
#define M7B_FWCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "m7bridge/wire.h"

struct fwcount {
	bool have_boot;	    /* boot_id is known (a HELLO was taken) */
	uint32_t boot_id;   /* the boot the last values belong to */
	uint64_t last_tick; /* now_ticks of the last HEARTBEAT of this boot (0: none) */
	uint32_t known;	    /* counters any HEARTBEAT carried: totals below it are real */
	uint32_t last[M7B_HB_NCOUNTERS];  /* the last values of this boot (0 at its start) */
	uint64_t total[M7B_HB_NCOUNTERS]; /* summed across wraps and boots; CREDITS: last */
	uint64_t restarts;		  /* boots seen to start over (HELLO, clock or seq) */
	/* A restart seen by seq going back, until a HELLO names the boot: what undoes it
	 * should that HELLO name the boot before (a repeated frame, not a restart). */
	bool unsure;
	bool unsure_had_boot;
	uint32_t unsure_boot;
	uint32_t unsure_last[M7B_HB_NCOUNTERS];
	uint64_t unsure_added[M7B_HB_NCOUNTERS]; /* added to total since */
	uint32_t unsure_beats;			 /* HEARTBEATs since */
};

/* A HELLO: a boot_id other than the last one's means the counters start over at 0. */
void fwcount_hello(struct fwcount *c, uint32_t boot_id);
/* The M7 restarted without a HELLO (its seq went back): the counters start over at 0,
 * unless the next HELLO names the boot they belonged to (then the restart is undone).
 * Another one before that HELLO changes nothing. */
void fwcount_restart(struct fwcount *c);
/* A HEARTBEAT: adds each counter's growth since the last one, modulo 2^32 (a wrap is a
 * small step, never a jump); now_ticks earlier than the last means a boot whose HELLO
 * was not seen, and the values count whole, as does a counter that fell back by more
 * than half the u32 range (a restart nothing else showed). */
void fwcount_heartbeat(struct fwcount *c, const struct m7b_heartbeat *hb);
/* True for the counters that are levels, not counts (CREDITS): not summed. */
bool fwcount_is_gauge(unsigned i);

#endif
