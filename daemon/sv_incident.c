/* The supervisor's incident records: opened by a fault or a request, closed a little
 * after the outcome so the frames that follow are in them too. */
#include "sv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

/* steps_dropped: steps of the incident that no longer fit the ladder's history. */
static cJSON *counters_json(struct sv_chan *c, uint64_t steps_dropped)
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
	cJSON_AddNumberToObject(o, "steps_dropped", (double)steps_dropped);
	f = cJSON_AddObjectToObject(o, "faults");
	for (i = 0; f && i < SV_FAULT_KINDS && c->counts[i].kind; i++)
		cJSON_AddNumberToObject(f, c->counts[i].kind, (double)c->counts[i].n);
	return o;
}

/* The first step of an incident that continues c's open one: the step under way (the
 * closed one shows it `running`), else the next; never one the closed one finished. */
static uint64_t continued_first_step(const struct sv_chan *c)
{
	for (size_t i = 0; i < c->rec.history_n; i++)
		if (c->rec.history[i].seq == c->rec.steps_begun && c->rec.history[i].result > 0)
			return c->rec.steps_begun;
	return c->rec.steps_begun + 1;
}

void sv_incident_begin(struct sv_chan *c, const char *kind, const char *source, const char *detail)
{
	struct supervisor *sv = c->sv;
	uint64_t continues = 0, first_step;

	if (c->inc) {
		/* Still open: a new fault extends it rather than starting another. */
		evtimer_del(c->ev_inc);
		if (incident_extend(c->inc, daemon_now_ms()))
			return;
		/* At its cap: written now, this fault opens the next one. */
		continues = c->inc->seq;
		first_step = continued_first_step(c);
		sv_incident_end(c, "continued");
	} else {
		/* Opened for a ladder or reload already under way (its first actions ran
		 * before): its steps are this incident's, the first one included. Steps are
		 * told apart by number, not time: every ladder that runs while it is open is
		 * its own too. */
		first_step = recovery_busy(&c->rec) ? c->rec.first_step : c->rec.steps_begun + 1;
	}
	c->inc = incident_open(sv->store ? sv->store : &sv->ram_store, &c->ring,
			       channel_name(c->ch), kind, source, detail, sv_chan_realtime_us());
	c->inc_first_step = first_step;
	if (c->inc) {
		c->inc->open_ms = daemon_now_ms();
		c->inc->continues = continues;
	}
	/* Now, before a recovery step restarts the M7 and its trace ring with it. */
	if (c->inc && sv->store)
		c->inc->evidence = sv_evidence_gather(c);
}

/* The steps of c's open incident so far, oldest first; a step under way is `running`. */
static size_t incident_steps(struct sv_chan *c, struct incident_step *steps)
{
	size_t i, n = 0;

	for (i = 0; i < c->rec.history_n; i++) {
		const struct recovery_history *h = &c->rec.history[i];
		if (h->seq < c->inc_first_step)
			continue;
		steps[n].action = recovery_step_to_string(h->step);
		steps[n].result = h->result;
		steps[n].why = h->why;
		steps[n].ms = (h->end_ms ? h->end_ms : daemon_now_ms()) - h->start_ms;
		n++;
	}
	return n;
}

cJSON *sv_incident_summary_open(struct sv_chan *c)
{
	struct incident_step steps[RECOVERY_HISTORY_MAX];

	return incident_summary_open(c->inc, steps, incident_steps(c, steps));
}

void sv_incident_end(struct sv_chan *c, const char *outcome)
{
	struct supervisor *sv = c->sv;
	struct incident_step steps[RECOVERY_HISTORY_MAX];
	size_t n;
	uint64_t begun;
	int r;

	evtimer_del(c->ev_inc);
	if (!c->inc)
		return;
	n = incident_steps(c, steps);
	if (!sv->store) {
		incident_discard(c->inc);
		c->inc = NULL;
		return;
	}
	begun = c->rec.steps_begun >= c->inc_first_step ? c->rec.steps_begun - c->inc_first_step + 1
							: 0;
	sv_evidence_kernel_after(c, c->inc->evidence);
	c->inc->close_ms = daemon_now_ms();
	r = incident_close(sv->store, c->inc, &c->ring, outcome, steps, n,
			   counters_json(c, begun > n ? begun - n : 0), sv_chan_realtime_us());
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

	/* A probe or a ladder still running decides the outcome; look again later. Past
	 * its cap it is written now and goes on in a new one, as for a fault. */
	if (recovery_busy(&c->rec) || c->live.waiting) {
		if (c->inc && incident_full(c->inc, daemon_now_ms())) {
			char kind[sizeof(c->inc->kind)], source[sizeof(c->inc->source)],
				detail[sizeof(c->inc->detail)];

			memcpy(kind, c->inc->kind, sizeof(kind));
			memcpy(source, c->inc->source, sizeof(source));
			memcpy(detail, c->inc->detail, sizeof(detail));
			sv_incident_begin(c, kind, source, detail);
			if (c->inc)
				c->inc->events = 0; /* no fault of its own */
		}
		sv_chan_arm(c->ev_inc, daemon_now_ms() + SV_INCIDENT_AFTER_MS);
		return;
	}
	sv_incident_end(c, c->rec.state == RECOVERY_FAILED ? "failed" : c->inc_outcome);
}

/* The directory incidents go to: incident_dir, else StateDirectory=/incidents under
 * systemd; "" (RAM only) elsewhere. */
static void store_dir(const struct supervisor_daemon_conf *cfg, char *dir, size_t cap)
{
	const char *sd = getenv("STATE_DIRECTORY");

	if (cfg->incident_dir[0])
		snprintf(dir, cap, "%s", cfg->incident_dir);
	else if (sd)
		snprintf(dir, cap, "%.*s/incidents", (int)strcspn(sd, ":"), sd);
	else
		dir[0] = '\0';
}

int sv_incident_open_store(struct supervisor *sv, const struct supervisor_daemon_conf *cfg)
{
	char dir[sizeof(sv->cfg.incident_dir)];
	struct incident_store *s = NULL;
	struct log_fields f = {0};
	int r = 0;

	store_dir(cfg, dir, sizeof(dir));
	if (sv->store && strcmp(sv->store->dir, dir) == 0 && incident_store_check(sv->store) == 0 &&
	    sv->store->max_files == cfg->incident_max_files &&
	    sv->store->max_bytes == (uint64_t)cfg->incident_max_kib * 1024)
		return 0; /* unchanged and still safe */
	if (dir[0])
		r = incident_store_new(dir, geteuid(), cfg->incident_max_files,
				       (uint64_t)cfg->incident_max_kib * 1024, &s);
	/* Numbering never goes back, whichever store the next incident lands in. */
	if (sv->store && sv->store->next_seq > sv->ram_store.next_seq)
		sv->ram_store.next_seq = sv->store->next_seq;
	if (s && s->next_seq < sv->ram_store.next_seq)
		s->next_seq = sv->ram_store.next_seq;
	sv->store = incident_store_free(sv->store);
	sv->store = s;
	snprintf(sv->cfg.incident_dir, sizeof(sv->cfg.incident_dir), "%s", dir);
	if (r == -EPERM)
		return log_struct_errno(sv->log, LOG_ERR, &f, r,
					"incident directory %s refused: it must be owned by uid %u "
					"and not writable by group or others; incidents are kept "
					"in memory only",
					dir, (unsigned)geteuid());
	if (r < 0)
		return log_struct_errno(sv->log, LOG_ERR, &f, r,
					"incident directory %s: %m: incidents are kept in memory "
					"only",
					dir);
	return 0;
}
