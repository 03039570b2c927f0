/* m7bridgectl: connection, error reporting and output helpers shared by the commands. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "m7bridge/utf8.h"

const char *const ctl_prog = "m7bridgectl";

int ctl_hold_std_fds(void)
{
	/* A closed 0, 1 or 2 would be the next descriptor opened: the daemon's socket. Our
	 * output would then go to the daemon as requests (watch --text relays what the M7
	 * sends) and `send -` would read the daemon's replies. /dev/null opened the other
	 * way round keeps the slot and fails every use with EBADF, as the closed one did. */
	static const int mode[3] = {O_WRONLY, O_RDONLY, O_RDONLY};
	int held = 0;

	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int nfd = open("/dev/null", mode[fd] | O_NOCTTY);

		if (nfd < 0)
			return -errno;
		/* 0..fd-1 are open by now, so the lowest free number is fd itself. */
		if (nfd != fd) {
			close(nfd);
			return -EBADF;
		}
		held |= 1 << fd;
	}
	return held;
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s%s", ctl_prog, cmd ? cmd : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try '%s%s%s --help')\n", ctl_prog, cmd ? " " : "", cmd ? cmd : "");
	return EXIT_USAGE;
}

int ctl_getopt_error(const char *cmd, char **argv, const char *optstring)
{
	/* getopt_long leaves optopt 0 for an unknown long option, and sets it to a known
	 * option's letter when that lacks its value or, long, got one it does not take; the
	 * word is the argument just consumed. With opterr = 0 this is the only message. */
	extern int optopt, optind;
	const char *word = argv[optind - 1];
	const char *known = optopt && optopt != ':' ? strchr(optstring, optopt) : NULL;
	bool is_long = word && strncmp(word, "--", 2) == 0;
	int name_len = is_long ? (int)strcspn(word, "=") : 0;

	if (known && known[1] == ':' && is_long)
		return ctl_usage_error(cmd, "option '%.*s' needs a value", name_len, word);
	if (known && known[1] == ':')
		return ctl_usage_error(cmd, "option -%c needs a value", optopt);
	if (known && is_long) /* --json=1 */
		return ctl_usage_error(cmd, "option '%.*s' takes no value", name_len, word);
	if (optopt)
		return ctl_usage_error(cmd, "unknown option -%c", optopt);
	if (is_long)
		return ctl_usage_error(cmd, "unknown option '%.*s'", name_len, word);
	return ctl_usage_error(cmd, "bad option '%s'", word ? word : "?");
}

bool ctl_code_is_usage(const char *code)
{
	/* The "bad request" family of docs/CLIENT-PROTOCOL.md, plus the codes a watch with
	 * an unknown channel or port is answered with. */
	static const char *const usage_codes[] = {
		"bad_json",	"not_object",	  "bad_type",	"bad_value",
		"unknown_cmd",	"missing_member", "no_channel", "unknown_channel",
		"unknown_port", "bad_port",	  "bad_class",	"bad_policy",
	};

	for (size_t i = 0; code && i < sizeof(usage_codes) / sizeof(usage_codes[0]); i++)
		if (strcmp(code, usage_codes[i]) == 0)
			return true;
	return false;
}

int ctl_report(struct ctl *ctl, const char *what, int r)
{
	const struct m7b_error *e = m7b_client_error(ctl->client);

	switch (r) {
	case -EREMOTEIO:
		/* The message may quote the M7 (a firmware's refusal): one line of text. */
		if (e->code[0])
			fprintf(stderr, "%s: %s: %s (%s)\n", ctl_prog, what, ctl_safe(e->message),
				ctl_safe(e->code));
		else
			fprintf(stderr, "%s: %s: %s\n", ctl_prog, what, ctl_safe(e->message));
		/* A send the firmware refused for its port is a bad argument too. */
		if (ctl_code_is_usage(e->code) || strstr(e->message, "bad_port"))
			return EXIT_USAGE;
		return EXIT_FAILED;
	case -ETIMEDOUT:
		fprintf(stderr, "%s: %s: no reply from m7bridged within %d ms\n", ctl_prog, what,
			ctl->timeout_ms);
		return EXIT_FAILED;
	case -ECONNRESET:
	case -ENOTCONN:
	case -EPIPE:
		fprintf(stderr, "%s: %s: lost the connection to m7bridged (%s)\n", ctl_prog, what,
			e->message);
		return EXIT_UNREACHABLE;
	case -EPROTO:
		fprintf(stderr, "%s: %s\n", ctl_prog, e->message);
		return EXIT_UNREACHABLE;
	case -EMSGSIZE:
		/* The daemon sent a line longer than the library takes: it disconnected. */
		if (!m7b_client_connected(ctl->client)) {
			fprintf(stderr, "%s: %s: lost the connection to m7bridged (%s)\n", ctl_prog,
				what, e->message);
			return EXIT_UNREACHABLE;
		}
		/* Else arguments too long for one request line: */
		/* fall through */
	case -EINVAL: /* an argument the request cannot carry (not UTF-8) */
		fprintf(stderr, "%s: %s: %s\n", ctl_prog, what, e->message);
		return EXIT_USAGE;
	default:
		fprintf(stderr, "%s: %s: %s\n", ctl_prog, what,
			e->message[0] ? e->message : strerror(-r));
		return EXIT_FAILED;
	}
}

int ctl_open(struct ctl *ctl)
{
	struct m7b_event *ev;
	int r;

	ctl->client = m7b_client_new();
	if (!ctl->client) {
		fprintf(stderr, "%s: out of memory\n", ctl_prog);
		return EXIT_FAILED;
	}
	m7b_client_set_timeout(ctl->client, ctl->timeout_ms);
	r = m7b_client_connect(ctl->client, ctl->socket);
	if (r < 0) {
		const char *path = m7b_client_path(ctl->client);
		const char *hint = "";
		struct stat sb;

		/* connect() refuses a path that is no socket with ECONNREFUSED, which would
		 * blame the daemon for a mistyped -s. */
		if (r == -ECONNREFUSED && path && stat(path, &sb) == 0 && !S_ISSOCK(sb.st_mode)) {
			fprintf(stderr, "%s: m7bridged unreachable: %s is not a socket\n", ctl_prog,
				path);
			return EXIT_UNREACHABLE;
		}
		/* No daemon can listen there: a mistyped -s or $M7BRIDGE_SOCKET, not an
		 * unreachable daemon. */
		if (r == -ENAMETOOLONG)
			return ctl_usage_error(NULL,
					       "%s (a Unix socket path has at most 107 bytes)",
					       m7b_client_error(ctl->client)->message);
		if (r == -ENOENT || r == -ECONNREFUSED)
			hint = " (is m7bridged running?)";
		else if (r == -EACCES || r == -EPERM)
			hint = " (is your user in the daemon's socket group?)";
		fprintf(stderr, "%s: m7bridged unreachable: %s%s\n", ctl_prog,
			m7b_client_error(ctl->client)->message, hint);
		return EXIT_UNREACHABLE;
	}
	r = ctl_greet(ctl->client, ctl->timeout_ms, &ev);
	if (r < 0)
		return ctl_report(ctl, "connect", r);
	if (r > 0) {
		fprintf(stderr, "%s: %s\n", ctl_prog, ctl_refusal(ev));
		m7b_event_free(ev);
		return EXIT_FAILED;
	}
	return 0;
}

int ctl_greet(struct m7b_client *c, int timeout_ms, struct m7b_event **refusal)
{
	/* One deadline for the whole greeting: something at the socket that sends lines but
	 * never VERSION would otherwise renew the wait with each line, for ever. */
	int64_t deadline = ctl_monotonic_ns() + (int64_t)timeout_ms * 1000000;
	struct m7b_event *ev;
	int r;

	*refusal = NULL;
	/* The daemon sends VERSION first; a bad line before it is skipped. An older daemon
	 * with no slot for us sent its ERROR in place of VERSION. */
	while (!m7b_client_version(c)) {
		int64_t left = deadline - ctl_monotonic_ns();

		if (left <= 0)
			return -ETIMEDOUT;
		r = m7b_client_next(c, &ev, (int)((left + 999999) / 1000000));
		if (r == -EBADMSG)
			continue;
		if (r < 0)
			return r;
		if (ev->type == M7B_EV_ERROR) {
			*refusal = ev;
			return 1;
		}
		m7b_event_free(ev);
	}
	/* A refusal comes in the same write as VERSION, so it is here already; right after
	 * VERSION the daemon sends nothing else until asked, so nothing else is lost. */
	r = m7b_client_next(c, &ev, 0);
	if (r == 0 && ev->type == M7B_EV_ERROR && !ev->has_id) {
		*refusal = ev;
		return 1;
	}
	if (r == 0)
		m7b_event_free(ev);
	return 0;
}

int ctl_take_once(const char *cmd, const char *what, const char **slot, const char *value)
{
	if (*slot && strcmp(*slot, value) != 0)
		return ctl_usage_error(cmd, "one %s at a time, not both %s and %s", what, *slot,
				       value);
	*slot = value;
	return 0;
}

int ctl_take_channel(const char *cmd, const char **channel, const char *name)
{
	return ctl_take_once(cmd, "channel", channel, name);
}

const char *ctl_refusal(const struct m7b_event *err)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "m7bridged refused the connection: %s (%s)",
		 ctl_str_or(ctl_safe(err->message), "no reason given"),
		 ctl_str_or(ctl_safe(err->code), "?"));
	return buf;
}

int ctl_get_status(struct ctl *ctl, struct m7b_event **st)
{
	int r = m7b_client_status(ctl->client, st);

	return r < 0 ? ctl_report(ctl, "status", r) : 0;
}

/* Room kept at the end of a list for ", ... and N more". */
#define LIST_MORE_ROOM 40

/* Appends item (", "-separated) to the list in buf when it fits whole, keeping room for the
 * "more" note unless it is the last; counts what is left out instead. */
static void list_add(char *buf, size_t cap, size_t *used, size_t *more, const char *item, bool last)
{
	char safe[256];
	size_t sep = *used ? 2 : 0, len = ctl_safe_text(safe, sizeof(safe), item);
	size_t room = cap > LIST_MORE_ROOM && !last ? cap - LIST_MORE_ROOM : cap;

	if (*more || *used + sep + len >= room) {
		(*more)++;
		return;
	}
	snprintf(buf + *used, cap - *used, "%s%s", sep ? ", " : "", safe);
	*used += sep + len;
}

/* Ends a list built by list_add: a cut list says how many entries it leaves out. */
static void list_end(char *buf, size_t cap, size_t used, size_t more)
{
	if (more)
		snprintf(buf + used, cap - used, "%s... and %zu more", used ? ", " : "", more);
}

void ctl_channel_list(const struct m7b_event *st, char *buf, size_t cap)
{
	size_t n = m7b_event_array_size(st, "channels"), used = 0, more = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		list_add(buf, cap, &used, &more,
			 ctl_str_or(m7b_event_array_string(st, "channels", i, "name"), "?"),
			 i + 1 == n);
	list_end(buf, cap, used, more);
	if (n == 0)
		snprintf(buf, cap, "none configured");
}

long ctl_channel_index(const struct m7b_event *st, const char *name)
{
	size_t n = m7b_event_array_size(st, "channels");

	for (size_t i = 0; i < n; i++) {
		const char *s = m7b_event_array_string(st, "channels", i, "name");

		if (s && strcmp(s, name) == 0)
			return (long)i;
	}
	return -1;
}

int ctl_pick_channel(struct ctl *ctl, const char *what, const char *given, char **out)
{
	struct m7b_event *st;
	char list[512];
	size_t n;
	int r;

	if ((r = ctl_get_status(ctl, &st)))
		return r;
	n = m7b_event_array_size(st, "channels");
	ctl_channel_list(st, list, sizeof(list));
	if (given) {
		/* Checked here so a typo gets the list of names at once. */
		if (ctl_channel_index(st, given) < 0) {
			fprintf(stderr, "%s: %s: no channel '%s' (channels: %s)\n", ctl_prog, what,
				given, list);
			m7b_event_free(st);
			return EXIT_USAGE;
		}
		m7b_event_free(st);
		*out = strdup(given);
		return *out ? 0 : EXIT_FAILED;
	}
	if (n != 1) {
		m7b_event_free(st);
		if (n == 0) {
			fprintf(stderr, "%s: %s: the daemon has no channel configured\n", ctl_prog,
				what);
			return EXIT_FAILED;
		}
		fprintf(stderr, "%s: %s: name a channel with -c CHANNEL (channels: %s)\n", ctl_prog,
			what, list);
		return EXIT_USAGE;
	}
	*out = strdup(ctl_str_or(m7b_event_array_string(st, "channels", 0, "name"), ""));
	m7b_event_free(st);
	return *out ? 0 : EXIT_FAILED;
}

bool ctl_parse_count(const char *cmd, const char *s, long *count)
{
	char *end;

	errno = 0;
	*count = strtol(s, &end, 10);
	if (errno || end == s || *end || *count <= 0) {
		ctl_usage_error(cmd, "-n needs a positive count, not '%s'", s);
		return false;
	}
	return true;
}

bool ctl_parse_port(const char *s, int *port)
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

bool ctl_json_int(const cJSON *v, int64_t *out)
{
	/* A double outside int64_t does not convert (undefined; x86 gives INT64_MIN, which
	 * would hide a count as "none"): such a number is no figure. The bounds are 2^63. */
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= -9223372036854775808.0) ||
	    !(v->valuedouble < 9223372036854775808.0))
		return false;
	*out = (int64_t)v->valuedouble;
	return true;
}

int ctl_channel_sub_int(const struct m7b_event *st, size_t i, const char *obj, const char *member,
			int64_t *out)
{
	char *json = m7b_event_get_json(st, "channels");
	cJSON *arr = json ? cJSON_Parse(json) : NULL;
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, (int)i), obj);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, member);
	int r = -ENOENT;

	if (ctl_json_int(v, out))
		r = 0;
	cJSON_Delete(arr);
	free(json);
	return r;
}

void ctl_put_text(FILE *f, const uint8_t *p, size_t n)
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

size_t ctl_safe_text(char *buf, size_t cap, const char *s)
{
	const uint8_t *p = (const uint8_t *)(s ? s : "");
	size_t n = strlen((const char *)p), used = 0;

	if (cap == 0)
		return 0;
	while (n > 0) {
		size_t len = m7b_utf8_seq(p, n);
		/* C0, DEL and C1 (U+0080..U+009F: 0xc2 0x80..0x9f) would move the cursor,
		 * recolour or break the line. */
		bool shown = len > 1 ? !(p[0] == 0xc2 && p[1] <= 0x9f)
				     : len == 1 && p[0] >= 0x20 && p[0] != 0x7f;
		size_t out = shown ? len : 1;

		if (used + out >= cap)
			break; /* never half a character */
		if (shown)
			memcpy(buf + used, p, len);
		else
			buf[used] = '?';
		used += out;
		len = len ? len : 1;
		p += len;
		n -= len;
	}
	buf[used] = '\0';
	return used;
}

size_t ctl_utf8_text(char *buf, size_t cap, const char *s)
{
	static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
	const uint8_t *p = (const uint8_t *)(s ? s : "");
	size_t n = strlen((const char *)p), used = 0;

	if (cap == 0)
		return 0;
	while (n > 0) {
		size_t len = m7b_utf8_seq(p, n);
		size_t out = len ? len : sizeof(replacement) - 1;

		if (used + out >= cap)
			break; /* never half a character */
		memcpy(buf + used, len ? (const char *)p : replacement, out);
		used += out;
		len = len ? len : 1;
		p += len;
		n -= len;
	}
	buf[used] = '\0';
	return used;
}

size_t ctl_utf8_prefix(const char *s, size_t nchars)
{
	size_t i = 0;

	/* A character starts at every byte that is not a continuation byte (10xxxxxx). */
	for (; s[i]; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && nchars-- == 0)
			break;
	return i;
}

bool ctl_json_text_ok(const char *s, size_t n)
{
	/* JSON escapes U+0000..U+001F inside strings and has none outside them (RFC 8259),
	 * and is UTF-8: a line with a raw control byte or another encoding is no JSON. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			return false;
	return m7b_utf8_valid(s, n);
}

const char *ctl_safe(const char *s)
{
	/* A few at once, for one printf of several fields; the CLI has one thread. */
	static char ring[8][4096];
	static unsigned next;
	char *buf = ring[next++ % 8];

	if (!s)
		return NULL;
	ctl_safe_text(buf, sizeof(ring[0]), s);
	return buf;
}

void ctl_put_hexdump(FILE *f, const uint8_t *p, size_t n)
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

void ctl_put_time(FILE *f, int64_t ns)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	char buf[32];

	/* Before 1970 is no time a capture was made (a daemon's bad figure): the column
	 * keeps its width, not "00:59:59.-500000". */
	if (ns < 0 || !localtime_r(&s, &tm) || strftime(buf, sizeof(buf), "%H:%M:%S", &tm) == 0) {
		fputs("??:??:??.??????", f);
		return;
	}
	fprintf(f, "%s.%06" PRId64, buf, (ns % 1000000000) / 1000);
}

int64_t ctl_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ctl_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *ctl_str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

void ctl_fmt_duration(char *buf, size_t cap, int64_t ms)
{
	int64_t s = ms / 1000;

	/* An end before its start (a clock step, a daemon's bad figure) is no duration. */
	if (ms < 0)
		snprintf(buf, cap, "?");
	else if (s < 60)
		snprintf(buf, cap, "%" PRId64 ".%03" PRId64 "s", s, ms % 1000);
	else if (s < 3600)
		snprintf(buf, cap, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, cap, "%" PRId64 "h%02" PRId64 "m", s / 3600, s / 60 % 60);
	else
		snprintf(buf, cap, "%" PRId64 "d%02" PRId64 "h", s / 86400, s / 3600 % 24);
}

void ctl_fmt_boot_id(char *buf, size_t cap, int64_t id)
{
	/* The daemon's logs print boot_id in hex: the CLI matches them. It is 32 bits: -1
	 * (absent) or more is unknown. */
	if (id < 0 || id > UINT32_MAX)
		snprintf(buf, cap, "?");
	else
		snprintf(buf, cap, "%08" PRIx64, (uint64_t)id);
}

int ctl_channel_list_member(const struct m7b_event *st, size_t i, const char *member, char *buf,
			    size_t cap)
{
	char *json = m7b_event_get_json(st, "channels");
	cJSON *arr = json ? cJSON_Parse(json) : NULL;
	const cJSON *list =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, (int)i), member);
	const cJSON *it;
	size_t used = 0, more = 0;
	int n = 0;

	buf[0] = '\0';
	if (!cJSON_IsArray(list)) {
		cJSON_Delete(arr);
		free(json);
		return -ENOENT;
	}
	/* Elements are strings ("resync") or objects {"port":0,"name":"console"}. */
	cJSON_ArrayForEach(it, list)
	{
		const cJSON *port = cJSON_GetObjectItemCaseSensitive(it, "port");
		const char *name =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "name"));
		char item[256];

		if (cJSON_IsString(it))
			snprintf(item, sizeof(item), "%s", it->valuestring);
		else if (cJSON_IsNumber(port) && name)
			snprintf(item, sizeof(item), "%d (%s)", port->valueint, name);
		else if (cJSON_IsNumber(port))
			snprintf(item, sizeof(item), "%d", port->valueint);
		else if (cJSON_IsNumber(it))
			snprintf(item, sizeof(item), "%d", it->valueint);
		else
			continue;
		list_add(buf, cap, &used, &more, item, it->next == NULL);
		n++;
	}
	list_end(buf, cap, used, more);
	cJSON_Delete(arr);
	free(json);
	return n;
}

bool ctl_channel_has_port(const struct m7b_event *st, size_t i, int port)
{
	/* From the JSON itself, not from the printed list: that is cut to fit a buffer, and
	 * a name may hold digits. */
	char *json = m7b_event_get_json(st, "channels");
	cJSON *arr = json ? cJSON_Parse(json) : NULL;
	const cJSON *list =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, (int)i), "ports");
	const cJSON *it;
	bool found = !cJSON_IsArray(list); /* the daemon does not say: let the firmware decide */

	/* Elements are {"port":0,"name":"console"} (or plain numbers). */
	cJSON_ArrayForEach(it, list)
	{
		const cJSON *p =
			cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "port") : it;

		if (cJSON_IsNumber(p) && p->valuedouble == (double)port)
			found = true;
	}
	cJSON_Delete(arr);
	free(json);
	return found;
}

void ctl_fmt_dropped(char *buf, size_t cap, const struct m7b_event *ev)
{
	int64_t n = 0, total = 0;
	bool has_n = m7b_event_get_int(ev, "count", &n) == 0 && n >= 0;
	bool has_total = m7b_event_get_int(ev, "total", &total) == 0 && total >= 0;
	char count[32] = "", sum[48] = "";

	if (has_n)
		snprintf(count, sizeof(count), "%" PRId64 " object%s", n, n == 1 ? "" : "s");
	if (has_total)
		snprintf(sum, sizeof(sum), "; %" PRId64 " in total", total);
	snprintf(buf, cap, "DROPPED %s (this client was too slow%s%s)", has_n ? count : "objects",
		 has_n ? "" : "; the daemon did not say how many", sum);
}
