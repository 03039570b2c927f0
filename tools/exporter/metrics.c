/* m7bridge-exporter: the metric model and the Prometheus / OpenMetrics text rendering. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

const double mx_hist_bounds[MX_HBUCK] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120};

void mx_buf_printf(struct mx_buf *b, const char *fmt, ...)
{
	va_list ap;

	for (int tries = 0; !b->oom && tries < 2; tries++) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *s = realloc(b->s, cap);

		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

void mx_buf_free(struct mx_buf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

/* --- model ---------------------------------------------------------------------------- */

/* Grows *arr (of *n elements of size sz) by one zeroed element; NULL on -ENOMEM. */
static void *grow(void *arr_p, size_t *n, size_t sz)
{
	void **arr = arr_p;
	char *v = realloc(*arr, (*n + 1) * sz);

	if (!v)
		return NULL;
	*arr = v;
	memset(v + *n * sz, 0, sz);
	return v + (*n)++ * sz;
}

static void scopy(char *dst, size_t n, const char *src)
{
	size_t k = src ? strnlen(src, n - 1) : 0;

	if (k)
		memcpy(dst, src, k);
	dst[k] = '\0';
}

static const char *str(const cJSON *o, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* A non-negative number member, or -1 when absent. */
static double num(const cJSON *o, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(it) && it->valuedouble >= 0 ? it->valuedouble : -1;
}

static int apply_frame(struct mx_model *m, const cJSON *o, const char *ch)
{
	double port = num(o, "port"), len = num(o, "len");
	const char *name = str(o, "port_name");
	struct mx_port *p = NULL;

	if (port < 0)
		return 0;
	for (size_t i = 0; i < m->nports && !p; i++)
		if (m->ports[i].port == (int)port && strcmp(m->ports[i].channel, ch) == 0)
			p = &m->ports[i];
	if (!p) {
		p = grow(&m->ports, &m->nports, sizeof(*p));
		if (!p)
			return -ENOMEM;
		scopy(p->channel, sizeof(p->channel), ch);
		p->port = (int)port;
	}
	if (name)
		scopy(p->name, sizeof(p->name), name);
	p->frames++;
	p->bytes += len > 0 ? (uint64_t)len : 0;
	return 0;
}

static int apply_fault(struct mx_model *m, const cJSON *o, const char *ch)
{
	const char *kind = str(o, "kind"), *source = str(o, "source");
	double count = num(o, "count");
	struct mx_fault *f = NULL;

	if (!kind)
		return 0;
	for (size_t i = 0; i < m->nfaults && !f; i++)
		if (strcmp(m->faults[i].channel, ch) == 0 && strcmp(m->faults[i].kind, kind) == 0)
			f = &m->faults[i];
	if (!f) {
		f = grow(&m->faults, &m->nfaults, sizeof(*f));
		if (!f)
			return -ENOMEM;
		scopy(f->channel, sizeof(f->channel), ch);
		scopy(f->kind, sizeof(f->kind), kind);
	}
	scopy(f->source, sizeof(f->source), source ? source : "");
	/* `count` is the daemon's own count since it started: take it, so faults that
	 * happened before the exporter connected are counted too. A restarted daemon
	 * counts from 1 again: the counter resets with it, like the channel counters
	 * (taking the larger of the two hid its faults until it passed the old count). */
	f->count = count >= 0 ? (uint64_t)count : f->count + 1;
	return 0;
}

static int apply_heartbeat(struct mx_model *m, const cJSON *o, const char *ch)
{
	const cJSON *c, *cs = cJSON_GetObjectItemCaseSensitive(o, "counters");

	cJSON_ArrayForEach(c, cs)
	{
		struct mx_hb *h = NULL;

		if (!cJSON_IsNumber(c) || !c->string || c->valuedouble < 0)
			continue;
		for (size_t i = 0; i < m->nhbs && !h; i++)
			if (strcmp(m->hbs[i].channel, ch) == 0 &&
			    strcmp(m->hbs[i].name, c->string) == 0)
				h = &m->hbs[i];
		if (!h) {
			h = grow(&m->hbs, &m->nhbs, sizeof(*h));
			if (!h)
				return -ENOMEM;
			scopy(h->channel, sizeof(h->channel), ch);
			scopy(h->name, sizeof(h->name), c->string);
		}
		h->value = (uint64_t)c->valuedouble;
	}
	return 0;
}

static int apply_hello(struct mx_model *m, const cJSON *o, const char *ch)
{
	struct mx_boot *b = NULL;

	for (size_t i = 0; i < m->nboots && !b; i++)
		if (strcmp(m->boots[i].channel, ch) == 0)
			b = &m->boots[i];
	if (!b) {
		b = grow(&m->boots, &m->nboots, sizeof(*b));
		if (!b)
			return -ENOMEM;
		scopy(b->channel, sizeof(b->channel), ch);
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "new_boot")))
		b->boots++;
	return 0;
}

int mx_model_apply(struct mx_model *m, const cJSON *obj)
{
	const char *cls = str(obj, "class"), *ch = str(obj, "channel");

	if (!cls)
		return 0;
	if (strcmp(cls, "DROPPED") == 0) {
		double n = num(obj, "count");

		m->dropped += n > 0 ? (uint64_t)n : 0;
		return 0;
	}
	if (!ch)
		return 0;
	if (strcmp(cls, "FRAME") == 0)
		return apply_frame(m, obj, ch);
	if (strcmp(cls, "FAULT") == 0)
		return apply_fault(m, obj, ch);
	if (strcmp(cls, "HEARTBEAT") == 0)
		return apply_heartbeat(m, obj, ch);
	if (strcmp(cls, "HELLO") == 0)
		return apply_hello(m, obj, ch);
	return 0;
}

static int count_step(struct mx_model *m, const char *ch, const char *step, const char *cause,
		      const char *result)
{
	struct mx_step *s = NULL;

	for (size_t i = 0; i < m->nsteps && !s; i++)
		if (strcmp(m->steps[i].channel, ch) == 0 && strcmp(m->steps[i].step, step) == 0 &&
		    strcmp(m->steps[i].cause, cause) == 0 &&
		    strcmp(m->steps[i].result, result) == 0)
			s = &m->steps[i];
	if (!s) {
		s = grow(&m->steps, &m->nsteps, sizeof(*s));
		if (!s)
			return -ENOMEM;
		scopy(s->channel, sizeof(s->channel), ch);
		scopy(s->step, sizeof(s->step), step);
		scopy(s->cause, sizeof(s->cause), cause);
		scopy(s->result, sizeof(s->result), result);
	}
	s->count++;
	return 0;
}

static int observe(struct mx_model *m, const char *ch, double seconds)
{
	struct mx_hist *h = NULL;

	for (size_t i = 0; i < m->nhists && !h; i++)
		if (strcmp(m->hists[i].channel, ch) == 0)
			h = &m->hists[i];
	if (!h) {
		h = grow(&m->hists, &m->nhists, sizeof(*h));
		if (!h)
			return -ENOMEM;
		scopy(h->channel, sizeof(h->channel), ch);
	}
	for (size_t i = 0; i < MX_HBUCK; i++)
		if (seconds <= mx_hist_bounds[i])
			h->bucket[i]++;
	h->count++;
	h->sum += seconds;
	return 0;
}

void mx_model_daemon(struct mx_model *m, int pid, double uptime_ms, double now_us)
{
	bool known = m->daemon_pid > 0 || m->daemon_uptime_ms > 0;

	if (known && ((pid > 0 && m->daemon_pid > 0 && pid != m->daemon_pid) ||
		      (uptime_ms >= 0 && uptime_ms < m->daemon_uptime_ms))) {
		m->restarted = true;
		m->restart_us = uptime_ms >= 0 ? now_us - uptime_ms * 1e3 : now_us;
	}
	m->daemon_pid = pid;
	m->daemon_uptime_ms = uptime_ms;
}

int mx_model_incidents(struct mx_model *m, const cJSON *reply)
{
	const cJSON *inc, *list = cJSON_GetObjectItemCaseSensitive(reply, "incidents");
	int64_t max = 0;

	/* A restarted daemon numbers its incidents from 1 again, or after those it kept on
	 * disk: only those that began before it started are the ones already counted. */
	if (m->restarted) {
		int64_t old = 0;

		cJSON_ArrayForEach(inc, list)
		{
			double seq = num(inc, "seq"), start = num(inc, "start_us");

			if (start >= 0 && start < m->restart_us && seq > (double)old)
				old = (int64_t)seq;
		}
		m->last_incident = old < m->last_incident ? old : m->last_incident;
		m->restarted = false;
	}

	cJSON_ArrayForEach(inc, list)
	{
		double seq = num(inc, "seq");

		if (seq > (double)max)
			max = (int64_t)seq;
	}
	/* A restarted daemon numbers incidents from 1 again. */
	if (max < m->last_incident)
		m->last_incident = 0;
	int64_t counted = m->last_incident;

	cJSON_ArrayForEach(inc, list)
	{
		double seq = num(inc, "seq"), start = num(inc, "start_us"),
		       end = num(inc, "end_us");
		const char *ch = str(inc, "channel"), *outcome = str(inc, "outcome");
		const char *cause = str(inc, "kind");
		const cJSON *st;

		/* Open incidents are counted once they close; later ones wait for them so
		 * that "highest seq counted" stays a complete watermark. */
		if (seq <= (double)m->last_incident || !ch || !outcome)
			continue;
		if (strcmp(outcome, "open") == 0)
			break;
		/* A step under way when its incident reached its cap is the first step of
		 * the incident that continues it, which gives its result: counted there. */
		bool continued = strcmp(outcome, "continued") == 0;
		cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(inc, "steps"))
		{
			const char *a = str(st, "action"), *r = str(st, "result");

			if (continued && r && strcmp(r, "running") == 0)
				continue;
			if (a && count_step(m, ch, a, cause ? cause : "unknown", r ? r : "") < 0)
				return -ENOMEM;
		}
		if (start >= 0 && end >= start && observe(m, ch, (end - start) / 1e6) < 0)
			return -ENOMEM;
		counted = (int64_t)seq;
	}
	m->last_incident = counted;
	return 0;
}

void mx_model_clear(struct mx_model *m)
{
	free(m->ports);
	free(m->faults);
	free(m->hbs);
	free(m->steps);
	free(m->hists);
	free(m->boots);
	memset(m, 0, sizeof(*m));
}

/* --- rendering ------------------------------------------------------------------------ */

/* Appends key="value" (escaped as the text format says) to a label set. The buffers
 * are sized for the longest values the daemon sends (a firmware name of 458 bytes); a
 * value that still does not fit is cut between characters, never inside an escape or a
 * UTF-8 sequence, and the label set stays well-formed. */
static void lab(char *dst, size_t n, const char *key, const char *val)
{
	size_t k = strlen(dst);
	int w = snprintf(dst + k, n - k, "%s%s=\"", k ? "," : "", key);

	if (w < 0 || (size_t)w + 2 > n - k) {
		dst[k] = '\0';
		return;
	}
	k += (size_t)w;
	for (const unsigned char *p = (const unsigned char *)val; *p;) {
		size_t len = *p < 0xc0 ? 1 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : 4;
		bool esc = *p == '\\' || *p == '"' || *p == '\n';

		if (strnlen((const char *)p, len) < len || k + (esc ? 2 : len) + 2 > n)
			break;
		if (esc) {
			dst[k++] = '\\';
			dst[k++] = *p == '\n' ? 'n' : (char)*p;
		} else {
			memcpy(dst + k, p, len);
			k += len;
		}
		p += esc ? 1 : len;
	}
	dst[k++] = '"';
	dst[k] = '\0';
}

/* Family metadata: counters carry _total on samples; OpenMetrics names the family
 * without it, Prometheus text with it. Info families likewise with _info. */
static void head(struct mx_buf *b, bool om, const char *base, const char *type, const char *help)
{
	const char *sfx = "";

	if (strcmp(type, "counter") == 0 && !om)
		sfx = "_total";
	if (strcmp(type, "info") == 0 && !om) {
		sfx = "_info";
		type = "gauge";
	}
	mx_buf_printf(b, "# HELP %s%s %s\n# TYPE %s%s %s\n", base, sfx, help, base, sfx, type);
}

static void sample(struct mx_buf *b, const char *name, const char *sfx, const char *labels,
		   double v)
{
	if (v == (double)(uint64_t)v && v >= 0 && v < 1e18)
		mx_buf_printf(b, "%s%s{%s} %" PRIu64 "\n", name, sfx, labels, (uint64_t)v);
	else
		mx_buf_printf(b, "%s%s{%s} %.9g\n", name, sfx, labels, v);
}

/* STATUS members rendered per channel: counters (scaled to base units) and gauges. */
static const struct {
	const char *member, *name, *type, *help;
	double scale;
} chan_fields[] = {
	{"frames", "m7bridge_channel_frames", "counter", "Valid wire frames received (all types).",
	 1},
	{"data_frames", "m7bridge_channel_data_frames", "counter",
	 "DATA frames (UART captures) received and published.", 1},
	{"bytes", "m7bridge_channel_received_bytes", "counter", "Bytes read from the tty.", 1},
	{"seq_gaps", "m7bridge_channel_lost_frames", "counter",
	 "Frames lost between the M7 and the daemon (gaps in the M7's seq).", 1},
	{"bad_crc", "m7bridge_channel_crc_errors", "counter",
	 "Candidate frames rejected for a CRC mismatch.", 1},
	{"resyncs", "m7bridge_channel_rejected_frames", "counter",
	 "Candidate frames rejected for any reason (CRC, length, version).", 1},
	{"noise_bytes", "m7bridge_channel_noise_bytes", "counter",
	 "Bytes that were not part of a valid frame.", 1},
	{"reopens", "m7bridge_channel_reopens", "counter", "Times the tty was opened again.", 1},
	{"unknown_types", "m7bridge_channel_unknown_frames", "counter",
	 "Valid frames of a type the daemon does not know.", 1},
	{"recoveries", "m7bridge_channel_recoveries", "counter", "Recoveries started.", 1},
	{"sends", "m7bridge_channel_sends", "counter", "Send requests acknowledged by the M7.", 1},
	{"send_errors", "m7bridge_channel_send_errors", "counter", "Send requests that failed.", 1},
	{"write_stalls", "m7bridge_channel_write_stalls", "counter",
	 "tty writes that blocked 50 ms or more (the M7 is not taking messages).", 1},
	{"write_stall_ms", "m7bridge_channel_write_stall_seconds", "counter",
	 "Time spent in stalled tty writes.", 1e-3},
	{"kick_failures", "m7bridge_channel_kick_failures", "counter",
	 "imx_rproc_kick failures seen in the kernel log.", 1},
	{"untimed_frames", "m7bridge_channel_untimed_frames", "counter",
	 "DATA frames published with M7 ticks only (clock not mapped).", 1},
	{"send_queue", "m7bridge_channel_send_queue_requests", "gauge",
	 "Send requests waiting or in flight.", 1},
	{"credits", "m7bridge_channel_credits", "gauge", "Host frames the M7 can take now.", 1},
};

/* Firmware HEARTBEAT counters with their metric names (credits is a gauge, left out). */
static const struct {
	const char *counter, *name, *help;
} hb_fields[] = {
	{"captures_dropped", "m7bridge_m7_dropped_captures",
	 "UART captures the M7 dropped before sending (M7-side drops)."},
	{"captures", "m7bridge_m7_captures", "UART captures made by the M7."},
	{"uart_rx_bytes", "m7bridge_m7_uart_received_bytes", "Bytes the M7 received on its UARTs."},
	{"uart_tx_bytes", "m7bridge_m7_uart_transmitted_bytes", "Bytes the M7 sent on its UARTs."},
	{"uart_overruns", "m7bridge_m7_uart_overruns", "UART receive overruns on the M7."},
	{"uart_line_errors", "m7bridge_m7_uart_line_errors",
	 "UART framing/parity errors on the M7."},
	{"host_frames", "m7bridge_m7_host_frames", "Frames the M7 received from the host."},
	{"host_bad", "m7bridge_m7_host_bad_frames", "Host frames the M7 rejected."},
	{"link_stalls", "m7bridge_m7_link_stalls", "Times the M7 could not send to the host."},
	{"logs_dropped", "m7bridge_m7_dropped_logs", "LOG lines the M7 dropped."},
	{"noise_bytes", "m7bridge_m7_noise_bytes", "Bytes the M7 received that were not frames."},
	{"syncs_dropped", "m7bridge_m7_dropped_syncs",
	 "Clock SYNCs the M7 could not answer (reply queue full)."},
	{"acks_dropped", "m7bridge_m7_dropped_acks",
	 "ACKs the M7 never sent (queue full or voided by HOST_HELLO)."},
	{"host_no_credit", "m7bridge_m7_host_no_credit_frames",
	 "Host SEND/CONFIG frames the M7 refused for lack of credit."},
	{"host_voided", "m7bridge_m7_host_voided_frames",
	 "Queued host SEND/CONFIG frames a HOST_HELLO discarded unexecuted."},
};

static const char *const states[] = {"down", "opening", "up", "recovering", "reloading", "failed"};

static const cJSON *channels(const cJSON *status)
{
	return status ? cJSON_GetObjectItemCaseSensitive(status, "channels") : NULL;
}

static void render_channels(struct mx_buf *b, const cJSON *status, bool om)
{
	const cJSON *ch;
	char l[MX_LABELS];

	head(b, om, "m7bridge_channel_state", "gauge",
	     "Link state of the channel: 1 for the current state.");
	cJSON_ArrayForEach(ch, channels(status))
	{
		const char *name = str(ch, "name"), *st = str(ch, "state");

		for (size_t i = 0; name && st && i < sizeof(states) / sizeof(states[0]); i++) {
			l[0] = '\0';
			lab(l, sizeof(l), "channel", name);
			lab(l, sizeof(l), "state", states[i]);
			sample(b, "m7bridge_channel_state", "", l, strcmp(st, states[i]) == 0);
		}
	}
	for (size_t f = 0; f < sizeof(chan_fields) / sizeof(chan_fields[0]); f++) {
		bool any = false;

		cJSON_ArrayForEach(ch, channels(status))
		{
			double v = num(ch, chan_fields[f].member);
			const char *name = str(ch, "name");

			if (v < 0 || !name)
				continue;
			if (!any)
				head(b, om, chan_fields[f].name, chan_fields[f].type,
				     chan_fields[f].help);
			any = true;
			l[0] = '\0';
			lab(l, sizeof(l), "channel", name);
			sample(b, chan_fields[f].name,
			       strcmp(chan_fields[f].type, "counter") == 0 ? "_total" : "", l,
			       v * chan_fields[f].scale);
		}
	}
	bool any = false;

	/* STATUS has no member for them: the books hold them per port, once the next boot's
	 * BOOT_INFO settled the boot that lost them. */
	cJSON_ArrayForEach(ch, channels(status))
	{
		const cJSON *acc = cJSON_GetObjectItemCaseSensitive(ch, "accounting"), *p;
		const char *name = str(ch, "name");
		double sum = 0;

		if (!cJSON_IsObject(acc) || !name)
			continue;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(acc, "ports"))
		{
			double v = num(p, "lost_reboot");
			if (v > 0)
				sum += v;
		}
		if (!any)
			head(b, om, "m7bridge_channel_reboot_lost_frames", "counter",
			     "DATA frames the M7 had queued and lost when it rebooted.");
		any = true;
		l[0] = '\0';
		lab(l, sizeof(l), "channel", name);
		sample(b, "m7bridge_channel_reboot_lost_frames", "_total", l, sum);
	}
	any = false;
	cJSON_ArrayForEach(ch, channels(status))
	{
		const cJSON *fw = cJSON_GetObjectItemCaseSensitive(ch, "firmware");
		const char *name = str(ch, "name"), *fwn = str(fw, "name");
		double boot = num(fw, "boot_id");
		char id[16];

		if (!name || !fwn)
			continue;
		if (!any)
			head(b, om, "m7bridge_firmware", "info",
			     "Firmware announced in the M7's HELLO.");
		any = true;
		snprintf(id, sizeof(id), "%08" PRIx64, boot >= 0 ? (uint64_t)boot : 0);
		l[0] = '\0';
		lab(l, sizeof(l), "channel", name);
		lab(l, sizeof(l), "name", fwn);
		lab(l, sizeof(l), "boot_id", id);
		sample(b, "m7bridge_firmware", "_info", l, 1);
	}
	/* The clock mapping, when the daemon reports one: STATUS "clock" carries the CLOCK
	 * object's members, the numbers only while "mapped". */
	static const struct {
		const char *member, *name, *help;
		double scale;
	} clk[] = {
		{"offset_ns", "m7bridge_clock_offset_seconds",
		 "CLOCK_MONOTONIC time of the M7's tick 0 (ticks counted at the nominal rate).",
		 1e-9},
		{"rate_ppm", "m7bridge_clock_drift_ratio",
		 "Rate of the M7 clock against CLOCK_MONOTONIC, minus 1 (positive: fast).", 1e-6},
		{"err_ns", "m7bridge_clock_uncertainty_seconds",
		 "Error bound of M7 timestamps mapped to Linux time, at the newest exchange.",
		 1e-9},
	};
	for (size_t f = 0; f < sizeof(clk) / sizeof(clk[0]); f++) {
		any = false;
		cJSON_ArrayForEach(ch, channels(status))
		{
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(ch, "clock");
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, clk[f].member);
			const char *name = str(ch, "name");

			if (!cJSON_IsNumber(v) || !name)
				continue;
			if (!any)
				head(b, om, clk[f].name, "gauge", clk[f].help);
			any = true;
			l[0] = '\0';
			lab(l, sizeof(l), "channel", name);
			sample(b, clk[f].name, "", l, v->valuedouble * clk[f].scale);
		}
	}
}

/* The label set of one client in STATUS; false for a client without an id. */
static bool client_labels(const cJSON *c, double self, char *l, size_t n)
{
	double cid = num(c, "id"), p = num(c, "pid");
	char v[24];

	if (cid < 0)
		return false;
	l[0] = '\0';
	snprintf(v, sizeof(v), "%.0f", cid);
	lab(l, n, "client", v);
	if (p >= 0) {
		snprintf(v, sizeof(v), "%.0f", p);
		lab(l, n, "pid", v);
	}
	lab(l, n, "self", cid == self ? "true" : "false");
	return true;
}

static void render_clients(struct mx_buf *b, const cJSON *status, bool om)
{
	static const struct {
		const char *member, *name, *type, *sfx, *help;
	} fields[] = {
		{"dropped", "m7bridge_client_dropped_objects", "counter", "_total",
		 "Streamed objects dropped because the client fell behind."},
		{"queued_bytes", "m7bridge_client_queued_bytes", "gauge", "",
		 "Bytes waiting in the client's output queue."},
	};
	const cJSON *c, *list = cJSON_GetObjectItemCaseSensitive(status, "clients");
	double self = num(status, "client_id");
	char l[MX_LABELS];
	int n = 0;

	head(b, om, "m7bridge_clients", "gauge", "Clients connected to the daemon's socket.");
	cJSON_ArrayForEach(c, list) n++;
	mx_buf_printf(b, "m7bridge_clients %d\n", n);
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		head(b, om, fields[f].name, fields[f].type, fields[f].help);
		cJSON_ArrayForEach(c, list)
		{
			double v = num(c, fields[f].member);

			if (client_labels(c, self, l, sizeof(l)))
				sample(b, fields[f].name, fields[f].sfx, l, v > 0 ? v : 0);
		}
	}
}

/* The label set of one UART port. */
static void port_labels(const struct mx_port *p, char *l, size_t n)
{
	char port[16];

	snprintf(port, sizeof(port), "%d", p->port);
	l[0] = '\0';
	lab(l, n, "channel", p->channel);
	lab(l, n, "port", port);
	if (p->name[0])
		lab(l, n, "port_name", p->name);
}

/* A HEARTBEAT counter of channel ch as the stream last carried it, or -1. */
static double hb_value(const struct mx_model *m, const char *ch, const char *counter)
{
	for (size_t i = 0; i < m->nhbs; i++)
		if (strcmp(m->hbs[i].channel, ch) == 0 && strcmp(m->hbs[i].name, counter) == 0)
			return (double)m->hbs[i].value;
	return -1;
}

/* The firmware's counters of each channel in STATUS: from its m7_counters, summed by the
 * daemon across the M7's u32 wraps and reboots, so they never fall back; from the last
 * HEARTBEAT only for a daemon that sends no m7_counters. Without STATUS, none: a raw
 * value after a summed one would read as a reset and then a jump. */
static void render_m7(struct mx_buf *b, const struct mx_model *m, const cJSON *status, bool om)
{
	char l[MX_LABELS];

	for (size_t f = 0; f < sizeof(hb_fields) / sizeof(hb_fields[0]); f++) {
		const cJSON *ch;
		bool any = false;

		cJSON_ArrayForEach(ch, channels(status))
		{
			const cJSON *mc = cJSON_GetObjectItemCaseSensitive(ch, "m7_counters");
			const char *name = str(ch, "name");
			double v;

			if (!name)
				continue;
			v = mc ? num(mc, hb_fields[f].counter)
			       : hb_value(m, name, hb_fields[f].counter);
			if (v < 0)
				continue;
			if (!any)
				head(b, om, hb_fields[f].name, "counter", hb_fields[f].help);
			any = true;
			l[0] = '\0';
			lab(l, sizeof(l), "channel", name);
			sample(b, hb_fields[f].name, "_total", l, v);
		}
	}
}

/* One channel's recovery duration histogram. */
static void render_hist(struct mx_buf *b, const struct mx_hist *h)
{
	char l[MX_LABELS], le[32];

	for (size_t k = 0; k <= MX_HBUCK; k++) {
		if (k < MX_HBUCK)
			snprintf(le, sizeof(le), "%g", mx_hist_bounds[k]);
		l[0] = '\0';
		lab(l, sizeof(l), "channel", h->channel);
		lab(l, sizeof(l), "le", k < MX_HBUCK ? le : "+Inf");
		sample(b, "m7bridge_recovery_duration_seconds", "_bucket", l,
		       (double)(k < MX_HBUCK ? h->bucket[k] : h->count));
	}
	l[0] = '\0';
	lab(l, sizeof(l), "channel", h->channel);
	sample(b, "m7bridge_recovery_duration_seconds", "_sum", l, h->sum);
	sample(b, "m7bridge_recovery_duration_seconds", "_count", l, (double)h->count);
}

/* What the exporter counted from the stream and from incidents; status (NULL while the
 * daemon does not answer) names the channels. */
static void render_stream(struct mx_buf *b, const struct mx_model *m, const cJSON *status, bool om)
{
	char l[MX_LABELS];
	const cJSON *ch;

	head(b, om, "m7bridge_port_frames", "counter",
	     "FRAME objects (UART captures) seen by the exporter, per M7 UART port.");
	for (size_t i = 0; i < m->nports; i++) {
		port_labels(&m->ports[i], l, sizeof(l));
		sample(b, "m7bridge_port_frames", "_total", l, (double)m->ports[i].frames);
	}
	head(b, om, "m7bridge_port_bytes", "counter",
	     "Captured UART bytes seen by the exporter, per M7 UART port.");
	for (size_t i = 0; i < m->nports; i++) {
		port_labels(&m->ports[i], l, sizeof(l));
		sample(b, "m7bridge_port_bytes", "_total", l, (double)m->ports[i].bytes);
	}
	head(b, om, "m7bridge_faults", "counter",
	     "Faults the daemon noticed, by kind (kick_timeout = imx_rproc_kick failures).");
	for (size_t i = 0; i < m->nfaults; i++) {
		l[0] = '\0';
		lab(l, sizeof(l), "channel", m->faults[i].channel);
		lab(l, sizeof(l), "kind", m->faults[i].kind);
		lab(l, sizeof(l), "source", m->faults[i].source);
		sample(b, "m7bridge_faults", "_total", l, (double)m->faults[i].count);
	}
	head(b, om, "m7bridge_m7_boots", "counter",
	     "M7 boots seen (HELLO with a new boot_id) since the exporter started.");
	for (size_t i = 0; i < m->nboots; i++) {
		l[0] = '\0';
		lab(l, sizeof(l), "channel", m->boots[i].channel);
		sample(b, "m7bridge_m7_boots", "_total", l, (double)m->boots[i].boots);
	}
	head(b, om, "m7bridge_recovery_steps", "counter",
	     "Recovery steps of closed incidents, by step, cause and result.");
	for (size_t i = 0; i < m->nsteps; i++) {
		l[0] = '\0';
		lab(l, sizeof(l), "channel", m->steps[i].channel);
		lab(l, sizeof(l), "step", m->steps[i].step);
		lab(l, sizeof(l), "cause", m->steps[i].cause);
		lab(l, sizeof(l), "result", m->steps[i].result);
		sample(b, "m7bridge_recovery_steps", "_total", l, (double)m->steps[i].count);
	}
	head(b, om, "m7bridge_recovery_duration_seconds", "histogram",
	     "Time from a fault to the end of its incident.");
	for (size_t i = 0; i < m->nhists; i++)
		render_hist(b, &m->hists[i]);
	/* Every channel has one from the start, at zero: rate() and increase() see the
	 * first incident only on a series that had a sample before it. */
	cJSON_ArrayForEach(ch, channels(status))
	{
		const char *name = str(ch, "name");
		struct mx_hist zero = {0};
		bool seen = !name;

		for (size_t i = 0; !seen && i < m->nhists; i++)
			seen = strcmp(m->hists[i].channel, name) == 0;
		if (seen)
			continue;
		scopy(zero.channel, sizeof(zero.channel), name);
		render_hist(b, &zero);
	}
}

int mx_render(const struct mx_model *m, const cJSON *status, const struct mx_proc *proc, bool om,
	      struct mx_buf *b)
{
	char l[MX_LABELS];

	head(b, om, "m7bridge_up", "gauge",
	     "Whether the daemon answered the exporter's status request.");
	mx_buf_printf(b, "m7bridge_up %d\n", status ? 1 : 0);
	head(b, om, "m7bridge_exporter_dropped_objects", "counter",
	     "Streamed objects the daemon dropped for the exporter (it fell behind).");
	mx_buf_printf(b, "m7bridge_exporter_dropped_objects_total %" PRIu64 "\n", m->dropped);
	head(b, om, "m7bridge_exporter_reconnects", "counter",
	     "Times the exporter connected to the daemon again.");
	mx_buf_printf(b, "m7bridge_exporter_reconnects_total %" PRIu64 "\n", m->reconnects);
	if (status) {
		const char *rel = str(status, "release");
		double up = num(status, "uptime_ms");

		head(b, om, "m7bridge_daemon", "info", "The daemon's release.");
		l[0] = '\0';
		lab(l, sizeof(l), "release", rel ? rel : "");
		sample(b, "m7bridge_daemon", "_info", l, 1);
		if (up >= 0) {
			head(b, om, "m7bridge_daemon_uptime_seconds", "gauge",
			     "Time since the daemon started.");
			mx_buf_printf(b, "m7bridge_daemon_uptime_seconds %.3f\n", up / 1e3);
		}
		render_channels(b, status, om);
		render_clients(b, status, om);
		render_m7(b, m, status, om);
	}
	if (proc && proc->known) {
		head(b, om, "m7bridge_daemon_cpu_seconds", "counter",
		     "User and system CPU time of the daemon process.");
		mx_buf_printf(b, "m7bridge_daemon_cpu_seconds_total %.2f\n", proc->cpu_seconds);
		head(b, om, "m7bridge_daemon_resident_memory_bytes", "gauge",
		     "Resident set size of the daemon process.");
		mx_buf_printf(b, "m7bridge_daemon_resident_memory_bytes %" PRIu64 "\n",
			      proc->rss_bytes);
	}
	render_stream(b, m, status, om);
	if (om)
		mx_buf_printf(b, "# EOF\n");
	return b->oom ? -ENOMEM : 0;
}

int mx_proc_read(const char *proc_root, int pid, struct mx_proc *out)
{
	char path[256], buf[1024];
	unsigned long long ut, st, pages = 0, rss = 0;
	FILE *f;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/%d/stat", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);

	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields restart after the last ')'. */
	const char *p = strrchr(buf, ')');

	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EBADMSG;
	snprintf(path, sizeof(path), "%s/%d/statm", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	int k = fscanf(f, "%llu %llu", &pages, &rss);

	fclose(f);
	if (k != 2)
		return -EBADMSG;
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);

	out->known = true;
	out->pid = pid;
	out->cpu_seconds = (double)(ut + st) / (double)(hz > 0 ? hz : 100);
	out->rss_bytes = rss * (unsigned long long)(page > 0 ? page : 4096);
	return 0;
}
