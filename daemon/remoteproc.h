/* remoteproc through sysfs: find an instance, read its state, stop/start it, set its
 * firmware. The sysfs root is configurable so tests drive a fake tree in a temp dir. */
#ifndef M7B_REMOTEPROC_H
#define M7B_REMOTEPROC_H

#include <stdbool.h>
#include <stddef.h>

#define REMOTEPROC_DEFAULT_SYSFS "/sys"

/* The kernel's state strings (drivers/remoteproc/remoteproc_sysfs.c). */
enum remoteproc_state {
	REMOTEPROC_OFFLINE = 0,
	REMOTEPROC_SUSPENDED,
	REMOTEPROC_RUNNING,
	REMOTEPROC_CRASHED,
	REMOTEPROC_DELETED,
	REMOTEPROC_ATTACHED,
	REMOTEPROC_DETACHED,
	REMOTEPROC_INVALID,
	REMOTEPROC_UNKNOWN, /* anything else, e.g. a write still being processed */
};

struct remoteproc {
	char *dir;	/* <sysfs>/class/remoteproc/remoteprocN */
	char *instance; /* remoteprocN */
	char *name;	/* contents of `name`, e.g. imx-rproc */
	char *device;	/* parent device, e.g. imx8mp-cm7; "" when unknown */
};

/* Opens the instance `which` (an instance like "remoteproc0" or a `name` like
 * "imx-rproc") under sysfs_root (NULL = /sys). 0, -ENOENT, -ENOMEM. */
int remoteproc_open(const char *sysfs_root, const char *which, struct remoteproc **out);

/* Frees r (NULL is fine); returns NULL. */
struct remoteproc *remoteproc_free(struct remoteproc *r);

/* Calls fn with the name of each virtio device ("virtio0") the remoteproc registered:
 * those below its vdev devices ("remoteproc0#vdev0buffer" up to Linux 6.0,
 * "rproc-virtio.0.auto" since 6.1). How many, or -errno. */
int remoteproc_virtio_names(const struct remoteproc *r, void (*fn)(void *arg, const char *name),
			    void *arg);

/* Reads the state. 0 or -errno. */
int remoteproc_get_state(const struct remoteproc *r, enum remoteproc_state *st);

/* Writes "stop" unless already offline. 0 or -errno. */
int remoteproc_stop(const struct remoteproc *r);

/* Writes "start" unless already running or attached. 0 or -errno. */
int remoteproc_start(const struct remoteproc *r);

/* Writes a firmware file name (plain name under /lib/firmware). 0, -EINVAL, -errno
 * (-EBUSY while running, as the kernel says). */
int remoteproc_set_firmware(const struct remoteproc *r, const char *firmware);

/* Reads the firmware name into buf. 0 or -errno. */
int remoteproc_get_firmware(const struct remoteproc *r, char *buf, size_t size);

/* Kernel token for a state ("offline"); "unknown" otherwise. */
const char *remoteproc_state_to_string(enum remoteproc_state s);

/* Parses a state token (trailing newline allowed); REMOTEPROC_UNKNOWN when not one. */
enum remoteproc_state remoteproc_state_from_string(const char *s);

#endif
