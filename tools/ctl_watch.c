/* m7bridgectl watch: frames and events as they arrive, explained for a human reader. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl.h"

enum view { VIEW_LINE, VIEW_HEX, VIEW_TEXT };

/* The classes a watch may name, and the bit each has in a mask (1u << its index). */
static const char *const class_names[] = {"FRAME",     "STATE", "LOG",	 "HELLO",
					  "HEARTBEAT", "FAULT", "CLOCK", "RAW"};
#define NCLASSES (sizeof(class_names) / sizeof(class_names[0]))
#define C_FRAME	 0x01u
#define C_HELLO	 0x08u
#define C_HEART	 0x10u
#define C_CLOCK	 0x40u
#define C_RAW	 0x80u
#define C_ALL	 ((1u << NCLASSES) - 1)
/* All but HEARTBEAT and CLOCK: one a second, or a burst while the clock mapping settles
 * after each boot, is noise for a reader who did not ask. */
#define C_DEFAULT (C_ALL & ~(C_HEART | C_CLOCK))

#define MAX_TRACK	64	     /* the daemon's limit (CONF_MAX_CHANNELS) */
#define POLL_NS		1000000000LL /* link counters summarised once a second at most */
#define PORT_HINT_NS	5000000000LL
#define LATE_SLACK_NS	50000000LL
#define WIRE_SEQ_MODULO 4294967296LL

/* What watch remembers of a channel to explain seq resets, gaps and link noise. */
struct track {
	char name[64];
	bool have_seq;
	int64_t seq; /* last wire seq seen (FRAME, LOG, HEARTBEAT) */
	bool have_boot;
	int64_t boot_id;
	bool have_counters;
	int64_t seq_gaps, bad_crc, noise, resyncs; /* from STATUS */
	bool have_dropped;
	int64_t m7_dropped;    /* HEARTBEAT captures_dropped */
	int64_t m7_ticks;      /* and its now_ticks (-1: none) */
	int64_t m7_new_drops;  /* not yet reported */
	int64_t last_event_ns; /* CLOCK_REALTIME of the last STATE line shown */
};

struct watch {
	struct ctl *ctl;
	enum view view;
	bool json, tty;
	unsigned show;		     /* classes the user wants printed */
	const int *ports;	     /* -p filter, applied here so unknown ports can be named */
	const char *const *channels; /* -c filter */
	size_t nchannels;
	size_t nports;
	bool port_seen[256];
	int64_t port_match_ns; /* last frame that passed the port filter, or start */
	bool port_hinted;
	struct track tr[MAX_TRACK];
	size_t ntr;
	bool poll; /* summarise STATUS counters every second */
	int64_t next_poll_ns;
};

static struct track *track_of(struct watch *w, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < w->ntr; i++)
		if (strcmp(w->tr[i].name, name) == 0)
			return &w->tr[i];
	if (w->ntr == MAX_TRACK)
		return NULL;
	struct track *t = &w->tr[w->ntr++];

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	return t;
}

/* Payload bytes for VIEW_TEXT: as they are, but on a terminal only what it can show
 * (control bytes could move the cursor or change the terminal's settings). */
static void put_raw(const struct watch *w, const uint8_t *p, size_t n)
{
	if (!w->tty) {
		fwrite(p, 1, n, stdout);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' || p[i] == '\r' || p[i] == '\t' || (p[i] >= 0x20 && p[i] < 0x7f))
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
}

static void line_start(const char *channel)
{
	ctl_put_time(stdout, ctl_realtime_ns());
	printf(" %s", ctl_str_or(ctl_safe(channel), "?"));
}

/* Seq of FRAME, LOG and HEARTBEAT: a step back with no HELLO is a reset worth a line. */
static void note_seq(struct watch *w, struct track *t, int64_t seq)
{
	if (!t || seq < 0)
		return;
	if (t->have_seq && seq < t->seq && t->seq - seq < WIRE_SEQ_MODULO / 2 && !w->json &&
	    w->view != VIEW_TEXT) {
		line_start(t->name);
		printf(" seq reset: %" PRId64 " after %" PRId64
		       " (the firmware restarted its count)\n",
		       seq, t->seq);
	}
	t->have_seq = true;
	t->seq = seq;
}

/* Ends a FRAME or RAW line with its bytes: a hex dump below it, or quoted text. */
static void put_payload(const struct watch *w, const struct m7b_event *ev)
{
	if (w->view == VIEW_HEX) {
		putchar('\n');
		ctl_put_hexdump(stdout, ev->data, ev->data_len);
		return;
	}
	printf(" \"");
	ctl_put_text(stdout, ev->data, ev->data_len);
	printf("\"\n");
}

static void print_frame(struct watch *w, const struct m7b_event *ev)
{
	const char *pname = m7b_event_get_string(ev, "port_name");
	struct track *t = track_of(w, ev->channel);
	bool late = strstr(ev->line, "\"late\":true") || strstr(ev->line, "\"backlog\":true");
	int64_t ns;

	if (w->view == VIEW_TEXT) {
		put_raw(w, ev->data, ev->data_len);
		return;
	}
	if (m7b_event_get_int(ev, "t_first_ns", &ns) != 0)
		ns = ctl_realtime_ns();
	/* A capture made before a state change already shown was held back by it (a
	 * stall, a recovery): its time would read out of order, so say so. */
	if (t && t->last_event_ns && ns + LATE_SLACK_NS < t->last_event_ns)
		late = true;
	ctl_put_time(stdout, ns);
	printf(" %s/%d", ctl_str_or(ctl_safe(ev->channel), "?"), ev->port);
	if (pname)
		printf("(%s)", ctl_safe(pname));
	printf(" seq=%" PRId64 " len=%zu", ev->seq, ev->data_len);
	if (late)
		printf(" [late: held back during a stall or recovery]");
	if (ev->flags & M7B_FRAME_OVERRUN)
		printf(" [overrun]");
	if (ev->flags & M7B_FRAME_LINE_ERROR)
		printf(" [line_error]");
	if (ev->flags & M7B_FRAME_CONTINUED)
		printf(" [continued]");
	put_payload(w, ev);
}

/* A raw channel's chunk: host receive time, length and the bytes (no seq, no port). */
static void print_raw(struct watch *w, const struct m7b_event *ev)
{
	int64_t ns;

	if (w->view == VIEW_TEXT) {
		put_raw(w, ev->data, ev->data_len);
		return;
	}
	if (m7b_event_get_int(ev, "t_rx_ns", &ns) != 0)
		ns = ctl_realtime_ns();
	ctl_put_time(stdout, ns);
	printf(" %s raw len=%zu", ctl_str_or(ctl_safe(ev->channel), "?"), ev->data_len);
	put_payload(w, ev);
}

static void print_hello(struct watch *w, const struct m7b_event *ev)
{
	struct track *t = track_of(w, ev->channel);
	int64_t v, boot = -1;
	char bid[24], was[24];
	bool new_boot = strstr(ev->line, "\"new_boot\":true") != NULL;

	(void)m7b_event_get_int(ev, "boot_id", &boot);
	ctl_fmt_boot_id(bid, sizeof(bid), boot);
	if (w->show & C_HELLO) {
		line_start(ev->channel);
		printf(" hello from \"%s\" boot_id %s",
		       ctl_str_or(ctl_safe(m7b_event_get_string(ev, "name")), "?"), bid);
		if (m7b_event_get_int(ev, "tick_hz", &v) == 0)
			printf(", %" PRId64 " Hz ticks", v);
		putchar('\n');
	}
	/* A HELLO restarts the firmware's seq at 0: say why the numbers jump back. A new
	 * boot is always worth a line; the same boot only once frames were seen. */
	if (t && (new_boot || (t->have_boot && boot != t->boot_id))) {
		line_start(ev->channel);
		ctl_fmt_boot_id(was, sizeof(was), t->boot_id);
		printf(" seq reset: new boot (boot_id %s", bid);
		if (t->have_boot && boot != t->boot_id)
			printf(", was %s", was);
		printf(")\n");
	} else if (t && t->have_seq) {
		line_start(ev->channel);
		printf(" seq reset: same boot %s, link handshake again (reopen or resync)\n", bid);
	}
	if (t) {
		t->have_seq = false;
		t->have_boot = boot >= 0;
		t->boot_id = boot;
		t->have_dropped = false;
	}
}

static void print_heartbeat(struct watch *w, const struct m7b_event *ev)
{
	struct track *t = track_of(w, ev->channel);
	char *json = m7b_event_get_json(ev, "counters");
	cJSON *o = json ? cJSON_Parse(json) : NULL;
	const cJSON *dr = cJSON_GetObjectItemCaseSensitive(o, "captures_dropped");
	const cJSON *it;

	int64_t d;

	if (t && ctl_json_int(dr, &d)) {
		int64_t ticks = -1;

		/* The M7's counter is a u32 that wraps: a step down within a boot is a wrap, and
		 * the drops are the step modulo 2^32. A new boot starts it at 0: its HELLO
		 * clears have_dropped, its clock going back says so if the HELLO was lost (a
		 * slow watcher's objects are dropped), and a step of more than 2^31 is a fall,
		 * not a wrap (a restart that kept its boot_id and clock). */
		uint32_t step = (uint32_t)((uint64_t)d - (uint64_t)t->m7_dropped);

		(void)m7b_event_get_int(ev, "now_ticks", &ticks);
		if (t->have_dropped && ((ticks >= 0 && ticks < t->m7_ticks) || step > 0x80000000u))
			t->m7_new_drops += d;
		else if (t->have_dropped)
			t->m7_new_drops += step;
		t->have_dropped = true;
		t->m7_dropped = d;
		t->m7_ticks = ticks;
	}
	if (w->show & C_HEART) {
		line_start(ev->channel);
		printf(" heartbeat seq=%" PRId64, ev->seq);
		/* Only an object has named counters (an array's elements have no name). */
		const cJSON *named = cJSON_IsObject(o) ? o : NULL;

		cJSON_ArrayForEach(it, named)
		{
			if (cJSON_IsNumber(it))
				printf(" %s=%.0f", ctl_safe(it->string), it->valuedouble);
		}
		putchar('\n');
	}
	cJSON_Delete(o);
	free(json);
}

/* A time error in ns with a unit that keeps it short: "850 ns", "17.0 us", "2.500 ms". */
static void fmt_ns(char *buf, size_t cap, double ns)
{
	if (ns < 1e3)
		snprintf(buf, cap, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, cap, "%.1f us", ns / 1e3);
	else
		snprintf(buf, cap, "%.3f ms", ns / 1e6);
}

/* How the channel's ticks map to Linux time, in words: the bound on a FRAME time's error
 * and the M7 clock's rate against the host's. */
static void print_clock(const struct m7b_event *ev)
{
	cJSON *o = cJSON_ParseWithLength(ev->line, ev->line_len);
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(o, "source");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "err_ns");
	const cJSON *ppm = cJSON_GetObjectItemCaseSensitive(o, "rate_ppm");
	const cJSON *ppm_err = cJSON_GetObjectItemCaseSensitive(o, "rate_err_ppm");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "samples");
	const cJSON *epochs = cJSON_GetObjectItemCaseSensitive(o, "epochs");
	const cJSON *rejected = cJSON_GetObjectItemCaseSensitive(o, "rejected");
	char e[32];

	line_start(ev->channel);
	printf(" clock from %s:",
	       ctl_str_or(ctl_safe(cJSON_IsString(src) ? src->valuestring : NULL), "?"));
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "mapped"))) {
		printf(" mapped");
		if (cJSON_IsNumber(err)) {
			fmt_ns(e, sizeof(e), err->valuedouble);
			printf(", error +-%s", e);
		}
		if (cJSON_IsNumber(ppm))
			printf(", rate %+.3f ppm", ppm->valuedouble);
		if (cJSON_IsNumber(ppm) && cJSON_IsNumber(ppm_err))
			printf(" (+-%.3f)", ppm_err->valuedouble);
		if (cJSON_IsNumber(n))
			printf(", %.0f sample%s", n->valuedouble, n->valuedouble == 1 ? "" : "s");
	} else {
		printf(" not mapped (frames carry M7 ticks only)");
	}
	/* epochs counts every start over: an M7 clock restart without a HELLO, but also a
	 * host suspend or a change of NTP's slew. */
	if (cJSON_IsNumber(epochs) && epochs->valuedouble > 0)
		printf(", mapping started over %.0f time%s", epochs->valuedouble,
		       epochs->valuedouble == 1 ? "" : "s");
	if (cJSON_IsNumber(rejected) && rejected->valuedouble > 0)
		printf(", %.0f repl%s rejected", rejected->valuedouble,
		       rejected->valuedouble == 1 ? "y" : "ies");
	putchar('\n');
	cJSON_Delete(o);
}

/* Any class without its own format: its members as key=value, never raw JSON. */
static void print_generic(const struct m7b_event *ev)
{
	cJSON *o = cJSON_ParseWithLength(ev->line, ev->line_len);
	const cJSON *it;

	line_start(ev->channel);
	printf(" %s", ctl_str_or(ctl_safe(ev->cls), "?"));
	cJSON_ArrayForEach(it, o)
	{
		if (!strcmp(it->string, "class") || !strcmp(it->string, "channel"))
			continue;
		if (cJSON_IsString(it))
			printf(" %s=%s", ctl_safe(it->string), ctl_safe(it->valuestring));
		else if (cJSON_IsNumber(it))
			printf(" %s=%.0f", ctl_safe(it->string), it->valuedouble);
		else if (cJSON_IsBool(it))
			printf(" %s=%s", ctl_safe(it->string), cJSON_IsTrue(it) ? "true" : "false");
	}
	putchar('\n');
	cJSON_Delete(o);
}

static void print_event(struct watch *w, const struct m7b_event *ev)
{
	switch (ev->type) {
	case M7B_EV_STATE:
		if (track_of(w, ev->channel))
			track_of(w, ev->channel)->last_event_ns = ctl_realtime_ns();
		line_start(ev->channel);
		printf(" state %s (%s)", ctl_str_or(ctl_safe(ev->state), "?"),
		       ctl_str_or(ctl_safe(ev->reason), "-"));
		/* A snapshot's detail belongs to the moment it was written, not to now. */
		if (m7b_event_get_string(ev, "detail") &&
		    !(ev->reason && !strcmp(ev->reason, "snapshot")))
			printf(": %s", ctl_safe(m7b_event_get_string(ev, "detail")));
		putchar('\n');
		break;
	case M7B_EV_LOG:
		line_start(ev->channel);
		printf(" log %s: %s\n",
		       ctl_str_or(ctl_safe(m7b_event_get_string(ev, "level_name")), "?"),
		       ctl_str_or(ctl_safe(ev->text), ""));
		break;
	case M7B_EV_FAULT:
		line_start(ev->channel);
		printf(" FAULT %s from %s: %s\n",
		       ctl_str_or(ctl_safe(m7b_event_get_string(ev, "kind")), "?"),
		       ctl_str_or(ctl_safe(m7b_event_get_string(ev, "source")), "?"),
		       ctl_str_or(ctl_safe(m7b_event_get_string(ev, "detail")), ""));
		break;
	case M7B_EV_DROPPED: {
		char why[160];

		ctl_fmt_dropped(why, sizeof(why), ev);
		ctl_put_time(stdout, ctl_realtime_ns());
		printf(" %s\n", why);
		break;
	}
	case M7B_EV_CLOCK:
		print_clock(ev);
		break;
	default:
		print_generic(ev);
	}
}

/* Once a second: what the counters say happened on the link since the last look. */
static int poll_counters(struct watch *w)
{
	struct m7b_event *st = NULL;
	int r = m7b_client_status(w->ctl->client, &st);

	if (r < 0)
		return r == -EREMOTEIO ? 0 : r;
	for (size_t i = 0; i < m7b_event_array_size(st, "channels"); i++) {
		const char *name = m7b_event_array_string(st, "channels", i, "name");
		struct track *t;
		int64_t gaps = 0, crc = 0, noise = 0, resyncs = 0;
		bool wanted = w->nchannels == 0;

		/* Only the channels asked for with -c. */
		for (size_t k = 0; name && k < w->nchannels; k++)
			wanted = wanted || strcmp(name, w->channels[k]) == 0;
		if (!wanted || !(t = track_of(w, name)))
			continue;
		(void)m7b_event_array_int(st, "channels", i, "seq_gaps", &gaps);
		(void)m7b_event_array_int(st, "channels", i, "bad_crc", &crc);
		(void)m7b_event_array_int(st, "channels", i, "noise_bytes", &noise);
		(void)m7b_event_array_int(st, "channels", i, "resyncs", &resyncs);
		if (t->have_counters) {
			int64_t dg = gaps - t->seq_gaps, dc = crc - t->bad_crc;
			int64_t dn = noise - t->noise, dd = t->m7_new_drops;

			if (dg > 0) {
				line_start(t->name);
				printf(" %" PRId64 " frame%s missing", dg, dg == 1 ? "" : "s");
				if (dd > 0)
					printf(" (M7 dropped %" PRId64 ")", dd);
				else if (dc > 0)
					printf(" (lost on the link: %" PRId64 " bad CRC)", dc);
				else
					printf(" (lost between the M7 and the daemon)");
				putchar('\n');
			} else if (dd > 0) {
				line_start(t->name);
				printf(" M7 dropped %" PRId64 " capture%s (its queue was full)\n",
				       dd, dd == 1 ? "" : "s");
			}
			if (dc > 0 || dn > 0) {
				line_start(t->name);
				printf(" link noise in the last second:");
				if (dc > 0)
					printf(" %" PRId64 " bad CRC%s", dc, dn > 0 ? "," : "");
				if (dn > 0)
					printf(" %" PRId64 " byte%s that were no frame", dn,
					       dn == 1 ? "" : "s");
				putchar('\n');
			}
			t->m7_new_drops = 0;
		}
		t->have_counters = true;
		t->seq_gaps = gaps;
		t->bad_crc = crc;
		t->noise = noise;
		t->resyncs = resyncs;
	}
	m7b_event_free(st);
	return 0;
}

static bool port_wanted(struct watch *w, int port)
{
	if (w->nports == 0)
		return true;
	for (size_t i = 0; i < w->nports; i++)
		if (w->ports[i] == port)
			return true;
	return false;
}

/* With -p, a port that never sends is named once, with the ports that do. */
static void port_hint(struct watch *w, int64_t now)
{
	char seen[512] = "";
	size_t used = 0;

	if (w->nports == 0 || w->port_hinted || now - w->port_match_ns < PORT_HINT_NS)
		return;
	w->port_hinted = true;
	for (int p = 0; p < 256; p++)
		if (w->port_seen[p] && used < sizeof(seen) - 8)
			used += (size_t)snprintf(seen + used, sizeof(seen) - used, "%s%d",
						 used ? ", " : "", p);
	fprintf(stderr,
		"%s: watch: no frame from the port%s asked for in 5 s (frames arrive on %s%s)\n",
		ctl_prog, w->nports == 1 ? "" : "s", used ? "ports " : "", used ? seen : "no port");
}

/* Validates --classes into a mask (case-insensitive); 0 and a message if wrong. */
static unsigned parse_classes(char *list)
{
	unsigned mask = 0;

	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		size_t k;

		for (char *p = tok; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		for (k = 0; k < NCLASSES; k++)
			if (strcmp(tok, class_names[k]) == 0)
				break;
		if (k == NCLASSES) {
			ctl_usage_error("watch",
					"no class '%s' (classes: FRAME, STATE, LOG, HELLO, "
					"HEARTBEAT, FAULT, CLOCK, RAW)",
					tok);
			return 0;
		}
		mask |= 1u << k;
	}
	if (!mask)
		ctl_usage_error("watch", "--classes needs at least one class");
	return mask;
}

/* Checks -c against the daemon's channels (and -p against its ports when it lists them). */
static int check_filters(struct watch *w, const char *const *channels, size_t nchannels)
{
	struct m7b_event *st;
	char list[512];
	int r;

	if ((r = ctl_get_status(w->ctl, &st)))
		return r;
	ctl_channel_list(st, list, sizeof(list));
	for (size_t i = 0; i < nchannels; i++) {
		long k = ctl_channel_index(st, channels[i]);

		if (k < 0) {
			fprintf(stderr, "%s: watch: no channel '%s' (channels: %s)\n", ctl_prog,
				channels[i], list);
			m7b_event_free(st);
			return EXIT_USAGE;
		}
	}
	for (size_t p = 0; p < w->nports; p++) {
		bool somewhere = false;
		size_t n = m7b_event_array_size(st, "channels");
		char ports[512] = "";

		for (size_t i = 0; i < n; i++) {
			if (nchannels == 1 && ctl_channel_index(st, channels[0]) != (long)i)
				continue;
			somewhere = somewhere || ctl_channel_has_port(st, i, w->ports[p]);
			if (!ports[0])
				(void)ctl_channel_list_member(st, i, "ports", ports, sizeof(ports));
		}
		if (!somewhere) {
			fprintf(stderr, "%s: watch: no port %d (ports: %s)\n", ctl_prog,
				w->ports[p], ports);
			m7b_event_free(st);
			return EXIT_USAGE;
		}
	}
	m7b_event_free(st);
	return 0;
}

/* Waits up to wait_ms (-1: no limit) for the daemon's next bytes; true when the reader
 * of standard output went away meanwhile (a pipe's reader exited): a stream with nothing
 * to print would otherwise never find out by writing. */
static bool reader_gone(const struct m7b_client *client, int wait_ms)
{
	struct pollfd p[2] = {{.fd = m7b_client_fd(client), .events = POLLIN},
			      {.fd = STDOUT_FILENO, .events = 0}};

	if (poll(p, 2, wait_ms) < 0)
		return false;
	return (p[1].revents & (POLLERR | POLLHUP)) != 0;
}

/* The stream ended with r: said, with the likely why when this client asked to be
 * disconnected once it falls behind (the daemon's journal has the line). */
static int watch_lost(struct ctl *ctl, const struct m7b_watch *mw, int r)
{
	int rc = ctl_report(ctl, "watch", r);

	if (r == -ECONNRESET && mw->policy && strcmp(mw->policy, "disconnect") == 0)
		fprintf(stderr,
			"%s: watch: with --policy disconnect the daemon closes a client that "
			"falls behind (its journal says when)\n",
			ctl_prog);
	return rc;
}

int cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},	   {"count", required_argument, NULL, 'n'},
		{"channel", required_argument, NULL, 'c'}, {"port", required_argument, NULL, 'p'},
		{"hex", no_argument, NULL, 'x'},	   {"text", no_argument, NULL, 'T'},
		{"classes", required_argument, NULL, 'C'}, {"policy", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},	   {NULL, 0, NULL, 0}};
	static const char optstring[] = "+:jn:c:p:xTC:P:h";
	const char *channels[CTL_MAX_FILTERS], *classes[NCLASSES];
	int ports[CTL_MAX_FILTERS];
	struct m7b_watch mw = {0};
	struct watch w = {.ctl = ctl, .view = VIEW_LINE, .show = C_DEFAULT};
	bool hex = false, text = false, classes_given = false;
	const char *count_arg = NULL;
	long count = -1, frames = 0;
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			w.json = true;
			break;
		case 'n':
			if (ctl_take_once("watch", "count", &count_arg, optarg) ||
			    !ctl_parse_count("watch", optarg, &count))
				return EXIT_USAGE;
			break;
		case 'c':
			if (mw.nchannels == CTL_MAX_FILTERS)
				return ctl_usage_error("watch", "too many channels");
			channels[mw.nchannels++] = optarg;
			mw.channels = channels;
			break;
		case 'p':
			if (w.nports == CTL_MAX_FILTERS)
				return ctl_usage_error("watch", "too many ports");
			if (!ctl_parse_port(optarg, &ports[w.nports]))
				return ctl_usage_error("watch", "port must be 0..255, not '%s'",
						       optarg);
			w.nports++;
			w.ports = ports;
			break;
		case 'x':
			hex = true;
			break;
		case 'T':
			text = true;
			break;
		case 'C': {
			/* Repeatable: the lists add up, as -c and -p do. */
			unsigned mask = parse_classes(optarg);

			if (!mask)
				return EXIT_USAGE;
			w.show = classes_given ? w.show | mask : mask;
			classes_given = true;
			break;
		}
		case 'P':
			if (strcmp(optarg, "drop") && strcmp(optarg, "disconnect"))
				return ctl_usage_error(
					"watch", "no policy '%s' (policies: drop, disconnect)",
					optarg);
			if (ctl_take_once("watch", "policy", &mw.policy, optarg))
				return EXIT_USAGE;
			break;
		case 'h':
			ctl_help(stdout, "watch");
			return EXIT_OK;
		default:
			return ctl_getopt_error("watch", argv, optstring);
		}
	}
	if (optind < argc)
		return ctl_usage_error("watch", "unexpected argument '%s'", argv[optind]);
	if (hex && text)
		return ctl_usage_error("watch", "--hex and --text contradict each other: give one");
	if (w.json && text)
		return ctl_usage_error("watch",
				       "--json and --text contradict each other: give one");
	/* Else it would wait for ever. */
	if (count >= 0 && !(w.show & (C_FRAME | C_RAW)))
		return ctl_usage_error("watch", "-n counts FRAME and RAW objects: --classes "
						"selects neither");
	/* Nothing to print to: said at once, not after the first frame, which may never
	 * come. */
	if (ctl->stdout_closed) {
		ctl->out_errno = EBADF;
		return EXIT_FAILED;
	}
	w.view = hex ? VIEW_HEX : text ? VIEW_TEXT : VIEW_LINE;
	w.tty = isatty(STDOUT_FILENO);
	if (hex && w.json)
		mw.encoding = "hex";

	/* HELLO and HEARTBEAT are asked for even when not shown: they explain seq resets
	 * and the M7's own drops. */
	unsigned want = w.show | (w.json ? 0 : C_HELLO | C_HEART);

	for (size_t k = 0; k < NCLASSES; k++)
		if (want & 1u << k)
			classes[mw.nclasses++] = class_names[k];
	mw.classes = classes;
	w.poll = !w.json && w.view != VIEW_TEXT && (w.show & C_FRAME);

	w.channels = channels;
	w.nchannels = mw.nchannels;
	if ((r = ctl_open(ctl)) || (r = check_filters(&w, channels, mw.nchannels)))
		return r;

	struct m7b_request req = {.cmd = M7B_CMD_WATCH, .watch = &mw};
	struct m7b_event *reply = NULL;

	r = m7b_client_call(ctl->client, &req, &reply);
	if (r < 0) {
		char *avail = reply ? m7b_event_get_json(reply, "available") : NULL;

		r = ctl_report(ctl, "watch", r);
		if (avail)
			fprintf(stderr, "%s: watch: available: %s\n", ctl_prog, ctl_safe(avail));
		free(avail);
		m7b_event_free(reply);
		return r;
	}
	m7b_event_free(reply);
	w.port_match_ns = ctl_monotonic_ns();
	w.next_poll_ns = w.port_match_ns;
	int lost = 0; /* a poll failed: its error */
	while (count < 0 || frames < count) {
		struct m7b_event *ev;
		int64_t now = ctl_monotonic_ns();
		int wait_ms = -1;

		/* A failed poll is reported once what arrived before it has been shown. */
		if (lost && !m7b_client_pending(ctl->client))
			return watch_lost(ctl, &mw, lost);
		if (w.poll && now >= w.next_poll_ns) {
			if ((r = poll_counters(&w)) < 0) {
				lost = r;
				w.poll = false;
				continue;
			}
			w.next_poll_ns = now + POLL_NS;
		}
		port_hint(&w, now);
		if (w.poll)
			wait_ms = (int)((w.next_poll_ns - now) / 1000000) + 1;
		else if (w.nports && !w.port_hinted)
			wait_ms = 1000;
		if (!m7b_client_pending(ctl->client)) {
			if (reader_gone(ctl->client, wait_ms))
				return EXIT_OK; /* as for EPIPE: `watch | head -1` is done */
			wait_ms = 0;
		}
		r = m7b_client_next(ctl->client, &ev, wait_ms);
		if (r == -ETIMEDOUT || r == -EAGAIN)
			continue;
		if (r == -EBADMSG) {
			fprintf(stderr, "%s: %s\n", ctl_prog,
				m7b_client_error(ctl->client)->message);
			continue;
		}
		if (r < 0)
			return watch_lost(ctl, &mw, r);
		/* --json passes lines on as they came: only those that are JSON text. */
		if (w.json && !ctl_json_text_ok(ev->line, ev->line_len)) {
			fprintf(stderr,
				"%s: bad line from daemon: a raw control byte or not UTF-8 "
				"(%s skipped)\n",
				ctl_prog, ctl_str_or(ctl_safe(ev->cls), "?"));
			m7b_event_free(ev);
			continue;
		}
		if (ev->type == M7B_EV_FRAME || ev->type == M7B_EV_LOG ||
		    ev->type == M7B_EV_HEARTBEAT) {
			if (!w.json)
				note_seq(&w, track_of(&w, ev->channel), ev->seq);
		}
		if (ev->type == M7B_EV_FRAME) {
			if (ev->port >= 0 && ev->port < 256)
				w.port_seen[ev->port] = true;
			if (!port_wanted(&w, ev->port)) {
				m7b_event_free(ev);
				continue;
			}
			w.port_match_ns = ctl_monotonic_ns();
			frames++;
		}
		if (ev->type == M7B_EV_RAW)
			frames++; /* a raw channel's captures */
		if (w.json) {
			printf("%s\n", ev->line);
		} else if (ev->type == M7B_EV_FRAME) {
			print_frame(&w, ev);
		} else if (ev->type == M7B_EV_RAW) {
			print_raw(&w, ev);
		} else if (ev->type == M7B_EV_HELLO) {
			if (w.view != VIEW_TEXT)
				print_hello(&w, ev);
		} else if (ev->type == M7B_EV_HEARTBEAT) {
			if (w.view != VIEW_TEXT)
				print_heartbeat(&w, ev);
		} else if (w.view != VIEW_TEXT) {
			print_event(&w, ev);
		}
		m7b_event_free(ev);
		if (fflush(stdout) != 0) {
			ctl->out_errno = errno;
			return errno == EPIPE ? EXIT_OK : EXIT_FAILED;
		}
	}
	return EXIT_OK;
}
