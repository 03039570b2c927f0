/* Stream health: the kernel's "hello world!", a reopen mid-frame or a flipped bit cost
 * one rejected candidate each and are normal. A stream where bad candidates outnumber
 * good frames is not: the firmware, the transport or a bridge's baud rate is wrong. */
#include "streamcheck.h"

void streamcheck_init(struct streamcheck *s, uint32_t window_ms, uint32_t min_rejects)
{
	/* A window that ended as time began: now_ms - start_ms >= window_ms for any now_ms. */
	*s = (struct streamcheck){.window_ms = window_ms,
				  .min_rejects = min_rejects,
				  .start_ms = -(uint64_t)window_ms};
}
