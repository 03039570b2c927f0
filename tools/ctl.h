/* m7bridgectl's shared pieces: options, exit codes, connection, error and output helpers. */
#ifndef M7BRIDGECTL_CTL_H
#define M7BRIDGECTL_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "m7bridge/client.h"

struct cJSON;

/* Exit codes (sysexits.h's EX_UNAVAILABLE for an unreachable daemon). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 69,
};

#define CTL_MAX_FILTERS 64

/* Options shared by all commands, and the connection once made. */
struct ctl {
	const char *socket;
	int timeout_ms;
	bool quiet; /* -q: no confirmation line on success */
	struct m7b_client *client;
	int out_errno;	    /* why standard output failed, for main to say once (0: it did not) */
	bool stdout_closed; /* it was closed at start: watch and top have nowhere to print */
};

/* The program name used in messages. */
extern const char *const ctl_prog;

/* Fills a closed standard descriptor with one that fails every use (EBADF), so that no
 * socket or file opened later takes its number. The filled ones as a mask (1 << fd), or a
 * negative errno. */
int ctl_hold_std_fds(void);
/* Prints "m7bridgectl: CMD: message" and a hint to CMD's --help; returns EXIT_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the value of an option that holds one (a count, a policy, a path) into *slot: a
 * second, other value is a usage error, where the last would silently win. 0 or
 * EXIT_USAGE (reported); what names the value in the message. */
int ctl_take_once(const char *cmd, const char *what, const char **slot, const char *value);
/* Takes -c NAME into *channel for a command that acts on one channel: a second, other
 * name is a usage error (the last would silently win, e.g. a reload of the wrong
 * channel). 0 or EXIT_USAGE (reported). */
int ctl_take_channel(const char *cmd, const char **channel, const char *name);
/* One line for a getopt_long failure (call with opterr = 0); returns EXIT_USAGE. */
int ctl_getopt_error(const char *cmd, char **argv, const char *optstring);
/* Parses the options of a command that takes only -j/--json and -h/--help (help printed
 * here). -1 to go on, *json set; else the exit code to return. */
int ctl_parse_json_only(const char *cmd, int argc, char **argv, bool *json);
/* Prints the help of one command (NULL: the global help) on f. */
void ctl_help(FILE *f, const char *cmd);
/* Maps a library failure to an exit code with one clear message (2 for a bad request). */
int ctl_report(struct ctl *ctl, const char *what, int r);
/* True for the daemon's ERROR codes that mean "the request was wrong" (exit 2). */
bool ctl_code_is_usage(const char *code);
/* Connects and reads VERSION; on failure prints why and returns the exit code, else 0. */
int ctl_open(struct ctl *ctl);
/* Reads the greeting on a new connection: VERSION, bad lines before it skipped. A daemon
 * with no slot for us sends VERSION and an ERROR without id (busy) in one write, then
 * closes; an older one sent the ERROR in place of VERSION. Returns 0 (greeted), 1 with
 * that ERROR in *refusal (free it), or the library's negative errno. */
int ctl_greet(struct m7b_client *c, int timeout_ms, struct m7b_event **refusal);
/* "m7bridged refused the connection: MESSAGE (CODE)" for the ERROR of a refusal
 * (ctl_greet); a static buffer. */
const char *ctl_refusal(const struct m7b_event *err);
/* STATUS into *st (free it); an exit code on failure, else 0. */
int ctl_get_status(struct ctl *ctl, struct m7b_event **st);
/* The channel to act on: `given` if configured, else the only one; exit code or 0. */
int ctl_pick_channel(struct ctl *ctl, const char *what, const char *given, char **out);
/* Comma-separated names of the channels in a STATUS, into buf. */
void ctl_channel_list(const struct m7b_event *st, char *buf, size_t cap);
/* Index of channel `name` in a STATUS, or -1. */
long ctl_channel_index(const struct m7b_event *st, const char *name);
/* A list member of channel i ("ports", "recovery_steps") as "a, b" into buf; returns the
 * number of entries or -ENOENT when the daemon does not send it. */
int ctl_channel_list_member(const struct m7b_event *st, size_t i, const char *member, char *buf,
			    size_t cap);
/* False only when channel i's STATUS lists its ports and `port` is not among them. */
bool ctl_channel_has_port(const struct m7b_event *st, size_t i, int port);
/* Parses -n COUNT (> 0); false after printing the usage error for cmd. */
bool ctl_parse_count(const char *cmd, const char *s, long *count);
/* Parses a UART port number 0..255. */
bool ctl_parse_port(const char *s, int *port);

/* Writes bytes as readable text: printable ASCII as is, the rest escaped. */
void ctl_put_text(FILE *f, const uint8_t *p, size_t n);
/* Text from the M7 or the system as one line for a terminal, into buf: control characters
 * and bytes that are not UTF-8 become '?', and a cut falls between two characters. Returns
 * the length written. */
size_t ctl_safe_text(char *buf, size_t cap, const char *s);
/* Text from the system for a JSON string, into buf: each byte that is not UTF-8 becomes
 * U+FFFD (JSON is UTF-8; control characters are JSON's to escape), and a cut falls
 * between two characters. Returns the length written. */
size_t ctl_utf8_text(char *buf, size_t cap, const char *s);
/* Bytes of the first nchars characters of UTF-8 text s (all of it when shorter): where a
 * line is cut to a screen's width, which counts characters, not bytes. */
size_t ctl_utf8_prefix(const char *s, size_t nchars);
/* Whether a line the daemon sent can be passed on as JSON text: UTF-8, no raw control
 * byte (which would also reach a terminal as it is). */
bool ctl_json_text_ok(const char *s, size_t n);
/* ctl_safe_text into one of 8 rotating buffers of 4 KiB (NULL for NULL): for arguments of
 * one printf. */
const char *ctl_safe(const char *s);
/* hexdump -C style lines, indented. */
void ctl_put_hexdump(FILE *f, const uint8_t *p, size_t n);
/* "HH:MM:SS.uuuuuu" of a CLOCK_REALTIME instant in ns ("??:??:??.??????" before 1970). */
void ctl_put_time(FILE *f, int64_t ns);
/* CLOCK_REALTIME / CLOCK_MONOTONIC now, in ns. */
int64_t ctl_realtime_ns(void);
int64_t ctl_monotonic_ns(void);
/* s, or dflt when s is NULL. */
const char *ctl_str_or(const char *s, const char *dflt);
/* A duration in ms as "1.250s", "3m05s", "2h10m", "4d02h"; "?" below 0. */
void ctl_fmt_duration(char *buf, size_t cap, int64_t ms);
/* A boot_id as the one format the CLI uses everywhere, as the daemon logs it: "%08x";
 * "?" outside 0..2^32-1 (-1: absent). */
void ctl_fmt_boot_id(char *buf, size_t cap, int64_t id);
/* A DROPPED notice in words: its count and total when the notice carries them as counts
 * (never a made-up number such as -1). */
void ctl_fmt_dropped(char *buf, size_t cap, const struct m7b_event *ev);
/* A JSON number as an int64_t: false for no number or one outside int64_t's range. */
bool ctl_json_int(const struct cJSON *v, int64_t *out);
/* An integer member of a nested object of channel i ("firmware", "clock"...), or -ENOENT. */
int ctl_channel_sub_int(const struct m7b_event *st, size_t i, const char *obj, const char *member,
			int64_t *out);

/* The commands: each returns the exit code. */
int cmd_status(struct ctl *ctl, int argc, char **argv);
int cmd_incidents(struct ctl *ctl, int argc, char **argv);
int cmd_watch(struct ctl *ctl, int argc, char **argv);
int cmd_top(struct ctl *ctl, int argc, char **argv);
int cmd_send(struct ctl *ctl, int argc, char **argv);
int cmd_recover(struct ctl *ctl, int argc, char **argv);
int cmd_reload(struct ctl *ctl, int argc, char **argv);
int cmd_ports(struct ctl *ctl, int argc, char **argv);

#endif
