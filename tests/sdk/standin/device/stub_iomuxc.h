/* Stand-in for the i.MX8MP IOMUXC helpers: the UART4 pads and the two set-up calls.
 * A pad macro expands to mux register, mux mode, input register, input daisy, config
 * register (addresses from the i.MX8MP reference manual). */
#ifndef STANDIN_FSL_IOMUXC_H
#define STANDIN_FSL_IOMUXC_H

#include "fsl_common.h"

#define IOMUXC_UART4_RXD_UART4_RX 0x30330240u, 0x0u, 0x30330600u, 0x2u, 0x303304A0u
#define IOMUXC_UART4_TXD_UART4_TX 0x30330244u, 0x0u, 0x00000000u, 0x0u, 0x303304A4u

#define IOMUXC_SW_PAD_CTL_PAD_PUE_MASK (1U << 6)
#define IOMUXC_SW_PAD_CTL_PAD_PE_MASK  (1U << 8)

static inline void IOMUXC_SetPinMux(uint32_t muxRegister, uint32_t muxMode, uint32_t inputRegister,
				    uint32_t inputDaisy, uint32_t configRegister,
				    uint32_t inputOnfield)
{
	(void)configRegister;
	*(volatile uint32_t *)(uintptr_t)muxRegister = muxMode | (inputOnfield << 4);
	if (inputRegister != 0U)
		*(volatile uint32_t *)(uintptr_t)inputRegister = inputDaisy;
}

static inline void IOMUXC_SetPinConfig(uint32_t muxRegister, uint32_t muxMode,
				       uint32_t inputRegister, uint32_t inputDaisy,
				       uint32_t configRegister, uint32_t configValue)
{
	(void)muxRegister;
	(void)muxMode;
	(void)inputRegister;
	(void)inputDaisy;
	*(volatile uint32_t *)(uintptr_t)configRegister = configValue;
}

#endif
