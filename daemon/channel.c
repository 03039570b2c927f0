/* One RPMSG channel: tty ownership, frame decoding, send pacing, reopen and inotify. */
#include "channel_int.h"

#include "looplock.h"
#include "tty.h"
#include "macro.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <event2/event.h>

static const char *const channel_state_names[] = {
	[CHANNEL_DOWN] = "down",
	[CHANNEL_OPENING] = "opening",
	[CHANNEL_UP] = "up",
	[CHANNEL_RECOVERING] = "recovering",
	[CHANNEL_RELOADING] = "reloading",
	[CHANNEL_FAILED] = "failed",
	[CHANNEL_ROLLED_BACK] = "rolled_back",
};
DEFINE_STRING_TABLE_LOOKUP(channel_state, enum channel_state, channel_state_names)

bool channel_is_open(const struct channel *ch)
{
	return ch->fd >= 0;
}

uint32_t channel_tx_seq(const struct channel *ch)
{
	return ch->tx_seq;
}

const struct conf_channel *channel_config(const struct channel *ch)
{
	return &ch->cfg;
}

const char *channel_name(const struct channel *ch)
{
	return ch->cfg.name;
}

enum channel_state channel_get_state(const struct channel *ch)
{
	return ch->state;
}

struct txthread *channel_txthread(const struct channel *ch)
{
	return ch->tx;
}

void channel_snapshot(const struct channel *ch, struct channel_snapshot *s)
{
	*s = (struct channel_snapshot){
		.state = ch->state,
		.state_ms = channel_now_ms() - ch->state_since_ms,
		.last_err = ch->last_err,
		.open = ch->fd >= 0,
		.have_hello = ch->have_hello,
		.hello = ch->hello,
		.holder_pid = ch->holder_pid,
		.stats = ch->stats,
		.dec = ch->dec.stats,
		.last_reject = ch->dec.last_reject,
		.books = ch->books,
		.send_queue = sendq_length(ch->sq),
		.raw = ch->cfg.mode == CONF_MODE_RAW,
		.has_credits = ch->sq->credits_known && ch->fd >= 0,
		.credits = ch->sq->credits,
		.fw_counters = ch->fwc,
	};
	snprintf(s->reason, sizeof(s->reason), "%s", ch->reason);
	snprintf(s->detail, sizeof(s->detail), "%s", ch->detail);
	snprintf(s->fw_name, sizeof(s->fw_name), "%s", ch->fw_name);
	snprintf(s->holder_comm, sizeof(s->holder_comm), "%s", ch->holder_comm);
	s->hello.name = s->fw_name;
}

struct log_fields channel_fields(const struct channel *ch, const char *mid)
{
	return (struct log_fields){
		.message_id = mid, .channel = ch->cfg.name, .device = ch->cfg.device};
}

int channel_log_errno(const struct channel *ch, int prio, int r, const char *fmt, ...)
{
	struct log_fields f = channel_fields(ch, NULL);
	va_list ap;

	va_start(ap, fmt);
	log_structv_errno(ch->log, prio, &f, r, fmt, ap);
	va_end(ap);
	return r;
}

static void arm_sendq_timer(struct channel *ch);
static void on_tx(evutil_socket_t fd, short what, void *arg);

void channel_set_state(struct channel *ch, enum channel_state st, const char *reason,
		       const char *detail)
{
	enum channel_state old = ch->state;
	bool same = old == st && strcmp(ch->reason, reason) == 0 &&
		    strcmp(ch->detail, detail ? detail : "") == 0;
	if (same)
		return;
	ch->state = st;
	if (old != st)
		ch->state_since_ms = channel_now_ms();
	if (old == CHANNEL_UP && st != CHANNEL_UP && ch->have_hello)
		latemark_on_outage(&ch->late, ch->state_since_ms, ch->hello.tick_hz);
	snprintf(ch->reason, sizeof(ch->reason), "%s", reason);
	snprintf(ch->detail, sizeof(ch->detail), "%s", detail ? detail : "");
	if (old != st) {
		const char *mid = st == CHANNEL_UP ? LOG_MID_CHANNEL_UP
				  : (old == CHANNEL_UP || old == CHANNEL_OPENING)
					  ? LOG_MID_CHANNEL_DOWN
					  : NULL;
		struct log_fields f = channel_fields(ch, mid);
		log_struct(ch->log, st == CHANNEL_UP ? LOG_NOTICE : LOG_INFO, &f,
			   "%s -> %s (%s%s%s)", channel_state_to_string(old),
			   channel_state_to_string(st), reason, ch->detail[0] ? ": " : "",
			   ch->detail);
	}
	if (st == CHANNEL_UP)
		ch->backoff_ms = ch->cfg.reopen_min_ms;
	if (ch->ops && ch->ops->on_state)
		ch->ops->on_state(ch->ud, ch, old);
}

static void split_path(struct channel *ch)
{
	if (ch->cfg.rpmsg) {
		/* Its node is found at each open; any new ttyRPMSG* may be it. */
		ch->dir = strdup("/dev");
		ch->base_name = strdup("ttyRPMSG");
		return;
	}
	const char *slash = strrchr(ch->cfg.device, '/');
	if (!slash) {
		ch->dir = strdup(".");
		ch->base_name = strdup(ch->cfg.device);
	} else {
		size_t n = (size_t)(slash - ch->cfg.device);
		ch->dir = n ? strndup(ch->cfg.device, n) : strdup("/");
		ch->base_name = strdup(slash + 1);
	}
}

static void on_reopen(evutil_socket_t fd, short what, void *arg);
static void on_sendq_timer(evutil_socket_t fd, short what, void *arg);

struct channel *channel_new(struct event_base *base, const struct conf_channel *cfg, unsigned slot,
			    const struct log *log, const struct channel_ops *ops, void *ud)
{
	struct channel *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return NULL;
	ch->fd = -1;
	ch->ino_fd = -1;
	ch->ino_wd = -1;
	ch->base = base;
	ch->log = log;
	ch->head.slot = slot;
	ch->ops = ops;
	ch->ud = ud;
	channel_rx_set_ops(ch);
	ch->state = CHANNEL_DOWN;
	ch->state_since_ms = channel_now_ms();
	snprintf(ch->reason, sizeof(ch->reason), "startup");
	if (conf_channel_copy(&ch->cfg, cfg) < 0)
		goto fail;
	if (ch->cfg.rpmsg && !ch->cfg.device) {
		/* Named by what it is until the endpoint resolves to a node. */
		size_t n = strlen(ch->cfg.rpmsg) + sizeof("rpmsg:");
		if (!(ch->cfg.device = malloc(n)))
			goto fail;
		snprintf(ch->cfg.device, n, "rpmsg:%s", ch->cfg.rpmsg);
	}
	split_path(ch);
	if (!ch->dir || !ch->base_name)
		goto fail;
	ch->backoff_ms = ch->cfg.reopen_min_ms;
	m7b_decoder_init(&ch->dec);
	ch->sq = sendq_new(ch->cfg.send_queue, ch->cfg.send_timeout_ms);
	ch->ev_reopen = evtimer_new(base, on_reopen, ch);
	ch->ev_sendq = evtimer_new(base, on_sendq_timer, ch);
	if (!ch->sq || !ch->ev_reopen || !ch->ev_sendq)
		goto fail;
	return ch;
fail:
	return channel_free(ch);
}

static void close_fd(struct channel *ch)
{
	ch->rx_closes++; /* even when it opens again before the read is handled */
	if (ch->rx) {
		uint64_t dropped;
		ch->rx = rxthread_stop(ch->rx, &dropped);
		ch->stats.unread_at_close += dropped; /* read, then stopped before its turn */
	}
	if (ch->ev_read) {
		event_free(ch->ev_read);
		ch->ev_read = NULL;
	}
	if (ch->ev_tx) {
		event_free(ch->ev_tx);
		ch->ev_tx = NULL;
	}
	uint64_t unwritten;
	ch->tx = txthread_free(ch->tx, &unwritten); /* they are dropped with the link */
	if (unwritten) {
		/* A wire channel's SENDs among them fail with the send queue; a raw channel's
		 * bytes (sends, the pty) were already answered and counted as sent. */
		if (ch->cfg.mode == CONF_MODE_RAW)
			ch->stats.raw_tx_dropped += unwritten;
		struct log_fields f = channel_fields(ch, NULL);
		log_struct(ch->log, LOG_WARNING, &f,
			   "%llu bytes queued for %s were not written: dropped as the channel "
			   "closed",
			   (unsigned long long)unwritten, ch->cfg.device);
	}
	if (ch->fd >= 0) {
		/* The writer's dup may outlive this close for a moment, keeping the tty
		 * exclusive: without CAP_SYS_ADMIN (the daemon runs unprivileged) our own
		 * reopen would then fail with EBUSY. */
		(void)ioctl(ch->fd, TIOCNXCL);
		close(ch->fd); /* drops the flock too (the writer's dup closes on its own) */
		ch->fd = -1;
	}
}

/* Hands finished send requests to the owner and re-arms the deadline timer. */
void channel_sendq_drain(struct channel *ch)
{
	struct sendq_entry e;
	enum sendq_result res;
	uint8_t status;
	uint64_t now = channel_now_ms();
	while (sendq_pop_done(ch->sq, now, &e, &res, &status)) {
		if (res == SENDQ_OK)
			ch->stats.sends++;
		else
			ch->stats.send_errors++;
		if (ch->ops && ch->ops->on_send_done)
			ch->ops->on_send_done(ch->ud, ch, &e, res, status);
	}
	arm_sendq_timer(ch);
}

struct channel *channel_free(struct channel *ch)
{
	if (!ch)
		return NULL;
	close_fd(ch);
	if (ch->sq) {
		sendq_fail_all(ch->sq);
		/* No callbacks while tearing down: the owner is going away too. */
		struct sendq_entry e;
		enum sendq_result res;
		uint8_t st;
		while (sendq_pop_done(ch->sq, UINT64_MAX, &e, &res, &st))
			;
		ch->sq = sendq_free(ch->sq);
	}
	if (ch->ev_inotify)
		event_free(ch->ev_inotify);
	if (ch->ino_fd >= 0)
		close(ch->ino_fd);
	if (ch->ev_reopen)
		event_free(ch->ev_reopen);
	if (ch->ev_sendq)
		event_free(ch->ev_sendq);
	free(ch->dir);
	free(ch->base_name);
	free(ch->sysfs_root);
	conf_channel_clear(&ch->cfg);
	free(ch);
	return NULL;
}

int channel_set_sysfs_root(struct channel *ch, const char *root)
{
	char *s = strdup(root);
	if (!s)
		return -ENOMEM;
	free(ch->sysfs_root);
	ch->sysfs_root = s;
	return 0;
}

int channel_update_config(struct channel *ch, const struct conf_channel *cfg)
{
	struct conf_channel n;
	if (conf_channel_copy(&n, cfg) < 0)
		return -ENOMEM;
	if (n.rpmsg && !n.device) {
		/* The same endpoint (or it would have been reopened): keep its node. */
		n.device = ch->cfg.device;
		ch->cfg.device = NULL;
	}
	conf_channel_clear(&ch->cfg);
	ch->cfg = n;
	ch->sq->timeout_ms = ch->cfg.send_timeout_ms;
	/* The queue size applies from the next restart of the channel object. */
	if (ch->backoff_ms > ch->cfg.reopen_max_ms || ch->backoff_ms < ch->cfg.reopen_min_ms)
		ch->backoff_ms = ch->cfg.reopen_min_ms;
	return 0;
}

/* ---- inotify on the device's directory ---- */

static void on_inotify(evutil_socket_t fd, short what, void *arg);

static void watch_dir(struct channel *ch)
{
	if (ch->ino_fd < 0) {
		ch->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (ch->ino_fd < 0) {
			channel_log_errno(ch, LOG_WARNING, -errno,
					  "inotify unavailable (%m): polling %s every %u ms",
					  ch->cfg.device, ch->cfg.reopen_max_ms);
			return;
		}
		ch->ev_inotify =
			event_new(ch->base, ch->ino_fd, EV_READ | EV_PERSIST, on_inotify, ch);
		if (!ch->ev_inotify || event_add(ch->ev_inotify, NULL) < 0) {
			if (ch->ev_inotify)
				event_free(ch->ev_inotify);
			ch->ev_inotify = NULL;
			close(ch->ino_fd);
			ch->ino_fd = -1;
			return;
		}
	}
	if (ch->ino_wd >= 0)
		return;
	ch->ino_wd = inotify_add_watch(ch->ino_fd, ch->dir,
				       IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_DELETE |
					       IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF);
	if (ch->ino_wd < 0 && ratelimit_ok(&ch->rl_open, channel_now_ms(), 1, 60000)) {
		channel_log_errno(ch, LOG_INFO, -errno, "cannot watch %s (%m): polling for %s",
				  ch->dir, ch->base_name);
	}
}

/* ---- opening ---- */

static void note_holder(struct channel *ch, int err)
{
	ch->holder_pid = 0;
	ch->holder_comm[0] = '\0';
	char detail[160];
	if (tty_find_holder("/proc", ch->cfg.device, &ch->holder_pid, ch->holder_comm,
			    sizeof(ch->holder_comm)) == 0) {
		snprintf(detail, sizeof(detail), "held by pid %d (%s)", ch->holder_pid,
			 ch->holder_comm);
	} else {
		snprintf(detail, sizeof(detail), "held by another process (not visible in /proc)");
	}
	if (strcmp(ch->detail, detail) != 0 || ch->state != CHANNEL_DOWN) {
		struct log_fields f = channel_fields(ch, LOG_MID_CHANNEL_BUSY);
		f.err = -err;
		log_struct(ch->log, LOG_WARNING, &f, "cannot own %s: %s", ch->cfg.device, detail);
	}
	channel_set_state(ch, channel_lost_state(ch), "busy", detail);
}

static void schedule_reopen(struct channel *ch)
{
	if (ch->hold || !ch->cfg.enabled || ch->fd >= 0)
		return;
	struct timeval tv = {ch->backoff_ms / 1000, (ch->backoff_ms % 1000) * 1000};
	evtimer_add(ch->ev_reopen, &tv);
	unsigned next = ch->backoff_ms * 2;
	ch->backoff_ms = next > ch->cfg.reopen_max_ms ? ch->cfg.reopen_max_ms : next;
}

int channel_queue_tx(struct channel *ch, const uint8_t *buf, size_t n)
{
	if (!ch->tx)
		return -ENOTCONN;
	int r = txthread_queue(ch->tx, buf, n);
	if (r < 0 && r != -ENOBUFS)
		return -ENOTCONN; /* the writer failed: on_tx closes the channel */
	return r;
}

int channel_write_frame(struct channel *ch, uint8_t type, uint8_t port, uint8_t flags,
			const void *payload, size_t len, uint32_t *seq_out)
{
	if (ch->cfg.mode == CONF_MODE_RAW)
		return -EOPNOTSUPP; /* the firmware does not speak wire v1 */
	if (ch->fd < 0)
		return -ENOTCONN;
	if (len > M7B_PAYLOAD_MAX)
		return -EMSGSIZE;
	uint8_t buf[M7B_FRAME_MAX];
	struct m7b_frame h = {.ver = M7B_WIRE_VERSION,
			      .type = type,
			      .port = port,
			      .flags = flags,
			      .seq = ch->tx_seq,
			      .len = (uint16_t)len};
	struct m7b_part part = {payload, len};
	int n = m7b_wire_encode(buf, sizeof(buf), &h, &part, len ? 1 : 0);
	if (n < 0)
		return n == -M7B_EMSGSIZE ? -EMSGSIZE : -ENOBUFS;
	int r = channel_queue_tx(ch, buf, (size_t)n);
	if (r < 0)
		return r;
	if (seq_out)
		*seq_out = ch->tx_seq;
	ch->tx_seq++;
	return 0;
}

static int say_hello(struct channel *ch)
{
	/* "A sender emits one extra 0x00 before its first frame after it (re)opens the
	 * link": cuts off whatever half frame the M7 holds. */
	static const uint8_t zero = 0;
	int r = channel_queue_tx(ch, &zero, 1);
	if (r < 0)
		return r;
	ch->tx_seq = 0;
	return channel_write_frame(ch, M7B_T_HOST_HELLO, 0, 0, NULL, 0, NULL);
}

int channel_open_now(struct channel *ch)
{
	if (ch->fd >= 0)
		return 0;
	evtimer_del(ch->ev_reopen);
	if (ch->ino_wd < 0)
		watch_dir(ch);
	int r = ch->cfg.rpmsg ? channel_resolve_rpmsg(ch) : 0;
	if (r < 0) {
		ch->last_err = r;
		schedule_reopen(ch);
		return r;
	}
	/* A reader thread needs a descriptor of its own, and the loop lock to hand over. */
	int rd = -1;
	r = tty_open_exclusive(ch->cfg.device, &ch->fd, looplock_active() ? &rd : NULL, &ch->rdev);
	struct log_fields f = channel_fields(ch, NULL);
	f.err = r < 0 ? -r : 0;
	log_struct(ch->log, LOG_DEBUG, &f, "open %s: %s", ch->cfg.device,
		   r < 0 ? strerror(-r) : "ok");
	if (r < 0) {
		ch->last_err = r;
		if (r == -EBUSY) {
			note_holder(ch, r);
			channel_note_waiting(ch, r, "busy");
		} else {
			char detail[160];
			snprintf(detail, sizeof(detail), "%s: %s", ch->cfg.device, strerror(-r));
			channel_note_waiting(ch, r, r == -ENOENT ? "not found" : strerror(-r));
			if (strcmp(tty_reason_for_errno(r), "not_found") == 0)
				channel_set_not_found(ch, detail);
			else
				/* A ladder's step that opens keeps its state: the step
				 * fails with the errno, the ladder goes on. */
				channel_set_state(ch, channel_lost_state(ch),
						  tty_reason_for_errno(r), detail);
		}
		schedule_reopen(ch);
		return r;
	}
	channel_note_opened(ch);
	ch->note_reason[0] = '\0'; /* the M7 runs: whatever kept it was resolved */
	ch->last_err = 0;
	ch->holder_pid = 0;
	ch->holder_comm[0] = '\0';
	m7b_decoder_reset(&ch->dec);
	ch->have_rx_seq = false;
	ch->rx_since_open = false;
	/* The reader thread, else the loop's read event (no lock to hand over, no /proc). */
	if (rd >= 0 && !(ch->rx = rxthread_new(rd, &channel_rx_thread_ops, ch)))
		rd = -errno;
	/* The daemon said at start that threads read the ttys: say where this one is not. */
	if (!ch->rx && looplock_active()) {
		f.err = -rd;
		log_struct(ch->log, LOG_DEBUG, &f,
			   "%s is read by the event loop: no reader thread (%s)", ch->cfg.device,
			   strerror(-rd));
	}
	if (!ch->rx)
		ch->ev_read =
			event_new(ch->base, ch->fd, EV_READ | EV_PERSIST, channel_rx_on_read, ch);
	ch->tx = txthread_new(ch->fd);
	ch->tx_stalls_seen = ch->tx_stall_ms_seen = 0;
	if (ch->tx)
		ch->ev_tx =
			event_new(ch->base, txthread_fd(ch->tx), EV_READ | EV_PERSIST, on_tx, ch);
	if ((!ch->rx && (!ch->ev_read || event_add(ch->ev_read, NULL) < 0)) || !ch->ev_tx ||
	    event_add(ch->ev_tx, NULL) < 0) {
		close_fd(ch);
		channel_set_state(ch, channel_lost_state(ch), "open_failed", "out of memory");
		schedule_reopen(ch);
		return -ENOMEM;
	}
	if (ch->ever_opened)
		ch->stats.reopens++;
	ch->ever_opened = true;
	ch->stats.opens++;

	/* Someone who opened the tty before us would read part of the data. */
	int pid;
	char comm[32];
	if (tty_find_holder("/proc", ch->cfg.device, &pid, comm, sizeof(comm)) == 0) {
		f = channel_fields(ch, LOG_MID_CHANNEL_BUSY);
		log_struct(ch->log, LOG_WARNING, &f,
			   "%s is also open in pid %d (%s): it will take part of the data",
			   ch->cfg.device, pid, comm);
	}
	if (ch->state == CHANNEL_DOWN || ch->state == CHANNEL_FAILED ||
	    ch->state == CHANNEL_OPENING)
		channel_set_state(ch, CHANNEL_OPENING, "opened", "");
	if (ch->cfg.mode == CONF_MODE_RAW) {
		/* No handshake to wait for: an open tty is all raw mode can know. */
		channel_set_state(ch, CHANNEL_UP, "opened", "");
	} else if (ch->cfg.host_hello) {
		r = say_hello(ch);
		if (r < 0 && ch->fd >= 0)
			channel_log_errno(ch, LOG_WARNING, r, "cannot send HOST_HELLO: %m");
	}
	return ch->fd >= 0 ? 0 : -EIO;
}

void channel_close(struct channel *ch, enum channel_state st, const char *reason, int err)
{
	close_fd(ch);
	ch->last_err = err;
	sendq_fail_all(ch->sq);
	channel_sendq_drain(ch);
	m7b_decoder_reset(&ch->dec);
	ch->have_rx_seq = false;
	channel_set_state(ch, st, reason, err ? strerror(-err) : "");
	schedule_reopen(ch);
}

enum channel_state channel_lost_state(const struct channel *ch)
{
	/* Clients are told `recovering` or `reloading` for as long as the ladder runs; the
	 * tty going away is part of that (the reason says so), not the end of it. */
	return ch->state == CHANNEL_FAILED || ch->state == CHANNEL_RECOVERING ||
			       ch->state == CHANNEL_RELOADING
		       ? ch->state
		       : CHANNEL_DOWN;
}

/* The tty failed (err: a negative errno): close it and try again later. */
void channel_io_failed(struct channel *ch, int err)
{
	const char *reason = err == -EIO || err == -ENXIO || err == -ENODEV ? "hangup" : "io_error";
	channel_log_errno(ch, LOG_WARNING, err, "%s: %m", ch->cfg.device);
	channel_close(ch, channel_lost_state(ch), reason, err);
}

void channel_hold(struct channel *ch, bool hold)
{
	ch->hold = hold;
	if (hold)
		evtimer_del(ch->ev_reopen);
	else if (ch->fd < 0)
		schedule_reopen(ch);
}

int channel_resync(struct channel *ch)
{
	if (ch->cfg.mode == CONF_MODE_RAW)
		return -EOPNOTSUPP;
	if (ch->fd < 0)
		return -ENOTCONN;
	/* The decoder keeps a frame half read: the tty stays open, the M7 writes whole
	 * frames, so the rest of it follows; bytes that were no frame end at the next
	 * 0x00 and are counted as a rejected candidate then. */
	ch->have_rx_seq = false;
	return say_hello(ch);
}

void channel_count_recovery(struct channel *ch)
{
	ch->stats.recoveries++;
}

void channel_count_untimed(struct channel *ch)
{
	ch->stats.untimed_frames++;
}

void channel_start(struct channel *ch)
{
	if (!ch->cfg.enabled) {
		channel_set_state(ch, CHANNEL_DOWN, "config", "disabled in the configuration");
		return;
	}
	watch_dir(ch);
	(void)channel_open_now(ch);
}

/* ---- sending ---- */

void channel_sendq_pump(struct channel *ch)
{
	struct sendq_entry *e;
	uint64_t now = channel_now_ms();
	while (ch->fd >= 0 && (e = sendq_next(ch->sq))) {
		uint32_t seq;
		int r = channel_write_frame(ch, M7B_T_SEND, e->port, 0, e->data, e->len, &seq);
		if (r == -ENOBUFS)
			break; /* the tty is slow; on_tx pumps again */
		if (r < 0)
			break; /* the channel closed and failed the queue */
		sendq_sent(ch->sq, e, seq, now);
	}
	arm_sendq_timer(ch);
}

int channel_send(struct channel *ch, const struct sendq_entry *e)
{
	if (ch->fd < 0 || (ch->state != CHANNEL_UP && ch->state != CHANNEL_OPENING))
		return -ENOTCONN;
	int r = sendq_push(ch->sq, e, channel_now_ms());
	if (r < 0)
		return r;
	channel_sendq_pump(ch);
	return 0;
}

static void arm_sendq_timer(struct channel *ch)
{
	uint64_t d = sendq_next_deadline(ch->sq);
	if (d == UINT64_MAX) {
		evtimer_del(ch->ev_sendq);
		return;
	}
	uint64_t now = channel_now_ms();
	uint64_t wait = d > now ? d - now : 0;
	struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
	evtimer_add(ch->ev_sendq, &tv);
}

static void on_sendq_timer(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;
	channel_sendq_drain(ch);
	channel_sendq_pump(ch);
	if (ch->ops && ch->ops->on_batch_end)
		ch->ops->on_batch_end(ch->ud, ch);
}

static void on_tx(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;
	struct txthread_report r;
	txthread_collect(ch->tx, &r);
	if (r.stalls != ch->tx_stalls_seen) {
		if (ratelimit_ok(&ch->rl_stall, channel_now_ms(), 3, 60000)) {
			struct log_fields f = channel_fields(ch, NULL);
			log_struct(
				ch->log, LOG_WARNING, &f,
				"writing %s blocked for up to %llu ms (%llu slow writes): the M7 "
				"is not taking messages",
				ch->cfg.device, (unsigned long long)r.longest_ms,
				(unsigned long long)r.stalls);
		}
		ch->stats.write_stalls += r.stalls - ch->tx_stalls_seen;
		ch->stats.write_stall_ms += r.stall_ms - ch->tx_stall_ms_seen;
		ch->tx_stalls_seen = r.stalls;
		ch->tx_stall_ms_seen = r.stall_ms;
	}
	if (r.err)
		channel_io_failed(ch, -r.err);
	else
		channel_sendq_pump(ch);
	if (ch->ops && ch->ops->on_batch_end)
		ch->ops->on_batch_end(ch->ud, ch);
}

static void on_reopen(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;
	if (ch->fd >= 0 || ch->hold)
		return;
	(void)channel_open_now(ch);
	if (ch->ops && ch->ops->on_batch_end)
		ch->ops->on_batch_end(ch->ud, ch);
}

/* The node under our name changed: open it, or notice that ours was replaced. */
static void node_event(struct channel *ch, uint32_t mask)
{
	if (ch->fd < 0) {
		if ((mask & (IN_CREATE | IN_MOVED_TO | IN_ATTRIB)) && !ch->hold && ch->cfg.enabled)
			(void)channel_open_now(ch);
		return;
	}
	struct stat st;
	bool gone = stat(ch->cfg.device, &st) < 0;
	bool replaced = !gone && st.st_rdev != ch->rdev;
	if (!gone && !replaced)
		return;
	/* Take what the old node still holds before letting it go: first what its reader
	 * thread read and waits to hand over (the loop's wake-up goes first), then the rest.
	 * A frame's handling may close the tty, and may open it again (a recovery's reopen,
	 * which opens the new node): either way the old one is gone already. */
	uint32_t closes = ch->rx_closes;
	channel_rx_take_reader(ch);
	if (ch->fd >= 0 && ch->rx_closes == closes)
		(void)channel_rx_burst(ch, 16);
	if (ch->fd < 0 || ch->rx_closes != closes)
		return;
	channel_close(ch, channel_lost_state(ch), gone ? "device_removed" : "device_replaced", 0);
	if (replaced && !ch->hold)
		(void)channel_open_now(ch);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(ch->ino_fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			/* The kernel pads each name so every record stays aligned. */
			struct inotify_event *ev = (struct inotify_event *)(void *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
				/* The directory itself went away: fall back to polling until it
				 * can be watched again. */
				if (ev->wd == ch->ino_wd) {
					if (!(ev->mask & IN_IGNORED))
						inotify_rm_watch(ch->ino_fd, ch->ino_wd);
					ch->ino_wd = -1;
				}
				continue;
			}
			if (ev->wd != ch->ino_wd || ev->len == 0 ||
			    (ch->cfg.rpmsg ? strncmp(ev->name, ch->base_name, strlen(ch->base_name))
					   : strcmp(ev->name, ch->base_name)) != 0)
				continue;
			node_event(ch, ev->mask);
		}
	}
	if (ch->ops && ch->ops->on_batch_end)
		ch->ops->on_batch_end(ch->ud, ch);
}
