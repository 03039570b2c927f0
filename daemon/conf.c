/* Configuration: INI file read with libinih into struct conf; defaults and checks. */
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <pwd.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ini.h>

#include "confkey.h"
#include "macro.h"
#include "confliteral.h"
#include "confsect.h"
#include "recovery.h"
#include "rpmsgdev.h"
#include "silence.h"
#include "m7bridge/utf8.h"
#include "log.h"

struct parse_ctx {
	struct conf *c;
	struct conf_error *err;
	bool failed;
	struct confsect_list sects; /* the headers; libinih sees "#N" tokens instead */
	const struct confsect *cur_sect;
	bool in_section;	  /* a key of some section (or none) was seen */
	struct conf_channel *cur; /* channel of the current section */
	bool bad_section;	  /* error already reported for this section */
	char seen[320][64];	  /* keys of the current section, to refuse repeats */
	unsigned nseen;
};

static void set_err(struct conf_error *err, const char *section, const char *key, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

static void set_err(struct conf_error *err, const char *section, const char *key, const char *fmt,
		    ...)
{
	if (!err)
		return;
	snprintf(err->section, sizeof(err->section), "%s", section ? section : "");
	snprintf(err->key, sizeof(err->key), "%s", key ? key : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

static void channel_defaults(struct conf_channel *ch)
{
	ch->send_timeout_ms = 2000;
	ch->send_queue = 64;
	ch->replay_kib = 2048;
	ch->replay_max_age_s = 60;
	ch->reopen_min_ms = 100;
	ch->reopen_max_ms = 2000;
	ch->host_hello = true;
	ch->enabled = true;
	ch->pty_mode = 0660;
	supervisor_conf_channel_defaults(&ch->sup);
}

struct conf *conf_new(void)
{
	struct conf *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->path = strdup("");
	c->daemon.socket_path = strdup(CONF_DEFAULT_SOCKET);
	if (!c->path || !c->daemon.socket_path)
		return conf_free(c);
	c->daemon.socket_mode = 0660;
	c->daemon.client_queue_kib = 256;
	c->daemon.max_clients = 64;
	c->daemon.reserved_clients = 8;
	/* One user cannot take every slot; 16 leaves room for the exporter, the MQTT bridge,
	 * m7bridgectl top and watch and the examples side by side, one connection each. */
	c->daemon.max_clients_per_uid = 16;
	c->daemon.allow_send = true;
	c->daemon.allow_control = true;
	c->daemon.log_level = LOG_INFO;
	supervisor_conf_daemon_defaults(&c->daemon.sup);
	return c;
}

void conf_channel_clear(struct conf_channel *ch)
{
	free(ch->name);
	free(ch->device);
	free(ch->firmware);
	free(ch->remoteproc);
	free(ch->rpmsg);
	for (unsigned p = 0; p < CONF_PORTS; p++)
		free(ch->port_names[p]);
	memset(ch, 0, sizeof(*ch));
}

struct conf *conf_free(struct conf *c)
{
	if (!c)
		return NULL;
	for (unsigned i = 0; i < c->nchannels; i++)
		conf_channel_clear(&c->channels[i]);
	free(c->channels);
	free(c->daemon.socket_path);
	free(c->daemon.socket_group);
	free(c->path);
	free(c);
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int conf_channel_copy(struct conf_channel *dst, const struct conf_channel *src)
{
	*dst = *src;
	dst->name = dup_or_null(src->name);
	dst->device = dup_or_null(src->device);
	dst->firmware = dup_or_null(src->firmware);
	dst->remoteproc = dup_or_null(src->remoteproc);
	dst->rpmsg = dup_or_null(src->rpmsg);
	bool bad = (src->name && !dst->name) || (src->device && !dst->device) ||
		   (src->firmware && !dst->firmware) || (src->remoteproc && !dst->remoteproc) ||
		   (src->rpmsg && !dst->rpmsg);
	for (unsigned p = 0; p < CONF_PORTS; p++) {
		dst->port_names[p] = dup_or_null(src->port_names[p]);
		if (src->port_names[p] && !dst->port_names[p])
			bad = true;
	}
	if (bad) {
		conf_channel_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

const struct conf_channel *conf_find_channel(const struct conf *c, const char *name)
{
	for (unsigned i = 0; i < c->nchannels; i++)
		if (strcmp(c->channels[i].name, name) == 0)
			return &c->channels[i];
	return NULL;
}

/* Channel and port names travel in JSON and journal fields: keep them plain. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= CONF_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++) {
		char ch = *p;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

/* A channel's name also names its state records (firmware-good-NAME), which are plain
 * file names: no leading '.', or the daemon would keep none for it. */
static bool channel_name_ok(const char *s)
{
	return name_ok(s) && s[0] != '.';
}

/* Values reach JSON replies (status: device, pty) and the journal, which must stay
 * valid UTF-8. */
static bool utf8_ok(const char *s)
{
	return m7b_utf8_valid(s, strlen(s));
}

static struct conf_channel *add_channel(struct conf *c, const char *name)
{
	if (c->nchannels >= CONF_MAX_CHANNELS)
		return NULL;
	struct conf_channel *n = realloc(c->channels, (c->nchannels + 1) * sizeof(*n));
	if (!n)
		return NULL;
	c->channels = n;
	struct conf_channel *ch = &c->channels[c->nchannels];
	memset(ch, 0, sizeof(*ch));
	channel_defaults(ch);
	ch->name = strdup(name);
	if (!ch->name)
		return NULL;
	c->nchannels++;
	return ch;
}

int conf_add_channel(struct conf *c, const char *name, const char *device)
{
	if (!channel_name_ok(name) || !device || device[0] != '/' || !utf8_ok(device))
		return -EINVAL;
	if (conf_find_channel(c, name))
		return -EEXIST;
	struct conf_channel *ch = add_channel(c, name);
	if (!ch)
		return c->nchannels >= CONF_MAX_CHANNELS ? -ENOSPC : -ENOMEM;
	ch->device = strdup(device);
	return ch->device ? 0 : -ENOMEM;
}

static int check_socket(void *field, const char *v, char *msg, size_t cap)
{
	if (v[0] != '/') {
		snprintf(msg, cap, "must be an absolute path");
		return -EINVAL;
	}
	if (strlen(v) >= 108) {
		snprintf(msg, cap, "path longer than 107 bytes");
		return -EINVAL;
	}
	return 0;
}

/* socket_group: empty is the default (the daemon's group), as --check-config prints it. A
 * group that does not exist is refused here, at its line (or as --socket-group's): the
 * daemon could not start with it. */
static int set_socket_group(void *field, const char *v, char *msg, size_t cap)
{
	if (v[0] && !getgrnam(v)) {
		snprintf(msg, cap, "no group named '%s'", v);
		return -EINVAL;
	}
	char *s = v[0] ? strdup(v) : NULL;

	if (v[0] && !s)
		return -ENOMEM;
	free(*(char **)field);
	*(char **)field = s;
	return 0;
}

/* user: one that does not exist is refused at its line, as socket_group is: the daemon
 * could not start as it. (--user is the command line's, checked in main.c.) */
static int check_user(void *field, const char *v, char *msg, size_t cap)
{
	if (v[0] && !getpwnam(v)) {
		snprintf(msg, cap, "no user named '%s'", v);
		return -EINVAL;
	}
	return 0;
}

static void fmt_socket_group(const void *field, char *buf, size_t cap)
{
	const char *s = *(char *const *)field;

	snprintf(buf, cap, "%s", s ? s : "");
}

static int set_log_level(void *field, const char *v, char *msg, size_t cap)
{
	int l = log_level_from_string(v);

	if (l < 0) {
		snprintf(msg, cap, "expected debug, info, notice, warning or err, got '%s'", v);
		return -EINVAL;
	}
	*(int *)field = l;
	return 0;
}

static void fmt_log_level(const void *field, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", log_level_to_string(*(const int *)field));
}

static int check_rpmsg(void *field, const char *v, char *msg, size_t cap)
{
	struct rpmsgdev_spec s;
	if (rpmsgdev_parse(v, &s) == 0)
		return 0;
	snprintf(msg, cap, "expected <remoteproc name or index>:<endpoint address>, got '%s'", v);
	return -EINVAL;
}

/* device: an absolute path. A relative one (or one in quotes, which INI does not strip)
 * would be looked up from the daemon's working directory and waited for forever. */
static int check_device(void *field, const char *v, char *msg, size_t cap)
{
	if (v[0] == '/')
		return 0;
	snprintf(msg, cap, "must be an absolute path such as /dev/ttyRPMSG30, got '%s'", v);
	return -EINVAL;
}

/* The same check as a reload applies, so a name is refused here and not later. */
static int check_firmware(void *field, const char *v, char *msg, size_t cap)
{
	if (recovery_firmware_name_ok(v))
		return 0;
	snprintf(msg, cap,
		 "must be a plain file name under /lib/firmware (no blanks, '/', '\\', "
		 "control characters or leading '.'), got '%s'",
		 v);
	return -EINVAL;
}

static int check_remoteproc(void *field, const char *v, char *msg, size_t cap)
{
	if (v[0] && !strchr(v, '/'))
		return 0;
	snprintf(msg, cap, "must be a name such as remoteproc0");
	return -EINVAL;
}

static const char *const conf_mode_names[] = {
	[CONF_MODE_WIRE] = "wire",
	[CONF_MODE_RAW] = "raw",
};
DEFINE_STRING_TABLE_LOOKUP(conf_mode, enum conf_mode, conf_mode_names)

/* mode = wire | raw. */
static int set_mode(void *field, const char *v, char *msg, size_t cap)
{
	for (size_t i = 0; i < ARRAY_SIZE(conf_mode_names); i++) {
		if (strcmp(v, conf_mode_names[i]) == 0) {
			*(enum conf_mode *)field = (enum conf_mode)i;
			return 0;
		}
	}
	snprintf(msg, cap, "expected wire or raw, got '%s'", v);
	return -EINVAL;
}

static void fmt_mode(const void *field, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", conf_mode_to_string(*(const enum conf_mode *)field));
}

/* Every key of [daemon] and [channel NAME], the supervisor's among them (port.N, whose
 * name carries a number, is the one key outside the table). */
#define D(f) offsetof(struct conf_daemon, f)
static const struct confkey daemon_keys[] = {
	{"socket", CONFKEY_STRDUP, D(socket_path), 0, 0, check_socket, NULL},
	{"socket_mode", CONFKEY_OCTAL, D(socket_mode), 0, 0777, NULL, NULL},
	{"socket_group", CONFKEY_FN, D(socket_group), 0, 0, set_socket_group, NULL},
	{"allow_send", CONFKEY_BOOL, D(allow_send), 0, 0, NULL, NULL},
	{"allow_control", CONFKEY_BOOL, D(allow_control), 0, 0, NULL, NULL},
	{"log_level", CONFKEY_FN, D(log_level), 0, 0, set_log_level, NULL},
	{"client_queue_kib", CONFKEY_UINT, D(client_queue_kib), 16, 65536, NULL, NULL},
	{"max_clients", CONFKEY_UINT, D(max_clients), 1, 4096, NULL, NULL},
	{"user", CONFKEY_CHARS, D(user), 0, sizeof(((struct conf_daemon *)0)->user), check_user,
	 NULL},
	{"reserved_clients", CONFKEY_UINT, D(reserved_clients), 0, 4096, NULL, NULL},
	{"max_clients_per_uid", CONFKEY_UINT, D(max_clients_per_uid), 0, 4096, NULL, NULL},
	{"allow_root_user", CONFKEY_BOOL, D(allow_root_user), 0, 0, NULL, NULL},
	{"", CONFKEY_SUBTABLE, D(sup), 0, 0, NULL, supervisor_daemon_keys},
	{NULL, 0, 0, 0, 0, NULL, NULL},
};
#undef D

#define C(f) offsetof(struct conf_channel, f)
static const struct confkey channel_keys[] = {
	{"device", CONFKEY_STRDUP, C(device), 0, 0, check_device, NULL},
	{"host_hello", CONFKEY_BOOL, C(host_hello), 0, 0, NULL, NULL},
	{"enabled", CONFKEY_BOOL, C(enabled), 0, 0, NULL, NULL},
	{"firmware", CONFKEY_STRDUP, C(firmware), 0, 0, check_firmware, NULL},
	{"remoteproc", CONFKEY_STRDUP, C(remoteproc), 0, 0, check_remoteproc, NULL},
	{"rpmsg", CONFKEY_STRDUP, C(rpmsg), 0, 0, check_rpmsg, NULL},
	{"send_timeout_ms", CONFKEY_UINT, C(send_timeout_ms), 10, 600000, NULL, NULL},
	{"send_queue", CONFKEY_UINT, C(send_queue), 1, 4096, NULL, NULL},
	{"reopen_min_ms", CONFKEY_UINT, C(reopen_min_ms), 1, 600000, NULL, NULL},
	{"reopen_max_ms", CONFKEY_UINT, C(reopen_max_ms), 1, 600000, NULL, NULL},
	{"mode", CONFKEY_FN, C(mode), 0, 0, set_mode, NULL},
	{"pty", CONFKEY_PATH_OPT, C(pty), 0, CONF_PATH_MAX, NULL, NULL},
	{"pty_port", CONFKEY_UINT, C(pty_port), 0, CONF_PORTS - 1, NULL, NULL},
	{"pty_mode", CONFKEY_OCTAL, C(pty_mode), 0, 0777, NULL, NULL},
	{"pty_group", CONFKEY_CHARS, C(pty_group), 0, CONF_NAME_MAX, NULL, NULL},
	{"replay_kib", CONFKEY_UINT, C(replay_kib), 0, 1048576, NULL, NULL},
	{"replay_max_age_s", CONFKEY_UINT, C(replay_max_age_s), 1, 86400, NULL, NULL},
	{"", CONFKEY_SUBTABLE, C(sup), 0, 0, NULL, supervisor_channel_keys},
	{NULL, 0, 0, 0, 0, NULL, NULL},
};
#undef C

/* port.N = NAME: the port's name in FRAME objects. */
static int set_port_name(struct conf_channel *ch, const char *k, const char *v, char *msg,
			 size_t cap)
{
	unsigned p;

	if (confkey_parse_uint(k + 5, 0, CONF_PORTS - 1, 10, &p) < 0) {
		snprintf(msg, cap, "expected port.N with N in 0..255");
		return -EINVAL;
	}
	if (!name_ok(v)) {
		snprintf(msg, cap,
			 "port name must be 1..63 characters of A-Z a-z 0-9 - _ ., got '%s'", v);
		return -EINVAL;
	}
	/* port.7 and port.07 are one key: the second would silently win. */
	if (ch->port_names[p]) {
		snprintf(msg, cap, "port %u named twice (already '%s')", p, ch->port_names[p]);
		return -EINVAL;
	}
	char *n = strdup(v);
	if (!n)
		return -ENOMEM;
	free(ch->port_names[p]);
	ch->port_names[p] = n;
	return 0;
}

/* Takes key k of section sec into the struct at base. 0, or -EINVAL with err set. */
static int take_key(const struct confkey *table, void *base, const char *sec, const char *k,
		    const char *v, struct conf_error *err)
{
	char msg[200] = "";
	int r = !utf8_ok(v) ? (snprintf(msg, sizeof(msg), "not valid UTF-8"), -EINVAL)
		: strncmp(k, "port.", 5) == 0 && table == channel_keys
			? set_port_name(base, k, v, msg, sizeof(msg))
			: confkey_set(table, base, k, v, msg, sizeof(msg));

	if (r == 0)
		return 0;
	const char *why = r == -ENOMEM ? "out of memory" : r == -ENOENT ? "unknown key" : msg;
	/* A key of the other section is the usual slip: say where it belongs. */
	if (r == -ENOENT && table == channel_keys && confkey_known(daemon_keys, k))
		why = "unknown key here: it belongs in [daemon]";
	else if (r == -ENOENT && table == daemon_keys &&
		 (confkey_known(channel_keys, k) || strncmp(k, "port.", 5) == 0))
		why = "unknown key here: it belongs in a [channel NAME] section";
	set_err(err, sec, k, "%s", why);
	return -EINVAL;
}

/* Finds the section headers (with their lines) before libinih reads the file, and makes
 * every [channel NAME] a channel, so an empty one is reported too. 0, -EINVAL (err set),
 * -ENOMEM. */
static int take_sections(struct parse_ctx *p, const char *text)
{
	struct conf_error tmp, *err = p->err ? p->err : &tmp;
	int line = 0;
	int r = confsect_scan(text, &p->sects, &line, err->message, sizeof(err->message));
	if (r < 0) {
		err->line = line;
		err->section[0] = err->key[0] = '\0';
		return r;
	}
	for (unsigned i = 0; i < p->sects.n; i++) {
		const struct confsect *s = &p->sects.v[i];
		const char *msg = NULL;
		err->line = s->line;
		if (strncmp(s->name, "channel ", 8) == 0) {
			const char *cname = s->name + 8 + strspn(s->name + 8, " \t");
			/* [channel a] and [channel  a] are two headers but one channel: the
			 * second's keys would go to the first. */
			const struct conf_channel *dup = conf_find_channel(p->c, cname);
			if (dup) {
				set_err(err, s->name, "",
					"channel %s defined twice (first at line %d)", cname,
					dup->line);
				confsect_clear(&p->sects);
				return -EINVAL;
			}
			struct conf_channel *ch =
				channel_name_ok(cname) ? add_channel(p->c, cname) : NULL;
			if (ch)
				ch->line = s->line;
			else
				msg = !channel_name_ok(cname)
					      ? "channel name must be 1..63 characters of A-Z "
						"a-z 0-9 - _ ., not starting with '.'"
				      : p->c->nchannels >= CONF_MAX_CHANNELS
					      ? "too many channels (at most 64)"
					      : "out of memory";
		} else if (strcmp(s->name, "daemon") != 0) {
			msg = "unknown section (expected [daemon] or [channel NAME])";
		}
		if (msg) {
			set_err(err, s->name, "", "%s", msg);
			confsect_clear(&p->sects);
			return -EINVAL;
		}
	}
	err->line = 0;
	return 0;
}

/* inih handler: returns 0 on error (inih then reports the line), 1 otherwise. Only the
 * first error is kept. */
static int on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;
	struct conf_error tmp;
	struct conf_error *err = p->failed ? &tmp : p->err;
	char literal[1024];
	if (!err)
		err = &tmp;
	if (confliteral_key(name) && strlen(value) < sizeof(literal)) {
		strcpy(literal, value);
		confliteral_restore(literal);
		value = literal;
	}

	const struct confsect *sect = confsect_lookup(&p->sects, section);
	if (sect) /* names and errors use the header as written */
		section = sect->name;
	if (!p->in_section || sect != p->cur_sect) {
		p->in_section = true;
		p->cur_sect = sect;
		p->bad_section = false;
		p->nseen = 0;
		p->cur = NULL;
		if (strncmp(section, "channel ", 8) == 0) {
			const char *cname = section + 8 + strspn(section + 8, " \t");
			for (unsigned i = 0; i < p->c->nchannels && !p->cur; i++)
				if (strcmp(p->c->channels[i].name, cname) == 0)
					p->cur = &p->c->channels[i];
		}
	}
	if (p->bad_section)
		return 1; /* already reported once */
	if (!name[0]) {	  /* "= value": "unknown key" would name no key at all */
		set_err(err, section, "", "a value without a key ('= %.60s'; expected key = value)",
			value);
		p->failed = true;
		return 0;
	}
	/* inih merges a repeated [section] into the previous one when they follow each
	 * other, so a repeated key is the only trace of it. */
	for (unsigned i = 0; i < p->nseen; i++) {
		if (strcmp(p->seen[i], name) == 0) {
			set_err(err, section, name,
				"given twice (an indented line continues the previous value)");
			p->failed = true;
			return 0;
		}
	}
	if (p->nseen < sizeof(p->seen) / sizeof(p->seen[0]) && strlen(name) < sizeof(p->seen[0]))
		strcpy(p->seen[p->nseen++], name);

	int r;
	if (strcmp(section, "daemon") == 0)
		r = take_key(daemon_keys, &p->c->daemon, section, name, value, err);
	else if (p->cur)
		r = take_key(channel_keys, p->cur, section, name, value, err);
	else {
		set_err(err, section, name,
			section[0] ? "unknown section (expected [daemon] or [channel NAME])"
				   : "key outside any section");
		r = -EINVAL;
	}
	if (r < 0) {
		p->failed = true;
		return 0;
	}
	return 1;
}

/* inih handler that stops at [daemon] user: parsing with it gives that key's line. */
static int stop_at_user(void *user, const char *section, const char *name, const char *value)
{
	const struct confsect *sect = confsect_lookup(user, section);

	return strcmp(sect ? sect->name : section, "daemon") != 0 || strcmp(name, "user") != 0;
}

bool conf_user_is_root(const char *name)
{
	const struct passwd *pw = getpwnam(name);

	return strcmp(name, "root") == 0 || (pw && pw->pw_uid == 0);
}

/* Whether two absolute paths name the same file however they are spelt ("//", "/./", a
 * trailing '/'), so that a respelt pty is still caught here. Links in them are the
 * daemon's to check when it makes the pty. */
static bool same_path(const char *a, const char *b)
{
	for (;;) {
		/* Skips, on each side, the separators and "." components before the next. */
		while (*a == '/' && (a[1] == '/' || (a[1] == '.' && (a[2] == '/' || !a[2]))))
			a += a[1] == '/' ? 1 : 2;
		while (*b == '/' && (b[1] == '/' || (b[1] == '.' && (b[2] == '/' || !b[2]))))
			b += b[1] == '/' ? 1 : 2;
		if (*a == '/' && !a[1])
			a++;
		if (*b == '/' && !b[1])
			b++;
		if (*a != *b)
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

/* inih handler that takes every key: parsing with it finds the syntax errors alone. */
static int accept_all(void *user, const char *section, const char *name, const char *value)
{
	return 1;
}

int conf_validate(const struct conf *c, struct conf_error *err)
{
	for (unsigned i = 0; i < c->nchannels; i++) {
		const struct conf_channel *ch = &c->channels[i];
		char sec[80];
		snprintf(sec, sizeof(sec), "channel %s", ch->name);
		if (!ch->device == !ch->rpmsg) {
			set_err(err, sec, ch->device ? "rpmsg" : "device",
				ch->device ? "give device or rpmsg, not both"
					   : "missing (the tty to open, e.g. /dev/ttyRPMSG30, or "
					     "rpmsg = imx-rproc:30)");
			if (err)
				err->line = ch->line;
			return -EINVAL;
		}
		if (ch->reopen_min_ms > ch->reopen_max_ms) {
			set_err(err, sec, "reopen_min_ms", "larger than reopen_max_ms (%u > %u)",
				ch->reopen_min_ms, ch->reopen_max_ms);
			if (err)
				err->line = ch->line;
			return -EINVAL;
		}
		/* One tty, two channels: the first holds it exclusively, the second would
		 * wait for it forever, blaming another process. */
		for (unsigned j = 0; j < i; j++) {
			const struct conf_channel *o = &c->channels[j];
			bool dev = ch->device && o->device && same_path(ch->device, o->device);
			if (dev || (ch->rpmsg && o->rpmsg && strcmp(ch->rpmsg, o->rpmsg) == 0)) {
				set_err(err, sec, dev ? "device" : "rpmsg",
					"%s is the %s of channel %s", dev ? ch->device : ch->rpmsg,
					dev ? "device" : "endpoint", o->name);
				if (err)
					err->line = ch->line;
				return -EINVAL;
			}
		}
		/* A pty is a symlink the daemon makes, replacing what is there: in place of a
		 * channel's tty, or of another channel's pty, it would take that path over. */
		for (unsigned j = 0; ch->pty[0] && j < c->nchannels; j++) {
			const struct conf_channel *o = &c->channels[j];
			bool dev = o->device && same_path(ch->pty, o->device);
			if (dev || (j < i && same_path(ch->pty, o->pty))) {
				set_err(err, sec, "pty", "%s is the %s of channel %s", ch->pty,
					dev ? "device" : "pty", o->name);
				if (err)
					err->line = ch->line;
				return -EINVAL;
			}
		}
		/* The recovery engine refuses it at start (and runs no recovery at all). */
		if (ch->sup.recovery_backoff_ms > ch->sup.recovery_backoff_max_ms) {
			set_err(err, sec, "recovery_backoff_ms",
				"larger than recovery_backoff_max_ms (%u > %u)",
				ch->sup.recovery_backoff_ms, ch->sup.recovery_backoff_max_ms);
			if (err)
				err->line = ch->line;
			return -EINVAL;
		}
		/* The supervisor probes raw channels only: on a wire channel the probe would
		 * silently never run. */
		if (ch->mode == CONF_MODE_WIRE && ch->sup.probe_period_ms) {
			set_err(err, sec, "probe_period_ms",
				"the probe is for mode = raw; a wire channel's liveness is "
				"liveness_quiet_ms");
			if (err)
				err->line = ch->line;
			return -EINVAL;
		}
	}
	return 0;
}

int conf_parse_string(const char *text, const char *name, struct conf **out, struct conf_error *err)
{
	*out = NULL;
	if (err) {
		memset(err, 0, sizeof(*err));
		snprintf(err->file, sizeof(err->file), "%s", name);
	}
	struct conf *c = conf_new();
	if (!c)
		return -ENOMEM;
	free(c->path);
	c->path = strdup(name);
	if (!c->path) {
		conf_free(c);
		return -ENOMEM;
	}
	struct parse_ctx p = {.c = c, .err = err};
	int r = take_sections(&p, text);
	if (r < 0) {
		conf_free(c);
		return r;
	}
	/* A command (hook, driver_reload) keeps its " ; ": no inline comment there. */
	char *protected_text = confliteral_protect(p.sects.text);
	if (!protected_text) {
		confsect_clear(&p.sects);
		conf_free(c);
		return -ENOMEM;
	}
	int line = ini_parse_string(protected_text, on_ini, &p);
	/* libinih returns the line of the first error, which may be a syntax error before
	 * the key whose error the handler kept: then that syntax error is the one to
	 * report (it has no key, and the kept message belongs to a later line). */
	if (line > 0 && p.failed && ini_parse_string(protected_text, accept_all, NULL) == line)
		p.failed = false;
	/* A uid 0 `user` would run everything that parses input as root: the split would
	 * only add a process. Refused at its line unless allow_root_user says it is meant. */
	if (line == 0 && !p.failed && c->daemon.user[0] && !c->daemon.allow_root_user &&
	    conf_user_is_root(c->daemon.user)) {
		set_err(err, "daemon", "user", "%s", CONF_ROOT_USER_MSG);
		line = ini_parse_string(protected_text, stop_at_user, &p.sects);
		p.failed = true;
	}
	free(protected_text);
	confsect_clear(&p.sects);
	if (line != 0 || p.failed) {
		if (err) {
			err->line = line > 0 ? line : 0;
			if (!p.failed) {
				/* inih's own syntax error: no handler saw it. */
				err->section[0] = err->key[0] = '\0';
				snprintf(err->message, sizeof(err->message),
					 "syntax error (expected [section], key = value or a "
					 "comment; lines are at most 198 bytes)");
			}
		}
		conf_free(c);
		return -EINVAL;
	}
	r = conf_validate(c, err);
	if (r < 0) {
		conf_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int conf_load_text(const char *path, char **out, size_t *len, struct conf_error *err)
{
	*out = NULL;
	*len = 0;
	if (err) {
		memset(err, 0, sizeof(*err));
		snprintf(err->file, sizeof(err->file), "%s", path);
	}
	/* Non-blocking, then a regular file only: a FIFO in its place would block the start,
	 * or the event loop at a reload, until someone wrote to it; a device never ends. A
	 * symbolic link to a regular file is fine, and so is /dev/null: the usual way to say
	 * "no file, the command line says it all". */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	FILE *f = NULL;
	if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) &&
	    !(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))) {
		close(fd);
		if (err)
			snprintf(err->message, sizeof(err->message), "cannot read: %s",
				 S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	if (fd >= 0)
		f = fdopen(fd, "r");
	if (!f) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (err)
			snprintf(err->message, sizeof(err->message), "cannot open: %s",
				 strerror(e));
		return -e;
	}
	/* Read it whole: inih parses the string and we look up section lines in it. */
	size_t cap = 4096, n = 0;
	int rerrno = 0;
	char *text = malloc(cap);
	while (text) {
		errno = 0;
		size_t got = fread(text + n, 1, cap - n - 1, f);
		n += got;
		if (ferror(f))
			rerrno = errno ? errno : EIO; /* e.g. EISDIR: say why */
		if (n < cap - 1)
			break;
		if (cap >= (1u << 24)) {
			free(text);
			text = NULL;
			break;
		}
		char *t = realloc(text, cap * 2);
		if (!t) {
			free(text);
			text = NULL;
			break;
		}
		text = t;
		cap *= 2;
	}
	bool rerr = ferror(f);
	fclose(f);
	if (!text || rerr) {
		free(text);
		if (err && rerr)
			snprintf(err->message, sizeof(err->message), "cannot read: %s",
				 strerror(rerrno ? rerrno : EIO));
		else if (err)
			snprintf(err->message, sizeof(err->message),
				 "too large (at most 16 MiB) or out of memory");
		return rerr ? -(rerrno ? rerrno : EIO) : -ENOMEM;
	}
	text[n] = '\0';
	*out = text;
	*len = n;
	return 0;
}

int conf_parse_text(const char *text, size_t len, const char *name, struct conf **out,
		    struct conf_error *err)
{
	const char *nul = memchr(text, '\0', len);
	*out = NULL;
	if (nul) {
		int line = 1;
		for (const char *q = text; q < nul; q++)
			line += *q == '\n';
		if (err) {
			memset(err, 0, sizeof(*err));
			snprintf(err->file, sizeof(err->file), "%s", name);
			err->line = line;
			snprintf(err->message, sizeof(err->message), "contains a NUL byte");
		}
		return -EINVAL;
	}
	return conf_parse_string(text, name, out, err);
}

int conf_load(const char *path, struct conf **out, struct conf_error *err)
{
	char *text;
	size_t n;
	int r = conf_load_text(path, &text, &n, err);

	*out = NULL;
	if (r < 0)
		return r;
	r = conf_parse_text(text, n, path, out, err);
	free(text);
	return r;
}

/* The [daemon] keys read once, at start: the socket is bound, the user dropped to, the
 * kernel log opened, and the supervisor and its helper keep their trees and directories
 * (a helper on a new sysfs_root would write where the daemon does not read). */
enum start_kind { START_STR, START_CHARS, START_UINT, START_BOOL };
#define S(k, f, kind)                                                                              \
	{                                                                                          \
		k, kind, offsetof(struct conf_daemon, f), sizeof(((struct conf_daemon *)0)->f)     \
	}
static const struct start_key {
	const char *key;
	enum start_kind kind;
	size_t off, size;
} start_keys[] = {
	S("socket", socket_path, START_STR),
	S("socket_mode", socket_mode, START_UINT),
	S("socket_group", socket_group, START_STR),
	S("user", user, START_CHARS),
	S("allow_root_user", allow_root_user, START_BOOL),
	S("kernel_log", sup.kernel_log, START_CHARS),
	S("journal_dir", sup.journal_dir, START_CHARS),
	S("kmsg_path", sup.kmsg_path, START_CHARS),
	S("sysfs_root", sup.sysfs_root, START_CHARS),
	S("debugfs_root", sup.debugfs_root, START_CHARS),
	S("firmware_dir", sup.firmware_dir, START_CHARS),
	S("state_dir", sup.state_dir, START_CHARS),
};
#undef S

/* Whether the field of key k differs between fa and fb (that field in each struct). */
static bool start_key_differs(const struct start_key *k, const void *fa, const void *fb)
{
	const char *sa, *sb;

	switch (k->kind) {
	case START_STR:
		sa = *(char *const *)fa;
		sb = *(char *const *)fb;
		return !sa != !sb || (sa && strcmp(sa, sb) != 0);
	case START_CHARS:
		return strncmp(fa, fb, k->size) != 0;
	default:
		return memcmp(fa, fb, k->size) != 0;
	}
}

int conf_keep_start_keys(struct conf *n, const struct conf *running, char *changed, size_t cap)
{
	size_t len = 0;
	int count = 0;

	if (cap)
		changed[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(start_keys); i++) {
		const struct start_key *k = &start_keys[i];
		void *dst = (char *)&n->daemon + k->off;
		const void *src = (const char *)&running->daemon + k->off;
		if (!start_key_differs(k, dst, src))
			continue;
		if (k->kind == START_STR) {
			const char *v = *(char *const *)src;
			char *copy = v ? strdup(v) : NULL;
			if (v && !copy)
				return -ENOMEM;
			free(*(char **)dst);
			*(char **)dst = copy;
		} else {
			memcpy(dst, src, k->size);
		}
		if (len < cap)
			len += (size_t)snprintf(changed + len, cap - len, "%s%s", count ? ", " : "",
						k->key);
		count++;
	}
	return count;
}

bool conf_channel_needs_reopen(const struct conf_channel *a, const struct conf_channel *b)
{
	/* An rpmsg channel's device is whatever the endpoint resolves to at open. */
	bool moved = a->rpmsg || b->rpmsg
			     ? !a->rpmsg || !b->rpmsg || strcmp(a->rpmsg, b->rpmsg) != 0
			     : strcmp(a->device, b->device) != 0;
	return moved || a->host_hello != b->host_hello || a->enabled != b->enabled ||
	       a->mode != b->mode;
}

/* Makes s one line of UTF-8 in place: a name or value quoted from a bad file may hold
 * escape sequences (which would clear or recolour the operator's terminal and hide the
 * error) or bytes the journal would keep only as a blob. */
static void printable(char *s)
{
	for (size_t n = strlen(s); *s;) {
		unsigned char ch = (unsigned char)*s;
		size_t k = ch < 0x80 ? 1 : m7b_utf8_seq(s, n);
		bool c1 = k == 2 && ch == 0xc2 && (unsigned char)s[1] < 0xa0;
		if (k == 0 || ch < 0x20 || ch == 0x7f || c1) {
			memset(s, '?', k ? k : 1);
			k = k ? k : 1;
		}
		s += k;
		n -= k;
	}
}

const char *conf_error_format(const struct conf_error *err, char *buf, size_t cap)
{
	char where[160] = "";
	if (err->section[0] && err->key[0])
		snprintf(where, sizeof(where), "[%s] %s: ", err->section, err->key);
	else if (err->section[0])
		snprintf(where, sizeof(where), "[%s]: ", err->section);
	if (err->line > 0)
		snprintf(buf, cap, "%s:%d: %s%s", err->file, err->line, where, err->message);
	else if (err->file[0])
		snprintf(buf, cap, "%s: %s%s", err->file, where, err->message);
	else
		snprintf(buf, cap, "%s%s", where, err->message);
	printable(buf);
	return buf;
}

int conf_apply_overrides(struct conf *c, const struct conf_overrides *o, struct conf_error *err)
{
	if (!o)
		return 0;
	char msg[200];
	int r;
	if (o->socket) {
		/* The same row as the file's key, so the same checks. */
		r = confkey_set(daemon_keys, &c->daemon, "socket", o->socket, msg, sizeof(msg));
		if (r == -EINVAL)
			set_err(err, "command line", "--socket",
				"must be an absolute path of at most 107 bytes");
		if (r < 0)
			return r;
	}
	if (o->socket_mode >= 0)
		c->daemon.socket_mode = (unsigned)o->socket_mode;
	if (o->socket_group) {
		r = confkey_set(daemon_keys, &c->daemon, "socket_group", o->socket_group, msg,
				sizeof(msg));
		if (r == -EINVAL)
			set_err(err, "command line", "--socket-group", "%s", msg);
		if (r < 0)
			return r;
	}
	if (o->log_level >= 0)
		c->daemon.log_level = o->log_level;
	for (unsigned i = 0; i < o->nchannels; i++) {
		const char *spec = o->channels[i];
		const char *eq = strchr(spec, '=');
		char name[CONF_NAME_MAX];
		if (!eq || (size_t)(eq - spec) >= sizeof(name)) {
			set_err(err, "command line", "--channel", "expected NAME=DEVICE, got '%s'",
				spec);
			return -EINVAL;
		}
		memcpy(name, spec, (size_t)(eq - spec));
		name[eq - spec] = '\0';
		/* A second -C of a name would silently replace the first. */
		for (unsigned k = 0; k < i; k++) {
			const char *prev = o->channels[k];
			if (strncmp(prev, name, strlen(name)) == 0 && prev[strlen(name)] == '=') {
				set_err(err, "command line", "--channel",
					"channel %s given twice ('%s')", name, spec);
				return -EINVAL;
			}
		}
		/* The command line wins over a file channel of the same name. */
		for (unsigned k = 0; k < c->nchannels; k++) {
			if (strcmp(c->channels[k].name, name) == 0) {
				conf_channel_clear(&c->channels[k]);
				memmove(&c->channels[k], &c->channels[k + 1],
					(c->nchannels - k - 1) * sizeof(c->channels[0]));
				c->nchannels--;
				break;
			}
		}
		r = conf_add_channel(c, name, eq + 1);
		if (r < 0) {
			set_err(err, "command line", "--channel",
				r == -EINVAL
					? "bad channel name, or a device that is not an absolute "
					  "path of UTF-8 in '%s'"
					: "cannot add channel '%s'",
				spec);
			return r;
		}
	}
	return 0;
}

int conf_read(const char *path, bool optional, const struct conf_overrides *o, struct conf **out,
	      struct conf_error *err)
{
	char *text = NULL;
	size_t n = 0;
	int r = path ? conf_load_text(path, &text, &n, err) : 0;

	*out = NULL;
	if (r < 0 && !(r == -ENOENT && optional))
		return r;
	r = conf_read_text(text, n, path, o, out, err);
	free(text);
	return r;
}

int conf_read_text(const char *text, size_t len, const char *path, const struct conf_overrides *o,
		   struct conf **out, struct conf_error *err)
{
	*out = NULL;
	struct conf *c = NULL;
	int r;
	if (text) {
		r = conf_parse_text(text, len, path, &c, err);
		if (r < 0)
			return r;
	} else {
		c = conf_new();
		if (!c)
			return -ENOMEM;
		if (err)
			memset(err, 0, sizeof(*err));
	}
	r = conf_apply_overrides(c, o, err);
	if (r < 0 && err) {
		/* The command line's mistake, not the file's: name no file or line. */
		err->file[0] = '\0';
		err->line = 0;
	}
	if (r == 0)
		r = conf_validate(c, err);
	if (r < 0) {
		conf_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void conf_each_key(const struct conf *c, const struct conf_channel *ch, confkey_out_fn out,
		   void *ud)
{
	static const struct confkey_format fmts[] = {
		{"log_level", fmt_log_level},
		{"socket_group", fmt_socket_group},
		{"allow_uids", supervisor_conf_fmt_uids},
		{"mode", fmt_mode},
		{"expect_rate", silence_conf_format},
		{NULL, NULL},
	};

	if (ch)
		confkey_each(channel_keys, ch, fmts, out, ud);
	else
		confkey_each(daemon_keys, &c->daemon, fmts, out, ud);
}
