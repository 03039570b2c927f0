/* End-to-end recovery: m7bridged with a journal written by systemd-journal-remote, m7sim
 * as the M7, and a fake remoteproc sysfs tree whose "kernel" (a child process) answers
 * stop/start by resuming, rebooting and swapping m7sim onto a new pty. Clients stay
 * connected throughout. Prints the measured timings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pwd.h>
#include <cmocka.h>

#include "daemon_harness.h"

#define WAIT_MS 30000 /* generous: ASan, two loaded cores */

struct fx {
	struct daemon_proc p;
	char link[300], ctl[300], sys[300], state[300], fw[300], journal[300], incidents[300],
		debugfs[300];
	pid_t sim, kernel, jr;
	FILE *jr_in;
};

/* The driver step's command (privsep: it tells who ran it into ppid_file); what it
 * prints goes to the daemon's log. */
#define DRIVER_SAYS "echo driver ran"
static char driver_cmd[400] = DRIVER_SAYS;
static char ppid_dir[32];

static const char *journal_remote(void)
{
	static const char *const paths[] = {"/lib/systemd/systemd-journal-remote",
					    "/usr/lib/systemd/systemd-journal-remote"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

static void mkdirs(struct fx *f)
{
	static const char *const extra[] = {"journal", "firmware", NULL};
	char path[400];

	assert_int_equal(h_fake_rproc_tree(f->p.dir, "m7sim.elf\n", extra), 0);
	snprintf(f->state, sizeof(f->state), "%s/sys/class/remoteproc/remoteproc0/state", f->p.dir);
	snprintf(f->fw, sizeof(f->fw), "%s/sys/class/remoteproc/remoteproc0/firmware", f->p.dir);
	/* The firmware files the daemon reads build ids from: m7sim's own ELF, which is
	 * what the fake kernel's reboot brings up. */
	snprintf(path, sizeof(path), "%s/firmware/m7sim.elf", f->p.dir);
	assert_int_equal(symlink(h_sim_path(), path), 0);
	snprintf(path, sizeof(path), "%s/firmware/app-2.elf", f->p.dir);
	assert_int_equal(symlink(h_sim_path(), path), 0);
}

/* The fake kernel: answers writes to the state file like remoteproc does, moving m7sim. */
static void fake_kernel(struct fx *f)
{
	char st[64], before[256], now[256];
	int ctl = open(f->ctl, O_WRONLY | O_CLOEXEC);

	if (ctl < 0)
		_exit(2);
	for (;;) {
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
		h_slurp_file(f->state, st, sizeof(st));
		if (strcmp(st, "stop") == 0) {
			(void)h_put_file(f->state, "offline\n");
		} else if (strcmp(st, "start") == 0) {
			ssize_t n = readlink(f->link, before, sizeof(before) - 1);
			before[n > 0 ? n : 0] = '\0';
			/* A restarted M7: new boot, new tty node (same name). */
			const char *cmds = "resume\nreboot\nswap\n";
			if (write(ctl, cmds, strlen(cmds)) < 0)
				_exit(3);
			for (int i = 0; i < 4000; i++) {
				n = readlink(f->link, now, sizeof(now) - 1);
				now[n > 0 ? n : 0] = '\0';
				if (n > 0 && strcmp(now, before) != 0)
					break;
				nanosleep(&ts, NULL);
			}
			(void)h_put_file(f->state, "running\n");
		}
	}
}

static void journal_line(struct fx *f, const char *msg)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(f->jr_in,
		"__REALTIME_TIMESTAMP=%llu\n_TRANSPORT=kernel\nSYSLOG_IDENTIFIER=kernel\n"
		"PRIORITY=3\nMESSAGE=%s\n\n",
		(unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000,
		msg);
	fflush(f->jr_in);
}

static void sim_cmd(struct fx *f, const char *cmd)
{
	int fd = open(f->ctl, O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
	close(fd);
}

static int teardown(void **state);

/* reopen_ms: the reopen step's timeout. */
static int setup_klog_reopen(void **state, const char *klog, const char *daemon_extra,
			     const char *steps, unsigned reopen_ms)
{
	struct fx *f = calloc(1, sizeof(*f));
	char conf[4096], out[400], arg_out[400];
	int p[2];

	if (!f || !journal_remote() || access(h_sim_path(), X_OK) != 0) {
		free(f);
		*state = NULL;
		return 0; /* tests skip */
	}
	if (h_tmpdir(&f->p) < 0) {
		free(f);
		return -1;
	}
	mkdirs(f);
	snprintf(f->link, sizeof(f->link), "%s/ttyRPMSG30", f->p.dir);
	snprintf(f->ctl, sizeof(f->ctl), "%s/m7sim.ctl", f->p.dir);
	snprintf(f->sys, sizeof(f->sys), "%s/sys", f->p.dir);
	snprintf(f->journal, sizeof(f->journal), "%s/journal", f->p.dir);
	snprintf(f->incidents, sizeof(f->incidents), "%s/incidents", f->p.dir);
	snprintf(f->debugfs, sizeof(f->debugfs), "%s/debugfs", f->p.dir);

	/* The journal writer, fed through a pipe for the whole test. */
	snprintf(arg_out, sizeof(arg_out), "--output=%s/kernel.journal", f->journal);
	if (pipe2(p, O_CLOEXEC) < 0)
		goto fail;
	const char *jargv[] = {journal_remote(), arg_out, "-", NULL};
	snprintf(out, sizeof(out), "%s/journal-remote.log", f->p.dir);
	f->jr = h_spawn(jargv, p[0], out);
	close(p[0]);
	f->jr_in = fdopen(p[1], "w");

	/* m7sim: heartbeats every 200 ms and a 20 Hz source on port 1. */
	const char *sargv[] = {h_sim_path(), "--link",	 f->link,
			       "--ctl",	     f->ctl,	 "--heartbeat-ms",
			       "200",	     "--source", "1:rate=20,size=8",
			       "--debugfs",  f->debugfs, NULL};
	snprintf(out, sizeof(out), "%s/m7sim.log", f->p.dir);
	f->sim = h_spawn(sargv, -1, out);
	for (int i = 0; i < 2000 && access(f->link, F_OK) != 0; i++)
		usleep(5000);
	if (access(f->link, F_OK) != 0 || access(f->ctl, F_OK) != 0)
		goto fail;

	f->kernel = fork();
	if (f->kernel == 0)
		fake_kernel(f);

	snprintf(conf, sizeof(conf),
		 "kernel_log = %s\njournal_dir = %s\nsysfs_root = %s\nincident_dir = %s\n"
		 "debugfs_root = %s\nfirmware_dir = %s/firmware\n%s\n"
		 "[channel m7]\ndevice = %s\nremoteproc = imx-rproc\nfirmware = m7sim.elf\n"
		 "reopen_min_ms = 20\nreopen_max_ms = 200\n"
		 "recovery_steps = %s\n"
		 "driver_reload = %s\nhook = true\n"
		 "resync_timeout_ms = 500\nresync_tries = 1\nreopen_timeout_ms = %u\n"
		 "driver_timeout_ms = 500\nremoteproc_timeout_ms = 15000\n"
		 "liveness_quiet_ms = 500\nliveness_answer_ms = 300\nliveness_retries = 1\n"
		 "reload_probation_ms = 300\n",
		 klog, f->journal, f->sys, f->incidents, f->debugfs, f->p.dir, daemon_extra,
		 f->link, steps, driver_cmd, reopen_ms);
	if (daemon_proc_start(&f->p, conf) < 0)
		goto fail;
	*state = f;
	return 0;
fail:
	/* Reap whatever was started: a failed setup must not leave processes behind. */
	*state = f;
	(void)teardown(state);
	*state = NULL;
	return -1;
}

static int setup_klog(void **state, const char *klog, const char *daemon_extra, const char *steps)
{
	return setup_klog_reopen(state, klog, daemon_extra, steps, 500);
}

static int setup_common(void **state, const char *daemon_extra, const char *steps)
{
	return setup_klog(state, "journal", daemon_extra, steps);
}

/* No kernel log: faults are liveness's alone. */
static int setup_no_klog(void **state)
{
	return setup_klog(state, "off", "", "resync,reopen,remoteproc");
}

/* No kernel log, and a ladder that cannot cure a deaf M7. */
static int setup_no_klog_resync(void **state)
{
	return setup_klog(state, "off", "", "resync\nrecovery_backoff_ms = 20000");
}

/* No kernel log, a ladder whose reopen waits long enough for liveness, started again on
 * the reopened tty, to find the M7 still deaf. */
static int setup_no_klog_long_reopen(void **state)
{
	return setup_klog_reopen(state, "off", "", "resync,reopen\nrecovery_backoff_ms = 20000",
				 4000);
}

static int setup(void **state)
{
	char extra[64];

	snprintf(extra, sizeof(extra), "allow_uids = %u", (unsigned)getuid());
	return setup_common(state, extra, "resync,reopen,driver,remoteproc,hook");
}

/* A ladder that cannot succeed (resync only, the M7 hung): `failed`, then back by itself. */
static int setup_resync_only(void **state)
{
	return setup_common(state, "", "resync");
}

/* An M7 whose port 1 always carries data: its silence is a fault. */
static int setup_expect_rate(void **state)
{
	return setup_common(state, "", "resync,reopen,remoteproc\nexpect_rate = 1:20");
}

/* As setup_resync_reopen, with a budget of one ladder: the retry is refused. */
static int setup_budget_one(void **state)
{
	return setup_common(state, "",
			    "resync,reopen\nrecovery_budget = 1\nrecovery_backoff_ms = 3000");
}

/* resync and reopen: a hung M7 leaves it failed, its liveness running again. */
static int setup_resync_reopen(void **state)
{
	return setup_common(state, "", "resync,reopen");
}

static int teardown(void **state)
{
	struct fx *f = *state;

	int st;

	if (!f)
		return 0;
	/* A clean exit: no sanitizer report, nothing left held. */
	st = daemon_proc_stop(&f->p);
	h_reap(&f->kernel);
	h_reap(&f->sim);
	if (f->jr_in)
		fclose(f->jr_in); /* EOF ends journal-remote */
	h_reap(&f->jr);
	h_cleanup(&f->p); /* M7B_KEEP_TMP=1 keeps the dir for a look */
	free(f);
	return st == 0 ? 0 : -1;
}

/* Waits for STATE of the channel to become st; returns the reason (static copy). */
static const char *wait_state(struct tclient *c, const char *st, uint64_t *at)
{
	static char reason[64];
	cJSON *o = tclient_wait_str(c, "STATE", "state", st, WAIT_MS);

	if (!o)
		fail_msg("no STATE %s within %d ms", st, WAIT_MS);
	*at = h_now_ms();
	snprintf(reason, sizeof(reason), "%s", j_str(o, "reason") ? j_str(o, "reason") : "");
	cJSON_Delete(o);
	return reason;
}

/* Reads objects until STATE up; says whether a HELLO with new_boot came on the way (the
 * new firmware's HELLO is what brings the link up, so it precedes the STATE). */
static const char *wait_up(struct tclient *c, uint64_t *at, bool *new_boot, char *name,
			   size_t name_cap)
{
	static char reason[64];
	uint64_t end = h_now_ms() + WAIT_MS;

	*new_boot = false;
	while (h_now_ms() < end) {
		cJSON *o = tclient_obj(c, (int)(end - h_now_ms()));
		const char *cls;

		if (!o)
			break;
		cls = j_str(o, "class");
		if (cls && strcmp(cls, "HELLO") == 0 &&
		    cJSON_IsTrue(cJSON_GetObjectItem(o, "new_boot"))) {
			*new_boot = true;
			if (name)
				snprintf(name, name_cap, "%s boot_id %.0f", j_str(o, "name"),
					 j_num(o, "boot_id"));
		}
		if (cls && strcmp(cls, "STATE") == 0 && strcmp(j_str(o, "state"), "up") == 0) {
			*at = h_now_ms();
			snprintf(reason, sizeof(reason), "%s", j_str(o, "reason"));
			cJSON_Delete(o);
			return reason;
		}
		cJSON_Delete(o);
	}
	fail_msg("no STATE up within %d ms", WAIT_MS);
	return NULL;
}

static cJSON *status(struct tclient *c)
{
	cJSON *s, *ch;

	assert_int_equal(tclient_send(c, "{\"cmd\":\"status\"}"), 0);
	s = tclient_wait(c, "STATUS", WAIT_MS);
	assert_non_null(s);
	ch = cJSON_Duplicate(cJSON_GetArrayItem(cJSON_GetObjectItem(s, "channels"), 0), 1);
	cJSON_Delete(s);
	return ch;
}

static void test_kick_then_stall(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t_line, t_fault, t_rec, t_up, t;
	cJSON *o, *st;
	const char *kick = "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)";

	if (!f)
		skip();
	assert_int_equal(tclient_open(&w, f->p.sock, "{\"cmd\":\"watch\"}"), 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	wait_state(&w, "up", &t);
	o = tclient_wait(&w, "FRAME", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);

	/* 1. One kick failure while heartbeats flow: recorded and published, no ladder. */
	journal_line(f, kick);
	o = tclient_wait(&w, "FAULT", WAIT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "kind"), "kick_timeout");
	assert_string_equal(j_str(o, "source"), "kernel");
	assert_int_equal((int)j_num(o, "count"), 1);
	cJSON_Delete(o);
	/* The probe's PING is answered; three heartbeats later the link is still up. */
	for (int i = 0; i < 4; i++) {
		o = tclient_wait(&w, "HEARTBEAT", WAIT_MS);
		assert_non_null(o);
		cJSON_Delete(o);
	}
	st = status(&q);
	assert_string_equal(j_str(st, "state"), "up");
	assert_int_equal((int)j_num(st, "recoveries"), 0);
	/* Fault intake's counters: the kick counted once, by kind too. */
	assert_int_equal((int)j_num(st, "kick_failures"), 1);
	assert_int_equal((int)j_num(cJSON_GetObjectItem(st, "faults"), "kick_timeout"), 1);
	cJSON_Delete(st);

	/* 2. The M7 hangs, then the kernel reports a kick failure. */
	sim_cmd(f, "stall\n");
	t_line = h_now_ms();
	journal_line(f, kick);
	o = tclient_wait_str(&w, "FAULT", "kind", "kick_timeout", WAIT_MS);
	assert_non_null(o);
	t_fault = h_now_ms();
	cJSON_Delete(o);
	const char *why = wait_state(&w, "recovering", &t_rec);
	print_message("kernel line -> FAULT %llu ms, -> STATE recovering (%s) %llu ms\n",
		      (unsigned long long)(t_fault - t_line), why,
		      (unsigned long long)(t_rec - t_line));
	/* The ladder ends with remoteproc: the fake kernel restarts m7sim on a new pty. */
	bool new_boot;
	why = wait_up(&w, &t_up, &new_boot, NULL, 0);
	assert_string_equal(why, "recovered");
	assert_true(new_boot);
	print_message("kernel line -> STATE up %llu ms (recovering -> up %llu ms)\n",
		      (unsigned long long)(t_up - t_line), (unsigned long long)(t_up - t_rec));
	o = tclient_wait(&w, "FRAME", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);

	st = status(&q);
	assert_string_equal(j_str(st, "state"), "up");
	assert_true(j_num(st, "recoveries") >= 1);
	print_message("frames lost (seq_gaps) %.0f, reopens %.0f, recoveries %.0f\n",
		      j_num(st, "seq_gaps"), j_num(st, "reopens"), j_num(st, "recoveries"));
	cJSON_Delete(st);

	/* The incident: the ladder's steps and their timings, also as a file. */
	cJSON *inc = NULL;
	for (int i = 0; i < 100 && !inc; i++) {
		assert_int_equal(tclient_send(&q, "{\"cmd\":\"incidents\",\"id\":5}"), 0);
		o = tclient_wait(&q, "INCIDENTS", WAIT_MS);
		assert_non_null(o);
		assert_int_equal((int)j_num(o, "id"), 5);
		cJSON *list = cJSON_GetObjectItem(o, "incidents"), *it;
		cJSON_ArrayForEach(it, list)
		{
			const char *out = j_str(it, "outcome");
			cJSON *steps = cJSON_GetObjectItem(it, "steps");
			if (out && strcmp(out, "recovered") == 0 && cJSON_GetArraySize(steps) >= 4)
				inc = cJSON_Duplicate(it, 1);
		}
		cJSON_Delete(o);
		if (!inc)
			usleep(100000); /* closes SV_INCIDENT_AFTER_MS after up: poll for it */
	}
	assert_non_null(inc);
	cJSON *s;
	const char *last = NULL;
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(inc, "steps"))
	{
		print_message("  step %-10s %-8s %5.0f ms\n", j_str(s, "action"),
			      j_str(s, "result"), j_num(s, "ms"));
		last = j_str(s, "action");
	}
	assert_string_equal(last, "remoteproc");
	assert_non_null(j_str(inc, "file"));
	assert_int_equal(access(j_str(inc, "file"), R_OK), 0);
	cJSON_Delete(inc);
	tclient_close(&w);
	tclient_close(&q);
}

/* Waits for the closed incident of kind; returns it (caller deletes). */
static cJSON *wait_incident(struct tclient *q, const char *kind)
{
	for (int i = 0; i < 100; i++) {
		cJSON *o, *it, *inc = NULL;
		assert_int_equal(tclient_send(q, "{\"cmd\":\"incidents\"}"), 0);
		o = tclient_wait(q, "INCIDENTS", WAIT_MS);
		assert_non_null(o);
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "incidents"))
		{
			const char *out = j_str(it, "outcome");
			if (!inc && out && strcmp(out, "open") != 0 &&
			    strcmp(j_str(it, "kind"), kind) == 0)
				inc = cJSON_Duplicate(it, 1);
		}
		cJSON_Delete(o);
		if (inc)
			return inc;
		usleep(100000); /* closes SV_INCIDENT_AFTER_MS after up: poll for it */
	}
	fail_msg("no closed incident %s", kind);
	return NULL;
}

/* Two ladders within one incident (the second begins before the first's record closed):
 * the record lists the steps of both, not only the last ladder's. */
static void test_two_ladders_one_incident(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t;
	cJSON *inc, *s;
	int n = 0;

	if (!f)
		skip();
	assert_int_equal(tclient_open(&w, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"STATE\"]}"),
			 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	wait_state(&w, "up", &t);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(tclient_send(&q, "{\"cmd\":\"recover\",\"channel\":\"m7\"}"), 0);
		wait_state(&w, "recovering", &t);
		assert_string_equal(wait_state(&w, "up", &t), "recovered");
	}
	inc = wait_incident(&q, "recover");
	assert_string_equal(j_str(inc, "outcome"), "recovered");
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(inc, "steps"))
	{
		assert_string_equal(j_str(s, "action"), "resync");
		assert_string_equal(j_str(s, "result"), "ok");
		n++;
	}
	assert_int_equal(n, 2);
	cJSON_Delete(inc);
	tclient_close(&w);
	tclient_close(&q);
}

static void test_reload(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t0, t_rel, t_up;
	char fw[64];
	cJSON *o;

	if (!f)
		skip();
	assert_int_equal(tclient_open(&w, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"STATE\",\"HELLO\"]}"),
			 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	wait_state(&w, "up", &t0);
	o = tclient_wait(&w, "HELLO", WAIT_MS); /* snapshot */
	assert_non_null(o);
	cJSON_Delete(o);

	assert_int_equal(tclient_send(&q, "{\"cmd\":\"reload\",\"id\":\"r1\",\"channel\":\"m7\","
					  "\"firmware\":\"../x.elf\"}"),
			 0);
	o = tclient_wait(&q, "ERROR", WAIT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "code"), "bad_value");
	cJSON_Delete(o);

	t0 = h_now_ms();
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"reload\",\"id\":\"r2\",\"channel\":\"m7\","
					  "\"firmware\":\"app-2.elf\"}"),
			 0);
	o = tclient_wait(&q, "ACK", WAIT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "cmd"), "reload");
	assert_string_equal(j_str(o, "id"), "r2");
	cJSON_Delete(o);
	/* A second request while it runs is refused. */
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"recover\",\"channel\":\"m7\"}"), 0);
	o = tclient_wait(&q, "ERROR", WAIT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "code"), "busy");
	cJSON_Delete(o);
	wait_state(&w, "reloading", &t_rel);
	bool new_boot;
	char name[128] = "";
	const char *why = wait_up(&w, &t_up, &new_boot, name, sizeof(name));
	assert_string_equal(why, "reload");
	assert_true(new_boot);
	print_message("reload: request -> STATE reloading %llu ms -> up %llu ms; new firmware %s\n",
		      (unsigned long long)(t_rel - t0), (unsigned long long)(t_up - t0), name);
	h_slurp_file(f->fw, fw, sizeof(fw));
	assert_string_equal(fw, "app-2.elf");

	/* recover by hand, one named step each (the protocol names four; hook is ladder-only):
	 * on a healthy link every step brings it back up; the times are each step's own cost. */
	static const char *const steps[] = {"resync", "reopen", "driver", "remoteproc"};
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		char line[128];
		uint64_t t_req, t_rec;

		snprintf(line, sizeof(line),
			 "{\"cmd\":\"recover\",\"channel\":\"m7\",\"action\":\"%s\"}", steps[k]);
		t_req = h_now_ms();
		assert_int_equal(tclient_send(&q, line), 0);
		o = tclient_obj(&q, WAIT_MS);
		assert_non_null(o);
		if (strcmp(j_str(o, "class"), "ACK") != 0)
			fail_msg("recover %s: %s %s", steps[k], j_str(o, "code"),
				 j_str(o, "message"));
		cJSON_Delete(o);
		wait_state(&w, "recovering", &t_rec);
		why = wait_up(&w, &t_up, &new_boot, NULL, 0);
		assert_string_equal(why, "recovered");
		/* Only the remoteproc step restarts the firmware. */
		assert_int_equal(new_boot, strcmp(steps[k], "remoteproc") == 0);
		print_message("recover action %-10s: request -> recovering %llu ms -> up %llu ms\n",
			      steps[k], (unsigned long long)(t_rec - t_req),
			      (unsigned long long)(t_up - t_req));
	}
	/* The driver command's output is in the log, named, before the channel came up. */
	static char log[1 << 20];
	h_slurp_file(f->p.log, log, sizeof(log));
	assert_non_null(strstr(log, "m7bridged: info: [m7] driver_reload: driver ran\n"));
	tclient_close(&w);
	tclient_close(&q);
}

/* A peer that is neither root nor listed gets `forbidden`. */
static int setup_forbidden(void **state)
{
	/* uid 1 is not ours (nor root's) whoever runs this. */
	int r = setup_common(state, "allow_uids = 1\nsocket_mode = 0666",
			     "resync,reopen,driver,remoteproc,hook");

	if (r == 0 && *state)
		chmod(((struct fx *)*state)->p.dir, 0755);
	return r;
}

static int forbidden_check(const char *sock)
{
	struct tclient c;
	cJSON *o;
	int ok;

	if (tclient_open(&c, sock, NULL) < 0)
		return 10;
	if (tclient_send(&c, "{\"cmd\":\"recover\",\"channel\":\"m7\",\"id\":3}") < 0)
		return 11;
	o = tclient_wait(&c, "ERROR", WAIT_MS);
	if (!o)
		return 12;
	ok = strcmp(j_str(o, "code"), "forbidden") == 0;
	cJSON_Delete(o);
	if (tclient_send(&c, "{\"cmd\":\"reload\",\"channel\":\"m7\"}") < 0)
		return 13;
	o = tclient_wait(&c, "ERROR", WAIT_MS);
	ok = ok && o && strcmp(j_str(o, "code"), "forbidden") == 0;
	cJSON_Delete(o);
	/* incidents changes nothing: allowed */
	if (tclient_send(&c, "{\"cmd\":\"incidents\"}") < 0)
		return 14;
	o = tclient_wait(&c, "INCIDENTS", WAIT_MS);
	ok = ok && o;
	cJSON_Delete(o);
	tclient_close(&c);
	return ok ? 0 : 1;
}

static void test_forbidden(void **state)
{
	struct fx *f = *state;
	int st;

	if (!f)
		skip();
	if (geteuid() != 0) {
		assert_int_equal(forbidden_check(f->p.sock), 0);
		return;
	}
	/* Root is always allowed: ask as nobody. */
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(20);
		_exit(forbidden_check(f->p.sock));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_failed_then_back(void **state)
{
	struct fx *f = *state;
	struct tclient w;
	uint64_t t0, t_rec, t_failed, t_up;
	bool new_boot;

	if (!f)
		skip();
	assert_int_equal(
		tclient_open(&w, f->p.sock,
			     "{\"cmd\":\"watch\",\"classes\":[\"STATE\",\"FAULT\",\"HELLO\"]}"),
		0);
	wait_state(&w, "up", &t0);
	t0 = h_now_ms();
	sim_cmd(f, "stall\n");
	wait_state(&w, "recovering", &t_rec);
	const char *why = wait_state(&w, "failed", &t_failed);
	assert_string_equal(why, "exhausted");
	print_message("stall -> recovering %llu ms -> failed %llu ms\n",
		      (unsigned long long)(t_rec - t0), (unsigned long long)(t_failed - t0));
	/* The M7 comes back by itself: it takes what waited for it on the link (the
	 * resync's HOST_HELLO, the PINGs), and its answer brings the link up. */
	uint64_t t_res = h_now_ms();
	sim_cmd(f, "resume\n");
	why = wait_up(&w, &t_up, &new_boot, NULL, 0);
	assert_string_equal(why, "hello");
	assert_false(new_boot);
	print_message("resume -> up %llu ms\n", (unsigned long long)(t_up - t_res));
	tclient_close(&w);
}

/* A ladder that cannot help leaves the channel failed; the operator adds a step and sends
 * SIGHUP: the new ladder is taken at once (status lists it), the channel stays failed
 * until its retry (the supervision set up anew finds the M7 still stalled: the same
 * fault, not raised again), and that retry walks the new ladder, which brings the M7
 * back. */
static void test_sighup_while_failed(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t;
	char conf[8192], *at;
	bool new_boot;
	int n = 0;

	if (!f)
		skip();
	assert_int_equal(tclient_open(&w, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"STATE\",\"HELLO\","
				      "\"FAULT\"]}"),
			 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	wait_state(&w, "up", &t);
	sim_cmd(f, "stall\n");
	cJSON *o = tclient_wait_str(&w, "FAULT", "kind", "stall", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	assert_string_equal(wait_state(&w, "failed", &t), "exhausted");

	h_slurp_file(f->p.conf, conf, sizeof(conf));
	at = strstr(conf, "recovery_steps = resync,reopen\n");
	assert_non_null(at);
	at += strlen("recovery_steps = resync,reopen");
	memmove(at + 11, at, strlen(at) + 1);
	memcpy(at, ",remoteproc", 11);
	assert_int_equal(h_put_file(f->p.conf, conf), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	for (int i = 0; i < 100 && n != 3; i++) {
		cJSON *st = status(&q);
		n = cJSON_GetArraySize(cJSON_GetObjectItem(st, "recovery_steps"));
		if (n == 3)
			assert_string_equal(j_str(st, "state"), "failed");
		cJSON_Delete(st);
		if (n != 3)
			usleep(50000);
	}
	assert_int_equal(n, 3);
	assert_string_equal(wait_up(&w, &t, &new_boot, NULL, 0), "recovered");
	assert_true(new_boot);
	o = status(&q);
	assert_int_equal((int)j_num(cJSON_GetObjectItem(o, "faults"), "stall"), 1);
	cJSON_Delete(o);
	/* The log times the retry from its start: the stall was seconds before. */
	static char log[1 << 16];
	h_slurp_file(f->p.log, log, sizeof(log));
	assert_non_null(strstr(log, "recovered by remoteproc, "));
	assert_non_null(
		strstr(strstr(log, "recovered by remoteproc, "), " ms after the retry began"));
	tclient_close(&w);
	tclient_close(&q);
}

/* The budget spent: the retry of a failed channel is refused. The state says budget (not
 * the exhaustion before it) and the refused retry's own incident says why no step of its
 * own ran. */
static void test_budget_spent_said(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t;
	cJSON *inc;

	if (!f)
		skip();
	assert_int_equal(tclient_open(&w, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"STATE\",\"FAULT\"]}"),
			 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	wait_state(&w, "up", &t);
	sim_cmd(f, "stall\n");
	cJSON *o = tclient_wait_str(&w, "FAULT", "kind", "stall", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	assert_string_equal(wait_state(&w, "failed", &t), "exhausted");
	assert_string_equal(wait_state(&w, "failed", &t), "budget");
	/* the ladder's own incident has its steps; the refused retry's none */
	inc = NULL;
	for (int i = 0; i < 100 && !inc; i++) {
		cJSON *it;
		assert_int_equal(tclient_send(&q, "{\"cmd\":\"incidents\"}"), 0);
		o = tclient_wait(&q, "INCIDENTS", WAIT_MS);
		assert_non_null(o);
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "incidents"))
		{
			if (!inc && strcmp(j_str(it, "kind"), "retry") == 0 &&
			    strcmp(j_str(it, "outcome"), "failed") == 0 &&
			    cJSON_GetArraySize(cJSON_GetObjectItem(it, "steps")) == 0)
				inc = cJSON_Duplicate(it, 1);
		}
		cJSON_Delete(o);
		if (!inc)
			usleep(100000);
	}
	assert_non_null(inc);
	assert_string_equal(j_str(inc, "outcome"), "failed");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(inc, "steps")), 0);
	if (!strstr(j_str(inc, "detail"), "; no recovery: the recovery budget"))
		fail_msg("incident detail: %s", j_str(inc, "detail"));
	cJSON_Delete(inc);
	tclient_close(&w);
	tclient_close(&q);
}

/* An asserted M7 answers HELLO, so each resync "succeeds" while its port stays quiet: the
 * silence that comes again is a relapse, and each next ladder starts one step further
 * until the remoteproc step restarts it (docs/RECOVERY.md, "The firmware's own word"). */
static void test_assert_escalates(void **state)
{
	struct fx *f = *state;
	struct tclient w;
	uint64_t t, end;
	char steps[128] = "";

	if (!f)
		skip();
	assert_int_equal(tclient_open(&w, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"STATE\"]}"),
			 0);
	wait_state(&w, "up", &t);
	sim_cmd(f, "assert\n");
	end = h_now_ms() + 3 * WAIT_MS;
	while (h_now_ms() < end && !strstr(steps, "remoteproc")) {
		cJSON *o = tclient_wait_str(&w, "STATE", "state", "up", WAIT_MS);
		assert_non_null(o);
		const char *d = j_str(o, "detail");
		if (d && strcmp(j_str(o, "reason"), "recovered") == 0)
			snprintf(steps + strlen(steps), sizeof(steps) - strlen(steps), "%.*s ",
				 (int)strcspn(d, " "), d);
		cJSON_Delete(o);
	}
	print_message("ladders ended by: %s\n", steps);
	assert_string_equal(steps, "resync resync reopen remoteproc ");
	tclient_close(&w);
}

/* An M7 deaf to the mailbox (the usual cause of a vq 1 kick failure) goes on sending
 * its HEARTBEATs, but nothing the host sends arrives: those HEARTBEATs must not complete
 * resync, reopen or driver. The ladder walks on to remoteproc, each step failing within
 * its own timeout, and the incident says why each one failed. */
static void test_deaf_walks_on(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t, t_line, t_rec, t_up;
	bool new_boot;
	const char *kick = "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)";
	static const char *const want[] = {"resync", "reopen", "driver", "remoteproc"};
	cJSON *inc, *s;
	int n = 0;

	if (!f)
		skip();
	assert_int_equal(tclient_open(&w, f->p.sock, "{\"cmd\":\"watch\"}"), 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	wait_state(&w, "up", &t);
	/* Two HEARTBEATs: the daemon knows the firmware's host_frames count. */
	for (int i = 0; i < 2; i++) {
		cJSON *o = tclient_wait(&w, "HEARTBEAT", WAIT_MS);
		assert_non_null(o);
		cJSON_Delete(o);
	}
	sim_cmd(f, "deaf\n");
	t_line = h_now_ms();
	journal_line(f, kick);
	wait_state(&w, "recovering", &t_rec);
	/* The first `up` is the remoteproc step's: the restarted M7's HELLO (new boot). */
	assert_string_equal(wait_up(&w, &t_up, &new_boot, NULL, 0), "recovered");
	assert_true(new_boot);
	print_message("deaf M7: kernel line -> recovering %llu ms, -> up %llu ms\n",
		      (unsigned long long)(t_rec - t_line), (unsigned long long)(t_up - t_line));

	inc = wait_incident(&q, "kick_timeout");
	assert_string_equal(j_str(inc, "outcome"), "recovered");
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(inc, "steps"))
	{
		print_message("  step %-10s %-8s %5.0f ms\n", j_str(s, "action"),
			      j_str(s, "result"), j_num(s, "ms"));
		assert_true(n < 4);
		assert_string_equal(j_str(s, "action"), want[n]);
		assert_string_equal(j_str(s, "result"), n < 3 ? "timeout" : "ok");
		/* Why: HEARTBEATs came, the count of the host's frames did not move. The
		 * restarted M7 proved itself by its identity, not by a HEARTBEAT. */
		if (n < 3)
			assert_string_equal(j_str(s, "why"), "deaf");
		else
			assert_null(j_str(s, "why"));
		n++;
	}
	assert_int_equal(n, 4);
	cJSON_Delete(inc);
	tclient_close(&w);
	tclient_close(&q);
}

/* Opens a watcher w and a requester q, waits for the channel up and two HEARTBEATs, makes
 * the M7 deaf and sends it a frame it never takes (clock sync writes some too); *t_deaf:
 * when. The stall FAULT that follows. */
static cJSON *go_deaf(struct fx *f, struct tclient *w, struct tclient *q, uint64_t *t_deaf)
{
	uint64_t t;
	assert_int_equal(tclient_open(w, f->p.sock, "{\"cmd\":\"watch\"}"), 0);
	assert_int_equal(tclient_open(q, f->p.sock, NULL), 0);
	wait_state(w, "up", &t);
	for (int i = 0; i < 2; i++) {
		cJSON *o = tclient_wait(w, "HEARTBEAT", WAIT_MS);
		assert_non_null(o);
		cJSON_Delete(o);
	}
	sim_cmd(f, "deaf\n");
	assert_int_equal(tclient_send(q,
				      "{\"cmd\":\"send\",\"id\":1,\"port\":2,\"data\":\"aGVsbG8=\","
				      "\"channel\":\"m7\"}"),
			 0);
	*t_deaf = h_now_ms();
	cJSON *o = tclient_wait_str(w, "FAULT", "kind", "stall", WAIT_MS);
	assert_non_null(o);
	return o;
}

/* Without a kernel log a deaf M7 is liveness's to find: its periodic HEARTBEATs keep the
 * link from going quiet, but their host_frames stays still while the host writes. That
 * begins a probe; its PINGs unanswered, a `stall` (source liveness) starts the ladder. */
static void test_deaf_no_klog(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t_deaf, t_fault, t_rec, t_up;
	bool new_boot;
	cJSON *o;

	if (!f)
		skip();
	o = go_deaf(f, &w, &q, &t_deaf);
	t_fault = h_now_ms();
	assert_string_equal(j_str(o, "source"), "liveness");
	print_message("fault: %s\n", j_str(o, "detail"));
	assert_non_null(strstr(j_str(o, "detail"), "took none of the host's frames"));
	cJSON_Delete(o);
	wait_state(&w, "recovering", &t_rec);
	assert_string_equal(wait_up(&w, &t_up, &new_boot, NULL, 0), "recovered");
	assert_true(new_boot);
	print_message("deaf M7, no kernel log: send -> stall %llu ms, -> up %llu ms\n",
		      (unsigned long long)(t_fault - t_deaf), (unsigned long long)(t_up - t_deaf));
	tclient_close(&w);
	tclient_close(&q);
}

/* The deaf M7 found without a kernel log, a ladder that cannot cure it: `failed`, and
 * no further stall while it stays deaf. It takes the host's frames again: `up` (hello),
 * without waiting for the retry. */
static void test_deaf_no_klog_failed_then_back(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t;
	cJSON *o;
	const char *reason;
	char *txt;
	uint64_t t2;

	if (!f)
		skip();
	o = go_deaf(f, &w, &q, &t);
	cJSON_Delete(o);
	wait_state(&w, "failed", &t);
	/* Still deaf, the host still writing (clock sync): one stall per deaf spell. A
	 * second would come within 1 s (HEARTBEATs every 200 ms). */
	usleep(2000 * 1000);
	o = status(&q);
	txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "faults"));
	print_message("faults while failed: %s\n", txt ? txt : "?");
	free(txt);
	assert_int_equal((int)j_num(cJSON_GetObjectItem(o, "faults"), "stall"), 1);
	assert_string_equal(j_str(o, "state"), "failed");
	cJSON_Delete(o);
	sim_cmd(f, "resume\n");
	/* Long before the retry: a HEARTBEAT whose count moved. */
	reason = wait_state(&w, "up", &t2);
	print_message("failed -> up %llu ms (%s)\n", (unsigned long long)(t2 - t), reason);
	assert_string_equal(reason, "hello");
	tclient_close(&w);
	tclient_close(&q);
}

/* One deaf spell across the ladder's reopen: liveness, started again on the new tty, goes
 * on with the spell rather than from a clean slate, so it neither says it again nor stops
 * its PINGs: the failed channel sees the M7 hear again (`up`, hello) long before the retry.
 * Once the channel is up again, a new deaf spell is a new stall. */
static void test_deaf_one_stall_across_reopen(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t;
	cJSON *o;
	char *txt;

	if (!f)
		skip();
	o = go_deaf(f, &w, &q, &t);
	cJSON_Delete(o);
	wait_state(&w, "failed", &t);
	o = status(&q);
	txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "faults"));
	print_message("faults after the ladder: %s\n", txt ? txt : "?");
	free(txt);
	assert_int_equal((int)j_num(cJSON_GetObjectItem(o, "faults"), "stall"), 1);
	cJSON_Delete(o);
	sim_cmd(f, "resume\n");
	assert_string_equal(wait_state(&w, "up", &t), "hello");
	for (int i = 0; i < 2; i++) {
		o = tclient_wait(&w, "HEARTBEAT", WAIT_MS);
		assert_non_null(o);
		cJSON_Delete(o);
	}
	sim_cmd(f, "deaf\n");
	assert_int_equal(tclient_send(&q,
				      "{\"cmd\":\"send\",\"id\":2,\"port\":2,\"data\":\"aGVsbG8=\","
				      "\"channel\":\"m7\"}"),
			 0);
	o = tclient_wait_str(&w, "FAULT", "kind", "stall", WAIT_MS);
	assert_non_null(o);
	assert_int_equal((int)j_num(o, "count"), 2);
	cJSON_Delete(o);
	tclient_close(&w);
	tclient_close(&q);
}

/* One fault, one stall: an M7 that went silent is the fault the ladder handles; its
 * reopen step starts liveness again on the new tty, which finds the M7 still silent. That
 * is not raised again (the incident's `stalls` counts it), while the channel is
 * recovering nor once it is failed; the M7 back, the channel is `up`. */
static void test_silent_one_stall_across_reopen(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t;
	cJSON *o;
	char *txt;

	if (!f)
		skip();
	assert_int_equal(tclient_open(&w, f->p.sock, "{\"cmd\":\"watch\"}"), 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	wait_state(&w, "up", &t);
	sim_cmd(f, "stall\n");
	o = tclient_wait_str(&w, "FAULT", "kind", "stall", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	wait_state(&w, "failed", &t);
	o = status(&q);
	txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "faults"));
	print_message("faults after the ladder: %s\n", txt ? txt : "?");
	free(txt);
	assert_int_equal((int)j_num(cJSON_GetObjectItem(o, "faults"), "stall"), 1);
	cJSON_Delete(o);
	sim_cmd(f, "resume\n");
	wait_state(&w, "up", &t);
	o = status(&q);
	assert_int_equal((int)j_num(cJSON_GetObjectItem(o, "faults"), "stall"), 1);
	cJSON_Delete(o);
	tclient_close(&w);
	tclient_close(&q);
}

/* The deaf M7 failed, then a SIGHUP that changes the ladder: the supervision set up anew
 * goes on with the deaf spell (its PINGs), so the M7 that hears again still brings the
 * channel `up` (hello) long before the retry, and the stall is not said again. */
static void test_deaf_failed_sighup_then_back(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t, t2;
	char conf[8192], *at;
	int n = 0;
	cJSON *o;

	if (!f)
		skip();
	o = go_deaf(f, &w, &q, &t);
	cJSON_Delete(o);
	wait_state(&w, "failed", &t);
	h_slurp_file(f->p.conf, conf, sizeof(conf));
	at = strstr(conf, "recovery_steps = resync\n");
	assert_non_null(at);
	at += strlen("recovery_steps = resync");
	memmove(at + 7, at, strlen(at) + 1);
	memcpy(at, ",reopen", 7);
	assert_int_equal(h_put_file(f->p.conf, conf), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	for (int i = 0; i < 100 && n != 2; i++) {
		o = status(&q);
		n = cJSON_GetArraySize(cJSON_GetObjectItem(o, "recovery_steps"));
		cJSON_Delete(o);
		if (n != 2)
			usleep(50000);
	}
	assert_int_equal(n, 2);
	/* Longer than the deaf watch takes (HEARTBEATs every 200 ms, probe 600 ms). */
	usleep(2000 * 1000);
	sim_cmd(f, "resume\n");
	const char *reason = wait_state(&w, "up", &t2);
	print_message("failed, SIGHUP -> up %llu ms after the failure (%s)\n",
		      (unsigned long long)(t2 - t), reason);
	assert_string_equal(reason, "hello");
	o = status(&q);
	assert_int_equal((int)j_num(cJSON_GetObjectItem(o, "faults"), "stall"), 1);
	cJSON_Delete(o);
	tclient_close(&w);
	tclient_close(&q);
}

/* Failed, the M7 still deaf, and its tty goes away and comes back: the M7 says HELLO on
 * the new link, which brings the channel `up` (hello). Still deaf: once the host writes
 * to it, that is a new fault, a second stall. */
static void test_deaf_up_again_is_a_new_stall(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t;
	cJSON *o;

	if (!f)
		skip();
	o = go_deaf(f, &w, &q, &t);
	cJSON_Delete(o);
	wait_state(&w, "failed", &t);
	sim_cmd(f, "hangup 300\n");
	assert_string_equal(wait_state(&w, "up", &t), "hello");
	assert_int_equal(tclient_send(&q,
				      "{\"cmd\":\"send\",\"id\":2,\"port\":2,\"data\":\"aGVsbG8=\","
				      "\"channel\":\"m7\"}"),
			 0);
	o = tclient_wait_str(&w, "FAULT", "kind", "stall", WAIT_MS);
	assert_non_null(o);
	assert_int_equal((int)j_num(o, "count"), 2);
	cJSON_Delete(o);
	tclient_close(&w);
	tclient_close(&q);
}

/* While the ladder runs the channel is `recovering`, whatever its steps meet: a reopen
 * that finds no device node fails the step, it does not publish the channel `down`. */
static void test_no_down_while_recovering(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t, end;
	char seen[512] = "";
	bool up = false;

	if (!f)
		skip();
	assert_int_equal(tclient_open(&w, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"STATE\"]}"),
			 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	wait_state(&w, "up", &t);
	/* The node goes away and stays away (until the remoteproc step's swap). */
	sim_cmd(f, "vanish 0\n");
	wait_state(&w, "down", &t);
	assert_int_equal(
		tclient_send(&q, "{\"cmd\":\"recover\",\"channel\":\"m7\",\"action\":\"reopen\"}"),
		0);
	wait_state(&w, "recovering", &t);
	end = h_now_ms() + WAIT_MS;
	while (!up && h_now_ms() < end) {
		cJSON *o = tclient_wait(&w, "STATE", (int)(end - h_now_ms()));
		assert_non_null(o);
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s(%s) ",
			 j_str(o, "state"), j_str(o, "reason"));
		up = strcmp(j_str(o, "state"), "up") == 0;
		cJSON_Delete(o);
	}
	print_message("after recovering: %s\n", seen);
	assert_true(up);
	assert_null(strstr(seen, "down("));
	tclient_close(&w);
	tclient_close(&q);
}

/* An open that fails for another reason than a missing node fails the step; the channel
 * stays `recovering`, never `down`. ELOOP: the node is a symlink to itself. EBUSY: the
 * node is a pty someone else holds locked (as a second daemon would). */
static void open_error_stays_recovering(struct fx *f, bool busy)
{
	struct tclient w, q;
	uint64_t t, end;
	char seen[512] = "";
	bool up = false;
	int ptm = -1, pts = -1;

	assert_int_equal(tclient_open(&w, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"STATE\"]}"),
			 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	wait_state(&w, "up", &t);
	sim_cmd(f, "vanish 0\n");
	wait_state(&w, "down", &t);
	/* Until the remoteproc step's swap renames a new node over it. */
	if (busy) {
		ptm = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		assert_true(ptm >= 0);
		assert_int_equal(grantpt(ptm), 0);
		assert_int_equal(unlockpt(ptm), 0);
		pts = open(ptsname(ptm), O_RDWR | O_NOCTTY | O_CLOEXEC);
		assert_true(pts >= 0);
		assert_int_equal(flock(pts, LOCK_EX | LOCK_NB), 0);
		assert_int_equal(symlink(ptsname(ptm), f->link), 0);
	} else {
		assert_int_equal(symlink("ttyRPMSG30", f->link), 0);
	}
	assert_int_equal(
		tclient_send(&q, "{\"cmd\":\"recover\",\"channel\":\"m7\",\"action\":\"reopen\"}"),
		0);
	wait_state(&w, "recovering", &t);
	end = h_now_ms() + WAIT_MS;
	while (!up && h_now_ms() < end) {
		cJSON *o = tclient_wait(&w, "STATE", (int)(end - h_now_ms()));
		assert_non_null(o);
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s(%s) ",
			 j_str(o, "state"), j_str(o, "reason"));
		up = strcmp(j_str(o, "state"), "up") == 0;
		cJSON_Delete(o);
	}
	print_message("after recovering: %s\n", seen);
	if (pts >= 0)
		close(pts);
	if (ptm >= 0)
		close(ptm);
	assert_true(up);
	assert_null(strstr(seen, "down("));
	assert_non_null(strstr(seen, busy ? "recovering(busy)" : "recovering(open_failed)"));
	tclient_close(&w);
	tclient_close(&q);
}

static void test_open_error_stays_recovering(void **state)
{
	if (!*state)
		skip();
	open_error_stays_recovering(*state, false);
}

static void test_open_busy_stays_recovering(void **state)
{
	if (!*state)
		skip();
	open_error_stays_recovering(*state, true);
}

/* The M7 logs, then hangs: the incident holds its last LOG lines from the trace ring. */
static void test_stall_last_words(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	uint64_t t;
	char *text = NULL;
	cJSON *inc = NULL, *o, *it;

	if (!f)
		skip();
	assert_int_equal(tclient_open(&w, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"STATE\"]}"),
			 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	wait_state(&w, "up", &t);
	sim_cmd(f, "log 4 pump pressure high\n");
	sim_cmd(f, "log 2 watchdog about to starve\n");
	usleep(100000);
	sim_cmd(f, "stall\n");
	wait_state(&w, "failed", &t);
	for (int i = 0; i < 100 && !inc; i++) {
		assert_int_equal(tclient_send(&q, "{\"cmd\":\"incidents\"}"), 0);
		o = tclient_wait(&q, "INCIDENTS", WAIT_MS);
		assert_non_null(o);
		cJSON_ArrayForEach(
			it, cJSON_GetObjectItem(o, "incidents")) if (j_str(it, "file") &&
								     strcmp(j_str(it, "outcome"),
									    "failed") == 0) inc =
			cJSON_Duplicate(it, 1);
		cJSON_Delete(o);
		if (!inc)
			usleep(100000);
	}
	assert_non_null(inc);
	/* The list (what `m7bridgectl incidents` prints) carries the newest lines too. */
	cJSON *words = cJSON_GetObjectItem(inc, "last_words");
	assert_true(cJSON_GetArraySize(words) >= 1);
	assert_string_equal(
		cJSON_GetStringValue(cJSON_GetArrayItem(words, cJSON_GetArraySize(words) - 1)),
		"watchdog about to starve");
	text = calloc(1, 1 << 20);
	assert_non_null(text);
	h_slurp_file(j_str(inc, "file"), text, 1 << 20);
	cJSON_Delete(inc);
	o = cJSON_Parse(text);
	free(text);
	assert_non_null(o);
	cJSON *trace = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "evidence"), "trace");
	cJSON *lines = cJSON_GetObjectItem(trace, "lines");
	int n = cJSON_GetArraySize(lines);
	assert_true(n >= 2);
	/* Oldest first: the newest line is the last thing the M7 said before it hung. */
	bool pump = false;
	cJSON_ArrayForEach(it, lines) pump |= strcmp(j_str(it, "text"), "pump pressure high") == 0;
	assert_true(pump);
	assert_string_equal(j_str(cJSON_GetArrayItem(lines, n - 1), "text"),
			    "watchdog about to starve");
	assert_int_equal((int)j_num(cJSON_GetArrayItem(lines, n - 1), "level"), 2);
	print_message("incident trace: %d line(s), last: %s\n", n,
		      j_str(cJSON_GetArrayItem(lines, n - 1), "text"));
	/* m7bridgectl incidents prints them under the incident. */
	char cmd[1024], out[4096] = "";
	const char *root = getenv("M7B_BUILD_ROOT");
	snprintf(cmd, sizeof(cmd), "%s/tools/m7bridgectl -s '%s' incidents", root ? root : ".",
		 f->p.sock);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	out[fread(out, 1, sizeof(out) - 1, p)] = '\0';
	assert_int_equal(pclose(p), 0);
	print_message("%s", out);
	assert_non_null(strstr(out, "\n     M7: watchdog about to starve\n"));
	cJSON_Delete(o);
	tclient_close(&w);
	tclient_close(&q);
}

/* The daemon as `user` (the test's own user: no root needed) with its privileged helper
 * as a second process over the socketpair: the firmware reload (set firmware, stop,
 * start) and each recovery step go through it, the driver command runs as the helper's
 * child, a SIGHUP reads the file through the helper. As root with `user = m7bridge` the
 * daemon would also have dropped its uid; test_units checks the unit for that. */
static int setup_privsep(void **state)
{
	char extra[256];
	struct passwd *pw = getpwuid(geteuid());
	strcpy(ppid_dir, "/tmp/m7b-ppid-XXXXXX");
	if (!pw || !mkdtemp(ppid_dir))
		return -1;
	snprintf(driver_cmd, sizeof(driver_cmd), "echo $PPID > %s/driver.ppid; " DRIVER_SAYS,
		 ppid_dir);
	/* As root, the test's own user is uid 0: said on purpose. */
	snprintf(extra, sizeof(extra), "allow_uids = %u\nuser = %s%s", (unsigned)getuid(),
		 pw->pw_name, pw->pw_uid == 0 ? "\nallow_root_user = true" : "");
	return setup_common(state, extra, "resync,reopen,driver,remoteproc,hook");
}

static void test_privsep(void **state)
{
	struct fx *f = *state;
	char path[450], text[64];

	if (!f)
		skip();
	/* The daemon may be ready before its helper has named itself: look for a while. */
	pid_t helper = 0;
	for (int i = 0; i < 250 && !(helper = h_helper_of(f->p.pid)); i++)
		usleep(20000);
	print_message("daemon %d, privileged helper %d\n", (int)f->p.pid, (int)helper);
	assert_true(helper > 0);
	test_reload(state); /* reload and every recovery step, through the helper */
	/* The driver command was the helper's child, not the daemon's. */
	snprintf(path, sizeof(path), "%s/driver.ppid", ppid_dir);
	h_slurp_file(path, text, sizeof(text));
	assert_int_equal(atoi(text), helper);
	unlink(path);
	rmdir(ppid_dir);
	/* SIGHUP: the helper reads the file for both, takes that reading and stays; the incident directory,
	 * made writable by others meanwhile, is checked again and refused. */
	assert_int_equal(chmod(f->incidents, 0777), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	usleep(300000);
	assert_int_equal(h_helper_of(f->p.pid), helper);
	static char log[1 << 20];
	h_slurp_file(f->p.log, log, sizeof(log));
	assert_non_null(strstr(log, "/incidents refused: it must be owned by uid"));
	assert_non_null(strstr(log, "configuration reloaded"));
	assert_null(strstr(log, "did not take the new configuration"));
	assert_int_equal(chmod(f->incidents, 0750), 0);
	strcpy(driver_cmd, DRIVER_SAYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kick_then_stall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deaf_walks_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deaf_no_klog, setup_no_klog, teardown),
		cmocka_unit_test_setup_teardown(test_deaf_no_klog_failed_then_back,
						setup_no_klog_resync, teardown),
		cmocka_unit_test_setup_teardown(test_deaf_one_stall_across_reopen,
						setup_no_klog_long_reopen, teardown),
		cmocka_unit_test_setup_teardown(test_silent_one_stall_across_reopen,
						setup_no_klog_long_reopen, teardown),
		cmocka_unit_test_setup_teardown(test_deaf_failed_sighup_then_back,
						setup_no_klog_resync, teardown),
		cmocka_unit_test_setup_teardown(test_deaf_up_again_is_a_new_stall,
						setup_no_klog_resync, teardown),
		cmocka_unit_test_setup_teardown(test_no_down_while_recovering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_error_stays_recovering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_busy_stays_recovering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_ladders_one_incident, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forbidden, setup_forbidden, teardown),
		cmocka_unit_test_setup_teardown(test_failed_then_back, setup_resync_only, teardown),
		cmocka_unit_test_setup_teardown(test_sighup_while_failed, setup_resync_reopen,
						teardown),
		cmocka_unit_test_setup_teardown(test_budget_spent_said, setup_budget_one, teardown),
		cmocka_unit_test_setup_teardown(test_assert_escalates, setup_expect_rate, teardown),
		cmocka_unit_test_setup_teardown(test_stall_last_words, setup_resync_only, teardown),
		cmocka_unit_test_setup_teardown(test_privsep, setup_privsep, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	if (getenv("M7B_TEST_FILTER")) /* e.g. "test_deaf*" to run one */
		cmocka_set_test_filter(getenv("M7B_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
