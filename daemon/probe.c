/* Raw-channel probe: send, expect a pattern within a timeout (KMP across chunks). Pure. */
#include "probe.h"

#include <errno.h>
#include <string.h>

#include "m7bridge/hex.h"

int probe_parse_bytes(const char *text, uint8_t *out, size_t cap, size_t *n)
{
	size_t k = 0;
	for (const char *s = text; *s; s++) {
		int c = (unsigned char)*s;
		if (c == '\\') {
			s++;
			switch (*s) {
			case 'r':
				c = '\r';
				break;
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case '\\':
				c = '\\';
				break;
			case 'x': {
				int hi = m7b_hex_digit(s[1]),
				    lo = hi < 0 ? -1 : m7b_hex_digit(s[2]);
				if (lo < 0)
					return -EINVAL;
				c = hi << 4 | lo;
				s += 2;
				break;
			}
			default:
				return -EINVAL; /* also a lone trailing backslash */
			}
		}
		if (k == cap)
			return -E2BIG;
		out[k++] = (uint8_t)c;
	}
	*n = k;
	return 0;
}

void probe_init(struct probe *p, const struct probe_config *cfg)
{
	*p = (struct probe){.cfg = *cfg};
	if (p->cfg.send_len > PROBE_BYTES_MAX)
		p->cfg.send_len = PROBE_BYTES_MAX;
	if (p->cfg.expect_len > PROBE_BYTES_MAX)
		p->cfg.expect_len = PROBE_BYTES_MAX;
	/* fail[i]: length of the longest proper border of expect[0..i]. */
	for (size_t i = 1, b = 0; i < p->cfg.expect_len; i++) {
		while (b > 0 && p->cfg.expect[i] != p->cfg.expect[b])
			b = p->fail[b - 1];
		if (p->cfg.expect[i] == p->cfg.expect[b])
			b++;
		p->fail[i] = (uint8_t)b;
	}
}

void probe_start(struct probe *p, uint64_t now_ms)
{
	p->running = p->cfg.period_ms > 0;
	p->waiting = false;
	p->due_ms = now_ms + p->cfg.period_ms;
}

void probe_stop(struct probe *p)
{
	p->running = p->waiting = false;
}

enum probe_action probe_tick(struct probe *p, uint64_t now_ms)
{
	if (!p->running || now_ms < p->due_ms)
		return PROBE_NONE;
	if (p->waiting) {
		p->waiting = false;
		p->missed++;
		p->due_ms = now_ms + p->cfg.period_ms;
		return PROBE_MISS;
	}
	/* Only what arrives after the probe answers it. */
	p->waiting = true;
	p->matched = 0;
	p->sent++;
	p->due_ms = now_ms + p->cfg.timeout_ms;
	return PROBE_SEND;
}

bool probe_feed(struct probe *p, const uint8_t *data, size_t n, uint64_t now_ms)
{
	if (!p->running || !p->waiting || n == 0)
		return false;
	bool hit = p->cfg.expect_len == 0;
	for (size_t i = 0; i < n && !hit; i++) {
		while (p->matched > 0 && data[i] != p->cfg.expect[p->matched])
			p->matched = p->fail[p->matched - 1];
		if (data[i] == p->cfg.expect[p->matched])
			p->matched++;
		hit = p->matched == p->cfg.expect_len;
	}
	if (!hit)
		return false;
	p->waiting = false;
	p->matched = 0;
	p->answered++;
	p->due_ms = now_ms + p->cfg.period_ms;
	return true;
}

uint64_t probe_deadline(const struct probe *p)
{
	return p->running ? p->due_ms : UINT64_MAX;
}
