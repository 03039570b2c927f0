/* The link to Linux over rpmsg-lite (remote side): endpoint 30 announced as
 * rpmsg-virtual-tty-channel-1 for NXP's imx_rpmsg_tty (/dev/ttyRPMSG30); implements
 * board_link_write. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"

#include "fsl_device_registers.h"
#include "rpmsg_lite.h"
#include "rpmsg_ns.h"
#include "rpmsg_queue.h"

#include "m7bridge/wire.h"

#include "board.h"
#include "fw.h"
#include "imx8mp_port.h"

_Static_assert(RL_BUFFER_PAYLOAD_SIZE >= M7B_FRAME_MAX, "one whole frame per rpmsg buffer");
_Static_assert(RL_API_HAS_ZEROCOPY == 1, "rpmsg queue and no-copy send need the zero-copy API");

/* The announced channel name, in its own section so one ELF serves both kernels: the
 * build sets it (M7B_NS_NAME), and a board user may rewrite it in a built image with
 * objcopy --update-section .m7b_ns_name=<32-byte file> (docs/FIRMWARE.md). */
#define NS_NAME_SIZE 32u
_Static_assert(sizeof(M7B_NS_NAME) <= NS_NAME_SIZE, "M7B_NS_NAME longer than 31 bytes");
__attribute__((section(".m7b_ns_name"), used,
	       aligned(4))) static const char ns_name_image[NS_NAME_SIZE] = M7B_NS_NAME;

/* A frame spans at most this many tx buffers (rpmsg_lite_alloc_tx_buffer may hand out
 * less than RL_BUFFER_PAYLOAD_SIZE; the tty is a byte stream, so pieces rejoin). */
#define TX_PIECES_MAX 4u

/* Messages handed to the core per service call. A host that writes without pause (noise
 * is not limited by credits) must not keep the task here: fw_poll has to run between
 * bursts to send DATA and close idle captures. What waits stays in the rpmsg queue, and
 * Linux's writer waits for the buffers it holds. */
#define RX_BURST 16u

/* The kernel driver's probe message; seeing it again means the tty was (re)probed. */
static const char kernel_hello[] = "hello world!";

static struct {
	struct rpmsg_lite_instance *rl;
	struct rpmsg_lite_endpoint *ept;
	rpmsg_queue_handle q;
	uint32_t remote; /* Linux's endpoint address, learnt from its messages */
	bool remote_known;
	/* tx buffers taken from rpmsg-lite but not sent (a frame that needed more of them
	 * than were free, or a failed send): reused by the next write, never leaked */
	struct {
		void *buf;
		uint32_t size;
	} held[TX_PIECES_MAX];
	uint32_t nheld;
} link;

const char *imx8mp_link_ns_name(void)
{
	static char name[NS_NAME_SIZE];
	/* Read through volatile: the bytes may have been patched after the build, so the
	 * compiler must not fold the initializer in. */
	const volatile char *img = ns_name_image;

	for (uint32_t i = 0; i < NS_NAME_SIZE; i++)
		name[i] = img[i];
	name[NS_NAME_SIZE - 1u] = '\0';
	if (name[0] == '\0')
		return M7B_NS_NAME; /* an emptied section: the build's name */
	return name;
}

int imx8mp_link_start(void)
{
	link.rl = rpmsg_lite_remote_init((void *)(uintptr_t)M7B_VDEV0_VRING_BASE,
					 RL_PLATFORM_IMX8MP_M7_USER_LINK_ID, RL_NO_FLAGS);
	if (link.rl == RL_NULL)
		return -1;
	/* Linux marks the vdev ready after it has loaded the firmware and set up the
	 * vrings; polling with a 1 ms sleep keeps the CPU free meanwhile. */
	while (rpmsg_lite_is_link_up(link.rl) == RL_FALSE)
		vTaskDelay(pdMS_TO_TICKS(1));
	link.q = rpmsg_queue_create(link.rl);
	if (link.q == RL_NULL)
		return -1;
	/* The receive callback runs in the MU interrupt: rpmsg_queue_rx_cb only queues the
	 * buffer (RL_HOLD); all work happens in the task that drains the queue. */
	link.ept = rpmsg_lite_create_ept(link.rl, M7B_LOCAL_EPT_ADDR, rpmsg_queue_rx_cb, link.q);
	if (link.ept == RL_NULL)
		return -1;
	if (rpmsg_ns_announce(link.rl, link.ept, imx8mp_link_ns_name(), (uint32_t)RL_NS_CREATE) !=
	    RL_SUCCESS)
		return -1;
	return 0;
}

/* One message from Linux: learn its address, then hand the bytes to the stream decoder
 * (writes arrive split at 256 bytes; the decoder reassembles frames across messages). */
static void link_on_message(struct fw *fw, uint32_t src, const uint8_t *data, uint32_t len)
{
	bool reprobed = len == sizeof(kernel_hello) - 1u && memcmp(data, kernel_hello, len) == 0;

	if (!link.remote_known || src != link.remote || reprobed) {
		/* First contact, a new tty instance (new address) or a re-probe: announce
		 * ourselves again (0x00 + HELLO with seq 0) to whoever listens now. */
		link.remote = src;
		link.remote_known = true;
		fw_link_up(fw);
	}
	/* The kernel's unframed "hello world!" costs the decoder only a noise counter. */
	fw_link_rx(fw, data, len);
}

void imx8mp_link_service(struct fw *fw, uint32_t timeout_ms)
{
	uint32_t src, len;
	char *data;

	for (uint32_t n = 0;
	     n < RX_BURST &&
	     rpmsg_queue_recv_nocopy(link.rl, link.q, &src, &data, &len, timeout_ms) == RL_SUCCESS;
	     n++) {
		link_on_message(fw, src, (const uint8_t *)data, len);
		(void)rpmsg_queue_nocopy_free(link.rl, data);
		timeout_ms = RL_DONT_BLOCK; /* take what is there, then back to fw_poll */
	}
}

/* Takes tx buffers until their sizes add up to n. All or nothing: on a shortage what was
 * taken stays held for the next try. */
static bool link_take_buffers(size_t n)
{
	size_t room = 0;

	for (uint32_t i = 0; i < link.nheld; i++)
		room += link.held[i].size;
	while (room < n && link.nheld < TX_PIECES_MAX) {
		uint32_t size = 0;
		void *tx = rpmsg_lite_alloc_tx_buffer(link.rl, &size, RL_DONT_BLOCK);

		if (tx == RL_NULL)
			return false; /* all buffers with Linux: the core retries from fw_poll */
		if (size == 0u)
			size = 1u; /* never happens; keeps the loop finite if it did */
		link.held[link.nheld].buf = tx;
		link.held[link.nheld].size = size;
		link.nheld++;
		room += size;
	}
	return room >= n;
}

int board_link_write(const uint8_t *buf, size_t n)
{
	size_t off = 0;
	uint32_t used = 0;

	/* rpmsg-lite's tx path takes a mutex: task context only. A LOG from an interrupt
	 * stays queued in the core until the task's next fw_poll. */
	if (!link.remote_known || n == 0 || __get_IPSR() != 0u || !link_take_buffers(n))
		return -1;
	/* Each piece no longer than the size rpmsg-lite said that buffer holds. */
	while (off < n && used < link.nheld) {
		uint32_t piece = link.held[used].size;

		if (piece > n - off)
			piece = (uint32_t)(n - off);
		memcpy(link.held[used].buf, buf + off, piece);
		if (rpmsg_lite_send_nocopy(link.rl, link.ept, link.remote, link.held[used].buf,
					   piece) != RL_SUCCESS) {
			if (off == 0)
				return -1; /* nothing left: all buffers still ours (rpmsg_lite.h) */
			/* Part of the frame went out: the host's decoder drops it as one bad
			 * frame; the rest of this buffer list is kept for the next write. */
			break;
		}
		off += piece;
		used++;
	}
	/* Unused buffers move to the front for the next write. */
	for (uint32_t i = used; i < link.nheld; i++)
		link.held[i - used] = link.held[i];
	link.nheld -= used;
	return (int)n;
}
