/* Start-up code and vector table of the QEMU mps2-an500 port: no vendor files, no libc crt0. */
#include <stdint.h>

#include "mps2_an500.h"
#include "qemu_board.h"

/* Linker script symbols. */
extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];

int main(void);
void Reset_Handler(void);
void HardFault_Handler(void);
void Default_Handler(void);

void Reset_Handler(void)
{
	/* The FPU must be on before any code built with -mfloat-abi=hard runs (CP10, CP11). */
	SCB_CPACR |= (0xFu << 20);
	__asm__ volatile("dsb\n\tisb" ::: "memory");

	/* Word copies by hand: memcpy itself may not be usable before .data/.bss exist. */
	for (uint32_t *src = _sidata, *dst = _sdata; dst < _edata;)
		*dst++ = *src++;
	for (uint32_t *dst = _sbss; dst < _ebss;)
		*dst++ = 0;

	SCB_VTOR = 0; /* the table below is linked at 0x0 */
	(void)main();
	qemu_board_fault(QEMU_FAULT_MAIN_RETURNED, 0, 0);
}

/* Fetches the stacked exception frame (the firmware runs on MSP only) and hands it over. */
__attribute__((naked)) void HardFault_Handler(void)
{
	__asm__ volatile("mrs r0, msp\n\t"
			 "b qemu_hardfault_c\n\t");
}

/* Called from HardFault_Handler with the stacked frame: r0-r3, r12, lr, pc, xpsr. */
void qemu_hardfault_c(const uint32_t *frame);
void qemu_hardfault_c(const uint32_t *frame)
{
	qemu_board_fault(QEMU_FAULT_HARD, frame[6], SCB_CFSR);
}

/* Any exception without its own handler: record which one, then the same safe state. */
void Default_Handler(void)
{
	uint32_t ipsr;

	__asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
	qemu_board_fault(QEMU_FAULT_UNEXPECTED_IRQ, ipsr & 0x1FFu, 0);
}

typedef void (*vector_fn)(void);

/* 16 system exceptions + the 32 interrupts QEMU gives the AN500 (num-irq 32). */
__attribute__((section(".vectors"), used)) static const vector_fn vectors[16 + 32] = {
	[0] = (vector_fn)(uintptr_t)_estack,
	[1] = Reset_Handler,
	[2] = Default_Handler, /* NMI (the CMSDK watchdog) */
	[3] = HardFault_Handler,
	[4] = HardFault_Handler, /* MemManage, BusFault, UsageFault are not enabled: */
	[5] = HardFault_Handler, /* they escalate to HardFault; listed for completeness */
	[6] = HardFault_Handler,
	[11] = Default_Handler, /* SVCall */
	[12] = Default_Handler, /* DebugMonitor */
	[14] = Default_Handler, /* PendSV */
	[15] = qemu_systick_isr,
	[16 + AN500_UART0_RX_IRQ] = qemu_uart0_rx_isr,
	[16 + AN500_UART0_TX_IRQ] = qemu_uart0_tx_isr,
	[16 + AN500_UART1_RX_IRQ] = qemu_uart1_rx_isr,
	[16 + AN500_UART1_TX_IRQ] = qemu_uart1_tx_isr,
	[16 + 4] = Default_Handler,
	[16 + 5] = Default_Handler,
	[16 + 6] = Default_Handler,
	[16 + 7] = Default_Handler,
	[16 + AN500_TIMER0_IRQ] = qemu_timer0_isr,
	[16 + 9] = Default_Handler,
	[16 + 10] = Default_Handler,
	[16 + 11] = Default_Handler,
	[16 + 12] = Default_Handler,
	[16 + 13] = Default_Handler,
	[16 + 14] = Default_Handler,
	[16 + 15] = Default_Handler,
	[16 + 16] = Default_Handler,
	[16 + 17] = Default_Handler,
	[16 + 18] = Default_Handler,
	[16 + 19] = Default_Handler,
	[16 + 20] = Default_Handler,
	[16 + 21] = Default_Handler,
	[16 + 22] = Default_Handler,
	[16 + 23] = Default_Handler,
	[16 + 24] = Default_Handler,
	[16 + 25] = Default_Handler,
	[16 + 26] = Default_Handler,
	[16 + 27] = Default_Handler,
	[16 + 28] = Default_Handler,
	[16 + 29] = Default_Handler,
	[16 + 30] = Default_Handler,
	[16 + 31] = Default_Handler,
};
