/* Replay after reconnect, end to end: a fake M7 on a pty, the daemon as a process, clients
 * that watch from a position. Replay with and without a gap, by seq and by time, port
 * filters, frames aged out, a ring resized by a reload, and replay handed over to live
 * while frames keep coming (no duplicate, no hole) through a small client queue. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon_harness.h"
#include "m7bridge/client.h"

#define BOOT 0xA1B2C3D4u

/* Frames are numbered by t_first from 1 (seq also counts the fake's HEARTBEAT and
 * SYNC_REPLY frames); seq_of[k] is the seq the daemon gave the k-th one. */
#define NMAX 40000
static uint32_t seq_of[NMAX + 1];
static unsigned nsent;

struct fx {
	struct daemon_proc p;
	struct fake_m7 m;
	char link[256];
	struct tclient rec; /* watches live from the start */
};

static int setup_conf(void **state, const char *daemon_keys, const char *chan_keys)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->m.master = -1;
	assert_int_equal(h_tmpdir(&f->p), 0);
	snprintf(f->link, sizeof f->link, "%s/ttyRPMSG30", f->p.dir);
	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	char conf[2048];
	snprintf(conf, sizeof conf, "%s\n[channel m7]\ndevice = %s\nreopen_min_ms = 20\n%s\n",
		 daemon_keys, f->link, chan_keys);
	assert_int_equal(daemon_proc_start(&f->p, conf), 0);
	assert_int_equal(fake_m7_handshake(&f->m, BOOT, 8), 0);
	assert_int_equal(
		tclient_open(
			&f->rec, f->p.sock,
			"{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"policy\":\"disconnect\"}"),
		0);
	nsent = 0;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_conf(state, "", "");
}

/* A ring of 16 KiB: a few hundred frames. */
static int setup_small_ring(void **state)
{
	return setup_conf(state, "", "replay_kib = 16");
}

/* Frames leave the ring a second after they came. */
static int setup_short_age(void **state)
{
	return setup_conf(state, "", "replay_max_age_s = 1");
}

/* A ring far larger than the client queue (256 KiB): the replay goes in many chunks. */
static int setup_big_ring(void **state)
{
	return setup_conf(state, "", "replay_kib = 8192");
}

/* A ring the daemon cannot allocate: its address space is held below 1 GiB. Not under
 * AddressSanitizer, whose shadow memory alone needs far more address space than that. */
static int setup_no_memory(void **state)
{
	struct rlimit old, low;
#if defined(__SANITIZE_ADDRESS__)
	*state = NULL;
	return 0;
#endif
	assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
	low = old;
	low.rlim_cur = 768ull << 20;
	assert_int_equal(setrlimit(RLIMIT_AS, &low), 0);
	int r = setup_conf(state, "", "replay_kib = 1048576");
	assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
	return r;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	tclient_close(&f->rec);
	int st = daemon_proc_stop(&f->p);
	fake_m7_close(&f->m);
	h_show_log_if(&f->p, st);
	h_cleanup(&f->p);
	free(f);
	assert_int_equal(st, 0);
	return 0;
}

/* Sends n more frames, 40 bytes each, on port k % 3. */
static void send_frames(struct fx *f, unsigned n)
{
	uint8_t b[40];
	for (unsigned i = 0; i < n; i++) {
		unsigned k = ++nsent;
		memset(b, (int)(k & 0xff), sizeof b);
		assert_int_equal(fake_m7_data(&f->m, (uint8_t)(k % 3), 0, k, k, b, sizeof b), 0);
	}
}

/* Reads live FRAMEs on the recorder up to number n: the daemon has them all, and
 * seq_of[] learns their seq. */
static void wait_frames(struct fx *f, unsigned n)
{
	for (;;) {
		cJSON *o = tclient_wait(&f->rec, "FRAME", H_TIMEOUT_MS);
		assert_non_null(o);
		unsigned k = (unsigned)j_num(o, "t_first");
		assert_true(k >= 1 && k <= NMAX);
		seq_of[k] = (uint32_t)j_num(o, "seq");
		cJSON_Delete(o);
		if (k == n)
			return;
	}
}

/* Waits until the daemon counted n DATA frames (status), for when nobody records. */
static void wait_counted(struct fx *f, unsigned n)
{
	uint64_t end = h_now_ms() + H_TIMEOUT_MS;
	for (;;) {
		assert_int_equal(tclient_send(&f->rec, "{\"cmd\":\"status\"}"), 0);
		cJSON *s = tclient_wait(&f->rec, "STATUS", H_TIMEOUT_MS);
		assert_non_null(s);
		double got = j_num(cJSON_GetArrayItem(cJSON_GetObjectItem(s, "channels"), 0),
				   "data_frames");
		cJSON_Delete(s);
		if (got >= n)
			return;
		assert_true(h_now_ms() < end);
		usleep(10000);
	}
}

static bool is_replay(const cJSON *o)
{
	return cJSON_IsTrue(cJSON_GetObjectItem(o, "replay"));
}

/* Reads FRAMEs up to number last; checks they run from first without hole or duplicate
 * and that replayed ones (n_replay of them) come before live ones. */
static void expect_run(struct tclient *c, uint32_t first, uint32_t last, unsigned n_replay,
		       cJSON **gap)
{
	uint32_t want = first;
	unsigned replayed = 0;
	bool live = false;
	while (want <= last) {
		cJSON *o = tclient_obj(c, H_TIMEOUT_MS);
		assert_non_null(o);
		const char *cls = j_str(o, "class");
		if (strcmp(cls, "REPLAY_GAP") == 0 && gap) {
			assert_null(*gap);
			*gap = o;
			continue;
		}
		assert_string_not_equal(cls, "REPLAY_GAP");
		assert_string_not_equal(cls, "DROPPED");
		if (strcmp(cls, "FRAME") == 0) {
			assert_int_equal((uint32_t)j_num(o, "t_first"), want);
			if (is_replay(o)) {
				assert_false(live);
				assert_true(j_num(o, "boot_id") == BOOT);
				replayed++;
			} else {
				live = true;
			}
			want++;
		}
		cJSON_Delete(o);
	}
	if (n_replay != ~0u)
		assert_int_equal(replayed, n_replay);
}

/* Opens c watching FRAMEs from after the frame of seq (of the fake M7's boot). */
static void watch_since_seq(struct fx *f, struct tclient *c, uint32_t seq)
{
	char w[256];

	snprintf(w, sizeof w,
		 "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"since_seq\":%u,\"boot_id\":%u}", seq,
		 BOOT);
	assert_int_equal(tclient_open(c, f->p.sock, w), 0);
}

/* c's next object, a REPLAY_GAP whose `exact` is exact; the caller frees it. */
static cJSON *take_gap(struct tclient *c, bool exact)
{
	cJSON *gap = tclient_obj(c, H_TIMEOUT_MS);

	assert_non_null(gap);
	assert_string_equal(j_str(gap, "class"), "REPLAY_GAP");
	assert_true(cJSON_IsBool(cJSON_GetObjectItem(gap, "exact")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(gap, "exact")) == exact);
	return gap;
}

static void test_replay_no_gap(void **state)
{
	struct fx *f = *state;
	send_frames(f, 200); /* seq 1..200 (HELLO was 0) */
	wait_frames(f, 200);
	struct tclient c;
	watch_since_seq(f, &c, seq_of[50]);
	expect_run(&c, 51, 200, 150, NULL);
	send_frames(f, 20);
	expect_run(&c, 201, 220, 0, NULL);
	tclient_close(&c);
	wait_frames(f, 220);

	/* Caught up already: nothing replayed, nothing missing. */
	watch_since_seq(f, &c, seq_of[220]);
	send_frames(f, 1);
	expect_run(&c, 221, 221, 0, NULL);
	tclient_close(&c);
}

static void test_replay_gap(void **state)
{
	struct fx *f = *state;
	/* In steps the recorder keeps up with: it watches with policy disconnect, and
	 * 2000 frames unread, each its own write at one frame per read, outgrow what the
	 * kernel and the daemon hold for a client. */
	for (unsigned k = 200; k <= 2000; k += 200) {
		send_frames(f, 200);
		wait_frames(f, k);
	}
	struct tclient c;
	char w[256];
	watch_since_seq(f, &c, seq_of[10]);
	cJSON *gap = tclient_obj(&c, H_TIMEOUT_MS);
	assert_non_null(gap);
	assert_string_equal(j_str(gap, "class"), "REPLAY_GAP");
	assert_string_equal(j_str(gap, "channel"), "m7");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(gap, "exact")));
	assert_true(j_num(gap, "first_boot_id") == BOOT);
	assert_true(j_num(gap, "first_seq") == seq_of[11]);
	unsigned last = 11;
	while (seq_of[last] != (uint32_t)j_num(gap, "last_seq"))
		assert_true(++last < 2000);
	assert_true(j_num(gap, "frames") == last - 10);
	cJSON_Delete(gap);
	/* Then exactly what the ring holds: from the first frame not in the gap. */
	expect_run(&c, last + 1, 2000, 2000 - last, NULL);
	tclient_close(&c);

	/* A port filter does not narrow the count: frames of every port are missed. */
	snprintf(w, sizeof w,
		 "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"ports\":[1],\"since_seq\":%u,"
		 "\"boot_id\":%u}",
		 seq_of[10], BOOT);
	assert_int_equal(tclient_open(&c, f->p.sock, w), 0);
	gap = tclient_obj(&c, H_TIMEOUT_MS);
	assert_non_null(gap);
	assert_string_equal(j_str(gap, "class"), "REPLAY_GAP");
	assert_true(j_num(gap, "frames") == last - 10);
	cJSON_Delete(gap);
	tclient_close(&c);

	/* A boot the daemon never saw: it says it cannot know, and replays all it has. */
	assert_int_equal(tclient_open(&c, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"since_seq\":5,"
				      "\"boot_id\":1}"),
			 0);
	gap = take_gap(&c, false);
	cJSON_Delete(gap);
	expect_run(&c, last + 1, 2000, 2000 - last, NULL);
	tclient_close(&c);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_replay_since_ns_and_ports(void **state)
{
	struct fx *f = *state;
	send_frames(f, 30); /* 1..30 */
	wait_frames(f, 30);
	usleep(20000);
	uint64_t t = realtime_ns();
	usleep(20000);
	send_frames(f, 30); /* 31..60 */
	wait_frames(f, 60);
	struct tclient c;
	char w[256];
	/* As a string: nanoseconds since 1970 exceed what a double holds exactly. */
	snprintf(w, sizeof w, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"since_ns\":\"%llu\"}",
		 (unsigned long long)t);
	assert_int_equal(tclient_open(&c, f->p.sock, w), 0);
	expect_run(&c, 31, 60, 30, NULL);
	tclient_close(&c);

	/* The port filter applies to the replay: port 1 only (seq % 3 == 1). */
	snprintf(w, sizeof w,
		 "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"ports\":[1],\"since_seq\":%u,"
		 "\"boot_id\":%u}",
		 seq_of[1] - 1, BOOT);
	assert_int_equal(tclient_open(&c, f->p.sock, w), 0);
	for (uint32_t k = 1; k <= 58; k += 3) {
		cJSON *o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
		assert_non_null(o);
		assert_int_equal((uint32_t)j_num(o, "t_first"), k);
		assert_true(is_replay(o));
		cJSON_Delete(o);
	}
	tclient_close(&c);

	/* Bad positions get an ERROR. */
	assert_int_equal(tclient_open(&c, f->p.sock, NULL), 0);
	assert_int_equal(tclient_send(&c, "{\"cmd\":\"watch\",\"since_seq\":1}"), 0);
	cJSON *e = tclient_wait(&c, "ERROR", H_TIMEOUT_MS);
	assert_string_equal(j_str(e, "code"), "missing_member");
	cJSON_Delete(e);
	assert_int_equal(
		tclient_send(&c,
			     "{\"cmd\":\"watch\",\"since_seq\":1,\"boot_id\":1,\"since_ns\":5}"),
		0);
	e = tclient_wait(&c, "ERROR", H_TIMEOUT_MS);
	assert_string_equal(j_str(e, "code"), "bad_value");
	cJSON_Delete(e);
	assert_int_equal(
		tclient_send(&c, "{\"cmd\":\"watch\",\"since_seq\":4294967296,\"boot_id\":1}"), 0);
	e = tclient_wait(&c, "ERROR", H_TIMEOUT_MS);
	assert_string_equal(j_str(e, "code"), "bad_type");
	cJSON_Delete(e);
	/* since_ns as a JSON number beyond 2^53 (any instant since 1970 in ns) is refused:
	 * rounded, it could replay a frame twice or skip one. */
	snprintf(w, sizeof w, "{\"cmd\":\"watch\",\"since_ns\":%llu}", (unsigned long long)t);
	assert_int_equal(tclient_send(&c, w), 0);
	e = tclient_wait(&c, "ERROR", H_TIMEOUT_MS);
	assert_string_equal(j_str(e, "code"), "bad_type");
	cJSON_Delete(e);
	tclient_close(&c);

	/* An instant ahead of every frame: nothing replayed, nothing missing, then live. */
	snprintf(w, sizeof w, "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"since_ns\":\"%llu\"}",
		 (unsigned long long)(realtime_ns() + 3600000000000ull));
	assert_int_equal(tclient_open(&c, f->p.sock, w), 0);
	send_frames(f, 1);
	expect_run(&c, 61, 61, 0, NULL);
	tclient_close(&c);
	wait_frames(f, 61);
}

/* Frames older than replay_max_age_s are gone once the next ones come: a watch from
 * among them gets an exact gap for the rest of them, then what came since. */
static void test_replay_age(void **state)
{
	struct fx *f = *state;
	send_frames(f, 20);
	wait_frames(f, 20);
	usleep(1300000);
	send_frames(f, 2);
	wait_frames(f, 22);
	struct tclient c;
	watch_since_seq(f, &c, seq_of[5]);
	cJSON *gap = take_gap(&c, true);
	assert_true(j_num(gap, "frames") == 15);
	assert_true(j_num(gap, "first_seq") == seq_of[6]);
	assert_true(j_num(gap, "last_seq") == seq_of[20]);
	cJSON_Delete(gap);
	expect_run(&c, 21, 22, 2, NULL);
	tclient_close(&c);
}

/* A reload that changes the ring's size makes a new ring with the next frame: what the
 * old one held is gone, and a watch from it is told it cannot know what it missed. */
static void test_replay_reload_resize(void **state)
{
	struct fx *f = *state;
	send_frames(f, 10);
	wait_frames(f, 10);
	char conf[1024];
	snprintf(conf, sizeof conf,
		 "[channel m7]\ndevice = %s\nreopen_min_ms = 20\nreplay_kib = 64\nport.1 = new\n",
		 f->link);
	assert_int_equal(daemon_proc_write_conf(&f->p, conf), 0);
	kill(f->p.pid, SIGHUP);
	/* A frame named by the new configuration came after the reload. */
	unsigned named = 0;
	for (int tries = 0; !named; tries++) {
		assert_true(tries < 500);
		send_frames(f, 3);
		for (unsigned k = nsent - 2; k <= nsent; k++) {
			cJSON *o = tclient_wait(&f->rec, "FRAME", H_TIMEOUT_MS);
			assert_non_null(o);
			assert_int_equal((unsigned)j_num(o, "t_first"), k);
			if (!named && cJSON_GetObjectItem(o, "port_name"))
				named = k;
			cJSON_Delete(o);
		}
		if (!named)
			usleep(10000);
	}
	struct tclient c;
	watch_since_seq(f, &c, seq_of[2]);
	cJSON *gap = take_gap(&c, false);
	cJSON_Delete(gap);
	/* The new ring starts with the first frame after the reload, none of the old ones. */
	cJSON *o = tclient_wait(&c, "FRAME", H_TIMEOUT_MS);
	assert_non_null(o);
	unsigned first = (unsigned)j_num(o, "t_first");
	assert_true(is_replay(o));
	cJSON_Delete(o);
	assert_true(first > 10 && first <= named);
	if (first < nsent)
		expect_run(&c, first + 1, nsent, nsent - first, NULL);
	tclient_close(&c);
}

struct writer {
	struct fx *f;
	unsigned n;
};

static void *write_frames(void *arg)
{
	struct writer *w = arg;
	uint8_t b[40] = {0};
	for (unsigned i = 0; i < w->n; i++) {
		unsigned k = ++nsent;
		if (fake_m7_data(&w->f->m, 0, 0, k, k, b, sizeof b) < 0)
			break;
		if (i % 4 == 0)
			usleep(1000); /* a live rate the client keeps up with on a loaded machine */
	}
	return NULL;
}

/* A large replay (3.4 MB of JSON) through a 256 KiB queue while frames keep coming: every seq once, in
 * order, replayed ones first. Also measures replay throughput to one client. */
static void test_replay_handover_live(void **state)
{
	struct fx *f = *state;
	enum { BEFORE = 20000, DURING = 3000 };
	send_frames(f, 1);
	wait_frames(f, 1);
	/* The recorder would fall behind the burst (policy disconnect): it stops watching. */
	assert_int_equal(tclient_send(&f->rec, "{\"cmd\":\"unwatch\"}"), 0);
	cJSON *a = tclient_wait(&f->rec, "ACK", H_TIMEOUT_MS);
	assert_non_null(a);
	cJSON_Delete(a);
	send_frames(f, BEFORE - 1);
	wait_counted(f, BEFORE);
	struct writer wr = {f, DURING};
	pthread_t th;
	struct tclient c;
	char w[256];
	snprintf(w, sizeof w,
		 "{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"since_seq\":%u,\"boot_id\":%u}",
		 seq_of[1] - 1, BOOT);
	assert_int_equal(tclient_open(&c, f->p.sock, NULL), 0);
	assert_int_equal(tclient_send(&c, w), 0);
	assert_int_equal(pthread_create(&th, NULL, write_frames, &wr), 0);
	uint64_t t0 = h_now_ms();
	expect_run(&c, 1, BEFORE, BEFORE, NULL);
	uint64_t t1 = h_now_ms();
	expect_run(&c, BEFORE + 1, BEFORE + DURING, ~0u, NULL);
	pthread_join(th, NULL);
	print_message("replayed %d frames in %llu ms (%.0f frames/s, client parses JSON)\n", BEFORE,
		      (unsigned long long)(t1 - t0),
		      BEFORE * 1000.0 / (double)(t1 > t0 ? t1 - t0 : 1));
	/* Nothing was dropped: the replay waited for the queue instead. */
	assert_int_equal(tclient_send(&c, "{\"cmd\":\"status\"}"), 0);
	cJSON *s = tclient_wait(&c, "STATUS", H_TIMEOUT_MS);
	assert_non_null(s);
	const cJSON *cl;
	cJSON_ArrayForEach(cl, cJSON_GetObjectItem(s, "clients"))
		assert_true(j_num(cl, "dropped") == 0);
	cJSON_Delete(s);
	tclient_close(&c);
}

/* Next FRAME from a libm7bridge client (STATE skipped; HELLO must stay hidden). */
static struct m7b_event *lib_frame(struct m7b_client *lc)
{
	for (;;) {
		struct m7b_event *ev = NULL;
		assert_int_equal(m7b_client_next(lc, &ev, H_TIMEOUT_MS), 0);
		assert_int_not_equal(ev->type, M7B_EV_HELLO);
		assert_int_not_equal(ev->type, M7B_EV_UNKNOWN); /* no REPLAY_GAP here */
		if (ev->type == M7B_EV_FRAME)
			return ev;
		m7b_event_free(ev);
	}
}

/* Reads FRAMEs first..last from lc; replayed ones up to last_replayed. */
static void lib_expect(struct m7b_client *lc, unsigned first, unsigned last, unsigned last_replayed)
{
	for (unsigned k = first; k <= last; k++) {
		struct m7b_event *ev = lib_frame(lc);
		int64_t v = -1;
		assert_int_equal(m7b_event_get_int(ev, "t_first", &v), 0);
		assert_int_equal(v, k);
		assert_int_equal(m7b_event_has(ev, "replay"), k <= last_replayed);
		m7b_event_free(ev);
	}
}

/* libm7bridge: a client cut off with frames unread resumes where it was on reconnect. */
static void test_lib_resume(void **state)
{
	struct fx *f = *state;
	struct m7b_client *lc = m7b_client_new();
	assert_non_null(lc);
	const char *classes[] = {"FRAME", "STATE"};
	struct m7b_watch w = {.classes = classes, .nclasses = 2};
	assert_int_equal(m7b_client_connect(lc, f->p.sock), 0);
	assert_int_equal(m7b_client_watch(lc, &w), 0);
	send_frames(f, 100);
	wait_frames(f, 100);
	lib_expect(lc, 1, 40, 0);
	uint32_t boot = 0, seq = 0;
	assert_int_equal(m7b_client_position(lc, "m7", &boot, &seq), 0);
	assert_int_equal(boot, BOOT);
	assert_int_equal(seq, seq_of[40]);
	/* Cut off: 41..100 are lost with the socket; more come meanwhile. */
	m7b_client_close(lc);
	send_frames(f, 50);
	wait_frames(f, 150);
	assert_int_equal(m7b_client_connect(lc, f->p.sock), 0);
	assert_int_equal(m7b_client_watch(lc, &w), 0);
	lib_expect(lc, 41, 150, 150);
	send_frames(f, 10);
	lib_expect(lc, 151, 160, 0);
	assert_int_equal(m7b_client_position(lc, "m7", &boot, &seq), 0);
	wait_frames(f, 160);
	assert_int_equal(seq, seq_of[160]);
	/* With resume off, a reconnect is live only. */
	m7b_client_set_resume(lc, false);
	m7b_client_close(lc);
	send_frames(f, 5);
	wait_frames(f, 165);
	assert_int_equal(m7b_client_connect(lc, f->p.sock), 0);
	assert_int_equal(m7b_client_watch(lc, &w), 0);
	send_frames(f, 1);
	lib_expect(lc, 166, 166, 0);
	m7b_client_free(lc);
}

/* The M7 restarted and its HELLO was lost: the daemon sees seq go back. Until the next
 * HELLO its frames belong to a run it cannot name, so they carry no boot_id; a client
 * resuming after a frame of the run before gets everything that followed, not only what
 * follows a frame of the new run that happens to reuse its seq. */
static void test_replay_restart_without_hello(void **state)
{
	struct fx *f = *state;
	send_frames(f, 100);
	wait_frames(f, 100);
	pthread_mutex_lock(&f->m.mu);
	f->m.seq = 1; /* its HELLO (seq 0) lost */
	pthread_mutex_unlock(&f->m.mu);
	send_frames(f, 50);
	wait_frames(f, 150);
	/* A frame of the first run whose seq a frame of the second reused. */
	unsigned k = 0;
	for (unsigned i = 1; i <= 100 && !k; i++)
		for (unsigned j = 101; j <= 150; j++)
			if (seq_of[i] == seq_of[j] && i > 1) {
				k = i;
				break;
			}
	assert_true(k > 0);
	struct tclient c;
	watch_since_seq(f, &c, seq_of[k]);
	for (unsigned want = k + 1; want <= 150; want++) {
		cJSON *o = tclient_obj(&c, H_TIMEOUT_MS);
		assert_non_null(o);
		assert_string_equal(j_str(o, "class"), "FRAME");
		assert_int_equal((unsigned)j_num(o, "t_first"), want);
		assert_true(is_replay(o));
		if (want <= 100)
			assert_true(j_num(o, "boot_id") == BOOT);
		else
			assert_null(cJSON_GetObjectItem(o, "boot_id"));
		cJSON_Delete(o);
	}
	tclient_close(&c);
}

/* Next STATE on c; checks its reason. */
static void expect_state(struct tclient *c, const char *reason)
{
	cJSON *o = tclient_obj(c, H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "class"), "STATE");
	assert_string_equal(j_str(o, "state"), "up");
	assert_string_equal(j_str(o, "reason"), reason);
	cJSON_Delete(o);
}

/* The snapshot STATE on c, then STATEs until the channel is up: under load the daemon may
 * not have read the handshake's HELLO yet when c's watch arrives. */
static void expect_snapshot_up(struct tclient *c)
{
	cJSON *o = tclient_obj(c, H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "class"), "STATE");
	assert_string_equal(j_str(o, "reason"), "snapshot");
	while (strcmp(j_str(o, "state"), "up") != 0) {
		cJSON_Delete(o);
		o = tclient_wait(c, "STATE", H_TIMEOUT_MS);
		assert_non_null(o);
	}
	cJSON_Delete(o);
}

/* The M7 restarted and its HELLO was lost. Watching clients hear of it (STATE
 * m7_restarted) before the first frame of the new run, and again when a HELLO names the
 * run; a watch meanwhile gets no HELLO of the run that is over. libm7bridge claims no
 * position for the unnamed run's frames: a resume would take them for the old run's and
 * replay frames it already delivered. */
static void test_lib_restart_without_hello(void **state)
{
	struct fx *f = *state;
	struct m7b_client *lc = m7b_client_new();
	assert_non_null(lc);
	const char *classes[] = {"FRAME"};
	struct m7b_watch w = {.classes = classes, .nclasses = 1};
	assert_int_equal(m7b_client_connect(lc, f->p.sock), 0);
	assert_int_equal(m7b_client_watch(lc, &w), 0);
	struct tclient st;
	assert_int_equal(
		tclient_open(&st, f->p.sock, "{\"cmd\":\"watch\",\"classes\":[\"STATE\"]}"), 0);
	expect_snapshot_up(&st);
	send_frames(f, 100);
	wait_frames(f, 100);
	lib_expect(lc, 1, 100, 0);
	uint32_t boot = 0, seq = 0;
	assert_int_equal(m7b_client_position(lc, "m7", &boot, &seq), 0);
	assert_int_equal(boot, BOOT);

	pthread_mutex_lock(&f->m.mu);
	f->m.seq = 1; /* its HELLO (seq 0) lost */
	pthread_mutex_unlock(&f->m.mu);
	send_frames(f, 50);
	wait_frames(f, 150);
	expect_state(&st, "m7_restarted");
	lib_expect(lc, 101, 150, 0);
	assert_int_equal(m7b_client_position(lc, "m7", &boot, &seq), -ENOENT);

	/* A watch now: no HELLO naming the old run. */
	struct tclient h;
	assert_int_equal(tclient_open(&h, f->p.sock,
				      "{\"cmd\":\"watch\",\"classes\":[\"HELLO\",\"FRAME\"]}"),
			 0);
	send_frames(f, 1);
	cJSON *o = tclient_obj(&h, H_TIMEOUT_MS);
	assert_non_null(o);
	assert_string_equal(j_str(o, "class"), "FRAME");
	cJSON_Delete(o);
	tclient_close(&h);
	lib_expect(lc, 151, 151, 0);

	/* Cut off, then reconnected: live only, nothing delivered twice. */
	m7b_client_close(lc);
	send_frames(f, 10);
	wait_frames(f, 161);
	assert_int_equal(m7b_client_connect(lc, f->p.sock), 0);
	assert_int_equal(m7b_client_watch(lc, &w), 0);
	send_frames(f, 1);
	lib_expect(lc, 162, 162, 0);

	/* The next HELLO names the run: said to STATE watchers, and positions hold again. */
	assert_int_equal(fake_m7_handshake(&f->m, BOOT + 1, 8), 0);
	expect_state(&st, "hello");
	send_frames(f, 1);
	lib_expect(lc, 163, 163, 0);
	assert_int_equal(m7b_client_position(lc, "m7", &boot, &seq), 0);
	assert_int_equal(boot, BOOT + 1);
	tclient_close(&st);
	m7b_client_free(lc);
}

/* The daemon restarted: it remembers no frame from before it, and the firmware's HELLO to
 * the new daemon restarted seq within the same boot, so a frame after the restart reuses
 * the seq of the last one the client had. libm7bridge tells the two daemons apart (by
 * STATUS uptime_ms) and asks the new one for all it holds: every frame once, no hole. */
static void test_lib_resume_after_daemon_restart(void **state)
{
	struct fx *f = *state;
	struct m7b_client *lc = m7b_client_new();
	assert_non_null(lc);
	const char *classes[] = {"FRAME"};
	struct m7b_watch w = {.classes = classes, .nclasses = 1};
	assert_int_equal(m7b_client_connect(lc, f->p.sock), 0);
	assert_int_equal(m7b_client_watch(lc, &w), 0);
	send_frames(f, 60);
	wait_frames(f, 60);
	lib_expect(lc, 1, 60, 0);
	m7b_client_close(lc);

	tclient_close(&f->rec);
	assert_int_equal(daemon_proc_stop(&f->p), 0);
	char conf[512];
	snprintf(conf, sizeof conf, "\n[channel m7]\ndevice = %s\nreopen_min_ms = 20\n\n", f->link);
	assert_int_equal(daemon_proc_start(&f->p, conf), 0);
	assert_int_equal(fake_m7_handshake(&f->m, BOOT, 8), 0);
	assert_int_equal(
		tclient_open(
			&f->rec, f->p.sock,
			"{\"cmd\":\"watch\",\"classes\":[\"FRAME\"],\"policy\":\"disconnect\"}"),
		0);
	send_frames(f, 100);
	wait_frames(f, 160);

	assert_int_equal(m7b_client_connect(lc, f->p.sock), 0);
	assert_int_equal(m7b_client_watch(lc, &w), 0);
	struct m7b_event *ev = NULL;
	do {
		m7b_event_free(ev);
		assert_int_equal(m7b_client_next(lc, &ev, H_TIMEOUT_MS), 0);
	} while (ev->type == M7B_EV_VERSION);
	/* It cannot know what came while no daemon read the tty. */
	assert_string_equal(ev->cls, "REPLAY_GAP");
	assert_non_null(strstr(ev->line, "\"exact\":false"));
	m7b_event_free(ev);
	lib_expect(lc, 61, 160, 160);
	send_frames(f, 1);
	lib_expect(lc, 161, 161, 0);
	/* The same daemon again: by position. */
	m7b_client_close(lc);
	send_frames(f, 5);
	wait_frames(f, 166);
	assert_int_equal(m7b_client_connect(lc, f->p.sock), 0);
	assert_int_equal(m7b_client_watch(lc, &w), 0);
	lib_expect(lc, 162, 166, 166);
	m7b_client_free(lc);
}

/* A recovery reopens the link: the daemon's HOST_HELLO is answered by a HELLO of the same
 * boot, which restarts seq. A client resuming from a frame before it names a seq that a
 * frame after it has too: it is not passed over the frames in between in silence. */
static void test_replay_across_reopen(void **state)
{
	struct fx *f = *state;
	send_frames(f, 100);
	wait_frames(f, 100);
	fake_m7_close(&f->m);
	assert_int_equal(fake_m7_open(&f->m, f->link), 0);
	assert_int_equal(fake_m7_handshake(&f->m, BOOT, 8), 0);
	send_frames(f, 50);
	wait_frames(f, 150);
	unsigned k = 0, j = 0;
	for (unsigned a = 2; a <= 100 && !k; a++)
		for (unsigned b = 101; b <= 150; b++)
			if (seq_of[a] == seq_of[b]) {
				k = a;
				j = b;
				break;
			}
	assert_true(k > 0);
	struct tclient c;
	watch_since_seq(f, &c, seq_of[k]);
	cJSON *gap = take_gap(&c, false);
	assert_true(j_num(gap, "frames") == j - k);
	assert_true(j_num(gap, "first_seq") == seq_of[k + 1]);
	assert_true(j_num(gap, "last_seq") == seq_of[j]);
	cJSON_Delete(gap);
	expect_run(&c, j + 1, 150, 150 - j, NULL);
	tclient_close(&c);
}

/* The ring cannot be allocated: said once, not with every frame (each of which tried
 * again), and a watch from a position is told the daemon cannot know what it missed. */
static void test_replay_ring_no_memory(void **state)
{
	struct fx *f = *state;
	if (!f) {
		print_message("AddressSanitizer build: no address-space cap can hold it\n");
		skip();
	}
	send_frames(f, 300);
	wait_frames(f, 300);
	FILE *lf = fopen(f->p.log, "r");
	assert_non_null(lf);
	char line[1024];
	unsigned said = 0;
	while (fgets(line, sizeof line, lf))
		said += strstr(line, "no replay ring") != NULL;
	fclose(lf);
	assert_int_equal(said, 1);
	struct tclient c;
	watch_since_seq(f, &c, seq_of[10]);
	cJSON *gap = take_gap(&c, false);
	cJSON_Delete(gap);
	send_frames(f, 1);
	expect_run(&c, 301, 301, 0, NULL);
	tclient_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replay_no_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lib_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_restart_without_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lib_restart_without_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lib_resume_after_daemon_restart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_replay_across_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_ring_no_memory, setup_no_memory,
						teardown),
		cmocka_unit_test_setup_teardown(test_replay_gap, setup_small_ring, teardown),
		cmocka_unit_test_setup_teardown(test_replay_since_ns_and_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_age, setup_short_age, teardown),
		cmocka_unit_test_setup_teardown(test_replay_reload_resize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_handover_live, setup_big_ring,
						teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	h_kill_all();
	return r;
}
