/* m7bridgectl status and incidents: the daemon's view of its channels, as tables. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ctl.h"

static void fmt_int(char *buf, size_t cap, const struct m7b_event *ev, size_t i, const char *member)
{
	int64_t v;

	if (m7b_event_array_int(ev, "channels", i, member, &v) == 0)
		snprintf(buf, cap, "%" PRId64, v);
	else
		snprintf(buf, cap, "-");
}

#define STATUS_COLS 11

/* What the daemon's reasons for leaving the M7 as it is mean (STATUS carries the token
 * only; the journal has the whole sentence). NULL for any other reason. */
static const char *wait_words(const char *reason)
{
	static const char *const words[][2] = {
		{"autostart_off", "the M7 is offline and autostart = false: waiting for its "
				  "owner to start it"},
		{"no_firmware", "the M7 is offline and remoteproc names no firmware file: set "
				"firmware = NAME to have the daemon start it"},
		{"m7_crashed", "the M7 crashed: waiting for the kernel's recovery or for someone "
			       "to restart it"},
		{"m7_not_running", "the M7 is not running and not offline: waiting for it to run "
				   "(the daemon's log says more)"},
	};

	for (size_t i = 0; reason && i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(reason, words[i][0]) == 0)
			return words[i][1];
	return NULL;
}

/* What the M7 lost or refused, from STATUS m7_counters, in one line when any is non-zero:
 * the firmware counts them, and a table of zeros would hide the one that is not. Not
 * host_bad: the kernel's unframed "hello world!" makes it 1 on every healthy link, and a
 * host frame it rejected shows as a failed send anyway. */
static void print_m7_losses(const struct m7b_event *st, size_t i, const char *name)
{
	static const char *const loss[] = {
		"captures_dropped", "uart_overruns",  "logs_dropped", "syncs_dropped",
		"acks_dropped",	    "host_no_credit", "host_voided",
	};
	char line[512];
	size_t n = 0;

	for (size_t k = 0; k < sizeof(loss) / sizeof(loss[0]); k++) {
		int64_t v;
		int r;

		if (ctl_channel_sub_int(st, i, "m7_counters", loss[k], &v) < 0 || v <= 0)
			continue;
		r = snprintf(line + n, sizeof(line) - n, "%s %s %" PRId64, n ? "," : "", loss[k],
			     v);
		if (r > 0 && (size_t)r < sizeof(line) - n)
			n += (size_t)r;
	}
	if (n)
		printf("%s: lost or refused on the M7:%s\n", name, line);
}

/* DATA_FRAMES counts UART captures (FRAME objects); ALL_FRAMES every valid wire frame,
 * heartbeats and logs included: two names so the two counts are never confused. UNTIMED
 * counts the captures that went out with ticks only (the clock was not mapped). */
static void print_status(const struct m7b_event *st, const struct m7b_event *version)
{
	static const char *const head[STATUS_COLS] = {
		"CHANNEL",    "STATE", "REASON",  "DEVICE", "DATA_FRAMES", "UNTIMED",
		"ALL_FRAMES", "GAPS",  "BAD_CRC", "RECOV",  "FIRMWARE"};
	size_t n = m7b_event_array_size(st, "channels");
	size_t nclients = m7b_event_array_size(st, "clients");
	char(*cell)[STATUS_COLS][96] = calloc(n + 1, sizeof(*cell));
	int width[STATUS_COLS] = {0};
	int64_t up = -1, self = -1;
	char upbuf[32] = "?";

	if (!cell)
		return;
	(void)m7b_event_get_int(st, "uptime_ms", &up);
	(void)m7b_event_get_int(st, "client_id", &self);
	if (up >= 0)
		ctl_fmt_duration(upbuf, sizeof(upbuf), up);
	printf("m7bridged %s",
	       ctl_safe(ctl_str_or(m7b_event_get_string(st, "release"),
				   version && version->release ? version->release : "?")));
	if (version && version->proto_major >= 0)
		printf(" (protocol %d.%d)", version->proto_major, version->proto_minor);
	/* This very connection is one of the daemon's clients: do not count it. */
	if (self >= 0 && nclients > 0)
		nclients--;
	printf(", up %s, %zu other client%s, %zu channel%s\n", upbuf, nclients,
	       nclients == 1 ? "" : "s", n, n == 1 ? "" : "s");
	if (n == 0) {
		printf("no channels configured\n");
		free(cell);
		return;
	}
	for (int k = 0; k < STATUS_COLS; k++)
		snprintf(cell[0][k], sizeof(cell[0][k]), "%s", head[k]);
	for (size_t i = 0; i < n; i++) {
		char(*row)[96] = cell[i + 1];
		struct m7b_channel_status ch;
		int64_t boot;
		char bid[24], fw[1024];

		ctl_safe_text(row[0], 96,
			      ctl_str_or(m7b_event_array_string(st, "channels", i, "name"), "?"));
		ctl_safe_text(row[1], 96,
			      ctl_str_or(m7b_event_array_string(st, "channels", i, "state"), "?"));
		ctl_safe_text(row[2], 96,
			      ctl_str_or(m7b_event_array_string(st, "channels", i, "reason"), "-"));
		ctl_safe_text(row[3], 96,
			      ctl_str_or(m7b_event_array_string(st, "channels", i, "device"), "-"));
		fmt_int(row[4], 96, st, i, "data_frames");
		fmt_int(row[5], 96, st, i, "untimed_frames");
		fmt_int(row[6], 96, st, i, "frames");
		fmt_int(row[7], 96, st, i, "seq_gaps");
		fmt_int(row[8], 96, st, i, "bad_crc");
		fmt_int(row[9], 96, st, i, "recoveries");
		if (m7b_event_channel(st, i, &ch) == 0 && ch.firmware) {
			if (ctl_channel_sub_int(st, i, "firmware", "boot_id", &boot) == 0) {
				ctl_fmt_boot_id(bid, sizeof(bid), boot);
				snprintf(fw, sizeof(fw), "%s (boot %s)", ch.firmware, bid);
			} else {
				snprintf(fw, sizeof(fw), "%s", ch.firmware);
			}
			/* The name comes from the M7: one line, cut between characters. */
			ctl_safe_text(row[10], 96, fw);
		} else {
			snprintf(row[10], 96, "-");
		}
	}
	for (size_t i = 0; i <= n; i++)
		for (int k = 0; k < STATUS_COLS; k++) {
			int w = (int)strlen(cell[i][k]);

			if (w > width[k])
				width[k] = w;
		}
	for (size_t i = 0; i <= n; i++) {
		for (int k = 0; k < STATUS_COLS; k++) {
			bool num = k >= 4 && k <= 9;

			if (k == STATUS_COLS - 1)
				printf("%s", cell[i][k]);
			else if (num)
				printf("%*s  ", width[k], cell[i][k]);
			else
				printf("%-*s  ", width[k], cell[i][k]);
		}
		putchar('\n');
	}
	for (size_t i = 0; i < n; i++) {
		const char *w = wait_words(m7b_event_array_string(st, "channels", i, "reason"));
		if (w)
			printf("%s: %s\n", cell[i + 1][0], w);
	}
	for (size_t i = 0; i < n; i++)
		print_m7_losses(st, i, cell[i + 1][0]);
	/* A pty's app has no other way to learn what it lost (docs/BYO-FIRMWARE.md). */
	for (size_t i = 0; i < n; i++) {
		int64_t to_app, to_m7, dropped = 0, failed = 0;
		if (ctl_channel_sub_int(st, i, "pty", "to_app", &to_app) < 0 ||
		    ctl_channel_sub_int(st, i, "pty", "to_m7", &to_m7) < 0)
			continue;
		(void)ctl_channel_sub_int(st, i, "pty", "dropped_to_app", &dropped);
		(void)ctl_channel_sub_int(st, i, "pty", "failed_to_m7", &failed);
		printf("%s: pty: %" PRId64 " bytes to the app, %" PRId64 " to the M7, %" PRId64
		       " dropped (the app did not read), %" PRId64 " failed\n",
		       cell[i + 1][0], to_app, to_m7, dropped, failed);
	}
	free(cell);
}

int ctl_parse_json_only(const char *cmd, int argc, char **argv, bool *json)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	static const char optstring[] = "+:jh";
	int c;

	*json = false;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		if (c == 'j')
			*json = true;
		else if (c == 'h')
			return ctl_help(stdout, cmd), EXIT_OK;
		else
			return ctl_getopt_error(cmd, argv, optstring);
	}
	if (optind < argc)
		return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return -1;
}

int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	struct m7b_event *st = NULL;
	bool json;
	int r = ctl_parse_json_only("status", argc, argv, &json);

	if (r >= 0)
		return r;
	if ((r = ctl_open(ctl)) || (r = ctl_get_status(ctl, &st)))
		return r;
	if (json && !ctl_json_text_ok(st->line, st->line_len)) {
		fprintf(stderr,
			"%s: status: the daemon's STATUS holds a raw control byte or "
			"is not UTF-8: no JSON to print\n",
			ctl_prog);
		m7b_event_free(st);
		return EXIT_FAILED;
	}
	if (json)
		printf("%s\n", st->line);
	else
		print_status(st, m7b_client_version(ctl->client));
	m7b_event_free(st);
	return EXIT_OK;
}

static void fmt_time_us(char *buf, size_t cap, int64_t us)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;

	if (!localtime_r(&s, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, cap, "?");
}

/* channel: the -c given, or NULL for all. */
static void print_incidents(const struct m7b_event *ev, const char *channel)
{
	char *json = m7b_event_get_json(ev, "incidents");
	cJSON *arr = json ? cJSON_Parse(json) : NULL;
	const cJSON *inc;
	int n = 0;

	cJSON_ArrayForEach(inc, arr)
	{
		const cJSON *start = cJSON_GetObjectItemCaseSensitive(inc, "start_us");
		const cJSON *end = cJSON_GetObjectItemCaseSensitive(inc, "end_us");
		const cJSON *steps = cJSON_GetObjectItemCaseSensitive(inc, "steps");
		const cJSON *seq = cJSON_GetObjectItemCaseSensitive(inc, "seq");
		const cJSON *st;
		char when[32] = "?", dur[32] = "open", nseq[24] = "?";
		int64_t a, b, k;
		bool has_a = ctl_json_int(start, &a), has_b = ctl_json_int(end, &b);

		if (n++ == 0)
			printf("%-4s %-19s %-9s %-10s %-16s %-8s %-9s %s\n", "SEQ", "START",
			       "DURATION", "CHANNEL", "KIND", "SOURCE", "OUTCOME", "STEPS");
		/* Figures out of range print as "?", never as what a wrapped one reads. */
		if (has_a && a >= 0)
			fmt_time_us(when, sizeof(when), a);
		if (has_a && has_b)
			ctl_fmt_duration(dur, sizeof(dur), a >= 0 && b >= a ? (b - a) / 1000 : -1);
		else if (cJSON_IsNumber(end))
			snprintf(dur, sizeof(dur), "?");
		if (ctl_json_int(seq, &k))
			snprintf(nseq, sizeof(nseq), "%" PRId64, k);
		printf("%-4s %-19s %-9s %-10s %-16s %-8s %-9s ", nseq, when, dur,
		       ctl_str_or(ctl_safe(cJSON_GetStringValue(
					  cJSON_GetObjectItemCaseSensitive(inc, "channel"))),
				  "-"),
		       ctl_str_or(ctl_safe(cJSON_GetStringValue(
					  cJSON_GetObjectItemCaseSensitive(inc, "kind"))),
				  "-"),
		       ctl_str_or(ctl_safe(cJSON_GetStringValue(
					  cJSON_GetObjectItemCaseSensitive(inc, "source"))),
				  "-"),
		       ctl_str_or(ctl_safe(cJSON_GetStringValue(
					  cJSON_GetObjectItemCaseSensitive(inc, "outcome"))),
				  "-"));
		bool first = true;

		cJSON_ArrayForEach(st, steps)
		{
			printf("%s%s:%s", first ? "" : ",",
			       ctl_str_or(ctl_safe(cJSON_GetStringValue(
						  cJSON_GetObjectItemCaseSensitive(st, "action"))),
					  "?"),
			       ctl_str_or(ctl_safe(cJSON_GetStringValue(
						  cJSON_GetObjectItemCaseSensitive(st, "result"))),
					  "?"));
			first = false;
		}
		printf("%s\n", first ? "-" : "");
		/* The M7's own newest trace lines, when the platform kept them. */
		cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(
					       inc, "last_words")) if (cJSON_IsString(st))
			printf("     M7: %s\n", ctl_safe(st->valuestring));
	}
	if (n == 0 && channel)
		printf("no incidents recorded for channel %s\n", ctl_safe(channel));
	else if (n == 0)
		printf("no incidents recorded\n");
	cJSON_Delete(arr);
	free(json);
}

int cmd_incidents(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"channel", required_argument, NULL, 'c'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	static const char optstring[] = "+:jc:h";
	const char *channel = NULL;
	struct m7b_event *ev = NULL;
	bool json = false;
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'c') {
			if (ctl_take_channel("incidents", &channel, optarg))
				return EXIT_USAGE;
		} else if (c == 'h')
			return ctl_help(stdout, "incidents"), EXIT_OK;
		else
			return ctl_getopt_error("incidents", argv, optstring);
	}
	if (optind < argc)
		return ctl_usage_error("incidents", "unexpected argument '%s'", argv[optind]);
	if ((r = ctl_open(ctl)))
		return r;
	r = m7b_client_incidents(ctl->client, channel, &ev);
	if (r < 0) {
		char *known = NULL;
		int u;

		m7b_event_free(ev);
		/* A name the daemon does not know gets the list of names, as send and recover
		 * say it. */
		if (channel && strcmp(m7b_client_error(ctl->client)->code, "no_channel") == 0 &&
		    (u = ctl_pick_channel(ctl, "incidents", channel, &known)))
			return u;
		free(known);
		return ctl_report(ctl, "incidents", r);
	}
	if (json && !ctl_json_text_ok(ev->line, ev->line_len)) {
		fprintf(stderr,
			"%s: incidents: the daemon's INCIDENTS holds a raw control "
			"byte or is not UTF-8: no JSON to print\n",
			ctl_prog);
		m7b_event_free(ev);
		return EXIT_FAILED;
	}
	if (json)
		printf("%s\n", ev->line);
	else
		print_incidents(ev, channel);
	m7b_event_free(ev);
	return EXIT_OK;
}
