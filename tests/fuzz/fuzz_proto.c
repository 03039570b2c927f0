/* libFuzzer target: client request lines (proto_parse_request) and the replies rendered
 * from what they carried; then the same bytes as a pipelining client through conn.c on a
 * socketpair: written in pieces, read slowly, sends answered late. Any input must parse
 * or fail cleanly, queues stay bounded and replies come in request order. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "fuzz_common.h"
#include "proto.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The pipelining client: every reply carries the number of its request. */
#define PIPE_QUEUE 4096
#define PIPE_HELD  8
static struct pipe {
	unsigned taken, answered, next_seen, held[PIPE_HELD], nheld;
	size_t llen; /* of the reply line being read */
} pp;

static void answer(struct conn *c, unsigned n)
{
	char buf[160];
	int len = snprintf(buf, sizeof buf, "{\"class\":\"PONG\",\"id\":%u,\"pad\":\"%*s\"}\n", n,
			   (int)(n % 64), "");
	conn_reply(c, buf, (size_t)len);
	pp.answered++;
}

/* As request.c: while a send is unanswered, only further sends are taken. */
static bool pipe_on_line(void *ud, struct conn *c, const char *line, size_t len)
{
	struct proto_request req;
	struct proto_error e;
	int r = proto_parse_request(line, len, &req, &e);
	bool send = r == 0 && req.cmd == PROTO_CMD_SEND;
	proto_request_clear(&req);
	if (c->held > 0 && (!send || pp.nheld == PIPE_HELD))
		return false;
	CHECK(r == 0 ? e.code == PROTO_E_NONE : e.code != PROTO_E_NONE);
	unsigned n = pp.taken++;
	if (send && pp.nheld < PIPE_HELD) {
		pp.held[pp.nheld++] = n;
		conn_hold(c);
	} else {
		answer(c, n);
	}
	return true;
}

static void pipe_on_closing(void *ud, struct conn *c)
{
}

/* Reads what the daemon sent and checks the order of the answers. */
static void pipe_read(int fd, size_t max)
{
	static char buf[1 << 16], line[4096];
	size_t llen = pp.llen;
	ssize_t n = recv(fd, buf, max < sizeof buf ? max : sizeof buf, MSG_DONTWAIT);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (llen < sizeof line - 1)
				line[llen++] = buf[i];
			continue;
		}
		line[llen] = '\0';
		unsigned id;
		if (sscanf(line, "{\"class\":\"PONG\",\"id\":%u", &id) == 1) {
			CHECK(id == pp.next_seen);
			pp.next_seen++;
		}
		static char clean[3 * sizeof line];
		CHECK(utf8_clean(clean, sizeof clean, line, llen) == llen); /* valid UTF-8 */
		llen = 0;
	}
	pp.llen = llen;
}

/* data drives the client: each byte picks an action, the bytes after it are its input. */
static void pipeline(const uint8_t *data, size_t size)
{
	int fds[2];
	struct event_base *base = event_base_new();
	if (!base || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) < 0) {
		if (base)
			event_base_free(base);
		return;
	}
	static const struct conn_ops ops = {.on_line = pipe_on_line, .on_closing = pipe_on_closing};
	memset(&pp, 0, sizeof pp);
	struct conn *c = conn_new(base, fds[0], 1, PIPE_QUEUE, NULL, &ops, NULL);
	if (!c) {
		close(fds[0]);
		goto out;
	}
	for (size_t i = 0; i < size && !c->closing;) {
		uint8_t op = data[i++];
		size_t k = (size_t)(op >> 2) * 16;
		switch (op & 3) {
		case 0: /* the client writes a piece of its requests */
			k = k < size - i ? k : size - i;
			if (k && send(fds[1], data + i, k, MSG_DONTWAIT) < 0 && errno != EAGAIN)
				goto done;
			i += k;
			break;
		case 1: /* the client reads a little */
			pipe_read(fds[1], k + 1);
			break;
		case 2: /* the firmware answers the oldest send */
			if (pp.nheld) {
				answer(c, pp.held[0]);
				memmove(pp.held, pp.held + 1, --pp.nheld * sizeof(pp.held[0]));
				conn_release(c);
			}
			break;
		case 3:
			break;
		}
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		/* Bounded: no request is taken above the mark, so one reply at most beyond it. */
		CHECK(c->closing || conn_queued(c) <= PIPE_QUEUE / 2 + 256);
	}
done:
	conn_free(c);
out:
	close(fds[1]);
	event_base_free(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pipeline(data, size);
	struct proto_request req;
	struct proto_error e;
	char buf[2048];
	int r = proto_parse_request((const char *)data, size, &req, &e);
	if (r < 0) {
		/* The ERROR reply echoes the id when it could be read. */
		(void)proto_render_error(buf, sizeof buf, req.id, e.code, e.message, NULL);
	} else {
		(void)proto_render_ack(buf, sizeof buf, req.id, req.cmd_name, req.channel, false,
				       0);
		if (req.cmd == PROTO_CMD_SEND) {
			char out[PROTO_FRAME_MAX];
			static struct proto_frame_names nm;
			(void)proto_frame_names_head(&nm, "\"x\"", 3);
			struct proto_frame f = {.seq = (uint32_t)req.len,
						.t_first = size,
						.t_last = size * 1000003u,
						.nbytes = (uint16_t)req.len};
			(void)proto_render_frame(out, sizeof out, &nm, &f, req.data,
						 PROTO_ENC_BASE64);
			(void)proto_render_frame(out, sizeof out, &nm, &f, req.data, PROTO_ENC_HEX);
		}
	}
	proto_request_clear(&req);
	/* The quoting of arbitrary bytes (LOG text from the M7). */
	char q[8192];
	(void)proto_quote(q, sizeof q, data, size < 1000 ? size : 1000);
	return 0;
}
