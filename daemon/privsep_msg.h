/* The privilege-separation message set: fixed-size structs over a SOCK_SEQPACKET
 * socketpair between the unprivileged daemon and its privileged helper, decoded with
 * every length checked, and the helper's check of a request against the configuration
 * it read itself. Pure. */
#ifndef M7B_PRIVSEP_MSG_H
#define M7B_PRIVSEP_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define PRIVSEP_MAGIC	    0x6d376270u /* "m7bp" */
#define PRIVSEP_CHANNEL_MAX 64		/* a channel name: 63 bytes at most */
#define PRIVSEP_ARG_MAX	    256		/* a firmware file name: 255 bytes at most */

/* Requests (daemon -> helper) and answers (helper -> daemon). Nothing else is sent. */
enum privsep_type {
	PRIVSEP_RPROC_STOP = 1,	    /* channel: its remoteproc's state <- stop */
	PRIVSEP_RPROC_START,	    /* channel: its remoteproc's state <- start */
	PRIVSEP_RPROC_SET_FIRMWARE, /* channel, arg: a plain file name under /lib/firmware */
	PRIVSEP_RUN_DRIVER,	    /* channel, token: the helper's own driver_reload command */
	PRIVSEP_RUN_HOOK,	    /* channel, token: the helper's own hook command */
	PRIVSEP_RELOAD,		    /* token: takes the configuration READ_CONF answered with it */
	PRIVSEP_OPEN_TRACE,	    /* channel: its remoteproc's trace0, opened read-only */
	PRIVSEP_HOLD,		    /* channel: keeps its settings across the next RELOAD */
	PRIVSEP_READ_CONF,	    /* the helper reads its configuration file once, parses it
				     * and answers with the bytes (an fd) and a token */
	PRIVSEP_RESULT,		    /* answer to the request with seq: result (+ an fd) */
	PRIVSEP_EXITED,		    /* a RUN_* command ended: channel, token, result = status */
	PRIVSEP_TYPE_END,
};

/* One message, the same size whatever its type. Strings carry their length and are
 * NUL-padded to the end of their array. */
struct privsep_msg {
	uint32_t magic;
	uint32_t type;	/* enum privsep_type */
	uint32_t seq;	/* request number, echoed by RESULT */
	uint32_t token; /* RUN_*: echoed by EXITED */
	int32_t result; /* RESULT: 0 done, 1 started, -errno; EXITED: child status */
	uint32_t channel_len;
	uint32_t arg_len;
	char channel[PRIVSEP_CHANNEL_MAX];
	char arg[PRIVSEP_ARG_MAX];
};

/* Fills m (zeroed first). channel and arg may be NULL. 0, or -ENAMETOOLONG. */
int privsep_msg_init(struct privsep_msg *m, enum privsep_type type, const char *channel,
		     const char *arg);
/* Decodes len bytes from the socket into m: exact size, magic, a known type, string
 * lengths within their arrays, no NUL inside (in a request, printable ASCII without
 * blanks) and only NULs after. 0 or -EBADMSG. */
int privsep_msg_decode(const void *buf, size_t len, struct privsep_msg *m);
/* The helper's check of a decoded request against its own configuration: the channel
 * exists (all but RELOAD and READ_CONF, which name none), has a remoteproc (RPROC_*,
 * OPEN_TRACE), the firmware is a plain file name, the command is configured (RUN_*),
 * unused strings are empty; answers are not requests. 0 with *ch (NULL for RELOAD and
 * READ_CONF), or -EBADMSG, -ENOENT, -ENODEV, -EINVAL. */
int privsep_msg_check(const struct conf *cfg, const struct privsep_msg *m,
		      const struct conf_channel **ch);
/* The helper's check of a RELOAD's token against the configuration its last READ_CONF
 * parsed (pending: 0 = none, or that one failed): the daemon runs on that reading, so the
 * helper takes it and no other. 0, or -ESTALE. */
int privsep_msg_check_reload(const struct privsep_msg *m, uint32_t pending);
/* Name of a message type ("rproc_stop", ...). */
const char *privsep_type_to_string(enum privsep_type t);

#endif
