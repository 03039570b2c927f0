/* Child processes for recovery commands (driver reload, hook): started without blocking,
 * reaped from the event loop through a pidfd, killed when abandoned; their output read
 * from the event loop into the log. */
#ifndef M7B_CHILD_H
#define M7B_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

struct event_base;
struct child;
struct log;

/* Where a command's stdout and stderr go: one pipe, read from the event loop and logged
 * line by line (hookout.c) as `NAME: text` at info level with HOOK=NAME and CHANNEL=,
 * capped per run, drained to its end so that the command never blocks on it. */
struct child_output {
	const struct log *log; /* copied: need not outlive child_shell(); NULL: stderr */
	const char *name;      /* the command's configuration key: "hook", "driver_reload" */
	const char *channel;   /* may be NULL */
};

/* Called once when the child ends: its exit status (0..255), or -signal number when a
 * signal killed it. */
typedef void (*child_done_fn)(void *arg, int status);

/* Runs `/bin/sh -c command` with stdin on /dev/null, stdout and stderr to output (NULL:
 * /dev/null) and env (NULL-terminated "KEY=value" strings added to the daemon's
 * environment; may be NULL). 0 or -errno. */
int child_shell(struct event_base *base, const char *command, char *const env[],
		const struct child_output *output, child_done_fn done, void *arg,
		struct child **out);

/* Runs argv[0] (a path) with argv, as child_shell(). 0 or -errno. */
int child_argv(struct event_base *base, char *const argv[], char *const env[],
	       const struct child_output *output, child_done_fn done, void *arg,
	       struct child **out);

/* Ends a running child and its process group: SIGTERM now, SIGKILL to the group after
 * grace_ms (also to what the leader left behind if it exits in time). done still runs
 * when the leader exits. 0 or -ENOMEM. */
int child_stop(struct child *s, unsigned grace_ms);
/* Calls child_stop(s, grace_ms) after_ms from now: the command and whatever it left
 * running in its process group end by then. 0 or -ENOMEM. */
int child_deadline(struct child *s, unsigned after_ms, unsigned grace_ms);
/* True until the child has been reaped. */
bool child_running(const struct child *s);
/* The child's pid. */
pid_t child_pid(const struct child *s);

/* Kills a still-running child and what is left of its process group (SIGKILL), reaps it
 * without calling done, logs what is left of its output, frees s. NULL ok; returns NULL.
 * Also the way to free a child after done ran. */
struct child *child_free(struct child *s);

#endif
