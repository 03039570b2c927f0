/* Stand-in for rpmsg-lite's rpmsg_ns.c. */
#include "rpmsg_ns.h"

int32_t rpmsg_ns_announce(struct rpmsg_lite_instance *rpmsg_lite_dev,
			  struct rpmsg_lite_endpoint *new_ept, const char *ept_name, uint32_t flags)
{
	(void)rpmsg_lite_dev;
	(void)new_ept;
	(void)ept_name;
	(void)flags;
	return RL_ERR_PARAM;
}
