/* Wire protocol v1: frame encoder, body parser and typed payload pack/unpack.
 * Freestanding (memcpy/memset only), shared with the firmware. */
#include "m7bridge/wire.h"

#include <string.h>

#include "m7bridge/cobs.h"
#include "m7bridge/crc32c.h"

#include "wire_int.h"

/* Linux only: newlib (the firmware's libc) numbers EBADMSG and EMSGSIZE differently. */
#if __STDC_HOSTED__ && defined(__linux__) && !defined(M7B_FREESTANDING)
#include <errno.h>
_Static_assert(M7B_EINVAL == EINVAL, "M7B_EINVAL");
_Static_assert(M7B_ENOSPC == ENOSPC, "M7B_ENOSPC");
_Static_assert(M7B_EPROTO == EPROTO, "M7B_EPROTO");
_Static_assert(M7B_EBADMSG == EBADMSG, "M7B_EBADMSG");
_Static_assert(M7B_EMSGSIZE == EMSGSIZE, "M7B_EMSGSIZE");
#endif
_Static_assert(M7B_FRAME_MAX <= 496, "a whole frame must fit one 496-byte RPMSG buffer");

/* Little-endian stores, byte-wise: no alignment or endianness assumptions. */
static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

int m7b_wire_encode(uint8_t *out, size_t cap, const struct m7b_frame *hdr,
		    const struct m7b_part *parts, size_t nparts)
{
	uint8_t h[M7B_HDR_SIZE], c[M7B_CRC_SIZE];
	struct m7b_cobs_enc e;
	size_t len = 0;
	uint32_t crc;
	int n;

	for (size_t i = 0; i < nparts; i++)
		len += parts[i].len;
	if (len > M7B_PAYLOAD_MAX)
		return -M7B_EMSGSIZE;

	h[0] = M7B_WIRE_VERSION;
	h[1] = hdr->type;
	h[2] = hdr->port;
	h[3] = hdr->flags;
	put32(h + 4, hdr->seq);
	put16(h + 8, (uint16_t)len);

	m7b_cobs_enc_init(&e, out, cap);
	m7b_cobs_enc_put(&e, h, sizeof(h));
	crc = m7b_crc32c(0, h, sizeof(h));
	for (size_t i = 0; i < nparts; i++) {
		m7b_cobs_enc_put(&e, parts[i].data, parts[i].len);
		crc = m7b_crc32c(crc, parts[i].data, parts[i].len);
	}
	put32(c, crc);
	m7b_cobs_enc_put(&e, c, sizeof(c));
	n = m7b_cobs_enc_finish(&e, out);
	if (n < 0 || (size_t)n >= cap)
		return -M7B_ENOSPC;
	out[n] = 0x00;
	return n + 1;
}

int m7b_wire_parse(const uint8_t *body, size_t n, struct m7b_frame *f)
{
	return wire_parse(body, n, f);
}

int m7b_wire_pack_hello(uint8_t *buf, size_t cap, const struct m7b_hello *m)
{
	size_t n = 20 + m->name_len;

	/* Compare name_len itself: 20 + a huge name_len would wrap around. */
	if (m->name_len > M7B_PAYLOAD_MAX - 20)
		return -M7B_EINVAL;
	if (n > cap)
		return -M7B_ENOSPC;
	put32(buf, m->tick_hz);
	put32(buf + 4, m->boot_id);
	put64(buf + 8, m->now_ticks);
	put16(buf + 16, m->max_payload);
	put16(buf + 18, m->host_credits);
	if (m->name_len)
		memcpy(buf + 20, m->name, m->name_len);
	return (int)n;
}

int m7b_wire_unpack_hello(const struct m7b_frame *f, struct m7b_hello *m)
{
	const uint8_t *p = f->payload;

	if (f->len < 20)
		return -M7B_EBADMSG;
	m->tick_hz = wire_get32(p);
	m->boot_id = wire_get32(p + 4);
	m->now_ticks = wire_get64(p + 8);
	m->max_payload = wire_get16(p + 16);
	m->host_credits = wire_get16(p + 18);
	m->name = (const char *)p + 20;
	m->name_len = f->len - 20u;
	return 0;
}

int m7b_wire_pack_data(uint8_t *buf, size_t cap, const struct m7b_data *m)
{
	size_t n = M7B_DATA_HDR + m->nbytes;

	if (m->nbytes > M7B_DATA_BYTES_MAX)
		return -M7B_EINVAL;
	if (n > cap)
		return -M7B_ENOSPC;
	put64(buf, m->t_first);
	put64(buf + 8, m->t_last);
	if (m->nbytes)
		memcpy(buf + M7B_DATA_HDR, m->bytes, m->nbytes);
	return (int)n;
}

int m7b_wire_unpack_data(const struct m7b_frame *f, struct m7b_data *m)
{
	/* Read f once: stores into m could alias it as far as the compiler knows. */
	const uint8_t *p = f->payload;
	size_t len = f->len;

	if (len < M7B_DATA_HDR)
		return -M7B_EBADMSG;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* t_first and t_last are laid out in m as on the wire: one 16-byte copy. */
	_Static_assert(offsetof(struct m7b_data, t_first) == 0 &&
			       offsetof(struct m7b_data, t_last) == 8,
		       "struct m7b_data starts as a DATA payload does");
	memcpy(m, p, 16);
#else
	m->t_first = wire_get64(p);
	m->t_last = wire_get64(p + 8);
#endif
	m->bytes = p + M7B_DATA_HDR;
	m->nbytes = len - M7B_DATA_HDR;
	return 0;
}

int m7b_wire_pack_heartbeat(uint8_t *buf, size_t cap, const struct m7b_heartbeat *m)
{
	size_t n;

	if (m->ncounters > M7B_HB_NCOUNTERS)
		return -M7B_EINVAL;
	n = 8 + 4 * (size_t)m->ncounters;
	if (n > cap)
		return -M7B_ENOSPC;
	put64(buf, m->now_ticks);
	for (uint32_t i = 0; i < m->ncounters; i++)
		put32(buf + 8 + 4 * i, m->counter[i]);
	return (int)n;
}

int m7b_wire_unpack_heartbeat(const struct m7b_frame *f, struct m7b_heartbeat *m)
{
	uint32_t have;

	/* Counters are u32s; a trailing partial counter means a broken sender. */
	if (f->len < 8 || (f->len - 8) % 4 != 0)
		return -M7B_EBADMSG;
	memset(m, 0, sizeof(*m));
	m->now_ticks = wire_get64(f->payload);
	have = (f->len - 8u) / 4u;
	m->ncounters = have < M7B_HB_NCOUNTERS ? have : M7B_HB_NCOUNTERS;
	for (uint32_t i = 0; i < m->ncounters; i++)
		m->counter[i] = wire_get32(f->payload + 8 + 4 * i);
	return 0;
}

int m7b_wire_pack_log(uint8_t *buf, size_t cap, const struct m7b_log *m)
{
	size_t n = 1 + m->text_len;

	if (m->level > 7 || m->text_len > M7B_PAYLOAD_MAX - 1)
		return -M7B_EINVAL;
	if (n > cap)
		return -M7B_ENOSPC;
	buf[0] = m->level;
	if (m->text_len)
		memcpy(buf + 1, m->text, m->text_len);
	return (int)n;
}

int m7b_wire_unpack_log(const struct m7b_frame *f, struct m7b_log *m)
{
	if (f->len < 1 || f->payload[0] > 7)
		return -M7B_EBADMSG;
	m->level = f->payload[0];
	m->text = (const char *)f->payload + 1;
	m->text_len = f->len - 1u;
	return 0;
}

int m7b_wire_pack_sync(uint8_t *buf, size_t cap, const struct m7b_sync *m)
{
	if (cap < 8)
		return -M7B_ENOSPC;
	put64(buf, m->host_time);
	return 8;
}

int m7b_wire_unpack_sync(const struct m7b_frame *f, struct m7b_sync *m)
{
	if (f->len != 8)
		return -M7B_EBADMSG;
	m->host_time = wire_get64(f->payload);
	return 0;
}

int m7b_wire_pack_sync_reply(uint8_t *buf, size_t cap, const struct m7b_sync_reply *m)
{
	if (cap < 24)
		return -M7B_ENOSPC;
	put64(buf, m->host_time);
	put64(buf + 8, m->rx_ticks);
	put64(buf + 16, m->tx_ticks);
	return 24;
}

int m7b_wire_unpack_sync_reply(const struct m7b_frame *f, struct m7b_sync_reply *m)
{
	if (f->len != 24)
		return -M7B_EBADMSG;
	m->host_time = wire_get64(f->payload);
	m->rx_ticks = wire_get64(f->payload + 8);
	m->tx_ticks = wire_get64(f->payload + 16);
	return 0;
}

int m7b_wire_pack_ack(uint8_t *buf, size_t cap, const struct m7b_ack *m)
{
	if (cap < 8)
		return -M7B_ENOSPC;
	put32(buf, m->acked_seq);
	buf[4] = m->acked_type;
	buf[5] = m->status;
	put16(buf + 6, m->credits);
	return 8;
}

int m7b_wire_unpack_ack(const struct m7b_frame *f, struct m7b_ack *m)
{
	if (f->len != 8)
		return -M7B_EBADMSG;
	m->acked_seq = wire_get32(f->payload);
	m->acked_type = f->payload[4];
	m->status = f->payload[5];
	m->credits = wire_get16(f->payload + 6);
	return 0;
}

int m7b_wire_pack_config(uint8_t *buf, size_t cap, const struct m7b_config_item *items, size_t n)
{
	size_t len = n * M7B_CONFIG_ITEM_SIZE;

	if (n > M7B_CONFIG_ITEMS_MAX)
		return -M7B_EINVAL;
	if (len > cap)
		return -M7B_ENOSPC;
	for (size_t i = 0; i < n; i++) {
		buf[i * M7B_CONFIG_ITEM_SIZE] = items[i].key;
		put32(buf + i * M7B_CONFIG_ITEM_SIZE + 1, items[i].value);
	}
	return (int)len;
}

int m7b_wire_unpack_config(const struct m7b_frame *f, struct m7b_config_item *items, size_t max)
{
	size_t n;

	if (f->len % M7B_CONFIG_ITEM_SIZE != 0)
		return -M7B_EBADMSG;
	n = f->len / M7B_CONFIG_ITEM_SIZE;
	if (n > max)
		return -M7B_EBADMSG;
	for (size_t i = 0; i < n; i++) {
		items[i].key = f->payload[i * M7B_CONFIG_ITEM_SIZE];
		items[i].value = wire_get32(f->payload + i * M7B_CONFIG_ITEM_SIZE + 1);
	}
	return (int)n;
}

/* Appends one TLV item header at *pos; -M7B_ENOSPC when the value would not fit. */
static int bi_item(uint8_t *buf, size_t cap, size_t *pos, uint8_t key, size_t len)
{
	if (len > 255u)
		return -M7B_EINVAL;
	if (cap - *pos < 2u + len)
		return -M7B_ENOSPC;
	buf[(*pos)++] = key;
	buf[(*pos)++] = (uint8_t)len;
	return 0;
}

int m7b_wire_pack_boot_info(uint8_t *buf, size_t cap, const struct m7b_boot_info *m)
{
	size_t pos = 0;
	int r;

	if (cap > M7B_PAYLOAD_MAX)
		cap = M7B_PAYLOAD_MAX;
	if (m->nports > M7B_BI_PORTS_MAX ||
	    ((m->present & M7B_BI_HAS_BUILD_ID) &&
	     (m->build_id_len == 0 || m->build_id_len > M7B_BI_BUILD_ID_MAX)))
		return -M7B_EINVAL;
	if (m->present & M7B_BI_HAS_BUILD_ID) {
		if ((r = bi_item(buf, cap, &pos, M7B_BI_BUILD_ID, m->build_id_len)) < 0)
			return r;
		memcpy(buf + pos, m->build_id, m->build_id_len);
		pos += m->build_id_len;
	}
	if (m->present & M7B_BI_HAS_TICK) {
		if ((r = bi_item(buf, cap, &pos, M7B_BI_TICK, M7B_BI_TICK_LEN)) < 0)
			return r;
		buf[pos] = m->tick_source;
		put32(buf + pos + 1, m->tick_hz);
		pos += M7B_BI_TICK_LEN;
	}
	if (m->present & M7B_BI_HAS_CHANNEL) {
		if (m->channel_len == 0)
			return -M7B_EINVAL;
		if ((r = bi_item(buf, cap, &pos, M7B_BI_CHANNEL, m->channel_len)) < 0)
			return r;
		memcpy(buf + pos, m->channel, m->channel_len);
		pos += m->channel_len;
	}
	if (m->present & M7B_BI_HAS_PREV_BOOT) {
		if ((r = bi_item(buf, cap, &pos, M7B_BI_PREV_BOOT, M7B_BI_PREV_BOOT_LEN)) < 0)
			return r;
		buf[pos] = m->prev_flags;
		put32(buf + pos + 1, m->prev_boot_id);
		pos += M7B_BI_PREV_BOOT_LEN;
	}
	for (unsigned i = 0; i < m->nports; i++) {
		const struct m7b_boot_port *p = &m->port[i];

		if ((r = bi_item(buf, cap, &pos, M7B_BI_PREV_PORT, M7B_BI_PREV_PORT_LEN)) < 0)
			return r;
		buf[pos] = p->port;
		put32(buf + pos + 1, p->produced);
		put32(buf + pos + 5, p->sent);
		put32(buf + pos + 9, p->dropped);
		put32(buf + pos + 13, p->queued);
		pos += M7B_BI_PREV_PORT_LEN;
	}
	return (int)pos;
}

int m7b_wire_unpack_boot_info(const struct m7b_frame *f, struct m7b_boot_info *m)
{
	size_t pos = 0;

	memset(m, 0, sizeof(*m));
	while (pos < f->len) {
		const uint8_t *v;
		uint8_t key, len;

		if (f->len - pos < 2u)
			return -M7B_EBADMSG;
		key = f->payload[pos];
		len = f->payload[pos + 1];
		if (f->len - pos - 2u < len)
			return -M7B_EBADMSG;
		v = f->payload + pos + 2;
		pos += 2u + len;
		switch (key) {
		case M7B_BI_BUILD_ID:
			if (len == 0 || len > M7B_BI_BUILD_ID_MAX)
				return -M7B_EBADMSG;
			m->build_id = v;
			m->build_id_len = len;
			m->present |= M7B_BI_HAS_BUILD_ID;
			break;
		case M7B_BI_TICK:
			if (len < M7B_BI_TICK_LEN)
				return -M7B_EBADMSG;
			m->tick_source = v[0];
			m->tick_hz = wire_get32(v + 1);
			m->present |= M7B_BI_HAS_TICK;
			break;
		case M7B_BI_CHANNEL:
			if (len == 0)
				return -M7B_EBADMSG;
			m->channel = (const char *)v;
			m->channel_len = len;
			m->present |= M7B_BI_HAS_CHANNEL;
			break;
		case M7B_BI_PREV_BOOT:
			if (len < M7B_BI_PREV_BOOT_LEN)
				return -M7B_EBADMSG;
			m->prev_flags = v[0];
			m->prev_boot_id = wire_get32(v + 1);
			m->present |= M7B_BI_HAS_PREV_BOOT;
			break;
		case M7B_BI_PREV_PORT:
			if (len < M7B_BI_PREV_PORT_LEN)
				return -M7B_EBADMSG;
			if (m->nports == M7B_BI_PORTS_MAX) {
				m->ports_skipped++;
				break;
			}
			m->port[m->nports].port = v[0];
			m->port[m->nports].produced = wire_get32(v + 1);
			m->port[m->nports].sent = wire_get32(v + 5);
			m->port[m->nports].dropped = wire_get32(v + 9);
			m->port[m->nports].queued = wire_get32(v + 13);
			m->nports++;
			break;
		default:
			m->unknown_items++;
			break;
		}
	}
	return 0;
}

const char *m7b_wire_type_name(uint8_t type)
{
	switch (type) {
	case M7B_T_HELLO:
		return "hello";
	case M7B_T_DATA:
		return "data";
	case M7B_T_HEARTBEAT:
		return "heartbeat";
	case M7B_T_LOG:
		return "log";
	case M7B_T_SYNC_REPLY:
		return "sync_reply";
	case M7B_T_ACK:
		return "ack";
	case M7B_T_BOOT_INFO:
		return "boot_info";
	case M7B_T_SEND:
		return "send";
	case M7B_T_SYNC:
		return "sync";
	case M7B_T_PING:
		return "ping";
	case M7B_T_CONFIG:
		return "config";
	case M7B_T_HOST_HELLO:
		return "host_hello";
	}
	return "unknown";
}
