/* Test harness for m7bridged integration tests: a fake M7 on a pty (frames encoded with
 * lib/), the daemon as a child process in a temp dir, and line-reading clients. */
#ifndef M7B_DAEMON_HARNESS_H
#define M7B_DAEMON_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <pthread.h>

#include <cjson/cJSON.h>

#include "m7bridge/decoder.h"
#include "m7bridge/wire.h"

#define H_TIMEOUT_MS 20000 /* generous: CI runs under ASan on 2 loaded cores */

/* A fake M7 behind a pty; the daemon opens the symlink path. A thread reads the host's
 * frames, answers PING with a HEARTBEAT and SYNC with a SYNC_REPLY at once (as the
 * firmware does) and queues every other frame for fake_m7_next(). */
#define FAKE_QUEUE 256
struct fake_frame {
	struct m7b_frame f;
	uint8_t payload[M7B_PAYLOAD_MAX];
};
struct fake_m7 {
	int master;
	char slave[64];
	char link[256];
	uint32_t seq;
	pthread_t thread;
	bool running;
	pthread_mutex_t mu; /* seq and writes; the queue */
	pthread_cond_t cv;
	bool stop;
	bool hung; /* like a hung M7: PING and SYNC go unanswered */
	struct fake_frame q[FAKE_QUEUE];
	unsigned q_head, q_len;
	uint64_t pings;
};

/* Creates a pty, raw, and (re)points link at its slave atomically. 0 or -errno. */
int fake_m7_open(struct fake_m7 *m, const char *link);
/* Stops the thread and closes the master: the daemon's side sees a hangup. Safe on a
 * fake_m7 that was never opened if master was set to -1. */
void fake_m7_close(struct fake_m7 *m);
/* Writes raw bytes to the master (all of them). 0 or -errno. */
int fake_m7_write(struct fake_m7 *m, const void *buf, size_t n);
/* Stops (or resumes) answering PING and SYNC, like a hung M7. */
void fake_m7_hang(struct fake_m7 *m, bool hung);
/* Encodes and writes one frame with the next seq (or seq when force_seq >= 0). */
int fake_m7_frame(struct fake_m7 *m, uint8_t type, uint8_t port, uint8_t flags, const void *payload,
		  size_t len);
/* The seq the next frame gets; the fake's thread sends frames too (SYNC_REPLY, HEARTBEAT),
 * so seq is read under the fake's lock (tests that set it take mu too). */
uint32_t fake_m7_seq(struct fake_m7 *m);
/* HELLO (restarts seq at 0). */
int fake_m7_hello(struct fake_m7 *m, uint32_t boot_id, uint16_t credits, const char *name);
/* DATA with timestamps and bytes. */
int fake_m7_data(struct fake_m7 *m, uint8_t port, uint8_t flags, uint64_t t_first, uint64_t t_last,
		 const void *bytes, size_t n);
/* LOG. */
int fake_m7_log(struct fake_m7 *m, uint8_t level, const char *text);
/* ACK for a host frame. */
int fake_m7_ack(struct fake_m7 *m, uint32_t acked_seq, uint8_t type, uint8_t status,
		uint16_t credits);
/* Waits for the next frame from the host; payload copied to buf (cap bytes). 1 got one,
 * 0 timeout, -errno. */
int fake_m7_next(struct fake_m7 *m, struct m7b_frame *f, uint8_t *buf, size_t cap, int timeout_ms);
/* The fake's tick now: 8 MHz from CLOCK_MONOTONIC (it answers SYNC with it). */
uint64_t fake_m7_ticks(void);
/* Waits for HOST_HELLO then answers HELLO. 0 or -ETIMEDOUT. */
int fake_m7_handshake(struct fake_m7 *m, uint32_t boot_id, uint16_t credits);

/* The daemon under test. */
struct daemon_proc {
	pid_t pid;
	char dir[200]; /* temp dir holding everything */
	char sock[256];
	char conf[256];
	char log[256]; /* its stderr */
};

/* The privileged helper of daemon pid: its child named m7bridged-priv; 0 if none. */
pid_t h_helper_of(pid_t daemon);

/* Makes a temp dir (mkdtemp) for a test. 0 or -errno. */
int h_tmpdir(struct daemon_proc *p);
/* Path of the built m7bridged (from M7B_BUILD_ROOT). */
const char *h_daemon_path(void);
/* Writes the config file (text is appended after a [daemon] socket line) and starts
 * the daemon; waits until the socket accepts. 0 or -errno. */
int daemon_proc_start(struct daemon_proc *p, const char *conf_extra);
/* Rewrites the config file the same way (for SIGHUP tests). */
int daemon_proc_write_conf(struct daemon_proc *p, const char *conf_extra);
/* SIGTERM, waits (timeout) and returns the exit status (or -1 if it had to be killed). */
int daemon_proc_stop(struct daemon_proc *p);
/* Kills every daemon started and not stopped (a failed test's); for a group teardown. */
void h_kill_all(void);
/* Starts argv[0] (a path) with stdin from in_fd (-1: inherited) and stdout+stderr appended
 * to out_path. The child's pid, or -1. */
pid_t h_spawn(const char *const argv[], int in_fd, const char *out_path);
/* Copies the daemon's stderr to ours when status (from daemon_proc_stop) is not 0. */
void h_show_log_if(const struct daemon_proc *p, int status);
/* Removes the temp dir tree. */
void h_cleanup(struct daemon_proc *p);
/* Runs m7bridged with args (NULL-terminated), captures stderr into err (cap). Exit
 * status or -1. */
int h_run(char *err, size_t cap, const char *const *args);
/* Like h_run, but captures stdout (stderr to /dev/null). */
int h_run_stdout(char *out, size_t cap, const char *const *args);
/* Path of the built m7sim (from M7B_BUILD_ROOT). */
const char *h_sim_path(void);
/* Writes text to path (created or truncated). 0 or -errno. */
int h_put_file(const char *path, const char *text);
/* Reads up to cap - 1 bytes of path into buf, NUL-terminated ("" when unreadable). */
void h_slurp_file(const char *path, char *buf, size_t cap);
/* A fake remoteproc sysfs tree under dir: sys/class/remoteproc/remoteproc0 (name
 * imx-rproc, state running, firmware fw) with its device link to sys/devices/imx8mp-cm7,
 * plus the directories in extra (NULL-terminated). 0 or -errno. */
int h_fake_rproc_tree(const char *dir, const char *fw, const char *const *extra);
/* SIGTERM to *pid, SIGKILL after 2 s, reaped; *pid = 0. Nothing when *pid <= 0. */
void h_reap(pid_t *pid);
/* Resident set size of pid in KiB, -1 on error. */
long h_rss_kib(pid_t pid);

/* A client reading lines. */
struct tclient {
	int fd;
	char *buf;
	size_t len, cap;
	size_t consumed; /* bytes of the last returned line, dropped on the next call */
};

/* Connects to path; 0 or -errno. */
int tclient_connect(struct tclient *c, const char *path);
void tclient_close(struct tclient *c);
/* Sends a line (newline added). 0 or -errno. */
int tclient_send(struct tclient *c, const char *line);
/* Sends raw bytes. */
int tclient_send_raw(struct tclient *c, const void *buf, size_t n);
/* Next line as a NUL-terminated string (valid until the next call); NULL on timeout or
 * EOF (*eof set when given). */
const char *tclient_line(struct tclient *c, int timeout_ms, bool *eof);
/* Next object parsed; NULL on timeout/EOF. Caller deletes. */
cJSON *tclient_obj(struct tclient *c, int timeout_ms);
/* Next object of class cls (others skipped); NULL on timeout. */
cJSON *tclient_wait(struct tclient *c, const char *cls, int timeout_ms);
/* Next object of class cls whose member key equals the string val. */
cJSON *tclient_wait_str(struct tclient *c, const char *cls, const char *key, const char *val,
			int timeout_ms);
/* Connects, checks VERSION, optionally sends watch_line and waits for its ACK. */
int tclient_open(struct tclient *c, const char *path, const char *watch_line);
/* Convenience accessors. */
const char *j_str(const cJSON *o, const char *key);
double j_num(const cJSON *o, const char *key);
/* Fills a sockaddr_un with path; false if it does not fit. */
struct sockaddr_un;
bool h_sun(struct sockaddr_un *a, const char *path);
/* Monotonic ms. */
uint64_t h_now_ms(void);

#endif
