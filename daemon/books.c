/* Per-port capture accounting across M7 boots, settled from BOOT_INFO. Pure. */
#include "books.h"

#include <string.h>

/* The previous boot's received frames, never to be settled: count them as such. */
static void give_up_prev(struct books *b)
{
	if (!b->have_prev || b->prev_settled)
		return;
	for (unsigned p = 0; p < BOOKS_PORTS; p++) {
		b->port[p].unsettled += b->prev[p] + b->prev_bad[p];
		b->port[p].awaiting = 0;
	}
	b->boots_unknown++;
	b->prev_settled = true;
}

/* Closes the current boot: its frames wait for the next boot's BOOT_INFO. */
static void close_boot(struct books *b)
{
	give_up_prev(b);
	if (!b->have_boot) {
		/* Frames before the first HELLO (the daemon started while the M7 ran) came
		 * from the boot that HELLO names: they stay booked to it. */
		b->have_boot = true;
		return;
	}
	b->have_prev = true;
	b->prev_settled = false;
	b->prev_id = b->boot_id;
	memcpy(b->prev, b->cur, sizeof(b->prev));
	memcpy(b->prev_bad, b->cur_bad, sizeof(b->prev_bad));
	memset(b->cur, 0, sizeof(b->cur));
	memset(b->cur_bad, 0, sizeof(b->cur_bad));
	for (unsigned p = 0; p < BOOKS_PORTS; p++) {
		/* Until its BOOT_INFO comes, the closed boot's frames are awaiting. */
		b->port[p].awaiting = b->port[p].current;
		b->port[p].current = 0;
	}
}

void books_hello(struct books *b, uint32_t boot_id)
{
	if (b->have_boot && !b->id_known) {
		b->id_known = true;
		if (b->have_prev && !b->prev_settled && b->prev_id == boot_id) {
			/* Not a restart after all: the same boot, books reopened. */
			for (unsigned p = 0; p < BOOKS_PORTS; p++) {
				b->cur[p] += b->prev[p];
				b->cur_bad[p] += b->prev_bad[p];
				b->port[p].current = b->cur[p] + b->cur_bad[p];
				b->port[p].awaiting = 0;
			}
			b->have_prev = false;
		}
		b->boot_id = boot_id; /* the HELLO of the boot a restart began */
		return;
	}
	if (b->have_boot && b->boot_id == boot_id)
		return; /* the same boot said hello again (reopen, HOST_HELLO) */
	close_boot(b);
	b->boot_id = boot_id;
	b->id_known = true;
}

void books_restart(struct books *b)
{
	if (!b->have_boot || !b->id_known)
		return;
	close_boot(b);
	b->id_known = false;
}

/* Books one port of the settled boot: rx/bad were received, r is the M7's record. */
static void settle_port(struct books *b, const struct m7b_boot_port *r, uint64_t rx, uint64_t bad)
{
	struct books_port *p = &b->port[r->port];
	uint64_t got = rx + bad;
	/* The record's counters are 32-bit and wrap (a boot of 2^32 captures): sent less
	 * what arrived is taken modulo 2^32, a shortfall of up to half of that as frames
	 * that arrived beyond what was sent. */
	uint32_t d = r->sent - (uint32_t)got;
	uint64_t lost = d < 0x80000000u ? d : 0, extra = d < 0x80000000u ? 0 : (uint32_t)-d;
	p->published += rx;
	p->malformed += bad;
	p->dropped_m7 += r->dropped;
	p->lost_reboot += r->queued;
	p->lost_link += lost;
	/* More arrived than was sent (a lost HELLO booked frames to the wrong boot): keep
	 * the equation by counting the surplus as produced, and say so. */
	b->excess += extra;
	p->produced += got + lost + r->dropped + r->queued;
}

/* produced = sent + dropped + queued (modulo 2^32), as the protocol says: a record that
 * does not add up cannot settle anything. */
static bool record_adds_up(const struct m7b_boot_port *r)
{
	return (uint32_t)(r->sent + r->dropped + r->queued) == r->produced;
}

bool books_boot_info(struct books *b, const struct m7b_boot_info *bi)
{
	if (!(bi->present & M7B_BI_HAS_PREV_BOOT) || !b->have_prev || b->prev_settled)
		return false;
	if (!(bi->prev_flags & M7B_BI_PREV_VALID) || bi->prev_boot_id != b->prev_id) {
		give_up_prev(b);
		return false;
	}
	for (unsigned i = 0; i < bi->nports && i < M7B_BI_PORTS_MAX; i++) {
		if (!record_adds_up(&bi->port[i])) {
			give_up_prev(b);
			return false;
		}
	}
	bool seen[BOOKS_PORTS] = {false};
	for (unsigned i = 0; i < bi->nports && i < M7B_BI_PORTS_MAX; i++) {
		const struct m7b_boot_port *r = &bi->port[i];
		if (r->port >= BOOKS_PORTS || seen[r->port])
			continue;
		seen[r->port] = true;
		settle_port(b, r, b->prev[r->port], b->prev_bad[r->port]);
	}
	/* Frames on a port the record does not list: received, production unknown. */
	for (unsigned p = 0; p < BOOKS_PORTS; p++) {
		if (!seen[p])
			b->port[p].unsettled += b->prev[p] + b->prev_bad[p];
		b->port[p].awaiting = 0;
	}
	b->prev_settled = true;
	b->boots_settled++;
	return true;
}
