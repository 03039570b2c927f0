/* Privilege separation as processes (daemon/privsep.c): the helper forked before the drop
 * keeps its rights, the daemon's side loses them for good, and the helper answers only
 * what its own configuration allows. The uid switch needs root: skipped otherwise (the
 * recovery_e2e test runs the split with the test's own user). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>

#include <event2/event.h>

#include "evidence.h"
#include "privsep.h"

/* A fresh directory from the template in d, and the configuration file's path in it. */
static void make_dir(char *d, char *conf, size_t size)
{
	assert_non_null(mkdtemp(d));
	snprintf(conf, size, "%s/m7bridge.conf", d);
}

/* Writes the configuration file from a printf format. */
static void write_conf(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "w");
	va_list ap;

	assert_non_null(f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

/* Static: the helper, forked below, reads them again on every reload. */
static const struct conf_overrides ov = {.socket_mode = -1, .log_level = -1};

/* Reads the configuration and forks the helper: 0, or 1 when the configuration cannot be
 * read, 2 when the helper does not start (the numbers the children report). */
static int split(const char *conf_path, struct conf **cfg, struct privsep **ps)
{
	struct conf_error err;

	if (conf_read(conf_path, false, &ov, cfg, &err) < 0)
		return 1;
	struct privsep_args a = {
		.cfg = *cfg, .conf_path = conf_path, .ov = &ov, .log_target = LOG_TARGET_STDERR};
	return privsep_start(&a, ps) < 0 ? 2 : 0;
}

/* A SIGHUP as the daemon does it: the helper reads the file for both, then takes that
 * reading. The RELOAD's answer, or the reading's error. */
static int reload(struct privsep *ps, const char *conf_path)
{
	struct conf_error err;
	struct privsep_msg m;
	struct conf *n;
	int r = privsep_read_conf(ps, conf_path, &ov, &n, &err);

	if (r < 0)
		return r;
	conf_free(n);
	privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL);
	return privsep_call(ps, &m);
}

/* Waits up to tries * 10 ms for a hook's output file to appear. */
static void wait_for(const char *path, int tries)
{
	for (int i = 0; i < tries && access(path, F_OK) != 0; i++)
		usleep(10000);
}

/* Waits for the child and fails with the number of the check it reports. */
static void expect_checks_held(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st))
		fail_msg("check %d failed", WEXITSTATUS(st));
}

/* Reads a whole file (what a hook wrote) into text, NUL-terminated. */
static void read_text(const char *path, char *text, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, size - 1, f);
	text[n] = '\0';
	fclose(f);
}

/* Removes the test's directory and all in it. */
static void remove_dir(const char *d)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

/* Runs in a child process: start the helper, drop to nobody, ask. Exit status 0 = all
 * checks held, else the number of the check that failed. */
static int as_dropped(const char *conf_path, const char *out)
{
	struct conf *cfg;
	struct privsep *ps;
	struct privsep_msg m;
	int r = split(conf_path, &cfg, &ps);

	if (r)
		return r;
	if (privsep_drop("nobody") < 0)
		return 3;
	/* No way back to root. */
	if (getuid() == 0 || geteuid() == 0 || setuid(0) == 0 || seteuid(0) == 0)
		return 4;
	/* The configuration file is root's (0600): only the helper can read it again. */
	if (open(conf_path, O_RDONLY) >= 0)
		return 5;
	/* It reads the file for the daemon at a reload. */
	if (reload(ps, conf_path) != 0)
		return 6;
	/* The helper runs its own hook, as root. */
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	m.token = 7;
	if (privsep_call(ps, &m) != 1)
		return 7;
	/* Refusals: a channel it does not know, a firmware path, a command string. */
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "other", NULL);
	if (privsep_call(ps, &m) != -ENOENT)
		return 8;
	privsep_msg_init(&m, PRIVSEP_RPROC_SET_FIRMWARE, "m7", "../../etc/passwd");
	if (privsep_call(ps, &m) != -EINVAL)
		return 9;
	privsep_msg_init(&m, PRIVSEP_RUN_DRIVER, "m7", "rm;reboot");
	if (privsep_call(ps, &m) != -EINVAL)
		return 10;
	/* Not a name at all: refused as malformed, before any check reads it. */
	privsep_msg_init(&m, PRIVSEP_RUN_DRIVER, "m7", "rm -rf /");
	if (privsep_call(ps, &m) != -EBADMSG)
		return 11;
	wait_for(out, 200);
	privsep_free(ps);
	conf_free(cfg);
	return 0;
}

static void test_drop(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], out[128], text[16] = "";

	(void)state;
	if (geteuid() != 0 || !getpwnam("nobody"))
		skip();
	make_dir(d, conf, sizeof(conf));
	assert_int_equal(chmod(d, 0755), 0);
	snprintf(out, sizeof(out), "%s/hook.uid", d);
	write_conf(conf,
		   "[channel m7]\ndevice = /dev/ttyRPMSG30\nremoteproc = imx-rproc\n"
		   "hook = id -u > %s.tmp ; mv %s.tmp %s\n",
		   out, out, out);
	assert_int_equal(chmod(conf, 0600), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(as_dropped(conf, out));
	expect_checks_held(pid);
	read_text(out, text, sizeof(text));
	assert_string_equal(text, "0\n"); /* the hook ran as root, in the helper */
	remove_dir(d);
}

struct gone {
	bool called;
	bool channel_null;
	int status;
	struct event_base *base;
};

static void on_exit_cb(void *ud, const char *channel, uint32_t token, int status)
{
	struct gone *g = ud;

	(void)token;
	if (channel)
		return; /* a command's end: not what this test waits for */
	g->called = true;
	g->status = status;
	event_base_loopbreak(g->base);
}

/* The helper dies (here its own hook kills it, once the call is answered): the daemon's side hears it at once, with
 * the helper's status, instead of failing every privileged step later without a word. */
static void test_helper_dies(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128];
	struct gone g = {0};
	struct conf *cfg;
	struct privsep *ps;
	struct privsep_msg m;
	struct timeval tv = {10, 0};

	(void)state;
	make_dir(d, conf, sizeof(conf));
	write_conf(conf,
		   "[channel m7]\ndevice = /dev/ttyRPMSG30\nhook = sleep 0.2; kill -9 $PPID\n");
	assert_int_equal(split(conf, &cfg, &ps), 0);
	g.base = event_base_new();
	assert_non_null(g.base);
	assert_int_equal(privsep_attach(ps, g.base, on_exit_cb, &g), 0);
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), 1);
	event_base_loopexit(g.base, &tv);
	event_base_dispatch(g.base);
	assert_true(g.called);
	assert_int_equal(g.status, -SIGKILL);
	/* And calls now fail at once. */
	privsep_msg_init(&m, PRIVSEP_RPROC_STOP, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), -EPIPE);
	privsep_free(ps);
	event_base_free(g.base);
	conf_free(cfg);
	remove_dir(d);
}

/* The service manager's stop sends SIGTERM to every process of the service at once: the
 * helper must outlive it and leave when the daemon closes the socket, or the daemon sees
 * its helper die and a plain stop ends as a failure. */
static void test_helper_outlives_sigterm(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], out[128], text[32] = "";
	struct conf *cfg;
	struct privsep *ps;
	struct privsep_msg m;

	(void)state;
	make_dir(d, conf, sizeof(conf));
	snprintf(out, sizeof(out), "%s/helper.pid", d);
	write_conf(conf,
		   "[channel m7]\ndevice = /dev/ttyRPMSG30\nhook = echo $PPID > %s.tmp; mv %s.tmp "
		   "%s\n",
		   out, out, out);
	assert_int_equal(split(conf, &cfg, &ps), 0);
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), 1);
	wait_for(out, 500);
	read_text(out, text, sizeof(text));
	pid_t helper = (pid_t)atoi(text);
	assert_true(helper > 1);
	assert_int_equal(kill(helper, SIGTERM), 0);
	usleep(100000);
	assert_int_equal(reload(ps, conf), 0);
	privsep_free(ps); /* closes the socket: now it leaves */
	assert_true(kill(helper, 0) < 0 && errno == ESRCH);
	conf_free(cfg);
	remove_dir(d);
}

/* Runs in a child: as nobody, the trace ring of remoteproc0 (in a root-only debugfs, as on
 * a board) can be read only through the helper. 0, or the number of the failed check. */
static int trace_as_dropped(const char *conf_path, const char *debugfs, size_t size)
{
	struct conf *cfg;
	struct privsep *ps;
	struct privsep_msg m;
	int fd, r = split(conf_path, &cfg, &ps);

	if (r)
		return r;
	if (privsep_drop("nobody") < 0)
		return 2;
	struct evidence_source src = {.debugfs_root = debugfs, .instance = "remoteproc0"};
	/* By itself the daemon's side cannot: the evidence says why. */
	cJSON *e = evidence_gather(&src);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "trace");
	if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "errno")) ||
	    cJSON_GetObjectItemCaseSensitive(t, "errno")->valueint != EACCES)
		return 3;
	cJSON_Delete(e);
	/* Through the helper it can. */
	privsep_msg_init(&m, PRIVSEP_OPEN_TRACE, "m7", NULL);
	if (privsep_call_fd(ps, &m, &fd) != 0 || fd < 0)
		return 4;
	src.trace_given = true;
	src.trace_fd = fd;
	e = evidence_gather(&src);
	t = cJSON_GetObjectItemCaseSensitive(e, "trace");
	const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(t, "bytes");
	if (!t || cJSON_GetObjectItemCaseSensitive(t, "error") || !cJSON_IsRaw(bytes) ||
	    strtoul(bytes->valuestring, NULL, 10) != size)
		return 5;
	cJSON_Delete(e);
	if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
		return 6; /* the evidence took the descriptor and closed it */
	/* No remoteproc: refused; trace0 a FIFO: refused at once, not waited on. */
	privsep_msg_init(&m, PRIVSEP_OPEN_TRACE, "bare", NULL);
	if (privsep_call_fd(ps, &m, &fd) != -ENODEV || fd != -1)
		return 7;
	privsep_msg_init(&m, PRIVSEP_OPEN_TRACE, "fifo", NULL);
	if (privsep_call_fd(ps, &m, &fd) != -EINVAL || fd != -1)
		return 8;
	/* A plain call to it: the descriptor is not leaked. */
	int before = open("/dev/null", O_RDONLY);
	close(before);
	privsep_msg_init(&m, PRIVSEP_OPEN_TRACE, "m7", NULL);
	if (privsep_call(ps, &m) != 0)
		return 9;
	int after = open("/dev/null", O_RDONLY);
	close(after);
	if (after != before)
		return 10;
	privsep_free(ps);
	conf_free(cfg);
	return 0;
}

static void mkdirs(const char *base, const char *rel, mode_t mode)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	assert_int_equal(mkdir(path, mode), 0);
}

static void test_trace_through_helper(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], path[256], debugfs[128];
	static const char trace[] = "[0] 12 I boot\n[1] 40 E pump pressure high\n";

	(void)state;
	if (geteuid() != 0 || !getpwnam("nobody"))
		skip();
	make_dir(d, conf, sizeof(conf));
	assert_int_equal(chmod(d, 0755), 0);
	mkdirs(d, "sys", 0755);
	mkdirs(d, "sys/class", 0755);
	mkdirs(d, "sys/class/remoteproc", 0755);
	mkdirs(d, "sys/class/remoteproc/remoteproc0", 0755);
	mkdirs(d, "sys/class/remoteproc/remoteproc1", 0755);
	mkdirs(d, "debug", 0700); /* debugfs: root's only */
	mkdirs(d, "debug/remoteproc", 0700);
	mkdirs(d, "debug/remoteproc/remoteproc0", 0700);
	mkdirs(d, "debug/remoteproc/remoteproc1", 0700);
	snprintf(path, sizeof(path), "%s/debug/remoteproc/remoteproc0/trace0", d);
	write_conf(path, "%s", trace);
	assert_int_equal(chmod(path, 0400), 0);
	snprintf(path, sizeof(path), "%s/debug/remoteproc/remoteproc1/trace0", d);
	assert_int_equal(mkfifo(path, 0400), 0);
	snprintf(debugfs, sizeof(debugfs), "%s/debug", d);
	write_conf(conf,
		   "[daemon]\nsysfs_root = %s/sys\ndebugfs_root = %s\n"
		   "[channel m7]\ndevice = /dev/ttyRPMSG30\nremoteproc = remoteproc0\n"
		   "[channel fifo]\ndevice = /dev/ttyRPMSG31\nremoteproc = remoteproc1\n"
		   "[channel bare]\ndevice = /dev/ttyRPMSG32\n",
		   d, debugfs);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(trace_as_dropped(conf, debugfs, strlen(trace)));
	expect_checks_held(pid);
	remove_dir(d);
}

/* Channels renamed by reloads: a command slot of a channel the helper no longer has is
 * freed, so a long-running daemon never runs out of them (one per channel at most). */
static void test_slots_after_renames(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], name[16];
	struct conf *cfg;
	struct privsep *ps;
	struct privsep_msg m;

	(void)state;
	make_dir(d, conf, sizeof(conf));
	for (int i = 0; i <= CONF_MAX_CHANNELS; i++) {
		write_conf(conf, "[channel c%d]\ndevice = /dev/ttyRPMSG30\nhook = true\n", i);
		if (i == 0) {
			assert_int_equal(split(conf, &cfg, &ps), 0);
		} else {
			assert_int_equal(reload(ps, conf), 0);
		}
		snprintf(name, sizeof(name), "c%d", i);
		privsep_msg_init(&m, PRIVSEP_RUN_HOOK, name, NULL);
		assert_int_equal(privsep_call(ps, &m), 1);
	}
	privsep_free(ps);
	conf_free(cfg);
	remove_dir(d);
}

/* Runs m7's hook through the helper and returns what it wrote (its remoteproc, its name). */
static void hook_says(struct privsep *ps, const char *out, char *text, size_t size)
{
	struct privsep_msg m;

	(void)unlink(out);
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), 1);
	wait_for(out, 500);
	read_text(out, text, size);
}

/* A SIGHUP while m7's ladder runs: the daemon keeps its settings (HOLD before the
 * RELOAD), and so does the helper, until a RELOAD that does not hold it. */
static void test_hold_across_reload(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], out[128], text[128];
	const char *fmt = "[channel m7]\ndevice = /dev/ttyRPMSG30\nremoteproc = %s\n"
			  "hook = echo $M7B_REMOTEPROC %s > %s.tmp; mv %s.tmp %s\n";
	struct conf *cfg;
	struct privsep *ps;
	struct privsep_msg m;

	(void)state;
	make_dir(d, conf, sizeof(conf));
	snprintf(out, sizeof(out), "%s/hook.out", d);
	write_conf(conf, fmt, "remoteproc0", "old", out, out, out);
	assert_int_equal(split(conf, &cfg, &ps), 0);
	hook_says(ps, out, text, sizeof(text));
	assert_string_equal(text, "remoteproc0 old\n");

	write_conf(conf, fmt, "remoteproc1", "new", out, out, out);
	privsep_msg_init(&m, PRIVSEP_HOLD, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), 0);
	assert_int_equal(reload(ps, conf), 0);
	hook_says(ps, out, text, sizeof(text));
	assert_string_equal(text, "remoteproc0 old\n");

	/* Held again at the next SIGHUP (still busy), over yet another file. */
	write_conf(conf, fmt, "remoteproc2", "newer", out, out, out);
	privsep_msg_init(&m, PRIVSEP_HOLD, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), 0);
	assert_int_equal(reload(ps, conf), 0);
	hook_says(ps, out, text, sizeof(text));
	assert_string_equal(text, "remoteproc0 old\n");

	/* The daemon took its new settings: no HOLD, the helper follows. */
	assert_int_equal(reload(ps, conf), 0);
	hook_says(ps, out, text, sizeof(text));
	assert_string_equal(text, "remoteproc2 newer\n");

	/* A HOLD for a channel the helper does not have is refused. */
	privsep_msg_init(&m, PRIVSEP_HOLD, "other", NULL);
	assert_int_equal(privsep_call(ps, &m), -ENOENT);
	privsep_free(ps);
	conf_free(cfg);
	remove_dir(d);
}

/* A SIGHUP while the file changes (an editor writing twice, a deployment tool): the
 * helper takes the very reading the daemon parsed, not the file as it is by the RELOAD,
 * so the two never run on different configurations. */
static void test_one_reading_for_both(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], out[128], text[128];
	const char *fmt = "[channel m7]\ndevice = /dev/ttyRPMSG30\nremoteproc = %s\n"
			  "hook = echo $M7B_REMOTEPROC %s > %s.tmp; mv %s.tmp %s\n%s";
	struct conf_error err;
	struct conf *cfg, *n;
	struct privsep *ps;
	struct privsep_msg m;

	(void)state;
	make_dir(d, conf, sizeof(conf));
	snprintf(out, sizeof(out), "%s/hook.out", d);
	write_conf(conf, fmt, "remoteproc0", "old", out, out, out, "");
	assert_int_equal(split(conf, &cfg, &ps), 0);

	/* The daemon's reading: the helper read the file, the daemon parsed its bytes. */
	write_conf(conf, fmt, "remoteproc1", "new", out, out, out, "");
	assert_int_equal(privsep_read_conf(ps, conf, &ov, &n, &err), 0);
	assert_string_equal(conf_find_channel(n, "m7")->remoteproc, "remoteproc1");
	assert_string_equal(n->path, conf);
	assert_null(conf_find_channel(n, "extra"));
	/* The file changes before the RELOAD: another remoteproc, another channel. */
	write_conf(conf, fmt, "remoteproc2", "newer", out, out, out,
		   "[channel extra]\ndevice = /dev/ttyRPMSG31\nhook = true\n");
	privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL);
	assert_int_equal(privsep_call(ps, &m), 0);
	hook_says(ps, out, text, sizeof(text));
	assert_string_equal(text, "remoteproc1 new\n");
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "extra", NULL);
	assert_int_equal(privsep_call(ps, &m), -ENOENT);
	conf_free(n);

	/* A reading is taken once: a RELOAD that names none is refused, the helper stays. */
	privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL);
	assert_int_equal(privsep_call(ps, &m), -ESTALE);
	hook_says(ps, out, text, sizeof(text));
	assert_string_equal(text, "remoteproc1 new\n");

	/* The next SIGHUP reads the file as it is now. */
	assert_int_equal(reload(ps, conf), 0);
	hook_says(ps, out, text, sizeof(text));
	assert_string_equal(text, "remoteproc2 newer\n");
	privsep_free(ps);
	conf_free(cfg);
	remove_dir(d);
}

/* A file the daemon cannot take: it gets the parser's own error (file and line) from the
 * helper's bytes, and the helper, with nothing to take, keeps its configuration too. */
static void test_bad_reading_changes_neither(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], out[128], text[128], msg[512];
	const char *fmt = "[channel m7]\ndevice = /dev/ttyRPMSG30\nremoteproc = %s\n"
			  "hook = echo $M7B_REMOTEPROC > %s.tmp; mv %s.tmp %s\n%s";
	struct conf_error err;
	struct conf *cfg, *n = (void *)1;
	struct privsep *ps;
	struct privsep_msg m;

	(void)state;
	make_dir(d, conf, sizeof(conf));
	snprintf(out, sizeof(out), "%s/hook.out", d);
	write_conf(conf, fmt, "remoteproc0", out, out, out, "");
	assert_int_equal(split(conf, &cfg, &ps), 0);

	write_conf(conf, fmt, "remoteproc1", out, out, out, "[daemon]\nno_such_key = 1\n");
	assert_int_equal(privsep_read_conf(ps, conf, &ov, &n, &err), -EINVAL);
	assert_null(n);
	assert_int_equal(err.line, 6);
	assert_non_null(strstr(conf_error_format(&err, msg, sizeof(msg)), conf));
	privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL);
	assert_int_equal(privsep_call(ps, &m), -ESTALE);
	hook_says(ps, out, text, sizeof(text));
	assert_string_equal(text, "remoteproc0\n");

	/* Gone: the file was named, so it must be there; a directory is no file. */
	assert_int_equal(unlink(conf), 0);
	assert_int_equal(privsep_read_conf(ps, conf, &ov, &n, &err), -ENOENT);
	assert_string_equal(err.message, "cannot open: No such file or directory (read by the "
					 "privileged helper)");
	assert_int_equal(mkdir(conf, 0700), 0);
	assert_int_equal(privsep_read_conf(ps, conf, &ov, &n, &err), -EISDIR);
	assert_int_equal(rmdir(conf), 0);
	/* Larger than the parser takes: said so, not as a bare errno. */
	int big = open(conf, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(big >= 0);
	assert_int_equal(ftruncate(big, 17 << 20), 0);
	close(big);
	assert_int_equal(privsep_read_conf(ps, conf, &ov, &n, &err), -ENOMEM);
	assert_non_null(strstr(err.message, "too large (at most 16 MiB)"));
	assert_int_equal(unlink(conf), 0);
	privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL);
	assert_int_equal(privsep_call(ps, &m), -ESTALE);
	hook_says(ps, out, text, sizeof(text));
	assert_string_equal(text, "remoteproc0\n");

	/* A file with a NUL byte: refused by both, at its line. */
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fputs("[channel m7]\ndevice = /dev/ttyRPMSG30\n", f);
	fputc('\0', f);
	fclose(f);
	assert_int_equal(privsep_read_conf(ps, conf, &ov, &n, &err), -EINVAL);
	assert_int_equal(err.line, 3);
	privsep_free(ps);
	conf_free(cfg);
	remove_dir(d);
}

/* The default file, absent at start: both run on the defaults at a SIGHUP (the helper
 * answers with no bytes), then on the file once it is there; gone again after it was
 * read, it is an error for both. */
static void test_optional_default_file(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128];
	struct conf_error err;
	struct conf *cfg, *n;
	struct privsep *ps;
	struct privsep_msg m;

	(void)state;
	make_dir(d, conf, sizeof(conf));
	assert_int_equal(conf_read(conf, true, &ov, &cfg, &err), 0);
	struct privsep_args a = {.cfg = cfg,
				 .conf_path = conf,
				 .conf_optional = true,
				 .ov = &ov,
				 .log_target = LOG_TARGET_STDERR};
	assert_int_equal(privsep_start(&a, &ps), 0);

	assert_int_equal(privsep_read_conf(ps, conf, &ov, &n, &err), 0);
	assert_int_equal(n->nchannels, 0);
	conf_free(n);
	privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL);
	assert_int_equal(privsep_call(ps, &m), 0);

	write_conf(conf, "[channel m7]\ndevice = /dev/ttyRPMSG30\nhook = true\n");
	assert_int_equal(privsep_read_conf(ps, conf, &ov, &n, &err), 0);
	assert_int_equal(n->nchannels, 1);
	conf_free(n);
	privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL);
	assert_int_equal(privsep_call(ps, &m), 0);
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), 1);

	assert_int_equal(unlink(conf), 0);
	assert_int_equal(privsep_read_conf(ps, conf, &ov, &n, &err), -ENOENT);
	privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL);
	assert_int_equal(privsep_call(ps, &m), -ESTALE);
	privsep_free(ps);
	conf_free(cfg);
	remove_dir(d);
}

/* A SIGHUP while the helper is stuck (a sysfs write on a hung M7; here stopped): the
 * reading fails, so neither process reloads, and once the helper answers again the
 * next SIGHUP reads the file afresh; the late answer's reading is never taken. */
static void test_reading_with_stuck_helper(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], out[128], text[128];
	const char *fmt = "[channel m7]\ndevice = /dev/ttyRPMSG30\nremoteproc = %s\n"
			  "hook = echo $PPID $M7B_REMOTEPROC > %s.tmp; mv %s.tmp %s\n";
	struct conf_error err;
	struct conf *cfg, *n;
	struct privsep *ps;
	struct privsep_msg m;

	(void)state;
	make_dir(d, conf, sizeof(conf));
	snprintf(out, sizeof(out), "%s/hook.out", d);
	write_conf(conf, fmt, "remoteproc0", out, out, out);
	assert_int_equal(split(conf, &cfg, &ps), 0);
	hook_says(ps, out, text, sizeof(text));
	pid_t helper = (pid_t)atoi(text);
	assert_true(helper > 1);

	write_conf(conf, fmt, "remoteproc1", out, out, out);
	assert_int_equal(kill(helper, SIGSTOP), 0);
	assert_int_equal(privsep_read_conf(ps, conf, &ov, &n, &err), -ETIMEDOUT);
	assert_null(n);
	/* Still in it: the next reading fails at once. */
	assert_int_equal(privsep_read_conf(ps, conf, &ov, &n, &err), -ETIMEDOUT);
	assert_int_equal(kill(helper, SIGCONT), 0);
	/* The late reading (remoteproc1) is not the daemon's: a RELOAD cannot take it. */
	int r = -ETIMEDOUT;
	for (int i = 0; i < 200 && r == -ETIMEDOUT; i++) {
		privsep_msg_init(&m, PRIVSEP_RELOAD, NULL, NULL);
		if ((r = privsep_call(ps, &m)) == -ETIMEDOUT)
			usleep(10000);
	}
	assert_int_equal(r, -ESTALE);
	snprintf(text, sizeof(text), "%d remoteproc0\n", (int)helper);
	char got[128];
	hook_says(ps, out, got, sizeof(got));
	assert_string_equal(got, text);

	write_conf(conf, fmt, "remoteproc2", out, out, out);
	assert_int_equal(reload(ps, conf), 0);
	snprintf(text, sizeof(text), "%d remoteproc2\n", (int)helper);
	hook_says(ps, out, got, sizeof(got));
	assert_string_equal(got, text);
	privsep_free(ps);
	conf_free(cfg);
	remove_dir(d);
}

/* Waits up to 5 s for path to hold needle. */
static bool file_has(const char *path, const char *needle)
{
	char text[8192];

	for (int i = 0; i < 500; i++, usleep(10000)) {
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
		if (f)
			fclose(f);
		text[n] = '\0';
		if (strstr(text, needle))
			return true;
	}
	return false;
}

/* The helper follows a reload's log_level, as the daemon does: its commands' output
 * (logged at info) is left out at err, logged again at info. */
static void test_reload_log_level(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], log[128], done[128], text[8192];
	const char *fmt = "[daemon]\nlog_level = %s\n[channel m7]\ndevice = /dev/ttyRPMSG30\n"
			  "hook = echo marker-%s; touch %s-%s\n";
	struct conf *cfg;
	struct privsep *ps;
	struct privsep_msg m;

	(void)state;
	make_dir(d, conf, sizeof(conf));
	snprintf(log, sizeof(log), "%s/helper.log", d);
	snprintf(done, sizeof(done), "%s/done", d);
	int saved = dup(2), lf = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(saved >= 0 && lf >= 0);
	assert_int_equal(dup2(lf, 2), 2); /* the helper logs to the stderr it inherits */
	write_conf(conf, fmt, "info", "one", done, "one");
	int r = split(conf, &cfg, &ps);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(lf);
	assert_int_equal(r, 0);
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), 1);
	assert_true(file_has(log, "hook: marker-one"));

	write_conf(conf, fmt, "err", "two", done, "two");
	assert_int_equal(reload(ps, conf), 0);
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	assert_int_equal(privsep_call(ps, &m), 1);
	snprintf(text, sizeof(text), "%s-two", done);
	wait_for(text, 500);

	write_conf(conf, fmt, "info", "three", done, "three");
	assert_int_equal(reload(ps, conf), 0);
	/* The command before may still be ending: its slot frees once it has. */
	for (int i = 0; i < 500; i++, usleep(10000)) {
		privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
		if ((r = privsep_call(ps, &m)) == 1)
			break;
	}
	assert_int_equal(r, 1);
	assert_true(file_has(log, "hook: marker-three"));
	read_text(log, text, sizeof(text));
	assert_null(strstr(text, "marker-two"));
	privsep_free(ps);
	conf_free(cfg);
	remove_dir(d);
}

struct ends {
	unsigned n;
	struct event_base *base;
};

static void count_end(void *ud, const char *channel, uint32_t token, int status)
{
	struct ends *e = ud;

	(void)token;
	if (channel && status == 0)
		e->n++;
}

/* Every command's end reaches the daemon's side, even when many end while it waits in
 * calls and its loop does not turn: at most one runs per channel, so none is dropped. */
static void test_every_end_delivered(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], name[16];
	struct ends e = {0};
	struct conf *cfg;
	struct privsep *ps;
	struct privsep_msg m;
	FILE *f;

	(void)state;
	make_dir(d, conf, sizeof(conf));
	f = fopen(conf, "w");
	assert_non_null(f);
	for (int i = 0; i < CONF_MAX_CHANNELS; i++)
		fprintf(f, "[channel c%d]\ndevice = /dev/ttyRPMSG%d\nhook = true\n", i, i);
	fclose(f);
	assert_int_equal(split(conf, &cfg, &ps), 0);
	e.base = event_base_new();
	assert_non_null(e.base);
	assert_int_equal(privsep_attach(ps, e.base, count_end, &e), 0);
	for (int i = 0; i < CONF_MAX_CHANNELS; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		privsep_msg_init(&m, PRIVSEP_RUN_HOOK, name, NULL);
		assert_int_equal(privsep_call(ps, &m), 1);
	}
	/* The ends come in while the daemon's side waits in calls, as here. */
	for (int i = 0; i < 500 && e.n < CONF_MAX_CHANNELS; i++) {
		assert_int_equal(reload(ps, conf), 0);
		usleep(2000);
		if (i >= 100)
			event_base_loop(e.base, EVLOOP_NONBLOCK);
	}
	event_base_loop(e.base, EVLOOP_NONBLOCK);
	assert_int_equal(e.n, CONF_MAX_CHANNELS);
	privsep_free(ps);
	event_base_free(e.base);
	conf_free(cfg);
	remove_dir(d);
}

/* CapEff of process pid, from /proc; ~0 when it cannot be read. */
static unsigned long long cap_eff(const char *status_path)
{
	char line[128];
	unsigned long long v = ~0ull;
	FILE *f = fopen(status_path, "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* Runs in a child: become nobody keeping the unit's two capabilities as ambient ones, as
 * systemd's User= with AmbientCapabilities= starts the daemon; then split. 0 or the
 * number of the failed check. */
static int as_unit(const char *conf_path, const char *out)
{
	const unsigned long long two = (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_SYS_MODULE);
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct c[2] = {{0}};
	struct passwd *pw = getpwnam("nobody");
	struct conf *cfg;
	struct privsep *ps;
	struct privsep_msg m;
	int r;

	if (prctl(PR_SET_KEEPCAPS, 1) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
		return 1;
	c[0].effective = c[0].permitted = c[0].inheritable = (uint32_t)two;
	if (syscall(SYS_capset, &h, c) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_OVERRIDE, 0, 0) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_MODULE, 0, 0) < 0)
		return 2;
	if (cap_eff("/proc/self/status") != two)
		return 3;
	r = split(conf_path, &cfg, &ps);
	if (r)
		return 3 + r;
	if (privsep_drop("nobody") < 0)
		return 5;
	if (cap_eff("/proc/self/status") != 0)
		return 6; /* the daemon's side: nothing left */
	/* The helper's hook writes the helper's own CapEff. */
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	if (privsep_call(ps, &m) != 1)
		return 7;
	wait_for(out, 500);
	privsep_free(ps);
	conf_free(cfg);
	return 0;
}

/* The shipped unit's way: started as the user with two ambient capabilities, the daemon's
 * side keeps none and the helper both. */
static void test_drop_as_unit(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], out[128];

	(void)state;
	if (geteuid() != 0 || !getpwnam("nobody"))
		skip();
	make_dir(d, conf, sizeof(conf));
	assert_int_equal(chmod(d, 0777), 0);
	snprintf(out, sizeof(out), "%s/helper.status", d);
	write_conf(
		conf,
		"[channel m7]\ndevice = /dev/ttyRPMSG30\nhook = cat /proc/$PPID/status > %s.tmp; "
		"mv %s.tmp %s\n",
		out, out, out);
	assert_int_equal(chmod(conf, 0644), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(as_unit(conf, out));
	expect_checks_held(pid);
	assert_int_equal(cap_eff(out), (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_SYS_MODULE));
	remove_dir(d);
}

/* Runs in a child, started as by socket activation (the clients' listening socket at fd
 * 3, LISTEN_FDS=1) with one more descriptor open without close-on-exec: the helper keeps
 * neither for its commands, and drops the listening socket itself. 0 or the check. */
static int inherit_run(const char *conf_path, const char *out)
{
	struct conf *cfg;
	struct privsep *ps;
	struct privsep_msg m;
	char pid[16];
	int r;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	r = split(conf_path, &cfg, &ps);
	if (r)
		return r;
	privsep_msg_init(&m, PRIVSEP_RUN_HOOK, "m7", NULL);
	if (privsep_call(ps, &m) != 1)
		return 3;
	wait_for(out, 500);
	privsep_free(ps);
	conf_free(cfg);
	return 0;
}

static void test_helper_inherits_nothing(void **state)
{
	char d[64] = "/tmp/m7b-privsep-XXXXXX", conf[128], out[128], text[8192], want[64];
	int listen_pipe[2], other_pipe[2];
	struct stat lst, ost;

	(void)state;
	make_dir(d, conf, sizeof(conf));
	snprintf(out, sizeof(out), "%s/fds", d);
	/* The helper's descriptors, then the command's own (the shell's). */
	write_conf(
		conf,
		"[channel m7]\ndevice = /dev/ttyRPMSG30\nhook = (ls -l /proc/$PPID/fd/; echo ==; "
		"ls -l /proc/$$/fd/) > %s.tmp 2>&1; mv %s.tmp %s\n",
		out, out, out);
	assert_int_equal(pipe(listen_pipe), 0);
	assert_int_equal(pipe(other_pipe), 0);
	assert_int_equal(fstat(listen_pipe[0], &lst), 0);
	assert_int_equal(fstat(other_pipe[0], &ost), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Only fd 3 and fd 40 stay (the pipes' other ends would carry their inodes);
		 * moved out of the way first, as pipe() may have given fd 3 itself. */
		int l = fcntl(listen_pipe[0], F_DUPFD, 100), o = fcntl(other_pipe[0], F_DUPFD, 100);
		for (int i = 0; i < 2; i++) {
			close(listen_pipe[i]);
			close(other_pipe[i]);
		}
		if (l < 0 || o < 0 || dup2(l, 3) != 3 || dup2(o, 40) != 40)
			_exit(9);
		close(l);
		close(o);
		_exit(inherit_run(conf, out));
	}
	expect_checks_held(pid);
	read_text(out, text, sizeof(text));
	char *shell = strstr(text, "==");
	assert_non_null(shell);
	snprintf(want, sizeof(want), "pipe:[%llu]", (unsigned long long)lst.st_ino);
	if (strstr(text, want))
		fail_msg("the listening socket reached the helper or its command:\n%s", text);
	snprintf(want, sizeof(want), "pipe:[%llu]", (unsigned long long)ost.st_ino);
	if (strstr(shell, want))
		fail_msg("a descriptor of the daemon reached the helper's command:\n%s", shell);
	close(listen_pipe[0]);
	close(listen_pipe[1]);
	close(other_pipe[0]);
	close(other_pipe[1]);
	remove_dir(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_drop_as_unit),
		cmocka_unit_test(test_helper_dies),
		cmocka_unit_test(test_helper_outlives_sigterm),
		cmocka_unit_test(test_trace_through_helper),
		cmocka_unit_test(test_slots_after_renames),
		cmocka_unit_test(test_hold_across_reload),
		cmocka_unit_test(test_one_reading_for_both),
		cmocka_unit_test(test_bad_reading_changes_neither),
		cmocka_unit_test(test_reading_with_stuck_helper),
		cmocka_unit_test(test_optional_default_file),
		cmocka_unit_test(test_every_end_delivered),
		cmocka_unit_test(test_helper_inherits_nothing),
		cmocka_unit_test(test_reload_log_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
