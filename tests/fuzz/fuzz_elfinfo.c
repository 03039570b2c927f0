/* libFuzzer target for the ELF reader (lib/elfinfo.c): any bytes as an ELF image. Whatever
 * parses must describe only what lies inside the input. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elfinfo.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct elfinfo e;
	char hex[2 * ELFINFO_BUILD_ID_MAX + 1];
	/* exact-size heap copy: a read past the end is caught */
	uint8_t *img = malloc(size ? size : 1);
	int r;

	if (!img)
		return 0;
	memcpy(img, data, size);
	r = elfinfo_parse(img, size, &e);
	CHECK(r == 0 || r == -ENOEXEC || r == -EBADMSG);
	if (r == 0) {
		CHECK(e.build_id_len <= ELFINFO_BUILD_ID_MAX);
		CHECK(e.nsections <= ELFINFO_SECTIONS_MAX && e.nrsc <= ELFINFO_RSC_MAX);
		for (size_t i = 0; i < e.nsections; i++) {
			CHECK(strlen(e.sections[i].name) < sizeof(e.sections[i].name));
			if (e.sections[i].type != 8u && e.sections[i].type != 0u)
				CHECK(e.sections[i].offset <= size &&
				      e.sections[i].size <= size - e.sections[i].offset);
		}
		for (size_t i = 0; i < e.nrsc; i++)
			CHECK(strlen(e.rsc[i].trace_name) <= 32);
		elfinfo_build_id_hex(&e, hex, sizeof(hex));
		CHECK(strlen(hex) == 2 * e.build_id_len);
	}
	free(img);
	return 0;
}
