/* Data silence on ports with an expected capture rate. Pure. */
#include "silence.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One "PORT:RATE" item at *p; advances *p past it. */
static int parse_item(const char **p, unsigned *port, unsigned long *rate)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(*p, &end, 10);
	if (errno || end == *p || *end != ':' || x > 255 || **p == '-' || **p == '+')
		return -EINVAL;
	*port = (unsigned)x;
	const char *r = end + 1;
	if (*r < '0' || *r > '9')
		return -EINVAL;
	*rate = strtoul(r, &end, 10);
	if (errno || end == r || *rate == 0 || *rate > SILENCE_RATE_MAX ||
	    (*end && *end != ',' && *end != ' '))
		return -EINVAL;
	*p = end;
	return 0;
}

int silence_conf_parse(struct silence_conf *c, const char *v, char *msg, size_t cap)
{
	struct silence_conf n = {{0}, {0}};
	unsigned used = 0;
	const char *p = v;
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		unsigned port;
		unsigned long rate;
		if (parse_item(&p, &port, &rate) < 0) {
			snprintf(msg, cap,
				 "expected PORT:RATE[,PORT:RATE...] with PORT 0..255 and RATE "
				 "1..%u captures per second, got '%s'",
				 SILENCE_RATE_MAX, v);
			return -EINVAL;
		}
		for (unsigned i = 0; i < used; i++)
			if (n.port[i] == port) {
				snprintf(msg, cap, "port %u given twice in '%s'", port, v);
				return -EINVAL;
			}
		if (used == SILENCE_PORTS) {
			snprintf(msg, cap, "at most %d ports", SILENCE_PORTS);
			return -EINVAL;
		}
		n.port[used] = (uint8_t)port;
		n.rate[used] = (uint32_t)rate;
		used++;
	}
	*c = n;
	return 0;
}

void silence_conf_format(const void *field, char *buf, size_t cap)
{
	const struct silence_conf *c = field;
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < SILENCE_PORTS && c->rate[i] && n < cap; i++) {
		int w = snprintf(buf + n, cap - n, "%s%u:%u", i ? "," : "", (unsigned)c->port[i],
				 (unsigned)c->rate[i]);
		n += w > 0 ? (size_t)w : 0;
	}
}

uint64_t silence_limit_ms(uint32_t rate)
{
	uint64_t ms = rate ? (SILENCE_PERIODS * 1000u + rate - 1) / rate : 0;
	return ms < SILENCE_MIN_MS ? SILENCE_MIN_MS : ms;
}

void silence_init(struct silence *s, const struct silence_conf *cfg)
{
	*s = (struct silence){.cfg = *cfg};
}

void silence_arm(struct silence *s, bool up, uint64_t now_ms)
{
	if (up && !s->armed) {
		memset(s->watched, 0, sizeof(s->watched));
		for (unsigned i = 0; i < SILENCE_PORTS; i++) {
			s->last_ms[i] = now_ms;
			s->reported[i] = false;
			if (s->cfg.rate[i])
				s->watched[s->cfg.port[i]] = 1;
		}
	}
	s->armed = up;
}

bool silence_on_watched(struct silence *s, uint8_t port, uint64_t now_ms)
{
	bool back = false;

	for (unsigned i = 0; i < SILENCE_PORTS; i++)
		if (s->cfg.rate[i] && s->cfg.port[i] == port) {
			s->last_ms[i] = now_ms;
			/* Reported, it had no deadline: it has one again. */
			back |= s->reported[i];
			s->reported[i] = false;
		}
	return back && s->armed;
}

int silence_check(struct silence *s, uint64_t now_ms)
{
	if (!s->armed)
		return -1;
	for (unsigned i = 0; i < SILENCE_PORTS; i++) {
		if (!s->cfg.rate[i] || s->reported[i])
			continue;
		if (now_ms - s->last_ms[i] >= silence_limit_ms(s->cfg.rate[i])) {
			s->reported[i] = true;
			return s->cfg.port[i];
		}
	}
	return -1;
}

uint64_t silence_next_ms(const struct silence *s)
{
	uint64_t next = UINT64_MAX;
	if (!s->armed)
		return next;
	for (unsigned i = 0; i < SILENCE_PORTS; i++) {
		if (!s->cfg.rate[i] || s->reported[i])
			continue;
		uint64_t t = s->last_ms[i] + silence_limit_ms(s->cfg.rate[i]);
		if (t < next)
			next = t;
	}
	return next;
}
