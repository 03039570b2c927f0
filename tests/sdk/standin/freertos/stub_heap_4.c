/* Stand-in for FreeRTOS heap_4: a bump allocator over configTOTAL_HEAP_SIZE. */
#include "FreeRTOS.h"

static uint8_t heap[configTOTAL_HEAP_SIZE] __attribute__((aligned(8)));
static size_t used;

void *pvPortMalloc(size_t xSize)
{
	size_t n = (xSize + 7u) & ~(size_t)7u;
	void *p;

	if (n > sizeof(heap) - used)
		return NULL;
	p = &heap[used];
	used += n;
	return p;
}

void vPortFree(void *pv)
{
	(void)pv;
}
