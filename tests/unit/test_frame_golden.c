/* FRAME lines against golden copies: every case below rendered in both encodings must
 * equal, byte for byte, the line stored in frame_golden.txt (captured from an earlier,
 * plainer renderer), in a roomy buffer and in one of exactly the line's length; one byte
 * less is -ENOSPC. Run with --print to write the lines the renderer makes now. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

#define NCASES	 200
#define LINE_MAX (2 * PROTO_FRAME_MAX)

/* Raw channel and port names; quoted by proto_quote as the daemon does. NULL: no name. */
static const char *const chan_names[] = {
	"m7",
	"uart-gps.0",
	"q\"uote\\back",
	"tab\tnl\ncr\rbs\bff\f",
	"ctl\x01\x1f\x7f",
	"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	"bad\xff\xc3(utf8\xe2\x82",
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", /* 63 */
	"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"",
};
static const char *const port_names[] = {
	NULL,
	"gps",
	"p",
	"with \"quotes\" and \\",
	"nl\nctl\x02",
	"\xce\xbb-port \xef\xbf\xbd",
	"\xc0\x80overlong",
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", /* 64 */
};

/* Numbers where the digit count changes, the widths' ends, and a few plain ones. */
static uint64_t edge(unsigned k)
{
	static const uint64_t extra[] = {
		0,
		UINT32_MAX,
		(uint64_t)UINT32_MAX + 1,
		UINT64_MAX,
		UINT64_MAX - 1,
		1ull << 63,
		(1ull << 53) + 1,
		1700000000123456789ull, /* a CLOCK_REALTIME in ns */
		123456789012ull,
		99999999ull * 100000000ull,
	};
	if (k < 40) {
		uint64_t p = 1;
		for (unsigned i = 0; i < k / 2; i++)
			p *= 10;
		return k % 2 ? p : p - 1;
	}
	return extra[(k - 40) % (sizeof(extra) / sizeof(extra[0]))];
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* A number of a random width: every digit count is as likely. */
static uint64_t rnd_width(void)
{
	uint64_t v = rnd();
	unsigned digits = (unsigned)(rnd() % 20) + 1;
	uint64_t p = 1;
	for (unsigned i = 1; i < digits; i++)
		p *= 10;
	return digits == 20 ? v : v % (p * 10);
}

/* t_last beside t_first: equal, a little later, across a digit boundary, or anything. */
static uint64_t rnd_later(uint64_t t)
{
	static const uint64_t steps[] = {0, 1, 9, 10, 99, 1000, 99999999, 100000000, 123456789};
	switch (rnd() % 5) {
	case 0:
		return t;
	case 1:
	case 2:
		return t + steps[rnd() % (sizeof(steps) / sizeof(steps[0]))];
	case 3:
		return t + rnd() % 1000000;
	default:
		return rnd_width();
	}
}

struct gcase {
	struct proto_frame f;
	struct proto_frame_names nm;
	uint8_t bytes[M7B_DATA_BYTES_MAX];
};

/* The names' pieces as the daemon makes them: quoted, then put in their FRAME members. */
static void make_names(struct gcase *g, const char *chan, uint8_t port, const char *port_name)
{
	char q[512];
	proto_frame_names_clear(&g->nm);
	int r = proto_quote(q, sizeof(q), chan, strlen(chan));
	assert_true(r > 0);
	assert_int_equal(proto_frame_names_head(&g->nm, q, (size_t)r), 0);
	if (!port_name)
		return;
	r = proto_quote(q, sizeof(q), port_name, strlen(port_name));
	assert_true(r > 0);
	assert_int_equal(proto_frame_names_port(&g->nm, port, q, (size_t)r), 0);
}

/* Case i: the first ones walk the number edges, the rest are random. */
static void make_case(unsigned i, struct gcase *g)
{
	proto_frame_names_clear(&g->nm);
	memset(g, 0, sizeof(*g));
	rng_state = 0x9e3779b97f4a7c15ull ^ ((uint64_t)i * 0xbf58476d1ce4e5b9ull);
	(void)rnd();
	struct proto_frame *f = &g->f;
	unsigned cn = i % (sizeof(chan_names) / sizeof(chan_names[0]));
	unsigned pn = (i / 3) % (sizeof(port_names) / sizeof(port_names[0]));
	static const unsigned ports[] = {0, 1, 9, 10, 99, 100, 101, 199, 200, 255};
	static const size_t lens[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 47, 48, 64, 100, 461, 462};
	if (i < 100) {
		f->port = (uint8_t)ports[i % 10];
		f->flags = (uint8_t)(i % 16);
		f->seq = (uint32_t)edge(i);
		f->t_first = edge(i);
		f->t_last = edge(i + (i % 3));
		f->nbytes = (uint16_t)lens[i % (sizeof(lens) / sizeof(lens[0]))];
		f->late = i % 7 == 3;
		f->has_realtime = i % 4 >= 2;
		f->has_mono = i % 4 == 1 || i % 4 == 3;
		f->t_first_ns = edge(i + 1);
		f->t_last_ns = edge(i + 2);
		f->t_first_mono_ns = edge(99 - i);
		f->t_last_mono_ns = edge(99 - i) + (i % 5);
		f->t_err_ns = edge(i / 2);
	} else {
		f->port = (uint8_t)rnd();
		f->flags = rnd() % 3 ? (uint8_t)(rnd() % 8) : (uint8_t)rnd();
		f->seq = (uint32_t)rnd_width();
		f->t_first = rnd_width();
		f->t_last = rnd_later(f->t_first);
		f->nbytes = (uint16_t)(rnd() % 8 ? rnd() % 25
						 : lens[rnd() % (sizeof(lens) / sizeof(lens[0]))]);
		f->late = rnd() % 5 == 0;
		unsigned clk = (unsigned)(rnd() % 4);
		f->has_realtime = clk & 1;
		f->has_mono = clk >> 1 & 1;
		f->t_first_ns = rnd() % 2 ? 1700000000000000000ull + rnd() % 100000000000000000ull
					  : rnd_width();
		f->t_last_ns = rnd_later(f->t_first_ns);
		f->t_first_mono_ns = rnd_width();
		f->t_last_mono_ns = rnd_later(f->t_first_mono_ns);
		f->t_err_ns = rnd() % 2 ? rnd() % 100000 : rnd_width();
	}
	for (size_t k = 0; k < f->nbytes; k++)
		g->bytes[k] = (uint8_t)rnd();
	make_names(g, chan_names[cn], f->port, port_names[pn]);
}

static struct gcase gc;

static int render(unsigned i, enum proto_encoding enc, char *buf, size_t cap)
{
	make_case(i, &gc);
	return proto_render_frame(buf, cap, &gc.nm, &gc.f, gc.bytes, enc);
}

static char *golden;
static size_t golden_len;

static int load_golden(void **state)
{
	(void)state;
	const char *root = getenv("M7B_SOURCE_ROOT");
	char path[4096];
	snprintf(path, sizeof(path), "%s/tests/unit/frame_golden.txt", root ? root : ".");
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		fprintf(stderr, "cannot open %s\n", path);
		return -1;
	}
	golden = malloc(1 << 21);
	golden_len = golden ? fread(golden, 1, 1 << 21, fp) : 0;
	fclose(fp);
	return golden_len > 0 && golden_len < (1 << 21) ? 0 : -1;
}

static int free_golden(void **state)
{
	(void)state;
	proto_frame_names_clear(&gc.nm);
	free(golden);
	return 0;
}

static void test_golden(void **state)
{
	(void)state;
	static char buf[LINE_MAX], tight[LINE_MAX];
	size_t off = 0;
	for (unsigned i = 0; i < NCASES; i++) {
		for (int e = 0; e < 2; e++) {
			enum proto_encoding enc = e ? PROTO_ENC_HEX : PROTO_ENC_BASE64;
			int n = render(i, enc, buf, sizeof(buf));
			assert_true(n > 0);
			const char *want = golden + off;
			const char *nl = memchr(want, '\n', golden_len - off);
			assert_non_null(nl);
			size_t wn = (size_t)(nl - want) + 1;
			if ((size_t)n != wn || memcmp(buf, want, wn) != 0) {
				fprintf(stderr, "case %u %s:\n got  %.*s want %.*s", i,
					proto_encoding_to_string(enc), n, buf, (int)wn, want);
				fail();
			}
			off += wn;
			/* The tight path: exactly the line's length fits, one byte less does not. */
			memset(tight, '#', sizeof(tight));
			assert_int_equal(render(i, enc, tight, (size_t)n), n);
			assert_memory_equal(tight, want, wn);
			for (size_t k = (size_t)n; k < sizeof(tight); k++)
				assert_int_equal(tight[k], '#');
			assert_int_equal(render(i, enc, tight, (size_t)n - 1), -ENOSPC);
		}
	}
	assert_int_equal(off, golden_len); /* no golden line left over */
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--print") == 0) {
		static char buf[LINE_MAX];
		for (unsigned i = 0; i < NCASES; i++)
			for (int e = 0; e < 2; e++) {
				int n = render(i, e ? PROTO_ENC_HEX : PROTO_ENC_BASE64, buf,
					       sizeof(buf));
				if (n <= 0)
					return 1;
				fwrite(buf, 1, (size_t)n, stdout);
			}
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_golden, load_golden, free_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
