/* The daemon context: channels, server, clients, signals; request dispatch and fan-out. */
#include "daemon.h"

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "config.h" /* the build's: M7B_VERSION */
#include "chanjson.h"
#include "server.h"

#define DAEMON_MAX_HANDLERS  16
#define DAEMON_MAX_OBSERVERS 8

struct handler {
	char name[32];
	daemon_handler_fn fn;
	void *ud;
};

/* A send request waiting for its channel to finish it; its address is the send queue's
 * cookie, so the tty layer never sees the client protocol. */
struct pending_send {
	struct pending_send *next, *prev;
	uint64_t client;
	char id[PROTO_ID_MAX + 1]; /* request id JSON text, "" if none */
};

struct daemon {
	struct event_base *base;
	struct log log;
	struct conf *cfg;
	char *conf_path;
	bool conf_optional;
	struct conf_overrides ov;

	struct channel *channels[CONF_MAX_CHANNELS];
	struct chanjson names[CONF_MAX_CHANNELS];     /* per slot, for FRAME */
	struct ratelimit rl_m7log[CONF_MAX_CHANNELS]; /* per slot, M7 LOG -> journal */
	struct pending_send *pending;
	struct server *server;
	struct conn *clients;
	unsigned nclients;
	uint64_t next_client_id;

	struct event *ev_term, *ev_int, *ev_hup, *ev_reap;
	struct handler handlers[DAEMON_MAX_HANDLERS];
	unsigned nhandlers;
	struct daemon_observer observers[DAEMON_MAX_OBSERVERS];
	unsigned nobservers;
	daemon_clock_fn clock_fn;
	void *clock_ud;

	uint64_t start_ms;

	/* FRAME rendered once per frame per encoding, shared by all clients. */
	char frame_b64[PROTO_FRAME_MAX];
	char frame_hex[PROTO_FRAME_MAX];
	char line[PROTO_FRAME_MAX];
};

uint64_t daemon_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct event_base *daemon_base(struct daemon *d)
{
	return d->base;
}

const struct log *daemon_log(struct daemon *d)
{
	return &d->log;
}

const struct conf *daemon_config(struct daemon *d)
{
	return d->cfg;
}

struct channel *daemon_channel(struct daemon *d, const char *name)
{
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		if (d->channels[i] && strcmp(channel_name(d->channels[i]), name) == 0)
			return d->channels[i];
	return NULL;
}

struct channel *daemon_channel_at(struct daemon *d, unsigned i)
{
	return i < CONF_MAX_CHANNELS ? d->channels[i] : NULL;
}

struct conn *daemon_client(struct daemon *d, uint64_t id)
{
	for (struct conn *c = d->clients; c; c = c->next)
		if (c->id == id && !c->closing)
			return c;
	return NULL;
}

int daemon_register_handler(struct daemon *d, const char *cmd, daemon_handler_fn fn, void *ud)
{
	for (unsigned i = 0; i < d->nhandlers; i++)
		if (strcmp(d->handlers[i].name, cmd) == 0)
			return -EEXIST;
	if (d->nhandlers >= DAEMON_MAX_HANDLERS || strlen(cmd) >= sizeof d->handlers[0].name)
		return -ENOSPC;
	struct handler *h = &d->handlers[d->nhandlers++];
	snprintf(h->name, sizeof h->name, "%s", cmd);
	h->fn = fn;
	h->ud = ud;
	return 0;
}

int daemon_add_observer(struct daemon *d, const struct daemon_observer *o)
{
	if (d->nobservers >= DAEMON_MAX_OBSERVERS)
		return -ENOSPC;
	d->observers[d->nobservers++] = *o;
	return 0;
}

void daemon_remove_observer(struct daemon *d, void *ud)
{
	unsigned k = 0;
	for (unsigned i = 0; i < d->nobservers; i++)
		if (d->observers[i].ud != ud)
			d->observers[k++] = d->observers[i];
	d->nobservers = k;
}

void daemon_set_clock(struct daemon *d, daemon_clock_fn fn, void *ud)
{
	d->clock_fn = fn;
	d->clock_ud = ud;
}

const char *daemon_status_summary(struct daemon *d, char *buf, size_t cap)
{
	unsigned n = 0, up = 0;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		if (!d->channels[i])
			continue;
		n++;
		up += channel_get_state(d->channels[i]) == CHANNEL_UP;
	}
	snprintf(buf, cap, "%u/%u channel%s up, %u client%s", up, n, n == 1 ? "" : "s", d->nclients,
		 d->nclients == 1 ? "" : "s");
	return buf;
}

/* ---- clients ---- */

static void flush_dirty(struct daemon *d)
{
	for (struct conn *c = d->clients; c; c = c->next)
		if (c->dirty)
			conn_flush(c);
}

void daemon_flush(struct daemon *d)
{
	flush_dirty(d);
}

void daemon_reply(struct daemon *d, uint64_t client_id, const char *line, size_t len)
{
	struct conn *c = daemon_client(d, client_id);
	if (c)
		conn_reply(c, line, len);
}

void daemon_reply_ack(struct daemon *d, uint64_t client_id, const char *id, const char *cmd,
		      const char *channel)
{
	char buf[1024];
	int n = proto_render_ack(buf, sizeof buf, id, cmd, channel, false, 0);
	if (n > 0)
		daemon_reply(d, client_id, buf, (size_t)n);
}

void daemon_reply_error(struct daemon *d, uint64_t client_id, const char *id, enum proto_err code,
			const char *message, const char *channel)
{
	char buf[1024];
	int n = proto_render_error(buf, sizeof buf, id, code, message, channel);
	if (n > 0)
		daemon_reply(d, client_id, buf, (size_t)n);
}

static void reply_error(struct conn *c, const char *id, enum proto_err code, const char *channel,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void reply_error(struct conn *c, const char *id, enum proto_err code, const char *channel,
			const char *fmt, ...)
{
	char msg[256], buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	int n = proto_render_error(buf, sizeof buf, id, code, msg, channel);
	if (n > 0)
		conn_reply(c, buf, (size_t)n);
}

static void reply_ack(struct conn *c, const char *id, const char *cmd, const char *channel)
{
	char buf[1024];
	int n = proto_render_ack(buf, sizeof buf, id, cmd, channel, false, 0);
	if (n > 0)
		conn_reply(c, buf, (size_t)n);
}

static void resolve_client(struct daemon *d, struct conn *c)
{
	const char *names[CONF_MAX_CHANNELS];
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		names[i] = d->channels[i] ? channel_name(d->channels[i]) : NULL;
	conn_resolve(c, names, CONF_MAX_CHANNELS);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct conn **pp = &d->clients;
	while (*pp) {
		struct conn *c = *pp;
		if (!c->closing) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		d->nclients--;
		struct log_fields f = {.client = c->id};
		log_struct(&d->log, LOG_INFO, &f,
			   "client %llu (pid %d) disconnected: %s (delivered %llu, dropped %llu)",
			   (unsigned long long)c->id, c->pid, c->close_reason,
			   (unsigned long long)c->delivered, (unsigned long long)c->dropped);
		conn_free(c);
	}
}

static void on_client_closing(void *ud, struct conn *c)
{
	struct daemon *d = ud;
	event_active(d->ev_reap, EV_TIMEOUT, 0);
}

static void on_line(void *ud, struct conn *c, const char *line, size_t len);

static const struct conn_ops conn_ops = {
	.on_line = on_line,
	.on_closing = on_client_closing,
};

static void on_accept(void *ud, int fd)
{
	struct daemon *d = ud;
	if (d->nclients >= d->cfg->daemon.max_clients) {
		char buf[256];
		int n = proto_render_error(buf, sizeof buf, "", PROTO_E_BUSY, "too many clients",
					   NULL);
		if (n > 0)
			(void)!write(fd, buf, (size_t)n);
		close(fd);
		log_struct(&d->log, LOG_WARNING, NULL, "refused a client: %u clients connected",
			   d->nclients);
		return;
	}
	struct conn *c =
		conn_new(d->base, fd, ++d->next_client_id,
			 (size_t)d->cfg->daemon.client_queue_kib * 1024, &d->log, &conn_ops, d);
	if (!c) {
		close(fd);
		log_struct(&d->log, LOG_ERR, NULL, "cannot set up a client: out of memory");
		return;
	}
	c->next = d->clients;
	d->clients = c;
	d->nclients++;
	struct log_fields f = {.client = c->id};
	log_struct(&d->log, LOG_INFO, &f, "client %llu connected (pid %d, uid %ld)",
		   (unsigned long long)c->id, c->pid, c->uid);
	char buf[256];
	int n = proto_render_version(buf, sizeof buf, M7B_VERSION);
	if (n > 0)
		conn_reply(c, buf, (size_t)n);
}

/* ---- requests ---- */

static void send_snapshot(struct daemon *d, struct conn *c)
{
	struct channel_snapshot snap;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct channel *ch = d->channels[i];
		if (!ch || !(c->chan_mask >> i & 1))
			continue;
		channel_snapshot(ch, &snap);
		if (c->classes & PROTO_C_STATE) {
			int n = proto_render_state(d->line, sizeof d->line, channel_name(ch),
						   channel_state_to_string(snap.state), "snapshot",
						   snap.detail, NULL);
			if (n > 0)
				conn_reply(c, d->line, (size_t)n);
		}
		if ((c->classes & PROTO_C_HELLO) && snap.have_hello) {
			int n = proto_render_hello(d->line, sizeof d->line, channel_name(ch),
						   &snap.hello, false);
			if (n > 0)
				conn_reply(c, d->line, (size_t)n);
		}
	}
}

/* One channel's STATUS entry; its strings point into *snap. */
static void status_channel(const struct channel *ch, struct channel_snapshot *snap,
			   struct proto_status_channel *out)
{
	channel_snapshot(ch, snap);
	const struct m7b_decoder_stats *ds = &snap->dec;
	*out = (struct proto_status_channel){
		.name = channel_name(ch),
		.device = channel_config(ch)->device,
		.state = channel_state_to_string(snap->state),
		.reason = snap->reason,
		.frames = ds->frames,
		.recoveries = snap->stats.recoveries,
		.bytes = ds->bytes,
		.data_frames = snap->stats.data_frames,
		.seq_gaps = snap->stats.seq_gaps,
		.bad_crc = ds->reject[M7B_REJECT_CRC],
		.resyncs = ds->rejected,
		.noise_bytes = ds->noise_bytes,
		.reopens = snap->stats.reopens,
		.unknown_types = snap->stats.unknown_types,
		.sends = snap->stats.sends,
		.send_errors = snap->stats.send_errors,
		.write_stalls = snap->stats.write_stalls,
		.write_stall_ms = snap->stats.write_stall_ms,
		.send_queue = snap->send_queue,
		.has_credits = snap->has_credits,
		.credits = snap->credits,
		.has_firmware = snap->have_hello,
		.fw_name = snap->fw_name,
		.boot_id = snap->hello.boot_id,
		.tick_hz = snap->hello.tick_hz,
		.max_payload = snap->hello.max_payload,
		.holder_pid = snap->holder_pid,
		.holder_comm = snap->holder_comm,
	};
}

static void do_status(struct daemon *d, struct conn *c, const struct proto_request *req)
{
	struct proto_status_channel chans[CONF_MAX_CHANNELS];
	struct channel_snapshot *snaps = calloc(CONF_MAX_CHANNELS, sizeof(*snaps));
	unsigned nch = 0;
	if (!snaps) {
		reply_error(c, req->id, PROTO_E_INTERNAL, NULL, "out of memory");
		return;
	}
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct channel *ch = d->channels[i];
		if (!ch)
			continue;
		status_channel(ch, &snaps[nch], &chans[nch]);
		nch++;
	}
	struct proto_status_client *cls = calloc(d->nclients ? d->nclients : 1, sizeof *cls);
	if (!cls) {
		free(snaps);
		reply_error(c, req->id, PROTO_E_INTERNAL, NULL, "out of memory");
		return;
	}
	unsigned ncl = 0;
	for (struct conn *o = d->clients; o && ncl < d->nclients; o = o->next) {
		if (o->closing)
			continue;
		cls[ncl++] = (struct proto_status_client){
			.id = o->id,
			.pid = o->pid,
			.uid = o->uid,
			.watching = o->watching,
			.policy = o->policy,
			.delivered = o->delivered,
			.dropped = o->dropped,
			.queued_bytes = conn_queued(o),
		};
	}
	struct proto_status s = {
		.id = req->id,
		.release = M7B_VERSION,
		.uptime_ms = daemon_now_ms() - d->start_ms,
		.client_id = c->id,
		.channels = chans,
		.nchannels = nch,
		.clients = cls,
		.nclients = ncl,
	};
	size_t len;
	char *text = proto_render_status(&s, &len);
	free(cls);
	free(snaps);
	if (!text) {
		reply_error(c, req->id, PROTO_E_INTERNAL, NULL, "out of memory");
		return;
	}
	conn_reply(c, text, len);
	free(text);
}

static void pending_link(struct daemon *d, struct pending_send *p)
{
	p->prev = NULL;
	p->next = d->pending;
	if (d->pending)
		d->pending->prev = p;
	d->pending = p;
}

static void pending_unlink(struct daemon *d, struct pending_send *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		d->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void do_send(struct daemon *d, struct conn *c, const struct proto_request *req)
{
	if (!d->cfg->daemon.allow_send) {
		reply_error(c, req->id, PROTO_E_FORBIDDEN, req->channel,
			    "sending is disabled (allow_send = false)");
		return;
	}
	struct channel *ch = daemon_channel(d, req->channel);
	if (!ch) {
		reply_error(c, req->id, PROTO_E_NO_CHANNEL, req->channel, "no channel %s",
			    req->channel);
		return;
	}
	struct channel_snapshot snap;
	channel_snapshot(ch, &snap);
	if (snap.have_hello && snap.hello.max_payload && req->len > snap.hello.max_payload) {
		reply_error(c, req->id, PROTO_E_BAD_VALUE, req->channel,
			    "at most %u bytes per send on this firmware", snap.hello.max_payload);
		return;
	}
	struct pending_send *p = calloc(1, sizeof(*p));
	if (!p) {
		reply_error(c, req->id, PROTO_E_INTERNAL, req->channel, "out of memory");
		return;
	}
	p->client = c->id;
	memcpy(p->id, req->id, sizeof(p->id));
	struct sendq_entry e = {
		.cookie = (uintptr_t)p, .port = (uint8_t)req->port, .len = (uint16_t)req->len};
	memcpy(e.data, req->data, req->len);
	int r = channel_send(ch, &e);
	if (r == 0) {
		pending_link(d, p);
		return;
	}
	free(p);
	if (r == -ENOTCONN)
		reply_error(c, req->id, PROTO_E_CHANNEL_DOWN, req->channel, "channel %s is %s",
			    req->channel, channel_state_to_string(snap.state));
	else if (r == -EBUSY)
		reply_error(c, req->id, PROTO_E_BUSY, req->channel,
			    "send queue of channel %s is full (%u requests)", req->channel,
			    channel_config(ch)->send_queue);
	else if (r < 0)
		reply_error(c, req->id, PROTO_E_INTERNAL, req->channel, "%s", strerror(-r));
}

static void on_line(void *ud, struct conn *c, const char *line, size_t len)
{
	struct daemon *d = ud;
	struct proto_request req;
	struct proto_error e;
	if (proto_parse_request(line, len, &req, &e) < 0) {
		if (++c->bad_lines >= PROTO_FLOOD_LINES) {
			reply_error(c, req.id, PROTO_E_FLOOD, NULL,
				    "%u bad lines in a row: closing", PROTO_FLOOD_LINES);
			conn_close(c, "flood of bad lines");
		} else {
			reply_error(c, req.id, e.code, NULL, "%s", e.message);
		}
		proto_request_clear(&req);
		return;
	}
	c->bad_lines = 0;

	/* Registered handlers first: they may replace the built-in answers below. */
	for (unsigned i = 0; i < d->nhandlers; i++) {
		if (strcmp(d->handlers[i].name, req.cmd_name) != 0)
			continue;
		bool control = req.cmd == PROTO_CMD_RECOVER || req.cmd == PROTO_CMD_RELOAD;
		if (control && !d->cfg->daemon.allow_control)
			reply_error(c, req.id, PROTO_E_FORBIDDEN, req.channel,
				    "%s is disabled (allow_control = false)", req.cmd_name);
		else if ((control || req.channel[0]) && !daemon_channel(d, req.channel))
			reply_error(c, req.id, PROTO_E_NO_CHANNEL, req.channel, "no channel %s",
				    req.channel);
		else
			d->handlers[i].fn(d->handlers[i].ud, d, c, &req);
		proto_request_clear(&req);
		return;
	}

	switch (req.cmd) {
	case PROTO_CMD_WATCH:
		if (conn_watch(c, &req) < 0) {
			reply_error(c, req.id, PROTO_E_INTERNAL, NULL, "out of memory");
			break;
		}
		resolve_client(d, c);
		reply_ack(c, req.id, "watch", NULL);
		send_snapshot(d, c);
		break;
	case PROTO_CMD_UNWATCH:
		conn_unwatch(c);
		reply_ack(c, req.id, "unwatch", NULL);
		break;
	case PROTO_CMD_STATUS:
		do_status(d, c, &req);
		break;
	case PROTO_CMD_SEND:
		do_send(d, c, &req);
		break;
	case PROTO_CMD_PING: {
		char buf[512];
		int n = proto_render_pong(buf, sizeof buf, req.id);
		if (n > 0)
			conn_reply(c, buf, (size_t)n);
		break;
	}
	case PROTO_CMD_RECOVER:
	case PROTO_CMD_RELOAD:
	case PROTO_CMD_INCIDENTS:
		if (req.channel[0] && !daemon_channel(d, req.channel))
			reply_error(c, req.id, PROTO_E_NO_CHANNEL, req.channel, "no channel %s",
				    req.channel);
		else
			reply_error(c, req.id, PROTO_E_UNSUPPORTED, req.channel,
				    "%s is not available in this daemon", req.cmd_name);
		break;
	case PROTO_CMD_OTHER:
		reply_error(c, req.id, PROTO_E_UNKNOWN_CMD, NULL, "unknown cmd \"%.32s\"",
			    req.cmd_name);
		break;
	}
	proto_request_clear(&req);
}

/* ---- channel events -> clients ---- */

void daemon_broadcast(struct daemon *d, struct channel *ch, unsigned cls, const char *line,
		      size_t len)
{
	for (struct conn *c = d->clients; c; c = c->next)
		if (conn_wants(c, channel_slot(ch), cls, -1))
			conn_stream(c, line, len);
}

void daemon_publish_fault(struct daemon *d, struct channel *ch, const char *kind,
			  const char *detail, const char *source, uint64_t count)
{
	char buf[2048];
	int n = proto_render_fault(buf, sizeof buf, channel_name(ch), kind, detail, source, count);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_FAULT, buf, (size_t)n);
}

static void publish_data(struct daemon *d, struct channel *ch, const struct channel_msg *m)
{
	const struct m7b_frame *f = m->frame;
	const struct m7b_data *dd = &m->u.data;
	const struct chanjson *names = &d->names[channel_slot(ch)];
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
	};
	if (d->clock_fn && d->clock_fn(d->clock_ud, ch, dd->t_first, &pf.t_first_ns) &&
	    d->clock_fn(d->clock_ud, ch, dd->t_last, &pf.t_last_ns))
		pf.has_realtime = true;
	/* Rendered at most once per encoding, then copied into each client's queue. */
	int nb = 0, nh = 0;
	for (struct conn *c = d->clients; c; c = c->next) {
		if (!conn_wants(c, channel_slot(ch), PROTO_C_FRAME, f->port))
			continue;
		if (c->encoding == PROTO_ENC_HEX) {
			if (nh == 0)
				nh = proto_render_frame(d->frame_hex, sizeof d->frame_hex, &pf,
							PROTO_ENC_HEX);
			if (nh > 0)
				conn_stream(c, d->frame_hex, (size_t)nh);
		} else {
			if (nb == 0)
				nb = proto_render_frame(d->frame_b64, sizeof d->frame_b64, &pf,
							PROTO_ENC_BASE64);
			if (nb > 0)
				conn_stream(c, d->frame_b64, (size_t)nb);
		}
	}
}

static void publish_log(struct daemon *d, struct channel *ch, const struct channel_msg *m)
{
	const struct m7b_log *l = &m->u.log;
	int n = proto_render_log(d->line, sizeof d->line, channel_name(ch), l->level, l->text,
				 l->text_len, m->frame->seq);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_LOG, d->line, (size_t)n);
	if (ratelimit_ok(&d->rl_m7log[channel_slot(ch)], daemon_now_ms(), 50, 1000)) {
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
	int n = proto_render_hello(d->line, sizeof d->line, channel_name(ch), h, m->new_boot);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_HELLO, d->line, (size_t)n);
}

static void publish_heartbeat(struct daemon *d, struct channel *ch, const struct channel_msg *m)
{
	int n = proto_render_heartbeat(d->line, sizeof d->line, channel_name(ch), m->frame->seq,
				       &m->u.heartbeat);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_HEARTBEAT, d->line, (size_t)n);
}

static void ch_on_msg(void *ud, struct channel *ch, const struct channel_msg *m)
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
	for (unsigned i = 0; i < d->nobservers; i++)
		if (d->observers[i].on_msg)
			d->observers[i].on_msg(d->observers[i].ud, ch, m);
}

static void ch_on_state(void *ud, struct channel *ch, enum channel_state old)
{
	struct daemon *d = ud;
	struct channel_snapshot snap;
	channel_snapshot(ch, &snap);
	const char *ename = NULL;
	if (snap.last_err && snap.state != CHANNEL_UP && snap.state != CHANNEL_OPENING)
		ename = strerrorname_np(-snap.last_err);
	int n = proto_render_state(d->line, sizeof d->line, channel_name(ch),
				   channel_state_to_string(snap.state), snap.reason, snap.detail,
				   ename);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_STATE, d->line, (size_t)n);
	for (unsigned i = 0; i < d->nobservers; i++)
		if (d->observers[i].on_state)
			d->observers[i].on_state(d->observers[i].ud, ch, old);
}

/* Answers a finished send request. */
static void reply_send_done(struct conn *c, struct channel *ch, const char *id, uint32_t seq,
			    enum sendq_result r, uint8_t status)
{
	static const char *const st_names[] = {"ok", "bad_port", "no_credit", "bad_payload",
					       "unsupported"};
	const char *stn = status < 5 ? st_names[status] : "unknown";
	switch (r) {
	case SENDQ_OK: {
		char buf[1024];
		int n = proto_render_ack(buf, sizeof buf, id, "send", channel_name(ch), true, seq);
		if (n > 0)
			conn_reply(c, buf, (size_t)n);
		break;
	}
	case SENDQ_REJECTED:
		reply_error(c, id, PROTO_E_SEND_FAILED, channel_name(ch),
			    "the firmware rejected the send: %s", stn);
		break;
	case SENDQ_ACK_LOST:
		reply_error(c, id, PROTO_E_TIMEOUT, channel_name(ch),
			    "the firmware's acknowledgement was lost");
		break;
	case SENDQ_TIMEOUT:
		reply_error(c, id, PROTO_E_TIMEOUT, channel_name(ch),
			    "no acknowledgement within %u ms", channel_config(ch)->send_timeout_ms);
		break;
	case SENDQ_DOWN:
		reply_error(c, id, PROTO_E_CHANNEL_DOWN, channel_name(ch),
			    "channel %s went down before the firmware acknowledged",
			    channel_name(ch));
		break;
	case SENDQ_RESTARTED:
		reply_error(c, id, PROTO_E_SEND_FAILED, channel_name(ch),
			    "the firmware restarted before acknowledging");
		break;
	}
}

static void ch_on_send_done(void *ud, struct channel *ch, const struct sendq_entry *e,
			    enum sendq_result r, uint8_t status)
{
	struct daemon *d = ud;
	struct pending_send *p = (struct pending_send *)(uintptr_t)e->cookie;
	pending_unlink(d, p);
	struct conn *c = daemon_client(d, p->client);
	if (c)
		reply_send_done(c, ch, p->id, e->seq, r, status);
	free(p);
}

static void ch_on_decoded(void *ud, struct channel *ch, uint64_t good, uint64_t bad)
{
	struct daemon *d = ud;

	for (unsigned i = 0; i < d->nobservers; i++)
		if (d->observers[i].on_decoded)
			d->observers[i].on_decoded(d->observers[i].ud, ch, good, bad);
}

static void ch_on_batch_end(void *ud, struct channel *ch)
{
	flush_dirty(ud);
}

static const struct channel_ops channel_ops = {
	.on_msg = ch_on_msg,
	.on_state = ch_on_state,
	.on_send_done = ch_on_send_done,
	.on_decoded = ch_on_decoded,
	.on_batch_end = ch_on_batch_end,
};

/* ---- channels and configuration ---- */

static void tell_observers(struct daemon *d, struct channel *ch, bool added)
{
	for (unsigned i = 0; i < d->nobservers; i++)
		if (d->observers[i].on_channel)
			d->observers[i].on_channel(d->observers[i].ud, ch, added);
}

/* Creates the channel of cc in slot and starts it. 0 or a negative errno. */
static int attach_channel(struct daemon *d, unsigned slot, const struct conf_channel *cc)
{
	int r = chanjson_render(&d->names[slot], cc);
	if (r < 0)
		return r;
	struct channel *ch = channel_new(d->base, cc, slot, &d->log, &channel_ops, d);
	if (!ch) {
		chanjson_clear(&d->names[slot]);
		return -ENOMEM;
	}
	d->channels[slot] = ch;
	d->rl_m7log[slot] = (struct ratelimit){0};
	tell_observers(d, ch, true);
	channel_start(ch);
	return 0;
}

/* Frees the channel in slot (the observers hear of it first). */
static void detach_channel(struct daemon *d, unsigned slot)
{
	tell_observers(d, d->channels[slot], false);
	d->channels[slot] = channel_free(d->channels[slot]);
	chanjson_clear(&d->names[slot]);
}

static int add_channel(struct daemon *d, const struct conf_channel *cc)
{
	unsigned slot = 0;
	while (slot < CONF_MAX_CHANNELS && d->channels[slot])
		slot++;
	if (slot == CONF_MAX_CHANNELS)
		return -ENOSPC;
	return attach_channel(d, slot, cc);
}

static void remove_channel(struct daemon *d, unsigned slot, const char *reason)
{
	struct channel *ch = d->channels[slot];
	channel_hold(ch, true);
	channel_close(ch, CHANNEL_DOWN, reason, 0); /* fails pending sends with replies */
	detach_channel(d, slot);
}

/* Takes cc for the channel in slot i: in place, or by reopening it in the same slot
 * (which keeps every client's channel filter valid). Returns 1 when reopened. */
static int change_channel(struct daemon *d, unsigned i, const struct conf_channel *cc)
{
	struct channel *ch = d->channels[i];
	int r;
	if (conf_channel_needs_reopen(channel_config(ch), cc)) {
		remove_channel(d, i, "config");
		r = attach_channel(d, i, cc);
		return r < 0 ? r : 1;
	}
	r = channel_update_config(ch, cc);
	if (r >= 0)
		r = chanjson_render(&d->names[i], cc);
	if (r < 0)
		return r;
	for (unsigned k = 0; k < d->nobservers; k++)
		if (d->observers[k].on_config)
			d->observers[k].on_config(d->observers[k].ud, ch);
	return 0;
}

static void resolve_all(struct daemon *d)
{
	for (struct conn *c = d->clients; c; c = c->next)
		resolve_client(d, c);
}

int daemon_reload(struct daemon *d)
{
	struct conf *n;
	struct conf_error err;
	int r = conf_read(d->conf_path, d->conf_optional, &d->ov, &n, &err);
	if (r < 0) {
		char msg[512];
		log_struct(&d->log, LOG_ERR, NULL,
			   "reload failed, keeping the old configuration: %s",
			   conf_error_format(&err, msg, sizeof msg));
		return r;
	}
	if (strcmp(n->daemon.socket_path, d->cfg->daemon.socket_path) != 0 ||
	    n->daemon.socket_mode != d->cfg->daemon.socket_mode)
		log_struct(&d->log, LOG_WARNING, NULL,
			   "socket settings changed: they take effect after a restart");
	d->log.max_level = n->daemon.log_level;

	unsigned added = 0, removed = 0, changed = 0;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct channel *ch = d->channels[i];
		if (!ch)
			continue;
		const struct conf_channel *cc = conf_find_channel(n, channel_name(ch));
		if (!cc) {
			remove_channel(d, i, "removed");
			removed++;
			continue;
		}
		r = change_channel(d, i, cc);
		if (r < 0)
			log_struct(&d->log, LOG_ERR,
				   &(struct log_fields){.channel = cc->name, .err = -r},
				   "cannot apply the new settings: %s", strerror(-r));
		else
			changed += (unsigned)r;
	}
	for (unsigned i = 0; i < n->nchannels; i++) {
		if (daemon_channel(d, n->channels[i].name))
			continue;
		r = add_channel(d, &n->channels[i]);
		if (r < 0)
			log_struct(&d->log, LOG_ERR, NULL, "cannot add channel %s: %s",
				   n->channels[i].name, strerror(-r));
		else
			added++;
	}
	conf_free(d->cfg);
	d->cfg = n;
	resolve_all(d);
	log_struct(&d->log, LOG_NOTICE, NULL,
		   "configuration reloaded: %u channel(s) added, %u removed, %u reopened", added,
		   removed, changed);
	flush_dirty(d);
	return 0;
}

/* ---- lifecycle ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	if (sig == SIGHUP) {
		log_struct(&d->log, LOG_INFO, NULL, "SIGHUP: reloading the configuration");
		(void)daemon_reload(d);
		return;
	}
	log_struct(&d->log, LOG_INFO, NULL, "%s: shutting down",
		   sig == SIGTERM ? "SIGTERM" : "SIGINT");
	daemon_stop(d);
}

struct daemon *daemon_new(const struct daemon_args *a, int *err)
{
	*err = -ENOMEM;
	struct daemon *d = calloc(1, sizeof *d);
	if (!d) {
		conf_free(a->cfg);
		return NULL;
	}
	d->cfg = a->cfg;
	d->conf_optional = a->conf_optional;
	d->ov = a->ov;
	d->start_ms = daemon_now_ms();
	log_init(&d->log, a->log_target, d->cfg->daemon.log_level);
	if (a->conf_path && !(d->conf_path = strdup(a->conf_path)))
		return daemon_free(d);
	/* Writes to a client that went away must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	d->base = event_base_new();
	if (!d->base)
		return daemon_free(d);
	d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	d->ev_reap = event_new(d->base, -1, 0, on_reap, d);
	if (!d->ev_term || !d->ev_int || !d->ev_hup || !d->ev_reap ||
	    evsignal_add(d->ev_term, NULL) < 0 || evsignal_add(d->ev_int, NULL) < 0 ||
	    evsignal_add(d->ev_hup, NULL) < 0)
		return daemon_free(d);

	d->server = server_new(d->base, &d->cfg->daemon, &d->log, on_accept, d, err);
	if (!d->server)
		return daemon_free(d);
	for (unsigned i = 0; i < d->cfg->nchannels; i++) {
		int r = add_channel(d, &d->cfg->channels[i]);
		if (r < 0) {
			log_struct(&d->log, LOG_ERR, NULL, "cannot set up channel %s: %s",
				   d->cfg->channels[i].name, strerror(-r));
			*err = r;
			return daemon_free(d);
		}
	}
	*err = 0;
	return d;
}

int daemon_run(struct daemon *d)
{
	char summary[128];
	log_struct(&d->log, LOG_NOTICE, NULL, "m7bridged %s running: %s", M7B_VERSION,
		   daemon_status_summary(d, summary, sizeof summary));
	if (event_base_dispatch(d->base) < 0)
		return log_struct_errno(&d->log, LOG_ERR, NULL, -EIO, "the event loop failed");
	return 0;
}

void daemon_stop(struct daemon *d)
{
	event_base_loopbreak(d->base);
}

struct daemon *daemon_free(struct daemon *d)
{
	if (!d)
		return NULL;
	/* Reverse of set-up: channels, socket, clients, events, base. */
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		if (d->channels[i])
			detach_channel(d, i);
	/* Channels freed without callbacks leave their send requests here. */
	while (d->pending) {
		struct pending_send *p = d->pending;
		pending_unlink(d, p);
		free(p);
	}
	d->server = server_free(d->server);
	while (d->clients) {
		struct conn *c = d->clients;
		d->clients = c->next;
		conn_free(c);
	}
	if (d->ev_term)
		event_free(d->ev_term);
	if (d->ev_int)
		event_free(d->ev_int);
	if (d->ev_hup)
		event_free(d->ev_hup);
	if (d->ev_reap)
		event_free(d->ev_reap);
	if (d->base)
		event_base_free(d->base);
	conf_free(d->cfg);
	free(d->conf_path);
	free(d);
	return NULL;
}
