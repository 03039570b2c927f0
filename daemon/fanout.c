/* The shared buffer of one batch's rendered lines: allocation only; the fast parts are
 * inline in fanout.h. */
#include "fanout.h"

#include <stdlib.h>

struct fanout *fanout_new(size_t cap)
{
	struct fanout *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->buf = malloc(cap);
	if (!f->buf) {
		free(f);
		return NULL;
	}
	f->cap = cap;
	return f;
}

struct fanout *fanout_free(struct fanout *f)
{
	if (!f)
		return NULL;
	free(f->buf);
	free(f);
	return NULL;
}
