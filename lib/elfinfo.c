/* A small bounds-checked ELF reader: build-id note, sections, remoteproc resource table. */
#include "elfinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOAD_MAX  (64u * 1024u * 1024u)
#define SHT_NOTE  7u
#define NT_GNU_ID 3u

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* True when [off, off + n) lies inside len bytes (no overflow). */
static bool inside(size_t len, uint64_t off, uint64_t n)
{
	return off <= len && n <= len - off;
}

/* Section headers as a class-independent struct (name is an offset into shstrtab). */
struct shdr {
	uint32_t name, type;
	uint64_t addr, offset, size;
};

static void read_shdr(const uint8_t *p, uint8_t cls, struct shdr *s)
{
	s->name = rd32(p);
	s->type = rd32(p + 4);
	if (cls == 1) {
		s->addr = rd32(p + 12);
		s->offset = rd32(p + 16);
		s->size = rd32(p + 20);
	} else {
		s->addr = rd64(p + 16);
		s->offset = rd64(p + 24);
		s->size = rd64(p + 32);
	}
}

/* Looks for NT_GNU_BUILD_ID in one note section. */
static void scan_notes(const uint8_t *p, uint64_t n, struct elfinfo *e)
{
	uint64_t pos = 0;

	while (n - pos >= 12u) {
		uint32_t namesz = rd32(p + pos), descsz = rd32(p + pos + 4),
			 type = rd32(p + pos + 8);
		uint64_t name_al = ((uint64_t)namesz + 3u) & ~3ull;
		uint64_t desc_al = ((uint64_t)descsz + 3u) & ~3ull;
		uint64_t body = pos + 12u;

		if (name_al > n - body || desc_al > n - body - name_al)
			return;
		if (type == NT_GNU_ID && namesz == 4 && memcmp(p + body, "GNU", 4) == 0 &&
		    descsz > 0 && descsz <= ELFINFO_BUILD_ID_MAX) {
			memcpy(e->build_id, p + body + name_al, descsz);
			e->build_id_len = descsz;
			return;
		}
		pos = body + name_al + desc_al;
	}
}

/* struct resource_table { u32 ver, num, reserved[2]; u32 offset[num]; } then entries that
 * start with u32 type (include/linux/remoteproc.h). Any entry outside the section ends
 * the walk with has_rsc_table false. */
static void scan_rsc(const uint8_t *p, uint64_t n, struct elfinfo *e)
{
	uint32_t num;

	if (n < 16u)
		return;
	num = rd32(p + 4);
	if (num > (n - 16u) / 4u)
		return;
	e->rsc_version = rd32(p);
	for (uint32_t i = 0; i < num; i++) {
		uint32_t off = rd32(p + 16u + 4u * i);
		struct elfinfo_rsc *r;
		const uint8_t *b;

		if (!inside(n, off, 4))
			return;
		if (e->nrsc == ELFINFO_RSC_MAX) {
			e->rsc_skipped++;
			continue;
		}
		r = &e->rsc[e->nrsc];
		memset(r, 0, sizeof(*r));
		r->type = rd32(p + off);
		b = p + off + 4u;
		if (r->type == ELFINFO_RSC_TRACE) {
			/* u32 da, len, reserved; u8 name[32] */
			if (!inside(n, off + 4u, 44))
				return;
			r->trace_da = rd32(b);
			r->trace_len = rd32(b + 4);
			memcpy(r->trace_name, b + 12, 32);
			r->trace_name[32] = '\0';
		} else if (r->type == ELFINFO_RSC_VDEV) {
			/* u32 id, notifyid, dfeatures, gfeatures, config_len; u8 status,
			 * num_of_vrings, reserved[2]; then vrings of 5 u32 each */
			if (!inside(n, off + 4u, 24))
				return;
			r->vdev_id = rd32(b);
			r->vdev_notifyid = rd32(b + 4);
			r->vdev_dfeatures = rd32(b + 8);
			r->vdev_config_len = rd32(b + 16);
			r->vdev_nvrings = b[21];
			if (!inside(n, off + 28u, (uint64_t)r->vdev_nvrings * 20u))
				return;
			for (unsigned v = 0; v < r->vdev_nvrings && v < ELFINFO_VRINGS_MAX; v++) {
				const uint8_t *vr = b + 24 + 20u * v;

				r->vring[v].da = rd32(vr);
				r->vring[v].align = rd32(vr + 4);
				r->vring[v].num = rd32(vr + 8);
				r->vring[v].notifyid = rd32(vr + 12);
			}
		}
		e->nrsc++;
	}
	e->has_rsc_table = true;
}

int elfinfo_parse(const uint8_t *data, size_t len, struct elfinfo *e)
{
	uint64_t shoff;
	uint16_t shentsize, shnum, shstrndx;
	struct shdr strtab;
	uint8_t cls;

	memset(e, 0, sizeof(*e));
	if (len < 52 ||
	    memcmp(data,
		   "\x7f"
		   "ELF",
		   4) != 0 ||
	    (data[4] != 1 && data[4] != 2) || data[5] != 1 /* little-endian */)
		return -ENOEXEC;
	cls = data[4];
	if (cls == 2 && len < 64)
		return -ENOEXEC;
	e->elf_class = cls;
	e->machine = rd16(data + 18);
	shoff = cls == 1 ? rd32(data + 32) : rd64(data + 40);
	shentsize = rd16(data + (cls == 1 ? 46 : 58));
	shnum = rd16(data + (cls == 1 ? 48 : 60));
	shstrndx = rd16(data + (cls == 1 ? 50 : 62));
	if (shnum == 0)
		return 0; /* no sections (stripped of its headers): nothing more to read */
	if (shentsize < (cls == 1 ? 40u : 64u) ||
	    !inside(len, shoff, (uint64_t)shnum * shentsize) || shstrndx >= shnum)
		return -EBADMSG;
	read_shdr(data + shoff + (uint64_t)shstrndx * shentsize, cls, &strtab);
	if (!inside(len, strtab.offset, strtab.size))
		return -EBADMSG;

	for (uint16_t i = 0; i < shnum; i++) {
		struct shdr sh;
		struct elfinfo_section *out;
		const char *name = "";
		size_t nlen = 0;

		read_shdr(data + shoff + (uint64_t)i * shentsize, cls, &sh);
		if (sh.name < strtab.size) {
			name = (const char *)data + strtab.offset + sh.name;
			nlen = strnlen(name, (size_t)(strtab.size - sh.name));
		}
		/* NULL and NOBITS (.bss) sections have no bytes in the file; the rest must. */
		bool has_bytes = sh.type != 0u && sh.type != 8u;

		if (has_bytes && !inside(len, sh.offset, sh.size))
			return -EBADMSG;
		if (sh.type == SHT_NOTE && e->build_id_len == 0)
			scan_notes(data + sh.offset, sh.size, e);
		if (nlen == 15 && memcmp(name, ".resource_table", 15) == 0 && has_bytes &&
		    !e->has_rsc_table)
			scan_rsc(data + sh.offset, sh.size, e);
		if (e->nsections == ELFINFO_SECTIONS_MAX) {
			e->sections_skipped++;
			continue;
		}
		out = &e->sections[e->nsections++];
		if (nlen >= sizeof(out->name))
			nlen = sizeof(out->name) - 1u;
		memcpy(out->name, name, nlen);
		out->name[nlen] = '\0';
		out->type = sh.type;
		out->addr = sh.addr;
		out->offset = sh.offset;
		out->size = sh.size;
	}
	return 0;
}

int elfinfo_load(const char *path, struct elfinfo *e)
{
	/* O_NONBLOCK: a FIFO in the file's place must not block the caller's event loop
	 * until someone writes to it; regular files ignore it, the rest is refused below. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY), r;
	struct stat st;
	uint8_t *buf;
	size_t got = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)LOAD_MAX) {
		close(fd);
		return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1u);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	r = elfinfo_parse(buf, got, e);
	free(buf);
	return r;
}

const struct elfinfo_section *elfinfo_section(const struct elfinfo *e, const char *name)
{
	for (size_t i = 0; i < e->nsections; i++)
		if (strcmp(e->sections[i].name, name) == 0)
			return &e->sections[i];
	return NULL;
}

void elfinfo_build_id_hex(const struct elfinfo *e, char *buf, size_t cap)
{
	size_t n = 0;

	if (cap == 0)
		return;
	for (size_t i = 0; i < e->build_id_len && n + 2 < cap; i++, n += 2)
		snprintf(buf + n, cap - n, "%02x", e->build_id[i]);
	buf[n] = '\0';
}

bool elfinfo_is_m7_image(const struct elfinfo *e)
{
	return e->elf_class == 1 && e->machine == ELFINFO_EM_ARM;
}

const char *elfinfo_machine_name(unsigned machine)
{
	switch (machine) {
	case ELFINFO_EM_386:
		return "i386";
	case ELFINFO_EM_ARM:
		return "ARM";
	case ELFINFO_EM_X86_64:
		return "x86-64";
	case ELFINFO_EM_AARCH64:
		return "AArch64";
	case ELFINFO_EM_RISCV:
		return "RISC-V";
	default:
		return NULL;
	}
}
