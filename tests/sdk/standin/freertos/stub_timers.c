/* Stand-in for the FreeRTOS kernel's timers.c. */
#include "FreeRTOS.h"

int standin_timers_present;
