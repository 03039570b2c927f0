/* Unit tests for daemon/confkey.c: every kind of row, sub-tables, and the messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "confkey.h"

struct inner {
	unsigned n;
};

struct outer {
	unsigned count, mode;
	bool on;
	char *heap;
	char buf[8], path[16], opt[16];
	int level;
	struct inner in;
};

static int set_level(void *field, const char *v, char *msg, size_t cap)
{
	if (strcmp(v, "high") != 0) {
		snprintf(msg, cap, "expected high");
		return -EINVAL;
	}
	*(int *)field = 7;
	return 0;
}

static int no_x(void *field, const char *v, char *msg, size_t cap)
{
	if (!strchr(v, 'x'))
		return 0;
	snprintf(msg, cap, "no x please");
	return -EINVAL;
}

static const struct confkey inner_keys[] = {
	{"n", CONFKEY_UINT, offsetof(struct inner, n), 1, 9, NULL, NULL},
	{NULL, 0, 0, 0, 0, NULL, NULL},
};

#define O(f) offsetof(struct outer, f)
static const struct confkey keys[] = {
	{"count", CONFKEY_UINT, O(count), 10, 20, NULL, NULL},
	{"mode", CONFKEY_OCTAL, O(mode), 0, 0777, NULL, NULL},
	{"on", CONFKEY_BOOL, O(on), 0, 0, NULL, NULL},
	{"heap", CONFKEY_STRDUP, O(heap), 0, 0, no_x, NULL},
	{"buf", CONFKEY_CHARS, O(buf), 0, sizeof(((struct outer *)0)->buf), NULL, NULL},
	{"path", CONFKEY_PATH, O(path), 0, sizeof(((struct outer *)0)->path), NULL, NULL},
	{"opt", CONFKEY_PATH_OPT, O(opt), 0, sizeof(((struct outer *)0)->opt), NULL, NULL},
	{"level", CONFKEY_FN, O(level), 0, 0, set_level, NULL},
	{"", CONFKEY_SUBTABLE, O(in), 0, 0, NULL, inner_keys},
	{NULL, 0, 0, 0, 0, NULL, NULL},
};
#undef O

static int set(struct outer *o, const char *k, const char *v, char *msg)
{
	msg[0] = '\0';
	return confkey_set(keys, o, k, v, msg, 200);
}

static void test_kinds(void **state)
{
	struct outer o = {0};
	char msg[200];

	assert_int_equal(set(&o, "count", "15", msg), 0);
	assert_int_equal(o.count, 15);
	assert_int_equal(set(&o, "count", "9", msg), -EINVAL);
	assert_string_equal(msg, "expected 10..20, got '9'");
	assert_int_equal(set(&o, "count", "-12", msg), -EINVAL);
	assert_int_equal(set(&o, "count", "12x", msg), -EINVAL);
	assert_int_equal(o.count, 15);

	assert_int_equal(set(&o, "mode", "0640", msg), 0);
	assert_int_equal(o.mode, 0640);
	assert_int_equal(set(&o, "mode", "0999", msg), -EINVAL);
	assert_non_null(strstr(msg, "octal"));

	assert_int_equal(set(&o, "on", "Yes", msg), 0);
	assert_true(o.on);
	assert_int_equal(set(&o, "on", "off", msg), 0);
	assert_false(o.on);
	assert_int_equal(set(&o, "on", "maybe", msg), -EINVAL);
	assert_string_equal(msg, "expected true or false, got 'maybe'");

	assert_int_equal(set(&o, "heap", "abc", msg), 0);
	assert_int_equal(set(&o, "heap", "def", msg), 0); /* the old copy is freed */
	assert_string_equal(o.heap, "def");
	assert_int_equal(set(&o, "heap", "xyz", msg), -EINVAL); /* the row's check */
	assert_string_equal(msg, "no x please");
	assert_string_equal(o.heap, "def");
	free(o.heap);

	assert_int_equal(set(&o, "buf", "1234567", msg), 0);
	assert_int_equal(set(&o, "buf", "12345678", msg), -EINVAL);
	assert_string_equal(msg, "longer than 7 bytes");
	assert_string_equal(o.buf, "1234567");

	assert_int_equal(set(&o, "path", "rel", msg), -EINVAL);
	assert_string_equal(msg, "must be an absolute path, got 'rel'");
	assert_int_equal(set(&o, "path", "", msg), -EINVAL);
	assert_int_equal(set(&o, "path", "/a/b", msg), 0);
	assert_string_equal(o.path, "/a/b");
	assert_int_equal(set(&o, "opt", "", msg), 0);
	assert_int_equal(set(&o, "opt", "rel", msg), -EINVAL);

	assert_int_equal(set(&o, "level", "high", msg), 0);
	assert_int_equal(o.level, 7);
	assert_int_equal(set(&o, "level", "low", msg), -EINVAL);
}

static void test_subtable_and_unknown(void **state)
{
	struct outer o = {0};
	char msg[200];

	assert_int_equal(set(&o, "n", "3", msg), 0);
	assert_int_equal(o.in.n, 3);
	assert_int_equal(set(&o, "n", "30", msg), -EINVAL);
	assert_string_equal(msg, "expected 1..9, got '30'");
	assert_int_equal(set(&o, "nope", "1", msg), -ENOENT);
	assert_int_equal(set(&o, "", "1", msg), -ENOENT); /* a sub-table row has no name */
	assert_true(confkey_known(keys, "count"));
	assert_true(confkey_known(keys, "n")); /* in the sub-table */
	assert_false(confkey_known(keys, "nope"));
	assert_false(confkey_known(keys, ""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_subtable_and_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
