/* m7bridgectl: command-line client of m7bridged, built on libm7bridge. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "m7bridge/client.h"
#include "m7bridge/wire.h"
#include "config.h"
#include "doctor.h"

#if HAVE_LIBSERIALPORT
#include <libserialport.h>
#endif

/* Exit codes (sysexits.h's EX_UNAVAILABLE for an unreachable daemon). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 69,
};

#define MAX_FILTERS 64
#define SEND_MAX    M7B_PAYLOAD_MAX /* bytes per send: the wire payload limit */

/* Options shared by all commands. */
struct ctl {
	const char *socket;
	int timeout_ms;
	struct m7b_client *client;
};

static const char *prog = "m7bridgectl";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] COMMAND [ARGS]\n"
		"Control and watch m7bridged, the i.MX8M Plus Cortex-M7 RPMSG bridge.\n"
		"\n"
		"Commands:\n"
		"  status [--json]                      daemon and channel state\n"
		"  watch [--json] [-n COUNT] [-c CHANNEL]... [-p PORT]... [--hex|--text]\n"
		"        [--classes LIST] [--policy drop|disconnect]\n"
		"                                       print frames and events as they arrive\n"
		"  send [-c CHANNEL] -p PORT [--hex] DATA|-\n"
		"                                       write bytes on an M7 UART\n"
		"  recover [-c CHANNEL] [--action STEP] recover a channel now\n"
		"  reload [-c CHANNEL] [FIRMWARE]       reload the M7 firmware without reboot\n"
		"  incidents [--json] [-c CHANNEL]      faults and what recovery did\n"
		"  ports [--json]                       serial ports on this machine\n"
		"  ping                                 check that the daemon answers\n"
		"  version                              client and daemon versions\n"
		"  doctor [--json] [--root DIR]         check the board's RPMSG set-up\n"
		"\n"
		"Options:\n"
		"  -s, --socket PATH    daemon socket (default $%s or %s)\n"
		"  -t, --timeout MS     how long to wait for a reply (default 5000)\n"
		"  -h, --help           this text\n"
		"  -V, --version        print the version\n"
		"\n"
		"Exit status: 0 ok, 1 request failed, 2 usage error, 69 daemon unreachable.\n",
		prog, M7B_SOCKET_ENV, M7B_DEFAULT_SOCKET);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return EXIT_USAGE;
}

/* Maps a library failure to an exit code, with one clear message. */
static int report(struct ctl *ctl, const char *what, int r)
{
	const struct m7b_error *e = m7b_client_error(ctl->client);

	switch (r) {
	case -EREMOTEIO:
		fprintf(stderr, "%s: %s failed: %s%s%s\n", prog, what, e->code,
			e->code[0] ? ": " : "", e->message);
		return EXIT_FAILED;
	case -ETIMEDOUT:
		fprintf(stderr, "%s: %s: no reply from m7bridged within %d ms\n", prog, what,
			ctl->timeout_ms);
		return EXIT_FAILED;
	case -ECONNRESET:
	case -ENOTCONN:
	case -EPIPE:
		fprintf(stderr, "%s: %s: lost the connection to m7bridged (%s)\n", prog, what,
			e->message);
		return EXIT_UNREACHABLE;
	case -EPROTO:
		fprintf(stderr, "%s: %s\n", prog, e->message);
		return EXIT_UNREACHABLE;
	default:
		fprintf(stderr, "%s: %s: %s\n", prog, what,
			e->message[0] ? e->message : strerror(-r));
		return EXIT_FAILED;
	}
}

/* Connects; on failure prints why and returns the exit code (0 on success). */
static int ctl_connect(struct ctl *ctl)
{
	int r;

	ctl->client = m7b_client_new();
	if (!ctl->client) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return EXIT_FAILED;
	}
	m7b_client_set_timeout(ctl->client, ctl->timeout_ms);
	r = m7b_client_connect(ctl->client, ctl->socket);
	if (r < 0) {
		const char *hint = "";

		if (r == -ENOENT || r == -ECONNREFUSED)
			hint = " (is m7bridged running?)";
		else if (r == -EACCES || r == -EPERM)
			hint = " (is your user in the daemon's socket group?)";
		fprintf(stderr, "%s: m7bridged unreachable: %s%s\n", prog,
			m7b_client_error(ctl->client)->message, hint);
		return EXIT_UNREACHABLE;
	}
	return 0;
}

/* Reads objects until VERSION has been seen (the daemon sends it first). */
static int ctl_handshake(struct ctl *ctl)
{
	struct m7b_event *ev;
	int r;

	while (!m7b_client_version(ctl->client)) {
		r = m7b_client_next(ctl->client, &ev, ctl->timeout_ms);
		if (r == -EBADMSG)
			continue;
		if (r < 0)
			return report(ctl, "connect", r);
		m7b_event_free(ev);
	}
	return 0;
}

/* --- output helpers ------------------------------------------------------------------ */

/* Writes bytes as readable text: printable ASCII as is, the rest escaped. */
static void put_text(FILE *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (p[i]) {
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		default:
			if (p[i] >= 0x20 && p[i] < 0x7f)
				fputc(p[i], f);
			else
				fprintf(f, "\\x%02x", p[i]);
		}
	}
}

/* hexdump -C style lines, indented. */
static void put_hexdump(FILE *f, const uint8_t *p, size_t n)
{
	for (size_t off = 0; off < n; off += 16) {
		size_t k = n - off < 16 ? n - off : 16;

		fprintf(f, "    %04zx  ", off);
		for (size_t i = 0; i < 16; i++) {
			if (i < k)
				fprintf(f, "%02x ", p[off + i]);
			else
				fputs("   ", f);
			if (i == 7)
				fputc(' ', f);
		}
		fputs(" |", f);
		for (size_t i = 0; i < k; i++)
			fputc(p[off + i] >= 0x20 && p[off + i] < 0x7f ? p[off + i] : '.', f);
		fputs("|\n", f);
	}
}

/* "HH:MM:SS.uuuuuu" of a CLOCK_REALTIME instant in ns. */
static void put_time(FILE *f, int64_t ns)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	char buf[32];

	localtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
	fprintf(f, "%s.%06" PRId64, buf, (ns % 1000000000) / 1000);
}

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

/* --- status -------------------------------------------------------------------------- */

static int get_status(struct ctl *ctl, struct m7b_event **st)
{
	int r = m7b_client_status(ctl->client, st);

	return r < 0 ? report(ctl, "status", r) : 0;
}

static void fmt_int(char *buf, size_t cap, const struct m7b_event *ev, size_t i, const char *member)
{
	int64_t v;

	if (m7b_event_array_int(ev, "channels", i, member, &v) == 0)
		snprintf(buf, cap, "%" PRId64, v);
	else
		snprintf(buf, cap, "-");
}

static void fmt_duration(char *buf, size_t cap, int64_t ms)
{
	int64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, cap, "%" PRId64 ".%03" PRId64 "s", s, ms % 1000);
	else if (s < 3600)
		snprintf(buf, cap, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, cap, "%" PRId64 "h%02" PRId64 "m", s / 3600, s / 60 % 60);
	else
		snprintf(buf, cap, "%" PRId64 "d%02" PRId64 "h", s / 86400, s / 3600 % 24);
}

#define STATUS_COLS 9

static void print_status(const struct m7b_event *st, const struct m7b_event *version)
{
	static const char *const head[STATUS_COLS] = {"CHANNEL", "STATE",  "REASON",
						      "DEVICE",	 "FRAMES", "GAPS",
						      "BAD_CRC", "RECOV",  "FIRMWARE"};
	size_t n = m7b_event_array_size(st, "channels");
	char(*cell)[STATUS_COLS][96] = calloc(n + 1, sizeof(*cell));
	int width[STATUS_COLS] = {0};
	int64_t up = -1;
	char upbuf[32] = "?";

	if (!cell)
		return;
	(void)m7b_event_get_int(st, "uptime_ms", &up);
	if (up >= 0)
		fmt_duration(upbuf, sizeof(upbuf), up);
	printf("m7bridged %s", str_or(m7b_event_get_string(st, "release"),
				      version && version->release ? version->release : "?"));
	if (version && version->proto_major >= 0)
		printf(" (protocol %d.%d)", version->proto_major, version->proto_minor);
	printf(", up %s, %zu client%s, %zu channel%s\n", upbuf, m7b_event_array_size(st, "clients"),
	       m7b_event_array_size(st, "clients") == 1 ? "" : "s", n, n == 1 ? "" : "s");
	if (n == 0) {
		printf("no channels configured\n");
		free(cell);
		return;
	}
	for (int k = 0; k < STATUS_COLS; k++)
		snprintf(cell[0][k], sizeof(cell[0][k]), "%s", head[k]);
	for (size_t i = 0; i < n; i++) {
		char(*row)[96] = cell[i + 1];
		const char *fw;

		snprintf(row[0], 96, "%s",
			 str_or(m7b_event_array_string(st, "channels", i, "name"), "?"));
		snprintf(row[1], 96, "%s",
			 str_or(m7b_event_array_string(st, "channels", i, "state"), "?"));
		snprintf(row[2], 96, "%s",
			 str_or(m7b_event_array_string(st, "channels", i, "reason"), "-"));
		snprintf(row[3], 96, "%s",
			 str_or(m7b_event_array_string(st, "channels", i, "device"), "-"));
		fmt_int(row[4], 96, st, i, "frames");
		fmt_int(row[5], 96, st, i, "seq_gaps");
		fmt_int(row[6], 96, st, i, "bad_crc");
		fmt_int(row[7], 96, st, i, "recoveries");
		struct m7b_channel_status ch;

		fw = m7b_event_channel(st, i, &ch) == 0 ? ch.firmware : NULL;
		snprintf(row[8], 96, "%s", fw ? fw : "-");
	}
	for (size_t i = 0; i <= n; i++)
		for (int k = 0; k < STATUS_COLS; k++) {
			int w = (int)strlen(cell[i][k]);

			if (w > width[k])
				width[k] = w;
		}
	for (size_t i = 0; i <= n; i++) {
		for (int k = 0; k < STATUS_COLS; k++) {
			bool num = k >= 4 && k <= 7;

			if (k == STATUS_COLS - 1)
				printf("%s", cell[i][k]);
			else if (num)
				printf("%*s  ", width[k], cell[i][k]);
			else
				printf("%-*s  ", width[k], cell[i][k]);
		}
		putchar('\n');
	}
	free(cell);
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct m7b_event *st = NULL;
	bool json = false;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'h')
			return usage(stdout), EXIT_OK;
		else
			return usage_error("status: bad option");
	}
	if (optind < argc)
		return usage_error("status: unexpected argument '%s'", argv[optind]);
	if ((r = ctl_connect(ctl)) || (r = ctl_handshake(ctl)) || (r = get_status(ctl, &st)))
		return r;
	if (json)
		printf("%s\n", st->line);
	else
		print_status(st, m7b_client_version(ctl->client));
	m7b_event_free(st);
	return EXIT_OK;
}

/* --- watch --------------------------------------------------------------------------- */

enum view { VIEW_LINE, VIEW_HEX, VIEW_TEXT };

static void print_frame(const struct m7b_event *ev, enum view view)
{
	int64_t ns;
	const char *pname = m7b_event_get_string(ev, "port_name");

	if (view == VIEW_TEXT) {
		/* The capture's bytes as they are, like reading the UART itself. */
		fwrite(ev->data, 1, ev->data_len, stdout);
		return;
	}
	if (m7b_event_get_int(ev, "t_first_ns", &ns) != 0)
		ns = realtime_ns();
	put_time(stdout, ns);
	printf(" %s/%d", str_or(ev->channel, "?"), ev->port);
	if (pname)
		printf("(%s)", pname);
	printf(" seq=%" PRId64 " t=%" PRId64 "..%" PRId64 " len=%zu", ev->seq, ev->t_first,
	       ev->t_last, ev->data_len);
	if (ev->flags & M7B_FRAME_OVERRUN)
		printf(" [overrun]");
	if (ev->flags & M7B_FRAME_LINE_ERROR)
		printf(" [line_error]");
	if (ev->flags & M7B_FRAME_CONTINUED)
		printf(" [continued]");
	if (view == VIEW_HEX) {
		putchar('\n');
		put_hexdump(stdout, ev->data, ev->data_len);
		return;
	}
	printf(" \"");
	put_text(stdout, ev->data, ev->data_len);
	printf("\"\n");
}

static void print_event(const struct m7b_event *ev)
{
	int64_t v, total;

	put_time(stdout, realtime_ns());
	switch (ev->type) {
	case M7B_EV_STATE:
		printf(" %s state %s (%s)", str_or(ev->channel, "?"), str_or(ev->state, "?"),
		       str_or(ev->reason, "-"));
		if (m7b_event_get_string(ev, "detail"))
			printf(": %s", m7b_event_get_string(ev, "detail"));
		putchar('\n');
		break;
	case M7B_EV_LOG:
		printf(" %s log %s: %s\n", str_or(ev->channel, "?"),
		       str_or(m7b_event_get_string(ev, "level_name"), "?"), str_or(ev->text, ""));
		break;
	case M7B_EV_HELLO:
		printf(" %s hello \"%s\"", str_or(ev->channel, "?"),
		       str_or(m7b_event_get_string(ev, "name"), "?"));
		if (m7b_event_get_int(ev, "tick_hz", &v) == 0)
			printf(" tick_hz=%" PRId64, v);
		if (m7b_event_get_int(ev, "boot_id", &v) == 0)
			printf(" boot_id=%" PRId64, v);
		if (strstr(ev->line, "\"new_boot\":true"))
			printf(" new boot");
		putchar('\n');
		break;
	case M7B_EV_FAULT:
		printf(" %s FAULT %s from %s: %s\n", str_or(ev->channel, "?"),
		       str_or(m7b_event_get_string(ev, "kind"), "?"),
		       str_or(m7b_event_get_string(ev, "source"), "?"),
		       str_or(m7b_event_get_string(ev, "detail"), ""));
		break;
	case M7B_EV_DROPPED:
		v = total = -1;
		(void)m7b_event_get_int(ev, "count", &v);
		(void)m7b_event_get_int(ev, "total", &total);
		printf(" DROPPED %" PRId64 " objects (this client was too slow; %" PRId64
		       " in total)\n",
		       v, total);
		break;
	default:
		printf(" %s\n", ev->line);
	}
}

/* Splits a comma-separated list into v (pointers into s). */
static size_t split_list(char *s, const char **v, size_t max)
{
	size_t n = 0;

	for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
		v[n++] = tok;
	return n;
}

static bool parse_port(const char *s, int *port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 255)
		return false;
	*port = (int)v;
	return true;
}

static int cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},	   {"count", required_argument, NULL, 'n'},
		{"channel", required_argument, NULL, 'c'}, {"port", required_argument, NULL, 'p'},
		{"hex", no_argument, NULL, 'x'},	   {"text", no_argument, NULL, 'T'},
		{"classes", required_argument, NULL, 'C'}, {"policy", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},	   {NULL, 0, NULL, 0}};
	static const char *const default_classes[] = {"FRAME", "STATE", "LOG", "HELLO", "FAULT"};
	const char *channels[MAX_FILTERS], *classes[MAX_FILTERS];
	int ports[MAX_FILTERS];
	struct m7b_watch w = {.classes = default_classes, .nclasses = 5};
	enum view view = VIEW_LINE;
	bool json = false;
	long count = -1, frames = 0;
	char *end;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+jn:c:p:xTC:P:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'n':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || count <= 0)
				return usage_error("watch: -n needs a positive count, not '%s'",
						   optarg);
			break;
		case 'c':
			if (w.nchannels == MAX_FILTERS)
				return usage_error("watch: too many channels");
			channels[w.nchannels++] = optarg;
			w.channels = channels;
			break;
		case 'p':
			if (w.nports == MAX_FILTERS)
				return usage_error("watch: too many ports");
			if (!parse_port(optarg, &ports[w.nports]))
				return usage_error("watch: port must be 0..255, not '%s'", optarg);
			w.nports++;
			w.ports = ports;
			break;
		case 'x':
			view = VIEW_HEX;
			break;
		case 'T':
			view = VIEW_TEXT;
			break;
		case 'C':
			w.nclasses = split_list(optarg, classes, MAX_FILTERS);
			w.classes = classes;
			break;
		case 'P':
			w.policy = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			return usage_error("watch: bad option");
		}
	}
	if (optind < argc)
		return usage_error("watch: unexpected argument '%s'", argv[optind]);
	if ((r = ctl_connect(ctl)) || (r = ctl_handshake(ctl)))
		return r;
	r = m7b_client_watch(ctl->client, &w);
	if (r < 0)
		return report(ctl, "watch", r);
	while (count < 0 || frames < count) {
		struct m7b_event *ev;

		r = m7b_client_next(ctl->client, &ev, -1);
		if (r == -EBADMSG) {
			fprintf(stderr, "%s: %s\n", prog, m7b_client_error(ctl->client)->message);
			continue;
		}
		if (r < 0)
			return report(ctl, "watch", r);
		if (ev->type == M7B_EV_FRAME)
			frames++;
		if (json)
			printf("%s\n", ev->line);
		else if (ev->type == M7B_EV_FRAME)
			print_frame(ev, view);
		else if (view != VIEW_TEXT)
			print_event(ev);
		m7b_event_free(ev);
		if (fflush(stdout) != 0)
			return errno == EPIPE ? EXIT_OK : EXIT_FAILED;
	}
	return EXIT_OK;
}

/* --- send / recover / reload / incidents / ping ---------------------------------------- */

/* The channel to act on: the one given, else the only configured one. */
static int pick_channel(struct ctl *ctl, const char *given, char **out)
{
	struct m7b_event *st;
	size_t n;
	int r;

	if (given) {
		*out = strdup(given);
		return *out ? 0 : EXIT_FAILED;
	}
	if ((r = get_status(ctl, &st)))
		return r;
	n = m7b_event_array_size(st, "channels");
	if (n != 1) {
		m7b_event_free(st);
		if (n == 0) {
			fprintf(stderr, "%s: the daemon has no channel configured\n", prog);
			return EXIT_FAILED;
		}
		fprintf(stderr, "%s: the daemon has %zu channels: name one with -c CHANNEL\n", prog,
			n);
		return EXIT_USAGE;
	}
	*out = strdup(str_or(m7b_event_array_string(st, "channels", 0, "name"), ""));
	m7b_event_free(st);
	return *out ? 0 : EXIT_FAILED;
}

static int hex_value(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Hex digits with optional spaces or colons between bytes into buf; -1 if malformed. */
static long parse_hex(const char *s, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	while (*s) {
		if (*s == ' ' || *s == ':' || *s == '\n') {
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

static int cmd_send(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"channel", required_argument, NULL, 'c'},
					     {"port", required_argument, NULL, 'p'},
					     {"hex", no_argument, NULL, 'x'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *channel = NULL;
	char *chan = NULL;
	uint8_t buf[SEND_MAX];
	size_t len = 0;
	bool hex = false;
	int port = -1, c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+c:p:xh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			channel = optarg;
			break;
		case 'p':
			if (!parse_port(optarg, &port))
				return usage_error("send: port must be 0..255, not '%s'", optarg);
			break;
		case 'x':
			hex = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			return usage_error("send: bad option");
		}
	}
	if (port < 0)
		return usage_error("send: which UART? give -p PORT");
	if (optind != argc - 1)
		return usage_error("send: give the data as one argument, or '-' for stdin");
	const char *arg = argv[optind];
	char text[2 * SEND_MAX * 3 + 2];

	if (strcmp(arg, "-") == 0) {
		size_t n = fread(text, 1, sizeof(text) - 1, stdin);

		if (!feof(stdin)) {
			fprintf(stderr, "%s: send: stdin holds more than %u bytes\n", prog,
				SEND_MAX);
			return EXIT_USAGE;
		}
		text[n] = '\0';
		if (!hex && n > SEND_MAX) {
			fprintf(stderr, "%s: send: at most %u bytes per send\n", prog, SEND_MAX);
			return EXIT_USAGE;
		}
		if (!hex) {
			memcpy(buf, text, n);
			len = n;
		}
		arg = text;
	} else if (!hex) {
		len = strlen(arg);
		if (len > SEND_MAX)
			return usage_error("send: at most %u bytes per send", SEND_MAX);
		memcpy(buf, arg, len);
	}
	if (hex) {
		long n = parse_hex(arg, buf, sizeof(buf));

		if (n < 0)
			return usage_error("send: not hex bytes (or more than 478): '%s'", arg);
		len = (size_t)n;
	}
	if (len == 0)
		return usage_error("send: nothing to send");
	if ((r = ctl_connect(ctl)) || (r = ctl_handshake(ctl)) ||
	    (r = pick_channel(ctl, channel, &chan)))
		return r;
	r = m7b_client_send(ctl->client, chan, port, buf, len);
	free(chan);
	if (r < 0)
		return report(ctl, "send", r);
	return EXIT_OK;
}

/* recover and reload: ACK once started; print what was started. */
static int cmd_control(struct ctl *ctl, int argc, char **argv, bool reload)
{
	static const struct option opts[] = {{"channel", required_argument, NULL, 'c'},
					     {"action", required_argument, NULL, 'a'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *what = reload ? "reload" : "recover";
	const char *channel = NULL, *action = NULL, *firmware = NULL;
	char *chan = NULL;
	struct m7b_event *reply = NULL;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, reload ? "+c:h" : "+c:a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			channel = optarg;
			break;
		case 'a':
			action = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			return usage_error("%s: bad option", what);
		}
	}
	if (reload && optind < argc)
		firmware = argv[optind++];
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (firmware && strchr(firmware, '/'))
		return usage_error("reload: FIRMWARE is a file name under /lib/firmware, not a "
				   "path: '%s'",
				   firmware);
	if ((r = ctl_connect(ctl)) || (r = ctl_handshake(ctl)) ||
	    (r = pick_channel(ctl, channel, &chan)))
		return r;
	if (reload) {
		r = m7b_client_reload(ctl->client, chan, firmware, &reply);
	} else {
		struct m7b_request req = {
			.cmd = M7B_CMD_RECOVER, .channel = chan, .action = action};

		r = m7b_client_call(ctl->client, &req, &reply);
	}
	if (r < 0) {
		m7b_event_free(reply);
		free(chan);
		return report(ctl, what, r);
	}
	printf("%s of channel %s started; follow it with: %s watch -c %s\n", what, chan, prog,
	       chan);
	m7b_event_free(reply);
	free(chan);
	return EXIT_OK;
}

static void fmt_time_us(char *buf, size_t cap, int64_t us)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;

	localtime_r(&s, &tm);
	strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static void print_incidents(const struct m7b_event *ev)
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
		char when[32] = "?", dur[32] = "open";

		if (n++ == 0)
			printf("%-4s %-19s %-9s %-10s %-16s %-8s %-9s %s\n", "SEQ", "START",
			       "DURATION", "CHANNEL", "KIND", "SOURCE", "OUTCOME", "STEPS");
		if (cJSON_IsNumber(start))
			fmt_time_us(when, sizeof(when), (int64_t)start->valuedouble);
		if (cJSON_IsNumber(start) && cJSON_IsNumber(end))
			fmt_duration(dur, sizeof(dur),
				     (int64_t)(end->valuedouble - start->valuedouble) / 1000);
		printf("%-4d %-19s %-9s %-10s %-16s %-8s %-9s ",
		       cJSON_IsNumber(seq) ? (int)seq->valuedouble : 0, when, dur,
		       str_or(cJSON_GetStringValue(
				      cJSON_GetObjectItemCaseSensitive(inc, "channel")),
			      "-"),
		       str_or(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(inc, "kind")),
			      "-"),
		       str_or(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(inc, "source")),
			      "-"),
		       str_or(cJSON_GetStringValue(
				      cJSON_GetObjectItemCaseSensitive(inc, "outcome")),
			      "-"));
		bool first = true;

		cJSON_ArrayForEach(st, steps)
		{
			printf("%s%s:%s", first ? "" : ",",
			       str_or(cJSON_GetStringValue(
					      cJSON_GetObjectItemCaseSensitive(st, "action")),
				      "?"),
			       str_or(cJSON_GetStringValue(
					      cJSON_GetObjectItemCaseSensitive(st, "result")),
				      "?"));
			first = false;
		}
		printf("%s\n", first ? "-" : "");
	}
	if (n == 0)
		printf("no incidents recorded\n");
	cJSON_Delete(arr);
	free(json);
}

static int cmd_incidents(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"channel", required_argument, NULL, 'c'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *channel = NULL;
	struct m7b_event *ev = NULL;
	bool json = false;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+jc:h", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'c')
			channel = optarg;
		else if (c == 'h')
			return usage(stdout), EXIT_OK;
		else
			return usage_error("incidents: bad option");
	}
	if (optind < argc)
		return usage_error("incidents: unexpected argument '%s'", argv[optind]);
	if ((r = ctl_connect(ctl)) || (r = ctl_handshake(ctl)))
		return r;
	r = m7b_client_incidents(ctl->client, channel, &ev);
	if (r < 0) {
		m7b_event_free(ev);
		return report(ctl, "incidents", r);
	}
	if (json)
		printf("%s\n", ev->line);
	else
		print_incidents(ev);
	m7b_event_free(ev);
	return EXIT_OK;
}

static int cmd_ping(struct ctl *ctl, int argc, char **argv)
{
	struct timespec a, b;
	int r;

	if (argc > 1)
		return usage_error("ping: unexpected argument '%s'", argv[1]);
	if ((r = ctl_connect(ctl)) || (r = ctl_handshake(ctl)))
		return r;
	clock_gettime(CLOCK_MONOTONIC, &a);
	r = m7b_client_ping(ctl->client);
	if (r < 0)
		return report(ctl, "ping", r);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("m7bridged answered in %.3f ms\n",
	       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	return EXIT_OK;
}

static int cmd_version(struct ctl *ctl, int argc, char **argv)
{
	const struct m7b_event *v;

	if (argc > 1)
		return usage_error("version: unexpected argument '%s'", argv[1]);
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
	while (!(v = m7b_client_version(ctl->client))) {
		struct m7b_event *ev;
		int r = m7b_client_next(ctl->client, &ev, ctl->timeout_ms);

		if (r == -EBADMSG)
			continue;
		if (r < 0) {
			printf("m7bridged: no VERSION from %s\n", m7b_client_path(ctl->client));
			return EXIT_OK;
		}
		m7b_event_free(ev);
	}
	printf("m7bridged %s (protocol %d.%d) at %s\n", str_or(v->release, "?"), v->proto_major,
	       v->proto_minor, m7b_client_path(ctl->client));
	return EXIT_OK;
}

/* --- ports --------------------------------------------------------------------------- */

static int cmd_ports(struct ctl *ctl, int argc, char **argv)
{
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;

	if (argc > (json ? 2 : 1))
		return usage_error("ports: unexpected argument '%s'", argv[json ? 2 : 1]);
#if HAVE_LIBSERIALPORT
	struct sp_port **list = NULL;
	cJSON *arr = json ? cJSON_CreateArray() : NULL;
	enum sp_return r = sp_list_ports(&list);

	if (r != SP_OK) {
		char *msg = sp_last_error_message();

		fprintf(stderr, "%s: cannot list serial ports: %s\n", prog, msg ? msg : "error");
		sp_free_error_message(msg);
		cJSON_Delete(arr);
		return EXIT_FAILED;
	}
	int n = 0;

	for (; list[n]; n++) {
		struct sp_port *p = list[n];
		enum sp_transport t = sp_get_port_transport(p);
		const char *tname = t == SP_TRANSPORT_USB	  ? "usb"
				    : t == SP_TRANSPORT_BLUETOOTH ? "bluetooth"
								  : "native";
		char usb[16] = "";
		int vid, pid;

		if (t == SP_TRANSPORT_USB && sp_get_port_usb_vid_pid(p, &vid, &pid) == SP_OK)
			snprintf(usb, sizeof(usb), "%04x:%04x", vid & 0xffff, pid & 0xffff);
		if (json) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "name", sp_get_port_name(p));
			cJSON_AddStringToObject(o, "transport", tname);
			if (sp_get_port_description(p))
				cJSON_AddStringToObject(o, "description",
							sp_get_port_description(p));
			if (usb[0])
				cJSON_AddStringToObject(o, "usb_id", usb);
			cJSON_AddItemToArray(arr, o);
			continue;
		}
		if (n == 0)
			printf("%-16s %-9s %-9s %s\n", "PORT", "TRANSPORT", "USB", "DESCRIPTION");
		printf("%-16s %-9s %-9s %s\n", sp_get_port_name(p), tname, usb[0] ? usb : "-",
		       str_or(sp_get_port_description(p), "-"));
	}
	sp_free_port_list(list);
	if (json) {
		char *s = cJSON_PrintUnformatted(arr);

		printf("%s\n", s ? s : "[]");
		cJSON_free(s);
		cJSON_Delete(arr);
	} else if (n == 0) {
		printf("no serial ports found\n");
	}
	printf("%s", json ? "" : "(RPMSG ttys are not listed: see 'm7bridgectl status')\n");
	return EXIT_OK;
#else
	fprintf(stderr, "%s: ports: built without libserialport\n", prog);
	return EXIT_FAILED;
#endif
}

/* --- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
					     {"timeout", required_argument, NULL, 't'},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {NULL, 0, NULL, 0}};
	static const struct {
		const char *name;
		int (*fn)(struct ctl *, int, char **);
	} cmds[] = {
		{"status", cmd_status},	      {"watch", cmd_watch}, {"send", cmd_send},
		{"incidents", cmd_incidents}, {"ports", cmd_ports}, {"ping", cmd_ping},
		{"version", cmd_version},
	};
	struct ctl ctl = {.timeout_ms = 5000};
	char *end;
	int c, rc;

	/* A closed stdout (m7bridgectl watch | head) is a normal way to stop. */
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "+s:t:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl.socket = optarg;
			break;
		case 't':
			errno = 0;
			ctl.timeout_ms = (int)strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || ctl.timeout_ms <= 0)
				return usage_error("--timeout needs milliseconds > 0, not '%s'",
						   optarg);
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("m7bridgectl %s\n", M7B_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try '%s --help'.\n", prog);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("no command given");
	argc -= optind;
	argv += optind;
	rc = strcmp(argv[0], "doctor") == 0 ? doctor_main(ctl.socket, ctl.timeout_ms, argc, argv)
					    : -1;
	if (strcmp(argv[0], "recover") == 0 || strcmp(argv[0], "reload") == 0)
		rc = cmd_control(&ctl, argc, argv, strcmp(argv[0], "reload") == 0);
	for (size_t i = 0; rc < 0 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[0], cmds[i].name) == 0)
			rc = cmds[i].fn(&ctl, argc, argv);
	if (rc < 0)
		rc = usage_error("unknown command '%s'", argv[0]);
	m7b_client_free(ctl.client);
	if (fflush(stdout) != 0 && errno != EPIPE && rc == EXIT_OK)
		rc = EXIT_FAILED;
	return rc;
}
