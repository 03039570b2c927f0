/* Opening files the daemon reads but does not own (sysfs, debugfs, its state records):
 * regular files only, so a FIFO or a device planted in their place cannot block it. */
#ifndef M7B_REGFILE_H
#define M7B_REGFILE_H

/* Opens path read-only, not following a final symbolic link: the fd, or -errno
 * (-EISDIR for a directory, -EINVAL for anything else that is not a regular file). */
int regfile_open(const char *path);

#endif
