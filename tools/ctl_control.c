/* m7bridgectl send, recover and reload: the commands that act on a channel. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "m7bridge/wire.h"

#define SEND_MAX M7B_PAYLOAD_MAX /* bytes per send: the wire payload limit */

static int hex_value(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Hex digits with optional blanks (a file's tabs and CRLF line ends too) or colons
 * between bytes into buf; -1 if malformed. */
static long parse_hex(const char *s, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	while (*s) {
		if (isspace((unsigned char)*s) || *s == ':') {
			s++;
			continue;
		}
		int hi = hex_value((unsigned char)s[0]);
		int lo = hi >= 0 && s[1] ? hex_value((unsigned char)s[1]) : -1;

		if (lo < 0 || n == cap)
			return -1;
		buf[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return (long)n;
}

int cmd_send(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"channel", required_argument, NULL, 'c'},
					     {"port", required_argument, NULL, 'p'},
					     {"hex", no_argument, NULL, 'x'},
					     {"text", no_argument, NULL, 'T'},
					     {"quiet", no_argument, NULL, 'q'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	static const char optstring[] = "+:c:p:xqh";
	const char *channel = NULL;
	char *chan = NULL;
	uint8_t buf[SEND_MAX];
	size_t len = 0;
	bool hex = false, text = false;
	int port = -1, c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (ctl_take_channel("send", &channel, optarg))
				return EXIT_USAGE;
			break;
		case 'p': {
			int prev = port;

			if (!ctl_parse_port(optarg, &port))
				return ctl_usage_error("send", "port must be 0..255, not '%s'",
						       optarg);
			if (prev >= 0 && prev != port)
				return ctl_usage_error("send",
						       "one port at a time, not both %d and %d",
						       prev, port);
			break;
		}
		case 'x':
			hex = true;
			break;
		case 'T':
			text = true;
			break;
		case 'q':
			ctl->quiet = true;
			break;
		case 'h':
			ctl_help(stdout, "send");
			return EXIT_OK;
		default:
			return ctl_getopt_error("send", argv, optstring);
		}
	}
	if (hex && text)
		return ctl_usage_error("send", "--hex and --text contradict each other: give one");
	if (port < 0)
		return ctl_usage_error("send", "which UART? give -p PORT");
	if (optind != argc - 1)
		return ctl_usage_error("send", "give the data as one argument, or '-' for stdin");
	const char *arg = argv[optind];
	char in[2 * SEND_MAX * 3 + 2];

	if (strcmp(arg, "-") == 0) {
		size_t n = fread(in, 1, sizeof(in) - 1, stdin);

		/* A buffer filled to the last byte has not seen the end yet: look once more. */
		bool more = n == sizeof(in) - 1 && getc(stdin) != EOF;

		if (ferror(stdin))
			return ctl_usage_error("send", "cannot read stdin: %s", strerror(errno));
		if (more && hex)
			return ctl_usage_error("send",
					       "stdin holds more than %zu characters of hex",
					       sizeof(in) - 1);
		if (more)
			return ctl_usage_error("send", "stdin holds more than %u bytes", SEND_MAX);
		in[n] = '\0';
		if (!hex && n > SEND_MAX)
			return ctl_usage_error("send", "at most %u bytes per send", SEND_MAX);
		if (!hex) {
			memcpy(buf, in, n);
			len = n;
		}
		arg = in;
	} else if (!hex) {
		len = strlen(arg);
		if (len > SEND_MAX)
			return ctl_usage_error("send", "at most %u bytes per send", SEND_MAX);
		memcpy(buf, arg, len);
	}
	if (hex) {
		long n = parse_hex(arg, buf, sizeof(buf));

		if (n < 0)
			return ctl_usage_error("send", "not hex bytes (or more than %u): '%s'",
					       SEND_MAX, ctl_safe(arg));
		len = (size_t)n;
	}
	if (len == 0)
		return ctl_usage_error("send", "nothing to send");
	/* No check of the port against STATUS "ports": that lists the ports the
	 * configuration names, not those the firmware has; the firmware answers bad_port. */
	if ((r = ctl_open(ctl)) || (r = ctl_pick_channel(ctl, "send", channel, &chan))) {
		free(chan);
		return r;
	}
	r = m7b_client_send(ctl->client, chan, port, buf, len);
	if (r == -EREMOTEIO && strstr(m7b_client_error(ctl->client)->message, "bad_port")) {
		fprintf(stderr, "%s: send: the firmware on %s has no UART port %d (bad_port)\n",
			ctl_prog, ctl_safe(chan), port);
		free(chan);
		return EXIT_USAGE;
	}
	if (r < 0) {
		free(chan);
		return ctl_report(ctl, "send", r);
	}
	if (!ctl->quiet)
		printf("sent %zu byte%s to %s port %d\n", len, len == 1 ? "" : "s", ctl_safe(chan),
		       port);
	free(chan);
	return EXIT_OK;
}

/* recover and reload: ACK once started; print what was started. */
static int control(struct ctl *ctl, int argc, char **argv, bool reload)
{
	static const struct option opts[] = {
		{"channel", required_argument, NULL, 'c'}, {"action", required_argument, NULL, 'a'},
		{"quiet", no_argument, NULL, 'q'},	   {"help", no_argument, NULL, 'h'},
		{"no-rollback", no_argument, NULL, 'R'},   {NULL, 0, NULL, 0}};
	static const char *const actions[] = {"resync", "reopen", "driver", "remoteproc"};
	const char *what = reload ? "reload" : "recover";
	const char *optstring = reload ? "+:c:qhR" : "+:c:a:qh";
	bool no_rollback = false;
	const char *channel = NULL, *action = NULL, *firmware = NULL;
	char *chan = NULL;
	struct m7b_event *reply = NULL;
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (ctl_take_channel(what, &channel, optarg))
				return EXIT_USAGE;
			break;
		case 'a':
			/* getopt_long knows --action for both commands: reload has no steps. */
			if (reload)
				return ctl_usage_error(what, "--action goes with recover");
			if (ctl_take_once(what, "action", &action, optarg))
				return EXIT_USAGE;
			break;
		case 'R':
			if (!reload)
				return ctl_usage_error(what, "--no-rollback goes with reload");
			no_rollback = true;
			break;
		case 'q':
			ctl->quiet = true;
			break;
		case 'h':
			ctl_help(stdout, what);
			return EXIT_OK;
		default:
			return ctl_getopt_error(what, argv, optstring);
		}
	}
	if (reload && optind < argc)
		firmware = argv[optind++];
	if (optind < argc)
		return ctl_usage_error(what, "unexpected argument '%s'", argv[optind]);
	if (firmware && strchr(firmware, '/'))
		return ctl_usage_error("reload",
				       "FIRMWARE is a file name under /lib/firmware, not a path: "
				       "'%s'",
				       firmware);
	if (action) {
		bool known = false;

		for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
			known = known || strcmp(action, actions[i]) == 0;
		if (!known)
			return ctl_usage_error("recover",
					       "no action '%s' (actions: resync, reopen, driver, "
					       "remoteproc)",
					       action);
	}
	if ((r = ctl_open(ctl)) || (r = ctl_pick_channel(ctl, what, channel, &chan)))
		return r;
	if (reload) {
		struct m7b_request req = {.cmd = M7B_CMD_RELOAD,
					  .channel = chan,
					  .firmware = firmware,
					  .no_rollback = no_rollback};

		r = m7b_client_call(ctl->client, &req, &reply);
	} else {
		struct m7b_request req = {
			.cmd = M7B_CMD_RECOVER, .channel = chan, .action = action};

		r = m7b_client_call(ctl->client, &req, &reply);
	}
	if (r < 0) {
		const char *code = m7b_client_error(ctl->client)->code;
		struct m7b_event *st = NULL;
		char steps[256];
		long i;

		m7b_event_free(reply);
		r = ctl_report(ctl, what, r);
		/* "not configured": say what is, when the daemon tells. */
		if (strcmp(code, "unsupported") == 0 && m7b_client_status(ctl->client, &st) == 0 &&
		    (i = ctl_channel_index(st, chan)) >= 0 &&
		    ctl_channel_list_member(st, (size_t)i, "recovery_steps", steps,
					    sizeof(steps)) >= 0)
			fprintf(stderr, "%s: %s: channel %s's recovery steps: %s\n", ctl_prog, what,
				ctl_safe(chan), steps);
		m7b_event_free(st);
		free(chan);
		return r;
	}
	if (!ctl->quiet)
		printf("%s of channel %s started; follow it with: %s watch -c %s\n", what,
		       ctl_safe(chan), ctl_prog, ctl_safe(chan));
	m7b_event_free(reply);
	free(chan);
	return EXIT_OK;
}

int cmd_recover(struct ctl *ctl, int argc, char **argv)
{
	return control(ctl, argc, argv, false);
}

int cmd_reload(struct ctl *ctl, int argc, char **argv)
{
	return control(ctl, argc, argv, true);
}
