/* Stand-in for the i.MX8MP clock driver (the device's own drivers/fsl_clock.h). */
#ifndef STANDIN_FSL_CLOCK_H
#define STANDIN_FSL_CLOCK_H

#include "fsl_common.h"

typedef enum {
	kCLOCK_RootUart1 = 0x30388000u + 94u * 0x80u,
	kCLOCK_RootUart2 = 0x30388000u + 95u * 0x80u,
	kCLOCK_RootUart3 = 0x30388000u + 96u * 0x80u,
	kCLOCK_RootUart4 = 0x30388000u + 97u * 0x80u,
} clock_root_control_t;

typedef enum {
	kCLOCK_UartRootmuxOsc24M = 0,
	kCLOCK_UartRootmuxSysPll1Div10 = 1,
} clock_rootmux_uart_clk_sel_t;

typedef enum {
	kCLOCK_SystemPll1Ctrl = 0x30360094u,
} clock_pll_ctrl_t;

void CLOCK_SetRootMux(clock_root_control_t rootClk, uint32_t mux);
void CLOCK_SetRootDivider(clock_root_control_t rootClk, uint32_t pre, uint32_t post);
uint32_t CLOCK_GetRootPreDivider(clock_root_control_t rootClk);
uint32_t CLOCK_GetRootPostDivider(clock_root_control_t rootClk);
uint32_t CLOCK_GetPllFreq(clock_pll_ctrl_t pll);

#endif
