/* Supervisor: fault detection and recovery for every channel. Attaches to the daemon
 * (observers, request handlers, kernel log watcher); the work is done in the sv_*.c
 * files, the decisions in recovery.c and liveness.c. */
#include "supervisor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "privsep.h"
#include "sv.h"

/* Starts liveness on a channel that is already open (no state change will come). */
static void live_resume(struct sv_chan *c)
{
	if (channel_is_open(c->ch) && c->live_enabled && !c->live.running)
		liveness_start(&c->live, daemon_now_ms());
	sv_chan_rearm_liveness(c);
}

/* Asks the helper to keep serving c's channel from its current settings across the
 * RELOAD that ends this SIGHUP. */
static void hold_in_helper(struct supervisor *sv, struct sv_chan *c)
{
	struct privsep_msg m;
	int r;

	if (!sv->priv)
		return;
	r = privsep_msg_init(&m, PRIVSEP_HOLD, channel_name(c->ch), NULL);
	if (r == 0)
		r = privsep_call(sv->priv, &m);
	if (r < 0) {
		struct log_fields f = sv_chan_fields(c, NULL, r);
		log_struct(sv->log, LOG_ERR, &f,
			   "the privileged helper did not keep the old settings: %s", strerror(-r));
	}
}

/* Whether cc asks for the supervision c already has: its settings, firmware and
 * remoteproc (the rest of a channel's settings is the channel's). */
static bool sup_unchanged(const struct sv_chan *c, const struct conf_channel *cc)
{
	return supervisor_conf_channel_same(&c->sup, &cc->sup) &&
	       strcmp(c->conf_firmware, cc->firmware ? cc->firmware : "") == 0 &&
	       strcmp(c->start_rproc, cc->remoteproc ? cc->remoteproc : "") == 0;
}

static void obs_on_config(void *ud, struct channel *ch)
{
	struct supervisor *sv = ud;
	struct sv_chan *c = sv_chan_of(sv, ch), *n;
	struct incident_ring ring;
	struct log_fields f;

	/* Nothing to take: a supervision set up anew would wait a whole quiet time
	 * before its first PING, so reloads coming faster would hide a hung M7. */
	if (!c || sup_unchanged(c, channel_config(ch)))
		return;
	f = sv_chan_fields(c, NULL, 0);
	/* A failed channel's incident (a fault while it waits for its retry) only waits
	 * for that retry's outcome: it moves over with the state. */
	if (recovery_busy(&c->rec) || (c->inc && c->rec.state != RECOVERY_FAILED)) {
		/* Swapping the ladder under a running recovery would strand it. */
		log_struct(sv->log, LOG_WARNING, &f,
			   "recovery in progress; its new recovery settings apply at the next "
			   "reload once it is up");
		/* The helper keeps them too: the ladder's stop and start reach the same
		 * remoteproc, and its own commands run. */
		hold_in_helper(sv, c);
		return;
	}
	n = sv_chan_new(sv, ch);
	if (!n) {
		log_struct(sv->log, LOG_ERR, &f,
			   "out of memory; keeping the old recovery settings");
		return;
	}
	/* Fault numbering and the recent history outlive a change of settings; so does a
	 * failed channel, which waits for its retry under the new ladder (or a HELLO). */
	memcpy(n->counts, c->counts, sizeof(n->counts));
	recovery_carry(&n->rec, &c->rec);
	if (n->rec.state == RECOVERY_FAILED)
		sv_chan_arm(n->ev_rec, n->rec.deadline);
	n->inc = c->inc;
	c->inc = NULL;
	n->inc_first_step = c->inc_first_step;
	n->stall_raised = c->stall_raised;
	liveness_carry(&n->live, &c->live);
	memcpy(n->inc_outcome, c->inc_outcome, sizeof(n->inc_outcome));
	/* Without a state directory the record lives in memory only. */
	if (!n->good.name[0]) {
		n->good = c->good;
		n->good_reloaded = c->good_reloaded;
		memcpy(n->good_over, c->good_over, sizeof(n->good_over));
		sv_verify_use_good(n);
	}
	n->good_probed = c->good_probed;
	/* A record read at start and already dealt with is not rolled back again. */
	n->interrupted = c->interrupted;
	n->reload_recorded = c->reload_recorded;
	sv_start_keep(n, c);
	ring = n->ring;
	n->ring = c->ring;
	c->ring = ring;
	sv->chans[channel_slot(ch)] = n;
	sv_chan_free(c);
	live_resume(n);
	sv_chan_note(n, INCIDENT_STATE, "recovery settings reloaded");
	log_struct(sv->log, LOG_INFO, &f, "recovery settings reloaded (steps %s)",
		   channel_config(ch)->sup.recovery_steps);
}

/* SIGHUP: the incident directory is checked again (and reopened if it moved); the
 * helper takes the reading of the file it made for the daemon's reload. */
static void obs_on_reload(void *ud, const struct conf *cfg)
{
	struct supervisor *sv = ud;
	struct privsep_msg m;

	(void)sv_incident_open_store(sv, &cfg->daemon.sup);
	/* Who may recover and reload follows the file at once: a uid taken out of the list
	 * loses control with this SIGHUP, not at the next restart. */
	memcpy(sv->cfg.allow_group, cfg->daemon.sup.allow_group, sizeof(sv->cfg.allow_group));
	sv->cfg.allow_gid = cfg->daemon.sup.allow_gid;
	sv->cfg.allow_uid_set = cfg->daemon.sup.allow_uid_set;
	sv->cfg.n_allow_uids = cfg->daemon.sup.n_allow_uids;
	memcpy(sv->cfg.allow_uids, cfg->daemon.sup.allow_uids, sizeof(sv->cfg.allow_uids));
	if (sv->priv && privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL) == 0) {
		int r = privsep_call(sv->priv, &m);
		if (r < 0)
			log_struct_errno(sv->log, LOG_ERR, &(struct log_fields){0}, r,
					 "the privileged helper did not take the new "
					 "configuration: %m");
	}
}

int supervisor_set_privsep(struct supervisor *sv, struct privsep *ps)
{
	sv->priv = ps;
	return ps ? privsep_attach(ps, daemon_base(sv->d), sv_priv_on_exited, sv) : 0;
}

/* The supervision of a channel that goes (removed by a reload, or the daemon stops): an
 * open incident is written as it stands, with the evidence taken at the fault, rather
 * than lost. Returns NULL. */
static struct sv_chan *retire(struct sv_chan *c)
{
	if (c && c->inc)
		sv_incident_end(c, "interrupted");
	return sv_chan_free(c);
}

/* A channel that a SIGHUP removes in the middle of a reload: nobody is left to verify
 * or roll back that reload, and a record left on disk would roll back at once whenever
 * a channel of that name comes back, perhaps much later and over an image verified
 * since. So the record goes with the channel; the M7 is left as it is. A channel closed
 * to be reopened with new settings ("config") keeps it: the new supervision rolls back
 * the reload it cut short, as after a restart of the daemon. */
static void drop_reload_record(struct sv_chan *c)
{
	struct channel_snapshot snap;
	struct log_fields f;

	if (!c || !c->reload_recorded)
		return;
	channel_snapshot(c->ch, &snap);
	if (strcmp(snap.reason, "removed") != 0)
		return;
	f = sv_chan_fields(c, LOG_MID_RELOAD, 0);
	log_struct(c->sv->log, LOG_WARNING, &f,
		   "channel removed during the reload of %s: not verified nor rolled back; the "
		   "M7 is left as it is",
		   c->reload_want.name[0] ? c->reload_want.name : "(current)");
	sv_verify_clear_reload(c);
}

static void obs_on_channel(void *ud, struct channel *ch, bool added)
{
	struct supervisor *sv = ud;

	if (channel_slot(ch) >= CONF_MAX_CHANNELS)
		return;
	if (!added)
		drop_reload_record(sv_chan_of(sv, ch));
	sv->chans[channel_slot(ch)] = retire(sv->chans[channel_slot(ch)]);
	if (added) {
		sv->chans[channel_slot(ch)] = sv_chan_new(sv, ch);
		if (!sv->chans[channel_slot(ch)])
			channel_log_errno(ch, LOG_ERR, -ENOMEM, "no supervision: %m");
	}
}

static void obs_on_state(void *ud, struct channel *ch, enum channel_state old)
{
	struct sv_chan *c = sv_chan_of(ud, ch);
	uint64_t now = daemon_now_ms();

	struct channel_snapshot snap;
	if (!c)
		return;
	channel_snapshot(ch, &snap);
	sv_chan_note(c, INCIDENT_STATE, "%s -> %s (%s)", channel_state_to_string(old),
		     channel_state_to_string(snap.state), snap.reason);
	if (channel_is_open(ch)) {
		if (c->live_enabled && !c->live.running)
			liveness_start(&c->live, now);
	} else {
		liveness_stop(&c->live);
		/* The daemon stopping is no fault of the image on probation. */
		if (strcmp(snap.reason, "shutdown") != 0)
			sv_verify_on_fault(c, "link_lost");
	}
	sv_chan_rearm_liveness(c);
	sv_fault_silence_arm(c, channel_get_state(ch) == CHANNEL_UP);
	sv_probe_on_state(c);
	if (channel_get_state(ch) == CHANNEL_UP) {
		/* A stall, or a deaf spell, from now on is a new fault. */
		c->stall_raised = false;
		if (old != CHANNEL_UP)
			liveness_link_up(&c->live);
		evtimer_del(c->ev_down);
	} else if ((old == CHANNEL_UP || old == CHANNEL_OPENING) &&
		   channel_get_state(ch) == CHANNEL_DOWN && c->rec.state == RECOVERY_IDLE &&
		   channel_config(ch)->sup.down_grace_ms) {
		/* The channel reopens by itself; only a link that stays away is a fault. */
		c->down_due_ms = now + channel_config(ch)->sup.down_grace_ms;
		sv_chan_arm(c->ev_down, c->down_due_ms);
	}
}

/* What a DATA frame rarely needs: the liveness timer re-armed (rearm), the silence watch
 * of a port with a rate. Out of line, so that the usual frame saves no registers. */
static __attribute__((noinline)) void data_timers(struct sv_chan *c, const struct channel_msg *m,
						  bool rearm)
{
	if (rearm)
		sv_chan_rearm_liveness(c);
	/* A port reported silent sends again: nothing else would arm its next report. */
	if (!m->bad_payload && silence_on_data(&c->silence, m->frame->port, m->rx_ms))
		sv_fault_silence_arm(c, true);
}

/* DATA, nearly every frame, has an observer of its own: of the supervisor only the
 * incident ring, liveness and the silence watch read it (the read's clock is their time). */
static void obs_on_data(void *ud, struct channel *ch, const struct channel_msg *m)
{
	struct sv_chan *c = sv_chan_of(ud, ch);

	if (!c)
		return;
	incident_ring_frame(&c->ring, m->rx_realtime_us, m->frame);
	/* No timer work per frame: only when the deadline may have moved earlier. Liveness
	 * only ever runs when enabled: no need to test live_enabled. */
	bool rearm = liveness_on_frame(&c->live, m->rx_ms, false);
	/* The port first: most have no rate, and then the payload need not be looked at. */
	if (rearm || (silence_watches(&c->silence, m->frame->port) && !m->bad_payload))
		data_timers(c, m, rearm);
}

/* A HEARTBEAT's count of frames the firmware took from us, -1 when it carries none. */
static int64_t host_frames(const struct channel_msg *m)
{
	if (m->bad_payload || m->u.heartbeat.ncounters <= M7B_HB_HOST_FRAMES)
		return -1;
	return m->u.heartbeat.counter[M7B_HB_HOST_FRAMES];
}

/* Every other frame. */
static void obs_on_msg(void *ud, struct channel *ch, const struct channel_msg *m)
{
	const struct m7b_frame *f = m->frame;
	struct sv_chan *c = sv_chan_of(ud, ch);

	if (!c)
		return;
	incident_ring_frame(&c->ring, m->rx_realtime_us, f);
	if (c->live_enabled &&
	    (f->type == M7B_T_HEARTBEAT
		     ? liveness_on_heartbeat(&c->live, m->rx_ms, host_frames(m), channel_tx_seq(ch))
		     : liveness_on_frame(&c->live, m->rx_ms, false)))
		sv_chan_rearm_liveness(c);
	sv_fault_on_msg(c, m);
	sv_verify_on_msg(c, m);
	if (f->type == M7B_T_HELLO || f->type == M7B_T_HEARTBEAT) {
		struct recovery_event ev = {.type = f->type == M7B_T_HELLO ? RECOVERY_EV_HELLO
									   : RECOVERY_EV_HEARTBEAT};
		int64_t hf = f->type == M7B_T_HEARTBEAT ? host_frames(m) : -1;

		ev.has_host_frames = hf >= 0;
		ev.host_frames = (uint32_t)hf;
		if (c->rec.state != RECOVERY_IDLE)
			sv_action_feed(c, &ev);
	}
}

/* STATUS names the ladder's steps, so a client refused a step can say which exist. */
static void obs_on_status(void *ud, const struct channel *ch, struct daemon_status_extra *x)
{
	struct sv_chan *c = sv_chan_of(ud, ch);
	size_t len = 0;

	if (!c)
		return;
	x->has_recovery_steps = true;
	x->recovery_steps[0] = '\0';
	for (size_t i = 0; i < c->rec.cfg.n_steps; i++) {
		int n = snprintf(x->recovery_steps + len, sizeof(x->recovery_steps) - len, "%s%s",
				 i ? "," : "", recovery_step_to_string(c->rec.cfg.steps[i].step));
		if (n < 0 || (size_t)n >= sizeof(x->recovery_steps) - len)
			break;
		len += (size_t)n;
	}
}

/* ---- set-up ---- */

/* The kmsg FIFO waited for was made, or something else was made in its place. */
static void on_kmsg_path(void *arg, const char *path, int err)
{
	struct supervisor *sv = arg;
	struct log_fields f = {.err = -err};

	if (err == 0)
		log_struct(sv->log, LOG_INFO, NULL, "watching kernel messages from kmsg at %s",
			   path);
	else
		log_struct(sv->log, LOG_WARNING, &f,
			   "kmsg_path %s: %s, not watched: it must be a FIFO (mkfifo; a shell "
			   "redirection into a path that does not exist makes a regular file)",
			   path, err == -EINVAL ? "not a FIFO" : strerror(-err));
}

int supervisor_new(struct daemon *d, struct supervisor **out)
{
	const struct conf *cfg = daemon_config(d);
	struct supervisor *sv = calloc(1, sizeof(*sv));
	struct daemon_observer obs = {.on_msg = obs_on_msg,
				      .on_data = obs_on_data,
				      .on_decoded = sv_fault_on_decoded,
				      .on_raw = sv_probe_on_raw,
				      .on_config = obs_on_config,
				      .on_state = obs_on_state,
				      .on_channel = obs_on_channel,
				      .on_reload = obs_on_reload,
				      .on_status = obs_on_status};
	struct kwatch_config kc = {0};
	unsigned i;
	int r;

	*out = NULL;
	if (!sv)
		return -ENOMEM;
	sv->d = d;
	sv->log = daemon_log(d);
	sv->ram_store.next_seq = 1;
	sv->cfg = cfg->daemon.sup;
	/* Under systemd, StateDirectory= says where state lives; elsewhere (a terminal, the
	 * tests) incidents stay in memory unless incident_dir is set. */
	/* The last good firmware of each channel lives there too. */
	if (!sv->cfg.state_dir[0] && getenv("STATE_DIRECTORY")) {
		const char *sd = getenv("STATE_DIRECTORY");
		snprintf(sv->cfg.state_dir, sizeof(sv->cfg.state_dir), "%.*s",
			 (int)strcspn(sd, ":"), sd);
	}
	(void)sv_incident_open_store(sv, &sv->cfg);
	obs.ud = sv;
	r = daemon_add_observer(d, &obs);
	if (r == 0)
		r = daemon_register_handler(d, "recover", sv_control_recover, sv);
	if (r == 0)
		r = daemon_register_handler(d, "reload", sv_control_recover, sv);
	if (r == 0)
		r = daemon_register_handler(d, "incidents", sv_control_incidents, sv);
	if (r < 0) {
		supervisor_free(sv);
		return r;
	}
	daemon_set_fault_info(d, sv_fault_info, sv);
	/* Channels created before we were attached. */
	for (i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct channel *ch = daemon_channel_at(d, i);
		if (ch) {
			obs_on_channel(sv, ch, true);
			if (sv->chans[i])
				obs_on_state(sv, ch, channel_get_state(ch));
		}
	}
	(void)kwatch_source_from_string(sv->cfg.kernel_log, &kc);
	kc.journal_dir = sv->cfg.journal_dir[0] ? sv->cfg.journal_dir : NULL;
	kc.kmsg_path = sv->cfg.kmsg_path;
	kc.on_path = on_kmsg_path;
	r = kwatch_new(daemon_base(d), &kc, sv_fault_on_kernel_line, sv, &sv->kw);
	if (r < 0) {
		/* Liveness still detects a dead M7; only the kernel's word is missing. */
		struct log_fields f = {.err = -r};
		/* Named as configured, so that a wrong path is seen for what it is. */
		char where[SUPERVISOR_PATH_MAX + 32];
		if (kc.journal_dir)
			snprintf(where, sizeof(where), "journal in %s", kc.journal_dir);
		else if (kc.source == KWATCH_JOURNAL)
			snprintf(where, sizeof(where), "journal");
		else
			snprintf(where, sizeof(where), "%s%s at %s",
				 kc.source == KWATCH_KMSG ? "" : "auto: journal or ", "kmsg",
				 kc.kmsg_path);
		/* A missing device is often the sandbox's doing, not the kernel's. */
		log_struct(sv->log, LOG_WARNING, &f, "cannot watch the kernel log (%s): %s%s",
			   where, strerror(-r),
			   kc.source != KWATCH_JOURNAL && !kc.journal_dir &&
					   strncmp(kc.kmsg_path, "/dev/", 5) == 0 &&
					   (r == -ENOENT || r == -EACCES || r == -EPERM)
				   ? " (the service's sandbox may hide it: PrivateDevices=yes, "
				     "ProtectKernelLogs=yes)"
				   : "");
	} else if (kwatch_waiting(sv->kw) && access(kc.kmsg_path, F_OK) != 0) {
		log_struct(sv->log, LOG_WARNING, NULL,
			   "kmsg_path %s does not exist yet: waiting for it (a FIFO made there "
			   "later is read from then on)",
			   kc.kmsg_path);
	} else if (kwatch_waiting(sv->kw)) {
		/* Something else stands at the path: on_kmsg_path() said what. */
	} else if (kwatch_source(sv->kw) == KWATCH_JOURNAL && !kc.journal_dir &&
		   !kwatch_journald_runs()) {
		/* Watched, but nothing will ever come: said, not claimed as watched. */
		log_struct(sv->log, LOG_WARNING, NULL,
			   "kernel_log = journal, but journald does not run: no kernel line "
			   "reaches the journal, faults are seen by the liveness check and the "
			   "stream only (kernel_log = kmsg reads /dev/kmsg)");
	} else if (kwatch_source(sv->kw) == KWATCH_OFF) {
		log_struct(sv->log, LOG_INFO, NULL,
			   "not watching kernel messages (kernel_log = off): faults are seen by "
			   "the liveness check and the stream only");
	} else {
		struct log_fields f = {0};
		char skipped[96] = "";
		/* What a kmsg FIFO held at the start, skipped as before it. */
		if (kwatch_skipped(sv->kw))
			snprintf(skipped, sizeof(skipped),
				 " (%llu line(s) it held from before the start skipped)",
				 (unsigned long long)kwatch_skipped(sv->kw));
		log_struct(sv->log, LOG_INFO, &f, "watching kernel messages from %s%s%s%s",
			   kwatch_source_to_string(kwatch_source(sv->kw)),
			   kc.journal_dir ? " in " : "", kc.journal_dir ? kc.journal_dir : "",
			   skipped);
	}
	*out = sv;
	return 0;
}

struct supervisor *supervisor_free(struct supervisor *sv)
{
	unsigned i;

	if (!sv)
		return NULL;
	daemon_remove_observer(sv->d, sv);
	daemon_set_fault_info(sv->d, NULL, NULL);
	privsep_detach(sv->priv); /* its events live in the daemon's base */
	sv->kw = kwatch_free(sv->kw);
	for (i = 0; i < CONF_MAX_CHANNELS; i++)
		sv->chans[i] = retire(sv->chans[i]);
	sv->store = incident_store_free(sv->store);
	free(sv);
	return NULL;
}
