/* Stand-in for the FreeRTOS kernel's tasks.c: links, schedules nothing. */
#include "FreeRTOS.h"
#include "task.h"

static BaseType_t scheduler_state = taskSCHEDULER_NOT_STARTED;

BaseType_t xTaskCreate(TaskFunction_t pxTaskCode, const char *const pcName,
		       const configSTACK_DEPTH_TYPE uxStackDepth, void *const pvParameters,
		       UBaseType_t uxPriority, TaskHandle_t *const pxCreatedTask)
{
	(void)pxTaskCode;
	(void)pcName;
	(void)uxStackDepth;
	(void)pvParameters;
	(void)uxPriority;
	if (pxCreatedTask != NULL)
		*pxCreatedTask = NULL;
	return pdFAIL;
}

void vTaskDelay(const TickType_t xTicksToDelay)
{
	(void)xTicksToDelay;
}

void vTaskStartScheduler(void)
{
	scheduler_state = taskSCHEDULER_RUNNING;
}

BaseType_t xTaskGetSchedulerState(void)
{
	return scheduler_state;
}
