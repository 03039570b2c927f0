/* Stand-in for the SDK's i.MX UART driver (drivers/iuart/fsl_uart.c). */
#include "fsl_uart.h"

void UART_GetDefaultConfig(uart_config_t *config)
{
	config->baudRate_Bps = 115200U;
	config->rxFifoWatermark = 1;
	config->txFifoWatermark = 2;
	config->enableTx = false;
	config->enableRx = false;
}

status_t UART_Init(UART_Type *base, const uart_config_t *config, uint32_t srcClock_Hz)
{
	(void)base;
	return config->baudRate_Bps != 0U && srcClock_Hz != 0U ? kStatus_Success
							       : kStatus_InvalidArgument;
}

status_t UART_SetBaudRate(UART_Type *base, uint32_t baudRate_Bps, uint32_t srcClock_Hz)
{
	(void)base;
	return baudRate_Bps != 0U && srcClock_Hz != 0U ? kStatus_Success : kStatus_InvalidArgument;
}

void UART_EnableInterrupts(UART_Type *base, uint32_t mask)
{
	base->UCR1 |= mask;
}

void UART_DisableInterrupts(UART_Type *base, uint32_t mask)
{
	base->UCR1 &= ~mask;
}

void UART_EnableRx(UART_Type *base, bool enable)
{
	base->UCR2 = enable ? (base->UCR2 | 2U) : (base->UCR2 & ~2U);
}
