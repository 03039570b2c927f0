/* Client protocol v1 (docs/CLIENT-PROTOCOL.md): request parsing with cJSON and object
 * rendering. FRAME is rendered by hand into a caller buffer: it is the hot path. */
#ifndef M7B_PROTO_H
#define M7B_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m7bridge/wire.h"

#include "books.h"

#define PROTO_MAJOR	  1
#define PROTO_MINOR	  1
#define PROTO_LINE_MAX	  65536u /* longest line either way, without the newline */
#define PROTO_ID_MAX	  256	 /* longest "id", as JSON text */
#define PROTO_NAME_MAX	  64
#define PROTO_FRAME_MAX	  4096 /* a rendered FRAME always fits */
#define PROTO_FLOOD_LINES 32   /* bad lines in a row before disconnect */

/* Streamable classes, as a bit mask for watch filters. */
enum proto_class {
	PROTO_C_FRAME = 1u << 0,
	PROTO_C_STATE = 1u << 1,
	PROTO_C_LOG = 1u << 2,
	PROTO_C_HELLO = 1u << 3,
	PROTO_C_HEARTBEAT = 1u << 4,
	PROTO_C_FAULT = 1u << 5,
	PROTO_C_CLOCK = 1u << 6,
	PROTO_C_RAW = 1u << 7,
	PROTO_C_ALL = (1u << 8) - 1,
};

enum proto_cmd {
	PROTO_CMD_OTHER = 0, /* not built in: maybe a registered handler, else unknown_cmd */
	PROTO_CMD_WATCH,
	PROTO_CMD_UNWATCH,
	PROTO_CMD_STATUS,
	PROTO_CMD_SEND,
	PROTO_CMD_RECOVER,
	PROTO_CMD_RELOAD,
	PROTO_CMD_INCIDENTS,
	PROTO_CMD_PING,
};

enum proto_encoding { PROTO_ENC_BASE64 = 0, PROTO_ENC_HEX };
/* Where a watch starts: live only, after a (boot_id, seq), or after a receive time. */
enum proto_since { PROTO_SINCE_NONE = 0, PROTO_SINCE_SEQ, PROTO_SINCE_TIME };
enum proto_policy { PROTO_POLICY_DROP = 0, PROTO_POLICY_DISCONNECT };

/* ERROR codes. */
enum proto_err {
	PROTO_E_NONE = 0,
	PROTO_E_BAD_JSON,
	PROTO_E_NOT_OBJECT,
	PROTO_E_BAD_TYPE,
	PROTO_E_BAD_VALUE,
	PROTO_E_UNKNOWN_CMD,
	PROTO_E_MISSING_MEMBER,
	PROTO_E_TOO_LONG,
	PROTO_E_FLOOD,
	PROTO_E_NO_CHANNEL,
	PROTO_E_CHANNEL_DOWN,
	PROTO_E_SEND_FAILED,
	PROTO_E_TIMEOUT,
	PROTO_E_FORBIDDEN,
	PROTO_E_BUSY,
	PROTO_E_UNSUPPORTED,
	PROTO_E_INTERNAL,
	PROTO_E_UNKNOWN_CHANNEL, /* a watch filter names no configured channel */
	PROTO_E_UNKNOWN_PORT,	 /* a watch filter names no configured port */
	PROTO_E_COUNT
};

/* A parsed request. Owns json (the cJSON tree, for registered handlers) and channels. */
struct proto_request {
	enum proto_cmd cmd;
	char cmd_name[32];
	char id[PROTO_ID_MAX + 1]; /* JSON text of "id", "" when absent */
	/* Channel names as the client wrote them, however long (a name that no channel can
	 * have is still just an unknown name); they point into json. */
	const char *channel; /* "" when absent */
	/* watch */
	bool all_channels;
	const char **channels;
	unsigned nchannels;
	uint64_t ports[4]; /* bit per port */
	unsigned classes;
	enum proto_encoding encoding;
	enum proto_policy policy;
	enum proto_since since; /* replay from a position (replay.c) */
	uint32_t since_boot_id, since_seq;
	uint64_t since_ns;
	/* send */
	int port; /* -1 when absent */
	uint8_t data[M7B_PAYLOAD_MAX];
	size_t len;
	/* recover / reload */
	char action[32];
	char firmware[256];
	bool no_rollback; /* reload: leave an image that fails verification running */
	void *json;	  /* cJSON *, root object */
};

/* Error detail from parsing: code, message and the id when it could be read. */
struct proto_error {
	enum proto_err code;
	char message[160];
};

/* Parses one line (no newline) into req. 0, or -EINVAL with e set (req->id kept when it
 * could be read). Always call proto_request_clear() afterwards. */
int proto_parse_request(const char *line, size_t len, struct proto_request *req,
			struct proto_error *e);
/* Frees what a request owns. */
void proto_request_clear(struct proto_request *req);
/* Token of an error code ("bad_json"). */
const char *proto_err_to_string(enum proto_err code);
/* Class bit from its name, 0 if unknown. */
unsigned proto_class_from_string(const char *name);
/* Name of one class bit. */
const char *proto_class_to_string(unsigned cls);
const char *proto_encoding_to_string(enum proto_encoding e);
const char *proto_policy_to_string(enum proto_policy p);

/* JSON-quotes n bytes of (possibly invalid) UTF-8 into dst; invalid sequences become
 * U+FFFD. Returns the length (without NUL) or -ENOSPC. */
int proto_quote(char *dst, size_t cap, const void *src, size_t n);

/* What a FRAME says of one frame, names and payload aside: filled once per frame, rendered
 * once per encoding. The members are a macro so that the replay ring's record can start
 * with the very same ones and take a frame as one block of PROTO_FRAME_SIZE bytes. */
#define PROTO_FRAME_MEMBERS                                                                        \
	uint64_t t_first, t_last;			    /* M7 ticks */                         \
	uint64_t t_first_ns, t_last_ns;			    /* known when has_realtime */          \
	uint64_t t_first_mono_ns, t_last_mono_ns, t_err_ns; /* known when has_mono */              \
	uint32_t seq;                                                                              \
	uint16_t nbytes;                                                                           \
	uint8_t port;                                                                              \
	uint8_t flags;                                                                             \
	bool late; /* captured before the channel last left up, delivered after */                 \
	bool has_realtime;                                                                         \
	bool has_mono;
struct proto_frame {
	PROTO_FRAME_MEMBERS
};
/* The bytes of a proto_frame that hold members (its tail padding aside). */
#define PROTO_FRAME_SIZE (offsetof(struct proto_frame, has_mono) + sizeof(bool))

/* The parts of a channel's FRAMEs that come from its names, rendered when they change:
 * the line's start up to the port number, and each named port's ,"port_name": member.
 * The renderer copies a piece of up to PROTO_FRAME_PIECE_READ bytes as one fixed block:
 * the buffers hold at least that many. */
#define PROTO_FRAME_PIECE_READ 64
#define PROTO_FRAME_HEAD_MAX   192 /* {"class":"FRAME","channel":NAME,"port": */
#define PROTO_FRAME_PNAME_MAX  512 /* ,"port_name":NAME */
/* The leading digits (all but the last eight) of a mapped time as text, kept from one
 * FRAME line to the next: a channel's times share them for a tenth of a second. */
struct proto_ns_memo {
	uint64_t base; /* the time (or tick count) rounded down to 10^8 the text is of */
	_Alignas(16) uint64_t base_x2[2]; /* base twice: one vector operand */
	uint64_t lim; /* times base .. base + lim - 1 have it: 10^8 (less for the last); 0: none */
	size_t len;
	char text[24]; /* M7B_U64_DEC_MAX: the formatter's room */
	/* The same of the range the memo left last: the first time of a capture that straddles
	 * a multiple of 10^8 lies there, the memo having moved on to its last. */
	uint64_t prev_base, prev_lim;
	size_t prev_len;
	char prev_text[24];
};
struct proto_frame_names {
	char head[PROTO_FRAME_HEAD_MAX];
	size_t head_len;
	char *port_name[256]; /* by port; NULL when it has no name */
	size_t port_name_len[256];
	struct proto_ns_memo memo[3]; /* REALTIME, MONOTONIC, ticks: proto_render_frame_memo() */
};
/* Sets the head from the channel's pre-quoted name (replacing it). 0 or -ENOSPC. */
int proto_frame_names_head(struct proto_frame_names *nm, const char *channel_json, size_t len);
/* Sets port's member from its pre-quoted name (replacing it). 0, -ENOSPC or -ENOMEM. */
int proto_frame_names_port(struct proto_frame_names *nm, uint8_t port, const char *port_json,
			   size_t len);
/* Frees what nm holds and zeroes it (a zeroed nm is fine). */
void proto_frame_names_clear(struct proto_frame_names *nm);

/* A channel's clock mapping, for CLOCK objects and STATUS. */
struct proto_clock {
	const char *source; /* how ticks are mapped: "sync", "sysctr", "host" */
	bool mapped;	    /* the members below are known */
	int64_t offset_ns;  /* CLOCK_MONOTONIC of tick 0 at the nominal rate */
	double rate_ppm, rate_err_ppm;
	uint64_t err_ns;	  /* bound at the newest exchange */
	uint64_t samples;	  /* exchanges in the fit */
	uint64_t updated_mono_ns; /* CLOCK_MONOTONIC of the newest exchange */
	uint64_t epochs;	  /* resets detected from the replies */
	uint64_t rejected;	  /* exchanges refused as impossible or inconsistent */
};
/* Renders a CLOCK line with its '\n'. Returns length or -ENOSPC. */
int proto_render_clock(char *buf, size_t cap, const char *channel, const struct proto_clock *c);

/* Renders a FRAME line with its '\n' into buf: the channel's pieces, the frame, its
 * f->nbytes (at most M7B_PAYLOAD_MAX) of payload. Returns length or -ENOSPC; never fails
 * with PROTO_FRAME_MAX bytes of room. */
int proto_render_frame(char *buf, size_t cap, const struct proto_frame_names *nm,
		       const struct proto_frame *f, const uint8_t *bytes, enum proto_encoding enc);
/* The same bytes, the mapped times' leading digits reused from nm's previous line (and
 * kept there for the next): for the stream of a channel's live frames. */
int proto_render_frame_memo(char *buf, size_t cap, struct proto_frame_names *nm,
			    const struct proto_frame *f, const uint8_t *bytes,
			    enum proto_encoding enc);

/* The following render one line (with '\n') into buf and return its length or -ENOSPC.
 * id is JSON text or "" (left out). */
int proto_render_version(char *buf, size_t cap, const char *release);
int proto_render_state(char *buf, size_t cap, const char *channel, const char *state,
		       const char *reason, const char *detail, const char *errno_name);
int proto_render_ack(char *buf, size_t cap, const char *id, const char *cmd, const char *channel,
		     bool has_seq, uint32_t seq);
int proto_render_error(char *buf, size_t cap, const char *id, enum proto_err code,
		       const char *message, const char *channel);
/* ERROR with "available": the JSON array text (what exists) the client may choose from. */
int proto_render_error_available(char *buf, size_t cap, const char *id, enum proto_err code,
				 const char *message, const char *available_json);
int proto_render_pong(char *buf, size_t cap, const char *id);
int proto_render_dropped(char *buf, size_t cap, uint64_t count, uint64_t total, uint64_t raw_bytes,
			 uint64_t raw_bytes_total);
int proto_render_log(char *buf, size_t cap, const char *channel, uint8_t level, const char *text,
		     size_t text_len, uint32_t seq);
/* RAW: one chunk of a raw-mode channel's bytes. channel_json is the pre-quoted name. */
int proto_render_raw(char *buf, size_t cap, const char *channel_json, size_t channel_json_len,
		     const uint8_t *data, size_t len, uint64_t t_rx_ns, uint64_t t_rx_mono_ns,
		     enum proto_encoding enc);
int proto_render_hello(char *buf, size_t cap, const char *channel, const struct m7b_hello *h,
		       bool new_boot);
int proto_render_heartbeat(char *buf, size_t cap, const char *channel, uint32_t seq,
			   const struct m7b_heartbeat *hb);
int proto_render_fault(char *buf, size_t cap, const char *channel, const char *kind,
		       const char *detail, const char *source, uint64_t count);

/* A fault kind and how often it was raised on a channel. */
struct proto_fault_count {
	const char *kind; /* static token, "stall" */
	uint64_t n;
};
/* A channel's fault intake counters, for STATUS. */
struct proto_faults {
	uint64_t kick_failures;		   /* mailbox kicks the kernel reported as failed */
	const struct proto_fault_count *v; /* kinds seen, in first-seen order */
	unsigned n;
};
/* STATUS: a channel's pty (docs/BYO-FIRMWARE.md): where it is and what went through. */
struct proto_pty {
	const char *path, *slave;
	uint64_t to_app, to_m7, dropped_to_app, failed_to_m7, paused_ms;
};

/* STATUS: snapshots the daemon fills in; rendered with cJSON. */
struct proto_status_channel {
	const char *name, *device, *state, *reason;
	uint64_t frames, recoveries, bytes, data_frames, seq_gaps, bad_crc, resyncs, noise_bytes,
		reopens, unknown_types, sends, send_errors, write_stalls, write_stall_ms,
		bad_payloads, unread_at_close;
	const struct books *books; /* per-port accounting; NULL leaves it out */
	unsigned send_queue;
	bool has_credits;
	int credits;
	bool has_firmware;
	const char *fw_name;
	uint32_t boot_id, tick_hz;
	uint16_t max_payload;
	int holder_pid; /* 0 = none */
	const char *holder_comm;
	uint64_t state_ms;	       /* time in the current state */
	const char *const *port_names; /* CONF_PORTS-long, NULL entries unnamed; or NULL */
	unsigned nports;	       /* entries in port_names */
	const char *recovery_steps;    /* comma-separated; NULL = no recovery engine */
	bool has_clock;
	struct proto_clock clock;
	bool has_faults; /* fault intake is attached */
	struct proto_faults faults;
	const struct proto_pty *pty; /* NULL = no pty */
	bool raw; /* mode = raw: the raw_* counters below, no wire counters mean anything */
	uint64_t raw_rx_bytes, raw_chunks, raw_tx_bytes, raw_tx_dropped;
	uint64_t untimed_frames; /* DATA published with no mapped time */
	/* The firmware's HEARTBEAT counters summed (M7B_HB_* order); m7_known = how many
	 * any HEARTBEAT carried, 0 leaves them out. */
	unsigned m7_known;
	const uint64_t *m7_totals;
};
struct proto_status_client {
	uint64_t id;
	int pid;  /* 0 = unknown */
	long uid; /* -1 = unknown */
	bool watching;
	enum proto_policy policy;
	uint64_t delivered, dropped, queued_bytes;
};
struct proto_status {
	const char *id;
	const char *release;
	uint64_t uptime_ms;
	uint64_t client_id;
	int pid; /* the daemon's; 0 leaves it out */
	const struct proto_status_channel *channels;
	unsigned nchannels;
	const struct proto_status_client *clients;
	unsigned nclients;
};
/* Renders STATUS with its '\n' into a malloc'd string (*len set); NULL on ENOMEM. */
char *proto_render_status(const struct proto_status *s, size_t *len);

/* Name of a HEARTBEAT counter ("uart_rx_bytes"). */
const char *proto_hb_counter_name(unsigned i);

#endif
