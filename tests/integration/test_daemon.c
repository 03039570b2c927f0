/* m7bridged end to end: a fake M7 on a pty, the daemon as a process, clients on its
 * socket. Frames, fan-out, garbage, reopen, slow clients, bad requests, sends, config
 * errors, SIGHUP reload, a busy tty, shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "daemon.h"
#include "daemon_harness.h"

struct fx {
	struct daemon_proc p;
	struct fake_m7 m;
	struct fake_m7 m2; /* a second pty behind the same link (swap test) */
	char link[256];
};

static char conf_buf[8192];

static const char *chan_conf(const struct fx *f, const char *extra)
{
	snprintf(conf_buf, sizeof conf_buf,
		 "[channel m7]\ndevice = %s\nport.2 = gps\nreopen_min_ms = 20\nreopen_max_ms = "
		 "200\n%s",
		 f->link, extra ? extra : "");
	return conf_buf;
}

static int setup_with(void **state, const char *extra, bool handshake)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->m.master = f->m2.master = -1;
	assert_int_equal(h_tmpdir(&f->p), 0);
	snprintf(f->link, sizeof f->link, "%s/ttyRPMSG30", f->p.dir);
	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	assert_int_equal(daemon_proc_start(&f->p, chan_conf(f, extra)), 0);
	if (handshake)
		assert_int_equal(fake_m7_handshake(&f->m, 0xA1B2C3D4, 8), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, NULL, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	int st = daemon_proc_stop(&f->p);
	fake_m7_close(&f->m);
	fake_m7_close(&f->m2);
	h_show_log_if(&f->p, st);
	h_cleanup(&f->p);
	free(f);
	assert_int_equal(st, 0);
	return 0;
}

/* Independent base64 for checking (RFC 4648). */
static void b64(const uint8_t *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

static cJSON *status_of(struct tclient *c)
{
	assert_int_equal(tclient_send(c, "{\"cmd\":\"status\",\"id\":\"st\"}"), 0);
	cJSON *s = tclient_wait(c, "STATUS", H_TIMEOUT_MS);
	assert_non_null(s);
	return s;
}

static const cJSON *status_channel(const cJSON *s, const char *name)
{
	const cJSON *ch;
	cJSON_ArrayForEach(ch, cJSON_GetObjectItem(s, "channels")) if (strcmp(j_str(ch, "name"),
									      name) == 0) return ch;
	return NULL;
}

/* Waits until the channel's state in STATE objects becomes st. */
static void wait_state(struct tclient *c, const char *st)
{
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	while (h_now_ms() < end) {
		cJSON *o = tclient_wait(c, "STATE", H_TIMEOUT_MS);
		assert_non_null(o);
		bool ok = strcmp(j_str(o, "state"), st) == 0;
		cJSON_Delete(o);
		if (ok)
			return;
	}
	fail_msg("channel never became %s", st);
}

/* The fake M7 sends hb as a HEARTBEAT frame. */
static void send_heartbeat(struct fx *f, const struct m7b_heartbeat *hb)
{
	uint8_t pl[128];
	int n = m7b_wire_pack_heartbeat(pl, sizeof pl, hb);

	assert_true(n > 0);
	assert_int_equal(fake_m7_frame(&f->m, M7B_T_HEARTBEAT, 0, 0, pl, (size_t)n), 0);
}

/* ---- tests ---- */

static void test_version_exact(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	assert_int_equal(tclient_connect(&c, f->p.sock), 0);
	const char *l = tclient_line(&c, H_TIMEOUT_MS, NULL);
	assert_non_null(l);
	assert_string_equal(l, "{\"class\":\"VERSION\",\"release\":\"" M7B_VERSION
			       "\",\"proto_major\":1,\"proto_minor\":1}");
	/* Nothing is streamed before watch, even when frames flow. */
	uint8_t b = 'x';
	assert_int_equal(fake_m7_data(&f->m, 1, 0, 1, 2, &b, 1), 0);
	assert_null(tclient_line(&c, 300, NULL));
	/* watch, one frame, unwatch: then nothing again. */
	assert_int_equal(tclient_send(&c, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"]}"), 0);
	cJSON *a = tclient_wait(&c, "ACK", H_TIMEOUT_MS);
	assert_non_null(a);
	assert_string_equal(j_str(a, "cmd"), "watch");
	cJSON_Delete(a);
	assert_int_equal(fake_m7_data(&f->m, 1, 0, 3, 4, &b, 1), 0);
	cJSON *o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_true(j_num(o, "t_first") == 3);
	cJSON_Delete(o);
	assert_int_equal(tclient_send(&c, "{\"cmd\":\"unwatch\",\"id\":2}"), 0);
	a = tclient_wait(&c, "ACK", H_TIMEOUT_MS);
	assert_non_null(a);
	assert_string_equal(j_str(a, "cmd"), "unwatch");
	cJSON_Delete(a);
	assert_int_equal(fake_m7_data(&f->m, 1, 0, 5, 6, &b, 1), 0);
	assert_null(tclient_line(&c, 300, NULL));
	tclient_close(&c);
}

static void test_frames_one_client(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"id\":1}"), 0);
	cJSON *st = tclient_wait(&c, "STATE", H_TIMEOUT_MS);
	assert_non_null(st);
	assert_string_equal(j_str(st, "reason"), "snapshot");
	cJSON_Delete(st);

	enum { N = 300 };
	uint8_t bytes[N][64];
	for (int i = 0; i < N; i++) {
		size_t n = (size_t)(i % 60) + 1;
		for (size_t k = 0; k < n; k++)
			bytes[i][k] = (uint8_t)(i * 7 + k * 13); /* includes 0x00, '"', '\n' ... */
		uint8_t flags = i % 50 == 0 ? (M7B_DATA_OVERRUN | M7B_DATA_CONTINUED) : 0;
		assert_int_equal(fake_m7_data(&f->m, (uint8_t)(i % 3), flags, 1000000ull * i,
					      1000000ull * i + 90, bytes[i], n),
				 0);
	}
	for (int i = 0; i < N; i++) {
		cJSON *o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
		assert_non_null(o);
		size_t n = (size_t)(i % 60) + 1;
		char want[128];
		b64(bytes[i], n, want);
		assert_string_equal(j_str(o, "channel"), "m7");
		assert_int_equal((int)j_num(o, "port"), i % 3);
		/* HELLO was seq 0; the SYNC_REPLYs the fake sends take seqs between. */
		assert_true(j_num(o, "seq") >= i + 1 && j_num(o, "seq") <= fake_m7_seq(&f->m));
		assert_true(j_num(o, "t_first") == 1000000.0 * i);
		assert_true(j_num(o, "t_last") == 1000000.0 * i + 90);
		assert_string_equal(j_str(o, "data"), want);
		assert_int_equal((int)j_num(o, "len"), (int)n);
		if (i % 3 == 2)
			assert_string_equal(j_str(o, "port_name"), "gps");
		else
			assert_null(cJSON_GetObjectItem(o, "port_name"));
		const cJSON *fl = cJSON_GetObjectItem(o, "flags");
		if (i % 50 == 0) {
			assert_int_equal(cJSON_GetArraySize(fl), 2);
			assert_string_equal(cJSON_GetArrayItem(fl, 0)->valuestring, "overrun");
			assert_string_equal(cJSON_GetArrayItem(fl, 1)->valuestring, "continued");
		} else {
			assert_null(fl);
		}
		cJSON_Delete(o);
	}
	/* Full 64-bit ticks are printed exactly. */
	uint8_t b = 0x42;
	assert_int_equal(fake_m7_data(&f->m, 1, 0, UINT64_MAX - 1, UINT64_MAX, &b, 1), 0);
	const char *l;
	do {
		l = tclient_line(&c, H_TIMEOUT_MS, NULL);
		assert_non_null(l);
	} while (!strstr(l, "\"FRAME\""));
	assert_non_null(
		strstr(l, "\"t_first\":18446744073709551614,\"t_last\":18446744073709551615"));

	cJSON *s = status_of(&c);
	const cJSON *ch = status_channel(s, "m7");
	assert_non_null(ch);
	assert_string_equal(j_str(ch, "state"), "up");
	assert_int_equal((int)j_num(ch, "data_frames"), N + 1);
	assert_true(j_num(ch, "frames") >= N + 2); /* + the SYNC_REPLYs */
	assert_int_equal((int)j_num(ch, "seq_gaps"), 0);
	assert_string_equal(j_str(cJSON_GetObjectItem(ch, "firmware"), "name"), "fake-m7 1.0");
	assert_true(j_num(cJSON_GetObjectItem(ch, "firmware"), "boot_id") == 0xA1B2C3D4);
	cJSON_Delete(s);
	tclient_close(&c);
}

static void test_frames_many_clients(void **state)
{
	struct fx *f = *state;
	struct tclient all, hex, port2, states;
	/* The port filter first: the daemon lists its newest client first, so that one is
	 * the last a FRAME is offered to, after others took it. */
	assert_int_equal(tclient_open(&port2, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"ports\":[2],"
				      "\"channels\":[\"m7\"]}"),
			 0);
	assert_int_equal(tclient_open(&all, f->p.sock, "{\"cmd\":\"watch\"}"), 0);
	assert_int_equal(
		tclient_open(&hex, f->p.sock,
			     "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"encoding\":\"hex\"}"),
		0);
	assert_int_equal(
		tclient_open(&states, f->p.sock,
			     "{\"cmd\":\"watch\",\"classes\":[\"STATE\"],\"channels\":[]}"),
		0);
	enum { N = 200 };
	for (int i = 0; i < N; i++) {
		uint8_t d[3] = {(uint8_t)i, 0, 0xAB};
		assert_int_equal(fake_m7_data(&f->m, (uint8_t)(i % 4), 0, (uint64_t)i,
					      (uint64_t)i + 1, d, sizeof d),
				 0);
	}
	int got_port2 = 0;
	for (int i = 0; i < N; i++) {
		cJSON *a = tclient_wait(&all, "FRAME", H_TIMEOUT_MS);
		cJSON *h = tclient_wait(&hex, "FRAME", H_TIMEOUT_MS);
		assert_non_null(a);
		assert_non_null(h);
		char want[16];
		snprintf(want, sizeof want, "%02x00ab", i & 0xff);
		assert_string_equal(j_str(h, "hex"), want);
		assert_null(cJSON_GetObjectItem(h, "data"));
		assert_true(j_num(a, "seq") == j_num(h, "seq"));
		assert_true(j_num(a, "t_first") == i);
		if (i % 4 == 2) {
			cJSON *p = tclient_wait(&port2, "FRAME", H_TIMEOUT_MS);
			assert_non_null(p);
			assert_true(j_num(p, "seq") == j_num(a, "seq"));
			assert_int_equal((int)j_num(p, "port"), 2);
			cJSON_Delete(p);
			got_port2++;
		}
		cJSON_Delete(a);
		cJSON_Delete(h);
	}
	assert_int_equal(got_port2, N / 4);
	/* Filtered out: nothing more for port2 and nothing at all for an empty channel list. */
	assert_null(tclient_line(&port2, 200, NULL));
	assert_null(tclient_line(&states, 200, NULL));
	tclient_close(&all);
	tclient_close(&hex);
	tclient_close(&port2);
	tclient_close(&states);
}

/* printf '...' | socat - UNIX-CONNECT:sock shuts its sending side when printf ends and
 * keeps reading: a watcher must keep its stream, a one-shot request must get its reply. */
static void test_half_closed_clients(void **state)
{
	struct fx *f = *state;
	struct tclient w, q;
	bool eof = false;

	assert_int_equal(tclient_open(&w, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"]}"),
			 0);
	assert_int_equal(shutdown(w.fd, SHUT_WR), 0);
	/* The daemon has seen the EOF once it answers a later client: no race on it. */
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	assert_int_equal(tclient_send(&q, "{\"cmd\":\"status\",\"id\":\"one-shot\"}"), 0);
	assert_int_equal(shutdown(q.fd, SHUT_WR), 0);
	cJSON *st = tclient_wait(&q, "STATUS", H_TIMEOUT_MS);
	assert_non_null(st);
	assert_string_equal(j_str(st, "id"), "one-shot");
	cJSON_Delete(st);
	/* Nothing more for it: the daemon closes it once the reply has left. */
	assert_null(tclient_line(&q, H_TIMEOUT_MS, &eof));
	assert_true(eof);
	tclient_close(&q);
	/* The last request may lack its newline: the end of input ends it. */
	assert_int_equal(tclient_open(&q, f->p.sock, NULL), 0);
	const char *last = "{\"cmd\":\"ping\",\"id\":1}\n{\"cmd\":\"ping\",\"id\":2}";
	assert_int_equal(tclient_send_raw(&q, last, strlen(last)), 0);
	assert_int_equal(shutdown(q.fd, SHUT_WR), 0);
	for (int id = 1; id <= 2; id++) {
		cJSON *p = tclient_wait(&q, "PONG", H_TIMEOUT_MS);
		assert_non_null(p);
		assert_int_equal((int)j_num(p, "id"), id);
		cJSON_Delete(p);
	}
	eof = false;
	assert_null(tclient_line(&q, H_TIMEOUT_MS, &eof));
	assert_true(eof);
	tclient_close(&q);

	for (int i = 0; i < 20; i++) {
		uint8_t b = (uint8_t)i;

		assert_int_equal(fake_m7_data(&f->m, 1, 0, 100u * i, 100u * i + 1, &b, 1), 0);
	}
	for (int i = 0; i < 20; i++) {
		cJSON *o = tclient_wait(&w, "FRAME", H_TIMEOUT_MS);

		assert_non_null(o);
		assert_true(j_num(o, "t_first") == 100.0 * i);
		cJSON_Delete(o);
	}
	tclient_close(&w);
}

/* A stream whose bad candidates outnumber its frames is a fault of its own (source
 * "decoder"), reported once; the odd "hello world!" among good frames is not. */
static void test_corrupt_stream_fault(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	uint8_t frame[M7B_FRAME_MAX], pl[17] = {0}, d = 1;
	struct m7b_frame h = {.ver = 1, .type = M7B_T_DATA, .len = sizeof pl};
	struct m7b_part part = {pl, sizeof pl};

	assert_int_equal(tclient_open(&c, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"FRAME\",\"FAULT\"]}"),
			 0);
	/* Healthy: a greeting, then frames. The FRAME after them proves the daemon has
	 * read past the greeting before we look for a FAULT. */
	assert_int_equal(fake_m7_write(&f->m, "hello world!", 12), 0);
	assert_int_equal(fake_m7_write(&f->m, "", 1), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(fake_m7_data(&f->m, 0, 0, 10 + i, 11 + i, &d, 1), 0);
	for (int i = 0; i < 3; i++) {
		cJSON *o = tclient_obj(&c, H_TIMEOUT_MS);

		assert_non_null(o);
		assert_string_equal(j_str(o, "class"), "FRAME");
		cJSON_Delete(o);
	}
	/* Corrupt: twenty frames with a damaged CRC, then a good one. */
	for (int i = 0; i < 20; i++) {
		h.seq = 100u + (uint32_t)i;
		int n = m7b_wire_encode(frame, sizeof frame, &h, &part, 1);

		assert_true(n > 4);
		frame[n - 3] ^= 0x40;
		if (frame[n - 3] == 0)
			frame[n - 3] = 0x40;
		assert_int_equal(fake_m7_write(&f->m, frame, (size_t)n), 0);
	}
	assert_int_equal(fake_m7_data(&f->m, 0, 0, 99, 99, &d, 1), 0);
	cJSON *fault = tclient_wait(&c, "FAULT", H_TIMEOUT_MS);
	assert_non_null(fault);
	assert_string_equal(j_str(fault, "kind"), "corrupt_stream");
	assert_string_equal(j_str(fault, "source"), "decoder");
	assert_int_equal((int)j_num(fault, "count"), 1);
	assert_non_null(strstr(j_str(fault, "detail"), "crc"));
	cJSON_Delete(fault);
	/* Once per window: more garbage right away adds no second FAULT before the frame
	 * that follows it. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(fake_m7_write(&f->m, frame, 6), 0);
	assert_int_equal(fake_m7_write(&f->m, "", 1), 0);
	assert_int_equal(fake_m7_data(&f->m, 0, 0, 200, 200, &d, 1), 0);
	for (;;) {
		cJSON *o = tclient_obj(&c, H_TIMEOUT_MS);

		assert_non_null(o);
		assert_string_equal(j_str(o, "class"), "FRAME");
		bool last = j_num(o, "t_first") == 200;
		cJSON_Delete(o);
		if (last)
			break;
	}
	tclient_close(&c);
}

static void test_garbage(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"]}"),
			 0);
	uint8_t d = 1;
	/* The kernel's unframed greeting, noise, a frame with a bad CRC, a half frame. */
	/* hello world! glued to a frame costs that frame (no delimiter between them)... */
	assert_int_equal(fake_m7_write(&f->m, "hello world!", 12), 0);
	assert_int_equal(fake_m7_data(&f->m, 0, 0, 5, 5, &d, 1), 0);
	/* ...but after the 0x00 a sender emits when it (re)starts, nothing is lost. */
	assert_int_equal(fake_m7_write(&f->m, "hello world!", 12), 0);
	assert_int_equal(fake_m7_write(&f->m, "", 1), 0);
	assert_int_equal(fake_m7_data(&f->m, 0, 0, 10, 11, &d, 1), 0);
	uint8_t noise[300];
	for (size_t i = 0; i < sizeof noise; i++)
		noise[i] = (uint8_t)(i * 37 + 11) | 1;
	noise[299] = 0;
	assert_int_equal(fake_m7_write(&f->m, noise, sizeof noise), 0);
	uint8_t frame[M7B_FRAME_MAX];
	struct m7b_frame h = {.ver = 1, .type = M7B_T_DATA, .seq = 77, .len = 17};
	uint8_t pl[17] = {0};
	struct m7b_part part = {pl, sizeof pl};
	int n = m7b_wire_encode(frame, sizeof frame, &h, &part, 1);
	assert_true(n > 4);
	frame[n - 3] ^= 0x40; /* CRC byte damaged */
	if (frame[n - 3] == 0)
		frame[n - 3] = 0x40;
	assert_int_equal(fake_m7_write(&f->m, frame, (size_t)n), 0);
	assert_int_equal(fake_m7_write(&f->m, frame, 5), 0); /* half a frame */
	assert_int_equal(fake_m7_write(&f->m, "", 1), 0);
	for (int i = 0; i < 5; i++) {
		d = (uint8_t)(i + 2);
		assert_int_equal(fake_m7_data(&f->m, 0, 0, 20 + i, 21 + i, &d, 1), 0);
	}
	for (int i = 0; i < 6; i++) {
		cJSON *o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
		assert_non_null(o);
		assert_true(j_num(o, "t_first") == (i == 0 ? 10 : 20 + i - 1));
		cJSON_Delete(o);
	}
	cJSON *s = status_of(&c);
	const cJSON *ch = status_channel(s, "m7");
	assert_true(j_num(ch, "noise_bytes") >= 12 + 12 + 299);
	assert_true(j_num(ch, "resyncs") >= 4);
	assert_true(j_num(ch, "bad_crc") >= 1);
	assert_int_equal((int)j_num(ch, "data_frames"), 6);
	assert_string_equal(j_str(ch, "state"), "up");
	cJSON_Delete(s);
	tclient_close(&c);
}

static void test_seq_gaps(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"]}"),
			 0);
	uint8_t d = 1;
	assert_int_equal(fake_m7_data(&f->m, 0, 0, 1, 1, &d, 1), 0); /* seq 1 */
	pthread_mutex_lock(&f->m.mu); /* the fake's thread sends frames too */
	f->m.seq += 5;		      /* 5 lost in transit */
	pthread_mutex_unlock(&f->m.mu);
	assert_int_equal(fake_m7_data(&f->m, 0, 0, 2, 2, &d, 1), 0);
	for (int i = 0; i < 2; i++)
		cJSON_Delete(tclient_wait(&c, "FRAME", H_TIMEOUT_MS));
	cJSON *s = status_of(&c);
	assert_int_equal((int)j_num(status_channel(s, "m7"), "seq_gaps"), 5);
	cJSON_Delete(s);
	tclient_close(&c);
}

/* Sends frames, closes the pty (after the daemon drained it), brings up a new one
 * behind the same symlink and checks nothing after the reopen is lost. */
static void test_hangup_reopen(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	assert_int_equal(
		tclient_open(&c, f->p.sock,
			     "{\"cmd\":\"watch\",\"classes\":[\"FRAME\",\"STATE\",\"HELLO\"]}"),
		0);
	wait_state(&c, "up"); /* snapshot */
	uint8_t d = 9;
	for (int i = 0; i < 10; i++)
		assert_int_equal(fake_m7_data(&f->m, 1, 0, (uint64_t)i, (uint64_t)i, &d, 1), 0);
	for (int i = 0; i < 10; i++)
		cJSON_Delete(tclient_wait(&c, "FRAME", H_TIMEOUT_MS));
	fake_m7_close(&f->m);
	cJSON *down = tclient_wait(&c, "STATE", H_TIMEOUT_MS);
	assert_non_null(down);
	assert_string_equal(j_str(down, "state"), "down");
	cJSON_Delete(down);

	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	assert_int_equal(fake_m7_handshake(&f->m, 0x5555, 8), 0);
	wait_state(&c, "up");
	cJSON *hello = tclient_wait(&c, "HELLO", H_TIMEOUT_MS);
	assert_non_null(hello);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(hello, "new_boot")));
	cJSON_Delete(hello);
	enum { N = 500 };
	for (int i = 0; i < N; i++)
		assert_int_equal(fake_m7_data(&f->m, 1, 0, 5000u + i, 5000u + i, &d, 1), 0);
	for (int i = 0; i < N; i++) {
		cJSON *o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
		assert_non_null(o);
		assert_true(j_num(o, "t_first") == 5000 + i);
		assert_true(j_num(o, "seq") >= i + 1); /* SYNC_REPLYs take seqs too */
		cJSON_Delete(o);
	}
	cJSON *s = status_of(&c);
	const cJSON *ch = status_channel(s, "m7");
	assert_int_equal((int)j_num(ch, "reopens"), 1);
	assert_int_equal((int)j_num(ch, "seq_gaps"), 0);
	cJSON_Delete(s);
	tclient_close(&c);
}

/* The symlink moves to a new pty while the old one is still open. */
static void test_symlink_swap(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	assert_int_equal(tclient_open(&c, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"FRAME\",\"STATE\"]}"),
			 0);
	wait_state(&c, "up");
	uint8_t d = 1;
	assert_int_equal(fake_m7_data(&f->m, 0, 0, 1, 1, &d, 1), 0);
	cJSON_Delete(tclient_wait(&c, "FRAME", H_TIMEOUT_MS));
	uint64_t t0 = h_now_ms();
	assert_int_equal(fake_m7_open(&f->m2, f->link), 0);
	cJSON *o = tclient_wait(&c, "STATE", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "state"), "down");
	assert_string_equal(j_str(o, "reason"), "device_replaced");
	cJSON_Delete(o);
	assert_int_equal(fake_m7_handshake(&f->m2, 0x77, 8), 0);
	print_message("reopened the swapped node %llu ms after the rename\n",
		      (unsigned long long)(h_now_ms() - t0));
	wait_state(&c, "up");
	for (int i = 0; i < 50; i++)
		assert_int_equal(fake_m7_data(&f->m2, 0, 0, 100u + i, 100u + i, &d, 1), 0);
	for (int i = 0; i < 50; i++) {
		o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
		assert_non_null(o);
		assert_true(j_num(o, "t_first") == 100 + i);
		cJSON_Delete(o);
	}
	fake_m7_close(&f->m); /* the old one goes away late */
	tclient_close(&c);
}

/* A client that never reads must not stall the others nor grow the daemon. */
static void test_slow_client(void **state)
{
	struct fx *f = *state;
	struct tclient slow, fast, disc;
	assert_int_equal(
		tclient_open(&slow, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"]}"), 0);
	assert_int_equal(
		tclient_open(
			&disc, f->p.sock,
			"{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"policy\":\"disconnect\"}"),
		0);
	assert_int_equal(
		tclient_open(&fast, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"]}"), 0);
	long rss0 = h_rss_kib(f->p.pid);
	uint8_t d[400];
	memset(d, 'z', sizeof d);
	/* ~280 MB of JSON would be queued for the slow client without a bound. */
	enum { N = 6000 };
	int fast_got = 0;
	for (int i = 0; i < N; i++) {
		assert_int_equal(fake_m7_data(&f->m, 0, 0, (uint64_t)i, (uint64_t)i, d, sizeof d),
				 0);
		if (i % 64 == 63 || i == N - 1) {
			/* The fast client keeps up; the slow ones never read. */
			for (;;) {
				cJSON *o = tclient_obj(&fast, 0);
				if (!o)
					break;
				assert_string_equal(j_str(o, "class"), "FRAME");
				assert_true(j_num(o, "t_first") == fast_got);
				fast_got++;
				cJSON_Delete(o);
			}
		}
	}
	/* The fast one gets every frame, in order, and no DROPPED. */
	for (;;) {
		cJSON *o = tclient_obj(&fast, fast_got < N ? H_TIMEOUT_MS : 200);
		if (!o)
			break;
		assert_string_equal(j_str(o, "class"), "FRAME");
		assert_true(j_num(o, "t_first") == fast_got);
		fast_got++;
		cJSON_Delete(o);
	}
	assert_int_equal(fast_got, N);
	long rss1 = h_rss_kib(f->p.pid);
	print_message("daemon RSS %ld KiB -> %ld KiB\n", rss0, rss1);
	assert_true(rss1 - rss0 < 16 * 1024);

	cJSON *s = status_of(&fast);
	const cJSON *cl;
	bool saw_drops = false;
	cJSON_ArrayForEach(cl, cJSON_GetObjectItem(s, "clients"))
	{
		if (j_num(cl, "dropped") > 0)
			saw_drops = true;
		assert_true(j_num(cl, "queued_bytes") <= 256 * 1024);
	}
	assert_true(saw_drops);
	cJSON_Delete(s);

	/* policy disconnect: the connection was closed. */
	bool eof = false;
	const char *l;
	while ((l = tclient_line(&disc, H_TIMEOUT_MS, &eof)))
		;
	assert_true(eof);

	/* The slow one catches up and is told how much it lost. */
	cJSON *dr = tclient_wait(&slow, "DROPPED", H_TIMEOUT_MS);
	assert_non_null(dr);
	int dropped = (int)j_num(dr, "count");
	assert_true(dropped > 0);
	cJSON_Delete(dr);
	/* Frames it got + frames dropped = all frames. */
	tclient_close(&slow);
	tclient_close(&disc);
	tclient_close(&fast);
	print_message("slow client: %d frames dropped\n", dropped);
}

static void expect_error(struct tclient *c, const char *line, const char *code)
{
	assert_int_equal(tclient_send(c, line), 0);
	cJSON *e = tclient_wait(c, "ERROR", H_TIMEOUT_MS);
	assert_non_null(e);
	if (strcmp(j_str(e, "code"), code) != 0)
		fail_msg("line %s: expected %s, got %s (%s)", line, code, j_str(e, "code"),
			 j_str(e, "message"));
	cJSON_Delete(e);
}

/* A new client sends line 40 times: the daemon answers 32 errors, "flood" among them,
 * and no more. */
static void expect_flood(struct fx *f, const char *line)
{
	struct tclient c;
	int errors = 0;
	bool flood = false;
	cJSON *o;

	assert_int_equal(tclient_open(&c, f->p.sock, NULL), 0);
	for (int i = 0; i < 40; i++)
		(void)tclient_send(&c, line);
	while ((o = tclient_obj(&c, H_TIMEOUT_MS))) {
		errors++;
		if (strcmp(j_str(o, "code"), "flood") == 0)
			flood = true;
		cJSON_Delete(o);
	}
	assert_true(flood);
	assert_int_equal(errors, 32);
	tclient_close(&c);
}

static void test_malformed(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	assert_int_equal(tclient_open(&c, f->p.sock, NULL), 0);
	expect_error(&c, "this is not json", "bad_json");
	expect_error(&c, "{\"cmd\":\"status\"} trailing", "bad_json");
	expect_error(&c, "[1,2,3]", "not_object");
	expect_error(&c, "\"watch\"", "not_object");
	expect_error(&c, "{\"id\":1}", "missing_member");
	expect_error(&c, "{\"cmd\":42}", "bad_type");
	expect_error(&c, "{\"cmd\":\"launch\"}", "unknown_cmd");
	expect_error(&c, "{\"cmd\":\"watch\",\"ports\":\"2\"}", "bad_type");
	expect_error(&c, "{\"cmd\":\"watch\",\"ports\":[300]}", "bad_type");
	expect_error(&c, "{\"cmd\":\"watch\",\"classes\":[\"NOPE\"]}", "bad_value");
	expect_error(&c, "{\"cmd\":\"watch\",\"encoding\":\"rot13\"}", "bad_value");
	expect_error(&c, "{\"cmd\":\"send\",\"port\":1,\"data\":\"AA==\"}", "missing_member");
	expect_error(&c, "{\"cmd\":\"send\",\"channel\":\"m7\",\"port\":1,\"data\":\"!!\"}",
		     "bad_value");
	expect_error(&c, "{\"cmd\":\"send\",\"channel\":\"nope\",\"port\":1,\"data\":\"AA==\"}",
		     "no_channel");
	/* recover exists now (supervisor.c): a bad action is refused before anything runs. */
	expect_error(&c, "{\"cmd\":\"recover\",\"channel\":\"m7\",\"action\":\"reboot\"}",
		     "bad_value");
	expect_error(&c, "{\"cmd\":\"reload\",\"channel\":\"m7\",\"firmware\":\"../x\"}",
		     "bad_value");
	/* The id is echoed in errors when it could be read. */
	assert_int_equal(tclient_send(&c, "{\"cmd\":\"nope\",\"id\":\"abc\"}"), 0);
	cJSON *e = tclient_wait(&c, "ERROR", H_TIMEOUT_MS);
	assert_string_equal(j_str(e, "id"), "abc");
	cJSON_Delete(e);
	/* And the channel, when the request named one, even if another member was bad. */
	assert_int_equal(tclient_send(&c, "{\"cmd\":\"recover\",\"id\":6,\"channel\":\"m7\","
					  "\"action\":\"x\"}"),
			 0);
	e = tclient_wait(&c, "ERROR", H_TIMEOUT_MS);
	assert_non_null(e);
	assert_string_equal(j_str(e, "code"), "bad_value");
	assert_string_equal(j_str(e, "channel"), "m7");
	cJSON_Delete(e);
	/* Still usable. */
	assert_int_equal(tclient_send(&c, "{\"cmd\":\"ping\",\"id\":7}"), 0);
	cJSON *p = tclient_wait(&c, "PONG", H_TIMEOUT_MS);
	assert_non_null(p);
	assert_int_equal((int)j_num(p, "id"), 7);
	cJSON_Delete(p);

	/* Over-long line: ERROR too_long, then the connection closes. */
	size_t n = 70000;
	char *big = malloc(n);
	memset(big, 'a', n);
	assert_int_equal(tclient_send_raw(&c, big, n), 0);
	free(big);
	e = tclient_wait(&c, "ERROR", H_TIMEOUT_MS);
	assert_non_null(e);
	assert_string_equal(j_str(e, "code"), "too_long");
	cJSON_Delete(e);
	bool eof = false;
	while (tclient_line(&c, H_TIMEOUT_MS, &eof))
		;
	assert_true(eof);
	tclient_close(&c);

	/* A flood of bad lines ends the connection after the documented count. */
	expect_flood(f, "garbage");
	/* Unknown commands are bad lines too (docs/CLIENT-PROTOCOL.md, section 1). */
	expect_flood(f, "{\"cmd\":\"launch\"}");

	/* The daemon is still up for others. */
	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\"}"), 0);
	tclient_close(&c);
}

/* Each client's bytes reach the M7 whole and in the order that client sent them. */
static void check_send_order(const struct m7b_frame *fr, const uint8_t *buf, int *next_a,
			     int *next_b)
{
	char want[8];
	if (fr->port == 3) {
		snprintf(want, sizeof want, "a%02d", (*next_a)++);
		assert_int_equal(fr->len, 3);
		assert_memory_equal(buf, want, 3);
	} else {
		assert_int_equal(fr->port, 4);
		assert_int_equal(fr->len, 2);
		assert_int_equal(buf[0], 'b');
		assert_int_equal(buf[1], 0x30 + (*next_b)++);
	}
}

static void test_send(void **state)
{
	struct fx *f = *state;
	struct tclient a, b;
	assert_int_equal(tclient_open(&a, f->p.sock, NULL), 0);
	assert_int_equal(tclient_open(&b, f->p.sock, NULL), 0);
	/* 8 credits from the handshake; send 12 from two clients. */
	for (int i = 0; i < 6; i++) {
		char line[256];
		char data[32];
		snprintf(data, sizeof data, "a%02d", i);
		char enc[64];
		b64((const uint8_t *)data, 3, enc);
		snprintf(line, sizeof line,
			 "{\"cmd\":\"send\",\"id\":%d,\"channel\":\"m7\",\"port\":3,\"data\":\"%"
			 "s\"}",
			 i, enc);
		assert_int_equal(tclient_send(&a, line), 0);
		snprintf(line, sizeof line,
			 "{\"cmd\":\"send\",\"id\":\"b%d\",\"channel\":\"m7\",\"port\":4,\"hex\":"
			 "\"62%02x\"}",
			 i, 0x30 + i);
		assert_int_equal(tclient_send(&b, line), 0);
		/* Interleave arrival order a0 b0 a1 b1 ... by waiting for each to arrive. */
		struct m7b_frame fr;
		uint8_t buf[M7B_PAYLOAD_MAX];
		(void)fr;
		(void)buf;
	}
	/* The fake M7 sees at most 8 frames before it acknowledges anything. */
	struct m7b_frame fr;
	uint8_t buf[M7B_PAYLOAD_MAX];
	uint32_t seqs[12];
	int got = 0;
	int next_a = 0, next_b = 0;
	while (got < 8) {
		int r = fake_m7_next(&f->m, &fr, buf, sizeof buf, H_TIMEOUT_MS);
		assert_int_equal(r, 1);
		if (fr.type != M7B_T_SEND)
			continue;
		check_send_order(&fr, buf, &next_a, &next_b);
		seqs[got++] = fr.seq;
	}
	assert_int_equal(fake_m7_next(&f->m, &fr, buf, sizeof buf, 300), 0);
	/* Acknowledge one at a time, each granting one more credit: the rest follow. */
	int a_acks = 0, b_acks = 0;
	for (int k = 0; k < 12; k++) {
		assert_int_equal(fake_m7_ack(&f->m, seqs[k], M7B_T_SEND, M7B_ACK_OK, 8), 0);
		if (k + 8 < 12) {
			int r;
			do {
				r = fake_m7_next(&f->m, &fr, buf, sizeof buf, H_TIMEOUT_MS);
				assert_int_equal(r, 1);
			} while (fr.type != M7B_T_SEND);
			seqs[k + 8] = fr.seq;
			check_send_order(&fr, buf, &next_a, &next_b);
		}
	}
	/* Each client gets its ACKs in its own order with its ids. */
	for (int i = 0; i < 6; i++) {
		cJSON *o = tclient_obj(&a, H_TIMEOUT_MS);
		assert_non_null(o);
		assert_string_equal(j_str(o, "class"), "ACK");
		assert_int_equal((int)j_num(o, "id"), i);
		assert_string_equal(j_str(o, "channel"), "m7");
		cJSON_Delete(o);
		a_acks++;
		o = tclient_obj(&b, H_TIMEOUT_MS);
		assert_non_null(o);
		assert_string_equal(j_str(o, "class"), "ACK");
		char id[8];
		snprintf(id, sizeof id, "b%d", i);
		assert_string_equal(j_str(o, "id"), id);
		cJSON_Delete(o);
		b_acks++;
	}
	assert_int_equal(a_acks + b_acks, 12);
	assert_int_equal(next_a, 6);
	assert_int_equal(next_b, 6);

	/* A rejected send. */
	assert_int_equal(tclient_send(&a, "{\"cmd\":\"send\",\"id\":99,\"channel\":\"m7\",\"port\":"
					  "9,\"hex\":\"00\"}"),
			 0);
	int r;
	do {
		r = fake_m7_next(&f->m, &fr, buf, sizeof buf, H_TIMEOUT_MS);
		assert_int_equal(r, 1);
	} while (fr.type != M7B_T_SEND);
	assert_int_equal(fr.port, 9);
	assert_int_equal(fr.len, 1);
	assert_int_equal(buf[0], 0);
	assert_int_equal(fake_m7_ack(&f->m, fr.seq, M7B_T_SEND, M7B_ACK_BAD_PORT, 8), 0);
	cJSON *e = tclient_wait(&a, "ERROR", H_TIMEOUT_MS);
	assert_non_null(e);
	assert_string_equal(j_str(e, "code"), "send_failed");
	assert_int_equal((int)j_num(e, "id"), 99);
	cJSON_Delete(e);

	cJSON *s = status_of(&a);
	assert_int_equal((int)j_num(status_channel(s, "m7"), "sends"), 12);
	assert_int_equal((int)j_num(status_channel(s, "m7"), "send_errors"), 1);
	cJSON_Delete(s);
	tclient_close(&a);
	tclient_close(&b);
}

static void test_send_timeout_and_down(void **state)
{
	struct fx *f = *state;
	struct tclient a;
	assert_int_equal(tclient_open(&a, f->p.sock, NULL), 0);
	assert_int_equal(
		tclient_send(
			&a,
			"{\"cmd\":\"send\",\"id\":1,\"channel\":\"m7\",\"port\":1,\"hex\":\"41\"}"),
		0);
	cJSON *e = tclient_wait(&a, "ERROR", H_TIMEOUT_MS);
	assert_non_null(e);
	assert_string_equal(j_str(e, "code"), "timeout"); /* send_timeout_ms = 300 */
	cJSON_Delete(e);
	/* Pending while the channel goes down: channel_down. */
	assert_int_equal(
		tclient_send(
			&a,
			"{\"cmd\":\"send\",\"id\":2,\"channel\":\"m7\",\"port\":1,\"hex\":\"42\"}"),
		0);
	struct m7b_frame fr;
	uint8_t buf[M7B_PAYLOAD_MAX];
	int r;
	do {
		r = fake_m7_next(&f->m, &fr, buf, sizeof buf, H_TIMEOUT_MS);
		assert_int_equal(r, 1);
	} while (fr.type != M7B_T_SEND || buf[0] != 0x42);
	fake_m7_close(&f->m);
	e = tclient_wait(&a, "ERROR", H_TIMEOUT_MS);
	assert_non_null(e);
	assert_string_equal(j_str(e, "code"), "channel_down");
	assert_int_equal((int)j_num(e, "id"), 2);
	cJSON_Delete(e);
	/* And while down: refused at once. */
	assert_int_equal(
		tclient_send(
			&a,
			"{\"cmd\":\"send\",\"id\":3,\"channel\":\"m7\",\"port\":1,\"hex\":\"43\"}"),
		0);
	e = tclient_wait(&a, "ERROR", H_TIMEOUT_MS);
	assert_non_null(e);
	assert_string_equal(j_str(e, "code"), "channel_down");
	cJSON_Delete(e);
	tclient_close(&a);
}

static int setup_short_timeout(void **state)
{
	return setup_with(state, "send_timeout_ms = 300\n", true);
}

/* A firmware whose HELLO claims a max_payload larger than the wire allows: the pty's
 * bytes still go out as SEND frames of at most M7B_PAYLOAD_MAX, every byte once (the
 * pty used to copy the firmware's claim into a 478-byte buffer). */
static int setup_pty(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char extra[512];
	assert_non_null(f);
	f->m.master = f->m2.master = -1;
	assert_int_equal(h_tmpdir(&f->p), 0);
	snprintf(f->link, sizeof f->link, "%s/ttyRPMSG30", f->p.dir);
	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	snprintf(extra, sizeof extra, "pty = %s/app\npty_port = 1\n", f->p.dir);
	assert_int_equal(daemon_proc_start(&f->p, chan_conf(f, extra)), 0);
	*state = f;
	return 0;
}

static void test_pty_send_within_wire_payload(void **state)
{
	struct fx *f = *state;
	struct m7b_frame fr;
	uint8_t buf[M7B_PAYLOAD_MAX], pl[M7B_PAYLOAD_MAX];
	/* The HOST_HELLO, answered by a HELLO that claims 65535 bytes per frame. */
	do
		assert_int_equal(fake_m7_next(&f->m, &fr, buf, sizeof buf, H_TIMEOUT_MS), 1);
	while (fr.type != M7B_T_HOST_HELLO);
	struct m7b_hello h = {.tick_hz = 8000000,
			      .boot_id = 7,
			      .max_payload = 65535,
			      .host_credits = 8,
			      .name = "big",
			      .name_len = 3};
	int n = m7b_wire_pack_hello(pl, sizeof pl, &h);
	assert_true(n > 0);
	pthread_mutex_lock(&f->m.mu);
	f->m.seq = 0;
	pthread_mutex_unlock(&f->m.mu);
	assert_int_equal(fake_m7_frame(&f->m, M7B_T_HELLO, 0, 0, pl, (size_t)n), 0);

	char app[300];
	snprintf(app, sizeof app, "%s/app", f->p.dir);
	int fd = -1;
	for (int i = 0; i < 400 && fd < 0; i++) {
		fd = open(app, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			usleep(10000);
	}
	assert_true(fd >= 0);
	struct termios t;
	assert_int_equal(tcgetattr(fd, &t), 0);
	cfmakeraw(&t);
	assert_int_equal(tcsetattr(fd, TCSANOW, &t), 0);
	static uint8_t msg[1500];
	for (size_t i = 0; i < sizeof msg; i++)
		msg[i] = (uint8_t)('a' + i % 26);
	assert_int_equal(write(fd, msg, sizeof msg), (ssize_t)sizeof msg);

	static uint8_t got[sizeof msg];
	size_t have = 0;
	while (have < sizeof msg) {
		assert_int_equal(fake_m7_next(&f->m, &fr, buf, sizeof buf, H_TIMEOUT_MS), 1);
		if (fr.type != M7B_T_SEND)
			continue;
		assert_true(fr.len <= M7B_PAYLOAD_MAX);
		assert_int_equal(fr.port, 1);
		assert_true(have + fr.len <= sizeof msg);
		memcpy(got + have, buf, fr.len);
		have += fr.len;
		assert_int_equal(fake_m7_ack(&f->m, fr.seq, M7B_T_SEND, 0, 8), 0);
	}
	assert_memory_equal(got, msg, sizeof msg);
	close(fd);
}

static void test_log_frames(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"LOG\"]}"),
			 0);
	assert_int_equal(fake_m7_log(&f->m, 4, "uart2 \"overrun\"\tx"), 0);
	uint8_t d = 1;
	assert_int_equal(fake_m7_data(&f->m, 0, 0, 1, 1, &d, 1), 0); /* filtered out */
	assert_int_equal(fake_m7_log(&f->m, 6, "bad utf8 \xff end"), 0);
	cJSON *o = tclient_wait(&c, "LOG", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_int_equal((int)j_num(o, "level"), 4);
	assert_string_equal(j_str(o, "text"), "uart2 \"overrun\"\tx");
	assert_string_equal(j_str(o, "channel"), "m7");
	cJSON_Delete(o);
	o = tclient_obj(&c, H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "class"), "LOG");
	assert_string_equal(j_str(o, "text"), "bad utf8 \xef\xbf\xbd end");
	cJSON_Delete(o);
	/* In the daemon's own log each is one line of valid UTF-8 without control
	 * characters (the journal shows anything else as a blob). */
	assert_int_equal(fake_m7_log(&f->m, 6, "booted\r\n\x1b[0m"), 0);
	o = tclient_wait(&c, "LOG", H_TIMEOUT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	tclient_close(&c);
	char log[65536];
	h_slurp_file(f->p.log, log, sizeof(log));
	assert_non_null(strstr(log, "M7: bad utf8 \xef\xbf\xbd end\n"));
	assert_non_null(strstr(log, "M7: booted???[0m\n"));

	/* HEARTBEAT counters by name (the daemon's own PINGs may bring others: skip them). */
	assert_int_equal(
		tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"HEARTBEAT\"]}"), 0);
	struct m7b_heartbeat hb = {.now_ticks = 424242, .ncounters = 3, .counter = {10, 20, 30}};
	send_heartbeat(f, &hb);
	for (;;) {
		o = tclient_wait(&c, "HEARTBEAT", H_TIMEOUT_MS);
		assert_non_null(o);
		if (j_num(o, "now_ticks") == 424242)
			break;
		cJSON_Delete(o);
	}
	const cJSON *cn = cJSON_GetObjectItem(o, "counters");
	assert_int_equal((int)j_num(cn, "uart_rx_bytes"), 10);
	assert_int_equal((int)j_num(cn, "captures"), 20);
	assert_int_equal((int)j_num(cn, "captures_dropped"), 30);
	assert_null(cJSON_GetObjectItem(cn, "uart_overruns"));
	cJSON_Delete(o);
	tclient_close(&c);
}

static void test_config_errors(void **state)
{
	(void)state;
	struct daemon_proc p;
	assert_int_equal(h_tmpdir(&p), 0);
	static const struct {
		const char *text;
		const char *want; /* substring of the message */
	} cases[] = {
		{"[daemon]\nsocket = relative.sock\n",
		 ":2: [daemon] socket: must be an absolute path"},
		{"[daemon]\nsocket_mode = 9999\n", ":2: [daemon] socket_mode:"},
		{"[daemon]\nbogus = 1\n", ":2: [daemon] bogus: unknown key"},
		{"[channel m7]\ndevice = /dev/x\n\n[channel m7]\ndevice = /dev/y\n",
		 ":4: [channel m7] defined twice (first at line 1)"},
		{"[channel a]\ndevice = /dev/x\n[channel b]\ndevice = /dev/y\n[channel a]\nport.1 "
		 "= x\n",
		 ":5: [channel a] defined twice (first at line 1)"},
		{"[channel m7]\nport.300 = x\ndevice=/dev/x\n", ":2: [channel m7] port.300:"},
		{"[channel m7]\nsend_timeout_ms = soon\ndevice=/dev/x\n",
		 ":2: [channel m7] send_timeout_ms:"},
		{"# comment\n[channel m7]\nport.1 = gps\n", ":2: [channel m7] device: missing"},
		{"[weird]\nx = 1\n", ":1: [weird]: unknown section"},
		{"[daemon\n", ":1: section header without ']'"},
		{"[channel bad name!]\ndevice = /dev/x\n", ":1: [channel bad name!]: channel name"},
		{"[daemon]\n\n[channel m7]\n", ":3: [channel m7] device: missing"},
		/* what the daemon would refuse at start */
		{"[daemon]\nuser = no-such-user-m7b\n", ": [daemon] user: no user named"},
		{"[daemon]\nsocket_group = no-such-group-m7b\n",
		 ": [daemon] socket_group: no group named"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		FILE *fp = fopen(p.conf, "w");
		assert_non_null(fp);
		fputs(cases[i].text, fp);
		fclose(fp);
		char err[2048];
		const char *args[] = {"m7bridged", "--check-config", "-c", p.conf, NULL};
		int st = h_run(err, sizeof err, args);
		if (st != 78 || !strstr(err, cases[i].want) || !strstr(err, p.conf))
			fail_msg("case %zu: status %d, message: %s (want %s)", i, st, err,
				 cases[i].want);
	}
	/* Missing file named explicitly. */
	char err[2048];
	const char *args[] = {"m7bridged", "--check-config", "-c", "/nonexistent/m7.conf", NULL};
	assert_int_equal(h_run(err, sizeof err, args), 78);
	assert_non_null(strstr(err, "/nonexistent/m7.conf"));
	/* A good one. */
	FILE *fp = fopen(p.conf, "w");
	fputs("[daemon]\nsocket = /run/x.sock\nclient_queue_kib = 64\n[channel a]\ndevice = "
	      "/dev/ttyRPMSG30\nport.1 = gps ; inline comment\n",
	      fp);
	fclose(fp);
	const char *ok[] = {"m7bridged", "--check-config", "-c", p.conf, NULL};
	assert_int_equal(h_run(err, sizeof err, ok), 0);
	/* An empty socket_group is the default, as --check-config prints it. */
	fp = fopen(p.conf, "w");
	fputs("[daemon]\nsocket_group =\nuser =\n", fp);
	fclose(fp);
	assert_int_equal(h_run(err, sizeof err, ok), 0);
	/* Every key in effect is printed, recovery keys included; a command keeps its ';'. */
	fp = fopen(p.conf, "w");
	fputs("[channel a]\ndevice = /dev/ttyRPMSG30\nhook = touch A ; touch B\n"
	      "driver_reload = modprobe -r x\t; modprobe x\nport.1 = gps ; a comment\n"
	      "expect_rate = 3:10, 1:240\n[channel b]\ndevice = /dev/ttyRPMSG31\n",
	      fp);
	fclose(fp);
	char out[16384];
	assert_int_equal(h_run_stdout(out, sizeof out, ok), 0);
	const char *want[] = {"\nhook = touch A ; touch B\n",
			      "\ndriver_reload = modprobe -r x\t; modprobe x\n",
			      "\nport.1 = gps\n",
			      "\nhook_timeout_ms = ",
			      "\nrecovery_steps = resync,reopen,driver,remoteproc,hook\n",
			      "\nincident_max_files = 100\n",
			      "\nmax_clients = ",
			      "\nlog_level = ",
			      "\nexpect_rate = 3:10,1:240\n", /* as given; unset as nothing */
			      "\nexpect_rate = \n"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!strstr(out, want[i]))
			fail_msg("--check-config lacks '%s' in:\n%s", want[i], out);
	/* The daemon refuses at start what --check-config refuses, as a configuration error
	 * naming the key. */
	assert_int_equal(daemon_proc_write_conf(&p, "socket_group = no-such-group-m7b\n"), 0);
	const char *start[] = {"m7bridged", "-f", "-c", p.conf, NULL};
	int st = h_run(err, sizeof err, start);
	if (st != 78 || !strstr(err, ": [daemon] socket_group: no group named 'no-such-group-m7b'"))
		fail_msg("start with no such socket_group: status %d, message: %s", st, err);
	/* --user is refused at start as --check-config refuses it, in the same words. */
	fp = fopen(p.conf, "w");
	fputs("[channel a]\ndevice = /dev/ttyRPMSG30\n", fp);
	fclose(fp);
	const char *nouser[] = {"m7bridged",	    "-f", "-c", p.conf, "--user",
				"no-such-user-m7b", NULL};
	st = h_run(err, sizeof err, nouser);
	if (st != 78 || !strstr(err, "m7bridged: --user: no user named 'no-such-user-m7b'\n"))
		fail_msg("start with no such --user: status %d, message: %s", st, err);
	/* Bad usage. */
	const char *bad[] = {"m7bridged", "--no-such-flag", NULL};
	assert_int_equal(h_run(err, sizeof err, bad), 64);
	/* An empty value (an unset variable in a unit or script) is bad usage too, not a
	 * default: --user "" would run without the split, --socket-mode "" make a socket
	 * of mode 0000, -c "" name no file in its message. */
	static const struct {
		const char *opt, *val, *want;
	} empty[] = {
		{"--user", "", "--user"},
		{"--socket-mode", "", "--socket-mode"},
		{"--socket-mode", " 660", "--socket-mode"},
		{"--config", "", "--config"},
	};
	for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
		const char *eargs[] = {"m7bridged",  "--check-config", "-C", "a=/dev/x",
				       empty[i].opt, empty[i].val,     NULL};
		st = h_run(err, sizeof err, eargs);
		if (st != 64 || !strstr(err, empty[i].want))
			fail_msg("%s '%s': status %d, message: %s", empty[i].opt, empty[i].val, st,
				 err);
	}
	h_cleanup(&p);
}

/* A kernel log through a FIFO this test writes. */
static int setup_kmsg(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char fifo[300], conf[sizeof conf_buf + 512];
	assert_non_null(f);
	f->m.master = f->m2.master = -1;
	assert_int_equal(h_tmpdir(&f->p), 0);
	snprintf(f->link, sizeof f->link, "%s/ttyRPMSG30", f->p.dir);
	snprintf(fifo, sizeof fifo, "%s/kmsg", f->p.dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	snprintf(conf, sizeof conf, "kernel_log = kmsg\nkmsg_path = %s\n%s", fifo,
		 chan_conf(f, "liveness_quiet_ms = 0\nrecovery_steps = resync\n"));
	assert_int_equal(daemon_proc_start(&f->p, conf), 0);
	assert_int_equal(fake_m7_handshake(&f->m, 0xA1B2C3D4, 8), 0);
	*state = f;
	return 0;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *s = hay; (s = strstr(s, needle)); s += strlen(needle))
		n++;
	return n;
}

/* Waits for the FAULT numbered count of kind; returns its detail (static). */
static const char *wait_fault(struct tclient *c, const char *kind, unsigned count)
{
	static char detail[512];
	for (;;) {
		cJSON *o = tclient_wait(c, "FAULT", H_TIMEOUT_MS);
		assert_non_null(o);
		bool done = strcmp(j_str(o, "kind"), kind) == 0 && j_num(o, "count") == count;
		snprintf(detail, sizeof detail, "%s", j_str(o, "detail"));
		cJSON_Delete(o);
		if (done)
			return detail;
	}
}

/* A flood of faults is counted and published in full; the daemon's log has a few lines
 * of it per window, with the kernel's text as one line of valid UTF-8. */
/* A firmware whose boot_id changes with every HELLO: a line per new boot in the daemon's
 * log, at most 5 per 10 s per channel; clients still get every HELLO. */
static void test_boot_log_limited(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	uint8_t pl[256];
	char log[1 << 16];

	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"HELLO\"]}"),
			 0);
	for (uint32_t i = 0; i < 30; i++) {
		struct m7b_hello h = {.tick_hz = 8000000,
				      .boot_id = 1000 + i,
				      .max_payload = 478,
				      .host_credits = 8,
				      .name = "flap",
				      .name_len = 4};
		int n = m7b_wire_pack_hello(pl, sizeof pl, &h);
		assert_true(n > 0);
		pthread_mutex_lock(&f->m.mu);
		f->m.seq = 0;
		pthread_mutex_unlock(&f->m.mu);
		assert_int_equal(fake_m7_frame(&f->m, M7B_T_HELLO, 0, 0, pl, (size_t)n), 0);
	}
	for (;;) {
		cJSON *o = tclient_wait(&c, "HELLO", H_TIMEOUT_MS);
		assert_non_null(o);
		bool last = j_num(o, "boot_id") == 1029;
		cJSON_Delete(o);
		if (last)
			break;
	}
	h_slurp_file(f->p.log, log, sizeof log);
	size_t lines = count_of(log, "firmware \"flap\" boot ");
	assert_true(lines >= 1);
	assert_true(lines <= 5);
	tclient_close(&c);
}

static void test_fault_log_limited(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	char path[300], log[1 << 16];

	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FAULT\"]}"),
			 0);
	snprintf(path, sizeof path, "%s/kmsg", f->p.dir);
	int w = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(w >= 0);
	static const char junk[] = "[\x01\xff] imx_rproc_kick: failed (1, err:-62)\n";
	assert_int_equal(write(w, junk, strlen(junk)), (ssize_t)strlen(junk));
	const char *d = wait_fault(&c, "kick_timeout", 1);
	assert_string_equal(d, "[?\xef\xbf\xbd] imx_rproc_kick: failed (1, err:-62)");
	static const char kick[] = "imx_rproc_kick: failed (1, err:-62)\n";
	for (int i = 0; i < 39; i++)
		assert_int_equal(write(w, kick, strlen(kick)), (ssize_t)strlen(kick));
	(void)wait_fault(&c, "kick_timeout", 40);
	/* The M7's own fatal lines share the channel's limit. */
	for (int i = 0; i < 30; i++)
		assert_int_equal(fake_m7_log(&f->m, 2, "assert failed"), 0);
	(void)wait_fault(&c, "firmware_fatal", 30);
	h_slurp_file(f->p.log, log, sizeof log);
	assert_non_null(strstr(log, "fault kick_timeout (kernel, #1): [?\xef\xbf\xbd] imx_rproc"));
	assert_int_equal(count_of(log, "fault kick_timeout (kernel, #"), 5);
	assert_int_equal(count_of(log, "fault firmware_fatal (firmware, #"), 0);
	/* A new window: the next line says how many were left out. */
	usleep(10100 * 1000);
	assert_int_equal(write(w, kick, strlen(kick)), (ssize_t)strlen(kick));
	(void)wait_fault(&c, "kick_timeout", 41);
	h_slurp_file(f->p.log, log, sizeof log);
	assert_int_equal(count_of(log, "fault kick_timeout (kernel, #"), 6);
	assert_non_null(strstr(log, "65 fault lines not logged"));
	close(w);
	tclient_close(&c);
}

/* A kernel log that cannot be watched is named by the path configured for it (in a
 * directory that does not exist: a missing FIFO alone is waited for). */
static void test_kmsg_unwatchable(void **state)
{
	(void)state;
	struct daemon_proc p;
	char extra[512], want[512];
	assert_int_equal(h_tmpdir(&p), 0);
	snprintf(extra, sizeof extra, "kernel_log = kmsg\nkmsg_path = %s/no-dir/no-kmsg\n", p.dir);
	assert_int_equal(daemon_proc_start(&p, extra), 0);
	/* An answered request: the supervisor has started by then. */
	struct tclient c;
	assert_int_equal(tclient_open(&c, p.sock, "{\"cmd\":\"watch\"}"), 0);
	tclient_close(&c);
	assert_int_equal(daemon_proc_stop(&p), 0);
	char log[65536];
	h_slurp_file(p.log, log, sizeof(log));
	snprintf(want, sizeof want,
		 "cannot watch the kernel log (kmsg at %s/no-dir/no-kmsg): ", p.dir);
	if (!strstr(log, want))
		fail_msg("no '%s' in:\n%s", want, log);
	h_cleanup(&p);
}

/* Recovery settings changed by SIGHUP apply to a channel that stays open: liveness off,
 * then on, and the same hung M7 becomes a stall. */
static void test_sighup_recovery_settings(void **state)
{
	struct fx *f = *state;
	struct tclient c;

	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FAULT\"]}"),
			 0);
	/* Liveness is off (setup): a hung M7 raises nothing. */
	fake_m7_hang(&f->m, true);
	assert_null(tclient_wait(&c, "FAULT", 700));
	assert_int_equal(
		daemon_proc_write_conf(&f->p,
				       chan_conf(f, "liveness_quiet_ms = 200\nliveness_answer_ms = "
						    "200\nliveness_retries = 0\n"
						    "recovery_steps = resync\n")),
		0);
	kill(f->p.pid, SIGHUP);
	cJSON *o = tclient_wait(&c, "FAULT", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "kind"), "stall");
	assert_string_equal(j_str(o, "source"), "liveness");
	cJSON_Delete(o);
	tclient_close(&c);
}

/* Reloads that change nothing leave the channels' supervision alone: a hung M7 is found
 * stalled on time however often the same file is reloaded (here every 100 ms, well
 * within its quiet time). */
static void test_sighup_unchanged_keeps_liveness(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	cJSON *o = NULL;

	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FAULT\"]}"),
			 0);
	fake_m7_hang(&f->m, true);
	for (uint64_t end = h_now_ms() + 5000; !o && h_now_ms() < end;) {
		assert_int_equal(kill(f->p.pid, SIGHUP), 0);
		o = tclient_wait(&c, "FAULT", 100);
	}
	assert_non_null(o);
	assert_string_equal(j_str(o, "kind"), "stall");
	cJSON_Delete(o);
	tclient_close(&c);
}

static int setup_fast_liveness(void **state)
{
	return setup_with(state,
			  "liveness_quiet_ms = 400\nliveness_answer_ms = 200\nliveness_retries = "
			  "0\nrecovery_steps = resync\n",
			  true);
}

static int setup_fast_liveness_no_ladder(void **state)
{
	return setup_with(state,
			  "liveness_quiet_ms = 300\nliveness_answer_ms = 200\nliveness_retries = "
			  "0\nrecovery_steps =\n",
			  true);
}

/* A DATA frame ends a stall, and the liveness timer, stopped by the stall, runs again: an
 * M7 that still answers no PING is found stalled a second time. No other frame comes
 * (the fake stays hung: no HEARTBEAT, no SYNC reply), so only DATA's observer can re-arm. */
static void test_data_ends_stall_rearms_liveness(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	uint8_t d = 5;

	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FAULT\"]}"),
			 0);
	fake_m7_hang(&f->m, true);
	for (int n = 1; n <= 2; n++) {
		cJSON *o = tclient_wait(&c, "FAULT", 5000);
		assert_non_null(o);
		assert_string_equal(j_str(o, "kind"), "stall");
		assert_int_equal((int)j_num(o, "count"), n);
		cJSON_Delete(o);
		assert_int_equal(fake_m7_data(&f->m, 0, 0, 7, 7, &d, 1), 0);
	}
	tclient_close(&c);
}

static int setup_no_liveness(void **state)
{
	return setup_with(state, "liveness_quiet_ms = 0\nrecovery_steps = resync\n", true);
}

static void test_sighup_reload(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	assert_int_equal(tclient_open(&c, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"FRAME\",\"STATE\"]}"),
			 0);
	wait_state(&c, "up");
	/* Add channel b and rename port 2 of m7 (no reopen needed). */
	char link2[256];
	snprintf(link2, sizeof link2, "%s/ttyRPMSG31", f->p.dir);
	struct fake_m7 m2;
	assert_int_equal(fake_m7_open(&m2, link2), 0);
	char extra[400];
	snprintf(extra, sizeof extra, "[channel b]\ndevice = %s\n", link2);
	char conf[8192];
	snprintf(conf, sizeof conf,
		 "[channel m7]\ndevice = %s\nport.2 = gnss\nreopen_min_ms = 20\nreopen_max_ms = "
		 "200\n%s",
		 f->link, extra);
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	kill(f->p.pid, SIGHUP);
	assert_int_equal(fake_m7_handshake(&m2, 2, 8), 0);
	cJSON *o = tclient_wait_str(&c, "STATE", "channel", "b", H_TIMEOUT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	uint8_t d = 5;
	assert_int_equal(fake_m7_data(&m2, 0, 0, 7, 7, &d, 1), 0);
	assert_int_equal(fake_m7_data(&f->m, 2, 0, 8, 8, &d, 1), 0);
	/* m7 was not disturbed (no STATE for it) and uses the new port name. */
	int frames = 0;
	while (frames < 2) {
		o = tclient_obj(&c, H_TIMEOUT_MS);
		assert_non_null(o);
		if (strcmp(j_str(o, "class"), "STATE") == 0)
			assert_string_equal(j_str(o, "channel"), "b");
		if (strcmp(j_str(o, "class"), "FRAME") == 0) {
			frames++;
			if (strcmp(j_str(o, "channel"), "m7") == 0)
				assert_string_equal(j_str(o, "port_name"), "gnss");
		}
		cJSON_Delete(o);
	}
	/* Remove b again. */
	snprintf(conf, sizeof conf,
		 "[channel m7]\ndevice = %s\nport.2 = gnss\nreopen_min_ms = 20\nreopen_max_ms = "
		 "200\n",
		 f->link);
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	kill(f->p.pid, SIGHUP);
	o = tclient_wait_str(&c, "STATE", "channel", "b", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "state"), "down");
	assert_string_equal(j_str(o, "reason"), "removed");
	cJSON_Delete(o);
	/* A broken file keeps the running configuration. */
	assert_int_equal(daemon_proc_write_conf(&f->p, "[channel m7]\nbogus = 1\n"), 0);
	kill(f->p.pid, SIGHUP);
	assert_int_equal(fake_m7_data(&f->m, 2, 0, 9, 9, &d, 1), 0);
	o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_true(j_num(o, "t_first") == 9);
	cJSON_Delete(o);
	cJSON *s = status_of(&c);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "channels")), 1);
	cJSON_Delete(s);
	/* Moving m7 to another device reopens it (reason config), same client, same filter. */
	snprintf(conf, sizeof conf, "[channel m7]\ndevice = %s\n", link2);
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	kill(f->p.pid, SIGHUP);
	o = tclient_wait_str(&c, "STATE", "channel", "m7", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "state"), "down");
	assert_string_equal(j_str(o, "reason"), "config");
	cJSON_Delete(o);
	assert_int_equal(fake_m7_handshake(&m2, 3, 8), 0);
	wait_state(&c, "up");
	assert_int_equal(fake_m7_data(&m2, 1, 0, 11, 11, &d, 1), 0);
	o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "channel"), "m7");
	assert_true(j_num(o, "t_first") == 11);
	cJSON_Delete(o);
	fake_m7_close(&m2);
	tclient_close(&c);
}

/* Waits until the daemon's log holds needle. */
static bool log_has_within(const struct daemon_proc *p, const char *needle, int timeout_ms)
{
	static char log[1 << 16];

	for (uint64_t end = h_now_ms() + (uint64_t)timeout_ms; h_now_ms() < end; usleep(20000)) {
		h_slurp_file(p->log, log, sizeof(log));
		if (strstr(log, needle))
			return true;
	}
	return false;
}

/* A SIGHUP or SIGTERM that comes while the daemon starts is held until its event loop
 * runs, then taken: not the default action (killed by SIGHUP), and not lost. A parent's
 * blocked mask, which exec keeps, holds them here over the whole start; the daemon must
 * take them as it takes those that come while it starts. */
static void test_signals_held_at_start(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	sigset_t hold, old;

	sigemptyset(&hold);
	sigaddset(&hold, SIGHUP);
	sigaddset(&hold, SIGTERM);
	assert_int_equal(sigprocmask(SIG_BLOCK, &hold, &old), 0);
	int r = daemon_proc_start(&f->p, chan_conf(f, NULL));
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	assert_int_equal(r, 0);
	assert_int_equal(fake_m7_handshake(&f->m, 0xA1B2C3D4, 8), 0);
	assert_int_equal(daemon_proc_write_conf(&f->p, chan_conf(f, "port.3 = imu\n")), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	assert_true(log_has_within(&f->p, "configuration reloaded", H_TIMEOUT_MS));
	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\"}"), 0);
	uint8_t d = 1;
	assert_int_equal(fake_m7_data(&f->m, 3, 0, 5, 5, &d, 1), 0);
	cJSON *o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "port_name"), "imu");
	cJSON_Delete(o);
	tclient_close(&c);
	/* The teardown's SIGTERM stops it with status 0. */
}

static int setup_not_started(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->m.master = f->m2.master = -1;
	assert_int_equal(h_tmpdir(&f->p), 0);
	snprintf(f->link, sizeof f->link, "%s/ttyRPMSG30", f->p.dir);
	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	*state = f;
	return 0;
}

/* As uid 65534, sends `recover` for m7 on sock: 0 when it was taken (any answer but
 * forbidden), 1 forbidden, more on an error. Run in a child. */
static int recover_as_nobody(const char *sock)
{
	struct tclient c;
	int r = 2;

	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
		return 20;
	if (tclient_open(&c, sock, NULL) < 0)
		return 21;
	if (tclient_send(&c, "{\"cmd\":\"recover\",\"channel\":\"m7\",\"id\":\"r\"}") < 0)
		return 22;
	for (cJSON *o; r == 2 && (o = tclient_obj(&c, H_TIMEOUT_MS)); cJSON_Delete(o))
		if (j_str(o, "id") && strcmp(j_str(o, "id"), "r") == 0)
			r = j_str(o, "code") && strcmp(j_str(o, "code"), "forbidden") == 0;
	tclient_close(&c);
	return r;
}

static int recover_as_nobody_status(const char *sock)
{
	int st;
	pid_t pid = fork();

	if (pid == 0)
		_exit(recover_as_nobody(sock));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Who may `recover` and `reload` (allow_uids, allow_group) follows a reload: an operator
 * who takes a uid out of the list takes its control away, and can give it back. */
static void test_sighup_allowed_users(void **state)
{
	struct fx *f = *state;
	char conf[sizeof conf_buf + 512];
	const struct group *g = getgrgid(65534);

	if (geteuid() != 0 || !g)
		skip(); /* it asks as another uid */
	snprintf(conf, sizeof conf, "socket_mode = 0666\nallow_uids = 65534\n%s",
		 chan_conf(f, NULL));
	assert_int_equal(chmod(f->p.dir, 0755), 0);
	assert_int_equal(daemon_proc_start(&f->p, conf), 0);
	assert_int_equal(recover_as_nobody_status(f->p.sock), 0);
	snprintf(conf, sizeof conf, "socket_mode = 0666\n%s", chan_conf(f, NULL));
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	assert_true(log_has_within(&f->p, "configuration reloaded", H_TIMEOUT_MS));
	assert_int_equal(recover_as_nobody_status(f->p.sock), 1);
	snprintf(conf, sizeof conf, "socket_mode = 0666\nallow_group = %s\n%s", g->gr_name,
		 chan_conf(f, NULL));
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	for (uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	     recover_as_nobody_status(f->p.sock) != 0 && h_now_ms() < end;)
		usleep(20000);
	assert_int_equal(recover_as_nobody_status(f->p.sock), 0);
}

/* [daemon] keys read only at start, changed in the file: the reload says which, keeps
 * them, and goes on serving. */
static void test_sighup_start_keys(void **state)
{
	struct fx *f = *state;
	char conf[sizeof conf_buf + 512];
	struct tclient c;

	snprintf(conf, sizeof conf,
		 "socket_group = root\nsocket_mode = 0600\nkmsg_path = %s/kmsg\n%s", f->p.dir,
		 chan_conf(f, NULL));
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	assert_true(
		log_has_within(&f->p,
			       "[daemon] socket_mode, socket_group, kmsg_path changed: read only "
			       "at start, so in force after a restart",
			       H_TIMEOUT_MS));
	assert_true(log_has_within(&f->p, "configuration reloaded", H_TIMEOUT_MS));
	assert_int_equal(tclient_open(&c, f->p.sock, NULL), 0);
	tclient_close(&c);
}

/* The default file (a missing one means built-in defaults) moved away after the daemon
 * read it: a reload then is an error that keeps the running configuration, not a switch
 * to the defaults, which have no channel. Without a file at start, none at a reload is
 * still the defaults. In process: the default path is the build's. */
static void test_reload_default_file_gone(void **state)
{
	struct daemon_proc p;
	struct daemon_args a = {.conf_optional = true,
				.ov = {.socket_mode = -1, .log_level = -1},
				.log_target = LOG_TARGET_STDERR};
	struct conf_error err;
	struct daemon *d;
	char text[1024];

	(void)state;
	assert_int_equal(h_tmpdir(&p), 0);
	snprintf(text, sizeof text,
		 "[daemon]\nsocket = %s\nkernel_log = off\n[channel m7]\ndevice = %s/none\n",
		 p.sock, p.dir);
	assert_int_equal(h_put_file(p.conf, text), 0);
	a.conf_path = p.conf;
	assert_int_equal(conf_read(p.conf, true, &a.ov, &a.cfg, &err), 0);
	assert_int_equal(daemon_new(&a, &d), 0);
	assert_int_equal(unlink(p.conf), 0);
	assert_int_equal(daemon_reload(d), -ENOENT);
	assert_non_null(daemon_channel(d, "m7"));
	/* Back, without the channel: taken. */
	snprintf(text, sizeof text, "[daemon]\nsocket = %s\nkernel_log = off\n", p.sock);
	assert_int_equal(h_put_file(p.conf, text), 0);
	assert_int_equal(daemon_reload(d), 0);
	assert_null(daemon_channel(d, "m7"));
	daemon_free(d);

	/* Started without it: still none is the defaults. */
	assert_int_equal(unlink(p.conf), 0);
	a.ov.socket = p.sock;
	assert_int_equal(conf_read(p.conf, true, &a.ov, &a.cfg, &err), 0);
	assert_int_equal(daemon_new(&a, &d), 0);
	assert_int_equal(daemon_reload(d), 0);
	daemon_free(d);
	h_cleanup(&p);
}

/* send_queue is sized when the channel is made: a reload that changes it alone says
 * when it applies, and the channel goes on undisturbed. */
static void test_sighup_send_queue(void **state)
{
	struct fx *f = *state;
	struct tclient c;

	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\"}"), 0);
	assert_int_equal(daemon_proc_write_conf(&f->p, chan_conf(f, "send_queue = 8\n")), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	assert_true(log_has_within(&f->p,
				   "[m7] send_queue 8 applies once the channel is made anew (a "
				   "reload that reopens it, or a restart); 64 until then",
				   H_TIMEOUT_MS));
	assert_true(log_has_within(&f->p, "0 reopened", H_TIMEOUT_MS));
	uint8_t d = 1;
	assert_int_equal(fake_m7_data(&f->m, 0, 0, 5, 5, &d, 1), 0);
	cJSON *o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	tclient_close(&c);
}

/* A client watching channel m7 by name: renamed m8 by a reload (which takes m7's slot),
 * m8 is not m7, and none of its objects reach the client; renamed back, m7's objects do
 * from its first STATE on. */
static void test_sighup_rename_filter(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	char conf[512];
	cJSON *o;

	assert_int_equal(
		tclient_open(&c, f->p.sock,
			     "{\"cmd\":\"watch\",\"channels\":[\"m7\"],\"classes\":[\"STATE\"]}"),
		0);
	wait_state(&c, "up"); /* past the snapshot, which can still say syncing */
	snprintf(conf, sizeof conf, "[channel m8]\ndevice = %s\n", f->link);
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	o = tclient_obj(&c, H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "channel"), "m7");
	assert_string_equal(j_str(o, "reason"), "removed");
	cJSON_Delete(o);
	assert_true(log_has_within(&f->p, "[m8] down -> opening", H_TIMEOUT_MS));
	snprintf(conf, sizeof conf, "[channel m7]\ndevice = %s\n", f->link);
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	o = tclient_obj(&c, H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "channel"), "m7");
	assert_string_equal(j_str(o, "state"), "opening");
	cJSON_Delete(o);
	tclient_close(&c);
}

/* Two channels that swap ttys in one reload: each is closed before either opens again,
 * so neither finds the other's still held (and blames "another process"). */
static void test_sighup_swap_devices(void **state)
{
	struct fx *f = *state;
	char conf[1024], link2[256];
	static char log[1 << 16];

	snprintf(link2, sizeof link2, "%s/ttyRPMSG31", f->p.dir);
	assert_int_equal(fake_m7_open(&f->m2, link2), 0);
	snprintf(conf, sizeof conf, "[channel m7]\ndevice = %s\n[channel b]\ndevice = %s\n",
		 f->link, f->m2.link);
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	assert_int_equal(fake_m7_handshake(&f->m2, 2, 8), 0);
	snprintf(conf, sizeof conf, "[channel m7]\ndevice = %s\n[channel b]\ndevice = %s\n",
		 f->m2.link, f->link);
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	assert_int_equal(kill(f->p.pid, SIGHUP), 0);
	assert_true(
		log_has_within(&f->p, "0 channel(s) added, 0 removed, 2 reopened", H_TIMEOUT_MS));
	/* Each fake M7 is asked for its HELLO by the other channel now. */
	assert_int_equal(fake_m7_handshake(&f->m, 3, 8), 0);
	assert_int_equal(fake_m7_handshake(&f->m2, 4, 8), 0);
	h_slurp_file(f->p.log, log, sizeof log);
	assert_null(strstr(log, "held by another process"));
}

/* max_clients: one more connection gets VERSION, ERROR busy without id already behind it
 * (one write: a client that read VERSION finds it there), and is closed. */
/* Connects to a daemon with no slot left and reads its refusal to the end. */
static void refused_once(const char *sock)
{
	struct tclient c;
	bool eof = false;
	assert_int_equal(tclient_connect(&c, sock), 0);
	while (tclient_line(&c, H_TIMEOUT_MS, &eof))
		;
	assert_true(eof);
	tclient_close(&c);
}

static void test_max_clients(void **state)
{
	(void)state;
	struct daemon_proc p;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(daemon_proc_start(&p, "max_clients = 2\n"), 0);
	struct tclient a, b, c;
	assert_int_equal(tclient_open(&a, p.sock, NULL), 0);
	/* The start-up probe connections are gone once status lists only us. */
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	for (;;) {
		cJSON *s = status_of(&a);
		int n = cJSON_GetArraySize(cJSON_GetObjectItem(s, "clients"));
		cJSON_Delete(s);
		if (n == 1)
			break;
		assert_true(h_now_ms() < end);
		usleep(20000);
	}
	assert_int_equal(tclient_open(&b, p.sock, NULL), 0);
	assert_int_equal(tclient_connect(&c, p.sock), 0);
	cJSON *e = tclient_obj(&c, H_TIMEOUT_MS);
	assert_non_null(e);
	assert_string_equal(j_str(e, "class"), "VERSION");
	assert_int_equal((int)j_num(e, "proto_major"), 1);
	cJSON_Delete(e);
	e = tclient_obj(&c, 0);
	assert_non_null(e);
	assert_string_equal(j_str(e, "class"), "ERROR");
	assert_string_equal(j_str(e, "code"), "busy");
	assert_null(cJSON_GetObjectItem(e, "id"));
	cJSON_Delete(e);
	bool eof = false;
	assert_null(tclient_line(&c, H_TIMEOUT_MS, &eof));
	assert_true(eof);
	tclient_close(&c);
	/* Refusals are logged at most 5 per 10 s; the next one logged says how many were
	 * not (this one was the first). */
	for (int i = 0; i < 11; i++)
		refused_once(p.sock);
	char log[1 << 16];
	h_slurp_file(p.log, log, sizeof log);
	assert_int_equal(count_of(log, "refused a client ("), 5);
	usleep(10100 * 1000);
	refused_once(p.sock);
	h_slurp_file(p.log, log, sizeof log);
	assert_int_equal(count_of(log, "refused a client ("), 6);
	assert_non_null(strstr(log, "; 7 refusals not logged before it"));
	tclient_close(&a);
	tclient_close(&b);
	assert_int_equal(daemon_proc_stop(&p), 0);
	h_cleanup(&p);
}

/* Another process holds the tty exclusively: the daemon names it. */
static void test_busy_holder(void **state)
{
	struct daemon_proc p;
	assert_int_equal(h_tmpdir(&p), 0);
	char link[256];
	snprintf(link, sizeof link, "%s/ttyRPMSG30", p.dir);
	struct fake_m7 m;
	assert_int_equal(fake_m7_open(&m, link), 0);
	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		int fd = open(link, O_RDWR | O_NOCTTY);
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || ioctl(fd, TIOCEXCL) < 0)
			_exit(1);
		close(go[0]);
		(void)!write(go[1], "x", 1);
		pause();
		_exit(0);
	}
	close(go[1]);
	char x;
	assert_int_equal(read(go[0], &x, 1), 1);
	close(go[0]);
	char conf[512];
	snprintf(conf, sizeof conf,
		 "[channel m7]\ndevice = %s\nreopen_min_ms = 20\nreopen_max_ms = 100\n", link);
	int r = daemon_proc_start(&p, conf);
	bool ok = r == 0;
	struct tclient c;
	if (ok)
		ok = tclient_open(&c, p.sock, NULL) == 0;
	cJSON *s = NULL;
	if (ok) {
		s = status_of(&c);
		const cJSON *ch = status_channel(s, "m7");
		ok = strcmp(j_str(ch, "reason"), "busy") == 0 &&
		     j_num(cJSON_GetObjectItem(ch, "holder"), "pid") == holder;
		if (!ok) {
			char *t = cJSON_PrintUnformatted(s);
			print_error("status: %s\n", t);
			free(t);
		}
		cJSON_Delete(s);
	}
	/* Once the holder lets go, the daemon takes the tty. */
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	if (ok)
		ok = fake_m7_handshake(&m, 1, 8) == 0;
	if (r == 0)
		tclient_close(&c);
	int st = daemon_proc_stop(&p);
	fake_m7_close(&m);
	h_cleanup(&p);
	assert_true(ok);
	assert_int_equal(st, 0);
}

/* Stale socket from a crashed daemon is replaced; SIGTERM removes the socket. */
static void test_stale_socket_and_shutdown(void **state)
{
	struct daemon_proc p;
	assert_int_equal(h_tmpdir(&p), 0);
	/* A bound socket nobody listens on. */
	pid_t pid = fork();
	if (pid == 0) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un a;
		if (!h_sun(&a, p.sock))
			_exit(2);
		_exit(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	assert_int_equal(WEXITSTATUS(st), 0);
	struct stat sb;
	assert_int_equal(stat(p.sock, &sb), 0);
	assert_int_equal(daemon_proc_start(&p, ""), 0);
	assert_int_equal(stat(p.sock, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0660);
	/* A second daemon on the same socket refuses to start. */
	char err[2048];
	const char *args[] = {"m7bridged", "-f", "-c", p.conf, NULL};
	assert_int_equal(h_run(err, sizeof err, args), 1);
	assert_non_null(strstr(err, "in use"));
	assert_int_equal(daemon_proc_stop(&p), 0);
	assert_int_equal(stat(p.sock, &sb), -1);
	h_cleanup(&p);
}

/* Socket activation: the service manager's socket is used, the configured one ignored. */
static void test_socket_activation(void **state)
{
	(void)state;
	const char *tool = "/usr/bin/systemd-socket-activate";
	if (access(tool, X_OK) != 0)
		skip();
	struct daemon_proc p;
	assert_int_equal(h_tmpdir(&p), 0);
	char act[300];
	snprintf(act, sizeof act, "%s/activated.sock", p.dir);
	assert_int_equal(daemon_proc_write_conf(&p, ""), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(p.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		execl(tool, tool, "-l", act, h_daemon_path(), "-f", "-c", p.conf, (char *)NULL);
		_exit(127);
	}
	p.pid = pid;
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	struct stat sb;
	while (stat(act, &sb) != 0 && h_now_ms() < end)
		usleep(10000);
	struct tclient c;
	int r = tclient_open(&c, act, NULL);
	bool ok = r == 0;
	if (ok) {
		cJSON *s = status_of(&c);
		ok = j_num(s, "client_id") == 1;
		cJSON_Delete(s);
		tclient_close(&c);
	}
	bool configured_absent = stat(p.sock, &sb) != 0;
	int st = daemon_proc_stop(&p);
	h_cleanup(&p);
	assert_true(ok);
	assert_true(configured_absent);
	assert_int_equal(st, 0);
}

/* In a forked child: stderr to p's log, s (or nothing, s < 0) as descriptor 3 and no other
 * above it, LISTEN_FDS=fds for this process (own_pid) or for pid 1, then the daemon. */
static void exec_activated(const struct daemon_proc *p, int s, const char *fds, bool own_pid)
{
	char self[24];
	int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0)
		dup2(fd, 2);
	if (s >= 0 && dup2(s, 3) != 3)
		_exit(126);
	(void)close_range(s >= 0 ? 4 : 3, ~0u, 0);
	snprintf(self, sizeof self, "%d", (int)getpid());
	setenv("LISTEN_PID", own_pid ? self : "1", 1);
	setenv("LISTEN_FDS", fds, 1);
	execl(h_daemon_path(), h_daemon_path(), "-f", "-c", p->conf, (char *)NULL);
	_exit(127);
}

/* LISTEN_FDS naming descriptors that are not open: the daemon's own, opened later at
 * those numbers, must not be taken for passed ones (and closed as foreign). */
static void test_listen_fds_not_open(void **state)
{
	(void)state;
	struct daemon_proc p;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(daemon_proc_write_conf(&p, ""), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		exec_activated(&p, -1, "2", true);
	p.pid = pid;
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	struct stat sb;
	while (stat(p.sock, &sb) != 0 && h_now_ms() < end)
		usleep(10000);
	struct tclient c;
	bool ok = tclient_open(&c, p.sock, NULL) == 0;
	if (ok) {
		cJSON *s = status_of(&c);
		ok = j_num(s, "client_id") == 1;
		cJSON_Delete(s);
		tclient_close(&c);
	}
	int st = daemon_proc_stop(&p);
	char log[8192];
	h_slurp_file(p.log, log, sizeof log);
	h_show_log_if(&p, st);
	h_cleanup(&p);
	assert_true(ok);
	assert_int_equal(st, 0);
	assert_non_null(strstr(log, "LISTEN_FDS=2 names descriptors that are not open"));
}

/* LISTEN_PID naming another process (a wrapper that forked instead of exec'ing): the
 * passed socket is not taken, and the daemon says why before it finds its configured
 * path taken by that very socket. */
static void test_listen_pid_not_ours(void **state)
{
	(void)state;
	struct daemon_proc p;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(daemon_proc_write_conf(&p, ""), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un a;
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		if (s < 0 || !h_sun(&a, p.sock) || bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
		    listen(s, 8) < 0)
			_exit(126);
		exec_activated(&p, s, "1", false);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	char log[8192];
	h_slurp_file(p.log, log, sizeof log);
	h_cleanup(&p);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	assert_non_null(strstr(log, "LISTEN_FDS=1 is for LISTEN_PID=1, not this process"));
	assert_non_null(strstr(log, "in use"));
}

/* A socket unit of the wrong kind (ListenDatagram=) passes a datagram socket: the daemon
 * says so and exits with EX_CONFIG, which the unit does not restart (1 was restarted up to
 * the start limit, five times in vain). */
static void test_socket_activation_wrong_type(void **state)
{
	(void)state;
	struct daemon_proc p;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(daemon_proc_write_conf(&p, ""), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un a;
		int s = socket(AF_UNIX, SOCK_DGRAM, 0);
		if (s < 0 || !h_sun(&a, p.sock) || bind(s, (struct sockaddr *)&a, sizeof a) < 0)
			_exit(126);
		exec_activated(&p, s, "1", true);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	char log[8192];
	h_slurp_file(p.log, log, sizeof log);
	h_cleanup(&p);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 78);
	assert_non_null(strstr(log, "is not a listening Unix stream socket"));
}

/* An abstract socket from the service manager (ListenStream=@NAME): the log names it,
 * not the configured path the daemon does not listen on. */
static void test_socket_activation_abstract(void **state)
{
	(void)state;
	struct daemon_proc p;
	assert_int_equal(h_tmpdir(&p), 0);
	assert_int_equal(daemon_proc_write_conf(&p, ""), 0);
	char name[64], want[128];
	snprintf(name, sizeof name, "m7b-test-abstract-%d", (int)getpid());
	snprintf(want, sizeof want, "listening on @%s (socket activation)", name);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		memcpy(a.sun_path + 1, name, strlen(name));
		socklen_t len =
			(socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		if (s < 0 || bind(s, (struct sockaddr *)&a, len) < 0 || listen(s, 8) < 0)
			_exit(126);
		exec_activated(&p, s, "1", true);
	}
	p.pid = pid;
	char log[8192] = "";
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	while (!strstr(log, "listening on") && h_now_ms() < end) {
		usleep(10000);
		h_slurp_file(p.log, log, sizeof log);
	}
	int st = daemon_proc_stop(&p);
	h_show_log_if(&p, st);
	h_cleanup(&p);
	assert_int_equal(st, 0);
	assert_non_null(strstr(log, want));
}

/* The daemon starts before the device exists (M7 not booted yet): only inotify can open
 * it quickly, the backoff is a minute. */
static int setup_no_device(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->m.master = f->m2.master = -1;
	*state = f;
	assert_int_equal(h_tmpdir(&f->p), 0);
	snprintf(f->link, sizeof f->link, "%s/ttyRPMSG30", f->p.dir);
	char conf[512];
	snprintf(conf, sizeof conf,
		 "[channel m7]\ndevice = %s\nreopen_min_ms = 60000\nreopen_max_ms = 60000\n",
		 f->link);
	assert_int_equal(daemon_proc_start(&f->p, conf), 0);
	return 0;
}

static void test_device_appears_later(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\"}"), 0);
	cJSON *o = tclient_wait(&c, "STATE", H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "state"), "down");
	cJSON_Delete(o);
	cJSON *s = status_of(&c);
	assert_string_equal(j_str(status_channel(s, "m7"), "reason"), "not_found");
	cJSON_Delete(s);
	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	assert_int_equal(fake_m7_handshake(&f->m, 9, 8), 0);
	wait_state(&c, "up");
	uint8_t d = 7;
	assert_int_equal(fake_m7_data(&f->m, 0, 0, 1, 1, &d, 1), 0);
	o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
	assert_non_null(o);
	cJSON_Delete(o);
	tclient_close(&c);
}

/* Sends one-byte DATA frames stamped with the fake M7's clock, each spanning span ticks,
 * pausing pause_us between, until the daemon times one (its clock fit is made). Returns
 * that FRAME, or NULL if none came timed in time; *real_ns (if asked) is CLOCK_REALTIME
 * at its send, and *untimed counts the FRAMEs before it that went out without a time. */
static cJSON *until_timed(struct fx *f, struct tclient *c, uint64_t span, useconds_t pause_us,
			  uint64_t *real_ns, unsigned *untimed)
{
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	uint8_t d = 1;

	*untimed = 0;
	while (h_now_ms() < end) {
		if (real_ns) {
			struct timespec rt;
			clock_gettime(CLOCK_REALTIME, &rt);
			*real_ns = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
		}
		uint64_t t = fake_m7_ticks();
		assert_int_equal(fake_m7_data(&f->m, 0, 0, t, t + span, &d, 1), 0);
		cJSON *o = tclient_wait(c, "FRAME", H_TIMEOUT_MS);
		assert_non_null(o);
		if (cJSON_GetObjectItem(o, "t_first_ns"))
			return o;
		(*untimed)++;
		cJSON_Delete(o);
		usleep(pause_us);
	}
	return NULL;
}

/* SYNC exchanges map M7 ticks to CLOCK_REALTIME: FRAMEs gain t_first_ns / t_last_ns. */
static void test_clock_mapping(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	uint64_t real;
	unsigned untimed;

	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"]}"),
			 0);
	cJSON *o = until_timed(f, &c, 8000, 50000, &real, &untimed);
	assert_non_null(o);
	double first = j_num(o, "t_first_ns"), last = j_num(o, "t_last_ns");
	double err_ms = (first - (double)real) / 1e6;
	print_message("t_first_ns - CLOCK_REALTIME at send: %.3f ms\n", err_ms);
	assert_true(err_ms > -50 && err_ms < 50);
	assert_true(last - first > 0.9e6 && last - first < 1.1e6); /* 8000 ticks = 1 ms */
	cJSON_Delete(o);
	tclient_close(&c);
}

/* STATUS counts the FRAMEs that went out without a time (before the first fit), and
 * sums the firmware's HEARTBEAT counters: a u32 wrap on the M7 is a small step. */
static void test_status_untimed_and_m7_counters(void **state)
{
	struct fx *f = *state;
	struct tclient c;
	unsigned untimed;

	assert_int_equal(tclient_open(&c, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"]}"),
			 0);
	cJSON *o = until_timed(f, &c, 8, 20000, NULL, &untimed);
	assert_non_null(o); /* untimed: those before the first fit, maybe none */
	cJSON_Delete(o);
	unsigned frames = untimed + 1;

	/* Ticks as the fake M7's own HEARTBEATs (answers to the daemon's PINGs) count them,
	 * whole milliseconds: one of those between these must not look like a clock gone
	 * back, a new boot. */
	struct m7b_heartbeat hb = {.now_ticks = h_now_ms() * 8000, .ncounters = M7B_HB_NCOUNTERS};
	for (unsigned i = 0; i < M7B_HB_NCOUNTERS; i++)
		hb.counter[i] = i + 1;
	hb.counter[M7B_HB_ACKS_DROPPED] = 0xFFFFFFF0u;
	send_heartbeat(f, &hb);
	hb.now_ticks = h_now_ms() * 8000 + 1;
	hb.counter[M7B_HB_ACKS_DROPPED] = 0x10u; /* wrapped: 0x20 more */
	hb.counter[M7B_HB_SYNCS_DROPPED] = 20;
	send_heartbeat(f, &hb);
	/* A marker after them: once its FRAME is out, STATUS has seen both. Its ticks went
	 * back (an M7 whose clock restarted): the old fit must not time it. */
	uint8_t d = 1;
	assert_int_equal(fake_m7_data(&f->m, 0, 0, 8000, 8008, &d, 1), 0);
	o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
	assert_non_null(o);
	frames++;
	assert_null(cJSON_GetObjectItem(o, "t_first_ns"));
	untimed++;
	cJSON_Delete(o);

	cJSON *s = status_of(&c);
	const cJSON *ch = status_channel(s, "m7");
	assert_non_null(ch);
	assert_int_equal((int)j_num(ch, "untimed_frames"), untimed);
	assert_int_equal((int)j_num(ch, "data_frames"), frames);
	const cJSON *m7 = cJSON_GetObjectItem(ch, "m7_counters");
	assert_non_null(m7);
	assert_true(j_num(m7, "acks_dropped") == 4294967312.0); /* 0xFFFFFFF0 + 0x20 */
	assert_int_equal((int)j_num(m7, "syncs_dropped"), 20);
	assert_int_equal((int)j_num(m7, "uart_rx_bytes"), 1);
	assert_null(cJSON_GetObjectItem(m7, "credits")); /* a level: the channel's "credits" */
	cJSON_Delete(s);
	tclient_close(&c);
}

static int group_teardown(void **state)
{
	(void)state;
	h_kill_all();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_one_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_many_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_closed_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_stream_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_gaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hangup_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_timeout_and_down, setup_short_timeout,
						teardown),
		cmocka_unit_test_setup_teardown(test_log_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_log_limited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pty_send_within_wire_payload, setup_pty,
						teardown),
		cmocka_unit_test_setup_teardown(test_sighup_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_ends_stall_rearms_liveness,
						setup_fast_liveness_no_ladder, teardown),
		cmocka_unit_test_setup_teardown(test_sighup_recovery_settings, setup_no_liveness,
						teardown),
		cmocka_unit_test_setup_teardown(test_signals_held_at_start, setup_not_started,
						teardown),
		cmocka_unit_test_setup_teardown(test_sighup_allowed_users, setup_not_started,
						teardown),
		cmocka_unit_test_setup_teardown(test_sighup_start_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sighup_unchanged_keeps_liveness,
						setup_fast_liveness, teardown),
		cmocka_unit_test(test_reload_default_file_gone),
		cmocka_unit_test_setup_teardown(test_sighup_send_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sighup_rename_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sighup_swap_devices, setup, teardown),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_kmsg_unwatchable),
		cmocka_unit_test_setup_teardown(test_fault_log_limited, setup_kmsg, teardown),
		cmocka_unit_test(test_busy_holder),
		cmocka_unit_test(test_stale_socket_and_shutdown),
		cmocka_unit_test(test_socket_activation),
		cmocka_unit_test(test_listen_fds_not_open),
		cmocka_unit_test(test_listen_pid_not_ours),
		cmocka_unit_test(test_socket_activation_abstract),
		cmocka_unit_test(test_socket_activation_wrong_type),
		cmocka_unit_test(test_max_clients),
		cmocka_unit_test_setup_teardown(test_clock_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_untimed_and_m7_counters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_appears_later, setup_no_device,
						teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
