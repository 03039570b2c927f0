/* read() and sendmsg() for the data path, without glibc's cancellation-point wrappers. */
#ifndef M7B_RAWSYS_H
#define M7B_RAWSYS_H

#include <sys/socket.h>
#include <sys/types.h>

/* read(): the same results (-1 with errno on failure). */
ssize_t rawsys_read(int fd, void *buf, size_t n);
/* sendmsg(): the same results (-1 with errno on failure). */
ssize_t rawsys_sendmsg(int fd, const struct msghdr *mh, int flags);

#endif
