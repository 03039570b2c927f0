/* m7sim's link: a pseudo-terminal in raw mode, published under a symlink, with an
 * RPMSG-like pool of transmit buffers that takes whole frames or nothing. */
#ifndef M7SIM_SIM_LINK_H
#define M7SIM_SIM_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sim_link {
	char *path;	  /* the symlink readers open */
	int master;	  /* -1 while hung up */
	int slave;	  /* kept open so the master never reports POLLHUP on its own */
	char pts[64];	  /* /dev/pts/N behind path */
	int stale_master; /* a vanished pty, kept open and silent: no hangup reaches its reader */
	int stale_slave;
	uint8_t *out; /* bytes accepted, not yet taken by the pty */
	size_t out_len;
	size_t out_cap;
};

/* Allocates a link for `path` with `buffers` transmit buffers of `buf_size` bytes. */
struct sim_link *sim_link_new(const char *path, size_t buffers, size_t buf_size);
/* Closes the pty and removes the symlink; NULL is fine. Returns NULL. */
struct sim_link *sim_link_free(struct sim_link *l);
/* Creates a new pty in raw mode and points the symlink at it atomically (temp link +
 * rename); the previous pty, if any, is closed after the swap. Returns 0 or -errno. */
int sim_link_open(struct sim_link *l);
/* Closes the pty (the reader sees a hangup); the symlink is left dangling, pointing at a
 * name no pty has (the closed pty's number is soon another process's). */
void sim_link_hangup(struct sim_link *l);
/* Removes the symlink and keeps the pty open but silent, as the NXP RPMSG tty driver
 * does when its channel goes away (no hangup). Closed at the next vanish or at free. */
void sim_link_vanish(struct sim_link *l);
/* True while a pty exists. */
bool sim_link_is_open(const struct sim_link *l);
/* Takes all n bytes into the transmit buffers, or none: returns n or -1. */
int sim_link_write(struct sim_link *l, const uint8_t *buf, size_t n);
/* Space left in the transmit buffers. */
size_t sim_link_room(const struct sim_link *l);
/* Moves buffered bytes into the pty as far as it takes them. Returns 0 or -errno. */
int sim_link_flush(struct sim_link *l);
/* Reads from the pty (non-blocking): bytes, 0 if none, or -errno. */
ssize_t sim_link_read(struct sim_link *l, uint8_t *buf, size_t n);

#endif
