/* Stand-in for rpmsg-lite's FreeRTOS environment: uses the FreeRTOS heap as the real
 * one does, so the kernel headers are part of this chain too. */
#include "FreeRTOS.h"
#include "rpmsg_env.h"

int32_t env_init(void)
{
	return 0;
}

void *env_allocate_memory(uint32_t size)
{
	return pvPortMalloc(size);
}

void env_free_memory(void *ptr)
{
	vPortFree(ptr);
}
