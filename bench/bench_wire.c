/* Benchmark of the wire codec: encoder and stream decoder throughput (MB/s of wire bytes)
 * and ns per byte and per frame for DATA frames with 64- and 478-byte payloads, plus
 * CRC-32C alone. Prints figures; not a test.
 * Usage: bench_wire [seconds per measurement, default 0.5]
 *        bench_wire --rounds N encode64|encode478|decode64|decode478|crc32c74|crc32c488|
 *                              base64_48|base64_462|decimal|decimal_ref
 *        (fixed work for an instruction counter: bench/callgrind-wire.sh) */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "m7bridge/base64.h"
#include "m7bridge/crc32c.h"
#include "m7bridge/decoder.h"
#include "m7bridge/numfmt.h"
#include "m7bridge/wire.h"

#define NFRAMES 2048 /* frames in the prepared stream (about 1 MB at 478 bytes) */
#define CHUNK	4096 /* bytes per simulated read() from the tty */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Realistic UART capture: mostly text lines (NMEA, a shell, a log), now and then a
 * binary record with zeros (Modbus-like), so COBS sees both long and short runs. */
static void capture_bytes(uint8_t *out, size_t n, unsigned seed)
{
	static const char *lines[] = {
		"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n",
		"root@imx8mp:~# cat /proc/interrupts | grep rpmsg\r\n",
		"[  112.384512] sensor: temp=41.25C hum=38.0% pressure=1013.2hPa\r\n",
		"OK\r\n",
	};
	size_t o = 0;
	unsigned k = seed;
	while (o < n) {
		k = k * 1103515245u + 12345u;
		if ((k >> 16) % 8 == 0) {
			/* binary record: address, function, length, data with zeros, CRC16 */
			uint8_t rec[24] = {0x01, 0x03, 0x14, 0x00, 0x0A, 0x00, 0x00, 0x01, 0xF4};
			for (size_t i = 9; i < sizeof(rec); i++)
				rec[i] = (uint8_t)((k >> (i % 24)) & (i % 3 ? 0xFF : 0x00));
			size_t m = sizeof(rec) < n - o ? sizeof(rec) : n - o;
			memcpy(out + o, rec, m);
			o += m;
		} else {
			const char *l = lines[(k >> 20) % 4];
			size_t m = strlen(l) < n - o ? strlen(l) : n - o;
			memcpy(out + o, l, m);
			o += m;
		}
	}
}

struct stream {
	uint8_t *buf;
	size_t len;
	size_t payload_bytes;
};

/* Encodes NFRAMES DATA frames of the given payload size; returns seconds per round. */
static void build_stream(struct stream *s, size_t payload)
{
	uint8_t bytes[M7B_DATA_BYTES_MAX], pl[M7B_PAYLOAD_MAX];
	s->buf = malloc((size_t)NFRAMES * M7B_FRAME_MAX + 1);
	if (!s->buf)
		exit(1);
	s->len = 0;
	s->buf[s->len++] = 0;
	s->payload_bytes = 0;
	for (unsigned i = 0; i < NFRAMES; i++) {
		size_t nb = payload - M7B_DATA_HDR;
		capture_bytes(bytes, nb, i);
		struct m7b_data d = {1000000ull * i, 1000000ull * i + 87 * nb, bytes, nb};
		int pn = m7b_wire_pack_data(pl, sizeof(pl), &d);
		struct m7b_frame h = {.type = M7B_T_DATA, .port = (uint8_t)(i % 4), .seq = i};
		struct m7b_part part = {pl, (size_t)pn};
		int n = m7b_wire_encode(s->buf + s->len, M7B_FRAME_MAX, &h, &part, 1);
		if (n < 0)
			exit(1);
		s->len += (size_t)n;
		s->payload_bytes += (size_t)pn;
	}
}

static volatile uint64_t sink;

/* One round of each measurement: fixed work, so the timed loops and the instruction
 * counts (bench/callgrind-wire.sh) measure the very same thing. Each returns the wire or
 * CRC bytes it went through; *frames gets the frames. */
struct encode_ctx {
	uint8_t bytes[M7B_DATA_BYTES_MAX];
	uint8_t *out;
	size_t payload;
};

static size_t encode_round(struct encode_ctx *c, uint64_t *frames)
{
	uint8_t pl[M7B_PAYLOAD_MAX];
	size_t nb = c->payload - M7B_DATA_HDR, o = 0;

	for (unsigned i = 0; i < NFRAMES; i++) {
		/* what the firmware does per capture: pack the payload, encode the frame */
		struct m7b_data d = {i, i + 100, c->bytes, nb};
		int pn = m7b_wire_pack_data(pl, sizeof(pl), &d);
		struct m7b_frame h = {.type = M7B_T_DATA, .port = 1, .seq = i};
		struct m7b_part part = {pl, (size_t)pn};
		int n = m7b_wire_encode(c->out + o, M7B_FRAME_MAX, &h, &part, 1);
		o += (size_t)n;
	}
	sink += c->out[o / 2];
	*frames += NFRAMES;
	return o;
}

static void encode_init(struct encode_ctx *c, size_t payload)
{
	c->payload = payload;
	c->out = malloc((size_t)NFRAMES * M7B_FRAME_MAX);
	if (!c->out)
		exit(1);
	capture_bytes(c->bytes, payload - M7B_DATA_HDR, 7);
}

static size_t decode_round(struct stream *s, struct m7b_decoder *d, uint64_t *frames)
{
	uint64_t sum = 0, n = 0;

	for (size_t off = 0; off < s->len; off += CHUNK) {
		const uint8_t *p = s->buf + off;
		const uint8_t *end = s->buf + (s->len - off < CHUNK ? s->len : off + CHUNK);
		struct m7b_frame f;
		struct m7b_data dd;

		while (m7b_decoder_next(d, &p, end, &f) == 1) {
			/* what the daemon does per frame: unpack it */
			if (m7b_wire_unpack_data(&f, &dd) == 0)
				sum += dd.nbytes + f.seq;
			n++;
		}
	}
	sink += sum;
	*frames += n;
	return s->len;
}

static void decode_check(const struct m7b_decoder *d, uint64_t frames)
{
	if (d->stats.rejected != 0 || d->stats.frames != frames) {
		fprintf(stderr, "decode: %llu rejected, %llu frames: benchmark stream broken\n",
			(unsigned long long)d->stats.rejected, (unsigned long long)frames);
		exit(1);
	}
}

static size_t crc_round(const uint8_t *buf, size_t n, uint64_t *calls)
{
	uint32_t c = 0;

	for (int i = 0; i < 10000; i++)
		c = m7b_crc32c(c, buf, n);
	sink += c;
	*calls += 10000;
	return 10000 * n;
}

/* Text side of a FRAME line (the daemon's JSON): base64 of the captured bytes. */
static size_t base64_round(const uint8_t *in, size_t n, uint64_t *frames)
{
	char out[M7B_DATA_BYTES_MAX / 3 * 4 + 8];
	size_t sum = 0;

	for (unsigned i = 0; i < NFRAMES; i++)
		sum += (size_t)m7b_base64_encode(in, n, out, sizeof(out)) + (uint8_t)out[i % 8];
	sink += sum;
	*frames += NFRAMES;
	return (size_t)NFRAMES * n;
}

/* One digit per step, reversed: the way the JSON renderer formats numbers today; the
 * reference for the decimal formatter. */
static size_t fmt_naive(char *out, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(out, tmp + i, sizeof(tmp) - i);
	return sizeof(tmp) - i;
}

/* The five numbers of a FRAME line (port, seq, t_first, t_last, len), with ticks of an
 * 8 MHz counter a day after boot. Returns the digits written. */
static size_t fmt_round(bool naive, uint64_t *frames)
{
	char out[5 * 24];
	size_t n = 0;

	for (unsigned i = 0; i < NFRAMES; i++) {
		uint64_t t = 8000000ull * 86400 + 1000ull * i;
		const uint64_t v[5] = {i % 4, 100000u + i, t, t + 87, 48};
		size_t o = 0;

		for (int k = 0; k < 5; k++)
			o += naive ? fmt_naive(out + o, v[k]) : m7b_fmt_u64(out + o, v[k]);
		n += o;
		sink += (uint8_t)out[o / 2];
	}
	*frames += NFRAMES;
	return n;
}

/* Instruction targets of the codec alone (bench/callgrind-wire.sh counts them): its share
 * of m7bridged's 1,200 instructions per frame at 64-byte DATA payloads; NULL if none. */
static const char *target_of(const char *what, size_t size)
{
	if (!strcmp(what, "decode") && size == 64)
		return "<= 250 instr/frame";
	if (!strcmp(what, "base64") && size == 48)
		return "<= 70 instr/call";
	return NULL;
}

static void report(const char *what, size_t size, double t, uint64_t bytes, uint64_t frames,
		   uint64_t payload_bytes)
{
	const char *target = target_of(what, size);

	printf("%-7s %3zu: %8.1f MB/s wire, %8.1f MB/s payload, %6.2f ns/byte, %7.1f ns/%s%s%s\n",
	       what, size, (double)bytes / t / 1e6, (double)payload_bytes / t / 1e6,
	       t * 1e9 / (double)bytes, t * 1e9 / (double)frames,
	       strncmp(what, "crc", 3) ? "frame" : "call", target ? "   target " : "",
	       target ? target : "");
}

static void bench_text(double secs)
{
	uint8_t in[M7B_DATA_BYTES_MAX];
	const size_t sizes[] = {48, M7B_DATA_BYTES_MAX};

	capture_bytes(in, sizeof(in), 5);
	for (size_t k = 0; k < 2; k++) {
		uint64_t frames = 0, bytes = 0;
		double t0 = now_s(), t;
		do {
			bytes += base64_round(in, sizes[k], &frames);
			t = now_s() - t0;
		} while (t < secs);
		report("base64", sizes[k], t, bytes, frames, bytes);
	}
	for (int naive = 0; naive < 2; naive++) {
		uint64_t frames = 0, bytes = 0;
		double t0 = now_s(), t;
		do {
			bytes += fmt_round(naive, &frames);
			t = now_s() - t0;
		} while (t < secs);
		printf("%-11s: %6.2f ns/digit, %7.1f ns per FRAME's five numbers\n",
		       naive ? "decimal ref" : "decimal", t * 1e9 / (double)bytes,
		       t * 1e9 / (double)frames);
	}
}

static void bench_encode(size_t payload, double secs)
{
	struct encode_ctx c;
	uint64_t frames = 0, wire = 0;
	double t0 = now_s(), t;

	encode_init(&c, payload);
	do {
		wire += encode_round(&c, &frames);
		t = now_s() - t0;
	} while (t < secs);
	report("encode", payload, t, wire, frames, frames * payload);
	free(c.out);
}

static void bench_decode(size_t payload, double secs)
{
	struct stream s;
	struct m7b_decoder d;
	uint64_t frames = 0, wire = 0;
	double t0, t;

	build_stream(&s, payload);
	m7b_decoder_init(&d);
	t0 = now_s();
	do {
		wire += decode_round(&s, &d, &frames);
		t = now_s() - t0;
	} while (t < secs);
	decode_check(&d, frames);
	report("decode", payload, t, wire, frames, frames * payload);
	free(s.buf);
}

static void bench_crc(size_t n, double secs)
{
	uint8_t buf[M7B_BODY_MAX];
	uint64_t calls = 0, bytes = 0;
	double t0 = now_s(), t;

	capture_bytes(buf, sizeof(buf), 3);
	do {
		bytes += crc_round(buf, n, &calls);
		t = now_s() - t0;
	} while (t < secs);
	report("crc32c", n, t, bytes, calls, bytes);
}

/* --rounds N WHAT: N rounds of one measurement, untimed, for an instruction counter;
 * prints the bytes and frames (or calls) of one round. */
static int rounds_mode(unsigned long rounds, const char *what)
{
	const char *digits = what + strlen(what);

	while (digits > what && digits[-1] >= '0' && digits[-1] <= '9')
		digits--;
	size_t size = (size_t)strtoul(digits, NULL, 10);
	uint64_t frames = 0, bytes = 0;

	if (!strncmp(what, "encode", 6) && size >= M7B_DATA_HDR && size <= M7B_PAYLOAD_MAX) {
		struct encode_ctx c;

		encode_init(&c, size);
		for (unsigned long r = 0; r < rounds; r++)
			bytes = encode_round(&c, &frames);
		free(c.out);
	} else if (!strncmp(what, "decode", 6) && size >= M7B_DATA_HDR && size <= M7B_PAYLOAD_MAX) {
		struct stream s;
		struct m7b_decoder d;

		build_stream(&s, size);
		m7b_decoder_init(&d);
		for (unsigned long r = 0; r < rounds; r++)
			bytes = decode_round(&s, &d, &frames);
		decode_check(&d, frames);
		free(s.buf);
	} else if (!strncmp(what, "crc32c", 6) && size > 0 && size <= M7B_BODY_MAX) {
		uint8_t buf[M7B_BODY_MAX];

		capture_bytes(buf, sizeof(buf), 3);
		for (unsigned long r = 0; r < rounds; r++)
			bytes = crc_round(buf, size, &frames);
	} else if (!strncmp(what, "base64_", 7) && size > 0 && size <= M7B_DATA_BYTES_MAX) {
		uint8_t in[M7B_DATA_BYTES_MAX];

		capture_bytes(in, sizeof(in), 5);
		for (unsigned long r = 0; r < rounds; r++)
			bytes = base64_round(in, size, &frames);
	} else if (!strcmp(what, "decimal") || !strcmp(what, "decimal_ref")) {
		for (unsigned long r = 0; r < rounds; r++)
			bytes = fmt_round(what[7] == '_', &frames);
	} else {
		fprintf(stderr, "bench_wire: unknown measurement %s\n", what);
		return 2;
	}
	printf("%s: %lu rounds; per round %llu bytes, %llu frames\n", what, rounds,
	       (unsigned long long)bytes, (unsigned long long)(rounds ? frames / rounds : 0));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--rounds"))
		return rounds_mode(strtoul(argv[2], NULL, 10), argv[3]);
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	if (secs <= 0)
		secs = 0.5;
	printf("wire codec benchmark: DATA frames, realistic UART content, %d-byte reads\n"
	       "(instructions per byte and per frame, against the targets: "
	       "bench/callgrind-wire.sh)\n",
	       CHUNK);
	bench_crc(64 + M7B_HDR_SIZE, secs);
	bench_crc(M7B_BODY_MAX - M7B_CRC_SIZE, secs);
	bench_encode(64, secs);
	bench_encode(M7B_PAYLOAD_MAX, secs);
	bench_decode(64, secs);
	bench_decode(M7B_PAYLOAD_MAX, secs);
	bench_text(secs);
	return 0;
}
