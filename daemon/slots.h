/* Client slots: who may take one of max_clients. Part of the pool is kept for root and
 * the users allowed to control the daemon, and each other uid may hold only so many, so
 * one user cannot lock the administrator out. Pure. */
#ifndef M7B_SLOTS_H
#define M7B_SLOTS_H

#include <stdbool.h>

/* The configured pool. */
struct slots_policy {
	unsigned max;	   /* max_clients: every connection counts */
	unsigned reserved; /* reserved_clients: only privileged peers may use these */
	unsigned per_uid;  /* max_clients_per_uid: 0 = no cap; privileged peers are exempt */
};

enum slots_verdict {
	SLOTS_OK = 0,
	SLOTS_FULL,	/* all max_clients slots taken */
	SLOTS_RESERVED, /* only the reserved slots are left, and the peer is not privileged */
	SLOTS_UID_CAP,	/* the peer's uid holds max_clients_per_uid already */
};

/* Whether a new peer gets a slot: total connections now, those of the peer's uid, and
 * whether the peer is privileged (root, allow_uids, allow_group). */
enum slots_verdict slots_admit(const struct slots_policy *p, unsigned total, unsigned of_uid,
			       bool privileged);
/* The refusal as a message for the peer and the log ("too many clients", ...). */
const char *slots_verdict_to_string(enum slots_verdict v);

#endif
