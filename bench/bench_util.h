/* Helpers shared by the daemon benchmarks: a raw pty standing in for the RPMSG tty, the
 * daemon started on it (optionally under a wrapper such as valgrind), watching clients
 * and DATA frames as the firmware would encode them. Not part of the product. */
#ifndef M7B_BENCH_UTIL_H
#define M7B_BENCH_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_PAYLOAD 64 /* DATA payload: t_first, t_last, 48 captured bytes */

/* CLOCK_MONOTONIC in ns. */
uint64_t bench_now_ns(void);
/* Directory of the running executable (the build's bench/), or NULL. */
const char *bench_exe_dir(void);

/* Opens a pty, master and slave raw; writes the slave's name; returns the master or -1. */
int bench_make_pty(char *slave, size_t cap);

/* A daemon on its own pty, socket and config in a fresh temporary directory; its stderr
 * in log (in that directory) unless the caller names another file or wraps it. */
struct bench_daemon {
	char dir[128], sock[200], link[200], conf[200], count[200], log[200];
	char what[96]; /* what the benchmark is doing with it, for the report of its death */
	pid_t pid;
	int master;
	bool wrapped;
	bool watched;
	pthread_t watchdog;
	pthread_mutex_t lock; /* stopping against the watchdog's report */
	bool stopping;
};

/* Starts m7bridged from the build tree with argv prefix wrap (NULL-terminated, may be
 * NULL), the malloc counter preloaded when count_mallocs; waits up to wait_s seconds for
 * its socket. Returns 0 or -1. */
int bench_daemon_start(struct bench_daemon *r, char *const *wrap, bool count_mallocs,
		       double wait_s);
/* The same, at log level debug with the daemon's stderr in log_path (NULL: as above). */
int bench_daemon_start_log(struct bench_daemon *r, char *const *wrap, bool count_mallocs,
			   double wait_s, const char *log_path);
/* Watches the daemon from a thread: should it end before bench_daemon_stop(), prints how
 * (exit status or signal) during what, and the last lines of its stderr, removes the
 * directory and ends the process with status 1, whatever its threads are blocked on.
 * Returns 0 or -1. */
int bench_daemon_watch(struct bench_daemon *r, const char *what);
/* SIGTERM (SIGKILL after 10 s unless wrapped), wait, remove the directory. Returns 0 if
 * the daemon ended on that SIGTERM, -1 (after saying so) if it had ended otherwise. */
int bench_daemon_stop(struct bench_daemon *r);

/* Connects and sends the watch line; returns the fd once the ACK has been read, or -1. */
int bench_connect_client(const struct bench_daemon *r, const char *watch);

/* Encodes DATA frame seq with both ticks set to t and 48 bytes of text; returns its
 * length on the wire (delimiter included). */
size_t bench_encode_data(uint8_t *buf, size_t cap, uint32_t seq, uint64_t t);

/* Writes all n bytes, retrying on EINTR and short writes; false on error. */
bool bench_write_all(int fd, const void *buf, size_t n);

#endif
