/* An incident's evidence from the platform: the firmware's trace ring (remoteproc debugfs
 * trace0) decoded, and any devcoredump, each read with a size bound. */
#ifndef M7B_EVIDENCE_H
#define M7B_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define EVIDENCE_TRACE_MAX   (64u * 1024)   /* bytes of trace0 read */
#define EVIDENCE_TRACE_LINES 64		    /* newest trace lines kept */
#define EVIDENCE_DUMP_MAX    (1024u * 1024) /* bytes of a devcoredump summed */
#define EVIDENCE_DUMP_HEAD   64		    /* first bytes of a devcoredump kept */
#define EVIDENCE_DUMPS_MAX   4		    /* devcoredumps looked at */

/* Where to look; NULL members are skipped. */
struct evidence_source {
	const char *debugfs_root; /* <root>/remoteproc/<instance>/trace0 */
	const char *sysfs_root;	  /* <root>/class/devcoredump/devcdN/data */
	const char *instance;	  /* remoteprocN */
	const char *device;	  /* the remoteproc's parent device name, or NULL */
	/* trace_given: trace0 was opened by someone with the rights to (the privileged
	 * helper): trace_fd is it (taken: closed here), or the -errno of that open. */
	bool trace_given;
	int trace_fd;
};

/* Reads at most max bytes of path into a new NUL-terminated buffer (*len set; *more set
 * when the file had more). 0 or -errno. */
int evidence_read_bounded(const char *path, size_t max, char **out, size_t *len, bool *more);
/* The same from an open descriptor, which is closed. 0 or -errno. */
int evidence_read_bounded_fd(int fd, size_t max, char **out, size_t *len, bool *more);

/* The decoded trace: {bytes, truncated, lines: [{seq, ticks, level, text}], lines_dropped,
 * bad_lines, bad_bytes}; at most max_lines newest lines. NULL on ENOMEM. */
cJSON *evidence_trace_json(const char *snap, size_t len, bool truncated, size_t max_lines);

/* Reads and sums one devcoredump data file: {bytes, complete, fnv1a64, head}; head is the
 * first EVIDENCE_DUMP_HEAD bytes in hex. An error becomes {error}. NULL on ENOMEM. */
cJSON *evidence_dump_json(const char *path, size_t max);

/* Gathers everything src points at: {trace: {path, ...} | {path, error},
 * devcoredumps: [{name, failing_device, ...}], devcoredumps_skipped (only when more than
 * EVIDENCE_DUMPS_MAX were ours)}. NULL on ENOMEM. */
cJSON *evidence_gather(const struct evidence_source *src);

/* The texts of the newest n trace lines of an incident's evidence, oldest first, for
 * incident lists: a new array, or NULL when there are none. */
cJSON *evidence_last_words(const cJSON *evidence, size_t n);

#endif
