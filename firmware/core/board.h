/* The board interface: what every firmware port provides to the portable core.
 * The core never touches hardware; it calls these and nothing else. */
#ifndef M7FW_BOARD_H
#define M7FW_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic tick counter, extended to 64 bits by the port. Callable from any context. */
uint64_t board_ticks(void);

/* Tick rate in Hz (8000000 for SYS_CTR on the i.MX8MP, 25000000 for QEMU TIMER0). */
uint32_t board_tick_hz(void);

/* A number that differs on every boot (hardware RNG, uninitialised RAM, a counter). */
uint32_t board_boot_id(void);

/* Writes one whole encoded frame (<= M7B_FRAME_MAX bytes, delimiter included) to the
 * link. All or nothing: returns n, or -1 when no buffer is free right now (nothing was
 * written; the core retries from its poll loop). Never blocks. */
int board_link_write(const uint8_t *buf, size_t n);

/* Queues bytes for transmission on UART `port`; returns how many were accepted
 * (0..n) without blocking, or -1 if the port does not exist. */
int board_uart_tx(unsigned port, const uint8_t *buf, size_t n);

/* Applies a baud rate to UART `port`; returns 0, or -1 when unsupported. */
int board_uart_set_baud(unsigned port, uint32_t baud);

/* Critical sections: masks the interrupts that call into the core and returns the
 * previous mask for board_irq_restore. Kept short by the core (a few loads/stores). */
uint32_t board_irq_save(void);
void board_irq_restore(uint32_t state);

/* Called once the core has reported a fatal error (a LOG frame went out if the link
 * allowed it). The port puts the board in its defined safe state; it may return, in
 * which case the core stops producing frames but keeps answering HOST_HELLO and PING. */
void board_fatal(const char *why);

/* Where the tick counter comes from (reported to the host in BOOT_INFO). */
enum board_tick_source {
	BOARD_TICK_UNKNOWN = 0,
	BOARD_TICK_SYSCTR = 1,	  /* SoC system counter: the one Linux's arch timer reads */
	BOARD_TICK_GPT = 2,	  /* a general purpose timer */
	BOARD_TICK_DWT = 3,	  /* the core cycle counter */
	BOARD_TICK_HOST_MONO = 4, /* m7sim: the host's CLOCK_MONOTONIC */
	BOARD_TICK_SIM_TIMER = 5, /* an emulator's timer */
};
/* The tick source in use and its rate as measured at boot (Hz). */
void board_tick_info(enum board_tick_source *src, uint32_t *measured_hz);
/* Copies the image's build identity (GNU build-id) to buf; returns its length, 0 if none. */
size_t board_build_id(uint8_t *buf, size_t cap);
/* RAM that a reset of the M7 does not clear (a no-init section), or NULL; *len its size. */
void *board_persist_area(size_t *len);
/* Mirrors one LOG line into the firmware trace ring that Linux reads through remoteproc. */
void board_trace(uint8_t level, const char *text, size_t len);

#endif
