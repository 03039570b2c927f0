/* Decoy: the Kinetis UART driver's place (drivers/uart/fsl_uart.c). The i.MX8MP has the
 * i.MX UART (drivers/iuart); a build that picks this file has chosen by name, not folder. */
#error "m7bridge stand-in SDK: drivers/uart/fsl_uart.c is the Kinetis UART driver; the i.MX8MP needs drivers/iuart"
