/* m7bridge-mqtt: one table of settings, one parser, and the topic builder. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "m7bridge/utf8.h"

#include "mqtt_conf.h"

void mqc_defaults(struct mqc *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->host, sizeof(c->host), "localhost");
	c->port = 1883;
	c->keepalive_s = 30;
	c->reconnect_min_s = 1;
	c->reconnect_max_s = 30;
	snprintf(c->prefix, sizeof(c->prefix), "m7bridge");
	c->payload = MQC_PAYLOAD_JSON;
	c->qos = 1;
	c->queue_max = 10000;
	c->stats_interval_ms = 10000;
	c->incidents_interval_ms = 10000;
}

/* K_PREFIX implies K_NONEMPTY, which implies K_UTF8 (MQTT strings are UTF-8), which is
 * a K_STR. */
enum kind { K_STR, K_UTF8, K_NONEMPTY, K_PREFIX, K_INT, K_BOOL, K_PAYLOAD, K_LIST };

/* One row per setting: section, key, type, where, and the range of integers. */
static const struct setting {
	const char *section, *key;
	enum kind kind;
	size_t off;
	long min, max;
} settings[] = {
	{"daemon", "socket", K_STR, offsetof(struct mqc, socket), 0, 0},
	{"broker", "host", K_NONEMPTY, offsetof(struct mqc, host), 0, 0},
	{"broker", "port", K_INT, offsetof(struct mqc, port), 1, 65535},
	{"broker", "client_id", K_UTF8, offsetof(struct mqc, client_id), 0, 0},
	{"broker", "username", K_UTF8, offsetof(struct mqc, username), 0, 0},
	{"broker", "password", K_STR, offsetof(struct mqc, password), 0, 0},
	{"broker", "tls", K_BOOL, offsetof(struct mqc, tls), 0, 0},
	{"broker", "ca_file", K_STR, offsetof(struct mqc, ca_file), 0, 0},
	{"broker", "ca_path", K_STR, offsetof(struct mqc, ca_path), 0, 0},
	{"broker", "cert_file", K_STR, offsetof(struct mqc, cert_file), 0, 0},
	{"broker", "key_file", K_STR, offsetof(struct mqc, key_file), 0, 0},
	{"broker", "tls_insecure", K_BOOL, offsetof(struct mqc, tls_insecure), 0, 0},
	{"broker", "keepalive_s", K_INT, offsetof(struct mqc, keepalive_s), 5, 3600},
	{"broker", "reconnect_min_s", K_INT, offsetof(struct mqc, reconnect_min_s), 1, 3600},
	{"broker", "reconnect_max_s", K_INT, offsetof(struct mqc, reconnect_max_s), 1, 3600},
	{"topics", "prefix", K_PREFIX, offsetof(struct mqc, prefix), 0, 0},
	{"topics", "host", K_UTF8, offsetof(struct mqc, node), 0, 0},
	{"topics", "payload", K_PAYLOAD, offsetof(struct mqc, payload), 0, 0},
	{"topics", "qos", K_INT, offsetof(struct mqc, qos), 0, 2},
	{"bridge", "queue_max", K_INT, offsetof(struct mqc, queue_max), 1, 10000000},
	{"bridge", "stats_interval_ms", K_INT, offsetof(struct mqc, stats_interval_ms), 100,
	 3600000},
	{"bridge", "incidents_interval_ms", K_INT, offsetof(struct mqc, incidents_interval_ms), 100,
	 3600000},
	{"commands", "allow_send", K_BOOL, offsetof(struct mqc, allow_send), 0, 0},
	{"commands", "channels", K_LIST, 0, 0, 0},
};

/* The prefix is the start of every topic the bridge publishes to and subscribes under:
 * levels of its own are fine ("site/line3"), but not MQTT's wildcards (a publish to
 * them is refused by the broker), empty levels (subscribers' PREFIX/+/... patterns miss
 * them) or a leading '$' (topics reserved for the broker). */
static bool prefix_valid(const char *v, char *msg, size_t msg_cap)
{
	const char *why = NULL;

	if (strpbrk(v, "+#"))
		why = "MQTT wildcards + and # are not allowed";
	else if (v[0] == '$')
		why = "topics starting with $ are reserved for the broker";
	else if (v[0] == '/' || (v[0] && v[strlen(v) - 1] == '/') || strstr(v, "//"))
		why = "empty topic levels (a leading, trailing or double /) are not allowed";
	if (why)
		snprintf(msg, msg_cap, "prefix '%s': %s", v, why);
	return !why;
}

bool mqc_set(struct mqc *c, const char *section, const char *key, const char *value, char *msg,
	     size_t msg_cap)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		const struct setting *s = &settings[i];
		char *p = (char *)c + s->off, *end;

		if (strcmp(s->section, section) != 0 || strcmp(s->key, key) != 0)
			continue;
		switch (s->kind) {
		case K_PREFIX:
			if (!prefix_valid(value, msg, msg_cap))
				return false;
			/* fall through */
		case K_NONEMPTY:
			if (!value[0]) {
				snprintf(msg, msg_cap, "%s must not be empty", key);
				return false;
			}
			/* fall through */
		case K_UTF8:
			if (!m7b_utf8_valid(value, strlen(value))) {
				snprintf(msg, msg_cap, "%s is not valid UTF-8", key);
				return false;
			}
			/* fall through */
		case K_STR:
			if (strlen(value) >= MQC_STR) {
				snprintf(msg, msg_cap, "%s is too long", key);
				return false;
			}
			memcpy(p, value, strlen(value) + 1);
			return true;
		case K_INT: {
			errno = 0;
			long v = strtol(value, &end, 10);

			if (errno || end == value || *end || v < s->min || v > s->max) {
				snprintf(msg, msg_cap, "%s: expected %ld..%ld, got '%s'", key,
					 s->min, s->max, value);
				return false;
			}
			*(int *)(void *)p = (int)v;
			return true;
		}
		case K_BOOL:
			if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 ||
			    strcmp(value, "1") == 0)
				*(bool *)(void *)p = true;
			else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
				 strcmp(value, "0") == 0)
				*(bool *)(void *)p = false;
			else {
				snprintf(msg, msg_cap, "%s: expected true or false, got '%s'", key,
					 value);
				return false;
			}
			return true;
		case K_PAYLOAD:
			if (strcmp(value, "json") == 0)
				c->payload = MQC_PAYLOAD_JSON;
			else if (strcmp(value, "raw") == 0)
				c->payload = MQC_PAYLOAD_RAW;
			else {
				snprintf(msg, msg_cap, "payload: expected json or raw, got '%s'",
					 value);
				return false;
			}
			return true;
		case K_LIST: {
			/* Comma or space separated channel names. */
			const char *q = value;

			c->nsend_channels = 0;
			while (*q) {
				size_t n = strcspn(q, ", \t");

				if (n && (n >= sizeof(c->send_channels[0]) ||
					  c->nsend_channels == MQC_CHANNELS)) {
					snprintf(msg, msg_cap, "channels: too many or too long");
					return false;
				}
				if (n) {
					memcpy(c->send_channels[c->nsend_channels], q, n);
					c->send_channels[c->nsend_channels++][n] = '\0';
				}
				q += n;
				q += strspn(q, ", \t");
			}
			/* Left out, the list allows every channel: an empty one would too. */
			if (c->nsend_channels == 0) {
				snprintf(msg, msg_cap,
					 "channels is empty: name channels, or leave the setting "
					 "out "
					 "to allow every channel");
				return false;
			}
			return true;
		}
		}
	}
	snprintf(msg, msg_cap, "unknown setting '%s' in [%s]", key, section);
	return false;
}

struct load_ctx {
	struct mqc *c;
	char *msg;
	size_t cap;
	bool failed;
};

static int on_setting(void *user, const char *section, const char *key, const char *value)
{
	struct load_ctx *l = user;

	if (l->failed)
		return 1;
	if (!mqc_set(l->c, section, key, value, l->msg, l->cap)) {
		l->failed = true;
		return 0;
	}
	return 1;
}

/* What read_line reads from. */
struct line_src {
	FILE *f;
	int line;     /* lines handed over so far */
	int nul_line; /* the first line with a NUL byte, 0 if none */
};

/* fgets for libinih that keeps its line numbers those of the file: a line longer than
 * its buffer would be read as two, and the error reported on the line after. Such a line
 * is read whole and handed over as one libinih rejects, a comment as it is. A NUL byte
 * (a binary file, /dev/zero) ends the reading there: fgets would hide what follows it,
 * and a file of NULs would never end. */
static char *read_line(char *buf, int size, void *stream)
{
	struct line_src *src = stream;
	FILE *f = src->f;
	size_t n;
	int ch;

	if (src->nul_line)
		return NULL;
	if (!fgets(buf, size, f))
		return NULL;
	src->line++;
	n = strlen(buf);
	/* fgets stops after a newline or at the end: short of that, a NUL came first. */
	if ((n == 0 || buf[n - 1] != '\n') && n + 1 < (size_t)size && !feof(f)) {
		src->nul_line = src->line;
		snprintf(buf, (size_t)size, "NUL byte\n");
		return buf;
	}
	if (n == 0 || buf[n - 1] == '\n' || (ch = getc(f)) == EOF)
		return buf;
	if (ch == '\n')
		return buf; /* it just fitted */
	while (ch != EOF && ch != '\n')
		ch = getc(f);
	if (buf[strspn(buf, " \t")] != ';' && buf[strspn(buf, " \t")] != '#')
		snprintf(buf, (size_t)size, "line too long\n");
	return buf;
}

static int accept_all(void *user, const char *section, const char *key, const char *value)
{
	return 1;
}

int mqc_load(struct mqc *c, const char *path, char *msg, size_t msg_cap)
{
	struct load_ctx l = {c, msg, msg_cap, false};
	FILE *f = fopen(path, "re");
	struct line_src src = {.f = f};

	if (!f) {
		int e = errno;

		snprintf(msg, msg_cap, "%s", strerror(e));
		return -e;
	}
	int r = ini_parse_stream(read_line, &src, on_setting, &l);

	/* A directory opens, and reads as an error: not as an empty file. */
	if (ferror(f)) {
		int e = errno ? errno : EIO;

		fclose(f);
		snprintf(msg, msg_cap, "%s", strerror(e));
		return -e;
	}
	/* libinih returns the line of the first error, which may be a syntax error before
	 * the setting whose message was kept: then that syntax error is the one to report. */
	if (r > 0 && l.failed) {
		int nul_line = src.nul_line;

		rewind(f);
		src = (struct line_src){.f = f};
		if (ini_parse_stream(read_line, &src, accept_all, NULL) == r)
			l.failed = false;
		src.nul_line = nul_line;
	}
	fclose(f);
	if (r > 0 && src.nul_line == r && !l.failed)
		snprintf(msg, msg_cap, "a NUL byte: not a text file");
	else if (r > 0 && !l.failed)
		snprintf(msg, msg_cap,
			 "syntax error (expected [section], key = value or a comment; lines are "
			 "at most 198 bytes)");
	return r < 0 ? -EIO : r;
}

int mqc_check(const struct mqc *c, char *msg, size_t msg_cap)
{
	const char *why = NULL;

	if (c->reconnect_max_s < c->reconnect_min_s)
		why = "reconnect_max_s is below reconnect_min_s";
	/* libmosquitto refuses these only when it starts, with "invalid arguments". */
	else if (c->tls && !c->ca_file[0] && !c->ca_path[0])
		why = "tls = true needs ca_file or ca_path (the CA that signed the broker's "
		      "certificate)";
	else if (!c->cert_file[0] != !c->key_file[0])
		why = "cert_file and key_file go together (a client certificate and its key)";
	else if (!c->tls && (c->ca_file[0] || c->ca_path[0] || c->cert_file[0]))
		why = "TLS files are set but tls is false: the connection would not be encrypted";
	if (why)
		snprintf(msg, msg_cap, "%s", why);
	return why ? -EINVAL : 0;
}

bool mqc_send_allowed(const struct mqc *c, const char *channel)
{
	if (!c->allow_send)
		return false;
	if (c->nsend_channels == 0)
		return true;
	for (size_t i = 0; i < c->nsend_channels; i++)
		if (strcmp(c->send_channels[i], channel) == 0)
			return true;
	return false;
}

/* Appends one segment, with MQTT's wildcard and level characters replaced. */
static int put_seg(char *buf, size_t cap, size_t *k, const char *seg, bool sep)
{
	size_t n = strlen(seg);

	if (*k + n + 2 > cap)
		return -ENAMETOOLONG;
	if (sep)
		buf[(*k)++] = '/';
	for (size_t i = 0; i < n; i++)
		buf[(*k)++] = seg[i] == '/' || seg[i] == '+' || seg[i] == '#' ? '_' : seg[i];
	buf[*k] = '\0';
	return 0;
}

int mqc_topic(const struct mqc *c, char *buf, size_t cap, const char *const *segs, size_t nsegs)
{
	size_t k = 0;

	if (cap == 0)
		return -ENAMETOOLONG;
	buf[0] = '\0';
	/* The prefix may hold levels of its own ("site/line3"): copied as is. */
	if (strlen(c->prefix) + 1 > cap)
		return -ENAMETOOLONG;
	memcpy(buf, c->prefix, strlen(c->prefix) + 1);
	k = strlen(c->prefix);
	if (put_seg(buf, cap, &k, c->node, k > 0) < 0)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < nsegs; i++)
		if (put_seg(buf, cap, &k, segs[i], true) < 0)
			return -ENAMETOOLONG;
	return (int)k;
}
