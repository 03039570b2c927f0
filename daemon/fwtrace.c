/* Decoder of the firmware trace ring's text: "SSSSSSSS TTTTTTTTTTTTTTTT L text\n" lines. */
#include "fwtrace.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "m7bridge/hex.h"

#define PREFIX 28u /* 8 hex seq, space, 16 hex ticks, space, level digit, space */

size_t fwtrace_max_lines(size_t len)
{
	return len / (PREFIX + 1u) + 1u;
}

static bool parse_hex(const char *p, unsigned digits, uint64_t *v)
{
	*v = 0;
	for (unsigned i = 0; i < digits; i++) {
		int d = m7b_hex_digit(p[i]);

		if (d < 0)
			return false;
		*v = *v << 4 | (uint64_t)d;
	}
	return true;
}

/* Parses one line without its '\n'; false if it is not in the format. */
static bool parse_line(const char *p, size_t n, struct fwtrace_line *l, size_t *bad_bytes)
{
	uint64_t seq, ticks;

	if (n < PREFIX || p[8] != ' ' || p[25] != ' ' || p[27] != ' ' || p[26] < '0' ||
	    p[26] > '7' || !parse_hex(p, 8, &seq) || !parse_hex(p + 9, 16, &ticks))
		return false;
	l->seq = (uint32_t)seq;
	l->ticks = ticks;
	l->level = (uint8_t)(p[26] - '0');
	l->text = p + PREFIX;
	l->text_len = n - PREFIX;
	/* The firmware never writes control characters in a text: count any as damage. */
	for (size_t i = 0; i < l->text_len; i++) {
		unsigned char c = (unsigned char)l->text[i];

		if (c < 0x20u || c == 0x7fu)
			(*bad_bytes)++;
	}
	return true;
}

static int by_seq(const void *a, const void *b)
{
	uint32_t x = ((const struct fwtrace_line *)a)->seq;
	uint32_t y = ((const struct fwtrace_line *)b)->seq;

	return x < y ? -1 : x > y;
}

/* Sorted by plain value, a sequence that wrapped has its oldest lines at the end: the
 * wrap is the widest step between neighbours (the ring holds far fewer than 2^31). */
static void order(struct fwtrace_line *l, size_t n)
{
	size_t cut = 0;
	uint32_t widest;

	if (n < 2)
		return;
	qsort(l, n, sizeof(*l), by_seq);
	widest = l[0].seq - l[n - 1].seq; /* the step from the last round to the first */
	for (size_t i = 0; i + 1 < n; i++) {
		if (l[i + 1].seq - l[i].seq > widest) {
			widest = l[i + 1].seq - l[i].seq;
			cut = i + 1;
		}
	}
	if (cut != 0) {
		struct fwtrace_line *tmp = malloc(cut * sizeof(*tmp));

		/* Without memory the plain order stays: still every line, just not rotated. */
		if (!tmp)
			return;
		memcpy(tmp, l, cut * sizeof(*tmp));
		memmove(l, l + cut, (n - cut) * sizeof(*l));
		memcpy(l + (n - cut), tmp, cut * sizeof(*tmp));
		free(tmp);
	}
}

size_t fwtrace_decode(const char *snap, size_t len, struct fwtrace_line *out, size_t max,
		      struct fwtrace_stats *st)
{
	size_t text_len = strnlen(snap, len), pos = 0, all = 0, n;
	size_t cap = fwtrace_max_lines(text_len);
	struct fwtrace_line *l;

	memset(st, 0, sizeof(*st));
	/* Like the kernel, the text ends at the first NUL (an unwrapped ring is zero behind
	 * its head); anything but NULs behind it is damage. */
	for (size_t i = text_len; i < len; i++)
		if (snap[i] != '\0')
			st->bad_bytes++;
	/* Collect every good line first, so the newest are the ones kept when out is short. */
	l = malloc(cap * sizeof(*l));
	if (!l) {
		l = out; /* no memory: keep what fits in out, count the rest as overflow */
		cap = max;
	}
	while (pos < text_len) {
		size_t end = pos;
		struct fwtrace_line line;

		while (end < text_len && snap[end] != '\n')
			end++;
		if (end > pos) {
			if (parse_line(snap + pos, end - pos, &line, &st->bad_bytes)) {
				if (all < cap)
					l[all++] = line;
				else
					st->overflow++;
				st->lines++;
			} else {
				st->bad_lines++;
				st->bad_bytes += end - pos;
			}
		}
		pos = end + 1;
	}
	order(l, all);
	n = all < max ? all : max;
	if (l != out) {
		st->overflow += all - n;
		memcpy(out, l + (all - n), n * sizeof(*out));
		free(l);
	}
	return n;
}
