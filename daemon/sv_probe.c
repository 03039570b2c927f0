/* Liveness of raw channels: the user's probe (probe.c) driven from a timer, its bytes
 * written as they are, its miss raised as a stall like a wire channel's PING timeout. */
#include "sv.h"

#include <errno.h>
#include <stdio.h>

#include <event2/event.h>

static void rearm(struct sv_chan *c)
{
	uint64_t d = probe_deadline(&c->probe);
	if (d == UINT64_MAX)
		evtimer_del(c->ev_probe);
	else
		sv_chan_arm(c->ev_probe, d);
}

static void sv_probe_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	uint64_t now = daemon_now_ms();
	char detail[128];

	switch (probe_tick(&c->probe, now)) {
	case PROBE_SEND:
		/* A full writer is the answer too: the firmware is not reading. */
		if (c->probe.cfg.send_len &&
		    channel_write_raw(c->ch, c->probe.cfg.send, c->probe.cfg.send_len) < 0)
			sv_chan_note(c, INCIDENT_STATE, "probe not written");
		break;
	case PROBE_MISS:
		if (sv_fault_stall_held(c, "probe"))
			break;
		snprintf(detail, sizeof(detail), "no answer to the probe within %u ms",
			 c->probe.cfg.timeout_ms);
		sv_fault_raise(c, "stall", detail, "probe", RECOVERY_SEV_DOWN, 0);
		break;
	case PROBE_NONE:
		break;
	}
	rearm(c);
	sv_chan_flush(c);
}

int sv_probe_init(struct sv_chan *c)
{
	const struct supervisor_channel_conf *s = &channel_config(c->ch)->sup;
	struct probe_config pc = {.period_ms = s->probe_period_ms,
				  .timeout_ms = s->probe_timeout_ms};

	if (!channel_is_raw(c->ch) || !s->probe_period_ms)
		return 0;
	/* Checked when the file was read: these parse. */
	(void)probe_parse_bytes(s->probe_send, pc.send, sizeof(pc.send), &pc.send_len);
	(void)probe_parse_bytes(s->probe_expect, pc.expect, sizeof(pc.expect), &pc.expect_len);
	probe_init(&c->probe, &pc);
	c->ev_probe = evtimer_new(daemon_base(c->sv->d), sv_probe_on_timer, c);
	return c->ev_probe ? 0 : -ENOMEM;
}

void sv_probe_on_state(struct sv_chan *c)
{
	if (!c->ev_probe)
		return;
	if (channel_is_open(c->ch) && !c->probe.running)
		probe_start(&c->probe, daemon_now_ms());
	else if (!channel_is_open(c->ch))
		probe_stop(&c->probe);
	rearm(c);
}

void sv_probe_on_raw(void *ud, struct channel *ch, const struct channel_raw *r)
{
	struct sv_chan *c = sv_chan_of(ud, ch);
	if (c && c->ev_probe && probe_feed(&c->probe, r->data, r->len, daemon_now_ms()))
		rearm(c);
}
