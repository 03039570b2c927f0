/* Tests of the ELF reader (lib/elfinfo.c) on ELF files of this build (m7sim, the QEMU
 * image) and on a synthetic image with a vdev and a trace entry, cut and corrupted. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "elfinfo.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

#define SHSTR_OFF 52u
#define RSC_OFF	  100u
#define RSC_LEN	  (16u + 8u + 28u + 40u + 48u) /* header, 2 offsets, vdev + 2 vrings, trace */
#define NOTE_OFF  (RSC_OFF + RSC_LEN)
#define NOTE_LEN  (12u + 4u + 8u)
#define SH_OFF	  ((NOTE_OFF + NOTE_LEN + 3u) & ~3u)
#define IMG_LEN	  (SH_OFF + 4u * 40u)

static const char shstr[] = "\0.shstrtab\0.resource_table\0.note.gnu.build-id";

static void shdr(uint8_t *img, unsigned i, uint32_t name, uint32_t type, uint32_t off,
		 uint32_t size)
{
	uint8_t *p = img + SH_OFF + 40u * i;

	put32(p, name);
	put32(p + 4, type);
	put32(p + 12, 0x1000u * i); /* addr */
	put32(p + 16, off);
	put32(p + 20, size);
}

/* An ELF32 ARM image: .shstrtab, .resource_table (vdev with two vrings, trace), a build id. */
static void make_image(uint8_t *img)
{
	uint8_t *r = img + RSC_OFF, *n = img + NOTE_OFF;

	memset(img, 0, IMG_LEN);
	memcpy(img,
	       "\x7f"
	       "ELF",
	       4);
	img[4] = 1; /* ELF32 */
	img[5] = 1; /* little-endian */
	put16(img + 18, 40);
	put32(img + 32, SH_OFF);
	put16(img + 46, 40);
	put16(img + 48, 4);
	put16(img + 50, 1);
	memcpy(img + SHSTR_OFF, shstr, sizeof(shstr));
	/* resource table */
	put32(r, 1);
	put32(r + 4, 2);
	put32(r + 16, 24);
	put32(r + 20, 24 + 28 + 40);
	put32(r + 24, 3); /* vdev */
	put32(r + 28, 7);
	put32(r + 32, 0);
	put32(r + 36, 1); /* dfeatures */
	r[24 + 4 + 21] = 2;
	put32(r + 52, 0x55000000u);
	put32(r + 56, 0x1000);
	put32(r + 60, 256);
	put32(r + 64, 1);
	put32(r + 72, 0x55008000u);
	put32(r + 76, 0x1000);
	put32(r + 80, 256);
	put32(r + 84, 2);
	put32(r + 92, 2); /* trace */
	put32(r + 96, 0x203FE000u);
	put32(r + 100, 4096);
	memcpy(r + 108, "trace0", 6);
	/* build id note */
	put32(n, 4);
	put32(n + 4, 8);
	put32(n + 8, 3);
	memcpy(n + 12, "GNU", 4);
	memcpy(n + 16, "\x01\x02\x03\x04\xa0\xb0\xc0\xd0", 8);
	shdr(img, 1, 1, 3, SHSTR_OFF, sizeof(shstr));
	shdr(img, 2, 11, 1, RSC_OFF, RSC_LEN);
	shdr(img, 3, 27, 7, NOTE_OFF, NOTE_LEN);
}

static void test_synthetic_image(void **state)
{
	static uint8_t img[IMG_LEN];
	static struct elfinfo e;
	char hex[2 * ELFINFO_BUILD_ID_MAX + 1];

	(void)state;
	make_image(img);
	assert_int_equal(elfinfo_parse(img, IMG_LEN, &e), 0);
	assert_int_equal(e.elf_class, 1);
	assert_int_equal(e.machine, 40);
	assert_true(elfinfo_is_m7_image(&e));
	assert_int_equal(e.nsections, 4);
	assert_non_null(elfinfo_section(&e, ".resource_table"));
	assert_null(elfinfo_section(&e, ".nothing"));
	elfinfo_build_id_hex(&e, hex, sizeof(hex));
	assert_string_equal(hex, "01020304a0b0c0d0");
	assert_true(e.has_rsc_table);
	assert_int_equal(e.rsc_version, 1);
	assert_int_equal(e.nrsc, 2);
	assert_int_equal(e.rsc[0].type, ELFINFO_RSC_VDEV);
	assert_int_equal(e.rsc[0].vdev_id, 7);
	assert_int_equal(e.rsc[0].vdev_dfeatures, 1);
	assert_int_equal(e.rsc[0].vdev_nvrings, 2);
	assert_int_equal(e.rsc[0].vring[0].da, 0x55000000u);
	assert_int_equal(e.rsc[0].vring[1].da, 0x55008000u);
	assert_int_equal(e.rsc[0].vring[1].num, 256);
	assert_int_equal(e.rsc[1].type, ELFINFO_RSC_TRACE);
	assert_int_equal(e.rsc[1].trace_da, 0x203FE000u);
	assert_int_equal(e.rsc[1].trace_len, 4096);
	assert_string_equal(e.rsc[1].trace_name, "trace0");
	/* A short hex buffer is cut at a whole byte. */
	elfinfo_build_id_hex(&e, hex, 6);
	assert_string_equal(hex, "0102");
}

static void test_cut_and_corrupt(void **state)
{
	static uint8_t img[IMG_LEN];
	static struct elfinfo e;

	(void)state;
	make_image(img);
	/* Every cut: an error or a result, never a read past the end (ASan builds check). */
	for (size_t len = 0; len < IMG_LEN; len++) {
		int r = elfinfo_parse(img, len, &e);

		assert_true(r == 0 || r == -ENOEXEC || r == -EBADMSG);
		assert_true(len >= 52 || r == -ENOEXEC);
	}
	/* A vdev claiming 200 vrings runs past the table: the table is not read. */
	img[RSC_OFF + 24 + 4 + 21] = 200;
	assert_int_equal(elfinfo_parse(img, IMG_LEN, &e), 0);
	assert_false(e.has_rsc_table);
	assert_int_equal(e.build_id_len, 8);
	/* An entry offset outside the table. */
	make_image(img);
	put32(img + RSC_OFF + 20, 0xFFFFFFF0u);
	assert_int_equal(elfinfo_parse(img, IMG_LEN, &e), 0);
	assert_false(e.has_rsc_table);
	/* A section pointing past the file fails the whole parse. */
	make_image(img);
	put32(img + SH_OFF + 40 * 2 + 20, 0x7FFFFFFFu);
	assert_int_equal(elfinfo_parse(img, IMG_LEN, &e), -EBADMSG);
	/* Not an ELF, big-endian, section headers past the end. */
	make_image(img);
	img[0] = 'X';
	assert_int_equal(elfinfo_parse(img, IMG_LEN, &e), -ENOEXEC);
	make_image(img);
	img[5] = 2;
	assert_int_equal(elfinfo_parse(img, IMG_LEN, &e), -ENOEXEC);
	make_image(img);
	put32(img + 32, IMG_LEN - 10);
	assert_int_equal(elfinfo_parse(img, IMG_LEN, &e), -EBADMSG);
	assert_int_equal(elfinfo_load("/nonexistent/elf", &e), -ENOENT);
}

/* A FIFO (or device) named like a firmware file is refused at once: reading it would
 * block the daemon's event loop until something writes to it. */
static void test_fifo_refused(void **state)
{
	static struct elfinfo e;
	char dir[] = "/tmp/m7b-elfinfo-XXXXXX", path[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fw.elf", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10); /* a hang ends the test (SIGALRM) instead of the suite's timeout */
	assert_int_equal(elfinfo_load(path, &e), -EINVAL);
	alarm(0);
	unlink(path);
	rmdir(dir);
}

static void test_m7sim_elf(void **state)
{
	static struct elfinfo e;

	(void)state;
	assert_int_equal(elfinfo_load(ELFINFO_M7SIM, &e), 0);
	assert_int_equal(e.elf_class, 2);
	/* A host program: not an image for the M7, and of the machine this was built for. */
	assert_false(elfinfo_is_m7_image(&e));
	assert_int_equal(e.machine, ELFINFO_HOST_MACHINE);
	assert_true(e.build_id_len >= 8); /* the toolchain's default --build-id */
	assert_non_null(elfinfo_section(&e, ".text"));
	assert_false(e.has_rsc_table);
}

static void test_qemu_elf(void **state)
{
#ifdef ELFINFO_QEMU
	static struct elfinfo e;
	const struct elfinfo_section *s;

	(void)state;
	assert_int_equal(elfinfo_load(ELFINFO_QEMU, &e), 0);
	assert_int_equal(e.elf_class, 1);
	assert_int_equal(e.machine, 40);
	assert_true(elfinfo_is_m7_image(&e));
	assert_int_equal(e.build_id_len, 20); /* --build-id=sha1 */
	s = elfinfo_section(&e, ".trace");
	assert_non_null(s);
	assert_int_equal(s->addr, 0x203FE000u);
	assert_true(e.has_rsc_table);
	assert_int_equal(e.nrsc, 1);
	assert_int_equal(e.rsc[0].type, ELFINFO_RSC_TRACE);
	assert_int_equal(e.rsc[0].trace_da, 0x203FE000u);
	assert_int_equal(e.rsc[0].trace_len, 4096);
	assert_string_equal(e.rsc[0].trace_name, "trace0");
#else
	(void)state;
	skip();
#endif
}

/* The same image for another machine or class is not one for the M7; names of machines. */
static void test_machine(void **state)
{
	static uint8_t img[IMG_LEN];
	static struct elfinfo e;

	(void)state;
	make_image(img);
	put16(img + 18, ELFINFO_EM_X86_64);
	assert_int_equal(elfinfo_parse(img, IMG_LEN, &e), 0);
	assert_false(elfinfo_is_m7_image(&e));
	put16(img + 18, ELFINFO_EM_AARCH64);
	assert_int_equal(elfinfo_parse(img, IMG_LEN, &e), 0);
	assert_false(elfinfo_is_m7_image(&e));
	e.elf_class = 2; /* an ELF64 that says ARM */
	e.machine = ELFINFO_EM_ARM;
	assert_false(elfinfo_is_m7_image(&e));
	assert_string_equal(elfinfo_machine_name(ELFINFO_EM_ARM), "ARM");
	assert_string_equal(elfinfo_machine_name(ELFINFO_EM_X86_64), "x86-64");
	assert_string_equal(elfinfo_machine_name(ELFINFO_EM_AARCH64), "AArch64");
	assert_null(elfinfo_machine_name(0xbeef));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_synthetic_image), cmocka_unit_test(test_cut_and_corrupt),
		cmocka_unit_test(test_fifo_refused),	cmocka_unit_test(test_m7sim_elf),
		cmocka_unit_test(test_qemu_elf),	cmocka_unit_test(test_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
