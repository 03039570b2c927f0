/* Faults and asserts of the i.MX8M Plus port: the core's board_fatal, the critical
 * section, hooks for rpmsg-lite's RL_ASSERT, FreeRTOS's configASSERT and the C
 * library's assert, and the HardFault handler. Nothing ends in a silent for(;;):
 * - asserts in task context (the core's, the SDK drivers', ours): a LOG frame, capture
 *   off, and the task keeps serving the link (HELLO/PING answered);
 * - rpmsg-lite or FreeRTOS asserts, asserts in interrupts, HardFault: the transport or
 *   the kernel cannot be trusted, so capture off and a halt in WFI with interrupts
 *   masked; Linux's next kick times out (err:-62), the daemon's cue to restart the M7
 *   through remoteproc. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "FreeRTOS.h"
#include "task.h"

#include "fsl_device_registers.h"

#include "board.h"
#include "fw.h"
#include "imx8mp_port.h"

/* HardFault_Handler replaces the SDK startup's weak default. */
void HardFault_Handler(void);
void __assert_func(const char *file, int line, const char *func, const char *expr);

/* Kept for a debugger: why and where the firmware halted. */
static volatile struct {
	const char *why;
	const char *file;
	int line;
	uint32_t cfsr, hfsr, pc;
} halt_record;

/* A fault record as one trace line (no stdio: this runs in fault handlers). */
#define FAULT_LINE_MAX 160u

/* Appends " name=0x........". */
static size_t put_reg(char *b, size_t at, const char *name, uint32_t v)
{
	at = imx8mp_put_str(b, at, FAULT_LINE_MAX, " ");
	at = imx8mp_put_str(b, at, FAULT_LINE_MAX, name);
	at = imx8mp_put_str(b, at, FAULT_LINE_MAX, "=");
	return imx8mp_put_hex(b, at, FAULT_LINE_MAX, v);
}

/* Level 2 (LOG_CRIT): the firmware is about to halt. */
static void trace_fatal(const char *why, const char *file, int line)
{
	char b[FAULT_LINE_MAX];
	size_t n = imx8mp_put_str(b, 0, sizeof(b), "FATAL ");

	n = imx8mp_put_str(b, n, sizeof(b), why);
	if (file != NULL) {
		n = imx8mp_put_str(b, n, sizeof(b), " ");
		n = imx8mp_put_str(b, n, sizeof(b), file);
		if (line > 0) {
			n = imx8mp_put_str(b, n, sizeof(b), ":");
			n = imx8mp_put_dec(b, n, sizeof(b), (uint32_t)line);
		}
	}
	board_trace(2, b, n);
}

uint32_t board_irq_save(void)
{
	uint32_t primask = __get_PRIMASK();

	__disable_irq();
	return primask;
}

void board_irq_restore(uint32_t state)
{
	__set_PRIMASK(state);
}

uint32_t board_boot_id(void)
{
	return imx8mp_boot_entropy();
}

/* SYS_CTR has counted at 8 MHz since power-on; when the M7 starts (boot loader timing,
 * Linux boot, a remoteproc restart) differs by far more than a tick from boot to boot. */
uint32_t imx8mp_boot_entropy(void)
{
	static uint32_t id;

	if (id == 0) {
		uint64_t t = board_ticks();
		uint32_t h = (uint32_t)t ^ (uint32_t)(t >> 32) ^ 0x6D376272u;

		h ^= h >> 16;
		h *= 0x85EBCA6Bu;
		h ^= h >> 13;
		h *= 0xC2B2AE35u;
		h ^= h >> 16;
		id = h != 0 ? h : 1u;
	}
	return id;
}

/* The core reported a fatal error (its LOG went out if the link allowed). Safe state
 * for the core's own asserts: capture off, the link stays up so HELLO and PING are
 * still answered and the host can read what happened. */
void board_fatal(const char *why)
{
	halt_record.why = why;
	imx8mp_uart_stop();
}

void imx8mp_halt(void)
{
	__disable_irq();
	imx8mp_uart_stop();
	for (;;) {
		/* With PRIMASK set a pending interrupt ends WFI but is not taken. */
		__DSB();
		__WFI();
	}
}

void imx8mp_assert_halt(const char *file, int line)
{
	trace_fatal("assert", file, line);
	halt_record.why = "assert";
	halt_record.file = file;
	halt_record.line = line;
	imx8mp_halt();
}

void imx8mp_assert(const char *file, int line)
{
	static bool asserting;

	/* From an interrupt, before the scheduler runs, or while already handling one,
	 * only the halt is safe. */
	if (asserting || __get_IPSR() != 0u || __get_PRIMASK() != 0u ||
	    xTaskGetSchedulerState() != taskSCHEDULER_RUNNING)
		imx8mp_assert_halt(file, line);
	asserting = true;
	halt_record.why = "assert";
	halt_record.file = file;
	halt_record.line = line;
	/* LOG frame (the core polls once), then board_fatal stops the capture. */
	fw_assert_failed(&m7b_fw, file, line);
	/* The defined safe state for the caller's task: it never returns to the code that
	 * failed, but keeps the link served, so the LOG still goes out if the link was
	 * busy and HELLO/PING are answered; the host decides when to restart the M7. */
	for (;;) {
		imx8mp_link_service(&m7b_fw, 1u);
		fw_poll(&m7b_fw);
	}
}

/* newlib's assert() and the SDK's assert() end here. */
void __assert_func(const char *file, int line, const char *func, const char *expr)
{
	(void)func;
	(void)expr;
	imx8mp_assert(file, line);
}

/* Registers stacked on exception entry: r0-r3, r12, lr, pc, xpsr. Called from the
 * naked handler below, hence external linkage. */
void imx8mp_hardfault(const uint32_t *frame);
void imx8mp_hardfault(const uint32_t *frame)
{
	char b[FAULT_LINE_MAX];
	size_t n = imx8mp_put_str(b, 0, sizeof(b), "FATAL hardfault");

	halt_record.why = "hard fault";
	halt_record.pc = frame[6];
	halt_record.cfsr = SCB->CFSR;
	halt_record.hfsr = SCB->HFSR;
	/* What a post-mortem needs: where (pc, lr), why (CFSR/HFSR) and, when valid, the
	 * faulting address (MMFAR/BFAR). Linux reads it from trace0 with the M7 halted. */
	n = put_reg(b, n, "pc", frame[6]);
	n = put_reg(b, n, "lr", frame[5]);
	n = put_reg(b, n, "psr", frame[7]);
	n = put_reg(b, n, "r0", frame[0]);
	n = put_reg(b, n, "r12", frame[4]);
	n = put_reg(b, n, "cfsr", SCB->CFSR);
	n = put_reg(b, n, "hfsr", SCB->HFSR);
	n = put_reg(b, n, "mmfar", SCB->MMFAR);
	n = put_reg(b, n, "bfar", SCB->BFAR);
	board_trace(2, b, n);
	imx8mp_halt();
}

__attribute__((naked)) void HardFault_Handler(void)
{
	__asm volatile("tst lr, #4\n\t"
		       "ite eq\n\t"
		       "mrseq r0, msp\n\t"
		       "mrsne r0, psp\n\t"
		       "b imx8mp_hardfault\n\t");
}

/* FreeRTOS hooks (configCHECK_FOR_STACK_OVERFLOW, configUSE_MALLOC_FAILED_HOOK). */
void vApplicationStackOverflowHook(TaskHandle_t task, char *name);
void vApplicationMallocFailedHook(void);

void vApplicationStackOverflowHook(TaskHandle_t task, char *name)
{
	(void)task;
	halt_record.why = "stack overflow";
	halt_record.file = name;
	trace_fatal("stack overflow in task", name, 0); /* no line: a task name */
	imx8mp_halt();
}

void vApplicationMallocFailedHook(void)
{
	/* Only rpmsg-lite allocates, at start-up: its set-up cannot complete. */
	halt_record.why = "out of heap";
	trace_fatal("out of heap", NULL, 0);
	imx8mp_halt();
}
