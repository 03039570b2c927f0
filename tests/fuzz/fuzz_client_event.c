/* libFuzzer target: lines from the daemon as libm7bridge parses them (m7b_event_parse,
 * FRAME payload decoding, the accessors) and base64 decoding. Any input must parse or
 * fail cleanly with -EBADMSG, never crash or leak. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "m7bridge/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m7b_event *ev = NULL;
	struct m7b_error err;
	struct m7b_channel_status ch;
	uint8_t out[512];
	int64_t v;
	int r = m7b_event_parse((const char *)data, size, &ev, &err);

	if (r < 0) {
		if (r != -EBADMSG && r != -ENOMEM)
			abort();
		if (ev || err.offset > size)
			abort();
	} else {
		/* Walk everything a client might read. */
		if (ev->data && ev->data_len > size)
			abort();
		(void)m7b_event_type_to_string(ev->type);
		(void)m7b_event_get_string(ev, "class");
		(void)m7b_event_get_int(ev, "seq", &v);
		free(m7b_event_get_json(ev, "channels"));
		for (size_t i = 0; i < m7b_event_array_size(ev, "channels") && i < 64; i++) {
			(void)m7b_event_channel(ev, i, &ch);
			(void)m7b_event_array_int(ev, "channels", i, "frames", &v);
		}
		m7b_event_free(ev);
	}
	/* The raw bytes as base64 as well. */
	r = m7b_base64_decode((const char *)data, size, out, sizeof(out));
	if (r > (int)sizeof(out))
		abort();
	return 0;
}
