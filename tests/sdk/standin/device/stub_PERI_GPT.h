/* Stand-in peripheral header (GPT), in the SDK 2.x device directory or the
 * 24.12+ periph/ directory. */
#ifndef STANDIN_PERI_GPT_H
#define STANDIN_PERI_GPT_H

#include <stdint.h>

typedef struct {
	__IO uint32_t CR, PR, SR, IR, OCR[3], ICR[2];
	__I uint32_t CNT;
} GPT_Type;

#define GPT1 ((GPT_Type *)0x302D0000u)
#define GPT2 ((GPT_Type *)0x302E0000u)
#define GPT3 ((GPT_Type *)0x302F0000u)

#endif
