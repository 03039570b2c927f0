/* Verified firmware loads: the identity of an image read from its ELF file, the checks
 * on the image that comes up (fwverify.c), and the last image verified good per channel,
 * kept in the state directory so a rollback target survives a daemon restart. */
#include "sv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include <event2/event.h>

#include "elfinfo.h"
#include "lifecycle.h"
#include "regfile.h"

#define SV_BOOT_INFO_MS 1000 /* BOOT_INFO follows HELLO at once; this is generous */

int sv_verify_identity(struct sv_chan *c, const char *name, struct sv_fwid *out)
{
	char path[SUPERVISOR_PATH_MAX + RECOVERY_FIRMWARE_MAX + 2];
	struct elfinfo *e;
	int r;

	memset(out, 0, sizeof(*out));
	if (!name || !*name) {
		/* No name given: whatever remoteproc will load. */
		if ((r = sv_priv_rproc(c)) < 0 ||
		    (r = remoteproc_get_firmware(c->rproc, out->name, sizeof(out->name))) < 0)
			return r;
		/* "unknown" reads fine but names no file: the M7 was started outside Linux. */
		if (!lifecycle_names_file(out->name))
			return -EINVAL;
	} else {
		snprintf(out->name, sizeof(out->name), "%s", name);
	}
	if (!recovery_firmware_name_ok(out->name))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", c->sv->cfg.firmware_dir, out->name);
	e = malloc(sizeof(*e)); /* ~10 KiB: not on the event loop's stack */
	if (!e)
		return -ENOMEM;
	r = elfinfo_load(path, e);
	if (r == 0) {
		out->id_len = e->build_id_len <= sizeof(out->id) ? e->build_id_len : 0;
		memcpy(out->id, e->build_id, out->id_len);
		out->elf_class = e->elf_class;
		out->machine = e->machine;
	}
	free(e);
	return r;
}

/* ---- the last good image, persisted ---- */

/* The channel's file of kind ("good", "reload") in the state directory. */
static bool state_path(struct sv_chan *c, const char *kind, char *buf, size_t cap)
{
	const char *dir = c->sv->cfg.state_dir, *name = channel_name(c->ch);

	if (!dir[0] || !recovery_firmware_name_ok(name))
		return false;
	return snprintf(buf, cap, "%s/firmware-%s-%s", dir, kind, name) < (int)cap;
}

static bool good_path(struct sv_chan *c, char *buf, size_t cap)
{
	return state_path(c, "good", buf, cap);
}

/* Replaces path with text atomically (regfile.h: no name planted beside it followed). */
static int put_state_file(const char *path, const char *text)
{
	return regfile_replace(path, text, strlen(text));
}

/* Opens path for reading if it is a regular file the daemon's user owns: anything else
 * in its place (a FIFO that would block, a directory, another user's file) is logged and
 * left alone. NULL when there is none. */
static FILE *open_record(struct sv_chan *c, const char *path)
{
	int fd = regfile_open_own(path);
	FILE *f;

	if (fd == -ENOENT)
		return NULL;
	if (fd >= 0 && (f = fdopen(fd, "r")))
		return f;
	int e = fd < 0 ? -fd : errno;
	if (fd >= 0)
		close(fd);
	bool odd = e == EINVAL || e == EISDIR;
	struct log_fields lf = sv_chan_fields(c, LOG_MID_RELOAD, odd ? -EINVAL : -e);
	log_struct(c->sv->log, LOG_WARNING, &lf, "%s: %s; ignored", path,
		   odd		? "not a regular file"
		   : e == EPERM ? "owned by another user"
				: strerror(e));
	return NULL;
}

/* The configured `firmware` of c as its supervision was set up (a SIGHUP while it is
 * busy keeps it), "" when none. */
static const char *configured(struct sv_chan *c)
{
	return c->conf_firmware;
}

/* Whether name is a regular file under firmware_dir: a stat, not a parse, as every fault
 * that may start a ladder asks. */
bool sv_verify_image_present(struct sv_chan *c, const char *name)
{
	char path[SUPERVISOR_PATH_MAX + RECOVERY_FIRMWARE_MAX + 2];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", c->sv->cfg.firmware_dir, name);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Line 2 of a last good record that a reload installed: "reloaded" and the `firmware`
 * configured then, if any. false for anything else. */
static bool parse_reloaded(const char *line, char *over, size_t cap)
{
	size_t n = strcspn(line, "\n");

	if (n < 8 || strncmp(line, "reloaded", 8) != 0 || (line[n] == '\n' && line[n + 1]))
		return false;
	if (n == 8) {
		over[0] = '\0';
		return true;
	}
	if (line[8] != ' ' || n - 9 >= cap)
		return false;
	memcpy(over, line + 9, n - 9);
	over[n - 9] = '\0';
	return recovery_firmware_name_ok(over);
}

void sv_verify_load_good(struct sv_chan *c)
{
	char path[SUPERVISOR_PATH_MAX + 96], line[RECOVERY_FIRMWARE_MAX + 2 * FWVERIFY_ID_MAX + 4];
	struct sv_fwid g = {0};
	FILE *f;

	if (!good_path(c, path, sizeof(path)) || !(f = open_record(c, path)))
		return;
	if (fgets(line, sizeof(line), f) &&
	    fwverify_record_parse(line, strlen(line), g.name, sizeof(g.name), g.id, sizeof(g.id),
				  &g.id_len) == 0) {
		c->good = g;
		/* No second line, or one not understood: the configured image is the one. */
		c->good_reloaded = fgets(line, sizeof(line), f) &&
				   parse_reloaded(line, c->good_over, sizeof(c->good_over));
	} else {
		/* Ignored, and rewritten at the next verified image. */
		struct log_fields lf = sv_chan_fields(c, NULL, -EBADMSG);
		log_struct(c->sv->log, LOG_WARNING, &lf, "%s: not a last good firmware record",
			   path);
	}
	fclose(f);
}

/* Records g as the last good image, installed by a reload or not: in memory, and
 * atomically in the state directory. */
static void save_good(struct sv_chan *c, const struct sv_fwid *g, bool reloaded)
{
	char path[SUPERVISOR_PATH_MAX + 96];
	char line[2 * RECOVERY_FIRMWARE_MAX + 2 * FWVERIFY_ID_MAX + 16];
	struct log_fields lf;
	int r;

	c->good = *g;
	c->good_reloaded = reloaded;
	c->good_missing = false; /* just loaded and verified */
	if (reloaded)
		snprintf(c->good_over, sizeof(c->good_over), "%s", configured(c));
	if (!good_path(c, path, sizeof(path)))
		return;
	r = fwverify_record_format(line, sizeof(line), g->name, g->id, g->id_len);
	if (r >= 0 && reloaded)
		snprintf(line + r, sizeof(line) - (size_t)r, "reloaded%s%s\n",
			 c->good_over[0] ? " " : "", c->good_over);
	if (r >= 0)
		r = put_state_file(path, line);
	lf = sv_chan_fields(c, LOG_MID_RELOAD, r);
	if (r < 0)
		log_struct(c->sv->log, LOG_WARNING, &lf,
			   "cannot record last good firmware in %s: %s", path, strerror(-r));
	else
		log_struct(c->sv->log, LOG_INFO, &lf, "last good firmware: %.*s%s",
			   (int)strcspn(line, "\n"), line,
			   reloaded ? " (reloaded: recoveries load it)" : "");
}

/* A verified reload replaced the image of every channel on c's remoteproc (one
 * firmware, several endpoints): their ladders load it too, or the first of them to reach
 * its remoteproc step would undo the reload. */
static void share_reloaded(struct sv_chan *c, const struct sv_fwid *g)
{
	if (sv_priv_rproc(c) < 0)
		return;
	for (unsigned i = 0; i < CONF_MAX_CHANNELS; i++) {
		struct sv_chan *o = c->sv->chans[i];
		if (!o || o == c || sv_priv_rproc(o) < 0 ||
		    strcmp(o->rproc->instance, c->rproc->instance) != 0)
			continue;
		save_good(o, g, true);
		(void)recovery_set_firmware(&o->rec, g->name);
	}
}

void sv_verify_use_good(struct sv_chan *c)
{
	const char *conf = configured(c);

	if (c->good_reloaded && strcmp(c->good_over, conf) != 0) {
		struct log_fields lf = sv_chan_fields(c, LOG_MID_RELOAD, 0);
		log_struct(c->sv->log, LOG_INFO, &lf,
			   "firmware = %s now configured (was %s when %s was reloaded): "
			   "recoveries load %s",
			   conf[0] ? conf : "(none)", c->good_over[0] ? c->good_over : "(none)",
			   c->good.name, conf[0] ? conf : "what remoteproc names");
		/* Written again without the reload's line: the new wish outlives a restart. */
		save_good(c, &c->good, false);
	}
	if (!c->good_reloaded) {
		(void)recovery_set_firmware(&c->rec, conf);
		return;
	}
	/* A file deleted since cannot be started: the setting is, until it is back. */
	bool missing = !sv_verify_image_present(c, c->good.name);
	if (missing != c->good_missing) {
		struct log_fields lf = sv_chan_fields(c, LOG_MID_RELOAD, missing ? -ENOENT : 0);
		if (missing)
			log_struct(c->sv->log, LOG_WARNING, &lf,
				   "reloaded firmware %s is no longer under %s: recoveries load %s",
				   c->good.name, c->sv->cfg.firmware_dir,
				   conf[0] ? conf : "what remoteproc names");
		else
			log_struct(c->sv->log, LOG_INFO, &lf,
				   "reloaded firmware %s is back under %s: recoveries load it",
				   c->good.name, c->sv->cfg.firmware_dir);
		c->good_missing = missing;
	}
	(void)recovery_set_firmware(&c->rec, missing ? conf : c->good.name);
}

/* ---- the reload in progress, persisted ---- */

void sv_verify_record_reload(struct sv_chan *c)
{
	char path[SUPERVISOR_PATH_MAX + 96];
	char text[2 * RECOVERY_FIRMWARE_MAX + 2 * FWVERIFY_ID_MAX + 8];
	struct log_fields lf;
	int r;

	/* Without a state directory, or nothing to roll back to, there is nothing to keep. */
	if (!c->rollback.name[0] || !state_path(c, "reload", path, sizeof(path)))
		return;
	/* Line 1: what a restart rolls back to, as the last good record; line 2: the image
	 * being loaded, for the words. */
	r = fwverify_record_format(text, sizeof(text), c->rollback.name, c->rollback.id,
				   c->rollback.id_len);
	if (r >= 0 && (size_t)r + strlen(c->reload_want.name) + 2 > sizeof(text))
		r = -ENOSPC;
	if (r >= 0) {
		snprintf(text + r, sizeof(text) - (size_t)r, "%s\n", c->reload_want.name);
		r = put_state_file(path, text);
	}
	c->reload_recorded = r == 0;
	if (r < 0) {
		lf = sv_chan_fields(c, LOG_MID_RELOAD, r);
		log_struct(c->sv->log, LOG_WARNING, &lf,
			   "cannot record the reload in %s (%s): a restart of the daemon during "
			   "it would not roll it back",
			   path, strerror(-r));
	}
}

void sv_verify_clear_reload(struct sv_chan *c)
{
	char path[SUPERVISOR_PATH_MAX + 96];

	if (!c->reload_recorded)
		return;
	c->reload_recorded = false;
	if (state_path(c, "reload", path, sizeof(path)) && unlink(path) < 0 && errno != ENOENT) {
		int e = errno;
		struct log_fields lf = sv_chan_fields(c, LOG_MID_RELOAD, -e);
		log_struct(c->sv->log, LOG_WARNING, &lf,
			   "cannot remove %s (%s): the next start of the daemon rolls back to %s",
			   path, strerror(e), c->rollback.name);
	}
}

bool sv_verify_load_reload(struct sv_chan *c)
{
	char path[SUPERVISOR_PATH_MAX + 96];
	char line[RECOVERY_FIRMWARE_MAX + 2 * FWVERIFY_ID_MAX + 4], fw[RECOVERY_FIRMWARE_MAX + 2];
	struct sv_fwid rb = {0};
	FILE *f;
	bool ok;

	if (!state_path(c, "reload", path, sizeof(path)) || !(f = open_record(c, path)))
		return false;
	ok = fgets(line, sizeof(line), f) &&
	     fwverify_record_parse(line, strlen(line), rb.name, sizeof(rb.name), rb.id,
				   sizeof(rb.id), &rb.id_len) == 0;
	if (!fgets(fw, sizeof(fw), f))
		fw[0] = '\0';
	fw[strcspn(fw, "\n")] = '\0';
	fclose(f);
	c->reload_recorded = true; /* removed once dealt with, whatever it holds */
	if (!ok) {
		struct log_fields lf = sv_chan_fields(c, LOG_MID_RELOAD, -EBADMSG);
		log_struct(c->sv->log, LOG_WARNING, &lf,
			   "%s: not a record of a reload in progress; removed", path);
		sv_verify_clear_reload(c);
		return false;
	}
	c->rollback = rb;
	memset(&c->reload_want, 0, sizeof(c->reload_want));
	if (recovery_firmware_name_ok(fw))
		snprintf(c->reload_want.name, sizeof(c->reload_want.name), "%s", fw);
	return true;
}

/* ---- reload preparation ---- */

/* s for a client's message, cut to 64 bytes ("..." after): a file name may take 255, and
 * what follows it (why) must still fit. */
static const char *shortened(const char *s, char buf[68])
{
	if (strlen(s) <= 64)
		return s;
	snprintf(buf, 68, "%.64s...", s);
	return buf;
}

/* What is wrong with a firmware file that is there, in words (elfinfo_load's errnos; its
 * 64 MiB limit); NULL for a plain errno. EINVAL is a file only under a good name. */
static const char *image_fault(int r, const char *name)
{
	switch (r) {
	case -ENOEXEC:
		return "not an ELF image";
	case -EBADMSG:
		return "truncated or malformed ELF image";
	case -EFBIG:
		return "larger than 64 MiB";
	case -EINVAL:
		return recovery_firmware_name_ok(name) ? "not a regular file" : NULL;
	default:
		return NULL;
	}
}

/* A remoteproc outside sysfs is the simulator's tree (tests, demos): the kernel never
 * loads what it names. Unknown (cannot open it) counts as the kernel's. */
static bool rproc_simulated(struct sv_chan *c)
{
	struct statfs fs;

	return sv_priv_rproc(c) == 0 && statfs(c->rproc->dir, &fs) == 0 && fs.f_type != SYSFS_MAGIC;
}

/* Refuses an image built for another machine up front (msg says which), rather than
 * stopping the M7 for a load that fails or rolls back later. */
static int check_machine(struct sv_chan *c, char *msg, size_t cap)
{
	const struct sv_fwid *w = &c->reload_want;
	const char *m = elfinfo_machine_name(w->machine);
	char num[24];

	if (fwverify_machine_fits(w->elf_class, w->machine, rproc_simulated(c),
				  ELFINFO_HOST_MACHINE))
		return 0;
	if (!m) {
		snprintf(num, sizeof(num), "machine %u", (unsigned)w->machine);
		m = num;
	}
	char n1[68], n2[68];
	snprintf(msg, cap,
		 "firmware %s under %s: built for %s (ELF%s), not for the Cortex-M7 (ELF32 ARM)",
		 shortened(w->name, n1), shortened(c->sv->cfg.firmware_dir, n2), m,
		 w->elf_class == 1 ? "32" : "64");
	return -ENOEXEC;
}

/* A reload is made safe by its rollback: the last good image must still load as it was
 * verified. A file gone (the kernel cannot load it) or overwritten since (another image
 * comes up) would fail the rollback only after the M7 was stopped, leaving the channel
 * failed; so the reload is refused now, while the running image is untouched. */
int sv_verify_check_rollback(struct sv_chan *c, char *msg, size_t cap)
{
	const struct sv_fwid *g = &c->rollback;
	char was[2 * FWVERIFY_ID_MAX + 1], is[2 * FWVERIFY_ID_MAX + 1], n1[68];
	struct sv_fwid now;
	int r = sv_verify_identity(c, g->name, &now);

	/* A record without a build id ("none") can only be checked for its file. */
	if (r == 0 &&
	    (g->id_len == 0 || (now.id_len == g->id_len && memcmp(now.id, g->id, g->id_len) == 0)))
		return 0;
	if (r < 0) {
		const char *why = image_fault(r, g->name);
		snprintf(msg, cap, "cannot roll back to last good firmware %s: %s",
			 shortened(g->name, n1), why ? why : strerror(-r));
		return r;
	}
	fwverify_hex(g->id, g->id_len, was, sizeof(was));
	fwverify_hex(now.id, now.id_len, is, sizeof(is));
	snprintf(msg, cap,
		 "cannot roll back to last good firmware %s: it now holds build id %.40s, not "
		 "%.40s",
		 shortened(g->name, n1), is, was);
	return -ESTALE;
}

int sv_verify_prepare(struct sv_chan *c, const char *firmware, bool no_rollback,
		      struct recovery_event *ev, char *msg, size_t cap)
{
	const struct conf_channel *cc = channel_config(c->ch);
	const char *name = firmware && *firmware ? firmware : cc->firmware ? cc->firmware : "";
	int r = sv_verify_identity(c, name, &c->reload_want);

	if (r < 0 && !*name && c->reload_want.name[0] &&
	    !lifecycle_names_file(c->reload_want.name)) {
		snprintf(msg, cap,
			 "remoteproc names no firmware file ('%.32s': the M7 was started outside "
			 "Linux): name one, or set firmware",
			 c->reload_want.name);
		return r;
	}
	if (r < 0) {
		char n1[68], n2[68];
		const char *fw =
			c->reload_want.name[0] ? shortened(c->reload_want.name, n1) : "(current)";
		const char *dir = shortened(c->sv->cfg.firmware_dir, n2);
		const char *why = image_fault(r, c->reload_want.name);
		if (why)
			snprintf(msg, cap, "firmware %s under %s: %s", fw, dir, why);
		else
			snprintf(msg, cap, "cannot read firmware %s under %s: %s", fw, dir,
				 strerror(-r));
		return r;
	}
	r = check_machine(c, msg, cap);
	if (r < 0)
		return r;
	memset(&c->rollback, 0, sizeof(c->rollback));
	c->ver_detail[0] = '\0';
	if (!no_rollback && strcmp(channel_config(c->ch)->sup.rollback, "off") != 0) {
		if (c->good.name[0]) {
			c->rollback = c->good;
			if ((r = sv_verify_check_rollback(c, msg, cap)) < 0) {
				size_t len = strlen(msg);
				snprintf(msg + len, cap - len,
					 "; restore it, or reload with no_rollback");
				memset(&c->rollback, 0, sizeof(c->rollback));
				return r;
			}
		} else if (sv_verify_identity(c, NULL, &c->rollback) < 0)
			/* What runs now cannot be read back: nothing to roll back to. */
			memset(&c->rollback, 0, sizeof(c->rollback));
	}
	ev->rollback_fw = c->rollback.name[0] ? c->rollback.name : NULL;
	ev->no_rollback = no_rollback;
	struct channel_snapshot snap;
	channel_snapshot(c->ch, &snap);
	c->reload_old_known = snap.have_hello;
	c->reload_old_boot = snap.have_hello ? snap.hello.boot_id : 0;
	return 0;
}

/* ---- verification of the image that came up ---- */

static void arm(struct sv_chan *c)
{
	uint64_t dl = fwverify_deadline(&c->ver);

	if (dl)
		sv_chan_arm(c->ev_ver, dl);
	else
		evtimer_del(c->ev_ver);
}

/* Logs and records the verdict; the ladder gets it from the timer (never re-entered). */
static void verdict(struct sv_chan *c, bool ok)
{
	char want[2 * FWVERIFY_ID_MAX + 2], got[2 * FWVERIFY_ID_MAX + 2];
	const struct fwverify *v = &c->ver;
	bool reload = c->ver_step != RECOVERY_STEP_REMOTEPROC && c->ver_step != RECOVERY_STEP_START;
	struct log_fields lf = sv_chan_fields(c, reload ? LOG_MID_RELOAD : LOG_MID_RECOVERY, 0);
	uint64_t ms = daemon_now_ms() - v->started_ms;

	fwverify_hex(v->want, v->want_len, want, sizeof(want));
	if (v->got_boot_info)
		fwverify_hex(v->got, v->got_len, got, sizeof(got));
	else
		snprintf(got, sizeof(got), "%s", "nothing");
	if (ok) {
		log_struct(c->sv->log, LOG_NOTICE, &lf,
			   "%s %s verified in %llu ms (build id %s, boot_id %08x)",
			   recovery_step_to_string(c->ver_step), c->ver_want.name,
			   (unsigned long long)ms, v->want_len ? want : "not checked", v->boot_id);
		sv_chan_note(c, INCIDENT_STEP, "verified %s build id %s", c->ver_want.name, want);
		/* A rollback target is already the last good one. An image without a build
		 * id is recorded only when a reload asked for it ("none": its identity goes
		 * unchecked, as its reload's did), or recoveries would undo that reload. */
		if (c->ver_step != RECOVERY_STEP_ROLLBACK && c->ver_want.name[0] &&
		    (c->ver_want.id_len || c->ver_step == RECOVERY_STEP_RELOAD)) {
			/* A reload's image is what recoveries load from now on; the ladder's
			 * and the start's keep that as long as they loaded it. */
			bool by_reload =
				c->ver_step == RECOVERY_STEP_RELOAD ||
				(c->good_reloaded && strcmp(c->good.name, c->ver_want.name) == 0);
			save_good(c, &c->ver_want, by_reload);
			if (by_reload)
				(void)recovery_set_firmware(&c->rec, c->ver_want.name);
			if (c->ver_step == RECOVERY_STEP_RELOAD)
				share_reloaded(c, &c->ver_want);
		}
	} else {
		char d[320];
		if (v->reason == FWVERIFY_NOT_RESTARTED)
			snprintf(d, sizeof(d),
				 "%.60s: not_restarted: boot_id %08x answered, the boot from "
				 "before the load",
				 c->ver_want.name, v->boot_id);
		else
			snprintf(d, sizeof(d), "%.60s: %s%s%.24s: expected %.40s, got %.40s",
				 c->ver_want.name, fwverify_reason_to_string(v->reason),
				 v->reason == FWVERIFY_FAULT ? " " : "",
				 v->reason == FWVERIFY_FAULT ? v->fault : "", want, got);
		snprintf(c->ver_detail, sizeof(c->ver_detail), "%.159s", d);
		log_struct(c->sv->log, LOG_WARNING, &lf, "%s failed verification after %llu ms: %s",
			   recovery_step_to_string(c->ver_step), (unsigned long long)ms,
			   c->ver_detail);
		sv_chan_note(c, INCIDENT_STEP, "verify failed: %s", c->ver_detail);
		/* The incident keeps why the reload failed, and why its rollback did. */
		if (c->inc && c->ver_step == RECOVERY_STEP_RELOAD)
			snprintf(c->inc->detail, sizeof(c->inc->detail), "%s", c->ver_detail);
		else if (c->inc && c->ver_step == RECOVERY_STEP_ROLLBACK)
			snprintf(c->inc->detail + strlen(c->inc->detail),
				 sizeof(c->inc->detail) - strlen(c->inc->detail), "; rollback %s",
				 c->ver_detail);
	}
	c->ver_pending = true;
	sv_chan_arm(c->ev_ver, daemon_now_ms());
}

static void act(struct sv_chan *c, enum fwverify_action a)
{
	switch (a) {
	case FWVERIFY_NONE:
		break;
	case FWVERIFY_SEND_PING:
		sv_chan_send_ping(c);
		break;
	case FWVERIFY_PASSED:
	case FWVERIFY_REJECTED:
		verdict(c, a == FWVERIFY_PASSED);
		return;
	}
	arm(c);
}

void sv_verify_start(struct sv_chan *c, const struct recovery_action *a)
{
	const struct supervisor_channel_conf *s = &channel_config(c->ch)->sup;
	bool probation = a->step == RECOVERY_STEP_RELOAD || a->step == RECOVERY_STEP_ROLLBACK;
	struct fwverify_config cfg = {.boot_info_ms = SV_BOOT_INFO_MS,
				      .probation_ms = probation ? s->reload_probation_ms : 0,
				      .answer_ms = s->liveness_answer_ms};
	uint64_t now = daemon_now_ms();

	c->ver_token = a->token;
	c->ver_step = a->step;
	c->ver_pending = false;
	if (a->step != RECOVERY_STEP_ROLLBACK)
		c->ver_detail[0] = '\0'; /* a rollback reports why the reload failed */
	if (a->step == RECOVERY_STEP_RELOAD)
		c->ver_want = c->reload_want;
	else if (a->step == RECOVERY_STEP_ROLLBACK)
		c->ver_want = c->rollback;
	else if (sv_verify_identity(c, a->firmware, &c->ver_want) < 0)
		c->ver_want.id_len = 0; /* the ladder cannot refuse: HELLO alone then */
	fwverify_start(&c->ver, &cfg, c->ver_want.id, c->ver_want.id_len, a->deadline_ms, now);
	/* Only a reload must bring a new boot: a rollback may find its image still running
	 * (the reload's load never took), which is what it wants. */
	if (a->step == RECOVERY_STEP_RELOAD && c->reload_old_known)
		fwverify_expect_new_boot(&c->ver, c->reload_old_boot);
	if (channel_is_raw(c->ch)) {
		/* Raw firmware sends neither HELLO nor BOOT_INFO: nothing can prove which image
		 * runs, so the step is done once remoteproc started it; the tty reopens by
		 * itself. Never recorded as last good: it was not verified. */
		sv_chan_note(c, INCIDENT_STEP, "raw channel: %s started, identity not verifiable",
			     c->ver_want.name[0] ? c->ver_want.name : "?");
		c->ver.state = FWVERIFY_VERIFIED;
		c->ver_pending = true;
		sv_chan_arm(c->ev_ver, now);
		return;
	}
	sv_chan_note(c, INCIDENT_STEP, "verify %s (%s) probation %u ms",
		     c->ver_want.name[0] ? c->ver_want.name : "?",
		     c->ver_want.id_len ? "build id" : "no build id", cfg.probation_ms);
	arm(c);
}

/* The first image seen with a build id matching its file is the first good record. */
static void probe_good(struct sv_chan *c, const struct m7b_boot_info *bi)
{
	struct sv_fwid cur;

	if (c->good_probed || c->good.name[0] || recovery_busy(&c->rec) ||
	    !channel_config(c->ch)->remoteproc || !(bi->present & M7B_BI_HAS_BUILD_ID))
		return;
	c->good_probed = true;
	if (sv_verify_identity(c, NULL, &cur) == 0 && cur.id_len == bi->build_id_len &&
	    memcmp(cur.id, bi->build_id, cur.id_len) == 0)
		save_good(c, &cur, false);
}

void sv_verify_on_msg(struct sv_chan *c, const struct channel_msg *m)
{
	struct fwverify_event ev = {0};

	if (m->bad_payload)
		return;
	switch (m->frame->type) {
	case M7B_T_HELLO:
		ev.type = FWVERIFY_EV_HELLO;
		ev.boot_id = m->u.hello.boot_id;
		break;
	case M7B_T_BOOT_INFO:
		probe_good(c, &m->u.boot_info);
		ev.type = FWVERIFY_EV_BOOT_INFO;
		if (m->u.boot_info.present & M7B_BI_HAS_BUILD_ID) {
			ev.id = m->u.boot_info.build_id;
			ev.id_len = m->u.boot_info.build_id_len;
		}
		break;
	case M7B_T_HEARTBEAT:
		ev.type = FWVERIFY_EV_HEARTBEAT;
		if (m->u.heartbeat.ncounters > M7B_HB_HOST_FRAMES) {
			ev.has_host_frames = true;
			ev.host_frames = m->u.heartbeat.counter[M7B_HB_HOST_FRAMES];
		}
		break;
	default:
		return;
	}
	if (fwverify_running(&c->ver))
		act(c, fwverify_handle(&c->ver, &ev, daemon_now_ms()));
}

void sv_verify_on_fault(struct sv_chan *c, const char *kind)
{
	struct fwverify_event ev = {.type = FWVERIFY_EV_FAULT, .fault = kind};

	if (fwverify_running(&c->ver))
		act(c, fwverify_handle(&c->ver, &ev, daemon_now_ms()));
}

void sv_verify_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sv_chan *c = arg;
	struct fwverify_event ev = {.type = FWVERIFY_EV_TICK};

	if (c->ver_pending) {
		struct recovery_event res = {.type = RECOVERY_EV_RESULT, .token = c->ver_token};
		c->ver_pending = false;
		if (c->ver.state != FWVERIFY_VERIFIED) {
			res.result = -EPROTO;
			res.reason = fwverify_reason_to_string(c->ver.reason);
		}
		sv_action_feed(c, &res);
	} else if (fwverify_running(&c->ver)) {
		act(c, fwverify_handle(&c->ver, &ev, daemon_now_ms()));
	}
	sv_chan_flush(c);
}
