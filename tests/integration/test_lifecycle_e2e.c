/* The M7's lifecycle end to end: m7bridged with m7sim as the kernel behind a fake
 * remoteproc tree (--remoteproc). An M7 offline when the daemon starts is started (with
 * the firmware sysfs names, or the configured one, through the privileged helper too),
 * counted, recorded; with autostart = false the daemon says why it waits; an M7 stopped
 * later is started again once its link stayed down; a reload cut short by a restart of
 * the daemon is rolled back to the image it replaced, with and without `firmware`. And
 * what goes across them: the reason a waiting channel gives, SIGHUP during the wait and
 * toggling autostart, reload and recover during a start or its countdown, the M7
 * stopped again or the daemon stopped during the start step, two channels on one M7. */
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
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <dirent.h>

#include "daemon_harness.h"

#define WAIT_MS 30000 /* generous: ASan, two loaded cores */

struct fx {
	struct daemon_proc p;
	char link[300], rp[300], fwdir[300], state[300], ctl[300], simlog[300], conf[2048];
	char kmsg[300];
	int kmsg_fd; /* the test's end of the kernel log FIFO; -1 = none */
	pid_t sim;
};

/* What a setup builds. */
struct opts {
	const char *rproc_state; /* the tree's `state` when m7sim and the daemon start */
	const char *channel;	 /* extra [channel m7] keys */
	bool privsep;		 /* `user` = the test's own: writes go through the helper */
	const char *record;	 /* a reload record left before the start; "fifo": a FIFO */
	bool good_fifo;		 /* a FIFO where the last good record would be */
	const char *rproc_later; /* the tree's `state` once m7sim runs (what it ignores) */
	bool kmsg;		 /* kernel lines through a FIFO the test writes */
	bool second;		 /* a second channel on the same remoteproc, no node yet */
	const char *rproc_fw;	 /* the tree's `firmware` (NULL: good.elf) */
	const char *second_keys; /* extra [channel m7b] keys */
};
static struct opts opt; /* setup()'s, set by setup_with() */

static int teardown(void **state)
{
	struct fx *f = *state;
	int st;

	if (!f)
		return 0;
	st = f->p.pid > 0 ? daemon_proc_stop(&f->p) : 0;
	if (f->kmsg_fd >= 0)
		close(f->kmsg_fd);
	h_reap(&f->sim);
	h_show_log_if(&f->p, st);
	h_cleanup(&f->p);
	free(f);
	return st == 0 ? 0 : -1;
}

static int count_in(const char *file, const char *text);

static int setup(void **state)
{
	static const char *const names[] = {"good.elf", "app2.elf", "nohello.elf"};
	static const char *const extra[] = {"firmware", "state", NULL};
	struct fx *f = calloc(1, sizeof(*f));
	char path[400], user[800] = "";

	*state = NULL;
	if (f)
		f->kmsg_fd = -1;
	if (!f || access(h_sim_path(), X_OK) != 0) {
		free(f);
		return 0; /* tests skip */
	}
	if (h_tmpdir(&f->p) < 0) {
		free(f);
		return -1;
	}
	snprintf(f->link, sizeof(f->link), "%s/ttyRPMSG30", f->p.dir);
	snprintf(f->fwdir, sizeof(f->fwdir), "%s/firmware", f->p.dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->p.dir);
	snprintf(f->ctl, sizeof(f->ctl), "%s/m7sim.ctl", f->p.dir);
	snprintf(f->simlog, sizeof(f->simlog), "%s/m7sim.log", f->p.dir);
	snprintf(f->rp, sizeof(f->rp), "%s/sys/class/remoteproc/remoteproc0", f->p.dir);
	assert_int_equal(h_fake_rproc_tree(f->p.dir, "good.elf\n", extra), 0);
	snprintf(path, sizeof(path), "%s/state", f->rp);
	assert_int_equal(h_put_file(path, opt.rproc_state), 0);
	snprintf(path, sizeof(path), "%s/firmware", f->rp);
	if (opt.rproc_fw)
		assert_int_equal(h_put_file(path, opt.rproc_fw), 0);
	/* m7sim's own ELF under each name: each carries m7sim's build id. */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->fwdir, names[i]);
		assert_int_equal(symlink(h_sim_path(), path), 0);
	}
	snprintf(path, sizeof(path), "%s/firmware-reload-m7", f->state);
	if (opt.record && strcmp(opt.record, "fifo") == 0)
		assert_int_equal(mkfifo(path, 0600), 0);
	else if (opt.record)
		assert_int_equal(h_put_file(path, opt.record), 0);
	snprintf(path, sizeof(path), "%s/firmware-good-m7", f->state);
	if (opt.good_fifo)
		assert_int_equal(mkfifo(path, 0600), 0);
	const char *argv[] = {
		h_sim_path(),		"--link", f->link,	    "--ctl", f->ctl,
		"--remoteproc",		f->rp,	  "--heartbeat-ms", "100",   "--firmware",
		"nohello.elf=no-hello", NULL};
	f->sim = h_spawn(argv, -1, f->simlog);
	/* An offline M7 has no link yet: its control FIFO says m7sim is ready. */
	for (int i = 0; i < 2000 && access(f->ctl, F_OK) != 0; i++)
		usleep(5000);
	if (opt.rproc_later) {
		/* Once m7sim has read the tree and runs its loop (it answers `stats`), a
		 * state it takes for none of its own is left as it is. */
		int fd = open(f->ctl, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "stats\n", 6), 6);
		close(fd);
		for (int i = 0; i < 2000 && count_in(f->simlog, "m7sim: stats") == 0; i++)
			usleep(5000);
		snprintf(path, sizeof(path), "%s/state", f->rp);
		assert_int_equal(h_put_file(path, opt.rproc_later), 0);
	}
	snprintf(f->kmsg, sizeof(f->kmsg), "%s/kmsg", f->p.dir);
	if (opt.kmsg) {
		assert_int_equal(mkfifo(f->kmsg, 0600), 0);
		/* Read-write: never blocks, and the daemon never sees an end of file. */
		f->kmsg_fd = open(f->kmsg, O_RDWR | O_CLOEXEC);
		assert_true(f->kmsg_fd >= 0);
		snprintf(user, sizeof(user), "kernel_log = kmsg\nkmsg_path = %s\n", f->kmsg);
	}
	if (opt.privsep) {
		struct passwd *pw = getpwuid(geteuid());
		if (!pw)
			return -1;
		/* As root, the test's own user is uid 0: said on purpose. */
		snprintf(user + strlen(user), sizeof(user) - strlen(user), "user = %s\n%s",
			 pw->pw_name, pw->pw_uid == 0 ? "allow_root_user = true\n" : "");
	}
	snprintf(
		f->conf, sizeof(f->conf),
		"allow_uids = %u\n%ssysfs_root = %s/sys\nfirmware_dir = %s\nstate_dir = %s\n"
		"incident_dir = %s/incidents\n"
		"[channel m7]\ndevice = %s\nremoteproc = imx-rproc\n"
		"reopen_min_ms = 20\nreopen_max_ms = 200\nrecovery_backoff_ms = 60000\n"
		"remoteproc_timeout_ms = 5000\nreload_timeout_ms = 3000\n"
		"reload_probation_ms = 500\nliveness_quiet_ms = 1000\nliveness_answer_ms = 300\n%s",
		(unsigned)getuid(), user, f->p.dir, f->fwdir, f->state, f->p.dir, f->link,
		opt.channel);
	if (opt.second)
		snprintf(f->conf + strlen(f->conf), sizeof(f->conf) - strlen(f->conf),
			 "[channel m7b]\ndevice = %s/ttyRPMSG31\nremoteproc = imx-rproc\n"
			 "recovery_steps = remoteproc\nrecovery_backoff_ms = 60000\n%s",
			 f->p.dir, opt.second_keys ? opt.second_keys : "");
	*state = f;
	if (access(f->ctl, F_OK) != 0 || daemon_proc_start(&f->p, f->conf) < 0) {
		(void)teardown(state);
		*state = NULL;
		return -1;
	}
	return 0;
}

/* Waits until file (m7sim's or the daemon's log) has a line containing text after its
 * first n bytes; returns the length up to the end of that line, 0 when it never came. */
static size_t log_wait(const char *file, size_t n, const char *text)
{
	static char buf[1 << 17];

	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; usleep(10000)) {
		h_slurp_file(file, buf, sizeof(buf));
		char *hit = strlen(buf) > n ? strstr(buf + n, text) : NULL;
		char *eol = hit ? strchr(hit, '\n') : NULL;
		if (eol)
			return (size_t)(eol + 1 - buf);
	}
	return 0;
}

/* How often text occurs in file. */
static int count_in(const char *file, const char *text)
{
	static char buf[1 << 17];
	int n = 0;

	h_slurp_file(file, buf, sizeof(buf));
	for (const char *p = buf; (p = strstr(p, text)); p += strlen(text))
		n++;
	return n;
}

/* One kernel line, as /dev/kmsg gives it, to the daemon's kernel log. */
static void kmsg_line(struct fx *f, const char *text)
{
	char line[300];
	int n = snprintf(line, sizeof(line), "6,1,1000,-;%s\n", text);

	assert_int_equal(write(f->kmsg_fd, line, (size_t)n), n);
}

/* Writes what the kernel would be asked to do to the tree's `state`. */
static void rproc_write(struct fx *f, const char *what)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/state", f->rp);
	assert_int_equal(h_put_file(path, what), 0);
}

static void rproc_attr(struct fx *f, const char *name, char *buf, size_t cap)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", f->rp, name);
	h_slurp_file(path, buf, cap);
	buf[strcspn(buf, "\n")] = '\0';
}

/* Waits until the tree's attribute reads want: m7sim answers a start with `running` after
 * it printed the start, so a write of the test's between the two would be overwritten. */
static bool rproc_attr_when(struct fx *f, const char *name, const char *want)
{
	char buf[64];

	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; usleep(10000)) {
		rproc_attr(f, name, buf, sizeof(buf));
		if (strcmp(buf, want) == 0)
			return true;
	}
	return false;
}

/* The channel's STATUS object, once its state and reason are the ones given. */
static cJSON *status_when(struct fx *f, const char *st, const char *reason)
{
	struct tclient q;
	char seen[128] = "";

	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; usleep(20000)) {
		assert_int_equal(tclient_send(&q, "{\"cmd\":\"status\"}"), 0);
		cJSON *o = tclient_wait(&q, "STATUS", WAIT_MS);
		assert_non_null(o);
		cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "channels"), 0);
		const char *why = j_str(ch, "reason") ? j_str(ch, "reason") : "";
		snprintf(seen, sizeof(seen), "%s:%s", j_str(ch, "state"), why);
		if (strcmp(j_str(ch, "state"), st) == 0 && strcmp(why, reason) == 0) {
			ch = cJSON_Duplicate(ch, 1);
			cJSON_Delete(o);
			tclient_close(&q);
			return ch;
		}
		cJSON_Delete(o);
	}
	tclient_close(&q);
	fail_msg("channel not %s:%s within %d ms (last %s)", st, reason, WAIT_MS, seen);
	return NULL;
}

/* `m7bridgectl status` prints text. */
static void ctl_status_says(struct fx *f, const char *text)
{
	const char *root = getenv("M7B_BUILD_ROOT");
	char cmd[1024], out[8192] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s/tools/m7bridgectl -s '%s' status", root ? root : ".",
		 f->p.sock);
	p = popen(cmd, "r");
	assert_non_null(p);
	out[fread(out, 1, sizeof(out) - 1, p)] = '\0';
	assert_int_equal(pclose(p), 0);
	if (!strstr(out, text))
		fail_msg("m7bridgectl status printed:\n%s", out);
}

/* The newest incident summary once none is open (open ones are listed last). */
static cJSON *last_incident(struct fx *f)
{
	struct tclient q;

	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; usleep(100000)) {
		cJSON *o, *list, *found;
		assert_int_equal(tclient_send(&q, "{\"cmd\":\"incidents\"}"), 0);
		o = tclient_wait(&q, "INCIDENTS", WAIT_MS);
		assert_non_null(o);
		list = cJSON_GetObjectItem(o, "incidents");
		found = cJSON_GetArrayItem(list, cJSON_GetArraySize(list) - 1);
		if (found && strcmp(j_str(found, "outcome"), "open") != 0) {
			found = cJSON_Duplicate(found, 1);
			cJSON_Delete(o);
			tclient_close(&q);
			return found;
		}
		cJSON_Delete(o); /* closes 2 s after the outcome */
	}
	tclient_close(&q);
	fail_msg("no closed incident");
	return NULL;
}

/* The incident's steps as "action:result ...". */
static void steps_of(const cJSON *inc, char *buf, size_t cap)
{
	const cJSON *s;

	buf[0] = '\0';
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(inc, "steps"))
	{
		snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s:%s", buf[0] ? " " : "",
			 j_str(s, "action"), j_str(s, "result"));
	}
}

/* Started as the channel's recovery steps are reported: a counted m7_offline fault, a
 * recovery, an incident (opened by kind, unless NULL) with its start step, one log line
 * each. */
static void check_started(struct fx *f, const char *fw, const char *kind)
{
	char want[128], buf[256];
	cJSON *ch, *inc;

	ch = status_when(f, "up", "started");
	assert_int_equal((int)j_num(ch, "recoveries"), 1);
	assert_int_equal((int)j_num(cJSON_GetObjectItem(ch, "faults"), "m7_offline"), 1);
	cJSON_Delete(ch);
	snprintf(want, sizeof(want), "m7sim: remoteproc start %s ", fw);
	assert_int_equal(count_in(f->simlog, want), 1);
	rproc_attr(f, "state", buf, sizeof(buf));
	assert_string_equal(buf, "running");
	rproc_attr(f, "firmware", buf, sizeof(buf));
	assert_string_equal(buf, fw);
	assert_int_equal(count_in(f->p.log, "fault m7_offline (remoteproc, #1): remoteproc0 is "
					    "offline: starting it with "),
			 1);
	assert_int_equal(count_in(f->p.log, "M7 started in "), 1);
	inc = last_incident(f);
	if (kind)
		assert_string_equal(j_str(inc, "kind"), kind);
	if (kind && strcmp(kind, "m7_offline") == 0)
		assert_string_equal(j_str(inc, "source"), "remoteproc");
	assert_string_equal(j_str(inc, "outcome"), "recovered");
	steps_of(inc, buf, sizeof(buf));
	assert_string_equal(buf, "start:ok");
	cJSON_Delete(inc);
}

/* setup() with these options, which hold for that setup only. */
static int setup_with(void **state, struct opts o)
{
	opt = o;
	int r = setup(state);
	opt = (struct opts){0};
	return r;
}
static int setup_offline(void **state)
{
	return setup_with(state, (struct opts){.rproc_state = "offline\n", .channel = ""});
}

/* No `firmware`: the image remoteproc names is started. */
static void test_offline_started(void **state)
{
	struct fx *f = *state;

	if (!f)
		skip();
	check_started(f, "good.elf", "m7_offline");
	/* The image verified at the start is the channel's first good one. */
	char path[400], rec[256];
	snprintf(path, sizeof(path), "%s/firmware-good-m7", f->state);
	h_slurp_file(path, rec, sizeof(rec));
	assert_true(strncmp(rec, "good.elf ", 9) == 0);
}

static int setup_offline_firmware_privsep(void **state)
{
	return setup_with(state, (struct opts){.rproc_state = "offline\n",
					       .channel = "firmware = app2.elf\n",
					       .privsep = true});
}

/* `firmware` set: that image is written to remoteproc, then started; the daemon runs as
 * its user here, so both writes go through the privileged helper. */
static void test_offline_started_firmware(void **state)
{
	struct fx *f = *state;

	if (!f)
		skip();
	check_started(f, "app2.elf", "m7_offline");
}

static int setup_offline_manual(void **state)
{
	return setup_with(
		state, (struct opts){.rproc_state = "offline\n", .channel = "autostart = false\n"});
}

/* autostart = false: the M7 is someone else's to start. The daemon says so, once, and
 * takes the M7 when its owner starts it. */
static void test_offline_autostart_off(void **state)
{
	struct fx *f = *state;
	static const char said[] = "not starting the M7: remoteproc0 is offline and autostart "
				   "= false: waiting for it to be started";
	char buf[64];
	cJSON *ch;

	if (!f)
		skip();
	assert_true(log_wait(f->p.log, 0, said) > 0);
	rproc_attr(f, "state", buf, sizeof(buf));
	assert_string_equal(buf, "offline");
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start"), 0);
	/* STATUS and a watching client say why, not just that the tty is missing. */
	cJSON_Delete(status_when(f, "down", "autostart_off"));
	ctl_status_says(f, "\nm7: the M7 is offline and autostart = false: waiting for its "
			   "owner to start it\n");
	struct tclient w;
	assert_int_equal(tclient_open(&w, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"STATE\"]}"),
			 0);
	ch = tclient_wait(&w, "STATE", WAIT_MS);
	assert_non_null(ch);
	assert_string_equal(j_str(ch, "state"), "down");
	assert_string_equal(j_str(ch, "detail"), said + strlen("not starting the M7: "));
	cJSON_Delete(ch);
	/* Its owner starts it. */
	rproc_write(f, "start\n");
	ch = tclient_wait_str(&w, "STATE", "state", "up", WAIT_MS);
	assert_non_null(ch);
	cJSON_Delete(ch);
	tclient_close(&w);
	ch = status_when(f, "up", "hello");
	assert_int_equal((int)j_num(ch, "recoveries"), 0);
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "faults"), "m7_offline"));
	cJSON_Delete(ch);
	assert_int_equal(count_in(f->p.log, said), 1);
}

static int setup_crashed(void **state)
{
	return setup_with(state, (struct opts){.rproc_state = "offline\n",
					       .rproc_later = "crashed\n",
					       .channel = "recovery_steps = resync\n"});
}

/* A crashed M7 is left to the kernel or a person: STATUS says so (m7_crashed, not
 * not_found), and the channel takes the M7 when it runs again. */
static void test_crashed_said(void **state)
{
	struct fx *f = *state;

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "down", "m7_crashed"));
	ctl_status_says(f, "\nm7: the M7 crashed: waiting for the kernel's recovery or for "
			   "someone to restart it\n");
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start"), 0);
	rproc_write(f, "start\n");
	cJSON_Delete(status_when(f, "up", "hello"));
	/* Down again, the tty merely missing: not_found, not the stale word. */
	rproc_write(f, "stop\n");
	cJSON_Delete(status_when(f, "down", "not_found"));
}

static int setup_running(void **state)
{
	return setup_with(
		state, (struct opts){.rproc_state = "running\n",
				     .channel = "recovery_steps = resync\ndown_grace_ms = 300\n"});
}

/* Stopped by someone and left offline: once its link stayed down for down_grace_ms it is
 * started again, not walked through a ladder that cannot start it. */
static void test_stopped_later(void **state)
{
	struct fx *f = *state;
	char path[400];
	size_t at;
	cJSON *ch;

	if (!f)
		skip();
	ch = status_when(f, "up", "hello");
	cJSON_Delete(ch);
	at = log_wait(f->simlog, 0, "m7sim: link ");
	snprintf(path, sizeof(path), "%s/state", f->rp);
	assert_int_equal(h_put_file(path, "stop\n"), 0);
	assert_true(log_wait(f->simlog, at, "m7sim: remoteproc stop") > 0);
	/* The link_down fault opened the incident; the start is in it. */
	check_started(f, "good.elf", "link_down");
	assert_int_equal(count_in(f->p.log, "fault link_down"), 1);
	assert_int_equal(count_in(f->p.log, "recovery step resync"), 0);
}

static cJSON *request(struct fx *f, const char *line);

/* One ladder per period: a recover request spends it. */
static int setup_running_budget(void **state)
{
	return setup_with(state,
			  (struct opts){.rproc_state = "running\n",
					.channel = "recovery_steps = resync\ndown_grace_ms = 300\n"
						   "recovery_budget = 1\n"});
}

/* Stopped by someone while the budget is spent: the start is refused, and the fault that
 * says the M7 is offline does not claim a start; the channel says failed, budget. */
static void test_stopped_budget_spent(void **state)
{
	static char buf[1 << 17];
	struct fx *f = *state;
	char path[400], *l;
	size_t at;
	cJSON *ch;

	if (!f)
		skip();
	ch = status_when(f, "up", "hello");
	cJSON_Delete(ch);
	ch = request(f, "{\"cmd\":\"recover\",\"channel\":\"m7\"}");
	cJSON_Delete(ch);
	assert_true(log_wait(f->p.log, 0, "recovered by resync") > 0);
	at = log_wait(f->simlog, 0, "m7sim: link ");
	snprintf(path, sizeof(path), "%s/state", f->rp);
	assert_int_equal(h_put_file(path, "stop\n"), 0);
	assert_true(log_wait(f->simlog, at, "m7sim: remoteproc stop") > 0);
	assert_true(log_wait(f->p.log, 0, "fault m7_offline") > 0);
	h_slurp_file(f->p.log, buf, sizeof(buf));
	l = strstr(buf, "fault m7_offline");
	assert_non_null(l);
	l[strcspn(l, "\n")] = '\0';
	if (strstr(l, "starting it") || !strstr(l, "recovery budget (1 per 600 s) is spent"))
		fail_msg("%s", l);
	ch = status_when(f, "failed", "budget");
	cJSON_Delete(ch);
}

static int setup_running_kmsg(void **state)
{
	return setup_with(
		state, (struct opts){.rproc_state = "running\n",
				     .channel = "recovery_steps = resync\ndown_grace_ms = 6000\n",
				     .kmsg = true});
}

/* SIGHUP with the configuration conf; waits until the daemon took it. */
static void sighup_conf(struct fx *f, const char *conf)
{
	static char buf[1 << 17];
	size_t at;

	h_slurp_file(f->p.log, buf, sizeof(buf));
	at = strlen(buf);
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	assert_true(log_wait(f->p.log, at, "recovery settings reloaded") > 0);
}

/* SIGHUP, with one setting changed that has nothing to do with starting the M7. */
static void sighup(struct fx *f)
{
	char conf[2100];

	snprintf(conf, sizeof(conf), "%sdegraded_limit = 4\n", f->conf);
	sighup_conf(f, conf);
}

/* The reply (ACK or ERROR) to one request line. */
static cJSON *request(struct fx *f, const char *line)
{
	struct tclient q;
	cJSON *o;

	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	assert_int_equal(tclient_send(&q, line), 0);
	while ((o = tclient_obj(&q, WAIT_MS))) {
		const char *cls = j_str(o, "class");
		if (cls && (strcmp(cls, "ACK") == 0 || strcmp(cls, "ERROR") == 0))
			break;
		cJSON_Delete(o);
	}
	tclient_close(&q);
	assert_non_null(o);
	return o;
}

/* The text of the incident file that contains want (the daemon has stopped). */
static bool incident_file_has(struct fx *f, const char *want, char *buf, size_t cap)
{
	char dir[400], path[800];
	struct dirent *e;
	DIR *d;
	bool found = false;

	snprintf(dir, sizeof(dir), "%s/incidents", f->p.dir);
	d = opendir(dir);
	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		if (strncmp(e->d_name, "incident-", 9) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		h_slurp_file(path, buf, cap);
		found = strstr(buf, want) != NULL;
	}
	closedir(d);
	return found;
}

/* Stopped by someone, as the kernel says: the start waits down_grace_ms for them. A
 * SIGHUP meanwhile keeps that deadline, rather than starting the M7 at once. */
static void test_sighup_keeps_grace(void **state)
{
	struct fx *f = *state;
	cJSON *ch;

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "up", "hello"));
	rproc_write(f, "stop\n");
	assert_true(log_wait(f->simlog, 0, "m7sim: remoteproc stop") > 0);
	kmsg_line(f, "remoteproc remoteproc0: stopped remote processor imx-rproc");
	assert_true(log_wait(f->p.log, 0,
			     "the M7 went offline (rproc_stopped); starting it in 6000 ms") > 0);
	/* The fault's incident closes first (settings are not swapped under an open one). */
	cJSON_Delete(last_incident(f));
	sighup(f);
	/* A start right after the reload would have been raised by now. */
	ch = status_when(f, "down", "not_found");
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "faults"), "m7_offline"));
	assert_int_equal((int)j_num(ch, "recoveries"), 0);
	cJSON_Delete(ch);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start"), 0);
	/* ... and the deadline still comes (the link's own, link_down, may open the
	 * incident first: both end together). */
	check_started(f, "good.elf", NULL);
}

/* No kernel log: the link staying down is what finds the stopped M7. A SIGHUP during
 * that wait does not forget it. */
static void test_sighup_keeps_down_grace(void **state)
{
	struct fx *f = *state;

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "up", "hello"));
	rproc_write(f, "stop\n");
	cJSON_Delete(status_when(f, "down", "not_found"));
	sighup(f);
	check_started(f, "good.elf", "link_down");
}

static int setup_grace_short(void **state)
{
	return setup_with(
		state, (struct opts){.rproc_state = "running\n",
				     .channel = "recovery_steps = resync\ndown_grace_ms = 1500\n",
				     .kmsg = true});
}

/* A reload asked for while a deferred start counts down loads and verifies its image;
 * the countdown, ending while it runs or after, starts nothing more. */
static void test_reload_during_countdown(void **state)
{
	struct fx *f = *state;
	cJSON *o;

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "up", "hello"));
	rproc_write(f, "stop\n");
	assert_true(log_wait(f->simlog, 0, "m7sim: remoteproc stop") > 0);
	kmsg_line(f, "remoteproc remoteproc0: stopped remote processor imx-rproc");
	assert_true(log_wait(f->p.log, 0, "the M7 went offline (rproc_stopped); starting it in") >
		    0);
	o = request(f, "{\"cmd\":\"reload\",\"channel\":\"m7\",\"firmware\":\"app2.elf\"}");
	assert_string_equal(j_str(o, "class"), "ACK");
	cJSON_Delete(o);
	cJSON_Delete(status_when(f, "up", "reload"));
	/* Every incident closed: the last one 2 s after the reload, past the deadline. */
	o = last_incident(f);
	cJSON_Delete(o);
	o = status_when(f, "up", "reload");
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "faults"), "m7_offline"));
	cJSON_Delete(o);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start"), 1);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start app2.elf"), 1);
}

static int setup_start_nohello(void **state)
{
	return setup_with(state, (struct opts){.rproc_state = "offline\n",
					       .channel = "firmware = nohello.elf\n"});
}

/* `recover` (any step) while the start step runs is refused as busy, the start goes on
 * and ends as it would: an image that never says HELLO fails it. */
static void test_recover_during_start(void **state)
{
	struct fx *f = *state;
	cJSON *o;

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "recovering", "m7_offline"));
	o = request(f, "{\"cmd\":\"recover\",\"channel\":\"m7\"}");
	assert_string_equal(j_str(o, "code"), "busy");
	cJSON_Delete(o);
	o = request(f, "{\"cmd\":\"recover\",\"channel\":\"m7\",\"action\":\"remoteproc\"}");
	assert_string_equal(j_str(o, "code"), "busy");
	cJSON_Delete(o);
	o = request(f, "{\"cmd\":\"reload\",\"channel\":\"m7\",\"firmware\":\"good.elf\"}");
	assert_string_equal(j_str(o, "code"), "busy");
	cJSON_Delete(o);
	cJSON_Delete(status_when(f, "failed", "start_failed"));
	assert_true(log_wait(f->simlog, 0, "m7sim: remoteproc start") > 0);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start"), 1);
	/* The start step's deadline, which the image's HELLO missed, is remoteproc_timeout_ms
	 * (5000 here, 15000 by default). */
	cJSON *inc = last_incident(f);
	const cJSON *step = cJSON_GetArrayItem(cJSON_GetObjectItem(inc, "steps"), 0);
	assert_string_equal(j_str(step, "action"), "start");
	print_message("start step timed out after %.0f ms\n", j_num(step, "ms"));
	assert_true(j_num(step, "ms") >= 5000 && j_num(step, "ms") < 10000);
	cJSON_Delete(inc);
}

/* The M7 stopped again while it is being started: the start fails (no HELLO), the
 * channel is `failed`, and nothing starts it before the backoff. */
static void test_offline_during_start(void **state)
{
	struct fx *f = *state;
	char buf[256];
	cJSON *o;

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "recovering", "m7_offline"));
	assert_true(log_wait(f->simlog, 0, "m7sim: remoteproc start nohello.elf") > 0);
	assert_true(rproc_attr_when(f, "state", "running"));
	rproc_write(f, "stop\n");
	assert_true(log_wait(f->simlog, 0, "m7sim: remoteproc stop") > 0);
	cJSON_Delete(status_when(f, "failed", "start_failed"));
	o = last_incident(f);
	assert_string_equal(j_str(o, "outcome"), "failed");
	steps_of(o, buf, sizeof(buf));
	assert_non_null(strstr(buf, "start:"));
	cJSON_Delete(o);
	rproc_attr(f, "state", buf, sizeof(buf));
	assert_string_equal(buf, "offline");
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start"), 1);
}

/* The daemon stopped during the start step: its incident is written `interrupted` with
 * the step still running, and a start leaves no reload record: the next daemon does not
 * roll anything back. */
static void test_sigterm_during_start(void **state)
{
	struct fx *f = *state;
	static char buf[1 << 16];
	char path[400];

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "recovering", "m7_offline"));
	assert_true(log_wait(f->simlog, 0, "m7sim: remoteproc start nohello.elf") > 0);
	assert_int_equal(daemon_proc_stop(&f->p), 0);
	assert_true(incident_file_has(f, "\"outcome\":\"interrupted\"", buf, sizeof(buf)));
	assert_non_null(strstr(buf, "\"action\":\"start\",\"result\":\"running\""));
	snprintf(path, sizeof(path), "%s/firmware-reload-m7", f->state);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(daemon_proc_start(&f->p, f->conf), 0);
	/* The M7 runs (silent): the new daemon leaves it to the link's own checks. */
	cJSON_Delete(status_when(f, "opening", "opened"));
	assert_int_equal(count_in(f->p.log, "rolling back"), 0);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start"), 1);
}

static int setup_shared(void **state)
{
	return setup_with(state, (struct opts){.rproc_state = "offline\n",
					       .channel = "firmware = nohello.elf\n",
					       .kmsg = true,
					       .second = true});
}

/* Two channels on one remoteproc: while one starts the M7, a fault on the other (the
 * kernel's lines about the shared M7 reach both) does not walk a ladder of its own,
 * which would stop the M7 under the start. */
static void test_shared_remoteproc(void **state)
{
	struct fx *f = *state;
	cJSON *o;

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "recovering", "m7_offline"));
	assert_true(log_wait(f->simlog, 0, "m7sim: remoteproc start nohello.elf") > 0);
	kmsg_line(f, "remoteproc remoteproc0: stopped remote processor imx-rproc");
	assert_true(log_wait(f->p.log, 0, "fault rproc_stopped (kernel, #1)") > 0);
	cJSON_Delete(status_when(f, "failed", "start_failed"));
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc stop"), 0);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start"), 1);
	/* m7b's STATUS: the fault counted, no recovery. */
	struct tclient q;
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"status\"}"), 0);
	o = tclient_wait(&q, "STATUS", WAIT_MS);
	assert_non_null(o);
	const cJSON *b = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "channels"), 1);
	assert_string_equal(j_str(b, "name"), "m7b");
	assert_int_equal((int)j_num(b, "recoveries"), 0);
	assert_int_equal((int)j_num(cJSON_GetObjectItem(b, "faults"), "rproc_stopped"), 1);
	cJSON_Delete(o);
	tclient_close(&q);
}

/* Two channels on one running M7, both with firmware = good.elf. */
static int setup_shared_configured(void **state)
{
	return setup_with(state, (struct opts){.rproc_state = "running\n",
					       .channel = "firmware = good.elf\n",
					       .second = true,
					       .second_keys = "firmware = good.elf\n"});
}

/* A reload verified on one channel replaced the M7's image for the other too: the
 * other's remoteproc step loads it, rather than undoing the reload. */
static void test_reload_shared_remoteproc(void **state)
{
	struct fx *f = *state;
	char path[400], rec[256];
	cJSON *o;

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "up", "hello"));
	o = request(f, "{\"cmd\":\"reload\",\"channel\":\"m7\",\"firmware\":\"app2.elf\"}");
	assert_string_equal(j_str(o, "class"), "ACK");
	cJSON_Delete(o);
	cJSON_Delete(status_when(f, "up", "reload"));
	snprintf(path, sizeof(path), "%s/firmware-good-m7b", f->state);
	h_slurp_file(path, rec, sizeof(rec));
	assert_true(strncmp(rec, "app2.elf ", 9) == 0);
	assert_non_null(strstr(rec, "\nreloaded good.elf\n"));

	o = request(f, "{\"cmd\":\"recover\",\"channel\":\"m7b\",\"action\":\"remoteproc\"}");
	assert_string_equal(j_str(o, "class"), "ACK");
	cJSON_Delete(o);
	assert_true(log_wait(f->simlog, 0, "m7sim: remoteproc stop") > 0);
	for (int i = 0; i < 3000 && count_in(f->simlog, "m7sim: remoteproc start") < 2; i++)
		usleep(10000);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start app2.elf"), 2);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start good.elf"), 0);
}

static int setup_toggle(void **state)
{
	return setup_with(state,
			  (struct opts){.rproc_state = "offline\n",
					.channel = "autostart = false\ndown_grace_ms = 300\n"});
}

/* autostart turned on by SIGHUP starts the waiting M7 at once; turned off again, an M7
 * stopped later is left to its owner and the channel says so. */
static void test_autostart_toggled(void **state)
{
	struct fx *f = *state;
	char conf[2100], *at;

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "down", "autostart_off"));
	snprintf(conf, sizeof(conf), "%s", f->conf);
	at = strstr(conf, "autostart = false");
	assert_non_null(at);
	memcpy(at, "autostart = true ", 17);
	sighup_conf(f, conf);
	check_started(f, "good.elf", "m7_offline");
	sighup_conf(f, f->conf);
	rproc_write(f, "stop\n");
	cJSON_Delete(status_when(f, "down", "autostart_off"));
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start"), 1);
}

/* A reload of an image that never says HELLO; the daemon restarts once the switch is
 * made (SIGTERM, or SIGKILL: a crash), before the verdict. The restarted daemon rolls
 * back to the image the reload replaced. */
static void reload_interrupted(struct fx *f, int sig)
{
	struct tclient q;
	char path[400], buf[256];
	size_t at;
	cJSON *o;

	cJSON_Delete(status_when(f, "up", "hello"));
	at = log_wait(f->simlog, 0, "m7sim: link ");
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"reload\",\"channel\":\"m7\","
					  "\"firmware\":\"nohello.elf\"}"),
			 0);
	o = tclient_wait(&q, "ACK", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	tclient_close(&q);
	at = log_wait(f->simlog, at, "m7sim: remoteproc start nohello.elf");
	assert_true(at > 0);
	if (sig == SIGTERM) {
		assert_int_equal(daemon_proc_stop(&f->p), 0);
	} else {
		assert_int_equal(kill(f->p.pid, sig), 0);
		assert_int_equal(waitpid(f->p.pid, NULL, 0), f->p.pid);
		f->p.pid = 0;
	}
	/* Recorded before the switch, left by the cut-short reload. */
	snprintf(path, sizeof(path), "%s/firmware-reload-m7", f->state);
	h_slurp_file(path, buf, sizeof(buf));
	assert_true(strncmp(buf, "good.elf ", 9) == 0);
	assert_non_null(strstr(buf, "\nnohello.elf\n"));

	assert_int_equal(daemon_proc_start(&f->p, f->conf), 0);
	cJSON_Delete(status_when(f, "up", "rollback"));
	assert_true(log_wait(f->simlog, at, "m7sim: remoteproc start good.elf") > 0);
	rproc_attr(f, "firmware", buf, sizeof(buf));
	assert_string_equal(buf, "good.elf");
	assert_int_equal(count_in(f->p.log, "the reload of nohello.elf was cut short by a restart "
					    "of the daemon: rolling back to good.elf"),
			 1);
	o = last_incident(f);
	assert_string_equal(j_str(o, "kind"), "reload");
	assert_string_equal(j_str(o, "source"), "restart");
	assert_string_equal(j_str(o, "outcome"), "rolled_back");
	assert_non_null(strstr(j_str(o, "detail"), "nohello.elf: interrupted"));
	steps_of(o, buf, sizeof(buf));
	assert_string_equal(buf, "rollback:ok");
	cJSON_Delete(o);
	/* Done with: a further restart leaves the M7 alone. */
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start nohello.elf"), 1);
}

static int setup_reload(void **state)
{
	/* The ladder's remoteproc step would restart whatever remoteproc names. */
	return setup_with(
		state,
		(struct opts){.rproc_state = "running\n",
			      .channel = "recovery_steps = remoteproc\nremoteproc_tries = 1\n"});
}

/* No `firmware` configured: only the record says what ran before. */
static void test_reload_cut_short(void **state)
{
	if (!*state)
		skip();
	reload_interrupted(*state, SIGTERM);
}

static int setup_reload_firmware(void **state)
{
	return setup_with(state, (struct opts){.rproc_state = "running\n",
					       .channel = "firmware = good.elf\n"
							  "recovery_steps = remoteproc\n"
							  "remoteproc_tries = 1\n"});
}

/* `firmware` configured, and the daemon killed rather than stopped. */
static void test_reload_cut_short_by_crash(void **state)
{
	if (!*state)
		skip();
	reload_interrupted(*state, SIGKILL);
}

/* The reload is cut short, and the image it would roll back to is overwritten by another
 * build before the daemon starts again: that rollback could only load the other build
 * in place of the one the M7 runs, so the restart leaves the M7 as it is and says why. */
static void test_reload_cut_short_target_overwritten(void **state)
{
	struct fx *f = *state;
	struct tclient q;
	char path[400], buf[256];
	size_t at;
	cJSON *o;

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "up", "hello"));
	at = log_wait(f->simlog, 0, "m7sim: link ");
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"reload\",\"channel\":\"m7\","
					  "\"firmware\":\"nohello.elf\"}"),
			 0);
	o = tclient_wait(&q, "ACK", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	tclient_close(&q);
	at = log_wait(f->simlog, at, "m7sim: remoteproc start nohello.elf");
	assert_true(at > 0);
	assert_int_equal(daemon_proc_stop(&f->p), 0);
	snprintf(path, sizeof(path), "%s/good.elf", f->fwdir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(h_daemon_path(), path), 0);

	assert_int_equal(daemon_proc_start(&f->p, f->conf), 0);
	o = last_incident(f);
	assert_string_equal(j_str(o, "kind"), "reload");
	assert_string_equal(j_str(o, "source"), "restart");
	assert_string_equal(j_str(o, "outcome"), "failed");
	if (!strstr(j_str(o, "detail"), "cannot roll back to last good firmware good.elf: it "
					"now holds build id"))
		fail_msg("detail '%s'", j_str(o, "detail"));
	cJSON_Delete(o);
	rproc_attr(f, "firmware", buf, sizeof(buf));
	assert_string_equal(buf, "nohello.elf");
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc start good.elf"), 0);
	assert_int_equal(count_in(f->p.log, "the reload of nohello.elf was cut short by a restart "
					    "of the daemon; left as it is (cannot roll back"),
			 1);
	snprintf(path, sizeof(path), "%s/firmware-reload-m7", f->state);
	assert_int_equal(access(path, F_OK), -1);
}

static int setup_bad_record(void **state)
{
	return setup_with(state, (struct opts){.rproc_state = "running\n",
					       .channel = "",
					       .record = "good.elf not-hex\nnohello.elf\n"});
}

/* A reload record that is not one is said so and removed; the M7 is left alone. */
static void test_bad_record(void **state)
{
	struct fx *f = *state;
	char path[400];

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "up", "hello"));
	snprintf(path, sizeof(path), "%s/firmware-reload-m7", f->state);
	assert_true(log_wait(f->p.log, 0,
			     "firmware-reload-m7: not a record of a reload in "
			     "progress; removed") > 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc"), 0);
}

static int setup_fifo_record(void **state)
{
	return setup_with(state, (struct opts){.rproc_state = "running\n",
					       .channel = "",
					       .record = "fifo",
					       .good_fifo = true});
}

/* A FIFO in a record's place (the reload's, the last good one's) would block a read: it
 * is not read, and said so. */
static void test_fifo_record(void **state)
{
	struct fx *f = *state;

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "up", "hello"));
	assert_true(log_wait(f->p.log, 0, "firmware-reload-m7: not a regular file; ignored") > 0);
	assert_true(log_wait(f->p.log, 0, "firmware-good-m7: not a regular file; ignored") > 0);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc"), 0);
}

/* Started by U-Boot (remoteproc `attached`, its firmware `unknown`) and no `firmware`
 * configured: the remoteproc step could stop the M7 but never start it again (there is
 * no file to load), so it fails at once and leaves the M7 running, saying why. */
static int setup_attached_unknown(void **state)
{
	return setup_with(state, (struct opts){.rproc_state = "attached\n",
					       .rproc_fw = "unknown\n",
					       .channel = "recovery_steps = remoteproc\n"});
}

static void test_remoteproc_step_keeps_unstartable_m7(void **state)
{
	struct fx *f = *state;
	char path[400], st[64];

	if (!f)
		skip();
	cJSON_Delete(status_when(f, "up", "hello"));
	cJSON_Delete(request(f, "{\"cmd\":\"recover\",\"channel\":\"m7\"}"));
	/* From the log: the M7's next HEARTBEAT may end `failed` before a STATUS sees it. */
	assert_true(log_wait(f->p.log, 0, "-> failed (exhausted") > 0);
	assert_true(log_wait(f->p.log, 0, "not stopping remoteproc0: it names no firmware file") >
		    0);
	assert_int_equal(count_in(f->simlog, "m7sim: remoteproc stop"), 0);
	snprintf(path, sizeof(path), "%s/state", f->rp);
	h_slurp_file(path, st, sizeof(st));
	assert_string_equal(st, "attached\n");
	/* The M7 still answers: the channel comes back up by itself. */
	cJSON_Delete(status_when(f, "up", "hello"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_remoteproc_step_keeps_unstartable_m7,
						setup_attached_unknown, teardown),
		cmocka_unit_test_setup_teardown(test_offline_started, setup_offline, teardown),
		cmocka_unit_test_setup_teardown(test_offline_started_firmware,
						setup_offline_firmware_privsep, teardown),
		cmocka_unit_test_setup_teardown(test_offline_autostart_off, setup_offline_manual,
						teardown),
		cmocka_unit_test_setup_teardown(test_crashed_said, setup_crashed, teardown),
		cmocka_unit_test_setup_teardown(test_stopped_later, setup_running, teardown),
		cmocka_unit_test_setup_teardown(test_stopped_budget_spent, setup_running_budget,
						teardown),
		cmocka_unit_test_setup_teardown(test_sighup_keeps_grace, setup_running_kmsg,
						teardown),
		cmocka_unit_test_setup_teardown(test_sighup_keeps_down_grace, setup_running_kmsg,
						teardown),
		cmocka_unit_test_setup_teardown(test_reload_during_countdown, setup_grace_short,
						teardown),
		cmocka_unit_test_setup_teardown(test_recover_during_start, setup_start_nohello,
						teardown),
		cmocka_unit_test_setup_teardown(test_offline_during_start, setup_start_nohello,
						teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_during_start, setup_start_nohello,
						teardown),
		cmocka_unit_test_setup_teardown(test_autostart_toggled, setup_toggle, teardown),
		cmocka_unit_test_setup_teardown(test_shared_remoteproc, setup_shared, teardown),
		cmocka_unit_test_setup_teardown(test_reload_shared_remoteproc,
						setup_shared_configured, teardown),
		cmocka_unit_test_setup_teardown(test_reload_cut_short, setup_reload, teardown),
		cmocka_unit_test_setup_teardown(test_reload_cut_short_target_overwritten,
						setup_reload, teardown),
		cmocka_unit_test_setup_teardown(test_reload_cut_short_by_crash,
						setup_reload_firmware, teardown),
		cmocka_unit_test_setup_teardown(test_bad_record, setup_bad_record, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_record, setup_fifo_record, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	if (getenv("M7B_TEST_FILTER"))
		cmocka_set_test_filter(getenv("M7B_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
