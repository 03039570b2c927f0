/* m7sim's firmware images: "MODE[,build-id=HEX|none]" and "NAME=SPEC" parsing. */
#include "sim_image.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "m7bridge/hex.h"

static const char *const mode_names[] = {
	[SIM_IMAGE_GOOD] = "good",
	[SIM_IMAGE_NO_HELLO] = "no-hello",
	[SIM_IMAGE_SILENT] = "silent",
	[SIM_IMAGE_KICK_FAIL] = "kick-fail",
};

const char *sim_image_mode_to_string(enum sim_image_mode mode)
{
	if ((size_t)mode < sizeof(mode_names) / sizeof(mode_names[0]))
		return mode_names[mode];
	return "unknown";
}

int sim_image_parse_id(const char *hex, uint8_t *id, size_t cap)
{
	size_t n = strlen(hex);
	int r;

	if (n < 2)
		return -EINVAL;
	r = m7b_hex_decode(hex, n, id, cap);
	return r < 0 ? -EINVAL : r;
}

int sim_image_parse(const char *spec, struct sim_image *img, char *err, size_t errlen)
{
	const char *comma = strchr(spec, ',');
	size_t mlen = comma ? (size_t)(comma - spec) : strlen(spec);
	bool found = false;

	memset(img, 0, sizeof(*img));
	for (size_t m = 0; m < sizeof(mode_names) / sizeof(mode_names[0]); m++) {
		if (strlen(mode_names[m]) == mlen && strncmp(spec, mode_names[m], mlen) == 0) {
			img->mode = (enum sim_image_mode)m;
			found = true;
		}
	}
	if (!found) {
		snprintf(err, errlen, "image '%.*s': expected good, no-hello, silent or kick-fail",
			 (int)(mlen > 40 ? 40 : mlen), spec);
		return -EINVAL;
	}
	if (!comma)
		return 0;
	if (strncmp(comma + 1, "build-id=", 9) != 0) {
		snprintf(err, errlen, "image option '%.40s': expected build-id=HEX|none",
			 comma + 1);
		return -EINVAL;
	}
	img->has_id = true;
	if (strcmp(comma + 10, "none") == 0)
		return 0;
	int n = sim_image_parse_id(comma + 10, img->id, sizeof(img->id));
	if (n < 0) {
		snprintf(err, errlen, "build id '%.40s': expected 1..%u bytes in hex", comma + 10,
			 SIM_IMAGE_ID_MAX);
		return -EINVAL;
	}
	img->id_len = (size_t)n;
	return 0;
}

int sim_image_parse_named(const char *arg, char name[SIM_IMAGE_NAME_MAX], struct sim_image *img,
			  char *err, size_t errlen)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg || (size_t)(eq - arg) >= SIM_IMAGE_NAME_MAX ||
	    memchr(arg, '/', (size_t)(eq - arg))) {
		snprintf(err, errlen, "'%.40s': expected NAME=SPEC (a firmware file name)", arg);
		return -EINVAL;
	}
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	return sim_image_parse(eq + 1, img, err, errlen);
}
