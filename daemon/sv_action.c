/* The supervisor's action executor: one function per recovery action, carried out on the
 * channel, the liveness monitor and (through sv_priv) the remoteproc and commands. */
#include "sv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "lifecycle.h"
#include "macro.h"

/* An action's function: returns 1 and fills *res when an awaited action finished at
 * once, 0 otherwise. */
typedef int (*action_fn)(struct sv_chan *c, const struct recovery_action *a,
			 struct recovery_event *res);

static const char *event_type_to_string(enum recovery_event_type v);
static const char *const event_names[] = {
	[RECOVERY_EV_FAULT] = "fault",
	[RECOVERY_EV_HELLO] = "hello",
	[RECOVERY_EV_HEARTBEAT] = "heartbeat",
	[RECOVERY_EV_TICK] = "tick",
	[RECOVERY_EV_TTY_APPEARED] = "tty_appeared",
	[RECOVERY_EV_RESULT] = "result",
	[RECOVERY_EV_RECOVER] = "recover",
	[RECOVERY_EV_RELOAD] = "reload",
	[RECOVERY_EV_START] = "start",
	[RECOVERY_EV_ROLLBACK] = "rollback",
};
DEFINE_STRING_TABLE_LOOKUP(event_type, enum recovery_event_type, event_names)

/* -l debug: each decision of the ladder with what it was fed and what it was in;
 * rate-limited, as a flapping link feeds it often. */
static void log_decision(struct sv_chan *c, const struct recovery_event *ev, int r,
			 enum recovery_state before, const struct recovery_actions *out)
{
	char acts[256] = "";
	size_t len = 0;
	if (!ratelimit_ok(&c->rl_debug, daemon_now_ms(), 20, 10000))
		return;
	for (size_t i = 0; i < out->n && len < sizeof(acts); i++) {
		int n = snprintf(acts + len, sizeof(acts) - len, "%s%s", i ? "," : "",
				 recovery_action_to_string(out->a[i].type));
		len += n > 0 ? (size_t)n : 0;
	}
	struct log_fields f = sv_chan_fields(c, NULL, r);
	log_struct(c->sv->log, LOG_DEBUG, &f,
		   "recovery: %s%s%s (token %u, result %d) in %s, step %s try %u -> %s: %s%s",
		   event_type_to_string(ev->type), ev->reason ? " " : "",
		   ev->reason ? ev->reason : "", ev->token, ev->result,
		   recovery_state_to_string(before),
		   c->rec.step_idx < c->rec.cfg.n_steps
			   ? recovery_step_to_string(c->rec.cfg.steps[c->rec.step_idx].step)
			   : "-",
		   c->rec.try_no, recovery_state_to_string(c->rec.state),
		   acts[0] ? acts : "nothing", r < 0 ? " (refused)" : "");
}

void sv_action_feed(struct sv_chan *c, const struct recovery_event *ev)
{
	struct recovery_actions out = {0};
	enum recovery_state before = c->rec.state;

	if (c->applying)
		return; /* never re-entered: the running batch owns the machine */
	/* What a ladder or a start that begins now loads (the reloaded image may be gone). */
	if (!recovery_busy(&c->rec) &&
	    (ev->type == RECOVERY_EV_FAULT || ev->type == RECOVERY_EV_RECOVER ||
	     ev->type == RECOVERY_EV_START || ev->type == RECOVERY_EV_TICK))
		sv_verify_use_good(c);
	/* Liveness sees every HEARTBEAT, the machine only those fed to it: the count the
	 * next wait for the M7's answer starts from. */
	if (c->live_enabled && c->live.hb_known)
		recovery_host_frames_seen(&c->rec, c->live.hb_host_frames);
	int r = recovery_handle(&c->rec, ev, daemon_now_ms(), &out);
	log_decision(c, ev, r, before, &out);
	sv_action_run(c, &out);
}

static enum channel_state link_to_channel(enum recovery_link l)
{
	switch (l) {
	case RECOVERY_LINK_UP:
		return CHANNEL_UP;
	case RECOVERY_LINK_RECOVERING:
		return CHANNEL_RECOVERING;
	case RECOVERY_LINK_RELOADING:
		return CHANNEL_RELOADING;
	case RECOVERY_LINK_FAILED:
		return CHANNEL_FAILED;
	case RECOVERY_LINK_ROLLED_BACK:
		return CHANNEL_ROLLED_BACK;
	}
	return CHANNEL_FAILED;
}

static void start_poll(struct sv_chan *c, enum sv_poll what, uint32_t token)
{
	struct timeval tv = {0, SV_POLL_MS * 1000};

	c->poll = what;
	c->poll_token = token;
	evtimer_add(c->ev_poll, &tv);
}

/* Checks what a poll waits for; true (and *ev filled) when it is there. */
static bool poll_check(struct sv_chan *c, struct recovery_event *ev)
{
	enum remoteproc_state st;
	struct stat sb;

	switch (c->poll) {
	case SV_POLL_NONE:
		return false;
	case SV_POLL_TTY:
		if (stat(channel_config(c->ch)->device, &sb) < 0)
			return false;
		*ev = (struct recovery_event){.type = RECOVERY_EV_TTY_APPEARED};
		return true;
	case SV_POLL_STOP:
	case SV_POLL_START:
		if (!c->rproc || remoteproc_get_state(c->rproc, &st) < 0)
			return false;
		if (c->poll == SV_POLL_STOP ? st != REMOTEPROC_OFFLINE
					    : st != REMOTEPROC_RUNNING && st != REMOTEPROC_ATTACHED)
			return false;
		*ev = (struct recovery_event){.type = RECOVERY_EV_RESULT, .token = c->poll_token};
		return true;
	}
	return false;
}

/* Starts polling for what; 1 when it is already there (*res filled), else 0. */
static int poll_now(struct sv_chan *c, enum sv_poll what, uint32_t token,
		    struct recovery_event *res)
{
	start_poll(c, what, token);
	if (!poll_check(c, res))
		return 0;
	c->poll = SV_POLL_NONE;
	evtimer_del(c->ev_poll);
	return 1;
}

void sv_action_on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	struct recovery_event ev;

	/* The machine moved on (timeout): stop looking. */
	if (!recovery_busy(&c->rec)) {
		c->poll = SV_POLL_NONE;
		return;
	}
	if (poll_check(c, &ev)) {
		c->poll = SV_POLL_NONE;
		sv_action_feed(c, &ev);
		sv_chan_flush(c);
		return;
	}
	start_poll(c, c->poll, c->poll_token);
}

static int act_set_state(struct sv_chan *c, const struct recovery_action *a,
			 struct recovery_event *res)
{
	struct channel *ch = c->ch;
	enum channel_state st = link_to_channel(a->state);
	uint64_t now = daemon_now_ms();
	char detail[160] = "";

	if (st == CHANNEL_RECOVERING || st == CHANNEL_RELOADING) {
		channel_hold(ch, true);
		c->busy_state = st;
		snprintf(c->busy_reason, sizeof(c->busy_reason), "%s", a->reason);
		if (st == CHANNEL_RECOVERING)
			channel_count_recovery(ch);
	} else {
		/* Up: the link is back. Failed: the channel goes on reopening by itself
		 * whenever the node reappears, as `failed` promises. */
		channel_hold(ch, false);
		if (st == CHANNEL_UP && c->live_enabled && !c->live.running && channel_is_open(ch))
			liveness_start(&c->live, now);
	}
	if (st == CHANNEL_ROLLED_BACK || (st == CHANNEL_UP && strcmp(a->reason, "unverified") == 0))
		snprintf(detail, sizeof(detail), "%s", c->ver_detail);
	else if (st == CHANNEL_FAILED && c->inc &&
		 (strcmp(a->reason, "reload_failed") == 0 ||
		  strcmp(a->reason, "rollback_failed") == 0))
		snprintf(detail, sizeof(detail), "%.159s", c->inc->detail);
	else if (st == CHANNEL_UP && c->rec.history_n &&
		 (strcmp(a->reason, "recovered") == 0 || strcmp(a->reason, "reload") == 0 ||
		  strcmp(a->reason, "rollback") == 0 || strcmp(a->reason, "started") == 0))
		snprintf(detail, sizeof(detail), "%s in %llu ms",
			 recovery_step_to_string(c->rec.history[c->rec.history_n - 1].step),
			 (unsigned long long)(now - c->rec.started_ms));
	if (st != CHANNEL_UP || channel_is_open(ch))
		channel_set_state(ch, st, a->reason, detail);
	sv_chan_note(c, INCIDENT_STATE, "%s (%s)", channel_state_to_string(st), a->reason);
	return 0;
}

static int act_probe(struct sv_chan *c, const struct recovery_action *a, struct recovery_event *res)
{
	if (c->live_enabled && liveness_probe(&c->live, daemon_now_ms()) == LIVENESS_SEND_PING)
		sv_chan_send_ping(c);
	sv_chan_rearm_liveness(c);
	return 0;
}

static int act_close_tty(struct sv_chan *c, const struct recovery_action *a,
			 struct recovery_event *res)
{
	channel_hold(c->ch, true);
	liveness_stop(&c->live);
	sv_chan_rearm_liveness(c);
	if (channel_is_open(c->ch))
		channel_close(c->ch, c->busy_state, c->busy_reason, 0);
	return 0;
}

static int act_open_tty(struct sv_chan *c, const struct recovery_action *a,
			struct recovery_event *res)
{
	struct stat sb;
	int r;

	/* No node: the step fails. Asked to open it, the channel would publish itself
	 * `down` (not_found) in the middle of the ladder, which owns the state. */
	if (!channel_config(c->ch)->rpmsg && stat(channel_config(c->ch)->device, &sb) < 0 &&
	    errno == ENOENT) {
		res->result = -ENOENT;
		return 1;
	}
	r = channel_open_now(c->ch);

	if (r == 0 && c->live_enabled) {
		liveness_start(&c->live, daemon_now_ms());
		sv_chan_rearm_liveness(c);
	}
	res->result = r;
	return 1;
}

static int act_send_host_hello(struct sv_chan *c, const struct recovery_action *a,
			       struct recovery_event *res)
{
	if (channel_is_raw(c->ch)) {
		/* Raw firmware never says HELLO: the open tty is all the handshake there is. */
		if (!channel_is_open(c->ch))
			return 0;
		res->type = RECOVERY_EV_HELLO;
		return 1;
	}
	(void)channel_resync(c->ch); /* write errors close the channel, which logs them */
	return 0;
}

/* A privileged operation that was not done because the daemon is stopping: a stop
 * signal, or the helper gone (the daemon then stops, to be started with a new one). No
 * result is fed, so the step stays under way and the stop records it so; a reload's
 * record stays for the next start. Walking on would only fail every further step. */
static bool cut_short(const struct sv_chan *c, int r)
{
	return r == -ECANCELED || (c->sv->priv && r == -EPIPE);
}

/* Runs a privileged operation; an immediate answer (done or failed) is the result. */
static int priv(struct sv_chan *c, const struct sv_priv_request *rq, struct recovery_event *res)
{
	int r = sv_priv_run(c, rq);

	/* A command: its exit feeds the result. */
	if (r == 1 || cut_short(c, r))
		return 0;
	res->result = r;
	return 1;
}

/* The driver and hook steps: the configured command, with the step in its environment. */
static int act_command(struct sv_chan *c, const struct recovery_action *a,
		       struct recovery_event *res)
{
	bool driver = a->type == RECOVERY_ACT_RELOAD_DRIVER;
	const struct supervisor_channel_conf *sup = &c->sup;
	struct sv_priv_request rq = {.op = SV_PRIV_RUN_COMMAND,
				     .token = a->token,
				     .command = driver ? sup->driver_reload : sup->hook,
				     .step = driver ? "driver" : "hook"};
	return priv(c, &rq, res);
}

/* Whether a ladder's stop would leave an M7 that nothing can start again: none is
 * configured and remoteproc names no file (`unknown`: U-Boot or a debugger started it),
 * so the start that follows could only fail. Said once per stop refused. A reload always
 * has a file (the request is refused otherwise). */
static bool stop_unstartable(struct sv_chan *c)
{
	char name[RECOVERY_FIRMWARE_MAX];

	if (c->rec.state == RECOVERY_RELOAD || c->rec.cfg.firmware[0] || sv_priv_rproc(c) < 0 ||
	    remoteproc_get_firmware(c->rproc, name, sizeof(name)) < 0 || lifecycle_names_file(name))
		return false;
	struct log_fields f = sv_chan_fields(c, LOG_MID_RECOVERY, -ENOENT);
	log_struct(c->sv->log, LOG_WARNING, &f,
		   "recovery step %s: not stopping %s: it names no firmware file ('%s': started "
		   "outside Linux) and none is configured, so it could not be started again; set "
		   "firmware = NAME to let the ladder restart it",
		   recovery_step_to_string(c->rec.cfg.steps[c->rec.step_idx].step),
		   c->rproc->instance, name);
	return true;
}

/* Whether the image a reload or its rollback is about to load has left firmware_dir
 * since it was chosen: the kernel could not load it, so the image running is not
 * stopped for it (said once; the step fails with -ENOENT, which the incident says). */
static bool load_gone(struct sv_chan *c)
{
	const char *fw;

	if (c->rec.state != RECOVERY_RELOAD)
		return false;
	fw = c->rec.rolling_back ? c->rollback.name : c->reload_want.name;
	if (!fw[0] || sv_verify_image_present(c, fw))
		return false;
	struct log_fields f = sv_chan_fields(c, LOG_MID_RELOAD, -ENOENT);
	log_struct(c->sv->log, LOG_WARNING, &f,
		   "%s: firmware %s is no longer under %s: not stopping the M7 for it",
		   c->rec.rolling_back ? "rollback" : "reload", fw, c->sv->cfg.firmware_dir);
	return true;
}

static int act_rproc_stop_start(struct sv_chan *c, const struct recovery_action *a,
				struct recovery_event *res)
{
	bool stop = a->type == RECOVERY_ACT_RPROC_STOP;
	struct sv_priv_request rq = {.op = stop ? SV_PRIV_RPROC_STOP : SV_PRIV_RPROC_START};

	if (stop && (stop_unstartable(c) || load_gone(c))) {
		res->result = -ENOENT;
		return 1;
	}
	int r = sv_priv_run(c, &rq);

	if (cut_short(c, r))
		return 0;
	if (r < 0) {
		res->result = r;
		return 1;
	}
	/* The kernel is done when write() returns; a slower implementation (or the test's
	 * fake) is waited for by reading the state back. */
	return poll_now(c, stop ? SV_POLL_STOP : SV_POLL_START, a->token, res);
}

static int act_rproc_set_firmware(struct sv_chan *c, const struct recovery_action *a,
				  struct recovery_event *res)
{
	struct sv_priv_request rq = {.op = SV_PRIV_RPROC_SET_FIRMWARE, .firmware = a->firmware};
	return priv(c, &rq, res);
}

static int act_watch_tty(struct sv_chan *c, const struct recovery_action *a,
			 struct recovery_event *res)
{
	return poll_now(c, SV_POLL_TTY, 0, res);
}

/* What decided a step that waited for the M7's answer, in words. */
static const char *step_why(const char *token)
{
	static const struct {
		const char *token, *text;
	} texts[] = {
		{"hello", "the M7 answered HOST_HELLO with HELLO"},
		{"host_frames", "a HEARTBEAT showed the M7 took the host's frames"},
		{"heartbeat", "a HEARTBEAT came (it carries no host_frames count)"},
		{"deaf", "HEARTBEATs came, but host_frames did not move: the M7 does not take "
			 "the host's frames"},
		{"silent", "no HELLO, no HEARTBEAT"},
	};

	for (size_t i = 0; token && i < ARRAY_SIZE(texts); i++)
		if (strcmp(token, texts[i].token) == 0)
			return texts[i].text;
	return token;
}

/* A reload or rollback whose load failed (a sysfs write refused, no tty by the deadline):
 * said in the reason's detail and the incident's, as a failed verification is there
 * (EPROTO, by sv_verify.c). The rollback's comes after the reload's. */
static void load_failed(struct sv_chan *c, const struct recovery_action *a)
{
	const char *text = a->result == -ETIMEDOUT ? "timeout" : strerror(-a->result);

	if (a->step == RECOVERY_STEP_RELOAD) {
		snprintf(c->ver_detail, sizeof(c->ver_detail), "%.60s: %s: %.60s",
			 c->reload_want.name, a->result == -ETIMEDOUT ? "timeout" : "load_failed",
			 a->result == -ETIMEDOUT ? "the load did not finish in time" : text);
		if (c->inc)
			snprintf(c->inc->detail, sizeof(c->inc->detail), "%s", c->ver_detail);
	} else if (c->inc) {
		size_t len = strlen(c->inc->detail);
		snprintf(c->inc->detail + len, sizeof(c->inc->detail) - len, "%srollback %.60s: %s",
			 len ? "; " : "", c->rollback.name, text);
	}
}

static int act_step_done(struct sv_chan *c, const struct recovery_action *a,
			 struct recovery_event *res)
{
	struct log_fields f = sv_chan_fields(c, LOG_MID_RECOVERY, a->result < 0 ? a->result : 0);

	const char *why = step_why(a->why);

	if (a->result < 0 && a->result != -EPROTO &&
	    (a->step == RECOVERY_STEP_RELOAD || a->step == RECOVERY_STEP_ROLLBACK))
		load_failed(c, a);

	log_struct(c->sv->log, a->result ? LOG_WARNING : LOG_NOTICE, &f,
		   "recovery step %s %s after %llu ms%s%s%s", recovery_step_to_string(a->step),
		   incident_result_to_string(a->result), (unsigned long long)a->elapsed_ms,
		   why ? " (" : "", why ? why : "", why ? ")" : "");
	sv_chan_note(c, INCIDENT_STEP, "%s %s %llu ms%s%s%s", recovery_step_to_string(a->step),
		     incident_result_to_string(a->result), (unsigned long long)a->elapsed_ms,
		     why ? " (" : "", why ? why : "", why ? ")" : "");
	return 0;
}

static int act_verify(struct sv_chan *c, const struct recovery_action *a,
		      struct recovery_event *res)
{
	sv_verify_start(c, a);
	return 0; /* the verdict comes from the verifier's timer */
}

static int act_rollback(struct sv_chan *c, const struct recovery_action *a,
			struct recovery_event *res)
{
	struct log_fields f = sv_chan_fields(c, LOG_MID_RELOAD, 0);

	log_struct(c->sv->log, LOG_WARNING, &f, "reload %s (%s); rolling back to %s",
		   strcmp(a->reason, "interrupted") == 0 ? "cut short" : "failed", a->reason,
		   a->firmware);
	sv_chan_note(c, INCIDENT_STEP, "rollback to %s (%s)", a->firmware, a->reason);
	if (c->inc && !c->ver_detail[0])
		snprintf(c->inc->detail, sizeof(c->inc->detail), "%.60s: %s", c->reload_want.name,
			 a->reason);
	return 0;
}

static int act_recovered(struct sv_chan *c, const struct recovery_action *a,
			 struct recovery_event *res)
{
	bool reload = a->step == RECOVERY_STEP_RELOAD || a->step == RECOVERY_STEP_ROLLBACK;
	struct log_fields f = sv_chan_fields(c, reload ? LOG_MID_RELOAD : LOG_MID_RECOVERY, 0);

	if (a->step == RECOVERY_STEP_ROLLBACK || a->reason) {
		bool rb = a->step == RECOVERY_STEP_ROLLBACK;
		log_struct(c->sv->log, LOG_WARNING, &f, "%s after %llu ms: %s",
			   rb ? "reload rolled back" : "reloaded firmware kept unverified",
			   (unsigned long long)a->elapsed_ms, c->ver_detail);
		sv_incident_end_later(c, rb ? "rolled_back" : "unverified", SV_INCIDENT_AFTER_MS);
		return 0;
	}
	if (reload || a->step == RECOVERY_STEP_START) {
		struct channel_snapshot snap;
		channel_snapshot(c->ch, &snap);
		log_struct(c->sv->log, LOG_NOTICE, &f, "%s in %llu ms (%s, boot_id %08x)",
			   reload ? "firmware reloaded" : "M7 started",
			   (unsigned long long)a->elapsed_ms, snap.have_hello ? snap.fw_name : "?",
			   snap.have_hello ? snap.hello.boot_id : 0);
	} else {
		/* A retry from `failed` is timed from its start, not from the fault. */
		bool retry = a->step != RECOVERY_STEP_COUNT && strcmp(c->busy_reason, "retry") == 0;
		log_struct(c->sv->log, LOG_NOTICE, &f, "recovered by %s, %llu ms after the %s%s",
			   a->step == RECOVERY_STEP_COUNT ? "itself"
							  : recovery_step_to_string(a->step),
			   (unsigned long long)(daemon_now_ms() - c->last_fault_ms),
			   retry ? "retry began" : "fault", c->kernel_ms ? " (kernel line)" : "");
	}
	sv_incident_end_later(c, "recovered", SV_INCIDENT_AFTER_MS);
	return 0;
}

static int act_gave_up(struct sv_chan *c, const struct recovery_action *a,
		       struct recovery_event *res)
{
	struct log_fields f = sv_chan_fields(c, NULL, 0);
	uint64_t now = daemon_now_ms();

	uint64_t next = c->rec.deadline > now ? c->rec.deadline - now : 0;

	log_struct(c->sv->log, LOG_ERR, &f, "recovery gave up (%s); next try in %llu ms", a->reason,
		   (unsigned long long)next);
	/* A retry the budget refused, with no incident open (the fault's own closed when
	 * its ladder failed), gets a record of its own, as a retry that runs does. */
	if (!c->inc && strcmp(a->reason, "budget") == 0)
		sv_incident_begin(c, "retry", "recovery", "the retry of the failed channel");
	/* Refused by the budget, the incident ran no step: its record says why. */
	if (c->inc && strcmp(a->reason, "budget") == 0) {
		size_t len = strlen(c->inc->detail);
		snprintf(c->inc->detail + len, sizeof(c->inc->detail) - len,
			 "; no recovery: the recovery budget (%u per %u s) is spent, next try in "
			 "%llu s",
			 c->rec.cfg.budget, c->rec.cfg.budget_period_ms / 1000,
			 (unsigned long long)(next + 999) / 1000);
	}
	sv_incident_end(c, "failed");
	return 0;
}

static const action_fn actions[] = {
	[RECOVERY_ACT_SET_STATE] = act_set_state,
	[RECOVERY_ACT_PROBE] = act_probe,
	[RECOVERY_ACT_CLOSE_TTY] = act_close_tty,
	[RECOVERY_ACT_OPEN_TTY] = act_open_tty,
	[RECOVERY_ACT_SEND_HOST_HELLO] = act_send_host_hello,
	[RECOVERY_ACT_RELOAD_DRIVER] = act_command,
	[RECOVERY_ACT_RPROC_STOP] = act_rproc_stop_start,
	[RECOVERY_ACT_RPROC_SET_FIRMWARE] = act_rproc_set_firmware,
	[RECOVERY_ACT_RPROC_START] = act_rproc_stop_start,
	[RECOVERY_ACT_RUN_HOOK] = act_command,
	[RECOVERY_ACT_WATCH_TTY] = act_watch_tty,
	[RECOVERY_ACT_STEP_DONE] = act_step_done,
	[RECOVERY_ACT_RECOVERED] = act_recovered,
	[RECOVERY_ACT_GAVE_UP] = act_gave_up,
	[RECOVERY_ACT_VERIFY] = act_verify,
	[RECOVERY_ACT_ROLLBACK] = act_rollback,
};

/* Carries out one action; see action_fn. */
static int do_action(struct sv_chan *c, const struct recovery_action *a, struct recovery_event *res)
{
	*res = (struct recovery_event){.type = RECOVERY_EV_RESULT, .token = a->token};
	if ((size_t)a->type >= ARRAY_SIZE(actions) || !actions[a->type])
		return 0;
	return actions[a->type](c, a, res);
}

void sv_action_run(struct sv_chan *c, const struct recovery_actions *first)
{
	struct recovery_actions out = *first;

	c->applying = true;
	for (;;) {
		struct recovery_event res;
		bool pending = false;
		size_t i;

		for (i = 0; i < out.n; i++)
			if (do_action(c, &out.a[i], &res))
				pending = true; /* only the last action can be awaited */
		if (!pending)
			break;
		(void)recovery_handle(&c->rec, &res, daemon_now_ms(), &out);
	}
	c->applying = false;
	/* Nothing under recovery (it ended well, or there is no ladder): the next stall is
	 * a new fault, even when the channel could not be said up (its tty closed first). */
	if (c->rec.state == RECOVERY_IDLE)
		c->stall_raised = false;
	/* The reload ended, one way or another: a restart no longer needs to undo it. */
	if (c->reload_recorded && c->rec.state != RECOVERY_RELOAD)
		sv_verify_clear_reload(c);
	if (out.deadline_ms)
		sv_chan_arm(c->ev_rec, out.deadline_ms);
	else
		evtimer_del(c->ev_rec);
	/* A retry ladder (from `failed`) opens its own record. */
	if (recovery_busy(&c->rec) && !c->inc)
		sv_incident_begin(c, c->busy_reason[0] ? c->busy_reason : "recover",
				  strcmp(c->busy_reason, "retry") == 0 ? "recovery" : "request",
				  "");
}
/* ---- timers ---- */

void sv_action_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	struct recovery_event ev = {.type = RECOVERY_EV_TICK};

	if (c->rec.state == RECOVERY_FAILED && !c->inc) {
		c->last_fault_ms = daemon_now_ms();
		c->kernel_ms = 0; /* the retry is no kernel line's doing */
	}
	sv_action_feed(c, &ev);
	sv_chan_flush(c);
}
