/* Stand-in for the SDK's MIMX8ML8 Cortex-M7 device header: the interrupt numbers and
 * the few peripheral registers the m7bridge port touches (i.MX8MP reference manual). */
#ifndef STANDIN_MIMX8ML8_CM7_H
#define STANDIN_MIMX8ML8_CM7_H

#include <stdint.h>

typedef enum IRQn {
	HardFault_IRQn = -13,
	SVCall_IRQn = -5,
	PendSV_IRQn = -2,
	SysTick_IRQn = -1,
	UART1_IRQn = 26,
	UART2_IRQn = 27,
	UART3_IRQn = 28,
	UART4_IRQn = 29,
	GPT1_IRQn = 55,
	GPT2_IRQn = 54,
	MU1_M7_IRQn = 97,
} IRQn_Type;

#define __NVIC_PRIO_BITS 4

#include "core_cm7.h"
#include "system_MIMX8ML8_cm7.h"

/* Peripheral blocks: in their own headers, as the 24.12+ SDKs have them. */
#include "PERI_GPT.h"
#include "PERI_MU.h"
#include "PERI_UART.h"

#include "MIMX8ML8_cm7_features.h"

#endif
