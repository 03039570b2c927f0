/* Firmware verification after a load: HELLO, the expected build id in BOOT_INFO, then a
 * probation in which no fault may come and which ends with an answered PING. Pure. */
#include "fwverify.h"
#include "elfinfo.h"
#include "macro.h"
#include "recovery.h"
#include "m7bridge/hex.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const reason_names[] = {
	[FWVERIFY_OK] = "ok",
	[FWVERIFY_NO_HELLO] = "no_hello",
	[FWVERIFY_NO_BOOT_INFO] = "no_boot_info",
	[FWVERIFY_NO_IDENTITY] = "no_identity",
	[FWVERIFY_WRONG_IDENTITY] = "wrong_identity",
	[FWVERIFY_REBOOTED] = "rebooted",
	[FWVERIFY_FAULT] = "fault",
	[FWVERIFY_SILENT] = "silent",
	[FWVERIFY_NOT_RESTARTED] = "not_restarted",
};
DEFINE_STRING_TABLE_LOOKUP(fwverify_reason, enum fwverify_reason, reason_names)

static const char *const state_names[] = {
	[FWVERIFY_IDLE] = "idle",
	[FWVERIFY_WAIT_HELLO] = "wait_hello",
	[FWVERIFY_WAIT_BOOT_INFO] = "wait_boot_info",
	[FWVERIFY_PROBATION] = "probation",
	[FWVERIFY_FINAL_PING] = "final_ping",
	[FWVERIFY_VERIFIED] = "verified",
	[FWVERIFY_FAILED] = "failed",
};
DEFINE_STRING_TABLE_LOOKUP(fwverify_state, enum fwverify_state, state_names)

void fwverify_start(struct fwverify *v, const struct fwverify_config *cfg, const uint8_t *want,
		    size_t want_len, uint64_t hello_deadline_ms, uint64_t now_ms)
{
	memset(v, 0, sizeof(*v));
	v->cfg = *cfg;
	if (want && want_len <= sizeof(v->want)) {
		memcpy(v->want, want, want_len);
		v->want_len = want_len;
	}
	v->state = FWVERIFY_WAIT_HELLO;
	v->started_ms = now_ms;
	v->deadline = hello_deadline_ms > now_ms ? hello_deadline_ms : now_ms;
}

void fwverify_expect_new_boot(struct fwverify *v, uint32_t boot_id)
{
	v->old_boot_known = true;
	v->old_boot_id = boot_id;
}

bool fwverify_running(const struct fwverify *v)
{
	return v->state >= FWVERIFY_WAIT_HELLO && v->state <= FWVERIFY_FINAL_PING;
}

uint64_t fwverify_deadline(const struct fwverify *v)
{
	return fwverify_running(v) ? v->deadline : 0;
}

static enum fwverify_action reject(struct fwverify *v, enum fwverify_reason why)
{
	v->state = FWVERIFY_FAILED;
	v->reason = why;
	v->deadline = 0;
	return FWVERIFY_REJECTED;
}

static enum fwverify_action pass(struct fwverify *v, uint64_t now)
{
	v->state = FWVERIFY_VERIFIED;
	v->verified_ms = now;
	v->deadline = 0;
	return FWVERIFY_PASSED;
}

/* The identity is right (or not checked): probation, or done when there is none. The
 * PING at its start gets a first HEARTBEAT early; only the final one decides. */
static enum fwverify_action begin_probation(struct fwverify *v, uint64_t now)
{
	if (v->cfg.probation_ms == 0)
		return pass(v, now);
	v->state = FWVERIFY_PROBATION;
	v->deadline = now + v->cfg.probation_ms;
	return FWVERIFY_SEND_PING;
}

static enum fwverify_action on_hello(struct fwverify *v, const struct fwverify_event *ev,
				     uint64_t now)
{
	if (v->state == FWVERIFY_WAIT_HELLO) {
		v->boot_id = ev->boot_id;
		/* A load restarts the M7, and each boot draws a new boot_id (docs/PROTOCOL.md):
		 * the old one answering means the old image never stopped, whatever its
		 * identity says (the same build, or none to check). */
		if (v->old_boot_known && ev->boot_id == v->old_boot_id)
			return reject(v, FWVERIFY_NOT_RESTARTED);
		if (v->want_len == 0)
			return begin_probation(v, now);
		v->state = FWVERIFY_WAIT_BOOT_INFO;
		v->deadline = now + v->cfg.boot_info_ms;
		return FWVERIFY_NONE;
	}
	/* Our HOST_HELLO is answered with the same boot; another one is a restart. */
	if (ev->boot_id != v->boot_id)
		return reject(v, FWVERIFY_REBOOTED);
	return FWVERIFY_NONE;
}

static enum fwverify_action on_boot_info(struct fwverify *v, const struct fwverify_event *ev,
					 uint64_t now)
{
	if (v->state == FWVERIFY_WAIT_HELLO)
		return FWVERIFY_NONE; /* belongs to a HELLO before ours */
	v->got_boot_info = true;
	v->got_len = ev->id && ev->id_len <= sizeof(v->got) ? ev->id_len : 0;
	if (v->got_len)
		memcpy(v->got, ev->id, v->got_len);
	if (v->state != FWVERIFY_WAIT_BOOT_INFO)
		return FWVERIFY_NONE;
	if (v->got_len == 0)
		return reject(v, FWVERIFY_NO_IDENTITY);
	if (v->got_len != v->want_len || memcmp(v->got, v->want, v->want_len) != 0)
		return reject(v, FWVERIFY_WRONG_IDENTITY);
	return begin_probation(v, now);
}

static enum fwverify_action on_tick(struct fwverify *v, uint64_t now)
{
	if (now < v->deadline)
		return FWVERIFY_NONE;
	switch (v->state) {
	case FWVERIFY_WAIT_HELLO:
		return reject(v, FWVERIFY_NO_HELLO);
	case FWVERIFY_WAIT_BOOT_INFO:
		return reject(v, FWVERIFY_NO_BOOT_INFO);
	case FWVERIFY_PROBATION:
		v->state = FWVERIFY_FINAL_PING;
		v->deadline = now + v->cfg.answer_ms;
		v->hf_ping_known = v->hf_known;
		v->hf_ping = v->hf_last;
		return FWVERIFY_SEND_PING;
	case FWVERIFY_FINAL_PING:
		return reject(v, FWVERIFY_SILENT);
	default:
		return FWVERIFY_NONE;
	}
}

/* Only the answer to the final PING ends probation: alive at its end, and taking the
 * host's frames. The firmware sends a HEARTBEAT every period whether or not it does: one
 * whose host_frames count did not move since the PING went out (an image deaf to the
 * mailbox) is no answer; one without counters still is. */
static enum fwverify_action on_heartbeat(struct fwverify *v, const struct fwverify_event *ev,
					 uint64_t now)
{
	bool moved = v->hf_ping_known && ev->host_frames != v->hf_ping;

	if (ev->has_host_frames) {
		v->hf_known = true;
		v->hf_last = ev->host_frames;
	}
	if (v->state != FWVERIFY_FINAL_PING)
		return FWVERIFY_NONE;
	if (!ev->has_host_frames || moved)
		return pass(v, now);
	if (!v->hf_ping_known) {
		/* No count before the PING: this one is the baseline. */
		v->hf_ping_known = true;
		v->hf_ping = ev->host_frames;
	}
	return FWVERIFY_NONE;
}

enum fwverify_action fwverify_handle(struct fwverify *v, const struct fwverify_event *ev,
				     uint64_t now_ms)
{
	if (!fwverify_running(v))
		return FWVERIFY_NONE;
	switch (ev->type) {
	case FWVERIFY_EV_HELLO:
		return on_hello(v, ev, now_ms);
	case FWVERIFY_EV_BOOT_INFO:
		return on_boot_info(v, ev, now_ms);
	case FWVERIFY_EV_HEARTBEAT:
		return on_heartbeat(v, ev, now_ms);
	case FWVERIFY_EV_FAULT:
		/* Before the HELLO the old image's teardown may still be reported (kernel
		 * lines arrive late); the HELLO deadline decides there. */
		if (v->state == FWVERIFY_WAIT_HELLO)
			return FWVERIFY_NONE;
		v->fault = ev->fault ? ev->fault : "fault";
		return reject(v, FWVERIFY_FAULT);
	case FWVERIFY_EV_TICK:
		return on_tick(v, now_ms);
	}
	return FWVERIFY_NONE;
}

bool fwverify_machine_fits(unsigned elf_class, unsigned machine, bool simulated,
			   unsigned host_machine)
{
	if (elf_class == 1 && machine == ELFINFO_EM_ARM)
		return true;
	return simulated && host_machine != 0 && machine == host_machine;
}

/* ---- the last good record ---- */

void fwverify_hex(const uint8_t *id, size_t id_len, char *buf, size_t cap)
{
	static const char digits[] = "0123456789abcdef";
	size_t i, n = 0;

	if (cap == 0)
		return;
	if (id_len == 0) {
		snprintf(buf, cap, "none");
		return;
	}
	for (i = 0; i < id_len && n + 2 < cap; i++) {
		buf[n++] = digits[id[i] >> 4];
		buf[n++] = digits[id[i] & 15];
	}
	buf[n] = '\0';
}

int fwverify_record_parse(const char *line, size_t len, char *name, size_t name_cap, uint8_t *id,
			  size_t id_cap, size_t *id_len)
{
	const char *sp = memchr(line, ' ', len), *hex, *end = line + len;
	size_t nlen, hlen;

	if (len && end[-1] == '\n')
		end--;
	if (!sp || sp >= end || name_cap == 0)
		return -EBADMSG;
	nlen = (size_t)(sp - line);
	if (nlen == 0 || nlen >= name_cap)
		return -EBADMSG;
	memcpy(name, line, nlen);
	name[nlen] = '\0';
	if (!recovery_firmware_name_ok(name))
		return -EBADMSG;
	hex = sp + 1;
	hlen = (size_t)(end - hex);
	*id_len = 0;
	if (hlen == 4 && memcmp(hex, "none", 4) == 0)
		return 0;
	int n = hlen ? m7b_hex_decode(hex, hlen, id, id_cap) : -EBADMSG;
	if (n < 0)
		return -EBADMSG;
	*id_len = (size_t)n;
	return 0;
}

int fwverify_record_format(char *buf, size_t cap, const char *name, const uint8_t *id,
			   size_t id_len)
{
	char hex[2 * FWVERIFY_ID_MAX + 1];
	int n;

	if (!recovery_firmware_name_ok(name) || id_len > FWVERIFY_ID_MAX)
		return -EINVAL;
	fwverify_hex(id, id_len, hex, sizeof(hex));
	n = snprintf(buf, cap, "%s %s\n", name, hex);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}
