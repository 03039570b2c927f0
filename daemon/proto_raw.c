/* The RAW object: one chunk of a raw-mode channel's bytes with the host's receive time,
 * rendered by hand like FRAME (it is streamed as often). */
#include "proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "m7bridge/base64.h"

static const char hexdig[] = "0123456789abcdef";

int proto_render_raw(char *buf, size_t cap, const char *channel_json, size_t channel_json_len,
		     const uint8_t *data, size_t len, uint64_t t_rx_ns, uint64_t t_rx_mono_ns,
		     enum proto_encoding enc)
{
	/* Upper bound of everything but the payload: class, members, two 20-digit times. */
	size_t need = channel_json_len + 160 + (enc == PROTO_ENC_HEX ? 2 * len : (len + 2) / 3 * 4);
	if (need > cap)
		return -ENOSPC;
	size_t o = 0;
	memcpy(buf, "{\"class\":\"RAW\",\"channel\":", 25);
	o = 25;
	memcpy(buf + o, channel_json, channel_json_len);
	o += channel_json_len;
	if (enc == PROTO_ENC_HEX) {
		memcpy(buf + o, ",\"hex\":\"", 8);
		o += 8;
		for (size_t i = 0; i < len; i++) {
			buf[o++] = hexdig[data[i] >> 4];
			buf[o++] = hexdig[data[i] & 15];
		}
	} else {
		memcpy(buf + o, ",\"data\":\"", 9);
		o += 9;
		int n = m7b_base64_encode(data, len, buf + o, cap - o);
		if (n < 0)
			return -ENOSPC;
		o += (size_t)n;
	}
	int n = snprintf(buf + o, cap - o,
			 "\",\"len\":%zu,\"t_rx_ns\":%" PRIu64 ",\"t_rx_mono_ns\":%" PRIu64 "}\n",
			 len, t_rx_ns, t_rx_mono_ns);
	if (n < 0 || (size_t)n >= cap - o)
		return -ENOSPC;
	return (int)(o + (size_t)n);
}
