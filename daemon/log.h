/* Daemon logging: structured journal entries, or stderr in the foreground; rate limits. */
#ifndef M7B_LOG_H
#define M7B_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* MESSAGE_IDs an operator searches for (journalctl MESSAGE_ID=...). */
#define LOG_MID_CHANNEL_UP   "2f3911f995644459aef929bfd4d402a4"
#define LOG_MID_CHANNEL_DOWN "f38ea294c1e949378d88e5a0205a6c79"
#define LOG_MID_CHANNEL_BUSY "0590a98c25d143dbb033cfa1c476e933"
#define LOG_MID_FIRMWARE     "a04c1ccb139f4676a7c4919491027822"
#define LOG_MID_M7_LOG	     "2433072b3aa446f5ba66bbb423fcc27f"
#define LOG_MID_CLIENT_SLOW  "d01a50994a6b4bdc89d58c75f096c97d"

/* Where log lines go. */
enum log_target {
	LOG_TARGET_JOURNAL,
	LOG_TARGET_STDERR,
};

struct log {
	enum log_target target;
	int max_level; /* syslog priority: messages above it are skipped */
};

/* Structured fields of one entry; NULL/0 members are left out. */
struct log_fields {
	const char *message_id;
	const char *channel;
	const char *device;
	const char *hook; /* HOOK=: the recovery command whose output this is */
	uint64_t client;  /* CLIENT= when non-zero */
	int err;	  /* ERRNO= when non-zero (positive errno) */
};

/* Initialises a logger writing to target at up to max_level. */
void log_init(struct log *l, enum log_target target, int max_level);
/* Writes one entry at priority prio with structured fields f (may be NULL). */
void log_struct(const struct log *l, int prio, const struct log_fields *f, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* va_list form of log_struct(). */
void log_structv(const struct log *l, int prio, const struct log_fields *f, const char *fmt,
		 va_list ap) __attribute__((format(printf, 4, 0)));
/* Logs like log_struct() with ERRNO= taken from r, a negative errno that %m in fmt
 * prints, and returns r: a failure is logged once and passed on in one statement,
 * `return log_struct_errno(l, LOG_ERR, &f, r, "cannot open %s: %m", path);` */
int log_struct_errno(const struct log *l, int prio, const struct log_fields *f, int r,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* va_list form of log_struct_errno(). */
int log_structv_errno(const struct log *l, int prio, const struct log_fields *f, int r,
		      const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
/* Parses a level name ("debug".."emerg") or a digit; -EINVAL if unknown. */
int log_level_from_string(const char *s);
/* Name of a syslog level ("info"); "unknown" out of range. */
const char *log_level_to_string(int level);

#define log_msg(l, prio, ...) log_struct((l), (prio), NULL, __VA_ARGS__)

/* A token bucket: at most burst events per interval_ms. */
struct ratelimit {
	uint64_t start_ms;
	unsigned count;
	unsigned suppressed; /* events refused since the last allowed one */
};

/* True if the event may be logged at now_ms; counts it either way. */
bool ratelimit_ok(struct ratelimit *r, uint64_t now_ms, unsigned burst, uint64_t interval_ms);

#endif
