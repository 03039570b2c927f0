/* Stand-in for rpmsg-lite's name service API. */
#ifndef STANDIN_RPMSG_NS_H
#define STANDIN_RPMSG_NS_H
#include "rpmsg_lite.h"
#define RL_NS_CREATE  (0)
#define RL_NS_DESTROY (1)
int32_t rpmsg_ns_announce(struct rpmsg_lite_instance *rpmsg_lite_dev,
			  struct rpmsg_lite_endpoint *new_ept, const char *ept_name,
			  uint32_t flags);
#endif
