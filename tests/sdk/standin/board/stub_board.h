/* Stand-in for the SDK's EVK board.h (the name the core's board interface shares: it
 * must never be found by the port's own sources). */
#ifndef STANDIN_SDK_BOARD_H
#define STANDIN_SDK_BOARD_H
#include "clock_config.h"
#include "fsl_clock.h"
#define BOARD_NAME			   "MIMX8MP-EVK"
#define STANDIN_SDK_BOARD_H_IS_THE_SDK_ONE 1
void BOARD_InitMemory(void);
void BOARD_RdcInit(void);
void BOARD_InitDebugConsole(void);
#endif
