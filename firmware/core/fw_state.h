/* struct fw: all state of the firmware core, sized by fw_config.h. Included by fw.h so a
 * port can allocate it statically; only the core touches the members. */
#ifndef M7FW_FW_STATE_H
#define M7FW_FW_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "fw_capture.h"
#include "fw_config.h"
#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"

/* What the frame in the transmit slot is, so it can be committed once written. */
enum fw_tx_kind {
	FW_TX_NONE,
	FW_TX_HELLO,
	FW_TX_ACK,
	FW_TX_SYNC_REPLY,
	FW_TX_HEARTBEAT,
	FW_TX_LOG,
	FW_TX_DATA,
	FW_TX_BOOT_INFO,
};

/* The persist record, in the board's no-init RAM: header, one entry per port, then a
 * CRC-32C over both. Written by this boot, read by the next. */
#define FW_PERSIST_MAGIC   0x5250374Du /* "M7PR" */
#define FW_PERSIST_VERSION 1u
struct fw_persist_port {
	uint32_t produced, sent, dropped, queued;
};
struct fw_persist_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t nports;
	uint32_t boot_id;
	uint32_t updates; /* records written this boot (a reader can see it is alive) */
};

/* What the previous boot left in the persist area. */
struct fw_prev_boot {
	bool valid;
	uint32_t boot_id;
	uint16_t nports;
	struct fw_persist_port port[FW_MAX_PORTS];
};

/* A SEND or CONFIG frame from the host waiting its turn. */
struct fw_host_cmd {
	uint8_t type;
	uint8_t port;
	uint16_t len;
	uint32_t seq;
	uint8_t payload[M7B_PAYLOAD_MAX];
};

/* A SEND or CONFIG refused for want of credit: its ACK waits its turn. */
struct fw_refusal {
	uint32_t seq;
	uint32_t after; /* hq_done once every frame queued before it is answered */
	uint8_t type;
};

struct fw_log_entry {
	uint8_t level;
	uint8_t len;
	char text[FW_LOG_MAX];
};

/* Counters that are not per port (those live in fw_capture_stats). */
struct fw_counters {
	uint32_t captures;	 /* DATA frames sent */
	uint32_t host_frames;	 /* valid frames from the host */
	uint32_t host_unknown;	 /* valid frames of a type the M7 does not take */
	uint32_t host_malformed; /* valid frames with a payload that does not parse */
	uint32_t host_no_credit; /* SEND/CONFIG refused: queue full */
	uint32_t uart_tx_bytes;	 /* bytes handed to UART transmitters */
	uint32_t link_stalls;	 /* frames whose first link write was refused */
	uint32_t logs_dropped;	 /* LOG frames lost: queue full */
	uint32_t syncs_dropped;	 /* SYNCs not answered: reply queue full */
	uint32_t acks_dropped;	 /* ACKs lost: refusals queue full, or voided by HOST_HELLO */
	uint32_t host_voided;	 /* queued SEND/CONFIG discarded by HOST_HELLO */
};

struct fw {
	struct fw_options opt;
	uint32_t tick_hz;
	uint32_t boot_id;
	uint64_t hb_period; /* heartbeat period in ticks; 0 = off */
	uint64_t hb_next;   /* tick of the next periodic heartbeat */
	bool link_up;
	bool lead_zero;		/* emit 0x00 before the next frame (link (re)opened) */
	bool hello_pending;	/* HELLO owed: start, HOST_HELLO */
	bool boot_info_pending; /* BOOT_INFO owed: right after each HELLO */
	bool hb_now;		/* HEARTBEAT owed at once: PING */
	bool fatal;		/* after fw_assert_failed: only HELLO and PING answers */
	uint8_t next_port;	/* round-robin start for DATA */
	uint32_t seq;		/* seq of the next frame to Linux */

	/* One encoded frame, written whole or retried; +1 for the leading 0x00. */
	uint8_t tx[M7B_FRAME_MAX + 1u];
	uint16_t tx_len;
	uint8_t tx_kind; /* enum fw_tx_kind; FW_TX_NONE = slot empty */
	uint8_t tx_port; /* DATA: the port whose ring holds the capture */
	bool tx_refused; /* this frame was refused once already */

	struct fw_capture cap[FW_MAX_PORTS];

	/* Host -> M7. */
	struct m7b_decoder dec;
	struct fw_host_cmd hq[FW_HOST_QUEUE];
	uint8_t hq_head, hq_count;
	uint16_t hq_sent; /* bytes of the head SEND already given to the UART */
	uint32_t hq_done; /* host queue entries answered (free-running) */
	struct fw_refusal refused[FW_REFUSAL_QUEUE];
	uint8_t refused_head, refused_count;
	struct m7b_ack acks[FW_ACK_QUEUE];
	uint8_t ack_head, ack_count;
	struct m7b_sync_reply syncs[FW_SYNC_QUEUE];
	uint8_t sync_head, sync_count;
	struct fw_log_entry logs[FW_LOG_QUEUE];
	uint8_t log_head, log_count;

	struct fw_counters n;

	/* Previous-boot accounting and this boot's persist record. */
	struct fw_prev_boot prev;
	struct fw_persist_hdr *persist; /* NULL: the board has no (big enough) area */
	uint16_t persist_nports;	/* ports the area holds */
	struct fw_persist_port persisted[FW_MAX_PORTS]; /* last values written */
};

#endif
