/* Unit tests for daemon/conn.c with its socket I/O replaced (-Wl,--wrap=send,rawsys_sendmsg,recv):
 * the output queue, the slow-client policies and half-close, each through the copying path
 * and through the shared batch buffer, with the bytes the peer got compared. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "conn.h"
#include "fanout.h"
#include "proto.h"

/* The fake peer: send() takes up to `room` bytes (then EAGAIN); recv() hands out `input`
 * as far as the reader asks, then 0 (peer shut its side) when `eof`, else EAGAIN. */
static struct {
	size_t room;
	size_t sent;
	char got[65536]; /* the first bytes the peer took */
	const char *input;
	bool eof;
	unsigned lines;
	unsigned closings;
	unsigned sendmsgs;
	unsigned eintr;	   /* sendmsg() fails with EINTR this many times first */
	const char *reply; /* on_line answers each line with it, when set */
	bool hold_first;   /* on_line: the first line is answered later (like a send) */
} peer;

/* Takes up to room bytes of buf; false (EAGAIN) when the peer has no room. */
static size_t take(const void *buf, size_t n)
{
	size_t k = n < peer.room ? n : peer.room;
	if (peer.sent + k <= sizeof(peer.got))
		memcpy(peer.got + peer.sent, buf, k);
	peer.room -= k;
	peer.sent += k;
	return k;
}

ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags)
{
	if (peer.room == 0) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)take(buf, n);
}

ssize_t __wrap_rawsys_sendmsg(int fd, const struct msghdr *mh, int flags);
ssize_t __wrap_rawsys_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	peer.sendmsgs++;
	if (peer.eintr) {
		peer.eintr--;
		errno = EINTR;
		return -1;
	}
	if (peer.room == 0) {
		errno = EAGAIN;
		return -1;
	}
	size_t k = 0;
	for (size_t i = 0; i < mh->msg_iovlen && peer.room; i++)
		k += take(mh->msg_iov[i].iov_base, mh->msg_iov[i].iov_len);
	return (ssize_t)k;
}

ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
	if (peer.input) {
		size_t k = strlen(peer.input) < n ? strlen(peer.input) : n;
		memcpy(buf, peer.input, k);
		peer.input = peer.input[k] ? peer.input + k : NULL;
		return (ssize_t)k;
	}
	if (peer.eof)
		return 0;
	errno = EAGAIN;
	return -1;
}

/* Like the daemon: a line that must wait for an earlier answer is not taken. */
static bool on_line(void *ud, struct conn *c, const char *line, size_t len)
{
	if (c->held > 0)
		return false;
	peer.lines++;
	if (peer.hold_first && peer.lines == 1)
		conn_hold(c);
	else if (peer.reply)
		conn_reply(c, peer.reply, strlen(peer.reply));
	return true;
}

static void on_closing(void *ud, struct conn *c)
{
	peer.closings++;
}

static const struct conn_ops ops = {.on_line = on_line, .on_closing = on_closing};

struct fixture {
	struct event_base *base;
	int fds[2];
	struct conn *c;
	struct fanout *fo; /* streamed lines go through it when set */
	char want[65536];  /* every byte queued, in order */
	size_t nwant;
};

static int setup_copy(void **state)
{
	static struct fixture f;
	memset(&peer, 0, sizeof(peer));
	f.nwant = 0;
	f.fo = NULL;
	f.base = event_base_new();
	assert_non_null(f.base);
	/* A real socket so the event loop can watch it; its bytes never move (wrapped). */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, f.fds), 0);
	f.c = conn_new(f.base, f.fds[0], 7, 4096, NULL, &ops, NULL);
	assert_non_null(f.c);
	*state = &f;
	return 0;
}

static int setup_shared(void **state)
{
	setup_copy(state);
	struct fixture *f = *state;
	f->fo = fanout_new(32768);
	assert_non_null(f->fo);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	conn_free(f->c); /* closes fds[0] */
	if (f->fo) {
		/* The client let go of every chunk: only the current one and spares remain. */
		assert_int_equal(f->fo->cur->refs, 0);
		assert_int_equal(f->fo->nchunks, 1 + f->fo->nspare);
	}
	f->fo = fanout_free(f->fo);
	if (f->fds[1] >= 0)
		close(f->fds[1]);
	event_base_free(f->base);
	return 0;
}

/* Renders a line into fo's current chunk, as the daemon does: another chunk when the
 * clients still hold this one and it is full. */
static char *render(struct fanout *fo, const char *line, size_t len)
{
	size_t room;
	char *p = fanout_tail(fo, &room);
	if (room < len) {
		assert_true(fanout_renew(fo));
		p = fanout_tail(fo, &room);
	}
	assert_true(room >= len);
	memcpy(p, line, len);
	fanout_commit(fo, len);
	return p;
}

/* Streams a line the way the daemon does in this fixture's mode. */
static void stream(struct fixture *f, const char *line, size_t len)
{
	uint64_t delivered = f->c->delivered;
	if (f->fo)
		conn_stream_ref(f->c, f->fo, render(f->fo, line, len), len);
	else
		conn_stream(f->c, line, len);
	if (f->c->delivered != delivered) {
		memcpy(f->want + f->nwant, line, len);
		f->nwant += len;
	}
}

/* The peer got exactly what was queued, in order. */
static void assert_peer_got_all(struct fixture *f)
{
	assert_int_equal(peer.sent, f->nwant);
	assert_memory_equal(peer.got, f->want, f->nwant);
}

static void watch(struct conn *c, enum proto_policy policy)
{
	struct proto_request req = {.all_channels = true,
				    .classes = PROTO_C_ALL,
				    .policy = policy,
				    .encoding = PROTO_ENC_BASE64};
	memset(req.ports, 0xff, sizeof(req.ports));
	assert_int_equal(conn_watch(c, &req), 0);
}

static void test_queue_then_flush(void **state)
{
	struct fixture *f = *state;
	char line[100];
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	watch(f->c, PROTO_POLICY_DROP);
	for (int i = 0; i < 10; i++)
		stream(f, line, sizeof(line));
	assert_int_equal(conn_queued(f->c), 10 * sizeof(line));
	assert_true(f->c->dirty);
	peer.room = 250; /* the peer takes part of it */
	conn_flush(f->c);
	assert_int_equal(peer.sent, 250);
	assert_int_equal(conn_queued(f->c), 10 * sizeof(line) - 250);
	peer.room = SIZE_MAX;
	conn_flush(f->c);
	assert_int_equal(conn_queued(f->c), 0);
	assert_int_equal(f->c->delivered, 10);
	assert_int_equal(f->c->dropped, 0);
	assert_peer_got_all(f);
}

/* Shared lines, a reply and lines a filter split into more segments than a client can
 * keep: the peer gets every byte in the order it was queued, and the chunk is free again
 * after the flush. */
static void test_shared_order_and_stretches(void **state)
{
	struct fixture *f = *state;
	char line[24];
	watch(f->c, PROTO_POLICY_DROP);
	for (int i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "{\"n\":%d}\n", i);
		stream(f, line, strlen(line));
	}
	conn_reply(f->c, "{\"class\":\"PONG\"}\n", 17);
	memcpy(f->want + f->nwant, "{\"class\":\"PONG\"}\n", 17);
	f->nwant += 17;
	for (int i = 0; i < 3 * CONN_SEGS_MAX; i++) {
		size_t room;
		snprintf(line, sizeof(line), "{\"m\":%d}\n", i);
		stream(f, line, strlen(line));
		/* A line for someone else between two of ours: a new stretch each time. */
		char *p = fanout_tail(f->fo, &room);
		memcpy(p, "x\n", 2);
		fanout_commit(f->fo, 2);
	}
	assert_int_equal(f->c->delivered, 4 + 3 * CONN_SEGS_MAX); /* and the reply */
	assert_true(f->c->nsegs <= CONN_SEGS_MAX);
	assert_int_equal(conn_queued(f->c), f->nwant);
	peer.room = 100; /* part now, the rest stays queued as it is */
	conn_flush(f->c);
	assert_int_equal(conn_queued(f->c), f->nwant - 100);
	peer.room = SIZE_MAX;
	conn_flush(f->c);
	assert_int_equal(conn_queued(f->c), 0);
	assert_int_equal(f->c->nsegs, 0);
	assert_int_equal(f->fo->cur->refs, 0);
	assert_peer_got_all(f);
	/* One sendmsg() per flush, whatever the number of lines: the reply's and these two. */
	assert_true(peer.sendmsgs <= 3);
}

/* The queue in c's segments: (chunk or NULL for own bytes, length) each, oldest first. */
static void assert_segs(const struct conn *c, unsigned n, const struct fanout_chunk *const *ck,
			const size_t *len)
{
	assert_int_equal(c->nsegs, n);
	for (unsigned i = 0; i < n; i++) {
		assert_ptr_equal(c->ck[i], ck[i]);
		assert_int_equal(c->iov[i].iov_len, len[i]);
	}
}

/* A line right after the client's newest one in the same chunk extends that segment
 * and holds nothing more; own bytes in between, another chunk or lines the client was
 * not given start a new one; a client that drops takes no line until it caught up,
 * even one that would fit; the peer gets it all in order. */
static void test_shared_lines_extend_a_segment(void **state)
{
	struct fixture *f = *state;
	char line[200];
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	watch(f->c, PROTO_POLICY_DROP);
	peer.room = 0; /* the peer reads nothing yet */
	struct fanout_chunk *k1 = f->fo->cur;
	for (int i = 0; i < 3; i++)
		stream(f, line, sizeof(line));
	assert_segs(f->c, 1, (const struct fanout_chunk *[]){k1}, (size_t[]){600});
	assert_int_equal(k1->refs, 1);
	/* A reply between: the next line starts a segment after it. */
	conn_reply(f->c, "{\"class\":\"PONG\"}\n", 17);
	memcpy(f->want + f->nwant, "{\"class\":\"PONG\"}\n", 17);
	f->nwant += 17;
	stream(f, line, sizeof(line));
	stream(f, line, sizeof(line));
	assert_segs(f->c, 3, (const struct fanout_chunk *[]){k1, NULL, k1},
		    (size_t[]){600, 17, 400});
	assert_int_equal(k1->refs, 2);
	/* A line for another client only: ours no longer follow on. */
	(void)render(f->fo, "x\n", 2);
	stream(f, line, sizeof(line));
	assert_segs(f->c, 4, (const struct fanout_chunk *[]){k1, NULL, k1, k1},
		    (size_t[]){600, 17, 400, 200});
	/* Part of the queue leaves (600 + 17 + 83): the newest segment still takes the next
	 * line. */
	peer.room = 700;
	conn_flush(f->c);
	stream(f, line, sizeof(line));
	assert_segs(f->c, 2, (const struct fanout_chunk *[]){k1, k1}, (size_t[]){317, 400});
	assert_int_equal(k1->refs, 2);
	/* A new chunk: its first line starts a segment, the next one extends it. */
	assert_true(fanout_renew(f->fo));
	struct fanout_chunk *k2 = f->fo->cur;
	stream(f, line, sizeof(line));
	stream(f, line, sizeof(line));
	assert_ptr_equal(f->c->ck[f->c->nsegs - 1], k2);
	assert_int_equal(f->c->iov[f->c->nsegs - 1].iov_len, 400);
	assert_int_equal(k2->refs, 1);
	assert_int_equal(conn_queued(f->c), f->nwant - 700);
	/* Above half the limit (4096), a copied line that does not fit makes the client
	 * drop; the next shared line, although it follows on and would fit, is dropped
	 * too, until the queue is below half. */
	while (conn_queued(f->c) <= f->c->queue_limit / 2)
		stream(f, line, sizeof(line));
	static char big[2000];
	memset(big, 'b', sizeof(big));
	conn_stream(f->c, big, sizeof(big));
	assert_true(f->c->dropping);
	size_t queued = conn_queued(f->c);
	assert_true(queued + sizeof(line) <= f->c->queue_limit);
	stream(f, line, sizeof(line));
	assert_int_equal(f->c->dropped, 2);
	assert_int_equal(conn_queued(f->c), queued);
	/* Everything leaves in order, then the DROPPED notice; no chunk stays held. */
	peer.room = SIZE_MAX;
	conn_flush(f->c);
	assert_false(f->c->dropping);
	assert_int_equal(k1->refs, 0);
	assert_int_equal(k2->refs, 0);
	assert_memory_equal(peer.got, f->want, f->nwant);
	assert_memory_equal(peer.got + f->nwant, "{\"class\":\"DROPPED\"", 18);
	/* The limit still holds for lines that extend a segment, and bytes sent make room
	 * for more: 19 lines (3800 of 4096 bytes), 200 sent, two more fit, the third not. */
	assert_int_equal(conn_queued(f->c), 0);
	peer.room = 0;
	for (int i = 0; i < 19; i++)
		stream(f, line, sizeof(line));
	peer.room = 200;
	conn_flush(f->c);
	assert_int_equal(conn_queued(f->c), 3600);
	uint64_t delivered = f->c->delivered;
	for (int i = 0; i < 3; i++)
		stream(f, line, sizeof(line));
	assert_int_equal(f->c->delivered, delivered + 2);
	assert_int_equal(f->c->dropped, 3);
	assert_int_equal(conn_queued(f->c), 4000);
}

/* A replay of `left` 100-byte lines, queued as the peer drains. */
static unsigned drains, left;

static void offer_some(struct conn *c)
{
	char line[100];
	memset(line, 'r', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	while (left > 0 && conn_queued(c) <= c->queue_limit / 2 &&
	       conn_offer(c, line, sizeof(line)))
		left--;
	if (left == 0)
		c->replay_mask = 0;
}

static void on_drain(void *ud, struct conn *c)
{
	drains++;
	offer_some(c);
}

static const struct conn_ops drain_ops = {
	.on_line = on_line, .on_closing = on_closing, .on_drain = on_drain};

static void test_offer_and_drain(void **state)
{
	struct fixture *f = *state;
	f->c->ops = &drain_ops;
	drains = 0;
	left = 200; /* 20,000 bytes through a 4 KiB queue */
	watch(f->c, PROTO_POLICY_DISCONNECT);
	f->c->replay_mask = 1;
	/* Replaying slot 0: its live FRAMEs wait in the ring; other slots and classes flow. */
	f->c->chan_mask = 3;
	assert_false(conn_wants(f->c, 0, PROTO_C_FRAME, 2));
	assert_true(conn_wants(f->c, 0, PROTO_C_STATE, -1));
	assert_true(conn_wants(f->c, 1, PROTO_C_FRAME, 2));
	offer_some(f->c);
	assert_true(left < 200 && left > 150);
	/* Full: an offer is refused, not dropped or counted, and the policy is not applied. */
	char big[4096] = {0};
	assert_false(conn_offer(f->c, big, sizeof(big)));
	assert_int_equal(f->c->dropped, 0);
	assert_false(f->c->closing);
	/* Each flush drains the peer's share and asks for more. */
	for (int i = 0; i < 100 && left; i++) {
		peer.room = 1000;
		conn_flush(f->c);
	}
	assert_int_equal(left, 0);
	assert_true(drains > 5);
	assert_int_equal(f->c->replay_mask, 0);
	peer.room = SIZE_MAX;
	conn_flush(f->c);
	assert_int_equal(peer.sent, 200 * 100);
	assert_int_equal(f->c->delivered, 200);
	assert_int_equal(f->c->dropped, 0);
	/* A new watch ends a replay. */
	f->c->replay_mask = 1;
	watch(f->c, PROTO_POLICY_DROP);
	assert_int_equal(f->c->replay_mask, 0);
}

/* conn_takes_frame() (one bit per DATA frame) agrees with conn_wants() for every slot and
 * port; returns how many slot-port pairs c takes. */
static unsigned frame_pairs_agree(const struct conn *c)
{
	unsigned taken = 0;
	for (unsigned slot = 0; slot < 64; slot++)
		for (unsigned port = 0; port < 256; port++) {
			bool want = conn_wants(c, slot, PROTO_C_FRAME, (int)port);
			assert_int_equal(conn_takes_frame(c, slot, (uint8_t)port), want);
			taken += want;
		}
	return taken;
}

/* The FRAME slots kept per client follow the watch, the names resolved, a replay, an
 * unwatch and a close. */
static void test_frame_slots_follow_the_watch(void **state)
{
	struct fixture *f = *state;
	const char *const names[] = {"a", "b", NULL, "d"};
	assert_int_equal(frame_pairs_agree(f->c), 0);
	const char *chans[] = {"b", "d"};
	struct proto_request req = {.channels = chans, .nchannels = 2, .classes = PROTO_C_ALL};
	req.ports[0] = 1u << 2 | 1u << 7;
	req.ports[3] = 1ull << 63; /* port 255 */
	assert_int_equal(conn_watch(f->c, &req), 0);
	assert_int_equal(frame_pairs_agree(f->c), 0); /* no names resolved yet */
	conn_resolve(f->c, names, 4);
	assert_int_equal(frame_pairs_agree(f->c), 2 * 3);
	/* replay.c replaying slot 1, then caught up */
	f->c->replay_mask = 1u << 1;
	conn_frame_update(f->c);
	assert_int_equal(frame_pairs_agree(f->c), 3);
	f->c->replay_mask = 0;
	conn_frame_update(f->c);
	assert_int_equal(frame_pairs_agree(f->c), 2 * 3);
	req.classes = PROTO_C_ALL & ~PROTO_C_FRAME;
	assert_int_equal(conn_watch(f->c, &req), 0);
	assert_int_equal(frame_pairs_agree(f->c), 0);
	req.classes = PROTO_C_FRAME;
	assert_int_equal(conn_watch(f->c, &req), 0);
	assert_int_equal(frame_pairs_agree(f->c), 2 * 3);
	conn_unwatch(f->c);
	assert_int_equal(frame_pairs_agree(f->c), 0);
	assert_int_equal(conn_watch(f->c, &req), 0);
	assert_int_equal(frame_pairs_agree(f->c), 2 * 3);
	conn_close(f->c, "test");
	assert_int_equal(frame_pairs_agree(f->c), 0);
}

static void test_drop_policy_counts_and_notices(void **state)
{
	struct fixture *f = *state;
	char line[1000];
	memset(line, 'y', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	watch(f->c, PROTO_POLICY_DROP);
	for (int i = 0; i < 10; i++) /* 4096-byte queue: 4 fit, 6 are dropped */
		stream(f, line, sizeof(line));
	assert_int_equal(f->c->delivered, 4);
	assert_int_equal(f->c->dropped, 6);
	assert_true(f->c->dropping);
	assert_false(f->c->closing);
	peer.room = SIZE_MAX;
	conn_flush(f->c); /* drains, then says what was lost */
	assert_false(f->c->dropping);
	assert_true(peer.sent > 4 * sizeof(line)); /* the DROPPED notice went out too */
	/* Replies are never dropped, even while streamed objects are. */
	peer.room = 0;
	for (int i = 0; i < 5; i++)
		stream(f, line, sizeof(line));
	size_t before = conn_queued(f->c);
	conn_reply(f->c, "{\"class\":\"PONG\"}\n", 17);
	assert_int_equal(conn_queued(f->c), before + 17);
}

/* A raw stream has no seq, and its objects vary in length: a client that lost RAW objects
 * is told how many of the tty's bytes they carried, so that what it got and what it lost
 * add up to what the daemon read. */
static void test_dropped_raw_bytes_are_counted(void **state)
{
	struct fixture *f = *state;
	static const size_t lens[] = {700, 5, 2048, 1, 300, 17, 999, 64};
	char line[1000], want[160];
	uint64_t lost = 0, lost_before = 0;
	memset(line, 'r', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	watch(f->c, PROTO_POLICY_DROP);
	for (int round = 0; round < 2; round++) {
		size_t start = peer.sent, kept = 0;
		peer.room = 0;
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			uint64_t delivered = f->c->delivered;
			conn_stream_raw(f->c, line, sizeof(line), lens[i]);
			if (f->c->delivered != delivered)
				kept++;
			else
				lost += lens[i];
		}
		assert_true(f->c->dropping); /* 4096-byte queue */
		peer.room = SIZE_MAX;
		conn_flush(f->c);
		assert_false(f->c->dropping);
		snprintf(want, sizeof(want),
			 "{\"class\":\"DROPPED\",\"count\":%zu,\"total\":%llu,\"raw_bytes\":%llu,"
			 "\"raw_bytes_total\":%llu}\n",
			 sizeof(lens) / sizeof(lens[0]) - kept, (unsigned long long)f->c->dropped,
			 (unsigned long long)(lost - lost_before), (unsigned long long)lost);
		assert_int_equal(peer.sent, start + kept * sizeof(line) + strlen(want));
		assert_memory_equal(peer.got + start + kept * sizeof(line), want, strlen(want));
		lost_before = lost;
	}
}

static void test_disconnect_policy(void **state)
{
	struct fixture *f = *state;
	char line[1000];
	memset(line, 'z', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	watch(f->c, PROTO_POLICY_DISCONNECT);
	for (int i = 0; i < 4; i++)
		stream(f, line, sizeof(line));
	assert_false(f->c->closing);
	stream(f, line, sizeof(line));
	assert_true(f->c->closing);
	assert_int_equal(peer.closings, 1);
	assert_int_equal(f->c->dropped, 0);
	/* What the client never got is counted for the log: the 4 lines it had not read. */
	assert_int_equal(f->c->unsent, 4 * sizeof(line));
}

/* A client closed with nothing left to send has nothing unsent; nor has one whose peer
 * hung up: nobody was there to take what was queued (else every client that exits
 * before reading VERSION would be logged, whatever the rate limit). */
static void test_close_after_all_sent(void **state)
{
	struct fixture *f = *state;
	peer.room = SIZE_MAX;
	conn_reply(f->c, "{}\n", 3);
	assert_int_equal(peer.sent, 3);
	conn_close(f->c, "test");
	assert_int_equal(f->c->unsent, 0);
}

static void test_close_after_hangup(void **state)
{
	struct fixture *f = *state;
	conn_reply(f->c, "{}\n", 3);
	assert_int_equal(peer.sent, 0);
	close(f->fds[1]);
	f->fds[1] = -1;
	conn_close(f->c, "Broken pipe");
	assert_int_equal(f->c->unsent, 0);
}

static void test_half_close_keeps_a_watcher(void **state)
{
	struct fixture *f = *state;
	peer.input = "{\"cmd\":\"watch\"}\n";
	peer.eof = true;
	peer.room = SIZE_MAX;
	watch(f->c, PROTO_POLICY_DROP);
	/* Two reads: the line, then end of input. */
	assert_int_equal(write(f->fds[1], "x", 1),
			 1); /* wakes the read event (write: send is the fake) */
	event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(peer.lines, 1);
	assert_false(f->c->read_eof);
	event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_true(f->c->read_eof);
	assert_false(f->c->closing); /* a watcher keeps its stream */
	stream(f, "{}\n", 3);
	conn_flush(f->c);
	assert_int_equal(peer.sent, 3);
	/* Not watching: done once its replies have left. */
	conn_unwatch(f->c);
	conn_reply(f->c, "{}\n", 3);
	assert_true(f->c->closing);
	assert_string_equal(f->c->close_reason, "closed by peer");
}

/* A watcher that selects nothing and whose peer died must not linger as a client. */
static void test_hung_up_watcher_is_closed(void **state)
{
	struct fixture *f = *state;
	peer.eof = true;
	watch(f->c, PROTO_POLICY_DROP);
	close(f->fds[1]); /* the peer is gone: both directions */
	f->fds[1] = -1;
	event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_true(f->c->read_eof);
	assert_true(f->c->closing);
	assert_string_equal(f->c->close_reason, "hung up");
	assert_int_equal(peer.closings, 1);
}

/* Half-closed first, gone later: noticed without anything being written to it. */
static void test_half_closed_watcher_that_dies_is_closed(void **state)
{
	struct fixture *f = *state;
	peer.eof = true;
	watch(f->c, PROTO_POLICY_DROP);
	assert_int_equal(shutdown(f->fds[1], SHUT_WR), 0);
	event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_true(f->c->read_eof);
	assert_false(f->c->closing); /* still reading: keeps its stream */
	assert_false(conn_peer_gone(f->c));
	close(f->fds[1]);
	f->fds[1] = -1;
	assert_true(conn_peer_gone(f->c));
	event_base_loop(f->base, EVLOOP_ONCE); /* waits for the periodic check */
	assert_true(f->c->closing);
	assert_string_equal(f->c->close_reason, "hung up");
}

static void test_long_line_is_refused(void **state)
{
	struct fixture *f = *state;
	static char big[70000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	peer.input = big;
	peer.room = SIZE_MAX;
	assert_int_equal(write(f->fds[1], "x", 1), 1);
	event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(peer.lines, 0);
	assert_true(f->c->closing);
	assert_string_equal(f->c->close_reason, "too_long");
}

/* 200 pipelined requests from a peer that does not read: the daemon stops taking them
 * above the mark (one reply beyond it at most), and answers all, in order, as the peer
 * reads. */
static void test_pipelined_requests_wait_for_the_queue(void **state)
{
	struct fixture *f = *state;
	static char input[200 * 15 + 1];
	for (int i = 0; i < 200; i++)
		memcpy(input + 15 * i, "{\"cmd\":\"ping\"}\n", 15);
	static char reply[101];
	memset(reply, 'r', 99);
	reply[99] = '\n';
	peer.reply = reply;
	peer.input = input;
	assert_int_equal(write(f->fds[1], "x", 1), 1);
	event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	/* a 4096-byte queue: requests wait once replies pass 2048 bytes */
	assert_int_equal(peer.lines, 21);
	assert_true(conn_queued(f->c) <= 2048 + 100);
	assert_true(f->c->read_paused);
	assert_false(f->c->closing);
	for (int i = 0; i < 50 && peer.lines < 200; i++) {
		peer.room = 1000; /* the peer reads a little */
		conn_flush(f->c);
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		assert_true(conn_queued(f->c) <= 2048 + 100);
	}
	assert_int_equal(peer.lines, 200);
	peer.room = SIZE_MAX;
	conn_flush(f->c);
	assert_int_equal(peer.sent, 200 * 100);
	assert_false(f->c->closing);
}

/* A request answered later holds the ones after it, and a half-closed peer that is not
 * watching still gets that answer before the connection closes. */
static void test_held_answer_then_half_close(void **state)
{
	struct fixture *f = *state;
	peer.input = "{\"cmd\":\"send\"}\n{\"cmd\":\"ping\"}\n";
	peer.eof = true;
	peer.room = SIZE_MAX;
	peer.hold_first = true;
	peer.reply = "{\"class\":\"PONG\"}\n";
	assert_int_equal(write(f->fds[1], "x", 1), 1);
	for (int i = 0; i < 4; i++)
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(peer.lines, 1); /* the ping waits for the send's answer */
	assert_false(f->c->closing);	 /* an answer is still owed */
	conn_reply(f->c, "{\"class\":\"ACK\"}\n", 16);
	conn_release(f->c);
	assert_false(f->c->closing);
	for (int i = 0; i < 4 && !f->c->closing; i++)
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(peer.lines, 2);
	assert_true(f->c->read_eof);
	assert_int_equal(peer.sent, 16 + 17);
	assert_true(f->c->closing);
	assert_string_equal(f->c->close_reason, "closed by peer");
}

/* A request waits behind one answered later (a send the firmware is slow to ACK), so the
 * daemon reads nothing more from the client; the client then exits. Its hangup is
 * noticed by the periodic check, not only when the send is answered (up to
 * send_timeout_ms later): meanwhile it would be listed in status as if connected. */
static void test_waiting_client_that_dies_is_closed(void **state)
{
	struct fixture *f = *state;
	peer.input = "{\"cmd\":\"send\"}\n{\"cmd\":\"ping\"}\n";
	peer.room = SIZE_MAX;
	peer.hold_first = true;
	peer.reply = "{\"class\":\"PONG\"}\n";
	assert_int_equal(write(f->fds[1], "x", 1), 1);
	for (int i = 0; i < 4; i++)
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(peer.lines, 1); /* the ping waits for the send's answer */
	assert_true(f->c->read_paused);
	close(f->fds[1]);
	f->fds[1] = -1;
	event_base_loop(f->base, EVLOOP_ONCE); /* waits for the periodic check */
	assert_true(f->c->closing);
	assert_string_equal(f->c->close_reason, "hung up");
	assert_int_equal(peer.closings, 1);
}

/* Reading again after the wait: the periodic check stops with it (no timer per client
 * that keeps up). */
static void test_resumed_client_is_not_polled(void **state)
{
	struct fixture *f = *state;
	peer.input = "{\"cmd\":\"send\"}\n{\"cmd\":\"ping\"}\n";
	peer.room = SIZE_MAX;
	peer.hold_first = true;
	peer.reply = "{\"class\":\"PONG\"}\n";
	assert_int_equal(write(f->fds[1], "x", 1), 1);
	for (int i = 0; i < 4; i++)
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_true(f->c->read_paused);
	conn_reply(f->c, "{\"class\":\"ACK\"}\n", 16);
	conn_release(f->c);
	for (int i = 0; i < 4; i++)
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(peer.lines, 2);
	assert_false(f->c->read_paused);
	assert_false(event_pending(f->c->ev_hup, EV_TIMEOUT, NULL));
	assert_false(f->c->closing);
}

/* Requests answered but not yet read by the peer, then a line too long: the replies
 * queued before it and the too_long ERROR reach the peer before the connection ends (it
 * used to close at once and throw them away, so the client saw neither). */
static void test_fatal_line_after_unread_replies(void **state)
{
	struct fixture *f = *state;
	static char input[10 * 15 + 70000 + 1];
	for (int i = 0; i < 10; i++)
		memcpy(input + 15 * i, "{\"cmd\":\"ping\"}\n", 15);
	memset(input + 150, 'a', 70000);
	static char reply[101];
	memset(reply, 'r', 99);
	reply[99] = '\n';
	peer.reply = reply;
	peer.input = input;
	peer.room = 0; /* the peer reads nothing for now */
	assert_int_equal(write(f->fds[1], "x", 1), 1);
	event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(peer.lines, 10);
	assert_false(f->c->closing); /* ends once its output has left */
	peer.room = SIZE_MAX;
	conn_flush(f->c);
	assert_true(f->c->closing);
	assert_string_equal(f->c->close_reason, "too_long");
	assert_true(peer.sent > 10 * 100);
	assert_memory_equal(peer.got + 9 * 100, reply, 100);
	peer.got[peer.sent] = '\0';
	assert_non_null(strstr(peer.got + 10 * 100, "\"too_long\""));
}

/* A peer that never reads does not keep a connection that is ending: it is closed
 * after the grace period, its output dropped. */
static void test_fatal_line_unread_ends_anyway(void **state)
{
	struct fixture *f = *state;
	static char input[15 + 70000 + 1];
	memcpy(input, "{\"cmd\":\"ping\"}\n", 15);
	memset(input + 15, 'a', 70000);
	peer.reply = "{\"class\":\"PONG\"}\n";
	peer.input = input;
	peer.room = 0;
	static const char *const slots[] = {"m7"};
	watch(f->c, PROTO_POLICY_DROP);
	conn_resolve(f->c, slots, 1);
	assert_true(conn_wants(f->c, 0, PROTO_C_FRAME, 0));
	assert_int_equal(write(f->fds[1], "x", 1), 1);
	event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_false(f->c->closing);
	assert_int_equal(peer.lines, 1);
	/* Nothing more is read or streamed meanwhile. */
	assert_false(conn_wants(f->c, 0, PROTO_C_FRAME, 0));
	assert_false(conn_takes_frame(f->c, 0, 0));
	/* The socket itself full, as a peer that does not read leaves it: no write event. */
	static char junk[4096];
	while (write(f->fds[0], junk, sizeof(junk)) > 0)
		;
	event_base_loop(f->base, EVLOOP_ONCE); /* the grace period ends */
	assert_true(f->c->closing);
	assert_string_equal(f->c->close_reason, "too_long");
	assert_int_equal(peer.sent, 0);
}

/* A second client on the fixture's event base (the peer's bytes are shared: see take()). */
static struct conn *second_client(struct fixture *f, int fds[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
	struct conn *c = conn_new(f->base, fds[0], 8, 4096, NULL, &ops, NULL);
	assert_non_null(c);
	return c;
}

/* At low rates each batch finds the client's queue empty: its first line starts the only
 * segment (holding the chunk once), the next ones extend it, and the flush sends it whole
 * and lets go. The queue limit holds exactly from the first line on; a partial send, an
 * interrupted one, a client that drops or closes take the general paths. */
static void test_empty_queue_batches(void **state)
{
	struct fixture *f = *state;
	char line[200];
	memset(line, 'e', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	watch(f->c, PROTO_POLICY_DROP);
	peer.room = SIZE_MAX;
	for (unsigned b = 1; b <= 3; b++) {
		stream(f, line, sizeof(line));
		assert_segs(f->c, 1, (const struct fanout_chunk *[]){f->fo->cur},
			    (size_t[]){sizeof(line)});
		assert_int_equal(f->fo->cur->refs, 1);
		assert_true(f->c->dirty);
		assert_int_equal(conn_queued(f->c), sizeof(line));
		stream(f, line, sizeof(line));
		assert_segs(f->c, 1, (const struct fanout_chunk *[]){f->fo->cur},
			    (size_t[]){2 * sizeof(line)});
		assert_int_equal(f->fo->cur->refs, 1);
		conn_flush(f->c);
		assert_false(f->c->dirty);
		assert_int_equal(f->c->nsegs, 0);
		assert_int_equal(conn_queued(f->c), 0);
		assert_int_equal(f->fo->cur->refs, 0);
		assert_int_equal(peer.sendmsgs, b);
		assert_int_equal(f->c->delivered, 2 * b);
		assert_peer_got_all(f);
	}
	/* The bound from the first line: 20 lines of 200 fit in 4096 bytes, the 21st not. */
	peer.room = 0;
	for (int i = 0; i < 21; i++)
		stream(f, line, sizeof(line));
	assert_int_equal(f->c->delivered, 6 + 20);
	assert_int_equal(f->c->dropped, 1);
	assert_int_equal(conn_queued(f->c), 20 * sizeof(line));
	peer.room = SIZE_MAX;
	conn_flush(f->c); /* with the DROPPED notice */
	assert_false(f->c->dropping);
	assert_int_equal(conn_queued(f->c), 0);
	assert_memory_equal(peer.got, f->want, f->nwant);
	f->nwant = peer.sent; /* the notice is the peer's too */
	memcpy(f->want, peer.got, peer.sent);
	/* A line of the whole limit is taken, one byte more is not. */
	static char big[4097];
	memset(big, 'B', sizeof(big));
	stream(f, big, 4097);
	assert_int_equal(f->c->nsegs, 0);
	assert_int_equal(f->c->dropped, 2);
	assert_true(f->c->dropping);
	f->c->dropping = false; /* as if the notice went out: not the point here */
	f->c->dropped_since = 0;
	stream(f, big, 4096);
	assert_int_equal(conn_queued(f->c), 4096);
	/* Interrupted once: sent on the second try, in the same flush. */
	peer.eintr = 1;
	unsigned before = peer.sendmsgs;
	conn_flush(f->c);
	assert_int_equal(peer.sendmsgs, before + 2);
	assert_int_equal(conn_queued(f->c), 0);
	assert_int_equal(f->fo->cur->refs, 0);
	assert_peer_got_all(f);
	/* Part of it: the rest stays referenced, EV_WRITE sends it. */
	stream(f, line, sizeof(line));
	peer.room = 50;
	conn_flush(f->c);
	assert_int_equal(conn_queued(f->c), sizeof(line) - 50);
	assert_int_equal(f->fo->cur->refs, 1);
	assert_true(event_pending(f->c->ev_write, EV_WRITE, NULL));
	peer.room = SIZE_MAX;
	event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(conn_queued(f->c), 0);
	assert_int_equal(f->fo->cur->refs, 0);
	assert_peer_got_all(f);
	/* Dropping with nothing queued: the DROPPED notice goes before the line. */
	f->c->dropping = true;
	f->c->dropped_since = 1;
	stream(f, line, sizeof(line));
	assert_false(f->c->dropping);
	assert_segs(f->c, 2, (const struct fanout_chunk *[]){NULL, f->fo->cur},
		    (size_t[]){f->c->iov[0].iov_len, sizeof(line)});
	assert_memory_equal(f->c->iov[0].iov_base, "{\"class\":\"DROPPED\"", 18);
	conn_flush(f->c);
	assert_int_equal(conn_queued(f->c), 0);
	/* Closing: nothing is taken or held. */
	conn_close(f->c, "test");
	uint64_t delivered = f->c->delivered;
	conn_stream_ref(f->c, f->fo, render(f->fo, line, sizeof(line)), sizeof(line));
	assert_int_equal(f->c->delivered, delivered);
	assert_int_equal(f->c->nsegs, 0);
	assert_int_equal(f->fo->cur->refs, 0);
}

/* Clients that lag hold references to the shared chunk, not copies: two lagging clients
 * cost one chunk, which lives until the last of them has sent its lines, while new lines
 * go to another chunk. */
static void test_lagging_clients_share_chunks(void **state)
{
	struct fixture *f = *state;
	int fds[2];
	struct conn *c2 = second_client(f, fds);
	char line[100];
	memset(line, 'z', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	watch(f->c, PROTO_POLICY_DROP);
	watch(c2, PROTO_POLICY_DROP);
	peer.room = 0; /* neither peer reads */
	for (int i = 0; i < 20; i++) {
		char *p = render(f->fo, line, sizeof(line));
		conn_stream_ref(f->c, f->fo, p, sizeof(line));
		conn_stream_ref(c2, f->fo, p, sizeof(line));
	}
	conn_flush(f->c);
	conn_flush(c2);
	struct fanout_chunk *old = f->fo->cur;
	assert_int_equal(old->refs, 2); /* a reference each, no copy */
	assert_int_equal(f->c->out_alloc, 0);
	assert_int_equal(c2->out_alloc, 0);
	assert_int_equal(conn_queued(f->c), 20 * sizeof(line));
	assert_int_equal(f->c->run_bytes, 20 * sizeof(line));
	/* The chunk fills up while they lag: new lines go to another one. */
	assert_true(fanout_renew(f->fo));
	assert_ptr_not_equal(f->fo->cur, old);
	assert_int_equal(f->fo->nchunks, 2);
	char *p = render(f->fo, line, sizeof(line));
	conn_stream_ref(f->c, f->fo, p, sizeof(line));
	assert_int_equal(f->fo->cur->refs, 1);
	/* One client catches up: the old chunk stays for the other. */
	peer.room = SIZE_MAX;
	conn_flush(f->c);
	assert_int_equal(conn_queued(f->c), 0);
	assert_int_equal(peer.sent, 21 * sizeof(line));
	assert_int_equal(old->refs, 1);
	assert_int_equal(f->fo->nchunks, 2);
	/* The other one too: the old chunk is retired (kept as a spare). */
	conn_flush(c2);
	assert_int_equal(peer.sent, 41 * sizeof(line));
	assert_int_equal(f->fo->nchunks, 2);
	assert_int_equal(f->fo->nspare, 1);
	assert_ptr_equal(f->fo->spare, old);
	for (size_t i = 0; i < peer.sent; i++)
		assert_int_equal(peer.got[i], i % sizeof(line) == sizeof(line) - 1 ? '\n' : 'z');
	conn_free(c2);
	close(fds[1]);
}

/* A lagging client's queue of references counts exactly as copies did: the stream limit
 * admits the same lines, the rest are dropped and counted, a reply after the shared lines
 * goes out after them, and a client that goes away lets go of its chunks. */
static void test_shared_drops_and_order(void **state)
{
	struct fixture *f = *state;
	int fds[2];
	struct conn *c2 = second_client(f, fds);
	char line[1000];
	memset(line, 'y', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	watch(f->c, PROTO_POLICY_DROP);
	watch(c2, PROTO_POLICY_DROP);
	peer.room = 0;
	for (int i = 0; i < 10; i++) { /* 4096-byte queues: 4 fit, 6 are dropped */
		char *p = render(f->fo, line, sizeof(line));
		conn_stream_ref(f->c, f->fo, p, sizeof(line));
		conn_stream_ref(c2, f->fo, p, sizeof(line));
		if (i == 1) {
			conn_reply(f->c, "{\"class\":\"PONG\"}\n", 17);
			assert_int_equal(f->c->nsegs, 2); /* lines, then the reply */
		}
	}
	assert_int_equal(f->c->delivered, 5); /* 4 lines and the reply (replies are counted) */
	assert_int_equal(f->c->dropped, 6);
	assert_int_equal(c2->delivered, 4);
	assert_int_equal(c2->dropped, 6);
	/* A reference per segment: the first client's lines are split by its reply. */
	assert_int_equal(f->c->nsegs, 3);
	assert_int_equal(f->fo->cur->refs, 3);
	/* The second client goes away: its reference goes with it. */
	conn_free(c2);
	close(fds[1]);
	assert_int_equal(f->fo->cur->refs, 2);
	peer.room = SIZE_MAX;
	conn_flush(f->c);
	assert_false(f->c->dropping);
	/* Two lines, the reply, two more lines, then the DROPPED notice. */
	assert_memory_equal(peer.got + 2 * sizeof(line), "{\"class\":\"PONG\"}\n", 17);
	assert_int_equal(peer.got[4 * sizeof(line) + 17 - 1], '\n');
	assert_memory_equal(peer.got + 4 * sizeof(line) + 17, "{\"class\":\"DROPPED\",\"count\":6,",
			    28);
	assert_int_equal(peer.sent,
			 4 * sizeof(line) + 17 + strlen(peer.got + 4 * sizeof(line) + 17));
	assert_int_equal(f->fo->cur->refs, 0);
}

#define BOTH(t)                                                                                    \
	cmocka_unit_test_setup_teardown(t, setup_copy, teardown),                                  \
		cmocka_unit_test_setup_teardown(t, setup_shared, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_queue_then_flush),
		cmocka_unit_test_setup_teardown(test_offer_and_drain, setup_copy, teardown),
		BOTH(test_drop_policy_counts_and_notices),
		BOTH(test_disconnect_policy),
		BOTH(test_half_close_keeps_a_watcher),
		cmocka_unit_test_setup_teardown(test_shared_order_and_stretches, setup_shared,
						teardown),
		cmocka_unit_test_setup_teardown(test_shared_lines_extend_a_segment, setup_shared,
						teardown),
		cmocka_unit_test_setup_teardown(test_empty_queue_batches, setup_shared, teardown),
		cmocka_unit_test_setup_teardown(test_lagging_clients_share_chunks, setup_shared,
						teardown),
		cmocka_unit_test_setup_teardown(test_shared_drops_and_order, setup_shared,
						teardown),
		cmocka_unit_test_setup_teardown(test_hung_up_watcher_is_closed, setup_copy,
						teardown),
		cmocka_unit_test_setup_teardown(test_half_closed_watcher_that_dies_is_closed,
						setup_copy, teardown),
		cmocka_unit_test_setup_teardown(test_long_line_is_refused, setup_copy, teardown),
		cmocka_unit_test_setup_teardown(test_frame_slots_follow_the_watch, setup_copy,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_requests_wait_for_the_queue,
						setup_copy, teardown),
		cmocka_unit_test_setup_teardown(test_held_answer_then_half_close, setup_copy,
						teardown),
		cmocka_unit_test_setup_teardown(test_waiting_client_that_dies_is_closed, setup_copy,
						teardown),
		cmocka_unit_test_setup_teardown(test_resumed_client_is_not_polled, setup_copy,
						teardown),
		cmocka_unit_test_setup_teardown(test_fatal_line_after_unread_replies, setup_copy,
						teardown),
		cmocka_unit_test_setup_teardown(test_close_after_all_sent, setup_copy, teardown),
		cmocka_unit_test_setup_teardown(test_dropped_raw_bytes_are_counted, setup_copy,
						teardown),
		cmocka_unit_test_setup_teardown(test_close_after_hangup, setup_copy, teardown),
		cmocka_unit_test_setup_teardown(test_fatal_line_unread_ends_anyway, setup_copy,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
