/* Stand-in for rpmsg-lite's FreeRTOS environment specifics. */
#ifndef STANDIN_RPMSG_ENV_SPECIFIC_H
#define STANDIN_RPMSG_ENV_SPECIFIC_H
#include <stdint.h>
typedef void *rpmsg_queue_rx_handle;
#endif
