/* A recovery command's output cut into capped log lines. Pure. */
#include "hookout.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

void hookout_init(struct hookout *h)
{
	memset(h, 0, sizeof(*h));
}

/* Bytes of the current line: the first HOOKOUT_LINE_MAX kept, the rest counted. Once
 * capped, nothing is kept: the line will not be logged. */
static void take(struct hookout *h, const char *p, size_t n)
{
	size_t room = h->capped ? 0 : HOOKOUT_LINE_MAX - h->len;
	size_t k = n < room ? n : room;

	for (size_t i = 0; i < k; i++) /* utf8_clean_line() would end the text at a NUL */
		h->line[h->len + i] = p[i] ? p[i] : '?';
	h->len += k;
	h->over += n - k;
}

/* Where a cut line's kept part ends: before a character that the cut split, so that it
 * does not show as U+FFFD. */
static size_t cut_at(const struct hookout *h)
{
	size_t i = h->len;

	while (i > 0 && h->len - i < 3 && ((unsigned char)h->line[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return h->len;
	unsigned char c = (unsigned char)h->line[i - 1];
	size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	return need > h->len - (i - 1) ? i - 1 : h->len;
}

static void line_end(struct hookout *h, bool newline, hookout_emit_fn emit, void *arg)
{
	uint64_t raw = h->len + h->over + (newline ? 1 : 0);
	size_t keep = h->over ? cut_at(h) : h->len;

	if (!h->capped && (h->lines >= HOOKOUT_MAX_LINES || h->bytes + keep > HOOKOUT_MAX_BYTES))
		h->capped = true;
	if (h->capped) {
		h->lost_lines++;
		h->lost_bytes += raw;
	} else {
		char text[HOOKOUT_TEXT_MAX];
		uint64_t cut = h->len - keep + h->over;
		size_t n = utf8_clean_line(text, sizeof(text), h->line, keep);

		if (cut)
			snprintf(text + n, sizeof(text) - n, "\xE2\x80\xA6 (+%llu bytes)",
				 (unsigned long long)cut);
		h->lines++;
		h->bytes += keep;
		emit(arg, text);
	}
	h->len = 0;
	h->over = 0;
}

void hookout_feed(struct hookout *h, const void *buf, size_t n, hookout_emit_fn emit, void *arg)
{
	const char *p = buf, *end = p + n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		take(h, p, (size_t)((nl ? nl : end) - p));
		if (!nl)
			return;
		line_end(h, true, emit, arg);
		p = nl + 1;
	}
}

void hookout_end(struct hookout *h, hookout_emit_fn emit, void *arg)
{
	if (h->len || h->over)
		line_end(h, false, emit, arg);
}
