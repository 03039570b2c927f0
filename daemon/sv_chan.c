/* The supervisor's per-channel state: set-up from the channel's configuration, teardown,
 * and the small helpers every supervisor file uses. */
#include "sv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

uint64_t sv_chan_realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct log_fields sv_chan_fields(struct sv_chan *c, const char *mid, int err)
{
	return (struct log_fields){.message_id = mid,
				   .channel = channel_name(c->ch),
				   .device = channel_config(c->ch)->device,
				   .err = -err};
}

void sv_chan_note(struct sv_chan *c, enum incident_entry_kind kind, const char *fmt, ...)
{
	char buf[INCIDENT_TEXT_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	incident_ring_text(&c->ring, sv_chan_realtime_us(), kind, buf, strlen(buf));
}

void sv_chan_arm(struct event *ev, uint64_t deadline_ms)
{
	uint64_t now = daemon_now_ms(), d = deadline_ms > now ? deadline_ms - now : 0;
	struct timeval tv = {(time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000};

	evtimer_add(ev, &tv);
}

void sv_chan_flush(struct sv_chan *c)
{
	daemon_flush(c->sv->d);
}

void sv_chan_send_ping(struct sv_chan *c)
{
	if (channel_write_frame(c->ch, M7B_T_PING, 0, 0, NULL, 0, NULL) < 0)
		return; /* the channel logs and closes on write errors */
}

void sv_chan_rearm_liveness(struct sv_chan *c)
{
	uint64_t dl = liveness_deadline(&c->live);

	if (dl)
		sv_chan_arm(c->ev_live, dl);
	else
		evtimer_del(c->ev_live);
}

static void add_virtio(void *arg, const char *name)
{
	(void)klog_scope_learn(arg, name);
}

static void add_names(struct sv_chan *c, const char *list)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
		(void)klog_scope_add(&c->scope, tok);
}

static void build_config(struct sv_chan *c, struct recovery_config *rc, struct liveness_config *lc)
{
	const struct supervisor_channel_conf *s = &channel_config(c->ch)->sup;
	size_t i;

	recovery_config_default(rc);
	(void)recovery_config_parse_steps(rc, s->recovery_steps); /* checked at load */
	for (i = 0; i < rc->n_steps; i++) {
		struct recovery_step_config *st = &rc->steps[i];
		switch (st->step) {
		case RECOVERY_STEP_RESYNC:
			st->timeout_ms = s->resync_timeout_ms;
			st->tries = s->resync_tries;
			break;
		case RECOVERY_STEP_REOPEN:
			st->timeout_ms = s->reopen_timeout_ms;
			break;
		case RECOVERY_STEP_DRIVER:
			st->timeout_ms = s->driver_timeout_ms;
			break;
		case RECOVERY_STEP_REMOTEPROC:
			st->timeout_ms = s->remoteproc_timeout_ms;
			st->tries = s->remoteproc_tries;
			break;
		case RECOVERY_STEP_HOOK:
			st->timeout_ms = s->hook_timeout_ms;
			break;
		default:
			break;
		}
	}
	if (channel_is_raw(c->ch)) {
		/* Resync is HOST_HELLO and HELLO: raw firmware has neither. */
		size_t n = 0;
		for (i = 0; i < rc->n_steps; i++)
			if (rc->steps[i].step != RECOVERY_STEP_RESYNC)
				rc->steps[n++] = rc->steps[i];
		rc->n_steps = n;
	}
	rc->reload_timeout_ms = s->reload_timeout_ms;
	/* The start is the remoteproc step without its stop: the same kernel work to wait. */
	rc->start_timeout_ms = s->remoteproc_timeout_ms;
	/* The verifier's own deadlines come first; this only backs them up. */
	rc->verify_ms = s->reload_probation_ms + s->liveness_answer_ms + 3000;
	rc->backoff_ms = s->recovery_backoff_ms;
	rc->backoff_max_ms = s->recovery_backoff_max_ms > s->recovery_backoff_ms
				     ? s->recovery_backoff_max_ms
				     : s->recovery_backoff_ms;
	rc->budget = s->recovery_budget;
	rc->budget_period_ms = s->recovery_budget_period_ms;
	rc->degraded_limit = s->degraded_limit;
	rc->degraded_window_ms = s->degraded_window_ms;
	if (channel_config(c->ch)->firmware &&
	    recovery_firmware_name_ok(channel_config(c->ch)->firmware))
		snprintf(rc->firmware, sizeof(rc->firmware), "%s", channel_config(c->ch)->firmware);
	lc->quiet_ms = s->liveness_quiet_ms;
	lc->answer_ms = s->liveness_answer_ms;
	lc->retries = s->liveness_retries;
}

struct sv_chan *sv_chan_free(struct sv_chan *c)
{
	if (!c)
		return NULL;
	c->child = child_free(c->child);
	incident_discard(c->inc);
	if (c->ev_rec)
		event_free(c->ev_rec);
	if (c->ev_live)
		event_free(c->ev_live);
	if (c->ev_poll)
		event_free(c->ev_poll);
	if (c->ev_down)
		event_free(c->ev_down);
	if (c->ev_silence)
		event_free(c->ev_silence);
	if (c->ev_inc)
		event_free(c->ev_inc);
	if (c->ev_probe)
		event_free(c->ev_probe);
	if (c->ev_ver)
		event_free(c->ev_ver);
	if (c->ev_start)
		event_free(c->ev_start);
	incident_ring_clear(&c->ring);
	incident_ring_clear(&c->klines);
	remoteproc_free(c->rproc);
	free(c);
	return NULL;
}

struct sv_chan *sv_chan_new(struct supervisor *sv, struct channel *ch)
{
	struct event_base *base = daemon_base(sv->d);
	struct sv_chan *c = calloc(1, sizeof(*c));
	struct recovery_config rc;
	struct liveness_config lc;
	struct log_fields f;

	if (!c)
		return NULL;
	c->sv = sv;
	c->ch = ch;
	c->sup = channel_config(ch)->sup;
	if (channel_config(ch)->firmware && recovery_firmware_name_ok(channel_config(ch)->firmware))
		snprintf(c->conf_firmware, sizeof(c->conf_firmware), "%s",
			 channel_config(ch)->firmware);
	c->ev_rec = evtimer_new(base, sv_action_on_timer, c);
	c->ev_live = evtimer_new(base, sv_fault_on_live_timer, c);
	c->ev_poll = evtimer_new(base, sv_action_on_poll, c);
	c->ev_down = evtimer_new(base, sv_fault_on_down_timer, c);
	c->ev_inc = evtimer_new(base, sv_incident_on_timer, c);
	c->ev_silence = evtimer_new(base, sv_fault_on_silence_timer, c);
	c->ev_ver = evtimer_new(base, sv_verify_on_timer, c);
	c->ev_start = evtimer_new(base, sv_start_on_timer, c);
	if (!c->ev_rec || !c->ev_live || !c->ev_poll || !c->ev_down || !c->ev_inc || !c->ev_ver ||
	    !c->ev_silence || !c->ev_start || incident_ring_init(&c->ring, SV_RING) < 0 ||
	    incident_ring_init(&c->klines, SV_KLINES) < 0)
		return sv_chan_free(c);
	build_config(c, &rc, &lc);
	f = sv_chan_fields(c, NULL, 0);
	if (recovery_config_check(&rc) < 0) {
		log_struct(sv->log, LOG_ERR, &f,
			   "inconsistent recovery settings: recovery disabled");
		rc.n_steps = 0;
	}
	recovery_init(&c->rec, &rc);
	liveness_init(&c->live, &lc);
	streamcheck_init(&c->sc, SV_STREAM_WINDOW_MS, SV_STREAM_MIN_REJECTS);
	/* Its first window opens at the channel's next read, which must then call. */
	channel_decoded_restart(ch);
	silence_init(&c->silence, &channel_config(ch)->sup.expect_rate);
	sv_fault_silence_arm(c, channel_get_state(ch) == CHANNEL_UP);
	if (sv_probe_init(c) < 0)
		return sv_chan_free(c);
	/* PING is wire v1: a raw channel relies on the kernel log. */
	c->live_enabled = lc.quiet_ms > 0 && !channel_is_raw(ch);
	sv_verify_load_good(c);
	sv_verify_use_good(c);
	/* Which kernel lines are ours: the remoteproc's name, instance and device. */
	if (channel_config(ch)->remoteproc) {
		(void)klog_scope_add(&c->scope, channel_config(ch)->remoteproc);
		int r = sv_priv_rproc(c);
		if (r == 0) {
			(void)klog_scope_add(&c->scope, c->rproc->name);
			(void)klog_scope_add(&c->scope, c->rproc->instance);
			(void)klog_scope_add(&c->scope, c->rproc->device);
			/* A running M7's virtio devices: their registration went by before. */
			(void)remoteproc_virtio_names(c->rproc, add_virtio, &c->scope);
		} else {
			struct log_fields fr = sv_chan_fields(c, NULL, r);
			log_struct(sv->log, LOG_ERR, &fr, "remoteproc %s under %s: %s",
				   channel_config(ch)->remoteproc, sv->cfg.sysfs_root,
				   strerror(-r));
		}
	} else {
		c->scope_all = true;
	}
	add_names(c, channel_config(ch)->sup.kernel_names);
	if (channel_config(ch)->sup.kernel_names[0])
		c->scope_all = false;
	/* The M7's lifecycle is checked once the loop runs: a reload cut short by the
	 * daemon's restart, an M7 that nobody started. */
	c->interrupted = sv_verify_load_reload(c);
	c->start_autostart = channel_config(ch)->sup.autostart;
	snprintf(c->start_rproc, sizeof(c->start_rproc), "%s",
		 channel_config(ch)->remoteproc ? channel_config(ch)->remoteproc : "");
	if (c->interrupted || channel_config(ch)->remoteproc)
		sv_chan_arm(c->ev_start, daemon_now_ms());
	else
		channel_set_wait_note(ch, NULL, NULL); /* no M7 of ours to wait for */
	return c;
}
