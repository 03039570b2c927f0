/* The firmware trace ring: one text line per LOG, oldest lines overwritten on wrap. */
#include "fw_trace.h"

/* Smallest ring that holds one line with at least one character of text and the NUL. */
#define FW_TRACE_MIN (FW_TRACE_PREFIX + 3u)

void fw_trace_init(struct fw_trace *t, char *buf, uint32_t size)
{
	t->buf = buf;
	t->size = size;
	t->head = 0;
	t->seq = 0;
	/* All NUL: a reader (the kernel prints up to the first NUL) sees an empty ring. */
	if (buf && size > 0)
		__builtin_memset(buf, 0, size);
}

static void put_hex(char *p, uint64_t v, unsigned digits)
{
	static const char hex[] = "0123456789abcdef";

	for (unsigned i = 0; i < digits; i++)
		p[digits - 1u - i] = hex[(v >> (4u * i)) & 0xFu];
}

void fw_trace_append(struct fw_trace *t, uint64_t ticks, uint8_t level, const char *text,
		     size_t len)
{
	/* The last byte stays NUL, so the whole ring is one C string even when full. */
	uint32_t usable, line, i;
	char *p, cut;

	if (!t->buf || t->size < FW_TRACE_MIN)
		return;
	usable = t->size - 1u;
	/* A line never spans the end; the longest one fills the ring on its own. */
	if (len > usable - FW_TRACE_PREFIX - 1u)
		len = usable - FW_TRACE_PREFIX - 1u;
	line = FW_TRACE_PREFIX + (uint32_t)len + 1u;
	if (t->head + line > usable) {
		/* Pad the rest with empty lines (a reader skips them) and start over. */
		for (i = t->head; i < usable; i++)
			t->buf[i] = '\n';
		t->head = 0;
	}
	p = t->buf + t->head;
	cut = p[line - 1u]; /* an older line went on past this line's end unless it is '\n' */
	put_hex(p, t->seq, 8);
	p[8] = ' ';
	put_hex(p + 9, ticks, 16);
	p[25] = ' ';
	p[26] = (char)('0' + (level > 7 ? 7 : level));
	p[27] = ' ';
	/* Text stays on its line and the ring stays one string: no NUL, newline or other
	 * control character gets in. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		p[FW_TRACE_PREFIX + i] = c < 0x20u || c == 0x7fu ? '?' : (char)c;
	}
	p[line - 1u] = '\n';
	t->head += line;
	t->seq++;
	/* What follows is the tail of an older line this one cut short: blank it, so a reader
	 * never sees half a line. Stops at the NUL of a ring that has not wrapped yet. */
	if (cut != '\n' && cut != '\0') {
		for (i = t->head; i < usable && t->buf[i] != '\n' && t->buf[i] != '\0'; i++)
			t->buf[i] = '\n';
	}
}
