/* One RPMSG channel: tty ownership, frame decoding, send pacing, reopen and inotify. */
#include "channel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "txthread.h"

#define CHANNEL_RBUF  65536
#define CHANNEL_TXBUF 8192

struct channel {
	struct event_base *base;
	const struct log *log;
	struct conf_channel cfg; /* own copy */
	unsigned slot;		 /* index in the daemon's table, for client masks */
	const struct channel_ops *ops;
	void *ud;

	int fd;
	dev_t rdev; /* of the open tty, to notice a replaced node */
	struct event *ev_read, *ev_tx, *ev_reopen, *ev_sendq, *ev_inotify;
	struct txthread *tx; /* writes the tty (the driver may block in write()) */
	uint64_t tx_stalls_seen, tx_stall_ms_seen; /* the current writer's totals, counted */
	int ino_fd, ino_wd;
	char *dir, *base_name; /* dirname/basename of the device path */

	enum channel_state state;
	char reason[32];
	char detail[160];
	int last_err; /* negative errno of the last failure, 0 if none */
	bool hold;    /* recovery owns reopening */
	unsigned backoff_ms;
	bool ever_opened;
	int holder_pid;
	char holder_comm[32];
	struct ratelimit rl_open, rl_reject, rl_stall;

	struct m7b_decoder dec;
	uint8_t rbuf[CHANNEL_RBUF];
	uint32_t tx_seq; /* next host -> M7 seq */
	bool have_rx_seq;
	uint32_t rx_seq;    /* last M7 -> host seq */
	bool rx_since_open; /* a frame arrived since the tty was opened */

	struct sendq *sq;

	bool have_hello;
	struct m7b_hello hello; /* name points at fw_name */
	char fw_name[128];

	struct channel_stats stats;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *channel_state_to_string(enum channel_state s)
{
	switch (s) {
	case CHANNEL_DOWN:
		return "down";
	case CHANNEL_OPENING:
		return "opening";
	case CHANNEL_UP:
		return "up";
	case CHANNEL_RECOVERING:
		return "recovering";
	case CHANNEL_RELOADING:
		return "reloading";
	case CHANNEL_FAILED:
		return "failed";
	}
	return "unknown";
}

bool channel_is_open(const struct channel *ch)
{
	return ch->fd >= 0;
}

const struct conf_channel *channel_config(const struct channel *ch)
{
	return &ch->cfg;
}

const char *channel_name(const struct channel *ch)
{
	return ch->cfg.name;
}

unsigned channel_slot(const struct channel *ch)
{
	return ch->slot;
}

enum channel_state channel_get_state(const struct channel *ch)
{
	return ch->state;
}

void channel_snapshot(const struct channel *ch, struct channel_snapshot *s)
{
	*s = (struct channel_snapshot){
		.state = ch->state,
		.last_err = ch->last_err,
		.open = ch->fd >= 0,
		.have_hello = ch->have_hello,
		.hello = ch->hello,
		.holder_pid = ch->holder_pid,
		.stats = ch->stats,
		.dec = ch->dec.stats,
		.last_reject = ch->dec.last_reject,
		.send_queue = sendq_length(ch->sq),
		.has_credits = ch->sq->credits_known && ch->fd >= 0,
		.credits = ch->sq->credits,
	};
	snprintf(s->reason, sizeof s->reason, "%s", ch->reason);
	snprintf(s->detail, sizeof s->detail, "%s", ch->detail);
	snprintf(s->fw_name, sizeof s->fw_name, "%s", ch->fw_name);
	snprintf(s->holder_comm, sizeof s->holder_comm, "%s", ch->holder_comm);
	s->hello.name = s->fw_name;
}

static struct log_fields fields(const struct channel *ch, const char *mid)
{
	return (struct log_fields){
		.message_id = mid, .channel = ch->cfg.name, .device = ch->cfg.device};
}

int channel_log_errno(const struct channel *ch, int prio, int r, const char *fmt, ...)
{
	struct log_fields f = fields(ch, NULL);
	va_list ap;

	f.err = r < 0 ? -r : r;
	va_start(ap, fmt);
	errno = f.err; /* for %m */
	log_structv(ch->log, prio, &f, fmt, ap);
	va_end(ap);
	return r;
}

static void arm_sendq_timer(struct channel *ch);
static void on_read(evutil_socket_t fd, short what, void *arg);
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
	snprintf(ch->reason, sizeof ch->reason, "%s", reason);
	snprintf(ch->detail, sizeof ch->detail, "%s", detail ? detail : "");
	if (old != st) {
		const char *mid = st == CHANNEL_UP ? LOG_MID_CHANNEL_UP
				  : (old == CHANNEL_UP || old == CHANNEL_OPENING)
					  ? LOG_MID_CHANNEL_DOWN
					  : NULL;
		struct log_fields f = fields(ch, mid);
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
	struct channel *ch = calloc(1, sizeof *ch);
	if (!ch)
		return NULL;
	ch->fd = -1;
	ch->ino_fd = -1;
	ch->ino_wd = -1;
	ch->base = base;
	ch->log = log;
	ch->slot = slot;
	ch->ops = ops;
	ch->ud = ud;
	ch->state = CHANNEL_DOWN;
	snprintf(ch->reason, sizeof ch->reason, "startup");
	if (conf_channel_copy(&ch->cfg, cfg) < 0)
		goto fail;
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
	if (ch->ev_read) {
		event_free(ch->ev_read);
		ch->ev_read = NULL;
	}
	if (ch->ev_tx) {
		event_free(ch->ev_tx);
		ch->ev_tx = NULL;
	}
	ch->tx = txthread_free(ch->tx); /* unwritten bytes are dropped with the link */
	if (ch->fd >= 0) {
		close(ch->fd); /* drops the flock too (the writer's dup closes on its own) */
		ch->fd = -1;
	}
}

/* Hands finished send requests to the owner and re-arms the deadline timer. */
static void drain_sendq(struct channel *ch)
{
	struct sendq_entry e;
	enum sendq_result res;
	uint8_t status;
	uint64_t now = now_ms();
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
	conf_channel_clear(&ch->cfg);
	free(ch);
	return NULL;
}

int channel_update_config(struct channel *ch, const struct conf_channel *cfg)
{
	struct conf_channel n;
	if (conf_channel_copy(&n, cfg) < 0)
		return -ENOMEM;
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
	if (ch->ino_wd < 0 && ratelimit_ok(&ch->rl_open, now_ms(), 1, 60000)) {
		channel_log_errno(ch, LOG_INFO, -errno, "cannot watch %s (%m): polling for %s",
				  ch->dir, ch->base_name);
	}
}

/* ---- opening ---- */

int channel_find_holder(const char *proc_root, const char *path, int *pid, char *comm,
			size_t comm_cap)
{
	char target[PATH_MAX];
	if (!realpath(path, target))
		return -ENOENT;
	DIR *d = opendir(proc_root);
	if (!d)
		return -ENOENT;
	int self = getpid();
	int found = -ENOENT;
	struct dirent *de;
	while (found < 0 && (de = readdir(d))) {
		char *end;
		long p = strtol(de->d_name, &end, 10);
		if (*end || p <= 0 || p == self)
			continue;
		char fddir[PATH_MAX];
		snprintf(fddir, sizeof fddir, "%s/%ld/fd", proc_root, p);
		DIR *fds = opendir(fddir);
		if (!fds)
			continue;
		struct dirent *fe;
		while ((fe = readdir(fds))) {
			if (fe->d_name[0] == '.')
				continue;
			char link[PATH_MAX + 300], dst[PATH_MAX];
			snprintf(link, sizeof link, "%s/%s", fddir, fe->d_name);
			ssize_t n = readlink(link, dst, sizeof dst - 1);
			if (n <= 0)
				continue;
			dst[n] = '\0';
			if (strcmp(dst, target) == 0) {
				found = 0;
				*pid = (int)p;
				break;
			}
		}
		closedir(fds);
	}
	closedir(d);
	if (found == 0 && comm && comm_cap) {
		comm[0] = '\0';
		char cpath[PATH_MAX];
		snprintf(cpath, sizeof cpath, "%s/%d/comm", proc_root, *pid);
		FILE *f = fopen(cpath, "re");
		if (f) {
			if (fgets(comm, (int)comm_cap, f))
				comm[strcspn(comm, "\n")] = '\0';
			fclose(f);
		}
	}
	return found;
}

static void note_holder(struct channel *ch, int err)
{
	ch->holder_pid = 0;
	ch->holder_comm[0] = '\0';
	char detail[160];
	if (channel_find_holder("/proc", ch->cfg.device, &ch->holder_pid, ch->holder_comm,
				sizeof ch->holder_comm) == 0) {
		snprintf(detail, sizeof detail, "held by pid %d (%s)", ch->holder_pid,
			 ch->holder_comm);
	} else {
		snprintf(detail, sizeof detail, "held by another process (not visible in /proc)");
	}
	if (strcmp(ch->detail, detail) != 0 || ch->state != CHANNEL_DOWN) {
		struct log_fields f = fields(ch, LOG_MID_CHANNEL_BUSY);
		f.err = -err;
		log_struct(ch->log, LOG_WARNING, &f, "cannot own %s: %s", ch->cfg.device, detail);
	}
	channel_set_state(ch, ch->state == CHANNEL_FAILED ? CHANNEL_FAILED : CHANNEL_DOWN, "busy",
			  detail);
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

static int queue_tx(struct channel *ch, const uint8_t *buf, size_t n)
{
	if (!ch->tx)
		return -ENOTCONN;
	int r = txthread_queue(ch->tx, buf, n);
	if (r < 0 && r != -ENOBUFS)
		return -ENOTCONN; /* the writer failed: on_tx closes the channel */
	return r;
}

static void io_failed(struct channel *ch, int err);

int channel_write_frame(struct channel *ch, uint8_t type, uint8_t port, uint8_t flags,
			const void *payload, size_t len, uint32_t *seq_out)
{
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
	int n = m7b_wire_encode(buf, sizeof buf, &h, &part, len ? 1 : 0);
	if (n < 0)
		return n == -M7B_EMSGSIZE ? -EMSGSIZE : -ENOBUFS;
	int r = queue_tx(ch, buf, (size_t)n);
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
	int r = queue_tx(ch, &zero, 1);
	if (r < 0)
		return r;
	ch->tx_seq = 0;
	return channel_write_frame(ch, M7B_T_HOST_HELLO, 0, 0, NULL, 0, NULL);
}

static const char *reason_for_errno(int err)
{
	switch (err) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return "not_found";
	case EACCES:
	case EPERM:
		return "permission";
	case EBUSY:
	case EWOULDBLOCK:
		return "busy";
	default:
		return "open_failed";
	}
}

static int try_open(struct channel *ch)
{
	int fd = open(ch->cfg.device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = 0;
	struct termios t;
	struct stat st;
	/* flock keeps a second m7bridged (even as root) off; TIOCEXCL keeps everyone else
	 * who does not hold CAP_SYS_ADMIN from opening it after us. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		err = errno == EWOULDBLOCK ? EBUSY : errno;
	else if (tcgetattr(fd, &t) < 0)
		err = errno;
	else if (ioctl(fd, TIOCEXCL) < 0)
		err = errno;
	else {
		/* The default termios echoes, rewrites CR/LF and honours XON/XOFF. */
		cfmakeraw(&t);
		t.c_cc[VMIN] = 1;
		t.c_cc[VTIME] = 0;
		if (tcsetattr(fd, TCSANOW, &t) < 0 || fstat(fd, &st) < 0)
			err = errno;
	}
	if (err) {
		close(fd);
		return -err;
	}
	ch->fd = fd;
	ch->rdev = st.st_rdev;
	return 0;
}

int channel_open_now(struct channel *ch)
{
	if (ch->fd >= 0)
		return 0;
	evtimer_del(ch->ev_reopen);
	if (ch->ino_wd < 0)
		watch_dir(ch);
	int r = try_open(ch);
	if (r < 0) {
		ch->last_err = r;
		if (r == -EBUSY) {
			note_holder(ch, r);
		} else {
			char detail[160];
			snprintf(detail, sizeof detail, "%s: %s", ch->cfg.device, strerror(-r));
			if (r != -ENOENT && strcmp(ch->detail, detail) != 0)
				channel_log_errno(ch, LOG_WARNING, r, "cannot open %s", detail);
			channel_set_state(
				ch, ch->state == CHANNEL_FAILED ? CHANNEL_FAILED : CHANNEL_DOWN,
				reason_for_errno(-r), detail);
		}
		schedule_reopen(ch);
		return r;
	}
	ch->last_err = 0;
	ch->holder_pid = 0;
	ch->holder_comm[0] = '\0';
	m7b_decoder_reset(&ch->dec);
	ch->have_rx_seq = false;
	ch->rx_since_open = false;
	ch->ev_read = event_new(ch->base, ch->fd, EV_READ | EV_PERSIST, on_read, ch);
	ch->tx = txthread_new(ch->fd);
	ch->tx_stalls_seen = ch->tx_stall_ms_seen = 0;
	if (ch->tx)
		ch->ev_tx =
			event_new(ch->base, txthread_fd(ch->tx), EV_READ | EV_PERSIST, on_tx, ch);
	if (!ch->ev_read || !ch->ev_tx || event_add(ch->ev_read, NULL) < 0 ||
	    event_add(ch->ev_tx, NULL) < 0) {
		close_fd(ch);
		channel_set_state(ch, CHANNEL_DOWN, "open_failed", "out of memory");
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
	if (channel_find_holder("/proc", ch->cfg.device, &pid, comm, sizeof comm) == 0) {
		struct log_fields f = fields(ch, LOG_MID_CHANNEL_BUSY);
		log_struct(ch->log, LOG_WARNING, &f,
			   "%s is also open in pid %d (%s): it will take part of the data",
			   ch->cfg.device, pid, comm);
	}
	if (ch->state == CHANNEL_DOWN || ch->state == CHANNEL_FAILED ||
	    ch->state == CHANNEL_OPENING)
		channel_set_state(ch, CHANNEL_OPENING, "opened", "");
	if (ch->cfg.host_hello) {
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
	drain_sendq(ch);
	m7b_decoder_reset(&ch->dec);
	ch->have_rx_seq = false;
	channel_set_state(ch, st, reason, err ? strerror(-err) : "");
	schedule_reopen(ch);
}

/* The tty failed (err: a negative errno): close it and try again later. */
static void io_failed(struct channel *ch, int err)
{
	const char *reason = err == -EIO || err == -ENXIO || err == -ENODEV ? "hangup" : "io_error";
	channel_log_errno(ch, LOG_WARNING, err, "%s: %m", ch->cfg.device);
	channel_close(ch, CHANNEL_DOWN, reason, err);
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
	if (ch->fd < 0)
		return -ENOTCONN;
	m7b_decoder_reset(&ch->dec);
	ch->have_rx_seq = false;
	return say_hello(ch);
}

void channel_count_recovery(struct channel *ch)
{
	ch->stats.recoveries++;
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

static void pump_sendq(struct channel *ch)
{
	struct sendq_entry *e;
	uint64_t now = now_ms();
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
	int r = sendq_push(ch->sq, e, now_ms());
	if (r < 0)
		return r;
	pump_sendq(ch);
	return 0;
}

static void arm_sendq_timer(struct channel *ch)
{
	uint64_t d = sendq_next_deadline(ch->sq);
	if (d == UINT64_MAX) {
		evtimer_del(ch->ev_sendq);
		return;
	}
	uint64_t now = now_ms();
	uint64_t wait = d > now ? d - now : 0;
	struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
	evtimer_add(ch->ev_sendq, &tv);
}

static void on_sendq_timer(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;
	drain_sendq(ch);
	pump_sendq(ch);
	if (ch->ops && ch->ops->on_batch_end)
		ch->ops->on_batch_end(ch->ud, ch);
}

static void on_tx(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;
	struct txthread_report r;
	txthread_collect(ch->tx, &r);
	if (r.stalls != ch->tx_stalls_seen) {
		if (ratelimit_ok(&ch->rl_stall, now_ms(), 3, 60000)) {
			struct log_fields f = fields(ch, NULL);
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
		io_failed(ch, -r.err);
	else
		pump_sendq(ch);
	if (ch->ops && ch->ops->on_batch_end)
		ch->ops->on_batch_end(ch->ud, ch);
}

/* ---- receiving ---- */

/* Unpacks the payload of a known type into m->u; false when it is malformed. Unknown
 * types are not malformed: they carry nothing the daemon reads. */
static bool unpack_msg(const struct m7b_frame *f, struct channel_msg *m)
{
	switch (f->type) {
	case M7B_T_HELLO:
		return m7b_wire_unpack_hello(f, &m->u.hello) == 0;
	case M7B_T_ACK:
		return m7b_wire_unpack_ack(f, &m->u.ack) == 0;
	case M7B_T_DATA:
		return m7b_wire_unpack_data(f, &m->u.data) == 0;
	case M7B_T_LOG:
		return m7b_wire_unpack_log(f, &m->u.log) == 0;
	case M7B_T_HEARTBEAT:
		return m7b_wire_unpack_heartbeat(f, &m->u.heartbeat) == 0;
	case M7B_T_SYNC_REPLY:
		return m7b_wire_unpack_sync_reply(f, &m->u.sync_reply) == 0;
	default:
		return true;
	}
}

/* seq: +1 per frame; a HELLO restarts it. A jump forward counts lost frames. */
static uint32_t track_seq(struct channel *ch, const struct m7b_frame *f)
{
	uint32_t gap = 0;
	if (f->type != M7B_T_HELLO && ch->have_rx_seq) {
		gap = f->seq - (ch->rx_seq + 1);
		if (gap >= 0x80000000u)
			gap = 0;
	}
	ch->have_rx_seq = true;
	ch->rx_seq = f->seq;
	ch->stats.seq_gaps += gap;
	return gap;
}

/* Keeps the firmware's identity; the message then carries the stored copy, whose name
 * is NUL-terminated. */
static void take_hello(struct channel *ch, struct channel_msg *m)
{
	const struct m7b_hello *h = &m->u.hello;
	m->new_boot = !ch->have_hello || h->boot_id != ch->hello.boot_id;
	size_t n = h->name_len < sizeof ch->fw_name - 1 ? h->name_len : sizeof ch->fw_name - 1;
	memcpy(ch->fw_name, h->name, n);
	ch->fw_name[n] = '\0';
	ch->hello = *h;
	ch->hello.name = ch->fw_name;
	ch->hello.name_len = n;
	ch->have_hello = true;
	m->u.hello = ch->hello;
	sendq_hello(ch->sq, ch->hello.host_credits);
	drain_sendq(ch);
	pump_sendq(ch);
}

static void handle_frame(struct channel *ch, const struct m7b_frame *f)
{
	struct channel_msg m = {.frame = f, .first_after_open = !ch->rx_since_open};
	ch->rx_since_open = true;
	m.seq_gap = track_seq(ch, f);
	m.bad_payload = !unpack_msg(f, &m);
	if (m.bad_payload)
		ch->stats.bad_payloads++;
	switch (f->type) {
	case M7B_T_HELLO:
		if (!m.bad_payload)
			take_hello(ch, &m);
		break;
	case M7B_T_ACK:
		if (!m.bad_payload && m.u.ack.acked_type == M7B_T_SEND) {
			sendq_ack(ch->sq, &m.u.ack);
			drain_sendq(ch);
			pump_sendq(ch);
		}
		break;
	case M7B_T_DATA:
		ch->stats.data_frames++;
		break;
	case M7B_T_HEARTBEAT:
	case M7B_T_LOG:
	case M7B_T_SYNC_REPLY:
		break;
	default:
		ch->stats.unknown_types++;
		break;
	}
	if (ch->state == CHANNEL_OPENING && ch->fd >= 0)
		channel_set_state(ch, CHANNEL_UP, f->type == M7B_T_HELLO ? "hello" : "traffic", "");
	if (ch->ops && ch->ops->on_msg)
		ch->ops->on_msg(ch->ud, ch, &m);
}

static void process(struct channel *ch, const uint8_t *buf, size_t n)
{
	const uint8_t *p = buf, *end = buf + n;
	struct m7b_frame f;
	uint64_t rejected = ch->dec.stats.rejected, frames = ch->dec.stats.frames;
	while (ch->fd >= 0 && m7b_decoder_next(&ch->dec, &p, end, &f) == 1)
		handle_frame(ch, &f);
	if (ch->ops && ch->ops->on_decoded)
		ch->ops->on_decoded(ch->ud, ch, ch->dec.stats.frames - frames,
				    ch->dec.stats.rejected - rejected);
	if (ch->dec.stats.rejected != rejected &&
	    ratelimit_ok(&ch->rl_reject, now_ms(), 5, 10000)) {
		struct log_fields fl = fields(ch, NULL);
		log_struct(ch->log, LOG_DEBUG, &fl,
			   "discarded %llu candidate frame(s), last: %s (%llu noise bytes so far)",
			   (unsigned long long)(ch->dec.stats.rejected - rejected),
			   m7b_decoder_reject_name(ch->dec.last_reject),
			   (unsigned long long)ch->dec.stats.noise_bytes);
	}
}

/* Reads what is there. Returns 0 when drained (EAGAIN), 1 when more may follow (burst
 * limit), or a negative errno / -EPIPE for EOF. */
static int read_burst(struct channel *ch, int max_reads)
{
	for (int i = 0; i < max_reads && ch->fd >= 0; i++) {
		ssize_t n = read(ch->fd, ch->rbuf, sizeof ch->rbuf);
		if (n > 0) {
			process(ch, ch->rbuf, (size_t)n);
			continue;
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
	return 1;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;
	/* Bounded so that clients and other channels get their turn. */
	int r = read_burst(ch, 4);
	if (r == -EPIPE && ch->fd >= 0) {
		channel_log_errno(ch, LOG_WARNING, 0, "%s: end of file (hung up)", ch->cfg.device);
		channel_close(ch, CHANNEL_DOWN, "eof", 0);
	} else if (r < 0 && ch->fd >= 0) {
		io_failed(ch, r);
	}
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
	/* Take what the old node still holds before letting it go. */
	(void)read_burst(ch, 16);
	if (ch->fd < 0)
		return;
	channel_close(ch, CHANNEL_DOWN, gone ? "device_removed" : "device_replaced", 0);
	if (replaced && !ch->hold)
		(void)channel_open_now(ch);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(ch->ino_fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			/* The kernel pads each name so every record stays aligned. */
			struct inotify_event *ev = (struct inotify_event *)(void *)p;
			p += sizeof *ev + ev->len;
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
			    strcmp(ev->name, ch->base_name) != 0)
				continue;
			node_event(ch, ev->mask);
		}
	}
	if (ch->ops && ch->ops->on_batch_end)
		ch->ops->on_batch_end(ch->ud, ch);
}
