/* The supervisor's fault intake: kernel log lines, liveness stalls, a link that stays
 * down and a corrupt byte stream each become one counted, logged, published fault. */
#include "sv.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "utf8.h"

/* Fault lines in the daemon's log, per channel: the house burst per window. */
#define SV_FAULT_LOG_BURST     5
#define SV_FAULT_LOG_WINDOW_MS 10000

void sv_fault_raise(struct sv_chan *c, const char *kind, const char *detail, const char *source,
		    enum recovery_severity sev, uint64_t kernel_ms)
{
	struct supervisor *sv = c->sv;
	struct recovery_event ev = {.type = RECOVERY_EV_FAULT, .severity = sev, .reason = kind};
	struct log_fields f = sv_chan_fields(c, LOG_MID_FAULT, 0);
	uint64_t count = 0;
	size_t i;

	for (i = 0; i < SV_FAULT_KINDS; i++) {
		if (!c->counts[i].kind)
			c->counts[i].kind = kind;
		if (strcmp(c->counts[i].kind, kind) == 0) {
			count = ++c->counts[i].n;
			break;
		}
	}
	/* A flood (a fatal LOG per frame, a kick failure per message) would drown the
	 * journal; the lines only are limited, the fault is counted and handled each time. */
	if (ratelimit_ok(&c->rl_fault, daemon_now_ms(), SV_FAULT_LOG_BURST,
			 SV_FAULT_LOG_WINDOW_MS)) {
		int prio = sev == RECOVERY_SEV_NOTICE ? LOG_NOTICE : LOG_WARNING;
		if (c->rl_fault.suppressed) {
			log_struct(sv->log, prio, &f,
				   "%u fault lines not logged (at most %u per %u s)",
				   c->rl_fault.suppressed, SV_FAULT_LOG_BURST,
				   SV_FAULT_LOG_WINDOW_MS / 1000);
			c->rl_fault.suppressed = 0;
		}
		log_struct(sv->log, prio, &f, "fault %s (%s, #%llu): %s", kind, source,
			   (unsigned long long)count, detail);
	}
	daemon_publish_fault(sv->d, c->ch, kind, detail, source, count);
	sv_chan_note(c, INCIDENT_FAULT, "%s %s: %s", source, kind, detail);
	sv_incident_begin(c, kind, source, detail);
	/* During a verification any trouble fails it (stop/start lines before the HELLO
	 * are the verifier's to ignore). */
	if (sev >= RECOVERY_SEV_DEGRADED)
		sv_verify_on_fault(c, kind);
	if (!recovery_busy(&c->rec)) {
		c->last_fault_ms = daemon_now_ms();
		c->kernel_ms = kernel_ms;
	}
	/* An offline M7 needs starting, not the ladder (sv_start.c). */
	if (sev != RECOVERY_SEV_DOWN || !sv_start_on_fault(c, kind))
		sv_action_feed(c, &ev);
	/* Faults that need no recovery still get a complete record a little later. */
	if (c->inc && !recovery_busy(&c->rec) && c->rec.state != RECOVERY_FAILED)
		sv_incident_end_later(c, "recovered", SV_INCIDENT_AFTER_MS);
}

bool sv_fault_stall_held(struct sv_chan *c, const char *source)
{
	/* One fault, one stall: the check starts again on each tty a step opens, and finds
	 * the fault that the ladder, or the failed channel's retry, already handles. */
	if (c->stall_raised &&
	    (c->rec.state == RECOVERY_RUNNING || c->rec.state == RECOVERY_FAILED)) {
		sv_chan_note(c, INCIDENT_NOTE,
			     "%s: stalled again, not raised: the fault is under recovery", source);
		/* A step's check of the image it started still hears of it. */
		sv_verify_on_fault(c, "stall");
		return true;
	}
	c->stall_raised = true;
	return false;
}

bool sv_fault_info(void *ud, const struct channel *ch, struct proto_faults *f)
{
	struct sv_chan *c = sv_chan_of(ud, ch);
	unsigned n = 0;

	if (!c)
		return false;
	while (n < SV_FAULT_KINDS && c->counts[n].kind)
		n++;
	*f = (struct proto_faults){.kick_failures = c->kick_failures, .v = c->counts, .n = n};
	return true;
}

void sv_fault_on_live_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	uint64_t now = daemon_now_ms();
	char detail[128];

	switch (liveness_tick(&c->live, now)) {
	case LIVENESS_SEND_PING:
		sv_chan_send_ping(c);
		break;
	case LIVENESS_STALL:
		if (sv_fault_stall_held(c, "liveness"))
			break;
		if (c->live.stall_deaf)
			/* HEARTBEATs came, their host_frames stood still. */
			snprintf(detail, sizeof(detail),
				 "the M7 took none of the host's frames (host_frames %u across "
				 "2 HEARTBEATs) and no HEARTBEAT answered %u PING(s)",
				 (unsigned)c->live.hb_host_frames, c->live.cfg.retries + 1);
		else if (c->live.stall_probe)
			/* Frames may have kept coming: none was the PING's answer. */
			snprintf(detail, sizeof(detail),
				 "no HEARTBEAT answered %u PING(s) of the probe after a kernel "
				 "fault (last frame %llu ms ago)",
				 c->live.cfg.retries + 1,
				 (unsigned long long)(now - c->live.last_rx_ms));
		else
			snprintf(detail, sizeof(detail),
				 "no frame for %llu ms and no HEARTBEAT for %u PING(s)",
				 (unsigned long long)(now - c->live.last_rx_ms),
				 c->live.cfg.retries + 1);
		sv_fault_raise(c, "stall", detail, "liveness", RECOVERY_SEV_DOWN, 0);
		break;
	case LIVENESS_NONE:
		break;
	}
	sv_chan_rearm_liveness(c);
	sv_chan_flush(c);
}

void sv_fault_on_down_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	char detail[256];

	struct channel_snapshot snap;
	channel_snapshot(c->ch, &snap);
	if (snap.state == CHANNEL_UP || recovery_busy(&c->rec))
		return;
	snprintf(detail, sizeof(detail), "link %s for %u ms (%.31s%s%.150s)",
		 channel_state_to_string(snap.state), channel_config(c->ch)->sup.down_grace_ms,
		 snap.reason, snap.detail[0] ? ": " : "", snap.detail);
	sv_fault_raise(c, "link_down", detail, "liveness", RECOVERY_SEV_DOWN, 0);
	sv_chan_flush(c);
}

/* A corrupt stream: out of line, so that every read() does not pay for its stack. */
static __attribute__((noinline, cold)) void raise_corrupt_stream(struct sv_chan *c,
								 struct channel *ch)
{
	struct channel_snapshot snap;
	char detail[160];

	channel_snapshot(ch, &snap);
	snprintf(detail, sizeof(detail),
		 "%llu candidate frames rejected and %llu good in %u ms, last: %s",
		 (unsigned long long)c->sc.bad, (unsigned long long)c->sc.good,
		 (unsigned)SV_STREAM_WINDOW_MS, m7b_decoder_reject_name(snap.last_reject));
	sv_fault_raise(c, "corrupt_stream", detail, "decoder", RECOVERY_SEV_DEGRADED, 0);
}

uint64_t sv_fault_on_decoded(void *ud, struct channel *ch, uint64_t skipped, uint64_t good,
			     uint64_t bad, uint64_t now_ms)
{
	struct sv_chan *c = sv_chan_of(ud, ch);

	/* Unwatched (out of memory): no window, every read calls as before. */
	if (!c)
		return 0;
	if (streamcheck_update(&c->sc, now_ms, skipped, good, bad))
		raise_corrupt_stream(c, ch);
	return streamcheck_quiet_until(&c->sc);
}

/* ---- the firmware's own word: fatal LOG, data silence ---- */

/* LOG levels are syslog's; the firmware's assert handler logs at LOG_CRIT (2). */
#define SV_FATAL_LEVEL 2

/* Printable ASCII of the M7's text: it goes into FAULT, incidents and the journal. */
static void plain_text(char *out, size_t cap, const char *in, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n && j + 1 < cap; i++) {
		unsigned char ch = (unsigned char)in[i];
		out[j++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[j] = '\0';
}

static void rearm_silence(struct sv_chan *c)
{
	uint64_t next = silence_next_ms(&c->silence);
	if (next == UINT64_MAX)
		evtimer_del(c->ev_silence);
	else
		sv_chan_arm(c->ev_silence, next);
}

void sv_fault_silence_arm(struct sv_chan *c, bool up)
{
	/* A raw channel has no DATA frames: its liveness is the probe's. */
	silence_arm(&c->silence, up && !channel_is_raw(c->ch), daemon_now_ms());
	rearm_silence(c);
}

void sv_fault_on_msg(struct sv_chan *c, const struct channel_msg *m)
{
	char text[160], detail[200];

	if (m->bad_payload || m->frame->type != M7B_T_LOG || m->u.log.level > SV_FATAL_LEVEL)
		return;
	plain_text(text, sizeof(text), m->u.log.text, m->u.log.text_len);
	snprintf(detail, sizeof(detail), "fatal LOG (level %u): %s", m->u.log.level, text);
	sv_fault_raise(c, "firmware_fatal", detail, "firmware", RECOVERY_SEV_DOWN, 0);
}

void sv_fault_on_silence_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	char detail[160];
	int port;

	while ((port = silence_check(&c->silence, daemon_now_ms())) >= 0) {
		const struct silence_conf *sc = &c->silence.cfg;
		uint32_t rate = 0;
		for (unsigned i = 0; i < SILENCE_PORTS; i++)
			if (sc->rate[i] && sc->port[i] == port)
				rate = sc->rate[i];
		snprintf(detail, sizeof(detail),
			 "no DATA on port %d for %llu ms (expect_rate %u per second)", port,
			 (unsigned long long)silence_limit_ms(rate), rate);
		sv_fault_raise(c, "data_silence", detail, "liveness", RECOVERY_SEV_DOWN, 0);
	}
	rearm_silence(c);
	sv_chan_flush(c);
}

/* ---- kernel log ---- */

static enum recovery_severity severity_of(enum klog_impact i)
{
	return i == KLOG_DOWN	    ? RECOVERY_SEV_DOWN
	       : i == KLOG_DEGRADED ? RECOVERY_SEV_DEGRADED
				    : RECOVERY_SEV_NOTICE;
}

/* FAULT kind tokens: the classifier's, with the common -ETIME kick named for what it is
 * (the M7 did not take the mailbox message within 100 ms). */
static const char *fault_kind(const struct klog_event *ev)
{
	if (ev->kind == KLOG_KICK_FAILED && ev->has_err && ev->err == -62)
		return "kick_timeout";
	return klog_kind_to_string(ev->kind);
}

/* Kernel records that went by unread may have been faults: the journal says so, and so
 * does the ring of every channel (an incident then shows its kernel lines have a hole). */
static void kernel_lost(struct supervisor *sv, uint64_t lost)
{
	struct log_fields f = {0};

	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		if (sv->chans[i])
			sv_chan_note(sv->chans[i], INCIDENT_KERNEL,
				     "kernel log: %llu record(s) lost before they were read",
				     (unsigned long long)lost);
	if (ratelimit_ok(&sv->rl_klost, daemon_now_ms(), 1, 10000))
		log_struct(sv->log, LOG_WARNING, &f,
			   "kernel log: %llu record(s) lost before they were read (%llu since "
			   "the start): faults among them went unseen",
			   (unsigned long long)lost, (unsigned long long)kwatch_lost(sv->kw));
}

/* Lines from before the start, or read already (a FIFO feeder's replay of the ring), are
 * not taken as faults; how many is said, so that what was passed over is seen. */
static void kernel_skipped(struct supervisor *sv, uint64_t skipped)
{
	struct log_fields f = {0};

	if (ratelimit_ok(&sv->rl_kskip, daemon_now_ms(), 1, 10000))
		log_struct(sv->log, LOG_INFO, &f,
			   "kernel log: %llu backlog line(s) skipped (%llu since the start): "
			   "printed before the start or read already, not taken as faults",
			   (unsigned long long)skipped, (unsigned long long)kwatch_skipped(sv->kw));
}

void sv_fault_on_kernel_line(void *arg, const struct kwatch_line *l)
{
	struct supervisor *sv = arg;
	uint64_t now = daemon_now_ms();
	struct klog_event ev;
	char detail[200];
	unsigned i;

	if (l->lost)
		kernel_lost(sv, l->lost);
	if (l->skipped)
		kernel_skipped(sv, l->skipped);
	if (!klog_classify(l->msg, l->len, &ev))
		return;
	/* The kernel's bytes go to the journal, FAULT and incidents: one line of text. */
	(void)utf8_clean_line(detail, sizeof(detail), l->msg, l->len);
	for (i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct sv_chan *c = sv->chans[i];
		enum klog_owner o;

		if (!c)
			continue;
		o = c->scope_all ? KLOG_OWNER_MINE : klog_scope_match(&c->scope, &ev);
		if (o == KLOG_OWNER_OTHER)
			continue;
		sv_chan_note(c, INCIDENT_KERNEL, "%s", detail);
		incident_ring_text(&c->klines, sv_chan_realtime_us(), INCIDENT_KERNEL, detail,
				   strlen(detail));
		c->klines_seen++;
		if (ev.kind == KLOG_KICK_FAILED)
			c->kick_failures++;
		if (ev.impact >= KLOG_NOTICE)
			sv_fault_raise(c, fault_kind(&ev), detail, "kernel", severity_of(ev.impact),
				       now);
	}
	daemon_flush(sv->d);
}
