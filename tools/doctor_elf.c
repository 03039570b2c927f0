/* doctor: the minimal ELF32 section lookup doctor needs to read a firmware's resource table. */
#include <errno.h>
#include <string.h>

#include "doctor.h"

/* remoteproc resource types (include/linux/remoteproc.h). */
enum { RSC_CARVEOUT = 0, RSC_DEVMEM = 1, RSC_TRACE = 2, RSC_VDEV = 3 };

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* True if [off, off+n) lies inside a buffer of len bytes, without overflow. */
static bool in_range(uint64_t off, uint64_t n, size_t len)
{
	return off <= len && n <= len - off;
}

/* Parses the table the kernel reads: version, count, reserved[2], offsets, entries. */
static int parse_table(const uint8_t *t, size_t len, struct doctor_rsc *out)
{
	if (len < 16)
		return -EBADMSG;
	out->version = rd32(t);
	out->entries = rd32(t + 4);
	if (!in_range(16, (uint64_t)out->entries * 4, len))
		return -EBADMSG;
	for (uint32_t i = 0; i < out->entries; i++) {
		uint32_t off = rd32(t + 16 + 4 * i);

		if (!in_range(off, 4, len))
			return -EBADMSG;
		switch (rd32(t + off)) {
		case RSC_CARVEOUT:
			out->carveouts++;
			break;
		case RSC_TRACE:
			/* struct fw_rsc_trace: type, da, len, reserved, name[32] */
			if (!in_range(off, 48, len))
				return -EBADMSG;
			if (out->traces++ == 0) {
				out->trace_da = rd32(t + off + 4);
				out->trace_len = rd32(t + off + 8);
				memcpy(out->trace_name, t + off + 16, 32);
				out->trace_name[32] = '\0';
			}
			break;
		case RSC_VDEV:
			out->vdevs++;
			break;
		default:
			break;
		}
	}
	return 0;
}

int doctor_elf_rsc(const uint8_t *img, size_t len, struct doctor_rsc *out)
{
	memset(out, 0, sizeof(*out));
	/* e_ident: magic, ELFCLASS32, ELFDATA2LSB: the Cortex-M7 toolchains' output. */
	if (len < 52 || memcmp(img, "\177ELF", 4) != 0 || img[4] != 1 || img[5] != 1)
		return -ENOEXEC;
	uint32_t shoff = rd32(img + 32);
	uint16_t shentsize = rd16(img + 46), shnum = rd16(img + 48), shstrndx = rd16(img + 50);

	if (shentsize < 40 || shstrndx >= shnum ||
	    !in_range(shoff, (uint64_t)shnum * shentsize, len))
		return -EBADMSG;
	const uint8_t *strsh = img + shoff + (size_t)shstrndx * shentsize;
	uint32_t stroff = rd32(strsh + 16), strsize = rd32(strsh + 20);

	if (!in_range(stroff, strsize, len))
		return -EBADMSG;
	for (uint16_t i = 0; i < shnum; i++) {
		const uint8_t *sh = img + shoff + (size_t)i * shentsize;
		uint32_t name = rd32(sh);
		static const char want[] = ".resource_table";

		if (name >= strsize || strsize - name < sizeof(want) ||
		    memcmp(img + stroff + name, want, sizeof(want)) != 0)
			continue;
		uint32_t off = rd32(sh + 16), size = rd32(sh + 20);

		/* SHT_NOBITS would have no bytes in the file: the kernel cannot read it. */
		if (rd32(sh + 4) == 8 || !in_range(off, size, len))
			return -EBADMSG;
		return parse_table(img + off, size, out);
	}
	return -ENOENT;
}
