/* m7bridgectl: command-line client of m7bridged: global options, help and dispatch. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "doctor.h"

static int cmd_ping(struct ctl *ctl, int argc, char **argv);
static int cmd_version(struct ctl *ctl, int argc, char **argv);

/* One row per command: its function, synopsis (global help) and own help text. Another
 * command is one row here plus its file. */
static const struct command {
	const char *name;
	int (*fn)(struct ctl *, int, char **);
	const char *synopsis;
	const char *help;
} commands[] = {
	{"status", cmd_status, "[--json]",
	 "daemon and channel state\n"
	 "  -j, --json           the STATUS object as the daemon sent it\n"
	 "DATA_FRAMES counts UART captures (FRAME objects), UNTIMED those of them sent\n"
	 "without a mapped time; ALL_FRAMES counts every valid wire frame, heartbeats and\n"
	 "logs included. What the M7 lost or refused follows the table, when any.\n"},
	{"watch", cmd_watch,
	 "[--json] [-n COUNT] [-c CHANNEL]... [-p PORT]... [--hex|--text]\n"
	 "        [--classes LIST] [--policy drop|disconnect]",
	 "print frames and events as they arrive\n"
	 "  -j, --json           one JSON object per line, as the daemon sent it\n"
	 "  -n, --count COUNT    stop after COUNT frames\n"
	 "  -c, --channel NAME   only this channel (repeatable)\n"
	 "  -p, --port PORT      only frames of this UART port (repeatable)\n"
	 "  -x, --hex            payloads as a hex dump\n"
	 "  -T, --text           payload bytes only, like reading the UART (control bytes\n"
	 "                       escaped on a terminal)\n"
	 "  -C, --classes LIST   FRAME,STATE,LOG,HELLO,HEARTBEAT,FAULT,CLOCK,RAW (default\n"
	 "                       all but HEARTBEAT and CLOCK; repeatable, the lists add up)\n"
	 "  -P, --policy P       when this client is too slow: drop (default) or disconnect\n"
	 "Seq resets (new boot, new handshake), missing frames, link noise (bad CRC, stray\n"
	 "bytes; summed once a second) and frames held back by a stall are explained in\n"
	 "the human format. seq counts every frame the firmware sends (heartbeats and\n"
	 "logs too): a skipped number is no loss; a \"frames missing\" line is.\n"},
	{"top", cmd_top, "[-n COUNT] [-c CHANNEL]",
	 "a live health view refreshed every second (q quits)\n"
	 "  -n, --count COUNT    stop after COUNT refreshes\n"
	 "  -c, --channel NAME   only this channel\n"
	 "Full screen on a terminal; one plain line per channel and second otherwise.\n"},
	{"send", cmd_send, "[-c CHANNEL] -p PORT [--hex|--text] [-q] DATA|-",
	 "write bytes on an M7 UART\n"
	 "  -c, --channel NAME   the channel (default: the only one)\n"
	 "  -p, --port PORT      the M7 UART port\n"
	 "  -x, --hex            DATA is hex bytes (\"48 65 6c\")\n"
	 "      --text           DATA is text, sent as is (the default)\n"
	 "  -q, --quiet          no confirmation line\n"
	 "DATA '-' reads the bytes from stdin.\n"},
	{"recover", cmd_recover, "[-c CHANNEL] [--action STEP] [-q]",
	 "recover a channel now\n"
	 "  -c, --channel NAME   the channel (default: the only one)\n"
	 "  -a, --action STEP    resync, reopen, driver or remoteproc (default: the\n"
	 "                       daemon's ladder, least disruptive first)\n"
	 "  -q, --quiet          no confirmation line\n"},
	{"reload", cmd_reload, "[-c CHANNEL] [-q] [--no-rollback] [FIRMWARE]",
	 "reload the M7 firmware without reboot\n"
	 "  -c, --channel NAME   the channel (default: the only one)\n"
	 "  -q, --quiet          no confirmation line\n"
	 "  --no-rollback        keep the new image even if it fails verification\n"
	 "FIRMWARE is a file name under /lib/firmware (default: the configured one).\n"},
	{"incidents", cmd_incidents, "[--json] [-c CHANNEL]",
	 "faults and what recovery did\n"
	 "  -j, --json           the INCIDENTS object as the daemon sent it\n"
	 "  -c, --channel NAME   only this channel\n"},
	{"ports", cmd_ports, "[--json]",
	 "serial ports on this machine\n"
	 "  -j, --json           one JSON array of the ports\n"},
	{"ping", cmd_ping, "", "check that the daemon answers\n"},
	{"version", cmd_version, "", "client and daemon versions\n"},
	{"doctor", cmd_doctor, DOCTOR_SYNOPSIS, DOCTOR_HELP},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

void ctl_help(FILE *f, const char *cmd)
{
	const struct command *c = cmd ? find_command(cmd) : NULL;

	if (c) {
		fprintf(f, "Usage: %s [OPTIONS] %s%s%s\n%s", ctl_prog, c->name,
			c->synopsis[0] ? " " : "", c->synopsis, c->help);
		/* A command with exit codes of its own (doctor) says them in its help. */
		if (!strstr(c->help, "Exit "))
			fprintf(f, "Exit status: 0 ok, 1 request failed, 2 usage error (also when "
				   "the daemon\nrejects an argument), 69 daemon unreachable.\n");
		return;
	}
	fprintf(f,
		"Usage: %s [OPTIONS] COMMAND [ARGS]\n"
		"Control and watch m7bridged, the i.MX8M Plus Cortex-M7 RPMSG bridge.\n"
		"\n"
		"Commands:\n",
		ctl_prog);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *nl = strchr(commands[i].help, '\n');

		fprintf(f, "  %s%s%s\n        %.*s\n", commands[i].name,
			commands[i].synopsis[0] ? " " : "", commands[i].synopsis,
			(int)(nl ? nl - commands[i].help : 0), commands[i].help);
	}
	fprintf(f,
		"\n"
		"Options:\n"
		"  -s, --socket PATH    daemon socket (default $%s or %s)\n"
		"  -t, --timeout MS     how long to wait for a reply (default 5000)\n"
		"  -q, --quiet          no confirmation line on success\n"
		"  -h, --help           this text ('%s COMMAND --help' for one command)\n"
		"  -V, --version        print the version\n"
		"\n"
		"Exit status: 0 ok, 1 request failed, 2 usage error, 69 daemon unreachable.\n",
		M7B_SOCKET_ENV, M7B_DEFAULT_SOCKET, ctl_prog);
}

/* Commands without options still answer --help and refuse anything else. */
static int no_args(const char *cmd, int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		ctl_help(stdout, cmd);
		return EXIT_OK;
	}
	if (argc > 1)
		return ctl_usage_error(cmd, "unexpected argument '%s'", argv[1]);
	return -1;
}

static int cmd_ping(struct ctl *ctl, int argc, char **argv)
{
	struct timespec a, b;
	int r;

	if ((r = no_args("ping", argc, argv)) >= 0)
		return r;
	if ((r = ctl_open(ctl)))
		return r;
	clock_gettime(CLOCK_MONOTONIC, &a);
	r = m7b_client_ping(ctl->client);
	if (r < 0)
		return ctl_report(ctl, "ping", r);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("m7bridged answered in %.3f ms\n",
	       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	return EXIT_OK;
}

static int cmd_version(struct ctl *ctl, int argc, char **argv)
{
	const struct m7b_event *v;
	struct m7b_event *ev;
	int r;

	if ((r = no_args("version", argc, argv)) >= 0)
		return r;
	printf("m7bridgectl %s (libm7bridge %s, protocol %d)\n", M7B_VERSION, m7b_version(),
	       M7B_PROTO_MAJOR);
	/* The daemon's version is a bonus: being unable to reach it is not a failure here. */
	ctl->client = m7b_client_new();
	if (!ctl->client)
		return EXIT_FAILED;
	m7b_client_set_timeout(ctl->client, ctl->timeout_ms);
	if (m7b_client_connect(ctl->client, ctl->socket) < 0) {
		printf("m7bridged: not reachable at %s\n", m7b_client_path(ctl->client));
		return EXIT_OK;
	}
	r = ctl_greet(ctl->client, ctl->timeout_ms, &ev);
	if (r < 0) {
		printf("m7bridged: no VERSION from %s\n", m7b_client_path(ctl->client));
		return EXIT_OK;
	}
	if (r > 0) {
		printf("%s\n", ctl_refusal(ev));
		m7b_event_free(ev);
		return EXIT_OK;
	}
	v = m7b_client_version(ctl->client);
	/* The release is the daemon's word: one line of text, as status shows it. */
	printf("m7bridged %s (protocol %d.%d) at %s\n", ctl_str_or(ctl_safe(v->release), "?"),
	       v->proto_major, v->proto_minor, m7b_client_path(ctl->client));
	return EXIT_OK;
}

/* The exit status once standard output is flushed: lost output is said, and fails a
 * command that had succeeded. */
static int finish(const struct ctl *ctl, int rc)
{
	/* A failed flush leaves nothing to flush: what watch and top saw is kept. */
	int out_errno = fflush(stdout) != 0 ? errno : ctl->out_errno;

	if (out_errno && out_errno != EPIPE) {
		/* Output lost (a full disk, a closed descriptor): say so, not just exit 1;
		 * also when the status says something else (doctor's findings). */
		fprintf(stderr, "%s: cannot write to standard output: %s\n", ctl_prog,
			strerror(out_errno));
		if (rc == EXIT_OK)
			rc = EXIT_FAILED;
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'}, {"timeout", required_argument, NULL, 't'},
		{"quiet", no_argument, NULL, 'q'},	  {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	  {NULL, 0, NULL, 0}};
	static const char optstring[] = "+:s:t:qhV";
	struct ctl ctl = {.timeout_ms = 5000};
	const char *timeout_arg = NULL;
	const struct command *cmd;
	char *end;
	int c, rc;

	/* Before anything opens a descriptor (the daemon's socket). No message when it
	 * fails: stderr may be the one that is closed. */
	int held = ctl_hold_std_fds();

	if (held < 0)
		return EXIT_FAILED;
	ctl.stdout_closed = held & 1 << STDOUT_FILENO;
	/* A closed stdout (m7bridgectl watch | head) is a normal way to stop. */
	signal(SIGPIPE, SIG_IGN);
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		switch (c) {
		case 's':
			/* An empty path (an unset variable in a script) would fall back to
			 * $M7BRIDGE_SOCKET or the default: maybe another daemon. */
			if (!optarg[0])
				return ctl_usage_error(NULL, "--socket needs a path, not ''");
			if (ctl_take_once(NULL, "socket", &ctl.socket, optarg))
				return EXIT_USAGE;
			break;
		case 't': {
			if (ctl_take_once(NULL, "timeout", &timeout_arg, optarg))
				return EXIT_USAGE;
			errno = 0;
			long ms = strtol(optarg, &end, 10);
			/* Checked before it becomes an int: 4294967297 must not read as 1. */
			if (errno || end == optarg || *end || ms <= 0 || ms > INT_MAX)
				return ctl_usage_error(
					NULL, "--timeout needs milliseconds 1..%d, not '%s'",
					INT_MAX, optarg);
			ctl.timeout_ms = (int)ms;
			break;
		}
		case 'q':
			ctl.quiet = true;
			break;
		case 'h':
			ctl_help(stdout, NULL);
			return finish(&ctl, EXIT_OK);
		case 'V':
			printf("m7bridgectl %s\n", M7B_VERSION);
			return finish(&ctl, EXIT_OK);
		default:
			return ctl_getopt_error(NULL, argv, optstring);
		}
	}
	if (optind >= argc)
		return ctl_usage_error(NULL, "no command given");
	argc -= optind;
	argv += optind;
	/* "help watch" reads as naturally as "watch --help". */
	if (strcmp(argv[0], "help") == 0) {
		if (argc > 1 && !find_command(argv[1]))
			return ctl_usage_error(NULL, "unknown command '%s'", argv[1]);
		ctl_help(stdout, argc > 1 ? argv[1] : NULL);
		return finish(&ctl, EXIT_OK);
	}
	cmd = find_command(argv[0]);
	if (!cmd)
		return ctl_usage_error(NULL, "unknown command '%s'", argv[0]);
	rc = cmd->fn(&ctl, argc, argv);
	m7b_client_free(ctl.client);
	return finish(&ctl, rc);
}
