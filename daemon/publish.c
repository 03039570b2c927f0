/* Decoded frames to watching clients: FRAME rendered once per encoding, LOG, HELLO and
 * HEARTBEAT objects, M7 log lines to the journal; then the observers. */
#include "daemon_int.h"

#include <stdio.h>
#include <string.h>

/* The first client from c on that takes a FRAME of this slot and port, or NULL. */
static inline struct conn *next_taker(struct conn *c, unsigned slot, int port)
{
	while (c && !conn_wants(c, slot, PROTO_C_FRAME, port))
		c = c->next;
	return c;
}

static void publish_data(struct daemon *d, struct channel *ch, const struct channel_msg *m)
{
	const struct m7b_frame *f = m->frame;
	const struct m7b_data *dd = &m->u.data;
	unsigned slot = channel_slot(ch);
	struct conn *first = next_taker(d->clients, slot, f->port);
	if (!first)
		return; /* nobody takes it: nothing to map or render */
	const struct chanjson *names = &d->names[slot];
	struct proto_frame pf = {
		.channel_json = names->name,
		.channel_json_len = names->name_len,
		.port_name_json = names->port[f->port],
		.port_name_json_len = names->port_len[f->port],
		.port = f->port,
		.flags = f->flags,
		.seq = f->seq,
		.t_first = dd->t_first,
		.t_last = dd->t_last,
		.bytes = dd->bytes,
		.nbytes = dd->nbytes,
		.late = m->late,
	};
	uint64_t e1, e2;
	if (d->clock_fn &&
	    d->clock_fn(d->clock_ud, ch, dd->t_first, &pf.t_first_mono_ns, &pf.t_first_ns, &e1) &&
	    d->clock_fn(d->clock_ud, ch, dd->t_last, &pf.t_last_mono_ns, &pf.t_last_ns, &e2)) {
		pf.has_realtime = pf.has_mono = true;
		pf.t_err_ns = e1 > e2 ? e1 : e2;
	}
	/* Rendered at most once per encoding into the batch buffer; each client references
	 * the line there. Room for both encodings first, so that neither render can make
	 * the buffer start over under the clients that took the other. */
	struct fanout *fo = d->fanout;
	size_t room;
	(void)fanout_tail(fo, &room);
	bool shared = room >= 2 * PROTO_FRAME_MAX || daemon_fanout_room(d, 2 * PROTO_FRAME_MAX);
	const char *lb = NULL, *lh = NULL;
	int nb = 0, nh = 0;
	if (shared)
		fanout_hold(fo);
	for (struct conn *c = first; c; c = next_taker(c->next, slot, f->port)) {
		bool hex = c->encoding == PROTO_ENC_HEX;
		if (hex ? !lh : !lb) {
			char *p = hex ? d->frame_hex : d->frame_b64;
			room = sizeof(d->frame_b64);
			if (shared)
				p = fanout_tail(fo, &room);
			int n = proto_render_frame(p, room, &pf, c->encoding);
			if (n <= 0)
				continue; /* cannot happen: PROTO_FRAME_MAX always fits */
			if (shared)
				fanout_commit(fo, (size_t)n);
			*(hex ? &lh : &lb) = p;
			*(hex ? &nh : &nb) = n;
		}
		if (shared)
			conn_stream_ref(c, fo, hex ? lh : lb, (size_t)(hex ? nh : nb));
		else
			conn_stream(c, hex ? lh : lb, (size_t)(hex ? nh : nb));
	}
	if (shared)
		fanout_release(fo);
}

static void publish_log(struct daemon *d, struct channel *ch, const struct channel_msg *m)
{
	const struct m7b_log *l = &m->u.log;
	int n = proto_render_log(d->line, sizeof(d->line), channel_name(ch), l->level, l->text,
				 l->text_len, m->frame->seq);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_LOG, d->line, (size_t)n);
	if (ratelimit_ok(&d->rl_m7log[channel_slot(ch)], m->rx_ms, 50, 1000)) {
		struct log_fields lf = {.message_id = LOG_MID_M7_LOG,
					.channel = channel_name(ch),
					.device = channel_config(ch)->device};
		int prio = l->level > 7 ? 7 : l->level;
		log_struct(&d->log, prio, &lf, "M7: %.*s",
			   (int)(l->text_len > 900 ? 900 : l->text_len), l->text);
	}
}

static void publish_hello(struct daemon *d, struct channel *ch, const struct channel_msg *m)
{
	const struct m7b_hello *h = &m->u.hello;
	if (m->new_boot) {
		struct log_fields lf = {.message_id = LOG_MID_FIRMWARE,
					.channel = channel_name(ch),
					.device = channel_config(ch)->device};
		log_struct(&d->log, LOG_NOTICE, &lf,
			   "firmware \"%s\" boot %08x, %u Hz ticks, %u host credits", h->name,
			   h->boot_id, h->tick_hz, h->host_credits);
	}
	int n = proto_render_hello(d->line, sizeof(d->line), channel_name(ch), h, m->new_boot);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_HELLO, d->line, (size_t)n);
}

static void publish_heartbeat(struct daemon *d, struct channel *ch, const struct channel_msg *m)
{
	int n = proto_render_heartbeat(d->line, sizeof(d->line), channel_name(ch), m->frame->seq,
				       &m->u.heartbeat);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_HEARTBEAT, d->line, (size_t)n);
}

void publish_msg(void *ud, struct channel *ch, const struct channel_msg *m)
{
	struct daemon *d = ud;
	if (!m->bad_payload) {
		switch (m->frame->type) {
		case M7B_T_DATA:
			publish_data(d, ch, m);
			break;
		case M7B_T_LOG:
			publish_log(d, ch, m);
			break;
		case M7B_T_HELLO:
			publish_hello(d, ch, m);
			break;
		case M7B_T_HEARTBEAT:
			publish_heartbeat(d, ch, m);
			break;
		default:
			break;
		}
	}
	if (m->frame->type == M7B_T_DATA) {
		for (unsigned i = 0; i < d->ndata_obs; i++)
			d->data_obs[i].fn(d->data_obs[i].ud, ch, m);
		return;
	}
	uint32_t bit = DAEMON_MSG_TYPE(m->frame->type);
	for (unsigned i = 0; i < d->nmsg_obs; i++)
		if (d->msg_obs[i].types & bit)
			d->msg_obs[i].fn(d->msg_obs[i].ud, ch, m);
}
