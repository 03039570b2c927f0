/* Integration tests for daemon/notify.c: the messages arrive on a test $NOTIFY_SOCKET
 * (a datagram socket in a temp dir) exactly as systemd would receive them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "notify.h"

struct fixture {
	char dir[64];
	char path[100];
	int fd;
	struct event_base *base;
	char msgs[64][300];
	int nmsgs;
	int want_watchdogs;
	int want_extends;
	struct notify *n;
	unsigned want_vetoes;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char pid[32];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/m7b-notify-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/notify", f->dir);
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	f->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", f->path, 1);
	setenv("WATCHDOG_USEC", "100000", 1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	f->base = event_base_new();
	assert_non_null(f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	notify_free(f->n);
	event_base_free(f->base);
	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	free(f);
	return 0;
}

/* Takes every datagram waiting on the socket into f->msgs. */
static void drain(struct fixture *f)
{
	char buf[300];
	ssize_t r;

	while ((r = recv(f->fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[r] = '\0';
		if (f->nmsgs < 64)
			memcpy(f->msgs[f->nmsgs++], buf, (size_t)r + 1);
	}
}

static int count(struct fixture *f, const char *msg)
{
	int c = 0;

	for (int i = 0; i < f->nmsgs; i++)
		c += strcmp(f->msgs[i], msg) == 0;
	return c;
}

static int count_prefix(struct fixture *f, const char *prefix)
{
	int c = 0;

	for (int i = 0; i < f->nmsgs; i++)
		c += strncmp(f->msgs[i], prefix, strlen(prefix)) == 0;
	return c;
}

/* Checked every 10 ms while the loop runs: stops it once what the test waits for came. */
static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;

	drain(f);
	if (count(f, "WATCHDOG=1") >= f->want_watchdogs &&
	    count_prefix(f, "EXTEND_TIMEOUT_USEC=") >= f->want_extends &&
	    f->n->watchdogs_vetoed >= f->want_vetoes)
		event_base_loopbreak(f->base);
}

/* Runs the loop until on_poll is satisfied; fails after 20 s. */
static void run_until(struct fixture *f)
{
	struct event *ev = event_new(f->base, -1, EV_PERSIST, on_poll, f);
	struct timeval tick = {0, 10000};
	struct timeval limit = {20, 0};

	event_add(ev, &tick);
	event_base_loopexit(f->base, &limit);
	event_base_dispatch(f->base);
	event_free(ev);
	assert_true(count(f, "WATCHDOG=1") >= f->want_watchdogs);
	assert_true(count_prefix(f, "EXTEND_TIMEOUT_USEC=") >= f->want_extends);
	assert_true(f->n->watchdogs_vetoed >= f->want_vetoes);
}

static void test_ready_status_watchdog(void **state)
{
	struct fixture *f = *state;

	f->n = notify_new(f->base);
	assert_non_null(f->n);
	assert_true(f->n->enabled);
	assert_int_equal(f->n->wd_usec, 100000);
	assert_int_equal(notify_ready(f->n, "1/1 channels up: m7 up; 0 clients"), 0);
	drain(f);
	assert_int_equal(f->nmsgs, 1);
	assert_string_equal(f->msgs[0], "READY=1\nSTATUS=1/1 channels up: m7 up; 0 clients");
	/* The same status again sends nothing; a change does; newlines cannot split it. */
	assert_int_equal(notify_status(f->n, "1/1 channels up: m7 up; 0 clients"), 0);
	assert_int_equal(notify_status(f->n, "0/1 channels up: m7 down\nX=1"), 0);
	drain(f);
	assert_int_equal(f->nmsgs, 2);
	assert_string_equal(f->msgs[1], "STATUS=0/1 channels up: m7 down X=1");
	/* The watchdog ticks from the loop. */
	f->want_watchdogs = 3;
	run_until(f);
	assert_true(f->n->watchdogs_sent >= 3);
}

static bool unhealthy(void *arg)
{
	int *calls = arg;

	(*calls)++;
	return false;
}

static void test_watchdog_vetoed_when_unhealthy(void **state)
{
	struct fixture *f = *state;
	int calls = 0;

	f->n = notify_new(f->base);
	assert_non_null(f->n);
	notify_set_health(f->n, unhealthy, &calls);
	f->want_vetoes = 3;
	run_until(f);
	assert_true(calls >= 3);
	assert_int_equal(count(f, "WATCHDOG=1"), 0);
	assert_int_equal(f->n->watchdogs_sent, 0);
	/* Healthy again: it resumes. */
	notify_set_health(f->n, NULL, NULL);
	f->want_watchdogs = 1;
	run_until(f);
}

static void test_extend_timeout_while_busy(void **state)
{
	struct fixture *f = *state;
	int before;

	f->n = notify_new(f->base);
	assert_non_null(f->n);
	assert_int_equal(notify_busy_begin(f->n, 200000, "reloading firmware on m7"), 0);
	drain(f);
	assert_true(f->nmsgs >= 2);
	assert_string_equal(f->msgs[0], "EXTEND_TIMEOUT_USEC=200000");
	assert_string_equal(f->msgs[1], "STATUS=reloading firmware on m7");
	/* Repeated every half period while busy. */
	f->want_extends = 3;
	run_until(f);
	notify_busy_end(f->n);
	drain(f);
	before = count_prefix(f, "EXTEND_TIMEOUT_USEC=");
	/* After the end: watchdogs go on, extensions stop. */
	f->want_watchdogs = count(f, "WATCHDOG=1") + 3;
	f->want_extends = 0;
	run_until(f);
	assert_int_equal(count_prefix(f, "EXTEND_TIMEOUT_USEC="), before);
	assert_int_equal(notify_busy_begin(f->n, 0, NULL), -EINVAL);
	assert_int_equal(notify_stopping(f->n), 0);
	drain(f);
	assert_string_equal(f->msgs[f->nmsgs - 1], "STOPPING=1\nSTATUS=stopping");
}

static void test_without_systemd(void **state)
{
	struct fixture *f = *state;

	unsetenv("NOTIFY_SOCKET");
	f->n = notify_new(f->base);
	assert_non_null(f->n);
	assert_false(f->n->enabled);
	assert_int_equal(f->n->wd_usec, 0);
	assert_null(f->n->ev_watchdog);
	assert_int_equal(notify_ready(f->n, "x"), 0);
	assert_int_equal(notify_watchdog(f->n), 0);
	drain(f);
	assert_int_equal(f->nmsgs, 0);
	f->n = notify_free(f->n);
	/* A watchdog meant for another process is not ours. */
	setenv("NOTIFY_SOCKET", f->path, 1);
	setenv("WATCHDOG_PID", "1", 1);
	f->n = notify_new(f->base);
	assert_true(f->n->enabled);
	assert_int_equal(f->n->wd_usec, 0);
	assert_null(notify_free(NULL));
}

static void test_summary(void **state)
{
	const struct notify_channel ch[] = {{"m7", "up"}, {"aux", "recovering"}, {NULL, NULL}};
	char buf[128], tiny[12];

	assert_string_equal(notify_summary(buf, sizeof(buf), ch, 2, 3),
			    "1/2 channels up: m7 up, aux recovering; 3 clients");
	assert_string_equal(notify_summary(buf, sizeof(buf), ch, 1, 1),
			    "1/1 channel up: m7 up; 1 client");
	assert_string_equal(notify_summary(buf, sizeof(buf), ch, 0, 0),
			    "0/0 channels up; 0 clients");
	assert_string_equal(notify_summary(buf, sizeof(buf), ch + 2, 1, 0),
			    "0/1 channel up: ? ?; 0 clients");
	/* Truncated, still terminated. */
	assert_string_equal(notify_summary(tiny, sizeof(tiny), ch, 2, 3), "1/2 channel");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ready_status_watchdog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watchdog_vetoed_when_unhealthy, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_extend_timeout_while_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_without_systemd, setup, teardown),
		cmocka_unit_test(test_summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
