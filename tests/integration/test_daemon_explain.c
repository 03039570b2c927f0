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
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "daemon_harness.h"

struct fx {
	struct daemon_proc p;
	struct fake_m7 m;
	char link[256];
};

static int setup_with(void **state, const char *extra)
{
	struct fx *f = calloc(1, sizeof(*f));
	char conf[2048];

	assert_non_null(f);
	f->m.master = -1;
	*state = f;
	assert_int_equal(h_tmpdir(&f->p), 0);
	snprintf(f->link, sizeof(f->link), "%s/ttyRPMSG30", f->p.dir);
	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	snprintf(conf, sizeof(conf),
		 "[channel m7]\ndevice = %s\nport.0 = console\nport.2 = gps\n"
		 "reopen_min_ms = 20\nreopen_max_ms = 200\n%s",
		 f->link, extra ? extra : "");
	assert_int_equal(daemon_proc_start(&f->p, conf), 0);
	assert_int_equal(fake_m7_handshake(&f->m, 0xA1B2C3D4, 8), 0);
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL);
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

static int setup_steps(void **state)
{
	return setup_with(state, "recovery_steps = resync,reopen,remoteproc\n");
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
		cmocka_unit_test_setup_teardown(test_gone_watchers_leave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_for_the_cli, setup_steps, teardown),
		cmocka_unit_test_setup_teardown(test_late_frames, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
