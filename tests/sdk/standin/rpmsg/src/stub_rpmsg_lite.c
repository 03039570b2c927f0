/* Stand-in for rpmsg-lite's rpmsg_lite.c: links, never runs (every call fails). */
#include "rpmsg_lite.h"

struct rpmsg_lite_instance *rpmsg_lite_remote_init(void *shmem_addr, uint32_t link_id,
						   uint32_t init_flags)
{
	(void)shmem_addr;
	(void)link_id;
	(void)init_flags;
	env_print("stand-in rpmsg-lite\r\n");
	return RL_NULL;
}

uint32_t rpmsg_lite_is_link_up(struct rpmsg_lite_instance *rpmsg_lite_dev)
{
	return rpmsg_lite_dev != RL_NULL ? RL_TRUE : RL_FALSE;
}

struct rpmsg_lite_endpoint *rpmsg_lite_create_ept(struct rpmsg_lite_instance *rpmsg_lite_dev,
						  uint32_t addr, rl_ept_rx_cb_t rx_cb,
						  void *rx_cb_data)
{
	(void)rpmsg_lite_dev;
	(void)addr;
	(void)rx_cb;
	(void)rx_cb_data;
	return RL_NULL;
}

void *rpmsg_lite_alloc_tx_buffer(struct rpmsg_lite_instance *rpmsg_lite_dev, uint32_t *size,
				 uintptr_t timeout)
{
	(void)rpmsg_lite_dev;
	(void)timeout;
	*size = 0;
	return RL_NULL;
}

int32_t rpmsg_lite_send_nocopy(struct rpmsg_lite_instance *rpmsg_lite_dev,
			       struct rpmsg_lite_endpoint *ept, uint32_t dst, void *data,
			       uint32_t size)
{
	(void)rpmsg_lite_dev;
	(void)ept;
	(void)dst;
	(void)data;
	(void)size;
	return RL_ERR_PARAM;
}
