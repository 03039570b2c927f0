/* m7bridged end to end, what it explains: watch filters that name nothing that exists,
 * clients whose peer is gone, STATUS members for the CLI, late frames, its own log. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "daemon_harness.h"

struct fx {
	struct daemon_proc p;
	struct fake_m7 m;
	char link[256];
};

/* The daemon with channel m7 on a fake M7's pty; without_device: the pty comes later. */
static int setup_with(void **state, const char *extra, bool without_device)
{
	struct fx *f = calloc(1, sizeof(*f));
	char conf[2048];

	assert_non_null(f);
	f->m.master = -1;
	*state = f;
	assert_int_equal(h_tmpdir(&f->p), 0);
	snprintf(f->link, sizeof(f->link), "%s/ttyRPMSG30", f->p.dir);
	if (!without_device)
		assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	snprintf(conf, sizeof(conf),
		 "[channel m7]\ndevice = %s\nport.0 = console\nport.2 = gps\n"
		 "reopen_min_ms = 20\nreopen_max_ms = 200\n%s",
		 f->link, extra ? extra : "");
	assert_int_equal(daemon_proc_start(&f->p, conf), 0);
	if (!without_device)
		assert_int_equal(fake_m7_handshake(&f->m, 0xA1B2C3D4, 8), 0);
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL, false);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int st;

	if (!f)
		return 0;
	st = daemon_proc_stop(&f->p);
	fake_m7_close(&f->m);
	if (st != 0) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "cat '%s' >&2", f->p.log);
		(void)!system(cmd);
	}
	h_cleanup(&f->p);
	free(f);
	assert_int_equal(st, 0);
	return 0;
}

static cJSON *status_of(struct tclient *c)
{
	cJSON *s;

	assert_int_equal(tclient_send(c, "{\"cmd\":\"status\",\"id\":\"st\"}"), 0);
	s = tclient_wait(c, "STATUS", H_TIMEOUT_MS);
	assert_non_null(s);
	return s;
}

/* The reply to one request line: the first ACK or ERROR. */
static cJSON *reply_to(struct tclient *c, const char *line)
{
	assert_int_equal(tclient_send(c, line), 0);
	for (;;) {
		cJSON *o = tclient_obj(c, H_TIMEOUT_MS);
		assert_non_null(o);
		if (!strcmp(j_str(o, "class"), "ACK") || !strcmp(j_str(o, "class"), "ERROR"))
			return o;
		cJSON_Delete(o);
	}
}

static void test_watch_unknown_channel_and_port(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	cJSON *o;
	char *avail;

	assert_int_equal(tclient_open(&c, f->p.sock, NULL), 0);
	o = reply_to(&c, "{\"cmd\":\"watch\",\"id\":1,\"channels\":[\"nope\"]}");
	assert_string_equal(j_str(o, "class"), "ERROR");
	assert_string_equal(j_str(o, "code"), "unknown_channel");
	avail = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "available"));
	assert_string_equal(avail, "[\"m7\"]");
	free(avail);
	cJSON_Delete(o);

	o = reply_to(&c, "{\"cmd\":\"watch\",\"id\":2,\"ports\":[5]}");
	assert_string_equal(j_str(o, "code"), "unknown_port");
	avail = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "available"));
	assert_string_equal(avail,
			    "[{\"port\":0,\"name\":\"console\"},{\"port\":2,\"name\":\"gps\"}]");
	free(avail);
	cJSON_Delete(o);

	/* Refused watches leave the client not watching; a good one still works. */
	o = status_of(&c);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(o, "clients"), 0), "watching")));
	cJSON_Delete(o);
	o = reply_to(&c, "{\"cmd\":\"watch\",\"channels\":[\"m7\"],\"ports\":[2]}");
	assert_string_equal(j_str(o, "class"), "ACK");
	cJSON_Delete(o);
	tclient_close(&c);
}

/* A channel name too long for any channel is an unknown name like any other, for every
 * request that takes one: watch lists what exists, the others echo the name whole. The
 * message shows 64 bytes of it, cut between characters. */
static void test_long_channel_names(void **state)
{
	struct fx *f = *state;
	static const size_t lens[] = {64, 1000, 65000};
	static const char *const single[][2] = {
		{"{\"cmd\":\"send\",\"id\":2,\"port\":1,\"data\":\"AA==\",\"channel\":\"", "\"}"},
		{"{\"cmd\":\"recover\",\"id\":2,\"channel\":\"", "\"}"},
		{"{\"cmd\":\"reload\",\"id\":2,\"channel\":\"", "\"}"},
		{"{\"cmd\":\"incidents\",\"id\":2,\"channel\":\"", "\"}"},
	};
	char *name = malloc(65536), *line = malloc(65536 + 128), want[128];
	struct tclient c;
	cJSON *o;

	assert_non_null(name);
	assert_non_null(line);
	assert_int_equal(tclient_open(&c, f->p.sock, NULL), 0);
	for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
		/* "m7x" then two-byte characters: the 64th byte is the first of one. */
		snprintf(name, 65536, "m7x");
		for (size_t i = 3; i < lens[k]; i += 2)
			memcpy(name + i, "\xc3\xa9", 3);
		snprintf(want, sizeof(want), "no channel %.63s...", name);

		snprintf(line, 65536 + 128, "{\"cmd\":\"watch\",\"id\":1,\"channels\":[\"%s\"]}",
			 name);
		o = reply_to(&c, line);
		assert_string_equal(j_str(o, "class"), "ERROR");
		assert_string_equal(j_str(o, "code"), "unknown_channel");
		assert_string_equal(j_str(o, "message"), want);
		char *avail = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "available"));
		assert_string_equal(avail, "[\"m7\"]");
		free(avail);
		cJSON_Delete(o);

		for (size_t r = 0; r < sizeof single / sizeof single[0]; r++) {
			snprintf(line, 65536 + 128, "%s%s%s", single[r][0], name, single[r][1]);
			o = reply_to(&c, line);
			assert_string_equal(j_str(o, "class"), "ERROR");
			assert_string_equal(j_str(o, "code"), "no_channel");
			assert_string_equal(j_str(o, "message"), want);
			assert_string_equal(j_str(o, "channel"), name);
			assert_int_equal(j_num(o, "id"), 2);
			cJSON_Delete(o);
		}
	}
	/* A request of the longest line a request may be: the echo would make the reply
	 * longer than any line may be, so the name is left out of it. */
	static const char pre[] = "{\"cmd\":\"recover\",\"id\":3,\"channel\":\"";
	memset(line, 'x', 65536);
	memcpy(line, pre, sizeof(pre) - 1);
	memcpy(line + 65536 - 2, "\"}", 3);
	assert_int_equal(tclient_send(&c, line), 0);
	const char *l = tclient_line(&c, H_TIMEOUT_MS, NULL);
	assert_non_null(l);
	assert_true(strlen(l) <= 65536);
	o = cJSON_Parse(l);
	assert_string_equal(j_str(o, "code"), "no_channel");
	assert_null(cJSON_GetObjectItem(o, "channel"));
	assert_int_equal(j_num(o, "id"), 3);
	cJSON_Delete(o);
	/* The connection is still good. */
	o = reply_to(&c, "{\"cmd\":\"watch\",\"channels\":[\"m7\"]}");
	assert_string_equal(j_str(o, "class"), "ACK");
	cJSON_Delete(o);
	tclient_close(&c);
	free(name);
	free(line);
}

/* unknown_port lists every named port, however many and however long their names. */
static void test_available_lists_every_port(void **state)
{
	struct daemon_proc p = {0};
	size_t cap = 256 * 100 + 256, len = 0;
	char *conf = malloc(cap);
	struct tclient c;

	(void)state;
	assert_non_null(conf);
	assert_int_equal(h_tmpdir(&p), 0);
	len += (size_t)snprintf(conf, cap, "[channel m7]\ndevice = %s/ttyRPMSG30\n", p.dir);
	/* Every port but 1, each with a name of 63 bytes (the longest a name may be). */
	for (unsigned port = 0; port < 256; port++)
		if (port != 1)
			len += (size_t)snprintf(
				conf + len, cap - len, "port.%u = p%03u%s\n", port, port,
				"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	assert_true(len < cap);
	assert_int_equal(daemon_proc_start(&p, conf), 0);
	assert_int_equal(tclient_open(&c, p.sock, NULL), 0);
	cJSON *o = reply_to(&c, "{\"cmd\":\"watch\",\"ports\":[1]}");
	assert_string_equal(j_str(o, "code"), "unknown_port");
	const cJSON *avail = cJSON_GetObjectItem(o, "available");
	assert_int_equal(cJSON_GetArraySize(avail), 255);
	const cJSON *last = cJSON_GetArrayItem(avail, 254);
	assert_int_equal(j_num(last, "port"), 255);
	assert_int_equal(strlen(j_str(last, "name")), 63);
	cJSON_Delete(o);
	tclient_close(&c);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_cleanup(&p);
	free(conf);
}

/* Counts the clients STATUS lists (the asking one included). */
static int clients_listed(struct tclient *c)
{
	cJSON *s = status_of(c);
	int n = cJSON_GetArraySize(cJSON_GetObjectItem(s, "clients"));
	cJSON_Delete(s);
	return n;
}

static void test_gone_watchers_leave(void **state)
{
	struct fx *f = *state;
	struct tclient w1, w2, c;

	/* Two watchers whose filter selects nothing: nothing is ever written to them. */
	assert_int_equal(tclient_open(&w1, f->p.sock, "{\"cmd\":\"watch\",\"channels\":[]}"), 0);
	assert_int_equal(tclient_open(&w2, f->p.sock, "{\"cmd\":\"watch\",\"channels\":[]}"), 0);
	assert_int_equal(tclient_open(&c, f->p.sock, NULL), 0);
	assert_int_equal(clients_listed(&c), 3);
	/* One hangs up at once; the other half-closes (keeps its stream), then dies. */
	tclient_close(&w1);
	assert_int_equal(shutdown(w2.fd, SHUT_WR), 0);
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	while (clients_listed(&c) != 2 && h_now_ms() < end)
		usleep(20000);
	assert_int_equal(clients_listed(&c), 2);
	usleep(1500000); /* more than the daemon's hangup check: the half-closed one stays */
	assert_int_equal(clients_listed(&c), 2);
	tclient_close(&w2);
	end = h_now_ms() + H_TIMEOUT_MS;
	while (clients_listed(&c) != 1 && h_now_ms() < end)
		usleep(50000);
	assert_int_equal(clients_listed(&c), 1);
	tclient_close(&c);
}

static void test_status_for_the_cli(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	cJSON *s;
	const cJSON *ch;
	char *txt;

	assert_int_equal(tclient_open(&c, f->p.sock, NULL), 0);
	usleep(300000);
	s = status_of(&c);
	ch = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "channels"), 0);
	assert_non_null(ch);
	txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(ch, "ports"));
	assert_string_equal(txt,
			    "[{\"port\":0,\"name\":\"console\"},{\"port\":2,\"name\":\"gps\"}]");
	free(txt);
	txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(ch, "recovery_steps"));
	assert_string_equal(txt, "[\"resync\",\"reopen\",\"remoteproc\"]");
	free(txt);
	/* In state "up" since the handshake, at least the pause above. */
	assert_string_equal(j_str(ch, "state"), "up");
	assert_true(j_num(ch, "state_ms") >= 250);
	assert_true(j_num(ch, "state_ms") < H_TIMEOUT_MS);
	cJSON_Delete(s);
	tclient_close(&c);
}

/* A capture made before the channel went down but delivered after it came back carries
 * "late":true; one made afterwards does not. */
static void test_late_frames(void **state)
{
	struct fx *f = *state;
	const uint64_t t0 = 123456789; /* the fake's HELLO now_ticks */
	struct tclient c;
	uint8_t d = 1;
	cJSON *o;

	assert_int_equal(tclient_open(&c, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"FRAME\",\"STATE\"]}"),
			 0);
	assert_int_equal(fake_m7_data(&f->m, 0, 0, t0 + 1000, t0 + 1000, &d, 1), 0);
	o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_null(cJSON_GetObjectItem(o, "late"));
	cJSON_Delete(o);
	usleep(50000); /* the M7's clock runs on: 400000 ticks */
	fake_m7_close(&f->m);
	o = tclient_wait_str(&c, "STATE", "state", "down", H_TIMEOUT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	assert_int_equal(fake_m7_handshake(&f->m, 0xA1B2C3D4, 8), 0); /* the same boot */
	o = tclient_wait_str(&c, "STATE", "state", "up", H_TIMEOUT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	/* Captured 250 us after the last one seen, before the outage: held back. */
	assert_int_equal(fake_m7_data(&f->m, 0, 0, t0 + 3000, t0 + 3000, &d, 1), 0);
	/* Captured 10 s on: fresh. */
	assert_int_equal(fake_m7_data(&f->m, 0, 0, t0 + 80000000, t0 + 80000000, &d, 1), 0);
	o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "late")));
	cJSON_Delete(o);
	o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_null(cJSON_GetObjectItem(o, "late"));
	cJSON_Delete(o);
	tclient_close(&c);
}

/* The daemon's stderr so far. */
static char *read_log(const struct daemon_proc *p)
{
	static char buf[1 << 16];
	FILE *fp = fopen(p->log, "r");
	size_t n = 0;

	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Waits until the daemon's stderr holds text. */
static char *wait_log(const struct daemon_proc *p, const char *text)
{
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	char *log;
	while (!strstr((log = read_log(p)), text) && h_now_ms() < end)
		usleep(20000);
	if (!strstr(log, text))
		fail_msg("the daemon never said \"%s\"; it said:\n%s", text, log);
	return log;
}

static int setup_no_device(void **state)
{
	return setup_with(state, NULL, true);
}

/* What an operator reads: the file in force, the wait for the device (once), the open,
 * and at debug level each open attempt, SYNC exchange and client request. */
static void test_daemon_says_what_it_does(void **state)
{
	struct fx *f = *state;
	char want[512], *log;
	struct tclient c;

	snprintf(want, sizeof(want), "configuration read from %s", f->p.conf);
	wait_log(&f->p, want);
	snprintf(want, sizeof(want), "notice: [m7] waiting for %s: not found", f->link);
	wait_log(&f->p, want);
	snprintf(want, sizeof(want), "debug: [m7] open %s: No such file", f->link);
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	while (count(read_log(&f->p), want) < 3 && h_now_ms() < end)
		usleep(20000);
	log = read_log(&f->p);
	snprintf(want, sizeof(want), "waiting for %s", f->link);
	assert_int_equal(count(log, want), 1); /* once, not per attempt */
	assert_non_null(strstr(log, "not watching kernel messages (kernel_log = off)"));
	assert_null(strstr(log, "from off"));
	assert_null(strstr(log, "no channel configured"));

	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	assert_int_equal(fake_m7_handshake(&f->m, 7, 8), 0);
	snprintf(want, sizeof(want), "notice: [m7] opened %s after waiting", f->link);
	wait_log(&f->p, want);
	wait_log(&f->p, "debug: [m7] SYNC exchange: round trip");
	assert_int_equal(tclient_open(&c, f->p.sock, NULL), 0);
	assert_int_equal(tclient_send(&c, "{\"cmd\":\"ping\",\"id\":\"hi\"}"), 0);
	cJSON_Delete(tclient_wait(&c, "PONG", H_TIMEOUT_MS));
	wait_log(&f->p, "{\"cmd\":\"ping\",\"id\":\"hi\"}");
	tclient_close(&c);
}

/* Runs m7bridged with args (shell words, redirections included); its stdout into out.
 * The exit status. */
static int run_stdout(char *out, size_t cap, const char *args)
{
	char cmd[PATH_MAX + 512];
	size_t n;
	/* Bounded: a daemon that does not exit must not hang the suite. */
	snprintf(cmd, sizeof(cmd), "timeout 20 '%s' %s", h_daemon_path(), args);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_command_line_and_check_config(void **state)
{
	struct daemon_proc p = {0};
	char err[2048], args[600];
	static char out[16384];

	/* A bad -C is the command line's mistake: no file is blamed. */
	const char *bad[] = {"m7bridged", "-C", "nodevice", NULL};
	assert_int_equal(h_run(err, sizeof(err), bad), 78);
	assert_non_null(strstr(err, "--channel"));
	assert_null(strstr(err, ".conf"));

	/* The default file missing: said at warning level (the socket cannot be made under
	 * a file, so the daemon exits right after its start-up lines). */
	const char *dflt = M7B_SYSCONFDIR "/m7bridge/m7bridge.conf";
	if (access(dflt, F_OK) != 0) {
		assert_int_equal(run_stdout(out, sizeof(out), "-f -s /dev/null/m7.sock 2>&1"), 1);
		snprintf(args, sizeof(args), "warning: %s not found: running on built-in defaults",
			 dflt);
		if (!strstr(out, args) || !strstr(out, "warning: no channel configured"))
			fail_msg("start-up lines: %s", out);
		/* --check-config names the file it looked for, too. */
		assert_int_equal(run_stdout(out, sizeof(out), "--check-config 2>/dev/null"), 0);
		snprintf(args, sizeof(args), "config: (built-in defaults: %s not found)\n", dflt);
		if (strncmp(out, args, strlen(args)) != 0)
			fail_msg("--check-config without a file: %s", out);
	}

	/* --check-config prints every section and key in force, defaults included. */
	assert_int_equal(h_tmpdir(&p), 0);
	FILE *fp = fopen(p.conf, "w");
	assert_non_null(fp);
	fputs("[daemon]\nsocket = /run/x.sock\nkernel_log = off\nallow_uids = 5,7\n"
	      "[channel a]\ndevice = /dev/ttyRPMSG30\nport.1 = gps\n[channel b]\n"
	      "device = /dev/ttyRPMSG31\nliveness_quiet_ms = 0\n",
	      fp);
	fclose(fp);
	snprintf(args, sizeof(args), "--check-config -c '%s' 2>/dev/null", p.conf);
	assert_int_equal(run_stdout(out, sizeof(out), args), 0);
	static const char *const want[] = {
		"\n[daemon]\n",	      "socket = /run/x.sock\n",	 "kernel_log = off\n",
		"allow_uids = 5,7\n", "log_level = info\n",	 "max_clients = 64\n",
		"\n[channel a]\n",    "port.1 = gps\n",		 "recovery_steps = ",
		"\n[channel b]\n",    "liveness_quiet_ms = 0\n", "sysfs_root = /sys\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(out, want[i]))
			fail_msg("--check-config lacks \"%s\":\n%s", want[i], out);
	assert_true(strstr(out, "[channel a]") < strstr(out, "[channel b]"));
	h_cleanup(&p);
}

/* No channel at all: said at warning level. */
static void test_no_channel_is_a_warning(void **state)
{
	struct daemon_proc p = {0};
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(daemon_proc_start(&p, ""), 0);
	wait_log(&p, "warning: no channel configured");
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_cleanup(&p);
}

static int setup_steps(void **state)
{
	return setup_with(state, "recovery_steps = resync,reopen,remoteproc\n", false);
}

static int group_teardown(void **state)
{
	h_kill_all();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_watch_unknown_channel_and_port, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_long_channel_names, setup, teardown),
		cmocka_unit_test(test_available_lists_every_port),
		cmocka_unit_test_setup_teardown(test_gone_watchers_leave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_for_the_cli, setup_steps, teardown),
		cmocka_unit_test_setup_teardown(test_late_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_says_what_it_does, setup_no_device,
						teardown),
		cmocka_unit_test(test_command_line_and_check_config),
		cmocka_unit_test(test_no_channel_is_a_warning),
	};
	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
