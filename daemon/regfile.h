/* Files on disk the daemon reads (sysfs, debugfs, its state records) and the records it
 * writes: regular files only, so a FIFO or a device planted in their place cannot block
 * it, and no name planted in a directory is followed. */
#ifndef M7B_REGFILE_H
#define M7B_REGFILE_H

#include <stddef.h>

/* Opens path read-only, not following a final symbolic link: the fd, or -errno
 * (-EISDIR for a directory, -EINVAL for anything else that is not a regular file). */
int regfile_open(const char *path);

/* As regfile_open(), for a record the daemon wrote itself: also -EPERM when the file
 * belongs to another user than the process's effective one (planted, not written). */
int regfile_open_own(const char *path);

/* Replaces path with the len bytes of data atomically: a new file under an unpredictable
 * name in path's directory (created exclusively, never through a link), synced, then
 * renamed over path. A reader sees the old file or the new one. 0 or -errno. */
int regfile_replace(const char *path, const void *data, size_t len);

/* As regfile_replace(), for name in the directory dirfd. */
int regfile_replace_at(int dirfd, const char *name, const void *data, size_t len);

#endif
