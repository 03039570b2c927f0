/* The daemon's ptys: observer glue between channels and their ptylinks, and their
 * masters in the service manager's store, so that a restart does not hang up the apps. */
#include "ptybridge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "notify.h"
#include "ptylink.h"

/* FDNAME= of a channel's pty master in the store: "pty-" and the channel's name (channel
 * names have no ':', which LISTEN_FDNAMES uses as separator). */
#define STORE_PREFIX "pty-"

/* The observer of DATA frames, its own user data: attached only while a pty exists. */
struct ptybridge_frames {
	struct ptybridge *pb;
	bool attached;
};

struct ptybridge {
	struct daemon *d;
	struct ptylink *links[CONF_MAX_CHANNELS];	      /* by channel slot */
	char made_for[CONF_MAX_CHANNELS][CONF_PATH_MAX + 96]; /* settings each was made with */
	/* The ptys of channels removed during a reload, by slot: one reopened by the reload
	 * comes back into the same slot and takes its pty again; the rest go at its end. */
	struct ptylink *parked[CONF_MAX_CHANNELS];
	char parked_name[CONF_MAX_CHANNELS][CONF_NAME_MAX];
	/* What the service manager passed back at start, by the slot of the channel it is
	 * named for, until that channel's pty takes it (-1: none): the master (or what
	 * claims to be one, to be refused), the daemon's slave fd and its saved buffers. */
	int stored[CONF_MAX_CHANNELS][3];
	/* ... and, at start only, what it passed under the pty name of no channel (one
	 * renamed or removed), grouped by name: the master and its save together say which
	 * stale symlink may go. */
	struct ptybridge_orphan {
		char name[256]; /* FDNAME's limit */
		int fds[3];
	} * orphans;
	unsigned norphans;
	struct ptybridge_frames frames;
};

static void store_name(const char *channel, char *buf, size_t cap)
{
	snprintf(buf, cap, STORE_PREFIX "%s", channel);
}

/* Hands the pty's master and our slave fd to the service manager (none: nothing
 * happens), in place of what it held under the name (a slave fd taken again after a
 * vhangup replaces a dead one). */
static void store(struct ptybridge *pb, struct ptylink *pl)
{
	char name[sizeof(STORE_PREFIX) + CONF_NAME_MAX];
	int fds[3];
	store_name(ptylink_channel(pl), name, sizeof(name));
	ptylink_fds(pl, fds);
	(void)notify_fd_remove(name);
	int r = notify_fd_store(fds, fds[2] >= 0 ? 3 : 2, name);
	if (r > 0)
		ptylink_stored(pl);
	else if (r < 0)
		log_struct_errno(daemon_log(pb->d), LOG_WARNING,
				 &(struct log_fields){.channel = ptylink_channel(pl)}, r,
				 "cannot hand the pty to the service manager (%m): a restart of "
				 "the daemon will hang up its apps");
}

/* The daemon stops: the pty stays in the store, and so do the bytes the daemon's
 * buffers hold for it, in its save beside it. */
static void keep(struct ptylink *pl)
{
	ptylink_keep(pl);
	(void)ptylink_save(pl); /* logged */
}

/* ptylink's: a vhangup killed the slave fd in the store; the new one replaces it. */
static void on_slave(void *ud, struct ptylink *pl)
{
	store(ud, pl);
}

/* A pty closed for good: the service manager must not hand it to the next start. It
 * forgets by name, so not while a live pty has the name (its channel moved slots). */
static struct ptylink *drop(struct ptybridge *pb, struct ptylink *pl)
{
	char name[sizeof(STORE_PREFIX) + CONF_NAME_MAX];
	bool named = false;
	if (!pl)
		return NULL;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		named |= pb->links[i] && pb->links[i] != pl &&
			 strcmp(ptylink_channel(pb->links[i]), ptylink_channel(pl)) == 0;
	store_name(ptylink_channel(pl), name, sizeof(name));
	if (!named)
		(void)notify_fd_remove(name); /* 0 without a manager; a failure changes nothing */
	return ptylink_free(pl);
}

static struct ptylink *link_of(struct ptybridge *pb, const struct channel *ch)
{
	return channel_slot(ch) < CONF_MAX_CHANNELS ? pb->links[channel_slot(ch)] : NULL;
}

/* The settings a pty depends on, as one string: a reload that changes them remakes it.
 * Its group and mode change in place, and pty_port is read at each use. */
static void settings_of(const struct channel *ch, char *buf, size_t cap)
{
	const struct conf_channel *cc = channel_config(ch);
	snprintf(buf, cap, "%s|%d", cc->pty, (int)cc->mode);
}

static void on_msg(void *ud, struct channel *ch, const struct channel_msg *m);

/* DATA goes to this module only while some channel has a pty: without one, it costs the
 * frames nothing. */
static void watch_frames(struct ptybridge *pb)
{
	bool any = false;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		any |= pb->links[i] != NULL;
	if (any == pb->frames.attached)
		return;
	if (any) {
		struct daemon_observer o = {.on_msg = on_msg,
					    .msg_types = DAEMON_MSG_TYPE(M7B_T_DATA),
					    .ud = &pb->frames};
		int r = daemon_add_observer(pb->d, &o);
		if (r < 0) {
			log_struct_errno(daemon_log(pb->d), LOG_ERR, &(struct log_fields){0}, r,
					 "ptys get no data from the M7: %m");
			return;
		}
	} else {
		daemon_remove_observer(pb->d, &pb->frames);
	}
	pb->frames.attached = any;
}

static void discard(struct ptybridge *pb, int fd, const char *name);

/* Whether paths a and b name the same directory entry: the same name in the same
 * directory, however it is reached (a directory through a link, as /var/run is /run).
 * The configuration compares only spellings. */
static bool same_entry(const char *a, const char *b)
{
	const char *na = strrchr(a, '/'), *nb = strrchr(b, '/');
	char da[CONF_PATH_MAX + 1], db[CONF_PATH_MAX + 1];
	struct stat sa, sb;
	if (strcmp(a, b) == 0)
		return true;
	if (!na || !nb || !na[1] || strcmp(na + 1, nb + 1) != 0)
		return false;
	snprintf(da, sizeof(da), "%.*s/", (int)(na - a), a);
	snprintf(db, sizeof(db), "%.*s/", (int)(nb - b), b);
	return stat(da, &sa) == 0 && stat(db, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* The channel whose tty (*dev set), or other than ch whose pty, is at path, or NULL. */
static struct channel *pty_owner(struct ptybridge *pb, const struct channel *ch, const char *path,
				 bool *dev)
{
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct channel *o = daemon_channel_at(pb->d, i);
		const char *device = o ? channel_config(o)->device : NULL;
		*dev = device && same_entry(device, path);
		if (*dev ||
		    (o && o != ch && pb->links[i] && same_entry(channel_config(o)->pty, path)))
			return o;
	}
	return NULL;
}

/* A new pty for slot s (the old one, if any, closed): the settings changed, or none. */
static void make(struct ptybridge *pb, unsigned s, struct channel *ch)
{
	const char *path = channel_config(ch)->pty;
	bool dev = false;
	struct channel *owner = path[0] ? pty_owner(pb, ch, path, &dev) : NULL;
	pb->links[s] = drop(pb, pb->links[s]);
	pb->parked[s] = drop(pb, pb->parked[s]);
	pb->made_for[s][0] = '\0';
	if (owner) {
		/* Taking the path over would hand the other channel's app our bytes, or loop
		 * a channel's tty onto a pty. */
		log_struct_errno(daemon_log(pb->d), LOG_ERR,
				 &(struct log_fields){.channel = channel_name(ch)}, -EEXIST,
				 "cannot create the pty for %s: it is channel %s's %s", path,
				 channel_name(owner), dev ? "device" : "pty");
	} else if (path[0]) {
		settings_of(ch, pb->made_for[s], sizeof(pb->made_for[s]));
		char name[sizeof(STORE_PREFIX) + CONF_NAME_MAX];
		int kept = pb->stored[s][0], r = -ENOENT;
		store_name(channel_name(ch), name, sizeof(name));
		if (kept >= 0 && pb->stored[s][2] >= 0)
			/* The pty goes on at the path configured now: its link at any other
			 * path would outlive it. */
			ptylink_unlink_stale(daemon_log(pb->d), kept, pb->stored[s][2], path);
		if (kept >= 0)
			r = ptylink_new(daemon_base(pb->d), daemon_log(pb->d), ch, kept,
					pb->stored[s][1],
					&pb->links[s]); /* logged; closed on failure */
		else if (pb->stored[s][1] >= 0)
			discard(pb, pb->stored[s][1], name); /* a slave fd without its master */
		if (r == 0 && pb->stored[s][2] >= 0)
			(void)ptylink_restore(pb->links[s], pb->stored[s][2]); /* logged */
		else if (pb->stored[s][2] >= 0)
			discard(pb, pb->stored[s][2], name); /* counted: no pty to go with */
		pb->stored[s][0] = pb->stored[s][1] = pb->stored[s][2] = -1;
		if (r < 0 && kept >= 0)
			(void)notify_fd_remove(name);
		if (r < 0)
			r = ptylink_new(daemon_base(pb->d), daemon_log(pb->d), ch, -1, -1,
					&pb->links[s]); /* logged */
		if (r == 0) {
			ptylink_set_on_slave(pb->links[s], on_slave, pb);
			store(pb, pb->links[s]); /* again when kept: replaces the old ones */
		}
	}
}

/* The pty of a channel that reopens (same name, same slot, same pty settings) is the
 * app's to keep: it sees a pause, as in a recovery. */
static bool adopt(struct ptybridge *pb, unsigned s, struct channel *ch)
{
	char now[sizeof(pb->made_for[0])];
	settings_of(ch, now, sizeof(now));
	if (!pb->parked[s] || strcmp(pb->parked_name[s], channel_name(ch)) != 0 ||
	    strcmp(now, pb->made_for[s]) != 0)
		return false;
	pb->links[s] = pb->parked[s];
	pb->parked[s] = NULL;
	ptylink_adopt(pb->links[s], ch);
	(void)ptylink_set_access(pb->links[s]); /* logged */
	return true;
}

static void on_channel(void *ud, struct channel *ch, bool added)
{
	struct ptybridge *pb = ud;
	unsigned s = channel_slot(ch);
	if (s >= CONF_MAX_CHANNELS)
		return;
	if (!added) {
		pb->parked[s] = drop(pb, pb->parked[s]);
		if (pb->links[s]) {
			ptylink_park(pb->links[s]);
			pb->parked[s] = pb->links[s];
			pb->links[s] = NULL;
			snprintf(pb->parked_name[s], sizeof(pb->parked_name[s]), "%s",
				 channel_name(ch));
		}
	} else if (!adopt(pb, s, ch)) {
		make(pb, s, ch);
	}
	watch_frames(pb);
}

/* The end of a reload: the ptys of channels it removed for good close. */
static void on_reload(void *ud, const struct conf *cfg)
{
	struct ptybridge *pb = ud;
	(void)cfg;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		pb->parked[i] = drop(pb, pb->parked[i]);
}

static void on_config(void *ud, struct channel *ch)
{
	struct ptybridge *pb = ud;
	char now[sizeof(pb->made_for[0])];
	unsigned s = channel_slot(ch);
	if (s >= CONF_MAX_CHANNELS)
		return;
	settings_of(ch, now, sizeof(now));
	/* Unchanged: the app keeps its fd. A pty that could not be made (its directory
	 * missing, say) is tried again: a reload is how the administrator says it is fixed. */
	bool missing = channel_config(ch)->pty[0] && !pb->links[s];
	if (missing || strcmp(now, pb->made_for[s]) != 0) {
		make(pb, s, ch);
		watch_frames(pb);
	} else if (pb->links[s]) {
		(void)ptylink_relink(pb->links[s]); /* a symlink removed or taken over; logged */
		(void)ptylink_set_access(pb->links[s]); /* logged */
	}
}

static void on_raw(void *ud, struct channel *ch, const struct channel_raw *r)
{
	struct ptylink *pl = link_of(ud, ch);
	if (pl)
		ptylink_from_m7(pl, r->data, r->len);
}

/* DATA only (msg_types); ud is the frames member. */
static void on_msg(void *ud, struct channel *ch, const struct channel_msg *m)
{
	struct ptylink *pl = link_of(((struct ptybridge_frames *)ud)->pb, ch);
	if (pl && !m->bad_payload && m->frame->port == channel_config(ch)->pty_port)
		ptylink_from_m7(pl, m->u.data.bytes, m->u.data.nbytes);
}

static void on_state(void *ud, struct channel *ch, enum channel_state old)
{
	struct ptylink *pl = link_of(ud, ch);
	if (pl && channel_get_state(ch) == CHANNEL_UP)
		ptylink_kick(pl); /* what the app wrote during the pause goes now */
}

static void on_send_done(void *ud, struct channel *ch, const struct sendq_entry *e,
			 enum sendq_result r)
{
	struct ptylink *pl = link_of(ud, ch);
	if (pl)
		ptylink_send_done(pl, e, r);
}

static void on_status(void *ud, const struct channel *ch, struct daemon_status_extra *x)
{
	struct ptylink *pl = link_of(ud, ch);
	struct ptylink_stats st;
	if (!pl)
		return;
	ptylink_get_stats(pl, &st);
	snprintf(x->pty_path, sizeof(x->pty_path), "%s", channel_config(ch)->pty);
	snprintf(x->pty_slave, sizeof(x->pty_slave), "%s", ptylink_slave(pl));
	x->pty = (struct proto_pty){.path = x->pty_path,
				    .slave = x->pty_slave,
				    .to_app = st.to_app,
				    .to_m7 = st.to_m7,
				    .dropped_to_app = st.dropped_to_app,
				    .failed_to_m7 = st.failed_to_m7,
				    .paused_ms = st.paused_ms};
	x->has_pty = true;
}

/* The slot of the channel named name, or CONF_MAX_CHANNELS. */
static unsigned slot_named(struct ptybridge *pb, const char *name)
{
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct channel *ch = daemon_channel_at(pb->d, i);
		if (ch && strcmp(channel_name(ch), name) == 0)
			return i;
	}
	return CONF_MAX_CHANNELS;
}

/* Closes a passed descriptor no pty takes, and has the manager forget it. */
static void discard(struct ptybridge *pb, int fd, const char *name)
{
	ptylink_discard(daemon_log(pb->d), fd, name); /* logged */
	(void)notify_fd_remove(name);
}

/* A master, slave fd and save (each -1 if missing) under name that no pty takes: the
 * symlink the save names goes if it still points at this pty, then all of it. */
static void forget(struct ptybridge *pb, int fds[3], const char *name)
{
	ptylink_unlink_stale(daemon_log(pb->d), fds[0], fds[2], NULL); /* logged */
	for (unsigned k = 0; k < 3; k++) {
		if (fds[k] >= 0)
			discard(pb, fds[k], name);
		fds[k] = -1;
	}
}

/* Keeps fd, of kind k, under name with the others of that name for forget(): whether it
 * did (not: a second one of that kind, or no room). */
static bool orphan(struct ptybridge *pb, const char *name, unsigned k, int fd, unsigned cap)
{
	unsigned i = 0;
	while (i < pb->norphans && strcmp(pb->orphans[i].name, name) != 0)
		i++;
	if (i == pb->norphans) {
		if (!pb->orphans || i == cap || strlen(name) >= sizeof(pb->orphans[i].name))
			return false;
		snprintf(pb->orphans[i].name, sizeof(pb->orphans[i].name), "%s", name);
		pb->orphans[i].fds[0] = pb->orphans[i].fds[1] = pb->orphans[i].fds[2] = -1;
		pb->norphans++;
	}
	if (pb->orphans[i].fds[k] >= 0)
		return false;
	pb->orphans[i].fds[k] = fd;
	return true;
}

/* Sorts out what the service manager passed at start (LISTEN_FDS): the clients' socket
 * is the server's (taken already); a pty master and a slave fd go to the channel they
 * are named for (a descriptor that is neither stands for the master, to be refused);
 * anything else is closed, logged. The environment is cleared: children see none. */
static void take_stored(struct ptybridge *pb)
{
	char **names = NULL;
	int all = sd_listen_fds(0), n = sd_listen_fds_with_names(1, &names);
	if (n > 0)
		pb->orphans = calloc((size_t)n, sizeof(*pb->orphans)); /* none: just closed */
	if (n < 0 && all > 0) {
		/* LISTEN_FDNAMES that do not match LISTEN_FDS: no name can be believed, and
		 * descriptors left open would keep ptys no one serves. */
		log_struct_errno(daemon_log(pb->d), LOG_ERR, &(struct log_fields){0}, n,
				 "the names of the %d descriptors from the service manager do not "
				 "match them (%m): none is taken",
				 all);
		n = all;
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i, ptn;
		const char *name = names && names[i] ? names[i] : "unknown";
		bool ours = strncmp(name, STORE_PREFIX, strlen(STORE_PREFIX)) == 0;
		if (!ours && sd_is_socket(fd, AF_UNSPEC, 0, -1) > 0)
			continue; /* the server's, or refused and logged by it */
		unsigned s = ours ? slot_named(pb, name + strlen(STORE_PREFIX)) : CONF_MAX_CHANNELS;
		struct stat st;
		unsigned k = ioctl(fd, TIOCGPTN, &ptn) == 0		  ? 0
			     : isatty(fd)				  ? 1
			     : fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? 2
									  : 0;
		if (s < CONF_MAX_CHANNELS && pb->stored[s][k] < 0)
			pb->stored[s][k] = fd;
		else if (!ours || s < CONF_MAX_CHANNELS || !orphan(pb, name, k, fd, (unsigned)n))
			discard(pb, fd, name);
	}
	for (int i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

int ptybridge_new(struct daemon *d, struct ptybridge **out)
{
	struct ptybridge *pb = calloc(1, sizeof(*pb));
	*out = NULL;
	if (!pb)
		return -ENOMEM;
	pb->d = d;
	pb->frames.pb = pb;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++)
		pb->stored[i][0] = pb->stored[i][1] = pb->stored[i][2] = -1;
	struct daemon_observer o = {.on_channel = on_channel,
				    .on_config = on_config,
				    .on_raw = on_raw,
				    .on_state = on_state,
				    .on_status = on_status,
				    .on_reload = on_reload,
				    .ud = pb};
	int r = daemon_add_observer(d, &o);
	if (r < 0) {
		free(pb);
		return r;
	}
	daemon_set_send_hook(d, on_send_done, pb);
	take_stored(pb);
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct channel *ch = daemon_channel_at(d, i);
		if (ch)
			on_channel(pb, ch, true);
	}
	/* Named for a channel that has no pty now, or whose pty could not be made; then
	 * for no channel at all. After the channels made theirs: a link one of them took over
	 * is no longer this pty's, and stays. */
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		if (pb->stored[i][0] < 0 && pb->stored[i][1] < 0 && pb->stored[i][2] < 0)
			continue;
		char name[sizeof(STORE_PREFIX) + CONF_NAME_MAX];
		store_name(channel_name(daemon_channel_at(d, i)), name, sizeof(name));
		forget(pb, pb->stored[i], name);
	}
	for (unsigned i = 0; i < pb->norphans; i++)
		forget(pb, pb->orphans[i].fds, pb->orphans[i].name);
	free(pb->orphans);
	pb->orphans = NULL;
	pb->norphans = 0;
	*out = pb;
	return 0;
}

struct ptybridge *ptybridge_free(struct ptybridge *pb)
{
	if (!pb)
		return NULL;
	daemon_remove_observer(pb->d, &pb->frames);
	daemon_remove_observer(pb->d, pb);
	daemon_set_send_hook(pb->d, NULL, NULL);
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		/* A stop or a restart: the daemon cannot tell which, so the masters stay in the
		 * store (the manager discards it on a stop), and the apps see no hang-up. */
		if (pb->links[i])
			keep(pb->links[i]);
		pb->links[i] = ptylink_free(pb->links[i]);
		pb->parked[i] = drop(pb, pb->parked[i]);
	}
	free(pb);
	return NULL;
}
