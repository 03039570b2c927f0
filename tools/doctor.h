/* m7bridgectl doctor: preflight checks of the kernel, device tree and daemon set-up. */
#ifndef M7B_DOCTOR_H
#define M7B_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h" /* the build's: M7B_SYSCONFDIR */

/* Outcome of one check; the order is the severity. */
enum doctor_level {
	DOCTOR_OK = 0,
	DOCTOR_WARN,
	DOCTOR_FAIL,
};

/* One line of the report: what was checked, what was found, how to fix it. */
struct doctor_item {
	char check[32]; /* area: cmdline, remoteproc, firmware, ... */
	enum doctor_level level;
	char subject[96];  /* instance checked (remoteproc0, ttyRPMSG30, ...) or "" */
	char summary[512]; /* what was found; fits the daemon's config errors */
	char fix[320];	   /* one line of fix, "" when ok */
};

/* The whole report, in check order. */
struct doctor_report {
	struct doctor_item *items;
	size_t n, cap;
};

/* What the checks read: a tree root ("/" on a board) and the daemon's set-up. */
struct doctor_opts {
	const char *root;	 /* prefix of /proc, /sys, /dev, /etc, /lib/firmware */
	const char *config;	 /* daemon configuration, relative to root; NULL = default */
	const char *daemon_comm; /* process name that should hold the ttys */
};

/* Name of a level: "ok", "warn", "fail". */
const char *doctor_level_to_string(enum doctor_level l);
/* Appends an item (formatted summary and fix); returns 0 or -ENOMEM. */
int doctor_add(struct doctor_report *r, const char *check, enum doctor_level level,
	       const char *subject, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* Frees the items; the report can be reused. */
void doctor_report_clear(struct doctor_report *r);
/* Worst level in the report (DOCTOR_OK when empty). */
enum doctor_level doctor_report_worst(const struct doctor_report *r);

/* Runs every check that needs no daemon over opts->root, appending to r. Pure file reads
 * below the root: no sockets, no writes. Returns 0 or -ENOMEM. */
int doctor_check_system(const struct doctor_opts *opts, struct doctor_report *r);

/* Entry point of `m7bridgectl doctor`: socket may be NULL; returns the exit status
 * (0 all ok, 1 any fail, 2 usage error, 3 warnings but no fail). */
int doctor_main(const char *socket, int timeout_ms, int argc, char **argv);

struct ctl;
/* m7bridgectl's command table entry: doctor_main with the global -s and -t. */
int cmd_doctor(struct ctl *ctl, int argc, char **argv);

/* The file the daemon of the same build reads when given no -c (below the root). */
#define DOCTOR_CONF_DEFAULT M7B_SYSCONFDIR "/m7bridge/m7bridge.conf"

/* m7bridgectl's synopsis and help for doctor. */
#define DOCTOR_SYNOPSIS "[--json] [--root DIR] [--config FILE] [--no-daemon]"
#define DOCTOR_HELP                                                                                \
	"check the kernel, device tree, rpmsg drivers, ttys and set-up (no daemon needed)\n"       \
	"  -j, --json           one JSON object: checks with level, summary and fix\n"             \
	"  -r, --root DIR       read DIR/proc, DIR/sys, DIR/dev, DIR/etc, DIR/lib/firmware\n"      \
	"  -c, --config FILE    the daemon's configuration (default\n"                             \
	"                       " DOCTOR_CONF_DEFAULT ", below the root)\n"                        \
	"  -n, --no-daemon      skip the daemon's checks\n"                                        \
	"Exit 0 all ok, 1 any check failed, 2 usage error, 3 warnings but no failure.\n"

#endif
