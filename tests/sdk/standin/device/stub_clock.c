/* Stand-in for the i.MX8MP clock driver. */
#include "fsl_clock.h"

#define ROOT(r) (*(volatile uint32_t *)(uintptr_t)(r))

void CLOCK_SetRootMux(clock_root_control_t rootClk, uint32_t mux)
{
	ROOT(rootClk) = (ROOT(rootClk) & ~(7U << 24)) | ((mux & 7U) << 24);
}

void CLOCK_SetRootDivider(clock_root_control_t rootClk, uint32_t pre, uint32_t post)
{
	ROOT(rootClk) =
		(ROOT(rootClk) & ~0x7003FU) | (((pre - 1U) & 7U) << 16) | ((post - 1U) & 0x3FU);
}

uint32_t CLOCK_GetRootPreDivider(clock_root_control_t rootClk)
{
	return ((ROOT(rootClk) >> 16) & 7U) + 1U;
}

uint32_t CLOCK_GetRootPostDivider(clock_root_control_t rootClk)
{
	return (ROOT(rootClk) & 0x3FU) + 1U;
}

uint32_t CLOCK_GetPllFreq(clock_pll_ctrl_t pll)
{
	(void)pll;
	return 800000000U;
}
