/* Stand-in for rpmsg-lite's i.MX8MP M7 platform: the MU through drivers/mu. */
#include "rpmsg_platform.h"
#include "rpmsg_env.h"
#include "fsl_device_registers.h"
#include "fsl_mu.h"

int32_t platform_init(void)
{
	MU_Init(MUB);
	NVIC_SetPriority(MU1_M7_IRQn, 3U);
	return 0;
}
