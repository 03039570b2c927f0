/* doctor: checks of the kernel, device tree, drivers, ttys and config over a tree root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../daemon/conf.h"
#include "../daemon/rpmsgdev.h"
#include "doctor.h"
#include "elfinfo.h"

#define MAX_RPROC 8

struct rproc {
	char inst[64], name[64], state[32], firmware[128];
};

/* What the checks share: options, the report, and facts found by earlier checks. */
struct ctx {
	const struct doctor_opts *o;
	struct doctor_report *r;
	struct rproc rp[MAX_RPROC];
	size_t nrp;
	bool attached; /* an M7 started outside Linux */
	char dt[512];  /* device-tree base under root, "" if none */
	/* configuration: the file as the board names it (absolute), its path below the root,
	 * and what the daemon's own code read there (the daemon's defaults, as it runs
	 * without a file, when the file is missing or refused) */
	char conf_name[sizeof(((struct conf_error *)0)->file)], conf_path[512];
	int conf_err;		/* 0, or conf_read()'s -errno */
	struct conf_error cerr; /* where and why, when conf_err */
	struct conf *cfg;	/* never NULL once read_config() succeeded */
	int err;
};

/* Copies src into dst (n bytes), truncating: names longer than dst are not ours. */
static void scopy(char *dst, size_t n, const char *src)
{
	size_t k = strnlen(src, n - 1);

	memcpy(dst, src, k);
	dst[k] = '\0';
}

/* Joins a directory and a name into dst; false (dst empty) if it does not fit. */
static bool pjoin(char *dst, size_t n, const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);

	if (a + 1 + b + 1 > n) {
		dst[0] = '\0';
		return false;
	}
	memcpy(dst, dir, a);
	dst[a] = '/';
	memcpy(dst + a + 1, name, b + 1);
	return true;
}

/* The root as a prefix of absolute paths: "" for "/". */
static const char *root_prefix(const struct ctx *c)
{
	return c->o->root && strcmp(c->o->root, "/") != 0 ? c->o->root : "";
}

/* Joins root and an absolute path (fmt) into buf. */
static const char *rpath(struct ctx *c, char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static const char *rpath(struct ctx *c, char *buf, size_t n, const char *fmt, ...)
{
	int k = snprintf(buf, n, "%s", root_prefix(c));
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + k, n - (size_t)k, fmt, ap);
	va_end(ap);
	return buf;
}

/* Opens a file of the tree to read, if it is a regular file: a FIFO or a device left in
 * a tree copied off a board must not block doctor (O_NONBLOCK lets open() return for
 * fstat() to tell). NULL with errno set, EINVAL for what is not a regular file. */
static FILE *fopen_regular(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	FILE *f;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		return NULL;
	}
	if (!(f = fdopen(fd, "re")))
		close(fd);
	return f;
}

/* Reads a small text file, trailing newlines stripped. Returns its length or -errno. */
static int read_text(const char *path, char *buf, size_t n)
{
	FILE *f = fopen_regular(path);

	if (!f)
		return -errno;
	size_t k = fread(buf, 1, n - 1, f);

	fclose(f);
	buf[k] = '\0';
	while (k && (buf[k - 1] == '\n' || buf[k - 1] == '\0'))
		buf[--k] = '\0';
	return (int)k;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void add(struct ctx *c, const char *check, enum doctor_level l, const char *subject,
		const char *fix, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void add(struct ctx *c, const char *check, enum doctor_level l, const char *subject,
		const char *fix, const char *fmt, ...)
{
	char msg[sizeof(((struct doctor_item *)0)->summary)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (doctor_add(c->r, check, l, subject, fix, "%s", msg) < 0)
		c->err = -ENOMEM;
}

/* --- configuration (read first: later checks use its channels) ----------------------- */

/* Loads the file as m7bridged does at start (conf_read(), no command-line overrides), so
 * that what the daemon refuses doctor fails, with the daemon's message. */
static void read_config(struct ctx *c)
{
	const char *rel = c->o->config ? c->o->config : DOCTOR_CONF_DEFAULT;

	/* A relative name is below the root as well, not glued to the root's own name. */
	int n = snprintf(c->conf_name, sizeof(c->conf_name), "%s%s", rel[0] == '/' ? "" : "/", rel);

	/* Cut short, it would name another file: say it is too long, as open() would. */
	if (n >= (int)sizeof(c->conf_name) ||
	    strlen(root_prefix(c)) + (size_t)n >= sizeof(c->conf_path)) {
		c->conf_err = -ENAMETOOLONG;
		snprintf(c->cerr.message, sizeof(c->cerr.message), "cannot open: %s",
			 strerror(ENAMETOOLONG));
	} else {
		rpath(c, c->conf_path, sizeof(c->conf_path), "%s", c->conf_name);
		c->conf_err = conf_read(c->conf_path, false, NULL, &c->cfg, &c->cerr);
	}
	/* Messages name the file as the daemon on the board would, not below --root. */
	snprintf(c->cerr.file, sizeof(c->cerr.file), "%s", c->conf_name);
	if (c->conf_err < 0 && !(c->cfg = conf_new()))
		c->err = -ENOMEM;
}

/* --- kernel command line and remoteproc ---------------------------------------------- */

static void read_rprocs(struct ctx *c)
{
	char p[600];
	DIR *d = opendir(rpath(c, p, sizeof(p), "/sys/class/remoteproc"));
	struct dirent *e;

	while (d && (e = readdir(d)) && c->nrp < MAX_RPROC) {
		if (strncmp(e->d_name, "remoteproc", 10) != 0)
			continue;
		struct rproc *rp = &c->rp[c->nrp++];

		scopy(rp->inst, sizeof(rp->inst), e->d_name);
		if (read_text(rpath(c, p, sizeof(p), "/sys/class/remoteproc/%s/name", rp->inst),
			      rp->name, sizeof(rp->name)) < 0)
			strcpy(rp->name, "?");
		if (read_text(rpath(c, p, sizeof(p), "/sys/class/remoteproc/%s/state", rp->inst),
			      rp->state, sizeof(rp->state)) < 0)
			strcpy(rp->state, "?");
		if (read_text(rpath(c, p, sizeof(p), "/sys/class/remoteproc/%s/firmware", rp->inst),
			      rp->firmware, sizeof(rp->firmware)) < 0)
			rp->firmware[0] = '\0';
		/* `attached` + firmware `unknown`: U-Boot's bootaux (or JTAG) started the M7. */
		if (strcmp(rp->state, "attached") == 0 || strcmp(rp->firmware, "unknown") == 0)
			c->attached = true;
	}
	if (d)
		closedir(d);
	/* readdir order is arbitrary; sort for a stable report. */
	for (size_t i = 1; i < c->nrp; i++)
		for (size_t j = i; j > 0 && strcmp(c->rp[j - 1].inst, c->rp[j].inst) > 0; j--) {
			struct rproc t = c->rp[j];

			c->rp[j] = c->rp[j - 1];
			c->rp[j - 1] = t;
		}
}

/* True if the command line has the exact token (not a prefix of a longer one). */
static bool has_token(const char *cmdline, const char *tok)
{
	size_t n = strlen(tok);

	for (const char *p = cmdline; (p = strstr(p, tok)); p += n)
		if ((p == cmdline || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static void check_cmdline(struct ctx *c)
{
	static const char tok[] = "clk-imx8mp.mcore_booted=1";
	char p[600], line[4096];

	if (read_text(rpath(c, p, sizeof(p), "/proc/cmdline"), line, sizeof(line)) < 0) {
		add(c, "cmdline", DOCTOR_WARN, "", "run doctor on the board (or give --root)",
		    "cannot read /proc/cmdline");
		return;
	}
	bool has = has_token(line, tok);

	if (c->attached && !has)
		add(c, "cmdline", DOCTOR_FAIL, "",
		    "add clk-imx8mp.mcore_booted=1 to the kernel command line (U-Boot bootargs)",
		    "the M7 was started by U-Boot but %s is missing: Linux gates the M7's clocks "
		    "and the M7 stops",
		    tok);
	else if (c->attached)
		add(c, "cmdline", DOCTOR_OK, "", "", "%s is set; the M7 was started by U-Boot",
		    tok);
	else if (has)
		add(c, "cmdline", DOCTOR_OK, "", "", "%s is set (harmless: Linux starts the M7)",
		    tok);
	else
		add(c, "cmdline", DOCTOR_OK, "", "",
		    "%s not needed: the M7 is not started by U-Boot", tok);
}

/* The configured channel that starts rp when it is offline (autostart, and a firmware
 * file to start: configured, or named by remoteproc), NULL if none. */
static const struct conf_channel *starter_of(const struct ctx *c, const struct rproc *rp)
{
	for (unsigned i = 0; i < c->cfg->nchannels; i++) {
		const struct conf_channel *ch = &c->cfg->channels[i];
		if (!ch->sup.autostart || !ch->remoteproc ||
		    (strcmp(ch->remoteproc, rp->inst) != 0 &&
		     strcmp(ch->remoteproc, rp->name) != 0))
			continue;
		if (ch->firmware || (rp->firmware[0] && strcmp(rp->firmware, "unknown") != 0))
			return ch;
	}
	return NULL;
}

static void check_remoteproc(struct ctx *c)
{
	char fix[320];

	if (c->nrp == 0) {
		add(c, "remoteproc", DOCTOR_FAIL, "",
		    "enable CONFIG_IMX_REMOTEPROC and boot a device tree with the M7 node "
		    "(e.g. imx8mp-evk-rpmsg.dtb)",
		    "no remoteproc instance in /sys/class/remoteproc");
		return;
	}
	for (size_t i = 0; i < c->nrp; i++) {
		const struct rproc *rp = &c->rp[i];
		const char *s = rp->state;

		if (strcmp(s, "running") == 0)
			add(c, "remoteproc", DOCTOR_OK, rp->inst, "", "%s running firmware %s",
			    rp->name, rp->firmware);
		else if (strcmp(s, "attached") == 0)
			add(c, "remoteproc", DOCTOR_OK, rp->inst, "",
			    "%s attached: started outside Linux (U-Boot bootaux), firmware %s; "
			    "a stop/start loads the file from /lib/firmware",
			    rp->name, rp->firmware);
		else if (strcmp(s, "offline") == 0) {
			const struct conf_channel *ch = starter_of(c, rp);
			if (ch)
				snprintf(
					fix, sizeof(fix),
					"m7bridged starts it (channel %s, autostart on) when it "
					"starts, or down_grace_ms after the M7 went offline; if it "
					"stays offline, see m7bridgectl status and the daemon's "
					"log",
					ch->name);
			else
				snprintf(fix, sizeof(fix),
					 "echo start > /sys/class/remoteproc/%s/state", rp->inst);
			add(c, "remoteproc", DOCTOR_WARN, rp->inst, fix,
			    "%s offline (firmware %s): the M7 is not running", rp->name,
			    rp->firmware);
		} else {
			snprintf(fix, sizeof(fix),
				 "echo stop > /sys/class/remoteproc/%s/state, then echo start",
				 rp->inst);
			add(c, "remoteproc", DOCTOR_FAIL, rp->inst, fix, "%s in state '%s'",
			    rp->name, s);
		}
	}
}

/* --- firmware ELF --------------------------------------------------------------------- */

/* Resource table facts the firmware check reports. */
struct rsc_summary {
	unsigned vdevs, traces;
	const struct elfinfo_rsc *trace;
};

static struct rsc_summary summarize(const struct elfinfo *e)
{
	struct rsc_summary r = {0};

	for (size_t i = 0; i < e->nrsc; i++) {
		if (e->rsc[i].type == ELFINFO_RSC_VDEV)
			r.vdevs++;
		if (e->rsc[i].type == ELFINFO_RSC_TRACE && r.traces++ == 0)
			r.trace = &e->rsc[i];
	}
	return r;
}

/* Checks one firmware file name under /lib/firmware; `who` names where it came from. */
static void check_fw_file(struct ctx *c, const char *fw, const char *who)
{
	char p[600], fix[320], subject[96];
	struct elfinfo *e = malloc(sizeof(*e));

	if (!e) {
		c->err = -ENOMEM;
		return;
	}
	snprintf(subject, sizeof(subject), "%s", fw);
	int r = elfinfo_load(rpath(c, p, sizeof(p), "/lib/firmware/%s", fw), e);

	if (r == 0 && !elfinfo_is_m7_image(e))
		r = -ENOEXEC;
	if (r == -ENOEXEC)
		add(c, "firmware", DOCTOR_FAIL, subject,
		    "give remoteproc the linked .elf of the M7 image (not a .bin, not a host "
		    "binary)",
		    "/lib/firmware/%s is not a 32-bit ARM ELF", fw);
	else if (r == -EBADMSG)
		add(c, "firmware", DOCTOR_FAIL, subject, "rebuild the image",
		    "/lib/firmware/%s: malformed ELF (a header or section points outside the file)",
		    fw);
	else if (r < 0) {
		snprintf(fix, sizeof(fix), "copy the M7 image to /lib/firmware/%s", fw);
		/* elfinfo's EINVAL: a directory, FIFO or device where the file belongs. */
		add(c, "firmware", DOCTOR_FAIL, subject, fix, "/lib/firmware/%s (%s): %s", fw, who,
		    r == -EINVAL ? "not a regular file" : strerror(-r));
	} else if (!e->has_rsc_table && elfinfo_section(e, ".resource_table"))
		add(c, "firmware", DOCTOR_FAIL, subject, "rebuild the image",
		    "/lib/firmware/%s: .resource_table is malformed", fw);
	else if (!e->has_rsc_table)
		add(c, "firmware", DOCTOR_FAIL, subject,
		    "link a .resource_table section (the SDK's rsc_table.c) into the image",
		    "/lib/firmware/%s has no .resource_table: \"No resource table in elf\"", fw);
	else {
		struct rsc_summary rs = summarize(e);
		size_t n = e->nrsc + e->rsc_skipped;

		if (rs.vdevs == 0)
			add(c, "firmware", DOCTOR_FAIL, subject,
			    "add the RSC_VDEV entry (rpmsg-lite's rsc_table.c) to the resource "
			    "table",
			    "/lib/firmware/%s: resource table v%u, %zu entries, no vdev: no RPMSG",
			    fw, e->rsc_version, n);
		else if (!rs.trace)
			add(c, "firmware", DOCTOR_WARN, subject,
			    "add an RSC_TRACE entry so debugfs keeps the M7's last log lines after "
			    "a "
			    "hang",
			    "/lib/firmware/%s: resource table v%u, %zu entries, vdev, no trace "
			    "buffer",
			    fw, e->rsc_version, n);
		else
			add(c, "firmware", DOCTOR_OK, subject, "",
			    "/lib/firmware/%s: resource table v%u, %zu entries, vdev, trace '%s' "
			    "(%u bytes at 0x%x)",
			    fw, e->rsc_version, n, rs.trace->trace_name, rs.trace->trace_len,
			    rs.trace->trace_da);
	}
	free(e);
}

static void check_firmware(struct ctx *c)
{
	bool any = false;

	for (size_t i = 0; i < c->nrp; i++) {
		const char *fw = c->rp[i].firmware;

		if (fw[0] && strcmp(fw, "unknown") != 0 && !strchr(fw, '/')) {
			check_fw_file(c, fw, c->rp[i].inst);
			any = true;
		}
	}
	/* The configuration's names are plain file names: conf refuses any other. */
	for (unsigned i = 0; i < c->cfg->nchannels; i++) {
		const char *fw = c->cfg->channels[i].firmware;
		bool dup = false;

		if (!fw)
			continue;
		for (size_t k = 0; k < c->nrp; k++)
			dup |= strcmp(c->rp[k].firmware, fw) == 0;
		if (!dup)
			check_fw_file(c, fw, "configured");
		any = true;
	}
	/* No board: said, so that every check has its line. */
	if (!any && c->nrp == 0)
		add(c, "firmware", DOCTOR_WARN, "",
		    "fix the remoteproc check, or set 'firmware' in the channel's configuration",
		    "no image to check: no remoteproc instance names one and the configuration "
		    "sets none");
	else if (!any)
		add(c, "firmware", DOCTOR_WARN, "",
		    "set 'firmware' in the channel's configuration (used by reload and recovery)",
		    "firmware %s: the image is not known to Linux; the next remoteproc start "
		    "loads the name in .../firmware from /lib/firmware",
		    c->attached ? "loaded outside Linux" : "name not set");
}

/* --- device tree ---------------------------------------------------------------------- */

static void find_dt(struct ctx *c)
{
	static const char *const bases[] = {"/proc/device-tree", "/sys/firmware/devicetree/base"};

	for (size_t i = 0; i < 2; i++) {
		rpath(c, c->dt, sizeof(c->dt), "%s", bases[i]);
		if (is_dir(c->dt))
			return;
	}
	c->dt[0] = '\0';
}

/* True if a node's name (before '@') equals one of the NULL-terminated names. */
static bool node_is(const char *node, const char *const *names)
{
	size_t n = strcspn(node, "@");

	for (; *names; names++)
		if (strlen(*names) == n && strncmp(node, *names, n) == 0)
			return true;
	return false;
}

static void check_reserved_memory(struct ctx *c)
{
	static const char *const vring0[] = {"vdev0vring0", NULL};
	static const char *const vring1[] = {"vdev0vring1", NULL};
	static const char *const buffer[] = {"vdevbuffer", "vdev0buffer", NULL};
	static const char *const rsc[] = {"rsc-table", "rsc_table", NULL};
	char found[4][64] = {"", "", "", ""};
	char p[700];

	if (!c->dt[0]) {
		add(c, "reserved-memory", DOCTOR_FAIL, "",
		    "boot with a device tree (/proc/device-tree is missing)",
		    "no device tree under /proc/device-tree or /sys/firmware/devicetree/base");
		return;
	}
	pjoin(p, sizeof(p), c->dt, "reserved-memory");
	DIR *d = opendir(p);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		const char *const *want[] = {vring0, vring1, buffer, rsc};

		for (size_t i = 0; i < 4; i++)
			if (node_is(e->d_name, want[i]))
				scopy(found[i], sizeof(found[i]), e->d_name);
	}
	if (d)
		closedir(d);
	if (!found[0][0] || !found[1][0] || !found[2][0]) {
		add(c, "reserved-memory", DOCTOR_FAIL, "",
		    "boot the RPMSG device tree (e.g. imx8mp-evk-rpmsg.dtb) or add the "
		    "vdev0vring0/vdev0vring1/vdevbuffer reserved-memory nodes",
		    "missing in /reserved-memory:%s%s%s", found[0][0] ? "" : " vdev0vring0",
		    found[1][0] ? "" : " vdev0vring1", found[2][0] ? "" : " vdevbuffer");
		return;
	}
	if (!found[3][0]) {
		add(c, "reserved-memory", c->attached ? DOCTOR_FAIL : DOCTOR_WARN, "",
		    "add the rsc-table reserved-memory node: an M7 started by U-Boot puts its "
		    "resource table there",
		    "%s, %s, %s present; no rsc-table node", found[0], found[1], found[2]);
		return;
	}
	add(c, "reserved-memory", DOCTOR_OK, "", "", "%s, %s, %s, %s", found[0], found[1], found[2],
	    found[3]);
}

/* True if the node's `compatible` list (NUL-separated) has an entry accepted by match. */
static bool compatible_match(const char *node, bool (*match)(const char *), char *out, size_t outn)
{
	char p[1200], buf[512];
	int n;

	if (!pjoin(p, sizeof(p), node, "compatible"))
		return false;
	FILE *f = fopen_regular(p);

	if (!f)
		return false;
	n = (int)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (int i = 0; i < n; i += (int)strlen(buf + i) + 1)
		if (match(buf + i)) {
			scopy(out, outn, buf + i);
			return true;
		}
	return false;
}

static bool is_cm7(const char *s)
{
	return strncmp(s, "fsl,imx8m", 9) == 0 && strstr(s, "-cm7") != NULL;
}

static bool is_mu(const char *s)
{
	size_t n = strlen(s);

	return strncmp(s, "fsl,imx", 7) == 0 && n > 3 && strcmp(s + n - 3, "-mu") == 0;
}

struct dt_hits {
	char cm7[600], cm7_compat[64];
	char mu_ok[600], mu_compat[64];
	unsigned mus, mus_disabled;
};

/* True if a node's status property says it is enabled (absent = enabled). */
static bool node_enabled(const char *node)
{
	char p[1200], s[32];

	if (!pjoin(p, sizeof(p), node, "status"))
		return true;
	return read_text(p, s, sizeof(s)) < 0 || strcmp(s, "okay") == 0 || strcmp(s, "ok") == 0;
}

static void dt_walk(const char *dir, int depth, struct dt_hits *h)
{
	char compat[64];
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char sub[1200];

		if (e->d_name[0] == '.')
			continue;
		if (!pjoin(sub, sizeof(sub), dir, e->d_name))
			continue;
		if (!is_dir(sub))
			continue;
		if (!h->cm7[0] && compatible_match(sub, is_cm7, compat, sizeof(compat))) {
			scopy(h->cm7, sizeof(h->cm7), sub);
			scopy(h->cm7_compat, sizeof(h->cm7_compat), compat);
		}
		if (compatible_match(sub, is_mu, compat, sizeof(compat))) {
			h->mus++;
			if (!node_enabled(sub))
				h->mus_disabled++;
			else if (!h->mu_ok[0]) {
				scopy(h->mu_ok, sizeof(h->mu_ok), sub);
				scopy(h->mu_compat, sizeof(h->mu_compat), compat);
			}
		}
		if (depth < 4)
			dt_walk(sub, depth + 1, h);
	}
	closedir(d);
}

static void check_mailbox(struct ctx *c)
{
	struct dt_hits h;
	char p[1300];

	if (!c->dt[0]) {
		add(c, "mailbox", DOCTOR_FAIL, "", "boot with a device tree",
		    "no device tree to find the M7 node and its Messaging Unit in");
		return;
	}
	memset(&h, 0, sizeof(h));
	dt_walk(c->dt, 0, &h);
	if (!h.cm7[0]) {
		add(c, "mailbox", DOCTOR_FAIL, "",
		    "boot the RPMSG device tree (e.g. imx8mp-evk-rpmsg.dtb): it adds the M7 node",
		    "no fsl,imx8m*-cm7 node in the device tree");
		return;
	}
	const char *cm7 = strrchr(h.cm7, '/') + 1;

	pjoin(p, sizeof(p), h.cm7, "mboxes");
	if (!exists(p)) {
		add(c, "mailbox", DOCTOR_FAIL, cm7,
		    "add mboxes = <&mu 0 1 &mu 1 1 &mu 3 1> and mbox-names = \"tx\", \"rx\", "
		    "\"rxdb\" to the M7 node",
		    "%s (%s) has no mboxes: no kicks between the cores", cm7, h.cm7_compat);
		return;
	}
	if (!h.mu_ok[0]) {
		add(c, "mailbox", DOCTOR_FAIL, cm7, "set status = \"okay\" on the MU node (&mu)",
		    "%s has mboxes but %s", cm7,
		    h.mus ? "every Messaging Unit node is disabled" : "no Messaging Unit node");
		return;
	}
	add(c, "mailbox", DOCTOR_OK, cm7, "", "%s (%s) with mboxes; MU %s (%s) enabled", cm7,
	    h.cm7_compat, strrchr(h.mu_ok, '/') + 1, h.mu_compat);
}

/* --- rpmsg tty driver and channels ---------------------------------------------------- */

static bool driver_present(struct ctx *c, const char *mod)
{
	char p[600];

	return is_dir(rpath(c, p, sizeof(p), "/sys/module/%s", mod)) ||
	       is_dir(rpath(c, p, sizeof(p), "/sys/bus/rpmsg/drivers/%s", mod));
}

/* Channel names each driver binds (NXP imx_rpmsg_tty.c, mainline rpmsg_tty.c). */
static bool nxp_name(const char *n)
{
	return strcmp(n, "rpmsg-virtual-tty-channel-1") == 0 ||
	       strcmp(n, "rpmsg-virtual-tty-channel") == 0 ||
	       strcmp(n, "rpmsg-openamp-demo-channel") == 0;
}

static void check_rpmsg(struct ctx *c)
{
	bool nxp = driver_present(c, "imx_rpmsg_tty"), ml = driver_present(c, "rpmsg_tty");
	char p[700], link[256], fix[320];
	unsigned channels = 0;

	if (nxp || ml)
		add(c, "tty-driver", DOCTOR_OK, "", "", "%s%s%s loaded",
		    nxp ? "imx_rpmsg_tty (NXP: binds rpmsg-virtual-tty-channel-1)" : "",
		    nxp && ml ? " and " : "", ml ? "rpmsg_tty (mainline: binds rpmsg-tty)" : "");
	else
		add(c, "tty-driver", DOCTOR_FAIL, "",
		    "modprobe imx_rpmsg_tty (NXP BSP) or rpmsg_tty (mainline >= 5.16)",
		    "no rpmsg tty driver loaded");

	DIR *d = opendir(rpath(c, p, sizeof(p), "/sys/bus/rpmsg/devices"));
	struct dirent *e;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		/* virtioN.<name>.<src>.<dst>: the name may itself hold dots. */
		char name[256];
		const char *first = strchr(e->d_name, '.');
		const char *last = strrchr(e->d_name, '.');
		const char *mid = last;

		while (mid && first && mid > first && *--mid != '.')
			;
		if (!first || !mid || mid <= first)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(mid - first - 1), first + 1);
		if (strcmp(name, "rpmsg_ns") == 0)
			continue; /* the name service itself, bound to rpmsg_ns */
		channels++;
		rpath(c, p, sizeof(p), "/sys/bus/rpmsg/devices/%s/driver", e->d_name);
		ssize_t n = readlink(p, link, sizeof(link) - 1);

		if (n > 0) {
			link[n] = '\0';
			add(c, "rpmsg-channel", DOCTOR_OK, e->d_name, "",
			    "firmware announced '%s', bound to %s", name,
			    strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
			continue;
		}
		if (nxp_name(name) && !nxp)
			snprintf(fix, sizeof(fix),
				 "modprobe imx_rpmsg_tty, or make the firmware announce "
				 "'rpmsg-tty' for mainline rpmsg_tty");
		else if (strcmp(name, "rpmsg-tty") == 0 && !ml)
			snprintf(fix, sizeof(fix),
				 "modprobe rpmsg_tty, or make the firmware announce "
				 "'rpmsg-virtual-tty-channel-1' for imx_rpmsg_tty");
		else if (!nxp_name(name) && strcmp(name, "rpmsg-tty") != 0)
			snprintf(fix, sizeof(fix),
				 "announce 'rpmsg-virtual-tty-channel-1' (imx_rpmsg_tty) or "
				 "'rpmsg-tty' (rpmsg_tty) from the firmware");
		else
			snprintf(fix, sizeof(fix),
				 "rebind: echo %s > /sys/bus/rpmsg/drivers/%s/bind", e->d_name,
				 nxp_name(name) ? "imx_rpmsg_tty" : "rpmsg_tty");
		add(c, "rpmsg-channel", DOCTOR_FAIL, e->d_name, fix,
		    "firmware announced '%s' but no driver is bound to it", name);
	}
	if (d)
		closedir(d);
	if (channels == 0) {
		bool up = false;

		for (size_t i = 0; i < c->nrp; i++)
			up |= strcmp(c->rp[i].state, "running") == 0 ||
			      strcmp(c->rp[i].state, "attached") == 0;
		add(c, "rpmsg-channel", up ? DOCTOR_FAIL : DOCTOR_WARN, "",
		    up ? "check the firmware reaches rpmsg_ns_announce() and the kernel log for "
			 "virtio_rpmsg_bus errors"
		       : "start the M7 first",
		    "no rpmsg channel in /sys/bus/rpmsg/devices%s",
		    up ? " although the M7 runs" : "");
	}
}

/* --- ttyRPMSG nodes and who holds them ------------------------------------------------ */

struct holder {
	int pid;
	char comm[32];
};

/* Processes whose open fds point at dev (as the kernel prints it: /dev/ttyRPMSG30). */
static size_t find_holders(struct ctx *c, const char *dev, struct holder *h, size_t cap)
{
	char p[700], link[300];
	size_t n = 0;
	DIR *pd = opendir(rpath(c, p, sizeof(p), "/proc"));
	struct dirent *pe;

	while (pd && (pe = readdir(pd)) && n < cap) {
		char *end;
		long pid = strtol(pe->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		DIR *fd = opendir(rpath(c, p, sizeof(p), "/proc/%ld/fd", pid));
		struct dirent *fe;
		bool holds = false;

		while (fd && !holds && (fe = readdir(fd))) {
			rpath(c, p, sizeof(p), "/proc/%ld/fd/%s", pid, fe->d_name);
			ssize_t k = readlink(p, link, sizeof(link) - 1);

			if (k > 0) {
				link[k] = '\0';
				holds = strcmp(link, dev) == 0;
			}
		}
		if (fd)
			closedir(fd);
		if (!holds)
			continue;
		h[n].pid = (int)pid;
		if (read_text(rpath(c, p, sizeof(p), "/proc/%ld/comm", pid), h[n].comm,
			      sizeof(h[n].comm)) < 0)
			strcpy(h[n].comm, "?");
		n++;
	}
	if (pd)
		closedir(pd);
	return n;
}

/* The account the shipped unit runs the daemon as (User=, Group= m7bridge, made by
 * sysusers), from the tree's /etc: false when the tree has no such group, where the
 * daemon's user is not known. */
#define DAEMON_ACCOUNT "m7bridge"

static bool daemon_account(struct ctx *c, uid_t *uid, gid_t *gid)
{
	char p[700];
	FILE *f = fopen_regular(rpath(c, p, sizeof(p), "/etc/group"));
	const struct group *gr;
	const struct passwd *pw;
	bool found = false;

	while (f && !found && (gr = fgetgrent(f)))
		if (strcmp(gr->gr_name, DAEMON_ACCOUNT) == 0) {
			*gid = gr->gr_gid;
			found = true;
		}
	if (f)
		fclose(f);
	*uid = (uid_t)-1;
	f = found ? fopen_regular(rpath(c, p, sizeof(p), "/etc/passwd")) : NULL;
	while (f && (pw = fgetpwent(f)))
		if (strcmp(pw->pw_name, DAEMON_ACCOUNT) == 0) {
			*uid = pw->pw_uid;
			break;
		}
	if (f)
		fclose(f);
	return found;
}

/* True when the daemon's account may read and write a node of this owner and mode. */
static bool daemon_may_open(const struct stat *st, uid_t uid, gid_t gid)
{
	return (st->st_uid == uid && (st->st_mode & 0600) == 0600) ||
	       (st->st_gid == gid && (st->st_mode & 0060) == 0060) || (st->st_mode & 0006) == 0006;
}

static void check_ttys(struct ctx *c)
{
	char p[700], dev[300], who[200], fix[320];
	unsigned nodes = 0;
	DIR *d = opendir(rpath(c, p, sizeof(p), "/dev"));
	struct dirent *e;
	char names[32][64];
	size_t nn = 0;
	uid_t duid = (uid_t)-1;
	gid_t dgid = (gid_t)-1;
	bool account = daemon_account(c, &duid, &dgid);

	while (d && (e = readdir(d)) && nn < 32)
		if (strncmp(e->d_name, "ttyRPMSG", 8) == 0)
			scopy(names[nn++], sizeof(names[0]), e->d_name);
	if (d)
		closedir(d);
	for (size_t i = 1; i < nn; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[64];

			memcpy(t, names[j], sizeof(t));
			memcpy(names[j], names[j - 1], sizeof(t));
			memcpy(names[j - 1], t, sizeof(t));
		}
	for (size_t i = 0; i < nn; i++) {
		struct stat st;
		struct holder h[8];

		pjoin(dev, sizeof(dev), "/dev", names[i]);
		if (stat(rpath(c, p, sizeof(p), "%s", dev), &st) < 0)
			continue;
		nodes++;
		struct passwd *pw = getpwuid(st.st_uid);
		struct group *gr = getgrgid(st.st_gid);
		char owner[64], group[64];

		snprintf(owner, sizeof(owner), "%s", pw ? pw->pw_name : "?");
		snprintf(group, sizeof(group), "%s", gr ? gr->gr_name : "?");
		if ((st.st_mode & 0060) != 0060)
			add(c, "tty", DOCTOR_WARN, names[i],
			    "install the udev rule 70-m7bridge.rules (group m7bridge, mode 0660)",
			    "%s %s:%s mode %04o: the group cannot read and write it", dev, owner,
			    group, (unsigned)(st.st_mode & 07777));
		else if (account && !daemon_may_open(&st, duid, dgid))
			/* Group dialout or root, as a kernel without the rule makes it: the
			 * daemon (User=m7bridge) would wait with Permission denied. */
			add(c, "tty", DOCTOR_WARN, names[i],
			    "install the udev rule 70-m7bridge.rules (group m7bridge, mode 0660), "
			    "then udevadm trigger",
			    "%s %s:%s mode %04o: the daemon's user " DAEMON_ACCOUNT
			    " cannot read and write it",
			    dev, owner, group, (unsigned)(st.st_mode & 07777));
		else
			add(c, "tty", DOCTOR_OK, names[i], "", "%s %s:%s mode %04o", dev, owner,
			    group, (unsigned)(st.st_mode & 07777));

		size_t nh = find_holders(c, dev, h, 8);
		size_t others = 0;
		int k = 0;

		who[0] = '\0';
		for (size_t j = 0; j < nh; j++) {
			if (strcmp(h[j].comm, c->o->daemon_comm) != 0)
				others++;
			k += snprintf(who + k, sizeof(who) - (size_t)k, "%s%s (pid %d)",
				      j ? ", " : "", h[j].comm, h[j].pid);
			if (k >= (int)sizeof(who))
				break;
		}
		if (nh == 0)
			add(c, "tty-holder", DOCTOR_OK, names[i], "", "%s is not open", dev);
		else if (nh > 1 && others > 0) {
			snprintf(fix, sizeof(fix),
				 "stop all but %s; read the data through its socket instead",
				 c->o->daemon_comm);
			add(c, "tty-holder", DOCTOR_FAIL, names[i], fix,
			    "%s is open in %zu processes: %s; each gets part of the data", dev, nh,
			    who);
		} else if (others > 0) {
			snprintf(fix, sizeof(fix),
				 "stop %s (pid %d) or let it use %s's socket instead", h[0].comm,
				 h[0].pid, c->o->daemon_comm);
			add(c, "tty-holder", DOCTOR_WARN, names[i], fix,
			    "%s is held by %s, not by %s", dev, who, c->o->daemon_comm);
		} else
			add(c, "tty-holder", DOCTOR_OK, names[i], "", "%s held by %s", dev, who);
	}
	if (nodes == 0)
		add(c, "tty", DOCTOR_FAIL, "",
		    "fix the remoteproc, rpmsg-channel and tty-driver checks above",
		    "no /dev/ttyRPMSG* node");
}

/* --- kernel log ----------------------------------------------------------------------- */

/* True if the installed daemon unit hides /dev/kmsg (ProtectKernelLogs=yes). */
static bool unit_protects_klog(struct ctx *c)
{
	static const char *const dirs[] = {"/etc/systemd/system", "/usr/lib/systemd/system",
					   "/lib/systemd/system"};
	char p[600], buf[8192];

	for (size_t i = 0; i < 3; i++)
		if (read_text(rpath(c, p, sizeof(p), "%s/m7bridged.service", dirs[i]), buf,
			      sizeof(buf)) >= 0)
			return strstr(buf, "\nProtectKernelLogs=yes") != NULL;
	return false;
}

static void check_klog(struct ctx *c)
{
	char p[600], jdir[300] = "";
	const struct supervisor_daemon_conf *d = &c->cfg->daemon.sup;
	const char *mode = d->kernel_log;

	if (strcmp(mode, "off") == 0) {
		add(c, "kernel-log", DOCTOR_WARN, "",
		    "set kernel_log = auto in [daemon] so kick failures trigger recovery",
		    "kernel_log = off: the daemon does not see imx_rproc_kick failures");
		return;
	}
	if (d->journal_dir[0] && is_dir(rpath(c, p, sizeof(p), "%s", d->journal_dir)))
		snprintf(jdir, sizeof(jdir), "%s", d->journal_dir);
	else if (is_dir(rpath(c, p, sizeof(p), "/var/log/journal")))
		strcpy(jdir, "/var/log/journal");
	else if (is_dir(rpath(c, p, sizeof(p), "/run/log/journal")))
		strcpy(jdir, "/run/log/journal");
	/* kmsg_path (default /dev/kmsg) is what the daemon reads; the unit's
	 * ProtectKernelLogs= hides /dev/kmsg only. */
	const char *kpath = d->kmsg_path;
	bool kmsg = exists(rpath(c, p, sizeof(p), "%s", kpath));
	bool hidden = strcmp(kpath, "/dev/kmsg") == 0 && unit_protects_klog(c);

	if (jdir[0] && strcmp(mode, "kmsg") != 0) {
		add(c, "kernel-log", DOCTOR_OK, "", "",
		    "kernel_log = %s: journal in %s (the daemon reads it in group systemd-journal)",
		    mode, jdir);
		return;
	}
	if (strcmp(mode, "journal") == 0) {
		add(c, "kernel-log", DOCTOR_FAIL, "",
		    "run systemd-journald, or set kernel_log = kmsg",
		    "kernel_log = journal but no journal directory (/var/log/journal, "
		    "/run/log/journal)");
		return;
	}
	if (!kmsg) {
		add(c, "kernel-log", DOCTOR_FAIL, "", "run systemd-journald or mount devtmpfs",
		    "no journal and no %s: the daemon cannot read the kernel log", kpath);
		return;
	}
	if (hidden)
		add(c, "kernel-log", DOCTOR_FAIL, "",
		    "add a drop-in with ProtectKernelLogs=no, or run systemd-journald",
		    "kernel_log = %s reads /dev/kmsg, which m7bridged.service hides "
		    "(ProtectKernelLogs=yes)",
		    mode);
	else
		add(c, "kernel-log", DOCTOR_OK, "", "", "kernel_log = %s: %s", mode, kpath);
}

/* --- the daemon's configuration ------------------------------------------------------- */

/* A channel named by rpmsg = <remoteproc>:<endpoint>: resolved as the daemon does at
 * each open. Writes what into what (returns its length), and level and fix. */
static int check_rpmsg_spec(struct ctx *c, const struct conf_channel *ch, char *what, size_t wn,
			    char *fix, size_t fn, enum doctor_level *l)
{
	struct rpmsgdev_spec spec;
	char sys[600], tty[64], why[200], p[700];

	/* The configuration refuses both keys together and a malformed value: a parse
	 * failure here would be an out-of-step daemon, and is reported as malformed. */
	if (rpmsgdev_parse(ch->rpmsg, &spec) < 0) {
		*l = DOCTOR_FAIL;
		snprintf(fix, fn,
			 "write rpmsg = <remoteproc name or index>:<endpoint>, e.g. "
			 "imx-rproc:30");
		return snprintf(what, wn, "rpmsg %s malformed", ch->rpmsg);
	}
	rpath(c, sys, sizeof(sys), "/sys");
	if (rpmsgdev_resolve(sys, &spec, tty, sizeof(tty), why, sizeof(why)) < 0) {
		/* The daemon waits for it (state down, not_found): the M7 may not run yet. */
		*l = DOCTOR_FAIL;
		snprintf(fix, fn,
			 "start the M7 with firmware that announces endpoint %u (see the "
			 "remoteproc, rpmsg-channel and tty-driver checks)",
			 (unsigned)spec.addr);
		return snprintf(what, wn, "rpmsg %s: %s", ch->rpmsg, why);
	}
	if (!exists(rpath(c, p, sizeof(p), "/dev/%s", tty))) {
		*l = DOCTOR_FAIL;
		snprintf(fix, fn, "the kernel made %s but /dev has no node: is udev running?", tty);
		return snprintf(what, wn, "rpmsg %s is /dev/%s, missing", ch->rpmsg, tty);
	}
	return snprintf(what, wn, "rpmsg %s is /dev/%s, present", ch->rpmsg, tty);
}

static void check_config(struct ctx *c)
{
	char p[700], fix[320], what[320], msg[512];
	const char *rel = c->conf_name;
	const struct conf *cf = c->cfg;

	/* Missing, unreadable (doctor may run as another user) or not a file: the daemon
	 * runs on its defaults (for the default path) or on -C channels; a warning. Every
	 * error in the file's text has a line or a section. */
	if (c->conf_err < 0 && c->conf_err != -ENOMEM && c->cerr.line == 0 && !c->cerr.section[0]) {
		add(c, "config", DOCTOR_WARN, rel,
		    "write the file (see m7bridge.conf(5)) or pass channels with -C NAME=DEVICE",
		    "%s", conf_error_format(&c->cerr, msg, sizeof(msg)));
		return;
	}
	if (c->conf_err < 0) {
		add(c, "config", DOCTOR_FAIL, rel,
		    "correct it (m7bridge.conf(5)): m7bridged refuses the file and exits 78, "
		    "as m7bridged --check-config shows",
		    "%s", conf_error_format(&c->cerr, msg, sizeof(msg)));
		return;
	}
	if (cf->nchannels == 0) {
		add(c, "config", DOCTOR_FAIL, rel,
		    "add a [channel NAME] section with device = /dev/ttyRPMSG30",
		    "%s has no [channel] section", rel);
		return;
	}
	add(c, "config", DOCTOR_OK, rel, "", "%s: %u channel%s", rel, cf->nchannels,
	    cf->nchannels == 1 ? "" : "s");
	for (unsigned i = 0; i < cf->nchannels; i++) {
		const struct conf_channel *ch = &cf->channels[i];
		enum doctor_level l = DOCTOR_OK;
		int k;

		fix[0] = '\0';
		if (!ch->enabled) {
			/* The daemon keeps it closed: its tty need not exist (yet). */
			add(c, "channel", DOCTOR_OK, ch->name, "",
			    "enabled = false: the daemon keeps it closed");
			continue;
		}
		/* The configuration gives each channel device or rpmsg, never both. */
		if (ch->rpmsg) {
			k = check_rpmsg_spec(c, ch, what, sizeof(what), fix, sizeof(fix), &l);
		} else if (!exists(rpath(c, p, sizeof(p), "%s", ch->device))) {
			l = DOCTOR_FAIL;
			k = snprintf(what, sizeof(what), "device %s missing", ch->device);
			snprintf(fix, sizeof(fix),
				 "NXP names the tty after the M7 endpoint (ttyRPMSG30 for 30), "
				 "mainline numbers them from ttyRPMSG0: see the tty check");
		} else
			k = snprintf(what, sizeof(what), "device %s present", ch->device);
		if (ch->remoteproc && k < (int)sizeof(what)) {
			bool ok = is_dir(
				rpath(c, p, sizeof(p), "/sys/class/remoteproc/%s", ch->remoteproc));

			k += snprintf(what + k, sizeof(what) - (size_t)k, ", remoteproc %s %s",
				      ch->remoteproc, ok ? "present" : "missing");
			if (!ok && l < DOCTOR_FAIL) {
				l = DOCTOR_FAIL;
				snprintf(
					fix, sizeof(fix),
					"set remoteproc = to an instance in /sys/class/remoteproc");
			}
		}
		if (ch->firmware && k < (int)sizeof(what)) {
			bool ok = exists(rpath(c, p, sizeof(p), "/lib/firmware/%s", ch->firmware));

			snprintf(what + k, sizeof(what) - (size_t)k, ", firmware %s %s",
				 ch->firmware, ok ? "present" : "missing");
			if (!ok && l < DOCTOR_FAIL) {
				l = DOCTOR_FAIL;
				snprintf(fix, sizeof(fix), "copy %s to /lib/firmware",
					 ch->firmware);
			}
		}
		add(c, "channel", l, ch->name, fix, "%s", what);
	}
}

int doctor_check_system(const struct doctor_opts *opts, struct doctor_report *r)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->o = opts;
	c->r = r;
	read_config(c);
	if (!c->cfg) {
		free(c);
		return -ENOMEM;
	}
	read_rprocs(c);
	find_dt(c);
	check_cmdline(c);
	check_remoteproc(c);
	check_firmware(c);
	check_reserved_memory(c);
	check_mailbox(c);
	check_rpmsg(c);
	check_ttys(c);
	check_klog(c);
	check_config(c);
	int err = c->err;

	conf_free(c->cfg);
	free(c);
	return err;
}
