/* Kernel log watcher over sd-journal (_TRANSPORT=kernel) or a kmsg-format stream. */
#include "kwatch.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "klog.h"

#define KWATCH_BUF 8192 /* a /dev/kmsg record is at most ~1 KiB of text plus fields */
/* Lines handed on per wake-up, so that a flood cannot starve the frames; the rest is
 * read on the next turn. */
#define KWATCH_LINES_PER_TURN 1000

struct kwatch {
	enum kwatch_source source;
	kwatch_line_fn fn;
	kwatch_path_fn on_path;
	void *arg;
	struct event_base *base;
	/* journal */
	sd_journal *j;
	struct event *jev;
	struct event *jtimer;
	/* kmsg / FIFO */
	int fd;
	struct event *kev;
	/* A FIFO: its path, and its directory watched for a new FIFO there */
	char *path;
	const char *base_name; /* in path */
	dev_t dev;
	ino_t ino;
	int ifd;
	struct event *iev;
	char buf[KWATCH_BUF];
	size_t used;
	bool skipping; /* dropping the rest of an over-long line */
	/* kmsg records printed before this CLOCK_MONOTONIC µs are a feeder's backlog (a
	 * FIFO whose writer came after the start: `dmesg -w` prints the whole ring first;
	 * a writer after another: what the one before handed on); 0 = none */
	uint64_t skip_before_us;
	uint64_t newest_us; /* kernel time of the newest line handed on, 0 = none known */
	bool have_seq;
	uint64_t last_seq; /* of the last kmsg record read */
	uint64_t lost;	   /* records lost since the line last delivered */
	uint64_t lost_total;
	uint64_t skipped; /* lines skipped as from before the start, not yet reported */
	uint64_t skipped_total;
};

uint64_t kwatch_lost(const struct kwatch *k)
{
	return k ? k->lost_total : 0;
}

uint64_t kwatch_skipped(const struct kwatch *k)
{
	return k ? k->skipped_total : 0;
}

enum kwatch_source kwatch_source(const struct kwatch *k)
{
	return k ? k->source : KWATCH_OFF;
}

bool kwatch_waiting(const struct kwatch *k)
{
	return k && k->source == KWATCH_KMSG && k->fd < 0;
}

/* ---- journal ---- */

static void journal_rearm(struct kwatch *k);

/* journald's own entry for kernel records it found overwritten ("Missed N kernel
 * messages", MESSAGE_ID SD_MESSAGE_JOURNAL_MISSED): N, or 0 when it is not one. */
#define KWATCH_MISSED_ID "e9bf28e6e834481bb6f48f548ad13606"

static uint64_t journal_missed(sd_journal *j)
{
	static const char id[] = "MESSAGE_ID=" KWATCH_MISSED_ID, pre[] = "MESSAGE=Missed ";
	const char *p, *end;
	const void *data;
	size_t len;
	uint64_t n = 0;

	if (sd_journal_get_data(j, "MESSAGE_ID", &data, &len) < 0 || len != sizeof(id) - 1 ||
	    memcmp(data, id, len) != 0)
		return 0;
	if (sd_journal_get_data(j, "MESSAGE", &data, &len) < 0 || len < sizeof(pre) - 1 ||
	    memcmp(data, pre, sizeof(pre) - 1) != 0)
		return 0;
	end = (const char *)data + len;
	for (p = (const char *)data + sizeof(pre) - 1; p < end && *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return 0;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	return n;
}

/* journald gives every /dev/kmsg record _TRANSPORT=kernel, also those a process wrote
 * into /dev/kmsg, which it marks with their facility (SYSLOG_FACILITY= is left out for
 * the kernel's own, facility 0): not the kernel's word, as the kmsg source rules too. */
static bool journal_from_userspace(sd_journal *j)
{
	static const char pre[] = "SYSLOG_FACILITY=";
	const void *data;
	size_t len;

	if (sd_journal_get_data(j, "SYSLOG_FACILITY", &data, &len) < 0)
		return false;
	return !(len == sizeof(pre) && ((const char *)data)[sizeof(pre) - 1] == '0');
}

static void journal_drain(struct kwatch *k)
{
	int r;

	/* Bounded per wake-up; the rest is read on the next turn (the timer below fires at
	 * once when entries remain). */
	for (int n = 0; n < KWATCH_LINES_PER_TURN; n++) {
		const void *data;
		size_t len;
		struct kwatch_line line = {.priority = -1};
		sd_id128_t boot;

		r = sd_journal_next(k->j);
		if (r <= 0)
			return;
		line.lost = journal_missed(k->j);
		if (line.lost) {
			/* Said at once, with no text: no kernel line may follow for long. */
			k->lost_total += line.lost;
			line.msg = "";
			k->fn(k->arg, &line);
			continue;
		}
		if (journal_from_userspace(k->j) ||
		    sd_journal_get_data(k->j, "MESSAGE", &data, &len) < 0 || len < 8)
			continue;
		line.msg = (const char *)data + 8;
		line.len = len - 8;
		if (sd_journal_get_data(k->j, "PRIORITY", &data, &len) >= 0 && len == 10 &&
		    ((const char *)data)[9] >= '0' && ((const char *)data)[9] <= '7')
			line.priority = ((const char *)data)[9] - '0';
		(void)sd_journal_get_realtime_usec(k->j, &line.realtime_us);
		(void)sd_journal_get_monotonic_usec(k->j, &line.mono_us, &boot);
		k->fn(k->arg, &line);
	}
	/* More left: come back right away through the timer. */
	struct timeval now = {0, 0};
	evtimer_add(k->jtimer, &now);
}

static void journal_on_event(evutil_socket_t fd, short what, void *arg)
{
	struct kwatch *k = arg;

	(void)fd;
	(void)what;
	(void)sd_journal_process(k->j);
	journal_drain(k);
	journal_rearm(k);
}

/* sd-journal may ask for a wake-up even without fd activity (e.g. no inotify). */
static void journal_rearm(struct kwatch *k)
{
	uint64_t t;

	if (evtimer_pending(k->jtimer, NULL))
		return;
	if (sd_journal_get_timeout(k->j, &t) >= 0 && t != (uint64_t)-1) {
		struct timespec ts;
		uint64_t now, d;
		struct timeval tv;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
		d = t > now ? t - now : 0;
		tv.tv_sec = (time_t)(d / 1000000u);
		tv.tv_usec = (suseconds_t)(d % 1000000u);
		evtimer_add(k->jtimer, &tv);
	}
}

static bool is_journal_file(const char *name)
{
	size_t n = strlen(name);

	return (n > 8 && strcmp(name + n - 8, ".journal") == 0) ||
	       (n > 9 && strcmp(name + n - 9, ".journal~") == 0);
}

/* Journal files in dir and, `depth` levels down, in its subdirectories (the machine-id
 * directories of the local journal): counts those seen and those this process can
 * open, up to the first it can. */
static void count_journal_files(int dirfd, int depth, unsigned *seen, unsigned *readable)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;

	if (!d) {
		close(dirfd);
		return;
	}
	while (*readable == 0 && *seen < 1000 && (de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		if (is_journal_file(de->d_name)) {
			(*seen)++;
			fd = openat(dirfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			if (fd >= 0) {
				(*readable)++;
				close(fd);
			}
		} else if (depth > 0) {
			fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0)
				count_journal_files(fd, depth - 1, seen, readable);
		}
	}
	closedir(d);
}

/* sd-journal skips files it may not read without a word and then reports no entries,
 * as if the kernel were quiet: journal files that exist, none of them readable, is
 * -EACCES (the daemon's user is not in the journal's group). No files at all is fine:
 * they may come later. */
static int journal_check_readable(const struct kwatch_config *cfg)
{
	static const char *const local[] = {"/run/log/journal", "/var/log/journal"};
	unsigned seen = 0, readable = 0;

	for (size_t i = 0; i < (cfg->journal_dir ? 1 : 2); i++) {
		const char *dir = cfg->journal_dir ? cfg->journal_dir : local[i];
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0)
			count_journal_files(fd, cfg->journal_dir ? 0 : 1, &seen, &readable);
	}
	return seen > 0 && readable == 0 ? -EACCES : 0;
}

static int journal_open(struct kwatch *k, const struct kwatch_config *cfg)
{
	int r, fd;

	if (cfg->journal_dir)
		r = sd_journal_open_directory(&k->j, cfg->journal_dir, 0);
	else
		r = sd_journal_open(&k->j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
	if (r < 0)
		return r;
	r = journal_check_readable(cfg);
	if (r < 0)
		return r;
	r = sd_journal_add_match(k->j, "_TRANSPORT=kernel", 0);
	if (r >= 0)
		r = sd_journal_add_disjunction(k->j);
	if (r >= 0)
		r = sd_journal_add_match(k->j, "MESSAGE_ID=" KWATCH_MISSED_ID, 0);
	if (r < 0)
		return r;
	/* From now on. If the journal is still empty, seek_tail would leave the cursor
	 * "after nothing" and a file that appears later with a burst would have its first
	 * entries skipped: start from the head instead (nothing old to skip anyway). */
	r = sd_journal_seek_tail(k->j);
	if (r < 0)
		return r;
	r = sd_journal_previous(k->j);
	if (r == 0)
		(void)sd_journal_seek_head(k->j);
	fd = sd_journal_get_fd(k->j);
	if (fd < 0)
		return fd;
	k->jev = event_new(k->base, fd, EV_READ | EV_PERSIST, journal_on_event, k);
	k->jtimer = evtimer_new(k->base, journal_on_event, k);
	if (!k->jev || !k->jtimer || event_add(k->jev, NULL) < 0)
		return -ENOMEM;
	/* The first process() call reports INVALIDATE at once: consume it now. */
	(void)sd_journal_process(k->j);
	journal_rearm(k);
	k->source = KWATCH_JOURNAL;
	return 0;
}

/* ---- /dev/kmsg or FIFO ---- */

/* /dev/kmsg numbers every record; a read that finds its next one overwritten fails with
 * EPIPE and then goes on at the oldest one kept: the gap is what was lost. */
static void kmsg_seq(struct kwatch *k, uint64_t seq)
{
	if (k->have_seq && seq > k->last_seq + 1) {
		k->lost += seq - k->last_seq - 1;
		k->lost_total += seq - k->last_seq - 1;
	}
	k->have_seq = true;
	k->last_seq = seq;
}

/* " KEY=value", a kmsg record's continuation (SUBSYSTEM=, DEVICE=); not a plain line
 * that begins with a blank, as `dmesg -t` prints a device without a driver word. */
static bool kmsg_dict_line(const char *s, size_t len)
{
	size_t i = 1;

	if (len < 3 || s[0] != ' ')
		return false;
	while (i < len &&
	       ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
		i++;
	return i > 1 && i < len && s[i] == '=';
}

/* A "[  12.345678]" stamp at s: its µs, or UINT64_MAX. */
static uint64_t stamp_at(const char *s, size_t len)
{
	size_t i = 1;
	uint64_t sec = 0, us = 0;
	int frac = 0;

	if (len < 4 || s[0] != '[')
		return UINT64_MAX;
	while (i < len && s[i] == ' ')
		i++;
	if (i == len || s[i] < '0' || s[i] > '9')
		return UINT64_MAX;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		if ((sec = sec * 10 + (uint64_t)(s[i] - '0')) > UINT32_MAX)
			return UINT64_MAX;
	if (i == len || s[i++] != '.')
		return UINT64_MAX;
	for (; i < len && s[i] >= '0' && s[i] <= '9' && frac < 6; i++, frac++)
		us = us * 10 + (uint64_t)(s[i] - '0');
	if (frac != 6 || i == len || s[i] != ']')
		return UINT64_MAX;
	return sec * 1000000u + us;
}

/* dmesg's "[  12.345678] " stamp at the start of a plain line, before a syslog host
 * (`journalctl -o short-monotonic`) or after the "<3>" of `dmesg -r` or the
 * "kern  :err   : " of `dmesg -x`: its µs since boot, or UINT64_MAX when there is none. */
static uint64_t dmesg_stamp_us(const char *line, size_t len)
{
	const char *s = klog_skip_prefix(line, line + len);
	uint64_t us = stamp_at(line, len);

	return us != UINT64_MAX ? us : stamp_at(s, len - (size_t)(s - line));
}

/* Hands one line on; returns 1 when it was one, 0 when skipped. */
static int kmsg_line(struct kwatch *k, const char *s, size_t len)
{
	struct klog_record rec;
	struct kwatch_line line = {.priority = -1};

	if (len && s[len - 1] == '\r')
		len--;
	if (len == 0 || kmsg_dict_line(s, len))
		return 0;
	if (klog_parse_kmsg(s, len, &rec) == 0) {
		kmsg_seq(k, rec.seq);
		if (rec.facility != 0)
			return 0; /* userspace printed into kmsg: not the kernel */
		if (rec.usec < k->skip_before_us) {
			/* printed before the start, as /dev/kmsg's backlog is */
			k->skipped++;
			k->skipped_total++;
			return 0;
		}
		line.msg = rec.msg;
		line.len = rec.msg_len;
		line.priority = rec.level;
		line.mono_us = rec.usec;
	} else {
		/* A plain line (a FIFO fed with dmesg output): `dmesg -w` stamps it. */
		uint64_t stamp = dmesg_stamp_us(s, len);

		if (k->skip_before_us && stamp < k->skip_before_us) {
			k->skipped++;
			k->skipped_total++;
			return 0;
		}
		if (stamp != UINT64_MAX)
			line.mono_us = stamp;
		line.msg = s;
		line.len = len;
	}
	if (line.mono_us > k->newest_us)
		k->newest_us = line.mono_us;
	line.lost = k->lost;
	line.skipped = k->skipped;
	k->lost = 0;
	k->skipped = 0;
	k->fn(k->arg, &line);
	return 1;
}

/* Lines skipped that no line delivered after them has reported: said with no text, so
 * that a backlog followed by silence is counted where it is seen. */
static void kmsg_report_skipped(struct kwatch *k)
{
	struct kwatch_line line = {.msg = "", .priority = -1};

	if (!k->skipped)
		return;
	line.skipped = k->skipped;
	k->skipped = 0;
	k->fn(k->arg, &line);
}

/* The bytes in buf that a writer left without their newline: a line cut mid-way (or
 * the rest of an over-long one), lost. */
static void kmsg_cut(struct kwatch *k)
{
	struct klog_record rec;

	/* Its number is taken, or the next record would count it again as a gap. */
	if (!k->skipping && k->used && k->buf[0] != ' ' &&
	    klog_parse_kmsg(k->buf, k->used, &rec) == 0)
		kmsg_seq(k, rec.seq);
	if (k->used || k->skipping) {
		k->lost++;
		k->lost_total++;
	}
	k->used = 0;
	k->skipping = false;
}

/* What kmsg_read() stopped at. */
enum kmsg_end {
	KMSG_DRAINED, /* it would block (or failed: the next wake-up repeats it) */
	KMSG_EOF,     /* a FIFO without writers */
	KMSG_MORE,    /* the turn's share was read: the fd, level-triggered, wakes us again */
};

/* Reads what fd holds, at most 256 reads and KWATCH_LINES_PER_TURN lines (and what the
 * read that reached them brought). */
static enum kmsg_end kmsg_read_turn(struct kwatch *k)
{
	int lines = 0;

	for (int n = 0; n < 256; n++) {
		if (lines >= KWATCH_LINES_PER_TURN)
			return KMSG_MORE;
		ssize_t r = read(k->fd, k->buf + k->used, sizeof(k->buf) - k->used);
		size_t start = 0, i;

		if (r < 0) {
			if (errno == EPIPE)
				continue; /* /dev/kmsg: records overwritten before we read them */
			return KMSG_DRAINED;
		}
		if (r == 0)
			return KMSG_EOF;
		k->used += (size_t)r;
		for (i = 0; i < k->used; i++) {
			if (k->buf[i] != '\n')
				continue;
			if (!k->skipping) {
				lines += kmsg_line(k, k->buf + start, i - start);
			} else {
				k->lost++;
				k->lost_total++;
			}
			k->skipping = false;
			start = i + 1;
		}
		memmove(k->buf, k->buf + start, k->used - start);
		k->used -= start;
		if (k->used == sizeof(k->buf)) {
			/* A line longer than any kernel record: drop it up to its newline (counted
			 * there). A record's number is taken first, or the next one would count
			 * it again as a gap. */
			struct klog_record rec;
			if (!k->skipping && k->buf[0] != ' ' &&
			    klog_parse_kmsg(k->buf, k->used, &rec) == 0)
				kmsg_seq(k, rec.seq);
			k->used = 0;
			k->skipping = true;
		}
	}
	return KMSG_MORE;
}

static enum kmsg_end kmsg_read(struct kwatch *k)
{
	enum kmsg_end e = kmsg_read_turn(k);

	kmsg_report_skipped(k);
	return e;
}

static void kmsg_on_read(evutil_socket_t fd, short what, void *arg);

/* Reads from the FIFO now at the path, if it is another one than fd (or there is no fd,
 * or old_done: fd is at its end), after what the old one still holds; a line its writer
 * left unfinished is lost. 0, or -errno with fd kept (no FIFO there: -EINVAL). */
static int fifo_switch(struct kwatch *k, bool old_done)
{
	struct event *ev;
	struct stat st;
	int fd;

	fd = open(k->path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (k->fd >= 0 && !old_done && st.st_dev == k->dev && st.st_ino == k->ino) {
		close(fd);
		return 0;
	}
	ev = event_new(k->base, fd, EV_READ | EV_PERSIST, kmsg_on_read, k);
	if (!ev || event_add(ev, NULL) < 0) {
		if (ev)
			event_free(ev);
		close(fd);
		return -ENOMEM;
	}
	if (k->fd >= 0) {
		/* All of it: what stays in the old FIFO is gone once it is closed (bounded
		 * against a writer that never stops: 64 turns hold a 1 MiB pipe). */
		for (int t = 0; !old_done && t < 64 && kmsg_read(k) == KMSG_MORE; t++)
			;
		event_free(k->kev);
		close(k->fd);
	}
	kmsg_cut(k);
	/* A new writer: a feeder restarted (`dmesg -w` again) prints the whole ring once
	 * more, what was handed on already among it. */
	if (k->newest_us && k->newest_us >= k->skip_before_us)
		k->skip_before_us = k->newest_us + 1;
	k->fd = fd;
	k->kev = ev;
	k->dev = st.st_dev;
	k->ino = st.st_ino;
	return 0;
}

/* Closes the FIFO read, cutting what its writer left unfinished: the watch waits for
 * the next one made at the path. */
static void fifo_stop(struct kwatch *k)
{
	kmsg_cut(k);
	event_free(k->kev);
	k->kev = NULL;
	close(k->fd);
	k->fd = -1;
}

static void kmsg_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct kwatch *k = arg;
	int r;

	(void)fd;
	(void)what;
	if (kmsg_read(k) != KMSG_EOF || !k->path)
		return;
	/* The last writer left: a FIFO opened anew does not report it again (one that stayed
	 * open would, on every turn). Opened from the path, which may name another by now;
	 * with nothing there, the directory's watch brings the next one. */
	r = fifo_switch(k, true);
	if (r < 0) {
		fifo_stop(k);
		/* Something that cannot be read stands there: said here when no watch of the
		 * directory will say it. */
		if (r != -ENOENT && k->ifd < 0 && k->on_path)
			k->on_path(k->arg, k->path, r);
	}
}

/* Something was created or moved into the FIFO's directory. */
static void fifo_on_dir(evutil_socket_t fd, short what, void *arg)
{
	struct kwatch *k = arg;
	char buf[4096];
	bool ours = false;
	ssize_t n;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (const char *p = buf; p < buf + n;) {
			struct inotify_event e; /* copied: a cast would claim an alignment */
			memcpy(&e, p, sizeof(e));
			const char *name = p + sizeof(e); /* NUL-padded to e.len */
			/* An overflowed queue may have lost ours: look. */
			if ((e.len && strcmp(name, k->base_name) == 0) || (e.mask & IN_Q_OVERFLOW))
				ours = true;
			p += sizeof(e) + e.len;
		}
	}
	if (ours) {
		bool waited = k->fd < 0;
		int r = fifo_switch(k, false);

		/* What replaced the FIFO read (a regular file renamed over it) is where its
		 * writers now go: the old one, unlinked, gets no more. Read what it still
		 * holds, then wait as when that is there at the start. */
		if (!waited && r < 0 && r != -ENOENT && r != -ENOMEM) {
			for (int t = 0; t < 64 && kmsg_read(k) == KMSG_MORE; t++)
				;
			fifo_stop(k);
		}
		/* Said once per thing made there, whatever it is: the wait is over, or a
		 * file that cannot be followed stands in the way. */
		if ((waited || k->fd < 0) && r != -ENOENT && k->on_path)
			k->on_path(k->arg, k->path, r);
	}
}

/* What the FIFO holds when the watch begins was written before the start: skipped, as
 * /dev/kmsg's backlog is (a kick failure from then must not start a recovery), and
 * counted. A line under way is kept: its end comes after the start. Returns whether
 * the FIFO has a writer (a read that finds none says end of file). */
static bool fifo_skip_backlog(struct kwatch *k)
{
	/* Bounded against a writer that never stops. */
	for (int n = 0; n < 256; n++) {
		ssize_t r = read(k->fd, k->buf + k->used, sizeof(k->buf) - k->used);
		const char *nl;

		if (r <= 0)
			return r != 0;
		k->used += (size_t)r;
		nl = memrchr(k->buf, '\n', k->used);
		if (nl) {
			size_t end = (size_t)(nl + 1 - k->buf), start = 0;

			/* Counted as kmsg_line() would have taken them: a record's dictionary
			 * lines and empty lines are no lines of their own. */
			for (size_t i = 0; i < end; i++) {
				size_t len = i - start;

				if (k->buf[i] != '\n')
					continue;
				if (len && k->buf[i - 1] == '\r')
					len--;
				if ((len || k->skipping) && !kmsg_dict_line(k->buf + start, len))
					k->skipped_total++;
				k->skipping = false;
				start = i + 1;
			}
			k->used -= end;
			memmove(k->buf, k->buf + end, k->used);
		} else if (k->used == sizeof(k->buf)) {
			/* Longer than any record: dropped up to its newline, as kmsg_read()
			 * does, not its tail read as a line of its own. */
			k->used = 0;
			k->skipping = true;
		}
	}
	return true;
}

/* Feeders replace their FIFO (rename a new one over it, or remove it and make it again):
 * its directory is watched so that the new one is read. Without inotify the FIFO is read
 * as long as it has writers. */
static void fifo_watch(struct kwatch *k)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(k->path, '/');
	size_t n = slash ? (size_t)(slash - k->path) : 0;

	k->base_name = slash ? slash + 1 : k->path;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", n ? (int)n : 1, n ? k->path : "/");
	k->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (k->ifd < 0)
		return;
	if (inotify_add_watch(k->ifd, dir, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0 ||
	    !(k->iev = event_new(k->base, k->ifd, EV_READ | EV_PERSIST, fifo_on_dir, k)) ||
	    event_add(k->iev, NULL) < 0) {
		if (k->iev)
			event_free(k->iev);
		k->iev = NULL;
		close(k->ifd);
		k->ifd = -1;
	}
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* kmsg_path names nothing yet (err -ENOENT), or a regular file (-EINVAL): a FIFO whose
 * feeder starts after the daemon, or a redirection made without mkfifo. Its directory
 * is watched (as for a replaced FIFO) and the FIFO read once it is made. A device under
 * /dev is never made later (missing, the service's sandbox hides it or there is no such
 * driver): that stays an error, as does a directory that cannot be watched. */
static int kmsg_wait(struct kwatch *k, const char *path, int err)
{
	int r;

	if (strncmp(path, "/dev/", 5) == 0)
		return err;
	k->path = strdup(path);
	if (!k->path)
		return -ENOMEM;
	fifo_watch(k);
	if (k->ifd < 0)
		return err;
	k->skip_before_us = now_us();
	k->source = KWATCH_KMSG;
	/* There already, or made between the stat and the watch: no event will say so.
	 * What cannot be read is said as when it is made later. */
	r = fifo_switch(k, false);
	if (r < 0 && r != -ENOENT && k->on_path)
		k->on_path(k->arg, k->path, r);
	return 0;
}

/* /dev/kmsg opens at the oldest record the ring keeps: all of it printed before the
 * start, skipped (a kick failure from then must not start a recovery) and counted, one
 * read per record. Its numbers are taken, so that a gap right after is seen. */
static void kmsg_skip_ring(struct kwatch *k)
{
	/* Bounded against a kernel that never stops printing: the rest is passed over. */
	for (int n = 0; n < (1 << 20); n++) {
		ssize_t r = read(k->fd, k->buf, sizeof(k->buf));
		struct klog_record rec;

		if (r < 0 && errno == EPIPE)
			continue; /* overwritten while we read: gone before the start anyway */
		if (r <= 0)
			return;
		if (klog_parse_kmsg(k->buf, (size_t)r, &rec) < 0)
			continue;
		k->have_seq = true;
		k->last_seq = rec.seq;
		if (rec.facility == 0)
			k->skipped_total++;
	}
	(void)lseek(k->fd, 0, SEEK_END);
}

static int kmsg_open(struct kwatch *k, const struct kwatch_config *cfg)
{
	const char *path = cfg->kmsg_path ? cfg->kmsg_path : "/dev/kmsg";
	struct stat st;
	int r;

	if (stat(path, &st) < 0)
		return errno == ENOENT ? kmsg_wait(k, path, -ENOENT) : -errno;
	/* What can be polled: /dev/kmsg or a FIFO (a regular file cannot, nor can
	 * /dev/null: epoll refuses them). A regular file outside /dev is waited past, as
	 * when one replaces the FIFO read: a FIFO put there is read. */
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode))
		return kmsg_wait(k, path, -EINVAL);
	if (!S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode))
		return -EINVAL;
	if (S_ISFIFO(st.st_mode)) {
		/* Read-only, so that a writer leaving is seen (end of file): the line it was
		 * writing is then cut, not glued to the next writer's. */
		k->path = strdup(path);
		if (!k->path)
			return -ENOMEM;
		r = fifo_switch(k, false);
		if (r < 0)
			return r;
		/* No writer yet: the feeder starts after the daemon, as with a FIFO made
		 * later, and what it prints first may be the whole ring. */
		if (!fifo_skip_backlog(k))
			k->skip_before_us = now_us();
		fifo_watch(k);
		k->source = KWATCH_KMSG;
		return 0;
	}
	k->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	kmsg_skip_ring(k);
	k->kev = event_new(k->base, k->fd, EV_READ | EV_PERSIST, kmsg_on_read, k);
	if (!k->kev)
		return -ENOMEM;
	errno = 0;
	if (event_add(k->kev, NULL) < 0)
		return errno == EPERM ? -EINVAL : errno ? -errno : -ENOMEM; /* EPERM: no poll */
	k->source = KWATCH_KMSG;
	return 0;
}

bool kwatch_journald_runs(void)
{
	return access("/run/systemd/journal/socket", F_OK) == 0;
}

int kwatch_new(struct event_base *base, const struct kwatch_config *cfg, kwatch_line_fn fn,
	       void *arg, struct kwatch **out)
{
	struct kwatch *k;
	enum kwatch_source src = cfg->source;
	int r;

	*out = NULL;
	if (!fn)
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->fd = -1;
	k->ifd = -1;
	k->fn = fn;
	k->on_path = cfg->on_path;
	k->arg = arg;
	k->base = base;
	if (cfg->off) {
		*out = k;
		return 0;
	}
	if (src == KWATCH_OFF)
		src = (cfg->journal_dir || kwatch_journald_runs()) ? KWATCH_JOURNAL : KWATCH_KMSG;
	r = src == KWATCH_JOURNAL ? journal_open(k, cfg) : kmsg_open(k, cfg);
	if (r < 0) {
		kwatch_free(k);
		return r;
	}
	*out = k;
	return 0;
}

struct kwatch *kwatch_free(struct kwatch *k)
{
	if (!k)
		return NULL;
	if (k->kev)
		event_free(k->kev);
	if (k->fd >= 0)
		close(k->fd);
	if (k->iev)
		event_free(k->iev);
	if (k->ifd >= 0)
		close(k->ifd);
	free(k->path);
	if (k->jev)
		event_free(k->jev);
	if (k->jtimer)
		event_free(k->jtimer);
	if (k->j)
		sd_journal_close(k->j);
	free(k);
	return NULL;
}
