/* libFuzzer target for the firmware core's input side: host bytes (fw_link_rx), well-formed
 * host frames with fuzzed contents (SEND, CONFIG, SYNC... whose CRC mutation would never
 * get right), UART bytes with error bits, time (from 0 or from just before the counter
 * wraps), link refusals and a full transmitter, in any mix.
 * Checks: the core never crashes, never writes a frame that fails to decode, keeps its
 * seq consecutive (restarting only with HELLO), answers credit frames in the order they
 * came (refusals included), balances its critical sections and keeps every queue count
 * within its bounds. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fw.h"
#include "fw_fake_board.h"
#include "m7bridge/wire.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fw fw;
static struct fake_frame frames[64];
static uint32_t host_seq; /* seq of the next structured host frame: only ever grows */
static uint32_t last_ack; /* acked_seq of the last ACK */
static bool have_ack;
static bool raw_frames; /* a valid frame came from raw bytes: its seq is anyone's */

/* Decodes what the core wrote and checks it; empties the fake link. */
static void check_output(uint32_t *next_seq)
{
	size_t n;

	while ((n = fake_frames(frames, 64)) > 0) {
		for (size_t i = 0; i < n; i++) {
			const struct m7b_frame *f = &frames[i].f;

			if (f->type == M7B_T_HELLO)
				CHECK(f->seq == 0);
			else
				CHECK(f->seq == *next_seq);
			*next_seq = f->seq + 1;
			CHECK(f->type >= M7B_T_HELLO && f->type <= M7B_T_BOOT_INFO);
			/* BOOT_INFO always follows HELLO and always unpacks. */
			if (f->type == M7B_T_BOOT_INFO) {
				struct m7b_boot_info bi;

				CHECK(f->seq == 1);
				CHECK(m7b_wire_unpack_boot_info(f, &bi) == 0);
				CHECK(bi.present & M7B_BI_HAS_PREV_BOOT);
			}
			/* The host reads an ACK as the end of every credit frame before it. */
			if (f->type == M7B_T_ACK) {
				struct m7b_ack a;

				CHECK(m7b_wire_unpack_ack(f, &a) == 0);
				if (!raw_frames) {
					CHECK(!have_ack || (int32_t)(a.acked_seq - last_ack) > 0);
					last_ack = a.acked_seq;
					have_ack = true;
				}
			}
		}
	}
	CHECK(fake.dec.stats.rejected == 0);
	if (fake.link_read == fake.link_len)
		fake.link_read = fake.link_len = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fw_options o;
	uint32_t next_seq = 0;
	size_t i = 0;

	host_seq = 0;
	have_ack = false;
	raw_frames = false;
	fake_power_on(2); /* the same no-init RAM every run: deterministic */
	/* Half the inputs run across the tick counter's wrap. */
	fake.ticks = (size & 1u) ? UINT64_MAX - 300000u : 0;
	fake_options(&o, 2, 400);
	o.heartbeat_ms = 1;
	o.port[1].delimiter = '\n';
	o.port[1].max_capture = 16;
	fw_init(&fw, &o);
	fw_link_up(&fw);

	while (i < size) {
		uint8_t op = data[i++];
		size_t n;

		switch (op & 3u) {
		case 0:
			if ((op & 0x80u) && size - i >= 3u) {
				/* a well-formed host frame: type, port, payload length, payload */
				static const uint8_t types[] = {M7B_T_SEND, M7B_T_CONFIG,
								M7B_T_SYNC, M7B_T_PING,
								M7B_T_HOST_HELLO};
				uint8_t t = data[i], port = data[i + 1], lb = data[i + 2];
				uint8_t type = t < 5u * 40u ? types[t % 5u] : t;
				uint8_t frame[M7B_FRAME_MAX];
				size_t len, fl;

				i += 3;
				len = type == M7B_T_CONFIG
					      ? (size_t)(lb % 96u) * M7B_CONFIG_ITEM_SIZE
				      : type == M7B_T_SYNC ? 8u
							   : (size_t)lb * 2u;
				if (len > M7B_PAYLOAD_MAX)
					len = M7B_PAYLOAD_MAX;
				if (len > size - i)
					len = type == M7B_T_CONFIG
						      ? (size - i) / M7B_CONFIG_ITEM_SIZE *
								M7B_CONFIG_ITEM_SIZE
						      : size - i;
				fl = fake_host_frame(frame, sizeof(frame), type,
						     (uint8_t)(port % 4u), host_seq++, data + i,
						     len);
				CHECK(fl > 0);
				i += len;
				/* split at a fuzzed point, as a link's reads would */
				fw_link_rx(&fw, frame, (size_t)(op >> 2 & 0x1fu) % fl);
				fw_link_rx(&fw, frame + (size_t)(op >> 2 & 0x1fu) % fl,
					   fl - (size_t)(op >> 2 & 0x1fu) % fl);
				break;
			}
			/* host bytes */
			n = (size_t)(op >> 2) + 1u;
			if (n > size - i)
				n = size - i;
			{
				uint32_t before = fw.n.host_frames;

				fw_link_rx(&fw, data + i, n);
				raw_frames |= fw.n.host_frames != before;
			}
			i += n;
			break;
		case 1: /* one UART byte */
			if (i < size) {
				fake.ticks += (uint64_t)(op >> 4) * 37u;
				fw_uart_rx_isr(&fw, (op >> 3) & 1u, data[i++], (op >> 1) & 3u,
					       fake.ticks);
			}
			break;
		case 2: /* time passes, main loop runs */
			fake.ticks += (uint64_t)op * 211u;
			fw_poll(&fw);
			break;
		default: /* link and transmitter state */
			fake.link_refuse = (op & 4u) != 0;
			fake.uart_room = (op & 8u) ? 0u : (size_t)(op >> 4) * 64u;
			if (op & 0x80u)
				fw_link_up(&fw);
			break;
		}
		CHECK(fake.irq_depth == 0);
		/* Every queue within its bounds: a count that wrapped below 0 is stuck forever. */
		CHECK(fw.ack_count <= FW_ACK_QUEUE && fw.hq_count <= FW_HOST_QUEUE);
		CHECK(fw.sync_count <= FW_SYNC_QUEUE && fw.log_count <= FW_LOG_QUEUE);
		CHECK(fw.refused_count <= FW_REFUSAL_QUEUE);
		check_output(&next_seq);
	}
	fake.link_refuse = false;
	fake.uart_room = 4096;
	for (int k = 0; k < 8; k++) {
		fake.ticks += 100000;
		fw_poll(&fw);
		check_output(&next_seq);
	}
	return 0;
}
