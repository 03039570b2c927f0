/* Unit tests for daemon/rpmsgdev.c on fake sysfs trees: NXP's imx_rpmsg_tty (nodes named
 * after the endpoint) and mainline rpmsg_tty (nodes numbered in probe order, renumbered
 * after a remoteproc restart). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rpmsgdev.h"

static char root[PATH_MAX];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

/* remoteprocN of a platform device, with its `name`, linked from class/remoteproc. */
static void add_rproc(int n, const char *platdev, const char *name)
{
	sh("cd '%s' && mkdir -p devices/platform/%s/remoteproc/remoteproc%d class/remoteproc "
	   "bus/rpmsg/devices class/tty && echo %s > devices/platform/%s/remoteproc/"
	   "remoteproc%d/name && ln -s ../../devices/platform/%s/remoteproc/remoteproc%d "
	   "class/remoteproc/remoteproc%d",
	   root, platdev, n, name, platdev, n, platdev, n, n);
}

/* An rpmsg device virtioV.<chan>.-1.<dst> under remoteprocN (dst attribute in hex as the
 * kernel prints it), and, when tty >= 0 or nxp, its ttyRPMSG node. */
static void add_ep(int n, const char *platdev, int v, const char *chan, unsigned dst,
		   const char *tty)
{
	char dev[PATH_MAX], name[256];
	snprintf(name, sizeof(name), "virtio%d.%s.-1.%u", v, chan, dst);
	snprintf(dev, sizeof(dev),
		 "devices/platform/%s/remoteproc/remoteproc%d/remoteproc%d#vdev0buffer/"
		 "virtio%d/%s",
		 platdev, n, n, v, name);
	sh("cd '%s' && mkdir -p '%s' && printf '0x%x\\n' > '%s/dst' && "
	   "ln -s '%s/%s' 'bus/rpmsg/devices/%s'",
	   root, dev, dst, dev, root, dev, name);
	if (tty)
		sh("cd '%s' && mkdir -p '%s/tty/%s' && ln -s '%s/%s' '%s/tty/%s/device' && "
		   "ln -s '%s/%s/tty/%s' class/tty/%s",
		   root, dev, tty, root, dev, dev, tty, root, dev, tty, tty);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "%s/rpmsgdev.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int teardown(void **state)
{
	sh("rm -rf '%s'", root);
	return 0;
}

static int resolve(const char *text, char *name, char *why)
{
	struct rpmsgdev_spec s;
	assert_int_equal(rpmsgdev_parse(text, &s), 0);
	return rpmsgdev_resolve(root, &s, name, 64, why, 160);
}

static void test_parse(void **state)
{
	struct rpmsgdev_spec s;
	assert_int_equal(rpmsgdev_parse("imx-rproc:30", &s), 0);
	assert_string_equal(s.rproc, "imx-rproc");
	assert_int_equal(s.rproc_index, -1);
	assert_int_equal(s.addr, 30);
	assert_int_equal(rpmsgdev_parse("0:0x1e", &s), 0);
	assert_int_equal(s.rproc_index, 0);
	assert_int_equal(s.addr, 30);
	assert_int_equal(rpmsgdev_parse("remoteproc2:1024", &s), 0);
	assert_int_equal(s.rproc_index, 2);
	assert_int_equal(s.addr, 1024);
	/* decimal with a leading zero is still decimal (not octal 24); hex in either case */
	assert_int_equal(rpmsgdev_parse("imx-rproc:030", &s), 0);
	assert_int_equal(s.addr, 30);
	assert_int_equal(rpmsgdev_parse("imx-rproc:08", &s), 0);
	assert_int_equal(s.addr, 8);
	assert_int_equal(rpmsgdev_parse("imx-rproc:0X1E", &s), 0);
	assert_int_equal(s.addr, 30);
	assert_int_equal(rpmsgdev_parse("imx-rproc:4294967295", &s), 0);
	assert_int_equal(s.addr, 4294967295u);
	static const char *const bad[] = {"",	   "30",    ":30",	    "imx-rproc:",
					  "x:abc", "x:-1",  "a/b:1",	    "x:0x1ffffffff",
					  "x y:1", "x:30 ", "remoteproc:x", "x: 30",
					  "x:+30", "x:0x",  "x:0x0x1e",	    "x:4294967296"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rpmsgdev_parse(bad[i], &s) == 0)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(rpmsgdev_parse(NULL, &s), -EINVAL);
}

/* NXP: the node carries the endpoint's number; the channel name is NXP's. */
static void test_nxp_driver(void **state)
{
	char name[64], why[160];
	add_rproc(0, "imx8mp-cm7", "imx-rproc");
	add_ep(0, "imx8mp-cm7", 0, "rpmsg-virtual-tty-channel-1", 30, "ttyRPMSG30");
	add_ep(0, "imx8mp-cm7", 0, "rpmsg-virtual-tty-channel-1", 31, "ttyRPMSG31");
	assert_int_equal(resolve("imx-rproc:30", name, why), 0);
	assert_string_equal(name, "ttyRPMSG30");
	assert_int_equal(resolve("0:0x1f", name, why), 0);
	assert_string_equal(name, "ttyRPMSG31");
	assert_int_equal(resolve("remoteproc0:30", name, why), 0);
	assert_string_equal(name, "ttyRPMSG30");
}

/* Mainline: numbered in probe order, renumbered after a restart. */
static void test_mainline_renumbers(void **state)
{
	char name[64], why[160];
	add_rproc(0, "imx8mp-cm7", "imx-rproc");
	add_ep(0, "imx8mp-cm7", 0, "rpmsg-tty", 31, "ttyRPMSG0");
	add_ep(0, "imx8mp-cm7", 0, "rpmsg-tty", 30, "ttyRPMSG1");
	assert_int_equal(resolve("imx-rproc:30", name, why), 0);
	assert_string_equal(name, "ttyRPMSG1");
	/* remoteproc stop/start: a new virtio device, the endpoints probed the other way
	 * round, so the same endpoint is now ttyRPMSG0. */
	sh("cd '%s' && rm -rf devices/platform/imx8mp-cm7/remoteproc/remoteproc0/"
	   "remoteproc0#vdev0buffer bus/rpmsg/devices/* class/tty/*",
	   root);
	assert_int_equal(resolve("imx-rproc:30", name, why), -ENOENT);
	assert_non_null(strstr(why, "no rpmsg endpoint 30"));
	add_ep(0, "imx8mp-cm7", 1, "rpmsg-tty", 30, "ttyRPMSG0");
	add_ep(0, "imx8mp-cm7", 1, "rpmsg-tty", 31, "ttyRPMSG1");
	assert_int_equal(resolve("imx-rproc:30", name, why), 0);
	assert_string_equal(name, "ttyRPMSG0");
}

/* Two remote processors: the endpoint is looked for below the one named only. */
static void test_which_remoteproc(void **state)
{
	char name[64], why[160];
	add_rproc(0, "imx8mp-cm7", "imx-rproc");
	add_rproc(1, "imx-dsp", "imx-dsp-rproc");
	add_ep(1, "imx-dsp", 0, "rpmsg-tty", 30, "ttyRPMSG0");
	assert_int_equal(resolve("imx-rproc:30", name, why), -ENOENT);
	assert_non_null(strstr(why, "no rpmsg endpoint 30 on imx-rproc"));
	assert_int_equal(resolve("imx-dsp-rproc:30", name, why), 0);
	assert_string_equal(name, "ttyRPMSG0");
	assert_int_equal(resolve("1:30", name, why), 0);
	assert_int_equal(resolve("2:30", name, why), -ENOENT);
	assert_non_null(strstr(why, "no remoteproc 2"));
	assert_int_equal(resolve("nope:30", name, why), -ENOENT);
	assert_non_null(strstr(why, "no remoteproc nope"));
}

/* An endpoint no tty driver bound (rpmsg_char, or the module not loaded). */
static void test_endpoint_without_tty(void **state)
{
	char name[64], why[160];
	add_rproc(0, "imx8mp-cm7", "imx-rproc");
	add_ep(0, "imx8mp-cm7", 0, "rpmsg-tty", 30, NULL);
	assert_int_equal(resolve("imx-rproc:30", name, why), -ENOENT);
	assert_non_null(strstr(why, "has no tty"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_nxp_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mainline_renumbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_which_remoteproc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endpoint_without_tty, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
