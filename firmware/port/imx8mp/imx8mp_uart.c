/* The captured UART of the i.MX8M Plus port (the SoC's "UART" IP, SDK driver fsl_uart):
 * every received byte goes to the core from the interrupt with its SYS_CTR/GPT tick;
 * SEND bytes leave through a ring drained by the transmit-ready interrupt. Implements
 * board_uart_tx and board_uart_set_baud. */
#include <stdbool.h>
#include <stdint.h>

#include "fsl_clock.h"
#include "fsl_device_registers.h"
#include "fsl_uart.h"

#include "board.h"
#include "fw.h"
#include "imx8mp_port.h"
#include "pin_mux.h"

#if M7B_CAPTURE_UART < 1 || M7B_CAPTURE_UART > 4
#error "M7B_CAPTURE_UART must be 1..4"
#endif

/* Names built from the instance number; pasted in one step, since UARTn itself is a
 * macro (the peripheral pointer) that must not expand before _IRQn is appended. */
#define CAT_(a, b)	a##b
#define CAT(a, b)	CAT_(a, b)
#define CAT3_(a, b, c)	a##b##c
#define CAT3(a, b, c)	CAT3_(a, b, c)
#define CAP_UART	CAT(UART, M7B_CAPTURE_UART)
#define CAP_IRQN	CAT3(UART, M7B_CAPTURE_UART, _IRQn)
#define CAP_IRQ_HANDLER CAT3(UART, M7B_CAPTURE_UART, _IRQHandler)
#define CAP_CLOCK_ROOT	CAT(kCLOCK_RootUart, M7B_CAPTURE_UART)

#define TX_RING_SIZE 1024u /* a power of two */

/* The vector table (SDK startup) names the handler; no other code uses this UART. */
void CAP_IRQ_HANDLER(void);

static struct {
	volatile uint32_t tx_head; /* written by board_uart_tx (task) */
	volatile uint32_t tx_tail; /* written by the interrupt */
	uint8_t tx[TX_RING_SIZE];
	uint32_t clock_hz;
	volatile bool running;
	volatile bool overrun; /* the FIFO overflowed: flag the next byte */
} cap;

/* The UART's functional clock: SYSTEM_PLL1 / 10 = 80 MHz, as the EVK's debug UART. */
static uint32_t cap_clock_setup(void)
{
	CLOCK_SetRootMux(CAP_CLOCK_ROOT, kCLOCK_UartRootmuxSysPll1Div10);
	CLOCK_SetRootDivider(CAP_CLOCK_ROOT, 1U, 1U);
	return CLOCK_GetPllFreq(kCLOCK_SystemPll1Ctrl) / CLOCK_GetRootPreDivider(CAP_CLOCK_ROOT) /
	       CLOCK_GetRootPostDivider(CAP_CLOCK_ROOT) / 10U;
}

int imx8mp_uart_start(void)
{
	uart_config_t cfg;

	BOARD_InitCapturePins();
	cap.clock_hz = cap_clock_setup();
	UART_GetDefaultConfig(&cfg);
	cfg.baudRate_Bps = M7B_CAPTURE_BAUD;
	cfg.rxFifoWatermark = 1; /* interrupt on every byte: its timestamp is taken at once */
	cfg.enableTx = true;
	cfg.enableRx = true;
	if (UART_Init(CAP_UART, &cfg, cap.clock_hz) != kStatus_Success)
		return -1;
	cap.running = true;
	UART_EnableInterrupts(CAP_UART, kUART_RxDataReadyEnable | kUART_RxOverrunEnable);
	NVIC_SetPriority(CAP_IRQN, M7B_PRIO_CAPTURE_UART);
	NVIC_EnableIRQ(CAP_IRQN);
	return 0;
}

void imx8mp_uart_stop(void)
{
	NVIC_DisableIRQ(CAP_IRQN);
	cap.running = false;
	UART_DisableInterrupts(CAP_UART, kUART_AllInterruptsEnable);
	UART_EnableRx(CAP_UART, false);
	cap.tx_tail = cap.tx_head; /* drop what SEND had queued; the TX line idles */
}

int board_uart_tx(unsigned port, const uint8_t *buf, size_t n)
{
	uint32_t head = cap.tx_head;
	uint32_t room = TX_RING_SIZE - (head - cap.tx_tail);
	uint32_t take = n < room ? (uint32_t)n : room;

	if (port != 0)
		return -1;
	if (!cap.running)
		return 0;
	for (uint32_t i = 0; i < take; i++)
		cap.tx[(head + i) & (TX_RING_SIZE - 1u)] = buf[i];
	__DMB(); /* bytes before the index that publishes them */
	cap.tx_head = head + take;
	if (take > 0) {
		/* UCR1 is also written by the interrupt: a read-modify-write needs it masked. */
		uint32_t s = board_irq_save();
		UART_EnableInterrupts(CAP_UART, kUART_TxReadyEnable);
		board_irq_restore(s);
	}
	return (int)take;
}

int board_uart_set_baud(unsigned port, uint32_t baud)
{
	if (port != 0 || baud == 0 || !cap.running)
		return -1;
	return UART_SetBaudRate(CAP_UART, baud, cap.clock_hz) == kStatus_Success ? 0 : -1;
}

void CAP_IRQ_HANDLER(void)
{
	UART_Type *u = CAP_UART;

	if ((u->USR2 & UART_USR2_ORE_MASK) != 0u) {
		u->USR2 = UART_USR2_ORE_MASK; /* write 1 to clear */
		cap.overrun = true;
	}
	/* URXD carries each byte with its own error bits. */
	while ((u->USR2 & UART_USR2_RDR_MASK) != 0u) {
		uint64_t tick = board_ticks();
		uint32_t v = u->URXD;
		uint32_t err = 0;

		if (cap.overrun || (v & UART_URXD_OVRRUN_MASK) != 0u) {
			err |= FW_RX_OVERRUN;
			cap.overrun = false;
		}
		if ((v & (UART_URXD_FRMERR_MASK | UART_URXD_PRERR_MASK | UART_URXD_BRK_MASK)) != 0u)
			err |= FW_RX_LINE_ERROR;
		fw_uart_rx_isr(&m7b_fw, 0, (uint8_t)(v & UART_URXD_RX_DATA_MASK), err, tick);
	}
	if ((u->UCR1 & UART_UCR1_TRDYEN_MASK) != 0u) {
		uint32_t tail = cap.tx_tail;

		while (tail != cap.tx_head && (u->UTS & UART_UTS_TXFULL_MASK) == 0u)
			u->UTXD = cap.tx[tail++ & (TX_RING_SIZE - 1u)];
		cap.tx_tail = tail;
		if (tail == cap.tx_head)
			u->UCR1 &= ~UART_UCR1_TRDYEN_MASK; /* nothing left: stop asking */
	}
	/* Cortex-M7: let the flag writes land before the exception returns (SDK practice). */
	__DSB();
}
