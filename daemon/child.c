/* Child processes reaped through pidfd + libevent: no SIGCHLD handler, no global state. */
#include "child.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct child {
	pid_t pid;
	int pidfd;
	bool reaped;
	bool stopping;	   /* TERM sent to the group; KILL follows at the grace */
	unsigned grace_ms; /* child_deadline(): between TERM and KILL */
	struct event *ev;
	struct event *ev_kill; /* child_deadline(), then the grace of child_stop() */
	child_done_fn done;
	void *arg;
};

static int pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

static int decode_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return -WTERMSIG(st);
	return -EIO;
}

static void child_on_exit(evutil_socket_t fd, short what, void *arg)
{
	struct child *s = arg;
	int st = 0;
	pid_t r;

	(void)fd;
	(void)what;
	r = waitpid(s->pid, &st, WNOHANG);
	if (r == 0)
		return; /* timer fallback: still running */
	if (r < 0 && errno == EINTR)
		return;
	s->reaped = true;
	event_del(s->ev);
	s->done(s->arg, r < 0 ? -ECHILD : decode_status(st));
}

/* environ + extra, extra winning for keys both name. */
static char **merge_env(char *const extra[])
{
	size_t n = 0, m = 0, i, j, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	while (extra && extra[m])
		m++;
	env = calloc(n + m + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++) {
		size_t klen = strcspn(environ[i], "=");
		bool overridden = false;

		for (j = 0; j < m; j++)
			if (strncmp(extra[j], environ[i], klen) == 0 && extra[j][klen] == '=')
				overridden = true;
		if (!overridden)
			env[k++] = environ[i];
	}
	for (j = 0; j < m; j++)
		env[k++] = extra[j];
	return env;
}

int child_argv(struct event_base *base, char *const argv[], char *const env[], child_done_fn done,
	       void *arg, struct child **out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	struct child *s;
	char **envp;
	int ret;

	*out = NULL;
	if (!argv || !argv[0] || !done)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	envp = merge_env(env);
	if (!s || !envp) {
		free(s);
		free(envp);
		return -ENOMEM;
	}
	s->pidfd = -1;
	s->done = done;
	s->arg = arg;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawnattr_init(&attr);
	/* The daemon's signal mask and handlers must not leak into the command. */
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETPGROUP);
	{
		sigset_t all;
		sigfillset(&all);
		posix_spawnattr_setsigdefault(&attr, &all);
	}
	ret = posix_spawn(&s->pid, argv[0], &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(envp);
	if (ret != 0) {
		free(s);
		return -ret;
	}
	s->pidfd = pidfd_open_compat(s->pid);
	if (s->pidfd >= 0) {
		fcntl(s->pidfd, F_SETFD, FD_CLOEXEC);
		s->ev = event_new(base, s->pidfd, EV_READ | EV_PERSIST, child_on_exit, s);
		if (s->ev && event_add(s->ev, NULL) == 0) {
			*out = s;
			return 0;
		}
	} else {
		/* No pidfd (old kernel): poll for the exit every 20 ms. */
		struct timeval tv = {0, 20000};
		s->ev = event_new(base, -1, EV_PERSIST, child_on_exit, s);
		if (s->ev && event_add(s->ev, &tv) == 0) {
			*out = s;
			return 0;
		}
	}
	child_free(s);
	return -ENOMEM;
}

int child_shell(struct event_base *base, const char *command, char *const env[], child_done_fn done,
		void *arg, struct child **out)
{
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)command, NULL};

	*out = NULL;
	if (!command || !*command)
		return -EINVAL;
	return child_argv(base, argv, env, done, arg, out);
}

/* The deadline (TERM to the group) or, once stopping, the end of the grace (KILL to
 * whatever is left of the group, the leader's children too). */
static void child_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct child *s = arg;

	(void)fd;
	(void)what;
	if (!s->stopping) {
		/* Even after the leader exited: what it left running in its group goes too. */
		(void)child_stop(s, s->grace_ms);
		return;
	}
	/* The group id stays reserved while any member lives, so this cannot hit a
	 * stranger unless the whole group is gone already (then: ESRCH). */
	(void)kill(-s->pid, SIGKILL);
	if (!s->reaped)
		(void)kill(s->pid, SIGKILL);
}

/* Arms the timer (created on first use) for ms from now. 0 or -ENOMEM. */
static int arm(struct child *s, unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (!s->ev_kill)
		s->ev_kill = evtimer_new(event_get_base(s->ev), child_on_timer, s);
	return s->ev_kill && evtimer_add(s->ev_kill, &tv) == 0 ? 0 : -ENOMEM;
}

int child_stop(struct child *s, unsigned grace_ms)
{
	if (!s || s->stopping)
		return 0;
	s->stopping = true;
	(void)kill(-s->pid, SIGTERM);
	if (!s->reaped)
		(void)kill(s->pid, SIGTERM);
	return arm(s, grace_ms);
}

int child_deadline(struct child *s, unsigned after_ms, unsigned grace_ms)
{
	if (!s)
		return -EINVAL;
	s->grace_ms = grace_ms;
	return arm(s, after_ms);
}

bool child_running(const struct child *s)
{
	return s && !s->reaped;
}

pid_t child_pid(const struct child *s)
{
	return s->pid;
}

struct child *child_free(struct child *s)
{
	if (!s)
		return NULL;
	/* Its own process group: take its children along, also those a shell that already
	 * exited left running in the background (its deadline will not come now). */
	if (s->pid > 0)
		kill(-s->pid, SIGKILL);
	if (!s->reaped && s->pid > 0) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (s->ev_kill)
		event_free(s->ev_kill);
	if (s->ev)
		event_free(s->ev);
	if (s->pidfd >= 0)
		close(s->pidfd);
	free(s);
	return NULL;
}
