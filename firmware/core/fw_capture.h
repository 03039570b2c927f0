/* One UART port's captures: the receive interrupt segments bytes into captures and
 * publishes them through a lock-free single-producer/single-consumer ring. */
#ifndef M7FW_FW_CAPTURE_H
#define M7FW_FW_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "fw_config.h"

/* A closed capture (or a part of one) ready to be sent as DATA. */
struct fw_capture_desc {
	uint64_t t_first; /* tick of the capture's first byte (same for every part) */
	uint64_t t_last;  /* tick of this part's last byte */
	uint32_t start;	  /* free-running index of the first byte in data[] */
	uint16_t len;	  /* bytes in this part */
	uint8_t flags;	  /* M7B_DATA_* */
};

/* Written by the producer (interrupt) only, read by anyone. */
struct fw_capture_stats {
	uint32_t rx_bytes;    /* bytes accepted from the UART */
	uint32_t overruns;    /* bytes reported with FW_RX_OVERRUN */
	uint32_t line_errors; /* bytes reported with FW_RX_LINE_ERROR */
	uint32_t dropped;     /* captures (or max_len parts of one) dropped: ring or queue full */
};

struct fw_capture {
	uint8_t data[FW_RX_RING_SIZE];
	struct fw_capture_desc desc[FW_CAPTURE_QUEUE];
	/* Shared indices (free-running 32-bit, so loads and stores are atomic on the M7). */
	uint32_t desc_head; /* producer: descriptors published */
	uint32_t desc_tail; /* consumer: descriptors released */
	uint32_t data_tail; /* consumer: bytes released */
	/* Producer-private state of the open capture. */
	uint32_t wr;	  /* next byte goes to data[wr % size] */
	uint32_t start;	  /* index of the open part's first byte */
	uint64_t t_first; /* first byte of the whole capture */
	uint64_t t_last;  /* last byte so far */
	uint16_t len;	  /* bytes in the open part (kept, or seen while dropping) */
	uint8_t flags;	  /* flags of the open part */
	bool open;	  /* a capture is in progress */
	bool dropping;	  /* the open capture did not fit: discard to its end */
	/* Settings: changed only with the producer masked (critical section). */
	uint32_t idle_gap; /* ticks of silence that end a capture; 0 = never */
	int16_t delimiter; /* byte that ends a capture; -1 = none */
	uint16_t max_len;  /* bytes per part before CONTINUED */
	struct fw_capture_stats stats;
};

/* Empties the ring and applies the settings. */
void fw_capture_init(struct fw_capture *c, uint32_t idle_gap, int16_t delimiter, uint16_t max_len);
/* Producer (interrupt): one byte with its FW_RX_* error bits and tick. */
void fw_capture_rx(struct fw_capture *c, uint8_t byte, uint32_t err, uint64_t tick);
/* Producer side, with the producer masked: closes the open capture when it has been
 * idle for idle_gap at `now`. Returns true if it closed one. */
bool fw_capture_idle(struct fw_capture *c, uint64_t now);
/* Producer side, with the producer masked: tick at which the open capture goes idle,
 * or UINT64_MAX when nothing is open or idle closing is off. */
uint64_t fw_capture_deadline(const struct fw_capture *c);
/* Consumer: the oldest closed capture part, or NULL. */
const struct fw_capture_desc *fw_capture_peek(struct fw_capture *c);
/* Consumer: copies out where the part's bytes are (two pieces when they wrap). */
void fw_capture_bytes(const struct fw_capture *c, const struct fw_capture_desc *d,
		      const uint8_t **p1, uint16_t *n1, const uint8_t **p2, uint16_t *n2);
/* Consumer: releases the part returned by fw_capture_peek. */
void fw_capture_release(struct fw_capture *c);

#endif
