/* Stand-in for the FreeRTOS kernel's task.h. */
#ifndef STANDIN_TASK_H
#define STANDIN_TASK_H
#include "FreeRTOS.h"

#define tskIDLE_PRIORITY	  ((UBaseType_t)0U)
#define taskSCHEDULER_SUSPENDED	  ((BaseType_t)0)
#define taskSCHEDULER_NOT_STARTED ((BaseType_t)1)
#define taskSCHEDULER_RUNNING	  ((BaseType_t)2)

struct tskTaskControlBlock;
typedef struct tskTaskControlBlock *TaskHandle_t;
typedef void (*TaskFunction_t)(void *);

BaseType_t xTaskCreate(TaskFunction_t pxTaskCode, const char *const pcName,
		       const configSTACK_DEPTH_TYPE uxStackDepth, void *const pvParameters,
		       UBaseType_t uxPriority, TaskHandle_t *const pxCreatedTask);
void vTaskDelay(const TickType_t xTicksToDelay);
void vTaskStartScheduler(void);
BaseType_t xTaskGetSchedulerState(void);
#endif
