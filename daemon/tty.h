/* A tty the daemon owns: opened raw and exclusive, and who else holds it. Plain
 * system calls, no state. */
#ifndef M7B_TTY_H
#define M7B_TTY_H

#include <stddef.h>
#include <sys/types.h>

/* Opens path read-write, non-blocking, close-on-exec, no controlling tty; takes flock and
 * TIOCEXCL; sets raw mode (VMIN 1). 0 with *fd and *rdev, or a negative errno (-EBUSY
 * when another process holds the lock). With rd_fd, also a second, blocking, read-only
 * open of the same tty for a reader thread (made before TIOCEXCL shuts others out), or
 * in *rd_fd the negative errno of that open when there is none (not an error). */
int tty_open_exclusive(const char *path, int *fd, int *rd_fd, dev_t *rdev);
/* Finds a process other than this one holding path open; fills pid and comm. Scans
 * proc_root (normally "/proc"). A pty slave's peer (the process holding its master) is
 * not counted. 0 if found, -ENOENT if none. */
int tty_find_holder(const char *proc_root, const char *path, int *pid, char *comm, size_t comm_cap);
/* The STATE reason token for an open failure (err: a negative errno): not_found,
 * permission, busy or open_failed. */
const char *tty_reason_for_errno(int err);

#endif
