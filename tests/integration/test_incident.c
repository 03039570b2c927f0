/* Tests for daemon/incident.c: the RAM ring, incident files in a bounded temp dir, the
 * list for `incidents`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "incident.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/m7b-incident-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_ring(void **state)
{
	struct incident_ring r;
	int i;

	(void)state;
	assert_int_equal(incident_ring_init(&r, 0), -EINVAL);
	assert_int_equal(incident_ring_init(&r, 4), 0);
	assert_null(incident_ring_at(&r, 0));
	/* A FRAME entry over a text one: every member it uses set. */
	incident_ring_text(&r, 50, INCIDENT_NOTE, "note", 4);
	incident_ring_frame(&r, 51,
			    &(struct m7b_frame){.ver = 9,
						.type = 3,
						.port = 200,
						.flags = 0x81,
						.seq = 0x12345678,
						.len = 513});
	assert_int_equal(incident_ring_len(&r), 2);
	const struct incident_entry *e = incident_ring_at(&r, 1);
	assert_int_equal(e->t_us, 51);
	assert_int_equal(e->kind, INCIDENT_FRAME);
	assert_int_equal(e->type, 3);
	assert_int_equal(e->port, 200);
	assert_int_equal(e->flags, 0x81);
	assert_int_equal(e->seq, 0x12345678);
	assert_int_equal(e->len, 513);
	assert_string_equal(incident_ring_at(&r, 0)->text, "note");
	assert_null(incident_ring_at(&r, 2));
	for (i = 0; i < 6; i++)
		incident_ring_frame(
			&r, 100 + i,
			&(struct m7b_frame){.type = 2, .port = 1, .flags = 0, .seq = i, .len = 10});
	assert_int_equal(incident_ring_len(&r), 4);
	assert_int_equal(incident_ring_at(&r, 0)->seq, 2);
	assert_int_equal(incident_ring_at(&r, 3)->seq, 5);
	assert_null(incident_ring_at(&r, 4));
	incident_ring_text(&r, 200, INCIDENT_KERNEL, "a\nb\x01", 4);
	assert_string_equal(incident_ring_at(&r, 3)->text, "a?b?");
	assert_int_equal(incident_ring_at(&r, 3)->kind, INCIDENT_KERNEL);
	char big[500];
	memset(big, 'z', sizeof(big));
	incident_ring_text(&r, 201, INCIDENT_NOTE, big, sizeof(big));
	assert_int_equal(strlen(incident_ring_at(&r, 3)->text), INCIDENT_TEXT_MAX - 1);
	/* Kept valid UTF-8 (the text goes into JSON): a character the cut would split is
	 * left out whole, an invalid byte becomes U+FFFD. */
	memset(big, 'z', sizeof(big));
	memcpy(big + INCIDENT_TEXT_MAX - 2, "\xc3\xa9", 2);
	incident_ring_text(&r, 202, INCIDENT_KERNEL, big, sizeof(big));
	assert_int_equal(strlen(incident_ring_at(&r, 3)->text), INCIDENT_TEXT_MAX - 2);
	incident_ring_text(&r, 203, INCIDENT_KERNEL, "a\xff\xc3\xa9", 4);
	assert_string_equal(incident_ring_at(&r, 3)->text, "a\xef\xbf\xbd\xc3\xa9");
	incident_ring_clear(&r);
	assert_int_equal(incident_ring_len(&r), 0);
	/* A ring without room (cleared, or its allocation failed) records nothing. */
	incident_ring_frame(&r, 300, &(struct m7b_frame){.type = 2});
	incident_ring_text(&r, 301, INCIDENT_NOTE, "x", 1);
	assert_int_equal(incident_ring_len(&r), 0);
	assert_null(incident_ring_at(&r, 0));
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void test_write_and_list(void **state)
{
	struct incident_store *s;
	struct incident_ring r;
	struct incident *inc;
	struct incident_step steps[] = {{"resync", -ETIMEDOUT, 2000, "deaf"},
					{"remoteproc", 0, 812, NULL}};
	cJSON *counters = cJSON_CreateObject(), *list, *it, *full;
	char path[256], *text;

	(void)state;
	assert_int_equal(incident_ring_init(&r, 32), 0);
	assert_int_equal(incident_store_new(dir, geteuid(), 10, 0, &s), 0);
	assert_int_equal(s->next_seq, 1);
	incident_ring_frame(
		&r, 1763740000000000ull,
		&(struct m7b_frame){.type = 3, .port = 0, .flags = 0, .seq = 41, .len = 8});
	incident_ring_text(&r, 1763740000000100ull, INCIDENT_KERNEL,
			   "imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)", 57);
	inc = incident_open(s, &r, "m7", "kick_timeout", "kernel",
			    "imx_rproc_kick: failed (1, err:-62)", 1763740000000200ull);
	assert_non_null(inc);
	incident_ring_text(&r, 1763740000500000ull, INCIDENT_STATE, "recovering", 10);
	incident_ring_frame(
		&r, 1763740002500000ull,
		&(struct m7b_frame){.type = 1, .port = 0, .flags = 0, .seq = 0, .len = 20});
	cJSON_AddNumberToObject(counters, "frames", 42);
	assert_int_equal(
		incident_close(s, inc, &r, "recovered", steps, 2, counters, 1763740002500000ull),
		0);

	snprintf(path, sizeof(path), "%s/incident-000001-m7.json", dir);
	text = slurp(path);
	/* large integers are plain integers */
	assert_non_null(strstr(text, "\"start_us\":1763740000000200"));
	assert_non_null(strstr(text, "\"end_us\":1763740002500000"));
	full = cJSON_Parse(text);
	free(text);
	assert_non_null(full);
	assert_string_equal(cJSON_GetObjectItem(full, "outcome")->valuestring, "recovered");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(full, "before")), 2);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(full, "after")), 2);
	it = cJSON_GetArrayItem(cJSON_GetObjectItem(full, "steps"), 0);
	assert_string_equal(cJSON_GetObjectItem(it, "result")->valuestring, "timeout");
	assert_string_equal(cJSON_GetObjectItem(it, "why")->valuestring, "deaf");
	it = cJSON_GetArrayItem(cJSON_GetObjectItem(full, "steps"), 1);
	assert_null(cJSON_GetObjectItem(it, "why")); /* nothing to say: no member */
	assert_int_equal(
		cJSON_GetObjectItem(cJSON_GetObjectItem(full, "counters"), "frames")->valueint, 42);
	assert_int_equal(cJSON_GetObjectItem(full, "duration_ms")->valueint, 2499);
	cJSON_Delete(full);

	/* A second, open incident on another channel. */
	inc = incident_open(s, &r, "m7b", "stall", "liveness", NULL, 1763740009000000ull);
	it = incident_summary_open(inc, NULL, 0);
	text = cJSON_PrintUnformatted(it);
	assert_non_null(strstr(text, "\"outcome\":\"open\""));
	assert_non_null(strstr(text, "\"seq\":2"));
	free(text);
	cJSON_Delete(it);
	assert_int_equal(incident_close(s, inc, &r, "failed", NULL, 0, NULL, 1763740019000000ull),
			 0);

	list = incident_list(s, NULL);
	assert_int_equal(cJSON_GetArraySize(list), 2);
	text = cJSON_PrintUnformatted(list);
	assert_non_null(strstr(text, "\"start_us\":1763740000000200"));
	assert_null(strstr(text, "e+"));
	free(text);
	cJSON_Delete(list);
	list = incident_list(s, "m7b");
	assert_int_equal(cJSON_GetArraySize(list), 1);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "kind")->valuestring,
			    "stall");
	cJSON_Delete(list);

	/* A fresh store continues the numbering; garbage files are ignored. */
	incident_store_free(s);
	snprintf(path, sizeof(path), "%s/incident-000007-x.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{not json", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/unrelated.txt", dir);
	f = fopen(path, "w");
	fputs("x", f);
	fclose(f);
	assert_int_equal(incident_store_new(dir, geteuid(), 10, 0, &s), 0);
	assert_int_equal(s->next_seq, 8);
	list = incident_list(s, NULL);
	assert_int_equal(cJSON_GetArraySize(list), 2);
	cJSON_Delete(list);
	incident_store_free(s);
	incident_ring_clear(&r);
}

/* The cap that keeps an incident under continuous faults from staying open for ever:
 * its age (monotonic) or the faults it took in; the file says how many, and what the
 * next one continues. */
/* An integer member as the daemon writes it (raw, never a double), or -1 if absent. */
static long long member_u(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);

	if (cJSON_IsRaw(v))
		return strtoll(v->valuestring, NULL, 10);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

static void test_cap(void **state)
{
	struct incident_store *s;
	struct incident_ring r;
	struct incident *inc;
	cJSON *list, *it;
	int i;

	(void)state;
	assert_int_equal(incident_ring_init(&r, 8), 0);
	assert_int_equal(incident_store_new(dir, geteuid(), 10, 0, &s), 0);
	inc = incident_open(s, &r, "m7", "kick_timeout", "kernel", NULL, 1000);
	assert_non_null(inc);
	assert_int_equal(inc->events, 1);
	inc->open_ms = 5000;
	for (i = 1; i < INCIDENT_MAX_EVENTS; i++) {
		assert_false(incident_full(inc, 5000));
		assert_true(incident_extend(inc, 5000 + (uint64_t)i));
	}
	assert_int_equal(inc->events, INCIDENT_MAX_EVENTS);
	assert_false(incident_extend(inc, 5000 + (uint64_t)i));
	assert_true(incident_full(inc, 5000));
	assert_int_equal(inc->events, INCIDENT_MAX_EVENTS);
	assert_int_equal(incident_close(s, inc, &r, "continued", NULL, 0, NULL, 2000), 0);

	/* Its age: a fault at the cap is refused, one before it taken. */
	inc = incident_open(s, &r, "m7", "kick_timeout", "kernel", NULL, 3000);
	inc->open_ms = 5000;
	inc->continues = 1;
	assert_true(incident_extend(inc, 5000 + INCIDENT_MAX_MS - 1));
	assert_false(incident_full(inc, 5000 + INCIDENT_MAX_MS - 1));
	assert_true(incident_full(inc, 5000 + INCIDENT_MAX_MS));
	assert_false(incident_extend(inc, 5000 + INCIDENT_MAX_MS));
	assert_int_equal(inc->events, 2);
	it = incident_summary_open(inc, NULL, 0);
	assert_int_equal(member_u(it, "continues"), 1);
	assert_int_equal(member_u(it, "events"), 2);
	cJSON_Delete(it);
	assert_int_equal(incident_close(s, inc, &r, "failed", NULL, 0, NULL, 4000), 0);

	list = incident_list(s, NULL);
	assert_int_equal(cJSON_GetArraySize(list), 2);
	it = cJSON_GetArrayItem(list, 0);
	assert_string_equal(cJSON_GetObjectItem(it, "outcome")->valuestring, "continued");
	assert_int_equal(member_u(it, "events"), INCIDENT_MAX_EVENTS);
	assert_null(cJSON_GetObjectItem(it, "continues"));
	it = cJSON_GetArrayItem(list, 1);
	assert_int_equal(member_u(it, "continues"), 1);
	assert_int_equal(member_u(it, "events"), 2);
	cJSON_Delete(list);
	incident_store_free(s);
	incident_ring_clear(&r);
}

/* The wall clock set back while an incident was open: its duration is the monotonic
 * clock's, and never a negative number printed as a huge one. */
static void test_clock_set_back(void **state)
{
	struct incident_store *s;
	struct incident_ring r;
	struct incident *inc;
	cJSON *list;

	(void)state;
	assert_int_equal(incident_ring_init(&r, 8), 0);
	assert_int_equal(incident_store_new(dir, geteuid(), 10, 0, &s), 0);
	inc = incident_open(s, &r, "m7", "stall", "liveness", NULL, 1763740005000000ull);
	inc->open_ms = 1000;
	inc->close_ms = 3500;
	assert_int_equal(
		incident_close(s, inc, &r, "recovered", NULL, 0, NULL, 1763740001000000ull), 0);
	/* Without the monotonic clock: 0, not 2^64 - 4000. */
	inc = incident_open(s, &r, "m7", "stall", "liveness", NULL, 1763740005000000ull);
	assert_int_equal(
		incident_close(s, inc, &r, "recovered", NULL, 0, NULL, 1763740001000000ull), 0);
	list = incident_list(s, NULL);
	assert_int_equal(cJSON_GetArraySize(list), 2);
	assert_int_equal(member_u(cJSON_GetArrayItem(list, 0), "duration_ms"), 2500);
	assert_int_equal(member_u(cJSON_GetArrayItem(list, 1), "duration_ms"), 0);
	cJSON_Delete(list);
	incident_store_free(s);
	incident_ring_clear(&r);
}

/* Names in the directory that only look like ours (a sign, a blank, more digits than a
 * sequence number can have) neither wrap the numbering nor hide the next incidents. */
static void test_foreign_names(void **state)
{
	static const char *const names[] = {
		"incident--1-m7.json",
		"incident-18446744073709551615-m7.json",
		"incident-99999999999999999999999-m7.json",
		"incident- 9-m7.json",
		"incident-+9-m7.json",
		"incident-000004-m7.json",
	};
	struct incident_store *s;
	struct incident_ring r;
	struct incident *inc;
	char path[300];
	cJSON *list;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs("{\"seq\":1,\"channel\":\"m7\"}\n", f);
		fclose(f);
	}
	assert_int_equal(incident_ring_init(&r, 8), 0);
	assert_int_equal(incident_store_new(dir, geteuid(), 100, 0, &s), 0);
	assert_int_equal(s->next_seq, 5);
	inc = incident_open(s, &r, "m7", "stall", "liveness", NULL, 1000);
	assert_int_equal(inc->seq, 5);
	assert_int_equal(incident_close(s, inc, &r, "recovered", NULL, 0, NULL, 2000), 0);
	list = incident_list(s, NULL);
	/* Ours: 4 and 5, the newest last. */
	assert_int_equal(cJSON_GetArraySize(list), 2);
	assert_int_equal(member_u(cJSON_GetArrayItem(list, 1), "seq"), 5);
	cJSON_Delete(list);
	incident_store_free(s);
	incident_ring_clear(&r);
}

/* What came after the fault: the entries written since the open, even with the wall
 * clock set back meanwhile; those the ring let go before the close are counted. */
static void test_after_dropped(void **state)
{
	struct incident_store *s;
	struct incident_ring r;
	struct incident *inc;
	char path[256], *text;
	cJSON *full, *after;

	(void)state;
	assert_int_equal(incident_ring_init(&r, 8), 0);
	assert_int_equal(incident_store_new(dir, geteuid(), 10, 0, &s), 0);
	for (uint32_t i = 0; i < 5; i++)
		incident_ring_frame(&r, 1000 + i, &(struct m7b_frame){.type = 2, .seq = i});
	inc = incident_open(s, &r, "m7", "stall", "liveness", NULL, 2000);
	/* 20 more, stamped before the open: the wall clock went back. */
	for (uint32_t i = 5; i < 25; i++)
		incident_ring_frame(&r, 500 + i, &(struct m7b_frame){.type = 2, .seq = i});
	assert_int_equal(incident_close(s, inc, &r, "recovered", NULL, 0, NULL, 3000), 0);
	snprintf(path, sizeof(path), "%s/incident-000001-m7.json", dir);
	text = slurp(path);
	full = cJSON_Parse(text);
	free(text);
	assert_non_null(full);
	after = cJSON_GetObjectItem(full, "after");
	assert_int_equal(cJSON_GetArraySize(after), 8);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(after, 0), "seq")->valueint, 17);
	assert_int_equal(member_u(full, "after_dropped"), 12);
	cJSON_Delete(full);

	/* Fewer than the ring holds: only those after the open, none dropped. */
	inc = incident_open(s, &r, "m7", "stall", "liveness", NULL, 4000);
	incident_ring_frame(&r, 4001, &(struct m7b_frame){.type = 2, .seq = 99});
	assert_int_equal(incident_close(s, inc, &r, "recovered", NULL, 0, NULL, 5000), 0);
	snprintf(path, sizeof(path), "%s/incident-000002-m7.json", dir);
	text = slurp(path);
	full = cJSON_Parse(text);
	free(text);
	after = cJSON_GetObjectItem(full, "after");
	assert_int_equal(cJSON_GetArraySize(after), 1);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(after, 0), "seq")->valueint, 99);
	assert_int_equal(member_u(full, "after_dropped"), 0);
	cJSON_Delete(full);
	incident_store_free(s);
	incident_ring_clear(&r);
}

static int count_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d)))
		if (strncmp(de->d_name, "incident-", 9) == 0)
			n++;
	closedir(d);
	return n;
}

/* An incident's detail goes into JSON: a kernel line cut inside a character, or with
 * bytes that are not UTF-8, is kept valid UTF-8 (cut before the character, U+FFFD). */
static void test_detail_utf8(void **state)
{
	struct incident_store *s;
	struct incident_ring r;
	char line[2 * INCIDENT_TEXT_MAX];

	(void)state;
	assert_int_equal(incident_ring_init(&r, 4), 0);
	assert_int_equal(incident_store_new(dir, geteuid(), 10, 0, &s), 0);
	memset(line, 'k', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line + INCIDENT_TEXT_MAX - 2, "\xc3\xa9", 2);
	struct incident *inc = incident_open(s, &r, "m7", "rproc_crashed", "kernel", line, 1);
	assert_non_null(inc);
	assert_int_equal(strlen(inc->detail), INCIDENT_TEXT_MAX - 2);
	assert_int_equal(incident_close(s, inc, &r, "failed", NULL, 0, NULL, 2), 0);
	inc = incident_open(s, &r, "m7", "rproc_crashed", "kernel", "in \xff\xc3\xa9", 3);
	assert_non_null(inc);
	assert_string_equal(inc->detail, "in \xef\xbf\xbd\xc3\xa9");
	assert_int_equal(incident_close(s, inc, &r, "failed", NULL, 0, NULL, 4), 0);
	incident_store_free(s);
	incident_ring_clear(&r);
}

static void test_bounds(void **state)
{
	struct incident_store *s;
	struct incident_ring r;
	cJSON *list;
	int i;

	(void)state;
	assert_int_equal(incident_ring_init(&r, 8), 0);
	assert_int_equal(incident_store_new(dir, geteuid(), 3, 0, &s), 0);
	for (i = 0; i < 5; i++) {
		struct incident *inc =
			incident_open(s, &r, "m7", "stall", "liveness", NULL, 1000 + i);
		assert_int_equal(incident_close(s, inc, &r, "recovered", NULL, 0, NULL, 2000 + i),
				 0);
	}
	assert_int_equal(count_files(), 3);
	list = incident_list(s, NULL);
	/* the oldest went first */
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "seq")->valueint, 3);
	cJSON_Delete(list);
	incident_store_free(s);

	/* byte bound: 2.5 files' worth of bytes keeps exactly the 2 newest */
	struct stat st;
	char path[256];
	snprintf(path, sizeof(path), "%s/incident-000005-m7.json", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(incident_store_new(dir, geteuid(), 100, (uint64_t)st.st_size * 5 / 2, &s),
			 0);
	for (i = 0; i < 4; i++) {
		struct incident *inc =
			incident_open(s, &r, "m7", "stall", "liveness", NULL, 1000 + i);
		assert_int_equal(incident_close(s, inc, &r, "recovered", NULL, 0, NULL, 2000 + i),
				 0);
	}
	assert_int_equal(count_files(), 2);
	list = incident_list(s, NULL);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "seq")->valueint, 8);
	cJSON_Delete(list);
	incident_store_free(s);
	incident_ring_clear(&r);

	assert_int_equal(incident_store_new("", geteuid(), 1, 0, &s), -EINVAL);
	assert_int_equal(incident_store_new("/nonexistent-m7b/x/y", geteuid(), 1, 0, &s), -ENOENT);
	assert_null(incident_store_free(NULL));
	incident_discard(NULL);
	assert_string_equal(incident_result_to_string(-EIO), "failed");
	assert_string_equal(incident_result_to_string(1), "running");
	assert_string_equal(incident_entry_kind_to_string(INCIDENT_STEP), "step");
}

/* A file outside the store that nobody but its owner may read or change. */
static void make_victim(char *victim, size_t cap, const char *text)
{
	FILE *f;

	snprintf(victim, cap, "%s.victim", dir);
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(victim, 0600), 0);
}

/* A group- or world-writable directory, another owner, or a symlink is refused. */
static void test_unsafe_dir(void **state)
{
	struct incident_store *s = NULL;
	char link[128];

	(void)state;
	assert_int_equal(chmod(dir, 0770), 0);
	assert_int_equal(incident_store_new(dir, geteuid(), 10, 0, &s), -EPERM);
	assert_int_equal(chmod(dir, 0757), 0);
	assert_int_equal(incident_store_new(dir, geteuid(), 10, 0, &s), -EPERM);
	assert_int_equal(chmod(dir, 0750), 0);
	assert_int_equal(incident_store_new(dir, geteuid() + 1, 10, 0, &s), -EPERM);
	snprintf(link, sizeof(link), "%s.link", dir);
	assert_int_equal(symlink(dir, link), 0);
	assert_int_equal(incident_store_new(link, geteuid(), 10, 0, &s), -ENOTDIR);
	unlink(link);
	assert_null(s);
	/* Made unsafe after opening: the check on reload sees it. */
	assert_int_equal(incident_store_new(dir, geteuid(), 10, 0, &s), 0);
	assert_int_equal(incident_store_check(s), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(incident_store_check(s), -EPERM);
	assert_int_equal(chmod(dir, 0700), 0);
	incident_store_free(s);
}

/* Links planted at every name the writer used to pick are never followed, and a link to
 * someone else's file is never served by `incidents`. */
static void test_planted_links(void **state)
{
	struct incident_store *s;
	struct incident_ring r;
	char victim[128], path[256], *text;
	cJSON *list;

	(void)state;
	make_victim(victim, sizeof(victim), "{\"seq\":5,\"channel\":\"m7\",\"kind\":\"secret\"}");
	assert_int_equal(incident_ring_init(&r, 8), 0);
	assert_int_equal(incident_store_new(dir, geteuid(), 10, 0, &s), 0);
	for (int i = 1; i <= 3; i++) {
		snprintf(path, sizeof(path), "%s/.incident-tmp-%06d", dir, i);
		assert_int_equal(symlink(victim, path), 0);
	}
	struct incident *inc = incident_open(s, &r, "m7", "stall", "liveness", NULL, 1000);
	assert_int_equal(incident_close(s, inc, &r, "recovered", NULL, 0, NULL, 2000), 0);
	text = slurp(victim);
	assert_string_equal(text, "{\"seq\":5,\"channel\":\"m7\",\"kind\":\"secret\"}");
	free(text);
	snprintf(path, sizeof(path), "%s/incident-000005-m7.json", dir);
	assert_int_equal(symlink(victim, path), 0);
	list = incident_list(s, NULL);
	assert_int_equal(cJSON_GetArraySize(list), 1);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "kind")->valuestring,
			    "stall");
	cJSON_Delete(list);
	incident_store_free(s);
	incident_ring_clear(&r);
	unlink(victim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring),
		cmocka_unit_test_setup_teardown(test_write_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detail_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clock_set_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_after_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsafe_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_planted_links, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
