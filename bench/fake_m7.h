/* A fake M7 for the daemon benchmarks: its tick clock is an exact function of
 * CLOCK_MONOTONIC, it numbers its frames as the firmware does, introduces itself with
 * HELLO and BOOT_INFO and answers SYNC. Not part of the product. */
#ifndef M7B_FAKE_M7_H
#define M7B_FAKE_M7_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"

/* BOOT_INFO tick sources (the firmware's enum board_tick_source). */
#define FAKE_M7_TICK_NONE   (-1) /* send no BOOT_INFO */
#define FAKE_M7_TICK_SYSCTR 1	 /* the SoC system counter, as on the board */

/* The M7's end of the link. ticks = floor((mono - epoch_ns) * hz * (1e6 + ppm) / 1e15). */
struct fake_m7 {
	int fd;
	uint32_t hz;
	int ppm;
	uint64_t epoch_ns;
	uint32_t boot_id, seq;
	const char *name;
	int tick_source; /* FAKE_M7_TICK_*, or another board_tick_source number */
	struct m7b_decoder dec;
};

/* Sets up m on fd (the pty master); nothing is sent. */
void fake_m7_init(struct fake_m7 *m, int fd, uint32_t hz, int ppm, uint64_t epoch_ns,
		  uint32_t boot_id, const char *name, int tick_source);
/* The M7 clock at CLOCK_MONOTONIC mono (0 before its epoch). */
uint64_t fake_m7_ticks(const struct fake_m7 *m, uint64_t mono);
/* The first CLOCK_MONOTONIC ns at which the M7 clock shows tick t. */
uint64_t fake_m7_mono_of(const struct fake_m7 *m, uint64_t t);
/* Encodes a frame of the next seq at buf; returns its length on the wire (delimiter
 * included), 0 when it does not fit. */
size_t fake_m7_encode(struct fake_m7 *m, uint8_t *buf, size_t cap, uint8_t type, uint8_t port,
		      const void *pl, size_t n);
/* Encodes DATA of the next seq: a capture of nbytes from t_first to t_last. */
size_t fake_m7_encode_data(struct fake_m7 *m, uint8_t *buf, size_t cap, uint8_t port,
			   uint64_t t_first, uint64_t t_last, const void *bytes, size_t nbytes);
/* Encodes SYNC_REPLY r of the next seq: the SYNC's host_time, the ticks at which it
 * arrived and at which the reply leaves. */
size_t fake_m7_encode_reply(struct fake_m7 *m, uint8_t *buf, size_t cap,
			    const struct m7b_sync_reply *r);
/* Sends HELLO (seq restarts at 0), then BOOT_INFO with the tick item unless the tick
 * source is FAKE_M7_TICK_NONE. False when the write failed. */
bool fake_m7_hello(struct fake_m7 *m);
/* Encodes and writes one frame; false when the write failed. */
bool fake_m7_send(struct fake_m7 *m, uint8_t type, const void *pl, size_t n);

#endif
