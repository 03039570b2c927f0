/* Stand-in for rpmsg-lite's public API: the calls and constants the m7bridge port uses,
 * with the signatures of rpmsg-lite v5 (non-static API). */
#ifndef STANDIN_RPMSG_LITE_H
#define STANDIN_RPMSG_LITE_H
#include <stddef.h>
#include <stdint.h>
#include "rpmsg_compiler.h"
#include "virtqueue.h"
#include "rpmsg_env.h"
#include "llist.h"
#include "rpmsg_default_config.h"

#define RL_SUCCESS     (0)
#define RL_NULL	       ((void *)0)
#define RL_FALSE       (0UL)
#define RL_TRUE	       (1UL)
#define RL_DONT_BLOCK  (0)
#define RL_BLOCK       (0xFFFFFFFFU)
#define RL_NO_FLAGS    (0U)
#define RL_RELEASE     (0)
#define RL_HOLD	       (1)
#define RL_ERRORS_BASE (-5000)
#define RL_ERR_PARAM   (RL_ERRORS_BASE - 2)

struct rpmsg_lite_instance;
struct rpmsg_lite_endpoint;
typedef int32_t (*rl_ept_rx_cb_t)(void *payload, uint32_t payload_len, uint32_t src, void *priv);

struct rpmsg_lite_instance *rpmsg_lite_remote_init(void *shmem_addr, uint32_t link_id,
						   uint32_t init_flags);
uint32_t rpmsg_lite_is_link_up(struct rpmsg_lite_instance *rpmsg_lite_dev);
struct rpmsg_lite_endpoint *rpmsg_lite_create_ept(struct rpmsg_lite_instance *rpmsg_lite_dev,
						  uint32_t addr, rl_ept_rx_cb_t rx_cb,
						  void *rx_cb_data);
void *rpmsg_lite_alloc_tx_buffer(struct rpmsg_lite_instance *rpmsg_lite_dev, uint32_t *size,
				 uintptr_t timeout);
int32_t rpmsg_lite_send_nocopy(struct rpmsg_lite_instance *rpmsg_lite_dev,
			       struct rpmsg_lite_endpoint *ept, uint32_t dst, void *data,
			       uint32_t size);
#endif
