/* The listening Unix socket (socket activation, stale socket, mode and group). */
#include "server.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "config.h" /* the build's: M7B_VERSION */
#include "proto.h"

struct server {
	int fd;
	char *path;
	bool activated; /* from LISTEN_FDS: the service manager owns the file */
	bool created;
	dev_t dev; /* the file created at bind, while the path still names it */
	ino_t ino;
	struct event *ev;
	const struct log *log;
	server_accept_fn on_accept;
	void *ud;
	/* Out of descriptors (EMFILE/ENFILE): one kept free to accept and refuse with. */
	int spare_fd;
	bool paused;		 /* the listen event is off until a client closes or a tick */
	bool exhausted;		 /* an episode runs: logged once at its start and its end */
	uint64_t refused;	 /* connections refused in this episode */
	struct event *ev_resume; /* retries accepting while paused */
};

#define SERVER_RESUME_MS 1000
#define SERVER_LOCK_MS	 2000 /* at most, waiting for another daemon's start on the path */

/* Takes the pending connections with the spare descriptor and refuses each with VERSION
 * (clients may rely on it coming first) and an ERROR line in one write, so no client
 * waits in the backlog for a daemon that cannot take it. */
static void refuse_pending(struct server *s)
{
	char line[512];
	int v = proto_render_version(line, sizeof(line), M7B_VERSION);
	int e = v > 0 ? proto_render_error(line + v, sizeof(line) - (size_t)v, "", PROTO_E_BUSY,
					   "the daemon is out of file descriptors", NULL)
		      : -1;
	int n = v > 0 && e > 0 ? v + e : -1;

	for (int i = 0; i < 64 && s->spare_fd >= 0; i++) {
		close(s->spare_fd);
		int c = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c >= 0) {
			if (n > 0)
				(void)!write(c, line, (size_t)n);
			close(c);
			s->refused++;
		}
		s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (c < 0)
			break;
	}
}

/* accept() failed with err (EMFILE, ENFILE, ENOBUFS, ...): refuse what waits, stop
 * listening until a client closes (server_resume) or a second passed; log once. */
static void pause_accepting(struct server *s, int err)
{
	struct timeval tv = {SERVER_RESUME_MS / 1000, (SERVER_RESUME_MS % 1000) * 1000};

	if (err == EMFILE || err == ENFILE)
		refuse_pending(s);
	if (!s->exhausted)
		log_struct(s->log, LOG_ERR, &(struct log_fields){.err = err},
			   "accept: %s: not accepting clients until one leaves (pending ones "
			   "are refused)",
			   strerror(err));
	s->exhausted = true;
	s->paused = true;
	event_del(s->ev);
	evtimer_add(s->ev_resume, &tv);
}

static void on_listen(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	/* Accept everything pending; never read here (the client reads in its own event). */
	for (int i = 0; i < 64; i++) {
		int c = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				pause_accepting(s, errno);
			return;
		}
		if (s->spare_fd < 0)
			s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		s->on_accept(s->ud, c);
	}
}

/* Listens again (the retry tick, or a client left). */
static void unpause(struct server *s)
{
	if (!s->paused)
		return;
	s->paused = false;
	evtimer_del(s->ev_resume);
	if (event_add(s->ev, NULL) < 0)
		pause_accepting(s, ENOMEM);
}

void server_resume(struct server *s)
{
	if (!s)
		return;
	/* A client left: the episode ends here, whatever the retry ticks saw before. */
	if (s->exhausted) {
		log_struct(s->log, LOG_NOTICE, NULL,
			   "a client left: accepting clients again; %llu refused meanwhile",
			   (unsigned long long)s->refused);
		s->exhausted = false;
		s->refused = 0;
	}
	unpause(s);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	unpause(arg); /* a retry inside the episode: it logs nothing new */
}

/* A socket file is stale if nobody accepts on it. */
static int remove_stale(const char *path, const struct log *log)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_struct(log, LOG_ERR, NULL, "%s exists and is not a socket: not touching it",
			   path);
		return -EEXIST;
	}
	/* Non-blocking: a live daemon that does not accept (its backlog full) answers
	 * EAGAIN at once, where a blocking connect would wait for it for ever. */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	int e = errno;
	close(fd);
	if (r == 0 || e == EAGAIN) {
		log_struct(log, LOG_ERR, NULL, "%s is in use: another m7bridged is running%s", path,
			   r == 0 ? "" : " (and not accepting)");
		return -EADDRINUSE;
	}
	if (e != ECONNREFUSED && e != ENOENT) {
		log_struct(log, LOG_ERR, NULL, "cannot check %s: %s", path, strerror(e));
		return -e;
	}
	log_struct(log, LOG_INFO, NULL, "removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Checks the path (stale socket, another daemon), binds with the mode and group, listens. */
static int bind_listen(struct server *s, const struct conf_daemon *cfg)
{
	const char *path = cfg->socket_path;
	int r = remove_stale(path, s->log);
	if (r < 0)
		return r;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	/* The file gets its mode at bind and no path is chmod'ed after: between the two, a
	 * symlink swapped in at the path would lead a root daemon to chmod the link's target.
	 * Linux creates the file with the socket inode's mode (set here by fchmod) less the
	 * umask; the umask alone gives the same, whatever mode the socket inode starts with. */
	if (fchmod(s->fd, (mode_t)cfg->socket_mode) < 0) {
		int e = errno;
		log_struct(s->log, LOG_ERR, NULL, "cannot set the mode of %s: %s", path,
			   strerror(e));
		return -e;
	}
	mode_t old = umask(0777 & ~(mode_t)cfg->socket_mode);
	r = bind(s->fd, (struct sockaddr *)&a, sizeof(a));
	int e = errno;
	umask(old);
	if (r < 0) {
		log_struct(s->log, LOG_ERR, NULL, "cannot bind %s: %s", path, strerror(e));
		return -e;
	}
	s->created = true;
	struct stat st;
	if (lstat(path, &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	if (cfg->socket_group) {
		struct group *g = getgrnam(cfg->socket_group);
		if (!g) {
			log_struct(s->log, LOG_ERR, NULL, "socket_group %s: no such group",
				   cfg->socket_group);
			return -ENOENT;
		}
		/* Not following a link: one swapped in since bind keeps its target's group. */
		if (fchownat(AT_FDCWD, path, (uid_t)-1, g->gr_gid, AT_SYMLINK_NOFOLLOW) < 0) {
			e = errno;
			log_struct(s->log, LOG_ERR, NULL, "cannot give %s to group %s: %s", path,
				   cfg->socket_group, strerror(e));
			return -e;
		}
	}
	if (listen(s->fd, 128) < 0)
		return -errno;
	return 0;
}

/* Takes the lock on the socket's directory that daemons starting on one path hold from
 * their check of the path to their listen(): between bind() and listen() a socket refuses
 * connections like a stale one, and a second daemon checking then would remove it and
 * bind its own, leaving the first listening on a file nobody reaches. Held for those
 * few steps only, so a second daemon waits at most SERVER_LOCK_MS, then goes on without
 * it. The locked descriptor (close it to unlock), or -1. */
static int lock_dir(const char *dir, const struct log *log)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1; /* a directory we cannot read: bind() will say what is wrong */
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; waited += 10) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || waited >= SERVER_LOCK_MS) {
			log_struct(log, LOG_WARNING, NULL,
				   "cannot lock %s (%s): checking the socket path without it", dir,
				   errno == EWOULDBLOCK ? "held by another process"
							: strerror(errno));
			close(fd);
			return -1;
		}
		usleep(10000);
	}
	return fd;
}

/* The directory of the socket file at path, into dir (108 bytes). True unless it is the
 * root or the working directory. */
static bool socket_dir(const char *path, char *dir)
{
	snprintf(dir, 108, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		return true;
	}
	snprintf(dir, 108, "%s", slash ? "/" : ".");
	return false;
}

static int listen_path(struct server *s, const struct conf_daemon *cfg)
{
	char dir[108];
	/* The parent normally comes from RuntimeDirectory= or tmpfiles; make it if not. */
	if (socket_dir(cfg->socket_path, dir) && mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int e = errno;
		log_struct(s->log, LOG_ERR, NULL, "cannot create %s: %s", dir, strerror(e));
		return -e;
	}
	int lock = lock_dir(dir, s->log);
	int r = bind_listen(s, cfg);
	if (lock >= 0)
		close(lock);
	return r;
}

/* FDNAME= prefix of the descriptors the daemon stores itself (ptybridge's ptys): never
 * the clients' socket, whatever they are. */
#define SERVER_STORED_PREFIX "pty-"

/* Whether fd is a listening Unix stream socket bound at path. */
static bool bound_at(int fd, const char *path)
{
	struct sockaddr_un a;
	socklen_t len = sizeof(a);
	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0 ||
	    len <= offsetof(struct sockaddr_un, sun_path))
		return false;
	return strncmp(a.sun_path, path, sizeof(a.sun_path)) == 0;
}

/* The clients' socket among the n descriptors the service manager passed: a listening
 * Unix stream socket not named as one of the daemon's stored ptys (names from
 * LISTEN_FDNAMES; without them, "unknown"), the one bound at the configured path first
 * if several are. -1 when none; *listening and *other count the sockets of each kind. */
static int pick_activated(int n, char **names, const char *path, int *listening, int *other)
{
	int fd = -1;
	*listening = *other = 0;
	for (int i = 0; i < n; i++) {
		int cand = SD_LISTEN_FDS_START + i;
		const char *name = names ? names[i] : NULL;
		if (name && strncmp(name, SERVER_STORED_PREFIX, strlen(SERVER_STORED_PREFIX)) == 0)
			continue; /* a stored pty's, ptybridge's to refuse if it is not one */
		if (sd_is_socket(cand, AF_UNSPEC, 0, -1) <= 0)
			continue;
		if (sd_is_socket_unix(cand, SOCK_STREAM, 1, NULL, 0) <= 0) {
			(*other)++;
			continue;
		}
		(*listening)++;
		if (fd < 0 || (!bound_at(fd, path) && bound_at(cand, path)))
			fd = cand;
	}
	return fd;
}

/* The name of a bound socket as logs show it: its path, or "@" and the name of an
 * abstract socket (ListenStream=@NAME), which has no file and may hold any byte (shown
 * as '?' unless printable). NULL on ENOMEM. */
static char *socket_name(const struct sockaddr_un *a, socklen_t len)
{
	size_t n = len - offsetof(struct sockaddr_un, sun_path);
	if (a->sun_path[0])
		return strndup(a->sun_path, n);
	char *name = malloc(n + 1);
	if (!name)
		return NULL;
	name[0] = '@';
	for (size_t i = 1; i < n; i++)
		name[i] = a->sun_path[i] >= 0x20 && a->sun_path[i] < 0x7f ? a->sun_path[i] : '?';
	name[n] = '\0';
	return name;
}

/* Takes the socket the service manager passed (socket activation) among its n
 * descriptors (the others are the ptys it kept, ptybridge's). 0, 1 when none is a
 * socket, or -errno. */
static int adopt_activated(struct server *s, int n, const char *path)
{
	char **names = NULL;
	int listening, other;
	/* Names that do not match the descriptors are not believed (ptybridge says so). */
	if (sd_listen_fds_with_names(0, &names) != n && names) {
		for (int i = 0; names[i]; i++)
			free(names[i]);
		free(names);
		names = NULL;
	}
	int fd = pick_activated(n, names, path, &listening, &other);
	if (names) {
		for (int i = 0; names[i]; i++)
			free(names[i]);
		free(names);
	}
	if (fd < 0 && other == 0)
		return 1;
	/* EPROTOTYPE: the unit's socket is of the wrong kind, which no restart mends. */
	if (fd < 0)
		return log_struct_errno(s->log, LOG_ERR, NULL, -EPROTOTYPE,
					"the socket from the service manager is not a listening "
					"Unix stream socket");
	if (listening + other > 1)
		log_struct(s->log, LOG_WARNING, NULL,
			   "%d sockets from the service manager: taking descriptor %d for the "
			   "clients, the others are not used",
			   listening + other, fd);
	s->fd = fd;
	s->activated = true;
	int fl = fcntl(s->fd, F_GETFL);
	if (fl < 0 || fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(s->fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	struct sockaddr_un a;
	socklen_t len = sizeof(a);
	if (getsockname(s->fd, (struct sockaddr *)&a, &len) == 0 &&
	    len > offsetof(struct sockaddr_un, sun_path)) {
		free(s->path);
		s->path = socket_name(&a, len);
	}
	return 0;
}

int server_check_passed(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end;

	if (!pid || !fds)
		return 0;
	errno = 0;
	long p = strtol(pid, &end, 10), n;
	if (errno || *end)
		p = 0; /* no process: not ours either */
	errno = 0;
	n = strtol(fds, &end, 10);
	if (errno || *end || n <= 0)
		return 0; /* junk: sd_listen_fds() refuses it */
	if (p != (long)getpid())
		return -ESRCH; /* another's: sd_listen_fds() ignores them */
	for (long i = 0; i < n && i < INT_MAX - SD_LISTEN_FDS_START; i++) {
		if (fcntl(SD_LISTEN_FDS_START + (int)i, F_GETFD) < 0) {
			unsetenv("LISTEN_PID");
			unsetenv("LISTEN_FDS");
			unsetenv("LISTEN_FDNAMES");
			return -EBADF;
		}
	}
	return 0;
}

int server_new(struct event_base *base, const struct conf_daemon *cfg, const struct log *log,
	       server_accept_fn on_accept, void *ud, struct server **out)
{
	struct server *s = calloc(1, sizeof(*s));
	int r = -ENOMEM;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s->log = log;
	s->on_accept = on_accept;
	s->ud = ud;
	s->path = strdup(cfg->socket_path);
	if (!s->path)
		goto fail;
	/* The environment stays for the ptys the service manager kept (ptybridge). */
	int n = sd_listen_fds(0);
	r = n > 0 ? adopt_activated(s, n, cfg->socket_path) : 1;
	if (r == 1)
		r = listen_path(s, cfg);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	s->ev = event_new(base, s->fd, EV_READ | EV_PERSIST, on_listen, s);
	s->ev_resume = evtimer_new(base, on_resume, s);
	if (!s->ev || !s->ev_resume || event_add(s->ev, NULL) < 0)
		goto fail;
	log_struct(log, LOG_INFO, NULL, "listening on %s%s", s->path ? s->path : "?",
		   s->activated ? " (socket activation)" : "");
	*out = s;
	return 0;
fail:
	server_free(s);
	return r;
}

/* Removes the socket file if it is still the one this daemon created: a daemon that
 * started on the path since (it found this one's socket closed, took it for stale and
 * bound its own) keeps its own. Under the start-up lock, so that no daemon replaces the
 * file between the check and the removal. */
static void unlink_own(struct server *s)
{
	char dir[108];
	struct stat st;
	(void)socket_dir(s->path, dir);
	int lock = lock_dir(dir, s->log);
	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	if (lock >= 0)
		close(lock);
}

struct server *server_free(struct server *s)
{
	if (!s)
		return NULL;
	if (s->ev)
		event_free(s->ev);
	if (s->ev_resume)
		event_free(s->ev_resume);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	if (s->fd >= 0)
		close(s->fd);
	if (s->created && s->path)
		unlink_own(s);
	free(s->path);
	free(s);
	return NULL;
}

const char *server_path(const struct server *s)
{
	return s->path;
}

bool server_activated(const struct server *s)
{
	return s->activated;
}
