/* Stand-in for the FreeRTOS kernel's stream_buffer.c. */
#include "FreeRTOS.h"

int standin_stream_buffer_present;
