/* systemd notification (sd_notify): readiness, status line, event-loop watchdog and
 * timeout extension during long operations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "channel.h"
#include "daemon.h"
#include "notify.h"

/* sd_notify returns > 0 if sent, 0 if $NOTIFY_SOCKET is unset, < 0 on error. */
static int send_msg(struct notify *n, const char *msg)
{
	int r;

	if (!n->enabled)
		return 0;
	r = sd_notify(0, msg);
	return r < 0 ? r : 0;
}

int notify_watchdog(struct notify *n)
{
	int r;

	if (!n || !n->wd_usec)
		return 0;
	if (n->healthy && !n->healthy(n->healthy_arg)) {
		n->watchdogs_vetoed++;
		return 0;
	}
	r = send_msg(n, "WATCHDOG=1");
	if (r < 0)
		return r;
	n->watchdogs_sent++;
	return 1;
}

void notify_before_wait(void *arg)
{
	(void)notify_watchdog(arg);
}

/* The timer only fires while the event loop turns: a loop stuck in a callback sends
 * nothing and systemd restarts the daemon after WatchdogSec. */
static void notify_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)notify_watchdog(arg);
}

static void notify_on_extend(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	char msg[64];

	if (!n->extend_usec)
		return;
	snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)n->extend_usec);
	(void)send_msg(n, msg);
}

static struct timeval tv_of_usec(uint64_t usec)
{
	struct timeval tv = {.tv_sec = (time_t)(usec / 1000000),
			     .tv_usec = (suseconds_t)(usec % 1000000)};

	return tv;
}

struct notify *notify_new(struct event_base *base)
{
	struct notify *n = calloc(1, sizeof(*n));
	const char *sock = getenv("NOTIFY_SOCKET");
	uint64_t usec = 0;

	if (!n)
		return NULL;
	n->base = base;
	n->enabled = sock && *sock;
	/* > 0 only if WATCHDOG_USEC is set and WATCHDOG_PID (if set) is us. */
	if (n->enabled && sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
		n->wd_usec = usec;
	if (n->wd_usec) {
		/* Half the interval, as sd_watchdog_enabled(3) recommends. */
		struct timeval tv = tv_of_usec(n->wd_usec / 2 ? n->wd_usec / 2 : 1);

		n->ev_watchdog = event_new(base, -1, EV_PERSIST, notify_on_watchdog, n);
		if (!n->ev_watchdog || event_add(n->ev_watchdog, &tv) < 0)
			return notify_free(n);
	}
	n->ev_extend = event_new(base, -1, EV_PERSIST, notify_on_extend, n);
	if (!n->ev_extend)
		return notify_free(n);
	return n;
}

struct notify *notify_free(struct notify *n)
{
	if (!n)
		return NULL;
	if (n->ev_refresh)
		event_free(n->ev_refresh);
	if (n->ev_extend)
		event_free(n->ev_extend);
	if (n->ev_watchdog)
		event_free(n->ev_watchdog);
	free(n);
	return NULL;
}

void notify_set_health(struct notify *n, notify_health_fn fn, void *arg)
{
	n->healthy = fn;
	n->healthy_arg = arg;
}

/* Removes characters that would break the newline-separated notify message. */
static void clean_status(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < cap; i++)
		dst[i] = src[i] == '\n' || src[i] == '\r' ? ' ' : src[i];
	dst[i] = '\0';
}

int notify_ready(struct notify *n, const char *status)
{
	char msg[300];

	char summary[sizeof(n->status)];

	if (!n)
		return 0;
	if (!status && n->daemon)
		status = daemon_status_summary(n->daemon, summary, sizeof(summary));
	clean_status(n->status, sizeof(n->status), status ? status : "running");
	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", n->status);
	n->ready = true;
	return send_msg(n, msg);
}

int notify_status(struct notify *n, const char *status)
{
	char clean[sizeof(n->status)];
	char msg[300];

	if (!n || !status)
		return 0;
	clean_status(clean, sizeof(clean), status);
	if (strcmp(clean, n->status) == 0)
		return 0;
	memcpy(n->status, clean, sizeof(clean));
	snprintf(msg, sizeof(msg), "STATUS=%s", n->status);
	return send_msg(n, msg);
}

int notify_busy_begin(struct notify *n, uint64_t usec, const char *status)
{
	struct timeval tv;
	int r;

	if (!n || usec == 0)
		return n ? -EINVAL : 0;
	n->extend_usec = usec;
	notify_on_extend(-1, 0, n);
	tv = tv_of_usec(usec / 2 ? usec / 2 : 1);
	if (event_add(n->ev_extend, &tv) < 0)
		return -ENOMEM;
	r = notify_status(n, status);
	return r;
}

void notify_busy_end(struct notify *n)
{
	if (!n)
		return;
	n->extend_usec = 0;
	event_del(n->ev_extend);
}

int notify_fd_store(const int *fds, unsigned n, const char *name)
{
	char msg[300];
	/* FDPOLL=0: a pty end polls HUP in states that are normal for the daemon's ptys (a
	 * master whose slave no one holds, a slave fd hung up by vhangup()); systemd would
	 * drop it then. */
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDPOLL=0\nFDNAME=%s", name);
	return sd_pid_notify_with_fds(0, 0, msg, fds, n);
}

int notify_fd_remove(const char *name)
{
	char msg[300];
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	return sd_pid_notify(0, 0, msg);
}

int notify_stopping(struct notify *n)
{
	return n ? send_msg(n, "STOPPING=1\nSTATUS=stopping") : 0;
}

const char *notify_summary(char *buf, size_t cap, const struct notify_channel *ch, size_t n,
			   unsigned clients)
{
	size_t up = 0, off;
	int w;

	if (cap == 0)
		return buf;
	for (size_t i = 0; i < n; i++)
		up += ch[i].state && strcmp(ch[i].state, "up") == 0;
	w = snprintf(buf, cap, "%zu/%zu channel%s up", up, n, n == 1 ? "" : "s");
	off = w < 0 ? 0 : (size_t)w;
	for (size_t i = 0; i < n && off < cap; i++) {
		w = snprintf(buf + off, cap - off, "%s%s %s", i ? ", " : ": ",
			     ch[i].name ? ch[i].name : "?", ch[i].state ? ch[i].state : "?");
		off += w < 0 ? 0 : (size_t)w;
	}
	if (off < cap)
		snprintf(buf + off, cap - off, "; %u client%s", clients, clients == 1 ? "" : "s");
	return buf;
}

/* Brings STATUS= and the reload timeout extension in line with the daemon's state. */
static void notify_refresh(struct notify *n)
{
	char summary[sizeof(n->status)], busy[96] = "";

	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct channel *ch = daemon_channel_at(n->daemon, i);

		if (ch && channel_get_state(ch) == CHANNEL_RELOADING) {
			snprintf(busy, sizeof(busy), "reloading firmware on %s; ",
				 channel_name(ch));
			break;
		}
	}
	if (busy[0] && !n->extend_usec)
		(void)notify_busy_begin(n, NOTIFY_RELOAD_EXTEND_USEC, NULL);
	else if (!busy[0] && n->extend_usec)
		notify_busy_end(n);
	daemon_status_summary(n->daemon, summary, sizeof(summary));
	if (busy[0]) {
		char line[sizeof(n->status)];

		snprintf(line, sizeof(line), "%s%s", busy, summary);
		(void)notify_status(n, line);
	} else if (n->ready) {
		(void)notify_status(n, summary);
	}
}

static void notify_on_state(void *ud, struct channel *ch, enum channel_state old)
{
	notify_refresh(ud);
}

static void notify_on_refresh(evutil_socket_t fd, short what, void *arg)
{
	notify_refresh(arg);
}

int notify_attach(struct notify *n, struct daemon *d)
{
	const struct daemon_observer o = {.on_state = notify_on_state, .ud = n};
	struct timeval tv = {NOTIFY_REFRESH_MS / 1000, NOTIFY_REFRESH_MS % 1000 * 1000};
	int r;

	if (!n->enabled)
		return 0; /* nobody listens: no observer, no timer */
	n->daemon = d;
	n->ev_refresh = event_new(n->base, -1, EV_PERSIST, notify_on_refresh, n);
	if (!n->ev_refresh || event_add(n->ev_refresh, &tv) < 0)
		return -ENOMEM;
	r = daemon_add_observer(d, &o);
	return r < 0 ? r : 0;
}
