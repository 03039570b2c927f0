/* Tests for daemon/server.c: the socket file gets its mode without a path being followed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cmocka.h>
#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "server.h"

/* What the wrapped bind() does after the real one: swap a symlink in at the path. */
static struct {
	bool swap;
	char moved[108];  /* where the real socket file goes */
	char target[108]; /* what the symlink points at */
} bind_hook;

int __real_bind(int fd, const struct sockaddr *a, socklen_t len);
int __wrap_bind(int fd, const struct sockaddr *a, socklen_t len);
int __wrap_bind(int fd, const struct sockaddr *a, socklen_t len)
{
	int r = __real_bind(fd, a, len);
	if (r == 0 && bind_hook.swap && a->sa_family == AF_UNIX) {
		const char *path = ((const struct sockaddr_un *)a)->sun_path;
		assert_int_equal(rename(path, bind_hook.moved), 0);
		assert_int_equal(symlink(bind_hook.target, path), 0);
	}
	return r;
}

static void on_accept(void *ud, int fd)
{
	(void)ud;
	close(fd);
}

struct fixture {
	char dir[64];
	char sock[108];
	struct event_base *base;
	struct conf *conf;
	struct log log;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/m7b-server-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->sock, sizeof(f->sock), "%s/sock", f->dir);
	snprintf(bind_hook.moved, sizeof(bind_hook.moved), "%s/moved", f->dir);
	snprintf(bind_hook.target, sizeof(bind_hook.target), "%s/victim", f->dir);
	bind_hook.swap = false;
	f->base = event_base_new();
	f->conf = conf_new();
	log_init(&f->log, LOG_TARGET_STDERR, LOG_CRIT);
	free(f->conf->daemon.socket_path);
	f->conf->daemon.socket_path = strdup(f->sock);
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	*state = f;
	return f->base && f->conf && f->conf->daemon.socket_path ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[128];
	const char *names[] = {"sock", "moved", "victim"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
		unlink(p);
	}
	rmdir(f->dir);
	conf_free(f->conf);
	event_base_free(f->base);
	free(f);
	return 0;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* The file is created with exactly socket_mode, whatever the process umask. */
static void test_mode_at_bind(void **state)
{
	struct fixture *f = *state;
	static const unsigned modes[] = {0660, 0666, 0600, 0640};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct server *s = NULL;
		mode_t old = umask(i % 2 ? 0 : 077);
		f->conf->daemon.socket_mode = modes[i];
		assert_int_equal(
			server_new(f->base, &f->conf->daemon, &f->log, on_accept, NULL, &s), 0);
		umask(old);
		assert_int_equal(mode_of(f->sock), modes[i]);
		server_free(s);
	}
}

/* A symlink swapped in at the path right after bind: its target keeps its mode and group;
 * the real socket file still has socket_mode. */
static void test_swapped_symlink_not_followed(void **state)
{
	struct fixture *f = *state;
	struct server *s = NULL;
	struct group *g = getgrgid(getegid());
	int fd = open(bind_hook.target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0600), 0);
	close(fd);
	assert_non_null(g);
	f->conf->daemon.socket_mode = 0666;
	free(f->conf->daemon.socket_group);
	f->conf->daemon.socket_group = strdup(g->gr_name);
	bind_hook.swap = true;
	int r = server_new(f->base, &f->conf->daemon, &f->log, on_accept, NULL, &s);
	bind_hook.swap = false;
	assert_int_equal(mode_of(bind_hook.target), 0600);
	assert_int_equal(mode_of(bind_hook.moved), 0666);
	server_free(s);
	(void)r;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mode_at_bind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swapped_symlink_not_followed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
