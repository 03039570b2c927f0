/* read() and sendmsg() for the data path, without glibc's cancellation-point wrappers.
 *
 * Once the process has a second thread (each open tty has a writer thread), glibc wraps
 * every cancellable call in two atomic updates of the thread's cancellation state, some
 * 90 instructions: as much as a frame's bookkeeping. The daemon never cancels a thread,
 * so the data path makes the plain system call. Out of line, so that unit tests replace
 * these names (-Wl,--wrap) as they would replace read() and sendmsg(). */
#include "rawsys.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The system call itself where its instruction is known: glibc's syscall() moves all six
 * arguments into place for any call, more than the call itself takes here (the three
 * arguments arrive where the kernel wants them on x86-64 and arm64). */
#if defined(__x86_64__)
static inline long rawsys_call3(long nr, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return r;
}
#elif defined(__aarch64__)
static inline long rawsys_call3(long nr, long a, long b, long c)
{
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}
#endif

#if defined(__x86_64__) || defined(__aarch64__)
/* A kernel error as the libc call returns it. Out of line: the usual path then saves no
 * register for it. */
static __attribute__((noinline, cold)) ssize_t rawsys_fail(long r)
{
	errno = (int)-r;
	return -1;
}

/* A kernel result as the libc call returns it: an error is -4095 .. -1. */
static inline ssize_t rawsys_result(long r)
{
	if (__builtin_expect((unsigned long)r > -4096ul, 0))
		return rawsys_fail(r);
	return r;
}

ssize_t rawsys_read(int fd, void *buf, size_t n)
{
	return rawsys_result(rawsys_call3(SYS_read, fd, (long)buf, (long)n));
}

ssize_t rawsys_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	return rawsys_result(rawsys_call3(SYS_sendmsg, fd, (long)mh, flags));
}
#else
ssize_t rawsys_read(int fd, void *buf, size_t n)
{
	return syscall(SYS_read, fd, buf, n);
}

ssize_t rawsys_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	return syscall(SYS_sendmsg, fd, mh, flags);
}
#endif
