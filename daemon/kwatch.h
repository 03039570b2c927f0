/* Kernel log watcher: follows kernel messages from now on, from sd-journal (the local
 * journal or a directory) or from /dev/kmsg (or a FIFO carrying kmsg-format or plain
 * lines), driven by the event loop. Hands each message to a callback; no classifying. */
#ifndef M7B_KWATCH_H
#define M7B_KWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct kwatch;

enum kwatch_source {
	KWATCH_OFF = 0,
	KWATCH_JOURNAL,
	KWATCH_KMSG,
};

/* One kernel message. msg is not NUL-terminated and valid during the callback only; it
 * is empty (len 0) when the line only reports records lost (journald's "Missed N kernel
 * messages") or lines skipped. */
struct kwatch_line {
	const char *msg;
	size_t len;
	int priority;	      /* syslog level 0..7, -1 when unknown */
	uint64_t realtime_us; /* CLOCK_REALTIME of the entry, 0 when unknown */
	uint64_t mono_us;     /* CLOCK_MONOTONIC at printk, 0 when unknown */
	uint64_t lost;	      /* records lost just before this one (see kwatch_lost) */
	uint64_t skipped;     /* lines skipped just before this one (see kwatch_skipped) */
};

typedef void (*kwatch_line_fn)(void *arg, const struct kwatch_line *line);

/* What became of a kmsg_path waited for (kwatch_waiting()), for the log: err 0 when a
 * FIFO there is read from now on, -EINVAL when what was made there is not a FIFO (a shell
 * redirection into a path that does not exist makes a regular file), else -errno. Also
 * called when the FIFO read is replaced by what cannot be read: the watch then waits. */
typedef void (*kwatch_path_fn)(void *arg, const char *path, int err);

struct kwatch_config {
	enum kwatch_source source; /* KWATCH_OFF here means "auto" unless off is set */
	int off;		   /* do not watch at all */
	const char *journal_dir;   /* journal files in this directory (implies journal) */
	const char *kmsg_path;	   /* NULL = /dev/kmsg */
	kwatch_path_fn on_path;	   /* optional; called with the line callback's arg */
};

/* Starts watching; only messages that arrive from now on are delivered. Auto picks the
 * journal when journald runs (or journal_dir is set), else /dev/kmsg. A kmsg_path
 * outside /dev that does not exist yet, or is a regular file (said through on_path), is
 * waited for (kwatch_waiting()): a FIFO made there later is read, without the kmsg
 * records it brings from before the start, as is a FIFO there without a writer yet; a
 * FIFO's next writer without the records that are not newer than those handed on.
 * 0 or -errno. */
int kwatch_new(struct event_base *base, const struct kwatch_config *cfg, kwatch_line_fn fn,
	       void *arg, struct kwatch **out);

/* Stops and frees (NULL ok); returns NULL. */
struct kwatch *kwatch_free(struct kwatch *k);

/* Kernel records lost since the start: overwritten in the kernel's ring before they were
 * read (a gap in kmsg's sequence numbers, or journald's count of those it missed) or
 * dropped as longer than any record. */
uint64_t kwatch_lost(const struct kwatch *k);

/* Kernel lines read but skipped as printed before the start: what /dev/kmsg's ring or a
 * kmsg FIFO held when the watch began, the kmsg records and dmesg-stamped lines from
 * before it that a FIFO made later (or its first writer) brings (`dmesg -w` prints the
 * whole ring first), and those of a FIFO's next writer not newer than the lines handed
 * on. */
uint64_t kwatch_skipped(const struct kwatch *k);

/* Whether journald runs (its socket is there): without it the local journal gets no
 * kernel lines. */
bool kwatch_journald_runs(void);

/* Whether the kmsg source waits for its FIFO, which does not exist (yet). */
bool kwatch_waiting(const struct kwatch *k);

/* The source in use. */
enum kwatch_source kwatch_source(const struct kwatch *k);

/* "journal", "kmsg", "off". */
const char *kwatch_source_to_string(enum kwatch_source s);

/* Parses "auto", "journal", "kmsg", "off" into cfg. 0 or -EINVAL. */
int kwatch_source_from_string(const char *s, struct kwatch_config *cfg);

#endif
