/* Entry point of the QEMU mps2-an500 port: options for the core, then the main loop. */
#include <stdint.h>

#include "m7bridge/wire.h"

#include "board.h"
#include "fw.h"
#include "qemu_board.h"

#ifndef M7FW_VERSION
#define M7FW_VERSION "0.0.0"
#endif
/* Silence that ends a capture on the captured UART (ms). Bytes from the host reach the
 * guest one per QEMU main-loop turn (tens of microseconds apart, more on a loaded host),
 * so this is far above that jitter. */
#ifndef QEMU_IDLE_GAP_MS
#define QEMU_IDLE_GAP_MS 20u
#endif
#ifndef QEMU_HEARTBEAT_MS
#define QEMU_HEARTBEAT_MS 1000u
#endif

static struct fw fw;

int main(void)
{
	struct fw_options opt = {
		.name = "m7bridge-qemu " M7FW_VERSION,
		.nports = 1,
		.heartbeat_ms = QEMU_HEARTBEAT_MS,
	};

	opt.port[0].idle_gap_ticks =
		(uint32_t)((uint64_t)board_tick_hz() * QEMU_IDLE_GAP_MS / 1000u);
	opt.port[0].delimiter = -1;
	opt.port[0].max_capture = M7B_DATA_BYTES_MAX;

	qemu_board_init(&fw);
	fw_init(&fw, &opt);
	qemu_board_start();
	/* QEMU's socket chardev (wait=on) holds the guest until the host side is connected,
	 * so the link is up as soon as the firmware runs. */
	fw_link_up(&fw);
	qemu_board_report_last_fault(&fw);

	for (;;) {
		qemu_board_link_drain(&fw);
		fw_poll(&fw);
		qemu_board_idle();
	}
}
