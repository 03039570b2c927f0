/* A channel named by what it is: `rpmsg = <remoteproc>:<endpoint>`, resolved through sysfs
 * to the tty node the kernel made for that rpmsg endpoint. Pure over a sysfs root. */
#ifndef M7B_RPMSGDEV_H
#define M7B_RPMSGDEV_H

#include <stddef.h>
#include <stdint.h>

#define RPMSGDEV_RPROC_MAX 64

/* What the configuration says: the remoteproc (its `name`, an index N or `remoteprocN`)
 * and the M7's endpoint address. */
struct rpmsgdev_spec {
	char rproc[RPMSGDEV_RPROC_MAX];
	int rproc_index; /* >= 0 when given as N or remoteprocN, else -1 (match by name) */
	uint32_t addr;
};

/* Parses "imx-rproc:30", "0:0x1e", "remoteproc0:30". 0 or -EINVAL. */
int rpmsgdev_parse(const char *text, struct rpmsgdev_spec *out);

/* Finds the tty node of spec under sysfs_root (normally "/sys"): the remoteproc in
 * class/remoteproc, the rpmsg device below it in bus/rpmsg/devices whose destination is
 * the endpoint, the class/tty/ttyRPMSG* whose device link leads to that rpmsg device.
 * Writes the node's name ("ttyRPMSG30") into name. 0; -ENOENT when the remoteproc, the
 * endpoint or its tty is not there (yet), with why saying which; -ENAMETOOLONG. */
int rpmsgdev_resolve(const char *sysfs_root, const struct rpmsgdev_spec *spec, char *name,
		     size_t cap, char *why, size_t why_cap);

#endif
