/* What to do about an M7 whose channel has no tty: start it, leave it, or wait and say
 * why. Pure: the state and the configuration in, a decision and its words out. */
#include "lifecycle.h"

#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "recovery.h"
#include "utf8.h"

static const char *const action_names[] = {
	[LIFECYCLE_NOTHING] = "nothing",
	[LIFECYCLE_START] = "start",
	[LIFECYCLE_WAIT] = "wait",
};
DEFINE_STRING_TABLE_LOOKUP(lifecycle_action, enum lifecycle_action, action_names)

enum lifecycle_action lifecycle_decide(const struct lifecycle_input *in, char *why, size_t cap)
{
	const char *rp = in->instance && *in->instance ? in->instance : "remoteproc";
	const char *attr = in->firmware_attr ? in->firmware_attr : "";

	switch (in->state) {
	case REMOTEPROC_RUNNING:
	case REMOTEPROC_ATTACHED:
		snprintf(why, cap, "%s is %s", rp, remoteproc_state_to_string(in->state));
		return LIFECYCLE_NOTHING;
	case REMOTEPROC_OFFLINE:
		break;
	case REMOTEPROC_CRASHED:
		/* stop and start are refused in this state; the kernel's own recovery (its
		 * `recovery` attribute) or a person has to act. */
		snprintf(why, cap,
			 "%s is crashed: waiting for the kernel's recovery or for someone to "
			 "restart it",
			 rp);
		return LIFECYCLE_WAIT;
	default:
		snprintf(why, cap, "%s is %s, not offline: waiting for it to be running", rp,
			 remoteproc_state_to_string(in->state));
		return LIFECYCLE_WAIT;
	}
	if (!in->autostart) {
		snprintf(why, cap,
			 "%s is offline and autostart = false: waiting for it to be started", rp);
		return LIFECYCLE_WAIT;
	}
	if (in->firmware && *in->firmware) {
		snprintf(why, cap, "%s is offline: starting it with %s (firmware)", rp,
			 in->firmware);
		return LIFECYCLE_START;
	}
	if (!lifecycle_names_file(attr)) {
		/* Sysfs text of any bytes, quoted in the log and the STATE detail: one line
		 * of UTF-8, at most 64 bytes, cut at a character. */
		char shown[65];
		utf8_clean_line(shown, sizeof(shown), attr, strlen(attr));
		snprintf(why, cap,
			 "%s is offline and names no firmware file (%s%s%s): set firmware = "
			 "NAME to have it started",
			 rp, in->firmware_attr ? "'" : "", in->firmware_attr ? shown : "unreadable",
			 in->firmware_attr ? "'" : "");
		return LIFECYCLE_WAIT;
	}
	snprintf(why, cap, "%s is offline: starting it with %s (as remoteproc names it)", rp, attr);
	return LIFECYCLE_START;
}

bool lifecycle_names_file(const char *attr)
{
	/* "unknown" when the M7 was started outside Linux: no file to load. */
	return recovery_firmware_name_ok(attr) && strcmp(attr, "unknown") != 0;
}

const char *lifecycle_wait_reason(const struct lifecycle_input *in)
{
	char why[8];

	if (lifecycle_decide(in, why, sizeof(why)) != LIFECYCLE_WAIT)
		return NULL;
	switch (in->state) {
	case REMOTEPROC_OFFLINE:
		return in->autostart ? "no_firmware" : "autostart_off";
	case REMOTEPROC_CRASHED:
		return "m7_crashed";
	default:
		return "m7_not_running";
	}
}
