/* Stand-in for the SDK's fsl_common.h: status codes and the device registers. */
#ifndef STANDIN_FSL_COMMON_H
#define STANDIN_FSL_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fsl_device_registers.h"

typedef int32_t status_t;

enum {
	kStatus_Success = 0,
	kStatus_Fail = 1,
	kStatus_InvalidArgument = 4,
};

#endif
