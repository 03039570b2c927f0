/* m7bridge-exporter: the metric model (fed by daemon objects) and its text rendering. */
#ifndef M7B_EXPORTER_METRICS_H
#define M7B_EXPORTER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define MX_NAME	  64
#define MX_LABELS 2048 /* one label set, escaped: a 458-byte firmware name and more */
#define MX_HBUCK  12

/* FRAMEs seen per channel and port (from the exporter's own watch). */
struct mx_port {
	char channel[MX_NAME], name[MX_NAME];
	int port;
	uint64_t frames, bytes;
};

/* FAULT counts per channel, kind and source (the daemon's running count). */
struct mx_fault {
	char channel[MX_NAME], kind[MX_NAME], source[16];
	uint64_t count;
};

/* A firmware counter from the latest HEARTBEAT of a channel. */
struct mx_hb {
	char channel[MX_NAME], name[32];
	uint64_t value;
};

/* Recovery steps taken, by channel, step, cause and result (from closed incidents). */
struct mx_step {
	char channel[MX_NAME], step[24], cause[MX_NAME], result[16];
	uint64_t count;
};

/* Recovery durations of closed incidents, per channel. */
struct mx_hist {
	char channel[MX_NAME];
	uint64_t bucket[MX_HBUCK]; /* cumulative counts per mx_hist_bounds */
	uint64_t count;
	double sum;
};

/* Per-channel counts of M7 boots (HELLO with new_boot). */
struct mx_boot {
	char channel[MX_NAME];
	uint64_t boots;
};

/* Everything learnt from the stream and incidents; plain arrays, grown on demand. */
struct mx_model {
	struct mx_port *ports;
	size_t nports;
	struct mx_fault *faults;
	size_t nfaults;
	struct mx_hb *hbs;
	size_t nhbs;
	struct mx_step *steps;
	size_t nsteps;
	struct mx_hist *hists;
	size_t nhists;
	struct mx_boot *boots;
	size_t nboots;
	int64_t last_incident; /* highest closed incident seq counted */
	/* The daemon the incidents come from: its pid and uptime at the last STATUS, and
	 * when a restart was seen, the wall-clock time it started (incidents that started
	 * before were the old daemon's, perhaps kept on disk). */
	int daemon_pid;
	double daemon_uptime_ms;
	bool restarted;
	double restart_us;
	uint64_t dropped;    /* streamed objects the daemon dropped for us (DROPPED) */
	uint64_t reconnects; /* connections to the daemon after the first */
};

/* The daemon process, read from /proc. */
struct mx_proc {
	bool known;
	int pid;
	double cpu_seconds;
	uint64_t rss_bytes;
};

/* A growable text buffer. */
struct mx_buf {
	char *s;
	size_t len, cap;
	bool oom;
};

/* Upper bounds of the recovery duration histogram, in seconds. */
extern const double mx_hist_bounds[MX_HBUCK];

/* Updates the model from one streamed object (FRAME, FAULT, HEARTBEAT, HELLO, DROPPED).
 * Returns 0, or -ENOMEM. Unknown classes are ignored. */
int mx_model_apply(struct mx_model *m, const cJSON *obj);
/* The daemon's pid (<= 0: unknown) and uptime_ms (< 0: unknown) from a STATUS taken at
 * now_us (wall clock): a new pid or an uptime that went back is a restarted daemon, whose
 * incidents are numbered anew unless kept on disk. */
void mx_model_daemon(struct mx_model *m, int pid, double uptime_ms, double now_us);
/* Counts each closed incident of an INCIDENTS reply once (by seq). Returns 0 or -ENOMEM. */
int mx_model_incidents(struct mx_model *m, const cJSON *incidents);
/* Frees the arrays; the model is empty afterwards. */
void mx_model_clear(struct mx_model *m);

/* Renders the exposition: status may be NULL (daemon unreachable). openmetrics selects
 * OpenMetrics 1.0 text (with # EOF) instead of Prometheus text 0.0.4. */
int mx_render(const struct mx_model *m, const cJSON *status, const struct mx_proc *proc,
	      bool openmetrics, struct mx_buf *out);

/* Reads the CPU time and RSS of pid under proc_root ("/proc"). Returns 0 or -errno. */
int mx_proc_read(const char *proc_root, int pid, struct mx_proc *out);

/* Appends formatted text; sets oom on failure. */
void mx_buf_printf(struct mx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees the text. */
void mx_buf_free(struct mx_buf *b);

#endif
