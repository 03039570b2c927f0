/* Pre-quoted JSON of a channel's name and port names, and the FRAME pieces made of them. */
#include "chanjson.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void chanjson_clear(struct chanjson *j)
{
	for (unsigned p = 0; p < CONF_PORTS; p++)
		free(j->port[p]);
	memset(j, 0, sizeof(*j));
}

int chanjson_render(struct chanjson *j, const struct conf_channel *cfg)
{
	chanjson_clear(j);
	int r = proto_quote(j->name, sizeof(j->name), cfg->name, strlen(cfg->name));
	if (r < 0)
		return r;
	j->name_len = (size_t)r;
	r = proto_frame_head(j->frame_head, j->name, j->name_len);
	if (r < 0)
		return r;
	j->frame_head_len = (size_t)r;
	for (unsigned p = 0; p < CONF_PORTS; p++) {
		const char *n = cfg->port_names[p];
		if (!n)
			continue;
		/* Worst case: every byte as \u00XX, plus the quotes; then the key. The
		 * renderer reads PROTO_FRAME_PIECE_READ bytes of a short member. */
		char q[6 * CONF_NAME_MAX + 2];
		r = proto_quote(q, sizeof(q), n, strlen(n));
		if (r < 0)
			return r;
		size_t cap = (size_t)r + 16;
		j->port[p] = calloc(1, cap > PROTO_FRAME_PIECE_READ ? cap : PROTO_FRAME_PIECE_READ);
		if (!j->port[p])
			return -ENOMEM;
		r = proto_frame_port_name(j->port[p], cap, q, (size_t)r);
		if (r < 0)
			return r;
		j->port_len[p] = (size_t)r;
	}
	return 0;
}
