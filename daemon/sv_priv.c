/* The supervisor's privileged operations: remoteproc sysfs writes and the configured
 * recovery commands. Everything that needs root goes through sv_priv_run(). */
#include "sv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "privsep.h"

static const char *const op_names[] = {
	[SV_PRIV_RPROC_STOP] = "remoteproc stop",
	[SV_PRIV_RPROC_START] = "remoteproc start",
	[SV_PRIV_RPROC_SET_FIRMWARE] = "set firmware",
	[SV_PRIV_RUN_COMMAND] = "command",
};
static DEFINE_STRING_TABLE_LOOKUP(sv_priv_op, enum sv_priv_op, op_names)

	void sv_priv_env(const struct conf_channel *cc, const char *rproc_dir, const char *step,
			 char store[4][300], char *env[5])
{
	snprintf(store[0], sizeof(store[0]), "M7B_CHANNEL=%s", cc->name);
	snprintf(store[1], sizeof(store[1]), "M7B_DEVICE=%s", cc->device ? cc->device : "");
	snprintf(store[2], sizeof(store[2]), "M7B_REMOTEPROC=%s",
		 rproc_dir ? rproc_dir : (cc->remoteproc ? cc->remoteproc : ""));
	snprintf(store[3], sizeof(store[3]), "M7B_STEP=%s", step);
	for (int i = 0; i < 4; i++)
		env[i] = store[i];
	env[4] = NULL;
}

const char *sv_priv_command_key(const char *step)
{
	return strcmp(step, "driver") == 0 ? "driver_reload" : "hook";
}

static void on_child_done(void *arg, int status)
{
	struct sv_chan *c = arg;
	struct recovery_event ev = {.type = RECOVERY_EV_RESULT, .token = c->child_token};

	ev.result = status == 0 ? 0 : status > 0 ? -EIO : -EINTR;
	if (status != 0) {
		struct log_fields f = sv_chan_fields(c, NULL, 0);
		log_struct(c->sv->log, LOG_WARNING, &f, "recovery command %s %d",
			   status > 0 ? "exited with" : "killed by signal",
			   status > 0 ? status : -status);
	}
	/* The child is freed on the next start or at teardown: not from its own callback. */
	sv_action_feed(c, &ev);
	sv_chan_flush(c);
}

static int run_command(struct sv_chan *c, const struct sv_priv_request *rq)
{
	char store[4][300];
	char *env[5];

	c->child = child_free(c->child); /* a command of an abandoned try dies here */
	c->child_token = rq->token;
	const struct supervisor_channel_conf *sup = &c->sup;
	unsigned timeout =
		strcmp(rq->step, "driver") == 0 ? sup->driver_timeout_ms : sup->hook_timeout_ms;
	sv_priv_env(channel_config(c->ch), c->rproc ? c->rproc->dir : NULL, rq->step, store, env);
	struct child_output out = {.log = c->sv->log,
				   .name = sv_priv_command_key(rq->step),
				   .channel = channel_config(c->ch)->name};
	int r = child_shell(daemon_base(c->sv->d), rq->command, env, &out, on_child_done, c,
			    &c->child);
	/* The ladder gives up on the step at its timeout; the command ends then too. */
	if (r == 0)
		r = child_deadline(c->child, timeout, SV_COMMAND_GRACE_MS);
	return r < 0 ? r : 1;
}

int sv_priv_rproc(struct sv_chan *c)
{
	const char *which = channel_config(c->ch)->remoteproc;

	if (c->rproc)
		return 0;
	if (!which)
		return -ENODEV;
	return remoteproc_open(c->sv->cfg.sysfs_root, which, &c->rproc);
}

/* The helper's message for rq: the channel and the firmware name, never a command. */
static int remote(struct sv_chan *c, const struct sv_priv_request *rq)
{
	static const enum privsep_type types[] = {
		[SV_PRIV_RPROC_STOP] = PRIVSEP_RPROC_STOP,
		[SV_PRIV_RPROC_START] = PRIVSEP_RPROC_START,
		[SV_PRIV_RPROC_SET_FIRMWARE] = PRIVSEP_RPROC_SET_FIRMWARE,
	};
	enum privsep_type t = rq->op != SV_PRIV_RUN_COMMAND	? types[rq->op]
			      : strcmp(rq->step, "driver") == 0 ? PRIVSEP_RUN_DRIVER
								: PRIVSEP_RUN_HOOK;
	struct privsep_msg m;
	int r = privsep_msg_init(&m, t, channel_config(c->ch)->name,
				 t == PRIVSEP_RPROC_SET_FIRMWARE ? rq->firmware : NULL);

	if (r < 0)
		return r;
	if (rq->op != SV_PRIV_RUN_COMMAND)
		(void)sv_priv_rproc(c); /* read-only, for the state polls that follow */
	m.token = rq->token;
	if (rq->op == SV_PRIV_RUN_COMMAND)
		c->child_token = rq->token;
	return privsep_call(c->sv->priv, &m);
}

int sv_priv_open_trace(struct sv_chan *c)
{
	struct privsep_msg m;
	int fd = -1,
	    r = privsep_msg_init(&m, PRIVSEP_OPEN_TRACE, channel_config(c->ch)->name, NULL);

	if (r == 0)
		r = privsep_call_fd(c->sv->priv, &m, &fd);
	return r < 0 ? r : fd >= 0 ? fd : -EBADMSG;
}

/* The helper died: no remoteproc write or recovery command can be done any more, and an
 * unprivileged daemon cannot fork a new one. Stopping with a failure lets the service
 * manager (Restart=on-failure) start both again, rather than run on with a recovery that
 * fails every privileged step. */
static void helper_died(struct supervisor *sv, int status)
{
	log_struct(sv->log, LOG_ERR, &(struct log_fields){.err = EPIPE},
		   "the privileged helper %s %d: remoteproc writes and recovery commands are "
		   "impossible now; stopping so that the daemon starts again with a new one",
		   status >= 0 ? "exited with" : "was killed by signal",
		   status >= 0 ? status : -status);
	daemon_fail(sv->d, -EPIPE);
}

void sv_priv_on_exited(void *ud, const char *channel, uint32_t token, int status)
{
	struct supervisor *sv = ud;

	if (!channel) {
		helper_died(sv, status);
		return;
	}
	struct channel *ch = daemon_channel(sv->d, channel);
	struct sv_chan *c = ch ? sv_chan_of(sv, ch) : NULL;

	if (c && token == c->child_token)
		on_child_done(c, status);
}

int sv_priv_run(struct sv_chan *c, const struct sv_priv_request *rq)
{
	if (rq->op == SV_PRIV_RUN_COMMAND && (!rq->command || !*rq->command))
		return -ENOENT; /* a step without a command: the ladder moves on, nothing failed */
	int r = c->sv->priv			? remote(c, rq)
		: rq->op == SV_PRIV_RUN_COMMAND ? run_command(c, rq)
						: sv_priv_rproc(c);

	if (r == 0 && !c->sv->priv) {
		switch (rq->op) {
		case SV_PRIV_RPROC_STOP:
			r = remoteproc_stop(c->rproc);
			break;
		case SV_PRIV_RPROC_START:
			r = remoteproc_start(c->rproc);
			break;
		case SV_PRIV_RPROC_SET_FIRMWARE:
			r = remoteproc_set_firmware(c->rproc, rq->firmware);
			break;
		case SV_PRIV_RUN_COMMAND:
			break;
		}
	}
	if (r < 0) {
		struct log_fields f = sv_chan_fields(c, NULL, r);
		const char *what = rq->op == SV_PRIV_RUN_COMMAND	  ? rq->step
				   : rq->op == SV_PRIV_RPROC_SET_FIRMWARE ? rq->firmware
									  : "";
		if (r == -ECANCELED || (r == -EPIPE && c->sv->priv))
			log_struct(c->sv->log, LOG_WARNING, &f,
				   "%s%s%s: left undone: %s; the next start checks the M7 again",
				   sv_priv_op_to_string(rq->op), what[0] ? " " : "", what,
				   r == -EPIPE ? "the privileged helper is gone"
					       : "the daemon is stopping (the helper may still "
						 "finish it)");
		else if (r == -ETIMEDOUT && c->sv->priv)
			log_struct(c->sv->log, LOG_ERR, &f,
				   "%s%s%s: no answer from the privileged helper (it is still in "
				   "a request that has not ended within %u s: a sysfs write on a "
				   "hung M7?)",
				   sv_priv_op_to_string(rq->op), what[0] ? " " : "", what,
				   PRIVSEP_CALL_MS / 1000);
		else
			log_struct(c->sv->log, LOG_ERR, &f, "%s%s%s: %s",
				   sv_priv_op_to_string(rq->op), what[0] ? " " : "", what,
				   strerror(-r));
	}
	return r;
}
