/* board.h for Linux (the m7sim port): a scaled CLOCK_MONOTONIC, a pty link with fault
 * injection, UART transmitters that loop back or go to a file. */
#include "board_host.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board.h"
#include "m7bridge/cobs.h"
#include "m7bridge/wire.h"
#include "sim_ctl.h"

/* The one board this process simulates (board.h functions take no context). */
static struct board_host *board;

void board_host_attach(struct board_host *b)
{
	board = b;
}

uint64_t board_host_now(const struct board_host *b)
{
	return sim_clock_ticks(&b->clock, sim_clock_mono_ns());
}

uint64_t board_ticks(void)
{
	uint64_t t = board_host_now(board);

	/* A byte scheduled at `hold` has not been delivered yet; letting the clock pass it
	 * would let the core close a capture as idle although its next byte is due. */
	if (board->hold != 0 && t >= board->hold)
		t = board->hold - 1u;
	if (t < board->last_ticks)
		t = board->last_ticks;
	board->last_ticks = t;
	return t;
}

uint32_t board_tick_hz(void)
{
	return board->clock.hz;
}

uint32_t board_boot_id(void)
{
	uint32_t id = board->next_boot_id;

	board->next_boot_id = 0;
	while (id == 0) {
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			id = (uint32_t)sim_clock_mono_ns() ^ (uint32_t)getpid();
	}
	return id;
}

void board_tick_info(enum board_tick_source *src, uint32_t *measured_hz)
{
	/* The nominal rate: ticks are scaled from CLOCK_MONOTONIC (a drift, when asked for, is
	 * left for the daemon to measure, as on a board). */
	*src = board->host_mono ? BOARD_TICK_HOST_MONO : BOARD_TICK_SIM_TIMER;
	*measured_hz = board->clock.hz;
}

size_t board_build_id(uint8_t *buf, size_t cap)
{
	size_t n = board->build_id_len < cap ? board->build_id_len : cap;

	memcpy(buf, board->build_id, n);
	return n;
}

void *board_persist_area(size_t *len)
{
	*len = board->persist ? BOARD_HOST_PERSIST_SIZE : 0u;
	return board->persist;
}

void board_trace(uint8_t level, const char *text, size_t len)
{
	struct board_host *b = board;

	fw_trace_append(&b->trace, board_ticks(), level, text, len);
	if (b->trace_fd >= 0) {
		/* What the kernel's trace0 shows: the ring up to its first NUL. */
		size_t n = strnlen(b->trace_buf, sizeof(b->trace_buf));

		if (pwrite(b->trace_fd, b->trace_buf, n, 0) != (ssize_t)n ||
		    ftruncate(b->trace_fd, (off_t)n) != 0)
			b->trace_errors++;
	}
}

void board_host_boot(struct board_host *b, enum sim_image_mode mode)
{
	b->image = mode;
	b->image_frames = 0;
	fw_trace_init(&b->trace, b->trace_buf, sizeof(b->trace_buf));
	if (b->trace_fd >= 0 && ftruncate(b->trace_fd, 0) != 0)
		b->trace_errors++;
}

int board_host_persist_open(struct board_host *b, const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	struct stat st;
	void *p;

	if (fd < 0)
		return -errno;
	/* A new (empty) file reads as zeros: no valid record, like a cold power-on. */
	if (fstat(fd, &st) < 0 || (st.st_size < (off_t)BOARD_HOST_PERSIST_SIZE &&
				   ftruncate(fd, BOARD_HOST_PERSIST_SIZE) < 0)) {
		int e = -errno;
		close(fd);
		return e;
	}
	/* Shared: every store lands in the page cache at once, so a crash of m7sim (even
	 * SIGKILL) keeps what the core wrote, like RAM that a reset does not clear. */
	p = mmap(NULL, BOARD_HOST_PERSIST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	b->persist = p;
	return 0;
}

int board_host_trace_open(struct board_host *b, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	b->trace_fd = fd;
	return 0;
}

struct note_search {
	uint8_t *buf;
	size_t cap, len;
};

/* Walks the PT_NOTE segments of the main program for NT_GNU_BUILD_ID. */
static int find_build_id(struct dl_phdr_info *info, size_t size, void *data)
{
	struct note_search *ns = data;

	(void)size;
	if (info->dlpi_name && info->dlpi_name[0] != '\0')
		return 0; /* a shared library, not the program */
	for (unsigned i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
			const ElfW(Nhdr) *nh = (const void *)p;
			size_t name = (nh->n_namesz + 3u) & ~3u, desc = (nh->n_descsz + 3u) & ~3u;
			const uint8_t *d = p + sizeof(*nh) + name;

			if (name > (size_t)(end - p) - sizeof(*nh) ||
			    desc > (size_t)(end - p) - sizeof(*nh) - name)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(p + sizeof(*nh), "GNU", 4) == 0) {
				ns->len = nh->n_descsz < ns->cap ? nh->n_descsz : ns->cap;
				memcpy(ns->buf, d, ns->len);
				return 1;
			}
			p = d + desc;
		}
	}
	return 1; /* the program comes first; nothing else to look at */
}

size_t board_host_self_build_id(uint8_t *buf, size_t cap)
{
	struct note_search ns = {buf, cap, 0};

	dl_iterate_phdr(find_build_id, &ns);
	return ns.len;
}

bool board_host_throttle_ok(struct board_host *b, size_t n)
{
	uint64_t now = sim_clock_mono_ns();

	if (b->throttle_bps == 0)
		return true;
	b->throttle_tokens += (double)(now - b->throttle_ns) * (double)b->throttle_bps / 1e9;
	b->throttle_ns = now;
	/* Burst: one largest frame. */
	if (b->throttle_tokens > (double)M7B_FRAME_MAX + 1.0)
		b->throttle_tokens = (double)M7B_FRAME_MAX + 1.0;
	if (b->throttle_tokens < (double)n)
		return false;
	b->throttle_tokens -= (double)n;
	return true;
}

/* Re-encodes one frame with its last CRC byte flipped: a frame a reader must reject. */
static int corrupt(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	uint8_t body[M7B_BODY_MAX];
	size_t lead = 0;
	int len, enc;

	while (lead < n && in[lead] == 0)
		lead++;
	if (n < lead + 2u || lead + 1u > cap)
		return -1;
	len = m7b_cobs_decode(body, sizeof(body), in + lead, n - lead - 1u);
	if (len < 1)
		return -1;
	body[len - 1] ^= 0xA5u;
	memset(out, 0, lead);
	enc = m7b_cobs_encode(out + lead, cap - lead - 1u, body, (size_t)len);
	if (enc < 0)
		return -1;
	out[lead + (size_t)enc] = 0;
	return (int)(lead + (size_t)enc + 1u);
}

int board_link_write(const uint8_t *buf, size_t n)
{
	struct board_host *b = board;
	uint8_t bad[M7B_FRAME_MAX + 8u];
	int r;

	if (!b->link || !sim_link_is_open(b->link) || b->stalled || n > sim_link_room(b->link))
		return -1;
	/* A broken image: the core thinks it sent, nothing arrives (after HELLO and
	 * BOOT_INFO for one that goes silent). */
	if (b->image == SIM_IMAGE_NO_HELLO ||
	    (b->image == SIM_IMAGE_SILENT && b->image_frames >= 2)) {
		b->frames_silenced++;
		return (int)n;
	}
	b->image_frames++;
	if (!board_host_throttle_ok(b, n))
		return -1;
	if (b->drop_next > 0) {
		b->drop_next--;
		b->frames_dropped++;
		return (int)n;
	}
	if (b->corrupt_next > 0) {
		int m = corrupt(buf, n, bad, sizeof(bad));

		if (m > 0 && sim_link_write(b->link, bad, (size_t)m) == m) {
			b->corrupt_next--;
			b->frames_corrupted++;
			return (int)n;
		}
	}
	r = sim_link_write(b->link, buf, n);
	if (r == (int)n)
		b->frames_written++;
	return r;
}

int board_host_garbage(struct board_host *b, unsigned n)
{
	uint8_t junk[SIM_CTL_GARBAGE_MAX + 1u];

	if (n > sizeof(junk) - 1u)
		n = sizeof(junk) - 1u;
	if (getrandom(junk, n, 0) != (ssize_t)n)
		memset(junk, 0x55, n);
	junk[n] = 0;
	if (!b->link || sim_link_write(b->link, junk, n + 1u) < 0)
		return -1;
	return 0;
}

int board_uart_tx(unsigned port, const uint8_t *buf, size_t n)
{
	struct board_host_uart *u;
	uint64_t now;
	size_t i;

	if (port >= board->nports)
		return -1;
	u = &board->uart[port];
	now = board_ticks();
	if (u->count == 0 && u->next_tick < now + u->char_ticks)
		u->next_tick = now + u->char_ticks;
	for (i = 0; i < n && u->count < BOARD_HOST_TX_FIFO; i++) {
		u->fifo[(u->head + u->count) % BOARD_HOST_TX_FIFO] = buf[i];
		u->count++;
	}
	return (int)i;
}

uint64_t board_host_uart_due(const struct board_host *b, unsigned port)
{
	return b->uart[port].count > 0 ? b->uart[port].next_tick : UINT64_MAX;
}

uint8_t board_host_uart_take(struct board_host *b, unsigned port)
{
	struct board_host_uart *u = &b->uart[port];
	uint8_t byte = u->fifo[u->head];

	u->head = (u->head + 1u) % BOARD_HOST_TX_FIFO;
	u->count--;
	u->next_tick += u->char_ticks;
	return byte;
}

int board_uart_set_baud(unsigned port, uint32_t baud)
{
	if (port >= board->nports || baud < 50 || baud > 100000000)
		return -1;
	board->uart[port].baud = baud;
	board->uart[port].char_ticks = ((uint64_t)board->clock.hz * 10u + baud - 1u) / baud;
	if (board->uart[port].char_ticks == 0)
		board->uart[port].char_ticks = 1;
	return 0;
}

uint32_t board_irq_save(void)
{
	/* One thread runs both the "interrupts" and the main loop: nothing to mask. */
	return 0;
}

void board_irq_restore(uint32_t state)
{
	(void)state;
}

void board_fatal(const char *why)
{
	board->fatal = true;
	fprintf(stderr, "m7sim: fatal: %s (answering HELLO and PING only)\n", why);
}
