/* Stand-in for the FreeRTOS GCC Cortex-M port: the handlers FreeRTOSConfig.h maps onto
 * the vector table's names. */
#include "FreeRTOS.h"
#include "task.h"

void vPortSVCHandler(void);
void xPortPendSVHandler(void);
void xPortSysTickHandler(void);

void vPortSVCHandler(void)
{
}

void xPortPendSVHandler(void)
{
}

void xPortSysTickHandler(void)
{
}
