/* libFuzzer target: configuration files (conf_parse_string with libinih). Any text must
 * give a configuration or an error naming a line, never crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct conf *c = NULL;
	struct conf_error e;
	if (conf_parse_string(text, "fuzz.conf", &c, &e) == 0) {
		const char *chans[] = {"extra=/dev/null"};
		struct conf_overrides o = {
			.socket_mode = -1, .log_level = -1, .channels = chans, .nchannels = 1};
		(void)conf_apply_overrides(c, &o, &e);
		conf_free(c);
	} else {
		char msg[512];
		(void)conf_error_format(&e, msg, sizeof msg);
	}
	free(text);
	return 0;
}
