/* One channel's pseudo-terminal for unchanged serial apps: a stable symlink to the pts
 * slave, M7 bytes written to the master, the app's bytes sent to the M7. The pty outlives
 * the channel's tty, so a recovery is a pause for the app, never an error. */
#ifndef M7B_PTYLINK_H
#define M7B_PTYLINK_H

#include <stddef.h>
#include <stdint.h>

#include "channel.h"

struct event_base;
struct ptylink;

/* Counters shown by status and the tests. */
struct ptylink_stats {
	uint64_t to_app, to_m7;	 /* bytes delivered each way */
	uint64_t dropped_to_app; /* M7 bytes the app did not read in time */
	uint64_t failed_to_m7;	 /* app bytes never taken: refused, lost with a pty */
	uint64_t paused_ms;	 /* time the app's writes waited for the channel */
};

struct log;

/* Creates the pty of ch (its configuration's pty, pty_mode, pty_group) and points the
 * symlink at it; log is the channel's (also used while parked). master >= 0: instead of
 * a new pty, carries on with that pty master and, if it is its peer, the slave fd held
 * before (both kept by the service manager across a restart; slave may be -1; both taken
 * over, closed on failure), keeping the pty's termios (the app's) and what it holds;
 * anything but a read-write pty master is refused with -ENOTTY. 0 with *out, or a
 * negative errno (logged). */
int ptylink_new(struct event_base *base, const struct log *log, struct channel *ch, int master,
		int slave, struct ptylink **out);
/* Removes the symlink (if still ours), closes the pty; returns NULL. What it still held
 * is counted in the log: lost, or, after ptylink_keep, handed to the next start. */
struct ptylink *ptylink_free(struct ptylink *pl);
/* The master, the daemon's slave fd and the pty's save (a memfd naming the symlink, -1
 * if it could not be made), for the service manager's store (they stay ptylink's). */
void ptylink_fds(const struct ptylink *pl, int fds[3]);
/* The name of the channel the pty was made for. */
const char *ptylink_channel(const struct ptylink *pl);
/* Called when the daemon's slave fd was replaced (the pty was hung up), so that what the
 * service manager holds follows. */
typedef void (*ptylink_slave_fn)(void *ud, struct ptylink *pl);
void ptylink_set_on_slave(struct ptylink *pl, ptylink_slave_fn fn, void *ud);
/* The service manager took a copy of the master (FDSTORE). */
void ptylink_stored(struct ptylink *pl);
/* The daemon stops: a stored master stays with the service manager for the next start
 * (what waits for the app is written into it first), and ptylink_free then loses only
 * what the daemon's own buffers hold, unless ptylink_save. */
void ptylink_keep(struct ptylink *pl);
/* After ptylink_keep: writes the daemon's buffers (app bytes not yet taken by the
 * channel, M7 bytes the pty did not take) into the pty's save, which the service manager
 * holds with the master, so that ptylink_free loses nothing. 0, -ENODATA when both are
 * empty or the pty is not kept, or a negative errno (logged). */
int ptylink_save(struct ptylink *pl);
/* Puts the buffers saved in fd (closed) back, ahead of everything newer (a save with no
 * bytes, or an older daemon's without a path, is fine). 0 or a negative errno (logged:
 * -EBADMSG for anything but a save of ours that fits). */
int ptylink_restore(struct ptylink *pl, int fd);
/* A pty the service manager kept (master, and save, its memfd) that no pty of the
 * configuration takes at the symlink's path the save names (keep: the path the pty goes
 * on at; NULL: it goes on nowhere): removes that symlink if it still points at the
 * master's own slave, so that an app opening it never reaches whatever program the
 * kernel gives the pts number to next. Never follows the link; anything else at the path
 * stays. Logged when removed; neither fd is closed. */
void ptylink_unlink_stale(const struct log *log, int master, int save, const char *keep);
/* Closes fd, a descriptor the service manager passed under name that no pty takes,
 * saying so (and, for a pty master, how many of the app's bytes it held). */
void ptylink_discard(const struct log *log, int fd, const char *name);
/* Points the symlink at the pty again if it is missing or points elsewhere (removed by
 * hand, taken over). 0 (it was right), 1 (re-pointed) or a negative errno (logged). */
int ptylink_relink(struct ptylink *pl);
/* Gives the slave the group and mode of the channel's configuration now (a reload).
 * 0 or a negative errno (logged; the old ones stay). */
int ptylink_set_access(struct ptylink *pl);
/* The channel goes away, perhaps to come back at once (a reload reopening it): the pty
 * stays open and keeps what it holds, but takes nothing from the app and uses no channel
 * until ptylink_adopt or ptylink_free. */
void ptylink_park(struct ptylink *pl);
/* Carries on with ch (the same channel, reopened). */
void ptylink_adopt(struct ptylink *pl, struct channel *ch);
/* Bytes from the M7 for the app: written now, or held (bounded, overflow counted). */
void ptylink_from_m7(struct ptylink *pl, const uint8_t *data, size_t n);
/* Wire mode: one send of the pty's finished; failures are counted and logged. */
void ptylink_send_done(struct ptylink *pl, const struct sendq_entry *e, enum sendq_result r);
/* The channel may take bytes again (state change, writer progress): try now. */
void ptylink_kick(struct ptylink *pl);
/* The pts slave's name (/dev/pts/N). */
const char *ptylink_slave(const struct ptylink *pl);
/* Copies the counters. */
void ptylink_get_stats(const struct ptylink *pl, struct ptylink_stats *s);

#endif
