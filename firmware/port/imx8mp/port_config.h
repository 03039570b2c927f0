/* Core sizes for the i.MX8M Plus port (named by -DFW_PORT_CONFIG, read by fw_config.h). */
#ifndef M7FW_IMX8MP_PORT_CONFIG_H
#define M7FW_IMX8MP_PORT_CONFIG_H

/* One captured UART. */
#define FW_MAX_PORTS 1
/* 4 KiB of capture ring: ~350 ms of 115200 baud while Linux is not reading. */
#define FW_RX_RING_SIZE 4096u

#endif
