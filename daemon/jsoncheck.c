/* Strict JSON checking of request lines, and UTF-8 validity. Pure. */
#include "jsoncheck.h"

#include <stdint.h>
#include <string.h>

struct jc {
	const unsigned char *p, *end;
	struct jsoncheck *r;
};

static bool bad(struct jc *j, const char *why)
{
	if (!j->r->why)
		j->r->why = why;
	return false;
}

/* Bytes of the UTF-8 sequence at p (1..4), 0 when it is not valid. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	size_t avail = (size_t)(end - p);
	unsigned c = p[0];
	if (c < 0x80)
		return 1;
	size_t n = c >= 0xc2 && c <= 0xdf   ? 2
		   : c >= 0xe0 && c <= 0xef ? 3
		   : c >= 0xf0 && c <= 0xf4 ? 4
					    : 0;
	if (n == 0 || avail < n)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* overlong 3- and 4-byte forms, surrogates, past U+10FFFF */
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
	    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
		return 0;
	return n;
}

bool jsoncheck_utf8(const char *buf, size_t len)
{
	return jsoncheck_utf8_prefix(buf, len) == len;
}

size_t jsoncheck_utf8_prefix(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf, *end = p + len;
	while (p < end) {
		size_t n = utf8_seq(p, end);
		if (!n)
			break;
		p += n;
	}
	return (size_t)(p - (const unsigned char *)buf);
}

static void skip_ws(struct jc *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int hexval(unsigned char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* \uXXXX after the backslash-u; sets *cp. */
static bool hex4(struct jc *j, unsigned *cp)
{
	if (j->end - j->p < 4)
		return bad(j, "short \\u escape");
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(j->p[i]);
		if (h < 0)
			return bad(j, "bad \\u escape");
		v = v << 4 | (unsigned)h;
	}
	j->p += 4;
	*cp = v;
	return true;
}

static bool escape(struct jc *j)
{
	unsigned char c = *j->p++;
	unsigned cp, lo;
	if (strchr("\"\\/bfnrt", c) && c)
		return true;
	if (c != 'u')
		return bad(j, "bad escape in a string");
	if (!hex4(j, &cp))
		return false;
	if (cp == 0)
		j->r->nul = true;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return bad(j, "lone low surrogate escape");
	if (cp < 0xd800 || cp > 0xdbff)
		return true;
	if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
		return bad(j, "lone high surrogate escape");
	j->p += 2;
	if (!hex4(j, &lo) || lo < 0xdc00 || lo > 0xdfff)
		return bad(j, "lone high surrogate escape");
	return true;
}

static bool string(struct jc *j)
{
	j->p++; /* the opening quote */
	while (j->p < j->end) {
		unsigned char c = *j->p;
		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return bad(j, "control character in a string");
		if (c == '\\') {
			j->p++;
			if (j->p >= j->end)
				break;
			if (!escape(j))
				return false;
			continue;
		}
		size_t n = utf8_seq(j->p, j->end);
		if (!n)
			return bad(j, "invalid UTF-8 in a string");
		j->p += n;
	}
	return bad(j, "unterminated string");
}

static bool digits(struct jc *j)
{
	const unsigned char *s = j->p;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static bool number(struct jc *j)
{
	if (*j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0') {
		j->p++;
		if (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			return bad(j, "number with a leading zero");
	} else if (!digits(j)) {
		return bad(j, "bad number");
	}
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!digits(j))
			return bad(j, "bad number");
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!digits(j))
			return bad(j, "bad number");
	}
	return true;
}

static bool literal(struct jc *j, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return bad(j, "unexpected character");
	j->p += n;
	return true;
}

static bool value(struct jc *j, int depth);

/* An array or object after its opening bracket; close is ']' or '}'. */
static bool container(struct jc *j, int depth, unsigned char close)
{
	if (depth >= JSONCHECK_DEPTH)
		return bad(j, "nested too deeply");
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return true;
	}
	for (;;) {
		skip_ws(j);
		if (close == '}') {
			if (j->p >= j->end || *j->p != '"')
				return bad(j, "expected a member name");
			if (!string(j))
				return false;
			skip_ws(j);
			if (j->p >= j->end || *j->p != ':')
				return bad(j, "expected ':'");
			j->p++;
		}
		if (!value(j, depth + 1))
			return false;
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return true;
		}
		return bad(j, "expected ',' or a closing bracket");
	}
}

static bool value(struct jc *j, int depth)
{
	skip_ws(j);
	if (j->p >= j->end)
		return bad(j, "expected a value");
	switch (*j->p) {
	case '{':
		return container(j, depth, '}');
	case '[':
		return container(j, depth, ']');
	case '"':
		return string(j);
	case 't':
		return literal(j, "true");
	case 'f':
		return literal(j, "false");
	case 'n':
		return literal(j, "null");
	default:
		if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
			return number(j);
		return bad(j, "unexpected character");
	}
}

bool jsoncheck(const char *buf, size_t len, struct jsoncheck *r)
{
	struct jc j = {(const unsigned char *)buf, (const unsigned char *)buf + len, r};
	memset(r, 0, sizeof(*r));
	bool ok = value(&j, 0);
	if (ok) {
		skip_ws(&j);
		if (j.p != j.end)
			ok = bad(&j, "trailing characters after the JSON value");
	}
	if (!ok)
		r->offset = (size_t)(j.p - (const unsigned char *)buf);
	return ok;
}
