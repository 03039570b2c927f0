/* The supervisor's insides, shared by its files: per-channel state (sv_chan), fault
 * intake (sv_fault), the action executor (sv_action) and its privileged operations
 * (sv_priv), control requests (sv_control) and incidents (sv_incident). */
#ifndef M7B_SV_H
#define M7B_SV_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/util.h>

#include "channel.h"
#include "child.h"
#include "conf.h"
#include "daemon.h"
#include "fwverify.h"
#include "incident.h"
#include "klog.h"
#include "kwatch.h"
#include "liveness.h"
#include "log.h"
#include "recovery.h"
#include "remoteproc.h"
#include "silence.h"
#include "probe.h"
#include "streamcheck.h"
#include "supervisor.h"

struct event;

#define LOG_MID_FAULT	 "8aec103a63494cb6b738bf6bf56bea6c"
#define LOG_MID_RECOVERY "944bdcaf4c9a43a7b97e79f2ebb26057"
#define LOG_MID_RELOAD	 "354a3f3f56c74a00aa9845b71149a0ea"

#define SV_POLL_MS	     20	  /* sysfs state and device node polls during a step */
#define SV_RING		     256  /* ring entries per channel */
#define SV_KLINES	     32	  /* kernel lines kept apart for incidents */
#define SV_INCIDENT_AFTER_MS 2000 /* keep recording this long after the link is back */
#define SV_FAULT_KINDS	     48
/* A recovery command still running at its step's timeout gets SIGTERM (its whole process
 * group), then SIGKILL this much later. */
#define SV_COMMAND_GRACE_MS 2000
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

/* A firmware image: its file name and GNU build id. */
struct sv_fwid {
	char name[RECOVERY_FIRMWARE_MAX]; /* "" = none */
	uint8_t id[FWVERIFY_ID_MAX];
	size_t id_len;	   /* 0 = unknown */
	uint8_t elf_class; /* of the file read: 1 = ELF32, 2 = ELF64 */
	uint16_t machine;  /* its e_machine */
};

struct sv_chan {
	struct supervisor *sv;
	struct channel *ch;
	struct recovery rec;
	struct liveness live;
	bool live_enabled;
	struct streamcheck sc;	/* a corrupt byte stream is a fault of its own */
	struct silence silence; /* ports with an expected rate that went quiet */
	struct event *ev_silence;
	struct probe probe; /* raw channels: the user's probe (sv_probe.c) */
	struct event *ev_probe;
	struct klog_scope scope;
	bool scope_all; /* no remoteproc configured: every kernel line may be ours */
	struct remoteproc *rproc;
	struct incident_ring ring;
	struct incident_ring klines; /* kernel lines only: frames cannot push them out */
	uint64_t klines_seen;	     /* lines put into klines, and that count when the */
	uint64_t klines_at_inc;	     /* incident opened: what its ring let go is counted */
	struct incident *inc;
	uint64_t inc_first_step; /* seq of its first recovery step (recovery_history) */
	char inc_outcome[16];
	struct event *ev_rec, *ev_live, *ev_poll, *ev_down, *ev_inc;
	struct child *child;
	uint32_t child_token;
	enum sv_poll poll;
	uint32_t poll_token;
	bool applying;
	enum channel_state busy_state; /* RECOVERING/RELOADING while the ladder runs */
	char busy_reason[32];
	struct proto_fault_count counts[SV_FAULT_KINDS]; /* kinds in first-seen order */
	uint64_t down_due_ms;	   /* when a link that stays down is a fault (ev_down) */
	uint64_t kick_failures;	   /* mailbox kicks the kernel reported as failed */
	uint64_t last_fault_ms;	   /* of the fault that started the running recovery */
	struct ratelimit rl_debug; /* recovery decisions at debug level */
	struct ratelimit rl_fault; /* the fault lines of the daemon's log */
	uint64_t kernel_ms;	   /* when its kernel line arrived, 0 if not a kernel fault */
	bool stall_raised;	   /* a stall was raised; the channel has not been up since */
	char reload_fw[RECOVERY_FIRMWARE_MAX];
	/* verification of the image a reload or the remoteproc step brought up */
	struct fwverify ver;
	struct event *ev_ver;
	uint32_t ver_token;
	enum recovery_step ver_step;
	bool ver_pending;	    /* a verdict waits to be fed to the ladder */
	struct sv_fwid ver_want;    /* what the running verification expects */
	struct sv_fwid reload_want; /* the image a reload asked for */
	struct sv_fwid rollback;    /* what a failed reload goes back to */
	bool reload_old_known;	    /* the boot running when the reload was asked for, */
	uint32_t reload_old_boot;   /* which the reloaded image must not answer with */
	struct sv_fwid good;	    /* the image last verified good (persisted) */
	bool good_probed;	    /* the running image was checked for a first record */
	bool reload_recorded;	    /* the reload in progress is on disk (sv_verify.c) */
	bool interrupted;	    /* that record was found at start: roll back (sv_start.c) */
	struct event *ev_start;	    /* the lifecycle check (sv_start.c) */
	uint64_t start_due_ms;	    /* when a deferred start is due; 0 = none counting down */
	bool start_autostart;	    /* the settings it was decided with: a SIGHUP that */
	char start_rproc[128];	    /* keeps them keeps its deadline */
	char start_said[200];	    /* why the M7 is not started, as last logged */
	char ver_detail[160];	    /* why the last verification failed */
	/* good was installed by a verified reload while `firmware` was good_over ("" none):
	 * the ladder and the start load it instead, until that setting changes. */
	bool good_reloaded;
	char good_over[RECOVERY_FIRMWARE_MAX];
	bool good_missing; /* that image's file is gone: the setting is loaded meanwhile */
	char conf_firmware[RECOVERY_FIRMWARE_MAX]; /* `firmware` as it was set up, "" none */
	/* The settings its ladder was built with: a SIGHUP while it is busy keeps them, so
	 * its commands are these, not the channel's new ones. */
	struct supervisor_channel_conf sup;
};

struct supervisor {
	struct daemon *d;
	const struct log *log;
	struct supervisor_daemon_conf cfg;
	struct kwatch *kw;
	struct ratelimit rl_klost; /* lines about kernel records lost */
	struct ratelimit rl_kskip; /* lines about kernel lines skipped as before the start */
	struct incident_store *store;
	struct incident_store ram_store; /* numbering when no directory is usable */
	struct privsep *priv;		 /* the privileged helper; NULL: act directly */
	struct sv_chan *chans[CONF_MAX_CHANNELS];
	struct ratelimit rl_denied; /* refused recover/reload lines: any client can send many */
};
/* ---- sv_chan.c: per-channel state and small helpers ---- */

/* Supervision of ch, set up from its configuration; NULL on ENOMEM. */
struct sv_chan *sv_chan_new(struct supervisor *sv, struct channel *ch);
/* Frees c and everything it runs (commands die); NULL ok; returns NULL. */
struct sv_chan *sv_chan_free(struct sv_chan *c);
/* The supervision of ch, NULL if none. Inline: every frame asks. */
static inline struct sv_chan *sv_chan_of(struct supervisor *sv, const struct channel *ch)
{
	unsigned slot = channel_slot(ch);
	struct sv_chan *c = slot < CONF_MAX_CHANNELS ? sv->chans[slot] : NULL;

	return c && c->ch == ch ? c : NULL;
}
/* CLOCK_REALTIME in microseconds, for incident entries. */
uint64_t sv_chan_realtime_us(void);
/* Journal fields of c's channel; err is a negative errno or 0. */
struct log_fields sv_chan_fields(struct sv_chan *c, const char *mid, int err);
/* Adds a text entry to c's incident ring. */
void sv_chan_note(struct sv_chan *c, enum incident_entry_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Arms the timer ev for a monotonic deadline in ms (now if passed). */
void sv_chan_arm(struct event *ev, uint64_t deadline_ms);
/* Writes queued client output (at the end of the supervisor's own callbacks). */
void sv_chan_flush(struct sv_chan *c);
/* Writes one PING; write errors close the channel, which logs them. */
void sv_chan_send_ping(struct sv_chan *c);
/* Re-arms the liveness timer for its next deadline, or stops it. */
void sv_chan_rearm_liveness(struct sv_chan *c);

/* ---- sv_fault.c: fault intake (kernel log, liveness, link loss, corrupt stream) ---- */

/* Counts, logs, publishes and records a fault, then feeds it to the recovery ladder. */
/* ---- sv_probe.c ---- */

/* Sets up the probe of a raw channel that configures one. 0 or -ENOMEM. */
int sv_probe_init(struct sv_chan *c);
/* The channel opened or closed: start or stop probing. */
void sv_probe_on_state(struct sv_chan *c);
/* observer: raw bytes, perhaps the probe's answer. */
void sv_probe_on_raw(void *ud, struct channel *ch, const struct channel_raw *r);

void sv_fault_raise(struct sv_chan *c, const char *kind, const char *detail, const char *source,
		    enum recovery_severity sev, uint64_t kernel_ms);
/* A stall found by source (liveness, the raw probe) while the fault an earlier stall
 * raised is still under recovery (the ladder runs, or the channel waits failed for its
 * retry, and has not been up since): true, noted in the incident and told to a running
 * verification, not to be raised. Otherwise false: the stall is to be raised. */
bool sv_fault_stall_held(struct sv_chan *c, const char *source);
/* STATUS kick_failures and faults of ch (daemon_fault_info_fn). */
bool sv_fault_info(void *ud, const struct channel *ch, struct proto_faults *f);
/* Liveness timer: PING when quiet, a stall fault when unanswered. */
void sv_fault_on_live_timer(evutil_socket_t fd, short what, void *arg);
/* Down-grace timer: a link that stayed down is a fault. */
void sv_fault_on_down_timer(evutil_socket_t fd, short what, void *arg);
/* Observer: a chunk of tty input read at now_ms was decoded (stream health); returns
 * the end of the check's window (daemon_decoded_fn). */
uint64_t sv_fault_on_decoded(void *ud, struct channel *ch, uint64_t skipped, uint64_t good,
			     uint64_t bad, uint64_t now_ms);
/* A decoded frame other than DATA: a fatal LOG (the firmware asserted) is a fault. DATA
 * goes to the silence watch directly (silence_on_data()), with the read's clock. */
void sv_fault_on_msg(struct sv_chan *c, const struct channel_msg *m);
/* The link went up or away: starts or stops the silence watch. */
void sv_fault_silence_arm(struct sv_chan *c, bool up);
/* Silence timer: a port with an expected rate that stayed quiet is a fault. */
void sv_fault_on_silence_timer(evutil_socket_t fd, short what, void *arg);
/* kwatch: one kernel log line, classified and handed to the channels it concerns. */
void sv_fault_on_kernel_line(void *arg, const struct kwatch_line *l);

/* ---- sv_action.c: carries out what the recovery ladder asks for ---- */

/* Feeds one event to c's ladder and carries out the actions (never re-entered). */
void sv_action_feed(struct sv_chan *c, const struct recovery_event *ev);
/* Carries out a batch of actions, feeding awaited results back at once. */
void sv_action_run(struct sv_chan *c, const struct recovery_actions *first);
/* Ladder deadline timer. */
void sv_action_on_timer(evutil_socket_t fd, short what, void *arg);
/* Poll timer of an awaited step (device node, remoteproc state). */
void sv_action_on_poll(evutil_socket_t fd, short what, void *arg);

/* ---- sv_priv.c: the operations that need privileges ---- */

/* What needs root: the remoteproc's sysfs writes and the configured commands. */
enum sv_priv_op {
	SV_PRIV_RPROC_STOP,
	SV_PRIV_RPROC_START,
	SV_PRIV_RPROC_SET_FIRMWARE,
	SV_PRIV_RUN_COMMAND,
};

/* One privileged operation. Plain values only, so that it can cross a socket. */
struct sv_priv_request {
	enum sv_priv_op op;
	uint32_t token;	      /* RUN_COMMAND: echoed in the RESULT event fed on exit */
	const char *firmware; /* RPROC_SET_FIRMWARE: plain file name under /lib/firmware */
	const char *command;  /* RUN_COMMAND: shell command line */
	const char *step;     /* RUN_COMMAND: M7B_STEP for it ("driver", "hook") */
};

/* Carries out rq for c. 0 done, 1 started (RUN_COMMAND: its RESULT event is fed to the
 * ladder when it exits), or a negative errno (logged here, once). */
int sv_priv_run(struct sv_chan *c, const struct sv_priv_request *rq);
/* The environment of a recovery command: M7B_CHANNEL, M7B_DEVICE, M7B_REMOTEPROC (its
 * sysfs directory if known), M7B_STEP; env is NULL-terminated and points into store. */
void sv_priv_env(const struct conf_channel *cc, const char *rproc_dir, const char *step,
		 char store[4][300], char *env[5]);
/* The configuration key of a step's command ("driver_reload", "hook"): the name its
 * output is logged under (HOOK=). */
const char *sv_priv_command_key(const char *step);
/* With a privileged helper: c's remoteproc trace0, opened by the helper (debugfs is
 * root's). The fd, or -errno. */
int sv_priv_open_trace(struct sv_chan *c);
/* privsep_exit_fn: a command the helper ran for a channel ended, or (channel NULL) the
 * helper itself: then the daemon stops with a failure. */
void sv_priv_on_exited(void *ud, const char *channel, uint32_t token, int status);
/* Opens c's remoteproc if not yet open. 0, -ENODEV (none configured) or -errno; quiet:
 * the caller decides whether a missing remoteproc is worth a log line. */
int sv_priv_rproc(struct sv_chan *c);

/* ---- sv_incident.c: incident records ---- */

/* Opens an incident for c, or extends the open one. */
void sv_incident_begin(struct sv_chan *c, const char *kind, const char *source, const char *detail);
/* Closes c's open incident with outcome and writes it to the store. */
void sv_incident_end(struct sv_chan *c, const char *outcome);
/* Closes it ms from now, so the frames after the recovery are in it too. */
void sv_incident_end_later(struct sv_chan *c, const char *outcome, unsigned ms);
/* Opens (at start) or checks and reopens (on reload) the incident directory of cfg;
 * refused or missing: logged, incidents stay in memory. 0 or the -errno logged. */
int sv_incident_open_store(struct supervisor *sv, const struct supervisor_daemon_conf *cfg);
/* The `incidents` summary of c's open incident, with its steps so far. NULL on ENOMEM. */
cJSON *sv_incident_summary_open(struct sv_chan *c);
/* Timer of sv_incident_end_later. */
void sv_incident_on_timer(evutil_socket_t fd, short what, void *arg);

/* ---- sv_evidence.c: what the platform kept, for incidents ---- */

/* The trace ring, devcoredumps and kernel lines of c at a fault; NULL on ENOMEM. */
cJSON *sv_evidence_gather(struct sv_chan *c);
/* Adds the kernel lines that came after sv_evidence_gather() to evidence's "kernel" array
 * at the incident's end. */
void sv_evidence_kernel_after(struct sv_chan *c, cJSON *evidence);

/* ---- sv_verify.c: firmware identity, verification after a load, last good image ---- */

/* Reads the build id of firmware name (the one remoteproc has set when "") from the
 * firmware directory. 0 (id_len 0: the ELF has none) or -errno; quiet. */
int sv_verify_identity(struct sv_chan *c, const char *name, struct sv_fwid *out);
/* Whether firmware name is a regular file under firmware_dir (a stat). */
bool sv_verify_image_present(struct sv_chan *c, const char *name);
/* Whether the rollback target (c->rollback) can still be loaded as it was verified: its
 * file there and holding its build id. 0, or -errno with msg saying why. */
int sv_verify_check_rollback(struct sv_chan *c, char *msg, size_t cap);
/* Prepares a reload of firmware (NULL: the configured or current one): reads its
 * identity and chooses the rollback. 0, or -errno with msg set for the client. */
int sv_verify_prepare(struct sv_chan *c, const char *firmware, bool no_rollback,
		      struct recovery_event *ev, char *msg, size_t cap);
/* Carries out the ladder's VERIFY action: the verdict is fed back as its RESULT. */
void sv_verify_start(struct sv_chan *c, const struct recovery_action *a);
/* A decoded frame: HELLO, BOOT_INFO and HEARTBEAT feed a running verification (DATA
 * need not be passed). */
void sv_verify_on_msg(struct sv_chan *c, const struct channel_msg *m);
/* A fault (degraded or worse) or a lost link while verifying. */
void sv_verify_on_fault(struct sv_chan *c, const char *kind);
/* Verification timer: deadlines, and delivering a verdict outside the ladder's calls. */
void sv_verify_on_timer(evutil_socket_t fd, short what, void *arg);
/* Reads the channel's last good record from the state directory, if any. */
void sv_verify_load_good(struct sv_chan *c);
/* Chooses the image the ladder's remoteproc step and the start load: the last good one
 * when a verified reload installed it over the `firmware` still configured, else that
 * setting (a changed `firmware` is a new wish: the record forgets the reload). */
void sv_verify_use_good(struct sv_chan *c);
/* Records the reload that starts now (its rollback target and image) in the state
 * directory, so that a restart of the daemon during it rolls it back. */
void sv_verify_record_reload(struct sv_chan *c);
/* Removes that record: the reload ended (verified, rolled back, kept or failed). */
void sv_verify_clear_reload(struct sv_chan *c);
/* Reads a record left by a reload the daemon's restart cut short into c->rollback and
 * c->reload_want; true when there is one (a bad one is logged and removed). */
bool sv_verify_load_reload(struct sv_chan *c);

/* ---- sv_start.c: the M7's lifecycle: an offline M7 started, an interrupted reload ---- */

/* Timer: the check at set-up (and a deferred start): rolls an interrupted reload back,
 * starts an M7 found offline, or logs once why it waits. */
void sv_start_on_timer(evutil_socket_t fd, short what, void *arg);
/* c replaces old (a SIGHUP): a link counting down keeps its deadline, and so does a
 * deferred start when the channel's remoteproc and autostart stayed the same. */
void sv_start_keep(struct sv_chan *c, const struct sv_chan *old);
/* A fault of severity down while the ladder is idle: true when the M7's lifecycle takes
 * it (the M7 is offline: it is started after down_grace_ms, or left to its owner; or
 * another channel on the same remoteproc is acting on it) and the ladder must not run. */
bool sv_start_on_fault(struct sv_chan *c, const char *kind);

/* ---- sv_control.c: recover / reload / incidents requests ---- */

/* Handler of "recover" and "reload". */
void sv_control_recover(void *ud, struct daemon *d, struct conn *cl,
			const struct proto_request *req);
/* Handler of "incidents". */
void sv_control_incidents(void *ud, struct daemon *d, struct conn *cl,
			  const struct proto_request *req);

#endif
