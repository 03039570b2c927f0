/* One UART port's captures: segmentation in the receive interrupt and the lock-free
 * single-producer/single-consumer ring that carries them to the main loop. */
#include "fw_capture.h"

#include <stddef.h>

#include "fw.h"
#include "m7bridge/wire.h"

/* The indices are 32-bit, so plain loads and stores are single-copy atomic on the M7;
 * acquire/release orders the ring contents against them (a DMB on Cortex-M). */
#define LOAD_ACQ(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#define DATA_MASK (FW_RX_RING_SIZE - 1u)
#define DESC_MASK (FW_CAPTURE_QUEUE - 1u)

void fw_capture_init(struct fw_capture *c, uint32_t idle_gap, int16_t delimiter, uint16_t max_len)
{
	/* A freestanding environment still provides memset (GCC requires it). */
	__builtin_memset(c, 0, sizeof(*c));
	c->idle_gap = idle_gap;
	c->delimiter = delimiter;
	c->max_len = max_len ? max_len : 1u;
}

/* Ticks from `then` to `now`, 0 when `now` is older. Modulo 2^64, so a gap that spans
 * the counter's wrap is measured like any other. */
static uint64_t fw_capture_since(uint64_t now, uint64_t then)
{
	return (int64_t)(now - then) > 0 ? now - then : 0;
}

/* Publishes the open part; false when the descriptor queue is full. */
static bool publish(struct fw_capture *c, uint8_t extra_flags)
{
	uint32_t head = c->desc_head;
	struct fw_capture_desc *d;

	if (head - LOAD_ACQ(&c->desc_tail) >= FW_CAPTURE_QUEUE)
		return false;
	d = &c->desc[head & DESC_MASK];
	d->t_first = c->t_first;
	d->t_last = c->t_last;
	d->start = c->start;
	d->len = c->len;
	d->flags = (uint8_t)(c->flags | extra_flags);
	STORE_REL(&c->desc_head, head + 1u);
	return true;
}

/* Throws the open part's bytes away; the rest of the part follows them. len keeps
 * counting the part's bytes so that the part still ends at max_len. */
static void discard(struct fw_capture *c)
{
	c->wr = c->start;
	c->dropping = true;
}

/* Ends the open capture: publishes its last part or counts it as dropped. */
static void close_capture(struct fw_capture *c)
{
	if (!c->open)
		return;
	if (!c->dropping && c->len > 0 && !publish(c, 0))
		discard(c);
	if (c->dropping)
		c->stats.dropped++;
	c->open = false;
	c->dropping = false;
	c->len = 0;
	c->start = c->wr;
}

void fw_capture_rx(struct fw_capture *c, uint8_t byte, uint32_t err, uint64_t tick)
{
	uint8_t flags = 0;

	c->stats.rx_bytes++;
	if (err & FW_RX_OVERRUN) {
		c->stats.overruns++;
		flags |= M7B_DATA_OVERRUN;
	}
	if (err & FW_RX_LINE_ERROR) {
		c->stats.line_errors++;
		flags |= M7B_DATA_LINE_ERROR;
	}

	if (c->open && c->idle_gap != 0 && fw_capture_since(tick, c->t_last) >= c->idle_gap)
		close_capture(c);

	if (c->open && c->len >= c->max_len) {
		/* Split lazily, when a byte beyond the limit arrives: a capture of exactly
		 * max_len bytes then goes out whole, without a CONTINUED that nothing follows. */
		if (c->dropping) {
			/* A capture longer than a part went on while the ring was full: count the
			 * lost part and try the next one, flagged OVERRUN (bytes were lost before
			 * it), so an endless stream recovers once the link catches up. */
			c->stats.dropped++;
			c->dropping = false;
			c->start = c->wr;
			c->len = 0;
			c->flags = M7B_DATA_OVERRUN;
		} else if (publish(c, M7B_DATA_CONTINUED)) {
			c->start = c->wr;
			c->len = 0;
			c->flags = 0;
		} else {
			discard(c);
		}
	}

	if (!c->open) {
		c->open = true;
		c->dropping = false;
		c->start = c->wr;
		c->len = 0;
		c->flags = 0;
		c->t_first = tick;
	}
	c->t_last = tick;

	if (!c->dropping && c->wr - LOAD_ACQ(&c->data_tail) >= FW_RX_RING_SIZE)
		discard(c);
	if (!c->dropping) {
		c->data[c->wr & DATA_MASK] = byte;
		c->wr++;
		c->flags |= flags;
	}
	c->len++;

	if (c->delimiter >= 0 && byte == (uint8_t)c->delimiter)
		close_capture(c);
}

bool fw_capture_idle(struct fw_capture *c, uint64_t now)
{
	if (!c->open || c->idle_gap == 0 || fw_capture_since(now, c->t_last) < c->idle_gap)
		return false;
	close_capture(c);
	return true;
}

uint64_t fw_capture_deadline(const struct fw_capture *c)
{
	if (!c->open || c->idle_gap == 0)
		return UINT64_MAX;
	return c->t_last + c->idle_gap;
}

const struct fw_capture_desc *fw_capture_peek(struct fw_capture *c)
{
	uint32_t tail = c->desc_tail;

	if (tail == LOAD_ACQ(&c->desc_head))
		return NULL;
	return &c->desc[tail & DESC_MASK];
}

void fw_capture_bytes(const struct fw_capture *c, const struct fw_capture_desc *d,
		      const uint8_t **p1, uint16_t *n1, const uint8_t **p2, uint16_t *n2)
{
	uint32_t off = d->start & DATA_MASK;
	uint32_t first = FW_RX_RING_SIZE - off;

	*p1 = &c->data[off];
	if (d->len <= first) {
		*n1 = d->len;
		*p2 = NULL;
		*n2 = 0;
	} else {
		*n1 = (uint16_t)first;
		*p2 = &c->data[0];
		*n2 = (uint16_t)(d->len - first);
	}
}

void fw_capture_release(struct fw_capture *c)
{
	uint32_t tail = c->desc_tail;
	const struct fw_capture_desc *d = &c->desc[tail & DESC_MASK];

	STORE_REL(&c->data_tail, d->start + d->len);
	STORE_REL(&c->desc_tail, tail + 1u);
}
