/* Resource table in the ELF's .resource_table section: Linux's remoteproc requires it
 * ("No resource table in elf" otherwise) and sets up the rpmsg vdev from it. Layout per
 * include/linux/remoteproc.h (struct resource_table, struct fw_rsc_vdev). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imx8mp_port.h"
#include "rpmsg_config.h"
#include "rsc_table.h"

#define RSC_VDEV	  3u /* enum fw_resource_type */
#define VIRTIO_ID_RPMSG	  7u /* virtio device id */
#define VIRTIO_RPMSG_F_NS 0u /* feature bit: the remote announces names */
#define VRING_ALIGN_LINUX 0x1000u
#define VRING_BYTES	  0x8000u /* each vring region of the EVK device tree */

struct rsc_vring {
	uint32_t da;
	uint32_t align;
	uint32_t num;
	uint32_t notifyid;
	uint32_t reserved;
};

struct rsc_vdev {
	uint32_t type;
	uint32_t id;
	uint32_t notifyid;
	uint32_t dfeatures;
	uint32_t gfeatures;
	uint32_t config_len;
	uint8_t status;
	uint8_t num_of_vrings;
	uint8_t reserved[2];
	struct rsc_vring vring[2];
};

struct rsc_table {
	uint32_t ver;
	uint32_t num;
	uint32_t reserved[2];
	uint32_t offset[1];
	struct rsc_vdev vdev;
};

_Static_assert(offsetof(struct rsc_table, vdev) == 20, "offset[0] must point right after it");
_Static_assert(sizeof(struct rsc_vdev) == 28 + 2 * 20, "fw_rsc_vdev layout");

/* Linux writes vdev.status (and may rewrite vring addresses) in the loaded copy: not
 * const, and never read back by this firmware. */
__attribute__((section(".resource_table"), used, aligned(8))) static struct rsc_table resources = {
	.ver = 1,
	.num = 1,
	.offset = {offsetof(struct rsc_table, vdev)},
	.vdev =
		{
			.type = RSC_VDEV,
			.id = VIRTIO_ID_RPMSG,
			.notifyid = 0,
			.dfeatures = 1u << VIRTIO_RPMSG_F_NS,
			.num_of_vrings = 2,
			.vring =
				{
					{M7B_VDEV0_VRING_BASE, VRING_ALIGN_LINUX, RL_BUFFER_COUNT,
					 0, 0},
					{M7B_VDEV0_VRING_BASE + VRING_BYTES, VRING_ALIGN_LINUX,
					 RL_BUFFER_COUNT, 1, 0},
				},
		},
};

void rsc_table_copy(void)
{
	memcpy((void *)(uintptr_t)M7B_RSC_TABLE_ADDR, &resources, sizeof(resources));
	__asm__ volatile("dsb" ::: "memory");
}
