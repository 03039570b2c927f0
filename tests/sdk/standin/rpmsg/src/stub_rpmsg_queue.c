/* Stand-in for rpmsg-lite's rpmsg_queue.c. */
#include "rpmsg_queue.h"

rpmsg_queue_handle rpmsg_queue_create(struct rpmsg_lite_instance *rpmsg_lite_dev)
{
	(void)rpmsg_lite_dev;
	return RL_NULL;
}

int32_t rpmsg_queue_rx_cb(void *payload, uint32_t payload_len, uint32_t src, void *priv)
{
	(void)payload;
	(void)payload_len;
	(void)src;
	(void)priv;
	return RL_RELEASE;
}

int32_t rpmsg_queue_recv_nocopy(struct rpmsg_lite_instance *rpmsg_lite_dev, rpmsg_queue_handle q,
				uint32_t *src, char **data, uint32_t *len, uintptr_t timeout)
{
	(void)rpmsg_lite_dev;
	(void)q;
	(void)src;
	(void)data;
	(void)len;
	(void)timeout;
	return RL_ERR_PARAM;
}

int32_t rpmsg_queue_nocopy_free(struct rpmsg_lite_instance *rpmsg_lite_dev, void *data)
{
	(void)rpmsg_lite_dev;
	(void)data;
	return RL_ERR_PARAM;
}
