/* The supervisor's control requests: recover and reload, authorized once against the
 * credentials the connection was accepted with, and the read-only incidents list. */
#include "sv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "proto.h"

#define SV_DENIED_LOG_BURST	5
#define SV_DENIED_LOG_WINDOW_MS 10000

bool supervisor_peer_allowed(const struct supervisor_daemon_conf *c, uid_t uid, const gid_t *gids,
			     size_t ngids)
{
	size_t i;

	if (uid == 0)
		return true;
	for (i = 0; i < c->n_allow_uids; i++)
		if (c->allow_uids[i] == uid)
			return true;
	/* The gid was resolved with the file: no lookup here, in the event loop. */
	if (!c->allow_group[0])
		return false;
	for (i = 0; i < ngids; i++)
		if (gids[i] == c->allow_gid)
			return true;
	return false;
}

/* The one authorization check: the credentials taken when the connection was accepted. */
static bool conn_allowed(struct supervisor *sv, const struct conn *cl)
{
	if (cl->uid < 0)
		return false;
	return supervisor_peer_allowed(&sv->cfg, (uid_t)cl->uid, cl->gids, cl->ngids);
}

static struct sv_chan *request_chan(struct supervisor *sv, struct daemon *d,
				    const struct proto_request *req)
{
	struct channel *ch = daemon_channel(d, req->channel);

	return ch ? sv_chan_of(sv, ch) : NULL;
}

/* The RELOAD event for req, its firmware's identity read and its rollback chosen; false
 * when an ERROR was sent instead. */
static bool reload_event(struct daemon *d, struct conn *cl, const struct proto_request *req,
			 struct sv_chan *c, struct recovery_event *ev)
{
	char msg[256]; /* names in it are cut to 64 bytes: it fits an ERROR line escaped */

	if (req->firmware[0] && !recovery_firmware_name_ok(req->firmware)) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_BAD_VALUE,
				   "firmware must be a plain file name under /lib/firmware",
				   req->channel);
		return false;
	}
	if (!channel_config(c->ch)->remoteproc) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_UNSUPPORTED,
				   "no remoteproc configured for this channel", req->channel);
		return false;
	}
	if (c->applying || recovery_busy(&c->rec)) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_BUSY,
				   "a recovery or reload is already running", req->channel);
		return false;
	}
	ev->type = RECOVERY_EV_RELOAD;
	ev->firmware = req->firmware[0] ? req->firmware : NULL;
	/* Read the identity before anything stops: a file that is not there or not an ELF
	 * is refused while the running firmware is still untouched. */
	if (sv_verify_prepare(c, ev->firmware, req->no_rollback, ev, msg, sizeof(msg)) < 0) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_BAD_VALUE, msg, req->channel);
		return false;
	}
	return true;
}

void sv_control_recover(void *ud, struct daemon *d, struct conn *cl,
			const struct proto_request *req)
{
	struct supervisor *sv = ud;
	struct sv_chan *c = request_chan(sv, d, req);
	struct recovery_event ev = {0};
	struct recovery_actions out;
	struct log_fields f;
	bool reload = req->cmd == PROTO_CMD_RELOAD;
	int r;

	if (!c) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_NO_CHANNEL, "no such channel",
				   req->channel);
		return;
	}
	f = sv_chan_fields(c, NULL, 0);
	f.client = cl->id;
	if (!conn_allowed(sv, cl)) {
		/* Anyone who can connect can send these by the thousand: the answer goes to
		 * each, the log gets a few lines and then a count. */
		if (ratelimit_ok(&sv->rl_denied, daemon_now_ms(), SV_DENIED_LOG_BURST,
				 SV_DENIED_LOG_WINDOW_MS)) {
			if (sv->rl_denied.suppressed) {
				log_struct(sv->log, LOG_WARNING, &f,
					   "%u refused requests not logged (at most %u per %u s)",
					   sv->rl_denied.suppressed, SV_DENIED_LOG_BURST,
					   SV_DENIED_LOG_WINDOW_MS / 1000);
				sv->rl_denied.suppressed = 0;
			}
			log_struct(sv->log, LOG_WARNING, &f,
				   "client %llu (pid %d uid %ld): %s refused: not authorized",
				   (unsigned long long)cl->id, cl->pid, cl->uid, req->cmd_name);
		}
		daemon_reply_error(d, cl->id, req->id, PROTO_E_FORBIDDEN,
				   "not authorized (root, allow_uids or allow_group)",
				   req->channel);
		return;
	}
	if (reload) {
		if (!reload_event(d, cl, req, c, &ev))
			return;
	} else {
		ev.type = RECOVERY_EV_RECOVER;
		ev.step = RECOVERY_STEP_COUNT;
		if (req->action[0] && (recovery_step_from_string(req->action, &ev.step) < 0 ||
				       ev.step >= RECOVERY_STEP_RELOAD)) {
			daemon_reply_error(
				d, cl->id, req->id, PROTO_E_BAD_VALUE,
				"action must be resync, reopen, driver, remoteproc or hook",
				req->channel);
			return;
		}
	}
	if (c->applying) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_BUSY, "busy", req->channel);
		return;
	}
	if (ev.type == RECOVERY_EV_RECOVER && !recovery_busy(&c->rec))
		sv_verify_use_good(c); /* what its remoteproc step loads */
	r = recovery_handle(&c->rec, &ev, daemon_now_ms(), &out);
	if (r == -EBUSY) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_BUSY,
				   "a recovery or reload is already running", req->channel);
		return;
	}
	if (r < 0) {
		daemon_reply_error(
			d, cl->id, req->id, r == -EINVAL ? PROTO_E_BAD_VALUE : PROTO_E_UNSUPPORTED,
			r == -EINVAL ? "bad firmware name" : "that recovery step is not configured",
			req->channel);
		return;
	}
	log_struct(sv->log, LOG_NOTICE, &f, "client %llu (pid %d uid %ld): %s %s%s%s",
		   (unsigned long long)cl->id, cl->pid, cl->uid, req->cmd_name, channel_name(c->ch),
		   reload && req->firmware[0] ? " firmware " : "", reload ? req->firmware : "");
	if (reload)
		log_struct(sv->log, LOG_INFO, &f, "reload of %s; rollback to %s",
			   c->reload_want.name, ev.rollback_fw ? ev.rollback_fw : "(none)");
	c->last_fault_ms = daemon_now_ms();
	c->kernel_ms = 0;
	/* Before the first action stops the running image. */
	if (reload)
		sv_verify_record_reload(c);
	daemon_reply_ack(d, cl->id, req->id, req->cmd_name, channel_name(c->ch));
	/* Before the actions: a load the kernel refuses at once ends the reload inside
	 * sv_action_run(), which then never sees it busy to open the record itself. */
	if (!c->inc)
		sv_incident_begin(c, reload ? "reload" : "recover", "request",
				  !reload && req->action[0] ? req->action : "");
	sv_action_run(c, &out);
}

void sv_control_incidents(void *ud, struct daemon *d, struct conn *cl,
			  const struct proto_request *req)
{
	struct supervisor *sv = ud;
	cJSON *o = cJSON_CreateObject(), *list;
	char *text;
	unsigned i;

	if (!o) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_INTERNAL, "out of memory", NULL);
		return;
	}
	cJSON_AddStringToObject(o, "class", "INCIDENTS");
	if (req->id[0])
		cJSON_AddItemToObject(o, "id", cJSON_CreateRaw(req->id));
	list = sv->store ? incident_list(sv->store, req->channel[0] ? req->channel : NULL)
			 : cJSON_CreateArray();
	for (i = 0; list && i < CONF_MAX_CHANNELS; i++) {
		struct sv_chan *c = sv->chans[i];
		if (c && c->inc &&
		    (!req->channel[0] || strcmp(req->channel, channel_name(c->ch)) == 0))
			cJSON_AddItemToArray(list, sv_incident_summary_open(c));
	}
	cJSON_AddItemToObject(o, "incidents", list ? list : cJSON_CreateArray());
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text) {
		daemon_reply_error(d, cl->id, req->id, PROTO_E_INTERNAL, "out of memory", NULL);
		return;
	}
	size_t len = strlen(text);
	char *line = realloc(text, len + 2);
	if (!line) {
		free(text);
		daemon_reply_error(d, cl->id, req->id, PROTO_E_INTERNAL, "out of memory", NULL);
		return;
	}
	line[len] = '\n';
	daemon_reply(d, cl->id, line, len + 1);
	free(line);
}
