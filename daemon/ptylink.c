/* One channel's pseudo-terminal: a stable symlink to the pts slave, the master in raw mode
 * and non-blocking, a slave fd kept open so that the app's close and reopen neither loses
 * its termios nor gives the master EIO. Two bounded buffers: M7 -> app (overflow counted)
 * and app -> M7 (full: the master is not read, so the app's write() blocks). */
#include "ptylink.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "ptybuf.h"
#include "ptytermios.h"

#define TO_APP_CAP (256u * 1024u)
#define TO_M7_CAP  (64u * 1024u)
#define RAW_PIECE  4096u /* bytes per raw write: half the writer's 8 KiB */
/* Retries of the app's bytes wait longer each time nothing was taken, up to a cap, and
 * start again at the first step once a piece goes: a fine link sees the first step only,
 * and an M7 that stopped reading costs a few wakeups a second instead of a thousand. The
 * wait after the M7 reads again is at most about as long as it had stopped. (A wire
 * channel's sends also retry at each ACK, and any channel's when it comes up.) */
#define RETRY_BUSY     1    /* ms: the writer or send queue was full: first wait */
#define RETRY_BUSY_MAX 64   /* ms: ... and the longest */
#define RETRY_DOWN     50   /* ms: the channel is down (recovery): the app waits */
#define RETRY_DOWN_MAX 1000 /* ms: ... up to this (it retries when the channel comes up) */
#define TERMIOS_MS     1000 /* ms: how often M7 traffic looks at the app's termios */

struct ptylink {
	struct event_base *base;
	const struct log *log;
	struct channel *ch; /* NULL while parked */
	char chname[CONF_NAME_MAX];
	int master, slave;
	int save; /* memfd beside the master in the store: the link's path, the buffers */
	char slave_name[64];
	char path[CONF_PATH_MAX];
	struct event *ev_read, *ev_write, *ev_retry, *ev_closed;
	struct event *ev_renew; /* the slave could not be held again: a new pty, from the loop */
	int ino;		/* inotify: an app closed the slave */
	bool reading, writing;
	unsigned retry_ms; /* the next retry's wait; 0: none failed since the last success */
	struct ptybuf to_app, to_m7;
	uint64_t pause_since_ms; /* 0 = not paused */
	struct ptylink_stats st;
	struct ratelimit rl_drop, rl_fail, rl_renew;
	bool hold_lost;		   /* the slave was hung up and could not be opened again */
	bool stored;		   /* the service manager has a copy of the master */
	bool kept;		   /* ... and keeps it for the next start: the daemon stops */
	bool saved;		   /* ... with the daemon's buffers (ptylink_save) */
	ptylink_slave_fn on_slave; /* the slave fd was replaced */
	void *on_slave_ud;
	unsigned cooked;     /* PTYTERMIOS_* last said (0: raw) */
	uint64_t termios_ms; /* when M7 traffic last looked */
};

/* Logs with the channel's fields, also while parked (no channel then). Returns r. */
__attribute__((format(printf, 4, 5))) static int say(const struct ptylink *pl, int prio, int r,
						     const char *fmt, ...)
{
	struct log_fields f = {.channel = pl->chname,
			       .device = pl->ch ? channel_config(pl->ch)->device : NULL};
	va_list ap;
	va_start(ap, fmt);
	log_structv_errno(pl->log, prio, &f, r, fmt, ap);
	va_end(ap);
	return r;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Arms the retry unless armed; each retry that finds the channel still full or down
 * waits twice as long as the one before (first, the longest: see RETRY_*). */
static void arm_retry(struct ptylink *pl, bool down)
{
	unsigned first = down ? RETRY_DOWN : RETRY_BUSY,
		 max = down ? RETRY_DOWN_MAX : RETRY_BUSY_MAX;
	if (evtimer_pending(pl->ev_retry, NULL))
		return;
	unsigned ms = pl->retry_ms < first ? first : pl->retry_ms > max ? max : pl->retry_ms;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(pl->ev_retry, &tv);
	pl->retry_ms = ms * 2 > max ? max : ms * 2;
}

/* Our slave fd keeps the pty's settings and spares the app EIO on reopen. A vhangup() of
 * the slave (agetty, a service's TTYVHangup=) kills it, and the next opener finds the
 * kernel's cooked defaults: take the slave again and put the pty back in raw mode. A pty
 * left exclusive (TIOCEXCL) by the app it was hung up under opens only with
 * CAP_SYS_ADMIN, and the flag lasts while the master is open: no app could ever open it
 * again, so another pty takes its place (from the loop: this may run inside the master's
 * own callback). Until then the M7's bytes wait in the daemon's buffer, not in a pty no
 * one can open. */
static void hold_again(struct ptylink *pl)
{
	int fd = open(pl->slave_name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	struct termios t;
	if (fd < 0) {
		if (!pl->hold_lost)
			say(pl, LOG_ERR, -errno,
			    "pty %s was hung up and cannot be held again (%m): replacing it",
			    pl->path);
		pl->hold_lost = true;
		struct timeval now = {0, 0};
		if (pl->ev_renew && !evtimer_pending(pl->ev_renew, NULL))
			evtimer_add(pl->ev_renew, &now);
		return;
	}
	close(pl->slave);
	pl->slave = fd;
	pl->hold_lost = false;
	if (tcgetattr(pl->master, &t) == 0) {
		cfmakeraw(&t);
		(void)tcsetattr(pl->master, TCSANOW, &t);
	}
	pl->cooked = 0;
	say(pl, LOG_WARNING, 0, "pty %s was hung up: held again, raw mode restored", pl->path);
	if (pl->on_slave)
		pl->on_slave(pl->on_slave_ud, pl); /* the stored slave fd is dead now */
}

/* The app owns the slave's termios, and they outlive its close (our slave fd): settings
 * that change the bytes are said each time they change. An `stty sane` left behind
 * echoes every M7 byte back to the M7, with no app there at all. */
static void check_termios(struct ptylink *pl)
{
	struct termios t;
	char names[96];
	if (tcgetattr(pl->slave, &t) < 0) {
		if (errno == EIO)
			hold_again(pl);
		return;
	}
	unsigned c = ptytermios_cooked(&t);
	if (c == pl->cooked)
		return;
	pl->cooked = c;
	if (c)
		say(pl, LOG_WARNING, 0,
		    "pty %s is not in raw mode (%s): the kernel changes the bytes "
		    "between the app and the M7; the app should set raw mode",
		    pl->path, ptytermios_names(c, names, sizeof(names)));
	else
		say(pl, LOG_NOTICE, 0, "pty %s is in raw mode again", pl->path);
}

/* Reads the master only while the app -> M7 buffer has room: back-pressure, not loss. */
static void update_reading(struct ptylink *pl)
{
	bool want = ptybuf_can_take(&pl->to_m7, 1);
	if (want && !pl->reading)
		event_add(pl->ev_read, NULL);
	else if (!want && pl->reading)
		event_del(pl->ev_read);
	pl->reading = want;
}

static void note_pause(struct ptylink *pl, bool paused)
{
	uint64_t t = now_ms();
	if (paused && !pl->pause_since_ms)
		pl->pause_since_ms = t ? t : 1;
	else if (!paused && pl->pause_since_ms) {
		pl->st.paused_ms += t - pl->pause_since_ms;
		pl->pause_since_ms = 0;
	}
}

/* One piece of the app's bytes to the channel: raw as is, wire as SEND on pty_port.
 * 0 taken; -ENOBUFS/-EBUSY (full) or -ENOTCONN (down): keep it and retry. */
static int submit(struct ptylink *pl, const uint8_t *p, size_t n, size_t *taken)
{
	if (channel_is_raw(pl->ch)) {
		*taken = n < RAW_PIECE ? n : RAW_PIECE;
		return channel_write_raw(pl->ch, p, *taken);
	}
	struct channel_snapshot snap;
	channel_snapshot(pl->ch, &snap);
	/* The firmware's max_payload, but never more than the wire (and e.data) holds: a
	 * HELLO may claim anything. */
	size_t max = M7B_PAYLOAD_MAX;
	if (snap.have_hello && snap.hello.max_payload && snap.hello.max_payload < max)
		max = snap.hello.max_payload;
	struct sendq_entry e = {.cookie = DAEMON_COOKIE_INTERNAL,
				.port = (uint8_t)channel_config(pl->ch)->pty_port};
	e.len = (uint16_t)(n < max ? n : max);
	memcpy(e.data, p, e.len);
	*taken = e.len;
	return channel_send(pl->ch, &e);
}

static void pump_to_m7(struct ptylink *pl)
{
	const uint8_t *p;
	size_t n;
	while ((n = ptybuf_peek(&pl->to_m7, &p)) > 0) {
		size_t taken = 0;
		int r = submit(pl, p, n, &taken);
		if (r == -ENOBUFS || r == -EBUSY || r == -ENOTCONN) {
			note_pause(pl, true);
			arm_retry(pl, r == -ENOTCONN);
			break;
		}
		pl->retry_ms = 0; /* taken: the next wait starts short again */
		if (r < 0)
			pl->st.failed_to_m7 += taken; /* cannot happen with the pieces above */
		else
			pl->st.to_m7 += taken;
		ptybuf_consume(&pl->to_m7, taken);
	}
	if (pl->to_m7.len == 0)
		note_pause(pl, false);
	update_reading(pl);
}

/* The app's bytes from the master, as many as the buffer has room for. */
static void take_from_master(struct ptylink *pl)
{
	uint8_t buf[4096];
	while (ptybuf_can_take(&pl->to_m7, 1)) {
		size_t room = ptybuf_room(&pl->to_m7);
		ssize_t n = read(pl->master, buf, room < sizeof(buf) ? room : sizeof(buf));
		if (n > 0) {
			ptybuf_push(&pl->to_m7, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* EAGAIN: drained. EIO cannot happen while our slave fd is open. */
		break;
	}
}

static void ptylink_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct ptylink *pl = arg;
	check_termios(pl); /* an echo arrives here */
	take_from_master(pl);
	pump_to_m7(pl);
}

static void flush_to_app(struct ptylink *pl)
{
	const uint8_t *p;
	size_t n;
	while (!pl->hold_lost && (n = ptybuf_peek(&pl->to_app, &p)) > 0) {
		ssize_t w = write(pl->master, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		pl->st.to_app += (size_t)w;
		ptybuf_consume(&pl->to_app, (size_t)w);
	}
	bool want = pl->to_app.len > 0 && !pl->hold_lost;
	if (want && !pl->writing)
		event_add(pl->ev_write, NULL);
	else if (!want && pl->writing)
		event_del(pl->ev_write);
	pl->writing = want;
}

static void ptylink_on_write(evutil_socket_t fd, short what, void *arg)
{
	flush_to_app(arg);
}

/* An app closed the pty. Exclusive mode (TIOCEXCL, which QSerialPort sets on open and
 * clears on close) dies with a tty's last close; ours never closes (the daemon's fd), so
 * an app killed with it set would lock every other user out until the daemon restarts.
 * While it is set only root can open the pty, so a close is almost surely its owner's. */
static void ptylink_on_closed(evutil_socket_t fd, short what, void *arg)
{
	struct ptylink *pl = arg;
	char buf[4096];
	int excl = 0;
	while (read(pl->ino, buf, sizeof(buf)) > 0)
		;
	if (ioctl(pl->slave, TIOCGEXCL, &excl) == 0 && excl && ioctl(pl->slave, TIOCNXCL) == 0)
		say(pl, LOG_NOTICE, 0, "pty %s: closed by the app that made it exclusive: cleared",
		    pl->path);
}

static void ptylink_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct ptylink *pl = arg;
	pump_to_m7(pl);
	if (pl->reading)
		ptylink_on_read(pl->master, EV_READ, pl);
}

void ptylink_from_m7(struct ptylink *pl, const uint8_t *data, size_t n)
{
	size_t off = 0;
	uint64_t t = now_ms();
	if (t - pl->termios_ms >= TERMIOS_MS) {
		pl->termios_ms = t;
		check_termios(pl); /* lines cut, bytes translated */
	}
	if (pl->to_app.len == 0 && !pl->hold_lost) {
		/* The common case: straight into the pty, no copy. */
		while (off < n) {
			ssize_t w = write(pl->master, data + off, n - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		pl->st.to_app += off;
	}
	uint64_t before = pl->to_app.dropped;
	ptybuf_push(&pl->to_app, data + off, n - off);
	if (pl->to_app.dropped != before) {
		pl->st.dropped_to_app += pl->to_app.dropped - before;
		if (ratelimit_ok(&pl->rl_drop, t, 3, 60000))
			say(pl, LOG_WARNING, -ENOBUFS,
			    "pty %s: the app does not read: %llu bytes dropped so far", pl->path,
			    (unsigned long long)pl->st.dropped_to_app);
	}
	flush_to_app(pl);
}

void ptylink_send_done(struct ptylink *pl, const struct sendq_entry *e, enum sendq_result r)
{
	if (r != SENDQ_OK) {
		char why[64];
		pl->st.failed_to_m7 += e->len;
		/* The app's write() succeeded: the log is the only place it can learn of this. */
		if (r == SENDQ_REJECTED && e->status == M7B_ACK_BAD_PORT)
			snprintf(why, sizeof(why), "the firmware has no port %u", e->port);
		else if (r == SENDQ_REJECTED)
			snprintf(why, sizeof(why), "rejected, status %u", e->status);
		else
			snprintf(why, sizeof(why), "%s", sendq_result_to_string(r));
		if (ratelimit_ok(&pl->rl_fail, now_ms(), 3, 60000))
			say(pl, LOG_WARNING, 0,
			    "pty %s: %u bytes from the app not taken by the firmware "
			    "(%s): %llu bytes so far",
			    pl->path, e->len, why, (unsigned long long)pl->st.failed_to_m7);
	}
	pump_to_m7(pl);
}

void ptylink_kick(struct ptylink *pl)
{
	pump_to_m7(pl);
	flush_to_app(pl);
}

void ptylink_park(struct ptylink *pl)
{
	if (pl->reading)
		event_del(pl->ev_read);
	pl->reading = false;
	evtimer_del(pl->ev_retry);
	pl->ch = NULL;
}

void ptylink_adopt(struct ptylink *pl, struct channel *ch)
{
	pl->ch = ch;
	ptylink_kick(pl); /* what the app wrote meanwhile waits for the channel to come up */
}

const char *ptylink_slave(const struct ptylink *pl)
{
	return pl->slave_name;
}

void ptylink_get_stats(const struct ptylink *pl, struct ptylink_stats *s)
{
	*s = pl->st;
	if (pl->pause_since_ms)
		s->paused_ms += now_ms() - pl->pause_since_ms;
}

/* The gid of pty_group, or (gid_t)-1 when unset. 0, -ENOENT (no such group) or the
 * lookup's errno. */
static int pty_gid(const struct conf_channel *cc, gid_t *gid)
{
	*gid = (gid_t)-1;
	if (!cc->pty_group[0])
		return 0;
	errno = 0;
	struct group *g = getgrnam(cc->pty_group);
	if (!g)
		return errno ? -errno : -ENOENT;
	*gid = g->gr_gid;
	return 0;
}

/* The master: non-blocking, raw (what is set on the master applies to the slave and
 * survives the app's reopen). The slave: our own fd. */
static int open_pty(struct ptylink *pl)
{
	struct termios t;

	pl->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (pl->master < 0)
		return -errno;
	if (grantpt(pl->master) < 0 || unlockpt(pl->master) < 0 ||
	    ptsname_r(pl->master, pl->slave_name, sizeof(pl->slave_name)) != 0)
		return -errno;
	if (tcgetattr(pl->master, &t) < 0)
		return -errno;
	cfmakeraw(&t);
	if (tcsetattr(pl->master, TCSANOW, &t) < 0)
		return -errno;
	pl->slave = open(pl->slave_name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (pl->slave < 0)
		return -errno;
	return 0;
}

/* Whether fd is a live (not hung up) open file of the pts slave_name. */
static bool live_slave(int fd, const char *slave_name)
{
	struct stat a, b;
	struct termios t;
	return fstat(fd, &a) == 0 && stat(slave_name, &b) == 0 && S_ISCHR(a.st_mode) &&
	       a.st_rdev == b.st_rdev && tcgetattr(fd, &t) == 0;
}

/* Carries on with pl->master and pl->slave (or -1), a pty master and our slave fd from
 * the service manager: the app's termios stay, and so does what the kernel holds each
 * way. */
static int adopt_pty(struct ptylink *pl)
{
	int n, fl, fd = pl->master;

	/* Only a pty master answers TIOCGPTN: a slave, a file or a socket stored under a
	 * pty's name is refused. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || ioctl(fd, TIOCGPTN, &n) < 0 || (fl & O_ACCMODE) != O_RDWR)
		return -ENOTTY;
	if (ptsname_r(fd, pl->slave_name, sizeof(pl->slave_name)) != 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	/* The slave fd held before the restart: an app that made the pty exclusive
	 * (TIOCEXCL, as QSerialPort does) lets nobody open it again without CAP_SYS_ADMIN. */
	if (pl->slave >= 0 && live_slave(pl->slave, pl->slave_name))
		return fcntl(pl->slave, F_SETFD, FD_CLOEXEC) < 0 ? -errno : 0;
	if (pl->slave >= 0)
		close(pl->slave);
	/* Through the master, not the path: the slave's mode may not let us open it. */
	pl->slave = ioctl(fd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (pl->slave < 0)
		pl->slave = open(pl->slave_name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	return pl->slave < 0 ? -errno : 0;
}

/* The slave's group (gid, -1: unset) and mode. Unset means the daemon's own group, not
 * the one devpts gives (usually tty, gid=5, which the setgid write(1) and wall(1) hold):
 * pty_mode's group bits are for it. 0 or a negative errno. */
static int apply_access(struct ptylink *pl, gid_t gid)
{
	if (fchown(pl->slave, (uid_t)-1, gid != (gid_t)-1 ? gid : getegid()) < 0 ||
	    fchmod(pl->slave, (mode_t)channel_config(pl->ch)->pty_mode) < 0)
		return -errno;
	return 0;
}

/* Logs r from apply_access; EPERM for a group is said with its usual cause. Returns r. */
static int access_failed(const struct ptylink *pl, int r)
{
	const char *g = channel_config(pl->ch)->pty_group;
	if (r == -EPERM && g[0])
		return say(pl, LOG_ERR, r,
			   "pty %s: cannot give it group %s: %m (the daemon's user must be a "
			   "member of that group)",
			   pl->path, g);
	return say(pl, LOG_ERR, r, "pty %s: cannot set its group and mode: %m", pl->path);
}

/* Removes path if it is still a symlink to slave (a pts name), never following it: the
 * link of a pty that no longer serves it, whose pts number the kernel may soon give to
 * another program. Anything else there (another pty's link, a file) stays. 1 (removed),
 * 0 (not there, or not this pty's) or -errno: the link stays, and the caller says so. */
static int unlink_stale(const char *path, const char *slave)
{
	char target[64];
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode))
		return 0;
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0 || (size_t)n != strlen(slave) || memcmp(target, slave, (size_t)n) != 0)
		return 0;
	return unlink(path) == 0 ? 1 : -errno;
}

/* Points path at the slave atomically (a new symlink renamed over the old one), so an
 * app never finds the path missing; refuses to replace anything but a symlink, and says
 * which link it replaces (it may be another daemon's pty). */
static int link_path(struct ptylink *pl)
{
	struct stat st;
	char tmp[CONF_PATH_MAX + 32], old[CONF_PATH_MAX];

	if (lstat(pl->path, &st) == 0) {
		if (!S_ISLNK(st.st_mode))
			return -EEXIST;
		ssize_t n = readlink(pl->path, old, sizeof(old) - 1);
		old[n > 0 ? n : 0] = '\0';
		if (n > 0 && strcmp(old, pl->slave_name) != 0)
			say(pl, LOG_NOTICE, 0, "pty %s pointed at %s: replaced", pl->path, old);
	}
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", pl->path, (long)getpid());
	(void)unlink(tmp);
	if (symlink(pl->slave_name, tmp) < 0)
		return -errno;
	if (rename(tmp, pl->path) < 0) {
		int r = -errno;
		(void)unlink(tmp);
		return r;
	}
	return 0;
}

/* Watches the slave for an app's close; without it (logged), exclusive mode left by a
 * killed app stays. */
static void watch_closes(struct ptylink *pl)
{
	pl->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (pl->ino < 0 ||
	    inotify_add_watch(pl->ino, pl->slave_name, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE) < 0 ||
	    !(pl->ev_closed =
		      event_new(pl->base, pl->ino, EV_READ | EV_PERSIST, ptylink_on_closed, pl)) ||
	    event_add(pl->ev_closed, NULL) < 0)
		say(pl, LOG_WARNING, errno ? -errno : -ENOMEM,
		    "pty %s: cannot watch for the app's close (%m): exclusive mode left by an "
		    "app that was killed stays until a restart",
		    pl->path);
}

/* Writes the header of a save of to_m7 and to_app bytes at the start of the save. 0 or
 * -errno. */
static int write_save_header(struct ptylink *pl, size_t to_m7, size_t to_app)
{
	uint8_t hdr[PTYBUF_SAVED_HDR + CONF_PATH_MAX];
	size_t n = ptybuf_saved_header(hdr, sizeof(hdr), to_m7, to_app, pl->path);
	if (n == 0)
		return -ENAMETOOLONG; /* a configured pty is absolute and fits */
	if (pwrite(pl->save, hdr, n, 0) != (ssize_t)n)
		return errno ? -errno : -EIO;
	return 0;
}

/* The save goes to the store with the master at once, naming the link: after a crash, a
 * start whose configuration no longer has this pty can still remove it. Without one
 * (logged) only the buffers of a clean stop are lost, and such a link stays. */
static void open_save(struct ptylink *pl)
{
	int r;
	pl->save = memfd_create("m7bridged-pty", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (pl->save < 0)
		r = -errno;
	else if ((r = write_save_header(pl, 0, 0)) == 0)
		return;
	say(pl, LOG_WARNING, r,
	    "pty %s: cannot make its save (%m): a stop loses the daemon's buffers, and after "
	    "a crash the link is left to the next start",
	    pl->path);
	if (pl->save >= 0)
		close(pl->save);
	pl->save = -1;
}

/* A new pty behind the link in place of one that cannot be held again (hold_again):
 * the buffers stay, the app's bytes the old master holds are taken first (what does not
 * fit is counted), and the service manager is given the new one. 0 or a negative errno
 * (nothing changed). */
static int renew(struct ptylink *pl)
{
	int old_master = pl->master, old_slave = pl->slave, left = 0, r;
	char old_name[sizeof(pl->slave_name)];
	struct event *rd = NULL, *wr = NULL;
	gid_t gid;
	if (!pl->ch)
		return -ENOTCONN; /* parked: the channel's next turn tries again */
	memcpy(old_name, pl->slave_name, sizeof(old_name));
	r = pty_gid(channel_config(pl->ch), &gid);
	if (r == 0)
		r = open_pty(pl);
	if (r == 0)
		r = apply_access(pl, gid);
	if (r == 0) {
		rd = event_new(pl->base, pl->master, EV_READ | EV_PERSIST, ptylink_on_read, pl);
		wr = event_new(pl->base, pl->master, EV_WRITE | EV_PERSIST, ptylink_on_write, pl);
		r = rd && wr ? link_path(pl) : -ENOMEM;
	}
	if (r < 0) {
		if (rd)
			event_free(rd);
		if (wr)
			event_free(wr);
		if (pl->master >= 0 && pl->master != old_master)
			close(pl->master);
		if (pl->slave >= 0 && pl->slave != old_slave)
			close(pl->slave);
		pl->master = old_master;
		pl->slave = old_slave;
		memcpy(pl->slave_name, old_name, sizeof(old_name));
		return r;
	}
	int new_master = pl->master;
	pl->master = old_master;
	take_from_master(pl);
	if (ioctl(old_master, TIOCINQ, &left) < 0 || left < 0)
		left = 0;
	pl->st.failed_to_m7 += (uint64_t)left;
	pl->master = new_master;
	event_free(pl->ev_read);
	event_free(pl->ev_write);
	pl->ev_read = rd;
	pl->ev_write = wr;
	pl->reading = pl->writing = false;
	if (pl->ino >= 0)
		(void)inotify_add_watch(pl->ino, pl->slave_name, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE);
	if (old_slave >= 0)
		close(old_slave);
	close(old_master);
	pl->hold_lost = false;
	pl->cooked = 0;
	say(pl, LOG_WARNING, 0,
	    "pty %s -> %s: replaces %s, which cannot be opened again (%d bytes from the app "
	    "in it lost)",
	    pl->path, pl->slave_name, old_name, left);
	if (pl->on_slave)
		pl->on_slave(pl->on_slave_ud, pl); /* the service manager's copy is of the old */
	update_reading(pl);
	ptylink_kick(pl);
	return 0;
}

static void ptylink_on_renew(evutil_socket_t fd, short what, void *arg)
{
	struct ptylink *pl = arg;
	int r = pl->hold_lost ? renew(pl) : 0;
	/* Tried again when the slave is next looked at (the M7's traffic, the app's). */
	if (r < 0 && r != -ENOTCONN && ratelimit_ok(&pl->rl_renew, now_ms(), 3, 60000))
		say(pl, LOG_ERR, r,
		    "pty %s: cannot make a new pty in place of the hung-up one (%m): the M7's "
		    "bytes wait in the daemon's buffer",
		    pl->path);
}

int ptylink_set_access(struct ptylink *pl)
{
	const struct conf_channel *cc = channel_config(pl->ch);
	gid_t gid;
	int r = pty_gid(cc, &gid);
	if (r < 0)
		return say(pl, LOG_ERR, r, "pty %s keeps its group and mode: %s %s", pl->path,
			   r == -ENOENT ? "no group" : "cannot look up group", cc->pty_group);
	r = apply_access(pl, gid);
	return r < 0 ? access_failed(pl, r) : 0;
}

int ptylink_relink(struct ptylink *pl)
{
	char target[64];
	ssize_t n = readlink(pl->path, target, sizeof(target) - 1);
	if (n > 0 && (size_t)n == strlen(pl->slave_name) &&
	    memcmp(target, pl->slave_name, (size_t)n) == 0)
		return 0;
	int r = link_path(pl);
	if (r < 0)
		return say(pl, LOG_ERR, r, "cannot point %s at %s: %m", pl->path, pl->slave_name);
	say(pl, LOG_NOTICE, 0, "pty %s -> %s again", pl->path, pl->slave_name);
	return 1;
}

int ptylink_new(struct event_base *base, const struct log *log, struct channel *ch, int master,
		int slave, struct ptylink **out)
{
	struct ptylink *pl = calloc(1, sizeof(*pl));
	int r = -ENOMEM;

	*out = NULL;
	if (master < 0 && slave >= 0) {
		close(slave); /* no pty to go with */
		slave = -1;
	}
	if (!pl) {
		if (master >= 0)
			close(master);
		if (slave >= 0)
			close(slave);
		return channel_log_errno(ch, LOG_ERR, r, "pty: %m");
	}
	pl->base = base;
	pl->log = log;
	pl->ch = ch;
	snprintf(pl->chname, sizeof(pl->chname), "%s", channel_name(ch));
	pl->ino = -1;
	pl->save = -1;
	pl->master = master; /* ours from here: closed by ptylink_free */
	pl->slave = slave;
	snprintf(pl->path, sizeof(pl->path), "%s", channel_config(ch)->pty);
	if (ptybuf_init(&pl->to_app, TO_APP_CAP) < 0 || ptybuf_init(&pl->to_m7, TO_M7_CAP) < 0)
		goto fail;
	const struct conf_channel *cc = channel_config(ch);
	if (cc->device && strcmp(cc->device, cc->pty) == 0) {
		/* The symlink would replace the channel's own device: it would then read its
		 * own pty. */
		r = -EINVAL;
		channel_log_errno(ch, LOG_ERR, r,
				  "cannot create the pty for %s: it is the "
				  "channel's own device",
				  pl->path);
		goto fail;
	}
	gid_t gid;
	r = pty_gid(cc, &gid);
	if (r < 0) {
		/* Said plainly: "No such file or directory" would send one looking for a path. */
		channel_log_errno(ch, LOG_ERR, r, "cannot create the pty for %s: %s %s", pl->path,
				  r == -ENOENT ? "no group" : "cannot look up group",
				  channel_config(ch)->pty_group);
		goto fail;
	}
	r = master >= 0 ? adopt_pty(pl) : open_pty(pl);
	if (r == -ENOTTY && master >= 0) {
		channel_log_errno(ch, LOG_ERR, r,
				  "the descriptor the service manager kept for the pty %s is not "
				  "a read-write pty master: refused, closed",
				  pl->path);
		goto fail;
	} else if (r < 0) {
		channel_log_errno(ch, LOG_ERR, r, "cannot %s the pty for %s: %m",
				  master >= 0 ? "take back" : "create", pl->path);
		goto fail;
	}
	r = apply_access(pl, gid);
	if (r < 0) {
		access_failed(pl, r);
		goto fail;
	}
	r = -ENOMEM;
	pl->ev_read = event_new(base, pl->master, EV_READ | EV_PERSIST, ptylink_on_read, pl);
	pl->ev_write = event_new(base, pl->master, EV_WRITE | EV_PERSIST, ptylink_on_write, pl);
	pl->ev_retry = evtimer_new(base, ptylink_on_retry, pl);
	pl->ev_renew = evtimer_new(base, ptylink_on_renew, pl);
	if (!pl->ev_read || !pl->ev_write || !pl->ev_retry || !pl->ev_renew)
		goto fail;
	watch_closes(pl); /* logged */
	r = link_path(pl);
	if (r < 0) {
		channel_log_errno(ch, LOG_ERR, r, "cannot point %s at %s: %m", pl->path,
				  pl->slave_name);
		goto fail;
	}
	open_save(pl); /* logged */
	update_reading(pl);
	if (master >= 0) {
		int waiting = 0;
		if (ioctl(pl->master, TIOCINQ, &waiting) < 0)
			waiting = 0;
		channel_log_errno(ch, LOG_NOTICE, 0,
				  "pty %s -> %s kept across the restart: %d bytes from the app "
				  "wait for the M7",
				  pl->path, pl->slave_name, waiting);
		check_termios(pl); /* the app's, kept: said now if they change the bytes */
	} else {
		channel_log_errno(ch, LOG_INFO, 0, "pty %s -> %s", pl->path, pl->slave_name);
	}
	*out = pl;
	return 0;
fail:
	/* A kept pty that cannot go on closes now: its link from the last start, at this
	 * path, would point at a pts number free for anyone. */
	if (master >= 0 && pl->master >= 0 && ioctl(pl->master, TIOCGPTN, &(int){0}) == 0 &&
	    ptsname_r(pl->master, pl->slave_name, sizeof(pl->slave_name)) == 0) {
		int u = unlink_stale(pl->path, pl->slave_name);
		if (u > 0)
			say(pl, LOG_NOTICE, 0,
			    "pty %s -> %s: the link of the kept pty, which cannot go on: removed",
			    pl->path, pl->slave_name);
		else if (u < 0)
			say(pl, LOG_WARNING, u,
			    "pty %s -> %s: the link of the kept pty, which cannot go on, cannot be "
			    "removed (%m): it points at a pts number free for anyone",
			    pl->path, pl->slave_name);
	}
	pl->path[0] = '\0'; /* not linked: leave whatever is there */
	ptylink_free(pl);
	return r;
}

/* What closing the pty loses, said once: the daemon's buffers and what the kernel still
 * holds each way (the app's unread input on the slave, the app's bytes not yet read from
 * the master). A stop, a reload that remakes the pty or a removed channel must not lose
 * bytes silently. */
static void log_lost(const struct ptylink *pl)
{
	int unread = 0, unsent = 0;
	if (pl->slave >= 0 && ioctl(pl->slave, TIOCINQ, &unread) < 0)
		unread = 0;
	if (pl->master >= 0 && ioctl(pl->master, TIOCINQ, &unsent) < 0)
		unsent = 0;
	if (pl->kept) {
		/* What the kernel holds goes to the next start with the master, and the
		 * daemon's buffers with it once saved. On a stop (not a restart) the service
		 * manager closes all of it: the daemon cannot tell the two apart, so it says
		 * both. */
		size_t m7 = pl->saved ? 0 : pl->to_m7.len, app = pl->saved ? 0 : pl->to_app.len;
		say(pl, m7 || app ? LOG_WARNING : LOG_NOTICE, 0,
		    "pty %s kept by the service manager for the next start, holding %zu bytes "
		    "from the app and %zu from the M7 (lost if this is a stop); lost now: %zu "
		    "bytes from the app, %zu from the M7 in the daemon's buffers",
		    pl->path[0] ? pl->path : pl->slave_name,
		    (size_t)(unsent > 0 ? unsent : 0) + pl->to_m7.len - m7,
		    (size_t)(unread > 0 ? unread : 0) + pl->to_app.len - app, m7, app);
		return;
	}
	size_t to_app = pl->to_app.len + (size_t)(unread > 0 ? unread : 0);
	size_t to_m7 = pl->to_m7.len + (size_t)(unsent > 0 ? unsent : 0);
	if (to_app || to_m7)
		say(pl, LOG_WARNING, 0,
		    "pty %s closed: %zu bytes from the app never reached the M7, "
		    "%zu bytes from the M7 never read by the app",
		    pl->path[0] ? pl->path : pl->slave_name, to_m7, to_app);
}

void ptylink_fds(const struct ptylink *pl, int fds[3])
{
	fds[0] = pl->master;
	fds[1] = pl->slave;
	fds[2] = pl->save;
}

const char *ptylink_channel(const struct ptylink *pl)
{
	return pl->chname;
}

void ptylink_set_on_slave(struct ptylink *pl, ptylink_slave_fn fn, void *ud)
{
	pl->on_slave = fn;
	pl->on_slave_ud = ud;
}

void ptylink_stored(struct ptylink *pl)
{
	pl->stored = true;
}

void ptylink_keep(struct ptylink *pl)
{
	pl->kept = pl->stored;
	if (pl->kept)
		flush_to_app(pl); /* into the kept pty, as far as it takes them */
}

/* Reads a save's header and path into *sv: 0, or -EBADMSG. */
static int read_saved(int fd, struct ptybuf_saved *sv)
{
	uint8_t p[PTYBUF_SAVED_PREFIX];
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
		return -EBADMSG;
	size_t want = (uint64_t)st.st_size < sizeof(p) ? (size_t)st.st_size : sizeof(p);
	if (pread(fd, p, want, 0) != (ssize_t)want)
		return -EBADMSG;
	return ptybuf_saved_parse(p, want, (uint64_t)st.st_size, sv);
}

void ptylink_unlink_stale(const struct log *log, int master, int save, const char *keep)
{
	struct ptybuf_saved sv;
	char slave[64];
	int n;
	if (master < 0 || save < 0 || ioctl(master, TIOCGPTN, &n) < 0 ||
	    ptsname_r(master, slave, sizeof(slave)) != 0 || read_saved(save, &sv) < 0 ||
	    !sv.path[0] || (keep && strcmp(sv.path, keep) == 0))
		return;
	int u = unlink_stale(sv.path, slave);
	if (u > 0)
		log_struct(log, LOG_NOTICE, &(struct log_fields){0},
			   "pty %s -> %s: the link of a pty the configuration no longer has "
			   "there, left by the last start: removed",
			   sv.path, slave);
	else if (u < 0)
		log_struct_errno(
			log, LOG_WARNING, &(struct log_fields){0}, u,
			"pty %s -> %s: the link of a pty the configuration no longer has "
			"there, left by the last start, cannot be removed (%m): it points at "
			"a pts number free for anyone",
			sv.path, slave);
}

void ptylink_discard(const struct log *log, int fd, const char *name)
{
	int n, unsent = 0;
	size_t m7 = 0, app = 0;
	struct ptybuf_saved sv;
	bool pty = ioctl(fd, TIOCGPTN, &n) == 0;
	if (pty && ioctl(fd, TIOCINQ, &unsent) < 0)
		unsent = 0;
	if (!pty && read_saved(fd, &sv) == 0) {
		m7 = sv.to_m7;
		app = sv.to_app;
	}
	m7 += (size_t)(unsent > 0 ? unsent : 0);
	log_struct(log, m7 || app ? LOG_WARNING : LOG_NOTICE, &(struct log_fields){0},
		   "%s %s from the service manager: no pty of the configuration takes it, "
		   "closed (%zu bytes from the app never reached the M7, %zu from the M7 never "
		   "read by the app)",
		   pty ? "pty" : "descriptor", name, m7, app);
	close(fd);
}

/* Writes all n bytes at p to fd. 0 or -errno. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes what b holds, oldest first (the ring in up to two pieces). 0 or -errno. */
static int save_buf(int fd, const struct ptybuf *b)
{
	const uint8_t *p;
	size_t first = ptybuf_peek(b, &p);
	int r = write_all(fd, p, first);
	return r < 0 ? r : write_all(fd, b->data, b->len - first);
}

/* The save is complete: F_SEAL_SEAL marks it so for the next start. A save left
 * unsealed (it is made sealable) is one whose daemon was killed before it could write
 * its buffers; an older daemon's (not sealable) has F_SEAL_SEAL from the start. */
static void seal_save(const struct ptylink *pl)
{
	if (pl->save >= 0)
		(void)fcntl(pl->save, F_ADD_SEALS, F_SEAL_SEAL);
}

int ptylink_save(struct ptylink *pl)
{
	int r;
	if (!pl->kept)
		return -ENODATA;
	if (!pl->to_m7.len && !pl->to_app.len) {
		seal_save(pl); /* nothing to write: complete as it is */
		return -ENODATA;
	}
	if (pl->save < 0)
		return say(pl, LOG_ERR, -EBADF, "pty %s: no save for its buffers", pl->path);
	/* The service manager holds this very file: rewritten, not replaced. The bytes
	 * first, then the header that counts them. */
	off_t off = (off_t)(PTYBUF_SAVED_HDR + strlen(pl->path));
	if (ftruncate(pl->save, off) < 0 || lseek(pl->save, off, SEEK_SET) < 0)
		r = -errno;
	else if ((r = save_buf(pl->save, &pl->to_m7)) == 0 &&
		 (r = save_buf(pl->save, &pl->to_app)) == 0)
		r = write_save_header(pl, pl->to_m7.len, pl->to_app.len);
	if (r < 0)
		return say(pl, LOG_ERR, r, "pty %s: cannot save its buffers: %m", pl->path);
	pl->saved = true;
	seal_save(pl);
	return 0;
}

/* Moves n bytes at offset off of fd into b, as many as it has room for (the oldest);
 * *lost gets the rest, never read. 0 or -errno. */
static int restore_buf(int fd, off_t off, size_t n, struct ptybuf *b, size_t *lost)
{
	uint8_t buf[4096];
	size_t room = ptybuf_room(b);
	*lost = n > room ? n - room : 0;
	n -= *lost;
	while (n > 0) {
		ssize_t got = pread(fd, buf, n < sizeof(buf) ? n : sizeof(buf), off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EBADMSG;
		ptybuf_push(b, buf, (size_t)got);
		off += got;
		n -= (size_t)got;
	}
	return 0;
}

int ptylink_restore(struct ptylink *pl, int fd)
{
	size_t m7 = 0, app = 0, m7_lost = 0, app_lost = 0;
	struct ptybuf_saved sv;
	int r = read_saved(fd, &sv), seals = fcntl(fd, F_GET_SEALS);
	/* Killed (SIGKILL, a crash, the watchdog) before ptylink_save: what the daemon's
	 * buffers held is gone, and how much was never written down. */
	if (r == 0 && seals >= 0 && !(seals & F_SEAL_SEAL))
		say(pl, LOG_WARNING, 0,
		    "pty %s: the daemon before this start ended without saving its buffers "
		    "(killed or crashed): the bytes they held for the app and for the M7, if "
		    "any, are lost, uncounted",
		    pl->path);
	/* Into empty buffers (nothing is read before the loop turns): all of it fits unless
	 * a build with larger buffers saved it. */
	if (r == 0) {
		m7 = sv.to_m7;
		app = sv.to_app;
		r = restore_buf(fd, (off_t)sv.data_off, m7, &pl->to_m7, &m7_lost);
	}
	if (r == 0)
		r = restore_buf(fd, (off_t)(sv.data_off + m7), app, &pl->to_app, &app_lost);
	close(fd);
	if (r < 0) {
		ptybuf_consume(&pl->to_m7, pl->to_m7.len);
		ptybuf_consume(&pl->to_app, pl->to_app.len);
		return say(pl, LOG_ERR, r,
			   "pty %s: the buffers the service manager kept with it are not a save "
			   "of ours: ignored",
			   pl->path);
	}
	if (m7_lost || app_lost) {
		/* Counted where the pty's other losses are: STATUS shows them. */
		pl->st.failed_to_m7 += m7_lost;
		pl->st.dropped_to_app += app_lost;
		say(pl, LOG_WARNING, 0,
		    "pty %s: %zu bytes from the app and %zu from the M7 held by the daemon before "
		    "the restart go on (%zu from the app and %zu from the M7 did not fit the "
		    "buffers: lost)",
		    pl->path, m7 - m7_lost, app - app_lost, m7_lost, app_lost);
	} else if (m7 || app) {
		say(pl, LOG_NOTICE, 0,
		    "pty %s: %zu bytes from the app and %zu from the M7 held by the daemon before "
		    "the restart go on",
		    pl->path, m7, app);
	}
	update_reading(pl);
	ptylink_kick(pl); /* what waits for the app goes now; the M7's once the channel is up */
	return 0;
}

struct ptylink *ptylink_free(struct ptylink *pl)
{
	if (!pl)
		return NULL;
	log_lost(pl);
	/* Only our own link goes: a newer daemon may already have replaced it. */
	int u = pl->path[0] ? unlink_stale(pl->path, pl->slave_name) : 0;
	if (u < 0)
		say(pl, LOG_WARNING, u,
		    "pty %s: cannot remove its link (%m): it points at %s, free for anyone once "
		    "the pty closes",
		    pl->path, pl->slave_name);
	if (pl->ev_read)
		event_free(pl->ev_read);
	if (pl->ev_write)
		event_free(pl->ev_write);
	if (pl->ev_retry)
		event_free(pl->ev_retry);
	if (pl->ev_renew)
		event_free(pl->ev_renew);
	if (pl->ev_closed)
		event_free(pl->ev_closed);
	if (pl->ino >= 0)
		close(pl->ino);
	if (pl->slave >= 0)
		close(pl->slave);
	if (pl->master >= 0)
		close(pl->master);
	if (pl->save >= 0)
		close(pl->save);
	ptybuf_clear(&pl->to_app);
	ptybuf_clear(&pl->to_m7);
	free(pl);
	return NULL;
}
