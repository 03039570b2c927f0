/* Example: a C client on libm7bridge. Watches frames and link states from m7bridged in a
 * poll() loop (the same pattern fits libevent, GLib or epoll) and prints them.
 * Usage: m7watch [-s SOCKET] [-p PORT] [-n COUNT] */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <m7bridge/client.h>

int main(int argc, char **argv)
{
	const char *socket_path = NULL; /* NULL: $M7BRIDGE_SOCKET or the default */
	int port = -1, opt, r;
	long count = -1, frames = 0;
	struct m7b_client *c;

	while ((opt = getopt(argc, argv, "s:p:n:")) != -1) {
		if (opt == 's')
			socket_path = optarg;
		else if (opt == 'p')
			port = atoi(optarg);
		else if (opt == 'n')
			count = atol(optarg);
		else
			return fprintf(stderr, "usage: %s [-s SOCKET] [-p PORT] [-n COUNT]\n",
				       argv[0]),
			       2;
	}

	c = m7b_client_new();
	if (!c || m7b_client_connect(c, socket_path) < 0) {
		fprintf(stderr, "m7watch: %s\n", c ? m7b_client_error(c)->message : "no memory");
		m7b_client_free(c);
		return 69;
	}
	/* Ask for frames (of one port, if given) and state changes. */
	const char *classes[] = {"FRAME", "STATE"};
	struct m7b_watch w = {.classes = classes, .nclasses = 2};

	if (port >= 0) {
		w.ports = &port;
		w.nports = 1;
	}
	r = m7b_client_watch(c, &w);
	if (r < 0) {
		fprintf(stderr, "m7watch: watch: %s\n", m7b_client_error(c)->message);
		m7b_client_free(c);
		return 1;
	}

	while (count < 0 || frames < count) {
		struct pollfd pfd = {.fd = m7b_client_fd(c), .events = POLLIN};
		struct m7b_event *ev;

		/* Sleep until the daemon sends something, unless lines are already buffered. */
		if (!m7b_client_pending(c) && poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		/* Drain everything that arrived without blocking. */
		while ((r = m7b_client_next(c, &ev, 0)) == 0) {
			if (ev->type == M7B_EV_FRAME) {
				printf("frame %s/%d seq %lld: %zu bytes: %.*s\n", ev->channel,
				       ev->port, (long long)ev->seq, ev->data_len,
				       (int)ev->data_len, (const char *)ev->data);
				frames++;
			} else if (ev->type == M7B_EV_STATE) {
				printf("state %s: %s (%s)\n", ev->channel, ev->state, ev->reason);
			}
			m7b_event_free(ev);
			fflush(stdout);
			if (count >= 0 && frames >= count)
				break;
		}
		if (r < 0 && r != -EAGAIN && r != -EBADMSG) {
			fprintf(stderr, "m7watch: %s\n", m7b_client_error(c)->message);
			m7b_client_free(c);
			return 69;
		}
	}
	m7b_client_free(c);
	return 0;
}
