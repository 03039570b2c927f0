/* Stand-in for the FreeRTOS kernel's event_groups.c. */
#include "FreeRTOS.h"

int standin_event_groups_present;
