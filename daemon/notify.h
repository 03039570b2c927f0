/* systemd notification: READY=1, STATUS=, WATCHDOG=1 from an event-loop timer, and
 * EXTEND_TIMEOUT_USEC= while a long operation (firmware reload) runs. No-op without
 * $NOTIFY_SOCKET, so the daemon runs the same under systemd and in a terminal. */
#ifndef M7B_NOTIFY_H
#define M7B_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct daemon;

/* How long a firmware reload may hold up start-up or shutdown before systemd gives up;
 * re-sent every half period while a channel is reloading. */
#define NOTIFY_RELOAD_EXTEND_USEC (120ull * 1000000ull)
/* STATUS= is refreshed at least this often (client counts change without a hook). */
#define NOTIFY_REFRESH_MS 1000

/* One channel as the STATUS= summary shows it. */
struct notify_channel {
	const char *name;
	const char *state; /* "up", "down", ... */
};

/* Decides whether WATCHDOG=1 may go out: false while the daemon knows it is wedged. */
typedef bool (*notify_health_fn)(void *arg);

struct notify {
	struct event_base *base;
	bool enabled;	  /* $NOTIFY_SOCKET was set */
	uint64_t wd_usec; /* WatchdogSec= (0 = off) */
	struct event *ev_watchdog;
	struct event *ev_extend;
	uint64_t extend_usec; /* > 0 while a long operation runs */
	notify_health_fn healthy;
	void *healthy_arg;
	bool ready;
	char status[256]; /* last STATUS= sent, to send only changes */
	uint64_t watchdogs_sent, watchdogs_vetoed;
	struct daemon *daemon; /* after notify_attach() */
	struct event *ev_refresh;
};

/* Reads $NOTIFY_SOCKET and the watchdog settings and arms the watchdog timer on base.
 * NULL on ENOMEM. */
struct notify *notify_new(struct event_base *base);
/* Stops the timers and frees n; NULL is fine. Returns NULL. */
struct notify *notify_free(struct notify *n);
/* Installs the health check consulted before each WATCHDOG=1 (NULL = always healthy). */
void notify_set_health(struct notify *n, notify_health_fn fn, void *arg);
/* Follows the daemon: STATUS= from daemon_status_summary() on every channel state change
 * and every NOTIFY_REFRESH_MS, EXTEND_TIMEOUT_USEC while any channel is reloading. The
 * daemon must outlive n. 0 or -errno. */
int notify_attach(struct notify *n, struct daemon *d);
/* READY=1 with a STATUS= line (NULL: the attached daemon's summary): call once the socket
 * listens and the channels are set up. */
int notify_ready(struct notify *n, const char *status);
/* STATUS=<status>, only if it differs from the last one sent. 0 or -errno. */
int notify_status(struct notify *n, const char *status);
/* Starts a long operation: EXTEND_TIMEOUT_USEC=usec now and every usec/2 until
 * notify_busy_end(), with STATUS=<status> (may be NULL). */
int notify_busy_begin(struct notify *n, uint64_t usec, const char *status);
/* Ends the long operation started by notify_busy_begin(). */
void notify_busy_end(struct notify *n);
/* STOPPING=1: the daemon is shutting down. */
int notify_stopping(struct notify *n);
/* Sends WATCHDOG=1 now if the health check allows; 1 sent, 0 vetoed or off, -errno. */
int notify_watchdog(struct notify *n);
/* notify_watchdog(arg) for a caller about to hold the loop in a bounded wait (the
 * privileged helper's answer): the wait then starts a full WatchdogSec before the
 * deadline, however long ago the timer's last ping went. */
void notify_before_wait(void *arg);

/* The service manager's file descriptor store (FileDescriptorStoreMax=): what is stored
 * comes back at the next start of the service in LISTEN_FDS, named by LISTEN_FDNAMES.
 * Neither needs a struct notify: the ptys are made before it. */
/* Stores the n descriptors fds under name (FDSTORE=1, FDPOLL=0: kept even when the far
 * end hangs up). 1 sent, 0 no service manager ($NOTIFY_SOCKET unset), or a negative
 * errno. */
int notify_fd_store(const int *fds, unsigned n, const char *name);
/* Drops what is stored under name (FDSTOREREMOVE=1). 1 sent, 0 no manager, -errno. */
int notify_fd_remove(const char *name);

/* Formats the one-line STATUS= summary, e.g. "1/2 channels up: m7 up, aux down; 3 clients".
 * Pure. Returns buf. */
const char *notify_summary(char *buf, size_t cap, const struct notify_channel *ch, size_t n,
			   unsigned clients);

#endif
