/* Stand-in peripheral header (the i.MX UART registers the port touches), in the SDK 2.x device directory or the
 * 24.12+ periph/ directory. */
#ifndef STANDIN_PERI_UART_H
#define STANDIN_PERI_UART_H

#include <stdint.h>

/* The i.MX "UART" block (not an LPUART). */
typedef struct {
	__I uint32_t URXD;
	uint32_t r0[15];
	__O uint32_t UTXD;
	uint32_t r1[15];
	__IO uint32_t UCR1, UCR2, UCR3, UCR4, UFCR, USR1, USR2, UESC, UTIM, UBIR, UBMR;
	__I uint32_t UBRC;
	__IO uint32_t ONEMS, UTS, UMCR;
} UART_Type;

#define UART_URXD_RX_DATA_MASK 0xFFU
#define UART_URXD_PRERR_MASK   (1U << 10)
#define UART_URXD_BRK_MASK     (1U << 11)
#define UART_URXD_FRMERR_MASK  (1U << 12)
#define UART_URXD_OVRRUN_MASK  (1U << 13)
#define UART_UCR1_TRDYEN_MASK  (1U << 13)
#define UART_USR2_RDR_MASK     (1U << 0)
#define UART_USR2_ORE_MASK     (1U << 1)
#define UART_UTS_TXFULL_MASK   (1U << 4)

#define UART1 ((UART_Type *)0x30860000u)
#define UART2 ((UART_Type *)0x30890000u)
#define UART3 ((UART_Type *)0x30880000u)
#define UART4 ((UART_Type *)0x30A60000u)

#endif
