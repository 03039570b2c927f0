/* Pads of the captured UART. The EVK routes UART4 to its UART4_RXD/UART4_TXD pads; other
 * boards or instances give their own BOARD_InitCapturePins in a file named by the CMake
 * variable M7B_CAPTURE_PINS_C (which defines M7B_CAPTURE_PINS_EXTERNAL). */
#include "fsl_common.h"
#include "fsl_iomuxc.h"

#include "imx8mp_port.h"
#include "pin_mux.h"

#ifndef M7B_CAPTURE_PINS_EXTERNAL
#if M7B_CAPTURE_UART != 4
#error "no pad table for this UART: give -DM7B_CAPTURE_PINS_C=FILE with BOARD_InitCapturePins"
#endif

void BOARD_InitCapturePins(void)
{
	IOMUXC_SetPinMux(IOMUXC_UART4_RXD_UART4_RX, 0U);
	IOMUXC_SetPinConfig(IOMUXC_UART4_RXD_UART4_RX,
			    IOMUXC_SW_PAD_CTL_PAD_PUE_MASK | IOMUXC_SW_PAD_CTL_PAD_PE_MASK);
	IOMUXC_SetPinMux(IOMUXC_UART4_TXD_UART4_TX, 0U);
	IOMUXC_SetPinConfig(IOMUXC_UART4_TXD_UART4_TX,
			    IOMUXC_SW_PAD_CTL_PAD_PUE_MASK | IOMUXC_SW_PAD_CTL_PAD_PE_MASK);
}
#endif
