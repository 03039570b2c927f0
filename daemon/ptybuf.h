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

/* The daemon's two buffers of a pty saved across a restart, with the path of the pty's
 * symlink (so that a start whose configuration has no such pty can remove the link): a
 * header (the magic "M7BPTYB2", then the lengths of the app's bytes for the M7, of the
 * M7's for the app and of the path, little-endian u32), the path (no NUL), the app's
 * bytes, the M7's. An older daemon's save ("M7BPTYB1", 16 bytes of header) has no path
 * length and no path. */
#define PTYBUF_SAVED_HDR      20
#define PTYBUF_SAVED_HDR_V1   16
#define PTYBUF_SAVED_PATH_MAX 4095 /* PATH_MAX less its NUL */
/* The most of a save's first bytes ptybuf_saved_parse looks at. */
#define PTYBUF_SAVED_PREFIX (PTYBUF_SAVED_HDR + PTYBUF_SAVED_PATH_MAX)

struct ptybuf_saved {
	size_t to_m7, to_app;		      /* the lengths of the two runs */
	uint64_t data_off;		      /* where the app's bytes start */
	char path[PTYBUF_SAVED_PATH_MAX + 1]; /* "" in an older daemon's save */
};

/* Writes the header and path of a save of to_m7 and to_app bytes into hdr (cap bytes):
 * its length, or 0 when path is not absolute, is longer than PTYBUF_SAVED_PATH_MAX or
 * does not fit. */
size_t ptybuf_saved_header(uint8_t *hdr, size_t cap, size_t to_m7, size_t to_app, const char *path);
/* Checks the n first bytes p of a save (all of them, or at least PTYBUF_SAVED_PREFIX)
 * against its size: 0 with *s, or -EBADMSG. Lengths beyond the buffers they go back into
 * are the caller's to cut and count (a build with larger buffers saved them). */
int ptybuf_saved_parse(const uint8_t *p, size_t n, uint64_t size, struct ptybuf_saved *s);

#endif
