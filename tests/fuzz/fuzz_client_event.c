/* libFuzzer target: lines from the daemon as libm7bridge parses them (m7b_event_parse,
 * FRAME payload decoding, the accessors), the resume positions they make (the input's
 * lines in turn) and base64 decoding. Any input must parse or
 * fail cleanly with -EBADMSG, never crash or leak; what parses keeps its line as it came
 * and has strings of UTF-8 only. The input's bytes also go through
 * every base64 encoder path, which must agree with the scalar one and decode back. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64_int.h"
#include "m7bridge/base64.h"
#include "m7bridge/client.h"
#include "m7bridge/utf8.h"
#include "resume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes the bytes through every base64 path this CPU has: each gives the scalar
 * encoder's text, which decodes back to the bytes. */
static void check_encode(const uint8_t *data, size_t size)
{
	static const enum base64_path paths[] = {BASE64_SSSE3, BASE64_AVX2, BASE64_NEON};
	static char want[4096 / 3 * 4 + 8], got[sizeof(want)];
	static uint8_t back[4096];
	enum base64_path best = base64_best_path();
	int n;

	if (size > sizeof(back))
		size = sizeof(back);
	n = base64_encode_with(BASE64_SCALAR, data, size, want, sizeof(want));
	if (n != (int)((size + 2) / 3 * 4))
		abort();
	for (size_t k = 0; k < sizeof(paths) / sizeof(paths[0]); k++) {
		/* x86 paths up to the best one; elsewhere the best one alone */
		if (paths[k] > best || (best == BASE64_NEON && paths[k] != BASE64_NEON))
			continue;
		if (base64_encode_with(paths[k], data, size, got, sizeof(got)) != n ||
		    memcmp(got, want, (size_t)n + 1) != 0)
			abort();
	}
	if (m7b_base64_encode(data, size, got, sizeof(got)) != n ||
	    memcmp(got, want, (size_t)n + 1))
		abort();
	if (m7b_base64_decode(got, (size_t)n, back, sizeof(back)) != (int)size ||
	    memcmp(back, data, size) != 0)
		abort();
}

/* The input's lines as a stream of objects: the positions they leave are of channels that
 * delivered frames, and a watch takes at most one. */
static void check_resume(const uint8_t *data, size_t size)
{
	struct resume r = {0};
	const char *p = (const char *)data, *end = p + size;
	uint32_t boot, seq;

	for (unsigned n = 0; p < end && n < 64; n++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct m7b_event *ev = NULL;

		if (m7b_event_parse(p, len, &ev, NULL) == 0)
			resume_on_event(&r, ev);
		m7b_event_free(ev);
		p += len + 1;
		if (n % 8 == 7) {
			resume_on_connect(&r);
			resume_on_heard(&r, n);
		}
	}
	if (r.npos > RESUME_CHANNELS)
		abort();
	const struct resume_pos *from = resume_from(&r, NULL);
	if (from && (!from->seen || !from->has_frame))
		abort();
	for (unsigned i = 0; i < r.npos; i++)
		if (resume_position(&r, r.pos[i].channel, &boot, &seq) == 0 && !r.pos[i].has_frame)
			abort();
}

/* Strings handed to the application are UTF-8, whatever bytes came. */
static void check_utf8(const char *s)
{
	if (s && !m7b_utf8_valid(s, strlen(s)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m7b_event *ev = NULL;
	struct m7b_error err;
	struct m7b_channel_status ch;
	uint8_t out[512];
	int64_t v;
	int r = m7b_event_parse((const char *)data, size, &ev, &err);

	if (r < 0) {
		if (r != -EBADMSG && r != -ENOMEM)
			abort();
		if (ev || err.offset > size)
			abort();
	} else {
		/* Walk everything a client might read. */
		if (ev->data && ev->data_len > size)
			abort();
		if (ev->line_len != size || memcmp(ev->line, data, size) != 0)
			abort();
		check_utf8(ev->cls);
		check_utf8(ev->channel);
		check_utf8(ev->state);
		check_utf8(ev->reason);
		check_utf8(ev->code);
		check_utf8(ev->message);
		check_utf8(ev->release);
		check_utf8(ev->text);
		check_utf8(m7b_event_get_string(ev, "name"));
		(void)m7b_event_type_to_string(ev->type);
		(void)m7b_event_get_string(ev, "class");
		(void)m7b_event_get_int(ev, "seq", &v);
		free(m7b_event_get_json(ev, "channels"));
		for (size_t i = 0; i < m7b_event_array_size(ev, "channels") && i < 64; i++) {
			(void)m7b_event_channel(ev, i, &ch);
			(void)m7b_event_array_int(ev, "channels", i, "frames", &v);
		}
		m7b_event_free(ev);
	}
	/* The raw bytes as base64 as well. */
	r = m7b_base64_decode((const char *)data, size, out, sizeof(out));
	if (r > (int)sizeof(out))
		abort();
	check_encode(data, size);
	check_resume(data, size);
	return 0;
}
