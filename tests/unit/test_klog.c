/* Unit tests for the kernel log classifier (daemon/klog.c): every format of the
 * remoteproc/rpmsg/tty table as printed, near-misses, garbage and kmsg records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "klog.h"

struct line_case {
	const char *line;
	enum klog_kind kind;
	enum klog_impact impact;
	const char *driver, *device, *name;
	int has_vq, vq;
	int has_err, err;
	int has_addr;
	uint32_t addr, addr2;
};

#define RP "imx-rproc imx8mp-cm7: "
#define RC "remoteproc remoteproc0: "
#define VB "virtio_rpmsg_bus virtio0: "
#define MU "imx_mu 30aa0000.mailbox: "
#define TT "imx_rpmsg_tty virtio0.rpmsg-virtual-tty-channel-1.-1.30: "

static const struct line_case lines[] = {
	{RP "imx_rproc_kick: failed (1, err:-62)", KLOG_KICK_FAILED, KLOG_DEGRADED, "imx-rproc",
	 "imx8mp-cm7", "", 1, 1, 1, -62, 0, 0, 0},
	{RP "imx_rproc_kick: failed (0, err:-62)\n", KLOG_KICK_FAILED, KLOG_DEGRADED, "imx-rproc",
	 "imx8mp-cm7", "", 1, 0, 1, -62, 0, 0, 0},
	{RP "imx_rproc_kick: failed (3, err:-105)", KLOG_KICK_FAILED, KLOG_DEGRADED, "imx-rproc",
	 "imx8mp-cm7", "", 1, 3, 1, -105, 0, 0, 0},
	{"imx_rproc_kick: failed (1, err:-62)", KLOG_KICK_FAILED, KLOG_DEGRADED, "", "", "", 1, 1,
	 1, -62, 0, 0, 0},
	{"[ 812.345678] " RP "imx_rproc_kick: failed (1, err:-62)", KLOG_KICK_FAILED, KLOG_DEGRADED,
	 "imx-rproc", "imx8mp-cm7", "", 1, 1, 1, -62, 0, 0, 0},
	{RP "Failed to enable remote core!", KLOG_RPROC_ENABLE_FAILED, KLOG_DOWN, "imx-rproc",
	 "imx8mp-cm7", "", 0, 0, 0, 0, 0, 0, 0},
	{RP "Failed to stop remote core, ret=-110", KLOG_RPROC_STOP_FAILED, KLOG_DOWN, "imx-rproc",
	 "imx8mp-cm7", "", 0, 0, 1, -110, 0, 0, 0},
	/* Mainline prints it without the error. */
	{RP "Failed to stop remote core", KLOG_RPROC_STOP_FAILED, KLOG_DOWN, "imx-rproc",
	 "imx8mp-cm7", "", 0, 0, 0, 0, 0, 0, 0},
	{RP "Not in wfi, force stopped", KLOG_RPROC_FORCE_STOPPED, KLOG_NOTICE, "imx-rproc",
	 "imx8mp-cm7", "", 0, 0, 0, 0, 0, 0, 0},
	/* imx_rproc prints it on the rproc's own device (dev_info(&rproc->dev, ...)). */
	{RC "No resource table in elf", KLOG_NO_RESOURCE_TABLE, KLOG_DOWN, "remoteproc",
	 "remoteproc0", "", 0, 0, 0, 0, 0, 0, 0},
	{RP "Translation failed: da = 0x1ffe0000 len = 0x20000", KLOG_TRANSLATION_FAILED, KLOG_DOWN,
	 "imx-rproc", "imx8mp-cm7", "", 0, 0, 0, 0, 0, 0, 0},
	{MU "Try increasing MBOX_TX_QUEUE_LEN", KLOG_MBOX_QUEUE_FULL, KLOG_DEGRADED, "imx_mu",
	 "30aa0000.mailbox", "", 0, 0, 0, 0, 0, 0, 0},
	{MU "Not handled interrupt", KLOG_MBOX_UNHANDLED_IRQ, KLOG_NOTICE, "imx_mu",
	 "30aa0000.mailbox", "", 0, 0, 0, 0, 0, 0, 0},
	{VB "timeout waiting for a tx buffer", KLOG_TX_BUFFER_TIMEOUT, KLOG_DEGRADED,
	 "virtio_rpmsg_bus", "virtio0", "", 0, 0, 0, 0, 0, 0, 0},
	{VB "message is too big (600)", KLOG_MSG_TOO_BIG, KLOG_NOTICE, "virtio_rpmsg_bus",
	 "virtio0", "", 0, 0, 0, 0, 0, 0, 0},
	{VB "inbound msg too big: (600, 496)", KLOG_INBOUND_TOO_BIG, KLOG_NOTICE,
	 "virtio_rpmsg_bus", "virtio0", "", 0, 0, 0, 0, 0, 0, 0},
	{VB "msg received with no recipient", KLOG_NO_RECIPIENT, KLOG_NOTICE, "virtio_rpmsg_bus",
	 "virtio0", "", 0, 0, 0, 0, 0, 0, 0},
	{VB "virtqueue_add_outbuf failed: -28", KLOG_ADD_OUTBUF_FAILED, KLOG_DEGRADED,
	 "virtio_rpmsg_bus", "virtio0", "", 0, 0, 1, -28, 0, 0, 0},
	{VB "rpmsg host is online", KLOG_RPMSG_HOST_ONLINE, KLOG_INFO, "virtio_rpmsg_bus",
	 "virtio0", "", 0, 0, 0, 0, 0, 0, 0},
	{VB "channel rpmsg-virtual-tty-channel-1:1e:400 already exist", KLOG_CHANNEL_EXISTS,
	 KLOG_DOWN, "virtio_rpmsg_bus", "virtio0", "rpmsg-virtual-tty-channel-1", 0, 0, 0, 0, 1,
	 0x1e, 0x400},
	{VB "creating channel rpmsg-virtual-tty-channel-1 addr 0x1e", KLOG_CHANNEL_CREATED,
	 KLOG_INFO, "virtio_rpmsg_bus", "virtio0", "rpmsg-virtual-tty-channel-1", 0, 0, 0, 0, 1,
	 0x1e, 0},
	{VB "destroying channel rpmsg-virtual-tty-channel-1 addr 0x1e", KLOG_CHANNEL_DESTROYED,
	 KLOG_DOWN, "virtio_rpmsg_bus", "virtio0", "rpmsg-virtual-tty-channel-1", 0, 0, 0, 0, 1,
	 0x1e, 0},
	{VB "rpmsg_create_channel failed", KLOG_CHANNEL_CREATE_FAILED, KLOG_DOWN,
	 "virtio_rpmsg_bus", "virtio0", "", 0, 0, 0, 0, 0, 0, 0},
	{RC "powering up imx-rproc", KLOG_RPROC_POWERING_UP, KLOG_INFO, "remoteproc", "remoteproc0",
	 "imx-rproc", 0, 0, 0, 0, 0, 0, 0},
	{RC "Booting fw image imx8mp_m7_TCM_rpmsg_lite_str_echo_rtos.elf, size 170188",
	 KLOG_RPROC_BOOTING, KLOG_INFO, "remoteproc", "remoteproc0",
	 "imx8mp_m7_TCM_rpmsg_lite_str_echo_rtos.elf", 0, 0, 0, 0, 0, 0, 0},
	{RC "remote processor imx-rproc is now up", KLOG_RPROC_UP, KLOG_INFO, "remoteproc",
	 "remoteproc0", "imx-rproc", 0, 0, 0, 0, 0, 0, 0},
	{RC "attaching to imx-rproc", KLOG_RPROC_ATTACHING, KLOG_INFO, "remoteproc", "remoteproc0",
	 "imx-rproc", 0, 0, 0, 0, 0, 0, 0},
	{RC "remote processor imx-rproc is now attached", KLOG_RPROC_ATTACHED, KLOG_INFO,
	 "remoteproc", "remoteproc0", "imx-rproc", 0, 0, 0, 0, 0, 0, 0},
	{RC "stopped remote processor imx-rproc", KLOG_RPROC_STOPPED, KLOG_DOWN, "remoteproc",
	 "remoteproc0", "imx-rproc", 0, 0, 0, 0, 0, 0, 0},
	{RC "Boot failed: -22", KLOG_RPROC_BOOT_FAILED, KLOG_DOWN, "remoteproc", "remoteproc0", "",
	 0, 0, 1, -22, 0, 0, 0},
	{RC "request_firmware failed: -2", KLOG_RPROC_FIRMWARE_FAILED, KLOG_DOWN, "remoteproc",
	 "remoteproc0", "", 0, 0, 1, -2, 0, 0, 0},
	{RC "can't start rproc imx-rproc: -22", KLOG_RPROC_START_FAILED, KLOG_DOWN, "remoteproc",
	 "remoteproc0", "imx-rproc", 0, 0, 1, -22, 0, 0, 0},
	{RC "crash detected in imx-rproc: type watchdog", KLOG_RPROC_CRASHED, KLOG_DOWN,
	 "remoteproc", "remoteproc0", "imx-rproc", 0, 0, 0, 0, 0, 0, 0},
	{RC "crash detected in imx-rproc: type fatal error", KLOG_RPROC_CRASHED, KLOG_DOWN,
	 "remoteproc", "remoteproc0", "imx-rproc", 0, 0, 0, 0, 0, 0, 0},
	{RC "recovering imx-rproc", KLOG_RPROC_RECOVERING, KLOG_DOWN, "remoteproc", "remoteproc0",
	 "imx-rproc", 0, 0, 0, 0, 0, 0, 0},
	{RC "can't change firmware while running", KLOG_RPROC_FIRMWARE_BUSY, KLOG_NOTICE,
	 "remoteproc", "remoteproc0", "", 0, 0, 0, 0, 0, 0, 0},
	{RC "registered virtio0 (type 7)", KLOG_VIRTIO_REGISTERED, KLOG_INFO, "remoteproc",
	 "remoteproc0", "virtio0", 0, 0, 0, 0, 0, 0, 0},
	/* Linux 6.1+: registered by a platform device of the rproc-virtio driver. */
	{"rproc-virtio rproc-virtio.0.auto: registered virtio0 (type 7)", KLOG_VIRTIO_REGISTERED,
	 KLOG_INFO, "rproc-virtio", "rproc-virtio.0.auto", "virtio0", 0, 0, 0, 0, 0, 0, 0},
	/* Registered by the vdev device: no driver word before its name. */
	{" remoteproc1#vdev0buffer: registered virtio1 (type 7)", KLOG_VIRTIO_REGISTERED, KLOG_INFO,
	 "", "remoteproc1#vdev0buffer", "virtio1", 0, 0, 0, 0, 0, 0, 0},
	{TT "new channel: 0x400 -> 0x1e!", KLOG_TTY_NEW_CHANNEL, KLOG_INFO, "imx_rpmsg_tty",
	 "virtio0.rpmsg-virtual-tty-channel-1.-1.30", "", 0, 0, 0, 0, 1, 0x400, 0x1e},
	{TT "rpmsg_send failed: -110", KLOG_TTY_SEND_FAILED, KLOG_DEGRADED, "imx_rpmsg_tty",
	 "virtio0.rpmsg-virtual-tty-channel-1.-1.30", "", 0, 0, 1, -110, 0, 0, 0},
	{TT "No memory for tty_prepare_flip_string", KLOG_TTY_NO_MEMORY, KLOG_NOTICE,
	 "imx_rpmsg_tty", "virtio0.rpmsg-virtual-tty-channel-1.-1.30", "", 0, 0, 0, 0, 0, 0, 0},
	/* An rx buffer not given back to the M7: one fewer it can send with. */
	{VB "failed to add a virtqueue buffer: -28", KLOG_ADD_INBUF_FAILED, KLOG_DEGRADED,
	 "virtio_rpmsg_bus", "virtio0", "", 0, 0, 1, -28, 0, 0, 0},
	/* Mainline rpmsg_tty (5.16+): the tty buffer was full, the rest of a message lost. */
	{"rpmsg_tty virtio0.rpmsg-tty.-1.30: Trunc buffer: available space is 0",
	 KLOG_TTY_TRUNCATED, KLOG_NOTICE, "rpmsg_tty", "virtio0.rpmsg-tty.-1.30", "", 0, 0, 0, 0, 0,
	 0, 0},
	{"rpmsg tty driver is removed", KLOG_TTY_REMOVED, KLOG_DOWN, "", "", "", 0, 0, 0, 0, 0, 0,
	 0},
};

static void test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const struct line_case *c = &lines[i];
		struct klog_event ev;
		bool ok = klog_classify(c->line, strlen(c->line), &ev);

		if (!ok || ev.kind != c->kind)
			fail_msg("line %zu \"%s\": got %s", i, c->line,
				 klog_kind_to_string(ev.kind));
		assert_int_equal(ev.impact, c->impact);
		assert_string_equal(ev.driver, c->driver ? c->driver : "");
		assert_string_equal(ev.device, c->device ? c->device : "");
		assert_string_equal(ev.name, c->name ? c->name : "");
		assert_int_equal(ev.has_vq, c->has_vq);
		if (c->has_vq)
			assert_int_equal(ev.vq, c->vq);
		assert_int_equal(ev.has_err, c->has_err);
		if (c->has_err)
			assert_int_equal(ev.err, c->err);
		assert_int_equal(ev.has_addr, c->has_addr);
		if (c->has_addr) {
			assert_int_equal(ev.addr, c->addr);
			assert_int_equal(ev.addr2, c->addr2);
		}
	}
}

static void test_values(void **state)
{
	struct klog_event ev;
	const char *l = VB "inbound msg too big: (600, 496)";

	(void)state;
	assert_true(klog_classify(l, strlen(l), &ev));
	assert_true(ev.has_value);
	assert_int_equal(ev.value, 600);
	l = RC "registered virtio1 (type 7)";
	assert_true(klog_classify(l, strlen(l), &ev));
	assert_int_equal(ev.value, 7);
	assert_string_equal(ev.name, "virtio1");
}

/* printk's rate limit drops repeats of the drivers' ratelimited lines and later says how
 * many, naming the function that printed them: those counts are kept. */
static void test_suppressed(void **state)
{
	static const char *const ours[] = {
		"rpmsg_recv_single: 37 callbacks suppressed",
		"imx_mu_isr: 5 callbacks suppressed",
		"rpmsg_tty_cb: 1200 callbacks suppressed",
	};
	static const int counts[] = {37, 5, 1200};
	struct klog_event ev;
	struct klog_scope s = {0};

	(void)state;
	assert_int_equal(klog_scope_add(&s, "remoteproc0"), 0);
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
		assert_true(klog_classify(ours[i], strlen(ours[i]), &ev));
		assert_int_equal(ev.kind, KLOG_LINES_SUPPRESSED);
		assert_int_equal(ev.impact, KLOG_INFO);
		assert_true(ev.has_value);
		assert_int_equal(ev.value, counts[i]);
		assert_string_equal(klog_kind_to_string(ev.kind), "lines_suppressed");
		/* No device: it cannot be placed. */
		assert_int_equal(klog_scope_match(&s, &ev), KLOG_OWNER_UNKNOWN);
	}
	/* Other drivers' rate limits are none of ours. */
	const char *other = "net_ratelimit: 12 callbacks suppressed";
	assert_false(klog_classify(other, strlen(other), &ev));
	other = "rpmsg_recv_single: many callbacks suppressed";
	assert_false(klog_classify(other, strlen(other), &ev));
}

/* Lines that look close to a known one but are not it. */
static const char *const misses[] = {
	RP "imx_rproc_kick: failed (1, err:-62) extra",
	RP "imx_rproc_kick: failed (1 err:-62)",
	RP "imx_rproc_kick: failed (x, err:-62)",
	RP "imx_rproc_kick: failed (-1, err:-62)",
	RP "imx_rproc_kick: failed (1, err:)",
	RP "imx_rproc_kick: failed (1, err:-99999999999)",
	RP "imx_rproc_start: failed (1, err:-62)",
	RP "_kick: failed (1, err:-62)",
	RP "Failed to enable remote core",
	VB "timeout waiting for a tx buffe",
	VB "creating channel addr 0x1e",
	VB "creating channel foo addr 0x",
	VB "creating channel foo addr 0x123456789",
	VB "creating channel foo addr 1e",
	RC "remote processor is now up",
	RC "Boot failed: ",
	RC "Boot failed: abc",
	RC "stopped remote processor",
	"rpmsg tty driver is removed!",
	"imx_rpmsg_tty: rpmsg tty driver is",
	"Remote processor imx-rproc is now up",
	"usb 1-1: new high-speed USB device number 2 using xhci-hcd",
	"",
	"   ",
	"[",
	"[ 1.0]",
	": : : :",
	"%s: failed (%d, err:%d)",
};

static void test_misses(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(misses) / sizeof(misses[0]); i++) {
		struct klog_event ev;

		if (klog_classify(misses[i], strlen(misses[i]), &ev))
			fail_msg("near-miss %zu \"%s\" classified as %s", i, misses[i],
				 klog_kind_to_string(ev.kind));
		assert_int_equal(ev.kind, KLOG_NONE);
	}
}

static void test_garbage(void **state)
{
	char buf[1500];
	struct klog_event ev;
	unsigned seed = 12345;
	int round;

	(void)state;
	/* NULL and over-long input. */
	assert_false(klog_classify(NULL, 0, &ev));
	memset(buf, 'a', sizeof(buf));
	assert_false(klog_classify(buf, sizeof(buf), &ev));
	/* Random bytes, random lengths, sometimes around a real line: never crashes, and a
	 * NUL inside a line stops nothing from being bounds-checked. */
	for (round = 0; round < 20000; round++) {
		size_t len = (seed = seed * 1103515245u + 12345u) % 200, i;

		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (char)(seed >> 16);
		}
		(void)klog_classify(buf, len, &ev);
		assert_true(ev.kind < KLOG_KIND_COUNT);
	}
	/* Embedded NUL in a name: copied safely. */
	memcpy(buf, RC "powering up a\0b", sizeof(RC "powering up a\0b") - 1);
	assert_true(klog_classify(buf, sizeof(RC "powering up a\0b") - 1, &ev));
	assert_string_equal(ev.name, "a?b");
	/* A very long name is cut to the buffer. */
	snprintf(buf, sizeof(buf), RC "powering up %0200d", 7);
	assert_true(klog_classify(buf, strlen(buf), &ev));
	assert_int_equal(strlen(ev.name), KLOG_NAME_MAX - 1);
}

/* The prefixes of dmesg -r, syslog files and journalctl -k before the kernel's text, as a
 * FIFO may carry them: skipped; a line that only looks like one is not. */
static void test_prefixes(void **state)
{
	static const char *const pre[] = {
		"<3>",
		"<3>[  812.345678] ",
		"Nov 29 20:00:00 board kernel: ",
		" Nov  9 20:00:00 board kernel: [  812.345678] ",
		"2026-11-29T20:00:00.123456+00:00 board kernel: ",
		"<3>Nov 29 20:00:00 board kernel: ",
		/* dmesg -T, and the caller id of a kernel with CONFIG_PRINTK_CALLER */
		"[Sun Nov 29 20:00:00 2026] ",
		"[  812.345678] [    T123] ",
		"[  812.345678] [C1] ",
		/* dmesg -x (facility and level decoded), dmesg --time-format iso, both */
		"kern  :err   : [  812.345678] ",
		"kern  :err   : ",
		"local7:debug : ",
		"2026-11-29T20:00:00,123456+00:00 ",
		"kern  :warn  : 2026-11-29T20:00:00,123456+01:00 [    T123] ",
	};
	char line[256];
	struct klog_event ev;

	(void)state;
	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
		snprintf(line, sizeof(line), "%s" RP "imx_rproc_kick: failed (1, err:-62)", pre[i]);
		if (!klog_classify(line, strlen(line), &ev))
			fail_msg("\"%s\" not classified", line);
		assert_int_equal(ev.kind, KLOG_KICK_FAILED);
		assert_string_equal(ev.driver, "imx-rproc");
		assert_string_equal(ev.device, "imx8mp-cm7");
		assert_int_equal(ev.vq, 1);
		assert_int_equal(ev.err, -62);
	}
	/* " kernel: " after a device's colon is the kernel's text, not a syslog prefix */
	snprintf(line, sizeof(line), RP "kernel: imx_rproc_kick: failed (1, err:-62)");
	assert_false(klog_classify(line, strlen(line), &ev));
	snprintf(line, sizeof(line), "<3" RP "imx_rproc_kick: failed (1, err:-62)");
	assert_true(klog_classify(line, strlen(line), &ev));
	assert_string_equal(ev.driver, "<3imx-rproc");
	/* Near-misses of dmesg -x and ISO times are not skipped. */
	static const char *const near[] = {
		"kern  :oops  : ",
		"kern  :err   :",
		"2026-11-29 20:00:00 ",
		"2026-11-29T20:00:00Z? ",
	};
	for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
		snprintf(line, sizeof(line), "%s" RP "imx_rproc_kick: failed (1, err:-62)",
			 near[i]);
		if (klog_classify(line, strlen(line), &ev) && strcmp(ev.driver, "imx-rproc") == 0)
			fail_msg("\"%s\" taken", line);
	}
	/* Where the stamp starts, for the watch's backlog. */
	snprintf(line, sizeof(line), "kern  :err   : [  812.345678] x");
	assert_string_equal(klog_skip_prefix(line, line + strlen(line)), "[  812.345678] x");
	snprintf(line, sizeof(line), "<6>[  812.345678] x");
	assert_string_equal(klog_skip_prefix(line, line + strlen(line)), "[  812.345678] x");
	snprintf(line, sizeof(line), "remoteproc remoteproc0: x");
	assert_string_equal(klog_skip_prefix(line, line + strlen(line)), line);
}

static void test_strings(void **state)
{
	int k;

	(void)state;
	for (k = 0; k < KLOG_KIND_COUNT; k++)
		assert_string_not_equal(klog_kind_to_string((enum klog_kind)k), "unknown");
	assert_string_equal(klog_kind_to_string(KLOG_KICK_FAILED), "kick_failed");
	assert_string_equal(klog_kind_to_string(KLOG_KIND_COUNT), "unknown");
	assert_string_equal(klog_impact_to_string(KLOG_DEGRADED), "degraded");
	assert_string_equal(klog_impact_to_string(KLOG_DOWN), "down");
}

static void test_kmsg(void **state)
{
	struct klog_record r;
	const char *l =
		"3,1234,5678901,-;imx-rproc imx8mp-cm7: imx_rproc_kick: failed (1, err:-62)\n";
	struct klog_event ev;

	(void)state;
	assert_int_equal(klog_parse_kmsg(l, strlen(l), &r), 0);
	assert_int_equal(r.level, 3);
	assert_int_equal(r.facility, 0);
	assert_int_equal(r.seq, 1234);
	assert_int_equal(r.usec, 5678901);
	assert_false(r.continuation);
	assert_true(klog_classify(r.msg, r.msg_len, &ev));
	assert_int_equal(ev.kind, KLOG_KICK_FAILED);

	l = "14,7,8,c,caller=T12;hello";
	assert_int_equal(klog_parse_kmsg(l, strlen(l), &r), 0);
	assert_int_equal(r.level, 6);
	assert_int_equal(r.facility, 1);
	assert_true(r.continuation);
	assert_int_equal(r.msg_len, 5);
	assert_memory_equal(r.msg, "hello", 5);

	l = "6,1,2,-;";
	assert_int_equal(klog_parse_kmsg(l, strlen(l), &r), 0);
	assert_int_equal(r.msg_len, 0);

	static const char *const bad[] = {
		"",
		";",
		"3;msg",
		"3,1;msg",
		"3,1,2;msg",
		"3,1,2,;msg",
		"a,1,2,-;m",
		"3,,2,-;m",
		"3,1,2,- msg",
		"99999999999,1,2,-;m",
		"3,99999999999999999999999,2,-;m",
		" SUBSYSTEM=platform",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (klog_parse_kmsg(bad[i], strlen(bad[i]), &r) != -EBADMSG)
			fail_msg("bad record \"%s\" accepted", bad[i]);
	assert_int_equal(klog_parse_kmsg(NULL, 0, &r), -EBADMSG);
}

/* One kernel line fed to a scope, and whose the scope must say it is. */
struct owner_step {
	const char *line;
	enum klog_owner owner;
};

static const char *owner_name(enum klog_owner o)
{
	return o == KLOG_OWNER_MINE ? "mine" : o == KLOG_OWNER_OTHER ? "other" : "unknown";
}

/* Feeds the lines to the scope in order, since what it learns from one places the next,
 * and checks each is placed as its step says. */
static void walk_steps(struct klog_scope *s, const struct owner_step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *l = steps[i].line;
		struct klog_event ev;
		enum klog_owner got;

		if (!klog_classify(l, strlen(l), &ev))
			fail_msg("step %zu \"%s\" not classified", i, l);
		got = klog_scope_match(s, &ev);
		if (got != steps[i].owner)
			fail_msg("step %zu \"%s\": %s, want %s", i, l, owner_name(got),
				 owner_name(steps[i].owner));
	}
}

#define WALK(s, steps) walk_steps((s), (steps), sizeof(steps) / sizeof((steps)[0]))

#define MINE	KLOG_OWNER_MINE
#define OTHER	KLOG_OWNER_OTHER
#define UNKNOWN KLOG_OWNER_UNKNOWN

static void test_scope(void **state)
{
	static const struct owner_step steps[] = {
		{RP "imx_rproc_kick: failed (1, err:-62)", MINE},
		{"imx-rproc imx8qm-cm4-1: imx_rproc_kick: failed (1, err:-62)", OTHER},
		{"imx_rproc_kick: failed (1, err:-62)", UNKNOWN},
		/* virtio0 cannot be placed until the rproc registers it, then it is learned. */
		{VB "creating channel rpmsg-virtual-tty-channel-1 addr 0x1e", UNKNOWN},
		{RC "registered virtio0 (type 7)", MINE},
		{VB "creating channel rpmsg-virtual-tty-channel-1 addr 0x1e", MINE},
		{TT "rpmsg_send failed: -110", MINE},
		/* Another core's virtio device. */
		{"virtio_rpmsg_bus virtio1: timeout waiting for a tx buffer", OTHER},
		/* Mailbox device not in scope: cannot be placed. */
		{MU "Try increasing MBOX_TX_QUEUE_LEN", UNKNOWN},
		/* remoteproc core lines of another instance name another rproc. */
		{"remoteproc remoteproc1: stopped remote processor imx-dsp-rproc", OTHER},
		/* Another instance of the same driver: its rproc has our rproc's name, and is
		 * not ours (ours is remoteproc0). */
		{"remoteproc remoteproc7: crash detected in imx-rproc: type watchdog", OTHER},
		{"remoteproc remoteproc1: stopped remote processor imx-rproc", OTHER},
		{"remoteproc remoteproc1: can't start rproc imx-rproc: -22", OTHER},
		{"remoteproc remoteproc10: stopped remote processor imx-rproc", OTHER},
		{"remoteproc remoteproc0: stopped remote processor imx-rproc", MINE},
		/* Without a device, or with one that is no instance, the name still places it. */
		{"stopped remote processor imx-rproc", MINE},
		{"remoteproc remoteprocX: stopped remote processor imx-rproc", MINE},
		{"rpmsg tty driver is removed", UNKNOWN},
	};
	/* A scope that does not know its instance goes by the name alone. */
	static const struct owner_step by_name_steps[] = {
		{"remoteproc remoteproc7: crash detected in imx-rproc: type watchdog", MINE},
	};
	/* Kernels where the vdev device registers the virtio device: its name is the
	 * rproc's and the vdev's, with no driver word before it (see the table). */
	static const struct owner_step vdev_steps[] = {
		{" remoteproc1#vdev0buffer: registered virtio1 (type 7)", OTHER},
		{" remoteproc0#vdev0buffer: registered virtio0 (type 7)", MINE},
		{"virtio_rpmsg_bus virtio0: timeout waiting for a tx buffer", MINE},
		{"virtio_rpmsg_bus virtio1: timeout waiting for a tx buffer", OTHER},
	};
	struct klog_scope s = {0}, by_name = {0}, vd = {0};

	(void)state;
	assert_int_equal(klog_scope_add(&s, "imx-rproc"), 0);
	assert_int_equal(klog_scope_add(&s, "remoteproc0"), 0);
	assert_int_equal(klog_scope_add(&s, "imx8mp-cm7"), 0);
	assert_int_equal(klog_scope_add(&s, "imx8mp-cm7"), 0);
	assert_int_equal(klog_scope_add(&s, ""), 0);
	assert_int_equal(s.n, 3);
	WALK(&s, steps);
	assert_int_equal(klog_scope_add(&by_name, "imx-rproc"), 0);
	WALK(&by_name, by_name_steps);
	assert_int_equal(klog_scope_add(&vd, "remoteproc0"), 0);
	WALK(&vd, vdev_steps);
	/* Full scope. */
	for (int i = 0; i < KLOG_SCOPE_MAX; i++) {
		char n[16];
		snprintf(n, sizeof(n), "n%d", i);
		int r = klog_scope_add(&s, n);
		assert_true(r == 0 || r == -ENOSPC);
	}
	assert_int_equal(s.n, KLOG_SCOPE_MAX);
	assert_int_equal(klog_scope_add(&s, "more"), -ENOSPC);
}

/* Linux 6.1 and later register the virtio device from a platform device of the
 * rproc-virtio driver ("rproc-virtio.0", "rproc-virtio.0.auto"), whose name does not
 * say which remoteproc it belongs to: it is the starting remoteproc's. */
static void test_scope_rproc_virtio(void **state)
{
	static const struct owner_step steps[] = {
		{RC "powering up imx-rproc", MINE},
		{RC "Booting fw image m7.elf, size 123456", MINE},
		{"rproc-virtio rproc-virtio.0.auto: registered virtio0 (type 7)", MINE},
		{RC "remote processor imx-rproc is now up", MINE},
		{VB "timeout waiting for a tx buffer", MINE},
		{"virtio_rpmsg_bus virtio1: timeout waiting for a tx buffer", OTHER},
		/* Up: a later registration is some other core's. */
		{"rproc-virtio rproc-virtio.1.auto: registered virtio2 (type 7)", OTHER},
		{"virtio_rpmsg_bus virtio2: timeout waiting for a tx buffer", OTHER},
	};
	/* Another core starting meanwhile makes the registration ambiguous: not learned. */
	static const struct owner_step meanwhile[] = {
		{RC "attaching to imx-rproc", MINE},
		{"remoteproc remoteproc1: powering up imx-dsp-rproc", OTHER},
		{"rproc-virtio rproc-virtio.1: registered virtio1 (type 7)", OTHER},
	};
	/* Nor when the other core began first and is still starting when ours begins. */
	static const struct owner_step other_first[] = {
		{"remoteproc remoteproc1: powering up imx-dsp-rproc", OTHER},
		{RC "powering up imx-rproc", MINE},
		{"rproc-virtio rproc-virtio.1.auto: registered virtio1 (type 7)", OTHER},
		/* Once the other is up, the next registration is ours. */
		{"remoteproc remoteproc1: remote processor imx-dsp-rproc is now up", OTHER},
		{"rproc-virtio rproc-virtio.0.auto: registered virtio0 (type 7)", MINE},
	};
	/* A scope that knows its rproc by name only: its own instance's lines that do not
	 * name it are no other core's start. */
	static const struct owner_step by_name[] = {
		{RC "powering up imx-rproc", MINE},
		{RC "Booting fw image m7.elf, size 123456", OTHER},
		{"rproc-virtio rproc-virtio.0.auto: registered virtio0 (type 7)", MINE},
	};
	struct klog_scope s = {0}, t = {0}, u = {0}, v = {0};

	(void)state;
	assert_int_equal(klog_scope_add(&s, "imx-rproc"), 0);
	assert_int_equal(klog_scope_add(&s, "remoteproc0"), 0);
	assert_int_equal(klog_scope_add(&s, "imx8mp-cm7"), 0);
	WALK(&s, steps);
	assert_int_equal(klog_scope_add(&t, "remoteproc0"), 0);
	WALK(&t, meanwhile);
	assert_int_equal(klog_scope_add(&u, "remoteproc0"), 0);
	WALK(&u, other_first);
	assert_int_equal(klog_scope_add(&v, "imx-rproc"), 0);
	WALK(&v, by_name);
}

/* The daemon starts while the M7 runs: it never saw the virtio device registered. A
 * virtio device no channel learned cannot be placed, and is not dropped as another's. */
static void test_scope_unlearned_virtio(void **state)
{
	static const struct owner_step steps[] = {
		{VB "timeout waiting for a tx buffer", UNKNOWN},
		{"rpmsg_ns virtio0.rpmsg_ns.53.53: destroying channel rpmsg-tty addr 0x1e",
		 UNKNOWN},
		{VB "channel rpmsg-tty:ffffffff:1e already exist", UNKNOWN},
		/* Once it knows its own, another virtio device is another's. */
		{" remoteproc0#vdev0buffer: registered virtio3 (type 7)", MINE},
		{VB "timeout waiting for a tx buffer", OTHER},
		/* A tty line on an unknown rpmsg device may still be ours. */
		{"rpmsg_tty virtio0.rpmsg-tty.-1.30: Trunc buffer: available space is 12", UNKNOWN},
		/* A device that merely starts with "virtio" is no virtio device. */
		{"virtio_rpmsg_bus virtiofoo: timeout waiting for a tx buffer", OTHER},
	};
	struct klog_scope s = {0};

	(void)state;
	assert_int_equal(klog_scope_add(&s, "imx-rproc"), 0);
	assert_int_equal(klog_scope_add(&s, "remoteproc0"), 0);
	WALK(&s, steps);
}

/* Virtio indices are reused: the one this core had, taken by another core while ours was
 * stopped, is that core's from then on. A name the configuration gave stays. */
static void test_scope_virtio_reused(void **state)
{
	static const struct owner_step steps[] = {
		{" remoteproc0#vdev0buffer: registered virtio0 (type 7)", MINE},
		{" remoteproc1#vdev0buffer: registered virtio1 (type 7)", OTHER},
		{RC "stopped remote processor imx-rproc", MINE},
		{"remoteproc remoteproc1: stopped remote processor imx-dsp-rproc", OTHER},
		{" remoteproc1#vdev0buffer: registered virtio0 (type 7)", OTHER},
		{" remoteproc0#vdev0buffer: registered virtio1 (type 7)", MINE},
		{"virtio_rpmsg_bus virtio0: timeout waiting for a tx buffer", OTHER},
		{"virtio_rpmsg_bus virtio1: timeout waiting for a tx buffer", MINE},
		/* The same through rproc-virtio devices (Linux 6.1 and later). */
		{RC "stopped remote processor imx-rproc", MINE},
		{"remoteproc remoteproc1: stopped remote processor imx-dsp-rproc", OTHER},
		{"remoteproc remoteproc1: powering up imx-dsp-rproc", OTHER},
		{"rproc-virtio rproc-virtio.1.auto: registered virtio1 (type 7)", OTHER},
		{"remoteproc remoteproc1: remote processor imx-dsp-rproc is now up", OTHER},
		{RC "powering up imx-rproc", MINE},
		{"rproc-virtio rproc-virtio.0.auto: registered virtio0 (type 7)", MINE},
		{"virtio_rpmsg_bus virtio1: timeout waiting for a tx buffer", OTHER},
		{"virtio_rpmsg_bus virtio0: timeout waiting for a tx buffer", MINE},
		/* Configured, not learned: kept. */
		{" remoteproc1#vdev0buffer: registered virtio5 (type 7)", OTHER},
		{"virtio_rpmsg_bus virtio5: timeout waiting for a tx buffer", MINE},
	};
	struct klog_scope s = {0};

	(void)state;
	assert_int_equal(klog_scope_add(&s, "imx-rproc"), 0);
	assert_int_equal(klog_scope_add(&s, "remoteproc0"), 0);
	assert_int_equal(klog_scope_add(&s, "imx8mp-cm7"), 0);
	assert_int_equal(klog_scope_add(&s, "virtio5"), 0);
	WALK(&s, steps);
	/* Learned names given up make room again. */
	assert_int_equal(s.n, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_misses),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_kmsg),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_scope_rproc_virtio),
		cmocka_unit_test(test_suppressed),
		cmocka_unit_test(test_scope_unlearned_virtio),
		cmocka_unit_test(test_scope_virtio_reused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
