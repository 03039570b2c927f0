/* read() and sendmsg() for the data path, without glibc's cancellation-point wrappers.
 *
 * Once the process has a second thread (each open tty has a writer thread), glibc wraps
 * every cancellable call in two atomic updates of the thread's cancellation state, some
 * 90 instructions: as much as a frame's bookkeeping. The daemon never cancels a thread,
 * so the data path makes the plain system call. Out of line, so that unit tests replace
 * these names (-Wl,--wrap) as they would replace read() and sendmsg(). */
#include "rawsys.h"

#include <sys/syscall.h>
#include <unistd.h>

ssize_t rawsys_read(int fd, void *buf, size_t n)
{
	return syscall(SYS_read, fd, buf, n);
}

ssize_t rawsys_sendmsg(int fd, const struct msghdr *mh, int flags)
{
	return syscall(SYS_sendmsg, fd, mh, flags);
}
