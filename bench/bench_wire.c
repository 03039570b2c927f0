/* Benchmark of the wire codec: encoder and stream decoder throughput (MB/s of wire bytes)
 * and ns per frame for DATA frames with 64- and 478-byte payloads, plus CRC-32C alone.
 * Prints figures; not a test. Usage: bench_wire [seconds per measurement, default 0.5] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "m7bridge/crc32c.h"
#include "m7bridge/decoder.h"
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

static void bench_encode(size_t payload, double secs)
{
	uint8_t bytes[M7B_DATA_BYTES_MAX], pl[M7B_PAYLOAD_MAX];
	uint8_t *out = malloc((size_t)NFRAMES * M7B_FRAME_MAX);
	if (!out)
		exit(1);
	size_t nb = payload - M7B_DATA_HDR;
	capture_bytes(bytes, nb, 7);
	uint64_t frames = 0, wire = 0;
	double t0 = now_s(), t;
	do {
		size_t o = 0;
		for (unsigned i = 0; i < NFRAMES; i++) {
			/* what the firmware does per capture: pack the payload, encode the frame */
			struct m7b_data d = {i, i + 100, bytes, nb};
			int pn = m7b_wire_pack_data(pl, sizeof(pl), &d);
			struct m7b_frame h = {.type = M7B_T_DATA, .port = 1, .seq = i};
			struct m7b_part part = {pl, (size_t)pn};
			int n = m7b_wire_encode(out + o, M7B_FRAME_MAX, &h, &part, 1);
			o += (size_t)n;
		}
		frames += NFRAMES;
		wire += o;
		sink += out[o / 2];
		t = now_s() - t0;
	} while (t < secs);
	printf("encode  payload %3zu: %8.1f MB/s wire, %8.1f MB/s payload, %7.1f ns/frame\n",
	       payload, (double)wire / t / 1e6, (double)(frames * payload) / t / 1e6,
	       t * 1e9 / (double)frames);
	free(out);
}

static void bench_decode(size_t payload, double secs)
{
	struct stream s;
	build_stream(&s, payload);
	struct m7b_decoder d;
	m7b_decoder_init(&d);
	uint64_t frames = 0, wire = 0, sum = 0;
	double t0 = now_s(), t;
	do {
		for (size_t off = 0; off < s.len; off += CHUNK) {
			const uint8_t *p = s.buf + off;
			const uint8_t *end = s.buf + (s.len - off < CHUNK ? s.len : off + CHUNK);
			struct m7b_frame f;
			struct m7b_data dd;
			while (m7b_decoder_next(&d, &p, end, &f) == 1) {
				/* what the daemon does per frame: unpack it */
				if (m7b_wire_unpack_data(&f, &dd) == 0)
					sum += dd.nbytes + f.seq;
				frames++;
			}
		}
		wire += s.len;
		t = now_s() - t0;
	} while (t < secs);
	sink += sum;
	if (d.stats.rejected != 0 || d.stats.frames != frames) {
		fprintf(stderr, "decode: %llu rejected, %llu frames: benchmark stream broken\n",
			(unsigned long long)d.stats.rejected, (unsigned long long)frames);
		exit(1);
	}
	printf("decode  payload %3zu: %8.1f MB/s wire, %8.1f MB/s payload, %7.1f ns/frame\n",
	       payload, (double)wire / t / 1e6, (double)(frames * payload) / t / 1e6,
	       t * 1e9 / (double)frames);
	free(s.buf);
}

static void bench_crc(size_t n, double secs)
{
	uint8_t buf[M7B_BODY_MAX];
	capture_bytes(buf, sizeof(buf), 3);
	uint64_t calls = 0;
	uint32_t c = 0;
	double t0 = now_s(), t;
	do {
		for (int i = 0; i < 10000; i++)
			c = m7b_crc32c(c, buf, n);
		calls += 10000;
		t = now_s() - t0;
	} while (t < secs);
	sink += c;
	printf("crc32c  %3zu bytes  : %8.1f MB/s, %7.1f ns/call\n", n,
	       (double)(calls * n) / t / 1e6, t * 1e9 / (double)calls);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	if (secs <= 0)
		secs = 0.5;
	printf("wire codec benchmark: DATA frames, realistic UART content, %d-byte reads\n", CHUNK);
	bench_crc(64 + M7B_HDR_SIZE, secs);
	bench_crc(M7B_BODY_MAX - M7B_CRC_SIZE, secs);
	bench_encode(64, secs);
	bench_encode(M7B_PAYLOAD_MAX, secs);
	bench_decode(64, secs);
	bench_decode(M7B_PAYLOAD_MAX, secs);
	return 0;
}
