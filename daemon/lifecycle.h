/* The M7's lifecycle seen from a channel whose tty is not open: what remoteproc's state
 * says to do (start the M7, leave it, or wait and say why). Pure. */
#ifndef M7B_LIFECYCLE_H
#define M7B_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>

#include "remoteproc.h"

enum lifecycle_action {
	LIFECYCLE_NOTHING = 0, /* running or attached: the tty is only late */
	LIFECYCLE_START,       /* offline: start it */
	LIFECYCLE_WAIT,	       /* not running, and the daemon must not or cannot start it */
};

struct lifecycle_input {
	enum remoteproc_state state;
	const char *instance;	   /* remoteprocN, for the text */
	bool autostart;		   /* the channel's `autostart` */
	const char *firmware;	   /* the channel's `firmware`; NULL = none */
	const char *firmware_attr; /* remoteproc's `firmware` attribute; NULL = unreadable */
};

/* Decides for in; why (cap bytes) says what and why in one line, for the log. */
enum lifecycle_action lifecycle_decide(const struct lifecycle_input *in, char *why, size_t cap);

/* The STATE reason of a channel whose M7 is left as it is (in decides LIFECYCLE_WAIT):
 * autostart_off, no_firmware, m7_crashed or m7_not_running; NULL for another decision. */
const char *lifecycle_wait_reason(const struct lifecycle_input *in);

/* Whether remoteproc's `firmware` attribute (attr, NULL: unreadable) names a file a
 * start could load: not `unknown`, which it reads when the M7 was started outside Linux
 * (U-Boot, a debugger). */
bool lifecycle_names_file(const char *attr);

/* Name of an action ("start"). */
const char *lifecycle_action_to_string(enum lifecycle_action a);

#endif
