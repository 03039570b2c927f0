/* Stand-in for the FreeRTOS kernel's list.c. */
#include "FreeRTOS.h"

int standin_list_present;
