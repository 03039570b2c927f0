/* Unit tests of daemon/regfile.c: only regular files are opened, a record planted by
 * another user is refused, and a record is replaced atomically without following any
 * name planted beside it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regfile.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/m7b-regfile-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t cap, const char *rel)
{
	snprintf(buf, cap, "%s/%s", root, rel);
}

static void put(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	path_of(path, sizeof(path), rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* The contents of rel (read through any link), or "" when it cannot be read. */
static const char *get(const char *rel)
{
	static char buf[256];
	char path[256];
	FILE *f;
	size_t n = 0;

	path_of(path, sizeof(path), rel);
	buf[0] = '\0';
	if ((f = fopen(path, "r"))) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static int entries(void)
{
	DIR *d = opendir(root);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."));
	closedir(d);
	return n;
}

static void test_open_kinds(void **state)
{
	char path[256], link[256];
	int fd;

	(void)state;
	put("plain", "x");
	path_of(path, sizeof(path), "plain");
	fd = regfile_open(path);
	assert_true(fd >= 0);
	close(fd);
	path_of(link, sizeof(link), "link");
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(regfile_open(link), -ELOOP);
	path_of(path, sizeof(path), "fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(regfile_open(path), -EINVAL); /* and without waiting for a writer */
	path_of(path, sizeof(path), "dir");
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(regfile_open(path), -EISDIR);
	path_of(path, sizeof(path), "none");
	assert_int_equal(regfile_open(path), -ENOENT);
}

static void test_open_own(void **state)
{
	char path[256];
	int fd;

	(void)state;
	put("mine", "x");
	path_of(path, sizeof(path), "mine");
	fd = regfile_open_own(path);
	assert_true(fd >= 0);
	close(fd);
	if (geteuid() != 0) {
		skip(); /* giving a file to another user needs root */
		return;
	}
	/* Planted by another user (a state directory others can write to). */
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(regfile_open_own(path), -EPERM);
	assert_true((fd = regfile_open(path)) >= 0); /* sysfs and debugfs files stay readable */
	close(fd);
}

static void test_replace(void **state)
{
	char path[256];
	struct stat st;

	(void)state;
	path_of(path, sizeof(path), "record");
	assert_int_equal(regfile_replace(path, "one\n", 4), 0);
	assert_string_equal(get("record"), "one\n");
	assert_int_equal(regfile_replace(path, "two\n", 4), 0);
	assert_string_equal(get("record"), "two\n");
	/* Nothing but the record is left behind. */
	assert_int_equal(entries(), 1);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 022, 0); /* nobody else writes it */
	path_of(path, sizeof(path), "no-such-dir/record");
	assert_int_equal(regfile_replace(path, "x", 1), -ENOENT);
}

/* Links planted where a writer with a predictable temporary name would write: none is
 * followed, the file they point at keeps its bytes. */
static void test_replace_planted(void **state)
{
	static const char *const names[] = {"record.tmp", ".record.tmp", "record~", "record.new"};
	char path[256], link[256], victim[256];
	struct stat st;

	(void)state;
	put("victim", "precious\n");
	path_of(victim, sizeof(victim), "victim");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_of(link, sizeof(link), names[i]);
		assert_int_equal(symlink(victim, link), 0);
	}
	path_of(path, sizeof(path), "record");
	assert_int_equal(regfile_replace(path, "mine\n", 5), 0);
	assert_string_equal(get("victim"), "precious\n");
	assert_string_equal(get("record"), "mine\n");
	/* The record itself a link: the link is replaced, not written through. */
	path_of(link, sizeof(link), "record2");
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(regfile_replace(link, "mine\n", 5), 0);
	assert_string_equal(get("victim"), "precious\n");
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISREG(st.st_mode));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_planted, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
