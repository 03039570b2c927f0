/* Kernel log classifier: turns one kernel message (journal MESSAGE or /dev/kmsg record)
 * into a typed event about remoteproc / rpmsg / the rpmsg tty. Pure: no I/O. */
#ifndef M7B_KLOG_H
#define M7B_KLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a kernel line says. Formats are quoted from the drivers in klog.c. */
enum klog_kind {
	KLOG_NONE = 0,
	/* imx_rproc */
	KLOG_KICK_FAILED,
	KLOG_RPROC_ENABLE_FAILED,
	KLOG_RPROC_STOP_FAILED,
	KLOG_RPROC_FORCE_STOPPED,
	KLOG_NO_RESOURCE_TABLE,
	KLOG_TRANSLATION_FAILED,
	/* mailbox */
	KLOG_MBOX_QUEUE_FULL,
	KLOG_MBOX_UNHANDLED_IRQ,
	/* virtio_rpmsg_bus */
	KLOG_TX_BUFFER_TIMEOUT,
	KLOG_MSG_TOO_BIG,
	KLOG_INBOUND_TOO_BIG,
	KLOG_NO_RECIPIENT,
	KLOG_ADD_OUTBUF_FAILED,
	KLOG_RPMSG_HOST_ONLINE,
	KLOG_CHANNEL_EXISTS,
	/* rpmsg_ns */
	KLOG_CHANNEL_CREATED,
	KLOG_CHANNEL_DESTROYED,
	KLOG_CHANNEL_CREATE_FAILED,
	/* remoteproc core */
	KLOG_RPROC_POWERING_UP,
	KLOG_RPROC_BOOTING,
	KLOG_RPROC_UP,
	KLOG_RPROC_ATTACHING,
	KLOG_RPROC_ATTACHED,
	KLOG_RPROC_STOPPED,
	KLOG_RPROC_BOOT_FAILED,
	KLOG_RPROC_FIRMWARE_FAILED,
	KLOG_RPROC_START_FAILED,
	KLOG_RPROC_CRASHED,
	KLOG_RPROC_RECOVERING,
	KLOG_RPROC_FIRMWARE_BUSY,
	/* rproc-virtio */
	KLOG_VIRTIO_REGISTERED,
	/* imx_rpmsg_tty */
	KLOG_TTY_NEW_CHANNEL,
	KLOG_TTY_SEND_FAILED,
	KLOG_TTY_NO_MEMORY,
	KLOG_TTY_REMOVED,
	/* rpmsg_tty (mainline) */
	KLOG_TTY_TRUNCATED,
	/* printk's rate limit, about one of the ratelimited lines above */
	KLOG_LINES_SUPPRESSED,
	/* virtio_rpmsg_bus, receive side */
	KLOG_ADD_INBUF_FAILED,
	KLOG_KIND_COUNT
};

/* How much a line matters to the link. Ordered: higher is worse. */
enum klog_impact {
	KLOG_INFO = 0, /* lifecycle news: M7 booting, channel created */
	KLOG_NOTICE,   /* worth recording, says nothing about liveness */
	KLOG_DEGRADED, /* the link may be stalled: check liveness before acting */
	KLOG_DOWN,     /* the link or the M7 is gone */
};

#define KLOG_NAME_MAX 64

/* One classified kernel line. Strings are NUL-terminated copies, "" when absent;
 * numbers are valid only when the kind carries them (see has_*). */
struct klog_event {
	enum klog_kind kind;
	enum klog_impact impact;
	char driver[KLOG_NAME_MAX]; /* dev_printk prefix, first word: "imx-rproc" */
	char device[KLOG_NAME_MAX]; /* dev_printk prefix, second word: "imx8mp-cm7" */
	char name[KLOG_NAME_MAX];   /* %s in the text: rproc, channel or virtio device */
	bool has_vq, has_err, has_value, has_addr;
	int vq;	       /* virtqueue id of a kick */
	int err;       /* errno-like number the line reports (negative as printed) */
	int value;     /* a size or type the line reports */
	uint32_t addr; /* rpmsg address (channel created/destroyed, tty src) */
	uint32_t addr2;
};

/* A /dev/kmsg record: "prio,seq,usec,flags[,...];message". */
struct klog_record {
	int level;    /* syslog level 0..7 */
	int facility; /* 0 = kernel */
	uint64_t seq;
	uint64_t usec;	   /* CLOCK_MONOTONIC microseconds at printk */
	bool continuation; /* flags field 'c' */
	const char *msg;   /* points into the caller's buffer */
	size_t msg_len;
};

/* Classifies msg (len bytes, need not be NUL-terminated); true when the line is one the
 * table knows, else ev->kind is KLOG_NONE. Never fails on any input. */
bool klog_classify(const char *msg, size_t len, struct klog_event *ev);

/* Where a line's dmesg stamp or kernel text starts, past what a log tool put before it:
 * the "<3>" of `dmesg -r`, the "kern  :err   : " of `dmesg -x`, the time of
 * `dmesg --time-format iso`, a syslog file's "Nov 29 20:00:00 board kernel: ". */
const char *klog_skip_prefix(const char *s, const char *end);

/* Parses one /dev/kmsg record line (without its continuation lines). 0 or -EBADMSG. */
int klog_parse_kmsg(const char *line, size_t len, struct klog_record *rec);

/* Stable token for a kind ("kick_failed"), used in FAULT objects and logs. */
const char *klog_kind_to_string(enum klog_kind kind);

/* Stable token for an impact ("degraded"). */
const char *klog_impact_to_string(enum klog_impact impact);

/* The kernel names that belong to one channel: remoteproc name and instance, the rproc
 * platform device, virtio devices and rpmsg channel names. It learns the virtio device
 * ("registered virtio0") and channel names announced under its own devices. */
#define KLOG_SCOPE_MAX 16
struct klog_scope {
	char names[KLOG_SCOPE_MAX][KLOG_NAME_MAX];
	size_t n;
	/* Bit i: names[i] was learned (a virtio device registered), not given; given up when
	 * another remoteproc registers the same name (indices are reused). */
	uint32_t learned;
	/* Its remoteproc is powering up or attaching, and another instance is not (as far
	 * as their lines tell): a virtio device registered by an rproc-virtio device now is
	 * its own. */
	bool starting, other_starting;
};

enum klog_owner {
	KLOG_OWNER_OTHER = 0, /* names another device */
	KLOG_OWNER_MINE,      /* names one of the scope's devices */
	KLOG_OWNER_UNKNOWN,   /* names no device at all (plain printk) */
};

/* Adds a name to the scope (ignored when empty, present or full). 0 or -ENOSPC. */
int klog_scope_add(struct klog_scope *s, const char *name);

/* Adds a virtio device name the scope's remoteproc registered (seen in sysfs or the log):
 * like klog_scope_add(), but given up once another remoteproc registers that name. */
int klog_scope_learn(struct klog_scope *s, const char *name);

/* Says whether an event belongs to the scope, and learns names it announces. */
enum klog_owner klog_scope_match(struct klog_scope *s, const struct klog_event *ev);

#endif
