/* Stand-in for the SDK's EVK board.c: includes the debug console header as the real one
 * does, and the SDK's board.h (never the core's). */
#include "fsl_common.h"
#include "fsl_debug_console.h"
#include "fsl_rdc.h"
#include "fsl_iomuxc.h"
#include "pin_mux.h"
#include "board.h"

#ifndef STANDIN_SDK_BOARD_H_IS_THE_SDK_ONE
#error "board.c found the wrong board.h"
#endif

void BOARD_InitMemory(void)
{
	/* The real one sets up the MPU: DDR and the rpmsg memory non-cacheable. */
	SCB->CCR |= 0U;
}

void BOARD_RdcInit(void)
{
	(void)RDC_GetCurrentMasterDomainId();
}

void BOARD_InitDebugConsole(void)
{
	(void)PRINTF("stand-in\r\n");
}
