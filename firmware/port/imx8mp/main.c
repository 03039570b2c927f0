/* Entry point of the i.MX8M Plus port: board bring-up, resource table, and the one
 * FreeRTOS task that owns the core (rpmsg receive, fw_poll). */
#include <stdint.h>

#include "FreeRTOS.h"
#include "task.h"

#include "m7bridge/wire.h"

#include "board.h"
#include "fw.h"
#include "imx8mp_port.h"
#include "rsc_table.h"

#ifndef M7FW_VERSION
#define M7FW_VERSION "0.0.0"
#endif

/* From the SDK's board files (boards/evkmimx8mp/board.c, clock_config.c). Declared here
 * rather than through the SDK's board.h, whose name the core's board.h shares. */
void BOARD_InitMemory(void);
void BOARD_RdcInit(void);
void BOARD_BootClockRUN(void);

#define BRIDGE_TASK_STACK_WORDS 1024u
#define BRIDGE_TASK_PRIORITY	(tskIDLE_PRIORITY + 2u)

struct fw m7b_fw;

/* How long the bridge task may sleep in the rpmsg queue: not at all when the core has
 * work now, else one tick. One tick (1 ms) bounds the latency of a capture that the
 * receive interrupt closed (delimiter, size) and of idle-gap closing; the interrupt
 * itself never waits for the task. */
static uint32_t bridge_wait_ms(void)
{
	uint64_t now = board_ticks();
	uint64_t due = fw_next_deadline(&m7b_fw);

	return due <= now ? 0u : 1u;
}

static void bridge_task(void *arg)
{
	(void)arg;
	if (imx8mp_link_start() != 0) {
		/* No link: nothing can be reported; Linux sees the missing name service. */
		imx8mp_halt();
	}
	/* Capture starts once the link exists so the first captures have somewhere to go;
	 * until Linux's first message the core keeps them (fw_link_up sends HELLO first). */
	if (imx8mp_uart_start() != 0)
		fw_log(&m7b_fw, 3 /* LOG_ERR */, "capture UART did not start");
	for (;;) {
		imx8mp_link_service(&m7b_fw, bridge_wait_ms());
		fw_poll(&m7b_fw);
	}
}

int main(void)
{
	struct fw_options opt = {
		.name = "m7bridge-imx8mp " M7FW_VERSION,
		.nports = 1,
		.heartbeat_ms = M7B_HEARTBEAT_MS,
	};

	/* MPU and caches (DDR incl. the rpmsg shared memory non-cacheable, peripherals
	 * as device memory), RDC domain, clocks: the SDK's tested EVK set-up. */
	BOARD_InitMemory();
	BOARD_RdcInit();
	BOARD_BootClockRUN();

	/* For U-Boot bootaux / attach mode: Linux reads the table from the rsc-table
	 * region; with remoteproc loading the ELF the same copy keeps both in step. */
	rsc_table_copy();

	/* Proves the tick source (about 1 ms), then the trace ring can stamp lines. */
	imx8mp_ticks_start();
	imx8mp_trace_start();
	opt.port[0].idle_gap_ticks =
		fw_char_ticks(board_tick_hz(), M7B_CAPTURE_BAUD, M7B_IDLE_GAP_CHARS);
	opt.port[0].delimiter = -1;
	opt.port[0].max_capture = M7B_DATA_BYTES_MAX;
	fw_init(&m7b_fw, &opt);
	{
		/* Which counter the timestamps come from, and why: LOG frames once the link
		 * is up (the core mirrors LOG lines into the trace ring). */
		char line[160];

		imx8mp_ticks_describe(line, sizeof(line), 0);
		fw_log(&m7b_fw, 6 /* LOG_INFO */, line);
		imx8mp_ticks_describe(line, sizeof(line), 1);
		fw_log(&m7b_fw, 6 /* LOG_INFO */, line);
	}

	if (xTaskCreate(bridge_task, "m7bridge", BRIDGE_TASK_STACK_WORDS, NULL,
			BRIDGE_TASK_PRIORITY, NULL) != pdPASS)
		imx8mp_halt();
	vTaskStartScheduler();
	imx8mp_halt(); /* only when the scheduler could not start */
}
