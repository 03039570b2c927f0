/* Stand-in for the SDK's GPT driver (drivers/gpt/fsl_gpt.c). */
#include "fsl_gpt.h"

void GPT_GetDefaultConfig(gpt_config_t *config)
{
	config->clockSource = kGPT_ClockSource_Periph;
	config->divider = 1U;
	config->enableFreeRun = false;
	config->enableRunInWait = true;
	config->enableRunInStop = true;
	config->enableRunInDoze = false;
	config->enableRunInDbg = false;
	config->enableMode = true;
}

void GPT_Init(GPT_Type *base, const gpt_config_t *config)
{
	base->CR = ((uint32_t)config->clockSource << 6) | (config->enableFreeRun ? 1U << 9 : 0U);
	base->PR = config->divider - 1U;
}

void GPT_SetOscClockDivider(GPT_Type *base, uint32_t divider)
{
	base->PR = (base->PR & 0xFFFU) | ((divider - 1U) << 12);
}
