/* m7bridge-exporter: serves m7bridged's health as Prometheus/OpenMetrics text over HTTP. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "m7bridge/client.h"
#include "config.h"
#include "deadline.h"
#include "follow.h"
#include "metrics.h"

#define DEFAULT_LISTEN "127.0.0.1:9687"
/* How long a connection may take to bring a whole request, however it trickles it. */
#define REQUEST_S 10

struct exporter {
	struct event_base *base;
	struct evhttp *http;
	struct deadline *deadline;
	struct event *ev_textfile, *ev_sigint, *ev_sigterm, *ev_sighup;
	struct follow *follow;
	struct m7b_watch watch;
	const char *socket, *textfile;
	bool watch_frames;
	int interval_s;
	/* A call went unanswered: no more calls (each would hold the loop, and every
	 * scrape queued behind it, for the call's timeout) until the daemon sends again. */
	bool unanswered;
	struct mx_model model;
};

/* Every streamed object updates the model (FRAME, HELLO, HEARTBEAT, FAULT, DROPPED). */
static void exporter_on_event(void *arg, const struct m7b_event *ev)
{
	struct exporter *x = arg;
	cJSON *o = cJSON_ParseWithLength(ev->line, ev->line_len);

	if (x->unanswered)
		fprintf(stderr, "m7bridge-exporter: m7bridged answers again\n");
	x->unanswered = false; /* the daemon is alive: the late reply, or any object */
	if (o && mx_model_apply(&x->model, o) < 0)
		fprintf(stderr, "m7bridge-exporter: out of memory\n");
	cJSON_Delete(o);
}

static void exporter_on_up(void *arg, unsigned long reconnects)
{
	((struct exporter *)arg)->model.reconnects = reconnects;
	((struct exporter *)arg)->unanswered = false;
}

/* Whether pid is an m7bridged process, by its /proc comm: a stale or foreign pid must not
 * lend its CPU and memory to the daemon's metrics. */
static bool is_m7bridged(int pid)
{
	char path[64], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strcmp(comm, "m7bridged\n") == 0;
}

/* The daemon's pid: STATUS's "pid" when the daemon gives it, else the socket's peer
 * credentials (no privilege needed). Those name the process that called listen(): with
 * socket activation that is systemd (PID 1), not the daemon. Either counts only if it
 * names m7bridged. */
static int daemon_pid(struct exporter *x, const cJSON *status)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(status, "pid");
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd = m7b_client_fd(follow_client(x->follow));

	if (cJSON_IsNumber(p) && p->valuedouble >= 1 && p->valuedouble <= INT32_MAX &&
	    p->valuedouble == (double)(int)p->valuedouble)
		return is_m7bridged((int)p->valuedouble) ? (int)p->valuedouble : -1;
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -1;
	return is_m7bridged(cr.pid) ? cr.pid : -1;
}

/* STATUS and INCIDENTS now, then the text. A synchronous call: a scrape every few
 * seconds costs one round trip on a local socket; streamed objects that arrive
 * meanwhile are kept by the library and drained afterwards. */
static int render(struct exporter *x, bool om, struct mx_buf *out)
{
	struct m7b_event *st = NULL, *inc = NULL;
	cJSON *status = NULL;
	struct mx_proc proc = {0};
	struct m7b_client *c = follow_client(x->follow);

	int r = follow_up(x->follow) && !x->unanswered ? m7b_client_status(c, &st) : -ENOTCONN;

	if (r == 0) {
		status = cJSON_ParseWithLength(st->line, st->line_len);
		int pid = daemon_pid(x, status);

		if (pid > 0)
			(void)mx_proc_read("/proc", pid, &proc);
		const cJSON *up = cJSON_GetObjectItemCaseSensitive(status, "uptime_ms");
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		mx_model_daemon(&x->model, pid, cJSON_IsNumber(up) ? up->valuedouble : -1,
				(double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3);
		r = m7b_client_incidents(c, NULL, &inc);
		if (r == 0) {
			cJSON *o = cJSON_ParseWithLength(inc->line, inc->line_len);

			if (o)
				(void)mx_model_incidents(&x->model, o);
			cJSON_Delete(o);
		}
	}
	if (r == -ETIMEDOUT) {
		fprintf(stderr,
			"m7bridge-exporter: m7bridged did not answer in time: m7bridge_up 0 "
			"until it sends again\n");
		x->unanswered = true;
	}
	r = mx_render(&x->model, status, &proc, om, out);

	cJSON_Delete(status);
	m7b_event_free(st);
	m7b_event_free(inc);
	follow_drain(x->follow);
	return r;
}

static void exporter_on_http(struct evhttp_request *req, void *arg)
{
	struct exporter *x = arg;
	const char *uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq *out_h = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evbuffer_new();

	deadline_touch(x->deadline,
		       evhttp_connection_get_bufferevent(evhttp_request_get_connection(req)));
	if (!body) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(out_h, "Allow", "GET, HEAD");
		evhttp_send_error(req, 405, "Method Not Allowed");
	} else if (strcmp(uri, "/metrics") == 0 || strncmp(uri, "/metrics?", 9) == 0) {
		const char *accept =
			evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
		bool om = accept && strstr(accept, "application/openmetrics-text");
		struct mx_buf b = {0};

		if (render(x, om, &b) < 0) {
			evhttp_send_error(req, HTTP_INTERNAL, NULL);
		} else {
			evhttp_add_header(out_h, "Content-Type",
					  om ? "application/openmetrics-text; version=1.0.0; "
					       "charset=utf-8"
					     : "text/plain; version=0.0.4; charset=utf-8");
			evbuffer_add(body, b.s, b.len);
			evhttp_send_reply(req, HTTP_OK, "OK", body);
		}
		mx_buf_free(&b);
	} else if (strcmp(uri, "/") == 0) {
		evhttp_add_header(out_h, "Content-Type", "text/plain; charset=utf-8");
		evbuffer_add_printf(body, "m7bridge-exporter %s: metrics at /metrics\n",
				    M7B_VERSION);
		evhttp_send_reply(req, HTTP_OK, "OK", body);
	} else {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
	}
	evbuffer_free(body);
}

/* Writes the text to path.tmp and renames it over path, so a scrape never sees half a
 * file. 0, or -errno; a failed write leaves no temp file and holds no descriptor. */
static int exporter_write_file(const char *path, const struct mx_buf *b)
{
	char tmp[4096];
	FILE *f;
	int r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	errno = EIO; /* a short write need not say why */
	if (fwrite(b->s, 1, b->len, f) != b->len)
		r = -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* node_exporter's textfile collector reads *.prom. */
static void exporter_on_textfile(evutil_socket_t fd, short what, void *arg)
{
	struct exporter *x = arg;
	struct mx_buf b = {0};
	int r;

	if (render(x, false, &b) == 0 && (r = exporter_write_file(x->textfile, &b)) < 0)
		fprintf(stderr, "m7bridge-exporter: cannot write %s: %s\n", x->textfile,
			strerror(-r));
	mx_buf_free(&b);
}

/* accept() failed. Out of file descriptors (too many scrapers at once), it would fail
 * again at once, and libevent would call it again at once: a busy loop that logs each
 * failure. Accepting pauses for a second instead, and the failure is said once. */
static void exporter_on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	evconnlistener_enable(arg);
}

static void exporter_on_accept_error(struct evconnlistener *l, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {1, 0};

	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
		return; /* a connection that went away before it was accepted */
	fprintf(stderr, "m7bridge-exporter: cannot accept connections: %s; pausing 1 s\n",
		strerror(e));
	/* Disabled, the listener reports nothing more until the timer enables it again. */
	evconnlistener_disable(l);
	if (event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT, exporter_on_accept_resume,
			    l, &tv) < 0)
		evconnlistener_enable(l);
}

/* The HTTP socket, as evhttp_bind_socket() makes it, but with an accept error handler. */
static struct evhttp_bound_socket *exporter_listen(struct exporter *x, const char *host,
						   unsigned short port)
{
	struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
					.ai_socktype = SOCK_STREAM,
					.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG},
			       *ai = NULL;
	struct evconnlistener *l;
	char ps[8];

	snprintf(ps, sizeof(ps), "%u", port);
	if (evutil_getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) {
		errno = EADDRNOTAVAIL;
		return NULL;
	}
	l = evconnlistener_new_bind(x->base, NULL, NULL,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					    LEV_OPT_CLOSE_ON_EXEC,
				    128, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (!l)
		return NULL;
	struct evhttp_bound_socket *bs = evhttp_bind_listener(x->http, l);

	if (!bs) {
		evconnlistener_free(l);
		return NULL;
	}
	/* After evhttp_bind_listener, which sets its own accept callback; evhttp_free()
	 * frees the listener. */
	evconnlistener_set_error_cb(l, exporter_on_accept_error);
	return bs;
}

static void exporter_on_signal(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(((struct exporter *)arg)->base, NULL);
}

/* SIGHUP (a reload, or a closed terminal) would end the process by default. The
 * exporter has no configuration file, only options, so there is nothing to reload. */
static void exporter_on_sighup(evutil_socket_t fd, short what, void *arg)
{
	fprintf(stderr, "m7bridge-exporter: SIGHUP ignored: no configuration to reload "
			"(options apply at start)\n");
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (all addresses) into host and port. */
static int parse_listen(const char *s, char *host, size_t n, unsigned short *port)
{
	const char *colon = strrchr(s, ':');
	char *end;

	if (!colon)
		return -EINVAL;
	long p = strtol(colon + 1, &end, 10);

	if (*end || end == colon + 1 || p < 0 || p > 65535)
		return -EINVAL;
	size_t hl = (size_t)(colon - s);

	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= n)
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (!hl)
		snprintf(host, n, "::");
	*port = (unsigned short)p;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: m7bridge-exporter [OPTIONS]\n"
		"Serves m7bridged's health as Prometheus/OpenMetrics text.\n"
		"  -s, --socket PATH      daemon socket (default $%s or %s)\n"
		"  -l, --listen ADDR:PORT HTTP address (default %s; 'none' = no HTTP)\n"
		"  -f, --textfile PATH    also write node_exporter textfile PATH (*.prom)\n"
		"  -i, --interval SEC     textfile period (default 15)\n"
		"      --no-frames        do not watch FRAMEs (no per-port metrics, less load)\n"
		"  -h, --help             this text\n"
		"  -V, --version          print the version\n",
		M7B_SOCKET_ENV, M7B_DEFAULT_SOCKET, DEFAULT_LISTEN);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
					     {"listen", required_argument, NULL, 'l'},
					     {"textfile", required_argument, NULL, 'f'},
					     {"interval", required_argument, NULL, 'i'},
					     {"no-frames", no_argument, NULL, 'F'},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {NULL, 0, NULL, 0}};
	static const char *const classes[] = {"FRAME", "HELLO", "HEARTBEAT", "FAULT"};
	struct exporter x = {.watch_frames = true, .interval_s = 15};
	const char *listen = DEFAULT_LISTEN;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "s:l:f:i:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			x.socket = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'f':
			x.textfile = optarg;
			break;
		case 'i': {
			char *end;

			errno = 0;
			long v = strtol(optarg, &end, 10);

			/* "5x" or "99999999999" must not pass for some other period. */
			if (errno || end == optarg || *end || v <= 0 || v > 86400) {
				fprintf(stderr,
					"m7bridge-exporter: --interval needs whole seconds "
					"1..86400, got '%s'\n",
					optarg);
				return 2;
			}
			x.interval_s = (int)v;
			break;
		}
		case 'F':
			x.watch_frames = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("m7bridge-exporter %s\n", M7B_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	bool http = strcmp(listen, "none") != 0;
	char host[128];
	unsigned short port = 0;

	if (http && parse_listen(listen, host, sizeof(host), &port) < 0) {
		fprintf(stderr, "m7bridge-exporter: bad --listen '%s' (HOST:PORT)\n", listen);
		return 2;
	}
	if (!http && !x.textfile) {
		fprintf(stderr, "m7bridge-exporter: nothing to do: give --listen or --textfile\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	x.watch = (struct m7b_watch){.classes = classes + (x.watch_frames ? 0 : 1),
				     .nclasses = x.watch_frames ? 4 : 3,
				     .policy = "drop"};
	x.base = event_base_new();
	x.follow = x.base ? follow_new(x.base, "m7bridge-exporter", x.socket, &x.watch,
				       exporter_on_event, exporter_on_up, &x)
			  : NULL;
	x.ev_sigint = x.base ? evsignal_new(x.base, SIGINT, exporter_on_signal, &x) : NULL;
	x.ev_sigterm = x.base ? evsignal_new(x.base, SIGTERM, exporter_on_signal, &x) : NULL;
	x.ev_sighup = x.base ? evsignal_new(x.base, SIGHUP, exporter_on_sighup, &x) : NULL;
	if (!x.base || !x.follow || !x.ev_sigint || !x.ev_sigterm || !x.ev_sighup) {
		fprintf(stderr, "m7bridge-exporter: out of memory\n");
		goto out;
	}
	event_add(x.ev_sigint, NULL);
	event_add(x.ev_sigterm, NULL);
	event_add(x.ev_sighup, NULL);
	if (http) {
		struct evhttp_bound_socket *bs;

		x.http = evhttp_new(x.base);
		x.deadline = deadline_new(x.base, REQUEST_S * 1000);
		if (!x.http || !x.deadline)
			goto out;
		evhttp_set_bevcb(x.http, deadline_bevcb, x.deadline);
		/* Every method reaches the handler, which answers 405 with Allow to all
		 * but GET and HEAD (libevent would answer 501 to those not listed). */
		evhttp_set_allowed_methods(
			x.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
					EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
					EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
		evhttp_set_max_headers_size(x.http, 16384);
		evhttp_set_max_body_size(x.http, 0);
		evhttp_set_timeout(x.http, REQUEST_S);
		evhttp_set_gencb(x.http, exporter_on_http, &x);
		bs = exporter_listen(&x, host, port);
		if (!bs) {
			fprintf(stderr, "m7bridge-exporter: cannot listen on %s: %s\n", listen,
				strerror(errno));
			goto out;
		}
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char addr[INET6_ADDRSTRLEN] = "?";

		if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
			if (ss.ss_family == AF_INET6) {
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr,
					  sizeof(addr));
				port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
			} else {
				inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr,
					  sizeof(addr));
				port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
			}
		}
		/* The port line lets tests (and scripts) use --listen 127.0.0.1:0. */
		printf("m7bridge-exporter: listening on %s port %u\n", addr, port);
		fflush(stdout);
	}
	if (x.textfile) {
		struct timeval tv = {x.interval_s, 0};

		x.ev_textfile = event_new(x.base, -1, EV_PERSIST, exporter_on_textfile, &x);
		if (!x.ev_textfile)
			goto out;
		event_add(x.ev_textfile, &tv);
	}
	if (x.textfile)
		exporter_on_textfile(-1, 0, &x);
	event_base_dispatch(x.base);
	rc = 0;
out:
	x.follow = follow_free(x.follow);
	if (x.ev_textfile)
		event_free(x.ev_textfile);
	if (x.ev_sigint)
		event_free(x.ev_sigint);
	if (x.ev_sigterm)
		event_free(x.ev_sigterm);
	if (x.ev_sighup)
		event_free(x.ev_sighup);
	if (x.http)
		evhttp_free(x.http);
	x.deadline = deadline_free(x.deadline); /* after the connections it watches */
	mx_model_clear(&x.model);
	if (x.base)
		event_base_free(x.base);
	return rc;
}
