/* Verified firmware reload end to end: m7bridged, m7sim as the kernel behind a fake
 * remoteproc tree (--remoteproc) coming up as a good, wrong or broken image per firmware
 * name, kernel lines through a kmsg FIFO. Every branch: verified, wrong identity, no
 * HELLO, HELLO then silence, kick failures in probation, --no-rollback, a rollback that
 * fails; the last good image survives a daemon restart. Prints reload-to-verified times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <pwd.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "daemon_harness.h"
#include "elfinfo.h"

#define WAIT_MS 30000 /* generous: ASan, two loaded cores */

struct fx {
	struct daemon_proc p;
	char link[300], rp[300], fwdir[300], state[300], kmsg[300], ctl[300], conf[2048];
	char sim_id[2 * ELFINFO_BUILD_ID_MAX + 1]; /* m7sim's own build id: the good images' */
	pid_t sim;
};

/* Firmware files: m7sim's own ELF under each name, so each carries m7sim's build id. */
static void firmware_files(struct fx *f)
{
	static const char *const names[] = {"good.elf",	   "app2.elf",	 "app3.elf", "wrong.elf",
					    "nohello.elf", "silent.elf", "kick.elf"};
	char path[400];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->fwdir, names[i]);
		assert_int_equal(symlink(h_sim_path(), path), 0);
	}
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int st;

	if (!f)
		return 0;
	st = daemon_proc_stop(&f->p);
	h_reap(&f->sim);
	h_cleanup(&f->p);
	free(f);
	return st == 0 ? 0 : -1;
}

/* reload_probation_ms of the next setup. */
static unsigned probation_ms = 800;
/* Daemon keys of the next setup (the privileged helper's). */
static const char *daemon_extra = "";

/* good_name: a last good image to record before the daemon starts, with m7sim's build
 * id, as its file holds it ("" = none); ladder: the channel's recovery keys. */
static int setup_with(void **state, const char *good_name, const char *ladder)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[400], out[400];
	struct elfinfo *e = malloc(sizeof(*e));

	*state = NULL;
	if (!f || !e || access(h_sim_path(), X_OK) != 0 || elfinfo_load(h_sim_path(), e) < 0 ||
	    e->build_id_len == 0) {
		free(f);
		free(e);
		return 0; /* tests skip */
	}
	elfinfo_build_id_hex(e, f->sim_id, sizeof(f->sim_id));
	free(e);
	if (h_tmpdir(&f->p) < 0) {
		free(f);
		return -1;
	}
	snprintf(f->link, sizeof(f->link), "%s/ttyRPMSG30", f->p.dir);
	snprintf(f->fwdir, sizeof(f->fwdir), "%s/firmware", f->p.dir);
	snprintf(f->state, sizeof(f->state), "%s/state", f->p.dir);
	snprintf(f->kmsg, sizeof(f->kmsg), "%s/kmsg", f->p.dir);
	snprintf(f->ctl, sizeof(f->ctl), "%s/m7sim.ctl", f->p.dir);
	static const char *const extra[] = {"firmware", "state", NULL};
	assert_int_equal(h_fake_rproc_tree(f->p.dir, "good.elf\n", extra), 0);
	snprintf(f->rp, sizeof(f->rp), "%s/sys/class/remoteproc/remoteproc0", f->p.dir);
	firmware_files(f);
	assert_int_equal(mkfifo(f->kmsg, 0644), 0);
	if (good_name[0]) {
		char rec[400];
		snprintf(path, sizeof(path), "%s/%s", f->fwdir, good_name);
		assert_true(symlink(h_sim_path(), path) == 0 || errno == EEXIST);
		snprintf(path, sizeof(path), "%s/firmware-good-m7", f->state);
		snprintf(rec, sizeof(rec), "%s %s\n", good_name, f->sim_id);
		assert_int_equal(h_put_file(path, rec), 0);
	}

	pid_t pid = fork();
	if (pid == 0) {
		snprintf(out, sizeof(out), "%s/m7sim.log", f->p.dir);
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(h_sim_path(), "m7sim", "--link", f->link, "--ctl", f->ctl, "--remoteproc",
		      f->rp, "--kmsg", f->kmsg, "--heartbeat-ms", "100", "--firmware",
		      "wrong.elf=good,build-id=ffee", "--firmware", "nohello.elf=no-hello",
		      "--firmware", "silent.elf=silent", "--firmware", "kick.elf=kick-fail",
		      "--firmware", "broken.elf=no-hello", (char *)NULL);
		_exit(127);
	}
	f->sim = pid;
	for (int i = 0; i < 2000 && (access(f->link, F_OK) != 0 || access(f->ctl, F_OK) != 0); i++)
		usleep(5000);
	snprintf(f->conf, sizeof(f->conf),
		 "%sallow_uids = %u\nkernel_log = kmsg\nkmsg_path = %s\nsysfs_root = %s/sys\n"
		 "firmware_dir = %s\nstate_dir = %s\nincident_dir = %s/incidents\n"
		 "[channel m7]\ndevice = %s\nremoteproc = imx-rproc\n"
		 "reopen_min_ms = 20\nreopen_max_ms = 200\n%s"
		 "recovery_backoff_ms = 60000\nreload_timeout_ms = 3000\n"
		 "reload_probation_ms = %u\nliveness_quiet_ms = 3000\nliveness_answer_ms = 300\n"
		 "down_grace_ms = 0\n",
		 daemon_extra, (unsigned)getuid(), f->kmsg, f->p.dir, f->fwdir, f->state, f->p.dir,
		 f->link, ladder, probation_ms);
	*state = f;
	if (access(f->link, F_OK) != 0 || daemon_proc_start(&f->p, f->conf) < 0) {
		(void)teardown(state);
		*state = NULL;
		return -1;
	}
	return 0;
}

static int setup(void **state)
{
	daemon_extra = "";
	probation_ms = 800;
	return setup_with(state, "", "recovery_steps = resync\n");
}

/* A probation that outlasts the test: a reload stays in it. */
static int setup_long_probation(void **state)
{
	probation_ms = 600000;
	return setup_with(state, "", "recovery_steps = resync\n");
}

/* The last good image is one that comes up broken (m7sim: no HELLO). */
static int setup_broken_good(void **state)
{
	return setup_with(state, "broken.elf", "recovery_steps = resync\n");
}

/* Reads STATE objects until one of st_end; returns the sequence of the states that tell
 * the story ("reloading:reload rolled_back:silent up:rollback"), repeats dropped, and the
 * detail of the last rolled_back, failed or unverified one. */
static void read_states(struct tclient *w, const char *end1, const char *end2, char *seq,
			size_t cap, char *detail, size_t dcap)
{
	uint64_t end = h_now_ms() + WAIT_MS;
	char last[96] = "";

	seq[0] = '\0';
	detail[0] = '\0';
	while (h_now_ms() < end) {
		cJSON *o = tclient_wait(w, "STATE", (int)(end - h_now_ms()));
		char item[96];

		if (!o)
			break;
		const char *st = j_str(o, "state"), *why = j_str(o, "reason");
		snprintf(item, sizeof(item), "%s:%s", st, why ? why : "");
		if ((strcmp(st, "reloading") == 0 || strcmp(st, "rolled_back") == 0 ||
		     strcmp(st, "up") == 0 || strcmp(st, "failed") == 0) &&
		    strcmp(item, last) != 0) {
			snprintf(seq + strlen(seq), cap - strlen(seq), "%s%s", seq[0] ? " " : "",
				 item);
			snprintf(last, sizeof(last), "%s", item);
		}
		if ((strcmp(st, "rolled_back") == 0 || strcmp(st, "failed") == 0 ||
		     strcmp(why ? why : "", "unverified") == 0) &&
		    j_str(o, "detail"))
			snprintf(detail, dcap, "%s", j_str(o, "detail"));
		bool done = strcmp(st, end1) == 0 || (end2 && strcmp(st, end2) == 0);
		cJSON_Delete(o);
		if (done)
			return;
	}
	fail_msg("no STATE %s within %d ms (so far: %s)", end1, WAIT_MS, seq);
}

static void open_clients(struct fx *f, struct tclient *w, struct tclient *q)
{
	cJSON *o;

	assert_int_equal(tclient_open(w, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"STATE\"]}"),
			 0);
	assert_int_equal(tclient_open(q, f->p.sock, NULL), 0);
	o = tclient_wait_str(w, "STATE", "state", "up", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
}

static void reload(struct tclient *q, const char *fw, bool no_rollback)
{
	char line[200];
	cJSON *o;

	snprintf(line, sizeof(line),
		 "{\"cmd\":\"reload\",\"id\":1,\"channel\":\"m7\",\"firmware\":\"%s\"%s}", fw,
		 no_rollback ? ",\"no_rollback\":true" : "");
	assert_int_equal(tclient_send(q, line), 0);
	o = tclient_obj(q, WAIT_MS);
	assert_non_null(o);
	if (strcmp(j_str(o, "class"), "ACK") != 0)
		fail_msg("reload %s: %s %s", fw, j_str(o, "code"), j_str(o, "message"));
	cJSON_Delete(o);
}

static void rproc_firmware(struct fx *f, char *buf, size_t cap)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/firmware", f->rp);
	h_slurp_file(path, buf, cap);
	buf[strcspn(buf, "\n")] = '\0';
}

/* The newest incident summary once it is closed. */
static cJSON *last_incident(struct tclient *q)
{
	for (int i = 0; i < 100; i++) {
		cJSON *o, *it, *found = NULL;
		assert_int_equal(tclient_send(q, "{\"cmd\":\"incidents\"}"), 0);
		o = tclient_wait(q, "INCIDENTS", WAIT_MS);
		assert_non_null(o);
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "incidents"))
		{
			if (strcmp(j_str(it, "outcome"), "open") != 0)
				found = it;
		}
		if (found) {
			found = cJSON_Duplicate(found, 1);
			cJSON_Delete(o);
			return found;
		}
		cJSON_Delete(o);
		usleep(100000); /* closes 2 s after the outcome */
	}
	fail_msg("no closed incident");
	return NULL;
}

/* One broken image: rolled back to good.elf with the reason; returns the detail. */
static void broken_image(void **state, const char *fw, const char *reason, const char *in_detail)
{
	struct fx *f = *state;
	struct tclient w, q;
	char seq[512], detail[256], want[256], cur[64];
	uint64_t t0;

	if (!f)
		skip();
	open_clients(f, &w, &q);
	t0 = h_now_ms();
	reload(&q, fw, false);
	read_states(&w, "up", "failed", seq, sizeof(seq), detail, sizeof(detail));
	snprintf(want, sizeof(want),
		 "reloading:reload reloading:rollback rolled_back:%s up:rollback", reason);
	assert_string_equal(seq, want);
	print_message("%s: request -> rolled back (%s) %llu ms: %s\n", fw, reason,
		      (unsigned long long)(h_now_ms() - t0), detail);
	assert_non_null(strstr(detail, in_detail));
	rproc_firmware(f, cur, sizeof(cur));
	assert_string_equal(cur, "good.elf");
	/* The incident names both identities and the reason. */
	cJSON *inc = last_incident(&q);
	assert_string_equal(j_str(inc, "outcome"), "rolled_back");
	assert_non_null(strstr(j_str(inc, "detail"), reason));
	/* Its steps: the reload that failed, then the rollback (docs/RECOVERY.md 4.2). */
	const cJSON *steps = cJSON_GetObjectItem(inc, "steps");
	assert_int_equal(cJSON_GetArraySize(steps), 2);
	assert_string_equal(j_str(cJSON_GetArrayItem(steps, 0), "action"), "reload");
	assert_string_equal(j_str(cJSON_GetArrayItem(steps, 0), "result"), "failed");
	assert_string_equal(j_str(cJSON_GetArrayItem(steps, 1), "action"), "rollback");
	assert_string_equal(j_str(cJSON_GetArrayItem(steps, 1), "result"), "ok");
	cJSON_Delete(inc);
	tclient_close(&w);
	tclient_close(&q);
}

/* A reload of fw is refused, in words naming the last good image good (and in_msg),
 * because it could not be rolled back to: nothing is stopped. */
static void refused_for_rollback(struct tclient *w, struct tclient *q, const char *fw,
				 const char *good, const char *in_msg)
{
	char line[200];
	cJSON *o;

	snprintf(line, sizeof(line), "{\"cmd\":\"reload\",\"channel\":\"m7\",\"firmware\":\"%s\"}",
		 fw);
	assert_int_equal(tclient_send(q, line), 0);
	o = tclient_obj(q, WAIT_MS);
	assert_non_null(o);
	if (strcmp(j_str(o, "class"), "ERROR") != 0)
		fail_msg("reload %s with %s unusable: %s, want ERROR", fw, good, j_str(o, "class"));
	assert_string_equal(j_str(o, "code"), "bad_value");
	const char *msg = j_str(o, "message");
	if (!strstr(msg, "cannot roll back") || !strstr(msg, good) || !strstr(msg, in_msg) ||
	    !strstr(msg, "no_rollback"))
		fail_msg("reload %s: '%s'", fw, msg);
	cJSON_Delete(o);
	assert_null(tclient_wait_str(w, "STATE", "state", "reloading", 300));
}

static void test_good_then_restart(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char seq[512], detail[256], rec[256], want[256], path[400], cur[64];
	uint64_t t0, t_up;

	if (!f)
		skip();
	open_clients(f, &w, &q);
	/* The running image matches its file: it becomes the first good record. */
	snprintf(path, sizeof(path), "%s/firmware-good-m7", f->state);
	snprintf(want, sizeof(want), "good.elf %s\n", f->sim_id);
	for (int i = 0; i < 500 && (h_slurp_file(path, rec, sizeof(rec)), strcmp(rec, want) != 0);
	     i++)
		usleep(10000);
	assert_string_equal(rec, want);

	t0 = h_now_ms();
	reload(&q, "app2.elf", false);
	read_states(&w, "up", "failed", seq, sizeof(seq), detail, sizeof(detail));
	t_up = h_now_ms();
	assert_string_equal(seq, "reloading:reload up:reload");
	print_message("good image: request -> verified (probation 800 ms) %llu ms\n",
		      (unsigned long long)(t_up - t0));
	/* No firmware configured: the reload's line says so. */
	snprintf(want, sizeof(want), "app2.elf %s\nreloaded\n", f->sim_id);
	h_slurp_file(path, rec, sizeof(rec));
	assert_string_equal(rec, want);
	tclient_close(&w);
	tclient_close(&q);

	/* Restart the daemon. The file app2.elf now holds another build: only the record
	 * kept across the restart can say what good app2.elf was, and a reload that could
	 * not be rolled back to it is refused before anything stops. */
	assert_int_equal(daemon_proc_stop(&f->p), 0);
	snprintf(path, sizeof(path), "%s/app2.elf", f->fwdir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(h_daemon_path(), path), 0);
	assert_int_equal(daemon_proc_start(&f->p, f->conf), 0);
	open_clients(f, &w, &q);
	refused_for_rollback(&w, &q, "wrong.elf", "app2.elf", f->sim_id);
	/* Back as it was verified: the rollback to it goes through. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(h_sim_path(), path), 0);
	reload(&q, "wrong.elf", false);
	read_states(&w, "up", "failed", seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(
		seq, "reloading:reload reloading:rollback rolled_back:wrong_identity up:rollback");
	rproc_firmware(f, cur, sizeof(cur));
	assert_string_equal(cur, "app2.elf");
	tclient_close(&w);
	tclient_close(&q);
}

static void test_wrong_identity(void **state)
{
	struct fx *f = *state;

	broken_image(state, "wrong.elf", "wrong_identity", "got ffee");
	if (f)
		assert_non_null(f->sim_id[0] ? f->sim_id : NULL);
}

static void test_no_hello(void **state)
{
	broken_image(state, "nohello.elf", "no_hello", "got nothing");
}

static void test_silent(void **state)
{
	broken_image(state, "silent.elf", "silent", "silent");
}

static void test_kick_failures(void **state)
{
	broken_image(state, "kick.elf", "fault", "kick_timeout");
}

static void test_no_rollback(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char seq[512], detail[256], cur[64];

	if (!f)
		skip();
	open_clients(f, &w, &q);
	reload(&q, "wrong.elf", true);
	read_states(&w, "up", "failed", seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(seq, "reloading:reload up:unverified");
	assert_non_null(strstr(detail, "wrong_identity"));
	rproc_firmware(f, cur, sizeof(cur));
	assert_string_equal(cur, "wrong.elf");
	cJSON *inc = last_incident(&q);
	assert_string_equal(j_str(inc, "outcome"), "unverified");
	cJSON_Delete(inc);
	tclient_close(&w);
	tclient_close(&q);
}

static void test_rollback_fails(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char seq[512], detail[256], cur[64];
	cJSON *o;

	if (!f)
		skip();
	open_clients(f, &w, &q);
	reload(&q, "wrong.elf", false);
	read_states(&w, "failed", NULL, seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(seq, "reloading:reload reloading:rollback failed:rollback_failed");
	rproc_firmware(f, cur, sizeof(cur));
	assert_string_equal(cur, "broken.elf");
	/* No second rollback, no loop. */
	o = tclient_wait_str(&w, "STATE", "state", "reloading", 1500);
	assert_null(o);
	cJSON *inc = last_incident(&q);
	assert_string_equal(j_str(inc, "outcome"), "failed");
	assert_non_null(strstr(j_str(inc, "detail"), "wrong_identity"));
	cJSON_Delete(inc);
	tclient_close(&w);
	tclient_close(&q);
}

/* The ladder's remoteproc step with the channel's firmware coming up as another image. */
static int setup_ladder_wrong(void **state)
{
	return setup_with(
		state, "",
		"firmware = wrong.elf\nrecovery_steps = remoteproc\nremoteproc_tries = 1\n");
}

static void test_ladder_wrong_identity(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char seq[512], detail[256], cur[64], log[65536];
	cJSON *o;

	if (!f)
		skip();
	open_clients(f, &w, &q);
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"recover\",\"channel\":\"m7\","
					  "\"action\":\"remoteproc\"}"),
			 0);
	o = tclient_wait(&q, "ACK", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	read_states(&w, "failed", "up", seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(seq, "failed:exhausted");
	rproc_firmware(f, cur, sizeof(cur));
	assert_string_equal(cur, "wrong.elf");
	h_slurp_file(f->p.log, log, sizeof(log));
	assert_non_null(strstr(log, "remoteproc failed verification"));
	assert_non_null(strstr(log, "wrong.elf: wrong_identity"));
	tclient_close(&w);
	tclient_close(&q);
}

/* firmware = good.elf configured, the ladder down to its remoteproc step. */
static int setup_configured(void **state)
{
	probation_ms = 300;
	return setup_with(state, "",
			  "firmware = good.elf\nrecovery_steps = remoteproc\n"
			  "remoteproc_tries = 1\n");
}

/* The ladder's remoteproc step by hand; returns once the channel is up again. */
static void recover_remoteproc(struct fx *f, struct tclient *w, struct tclient *q)
{
	char seq[512], detail[256];
	cJSON *o;

	(void)f;
	assert_int_equal(tclient_send(q, "{\"cmd\":\"recover\",\"channel\":\"m7\","
					 "\"action\":\"remoteproc\"}"),
			 0);
	o = tclient_wait(q, "ACK", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	read_states(w, "up", "failed", seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(seq, "up:recovered");
}

static void reload_ok(struct fx *f, const char *fw)
{
	struct tclient w, q;
	char seq[512], detail[256];

	open_clients(f, &w, &q);
	reload(&q, fw, false);
	read_states(&w, "up", "failed", seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(seq, "reloading:reload up:reload");
	/* Its incident closes 2 s later; a SIGHUP before that waits for the next one. */
	for (int open = 1, i = 0; open && i < 100; i++) {
		cJSON *o, *it;
		assert_int_equal(tclient_send(&q, "{\"cmd\":\"incidents\"}"), 0);
		o = tclient_wait(&q, "INCIDENTS", WAIT_MS);
		assert_non_null(o);
		open = 0;
		cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "incidents"))
		{
			open |= strcmp(j_str(it, "outcome"), "open") == 0;
		}
		cJSON_Delete(o);
		if (open)
			usleep(100000);
	}
	tclient_close(&w);
	tclient_close(&q);
}

/* The channel's last good record reads want. */
static void good_record_is(struct fx *f, const char *want)
{
	char path[400], rec[512];

	snprintf(path, sizeof(path), "%s/firmware-good-m7", f->state);
	h_slurp_file(path, rec, sizeof(rec));
	assert_string_equal(rec, want);
}

/* The ladder's remoteproc step, asked for, loads fw. */
static void recovery_loads(struct fx *f, const char *fw)
{
	struct tclient w, q;
	char cur[64];

	open_clients(f, &w, &q);
	recover_remoteproc(f, &w, &q);
	rproc_firmware(f, cur, sizeof(cur));
	assert_string_equal(cur, fw);
	tclient_close(&w);
	tclient_close(&q);
}

/* A verified reload is what the ladder brings back, not the configured firmware: in
 * this daemon and, the record saying so, in the next one. */
static void test_reloaded_image_survives_recovery(void **state)
{
	struct fx *f = *state;
	char want[512];

	if (!f)
		skip();
	reload_ok(f, "app2.elf");
	snprintf(want, sizeof(want), "app2.elf %s\nreloaded good.elf\n", f->sim_id);
	good_record_is(f, want);
	recovery_loads(f, "app2.elf");
	/* Verified again, and still the reload's image. */
	good_record_is(f, want);

	assert_int_equal(daemon_proc_stop(&f->p), 0);
	assert_int_equal(daemon_proc_start(&f->p, f->conf), 0);
	recovery_loads(f, "app2.elf");
}

/* The reloaded image's file is deleted: the ladder loads the configured one, which,
 * verified, is the last good image from then on. */
static void test_reloaded_image_deleted(void **state)
{
	struct fx *f = *state;
	char path[400], log[1 << 16], want[256];

	if (!f)
		skip();
	reload_ok(f, "app2.elf");
	snprintf(path, sizeof(path), "%s/app2.elf", f->fwdir);
	assert_int_equal(unlink(path), 0);
	recovery_loads(f, "good.elf");
	h_slurp_file(f->p.log, log, sizeof(log));
	assert_non_null(strstr(log, "reloaded firmware app2.elf is no longer under"));

	/* good.elf, verified, is the last good image now: the file coming back changes
	 * nothing. */
	snprintf(want, sizeof(want), "good.elf %s\n", f->sim_id);
	good_record_is(f, want);
	assert_int_equal(symlink(h_sim_path(), path), 0);
	recovery_loads(f, "good.elf");
}

/* The last good image's file is gone: a reload is refused before anything stops, as a
 * failed one could not be rolled back; with no_rollback it goes on. */
static void test_rollback_target_gone(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char path[400], seq[512], detail[256];

	if (!f)
		skip();
	reload_ok(f, "app2.elf");
	snprintf(path, sizeof(path), "%s/app2.elf", f->fwdir);
	assert_int_equal(unlink(path), 0);
	open_clients(f, &w, &q);
	refused_for_rollback(&w, &q, "nohello.elf", "app2.elf", "No such file");
	reload(&q, "good.elf", true);
	read_states(&w, "up", "failed", seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(seq, "reloading:reload up:reload");
	tclient_close(&w);
	tclient_close(&q);
}

/* The last good image's file is deleted while the reload runs: the rollback could not
 * load it, so the image running is not stopped for it; the rollback fails at once and
 * says why. */
static void test_rollback_target_deleted_during_reload(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char path[400], seq[512], detail[256], cur[64];
	cJSON *o;

	if (!f)
		skip();
	open_clients(f, &w, &q);
	reload(&q, "nohello.elf", false);
	o = tclient_wait_str(&w, "STATE", "state", "reloading", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	snprintf(path, sizeof(path), "%s/good.elf", f->fwdir);
	assert_int_equal(unlink(path), 0);
	read_states(&w, "up", "failed", seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(seq, "reloading:rollback failed:rollback_failed");
	if (!strstr(detail, "; rollback good.elf: No such file or directory"))
		fail_msg("detail '%s'", detail);
	rproc_firmware(f, cur, sizeof(cur));
	assert_string_equal(cur, "nohello.elf");
	tclient_close(&w);
	tclient_close(&q);
}

/* Copies the ELF from to to with its GNU build-id note made another note type: an
 * image without a build id. 0 or -1. */
static int copy_without_build_id(const char *from, const char *to)
{
	static const uint8_t note[] = {4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, 'G', 'N', 'U', 0};
	static uint8_t buf[1 << 23];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	ssize_t n = in >= 0 ? read(in, buf, sizeof(buf)) : -1;
	int hits = 0;

	if (in >= 0)
		close(in);
	if (n <= 0 || (size_t)n == sizeof(buf))
		return -1;
	for (ssize_t i = 0; i + (ssize_t)sizeof(note) <= n; i++) {
		if (memcmp(buf + i, note, sizeof(note)) == 0) {
			buf[i + 8] = 0x7f;
			hits++;
		}
	}
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0 || hits == 0 || write(out, buf, (size_t)n) != n) {
		if (out >= 0)
			close(out);
		return -1;
	}
	return close(out);
}

/* A reloaded image without a build id (accepted, its identity unchecked) is what the
 * ladder brings back too: recorded with "none". */
static void test_reloaded_image_without_build_id(void **state)
{
	struct fx *f = *state;
	char path[400];

	if (!f)
		skip();
	snprintf(path, sizeof(path), "%s/noid.elf", f->fwdir);
	assert_int_equal(copy_without_build_id(h_sim_path(), path), 0);
	reload_ok(f, "noid.elf");
	good_record_is(f, "noid.elf none\nreloaded good.elf\n");
	recovery_loads(f, "noid.elf");
}

static void sighup_with(struct fx *f, const char *conf, const char *said);

/* SIGHUP with f's configuration, `firmware = good.elf` replaced by fw_line. */
static void sighup_firmware(struct fx *f, const char *fw_line)
{
	char conf[2048];
	const char *at = strstr(f->conf, "firmware = good.elf\n");

	assert_non_null(at);
	snprintf(conf, sizeof(conf), "%.*s%s%s", (int)(at - f->conf), f->conf, fw_line,
		 at + strlen("firmware = good.elf\n"));
	sighup_with(f, conf, "recovery settings reloaded");
}

/* A `firmware` changed by SIGHUP after the reload is a new wish: the ladder loads it,
 * and the record forgets the reload (a restart does not bring it back). */
static void test_new_firmware_setting_wins(void **state)
{
	struct fx *f = *state;
	char want[512];

	if (!f)
		skip();
	reload_ok(f, "app2.elf");
	sighup_firmware(f, "firmware = app3.elf\n");
	snprintf(want, sizeof(want), "app2.elf %s\n", f->sim_id);
	good_record_is(f, want);
	recovery_loads(f, "app3.elf");
	snprintf(want, sizeof(want), "app3.elf %s\n", f->sim_id);
	good_record_is(f, want);

	/* Another reload over app3.elf, then good.elf and app3.elf again by SIGHUP: the
	 * setting changed in between, so app3.elf is a new wish, not the old reload's. */
	reload_ok(f, "app2.elf");
	sighup_firmware(f, "firmware = good.elf\n");
	sighup_firmware(f, "firmware = app3.elf\n");
	recovery_loads(f, "app3.elf");
}

static size_t sim_log_wait(struct fx *f, size_t n, const char *prefix);

/* Waits for the first good record (the running image matches its file). */
static void wait_good_record(struct fx *f)
{
	char path[400], rec[256], want[256];

	snprintf(path, sizeof(path), "%s/firmware-good-m7", f->state);
	snprintf(want, sizeof(want), "good.elf %s\n", f->sim_id);
	for (int i = 0; i < 500 && (h_slurp_file(path, rec, sizeof(rec)), strcmp(rec, want) != 0);
	     i++)
		usleep(10000);
	assert_string_equal(rec, want);
}

/* SIGHUP with conf; waits for the daemon's line saying it took it (containing said). */
static void sighup_with(struct fx *f, const char *conf, const char *said)
{
	static char buf[1 << 17];
	size_t n;

	h_slurp_file(f->p.log, buf, sizeof(buf));
	n = strlen(buf);
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; usleep(10000)) {
		h_slurp_file(f->p.log, buf, sizeof(buf));
		if (strlen(buf) > n && strstr(buf + n, said))
			return;
	}
	fail_msg("SIGHUP not taken");
}

/* Opens w and q, and reloads app2.elf: it runs, on probation (which outlasts the test),
 * and its reload record, whose path goes in path, is on disk. */
static void reload_on_probation(struct fx *f, struct tclient *w, struct tclient *q, char *path,
				size_t cap)
{
	cJSON *o;

	open_clients(f, w, q);
	wait_good_record(f);
	reload(q, "app2.elf", false);
	o = tclient_wait_str(w, "STATE", "state", "reloading", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	assert_true(sim_log_wait(f, 0, "m7sim: remoteproc start app2.elf") > 0);
	snprintf(path, cap, "%s/firmware-reload-m7", f->state);
	assert_int_equal(access(path, F_OK), 0);
}

/* A SIGHUP removes the channel in the middle of its reload: the reload's record goes
 * with it, and the channel added back later does not roll back an image nobody asked
 * it to. */
static void test_channel_removed_during_reload(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char path[400], conf[2048], cur[64], log[1 << 16];
	const char *at;

	if (!f)
		skip();
	reload_on_probation(f, &w, &q, path, sizeof(path));
	tclient_close(&w);
	tclient_close(&q);

	/* The same M7 under another channel name: m7 is removed. */
	at = strstr(f->conf, "[channel m7]");
	assert_non_null(at);
	snprintf(conf, sizeof(conf), "%.*s[channel m9]%s", (int)(at - f->conf), f->conf,
		 at + strlen("[channel m7]"));
	sighup_with(f, conf, "configuration reloaded");
	assert_int_equal(access(path, F_OK), -1);
	h_slurp_file(f->p.log, log, sizeof(log));
	assert_non_null(strstr(log, "channel removed during the reload of app2.elf"));

	sighup_with(f, f->conf, "configuration reloaded");
	open_clients(f, &w, &q);
	rproc_firmware(f, cur, sizeof(cur));
	assert_string_equal(cur, "app2.elf");
	h_slurp_file(f->p.log, log, sizeof(log));
	assert_null(strstr(log, "cut short"));
	tclient_close(&w);
	tclient_close(&q);
}

/* A SIGHUP that reopens the channel (its device moved) in the middle of its reload: the
 * record stays, and the new supervision rolls the reload back, as after a restart. */
static void test_channel_reopened_during_reload(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char path[400], conf[2048], link2[320], target[300], cur[64];
	const char *at;
	ssize_t n;
	cJSON *o;

	if (!f)
		skip();
	reload_on_probation(f, &w, &q, path, sizeof(path));

	/* The same tty under another name. */
	n = readlink(f->link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	snprintf(link2, sizeof(link2), "%s2", f->link);
	assert_int_equal(symlink(target, link2), 0);
	at = strstr(f->conf, f->link);
	assert_non_null(at);
	snprintf(conf, sizeof(conf), "%.*s%s%s", (int)(at - f->conf), f->conf, link2,
		 at + strlen(f->link));
	sighup_with(f, conf, "configuration reloaded");
	/* The rollback (on the same long probation: it stays there) loads good.elf. */
	o = tclient_wait_str(&w, "STATE", "reason", "rollback", WAIT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "state"), "reloading");
	cJSON_Delete(o);
	assert_true(sim_log_wait(f, 0, "m7sim: remoteproc start good.elf") > 0);
	rproc_firmware(f, cur, sizeof(cur));
	assert_string_equal(cur, "good.elf");
	tclient_close(&w);
	tclient_close(&q);
}

/* remoteproc then hook, the remoteproc step's image never saying HELLO; the hook says
 * which settings it ran under into the device's name + ".hook". */
#define HOOK_LADDER                                                                                \
	"firmware = nohello.elf\nrecovery_steps = remoteproc,hook\nremoteproc_tries = 1\n"         \
	"remoteproc_timeout_ms = 3000\nhook_timeout_ms = 1000\n"                                   \
	"hook = echo old $M7B_REMOTEPROC > $M7B_DEVICE.hook\n"

static int setup_hook_direct(void **state)
{
	daemon_extra = "";
	probation_ms = 300;
	return setup_with(state, "", HOOK_LADDER);
}

/* The same with the privileged helper (the test's own user; root said on purpose). */
static int setup_hook_privsep(void **state)
{
	static char extra[128];
	struct passwd *pw = getpwuid(geteuid());

	if (!pw)
		return -1;
	snprintf(extra, sizeof(extra), "user = %s\n%s", pw->pw_name,
		 pw->pw_uid == 0 ? "allow_root_user = true\n" : "");
	daemon_extra = extra;
	probation_ms = 300;
	int r = setup_with(state, "", HOOK_LADDER);
	daemon_extra = "";
	return r;
}

/* A SIGHUP changes `hook` and `remoteproc` while the ladder runs its remoteproc step:
 * the ladder keeps its settings to the end, and so does whoever runs its commands (the
 * daemon, or its privileged helper): the old hook runs, for the old remoteproc. */
static void test_sighup_during_step_keeps_ladder(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char conf[2048], seq[512], detail[256], path[400], text[400];
	const char *at;
	cJSON *o;

	if (!f)
		skip();
	open_clients(f, &w, &q);
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"recover\",\"channel\":\"m7\","
					  "\"action\":\"remoteproc\"}"),
			 0);
	o = tclient_wait(&q, "ACK", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	assert_true(sim_log_wait(f, 0, "m7sim: remoteproc start nohello.elf") > 0);

	/* Mid-step: another hook, another remoteproc. */
	snprintf(conf, sizeof(conf), "%s", f->conf);
	at = strstr(conf, "remoteproc = imx-rproc\n");
	assert_non_null(at);
	memcpy((char *)at, "remoteproc = rproc-xyz\n", strlen("remoteproc = rproc-xyz\n"));
	at = strstr(conf, "echo old");
	assert_non_null(at);
	memcpy((char *)at, "echo new", 8);
	sighup_with(f, conf, "configuration reloaded");

	read_states(&w, "failed", NULL, seq, sizeof(seq), detail, sizeof(detail));
	snprintf(path, sizeof(path), "%s.hook", f->link);
	h_slurp_file(path, text, sizeof(text));
	print_message("hook: %s", text);
	assert_true(strncmp(text, "old ", 4) == 0);
	assert_non_null(strstr(text, "remoteproc0"));
	tclient_close(&w);
	tclient_close(&q);
}

/* A file that cannot be read is refused before anything stops. */
/* Copies the ELF file from to to with its e_machine set to machine. 0 or -1. */
static int copy_with_machine(const char *from, const char *to, unsigned machine)
{
	uint8_t buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	bool ok = in >= 0 && out >= 0, first = true;
	ssize_t n;

	while (ok && (n = read(in, buf, sizeof(buf))) > 0) {
		if (first && n >= 20) {
			buf[18] = (uint8_t)machine;
			buf[19] = (uint8_t)(machine >> 8);
		}
		ok = (first ? n >= 20 : true) && write(out, buf, (size_t)n) == n;
		first = false;
	}
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0)
		ok = false;
	return ok && !first ? 0 : -1;
}

/* Files that are missing, not ELF images, or ELF images for another machine: each
 * reload is refused at once, in words, and nothing is stopped. */
static void test_unreadable_refused(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	cJSON *o;

	if (!f)
		skip();
	open_clients(f, &w, &q);
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"reload\",\"channel\":\"m7\","
					  "\"firmware\":\"missing.elf\"}"),
			 0);
	o = tclient_wait(&q, "ERROR", WAIT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "code"), "bad_value");
	assert_non_null(strstr(j_str(o, "message"), "missing.elf"));
	cJSON_Delete(o);
	/* The longest name there may be: the message is cut in the name, never in why. */
	char longreq[512], longname[256];
	memset(longname, 'a', 255);
	longname[255] = '\0';
	snprintf(longreq, sizeof(longreq),
		 "{\"cmd\":\"reload\",\"channel\":\"m7\",\"firmware\":\"%s\"}", longname);
	assert_int_equal(tclient_send(&q, longreq), 0);
	o = tclient_wait(&q, "ERROR", WAIT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "code"), "bad_value");
	const char *lm = j_str(o, "message");
	if (strlen(lm) < 27 || strcmp(lm + strlen(lm) - 27, ": No such file or directory") != 0)
		fail_msg("a missing file of 255 bytes: '%s'", lm);
	cJSON_Delete(o);
	/* No name given, and remoteproc names none ('unknown': started outside Linux). */
	char attr[400];
	snprintf(attr, sizeof(attr), "%s/firmware", f->rp);
	assert_int_equal(h_put_file(attr, "unknown\n"), 0);
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"reload\",\"channel\":\"m7\"}"), 0);
	o = tclient_wait(&q, "ERROR", WAIT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "code"), "bad_value");
	if (!strstr(j_str(o, "message"), "remoteproc names no firmware file ('unknown'"))
		fail_msg("no name, remoteproc's 'unknown': '%s'", j_str(o, "message"));
	cJSON_Delete(o);
	assert_int_equal(h_put_file(attr, "good.elf\n"), 0);
	/* What is wrong with a file that is there, in words. */
	static const struct {
		const char *name, *why;
	} bad[] = {{"empty.elf", ": not an ELF image"},
		   {"text.elf", ": not an ELF image"},
		   {"cut.elf", ": truncated or malformed ELF image"},
		   {"zero.elf", ": not a regular file"},
		   {"fifo.elf", ": not a regular file"},
		   {"huge.elf", ": larger than 64 MiB"},
		   /* m7sim's ELF, said to be for another machine than this host's. */
		   {"other.elf", ""}};
	char other_why[96];
	unsigned other =
		ELFINFO_HOST_MACHINE == ELFINFO_EM_AARCH64 ? ELFINFO_EM_X86_64 : ELFINFO_EM_AARCH64;
	static struct elfinfo sim;
	assert_int_equal(elfinfo_load(h_sim_path(), &sim), 0); /* its class is kept */
	snprintf(other_why, sizeof(other_why),
		 ": built for %s (ELF%s), not for the Cortex-M7 (ELF32 ARM)",
		 elfinfo_machine_name(other), sim.elf_class == 1 ? "32" : "64");
	char path[400], elf[4096];
	snprintf(path, sizeof(path), "%s/empty.elf", f->fwdir);
	assert_int_equal(h_put_file(path, ""), 0);
	snprintf(path, sizeof(path), "%s/text.elf", f->fwdir);
	assert_int_equal(h_put_file(path, "#!/bin/sh\necho not firmware at all, long enough\n"), 0);
	/* m7sim's ELF header with its section headers cut off. */
	int in = open(h_sim_path(), O_RDONLY | O_CLOEXEC);
	assert_true(in >= 0);
	assert_int_equal(read(in, elf, sizeof(elf)), (ssize_t)sizeof(elf));
	close(in);
	snprintf(path, sizeof(path), "%s/cut.elf", f->fwdir);
	int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(out >= 0);
	assert_int_equal(write(out, elf, sizeof(elf)), (ssize_t)sizeof(elf));
	close(out);
	snprintf(path, sizeof(path), "%s/other.elf", f->fwdir);
	assert_int_equal(copy_with_machine(h_sim_path(), path, other), 0);
	snprintf(path, sizeof(path), "%s/zero.elf", f->fwdir);
	assert_int_equal(symlink("/dev/zero", path), 0);
	snprintf(path, sizeof(path), "%s/fifo.elf", f->fwdir);
	assert_int_equal(mkfifo(path, 0644), 0);
	snprintf(path, sizeof(path), "%s/huge.elf", f->fwdir);
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(out >= 0);
	assert_int_equal(ftruncate(out, 64 * 1024 * 1024 + 1), 0); /* sparse */
	close(out);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char req[256], want[512];
		snprintf(req, sizeof(req),
			 "{\"cmd\":\"reload\",\"channel\":\"m7\",\"firmware\":\"%s\"}",
			 bad[i].name);
		assert_int_equal(tclient_send(&q, req), 0);
		o = tclient_wait(&q, "ERROR", WAIT_MS);
		assert_non_null(o);
		assert_string_equal(j_str(o, "code"), "bad_value");
		snprintf(want, sizeof(want), "firmware %s under %s%s", bad[i].name, f->fwdir,
			 bad[i].why[0] ? bad[i].why : other_why);
		if (strcmp(j_str(o, "message"), want) != 0)
			fail_msg("%s: '%s', want '%s'", bad[i].name, j_str(o, "message"), want);
		cJSON_Delete(o);
	}
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"reload\",\"channel\":\"m7\","
					  "\"no_rollback\":1}"),
			 0);
	o = tclient_wait(&q, "ERROR", WAIT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "code"), "bad_type");
	cJSON_Delete(o);
	assert_null(tclient_wait_str(&w, "STATE", "state", "reloading", 300));
	tclient_close(&w);
	tclient_close(&q);
}

/* The daemon stopped during a reload: its watching clients are told (STATE down, reason
 * shutdown) before the socket closes, and a restarted daemon answers again. */
static void test_shutdown_during_reload(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char last[96] = "";
	bool eof = false;
	cJSON *o;

	if (!f)
		skip();
	open_clients(f, &w, &q);
	reload(&q, "nohello.elf", false);
	o = tclient_wait_str(&w, "STATE", "state", "reloading", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	assert_int_equal(daemon_proc_stop(&f->p), 0);
	for (;;) {
		const char *l = tclient_line(&w, WAIT_MS, &eof);
		if (!l)
			break;
		o = cJSON_Parse(l);
		assert_non_null(o);
		if (strcmp(j_str(o, "class"), "STATE") == 0)
			snprintf(last, sizeof(last), "%s:%s", j_str(o, "state"),
				 j_str(o, "reason"));
		cJSON_Delete(o);
	}
	assert_true(eof);
	assert_string_equal(last, "down:shutdown");
	tclient_close(&w);
	tclient_close(&q);

	assert_int_equal(daemon_proc_start(&f->p, f->conf), 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"status\"}"), 0);
	o = tclient_wait(&q, "STATUS", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	tclient_close(&q);
}

/* Waits until m7sim's log has a line starting with prefix after its first n bytes;
 * returns the log's length after that line (0 when it never came). */
static size_t sim_log_wait(struct fx *f, size_t n, const char *prefix)
{
	static char buf[65536];
	char path[400];

	snprintf(path, sizeof(path), "%s/m7sim.log", f->p.dir);
	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; usleep(10000)) {
		h_slurp_file(path, buf, sizeof(buf));
		for (char *l = buf + n; l < buf + strlen(buf); l = strchr(l, '\n') + 1) {
			if (!strchr(l, '\n'))
				break;
			if (strncmp(l, prefix, strlen(prefix)) == 0)
				return (size_t)(strchr(l, '\n') + 1 - buf);
		}
	}
	return 0;
}

/* The tty hangs up while a reload waits for the new image: the state published stays
 * reloading (the ladder owns the link), never down or opening, until the rollback ends
 * it. */
static void test_link_lost_during_reload(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char seq[512] = "", last[96] = "";
	size_t at;
	int fd;

	if (!f)
		skip();
	open_clients(f, &w, &q);
	at = sim_log_wait(f, 0, "m7sim: link ");
	reload(&q, "nohello.elf", false);
	at = sim_log_wait(f, at, "m7sim: remoteproc start nohello.elf");
	assert_true(at > 0);
	assert_true(sim_log_wait(f, at, "m7sim: link ") > 0);
	usleep(300000); /* the daemon opens the new node within its 20 ms poll */
	fd = open(f->ctl, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hangup 100\n", 11), 11);
	close(fd);
	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end;) {
		cJSON *o = tclient_wait(&w, "STATE", WAIT_MS);
		char item[96];
		assert_non_null(o);
		snprintf(item, sizeof(item), "%s:%s", j_str(o, "state"), j_str(o, "reason"));
		bool up = strcmp(j_str(o, "state"), "up") == 0;
		cJSON_Delete(o);
		if (strcmp(item, last) != 0)
			snprintf(seq + strlen(seq), sizeof(seq) - strlen(seq), "%s%s",
				 seq[0] ? " " : "", item);
		snprintf(last, sizeof(last), "%s", item);
		if (up)
			break;
	}
	/* The link's loss is said by whichever comes first: a read() that was waiting fails
	 * (EIO, `hangup`), one made after the hang-up ends the file (`eof`), or the loop sees
	 * the node go (`device_removed`). Whichever it is, the state stays reloading. */
	const char *lost = strstr(seq, "reloading:hangup")	     ? "hangup"
			   : strstr(seq, "reloading:device_removed") ? "device_removed"
								     : "eof";
	char want[256];
	snprintf(
		want, sizeof(want),
		"reloading:reload reloading:%s reloading:rollback rolled_back:no_hello up:rollback",
		lost);
	assert_string_equal(seq, want);
	tclient_close(&w);
	tclient_close(&q);
}

/* The daemon stopped with an incident open (a reload in progress): the incident is
 * written with outcome interrupted, evidence and steps so far, not discarded. */
static void test_incident_kept_at_shutdown(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char path[400], text[65536], found[700] = "";
	struct dirent *de;
	DIR *dir;
	cJSON *o;

	if (!f)
		skip();
	open_clients(f, &w, &q);
	reload(&q, "nohello.elf", false);
	o = tclient_wait_str(&w, "STATE", "state", "reloading", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	tclient_close(&w);
	tclient_close(&q);
	assert_int_equal(daemon_proc_stop(&f->p), 0);

	snprintf(path, sizeof(path), "%s/incidents", f->p.dir);
	dir = opendir(path);
	assert_non_null(dir);
	while ((de = readdir(dir)))
		if (strncmp(de->d_name, "incident-", 9) == 0)
			snprintf(found, sizeof(found), "%s/%s", path, de->d_name);
	closedir(dir);
	assert_true(found[0]);
	h_slurp_file(found, text, sizeof(text));
	o = cJSON_Parse(text);
	assert_non_null(o);
	assert_string_equal(j_str(o, "kind"), "reload");
	assert_string_equal(j_str(o, "outcome"), "interrupted");
	cJSON_Delete(o);
	assert_int_equal(daemon_proc_start(&f->p, f->conf), 0);
}

/* An incident still open lists what has run so far: `incidents` during a reload on
 * probation shows its step, still running. */
static void test_open_incident_steps(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	cJSON *o, *it, *open = NULL;

	if (!f)
		skip();
	open_clients(f, &w, &q);
	reload(&q, "app2.elf", false);
	o = tclient_wait_str(&w, "STATE", "state", "reloading", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"incidents\",\"id\":7}"), 0);
	o = tclient_wait(&q, "INCIDENTS", WAIT_MS);
	assert_non_null(o);
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(o, "incidents"))
	{
		if (strcmp(j_str(it, "outcome"), "open") == 0)
			open = it;
	}
	assert_non_null(open);
	cJSON *steps = cJSON_GetObjectItem(open, "steps");
	assert_int_equal(cJSON_GetArraySize(steps), 1);
	assert_string_equal(j_str(cJSON_GetArrayItem(steps, 0), "action"), "reload");
	assert_string_equal(j_str(cJSON_GetArrayItem(steps, 0), "result"), "running");
	cJSON_Delete(o);
	tclient_close(&w);
	tclient_close(&q);
}

/* The daemon stopped while a reloaded image is on probation: that is no fault of the
 * image. Neither the log nor the incident says it failed verification. */
static void test_shutdown_is_no_verification_fault(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char path[400], text[65536], found[700] = "", log[65536];
	struct dirent *de;
	DIR *dir;
	cJSON *o;

	if (!f)
		skip();
	assert_int_equal(tclient_open(&w, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"STATE\",\"HELLO\"]}"),
			 0);
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	o = tclient_wait_str(&w, "STATE", "state", "up", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	reload(&q, "app2.elf", false);
	/* The new image said HELLO; its BOOT_INFO follows at once, then the probation. */
	for (;;) {
		o = tclient_wait(&w, "HELLO", WAIT_MS);
		assert_non_null(o);
		bool fresh = cJSON_IsTrue(cJSON_GetObjectItem(o, "new_boot"));
		cJSON_Delete(o);
		if (fresh)
			break;
	}
	usleep(300000);
	tclient_close(&w);
	tclient_close(&q);
	assert_int_equal(daemon_proc_stop(&f->p), 0);

	h_slurp_file(f->p.log, log, sizeof(log));
	if (strstr(log, "failed verification"))
		fail_msg("the shutdown failed the verification: %s", strstr(log, "reload failed"));
	snprintf(path, sizeof(path), "%s/incidents", f->p.dir);
	dir = opendir(path);
	assert_non_null(dir);
	while ((de = readdir(dir)))
		if (strncmp(de->d_name, "incident-", 9) == 0)
			snprintf(found, sizeof(found), "%s/%s", path, de->d_name);
	closedir(dir);
	assert_true(found[0]);
	h_slurp_file(found, text, sizeof(text));
	o = cJSON_Parse(text);
	assert_non_null(o);
	assert_string_equal(j_str(o, "outcome"), "interrupted");
	assert_null(strstr(j_str(o, "detail") ? j_str(o, "detail") : "", "link_lost"));
	cJSON_Delete(o);
	assert_int_equal(daemon_proc_start(&f->p, f->conf), 0);
}

/* The kernel refuses the writes at once (here: `state` is not writable, a directory in
 * its place): the reload, and its rollback, fail inside the request itself, before the
 * machine ever waits. The reload still leaves its incident. */
static void test_load_refused_at_once(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	char seq[512], detail[256], st[400], kept[410];

	if (!f)
		skip();
	open_clients(f, &w, &q);
	snprintf(st, sizeof(st), "%s/state", f->rp);
	snprintf(kept, sizeof(kept), "%s.kept", st);
	assert_int_equal(rename(st, kept), 0);
	assert_int_equal(mkdir(st, 0755), 0);
	reload(&q, "app2.elf", false);
	read_states(&w, "failed", NULL, seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(seq, "reloading:reload reloading:rollback failed:rollback_failed");
	/* What failed, both times, in STATE and in the incident. */
	static const char said[] =
		"app2.elf: load_failed: Is a directory; rollback good.elf: Is a directory";
	assert_string_equal(detail, said);
	cJSON *inc = last_incident(&q);
	assert_string_equal(j_str(inc, "kind"), "reload");
	assert_string_equal(j_str(inc, "outcome"), "failed");
	assert_string_equal(j_str(inc, "detail"), said);
	cJSON *steps = cJSON_GetObjectItem(inc, "steps");
	assert_int_equal(cJSON_GetArraySize(steps), 2);
	assert_string_equal(j_str(cJSON_GetArrayItem(steps, 0), "action"), "reload");
	assert_string_equal(j_str(cJSON_GetArrayItem(steps, 1), "action"), "rollback");
	cJSON_Delete(inc);
	/* Without a rollback: the reload's own failure. */
	reload(&q, "app2.elf", true);
	read_states(&w, "failed", NULL, seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(seq, "reloading:reload failed:reload_failed");
	assert_string_equal(detail, "app2.elf: load_failed: Is a directory");
	inc = last_incident(&q);
	assert_string_equal(j_str(inc, "detail"), "app2.elf: load_failed: Is a directory");
	cJSON_Delete(inc);
	assert_int_equal(rmdir(st), 0);
	assert_int_equal(rename(kept, st), 0);
	tclient_close(&w);
	tclient_close(&q);
}

/* ---- a load that leaves the old image running ---- */

/* A kernel whose stop and start take no effect (the SoC fault docs/RECOVERY.md 4.1
 * names): the state attribute says what was asked, the M7 behind the tty runs on. */
struct stuck {
	struct daemon_proc p;
	struct fake_m7 m;
	char state[400];
	pthread_t kernel;
	bool kernel_runs;
	volatile bool stop;
	volatile bool hung; /* a stop never ends: state stays as written */
};

static void *stuck_kernel_run(void *arg)
{
	struct stuck *k = arg;

	while (!k->stop) {
		char buf[64];
		h_slurp_file(k->state, buf, sizeof(buf));
		if (!k->hung && strncmp(buf, "stop", 4) == 0)
			(void)h_put_file(k->state, "offline\n");
		else if (!k->hung && strncmp(buf, "start", 5) == 0)
			(void)h_put_file(k->state, "running\n");
		usleep(2000);
	}
	return NULL;
}

static int teardown_stuck(void **state)
{
	struct stuck *k = *state;
	int st = 0;

	if (!k)
		return 0;
	if (k->p.pid > 0)
		st = daemon_proc_stop(&k->p);
	k->stop = true;
	if (k->kernel_runs)
		pthread_join(k->kernel, NULL);
	fake_m7_close(&k->m);
	h_show_log_if(&k->p, st);
	h_cleanup(&k->p);
	free(k);
	return st == 0 ? 0 : -1;
}

/* The channel up on a fake M7 behind a stuck kernel; firmware good.elf (m7sim's ELF)
 * and noid.elf (the same without a build id). */
static int setup_stuck(void **state)
{
	struct stuck *k = calloc(1, sizeof(*k));
	char link[300], fwdir[300], path[400], conf[2048];

	*state = NULL;
	if (!k)
		return -1;
	k->m.master = -1;
	if (access(h_sim_path(), R_OK) != 0) {
		free(k);
		return 0; /* the test skips */
	}
	*state = k;
	static const char *const extra[] = {"firmware", "state", NULL};
	if (h_tmpdir(&k->p) < 0 || h_fake_rproc_tree(k->p.dir, "good.elf\n", extra) < 0)
		return -1;
	snprintf(fwdir, sizeof(fwdir), "%s/firmware", k->p.dir);
	snprintf(path, sizeof(path), "%s/good.elf", fwdir);
	if (symlink(h_sim_path(), path) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/noid.elf", fwdir);
	if (copy_without_build_id(h_sim_path(), path) < 0)
		return -1;
	snprintf(k->state, sizeof(k->state), "%s/sys/class/remoteproc/remoteproc0/state", k->p.dir);
	if (pthread_create(&k->kernel, NULL, stuck_kernel_run, k) != 0)
		return -1;
	k->kernel_runs = true;
	snprintf(link, sizeof(link), "%s/ttyRPMSG30", k->p.dir);
	if (fake_m7_open(&k->m, link) < 0)
		return -1;
	snprintf(conf, sizeof(conf),
		 "allow_uids = %u\nsysfs_root = %s/sys\nfirmware_dir = %s\nstate_dir = %s/state\n"
		 "[channel m7]\ndevice = %s\nremoteproc = imx-rproc\nreopen_min_ms = 20\n"
		 "reopen_max_ms = 200\nrecovery_steps = resync\nrecovery_backoff_ms = 60000\n"
		 "reload_timeout_ms = 3000\nreload_probation_ms = 300\nliveness_quiet_ms = 3000\n"
		 "liveness_answer_ms = 300\ndown_grace_ms = 0\n",
		 (unsigned)getuid(), k->p.dir, fwdir, k->p.dir, link);
	if (daemon_proc_start(&k->p, conf) < 0)
		return -1;
	return fake_m7_handshake(&k->m, 0x5eed0001, 8) < 0 ? -1 : 0;
}

/* The image asked for has no build id, so its identity cannot tell the old image from
 * it: the boot does. The old image answering with its boot_id is no reload (kept, as
 * no_rollback asks, but unverified, and said so). */
static void test_old_image_still_runs(void **state)
{
	struct stuck *k = *state;
	struct tclient w, q;
	char seq[512], detail[256];
	cJSON *o;

	if (!k)
		skip();
	assert_int_equal(tclient_open(&w, k->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"STATE\"]}"),
			 0);
	assert_int_equal(tclient_open(&q, k->p.sock, NULL), 0);
	o = tclient_wait_str(&w, "STATE", "state", "up", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);

	reload(&q, "noid.elf", true);
	/* The tty reopens: the same M7, the same boot, answers the new HOST_HELLO. */
	assert_int_equal(fake_m7_handshake(&k->m, 0x5eed0001, 8), 0);
	read_states(&w, "up", "failed", seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(seq, "reloading:reload up:unverified");
	if (!strstr(detail, "noid.elf: not_restarted: boot_id 5eed0001"))
		fail_msg("detail '%s'", detail);
	tclient_close(&w);
	tclient_close(&q);
}

/* A stop that never ends: the reload fails at its deadline, and says so. */
static void test_load_never_ends(void **state)
{
	struct stuck *k = *state;
	struct tclient w, q;
	char seq[512], detail[256];
	cJSON *o;

	if (!k)
		skip();
	assert_int_equal(tclient_open(&w, k->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"STATE\"]}"),
			 0);
	assert_int_equal(tclient_open(&q, k->p.sock, NULL), 0);
	o = tclient_wait_str(&w, "STATE", "state", "up", WAIT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	k->hung = true;
	reload(&q, "noid.elf", true);
	read_states(&w, "up", "failed", seq, sizeof(seq), detail, sizeof(detail));
	assert_string_equal(seq, "reloading:reload failed:reload_failed");
	assert_string_equal(detail, "noid.elf: timeout: the load did not finish in time");
	tclient_close(&w);
	tclient_close(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_then_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reloaded_image_survives_recovery,
						setup_configured, teardown),
		cmocka_unit_test_setup_teardown(test_new_firmware_setting_wins, setup_configured,
						teardown),
		cmocka_unit_test_setup_teardown(test_reloaded_image_deleted, setup_configured,
						teardown),
		cmocka_unit_test_setup_teardown(test_rollback_target_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_target_deleted_during_reload, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reloaded_image_without_build_id,
						setup_configured, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_fails, setup_broken_good, teardown),
		cmocka_unit_test_setup_teardown(test_load_refused_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_image_still_runs, setup_stuck,
						teardown_stuck),
		cmocka_unit_test_setup_teardown(test_load_never_ends, setup_stuck, teardown_stuck),
		cmocka_unit_test_setup_teardown(test_unreadable_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_during_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_lost_during_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incident_kept_at_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_is_no_verification_fault,
						setup_long_probation, teardown),
		cmocka_unit_test_setup_teardown(test_open_incident_steps, setup_long_probation,
						teardown),
		cmocka_unit_test_setup_teardown(test_ladder_wrong_identity, setup_ladder_wrong,
						teardown),
		cmocka_unit_test_setup_teardown(test_channel_removed_during_reload,
						setup_long_probation, teardown),
		cmocka_unit_test_setup_teardown(test_channel_reopened_during_reload,
						setup_long_probation, teardown),
		cmocka_unit_test_setup_teardown(test_sighup_during_step_keeps_ladder,
						setup_hook_direct, teardown),
		cmocka_unit_test_setup_teardown(test_sighup_during_step_keeps_ladder,
						setup_hook_privsep, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	if (getenv("M7B_TEST_FILTER"))
		cmocka_set_test_filter(getenv("M7B_TEST_FILTER"));
	if (getenv("M7B_TEST_FILTER")) /* e.g. "test_reload*" to run a few */
		cmocka_set_test_filter(getenv("M7B_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
