/* The daemon context: event base, configuration, channels, listening socket, clients,
 * signals; request dispatch and fan-out of frames to clients. */
#ifndef M7B_DAEMON_H
#define M7B_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "channel.h"
#include "conn.h"
#include "conf.h"
#include "log.h"
#include "proto.h"

struct event_base;
struct daemon;

/* A request handler other modules register (recover, reload, incidents, ...). It must
 * reply exactly once, now or later (daemon_reply_*() with c->id). */
typedef void (*daemon_handler_fn)(void *ud, struct daemon *d, struct conn *c,
				  const struct proto_request *req);

/* What other modules add to a channel's STATUS entry. */
struct daemon_status_extra {
	bool has_recovery_steps;
	char recovery_steps[96]; /* the ladder's steps in order, comma-separated */
	bool has_pty;
	struct proto_pty pty; /* its strings point at the two arrays below */
	char pty_path[CONF_PATH_MAX], pty_slave[64];
};

/* The msg_types bit of frame type t (types from 31 up share the last bit). */
#define DAEMON_MSG_TYPE(t) (1u << ((unsigned)(t) < 31u ? (unsigned)(t) : 31u))

/* A decoded frame for an observer. */
typedef void (*daemon_msg_fn)(void *ud, struct channel *ch, const struct channel_msg *m);
/* A chunk of tty input read at now_ms (the read's clock) gave good frames and rejected
 * candidates; skipped: the good frames of the chunks not handed over since the last call.
 * Returns the time (ms) until which a chunk without rejects need not be (channel.h's
 * on_decoded); 0: every chunk must be. */
typedef uint64_t (*daemon_decoded_fn)(void *ud, struct channel *ch, uint64_t skipped, uint64_t good,
				      uint64_t bad, uint64_t now_ms);

/* Hooks for modules that watch the channels (recovery, liveness, clock mapping). */
struct daemon_observer {
	/* Every valid frame of the types in msg_types, decoded once by the channel. */
	daemon_msg_fn on_msg;
	/* DATA frames, when set, instead of on_msg: an observer that reads them but none of
	 * the tests on_msg makes on the type of others. */
	daemon_msg_fn on_data;
	/* The frame types on_msg takes, as DAEMON_MSG_TYPE() bits; 0 takes every type. DATA
	 * is nearly every frame: an observer that ignores it leaves its bit out and is not
	 * called for it. */
	uint32_t msg_types;
	void (*on_state)(void *ud, struct channel *ch, enum channel_state old);
	/* A chunk of tty input gave good frames and rejected candidates (stream health);
	 * chunks without rejects before the time it returned come summed with the next. */
	daemon_decoded_fn on_decoded;
	/* A reload updated the channel's settings in place (no reopen was needed). */
	void (*on_config)(void *ud, struct channel *ch);
	/* A channel was created (added) or is about to be freed (!added). */
	void (*on_channel)(void *ud, struct channel *ch, bool added);
	/* Raw mode: a chunk of bytes as read from the tty. */
	void (*on_raw)(void *ud, struct channel *ch, const struct channel_raw *r);
	/* A reload took the new configuration (after the channels were updated). */
	void (*on_reload)(void *ud, const struct conf *cfg);
	/* STATUS is being rendered: fill in what this module knows about ch. */
	void (*on_status)(void *ud, const struct channel *ch, struct daemon_status_extra *x);
	void *ud;
};

/* Send-queue cookies with the low bit set belong to the daemon's own senders (the pty),
 * never to a client: their results go to the internal send hook. */
#define DAEMON_COOKIE_INTERNAL 1u
/* A send of an internal sender finished. */
typedef void (*daemon_send_done_fn)(void *ud, struct channel *ch, const struct sendq_entry *e,
				    enum sendq_result r);

/* Maps a frame's t_first and t_last (M7 ticks of a channel) to CLOCK_MONOTONIC and
 * CLOCK_REALTIME ns with one error bound for both, into f's mapped members and has_mono,
 * has_realtime; false (those flags untouched) while unknown. */
typedef bool (*daemon_clock_fn)(void *ud, const struct channel *ch, struct proto_frame *f);
/* Fills a channel's clock state for STATUS; false if there is none. */
typedef bool (*daemon_clock_info_fn)(void *ud, const struct channel *ch, struct proto_clock *c);
/* A DATA capture on port starting at first went backwards (clockfast_went_back()): the M7
 * clock started over. */
typedef void (*daemon_clock_back_fn)(void *ud, struct channel *ch, uint8_t port, uint64_t first);

struct clockfast;
/* The clock mapper: per slot, a fast map (clockfast.h) that DATA frames read with no call;
 * map for the frames of the slots whose fast map says CLOCKFAST_CALL. */
struct daemon_clock {
	daemon_clock_fn map;
	daemon_clock_info_fn info;
	daemon_clock_back_fn back;
	struct clockfast *fast; /* CONF_MAX_CHANNELS of them */
	void *ud;
};

/* Fills a channel's fault counters for STATUS; false if it has none. */
typedef bool (*daemon_fault_info_fn)(void *ud, const struct channel *ch, struct proto_faults *f);

/* Reads the configuration at a SIGHUP in place of the daemon's own conf_read(): with
 * privilege separation, the helper reads the file once for both (privsep.h). 0 with *out,
 * or negative errno with err set. */
typedef int (*daemon_conf_reader_fn)(void *ud, struct conf **out, struct conf_error *err);

struct daemon_args {
	struct conf *cfg;	  /* taken over by daemon_new (freed on failure too) */
	const char *conf_path;	  /* for SIGHUP reload; NULL = none */
	bool conf_optional;	  /* missing file: defaults (at a reload, if none was read) */
	struct conf_overrides ov; /* re-applied on reload; strings must outlive d */
	enum log_target log_target;
};

/* Sets everything up (socket, channels, signals). 0 with *out, or a negative errno
 * (logged). a->cfg is taken over either way. */
int daemon_new(const struct daemon_args *a, struct daemon **out);
/* Runs the event loop until SIGTERM/SIGINT or daemon_stop(). 0 or a negative errno. */
int daemon_run(struct daemon *d);
/* Asks the loop to end after the current callback. */
void daemon_stop(struct daemon *d);
/* As daemon_stop(), and daemon_run() then returns err (negative): the daemon cannot go on
 * (its privileged helper died). */
void daemon_fail(struct daemon *d, int err);
/* Tears everything down in reverse order (socket removed, ttys closed); returns NULL. */
struct daemon *daemon_free(struct daemon *d);
/* Re-reads the configuration: adds, removes and changes channels without disturbing the
 * unchanged ones or any client. 0, or negative errno (the old configuration stays). */
int daemon_reload(struct daemon *d);
/* Makes reloads read the configuration through fn. */
void daemon_set_conf_reader(struct daemon *d, daemon_conf_reader_fn fn, void *ud);

/* The event base, for modules that add their own events. */
struct event_base *daemon_base(struct daemon *d);
/* The logger. */
const struct log *daemon_log(struct daemon *d);
/* The current configuration. */
const struct conf *daemon_config(struct daemon *d);
/* A channel by name, NULL if none. */
struct channel *daemon_channel(struct daemon *d, const char *name);
/* Channel in slot i (0..CONF_MAX_CHANNELS-1), NULL if the slot is free. */
struct channel *daemon_channel_at(struct daemon *d, unsigned i);
/* A connected client by id, NULL if it is gone. */
struct conn *daemon_client(struct daemon *d, uint64_t id);
/* One line for sd_notify STATUS=: "2/2 channels up, 3 clients". Returns buf. */
const char *daemon_status_summary(struct daemon *d, char *buf, size_t cap);
/* Registers a handler for a cmd name (overrides the built-in "unsupported" of recover,
 * reload, incidents). 0, -EEXIST, -ENOSPC. */
int daemon_register_handler(struct daemon *d, const char *cmd, daemon_handler_fn fn, void *ud);
/* Adds an observer (copied). 0 or -ENOSPC. */
int daemon_add_observer(struct daemon *d, const struct daemon_observer *o);
/* Removes every observer registered with user data ud (before ud is freed). */
void daemon_remove_observer(struct daemon *d, void *ud);
/* Writes queued client output now; modules call it at the end of their own event
 * callbacks (channel callbacks are flushed by the daemon). */
void daemon_flush(struct daemon *d);
/* Installs the tick -> realtime mapper used for FRAME t_first_ns / t_last_ns (copied;
 * NULL, or one without fast maps, removes it). */
void daemon_set_clock(struct daemon *d, const struct daemon_clock *k);
/* Installs the source of STATUS kick_failures and faults (NULL fn: none). */
void daemon_set_fault_info(struct daemon *d, daemon_fault_info_fn fn, void *ud);
/* Installs the hook for internal senders' results (one; NULL removes it). */
void daemon_set_send_hook(struct daemon *d, daemon_send_done_fn fn, void *ud);
/* Streams a rendered line (with '\n') of class cls from ch to watching clients. */
void daemon_broadcast(struct daemon *d, struct channel *ch, unsigned cls, const char *line,
		      size_t len);
/* Streams a FAULT object (source "kernel", "liveness" or "decoder"). */
void daemon_publish_fault(struct daemon *d, struct channel *ch, const char *kind,
			  const char *detail, const char *source, uint64_t count);
/* Sends a rendered reply line to client id, if still connected. */
void daemon_reply(struct daemon *d, uint64_t client_id, const char *line, size_t len);
/* Sends ACK {"cmd":cmd,"channel":...} for request id (JSON text) to client_id. */
void daemon_reply_ack(struct daemon *d, uint64_t client_id, const char *id, const char *cmd,
		      const char *channel);
/* Sends ERROR for request id (JSON text) to client_id. */
void daemon_reply_error(struct daemon *d, uint64_t client_id, const char *id, enum proto_err code,
			const char *message, const char *channel);
/* Monotonic milliseconds. */
uint64_t daemon_now_ms(void);

#endif
