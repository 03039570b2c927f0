/* The M7's lifecycle as the daemon sees it: an M7 found offline is started (at once when
 * the daemon sets a channel up, after down_grace_ms when it went offline later), or the
 * daemon says why it waits; a reload that a restart of the daemon cut short is rolled
 * back. The decision is lifecycle.c's; the start is the ladder's `start` step, through
 * the privileged operations of sv_priv.c like every other remoteproc write. */
#include "sv.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "lifecycle.h"

#define SV_START_FAULT "m7_offline"

/* Reads remoteproc's state and firmware name and decides; *st gets the state, *token
 * the STATE reason of a wait. */
static enum lifecycle_action decide(struct sv_chan *c, char *why, size_t cap,
				    enum remoteproc_state *st, const char **token)
{
	const struct conf_channel *cc = channel_config(c->ch);

	if (!recovery_busy(&c->rec))
		sv_verify_use_good(c); /* the image a start would load */
	struct lifecycle_input in = {.autostart = cc->sup.autostart,
				     .firmware =
					     c->rec.cfg.firmware[0] ? c->rec.cfg.firmware : NULL};
	char attr[RECOVERY_FIRMWARE_MAX];
	int r = sv_priv_rproc(c);

	*st = REMOTEPROC_UNKNOWN;
	*token = "m7_not_running";
	if (r == 0)
		r = remoteproc_get_state(c->rproc, &in.state);
	if (r < 0) {
		snprintf(why, cap, "cannot read the state of remoteproc %s: %s", cc->remoteproc,
			 strerror(-r));
		return LIFECYCLE_WAIT;
	}
	*st = in.state;
	in.instance = c->rproc->instance;
	if (remoteproc_get_firmware(c->rproc, attr, sizeof(attr)) == 0)
		in.firmware_attr = attr;
	if (lifecycle_wait_reason(&in))
		*token = lifecycle_wait_reason(&in);
	return lifecycle_decide(&in, why, cap);
}

/* The M7 is (to be) running: the channel's own reasons apply again. */
static void unsay(struct sv_chan *c)
{
	c->start_said[0] = '\0';
	channel_set_wait_note(c->ch, NULL, NULL);
}

/* Why the M7 is left as it is: shown by the channel's state (down, token) until its tty
 * opens; logged when the reason is new, not at every check. */
static void say(struct sv_chan *c, const char *token, const char *why)
{
	struct log_fields f;

	channel_set_wait_note(c->ch, token, why);
	if (strcmp(c->start_said, why) == 0)
		return;
	snprintf(c->start_said, sizeof(c->start_said), "%s", why);
	f = sv_chan_fields(c, LOG_MID_RECOVERY, 0);
	log_struct(c->sv->log, LOG_WARNING, &f, "not starting the M7: %s", why);
	sv_chan_note(c, INCIDENT_STATE, "not starting the M7: %s", why);
}

/* Counted, logged, published and recorded as a fault of its own, which
 * sv_start_on_fault() turns into the start step. */
static void start(struct sv_chan *c, const char *why)
{
	char said[256];

	unsay(c);
	/* The budget refuses the start (the ladder then says failed, budget): the fault
	 * must not claim a start that will not happen. */
	if (!recovery_budget_left(&c->rec, daemon_now_ms())) {
		snprintf(said, sizeof(said),
			 "%.*s: not started now: the recovery budget (%u per %u s) is spent",
			 (int)strcspn(why, ":"), why, c->rec.cfg.budget,
			 c->rec.cfg.budget_period_ms / 1000);
		why = said;
	}
	sv_fault_raise(c, SV_START_FAULT, why, "remoteproc", RECOVERY_SEV_DOWN, 0);
}

/* The reload found recorded at start: its image never passed verification, so the one
 * it replaced is loaded again, verified, and the reload's incident says so. */
static void rollback_interrupted(struct sv_chan *c)
{
	struct recovery_event ev = {.type = RECOVERY_EV_ROLLBACK,
				    .rollback_fw = c->rollback.name,
				    .firmware = c->reload_want.name,
				    .reason = "interrupted"};
	const char *fw = c->reload_want.name[0] ? c->reload_want.name : "a firmware";
	struct log_fields f = sv_chan_fields(c, LOG_MID_RELOAD, 0);
	struct recovery_actions out;
	int r;

	c->interrupted = false;
	if (!channel_config(c->ch)->remoteproc ||
	    strcmp(channel_config(c->ch)->sup.rollback, "off") == 0) {
		log_struct(c->sv->log, LOG_WARNING, &f,
			   "the reload of %s was cut short by a restart of the daemon; left as it "
			   "is (%s)",
			   fw,
			   channel_config(c->ch)->remoteproc ? "rollback = off"
							     : "no remoteproc configured");
		sv_verify_clear_reload(c);
		return;
	}
	/* A rollback that could only load another build, or nothing, in place of the image
	 * that runs would take down an image that may work for one that cannot: left. */
	char why[256];
	if (sv_verify_check_rollback(c, why, sizeof(why)) < 0) {
		log_struct(c->sv->log, LOG_WARNING, &f,
			   "the reload of %s was cut short by a restart of the daemon; left as it "
			   "is (%s)",
			   fw, why);
		sv_incident_begin(c, "reload", "restart", why);
		sv_incident_end(c, "failed");
		sv_verify_clear_reload(c);
		return;
	}
	snprintf(c->ver_detail, sizeof(c->ver_detail),
		 "%.60s: interrupted: the daemon restarted before it was verified", fw);
	log_struct(c->sv->log, LOG_WARNING, &f,
		   "the reload of %s was cut short by a restart of the daemon: rolling back to %s",
		   fw, c->rollback.name);
	sv_incident_begin(c, "reload", "restart", c->ver_detail);
	c->last_fault_ms = daemon_now_ms();
	c->kernel_ms = 0;
	r = recovery_handle(&c->rec, &ev, daemon_now_ms(), &out);
	if (r < 0) {
		f.err = -r;
		log_struct(c->sv->log, LOG_ERR, &f, "cannot roll back to %s: %s", c->rollback.name,
			   strerror(-r));
		sv_incident_end(c, "failed");
		sv_verify_clear_reload(c);
		return;
	}
	sv_action_run(c, &out);
}

void sv_start_keep(struct sv_chan *c, const struct sv_chan *old)
{
	const struct conf_channel *cc = channel_config(c->ch);

	/* The reason it waits was said already; a new one is said again. */
	snprintf(c->start_said, sizeof(c->start_said), "%s", old->start_said);
	/* A link already counting down stays a fault when it stays away. */
	if (evtimer_pending(old->ev_down, NULL) && cc->sup.down_grace_ms) {
		c->down_due_ms = old->down_due_ms;
		sv_chan_arm(c->ev_down, c->down_due_ms);
	}
	if (c->interrupted || old->start_autostart != cc->sup.autostart ||
	    strcmp(old->start_rproc, cc->remoteproc ? cc->remoteproc : "") != 0)
		return; /* checked at once, as a channel set up anew */
	/* Whoever stopped the M7 keeps the rest of their down_grace_ms: the deferred start
	 * keeps its deadline, and a link counting down decides when it ends. */
	if (old->start_due_ms && evtimer_pending(old->ev_start, NULL)) {
		c->start_due_ms = old->start_due_ms;
		sv_chan_arm(c->ev_start, c->start_due_ms);
	} else if (evtimer_pending(c->ev_down, NULL)) {
		evtimer_del(c->ev_start);
	}
}

void sv_start_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	enum remoteproc_state st;
	const char *token;
	char why[200];

	c->start_due_ms = 0;
	if (c->applying || c->rec.state != RECOVERY_IDLE)
		return; /* the ladder or a reload owns the M7 now */
	if (c->interrupted) {
		rollback_interrupted(c);
	} else if (channel_config(c->ch)->remoteproc) {
		switch (decide(c, why, sizeof(why), &st, &token)) {
		case LIFECYCLE_NOTHING:
			unsay(c);
			break;
		case LIFECYCLE_START:
			start(c, why);
			break;
		case LIFECYCLE_WAIT:
			say(c, token, why);
			break;
		}
	}
	sv_chan_flush(c);
}

/* Another channel on the same remoteproc instance (one firmware, several endpoints)
 * whose ladder acts on the M7 now: a start, a reload, a recovery. NULL if none. */
static struct sv_chan *sibling_busy(struct sv_chan *c)
{
	if (sv_priv_rproc(c) < 0)
		return NULL;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct sv_chan *o = c->sv->chans[i];
		if (o && o != c && o->rproc && recovery_busy(&o->rec) &&
		    strcmp(o->rproc->instance, c->rproc->instance) == 0)
			return o;
	}
	return NULL;
}

bool sv_start_on_fault(struct sv_chan *c, const char *kind)
{
	struct sv_chan *sib;
	enum remoteproc_state st;
	const char *token;
	char why[200];

	if (c->rec.state != RECOVERY_IDLE || !channel_config(c->ch)->remoteproc)
		return false;
	if (strcmp(kind, SV_START_FAULT) == 0) {
		struct recovery_event ev = {.type = RECOVERY_EV_START, .reason = SV_START_FAULT};
		sv_action_feed(c, &ev);
		return true;
	}
	/* The other channel's stop, start and verification are what this one sees: a
	 * ladder of its own would restart the M7 underneath it. Its link gets another
	 * down_grace_ms instead, to come back with the M7. */
	sib = sibling_busy(c);
	if (sib) {
		struct log_fields f = sv_chan_fields(c, LOG_MID_RECOVERY, 0);
		log_struct(c->sv->log, LOG_NOTICE, &f,
			   "fault %s while channel %s acts on the M7 it shares (%s, %s): no "
			   "recovery of its own",
			   kind, channel_name(sib->ch), c->rproc->instance,
			   recovery_state_to_string(sib->rec.state));
		if (channel_get_state(c->ch) != CHANNEL_UP &&
		    channel_config(c->ch)->sup.down_grace_ms) {
			c->down_due_ms = daemon_now_ms() + channel_config(c->ch)->sup.down_grace_ms;
			sv_chan_arm(c->ev_down, c->down_due_ms);
		}
		return true;
	}
	switch (decide(c, why, sizeof(why), &st, &token)) {
	case LIFECYCLE_NOTHING:
		unsay(c);
		return false;
	case LIFECYCLE_START: {
		/* Someone stopped it: perhaps to load another image by hand. They get
		 * down_grace_ms to start it again before the daemon does; a link_down has
		 * waited that long already. */
		unsigned grace = strcmp(kind, "link_down") == 0
					 ? 0
					 : channel_config(c->ch)->sup.down_grace_ms;
		struct log_fields f = sv_chan_fields(c, LOG_MID_RECOVERY, 0);
		if (evtimer_pending(c->ev_start, NULL))
			return true; /* the stop's other lines: one start is enough */
		log_struct(c->sv->log, LOG_NOTICE, &f,
			   "the M7 went offline (%s); starting it in %u ms unless it is started "
			   "meanwhile",
			   kind, grace);
		c->start_due_ms = daemon_now_ms() + grace;
		sv_chan_arm(c->ev_start, c->start_due_ms);
		return true;
	}
	case LIFECYCLE_WAIT:
		say(c, token, why);
		/* Offline and not ours to start: the ladder's remoteproc step would start it.
		 * Any other state: the ladder may still help (its hook). */
		return st == REMOTEPROC_OFFLINE;
	}
	return false;
}
