/* The channel's struct and the internals its two files share: channel.c (tty ownership,
 * state, reopen, sending) and channel_rx.c (reading and decoding). Not for other
 * modules: they see struct channel through channel.h only. */
#ifndef M7B_CHANNEL_INT_H
#define M7B_CHANNEL_INT_H

#include <time.h>

#include <event2/util.h>

#include "channel.h"
#include "latemark.h"
#include "rxthread.h"
#include "txthread.h"

#define CHANNEL_RBUF  65536
#define CHANNEL_TXBUF 8192

struct channel {
	struct channel_head head; /* first: channel_slot() reads it inline */
	struct event_base *base;
	const struct log *log;
	struct conf_channel cfg; /* own copy */
	const struct channel_ops *ops;
	void *ud;
	/* ops' on_msg, on_decoded and on_batch_end, or callbacks that do nothing: no tests
	 * per read */
	void (*rx_on_msg)(void *ud, struct channel *ch, const struct channel_msg *m);
	uint64_t (*rx_on_decoded)(void *ud, struct channel *ch, uint64_t skipped, uint64_t good,
				  uint64_t bad, uint64_t now_ms);
	void (*rx_on_batch_end)(void *ud, struct channel *ch);

	int fd;
	dev_t rdev; /* of the open tty, to notice a replaced node */
	struct event *ev_read, *ev_tx, *ev_reopen, *ev_sendq, *ev_inotify;
	struct rxthread *rx; /* reads the tty, when not ev_read (looplock.h) */
	struct txthread *tx; /* writes the tty (the driver may block in write()) */
	uint64_t tx_stalls_seen, tx_stall_ms_seen; /* the current writer's totals, counted */
	int ino_fd, ino_wd;
	char *dir, *base_name; /* dirname/basename of the device path */
	char *sysfs_root;      /* where rpmsg endpoints are resolved; NULL = /sys */

	enum channel_state state;
	uint64_t state_since_ms; /* monotonic ms of the last change of state */
	struct latemark late;	 /* captures held back across an outage */
	char wait_why[160];	 /* why the device cannot be opened, as last logged; "" = open */
	uint64_t wait_since_ms;	 /* when the waiting began */
	char note_reason[32];	 /* why its node is missing, from its owner; "" = not_found */
	char note_detail[160];
	char reason[32];
	char detail[160];
	int last_err; /* negative errno of the last failure, 0 if none */
	bool hold;    /* recovery owns reopening */
	unsigned backoff_ms;
	bool ever_opened;
	int holder_pid;
	char holder_comm[32];
	struct ratelimit rl_open, rl_reject, rl_stall, rl_seq_back;

	struct m7b_decoder dec;
	uint8_t rbuf[CHANNEL_RBUF];
	uint32_t tx_seq; /* next host -> M7 seq */
	bool have_rx_seq;
	uint32_t rx_seq;    /* last M7 -> host seq */
	bool rx_since_open; /* a frame arrived since the tty was opened */
	uint32_t rx_closes; /* closes of the tty: a read's frames stop at the next one */
	/* on_decoded is called for a read with rejects or one at or after decoded_until (what
	 * its last call returned); the good frames of the reads in between are summed for the
	 * next call. channel_decoded_restart() counts in decoded_restarts. */
	uint64_t decoded_until;
	uint64_t decoded_skipped;
	unsigned decoded_restarts;
	/* What each frame is handed over in: the clocks of the last read() (rx_mono_ns, rx_ms,
	 * rx_realtime_us) set once per read, the rest per frame, frame pointing at rx_frame.
	 * Kept, not built per read: its set-up cost a read() more than a frame's books. */
	struct channel_msg rx_msg;
	struct m7b_frame rx_frame;
	uint64_t rx_real_off_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC (mod 2^64), as last read */
	uint64_t rx_real_due_ms; /* when to read that offset again */

	struct sendq *sq;

	bool have_hello;
	struct m7b_hello hello;		   /* name points at fw_name */
	char fw_name[CHANNEL_FW_NAME_MAX]; /* valid UTF-8 (invalid bytes replaced) */

	struct channel_stats stats;
	struct fwcount fwc; /* the firmware's HEARTBEAT counters, summed across wraps and boots */
	struct books books;
	bool books_unsure;	 /* the books want a BOOT_INFO (note_up()); set by note_books() */
	uint64_t books_asked_ms; /* last HOST_HELLO sent to get a lost BOOT_INFO */
	unsigned books_asks;	 /* of them since the last boot change */
};

/* Monotonic milliseconds. */
static inline uint64_t channel_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Journal fields naming the channel and its device. */
struct log_fields channel_fields(const struct channel *ch, const char *mid);
/* Hands finished send requests to the owner and re-arms the deadline timer. */
void channel_sendq_drain(struct channel *ch);
/* Writes queued send requests while credit and the tx buffer allow. */
void channel_sendq_pump(struct channel *ch);
/* Queues whole bytes for the writer. 0, -ENOTCONN, -ENOBUFS (no room now). */
int channel_queue_tx(struct channel *ch, const uint8_t *buf, size_t n);
/* The tty failed (err: a negative errno): close it and try again later. */
void channel_io_failed(struct channel *ch, int err);
/* The state a channel takes when its tty goes away by itself: down, unless the recovery
 * engine owns it (failed, recovering, reloading), whose state then stands. */
enum channel_state channel_lost_state(const struct channel *ch);

/* ---- channel_dev.c ---- */

/* Logs once that ch waits for its device because of why (err: the negative errno), and
 * again only when why changes. */
void channel_note_waiting(struct channel *ch, int err, const char *why);
/* Logs the end of a wait that was logged. */
void channel_note_opened(struct channel *ch);
/* The node is missing: state down (failed stays failed) with the owner's reason, or
 * not_found; detail says which node. */
void channel_set_not_found(struct channel *ch, const char *detail);
/* Resolves an `rpmsg =` channel's node into cfg.device now. 0, or a negative errno with
 * the channel down (not_found) and waiting. */
int channel_resolve_rpmsg(struct channel *ch);

/* ---- channel_rx.c ---- */

/* Sets the receive path's callbacks from ch->ops, and points rx_msg at rx_frame. */
void channel_rx_set_ops(struct channel *ch);
/* Reads what is there. 0 when drained (EAGAIN), 1 when more may follow (burst limit),
 * or a negative errno / -EPIPE for EOF. */
int channel_rx_burst(struct channel *ch, int max_reads);
/* Read event of the open tty. */
void channel_rx_on_read(evutil_socket_t fd, short what, void *arg);
/* Stops the reader thread and handles what it had read and not handed over, as the loop
 * (the tty stays open, read from nowhere until closed). */
void channel_rx_take_reader(struct channel *ch);
/* The reader thread's callbacks (ud: the channel). */
extern const struct rxthread_ops channel_rx_thread_ops;

/* ---- channel_raw.c ---- */

/* Raw mode: hands n bytes just read to the owner in chunks of CHANNEL_RAW_CHUNK. */
void channel_raw_input(struct channel *ch, const uint8_t *buf, size_t n);

#endif
