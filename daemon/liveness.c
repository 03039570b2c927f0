/* Link liveness watcher: quiet period -> PING -> deadline -> stall. Pure: time is passed in. */
#include "liveness.h"
#include "macro.h"

#include <string.h>

void liveness_config_default(struct liveness_config *cfg)
{
	/* The firmware sends a HEARTBEAT every second by default: 2 s of silence is already
	 * unusual, and a PING is answered at once, so 1 s is generous even under load. */
	cfg->quiet_ms = 2000;
	cfg->answer_ms = 1000;
	cfg->retries = 1;
}

void liveness_init(struct liveness *l, const struct liveness_config *cfg)
{
	memset(l, 0, sizeof(*l));
	l->cfg = *cfg;
}

void liveness_start(struct liveness *l, uint64_t now_ms)
{
	l->running = true;
	l->waiting = false;
	l->strict = false;
	l->stalled = false;
	/* A deaf spell outlives a reopen of the tty (a recovery step's): the M7 and its
	 * count of the host's frames are the same, so the spell is not found and said
	 * again, and its PINGs go on (the first a quiet time after the open), for a failed
	 * channel to see the M7 hear again. A restarted M7 counts from 0: its first
	 * HEARTBEAT ends the spell. A spell no count backs (a probe that a kernel fault
	 * began, before any HEARTBEAT carried one) has nothing to go on from. */
	if (l->deaf_latched && l->hb_known) {
		l->ping_ms = now_ms;
	} else {
		l->hb_known = false;
		l->deaf_latched = false;
	}
	l->probe_known = false;
	l->deaf_probe = false;
	l->probe_due = false;
	l->misses = 0;
	l->last_rx_ms = now_ms;
}

void liveness_link_up(struct liveness *l)
{
	/* The spell was said for a link that is now up again: still deaf, it is a new
	 * fault, for the watch to find from the next HEARTBEATs. */
	l->deaf_latched = false;
	l->hb_known = false;
}

void liveness_carry(struct liveness *l, const struct liveness *old)
{
	/* What the M7 showed, the deaf spell and the counters; the watch itself starts
	 * again (liveness_start) with the new timings. */
	l->hb_known = old->hb_known;
	l->hb_host_frames = old->hb_host_frames;
	l->deaf_latched = old->deaf_latched;
	l->deaf_sent_base = old->deaf_sent_base;
	l->deaf_sent_prev = old->deaf_sent_prev;
	l->ping_ms = old->ping_ms;
	l->pings = old->pings;
	l->stalls = old->stalls;
}

void liveness_stop(struct liveness *l)
{
	l->running = false;
	l->waiting = false;
	l->strict = false;
	l->deaf_probe = false;
	l->probe_due = false;
}

static enum liveness_action send_ping(struct liveness *l, uint64_t now_ms)
{
	l->waiting = true;
	l->probe_due = false;
	l->ping_ms = now_ms;
	l->pings++;
	return LIVENESS_SEND_PING;
}

enum liveness_action liveness_tick(struct liveness *l, uint64_t now_ms)
{
	if (!l->running || l->stalled)
		return LIVENESS_NONE;
	if (!l->waiting) {
		if (l->probe_due)
			return send_ping(l, now_ms);
		/* Deaf, its HEARTBEATs go on: a PING now and then gives an M7 that takes
		 * frames again something to count, or nothing would show it (a failed
		 * channel writes nothing else). */
		if (l->deaf_latched && now_ms - l->ping_ms >= l->cfg.quiet_ms) {
			l->strict = false;
			return send_ping(l, now_ms);
		}
		if (now_ms - l->last_rx_ms < l->cfg.quiet_ms)
			return LIVENESS_NONE;
		l->strict = false;
		return send_ping(l, now_ms);
	}
	if (now_ms - l->ping_ms < l->cfg.answer_ms)
		return LIVENESS_NONE;
	if (++l->misses <= l->cfg.retries)
		return send_ping(l, now_ms);
	l->stalled = true;
	l->stall_probe = l->strict;
	l->stall_deaf = l->deaf_probe;
	/* Whatever began the probe, the M7 was found deaf: the watch has nothing to add. */
	l->deaf_latched = l->deaf_latched || l->strict;
	l->waiting = false;
	l->strict = false;
	l->deaf_probe = false;
	l->misses = 0;
	l->stalls++;
	return LIVENESS_STALL;
}

/* The deaf watch. Without a kernel log (or with a kernel that says nothing) an M7 that
 * stopped taking the host's frames goes on sending its periodic HEARTBEATs, so the link
 * never goes quiet: only their host_frames shows it. Frames written before one HEARTBEAT
 * have had a whole period to arrive by the next; a count that still has not moved then
 * begins a probe. True when it did. */
static bool deaf_watch(struct liveness *l, uint32_t host_frames, uint32_t sent)
{
	if (!l->hb_known || host_frames != l->hb_host_frames) {
		l->deaf_sent_base = l->deaf_sent_prev = sent;
		l->deaf_latched = false;
		return false;
	}
	bool deaf = l->deaf_sent_prev != l->deaf_sent_base;

	l->deaf_sent_prev = sent;
	if (!deaf || l->deaf_latched || l->waiting || l->stalled || l->probe_due)
		return false;
	l->deaf_latched = true;
	l->deaf_probe = true;
	l->probe_due = true;
	l->strict = true;
	l->probe_known = true;
	l->probe_host_frames = host_frames;
	return true;
}

bool liveness_on_heartbeat(struct liveness *l, uint64_t now_ms, int64_t host_frames, uint32_t sent)
{
	/* A periodic HEARTBEAT of an M7 deaf to the mailbox (the kick failure that began the
	 * probe) shows the same count as before it: no answer. */
	bool deaf = host_frames >= 0 && l->waiting && l->strict && l->probe_known &&
		    (uint32_t)host_frames == l->probe_host_frames;
	bool probe = false;

	if (host_frames >= 0 && l->running) {
		probe = deaf_watch(l, (uint32_t)host_frames, sent);
		l->hb_known = true;
		l->hb_host_frames = (uint32_t)host_frames;
	}
	return liveness_on_frame(l, now_ms, !deaf) || probe;
}

enum liveness_action liveness_probe(struct liveness *l, uint64_t now_ms)
{
	if (!l->running || l->stalled)
		return LIVENESS_NONE;
	if (!l->strict) {
		l->probe_known = l->hb_known;
		l->probe_host_frames = l->hb_host_frames;
	}
	l->strict = true;
	if (l->waiting)
		return LIVENESS_NONE;
	return send_ping(l, now_ms);
}

uint64_t liveness_deadline(const struct liveness *l)
{
	if (!l->running || l->stalled)
		return 0;
	if (l->waiting)
		return l->ping_ms + l->cfg.answer_ms;
	if (l->probe_due)
		return l->last_rx_ms;
	if (l->deaf_latched && l->ping_ms < l->last_rx_ms)
		return l->ping_ms + l->cfg.quiet_ms;
	return l->last_rx_ms + l->cfg.quiet_ms;
}

static const char *const liveness_action_names[] = {
	[LIVENESS_NONE] = "none",
	[LIVENESS_SEND_PING] = "send_ping",
	[LIVENESS_STALL] = "stall",
};
DEFINE_STRING_TABLE_LOOKUP(liveness_action, enum liveness_action, liveness_action_names)
