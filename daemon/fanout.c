/* The shared chunks of rendered lines: allocation, renewal and reuse; the fast parts are
 * inline in fanout.h. */
#include "fanout.h"

#include <stdlib.h>

static struct fanout_chunk *chunk_new(struct fanout *f)
{
	if (f->nchunks >= FANOUT_CHUNKS_MAX)
		return NULL;
	struct fanout_chunk *k = malloc(sizeof(*k) + f->cap);
	if (!k)
		return NULL;
	*k = (struct fanout_chunk){.owner = f, .cap = f->cap};
	f->nchunks++;
	return k;
}

static void chunk_free(struct fanout_chunk *k)
{
	k->owner->nchunks--;
	free(k);
}

struct fanout *fanout_new(size_t cap)
{
	struct fanout *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->cap = cap;
	f->cur = chunk_new(f);
	if (!f->cur) {
		free(f);
		return NULL;
	}
	return f;
}

struct fanout *fanout_free(struct fanout *f)
{
	if (!f)
		return NULL;
	while (f->spare) {
		struct fanout_chunk *k = f->spare;
		f->spare = k->next_spare;
		chunk_free(k);
	}
	chunk_free(f->cur);
	free(f);
	return NULL;
}

bool fanout_renew(struct fanout *f)
{
	struct fanout_chunk *k = f->spare;
	if (k) {
		f->spare = k->next_spare;
		f->nspare--;
	} else {
		k = chunk_new(f);
		if (!k)
			return false;
	}
	k->len = 0;
	k->refs = 0;
	struct fanout_chunk *old = f->cur;
	f->cur = k;
	if (old->refs == 0)
		fanout_retire(old);
	return true;
}

void fanout_retire(struct fanout_chunk *k)
{
	struct fanout *f = k->owner;
	if (f->nspare >= FANOUT_SPARES) {
		chunk_free(k);
		return;
	}
	k->next_spare = f->spare;
	f->spare = k;
	f->nspare++;
}
