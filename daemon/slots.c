/* Client slot admission (see slots.h). */
#include "slots.h"

#include "macro.h"

enum slots_verdict slots_admit(const struct slots_policy *p, unsigned total, unsigned of_uid,
			       bool privileged)
{
	if (total >= p->max)
		return SLOTS_FULL;
	if (privileged)
		return SLOTS_OK;
	/* A reserve larger than the pool leaves nothing to the others, as configured. */
	if (p->reserved >= p->max || total >= p->max - p->reserved)
		return SLOTS_RESERVED;
	if (p->per_uid && of_uid >= p->per_uid)
		return SLOTS_UID_CAP;
	return SLOTS_OK;
}

static const char *const verdict_names[] = {
	[SLOTS_OK] = "ok",
	[SLOTS_FULL] = "too many clients",
	[SLOTS_RESERVED] = ("too many clients (the remaining slots are reserved for root and "
			    "allowed users)"),
	[SLOTS_UID_CAP] = "too many clients of this user (max_clients_per_uid)",
};
DEFINE_STRING_TABLE_LOOKUP(slots_verdict, enum slots_verdict, verdict_names)
