/* follow: one reconnecting, watching daemon connection for the exporter and the MQTT bridge. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "follow.h"

#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 10000
/* How long a new connection may take to greet (VERSION) before it counts as failed. */
#define GREET_MS 2000

struct follow {
	struct event_base *base;
	struct event *ev_client, *ev_retry, *ev_greet;
	struct m7b_client *client;
	const char *name, *socket;
	const struct m7b_watch *watch;
	follow_on_event_fn on_event;
	follow_on_up_fn on_up;
	void *arg;
	int retry_ms;
	unsigned long connects;
	bool up; /* the watch is in place: synchronous calls get a prompt answer */
};

static void follow_retry_in(struct follow *f, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(f->ev_retry, &tv);
}

/* Forgets the connection and retries soon: the daemon restarts, its clients stay. */
static void follow_lost(struct follow *f, int r)
{
	fprintf(stderr, "%s: daemon connection lost: %s\n", f->name, strerror(-r));
	f->up = false;
	if (f->ev_client)
		event_free(f->ev_client);
	f->ev_client = NULL;
	m7b_client_close(f->client);
	follow_retry_in(f, 200);
}

void follow_drain(struct follow *f)
{
	struct m7b_event *ev;
	int r;

	while (m7b_client_connected(f->client) &&
	       (r = m7b_client_next(f->client, &ev, 0)) != -EAGAIN) {
		if (r == -EBADMSG)
			continue;
		if (r < 0) {
			follow_lost(f, r);
			return;
		}
		f->on_event(f->arg, ev);
		m7b_event_free(ev);
	}
	/* A failed call or submit may have closed the connection. */
	if (f->ev_client && !m7b_client_connected(f->client))
		follow_lost(f, -ECONNRESET);
}

static void follow_on_readable(evutil_socket_t fd, short what, void *arg)
{
	follow_drain(arg);
}

/* Why a connection or its watch failed: the daemon's ERROR without id when it refused us
 * (busy: no slot left; sent right after VERSION, or by an older daemon in place of it),
 * else the library's message. */
static void follow_say_why(struct follow *f)
{
	struct m7b_event *ev;
	char why[512];

	/* Kept before reading: on a connection that never was, reading fails with "not
	 * connected" in place of why the connect failed (no such socket, no permission). */
	snprintf(why, sizeof(why), "%s", m7b_client_error(f->client)->message);
	/* What is queued or already received; the ERROR may still sit unread in the socket
	 * when sending the watch failed first. */
	while (m7b_client_next(f->client, &ev, 0) == 0) {
		bool refused = ev->type == M7B_EV_ERROR && !ev->has_id;

		if (refused)
			fprintf(stderr, "%s: m7bridged refused the connection: %s (%s)\n", f->name,
				ev->message ? ev->message : "no reason given",
				ev->code ? ev->code : "?");
		m7b_event_free(ev);
		if (refused)
			return;
	}
	fprintf(stderr, "%s: cannot follow m7bridged: %s\n", f->name, why);
}

/* A connect or watch that failed: said once per streak of failures (why, or the
 * library's or the daemon's reason), then retried quietly with a growing backoff. */
static void follow_failed(struct follow *f, const char *why)
{
	if (f->retry_ms == RETRY_MIN_MS) {
		if (why)
			fprintf(stderr, "%s: cannot follow m7bridged: %s\n", f->name, why);
		else
			follow_say_why(f);
	}
	if (f->ev_client)
		event_free(f->ev_client);
	f->ev_client = NULL;
	m7b_client_close(f->client);
	follow_retry_in(f, f->retry_ms);
	f->retry_ms = f->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : f->retry_ms * 2;
}

/* The daemon greeted (or closed, or did not in time). Only a daemon that greets gets
 * the synchronous watch: one that is stopped or stuck would hold the loop, and every
 * scrape behind it, for the call's timeout at each retry. */
static void follow_on_greet(evutil_socket_t fd, short what, void *arg)
{
	struct follow *f = arg;
	int r;

	if (what & EV_TIMEOUT) {
		follow_failed(f, "it sent no greeting in 2 s (stopped or stuck?)");
		return;
	}
	r = m7b_client_watch(f->client, f->watch);
	if (r == 0) {
		f->ev_client = event_new(f->base, m7b_client_fd(f->client), EV_READ | EV_PERSIST,
					 follow_on_readable, f);
		r = f->ev_client && event_add(f->ev_client, NULL) == 0 ? 0 : -ENOMEM;
	}
	if (r < 0) {
		follow_failed(f, NULL);
		return;
	}
	f->retry_ms = RETRY_MIN_MS;
	f->up = true;
	if (f->on_up)
		f->on_up(f->arg, f->connects);
	f->connects++;
	follow_drain(f);
}

static void follow_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct follow *f = arg;
	struct timeval tv = {GREET_MS / 1000, (GREET_MS % 1000) * 1000};
	int r = m7b_client_connect(f->client, f->socket);

	if (r == 0) {
		event_del(f->ev_greet);
		r = event_assign(f->ev_greet, f->base, m7b_client_fd(f->client), EV_READ,
				 follow_on_greet, f) == 0 &&
				    event_add(f->ev_greet, &tv) == 0
			    ? 0
			    : -ENOMEM;
	}
	if (r < 0)
		follow_failed(f, NULL);
}

struct follow *follow_new(struct event_base *base, const char *name, const char *socket,
			  const struct m7b_watch *w, follow_on_event_fn on_event,
			  follow_on_up_fn on_up, void *arg)
{
	struct follow *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	*f = (struct follow){.base = base,
			     .name = name,
			     .socket = socket,
			     .watch = w,
			     .on_event = on_event,
			     .on_up = on_up,
			     .arg = arg,
			     .retry_ms = RETRY_MIN_MS};
	f->client = m7b_client_new();
	f->ev_retry = evtimer_new(base, follow_on_retry, f);
	/* Assigned to each new connection's descriptor. */
	f->ev_greet = event_new(base, -1, 0, follow_on_greet, f);
	if (!f->client || !f->ev_retry || !f->ev_greet)
		return follow_free(f);
	/* Synchronous calls (STATUS at a scrape) must not stall the loop for long. */
	m7b_client_set_timeout(f->client, 2000);
	follow_retry_in(f, 0);
	return f;
}

struct follow *follow_free(struct follow *f)
{
	if (!f)
		return NULL;
	if (f->ev_client)
		event_free(f->ev_client);
	if (f->ev_retry)
		event_free(f->ev_retry);
	if (f->ev_greet)
		event_free(f->ev_greet);
	m7b_client_free(f->client);
	free(f);
	return NULL;
}

struct m7b_client *follow_client(struct follow *f)
{
	return f->client;
}

bool follow_up(const struct follow *f)
{
	return f->up && m7b_client_connected(f->client);
}
