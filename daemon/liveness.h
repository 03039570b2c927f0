/* Link liveness: when the link is quiet, PING and expect a HEARTBEAT by a deadline; a
 * stall (no frames, no answer) is reported even when the kernel says nothing. Pure. */
#ifndef M7B_LIVENESS_H
#define M7B_LIVENESS_H

#include <stdbool.h>
#include <stdint.h>

struct liveness_config {
	uint32_t quiet_ms;  /* no frame for this long: send PING */
	uint32_t answer_ms; /* a HEARTBEAT must follow a PING within this */
	uint32_t retries;   /* unanswered PINGs resent before declaring a stall */
};

enum liveness_action {
	LIVENESS_NONE = 0,
	LIVENESS_SEND_PING,
	LIVENESS_STALL, /* reported once per stall */
};

struct liveness {
	struct liveness_config cfg;
	bool running;
	bool waiting; /* a PING is outstanding */
	bool strict;  /* only a HEARTBEAT answers it (probe after a kernel fault) */
	bool stalled;
	bool stall_probe; /* the last stall ended a probe: frames may have kept coming */
	bool stall_deaf;  /* ... the probe the deaf watch began (below) */
	/* The firmware's count of frames it took from the host, from the last HEARTBEAT
	 * that carried it, and as it was when the strict probe began. */
	bool hb_known, probe_known;
	uint32_t hb_host_frames, probe_host_frames;
	/* The deaf watch: the host's own count of frames written, at the HEARTBEAT where
	 * host_frames last moved and at the one after; the probe it began; whether it has
	 * spoken since host_frames last moved (once per deaf spell); a PING it asks for. */
	uint32_t deaf_sent_base, deaf_sent_prev;
	bool deaf_probe, deaf_latched, probe_due;
	uint32_t misses;
	uint64_t last_rx_ms;
	uint64_t ping_ms;
	uint64_t pings, stalls; /* counters for status */
};

/* Defaults: quiet 2 s, answer 1 s, 1 retry. */
void liveness_config_default(struct liveness_config *cfg);

/* Sets up a stopped watcher. */
void liveness_init(struct liveness *l, const struct liveness_config *cfg);

/* The link was (re)opened at now: start watching from a clean slate, but for a deaf
 * spell still going on (see liveness_on_heartbeat()). */
void liveness_start(struct liveness *l, uint64_t now_ms);

/* The channel was published up (from any other state): a deaf spell going on is over
 * for the watch, which finds the M7 deaf again as a new fault. */
void liveness_link_up(struct liveness *l);

/* Carries into l (just initialised with new settings, stopped) what outlives a change of
 * them: what the M7's HEARTBEATs showed, a deaf spell going on, the counters. */
void liveness_carry(struct liveness *l, const struct liveness *old);

/* The link was closed: nothing to watch. */
void liveness_stop(struct liveness *l);

/* A valid frame arrived; heartbeat says whether it was a HEARTBEAT. True when the
 * deadline may have moved earlier (a PING answered, a stall ended): re-arm the timer.
 * Otherwise it only moved later, and a timer left at the old deadline stays correct.
 * Inline: it runs for every frame. */
static inline bool liveness_on_frame(struct liveness *l, uint64_t now_ms, bool heartbeat)
{
	if (!l->running)
		return false;
	l->last_rx_ms = now_ms;
	/* The steady case, every frame on a busy link: the quiet deadline only moves later,
	 * so the timer need not follow it (the tick re-checks and re-arms). */
	if (!l->waiting && !l->stalled)
		return false;
	l->stalled = false;
	/* After a kernel fault any DATA still arriving proves only the M7->Linux half: the
	 * probe waits for the HEARTBEAT that answers its PING. */
	if (l->waiting && (heartbeat || !l->strict)) {
		l->waiting = false;
		l->strict = false;
		l->deaf_probe = false;
		l->misses = 0;
	}
	return true;
}

/* A HEARTBEAT: liveness_on_frame() for it, with the firmware's count of valid frames
 * it received from the host (host_frames), or -1 when the frame carries none, and sent,
 * a count of the frames the host has written that moves with each one (a sequence number
 * will do). The firmware sends one every period whether or not it still takes Linux's
 * messages: during a probe, one whose count did not move since the probe began does not
 * answer it. Outside a probe, host_frames still at a HEARTBEAT two after the one where the
 * host had written frames begins a probe (the deaf watch): the next tick PINGs. */
bool liveness_on_heartbeat(struct liveness *l, uint64_t now_ms, int64_t host_frames, uint32_t sent);

/* Time passed; says whether to PING or that the link stalled. */
enum liveness_action liveness_tick(struct liveness *l, uint64_t now_ms);

/* Checks the link now (after a degraded kernel fault): PING unless one is outstanding;
 * only a HEARTBEAT will answer it. */
enum liveness_action liveness_probe(struct liveness *l, uint64_t now_ms);

/* When tick must run next (at once when the deaf watch asks for a PING); 0 when stopped or
 * stalled. */
uint64_t liveness_deadline(const struct liveness *l);

/* Name of an action, for logs. */
const char *liveness_action_to_string(enum liveness_action a);

#endif
