/* Internal interface of the QEMU mps2-an500 port between start-up, board glue and main. */
#ifndef M7FW_QEMU_BOARD_H
#define M7FW_QEMU_BOARD_H

#include <stdbool.h>
#include <stdint.h>

struct fw;

/* The trace ring (docs/FIRMWARE.md, "Trace ring") sits at this fixed address. */
#define QEMU_TRACE_ADDR 0x203FE000u
#define QEMU_TRACE_SIZE 4096u
/* Bytes of no-init RAM handed to the core for its persist record. */
#define QEMU_PERSIST_SIZE 128u

/* Why the previous run ended, kept across the reset in .noinit and reported at the next boot. */
enum qemu_fault_kind {
	QEMU_FAULT_NONE = 0,
	QEMU_FAULT_HARD = 1,	       /* HardFault (and escalated faults); arg = stacked pc */
	QEMU_FAULT_UNEXPECTED_IRQ = 2, /* exception without a handler; arg = exception number */
	QEMU_FAULT_MAIN_RETURNED = 3,
};

/* Short name of a fault kind for the LOG frame. */
const char *qemu_fault_kind_to_string(enum qemu_fault_kind kind);

/* Sets up clocks, UARTs and the tick counter; interrupts stay off. */
void qemu_board_init(struct fw *fw);
/* Enables the interrupts that feed the core; call after fw_init. */
void qemu_board_start(void);
/* Moves bytes received on the link (UART0) into the core. Task context. */
void qemu_board_link_drain(struct fw *fw);
/* Sleeps until the next interrupt unless received link bytes are waiting. */
void qemu_board_idle(void);
/* Sends a LOG about the previous run's fault, if it ended in one (after fw_link_up). */
void qemu_board_report_last_fault(struct fw *fw);
/* Records a fault and resets the machine; never returns. */
__attribute__((noreturn)) void qemu_board_fault(enum qemu_fault_kind kind, uint32_t arg,
						uint32_t cfsr);

/* Interrupt handlers (vector table in startup.c). */
void qemu_uart0_rx_isr(void);
void qemu_uart0_tx_isr(void);
void qemu_uart1_rx_isr(void);
void qemu_uart1_tx_isr(void);
void qemu_timer0_isr(void);
void qemu_systick_isr(void);

#endif
