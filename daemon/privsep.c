/* Privilege separation (see privsep.h): the helper's loop, the daemon's calls. */
#include "privsep.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "child.h"
#include "regfile.h"
#include "remoteproc.h"
#include "sv.h"

struct privsep {
	int fd;
	pid_t helper;
	uint32_t seq;
	struct event *ev, *ev_pending;
	privsep_exit_fn on_exit;
	void *ud;
	/* EXITED messages read while waiting for a RESULT, for the loop: grown as needed,
	 * as a command's end that is dropped leaves its step waiting for its timeout. */
	struct privsep_msg *pending;
	size_t npending, cap;
	/* A stop signal came while a call waited: every call gives up at once from then on,
	 * as the stop is under way. */
	bool stopping;
	/* The request that went unanswered within PRIVSEP_CALL_MS (0: none): the helper is
	 * still in it, and takes nothing else until its late answer comes. */
	uint32_t late_seq;
	/* The helper's token for the reading of the file the daemon parsed last (0: none):
	 * the next RELOAD carries it. */
	uint32_t conf_token;
	privsep_wait_fn on_wait;
	void *on_wait_arg;
};

/* ---- the helper ---- */

/* A running command of one channel (driver or hook: one at a time per channel). */
struct helper_cmd {
	struct helper *h;
	char channel[PRIVSEP_CHANNEL_MAX];
	uint32_t token;
	struct child *child;
};

/* A channel whose settings the daemon kept at a SIGHUP (its recovery or reload was
 * running): the helper serves it from the configuration it had then, so that the stop
 * and the start of one step reach the same remoteproc and the ladder's own hook runs.
 * Released by the first RELOAD the daemon does not announce it for. */
struct helper_hold {
	char channel[PRIVSEP_CHANNEL_MAX]; /* "" = free */
	struct conf *cfg;		   /* NULL until the RELOAD it was asked for */
	bool next;			   /* HOLD came: keep it across the next RELOAD */
};

struct helper {
	int fd;
	struct event_base *base;
	struct log log;
	struct conf *cfg;
	const struct privsep_args *a;
	struct helper_cmd cmds[CONF_MAX_CHANNELS];
	struct helper_hold holds[CONF_MAX_CHANNELS];
	/* The configuration parsed from the last READ_CONF's bytes, taken by the RELOAD that
	 * names its token (0: none). */
	struct conf *pending;
	uint32_t pending_token, tokens;
};

/* The configuration channel is served from: its hold's, else the current one. */
static const struct conf *helper_conf_of(const struct helper *h, const char *channel)
{
	for (size_t i = 0; channel && channel[0] && i < CONF_MAX_CHANNELS; i++)
		if (h->holds[i].cfg && strcmp(h->holds[i].channel, channel) == 0)
			return h->holds[i].cfg;
	return h->cfg;
}

/* Sends m, with the descriptor fd attached when fd >= 0. */
static void helper_send_fd(struct helper *h, const struct privsep_msg *m, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl = {0};
	struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (fd >= 0) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(h->fd, &mh, MSG_NOSIGNAL) < 0)
		log_struct(&h->log, LOG_ERR, &(struct log_fields){.err = errno},
			   "privileged helper: cannot answer the daemon: %m");
}

static void helper_send(struct helper *h, const struct privsep_msg *m)
{
	helper_send_fd(h, m, -1);
}

static void helper_on_exit(void *arg, int status)
{
	struct helper_cmd *hc = arg;
	struct privsep_msg m;

	(void)privsep_msg_init(&m, PRIVSEP_EXITED, hc->channel, NULL);
	m.token = hc->token;
	m.result = status;
	helper_send(hc->h, &m);
}

/* The slot of channel's command (its own, or a free one). */
static struct helper_cmd *helper_slot(struct helper *h, const char *channel)
{
	struct helper_cmd *free_slot = NULL;

	for (size_t i = 0; i < CONF_MAX_CHANNELS; i++) {
		if (strcmp(h->cmds[i].channel, channel) == 0)
			return &h->cmds[i];
		if (!h->cmds[i].channel[0] && !free_slot)
			free_slot = &h->cmds[i];
	}
	return free_slot;
}

/* RUN_DRIVER / RUN_HOOK: the command of the helper's own configuration. */
static int helper_run(struct helper *h, const struct conf *cf, const struct conf_channel *cc,
		      const struct privsep_msg *m)
{
	bool driver = m->type == PRIVSEP_RUN_DRIVER;
	struct helper_cmd *hc = helper_slot(h, cc->name);
	struct remoteproc *rp = NULL;
	char store[4][300], *env[5];
	int r;

	if (!hc)
		return -ENOSPC;
	hc->child = child_free(hc->child); /* a command of an abandoned try dies here */
	hc->h = h;
	hc->token = m->token;
	snprintf(hc->channel, sizeof(hc->channel), "%s", cc->name);
	if (cc->remoteproc)
		(void)remoteproc_open(cf->daemon.sup.sysfs_root, cc->remoteproc, &rp);
	sv_priv_env(cc, rp ? rp->dir : NULL, driver ? "driver" : "hook", store, env);
	remoteproc_free(rp);
	struct child_output out = {.log = &h->log,
				   .name = sv_priv_command_key(driver ? "driver" : "hook"),
				   .channel = cc->name};
	r = child_shell(h->base, driver ? cc->sup.driver_reload : cc->sup.hook, env, &out,
			helper_on_exit, hc, &hc->child);
	if (r == 0)
		r = child_deadline(hc->child,
				   driver ? cc->sup.driver_timeout_ms : cc->sup.hook_timeout_ms,
				   SV_COMMAND_GRACE_MS);
	return r < 0 ? r : 1;
}

/* RPROC_*: one write to the remoteproc's sysfs attributes. */
static int helper_rproc(const struct conf *cf, const struct conf_channel *cc,
			const struct privsep_msg *m)
{
	struct remoteproc *rp;
	int r = remoteproc_open(cf->daemon.sup.sysfs_root, cc->remoteproc, &rp);

	if (r < 0)
		return r;
	r = m->type == PRIVSEP_RPROC_STOP    ? remoteproc_stop(rp)
	    : m->type == PRIVSEP_RPROC_START ? remoteproc_start(rp)
					     : remoteproc_set_firmware(rp, m->arg);
	remoteproc_free(rp);
	return r;
}

/* OPEN_TRACE: the trace ring of the channel's remoteproc, under the helper's own
 * debugfs_root (root-only on a board: the daemon cannot open it itself), opened as a
 * regular file only. The fd, or -errno. */
static int helper_open_trace(const struct conf *cf, const struct conf_channel *cc)
{
	const char *root = cf->daemon.sup.debugfs_root;
	char path[PATH_MAX];
	struct remoteproc *rp;
	int r;

	if (!root[0])
		return -ENOENT;
	r = remoteproc_open(cf->daemon.sup.sysfs_root, cc->remoteproc, &rp);
	if (r < 0)
		return r;
	r = snprintf(path, sizeof(path), "%s/remoteproc/%s/trace0", root, rp->instance) <
			    (int)sizeof(path)
		    ? regfile_open(path)
		    : -ENAMETOOLONG;
	remoteproc_free(rp);
	return r;
}

/* HOLD: the daemon keeps channel's settings at the SIGHUP under way. */
static int helper_hold(struct helper *h, const char *channel)
{
	struct helper_hold *free_slot = NULL;

	for (size_t i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct helper_hold *hd = &h->holds[i];
		if (strcmp(hd->channel, channel) == 0) {
			hd->next = true;
			return 0;
		}
		if (!hd->channel[0] && !free_slot)
			free_slot = hd;
	}
	if (!free_slot)
		return -ENOSPC;
	snprintf(free_slot->channel, sizeof(free_slot->channel), "%s", channel);
	free_slot->next = true;
	return 0;
}

/* Whether any hold still serves from cfg. */
static bool helper_conf_held(const struct helper *h, const struct conf *cfg)
{
	for (size_t i = 0; i < CONF_MAX_CHANNELS; i++)
		if (h->holds[i].cfg == cfg)
			return true;
	return false;
}

/* After a RELOAD (ok: read): holds announced for it keep (or take) the configuration
 * they were served from; the others follow the new one. Configurations nobody uses any
 * more are freed. */
static void helper_settle_holds(struct helper *h, struct conf *old, bool ok)
{
	struct conf *was[CONF_MAX_CHANNELS];

	for (size_t i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct helper_hold *hd = &h->holds[i];
		was[i] = hd->cfg;
		if (ok && hd->next && !hd->cfg)
			hd->cfg = old;
		else if (ok && !hd->next)
			hd->cfg = NULL;
		if (!hd->cfg)
			hd->channel[0] = '\0';
		hd->next = false;
	}
	if (!ok)
		return;
	if (old != h->cfg && !helper_conf_held(h, old))
		conf_free(old);
	for (size_t i = 0; i < CONF_MAX_CHANNELS; i++) {
		if (!was[i] || was[i] == old || was[i] == h->cfg || helper_conf_held(h, was[i]))
			continue;
		for (size_t j = i + 1; j < CONF_MAX_CHANNELS; j++)
			if (was[j] == was[i])
				was[j] = NULL; /* freed once */
		conf_free(was[i]);
	}
}

/* A sealed in-memory file holding text's len bytes: the daemon reads exactly what the
 * helper parsed, and nobody can change it after. The fd, or -errno. */
static int helper_snapshot(const char *text, size_t len)
{
	int fd = memfd_create("m7bridged.conf", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			return -e;
		}
		done += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* READ_CONF: the configuration file, read once by the helper, which alone may name the
 * commands it runs and the remoteprocs it writes: never a configuration from the daemon.
 * Parsed here into the pending one; its bytes go to the daemon, which parses them with
 * the same code, so both act on one reading however often the file changes. Parse
 * errors are the daemon's to log (it gets the same from the same bytes), and so is a
 * read error, whose words go in res's arg. 0 with *fd (the bytes), 1 with no file
 * (optional and absent: the defaults), or -errno; res's token names the pending
 * configuration (0: the parse failed). */
static int helper_read_conf(struct helper *h, struct privsep_msg *res, int *fd)
{
	uint32_t *token = &res->token;
	struct conf *n = NULL;
	struct conf_error err;
	char *text = NULL;
	size_t len = 0;
	/* As the daemon: a default file read before and gone now is an error. */
	bool optional = h->a->conf_optional && !(h->cfg->path && h->cfg->path[0]);
	int r = conf_load_text(h->a->conf_path, &text, &len, &err);

	h->pending = conf_free(h->pending);
	h->pending_token = *token = 0;
	*fd = -1;
	if (r < 0 && !(r == -ENOENT && optional)) {
		snprintf(res->arg, sizeof(res->arg), "%s", err.message);
		res->arg_len = (uint32_t)strlen(res->arg);
		return r;
	}
	/* The daemon keeps them too: both stay on the same trees. */
	if (conf_read_text(text, len, h->a->conf_path, h->a->ov, &n, &err) == 0 &&
	    conf_keep_start_keys(n, h->cfg, NULL, 0) < 0)
		n = conf_free(n);
	r = text ? helper_snapshot(text, len) : 1;
	free(text);
	if (r < 0) {
		conf_free(n);
		return r;
	}
	if (n) {
		h->pending = n;
		h->pending_token = *token = ++h->tokens ? h->tokens : ++h->tokens;
	}
	if (r != 1)
		*fd = r;
	return r == 1 ? 1 : 0;
}

/* RELOAD: takes the configuration of the READ_CONF whose bytes the daemon runs on. */
static int helper_reload(struct helper *h, const struct privsep_msg *m)
{
	struct conf *n = h->pending, *old = h->cfg;
	int r = privsep_msg_check_reload(m, h->pending_token);

	if (r < 0) {
		log_struct_errno(&h->log, LOG_ERR, &(struct log_fields){0}, r,
				 "privileged helper: a reload names no configuration it read, "
				 "keeping the old one");
		helper_settle_holds(h, old, false);
		return r;
	}
	h->pending = NULL;
	h->pending_token = 0;
	h->cfg = n;
	h->log.max_level = n->daemon.log_level; /* as the daemon's */
	helper_settle_holds(h, old, true);
	/* A channel that is gone gives its slot back (its command ends, as the daemon's side
	 * of that channel is gone too), or renames would use up the slots. One held is
	 * still the daemon's. */
	for (size_t i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct helper_cmd *hc = &h->cmds[i];
		if (hc->channel[0] &&
		    !conf_find_channel(helper_conf_of(h, hc->channel), hc->channel)) {
			hc->child = child_free(hc->child);
			hc->channel[0] = '\0';
		}
	}
	return 0;
}

/* One request: decoded, checked against the helper's configuration, carried out. An
 * answer's descriptor goes to *fd, its token to res. */
static int helper_handle(struct helper *h, const void *buf, ssize_t len, struct privsep_msg *m,
			 struct privsep_msg *res, int *fd)
{
	const struct conf_channel *cc;
	int r = len < 0 ? -errno : privsep_msg_decode(buf, (size_t)len, m);

	if (r < 0) /* its strings may be unterminated: say nothing of them */
		return log_struct_errno(&h->log, LOG_ERR, &(struct log_fields){0}, r,
					"privileged helper refused a malformed message (%zd bytes)",
					len);
	const struct conf *cf = helper_conf_of(h, m->channel);
	r = privsep_msg_check(cf, m, &cc);
	if (r < 0)
		return log_struct_errno(&h->log, LOG_ERR, &(struct log_fields){0}, r,
					"privileged helper refused %s (channel '%s'): %m",
					privsep_type_to_string((enum privsep_type)m->type),
					m->channel);
	switch ((enum privsep_type)m->type) {
	case PRIVSEP_RELOAD:
		return helper_reload(h, m);
	case PRIVSEP_READ_CONF:
		return helper_read_conf(h, res, fd);
	case PRIVSEP_HOLD:
		return helper_hold(h, cc->name);
	case PRIVSEP_OPEN_TRACE:
		/* An opened file goes with the answer (result 0). */
		r = helper_open_trace(cf, cc);
		*fd = r;
		return r < 0 ? r : 0;
	case PRIVSEP_RUN_DRIVER:
	case PRIVSEP_RUN_HOOK:
		return helper_run(h, cf, cc, m);
	default:
		return helper_rproc(cf, cc, m);
	}
}

static void helper_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct helper *h = arg;
	char buf[sizeof(struct privsep_msg) + 1];
	struct privsep_msg m = {0}, res;
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	(void)what;
	if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
		event_base_loopbreak(h->base); /* the daemon is gone: so are we */
		return;
	}
	if (n < 0)
		return;
	int opened = -1, r;

	(void)privsep_msg_init(&res, PRIVSEP_RESULT, NULL, NULL);
	r = helper_handle(h, buf, n, &m, &res, &opened);
	res.seq = m.seq;
	res.result = r;
	helper_send_fd(h, &res, opened);
	if (opened >= 0)
		close(opened); /* the helper keeps no copy */
}

/* The helper keeps nothing of the daemon's but its end of the socket: the sockets the
 * service manager passed (LISTEN_FDS: the clients' listening socket, which the daemon
 * takes only after the fork) are closed, and every other descriptor is closed on exec,
 * so no command the helper runs holds any of them. */
static void helper_shed(int keep)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");

	if (pid && n && strtol(pid, NULL, 10) == (long)getppid()) {
		long k = strtol(n, NULL, 10);
		for (long i = 0; i >= 0 && i < k && i < 4096; i++)
			if (SD_LISTEN_FDS_START + (int)i != keep)
				close(SD_LISTEN_FDS_START + (int)i);
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (close_range(STDERR_FILENO + 1, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
		long max = sysconf(_SC_OPEN_MAX);
		for (int fd = STDERR_FILENO + 1; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
}

/* The helper process: serves the daemon until it closes the socket. */
static int helper_main(int fd, const struct privsep_args *a)
{
	struct helper h = {.fd = fd, .a = a, .cfg = (struct conf *)a->cfg};
	struct event *ev;

	/* The helper's life is the socket's: it leaves when the daemon closes it. A stop
	 * signals every process of the service at once (systemd's SIGTERM to the cgroup, a
	 * terminal's SIGINT to the group): dying of it would let the daemon, still shutting
	 * down, see its helper die and end a plain stop as a failure. The commands it runs
	 * get default dispositions back (child.c). */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	(void)prctl(PR_SET_NAME, "m7bridged-priv");
	signal(SIGHUP, SIG_IGN); /* reloads come as messages from the daemon */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	log_init(&h.log, a->log_target, a->cfg->daemon.log_level);
	h.base = event_base_new();
	ev = h.base ? event_new(h.base, fd, EV_READ | EV_PERSIST, helper_on_read, &h) : NULL;
	if (!ev || event_add(ev, NULL) < 0)
		return 1;
	event_base_dispatch(h.base);
	for (size_t i = 0; i < CONF_MAX_CHANNELS; i++)
		h.cmds[i].child = child_free(h.cmds[i].child);
	conf_free(h.pending);
	event_free(ev);
	event_base_free(h.base);
	return 0;
}

int privsep_start(const struct privsep_args *a, struct privsep **out)
{
	struct privsep *ps = calloc(1, sizeof(*ps));
	int sv[2];

	*out = NULL;
	if (!ps)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		free(ps);
		return -errno;
	}
	fflush(NULL);
	ps->helper = fork();
	if (ps->helper < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		free(ps);
		return -e;
	}
	if (ps->helper == 0) {
		close(sv[0]);
		helper_shed(sv[1]);
		_exit(helper_main(sv[1], a));
	}
	close(sv[1]);
	ps->fd = sv[0];
	*out = ps;
	return 0;
}

/* ---- the daemon's side ---- */

/* Clears every capability of this process (the helper, forked before, keeps its own):
 * ambient, effective, permitted, inheritable. 0 or -errno. */
static int drop_capabilities(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct none[2] = {{0}};

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	return syscall(SYS_capset, &h, none) < 0 ? -errno : 0;
}

int privsep_drop(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw)
		return -ENOENT;
	/* Started as that user already (systemd's User=): only capabilities to shed. */
	if (geteuid() != 0 || pw->pw_uid == 0) {
		if (pw->pw_uid != geteuid())
			return -EPERM;
		int r = drop_capabilities();
		(void)prctl(PR_SET_DUMPABLE, 0);
		return r;
	}
	if (initgroups(user, pw->pw_gid) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
		return -errno;
	/* Dropped for good: root must not come back. */
	if (setuid(0) == 0 || seteuid(0) == 0)
		return -EPERM;
	(void)prctl(PR_SET_DUMPABLE, 0);
	return 0;
}

static void dispatch_pending(struct privsep *ps)
{
	/* Taken off first: a callback may call the helper and queue more. */
	struct privsep_msg *v = ps->pending;
	size_t n = ps->npending;

	ps->pending = NULL;
	ps->npending = ps->cap = 0;
	for (size_t i = 0; i < n; i++)
		if (ps->on_exit)
			ps->on_exit(ps->ud, v[i].channel, v[i].token, v[i].result);
	free(v);
}

static void on_pending(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dispatch_pending(arg);
}

/* Reads one message: 1 got one into m, 0 nothing (or ignored), -errno (-EPIPE: gone).
 * A descriptor that came with it goes to *fd (fd NULL, or none: closed, or -1). */
static int read_msg(struct privsep *ps, struct privsep_msg *m, int flags, int *fd)
{
	char buf[sizeof(*m) + 1];
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl)};
	ssize_t n = recvmsg(ps->fd, &mh, flags | MSG_CMSG_CLOEXEC);
	int got = -1;

	if (fd)
		*fd = -1;
	if (n == 0)
		return -EPIPE;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0
		       : errno == ECONNRESET		 ? -EPIPE /* died with our request unread */
							 : -errno;
	/* One descriptor is kept at most; any other is closed, never leaked. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; (i + 1) * sizeof(int) <= c->cmsg_len - CMSG_LEN(0); i++) {
			int one;
			memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < 0)
				got = one;
			else
				close(one);
		}
	}
	int r = privsep_msg_decode(buf, (size_t)n, m) == 0 ? 1 : 0;
	if (r == 0 || !fd) {
		if (got >= 0)
			close(got);
		return r;
	}
	*fd = got;
	return 1;
}

/* EXITED is queued for the loop; the late answer frees the helper again; anything else
 * unasked for is dropped. */
static void take_exited(struct privsep *ps, const struct privsep_msg *m)
{
	if (m->type == PRIVSEP_RESULT && ps->late_seq && m->seq == ps->late_seq)
		ps->late_seq = 0;
	if (m->type != PRIVSEP_EXITED)
		return;
	if (ps->npending == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 8;
		struct privsep_msg *v = realloc(ps->pending, cap * sizeof(*v));
		if (!v)
			return; /* out of memory: the step waits for its timeout */
		ps->pending = v;
		ps->cap = cap;
	}
	ps->pending[ps->npending++] = *m;
	if (ps->ev_pending)
		event_active(ps->ev_pending, EV_TIMEOUT, 0);
}

/* The helper is gone (its end of the socket closed: it is exiting): reaps it for its
 * status and tells the owner, which alone can say so and decide. */
static void helper_gone(struct privsep *ps)
{
	int st = 0, status;
	pid_t r;

	event_del(ps->ev); /* calls answer -EPIPE from now on */
	while ((r = waitpid(ps->helper, &st, 0)) < 0 && errno == EINTR)
		;
	status = r != ps->helper ? -ECHILD : WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
	if (r == ps->helper)
		ps->helper = -1;
	if (ps->on_exit)
		ps->on_exit(ps->ud, NULL, 0, status);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct privsep *ps = arg;
	struct privsep_msg m;
	int r;

	(void)fd;
	(void)what;
	while ((r = read_msg(ps, &m, MSG_DONTWAIT, NULL)) == 1)
		take_exited(ps, &m);
	if (r < 0)
		helper_gone(ps);
}

int privsep_attach(struct privsep *ps, struct event_base *base, privsep_exit_fn fn, void *ud)
{
	ps->on_exit = fn;
	ps->ud = ud;
	ps->ev = event_new(base, ps->fd, EV_READ | EV_PERSIST, on_read, ps);
	ps->ev_pending = event_new(base, -1, 0, on_pending, ps);
	return ps->ev && ps->ev_pending && event_add(ps->ev, NULL) == 0 ? 0 : -ENOMEM;
}

void privsep_detach(struct privsep *ps)
{
	if (!ps)
		return;
	if (ps->ev)
		event_free(ps->ev);
	if (ps->ev_pending)
		event_free(ps->ev_pending);
	ps->ev = ps->ev_pending = NULL;
	free(ps->pending);
	ps->pending = NULL;
	ps->npending = ps->cap = 0;
}

int privsep_call(struct privsep *ps, struct privsep_msg *m)
{
	return privsep_call_fd(ps, m, NULL);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sends m and waits for its RESULT until PRIVSEP_CALL_MS is over (signals and EXITED
 * messages do not extend it), or until sfd shows a stop signal pending. */
static int call_wait(struct privsep *ps, struct privsep_msg *m, int *fd, int sfd)
{
	struct privsep_msg a;
	uint64_t end;
	int got;

	m->seq = ++ps->seq;
	if (send(ps->fd, m, sizeof(*m), MSG_NOSIGNAL) < 0)
		return errno == ECONNREFUSED ? -EPIPE : -errno;
	if (ps->on_wait)
		ps->on_wait(ps->on_wait_arg);
	end = mono_ms() + PRIVSEP_CALL_MS;
	for (;;) {
		struct pollfd p[2] = {{.fd = ps->fd, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};
		uint64_t now = mono_ms();
		int n = now < end ? poll(p, 2, (int)(end - now)) : 0, r = 0;

		if (n == 0) {
			ps->late_seq = m->seq;
			return -ETIMEDOUT;
		}
		if (n < 0 && errno != EINTR)
			return -errno;
		got = -1; /* an interrupted poll reads nothing */
		if (n > 0 && p[0].revents)
			r = read_msg(ps, &a, MSG_DONTWAIT, &got);
		if (r < 0)
			return r;
		if (r == 1 && a.type == PRIVSEP_RESULT && a.seq == m->seq) {
			if (m->type == PRIVSEP_READ_CONF) {
				/* The answer names its reading, or says why there is none. */
				m->token = a.token;
				memcpy(m->arg, a.arg, sizeof(m->arg));
				m->arg_len = a.arg_len;
			}
			if (fd && a.result >= 0)
				*fd = got;
			else if (got >= 0)
				close(got);
			return a.result;
		}
		if (got >= 0)
			close(got); /* a late answer's descriptor */
		if (r == 1)
			take_exited(ps, &a);
		/* The request may never end (a sysfs write on a hung M7): a stop does not wait
		 * for it. Its late answer, if any, is dropped by its sequence number. */
		if (n > 0 && (p[1].revents & POLLIN)) {
			ps->stopping = true;
			return -ECANCELED;
		}
	}
}

void privsep_set_on_wait(struct privsep *ps, privsep_wait_fn fn, void *arg)
{
	if (!ps)
		return;
	ps->on_wait = fn;
	ps->on_wait_arg = arg;
}

int privsep_call_fd(struct privsep *ps, struct privsep_msg *m, int *fd)
{
	sigset_t stop, old;
	int sfd, r;

	if (fd)
		*fd = -1;
	if (ps->stopping)
		return -ECANCELED;
	/* Its late answer may be waiting already; else the helper is still stuck (a sysfs
	 * write on a hung M7): queued behind it, this request would hold the event loop, and
	 * the watchdog's pings, for PRIVSEP_CALL_MS more. */
	if (ps->late_seq) {
		struct privsep_msg a;
		int got = 1;
		while (ps->late_seq && (got = read_msg(ps, &a, MSG_DONTWAIT, NULL)) == 1)
			take_exited(ps, &a);
		if (got < 0)
			return got; /* gone: the loop hears of it too */
		if (ps->late_seq)
			return -ETIMEDOUT;
	}
	/* SIGTERM and SIGINT are held pending while the call waits: the signalfd shows them
	 * without taking them, and they reach the event loop's handler when the call
	 * returns. Without a signalfd the call only waits longer, as it always could. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	sfd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m->type == PRIVSEP_RELOAD)
		m->token = ps->conf_token; /* the reading the daemon runs on */
	r = call_wait(ps, m, fd, sfd);
	if (sfd >= 0)
		close(sfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

/* Reads what the helper sent: a sealed in-memory file under PRIVSEP_CONF_MAX bytes.
 * 0 with *text (NUL-terminated after *len bytes), or -errno. */
static int read_snapshot(int fd, char **text, size_t *len)
{
	struct stat st;
	size_t n = 0;
	char *t;

	*text = NULL;
	*len = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || st.st_size >= PRIVSEP_CONF_MAX)
		return -EFBIG;
	t = malloc((size_t)st.st_size + 1);
	if (!t)
		return -ENOMEM;
	while (n < (size_t)st.st_size) {
		ssize_t got = pread(fd, t + n, (size_t)st.st_size - n, (off_t)n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			int e = got < 0 ? errno : EIO; /* shorter than it said: not whole */
			free(t);
			return -e;
		}
		n += (size_t)got;
	}
	t[n] = '\0';
	*text = t;
	*len = n;
	return 0;
}

int privsep_read_conf(struct privsep *ps, const char *path, const struct conf_overrides *ov,
		      struct conf **out, struct conf_error *err)
{
	struct privsep_msg m;
	char *text = NULL;
	size_t len = 0;
	int fd = -1, r;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", path);
	ps->conf_token = 0; /* no RELOAD may take an older reading */
	r = privsep_msg_init(&m, PRIVSEP_READ_CONF, NULL, NULL);
	if (r == 0)
		r = privsep_call_fd(ps, &m, &fd);
	if (r == 0)
		r = read_snapshot(fd, &text, &len);
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		/* The helper's words, when it could not read the file (decoded: terminated). */
		const char *why = m.arg_len ? m.arg : strerror(-r);
		/* Cut to leave room for the tail: the helper's words fill at most 255 bytes. */
		snprintf(err->message, sizeof(err->message),
			 "%.200s (read by the privileged helper)", why);
		return r;
	}
	/* 1: no file (the default one, optional): the defaults, as the helper took. */
	r = conf_read_text(text, len, path, ov, out, err);
	free(text);
	if (r == 0)
		ps->conf_token = m.token;
	return r;
}

struct privsep *privsep_free(struct privsep *ps)
{
	if (!ps)
		return NULL;
	privsep_detach(ps);
	close(ps->fd);
	/* The helper leaves on EOF once its current request ends; a sysfs write stuck in the
	 * driver (a hung M7) must not hold up the stop. Left behind, it dies with us
	 * (PR_SET_PDEATHSIG). */
	for (int waited = 0; ps->helper > 0; waited += 10) {
		pid_t r = waitpid(ps->helper, NULL, WNOHANG);
		if (r == ps->helper || (r < 0 && errno != EINTR) || waited >= PRIVSEP_STOP_MS)
			break;
		if (r == 0)
			usleep(10000);
	}
	free(ps);
	return NULL;
}
