/* Integration tests for the libm7bridge connection (lib/client.c) against a scripted
 * fake daemon on a Unix socket in a temp dir: handshake, request/reply matching with
 * streamed objects in between, partial writes, bad lines, EOF, limits, timeouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "m7bridge/client.h"

#define VERSION_LINE                                                                               \
	"{\"class\":\"VERSION\",\"release\":\"9.9\",\"proto_major\":1,\"proto_minor\":0}\n"

struct fake {
	char dir[64];
	char path[100];
	int lfd;
	int cfd; /* the accepted connection, in the server thread */
	pthread_t thread;
	void (*script)(struct fake *);
	char got[8][512]; /* request lines received */
	int ngot;
	int go[2];	 /* the test tells the script to go on */
	bool whole;	 /* script_unread: the bytes received ended at a line's end or EOF */
	size_t received; /* script_drain: bytes received until EOF */
};

static void put(struct fake *f, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = send(f->cfd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* put() of a printf format: a reply that names a request's id. */
__attribute__((format(printf, 2, 3))) static void putf(struct fake *f, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	put(f, line);
}

/* Reads one request line (blocking, 10 s at most) into f->got. */
static const char *get_line(struct fake *f)
{
	char *buf = f->got[f->ngot < 8 ? f->ngot : 7];
	size_t n = 0;

	while (n < 511) {
		struct pollfd p = {.fd = f->cfd, .events = POLLIN};
		char ch;

		if (poll(&p, 1, 10000) <= 0 || recv(f->cfd, &ch, 1, 0) != 1)
			break;
		if (ch == '\n')
			break;
		buf[n++] = ch;
	}
	buf[n] = '\0';
	if (f->ngot < 8)
		f->ngot++;
	return buf;
}

/* The numeric id of a request line, or -1. */
static long id_of(const char *line)
{
	const char *p = strstr(line, "\"id\":");

	return p ? strtol(p + 5, NULL, 10) : -1;
}

static void *server(void *arg)
{
	struct fake *f = arg;

	f->cfd = accept(f->lfd, NULL, NULL);
	if (f->cfd < 0)
		return NULL;
	f->script(f);
	close(f->cfd);
	return NULL;
}

static struct fake *fake_start(void (*script)(struct fake *))
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	assert_non_null(f);
	strcpy(f->dir, "/tmp/m7b-client-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	f->script = script;
	assert_int_equal(pipe(f->go), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, server, f), 0);
	return f;
}

/* Waits for the script to end and removes the socket; the caller frees f. */
static void fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->go[0]);
	close(f->go[1]);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
}

static struct m7b_client *connect_to(struct fake *f)
{
	struct m7b_client *c = m7b_client_new();

	assert_non_null(c);
	m7b_client_set_timeout(c, 10000);
	assert_int_equal(m7b_client_connect(c, f->path), 0);
	assert_true(m7b_client_connected(c));
	assert_true(m7b_client_fd(c) >= 0);
	assert_string_equal(m7b_client_path(c), f->path);
	return c;
}

/* The client hangs up, then the script ends; the caller frees f, once it checked f->got. */
static void hang_up(struct fake *f, struct m7b_client *c)
{
	m7b_client_free(c);
	fake_stop(f);
}

/* Takes the next event, which must be the VERSION the fake sent first. */
static void expect_version(struct m7b_client *c, int timeout_ms)
{
	struct m7b_event *ev = NULL;

	assert_int_equal(m7b_client_next(c, &ev, timeout_ms), 0);
	assert_int_equal(ev->type, M7B_EV_VERSION);
	m7b_event_free(ev);
}

/* --- scripts ------------------------------------------------------------------------- */

static void script_status(struct fake *f)
{
	long id;

	put(f, VERSION_LINE);
	id = id_of(get_line(f));
	/* A streamed object before the reply, split across two writes, plus a reply that
	 * belongs to someone else's id, then the real one. */
	put(f, "{\"class\":\"STATE\",\"channel\":\"m7\",\"st");
	usleep(20000);
	put(f, "ate\":\"up\",\"reason\":\"hello\"}\n{\"class\":\"PONG\",\"id\":\"x\"}\n");
	putf(f,
	     "{\"class\":\"STATUS\",\"id\":%ld,\"channels\":[{\"name\":\"m7\",\"state\":\"up\","
	     "\"frames\":3,\"recoveries\":0}],\"release\":\"9.9\"}\r\n",
	     id);
	put(f, "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":1,\"seq\":5,\"t_first\":1,"
	       "\"t_last\":2,\"data\":\"aGk=\",\"len\":2}\n");
}

static void test_status_with_stream_in_between(void **state)
{
	struct fake *f = fake_start(script_status);
	struct m7b_client *c = connect_to(f);
	struct m7b_event *st = NULL, *ev = NULL;
	struct m7b_channel_status ch;

	assert_int_equal(m7b_client_status(c, &st), 0);
	assert_non_null(st);
	assert_int_equal(st->type, M7B_EV_STATUS);
	assert_int_equal(m7b_event_channel(st, 0, &ch), 0);
	assert_string_equal(ch.name, "m7");
	assert_int_equal(ch.frames, 3);
	m7b_event_free(st);
	/* VERSION was read on the way and remembered. */
	assert_non_null(m7b_client_version(c));
	assert_string_equal(m7b_client_version(c)->release, "9.9");
	assert_true(m7b_client_pending(c));
	/* The objects that arrived before the reply come out in order. */
	expect_version(c, 0);
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_int_equal(ev->type, M7B_EV_STATE);
	assert_string_equal(ev->state, "up");
	m7b_event_free(ev);
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_int_equal(ev->type, M7B_EV_PONG);
	m7b_event_free(ev);
	assert_int_equal(m7b_client_next(c, &ev, 10000), 0);
	assert_int_equal(ev->type, M7B_EV_FRAME);
	assert_int_equal(ev->data_len, 2);
	assert_memory_equal(ev->data, "hi", 2);
	m7b_event_free(ev);
	/* Then the fake closes: the client says so, repeatedly and cleanly. */
	assert_int_equal(m7b_client_next(c, &ev, 10000), -ECONNRESET);
	assert_null(ev);
	assert_int_equal(m7b_client_next(c, &ev, 0), -ECONNRESET);
	assert_true(strstr(m7b_client_error(c)->message, "closed") != NULL);
	/* As the header says: still "connected" until the caller closes. */
	assert_true(m7b_client_connected(c));
	assert_true(m7b_client_pending(c));
	m7b_client_close(c);
	assert_false(m7b_client_connected(c));
	assert_int_equal(m7b_client_next(c, &ev, 0), -ENOTCONN);
	fake_stop(f);
	assert_non_null(strstr(f->got[0], "{\"cmd\":\"status\","));
	free(f);
	m7b_client_free(c);
}

static void script_error_reply(struct fake *f)
{
	long id;

	put(f, VERSION_LINE);
	putf(f,
	     "{\"class\":\"ERROR\",\"id\":%ld,\"code\":\"channel_down\",\"message\":\"channel "
	     "m7 is down\",\"channel\":\"m7\"}\n",
	     id_of(get_line(f)));
	/* A second request, answered with ACK after a bad line. */
	id = id_of(get_line(f));
	put(f, "this is not json\n");
	putf(f, "{\"class\":\"ACK\",\"id\":%ld,\"cmd\":\"recover\"}\n", id);
	get_line(f); /* wait for the client to hang up */
}

static void test_error_reply_and_bad_line(void **state)
{
	struct fake *f = fake_start(script_error_reply);
	struct m7b_client *c = connect_to(f);
	struct m7b_event *ev = NULL;
	const struct m7b_error *e;

	assert_int_equal(m7b_client_send(c, "m7", 2, "hello", 5), -EREMOTEIO);
	e = m7b_client_error(c);
	assert_int_equal(e->errnum, -EREMOTEIO);
	assert_string_equal(e->code, "channel_down");
	assert_string_equal(e->message, "channel m7 is down");
	assert_int_equal(m7b_client_recover(c, "m7", &ev), 0);
	assert_int_equal(ev->type, M7B_EV_ACK);
	m7b_event_free(ev);
	hang_up(f, c);
	/* The requests went out as the protocol says. */
	assert_string_equal(
		f->got[0],
		"{\"cmd\":\"send\",\"id\":1,\"port\":2,\"data\":\"aGVsbG8=\",\"channel\":\"m7\"}");
	assert_string_equal(f->got[1], "{\"cmd\":\"recover\",\"id\":2,\"channel\":\"m7\"}");
	free(f);
}

static void script_capture(struct fake *f)
{
	put(f, VERSION_LINE);
	for (int i = 0; i < 2; i++)
		putf(f, "{\"class\":\"ACK\",\"id\":%ld}\n", id_of(get_line(f)));
}

static void test_requests_on_the_wire(void **state)
{
	struct fake *f = fake_start(script_capture);
	struct m7b_client *c = connect_to(f);
	const int ports[] = {2};
	struct m7b_watch w = {.ports = ports, .nports = 1, .encoding = "hex"};

	assert_int_equal(m7b_client_watch(c, &w), 0);
	assert_int_equal(m7b_client_send(c, "m7", 2, "hello\n", 6), 0);
	hang_up(f, c);
	assert_string_equal(f->got[0],
			    "{\"cmd\":\"watch\",\"id\":1,\"ports\":[2],\"encoding\":\"hex\"}");
	assert_string_equal(
		f->got[1],
		"{\"cmd\":\"send\",\"id\":2,\"port\":2,\"data\":\"aGVsbG8K\",\"channel\":\"m7\"}");
	free(f);
}

static void test_watch_empty_filters(void **state)
{
	/* NULL/0 members are left out, with resuming on (the default) as without: a NULL
	 * array with a count, or an array with count 0, means no filter of that kind. */
	struct fake *f = fake_start(script_capture);
	struct m7b_client *c = connect_to(f);
	static const char *const none[] = {"FRAME"};
	struct m7b_watch w1 = {.channels = NULL, .nchannels = 1};
	struct m7b_watch w2 = {.classes = none, .nclasses = 0};

	assert_int_equal(m7b_client_watch(c, &w1), 0);
	assert_int_equal(m7b_client_watch(c, &w2), 0);
	hang_up(f, c);
	assert_string_equal(f->got[0], "{\"cmd\":\"watch\",\"id\":1}");
	assert_string_equal(f->got[1], "{\"cmd\":\"watch\",\"id\":2}");
	free(f);
}

static void script_odd_replies(struct fake *f)
{
	long id;

	put(f, VERSION_LINE);
	/* status: first an object of a class this library does not know, echoing the id (a
	 * later minor's), then the STATUS. */
	id = id_of(get_line(f));
	putf(f,
	     "{\"class\":\"PROGRESS\",\"id\":%ld}\n{\"class\":\"STATUS\",\"id\":%ld,"
	     "\"channels\":[]}\n",
	     id, id);
	/* status again: answered with a PONG, which is no answer to status. */
	putf(f, "{\"class\":\"PONG\",\"id\":%ld}\n", id_of(get_line(f)));
	/* ping: answered as it should be. */
	putf(f, "{\"class\":\"PONG\",\"id\":%ld}\n", id_of(get_line(f)));
	get_line(f);
}

static void test_reply_of_another_class(void **state)
{
	struct fake *f = fake_start(script_odd_replies);
	struct m7b_client *c = connect_to(f);
	struct m7b_event *ev = NULL;

	assert_int_equal(m7b_client_status(c, &ev), 0);
	assert_int_equal(ev->type, M7B_EV_STATUS);
	m7b_event_free(ev);
	/* The unknown class is ignored as a reply, and kept for next(). */
	expect_version(c, 0);
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_string_equal(ev->cls, "PROGRESS");
	m7b_event_free(ev);
	/* A known class that does not answer the request is a protocol error, said so. */
	ev = (struct m7b_event *)1;
	assert_int_equal(m7b_client_status(c, &ev), -EBADMSG);
	assert_null(ev);
	assert_non_null(strstr(m7b_client_error(c)->message, "PONG"));
	/* The connection goes on. */
	assert_int_equal(m7b_client_ping(c), 0);
	hang_up(f, c);
	free(f);
}

static void script_bad_line_during_call(struct fake *f)
{
	put(f, VERSION_LINE);
	putf(f,
	     "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":1,\"seq\":1,\"data\":\"\"}\n"
	     "not json\n"
	     "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":1,\"seq\":2,\"data\":\"!\"}\n"
	     "{\"class\":\"PONG\",\"id\":%ld}\n",
	     id_of(get_line(f)));
	get_line(f);
}

static void test_bad_line_during_call(void **state)
{
	/* Bad lines that arrive while a call waits for its reply are not lost silently:
	 * next() reports each with -EBADMSG, in stream order. */
	struct fake *f = fake_start(script_bad_line_during_call);
	struct m7b_client *c = connect_to(f);
	struct m7b_event *ev = NULL;

	assert_int_equal(m7b_client_ping(c), 0);
	expect_version(c, 0);
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_int_equal(ev->seq, 1);
	m7b_event_free(ev);
	assert_int_equal(m7b_client_next(c, &ev, 0), -EBADMSG);
	assert_null(ev);
	assert_non_null(strstr(m7b_client_error(c)->message, "not valid JSON"));
	assert_int_equal(m7b_client_next(c, &ev, 0), -EBADMSG);
	assert_non_null(strstr(m7b_client_error(c)->message, "base64"));
	assert_false(m7b_client_pending(c));
	assert_int_equal(m7b_client_next(c, &ev, 0), -EAGAIN);
	hang_up(f, c);
	free(f);
}

static void script_unread(struct fake *f)
{
	static char buf[65536];
	char go, last = '\n';

	put(f, VERSION_LINE);
	/* Read nothing until the client gave up writing, as a daemon that stops reading
	 * a client whose queue is full. */
	assert_int_equal(read(f->go[0], &go, 1), 1);
	for (;;) {
		struct pollfd p = {.fd = f->cfd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, 500) <= 0)
			break;
		n = recv(f->cfd, buf, sizeof(buf), 0);
		/* The client shut its sending side: the daemon takes a cut line as ended
		 * (docs/CLIENT-PROTOCOL.md 1), so it joins no other. */
		if (n == 0)
			last = '\n';
		if (n <= 0)
			break;
		last = buf[n - 1];
	}
	f->whole = last == '\n';
}

static void test_cut_request_ends_sending(void **state)
{
	/* A request that could be written only in part would join the next one into a
	 * line the daemon refuses, and that reply would never come: the library shuts
	 * the sending side instead, and what the daemon sent can still be read. */
	struct fake *f = fake_start(script_unread);
	struct m7b_client *c = connect_to(f);
	static char name[60000];
	struct m7b_request req = {.cmd = M7B_CMD_INCIDENTS, .channel = name};
	int r, n = 0;

	memset(name, 'a', sizeof(name) - 1);
	m7b_client_set_timeout(c, 100);
	while ((r = m7b_client_submit(c, &req, NULL)) == 0 && n < 1000)
		n++;
	assert_true(r == -ETIMEDOUT || r == -ECONNRESET);
	if (r == -ECONNRESET) /* no second request after a cut one */
		assert_int_equal(m7b_client_submit(c, &req, NULL), -ECONNRESET);
	assert_int_equal(write(f->go[1], "x", 1), 1);
	fake_stop(f);
	assert_true(f->whole);
	expect_version(c, 1000);
	m7b_client_free(c);
	free(f);
}

static void script_frame_then_long_line(struct fake *f)
{
	size_t n = M7B_CLIENT_LINE_MAX + 100;
	char *big = malloc(n + 2);

	put(f, VERSION_LINE);
	get_line(f);
	put(f, "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":1,\"seq\":7,\"data\":\"\"}\n");
	memset(big, 'x', n);
	big[n] = '\n';
	big[n + 1] = '\0';
	put(f, big);
	free(big);
	get_line(f);
}

static void test_long_line_keeps_queue(void **state)
{
	/* The connection ends at a line too long, but what came before it stays readable. */
	struct fake *f = fake_start(script_frame_then_long_line);
	struct m7b_client *c = connect_to(f);
	struct m7b_event *ev = NULL;

	assert_int_equal(m7b_client_status(c, &ev), -EMSGSIZE);
	assert_null(ev);
	assert_false(m7b_client_connected(c));
	assert_true(m7b_client_pending(c));
	expect_version(c, 0);
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_int_equal(ev->seq, 7);
	m7b_event_free(ev);
	assert_false(m7b_client_pending(c));
	assert_int_equal(m7b_client_next(c, &ev, 0), -ENOTCONN);
	hang_up(f, c);
	free(f);
}

static void script_first_run(struct fake *f)
{
	put(f, VERSION_LINE);
	putf(f,
	     "{\"class\":\"ACK\",\"id\":%ld,\"cmd\":\"watch\"}\n"
	     "{\"class\":\"HELLO\",\"channel\":\"m7\",\"boot_id\":5}\n"
	     "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":1,\"seq\":9,\"data\":\"\"}\n",
	     id_of(get_line(f)));
	get_line(f);
}

static void script_refuse_then_ack(struct fake *f)
{
	put(f, VERSION_LINE);
	/* The client had frames: it asks which daemon this is (one that started long ago). */
	putf(f,
	     "{\"class\":\"STATUS\",\"id\":%ld,\"channels\":[],\"uptime_ms\":1000000000000000}\n",
	     id_of(get_line(f)));
	putf(f,
	     "{\"class\":\"ERROR\",\"id\":%ld,\"code\":\"unknown_channel\","
	     "\"message\":\"no channel m8\",\"available\":[\"m7\"]}\n",
	     id_of(get_line(f)));
	putf(f, "{\"class\":\"ACK\",\"id\":%ld,\"cmd\":\"watch\"}\n", id_of(get_line(f)));
	get_line(f);
}

static void test_refused_watch_still_resumes(void **state)
{
	/* A refused watch changes nothing (docs/CLIENT-PROTOCOL.md 3.1): the watch that
	 * follows on the same connection is still the first and resumes. */
	struct fake *f = fake_start(script_first_run);
	struct m7b_client *c = connect_to(f);
	const char *m7[] = {"m7"}, *m8[] = {"m8"};
	struct m7b_watch w7 = {.channels = m7, .nchannels = 1};
	struct m7b_watch w8 = {.channels = m8, .nchannels = 1};
	struct m7b_event *ev = NULL;

	assert_int_equal(m7b_client_watch(c, &w7), 0);
	do {
		m7b_event_free(ev);
		assert_int_equal(m7b_client_next(c, &ev, 10000), 0);
	} while (ev->type != M7B_EV_FRAME);
	m7b_event_free(ev);
	m7b_client_close(c);
	fake_stop(f);
	free(f);

	f = fake_start(script_refuse_then_ack);
	assert_int_equal(m7b_client_connect(c, f->path), 0);
	assert_int_equal(m7b_client_watch(c, &w8), -EREMOTEIO);
	assert_int_equal(m7b_client_watch(c, &w7), 0);
	hang_up(f, c);
	assert_non_null(strstr(f->got[0], "{\"cmd\":\"status\","));
	assert_non_null(strstr(f->got[2], "\"since_seq\":9,\"boot_id\":5}"));
	free(f);
}

/* VERSION, then whatever comes is counted until the client hangs up. */
static void script_drain(struct fake *f)
{
	char buf[4096];
	ssize_t n;

	put(f, VERSION_LINE);
	while ((n = recv(f->cfd, buf, sizeof(buf), 0)) > 0)
		f->received += (size_t)n;
}

static void test_resume_keeps_the_line_limit(void **state)
{
	/* A watch whose line fits the protocol's maximum when live must not be sent longer
	 * than it once the resume position is added: the daemon would answer too_long and
	 * close the connection. */
	struct fake *f = fake_start(script_first_run);
	struct m7b_client *c = connect_to(f);
	const char *m7[] = {"m7"};
	struct m7b_watch w7 = {.channels = m7, .nchannels = 1};
	struct m7b_event *ev = NULL;

	assert_int_equal(m7b_client_watch(c, &w7), 0);
	do {
		m7b_event_free(ev);
		assert_int_equal(m7b_client_next(c, &ev, 10000), 0);
	} while (ev->type != M7B_EV_FRAME);
	m7b_event_free(ev);
	m7b_client_close(c);
	fake_stop(f);
	free(f);

	/* m7 and names of 60 bytes, the last one grown until the live line is 65530 bytes. */
	enum { N = 1030 };
	const char **list = calloc(N, sizeof(*list));
	char *names = malloc((size_t)N * 61), *last = malloc(4096);
	assert_true(list && names && last);
	memset(names, 'x', (size_t)N * 61);
	list[0] = "m7";
	for (int i = 1; i < N; i++) {
		names[i * 61 + 60] = '\0';
		list[i] = names + i * 61;
	}
	struct m7b_watch w = {.channels = list, .nchannels = N};
	struct m7b_request req = {.cmd = M7B_CMD_WATCH, .watch = &w};
	int r;
	char *line = m7b_request_format(&req, 9, &r);
	assert_non_null(line);
	size_t grow = M7B_LINE_MAX - 6 - (strlen(line) - 1);
	free(line);
	assert_true(grow < 4000);
	memset(last, 'y', 60 + grow);
	last[60 + grow] = '\0';
	list[N - 1] = last;
	line = m7b_request_format(&req, 9, &r);
	assert_non_null(line);
	assert_int_equal(strlen(line) - 1, M7B_LINE_MAX - 6);
	free(line);

	f = fake_start(script_drain);
	assert_int_equal(m7b_client_connect(c, f->path), 0);
	m7b_client_set_timeout(c, 2000);
	assert_int_equal(m7b_client_watch(c, &w), -EMSGSIZE);
	hang_up(f, c);
	assert_int_equal(f->received, 0);
	free(f);
	free(list);
	free(names);
	free(last);
}

static void script_bad_version(struct fake *f)
{
	put(f, "{\"class\":\"VERSION\",\"release\":\"9\",\"proto_major\":2,\"proto_minor\":0}\n");
	get_line(f);
}

static void test_other_major_version(void **state)
{
	struct fake *f = fake_start(script_bad_version);
	struct m7b_client *c = connect_to(f);
	struct m7b_event *ev = NULL;

	assert_int_equal(m7b_client_next(c, &ev, 10000), -EPROTO);
	assert_null(ev);
	assert_false(m7b_client_connected(c));
	assert_true(strstr(m7b_client_error(c)->message, "protocol 2") != NULL);
	hang_up(f, c);
	free(f);
}

static void script_long_line(struct fake *f)
{
	size_t n = M7B_CLIENT_LINE_MAX + 100;
	char *big = malloc(n + 1);

	put(f, VERSION_LINE);
	memset(big, 'x', n);
	big[n] = '\0';
	put(f, big); /* no newline ever comes */
	free(big);
	get_line(f);
}

static void test_line_too_long(void **state)
{
	struct fake *f = fake_start(script_long_line);
	struct m7b_client *c = connect_to(f);
	struct m7b_event *ev = NULL;

	expect_version(c, 10000);
	assert_int_equal(m7b_client_next(c, &ev, 20000), -EMSGSIZE);
	assert_false(m7b_client_connected(c));
	hang_up(f, c);
	free(f);
}

static void script_silent(struct fake *f)
{
	put(f, VERSION_LINE);
	get_line(f); /* the status request: never answered */
	get_line(f); /* blocks until the client goes */
}

static void test_timeout_and_nonblocking(void **state)
{
	struct fake *f = fake_start(script_silent);
	struct m7b_client *c = connect_to(f);
	struct m7b_event *ev = NULL;
	struct pollfd p = {.fd = m7b_client_fd(c), .events = POLLIN};

	/* Event-loop use: wait for readability, then drain with timeout 0. */
	assert_int_equal(poll(&p, 1, 10000), 1);
	expect_version(c, 0);
	assert_int_equal(m7b_client_next(c, &ev, 0), -EAGAIN);
	assert_false(m7b_client_pending(c));
	m7b_client_set_timeout(c, 200);
	assert_int_equal(m7b_client_status(c, &ev), -ETIMEDOUT);
	assert_null(ev);
	assert_int_equal(m7b_client_next(c, &ev, 50), -ETIMEDOUT);
	hang_up(f, c);
	free(f);
}

static void test_connect_failures(void **state)
{
	struct m7b_client *c = m7b_client_new();
	char dir[] = "/tmp/m7b-client-XXXXXX";
	char path[200], longp[300];
	struct m7b_event *ev;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/absent.sock", dir);
	assert_int_equal(m7b_client_connect(c, path), -ENOENT);
	assert_true(strstr(m7b_client_error(c)->message, path) != NULL);
	assert_false(m7b_client_connected(c));
	assert_int_equal(m7b_client_fd(c), -1);
	assert_int_equal(m7b_client_next(c, &ev, 0), -ENOTCONN);
	/* $M7BRIDGE_SOCKET is used when no path is given. */
	setenv(M7B_SOCKET_ENV, path, 1);
	assert_int_equal(m7b_client_connect(c, NULL), -ENOENT);
	assert_string_equal(m7b_client_path(c), path);
	unsetenv(M7B_SOCKET_ENV);
	assert_int_equal(m7b_client_connect(c, NULL), m7b_client_connect(c, M7B_DEFAULT_SOCKET));
	assert_string_equal(m7b_client_path(c), M7B_DEFAULT_SOCKET);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(m7b_client_connect(c, longp), -ENAMETOOLONG);
	assert_null(m7b_client_free(c));
	assert_null(m7b_client_free(NULL));
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_with_stream_in_between),
		cmocka_unit_test(test_error_reply_and_bad_line),
		cmocka_unit_test(test_requests_on_the_wire),
		cmocka_unit_test(test_watch_empty_filters),
		cmocka_unit_test(test_reply_of_another_class),
		cmocka_unit_test(test_bad_line_during_call),
		cmocka_unit_test(test_cut_request_ends_sending),
		cmocka_unit_test(test_long_line_keeps_queue),
		cmocka_unit_test(test_refused_watch_still_resumes),
		cmocka_unit_test(test_resume_keeps_the_line_limit),
		cmocka_unit_test(test_other_major_version),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_timeout_and_nonblocking),
		cmocka_unit_test(test_connect_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
