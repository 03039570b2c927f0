/* The daemon side of replay: frames into per-channel rings (an observer), watch positions
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
	struct daemon *d;
	struct replayring *ring[CONF_MAX_CHANNELS];
	size_t ring_kib[CONF_MAX_CHANNELS];
	unsigned ring_age_s[CONF_MAX_CHANNELS];
	uint32_t boot[CONF_MAX_CHANNELS]; /* boot id of the last HELLO, 0 before one */
	bool pumping; /* a gap's reply flushes, and a flush asks for more: no re-entry */
	char line[PROTO_FRAME_MAX + 32];
};

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
	struct proto_frame_names nm = chanjson_frame_names(&rp->d->names[slot], e->port);
	struct proto_frame pf = {
		.port = e->port,
		.flags = e->flags,
		.seq = e->seq,
		.t_first = e->t_first,
		.t_last = e->t_last,
		.nbytes = e->nbytes,
		.late = e->late,
		.has_realtime = e->has_realtime,
		.t_first_ns = e->t_first_ns,
		.t_last_ns = e->t_last_ns,
		.has_mono = e->has_mono,
		.t_first_mono_ns = e->t_first_mono_ns,
		.t_last_mono_ns = e->t_last_mono_ns,
		.t_err_ns = e->t_err_ns,
	};
	/* Room for the marker: ,"boot_id":4294967295,"replay":true}\n */
	size_t cap = sizeof(rp->line) - 40;
	int n = proto_render_frame(rp->line, cap, &nm, &pf, e->bytes, c->encoding);
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
	const struct replayring *ring = rp->ring[slot];
	if (!ring) {
		c->replay_mask &= ~(1ull << slot);
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
	struct replayring *ring = rp->ring[slot];
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
	pump(rp, c);
	conn_flush(c);
}

/* Clients still replaying slot lose their cursor (ring replaced or channel gone). */
static void abandon_slot(struct replay *rp, unsigned slot)
{
	const struct replayring *ring = rp->ring[slot];
	for (struct conn *c = rp->d->clients; c; c = c->next) {
		if (!(c->replay_mask >> slot & 1))
			continue;
		uint64_t left = ring ? replayring_end(ring) - c->replay->cursor[slot] : 0;
		send_gap(rp, c, slot, left, false, NULL);
		c->replay_mask &= ~(1ull << slot);
	}
}

/* The ring of slot as configured: made on first use, remade when its bounds change. */
static struct replayring *ring_for(struct replay *rp, struct channel *ch, unsigned slot)
{
	const struct conf_channel *cfg = channel_config(ch);
	if (rp->ring[slot] && rp->ring_kib[slot] == cfg->replay_kib &&
	    rp->ring_age_s[slot] == cfg->replay_max_age_s)
		return rp->ring[slot];
	abandon_slot(rp, slot);
	rp->ring[slot] = replayring_free(rp->ring[slot]);
	rp->ring_kib[slot] = cfg->replay_kib;
	rp->ring_age_s[slot] = cfg->replay_max_age_s;
	if (cfg->replay_kib == 0)
		return NULL;
	rp->ring[slot] = replayring_new((size_t)cfg->replay_kib * 1024,
					(uint64_t)cfg->replay_max_age_s * 1000000000ull);
	if (!rp->ring[slot])
		channel_log_errno(ch, LOG_WARNING, -ENOMEM, "no replay ring: %m");
	return rp->ring[slot];
}

static void record(struct replay *rp, struct channel *ch, const struct channel_msg *m)
{
	unsigned slot = channel_slot(ch);
	struct replayring *ring = ring_for(rp, ch, slot);
	if (!ring)
		return;
	const struct m7b_data *dd = &m->u.data;
	struct replayring_rec e = {
		.rx_ns = realtime_ns(),
		.t_first = dd->t_first,
		.t_last = dd->t_last,
		.boot_id = rp->boot[slot],
		.seq = m->frame->seq,
		.nbytes = (uint16_t)dd->nbytes,
		.port = m->frame->port,
		.flags = m->frame->flags,
		.late = m->late,
	};
	struct daemon *d = rp->d;
	/* The mapping of this moment: a later one may belong to another firmware run. */
	uint64_t e1, e2;
	if (d->clock_fn &&
	    d->clock_fn(d->clock_ud, ch, dd->t_first, &e.t_first_mono_ns, &e.t_first_ns, &e1) &&
	    d->clock_fn(d->clock_ud, ch, dd->t_last, &e.t_last_mono_ns, &e.t_last_ns, &e2)) {
		e.has_realtime = e.has_mono = 1;
		e.t_err_ns = e1 > e2 ? e1 : e2;
	}
	replayring_expire(ring, e.rx_ns);
	if (replayring_push(ring, &e, dd->bytes) < 0)
		return;
	/* Clients replaying this channel get the new frame in order, after the rest. */
	for (struct conn *c = d->clients; c; c = c->next)
		if (c->replay_mask >> slot & 1)
			pump(rp, c);
}

static void replay_on_msg(void *ud, struct channel *ch, const struct channel_msg *m)
{
	struct replay *rp = ud;
	if (m->bad_payload)
		return;
	if (m->frame->type == M7B_T_HELLO)
		rp->boot[channel_slot(ch)] = m->u.hello.boot_id;
	else if (m->frame->type == M7B_T_DATA)
		record(rp, ch, m);
}

static void replay_on_channel(void *ud, struct channel *ch, bool added)
{
	struct replay *rp = ud;
	unsigned slot = channel_slot(ch);
	if (added)
		return;
	abandon_slot(rp, slot);
	rp->ring[slot] = replayring_free(rp->ring[slot]);
	rp->boot[slot] = 0;
}

int replay_new(struct daemon *d, struct replay **out)
{
	*out = NULL;
	struct replay *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	rp->d = d;
	struct daemon_observer o = {
		.on_msg = replay_on_msg,
		.on_channel = replay_on_channel,
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
	for (unsigned s = 0; s < CONF_MAX_CHANNELS; s++)
		replayring_free(rp->ring[s]);
	free(rp);
	return NULL;
}
