/* libFuzzer target: client request lines (proto_parse_request) and the replies rendered
 * from what they carried. Any input must parse or fail cleanly, never crash. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_request req;
	struct proto_error e;
	char buf[2048];
	int r = proto_parse_request((const char *)data, size, &req, &e);
	if (r < 0) {
		/* The ERROR reply echoes the id when it could be read. */
		(void)proto_render_error(buf, sizeof buf, req.id, e.code, e.message, NULL);
	} else {
		(void)proto_render_ack(buf, sizeof buf, req.id, req.cmd_name, req.channel, false,
				       0);
		if (req.cmd == PROTO_CMD_SEND) {
			char out[PROTO_FRAME_MAX];
			struct proto_frame f = {.channel_json = "\"x\"",
						.channel_json_len = 3,
						.bytes = req.data,
						.nbytes = req.len};
			(void)proto_render_frame(out, sizeof out, &f, PROTO_ENC_BASE64);
			(void)proto_render_frame(out, sizeof out, &f, PROTO_ENC_HEX);
		}
	}
	proto_request_clear(&req);
	/* The quoting of arbitrary bytes (LOG text from the M7). */
	char q[8192];
	(void)proto_quote(q, sizeof q, data, size < 1000 ? size : 1000);
	return 0;
}
