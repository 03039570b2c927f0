/* Configuration of fault detection and recovery: the [daemon] and [channel NAME] keys of
 * the supervisor, as plain values (no heap) so the daemon's conf structs copy them with
 * their own. Pure: parsing and checking only. */
#ifndef M7B_SUPERVISOR_CONF_H
#define M7B_SUPERVISOR_CONF_H

#include "silence.h"
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "confkey.h"

#define SUPERVISOR_PATH_MAX 256
#define SUPERVISOR_CMD_MAX  512
#define SUPERVISOR_UIDS_MAX 16

/* [daemon] keys. */
struct supervisor_daemon_conf {
	char kernel_log[16];			/* auto, journal, kmsg, off */
	char journal_dir[SUPERVISOR_PATH_MAX];	/* "" = the local journal */
	char kmsg_path[SUPERVISOR_PATH_MAX];	/* /dev/kmsg */
	char sysfs_root[SUPERVISOR_PATH_MAX];	/* /sys */
	char debugfs_root[SUPERVISOR_PATH_MAX]; /* /sys/kernel/debug; "" = no trace */
	char incident_dir[SUPERVISOR_PATH_MAX]; /* "" = RAM only */
	char firmware_dir[SUPERVISOR_PATH_MAX]; /* where remoteproc loads firmware from */
	char state_dir[SUPERVISOR_PATH_MAX];	/* last good firmware per channel; "" = RAM */
	unsigned incident_max_files;
	unsigned incident_max_kib;
	char allow_group[64]; /* "" = none; root is always allowed */
	/* allow_group's gid, looked up when the file is read (at start, on SIGHUP): never in
	 * the event loop, where a name service lookup could block every client. */
	gid_t allow_gid;
	bool allow_uid_set; /* allow_uids given */
	unsigned n_allow_uids;
	uid_t allow_uids[SUPERVISOR_UIDS_MAX];
};

/* [channel NAME] keys (remoteproc and firmware are the daemon's own keys). */
struct supervisor_channel_conf {
	char recovery_steps[96];		/* resync,reopen,driver,remoteproc,hook */
	char driver_reload[SUPERVISOR_CMD_MAX]; /* shell command */
	char hook[SUPERVISOR_CMD_MAX];		/* shell command; "" = the step fails */
	char kernel_names[256];			/* extra kernel device names, comma list */
	unsigned resync_timeout_ms, reopen_timeout_ms, driver_timeout_ms, remoteproc_timeout_ms,
		hook_timeout_ms, reload_timeout_ms;
	unsigned resync_tries, remoteproc_tries;
	unsigned recovery_backoff_ms, recovery_backoff_max_ms;
	unsigned recovery_budget, recovery_budget_period_ms;
	unsigned degraded_limit, degraded_window_ms;
	unsigned liveness_quiet_ms, liveness_answer_ms, liveness_retries; /* quiet 0 = off */
	/* raw channels: bytes to send, pattern to expect (C escapes), period (0 = off) */
	char probe_send[128], probe_expect[128];
	unsigned probe_period_ms, probe_timeout_ms;
	unsigned down_grace_ms;		 /* link down this long without coming back: a fault */
	unsigned reload_probation_ms;	 /* a reloaded image must stay healthy this long */
	char rollback[8];		 /* "name" (of the last good firmware) or "off" */
	bool autostart;			 /* start an M7 found offline (remoteproc) */
	struct silence_conf expect_rate; /* ports whose silence is a fault (off by default) */
};

/* Fills in the defaults (the real board's paths and commands). */
void supervisor_conf_daemon_defaults(struct supervisor_daemon_conf *c);
void supervisor_conf_channel_defaults(struct supervisor_channel_conf *c);

/* The supervisor's rows of the configuration-key table, [daemon] and [channel NAME]. */
extern const struct confkey supervisor_daemon_keys[];
extern const struct confkey supervisor_channel_keys[];

/* Whether two channels' supervisor settings are the same, key by key. */
bool supervisor_conf_channel_same(const struct supervisor_channel_conf *a,
				  const struct supervisor_channel_conf *b);
/* allow_uids as the file would write it (field: the struct supervisor_daemon_conf). */
void supervisor_conf_fmt_uids(const void *field, char *buf, size_t cap);

/* Takes one key. 0 taken; -ENOENT not a supervisor key; -EINVAL bad value (msg says
 * why). */
int supervisor_conf_daemon_key(struct supervisor_daemon_conf *c, const char *key, const char *value,
			       char *msg, size_t msg_cap);
int supervisor_conf_channel_key(struct supervisor_channel_conf *c, const char *key,
				const char *value, char *msg, size_t msg_cap);

#endif
