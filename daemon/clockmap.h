/* Maps M7 ticks to Linux time from SYNC / SYNC_REPLY exchanges. Pure logic. */
#ifndef M7B_CLOCKMAP_H
#define M7B_CLOCKMAP_H

#include <stdbool.h>
#include <stdint.h>

#define CLOCKMAP_WINDOW 32 /* exchanges kept for the fit */

/* One exchange: host sent SYNC at t1 and got the reply at t4 (host ns); the M7 saw it
 * at rx and answered at tx (M7 ticks). */
struct clockmap_sample {
	uint64_t t1_ns;
	uint64_t rx_ticks;
	uint64_t tx_ticks;
	uint64_t t4_ns;
};

struct clockmap {
	uint32_t tick_hz;
	struct clockmap_sample win[CLOCKMAP_WINDOW];
	unsigned count; /* samples in win */
	unsigned next;	/* where the next sample goes */
	/* The fit: host_ns = base_ns + offset_ns + (ticks - base_ticks) * ns_per_tick,
	 * around the newest exchange so the doubles hold small numbers. */
	bool valid;
	uint64_t base_ticks;
	uint64_t base_ns;
	double offset_ns;
	double ns_per_tick;
	double error_ns;   /* half the best round trip: the bound on any mapped time */
	uint64_t rejected; /* samples refused as inconsistent */
};

/* Starts over for a firmware with this tick rate (new boot, new HELLO). */
void clockmap_reset(struct clockmap *c, uint32_t tick_hz);
/* Adds an exchange and refits. Returns 0 or -EINVAL for an impossible sample (reply
 * before request, tx before rx, M7 time running backwards). */
int clockmap_add(struct clockmap *c, const struct clockmap_sample *s);
/* Maps a tick to host ns; false while no exchange has been accepted. */
bool clockmap_map(const struct clockmap *c, uint64_t ticks, uint64_t *host_ns);
/* The M7 clock's rate error against the host in parts per million, positive when it
 * runs fast (0 until exchanges span a few seconds). */
double clockmap_drift_ppm(const struct clockmap *c);

#endif
