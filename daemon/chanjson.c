/* Pre-quoted JSON of a channel's name and port names. */
#include "chanjson.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

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
	for (unsigned p = 0; p < CONF_PORTS; p++) {
		const char *n = cfg->port_names[p];
		if (!n)
			continue;
		/* Worst case: every byte as \u00XX, plus the quotes and a NUL. */
		size_t cap = strlen(n) * 6 + 3;
		j->port[p] = malloc(cap);
		if (!j->port[p])
			return -ENOMEM;
		r = proto_quote(j->port[p], cap, n, strlen(n));
		if (r < 0)
			return r;
		j->port_len[p] = (size_t)r;
	}
	return 0;
}
