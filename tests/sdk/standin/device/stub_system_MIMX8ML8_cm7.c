/* Stand-in for the SDK's system file. */
#include "fsl_device_registers.h"

uint32_t SystemCoreClock = DEFAULT_SYSTEM_CLOCK;

void SystemInit(void)
{
}
