/* The portable firmware core: what a port calls. One struct fw holds all state; the
 * port allocates it statically. Sizes come from fw_config.h (compile time). */
#ifndef M7FW_FW_H
#define M7FW_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fw_config.h"

/* UART error bits a port passes with a received byte. */
#define FW_RX_OVERRUN	 0x01u /* the hardware lost bytes before this one */
#define FW_RX_LINE_ERROR 0x02u /* framing, parity or noise on this byte */

/* Run-time settings of one captured UART port (CONFIG can change them). */
struct fw_port_config {
	uint32_t idle_gap_ticks; /* capture ends after this much silence */
	int16_t delimiter;	 /* capture ends after this byte; -1 = none */
	uint16_t max_capture;	 /* bytes per DATA frame, 1..M7B_DATA_BYTES_MAX */
};

/* Start-up options from the port. */
struct fw_options {
	const char *name; /* "m7bridge-imx8mp 0.1.0": sent in HELLO */
	unsigned nports;  /* captured UARTs, <= FW_MAX_PORTS */
	struct fw_port_config port[FW_MAX_PORTS];
	uint32_t heartbeat_ms; /* 0 = no periodic heartbeat */
	const char *channel;   /* rpmsg channel name announced, for BOOT_INFO; NULL = none */
};

#include "fw_state.h" /* struct fw, so a port can write: static struct fw fw; */

/* Initialises the core; sends nothing until fw_link_up. */
void fw_init(struct fw *fw, const struct fw_options *opt);
/* The link is (re)established: emits 0x00 then HELLO (seq 0). */
void fw_link_up(struct fw *fw);
/* UART receive interrupt: one byte, its error bits and the tick it was read at. */
void fw_uart_rx_isr(struct fw *fw, unsigned port, uint8_t byte, uint32_t err, uint64_t tick);
/* Bytes from the link (any split: the stream decoder reassembles). Task context. */
void fw_link_rx(struct fw *fw, const uint8_t *buf, size_t n);
/* Main loop work: closes idle captures, sends DATA, heartbeats, replies and ACKs,
 * retries refused link writes. Call it often; it never blocks. */
void fw_poll(struct fw *fw);
/* Sends a LOG frame (level 0..7); dropped and counted when the link is full. */
void fw_log(struct fw *fw, uint8_t level, const char *text);
/* Assertion failure: LOG frame, then board_fatal. */
void fw_assert_failed(struct fw *fw, const char *file, int line);

/* Added after the first contract; ports may ignore them. */
/* The link went away (hangup, channel removed): nothing is written until fw_link_up. */
void fw_link_down(struct fw *fw);
/* Tick by which fw_poll has timed work (idle capture close, heartbeat): 0 when it has
 * work now, UINT64_MAX when none. Lets a port sleep (WFI, poll()) until then; SEND bytes
 * waiting for a UART transmitter set no deadline (call fw_poll when it has room). */
uint64_t fw_next_deadline(struct fw *fw);
/* True while a frame waits for the link to take it (board_link_write refused it). */
bool fw_tx_blocked(const struct fw *fw);
/* The HEARTBEAT counters as they would be sent now (enum m7b_hb_counter order). */
void fw_counters(const struct fw *fw, uint32_t counter[M7B_HB_NCOUNTERS]);
/* The previous boot's accounting read from the persist area at fw_init (valid false
 * after a cold power-on, a corrupt record or without a persist area). */
const struct fw_prev_boot *fw_prev_boot(const struct fw *fw);
/* Brings the persist record up to date now (fw_poll does it after its work). */
void fw_persist_sync(struct fw *fw);
/* Ticks of `chars` UART character times (10 bits each) at `baud`: an idle gap in
 * character times, for fw_port_config.idle_gap_ticks. */
uint32_t fw_char_ticks(uint32_t tick_hz, uint32_t baud, uint32_t chars);

#endif
