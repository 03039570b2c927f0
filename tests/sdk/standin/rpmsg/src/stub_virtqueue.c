/* Stand-in for rpmsg-lite's virtqueue.c. */
#include "rpmsg_env.h"
#include "virtqueue.h"

uint32_t virtqueue_standin_count(void)
{
	return RL_BUFFER_COUNT;
}
