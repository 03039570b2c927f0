/* A channel's name and port names as pre-quoted JSON: rendered once per configuration,
 * copied into every FRAME. Kept by the client side, so the tty layer knows no JSON. */
#ifndef M7B_CHANJSON_H
#define M7B_CHANJSON_H

#include <stddef.h>

#include "conf.h"
#include "proto.h"

struct chanjson {
	char name[2 * CONF_NAME_MAX + 8];
	size_t name_len;
	struct proto_frame_names frame; /* FRAME's pieces made of the names */
};

/* Renders the names of cfg into j (replacing what it held). 0, -ENOMEM or -ENOSPC. */
int chanjson_render(struct chanjson *j, const struct conf_channel *cfg);
/* Frees what j holds and zeroes it (a zeroed j is fine). */
void chanjson_clear(struct chanjson *j);

#endif
