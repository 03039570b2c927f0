/* libFuzzer target for m7sim's control-command parser (lines from the --ctl FIFO). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[512], err[160];
	struct sim_ctl_cmd c;

	if (size >= sizeof(line))
		size = sizeof(line) - 1;
	memcpy(line, data, size);
	line[size] = '\0';
	if (sim_ctl_parse(line, &c, err, sizeof(err)) == 0) {
		/* A parsed command names itself and carries a terminated text. */
		if (strcmp(sim_ctl_op_to_string(c.op), "unknown") == 0 ||
		    memchr(c.text, '\0', sizeof(c.text)) == NULL)
			abort();
	} else if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0') {
		abort();
	}
	return 0;
}
