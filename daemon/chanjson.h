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
	char frame_head[PROTO_FRAME_HEAD_MAX]; /* FRAME's start, up to the port number */
	size_t frame_head_len;
	char *port[CONF_PORTS]; /* FRAME's ,"port_name": member; NULL when the port has none */
	size_t port_len[CONF_PORTS];
};

/* Renders the names of cfg into j (replacing what it held). 0, -ENOMEM or -ENOSPC. */
int chanjson_render(struct chanjson *j, const struct conf_channel *cfg);
/* Frees what j holds and zeroes it (a zeroed j is fine). */
void chanjson_clear(struct chanjson *j);

/* The pieces of port's FRAMEs. */
static inline struct proto_frame_names chanjson_frame_names(const struct chanjson *j, uint8_t port)
{
	return (struct proto_frame_names){j->frame_head, j->frame_head_len, j->port[port],
					  j->port_len[port]};
}

#endif
