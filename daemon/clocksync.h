/* Clock sync: SYNC / SYNC_REPLY exchanges with each channel's firmware feed a clockmap,
 * so FRAME objects carry t_first_ns / t_last_ns (CLOCK_REALTIME) once the mapping is
 * known. The I/O glue around the pure clockmap.c. */
#ifndef M7B_CLOCKSYNC_H
#define M7B_CLOCKSYNC_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct clocksync;

#define CLOCKSYNC_FAST_MS    250  /* SYNC period while a mapping is being built */
#define CLOCKSYNC_FAST_COUNT 8	  /* exchanges at the fast period after each HELLO */
#define CLOCKSYNC_SLOW_MS    2000 /* SYNC period afterwards, to follow drift */

/* Starts syncing every channel of d and installs the FRAME time mapper. NULL on ENOMEM. */
struct clocksync *clocksync_new(struct daemon *d);
/* Stops (before the daemon is freed); returns NULL. */
struct clocksync *clocksync_free(struct clocksync *cs);
/* Maps ticks of the channel in slot to CLOCK_REALTIME ns; false while unknown. */
bool clocksync_map(const struct clocksync *cs, unsigned slot, uint64_t ticks, uint64_t *ns);

#endif
