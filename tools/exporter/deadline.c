/* deadline: a whole-request deadline for the exporter's HTTP connections. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "deadline.h"

/* How often connections are checked: a connection goes at most this late. */
#define SWEEP_MS 1000

struct deadline_conn {
	struct bufferevent *bev; /* one reference is ours: it stays valid until dropped */
	int64_t since_ms;
	bool shut;
};

struct deadline {
	struct event_base *base;
	struct event *ev_sweep;
	struct deadline_conn *conns;
	size_t n, cap;
	int limit_ms;
};

static int64_t deadline_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* evhttp sets an event callback on its connection's bufferevent for as long as it uses
 * it; bufferevent_free() clears them all. */
static bool deadline_in_use(struct bufferevent *bev)
{
	bufferevent_data_cb r, w;
	bufferevent_event_cb e;
	void *arg;

	bufferevent_getcb(bev, &r, &w, &e, &arg);
	return r || w || e;
}

static void deadline_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct deadline *d = arg;
	int64_t now = deadline_now_ms();

	for (size_t i = 0; i < d->n;) {
		struct deadline_conn *c = &d->conns[i];

		if (!deadline_in_use(c->bev)) {
			bufferevent_decref(c->bev);
			d->conns[i] = d->conns[--d->n];
			continue;
		}
		/* Shut, not closed: evhttp reads the end of the connection and frees it, its
		 * descriptor included, as for a client that went away. */
		if (!c->shut && now - c->since_ms >= d->limit_ms) {
			shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
			c->shut = true;
		}
		i++;
	}
	if (!d->n)
		event_del(d->ev_sweep);
}

struct deadline *deadline_new(struct event_base *base, int limit_ms)
{
	struct deadline *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->base = base;
	d->limit_ms = limit_ms;
	d->ev_sweep = event_new(base, -1, EV_PERSIST, deadline_sweep, d);
	if (!d->ev_sweep)
		return deadline_free(d);
	return d;
}

struct deadline *deadline_free(struct deadline *d)
{
	if (!d)
		return NULL;
	for (size_t i = 0; i < d->n; i++)
		bufferevent_decref(d->conns[i].bev);
	if (d->ev_sweep)
		event_free(d->ev_sweep);
	free(d->conns);
	free(d);
	return NULL;
}

struct bufferevent *deadline_bevcb(struct event_base *base, void *arg)
{
	struct deadline *d = arg;
	struct timeval tv = {SWEEP_MS / 1000, (SWEEP_MS % 1000) * 1000};
	struct bufferevent *bev;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct deadline_conn *c = realloc(d->conns, cap * sizeof(*c));

		if (!c)
			return NULL;
		d->conns = c;
		d->cap = cap;
	}
	/* The descriptor closes with the last reference, ours, as the bufferevent's events
	 * go: closed earlier (by evhttp, without BEV_OPT_CLOSE_ON_FREE), its number could
	 * be reused while those events still watch it, and they would read what the new
	 * descriptor receives. evhttp shuts it for writing at once: the client sees the end
	 * then, and the descriptor goes at the next sweep. */
	bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return NULL;
	bufferevent_incref(bev);
	d->conns[d->n++] = (struct deadline_conn){.bev = bev, .since_ms = deadline_now_ms()};
	if (d->n == 1)
		event_add(d->ev_sweep, &tv);
	return bev;
}

void deadline_touch(struct deadline *d, struct bufferevent *bev)
{
	for (size_t i = 0; d && bev && i < d->n; i++)
		if (d->conns[i].bev == bev)
			d->conns[i].since_ms = deadline_now_ms();
}
