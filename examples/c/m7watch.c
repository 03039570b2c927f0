/* Example: a C client on libm7bridge. Watches frames and link states from m7bridged in a
 * poll() loop (the same pattern fits libevent, GLib or epoll) and prints them.
 * Usage: m7watch [-s SOCKET] [-p PORT] [-n COUNT] [-x] [-r RETRIES] */
/* getopt() and poll() are POSIX: declared also under a strict -std=c11 or c99. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <m7bridge/client.h>

/* The payload safe for a terminal: hex bytes, or text with control bytes escaped (a
 * capture's own "\n" must not become a blank line, nor raw bytes move the cursor). */
static void print_bytes(const uint8_t *p, size_t n, bool hex)
{
	if (hex) {
		for (size_t i = 0; i < n; i++)
			printf("%s%02x", i ? " " : "", p[i]);
		return;
	}
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			fputs("\\n", stdout);
		else if (p[i] == '\r')
			fputs("\\r", stdout);
		else if (p[i] == '\t')
			fputs("\\t", stdout);
		else if (p[i] == '\\' || p[i] == '"')
			printf("\\%c", p[i]);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	putchar('"');
}

/* Losses the daemon reports, on stderr: without them a client would not know that frames
 * went missing. DROPPED: this client read too slowly and the daemon dropped objects for
 * it. REPLAY_GAP (a class this library passes on by name): after a reconnect, frames the
 * daemon no longer held for the replay. */
static void report_loss(const struct m7b_event *ev)
{
	int64_t n = 0, total = 0;

	if (ev->type == M7B_EV_DROPPED && m7b_event_get_int(ev, "count", &n) == 0) {
		(void)m7b_event_get_int(ev, "total", &total);
		fprintf(stderr,
			"m7watch: %lld objects dropped by the daemon: this client fell behind "
			"(%lld in all)\n",
			(long long)n, (long long)total);
	} else if (ev->cls && strcmp(ev->cls, "REPLAY_GAP") == 0 &&
		   m7b_event_get_int(ev, "frames", &n) == 0) {
		const char *ch = m7b_event_get_string(ev, "channel");
		char *exact = m7b_event_get_json(ev, "exact"); /* false: at least n */

		fprintf(stderr, "m7watch: %s%lld frames of %s were lost while disconnected\n",
			exact && strcmp(exact, "true") == 0 ? "" : "at least ", (long long)n,
			ch ? ch : "?");
		free(exact);
	}
}

/* A whole number in min..max from an option, or false (so "-p abc" is not port 0). */
static bool parse_num(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return !errno && end != s && !*end && *out >= min && *out <= max;
}

/* The reason of a daemon that refused the connection (an ERROR without id among what
 * was received), or NULL. */
static const char *refusal(struct m7b_client *c)
{
	static char why[256];
	struct m7b_event *ev;
	const char *found = NULL;

	while (!found && m7b_client_next(c, &ev, 0) == 0) {
		if (ev->type == M7B_EV_ERROR && !ev->has_id) {
			snprintf(why, sizeof(why), "%s (%s)", ev->message ? ev->message : "?",
				 ev->code ? ev->code : "?");
			found = why;
		}
		m7b_event_free(ev);
	}
	return found;
}

/* Connects, trying up to `retries` times a second apart; 0 or the last negative errno. */
static int connect_retry(struct m7b_client *c, const char *path, int retries)
{
	const char *shown = path		     ? path
			    : getenv(M7B_SOCKET_ENV) ? getenv(M7B_SOCKET_ENV)
						     : M7B_DEFAULT_SOCKET;

	for (int i = 1;; i++) {
		int r = m7b_client_connect(c, path);

		if (r == 0)
			return 0;
		/* Trying again changes nothing: group membership counts from the next login. */
		if (r == -EACCES || r == -EPERM) {
			fprintf(stderr,
				"m7watch: no permission to open %s (%s): is your user in the "
				"daemon's socket group? (sudo usermod -aG m7bridge $USER, then log "
				"in again)\n",
				shown, strerror(-r));
			return r;
		}
		if (i >= retries) {
			fprintf(stderr,
				"m7watch: no m7bridged at %s after %d tries (%s); is it running?\n",
				shown, i, strerror(-r));
			return r;
		}
		fprintf(stderr, "m7watch: cannot connect (%s); try %d/%d, again in 1 s\n",
			strerror(-r), i, retries);
		sleep(1);
	}
}

int main(int argc, char **argv)
{
	const char *socket_path = NULL; /* NULL: $M7BRIDGE_SOCKET or the default */
	int port = -1, retries = 10, opt, r;
	long count = -1, frames = 0, v;
	bool hex = false;
	struct m7b_client *c;

	while ((opt = getopt(argc, argv, "s:p:n:xr:")) != -1) {
		/* What a Unix socket address holds: a longer path would fail every try. */
		if (opt == 's' && *optarg && strlen(optarg) <= 107)
			socket_path = optarg;
		else if (opt == 'p' && parse_num(optarg, 0, 255, &v))
			port = (int)v;
		else if (opt == 'n' && parse_num(optarg, 1, 1000000000, &v))
			count = v;
		else if (opt == 'x')
			hex = true;
		else if (opt == 'r' && parse_num(optarg, 1, 1000000, &v))
			retries = (int)v;
		else
			return fprintf(stderr,
				       "usage: %s [-s SOCKET] [-p PORT] [-n COUNT] [-x] [-r "
				       "RETRIES]\n(SOCKET: a path of 1..107 bytes; PORT: 0..255; "
				       "COUNT, RETRIES: from 1)\n",
				       argv[0]),
			       2;
	}

	c = m7b_client_new();
	if (!c)
		return fprintf(stderr, "m7watch: out of memory\n"), 1;
	/* Ask for frames (of one port, if given) and state changes. */
	const char *classes[] = {"FRAME", "STATE"};
	struct m7b_watch w = {.classes = classes, .nclasses = 2};

	if (port >= 0) {
		w.ports = &port;
		w.nports = 1;
	}
	/* Each (re)connection asks again: the daemon keeps no state for a client gone. */
	while (count < 0 || frames < count) {
		if (!m7b_client_connected(c)) {
			if (connect_retry(c, socket_path, retries) < 0) {
				m7b_client_free(c);
				return 69;
			}
			r = m7b_client_watch(c, &w);
			if (r == -EREMOTEIO) {
				fprintf(stderr, "m7watch: watch refused: %s\n",
					m7b_client_error(c)->message);
				m7b_client_free(c);
				return 1;
			}
			if (r < 0) {
				/* A daemon with no slot for us says why (an ERROR without id,
				 * right after VERSION) and closes: say it, and try again, a
				 * slot may free up. Else it went away before answering (it is
				 * restarting): like any lost connection, try again. */
				const char *why = refusal(c);

				if (why)
					fprintf(stderr,
						"m7watch: m7bridged refused the connection: %s; "
						"reconnecting\n",
						why);
				else
					fprintf(stderr, "m7watch: watch: %s; reconnecting\n",
						m7b_client_error(c)->message);
				m7b_client_close(c);
				sleep(1);
				continue;
			}
		}

		struct pollfd pfd = {.fd = m7b_client_fd(c), .events = POLLIN};
		struct m7b_event *ev;

		/* Sleep until the daemon sends something, unless lines are already buffered. */
		if (!m7b_client_pending(c) && poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		/* Drain everything that arrived without blocking. A bad line is skipped,
		 * and said: what it carried is lost. */
		while ((r = m7b_client_next(c, &ev, 0)) == 0 || r == -EBADMSG) {
			if (r == -EBADMSG) {
				fprintf(stderr, "m7watch: skipped a bad line: %s\n",
					m7b_client_error(c)->message);
				continue;
			}
			if (ev->type == M7B_EV_FRAME) {
				printf("frame %s/%d seq %lld: %zu bytes: ",
				       ev->channel ? ev->channel : "?", ev->port,
				       (long long)ev->seq, ev->data_len);
				print_bytes(ev->data, ev->data_len, hex);
				putchar('\n');
				frames++;
			} else if (ev->type == M7B_EV_STATE) {
				printf("state %s: %s (%s)\n", ev->channel ? ev->channel : "?",
				       ev->state ? ev->state : "?", ev->reason ? ev->reason : "");
			} else {
				report_loss(ev);
			}
			m7b_event_free(ev);
			fflush(stdout);
			if (count >= 0 && frames >= count)
				break;
		}
		if (r < 0 && r != -EAGAIN && r != -EBADMSG) {
			fprintf(stderr, "m7watch: %s; reconnecting in 1 s\n",
				m7b_client_error(c)->message);
			m7b_client_close(c);
			/* A daemon that closes each connection at once must not be hammered. */
			sleep(1);
		}
	}
	m7b_client_free(c);
	return 0;
}
