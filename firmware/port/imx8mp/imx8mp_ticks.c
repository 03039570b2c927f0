/* Ticks of the i.MX8M Plus port (implements board_ticks, board_tick_hz). Default: the
 * system counter SYS_CTR, 8 MHz, the counter Linux's arm64 arch timer reads
 * (CNTVCT_EL0), so M7 timestamps relate to Linux time without a clock model. Build
 * option M7B_TICK_GPT=1: a GPT at 24 MHz, extended to 64 bits in software. */
#include <stdint.h>

#include "fsl_device_registers.h"

#include "board.h"
#include "imx8mp_port.h"

#if !M7B_TICK_GPT

/* SYS_CTR read frame (i.MX8MP RM, "System Counter"): CNTCV_LO/HI, a 56-bit count. */
#define SYSCTR_RD_BASE	0x306A0000u
#define SYSCTR_CNTCV_LO (*(volatile uint32_t *)(uintptr_t)(SYSCTR_RD_BASE + 0x08u))
#define SYSCTR_CNTCV_HI (*(volatile uint32_t *)(uintptr_t)(SYSCTR_RD_BASE + 0x0Cu))
#define SYSCTR_HZ	8000000u

void imx8mp_ticks_start(void)
{
	/* Running since power-on (Linux and the boot loader depend on it): nothing to do. */
}

uint64_t board_ticks(void)
{
	uint32_t hi, lo, hi2;

	/* hi-lo-hi: a carry between the two halves shows as a changed high word. */
	do {
		hi = SYSCTR_CNTCV_HI;
		lo = SYSCTR_CNTCV_LO;
		hi2 = SYSCTR_CNTCV_HI;
	} while (hi != hi2);
	return ((uint64_t)hi << 32) | lo;
}

uint32_t board_tick_hz(void)
{
	return SYSCTR_HZ;
}

#else /* M7B_TICK_GPT */

#include "fsl_gpt.h"

#define CAT_(a, b) a##b
#define CAT(a, b)  CAT_(a, b)
#define TICK_GPT   CAT(GPT, M7B_GPT_INSTANCE)
#define GPT_HZ	   24000000u

static uint32_t gpt_hi;	  /* wraps seen */
static uint32_t gpt_last; /* last 32-bit count seen */

void imx8mp_ticks_start(void)
{
	gpt_config_t cfg;

	GPT_GetDefaultConfig(&cfg);
	cfg.clockSource = kGPT_ClockSource_Osc; /* the 24 MHz crystal, undivided */
	cfg.divider = 1U;
	cfg.enableFreeRun = true;
	cfg.enableRunInWait = true;
	cfg.enableRunInStop = true;
	GPT_Init(TICK_GPT, &cfg);
	GPT_SetOscClockDivider(TICK_GPT, 1U);
	GPT_StartTimer(TICK_GPT);
}

/* A wrap shows as the count going backwards; the bridge task calls this at least every
 * millisecond, far more often than the 179 s wrap period. */
uint64_t board_ticks(void)
{
	uint32_t s = board_irq_save();
	uint32_t now = GPT_GetCurrentTimerCount(TICK_GPT);

	if (now < gpt_last)
		gpt_hi++;
	gpt_last = now;
	uint64_t t = ((uint64_t)gpt_hi << 32) | now;
	board_irq_restore(s);
	return t;
}

uint32_t board_tick_hz(void)
{
	return GPT_HZ;
}

#endif
