/* QEMU mps2-an500 board glue (implements board.h): CMSDK UART0 is the link to Linux,
 * UART1 the captured port 0, TIMER0 the 25 MHz tick counter extended to 64 bits. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "fw.h"
#include "fw_trace.h"
#include "mps2_an500.h"
#include "qemu_board.h"

#define LINK_UART   AN500_UART0_BASE
#define SENSOR_UART AN500_UART1_BASE
#define TICK_TIMER  AN500_TIMER0_BASE

#define LINK_TX_SIZE   2048u /* four largest frames: the core retries when it is full */
#define LINK_RX_SIZE   512u
#define SENSOR_TX_SIZE 512u
#define DEFAULT_BAUD   115200u

/* The counter starts this far before its first 32-bit wrap (1.34 s at 25 MHz), so every
 * run, including the CI test, crosses the software extension to 64 bits. */
#define TICKS_BEFORE_FIRST_WRAP 0x02000000u

/* NVIC priorities (lower is more urgent): the capture UART comes first so its timestamps
 * are taken promptly; the link and SysTick can wait. */
#define PRIO_CAPTURE 0x20u
#define PRIO_TIMER   0x20u
#define PRIO_LINK    0x60u
#define PRIO_SYSTICK 0xE0u

#define NOINIT_MAGIC 0x4D37464Eu /* "M7FN" */

/* Single-producer single-consumer byte ring; indices run freely and wrap at 2^32. */
struct ring {
	volatile uint32_t head; /* written only by the producer */
	volatile uint32_t tail; /* written only by the consumer */
	uint32_t size;		/* a power of two */
	uint8_t *buf;
};

/* Survives a reset (not cleared at start-up). seed sits first, at the start of the NOINIT
 * region (0x203FFF00): a test runner may put a random value there with QEMU's
 * "-device loader,addr=0x203fff00,data=N,data-len=4" so boot ids differ between runs. */
struct qemu_noinit {
	uint32_t seed;
	uint32_t magic;
	uint32_t boots;
	uint32_t fault_kind;
	uint32_t fault_arg;
	uint32_t fault_cfsr;
	uint32_t check;
};

struct qemu_board {
	struct fw *fw;
	uint32_t boot_id;
	uint32_t tick_hi;	 /* wraps of the 32-bit counter seen so far */
	uint32_t tick_last;	 /* last 32-bit count seen, to detect the next wrap */
	bool link_rx_paused;	 /* the link RX ring was full: RX interrupt off until drained */
	bool capture_enabled;	 /* false once board_fatal put the board in its safe state */
	struct qemu_noinit last; /* what the previous run left behind */
	struct ring link_tx, link_rx, sensor_tx;
	uint8_t link_tx_buf[LINK_TX_SIZE];
	uint8_t link_rx_buf[LINK_RX_SIZE];
	uint8_t sensor_tx_buf[SENSOR_TX_SIZE];
};

static struct qemu_board qb;
__attribute__((section(".noinit"))) static struct qemu_noinit noinit;
/* The core's persist record (previous-boot accounting); after noinit in the same region. */
__attribute__((section(".noinit.persist"), aligned(8))) static uint8_t persist[QEMU_PERSIST_SIZE];
/* The trace ring at a fixed address (QEMU_TRACE_ADDR, placed by the linker script) so a
 * debugger or QEMU's monitor can read it without symbols. */
__attribute__((section(".trace"), aligned(4))) static char trace_buf[QEMU_TRACE_SIZE];
static struct fw_trace trace;

/* A remoteproc resource table with one trace entry, as a Linux host would read it from
 * the ELF (drivers/remoteproc: struct resource_table, struct fw_rsc_trace): QEMU has no
 * remoteproc, but tools that check an image (.resource_table, trace entry) see the same
 * layout as on the board. */
struct qemu_rsc_table {
	uint32_t ver, num, reserved[2];
	uint32_t offset[1];
	struct {
		uint32_t type; /* 2 = RSC_TRACE */
		uint32_t da, len, reserved;
		char name[32];
	} trace;
};
__attribute__((section(".resource_table"), used)) const struct qemu_rsc_table qemu_rsc_table = {
	.ver = 1,
	.num = 1,
	.offset = {__builtin_offsetof(struct qemu_rsc_table, trace)},
	.trace = {.type = 2, .da = QEMU_TRACE_ADDR, .len = QEMU_TRACE_SIZE, .name = "trace0"},
};

/* The GNU build-id note, kept by the linker script (.note.gnu.build-id). */
extern const uint8_t __build_id_start[];
extern const uint8_t __build_id_end[];

static inline void barrier(void)
{
	__asm__ volatile("dmb" ::: "memory");
}

static void ring_init(struct ring *r, uint8_t *buf, uint32_t size)
{
	r->head = r->tail = 0;
	r->buf = buf;
	r->size = size;
}

static uint32_t ring_used(const struct ring *r)
{
	return r->head - r->tail;
}

static uint32_t ring_free(const struct ring *r)
{
	return r->size - ring_used(r);
}

/* Producer side; the caller checked ring_free. */
static void ring_put(struct ring *r, const uint8_t *p, uint32_t n)
{
	uint32_t h = r->head;

	for (uint32_t i = 0; i < n; i++)
		r->buf[(h + i) & (r->size - 1u)] = p[i];
	barrier(); /* bytes before the index that publishes them */
	r->head = h + n;
}

/* Consumer side: the next byte, or -1 when empty. */
static int ring_get(struct ring *r)
{
	uint32_t t = r->tail;

	if (r->head == t)
		return -1;
	uint8_t b = r->buf[t & (r->size - 1u)];
	barrier();
	r->tail = t + 1u;
	return b;
}

static uint32_t noinit_check(const struct qemu_noinit *n)
{
	return n->magic ^ n->boots ^ n->fault_kind ^ n->fault_arg ^ n->fault_cfsr ^ 0xA5A5A5A5u;
}

/* murmur3's finaliser: spreads the seed and boot counter over all 32 bits. */
static uint32_t mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85EBCA6Bu;
	h ^= h >> 13;
	h *= 0xC2B2AE35u;
	h ^= h >> 16;
	return h;
}

uint32_t board_irq_save(void)
{
	uint32_t primask;

	__asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
	return primask;
}

void board_irq_restore(uint32_t state)
{
	__asm__ volatile("msr primask, %0" ::"r"(state) : "memory");
}

/* TIMER0 counts down; the elapsed count is its complement. A wrap is detected as the
 * elapsed count going backwards, which needs a call at least once per 2^32 ticks (172 s):
 * SysTick and the TIMER0 wrap interrupt guarantee that. Works whether the wrap flag is
 * raised before or after the counter reloads. */
uint64_t board_ticks(void)
{
	uint32_t s = board_irq_save();
	uint32_t now = 0xFFFFFFFFu - TIMER_VALUE(TICK_TIMER);

	if (now < qb.tick_last)
		qb.tick_hi++;
	qb.tick_last = now;
	uint64_t t = ((uint64_t)qb.tick_hi << 32) | now;
	board_irq_restore(s);
	return t;
}

uint32_t board_tick_hz(void)
{
	return AN500_SYSCLK_HZ;
}

uint32_t board_boot_id(void)
{
	return qb.boot_id;
}

void board_tick_info(enum board_tick_source *src, uint32_t *measured_hz)
{
	/* QEMU derives TIMER0 from its own clock; there is nothing independent to measure it
	 * against, so the rate is the model's nominal one. */
	*src = BOARD_TICK_SIM_TIMER;
	*measured_hz = AN500_SYSCLK_HZ;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t board_build_id(uint8_t *buf, size_t cap)
{
	/* ELF note: namesz, descsz, type (3 = NT_GNU_BUILD_ID), "GNU\0", then the id. */
	size_t have = (size_t)(__build_id_end - __build_id_start);
	const uint8_t *n = __build_id_start;
	uint32_t namesz, descsz;

	if (have < 16u)
		return 0;
	namesz = get32(n);
	descsz = get32(n + 4);
	if (get32(n + 8) != 3u || namesz != 4u || descsz > have - 16u || descsz > cap)
		return 0;
	for (uint32_t i = 0; i < descsz; i++)
		buf[i] = n[16 + i];
	return descsz;
}

void *board_persist_area(size_t *len)
{
	*len = sizeof(persist);
	return persist;
}

void board_trace(uint8_t level, const char *text, size_t len)
{
	uint32_t s = board_irq_save();

	fw_trace_append(&trace, board_ticks(), level, text, len);
	board_irq_restore(s);
}

int board_link_write(const uint8_t *buf, size_t n)
{
	if (n > ring_free(&qb.link_tx))
		return -1;
	ring_put(&qb.link_tx, buf, (uint32_t)n);
	/* Pending the TX interrupt lets its handler start the transfer at its own priority. */
	NVIC_ISPR(AN500_UART0_TX_IRQ / 32u) = 1u << (AN500_UART0_TX_IRQ % 32u);
	return (int)n;
}

int board_uart_tx(unsigned port, const uint8_t *buf, size_t n)
{
	if (port != 0)
		return -1;
	if (!qb.capture_enabled)
		return 0;
	uint32_t room = ring_free(&qb.sensor_tx);
	uint32_t take = n < room ? (uint32_t)n : room;

	if (take > 0) {
		ring_put(&qb.sensor_tx, buf, take);
		NVIC_ISPR(AN500_UART1_TX_IRQ / 32u) = 1u << (AN500_UART1_TX_IRQ % 32u);
	}
	return (int)take;
}

int board_uart_set_baud(unsigned port, uint32_t baud)
{
	if (port != 0 || baud == 0 || AN500_SYSCLK_HZ / baud < 16u)
		return -1;
	UART_BAUDDIV(SENSOR_UART) = AN500_SYSCLK_HZ / baud;
	return 0;
}

void board_fatal(const char *why)
{
	(void)why; /* the core already sent it in a LOG frame */
	/* Safe state: stop capturing and stop driving the sensor UART; the link stays up so
	 * the host still gets HELLO and HEARTBEAT answers and can see what happened. */
	nvic_disable(AN500_UART1_RX_IRQ);
	nvic_disable(AN500_UART1_TX_IRQ);
	uint32_t s = board_irq_save();
	UART_CTRL(SENSOR_UART) &= ~(UART_CTRL_RXIE | UART_CTRL_TXIE);
	qb.capture_enabled = false;
	qb.sensor_tx.tail = qb.sensor_tx.head;
	board_irq_restore(s);
}

static void uart_setup(uint32_t base, uint32_t baud)
{
	UART_CTRL(base) = 0;
	UART_BAUDDIV(base) = AN500_SYSCLK_HZ / baud;
	UART_INTSTATUS(base) = UART_INT_TX | UART_INT_RX | UART_INT_TXO | UART_INT_RXO;
	UART_CTRL(base) = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_TXIE | UART_CTRL_RXIE;
}

void qemu_board_init(struct fw *fw)
{
	qb.fw = fw;
	qb.capture_enabled = true;
	fw_trace_init(&trace, trace_buf, sizeof(trace_buf));
	ring_init(&qb.link_tx, qb.link_tx_buf, LINK_TX_SIZE);
	ring_init(&qb.link_rx, qb.link_rx_buf, LINK_RX_SIZE);
	ring_init(&qb.sensor_tx, qb.sensor_tx_buf, SENSOR_TX_SIZE);

	/* Boot id and the previous run's fault record from the uncleared area. */
	if (noinit.magic == NOINIT_MAGIC && noinit.check == noinit_check(&noinit)) {
		qb.last = noinit;
	} else {
		qb.last.boots = 0;
		qb.last.fault_kind = QEMU_FAULT_NONE;
	}
	noinit.magic = NOINIT_MAGIC;
	noinit.boots = qb.last.boots + 1u;
	noinit.fault_kind = QEMU_FAULT_NONE;
	noinit.fault_arg = noinit.fault_cfsr = 0;
	noinit.check = noinit_check(&noinit);
	qb.boot_id = mix32(noinit.seed ^ (noinit.boots * 0x9E3779B9u) ^ 0x6D376272u);

	/* TIMER0 free-running over the full 32 bits, interrupting once per wrap. */
	TIMER_CTRL(TICK_TIMER) = 0;
	TIMER_RELOAD(TICK_TIMER) = 0xFFFFFFFFu;
	TIMER_INTSTATUS(TICK_TIMER) = 1u;
	TIMER_CTRL(TICK_TIMER) = TIMER_CTRL_EN | TIMER_CTRL_IRQEN;
	TIMER_VALUE(TICK_TIMER) = TICKS_BEFORE_FIRST_WRAP;
	qb.tick_hi = 0;
	qb.tick_last = 0xFFFFFFFFu - TIMER_VALUE(TICK_TIMER);

	uart_setup(LINK_UART, DEFAULT_BAUD);
	uart_setup(SENSOR_UART, DEFAULT_BAUD);

	/* SysTick at 1 kHz from the 25 MHz processor clock: the main loop's wake-up. */
	SYST_RVR = AN500_SYSCLK_HZ / 1000u - 1u;
	SYST_CVR = 0;
	SCB_SHPR3 = (SCB_SHPR3 & 0x00FFFFFFu) | ((uint32_t)PRIO_SYSTICK << 24);

	nvic_set_priority(AN500_UART1_RX_IRQ, PRIO_CAPTURE);
	nvic_set_priority(AN500_TIMER0_IRQ, PRIO_TIMER);
	nvic_set_priority(AN500_UART0_RX_IRQ, PRIO_LINK);
	nvic_set_priority(AN500_UART0_TX_IRQ, PRIO_LINK);
	nvic_set_priority(AN500_UART1_TX_IRQ, PRIO_LINK);
}

void qemu_board_start(void)
{
	static const unsigned irqs[] = {AN500_UART0_RX_IRQ, AN500_UART0_TX_IRQ, AN500_UART1_RX_IRQ,
					AN500_UART1_TX_IRQ, AN500_TIMER0_IRQ};

	for (size_t i = 0; i < sizeof(irqs) / sizeof(irqs[0]); i++) {
		NVIC_ICPR(irqs[i] / 32u) = 1u << (irqs[i] % 32u);
		nvic_enable(irqs[i]);
	}
	SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
	__asm__ volatile("cpsie i" ::: "memory");
}

void qemu_board_link_drain(struct fw *fw)
{
	uint8_t chunk[64];

	for (;;) {
		size_t n = 0;
		int c;

		while (n < sizeof(chunk) && (c = ring_get(&qb.link_rx)) >= 0)
			chunk[n++] = (uint8_t)c;
		if (n == 0)
			break;
		fw_link_rx(fw, chunk, n);
	}
	if (qb.link_rx_paused) {
		/* QEMU held the next byte in DATA meanwhile (RXFULL stops its input): re-enable
		 * the interrupt and pend it, since its status bit was already cleared. */
		uint32_t s = board_irq_save();
		qb.link_rx_paused = false;
		UART_CTRL(LINK_UART) |= UART_CTRL_RXIE;
		if (UART_STATE(LINK_UART) & UART_STATE_RXFULL)
			NVIC_ISPR(AN500_UART0_RX_IRQ / 32u) = 1u << (AN500_UART0_RX_IRQ % 32u);
		board_irq_restore(s);
	}
}

void qemu_board_idle(void)
{
	/* WFI with PRIMASK set still wakes on a pending interrupt, so a byte that arrives
	 * between the check and the WFI is not slept on. */
	__asm__ volatile("cpsid i" ::: "memory");
	if (ring_used(&qb.link_rx) == 0)
		__asm__ volatile("dsb\n\twfi" ::: "memory");
	__asm__ volatile("cpsie i" ::: "memory");
}

const char *qemu_fault_kind_to_string(enum qemu_fault_kind kind)
{
	switch (kind) {
	case QEMU_FAULT_NONE:
		return "none";
	case QEMU_FAULT_HARD:
		return "hard fault";
	case QEMU_FAULT_UNEXPECTED_IRQ:
		return "unexpected exception";
	case QEMU_FAULT_MAIN_RETURNED:
		return "main returned";
	}
	return "unknown";
}

/* Appends s to the buffer at *pos (bounded, always NUL-terminated). */
static void str_add(char *buf, size_t cap, size_t *pos, const char *s)
{
	while (*s != '\0' && *pos + 1 < cap)
		buf[(*pos)++] = *s++;
	buf[*pos] = '\0';
}

static void hex_add(char *buf, size_t cap, size_t *pos, uint32_t v)
{
	char h[11] = "0x";

	for (int i = 0; i < 8; i++)
		h[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xFu];
	h[10] = '\0';
	str_add(buf, cap, pos, h);
}

void qemu_board_report_last_fault(struct fw *fw)
{
	if (qb.last.fault_kind == QEMU_FAULT_NONE)
		return;
	char msg[96];
	size_t pos = 0;

	str_add(msg, sizeof(msg), &pos, "previous run ended in a reset after ");
	str_add(msg, sizeof(msg), &pos,
		qemu_fault_kind_to_string((enum qemu_fault_kind)qb.last.fault_kind));
	str_add(msg, sizeof(msg), &pos, ": arg=");
	hex_add(msg, sizeof(msg), &pos, qb.last.fault_arg);
	str_add(msg, sizeof(msg), &pos, " cfsr=");
	hex_add(msg, sizeof(msg), &pos, qb.last.fault_cfsr);
	fw_log(fw, 2 /* LOG_CRIT */, msg);
}

void qemu_board_fault(enum qemu_fault_kind kind, uint32_t arg, uint32_t cfsr)
{
	/* Nothing here may rely on the core's state, which may be what broke. Record the
	 * fault where the next boot finds it, then reset: the next run says HELLO and sends
	 * a LOG with this record. (On QEMU a reset is clean; the i.MX8MP port does not
	 * reset itself, see its board glue.) */
	__asm__ volatile("cpsid i" ::: "memory");
	noinit.magic = NOINIT_MAGIC;
	noinit.fault_kind = (uint32_t)kind;
	noinit.fault_arg = arg;
	noinit.fault_cfsr = cfsr;
	noinit.check = noinit_check(&noinit);
	__asm__ volatile("dsb" ::: "memory");
	SCB_AIRCR = SCB_AIRCR_RESET;
	for (;;)
		__asm__ volatile("dsb\n\twfi" ::: "memory");
}

static void tx_pump(uint32_t base, struct ring *r)
{
	/* QEMU sends a byte at once when its chardev accepts it; when the socket is full
	 * TXFULL stays set and the next TX interrupt resumes here. */
	while (!(UART_STATE(base) & UART_STATE_TXFULL)) {
		int c = ring_get(r);

		if (c < 0)
			break;
		UART_DATA(base) = (uint32_t)c;
	}
}

void qemu_uart0_tx_isr(void)
{
	UART_INTSTATUS(LINK_UART) = UART_INT_TX; /* level line: clear before refilling */
	tx_pump(LINK_UART, &qb.link_tx);
}

void qemu_uart1_tx_isr(void)
{
	UART_INTSTATUS(SENSOR_UART) = UART_INT_TX;
	tx_pump(SENSOR_UART, &qb.sensor_tx);
}

void qemu_uart0_rx_isr(void)
{
	UART_INTSTATUS(LINK_UART) = UART_INT_RX;
	while (UART_STATE(LINK_UART) & UART_STATE_RXFULL) {
		if (ring_free(&qb.link_rx) == 0) {
			/* Leave the byte in DATA: QEMU delivers nothing more until it is read,
			 * so no link byte is ever lost. */
			UART_CTRL(LINK_UART) &= ~UART_CTRL_RXIE;
			qb.link_rx_paused = true;
			return;
		}
		uint8_t b = (uint8_t)UART_DATA(LINK_UART);

		ring_put(&qb.link_rx, &b, 1);
	}
}

void qemu_uart1_rx_isr(void)
{
	UART_INTSTATUS(SENSOR_UART) = UART_INT_RX;
	while (UART_STATE(SENSOR_UART) & UART_STATE_RXFULL) {
		uint32_t err = 0;

		if (UART_STATE(SENSOR_UART) & UART_STATE_RXOVR) {
			err |= FW_RX_OVERRUN;
			UART_STATE(SENSOR_UART) = UART_STATE_RXOVR; /* write 1 to clear */
		}
		uint64_t tick = board_ticks();
		uint8_t b = (uint8_t)UART_DATA(SENSOR_UART);

		fw_uart_rx_isr(qb.fw, 0, b, err, tick);
	}
}

void qemu_timer0_isr(void)
{
	TIMER_INTSTATUS(TICK_TIMER) = 1u;
	(void)board_ticks(); /* observes the wrap */
}

/* SysTick wakes the main loop from WFI once per millisecond (capture idle timeouts,
 * heartbeats) and keeps the 64-bit tick extension fed. */
void qemu_systick_isr(void)
{
	(void)board_ticks();
}
