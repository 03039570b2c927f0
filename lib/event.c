/* Objects from m7bridged: one NDJSON line parsed into a typed struct m7b_event. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "m7bridge/classes.h"
#include "m7bridge/client.h"
#include "m7bridge/utf8.h"

/* The public part first so that a struct m7b_event * is also a struct event_priv *. */
struct event_priv {
	struct m7b_event pub;
	cJSON *root;
	char *line;
	uint8_t *data;
};

#define TYPE_NAME(n) [M7B_EV_##n] = #n,
static const char *const type_names[] = {[M7B_EV_UNKNOWN] = "UNKNOWN",
					 M7B_CLASSES(TYPE_NAME, TYPE_NAME)};
#undef TYPE_NAME

const char *m7b_event_type_to_string(enum m7b_event_type t)
{
	if ((unsigned)t < sizeof(type_names) / sizeof(type_names[0]) && type_names[t])
		return type_names[t];
	return "UNKNOWN";
}

static enum m7b_event_type type_from_class(const char *cls)
{
	for (size_t i = 1; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcmp(cls, type_names[i]) == 0)
			return (enum m7b_event_type)i;
	return M7B_EV_UNKNOWN;
}

static void error_set(struct m7b_error *err, int errnum, size_t offset, const char *msg)
{
	if (!err)
		return;
	err->errnum = errnum;
	err->code[0] = '\0';
	err->offset = offset;
	snprintf(err->message, sizeof(err->message), "%s", msg);
}

/* A JSON number that is a whole value representable as int64. */
static bool json_int(const cJSON *j, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(j))
		return false;
	d = j->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 ||
	    d >= 9223372036854775808.0)
		return false;
	*out = (int64_t)d;
	return true;
}

static const char *json_str(const cJSON *obj, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

static int64_t json_int_or(const cJSON *obj, const char *name, int64_t dflt)
{
	int64_t v;

	return json_int(cJSON_GetObjectItemCaseSensitive(obj, name), &v) ? v : dflt;
}

/* An int member within [lo, hi], else -1: checked before narrowing, so that 2^32 + 1
 * cannot pass for 1 (a proto_major) or a port. */
static int json_int_in(const cJSON *obj, const char *name, int lo, int hi)
{
	int64_t v = json_int_or(obj, name, -1);

	return v >= lo && v <= hi ? (int)v : -1;
}

/* Where the value of the first top-level member name starts in the line, or NULL. The
 * object is walked, strings and nested values skipped, so neither a member of that name
 * in a nested object nor a key that only ends in it (a\"name) is taken for it. The line
 * is valid JSON (cJSON took it), so every string ends. */
static const char *member_value(const char *s, const char *name)
{
	size_t nlen = strlen(name);
	int depth = 0;

	while ((s = strpbrk(s, "\"{}[]"))) {
		if (*s != '"') {
			depth += *s == '{' || *s == '[' ? 1 : -1;
			s++;
			continue;
		}
		const char *key = ++s;
		size_t bs;

		/* To the closing quote: the first one after an even number of backslashes. */
		for (;; s++) {
			if (!(s = strchr(s, '"')))
				return NULL;
			for (bs = 0; s - bs > key && s[-1 - (ptrdiff_t)bs] == '\\'; bs++)
				;
			if (bs % 2 == 0)
				break;
		}
		if (depth == 1 && s[1] == ':' && (size_t)(s - key) == nlen &&
		    memcmp(key, name, nlen) == 0)
			return s + 2;
		s++;
	}
	return NULL;
}

/* The top-level integer member j, named name, exactly: cJSON keeps numbers as doubles,
 * which round beyond 2^53 (CLOCK_REALTIME nanoseconds by up to 128 ns), so the digits are
 * read again from the line, at the first top-level member of that name, the one cJSON
 * took, when they are j's number. false if j is not an integer in int64 range; *out is
 * then untouched. */
static bool exact_int(const struct event_priv *p, const char *name, const cJSON *j, int64_t *out)
{
	int64_t approx;

	if (!json_int(j, &approx))
		return false;
	*out = approx;
	if (approx > -9007199254740992LL && approx < 9007199254740992LL)
		return true; /* exact through the double already */
	const char *d = member_value(p->line, name);
	bool neg = d && *d == '-';
	char *end;
	unsigned long long v;

	if (!d || d[neg] < '0' || d[neg] > '9')
		return true;
	errno = 0;
	v = strtoull(d + neg, &end, 10);
	if (errno || (*end != ',' && *end != '}') || v > (unsigned long long)INT64_MAX)
		return true;
	int64_t x = neg ? -(int64_t)v : (int64_t)v;
	if ((double)x == j->valuedouble)
		*out = x;
	return true;
}

/* A non-negative top-level integer member, exact to 64 bits (exact_int); -1 when absent
 * or not such an integer. */
static int64_t json_ns(const struct event_priv *p, const char *name)
{
	int64_t v;

	if (!exact_int(p, name, cJSON_GetObjectItemCaseSensitive(p->root, name), &v) || v < 0)
		return -1;
	return v;
}

/* Decodes a FRAME's "data" member into p->data. */
static int decode_data(struct event_priv *p, const char *s, bool hex, struct m7b_error *err)
{
	size_t n = strlen(s);
	int r;

	size_t cap = n / 4 * 3 + 3; /* enough for base64 and hex; never 0, so never NULL */

	p->data = malloc(cap);
	if (!p->data)
		return -ENOMEM;
	if (hex) {
		r = m7b_hex_decode(s, n, p->data, cap);
		if (r < 0) {
			error_set(err, -EBADMSG, 0, "FRAME hex: not an even number of hex digits");
			return -EBADMSG;
		}
	} else {
		r = m7b_base64_decode(s, n, p->data, cap);
		if (r < 0) {
			error_set(err, -EBADMSG, 0, "FRAME data: not valid base64");
			return -EBADMSG;
		}
	}
	p->pub.data = p->data;
	p->pub.data_len = (size_t)r;
	return 0;
}

static unsigned frame_flags(const cJSON *obj)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "flags");
	const cJSON *f;
	unsigned flags = 0;

	cJSON_ArrayForEach(f, arr)
	{
		if (!cJSON_IsString(f))
			continue;
		if (strcmp(f->valuestring, "overrun") == 0)
			flags |= M7B_FRAME_OVERRUN;
		else if (strcmp(f->valuestring, "line_error") == 0)
			flags |= M7B_FRAME_LINE_ERROR;
		else if (strcmp(f->valuestring, "continued") == 0)
			flags |= M7B_FRAME_CONTINUED;
	}
	return flags;
}

/* Whether s[0..n) is UTF-8 throughout. ASCII, all of a FRAME line but its text, is
 * passed over eight bytes at a time. */
static bool utf8_ok(const char *s, size_t n)
{
	size_t i = 0, l;

	while (i < n) {
		uint64_t w;

		if (n - i >= 8 && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ull))) {
			i += 8;
			continue;
		}
		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		if ((l = m7b_utf8_seq(s + i, n - i)) == 0)
			return false;
		i += l;
	}
	return true;
}

/* The escape \u0000 at s (n bytes left). */
static bool is_nul_escape(const char *s, size_t n)
{
	return n >= 6 && memcmp(s, "\\u0000", 6) == 0;
}

/* Whether the JSON text s[0..n) holds a \u0000 escape (one after an escaped backslash is
 * text). */
static bool has_nul_escape(const char *s, size_t n)
{
	const char *p = s, *end = s + n;

	while ((p = memchr(p, '\\', (size_t)(end - p))) && end - p >= 2) {
		if (is_nul_escape(p, (size_t)(end - p)))
			return true;
		p += 2; /* past the escaped character, which may be a backslash */
	}
	return false;
}

/* The text cJSON is to read from the line s[0..n) (NUL-terminated): s itself, or a copy
 * (*copied set) in which each byte that is not part of valid UTF-8 is U+FFFD and each
 * \u0000 is \ufffd, as the daemon itself cleans text from the M7. The daemon sends UTF-8
 * only, but a string that is not would reach the application as it came; and cJSON ends a
 * string at a \u0000 (the daemon's escape of a NUL byte in LOG text or a HELLO's name),
 * dropping the rest of it without a word. NULL when out of memory. */
static char *json_text(const char *s, size_t n, bool *copied)
{
	const unsigned char *u = (const unsigned char *)s;
	char *t, *o;

	*copied = false;
	if (utf8_ok(s, n) && !has_nul_escape(s, n))
		return (char *)s;
	if (n > (SIZE_MAX - 1) / 3 || !(t = o = malloc(n * 3 + 1)))
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t l = u[i] < 0x80 ? 1 : m7b_utf8_seq(u + i, n - i);

		if (is_nul_escape(s + i, n - i)) {
			memcpy(o, "\\ufffd", 6);
			o += 6;
			i += 6;
		} else if (u[i] == '\\' && i + 1 < n && u[i + 1] < 0x80) {
			*o++ = s[i++]; /* an escape pair: an escaped backslash starts nothing */
			*o++ = s[i++];
		} else if (l == 0) {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(o, s + i, l);
			o += l;
			i += l;
		}
	}
	*o = '\0';
	*copied = true;
	return t;
}

int m7b_event_parse(const char *line, size_t len, struct m7b_event **out, struct m7b_error *err)
{
	struct event_priv *p;
	struct m7b_event *ev;
	const char *end = NULL;
	const char *cls;
	int r;

	if (!out || (!line && len)) {
		error_set(err, -EINVAL, 0, "no line or no place for the event");
		return -EINVAL;
	}
	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	ev = &p->pub;
	ev->priv = p;
	p->line = malloc(len + 1);
	if (!p->line) {
		free(p);
		return -ENOMEM;
	}
	if (len)
		memcpy(p->line, line, len);
	p->line[len] = '\0';
	ev->line = p->line;
	ev->line_len = len;

	if (strlen(p->line) < len) {
		error_set(err, -EBADMSG, strlen(p->line), "NUL byte in line");
		r = -EBADMSG;
		goto fail;
	}
	bool copied;
	char *text = json_text(p->line, len, &copied);
	if (!text) {
		r = -ENOMEM;
		goto fail;
	}
	p->root = cJSON_ParseWithOpts(text, &end, true);
	if (!p->root) {
		/* In a cleaned copy, past a replaced byte, the offset is the copy's. */
		size_t off = end && end >= text ? (size_t)(end - text) : 0;

		error_set(err, -EBADMSG, off > len ? len : off, "not valid JSON");
		r = -EBADMSG;
	}
	if (copied)
		free(text);
	if (!p->root)
		goto fail;
	if (!cJSON_IsObject(p->root)) {
		error_set(err, -EBADMSG, 0, "not a JSON object");
		r = -EBADMSG;
		goto fail;
	}
	cls = json_str(p->root, "class");
	if (!cls) {
		error_set(err, -EBADMSG, 0, "no string member \"class\"");
		r = -EBADMSG;
		goto fail;
	}
	ev->cls = cls;
	ev->type = type_from_class(cls);
	ev->has_id = json_int(cJSON_GetObjectItemCaseSensitive(p->root, "id"), &ev->id);
	ev->channel = json_str(p->root, "channel");
	ev->port = json_int_in(p->root, "port", 0, 255);
	ev->seq = json_int_or(p->root, "seq", -1);
	ev->t_first = json_int_or(p->root, "t_first", -1);
	ev->t_last = json_int_or(p->root, "t_last", -1);
	ev->t_first_ns = json_ns(p, "t_first_ns");
	ev->t_last_ns = json_ns(p, "t_last_ns");
	ev->t_first_mono_ns = json_ns(p, "t_first_mono_ns");
	ev->t_last_mono_ns = json_ns(p, "t_last_mono_ns");
	ev->t_err_ns = json_ns(p, "t_err_ns");
	ev->state = json_str(p->root, "state");
	ev->reason = json_str(p->root, "reason");
	ev->code = json_str(p->root, "code");
	ev->message = json_str(p->root, "message");
	ev->release = json_str(p->root, "release");
	ev->proto_major = json_int_in(p->root, "proto_major", 0, INT_MAX);
	ev->proto_minor = json_int_in(p->root, "proto_minor", 0, INT_MAX);
	ev->level = json_int_in(p->root, "level", 0, 7);
	ev->text = json_str(p->root, "text");
	if (ev->type == M7B_EV_FRAME || ev->type == M7B_EV_RAW) {
		const char *data = json_str(p->root, "data");
		const char *hex = json_str(p->root, "hex");

		if (ev->type == M7B_EV_FRAME)
			ev->flags = frame_flags(p->root);
		if (data || hex) {
			r = decode_data(p, data ? data : hex, !data, err);
			if (r < 0)
				goto fail;
		}
	}
	*out = ev;
	return 0;
fail:
	m7b_event_free(ev);
	return r;
}

struct m7b_event *m7b_event_free(struct m7b_event *ev)
{
	struct event_priv *p;

	if (!ev)
		return NULL;
	p = ev->priv;
	cJSON_Delete(p->root);
	free(p->line);
	free(p->data);
	free(p);
	return NULL;
}

static const cJSON *root_of(const struct m7b_event *ev)
{
	return ev ? ((const struct event_priv *)ev->priv)->root : NULL;
}

const char *m7b_event_get_string(const struct m7b_event *ev, const char *name)
{
	return ev ? json_str(root_of(ev), name) : NULL;
}

int m7b_event_get_int(const struct m7b_event *ev, const char *name, int64_t *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root_of(ev), name);

	if (!j)
		return -ENOENT;
	int64_t v;
	if (!exact_int(ev->priv, name, j, &v))
		return -EINVAL;
	if (out)
		*out = v;
	return 0;
}

bool m7b_event_has(const struct m7b_event *ev, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(root_of(ev), name) != NULL;
}

char *m7b_event_get_json(const struct m7b_event *ev, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root_of(ev), name);

	return j ? cJSON_PrintUnformatted(j) : NULL;
}

size_t m7b_event_array_size(const struct m7b_event *ev, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root_of(ev), name);

	return cJSON_IsArray(j) ? (size_t)cJSON_GetArraySize(j) : 0;
}

static const cJSON *array_item(const struct m7b_event *ev, const char *name, size_t i)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root_of(ev), name);

	if (!cJSON_IsArray(j) || i > INT32_MAX)
		return NULL;
	j = cJSON_GetArrayItem(j, (int)i);
	return cJSON_IsObject(j) ? j : NULL;
}

const char *m7b_event_array_string(const struct m7b_event *ev, const char *name, size_t i,
				   const char *member)
{
	const cJSON *j = array_item(ev, name, i);

	return j ? json_str(j, member) : NULL;
}

int m7b_event_array_int(const struct m7b_event *ev, const char *name, size_t i, const char *member,
			int64_t *out)
{
	const cJSON *j = array_item(ev, name, i);
	int64_t v;

	if (!j || !(j = cJSON_GetObjectItemCaseSensitive(j, member)))
		return -ENOENT;
	if (!json_int(j, &v))
		return -EINVAL;
	if (out)
		*out = v;
	return 0;
}

int m7b_event_channel(const struct m7b_event *ev, size_t i, struct m7b_channel_status *out)
{
	const cJSON *j = array_item(ev, "channels", i);

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!j)
		return -ENOENT;
	out->name = json_str(j, "name");
	out->state = json_str(j, "state");
	out->device = json_str(j, "device");
	out->firmware = json_str(cJSON_GetObjectItemCaseSensitive(j, "firmware"), "name");
	out->frames = json_int_or(j, "frames", -1);
	out->recoveries = json_int_or(j, "recoveries", -1);
	return out->name ? 0 : -ENOENT;
}
