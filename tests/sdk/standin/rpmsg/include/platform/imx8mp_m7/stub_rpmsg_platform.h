/* Stand-in for rpmsg-lite's i.MX8MP M7 platform header. */
#ifndef STANDIN_RPMSG_PLATFORM_H
#define STANDIN_RPMSG_PLATFORM_H
#include <stdint.h>
#define RL_PLATFORM_IMX8MP_M7_LINK_ID	   (0U)
#define RL_PLATFORM_IMX8MP_M7_USER_LINK_ID (0U)
int32_t platform_init(void);
#endif
