/* libm7bridge client API: talk to m7bridged over its Unix socket (NDJSON, protocol v1),
 * blocking or from an event loop (poll the fd, then drain with timeout 0). */
#ifndef M7BRIDGE_CLIENT_H
#define M7BRIDGE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m7bridge/base64.h"
#include "m7bridge/hex.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the daemon listens unless configured otherwise; $M7BRIDGE_SOCKET overrides it. */
#define M7B_DEFAULT_SOCKET "/run/m7bridge/m7bridge.sock"
#define M7B_SOCKET_ENV	   "M7BRIDGE_SOCKET"

/* Protocol major version this library speaks. */
#define M7B_PROTO_MAJOR 1

/* Longest line the protocol allows (without the newline). */
#define M7B_LINE_MAX 65536u
/* Longest line the library accepts from the daemon (lenient); longer ones disconnect. */
#define M7B_CLIENT_LINE_MAX (1024u * 1024u)

/* Details of the last failure; the return value stays the negative errno. */
struct m7b_error {
	int errnum;	   /* negative errno, 0 if none */
	char code[48];	   /* the daemon's ERROR "code" token, or "" */
	char message[256]; /* human readable, never empty after a failure */
	size_t offset;	   /* position in the line for JSON errors, else 0 */
};

/* What an object from the daemon is, from its "class" member. */
enum m7b_event_type {
	M7B_EV_UNKNOWN = 0, /* a class this library does not know: read it from json */
	M7B_EV_VERSION,
	M7B_EV_FRAME,
	M7B_EV_STATE,
	M7B_EV_STATUS,
	M7B_EV_LOG,
	M7B_EV_HELLO,
	M7B_EV_FAULT,
	M7B_EV_DROPPED,
	M7B_EV_ACK,
	M7B_EV_ERROR,
	M7B_EV_INCIDENTS,
	M7B_EV_HEARTBEAT,
	M7B_EV_PONG,
	M7B_EV_RAW,   /* a raw channel's bytes: data, data_len; "t_rx_ns" by m7b_event_get_int */
	M7B_EV_CLOCK, /* proto_minor >= 1; new types only ever come last */
};

/* STATE reason: the M7 restarted without a HELLO (its seq went back); the state is
 * unchanged. The frames that follow belong to a run no HELLO has named yet. */
#define M7B_REASON_M7_RESTARTED "m7_restarted"

/* FRAME flags, from the "flags" array. */
#define M7B_FRAME_OVERRUN    0x01u
#define M7B_FRAME_LINE_ERROR 0x02u
#define M7B_FRAME_CONTINUED  0x04u

/* One object from the daemon, decoded. Strings are NUL-terminated and owned by the event;
 * pointers are NULL and numbers -1 when the member is absent, of another type or out of
 * range (port 0..255, level 0..7). */
struct m7b_event {
	enum m7b_event_type type;
	const char *cls;  /* "class" as sent */
	const char *line; /* the line as received, without its newline */
	size_t line_len;
	bool has_id;
	int64_t id;	     /* "id" when it is an integer (the ids this library sends) */
	const char *channel; /* "channel" */
	int port;	     /* "port" */
	/* FRAME */
	int64_t seq;
	int64_t t_first, t_last; /* M7 ticks */
	unsigned flags;		 /* M7B_FRAME_* */
	const uint8_t *data;	 /* "data" (base64) or "hex" decoded; non-NULL even if empty */
	size_t data_len;
	/* STATE (state, reason) and STATUS/HELLO where present */
	const char *state;
	const char *reason;
	/* ERROR */
	const char *code;
	const char *message;
	/* VERSION */
	const char *release;
	int proto_major, proto_minor;
	/* LOG */
	int level; /* syslog level 0..7 */
	const char *text;
	void *priv; /* library-private */
	/* FRAME, while the daemon maps the M7's ticks (proto_minor >= 1), else -1. Exact
	 * (read from the line's digits, not through a double). Members are only ever added
	 * here, at the end: the library allocates events, so older programs keep working. */
	int64_t t_first_ns, t_last_ns;		 /* CLOCK_REALTIME */
	int64_t t_first_mono_ns, t_last_mono_ns; /* CLOCK_MONOTONIC */
	int64_t t_err_ns;			 /* the true instants lie within +- this */
};

/* One channel of a STATUS object. */
struct m7b_channel_status {
	const char *name;
	const char *state;
	const char *device;   /* NULL if absent */
	const char *firmware; /* "firmware" object's "name", NULL if absent */
	int64_t frames;
	int64_t recoveries;
};

/* Parses one line into a new event (free with m7b_event_free). Returns 0, -EBADMSG (not
 * JSON, not an object, no string "class", a NUL byte, a FRAME or RAW payload that does not
 * decode; err says what and, for JSON errors, where), -EINVAL (out NULL, or line NULL
 * with len > 0) or -ENOMEM. Strings are UTF-8: a byte of the line that is not part of
 * valid UTF-8, and a \u0000 (the daemon's escape of a NUL byte in text from the M7),
 * read as U+FFFD, the rest of the string kept; ev->line stays as received. */
int m7b_event_parse(const char *line, size_t len, struct m7b_event **out, struct m7b_error *err);
/* Frees an event; NULL is fine. Returns NULL. */
struct m7b_event *m7b_event_free(struct m7b_event *ev);
/* Name of an event type, e.g. "FRAME". */
const char *m7b_event_type_to_string(enum m7b_event_type t);
/* A top-level string member of the event, or NULL. */
const char *m7b_event_get_string(const struct m7b_event *ev, const char *name);
/* A top-level integer member into *out (may be NULL), exact beyond 2^53 too (read from
 * the line's digits, not through a double); returns 0, -ENOENT or -EINVAL (not an
 * integer). */
int m7b_event_get_int(const struct m7b_event *ev, const char *name, int64_t *out);
/* True if the top-level member exists. */
bool m7b_event_has(const struct m7b_event *ev, const char *name);
/* A top-level member re-serialised as compact JSON (caller frees with free()), or NULL. */
char *m7b_event_get_json(const struct m7b_event *ev, const char *name);
/* Number of elements of a top-level array member (0 if absent or not an array). */
size_t m7b_event_array_size(const struct m7b_event *ev, const char *name);
/* String member `member` of element i of array `name`, or NULL. */
const char *m7b_event_array_string(const struct m7b_event *ev, const char *name, size_t i,
				   const char *member);
/* Integer member of element i of array `name` into *out (may be NULL); 0, -ENOENT or
 * -EINVAL. */
int m7b_event_array_int(const struct m7b_event *ev, const char *name, size_t i, const char *member,
			int64_t *out);
/* Channel i of a STATUS event ("channels" array); 0, -ENOENT or -EINVAL (out NULL).
 * Strings point into ev. */
int m7b_event_channel(const struct m7b_event *ev, size_t i, struct m7b_channel_status *out);

/* Filters and options for watch; NULL/0 members are left out of the request. */
struct m7b_watch {
	const char *const *channels; /* channel names */
	size_t nchannels;
	const int *ports; /* UART ports */
	size_t nports;
	const char *const *classes; /* e.g. "FRAME", "STATE" */
	size_t nclasses;
	const char *encoding; /* FRAME payload: "base64" (default, member data) or "hex" */
	const char *policy;   /* slow-client policy, see docs/CLIENT-PROTOCOL.md */
};

/* Requests the daemon understands. */
enum m7b_cmd {
	M7B_CMD_WATCH,
	M7B_CMD_UNWATCH,
	M7B_CMD_STATUS,
	M7B_CMD_SEND,
	M7B_CMD_RECOVER,
	M7B_CMD_RELOAD,
	M7B_CMD_INCIDENTS,
	M7B_CMD_PING,
};

/* One request; members that do not apply to cmd are ignored. */
struct m7b_request {
	enum m7b_cmd cmd;
	const char *channel;  /* send, recover, reload, incidents (NULL = all) */
	int port;	      /* send */
	const void *data;     /* send: bytes to write on the UART */
	size_t len;	      /* send */
	const char *firmware; /* reload; NULL = the configured/current firmware */
	const char *action;   /* recover: resync, reopen, driver, remoteproc; NULL = auto */
	const struct m7b_watch *watch; /* watch; NULL = everything */
	bool no_rollback;	       /* reload: keep an image that fails verification */
};

/* Name of a command as sent in "cmd". */
const char *m7b_cmd_to_string(enum m7b_cmd cmd);
/* Builds the request line (compact JSON plus '\n', caller frees) with integer id; NULL on
 * -ENOMEM or a request that cannot be expressed (-EINVAL: a value out of range, such as
 * an id beyond +-(2^53 - 1), which the daemon could not echo exactly, a string that is not
 * UTF-8; -EMSGSIZE: longer than M7B_LINE_MAX). */
char *m7b_request_format(const struct m7b_request *req, int64_t id, int *error);

/* One connection. A client is for one thread at a time; clients are independent of each
 * other (the library has no global state), so threads may each have their own. Its
 * socket is close-on-exec; after fork() the child may free the parent's client (that
 * closes the child's copy of the socket only) but must not read from it. Nothing here
 * returns -EINTR: a signal does not end a wait (poll the fd to wait on both). A NULL
 * client (m7b_client_new() out of memory) is refused, not a crash: -EINVAL, or NULL,
 * false, -1 where a call returns no errno, and nothing done. */
struct m7b_client;

/* A new, unconnected client; NULL on out of memory. */
struct m7b_client *m7b_client_new(void);
/* Closes and frees; NULL is fine. Returns NULL. */
struct m7b_client *m7b_client_free(struct m7b_client *c);
/* Connects to path (NULL: $M7BRIDGE_SOCKET, else M7B_DEFAULT_SOCKET) without blocking.
 * Returns 0 or the connect errno (-ENOENT, -ECONNREFUSED, -EACCES, -EAGAIN when the
 * daemon's queue of connections is full: it is stopped or stuck, ...). */
int m7b_client_connect(struct m7b_client *c, const char *path);
/* Closes the connection; the client can connect again. Queued events are dropped. */
void m7b_client_close(struct m7b_client *c);
/* The socket path in use (after connect), or NULL. */
const char *m7b_client_path(const struct m7b_client *c);
/* The connected socket (non-blocking) for poll/libevent/QSocketNotifier, or -1. */
int m7b_client_fd(const struct m7b_client *c);
/* True from a successful connect until m7b_client_close() or a failure that ends the
 * connection here (-EMSGSIZE, -EPROTO). Still true once the daemon closed its end: next()
 * then returns -ECONNRESET each time; close (or connect) to start again. */
bool m7b_client_connected(const struct m7b_client *c);
/* Timeout for the blocking calls below in ms (default 5000; -1 waits forever), each call
 * in all: sending, the reply, and for m7b_client_watch the STATUS it may ask first. */
void m7b_client_set_timeout(struct m7b_client *c, int ms);
/* Details of the last failure of any call on c (with c NULL: -EINVAL, "no client"). */
const struct m7b_error *m7b_client_error(const struct m7b_client *c);
/* The daemon's VERSION object once it has been read, else NULL. */
const struct m7b_event *m7b_client_version(const struct m7b_client *c);

/* Next object from the daemon. timeout_ms 0 = do not wait (event loop), -1 = forever
 * (for the whole call: the objects the library hides do not start the wait over).
 * Returns 0 and *out (free it), -EINVAL (out NULL), -EAGAIN (nothing yet), -ETIMEDOUT,
 * -EBADMSG (a bad line was skipped; the stream goes on), -ECONNRESET (daemon closed),
 * -EMSGSIZE (line too long; disconnected), -EPROTO (unsupported proto_major;
 * disconnected), -ENOTCONN. When a blocking call ends the connection, the objects that
 * came before are still returned. */
int m7b_client_next(struct m7b_client *c, struct m7b_event **out, int timeout_ms);
/* True if an event is already buffered, so next() with timeout 0 will not return -EAGAIN
 * for lack of data (call it before going back to poll). It may still return -EAGAIN when
 * what was buffered were only the HELLO and STATE objects m7b_client_watch hides. */
bool m7b_client_pending(const struct m7b_client *c);

/* Sends req without waiting for the reply; *id (may be NULL) gets the id the reply will
 * echo. When the daemon takes no bytes within the timeout: -ETIMEDOUT, the connection
 * still usable; when it took only part of the line: -ECONNRESET, and the connection
 * takes no more requests (the rest would run into the next one), while what the daemon
 * still sends, the replies to earlier requests included, can be read with next(). */
int m7b_client_submit(struct m7b_client *c, const struct m7b_request *req, int64_t *id);
/* Sends req and waits for the object that echoes its id; other objects that arrive
 * meanwhile are kept for next(), and so are bad lines (next() returns -EBADMSG for each,
 * in its place). Returns 0 with *reply (may be NULL: then freed), or
 * -EREMOTEIO when the reply is an ERROR (its code/message in m7b_client_error, the event
 * still in *reply), -EBADMSG when it is of a class that does not answer req (the daemon
 * broke the protocol; nothing in *reply), -ETIMEDOUT, -ECONNRESET, ... An object of a
 * class this library does not know is never taken as the reply: next() returns it, as it
 * does a reply that comes after the call gave up (-ETIMEDOUT). */
int m7b_client_call(struct m7b_client *c, const struct m7b_request *req, struct m7b_event **reply);

/* Shorthands for m7b_client_call. m7b_client_watch, as the first watch of a new
 * connection, resumes after the last FRAME m7b_client_next delivered (the daemon replays
 * what it still holds, see docs/CLIENT-PROTOCOL.md 3.1.1); it adds HELLO and STATE to the
 * classes to learn boot ids and restarts and then hides those it added. A position is per
 * channel and a watch carries one: it resumes when the watch names one channel, or frames
 * came from only one (positions are kept for 16 channels with names of up to 63 bytes;
 * frames of any other count as another channel), and when the firmware run of that last
 * frame is sure; otherwise it watches live (frames of a run no HELLO named yet, see
 * M7B_REASON_M7_RESTARTED, and those after a DROPPED notice until the next HELLO, are not
 * sure). A client that had frames first asks for STATUS, once per connection: a daemon
 * that started (its "uptime_ms") after the last connection that delivered frames first
 * heard from its daemon (not when it connected: a socket-activated daemon may start
 * later) restarted, so the watch asks it for all it holds ("since_ns" 0), each frame of
 * which came after the last one delivered; it sends a REPLAY_GAP that is not exact first
 * (it cannot know what came while no daemon read the tty). */
int m7b_client_watch(struct m7b_client *c, const struct m7b_watch *w);
int m7b_client_unwatch(struct m7b_client *c);
int m7b_client_status(struct m7b_client *c, struct m7b_event **reply);
int m7b_client_send(struct m7b_client *c, const char *channel, int port, const void *data,
		    size_t len);
int m7b_client_recover(struct m7b_client *c, const char *channel, struct m7b_event **reply);
int m7b_client_ping(struct m7b_client *c);
int m7b_client_reload(struct m7b_client *c, const char *channel, const char *firmware,
		      struct m7b_event **reply);
int m7b_client_incidents(struct m7b_client *c, const char *channel, struct m7b_event **reply);
/* Turns resuming in m7b_client_watch on (the default) or off. */
void m7b_client_set_resume(struct m7b_client *c, bool on);
/* The last FRAME delivered on channel: its boot id and seq. 0, -EINVAL (boot_id or seq
 * NULL), or -ENOENT (none, or its firmware run is not sure: m7b_client_watch would not
 * resume from it). */
int m7b_client_position(const struct m7b_client *c, const char *channel, uint32_t *boot_id,
			uint32_t *seq);

/* The library's version string. */
const char *m7b_version(void);

#ifdef __cplusplus
}
#endif

#endif
