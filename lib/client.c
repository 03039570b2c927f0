/* libm7bridge client: one connection to m7bridged, line buffering, request/reply matching. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "m7bridge/client.h"
#include "config.h"
#include "resume.h"

/* Objects that arrived while a blocking call waited for its reply, and the bad lines
 * among them (ev NULL, bad saying why), which next() reports in their place. */
struct queued {
	struct queued *next;
	struct m7b_event *ev;
	char *bad;
};

struct m7b_client {
	int fd;
	char *path;
	int timeout_ms;
	struct m7b_error err;
	char *buf; /* buf[start..len): received bytes not yet returned as lines */
	size_t start, len, cap;
	size_t scanned; /* buf[start..scanned) holds no '\n' */
	bool eof;
	int64_t next_id;
	struct queued *head, *tail;
	struct m7b_event *version;
	bool no_resume;
	bool watched;	 /* a watch was sent on this connection */
	bool hide_hello; /* HELLO was added to the watch only to learn boot ids */
	bool hide_state; /* STATE was added only to learn of restarts without a HELLO */
	struct resume resume;
	int newer;  /* the daemon started after the last connection with frames: 1, 0, -1 unknown */
	bool heard; /* bytes came on this connection */
};

/* Records a failure and returns errnum. */
static int fail(struct m7b_client *c, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct m7b_client *c, int errnum, const char *fmt, ...)
{
	va_list ap;

	c->err.errnum = errnum;
	c->err.code[0] = '\0';
	c->err.offset = 0;
	va_start(ap, fmt);
	vsnprintf(c->err.message, sizeof(c->err.message), fmt, ap);
	va_end(ap);
	return errnum;
}

const char *m7b_version(void)
{
	return M7B_VERSION;
}

struct m7b_client *m7b_client_new(void)
{
	struct m7b_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = -1;
	c->timeout_ms = 5000;
	c->next_id = 1;
	c->newer = -1;
	return c;
}

static void queue_clear(struct m7b_client *c)
{
	while (c->head) {
		struct queued *q = c->head;

		c->head = q->next;
		m7b_event_free(q->ev);
		free(q->bad);
		free(q);
	}
	c->tail = NULL;
}

/* Ends the connection, keeping the objects queued for next(): received, so delivered. */
static void disconnect(struct m7b_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->start = c->len = c->cap = c->scanned = 0;
	c->eof = false;
}

void m7b_client_close(struct m7b_client *c)
{
	if (!c)
		return;
	disconnect(c);
	queue_clear(c);
	c->watched = false;
	c->version = m7b_event_free(c->version);
}

struct m7b_client *m7b_client_free(struct m7b_client *c)
{
	if (!c)
		return NULL;
	m7b_client_close(c);
	free(c->path);
	free(c);
	return NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int m7b_client_connect(struct m7b_client *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if (!c)
		return -EINVAL;
	m7b_client_close(c);
	if (!path || !*path)
		path = getenv(M7B_SOCKET_ENV);
	if (!path || !*path)
		path = M7B_DEFAULT_SOCKET;
	free(c->path);
	c->path = strdup(path);
	if (!c->path)
		return fail(c, -ENOMEM, "out of memory");
	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(c, -ENAMETOOLONG, "socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return fail(c, -errno, "socket: %s", strerror(errno));
	/* A Unix connect completes at once or fails. Non-blocking, a daemon whose queue of
	 * connections is full (stopped or stuck: even closed ones wait there to be
	 * accepted) fails it with EAGAIN instead of blocking the caller for good. */
	do
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		int e = errno;

		close(fd);
		if (e == EAGAIN)
			return fail(c, -e,
				    "cannot connect to %s: the daemon accepts no connection "
				    "(its queue is full)",
				    path);
		return fail(c, -e, "cannot connect to %s: %s", path, strerror(e));
	}
	c->fd = fd;
	memset(&c->err, 0, sizeof(c->err));
	resume_on_connect(&c->resume);
	c->heard = false;
	c->newer = -1;
	return 0;
}

const char *m7b_client_path(const struct m7b_client *c)
{
	return c ? c->path : NULL;
}

int m7b_client_fd(const struct m7b_client *c)
{
	return c ? c->fd : -1;
}

bool m7b_client_connected(const struct m7b_client *c)
{
	return c && c->fd >= 0;
}

void m7b_client_set_timeout(struct m7b_client *c, int ms)
{
	if (c)
		c->timeout_ms = ms < 0 ? -1 : ms;
}

const struct m7b_error *m7b_client_error(const struct m7b_client *c)
{
	static const struct m7b_error no_client = {.errnum = -EINVAL,
						   .message = "no client (NULL)"};

	return c ? &c->err : &no_client;
}

const struct m7b_event *m7b_client_version(const struct m7b_client *c)
{
	return c ? c->version : NULL;
}

/* Absolute deadline for a timeout (-1 = none). */
static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Waits for events on the socket until the deadline; 0, -ETIMEDOUT or -errno. */
static int wait_fd(struct m7b_client *c, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = c->fd, .events = events};
		int t = -1, r;

		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			t = left > 60000 ? 60000 : (int)left;
		}
		r = poll(&pfd, 1, t);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* Reads what the socket has into buf; 0 (got bytes or EOF), -EAGAIN or -errno. */
static int fill(struct m7b_client *c)
{
	ssize_t n;

	/* Lines are taken from the front without moving the rest: the bytes left are
	 * moved down once per read here, not once per line (a burst of short lines would
	 * move the whole buffer for each). */
	if (c->start && c->cap - c->len < 4096) {
		memmove(c->buf, c->buf + c->start, c->len - c->start);
		c->len -= c->start;
		c->scanned -= c->start;
		c->start = 0;
	}
	if (c->cap - c->len < 4096) {
		size_t ncap = c->cap ? c->cap * 2 : 16384;
		char *nb;

		if (ncap > 2 * (size_t)M7B_CLIENT_LINE_MAX + 16384)
			ncap = 2 * (size_t)M7B_CLIENT_LINE_MAX + 16384;
		if (ncap <= c->cap)
			return -EMSGSIZE;
		nb = realloc(c->buf, ncap);
		if (!nb)
			return -ENOMEM;
		c->buf = nb;
		c->cap = ncap;
	}
	do
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0)
		c->eof = true;
	/* The daemon had started by then (it speaks first, VERSION): the reference for
	 * telling a restarted one apart. Not the connect: under socket activation that may
	 * come before the daemon starts. */
	if (n > 0 && !c->heard) {
		c->heard = true;
		resume_on_heard(&c->resume, now_ms());
	}
	c->len += (size_t)n;
	return 0;
}

/* Takes one complete line out of buf into a parsed event. 1 = got one, 0 = none yet. */
static int take_line(struct m7b_client *c, struct m7b_event **out)
{
	char *nl =
		c->len > c->scanned ? memchr(c->buf + c->scanned, '\n', c->len - c->scanned) : NULL;
	size_t n, ln;
	int r;

	if (!nl) {
		c->scanned = c->len;
		return 0;
	}
	const char *line = c->buf + c->start;
	n = (size_t)(nl - line);
	ln = n > 0 && line[n - 1] == '\r' ? n - 1 : n;
	if (ln > M7B_CLIENT_LINE_MAX) {
		r = -EMSGSIZE;
	} else {
		r = m7b_event_parse(line, ln, out, &c->err);
	}
	c->start += n + 1;
	if (c->start == c->len)
		c->start = c->len = 0;
	c->scanned = c->start;
	if (r == -EMSGSIZE)
		return fail(c, r, "a line from the daemon is longer than %u bytes",
			    M7B_CLIENT_LINE_MAX);
	if (r == -EBADMSG) {
		char msg[sizeof(c->err.message)];

		snprintf(msg, sizeof(msg), "%s", c->err.message);
		return fail(c, r, "bad line from daemon: %s", msg);
	}
	if (r < 0)
		return fail(c, r, "%s", strerror(-r));
	return 1;
}

/* Remembers the VERSION object and refuses another major version. */
static int check_version(struct m7b_client *c, const struct m7b_event *ev)
{
	struct m7b_event *copy;

	if (ev->proto_major != M7B_PROTO_MAJOR) {
		int major = ev->proto_major;

		/* Not m7b_client_close(): the objects a blocking call queued before this
		 * line were received, so next() still returns them. */
		disconnect(c);
		c->watched = false;
		c->version = m7b_event_free(c->version);
		return fail(c, -EPROTO, "daemon speaks protocol %d, this client %d", major,
			    M7B_PROTO_MAJOR);
	}
	if (m7b_event_parse(ev->line, ev->line_len, &copy, NULL) == 0) {
		m7b_event_free(c->version);
		c->version = copy;
	}
	return 0;
}

/* Reads the next object from the socket (not the queue) until the deadline. */
static int read_event(struct m7b_client *c, struct m7b_event **out, int64_t deadline, bool wait)
{
	int r;

	*out = NULL;
	if (c->fd < 0)
		return fail(c, -ENOTCONN, "not connected");
	for (;;) {
		r = take_line(c, out);
		if (r < 0) {
			if (r == -EMSGSIZE)
				disconnect(c);
			return r;
		}
		if (r > 0) {
			if ((*out)->type == M7B_EV_VERSION && (r = check_version(c, *out)) < 0)
				*out = m7b_event_free(*out);
			return r < 0 ? r : 0;
		}
		if (c->len - c->start > M7B_CLIENT_LINE_MAX) {
			disconnect(c);
			return fail(c, -EMSGSIZE, "a line from the daemon is longer than %u bytes",
				    M7B_CLIENT_LINE_MAX);
		}
		if (c->eof && c->len > c->start) {
			/* Cut off mid-line (the daemon was killed while writing): said once,
			 * not dropped in silence. */
			size_t n = c->len - c->start;

			c->start = c->len = c->scanned = 0;
			return fail(c, -EBADMSG,
				    "the daemon closed the connection within a line (%zu bytes "
				    "dropped)",
				    n);
		}
		if (c->eof)
			return fail(c, -ECONNRESET, "the daemon closed the connection");
		r = fill(c);
		if (r == 0)
			continue;
		if (r != -EAGAIN)
			return fail(c, r == -EMSGSIZE ? -EMSGSIZE : -ECONNRESET,
				    "connection to the daemon lost: %s", strerror(-r));
		if (!wait)
			return -EAGAIN;
		r = wait_fd(c, POLLIN, deadline);
		if (r == -ETIMEDOUT)
			return fail(c, r, "no answer from the daemon in time");
		if (r < 0)
			return fail(c, r, "poll: %s", strerror(-r));
	}
}

bool m7b_client_pending(const struct m7b_client *c)
{
	return c &&
	       (c->head ||
		(c->len > c->scanned && memchr(c->buf + c->scanned, '\n', c->len - c->scanned)) ||
		c->eof);
}

/* Notes what a delivered event says about the position; true if it is an object the
 * application did not ask for. */
static bool track(struct m7b_client *c, const struct m7b_event *ev)
{
	resume_on_event(&c->resume, ev);
	return (ev->type == M7B_EV_HELLO && c->hide_hello) ||
	       (ev->type == M7B_EV_STATE && c->hide_state);
}

/* The next event, from the queue or the socket (waiting until deadline if wait). */
static int next_event(struct m7b_client *c, struct m7b_event **out, int64_t deadline, bool wait)
{
	if (c->head) {
		struct queued *q = c->head;

		c->head = q->next;
		if (!c->head)
			c->tail = NULL;
		*out = q->ev;
		if (q->bad) {
			fail(c, -EBADMSG, "%s", q->bad);
			free(q->bad);
			free(q);
			return -EBADMSG;
		}
		free(q);
		return 0;
	}
	return read_event(c, out, deadline, wait);
}

int m7b_client_next(struct m7b_client *c, struct m7b_event **out, int timeout_ms)
{
	/* One deadline for the whole call: the objects hidden from the caller must not
	 * start the wait over, or a stream of them keeps it from ever timing out. */
	int64_t deadline = deadline_of(timeout_ms);

	if (out)
		*out = NULL;
	if (!c || !out)
		return c ? fail(c, -EINVAL, "no place for the event (out is NULL)") : -EINVAL;
	for (;;) {
		int r = next_event(c, out, deadline, timeout_ms != 0);

		if (r < 0 || !track(c, *out))
			return r;
		*out = m7b_event_free(*out);
	}
}

/* Writes all of a request line, waiting for room until the deadline. A line cut short
 * would join the next request into one the daemon refuses, whose reply never comes: the
 * sending side is shut then (-ECONNRESET), which ends the cut line for the daemon, while
 * what it sends can still be read; a line not begun leaves the connection usable. */
static int write_all(struct m7b_client *c, const char *s, size_t n, int64_t deadline)
{
	size_t total = n;

	while (n > 0) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);

		if (w > 0) {
			s += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int r = wait_fd(c, POLLOUT, deadline);

			if (r < 0 && n < total) {
				(void)shutdown(c->fd, SHUT_WR);
				return fail(c, -ECONNRESET,
					    "request cut short after %zu of %zu bytes (%s): the "
					    "connection takes no more requests",
					    total - n, total, strerror(-r));
			}
			if (r < 0)
				return fail(c, r, "cannot write to the daemon: %s", strerror(-r));
			continue;
		}
		return fail(c, -ECONNRESET, "connection to the daemon lost: %s", strerror(errno));
	}
	return 0;
}

/* Sends a formatted request line (freed here) carrying the next id. */
static int submit_line(struct m7b_client *c, char *line, int64_t *id, int64_t deadline)
{
	int r = write_all(c, line, strlen(line), deadline);

	free(line);
	if (r < 0)
		return r;
	if (id)
		*id = c->next_id;
	c->next_id++;
	return 0;
}

/* m7b_client_submit, sending until deadline. */
static int submit_until(struct m7b_client *c, const struct m7b_request *req, int64_t *id,
			int64_t deadline)
{
	char *line;
	int r;

	if (c->fd < 0)
		return fail(c, -ENOTCONN, "not connected");
	line = m7b_request_format(req, c->next_id, &r);
	if (!line && r == -EINVAL)
		return fail(c, r, "invalid request: a value out of range, or text not UTF-8");
	if (!line && r == -EMSGSIZE)
		return fail(c, r, "request longer than %u bytes, the longest line the daemon takes",
			    M7B_LINE_MAX);
	if (!line)
		return fail(c, r, "cannot format request: %s", strerror(-r));
	return submit_line(c, line, id, deadline);
}

int m7b_client_submit(struct m7b_client *c, const struct m7b_request *req, int64_t *id)
{
	if (!c)
		return -EINVAL;
	return submit_until(c, req, id, deadline_of(c->timeout_ms));
}

/* Queues ev, or with ev NULL the bad line the last error describes. */
static int enqueue(struct m7b_client *c, struct m7b_event *ev)
{
	struct queued *q = malloc(sizeof(*q));

	if (q && !ev && !(q->bad = strdup(c->err.message))) {
		free(q);
		q = NULL;
	}
	if (!q) {
		m7b_event_free(ev);
		return -ENOMEM;
	}
	if (ev)
		q->bad = NULL;
	q->next = NULL;
	q->ev = ev;
	if (c->tail)
		c->tail->next = q;
	else
		c->head = q;
	c->tail = q;
	return 0;
}

/* The class that answers cmd when it succeeds (docs/CLIENT-PROTOCOL.md, section 3). */
static enum m7b_event_type reply_type(enum m7b_cmd cmd)
{
	switch (cmd) {
	case M7B_CMD_STATUS:
		return M7B_EV_STATUS;
	case M7B_CMD_INCIDENTS:
		return M7B_EV_INCIDENTS;
	case M7B_CMD_PING:
		return M7B_EV_PONG;
	default:
		return M7B_EV_ACK;
	}
}

/* Waits for the reply to request id; other objects are queued for m7b_client_next, and
 * so are those of a class this library does not know (clients ignore those, even when
 * they echo the id). */
static int wait_reply(struct m7b_client *c, int64_t id, enum m7b_event_type want,
		      struct m7b_event **reply, int64_t deadline)
{
	struct m7b_event *ev;
	int r;

	for (;;) {
		r = read_event(c, &ev, deadline, true);
		if (r == -EBADMSG) {
			/* Not our reply; next() reports it where it came in the stream. */
			if (enqueue(c, NULL) < 0)
				return fail(c, -ENOMEM, "out of memory");
			continue;
		}
		if (r < 0)
			return r;
		if (!(ev->has_id && ev->id == id) || ev->type == M7B_EV_UNKNOWN) {
			if (enqueue(c, ev) < 0)
				return fail(c, -ENOMEM, "out of memory");
			continue;
		}
		break;
	}
	if (ev->type == M7B_EV_ERROR) {
		fail(c, -EREMOTEIO, "%s", ev->message ? ev->message : "request failed");
		snprintf(c->err.code, sizeof(c->err.code), "%s", ev->code ? ev->code : "");
		r = -EREMOTEIO;
	} else if (ev->type != want) {
		r = fail(c, -EBADMSG, "the daemon answered with %s where %s was due",
			 m7b_event_type_to_string(ev->type), m7b_event_type_to_string(want));
		ev = m7b_event_free(ev);
	}
	if (reply)
		*reply = ev;
	else
		m7b_event_free(ev);
	return r;
}

/* m7b_client_call with one deadline for sending and for the reply: a daemon slow to
 * take the request must not stretch the call to twice its timeout. */
static int call_until(struct m7b_client *c, const struct m7b_request *req, struct m7b_event **reply,
		      int64_t deadline)
{
	/* Set by submit_until() when it succeeds, which a release build cannot tell. */
	int64_t id = 0;
	int r;

	if (reply)
		*reply = NULL;
	r = submit_until(c, req, &id, deadline);
	if (r < 0)
		return r;
	return wait_reply(c, id, reply_type(req->cmd), reply, deadline);
}

int m7b_client_call(struct m7b_client *c, const struct m7b_request *req, struct m7b_event **reply)
{
	if (reply)
		*reply = NULL;
	if (!c)
		return -EINVAL;
	return call_until(c, req, reply, deadline_of(c->timeout_ms));
}

/* True if the classes of w select cls: no classes (NULL or none: left out of the
 * request) means all. */
static bool selects(const struct m7b_watch *w, const char *cls)
{
	if (!w->classes || !w->nclasses)
		return true;
	for (size_t i = 0; i < w->nclasses; i++)
		if (w->classes[i] && strcmp(w->classes[i], cls) == 0)
			return true;
	return false;
}

/* The watch line: HELLO and STATE added when the classes leave them out (resume needs
 * boot ids, and to hear of restarts without a HELLO), and the position of the last frame
 * delivered on an earlier connection. */
static char *resume_line(struct m7b_client *c, const struct m7b_watch *w, const char *pos,
			 bool *hide_hello, bool *hide_state, int *error)
{
	struct m7b_watch w2 = w ? *w : (struct m7b_watch){0};
	const char **cls = NULL;
	bool has_hello = selects(&w2, "HELLO"), has_state = selects(&w2, "STATE");

	if (!has_hello || !has_state) {
		cls = malloc((w2.nclasses + 2) * sizeof(*cls));
		if (!cls) {
			*error = -ENOMEM;
			return NULL;
		}
		if (w2.nclasses)
			memcpy(cls, w2.classes, w2.nclasses * sizeof(*cls));
		if (!has_hello)
			cls[w2.nclasses++] = "HELLO";
		if (!has_state)
			cls[w2.nclasses++] = "STATE";
		w2.classes = cls;
	}
	struct m7b_request req = {.cmd = M7B_CMD_WATCH, .watch = &w2};
	char *line = m7b_request_format(&req, c->next_id, error);
	free(cls);
	size_t n = line ? strlen(line) : 0;
	char *out = line;
	if (line && *pos && n >= 2 && (out = realloc(line, n + strlen(pos) + 1))) {
		memcpy(out + n - 2, pos, strlen(pos));
		memcpy(out + n - 2 + strlen(pos), "}\n", 3);
		/* The position must not take the line past the limit m7b_request_format
		 * kept it within: the daemon would close the connection (too_long). */
		if (strlen(out) - 1 > M7B_LINE_MAX) {
			free(out);
			out = NULL;
			*error = -EMSGSIZE;
		}
	} else if (line && *pos) {
		free(line);
		*error = -ENOMEM;
	}
	*hide_hello = !has_hello;
	*hide_state = !has_state;
	return out;
}

/* Whether the daemon started after since_ms (CLOCK_MONOTONIC, as its STATUS "uptime_ms"):
 * then it is not the one a connection made at since_ms talked to, but one that restarted
 * since. Such a daemon holds no frame from before, and seq restarted with the HELLO it
 * asked for, so a position from the one before may name a frame it never had, or one of
 * its own. Its start lies after the STATUS was asked for, less the uptime (in whole ms). */
static int daemon_is_newer(struct m7b_client *c, int64_t since_ms, bool *newer, int64_t deadline)
{
	struct m7b_request req = {.cmd = M7B_CMD_STATUS};
	struct m7b_event *st = NULL;
	int64_t asked = now_ms(), up;
	int r = call_until(c, &req, &st, deadline);

	*newer = false;
	if (r < 0 && r != -EREMOTEIO)
		return r;
	if (r == 0 && m7b_event_get_int(st, "uptime_ms", &up) == 0)
		*newer = asked - up - 1 > since_ms;
	m7b_event_free(st);
	return 0;
}

/* A watch line that could not be formatted: error r (negative errno). */
static int watch_format_failed(struct m7b_client *c, int r)
{
	if (r == -EMSGSIZE)
		return fail(c, r, "request longer than %u bytes, the longest line the daemon takes",
			    M7B_LINE_MAX);
	if (r == -EINVAL)
		return fail(c, r, "invalid request: a value out of range, or text not UTF-8");
	return fail(c, r, "cannot format request: %s", strerror(-r));
}

int m7b_client_watch(struct m7b_client *c, const struct m7b_watch *w)
{
	struct m7b_request req = {.cmd = M7B_CMD_WATCH, .watch = w};
	bool hide_hello = false, hide_state = false;
	int64_t id;
	int r;

	if (!c)
		return -EINVAL;
	if (c->fd < 0)
		return fail(c, -ENOTCONN, "not connected");
	/* One deadline for all the watch sends and waits for, the STATUS included. */
	int64_t deadline = deadline_of(c->timeout_ms);
	char pos[64] = "";
	if (!c->no_resume && !c->watched) {
		const struct resume_pos *p = resume_from(&c->resume, w);
		int64_t since_ms;
		bool newer = false;

		if (p)
			snprintf(pos, sizeof(pos), ",\"since_seq\":%u,\"boot_id\":%u", p->frame_seq,
				 p->frame_boot);
		/* Only a client that had frames asks which daemon it talks to, once per
		 * connection, and only for a watch the daemon could take with the longer of
		 * the two positions (since_seq, else since_ns). */
		if (c->newer < 0 && resume_seen(&c->resume, &since_ms)) {
			char *trial;

			c->next_id++; /* the id the watch gets after the STATUS */
			trial = resume_line(c, w, *pos ? pos : ",\"since_ns\":0", &hide_hello,
					    &hide_state, &r);
			c->next_id--;
			if (!trial)
				return watch_format_failed(c, r);
			free(trial);
			if ((r = daemon_is_newer(c, since_ms, &newer, deadline)) < 0)
				return r;
			c->newer = newer;
		}
		/* A restarted daemon: all it holds came after the last frame delivered. */
		if (c->newer > 0)
			snprintf(pos, sizeof(pos), ",\"since_ns\":0");
	}
	char *line = c->no_resume ? m7b_request_format(&req, c->next_id, &r)
				  : resume_line(c, w, pos, &hide_hello, &hide_state, &r);
	if (!line)
		return watch_format_failed(c, r);
	r = submit_line(c, line, &id, deadline);
	if (r < 0)
		return r;
	r = wait_reply(c, id, M7B_EV_ACK, NULL, deadline);
	/* A refused watch changes nothing: the previous one streams on, what it asked for
	 * still shown, and the next one may still resume. (Without an answer the daemon may
	 * have taken it: resuming again could repeat frames.) */
	if (r == -EREMOTEIO)
		return r;
	c->watched = true;
	c->hide_hello = hide_hello;
	c->hide_state = hide_state;
	return r;
}

void m7b_client_set_resume(struct m7b_client *c, bool on)
{
	if (c)
		c->no_resume = !on;
}

int m7b_client_position(const struct m7b_client *c, const char *channel, uint32_t *boot_id,
			uint32_t *seq)
{
	if (!c || !boot_id || !seq)
		return -EINVAL;
	return resume_position(&c->resume, channel, boot_id, seq);
}

int m7b_client_unwatch(struct m7b_client *c)
{
	struct m7b_request req = {.cmd = M7B_CMD_UNWATCH};

	return m7b_client_call(c, &req, NULL);
}

int m7b_client_status(struct m7b_client *c, struct m7b_event **reply)
{
	struct m7b_request req = {.cmd = M7B_CMD_STATUS};

	return m7b_client_call(c, &req, reply);
}

int m7b_client_send(struct m7b_client *c, const char *channel, int port, const void *data,
		    size_t len)
{
	struct m7b_request req = {
		.cmd = M7B_CMD_SEND, .channel = channel, .port = port, .data = data, .len = len};

	return m7b_client_call(c, &req, NULL);
}

int m7b_client_recover(struct m7b_client *c, const char *channel, struct m7b_event **reply)
{
	struct m7b_request req = {.cmd = M7B_CMD_RECOVER, .channel = channel};

	return m7b_client_call(c, &req, reply);
}

int m7b_client_reload(struct m7b_client *c, const char *channel, const char *firmware,
		      struct m7b_event **reply)
{
	struct m7b_request req = {.cmd = M7B_CMD_RELOAD, .channel = channel, .firmware = firmware};

	return m7b_client_call(c, &req, reply);
}

int m7b_client_ping(struct m7b_client *c)
{
	struct m7b_request req = {.cmd = M7B_CMD_PING};

	return m7b_client_call(c, &req, NULL);
}

int m7b_client_incidents(struct m7b_client *c, const char *channel, struct m7b_event **reply)
{
	struct m7b_request req = {.cmd = M7B_CMD_INCIDENTS, .channel = channel};

	return m7b_client_call(c, &req, reply);
}
