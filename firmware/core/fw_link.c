/* The firmware core's link engine: HELLO, DATA, HEARTBEAT, LOG, SYNC_REPLY and ACK out;
 * SEND, PING, SYNC, CONFIG and HOST_HELLO in. Talks to hardware only through board.h. */
#include "fw.h"

#include "board.h"
#include "m7bridge/crc32c.h"
#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"

static void put_u64le(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t bounded_strlen(const char *s, size_t max)
{
	size_t n = 0;

	while (s && n < max && s[n] != '\0')
		n++;
	return n;
}

/* Ticks in `units` (u32) of 1/`per_second` s, rounded up: on a slow tick counter a short
 * gap or period is one tick, never 0, which would mean "off". */
static uint64_t to_ticks(uint32_t tick_hz, uint64_t units, uint32_t per_second)
{
	return (units * tick_hz + per_second - 1u) / per_second;
}

uint32_t fw_char_ticks(uint32_t tick_hz, uint32_t baud, uint32_t chars)
{
	uint64_t t;

	if (baud == 0)
		return 0;
	/* 10 bits per character: start, 8 data, stop. */
	t = ((uint64_t)tick_hz * 10u * chars + baud - 1u) / baud;
	return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

static uint16_t clamp_max_capture(uint16_t v)
{
	if (v == 0 || v > M7B_DATA_BYTES_MAX)
		return (uint16_t)M7B_DATA_BYTES_MAX;
	return v;
}

static uint16_t credits(const struct fw *fw)
{
	return (uint16_t)(FW_HOST_QUEUE - fw->hq_count);
}

/* Bytes of a persist record for n ports: header, entries, CRC. */
static size_t persist_size(unsigned n)
{
	return sizeof(struct fw_persist_hdr) + n * sizeof(struct fw_persist_port) + 4u;
}

static struct fw_persist_port *persist_ports(struct fw_persist_hdr *h)
{
	return (struct fw_persist_port *)(void *)(h + 1);
}

static uint32_t persist_crc(const struct fw_persist_hdr *h, unsigned n)
{
	return m7b_crc32c(0, h, persist_size(n) - 4u);
}

/* The CRC sits after the last entry; byte-wise, so any record length works. */
static void persist_seal(struct fw_persist_hdr *h, unsigned n)
{
	uint32_t crc = persist_crc(h, n);

	__builtin_memcpy((uint8_t *)h + persist_size(n) - 4u, &crc, 4);
}

/* Reads what the previous boot left (the area is untouched RAM: check everything). */
static void persist_load(struct fw *fw, struct fw_persist_hdr *h, size_t len)
{
	uint32_t crc;
	unsigned n;

	if (h->magic != FW_PERSIST_MAGIC || h->version != FW_PERSIST_VERSION)
		return;
	n = h->nports;
	if (n > FW_MAX_PORTS || persist_size(n) > len)
		return;
	__builtin_memcpy(&crc, (const uint8_t *)h + persist_size(n) - 4u, 4);
	if (crc != persist_crc(h, n))
		return;
	fw->prev.valid = true;
	fw->prev.boot_id = h->boot_id;
	fw->prev.nports = (uint16_t)n;
	__builtin_memcpy(fw->prev.port, persist_ports(h), n * sizeof(struct fw_persist_port));
}

/* Takes the board's no-init area, keeps the previous boot's record and starts this one. */
static void persist_start(struct fw *fw)
{
	size_t len = 0;
	void *area = board_persist_area(&len);
	struct fw_persist_hdr *h = area;
	unsigned n = fw->opt.nports;

	if (!area || ((uintptr_t)area & 3u) != 0 || len < persist_size(0))
		return;
	persist_load(fw, h, len);
	/* The host tells boots apart by boot_id, and a board's entropy can be weak (a timer
	 * that restarts with the M7 reads the same after every reset): never repeat the
	 * previous boot's id. The flipped bits keep it nonzero unless it was their value. */
	if (fw->prev.valid && fw->boot_id == fw->prev.boot_id) {
		fw->boot_id ^= 0x5BD1E995u;
		if (fw->boot_id == 0)
			fw->boot_id = 1;
	}
	while (n > 0 && persist_size(n) > len)
		n--;
	__builtin_memset(h, 0, persist_size(n));
	h->magic = FW_PERSIST_MAGIC;
	h->version = FW_PERSIST_VERSION;
	h->nports = (uint16_t)n;
	h->boot_id = fw->boot_id;
	persist_seal(h, n);
	fw->persist = h;
	fw->persist_nports = (uint16_t)n;
}

/* One port's accounting now, in capture parts: sent = released by the link engine,
 * queued = published and not yet released. */
static void persist_port_now(const struct fw *fw, unsigned p, struct fw_persist_port *o)
{
	const struct fw_capture *c = &fw->cap[p];
	uint32_t head = __atomic_load_n(&c->desc_head, __ATOMIC_ACQUIRE);
	uint32_t dropped = __atomic_load_n(&c->stats.dropped, __ATOMIC_RELAXED);

	o->sent = c->desc_tail;
	o->queued = head - c->desc_tail;
	o->dropped = dropped;
	o->produced = head + dropped;
}

void fw_persist_sync(struct fw *fw)
{
	bool changed = false;

	if (!fw->persist)
		return;
	for (unsigned p = 0; p < fw->persist_nports; p++) {
		struct fw_persist_port now, *was = &fw->persisted[p];

		persist_port_now(fw, p, &now);
		/* Field by field: __builtin_memcmp may become a call to memcmp, which a
		 * freestanding port need not have. */
		if (now.produced != was->produced || now.sent != was->sent ||
		    now.dropped != was->dropped || now.queued != was->queued) {
			*was = now;
			changed = true;
		}
	}
	if (!changed)
		return;
	__builtin_memcpy(persist_ports(fw->persist), fw->persisted,
			 fw->persist_nports * sizeof(struct fw_persist_port));
	fw->persist->updates++;
	persist_seal(fw->persist, fw->persist_nports);
}

const struct fw_prev_boot *fw_prev_boot(const struct fw *fw)
{
	return &fw->prev;
}

void fw_init(struct fw *fw, const struct fw_options *opt)
{
	__builtin_memset(fw, 0, sizeof(*fw));
	fw->opt = *opt;
	if (fw->opt.nports > FW_MAX_PORTS)
		fw->opt.nports = FW_MAX_PORTS;
	fw->tick_hz = board_tick_hz();
	fw->boot_id = board_boot_id();
	for (unsigned p = 0; p < fw->opt.nports; p++) {
		struct fw_port_config *pc = &fw->opt.port[p];

		pc->max_capture = clamp_max_capture(pc->max_capture);
		fw_capture_init(&fw->cap[p], pc->idle_gap_ticks, pc->delimiter, pc->max_capture);
	}
	fw->hb_period = to_ticks(fw->tick_hz, fw->opt.heartbeat_ms, 1000u);
	m7b_decoder_init(&fw->dec);
	fw->hello_pending = true;
	persist_start(fw);
}

void fw_link_up(struct fw *fw)
{
	fw->link_up = true;
	fw->lead_zero = true;
	fw->hello_pending = true;
	/* An unsent frame in the slot was never committed: it is re-encoded with the new
	 * sequence (DATA stays in its ring until written, so nothing is lost). */
	fw->tx_kind = FW_TX_NONE;
	fw->tx_refused = false;
	m7b_decoder_reset(&fw->dec);
	fw->hb_next = board_ticks() + fw->hb_period;
}

void fw_link_down(struct fw *fw)
{
	fw->link_up = false;
	fw->tx_kind = FW_TX_NONE;
	fw->tx_refused = false;
}

void fw_uart_rx_isr(struct fw *fw, unsigned port, uint8_t byte, uint32_t err, uint64_t tick)
{
	if (port >= fw->opt.nports)
		return;
	fw_capture_rx(&fw->cap[port], byte, err, tick);
}

/* Queues an ACK. credits = the queue capacity for frames sent after `seq`: free slots
 * plus slots held by queued frames sent after it (docs/PROTOCOL.md, the credit rule). */
static void ack(struct fw *fw, uint32_t seq, uint8_t type, uint8_t status)
{
	struct m7b_ack *a;
	uint16_t cr = credits(fw);

	if (fw->ack_count == FW_ACK_QUEUE) {
		fw->n.acks_dropped++;
		return;
	}
	for (unsigned i = 0; i < fw->hq_count; i++) {
		const struct fw_host_cmd *c = &fw->hq[(fw->hq_head + i) % FW_HOST_QUEUE];

		if ((int32_t)(c->seq - seq) > 0)
			cr++;
	}
	a = &fw->acks[(fw->ack_head + fw->ack_count) % FW_ACK_QUEUE];
	a->acked_seq = seq;
	a->acked_type = type;
	a->status = status;
	a->credits = cr;
	fw->ack_count++;
}

/* Keeps a NO_CREDIT answer until the frames queued before it are answered: the host
 * reads an ACK as the end of every frame it sent before, so a refusal must not overtake
 * their ACKs. */
static void refuse(struct fw *fw, uint32_t seq, uint8_t type)
{
	struct fw_refusal *r;

	if (fw->refused_count == FW_REFUSAL_QUEUE) {
		fw->n.acks_dropped++;
		return;
	}
	r = &fw->refused[(fw->refused_head + fw->refused_count) % FW_REFUSAL_QUEUE];
	r->seq = seq;
	r->type = type;
	r->after = fw->hq_done + fw->hq_count;
	fw->refused_count++;
}

/* Queues the ACKs of the refusals whose turn has come, as far as the ACK queue takes them. */
static void refusals_flush(struct fw *fw)
{
	while (fw->refused_count > 0 && fw->ack_count < FW_ACK_QUEUE) {
		const struct fw_refusal *r = &fw->refused[fw->refused_head];

		if ((int32_t)(fw->hq_done - r->after) < 0)
			return;
		ack(fw, r->seq, r->type, M7B_ACK_NO_CREDIT);
		fw->refused_head = (uint8_t)((fw->refused_head + 1u) % FW_REFUSAL_QUEUE);
		fw->refused_count--;
	}
}

static void host_cmd(struct fw *fw, const struct m7b_frame *f)
{
	struct fw_host_cmd *c;

	/* A frame for a port that does not exist is queued too and refused in its turn: the
	 * host reads an ACK as the end of every frame it sent before, so an ACK must never
	 * overtake the ACKs of earlier frames still in the queue. */
	if (fw->hq_count == FW_HOST_QUEUE) {
		fw->n.host_no_credit++;
		refuse(fw, f->seq, f->type);
		return;
	}
	c = &fw->hq[(fw->hq_head + fw->hq_count) % FW_HOST_QUEUE];
	c->type = f->type;
	c->port = f->port;
	c->seq = f->seq;
	c->len = f->len;
	__builtin_memcpy(c->payload, f->payload, f->len);
	fw->hq_count++;
}

static void host_frame(struct fw *fw, const struct m7b_frame *f, uint64_t rx_ticks)
{
	struct m7b_sync sync;

	fw->n.host_frames++;
	if ((f->type == M7B_T_HOST_HELLO || f->type == M7B_T_PING) && f->len != 0) {
		/* Both are empty by definition: a payload is a layout they do not have. */
		fw->n.host_malformed++;
		return;
	}
	switch (f->type) {
	case M7B_T_HOST_HELLO:
		/* A HELLO voids every credit frame in flight: the M7 forgets its queue so the
		 * host's credit can restart at host_credits. */
		fw->hello_pending = true;
		/* Voided, not lost in silence: the host learns how many from HEARTBEAT. */
		fw->n.host_voided += fw->hq_count;
		fw->n.acks_dropped += fw->ack_count + fw->refused_count;
		fw->hq_count = 0;
		fw->hq_sent = 0;
		fw->ack_count = 0;
		fw->refused_count = 0;
		/* A frame the link refused may wait in the slot: an ACK there was just voided
		 * (committing it would underflow the ACK queue), and HELLO goes first anyway.
		 * Nothing is released before a write succeeds, so the rest is re-encoded. */
		fw->tx_kind = FW_TX_NONE;
		return;
	case M7B_T_PING:
		fw->hb_now = true;
		return;
	default:
		break;
	}
	if (fw->fatal) {
		fw->n.host_unknown++;
		return;
	}
	switch (f->type) {
	case M7B_T_SYNC:
		if (m7b_wire_unpack_sync(f, &sync) != 0) {
			fw->n.host_malformed++;
		} else if (fw->sync_count == FW_SYNC_QUEUE) {
			fw->n.syncs_dropped++;
		} else {
			struct m7b_sync_reply *r =
				&fw->syncs[(fw->sync_head + fw->sync_count) % FW_SYNC_QUEUE];
			r->host_time = sync.host_time;
			r->rx_ticks = rx_ticks;
			r->tx_ticks = 0;
			fw->sync_count++;
		}
		return;
	case M7B_T_SEND:
	case M7B_T_CONFIG:
		host_cmd(fw, f);
		return;
	default:
		fw->n.host_unknown++;
		return;
	}
}

void fw_link_rx(struct fw *fw, const uint8_t *buf, size_t n)
{
	const uint8_t *pos = buf, *end = buf + n;
	struct m7b_frame f;
	uint64_t now = board_ticks();

	while (m7b_decoder_next(&fw->dec, &pos, end, &f) == 1)
		host_frame(fw, &f, now);
}

/* Checks every CONFIG item, then applies all or none; returns an ACK status. */
static uint8_t config_apply(struct fw *fw, const struct fw_host_cmd *c)
{
	struct fw_port_config pc = fw->opt.port[c->port];
	uint64_t hb_period = fw->hb_period;
	bool hb_set = false;
	long baud_at = -1;
	uint32_t irq;

	if (c->len % M7B_CONFIG_ITEM_SIZE != 0)
		return M7B_ACK_BAD_PAYLOAD;
	for (size_t i = 0; i < c->len; i += M7B_CONFIG_ITEM_SIZE) {
		uint8_t key = c->payload[i];
		uint32_t v = get_u32le(&c->payload[i + 1]);
		uint64_t t;

		switch (key) {
		case M7B_CFG_IDLE_GAP_US:
			t = to_ticks(fw->tick_hz, v, 1000000u);
			if (t > UINT32_MAX)
				return M7B_ACK_BAD_PAYLOAD;
			pc.idle_gap_ticks = (uint32_t)t;
			break;
		case M7B_CFG_DELIMITER:
			if (v != 0xFFFFFFFFu && v > 0xFFu)
				return M7B_ACK_BAD_PAYLOAD;
			pc.delimiter = v == 0xFFFFFFFFu ? -1 : (int16_t)v;
			break;
		case M7B_CFG_MAX_CAPTURE:
			if (v < 1 || v > M7B_DATA_BYTES_MAX)
				return M7B_ACK_BAD_PAYLOAD;
			pc.max_capture = (uint16_t)v;
			break;
		case M7B_CFG_HEARTBEAT_MS:
			hb_period = to_ticks(fw->tick_hz, v, 1000u);
			hb_set = true;
			break;
		case M7B_CFG_BAUD:
			baud_at =
				(long)i; /* applied below: only the board knows what it supports */
			break;
		default:
			return M7B_ACK_UNSUPPORTED;
		}
	}
	/* Only the last BAUD counts, as for every key: setting an earlier one first would
	 * leave it applied when a later one is refused. */
	if (baud_at >= 0 && board_uart_set_baud(c->port, get_u32le(&c->payload[baud_at + 1])) != 0)
		return M7B_ACK_UNSUPPORTED;

	fw->opt.port[c->port] = pc;
	irq = board_irq_save();
	fw->cap[c->port].idle_gap = pc.idle_gap_ticks;
	fw->cap[c->port].delimiter = pc.delimiter;
	fw->cap[c->port].max_len = pc.max_capture;
	board_irq_restore(irq);
	if (hb_set) {
		fw->hb_period = hb_period;
		fw->opt.heartbeat_ms = (uint32_t)(hb_period * 1000u / fw->tick_hz);
		fw->hb_next = board_ticks() + hb_period;
	}
	return M7B_ACK_OK;
}

/* Works through the host queue in order: SEND bytes to the UART, CONFIG applied; each
 * answered in turn, refusals included. */
static void host_queue_run(struct fw *fw)
{
	refusals_flush(fw);
	while (fw->hq_count > 0 && fw->ack_count < FW_ACK_QUEUE) {
		struct fw_host_cmd *c = &fw->hq[fw->hq_head];
		uint8_t status = M7B_ACK_OK;

		if (c->port >= fw->opt.nports) {
			status = M7B_ACK_BAD_PORT;
		} else if (c->type == M7B_T_SEND) {
			if (fw->hq_sent < c->len) {
				int r = board_uart_tx(c->port, c->payload + fw->hq_sent,
						      (size_t)(c->len - fw->hq_sent));
				if (r < 0) {
					status = M7B_ACK_BAD_PORT;
				} else {
					fw->hq_sent = (uint16_t)(fw->hq_sent + r);
					fw->n.uart_tx_bytes += (uint32_t)r;
					if (fw->hq_sent < c->len)
						return; /* transmitter full: go on next poll */
				}
			}
		} else {
			status = config_apply(fw, c);
		}
		fw->hq_head = (uint8_t)((fw->hq_head + 1u) % FW_HOST_QUEUE);
		fw->hq_count--;
		fw->hq_sent = 0;
		ack(fw, c->seq, c->type, status);
		fw->hq_done++;
		refusals_flush(fw);
	}
}

/* Encodes one frame into the transmit slot, behind a 0x00 when the link just opened. */
static bool slot_encode(struct fw *fw, uint8_t kind, uint8_t type, uint8_t port, uint8_t flags,
			const struct m7b_part *parts, size_t nparts)
{
	struct m7b_frame h = {
		.ver = M7B_WIRE_VERSION,
		.type = type,
		.port = port,
		.flags = flags,
		.seq = kind == FW_TX_HELLO ? 0u : fw->seq,
	};
	size_t lead = fw->lead_zero ? 1u : 0u;
	int r;

	fw->tx[0] = 0;
	r = m7b_wire_encode(fw->tx + lead, M7B_FRAME_MAX, &h, parts, nparts);
	if (r < 0)
		return false;
	fw->tx_len = (uint16_t)(r + (int)lead);
	fw->tx_kind = kind;
	return true;
}

static bool encode_hello(struct fw *fw)
{
	uint8_t buf[M7B_PAYLOAD_MAX];
	struct m7b_hello m = {
		.tick_hz = fw->tick_hz,
		.boot_id = fw->boot_id,
		.now_ticks = board_ticks(),
		.max_payload = M7B_PAYLOAD_MAX,
		.host_credits = credits(fw),
		.name = fw->opt.name,
		.name_len = bounded_strlen(fw->opt.name, M7B_PAYLOAD_MAX - 20u),
	};
	int n = m7b_wire_pack_hello(buf, sizeof(buf), &m);
	struct m7b_part part = {buf, n > 0 ? (size_t)n : 0u};

	if (n < 0)
		return false;
	return slot_encode(fw, FW_TX_HELLO, M7B_T_HELLO, 0, 0, &part, 1);
}

/* BOOT_INFO: identity, tick source, channel and the previous boot's accounting, as many
 * port items as fit. */
static bool encode_boot_info(struct fw *fw)
{
	uint8_t buf[M7B_PAYLOAD_MAX], id[M7B_BI_BUILD_ID_MAX];
	struct m7b_boot_info m;
	enum board_tick_source src = BOARD_TICK_UNKNOWN;
	uint32_t hz = 0;
	int n;
	struct m7b_part part;

	__builtin_memset(&m, 0, sizeof(m));
	m.build_id_len = board_build_id(id, sizeof(id));
	if (m.build_id_len > 0) {
		m.build_id = id;
		m.present |= M7B_BI_HAS_BUILD_ID;
	}
	board_tick_info(&src, &hz);
	m.tick_source = (uint8_t)src;
	m.tick_hz = hz;
	m.present |= M7B_BI_HAS_TICK;
	m.channel_len = bounded_strlen(fw->opt.channel, 255u);
	if (m.channel_len > 0) {
		m.channel = fw->opt.channel;
		m.present |= M7B_BI_HAS_CHANNEL;
	}
	m.present |= M7B_BI_HAS_PREV_BOOT;
	if (fw->prev.valid) {
		m.prev_flags = M7B_BI_PREV_VALID;
		m.prev_boot_id = fw->prev.boot_id;
		for (unsigned p = 0; p < fw->prev.nports && p < M7B_BI_PORTS_MAX; p++) {
			struct m7b_boot_port *o = &m.port[m.nports++];

			o->port = (uint8_t)p;
			o->produced = fw->prev.port[p].produced;
			o->sent = fw->prev.port[p].sent;
			o->dropped = fw->prev.port[p].dropped;
			o->queued = fw->prev.port[p].queued;
		}
	}
	while ((n = m7b_wire_pack_boot_info(buf, sizeof(buf), &m)) == -M7B_ENOSPC && m.nports > 0)
		m.nports--;
	if (n < 0)
		return false;
	part.data = buf;
	part.len = (size_t)n;
	return slot_encode(fw, FW_TX_BOOT_INFO, M7B_T_BOOT_INFO, 0, 0, &part, 1);
}

static uint32_t load32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void fw_counters(const struct fw *fw, uint32_t counter[M7B_HB_NCOUNTERS])
{
	for (unsigned i = 0; i < M7B_HB_NCOUNTERS; i++)
		counter[i] = 0;
	for (unsigned p = 0; p < fw->opt.nports; p++) {
		const struct fw_capture_stats *s = &fw->cap[p].stats;

		counter[M7B_HB_UART_RX_BYTES] += load32(&s->rx_bytes);
		counter[M7B_HB_CAPTURES_DROPPED] += load32(&s->dropped);
		counter[M7B_HB_UART_OVERRUNS] += load32(&s->overruns);
		counter[M7B_HB_UART_LINE_ERRORS] += load32(&s->line_errors);
	}
	counter[M7B_HB_CAPTURES] = fw->n.captures;
	counter[M7B_HB_HOST_FRAMES] = fw->n.host_frames;
	counter[M7B_HB_HOST_BAD] = (uint32_t)fw->dec.stats.rejected + fw->n.host_malformed;
	counter[M7B_HB_HOST_UNKNOWN] = fw->n.host_unknown;
	counter[M7B_HB_UART_TX_BYTES] = fw->n.uart_tx_bytes;
	counter[M7B_HB_LINK_STALLS] = fw->n.link_stalls;
	counter[M7B_HB_CREDITS] = credits(fw);
	counter[M7B_HB_LOGS_DROPPED] = fw->n.logs_dropped;
	counter[M7B_HB_NOISE_BYTES] = (uint32_t)fw->dec.stats.noise_bytes;
	counter[M7B_HB_SYNCS_DROPPED] = fw->n.syncs_dropped;
	counter[M7B_HB_ACKS_DROPPED] = fw->n.acks_dropped;
	counter[M7B_HB_HOST_NO_CREDIT] = fw->n.host_no_credit;
	counter[M7B_HB_HOST_VOIDED] = fw->n.host_voided;
}

static bool encode_heartbeat(struct fw *fw)
{
	uint8_t buf[8u + 4u * M7B_HB_NCOUNTERS];
	struct m7b_heartbeat hb = {.now_ticks = board_ticks(), .ncounters = M7B_HB_NCOUNTERS};
	int n;
	struct m7b_part part;

	fw_counters(fw, hb.counter);
	n = m7b_wire_pack_heartbeat(buf, sizeof(buf), &hb);
	if (n < 0)
		return false;
	part.data = buf;
	part.len = (size_t)n;
	return slot_encode(fw, FW_TX_HEARTBEAT, M7B_T_HEARTBEAT, 0, 0, &part, 1);
}

static bool encode_ack(struct fw *fw)
{
	uint8_t buf[16];
	int n = m7b_wire_pack_ack(buf, sizeof(buf), &fw->acks[fw->ack_head]);
	struct m7b_part part = {buf, n > 0 ? (size_t)n : 0u};

	if (n < 0)
		return false;
	return slot_encode(fw, FW_TX_ACK, M7B_T_ACK, 0, 0, &part, 1);
}

static bool encode_sync_reply(struct fw *fw)
{
	uint8_t buf[32];
	struct m7b_sync_reply *r = &fw->syncs[fw->sync_head];
	int n;
	struct m7b_part part;

	r->tx_ticks = board_ticks();
	n = m7b_wire_pack_sync_reply(buf, sizeof(buf), r);
	if (n < 0)
		return false;
	part.data = buf;
	part.len = (size_t)n;
	return slot_encode(fw, FW_TX_SYNC_REPLY, M7B_T_SYNC_REPLY, 0, 0, &part, 1);
}

static bool encode_log(struct fw *fw)
{
	uint8_t buf[1u + FW_LOG_MAX];
	const struct fw_log_entry *l = &fw->logs[fw->log_head];
	struct m7b_log m = {.level = l->level, .text = l->text, .text_len = l->len};
	int n = m7b_wire_pack_log(buf, sizeof(buf), &m);
	struct m7b_part part = {buf, n > 0 ? (size_t)n : 0u};

	if (n < 0)
		return false;
	return slot_encode(fw, FW_TX_LOG, M7B_T_LOG, 0, 0, &part, 1);
}

/* The oldest capture of the next port in round-robin order, encoded straight from the
 * ring (two pieces when it wraps): no copy of the bytes. */
static bool encode_data(struct fw *fw)
{
	for (unsigned i = 0; i < fw->opt.nports; i++) {
		unsigned p = (fw->next_port + i) % fw->opt.nports;
		struct fw_capture *c = &fw->cap[p];
		const struct fw_capture_desc *d = fw_capture_peek(c);
		uint8_t hdr[M7B_DATA_HDR];
		struct m7b_part parts[3];
		uint16_t n1, n2;
		const uint8_t *p1, *p2;

		if (!d)
			continue;
		put_u64le(hdr, d->t_first);
		put_u64le(hdr + 8, d->t_last);
		fw_capture_bytes(c, d, &p1, &n1, &p2, &n2);
		parts[0].data = hdr;
		parts[0].len = sizeof(hdr);
		parts[1].data = p1;
		parts[1].len = n1;
		parts[2].data = p2;
		parts[2].len = n2;
		if (!slot_encode(fw, FW_TX_DATA, M7B_T_DATA, (uint8_t)p, d->flags, parts, 3))
			return false;
		fw->tx_port = (uint8_t)p;
		fw->next_port = (uint8_t)((p + 1u) % fw->opt.nports);
		return true;
	}
	return false;
}

/* Fills the empty slot with the most urgent frame; false when there is nothing to send. */
static bool slot_fill(struct fw *fw)
{
	if (fw->hello_pending)
		return encode_hello(fw);
	if (fw->boot_info_pending)
		return encode_boot_info(fw);
	if (fw->ack_count > 0)
		return encode_ack(fw);
	if (fw->sync_count > 0)
		return encode_sync_reply(fw);
	if (fw->hb_now)
		return encode_heartbeat(fw);
	if (fw->log_count > 0)
		return encode_log(fw);
	if (fw->fatal)
		return false;
	return encode_data(fw);
}

/* The slot's frame went out: retire what it carried. */
static void slot_commit(struct fw *fw)
{
	switch (fw->tx_kind) {
	case FW_TX_HELLO:
		fw->hello_pending = false;
		fw->boot_info_pending = true;
		fw->seq = 0;
		break;
	case FW_TX_BOOT_INFO:
		fw->boot_info_pending = false;
		break;
	case FW_TX_ACK:
		fw->ack_head = (uint8_t)((fw->ack_head + 1u) % FW_ACK_QUEUE);
		fw->ack_count--;
		break;
	case FW_TX_SYNC_REPLY:
		fw->sync_head = (uint8_t)((fw->sync_head + 1u) % FW_SYNC_QUEUE);
		fw->sync_count--;
		break;
	case FW_TX_HEARTBEAT:
		fw->hb_now = false;
		break;
	case FW_TX_LOG:
		fw->log_head = (uint8_t)((fw->log_head + 1u) % FW_LOG_QUEUE);
		fw->log_count--;
		break;
	case FW_TX_DATA:
		fw_capture_release(&fw->cap[fw->tx_port]);
		fw->n.captures++;
		break;
	default:
		break;
	}
	fw->seq++;
	fw->lead_zero = false;
	fw->tx_kind = FW_TX_NONE;
	fw->tx_refused = false;
}

/* Tries the link once; false when it refused (no buffer free). tx_refused stays set
 * until a frame goes out, so one stall is counted once however often it is retried. */
static bool slot_write(struct fw *fw)
{
	if (board_link_write(fw->tx, fw->tx_len) == (int)fw->tx_len) {
		slot_commit(fw);
		return true;
	}
	if (!fw->tx_refused)
		fw->n.link_stalls++;
	fw->tx_refused = true;
	/* Time-stamped frames are re-encoded on the next try so their ticks stay true. */
	if (fw->tx_kind == FW_TX_SYNC_REPLY || fw->tx_kind == FW_TX_HEARTBEAT)
		fw->tx_kind = FW_TX_NONE;
	return false;
}

void fw_poll(struct fw *fw)
{
	uint64_t now;

	for (unsigned p = 0; p < fw->opt.nports; p++) {
		uint32_t irq = board_irq_save();

		/* Read the clock inside the section: a byte stamped after it cannot slip in
		 * between and look older than `now`. */
		(void)fw_capture_idle(&fw->cap[p], board_ticks());
		board_irq_restore(irq);
	}
	host_queue_run(fw);
	if (!fw->link_up) {
		fw_persist_sync(fw);
		return;
	}

	now = board_ticks();
	/* Modulo 2^64: near the counter's wrap hb_next is already past it, and a plain
	 * comparison would send a HEARTBEAT on every call until the wrap. */
	if (fw->hb_period != 0 && !fw->fatal && (int64_t)(now - fw->hb_next) >= 0) {
		fw->hb_now = true;
		fw->hb_next = now + fw->hb_period;
	}
	for (unsigned i = 0; i < FW_POLL_BURST; i++) {
		if (fw->tx_kind == FW_TX_NONE && !slot_fill(fw))
			break;
		if (!slot_write(fw))
			break;
	}
	fw_persist_sync(fw);
}

bool fw_tx_blocked(const struct fw *fw)
{
	return fw->link_up && fw->tx_refused;
}

uint64_t fw_next_deadline(struct fw *fw)
{
	uint64_t t = UINT64_MAX;

	for (unsigned p = 0; p < fw->opt.nports; p++) {
		uint32_t irq = board_irq_save();
		uint64_t d = fw_capture_deadline(&fw->cap[p]);

		board_irq_restore(irq);
		if (d < t)
			t = d;
	}
	if (fw->hb_period != 0 && !fw->fatal && fw->link_up && fw->hb_next < t)
		t = fw->hb_next;
	if (fw->link_up && !fw->tx_refused &&
	    (fw->tx_kind != FW_TX_NONE || fw->hello_pending || fw->boot_info_pending ||
	     fw->ack_count || fw->sync_count || fw->hb_now || fw->log_count))
		t = 0;
	if (fw->link_up && !fw->tx_refused && !fw->fatal) {
		for (unsigned p = 0; p < fw->opt.nports; p++)
			if (fw_capture_peek(&fw->cap[p]))
				t = 0;
	}
	/* Queued SEND bytes wait for the UART transmitter (or for ACK room, i.e. the link):
	 * the port calls fw_poll when either has room, so they set no deadline. */
	return t;
}

void fw_log(struct fw *fw, uint8_t level, const char *text)
{
	struct fw_log_entry *l;

	if (level > 7)
		level = 7;
	/* The trace ring gets every line, also while the link is down or the queue is full:
	 * it is what Linux can still read after the link (or the core) died. */
	board_trace(level, text, bounded_strlen(text, FW_LOG_MAX));
	if (fw->log_count == FW_LOG_QUEUE) {
		fw->n.logs_dropped++;
		return;
	}
	l = &fw->logs[(fw->log_head + fw->log_count) % FW_LOG_QUEUE];
	l->level = level;
	l->len = (uint8_t)bounded_strlen(text, FW_LOG_MAX);
	__builtin_memcpy(l->text, text, l->len);
	fw->log_count++;
}

/* Appends the decimal form of v; returns the new length. */
static size_t put_dec(char *buf, size_t at, size_t cap, unsigned v)
{
	char tmp[10];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10u);
		v /= 10u;
	} while (v != 0 && n < sizeof(tmp));
	while (n > 0 && at < cap)
		buf[at++] = tmp[--n];
	return at;
}

void fw_assert_failed(struct fw *fw, const char *file, int line)
{
	char msg[FW_LOG_MAX];
	const char *prefix = "assertion failed: ";
	size_t n = 0;

	for (size_t i = 0; prefix[i] && n < sizeof(msg) - 1u; i++)
		msg[n++] = prefix[i];
	for (size_t i = 0; file && file[i] && n < sizeof(msg) - 1u; i++)
		msg[n++] = file[i];
	if (n < sizeof(msg) - 1u)
		msg[n++] = ':';
	n = put_dec(msg, n, sizeof(msg) - 1u, line < 0 ? 0u : (unsigned)line);
	msg[n] = '\0';

	fw_log(fw, 2 /* LOG_CRIT */, msg);
	fw->fatal = true;
	fw_poll(fw);
	board_fatal(msg);
}
