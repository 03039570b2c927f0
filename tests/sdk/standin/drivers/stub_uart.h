/* Stand-in for the SDK's i.MX UART driver (drivers/iuart): the calls the port makes. */
#ifndef STANDIN_FSL_UART_H
#define STANDIN_FSL_UART_H

#include "fsl_common.h"

enum _uart_interrupt_enable {
	kUART_RxDataReadyEnable = 1U << 0,
	kUART_RxOverrunEnable = 1U << 1,
	kUART_TxReadyEnable = 1U << 2,
	kUART_AllInterruptsEnable = 0x7U,
};

typedef struct {
	uint32_t baudRate_Bps;
	uint8_t rxFifoWatermark;
	uint8_t txFifoWatermark;
	bool enableTx;
	bool enableRx;
} uart_config_t;

void UART_GetDefaultConfig(uart_config_t *config);
status_t UART_Init(UART_Type *base, const uart_config_t *config, uint32_t srcClock_Hz);
status_t UART_SetBaudRate(UART_Type *base, uint32_t baudRate_Bps, uint32_t srcClock_Hz);
void UART_EnableInterrupts(UART_Type *base, uint32_t mask);
void UART_DisableInterrupts(UART_Type *base, uint32_t mask);
void UART_EnableRx(UART_Type *base, bool enable);

#endif
