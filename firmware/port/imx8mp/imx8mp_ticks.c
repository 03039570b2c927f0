/* Ticks of the i.MX8M Plus port (implements board_ticks, board_tick_hz, board_tick_info).
 * Wanted: the system counter SYS_CTR at 8 MHz, the counter Linux's arm64 arch timer reads
 * (CNTVCT_EL0), so M7 timestamps relate to Linux time without a clock model. Sources
 * disagree on where the M7 reads it (the SDK's device header puts the count at +0x0/+0x4
 * of the read frame 0x306A0000 and at +0x8/+0xC of the control frame 0x306C0000), and
 * nobody here has tried it on silicon, so the boot proves it: each candidate is measured
 * against the DWT cycle counter at the known core clock (or the GPT when DWT does not
 * count) and the first one running at its nominal rate wins; else a GPT at 24 MHz. */
#include <stddef.h>
#include <stdint.h>

#include "fsl_device_registers.h"
#include "fsl_gpt.h"

#include "board.h"
#include "fw_ticksrc.h"
#include "imx8mp_port.h"

#define SYSCTR_READ_BASE 0x306A0000u /* SDK: SYS_CTR_READ, CNTCV0/1 at +0x0/+0x4 */
#define SYSCTR_CTRL_BASE 0x306C0000u /* SDK: SYS_CTR_CONTROL, CNTCV0/1 at +0x8/+0xC */
#define SYSCTR_HZ	 8000000u
#define SYSCTR_BITS	 56u

#define CAT_(a, b) a##b
#define CAT(a, b)  CAT_(a, b)
#define TICK_GPT   CAT(GPT, M7B_GPT_INSTANCE)
#define GPT_HZ	   24000000u

/* Measuring window: 1 ms of the reference. Bounded by a loop count too, so a reference
 * that does not count cannot hang the boot. */
#define WINDOW_DIVISOR 1000u
#define WINDOW_SPINS   4000000u

/* sysctr-lnx: the read frame at +0x8/+0xC, where Linux's timer-imx-sysctr reads
 * (its base is 0x306A0000); reserved there per the SDK header, but cheap to try. */
enum cand { C_SYSCTR_READ, C_SYSCTR_CTRL, C_SYSCTR_LINUX, C_GPT, NCAND };

static struct {
	enum cand chosen;
	int verified; /* the chosen source ran at its nominal rate in the boot check */
	struct fw_ticksrc_cand c[NCAND];
	const char *ref_name;
	uint32_t gpt_hi;   /* GPT wraps seen */
	uint32_t gpt_last; /* last 32-bit GPT count seen */
} ts;

/* hi-lo-hi: a carry between the two halves shows as a changed high word. */
static uint64_t sysctr_read(uint32_t lo_addr)
{
	volatile const uint32_t *lo = (volatile const uint32_t *)(uintptr_t)lo_addr;
	volatile const uint32_t *hi = lo + 1;
	uint32_t h, l, h2;

	do {
		h = *hi;
		l = *lo;
		h2 = *hi;
	} while (h != h2);
	return ((uint64_t)h << 32) | l;
}

static uint64_t cand_read(enum cand c)
{
	switch (c) {
	case C_SYSCTR_READ:
		return sysctr_read(SYSCTR_READ_BASE + 0x0u);
	case C_SYSCTR_CTRL:
		return sysctr_read(SYSCTR_CTRL_BASE + 0x8u);
	case C_SYSCTR_LINUX:
		return sysctr_read(SYSCTR_READ_BASE + 0x8u);
	case C_GPT:
	case NCAND:
		break;
	}
	return GPT_GetCurrentTimerCount(TICK_GPT);
}

static void gpt_start(void)
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

/* The cycle counter: needs TRCENA in DEMCR; the M7's DWT also has a lock. */
static void dwt_start(void)
{
	CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
	/* DWT lock access register (ARMv7-M, 0xE0001FB0): CMSIS 6 no longer names it. */
	*(volatile uint32_t *)(uintptr_t)0xE0001FB0u = 0xC5ACCE55u;
	DWT->CYCCNT = 0;
	DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
}

static void cand_init(struct fw_ticksrc_cand *c, const char *name, enum board_tick_source src,
		      uint32_t hz, uint8_t bits)
{
	c->name = name;
	c->source = src;
	c->nominal_hz = hz;
	c->sampled = 1;
	c->r.bits = bits;
}

void imx8mp_ticks_start(void)
{
	struct fw_ticksrc_reading dwt = {.bits = 32}, gref = {.bits = 32};
	uint32_t ref_cycles = SystemCoreClock / WINDOW_DIVISOR;
	uint32_t s;
	int pick;

	gpt_start();
	dwt_start();
	cand_init(&ts.c[C_SYSCTR_READ], "sysctr-rd", BOARD_TICK_SYSCTR, SYSCTR_HZ, SYSCTR_BITS);
	cand_init(&ts.c[C_SYSCTR_CTRL], "sysctr-ctl", BOARD_TICK_SYSCTR, SYSCTR_HZ, SYSCTR_BITS);
	cand_init(&ts.c[C_SYSCTR_LINUX], "sysctr-lnx", BOARD_TICK_SYSCTR, SYSCTR_HZ, SYSCTR_BITS);
	cand_init(&ts.c[C_GPT], "gpt", BOARD_TICK_GPT, GPT_HZ, 32);

	/* One window for all: interrupts off so every pair of readings spans the same
	 * stretch of the reference. */
	s = board_irq_save();
	dwt.start = DWT->CYCCNT;
	for (int i = 0; i < NCAND; i++)
		ts.c[i].r.start = cand_read((enum cand)i);
	gref.start = ts.c[C_GPT].r.start;
	for (uint32_t spin = 0; spin < WINDOW_SPINS; spin++) {
		if ((uint32_t)(DWT->CYCCNT - (uint32_t)dwt.start) >= ref_cycles ||
		    (uint32_t)(GPT_GetCurrentTimerCount(TICK_GPT) - (uint32_t)gref.start) >=
			    GPT_HZ / WINDOW_DIVISOR)
			break;
	}
	for (int i = 0; i < NCAND; i++)
		ts.c[i].r.end = cand_read((enum cand)i);
	dwt.end = DWT->CYCCNT;
	board_irq_restore(s);
	gref.end = ts.c[C_GPT].r.end;

	/* The build's preference first: SYS_CTR (read frame, control frame, Linux's
	 * offsets), then GPT; or the GPT first. */
	struct fw_ticksrc_cand order[NCAND];
	static const enum cand pref_sysctr[NCAND] = {C_SYSCTR_READ, C_SYSCTR_CTRL, C_SYSCTR_LINUX,
						     C_GPT};
	static const enum cand pref_gpt[NCAND] = {C_GPT, C_SYSCTR_READ, C_SYSCTR_CTRL,
						  C_SYSCTR_LINUX};
	const enum cand *idx = M7B_TICK_GPT ? pref_gpt : pref_sysctr;
	for (int i = 0; i < NCAND; i++)
		order[i] = ts.c[idx[i]];
	ts.ref_name = "dwt";
	pick = fw_ticksrc_pick(order, NCAND, &dwt, SystemCoreClock, FW_TICKSRC_TOL_PPM);
	if (pick == FW_TICKSRC_NO_REF) {
		/* DWT does not count (no TRCENA, a debugger holds it): judge SYS_CTR by the
		 * GPT, which is then taken on trust. */
		ts.ref_name = "gpt";
		pick = fw_ticksrc_pick(order, NCAND, &gref, GPT_HZ, FW_TICKSRC_TOL_PPM);
		for (int i = 0; i < NCAND; i++) {
			if (idx[i] == C_GPT) {
				order[i].verdict = FW_TICKSRC_UNTESTED; /* measured by itself */
				order[i].measured_hz = 0;
			}
		}
	}
	for (int i = 0; i < NCAND; i++)
		ts.c[idx[i]] = order[i];
	ts.verified = pick >= 0 && ts.c[idx[pick]].verdict == FW_TICKSRC_OK;
	/* Nothing proved (stuck reference and stuck counters): the GPT, flagged. */
	ts.chosen = pick >= 0 ? idx[pick] : C_GPT;
	ts.gpt_last = (uint32_t)cand_read(C_GPT);
}

/* Two LOG lines (each within the core's 120-byte LOG text), e.g.
 *   "tick source sysctr-rd 8000000 Hz (checked against dwt)"
 *   "tick check: sysctr-rd ok 8000000, sysctr-ctl ok 8000000, sysctr-lnx stuck, gpt ok 24000000"
 * stdio's formatter would cost more than the rest of this file. */
void imx8mp_ticks_describe(char *buf, size_t cap, int details)
{
	const struct fw_ticksrc_cand *c = ts.c;
	size_t at = 0;

	if (!details) {
		at = imx8mp_put_str(buf, at, cap, "tick source ");
		at = imx8mp_put_str(buf, at, cap, c[ts.chosen].name);
		at = imx8mp_put_str(buf, at, cap, ts.verified ? " " : " UNVERIFIED ");
		at = imx8mp_put_dec(buf, at, cap, c[ts.chosen].measured_hz);
		at = imx8mp_put_str(buf, at, cap, " Hz (checked against ");
		at = imx8mp_put_str(buf, at, cap, ts.ref_name);
		(void)imx8mp_put_str(buf, at, cap, ")");
		return;
	}
	at = imx8mp_put_str(buf, at, cap, "tick check:");
	for (int i = 0; i < NCAND; i++) {
		at = imx8mp_put_str(buf, at, cap, i == 0 ? " " : ", ");
		at = imx8mp_put_str(buf, at, cap, c[i].name);
		at = imx8mp_put_str(buf, at, cap, " ");
		at = imx8mp_put_str(buf, at, cap, fw_ticksrc_verdict_to_string(c[i].verdict));
		if (c[i].measured_hz != 0u) {
			at = imx8mp_put_str(buf, at, cap, " ");
			at = imx8mp_put_dec(buf, at, cap, c[i].measured_hz);
		}
	}
}

void board_tick_info(enum board_tick_source *src, uint32_t *measured_hz)
{
	/* An unproven GPT is still what runs; a measured rate of 0 says it is unproven. */
	*src = ts.c[ts.chosen].source;
	*measured_hz = ts.verified ? ts.c[ts.chosen].measured_hz : 0u;
}

uint64_t board_ticks(void)
{
	uint32_t s, now;
	uint64_t t;

	if (ts.chosen != C_GPT)
		return cand_read(ts.chosen); /* SYS_CTR: 56 bits, no software state */
	/* GPT: a wrap shows as the count going backwards; the bridge task calls this at
	 * least every millisecond, far more often than the 179 s wrap period. */
	s = board_irq_save();
	now = GPT_GetCurrentTimerCount(TICK_GPT);
	if (now < ts.gpt_last)
		ts.gpt_hi++;
	ts.gpt_last = now;
	t = ((uint64_t)ts.gpt_hi << 32) | now;
	board_irq_restore(s);
	return t;
}

uint32_t board_tick_hz(void)
{
	return ts.c[ts.chosen].nominal_hz;
}
