/* Stand-in for CMSIS core_cm7.h: only the core registers and intrinsics the m7bridge
 * i.MX8MP port uses, declared from the ARMv7-M architecture manual. */
#ifndef STANDIN_CORE_CM7_H
#define STANDIN_CORE_CM7_H

#include <stdint.h>

#define __CM7_REV  0x0101U
#define __CORTEX_M 7U
#define __I	   volatile const
#define __O	   volatile
#define __IO	   volatile

typedef struct {
	__IO uint32_t ISER[8];
	uint32_t r0[24];
	__IO uint32_t ICER[8];
	uint32_t r1[88];
	__IO uint8_t IP[240];
} NVIC_Type;

typedef struct {
	__I uint32_t CPUID;
	__IO uint32_t ICSR, VTOR, AIRCR, SCR, CCR;
	__IO uint8_t SHPR[12];
	__IO uint32_t SHCSR, CFSR, HFSR, DFSR, MMFAR, BFAR, AFSR;
} SCB_Type;

typedef struct {
	__IO uint32_t DHCSR, DCRSR, DCRDR, DEMCR;
} CoreDebug_Type;

typedef struct {
	__IO uint32_t CTRL, CYCCNT;
} DWT_Type;

#define NVIC	  ((NVIC_Type *)0xE000E100UL)
#define SCB	  ((SCB_Type *)0xE000ED00UL)
#define CoreDebug ((CoreDebug_Type *)0xE000EDF0UL)
#define DWT	  ((DWT_Type *)0xE0001000UL)

#define CoreDebug_DEMCR_TRCENA_Msk (1UL << 24)
#define DWT_CTRL_CYCCNTENA_Msk	   (1UL << 0)

static inline uint32_t __get_IPSR(void)
{
	uint32_t r;
	__asm volatile("mrs %0, ipsr" : "=r"(r));
	return r;
}

static inline uint32_t __get_PRIMASK(void)
{
	uint32_t r;
	__asm volatile("mrs %0, primask" : "=r"(r));
	return r;
}

static inline void __set_PRIMASK(uint32_t v)
{
	__asm volatile("msr primask, %0" : : "r"(v) : "memory");
}

static inline void __disable_irq(void)
{
	__asm volatile("cpsid i" : : : "memory");
}

static inline void __enable_irq(void)
{
	__asm volatile("cpsie i" : : : "memory");
}

static inline void __DSB(void)
{
	__asm volatile("dsb 0xF" : : : "memory");
}

static inline void __DMB(void)
{
	__asm volatile("dmb 0xF" : : : "memory");
}

static inline void __WFI(void)
{
	__asm volatile("wfi");
}

static inline void NVIC_EnableIRQ(IRQn_Type irq)
{
	NVIC->ISER[(uint32_t)irq >> 5] = 1UL << ((uint32_t)irq & 31U);
}

static inline void NVIC_DisableIRQ(IRQn_Type irq)
{
	NVIC->ICER[(uint32_t)irq >> 5] = 1UL << ((uint32_t)irq & 31U);
}

static inline void NVIC_SetPriority(IRQn_Type irq, uint32_t prio)
{
	NVIC->IP[(uint32_t)irq] = (uint8_t)(prio << (8U - __NVIC_PRIO_BITS));
}

#endif
