/* Stand-in for the SDK's fsl_device_registers.h: picks the device header by CPU_ macro. */
#ifndef STANDIN_FSL_DEVICE_REGISTERS_H
#define STANDIN_FSL_DEVICE_REGISTERS_H
#if defined(CPU_MIMX8ML8DVNLZ_cm7)
#include "MIMX8ML8_cm7.h"
#else
#error "no CPU_MIMX8ML8..._cm7 defined (the SDK needs it too)"
#endif
#endif
