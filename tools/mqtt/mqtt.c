/* m7bridge-mqtt: publishes m7bridged's frames, states, faults and incidents to an MQTT broker. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <mosquitto.h>

#include "m7bridge/client.h"
#include "config.h"
#include "follow.h"
#include "mqtt_conf.h"

#define TOPIC_MAX    512
#define MAX_COMMANDS 64
#define MAX_PENDING  64
/* Channels whose latest STATE and FAULT are kept, to publish again under new topics. */
#define MAX_RETAINED 64
/* How long a stop waits for the broker to take what is queued: 2 s. */
#define DRAIN_STEPS   20
#define DRAIN_STEP_US 100000
/* A connection the broker ends sooner than this after accepting it does not reset the
 * reconnect backoff: the next one would likely end alike (another client taking the
 * session over with the same client id, a broker that drops what it accepted). */
#define STABLE_MS 10000

/* A message waiting for the broker. */
struct msg {
	char *topic;
	void *payload;
	int len;
	bool retain;
};

/* A send that arrived on the command topic (from libmosquitto's thread). */
struct command {
	char channel[64];
	int port;
	uint8_t data[M7B_LINE_MAX / 2];
	size_t len;
};

/* A channel's latest retained objects, as the daemon sent them. */
struct retained {
	char channel[64];
	char *line[2]; /* STATE, FAULT */
};

/* A send forwarded to the daemon, waiting for its ACK or ERROR. */
struct pending {
	int64_t id;
	char channel[64];
	int port;
};

struct bridge {
	struct mqc conf;
	struct mqc next; /* the configuration a reload applies */
	struct event_base *base;
	struct event *ev_wake, *ev_stats, *ev_inc, *ev_int, *ev_term, *ev_hup, *ev_broker;
	int broker_retry_s; /* next delay of a first connect that failed */
	pthread_t net;	    /* the network thread, once the first connect got under way */
	bool net_started;
	bool failed;  /* the loop ended for a set-up failure, not a signal: exit status 1 */
	bool restart; /* the loop ended for a reload: apply the new file and go on */
	bool stop;    /* SIGTERM or SIGINT */
	/* Where the configuration comes from, for a reload. */
	const char *conf_file, *sock_opt;
	bool conf_named;
	struct mosquitto *mosq;
	struct follow *follow;
	struct m7b_watch watch;
	int wake_fd;
	char cmd_prefix[TOPIC_MAX]; /* prefix/node/ */

	/* Shared with libmosquitto's thread, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t net_wake; /* ends the network thread's backoff at a stop */
	bool connected, ever_connected, dropping;
	bool connack;  /* a connection was accepted since the network thread last looked */
	int refused;   /* the broker's last refusal (CONNACK code), said once until it accepts */
	bool stopping; /* the network thread ends once the DISCONNECT is out */
	struct msg *q; /* ring of conf.queue_max */
	size_t qhead, qlen;
	/* Messages handed to libmosquitto and not yet acknowledged (QoS 1, 2) or, at QoS 0,
	 * not yet written to the connection: libmosquitto's own queue has no bound. */
	long inflight;
	/* The bridge's own status messages (online, stats) in libmosquitto: their
	 * on_publish must not be taken for a frame's. */
	int ctl_mids[8];
	size_t nctl;
	int stats_mid; /* the stats message not yet written, 0 if none */
	uint64_t published, dropped, reconnects;
	struct command cmds[MAX_COMMANDS];
	size_t ncmds;

	/* Main thread only. */
	uint64_t daemon_dropped;
	struct pending pend[MAX_PENDING];
	int64_t incidents_id, last_incident;
	struct retained ret[MAX_RETAINED];
	size_t nret;
};

static void wake(struct bridge *b)
{
	uint64_t one = 1;

	(void)!write(b->wake_fd, &one, sizeof(one));
}

/* --- toward the broker ---------------------------------------------------------------- */

/* Hands one message to libmosquitto; called without the lock. Returns a MOSQ_ERR_. */
static int send_now(struct bridge *b, const char *topic, const void *p, int len, bool retain)
{
	pthread_mutex_lock(&b->lock);
	b->inflight++;
	pthread_mutex_unlock(&b->lock);
	int r = mosquitto_publish(b->mosq, NULL, topic, len, p, b->conf.qos, retain);

	pthread_mutex_lock(&b->lock);
	if (r != MOSQ_ERR_SUCCESS)
		b->inflight--;
	if (r == MOSQ_ERR_SUCCESS)
		b->published++;
	pthread_mutex_unlock(&b->lock);
	return r;
}

/* Queues a copy; false (and counted) when the bound is reached. Called with the lock. */
static bool enqueue(struct bridge *b, const char *topic, const void *p, int len, bool retain)
{
	size_t max = (size_t)b->conf.queue_max;

	if (b->qlen + (size_t)(b->inflight > 0 ? b->inflight : 0) >= max) {
		b->dropped++;
		if (!b->dropping)
			fprintf(stderr,
				"m7bridge-mqtt: queue full (%zu queued, %ld in flight): "
				"dropping until the broker takes messages again\n",
				b->qlen, b->inflight);
		b->dropping = true;
		return false;
	}
	struct msg *m = &b->q[(b->qhead + b->qlen) % max];

	m->topic = strdup(topic);
	m->payload = malloc(len > 0 ? (size_t)len : 1);
	if (!m->topic || !m->payload) {
		free(m->topic);
		free(m->payload);
		b->dropped++;
		return false;
	}
	memcpy(m->payload, p, (size_t)len);
	m->len = len;
	m->retain = retain;
	b->qlen++;
	return true;
}

/* Publishes in order: straight through while connected and nothing waits, else queued.
 * The bound covers queued and unacknowledged messages together, so memory stays bounded
 * however long the broker is away. */
static void publish(struct bridge *b, const char *topic, const void *p, int len, bool retain)
{
	pthread_mutex_lock(&b->lock);
	bool direct = b->connected && b->qlen == 0 && b->inflight < b->conf.queue_max;

	if (!direct) {
		enqueue(b, topic, p, len, retain);
		pthread_mutex_unlock(&b->lock);
		return;
	}
	pthread_mutex_unlock(&b->lock);
	if (send_now(b, topic, p, len, retain) != MOSQ_ERR_SUCCESS) {
		pthread_mutex_lock(&b->lock);
		enqueue(b, topic, p, len, retain);
		pthread_mutex_unlock(&b->lock);
	}
}

/* Moves queued messages to libmosquitto while connected. */
static void flush(struct bridge *b)
{
	size_t max = (size_t)b->conf.queue_max;

	pthread_mutex_lock(&b->lock);
	while (b->connected && b->qlen > 0 && b->inflight < b->conf.queue_max) {
		struct msg m = b->q[b->qhead];

		pthread_mutex_unlock(&b->lock);
		int r = send_now(b, m.topic, m.payload, m.len, m.retain);

		pthread_mutex_lock(&b->lock);
		if (r != MOSQ_ERR_SUCCESS)
			break; /* disconnected meanwhile: stays first in line */
		free(m.topic);
		free(m.payload);
		b->qhead = (b->qhead + 1) % max;
		b->qlen--;
	}
	if (b->qlen == 0)
		b->dropping = false;
	pthread_mutex_unlock(&b->lock);
}

/* Publishes one of the bridge's own status messages, outside the queue and its bound.
 * The lock is held across the publish: libmosquitto's thread may report it written
 * before mosquitto_publish returns, and must find its mid on the list by then (that
 * thread takes the lock only in callbacks, where it holds none of the mutexes a publish
 * takes). Returns its mid, or 0 if libmosquitto refused it. */
static int publish_control(struct bridge *b, const char *topic, const char *text, int qos,
			   bool stats)
{
	int mid = 0;

	pthread_mutex_lock(&b->lock);
	if (b->nctl < sizeof(b->ctl_mids) / sizeof(b->ctl_mids[0]) &&
	    mosquitto_publish(b->mosq, &mid, topic, (int)strlen(text), text, qos, true) ==
		    MOSQ_ERR_SUCCESS) {
		b->ctl_mids[b->nctl++] = mid;
		if (stats)
			b->stats_mid = mid;
	}
	pthread_mutex_unlock(&b->lock);
	return mid;
}

/* Takes mid off the list of status messages; false if it is not one. Under the lock. */
static bool control_done(struct bridge *b, int mid)
{
	for (size_t i = 0; i < b->nctl; i++) {
		if (b->ctl_mids[i] != mid)
			continue;
		b->ctl_mids[i] = b->ctl_mids[--b->nctl];
		if (b->stats_mid == mid)
			b->stats_mid = 0;
		return true;
	}
	return false;
}

static void topic(struct bridge *b, char *buf, const char *const *segs, size_t n)
{
	if (mqc_topic(&b->conf, buf, TOPIC_MAX, segs, n) < 0)
		snprintf(buf, TOPIC_MAX, "%s/invalid", b->conf.prefix);
}

/* --- libmosquitto callbacks (its thread) ---------------------------------------------- */

static void bridge_on_connect(struct mosquitto *mosq, void *arg, int rc)
{
	struct bridge *b = arg;
	char t[TOPIC_MAX + 16];
	const char *segs[] = {"bridge"};

	if (rc != 0) {
		pthread_mutex_lock(&b->lock);
		bool say = rc != b->refused;

		b->refused = rc;
		pthread_mutex_unlock(&b->lock);
		if (say)
			fprintf(stderr,
				"m7bridge-mqtt: broker refused the connection: %s; retrying\n",
				mosquitto_connack_string(rc));
		return;
	}
	pthread_mutex_lock(&b->lock);
	b->refused = 0;
	b->connected = true;
	b->connack = true;
	if (b->ever_connected)
		b->reconnects++;
	b->ever_connected = true;
	pthread_mutex_unlock(&b->lock);
	fprintf(stderr, "m7bridge-mqtt: connected to %s:%d\n", b->conf.host, b->conf.port);
	if (mqc_topic(&b->conf, t, sizeof(t), segs, 1) > 0)
		publish_control(b, t, "online", 1, false);
	snprintf(t, sizeof(t), "%s+/+/send", b->cmd_prefix);
	/* The persistent session keeps a subscription of an earlier run that allowed sends:
	 * without them it is taken back. */
	if (b->conf.allow_send)
		mosquitto_subscribe(mosq, NULL, t, 1);
	else
		mosquitto_unsubscribe(mosq, NULL, t);
	wake(b);
}

static void bridge_on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
	struct bridge *b = arg;

	long lost = 0;

	pthread_mutex_lock(&b->lock);
	/* A connect that failed (never accepted) is reported by bridge_net. */
	bool was = b->connected;

	b->connected = false;
	/* QoS 0 messages not yet written go with the connection (QoS 1 and 2 ones are sent
	 * again after the reconnect): counted as dropped. */
	if (b->conf.qos == 0) {
		lost = b->inflight;
		b->dropped += (uint64_t)lost;
		b->inflight = 0;
	}
	if (b->stats_mid)
		control_done(b, b->stats_mid);
	pthread_mutex_unlock(&b->lock);
	if (rc != 0 && was)
		fprintf(stderr,
			"m7bridge-mqtt: broker connection lost (%ld unsent messages dropped); "
			"reconnecting\n",
			lost);
}

static void bridge_on_publish(struct mosquitto *mosq, void *arg, int mid)
{
	struct bridge *b = arg;

	pthread_mutex_lock(&b->lock);
	if (!control_done(b, mid) && b->inflight > 0)
		b->inflight--;
	pthread_mutex_unlock(&b->lock);
	wake(b); /* room for queued messages */
}

/* A send refused before it reached the daemon: the result goes to TOPIC/result. */
static void refuse(struct bridge *b, const char *send_topic, const char *code, const char *why)
{
	char t[TOPIC_MAX + 16], js[256];

	if (snprintf(t, sizeof(t), "%s/result", send_topic) >= (int)sizeof(t))
		return; /* longer than any topic the bridge subscribes to */
	int n = snprintf(js, sizeof(js), "{\"ok\":false,\"code\":\"%s\",\"message\":\"%s\"}", code,
			 why);

	publish(b, t, js, n, false);
}

/* prefix/node/<channel>/<port>/send: queued for the main thread, which owns the daemon
 * connection. */
static void bridge_on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *m)
{
	struct bridge *b = arg;
	size_t pl = strlen(b->cmd_prefix);
	struct command c = {0};
	char *end;

	if (strncmp(m->topic, b->cmd_prefix, pl) != 0)
		return;
	const char *rest = m->topic + pl, *slash = strchr(rest, '/');
	long port = -1;

	if (slash && (size_t)(slash - rest) < sizeof(c.channel)) {
		memcpy(c.channel, rest, (size_t)(slash - rest));
		errno = 0;
		port = strtol(slash + 1, &end, 10);
		/* Only the number as the result's topic spells it ("1", not "01" or "+1"):
		 * the sender looks for the result under the topic it used. */
		if (errno || end == slash + 1 || strcmp(end, "/send") != 0 ||
		    !isdigit((unsigned char)slash[1]) || (slash[1] == '0' && end != slash + 2))
			port = -1;
	}
	/* Every send gets a result, refusals included: the sender must never wonder. */
	if (m->retain) {
		refuse(b, m->topic, "retained",
		       "a retained send is refused: it would be sent again at every reconnect");
		return;
	}
	if (port < 0 || port > 255) {
		refuse(b, m->topic, "bad_value",
		       "expected PREFIX/HOST/CHANNEL/PORT/send with PORT 0..255");
		return;
	}
	if (m->payloadlen < 0 || (size_t)m->payloadlen > sizeof(c.data)) {
		refuse(b, m->topic, "bad_value", "payload too long");
		return;
	}
	c.port = (int)port;
	if (m->payloadlen > 0) /* an empty message has no payload pointer */
		memcpy(c.data, m->payload, (size_t)m->payloadlen);
	c.len = (size_t)m->payloadlen;
	pthread_mutex_lock(&b->lock);
	bool queued = b->ncmds < MAX_COMMANDS;

	if (queued)
		b->cmds[b->ncmds++] = c;
	pthread_mutex_unlock(&b->lock);
	if (!queued) {
		refuse(b, m->topic, "busy", "too many sends waiting; try again");
		return;
	}
	wake(b);
}

/* --- toward the daemon (main thread) -------------------------------------------------- */

static void send_result(struct bridge *b, const char *channel, int port, const char *json)
{
	char t[TOPIC_MAX], ps[8];

	snprintf(ps, sizeof(ps), "%d", port);
	const char *segs[] = {channel, ps, "send", "result"};

	topic(b, t, segs, 4);
	publish(b, t, json, (int)strlen(json), false);
}

static void run_commands(struct bridge *b)
{
	struct command *cmds = malloc(sizeof(b->cmds));
	size_t n;

	if (!cmds)
		return;
	pthread_mutex_lock(&b->lock);
	n = b->ncmds;
	memcpy(cmds, b->cmds, n * sizeof(*cmds));
	b->ncmds = 0;
	pthread_mutex_unlock(&b->lock);
	for (size_t i = 0; i < n; i++) {
		struct command *c = &cmds[i];
		struct m7b_request req = {.cmd = M7B_CMD_SEND,
					  .channel = c->channel,
					  .port = c->port,
					  .data = c->data,
					  .len = c->len};
		int64_t id;
		size_t k;

		if (!mqc_send_allowed(&b->conf, c->channel)) {
			send_result(
				b, c->channel, c->port,
				"{\"ok\":false,\"code\":\"forbidden\",\"message\":\"sends to "
				"this channel are not allowed by the bridge's configuration\"}");
			continue;
		}
		for (k = 0; k < MAX_PENDING && b->pend[k].id; k++)
			;
		if (k == MAX_PENDING || !follow_up(b->follow) ||
		    m7b_client_submit(follow_client(b->follow), &req, &id) < 0) {
			send_result(b, c->channel, c->port,
				    "{\"ok\":false,\"code\":\"busy\",\"message\":\"daemon not "
				    "reachable or too many sends in flight\"}");
			continue;
		}
		b->pend[k].id = id;
		b->pend[k].port = c->port;
		snprintf(b->pend[k].channel, sizeof(b->pend[k].channel), "%s", c->channel);
	}
	free(cmds);
}

static void on_reply(struct bridge *b, const struct m7b_event *ev)
{
	for (size_t k = 0; k < MAX_PENDING; k++) {
		if (!b->pend[k].id || b->pend[k].id != ev->id)
			continue;
		char json[512];

		if (ev->type == M7B_EV_ACK)
			snprintf(json, sizeof(json), "{\"ok\":true}");
		else
			snprintf(json, sizeof(json), "{\"ok\":false,\"code\":\"%s\"}",
				 ev->code ? ev->code : "error");
		send_result(b, b->pend[k].channel, b->pend[k].port, json);
		b->pend[k].id = 0;
		return;
	}
}

/* Publishes each incident once, when it has closed, in seq order. */
static void on_incidents(struct bridge *b, const struct m7b_event *ev)
{
	cJSON *root = cJSON_ParseWithLength(ev->line, ev->line_len), *inc;
	int64_t max = 0;

	cJSON_ArrayForEach(inc, cJSON_GetObjectItemCaseSensitive(root, "incidents"))
	{
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(inc, "seq");

		if (cJSON_IsNumber(s) && s->valuedouble > (double)max)
			max = (int64_t)s->valuedouble;
	}
	if (max < b->last_incident) /* the daemon restarted */
		b->last_incident = 0;
	cJSON_ArrayForEach(inc, cJSON_GetObjectItemCaseSensitive(root, "incidents"))
	{
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(inc, "seq");
		const cJSON *ch = cJSON_GetObjectItemCaseSensitive(inc, "channel");
		const cJSON *out = cJSON_GetObjectItemCaseSensitive(inc, "outcome");
		char t[TOPIC_MAX];

		if (!cJSON_IsNumber(s) || !cJSON_IsString(ch) || s->valuedouble <= b->last_incident)
			continue;
		if (cJSON_IsString(out) && strcmp(out->valuestring, "open") == 0)
			break;
		char *js = cJSON_PrintUnformatted(inc);
		const char *segs[] = {ch->valuestring, "incident"};

		topic(b, t, segs, 2);
		if (js)
			publish(b, t, js, (int)strlen(js), false);
		cJSON_free(js);
		b->last_incident = (int64_t)s->valuedouble;
	}
	cJSON_Delete(root);
}

static void ask_incidents(struct bridge *b)
{
	struct m7b_request req = {.cmd = M7B_CMD_INCIDENTS};

	struct m7b_client *c = follow_client(b->follow);

	if (follow_up(b->follow) && b->incidents_id == 0 &&
	    m7b_client_submit(c, &req, &b->incidents_id) < 0)
		b->incidents_id = 0;
}

/* Keeps a channel's latest STATE or FAULT (kind 0 or 1): a reload that changes the topics
 * publishes them again under the new ones, where new subscribers expect them retained. */
static void remember(struct bridge *b, const char *channel, int kind, const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < b->nret && strcmp(b->ret[i].channel, channel) != 0; i++)
		;
	if (i == b->nret) {
		if (i == MAX_RETAINED || strlen(channel) >= sizeof(b->ret[i].channel))
			return;
		snprintf(b->ret[i].channel, sizeof(b->ret[i].channel), "%s", channel);
		b->nret++;
	}
	char *copy = strndup(line, len);

	if (!copy)
		return;
	free(b->ret[i].line[kind]);
	b->ret[i].line[kind] = copy;
}

static void bridge_on_event(void *arg, const struct m7b_event *ev)
{
	struct bridge *b = arg;
	char t[TOPIC_MAX], ps[8];

	switch (ev->type) {
	case M7B_EV_FRAME: {
		snprintf(ps, sizeof(ps), "%d", ev->port);
		const char *segs[] = {ev->channel ? ev->channel : "?", ps, "frame"};

		topic(b, t, segs, 3);
		if (b->conf.payload == MQC_PAYLOAD_RAW)
			publish(b, t, ev->data, (int)ev->data_len, false);
		else
			publish(b, t, ev->line, (int)ev->line_len, false);
		break;
	}
	case M7B_EV_STATE:
	case M7B_EV_FAULT: {
		const char *segs[] = {ev->channel ? ev->channel : "?",
				      ev->type == M7B_EV_STATE ? "state" : "fault"};

		topic(b, t, segs, 2);
		publish(b, t, ev->line, (int)ev->line_len, true);
		if (ev->channel)
			remember(b, ev->channel, ev->type == M7B_EV_FAULT, ev->line, ev->line_len);
		if (ev->type == M7B_EV_FAULT)
			ask_incidents(b);
		break;
	}
	case M7B_EV_DROPPED: {
		int64_t n;

		if (m7b_event_get_int(ev, "count", &n) == 0 && n > 0)
			b->daemon_dropped += (uint64_t)n;
		break;
	}
	case M7B_EV_INCIDENTS:
		if (ev->has_id && ev->id == b->incidents_id) {
			b->incidents_id = 0;
			on_incidents(b, ev);
		}
		break;
	case M7B_EV_ACK:
	case M7B_EV_ERROR:
		if (ev->has_id && ev->id == b->incidents_id)
			b->incidents_id = 0;
		else if (ev->has_id)
			on_reply(b, ev);
		break;
	default:
		break;
	}
}

/* Sends forwarded on a daemon connection that is gone will not be answered. Each still
 * gets its result: the sender must not wait for one forever. */
static void fail_pending(struct bridge *b)
{
	for (size_t k = 0; k < MAX_PENDING; k++)
		if (b->pend[k].id)
			send_result(
				b, b->pend[k].channel, b->pend[k].port,
				"{\"ok\":false,\"code\":\"lost\",\"message\":\"the connection "
				"to the daemon was lost before it answered: the bytes may or may "
				"not have reached the M7\"}");
	memset(b->pend, 0, sizeof(b->pend));
}

/* A new daemon connection: requests sent on the old one will not be answered. */
static void bridge_on_up(void *arg, unsigned long reconnects)
{
	struct bridge *b = arg;

	b->incidents_id = 0;
	fail_pending(b);
	ask_incidents(b);
}

static void bridge_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct bridge *b = arg;
	uint64_t n;

	(void)!read(fd, &n, sizeof(n));
	flush(b);
	run_commands(b);
	follow_drain(b->follow); /* replies may have been buffered by a submit */
}

/* Retained prefix/node/bridge/stats: queue depth, drops, reconnects, for dashboards. */
static void bridge_on_stats(evutil_socket_t fd, short what, void *arg)
{
	struct bridge *b = arg;
	char t[TOPIC_MAX], js[512];
	const char *segs[] = {"bridge", "stats"};

	/* The daemon is gone: its answers to the sends in flight will not come. */
	if (!follow_up(b->follow))
		fail_pending(b);

	pthread_mutex_lock(&b->lock);
	/* One at a time: with a broker that stopped reading they would pile up unbounded. */
	bool connected = b->connected && !b->stats_mid;
	int n = snprintf(js, sizeof(js),
			 "{\"broker_connected\":%s,\"daemon_connected\":%s,\"queued\":%zu,"
			 "\"inflight\":%ld,\"published\":%" PRIu64 ",\"dropped\":%" PRIu64
			 ",\"daemon_dropped\":%" PRIu64 ",\"reconnects\":%" PRIu64 "}",
			 b->connected ? "true" : "false", follow_up(b->follow) ? "true" : "false",
			 b->qlen, b->inflight, b->published, b->dropped, b->daemon_dropped,
			 b->reconnects);
	pthread_mutex_unlock(&b->lock);
	/* Stale statistics are useless: they are not queued while the broker is away. */
	if (!connected)
		return;
	if (n < 0 || n >= (int)sizeof(js))
		return;
	topic(b, t, segs, 2);
	publish_control(b, t, js, 0, true);
}

static void bridge_on_incidents(evutil_socket_t fd, short what, void *arg)
{
	ask_incidents(arg);
}

static void bridge_on_signal(evutil_socket_t fd, short what, void *arg)
{
	struct bridge *b = arg;

	b->stop = true;
	event_base_loopexit(b->base, NULL);
}

/* --- the network thread ----------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits up to s seconds, or until the stop. Returns true at the stop. Under the lock. */
static bool net_backoff(struct bridge *b, int s)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += s;
	while (!b->stopping && pthread_cond_timedwait(&b->net_wake, &b->lock, &until) != ETIMEDOUT)
		;
	return b->stopping;
}

/* libmosquitto's own thread (mosquitto_loop_forever) gives up for good on errors it deems
 * fatal, such as a failed TLS handshake (a broker restarted with another certificate, or
 * a plain listener where TLS was expected): the bridge would then never reconnect, and
 * queue and drop without end. This loop retries every error with the configured backoff
 * until the stop, and says why once per streak of failures. */
static void *bridge_net(void *arg)
{
	struct bridge *b = arg;
	int delay = b->conf.reconnect_min_s, said = MOSQ_ERR_SUCCESS;
	bool accepted = false; /* the broker accepted the connection that just ended */
	int64_t stop_by = 0, accepted_at = 0;

	for (;;) {
		int r = mosquitto_loop(b->mosq, 1000, 1);
		int err = errno;

		pthread_mutex_lock(&b->lock);
		if (b->stopping && !stop_by)
			stop_by = now_ms() + DRAIN_STEPS * DRAIN_STEP_US / 1000;
		/* At a stop: once the DISCONNECT is out (the connection is gone), or after as
		 * long as the drain may take, if the broker does not take it. */
		if (b->stopping && (r != MOSQ_ERR_SUCCESS || now_ms() > stop_by)) {
			pthread_mutex_unlock(&b->lock);
			break;
		}
		if (b->connack) {
			b->connack = false;
			accepted = true;
			accepted_at = now_ms();
			said = MOSQ_ERR_SUCCESS;
		}
		if (r == MOSQ_ERR_SUCCESS) {
			pthread_mutex_unlock(&b->lock);
			continue;
		}
		/* A connection lost after it was accepted is reported by on_disconnect, a
		 * refused one by on_connect, a connect that failed at once below; any other
		 * end of a connection the broker never accepted here (the broker closing it
		 * during the TLS handshake, say, for want of a client certificate). */
		if (!accepted && r != MOSQ_ERR_NO_CONN && r != MOSQ_ERR_CONN_REFUSED && r != said) {
			fprintf(stderr,
				"m7bridge-mqtt: broker %s:%d: connection failed (%s); retrying "
				"(backoff %d..%d s)\n",
				b->conf.host, b->conf.port,
				r == MOSQ_ERR_ERRNO ? strerror(err) : mosquitto_strerror(r),
				b->conf.reconnect_min_s, b->conf.reconnect_max_s);
			said = r;
		}
		if (accepted && now_ms() - accepted_at >= STABLE_MS)
			delay = b->conf.reconnect_min_s;
		else if (accepted)
			fprintf(stderr,
				"m7bridge-mqtt: the broker ended the connection %.1f s after "
				"accepting "
				"it; next attempt in %d s (another client with client id %s?)\n",
				(double)(now_ms() - accepted_at) / 1e3, delay, b->conf.client_id);
		accepted = false;
		bool stop = net_backoff(b, delay);

		pthread_mutex_unlock(&b->lock);
		if (stop)
			continue; /* no connection: the check above ends the thread */
		delay = delay * 2 > b->conf.reconnect_max_s ? b->conf.reconnect_max_s : delay * 2;
		r = mosquitto_reconnect(b->mosq);
		if (r != MOSQ_ERR_SUCCESS && r != said) {
			fprintf(stderr,
				"m7bridge-mqtt: broker %s:%d not reachable (%s); retrying\n",
				b->conf.host, b->conf.port,
				r == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(r));
			said = r;
		}
	}
	return NULL;
}

/* The stop: the network thread writes what is queued and the DISCONNECT, then ends. */
static void bridge_net_stop(struct bridge *b)
{
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_cond_signal(&b->net_wake);
	pthread_mutex_unlock(&b->lock);
	mosquitto_disconnect(b->mosq);
	if (b->net_started)
		pthread_join(b->net, NULL);
	b->net_started = false;
}

/* --- set-up --------------------------------------------------------------------------- */

/* The first connect. libmosquitto's network thread retries only a connection that once
 * got as far as the socket: when the first connect fails at once (broker down, name not
 * resolved), that thread would wait forever. So it starts only once a connect got under
 * way; until then this retries from the event loop with the configured backoff. */
static int mqtt_connect_first(struct bridge *b)
{
	const struct mqc *c = &b->conf;
	int r = mosquitto_connect_async(b->mosq, c->host, c->port, c->keepalive_s);

	if (r != MOSQ_ERR_SUCCESS) {
		struct timeval tv = {b->broker_retry_s, 0};

		if (b->broker_retry_s == c->reconnect_min_s)
			fprintf(stderr,
				"m7bridge-mqtt: broker %s:%d not reachable yet (%s); retrying\n",
				c->host, c->port,
				r == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(r));
		b->broker_retry_s = b->broker_retry_s * 2 > c->reconnect_max_s
					    ? c->reconnect_max_s
					    : b->broker_retry_s * 2;
		return evtimer_add(b->ev_broker, &tv) == 0 ? 0 : -ENOMEM;
	}
	if (pthread_create(&b->net, NULL, bridge_net, b) != 0)
		return -EIO;
	b->net_started = true;
	return 0;
}

static void bridge_on_broker_retry(evutil_socket_t fd, short what, void *arg)
{
	struct bridge *b = arg;

	if (mqtt_connect_first(b) < 0) {
		fprintf(stderr, "m7bridge-mqtt: cannot start the MQTT client\n");
		b->failed = true;
		event_base_loopexit(b->base, NULL);
	}
}

static int mqtt_setup(struct bridge *b)
{
	struct mqc *c = &b->conf;
	char t[TOPIC_MAX];
	const char *segs[] = {"bridge"};
	int r;

	if (!c->client_id[0])
		snprintf(c->client_id, sizeof(c->client_id), "m7bridge-%.200s", c->node);
	/* A persistent session: QoS 1 messages not yet acknowledged when the broker went
	 * away are sent again after the reconnect. */
	b->mosq = mosquitto_new(c->client_id, false, b);
	if (!b->mosq)
		return -ENOMEM;
	mosquitto_connect_callback_set(b->mosq, bridge_on_connect);
	mosquitto_disconnect_callback_set(b->mosq, bridge_on_disconnect);
	mosquitto_publish_callback_set(b->mosq, bridge_on_publish);
	mosquitto_message_callback_set(b->mosq, bridge_on_message);
	/* Publishes come from the main thread, the network I/O from bridge_net's. */
	mosquitto_threaded_set(b->mosq, true);
	/* libmosquitto's own limit on unacknowledged messages; ours covers the queue too. */
	mosquitto_int_option(b->mosq, MOSQ_OPT_SEND_MAXIMUM, 65535);
	if (c->username[0] &&
	    mosquitto_username_pw_set(b->mosq, c->username, c->password[0] ? c->password : NULL))
		return -EINVAL;
	if (c->tls) {
		r = mosquitto_tls_set(b->mosq, c->ca_file[0] ? c->ca_file : NULL,
				      c->ca_path[0] ? c->ca_path : NULL,
				      c->cert_file[0] ? c->cert_file : NULL,
				      c->key_file[0] ? c->key_file : NULL, NULL);
		if (r != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "m7bridge-mqtt: TLS set-up: %s\n", mosquitto_strerror(r));
			return -EINVAL;
		}
		mosquitto_tls_insecure_set(b->mosq, c->tls_insecure);
	}
	topic(b, t, segs, 1);
	mosquitto_will_set(b->mosq, t, 7, "offline", 1, true);
	b->broker_retry_s = c->reconnect_min_s;
	return mqtt_connect_first(b);
}

/* At a stop: gives the broker a moment to take what waits, then says what it did not
 * take, so that nothing is lost without a word. At a reload the queue stays for the new
 * connection; only what libmosquitto holds goes with it. */
static void bridge_drain(struct bridge *b, bool reload)
{
	size_t queued;
	long inflight;

	for (int i = 0; i < DRAIN_STEPS; i++) {
		flush(b);
		pthread_mutex_lock(&b->lock);
		bool done = !b->connected || (b->qlen == 0 && b->inflight == 0);

		pthread_mutex_unlock(&b->lock);
		if (done)
			break;
		usleep(DRAIN_STEP_US);
	}
	pthread_mutex_lock(&b->lock);
	queued = b->qlen;
	inflight = b->inflight;
	pthread_mutex_unlock(&b->lock);
	if (reload && (queued || inflight))
		fprintf(stderr,
			"m7bridge-mqtt: reload: %ld messages in flight not acknowledged, dropped; "
			"%zu queued kept for the new connection\n",
			inflight, queued);
	else if (queued || inflight)
		fprintf(stderr,
			"m7bridge-mqtt: stopping with %zu messages not delivered (%zu queued, %ld "
			"in flight); %" PRIu64 " dropped before\n",
			queued + (size_t)inflight, queued, inflight, b->dropped);
}

/* Ends the broker side: the drain, "offline", the DISCONNECT, the client. */
static void broker_stop(struct bridge *b, bool reload)
{
	char t[TOPIC_MAX];
	const char *segs[] = {"bridge"};

	evtimer_del(b->ev_broker);
	bridge_drain(b, reload);
	/* A clean stop says so; a crash leaves the will ("offline") to the broker. */
	topic(b, t, segs, 1);
	mosquitto_publish(b->mosq, NULL, t, 7, "offline", 1, true);
	bridge_net_stop(b);
	mosquitto_destroy(b->mosq);
	b->mosq = NULL;
}

/* Moves the queue to a ring of the new bound, oldest first; what does not fit is dropped
 * and counted, as new messages beyond the bound are. */
static int queue_resize(struct bridge *b, int new_max)
{
	size_t old = (size_t)b->conf.queue_max, k = 0;
	struct msg *q;

	if (new_max == b->conf.queue_max)
		return 0;
	q = calloc((size_t)new_max, sizeof(*q));
	if (!q)
		return -ENOMEM;
	for (size_t i = 0; i < b->qlen; i++) {
		struct msg *m = &b->q[(b->qhead + i) % old];

		if (k < (size_t)new_max) {
			q[k++] = *m;
			continue;
		}
		free(m->topic);
		free(m->payload);
		b->dropped++;
	}
	free(b->q);
	b->q = q;
	b->qhead = 0;
	b->qlen = k;
	return 0;
}

/* Applies a reload's configuration once the broker side has stopped. The daemon
 * connection stays: what the daemon streams meanwhile waits in it (or, beyond what the
 * daemon holds for a client, is counted in daemon_dropped), so a reload loses no frame
 * unseen. The statistics go on. */
static int bridge_apply(struct bridge *b)
{
	bool moved = strcmp(b->conf.prefix, b->next.prefix) != 0 ||
		     strcmp(b->conf.node, b->next.node) != 0;
	bool other_daemon = strcmp(b->conf.socket, b->next.socket) != 0;

	pthread_mutex_lock(&b->lock);
	/* Unacknowledged QoS 1 messages went with the client (QoS 0 ones were counted at
	 * its disconnect). */
	b->dropped += (uint64_t)(b->inflight > 0 ? b->inflight : 0);
	b->inflight = 0;
	b->connected = b->connack = b->stopping = false;
	b->refused = 0; /* a new configuration: a refusal is news again */
	b->nctl = 0;
	b->stats_mid = 0;
	pthread_mutex_unlock(&b->lock);
	if (queue_resize(b, b->next.queue_max) < 0)
		return -ENOMEM;
	b->conf = b->next;
	b->restart = false;
	mqc_topic(&b->conf, b->cmd_prefix, sizeof(b->cmd_prefix) - 1, NULL, 0);
	strcat(b->cmd_prefix, "/");
	if (other_daemon) {
		/* Another socket: another daemon, or the same one elsewhere. */
		b->follow = follow_free(b->follow);
		fail_pending(b);
	}
	/* Retained messages must be where new subscribers look. */
	for (size_t i = 0; moved && i < b->nret; i++) {
		for (int kind = 0; kind < 2; kind++) {
			char t[TOPIC_MAX];
			const char *segs[] = {b->ret[i].channel, kind ? "fault" : "state"};
			const char *line = b->ret[i].line[kind];

			if (!line)
				continue;
			topic(b, t, segs, 2);
			publish(b, t, line, (int)strlen(line), true);
		}
	}
	return 0;
}

/* The TLS files, read as the bridge will read them: a path that is wrong, or a file its
 * user may not read, is a configuration error now rather than a failed start. */
static int tls_files_readable(const struct mqc *c, char *msg, size_t msg_cap)
{
	const struct {
		const char *key, *path;
	} files[] = {{"ca_file", c->ca_file},
		     {"ca_path", c->ca_path},
		     {"cert_file", c->cert_file},
		     {"key_file", c->key_file}};

	for (size_t i = 0; c->tls && i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i].path[0] && access(files[i].path, R_OK) < 0) {
			int e = errno;

			/* A long path is cut in the message; the error stands. */
			if (snprintf(msg, msg_cap, "%s %s: %s", files[i].key, files[i].path,
				     strerror(e)) < 0)
				msg[0] = '\0';
			return -e;
		}
	}
	return 0;
}

/* The configuration as at start: file over the defaults, checked, the socket option
 * over the file, the node name filled in. 0, or -EINVAL with err saying why. */
static int conf_read(struct mqc *c, const char *file, bool named, const char *sock, char *err,
		     size_t cap)
{
	char msg[256];
	int r;

	mqc_defaults(c);
	r = mqc_load(c, file, msg, sizeof(msg));
	if (r > 0) {
		snprintf(err, cap, "%s line %d: %s", file, r, msg);
		return -EINVAL;
	}
	/* An absent default file means the defaults; a file named with -c must be there. */
	if ((r < 0 && (named || r != -ENOENT)) || mqc_check(c, msg, sizeof(msg)) < 0 ||
	    tls_files_readable(c, msg, sizeof(msg)) < 0) {
		snprintf(err, cap, "%s: %s", file, msg);
		return -EINVAL;
	}
	if (sock)
		snprintf(c->socket, sizeof(c->socket), "%s", sock);
	if (!c->node[0] && gethostname(c->node, sizeof(c->node) - 1) < 0)
		snprintf(c->node, sizeof(c->node), "localhost");
	/* Commands arrive on prefix/node/<channel>/<port>/send. */
	char t[TOPIC_MAX];

	if (mqc_topic(c, t, sizeof(t) - 1, NULL, 0) < 0) {
		snprintf(err, cap, "%s: topic prefix and host too long", file);
		return -EINVAL;
	}
	return 0;
}

/* SIGHUP: a reload, all or nothing. A file that does not pass the start's checks changes
 * nothing; one that does is applied by a clean stop of the broker side and a new one
 * (most settings shape the broker connection, which libmosquitto does not change live). */
static void bridge_on_hup(evutil_socket_t fd, short what, void *arg)
{
	struct bridge *b = arg;
	char err[600];

	if (conf_read(&b->next, b->conf_file, b->conf_named, b->sock_opt, err, sizeof(err)) < 0) {
		fprintf(stderr,
			"m7bridge-mqtt: reload refused, the running configuration stays: %s\n",
			err);
		return;
	}
	fprintf(stderr, "m7bridge-mqtt: reload: %s is valid; restarting to apply it\n",
		b->conf_file);
	b->restart = true;
	event_base_loopexit(b->base, NULL);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: m7bridge-mqtt [-c FILE] [OPTIONS]\n"
		"Publishes m7bridged's frames, states, faults and incidents to MQTT.\n"
		"  -c, --config FILE   configuration (default %s/m7bridge/mqtt.conf)\n"
		"  -s, --socket PATH   daemon socket (overrides [daemon] socket)\n"
		"      --check-config  read the configuration, print it, exit 0 or 78\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n"
		"Topics: PREFIX/HOST/CHANNEL/PORT/frame, PREFIX/HOST/CHANNEL/{state,fault} "
		"(retained),\nPREFIX/HOST/CHANNEL/incident, PREFIX/HOST/bridge{,/stats} "
		"(retained);\nsends from PREFIX/HOST/CHANNEL/PORT/send when allowed.\n",
		M7B_SYSCONFDIR);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"socket", required_argument, NULL, 's'},
		{"check-config", no_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},	  {NULL, 0, NULL, 0}};
	static struct bridge b; /* large (command buffers): not on the stack */
	char path[512], msg[256];
	const char *config = NULL, *sock = NULL;
	bool check = false;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "c:s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("m7bridge-mqtt %s\n", M7B_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	snprintf(path, sizeof(path), "%s/m7bridge/mqtt.conf", M7B_SYSCONFDIR);
	b.conf_file = config ? config : path;
	b.conf_named = config != NULL;
	b.sock_opt = sock;
	if (conf_read(&b.conf, b.conf_file, b.conf_named, sock, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "m7bridge-mqtt: %s\n", msg);
		return 78; /* EX_CONFIG */
	}
	if (check) {
		printf("broker %s:%d tls=%s qos=%d prefix=%s host=%s payload=%s queue_max=%d "
		       "allow_send=%s\n",
		       b.conf.host, b.conf.port, b.conf.tls ? "yes" : "no", b.conf.qos,
		       b.conf.prefix, b.conf.node,
		       b.conf.payload == MQC_PAYLOAD_RAW ? "raw" : "json", b.conf.queue_max,
		       b.conf.allow_send ? "yes" : "no");
		return 0;
	}
	/* Commands arrive on prefix/node/<channel>/<port>/send (checked by conf_read). */
	mqc_topic(&b.conf, b.cmd_prefix, sizeof(b.cmd_prefix) - 1, NULL, 0);
	strcat(b.cmd_prefix, "/");
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.net_wake, NULL);
	b.q = calloc((size_t)b.conf.queue_max, sizeof(*b.q));
	b.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	b.base = event_base_new();
	static const char *const classes[] = {"FRAME", "STATE", "FAULT"};

	b.watch = (struct m7b_watch){.classes = classes, .nclasses = 3, .policy = "drop"};
	mosquitto_lib_init();
	if (!b.q || b.wake_fd < 0 || !b.base) {
		fprintf(stderr, "m7bridge-mqtt: out of memory\n");
		goto out;
	}
	b.ev_wake = event_new(b.base, b.wake_fd, EV_READ | EV_PERSIST, bridge_on_wake, &b);
	b.ev_stats = event_new(b.base, -1, EV_PERSIST, bridge_on_stats, &b);
	b.ev_inc = event_new(b.base, -1, EV_PERSIST, bridge_on_incidents, &b);
	b.ev_int = evsignal_new(b.base, SIGINT, bridge_on_signal, &b);
	b.ev_term = evsignal_new(b.base, SIGTERM, bridge_on_signal, &b);
	b.ev_hup = evsignal_new(b.base, SIGHUP, bridge_on_hup, &b);
	b.ev_broker = evtimer_new(b.base, bridge_on_broker_retry, &b);
	if (!b.ev_wake || !b.ev_stats || !b.ev_inc || !b.ev_int || !b.ev_term || !b.ev_hup ||
	    !b.ev_broker)
		goto out;
	event_add(b.ev_wake, NULL);
	event_add(b.ev_int, NULL);
	event_add(b.ev_term, NULL);
	event_add(b.ev_hup, NULL);
	for (;;) {
		struct timeval st = {b.conf.stats_interval_ms / 1000,
				     (b.conf.stats_interval_ms % 1000) * 1000};
		struct timeval it = {b.conf.incidents_interval_ms / 1000,
				     (b.conf.incidents_interval_ms % 1000) * 1000};

		event_add(b.ev_stats, &st);
		event_add(b.ev_inc, &it);
		if (mqtt_setup(&b) < 0) {
			fprintf(stderr, "m7bridge-mqtt: cannot set up the MQTT client\n");
			goto out;
		}
		if (!b.follow)
			b.follow = follow_new(b.base, "m7bridge-mqtt",
					      b.conf.socket[0] ? b.conf.socket : NULL, &b.watch,
					      bridge_on_event, bridge_on_up, &b);
		if (!b.follow)
			goto out;
		event_base_dispatch(b.base);
		/* A stop signal wins over a reload that came with it. */
		if (!b.restart || b.stop || b.failed)
			break;
		broker_stop(&b, true);
		if (bridge_apply(&b) < 0) {
			fprintf(stderr, "m7bridge-mqtt: out of memory for the reload\n");
			goto out;
		}
	}
	rc = b.failed ? 1 : 0;
out:
	b.follow = follow_free(b.follow); /* nothing new from here on */
	if (b.mosq)
		broker_stop(&b, false);
	mosquitto_lib_cleanup();
	struct event *evs[] = {b.ev_wake, b.ev_stats, b.ev_inc,	  b.ev_int,
			       b.ev_term, b.ev_hup,   b.ev_broker};

	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	if (b.base)
		event_base_free(b.base);
	if (b.wake_fd >= 0)
		close(b.wake_fd);
	for (size_t i = 0; b.q && i < b.qlen; i++) {
		free(b.q[(b.qhead + i) % (size_t)b.conf.queue_max].topic);
		free(b.q[(b.qhead + i) % (size_t)b.conf.queue_max].payload);
	}
	free(b.q);
	pthread_cond_destroy(&b.net_wake);
	pthread_mutex_destroy(&b.lock);
	for (size_t i = 0; i < b.nret; i++) {
		free(b.ret[i].line[0]);
		free(b.ret[i].line[1]);
	}
	return rc;
}
