/* Stand-in for the SDK's fsl_common.c: nothing the port links against. */
#include "fsl_common.h"

int standin_common_present;
