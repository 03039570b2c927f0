/* m7bridgectl top: a live health view of every channel, refreshed every second. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "ctl_config.h"

#if HAVE_NCURSES
#include <curses.h>
#include <term.h>
#endif

#define HISTORY	   60  /* seconds of frames/s kept for the sparkline */
#define SPARK_COLS 30  /* two seconds per column: a minute in 30 columns */
#define MAX_CHANS  64  /* the daemon's limit (CONF_MAX_CHANNELS) */
#define MAX_PORTS  16  /* rows per channel; frames of any more are summed in one */
#define MAX_LINES  512 /* taller than a terminal; past it the hint says there is more */
#define LINE_CAP   512

struct top_port {
	int port;
	char name[32];
	int64_t frames, bytes; /* this second */
	int64_t fps[HISTORY];  /* ring, one slot a second */
	int64_t bps[HISTORY];
};

struct top_chan {
	char name[64];
	struct top_port port[MAX_PORTS];
	size_t nports;
	struct top_port others; /* ports beyond MAX_PORTS, summed */
	bool has_others;
	char state[24];
	int64_t since_ns; /* CLOCK_MONOTONIC of the last state change seen, 0 unknown */
	/* the last incident: kind, duration, outcome */
	char last_cause[48], last_outcome[24];
	int64_t last_ms;
	bool have_incident;
};

struct top {
	struct ctl *ctl;
	const char *only;		/* -c */
	struct top_chan *ch[MAX_CHANS]; /* allocated as channels appear */
	size_t nch;
	unsigned tick; /* seconds since start */
	int64_t start_ns;
	bool utf8, incidents_ok;
	struct m7b_event *st; /* the latest STATUS */
	char line[MAX_LINES][LINE_CAP];
	int nlines;
	bool cut; /* more lines than MAX_LINES: the screen says there is more */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static struct top_chan *chan_of(struct top *t, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < t->nch; i++)
		if (strcmp(t->ch[i]->name, name) == 0)
			return t->ch[i];
	if (t->nch == MAX_CHANS)
		return NULL;
	struct top_chan *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	t->ch[t->nch++] = c;
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

static struct top_port *port_of(struct top_chan *c, int port, const char *name)
{
	for (size_t i = 0; i < c->nports; i++)
		if (c->port[i].port == port)
			return &c->port[i];
	if (c->nports == MAX_PORTS) {
		/* Counted, not dropped: one row sums the ports that have none. */
		c->has_others = true;
		return &c->others;
	}
	/* Kept in port order so the rows do not move around. */
	size_t k = c->nports++;

	while (k > 0 && c->port[k - 1].port > port) {
		c->port[k] = c->port[k - 1];
		k--;
	}
	memset(&c->port[k], 0, sizeof(c->port[k]));
	c->port[k].port = port;
	snprintf(c->port[k].name, sizeof(c->port[k].name), "%s", name ? name : "");
	return &c->port[k];
}

static void on_event(struct top *t, const struct m7b_event *ev)
{
	struct top_chan *c = chan_of(t, ev->channel);

	if (!c)
		return;
	if (ev->type == M7B_EV_FRAME) {
		struct top_port *p = port_of(c, ev->port, m7b_event_get_string(ev, "port_name"));

		if (p) {
			p->frames++;
			p->bytes += (int64_t)ev->data_len;
		}
	} else if (ev->type == M7B_EV_STATE && ev->state) {
		/* The snapshot after watch is no change: its moment is unknown. */
		if (strcmp(c->state, ev->state) != 0 &&
		    !(ev->reason && !strcmp(ev->reason, "snapshot")))
			c->since_ns = ctl_monotonic_ns();
		snprintf(c->state, sizeof(c->state), "%s", ev->state);
	}
}

/* One second passed: this second's counts go into the rings. */
static void rotate(struct top *t)
{
	unsigned slot = t->tick % HISTORY;

	for (size_t i = 0; i < t->nch; i++)
		for (size_t k = 0; k <= t->ch[i]->nports; k++) {
			struct top_chan *c = t->ch[i];
			struct top_port *p = k < c->nports ? &c->port[k] : &c->others;

			p->fps[slot] = p->frames;
			p->bps[slot] = p->bytes;
			p->frames = p->bytes = 0;
		}
	t->tick++;
}

static void poll_incidents(struct top *t)
{
	struct m7b_event *ev = NULL;
	char *json;
	cJSON *arr;

	if (!t->incidents_ok)
		return;
	int r = m7b_client_incidents(t->ctl->client, t->only, &ev);

	if (r < 0) {
		/* "unsupported": this daemon keeps no record; stop asking. Anything else (a
		 * reply late once) is asked again at the next turn, not given up for good. */
		if (r == -EREMOTEIO &&
		    strcmp(m7b_client_error(t->ctl->client)->code, "unsupported") == 0)
			t->incidents_ok = false;
		m7b_event_free(ev);
		return;
	}
	json = m7b_event_get_json(ev, "incidents");
	arr = json ? cJSON_Parse(json) : NULL;
	for (size_t i = 0; i < t->nch; i++)
		t->ch[i]->have_incident = false;
	const cJSON *inc;

	cJSON_ArrayForEach(inc, arr)
	{
		const char *name =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(inc, "channel"));
		int64_t a, b;
		bool has_a = ctl_json_int(cJSON_GetObjectItemCaseSensitive(inc, "start_us"), &a);
		bool has_b = ctl_json_int(cJSON_GetObjectItemCaseSensitive(inc, "end_us"), &b);
		/* With -c, another channel's incident must not add it to the view. */
		struct top_chan *c =
			!t->only || (name && !strcmp(name, t->only)) ? chan_of(t, name) : NULL;

		if (!c)
			continue;
		/* Oldest first: the last one of a channel wins. */
		c->have_incident = true;
		snprintf(c->last_cause, sizeof(c->last_cause), "%s",
			 ctl_str_or(cJSON_GetStringValue(
					    cJSON_GetObjectItemCaseSensitive(inc, "kind")),
				    "?"));
		snprintf(c->last_outcome, sizeof(c->last_outcome), "%s",
			 ctl_str_or(cJSON_GetStringValue(
					    cJSON_GetObjectItemCaseSensitive(inc, "outcome")),
				    "open"));
		/* -1 (still open) also for figures that make no duration. */
		c->last_ms = has_a && has_b && a >= 0 && b >= a ? (b - a) / 1000 : -1;
	}
	cJSON_Delete(arr);
	free(json);
	m7b_event_free(ev);
}

static int poll_status(struct top *t)
{
	struct m7b_event *st = NULL;
	int r = m7b_client_status(t->ctl->client, &st);

	if (r < 0)
		return r;
	m7b_event_free(t->st);
	t->st = st;
	for (size_t i = 0; i < m7b_event_array_size(st, "channels"); i++) {
		const char *name = m7b_event_array_string(st, "channels", i, "name");
		const char *state = m7b_event_array_string(st, "channels", i, "state");
		struct top_chan *c;

		if (t->only && name && strcmp(name, t->only) != 0)
			continue;
		if (!(c = chan_of(t, name)) || !state)
			continue;
		if (c->state[0] && strcmp(c->state, state) != 0)
			c->since_ns = ctl_monotonic_ns();
		snprintf(c->state, sizeof(c->state), "%s", state);
	}
	return 0;
}

static void add_line(struct top *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_line(struct top *t, const char *fmt, ...)
{
	va_list ap;

	if (t->nlines == MAX_LINES) {
		t->cut = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(t->line[t->nlines++], LINE_CAP, fmt, ap);
	va_end(ap);
}

/* The last minute of a per-second ring as SPARK_COLS columns of block characters. */
static void sparkline(const struct top *t, const int64_t *ring, char *out, size_t cap)
{
	static const char *const blocks[] = {" ",      "\u2581", "\u2582", "\u2583", "\u2584",
					     "\u2585", "\u2586", "\u2587", "\u2588"};
	static const char ascii[] = " .:-=+*#%@";
	int64_t col[SPARK_COLS], max = 0;
	size_t used = 0;
	unsigned per = HISTORY / SPARK_COLS;

	for (unsigned k = 0; k < SPARK_COLS; k++) {
		col[k] = 0;
		for (unsigned j = 0; j < per; j++) {
			/* Oldest column first; slots not yet filled count as 0. */
			long age = (long)HISTORY - (long)(k * per + j);
			long s = (long)t->tick - age;

			if (s >= 0)
				col[k] += ring[s % HISTORY];
		}
		if (col[k] > max)
			max = col[k];
	}
	out[0] = '\0';
	for (unsigned k = 0; k < SPARK_COLS && used + 4 < cap; k++) {
		int level = max ? (int)((col[k] * 8 + max - 1) / max) : 0;

		if (t->utf8) {
			used += (size_t)snprintf(out + used, cap - used, "%s", blocks[level]);
		} else {
			out[used++] = ascii[level + (level > 0)];
			out[used] = '\0';
		}
	}
}

static double rate_now(const struct top *t, const int64_t *ring)
{
	return t->tick ? (double)ring[(t->tick - 1) % HISTORY] : 0.0;
}

/* A clock member times scale with its unit, "-" when STATUS does not carry it. */
static void clock_field(const cJSON *clock, const char *member, double scale, const char *unit,
			char *out, size_t cap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(clock, member);

	if (cJSON_IsNumber(v))
		snprintf(out, cap, "%.3f %s", v->valuedouble * scale, unit);
	else
		snprintf(out, cap, "-");
}

/* A figure the daemon sent, or "-" where STATUS lacked it: -1 would read as a count. */
static const char *figure(char *buf, size_t cap, int64_t v)
{
	if (v < 0)
		return "-";
	snprintf(buf, cap, "%" PRId64, v);
	return buf;
}

static void render(struct top *t)
{
	const struct m7b_event *st = t->st;
	char *json = st ? m7b_event_get_json(st, "channels") : NULL;
	cJSON *chans = json ? cJSON_Parse(json) : NULL;
	int64_t up = -1, self = -1, now = ctl_monotonic_ns();
	size_t nclients = st ? m7b_event_array_size(st, "clients") : 0;
	char upbuf[32] = "?", clock[32];
	time_t wall = time(NULL);
	struct tm tm;

	t->nlines = 0;
	t->cut = false;
	localtime_r(&wall, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	if (st && m7b_event_get_int(st, "uptime_ms", &up) == 0)
		ctl_fmt_duration(upbuf, sizeof(upbuf), up);
	if (st)
		(void)m7b_event_get_int(st, "client_id", &self);
	add_line(t, "m7bridged %-8s up %-9s %zu client%s%*s%s",
		 st ? ctl_str_or(ctl_safe(m7b_event_get_string(st, "release")), "?") : "?", upbuf,
		 nclients, nclients == 1 ? " " : "s", 30, "", clock);
	for (size_t i = 0; i < t->nch; i++) {
		struct top_chan *c = t->ch[i];
		long k = st ? ctl_channel_index(st, c->name) : -1;
		const cJSON *o = k >= 0 ? cJSON_GetArrayItem(chans, (int)k) : NULL;
		int64_t gaps = -1, crc = -1, noise = -1, recov = -1, boot = -1, state_ms = -1;
		char since[32] = "?", bid[24] = "-", off[32], drift[32], unc[32], cause[25];

		if (k >= 0) {
			(void)m7b_event_array_int(st, "channels", (size_t)k, "seq_gaps", &gaps);
			(void)m7b_event_array_int(st, "channels", (size_t)k, "bad_crc", &crc);
			(void)m7b_event_array_int(st, "channels", (size_t)k, "noise_bytes", &noise);
			(void)m7b_event_array_int(st, "channels", (size_t)k, "recoveries", &recov);
			(void)m7b_event_array_int(st, "channels", (size_t)k, "state_ms", &state_ms);
			if (ctl_channel_sub_int(st, (size_t)k, "firmware", "boot_id", &boot) == 0)
				ctl_fmt_boot_id(bid, sizeof(bid), boot);
		}
		/* Time in state: the daemon's figure, else since a change seen here, else
		 * at least as long as top has been running. */
		if (state_ms >= 0)
			ctl_fmt_duration(since, sizeof(since), state_ms);
		else if (c->since_ns)
			ctl_fmt_duration(since, sizeof(since), (now - c->since_ns) / 1000000);
		else {
			/* Whole seconds: a lower bound needs no milliseconds. */
			since[0] = '>';
			ctl_fmt_duration(since + 1, sizeof(since) - 1,
					 (now - t->start_ns) / 1000000000 * 1000);
		}
		add_line(t, "%s", "");
		add_line(t, "%-10s %-10s for %-10s boot %s", ctl_safe(c->name),
			 c->state[0] ? ctl_safe(c->state) : "?", since, bid);
		char f1[24], f2[24], f3[24];
		add_line(t, "  gaps %-6s bad CRC %-6s noise %s B", figure(f1, sizeof(f1), gaps),
			 figure(f2, sizeof(f2), crc), figure(f3, sizeof(f3), noise));
		/* 24 bytes of the cause at most, cut between characters. */
		ctl_safe_text(cause, sizeof(cause), c->last_cause);
		char nrec[24];
		if (c->have_incident && c->last_ms >= 0) {
			char d[32];

			ctl_fmt_duration(d, sizeof(d), c->last_ms);
			add_line(t, "  recoveries %-4s last: %s, %s, %s",
				 figure(nrec, sizeof(nrec), recov), cause, d,
				 ctl_safe(c->last_outcome));
		} else if (c->have_incident) {
			add_line(t, "  recoveries %-4s last: %s, still open",
				 figure(nrec, sizeof(nrec), recov), cause);
		} else {
			add_line(t, "  recoveries %-4s last: -", figure(nrec, sizeof(nrec), recov));
		}
		const cJSON *clk = cJSON_GetObjectItemCaseSensitive(o, "clock");

		clock_field(clk, "offset_ns", 1e-6, "ms", off, sizeof(off));
		clock_field(clk, "rate_ppm", 1, "ppm", drift, sizeof(drift));
		clock_field(clk, "err_ns", 1e-6, "ms", unc, sizeof(unc));
		add_line(t, "  clock offset %-12s drift %-12s uncertainty %s", off, drift, unc);
		add_line(t, "  %-14s %9s %9s  last minute", "PORT", "FRAMES/S", "BYTES/S");
		for (size_t p = 0; p < c->nports; p++) {
			struct top_port *pp = &c->port[p];
			char spark[SPARK_COLS * 4 + 1], label[64], cut[15];

			sparkline(t, pp->fps, spark, sizeof(spark));
			snprintf(label, sizeof(label), "%d %s", pp->port, pp->name);
			ctl_safe_text(cut, sizeof(cut), label); /* the column's 14 bytes */
			add_line(t, "  %-14s %9.1f %9.0f  %s", cut, rate_now(t, pp->fps),
				 rate_now(t, pp->bps), spark);
		}
		if (c->has_others) {
			char spark[SPARK_COLS * 4 + 1];

			sparkline(t, c->others.fps, spark, sizeof(spark));
			add_line(t, "  %-14s %9.1f %9.0f  %s", "other ports",
				 rate_now(t, c->others.fps), rate_now(t, c->others.bps), spark);
		}
		if (c->nports == 0)
			add_line(t, "  (no frames yet)");
	}
	add_line(t, "%s", "");
	add_line(t, "CLIENTS  %-6s %-8s %-10s %s", "ID", "PID", "DELIVERED", "DROPPED");
	for (size_t i = 0; i < nclients; i++) {
		int64_t id = -1, pid = -1, dl = -1, dr = -1;

		(void)m7b_event_array_int(st, "clients", i, "id", &id);
		(void)m7b_event_array_int(st, "clients", i, "pid", &pid);
		(void)m7b_event_array_int(st, "clients", i, "delivered", &dl);
		(void)m7b_event_array_int(st, "clients", i, "dropped", &dr);
		char f1[24], f2[24], f3[24], f4[24];
		add_line(t, "         %-6s %-8s %-10s %s%s", figure(f1, sizeof(f1), id),
			 figure(f2, sizeof(f2), pid), figure(f3, sizeof(f3), dl),
			 figure(f4, sizeof(f4), dr), id >= 0 && id == self ? "  (this view)" : "");
	}
	cJSON_Delete(chans);
	free(json);
}

/* Not a terminal: one plain line per channel and second, easy to log or grep. False
 * when standard output failed (errno says why: EPIPE once `top | head` has its lines). */
static bool print_plain(struct top *t)
{
	char clock[32];
	time_t wall = time(NULL);
	struct tm tm;

	localtime_r(&wall, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	/* A line each second all the same: silence would read as a hung top. */
	if (t->nch == 0)
		printf("%s no channel (the daemon has none configured)\n", clock);
	for (size_t i = 0; i < t->nch; i++) {
		struct top_chan *c = t->ch[i];
		long k = t->st ? ctl_channel_index(t->st, c->name) : -1;
		int64_t gaps = -1, crc = -1, recov = -1;

		if (k >= 0) {
			(void)m7b_event_array_int(t->st, "channels", (size_t)k, "seq_gaps", &gaps);
			(void)m7b_event_array_int(t->st, "channels", (size_t)k, "bad_crc", &crc);
			(void)m7b_event_array_int(t->st, "channels", (size_t)k, "recoveries",
						  &recov);
		}
		char f1[24], f2[24], f3[24];
		printf("%s %s %s gaps=%s bad_crc=%s recoveries=%s", clock, ctl_safe(c->name),
		       c->state[0] ? ctl_safe(c->state) : "?", figure(f1, sizeof(f1), gaps),
		       figure(f2, sizeof(f2), crc), figure(f3, sizeof(f3), recov));
		for (size_t p = 0; p < c->nports; p++)
			printf(" port%d=%.0f/s,%.0fB/s", c->port[p].port,
			       rate_now(t, c->port[p].fps), rate_now(t, c->port[p].bps));
		if (c->has_others)
			printf(" other_ports=%.0f/s,%.0fB/s", rate_now(t, c->others.fps),
			       rate_now(t, c->others.bps));
		putchar('\n');
	}
	return fflush(stdout) == 0;
}

#if HAVE_NCURSES
/* The full-screen view, or NULL where the terminal cannot place the cursor (TERM unset,
 * unknown to terminfo, or dumb): initscr() would exit there, or draw garbage. Asked of
 * terminfo alone first, so that such a terminal sees no byte from the screen library. */
static SCREEN *screen_open(void)
{
	TERMINAL *saved = set_curterm(NULL), *probe;
	const char *cup;
	int err = 0;
	bool ok = setupterm(NULL, STDOUT_FILENO, &err) == OK;

	if (ok) {
		cup = tigetstr("cup");
		ok = cup && cup != (const char *)-1;
	}
	probe = set_curterm(saved);
	if (probe)
		del_curterm(probe);
	return ok ? newterm(NULL, stdout, stdin) : NULL;
}

static void draw(struct top *t)
{
	erase();
	/* COLS counts columns: cut by characters, or the sparkline's 3-byte blocks would
	 * lose the newest half-minute on an 80-column terminal. */
	for (int i = 0; i < t->nlines && i < LINES - 1; i++)
		mvaddnstr(i, 0, t->line[i], (int)ctl_utf8_prefix(t->line[i], (size_t)COLS));
	/* The longest hint that fits: how to quit must show on a narrow terminal too. */
	static const char *const more[] = {"(more below: enlarge the terminal)  q quits",
					   "(more below) q quits", "q quits"};
	const char *hint = "q quits";

	bool more_below = t->cut || t->nlines > LINES - 1;

	for (size_t i = 0; more_below && i < sizeof(more) / sizeof(more[0]); i++) {
		hint = more[i];
		if ((int)strlen(hint) <= COLS)
			break;
	}
	mvaddnstr(LINES - 1, 0, hint, COLS);
	refresh();
}
#endif

int cmd_top(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"count", required_argument, NULL, 'n'},
					     {"channel", required_argument, NULL, 'c'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	static const char optstring[] = "+:n:c:h";
	static const char *const classes[] = {"FRAME", "STATE"};
	struct top *t;
	struct m7b_watch w = {.classes = classes, .nclasses = 2};
	const char *count_arg = NULL;
	long count = -1;
	int c, r;
	bool screen;
#if HAVE_NCURSES
	SCREEN *scr = NULL;
#endif

	optind = 0;
	opterr = 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return EXIT_FAILED;
	t->ctl = ctl;
	while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (ctl_take_once("top", "count", &count_arg, optarg) ||
			    !ctl_parse_count("top", optarg, &count)) {
				free(t);
				return EXIT_USAGE;
			}
			break;
		case 'c':
			if (ctl_take_channel("top", &t->only, optarg)) {
				free(t);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			free(t);
			ctl_help(stdout, "top");
			return EXIT_OK;
		default:
			free(t);
			return ctl_getopt_error("top", argv, optstring);
		}
	}
	if (optind < argc) {
		free(t);
		return ctl_usage_error("top", "unexpected argument '%s'", argv[optind]);
	}
	if (ctl->stdout_closed) {
		free(t);
		ctl->out_errno = EBADF; /* nothing to show on: said at once */
		return EXIT_FAILED;
	}
	if ((r = ctl_open(ctl))) {
		free(t);
		return r;
	}
	if (t->only) {
		struct m7b_event *st = NULL;
		char list[512];

		if ((r = ctl_get_status(ctl, &st))) {
			free(t);
			return r;
		}
		if (ctl_channel_index(st, t->only) < 0) {
			ctl_channel_list(st, list, sizeof(list));
			fprintf(stderr, "%s: top: no channel '%s' (channels: %s)\n", ctl_prog,
				t->only, list);
			m7b_event_free(st);
			free(t);
			return EXIT_USAGE;
		}
		m7b_event_free(st);
	}
	if (t->only) {
		w.channels = &t->only;
		w.nchannels = 1;
	}
	if ((r = m7b_client_watch(ctl->client, &w)) < 0) {
		free(t);
		return ctl_report(ctl, "top", r);
	}
	setlocale(LC_ALL, "");
	t->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	t->incidents_ok = true;
	t->start_ns = ctl_monotonic_ns();
	screen = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
#if !HAVE_NCURSES
	screen = false;
#endif
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if ((r = poll_status(t)) < 0)
		goto fail;
	poll_incidents(t);
#if HAVE_NCURSES
	if (screen && !(scr = screen_open()))
		screen = false;
	if (screen) {
		cbreak();
		noecho();
		curs_set(0);
		nodelay(stdscr, TRUE);
		keypad(stdscr, TRUE);
		render(t);
		draw(t);
	}
#endif
	int64_t next = ctl_monotonic_ns() + 1000000000LL;
	long shown = 0;

	while (!stop && (count < 0 || shown < count)) {
		struct pollfd pfd[2] = {{m7b_client_fd(ctl->client), POLLIN, 0},
					{STDIN_FILENO, POLLIN, 0}};
		int64_t now = ctl_monotonic_ns();
		struct m7b_event *ev;

		if (now >= next) {
			rotate(t);
			if ((r = poll_status(t)) < 0)
				goto fail;
			if (t->tick % 5 == 0)
				poll_incidents(t);
			render(t);
			bool out_ok = true;
#if HAVE_NCURSES
			if (screen)
				draw(t);
			else
#endif
				out_ok = print_plain(t);
			if (!out_ok) {
				ctl->out_errno = errno;
				break;
			}
			shown++;
			next += 1000000000LL;
			continue;
		}
		if (!m7b_client_pending(ctl->client)) {
			if (poll(pfd, screen ? 2 : 1, (int)((next - now) / 1000000) + 1) <= 0)
				continue;
#if HAVE_NCURSES
			if (screen && (pfd[1].revents & POLLIN)) {
				int key = getch();

				if (key == 'q' || key == 'Q')
					stop = 1;
				else if (key == KEY_RESIZE)
					draw(t);
			}
#endif
		}
		while ((r = m7b_client_next(ctl->client, &ev, 0)) == 0) {
			on_event(t, ev);
			m7b_event_free(ev);
		}
		if (r != -EAGAIN && r != -EBADMSG && r != -ETIMEDOUT)
			goto fail;
	}
	r = 0;
fail:
#if HAVE_NCURSES
	if (screen && !isendwin())
		endwin();
	if (scr)
		delscreen(scr);
#endif
	m7b_event_free(t->st);
	for (size_t i = 0; i < t->nch; i++)
		free(t->ch[i]);
	free(t);
	if (r < 0)
		return ctl_report(ctl, "top", r);
	/* A reader that went away ends top as it ends watch; a full disk is a failure. */
	return ctl->out_errno && ctl->out_errno != EPIPE ? EXIT_FAILED : EXIT_OK;
}
