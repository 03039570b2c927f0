/* Stand-in for the SDK's GPT driver (drivers/gpt): what the port's tick source calls. */
#ifndef STANDIN_FSL_GPT_H
#define STANDIN_FSL_GPT_H

#include "fsl_common.h"

typedef enum {
	kGPT_ClockSource_Off = 0,
	kGPT_ClockSource_Periph = 1,
	kGPT_ClockSource_HighFreq = 2,
	kGPT_ClockSource_Ext = 3,
	kGPT_ClockSource_LowFreq = 4,
	kGPT_ClockSource_Osc = 5,
} gpt_clock_source_t;

typedef struct {
	gpt_clock_source_t clockSource;
	uint32_t divider;
	bool enableFreeRun;
	bool enableRunInWait;
	bool enableRunInStop;
	bool enableRunInDoze;
	bool enableRunInDbg;
	bool enableMode;
} gpt_config_t;

void GPT_GetDefaultConfig(gpt_config_t *config);
void GPT_Init(GPT_Type *base, const gpt_config_t *config);
void GPT_SetOscClockDivider(GPT_Type *base, uint32_t divider);

static inline void GPT_StartTimer(GPT_Type *base)
{
	base->CR |= 1U;
}

static inline uint32_t GPT_GetCurrentTimerCount(GPT_Type *base)
{
	return base->CNT;
}

#endif
