/* libFuzzer target for m7sim's control-command parser (lines from the --ctl FIFO) and
 * its image specs (--image, --firmware NAME=SPEC). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_ctl.h"
#include "sim_image.h"

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

	struct sim_image img;
	char name[SIM_IMAGE_NAME_MAX];

	err[0] = '\0';
	if (sim_image_parse(line, &img, err, sizeof(err)) == 0) {
		if (strcmp(sim_image_mode_to_string(img.mode), "unknown") == 0 ||
		    img.id_len > SIM_IMAGE_ID_MAX || (!img.has_id && img.id_len != 0))
			abort();
	} else if (err[0] == '\0') {
		abort();
	}
	err[0] = '\0';
	if (sim_image_parse_named(line, name, &img, err, sizeof(err)) == 0) {
		if (memchr(name, '\0', sizeof(name)) == NULL || name[0] == '\0' ||
		    strchr(name, '/') != NULL)
			abort();
	} else if (err[0] == '\0') {
		abort();
	}
	return 0;
}
