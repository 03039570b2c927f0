/* Stand-in for the SDK's system header: the core clock variable and SystemInit. */
#ifndef STANDIN_SYSTEM_MIMX8ML8_CM7_H
#define STANDIN_SYSTEM_MIMX8ML8_CM7_H
#include <stdint.h>
#define DEFAULT_SYSTEM_CLOCK 800000000u
extern uint32_t SystemCoreClock;
void SystemInit(void);
#endif
