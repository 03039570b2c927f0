/* follow: a watching connection to m7bridged kept alive from a libevent loop (reconnects). */
#ifndef M7B_FOLLOW_H
#define M7B_FOLLOW_H

#include <event2/event.h>

#include "m7bridge/client.h"

struct follow;

/* Called for each object the daemon sends (streamed ones and replies to submits). */
typedef void (*follow_on_event_fn)(void *arg, const struct m7b_event *ev);
/* Called after each (re)connect, once the watch is in place. */
typedef void (*follow_on_up_fn)(void *arg, unsigned long reconnects);

/* Connects now (or retries with a backoff of 250 ms doubling to 10 s) and watches with w
 * (copied by reference: it must outlive the follower), without holding the loop: a
 * daemon that does not greet within 2 s counts as a failed attempt. name prefixes log
 * lines. NULL on -ENOMEM. */
struct follow *follow_new(struct event_base *base, const char *name, const char *socket,
			  const struct m7b_watch *w, follow_on_event_fn on_event,
			  follow_on_up_fn on_up, void *arg);
/* Closes and frees; NULL is fine. Returns NULL. */
struct follow *follow_free(struct follow *f);
/* The client for submits and synchronous calls; check follow_up() first. */
struct m7b_client *follow_client(struct follow *f);
/* True while connected with the watch in place (a daemon that answered lately). */
bool follow_up(const struct follow *f);
/* Delivers what the library buffered during a synchronous call, and notices a
 * connection that such a call closed. Call after every call or submit. */
void follow_drain(struct follow *f);

#endif
