/* Stand-in for rpmsg-lite's queue API. */
#ifndef STANDIN_RPMSG_QUEUE_H
#define STANDIN_RPMSG_QUEUE_H
#include "rpmsg_lite.h"
typedef void *rpmsg_queue_handle;
rpmsg_queue_handle rpmsg_queue_create(struct rpmsg_lite_instance *rpmsg_lite_dev);
int32_t rpmsg_queue_rx_cb(void *payload, uint32_t payload_len, uint32_t src, void *priv);
int32_t rpmsg_queue_recv_nocopy(struct rpmsg_lite_instance *rpmsg_lite_dev, rpmsg_queue_handle q,
				uint32_t *src, char **data, uint32_t *len, uintptr_t timeout);
int32_t rpmsg_queue_nocopy_free(struct rpmsg_lite_instance *rpmsg_lite_dev, void *data);
#endif
