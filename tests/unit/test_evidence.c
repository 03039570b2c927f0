/* Unit tests of daemon/evidence.c: trace0 decoding into JSON, bounded reads of odd files,
 * devcoredump sums, and gathering from a fake debugfs/sysfs tree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evidence.h"
#include "sv.h"

static char root[64];

static void put(const char *rel, const char *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void mk(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/test_evidence.XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *num(const cJSON *o, const char *key)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_non_null(x);
	return cJSON_IsRaw(x) ? x->valuestring : "?";
}

static void test_trace_newest_kept(void **state)
{
	const char snap[] = "00000007 0000000000000100 6 boot\n"
			    "00000008 0000000000000200 3 assert foo.c:12\n"
			    "garbage\n"
			    "00000009 0000000000000300 2 stall in main loop\n";
	cJSON *o = evidence_trace_json(snap, sizeof(snap) - 1, false, 2);
	const cJSON *lines;

	assert_non_null(o);
	lines = cJSON_GetObjectItemCaseSensitive(o, "lines");
	assert_int_equal(cJSON_GetArraySize(lines), 2);
	assert_string_equal(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(lines, 0), "text")->valuestring,
		"assert foo.c:12");
	assert_string_equal(num(cJSON_GetArrayItem(lines, 1), "seq"), "9");
	assert_string_equal(num(cJSON_GetArrayItem(lines, 1), "level"), "2");
	assert_string_equal(num(o, "lines_dropped"), "1");
	assert_string_equal(num(o, "bad_lines"), "1");
	{
		cJSON *ev = cJSON_CreateObject(), *w;
		cJSON_AddItemToObject(ev, "trace", o);
		w = evidence_last_words(ev, 1);
		assert_int_equal(cJSON_GetArraySize(w), 1);
		assert_string_equal(cJSON_GetArrayItem(w, 0)->valuestring, "stall in main loop");
		cJSON_Delete(w);
		assert_null(evidence_last_words(NULL, 3));
		cJSON_Delete(ev);
	}
}

static void test_trace_empty(void **state)
{
	cJSON *o = evidence_trace_json("", 0, false, 8);

	assert_non_null(o);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "lines")), 0);
	cJSON_Delete(o);
}

static void test_read_bounded(void **state)
{
	char path[256], *buf;
	size_t len;
	bool more;

	put("ten", "0123456789", 10);
	snprintf(path, sizeof(path), "%s/ten", root);
	assert_int_equal(evidence_read_bounded(path, 4, &buf, &len, &more), 0);
	assert_int_equal(len, 4);
	assert_true(more);
	assert_string_equal(buf, "0123");
	free(buf);
	assert_int_equal(evidence_read_bounded(path, 10, &buf, &len, &more), 0);
	assert_int_equal(len, 10);
	assert_false(more);
	free(buf);
}

/* A FIFO, a directory, a symlink and a missing file are refused at once: no hang. */
static void test_read_odd_files(void **state)
{
	char path[256], target[256], *buf = NULL;
	size_t len;
	bool more;

	snprintf(path, sizeof(path), "%s/fifo", root);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(evidence_read_bounded(path, 64, &buf, &len, &more), -EINVAL);
	snprintf(path, sizeof(path), "%s/dir", root);
	mk("dir");
	assert_int_equal(evidence_read_bounded(path, 64, &buf, &len, &more), -EISDIR);
	put("real", "x", 1);
	snprintf(target, sizeof(target), "%s/real", root);
	snprintf(path, sizeof(path), "%s/link", root);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(evidence_read_bounded(path, 64, &buf, &len, &more), -ELOOP);
	snprintf(path, sizeof(path), "%s/missing", root);
	assert_int_equal(evidence_read_bounded(path, 64, &buf, &len, &more), -ENOENT);
	assert_null(buf);
}

static void test_dump_sum_and_bound(void **state)
{
	char path[256];
	cJSON *o;

	put("dump", "a", 1);
	snprintf(path, sizeof(path), "%s/dump", root);
	o = evidence_dump_json(path, 1024);
	assert_string_equal(num(o, "bytes"), "1");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "complete")));
	/* FNV-1a 64 of "a", the published test vector. */
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "fnv1a64")->valuestring,
			    "af63dc4c8601ec8c");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "head")->valuestring, "61");
	cJSON_Delete(o);

	put("big", "0123456789abcdef", 16);
	snprintf(path, sizeof(path), "%s/big", root);
	o = evidence_dump_json(path, 8);
	assert_string_equal(num(o, "bytes"), "8");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "complete")));
	cJSON_Delete(o);
	o = evidence_dump_json(path, 16);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "complete")));
	cJSON_Delete(o);
}

static void test_gather_tree(void **state)
{
	const char line[] = "00000001 0000000000000001 3 last words\n";
	char target[256], link[256];
	struct evidence_source src = {.debugfs_root = root,
				      .sysfs_root = root,
				      .instance = "remoteproc0",
				      .device = "imx8mp-cm7"};
	const cJSON *t, *d;
	cJSON *o;

	mk("remoteproc");
	mk("remoteproc/remoteproc0");
	put("remoteproc/remoteproc0/trace0", line, sizeof(line) - 1);
	mk("class");
	mk("class/devcoredump");
	mk("class/devcoredump/devcd1");
	mk("class/devcoredump/devcd2");
	put("class/devcoredump/devcd1/data", "ELF", 3);
	put("class/devcoredump/devcd2/data", "other", 5);
	snprintf(target, sizeof(target), "../../devices/remoteproc0");
	snprintf(link, sizeof(link), "%s/class/devcoredump/devcd1/failing_device", root);
	assert_int_equal(symlink(target, link), 0);
	snprintf(link, sizeof(link), "%s/class/devcoredump/devcd2/failing_device", root);
	assert_int_equal(symlink("../../devices/gpu0", link), 0);

	o = evidence_gather(&src);
	t = cJSON_GetObjectItemCaseSensitive(o, "trace");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "lines")), 1);
	d = cJSON_GetObjectItemCaseSensitive(o, "devcoredumps");
	assert_int_equal(cJSON_GetArraySize(d), 1); /* the GPU's dump is not ours */
	assert_string_equal(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(d, 0), "name")->valuestring,
		"devcd1");
	assert_null(cJSON_GetObjectItemCaseSensitive(o, "devcoredumps_skipped"));
	cJSON_Delete(o);

	/* More dumps of ours than are looked at: the rest are counted. */
	for (int i = 3; i < 3 + EVIDENCE_DUMPS_MAX + 1; i++) {
		char rel[64];
		snprintf(rel, sizeof(rel), "class/devcoredump/devcd%d", i);
		mk(rel);
		snprintf(rel, sizeof(rel), "class/devcoredump/devcd%d/data", i);
		put(rel, "ELF", 3);
		snprintf(link, sizeof(link), "%s/class/devcoredump/devcd%d/failing_device", root,
			 i);
		assert_int_equal(symlink(target, link), 0);
	}
	o = evidence_gather(&src);
	d = cJSON_GetObjectItemCaseSensitive(o, "devcoredumps");
	assert_int_equal(cJSON_GetArraySize(d), EVIDENCE_DUMPS_MAX);
	assert_non_null(cJSON_GetObjectItemCaseSensitive(o, "devcoredumps_skipped"));
	assert_string_equal(num(o, "devcoredumps_skipped"), "2");
	cJSON_Delete(o);

	/* No trace file: the incident says why. */
	src.instance = "remoteproc9";
	o = evidence_gather(&src);
	t = cJSON_GetObjectItemCaseSensitive(o, "trace");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(t, "errno")->valueint, ENOENT);
	cJSON_Delete(o);
}

/* A trace0 larger than the read bound is cut and says so; the newest lines are kept only
 * if they fall within the bound, so the bound is what is checked here. */
static void test_trace_oversize(void **state)
{
	size_t n = EVIDENCE_TRACE_MAX + 100;
	char *big = malloc(n);
	struct evidence_source src = {.debugfs_root = root, .instance = "remoteproc0"};
	const cJSON *t;
	cJSON *o;

	assert_non_null(big);
	memset(big, '\n', n);
	mk("remoteproc");
	mk("remoteproc/remoteproc0");
	put("remoteproc/remoteproc0/trace0", big, n);
	free(big);
	o = evidence_gather(&src);
	t = cJSON_GetObjectItemCaseSensitive(o, "trace");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "truncated")));
	assert_int_equal(strtoull(num(t, "bytes"), NULL, 10), EVIDENCE_TRACE_MAX);
	assert_null(cJSON_GetObjectItemCaseSensitive(o, "devcoredumps"));
	cJSON_Delete(o);
}

/* trace0 opened by someone else (the privileged helper): the descriptor is read, not the
 * path, and closed; its open's error is the incident's; with no trace to read it is
 * still closed. */
static void test_trace_given(void **state)
{
	const char line[] = "00000001 0000000000000001 3 last words\n";
	char path[256];
	struct evidence_source src = {
		.debugfs_root = "/nonexistent", .instance = "remoteproc0", .trace_given = true};
	const cJSON *t;
	cJSON *o;

	put("trace", line, sizeof(line) - 1);
	snprintf(path, sizeof(path), "%s/trace", root);
	src.trace_fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(src.trace_fd >= 0);
	o = evidence_gather(&src);
	t = cJSON_GetObjectItemCaseSensitive(o, "trace");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "lines")), 1);
	assert_null(cJSON_GetObjectItemCaseSensitive(t, "error"));
	cJSON_Delete(o);
	assert_int_equal(fcntl(src.trace_fd, F_GETFD), -1);

	src.trace_fd = -EACCES;
	o = evidence_gather(&src);
	t = cJSON_GetObjectItemCaseSensitive(o, "trace");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(t, "errno")->valueint, EACCES);
	cJSON_Delete(o);

	src.debugfs_root = NULL;
	src.trace_fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(src.trace_fd >= 0);
	o = evidence_gather(&src);
	assert_null(cJSON_GetObjectItemCaseSensitive(o, "trace"));
	cJSON_Delete(o);
	assert_int_equal(fcntl(src.trace_fd, F_GETFD), -1);
}

/* Whether evidence's kernel_dropped is n. */
static bool dropped_is(const cJSON *ev, const char *n)
{
	char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(ev, "kernel_dropped"));
	bool ok = s && strcmp(s, n) == 0;

	free(s);
	return ok;
}

/* Puts one kernel line into the channel's ring as the fault intake does. */
static void kline(struct sv_chan *c, uint64_t t_us, const char *text)
{
	incident_ring_text(&c->klines, t_us, INCIDENT_KERNEL, text, strlen(text));
	c->klines_seen++;
}

/* The kernel lines after an incident began are told by their order, not the wall clock:
 * with the clock set back meanwhile (NTP stepping it at boot), they are still shown, and
 * a line from before the start stamped later (the clock went back before the start) is
 * not shown again as one after it. */
static void test_kernel_after_clock_back(void **state)
{
	struct sv_chan c;
	cJSON *ev = cJSON_CreateObject(), *k;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(incident_ring_init(&c.klines, 8), 0);
	kline(&c, 2000000, "before, stamped before the clock went back");
	kline(&c, 900000, "before");
	/* The incident begins at 1.0 s; its evidence holds the lines so far. */
	c.klines_at_inc = c.klines_seen;
	assert_non_null(cJSON_AddArrayToObject(ev, "kernel"));
	kline(&c, 500000, "after 1");
	kline(&c, 600000, "after 2");
	sv_evidence_kernel_after(&c, ev);
	k = cJSON_GetObjectItem(ev, "kernel");
	assert_int_equal(cJSON_GetArraySize(k), 2);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(k, 0), "text")->valuestring,
			    "after 1");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(k, 1), "text")->valuestring,
			    "after 2");
	assert_true(dropped_is(ev, "0"));
	/* More lines than the ring holds: the newest kept, the rest counted. */
	cJSON_Delete(ev);
	ev = cJSON_CreateObject();
	assert_non_null(cJSON_AddArrayToObject(ev, "kernel"));
	c.klines_at_inc = c.klines_seen;
	for (int i = 0; i < 11; i++)
		kline(&c, 100, "flood");
	sv_evidence_kernel_after(&c, ev);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ev, "kernel")), 8);
	assert_true(dropped_is(ev, "3"));
	cJSON_Delete(ev);
	incident_ring_clear(&c.klines);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_newest_kept),
		cmocka_unit_test(test_trace_empty),
		cmocka_unit_test_setup_teardown(test_read_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_odd_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dump_sum_and_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gather_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_oversize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_given, setup, teardown),
		cmocka_unit_test(test_kernel_after_clock_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
