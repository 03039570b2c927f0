/* A scripted board for the firmware core tests: settable clock, a link that records or
 * refuses writes, UART transmitters with a set capacity, checked critical sections. */
#include "fw_fake_board.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"

struct fake_board fake;
uint8_t fake_persist[1024];
size_t fake_persist_len = sizeof(fake_persist);

void fake_reset(unsigned nports)
{
	memset(&fake, 0, sizeof(fake));
	fake.tick_hz = 8000000;
	fake.boot_id = 0xA1B2C3D4u;
	fake.uart_room = 4096;
	fake.nports = nports;
	m7b_decoder_init(&fake.dec);
}

void fake_power_on(unsigned nports)
{
	uint32_t x = 0x12345678u;

	for (size_t i = 0; i < sizeof(fake_persist); i++) {
		x = x * 1103515245u + 12345u;
		fake_persist[i] = (uint8_t)(x >> 16);
	}
	fake_persist_len = sizeof(fake_persist);
	fake_reset(nports);
}

void fake_options(struct fw_options *o, unsigned nports, uint32_t idle_gap)
{
	memset(o, 0, sizeof(*o));
	o->name = "m7sim 1.0";
	o->nports = nports;
	for (unsigned p = 0; p < FW_MAX_PORTS; p++) {
		o->port[p].idle_gap_ticks = idle_gap;
		o->port[p].delimiter = -1;
		o->port[p].max_capture = M7B_DATA_BYTES_MAX;
	}
}

size_t fake_frames(struct fake_frame *out, size_t max)
{
	const uint8_t *pos = fake.link + fake.link_read, *end = fake.link + fake.link_len;
	size_t n = 0;
	struct m7b_frame f;

	while (n < max && m7b_decoder_next(&fake.dec, &pos, end, &f) == 1) {
		out[n].f = f;
		memcpy(out[n].payload, f.payload, f.len);
		out[n].f.payload = out[n].payload;
		n++;
	}
	fake.link_read = (size_t)(pos - fake.link);
	return n;
}

size_t fake_host_frame(uint8_t *out, size_t cap, uint8_t type, uint8_t port, uint32_t seq,
		       const void *payload, size_t len)
{
	struct m7b_frame h = {.ver = 1, .type = type, .port = port, .seq = seq};
	struct m7b_part part = {payload, len};
	int r = m7b_wire_encode(out, cap, &h, &part, len ? 1 : 0);

	return r > 0 ? (size_t)r : 0;
}

void fake_host_send(struct fw *fw, uint8_t type, uint8_t port, uint32_t seq, const void *payload,
		    size_t len)
{
	uint8_t buf[M7B_FRAME_MAX];
	size_t n = fake_host_frame(buf, sizeof(buf), type, port, seq, payload, len);

	/* The fuzz target links the board too, without cmocka: a frame that cannot be encoded
	 * is a broken test, so stop there. */
	if (n == 0)
		abort();
	fw_link_rx(fw, buf, n);
}

uint64_t board_ticks(void)
{
	return fake.ticks;
}

uint32_t board_tick_hz(void)
{
	return fake.tick_hz;
}

uint32_t board_boot_id(void)
{
	return fake.boot_id;
}

void board_tick_info(enum board_tick_source *src, uint32_t *measured_hz)
{
	*src = BOARD_TICK_SYSCTR;
	*measured_hz = fake.tick_hz - 12u; /* measured: a little off the nominal rate */
}

size_t board_build_id(uint8_t *buf, size_t cap)
{
	size_t n = fake.build_id_len < cap ? fake.build_id_len : cap;

	memcpy(buf, fake.build_id, n);
	return n;
}

void *board_persist_area(size_t *len)
{
	*len = fake.persist_off ? 0u : fake_persist_len;
	return fake.persist_off ? NULL : fake_persist;
}

void board_trace(uint8_t level, const char *text, size_t len)
{
	fake.traces++;
	fake.trace_level = level;
	if (len > sizeof(fake.trace_text) - 1u)
		len = sizeof(fake.trace_text) - 1u;
	memcpy(fake.trace_text, text, len);
	fake.trace_text[len] = '\0';
}

int board_link_write(const uint8_t *buf, size_t n)
{
	if (n > M7B_FRAME_MAX + 1u) {
		fprintf(stderr, "fake: link write of %zu bytes exceeds a frame\n", n);
		return -1;
	}
	if (fake.link_refuse || fake.link_len + n > sizeof(fake.link)) {
		fake.link_refusals++;
		return -1;
	}
	memcpy(fake.link + fake.link_len, buf, n);
	fake.link_len += n;
	fake.link_writes++;
	return (int)n;
}

int board_uart_tx(unsigned port, const uint8_t *buf, size_t n)
{
	size_t room;

	if (port >= fake.nports)
		return -1;
	room = sizeof(fake.uart[port]) - fake.uart_len[port];
	if (room > fake.uart_room)
		room = fake.uart_room;
	if (n > room)
		n = room;
	memcpy(fake.uart[port] + fake.uart_len[port], buf, n);
	fake.uart_len[port] += n;
	return (int)n;
}

int board_uart_set_baud(unsigned port, uint32_t baud)
{
	if (fake.baud_fail || port >= fake.nports || (fake.baud_reject && baud == fake.baud_reject))
		return -1;
	fake.baud[port] = baud;
	return 0;
}

uint32_t board_irq_save(void)
{
	fake.irq_depth++;
	if (fake.irq_depth > fake.irq_max_depth)
		fake.irq_max_depth = fake.irq_depth;
	return (uint32_t)fake.irq_depth;
}

void board_irq_restore(uint32_t state)
{
	if ((int)state != fake.irq_depth)
		fprintf(stderr, "fake: unbalanced critical section\n");
	fake.irq_depth--;
}

void board_fatal(const char *why)
{
	fake.fatal_calls++;
	snprintf(fake.fatal_why, sizeof(fake.fatal_why), "%s", why);
}
