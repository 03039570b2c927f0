/* Privilege separation: a small privileged helper forked at start, before any client or
 * tty input is read, that alone writes remoteproc sysfs and runs the recovery commands;
 * the daemon then drops to the unprivileged user and asks it over a socketpair. */
#ifndef M7B_PRIVSEP_H
#define M7B_PRIVSEP_H

#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "log.h"
#include "privsep_msg.h"

/* How long privsep_call() waits for its answer: a sysfs write that takes longer means a
 * stuck helper. The call blocks the event loop, and with it the watchdog pings (every
 * WatchdogSec/2, 15 s in the unit): it must end before the watchdog does. A stop signal
 * ends the wait at once. */
#define PRIVSEP_CALL_MS 10000
/* The most the daemon takes of the configuration's bytes from the helper: as much as
 * conf_load() reads. */
#define PRIVSEP_CONF_MAX (1u << 24)
/* How long privsep_free() waits for the helper to leave: a stop must stay prompt. */
#define PRIVSEP_STOP_MS 1000

struct event_base;
struct privsep;

/* What the helper needs to read its configuration again on PRIVSEP_READ_CONF: the same
 * file and command-line overrides the daemon started with (never a path, nor any
 * configuration, from the daemon). */
struct privsep_args {
	const struct conf *cfg; /* copied into the helper by fork() */
	const char *conf_path;
	bool conf_optional;
	const struct conf_overrides *ov;
	enum log_target log_target;
};

/* A RUN_* command ended in the helper: channel, its token, its status (child.h). With
 * channel NULL the helper itself ended (killed, or crashed): status is its own (child.h),
 * and every call answers -EPIPE from then on; called once. */
typedef void (*privsep_exit_fn)(void *ud, const char *channel, uint32_t token, int status);

/* Called before each wait for a RESULT, which holds the event loop (PRIVSEP_CALL_MS at
 * most). */
typedef void (*privsep_wait_fn)(void *arg);

/* Forks the helper (which never returns from its loop: it exits when the daemon closes
 * the socket). 0 with *out in the daemon, or -errno. */
int privsep_start(const struct privsep_args *a, struct privsep **out);
/* Makes the daemon user with no capability: as root, switches groups, gid and uid (root
 * can not be regained); already running as user (systemd's User=), clears every
 * capability. 0, -ENOENT (no such user), -EPERM (neither root nor that user), -errno. */
int privsep_drop(const char *user);
/* Follows the helper's EXITED messages, and its end, from base. 0 or -ENOMEM. */
int privsep_attach(struct privsep *ps, struct event_base *base, privsep_exit_fn fn, void *ud);
/* Installs fn, called before each wait for an answer (NULL: none): the daemon's watchdog
 * ping, so that waits one after another in one turn of the loop, each bounded, never add
 * up to the service manager's watchdog timeout. */
void privsep_set_on_wait(struct privsep *ps, privsep_wait_fn fn, void *arg);
/* Stops following (before the event base goes); NULL ok. */
void privsep_detach(struct privsep *ps);
/* Sends the request m (its seq is set here) and waits for its RESULT (PRIVSEP_CALL_MS at
 * most): 0 done, 1 started, or -errno (the helper's refusal, -EPIPE if it is gone,
 * -ETIMEDOUT; then at once, without sending, until the helper's late answer to that
 * request came). -ECANCELED when SIGTERM or SIGINT came while it waited (the request may
 * still be under way in the helper; the signal is left to the event loop), and from
 * then on at once, without sending: the daemon is stopping. */
int privsep_call(struct privsep *ps, struct privsep_msg *m);
/* As privsep_call(), for a request answered with a descriptor (OPEN_TRACE): on 0, *fd is
 * the file the helper opened (close-on-exec, the caller's to close); else -1. */
int privsep_call_fd(struct privsep *ps, struct privsep_msg *m, int *fd);
/* A SIGHUP's reading of the configuration, done once by the helper for both: it reads
 * the file (as conf_read() does) and parses it, and the daemon parses the very bytes it
 * read (path names them, ov as the helper's). The next RELOAD names that reading: the
 * helper then takes the configuration it parsed from them and no other, however often
 * the file changed meanwhile. 0 with *out, or negative errno with err set. */
int privsep_read_conf(struct privsep *ps, const char *path, const struct conf_overrides *ov,
		      struct conf **out, struct conf_error *err);
/* Closes the socket (the helper exits and kills its commands) and reaps it, waiting
 * PRIVSEP_STOP_MS at most: a helper still stuck in a request is left to die with this
 * process. NULL ok; returns NULL. */
struct privsep *privsep_free(struct privsep *ps);

#endif
