/* The daemon side of replay: published frames into per-channel rings, watch positions
 * into ring cursors, chunks queued as the client drains, REPLAY_GAP for what is gone. */
#include "replay.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "replayring.h"

struct replay_conn {
	uint64_t cursor[CONF_MAX_CHANNELS];    /* next ring index to queue */
	uint64_t live_from[CONF_MAX_CHANNELS]; /* first index received after the watch */
};

struct replay {
	struct replay_fast fast; /* first: replay_record() reads it through a replay * */
	struct daemon *d;
	size_t ring_kib[CONF_MAX_CHANNELS];
	unsigned ring_age_s[CONF_MAX_CHANNELS];
	uint64_t unsure;    /* slots whose ring must be checked against the configuration */
	uint64_t replaying; /* slots that may have replaying clients (cleared when none has) */
	uint64_t fresh_until[CONF_MAX_CHANNELS]; /* nothing in the ring is too old until then */
	bool pumping; /* a gap's reply flushes, and a flush asks for more: no re-entry */
	char line[PROTO_FRAME_MAX + 32];
};
_Static_assert(offsetof(struct replay, fast) == 0, "struct replay: fast first");

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Renders one REPLAY_GAP line; has_range adds which boot/seq range is gone. */
static int render_gap(char *buf, size_t cap, const struct chanjson *names, uint64_t frames,
		      bool exact, const struct replayring_start *st)
{
	int n = snprintf(buf, cap,
			 "{\"class\":\"REPLAY_GAP\",\"channel\":%s,\"frames\":%" PRIu64
			 ",\"exact\":%s",
			 names->name, frames, exact ? "true" : "false");
	if (n > 0 && st && st->has_range && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n,
			      ",\"first_boot_id\":%" PRIu32 ",\"first_seq\":%" PRIu32
			      ",\"last_boot_id\":%" PRIu32 ",\"last_seq\":%" PRIu32,
			      st->first_boot, st->first_seq, st->last_boot, st->last_seq);
	if (n > 0 && (size_t)n < cap)
		n += snprintf(buf + n, cap - (size_t)n, "}\n");
	return n > 0 && (size_t)n < cap ? n : -ENOSPC;
}

/* A gap is a reply-class object: never dropped, so nothing is lost silently. */
static void send_gap(struct replay *rp, struct conn *c, unsigned slot, uint64_t frames, bool exact,
		     const struct replayring_start *st)
{
	int n = render_gap(rp->line, sizeof(rp->line), &rp->d->names[slot], frames, exact, st);
	if (n > 0)
		conn_reply(c, rp->line, (size_t)n);
}

/* Renders record e as a FRAME for c; replayed ones end with the boot id they belong to
 * (when known) and "replay":true. */
static int render_rec(struct replay *rp, const struct conn *c, unsigned slot,
		      const struct replayring_rec *e, bool replayed)
{
	struct proto_frame pf;
	replayring_frame_out(e, &pf);
	/* Room for the marker: ,"boot_id":4294967295,"replay":true}\n */
	size_t cap = sizeof(rp->line) - 40;
	int n = proto_render_frame(rp->line, cap, &rp->d->names[slot].frame, &pf, e->bytes,
				   c->encoding);
	if (n < 2 || !replayed)
		return n;
	n -= 2; /* over the closing "}\n" */
	if (e->boot_id)
		n += snprintf(rp->line + n, 24, ",\"boot_id\":%" PRIu32, e->boot_id);
	memcpy(rp->line + n, ",\"replay\":true}\n", 16);
	return n + 16;
}

/* Queues slot's records for c while its queue is below half; false when it must wait. */
static bool pump_slot(struct replay *rp, struct conn *c, unsigned slot)
{
	struct replay_conn *rc = c->replay;
	const struct replayring *ring = rp->fast.ring[slot];
	if (!ring) {
		c->replay_mask &= ~(1ull << slot);
		conn_frame_update(c);
		return true;
	}
	for (;;) {
		if (conn_queued(c) > c->queue_limit / 2)
			return false;
		uint64_t first = replayring_first(ring);
		if (rc->cursor[slot] < first) {
			/* Evicted while this client was catching up: said, not silent. */
			send_gap(rp, c, slot, first - rc->cursor[slot], true, NULL);
			rc->cursor[slot] = first;
		}
		const struct replayring_rec *e = replayring_get(ring, rc->cursor[slot]);
		if (!e) {
			c->replay_mask &= ~(1ull << slot); /* caught up: live from here on */
			conn_frame_update(c);
			return true;
		}
		if (c->ports[e->port >> 6] >> (e->port & 63) & 1) {
			int n = render_rec(rp, c, slot, e, rc->cursor[slot] < rc->live_from[slot]);
			if (n > 0 && !conn_offer(c, rp->line, (size_t)n))
				return false;
		}
		rc->cursor[slot]++;
	}
}

static void pump(struct replay *rp, struct conn *c)
{
	if (rp->pumping)
		return;
	rp->pumping = true;
	for (unsigned s = 0; s < CONF_MAX_CHANNELS && c->replay_mask && !c->closing; s++)
		if (c->replay_mask >> s & 1 && !pump_slot(rp, c, s))
			break;
	rp->pumping = false;
}

void replay_on_drain(void *ud, struct conn *c)
{
	struct daemon *d = ud;
	if (d->replay)
		pump(d->replay, c);
}

/* Where c starts in slot's ring; says what is gone. False: nothing to replay. */
static bool start_slot(struct replay *rp, struct conn *c, unsigned slot,
		       const struct proto_request *req, uint64_t now)
{
	struct replayring *ring = rp->fast.ring[slot];
	struct replayring_start st = {.exact = false};
	if (ring) {
		replayring_expire(ring, now);
		if (req->since == PROTO_SINCE_SEQ)
			replayring_find_seq(ring, req->since_boot_id, req->since_seq, &st);
		else
			replayring_find_time(ring, req->since_ns, &st);
	}
	if (st.missing || !st.exact)
		send_gap(rp, c, slot, st.missing, st.exact, &st);
	if (!ring || st.index == replayring_end(ring))
		return false;
	c->replay->cursor[slot] = st.index;
	c->replay->live_from[slot] = replayring_end(ring);
	return true;
}

void replay_watch(struct replay *rp, struct conn *c, const struct proto_request *req)
{
	c->replay_mask = 0;
	conn_frame_update(c);
	if (req->since == PROTO_SINCE_NONE || !(c->classes & PROTO_C_FRAME))
		return;
	if (!c->replay && !(c->replay = calloc(1, sizeof(*c->replay)))) {
		char buf[256];
		int n = proto_render_error(buf, sizeof(buf), "", PROTO_E_INTERNAL,
					   "out of memory: no replay", NULL);
		if (n > 0)
			conn_reply(c, buf, (size_t)n);
		return;
	}
	uint64_t now = realtime_ns();
	for (unsigned s = 0; s < CONF_MAX_CHANNELS; s++)
		if (rp->d->channels[s] && (c->chan_mask >> s & 1) && start_slot(rp, c, s, req, now))
			c->replay_mask |= 1ull << s;
	rp->replaying |= c->replay_mask;
	for (unsigned s = 0; s < CONF_MAX_CHANNELS; s++)
		if (c->replay_mask >> s & 1)
			rp->fast.until[s] = 0;
	conn_frame_update(c);
	pump(rp, c);
	conn_flush(c);
}

/* Whether slot's ring must be checked against the configuration with its next frame;
 * publish.c hands over the frames of slots with a ring or a check due. */
static void mark(struct replay *rp, unsigned slot, bool unsure)
{
	if (unsure) {
		rp->unsure |= 1ull << slot;
		rp->fast.until[slot] = 0;
	}
	if (unsure || rp->fast.ring[slot])
		rp->d->replay_slots |= 1ull << slot;
}

/* Clients still replaying slot lose their cursor (ring replaced or channel gone). */
static void abandon_slot(struct replay *rp, unsigned slot)
{
	const struct replayring *ring = rp->fast.ring[slot];
	for (struct conn *c = rp->d->clients; c; c = c->next) {
		if (!(c->replay_mask >> slot & 1))
			continue;
		uint64_t left = ring ? replayring_end(ring) - c->replay->cursor[slot] : 0;
		send_gap(rp, c, slot, left, false, NULL);
		c->replay_mask &= ~(1ull << slot);
		conn_frame_update(c);
	}
}

/* The ring of slot as configured: made on first use, remade when its bounds change. Kept
 * out of line, so that the per-frame path needs no stack frame for it. */
static __attribute__((noinline)) struct replayring *ring_for(struct replay *rp, struct channel *ch,
							     unsigned slot)
{
	const struct conf_channel *cfg = channel_config(ch);
	rp->unsure &= ~(1ull << slot);
	if (rp->fast.ring[slot] && rp->ring_kib[slot] == cfg->replay_kib &&
	    rp->ring_age_s[slot] == cfg->replay_max_age_s)
		return rp->fast.ring[slot];
	abandon_slot(rp, slot);
	rp->fast.ring[slot] = replayring_free(rp->fast.ring[slot]);
	rp->ring_kib[slot] = cfg->replay_kib;
	rp->ring_age_s[slot] = cfg->replay_max_age_s;
	rp->d->replay_slots &= ~(1ull << slot);
	if (cfg->replay_kib == 0)
		return NULL;
	rp->fast.ring[slot] = replayring_new((size_t)cfg->replay_kib * 1024,
					     (uint64_t)cfg->replay_max_age_s * 1000000000ull);
	rp->fresh_until[slot] = 0;
	if (!rp->fast.ring[slot]) {
		/* Tried again when the configuration is next read (a reload), not with every
		 * frame: each try would cost the frame an allocation and the journal a line. */
		channel_log_errno(ch, LOG_WARNING, -ENOMEM,
				  "no replay ring of %u KiB: %m; no replay until a reload",
				  cfg->replay_kib);
		return NULL;
	}
	mark(rp, slot, false);
	return rp->fast.ring[slot];
}

/* Every client replaying slot queues what it can of the ring; slot is forgotten when none
 * replays it any more. */
static __attribute__((noinline)) void pump_all(struct replay *rp, unsigned slot)
{
	bool any = false;
	for (struct conn *c = rp->d->clients; c; c = c->next)
		if (c->replay_mask >> slot & 1) {
			any = true;
			pump(rp, c);
		}
	if (!any)
		rp->replaying &= ~(1ull << slot);
}

/* replay_record() when records may be too old, while a client replays the channel or when
 * the ring must be checked against the configuration: the ring expired at the frame's
 * receive time, the frame stored, the clients pumped. It says until when the inline path
 * holds. */
void replay_record_more(struct replay *rp, struct channel *ch, unsigned slot,
			const struct proto_frame *f, const uint8_t *bytes, uint64_t rx_ns)
{
	struct replayring *ring = rp->fast.ring[slot];
	rp->fast.until[slot] = 0;
	/* The configuration is looked at only when it may have changed. */
	if (rp->unsure >> slot & 1)
		ring = ring_for(rp, ch, slot);
	if (!ring)
		return;
	/* Nothing is too old before the oldest record's time is up; evictions for room only
	 * make that later, so the time kept errs early. */
	if (rx_ns > rp->fresh_until[slot])
		rp->fresh_until[slot] = replayring_expire(ring, rx_ns);
	/* Clients replaying this channel get the new frame in order, after the rest. */
	if (replayring_put(ring, f, rp->fast.boot[slot], rx_ns, bytes) == 0 &&
	    (rp->replaying >> slot & 1))
		pump_all(rp, slot);
	/* Pumping may have changed anything: the next frames take the short way only when
	 * all of it holds now. */
	if (rp->fast.ring[slot] == ring && !((rp->unsure | rp->replaying) >> slot & 1))
		rp->fast.until[slot] = rp->fresh_until[slot] == UINT64_MAX
					       ? UINT64_MAX
					       : rp->fresh_until[slot] + 1;
}

void replay_boot(struct replay *rp, unsigned slot, uint32_t boot_id)
{
	rp->fast.boot[slot] = boot_id;
}

static void replay_on_channel(void *ud, struct channel *ch, bool added)
{
	struct replay *rp = ud;
	unsigned slot = channel_slot(ch);
	mark(rp, slot, true);
	if (added)
		return;
	abandon_slot(rp, slot);
	rp->fast.ring[slot] = replayring_free(rp->fast.ring[slot]);
	rp->fast.boot[slot] = 0;
}

static void replay_on_config(void *ud, struct channel *ch)
{
	struct replay *rp = ud;
	mark(rp, channel_slot(ch), true);
}

int replay_new(struct daemon *d, struct replay **out)
{
	*out = NULL;
	struct replay *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	rp->d = d;
	struct daemon_observer o = {
		.on_channel = replay_on_channel,
		.on_config = replay_on_config,
		.ud = rp,
	};
	int r = daemon_add_observer(d, &o);
	if (r < 0) {
		free(rp);
		return r;
	}
	*out = rp;
	return 0;
}

struct replay *replay_free(struct replay *rp)
{
	if (!rp)
		return NULL;
	daemon_remove_observer(rp->d, rp);
	rp->d->replay_slots = 0; /* no frame is handed over any more */
	for (unsigned s = 0; s < CONF_MAX_CHANNELS; s++)
		replayring_free(rp->fast.ring[s]);
	free(rp);
	return NULL;
}
