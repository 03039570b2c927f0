/* Pin set-up of the i.MX8M Plus port. The SDK's board.c includes this name too. */
#ifndef M7FW_PIN_MUX_H
#define M7FW_PIN_MUX_H

/* Routes the captured UART's RX/TX pads (M7B_CAPTURE_UART) to the UART. */
void BOARD_InitCapturePins(void);

#endif
