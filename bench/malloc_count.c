/* LD_PRELOAD shim for bench_daemon: counts heap allocations in the daemon; SIGUSR2 writes
 * the count to the file named by M7B_MALLOC_COUNT. Not part of the product. */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_ulong count;
static int out_fd = -1;

/* glibc's own entry points: no dlsym, so no allocation while resolving. */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t a, size_t b);
extern void *__libc_realloc(void *p, size_t n);

void *malloc(size_t n)
{
	atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
	return __libc_realloc(p, n);
}

/* Async-signal-safe: formats the number by hand and pwrite()s it at offset 0. */
static void on_usr2(int sig)
{
	(void)sig;
	char buf[32];
	int i = sizeof buf;
	buf[--i] = '\n';
	unsigned long v = atomic_load(&count);
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (out_fd >= 0) {
		(void)!ftruncate(out_fd, 0);
		(void)!pwrite(out_fd, buf + i, sizeof buf - (size_t)i, 0);
	}
}

__attribute__((constructor)) static void init(void)
{
	const char *path = getenv("M7B_MALLOC_COUNT");
	if (!path)
		return;
	out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
}
