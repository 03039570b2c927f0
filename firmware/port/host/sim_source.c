/* m7sim's synthetic UART sources: captures at a rate with chosen sizes and patterns, or
 * bytes from a file or stdin, each byte stamped with the tick it "arrives" at. */
#include "sim_source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

uint64_t sim_source_char_ticks(uint32_t tick_hz, uint32_t baud)
{
	uint64_t t = baud ? ((uint64_t)tick_hz * 10u + baud - 1u) / baud : 1u;

	return t ? t : 1u;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno || end == s || *end != '\0' || *s == '-') ? -EINVAL : 0;
}

int sim_source_parse(const char *spec, struct sim_source_config *cfg, char *err, size_t errlen)
{
	char buf[512], *save = NULL, *item;
	uint64_t v;
	const char *colon = strchr(spec, ':');

	memset(cfg, 0, sizeof(*cfg));
	cfg->rate = 10;
	cfg->size_min = cfg->size_max = 16;
	cfg->baud = 115200;
	cfg->seed = 1;
	cfg->idle_us = -1;
	cfg->delimiter = -2;
	cfg->max_capture = -1;

	if (!colon || colon == spec || strlen(colon + 1) >= sizeof(buf)) {
		snprintf(err, errlen, "source '%s': expected PORT:key=value,...", spec);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%.*s", (int)(colon - spec), spec);
	if (parse_u64(buf, &v) || v > 255) {
		snprintf(err, errlen, "source '%s': bad port", spec);
		return -EINVAL;
	}
	cfg->port = (unsigned)v;
	snprintf(buf, sizeof(buf), "%s", colon + 1);

	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		const char *key = item, *val;
		int bad = 0;

		if (!eq) {
			snprintf(err, errlen, "source '%s': '%s' is not key=value", spec, item);
			return -EINVAL;
		}
		*eq = '\0';
		val = eq + 1;
		if (!strcmp(key, "rate")) {
			char *end;
			cfg->rate = strtod(val, &end);
			/* Written so that NaN fails; below 1e-6 the period in ticks would not
			 * fit 64 bits at the highest tick rate. */
			bad = *end != '\0' || end == val ||
			      !(cfg->rate == 0 || (cfg->rate >= 1e-6 && cfg->rate <= 1e6));
		} else if (!strcmp(key, "size")) {
			unsigned a, b;
			char tail;
			if (sscanf(val, "%u-%u%c", &a, &b, &tail) == 2 && a >= 1 && a <= b &&
			    b <= 65536) {
				cfg->size_min = a;
				cfg->size_max = b;
			} else if (sscanf(val, "%u%c", &a, &tail) == 1 && a >= 1 && a <= 65536) {
				cfg->size_min = cfg->size_max = a;
			} else {
				bad = 1;
			}
		} else if (!strcmp(key, "pattern")) {
			if (!strcmp(val, "counter"))
				cfg->pattern = SIM_PATTERN_COUNTER;
			else if (!strcmp(val, "random"))
				cfg->pattern = SIM_PATTERN_RANDOM;
			else if (!strcmp(val, "text"))
				cfg->pattern = SIM_PATTERN_TEXT;
			else if (!strcmp(val, "zero"))
				cfg->pattern = SIM_PATTERN_ZERO;
			else if (!strcmp(val, "nmea"))
				cfg->pattern = SIM_PATTERN_NMEA;
			else
				bad = 1;
		} else if (!strcmp(key, "baud")) {
			bad = parse_u64(val, &v) || v < 50 || v > 100000000;
			cfg->baud = (uint32_t)v;
		} else if (!strcmp(key, "count")) {
			bad = parse_u64(val, &v);
			cfg->count = v;
		} else if (!strcmp(key, "seed")) {
			bad = parse_u64(val, &v) || v > UINT32_MAX;
			cfg->seed = (uint32_t)v;
		} else if (!strcmp(key, "file")) {
			cfg->file = strdup(val);
			bad = !cfg->file || !*val;
		} else if (!strcmp(key, "idle")) {
			bad = parse_u64(val, &v) || v > UINT32_MAX;
			cfg->idle_us = (int64_t)v;
		} else if (!strcmp(key, "delim")) {
			if (!strcmp(val, "none"))
				cfg->delimiter = -1;
			else if (!(bad = parse_u64(val, &v) || v > 255))
				cfg->delimiter = (int32_t)v;
		} else if (!strcmp(key, "max")) {
			bad = parse_u64(val, &v) || v < 1 || v > 462;
			cfg->max_capture = (int32_t)v;
		} else if (!strcmp(key, "loop")) {
			bad = parse_u64(val, &v) || v > 1;
			cfg->loop = v == 1;
		} else if (!strcmp(key, "tx")) {
			cfg->tx_path = strdup(val);
			bad = !cfg->tx_path || !*val;
		} else {
			snprintf(err, errlen, "source '%s': unknown key '%s'", spec, key);
			return -EINVAL;
		}
		if (bad) {
			snprintf(err, errlen, "source '%s': bad value for %s: '%s'", spec, key,
				 val);
			return -EINVAL;
		}
	}
	return 0;
}

/* A $GPGGA fix for capture k: a receiver walking north-east from 48°07'N 11°31'E, one
 * fix per capture, so a reader sees the time and position move as a real GPS would. */
static unsigned nmea_line(char *buf, size_t cap, uint64_t k)
{
	unsigned sec = (unsigned)(k % 86400u), csum = 0;
	unsigned lat = 7038u + (unsigned)(k % 1000u), lon = 31000u + (unsigned)(k * 2u % 1000u);
	int n = snprintf(buf, cap,
			 "$GPGGA,%02u%02u%02u.00,48%02u.%03u,N,011%02u.%03u,E,1,08,0.9,%u.%u,M,"
			 "46.9,M,,",
			 sec / 3600u, sec / 60u % 60u, sec % 60u, lat / 1000u, lat % 1000u,
			 lon / 1000u, lon % 1000u, 545u + (unsigned)(k % 7u), (unsigned)(k % 10u));

	/* NMEA 0183: XOR of every character between '$' and '*'. */
	for (int i = 1; i < n; i++)
		csum ^= (unsigned char)buf[i];
	n += snprintf(buf + n, cap - (size_t)n, "*%02X\r\n", csum);
	return (unsigned)n;
}

/* Sets up capture k: its length and, for text, its line. */
static void capture_begin(struct sim_source *s)
{
	const struct sim_source_config *c = &s->cfg;

	s->i = 0;
	if (c->pattern == SIM_PATTERN_NMEA) {
		s->len = nmea_line(s->text, sizeof(s->text), s->k);
	} else if (c->pattern == SIM_PATTERN_TEXT) {
		int n = snprintf(s->text, sizeof(s->text), "port %u capture %llu\n", c->port,
				 (unsigned long long)s->k);
		s->len = (unsigned)n;
	} else if (c->size_max > c->size_min) {
		s->len = c->size_min +
			 (unsigned)(xorshift(&s->rng) % (c->size_max - c->size_min + 1u));
	} else {
		s->len = c->size_min;
	}
}

int sim_source_start(struct sim_source *s, const struct sim_source_config *cfg, uint32_t tick_hz,
		     uint64_t now)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	s->fd = -1;
	s->rng = 0x9E3779B97F4A7C15ull ^ cfg->seed;
	s->char_ticks = sim_source_char_ticks(tick_hz, cfg->baud);
	if (cfg->file) {
		if (!strcmp(cfg->file, "-")) {
			s->fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
		} else {
			s->fd = open(cfg->file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		}
		if (s->fd < 0)
			return -errno;
		/* A directory opens, but its first read fails: refuse it here, with the
		 * reason, rather than end the source at once as if the file were empty. */
		if (fstat(s->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
			close(s->fd);
			s->fd = -1;
			return -EISDIR;
		}
		(void)fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
		s->next_tick = now;
		return 0;
	}
	if (cfg->rate <= 0) {
		s->done = true;
		return 0;
	}
	s->period = (uint64_t)((double)tick_hz / cfg->rate);
	if (s->period == 0)
		s->period = 1;
	/* Captures start on multiples of the period: a reader can check t_first exactly. */
	s->t0 = (now / s->period + 1u) * s->period;
	s->start = s->t0;
	capture_begin(s);
	return 0;
}

void sim_source_stop(struct sim_source *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free((char *)s->cfg.file);
	free((char *)s->cfg.tx_path);
	s->cfg.file = NULL;
	s->cfg.tx_path = NULL;
}

uint64_t sim_source_due(const struct sim_source *s)
{
	if (s->cfg.file)
		return s->count > 0 ? s->next_tick : UINT64_MAX;
	if (s->done)
		return UINT64_MAX;
	return s->start + s->i * s->char_ticks;
}

uint8_t sim_source_take(struct sim_source *s)
{
	uint8_t b;

	if (s->cfg.file) {
		b = s->buf[s->head];
		s->head = (s->head + 1u) % sizeof(s->buf);
		s->count--;
		s->next_tick += s->char_ticks;
		return b;
	}
	switch (s->cfg.pattern) {
	case SIM_PATTERN_RANDOM:
		b = (uint8_t)xorshift(&s->rng);
		break;
	case SIM_PATTERN_TEXT:
	case SIM_PATTERN_NMEA:
		b = (uint8_t)s->text[s->i];
		break;
	case SIM_PATTERN_ZERO:
		b = 0;
		break;
	default:
		b = (uint8_t)(s->k + s->i);
		break;
	}
	if (++s->i >= s->len) {
		/* The next capture starts on its slot, or right after this one when it ran
		 * past the slot (more bytes than the rate leaves time for): a line delivers
		 * at most one byte per character time, and never back in time. */
		uint64_t next = s->start + s->len * s->char_ticks;

		s->k++;
		if (s->t0 + s->k * s->period > next)
			next = s->t0 + s->k * s->period;
		s->start = next;
		if (s->cfg.count && s->k >= s->cfg.count)
			s->done = true;
		else
			capture_begin(s);
	}
	return b;
}

int sim_source_read(struct sim_source *s, uint64_t now)
{
	while (s->fd >= 0 && s->count < sizeof(s->buf)) {
		size_t tail = (s->head + s->count) % sizeof(s->buf);
		size_t room = tail >= s->head ? sizeof(s->buf) - tail : s->head - tail;
		ssize_t n = read(s->fd, s->buf + tail, room);

		if (n > 0) {
			/* Bytes that arrive after a pause start at `now`; a backlog keeps the
			 * character pace. */
			if (s->count == 0 && s->next_tick < now)
				s->next_tick = now;
			s->count += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			close(s->fd);
			s->fd = -1;
			s->eof = true;
			return -1;
		}
		if (errno == EAGAIN)
			break;
	}
	return 0;
}

int sim_source_fd(const struct sim_source *s)
{
	return s->fd >= 0 && s->count < sizeof(s->buf) ? s->fd : -1;
}
