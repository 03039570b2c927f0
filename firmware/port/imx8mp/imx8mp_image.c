/* The image's identity and its no-init RAM (implements board_build_id and
 * board_persist_area): both come from the port's linker additions (m7bridge.ld). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "imx8mp_port.h"

/* Placed by m7bridge.ld around the .note.gnu.build-id input section (ld --build-id). */
extern const uint8_t __m7b_build_id_start[], __m7b_build_id_end[];

#define NT_GNU_BUILD_ID 3u

/* ELF note: namesz, descsz, type (32-bit words), name padded to 4, then desc. */
static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v)); /* the note is 4-aligned, but keep the load honest */
	return v;
}

size_t board_build_id(uint8_t *buf, size_t cap)
{
	const uint8_t *p = __m7b_build_id_start;
	size_t avail = (size_t)(__m7b_build_id_end - __m7b_build_id_start);
	uint32_t namesz, descsz, name_pad;

	if (avail < 12u)
		return 0; /* linked without --build-id */
	namesz = get_u32(p);
	descsz = get_u32(p + 4);
	name_pad = (namesz + 3u) & ~3u;
	if (get_u32(p + 8) != NT_GNU_BUILD_ID || namesz != 4u || memcmp(p + 12, "GNU", 4) != 0 ||
	    12u + name_pad + descsz > avail)
		return 0;
	if (descsz > cap)
		descsz = (uint32_t)cap;
	memcpy(buf, p + 12 + name_pad, descsz);
	return descsz;
}

/* In .m7b_noinit (NOLOAD, after .bss): the SDK start-up code never clears it. */
__attribute__((section(".m7b_noinit"), aligned(8))) static uint8_t persist[M7B_PERSIST_SIZE];

void *board_persist_area(size_t *len)
{
	*len = sizeof(persist);
	return persist;
}
