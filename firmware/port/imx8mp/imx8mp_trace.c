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

size_t imx8mp_put_str(char *buf, size_t at, size_t cap, const char *s)
{
	if (cap == 0)
		return 0;
	while (s != NULL && *s != '\0' && at + 1u < cap)
		buf[at++] = *s++;
	buf[at < cap ? at : cap - 1u] = '\0';
	return at;
}

size_t imx8mp_put_dec(char *buf, size_t at, size_t cap, uint32_t v)
{
	char t[11];
	size_t i = sizeof(t) - 1u;

	t[i] = '\0';
	do {
		t[--i] = (char)('0' + v % 10u);
		v /= 10u;
	} while (v != 0u);
	return imx8mp_put_str(buf, at, cap, &t[i]);
}

size_t imx8mp_put_hex(char *buf, size_t at, size_t cap, uint32_t v)
{
	static const char digits[] = "0123456789abcdef";
	char t[11] = "0x";

	for (int i = 0; i < 8; i++)
		t[2 + i] = digits[(v >> (28 - 4 * i)) & 0xFu];
	t[10] = '\0';
	return imx8mp_put_str(buf, at, cap, t);
}
