/* Recovery ladder: a pure per-channel state machine (events + time in, actions out).
 * The glue in the daemon carries the actions out and feeds their results back. */
#include "recovery.h"
#include "macro.h"

#include <errno.h>
#include <string.h>

/* What the current try waits for. */
enum phase {
	PH_NONE = 0,
	PH_DELAY,  /* retry delay before the next try of the same step */
	PH_RESULT, /* an awaited action */
	PH_TTY,	   /* the device node */
	PH_HELLO,  /* HELLO or HEARTBEAT on the reopened link */
	PH_VERIFY, /* the glue checks the firmware that came up */
};

/* Script operations; each step is a short script. */
enum op {
	OP_END = 0,
	OP_CLOSE,
	OP_OPEN,
	OP_HELLO,
	OP_DRIVER,
	OP_STOP,
	OP_SETFW,
	OP_START,
	OP_HOOK,
	OP_WAIT_TTY,
	OP_WAIT_HELLO,
	OP_VERIFY,
};

/* Why each script looks the way it does is in docs/RECOVERY.md. The tty is closed
 * before anything removes its node: the NXP driver unregisters it without a hangup. */
static const unsigned char script_resync[] = {OP_HELLO, OP_WAIT_HELLO, OP_END};
static const unsigned char script_reopen[] = {OP_CLOSE, OP_OPEN, OP_HELLO, OP_WAIT_HELLO, OP_END};
static const unsigned char script_driver[] = {OP_CLOSE, OP_DRIVER,     OP_WAIT_TTY, OP_OPEN,
					      OP_HELLO, OP_WAIT_HELLO, OP_END};
/* A restarted M7 must prove which image it runs: VERIFY, not any HELLO. */
static const unsigned char script_rproc[] = {OP_CLOSE, OP_STOP,	 OP_SETFW,  OP_START, OP_WAIT_TTY,
					     OP_OPEN,  OP_HELLO, OP_VERIFY, OP_END};
/* An offline M7 has nothing to stop: set the firmware, start it. A tty held open across
 * the stop that took it offline is closed first (no hangup from the NXP driver). */
static const unsigned char script_start[] = {OP_CLOSE, OP_SETFW, OP_START,  OP_WAIT_TTY,
					     OP_OPEN,  OP_HELLO, OP_VERIFY, OP_END};
static const unsigned char script_hook[] = {OP_CLOSE, OP_HOOK,	     OP_WAIT_TTY, OP_OPEN,
					    OP_HELLO, OP_WAIT_HELLO, OP_END};

static const unsigned char *const scripts[RECOVERY_STEP_COUNT] = {
	[RECOVERY_STEP_RESYNC] = script_resync,	 [RECOVERY_STEP_REOPEN] = script_reopen,
	[RECOVERY_STEP_DRIVER] = script_driver,	 [RECOVERY_STEP_REMOTEPROC] = script_rproc,
	[RECOVERY_STEP_HOOK] = script_hook,	 [RECOVERY_STEP_RELOAD] = script_rproc,
	[RECOVERY_STEP_ROLLBACK] = script_rproc, [RECOVERY_STEP_START] = script_start,
};

static const char *const step_names[RECOVERY_STEP_COUNT] = {
	[RECOVERY_STEP_RESYNC] = "resync",     [RECOVERY_STEP_REOPEN] = "reopen",
	[RECOVERY_STEP_DRIVER] = "driver",     [RECOVERY_STEP_REMOTEPROC] = "remoteproc",
	[RECOVERY_STEP_HOOK] = "hook",	       [RECOVERY_STEP_RELOAD] = "reload",
	[RECOVERY_STEP_ROLLBACK] = "rollback", [RECOVERY_STEP_START] = "start",
};

/* Defaults per step: timeout, tries, retry delay. The remoteproc step covers firmware
 * load, boot, name-service announce and the tty probe, hence the long timeout. */
static const struct recovery_step_config step_defaults[RECOVERY_STEP_COUNT] = {
	[RECOVERY_STEP_RESYNC] = {RECOVERY_STEP_RESYNC, 2000, 2, 500},
	[RECOVERY_STEP_REOPEN] = {RECOVERY_STEP_REOPEN, 3000, 1, 0},
	[RECOVERY_STEP_DRIVER] = {RECOVERY_STEP_DRIVER, 5000, 1, 0},
	[RECOVERY_STEP_REMOTEPROC] = {RECOVERY_STEP_REMOTEPROC, 15000, 2, 1000},
	[RECOVERY_STEP_HOOK] = {RECOVERY_STEP_HOOK, 30000, 1, 0},
	[RECOVERY_STEP_RELOAD] = {RECOVERY_STEP_RELOAD, 20000, 1, 0},
	[RECOVERY_STEP_ROLLBACK] = {RECOVERY_STEP_ROLLBACK, 20000, 1, 0},
	[RECOVERY_STEP_START] = {RECOVERY_STEP_START, 15000, 1, 0},
};

DEFINE_STRING_TABLE_LOOKUP(recovery_step, enum recovery_step, step_names)

int recovery_step_from_string(const char *name, enum recovery_step *out)
{
	int i;

	if (!name)
		return -EINVAL;
	for (i = 0; i < RECOVERY_STEP_COUNT; i++)
		if (strcmp(name, step_names[i]) == 0) {
			*out = (enum recovery_step)i;
			return 0;
		}
	return -EINVAL;
}

static const char *const recovery_state_names[] = {
	[RECOVERY_IDLE] = "idle",
	[RECOVERY_RUNNING] = "running",
	[RECOVERY_RELOAD] = "reload",
	[RECOVERY_FAILED] = "failed",
};
DEFINE_STRING_TABLE_LOOKUP(recovery_state, enum recovery_state, recovery_state_names)

static const char *const recovery_link_names[] = {
	[RECOVERY_LINK_UP] = "up",
	[RECOVERY_LINK_RECOVERING] = "recovering",
	[RECOVERY_LINK_RELOADING] = "reloading",
	[RECOVERY_LINK_FAILED] = "failed",
	[RECOVERY_LINK_ROLLED_BACK] = "rolled_back",
};
DEFINE_STRING_TABLE_LOOKUP(recovery_link, enum recovery_link, recovery_link_names)

static const char *const recovery_action_names[] = {
	[RECOVERY_ACT_SET_STATE] = "set_state",
	[RECOVERY_ACT_PROBE] = "probe",
	[RECOVERY_ACT_CLOSE_TTY] = "close_tty",
	[RECOVERY_ACT_OPEN_TTY] = "open_tty",
	[RECOVERY_ACT_SEND_HOST_HELLO] = "send_host_hello",
	[RECOVERY_ACT_RELOAD_DRIVER] = "reload_driver",
	[RECOVERY_ACT_RPROC_STOP] = "rproc_stop",
	[RECOVERY_ACT_RPROC_SET_FIRMWARE] = "rproc_set_firmware",
	[RECOVERY_ACT_RPROC_START] = "rproc_start",
	[RECOVERY_ACT_RUN_HOOK] = "run_hook",
	[RECOVERY_ACT_WATCH_TTY] = "watch_tty",
	[RECOVERY_ACT_STEP_DONE] = "step_done",
	[RECOVERY_ACT_RECOVERED] = "recovered",
	[RECOVERY_ACT_GAVE_UP] = "gave_up",
	[RECOVERY_ACT_VERIFY] = "verify",
	[RECOVERY_ACT_ROLLBACK] = "rollback",
};
DEFINE_STRING_TABLE_LOOKUP(recovery_action, enum recovery_action_type, recovery_action_names)

bool recovery_firmware_name_ok(const char *name)
{
	size_t i, len;

	if (!name)
		return false;
	len = strnlen(name, RECOVERY_FIRMWARE_MAX);
	if (len == 0 || len >= RECOVERY_FIRMWARE_MAX || name[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || c == '/' || c == '\\')
			return false;
	}
	return true;
}

void recovery_config_default(struct recovery_config *cfg)
{
	static const enum recovery_step ladder[] = {RECOVERY_STEP_RESYNC, RECOVERY_STEP_REOPEN,
						    RECOVERY_STEP_DRIVER, RECOVERY_STEP_REMOTEPROC,
						    RECOVERY_STEP_HOOK};
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < sizeof(ladder) / sizeof(ladder[0]); i++)
		cfg->steps[i] = step_defaults[ladder[i]];
	cfg->n_steps = i;
	cfg->backoff_ms = 5000;
	cfg->backoff_max_ms = 300000;
	cfg->budget = 5;
	cfg->budget_period_ms = 600000;
	cfg->degraded_limit = 5;
	cfg->degraded_window_ms = 30000;
	cfg->reload_timeout_ms = step_defaults[RECOVERY_STEP_RELOAD].timeout_ms;
	cfg->start_timeout_ms = step_defaults[RECOVERY_STEP_START].timeout_ms;
	cfg->verify_ms = 10000;
}

int recovery_config_parse_steps(struct recovery_config *cfg, const char *list)
{
	struct recovery_step_config steps[RECOVERY_STEPS_MAX];
	size_t n = 0, i;
	const char *p = list;

	if (!list)
		return -EINVAL;
	while (*p) {
		char word[32];
		size_t len = 0;
		enum recovery_step s;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		while (*p && *p != ',' && *p != ' ' && *p != '\t') {
			if (len + 1 >= sizeof(word))
				return -EINVAL;
			word[len++] = *p++;
		}
		word[len] = '\0';
		if (recovery_step_from_string(word, &s) < 0 || s >= RECOVERY_STEP_RELOAD)
			return -EINVAL;
		if (n >= RECOVERY_STEPS_MAX)
			return -EINVAL;
		for (i = 0; i < n; i++)
			if (steps[i].step == s)
				return -EINVAL;
		steps[n] = step_defaults[s];
		for (i = 0; i < cfg->n_steps; i++)
			if (cfg->steps[i].step == s)
				steps[n] = cfg->steps[i];
		n++;
	}
	memcpy(cfg->steps, steps, n * sizeof(steps[0]));
	cfg->n_steps = n;
	return 0;
}

int recovery_config_check(const struct recovery_config *cfg)
{
	size_t i;

	if (cfg->n_steps > RECOVERY_STEPS_MAX || cfg->budget > RECOVERY_BUDGET_MAX ||
	    cfg->degraded_limit > RECOVERY_BUDGET_MAX || cfg->backoff_ms == 0 ||
	    cfg->backoff_max_ms < cfg->backoff_ms || cfg->reload_timeout_ms == 0 ||
	    cfg->start_timeout_ms == 0 || (cfg->budget && cfg->budget_period_ms == 0) ||
	    (cfg->degraded_limit && cfg->degraded_window_ms == 0))
		return -EINVAL;
	if (cfg->firmware[0] && !recovery_firmware_name_ok(cfg->firmware))
		return -EINVAL;
	for (i = 0; i < cfg->n_steps; i++) {
		const struct recovery_step_config *s = &cfg->steps[i];
		if ((unsigned)s->step >= RECOVERY_STEP_RELOAD || s->timeout_ms == 0 ||
		    s->tries == 0 || s->tries > 16)
			return -EINVAL;
	}
	return 0;
}

void recovery_init(struct recovery *r, const struct recovery_config *cfg)
{
	memset(r, 0, sizeof(*r));
	r->cfg = *cfg;
	r->state = RECOVERY_IDLE;
	r->backoff_cur = cfg->backoff_ms;
}

int recovery_set_firmware(struct recovery *r, const char *name)
{
	if (name[0] && !recovery_firmware_name_ok(name))
		return -EINVAL;
	/* A step that runs has its name already; the next one takes the new one. */
	memcpy(r->cfg.firmware, name, strlen(name) + 1);
	return 0;
}

void recovery_carry(struct recovery *r, const struct recovery *old)
{
	/* The budget is a promise about the M7, not about one set of settings: a SIGHUP
	 * must not hand a firmware that keeps dying a fresh allowance. */
	memcpy(r->budget_ring, old->budget_ring, sizeof(r->budget_ring));
	r->budget_n = old->budget_n;
	memcpy(r->degraded_ring, old->degraded_ring, sizeof(r->degraded_ring));
	r->degraded_n = old->degraded_n;
	memcpy(r->history, old->history, sizeof(r->history));
	r->history_n = old->history_n;
	r->steps_begun = old->steps_begun;
	r->first_step = old->first_step;
	r->recoveries = old->recoveries;
	r->started_ms = old->started_ms;
	r->hf_known = old->hf_known;
	r->hf_last = old->hf_last;
	r->backoff_cur = old->backoff_cur < r->cfg.backoff_ms	    ? r->cfg.backoff_ms
			 : old->backoff_cur > r->cfg.backoff_max_ms ? r->cfg.backoff_max_ms
								    : old->backoff_cur;
	if (old->state == RECOVERY_FAILED) {
		r->state = RECOVERY_FAILED;
		r->deadline = old->deadline;
		r->failed_reason = old->failed_reason;
	}
}

void recovery_host_frames_seen(struct recovery *r, uint32_t host_frames)
{
	r->hf_known = true;
	r->hf_last = host_frames;
}

/* From now on a HEARTBEAT answers only if its host_frames moved from the count known
 * now (from the first one that shows a count, when none is known yet). */
static void wait_begin(struct recovery *r)
{
	r->hf_base_known = r->hf_known;
	r->hf_base = r->hf_last;
	r->deaf_beats = 0;
}

/* Whether a HEARTBEAT shows that the host's frames reach the M7 (r->why says how). An M7
 * deaf to the mailbox still sends its periodic HEARTBEATs, with the same count. */
static bool heartbeat_heard(struct recovery *r, const struct recovery_event *ev)
{
	bool moved;

	if (!ev->has_host_frames) {
		r->why = "heartbeat";
		return true;
	}
	moved = r->hf_base_known && ev->host_frames != r->hf_base;
	if (!r->hf_base_known) {
		r->hf_base_known = true;
		r->hf_base = ev->host_frames;
	}
	recovery_host_frames_seen(r, ev->host_frames);
	if (moved) {
		r->why = "host_frames";
		return true;
	}
	r->deaf_beats++;
	return false;
}

bool recovery_busy(const struct recovery *r)
{
	return r->state == RECOVERY_RUNNING || r->state == RECOVERY_RELOAD;
}

static struct recovery_action *emit(struct recovery_actions *out, enum recovery_action_type t)
{
	struct recovery_action *a;

	/* The scripts bound a call to well under RECOVERY_ACTIONS_MAX actions. */
	if (out->n >= RECOVERY_ACTIONS_MAX)
		out->n = RECOVERY_ACTIONS_MAX - 1;
	a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	a->type = t;
	return a;
}

static void emit_state(struct recovery_actions *out, enum recovery_link l, const char *reason)
{
	struct recovery_action *a = emit(out, RECOVERY_ACT_SET_STATE);
	a->state = l;
	a->reason = reason;
}

static enum recovery_step current_step(const struct recovery *r)
{
	if (r->state == RECOVERY_RELOAD)
		return r->rolling_back ? RECOVERY_STEP_ROLLBACK : RECOVERY_STEP_RELOAD;
	if (r->starting)
		return RECOVERY_STEP_START;
	return r->cfg.steps[r->step_idx].step;
}

static const char *firmware_for_step(const struct recovery *r)
{
	if (r->state == RECOVERY_RELOAD && r->rolling_back)
		return r->rollback_fw;
	if (r->state == RECOVERY_RELOAD && r->reload_fw[0])
		return r->reload_fw;
	return r->cfg.firmware;
}

static void history_push(struct recovery *r, enum recovery_step s, uint64_t now)
{
	if (r->history_n == RECOVERY_HISTORY_MAX) {
		memmove(r->history, r->history + 1,
			sizeof(r->history[0]) * (RECOVERY_HISTORY_MAX - 1));
		r->history_n--;
	}
	r->history[r->history_n].seq = ++r->steps_begun;
	r->history[r->history_n].step = s;
	r->history[r->history_n].start_ms = now;
	r->history[r->history_n].end_ms = 0;
	r->history[r->history_n].result = 1;
	r->history_n++;
}

static void history_end(struct recovery *r, uint64_t now, int result, const char *why)
{
	if (r->history_n == 0)
		return;
	r->history[r->history_n - 1].end_ms = now;
	r->history[r->history_n - 1].result = result;
	r->history[r->history_n - 1].why = why;
}

/* Issues the script from r->op until something must be waited for. */
static void run_script(struct recovery *r, uint64_t now, struct recovery_actions *out)
{
	const unsigned char *script = scripts[current_step(r)];
	struct recovery_action *a;

	for (;;) {
		switch (script[r->op]) {
		case OP_END:
			/* Scripts end with WAIT_HELLO or VERIFY; never reached. */
			r->phase = PH_HELLO;
			return;
		case OP_CLOSE:
			emit(out, RECOVERY_ACT_CLOSE_TTY);
			break;
		case OP_HELLO:
			wait_begin(r);
			emit(out, RECOVERY_ACT_SEND_HOST_HELLO);
			break;
		case OP_SETFW:
			if (!firmware_for_step(r)[0])
				break;
			a = emit(out, RECOVERY_ACT_RPROC_SET_FIRMWARE);
			a->firmware = firmware_for_step(r);
			a->token = ++r->token;
			r->phase = PH_RESULT;
			return;
		case OP_OPEN:
		case OP_DRIVER:
		case OP_STOP:
		case OP_START:
		case OP_HOOK: {
			static const enum recovery_action_type map[] = {
				[OP_OPEN] = RECOVERY_ACT_OPEN_TTY,
				[OP_DRIVER] = RECOVERY_ACT_RELOAD_DRIVER,
				[OP_STOP] = RECOVERY_ACT_RPROC_STOP,
				[OP_START] = RECOVERY_ACT_RPROC_START,
				[OP_HOOK] = RECOVERY_ACT_RUN_HOOK,
			};
			a = emit(out, map[script[r->op]]);
			a->token = ++r->token;
			r->phase = PH_RESULT;
			return;
		}
		case OP_WAIT_TTY:
			emit(out, RECOVERY_ACT_WATCH_TTY);
			r->phase = PH_TTY;
			return;
		case OP_WAIT_HELLO:
			r->phase = PH_HELLO;
			return;
		case OP_VERIFY:
			a = emit(out, RECOVERY_ACT_VERIFY);
			a->step = current_step(r);
			a->firmware = firmware_for_step(r);
			a->deadline_ms = r->deadline;
			a->token = ++r->token;
			/* The verifier keeps its own deadlines; this one only backs them up. */
			r->deadline += r->cfg.verify_ms;
			r->phase = PH_VERIFY;
			return;
		}
		r->op++;
	}
	(void)now;
}

static void begin_try(struct recovery *r, uint64_t now, struct recovery_actions *out)
{
	uint32_t timeout = r->state == RECOVERY_RELOAD ? r->cfg.reload_timeout_ms
			   : r->starting	       ? r->cfg.start_timeout_ms
						       : r->cfg.steps[r->step_idx].timeout_ms;

	history_push(r, current_step(r), now);
	r->op = 0;
	r->try_started_ms = now;
	r->deadline = now + timeout;
	run_script(r, now, out);
}

/* Prunes times older than the window and says how many remain. */
static size_t ring_count(uint64_t *ring, size_t *n, uint64_t now, uint32_t window)
{
	size_t i, k = 0;

	for (i = 0; i < *n; i++)
		if (now < window || ring[i] > now - window)
			ring[k++] = ring[i];
	*n = k;
	return k;
}

static void ring_add(uint64_t *ring, size_t *n, uint64_t now)
{
	if (*n == RECOVERY_BUDGET_MAX) {
		memmove(ring, ring + 1, sizeof(ring[0]) * (RECOVERY_BUDGET_MAX - 1));
		(*n)--;
	}
	ring[(*n)++] = now;
}

/* Whether an automatic ladder may start now. */
static bool budget_left(struct recovery *r, uint64_t now)
{
	return !r->cfg.budget || ring_count(r->budget_ring, &r->budget_n, now,
					    r->cfg.budget_period_ms) < r->cfg.budget;
}

bool recovery_budget_left(struct recovery *r, uint64_t now_ms)
{
	return budget_left(r, now_ms);
}

static void enter_failed(struct recovery *r, uint64_t now, const char *reason, uint64_t retry_at,
			 struct recovery_actions *out)
{
	struct recovery_action *a;
	/* A retry refused by the budget keeps the channel failed for another reason: say
	 * so, or `status` goes on naming the exhaustion that came before. */
	bool same = r->state == RECOVERY_FAILED && r->failed_reason &&
		    strcmp(r->failed_reason, reason) == 0;

	r->state = RECOVERY_FAILED;
	r->phase = PH_NONE;
	r->deadline = retry_at;
	wait_begin(r);
	r->failed_reason = reason;
	if (!same)
		emit_state(out, RECOVERY_LINK_FAILED, reason);
	a = emit(out, RECOVERY_ACT_GAVE_UP);
	a->reason = reason;
	a->elapsed_ms = now - r->started_ms;
}

/* Failed: retry after the current backoff, which then doubles up to the cap. */
static void ladder_exhausted(struct recovery *r, uint64_t now, const char *reason,
			     struct recovery_actions *out)
{
	uint64_t at = now + r->backoff_cur;

	r->backoff_cur = r->backoff_cur * 2 > r->cfg.backoff_max_ms ? r->cfg.backoff_max_ms
								    : r->backoff_cur * 2;
	enter_failed(r, now, reason, at, out);
}

static int start_ladder(struct recovery *r, uint64_t now, const char *reason, bool manual,
			enum recovery_step first, struct recovery_actions *out)
{
	size_t idx = 0;

	if (r->cfg.n_steps == 0)
		return -EOPNOTSUPP;
	if (first != RECOVERY_STEP_COUNT) {
		for (idx = 0; idx < r->cfg.n_steps; idx++)
			if (r->cfg.steps[idx].step == first)
				break;
		if (idx == r->cfg.n_steps)
			return -EOPNOTSUPP;
	}
	/* The budget stops an automatic ladder from thrashing the M7; an operator's request
	 * is obeyed but still counted. */
	if (!manual && !budget_left(r, now)) {
		enter_failed(r, now, "budget", r->budget_ring[0] + r->cfg.budget_period_ms, out);
		return 0;
	}
	ring_add(r->budget_ring, &r->budget_n, now);
	/* The retry of a fault's ladder is still about that fault. */
	if (manual)
		r->fault = NULL;
	else if (strcmp(reason, "retry") != 0)
		r->fault = reason;
	r->recoveries++;
	r->state = RECOVERY_RUNNING;
	r->started_ms = now;
	r->first_step = r->steps_begun + 1;
	r->step_idx = idx;
	r->try_no = 1;
	emit_state(out, RECOVERY_LINK_RECOVERING, reason);
	begin_try(r, now, out);
	return 0;
}

/* The M7 is offline: start it, counted against the budget like an automatic ladder (a
 * firmware that takes itself offline again is not started forever). */
static int start_offline(struct recovery *r, uint64_t now, const char *reason,
			 struct recovery_actions *out)
{
	if (!budget_left(r, now)) {
		enter_failed(r, now, "budget", r->budget_ring[0] + r->cfg.budget_period_ms, out);
		return 0;
	}
	ring_add(r->budget_ring, &r->budget_n, now);
	r->recoveries++;
	r->state = RECOVERY_RUNNING;
	r->starting = true;
	r->started_ms = now;
	r->first_step = r->steps_begun + 1;
	r->try_no = 1;
	emit_state(out, RECOVERY_LINK_RECOVERING, reason ? reason : "offline");
	begin_try(r, now, out);
	return 0;
}

static int start_reload(struct recovery *r, uint64_t now, const struct recovery_event *ev,
			struct recovery_actions *out)
{
	const char *fw = ev->firmware;
	const char *rb = ev->rollback_fw;

	if ((fw && *fw && !recovery_firmware_name_ok(fw)) ||
	    (rb && *rb && !recovery_firmware_name_ok(rb)))
		return -EINVAL;
	if (fw && *fw)
		memcpy(r->reload_fw, fw, strlen(fw) + 1);
	else
		r->reload_fw[0] = '\0';
	if (rb && *rb)
		memcpy(r->rollback_fw, rb, strlen(rb) + 1);
	else
		r->rollback_fw[0] = '\0';
	r->no_rollback = ev->no_rollback;
	r->rolling_back = false;
	r->fail_reason = NULL;
	r->state = RECOVERY_RELOAD;
	r->started_ms = now;
	r->first_step = r->steps_begun + 1;
	r->try_no = 1;
	emit_state(out, RECOVERY_LINK_RELOADING, "reload");
	begin_try(r, now, out);
	return 0;
}

static void succeeded(struct recovery *r, uint64_t now, struct recovery_actions *out)
{
	struct recovery_action *a;
	enum recovery_step s = current_step(r);

	if (r->state == RECOVERY_RUNNING && !r->starting && r->fault) {
		r->ok_ms = now;
		r->ok_idx = r->step_idx;
		r->ok_fault = r->fault;
	}

	a = emit(out, RECOVERY_ACT_STEP_DONE);
	a->step = s;
	a->why = r->phase == PH_HELLO ? r->why : NULL;
	history_end(r, now, 0, a->why);
	a->elapsed_ms = now - r->try_started_ms;
	if (s == RECOVERY_STEP_ROLLBACK)
		emit_state(out, RECOVERY_LINK_ROLLED_BACK, r->fail_reason);
	emit_state(out, RECOVERY_LINK_UP,
		   s == RECOVERY_STEP_RELOAD	 ? "reload"
		   : s == RECOVERY_STEP_ROLLBACK ? "rollback"
		   : s == RECOVERY_STEP_START	 ? "started"
						 : "recovered");
	a = emit(out, RECOVERY_ACT_RECOVERED);
	a->step = s;
	a->elapsed_ms = now - r->started_ms;
	r->state = RECOVERY_IDLE;
	r->starting = false;
	r->phase = PH_NONE;
	r->deadline = 0;
	r->backoff_cur = r->cfg.backoff_ms;
}

/* Loads rollback_fw, once: a rollback that fails ends failed. */
static void begin_rollback(struct recovery *r, uint64_t now, struct recovery_actions *out)
{
	struct recovery_action *a = emit(out, RECOVERY_ACT_ROLLBACK);

	a->reason = r->fail_reason;
	a->firmware = r->rollback_fw;
	a->elapsed_ms = now - r->started_ms;
	r->rolling_back = true;
	r->try_no = 1;
	emit_state(out, RECOVERY_LINK_RELOADING, "rollback");
	begin_try(r, now, out);
}

/* A reload that the daemon's restart cut short: its image was never verified, so the
 * image it replaced is loaded again, as after a failed reload. */
static int rollback_interrupted(struct recovery *r, uint64_t now, const struct recovery_event *ev,
				struct recovery_actions *out)
{
	const char *rb = ev->rollback_fw;

	if (!rb || !recovery_firmware_name_ok(rb) ||
	    (ev->firmware && *ev->firmware && !recovery_firmware_name_ok(ev->firmware)))
		return -EINVAL;
	memcpy(r->rollback_fw, rb, strlen(rb) + 1);
	if (ev->firmware && *ev->firmware)
		memcpy(r->reload_fw, ev->firmware, strlen(ev->firmware) + 1);
	else
		r->reload_fw[0] = '\0';
	r->no_rollback = false;
	r->fail_reason = ev->reason ? ev->reason : "interrupted";
	r->state = RECOVERY_RELOAD;
	r->started_ms = now;
	r->first_step = r->steps_begun + 1;
	begin_rollback(r, now, out);
	return 0;
}

/* A reload that failed: roll back once to the last good firmware, or (developers) leave
 * the new image running, or give up. A failed rollback is never rolled back: no loops. */
static void reload_failed(struct recovery *r, uint64_t now, int err, struct recovery_actions *out)
{
	struct recovery_action *a;
	bool verify = r->phase == PH_VERIFY;

	if (r->rolling_back) {
		ladder_exhausted(r, now, "rollback_failed", out);
		return;
	}
	if (!r->fail_reason)
		r->fail_reason = err == -ETIMEDOUT ? "timeout" : "load_failed";
	if (r->no_rollback && verify) {
		/* The image runs (it opened the link); the operator asked to keep it. */
		emit_state(out, RECOVERY_LINK_UP, "unverified");
		a = emit(out, RECOVERY_ACT_RECOVERED);
		a->step = RECOVERY_STEP_RELOAD;
		a->reason = r->fail_reason;
		a->elapsed_ms = now - r->started_ms;
		r->state = RECOVERY_IDLE;
		r->phase = PH_NONE;
		r->deadline = 0;
		return;
	}
	if (r->no_rollback || !r->rollback_fw[0]) {
		ladder_exhausted(r, now, "reload_failed", out);
		return;
	}
	begin_rollback(r, now, out);
}

static void try_failed(struct recovery *r, uint64_t now, int err, struct recovery_actions *out)
{
	struct recovery_action *a;
	const struct recovery_step_config *sc;

	a = emit(out, RECOVERY_ACT_STEP_DONE);
	a->step = current_step(r);
	a->result = err;
	/* A wait for the M7's answer that timed out: deaf (it talks, but what the host sends
	 * does not arrive) or silent. */
	if (r->phase == PH_HELLO && err == -ETIMEDOUT)
		a->why = r->deaf_beats ? "deaf" : "silent";
	history_end(r, now, err, a->why);
	a->elapsed_ms = now - r->try_started_ms;
	if (r->state == RECOVERY_RELOAD) {
		reload_failed(r, now, err, out);
		return;
	}
	if (r->starting) {
		/* Not a ladder: its steps cannot start an M7 that refused to start. The retry
		 * after the backoff walks the ladder, remoteproc step included. */
		r->starting = false;
		ladder_exhausted(r, now, "start_failed", out);
		return;
	}
	sc = &r->cfg.steps[r->step_idx];
	if (r->try_no < sc->tries) {
		r->phase = PH_DELAY;
		r->deadline = now + ((uint64_t)sc->retry_delay_ms << (r->try_no - 1));
		r->try_no++;
		if (r->deadline == now)
			begin_try(r, now, out);
		return;
	}
	if (++r->step_idx >= r->cfg.n_steps) {
		r->step_idx = r->cfg.n_steps - 1;
		ladder_exhausted(r, now, "exhausted", out);
		return;
	}
	r->try_no = 1;
	begin_try(r, now, out);
}

static int handle_busy(struct recovery *r, const struct recovery_event *ev, uint64_t now,
		       struct recovery_actions *out)
{
	switch (ev->type) {
	case RECOVERY_EV_RESULT:
		if (r->phase == PH_VERIFY && ev->token == r->token) {
			if (ev->result == 0) {
				succeeded(r, now, out);
				return 0;
			}
			if (r->state == RECOVERY_RELOAD && !r->rolling_back)
				r->fail_reason = ev->reason ? ev->reason : "unverified";
			try_failed(r, now, ev->result, out);
			return 0;
		}
		if (r->phase != PH_RESULT || ev->token != r->token)
			return 0; /* stale: a command that outlived its try */
		if (ev->result < 0) {
			try_failed(r, now, ev->result, out);
			return 0;
		}
		r->op++;
		run_script(r, now, out);
		return 0;
	case RECOVERY_EV_TTY_APPEARED:
		if (r->phase == PH_TTY) {
			r->op++;
			run_script(r, now, out);
		}
		return 0;
	case RECOVERY_EV_HELLO:
		/* Only a frame on the link this try reopened counts; the firmware says HELLO
		 * only to answer HOST_HELLO or when it starts. */
		if (r->phase == PH_HELLO) {
			r->why = "hello";
			succeeded(r, now, out);
		}
		return 0;
	case RECOVERY_EV_HEARTBEAT:
		/* The periodic HEARTBEAT proves only the M7-to-host half: it counts when it
		 * shows that the host's frames arrive again. */
		if (r->phase == PH_HELLO) {
			if (heartbeat_heard(r, ev))
				succeeded(r, now, out);
		} else if (ev->has_host_frames) {
			recovery_host_frames_seen(r, ev->host_frames);
		}
		return 0;
	case RECOVERY_EV_TICK:
		if (now < r->deadline)
			return 0;
		if (r->phase == PH_DELAY)
			begin_try(r, now, out);
		else
			try_failed(r, now, -ETIMEDOUT, out);
		return 0;
	case RECOVERY_EV_FAULT:
		/* Expected while the ladder stops things; the try's deadline decides. */
		return 0;
	case RECOVERY_EV_RECOVER:
	case RECOVERY_EV_RELOAD:
	case RECOVERY_EV_START:
	case RECOVERY_EV_ROLLBACK:
		return -EBUSY;
	}
	return -EINVAL;
}

/* The first step of a ladder a fault starts: the one after the step that ended the last
 * ladder well, when this fault came soon after (an asserted M7 answers the resync's
 * HELLO, and only a restart helps: without this every ladder would stop at resync). */
static enum recovery_step relapse_step(const struct recovery *r, const char *fault, uint64_t now)
{
	size_t idx;

	if (!r->ok_ms || now - r->ok_ms >= RECOVERY_RELAPSE_MS || r->ok_idx >= r->cfg.n_steps ||
	    !r->ok_fault || strcmp(r->ok_fault, fault) != 0)
		return RECOVERY_STEP_COUNT;
	idx = r->ok_idx + 1 < r->cfg.n_steps ? r->ok_idx + 1 : r->ok_idx;
	return r->cfg.steps[idx].step;
}

static int handle_fault(struct recovery *r, const struct recovery_event *ev, uint64_t now,
			struct recovery_actions *out)
{
	const char *reason = ev->reason ? ev->reason : "fault";

	switch (ev->severity) {
	case RECOVERY_SEV_NOTICE:
		return 0;
	case RECOVERY_SEV_DEGRADED:
		ring_add(r->degraded_ring, &r->degraded_n, now);
		/* With the budget spent the link still answers: failing it would last only
		 * until the next HEARTBEAT, then the next kick would fail it again. The probe
		 * decides instead; a missed HEARTBEAT is a stall, and that does fail it. */
		if (r->cfg.degraded_limit && budget_left(r, now) &&
		    ring_count(r->degraded_ring, &r->degraded_n, now, r->cfg.degraded_window_ms) >=
			    r->cfg.degraded_limit) {
			r->degraded_n = 0;
			if (start_ladder(r, now, reason, false, relapse_step(r, reason, now),
					 out) == 0)
				return 0;
		}
		/* A kick can fail once under load; only a missed HEARTBEAT makes it a stall. */
		emit(out, RECOVERY_ACT_PROBE);
		return 0;
	case RECOVERY_SEV_DOWN:
		if (start_ladder(r, now, reason, false, relapse_step(r, reason, now), out) ==
		    -EOPNOTSUPP)
			return 0; /* no ladder configured: faults are recorded only */
		return 0;
	}
	return -EINVAL;
}

int recovery_handle(struct recovery *r, const struct recovery_event *ev, uint64_t now_ms,
		    struct recovery_actions *out)
{
	int ret = 0;

	out->n = 0;
	out->deadline_ms = 0;
	if (!ev)
		return -EINVAL;
	switch (r->state) {
	case RECOVERY_RUNNING:
	case RECOVERY_RELOAD:
		ret = handle_busy(r, ev, now_ms, out);
		break;
	case RECOVERY_IDLE:
	case RECOVERY_FAILED:
		switch (ev->type) {
		case RECOVERY_EV_FAULT:
			if (r->state == RECOVERY_IDLE)
				ret = handle_fault(r, ev, now_ms, out);
			break;
		case RECOVERY_EV_HEARTBEAT:
			if (r->state != RECOVERY_FAILED) {
				if (ev->has_host_frames)
					recovery_host_frames_seen(r, ev->host_frames);
				break;
			}
			/* Failed, the M7 deaf: its periodic HEARTBEATs are no news. */
			if (!heartbeat_heard(r, ev))
				break;
			/* fall through */
		case RECOVERY_EV_HELLO:
			if (r->state == RECOVERY_FAILED) {
				/* Back by itself (or by hand): take it. */
				struct recovery_action *a;
				r->state = RECOVERY_IDLE;
				r->deadline = 0;
				r->backoff_cur = r->cfg.backoff_ms;
				emit_state(out, RECOVERY_LINK_UP, "hello");
				a = emit(out, RECOVERY_ACT_RECOVERED);
				a->step = RECOVERY_STEP_COUNT;
				a->elapsed_ms = now_ms - r->started_ms;
			}
			break;
		case RECOVERY_EV_TICK:
			if (r->state == RECOVERY_FAILED && now_ms >= r->deadline)
				ret = start_ladder(r, now_ms, "retry", false, RECOVERY_STEP_COUNT,
						   out);
			break;
		case RECOVERY_EV_TTY_APPEARED:
		case RECOVERY_EV_RESULT:
			break;
		case RECOVERY_EV_RECOVER:
			ret = start_ladder(r, now_ms, "recover", true, ev->step, out);
			break;
		case RECOVERY_EV_RELOAD:
			ret = start_reload(r, now_ms, ev, out);
			break;
		case RECOVERY_EV_START:
			/* From failed the retry ladder starts it (its remoteproc step). */
			ret = r->state == RECOVERY_IDLE ? start_offline(r, now_ms, ev->reason, out)
							: -EBUSY;
			break;
		case RECOVERY_EV_ROLLBACK:
			ret = rollback_interrupted(r, now_ms, ev, out);
			break;
		default:
			ret = -EINVAL;
		}
		break;
	}
	if (r->state != RECOVERY_IDLE)
		out->deadline_ms = r->deadline;
	return ret;
}
