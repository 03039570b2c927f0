/* Stand-in for the SDK's lite debug console header: the SDK_DEBUGCONSOLE choices
 * (0 toolchain printf, 1 the SDK's console, 2 disabled) and PRINTF. */
#ifndef STANDIN_FSL_DEBUG_CONSOLE_H
#define STANDIN_FSL_DEBUG_CONSOLE_H

#include "fsl_common.h"

#define DEBUGCONSOLE_REDIRECT_TO_TOOLCHAIN 0U
#define DEBUGCONSOLE_REDIRECT_TO_SDK	   1U
#define DEBUGCONSOLE_DISABLE		   2U

#ifndef SDK_DEBUGCONSOLE
#define SDK_DEBUGCONSOLE DEBUGCONSOLE_REDIRECT_TO_SDK
#endif

#if SDK_DEBUGCONSOLE == DEBUGCONSOLE_DISABLE
static inline int DbgConsole_Disabled(void)
{
	return -1;
}
#define PRINTF(...) DbgConsole_Disabled()
#elif SDK_DEBUGCONSOLE == DEBUGCONSOLE_REDIRECT_TO_SDK
int DbgConsole_Printf(const char *fmt, ...);
#define PRINTF DbgConsole_Printf
#else
#include <stdio.h>
#define PRINTF printf
#endif

#endif
