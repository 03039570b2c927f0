/* m7bridgectl doctor: runs the system checks, asks the daemon when it runs, prints the report. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "m7bridge/client.h"
#include "ctl.h"
#include "doctor.h"

enum { EXIT_ALL_OK = 0, EXIT_ANY_FAIL = 1, EXIT_BAD_USAGE = 2, EXIT_WARNINGS = 3 };

const char *doctor_level_to_string(enum doctor_level l)
{
	static const char *const names[] = {"ok", "warn", "fail"};

	return (unsigned)l < 3 ? names[l] : "?";
}

int doctor_add(struct doctor_report *r, const char *check, enum doctor_level level,
	       const char *subject, const char *fix, const char *fmt, ...)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;
		struct doctor_item *v = realloc(r->items, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->items = v;
		r->cap = cap;
	}
	struct doctor_item *it = &r->items[r->n++];
	va_list ap;

	snprintf(it->check, sizeof(it->check), "%s", check);
	it->level = level;
	snprintf(it->subject, sizeof(it->subject), "%s", subject ? subject : "");
	snprintf(it->fix, sizeof(it->fix), "%s", fix ? fix : "");
	va_start(ap, fmt);
	vsnprintf(it->summary, sizeof(it->summary), fmt, ap);
	va_end(ap);
	return 0;
}

void doctor_report_clear(struct doctor_report *r)
{
	free(r->items);
	r->items = NULL;
	r->n = r->cap = 0;
}

enum doctor_level doctor_report_worst(const struct doctor_report *r)
{
	enum doctor_level w = DOCTOR_OK;

	for (size_t i = 0; i < r->n; i++)
		if (r->items[i].level > w)
			w = r->items[i].level;
	return w;
}

/* The daemon's view: reachable, and each channel's state. Absence is a warning only,
 * because doctor is most useful before the daemon was ever started. */
static void check_daemon(const char *socket, int timeout_ms, struct doctor_report *r)
{
	struct m7b_client *cl = m7b_client_new();
	struct m7b_event *st = NULL;
	struct m7b_channel_status ch;
	char fix[200];
	int e;

	if (!cl) {
		doctor_add(r, "daemon", DOCTOR_FAIL, "", "", "out of memory");
		return;
	}
	m7b_client_set_timeout(cl, timeout_ms);
	e = m7b_client_connect(cl, socket);
	/* A daemon with no slot for us refuses (ERROR busy with or in place of VERSION) and
	 * closes: it runs, so "start it" would be the wrong advice. */
	if (e == 0) {
		struct m7b_event *ev;

		e = ctl_greet(cl, timeout_ms, &ev);
		if (e > 0) {
			doctor_add(r, "daemon", DOCTOR_WARN, "",
				   "the daemon runs but has no slot for this user: close other "
				   "clients, or raise max_clients (reserved_clients, "
				   "max_clients_per_uid) in its configuration",
				   "m7bridged at %s refused the connection: %s (%s)",
				   m7b_client_path(cl), ctl_str_or(ctl_safe(ev->message), "?"),
				   ctl_str_or(ctl_safe(ev->code), "?"));
			m7b_event_free(ev);
			m7b_client_free(cl);
			return;
		}
	}
	if (e == 0)
		e = m7b_client_status(cl, &st);
	if (e < 0) {
		/* The path the library tried: an empty $M7BRIDGE_SOCKET counts as unset. */
		const char *path = m7b_client_path(cl);

		doctor_add(r, "daemon", DOCTOR_WARN, "",
			   e == -EACCES ? "join the m7bridge group (or run as root)"
			   : e == -ETIMEDOUT
				   ? "it accepts but does not answer: see journalctl -u m7bridged, "
				     "then systemctl restart m7bridged"
				   : "systemctl start m7bridged",
			   "daemon not reachable at %s: %s", path ? path : M7B_DEFAULT_SOCKET,
			   m7b_client_error(cl)->message);
		m7b_event_free(st);
		m7b_client_free(cl);
		return;
	}
	const struct m7b_event *v = m7b_client_version(cl);

	doctor_add(r, "daemon", DOCTOR_OK, "", "", "m7bridged %s answers at %s",
		   v && v->release ? v->release : "?", m7b_client_path(cl));
	for (size_t i = 0; m7b_event_channel(st, i, &ch) == 0; i++) {
		const char *reason = NULL;
		char key[16];

		/* "reason" of channel i, for the one-line summary. */
		snprintf(key, sizeof(key), "reason");
		reason = m7b_event_array_string(st, "channels", i, key);
		if (strcmp(ch.state, "up") == 0)
			doctor_add(r, "daemon-channel", DOCTOR_OK, ch.name, "",
				   "%s up on %s, %lld frames, %lld recoveries", ch.name,
				   ch.device ? ch.device : "?", (long long)ch.frames,
				   (long long)ch.recoveries);
		else {
			bool bad = strcmp(ch.state, "failed") == 0 || strcmp(ch.state, "down") == 0;

			snprintf(fix, sizeof(fix),
				 "m7bridgectl incidents -c %s; journalctl -u m7bridged", ch.name);
			doctor_add(r, "daemon-channel", bad ? DOCTOR_FAIL : DOCTOR_WARN, ch.name,
				   fix, "%s %s (%s) on %s", ch.name, ch.state,
				   reason ? reason : "-", ch.device ? ch.device : "?");
		}
	}
	m7b_event_free(st);
	m7b_client_free(cl);
}

static void print_text(const struct doctor_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct doctor_item *it = &r->items[i];

		/* Summaries quote the system (sysfs, a tty holder's name): one line each. */
		printf("%-4s  %-15s %s\n", doctor_level_to_string(it->level), it->check,
		       ctl_safe(it->summary));
		if (it->fix[0] && it->level != DOCTOR_OK)
			printf("      %-15s fix: %s\n", "", ctl_safe(it->fix));
	}
	size_t n[3] = {0, 0, 0};

	for (size_t i = 0; i < r->n; i++)
		n[r->items[i].level]++;
	printf("%zu ok, %zu warn, %zu fail\n", n[0], n[1], n[2]);
}

/* A member quoting the system (sysfs, a process name, a cut at a byte count): made
 * UTF-8, or the whole output would be no JSON. Room for every byte to become U+FFFD. */
static void add_text(cJSON *o, const char *key, const char *s)
{
	char buf[3 * sizeof(((struct doctor_item *)0)->summary) + 1];

	ctl_utf8_text(buf, sizeof(buf), s);
	cJSON_AddStringToObject(o, key, buf);
}

static int print_json(const struct doctor_report *r)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = root ? cJSON_AddArrayToObject(root, "checks") : NULL;
	size_t n[3] = {0, 0, 0};

	for (size_t i = 0; arr && i < r->n; i++) {
		const struct doctor_item *it = &r->items[i];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		n[it->level]++;
		add_text(o, "check", it->check);
		cJSON_AddStringToObject(o, "level", doctor_level_to_string(it->level));
		if (it->subject[0])
			add_text(o, "subject", it->subject);
		add_text(o, "summary", it->summary);
		if (it->fix[0] && it->level != DOCTOR_OK)
			add_text(o, "fix", it->fix);
		cJSON_AddItemToArray(arr, o);
	}
	if (root) {
		cJSON_AddNumberToObject(root, "ok", (double)n[0]);
		cJSON_AddNumberToObject(root, "warn", (double)n[1]);
		cJSON_AddNumberToObject(root, "fail", (double)n[2]);
	}
	char *s = root ? cJSON_PrintUnformatted(root) : NULL;

	cJSON_Delete(root);
	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	cJSON_free(s);
	return 0;
}

static void doctor_usage(FILE *f)
{
	fprintf(f, "Usage: m7bridgectl doctor %s\n%s", DOCTOR_SYNOPSIS, DOCTOR_HELP);
}

int doctor_main(const char *socket, int timeout_ms, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},	  {"root", required_argument, NULL, 'r'},
		{"config", required_argument, NULL, 'c'}, {"no-daemon", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0}};
	struct doctor_opts o = {.root = "/", .daemon_comm = "m7bridged"};
	struct doctor_report r = {0};
	static const char optstring[] = "+:jr:c:nh";
	bool json = false, daemon = true;
	const char *root_arg = NULL;
	struct stat st;
	int c;

	/* One line for a mistake, as every other command says it (opterr off). */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'r':
			if (ctl_take_once("doctor", "--root", &root_arg, optarg))
				return EXIT_USAGE;
			o.root = optarg;
			break;
		case 'c':
			if (ctl_take_once("doctor", "--config", &o.config, optarg))
				return EXIT_USAGE;
			break;
		case 'n':
			daemon = false;
			break;
		case 'h':
			doctor_usage(stdout);
			return EXIT_ALL_OK;
		default:
			return ctl_getopt_error("doctor", argv, optstring);
		}
	}
	if (optind < argc)
		return ctl_usage_error("doctor", "unexpected argument '%s'", argv[optind]);
	/* An empty name would read as the root directory itself. */
	if (!*o.root || (o.config && !*o.config))
		return ctl_usage_error("doctor", "%s needs a path, not an empty string",
				       !*o.root ? "--root" : "--config");
	/* A mistyped --root would read as a board with nothing on it: say so instead. */
	if (stat(o.root, &st) < 0)
		return ctl_usage_error("doctor", "--root %s: %s", o.root, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ctl_usage_error("doctor", "--root %s: not a directory", o.root);
	if (doctor_check_system(&o, &r) < 0) {
		fprintf(stderr, "m7bridgectl: doctor: out of memory\n");
		doctor_report_clear(&r);
		return EXIT_ANY_FAIL;
	}
	if (daemon)
		check_daemon(socket, timeout_ms, &r);
	if (json)
		(void)print_json(&r);
	else
		print_text(&r);
	enum doctor_level w = doctor_report_worst(&r);

	doctor_report_clear(&r);
	return w == DOCTOR_FAIL ? EXIT_ANY_FAIL : w == DOCTOR_WARN ? EXIT_WARNINGS : EXIT_ALL_OK;
}

int cmd_doctor(struct ctl *ctl, int argc, char **argv)
{
	return doctor_main(ctl->socket, ctl->timeout_ms, argc, argv);
}
