/* The lines streamed in one batch, rendered once into a shared buffer that every client
 * taking them references (conn_stream_ref) and sends with one sendmsg(): no copy per
 * client while it keeps up. */
#ifndef M7B_FANOUT_H
#define M7B_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

struct fanout {
	char *buf;
	size_t len, cap;
	unsigned refs; /* clients holding lines of buf; it is reused only at 0 */
};

/* A buffer of cap bytes; NULL on ENOMEM. */
struct fanout *fanout_new(size_t cap);
/* Frees f (NULL ok); returns NULL. */
struct fanout *fanout_free(struct fanout *f);

/* Where the next line goes and how much room it has. When no client holds a line, the
 * buffer starts over first: the bytes before were sent or copied. */
static inline char *fanout_tail(struct fanout *f, size_t *room)
{
	if (f->refs == 0)
		f->len = 0;
	*room = f->cap - f->len;
	return f->buf + f->len;
}

/* Keeps the n bytes written at fanout_tail(); they stay put until refs drops to 0. */
static inline void fanout_commit(struct fanout *f, size_t n)
{
	f->len += n;
}

/* A publisher holds the buffer while it hands one line to many clients, so that a client
 * letting go meanwhile cannot make the next fanout_tail() start over under the others. */
static inline void fanout_hold(struct fanout *f)
{
	f->refs++;
}

/* Ends fanout_hold() (or a client's reference). */
static inline void fanout_release(struct fanout *f)
{
	f->refs--;
}

/* True if line (len bytes) lies inside f's buffer. */
static inline bool fanout_holds(const struct fanout *f, const char *line, size_t len)
{
	return f && line >= f->buf && len <= f->len && line <= f->buf + f->len - len;
}

#endif
