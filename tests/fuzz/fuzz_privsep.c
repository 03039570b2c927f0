/* libFuzzer target for the privileged helper's side of the socketpair: any bytes as one
 * message, decoded and checked against a fixed configuration. Checks: never crashes or
 * reads out of bounds; whatever is accepted names a configured channel, carries only
 * terminated strings, and a firmware only as a plain file name; READ_CONF and RELOAD
 * carry no string, and a RELOAD takes only the reading its token names. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "privsep_msg.h"
#include "recovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf *cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct privsep_msg m;
	const struct conf_channel *ch;
	/* A copy of exactly size bytes so ASan catches any read past the end. */
	uint8_t *buf = malloc(size ? size : 1);

	CHECK(buf);
	if (!cfg) {
		struct conf_error e;
		CHECK(conf_parse_string("[channel m7]\ndevice = /dev/ttyRPMSG30\n"
					"remoteproc = imx-rproc\nhook = true\n",
					"fuzz.conf", &cfg, &e) == 0);
	}
	memcpy(buf, data, size);
	/* Most random inputs fail the size check: also try them as a message's tail. */
	if (size < sizeof(m)) {
		uint8_t *full = calloc(1, sizeof(m));
		CHECK(full);
		(void)privsep_msg_init(&m, PRIVSEP_RPROC_SET_FIRMWARE, "m7", "a.elf");
		memcpy(full, &m, sizeof(m));
		memcpy(full + sizeof(m) - size, buf, size);
		free(buf);
		buf = full;
		size = sizeof(m);
	}
	if (privsep_msg_decode(buf, size, &m) == 0) {
		CHECK(strlen(m.channel) == m.channel_len && strlen(m.arg) == m.arg_len);
		int r = privsep_msg_check(cfg, &m, &ch);
		if (r == 0 && (m.type == PRIVSEP_RELOAD || m.type == PRIVSEP_READ_CONF))
			CHECK(!ch && m.channel_len == 0 && m.arg_len == 0);
		/* The helper's last reading: token 3, or none. */
		if (privsep_msg_check_reload(&m, 3) == 0)
			CHECK(m.type == PRIVSEP_RELOAD && m.token == 3);
		CHECK(privsep_msg_check_reload(&m, 0) == -ESTALE);
		if (r == 0 && m.type != PRIVSEP_RELOAD && m.type != PRIVSEP_READ_CONF) {
			CHECK(ch && strcmp(ch->name, m.channel) == 0);
			CHECK(m.type < PRIVSEP_RESULT);
			if (m.type == PRIVSEP_RPROC_SET_FIRMWARE)
				CHECK(recovery_firmware_name_ok(m.arg) && !strchr(m.arg, '/'));
			else
				CHECK(m.arg_len == 0);
		}
	}
	free(buf);
	return 0;
}
