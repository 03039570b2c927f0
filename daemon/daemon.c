/* The daemon context: event base, channels in slots, server and clients, signals,
 * reload. Requests are in request.c, fan-out of frames in publish.c. */
#include "daemon_int.h"

#include <errno.h>
#include <poll.h>
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
#include "looplock.h"
#include "slots.h"
#include "supervisor.h"

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
	if (d->nhandlers >= DAEMON_MAX_HANDLERS || strlen(cmd) >= sizeof(d->handlers[0].name))
		return -ENOSPC;
	struct handler *h = &d->handlers[d->nhandlers++];
	snprintf(h->name, sizeof(h->name), "%s", cmd);
	h->fn = fn;
	h->ud = ud;
	return 0;
}

/* The per-frame and per-read hooks, gathered so that their loops skip nothing. */
static void gather_observers(struct daemon *d)
{
	d->nmsg_obs = d->ndata_obs = d->ndecoded_obs = 0;
	for (unsigned i = 0; i < d->nobservers; i++) {
		const struct daemon_observer *o = &d->observers[i];
		struct daemon_msg_obs mo = {
			.fn = o->on_msg,
			.ud = o->ud,
			.types = o->msg_types ? o->msg_types : UINT32_MAX,
		};
		if (o->on_msg)
			d->msg_obs[d->nmsg_obs++] = mo;
		if (o->on_data)
			d->data_obs[d->ndata_obs++] =
				(struct daemon_msg_obs){.fn = o->on_data, .ud = o->ud};
		else if (o->on_msg && (mo.types & DAEMON_MSG_TYPE(M7B_T_DATA)))
			d->data_obs[d->ndata_obs++] = mo;
		if (o->on_decoded) {
			d->decoded_obs[d->ndecoded_obs].fn = o->on_decoded;
			d->decoded_obs[d->ndecoded_obs++].ud = o->ud;
		}
	}
	/* The observers changed: a new one must see each channel's next read. */
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		if (d->channels[i])
			channel_decoded_restart(d->channels[i]);
}

int daemon_add_observer(struct daemon *d, const struct daemon_observer *o)
{
	if (d->nobservers >= DAEMON_MAX_OBSERVERS)
		return -ENOSPC;
	d->observers[d->nobservers++] = *o;
	gather_observers(d);
	return 0;
}

void daemon_remove_observer(struct daemon *d, void *ud)
{
	unsigned k = 0;
	for (unsigned i = 0; i < d->nobservers; i++)
		if (d->observers[i].ud != ud)
			d->observers[k++] = d->observers[i];
	d->nobservers = k;
	gather_observers(d);
}

/* The fast maps while no clock is installed: unmapped, no order check, so never written.
 * The DATA path then needs no test for a missing clock. */
static struct clockfast no_clock[CONF_MAX_CHANNELS];

void daemon_set_clock(struct daemon *d, const struct daemon_clock *k)
{
	if (k && k->fast)
		d->clock = *k;
	else
		d->clock = (struct daemon_clock){.fast = no_clock};
}

void daemon_set_fault_info(struct daemon *d, daemon_fault_info_fn fn, void *ud)
{
	d->fault_info_fn = fn;
	d->fault_ud = ud;
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
	conn_flush_dirty(d->clients);
}

void daemon_flush(struct daemon *d)
{
	flush_dirty(d);
}

bool daemon_fanout_room(struct daemon *d, size_t n)
{
	size_t room;
	(void)fanout_tail(d->fanout, &room);
	if (room >= n)
		return true;
	/* Full: every client sends its part now, so the chunk can start over. */
	flush_dirty(d);
	(void)fanout_tail(d->fanout, &room);
	if (room >= n)
		return true;
	/* Clients that lag still hold lines of it: they keep it, new lines go to another.
	 * With too many chunks held, lines are copied into each client's queue instead. */
	if (!fanout_renew(d->fanout))
		return false;
	(void)fanout_tail(d->fanout, &room);
	return room >= n;
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
	int n = proto_render_ack(buf, sizeof(buf), id, cmd, channel, false, 0);
	if (n > 0)
		daemon_reply(d, client_id, buf, (size_t)n);
}

void daemon_reply_error(struct daemon *d, uint64_t client_id, const char *id, enum proto_err code,
			const char *message, const char *channel)
{
	char buf[1024];
	int n = proto_render_error(buf, sizeof(buf), id, code, message, channel);
	if (n > 0)
		daemon_reply(d, client_id, buf, (size_t)n);
}

/* Frees the clients marked closing. Only at a safe point: from its own event, or from
 * the accept path (no client's callback runs in either). */
static void reap(struct daemon *d)
{
	struct conn **pp = &d->clients;
	while (*pp) {
		struct conn *c = *pp;
		if (!c->closing) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		d->nclients--;
		/* Paired with its connect line; one that lost anything is logged always:
		 * objects dropped, or bytes queued that never left (policy disconnect, a
		 * reply queue overflow, a fatal line's replies left unread). */
		if (c->logged || c->dropped || c->unsent) {
			struct log_fields f = {.client = c->id};
			char unsent[48] = "";
			if (c->unsent)
				snprintf(unsent, sizeof(unsent), ", %zu bytes unsent", c->unsent);
			log_struct(&d->log, LOG_INFO, &f,
				   "client %llu (pid %d) disconnected: %s (delivered %llu, dropped "
				   "%llu%s)",
				   (unsigned long long)c->id, c->pid, c->close_reason,
				   (unsigned long long)c->delivered, (unsigned long long)c->dropped,
				   unsent);
		}
		conn_free(c);
		server_resume(d->server); /* a descriptor is free again */
	}
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	reap(arg);
}

static void on_client_closing(void *ud, struct conn *c)
{
	struct daemon *d = ud;
	event_active(d->ev_reap, EV_TIMEOUT, 0);
}

static const struct conn_ops conn_ops = {
	.on_line = request_on_line,
	.on_closing = on_client_closing,
	.on_drain = replay_on_drain,
};

/* Connections the peer's uid holds now. */
static unsigned clients_of_uid(const struct daemon *d, long uid)
{
	unsigned n = 0;

	for (const struct conn *c = d->clients; c; c = c->next)
		if (!c->closing && c->uid == uid)
			n++;
	return n;
}

/* The clients still there, those of uid in *of_uid. One whose peer hung up is not,
 * even if its hangup is still to be read (it came after the newcomer's connect, or the
 * client is half-closed and checked only now and then): closed and freed here when it
 * has nothing left to read, else left to take the requests it sent (then it closes). */
static unsigned live_clients(struct daemon *d, long uid, unsigned *of_uid)
{
	struct pollfd *pf = calloc(d->nclients ? d->nclients : 1, sizeof(*pf));
	unsigned n = 0, live = 0;

	*of_uid = 0;
	for (struct conn *c = d->clients; pf && c; c = c->next)
		if (!c->closing)
			pf[n++] = (struct pollfd){.fd = c->fd};
	/* POLLHUP on a Unix stream socket: both directions shut, the peer closed or died. */
	bool polled = pf && poll(pf, n, 0) >= 0;
	n = 0;
	for (struct conn *c = d->clients; c; c = c->next) {
		if (c->closing)
			continue;
		if (polled && (pf[n++].revents & (POLLHUP | POLLERR | POLLNVAL))) {
			if (!conn_has_input(c))
				conn_close(c, "hung up");
			continue;
		}
		live++;
		*of_uid += c->uid == uid;
	}
	free(pf);
	reap(d);
	return live;
}

/* Whether the new connection c gets a slot: the reserve and the per-uid cap, among the
 * clients that are still there. */
static enum slots_verdict admit(struct daemon *d, const struct conn *c)
{
	const struct conf_daemon *cfg = &d->cfg->daemon;
	struct slots_policy p = {.max = cfg->max_clients,
				 .reserved = cfg->reserved_clients,
				 .per_uid = cfg->max_clients_per_uid};
	bool privileged =
		c->uid >= 0 && supervisor_peer_allowed(&cfg->sup, (uid_t)c->uid, c->gids, c->ngids);
	enum slots_verdict v = slots_admit(&p, d->nclients, clients_of_uid(d, c->uid), privileged);
	unsigned of_uid;

	if (v == SLOTS_OK)
		return v;
	/* Refused by the count: count again without the clients that are gone or going. */
	unsigned live = live_clients(d, c->uid, &of_uid);
	return slots_admit(&p, live, of_uid, privileged);
}

/* Connections logged at most: 10 per 2 s, 5 lines a second with their disconnects. */
#define DAEMON_CLIENT_LOG_BURST 10
#define DAEMON_CLIENT_LOG_MS	2000

static void on_accept(void *ud, int fd)
{
	struct daemon *d = ud;
	struct conn *c =
		conn_new(d->base, fd, ++d->next_client_id,
			 (size_t)d->cfg->daemon.client_queue_kib * 1024, &d->log, &conn_ops, d);
	if (!c) {
		close(fd);
		log_struct(&d->log, LOG_ERR, NULL, "cannot set up a client: out of memory");
		return;
	}
	enum slots_verdict v = admit(d, c);
	if (v != SLOTS_OK) {
		/* VERSION first even here (clients may rely on it), the refusal right behind
		 * it in the same write so a client that has read VERSION finds it queued. */
		char buf[512];
		int n = proto_render_version(buf, sizeof(buf), M7B_VERSION);
		int e = n > 0 ? proto_render_error(buf + n, sizeof(buf) - (size_t)n, "",
						   PROTO_E_BUSY, slots_verdict_to_string(v), NULL)
			      : -1;
		if (n > 0 && e > 0)
			(void)!write(fd, buf, (size_t)n + (size_t)e);
		if (ratelimit_ok(&d->rl_refused, daemon_now_ms(), 5, 10000)) {
			char more[64] = "";
			if (d->rl_refused.suppressed)
				snprintf(more, sizeof(more), "; %u refusals not logged before it",
					 d->rl_refused.suppressed);
			d->rl_refused.suppressed = 0;
			log_struct(&d->log, LOG_WARNING, NULL,
				   "refused a client (pid %d, uid %ld): %s; %u clients connected%s",
				   c->pid, c->uid, slots_verdict_to_string(v), d->nclients, more);
		}
		conn_free(c); /* closes fd */
		return;
	}
	c->next = d->clients;
	d->clients = c;
	d->nclients++;
	/* A burst of connections (a script in a loop, a local user flooding) must not flood
	 * the journal, whose own rate limit would then drop the lines that matter. */
	c->logged = ratelimit_ok(&d->rl_clients, daemon_now_ms(), DAEMON_CLIENT_LOG_BURST,
				 DAEMON_CLIENT_LOG_MS);
	if (c->logged) {
		struct log_fields f = {.client = c->id};
		unsigned skipped = d->rl_clients.suppressed;
		char more[64] = "";
		if (skipped)
			snprintf(more, sizeof(more), "; %u connections not logged before it",
				 skipped);
		d->rl_clients.suppressed = 0;
		log_struct(&d->log, LOG_INFO, &f, "client %llu connected (pid %d, uid %ld)%s",
			   (unsigned long long)c->id, c->pid, c->uid, more);
	}
	char buf[256];
	int n = proto_render_version(buf, sizeof(buf), M7B_VERSION);
	if (n > 0)
		conn_reply(c, buf, (size_t)n);
}

/* ---- channel events -> clients ---- */

void daemon_broadcast(struct daemon *d, struct channel *ch, unsigned cls, const char *line,
		      size_t len)
{
	struct fanout *fo = d->fanout;
	size_t room;
	char *shared = NULL;
	for (struct conn *c = d->clients; c; c = c->next) {
		if (!conn_wants(c, channel_slot(ch), cls, -1))
			continue;
		/* Copied once into the current chunk at the first taker, then referenced. */
		if (!shared && daemon_fanout_room(d, len)) {
			shared = fanout_tail(fo, &room);
			memcpy(shared, line, len);
			fanout_commit(fo, len);
			fanout_hold(fo);
		}
		if (shared)
			conn_stream_ref(c, fo, shared, len);
		else
			conn_stream(c, line, len);
	}
	if (shared)
		fanout_release(fo);
}

void daemon_publish_fault(struct daemon *d, struct channel *ch, const char *kind,
			  const char *detail, const char *source, uint64_t count)
{
	char buf[2048];
	int n = proto_render_fault(buf, sizeof(buf), channel_name(ch), kind, detail, source, count);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_FAULT, buf, (size_t)n);
}

static void ch_on_state(void *ud, struct channel *ch, enum channel_state old)
{
	struct daemon *d = ud;
	struct channel_snapshot snap;
	channel_snapshot(ch, &snap);
	const char *ename = NULL;
	if (snap.last_err && snap.state != CHANNEL_UP && snap.state != CHANNEL_OPENING)
		ename = strerrorname_np(-snap.last_err);
	int n = proto_render_state(d->line, sizeof(d->line), channel_name(ch),
				   channel_state_to_string(snap.state), snap.reason, snap.detail,
				   ename);
	if (n > 0)
		daemon_broadcast(d, ch, PROTO_C_STATE, d->line, (size_t)n);
	for (unsigned i = 0; i < d->nobservers; i++)
		if (d->observers[i].on_state)
			d->observers[i].on_state(d->observers[i].ud, ch, old);
}

/* Every decoded-observer, in order; the earliest of their times. */
static __attribute__((noinline)) uint64_t decoded_all(struct daemon *d, struct channel *ch,
						      uint64_t skipped, uint64_t good, uint64_t bad,
						      uint64_t now_ms)
{
	uint64_t until = UINT64_MAX; /* none: only reads with rejects call */
	for (unsigned i = 0; i < d->ndecoded_obs; i++) {
		uint64_t t =
			d->decoded_obs[i].fn(d->decoded_obs[i].ud, ch, skipped, good, bad, now_ms);
		if (t < until)
			until = t;
	}
	return until;
}

/* On a read with rejects, or the first after the time the last call returned. A single
 * observer (the supervisor's, as a rule) by a tail call, the loop apart. */
static uint64_t ch_on_decoded(void *ud, struct channel *ch, uint64_t skipped, uint64_t good,
			      uint64_t bad, uint64_t now_ms)
{
	struct daemon *d = ud;

	if (d->ndecoded_obs == 1)
		return d->decoded_obs[0].fn(d->decoded_obs[0].ud, ch, skipped, good, bad, now_ms);
	return decoded_all(d, ch, skipped, good, bad, now_ms);
}

static void ch_on_batch_end(void *ud, struct channel *ch)
{
	flush_dirty(ud);
}

static const struct channel_ops channel_ops = {
	.on_msg = publish_msg,
	.on_raw = publish_raw,
	.on_state = ch_on_state,
	.on_send_done = request_on_send_done,
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

/* Every client's channel filter, by name, onto the slots as they are now. */
static void resolve_all(struct daemon *d)
{
	for (struct conn *c = d->clients; c; c = c->next)
		request_resolve(d, c);
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
	if (cc->rpmsg && channel_set_sysfs_root(ch, d->cfg->daemon.sup.sysfs_root) < 0) {
		chanjson_clear(&d->names[slot]);
		channel_free(ch);
		return -ENOMEM;
	}
	d->channels[slot] = ch;
	d->rl_m7log[slot] = (struct ratelimit){0};
	/* Clients' filters by name, before the channel's first STATE: the slot may have
	 * been another channel's (a rename), whose watchers must not get this one. */
	resolve_all(d);
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

/* Takes cc for the channel in slot i in place (no reopen needed). */
static int change_channel(struct daemon *d, unsigned i, const struct conf_channel *cc)
{
	struct channel *ch = d->channels[i];
	int r;
	/* The send queue is sized when the channel is made: no in-place resize. */
	if (cc->send_queue != channel_config(ch)->send_queue)
		log_struct(&d->log, LOG_NOTICE, &(struct log_fields){.channel = cc->name},
			   "send_queue %u applies once the channel is made anew (a reload that "
			   "reopens it, or a restart); %u until then",
			   cc->send_queue, channel_config(ch)->send_queue);
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

int daemon_reload(struct daemon *d)
{
	struct conf *n;
	struct conf_error err;
	/* The default file may be missing, but not once it was read: moved away (to be
	 * edited, say), it would make the defaults, which have no channel, remove all. */
	bool optional = d->conf_optional && !(d->cfg->path && d->cfg->path[0]);
	int r = d->read_conf ? d->read_conf(d->read_conf_ud, &n, &err)
			     : conf_read(d->conf_path, optional, &d->ov, &n, &err);
	if (r < 0) {
		char msg[512];
		log_struct(&d->log, LOG_ERR, NULL,
			   "reload failed, keeping the old configuration: %s",
			   conf_error_format(&err, msg, sizeof(msg)));
		return r;
	}
	/* Keys read only at start keep their running values, so that what is in force
	 * (and what the helper serves) is what this configuration says. */
	char kept[256];
	r = conf_keep_start_keys(n, d->cfg, kept, sizeof(kept));
	if (r < 0) {
		conf_free(n);
		log_struct(&d->log, LOG_ERR, NULL,
			   "reload failed, keeping the old configuration: out of memory");
		return r;
	}
	if (r > 0)
		log_struct(&d->log, LOG_WARNING, NULL,
			   "[daemon] %s changed: read only at start, so in force after a restart",
			   kept);
	d->log.max_level = n->daemon.log_level;

	unsigned added = 0, removed = 0, changed = 0;
	const struct conf_channel *reopen[CONF_MAX_CHANNELS] = {0};
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
		if (conf_channel_needs_reopen(channel_config(ch), cc)) {
			remove_channel(d, i, "config");
			reopen[i] = cc;
			continue;
		}
		r = change_channel(d, i, cc);
		if (r < 0)
			log_struct(&d->log, LOG_ERR,
				   &(struct log_fields){.channel = cc->name, .err = -r},
				   "cannot apply the new settings: %s", strerror(-r));
	}
	/* Reopened in the same slot (which keeps every client's channel filter valid), once
	 * every channel that lets a tty go has closed it: two that swap ttys must not find
	 * each other's still held. */
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		if (!reopen[i])
			continue;
		r = attach_channel(d, i, reopen[i]);
		if (r < 0)
			log_struct(&d->log, LOG_ERR,
				   &(struct log_fields){.channel = reopen[i]->name, .err = -r},
				   "cannot apply the new settings: %s", strerror(-r));
		else
			changed++;
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
	for (unsigned k = 0; k < d->nobservers; k++)
		if (d->observers[k].on_reload)
			d->observers[k].on_reload(d->observers[k].ud, n);
	log_struct(&d->log, LOG_NOTICE, NULL,
		   "configuration reloaded: %u channel(s) added, %u removed, %u reopened", added,
		   removed, changed);
	flush_dirty(d);
	return 0;
}

void daemon_set_conf_reader(struct daemon *d, daemon_conf_reader_fn fn, void *ud)
{
	d->read_conf = fn;
	d->read_conf_ud = ud;
}

/* ---- lifecycle ---- */

/* Closes every channel with STATE down, reason shutdown, and sends what is queued: a
 * client is told why its stream ends, whatever a recovery or reload was doing. Best
 * effort: a client that does not read just gets the end of the socket. */
static void announce_shutdown(struct daemon *d)
{
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct channel *ch = d->channels[i];
		if (!ch)
			continue;
		channel_hold(ch, true); /* no reopen: the loop ends */
		channel_close(ch, CHANNEL_DOWN, "shutdown", 0);
	}
	flush_dirty(d);
}

static void on_reload(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	log_struct(&d->log, LOG_INFO, NULL, "SIGHUP: reloading the configuration");
	(void)daemon_reload(d);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	if (sig == SIGHUP) {
		/* Run after the other signals caught with it: a SIGTERM that came along
		 * stops the daemon first, rather than after a reload that may wait for the
		 * helper. SIGHUPs caught together make one reload. */
		event_active(d->ev_reload, EV_TIMEOUT, 0);
		return;
	}
	log_struct(&d->log, LOG_INFO, NULL, "%s: shutting down",
		   sig == SIGTERM ? "SIGTERM" : "SIGINT");
	announce_shutdown(d);
	daemon_stop(d);
}

/* Says which configuration is in force: an edited file that is never read (a wrong
 * prefix, a typo in -c) must not go unnoticed. */
static void log_config_source(struct daemon *d)
{
	if (d->cfg->path && d->cfg->path[0])
		log_struct(&d->log, LOG_INFO, NULL, "configuration read from %s", d->cfg->path);
	else if (d->conf_path)
		log_struct(&d->log, LOG_WARNING, NULL,
			   "%s not found: running on built-in defaults and the command line",
			   d->conf_path);
	else
		log_struct(&d->log, LOG_INFO, NULL, "no configuration file: built-in defaults");
	if (d->cfg->nchannels == 0)
		log_struct(&d->log, LOG_WARNING, NULL,
			   "no channel configured: nothing to bridge (add a [channel NAME] section "
			   "or -C NAME=DEVICE)");
}

int daemon_new(const struct daemon_args *a, struct daemon **out)
{
	int r = -ENOMEM;
	*out = NULL;
	struct daemon *d = calloc(1, sizeof(*d));
	if (!d) {
		conf_free(a->cfg);
		return -ENOMEM;
	}
	d->cfg = a->cfg;
	d->conf_optional = a->conf_optional;
	d->ov = a->ov;
	d->start_ms = daemon_now_ms();
	daemon_set_clock(d, NULL);
	log_init(&d->log, a->log_target, d->cfg->daemon.log_level);
	if (a->conf_path && !(d->conf_path = strdup(a->conf_path)))
		goto fail;
	log_config_source(d);
	/* Writes to a client that went away must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	/* libevent made safe for the channels' reader threads before the base is made; the
	 * loop lock then held by this thread, which runs the loop, from here to the end (or
	 * the ttys read from the loop, when libevent's wait cannot let the lock go). */
	(void)looplock_setup();
	d->base = event_base_new();
	d->fanout = fanout_new(DAEMON_FANOUT_BYTES);
	if (!d->base || !d->fanout)
		goto fail;
	log_struct(&d->log, LOG_DEBUG, NULL, "the ttys are read %s",
		   looplock_hold(d->base) ? "by a thread each" : "by the event loop");
	d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, on_signal, d);
	d->ev_reap = event_new(d->base, -1, 0, on_reap, d);
	d->ev_reload = event_new(d->base, -1, 0, on_reload, d);
	if (!d->ev_term || !d->ev_int || !d->ev_hup || !d->ev_reap || !d->ev_reload ||
	    evsignal_add(d->ev_term, NULL) < 0 || evsignal_add(d->ev_int, NULL) < 0 ||
	    evsignal_add(d->ev_hup, NULL) < 0)
		goto fail;

	r = replay_new(d, &d->replay);
	if (r < 0)
		goto fail;
	r = server_new(d->base, &d->cfg->daemon, &d->log, on_accept, d, &d->server);
	if (r < 0)
		goto fail;
	for (unsigned i = 0; i < d->cfg->nchannels; i++) {
		r = add_channel(d, &d->cfg->channels[i]);
		if (r < 0) {
			log_struct_errno(&d->log, LOG_ERR, NULL, r, "cannot set up channel %s: %m",
					 d->cfg->channels[i].name);
			goto fail;
		}
	}
	*out = d;
	return 0;
fail:
	daemon_free(d);
	return r;
}

int daemon_run(struct daemon *d)
{
	char summary[128];
	log_struct(&d->log, LOG_NOTICE, NULL, "m7bridged %s running: %s", M7B_VERSION,
		   daemon_status_summary(d, summary, sizeof(summary)));
	if (event_base_dispatch(d->base) < 0)
		return log_struct_errno(&d->log, LOG_ERR, NULL, -EIO, "the event loop failed");
	return d->failed;
}

void daemon_stop(struct daemon *d)
{
	event_base_loopbreak(d->base);
}

void daemon_fail(struct daemon *d, int err)
{
	d->failed = err;
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
	request_drop_pending(d);
	d->replay = replay_free(d->replay);
	d->server = server_free(d->server);
	while (d->clients) {
		struct conn *c = d->clients;
		d->clients = c->next;
		conn_free(c);
	}
	d->fanout = fanout_free(d->fanout); /* after the clients that hold it */
	if (d->ev_term)
		event_free(d->ev_term);
	if (d->ev_int)
		event_free(d->ev_int);
	if (d->ev_hup)
		event_free(d->ev_hup);
	if (d->ev_reap)
		event_free(d->ev_reap);
	if (d->ev_reload)
		event_free(d->ev_reload);
	if (d->base)
		event_base_free(d->base);
	looplock_release(); /* the reader threads ended with their channels */
	conf_free(d->cfg);
	free(d->conf_path);
	free(d);
	return NULL;
}
