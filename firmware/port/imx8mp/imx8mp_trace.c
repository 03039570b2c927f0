/* The firmware's trace ring (implements board_trace): LOG lines and fault records as
 * text in a buffer that the resource table's RSC_TRACE entry names, so Linux shows it as
 * /sys/kernel/debug/remoteproc/remoteprocN/trace0 even when rpmsg is dead. */
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "fw_trace.h"
#include "imx8mp_port.h"

/* Linux reads it (through the da in the resource table) at any time: plain .bss, zeroed
 * at start-up, written only through the ring writer. */
char imx8mp_trace_buf[M7B_TRACE_SIZE] __attribute__((aligned(8)));

static struct fw_trace ring;
static int ring_ready;

void imx8mp_trace_start(void)
{
	fw_trace_init(&ring, imx8mp_trace_buf, (uint32_t)sizeof(imx8mp_trace_buf));
	ring_ready = 1;
}

void board_trace(uint8_t level, const char *text, size_t len)
{
	uint32_t s;

	if (!ring_ready)
		return;
	/* Task, interrupt and fault handlers all write here: one writer at a time. */
	s = board_irq_save();
	fw_trace_append(&ring, board_ticks(), level, text, len);
	board_irq_restore(s);
}
