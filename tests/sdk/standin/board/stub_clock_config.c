/* Stand-in for the SDK's EVK clock_config.c. */
#include "fsl_common.h"
#include "clock_config.h"
#include "fsl_audiomix.h"

void BOARD_BootClockRUN(void)
{
	AUDIOMIX_InitAudioPll(393216000U);
	SystemCoreClock = DEFAULT_SYSTEM_CLOCK;
}
