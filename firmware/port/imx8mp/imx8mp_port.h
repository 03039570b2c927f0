/* Internal interface of the i.MX8M Plus port: build-time choices and what main, the
 * link, the capture UART, the tick source and the fault handling share. */
#ifndef M7FW_IMX8MP_PORT_H
#define M7FW_IMX8MP_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fw;

/* --- Build-time configuration (CMake passes -D; these are the EVK defaults) --- */

/* Captured UART: the i.MX8MP "UART" IP (fsl_uart / iuart driver), instance 1..4.
 * UART4 is the M7's UART on the EVK. */
#ifndef M7B_CAPTURE_UART
#define M7B_CAPTURE_UART 4
#endif
#ifndef M7B_CAPTURE_BAUD
#define M7B_CAPTURE_BAUD 115200u
#endif
/* Silence that ends a capture, in character times at the configured baud. */
#ifndef M7B_IDLE_GAP_CHARS
#define M7B_IDLE_GAP_CHARS 10u
#endif
#ifndef M7B_HEARTBEAT_MS
#define M7B_HEARTBEAT_MS 1000u
#endif
/* Tick source preferred: 0 = SYS_CTR (8 MHz, Linux's arch timer counter), 1 = a GPT at
 * 24 MHz. Either way the boot check (imx8mp_ticks.c) falls back when it does not count. */
#ifndef M7B_TICK_GPT
#define M7B_TICK_GPT 0
#endif
#ifndef M7B_GPT_INSTANCE
#define M7B_GPT_INSTANCE 2 /* GPT1 is often Linux's */
#endif
/* RPMSG: our endpoint (NXP's imx_rpmsg_tty names the node ttyRPMSG<addr>) and the name
 * that driver binds to (mainline's rpmsg_tty binds "rpmsg-tty" instead). */
#ifndef M7B_LOCAL_EPT_ADDR
#define M7B_LOCAL_EPT_ADDR 30u
#endif
#ifndef M7B_NS_NAME
#define M7B_NS_NAME "rpmsg-virtual-tty-channel-1"
#endif
/* Shared memory of the i.MX8MP EVK device tree (imx8mp-evk-rpmsg.dts): the vrings of
 * vdev0 and the region U-Boot/Linux read the resource table from. */
#ifndef M7B_VDEV0_VRING_BASE
#define M7B_VDEV0_VRING_BASE 0x55000000u
#endif
#ifndef M7B_RSC_TABLE_ADDR
#define M7B_RSC_TABLE_ADDR 0x550FF000u
#endif

/* Bytes of the trace ring that remoteproc shows as trace0 (RSC_TRACE), and of the
 * no-init RAM the core may keep a record in across an M7 reset. */
#ifndef M7B_TRACE_SIZE
#define M7B_TRACE_SIZE 4096u
#endif
#ifndef M7B_PERSIST_SIZE
#define M7B_PERSIST_SIZE 512u
#endif
/* Also copy the resource table to the vring base, where older NXP kernels look. */
#ifndef M7B_RSC_COPY_LEGACY
#define M7B_RSC_COPY_LEGACY 1
#endif

/* NVIC priorities (4 bits on the i.MX8MP M7; lower = more urgent). FreeRTOSConfig.h sets
 * configLIBRARY_MAX_SYSCALL_INTERRUPT_PRIORITY to 2: interrupts numerically below it
 * never call FreeRTOS and are never masked by the kernel's critical sections.
 *  1  capture UART: calls only the core's lock-free fw_uart_rx_isr, so its timestamps
 *     are not delayed by kernel critical sections;
 *  3  MU1_M7 (rpmsg-lite's platform sets APP_MU_IRQ_PRIORITY 3): its callback queues
 *     with xQueueSendFromISR, so it must not be below 2;
 * 15  SysTick/PendSV (kernel). */
#define M7B_PRIO_CAPTURE_UART 1u

/* --- main.c --- */
/* The one core instance (owned by the bridge task; the capture ISR feeds it). */
extern struct fw m7b_fw;

/* --- imx8mp_link.c: rpmsg-lite remote --- */
/* rpmsg_lite_remote_init, link up, queue, endpoint, name service. Task context.
 * Returns 0 or -1 (the caller enters the safe state). */
int imx8mp_link_start(void);
/* The rpmsg channel name announced (the .m7b_ns_name section, M7B_NS_NAME by default). */
const char *imx8mp_link_ns_name(void);
/* Waits up to timeout_ms for messages from Linux and passes them to the core; learns
 * (and re-learns) Linux's address from them and raises fw_link_up. Task context. */
void imx8mp_link_service(struct fw *fw, uint32_t timeout_ms);

/* --- imx8mp_uart.c: the captured UART --- */
/* Clocks, pins and the UART; enables its receive interrupt. */
int imx8mp_uart_start(void);
/* Stops capture and transmission (safe state); callable from any context. */
void imx8mp_uart_stop(void);

/* --- imx8mp_ticks.c --- */
/* Starts the GPT, then measures SYS_CTR (three places) and the GPT against
 * the DWT cycle counter (or the GPT when DWT does not count) and picks the first that
 * runs at its nominal rate. Call with the core clock set, before fw_init. */
void imx8mp_ticks_start(void);
/* For the LOG lines at boot: the chosen source and its measured rate (details 0), or
 * each candidate's verdict and rate (details 1); NUL-terminated, cut to cap. */
void imx8mp_ticks_describe(char *buf, size_t cap, int details);

/* --- imx8mp_trace.c --- */
/* The trace ring's buffer (the resource table's RSC_TRACE entry points at it). */
extern char imx8mp_trace_buf[M7B_TRACE_SIZE];
/* Starts the ring; before it, board_trace drops lines. */
void imx8mp_trace_start(void);
/* Text for trace and LOG lines without stdio (fault handlers use them too): each
 * appends to buf at `at`, keeps buf NUL-terminated within cap, returns the new length. */
size_t imx8mp_put_str(char *buf, size_t at, size_t cap, const char *s);
/* Appends v in decimal. */
size_t imx8mp_put_dec(char *buf, size_t at, size_t cap, uint32_t v);
/* Appends v as 0x and eight hex digits. */
size_t imx8mp_put_hex(char *buf, size_t at, size_t cap, uint32_t v);

/* --- imx8mp_fault.c --- */
/* Assertion in task context (the C library's assert, the port's): LOG frame, capture
 * off, then the calling task only serves the link. Falls back to imx8mp_assert_halt
 * in interrupts. Never returns. */
__attribute__((noreturn)) void imx8mp_assert(const char *file, int line);
/* Assertion inside rpmsg-lite or FreeRTOS (RL_ASSERT, configASSERT): their state is
 * broken, so no LOG; records where and halts. Never returns. */
__attribute__((noreturn)) void imx8mp_assert_halt(const char *file, int line);
/* The safe state: capture off, interrupts masked, the core halted in WFI. Linux then
 * sees kick timeouts (imx_rproc_kick ... err:-62), the daemon's cue to restart the M7. */
__attribute__((noreturn)) void imx8mp_halt(void);
/* A number that differs per boot. */
uint32_t imx8mp_boot_entropy(void);

#endif
