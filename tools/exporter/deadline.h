/* deadline: closes HTTP connections that take too long over a request, however they
 * trickle it (evhttp's own timeout counts from the last read, so a byte every few seconds
 * would keep a connection, and its descriptor, for ever). */
#ifndef M7B_EXPORTER_DEADLINE_H
#define M7B_EXPORTER_DEADLINE_H

#include <event2/bufferevent.h>
#include <event2/event.h>

struct deadline;

/* A guard for connections of base that must bring a whole request within limit_ms of
 * their start or of their previous request. NULL on -ENOMEM. */
struct deadline *deadline_new(struct event_base *base, int limit_ms);
/* Frees the guard (after the evhttp that uses it); NULL is fine. Returns NULL. */
struct deadline *deadline_free(struct deadline *d);
/* For evhttp_set_bevcb(http, deadline_bevcb, d): each new connection's bufferevent,
 * watched. NULL (evhttp then makes its own, unwatched) when out of memory. */
struct bufferevent *deadline_bevcb(struct event_base *base, void *arg);
/* A whole request arrived on bev: its connection's clock starts again. */
void deadline_touch(struct deadline *d, struct bufferevent *bev);

#endif
