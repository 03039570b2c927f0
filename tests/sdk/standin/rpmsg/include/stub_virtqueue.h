/* Stand-in for rpmsg-lite's virtqueue.h. */
#ifndef STANDIN_VIRTQUEUE_H
#define STANDIN_VIRTQUEUE_H
#include <stdint.h>
struct virtqueue;
uint32_t virtqueue_standin_count(void);
#endif
