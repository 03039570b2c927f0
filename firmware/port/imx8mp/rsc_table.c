/* Resource table in the ELF's .resource_table section: Linux's remoteproc requires it
 * ("No resource table in elf" otherwise), sets up the rpmsg vdev from it and shows the
 * trace ring it names as trace0. Layout per include/linux/remoteproc.h (struct
 * resource_table, struct fw_rsc_vdev, struct fw_rsc_trace). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imx8mp_port.h"
#include "rpmsg_config.h"
#include "rsc_table.h"

#define RSC_TRACE	  2u /* enum fw_resource_type */
#define RSC_VDEV	  3u
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

struct rsc_trace {
	uint32_t type;
	uint32_t da; /* the M7's address of the ring; Linux translates it */
	uint32_t len;
	uint32_t reserved;
	uint8_t name[32];
};

/* The vdev first: NXP's older kernels and U-Boot examples expect it as entry 0. */
struct rsc_table {
	uint32_t ver;
	uint32_t num;
	uint32_t reserved[2];
	uint32_t offset[2];
	struct rsc_vdev vdev;
	struct rsc_trace trace;
};

_Static_assert(offsetof(struct rsc_table, vdev) == 24, "offset[] must end where vdev starts");
_Static_assert(sizeof(struct rsc_vdev) == 28 + 2 * 20, "fw_rsc_vdev layout");
_Static_assert(sizeof(struct rsc_trace) == 48, "fw_rsc_trace layout");

/* Linux writes vdev.status (and may rewrite vring addresses) in the loaded copy: not
 * const, and never read back by this firmware. */
__attribute__((section(".resource_table"), used, aligned(8))) static struct rsc_table resources = {
	.ver = 1,
	.num = 2,
	.offset = {offsetof(struct rsc_table, vdev), offsetof(struct rsc_table, trace)},
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
	.trace =
		{
			.type = RSC_TRACE,
			/* an address constant: the linker fills it in (32-bit target) */
			.da = (uint32_t)(uintptr_t)imx8mp_trace_buf,
			.len = M7B_TRACE_SIZE,
			.name = "m7bridge-trace",
		},
};

void rsc_table_copy(void)
{
	memcpy((void *)(uintptr_t)M7B_RSC_TABLE_ADDR, &resources, sizeof(resources));
#if M7B_RSC_COPY_LEGACY
	/* Older NXP kernels (and NXP's own examples, "for backward compatibility") read the
	 * table at the start of vring 0 when the M7 was started before Linux. It is copied
	 * before rpmsg_lite_remote_init; Linux lays the vring over it once it has read it. */
	memcpy((void *)(uintptr_t)M7B_VDEV0_VRING_BASE, &resources, sizeof(resources));
#endif
	__asm__ volatile("dsb" ::: "memory");
}
