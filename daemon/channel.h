/* One RPMSG channel: owns the tty (raw, exclusive), decodes frames with lib/, keeps the
 * send queue, reopens with backoff and on inotify, and reports state changes. */
#ifndef M7B_CHANNEL_H
#define M7B_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"

#include "books.h"
#include "conf.h"
#include "fwcount.h"
#include "log.h"
#include "sendq.h"

struct event_base;
struct event;

/* Link state, as STATE objects name it. */
enum channel_state {
	CHANNEL_DOWN = 0,
	CHANNEL_OPENING,
	CHANNEL_UP,
	CHANNEL_RECOVERING,
	CHANNEL_RELOADING,
	CHANNEL_FAILED,
	CHANNEL_ROLLED_BACK, /* a reload failed verification; the last good image runs again */
};

struct channel_stats {
	uint64_t data_frames;
	uint64_t seq_gaps;
	uint64_t reopens;
	uint64_t opens;
	uint64_t recoveries; /* bumped by the recovery engine through channel_count_recovery */
	uint64_t unknown_types;
	uint64_t sends, send_errors;
	uint64_t bad_payloads;		   /* valid frames whose payload did not unpack */
	uint64_t bad_data;		   /* of which DATA (not published, not in data_frames) */
	uint64_t boot_infos;		   /* BOOT_INFO frames */
	uint64_t write_stalls;		   /* tty writes that blocked >= TXTHREAD_STALL_MS */
	uint64_t write_stall_ms;	   /* time spent in them */
	uint64_t raw_rx_bytes, raw_chunks; /* raw mode: bytes read, RAW chunks made of them */
	uint64_t raw_tx_bytes;		   /* raw mode: bytes handed to the writer */
	uint64_t raw_tx_dropped;	   /* of them, not written: the channel closed first */
	uint64_t unread_at_close;	   /* read, not decoded: a frame's handling closed us */
	uint64_t untimed_frames;	   /* DATA published with no mapped time (clock unmapped) */
};

struct channel;

/* The firmware's name as kept: the wire allows 458 bytes (a HELLO payload less its 20
 * fixed bytes); each invalid byte may become a 3-byte U+FFFD. */
#define CHANNEL_FW_NAME_MAX (3 * (M7B_PAYLOAD_MAX - 20) + 1)

/* One M7 frame, decoded once by the channel: its header, what the channel learnt from it,
 * and the payload as the type's struct. Valid only during the callback that carries it.
 * A new frame type adds a member to the union and a case to the channel's decoder; other
 * new members go before the union (the receive path clears those per frame, not u). */
struct channel_msg {
	const struct m7b_frame *frame; /* header (type, port, flags, seq) and raw payload */
	bool bad_payload; /* known type, payload did not unpack: u is unset (counted) */
	/* HELLO: a boot id other than the last one seen; any other frame: its seq went back
	 * without a HELLO (the M7 restarted). Right after bad_payload: the owner tests both
	 * at once on every frame. */
	bool new_boot;
	bool first_after_open;	 /* the first frame since the tty was (re)opened */
	uint32_t seq_gap;	 /* frames lost just before this one (0 = none) */
	uint64_t rx_mono_ns;	 /* CLOCK_MONOTONIC ns right after the read() that brought it */
	uint64_t rx_ms;		 /* the same in ms */
	uint64_t rx_realtime_us; /* CLOCK_REALTIME us of that read(): MONOTONIC + an offset */
	bool late;		 /* DATA captured before the channel last left up, held back */
	union {
		struct m7b_hello hello; /* name: valid UTF-8, no NUL, NUL-terminated, whole */
		struct m7b_ack ack;
		struct m7b_data data;
		struct m7b_log log;
		struct m7b_heartbeat heartbeat;
		struct m7b_sync_reply sync_reply;
		struct m7b_boot_info boot_info; /* build_id and channel point into the frame */
	} u;
};

/* Raw mode: one chunk of tty input as it was read (at most CHANNEL_RAW_CHUNK bytes).
 * Valid only during the callback that carries it. */
struct channel_raw {
	const uint8_t *data;
	size_t len;
	uint64_t t_rx_ns;      /* CLOCK_REALTIME when the read returned */
	uint64_t t_rx_mono_ns; /* CLOCK_MONOTONIC, the same moment */
	bool first_after_open; /* the first chunk since the tty was (re)opened */
};

#define CHANNEL_RAW_CHUNK 2048 /* bytes per RAW object: bounds one rendered line */

/* What the channel tells its owner (the daemon). */
struct channel_ops {
	/* Every valid frame, decoded, after the channel's own bookkeeping. */
	void (*on_msg)(void *ud, struct channel *ch, const struct channel_msg *m);
	/* The state changed (ch->state is the new one). */
	void (*on_state)(void *ud, struct channel *ch, enum channel_state old);
	/* A send request finished. */
	void (*on_send_done)(void *ud, struct channel *ch, const struct sendq_entry *e,
			     enum sendq_result r, uint8_t status);
	/* One chunk of input, read at now_ms (monotonic), was decoded into good frames and
	 * rejected candidates; skipped: the good frames of the chunks since the last call.
	 * Returns the time (ms) until which a chunk without rejects is not handed over (its
	 * good frames come in the next call's skipped); 0: every chunk is. */
	uint64_t (*on_decoded)(void *ud, struct channel *ch, uint64_t skipped, uint64_t good,
			       uint64_t bad, uint64_t now_ms);
	/* A burst of input was processed: a good moment to flush clients. */
	void (*on_batch_end)(void *ud, struct channel *ch);
	/* Raw mode: a chunk of bytes as read (wire mode uses on_msg instead). */
	void (*on_raw)(void *ud, struct channel *ch, const struct channel_raw *r);
};

/* What STATUS and the supervisor read of a channel: a copy, taken when asked. */
struct channel_snapshot {
	enum channel_state state;
	uint64_t state_ms; /* time in this state */
	char reason[32];
	char detail[160];
	int last_err; /* errno of the last failure, 0 if none */
	bool open;    /* the tty is open */
	bool have_hello;
	struct m7b_hello hello; /* the last HELLO; name points at fw_name of this copy */
	char fw_name[CHANNEL_FW_NAME_MAX];
	int holder_pid; /* another process holding the tty, 0 if none */
	char holder_comm[32];
	struct channel_stats stats;
	struct m7b_decoder_stats dec;
	enum m7b_reject last_reject;
	struct books books;  /* per-port accounting across boots */
	unsigned send_queue; /* requests queued or in flight */
	bool raw;	     /* mode = raw */
	bool has_credits;    /* the firmware said how many frames it can take */
	int credits;
	struct fwcount fw_counters; /* the firmware's HEARTBEAT counters, summed */
};

/* Creates a channel from cfg (copied); does not open it yet. NULL on error. */
struct channel *channel_new(struct event_base *base, const struct conf_channel *cfg, unsigned slot,
			    const struct log *log, const struct channel_ops *ops, void *ud);
/* Closes the tty and frees ch; returns NULL. Pending sends fail as SENDQ_DOWN. */
struct channel *channel_free(struct channel *ch);
/* Sets the sysfs root an `rpmsg =` channel is resolved under (default /sys). 0 or
 * -ENOMEM. */
int channel_set_sysfs_root(struct channel *ch, const char *root);
/* Starts the channel: watches the device directory and opens the tty (or schedules it). */
void channel_start(struct channel *ch);
/* Takes config changes that need no reopen (port names, timeouts). 0 or -ENOMEM. */
int channel_update_config(struct channel *ch, const struct conf_channel *cfg);
/* Queues a send request and writes it when credit allows. 0, -EBUSY (queue full),
 * -ENOTCONN (channel not up). */
int channel_send(struct channel *ch, const struct sendq_entry *e);
/* Encodes one host frame (next host seq) and writes it; frames never interleave.
 * 0, -ENOTCONN, -ENOBUFS (tx buffer full), -EMSGSIZE. seq_out may be NULL. */
int channel_write_frame(struct channel *ch, uint8_t type, uint8_t port, uint8_t flags,
			const void *payload, size_t len, uint32_t *seq_out);
/* The seq the next host frame will carry: it moves with every frame written (HOST_HELLO
 * starts it again), which is all a watcher of "has the host sent anything" needs. */
uint32_t channel_tx_seq(const struct channel *ch);
/* Raw mode: hands bytes to the writer as they are, whole or not at all. 0, -ENOTCONN,
 * -ENOBUFS (no room now: try again later), -EMSGSIZE, -EOPNOTSUPP (a wire channel). */
int channel_write_raw(struct channel *ch, const void *data, size_t len);
/* True for a raw-mode channel. */
bool channel_is_raw(const struct channel *ch);
/* Sets the state with a reason token and optional detail (recovery uses this). */
void channel_set_state(struct channel *ch, enum channel_state st, const char *reason,
		       const char *detail);
/* Closes the tty; the state becomes st (usually CHANNEL_DOWN) with reason and err (a
 * negative errno or 0); schedules a reopen with backoff unless held. */
void channel_close(struct channel *ch, enum channel_state st, const char *reason, int err);
/* Tries to open now (cancels a pending backoff). 0 or negative errno. */
int channel_open_now(struct channel *ch);
/* Why the node is missing, when its owner knows better than not_found (the M7 is not
 * running and is left so): a reason token and detail for state down, shown until the
 * tty opens. reason NULL: back to not_found. */
void channel_set_wait_note(struct channel *ch, const char *reason, const char *detail);
/* While held, the channel never reopens by itself (recovery drives it). */
void channel_hold(struct channel *ch, bool hold);
/* Says hello again (0x00 + HOST_HELLO) on the open tty, keeping a frame half read. 0 or
 * a negative errno. */
int channel_resync(struct channel *ch);
/* Hands the next chunk of input to on_decoded whatever time its last call returned (with
 * the good frames not handed over yet): an observer started its check anew. */
void channel_decoded_restart(struct channel *ch);
/* Counts one recovery (shown in status). */
void channel_count_recovery(struct channel *ch);
/* Counts one DATA frame published without a mapped time (shown in status). */
void channel_count_untimed(struct channel *ch);
/* The channel's configuration (its own copy). */
const struct conf_channel *channel_config(const struct channel *ch);
/* The channel's name, as configured. */
const char *channel_name(const struct channel *ch);
/* What modules read of a channel on every frame, without a call: the first member of
 * struct channel, read only through the accessor below. */
struct channel_head {
	unsigned slot; /* index in the daemon's table, for client masks */
};
/* Index in the daemon's table, for client masks and per-slot state. */
static inline unsigned channel_slot(const struct channel *ch)
{
	return ((const struct channel_head *)(const void *)ch)->slot;
}
/* The current link state. */
enum channel_state channel_get_state(const struct channel *ch);
/* The open tty's writer thread (for send-time marks), NULL while closed. */
struct txthread *channel_txthread(const struct channel *ch);
/* Fills *s with the channel's state, identity and counters. */
void channel_snapshot(const struct channel *ch, struct channel_snapshot *s);
/* Logs a message about ch (CHANNEL=, DEVICE=, ERRNO= from r; %m prints r) and returns
 * r, a negative errno or 0: `return channel_log_errno(ch, LOG_ERR, r, "...: %m");`. */
int channel_log_errno(const struct channel *ch, int prio, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Name of a state ("up"). */
const char *channel_state_to_string(enum channel_state s);
/* True when frames can be exchanged (tty open: opening or up). */
bool channel_is_open(const struct channel *ch);

#endif
