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

/* The magic's last byte is the version: 1 (no path) is still read from an older daemon. */
static const uint8_t saved_magic[7] = {'M', '7', 'B', 'P', 'T', 'Y', 'B'};

static void put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t ptybuf_saved_header(uint8_t *hdr, size_t cap, size_t to_m7, size_t to_app, const char *path)
{
	size_t n = strlen(path);
	if (path[0] != '/' || n > PTYBUF_SAVED_PATH_MAX || cap < PTYBUF_SAVED_HDR + n)
		return 0;
	memcpy(hdr, saved_magic, sizeof(saved_magic));
	hdr[7] = '2';
	put_le32(hdr + 8, (uint32_t)to_m7);
	put_le32(hdr + 12, (uint32_t)to_app);
	put_le32(hdr + 16, (uint32_t)n);
	memcpy(hdr + PTYBUF_SAVED_HDR, path, n);
	return PTYBUF_SAVED_HDR + n;
}

int ptybuf_saved_parse(const uint8_t *p, size_t n, uint64_t size, struct ptybuf_saved *s)
{
	uint64_t hdr, path_len = 0;
	if (n < PTYBUF_SAVED_HDR_V1 || n > size || memcmp(p, saved_magic, sizeof(saved_magic)))
		return -EBADMSG;
	if (p[7] == '1') {
		hdr = PTYBUF_SAVED_HDR_V1;
	} else if (p[7] == '2' && n >= PTYBUF_SAVED_HDR) {
		hdr = PTYBUF_SAVED_HDR;
		path_len = get_le32(p + 16);
		/* The link's path is what a start may remove: absolute, whole, no NUL in it. */
		if (path_len == 0 || path_len > PTYBUF_SAVED_PATH_MAX || n < hdr + path_len ||
		    p[hdr] != '/' || memchr(p + hdr, '\0', (size_t)path_len))
			return -EBADMSG;
	} else {
		return -EBADMSG;
	}
	uint32_t m7 = get_le32(p + 8), app = get_le32(p + 12);
	/* Exactly the header, the path and the two runs: anything else is not ours, or cut
	 * short. */
	if (size != hdr + path_len + m7 + app)
		return -EBADMSG;
	s->to_m7 = m7;
	s->to_app = app;
	s->data_off = hdr + path_len;
	memcpy(s->path, p + hdr, (size_t)path_len);
	s->path[path_len] = '\0';
	return 0;
}
