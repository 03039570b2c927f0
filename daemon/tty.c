/* Owning a tty: raw, exclusive open, and naming whoever else holds it. */
#include "tty.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "utf8.h"

/* The index N of a Unix98 pty slave (/dev/pts/N: majors 136..143), or -1. */
static int pty_slave_index(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISCHR(st.st_mode))
		return -1;
	unsigned maj = major(st.st_rdev), min = minor(st.st_rdev);
	if (maj < 136 || maj > 143)
		return -1;
	return (int)((maj - 136) * 256 + min);
}

/* True when fd dir fddir holds the master of pty `index` (its fdinfo's tty-index). */
static bool holds_pty_master(const char *proc_root, long pid, const char *fddir, int index)
{
	DIR *fds = opendir(fddir);
	struct dirent *fe;
	bool found = false;
	if (!fds)
		return false;
	while (!found && (fe = readdir(fds))) {
		char link[PATH_MAX + 300], dst[64], info[PATH_MAX + 300], line[128];
		snprintf(link, sizeof(link), "%s/%s", fddir, fe->d_name);
		ssize_t n = readlink(link, dst, sizeof(dst) - 1);
		if (n <= 0)
			continue;
		dst[n] = '\0';
		if (strcmp(dst, "/dev/ptmx") != 0 && strcmp(dst, "/dev/pts/ptmx") != 0)
			continue;
		snprintf(info, sizeof(info), "%s/%ld/fdinfo/%s", proc_root, pid, fe->d_name);
		FILE *f = fopen(info, "re");
		int idx = -1;
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "tty-index: %d", &idx) == 1)
				break;
		if (f)
			fclose(f);
		/* Kernels before tty-index in fdinfo cannot say which pty: a master held
		 * beside our slave is taken as its own. */
		found = idx < 0 || idx == index;
	}
	closedir(fds);
	return found;
}

int tty_find_holder(const char *proc_root, const char *path, int *pid, char *comm, size_t comm_cap)
{
	char target[PATH_MAX];
	if (!realpath(path, target))
		return -ENOENT;
	DIR *d = opendir(proc_root);
	if (!d)
		return -ENOENT;
	int self = getpid();
	int found = -ENOENT;
	int pty = pty_slave_index(target);
	struct dirent *de;
	while (found < 0 && (de = readdir(d))) {
		char *end;
		long p = strtol(de->d_name, &end, 10);
		if (*end || p <= 0 || p == self)
			continue;
		char fddir[PATH_MAX];
		snprintf(fddir, sizeof(fddir), "%s/%ld/fd", proc_root, p);
		DIR *fds = opendir(fddir);
		if (!fds)
			continue;
		struct dirent *fe;
		while ((fe = readdir(fds))) {
			if (fe->d_name[0] == '.')
				continue;
			char link[PATH_MAX + 300], dst[PATH_MAX];
			snprintf(link, sizeof(link), "%s/%s", fddir, fe->d_name);
			ssize_t n = readlink(link, dst, sizeof(dst) - 1);
			if (n <= 0)
				continue;
			dst[n] = '\0';
			if (strcmp(dst, target) == 0) {
				found = 0;
				*pid = (int)p;
				break;
			}
		}
		closedir(fds);
		/* The process on the other end of a pty (a simulator, socat) often keeps the
		 * slave open too, so that the pty survives our reopen; it writes what we read
		 * and reads what we write through the master: a peer, not a second reader. */
		if (found == 0 && pty >= 0 && holds_pty_master(proc_root, p, fddir, pty))
			found = -ENOENT;
	}
	closedir(d);
	if (found == 0 && comm && comm_cap) {
		comm[0] = '\0';
		char cpath[PATH_MAX];
		snprintf(cpath, sizeof(cpath), "%s/%d/comm", proc_root, *pid);
		FILE *f = fopen(cpath, "re");
		char raw[64];
		if (f) {
			/* Any process may name itself anything (PR_SET_NAME): the name goes into
			 * JSON and the journal, so as one line of valid UTF-8. */
			if (fgets(raw, (int)sizeof(raw), f))
				(void)utf8_clean_line(comm, comm_cap, raw, strcspn(raw, "\n"));
			fclose(f);
		}
	}
	return found;
}

const char *tty_reason_for_errno(int err)
{
	switch (-err) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return "not_found";
	case EACCES:
	case EPERM:
		return "permission";
	case EBUSY:
	case EWOULDBLOCK:
		return "busy";
	default:
		return "open_failed";
	}
}

/* The same tty opened again through the descriptor (not the path, which may have been
 * replaced since): its own open file description, so that its reads block while the
 * first one's do not. A negative errno when /proc is not there. */
static int open_again(int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int rd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	return rd >= 0 ? rd : -errno;
}

int tty_open_exclusive(const char *path, int *out_fd, int *rd_fd, dev_t *rdev)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = 0, rd = -ENODATA; /* no second open tried */
	struct termios t;
	struct stat st;
	/* flock keeps a second m7bridged (even as root) off; TIOCEXCL keeps everyone else
	 * who does not hold CAP_SYS_ADMIN from opening it after us. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		err = errno == EWOULDBLOCK ? EBUSY : errno;
	else if (tcgetattr(fd, &t) < 0)
		err = errno;
	else {
		/* Before TIOCEXCL, which would refuse it too. */
		if (rd_fd)
			rd = open_again(fd);
		if (ioctl(fd, TIOCEXCL) < 0) {
			err = errno;
		} else {
			/* The default termios echoes, rewrites CR/LF and honours XON/XOFF. */
			cfmakeraw(&t);
			t.c_cc[VMIN] = 1;
			t.c_cc[VTIME] = 0;
			if (tcsetattr(fd, TCSANOW, &t) < 0 || fstat(fd, &st) < 0)
				err = errno;
		}
	}
	if (err) {
		if (rd >= 0)
			close(rd);
		close(fd);
		return -err;
	}
	*out_fd = fd;
	if (rd_fd)
		*rd_fd = rd;
	*rdev = st.st_rdev;
	return 0;
}
