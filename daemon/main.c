/* m7bridged: arguments, configuration, then the daemon (daemon.c) does the work. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
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
#include "ptybridge.h"
#include "privsep.h"
#include "server.h"
#include "supervisor.h"

enum { OPT_MODE = 256, OPT_GROUP, OPT_CHECK, OPT_USER };

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
		"  -u, --user USER            run as USER, with a privileged helper for the\n"
		"                             remoteproc writes and recovery commands\n"
		"      --check-config         check the configuration, print it, exit (0 or 78)\n"
		"  -V, --version              print the version\n"
		"  -h, --help                 this text\n\n"
		"Exit status: 0 ok, 64 bad usage, 78 bad configuration, 77 not allowed to\n"
		"become --user, 1 other failure.\n"
		"See docs/CONFIG.md and docs/CLIENT-PROTOCOL.md.\n",
		CONF_DEFAULT_PATH, CONF_DEFAULT_SOCKET);
}

static void print_key(void *ud, const char *key, const char *value)
{
	(void)ud;
	printf("%s = %s\n", key, value);
}

/* Every key in effect, defaults and recovery keys included, as the file would say it. */
static void print_config(const struct conf *c)
{
	/* The first line is what scripts grep for: which file was read. */
	if (c->path[0])
		printf("config: %s\n", c->path);
	else /* say where it looked: a file in the wrong place is the usual mistake */
		printf("config: (built-in defaults: %s not found)\n", CONF_DEFAULT_PATH);
	printf("[daemon]\n");
	conf_each_key(c, NULL, print_key, NULL);
	for (unsigned i = 0; i < c->nchannels; i++) {
		const struct conf_channel *ch = &c->channels[i];
		printf("\n[channel %s]\n", ch->name);
		conf_each_key(c, ch, print_key, NULL);
		for (unsigned p = 0; p < CONF_PORTS; p++)
			if (ch->port_names[p])
				printf("port.%u = %s\n", p, ch->port_names[p]);
	}
}

/* What the command line's --user must be, for --check-config and at start alike (in the
 * same words): a user that exists, and not root unless allowed. The file's user and
 * socket_group were checked at their lines as it was read. 0 or EX_CONFIG (reported). */
static int check_accounts(const struct conf *c, const char *user_opt)
{
	if (!user_opt)
		return 0;
	if (!getpwnam(user_opt)) {
		fprintf(stderr, "m7bridged: --user: no user named '%s'\n", user_opt);
		return EX_CONFIG;
	}
	if (!c->daemon.allow_root_user && conf_user_is_root(user_opt)) {
		fprintf(stderr, "m7bridged: --user %s: %s\n", user_opt, CONF_ROOT_USER_MSG);
		return EX_CONFIG;
	}
	return 0;
}

/* What the command line asked for. */
struct options {
	struct daemon_args a;
	const char *path; /* --config, NULL for the default */
	const char *user; /* --user, NULL for the file's */
	bool check;	  /* --check-config */
	const char **channels;
	struct privsep *ps; /* the privileged helper, if any */
};

/* main's "go on" (exit statuses are 0..255). */
#define GO_ON (-1)

static int parse_option(int o, struct options *op)
{
	char *end;
	long m;

	switch (o) {
	case 'c':
		/* An empty value (an unset variable in a unit or a script) is no default. */
		if (!optarg[0]) {
			fprintf(stderr, "m7bridged: --config: needs a file name\n");
			return EX_USAGE;
		}
		op->path = optarg;
		return GO_ON;
	case 's':
		op->a.ov.socket = optarg;
		return GO_ON;
	case OPT_MODE:
		/* strtol() takes "" as 0 and skips blanks: a mode is digits only. */
		m = strtol(optarg, &end, 8);
		if (!isdigit((unsigned char)optarg[0]) || *end || m < 0 || m > 0777) {
			fprintf(stderr, "m7bridged: --socket-mode: expected an octal mode\n");
			return EX_USAGE;
		}
		op->a.ov.socket_mode = (int)m;
		return GO_ON;
	case OPT_GROUP:
		op->a.ov.socket_group = optarg;
		return GO_ON;
	case 'C':
		op->channels[op->a.ov.nchannels++] = optarg;
		return GO_ON;
	case 'l':
		op->a.ov.log_level = log_level_from_string(optarg);
		if (op->a.ov.log_level < 0) {
			fprintf(stderr, "m7bridged: --log-level: unknown level '%s'\n", optarg);
			return EX_USAGE;
		}
		return GO_ON;
	case 'f':
		op->a.log_target = LOG_TARGET_STDERR;
		return GO_ON;
	case 'u':
		/* "" would mean no user: the daemon would run without the split, as root. */
		if (!optarg[0]) {
			fprintf(stderr, "m7bridged: --user: needs a user name\n");
			return EX_USAGE;
		}
		op->user = optarg;
		return GO_ON;
	case OPT_CHECK:
		op->check = true;
		return GO_ON;
	case 'V':
		printf("m7bridged %s (client protocol %d.%d)\n", M7B_VERSION, PROTO_MAJOR,
		       PROTO_MINOR);
		return 0;
	case 'h':
		usage(stdout);
		return 0;
	default:
		usage(stderr);
		return EX_USAGE;
	}
}

/* Fills op from argv; GO_ON, or the exit status when there is nothing more to do. */
static int parse_args(int argc, char **argv, struct options *op)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"socket-mode", required_argument, NULL, OPT_MODE},
		{"socket-group", required_argument, NULL, OPT_GROUP},
		{"channel", required_argument, NULL, 'C'},
		{"log-level", required_argument, NULL, 'l'},
		{"foreground", no_argument, NULL, 'f'},
		{"user", required_argument, NULL, 'u'},
		{"check-config", no_argument, NULL, OPT_CHECK},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int o, status = GO_ON;

	while (status == GO_ON && (o = getopt_long(argc, argv, "c:s:C:l:fu:Vh", opts, NULL)) != -1)
		status = parse_option(o, op);
	if (status == GO_ON && optind < argc) {
		fprintf(stderr, "m7bridged: unexpected argument '%s'\n", argv[optind]);
		status = EX_USAGE;
	}
	op->a.ov.channels = op->channels;
	/* Only the default path may be missing: a file named on the command line must exist. */
	op->a.conf_optional = op->path == NULL;
	op->a.conf_path = op->path ? op->path : CONF_DEFAULT_PATH;
	return status;
}

/* Reads the configuration into op->a.cfg; GO_ON or EX_CONFIG (reported). */
static int load_config(struct options *op)
{
	struct conf_error err;
	char msg[512];

	if (conf_read(op->a.conf_path, op->a.conf_optional, &op->a.ov, &op->a.cfg, &err) == 0)
		return GO_ON;
	fprintf(stderr, "m7bridged: %s\n", conf_error_format(&err, msg, sizeof(msg)));
	return EX_CONFIG;
}

/* With a user (--user, or `user` in the file): forks the privileged helper, then drops to
 * that user, before anything from clients or the tty is read. GO_ON or the exit status. */
static int separate(struct options *op, struct privsep **ps)
{
	const char *user = op->user ? op->user : op->a.cfg->daemon.user;
	struct privsep_args pa = {.cfg = op->a.cfg,
				  .conf_path = op->a.conf_path,
				  .conf_optional = op->a.conf_optional,
				  .ov = &op->a.ov,
				  .log_target = op->a.log_target};
	int r;

	if (!user[0])
		return GO_ON;
	/* Either user was checked (check_accounts(), conf.c): a uid 0 one is allowed. */
	if (conf_user_is_root(user))
		fprintf(stderr,
			"m7bridged: warning: user %s is uid 0 (allow_root_user): the "
			"daemon reads its input as root\n",
			user);
	r = privsep_start(&pa, ps);
	if (r == 0)
		r = privsep_drop(user);
	if (r < 0) {
		fprintf(stderr, "m7bridged: cannot run as %s: %s\n", user, strerror(-r));
		*ps = privsep_free(*ps);
		return r == -EPERM ? EX_NOPERM : 1;
	}
	return GO_ON;
}

/* A SIGHUP's configuration, read once by the helper for both processes. */
static int read_through_helper(void *ud, struct conf **out, struct conf_error *err)
{
	const struct options *op = ud;

	return privsep_read_conf(op->ps, op->a.conf_path, &op->a.ov, out, err);
}

/* SIGHUP, SIGTERM and SIGINT are held (blocked) while the daemon starts and while it
 * stops, and taken by the event loop in between: by their default action one of them
 * would end the daemon half started or half stopped (status "killed by SIGHUP", the
 * helper's wait cut short). One that comes during the start waits for the loop; one
 * during the stop has nothing left to do. Unblocked also when a parent's mask, which
 * exec keeps, held them. */
static void hold_signals(bool hold)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGHUP);
	sigaddset(&s, SIGTERM);
	sigaddset(&s, SIGINT);
	(void)sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &s, NULL);
}

/* Runs the daemon with its supervisor, clock mapping and systemd notifications until it
 * is asked to stop. Takes op->a.cfg. The exit status. */
static int run(struct options *op, struct privsep *ps)
{
	struct daemon *d = NULL;
	struct notify *n = NULL;
	struct supervisor *sv = NULL;
	struct clocksync *cs = NULL;
	struct ptybridge *pb = NULL;
	int status = 1;
	int r = daemon_new(&op->a, &d);
	/* A socket unit that passes the wrong kind of socket is a configuration error: the
	 * service's RestartPreventExitStatus= then stops it being restarted in vain. */
	if (r == -EPROTOTYPE)
		status = EX_CONFIG;

	if (r == 0)
		r = supervisor_new(d, &sv); /* faults and recovery */
	if (r == 0)
		r = supervisor_set_privsep(sv, ps);
	if (r == 0 && ps) {
		op->ps = ps;
		daemon_set_conf_reader(d, read_through_helper, op);
	}
	if (r == 0)
		cs = clocksync_new(d); /* FRAME t_first_ns / t_last_ns */
	if (r == 0)
		r = ptybridge_new(d, &pb); /* ptys for unchanged serial apps */
	if (r == 0) {
		/* systemd: the socket listens and the channels are set up, so READY=1 now;
		 * then STATUS= follows the channels and WATCHDOG=1 ticks from the loop. */
		n = notify_new(daemon_base(d));
		if (n && notify_attach(n, d) == 0)
			(void)notify_ready(n, NULL);
		/* The helper's answers are waited for inside the loop's turns, several in one
		 * turn at times (a remoteproc step's stop and start): each wait pings first. */
		if (n)
			privsep_set_on_wait(ps, notify_before_wait, n);
		hold_signals(false); /* the loop's handlers are in place */
		r = daemon_run(d);
		hold_signals(true);
		(void)notify_stopping(n);
		status = r < 0 ? 1 : 0;
	}
	privsep_set_on_wait(ps, NULL, NULL);
	n = notify_free(n);
	pb = ptybridge_free(pb);
	cs = clocksync_free(cs);
	sv = supervisor_free(sv); /* before the daemon: it uses the daemon's event base */
	daemon_free(d);
	return status;
}

int main(int argc, char **argv)
{
	struct options op = {.a = {.ov = {.socket_mode = -1, .log_level = -1},
				   .log_target = LOG_TARGET_JOURNAL}};
	int status = 1;
	/* First, while no descriptor of ours can sit at the numbers it names. */
	const char *passed = getenv("LISTEN_FDS"), *passed_pid = getenv("LISTEN_PID");
	char fds[24], pid[24];

	snprintf(fds, sizeof(fds), "%s", passed ? passed : "");
	snprintf(pid, sizeof(pid), "%s", passed_pid ? passed_pid : "");
	int r = server_check_passed();
	if (r == -EBADF)
		fprintf(stderr,
			"m7bridged: LISTEN_FDS=%s names descriptors that are not open: none of "
			"them is taken\n",
			fds);
	else if (r == -ESRCH)
		fprintf(stderr,
			"m7bridged: LISTEN_FDS=%s is for LISTEN_PID=%s, not this process (%d): "
			"none of them is taken (started through a wrapper that does not exec?)\n",
			fds, pid, (int)getpid());
	hold_signals(true);
	op.channels = calloc((size_t)argc + 1, sizeof(*op.channels));
	if (op.channels)
		status = parse_args(argc, argv, &op);
	if (status == GO_ON)
		status = load_config(&op);
	if (status == GO_ON && check_accounts(op.a.cfg, op.user) != 0)
		status = EX_CONFIG;
	if (status == GO_ON && op.check) {
		print_config(op.a.cfg);
		status = 0;
	}
	struct privsep *ps = NULL;
	if (status == GO_ON)
		status = separate(&op, &ps);
	if (status == GO_ON)
		status = run(&op, ps); /* takes the configuration */
	else
		conf_free(op.a.cfg);
	ps = privsep_free(ps); /* the helper exits on EOF and is reaped */
	free(op.channels);
	return status;
}
