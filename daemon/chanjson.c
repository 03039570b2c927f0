/* Pre-quoted JSON of a channel's name and port names, and FRAME's pieces made of them. */
#include "chanjson.h"

#include <errno.h>
#include <string.h>

_Static_assert(CONF_PORTS == sizeof(((struct proto_frame_names *)0)->port_name) / sizeof(char *),
	       "a FRAME piece for every port");

void chanjson_clear(struct chanjson *j)
{
	proto_frame_names_clear(&j->frame);
	memset(j, 0, sizeof(*j));
}

int chanjson_render(struct chanjson *j, const struct conf_channel *cfg)
{
	chanjson_clear(j);
	int r = proto_quote(j->name, sizeof(j->name), cfg->name, strlen(cfg->name));
	if (r < 0)
		return r;
	j->name_len = (size_t)r;
	r = proto_frame_names_head(&j->frame, j->name, j->name_len);
	if (r < 0)
		return r;
	for (unsigned p = 0; p < CONF_PORTS; p++) {
		const char *n = cfg->port_names[p];
		if (!n)
			continue;
		/* Worst case: every byte as \u00XX, plus the quotes. */
		char q[6 * CONF_NAME_MAX + 2];
		r = proto_quote(q, sizeof(q), n, strlen(n));
		if (r < 0)
			return r;
		r = proto_frame_names_port(&j->frame, (uint8_t)p, q, (size_t)r);
		if (r < 0)
			return r;
	}
	return 0;
}
