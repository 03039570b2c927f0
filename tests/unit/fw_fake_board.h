/* A scripted board for the firmware core tests: settable clock, a link that records or
 * refuses writes, UART transmitters with a set capacity, checked critical sections. */
#ifndef M7B_FW_FAKE_BOARD_H
#define M7B_FW_FAKE_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw.h"
#include "m7bridge/decoder.h"

#define FAKE_LINK_CAP	(64u * 1024u)
#define FAKE_MAX_FRAMES 512u

/* One decoded frame the core wrote, with a copy of its payload. */
struct fake_frame {
	struct m7b_frame f;
	uint8_t payload[M7B_PAYLOAD_MAX];
};

struct fake_board {
	uint64_t ticks;
	uint32_t tick_hz;
	uint32_t boot_id;
	bool link_refuse;     /* board_link_write returns -1 */
	unsigned link_writes; /* accepted writes */
	unsigned link_refusals;
	uint8_t link[FAKE_LINK_CAP];
	size_t link_len;
	size_t link_read; /* decoded up to here */
	struct m7b_decoder dec;
	uint8_t uart[FW_MAX_PORTS][4096];
	size_t uart_len[FW_MAX_PORTS];
	size_t uart_room; /* bytes board_uart_tx takes per call */
	unsigned nports;
	uint32_t baud[FW_MAX_PORTS];
	bool baud_fail;
	uint32_t baud_reject; /* a rate board_uart_set_baud refuses (0: none) */
	int irq_depth;
	int irq_max_depth;
	unsigned fatal_calls;
	char fatal_why[160];
	uint8_t build_id[32];
	size_t build_id_len;
	bool persist_off;   /* board_persist_area returns NULL */
	size_t persist_len; /* bytes board_persist_area offers (<= sizeof fake_persist) */
	unsigned traces;    /* board_trace calls */
	uint8_t trace_level;
	char trace_text[256]; /* the last board_trace line */
};

/* The fake's no-init RAM: fake_reset keeps it (a reboot), fake_power_on clears it. */
extern uint8_t fake_persist[1024];
/* Bytes of it board_persist_area offers; fake_power_on sets all of it. */
extern size_t fake_persist_len;

extern struct fake_board fake;

/* Resets the fake board (tick_hz 8 MHz, nports ports, everything empty but the
 * no-init RAM, as a reset of the M7 leaves it). */
void fake_reset(unsigned nports);
/* A cold power-on: fake_reset plus the no-init RAM filled with noise. */
void fake_power_on(unsigned nports);
/* Decodes what the core wrote since the last call into frames; returns how many. */
size_t fake_frames(struct fake_frame *out, size_t max);
/* Encodes a host frame (type, port, seq, payload) as it would arrive on the link. */
size_t fake_host_frame(uint8_t *out, size_t cap, uint8_t type, uint8_t port, uint32_t seq,
		       const void *payload, size_t len);
/* Hands such a host frame to the core as if it arrived on the link; fails the test if
 * it cannot be encoded. */
void fake_host_send(struct fw *fw, uint8_t type, uint8_t port, uint32_t seq, const void *payload,
		    size_t len);
/* Default options: nports ports, idle gap, no delimiter, max 462, heartbeat off. */
void fake_options(struct fw_options *o, unsigned nports, uint32_t idle_gap);

#endif
