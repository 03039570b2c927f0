/* Unit tests for the supervisor's action executor (daemon/sv_action.c, sv_priv.c) with
 * the remoteproc, the commands and the daemon replaced (-Wl,--wrap): each recovery
 * action does its one thing, a failure is logged once, the privileged requests carry
 * the right values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "sv.h"

static struct event_base *base;

/* ---- the replaced world ---- */

static struct {
	int opens, open_err;
	int stops, starts, stop_err;
	enum remoteproc_state state;
	char firmware[64];
	int commands, command_err;
	char command[256], env_step[64], env_channel[64];
	char out_name[32], out_channel[64]; /* where its output is logged */
	bool out_logged;
	unsigned deadline_ms, grace_ms;
	int logs;
	char debug[512]; /* the last LOG_DEBUG message */
} w;

static struct remoteproc fake_rp = {.dir = (char *)"/fake/class/remoteproc/remoteproc0",
				    .instance = (char *)"remoteproc0",
				    .name = (char *)"imx-rproc",
				    .device = (char *)"imx8mp-cm7"};

int __wrap_remoteproc_open(const char *root, const char *which, struct remoteproc **out);
int __wrap_remoteproc_open(const char *root, const char *which, struct remoteproc **out)
{
	w.opens++;
	if (w.open_err)
		return w.open_err;
	*out = &fake_rp;
	return 0;
}

struct remoteproc *__wrap_remoteproc_free(struct remoteproc *r);
struct remoteproc *__wrap_remoteproc_free(struct remoteproc *r)
{
	return NULL;
}

int __wrap_remoteproc_stop(const struct remoteproc *r);
int __wrap_remoteproc_stop(const struct remoteproc *r)
{
	w.stops++;
	return w.stop_err;
}

int __wrap_remoteproc_start(const struct remoteproc *r);
int __wrap_remoteproc_start(const struct remoteproc *r)
{
	w.starts++;
	return 0;
}

int __wrap_remoteproc_get_state(const struct remoteproc *r, enum remoteproc_state *st);
int __wrap_remoteproc_get_state(const struct remoteproc *r, enum remoteproc_state *st)
{
	*st = w.state;
	return 0;
}

int __wrap_remoteproc_set_firmware(const struct remoteproc *r, const char *fw);
int __wrap_remoteproc_set_firmware(const struct remoteproc *r, const char *fw)
{
	snprintf(w.firmware, sizeof(w.firmware), "%s", fw);
	return 0;
}

int __wrap_child_shell(struct event_base *b, const char *command, char *const env[],
		       const struct child_output *output, child_done_fn done, void *arg,
		       struct child **out);
int __wrap_child_shell(struct event_base *b, const char *command, char *const env[],
		       const struct child_output *output, child_done_fn done, void *arg,
		       struct child **out)
{
	w.commands++;
	snprintf(w.command, sizeof(w.command), "%s", command);
	for (int i = 0; env[i]; i++) {
		if (strncmp(env[i], "M7B_STEP=", 9) == 0)
			snprintf(w.env_step, sizeof(w.env_step), "%s", env[i] + 9);
		if (strncmp(env[i], "M7B_CHANNEL=", 12) == 0)
			snprintf(w.env_channel, sizeof(w.env_channel), "%s", env[i] + 12);
	}
	w.out_logged = output != NULL;
	snprintf(w.out_name, sizeof(w.out_name), "%s", output ? output->name : "");
	snprintf(w.out_channel, sizeof(w.out_channel), "%s", output ? output->channel : "");
	*out = NULL;
	return w.command_err;
}

int __wrap_child_deadline(struct child *s, unsigned after_ms, unsigned grace_ms);
int __wrap_child_deadline(struct child *s, unsigned after_ms, unsigned grace_ms)
{
	(void)s;
	w.deadline_ms = after_ms;
	w.grace_ms = grace_ms;
	return 0;
}

struct event_base *__wrap_daemon_base(struct daemon *d);
struct event_base *__wrap_daemon_base(struct daemon *d)
{
	return base;
}

void __wrap_daemon_flush(struct daemon *d);
void __wrap_daemon_flush(struct daemon *d)
{
}

void __wrap_log_struct(const struct log *l, int prio, const struct log_fields *f, const char *fmt,
		       ...) __attribute__((format(printf, 4, 5)));
void __wrap_log_struct(const struct log *l, int prio, const struct log_fields *f, const char *fmt,
		       ...)
{
	w.logs++;
	if (prio == LOG_DEBUG) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w.debug, sizeof(w.debug), fmt, ap);
		va_end(ap);
	}
}

/* The daemon's clock, held still when set (0 = the real one). */
static uint64_t fake_now_ms;
uint64_t __real_daemon_now_ms(void);
uint64_t __wrap_daemon_now_ms(void);
uint64_t __wrap_daemon_now_ms(void)
{
	return fake_now_ms ? fake_now_ms : __real_daemon_now_ms();
}

/* ---- fixture: one channel under supervision ---- */

struct fixture {
	struct supervisor sv;
	struct channel *ch;
	struct sv_chan *c;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&w, 0, sizeof(w));
	memset(&f, 0, sizeof(f));
	fake_now_ms = 0;
	base = event_base_new();
	struct conf_channel cfg = {.name = (char *)"m7",
				   .device = (char *)"/nonexistent/ttyRPMSG30",
				   .remoteproc = (char *)"remoteproc0",
				   .enabled = true,
				   .send_queue = 4,
				   .send_timeout_ms = 1000,
				   .reopen_min_ms = 100,
				   .reopen_max_ms = 1000};
	supervisor_conf_channel_defaults(&cfg.sup);
	strcpy(cfg.sup.hook, "/usr/local/bin/m7-hook");
	supervisor_conf_daemon_defaults(&f.sv.cfg);
	f.ch = channel_new(base, &cfg, 0, NULL, NULL, NULL);
	assert_non_null(f.ch);
	f.c = sv_chan_new(&f.sv, f.ch);
	assert_non_null(f.c);
	assert_int_equal(w.opens, 1); /* its names scope the kernel lines */
	w.logs = 0;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sv_chan_free(f->c);
	channel_free(f->ch);
	event_base_free(base);
	return 0;
}

static void run1(struct sv_chan *c, struct recovery_action a)
{
	struct recovery_actions out = {.n = 1};
	out.a[0] = a;
	sv_action_run(c, &out);
}

static void test_rproc_stop_done_at_once(void **state)
{
	struct fixture *f = *state;
	w.state = REMOTEPROC_OFFLINE; /* the kernel finished within write() */
	run1(f->c, (struct recovery_action){.type = RECOVERY_ACT_RPROC_STOP, .token = 3});
	assert_int_equal(w.stops, 1);
	assert_int_equal(f->c->poll, SV_POLL_NONE);
	assert_int_equal(w.logs, 0);
}

static void test_rproc_start_waits_for_running(void **state)
{
	struct fixture *f = *state;
	w.state = REMOTEPROC_OFFLINE;
	run1(f->c, (struct recovery_action){.type = RECOVERY_ACT_RPROC_START, .token = 4});
	assert_int_equal(w.starts, 1);
	assert_int_equal(f->c->poll, SV_POLL_START);
	assert_int_equal(f->c->poll_token, 4);
}

static void test_failure_logged_once(void **state)
{
	struct fixture *f = *state;
	struct sv_priv_request rq = {.op = SV_PRIV_RPROC_STOP};
	w.stop_err = -EIO;
	assert_int_equal(sv_priv_run(f->c, &rq), -EIO);
	assert_int_equal(w.logs, 1);
	/* A remoteproc that cannot be opened: one line too, not one per layer. */
	f->c->rproc = NULL;
	w.open_err = -ENOENT;
	w.logs = 0;
	assert_int_equal(sv_priv_run(f->c, &rq), -ENOENT);
	assert_int_equal(w.logs, 1);
	assert_int_equal(w.stops, 1);
}

static void test_set_firmware(void **state)
{
	struct fixture *f = *state;
	run1(f->c, (struct recovery_action){.type = RECOVERY_ACT_RPROC_SET_FIRMWARE,
					    .firmware = "m7_new.elf"});
	assert_string_equal(w.firmware, "m7_new.elf");
}

static void test_commands(void **state)
{
	struct fixture *f = *state;
	struct sv_priv_request rq = {.op = SV_PRIV_RUN_COMMAND,
				     .token = 9,
				     .command = channel_config(f->ch)->sup.hook,
				     .step = "hook"};
	assert_int_equal(sv_priv_run(f->c, &rq), 1); /* started; its exit feeds the result */
	assert_int_equal(w.commands, 1);
	assert_string_equal(w.command, "/usr/local/bin/m7-hook");
	assert_string_equal(w.env_step, "hook");
	assert_string_equal(w.env_channel, "m7");
	/* Its output goes to the log under its key and the channel, not the daemon's stdout. */
	assert_true(w.out_logged);
	assert_string_equal(w.out_name, "hook");
	assert_string_equal(w.out_channel, "m7");
	assert_int_equal(f->c->child_token, 9);
	/* It ends, with its process group, at the step's timeout. */
	assert_int_equal(w.deadline_ms, channel_config(f->ch)->sup.hook_timeout_ms);
	assert_int_equal(w.grace_ms, SV_COMMAND_GRACE_MS);
	/* No command configured: the step has nothing to run, and that is not an error. */
	rq.command = "";
	assert_int_equal(sv_priv_run(f->c, &rq), -ENOENT);
	assert_int_equal(w.commands, 1);
	assert_int_equal(w.logs, 0);
	/* The driver step runs the driver_reload command. */
	run1(f->c, (struct recovery_action){.type = RECOVERY_ACT_RELOAD_DRIVER, .token = 2});
	assert_int_equal(w.commands, 2);
	assert_non_null(strstr(w.command, "imx_rpmsg_tty"));
	assert_string_equal(w.env_step, "driver");
	assert_string_equal(w.out_name, "driver_reload");
	assert_int_equal(w.deadline_ms, channel_config(f->ch)->sup.driver_timeout_ms);
}

static void test_set_state_holds_the_channel(void **state)
{
	struct fixture *f = *state;
	run1(f->c, (struct recovery_action){.type = RECOVERY_ACT_SET_STATE,
					    .state = RECOVERY_LINK_RECOVERING,
					    .reason = "stall"});
	struct channel_snapshot s;
	channel_snapshot(f->ch, &s);
	assert_int_equal(s.state, CHANNEL_RECOVERING);
	assert_string_equal(s.reason, "stall");
	assert_int_equal(s.stats.recoveries, 1);
	assert_int_equal(f->c->busy_state, CHANNEL_RECOVERING);
	assert_string_equal(f->c->busy_reason, "stall");
	run1(f->c, (struct recovery_action){.type = RECOVERY_ACT_SET_STATE,
					    .state = RECOVERY_LINK_FAILED,
					    .reason = "gave_up"});
	channel_snapshot(f->ch, &s);
	assert_int_equal(s.state, CHANNEL_FAILED);
}

/* -l debug shows each decision of the ladder with what it was fed and where it was. */
static void test_decision_logged_at_debug(void **state)
{
	struct fixture *f = *state;
	struct recovery_event ev = {
		.type = RECOVERY_EV_FAULT, .severity = RECOVERY_SEV_DOWN, .reason = "kick_timeout"};
	sv_action_feed(f->c, &ev);
	if (!strstr(w.debug, "recovery: fault kick_timeout") || !strstr(w.debug, "in idle") ||
	    !strstr(w.debug, "set_state"))
		fail_msg("debug line: %s", w.debug);
}

/* A reload (or a retry ladder) opens its incident after its first actions ran, which
 * takes time (sysfs writes); the step they belong to is the incident's all the same. */
static void test_incident_has_the_first_step(void **state)
{
	struct fixture *f = *state;
	struct recovery_event ev = {
		.type = RECOVERY_EV_RELOAD, .firmware = "app2.elf", .rollback_fw = "good.elf"};
	struct recovery_actions out;

	fake_now_ms = 1000;
	assert_int_equal(recovery_handle(&f->c->rec, &ev, fake_now_ms, &out), 0);
	assert_int_equal(f->c->rec.history_n, 1);
	w.state = REMOTEPROC_OFFLINE;
	fake_now_ms = 1007; /* the stop and the firmware name took their time */
	sv_action_run(f->c, &out);
	assert_non_null(f->c->inc);
	/* sv_incident_end() keeps the steps numbered from inc_first_step on */
	assert_true(f->c->rec.history[0].seq >= f->c->inc_first_step);
}

/* One fault, one stall: a stall found again while the ladder a stall started runs is
 * held; once nothing is under recovery (here the ladder ended well, its tty already
 * closed, so the channel could not be said up), the next ladder's first stall is raised. */
static void test_stall_held_while_its_ladder_runs(void **state)
{
	struct fixture *f = *state;
	struct recovery_event stall = {
		.type = RECOVERY_EV_FAULT, .severity = RECOVERY_SEV_DOWN, .reason = "stall"};
	struct recovery_event kick = {
		.type = RECOVERY_EV_FAULT, .severity = RECOVERY_SEV_DOWN, .reason = "kick_timeout"};
	struct recovery_event hello = {.type = RECOVERY_EV_HELLO};

	assert_false(sv_fault_stall_held(f->c, "liveness"));
	sv_action_feed(f->c, &stall);
	assert_int_equal(f->c->rec.state, RECOVERY_RUNNING);
	assert_true(sv_fault_stall_held(f->c, "liveness"));
	sv_action_feed(f->c, &hello);
	assert_int_equal(f->c->rec.state, RECOVERY_IDLE);
	sv_action_feed(f->c, &kick);
	assert_int_equal(f->c->rec.state, RECOVERY_RUNNING);
	assert_false(sv_fault_stall_held(f->c, "liveness"));
	assert_true(sv_fault_stall_held(f->c, "liveness"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rproc_stop_done_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rproc_start_waits_for_running, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_failure_logged_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_firmware, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_state_holds_the_channel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decision_logged_at_debug, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_has_the_first_step, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stall_held_while_its_ladder_runs, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
