/* A fake M7 for the daemon benchmarks (see fake_m7.h). */
#include "fake_m7.h"

#include <string.h>

#include "bench_util.h"
#include "fake_clock.h"

void fake_m7_init(struct fake_m7 *m, int fd, uint32_t hz, int ppm, uint64_t epoch_ns,
		  uint32_t boot_id, const char *name, int tick_source)
{
	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->hz = hz;
	m->ppm = ppm;
	m->epoch_ns = epoch_ns;
	m->boot_id = boot_id;
	m->name = name;
	m->tick_source = tick_source;
	m7b_decoder_init(&m->dec);
}

uint64_t fake_m7_ticks(const struct fake_m7 *m, uint64_t mono)
{
	return fake_clock_ticks(m->hz, m->ppm, m->epoch_ns, mono);
}

uint64_t fake_m7_mono_of(const struct fake_m7 *m, uint64_t t)
{
	return fake_clock_mono_of(m->hz, m->ppm, m->epoch_ns, t);
}

size_t fake_m7_encode(struct fake_m7 *m, uint8_t *buf, size_t cap, uint8_t type, uint8_t port,
		      const void *pl, size_t n)
{
	struct m7b_frame h = {
		.ver = 1, .type = type, .port = port, .seq = m->seq, .len = (uint16_t)n};
	struct m7b_part part = {pl, n};
	int len = m7b_wire_encode(buf, cap, &h, &part, 1);

	if (len <= 0)
		return 0;
	m->seq++;
	return (size_t)len;
}

size_t fake_m7_encode_data(struct fake_m7 *m, uint8_t *buf, size_t cap, uint8_t port,
			   uint64_t t_first, uint64_t t_last, const void *bytes, size_t nbytes)
{
	uint8_t pl[M7B_PAYLOAD_MAX];
	struct m7b_data d = {
		.t_first = t_first, .t_last = t_last, .bytes = bytes, .nbytes = nbytes};
	int n = m7b_wire_pack_data(pl, sizeof(pl), &d);

	return n < 0 ? 0 : fake_m7_encode(m, buf, cap, M7B_T_DATA, port, pl, (size_t)n);
}

size_t fake_m7_encode_reply(struct fake_m7 *m, uint8_t *buf, size_t cap,
			    const struct m7b_sync_reply *r)
{
	uint8_t pl[32];
	int n = m7b_wire_pack_sync_reply(pl, sizeof(pl), r);

	return n < 0 ? 0 : fake_m7_encode(m, buf, cap, M7B_T_SYNC_REPLY, 0, pl, (size_t)n);
}

bool fake_m7_send(struct fake_m7 *m, uint8_t type, const void *pl, size_t n)
{
	uint8_t buf[M7B_FRAME_MAX];
	size_t len = fake_m7_encode(m, buf, sizeof(buf), type, 0, pl, n);

	return len && bench_write_all(m->fd, buf, len);
}

bool fake_m7_hello(struct fake_m7 *m)
{
	uint8_t pl[M7B_PAYLOAD_MAX];
	struct m7b_hello h = {.tick_hz = m->hz,
			      .boot_id = m->boot_id,
			      .now_ticks = fake_m7_ticks(m, bench_now_ns()),
			      .max_payload = M7B_PAYLOAD_MAX,
			      .host_credits = 8,
			      .name = m->name,
			      .name_len = strlen(m->name)};
	int n = m7b_wire_pack_hello(pl, sizeof(pl), &h);

	m->seq = 0;
	if (n < 0 || !fake_m7_send(m, M7B_T_HELLO, pl, (size_t)n))
		return false;
	if (m->tick_source == FAKE_M7_TICK_NONE)
		return true;
	/* As the firmware's: the tick item, and no previous boot to account for. */
	struct m7b_boot_info bi = {.present = M7B_BI_HAS_TICK | M7B_BI_HAS_PREV_BOOT,
				   .tick_source = (uint8_t)m->tick_source,
				   .tick_hz = m->hz};
	n = m7b_wire_pack_boot_info(pl, sizeof(pl), &bi);
	return n >= 0 && fake_m7_send(m, M7B_T_BOOT_INFO, pl, (size_t)n);
}
