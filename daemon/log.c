/* Daemon logging: sd_journal_send with structured fields, or stderr in the foreground. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-journal.h>

void log_init(struct log *l, enum log_target target, int max_level)
{
	l->target = target;
	l->max_level = max_level;
}

void log_structv(const struct log *l, int prio, const struct log_fields *f, const char *fmt,
		 va_list ap)
{
	if (l && prio > l->max_level)
		return;
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	static const struct log_fields none = {0};
	if (!f)
		f = &none;

	if (!l || l->target == LOG_TARGET_STDERR) {
		char ctx[160] = "";
		if (f->channel)
			snprintf(ctx, sizeof(ctx), "[%s] ", f->channel);
		fprintf(stderr, "m7bridged: %s: %s%s\n", log_level_to_string(prio), ctx, msg);
		return;
	}
	/* One entry; optional fields go in as empty-named duplicates of MESSAGE would be
	 * wrong, so build the argument list by the fields present. */
	char mid[64] = "", chan[128] = "", dev[512] = "", hook[64] = "", cli[48] = "", err[32] = "";
	if (f->message_id)
		snprintf(mid, sizeof(mid), "MESSAGE_ID=%s", f->message_id);
	if (f->channel)
		snprintf(chan, sizeof(chan), "CHANNEL=%s", f->channel);
	if (f->device)
		snprintf(dev, sizeof(dev), "DEVICE=%s", f->device);
	if (f->hook)
		snprintf(hook, sizeof(hook), "HOOK=%s", f->hook);
	if (f->client)
		snprintf(cli, sizeof(cli), "CLIENT=%llu", (unsigned long long)f->client);
	if (f->err)
		snprintf(err, sizeof(err), "ERRNO=%d", f->err);
	const char *extra[6];
	int n = 0;
	if (mid[0])
		extra[n++] = mid;
	if (chan[0])
		extra[n++] = chan;
	if (dev[0])
		extra[n++] = dev;
	if (hook[0])
		extra[n++] = hook;
	if (cli[0])
		extra[n++] = cli;
	if (err[0])
		extra[n++] = err;
	for (int i = n; i < 6; i++)
		extra[i] = NULL;
	/* sd_journal_send stops at the first NULL, so absent fields simply end the list. */
	sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%i", prio, "SYSLOG_IDENTIFIER=m7bridged",
			extra[0] ? "%s" : NULL, extra[0], extra[1] ? "%s" : NULL, extra[1],
			extra[2] ? "%s" : NULL, extra[2], extra[3] ? "%s" : NULL, extra[3],
			extra[4] ? "%s" : NULL, extra[4], extra[5] ? "%s" : NULL, extra[5], NULL);
}

void log_struct(const struct log *l, int prio, const struct log_fields *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_structv(l, prio, f, fmt, ap);
	va_end(ap);
}

int log_structv_errno(const struct log *l, int prio, const struct log_fields *f, int r,
		      const char *fmt, va_list ap)
{
	struct log_fields g = f ? *f : (struct log_fields){0};

	g.err = -r;
	errno = g.err; /* for %m */
	log_structv(l, prio, &g, fmt, ap);
	return r;
}

int log_struct_errno(const struct log *l, int prio, const struct log_fields *f, int r,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_structv_errno(l, prio, f, r, fmt, ap);
	va_end(ap);
	return r;
}

bool ratelimit_ok(struct ratelimit *r, uint64_t now_ms, unsigned burst, uint64_t interval_ms)
{
	if (now_ms - r->start_ms >= interval_ms || r->start_ms > now_ms) {
		r->start_ms = now_ms;
		r->count = 0;
	}
	if (r->count < burst) {
		r->count++;
		return true;
	}
	r->suppressed++;
	return false;
}
