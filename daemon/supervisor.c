/* Supervisor: per channel, turns kernel lines, liveness stalls and link losses into
 * faults (counted, logged, published as FAULT, recorded as incidents) and carries out
 * what the recovery ladder asks for. The decisions live in recovery.c and liveness.c. */
#include "supervisor.h"

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "channel.h"
#include "child.h"
#include "daemon.h"
#include "incident.h"
#include "klog.h"
#include "kwatch.h"
#include "liveness.h"
#include "log.h"
#include "proto.h"
#include "recovery.h"
#include "remoteproc.h"
#include "streamcheck.h"

#define LOG_MID_FAULT	 "8aec103a63494cb6b738bf6bf56bea6c"
#define LOG_MID_RECOVERY "944bdcaf4c9a43a7b97e79f2ebb26057"
#define LOG_MID_RELOAD	 "354a3f3f56c74a00aa9845b71149a0ea"

#define SV_POLL_MS	     20	  /* sysfs state and device node polls during a step */
#define SV_RING		     256  /* ring entries per channel */
#define SV_INCIDENT_AFTER_MS 2000 /* keep recording this long after the link is back */
#define SV_FAULT_KINDS	     48
/* A stream is corrupt when, within this window, at least this many candidates were
 * rejected and they outnumber the good frames. */
#define SV_STREAM_WINDOW_MS   5000
#define SV_STREAM_MIN_REJECTS 8

enum sv_poll {
	SV_POLL_NONE = 0,
	SV_POLL_TTY,   /* WATCH_TTY: the device node */
	SV_POLL_STOP,  /* RPROC_STOP: state offline */
	SV_POLL_START, /* RPROC_START: state running/attached */
};

struct sv_count {
	const char *kind; /* static token */
	uint64_t n;
};

struct sv_chan {
	struct supervisor *sv;
	struct channel *ch;
	struct recovery rec;
	struct liveness live;
	bool live_enabled;
	struct streamcheck sc; /* a corrupt byte stream is a fault of its own */
	struct klog_scope scope;
	bool scope_all; /* no remoteproc configured: every kernel line may be ours */
	struct remoteproc *rproc;
	struct incident_ring ring;
	struct incident *inc;
	uint64_t inc_start_ms; /* steps of ladders started before it are not its own */
	char inc_outcome[16];
	struct event *ev_rec, *ev_live, *ev_poll, *ev_down, *ev_inc;
	struct child *child;
	uint32_t child_token;
	enum sv_poll poll;
	uint32_t poll_token;
	bool applying;
	enum channel_state busy_state; /* RECOVERING/RELOADING while the ladder runs */
	char busy_reason[32];
	struct sv_count counts[SV_FAULT_KINDS];
	uint64_t last_fault_ms; /* of the fault that started the running recovery */
	uint64_t kernel_ms;	/* when its kernel line arrived, 0 if not a kernel fault */
	char reload_fw[RECOVERY_FIRMWARE_MAX];
};

struct supervisor {
	struct daemon *d;
	const struct log *log;
	struct supervisor_daemon_conf cfg;
	struct kwatch *kw;
	struct incident_store *store;
	struct incident_store ram_store; /* numbering when no directory is usable */
	struct sv_chan *chans[CONF_MAX_CHANNELS];
};

static uint64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct log_fields fields(struct sv_chan *c, const char *mid, int err)
{
	return (struct log_fields){.message_id = mid,
				   .channel = channel_name(c->ch),
				   .device = channel_config(c->ch)->device,
				   .err = err < 0 ? -err : err};
}

static void note(struct sv_chan *c, enum incident_entry_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note(struct sv_chan *c, enum incident_entry_kind kind, const char *fmt, ...)
{
	char buf[INCIDENT_TEXT_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	incident_ring_text(&c->ring, realtime_us(), kind, buf, strlen(buf));
}

static void arm(struct event *ev, uint64_t deadline_ms)
{
	uint64_t now = daemon_now_ms(), d = deadline_ms > now ? deadline_ms - now : 0;
	struct timeval tv = {(time_t)(d / 1000), (suseconds_t)(d % 1000) * 1000};

	evtimer_add(ev, &tv);
}

/* ---- incidents ---- */

static cJSON *counters_json(struct sv_chan *c)
{
	struct channel_snapshot snap;
	cJSON *o = cJSON_CreateObject(), *f;
	size_t i;

	if (!o)
		return NULL;
	channel_snapshot(c->ch, &snap);
	cJSON_AddNumberToObject(o, "frames", (double)snap.dec.frames);
	cJSON_AddNumberToObject(o, "data_frames", (double)snap.stats.data_frames);
	cJSON_AddNumberToObject(o, "seq_gaps", (double)snap.stats.seq_gaps);
	cJSON_AddNumberToObject(o, "reopens", (double)snap.stats.reopens);
	cJSON_AddNumberToObject(o, "recoveries", (double)snap.stats.recoveries);
	cJSON_AddNumberToObject(o, "resyncs", (double)snap.dec.rejected);
	cJSON_AddNumberToObject(o, "pings", (double)c->live.pings);
	cJSON_AddNumberToObject(o, "stalls", (double)c->live.stalls);
	f = cJSON_AddObjectToObject(o, "faults");
	for (i = 0; f && i < SV_FAULT_KINDS && c->counts[i].kind; i++)
		cJSON_AddNumberToObject(f, c->counts[i].kind, (double)c->counts[i].n);
	return o;
}

static void incident_begin(struct sv_chan *c, const char *kind, const char *source,
			   const char *detail)
{
	struct supervisor *sv = c->sv;

	if (c->inc) {
		/* Still open: a new fault extends it rather than starting another. */
		evtimer_del(c->ev_inc);
		return;
	}
	c->inc = incident_open(sv->store ? sv->store : &sv->ram_store, &c->ring,
			       channel_name(c->ch), kind, source, detail, realtime_us());
	c->inc_start_ms = daemon_now_ms();
}

static void incident_end(struct sv_chan *c, const char *outcome)
{
	struct supervisor *sv = c->sv;
	struct incident_step steps[RECOVERY_HISTORY_MAX];
	size_t i, n = 0;
	int r;

	evtimer_del(c->ev_inc);
	if (!c->inc)
		return;
	for (i = 0; i < c->rec.history_n; i++) {
		const struct recovery_history *h = &c->rec.history[i];
		if (h->start_ms < c->inc_start_ms)
			continue;
		steps[n].action = recovery_step_to_string(h->step);
		steps[n].result = h->result;
		steps[n].ms = (h->end_ms ? h->end_ms : daemon_now_ms()) - h->start_ms;
		n++;
	}
	if (!sv->store) {
		incident_discard(c->inc);
		c->inc = NULL;
		return;
	}
	r = incident_close(sv->store, c->inc, &c->ring, outcome, steps, n, counters_json(c),
			   realtime_us());
	c->inc = NULL;
	if (r < 0) {
		struct log_fields f = fields(c, NULL, r);
		log_struct(sv->log, LOG_WARNING, &f, "cannot write incident into %s: %s",
			   sv->store->dir, strerror(-r));
	}
}

/* Closes the incident later, so the frames after the recovery are in it too. */
static void incident_end_later(struct sv_chan *c, const char *outcome, unsigned ms)
{
	snprintf(c->inc_outcome, sizeof(c->inc_outcome), "%s", outcome);
	if (c->inc)
		arm(c->ev_inc, daemon_now_ms() + ms);
}

static void flush(struct sv_chan *c)
{
	daemon_flush(c->sv->d);
}

static void on_incident_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;

	(void)fd;
	(void)what;
	/* A probe or a ladder still running decides the outcome; look again later. */
	if (recovery_busy(&c->rec) || c->live.waiting) {
		arm(c->ev_inc, daemon_now_ms() + SV_INCIDENT_AFTER_MS);
		return;
	}
	incident_end(c, c->rec.state == RECOVERY_FAILED ? "failed" : c->inc_outcome);
}

/* ---- actions ---- */

static void run_actions(struct sv_chan *c, const struct recovery_actions *first);

static void feed(struct sv_chan *c, const struct recovery_event *ev)
{
	struct recovery_actions out;

	if (c->applying)
		return; /* never re-entered: the running batch owns the machine */
	(void)recovery_handle(&c->rec, ev, daemon_now_ms(), &out);
	run_actions(c, &out);
}

static void send_ping(struct sv_chan *c)
{
	if (channel_write_frame(c->ch, M7B_T_PING, 0, 0, NULL, 0, NULL) < 0)
		return; /* the channel logs and closes on write errors */
}

static void rearm_liveness(struct sv_chan *c)
{
	uint64_t dl = liveness_deadline(&c->live);

	if (dl)
		arm(c->ev_live, dl);
	else
		evtimer_del(c->ev_live);
}

static void fault(struct sv_chan *c, const char *kind, const char *detail, const char *source,
		  enum recovery_severity sev, uint64_t kernel_ms)
{
	struct supervisor *sv = c->sv;
	struct recovery_event ev = {.type = RECOVERY_EV_FAULT, .severity = sev, .reason = kind};
	struct log_fields f = fields(c, LOG_MID_FAULT, 0);
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
	log_struct(sv->log, sev == RECOVERY_SEV_NOTICE ? LOG_NOTICE : LOG_WARNING, &f,
		   "channel %s: fault %s (%s, #%llu): %s", channel_name(c->ch), kind, source,
		   (unsigned long long)count, detail);
	daemon_publish_fault(sv->d, c->ch, kind, detail, source, count);
	note(c, INCIDENT_FAULT, "%s %s: %s", source, kind, detail);
	incident_begin(c, kind, source, detail);
	if (!recovery_busy(&c->rec)) {
		c->last_fault_ms = daemon_now_ms();
		c->kernel_ms = kernel_ms;
	}
	feed(c, &ev);
	/* Faults that need no recovery still get a complete record a little later. */
	if (c->inc && !recovery_busy(&c->rec) && c->rec.state != RECOVERY_FAILED)
		incident_end_later(c, "recovered", SV_INCIDENT_AFTER_MS);
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
	}
	return CHANNEL_FAILED;
}

static char **command_env(struct sv_chan *c, const char *step, char store[4][300])
{
	static char *env[5];

	snprintf(store[0], sizeof(store[0]), "M7B_CHANNEL=%s", channel_name(c->ch));
	snprintf(store[1], sizeof(store[1]), "M7B_DEVICE=%s", channel_config(c->ch)->device);
	snprintf(store[2], sizeof(store[2]), "M7B_REMOTEPROC=%s",
		 c->rproc ? c->rproc->dir
			  : (channel_config(c->ch)->remoteproc ? channel_config(c->ch)->remoteproc
							       : ""));
	snprintf(store[3], sizeof(store[3]), "M7B_STEP=%s", step);
	for (int i = 0; i < 4; i++)
		env[i] = store[i];
	env[4] = NULL;
	return env;
}

static void on_child_done(void *arg, int status)
{
	struct sv_chan *c = arg;
	struct recovery_event ev = {.type = RECOVERY_EV_RESULT, .token = c->child_token};

	ev.result = status == 0 ? 0 : status > 0 ? -EIO : -EINTR;
	if (status != 0) {
		struct log_fields f = fields(c, NULL, 0);
		log_struct(c->sv->log, LOG_WARNING, &f, "channel %s: recovery command %s %d",
			   channel_name(c->ch), status > 0 ? "exited with" : "killed by signal",
			   status > 0 ? status : -status);
	}
	/* The child is freed on the next start or at teardown: not from its own callback. */
	feed(c, &ev);
	flush(c);
}

static int start_command(struct sv_chan *c, const char *cmd, const char *step, uint32_t token)
{
	char store[4][300];
	int r;

	c->child = child_free(c->child); /* a command of an abandoned try dies here */
	if (!cmd || !*cmd)
		return -ENOENT;
	c->child_token = token;
	r = child_shell(daemon_base(c->sv->d), cmd, command_env(c, step, store), on_child_done, c,
			&c->child);
	if (r < 0) {
		struct log_fields f = fields(c, NULL, r);
		log_struct(c->sv->log, LOG_ERR, &f, "channel %s: cannot run %s command: %s",
			   channel_name(c->ch), step, strerror(-r));
	}
	return r;
}

static int need_rproc(struct sv_chan *c)
{
	const char *which = channel_config(c->ch)->remoteproc;
	int r;

	if (c->rproc)
		return 0;
	if (!which)
		return -ENODEV;
	r = remoteproc_open(c->sv->cfg.sysfs_root, which, &c->rproc);
	if (r < 0) {
		struct log_fields f = fields(c, NULL, r);
		log_struct(c->sv->log, LOG_ERR, &f, "channel %s: remoteproc %s under %s: %s",
			   channel_name(c->ch), which, c->sv->cfg.sysfs_root, strerror(-r));
	}
	return r;
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

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	struct recovery_event ev;

	(void)fd;
	(void)what;
	/* The machine moved on (timeout): stop looking. */
	if (!recovery_busy(&c->rec)) {
		c->poll = SV_POLL_NONE;
		return;
	}
	if (poll_check(c, &ev)) {
		c->poll = SV_POLL_NONE;
		feed(c, &ev);
		flush(c);
		return;
	}
	start_poll(c, c->poll, c->poll_token);
}

/* Carries out one action. Returns 1 and fills *res when an awaited action finished at
 * once, 0 otherwise. */
static int do_action(struct sv_chan *c, const struct recovery_action *a, struct recovery_event *res)
{
	struct supervisor *sv = c->sv;
	struct channel *ch = c->ch;
	struct log_fields f = fields(c, NULL, 0);
	uint64_t now = daemon_now_ms();
	int r;

	*res = (struct recovery_event){.type = RECOVERY_EV_RESULT, .token = a->token};
	switch (a->type) {
	case RECOVERY_ACT_SET_STATE: {
		enum channel_state st = link_to_channel(a->state);
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
			if (st == CHANNEL_UP && c->live_enabled && !c->live.running &&
			    channel_is_open(ch))
				liveness_start(&c->live, now);
		}
		if (st == CHANNEL_UP && c->rec.history_n &&
		    (strcmp(a->reason, "recovered") == 0 || strcmp(a->reason, "reload") == 0))
			snprintf(detail, sizeof(detail), "%s in %llu ms",
				 recovery_step_to_string(c->rec.history[c->rec.history_n - 1].step),
				 (unsigned long long)(now - c->rec.started_ms));
		if (st != CHANNEL_UP || channel_is_open(ch))
			channel_set_state(ch, st, a->reason, detail);
		note(c, INCIDENT_STATE, "%s (%s)", channel_state_to_string(st), a->reason);
		return 0;
	}
	case RECOVERY_ACT_PROBE:
		if (c->live_enabled && liveness_probe(&c->live, now) == LIVENESS_SEND_PING)
			send_ping(c);
		rearm_liveness(c);
		return 0;
	case RECOVERY_ACT_CLOSE_TTY:
		channel_hold(ch, true);
		liveness_stop(&c->live);
		rearm_liveness(c);
		if (channel_is_open(ch))
			channel_close(ch, c->busy_state, c->busy_reason, 0);
		return 0;
	case RECOVERY_ACT_OPEN_TTY:
		r = channel_open_now(ch);
		if (r == 0 && c->live_enabled) {
			liveness_start(&c->live, now);
			rearm_liveness(c);
		}
		if (r < 0 && recovery_busy(&c->rec)) {
			/* A failed open marks the channel down; the ladder still owns it. */
			struct channel_snapshot snap;
			channel_snapshot(ch, &snap);
			channel_set_state(ch, c->busy_state, c->busy_reason, snap.detail);
		}
		res->result = r;
		return 1;
	case RECOVERY_ACT_SEND_HOST_HELLO:
		(void)channel_resync(ch);
		return 0;
	case RECOVERY_ACT_RELOAD_DRIVER:
		r = start_command(c, channel_config(c->ch)->sup.driver_reload, "driver", a->token);
		if (r < 0) {
			res->result = r;
			return 1;
		}
		return 0;
	case RECOVERY_ACT_RUN_HOOK:
		r = start_command(c, channel_config(c->ch)->sup.hook, "hook", a->token);
		if (r < 0) {
			res->result = r;
			return 1;
		}
		return 0;
	case RECOVERY_ACT_RPROC_STOP:
	case RECOVERY_ACT_RPROC_START:
		r = need_rproc(c);
		if (r == 0)
			r = a->type == RECOVERY_ACT_RPROC_STOP ? remoteproc_stop(c->rproc)
							       : remoteproc_start(c->rproc);
		if (r < 0) {
			log_struct(sv->log, LOG_ERR, &f, "channel %s: remoteproc %s: %s",
				   channel_name(ch),
				   a->type == RECOVERY_ACT_RPROC_STOP ? "stop" : "start",
				   strerror(-r));
			res->result = r;
			return 1;
		}
		/* The kernel is done when write() returns; a slower implementation (or the
		 * test's fake) is waited for by reading the state back. */
		start_poll(c, a->type == RECOVERY_ACT_RPROC_STOP ? SV_POLL_STOP : SV_POLL_START,
			   a->token);
		if (poll_check(c, res)) {
			c->poll = SV_POLL_NONE;
			evtimer_del(c->ev_poll);
			return 1;
		}
		return 0;
	case RECOVERY_ACT_RPROC_SET_FIRMWARE:
		r = need_rproc(c);
		if (r == 0)
			r = remoteproc_set_firmware(c->rproc, a->firmware);
		if (r < 0)
			log_struct(sv->log, LOG_ERR, &f, "channel %s: set firmware %s: %s",
				   channel_name(ch), a->firmware, strerror(-r));
		res->result = r;
		return 1;
	case RECOVERY_ACT_WATCH_TTY:
		start_poll(c, SV_POLL_TTY, 0);
		if (poll_check(c, res)) {
			c->poll = SV_POLL_NONE;
			evtimer_del(c->ev_poll);
			return 1;
		}
		return 0;
	case RECOVERY_ACT_STEP_DONE:
		f.message_id = LOG_MID_RECOVERY;
		f.err = a->result < 0 ? -a->result : 0;
		log_struct(sv->log, a->result ? LOG_WARNING : LOG_NOTICE, &f,
			   "channel %s: recovery step %s %s after %llu ms", channel_name(ch),
			   recovery_step_to_string(a->step), incident_result_to_string(a->result),
			   (unsigned long long)a->elapsed_ms);
		note(c, INCIDENT_STEP, "%s %s %llu ms", recovery_step_to_string(a->step),
		     incident_result_to_string(a->result), (unsigned long long)a->elapsed_ms);
		return 0;
	case RECOVERY_ACT_RECOVERED:
		f.message_id = a->step == RECOVERY_STEP_RELOAD ? LOG_MID_RELOAD : LOG_MID_RECOVERY;
		if (a->step == RECOVERY_STEP_RELOAD) {
			struct channel_snapshot snap;
			channel_snapshot(ch, &snap);
			log_struct(sv->log, LOG_NOTICE, &f,
				   "channel %s: firmware reloaded in %llu ms (%s, boot_id %08x)",
				   channel_name(ch), (unsigned long long)a->elapsed_ms,
				   snap.have_hello ? snap.fw_name : "?",
				   snap.have_hello ? snap.hello.boot_id : 0);
		} else
			log_struct(sv->log, LOG_NOTICE, &f,
				   "channel %s: recovered by %s, %llu ms after the fault%s",
				   channel_name(ch),
				   a->step == RECOVERY_STEP_COUNT
					   ? "itself"
					   : recovery_step_to_string(a->step),
				   (unsigned long long)(now - c->last_fault_ms),
				   c->kernel_ms ? " (kernel line)" : "");
		incident_end_later(c, "recovered", SV_INCIDENT_AFTER_MS);
		return 0;
	case RECOVERY_ACT_GAVE_UP:
		log_struct(sv->log, LOG_ERR, &f,
			   "channel %s: recovery gave up (%s); next try in %llu ms",
			   channel_name(ch), a->reason,
			   (unsigned long long)(c->rec.deadline > now ? c->rec.deadline - now : 0));
		incident_end(c, "failed");
		return 0;
	}
	return 0;
}

static void run_actions(struct sv_chan *c, const struct recovery_actions *first)
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
	if (out.deadline_ms)
		arm(c->ev_rec, out.deadline_ms);
	else
		evtimer_del(c->ev_rec);
	/* A retry ladder (from `failed`) opens its own record. */
	if (recovery_busy(&c->rec) && !c->inc)
		incident_begin(c, c->busy_reason[0] ? c->busy_reason : "recover",
			       strcmp(c->busy_reason, "retry") == 0 ? "recovery" : "request", "");
}

/* ---- timers ---- */

static void on_rec_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	struct recovery_event ev = {.type = RECOVERY_EV_TICK};

	(void)fd;
	(void)what;
	if (c->rec.state == RECOVERY_FAILED && !c->inc)
		c->last_fault_ms = daemon_now_ms();
	feed(c, &ev);
	flush(c);
}

static void on_live_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	uint64_t now = daemon_now_ms();
	char detail[128];

	(void)fd;
	(void)what;
	switch (liveness_tick(&c->live, now)) {
	case LIVENESS_SEND_PING:
		send_ping(c);
		break;
	case LIVENESS_STALL:
		snprintf(detail, sizeof(detail),
			 "no frame for %llu ms and no HEARTBEAT for %u PING(s)",
			 (unsigned long long)(now - c->live.last_rx_ms), c->live.cfg.retries + 1);
		fault(c, "stall", detail, "liveness", RECOVERY_SEV_DOWN, 0);
		break;
	case LIVENESS_NONE:
		break;
	}
	rearm_liveness(c);
	flush(c);
}

static void on_down_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	char detail[256];

	(void)fd;
	(void)what;
	struct channel_snapshot snap;
	channel_snapshot(c->ch, &snap);
	if (snap.state == CHANNEL_UP || recovery_busy(&c->rec))
		return;
	snprintf(detail, sizeof(detail), "link %s for %u ms (%.31s%s%.150s)",
		 channel_state_to_string(snap.state), channel_config(c->ch)->sup.down_grace_ms,
		 snap.reason, snap.detail[0] ? ": " : "", snap.detail);
	fault(c, "link_down", detail, "liveness", RECOVERY_SEV_DOWN, 0);
	flush(c);
}

/* ---- channels ---- */

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
	rc->reload_timeout_ms = s->reload_timeout_ms;
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

static struct sv_chan *chan_free(struct sv_chan *c)
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
	if (c->ev_inc)
		event_free(c->ev_inc);
	incident_ring_clear(&c->ring);
	remoteproc_free(c->rproc);
	free(c);
	return NULL;
}

static struct sv_chan *chan_new(struct supervisor *sv, struct channel *ch)
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
	c->ev_rec = evtimer_new(base, on_rec_timer, c);
	c->ev_live = evtimer_new(base, on_live_timer, c);
	c->ev_poll = evtimer_new(base, on_poll, c);
	c->ev_down = evtimer_new(base, on_down_timer, c);
	c->ev_inc = evtimer_new(base, on_incident_timer, c);
	if (!c->ev_rec || !c->ev_live || !c->ev_poll || !c->ev_down || !c->ev_inc ||
	    incident_ring_init(&c->ring, SV_RING) < 0)
		return chan_free(c);
	build_config(c, &rc, &lc);
	f = fields(c, NULL, 0);
	if (recovery_config_check(&rc) < 0) {
		log_struct(sv->log, LOG_ERR, &f,
			   "channel %s: inconsistent recovery settings: recovery disabled",
			   channel_name(ch));
		rc.n_steps = 0;
	}
	recovery_init(&c->rec, &rc);
	liveness_init(&c->live, &lc);
	streamcheck_init(&c->sc, SV_STREAM_WINDOW_MS, SV_STREAM_MIN_REJECTS);
	c->live_enabled = lc.quiet_ms > 0;
	/* Which kernel lines are ours: the remoteproc's name, instance and device. */
	if (channel_config(ch)->remoteproc) {
		(void)klog_scope_add(&c->scope, channel_config(ch)->remoteproc);
		if (need_rproc(c) == 0) {
			(void)klog_scope_add(&c->scope, c->rproc->name);
			(void)klog_scope_add(&c->scope, c->rproc->instance);
			(void)klog_scope_add(&c->scope, c->rproc->device);
		}
	} else {
		c->scope_all = true;
	}
	add_names(c, channel_config(ch)->sup.kernel_names);
	if (channel_config(ch)->sup.kernel_names[0])
		c->scope_all = false;
	return c;
}

static struct sv_chan *chan_of(struct supervisor *sv, const struct channel *ch);

/* Starts liveness on a channel that is already open (no state change will come). */
static void live_resume(struct sv_chan *c)
{
	if (channel_is_open(c->ch) && c->live_enabled && !c->live.running)
		liveness_start(&c->live, daemon_now_ms());
	rearm_liveness(c);
}

static void obs_on_config(void *ud, struct channel *ch)
{
	struct supervisor *sv = ud;
	struct sv_chan *c = chan_of(sv, ch), *n;
	struct incident_ring ring;
	struct log_fields f;

	if (!c)
		return;
	f = fields(c, NULL, 0);
	if (c->rec.state != RECOVERY_IDLE || c->inc) {
		/* Swapping the ladder under a running recovery would strand it. */
		log_struct(sv->log, LOG_WARNING, &f,
			   "channel %s: recovery in progress; its new recovery settings apply at "
			   "the next reload once it is up",
			   channel_name(ch));
		return;
	}
	n = chan_new(sv, ch);
	if (!n) {
		log_struct(sv->log, LOG_ERR, &f,
			   "channel %s: out of memory; keeping the old recovery settings",
			   channel_name(ch));
		return;
	}
	/* Fault numbering and the recent history outlive a change of settings. */
	memcpy(n->counts, c->counts, sizeof(n->counts));
	ring = n->ring;
	n->ring = c->ring;
	c->ring = ring;
	sv->chans[channel_slot(ch)] = n;
	chan_free(c);
	live_resume(n);
	note(n, INCIDENT_STATE, "recovery settings reloaded");
	log_struct(sv->log, LOG_INFO, &f, "channel %s: recovery settings reloaded (steps %s)",
		   channel_name(ch), channel_config(ch)->sup.recovery_steps);
}

static void obs_on_channel(void *ud, struct channel *ch, bool added)
{
	struct supervisor *sv = ud;

	if (channel_slot(ch) >= CONF_MAX_CHANNELS)
		return;
	sv->chans[channel_slot(ch)] = chan_free(sv->chans[channel_slot(ch)]);
	if (added) {
		sv->chans[channel_slot(ch)] = chan_new(sv, ch);
		if (!sv->chans[channel_slot(ch)]) {
			struct log_fields f = {.channel = channel_name(ch)};
			log_struct(sv->log, LOG_ERR, &f,
				   "channel %s: no supervision (out of memory)", channel_name(ch));
		}
	}
}

static struct sv_chan *chan_of(struct supervisor *sv, const struct channel *ch)
{
	struct sv_chan *c =
		channel_slot(ch) < CONF_MAX_CHANNELS ? sv->chans[channel_slot(ch)] : NULL;

	return c && c->ch == ch ? c : NULL;
}

static void obs_on_state(void *ud, struct channel *ch, enum channel_state old)
{
	struct sv_chan *c = chan_of(ud, ch);
	uint64_t now = daemon_now_ms();

	struct channel_snapshot snap;
	if (!c)
		return;
	channel_snapshot(ch, &snap);
	note(c, INCIDENT_STATE, "%s -> %s (%s)", channel_state_to_string(old),
	     channel_state_to_string(snap.state), snap.reason);
	if (channel_is_open(ch)) {
		if (c->live_enabled && !c->live.running)
			liveness_start(&c->live, now);
	} else {
		liveness_stop(&c->live);
	}
	rearm_liveness(c);
	if (channel_get_state(ch) == CHANNEL_UP) {
		evtimer_del(c->ev_down);
	} else if ((old == CHANNEL_UP || old == CHANNEL_OPENING) &&
		   channel_get_state(ch) == CHANNEL_DOWN && c->rec.state == RECOVERY_IDLE &&
		   channel_config(ch)->sup.down_grace_ms) {
		/* The channel reopens by itself; only a link that stays away is a fault. */
		arm(c->ev_down, now + channel_config(ch)->sup.down_grace_ms);
	}
}

static void obs_on_decoded(void *ud, struct channel *ch, uint64_t good, uint64_t bad)
{
	struct sv_chan *c = chan_of(ud, ch);
	char detail[160];

	struct channel_snapshot snap;
	if (!c || !streamcheck_update(&c->sc, daemon_now_ms(), good, bad))
		return;
	channel_snapshot(ch, &snap);
	snprintf(detail, sizeof(detail),
		 "%llu candidate frames rejected and %llu good in %u ms, last: %s",
		 (unsigned long long)c->sc.bad, (unsigned long long)c->sc.good,
		 (unsigned)SV_STREAM_WINDOW_MS, m7b_decoder_reject_name(snap.last_reject));
	fault(c, "corrupt_stream", detail, "decoder", RECOVERY_SEV_DEGRADED, 0);
}

static void obs_on_msg(void *ud, struct channel *ch, const struct channel_msg *m)
{
	const struct m7b_frame *f = m->frame;
	struct sv_chan *c = chan_of(ud, ch);
	struct recovery_event ev = {.type = RECOVERY_EV_HELLO};

	if (!c)
		return;
	incident_ring_frame(&c->ring, realtime_us(), f->type, f->port, f->flags, f->seq, f->len);
	if (c->live_enabled) {
		liveness_on_frame(&c->live, daemon_now_ms(), f->type == M7B_T_HEARTBEAT);
		rearm_liveness(c);
	}
	if (f->type == M7B_T_HELLO || f->type == M7B_T_HEARTBEAT) {
		ev.type = f->type == M7B_T_HELLO ? RECOVERY_EV_HELLO : RECOVERY_EV_HEARTBEAT;
		if (c->rec.state != RECOVERY_IDLE)
			feed(c, &ev);
	}
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

static void on_kernel_line(void *arg, const struct kwatch_line *l)
{
	struct supervisor *sv = arg;
	uint64_t now = daemon_now_ms();
	struct klog_event ev;
	char detail[200];
	unsigned i;

	if (!klog_classify(l->msg, l->len, &ev))
		return;
	snprintf(detail, sizeof(detail), "%.*s", (int)(l->len < 199 ? l->len : 199), l->msg);
	for (i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct sv_chan *c = sv->chans[i];
		enum klog_owner o;

		if (!c)
			continue;
		o = c->scope_all ? KLOG_OWNER_MINE : klog_scope_match(&c->scope, &ev);
		if (o == KLOG_OWNER_OTHER)
			continue;
		note(c, INCIDENT_KERNEL, "%s", detail);
		if (ev.impact >= KLOG_NOTICE)
			fault(c, fault_kind(&ev), detail, "kernel", severity_of(ev.impact), now);
	}
	daemon_flush(sv->d);
}

/* ---- requests ---- */

bool supervisor_peer_allowed(const struct supervisor_daemon_conf *c, uid_t uid, const gid_t *gids,
			     size_t ngids)
{
	struct group *g;
	size_t i;

	if (uid == 0)
		return true;
	for (i = 0; i < c->n_allow_uids; i++)
		if (c->allow_uids[i] == uid)
			return true;
	if (!c->allow_group[0] || !(g = getgrnam(c->allow_group)))
		return false;
	for (i = 0; i < ngids; i++)
		if (gids[i] == g->gr_gid)
			return true;
	return false;
}

/* SO_PEERCRED for uid and gid, SO_PEERGROUPS for the supplementary groups. */
static bool client_allowed(struct supervisor *sv, const struct client *cl)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t gids[65];
	size_t n = 0;

	if (getsockopt(cl->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	gids[n++] = cred.gid;
#ifdef SO_PEERGROUPS
	len = sizeof(gids) - sizeof(gids[0]);
	if (getsockopt(cl->fd, SOL_SOCKET, SO_PEERGROUPS, gids + 1, &len) == 0)
		n += len / sizeof(gids[0]);
#endif
	return supervisor_peer_allowed(&sv->cfg, cred.uid, gids, n);
}

static struct sv_chan *request_chan(struct supervisor *sv, struct daemon *d,
				    const struct proto_request *req)
{
	struct channel *ch = daemon_channel(d, req->channel);

	return ch ? chan_of(sv, ch) : NULL;
}

static void handle_control(void *ud, struct daemon *d, struct client *cl,
			   const struct proto_request *req)
{
	struct supervisor *sv = ud;
	struct sv_chan *c = request_chan(sv, d, req);
	struct recovery_event ev = {0};
	struct recovery_actions out;
	struct log_fields f;
	bool reload = req->cmd == PROTO_CMD_RELOAD;
	int r;

	if (!c) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_NO_CHANNEL, "no such channel",
				   req->channel);
		return;
	}
	f = fields(c, NULL, 0);
	f.client = cl->id;
	if (!client_allowed(sv, cl)) {
		log_struct(sv->log, LOG_WARNING, &f,
			   "client %llu (pid %d uid %ld): %s refused: not authorized",
			   (unsigned long long)cl->id, cl->pid, cl->uid, req->cmd_name);
		daemon_reply_error(d, cl->id, req->id, PROTO_E_FORBIDDEN,
				   "not authorized (root, allow_uids or allow_group)",
				   req->channel);
		return;
	}
	if (reload) {
		if (req->firmware[0] && !recovery_firmware_name_ok(req->firmware)) {
			daemon_reply_error(d, cl->id, req->id, PROTO_E_BAD_VALUE,
					   "firmware must be a plain file name under /lib/firmware",
					   req->channel);
			return;
		}
		if (!channel_config(c->ch)->remoteproc) {
			daemon_reply_error(d, cl->id, req->id, PROTO_E_UNSUPPORTED,
					   "no remoteproc configured for this channel",
					   req->channel);
			return;
		}
		ev.type = RECOVERY_EV_RELOAD;
		ev.firmware = req->firmware[0] ? req->firmware : NULL;
	} else {
		ev.type = RECOVERY_EV_RECOVER;
		ev.step = RECOVERY_STEP_COUNT;
		if (req->action[0] && (recovery_step_from_string(req->action, &ev.step) < 0 ||
				       ev.step == RECOVERY_STEP_RELOAD)) {
			daemon_reply_error(
				d, cl->id, req->id, PROTO_E_BAD_VALUE,
				"action must be resync, reopen, driver, remoteproc or hook",
				req->channel);
			return;
		}
	}
	if (c->applying) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_BUSY, "busy", req->channel);
		return;
	}
	r = recovery_handle(&c->rec, &ev, daemon_now_ms(), &out);
	if (r == -EBUSY) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_BUSY,
				   "a recovery or reload is already running", req->channel);
		return;
	}
	if (r < 0) {
		daemon_reply_error(
			d, cl->id, req->id, r == -EINVAL ? PROTO_E_BAD_VALUE : PROTO_E_UNSUPPORTED,
			r == -EINVAL ? "bad firmware name" : "that recovery step is not configured",
			req->channel);
		return;
	}
	log_struct(sv->log, LOG_NOTICE, &f, "client %llu (pid %d uid %ld): %s %s%s%s",
		   (unsigned long long)cl->id, cl->pid, cl->uid, req->cmd_name, channel_name(c->ch),
		   reload && req->firmware[0] ? " firmware " : "", reload ? req->firmware : "");
	c->last_fault_ms = daemon_now_ms();
	c->kernel_ms = 0;
	daemon_reply_ack(d, cl->id, req->id, req->cmd_name, channel_name(c->ch));
	if (!reload && !c->inc)
		incident_begin(c, "recover", "request", req->action[0] ? req->action : "");
	run_actions(c, &out);
}

static void handle_incidents(void *ud, struct daemon *d, struct client *cl,
			     const struct proto_request *req)
{
	struct supervisor *sv = ud;
	cJSON *o = cJSON_CreateObject(), *list;
	char *text;
	unsigned i;

	if (!o) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_INTERNAL, "out of memory", NULL);
		return;
	}
	cJSON_AddStringToObject(o, "class", "INCIDENTS");
	if (req->id[0])
		cJSON_AddItemToObject(o, "id", cJSON_CreateRaw(req->id));
	list = sv->store ? incident_list(sv->store, req->channel[0] ? req->channel : NULL)
			 : cJSON_CreateArray();
	for (i = 0; list && i < CONF_MAX_CHANNELS; i++) {
		struct sv_chan *c = sv->chans[i];
		if (c && c->inc &&
		    (!req->channel[0] || strcmp(req->channel, channel_name(c->ch)) == 0))
			cJSON_AddItemToArray(list, incident_summary_open(c->inc));
	}
	cJSON_AddItemToObject(o, "incidents", list ? list : cJSON_CreateArray());
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_INTERNAL, "out of memory", NULL);
		return;
	}
	size_t len = strlen(text);
	char *line = realloc(text, len + 2);
	if (!line) {
		free(text);
		daemon_reply_error(d, cl->id, req->id, PROTO_E_INTERNAL, "out of memory", NULL);
		return;
	}
	line[len] = '\n';
	daemon_reply(d, cl->id, line, len + 1);
	free(line);
}

/* ---- set-up ---- */

struct supervisor *supervisor_new(struct daemon *d, int *err)
{
	const struct conf *cfg = daemon_config(d);
	struct supervisor *sv = calloc(1, sizeof(*sv));
	struct daemon_observer obs = {.on_msg = obs_on_msg,
				      .on_decoded = obs_on_decoded,
				      .on_config = obs_on_config,
				      .on_state = obs_on_state,
				      .on_channel = obs_on_channel};
	struct kwatch_config kc = {0};
	unsigned i;
	int r;

	*err = 0;
	if (!sv) {
		*err = -ENOMEM;
		return NULL;
	}
	sv->d = d;
	sv->log = daemon_log(d);
	sv->ram_store.next_seq = 1;
	sv->cfg = cfg->daemon.sup;
	/* Under systemd, StateDirectory= says where state lives; elsewhere (a terminal, the
	 * tests) incidents stay in memory unless incident_dir is set. */
	if (!sv->cfg.incident_dir[0] && getenv("STATE_DIRECTORY")) {
		const char *sd = getenv("STATE_DIRECTORY");
		snprintf(sv->cfg.incident_dir, sizeof(sv->cfg.incident_dir), "%.*s/incidents",
			 (int)strcspn(sd, ":"), sd);
	}
	if (sv->cfg.incident_dir[0]) {
		r = incident_store_new(sv->cfg.incident_dir, sv->cfg.incident_max_files,
				       (uint64_t)sv->cfg.incident_max_kib * 1024, &sv->store);
		if (r < 0) {
			struct log_fields f = {.err = -r};
			log_struct(sv->log, LOG_WARNING, &f,
				   "incident directory %s: %s: incidents are kept in memory only",
				   sv->cfg.incident_dir, strerror(-r));
		}
	}
	obs.ud = sv;
	r = daemon_add_observer(d, &obs);
	if (r == 0)
		r = daemon_register_handler(d, "recover", handle_control, sv);
	if (r == 0)
		r = daemon_register_handler(d, "reload", handle_control, sv);
	if (r == 0)
		r = daemon_register_handler(d, "incidents", handle_incidents, sv);
	if (r < 0) {
		*err = r;
		return supervisor_free(sv);
	}
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
	r = kwatch_new(daemon_base(d), &kc, on_kernel_line, sv, &sv->kw);
	if (r < 0) {
		/* Liveness still detects a dead M7; only the kernel's word is missing. */
		struct log_fields f = {.err = -r};
		log_struct(sv->log, LOG_WARNING, &f, "cannot watch the kernel log (%s%s): %s",
			   kc.journal_dir ? "journal in " : sv->cfg.kernel_log,
			   kc.journal_dir ? kc.journal_dir : "", strerror(-r));
	} else {
		struct log_fields f = {0};
		log_struct(sv->log, LOG_INFO, &f, "watching kernel messages from %s%s%s",
			   kwatch_source_to_string(kwatch_source(sv->kw)),
			   kc.journal_dir ? " in " : "", kc.journal_dir ? kc.journal_dir : "");
	}
	return sv;
}

struct supervisor *supervisor_free(struct supervisor *sv)
{
	unsigned i;

	if (!sv)
		return NULL;
	daemon_remove_observer(sv->d, sv);
	sv->kw = kwatch_free(sv->kw);
	for (i = 0; i < CONF_MAX_CHANNELS; i++)
		sv->chans[i] = chan_free(sv->chans[i]);
	sv->store = incident_store_free(sv->store);
	free(sv);
	return NULL;
}
