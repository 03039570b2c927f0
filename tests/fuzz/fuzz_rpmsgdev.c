/* libFuzzer target for the `rpmsg = <remoteproc>:<endpoint>` setting parser.
 * Checks: never crashes or reads past the input; an accepted spec has a terminated
 * remoteproc part without '/' or blanks, and parsing its own spelling gives it back. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "rpmsgdev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct rpmsgdev_spec s, again;
	char back[RPMSGDEV_RPROC_MAX + 16];

	CHECK(text);
	memcpy(text, data, size);
	text[size] = '\0';
	if (rpmsgdev_parse(text, &s) == 0) {
		size_t n = strnlen(s.rproc, sizeof(s.rproc));
		CHECK(n > 0 && n < sizeof(s.rproc));
		CHECK(!strchr(s.rproc, '/'));
		for (size_t i = 0; i < n; i++)
			CHECK((unsigned char)s.rproc[i] > ' ');
		snprintf(back, sizeof(back), "%s:%u", s.rproc, s.addr);
		CHECK(rpmsgdev_parse(back, &again) == 0);
		CHECK(strcmp(again.rproc, s.rproc) == 0 && again.addr == s.addr &&
		      again.rproc_index == s.rproc_index);
	}
	free(text);
	return 0;
}
