/* Stand-in for the SDK's EVK clock_config.h. */
#ifndef STANDIN_CLOCK_CONFIG_H
#define STANDIN_CLOCK_CONFIG_H
void BOARD_BootClockRUN(void);
#endif
