/* Recovery ladder: a pure per-channel state machine. Events and the current time go in,
 * actions come out; it never touches an fd, a timer or a process. See docs/RECOVERY.md. */
#ifndef M7B_RECOVERY_H
#define M7B_RECOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ladder steps, least disruptive first. */
enum recovery_step {
	RECOVERY_STEP_RESYNC = 0, /* HOST_HELLO, wait for HELLO */
	RECOVERY_STEP_REOPEN,	  /* close and reopen the tty */
	RECOVERY_STEP_DRIVER,	  /* reload the tty driver (module or unbind/bind) */
	RECOVERY_STEP_REMOTEPROC, /* stop/start the M7 through remoteproc */
	RECOVERY_STEP_HOOK,	  /* the administrator's command */
	RECOVERY_STEP_RELOAD,	  /* firmware reload on request (not a ladder step) */
	RECOVERY_STEP_ROLLBACK,	  /* the last good firmware after a failed reload (not either) */
	RECOVERY_STEP_START,	  /* an M7 found offline, started (not a ladder step) */
	RECOVERY_STEP_COUNT
};

/* Where the machine is. */
enum recovery_state {
	RECOVERY_IDLE = 0, /* watching: the channel core owns the link */
	RECOVERY_RUNNING,  /* a ladder step is in progress */
	RECOVERY_RELOAD,   /* a firmware reload is in progress */
	RECOVERY_FAILED,   /* ladder exhausted or budget spent; retry armed */
};

/* Link states the machine publishes (client protocol STATE tokens). */
enum recovery_link {
	RECOVERY_LINK_UP = 0,
	RECOVERY_LINK_RECOVERING,
	RECOVERY_LINK_RELOADING,
	RECOVERY_LINK_FAILED,
	RECOVERY_LINK_ROLLED_BACK, /* a reload failed; the last good firmware runs again */
};

/* How bad a fault is (the kernel classifier's impact, liveness stalls are DOWN). */
enum recovery_severity {
	RECOVERY_SEV_NOTICE = 0, /* record only */
	RECOVERY_SEV_DEGRADED,	 /* check liveness; escalate when repeated */
	RECOVERY_SEV_DOWN,	 /* start the ladder */
};

enum recovery_event_type {
	RECOVERY_EV_FAULT,	  /* severity, reason */
	RECOVERY_EV_HELLO,	  /* a valid HELLO arrived on the open tty */
	RECOVERY_EV_HEARTBEAT,	  /* a valid HEARTBEAT arrived on the open tty */
	RECOVERY_EV_TICK,	  /* the deadline passed (or any time: harmless) */
	RECOVERY_EV_TTY_APPEARED, /* the device node exists (after WATCH_TTY) */
	RECOVERY_EV_RESULT,	  /* an awaited action finished: token, result (VERIFY: reason) */
	RECOVERY_EV_RECOVER,	  /* operator request; step or RECOVERY_STEP_COUNT */
	RECOVERY_EV_RELOAD,	  /* operator request; firmware or NULL, rollback_fw, no_rollback */
	RECOVERY_EV_START,	  /* the M7 is offline: start it; reason */
	RECOVERY_EV_ROLLBACK,	  /* a reload was cut short (daemon restart): rollback_fw, reason */
};

struct recovery_event {
	enum recovery_event_type type;
	enum recovery_severity severity; /* FAULT */
	const char *reason;	 /* FAULT, START, ROLLBACK, RESULT of VERIFY: static token */
	uint32_t token;		 /* RESULT: the action's token */
	int result;		 /* RESULT: 0 or negative errno */
	enum recovery_step step; /* RECOVER: first step, RECOVERY_STEP_COUNT = default */
	const char *firmware;	 /* RELOAD: file name or NULL (copied) */
	const char *rollback_fw; /* RELOAD: what to load if it fails (NULL = none); ROLLBACK */
	bool no_rollback;	 /* RELOAD: leave a failed image running */
	/* HEARTBEAT: the firmware's count of frames it took from the host, when the frame
	 * carries it (without it a HEARTBEAT is taken as before: any one answers). */
	bool has_host_frames;
	uint32_t host_frames;
};

enum recovery_action_type {
	RECOVERY_ACT_SET_STATE,		 /* publish link state + reason */
	RECOVERY_ACT_PROBE,		 /* ask liveness for a PING now */
	RECOVERY_ACT_CLOSE_TTY,		 /* close the channel's tty (no result) */
	RECOVERY_ACT_OPEN_TTY,		 /* awaited: open the tty */
	RECOVERY_ACT_SEND_HOST_HELLO,	 /* write HOST_HELLO (no result) */
	RECOVERY_ACT_RELOAD_DRIVER,	 /* awaited */
	RECOVERY_ACT_RPROC_STOP,	 /* awaited; "already offline" is success */
	RECOVERY_ACT_RPROC_SET_FIRMWARE, /* awaited; firmware */
	RECOVERY_ACT_RPROC_START,	 /* awaited */
	RECOVERY_ACT_RUN_HOOK,		 /* awaited */
	RECOVERY_ACT_WATCH_TTY,		 /* send TTY_APPEARED once the node exists (maybe now) */
	RECOVERY_ACT_STEP_DONE,		 /* note: step, result (0 ok, -ETIMEDOUT, errno), ms */
	RECOVERY_ACT_RECOVERED,		 /* note: link back; ms since the fault/request */
	RECOVERY_ACT_GAVE_UP,		 /* note: ladder exhausted or budget spent; reason */
	RECOVERY_ACT_VERIFY,		 /* awaited: check the firmware that came up; step */
	RECOVERY_ACT_ROLLBACK,		 /* note: the reload failed (reason); rolling back */
};

struct recovery_action {
	enum recovery_action_type type;
	enum recovery_link state; /* SET_STATE */
	const char *reason;	  /* SET_STATE, GAVE_UP, ROLLBACK; RECOVERED: why unverified */
	enum recovery_step step;  /* STEP_DONE, RECOVERED: the step that ended */
	int result;		  /* STEP_DONE */
	const char *why;	  /* STEP_DONE: what decided it (static token) or NULL */
	uint64_t elapsed_ms;	  /* STEP_DONE, RECOVERED */
	uint32_t token;		  /* awaited actions: pass back in RESULT */
	const char *firmware;	  /* RPROC_SET_FIRMWARE, VERIFY: points into struct recovery */
	uint64_t deadline_ms;	  /* VERIFY: the HELLO is due by then */
};

#define RECOVERY_ACTIONS_MAX 12

/* What one call asks the glue to do, in order. An awaited action is always last. */
struct recovery_actions {
	struct recovery_action a[RECOVERY_ACTIONS_MAX];
	size_t n;
	uint64_t deadline_ms; /* call again with TICK at this time; 0 = no timer needed */
};

#define RECOVERY_STEPS_MAX    8
#define RECOVERY_FIRMWARE_MAX 256

struct recovery_step_config {
	enum recovery_step step;
	uint32_t timeout_ms;	 /* whole try: actions, tty, HELLO */
	uint32_t tries;		 /* >= 1 */
	uint32_t retry_delay_ms; /* before the 2nd try, doubled for each further one */
};

struct recovery_config {
	struct recovery_step_config steps[RECOVERY_STEPS_MAX];
	size_t n_steps;
	uint32_t backoff_ms;	 /* first retry of the ladder after `failed` */
	uint32_t backoff_max_ms; /* cap of the doubling */
	uint32_t budget;	 /* ladder runs allowed per period; 0 = unlimited */
	uint32_t budget_period_ms;
	uint32_t degraded_limit; /* degraded faults within the window that escalate; 0 = never */
	uint32_t degraded_window_ms;
	uint32_t reload_timeout_ms;
	uint32_t start_timeout_ms; /* the start of an offline M7, up to its verified HELLO */
	uint32_t verify_ms;	   /* VERIFY may take this long after the try's deadline */
	char firmware
		[RECOVERY_FIRMWARE_MAX]; /* set before the remoteproc step's start; "" = keep */
};

#define RECOVERY_HISTORY_MAX 32
#define RECOVERY_BUDGET_MAX  32

/* One step tried, for incidents and status; the newest RECOVERY_HISTORY_MAX are kept,
 * across recoveries (an incident can span several). */
struct recovery_history {
	uint64_t seq; /* 1 for the first step ever tried, then one more for each */
	enum recovery_step step;
	uint64_t start_ms, end_ms;
	int result;	 /* 0 ok, -ETIMEDOUT, or the failing action's error; 1 = still running */
	const char *why; /* what decided a wait for the M7's answer (static token) or NULL */
};

struct recovery {
	struct recovery_config cfg;
	enum recovery_state state;
	size_t step_idx;     /* index into cfg.steps (RUNNING) */
	uint32_t try_no;     /* 1-based try of the current step */
	int phase;	     /* private: what the current try waits for */
	size_t op;	     /* private: position in the step's script */
	uint64_t deadline;   /* of the current try, delay or retry */
	uint32_t token;	     /* of the awaited action */
	uint64_t started_ms; /* fault or request that started this recovery */
	uint64_t try_started_ms;
	uint32_t backoff_cur;
	char reload_fw[RECOVERY_FIRMWARE_MAX];
	char rollback_fw[RECOVERY_FIRMWARE_MAX]; /* "" = nothing to roll back to */
	bool no_rollback, rolling_back;
	bool starting;		   /* RUNNING the start step, not the ladder */
	const char *fail_reason;   /* why the reload failed: static token */
	const char *failed_reason; /* FAILED: the reason last published; static token */
	uint64_t budget_ring[RECOVERY_BUDGET_MAX];
	size_t budget_n;
	uint64_t degraded_ring[RECOVERY_BUDGET_MAX];
	size_t degraded_n;
	struct recovery_history history[RECOVERY_HISTORY_MAX];
	size_t history_n;
	uint64_t steps_begun; /* seq of the newest step tried */
	uint64_t first_step;  /* seq of the first step of the current (or last) recovery */
	uint64_t recoveries;  /* ladder runs and reloads started */
	const char *fault;    /* the fault that started the ladder (its retries too); NULL
				  for a request; static token */
	/* The firmware's host_frames: the last count seen, and the count when the current
	 * try sent its HOST_HELLO (or the ladder failed): only a HEARTBEAT whose count moved
	 * since proves that the host's frames reach the M7 again. */
	bool hf_known, hf_base_known;
	uint32_t hf_last, hf_base;
	uint32_t deaf_beats;  /* HEARTBEATs of the current wait that did not show it */
	const char *why;      /* what decided the step that ended last: static token */
	uint64_t ok_ms;	      /* when a ladder a fault started last ended well (0 = never) */
	size_t ok_idx;	      /* with which of its steps */
	const char *ok_fault; /* and which fault had started it */
};

/* The same fault this soon after a ladder for it ended well is a relapse: the step that
 * seemed to help did not, and the next ladder starts one step further. */
#define RECOVERY_RELAPSE_MS 30000

/* Fills cfg with the defaults: every step, timeouts that suit the board. */
void recovery_config_default(struct recovery_config *cfg);

/* Parses "resync,reopen,driver,remoteproc,hook" into cfg's step list, keeping each
 * listed step's previous timing (defaults for new ones). 0 or -EINVAL. */
int recovery_config_parse_steps(struct recovery_config *cfg, const char *list);

/* Checks ranges (tries >= 1, timeouts > 0, budget <= RECOVERY_BUDGET_MAX). 0 or -EINVAL. */
int recovery_config_check(const struct recovery_config *cfg);

/* Starts the machine in IDLE with a copy of cfg. */
void recovery_init(struct recovery *r, const struct recovery_config *cfg);

/* Sets the firmware the remoteproc step and the start write ("" = keep remoteproc's).
 * 0, or -EINVAL for a name that is not a plain file name. */
int recovery_set_firmware(struct recovery *r, const char *name);

/* Carries into r (just initialised with new settings) what outlives a change of them:
 * a FAILED state with its reason and retry time, the budget and degraded windows, the
 * backoff (within the new bounds), the counters and the history. old must not be busy. */
void recovery_carry(struct recovery *r, const struct recovery *old);

/* Feeds one event at time now_ms; out receives the actions. 0, or -EBUSY for a request
 * (or START, ROLLBACK) while a recovery or reload runs, -EINVAL for a bad event or
 * firmware name. */
int recovery_handle(struct recovery *r, const struct recovery_event *ev, uint64_t now_ms,
		    struct recovery_actions *out);

/* The firmware's host_frames counter as a HEARTBEAT showed it outside the machine's
 * events (the glue's liveness sees every HEARTBEAT): the baseline of the next wait. */
void recovery_host_frames_seen(struct recovery *r, uint32_t host_frames);

/* Whether the budget lets an automatic ladder (or a start) begin at now_ms. */
bool recovery_budget_left(struct recovery *r, uint64_t now_ms);

/* True while a step or a reload runs. */
bool recovery_busy(const struct recovery *r);

/* Names for logs and the protocol. */
const char *recovery_state_to_string(enum recovery_state s);
const char *recovery_step_to_string(enum recovery_step s);
const char *recovery_link_to_string(enum recovery_link l);
const char *recovery_action_to_string(enum recovery_action_type t);

/* Step by name ("remoteproc"); -EINVAL when unknown. */
int recovery_step_from_string(const char *name, enum recovery_step *out);

/* True when name is a plain firmware file name (no '/', no leading '.', printable). */
bool recovery_firmware_name_ok(const char *name);

#endif
