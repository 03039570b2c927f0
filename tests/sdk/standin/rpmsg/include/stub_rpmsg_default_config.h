/* Stand-in for rpmsg-lite's default configuration: the application's rpmsg_config.h
 * first, then defaults for what it leaves out. */
#ifndef STANDIN_RPMSG_DEFAULT_CONFIG_H
#define STANDIN_RPMSG_DEFAULT_CONFIG_H
#include "rpmsg_config.h"
#ifndef RL_BUFFER_PAYLOAD_SIZE
#define RL_BUFFER_PAYLOAD_SIZE (496U)
#endif
#ifndef RL_BUFFER_COUNT
#define RL_BUFFER_COUNT (2U)
#endif
#ifndef RL_API_HAS_ZEROCOPY
#define RL_API_HAS_ZEROCOPY (1)
#endif
#ifndef RL_ASSERT
#define RL_ASSERT(x)                                                                               \
	do {                                                                                       \
		if (!(x))                                                                          \
			for (;;) {                                                                 \
			}                                                                          \
	} while (0)
#endif
#endif
