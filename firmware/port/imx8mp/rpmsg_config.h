/* rpmsg-lite configuration of the i.MX8M Plus port (rpmsg-lite reads this file by name;
 * anything not set here keeps rpmsg_default_config.h's value). */
#ifndef RPMSG_CONFIG_H_
#define RPMSG_CONFIG_H_

/* Buffer payload: 512-byte buffers minus the 16-byte header, as Linux's virtio_rpmsg_bus
 * uses. One whole wire frame (<= 496 bytes with its delimiter) fits one buffer. */
#define RL_BUFFER_PAYLOAD_SIZE (496U)
/* Buffers per direction: must match the vring size in the resource table (256, as in
 * NXP's i.MX8MP examples and device tree). */
#define RL_BUFFER_COUNT	   (256U)
#define RL_MS_PER_INTERVAL (1)
/* rpmsg_queue and rpmsg_lite_send_nocopy need the zero-copy API. */
#define RL_API_HAS_ZEROCOPY	     (1)
#define RL_USE_STATIC_API	     (0)
#define RL_CLEAR_USED_BUFFERS	     (0)
#define RL_USE_MCMGR_IPC_ISR_HANDLER (0)
#define RL_USE_ENVIRONMENT_CONTEXT   (0)
/* Linux side: tell it when its buffers are consumed, so its blocking send (up to 15 s in
 * virtio_rpmsg_bus) is released promptly (rpmsg-lite >= 4; ignored by older ones). */
#define RL_ALLOW_CONSUMED_BUFFERS_NOTIFICATION (1)
/* Must stay 0 with Linux as the other side (rpmsg_default_config.h). */
#define RL_DEBUG_CHECK_BUFFERS (0)

/* rpmsg-lite's own asserts: its state is broken, so record and halt (imx8mp_fault.c)
 * instead of its default silent for(;;). */
void imx8mp_assert_halt(const char *file, int line) __attribute__((noreturn));
#define RL_ASSERT(x)                                                                               \
	do {                                                                                       \
		if (!(x))                                                                          \
			imx8mp_assert_halt(__FILE__, __LINE__);                                    \
	} while (0)

#endif
