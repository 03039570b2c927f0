/* Raw mode of a channel, for firmware that does not speak wire v1: tty input handed on in
 * bounded chunks with the host's receive time, and bytes written as they are. */
#include "channel_int.h"

#include <errno.h>
#include <time.h>

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void channel_raw_input(struct channel *ch, const uint8_t *buf, size_t n)
{
	/* One clock reading per read(): the chunks of it arrived together. */
	struct channel_raw r = {.t_rx_ns = now_ns(CLOCK_REALTIME),
				.t_rx_mono_ns = now_ns(CLOCK_MONOTONIC)};
	ch->stats.raw_rx_bytes += n;
	for (size_t off = 0; off < n && ch->fd >= 0; off += r.len) {
		r.data = buf + off;
		r.len = n - off < CHANNEL_RAW_CHUNK ? n - off : CHANNEL_RAW_CHUNK;
		r.first_after_open = !ch->rx_since_open;
		ch->rx_since_open = true;
		ch->stats.raw_chunks++;
		if (ch->ops && ch->ops->on_raw)
			ch->ops->on_raw(ch->ud, ch, &r);
	}
}

int channel_write_raw(struct channel *ch, const void *data, size_t len)
{
	if (ch->cfg.mode != CONF_MODE_RAW)
		return -EOPNOTSUPP;
	if (ch->fd < 0)
		return -ENOTCONN;
	if (len > CHANNEL_TXBUF)
		return -EMSGSIZE;
	int r = channel_queue_tx(ch, data, len);
	if (r == 0)
		ch->stats.raw_tx_bytes += len;
	return r;
}

bool channel_is_raw(const struct channel *ch)
{
	return ch->cfg.mode == CONF_MODE_RAW;
}
