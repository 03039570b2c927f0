/* m7bridged: arguments, configuration, then the daemon (daemon.c) does the work. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "clocksync.h"
#include "conf.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "supervisor.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: m7bridged [OPTIONS]\n"
		"Owns the M7's RPMSG ttys and republishes their frames as JSON lines on a Unix "
		"socket.\n\n"
		"  -c, --config FILE          configuration (default %s;\n"
		"                             a missing default file means built-in defaults)\n"
		"  -s, --socket PATH          client socket (default %s)\n"
		"      --socket-mode MODE     octal mode of the socket (default 0660)\n"
		"      --socket-group GROUP   group of the socket\n"
		"  -C, --channel NAME=DEVICE  add a channel (repeatable; overrides the file's)\n"
		"  -l, --log-level LEVEL      debug, info, notice, warning, err\n"
		"  -f, --foreground           log to stderr instead of the journal\n"
		"      --check-config         check the configuration, print it, exit (0 or 78)\n"
		"  -V, --version              print the version\n"
		"  -h, --help                 this text\n\n"
		"Exit status: 0 ok, 64 bad usage, 78 bad configuration, 1 other failure.\n"
		"See docs/CONFIG.md and docs/CLIENT-PROTOCOL.md.\n",
		CONF_DEFAULT_PATH, CONF_DEFAULT_SOCKET);
}

static void print_config(const struct conf *c)
{
	printf("config: %s\n", c->path[0] ? c->path : "(built-in defaults)");
	printf("socket: %s mode %04o group %s\n", c->daemon.socket_path, c->daemon.socket_mode,
	       c->daemon.socket_group ? c->daemon.socket_group : "(daemon's)");
	printf("clients: at most %u, %u KiB queue each; send %s, control %s; log level %s\n",
	       c->daemon.max_clients, c->daemon.client_queue_kib,
	       c->daemon.allow_send ? "allowed" : "forbidden",
	       c->daemon.allow_control ? "allowed" : "forbidden",
	       log_level_to_string(c->daemon.log_level));
	for (unsigned i = 0; i < c->nchannels; i++) {
		const struct conf_channel *ch = &c->channels[i];
		printf("channel %s: %s%s, send timeout %u ms, queue %u, reopen %u..%u ms\n",
		       ch->name, ch->device, ch->enabled ? "" : " (disabled)", ch->send_timeout_ms,
		       ch->send_queue, ch->reopen_min_ms, ch->reopen_max_ms);
		for (unsigned p = 0; p < CONF_PORTS; p++)
			if (ch->port_names[p])
				printf("  port %u: %s\n", p, ch->port_names[p]);
	}
}

int main(int argc, char **argv)
{
	enum { OPT_MODE = 256, OPT_GROUP, OPT_CHECK };
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"socket-mode", required_argument, NULL, OPT_MODE},
		{"socket-group", required_argument, NULL, OPT_GROUP},
		{"channel", required_argument, NULL, 'C'},
		{"log-level", required_argument, NULL, 'l'},
		{"foreground", no_argument, NULL, 'f'},
		{"check-config", no_argument, NULL, OPT_CHECK},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct daemon_args a = {.ov = {.socket_mode = -1, .log_level = -1},
				.log_target = LOG_TARGET_JOURNAL};
	const char *path = NULL;
	bool check = false;
	const char **channels = calloc((size_t)argc + 1, sizeof *channels);
	if (!channels)
		return 1;
	int o;
	while ((o = getopt_long(argc, argv, "c:s:C:l:fVh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			path = optarg;
			break;
		case 's':
			a.ov.socket = optarg;
			break;
		case OPT_MODE: {
			char *end;
			long m = strtol(optarg, &end, 8);
			if (*end || m < 0 || m > 0777) {
				fprintf(stderr,
					"m7bridged: --socket-mode: expected an octal mode\n");
				free(channels);
				return EX_USAGE;
			}
			a.ov.socket_mode = (int)m;
			break;
		}
		case OPT_GROUP:
			a.ov.socket_group = optarg;
			break;
		case 'C':
			channels[a.ov.nchannels++] = optarg;
			break;
		case 'l':
			a.ov.log_level = log_level_from_string(optarg);
			if (a.ov.log_level < 0) {
				fprintf(stderr, "m7bridged: --log-level: unknown level '%s'\n",
					optarg);
				free(channels);
				return EX_USAGE;
			}
			break;
		case 'f':
			a.log_target = LOG_TARGET_STDERR;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case 'V':
			printf("m7bridged %s (client protocol %d.%d)\n", M7B_VERSION, PROTO_MAJOR,
			       PROTO_MINOR);
			free(channels);
			return 0;
		case 'h':
			usage(stdout);
			free(channels);
			return 0;
		default:
			usage(stderr);
			free(channels);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "m7bridged: unexpected argument '%s'\n", argv[optind]);
		free(channels);
		return EX_USAGE;
	}
	a.ov.channels = channels;
	/* Only the default path may be missing: a file named on the command line must exist. */
	a.conf_optional = path == NULL;
	a.conf_path = path ? path : CONF_DEFAULT_PATH;

	struct conf_error err;
	int r = conf_read(a.conf_path, a.conf_optional, &a.ov, &a.cfg, &err);
	if (r < 0) {
		char msg[512];
		fprintf(stderr, "m7bridged: %s\n", conf_error_format(&err, msg, sizeof msg));
		free(channels);
		return EX_CONFIG;
	}
	if (check) {
		print_config(a.cfg);
		conf_free(a.cfg);
		free(channels);
		return 0;
	}
	struct daemon *d = daemon_new(&a, &r);
	struct notify *n = NULL;
	struct supervisor *sv = NULL;
	struct clocksync *cs = NULL;
	int status = 1;
	if (d)
		sv = supervisor_new(d, &r); /* faults and recovery; logs its own failures */
	if (d && sv)
		cs = clocksync_new(d); /* FRAME t_first_ns / t_last_ns */
	if (d && sv) {
		/* systemd: the socket listens and the channels are set up, so READY=1 now;
		 * then STATUS= follows the channels and WATCHDOG=1 ticks from the loop. */
		n = notify_new(daemon_base(d));
		if (n && notify_attach(n, d) == 0)
			(void)notify_ready(n, NULL);
		r = daemon_run(d);
		(void)notify_stopping(n);
		status = r ? 1 : 0;
	}
	n = notify_free(n);
	cs = clocksync_free(cs);
	sv = supervisor_free(sv); /* before the daemon: it uses the daemon's event base */
	daemon_free(d);
	free(channels);
	return status;
}
