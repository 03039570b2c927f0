/* Regular files only: see regfile.h. */
#include "regfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int regfile_open(const char *path)
{
	struct stat st;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer before fstat() can tell. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	return fd;
}

int regfile_open_own(const char *path)
{
	struct stat st;
	int fd = regfile_open(path);

	if (fd < 0)
		return fd;
	/* A record someone else could write is not the daemon's word: a state directory
	 * that others may write to must not steer a rollback. */
	int r = fstat(fd, &st) < 0 ? -errno : st.st_uid != geteuid() ? -EPERM : 0;

	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* A new file in dirfd under an unpredictable name (O_EXCL|O_NOFOLLOW: a name planted in
 * advance is never followed or reused). The fd, or -errno. */
static int create_temp(int dirfd, const char *base, char *tmp, size_t cap)
{
	for (int tries = 0; tries < 16; tries++) {
		uint64_t rnd;
		int fd;

		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			return errno ? -errno : -EIO;
		if (snprintf(tmp, cap, ".%.64s.tmp-%016llx", base, (unsigned long long)rnd) >=
		    (int)cap)
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int regfile_replace_at(int dirfd, const char *name, const void *data, size_t len)
{
	char tmp[96];
	int fd = create_temp(dirfd, name, tmp, sizeof(tmp)), r;

	if (fd < 0)
		return fd;
	r = write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	/* rename() replaces a link at name itself; it never writes through one. */
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	/* The rename itself reaches the disk only with its directory: a board that loses
	 * power right after would otherwise come back with the old record. */
	if (r == 0)
		(void)fsync(dirfd);
	if (r < 0)
		(void)unlinkat(dirfd, tmp, 0);
	return r;
}

int regfile_replace(const char *path, const void *data, size_t len)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	int dirfd, r;

	if (!*base)
		return -EISDIR;
	if (snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1,
		     slash ? (slash == path ? "/" : path) : ".") >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	/* Temporary file and rename both through one descriptor of the directory. */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	r = regfile_replace_at(dirfd, base, data, len);
	close(dirfd);
	return r;
}
