/* Child processes reaped through pidfd + libevent: no SIGCHLD handler, no global state;
 * their output read through a pipe from the event loop into the log. */
#include "child.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hookout.h"
#include "log.h"

extern char **environ;

/* Reads of the output pipe: per wake-up (the loop serves others between), and when the
 * command ends or is freed (what is in the pipe then, bounded). */
#define OUT_READ_SIZE	16384
#define OUT_WAKE_READS	4
#define OUT_DRAIN_READS 64

/* The read end of a command's output pipe, and its lines on their way to the log. */
struct child_out {
	int fd;
	struct event *ev;
	struct log log;
	const struct log *logp; /* &log, or NULL as it was given: stderr */
	char name[32];
	char channel[64];
	struct hookout lines;
};

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
	struct child_out *out; /* NULL: output to /dev/null */
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

static struct log_fields out_fields(const struct child_out *o)
{
	return (struct log_fields){.channel = o->channel[0] ? o->channel : NULL, .hook = o->name};
}

static void out_emit(void *arg, const char *text)
{
	struct child_out *o = arg;
	struct log_fields f = out_fields(o);

	log_struct(o->logp, LOG_INFO, &f, "%s: %s", o->name, text);
}

/* The end of the output: its last line, the count of what was not logged, the pipe
 * closed (a writer left behind gets EPIPE). */
static void out_close(struct child_out *o)
{
	struct log_fields f = out_fields(o);

	if (o->fd < 0)
		return;
	hookout_end(&o->lines, out_emit, o);
	if (o->lines.lost_lines)
		log_struct(o->logp, LOG_NOTICE, &f,
			   "%llu lines (%llu bytes) of %s output not logged",
			   (unsigned long long)o->lines.lost_lines,
			   (unsigned long long)o->lines.lost_bytes, o->name);
	if (o->ev)
		event_free(o->ev);
	o->ev = NULL;
	close(o->fd);
	o->fd = -1;
}

/* Up to reads reads of what the pipe holds; at its end (or an error) it is closed. */
static void out_read(struct child_out *o, int reads)
{
	char buf[OUT_READ_SIZE];

	while (o->fd >= 0 && reads-- > 0) {
		ssize_t n = read(o->fd, buf, sizeof(buf));

		if (n > 0) {
			hookout_feed(&o->lines, buf, (size_t)n, out_emit, o);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			struct log_fields f = out_fields(o);
			(void)log_struct_errno(o->logp, LOG_WARNING, &f, -errno,
					       "cannot read %s output: %m", o->name);
		}
		out_close(o);
	}
}

static void child_on_output(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	out_read(arg, OUT_WAKE_READS);
}

static struct child_out *out_free(struct child_out *o)
{
	if (o) {
		out_close(o);
		free(o);
	}
	return NULL;
}

/* A pipe for the command's output: the read end non-blocking, both ends above stderr
 * (so that the spawn's dup2()s onto 0..2 cannot close them) and close-on-exec. The
 * write end, in fds[1], goes to the command. 0 or -errno. */
static int out_pipe(const struct child_output *output, struct child_out **out, int fds[2])
{
	struct child_out *o = calloc(1, sizeof(*o));

	*out = NULL;
	if (!o)
		return -ENOMEM;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		free(o);
		return -errno;
	}
	for (int i = 0; i < 2; i++) {
		if (fds[i] > STDERR_FILENO)
			continue;
		int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		int e = errno;

		close(fds[i]);
		fds[i] = moved;
		if (moved < 0) {
			if (fds[1 - i] >= 0)
				close(fds[1 - i]);
			free(o);
			return -e;
		}
	}
	(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	o->fd = fds[0];
	if (output->log) {
		o->log = *output->log;
		o->logp = &o->log;
	}
	snprintf(o->name, sizeof(o->name), "%s", output->name ? output->name : "command");
	snprintf(o->channel, sizeof(o->channel), "%s", output->channel ? output->channel : "");
	hookout_init(&o->lines);
	*out = o;
	return 0;
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
	/* What the command wrote before it ended is logged before its end is. */
	if (s->out)
		out_read(s->out, OUT_DRAIN_READS);
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

int child_argv(struct event_base *base, char *const argv[], char *const env[],
	       const struct child_output *output, child_done_fn done, void *arg, struct child **out)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	struct child *s;
	char **envp;
	int ret, pipefd[2] = {-1, -1};

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
	if (output) {
		ret = out_pipe(output, &s->out, pipefd);
		if (ret < 0) {
			free(s);
			free(envp);
			return ret;
		}
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (s->out) {
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
	} else {
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	}
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
	if (pipefd[1] >= 0)
		close(pipefd[1]); /* the command's now: its end makes the pipe's EOF */
	if (ret != 0) {
		s->out = out_free(s->out);
		free(s);
		return -ret;
	}
	if (s->out) {
		s->out->ev =
			event_new(base, s->out->fd, EV_READ | EV_PERSIST, child_on_output, s->out);
		if (!s->out->ev || event_add(s->out->ev, NULL) < 0) {
			child_free(s);
			return -ENOMEM;
		}
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

int child_shell(struct event_base *base, const char *command, char *const env[],
		const struct child_output *output, child_done_fn done, void *arg,
		struct child **out)
{
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)command, NULL};

	*out = NULL;
	if (!command || !*command)
		return -EINVAL;
	return child_argv(base, argv, env, output, done, arg, out);
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
	/* Whatever the group wrote before it died, then the count of what was not logged. */
	if (s->out)
		out_read(s->out, OUT_DRAIN_READS);
	s->out = out_free(s->out);
	if (s->ev_kill)
		event_free(s->ev_kill);
	if (s->ev)
		event_free(s->ev);
	if (s->pidfd >= 0)
		close(s->pidfd);
	free(s);
	return NULL;
}
