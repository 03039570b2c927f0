/* Strict JSON checking of request lines, and UTF-8 validity. Pure. */
#include "jsoncheck.h"

#include <stdint.h>
#include <string.h>

#include "m7bridge/utf8.h"

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
		size_t n = m7b_utf8_seq(j->p, (size_t)(j->end - j->p));
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
