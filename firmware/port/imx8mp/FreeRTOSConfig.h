/* FreeRTOS configuration of the i.MX8M Plus port: one application task, the idle task
 * (WFI), 1 kHz tick. Interrupt priorities: see imx8mp_port.h. */
#ifndef FREERTOS_CONFIG_H
#define FREERTOS_CONFIG_H

#include <stdint.h>

extern uint32_t SystemCoreClock;

#define configUSE_PREEMPTION			1
#define configUSE_TICKLESS_IDLE			0
#define configCPU_CLOCK_HZ			(SystemCoreClock)
#define configTICK_RATE_HZ			((TickType_t)1000)
#define configMAX_PRIORITIES			5
#define configMINIMAL_STACK_SIZE		((unsigned short)128)
#define configMAX_TASK_NAME_LEN			16
#define configUSE_16_BIT_TICKS			0
#define configIDLE_SHOULD_YIELD			1
#define configUSE_TASK_NOTIFICATIONS		1
#define configUSE_MUTEXES			1
#define configUSE_RECURSIVE_MUTEXES		1
#define configUSE_COUNTING_SEMAPHORES		1
#define configQUEUE_REGISTRY_SIZE		0
#define configUSE_QUEUE_SETS			0
#define configUSE_TIME_SLICING			0
#define configUSE_NEWLIB_REENTRANT		0
#define configENABLE_BACKWARD_COMPATIBILITY	0
#define configNUM_THREAD_LOCAL_STORAGE_POINTERS 0
#define configUSE_PORT_OPTIMISED_TASK_SELECTION 1

/* rpmsg-lite's non-static API allocates its instance, virtqueues, endpoint and the
 * 256-entry receive queue from this heap (heap_4). */
#define configSUPPORT_STATIC_ALLOCATION	 0
#define configSUPPORT_DYNAMIC_ALLOCATION 1
#define configTOTAL_HEAP_SIZE		 ((size_t)(24 * 1024))
#define configAPPLICATION_ALLOCATED_HEAP 0

#define configUSE_IDLE_HOOK		   0
#define configUSE_TICK_HOOK		   0
#define configCHECK_FOR_STACK_OVERFLOW	   2
#define configUSE_MALLOC_FAILED_HOOK	   1
#define configUSE_DAEMON_TASK_STARTUP_HOOK 0

#define configGENERATE_RUN_TIME_STATS	     0
#define configUSE_TRACE_FACILITY	     0
#define configUSE_STATS_FORMATTING_FUNCTIONS 0
#define configUSE_CO_ROUTINES		     0
#define configMAX_CO_ROUTINE_PRIORITIES	     1
/* Timers: rpmsg-lite's FreeRTOS environment signals link-up with
 * xEventGroupSetBitsFromISR, which defers through the timer task. */
#define configUSE_TIMERS	     1
#define configTIMER_TASK_PRIORITY    (configMAX_PRIORITIES - 1)
#define configTIMER_QUEUE_LENGTH     10
#define configTIMER_TASK_STACK_DEPTH (configMINIMAL_STACK_SIZE * 2)

#define INCLUDE_vTaskPrioritySet	  0
#define INCLUDE_uxTaskPriorityGet	  0
#define INCLUDE_vTaskDelete		  0
#define INCLUDE_vTaskSuspend		  1
#define INCLUDE_vTaskDelayUntil		  0
#define INCLUDE_vTaskDelay		  1
#define INCLUDE_xTaskGetSchedulerState	  1
#define INCLUDE_xTaskGetCurrentTaskHandle 1
#define INCLUDE_xTimerPendFunctionCall	  1

/* The kernel's own checks: its state is broken, so record and halt (imx8mp_fault.c). */
void imx8mp_assert_halt(const char *file, int line) __attribute__((noreturn));
#define configASSERT(x)                                                                            \
	do {                                                                                       \
		if (!(x))                                                                          \
			imx8mp_assert_halt(__FILE__, __LINE__);                                    \
	} while (0)

/* Cortex-M7 with 4 NVIC priority bits (__NVIC_PRIO_BITS on the i.MX8MP M7). */
#ifdef __NVIC_PRIO_BITS
#define configPRIO_BITS __NVIC_PRIO_BITS
#else
#define configPRIO_BITS 4
#endif
#define configLIBRARY_LOWEST_INTERRUPT_PRIORITY ((1U << configPRIO_BITS) - 1U)
/* Interrupts that call FreeRTOS ...FromISR functions must have a priority number >= 2
 * (the MU at 3 does; the capture UART at 1 calls none). */
#define configLIBRARY_MAX_SYSCALL_INTERRUPT_PRIORITY 2
#define configKERNEL_INTERRUPT_PRIORITY                                                            \
	(configLIBRARY_LOWEST_INTERRUPT_PRIORITY << (8 - configPRIO_BITS))
#define configMAX_SYSCALL_INTERRUPT_PRIORITY                                                       \
	(configLIBRARY_MAX_SYSCALL_INTERRUPT_PRIORITY << (8 - configPRIO_BITS))

#define vPortSVCHandler	    SVC_Handler
#define xPortPendSVHandler  PendSV_Handler
#define xPortSysTickHandler SysTick_Handler

#endif
