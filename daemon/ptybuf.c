/* Bounded byte FIFO for the pty's two directions. Pure. */
#include "ptybuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ptybuf_init(struct ptybuf *b, size_t cap)
{
	*b = (struct ptybuf){.data = malloc(cap ? cap : 1), .cap = cap};
	return b->data ? 0 : -ENOMEM;
}

void ptybuf_clear(struct ptybuf *b)
{
	free(b->data);
	*b = (struct ptybuf){0};
}

size_t ptybuf_room(const struct ptybuf *b)
{
	return b->cap - b->len;
}

bool ptybuf_can_take(const struct ptybuf *b, size_t min)
{
	return ptybuf_room(b) >= min && ptybuf_room(b) > 0;
}

size_t ptybuf_push(struct ptybuf *b, const void *src, size_t n)
{
	size_t take = n < ptybuf_room(b) ? n : ptybuf_room(b);
	const uint8_t *s = src;
	size_t tail = (b->head + b->len) % (b->cap ? b->cap : 1);
	/* At most two pieces: up to the end of the storage, then from its start. */
	size_t first = take < b->cap - tail ? take : b->cap - tail;
	memcpy(b->data + tail, s, first);
	memcpy(b->data, s + first, take - first);
	b->len += take;
	b->dropped += n - take;
	return take;
}

size_t ptybuf_peek(const struct ptybuf *b, const uint8_t **p)
{
	*p = b->data + b->head;
	size_t to_end = b->cap - b->head;
	return b->len < to_end ? b->len : to_end;
}

void ptybuf_consume(struct ptybuf *b, size_t n)
{
	if (n > b->len)
		n = b->len;
	b->len -= n;
	b->head = b->len ? (b->head + n) % b->cap : 0;
}
