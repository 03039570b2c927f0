/* Kernel log classifier: a table of the remoteproc/rpmsg/tty printk formats and a small
 * anchored matcher for them. Pure: no I/O, no allocation. */
#include "klog.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "m7bridge/hex.h"
#include "macro.h"

/* Longest message worth matching: every format below is far shorter. */
#define KLOG_LINE_MAX 1024

/* Pattern language (a subset of the printk format the driver used):
 *   %s  a word (no blanks), the shortest that lets the rest match; kept as name;
 *       last in the pattern it takes the rest of the line, blanks included
 *   %*  the same, not kept (e.g. __func__)
 *   %e  signed decimal int, kept as err      %v  signed decimal, kept as value
 *   %q  decimal int, kept as vq               %d  signed decimal, not kept
 *   %a  hex u32, kept as addr                 %b  hex u32, kept as addr2
 *   %x  hex up to 64 bits, not kept
 * The whole message after the device prefix must match; trailing blanks are allowed. */
struct klog_pattern {
	enum klog_kind kind;
	enum klog_impact impact;
	const char *fmt;
};

static const struct klog_pattern patterns[] = {
	/* drivers/remoteproc/imx_rproc.c: "%s: failed (%d, err:%d)" with __func__; the
	 * kick is mbox_send_message() with tx_tout 100 ms, -62 = -ETIME: the M7 did not
	 * take the MU message. Degraded, not down: a single one can be latency. */
	{KLOG_KICK_FAILED, KLOG_DEGRADED, "%*_kick: failed (%q, err:%e)"},
	{KLOG_RPROC_ENABLE_FAILED, KLOG_DOWN, "Failed to enable remote core!"},
	/* Mainline (5.15 to 6.6 at least) prints it bare; recent NXP kernels add the error. */
	{KLOG_RPROC_STOP_FAILED, KLOG_DOWN, "Failed to stop remote core"},
	{KLOG_RPROC_STOP_FAILED, KLOG_DOWN, "Failed to stop remote core, ret=%e"},
	{KLOG_RPROC_FORCE_STOPPED, KLOG_NOTICE, "Not in wfi, force stopped"},
	{KLOG_NO_RESOURCE_TABLE, KLOG_DOWN, "No resource table in elf"},
	{KLOG_TRANSLATION_FAILED, KLOG_DOWN, "Translation failed: da = 0x%x len = 0x%x"},
	/* drivers/mailbox: the TX queue (MBOX_TX_QUEUE_LEN) overflowed: -ENOBUFS. */
	{KLOG_MBOX_QUEUE_FULL, KLOG_DEGRADED, "Try increasing MBOX_TX_QUEUE_LEN"},
	{KLOG_MBOX_UNHANDLED_IRQ, KLOG_NOTICE, "Not handled interrupt"},
	/* drivers/rpmsg/virtio_rpmsg_bus.c; the tx buffer wait is 15 s. */
	{KLOG_TX_BUFFER_TIMEOUT, KLOG_DEGRADED, "timeout waiting for a tx buffer"},
	{KLOG_MSG_TOO_BIG, KLOG_NOTICE, "message is too big (%v)"},
	{KLOG_INBOUND_TOO_BIG, KLOG_NOTICE, "inbound msg too big: (%v, %d)"},
	{KLOG_NO_RECIPIENT, KLOG_NOTICE, "msg received with no recipient"},
	{KLOG_ADD_OUTBUF_FAILED, KLOG_DEGRADED, "virtqueue_add_outbuf failed: %e"},
	/* An rx buffer that could not be given back: the M7 has one fewer to send with. */
	{KLOG_ADD_INBUF_FAILED, KLOG_DEGRADED, "failed to add a virtqueue buffer: %e"},
	{KLOG_RPMSG_HOST_ONLINE, KLOG_INFO, "rpmsg host is online"},
	/* The M7 re-announced over stale vrings (it reset without Linux cycling it). */
	{KLOG_CHANNEL_EXISTS, KLOG_DOWN, "channel %s:%a:%b already exist"},
	/* drivers/rpmsg/rpmsg_ns.c */
	{KLOG_CHANNEL_CREATED, KLOG_INFO, "creating channel %s addr 0x%a"},
	{KLOG_CHANNEL_DESTROYED, KLOG_DOWN, "destroying channel %s addr 0x%a"},
	{KLOG_CHANNEL_CREATE_FAILED, KLOG_DOWN, "rpmsg_create_channel failed"},
	/* drivers/remoteproc/remoteproc_core.c */
	{KLOG_RPROC_POWERING_UP, KLOG_INFO, "powering up %s"},
	{KLOG_RPROC_BOOTING, KLOG_INFO, "Booting fw image %s, size %v"},
	{KLOG_RPROC_UP, KLOG_INFO, "remote processor %s is now up"},
	{KLOG_RPROC_ATTACHED, KLOG_INFO, "remote processor %s is now attached"},
	{KLOG_RPROC_ATTACHING, KLOG_INFO, "attaching to %s"},
	{KLOG_RPROC_STOPPED, KLOG_DOWN, "stopped remote processor %s"},
	{KLOG_RPROC_BOOT_FAILED, KLOG_DOWN, "Boot failed: %e"},
	{KLOG_RPROC_FIRMWARE_FAILED, KLOG_DOWN, "request_firmware failed: %e"},
	{KLOG_RPROC_START_FAILED, KLOG_DOWN, "can't start rproc %s: %e"},
	{KLOG_RPROC_CRASHED, KLOG_DOWN, "crash detected in %s: type %*"},
	{KLOG_RPROC_RECOVERING, KLOG_DOWN, "recovering %s"},
	{KLOG_RPROC_FIRMWARE_BUSY, KLOG_NOTICE, "can't change firmware while running"},
	/* drivers/remoteproc/remoteproc_virtio.c */
	{KLOG_VIRTIO_REGISTERED, KLOG_INFO, "registered %s (type %v)"},
	/* NXP drivers/tty/imx_rpmsg_tty.c */
	{KLOG_TTY_NEW_CHANNEL, KLOG_INFO, "new channel: 0x%a -> 0x%b!"},
	{KLOG_TTY_SEND_FAILED, KLOG_DEGRADED, "rpmsg_send failed: %e"},
	{KLOG_TTY_NO_MEMORY, KLOG_NOTICE, "No memory for tty_prepare_flip_string"},
	{KLOG_TTY_REMOVED, KLOG_DOWN, "rpmsg tty driver is removed"},
	/* drivers/tty/rpmsg_tty.c (5.16+), dev_err_ratelimited: the tty's buffer was full and
	 * the rest of an M7 message was dropped. Its other messages are dev_dbg. */
	{KLOG_TTY_TRUNCATED, KLOG_NOTICE, "Trunc buffer: available space is %v"},
	/* lib/ratelimit.c: "%s: %d callbacks suppressed" with the function that printed the
	 * ratelimited line (no device prefix): no_recipient, mbox_unhandled_irq and
	 * tty_truncated repeats the kernel dropped. Recorded with their count, no fault. */
	{KLOG_LINES_SUPPRESSED, KLOG_INFO, "rpmsg_recv_single: %v callbacks suppressed"},
	{KLOG_LINES_SUPPRESSED, KLOG_INFO, "imx_mu_isr: %v callbacks suppressed"},
	{KLOG_LINES_SUPPRESSED, KLOG_INFO, "rpmsg_tty_cb: %v callbacks suppressed"},
};

static const char *const kind_names[KLOG_KIND_COUNT] = {
	[KLOG_NONE] = "none",
	[KLOG_KICK_FAILED] = "kick_failed",
	[KLOG_RPROC_ENABLE_FAILED] = "rproc_enable_failed",
	[KLOG_RPROC_STOP_FAILED] = "rproc_stop_failed",
	[KLOG_RPROC_FORCE_STOPPED] = "rproc_force_stopped",
	[KLOG_NO_RESOURCE_TABLE] = "no_resource_table",
	[KLOG_TRANSLATION_FAILED] = "translation_failed",
	[KLOG_MBOX_QUEUE_FULL] = "mbox_queue_full",
	[KLOG_MBOX_UNHANDLED_IRQ] = "mbox_unhandled_irq",
	[KLOG_TX_BUFFER_TIMEOUT] = "tx_buffer_timeout",
	[KLOG_MSG_TOO_BIG] = "msg_too_big",
	[KLOG_INBOUND_TOO_BIG] = "inbound_too_big",
	[KLOG_NO_RECIPIENT] = "no_recipient",
	[KLOG_ADD_OUTBUF_FAILED] = "add_outbuf_failed",
	[KLOG_RPMSG_HOST_ONLINE] = "rpmsg_host_online",
	[KLOG_CHANNEL_EXISTS] = "channel_exists",
	[KLOG_CHANNEL_CREATED] = "channel_created",
	[KLOG_CHANNEL_DESTROYED] = "channel_destroyed",
	[KLOG_CHANNEL_CREATE_FAILED] = "channel_create_failed",
	[KLOG_RPROC_POWERING_UP] = "rproc_powering_up",
	[KLOG_RPROC_BOOTING] = "rproc_booting",
	[KLOG_RPROC_UP] = "rproc_up",
	[KLOG_RPROC_ATTACHING] = "rproc_attaching",
	[KLOG_RPROC_ATTACHED] = "rproc_attached",
	[KLOG_RPROC_STOPPED] = "rproc_stopped",
	[KLOG_RPROC_BOOT_FAILED] = "rproc_boot_failed",
	[KLOG_RPROC_FIRMWARE_FAILED] = "rproc_firmware_failed",
	[KLOG_RPROC_START_FAILED] = "rproc_start_failed",
	[KLOG_RPROC_CRASHED] = "rproc_crashed",
	[KLOG_RPROC_RECOVERING] = "rproc_recovering",
	[KLOG_RPROC_FIRMWARE_BUSY] = "rproc_firmware_busy",
	[KLOG_VIRTIO_REGISTERED] = "virtio_registered",
	[KLOG_TTY_NEW_CHANNEL] = "tty_new_channel",
	[KLOG_TTY_SEND_FAILED] = "tty_send_failed",
	[KLOG_TTY_NO_MEMORY] = "tty_no_memory",
	[KLOG_TTY_REMOVED] = "tty_removed",
	[KLOG_TTY_TRUNCATED] = "tty_truncated",
	[KLOG_LINES_SUPPRESSED] = "lines_suppressed",
	[KLOG_ADD_INBUF_FAILED] = "add_inbuf_failed",
};

DEFINE_STRING_TABLE_LOOKUP(klog_kind, enum klog_kind, kind_names)

static const char *const klog_impact_names[] = {
	[KLOG_INFO] = "info",
	[KLOG_NOTICE] = "notice",
	[KLOG_DEGRADED] = "degraded",
	[KLOG_DOWN] = "down",
};
DEFINE_STRING_TABLE_LOOKUP(klog_impact, enum klog_impact, klog_impact_names)

/* What a match captured; written along the successful path only. */
struct klog_caps {
	const char *name;
	size_t name_len;
	long long err, value, vq;
	unsigned long long addr, addr2;
	bool has_err, has_value, has_vq, has_addr, has_addr2;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Signed decimal that fits an int; returns the end or NULL. */
static const char *scan_dec(const char *s, const char *end, long long *out)
{
	bool neg = false;
	long long v = 0;
	const char *start;

	if (s < end && *s == '-') {
		neg = true;
		s++;
	}
	start = s;
	while (s < end && *s >= '0' && *s <= '9') {
		v = v * 10 + (*s - '0');
		if (v > (long long)INT_MAX + 1)
			return NULL;
		s++;
	}
	if (s == start || (!neg && v > INT_MAX))
		return NULL;
	*out = neg ? -v : v;
	return s;
}

/* Hex of at most 16 digits; returns the end or NULL. */
static const char *scan_hex(const char *s, const char *end, unsigned long long *out)
{
	unsigned long long v = 0;
	const char *start = s;

	while (s < end && m7b_hex_digit(*s) >= 0) {
		if (s - start >= 16)
			return NULL;
		v = (v << 4) | (unsigned)m7b_hex_digit(*s);
		s++;
	}
	if (s == start)
		return NULL;
	*out = v;
	return s;
}

static bool match(const char *p, const char *s, const char *end, struct klog_caps *c);

/* %s or %* at s, followed by the pattern p: one word (the rest of the line when last). */
static bool match_word(char spec, const char *p, const char *s, const char *end,
		       struct klog_caps *c)
{
	const char *t;

	if (!*p) {
		/* Last in the pattern: takes the rest, trailing blanks aside. */
		t = end;
		while (t > s && is_blank(t[-1]))
			t--;
		if (t == s)
			return false;
		if (spec == 's') {
			c->name = s;
			c->name_len = (size_t)(t - s);
		}
		return true;
	}
	for (t = s + 1; t <= end && !is_blank(t[-1]); t++) {
		/* Cheap pre-check: the next literal must follow. */
		if (*p != '%' && (t == end || *t != *p))
			continue;
		if (match(p, t, end, c)) {
			if (spec == 's') {
				c->name = s;
				c->name_len = (size_t)(t - s);
			}
			return true;
		}
	}
	return false;
}

/* Keeps a decimal capture: %e an error, %v a value, %q a non-negative value. */
static bool keep_dec(char spec, long long d, struct klog_caps *c)
{
	if (spec == 'q' && d < 0)
		return false;
	if (spec == 'e') {
		c->err = d;
		c->has_err = true;
	} else if (spec == 'v') {
		c->value = d;
		c->has_value = true;
	} else if (spec == 'q') {
		c->vq = d;
		c->has_vq = true;
	}
	return true;
}

/* Keeps a hex capture: %a and %b are 32-bit addresses, %x is matched only. */
static bool keep_hex(char spec, unsigned long long x, struct klog_caps *c)
{
	if (spec != 'x' && x > UINT32_MAX)
		return false;
	if (spec == 'a') {
		c->addr = x;
		c->has_addr = true;
	} else if (spec == 'b') {
		c->addr2 = x;
		c->has_addr2 = true;
	}
	return true;
}

static bool match(const char *p, const char *s, const char *end, struct klog_caps *c)
{
	while (*p) {
		long long d;
		unsigned long long x;

		if (*p != '%') {
			if (s == end || *s != *p)
				return false;
			p++;
			s++;
			continue;
		}
		char spec = p[1];
		p += 2;
		switch (spec) {
		case 's':
		case '*':
			return match_word(spec, p, s, end, c);
		case 'd':
		case 'e':
		case 'v':
		case 'q':
			s = scan_dec(s, end, &d);
			if (!s || !keep_dec(spec, d, c))
				return false;
			break;
		case 'x':
		case 'a':
		case 'b':
			s = scan_hex(s, end, &x);
			if (!s || !keep_hex(spec, x, c))
				return false;
			break;
		default:
			return false;
		}
	}
	while (s < end && is_blank(*s))
		s++;
	return s == end;
}

/* Copies a name, replacing control and non-ASCII bytes so it is safe in logs and JSON. */
static void copy_name(char *dst, const char *src, size_t len)
{
	size_t i;

	if (len > KLOG_NAME_MAX - 1)
		len = KLOG_NAME_MAX - 1;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)src[i];
		dst[i] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
	}
	dst[len] = '\0';
}

/* A run of printable non-blank bytes without ':' (a driver or device name). */
static const char *scan_word(const char *s, const char *end, bool colon_ok)
{
	while (s < end && (unsigned char)*s > 0x20 && (unsigned char)*s < 0x7f &&
	       (colon_ok || *s != ':'))
		s++;
	return s;
}

static bool try_patterns(const char *s, const char *end, struct klog_event *ev)
{
	size_t i;

	for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		struct klog_caps c = {0};

		if (!match(patterns[i].fmt, s, end, &c))
			continue;
		ev->kind = patterns[i].kind;
		ev->impact = patterns[i].impact;
		if (c.name)
			copy_name(ev->name, c.name, c.name_len);
		ev->has_vq = c.has_vq;
		ev->vq = (int)c.vq;
		ev->has_err = c.has_err;
		ev->err = (int)c.err;
		ev->has_value = c.has_value;
		ev->value = (int)c.value;
		ev->has_addr = c.has_addr;
		ev->addr = (uint32_t)c.addr;
		ev->addr2 = (uint32_t)c.addr2;
		return true;
	}
	return false;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A line as `dmesg -r` prints it ("<3>"), or as a syslog file or `journalctl -k` writes it
 * ("Nov 29 20:00:00 board kernel: ", a time and a host whose only ':' sit between
 * digits): returns where the kernel's own text starts. */
static const char *skip_log_prefix(const char *s, const char *end)
{
	static const char tag[] = " kernel: ";
	const size_t tag_len = sizeof(tag) - 1;

	if (s < end && *s == '<') {
		const char *t = s + 1;
		while (t < end && t - s <= 3 && is_digit(*t))
			t++;
		if (t > s + 1 && t < end && *t == '>')
			s = t + 1;
	}
	for (const char *t = s; (size_t)(end - t) >= tag_len && t - s < 96; t++) {
		if (memcmp(t, tag, tag_len) != 0)
			continue;
		for (const char *q = s; q < t; q++)
			if (*q == ':' && !(q > s && is_digit(q[-1]) && is_digit(q[1])))
				return s;
		return t + tag_len;
	}
	return s;
}

/* `dmesg -x`'s "kern  :err   : ", facility and level padded to six ("%-6s:%-6s: "). */
static const char *skip_decode_prefix(const char *s, const char *end)
{
	static const char *const levels[] = {"emerg", "alert",	"crit", "err",
					     "warn",  "notice", "info", "debug"};
	const char *t = s, *lv;

	while (t < end && t - s < 8 && ((*t >= 'a' && *t <= 'z') || is_digit(*t)))
		t++;
	if (t == s)
		return s;
	while (t < end && *t == ' ')
		t++;
	if (t == end || *t++ != ':')
		return s;
	lv = t;
	while (t < end && *t >= 'a' && *t <= 'z')
		t++;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		size_t n = strlen(levels[i]);

		if ((size_t)(t - lv) != n || memcmp(lv, levels[i], n) != 0)
			continue;
		while (t < end && *t == ' ')
			t++;
		if (end - t >= 2 && t[0] == ':' && t[1] == ' ')
			return t + 2;
		return s;
	}
	return s;
}

/* `dmesg --time-format iso`'s "2026-11-29T20:00:00,123456+00:00 ". */
static const char *skip_iso_time(const char *s, const char *end)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	const size_t n = sizeof(shape) - 1;
	const char *t;

	if ((size_t)(end - s) <= n)
		return s;
	for (size_t i = 0; i < n; i++)
		if (shape[i] == 'd' ? !is_digit(s[i]) : s[i] != shape[i])
			return s;
	/* The fraction and the zone: digits and ",.+-:" up to the blank. */
	for (t = s + n; t < end && t - s < 40 && *t != ' '; t++)
		if (!is_digit(*t) && !memchr(",.+-:", *t, 5))
			return s;
	if (t == end || *t != ' ')
		return s;
	while (t < end && *t == ' ')
		t++;
	return t;
}

const char *klog_skip_prefix(const char *s, const char *end)
{
	while (s < end && is_blank(*s))
		s++;
	s = skip_log_prefix(s, end);
	s = skip_decode_prefix(s, end);
	return skip_iso_time(s, end);
}

bool klog_classify(const char *msg, size_t len, struct klog_event *ev)
{
	const char *s = msg, *end = msg + len;
	const char *w1, *w2;

	memset(ev, 0, sizeof(*ev));
	ev->kind = KLOG_NONE;
	if (!msg || len > KLOG_LINE_MAX)
		return false;
	s = klog_skip_prefix(s, end);
	/* dmesg's "[  12.345678] " stamp (or "[Sun Nov 29 20:00:00 2026] " with -T), then a
	 * "[    T123] " caller id (CONFIG_PRINTK_CALLER), as a FIFO source may carry them. */
	for (int k = 0; k < 2 && s < end && *s == '['; k++) {
		const char *t = memchr(s, ']', (size_t)(end - s));
		if (!t || t - s > 32)
			break;
		s = t + 1;
		while (s < end && *s == ' ')
			s++;
	}
	/* dev_printk prefix "<driver> <device>: " */
	w1 = scan_word(s, end, false);
	if (w1 > s && w1 < end && *w1 == ' ') {
		w2 = scan_word(w1 + 1, end, false);
		if (w2 > w1 + 1 && end - w2 >= 2 && w2[0] == ':' && w2[1] == ' ') {
			if (try_patterns(w2 + 2, end, ev)) {
				copy_name(ev->driver, s, (size_t)(w1 - s));
				copy_name(ev->device, w1 + 1, (size_t)(w2 - w1 - 1));
				return true;
			}
		}
	}
	/* A device without driver, bus or class has an empty first word: the prefix is then
	 * " <device>: ", as for remoteproc's vdev devices ("remoteproc0#vdev0buffer"). */
	if (w1 > s && end - w1 >= 2 && w1[0] == ':' && w1[1] == ' ' &&
	    memchr(s, '#', (size_t)(w1 - s)) && try_patterns(w1 + 2, end, ev)) {
		copy_name(ev->device, s, (size_t)(w1 - s));
		return true;
	}
	return try_patterns(s, end, ev);
}

int klog_parse_kmsg(const char *line, size_t len, struct klog_record *rec)
{
	const char *s = line, *end = line + len, *semi;
	unsigned long long v[3];
	int i;

	memset(rec, 0, sizeof(*rec));
	if (!line)
		return -EBADMSG;
	semi = memchr(line, ';', len);
	if (!semi)
		return -EBADMSG;
	for (i = 0; i < 3; i++) {
		const char *start = s;

		v[i] = 0;
		while (s < semi && *s >= '0' && *s <= '9') {
			if (v[i] > (UINT64_MAX - 9) / 10)
				return -EBADMSG;
			v[i] = v[i] * 10 + (unsigned)(*s - '0');
			s++;
		}
		if (s == start || s >= semi || *s != ',')
			return -EBADMSG;
		s++;
	}
	if (v[0] > INT_MAX)
		return -EBADMSG;
	/* Flags field ('-', 'c', '+'), then optional ",key=value" fields up to ';'. */
	if (s == semi)
		return -EBADMSG;
	rec->continuation = *s == 'c';
	rec->level = (int)(v[0] & 7);
	rec->facility = (int)(v[0] >> 3);
	rec->seq = v[1];
	rec->usec = v[2];
	rec->msg = semi + 1;
	s = semi + 1;
	while (s < end && *s != '\n')
		s++;
	rec->msg_len = (size_t)(s - rec->msg);
	return 0;
}

int klog_scope_add(struct klog_scope *s, const char *name)
{
	size_t i;

	if (!name || !*name)
		return 0;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return 0;
	if (s->n >= KLOG_SCOPE_MAX)
		return -ENOSPC;
	copy_name(s->names[s->n], name, strnlen(name, KLOG_NAME_MAX - 1));
	s->n++;
	return 0;
}

int klog_scope_learn(struct klog_scope *s, const char *name)
{
	size_t n = s->n;
	int r = klog_scope_add(s, name);

	if (r == 0 && s->n > n)
		s->learned |= 1u << n;
	return r;
}

/* A learned name another remoteproc registered: no longer the scope's. */
static void scope_give_up(struct klog_scope *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++) {
		if (!(s->learned >> i & 1) || strcmp(s->names[i], name) != 0)
			continue;
		memmove(s->names[i], s->names[i + 1], (s->n - i - 1) * sizeof(s->names[0]));
		s->learned = (s->learned & ((1u << i) - 1)) | (s->learned >> (i + 1) << i);
		s->n--;
		return;
	}
}

static bool scope_has(const struct klog_scope *s, const char *name)
{
	size_t i;

	if (!*name)
		return false;
	for (i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return true;
	return false;
}

/* The device prefix names a device of the scope, directly, as "virtio0.<channel>" or as
 * "remoteproc0#vdev0buffer" (a device below it). */
static bool scope_has_device(const struct klog_scope *s, const char *device)
{
	char head[KLOG_NAME_MAX];
	const char *dot;

	if (scope_has(s, device))
		return true;
	dot = device + strcspn(device, ".#");
	if (!*dot || dot == device)
		return false;
	memcpy(head, device, (size_t)(dot - device));
	head[dot - device] = '\0';
	return scope_has(s, head);
}

/* Lines whose %s is the remoteproc's own name. */
static bool names_rproc(enum klog_kind k)
{
	return k == KLOG_RPROC_POWERING_UP || k == KLOG_RPROC_UP || k == KLOG_RPROC_ATTACHING ||
	       k == KLOG_RPROC_ATTACHED || k == KLOG_RPROC_STOPPED ||
	       k == KLOG_RPROC_START_FAILED || k == KLOG_RPROC_CRASHED ||
	       k == KLOG_RPROC_RECOVERING;
}

/* Lines printed on a device outside the rproc/virtio tree (mailbox, rpmsg tty): an
 * unknown device there may still be ours, so they are never attributed elsewhere. */
static bool foreign_device_ok(enum klog_kind k)
{
	return k == KLOG_MBOX_QUEUE_FULL || k == KLOG_MBOX_UNHANDLED_IRQ ||
	       k == KLOG_TTY_NEW_CHANNEL || k == KLOG_TTY_SEND_FAILED || k == KLOG_TTY_NO_MEMORY ||
	       k == KLOG_TTY_REMOVED || k == KLOG_TTY_TRUNCATED;
}

/* "remoteprocN": a remoteproc class device, that is one instance. */
static bool is_instance(const char *name)
{
	if (strncmp(name, "remoteproc", 10) != 0 || !name[10])
		return false;
	for (const char *p = name + 10; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static bool scope_has_instance(const struct klog_scope *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (is_instance(s->names[i]))
			return true;
	return false;
}

/* A remoteproc core line names the rproc in its text; that name is the driver's, shared
 * by every instance it runs (imx_rproc names each one "imx-rproc"), so it places the line
 * only when its device is not another instance than the scope's own. */
static bool names_my_rproc(const struct klog_scope *s, const struct klog_event *ev)
{
	if (!names_rproc(ev->kind) || !scope_has(s, ev->name))
		return false;
	return !is_instance(ev->device) || !scope_has_instance(s);
}

/* "virtioN", or the head of "virtioN.<channel>.<src>.<dst>". */
static bool is_virtio(const char *name)
{
	size_t n = strcspn(name, ".");

	if (n <= 6 || strncmp(name, "virtio", 6) != 0)
		return false;
	for (size_t i = 6; i < n; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return true;
}

static bool scope_has_virtio(const struct klog_scope *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (is_virtio(s->names[i]))
			return true;
	return false;
}

static bool starts_rproc(enum klog_kind k)
{
	return k == KLOG_RPROC_POWERING_UP || k == KLOG_RPROC_BOOTING || k == KLOG_RPROC_ATTACHING;
}

static bool ends_start(enum klog_kind k)
{
	return k == KLOG_RPROC_UP || k == KLOG_RPROC_ATTACHED || k == KLOG_RPROC_STOPPED ||
	       k == KLOG_RPROC_BOOT_FAILED || k == KLOG_RPROC_FIRMWARE_FAILED ||
	       k == KLOG_RPROC_START_FAILED;
}

/* A line about another device. Since Linux 6.1 the virtio device is registered by a
 * platform device of the rproc-virtio driver whose name ("rproc-virtio.0.auto") does not
 * say which remoteproc it serves: while ours is starting, and no other (one that began
 * before ours and is not up yet counts), it is ours. A virtio device the scope never saw
 * registered (the M7 was up before the daemon) cannot be placed, unless the scope knows
 * its own: such a line is not dropped as another's. */
static enum klog_owner foreign(struct klog_scope *s, const struct klog_event *ev)
{
	/* Another instance only when the scope knows its own (else it may be ours). */
	bool other = is_instance(ev->device) && scope_has_instance(s);

	if (other && starts_rproc(ev->kind)) {
		s->starting = false;
		s->other_starting = true;
	} else if (other && ends_start(ev->kind)) {
		s->other_starting = false;
	}
	if (ev->kind == KLOG_VIRTIO_REGISTERED && s->starting && !s->other_starting &&
	    strcmp(ev->driver, "rproc-virtio") == 0) {
		(void)klog_scope_learn(s, ev->name);
		return KLOG_OWNER_MINE;
	}
	/* Virtio indices are reused: the one our stopped remoteproc had may be another's. */
	if (ev->kind == KLOG_VIRTIO_REGISTERED)
		scope_give_up(s, ev->name);
	if (foreign_device_ok(ev->kind) || (is_virtio(ev->device) && !scope_has_virtio(s)))
		return KLOG_OWNER_UNKNOWN;
	return KLOG_OWNER_OTHER;
}

enum klog_owner klog_scope_match(struct klog_scope *s, const struct klog_event *ev)
{
	bool mine;

	if (ev->kind == KLOG_NONE)
		return KLOG_OWNER_OTHER;
	if (!ev->device[0]) {
		if (names_rproc(ev->kind) && scope_has(s, ev->name))
			return KLOG_OWNER_MINE;
		return KLOG_OWNER_UNKNOWN;
	}
	mine = scope_has_device(s, ev->device) || names_my_rproc(s, ev);
	if (!mine)
		return foreign(s, ev);
	if (starts_rproc(ev->kind))
		s->starting = true;
	else if (ends_start(ev->kind))
		s->starting = false;
	/* Learn what lives under our devices so later lines that name only it match. */
	if (ev->kind == KLOG_VIRTIO_REGISTERED)
		(void)klog_scope_learn(s, ev->name);
	return KLOG_OWNER_MINE;
}
