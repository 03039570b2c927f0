/* Which node a channel opens and how it waits for it: an `rpmsg =` endpoint resolved
 * through sysfs at each open, and the notices of a channel waiting for its device. */
#include "channel_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpmsgdev.h"

/* A channel waiting for its device says so once, and again only when the reason
 * changes: a missing node is normal at boot (notice), anything else is a problem. */
void channel_note_waiting(struct channel *ch, int err, const char *why)
{
	if (strcmp(ch->wait_why, why) == 0)
		return;
	if (!ch->wait_why[0])
		ch->wait_since_ms = channel_now_ms();
	snprintf(ch->wait_why, sizeof(ch->wait_why), "%s", why);
	if (err == -EBUSY)
		return; /* note_holder() has named the holder */
	struct log_fields f = channel_fields(ch, NULL);
	f.err = -err;
	log_struct(ch->log, err == -ENOENT ? LOG_NOTICE : LOG_WARNING, &f, "waiting for %s: %s",
		   ch->cfg.device, why);
}

/* The end of a wait that was logged. */
void channel_note_opened(struct channel *ch)
{
	if (!ch->wait_why[0])
		return;
	struct log_fields f = channel_fields(ch, NULL);
	log_struct(ch->log, LOG_NOTICE, &f, "opened %s after waiting %llu ms", ch->cfg.device,
		   (unsigned long long)(channel_now_ms() - ch->wait_since_ms));
	ch->wait_why[0] = '\0';
}

void channel_set_not_found(struct channel *ch, const char *detail)
{
	enum channel_state st = channel_lost_state(ch);
	bool note = ch->note_reason[0] && st == CHANNEL_DOWN;

	channel_set_state(ch, st, note ? ch->note_reason : "not_found",
			  note ? ch->note_detail : detail);
}

void channel_set_wait_note(struct channel *ch, const char *reason, const char *detail)
{
	bool shown = ch->note_reason[0] && strcmp(ch->reason, ch->note_reason) == 0;

	snprintf(ch->note_reason, sizeof(ch->note_reason), "%s", reason ? reason : "");
	snprintf(ch->note_detail, sizeof(ch->note_detail), "%s", reason && detail ? detail : "");
	/* Only a channel that is merely waiting for its node shows it: the ladder's states
	 * and an open tty say more. */
	if (ch->fd >= 0 || ch->state != CHANNEL_DOWN || ch->hold)
		return;
	if (reason) {
		channel_set_state(ch, CHANNEL_DOWN, ch->note_reason, ch->note_detail);
	} else if (shown) {
		char d[160];
		snprintf(d, sizeof(d), "%s: %s", ch->cfg.device, strerror(ENOENT));
		channel_set_state(ch, CHANNEL_DOWN, "not_found", d);
	}
}

/* Finds the node of the channel's rpmsg endpoint now: mainline may have renumbered it
 * since the last open. On failure the channel waits (state down, not_found). */
int channel_resolve_rpmsg(struct channel *ch)
{
	struct rpmsgdev_spec spec;
	char name[64], why[160], path[80];
	int r = rpmsgdev_parse(ch->cfg.rpmsg, &spec);
	if (r == 0)
		r = rpmsgdev_resolve(ch->sysfs_root ? ch->sysfs_root : "/sys", &spec, name,
				     sizeof(name), why, sizeof(why));
	else
		snprintf(why, sizeof(why), "bad rpmsg setting");
	if (r < 0) {
		channel_note_waiting(ch, -ENOENT, why);
		channel_set_not_found(ch, why);
		return r;
	}
	snprintf(path, sizeof(path), "/dev/%s", name);
	if (strcmp(path, ch->cfg.device) == 0)
		return 0;
	char *dev = strdup(path);
	if (!dev)
		return -ENOMEM;
	struct log_fields f = channel_fields(ch, NULL);
	log_struct(ch->log, LOG_INFO, &f, "rpmsg %s is %s", ch->cfg.rpmsg, dev);
	free(ch->cfg.device);
	ch->cfg.device = dev;
	return 0;
}
