/* rpmsg endpoint -> tty node through sysfs. Re-run at every open: mainline rpmsg_tty
 * numbers its nodes ttyRPMSG0.. in probe order, so a remoteproc restart may renumber them,
 * while NXP's imx_rpmsg_tty names the node after the endpoint. Both link the tty's device
 * back to the rpmsg device, which is what this follows. */
#include "rpmsgdev.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The endpoint address: decimal, or hex after 0x. Not strtoul's base 0, which reads a
 * leading 0 as octal ("030" would be endpoint 24) and takes blanks and signs. */
static int parse_addr(const char *a, uint32_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (a[0] == '0' && (a[1] == 'x' || a[1] == 'X')) {
		base = 16;
		a += 2;
	}
	if (!*a)
		return -EINVAL;
	for (; *a; a++) {
		unsigned d;
		if (*a >= '0' && *a <= '9')
			d = (unsigned)(*a - '0');
		else if (base == 16 && *a >= 'a' && *a <= 'f')
			d = (unsigned)(*a - 'a' + 10);
		else if (base == 16 && *a >= 'A' && *a <= 'F')
			d = (unsigned)(*a - 'A' + 10);
		else
			return -EINVAL;
		v = v * base + d;
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int rpmsgdev_parse(const char *text, struct rpmsgdev_spec *out)
{
	const char *colon = text ? strrchr(text, ':') : NULL;
	char *end;
	uint32_t addr;

	if (!colon || colon == text || (size_t)(colon - text) >= sizeof(out->rproc) ||
	    parse_addr(colon + 1, &addr) < 0)
		return -EINVAL;
	memcpy(out->rproc, text, (size_t)(colon - text));
	out->rproc[colon - text] = '\0';
	out->addr = addr;
	/* An index, bare or as the class directory's name; anything else is a `name`. */
	const char *num = strncmp(out->rproc, "remoteproc", 10) == 0 ? out->rproc + 10 : out->rproc;
	unsigned long idx = strtoul(num, &end, 10);
	out->rproc_index = num[0] >= '0' && num[0] <= '9' && !*end && idx < 100000 ? (int)idx : -1;
	for (const char *p = out->rproc; *p; p++)
		if (*p == '/' || *p <= ' ')
			return -EINVAL;
	return 0;
}

/* First line of dir/file into buf, without its newline. 0 or -errno. */
static int read_line(const char *dir, const char *file, char *buf, size_t cap)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG; /* a cut path would name another file */
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	bool ok = fgets(buf, (int)cap, f) != NULL;
	fclose(f);
	if (!ok)
		return -EIO;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The remoteproc's device directory (resolved) into real. */
static int find_rproc(const char *sysfs, const struct rpmsgdev_spec *s, char *real)
{
	char cls[PATH_MAX], path[PATH_MAX + 300], name[128];
	snprintf(cls, sizeof(cls), "%s/class/remoteproc", sysfs);
	if (s->rproc_index >= 0) {
		snprintf(path, sizeof(path), "%s/remoteproc%d", cls, s->rproc_index);
		return realpath(path, real) ? 0 : -ENOENT;
	}
	DIR *d = opendir(cls);
	struct dirent *de;
	int r = -ENOENT;
	while (d && r < 0 && (de = readdir(d))) {
		if (strncmp(de->d_name, "remoteproc", 10) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", cls, de->d_name);
		if (read_line(path, "name", name, sizeof(name)) == 0 &&
		    strcmp(name, s->rproc) == 0 && realpath(path, real))
			r = 0;
	}
	if (d)
		closedir(d);
	return r;
}

/* The rpmsg endpoint's destination: the `dst` attribute, else the device name's last
 * field (`virtioN.<channel>.<src>.<dst>`). */
static bool dst_of(const char *dev, const char *name, uint32_t *dst)
{
	char buf[32], *end;
	const char *txt = read_line(dev, "dst", buf, sizeof(buf)) == 0 ? buf : strrchr(name, '.');
	if (!txt)
		return false;
	if (txt[0] == '.')
		txt++;
	unsigned long v = strtoul(txt, &end, 0);
	if (end == txt || *end)
		return false;
	*dst = (uint32_t)v;
	return true;
}

/* The rpmsg device of the endpoint below rproc (both resolved) into real. */
static int find_endpoint(const char *sysfs, const char *rproc, uint32_t addr, char *real)
{
	char bus[PATH_MAX], path[PATH_MAX + 300], dev[PATH_MAX];
	size_t n = strlen(rproc);
	snprintf(bus, sizeof(bus), "%s/bus/rpmsg/devices", sysfs);
	DIR *d = opendir(bus);
	struct dirent *de;
	int r = -ENOENT;
	uint32_t dst;
	while (d && r < 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", bus, de->d_name);
		/* Below this remoteproc: its vdev's virtio device holds the rpmsg devices. */
		if (!realpath(path, dev) || strncmp(dev, rproc, n) != 0 || dev[n] != '/')
			continue;
		if (dst_of(dev, de->d_name, &dst) && dst == addr) {
			memcpy(real, dev, strlen(dev) + 1);
			r = 0;
		}
	}
	if (d)
		closedir(d);
	return r;
}

/* The class/tty entry whose device link leads to the rpmsg device ep. */
static int find_tty(const char *sysfs, const char *ep, char *name, size_t cap)
{
	char cls[PATH_MAX], path[PATH_MAX + 300], dev[PATH_MAX];
	snprintf(cls, sizeof(cls), "%s/class/tty", sysfs);
	DIR *d = opendir(cls);
	struct dirent *de;
	int r = -ENOENT;
	while (d && r == -ENOENT && (de = readdir(d))) {
		if (strncmp(de->d_name, "ttyRPMSG", 8) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/device", cls, de->d_name);
		if (!realpath(path, dev) || strcmp(dev, ep) != 0)
			continue;
		r = strlen(de->d_name) < cap ? 0 : -ENAMETOOLONG;
		if (r == 0)
			memcpy(name, de->d_name, strlen(de->d_name) + 1);
	}
	if (d)
		closedir(d);
	return r;
}

int rpmsgdev_resolve(const char *sysfs_root, const struct rpmsgdev_spec *spec, char *name,
		     size_t cap, char *why, size_t why_cap)
{
	char rproc[PATH_MAX], ep[PATH_MAX];
	int r = find_rproc(sysfs_root, spec, rproc);
	if (r < 0) {
		snprintf(why, why_cap, "no remoteproc %s", spec->rproc);
		return r;
	}
	r = find_endpoint(sysfs_root, rproc, spec->addr, ep);
	if (r < 0) {
		snprintf(why, why_cap, "no rpmsg endpoint %u on %s", spec->addr, spec->rproc);
		return r;
	}
	r = find_tty(sysfs_root, ep, name, cap);
	if (r < 0)
		snprintf(why, why_cap, "rpmsg endpoint %u on %s has no tty (no tty driver bound?)",
			 spec->addr, spec->rproc);
	return r;
}
