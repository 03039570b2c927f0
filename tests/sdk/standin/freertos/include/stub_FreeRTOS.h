/* Stand-in for the FreeRTOS kernel's FreeRTOS.h: the application's FreeRTOSConfig.h,
 * the port's types and the few kernel declarations the m7bridge port uses. */
#ifndef STANDIN_FREERTOS_H
#define STANDIN_FREERTOS_H
#include <stddef.h>
#include <stdint.h>
#include "portmacro.h"
#include "FreeRTOSConfig.h"

#define pdFALSE ((BaseType_t)0)
#define pdTRUE	((BaseType_t)1)
#define pdPASS	(pdTRUE)
#define pdFAIL	(pdFALSE)
#define pdMS_TO_TICKS(ms)                                                                          \
	((TickType_t)(((TickType_t)(ms) * (TickType_t)configTICK_RATE_HZ) / (TickType_t)1000U))

#ifndef configSTACK_DEPTH_TYPE
#define configSTACK_DEPTH_TYPE uint16_t
#endif

void *pvPortMalloc(size_t xSize);
void vPortFree(void *pv);
#endif
