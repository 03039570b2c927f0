/* remoteproc sysfs access: instance lookup, state, start/stop, firmware. Blocking
 * writes: the kernel finishes stop/start inside write(), which is short next to a
 * recovery step; callers then read the state back. */
#include "remoteproc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recovery.h"
#include "macro.h"

static const char *const state_names[] = {
	[REMOTEPROC_OFFLINE] = "offline",   [REMOTEPROC_SUSPENDED] = "suspended",
	[REMOTEPROC_RUNNING] = "running",   [REMOTEPROC_CRASHED] = "crashed",
	[REMOTEPROC_DELETED] = "deleted",   [REMOTEPROC_ATTACHED] = "attached",
	[REMOTEPROC_DETACHED] = "detached", [REMOTEPROC_INVALID] = "invalid",
	[REMOTEPROC_UNKNOWN] = "unknown",
};

DEFINE_STRING_TABLE_LOOKUP(remoteproc_state, enum remoteproc_state, state_names)

enum remoteproc_state remoteproc_state_from_string(const char *s)
{
	size_t len;
	int i;

	if (!s)
		return REMOTEPROC_UNKNOWN;
	len = strcspn(s, "\n");
	for (i = 0; i < REMOTEPROC_UNKNOWN; i++)
		if (strlen(state_names[i]) == len && strncmp(s, state_names[i], len) == 0)
			return (enum remoteproc_state)i;
	return REMOTEPROC_UNKNOWN;
}

/* Reads a small attribute, newline stripped; -EOVERFLOW when it does not fit (a firmware
 * name cut short would name another file). */
static int read_attr(const char *dir, const char *attr, char *buf, size_t size)
{
	char path[PATH_MAX], extra[2];
	ssize_t n, m = 0;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, attr) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n == (ssize_t)size - 1)
		m = read(fd, extra, sizeof(extra)); /* only the newline may be left */
	if (n < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	close(fd);
	if (m > 1 || (m == 1 && extra[0] != '\n'))
		return -EOVERFLOW;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Writes an attribute in one write(), as sysfs wants; the kernel's error comes back. */
static int write_attr(const char *dir, const char *attr, const char *value)
{
	char path[PATH_MAX];
	size_t len = strlen(value);
	ssize_t n;
	int fd, e = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, attr) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* O_TRUNC is ignored by sysfs and keeps a fake tree's regular file exact. */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, len);
	if (n < 0)
		e = -errno;
	else if ((size_t)n != len)
		e = -EIO;
	if (close(fd) < 0 && e == 0)
		e = -errno;
	return e;
}

static int fill(struct remoteproc *r, const char *class_dir, const char *instance)
{
	char buf[256], link[PATH_MAX], path[PATH_MAX];
	ssize_t n;

	if (asprintf(&r->dir, "%s/%s", class_dir, instance) < 0) {
		r->dir = NULL;
		return -ENOMEM;
	}
	r->instance = strdup(instance);
	if (read_attr(r->dir, "name", buf, sizeof(buf)) < 0)
		buf[0] = '\0';
	r->name = strdup(buf);
	/* device -> ../../../<bus path>/imx8mp-cm7: its basename is the dev_printk name. */
	snprintf(path, sizeof(path), "%s/device", r->dir);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		r->device = strdup(strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	} else {
		r->device = strdup("");
	}
	if (!r->instance || !r->name || !r->device)
		return -ENOMEM;
	return 0;
}

int remoteproc_open(const char *sysfs_root, const char *which, struct remoteproc **out)
{
	char class_dir[PATH_MAX], buf[256];
	struct remoteproc *r;
	struct dirent *de;
	DIR *d;
	int ret = -ENOENT;

	*out = NULL;
	if (!which || !*which || strchr(which, '/'))
		return -EINVAL;
	if (snprintf(class_dir, sizeof(class_dir), "%s/class/remoteproc",
		     sysfs_root ? sysfs_root : REMOTEPROC_DEFAULT_SYSFS) >= (int)sizeof(class_dir))
		return -ENAMETOOLONG;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	d = opendir(class_dir);
	if (!d) {
		ret = -errno;
		free(r);
		return ret;
	}
	/* An instance name wins; otherwise the first instance whose `name` matches. */
	while ((de = readdir(d))) {
		char dir[PATH_MAX];

		if (strncmp(de->d_name, "remoteproc", 10) != 0)
			continue;
		if (strcmp(de->d_name, which) == 0) {
			ret = fill(r, class_dir, de->d_name);
			break;
		}
		if (snprintf(dir, sizeof(dir), "%s/%s", class_dir, de->d_name) >= (int)sizeof(dir))
			continue;
		if (ret == -ENOENT && read_attr(dir, "name", buf, sizeof(buf)) == 0 &&
		    strcmp(buf, which) == 0 && !r->dir)
			ret = fill(r, class_dir, de->d_name);
	}
	closedir(d);
	if (ret < 0 || !r->dir) {
		remoteproc_free(r);
		return ret < 0 ? ret : -ENOENT;
	}
	*out = r;
	return 0;
}

/* "virtio" and digits. */
static bool is_virtio_name(const char *s)
{
	if (strncmp(s, "virtio", 6) != 0 || !s[6])
		return false;
	for (s += 6; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int remoteproc_virtio_names(const struct remoteproc *r, void (*fn)(void *arg, const char *name),
			    void *arg)
{
	DIR *d = opendir(r->dir), *sub;
	struct dirent *de, *ve;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!(sub = fdopendir(fd))) {
			close(fd);
			continue;
		}
		while ((ve = readdir(sub))) {
			struct stat st;
			if (is_virtio_name(ve->d_name) && fstatat(fd, ve->d_name, &st, 0) == 0 &&
			    S_ISDIR(st.st_mode)) {
				fn(arg, ve->d_name);
				n++;
			}
		}
		closedir(sub);
	}
	closedir(d);
	return n;
}

struct remoteproc *remoteproc_free(struct remoteproc *r)
{
	if (!r)
		return NULL;
	free(r->dir);
	free(r->instance);
	free(r->name);
	free(r->device);
	free(r);
	return NULL;
}

int remoteproc_get_state(const struct remoteproc *r, enum remoteproc_state *st)
{
	char buf[64];
	int ret = read_attr(r->dir, "state", buf, sizeof(buf));

	if (ret < 0)
		return ret;
	*st = remoteproc_state_from_string(buf);
	return 0;
}

int remoteproc_stop(const struct remoteproc *r)
{
	enum remoteproc_state st;
	int ret = remoteproc_get_state(r, &st);

	if (ret < 0)
		return ret;
	/* Writing "stop" to an offline rproc gives -EINVAL: that is already done. */
	if (st == REMOTEPROC_OFFLINE)
		return 0;
	return write_attr(r->dir, "state", "stop");
}

int remoteproc_start(const struct remoteproc *r)
{
	enum remoteproc_state st;
	int ret = remoteproc_get_state(r, &st);

	if (ret < 0)
		return ret;
	if (st == REMOTEPROC_RUNNING || st == REMOTEPROC_ATTACHED)
		return 0;
	return write_attr(r->dir, "state", "start");
}

int remoteproc_set_firmware(const struct remoteproc *r, const char *firmware)
{
	if (!recovery_firmware_name_ok(firmware))
		return -EINVAL;
	return write_attr(r->dir, "firmware", firmware);
}

int remoteproc_get_firmware(const struct remoteproc *r, char *buf, size_t size)
{
	if (size == 0)
		return -EINVAL;
	return read_attr(r->dir, "firmware", buf, size);
}
