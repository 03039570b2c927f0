/* Stand-in for the newer SDKs' split-off fsl_common_arm.c. */
#include "fsl_common.h"

int standin_common_arm_present;
