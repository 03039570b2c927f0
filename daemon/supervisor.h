/* Supervisor: fault detection and recovery for every channel. Glue between the daemon
 * (observers, request handlers) and the pure modules: kernel log (kwatch + klog),
 * liveness, the recovery ladder, remoteproc, child commands and the incident recorder. */
#ifndef M7B_SUPERVISOR_H
#define M7B_SUPERVISOR_H

#include <stdbool.h>
#include <sys/types.h>

#include "supervisor_conf.h"

struct daemon;
struct privsep;
struct supervisor;

/* Hooks into d: observes its channels, handles recover/reload/incidents, watches the
 * kernel log. 0 with *out, or a negative errno. */
int supervisor_new(struct daemon *d, struct supervisor **out);

/* Hands the privileged operations to the helper ps (NULL: carry them out directly, as
 * when the daemon is not root). 0 or -ENOMEM. */
int supervisor_set_privsep(struct supervisor *sv, struct privsep *ps);

/* Stops everything (kills running commands) and frees; NULL ok; returns NULL. */
struct supervisor *supervisor_free(struct supervisor *s);

/* True when a peer with these credentials may change things (recover, reload): root,
 * a uid in allow_uids, or a member of allow_group (primary or supplementary gids). */
bool supervisor_peer_allowed(const struct supervisor_daemon_conf *c, uid_t uid, const gid_t *gids,
			     size_t ngids);

#endif
