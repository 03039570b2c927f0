/* Unit tests for the recovery ladder (daemon/recovery.c): transitions, timeouts, backoff
 * and budget as tables of (time, event) -> expected actions and next deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "recovery.h"

/* One row: at time t, feed ev; expect the actions rendered as text, the deadline and
 * the return code. Tokens of awaited actions are fed back with RES(ok). */
struct row {
	uint64_t t;
	struct recovery_event ev;
	const char *expect;
	uint64_t deadline;
	int ret;
};

#define FAULT(sev, why)                                                                            \
	{                                                                                          \
		.type = RECOVERY_EV_FAULT, .severity = (sev), .reason = (why)                      \
	}
#define DOWN(why)     FAULT(RECOVERY_SEV_DOWN, why)
#define DEGRADED(why) FAULT(RECOVERY_SEV_DEGRADED, why)
#define NOTICE(why)   FAULT(RECOVERY_SEV_NOTICE, why)
#define HELLO                                                                                      \
	{                                                                                          \
		.type = RECOVERY_EV_HELLO                                                          \
	}
#define HB                                                                                         \
	{                                                                                          \
		.type = RECOVERY_EV_HEARTBEAT                                                      \
	}
/* A HEARTBEAT that carries the firmware's count of frames it took from the host. */
#define HBN(n)                                                                                     \
	{                                                                                          \
		.type = RECOVERY_EV_HEARTBEAT, .has_host_frames = true, .host_frames = (n)         \
	}
#define TICK                                                                                       \
	{                                                                                          \
		.type = RECOVERY_EV_TICK                                                           \
	}
#define TTY                                                                                        \
	{                                                                                          \
		.type = RECOVERY_EV_TTY_APPEARED                                                   \
	}
/* token 0 = "the last awaited action's token" (filled in by the runner) */
#define RES(r)                                                                                     \
	{                                                                                          \
		.type = RECOVERY_EV_RESULT, .result = (r)                                          \
	}
#define RES_TOKEN(tok, r)                                                                          \
	{                                                                                          \
		.type = RECOVERY_EV_RESULT, .token = (tok), .result = (r)                          \
	}
#define RECOVER(s)                                                                                 \
	{                                                                                          \
		.type = RECOVERY_EV_RECOVER, .step = (s)                                           \
	}
#define RELOAD(fw)                                                                                 \
	{                                                                                          \
		.type = RECOVERY_EV_RELOAD, .firmware = (fw)                                       \
	}
/* A reload that can roll back to rb, or (no_rb) must not. */
#define RELOAD_RB(fw, rb, no_rb)                                                                   \
	{                                                                                          \
		.type = RECOVERY_EV_RELOAD, .firmware = (fw), .rollback_fw = (rb),                 \
		.no_rollback = (no_rb)                                                             \
	}
/* The M7 was found offline. */
#define START                                                                                      \
	{                                                                                          \
		.type = RECOVERY_EV_START, .reason = "m7_offline"                                  \
	}
/* A reload of fw cut short by the daemon's restart; rb is what it replaced. */
#define ROLLBACK(fw, rb)                                                                           \
	{                                                                                          \
		.type = RECOVERY_EV_ROLLBACK, .firmware = (fw), .rollback_fw = (rb),               \
		.reason = "interrupted"                                                            \
	}
/* The verifier's verdict on the last VERIFY: 0 or an error, with the reason token. */
#define VERIFIED(r, why)                                                                           \
	{                                                                                          \
		.type = RECOVERY_EV_RESULT, .result = (r), .reason = (why)                         \
	}

static void render(const struct recovery_actions *out, char *buf, size_t size)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < out->n && n < size; i++) {
		const struct recovery_action *a = &out->a[i];
		char arg[96] = "";

		switch (a->type) {
		case RECOVERY_ACT_SET_STATE:
			snprintf(arg, sizeof(arg), "(%s,%s)", recovery_link_to_string(a->state),
				 a->reason);
			break;
		case RECOVERY_ACT_STEP_DONE:
			snprintf(arg, sizeof(arg), "(%s,%d,%llu)", recovery_step_to_string(a->step),
				 a->result, (unsigned long long)a->elapsed_ms);
			break;
		case RECOVERY_ACT_RECOVERED:
			snprintf(arg, sizeof(arg), "(%s,%llu%s%s)",
				 recovery_step_to_string(a->step),
				 (unsigned long long)a->elapsed_ms, a->reason ? "," : "",
				 a->reason ? a->reason : "");
			break;
		case RECOVERY_ACT_VERIFY:
			snprintf(arg, sizeof(arg), "(%s,%s,%llu)", recovery_step_to_string(a->step),
				 a->firmware, (unsigned long long)a->deadline_ms);
			break;
		case RECOVERY_ACT_ROLLBACK:
			snprintf(arg, sizeof(arg), "(%s,%s)", a->reason, a->firmware);
			break;
		case RECOVERY_ACT_GAVE_UP:
			snprintf(arg, sizeof(arg), "(%s)", a->reason);
			break;
		case RECOVERY_ACT_RPROC_SET_FIRMWARE:
			snprintf(arg, sizeof(arg), "(%s)", a->firmware);
			break;
		default:
			break;
		}
		n += (size_t)snprintf(buf + n, size - n, "%s%s%s", i ? " " : "",
				      recovery_action_to_string(a->type), arg);
	}
}

static uint32_t last_token(const struct recovery_actions *out, uint32_t prev)
{
	if (out->n && out->a[out->n - 1].token)
		return out->a[out->n - 1].token;
	return prev;
}

static void run_rows(struct recovery *r, const struct row *rows, size_t n)
{
	struct recovery_actions out;
	uint32_t token = 0;
	char buf[1024];
	size_t i;

	for (i = 0; i < n; i++) {
		struct recovery_event ev = rows[i].ev;
		int ret;

		if (ev.type == RECOVERY_EV_RESULT && ev.token == 0)
			ev.token = token;
		ret = recovery_handle(r, &ev, rows[i].t, &out);
		render(&out, buf, sizeof(buf));
		if (ret != rows[i].ret || strcmp(buf, rows[i].expect) != 0 ||
		    out.deadline_ms != rows[i].deadline)
			fail_msg("row %zu (t=%llu): ret %d want %d\n  got  \"%s\" @%llu\n  want "
				 "\"%s\" @%llu",
				 i, (unsigned long long)rows[i].t, ret, rows[i].ret, buf,
				 (unsigned long long)out.deadline_ms, rows[i].expect,
				 (unsigned long long)rows[i].deadline);
		token = last_token(&out, token);
	}
}

#define RUN(r, rows) run_rows((r), (rows), sizeof(rows) / sizeof((rows)[0]))

/* A small ladder with round numbers. */
static void small_config(struct recovery_config *c)
{
	recovery_config_default(c);
	c->n_steps = 0;
	c->steps[c->n_steps++] = (struct recovery_step_config){RECOVERY_STEP_RESYNC, 1000, 2, 100};
	c->steps[c->n_steps++] = (struct recovery_step_config){RECOVERY_STEP_REOPEN, 1000, 1, 0};
	c->steps[c->n_steps++] = (struct recovery_step_config){RECOVERY_STEP_DRIVER, 2000, 1, 0};
	c->steps[c->n_steps++] =
		(struct recovery_step_config){RECOVERY_STEP_REMOTEPROC, 5000, 1, 0};
	c->steps[c->n_steps++] = (struct recovery_step_config){RECOVERY_STEP_HOOK, 3000, 1, 0};
	c->backoff_ms = 10000;
	c->backoff_max_ms = 25000;
	c->budget = 3;
	c->budget_period_ms = 100000;
	c->degraded_limit = 3;
	c->degraded_window_ms = 10000;
	c->reload_timeout_ms = 8000;
	c->verify_ms = 4000;
}

/* A fresh recovery on the small ladder. */
static void small_recovery(struct recovery *r)
{
	struct recovery_config c;

	small_config(&c);
	recovery_init(r, &c);
}

/* Runs n (at most 3) automatic ladders that each end well at resync: n of the budget spent. */
static void ladders_ended_well(struct recovery *r, size_t n)
{
	static const struct row rows[] = {
		{0, DOWN("stall"), "set_state(recovering,stall) send_host_hello", 1000, 0},
		{10, HELLO, "step_done(resync,0,10) set_state(up,recovered) recovered(resync,10)",
		 0, 0},
		/* 30 s apart: no relapse, each ladder starts at resync */
		{40000, DOWN("stall"), "set_state(recovering,stall) send_host_hello", 41000, 0},
		{40010, HELLO,
		 "step_done(resync,0,10) set_state(up,recovered) recovered(resync,10)", 0, 0},
		{80000, DOWN("stall"), "set_state(recovering,stall) send_host_hello", 81000, 0},
		{80010, HELLO,
		 "step_done(resync,0,10) set_state(up,recovered) recovered(resync,10)", 0, 0},
	};

	run_rows(r, rows, 2 * n);
}

static void test_resync_succeeds(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{1000, HELLO, "", 0, 0},
		{1000, NOTICE("msg_too_big"), "", 0, 0},
		{1000, DOWN("stall"), "set_state(recovering,stall) send_host_hello", 2000, 0},
		{1500, TICK, "", 2000, 0},
		{1500, DOWN("kick_timeout"), "", 2000, 0},
		{1600, HELLO,
		 "step_done(resync,0,600) set_state(up,recovered) recovered(resync,600)", 0, 0},
		{1700, TICK, "", 0, 0},
	};

	(void)state;
	small_recovery(&r);
	RUN(&r, rows);
	assert_int_equal(r.state, RECOVERY_IDLE);
	assert_int_equal(r.recoveries, 1);
	assert_int_equal(r.history_n, 1);
	assert_int_equal(r.history[0].result, 0);
}

/* Every step fails in turn: timeouts, a retry delay, action errors, then `failed`. */
static void test_full_ladder(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{0, DOWN("stall"), "set_state(recovering,stall) send_host_hello", 1000, 0},
		/* a heartbeat is accepted only once the step waits for it: here it does */
		{1000, TICK, "step_done(resync,-110,1000)", 1100, 0},
		{1050, TICK, "", 1100, 0},
		{1100, TICK, "send_host_hello", 2100, 0},
		{2100, TICK, "step_done(resync,-110,1000) close_tty open_tty", 3100, 0},
		{2110, RES(-ENOENT), "step_done(reopen,-2,10) close_tty reload_driver", 4110, 0},
		{2110, HB, "", 4110, 0}, /* tty closed: does not count */
		{2500, RES(0), "watch_tty", 4110, 0},
		{2600, TTY, "open_tty", 4110, 0},
		{2610, RES(0), "send_host_hello", 4110, 0},
		{4110, TICK, "step_done(driver,-110,2000) close_tty rproc_stop", 9110, 0},
		{4200, RES(0), "rproc_start", 9110, 0},
		{4300, RES(-EIO), "step_done(remoteproc,-5,190) close_tty run_hook", 7300, 0},
		{7300, TICK,
		 "step_done(hook,-110,3000) set_state(failed,exhausted) gave_up(exhausted)", 17300,
		 0},
		{8000, DOWN("stall"), "", 17300, 0},
		{8000, RES(0), "", 17300, 0},
		/* backoff expires: the ladder starts again from the first step */
		{17300, TICK, "set_state(recovering,retry) send_host_hello", 18300, 0},
		{17400, HB, "step_done(resync,0,100) set_state(up,recovered) recovered(resync,100)",
		 0, 0},
	};

	(void)state;
	small_recovery(&r);
	RUN(&r, rows);
	assert_int_equal(r.recoveries, 2);
}

/* Feeds one event and returns what the STEP_DONE among the actions says decided it
 * (NULL when none says). */
static const char *step_why(struct recovery *r, struct recovery_event ev, uint64_t t)
{
	struct recovery_actions out;

	assert_int_equal(recovery_handle(r, &ev, t, &out), 0);
	for (size_t i = 0; i < out.n; i++)
		if (out.a[i].type == RECOVERY_ACT_STEP_DONE)
			return out.a[i].why;
	return NULL;
}

/* An M7 deaf to the mailbox keeps sending its periodic HEARTBEATs with the same
 * host_frames count: they do not complete a step, the ladder goes on, and the step says
 * why. A count that moved (the host's frames arrive again) does complete it. */
static void test_deaf_heartbeats(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{0, DOWN("kick_timeout"), "set_state(recovering,kick_timeout) send_host_hello",
		 1000, 0},
		{200, HBN(41), "", 1000, 0},
		{400, HBN(41), "", 1000, 0},
		{1000, TICK, "step_done(resync,-110,1000)", 1100, 0},
		{1100, TICK, "send_host_hello", 2100, 0},
		{1300, HBN(41), "", 2100, 0},
	};
	static const struct row reopen[] = {
		{2300, HBN(41), "", 3100, 0},
		/* the reopened link reaches the M7: it counted the HOST_HELLO */
		{2500, HBN(42),
		 "step_done(reopen,0,400) set_state(up,recovered) recovered(reopen,2500)", 0, 0},
	};

	(void)state;
	small_recovery(&r);
	recovery_host_frames_seen(&r, 41); /* what liveness saw before the fault */
	RUN(&r, rows);
	assert_string_equal(step_why(&r, (struct recovery_event)TICK, 2100), "deaf");
	assert_int_equal(r.state, RECOVERY_RUNNING);
	assert_int_equal(r.cfg.steps[r.step_idx].step, RECOVERY_STEP_REOPEN);
	assert_null(step_why(&r, (struct recovery_event)RES_TOKEN(r.token, 0), 2110));
	RUN(&r, reopen);

	/* A silent M7 is told apart from a deaf one; a HELLO says it heard. */
	small_recovery(&r);
	recovery_host_frames_seen(&r, 5);
	assert_null(step_why(&r, (struct recovery_event)DOWN("stall"), 0));
	assert_string_equal(step_why(&r, (struct recovery_event)TICK, 1000), "silent");
	assert_null(step_why(&r, (struct recovery_event)TICK, 1100));
	assert_string_equal(step_why(&r, (struct recovery_event)HELLO, 1200), "hello");

	/* No count known when the HOST_HELLO went: the first HEARTBEAT sets it. */
	small_recovery(&r);
	assert_null(step_why(&r, (struct recovery_event)DOWN("stall"), 0));
	assert_null(step_why(&r, (struct recovery_event)HBN(7), 100));
	assert_int_equal(r.state, RECOVERY_RUNNING);
	assert_string_equal(step_why(&r, (struct recovery_event)HBN(8), 300), "host_frames");
	assert_int_equal(r.state, RECOVERY_IDLE);

	/* A HEARTBEAT without counters still answers, as before. */
	small_recovery(&r);
	recovery_host_frames_seen(&r, 5);
	assert_null(step_why(&r, (struct recovery_event)DOWN("stall"), 0));
	assert_string_equal(step_why(&r, (struct recovery_event)HB, 100), "heartbeat");
}

/* Failed, a deaf M7's HEARTBEATs do not bring the channel back up; a count that moved
 * or a HELLO does. */
static void test_failed_deaf(void **state)
{
	struct recovery_config c;
	struct recovery r;
	static const struct row rows[] = {
		{0, DOWN("stall"), "set_state(recovering,stall) send_host_hello", 1000, 0},
		{500, HBN(9), "", 1000, 0},
		{1000, TICK,
		 "step_done(resync,-110,1000) set_state(failed,exhausted) gave_up(exhausted)",
		 11000, 0},
		{1200, HBN(9), "", 11000, 0},
		{1400, HBN(9), "", 11000, 0},
		{1600, HBN(10), "set_state(up,hello) recovered(unknown,1600)", 0, 0},
		{2000, DOWN("stall"), "set_state(recovering,stall) send_host_hello", 3000, 0},
		{3000, TICK,
		 "step_done(resync,-110,1000) set_state(failed,exhausted) gave_up(exhausted)",
		 13000, 0},
		{3200, HBN(10), "", 13000, 0},
		{3300, HELLO, "set_state(up,hello) recovered(unknown,1300)", 0, 0},
	};

	(void)state;
	small_config(&c);
	c.n_steps = 1;
	c.steps[0].tries = 1;
	recovery_init(&r, &c);
	recovery_host_frames_seen(&r, 9);
	RUN(&r, rows);
}

/* The remoteproc step with a firmware set, waiting for the tty and HELLO. */
static void test_remoteproc_step(void **state)
{
	struct recovery_config c;
	struct recovery r;
	static const struct row rows[] = {
		{0, RECOVER(RECOVERY_STEP_REMOTEPROC),
		 "set_state(recovering,recover) close_tty rproc_stop", 5000, 0},
		{10, RECOVER(RECOVERY_STEP_COUNT), "", 5000, -EBUSY},
		{10, RELOAD(NULL), "", 5000, -EBUSY},
		{20, RES(0), "rproc_set_firmware(app.elf)", 5000, 0},
		{30, RES(0), "rproc_start", 5000, 0},
		{30, HELLO, "", 5000, 0}, /* not waiting for it yet */
		{400, RES(0), "watch_tty", 5000, 0},
		{900, TTY, "open_tty", 5000, 0},
		{901, RES(0), "send_host_hello verify(remoteproc,app.elf,5000)", 9000, 0},
		{1000, HELLO, "", 9000, 0}, /* the verifier decides, not any HELLO */
		{1001, VERIFIED(0, NULL),
		 "step_done(remoteproc,0,1001) set_state(up,recovered) recovered(remoteproc,1001)",
		 0, 0},
	};

	(void)state;
	small_config(&c);
	strcpy(c.firmware, "app.elf");
	recovery_init(&r, &c);
	RUN(&r, rows);
}

/* The firmware the remoteproc step sets can change between ladders (a verified reload
 * installed another image): the next step sets the new one; "" keeps remoteproc's. Names
 * that are not plain file names are refused and change nothing. */
static void test_set_firmware(void **state)
{
	struct recovery_config c;
	struct recovery r;
	static const struct row app2[] = {
		{0, RECOVER(RECOVERY_STEP_REMOTEPROC),
		 "set_state(recovering,recover) close_tty rproc_stop", 5000, 0},
		{20, RES(0), "rproc_set_firmware(app2.elf)", 5000, 0},
		{30, RES(0), "rproc_start", 5000, 0},
	};
	static const struct row keep[] = {
		{0, RECOVER(RECOVERY_STEP_REMOTEPROC),
		 "set_state(recovering,recover) close_tty rproc_stop", 5000, 0},
		{20, RES(0), "rproc_start", 5000, 0},
	};

	(void)state;
	small_config(&c);
	strcpy(c.firmware, "app.elf");
	recovery_init(&r, &c);
	assert_int_equal(recovery_set_firmware(&r, "app2.elf"), 0);
	assert_int_equal(recovery_set_firmware(&r, "../app3.elf"), -EINVAL);
	assert_int_equal(recovery_set_firmware(&r, ".hidden"), -EINVAL);
	RUN(&r, app2);
	recovery_init(&r, &c);
	assert_int_equal(recovery_set_firmware(&r, ""), 0);
	RUN(&r, keep);
}

static void test_stale_result(void **state)
{
	struct recovery_config c;
	struct recovery r;
	struct recovery_actions out;
	struct recovery_event ev = RECOVER(RECOVERY_STEP_DRIVER);
	uint32_t tok;

	(void)state;
	small_config(&c);
	recovery_init(&r, &c);
	assert_int_equal(recovery_handle(&r, &ev, 0, &out), 0);
	assert_int_equal(out.a[out.n - 1].type, RECOVERY_ACT_RELOAD_DRIVER);
	tok = out.a[out.n - 1].token;
	assert_true(tok != 0);
	/* timeout: driver step fails, remoteproc step starts */
	ev = (struct recovery_event)TICK;
	assert_int_equal(recovery_handle(&r, &ev, 2000, &out), 0);
	assert_int_equal(out.a[out.n - 1].type, RECOVERY_ACT_RPROC_STOP);
	/* the old command finishes late: ignored */
	ev = (struct recovery_event)RES_TOKEN(tok, 0);
	assert_int_equal(recovery_handle(&r, &ev, 2100, &out), 0);
	assert_int_equal(out.n, 0);
	assert_int_equal(r.step_idx, 3);
}

/* Degraded faults: probed, then escalated when they repeat inside the window. */
static void test_degraded(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{1000, DEGRADED("kick_timeout"), "probe", 0, 0},
		{1100, HB, "", 0, 0},
		{20000, DEGRADED("kick_timeout"), "probe", 0, 0},
		{25000, DEGRADED("kick_timeout"), "probe", 0, 0},
		{29000, DEGRADED("kick_timeout"),
		 "set_state(recovering,kick_timeout) send_host_hello", 30000, 0},
		{29500, HELLO,
		 "step_done(resync,0,500) set_state(up,recovered) recovered(resync,500)", 0, 0},
		/* the window restarted with the escalation */
		{30000, DEGRADED("kick_timeout"), "probe", 0, 0},
	};

	(void)state;
	small_recovery(&r);
	RUN(&r, rows);
}

/* The budget: three automatic ladders per 100 s; the fourth waits; a request does not. */
static void test_budget(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{90000, DOWN("stall"), "set_state(failed,budget) gave_up(budget)", 100000, 0},
		{99999, TICK, "", 100000, 0},
		{100000, TICK, "set_state(recovering,retry) send_host_hello", 101000, 0},
		{100001, HELLO, "step_done(resync,0,1) set_state(up,recovered) recovered(resync,1)",
		 0, 0},
		/* budget spent again (40000, 80000, 100000 inside the period): a request still
		 * runs */
		{100002, DOWN("stall"), "set_state(failed,budget) gave_up(budget)", 140000, 0},
		{100003, RECOVER(RECOVERY_STEP_COUNT),
		 "set_state(recovering,recover) send_host_hello", 101003, 0},
	};

	(void)state;
	small_recovery(&r);
	ladders_ended_well(&r, 3);
	RUN(&r, rows);
}

/* A ladder exhausted, then its retry refused by the spent budget: the published state
 * says what holds the channel now (budget), not the exhaustion before it; a retry that
 * the budget refuses again changes nothing the clients see. */
static void test_failed_then_budget(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{40020, RECOVER(RECOVERY_STEP_HOOK),
		 "set_state(recovering,recover) close_tty run_hook", 43020, 0},
		{40030, RES(-EIO),
		 "step_done(hook,-5,10) set_state(failed,exhausted) gave_up(exhausted)", 50030, 0},
		/* the retry: 0, 40000 and 40020 are inside the period, so the budget holds it */
		{50030, TICK, "set_state(failed,budget) gave_up(budget)", 100000, 0},
		{100000, TICK, "set_state(recovering,retry) send_host_hello", 101000, 0},
	};

	(void)state;
	small_recovery(&r);
	ladders_ended_well(&r, 2);
	RUN(&r, rows);
}

/* New settings (SIGHUP) keep a failed channel failed, with its retry time and reason, and
 * keep the budget spent: the retry then walks the new ladder. */
static void test_carry(void **state)
{
	struct recovery_config c;
	struct recovery old, r;
	struct recovery_actions out;
	static const struct row rows[] = {
		{40020, RECOVER(RECOVERY_STEP_HOOK),
		 "set_state(recovering,recover) close_tty run_hook", 43020, 0},
		{40030, RES(-EIO),
		 "step_done(hook,-5,10) set_state(failed,exhausted) gave_up(exhausted)", 50030, 0},
	};
	struct recovery_event tick = TICK, down = DOWN("stall");

	(void)state;
	small_config(&c);
	recovery_init(&old, &c);
	ladders_ended_well(&old, 2);
	RUN(&old, rows);
	/* the new settings: another ladder, a shorter backoff cap */
	c.n_steps = 1;
	c.steps[0] = (struct recovery_step_config){RECOVERY_STEP_REMOTEPROC, 5000, 1, 0};
	c.backoff_max_ms = 15000;
	recovery_init(&r, &c);
	recovery_carry(&r, &old);
	assert_int_equal(r.state, RECOVERY_FAILED);
	assert_int_equal(r.deadline, 50030);
	assert_int_equal(r.backoff_cur, 15000); /* 20000 by the old cap */
	assert_int_equal(r.recoveries, 3);
	assert_int_equal(r.steps_begun, old.steps_begun);
	/* still failed: a fault changes nothing; the retry finds the budget spent (3 in 100 s) */
	assert_int_equal(recovery_handle(&r, &down, 49000, &out), 0);
	assert_int_equal(out.n, 0);
	assert_int_equal(recovery_handle(&r, &tick, 50030, &out), 0);
	assert_int_equal(out.n, 2);
	assert_int_equal(out.a[0].type, RECOVERY_ACT_SET_STATE);
	assert_string_equal(out.a[0].reason, "budget");
	/* once the window allows, the retry walks the new ladder */
	assert_int_equal(recovery_handle(&r, &tick, 100000, &out), 0);
	assert_int_equal(out.a[0].type, RECOVERY_ACT_SET_STATE);
	assert_string_equal(out.a[0].reason, "retry");
	assert_int_equal(out.a[1].type, RECOVERY_ACT_CLOSE_TTY);
	assert_int_equal(out.a[2].type, RECOVERY_ACT_RPROC_STOP);
}

/* The same fault soon after its ladder ended well is a relapse: the next ladder starts
 * after the step that seemed to help (an asserted M7 answers resync's HELLO every time); after
 * RECOVERY_RELAPSE_MS, and for a request, the ladder starts at its first step again. */
static void test_relapse(void **state)
{
	struct recovery_config c;
	struct recovery r;
	static const struct row rows[] = {
		{0, DOWN("firmware_fatal"), "set_state(recovering,firmware_fatal) send_host_hello",
		 1000, 0},
		{10, HELLO, "step_done(resync,0,10) set_state(up,recovered) recovered(resync,10)",
		 0, 0},
		/* another fault: from the first step */
		{1000, DOWN("data_silence"), "set_state(recovering,data_silence) send_host_hello",
		 2000, 0},
		{1010, HELLO, "step_done(resync,0,10) set_state(up,recovered) recovered(resync,10)",
		 0, 0},
		/* the same one again: a relapse, from the next step */
		{1500, DOWN("data_silence"),
		 "set_state(recovering,data_silence) close_tty open_tty", 2500, 0},
		{1510, RES(0), "send_host_hello", 2500, 0},
		{1520, HELLO, "step_done(reopen,0,20) set_state(up,recovered) recovered(reopen,20)",
		 0, 0},
		{2000, DOWN("data_silence"),
		 "set_state(recovering,data_silence) close_tty reload_driver", 4000, 0},
		{2010, RES(-EIO), "step_done(driver,-5,10) close_tty rproc_stop", 7010, 0},
		{7010, TICK, "step_done(remoteproc,-110,5000) close_tty run_hook", 10010, 0},
		{7020, RES(-EIO),
		 "step_done(hook,-5,10) set_state(failed,exhausted) gave_up(exhausted)", 17020, 0},
		{8000, HB, "set_state(up,hello) recovered(unknown,6000)", 0, 0},
		/* still within 30 s of the reopen that ended a ladder well */
		{9000, DOWN("data_silence"),
		 "set_state(recovering,data_silence) close_tty reload_driver", 11000, 0},
		{9010, RES(0), "watch_tty", 11000, 0},
		{9020, TTY, "open_tty", 11000, 0},
		{9030, RES(0), "send_host_hello", 11000, 0},
		{9040, HELLO, "step_done(driver,0,40) set_state(up,recovered) recovered(driver,40)",
		 0, 0},
		/* quiet for 30 s: from the first step again */
		{39040, DOWN("stall"), "set_state(recovering,stall) send_host_hello", 40040, 0},
		{39050, HELLO,
		 "step_done(resync,0,10) set_state(up,recovered) recovered(resync,10)", 0, 0},
		/* a request starts where it is asked to */
		{39060, RECOVER(RECOVERY_STEP_COUNT),
		 "set_state(recovering,recover) send_host_hello", 40060, 0},
	};

	(void)state;
	small_config(&c);
	c.budget = 0;
	recovery_init(&r, &c);
	RUN(&r, rows);
}

/* Degraded faults that repeat while the budget is spent: the link answers (only a missed
 * HEARTBEAT makes them a stall), so they are probed, not declared failed; otherwise
 * every HEARTBEAT would bring it back up and the next kick failure fail it again. */
static void test_degraded_budget_spent(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{80100, DEGRADED("kick_timeout"), "probe", 0, 0},
		{80200, DEGRADED("kick_timeout"), "probe", 0, 0},
		{80300, DEGRADED("kick_timeout"), "probe", 0, 0},
		{80350, HB, "", 0, 0},
		{80400, DEGRADED("kick_timeout"), "probe", 0, 0},
		{80500, DEGRADED("kick_timeout"), "probe", 0, 0},
		/* the probe went unanswered: a stall, and the spent budget says failed */
		{81500, DOWN("stall"), "set_state(failed,budget) gave_up(budget)", 100000, 0},
		/* once the oldest ladder left the period, repeated kicks start one again; not
		 * a relapse: the ladders that ended well were the stalls' */
		{100001, HB, "set_state(up,hello) recovered(unknown,20001)", 0, 0},
		{100010, DEGRADED("kick_timeout"), "probe", 0, 0},
		{100020, DEGRADED("kick_timeout"), "probe", 0, 0},
		{100030, DEGRADED("kick_timeout"),
		 "set_state(recovering,kick_timeout) send_host_hello", 101030, 0},
	};

	(void)state;
	small_recovery(&r);
	ladders_ended_well(&r, 3);
	RUN(&r, rows);
}

/* Backoff doubles after each exhausted ladder, up to the cap, and resets on success. */
static void test_backoff(void **state)
{
	struct recovery_config c;
	struct recovery r;
	static const struct row rows[] = {
		{0, DOWN("stall"), "set_state(recovering,stall) send_host_hello", 500, 0},
		{500, TICK,
		 "step_done(resync,-110,500) set_state(failed,exhausted) gave_up(exhausted)", 10500,
		 0},
		{10500, TICK, "set_state(recovering,retry) send_host_hello", 11000, 0},
		{11000, TICK,
		 "step_done(resync,-110,500) set_state(failed,exhausted) gave_up(exhausted)", 31000,
		 0},
		{31000, TICK, "set_state(recovering,retry) send_host_hello", 31500, 0},
		{31500, TICK,
		 "step_done(resync,-110,500) set_state(failed,exhausted) gave_up(exhausted)", 56500,
		 0},
		{56500, TICK, "set_state(recovering,retry) send_host_hello", 57000, 0},
		{57000, TICK,
		 "step_done(resync,-110,500) set_state(failed,exhausted) gave_up(exhausted)", 82000,
		 0},
		/* back by itself while failed */
		{60000, HELLO, "set_state(up,hello) recovered(unknown,3500)", 0, 0},
		{70000, DOWN("stall"), "set_state(recovering,stall) send_host_hello", 70500, 0},
		{70500, TICK,
		 "step_done(resync,-110,500) set_state(failed,exhausted) gave_up(exhausted)", 80500,
		 0},
	};

	(void)state;
	small_config(&c);
	c.n_steps = 1;
	c.steps[0] = (struct recovery_step_config){RECOVERY_STEP_RESYNC, 500, 1, 0};
	c.budget = 0;
	recovery_init(&r, &c);
	RUN(&r, rows);
}

static void test_reload(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{0, RELOAD("../etc/passwd"), "", 0, -EINVAL},
		{0, RELOAD("new.elf"), "set_state(reloading,reload) close_tty rproc_stop", 8000, 0},
		{5, DOWN("rproc_stopped"), "", 8000, 0},
		{10, RES(0), "rproc_set_firmware(new.elf)", 8000, 0},
		{20, RES(0), "rproc_start", 8000, 0},
		{300, RES(0), "watch_tty", 8000, 0},
		{700, TTY, "open_tty", 8000, 0},
		{705, RES(0), "send_host_hello verify(reload,new.elf,8000)", 12000, 0},
		{750, VERIFIED(0, NULL),
		 "step_done(reload,0,750) set_state(up,reload) recovered(reload,750)", 0, 0},
		/* without a name: the configured firmware (none here): no set_firmware */
		{1000, RELOAD(NULL), "set_state(reloading,reload) close_tty rproc_stop", 9000, 0},
		{1010, RES(0), "rproc_start", 9000, 0},
		{1020, RES(-ENOENT),
		 "step_done(reload,-2,20) set_state(failed,reload_failed) gave_up(reload_failed)",
		 11020, 0},
		{11020, TICK, "set_state(recovering,retry) send_host_hello", 12020, 0},
	};

	(void)state;
	small_recovery(&r);
	RUN(&r, rows);
	assert_int_equal(r.recoveries, 1);
}

/* A reload whose image fails verification rolls back once to the last good firmware;
 * the rollback is verified too and ends rolled_back, then up. */
static void test_reload_rollback(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{0, RELOAD_RB("new.elf", "../x", false), "", 0, -EINVAL},
		{0, RELOAD_RB("new.elf", "good.elf", false),
		 "set_state(reloading,reload) close_tty rproc_stop", 8000, 0},
		{10, RES(0), "rproc_set_firmware(new.elf)", 8000, 0},
		{20, RES(0), "rproc_start", 8000, 0},
		{30, RES(0), "watch_tty", 8000, 0},
		{40, TTY, "open_tty", 8000, 0},
		{41, RES(0), "send_host_hello verify(reload,new.elf,8000)", 12000, 0},
		{100, HELLO, "", 12000, 0},
		{120, VERIFIED(-EPROTO, "wrong_identity"),
		 "step_done(reload,-71,120) rollback(wrong_identity,good.elf) "
		 "set_state(reloading,rollback) close_tty rproc_stop",
		 8120, 0},
		{130, RES(0), "rproc_set_firmware(good.elf)", 8120, 0},
		{140, RES(0), "rproc_start", 8120, 0},
		{150, RES(0), "watch_tty", 8120, 0},
		{160, TTY, "open_tty", 8120, 0},
		{161, RES(0), "send_host_hello verify(rollback,good.elf,8120)", 12120, 0},
		{3000, VERIFIED(0, NULL),
		 "step_done(rollback,0,2880) set_state(rolled_back,wrong_identity) "
		 "set_state(up,rollback) recovered(rollback,3000)",
		 0, 0},
		/* a load that fails before any image runs rolls back as well */
		{4000, RELOAD_RB(NULL, "good.elf", false),
		 "set_state(reloading,reload) close_tty rproc_stop", 12000, 0},
		{4010, RES(0), "rproc_start", 12000, 0},
		{4020, RES(-EIO),
		 "step_done(reload,-5,20) rollback(load_failed,good.elf) "
		 "set_state(reloading,rollback) close_tty rproc_stop",
		 12020, 0},
		/* and a rollback that fails ends failed: never a second rollback */
		{4030, RES(0), "rproc_set_firmware(good.elf)", 12020, 0},
		{4040, RES(0), "rproc_start", 12020, 0},
		{4050, RES(0), "watch_tty", 12020, 0},
		{12020, TICK,
		 "step_done(rollback,-110,8000) set_state(failed,rollback_failed) "
		 "gave_up(rollback_failed)",
		 22020, 0},
	};

	(void)state;
	small_recovery(&r);
	RUN(&r, rows);
	/* the last reload's steps: reload, then its rollback; the history keeps the earlier
	 * reloads' too, numbered before them */
	assert_int_equal(r.steps_begun - r.first_step + 1, 2);
	assert_int_equal(r.history[r.history_n - 2].step, RECOVERY_STEP_RELOAD);
	assert_int_equal(r.history[r.history_n - 2].seq, r.first_step);
	assert_int_equal(r.history[r.history_n - 1].step, RECOVERY_STEP_ROLLBACK);
	assert_int_equal(r.history_n, r.steps_begun);
}

/* --no-rollback: an image that fails verification stays (up, unverified); one that failed
 * to load leaves the channel failed. Without a known good firmware there is no rollback. */
static void test_reload_no_rollback(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{0, RELOAD_RB("new.elf", "good.elf", true),
		 "set_state(reloading,reload) close_tty rproc_stop", 8000, 0},
		{10, RES(0), "rproc_set_firmware(new.elf)", 8000, 0},
		{20, RES(0), "rproc_start", 8000, 0},
		{30, RES(0), "watch_tty", 8000, 0},
		{40, TTY, "open_tty", 8000, 0},
		{41, RES(0), "send_host_hello verify(reload,new.elf,8000)", 12000, 0},
		{3000, VERIFIED(-EPROTO, "silent"),
		 "step_done(reload,-71,3000) set_state(up,unverified) "
		 "recovered(reload,3000,silent)",
		 0, 0},
		/* no rollback target: failed */
		{5000, RELOAD_RB("new.elf", NULL, false),
		 "set_state(reloading,reload) close_tty rproc_stop", 13000, 0},
		{5010, RES(0), "rproc_set_firmware(new.elf)", 13000, 0},
		{5020, RES(0), "rproc_start", 13000, 0},
		{5030, RES(0), "watch_tty", 13000, 0},
		{5040, TTY, "open_tty", 13000, 0},
		{5041, RES(0), "send_host_hello verify(reload,new.elf,13000)", 17000, 0},
		/* the verifier never answers: its backstop deadline fails the try */
		{17000, TICK,
		 "step_done(reload,-110,12000) set_state(failed,reload_failed) "
		 "gave_up(reload_failed)",
		 27000, 0},
	};

	(void)state;
	small_recovery(&r);
	RUN(&r, rows);
}

/* An M7 found offline is started (the configured firmware set first), verified, up
 * "started"; counted against the budget; a start that fails leaves the channel failed,
 * and the retry walks the ladder. */
static void test_start_offline(void **state)
{
	struct recovery_config c;
	struct recovery r;
	static const struct row rows[] = {
		{0, START, "set_state(recovering,m7_offline) close_tty rproc_set_firmware(app.elf)",
		 6000, 0},
		{10, RES(0), "rproc_start", 6000, 0},
		{20, RES(0), "watch_tty", 6000, 0},
		{30, TTY, "open_tty", 6000, 0},
		{31, RES(0), "send_host_hello verify(start,app.elf,6000)", 10000, 0},
		/* any HELLO does not do: the verifier decides */
		{40, HELLO, "", 10000, 0},
		{50, VERIFIED(0, NULL),
		 "step_done(start,0,50) set_state(up,started) recovered(start,50)", 0, 0},
		/* the same while busy is refused */
		{100, START,
		 "set_state(recovering,m7_offline) close_tty rproc_set_firmware(app.elf)", 6100, 0},
		{101, START, "", 6100, -EBUSY},
		{102, ROLLBACK("new.elf", "good.elf"), "", 6100, -EBUSY},
		{110, RES(-EIO),
		 "step_done(start,-5,10) set_state(failed,start_failed) gave_up(start_failed)",
		 10110, 0},
		/* from failed, the retry is the ladder (its remoteproc step starts it too) */
		{200, START, "", 10110, -EBUSY},
		{10110, TICK, "set_state(recovering,retry) send_host_hello", 11110, 0},
		{10200, HELLO,
		 "step_done(resync,0,90) set_state(up,recovered) recovered(resync,90)", 0, 0},
		/* the budget (3 per 100 s) is spent: failed, not started a fourth time */
		{10300, START, "set_state(failed,budget) gave_up(budget)", 100000, 0},
	};

	(void)state;
	small_config(&c);
	c.start_timeout_ms = 6000;
	snprintf(c.firmware, sizeof(c.firmware), "app.elf");
	assert_int_equal(recovery_config_check(&c), 0);
	recovery_init(&r, &c);
	RUN(&r, rows);
	assert_int_equal(r.recoveries, 3);
	c.start_timeout_ms = 0;
	assert_int_equal(recovery_config_check(&c), -EINVAL);
}

/* Without a configured firmware the start sets none: remoteproc starts what it names. */
static void test_start_no_firmware(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{0, START, "set_state(recovering,m7_offline) close_tty rproc_start", 15000, 0},
		{10, RES(0), "watch_tty", 15000, 0},
		{15000, TICK,
		 "step_done(start,-110,15000) set_state(failed,start_failed) gave_up(start_failed)",
		 25000, 0},
	};

	(void)state;
	small_recovery(&r);
	RUN(&r, rows);
}

/* A reload cut short by the daemon's restart: the image it replaced is loaded and
 * verified, ending rolled_back (interrupted), then up; a failure ends failed, once. */
static void test_rollback_interrupted(void **state)
{
	struct recovery r;
	static const struct row rows[] = {
		{0, ROLLBACK("new.elf", "../x"), "", 0, -EINVAL},
		{0, ROLLBACK("new.elf", NULL), "", 0, -EINVAL},
		{0, ROLLBACK("new.elf", "good.elf"),
		 "rollback(interrupted,good.elf) set_state(reloading,rollback) close_tty "
		 "rproc_stop",
		 8000, 0},
		{10, RES(0), "rproc_set_firmware(good.elf)", 8000, 0},
		{20, RES(0), "rproc_start", 8000, 0},
		{30, RES(0), "watch_tty", 8000, 0},
		{40, TTY, "open_tty", 8000, 0},
		{41, RES(0), "send_host_hello verify(rollback,good.elf,8000)", 12000, 0},
		{900, VERIFIED(0, NULL),
		 "step_done(rollback,0,900) set_state(rolled_back,interrupted) "
		 "set_state(up,rollback) recovered(rollback,900)",
		 0, 0},
		/* the rollback fails: failed, and no second rollback */
		{1000, ROLLBACK(NULL, "good.elf"),
		 "rollback(interrupted,good.elf) set_state(reloading,rollback) close_tty "
		 "rproc_stop",
		 9000, 0},
		{1010, RES(-EIO),
		 "step_done(rollback,-5,10) set_state(failed,rollback_failed) "
		 "gave_up(rollback_failed)",
		 11010, 0},
	};

	(void)state;
	small_recovery(&r);
	RUN(&r, rows);
	/* two rollbacks, one step each, both kept in the history */
	assert_int_equal(r.history_n, 2);
	assert_int_equal(r.first_step, 2);
	assert_int_equal(r.history[1].seq, 2);
	assert_int_equal(r.history[1].step, RECOVERY_STEP_ROLLBACK);
}

/* A ladder with no steps records faults and refuses requests. */
static void test_no_steps(void **state)
{
	struct recovery_config c;
	struct recovery r;
	static const struct row rows[] = {
		{0, DOWN("stall"), "", 0, 0},
		{0, RECOVER(RECOVERY_STEP_COUNT), "", 0, -EOPNOTSUPP},
		{0, DEGRADED("kick_timeout"), "probe", 0, 0},
	};

	(void)state;
	small_config(&c);
	assert_int_equal(recovery_config_parse_steps(&c, ""), 0);
	assert_int_equal(c.n_steps, 0);
	recovery_init(&r, &c);
	RUN(&r, rows);
	assert_int_equal(r.state, RECOVERY_IDLE);
}

/* A request for a step that is not configured. */
static void test_unconfigured_step(void **state)
{
	struct recovery_config c;
	struct recovery r;
	struct recovery_actions out;
	struct recovery_event ev = RECOVER(RECOVERY_STEP_HOOK);

	(void)state;
	small_config(&c);
	assert_int_equal(recovery_config_parse_steps(&c, "resync,remoteproc"), 0);
	recovery_init(&r, &c);
	assert_int_equal(recovery_handle(&r, &ev, 0, &out), -EOPNOTSUPP);
	assert_int_equal(r.state, RECOVERY_IDLE);
	assert_int_equal(recovery_handle(&r, NULL, 0, &out), -EINVAL);
}

static void test_config(void **state)
{
	struct recovery_config c;

	(void)state;
	recovery_config_default(&c);
	assert_int_equal(recovery_config_check(&c), 0);
	assert_int_equal(c.n_steps, 5);
	c.steps[1].timeout_ms = 4321;
	assert_int_equal(recovery_config_parse_steps(&c, " remoteproc , reopen"), 0);
	assert_int_equal(c.n_steps, 2);
	assert_int_equal(c.steps[0].step, RECOVERY_STEP_REMOTEPROC);
	assert_int_equal(c.steps[1].step, RECOVERY_STEP_REOPEN);
	assert_int_equal(c.steps[1].timeout_ms, 4321); /* kept */
	assert_int_equal(recovery_config_parse_steps(&c, "resync,resync"), -EINVAL);
	assert_int_equal(recovery_config_parse_steps(&c, "resync,bogus"), -EINVAL);
	assert_int_equal(recovery_config_parse_steps(&c, "reload"), -EINVAL);
	assert_int_equal(
		recovery_config_parse_steps(&c, "averyveryveryverylongstepnamethatoverflows"),
		-EINVAL);
	assert_int_equal(recovery_config_parse_steps(&c, NULL), -EINVAL);
	assert_int_equal(c.n_steps, 2); /* unchanged by failures */
	assert_int_equal(recovery_config_check(&c), 0);
	c.steps[0].tries = 0;
	assert_int_equal(recovery_config_check(&c), -EINVAL);
	c.steps[0].tries = 1;
	c.backoff_ms = 0;
	assert_int_equal(recovery_config_check(&c), -EINVAL);
	c.backoff_ms = 10;
	c.budget = RECOVERY_BUDGET_MAX + 1;
	assert_int_equal(recovery_config_check(&c), -EINVAL);
	c.budget = 1;
	strcpy(c.firmware, "a/b.elf");
	assert_int_equal(recovery_config_check(&c), -EINVAL);
	strcpy(c.firmware, "b.elf");
	assert_int_equal(recovery_config_check(&c), 0);

	assert_true(recovery_firmware_name_ok("imx8mp_m7_TCM_app.elf"));
	assert_false(recovery_firmware_name_ok(""));
	assert_false(recovery_firmware_name_ok(NULL));
	assert_false(recovery_firmware_name_ok(".hidden"));
	assert_false(recovery_firmware_name_ok("a b"));
	assert_false(recovery_firmware_name_ok("a\nb"));
	assert_false(recovery_firmware_name_ok("dir/x.elf"));
}

static void test_strings(void **state)
{
	int i;
	enum recovery_step s;

	(void)state;
	for (i = 0; i < RECOVERY_STEP_COUNT; i++) {
		assert_int_equal(recovery_step_from_string(recovery_step_to_string(i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(recovery_step_to_string(RECOVERY_STEP_COUNT), "unknown");
	assert_string_equal(recovery_state_to_string(RECOVERY_FAILED), "failed");
	assert_string_equal(recovery_link_to_string(RECOVERY_LINK_RELOADING), "reloading");
	assert_string_equal(recovery_link_to_string(RECOVERY_LINK_ROLLED_BACK), "rolled_back");
	/* rollback is a name for incidents, never a ladder step */
	struct recovery_config c;
	recovery_config_default(&c);
	assert_int_equal(recovery_config_parse_steps(&c, "resync,rollback"), -EINVAL);
	for (i = RECOVERY_ACT_SET_STATE; i <= RECOVERY_ACT_ROLLBACK; i++)
		assert_string_not_equal(recovery_action_to_string(i), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resync_succeeds),
		cmocka_unit_test(test_full_ladder),
		cmocka_unit_test(test_deaf_heartbeats),
		cmocka_unit_test(test_failed_deaf),
		cmocka_unit_test(test_remoteproc_step),
		cmocka_unit_test(test_set_firmware),
		cmocka_unit_test(test_stale_result),
		cmocka_unit_test(test_degraded),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_failed_then_budget),
		cmocka_unit_test(test_carry),
		cmocka_unit_test(test_relapse),
		cmocka_unit_test(test_degraded_budget_spent),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_reload_rollback),
		cmocka_unit_test(test_reload_no_rollback),
		cmocka_unit_test(test_start_offline),
		cmocka_unit_test(test_start_no_firmware),
		cmocka_unit_test(test_rollback_interrupted),
		cmocka_unit_test(test_no_steps),
		cmocka_unit_test(test_unconfigured_step),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
