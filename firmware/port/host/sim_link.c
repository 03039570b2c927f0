/* m7sim's link: a pseudo-terminal in raw mode, published under a symlink, with an
 * RPMSG-like pool of transmit buffers that takes whole frames or nothing. */
#include "sim_link.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

struct sim_link *sim_link_new(const char *path, size_t buffers, size_t buf_size)
{
	struct sim_link *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->master = l->slave = -1;
	l->stale_master = l->stale_slave = -1;
	l->out_cap = buffers * buf_size;
	l->path = strdup(path);
	l->out = malloc(l->out_cap ? l->out_cap : 1);
	if (!l->path || !l->out)
		return sim_link_free(l);
	return l;
}

static void close_pty(struct sim_link *l)
{
	if (l->master >= 0)
		close(l->master);
	if (l->slave >= 0)
		close(l->slave);
	l->master = l->slave = -1;
	/* What the pool held went to a link that no longer exists. */
	l->out_len = 0;
}

static void close_stale(struct sim_link *l)
{
	if (l->stale_master >= 0)
		close(l->stale_master);
	if (l->stale_slave >= 0)
		close(l->stale_slave);
	l->stale_master = l->stale_slave = -1;
}

struct sim_link *sim_link_free(struct sim_link *l)
{
	if (!l)
		return NULL;
	close_pty(l);
	close_stale(l);
	if (l->path)
		(void)unlink(l->path);
	free(l->path);
	free(l->out);
	free(l);
	return NULL;
}

int sim_link_open(struct sim_link *l)
{
	struct termios tio;
	char tmp[4096];
	const char *name;
	int m, s = -1, r;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -errno;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || !(name = ptsname(m)))
		goto fail;
	/* Raw on the master applies to the slave and survives a reopen of the slave:
	 * no echo, no CR/LF rewriting, no XON/XOFF, byte-wise reads. */
	if (tcgetattr(m, &tio) < 0)
		goto fail;
	cfmakeraw(&tio);
	if (tcsetattr(m, TCSANOW, &tio) < 0)
		goto fail;
	s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		goto fail;
	if (fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK) < 0)
		goto fail;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%ld", l->path, (long)getpid()) >=
	    sizeof(tmp)) {
		errno = ENAMETOOLONG;
		goto fail;
	}
	(void)unlink(tmp);
	if (symlink(name, tmp) < 0)
		goto fail;
	if (rename(tmp, l->path) < 0) {
		r = -errno;
		(void)unlink(tmp);
		close(m);
		close(s);
		return r;
	}
	close_pty(l);
	l->master = m;
	l->slave = s;
	snprintf(l->pts, sizeof(l->pts), "%s", name);
	return 0;
fail:
	r = -errno;
	if (s >= 0)
		close(s);
	close(m);
	return r;
}

/* Points the symlink at target, atomically (temporary link + rename). 0 or -errno. */
static int repoint(const struct sim_link *l, const char *target)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%ld", l->path, (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	(void)unlink(tmp);
	if (symlink(target, tmp) < 0)
		return -errno;
	if (rename(tmp, l->path) < 0) {
		int r = -errno;
		(void)unlink(tmp);
		return r;
	}
	return 0;
}

void sim_link_hangup(struct sim_link *l)
{
	close_pty(l);
	/* Dangling, as before, but at a name no other process's pty can take: the number
	 * of the closed /dev/pts/N goes to the next pty opened on the machine, and a
	 * reader following the old link would read that one. */
	(void)repoint(l, "/dev/pts/m7sim-hung-up");
}

void sim_link_vanish(struct sim_link *l)
{
	close_stale(l);
	l->stale_master = l->master;
	l->stale_slave = l->slave;
	l->master = l->slave = -1;
	l->out_len = 0;
	(void)unlink(l->path);
}

bool sim_link_is_open(const struct sim_link *l)
{
	return l->master >= 0;
}

size_t sim_link_room(const struct sim_link *l)
{
	return l->out_cap - l->out_len;
}

int sim_link_write(struct sim_link *l, const uint8_t *buf, size_t n)
{
	if (l->master < 0 || n > sim_link_room(l))
		return -1;
	memcpy(l->out + l->out_len, buf, n);
	l->out_len += n;
	return (int)n;
}

int sim_link_flush(struct sim_link *l)
{
	size_t done = 0;

	while (l->master >= 0 && done < l->out_len) {
		ssize_t n = write(l->master, l->out + done, l->out_len - done);

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			int r = -errno;
			memmove(l->out, l->out + done, l->out_len - done);
			l->out_len -= done;
			return r;
		}
		break;
	}
	memmove(l->out, l->out + done, l->out_len - done);
	l->out_len -= done;
	return 0;
}

ssize_t sim_link_read(struct sim_link *l, uint8_t *buf, size_t n)
{
	ssize_t r;

	if (l->master < 0)
		return 0;
	do {
		r = read(l->master, buf, n);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN ? 0 : -errno;
	return r;
}
