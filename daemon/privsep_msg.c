/* The privilege-separation message set: encoding, decoding and the helper's checks. */
#include "privsep_msg.h"

#include <errno.h>
#include <string.h>

#include "macro.h"
#include "recovery.h"

static const char *const type_names[] = {
	[PRIVSEP_RPROC_STOP] = "rproc_stop",
	[PRIVSEP_RPROC_START] = "rproc_start",
	[PRIVSEP_RPROC_SET_FIRMWARE] = "rproc_set_firmware",
	[PRIVSEP_RUN_DRIVER] = "run_driver",
	[PRIVSEP_RUN_HOOK] = "run_hook",
	[PRIVSEP_RELOAD] = "reload",
	[PRIVSEP_OPEN_TRACE] = "open_trace",
	[PRIVSEP_HOLD] = "hold",
	[PRIVSEP_READ_CONF] = "read_conf",
	[PRIVSEP_RESULT] = "result",
	[PRIVSEP_EXITED] = "exited",
};
DEFINE_STRING_TABLE_LOOKUP(privsep_type, enum privsep_type, type_names)

/* Copies s into a NUL-padded array of cap bytes. */
static int put(char *dst, size_t cap, uint32_t *len, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(dst, s ? s : "", n);
	*len = (uint32_t)n;
	return 0;
}

int privsep_msg_init(struct privsep_msg *m, enum privsep_type type, const char *channel,
		     const char *arg)
{
	memset(m, 0, sizeof(*m));
	m->magic = PRIVSEP_MAGIC;
	m->type = (uint32_t)type;
	int r = put(m->channel, sizeof(m->channel), &m->channel_len, channel);
	return r < 0 ? r : put(m->arg, sizeof(m->arg), &m->arg_len, arg);
}

/* True when s holds exactly len bytes without NUL, then only NULs to cap. A request's
 * strings are names (a channel's, a firmware file's): printable ASCII without blanks
 * (names), so nothing else gets as far as the helper's checks or into its log lines,
 * where a newline would forge a line of its own. Answers may carry words. */
static bool string_ok(const char *s, size_t cap, uint32_t len, bool name)
{
	if (len >= cap || memchr(s, '\0', len))
		return false;
	for (size_t i = 0; name && i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	for (size_t i = len; i < cap; i++)
		if (s[i])
			return false;
	return true;
}

int privsep_msg_decode(const void *buf, size_t len, struct privsep_msg *m)
{
	if (len != sizeof(*m))
		return -EBADMSG;
	memcpy(m, buf, sizeof(*m));
	if (m->magic != PRIVSEP_MAGIC || m->type == 0 || m->type >= PRIVSEP_TYPE_END)
		return -EBADMSG;
	bool request = m->type < PRIVSEP_RESULT;
	if (!string_ok(m->channel, sizeof(m->channel), m->channel_len, request) ||
	    !string_ok(m->arg, sizeof(m->arg), m->arg_len, request))
		return -EBADMSG;
	return 0;
}

int privsep_msg_check(const struct conf *cfg, const struct privsep_msg *m,
		      const struct conf_channel **ch)
{
	const struct conf_channel *c = NULL;

	*ch = NULL;
	if (m->type == 0 || m->type >= PRIVSEP_RESULT)
		return -EBADMSG; /* answers and unknown types are never requests */
	if (m->type != PRIVSEP_RPROC_SET_FIRMWARE && m->arg_len)
		return -EINVAL;
	if (m->type == PRIVSEP_RELOAD || m->type == PRIVSEP_READ_CONF)
		return m->channel_len ? -EINVAL : 0;
	c = conf_find_channel(cfg, m->channel);
	if (!c)
		return -ENOENT;
	switch ((enum privsep_type)m->type) {
	case PRIVSEP_RPROC_SET_FIRMWARE:
		if (!recovery_firmware_name_ok(m->arg))
			return -EINVAL;
		/* fall through */
	case PRIVSEP_RPROC_STOP:
	case PRIVSEP_RPROC_START:
	case PRIVSEP_OPEN_TRACE:
		if (!c->remoteproc || !c->remoteproc[0])
			return -ENODEV;
		break;
	case PRIVSEP_RUN_DRIVER:
		if (!c->sup.driver_reload[0])
			return -ENOENT;
		break;
	case PRIVSEP_RUN_HOOK:
		if (!c->sup.hook[0])
			return -ENOENT;
		break;
	case PRIVSEP_HOLD:
		break;
	default:
		return -EBADMSG;
	}
	*ch = c;
	return 0;
}

int privsep_msg_check_reload(const struct privsep_msg *m, uint32_t pending)
{
	return m->type == PRIVSEP_RELOAD && pending && m->token == pending ? 0 : -ESTALE;
}
