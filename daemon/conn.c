/* One connected client: request lines in, bounded byte queue out, slow-client policy. */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "fanout.h"
#include "log.h"
#include "rawsys.h"

#define CONN_IN_CAP	 (PROTO_LINE_MAX + 2) /* line, optional \r, \n */
#define CONN_REPLY_SLACK (1u << 20)	      /* room for replies above the stream limit */
#define CONN_OUT_MIN	 16384
#define CONN_HUP_CHECK_S 1 /* how often a client not read from is checked for a hangup */
#define CONN_END_GRACE_S 2 /* how long an ending client's replies may take to leave */

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void on_hup_check(evutil_socket_t fd, short what, void *arg);
static void update_reading(struct conn *c);

/* The peer's credentials, read once at accept: authorization later reuses them, so a
 * peer cannot pass its socket to a more privileged process to gain rights. */
static void take_credentials(struct conn *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gids[c->ngids++] = cred.gid;
#ifdef SO_PEERGROUPS
	len = sizeof(c->gids_inline) - sizeof(c->gids[0]);
	int r = getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, c->gids + 1, &len);
	/* More than fit inline (a user of a directory service easily has): the kernel says
	 * how many bytes they take. Leaving some out would refuse a member of allow_group. */
	if (r < 0 && errno == ERANGE && len > 0) {
		gid_t *all = malloc(sizeof(gid_t) + len);
		if (!all)
			return; /* the primary group only: fewer rights, never more */
		all[0] = cred.gid;
		c->gids = all;
		r = getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, c->gids + 1, &len);
	}
	if (r == 0)
		c->ngids += len / sizeof(c->gids[0]);
#endif
}

struct conn *conn_new(struct event_base *base, int fd, uint64_t id, size_t queue_bytes,
		      const struct log *log, const struct conn_ops *ops, void *ud)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->id = id;
	c->uid = -1;
	c->gids = c->gids_inline;
	c->log = log;
	c->ops = ops;
	c->ud = ud;
	c->queue_limit = queue_bytes;
	c->hard_limit = queue_bytes + CONN_REPLY_SLACK;
	c->mh.msg_iov = c->iov;
	c->in = malloc(CONN_IN_CAP);
	c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(base, fd, EV_WRITE, on_write, c);
	c->ev_hup = event_new(base, -1, EV_PERSIST, on_hup_check, c);
	if (!c->in || !c->ev_read || !c->ev_write || !c->ev_hup ||
	    event_add(c->ev_read, NULL) < 0) {
		c->fd = -1; /* the caller still owns fd on failure */
		return conn_free(c);
	}
	take_credentials(c);
	return c;
}

/* Bytes in the connection's own queue (not the shared ones). */
static size_t queue_len(const struct conn *c)
{
	return c->out_end - c->out_start;
}

/* Lets go of the shared lines (sent, the client is gone, or they were copied). */
static void drop_segs(struct conn *c)
{
	for (unsigned i = 0; i < c->nsegs; i++)
		if (c->ck[i])
			fanout_chunk_release(c->ck[i]);
	c->nsegs = 0;
	c->run_bytes = 0;
	c->run_end = NULL;
}

struct conn *conn_free(struct conn *c)
{
	if (!c)
		return NULL;
	if (c->ev_read)
		event_free(c->ev_read);
	if (c->ev_write)
		event_free(c->ev_write);
	if (c->ev_hup)
		event_free(c->ev_hup);
	if (c->fd >= 0)
		close(c->fd);
	drop_segs(c);
	free(c->in);
	free(c->out);
	free(c->chan_names);
	free(c->replay);
	if (c->gids != c->gids_inline)
		free(c->gids);
	free(c);
	return NULL;
}

void conn_close(struct conn *c, const char *reason)
{
	if (c->closing)
		return;
	c->closing = true;
	conn_frame_update(c);
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	event_del(c->ev_read);
	event_del(c->ev_write);
	event_del(c->ev_hup);
	/* Lost with the connection, the log says how much: unless the peer hung up, when
	 * nobody was there to take it (every client that exits before reading VERSION). */
	c->unsent = conn_queued(c) && !conn_peer_gone(c) ? conn_queued(c) : 0;
	drop_segs(c); /* nothing more is sent, as with the queue */
	if (c->ops && c->ops->on_closing)
		c->ops->on_closing(c->ud, c);
}

void conn_end(struct conn *c, const char *reason)
{
	if (c->closing || c->ending)
		return;
	/* The replies before the fatal line and its error are owed: close only once they
	 * have left, as a client reads them. Whatever follows the line is not read. */
	c->ending = true;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	conn_unwatch(c);
	event_del(c->ev_read);
	c->read_paused = true;
	struct timeval tv = {CONN_END_GRACE_S, 0};
	event_add(c->ev_hup, &tv);
	update_reading(c);
}

/* A size for out[] that holds n bytes: doubling from CONN_OUT_MIN, at most limit (or n). */
static size_t out_size(size_t from, size_t n, size_t limit)
{
	size_t want = from ? from : CONN_OUT_MIN;
	while (want < n)
		want *= 2;
	if (want > limit)
		want = limit;
	return want < n ? n : want;
}

/* The own bytes moved from old (where out_start was) to base: so do their segments. */
static void rebase(struct conn *c, uintptr_t old, char *base)
{
	for (unsigned i = 0; i < c->nsegs; i++)
		if (!c->ck[i])
			c->iov[i].iov_base = base + ((uintptr_t)c->iov[i].iov_base - old);
}

/* Makes room for n more bytes in out[] within limit (what is queued or referenced counts).
 * False if it would exceed limit or ENOMEM. */
static bool reserve(struct conn *c, size_t n, size_t limit)
{
	size_t used = queue_len(c);
	if (conn_queued(c) + n > limit)
		return false;
	if (used == 0)
		c->out_start = c->out_end = 0; /* keeps a client that keeps up in few pages */
	if (c->out_alloc - c->out_end >= n)
		return true;
	if (c->out_start > 0 && c->out_alloc - used >= n) {
		rebase(c, (uintptr_t)(c->out + c->out_start), c->out);
		memmove(c->out, c->out + c->out_start, used);
		c->out_start = 0;
		c->out_end = used;
		return true;
	}
	size_t want = out_size(c->out_alloc, used + n, limit);
	char *p = malloc(want);
	if (!p)
		return false;
	if (used) {
		memcpy(p, c->out + c->out_start, used);
		rebase(c, (uintptr_t)(c->out + c->out_start), p);
	}
	free(c->out);
	c->out = p;
	c->out_alloc = want;
	c->out_start = 0;
	c->out_end = used;
	return true;
}

/* Copies everything queued, shared lines and own bytes, in order into a new out[] of one
 * segment, and lets go of the chunks: for a queue with more segments than it can keep.
 * Every byte was admitted under a limit already, so none applies here. */
static void settle(struct conn *c)
{
	size_t total = conn_queued(c);
	size_t want = out_size(c->out_alloc, total, total);
	char *p = malloc(want);
	if (!p) {
		conn_close(c, "out of memory");
		return;
	}
	size_t o = 0;
	for (unsigned i = 0; i < c->nsegs; i++) {
		memcpy(p + o, c->iov[i].iov_base, c->iov[i].iov_len);
		o += c->iov[i].iov_len;
	}
	drop_segs(c);
	free(c->out);
	c->out = p;
	c->out_alloc = want;
	c->out_start = 0;
	c->out_end = total;
	if (total) {
		c->iov[0] = (struct iovec){p, total};
		c->ck[0] = NULL;
		c->nsegs = 1;
	}
}

/* Makes sure a new segment fits, settling the queue when it is full. False if the client
 * is gone. */
static bool seg_room(struct conn *c)
{
	if (c->nsegs == CONN_SEGS_MAX)
		settle(c);
	return !c->closing;
}

/* Appends len bytes to out[] (reserved already) as the queue's newest bytes. */
static void append(struct conn *c, const char *line, size_t len)
{
	char *dst = c->out + c->out_end;
	memcpy(dst, line, len);
	c->out_end += len;
	/* The newest own bytes end where these begin. */
	if (c->nsegs && !c->ck[c->nsegs - 1]) {
		c->iov[c->nsegs - 1].iov_len += len;
	} else {
		c->iov[c->nsegs] = (struct iovec){dst, len};
		c->ck[c->nsegs++] = NULL;
		c->run_end = NULL; /* the newest segment is of own bytes now */
	}
	c->delivered++;
	c->dirty = true;
}

/* Reserves room for len own bytes and a segment for them. False if not now (the limit,
 * memory) or the client is gone. */
static bool reserve_seg(struct conn *c, size_t len, size_t limit)
{
	bool merges = c->nsegs && !c->ck[c->nsegs - 1];
	if (!merges && !seg_room(c))
		return false;
	return reserve(c, len, limit);
}

void conn_reply(struct conn *c, const char *line, size_t len)
{
	if (c->closing)
		return;
	if (!reserve_seg(c, len, c->hard_limit)) {
		if (!c->closing)
			conn_close(c, "reply queue overflow");
		return;
	}
	append(c, line, len);
	conn_flush(c);
}

/* After the queue drained below half: say how much was lost and resume. */
static void maybe_caught_up(struct conn *c)
{
	if (!c->dropping || conn_queued(c) > c->queue_limit / 2)
		return;
	char buf[192];
	int n = proto_render_dropped(buf, sizeof(buf), c->dropped_since, c->dropped,
				     c->raw_dropped_since, c->raw_dropped);
	if (n > 0 && reserve_seg(c, (size_t)n, c->hard_limit)) {
		append(c, buf, (size_t)n);
		c->delivered--; /* a notice, not a delivered object */
		c->dropping = false;
		c->dropped_since = 0;
		c->raw_dropped_since = 0;
	}
}

/* A streamed object that does not fit: the client's policy decides. */
static void refuse(struct conn *c)
{
	if (c->policy == PROTO_POLICY_DISCONNECT) {
		struct log_fields f = {.message_id = LOG_MID_CLIENT_SLOW, .client = c->id};
		log_struct(c->log, LOG_WARNING, &f,
			   "client %llu (pid %d) is not reading: disconnecting (policy disconnect)",
			   (unsigned long long)c->id, c->pid);
		conn_close(c, "slow (policy disconnect)");
		return;
	}
	if (!c->dropping) {
		struct log_fields f = {.message_id = LOG_MID_CLIENT_SLOW, .client = c->id};
		log_struct(c->log, LOG_INFO, &f,
			   "client %llu (pid %d) fell behind: dropping its streamed objects",
			   (unsigned long long)c->id, c->pid);
	}
	c->dropping = true;
	c->run_end = NULL; /* every line takes the general path while dropping */
	c->dropped++;
	c->dropped_since++;
}

/* The start of every streamed object: a client that caught up after dropping gets its
 * DROPPED notice first. False if the client is gone. */
static bool stream_begin(struct conn *c)
{
	if (!c->closing && c->dropping)
		maybe_caught_up(c);
	return !c->closing;
}

void conn_stream(struct conn *c, const char *line, size_t len)
{
	if (!stream_begin(c))
		return;
	if (!c->dropping && reserve_seg(c, len, c->queue_limit)) {
		append(c, line, len);
		return;
	}
	if (!c->closing)
		refuse(c);
}

void conn_stream_raw(struct conn *c, const char *line, size_t len, size_t raw_bytes)
{
	uint64_t dropped = c->dropped;
	conn_stream(c, line, len);
	if (c->dropped != dropped) {
		c->raw_dropped += raw_bytes;
		c->raw_dropped_since += raw_bytes;
	}
}

/* References line in the current chunk of fo: extends the last segment when it follows
 * on, else starts one (the only place a chunk is held for a line). */
static void add_run(struct conn *c, struct fanout *fo, const char *line, size_t len)
{
	struct fanout_chunk *k = fanout_current(fo);
	struct iovec *last = &c->iov[c->nsegs ? c->nsegs - 1 : 0];
	if (c->nsegs && c->ck[c->nsegs - 1] == k &&
	    (const char *)last->iov_base + last->iov_len == line) {
		last->iov_len += len;
	} else {
		if (!seg_room(c))
			return;
		/* Only read from (sendmsg, memcpy): iovec has no const member. */
		c->iov[c->nsegs] = (struct iovec){(void *)(uintptr_t)line, len};
		c->ck[c->nsegs++] = k;
		fanout_chunk_hold(k);
	}
	c->run_end = line + len;
	c->run_iov = &c->iov[c->nsegs - 1];
	c->run_bytes += len;
	/* Admitted above: queued <= queue_limit, so the room is not negative. */
	c->run_max = (uintptr_t)c->run_end + (c->queue_limit - conn_queued(c));
	c->delivered++;
	c->dirty = true;
}

void conn_stream_ref_slow(struct conn *c, struct fanout *fo, const char *line, size_t len)
{
	if (!stream_begin(c))
		return;
	if (!c->dropping && conn_queued(c) + len <= c->queue_limit) {
		add_run(c, fo, line, len);
		return;
	}
	refuse(c);
}

/* Drops the first sent bytes of the queue, segment by segment. */
static void consume(struct conn *c, size_t sent)
{
	unsigned i = 0;
	while (i < c->nsegs && sent >= c->iov[i].iov_len) {
		size_t len = c->iov[i].iov_len;
		sent -= len;
		if (c->ck[i]) {
			c->run_bytes -= len;
			fanout_chunk_release(c->ck[i]);
		} else {
			c->out_start += len;
		}
		i++;
	}
	if (i < c->nsegs && sent) {
		c->iov[i].iov_base = (char *)c->iov[i].iov_base + sent;
		c->iov[i].iov_len -= sent;
		if (c->ck[i])
			c->run_bytes -= sent;
		else
			c->out_start += sent;
	}
	memmove(&c->iov[0], &c->iov[i], (c->nsegs - i) * sizeof(c->iov[0]));
	memmove(&c->ck[0], &c->ck[i], (c->nsegs - i) * sizeof(c->ck[0]));
	c->nsegs -= i;
	if (!c->nsegs)
		c->run_end = NULL;
	else
		c->run_iov = &c->iov[c->nsegs - 1]; /* moved down with the rest */
}

/* What one sendmsg() of the whole queue returned (k, and errno when it failed): what the
 * socket did not take stays queued as it is (shared lines stay shared). 1: all sent,
 * 0: the socket is full, -1: closed. */
static int sent_segs(struct conn *c, ssize_t k)
{
	if (k <= 0 && !(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
		conn_close(c, k < 0 ? strerror(errno) : "write failed");
		return -1;
	}
	if (k > 0 && (size_t)k == conn_queued(c)) {
		/* The usual case for a client that keeps up: nothing left anywhere. */
		drop_segs(c);
		c->out_start = c->out_end = 0;
		return 1;
	}
	if (k > 0)
		consume(c, (size_t)k);
	if (queue_len(c) == 0)
		c->out_start = c->out_end = 0;
	return c->nsegs == 0;
}

/* One sendmsg() for the whole queue, own bytes and shared lines in their order; as
 * sent_segs(). */
static int send_segs(struct conn *c)
{
	ssize_t k;
	c->mh.msg_iovlen = c->nsegs;
	do
		k = rawsys_sendmsg(c->fd, &c->mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	return sent_segs(c, k);
}

/* Looks for the peer's hangup every CONN_HUP_CHECK_S while nothing else would see it. */
static void hup_check_start(struct conn *c)
{
	struct timeval tv = {CONN_HUP_CHECK_S, 0};
	event_add(c->ev_hup, &tv);
}

/* Requests wait while the owner refused one until earlier ones are answered (replies
 * stay in request order) or while the replies cannot leave (bounded memory: at most
 * one reply beyond the mark). */
static bool blocked(const struct conn *c)
{
	return c->waiting || conn_queued(c) > c->queue_limit / 2 || c->ending;
}

/* Stops or resumes taking requests; a half-closed client that is done is closed. */
static void update_reading(struct conn *c)
{
	if (c->closing)
		return;
	if (c->ending) {
		if (conn_queued(c) == 0 && !c->held) {
			char why[sizeof(c->close_reason)];
			memcpy(why, c->close_reason, sizeof(why));
			conn_close(c, why);
		}
		return;
	}
	bool buffered = memchr(c->in + c->in_clean, '\n', c->in_len - c->in_clean) != NULL;
	if (c->read_eof && !c->watching && !c->held && !buffered && conn_queued(c) == 0) {
		/* Half-closed: a watcher keeps its stream until a write fails; anyone else
		 * is done once every request was answered and the replies have left. */
		conn_close(c, "closed by peer");
		return;
	}
	if (blocked(c)) {
		if (!c->read_paused) {
			event_del(c->ev_read);
			/* Not reading, the hangup of a peer that exited is not read either:
			 * look for it now and then (a half-closed one is looked for already). */
			if (!c->read_eof)
				hup_check_start(c);
		}
		c->read_paused = true;
		return;
	}
	if (!c->read_paused)
		return;
	c->read_paused = false;
	if (!c->read_eof) {
		event_del(c->ev_hup);
		event_add(c->ev_read, NULL);
	}
	/* Lines already buffered are taken from the loop, not from inside a reply. */
	if (buffered)
		event_active(c->ev_read, EV_READ, 0);
}

void conn_hold(struct conn *c)
{
	c->held++;
	update_reading(c);
}

void conn_release(struct conn *c)
{
	if (c->held > 0)
		c->held--;
	if (c->held == 0)
		c->waiting = false;
	update_reading(c);
}

bool conn_offer(struct conn *c, const char *line, size_t len)
{
	if (c->closing || c->dropping || !reserve_seg(c, len, c->queue_limit))
		return false;
	append(c, line, len);
	return true;
}

/* conn_flush() after its first sendmsg(), if any: blocked when the socket took not all
 * of it. DROPPED notices, more of a replay, EV_WRITE, reading again. */
static __attribute__((noinline)) void flush_rest(struct conn *c, bool blocked)
{
	for (;;) {
		if (!blocked && c->nsegs) {
			int r = send_segs(c);
			if (r < 0)
				return;
			blocked = r == 0;
		}
		/* Caught up after dropping: the DROPPED notice goes out now, not with the
		 * next object (there may be none for a while). */
		size_t before = conn_queued(c);
		maybe_caught_up(c);
		if (c->replay_mask && c->ops && c->ops->on_drain &&
		    conn_queued(c) <= c->queue_limit / 2)
			c->ops->on_drain(c->ud, c);
		if (c->closing)
			return;
		c->dirty = false;
		if (blocked || conn_queued(c) == before)
			break;
	}
	if (conn_queued(c) > 0)
		event_add(c->ev_write, NULL);
	update_reading(c);
}

/* conn_flush() of a client that is dropping, replaying or not reading as usual. */
static __attribute__((noinline)) void flush_general(struct conn *c)
{
	bool blocked = false;
	if (c->nsegs) {
		int r = send_segs(c);
		if (r < 0)
			return;
		blocked = r == 0;
	}
	flush_rest(c, blocked);
}

/* closing, dropping, read_paused and read_eof, read as one word. */
_Static_assert(offsetof(struct conn, dropping) == offsetof(struct conn, closing) + 1 &&
		       offsetof(struct conn, read_paused) == offsetof(struct conn, closing) + 2 &&
		       offsetof(struct conn, read_eof) == offsetof(struct conn, closing) + 3,
	       "struct conn: closing, dropping, read_paused, read_eof side by side");
static inline uint32_t flush_flags(const struct conn *c)
{
	uint32_t flags;
	memcpy(&flags, &c->closing, sizeof(flags));
	return flags;
}

/* conn_flush(), inline in both callers: conn_flush_dirty() runs it for every client that
 * keeps up at the end of each batch. */
static inline void flush(struct conn *c)
{
	c->dirty = false;
	/* Closing, dropping, not reading as usual, replaying, nothing queued: rare. */
	if (flush_flags(c) || c->replay_mask || !c->nsegs || c->fd < 0) {
		if (c->closing || c->fd < 0)
			drop_segs(c);
		else
			flush_general(c);
		return;
	}
	/* Nothing to announce or replay, reading as usual: at the end of each batch for a
	 * client that keeps up, whose queue then leaves whole, that is all (the general
	 * path's steps for it, without its set-up and its tests). */
	c->mh.msg_iovlen = c->nsegs;
	ssize_t k = rawsys_sendmsg(c->fd, &c->mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (k > 0 && (size_t)k == conn_queued(c)) {
		/* As a rule one segment, of the current chunk: let go of it inline. */
		if (c->nsegs == 1 && c->ck[0]) {
			fanout_chunk_release(c->ck[0]);
			c->nsegs = 0;
			c->run_bytes = 0;
			c->run_end = NULL;
		} else {
			drop_segs(c);
		}
		c->out_start = c->out_end = 0;
		return;
	}
	if (k < 0 && errno == EINTR) {
		flush_general(c); /* tries again */
		return;
	}
	int r = sent_segs(c, k);
	if (r >= 0)
		flush_rest(c, r == 0);
}

void conn_flush(struct conn *c)
{
	flush(c);
}

void conn_flush_dirty(struct conn *c)
{
	for (; c; c = c->next)
		if (c->dirty)
			flush(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	conn_flush(c);
}

bool conn_peer_gone(const struct conn *c)
{
	/* A Unix stream socket reports POLLHUP only once both directions are shut: the
	 * peer closed (or died), not merely shutdown(SHUT_WR). POLLHUP and POLLERR are
	 * reported even when no event is asked for. */
	struct pollfd p = {.fd = c->fd, .events = 0};
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

bool conn_has_input(const struct conn *c)
{
	int n = 0;
	return c->in_len > 0 || (ioctl(c->fd, FIONREAD, &n) == 0 && n > 0);
}

/* A client not read from (half-closed, or its requests waiting for an answer) with
 * nothing to write would never see a read or write error tell that its peer died. */
static void on_hup_check(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	if (c->ending && !c->closing) {
		/* The grace period is over: what the peer did not read is dropped. */
		char why[sizeof(c->close_reason)];
		memcpy(why, c->close_reason, sizeof(why));
		conn_close(c, why);
		return;
	}
	if (!c->closing && conn_queued(c) == 0 && conn_peer_gone(c))
		conn_close(c, "hung up");
}

static void bad_line(struct conn *c, enum proto_err code, const char *msg, bool fatal)
{
	char buf[512];
	int n = proto_render_error(buf, sizeof(buf), "", code, msg, NULL);
	if (n > 0)
		conn_reply(c, buf, (size_t)n);
	if (fatal)
		conn_end(c, proto_err_to_string(code));
}

/* Hands complete buffered lines to the owner while it may take them; keeps the rest.
 * in_clean spares rescanning a long partial line at every read. */
static void take_lines(struct conn *c)
{
	size_t start = 0, from = c->in_clean;
	bool more = true;
	c->in_clean = 0; /* replies sent from on_line must see the lines as buffered */
	while (!c->closing && !blocked(c)) {
		char *nl = memchr(c->in + from, '\n', c->in_len - from);
		if (!nl) {
			more = false;
			break;
		}
		size_t len = (size_t)(nl - (c->in + start));
		if (len > 0 && c->in[start + len - 1] == '\r')
			len--;
		if (len > PROTO_LINE_MAX) {
			bad_line(c, PROTO_E_TOO_LONG, "line longer than 65536 bytes", true);
			return;
		}
		if (len > 0 && !c->ops->on_line(c->ud, c, c->in + start, len)) {
			c->waiting = true;
			break;
		}
		start = from = (size_t)(nl - c->in) + 1;
	}
	if (c->closing)
		return;
	if (start > 0) {
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
	}
	c->in_clean = more ? 0 : c->in_len;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	take_lines(c);
	for (int round = 0; round < 4 && !c->closing && !c->read_eof && !blocked(c); round++) {
		size_t want = CONN_IN_CAP - c->in_len;
		if (want == 0)
			break;
		ssize_t n = recv(c->fd, c->in + c->in_len, want, MSG_DONTWAIT);
		if (n == 0) {
			/* printf '...' | socat - UNIX-CONNECT:... shuts the sending side when
			 * its input ends and keeps reading: not a disconnect. */
			event_del(c->ev_read);
			c->read_eof = true;
			hup_check_start(c);
			/* Nothing follows the last line: it is a request even without its
			 * newline (printf '{"cmd":"status"}' | socat ...). A full buffer is
			 * too long either way. */
			if (c->in_len > 0 && c->in_len < CONN_IN_CAP &&
			    c->in[c->in_len - 1] != '\n') {
				c->in[c->in_len++] = '\n';
				take_lines(c);
			}
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c, strerror(errno));
			break;
		}
		c->in_len += (size_t)n;
		take_lines(c);
		if ((size_t)n < want)
			break; /* drained the socket for now */
	}
	/* A buffer full of one line without its newline: it cannot be a request. */
	if (!c->closing && !blocked(c) && c->in_len >= CONN_IN_CAP) {
		bad_line(c, PROTO_E_TOO_LONG, "line longer than 65536 bytes", true);
		return;
	}
	if (!c->closing)
		conn_flush(c);
	/* Closed rather than half-closed (the peer exited): nobody will read. */
	if (c->read_eof && !c->closing && conn_queued(c) == 0 && conn_peer_gone(c))
		conn_close(c, "hung up");
}

int conn_watch(struct conn *c, const struct proto_request *req)
{
	char(*names)[PROTO_NAME_MAX] = NULL;
	if (!req->all_channels && req->nchannels) {
		/* Only names of configured channels get here; a longer one could name none. */
		for (unsigned i = 0; i < req->nchannels; i++)
			if (strlen(req->channels[i]) >= PROTO_NAME_MAX)
				return -EINVAL;
		names = malloc(req->nchannels * sizeof(*names));
		if (!names)
			return -ENOMEM;
		for (unsigned i = 0; i < req->nchannels; i++)
			strcpy(names[i], req->channels[i]);
	}
	free(c->chan_names);
	c->chan_names = names;
	c->nchan_names = req->all_channels ? 0 : req->nchannels;
	c->all_channels = req->all_channels;
	memcpy(c->ports, req->ports, sizeof(c->ports));
	c->classes = req->classes;
	c->encoding = req->encoding;
	c->policy = req->policy;
	c->watching = true;
	c->replay_mask = 0; /* a new watch replaces a replay in progress */
	conn_frame_update(c);
	return 0;
}

void conn_unwatch(struct conn *c)
{
	c->watching = false;
	c->replay_mask = 0;
	conn_frame_update(c);
}

void conn_resolve(struct conn *c, const char *const *slot_names, unsigned nslots)
{
	c->chan_mask = 0;
	for (unsigned s = 0; s < nslots && s < 64; s++) {
		if (!slot_names[s])
			continue;
		bool sel = c->all_channels;
		for (unsigned i = 0; !sel && i < c->nchan_names; i++)
			sel = strcmp(c->chan_names[i], slot_names[s]) == 0;
		if (sel)
			c->chan_mask |= 1ull << s;
	}
	conn_frame_update(c);
}
