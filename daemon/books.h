/* Per-port accounting of M7 captures across boots: what each boot produced, what reached
 * the daemon, and why the rest was lost, settled from the next boot's BOOT_INFO. Pure. */
#ifndef M7B_BOOKS_H
#define M7B_BOOKS_H

#include <stdbool.h>
#include <stdint.h>

#include "m7bridge/wire.h"

/* Ports booked one by one; DATA on higher ports is counted in other_port_frames. */
#define BOOKS_PORTS M7B_BI_PORTS_MAX

/* One port's totals over the boots settled so far, in capture parts (DATA frames):
 * produced = published + malformed + dropped_m7 + lost_reboot + lost_link. */
struct books_port {
	uint64_t produced;    /* reported by the M7 in the next boot's BOOT_INFO */
	uint64_t published;   /* received with a valid payload and handed to clients */
	uint64_t malformed;   /* received, payload did not unpack: not published */
	uint64_t dropped_m7;  /* dropped on the M7 (queue or ring full) */
	uint64_t lost_reboot; /* queued on the M7 when it reset */
	uint64_t lost_link;   /* sent by the M7, never received (the seq gaps of that boot) */
	uint64_t unsettled;   /* received in boots whose books never came (unknown produced) */
	uint64_t awaiting;    /* received in the previous boot, its BOOT_INFO not come yet */
	uint64_t current;     /* received in the current boot, not settled yet */
};
/* Every DATA frame received on a port is in exactly one of published, malformed,
 * unsettled, awaiting and current. */

/* The books of one channel. Zero-initialise; no allocation. */
struct books {
	bool have_boot;
	bool id_known;	  /* false after a restart seen without its HELLO */
	uint32_t boot_id; /* the boot frames are booked to now */
	uint64_t cur[BOOKS_PORTS], cur_bad[BOOKS_PORTS];
	bool have_prev, prev_settled; /* the boot before, awaiting its BOOT_INFO */
	uint32_t prev_id;
	uint64_t prev[BOOKS_PORTS], prev_bad[BOOKS_PORTS];
	struct books_port port[BOOKS_PORTS];
	uint64_t boots_settled; /* previous boots whose books closed exactly */
	uint64_t boots_unknown; /* boots whose books never came (no valid record, other id) */
	uint64_t excess;	/* frames received beyond what the M7 says it sent (should be 0) */
	uint64_t other_port_frames;
};

/* A HELLO with boot_id: a new id closes the current boot (its books await BOOT_INFO). */
void books_hello(struct books *b, uint32_t boot_id);
/* The M7 restarted but its HELLO was lost (seq went back): closes the current boot and
 * books what follows to a new one whose id the next HELLO gives. */
void books_restart(struct books *b);
/* True while the previous boot's books wait for a BOOT_INFO (ask again: HOST_HELLO).
 * Inline, as is books_data(): both run for every frame. */
static inline bool books_want_info(const struct books *b)
{
	return b->have_prev && !b->prev_settled;
}
/* One DATA frame received on port (malformed: its payload did not unpack). */
static inline void books_data(struct books *b, uint8_t port, bool malformed)
{
	if (port >= BOOKS_PORTS) {
		b->other_port_frames++;
		return;
	}
	if (malformed)
		b->cur_bad[port]++;
	else
		b->cur[port]++;
	b->port[port].current++;
}
/* A BOOT_INFO of the current boot: settles the previous boot when the record is valid,
 * names it and each port's counters add up (else its frames are unsettled). Returns true
 * when books were settled by this call. */
bool books_boot_info(struct books *b, const struct m7b_boot_info *bi);

#endif
