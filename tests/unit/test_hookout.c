/* Unit tests for daemon/hookout.c: a recovery command's output cut into capped, clean log
 * lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "m7bridge/utf8.h"
#include "hookout.h"

/* What was emitted, one line after the other. */
struct seen {
	int lines;
	char last[HOOKOUT_TEXT_MAX];
	char all[8192]; /* the first lines, each followed by '\n' */
	size_t all_len;
	bool bad; /* a line that is not one line of valid UTF-8 */
};

static void on_line(void *arg, const char *text)
{
	struct seen *s = arg;
	size_t n = strlen(text);

	s->lines++;
	snprintf(s->last, sizeof(s->last), "%s", text);
	if (!m7b_utf8_valid(text, n))
		s->bad = true;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)text[i] < 0x20 && text[i] != '\t')
			s->bad = true;
	if (s->all_len + n + 1 < sizeof(s->all)) {
		memcpy(s->all + s->all_len, text, n);
		s->all[s->all_len + n] = '\n';
		s->all_len += n + 1;
		s->all[s->all_len] = '\0';
	}
}

static void run(struct hookout *h, struct seen *s, const void *buf, size_t n)
{
	memset(s, 0, sizeof(*s));
	hookout_init(h);
	hookout_feed(h, buf, n, on_line, s);
	hookout_end(h, on_line, s);
	assert_false(s->bad);
}

/* Lines as they come; the last one without a newline is a line too; no output, no line. */
static void test_lines(void **state)
{
	struct hookout h;
	struct seen s;

	(void)state;
	run(&h, &s, "one\ntwo\n", 8);
	assert_int_equal(s.lines, 2);
	assert_string_equal(s.all, "one\ntwo\n");
	run(&h, &s, "one\nlast words", 14);
	assert_int_equal(s.lines, 2);
	assert_string_equal(s.last, "last words");
	assert_int_equal(h.lost_lines, 0);
	run(&h, &s, "", 0);
	assert_int_equal(s.lines, 0);
	assert_int_equal(h.lines, 0);
	assert_int_equal(h.lost_lines, 0);
	assert_int_equal(h.lost_bytes, 0);
	/* An empty line is a line (a blank in the output); CRLF ends one like LF. */
	run(&h, &s, "a\r\n\nb\r\n", 7);
	assert_string_equal(s.all, "a\n\nb\n");
}

/* Wherever the reads cut the output, the lines are the same. */
static void test_split_reads(void **state)
{
	static const char out[] = "first\nsecond line\n\xc3\xa9t\xc3\xa9\nno newline";
	struct hookout h;
	struct seen whole, bytes;

	(void)state;
	run(&h, &whole, out, sizeof(out) - 1);
	memset(&bytes, 0, sizeof(bytes));
	hookout_init(&h);
	for (size_t i = 0; i < sizeof(out) - 1; i++)
		hookout_feed(&h, out + i, 1, on_line, &bytes);
	hookout_end(&h, on_line, &bytes);
	assert_int_equal(whole.lines, 4);
	assert_string_equal(bytes.all, whole.all);
	assert_string_equal(whole.all, "first\nsecond line\n\xc3\xa9t\xc3\xa9\nno newline\n");
}

/* Invalid UTF-8 becomes U+FFFD; escape sequences, NUL, CR inside a line and C1 controls
 * become '?': the log gets one line of text, never terminal control. */
static void test_clean(void **state)
{
	static const char out[] = "\x1b[2J\x1b[31mred\x1b[0m\n"
				  "bad \xff\xfe bytes\n"
				  "nul\0inside\n"
				  "progress 10%\rprogress 20%\n"
				  "c1 \xc2\23331m\n" /* CSI as C1 */
				  "tab\tok";
	struct hookout h;
	struct seen s;

	(void)state;
	run(&h, &s, out, sizeof(out) - 1);
	assert_int_equal(s.lines, 6);
	assert_string_equal(s.all, "?[2J?[31mred?[0m\n"
				   "bad \xef\xbf\xbd\xef\xbf\xbd bytes\n"
				   "nul?inside\n"
				   "progress 10%?progress 20%\n"
				   "c1 ?31m\n"
				   "tab\tok\n");
}

/* A line longer than HOOKOUT_LINE_MAX: its start, then how many bytes were left out. */
static void test_long_line(void **state)
{
	char out[HOOKOUT_LINE_MAX + 100], want[HOOKOUT_TEXT_MAX];
	struct hookout h;
	struct seen s;

	(void)state;
	memset(out, 'a', sizeof(out));
	out[sizeof(out) - 1] = '\n';
	run(&h, &s, out, sizeof(out));
	assert_int_equal(s.lines, 1);
	snprintf(want, sizeof(want), "%.*s\xe2\x80\xa6 (+%d bytes)", HOOKOUT_LINE_MAX, out,
		 (int)(sizeof(out) - 1 - HOOKOUT_LINE_MAX));
	assert_string_equal(s.last, want);
	/* The cut splits a two-byte character: it goes whole to the part left out. */
	memset(out, 'a', HOOKOUT_LINE_MAX - 1);
	memcpy(out + HOOKOUT_LINE_MAX - 1, "\xc3\xa9z", 3);
	run(&h, &s, out, HOOKOUT_LINE_MAX + 2);
	snprintf(want, sizeof(want), "%.*s\xe2\x80\xa6 (+3 bytes)", HOOKOUT_LINE_MAX - 1, out);
	assert_string_equal(s.last, want);
	/* A line with no end at all costs no memory: it is cut the same way. */
	memset(out, 'a', sizeof(out));
	memset(&s, 0, sizeof(s));
	hookout_init(&h);
	for (int i = 0; i < 1000; i++)
		hookout_feed(&h, out, sizeof(out), on_line, &s);
	hookout_end(&h, on_line, &s);
	assert_int_equal(s.lines, 1);
	snprintf(want, sizeof(want), "%.*s\xe2\x80\xa6 (+%d bytes)", HOOKOUT_LINE_MAX, out,
		 (int)(1000 * sizeof(out)) - HOOKOUT_LINE_MAX);
	assert_string_equal(s.last, want);
}

/* A flood: the first HOOKOUT_MAX_LINES lines are logged, the rest only counted, with
 * their bytes, also a last line without a newline. */
static void test_cap_lines(void **state)
{
	const int total = 5000;
	size_t cap = 80000, n = 0;
	char *out = malloc(cap), want[64];
	uint64_t lost = 0;
	struct hookout h;
	struct seen s;

	(void)state;
	assert_non_null(out);
	for (int i = 1; i <= total; i++) {
		int k = snprintf(out + n, cap - n, i < total ? "line %d\n" : "line %d", i);
		if (i > HOOKOUT_MAX_LINES)
			lost += (uint64_t)k;
		n += (size_t)k;
	}
	run(&h, &s, out, n);
	assert_int_equal(s.lines, HOOKOUT_MAX_LINES);
	snprintf(want, sizeof(want), "line %d", HOOKOUT_MAX_LINES);
	assert_string_equal(s.last, want);
	assert_int_equal(h.lost_lines, total - HOOKOUT_MAX_LINES);
	assert_int_equal(h.lost_bytes, lost);
	free(out);
}

/* Long lines reach HOOKOUT_MAX_BYTES first; once a line is refused, a short one after it
 * is refused too: what is logged is the output's start, without holes. */
static void test_cap_bytes(void **state)
{
	const int len = 200, total = 300;
	char line[201];
	struct hookout h;
	struct seen s;
	int logged = HOOKOUT_MAX_BYTES / (len - 1);

	(void)state;
	assert_true(logged < HOOKOUT_MAX_LINES);
	memset(line, 'b', sizeof(line));
	line[len - 1] = '\n';
	memset(&s, 0, sizeof(s));
	hookout_init(&h);
	for (int i = 0; i < total; i++)
		hookout_feed(&h, line, (size_t)len, on_line, &s);
	hookout_feed(&h, "short\n", 6, on_line, &s);
	hookout_end(&h, on_line, &s);
	assert_int_equal(s.lines, logged);
	assert_int_equal(h.bytes, (uint64_t)logged * (len - 1));
	assert_int_equal(h.lost_lines, total - logged + 1);
	assert_int_equal(h.lost_bytes, (uint64_t)(total - logged) * len + 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),	  cmocka_unit_test(test_split_reads),
		cmocka_unit_test(test_clean),	  cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_cap_lines), cmocka_unit_test(test_cap_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
