/* The listening Unix socket: socket activation first, else bind with stale-socket
 * handling, mode and group. Accepted sockets go to the owner's callback. */
#ifndef M7B_SERVER_H
#define M7B_SERVER_H

#include <stdbool.h>

#include "conf.h"
#include "log.h"

struct event_base;

/* Checks what the service manager passed ($LISTEN_PID, $LISTEN_FDS) before the process
 * opens a descriptor of its own: a count that names descriptors not open would have the
 * daemon's own, opened later at those numbers, taken for passed ones (and closed). Then
 * no passed descriptor is believed: the variables are removed. 0 (also when nothing was
 * passed), -EBADF (removed), or -ESRCH: $LISTEN_PID names another process, so nothing is
 * taken (sd_listen_fds(3)); the caller says so. */
int server_check_passed(void);

/* Called with each accepted, non-blocking, close-on-exec socket. */
typedef void (*server_accept_fn)(void *ud, int fd);

struct server;

/* Listens as configured in cfg (or on the socket passed by the service manager). 0 with
 * *out, or a negative errno (logged): -EPROTOTYPE when the service manager passed sockets
 * but none is a listening Unix stream socket. */
int server_new(struct event_base *base, const struct conf_daemon *cfg, const struct log *log,
	       server_accept_fn on_accept, void *ud, struct server **out);
/* Stops listening and removes the socket file if this process created it; NULL. */
struct server *server_free(struct server *s);
/* A client left: accepts again after running out of descriptors (ending that episode,
 * logged); no-op otherwise. */
void server_resume(struct server *s);
/* The path clients connect to. */
const char *server_path(const struct server *s);
/* True if the socket came from the service manager. */
bool server_activated(const struct server *s);

#endif
