/* A bounded byte FIFO between the pty and the channel, one per direction: what it holds,
 * how much room is left (the pty's back-pressure) and what did not fit (counted). Pure. */
#ifndef M7B_PTYBUF_H
#define M7B_PTYBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ptybuf {
	uint8_t *data;
	size_t cap, head, len; /* ring: len bytes from head */
	uint64_t dropped;      /* bytes offered that did not fit */
};

/* Sets up an empty buffer of cap bytes. 0 or -ENOMEM. */
int ptybuf_init(struct ptybuf *b, size_t cap);
/* Frees the storage; the buffer is empty and unusable until ptybuf_init. */
void ptybuf_clear(struct ptybuf *b);
/* Appends what fits of n bytes; the rest is counted in dropped. Returns bytes taken. */
size_t ptybuf_push(struct ptybuf *b, const void *src, size_t n);
/* The oldest bytes held, as one contiguous piece (may be less than len); 0 if empty. */
size_t ptybuf_peek(const struct ptybuf *b, const uint8_t **p);
/* Forgets the n oldest bytes (n <= len). */
void ptybuf_consume(struct ptybuf *b, size_t n);
/* Free space in bytes. */
size_t ptybuf_room(const struct ptybuf *b);
/* Back-pressure: read more from the pty only while at least min bytes fit, so a read
 * never has to drop. */
bool ptybuf_can_take(const struct ptybuf *b, size_t min);

/* The daemon's two buffers of a pty saved across a restart: this header (a magic, then
 * the two lengths, little-endian), the app's bytes for the M7, then the M7's for the
 * app. */
#define PTYBUF_SAVED_HDR 16
/* Fills hdr for to_m7 and to_app bytes following it. */
void ptybuf_saved_header(uint8_t hdr[PTYBUF_SAVED_HDR], size_t to_m7, size_t to_app);
/* Checks a saved header against the size of what holds it: 0 with the two lengths, or
 * -EBADMSG. Lengths beyond the buffers they go back into are the caller's to cut and
 * count (a build with larger buffers saved them). */
int ptybuf_saved_parse(const uint8_t hdr[PTYBUF_SAVED_HDR], uint64_t size, size_t *to_m7,
		       size_t *to_app);

#endif
