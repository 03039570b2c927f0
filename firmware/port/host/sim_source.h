/* m7sim's synthetic UART sources: captures at a rate with chosen sizes and patterns, or
 * bytes from a file or stdin, each byte stamped with the tick it "arrives" at. */
#ifndef M7SIM_SIM_SOURCE_H
#define M7SIM_SIM_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sim_pattern {
	SIM_PATTERN_COUNTER, /* byte i of capture k is (k + i) & 0xff */
	SIM_PATTERN_RANDOM,  /* xorshift bytes from seed */
	SIM_PATTERN_TEXT,    /* "port P capture K\n" (size ignored) */
	SIM_PATTERN_ZERO,    /* all 0x00 (stresses COBS) */
	SIM_PATTERN_NMEA,    /* a GPS receiver's $GPGGA sentence, one per capture (size ignored) */
};

/* One --source option. */
struct sim_source_config {
	unsigned port;
	double rate;	   /* captures per second; 0 = none */
	unsigned size_min; /* bytes per capture, chosen in [min, max] */
	unsigned size_max;
	enum sim_pattern pattern;
	uint32_t baud;	/* character time of the bytes: 10 bits per byte */
	uint64_t count; /* stop after this many captures; 0 = never */
	uint32_t seed;
	const char *file; /* bytes from this file, "-" = stdin; NULL = synthetic */
	/* Port settings the source carries for the core and the UART (< 0 = default). */
	int64_t idle_us;     /* idle gap that ends a capture */
	int32_t delimiter;   /* -1 none, -2 default */
	int32_t max_capture; /* bytes per DATA frame */
	bool loop;	     /* SEND bytes come back as received bytes */
	const char *tx_path; /* SEND bytes are appended to this file */
};

struct sim_source {
	struct sim_source_config cfg;
	uint64_t period;     /* ticks between capture starts */
	uint64_t char_ticks; /* ticks per byte at cfg.baud */
	uint64_t t0;	     /* tick of capture 0 */
	uint64_t start;	     /* tick of the current capture's first byte */
	uint64_t k;	     /* current capture */
	unsigned i;	     /* next byte in it */
	unsigned len;	     /* its length */
	char text[96];	     /* SIM_PATTERN_TEXT/NMEA line of capture k */
	uint64_t rng;
	bool done;
	/* file/stdin */
	int fd;
	uint8_t buf[4096];
	size_t head, count;
	uint64_t next_tick; /* tick of the byte at head */
	bool eof;
};

/* Parses "PORT:key=value,..." into cfg; on error writes a message to err and returns
 * -EINVAL. Keys: rate size pattern baud count seed file idle delim max loop tx. */
int sim_source_parse(const char *spec, struct sim_source_config *cfg, char *err, size_t errlen);
/* Starts the source at tick `now` for a clock of tick_hz; opens the file if any.
 * Returns 0 or negative errno. */
int sim_source_start(struct sim_source *s, const struct sim_source_config *cfg, uint32_t tick_hz,
		     uint64_t now);
/* Releases the file. */
void sim_source_stop(struct sim_source *s);
/* Tick of the next byte, UINT64_MAX when none is scheduled. */
uint64_t sim_source_due(const struct sim_source *s);
/* Returns the next byte and moves on. Only when sim_source_due() != UINT64_MAX. */
uint8_t sim_source_take(struct sim_source *s);
/* File sources: reads what is available (non-blocking); bytes that arrive are stamped
 * from `now` on at the character rate. Returns 0, or -1 at end of file. */
int sim_source_read(struct sim_source *s, uint64_t now);
/* The fd to poll for a file source that wants more input, else -1. */
int sim_source_fd(const struct sim_source *s);
/* Ticks per character (10 bits) at baud for a clock of tick_hz (at least 1). */
uint64_t sim_source_char_ticks(uint32_t tick_hz, uint32_t baud);

#endif
