/* Raw-mode chunks to watching clients as RAW objects (rendered once per encoding), then
 * the observers (the pty among them). */
#include "daemon_int.h"

#define RAW_LINE_MAX (2 * CHANNEL_RAW_CHUNK + 256 + 2 * PROTO_NAME_MAX)

void publish_raw(void *ud, struct channel *ch, const struct channel_raw *r)
{
	struct daemon *d = ud;
	const struct chanjson *names = &d->names[channel_slot(ch)];
	char b64[RAW_LINE_MAX], hex[RAW_LINE_MAX];
	int nb = 0, nh = 0;
	/* Raw bytes have no port: port 0 stands for the whole stream in port filters. */
	for (struct conn *c = d->clients; c; c = c->next) {
		if (!conn_wants(c, channel_slot(ch), PROTO_C_RAW, 0))
			continue;
		bool is_hex = c->encoding == PROTO_ENC_HEX;
		int *n = is_hex ? &nh : &nb;
		char *line = is_hex ? hex : b64;
		if (*n == 0)
			*n = proto_render_raw(line, RAW_LINE_MAX, names->name, names->name_len,
					      r->data, r->len, r->t_rx_ns, r->t_rx_mono_ns,
					      c->encoding);
		if (*n > 0)
			conn_stream_raw(c, line, (size_t)*n, r->len);
	}
	for (unsigned i = 0; i < d->nobservers; i++)
		if (d->observers[i].on_raw)
			d->observers[i].on_raw(d->observers[i].ud, ch, r);
}
