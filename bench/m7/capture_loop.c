/* Per-capture cost of the firmware core on a Cortex-M7, for QEMU mps2-an500 run with
 * -icount shift=0 (one virtual nanosecond per guest instruction). A board of its own:
 * the link swallows every frame, the clock is a counter the loop advances. Each capture
 * is CAPTURE_BYTES bytes through the receive interrupt entry, then the idle gap, then
 * fw_poll, which closes the capture and encodes and writes its DATA frame: the work the
 * firmware does per capture. SysTick (processor clock) times WARMUP captures and then
 * COUNT more; the difference excludes start-up. The same is done for the encoder alone
 * (pack + encode, what fw_poll spends on the frame). Results go out over semihosting.
 * Not part of the firmware. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "fw.h"
#include "m7bridge/wire.h"

#ifndef CAPTURE_BYTES
#define CAPTURE_BYTES 48 /* a 64-byte DATA payload, as bench_daemon sends */
#endif
#define WARMUP	 64u
#define COUNT	 1024u
#define IDLE_GAP 100u

#define REG32(a)  (*(volatile uint32_t *)(uintptr_t)(a))
#define SCB_CPACR REG32(0xE000ED88u)
#define SYST_CSR  REG32(0xE000E010u)
#define SYST_RVR  REG32(0xE000E014u)
#define SYST_CVR  REG32(0xE000E018u)

static uint64_t now_ticks;
static uint32_t link_bytes;
static struct fw fw;

uint64_t board_ticks(void)
{
	return now_ticks;
}

uint32_t board_tick_hz(void)
{
	return 8000000u;
}

uint32_t board_boot_id(void)
{
	return 0x1234u;
}

int board_link_write(const uint8_t *buf, size_t n)
{
	link_bytes += (uint32_t)n + buf[0];
	return (int)n;
}

int board_uart_tx(unsigned port, const uint8_t *buf, size_t n)
{
	return (int)n;
}

int board_uart_set_baud(unsigned port, uint32_t baud)
{
	return 0;
}

uint32_t board_irq_save(void)
{
	return 0;
}

void board_irq_restore(uint32_t state)
{
}

/* ARM semihosting: op in r0, parameter in r1. */
static uint32_t semihost(uint32_t op, const void *arg)
{
	register uint32_t r0 __asm__("r0") = op;
	register const void *r1 __asm__("r1") = arg;

	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
	return r0;
}

static __attribute__((noreturn)) void bench_exit(int ok)
{
	/* SYS_EXIT with ADP_Stopped_ApplicationExit (0x20026) or RunTimeErrorUnknown. */
	semihost(0x18u, (const void *)(uintptr_t)(ok ? 0x20026u : 0x20023u));
	for (;;)
		;
}

static void say(const char *s)
{
	semihost(0x04u, s); /* SYS_WRITE0 */
}

static void say_u32(uint32_t v)
{
	char b[12];
	int i = (int)sizeof(b) - 1;

	b[i] = '\0';
	do {
		b[--i] = (char)('0' + v % 10u);
		v /= 10u;
	} while (v);
	say(b + i);
}

void board_tick_info(enum board_tick_source *src, uint32_t *measured_hz)
{
	*src = BOARD_TICK_SIM_TIMER;
	*measured_hz = board_tick_hz();
}

size_t board_build_id(uint8_t *buf, size_t cap)
{
	return 0; /* no identity: BOOT_INFO goes out without one */
}

void *board_persist_area(size_t *len)
{
	*len = 0;
	return NULL; /* nothing survives a reset here */
}

void board_trace(uint8_t level, const char *text, size_t len)
{
}

void board_fatal(const char *why)
{
	say("fatal: ");
	say(why);
	say("\n");
	bench_exit(0);
}

/* SysTick counts down from 2^24 - 1 at the processor clock. */
static uint32_t elapsed(uint32_t from)
{
	return (from - SYST_CVR) & 0xFFFFFFu;
}

static void one_capture(uint32_t i)
{
	for (uint32_t k = 0; k < CAPTURE_BYTES; k++)
		fw_uart_rx_isr(&fw, 0, (uint8_t)('A' + (i + k) % 26u), 0, ++now_ticks);
	now_ticks += IDLE_GAP + 1u;
	fw_poll(&fw);
}

static uint8_t frame[M7B_FRAME_MAX];

static void one_encode(uint32_t i)
{
	static uint8_t bytes[CAPTURE_BYTES];
	uint8_t pl[M7B_PAYLOAD_MAX];
	struct m7b_data d = {now_ticks, now_ticks + 87u, bytes, sizeof(bytes)};
	struct m7b_frame h = {.type = M7B_T_DATA, .port = 0, .seq = i};
	struct m7b_part part;
	int n;

	memset(bytes, 'A' + (int)(i % 26u), sizeof(bytes));
	n = m7b_wire_pack_data(pl, sizeof(pl), &d);
	part.data = pl;
	part.len = (size_t)n;
	n = m7b_wire_encode(frame, sizeof(frame), &h, &part, 1);
	link_bytes += (uint32_t)n;
	now_ticks += 1000u;
}

/* Ticks of COUNT calls of fn after WARMUP calls. */
static uint32_t measure(void (*fn)(uint32_t))
{
	uint32_t i = 0, t0;

	for (; i < WARMUP; i++)
		fn(i);
	t0 = SYST_CVR;
	for (; i < WARMUP + COUNT; i++)
		fn(i);
	return elapsed(t0);
}

/* Ticks of a loop of exactly 2 * CALIB_LOOPS instructions (subs, bne): the scale from
 * SysTick ticks to instructions, whatever clock QEMU gives SysTick. */
#define CALIB_LOOPS 1000000u
static uint32_t calibrate(void)
{
	uint32_t t0 = SYST_CVR;
	register uint32_t n __asm__("r0") = CALIB_LOOPS;

	__asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n)::"cc");
	return elapsed(t0);
}

int main(void);
int main(void)
{
	struct fw_options opt = {.name = "m7bench", .nports = 1, .heartbeat_ms = 0};
	uint32_t t_capture, t_encode, t_calib, before;

	opt.port[0].idle_gap_ticks = IDLE_GAP;
	opt.port[0].delimiter = -1;
	opt.port[0].max_capture = M7B_DATA_BYTES_MAX;
	SYST_RVR = 0xFFFFFFu;
	SYST_CVR = 0;
	SYST_CSR = 0x5u; /* enable, processor clock, no interrupt */

	t_calib = calibrate();
	fw_init(&fw, &opt);
	fw_link_up(&fw);
	before = link_bytes;
	t_capture = measure(one_capture);
	if (link_bytes - before < COUNT * (CAPTURE_BYTES + 16u)) {
		say("capture loop: the core sent too little, the measurement is void\n");
		bench_exit(0);
	}
	t_encode = measure(one_encode);
	say("count ");
	say_u32(COUNT);
	say(" capture_bytes ");
	say_u32(CAPTURE_BYTES);
	say(" capture_ticks ");
	say_u32(t_capture);
	say(" encode_ticks ");
	say_u32(t_encode);
	say(" calib_instructions ");
	say_u32(2u * CALIB_LOOPS);
	say(" calib_ticks ");
	say_u32(t_calib);
	say("\n");
	bench_exit(1);
}

/* Start-up: FPU on (the code is built for the hard-float ABI), .data and .bss, main. */
extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
void Reset_Handler(void);
void Fault_Handler(void);

void Reset_Handler(void)
{
	SCB_CPACR |= (0xFu << 20);
	__asm__ volatile("dsb\n\tisb" ::: "memory");
	for (uint32_t *src = _sidata, *dst = _sdata; dst < _edata;)
		*dst++ = *src++;
	for (uint32_t *dst = _sbss; dst < _ebss;)
		*dst++ = 0;
	(void)main();
	bench_exit(0);
}

void Fault_Handler(void)
{
	say("fault\n");
	bench_exit(0);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
	(void (*)(void))(uintptr_t)_estack,
	Reset_Handler,
	Fault_Handler,
	Fault_Handler,
	Fault_Handler,
	Fault_Handler,
	Fault_Handler,
};
