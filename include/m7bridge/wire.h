/* Wire protocol v1 between the M7 firmware and Linux: frame layout, types, encoder
 * and typed payloads. Freestanding: the firmware includes this very file. */
#ifndef M7BRIDGE_WIRE_H
#define M7BRIDGE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define M7B_WIRE_VERSION 1

#define M7B_HDR_SIZE	10u  /* ver, type, port, flags, seq, len */
#define M7B_CRC_SIZE	4u   /* CRC-32C after the payload */
#define M7B_PAYLOAD_MAX 478u /* so an encoded frame fits one 496-byte RPMSG buffer */
#define M7B_BODY_MIN	(M7B_HDR_SIZE + M7B_CRC_SIZE)
#define M7B_BODY_MAX	(M7B_BODY_MIN + M7B_PAYLOAD_MAX) /* 492 */
/* Worst-case COBS encoding of n bytes, without the delimiter. */
#define M7B_COBS_MAX(n) ((n) + (n) / 254u + 1u)
/* Largest frame on the wire: encoded body plus the 0x00 delimiter (495, so it fits
 * one 496-byte RPMSG buffer). */
#define M7B_FRAME_MAX (M7B_COBS_MAX(M7B_BODY_MAX) + 1u)

/* Error codes returned negated. Numerically equal to Linux errno values (checked in
 * lib/) so hosted callers compare them with -EBADMSG etc.; the firmware has no errno. */
#define M7B_EINVAL   22
#define M7B_ENOSPC   28
#define M7B_EPROTO   71
#define M7B_EBADMSG  74
#define M7B_EMSGSIZE 90

enum m7b_type {
	/* M7 -> Linux */
	M7B_T_HELLO = 0x01,
	M7B_T_DATA = 0x02,
	M7B_T_HEARTBEAT = 0x03,
	M7B_T_LOG = 0x04,
	M7B_T_SYNC_REPLY = 0x05,
	M7B_T_ACK = 0x06,
	M7B_T_BOOT_INFO = 0x07,
	/* Linux -> M7 */
	M7B_T_SEND = 0x81,
	M7B_T_SYNC = 0x82,
	M7B_T_PING = 0x83,
	M7B_T_CONFIG = 0x84,
	M7B_T_HOST_HELLO = 0x85,
};

/* DATA flags */
#define M7B_DATA_OVERRUN    0x01u /* bytes lost (UART or M7 ring) before or inside the capture */
#define M7B_DATA_LINE_ERROR 0x02u /* framing, parity or noise error */
#define M7B_DATA_CONTINUED  0x04u /* the next DATA frame on this port continues it */

/* A frame's header fields; on decode, payload points into the decoder's buffer. */
struct m7b_frame {
	uint8_t ver;
	uint8_t type;
	uint8_t port;
	uint8_t flags;
	uint32_t seq;
	uint16_t len;
	const uint8_t *payload;
};

/* One piece of a payload gathered from several buffers. */
struct m7b_part {
	const void *data;
	size_t len;
};

/* HELLO: the firmware introduces itself; its seq restarts the sequence. */
struct m7b_hello {
	uint32_t tick_hz;
	uint32_t boot_id;
	uint64_t now_ticks;
	uint16_t max_payload;
	uint16_t host_credits;
	const char *name; /* UTF-8, not NUL-terminated on unpack */
	size_t name_len;
};

/* DATA: one UART capture. */
#define M7B_DATA_HDR	   16u
#define M7B_DATA_BYTES_MAX (M7B_PAYLOAD_MAX - M7B_DATA_HDR) /* 462 */
struct m7b_data {
	uint64_t t_first;
	uint64_t t_last;
	const uint8_t *bytes;
	size_t nbytes;
};

/* HEARTBEAT counters, in wire order after now_ticks (each u32). A receiver reads the
 * ones present and ignores any beyond those it knows; new counters are only appended. */
enum m7b_hb_counter {
	M7B_HB_UART_RX_BYTES,	 /* bytes captured, all ports */
	M7B_HB_CAPTURES,	 /* DATA frames sent */
	M7B_HB_CAPTURES_DROPPED, /* whole captures dropped: link could not keep up */
	M7B_HB_UART_OVERRUNS,	 /* bytes with a UART hardware overrun */
	M7B_HB_UART_LINE_ERRORS, /* framing/parity/noise */
	M7B_HB_HOST_FRAMES,	 /* valid frames from the host */
	M7B_HB_HOST_BAD,	 /* rejected candidates from the host (CRC, length, ...) */
	M7B_HB_HOST_UNKNOWN,	 /* valid frames of unknown type */
	M7B_HB_UART_TX_BYTES,	 /* bytes written to UARTs by SEND */
	M7B_HB_LINK_STALLS,	 /* link writes refused for lack of buffers */
	M7B_HB_CREDITS,		 /* host frames the M7 can take now */
	M7B_HB_LOGS_DROPPED,	 /* LOG frames that could not be sent */
	M7B_HB_NOISE_BYTES,	 /* host-side bytes that were not frames */
	/* Appended: an older firmware's frame ends before these (ncounters says so). */
	M7B_HB_SYNCS_DROPPED,  /* SYNCs not answered: reply queue full */
	M7B_HB_ACKS_DROPPED,   /* ACKs never sent: ACK queue full, or voided by HOST_HELLO */
	M7B_HB_HOST_NO_CREDIT, /* SEND/CONFIG refused for lack of credit (ACK NO_CREDIT) */
	M7B_HB_HOST_VOIDED,    /* queued SEND/CONFIG discarded unexecuted by HOST_HELLO */
	M7B_HB_NCOUNTERS
};
struct m7b_heartbeat {
	uint64_t now_ticks;
	uint32_t ncounters; /* how many counters the frame carried (<= M7B_HB_NCOUNTERS) */
	uint32_t counter[M7B_HB_NCOUNTERS];
};

/* LOG: a syslog level (0 emerg .. 7 debug) and UTF-8 text. */
struct m7b_log {
	uint8_t level;
	const char *text;
	size_t text_len;
};

/* SYNC (host -> M7): an opaque host time that the reply echoes. */
struct m7b_sync {
	uint64_t host_time;
};

/* SYNC_REPLY: the echo plus the M7 ticks at which SYNC arrived and the reply left. */
struct m7b_sync_reply {
	uint64_t host_time;
	uint64_t rx_ticks;
	uint64_t tx_ticks;
};

/* ACK status */
enum m7b_ack_status {
	M7B_ACK_OK = 0,
	M7B_ACK_BAD_PORT = 1,	 /* no such UART */
	M7B_ACK_NO_CREDIT = 2,	 /* sent without credit: dropped */
	M7B_ACK_BAD_PAYLOAD = 3, /* malformed or invalid values */
	M7B_ACK_UNSUPPORTED = 4, /* known type, not supported by this firmware */
};

/* ACK: answers SEND and CONFIG. credits = host frames the M7 can take after this one;
 * frames the host sent after acked_seq are still in flight and count against it. */
struct m7b_ack {
	uint32_t acked_seq;
	uint8_t acked_type;
	uint8_t status;
	uint16_t credits;
};

/* CONFIG keys (payload: items of u8 key + u32 value); port in the header selects the UART. */
enum m7b_config_key {
	M7B_CFG_IDLE_GAP_US = 1,  /* capture ends after this much silence */
	M7B_CFG_DELIMITER = 2,	  /* capture ends after this byte; 0xFFFFFFFF = none */
	M7B_CFG_MAX_CAPTURE = 3,  /* bytes per DATA frame before CONTINUED, 1..462 */
	M7B_CFG_HEARTBEAT_MS = 4, /* heartbeat period, 0 = off (port 0) */
	M7B_CFG_BAUD = 5,	  /* UART baud rate, where the port supports it */
};
#define M7B_CONFIG_ITEM_SIZE 5u
#define M7B_CONFIG_ITEMS_MAX (M7B_PAYLOAD_MAX / M7B_CONFIG_ITEM_SIZE)
struct m7b_config_item {
	uint8_t key;
	uint32_t value;
};

/* BOOT_INFO (M7 -> Linux, right after every HELLO): TLV items of u8 key, u8 len, value.
 * A receiver skips keys it does not know and reads the known prefix of a longer value. */
enum m7b_boot_info_key {
	M7B_BI_BUILD_ID = 1,  /* the image's GNU build-id bytes */
	M7B_BI_TICK = 2,      /* u8 enum board_tick_source, u32 measured tick rate (Hz) */
	M7B_BI_CHANNEL = 3,   /* the rpmsg channel name the firmware announces (UTF-8) */
	M7B_BI_PREV_BOOT = 4, /* u8 flags (M7B_BI_PREV_VALID), u32 boot_id of the previous boot */
	M7B_BI_PREV_PORT = 5, /* u8 port, u32 produced, sent, dropped, queued (previous boot) */
};
#define M7B_BI_PREV_VALID    0x01u /* the persist record passed its magic and CRC checks */
#define M7B_BI_TICK_LEN	     5u
#define M7B_BI_PREV_BOOT_LEN 5u
#define M7B_BI_PREV_PORT_LEN 17u
#define M7B_BI_BUILD_ID_MAX  64u
#define M7B_BI_PORTS_MAX     16u
/* present bits: which items the frame carried. */
#define M7B_BI_HAS_BUILD_ID  0x01u
#define M7B_BI_HAS_TICK	     0x02u
#define M7B_BI_HAS_CHANNEL   0x04u
#define M7B_BI_HAS_PREV_BOOT 0x08u

/* One port's accounting of the previous boot, in capture parts (DATA frames):
 * produced = sent + dropped + queued; queued ones were lost in the reset. */
struct m7b_boot_port {
	uint8_t port;
	uint32_t produced; /* parts closed by the capture engine, or dropped */
	uint32_t sent;	   /* DATA frames handed to the link */
	uint32_t dropped;  /* dropped on the M7 (ring or queue full) */
	uint32_t queued;   /* waiting to be sent when the record was last updated */
};
struct m7b_boot_info {
	uint32_t present; /* M7B_BI_HAS_* */
	const uint8_t *build_id;
	size_t build_id_len; /* 1..M7B_BI_BUILD_ID_MAX */
	uint8_t tick_source;
	uint32_t tick_hz;
	const char *channel; /* UTF-8, not NUL-terminated on unpack */
	size_t channel_len;  /* 1..255 */
	uint8_t prev_flags;
	uint32_t prev_boot_id;
	uint8_t nports; /* PREV_PORT items (<= M7B_BI_PORTS_MAX) */
	struct m7b_boot_port port[M7B_BI_PORTS_MAX];
	/* unpack only: items skipped (unknown keys; port items beyond M7B_BI_PORTS_MAX) */
	uint16_t unknown_items;
	uint16_t ports_skipped;
};

/* Encodes header + gathered payload + CRC as COBS with its 0x00 delimiter into out
 * (at most M7B_FRAME_MAX bytes). Uses hdr's type, port, flags and seq; always writes
 * version 1 and the parts' total length (hdr->ver, len and payload are ignored).
 * Returns bytes written, -M7B_EMSGSIZE (payload > 478) or -M7B_ENOSPC (out too small). */
int m7b_wire_encode(uint8_t *out, size_t cap, const struct m7b_frame *hdr,
		    const struct m7b_part *parts, size_t nparts);

/* Parses and checks one decoded body (COBS removed, no delimiter) into f. Checks in
 * this order: size and len field (-M7B_EMSGSIZE), CRC (-M7B_EBADMSG), version
 * (-M7B_EPROTO). Returns 0 on success. */
int m7b_wire_parse(const uint8_t *body, size_t n, struct m7b_frame *f);

/* Typed payloads: pack writes into buf (cap bytes) and returns the length or -M7B_ENOSPC
 * / -M7B_EINVAL; unpack checks the length and returns 0 or -M7B_EBADMSG. Pointers set by
 * unpack point into the payload. */
int m7b_wire_pack_hello(uint8_t *buf, size_t cap, const struct m7b_hello *m);
int m7b_wire_unpack_hello(const struct m7b_frame *f, struct m7b_hello *m);
int m7b_wire_pack_data(uint8_t *buf, size_t cap, const struct m7b_data *m);
int m7b_wire_unpack_data(const struct m7b_frame *f, struct m7b_data *m);
int m7b_wire_pack_heartbeat(uint8_t *buf, size_t cap, const struct m7b_heartbeat *m);
int m7b_wire_unpack_heartbeat(const struct m7b_frame *f, struct m7b_heartbeat *m);
int m7b_wire_pack_log(uint8_t *buf, size_t cap, const struct m7b_log *m);
int m7b_wire_unpack_log(const struct m7b_frame *f, struct m7b_log *m);
int m7b_wire_pack_sync(uint8_t *buf, size_t cap, const struct m7b_sync *m);
int m7b_wire_unpack_sync(const struct m7b_frame *f, struct m7b_sync *m);
int m7b_wire_pack_sync_reply(uint8_t *buf, size_t cap, const struct m7b_sync_reply *m);
int m7b_wire_unpack_sync_reply(const struct m7b_frame *f, struct m7b_sync_reply *m);
int m7b_wire_pack_ack(uint8_t *buf, size_t cap, const struct m7b_ack *m);
int m7b_wire_unpack_ack(const struct m7b_frame *f, struct m7b_ack *m);
/* BOOT_INFO: pack writes the present items and the nports port items; unpack returns
 * -M7B_EBADMSG for an item that runs past the payload or a known item that is too short. */
int m7b_wire_pack_boot_info(uint8_t *buf, size_t cap, const struct m7b_boot_info *m);
int m7b_wire_unpack_boot_info(const struct m7b_frame *f, struct m7b_boot_info *m);
/* CONFIG: n items. unpack returns the item count (0 for an empty CONFIG), or -M7B_EBADMSG
 * if the length is not a multiple of 5 or the frame holds more than max items. */
int m7b_wire_pack_config(uint8_t *buf, size_t cap, const struct m7b_config_item *items, size_t n);
int m7b_wire_unpack_config(const struct m7b_frame *f, struct m7b_config_item *items, size_t max);

/* Short names for logs; "unknown" for anything else. */
const char *m7b_wire_type_name(uint8_t type);

#ifdef __cplusplus
}
#endif
#endif
