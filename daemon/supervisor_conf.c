/* Supervisor configuration keys: table-driven parsing with ranges and clear messages. */
#include "supervisor_conf.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kwatch.h"
#include "recovery.h"

void supervisor_conf_daemon_defaults(struct supervisor_daemon_conf *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->kernel_log, "auto");
	strcpy(c->kmsg_path, "/dev/kmsg");
	strcpy(c->sysfs_root, "/sys");
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
}

struct num_key {
	const char *key;
	size_t off;
	unsigned min, max;
};

#define CH(f) offsetof(struct supervisor_channel_conf, f)
static const struct num_key channel_nums[] = {
	{"resync_timeout_ms", CH(resync_timeout_ms), 10, 3600000},
	{"reopen_timeout_ms", CH(reopen_timeout_ms), 10, 3600000},
	{"driver_timeout_ms", CH(driver_timeout_ms), 10, 3600000},
	{"remoteproc_timeout_ms", CH(remoteproc_timeout_ms), 10, 3600000},
	{"hook_timeout_ms", CH(hook_timeout_ms), 10, 3600000},
	{"reload_timeout_ms", CH(reload_timeout_ms), 10, 3600000},
	{"resync_tries", CH(resync_tries), 1, 16},
	{"remoteproc_tries", CH(remoteproc_tries), 1, 16},
	{"recovery_backoff_ms", CH(recovery_backoff_ms), 1, 86400000},
	{"recovery_backoff_max_ms", CH(recovery_backoff_max_ms), 1, 86400000},
	{"recovery_budget", CH(recovery_budget), 0, RECOVERY_BUDGET_MAX},
	{"recovery_budget_period_ms", CH(recovery_budget_period_ms), 1, 86400000},
	{"degraded_limit", CH(degraded_limit), 0, RECOVERY_BUDGET_MAX},
	{"degraded_window_ms", CH(degraded_window_ms), 1, 86400000},
	{"liveness_quiet_ms", CH(liveness_quiet_ms), 0, 3600000},
	{"liveness_answer_ms", CH(liveness_answer_ms), 10, 3600000},
	{"liveness_retries", CH(liveness_retries), 0, 100},
	{"down_grace_ms", CH(down_grace_ms), 0, 86400000},
};
#undef CH

static int parse_unsigned(const char *v, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long x;

	if (!v || !*v || *v == '-' || *v == '+')
		return -EINVAL;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *end || x < min || x > max)
		return -EINVAL;
	*out = (unsigned)x;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *v, char *msg, size_t msg_cap)
{
	if (strlen(v) >= cap) {
		snprintf(msg, msg_cap, "longer than %zu bytes", cap - 1);
		return -EINVAL;
	}
	strcpy(dst, v);
	return 0;
}

static int copy_path(char *dst, const char *v, bool empty_ok, char *msg, size_t msg_cap)
{
	if (!*v && empty_ok) {
		dst[0] = '\0';
		return 0;
	}
	if (v[0] != '/') {
		snprintf(msg, msg_cap, "must be an absolute path, got '%s'", v);
		return -EINVAL;
	}
	return copy_str(dst, SUPERVISOR_PATH_MAX, v, msg, msg_cap);
}

static int parse_uids(struct supervisor_daemon_conf *c, const char *v, char *msg, size_t cap)
{
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
		if (errno || end == p || x >= (unsigned long)(uid_t)-1 ||
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

int supervisor_conf_daemon_key(struct supervisor_daemon_conf *c, const char *key, const char *value,
			       char *msg, size_t msg_cap)
{
	if (strcmp(key, "kernel_log") == 0) {
		struct kwatch_config kc = {0};
		if (kwatch_source_from_string(value, &kc) < 0) {
			snprintf(msg, msg_cap, "expected auto, journal, kmsg or off, got '%s'",
				 value);
			return -EINVAL;
		}
		return copy_str(c->kernel_log, sizeof(c->kernel_log), value, msg, msg_cap);
	}
	if (strcmp(key, "journal_dir") == 0)
		return copy_path(c->journal_dir, value, true, msg, msg_cap);
	if (strcmp(key, "kmsg_path") == 0)
		return copy_path(c->kmsg_path, value, false, msg, msg_cap);
	if (strcmp(key, "sysfs_root") == 0)
		return copy_path(c->sysfs_root, value, false, msg, msg_cap);
	if (strcmp(key, "incident_dir") == 0)
		return copy_path(c->incident_dir, value, true, msg, msg_cap);
	if (strcmp(key, "incident_max_files") == 0 || strcmp(key, "incident_max_kib") == 0) {
		unsigned *dst = key[13] == 'f' ? &c->incident_max_files : &c->incident_max_kib;
		if (parse_unsigned(value, 1, 1000000, dst) < 0) {
			snprintf(msg, msg_cap, "expected 1..1000000, got '%s'", value);
			return -EINVAL;
		}
		return 0;
	}
	if (strcmp(key, "allow_group") == 0) {
		/* Checked now so a typo fails at start-up, not at the first request. */
		if (*value && !getgrnam(value)) {
			snprintf(msg, msg_cap, "no group named '%s'", value);
			return -EINVAL;
		}
		return copy_str(c->allow_group, sizeof(c->allow_group), value, msg, msg_cap);
	}
	if (strcmp(key, "allow_uids") == 0)
		return parse_uids(c, value, msg, msg_cap);
	return -ENOENT;
}

int supervisor_conf_channel_key(struct supervisor_channel_conf *c, const char *key,
				const char *value, char *msg, size_t msg_cap)
{
	size_t i;

	if (strcmp(key, "recovery_steps") == 0) {
		struct recovery_config rc;
		recovery_config_default(&rc);
		if (recovery_config_parse_steps(&rc, value) < 0) {
			snprintf(
				msg, msg_cap,
				"expected a list of resync, reopen, driver, remoteproc, hook (each "
				"once), got '%s'",
				value);
			return -EINVAL;
		}
		return copy_str(c->recovery_steps, sizeof(c->recovery_steps), value, msg, msg_cap);
	}
	if (strcmp(key, "driver_reload") == 0)
		return copy_str(c->driver_reload, sizeof(c->driver_reload), value, msg, msg_cap);
	if (strcmp(key, "hook") == 0)
		return copy_str(c->hook, sizeof(c->hook), value, msg, msg_cap);
	if (strcmp(key, "kernel_names") == 0)
		return copy_str(c->kernel_names, sizeof(c->kernel_names), value, msg, msg_cap);
	for (i = 0; i < sizeof(channel_nums) / sizeof(channel_nums[0]); i++) {
		const struct num_key *k = &channel_nums[i];
		if (strcmp(key, k->key) != 0)
			continue;
		if (parse_unsigned(value, k->min, k->max,
				   (unsigned *)(void *)((char *)c + k->off)) < 0) {
			snprintf(msg, msg_cap, "expected %u..%u, got '%s'", k->min, k->max, value);
			return -EINVAL;
		}
		return 0;
	}
	return -ENOENT;
}
