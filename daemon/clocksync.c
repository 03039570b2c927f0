/* Clock sync: periodic SYNC to each up channel, SYNC_REPLY into its clockmap, and the
 * tick -> CLOCK_REALTIME mapper the daemon uses for FRAME t_first_ns / t_last_ns. */
#include "clocksync.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "clockmap.h"
#include "daemon.h"

struct cs_chan {
	struct channel *ch; /* NULL: slot unused */
	struct clockmap map;
	bool have_boot;
	uint32_t boot_id;
	unsigned exchanges; /* since the last reset */
	uint64_t next_ms;   /* when the next SYNC is due */
};

struct clocksync {
	struct daemon *d;
	struct event *tick;
	int64_t real_minus_mono_ns; /* refreshed every tick: mapping stays two adds */
	struct cs_chan chans[CONF_MAX_CHANNELS];
};

static uint64_t ns_of(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void send_sync(struct cs_chan *c)
{
	uint8_t pl[16];
	struct m7b_sync s = {.host_time = ns_of(CLOCK_MONOTONIC)};
	int n = m7b_wire_pack_sync(pl, sizeof pl, &s);
	if (n > 0)
		(void)channel_write_frame(c->ch, M7B_T_SYNC, 0, 0, pl, (size_t)n, NULL);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct clocksync *cs = arg;
	cs->real_minus_mono_ns = (int64_t)(ns_of(CLOCK_REALTIME) - ns_of(CLOCK_MONOTONIC));
	uint64_t now = daemon_now_ms();
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct cs_chan *c = &cs->chans[i];
		if (!c->ch || channel_get_state(c->ch) != CHANNEL_UP || !c->have_boot ||
		    now < c->next_ms)
			continue;
		send_sync(c);
		c->next_ms = now + (c->exchanges < CLOCKSYNC_FAST_COUNT ? CLOCKSYNC_FAST_MS
									: CLOCKSYNC_SLOW_MS);
	}
}

static void on_msg(void *ud, struct channel *ch, const struct channel_msg *m)
{
	struct clocksync *cs = ud;
	/* Only two types matter here; DATA, the bulk, leaves at the first test. */
	uint8_t type = m->frame->type;
	if ((type != M7B_T_HELLO && type != M7B_T_SYNC_REPLY) || m->bad_payload ||
	    channel_slot(ch) >= CONF_MAX_CHANNELS)
		return;
	struct cs_chan *c = &cs->chans[channel_slot(ch)];
	c->ch = ch;
	if (m->frame->type == M7B_T_HELLO) {
		const struct m7b_hello *h = &m->u.hello;
		/* A new boot (or a new tick rate) starts a new mapping. */
		if (!c->have_boot || h->boot_id != c->boot_id || h->tick_hz != c->map.tick_hz) {
			clockmap_reset(&c->map, h->tick_hz);
			c->exchanges = 0;
		}
		c->have_boot = h->tick_hz != 0;
		c->boot_id = h->boot_id;
		c->next_ms = 0;
	} else if (m->frame->type == M7B_T_SYNC_REPLY && c->have_boot) {
		const struct m7b_sync_reply *r = &m->u.sync_reply;
		struct clockmap_sample s = {.t1_ns = r->host_time,
					    .rx_ticks = r->rx_ticks,
					    .tx_ticks = r->tx_ticks,
					    .t4_ns = ns_of(CLOCK_MONOTONIC)};
		if (clockmap_add(&c->map, &s) == 0)
			c->exchanges++;
	}
}

static void on_channel(void *ud, struct channel *ch, bool added)
{
	struct clocksync *cs = ud;
	if (channel_slot(ch) >= CONF_MAX_CHANNELS)
		return;
	struct cs_chan *c = &cs->chans[channel_slot(ch)];
	memset(c, 0, sizeof *c);
	if (added)
		c->ch = ch;
}

bool clocksync_map(const struct clocksync *cs, unsigned slot, uint64_t ticks, uint64_t *ns)
{
	if (slot >= CONF_MAX_CHANNELS)
		return false;
	const struct cs_chan *c = &cs->chans[slot];
	uint64_t mono;
	if (!c->have_boot || !clockmap_map(&c->map, ticks, &mono))
		return false;
	*ns = (uint64_t)((int64_t)mono + cs->real_minus_mono_ns);
	return true;
}

static bool map_cb(void *ud, const struct channel *ch, uint64_t ticks, uint64_t *ns)
{
	return clocksync_map(ud, channel_slot(ch), ticks, ns);
}

struct clocksync *clocksync_new(struct daemon *d)
{
	struct clocksync *cs = calloc(1, sizeof *cs);
	if (!cs)
		return NULL;
	cs->d = d;
	cs->real_minus_mono_ns = (int64_t)(ns_of(CLOCK_REALTIME) - ns_of(CLOCK_MONOTONIC));
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		cs->chans[i].ch = daemon_channel_at(d, i);
	cs->tick = event_new(daemon_base(d), -1, EV_PERSIST, on_tick, cs);
	struct timeval tv = {0, CLOCKSYNC_FAST_MS * 1000};
	struct daemon_observer o = {.on_msg = on_msg, .on_channel = on_channel, .ud = cs};
	if (!cs->tick || event_add(cs->tick, &tv) < 0 || daemon_add_observer(d, &o) < 0) {
		if (cs->tick)
			event_free(cs->tick);
		free(cs);
		return NULL;
	}
	daemon_set_clock(d, map_cb, cs);
	return cs;
}

struct clocksync *clocksync_free(struct clocksync *cs)
{
	if (!cs)
		return NULL;
	daemon_set_clock(cs->d, NULL, NULL);
	daemon_remove_observer(cs->d, cs);
	event_free(cs->tick);
	free(cs);
	return NULL;
}
