/* Liveness of raw channels through a user-defined probe: bytes to send every period and
 * a pattern to expect within a timeout, matched across read chunks. Pure: time is
 * passed in. */
#ifndef M7B_PROBE_H
#define M7B_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_BYTES_MAX 64

struct probe_config {
	uint8_t send[PROBE_BYTES_MAX]; /* may be empty: only wait for the pattern */
	size_t send_len;
	uint8_t expect[PROBE_BYTES_MAX]; /* empty: any byte answers */
	size_t expect_len;
	unsigned period_ms;  /* from one answer (or miss) to the next probe; 0 = off */
	unsigned timeout_ms; /* from the probe to its answer */
};

enum probe_action {
	PROBE_NONE = 0,
	PROBE_SEND, /* write cfg.send now (the answer is awaited from now) */
	PROBE_MISS, /* no answer in time: a stall */
};

struct probe {
	struct probe_config cfg;
	bool running, waiting;
	uint64_t due_ms; /* next probe (running, !waiting) or its deadline (waiting) */
	size_t matched;	 /* bytes of expect matched so far */
	uint8_t fail[PROBE_BYTES_MAX]; /* KMP: longest proper border of each prefix */
	uint64_t sent, answered, missed;
};

/* Parses a value with C escapes (\r \n \t \\ \xNN) into bytes. 0, or -EINVAL (bad
 * escape) / -E2BIG (more than cap bytes). */
int probe_parse_bytes(const char *text, uint8_t *out, size_t cap, size_t *n);
/* Sets up p (stopped). */
void probe_init(struct probe *p, const struct probe_config *cfg);
/* The link is open: first probe one period from now. */
void probe_start(struct probe *p, uint64_t now_ms);
/* The link is closed: nothing is due. */
void probe_stop(struct probe *p);
/* What to do at now (call at probe_deadline()). */
enum probe_action probe_tick(struct probe *p, uint64_t now_ms);
/* Bytes from the firmware; true when they complete the awaited answer. */
bool probe_feed(struct probe *p, const uint8_t *data, size_t n, uint64_t now_ms);
/* When probe_tick() next has something to do; UINT64_MAX when nothing is due. */
uint64_t probe_deadline(const struct probe *p);

#endif
