/* Stand-in peripheral header (the Messaging Unit), in the SDK 2.x device directory or the
 * 24.12+ periph/ directory. */
#ifndef STANDIN_PERI_MU_H
#define STANDIN_PERI_MU_H

#include <stdint.h>

typedef struct {
	__IO uint32_t TR[4];
	__I uint32_t RR[4];
	__IO uint32_t SR, CR;
} MU_Type;

#define MUB ((MU_Type *)0x30AB0000u)

#endif
