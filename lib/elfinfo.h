/* A small ELF reader for firmware checks (internal, not part of libm7bridge's API): the
 * GNU build-id note, the section list and the remoteproc resource table's entries. */
#ifndef M7B_ELFINFO_H
#define M7B_ELFINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELFINFO_BUILD_ID_MAX 64u
#define ELFINFO_SECTIONS_MAX 128u
#define ELFINFO_RSC_MAX	     16u
#define ELFINFO_VRINGS_MAX   4u

/* e_machine values named here. */
#define ELFINFO_EM_386	   3u
#define ELFINFO_EM_ARM	   40u
#define ELFINFO_EM_X86_64  62u
#define ELFINFO_EM_AARCH64 183u
#define ELFINFO_EM_RISCV   243u

/* The machine this code was built for (the simulator's ELFs are such), 0 if not named. */
#if defined(__x86_64__)
#define ELFINFO_HOST_MACHINE ELFINFO_EM_X86_64
#elif defined(__aarch64__)
#define ELFINFO_HOST_MACHINE ELFINFO_EM_AARCH64
#elif defined(__arm__)
#define ELFINFO_HOST_MACHINE ELFINFO_EM_ARM
#elif defined(__i386__)
#define ELFINFO_HOST_MACHINE ELFINFO_EM_386
#elif defined(__riscv)
#define ELFINFO_HOST_MACHINE ELFINFO_EM_RISCV
#else
#define ELFINFO_HOST_MACHINE 0u
#endif

/* Resource types of the Linux remoteproc resource table. */
enum elfinfo_rsc_type {
	ELFINFO_RSC_CARVEOUT = 0,
	ELFINFO_RSC_DEVMEM = 1,
	ELFINFO_RSC_TRACE = 2,
	ELFINFO_RSC_VDEV = 3,
};

struct elfinfo_section {
	char name[32]; /* cut to fit; NUL-terminated */
	uint32_t type;
	uint64_t addr, offset, size;
};

struct elfinfo_vring {
	uint32_t da, align, num, notifyid;
};

/* One resource table entry; the fields of its type are set, the others are zero. */
struct elfinfo_rsc {
	uint32_t type;
	/* trace */
	uint32_t trace_da, trace_len;
	char trace_name[33];
	/* vdev */
	uint32_t vdev_id, vdev_notifyid, vdev_dfeatures, vdev_config_len;
	uint8_t vdev_nvrings; /* as in the table; vring[] holds at most ELFINFO_VRINGS_MAX */
	struct elfinfo_vring vring[ELFINFO_VRINGS_MAX];
};

struct elfinfo {
	uint8_t elf_class; /* 1 = ELF32, 2 = ELF64 */
	uint16_t machine;  /* EM_ARM = 40, EM_X86_64 = 62, EM_AARCH64 = 183 */
	uint8_t build_id[ELFINFO_BUILD_ID_MAX];
	size_t build_id_len; /* 0: no GNU build-id note */
	size_t nsections;    /* in sections[] */
	size_t sections_skipped;
	struct elfinfo_section sections[ELFINFO_SECTIONS_MAX];
	bool has_rsc_table;   /* a .resource_table section with a readable header */
	uint32_t rsc_version; /* the table's ver (1) */
	size_t nrsc;	      /* entries in rsc[] */
	size_t rsc_skipped;   /* entries beyond ELFINFO_RSC_MAX */
	struct elfinfo_rsc rsc[ELFINFO_RSC_MAX];
};

/* Reads an ELF image in memory (little-endian ELF32 or ELF64). Returns 0, -ENOEXEC when it
 * is not such an ELF, -EBADMSG when a header, section or table points outside the data.
 * A bad resource table does not fail the parse: has_rsc_table stays false. */
int elfinfo_parse(const uint8_t *data, size_t len, struct elfinfo *out);
/* Reads the file at path (at most 64 MiB) and parses it: 0, -errno or as elfinfo_parse. */
int elfinfo_load(const char *path, struct elfinfo *out);
/* The section called name, or NULL. */
const struct elfinfo_section *elfinfo_section(const struct elfinfo *e, const char *name);
/* True for an image remoteproc can load on the Cortex-M7: ELF32 for ARM. */
bool elfinfo_is_m7_image(const struct elfinfo *e);
/* A name for e_machine ("ARM", "x86-64", "AArch64"); NULL when not one named here. */
const char *elfinfo_machine_name(unsigned machine);
/* The build id in lower-case hex into buf (2 * len + 1 bytes); "" when there is none. */
void elfinfo_build_id_hex(const struct elfinfo *e, char *buf, size_t cap);

#endif
