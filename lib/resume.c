/* Resume positions of a libm7bridge client, per channel, from the objects it delivered. */
#include <errno.h>
#include <string.h>

#include "resume.h"

/* The position of channel, or NULL. */
static struct resume_pos *find(struct resume *r, const char *channel)
{
	for (unsigned i = 0; channel && i < r->npos; i++)
		if (strcmp(r->pos[i].channel, channel) == 0)
			return &r->pos[i];
	return NULL;
}

/* The position of channel, made if need be; NULL when there is no room for it. */
static struct resume_pos *pos_of(struct resume *r, const char *channel)
{
	struct resume_pos *p = find(r, channel);

	if (p || !channel || strlen(channel) >= sizeof(r->pos[0].channel) ||
	    r->npos == RESUME_CHANNELS)
		return p;
	p = &r->pos[r->npos++];
	memset(p, 0, sizeof(*p));
	memcpy(p->channel, channel, strlen(channel) + 1);
	return p;
}

/* The current run of every channel is no longer sure. */
static void forget_runs(struct resume *r)
{
	for (unsigned i = 0; i < r->npos; i++)
		r->pos[i].has_boot = r->pos[i].has_live = false;
}

static void on_frame(const struct resume *r, struct resume_pos *p, const struct m7b_event *ev)
{
	int64_t v;

	p->seen = true;
	p->conn_ms = r->conn_ms;
	p->frame_seq = (uint32_t)ev->seq;
	/* A replayed frame names its run, or is of one the daemon could not name. */
	if (m7b_event_get_int(ev, "boot_id", &v) == 0 && v >= 0 && v <= UINT32_MAX) {
		p->frame_boot = (uint32_t)v;
		p->has_frame = true;
		return;
	}
	if (m7b_event_has(ev, "replay")) {
		p->has_frame = false;
		return;
	}
	/* A live one is of the current run, unless its seq went back with no HELLO between:
	 * the M7 restarted (as the daemon tells, by serial number arithmetic on u32). */
	if (p->has_live && (uint32_t)(p->frame_seq - p->live_seq - 1) >= 0x80000000u)
		p->has_boot = false;
	p->has_live = true;
	p->live_seq = p->frame_seq;
	p->frame_boot = p->boot;
	p->has_frame = p->has_boot;
}

void resume_on_event(struct resume *r, const struct m7b_event *ev)
{
	struct resume_pos *p;
	int64_t v;

	switch (ev->type) {
	case M7B_EV_FRAME:
		if ((p = pos_of(r, ev->channel))) {
			on_frame(r, p, ev);
		} else {
			/* Delivered all the same: no channel is the only one with frames. */
			r->untracked = true;
			r->untracked_ms = r->conn_ms;
		}
		break;
	case M7B_EV_HELLO:
		if (!(p = pos_of(r, ev->channel)))
			break;
		p->has_boot =
			m7b_event_get_int(ev, "boot_id", &v) == 0 && v >= 0 && v <= UINT32_MAX;
		p->boot = p->has_boot ? (uint32_t)v : 0;
		p->has_live = false; /* every HELLO restarts seq */
		break;
	case M7B_EV_STATE:
		if (ev->reason && strcmp(ev->reason, M7B_REASON_M7_RESTARTED) == 0 &&
		    (p = find(r, ev->channel)))
			p->has_boot = p->has_live = false;
		break;
	case M7B_EV_DROPPED:
		/* A HELLO or STATE may have been among the objects dropped. */
		forget_runs(r);
		break;
	default:
		break;
	}
}

void resume_on_connect(struct resume *r)
{
	forget_runs(r);
}

void resume_on_heard(struct resume *r, int64_t heard_ms)
{
	r->conn_ms = heard_ms;
}

const struct resume_pos *resume_from(struct resume *r, const struct m7b_watch *w)
{
	const struct resume_pos *found = NULL;

	if (w && w->channels && w->nchannels == 1) {
		const struct resume_pos *p = find(r, w->channels[0]);
		return p && p->has_frame ? p : NULL;
	}
	if (r->untracked)
		return NULL;
	for (unsigned i = 0; i < r->npos; i++) {
		if (!r->pos[i].seen)
			continue;
		if (found)
			return NULL; /* a position is per channel: the daemon takes one */
		found = &r->pos[i];
	}
	return found && found->has_frame ? found : NULL;
}

bool resume_seen(const struct resume *r, int64_t *conn_ms)
{
	bool seen = r->untracked;

	if (seen)
		*conn_ms = r->untracked_ms;
	for (unsigned i = 0; i < r->npos; i++) {
		if (!r->pos[i].seen || (seen && r->pos[i].conn_ms <= *conn_ms))
			continue;
		*conn_ms = r->pos[i].conn_ms;
		seen = true;
	}
	return seen;
}

int resume_position(const struct resume *r, const char *channel, uint32_t *boot_id, uint32_t *seq)
{
	for (unsigned i = 0; i < r->npos; i++) {
		if (!channel || strcmp(r->pos[i].channel, channel) != 0 || !r->pos[i].has_frame)
			continue;
		*boot_id = r->pos[i].frame_boot;
		*seq = r->pos[i].frame_seq;
		return 0;
	}
	return -ENOENT;
}
