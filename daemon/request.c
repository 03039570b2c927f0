/* Client requests: parsed, dispatched to the built-in commands or a registered handler,
 * answered; send requests tracked by cookie until their channel finishes them. */
#include "daemon_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h" /* the build's: M7B_VERSION */
#include "utf8.h"

static void reply_error(struct conn *c, const char *id, enum proto_err code, const char *channel,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void reply_error(struct conn *c, const char *id, enum proto_err code, const char *channel,
			const char *fmt, ...)
{
	char msg[256], buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int n = proto_render_error(buf, sizeof(buf), id, code, msg, channel);
	if (n > 0) {
		conn_reply(c, buf, (size_t)n);
		return;
	}
	/* The channel is echoed whole, however long the client made it: room for every
	 * text quoted (a control character takes six bytes as \u00XX). Unless the line
	 * would then be longer than any line may be: then it is left out. */
	size_t cap = 64 + strlen(id) + 6 * (strlen(msg) + (channel ? strlen(channel) : 0));
	char *big = malloc(cap);
	n = big ? proto_render_error(big, cap, id, code, msg, channel) : -ENOMEM;
	if (n > (int)PROTO_LINE_MAX + 1)
		n = proto_render_error(big, cap, id, code, msg, NULL);
	if (n > 0)
		conn_reply(c, big, (size_t)n);
	else
		conn_close(c, "cannot render a reply");
	free(big);
}

/* A name from a request as a message shows it: the first 64 bytes at most, cut between
 * characters, and "..." when there is more. buf holds 68 bytes. */
static const char *shown_name(char *buf, const char *name)
{
	size_t len = strlen(name);
	size_t n = utf8_clean(buf, 65, name, len);
	if (n < len)
		memcpy(buf + n, "...", 4);
	return buf;
}

/* The request names a channel the daemon does not have. */
static void reply_no_channel(struct conn *c, const struct proto_request *req)
{
	char shown[68];
	reply_error(c, req->id, PROTO_E_NO_CHANNEL, req->channel, "no channel %s",
		    shown_name(shown, req->channel));
}

static void reply_ack(struct conn *c, const char *id, const char *cmd, const char *channel)
{
	char buf[1024];
	int n = proto_render_ack(buf, sizeof(buf), id, cmd, channel, false, 0);
	if (n > 0)
		conn_reply(c, buf, (size_t)n);
}

void request_resolve(struct daemon *d, struct conn *c)
{
	const char *names[CONF_MAX_CHANNELS];
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		names[i] = d->channels[i] ? channel_name(d->channels[i]) : NULL;
	conn_resolve(c, names, CONF_MAX_CHANNELS);
}

/* Room for "available" whole: every port named with the longest name, or every channel
 * (names are plain: quoting adds the quotes only). */
#define AVAIL_PORT_MAX sizeof("{\"port\":255,\"name\":\"\"},")
#define AVAIL_MAX                                                                                  \
	(CONF_PORTS * (AVAIL_PORT_MAX + CONF_NAME_MAX) > CONF_MAX_CHANNELS * (CONF_NAME_MAX + 3)   \
		 ? CONF_PORTS * (AVAIL_PORT_MAX + CONF_NAME_MAX) + 2                               \
		 : CONF_MAX_CHANNELS * (CONF_NAME_MAX + 3) + 2)

/* Appends ,"name" (or the first without a comma) to a JSON array text being built. */
static void avail_add(char *buf, size_t cap, size_t *len, const char *item_json)
{
	int n = snprintf(buf + *len, cap - *len, "%s%s", *len > 1 ? "," : "", item_json);
	if (n > 0 && (size_t)n < cap - *len - 1)
		*len += (size_t)n;
}

/* The configured channels as a JSON array of names. */
static void avail_channels(struct daemon *d, char *buf, size_t cap)
{
	size_t len = 1;
	char q[2 * PROTO_NAME_MAX + 8];
	buf[0] = '[';
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		const struct channel *ch = d->channels[i];
		const char *name = ch ? channel_name(ch) : NULL;
		int n = name ? proto_quote(q, sizeof(q) - 1, name, strlen(name)) : -1;
		if (n > 0) {
			q[n] = '\0'; /* proto_quote does not terminate */
			avail_add(buf, cap, &len, q);
		}
	}
	snprintf(buf + len, cap - len, "]");
}

/* Whether the channels a watch selects name their ports; sets bits and the ports as a
 * JSON array of {"port":N,"name":"..."}. */
static bool avail_ports(struct daemon *d, uint64_t chan_mask, uint64_t bits[4], char *buf,
			size_t cap)
{
	size_t len = 1;
	bool any = false;
	buf[0] = '[';
	memset(bits, 0, 4 * sizeof(bits[0]));
	/* The selected channels' settings first, in slot order: a port is then looked up in
	 * those only, not in every slot (a watch took some 170,000 instructions). */
	const struct conf_channel *sel[CONF_MAX_CHANNELS];
	unsigned nsel = 0;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		if (d->channels[i] && (chan_mask >> i & 1))
			sel[nsel++] = channel_config(d->channels[i]);
	for (unsigned p = 0; p < CONF_PORTS; p++) {
		const char *name = NULL;
		for (unsigned i = 0; !name && i < nsel; i++)
			name = sel[i]->port_names[p];
		if (!name)
			continue;
		char q[2 * CONF_NAME_MAX + 8], item[2 * CONF_NAME_MAX + 32];
		int n = proto_quote(q, sizeof(q) - 1, name, strlen(name));
		if (n < 0)
			continue;
		q[n] = '\0';
		snprintf(item, sizeof(item), "{\"port\":%u,\"name\":%s}", p, q);
		avail_add(buf, cap, &len, item);
		bits[p >> 6] |= 1ull << (p & 63);
		any = true;
	}
	snprintf(buf + len, cap - len, "]");
	return any;
}

/* A watch naming what does not exist would stream nothing, silently: refuse it and list
 * what exists. Ports are judged only where the configuration names them (the firmware
 * decides which ports carry data; names are how an operator declares them). */
static bool watch_filters_ok(struct daemon *d, struct conn *c, const struct proto_request *req)
{
	char msg[256];
	enum proto_err code = PROTO_E_NONE;
	char *avail = malloc(AVAIL_MAX), *buf = malloc(AVAIL_MAX + 1024);
	if (!avail || !buf) {
		free(avail);
		free(buf);
		reply_error(c, req->id, PROTO_E_INTERNAL, NULL, "out of memory");
		return false;
	}
	for (unsigned i = 0; !req->all_channels && i < req->nchannels; i++) {
		if (daemon_channel(d, req->channels[i]))
			continue;
		avail_channels(d, avail, AVAIL_MAX);
		char shown[68];
		snprintf(msg, sizeof(msg), "no channel %s", shown_name(shown, req->channels[i]));
		code = PROTO_E_UNKNOWN_CHANNEL;
		break;
	}
	uint64_t named[4], mask = 0;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		bool sel = d->channels[i] && req->all_channels;
		for (unsigned k = 0; d->channels[i] && !sel && k < req->nchannels; k++)
			sel = strcmp(channel_name(d->channels[i]), req->channels[k]) == 0;
		mask |= (uint64_t)sel << i;
	}
	if (!code && avail_ports(d, mask, named, avail, AVAIL_MAX)) {
		/* The default selects every port: only ports asked for count. */
		bool all = true;
		for (unsigned k = 0; k < 4; k++)
			all = all && req->ports[k] == UINT64_MAX;
		for (unsigned p = 0; !all && !code && p < CONF_PORTS; p++) {
			if (!(req->ports[p >> 6] >> (p & 63) & 1) ||
			    (named[p >> 6] >> (p & 63) & 1))
				continue;
			snprintf(msg, sizeof(msg), "no port %u on the selected channels", p);
			code = PROTO_E_UNKNOWN_PORT;
		}
	}
	int n = code ? proto_render_error_available(buf, AVAIL_MAX + 1024, req->id, code, msg,
						    avail)
		     : 0;
	if (n > 0)
		conn_reply(c, buf, (size_t)n);
	free(avail);
	free(buf);
	return !code;
}

static void send_snapshot(struct daemon *d, struct conn *c)
{
	struct channel_snapshot snap;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct channel *ch = d->channels[i];
		if (!ch || !(c->chan_mask >> i & 1))
			continue;
		channel_snapshot(ch, &snap);
		if (c->classes & PROTO_C_STATE) {
			int n = proto_render_state(d->line, sizeof(d->line), channel_name(ch),
						   channel_state_to_string(snap.state), "snapshot",
						   snap.detail, NULL);
			if (n > 0)
				conn_reply(c, d->line, (size_t)n);
		}
		/* Not after a restart seen without its HELLO: the last HELLO names a run
		 * that is over, and a client would take the frames for that run's. */
		bool run_known = !snap.books.have_boot || snap.books.id_known;
		if ((c->classes & PROTO_C_HELLO) && snap.have_hello && run_known) {
			int n = proto_render_hello(d->line, sizeof(d->line), channel_name(ch),
						   &snap.hello, false);
			if (n > 0)
				conn_reply(c, d->line, (size_t)n);
		}
	}
}

/* One channel's STATUS entry; its strings point into *snap. */
static void status_channel(struct daemon *d, const struct channel *ch,
			   struct channel_snapshot *snap, struct daemon_status_extra *x,
			   struct proto_status_channel *out)
{
	channel_snapshot(ch, snap);
	*x = (struct daemon_status_extra){0};
	for (unsigned i = 0; i < d->nobservers; i++)
		if (d->observers[i].on_status)
			d->observers[i].on_status(d->observers[i].ud, ch, x);
	const struct m7b_decoder_stats *ds = &snap->dec;
	*out = (struct proto_status_channel){
		.name = channel_name(ch),
		.device = channel_config(ch)->device,
		.state = channel_state_to_string(snap->state),
		.reason = snap->reason,
		.frames = ds->frames,
		.recoveries = snap->stats.recoveries,
		.bytes = ds->bytes + snap->stats.unread_at_close,
		.unread_at_close = snap->stats.unread_at_close,
		.data_frames = snap->stats.data_frames,
		.seq_gaps = snap->stats.seq_gaps,
		.bad_crc = ds->reject[M7B_REJECT_CRC],
		.resyncs = ds->rejected,
		.noise_bytes = ds->noise_bytes,
		.reopens = snap->stats.reopens,
		.unknown_types = snap->stats.unknown_types,
		.bad_payloads = snap->stats.bad_payloads,
		.books = &snap->books,
		.sends = snap->stats.sends,
		.send_errors = snap->stats.send_errors,
		.write_stalls = snap->stats.write_stalls,
		.write_stall_ms = snap->stats.write_stall_ms,
		.raw = snap->raw,
		.raw_rx_bytes = snap->stats.raw_rx_bytes,
		.raw_chunks = snap->stats.raw_chunks,
		.raw_tx_bytes = snap->stats.raw_tx_bytes,
		.raw_tx_dropped = snap->stats.raw_tx_dropped,
		.untimed_frames = snap->stats.untimed_frames,
		.m7_known = snap->fw_counters.known,
		.m7_totals = snap->fw_counters.total,
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
		.state_ms = snap->state_ms,
		.port_names = (const char *const *)channel_config(ch)->port_names,
		.nports = CONF_PORTS,
		.recovery_steps = x->has_recovery_steps ? x->recovery_steps : NULL,
		.pty = x->has_pty ? &x->pty : NULL,
	};
}

static void do_status(struct daemon *d, struct conn *c, const struct proto_request *req)
{
	struct proto_status_channel chans[CONF_MAX_CHANNELS];
	struct channel_snapshot *snaps = calloc(CONF_MAX_CHANNELS, sizeof(*snaps));
	struct daemon_status_extra *extras = calloc(CONF_MAX_CHANNELS, sizeof(*extras));
	unsigned nch = 0;
	if (!snaps || !extras) {
		free(snaps);
		free(extras);
		reply_error(c, req->id, PROTO_E_INTERNAL, NULL, "out of memory");
		return;
	}
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct channel *ch = d->channels[i];
		if (!ch)
			continue;
		status_channel(d, ch, &snaps[nch], &extras[nch], &chans[nch]);
		if (d->clock.info)
			chans[nch].has_clock = d->clock.info(d->clock.ud, ch, &chans[nch].clock);
		if (d->fault_info_fn)
			chans[nch].has_faults =
				d->fault_info_fn(d->fault_ud, ch, &chans[nch].faults);
		nch++;
	}
	struct proto_status_client *cls = calloc(d->nclients ? d->nclients : 1, sizeof(*cls));
	if (!cls) {
		free(snaps);
		free(extras);
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
		/* Peer credentials name whoever called listen(): PID 1 under socket
		 * activation. Tools need the daemon's own to read its /proc. */
		.pid = (int)getpid(),
		.channels = chans,
		.nchannels = nch,
		.clients = cls,
		.nclients = ncl,
	};
	size_t len;
	char *text = proto_render_status(&s, &len);
	free(cls);
	free(snaps);
	free(extras);
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

/* Raw channels: the bytes go to the writer as they are, whole; the ACK says they were
 * handed to the tty (the firmware acknowledges nothing). Port 0 or none. */
static void send_raw(struct conn *c, struct channel *ch, const struct proto_request *req)
{
	if (req->port > 0) {
		reply_error(c, req->id, PROTO_E_BAD_VALUE, req->channel,
			    "channel %s is raw: ports do not exist (leave \"port\" out or use 0)",
			    req->channel);
		return;
	}
	int r = channel_write_raw(ch, req->data, req->len);
	if (r == 0) {
		char buf[PROTO_ID_MAX + 256];
		int n = proto_render_ack(buf, sizeof(buf), req->id, "send", req->channel, false, 0);
		if (n > 0)
			conn_reply(c, buf, (size_t)n);
	} else if (r == -ENOTCONN) {
		reply_error(c, req->id, PROTO_E_CHANNEL_DOWN, req->channel, "channel %s is %s",
			    req->channel, channel_state_to_string(channel_get_state(ch)));
	} else if (r == -ENOBUFS) {
		reply_error(c, req->id, PROTO_E_BUSY, req->channel,
			    "the writer of channel %s is full: try again", req->channel);
	} else {
		reply_error(c, req->id, PROTO_E_INTERNAL, req->channel, "%s", strerror(-r));
	}
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
		reply_no_channel(c, req);
		return;
	}
	if (channel_is_raw(ch)) {
		send_raw(c, ch, req);
		return;
	}
	if (req->port < 0) {
		reply_error(c, req->id, PROTO_E_MISSING_MEMBER, req->channel,
			    "member \"port\" is required");
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
		conn_hold(c);
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

static void do_watch(struct daemon *d, struct conn *c, const struct proto_request *req)
{
	if (!watch_filters_ok(d, c, req))
		return;
	if (conn_watch(c, req) < 0) {
		reply_error(c, req->id, PROTO_E_INTERNAL, NULL, "out of memory");
		return;
	}
	request_resolve(d, c);
	reply_ack(c, req->id, "watch", NULL);
	send_snapshot(d, c);
	replay_watch(d->replay, c, req);
}

/* Whether some module registered a handler for cmd. */
static bool has_handler(const struct daemon *d, const char *cmd)
{
	for (unsigned i = 0; i < d->nhandlers; i++)
		if (strcmp(d->handlers[i].name, cmd) == 0)
			return true;
	return false;
}

/* Whether do_send() would answer req at once (an error, or a raw channel's ACK) rather
 * than queue it for the firmware: the same checks, in its order. */
static bool send_answered_at_once(struct daemon *d, const struct proto_request *req)
{
	struct channel *ch = daemon_channel(d, req->channel);
	if (!d->cfg->daemon.allow_send || !ch || channel_is_raw(ch) || req->port < 0)
		return true;
	struct channel_snapshot snap;
	channel_snapshot(ch, &snap);
	if (snap.have_hello && snap.hello.max_payload && req->len > snap.hello.max_payload)
		return true;
	return (snap.state != CHANNEL_UP && snap.state != CHANNEL_OPENING) ||
	       snap.send_queue >= channel_config(ch)->send_queue;
}

/* A send to the firmware is answered when the firmware acknowledges it. Only further
 * sends that are queued too may go ahead of its answer (they are answered in order, see
 * send_done_flush); any other request waits, and so does a send that would be answered
 * at once (busy, no_channel, ...), so every client sees its replies in request order. A
 * client's own sends beyond the queue's room thus wait for room rather than get busy. */
static bool must_wait(struct daemon *d, const struct conn *c, int parsed,
		      const struct proto_request *req)
{
	if (c->held == 0)
		return false;
	return parsed < 0 || req->cmd != PROTO_CMD_SEND || has_handler(d, req->cmd_name) ||
	       send_answered_at_once(d, req);
}

/* A line that is not a valid request; a flood of them closes the connection. */
static void reply_bad_line(struct conn *c, const struct proto_request *req,
			   const struct proto_error *e)
{
	/* The channel the request named, when the parser got that far: the client may have
	 * requests for several channels in flight. */
	const char *channel = req->channel && req->channel[0] ? req->channel : NULL;
	if (++c->bad_lines >= PROTO_FLOOD_LINES) {
		reply_error(c, req->id, PROTO_E_FLOOD, channel, "%u bad lines in a row: closing",
			    PROTO_FLOOD_LINES);
		conn_end(c, "flood of bad lines");
	} else {
		reply_error(c, req->id, e->code, channel, "%s", e->message);
	}
}

/* A request some module registered a handler for: checked, then handed over. */
static bool run_handler(struct daemon *d, struct conn *c, const struct proto_request *req)
{
	for (unsigned i = 0; i < d->nhandlers; i++) {
		if (strcmp(d->handlers[i].name, req->cmd_name) != 0)
			continue;
		bool control = req->cmd == PROTO_CMD_RECOVER || req->cmd == PROTO_CMD_RELOAD;
		if (control && !d->cfg->daemon.allow_control)
			reply_error(c, req->id, PROTO_E_FORBIDDEN, req->channel,
				    "%s is disabled (allow_control = false)", req->cmd_name);
		else if ((control || req->channel[0]) && !daemon_channel(d, req->channel))
			reply_no_channel(c, req);
		else
			d->handlers[i].fn(d->handlers[i].ud, d, c, req);
		return true;
	}
	return false;
}

bool request_on_line(void *ud, struct conn *c, const char *line, size_t len)
{
	struct daemon *d = ud;
	struct proto_request req;
	struct proto_error e;
	int parsed = proto_parse_request(line, len, &req, &e);
	if (must_wait(d, c, parsed, &req)) {
		proto_request_clear(&req);
		return false;
	}
	/* -l debug: what each client asks, rate-limited (a client may pipeline many). */
	if (d->log.max_level >= LOG_DEBUG &&
	    ratelimit_ok(&d->rl_request, daemon_now_ms(), 50, 1000)) {
		struct log_fields f = {.client = c->id};
		log_struct(&d->log, LOG_DEBUG, &f, "client %llu (pid %d): %.*s%s",
			   (unsigned long long)c->id, c->pid, len > 200 ? 200 : (int)len, line,
			   len > 200 ? "..." : "");
	}
	if (parsed < 0) {
		reply_bad_line(c, &req, &e);
		proto_request_clear(&req);
		return true;
	}
	/* An unknown cmd is a bad line like the others: a stream of them is a flood too. */
	if (req.cmd == PROTO_CMD_OTHER && !has_handler(d, req.cmd_name)) {
		e.code = PROTO_E_UNKNOWN_CMD;
		snprintf(e.message, sizeof(e.message), "unknown cmd \"%.32s\"", req.cmd_name);
		reply_bad_line(c, &req, &e);
		proto_request_clear(&req);
		return true;
	}
	c->bad_lines = 0;
	/* Registered handlers first: they may replace the built-in answers below. */
	if (run_handler(d, c, &req)) {
		proto_request_clear(&req);
		return true;
	}
	switch (req.cmd) {
	case PROTO_CMD_WATCH:
		do_watch(d, c, &req);
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
		int n = proto_render_pong(buf, sizeof(buf), req.id);
		if (n > 0)
			conn_reply(c, buf, (size_t)n);
		break;
	}
	case PROTO_CMD_RECOVER:
	case PROTO_CMD_RELOAD:
	case PROTO_CMD_INCIDENTS:
		if (req.channel[0] && !daemon_channel(d, req.channel))
			reply_no_channel(c, &req);
		else
			reply_error(c, req.id, PROTO_E_UNSUPPORTED, req.channel,
				    "%s is not available in this daemon", req.cmd_name);
		break;
	case PROTO_CMD_OTHER:
		break; /* answered above */
	}
	proto_request_clear(&req);
	return true;
}

/* The reply to a finished send request, into buf; its length or a negative errno. */
static int render_send_done(char *buf, size_t cap, struct channel *ch, const char *id, uint32_t seq,
			    enum sendq_result r, uint8_t status)
{
	static const char *const st_names[] = {"ok", "bad_port", "no_credit", "bad_payload",
					       "unsupported"};
	const char *stn = status < 5 ? st_names[status] : "unknown";
	char msg[256];
	enum proto_err code = PROTO_E_TIMEOUT;
	switch (r) {
	case SENDQ_OK:
		return proto_render_ack(buf, cap, id, "send", channel_name(ch), true, seq);
	case SENDQ_REJECTED:
		code = PROTO_E_SEND_FAILED;
		snprintf(msg, sizeof(msg), "the firmware rejected the send: %s", stn);
		break;
	case SENDQ_ACK_LOST:
		snprintf(msg, sizeof(msg), "the firmware's acknowledgement was lost");
		break;
	case SENDQ_TIMEOUT:
		snprintf(msg, sizeof(msg), "no acknowledgement within %u ms",
			 channel_config(ch)->send_timeout_ms);
		break;
	case SENDQ_DOWN:
		code = PROTO_E_CHANNEL_DOWN;
		snprintf(msg, sizeof(msg), "channel %s went down before the firmware acknowledged",
			 channel_name(ch));
		break;
	case SENDQ_RESTARTED:
	default:
		code = PROTO_E_SEND_FAILED;
		snprintf(msg, sizeof(msg), "the firmware restarted before acknowledging");
		break;
	}
	return proto_render_error(buf, cap, id, code, msg, channel_name(ch));
}

/* Sends the client's answered sends, oldest first, up to the first unanswered one:
 * the channel may finish a later send first (its deadline came sooner). */
static void send_done_flush(struct daemon *d, uint64_t client)
{
	struct conn *c = daemon_client(d, client);
	for (;;) {
		struct pending_send *oldest = NULL;
		for (struct pending_send *q = d->pending; q; q = q->next)
			if (q->client == client)
				oldest = q;
		if (!oldest || !oldest->done)
			return;
		pending_unlink(d, oldest);
		if (c) {
			if (oldest->reply_len > 0)
				conn_reply(c, oldest->reply, (size_t)oldest->reply_len);
			conn_release(c);
		}
		free(oldest);
	}
}

void request_on_send_done(void *ud, struct channel *ch, const struct sendq_entry *e,
			  enum sendq_result r, uint8_t status)
{
	struct daemon *d = ud;
	if (e->cookie & DAEMON_COOKIE_INTERNAL) {
		if (d->send_hook)
			d->send_hook(d->send_hook_ud, ch, e, r);
		return;
	}
	struct pending_send *p = (struct pending_send *)(uintptr_t)e->cookie;
	p->done = true;
	p->reply_len = render_send_done(p->reply, sizeof(p->reply), ch, p->id, e->seq, r, status);
	send_done_flush(d, p->client);
}

void daemon_set_send_hook(struct daemon *d, daemon_send_done_fn fn, void *ud)
{
	d->send_hook = fn;
	d->send_hook_ud = ud;
}

void request_drop_pending(struct daemon *d)
{
	while (d->pending) {
		struct pending_send *p = d->pending;
		pending_unlink(d, p);
		free(p);
	}
}
