/* The supervisor's incident records: opened by a fault or a request, closed a little
 * after the outcome so the frames that follow are in them too. */
#include "sv.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

static cJSON *counters_json(struct sv_chan *c)
{
	struct channel_snapshot snap;
	cJSON *o = cJSON_CreateObject(), *f;
	size_t i;

	if (!o)
		return NULL;
	channel_snapshot(c->ch, &snap);
	cJSON_AddNumberToObject(o, "frames", (double)snap.dec.frames);
	cJSON_AddNumberToObject(o, "data_frames", (double)snap.stats.data_frames);
	cJSON_AddNumberToObject(o, "seq_gaps", (double)snap.stats.seq_gaps);
	cJSON_AddNumberToObject(o, "reopens", (double)snap.stats.reopens);
	cJSON_AddNumberToObject(o, "recoveries", (double)snap.stats.recoveries);
	cJSON_AddNumberToObject(o, "resyncs", (double)snap.dec.rejected);
	cJSON_AddNumberToObject(o, "pings", (double)c->live.pings);
	cJSON_AddNumberToObject(o, "stalls", (double)c->live.stalls);
	f = cJSON_AddObjectToObject(o, "faults");
	for (i = 0; f && i < SV_FAULT_KINDS && c->counts[i].kind; i++)
		cJSON_AddNumberToObject(f, c->counts[i].kind, (double)c->counts[i].n);
	return o;
}

void sv_incident_begin(struct sv_chan *c, const char *kind, const char *source, const char *detail)
{
	struct supervisor *sv = c->sv;

	if (c->inc) {
		/* Still open: a new fault extends it rather than starting another. */
		evtimer_del(c->ev_inc);
		return;
	}
	c->inc = incident_open(sv->store ? sv->store : &sv->ram_store, &c->ring,
			       channel_name(c->ch), kind, source, detail, sv_chan_realtime_us());
	c->inc_start_ms = daemon_now_ms();
}

void sv_incident_end(struct sv_chan *c, const char *outcome)
{
	struct supervisor *sv = c->sv;
	struct incident_step steps[RECOVERY_HISTORY_MAX];
	size_t i, n = 0;
	int r;

	evtimer_del(c->ev_inc);
	if (!c->inc)
		return;
	for (i = 0; i < c->rec.history_n; i++) {
		const struct recovery_history *h = &c->rec.history[i];
		if (h->start_ms < c->inc_start_ms)
			continue;
		steps[n].action = recovery_step_to_string(h->step);
		steps[n].result = h->result;
		steps[n].ms = (h->end_ms ? h->end_ms : daemon_now_ms()) - h->start_ms;
		n++;
	}
	if (!sv->store) {
		incident_discard(c->inc);
		c->inc = NULL;
		return;
	}
	r = incident_close(sv->store, c->inc, &c->ring, outcome, steps, n, counters_json(c),
			   sv_chan_realtime_us());
	c->inc = NULL;
	if (r < 0) {
		struct log_fields f = sv_chan_fields(c, NULL, r);
		log_struct(sv->log, LOG_WARNING, &f, "cannot write incident into %s: %s",
			   sv->store->dir, strerror(-r));
	}
}

/* Closes the incident later, so the frames after the recovery are in it too. */
void sv_incident_end_later(struct sv_chan *c, const char *outcome, unsigned ms)
{
	snprintf(c->inc_outcome, sizeof(c->inc_outcome), "%s", outcome);
	if (c->inc)
		sv_chan_arm(c->ev_inc, daemon_now_ms() + ms);
}

void sv_incident_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;

	/* A probe or a ladder still running decides the outcome; look again later. */
	if (recovery_busy(&c->rec) || c->live.waiting) {
		sv_chan_arm(c->ev_inc, daemon_now_ms() + SV_INCIDENT_AFTER_MS);
		return;
	}
	sv_incident_end(c, c->rec.state == RECOVERY_FAILED ? "failed" : c->inc_outcome);
}
