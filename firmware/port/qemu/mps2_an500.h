/* Registers of QEMU's mps2-an500 (Cortex-M7) that the QEMU port uses, as QEMU models them
 * (hw/arm/mps2.c, hw/char/cmsdk-apb-uart.c, hw/timer/cmsdk-apb-timer.c). */
#ifndef M7FW_MPS2_AN500_H
#define M7FW_MPS2_AN500_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* SYSCLK feeds the UARTs, TIMER0/1 and (as the processor clock) SysTick. */
#define AN500_SYSCLK_HZ 25000000u

/* CMSDK APB UART: UART0 0x40004000 (RX IRQ 0, TX IRQ 1), UART1 0x40005000 (RX 2, TX 3);
 * the overrun interrupts of UART0..2 are ORed onto IRQ 12. */
#define AN500_UART0_BASE   0x40004000u
#define AN500_UART1_BASE   0x40005000u
#define AN500_UART0_RX_IRQ 0
#define AN500_UART0_TX_IRQ 1
#define AN500_UART1_RX_IRQ 2
#define AN500_UART1_TX_IRQ 3
#define AN500_UART_OVF_IRQ 12

#define UART_DATA(b)	  REG32((b) + 0x00u)
#define UART_STATE(b)	  REG32((b) + 0x04u)
#define UART_CTRL(b)	  REG32((b) + 0x08u)
#define UART_INTSTATUS(b) REG32((b) + 0x0Cu) /* read: status; write 1: clear */
#define UART_BAUDDIV(b)	  REG32((b) + 0x10u) /* >= 16, pclk / baud */

#define UART_STATE_TXFULL 0x01u
#define UART_STATE_RXFULL 0x02u
#define UART_STATE_TXOVR  0x04u
#define UART_STATE_RXOVR  0x08u
#define UART_CTRL_TXEN	  0x01u
#define UART_CTRL_RXEN	  0x02u
#define UART_CTRL_TXIE	  0x04u
#define UART_CTRL_RXIE	  0x08u
#define UART_CTRL_TXOIE	  0x10u
#define UART_CTRL_RXOIE	  0x20u
#define UART_INT_TX	  0x01u
#define UART_INT_RX	  0x02u
#define UART_INT_TXO	  0x04u
#define UART_INT_RXO	  0x08u

/* CMSDK APB timer: TIMER0 0x40000000 (IRQ 8), a 32-bit down-counter at SYSCLK that reloads
 * from RELOAD after reaching 0 (period RELOAD + 1) and flags INTSTATUS on each wrap. */
#define AN500_TIMER0_BASE  0x40000000u
#define AN500_TIMER0_IRQ   8
#define TIMER_CTRL(b)	   REG32((b) + 0x00u)
#define TIMER_VALUE(b)	   REG32((b) + 0x04u)
#define TIMER_RELOAD(b)	   REG32((b) + 0x08u)
#define TIMER_INTSTATUS(b) REG32((b) + 0x0Cu)
#define TIMER_CTRL_EN	   0x01u
#define TIMER_CTRL_IRQEN   0x08u

/* Cortex-M7 system control space (ARMv7-M ARM). */
#define SYST_CSR	   REG32(0xE000E010u)
#define SYST_RVR	   REG32(0xE000E014u)
#define SYST_CVR	   REG32(0xE000E018u)
#define SYST_CSR_ENABLE	   0x1u
#define SYST_CSR_TICKINT   0x2u
#define SYST_CSR_CLKSOURCE 0x4u /* processor clock */

#define NVIC_ISER(n)	   REG32(0xE000E100u + 4u * (n))
#define NVIC_ICER(n)	   REG32(0xE000E180u + 4u * (n))
#define NVIC_ISPR(n)	   REG32(0xE000E200u + 4u * (n))
#define NVIC_ICPR(n)	   REG32(0xE000E280u + 4u * (n))
#define NVIC_IPR_BYTE(irq) (*(volatile uint8_t *)(uintptr_t)(0xE000E400u + (irq)))

#define SCB_VTOR	REG32(0xE000ED08u)
#define SCB_AIRCR	REG32(0xE000ED0Cu)
#define SCB_SHPR3	REG32(0xE000ED20u) /* byte 3: SysTick priority */
#define SCB_CFSR	REG32(0xE000ED28u)
#define SCB_HFSR	REG32(0xE000ED2Cu)
#define SCB_CPACR	REG32(0xE000ED88u)
#define SCB_AIRCR_RESET (0x05FA0000u | 0x4u) /* VECTKEY | SYSRESETREQ */

static inline void nvic_enable(unsigned irq)
{
	NVIC_ISER(irq / 32u) = 1u << (irq % 32u);
}

static inline void nvic_disable(unsigned irq)
{
	NVIC_ICER(irq / 32u) = 1u << (irq % 32u);
	__asm__ volatile("dsb\n\tisb" ::: "memory");
}

static inline void nvic_set_priority(unsigned irq, uint8_t prio)
{
	NVIC_IPR_BYTE(irq) = prio;
}

#endif
