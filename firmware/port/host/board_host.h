/* board.h for Linux (the m7sim port): a scaled CLOCK_MONOTONIC, a pty link with fault
 * injection, UART transmitters that loop back or go to a file. */
#ifndef M7SIM_BOARD_HOST_H
#define M7SIM_BOARD_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "fw.h"
#include "fw_trace.h"
#include "sim_clock.h"
#include "sim_image.h"
#include "sim_link.h"

#define BOARD_HOST_TX_FIFO	1024u
#define BOARD_HOST_BUILD_ID_MAX 64u
#define BOARD_HOST_PERSIST_SIZE 512u
#define BOARD_HOST_TRACE_SIZE	4096u

/* One UART transmitter: SEND bytes leave at the character rate. */
struct board_host_uart {
	uint8_t fifo[BOARD_HOST_TX_FIFO];
	size_t head, count;
	uint64_t next_tick;  /* tick at which the head byte has left the wire */
	uint64_t char_ticks; /* ticks per character at the current baud */
	uint32_t baud;
	bool loop;	      /* transmitted bytes come back on the same port's receiver */
	int tx_fd;	      /* transmitted bytes are appended here; -1 = none */
	uint32_t pending_err; /* FW_RX_* bits for the next received byte (fault injection) */
};

/* Everything the board functions reach; board.h has no context argument, so the port
 * keeps one pointer to it (board_host_attach). */
struct board_host {
	struct sim_clock clock;
	bool host_mono; /* the ticks are CLOCK_MONOTONIC scaled, nothing added: tell BOOT_INFO */
	uint64_t hold;	/* the clock does not pass this tick: a byte due then is
			       * not delivered yet (its "interrupt" has not run) */
	uint64_t last_ticks; /* ticks never go backwards */
	struct sim_link *link;
	unsigned nports;
	struct board_host_uart uart[FW_MAX_PORTS];
	uint32_t next_boot_id; /* used once when nonzero */
	bool fatal;
	/* Identity and the emulated no-init RAM and trace ring */
	uint8_t build_id[BOARD_HOST_BUILD_ID_MAX];
	size_t build_id_len;
	void *persist; /* BOARD_HOST_PERSIST_SIZE bytes (a mapped file), or NULL */
	struct fw_trace trace;
	char trace_buf[BOARD_HOST_TRACE_SIZE];
	int trace_fd;		   /* the ring is rewritten here after each line; -1 = none */
	enum sim_image_mode image; /* how the running image behaves */
	unsigned image_frames;	   /* frames written since this image booted */
	/* Faults */
	bool stalled;	       /* hung M7: the link is neither read nor written */
	unsigned drop_next;    /* frames to swallow (seq gaps) */
	unsigned corrupt_next; /* frames to send with a bad CRC */
	uint64_t throttle_bps; /* M7 -> host byte rate limit; 0 = none */
	double throttle_tokens;
	uint64_t throttle_ns;
	/* Statistics */
	uint64_t frames_written, frames_dropped, frames_corrupted;
	uint64_t trace_errors;	  /* failed writes of the trace file */
	uint64_t frames_silenced; /* frames a broken image (--image) never sent */
};

/* Makes b the board the board_* functions act on. */
void board_host_attach(struct board_host *b);
/* Ticks now, ignoring hold (for scheduling). */
uint64_t board_host_now(const struct board_host *b);
/* Tick of the next byte a UART transmitter finishes, UINT64_MAX if none. */
uint64_t board_host_uart_due(const struct board_host *b, unsigned port);
/* Takes the next transmitted byte of `port` (when due). */
uint8_t board_host_uart_take(struct board_host *b, unsigned port);
/* Writes n random bytes and a 0x00 to the link (noise a reader must skip). */
int board_host_garbage(struct board_host *b, unsigned n);
/* A new image starts: its trace ring is empty and its frame count restarts. */
void board_host_boot(struct board_host *b, enum sim_image_mode mode);
/* Maps `path` (created, BOARD_HOST_PERSIST_SIZE bytes) as the no-init RAM: what the core
 * writes there survives a reboot, a crash and a restart of m7sim. 0 or -errno. */
int board_host_persist_open(struct board_host *b, const char *path);
/* Opens the file the trace ring is mirrored to (created, truncated). 0 or -errno. */
int board_host_trace_open(struct board_host *b, const char *path);
/* Copies m7sim's own GNU build-id (its ELF note) to buf; returns its length, 0 if none. */
size_t board_host_self_build_id(uint8_t *buf, size_t cap);
/* Throttle bucket: true if n bytes may go now (tokens are refilled from the clock). */
bool board_host_throttle_ok(struct board_host *b, size_t n);

#endif
