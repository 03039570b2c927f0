/* Supervisor configuration keys: defaults, and their rows for the one key parser. */
#include "supervisor_conf.h"

#include <errno.h>
#include <stddef.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klog.h"
#include "kwatch.h"
#include "probe.h"
#include "recovery.h"

void supervisor_conf_daemon_defaults(struct supervisor_daemon_conf *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->kernel_log, "auto");
	strcpy(c->kmsg_path, "/dev/kmsg");
	strcpy(c->sysfs_root, "/sys");
	strcpy(c->debugfs_root, "/sys/kernel/debug");
	strcpy(c->firmware_dir, "/lib/firmware");
	c->incident_max_files = 100;
	c->incident_max_kib = 10240;
}

void supervisor_conf_channel_defaults(struct supervisor_channel_conf *c)
{
	struct recovery_config rc;

	recovery_config_default(&rc);
	memset(c, 0, sizeof(*c));
	strcpy(c->recovery_steps, "resync,reopen,driver,remoteproc,hook");
	/* NXP's tty driver; reloading it re-probes the tty and resends "hello world!". */
	strcpy(c->driver_reload, "modprobe -r imx_rpmsg_tty && modprobe imx_rpmsg_tty");
	c->resync_timeout_ms = rc.steps[0].timeout_ms;
	c->resync_tries = rc.steps[0].tries;
	c->reopen_timeout_ms = rc.steps[1].timeout_ms;
	c->driver_timeout_ms = rc.steps[2].timeout_ms;
	c->remoteproc_timeout_ms = rc.steps[3].timeout_ms;
	c->remoteproc_tries = rc.steps[3].tries;
	c->hook_timeout_ms = rc.steps[4].timeout_ms;
	c->reload_timeout_ms = rc.reload_timeout_ms;
	c->recovery_backoff_ms = rc.backoff_ms;
	c->recovery_backoff_max_ms = rc.backoff_max_ms;
	c->recovery_budget = rc.budget;
	c->recovery_budget_period_ms = rc.budget_period_ms;
	c->degraded_limit = rc.degraded_limit;
	c->degraded_window_ms = rc.degraded_window_ms;
	c->liveness_quiet_ms = 2000;
	c->liveness_answer_ms = 1000;
	c->liveness_retries = 1;
	c->down_grace_ms = 10000;
	c->probe_timeout_ms = 1000;
	c->reload_probation_ms = 3000;
	strcpy(c->rollback, "name");
	c->autostart = true;
}

static int check_kernel_log(void *field, const char *v, char *msg, size_t cap)
{
	struct kwatch_config kc = {0};

	if (kwatch_source_from_string(v, &kc) == 0)
		return 0;
	snprintf(msg, cap, "expected auto, journal, kmsg or off, got '%s'", v);
	return -EINVAL;
}

/* Resolved now, once: a typo fails at start-up, not at the first request, and requests
 * compare gids without a name service lookup. field is the struct's allow_group. */
static int check_group(void *field, const char *v, char *msg, size_t cap)
{
	struct supervisor_daemon_conf *c =
		(void *)((char *)field - offsetof(struct supervisor_daemon_conf, allow_group));
	struct group *g;

	if (!*v)
		return 0;
	g = getgrnam(v);
	if (g) {
		c->allow_gid = g->gr_gid;
		return 0;
	}
	snprintf(msg, cap, "no group named '%s'", v);
	return -EINVAL;
}

/* kernel_names: names the channel's kernel log scope holds (klog.h), beside the
 * remoteproc's four and the virtio devices it registers; a name cut or left out would
 * never match, so those are refused here. */
#define KERNEL_NAMES_MAX 8

static int check_kernel_names(void *field, const char *v, char *msg, size_t cap)
{
	unsigned n = 0;

	for (const char *p = v;;) {
		p += strspn(p, ", ");
		if (!*p)
			return 0;
		size_t len = strcspn(p, ", ");
		if (len >= KLOG_NAME_MAX) {
			snprintf(msg, cap, "a name longer than %d bytes: '%.*s'", KLOG_NAME_MAX - 1,
				 (int)len, p);
			return -EINVAL;
		}
		if (++n > KERNEL_NAMES_MAX) {
			snprintf(msg, cap, "more than %d names", KERNEL_NAMES_MAX);
			return -EINVAL;
		}
		p += len;
	}
}

static int set_uids(void *field, const char *v, char *msg, size_t cap)
{
	struct supervisor_daemon_conf *c = field;
	const char *p = v;

	c->n_allow_uids = 0;
	while (*p) {
		char *end;
		unsigned long x;

		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		errno = 0;
		x = strtoul(p, &end, 10);
		/* Digits only, as every number of the file: strtoul also takes a sign and
		 * wraps "-18446744073709551615" to 1. */
		if (*p < '0' || *p > '9' || errno || end == p || x >= (unsigned long)(uid_t)-1 ||
		    (*end && *end != ',' && *end != ' ')) {
			snprintf(msg, cap, "expected a list of numeric uids, got '%s'", v);
			return -EINVAL;
		}
		if (c->n_allow_uids >= SUPERVISOR_UIDS_MAX) {
			snprintf(msg, cap, "at most %d uids", SUPERVISOR_UIDS_MAX);
			return -EINVAL;
		}
		c->allow_uids[c->n_allow_uids++] = (uid_t)x;
		p = end;
	}
	c->allow_uid_set = true;
	return 0;
}

static int check_probe_bytes(void *field, const char *v, char *msg, size_t cap)
{
	uint8_t b[PROBE_BYTES_MAX];
	size_t n;
	int r = probe_parse_bytes(v, b, sizeof(b), &n);
	if (r == 0)
		return 0;
	if (r == -E2BIG)
		snprintf(msg, cap, "at most %d bytes", PROBE_BYTES_MAX);
	else
		snprintf(msg, cap, "bad escape (use \\r \\n \\t \\\\ \\xNN)");
	return -EINVAL;
}

static int check_rollback(void *field, const char *v, char *msg, size_t cap)
{
	if (strcmp(v, "name") == 0 || strcmp(v, "off") == 0)
		return 0;
	snprintf(msg, cap, "expected name or off, got '%s'", v);
	return -EINVAL;
}

void supervisor_conf_fmt_uids(const void *field, char *buf, size_t cap)
{
	const struct supervisor_daemon_conf *c = field;
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < c->n_allow_uids && n < cap; i++) {
		int w = snprintf(buf + n, cap - n, "%s%u", i ? "," : "",
				 (unsigned)c->allow_uids[i]);
		n += w > 0 ? (size_t)w : 0;
	}
}

static int check_steps(void *field, const char *v, char *msg, size_t cap)
{
	struct recovery_config rc;

	recovery_config_default(&rc);
	if (recovery_config_parse_steps(&rc, v) == 0)
		return 0;
	snprintf(msg, cap,
		 "expected a list of resync, reopen, driver, remoteproc, hook (each once), got "
		 "'%s'",
		 v);
	return -EINVAL;
}

static int set_expect_rate(void *field, const char *v, char *msg, size_t cap)
{
	return silence_conf_parse(field, v, msg, cap);
}

#define D(f)	  offsetof(struct supervisor_daemon_conf, f)
#define DCHARS(f) D(f), 0, sizeof(((struct supervisor_daemon_conf *)0)->f)
const struct confkey supervisor_daemon_keys[] = {
	{"kernel_log", CONFKEY_CHARS, DCHARS(kernel_log), check_kernel_log, NULL},
	{"journal_dir", CONFKEY_PATH_OPT, DCHARS(journal_dir), NULL, NULL},
	{"kmsg_path", CONFKEY_PATH, DCHARS(kmsg_path), NULL, NULL},
	{"sysfs_root", CONFKEY_PATH, DCHARS(sysfs_root), NULL, NULL},
	{"debugfs_root", CONFKEY_PATH_OPT, DCHARS(debugfs_root), NULL, NULL},
	{"incident_dir", CONFKEY_PATH_OPT, DCHARS(incident_dir), NULL, NULL},
	{"firmware_dir", CONFKEY_PATH, DCHARS(firmware_dir), NULL, NULL},
	{"state_dir", CONFKEY_PATH_OPT, DCHARS(state_dir), NULL, NULL},
	{"incident_max_files", CONFKEY_UINT, D(incident_max_files), 1, 1000000, NULL, NULL},
	{"incident_max_kib", CONFKEY_UINT, D(incident_max_kib), 1, 1000000, NULL, NULL},
	{"allow_group", CONFKEY_CHARS, DCHARS(allow_group), check_group, NULL},
	{"allow_uids", CONFKEY_FN, 0, 0, 0, set_uids, NULL},
	{NULL, 0, 0, 0, 0, NULL, NULL},
};
#undef DCHARS
#undef D

#define C(f)	  offsetof(struct supervisor_channel_conf, f)
#define CCHARS(f) C(f), 0, sizeof(((struct supervisor_channel_conf *)0)->f)
const struct confkey supervisor_channel_keys[] = {
	{"recovery_steps", CONFKEY_CHARS, CCHARS(recovery_steps), check_steps, NULL},
	{"driver_reload", CONFKEY_CHARS, CCHARS(driver_reload), NULL, NULL},
	{"hook", CONFKEY_CHARS, CCHARS(hook), NULL, NULL},
	{"kernel_names", CONFKEY_CHARS, CCHARS(kernel_names), check_kernel_names, NULL},
	{"resync_timeout_ms", CONFKEY_UINT, C(resync_timeout_ms), 10, 3600000, NULL, NULL},
	{"reopen_timeout_ms", CONFKEY_UINT, C(reopen_timeout_ms), 10, 3600000, NULL, NULL},
	{"driver_timeout_ms", CONFKEY_UINT, C(driver_timeout_ms), 10, 3600000, NULL, NULL},
	{"remoteproc_timeout_ms", CONFKEY_UINT, C(remoteproc_timeout_ms), 10, 3600000, NULL, NULL},
	{"hook_timeout_ms", CONFKEY_UINT, C(hook_timeout_ms), 10, 3600000, NULL, NULL},
	{"reload_timeout_ms", CONFKEY_UINT, C(reload_timeout_ms), 10, 3600000, NULL, NULL},
	{"resync_tries", CONFKEY_UINT, C(resync_tries), 1, 16, NULL, NULL},
	{"remoteproc_tries", CONFKEY_UINT, C(remoteproc_tries), 1, 16, NULL, NULL},
	{"recovery_backoff_ms", CONFKEY_UINT, C(recovery_backoff_ms), 1, 86400000, NULL, NULL},
	{"recovery_backoff_max_ms", CONFKEY_UINT, C(recovery_backoff_max_ms), 1, 86400000, NULL,
	 NULL},
	{"recovery_budget", CONFKEY_UINT, C(recovery_budget), 0, RECOVERY_BUDGET_MAX, NULL, NULL},
	{"recovery_budget_period_ms", CONFKEY_UINT, C(recovery_budget_period_ms), 1, 86400000, NULL,
	 NULL},
	{"degraded_limit", CONFKEY_UINT, C(degraded_limit), 0, RECOVERY_BUDGET_MAX, NULL, NULL},
	{"degraded_window_ms", CONFKEY_UINT, C(degraded_window_ms), 1, 86400000, NULL, NULL},
	{"liveness_quiet_ms", CONFKEY_UINT, C(liveness_quiet_ms), 0, 3600000, NULL, NULL},
	{"liveness_answer_ms", CONFKEY_UINT, C(liveness_answer_ms), 10, 3600000, NULL, NULL},
	{"liveness_retries", CONFKEY_UINT, C(liveness_retries), 0, 100, NULL, NULL},
	{"down_grace_ms", CONFKEY_UINT, C(down_grace_ms), 0, 86400000, NULL, NULL},
	{"expect_rate", CONFKEY_FN, C(expect_rate), 0, 0, set_expect_rate, NULL},
	{"probe_send", CONFKEY_CHARS, CCHARS(probe_send), check_probe_bytes, NULL},
	{"probe_expect", CONFKEY_CHARS, CCHARS(probe_expect), check_probe_bytes, NULL},
	{"probe_period_ms", CONFKEY_UINT, C(probe_period_ms), 0, 3600000, NULL, NULL},
	{"probe_timeout_ms", CONFKEY_UINT, C(probe_timeout_ms), 10, 600000, NULL, NULL},
	{"reload_probation_ms", CONFKEY_UINT, C(reload_probation_ms), 0, 3600000, NULL, NULL},
	{"rollback", CONFKEY_CHARS, CCHARS(rollback), check_rollback, NULL},
	{"autostart", CONFKEY_BOOL, C(autostart), 0, 0, NULL, NULL},
	{NULL, 0, 0, 0, 0, NULL, NULL},
};
#undef CCHARS
#undef C

int supervisor_conf_daemon_key(struct supervisor_daemon_conf *c, const char *key, const char *value,
			       char *msg, size_t msg_cap)
{
	return confkey_set(supervisor_daemon_keys, c, key, value, msg, msg_cap);
}

int supervisor_conf_channel_key(struct supervisor_channel_conf *c, const char *key,
				const char *value, char *msg, size_t msg_cap)
{
	return confkey_set(supervisor_channel_keys, c, key, value, msg, msg_cap);
}

bool supervisor_conf_channel_same(const struct supervisor_channel_conf *a,
				  const struct supervisor_channel_conf *b)
{
	static const struct confkey_format fmts[] = {
		{"expect_rate", silence_conf_format},
		{NULL, NULL},
	};

	return confkey_same(supervisor_channel_keys, a, b, fmts);
}
