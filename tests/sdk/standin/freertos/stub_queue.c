/* Stand-in for the FreeRTOS kernel's queue.c. */
#include "FreeRTOS.h"

int standin_queue_present;
