/* Replay after reconnect: a ring of recent FRAMEs per channel, and watch requests that
 * start from a position, replayed in chunks as the client drains, then handed to live. */
#ifndef M7B_REPLAY_H
#define M7B_REPLAY_H

struct conn;
struct daemon;
struct proto_request;
struct replay;

/* Per-client replay cursors, owned by the conn (freed with it). */
struct replay_conn;

/* Attaches replay to d as an observer. 0, -ENOMEM or -ENOSPC (no observer slot). */
int replay_new(struct daemon *d, struct replay **out);
/* Detaches and frees rp; returns NULL. */
struct replay *replay_free(struct replay *rp);
/* A watch was accepted (and acknowledged): starts its replay, if it asked for one. */
void replay_watch(struct replay *rp, struct conn *c, const struct proto_request *req);
/* conn callback (ud is the daemon): c's queue drained, queue the next chunk. */
void replay_on_drain(void *ud, struct conn *c);

#endif
