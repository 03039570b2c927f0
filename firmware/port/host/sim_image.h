/* m7sim's firmware images: how a simulated image behaves (good, or broken in a chosen
 * way) and which build id it reports, per firmware file name. Parsing only. */
#ifndef M7SIM_SIM_IMAGE_H
#define M7SIM_SIM_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_IMAGE_ID_MAX   64u
#define SIM_IMAGE_NAME_MAX 128u

enum sim_image_mode {
	SIM_IMAGE_GOOD,	     /* a working image */
	SIM_IMAGE_NO_HELLO,  /* boots, but nothing it writes reaches the link */
	SIM_IMAGE_SILENT,    /* HELLO and BOOT_INFO, then nothing more */
	SIM_IMAGE_KICK_FAIL, /* works, but the kernel logs a failed kick now and then */
};

/* An image: behaviour and identity (has_id false = m7sim's own build id). */
struct sim_image {
	enum sim_image_mode mode;
	bool has_id;
	uint8_t id[SIM_IMAGE_ID_MAX];
	size_t id_len; /* 0 with has_id: the image has no build id */
};

/* Parses "MODE[,build-id=HEX|none]" (MODE: good, no-hello, silent, kick-fail).
 * Returns 0 or -EINVAL with a message in err. */
int sim_image_parse(const char *spec, struct sim_image *img, char *err, size_t errlen);
/* Parses "NAME=SPEC" (a firmware file name and an image); name gets NAME. */
int sim_image_parse_named(const char *arg, char name[SIM_IMAGE_NAME_MAX], struct sim_image *img,
			  char *err, size_t errlen);
/* Parses a build id in hex (2..128 digits) into id; returns its length or -EINVAL. */
int sim_image_parse_id(const char *hex, uint8_t *id, size_t cap);
/* The mode's name as in SPEC. */
const char *sim_image_mode_to_string(enum sim_image_mode mode);

#endif
