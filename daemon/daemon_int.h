/* The daemon's context struct and the internals its files share: daemon.c (set-up,
 * channels, clients, reload), request.c (client requests and send completions) and
 * publish.c (decoded frames to watching clients), replay.c (rings of recent frames). Not
 * for other modules. */
#ifndef M7B_DAEMON_INT_H
#define M7B_DAEMON_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "chanjson.h"
#include "clockfast.h"
#include "daemon.h"
#include "fanout.h"
#include "replay.h"
#include "server.h"

#define DAEMON_MAX_HANDLERS  16
#define DAEMON_MAX_OBSERVERS 8
#define DAEMON_FANOUT_BYTES  (128u * 1024) /* per chunk: a read burst's lines, mostly */

struct handler {
	char name[32];
	daemon_handler_fn fn;
	void *ud;
};

/* An observer's on_msg as the loop per frame reads it: nothing else to skip over. */
struct daemon_msg_obs {
	daemon_msg_fn fn;
	void *ud;
	uint32_t types; /* DAEMON_MSG_TYPE() bits, every bit for "every type" */
};

/* A send request waiting for its channel to finish it; its address is the send queue's
 * cookie, so the tty layer never sees the client protocol. */
struct pending_send {
	struct pending_send *next, *prev; /* newest first */
	uint64_t client;
	char id[PROTO_ID_MAX + 1]; /* request id JSON text, "" if none */
	bool done;		   /* answered: reply waits for the client's older sends */
	int reply_len;
	char reply[1024];
};

struct daemon {
	struct event_base *base;
	struct log log;
	struct conf *cfg;
	char *conf_path;
	bool conf_optional;
	daemon_conf_reader_fn read_conf; /* NULL: conf_read() */
	void *read_conf_ud;
	struct conf_overrides ov;
	int failed; /* daemon_fail(): what daemon_run() returns */

	struct channel *channels[CONF_MAX_CHANNELS];
	struct chanjson names[CONF_MAX_CHANNELS];     /* per slot, for FRAME */
	struct ratelimit rl_m7log[CONF_MAX_CHANNELS]; /* per slot, M7 LOG -> journal */
	struct ratelimit rl_boot[CONF_MAX_CHANNELS];  /* per slot, new boots -> journal */
	struct ratelimit rl_request;		      /* client requests at debug level */
	struct pending_send *pending;
	struct server *server;
	struct conn *clients;
	unsigned nclients;
	uint64_t next_client_id;
	struct ratelimit rl_refused; /* clients refused a slot -> log */
	struct ratelimit rl_clients; /* clients connecting (and leaving) -> log */

	struct event *ev_term, *ev_int, *ev_hup, *ev_reap, *ev_reload;
	struct handler handlers[DAEMON_MAX_HANDLERS];
	unsigned nhandlers;
	struct daemon_observer observers[DAEMON_MAX_OBSERVERS];
	unsigned nobservers;
	/* The hooks called per frame or per read, gathered from observers[] whenever it
	 * changes, in the same order: DATA (nearly every frame) has a list of its own. */
	struct daemon_msg_obs msg_obs[DAEMON_MAX_OBSERVERS];
	unsigned nmsg_obs;
	struct daemon_msg_obs data_obs[DAEMON_MAX_OBSERVERS];
	unsigned ndata_obs;
	struct {
		daemon_decoded_fn fn;
		void *ud;
	} decoded_obs[DAEMON_MAX_OBSERVERS];
	unsigned ndecoded_obs;
	struct daemon_clock clock; /* never NULL fast: all unmapped without a clock */
	daemon_fault_info_fn fault_info_fn;
	void *fault_ud;
	daemon_send_done_fn send_hook; /* results of internal senders (the pty) */
	void *send_hook_ud;
	struct replay *replay; /* replay.c: rings of recent frames */
	uint64_t replay_slots; /* replay.c: slots whose DATA frames a replay ring may keep */

	uint64_t start_ms;

	/* Lines streamed to clients, in shared chunks referenced by the clients that take
	 * them; the current chunk starts over once every client has sent its part. */
	struct fanout *fanout;
	/* FRAME rendered once per frame per encoding, shared by all clients, when the batch
	 * buffer cannot take it. */
	char frame_b64[PROTO_FRAME_MAX];
	char frame_hex[PROTO_FRAME_MAX];
	char line[PROTO_FRAME_MAX];
};

/* ---- daemon.c ---- */

/* Makes sure the current chunk has n bytes of room, sending what clients hold, then
 * taking another chunk if needed; false if it still has not (then lines are copied into
 * each client's queue). */
bool daemon_fanout_room(struct daemon *d, size_t n);

/* ---- request.c ---- */

/* conn callback: one request line from c. */
bool request_on_line(void *ud, struct conn *c, const char *line, size_t len);
/* channel callback: a send request finished; answers its client. */
void request_on_send_done(void *ud, struct channel *ch, const struct sendq_entry *e,
			  enum sendq_result r, uint8_t status);
/* Forgets the send requests still pending (channels freed without callbacks). */
void request_drop_pending(struct daemon *d);
/* Recomputes c's channel mask from its watch names and the current slots. */
void request_resolve(struct daemon *d, struct conn *c);

/* ---- publish.c ---- */

/* channel callback: a decoded frame, published to watching clients, then observers. */
void publish_msg(void *ud, struct channel *ch, const struct channel_msg *m);

/* ---- publish_raw.c ---- */

/* channel callback: a raw-mode chunk, published to watching clients, then observers. */
void publish_raw(void *ud, struct channel *ch, const struct channel_raw *r);

#endif
