/* Unit tests for daemon/rawsys.c: the plain system calls give what read() and sendmsg()
 * give, results and errno alike. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "rawsys.h"

/* Bytes read as written; an empty non-blocking pipe and a closed descriptor fail as
 * read() fails. */
static void test_read(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	assert_int_equal(write(p[1], "abcdef", 6), 6);
	char buf[16];
	assert_int_equal(rawsys_read(p[0], buf, 4), 4);
	assert_memory_equal(buf, "abcd", 4);
	assert_int_equal(rawsys_read(p[0], buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "ef", 2);
	errno = 0;
	assert_int_equal(rawsys_read(p[0], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	close(p[1]);
	assert_int_equal(rawsys_read(p[0], buf, sizeof(buf)), 0);
	close(p[0]);
	errno = 0;
	assert_int_equal(rawsys_read(p[0], buf, sizeof(buf)), -1);
	assert_int_equal(errno, EBADF);
}

/* Every segment sent in order; a peer gone and a closed descriptor fail as sendmsg()
 * fails (no SIGPIPE with MSG_NOSIGNAL). */
static void test_sendmsg(void **state)
{
	(void)state;
	int s[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	struct iovec iov[2] = {{(void *)(uintptr_t) "hello ", 6}, {(void *)(uintptr_t) "world", 5}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	assert_int_equal(rawsys_sendmsg(s[0], &mh, MSG_DONTWAIT | MSG_NOSIGNAL), 11);
	char buf[16];
	assert_int_equal(read(s[1], buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "hello world", 11);
	close(s[1]);
	errno = 0;
	assert_int_equal(rawsys_sendmsg(s[0], &mh, MSG_DONTWAIT | MSG_NOSIGNAL), -1);
	assert_int_equal(errno, EPIPE);
	close(s[0]);
	errno = 0;
	assert_int_equal(rawsys_sendmsg(s[0], &mh, MSG_DONTWAIT | MSG_NOSIGNAL), -1);
	assert_int_equal(errno, EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_sendmsg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
