/* Firmware verification after a load: HELLO, the expected build id in BOOT_INFO, then a
 * probation in which no fault may come and which ends with an answered PING. Pure. */
#include "fwverify.h"
#include "macro.h"

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
		return FWVERIFY_SEND_PING;
	case FWVERIFY_FINAL_PING:
		return reject(v, FWVERIFY_SILENT);
	default:
		return FWVERIFY_NONE;
	}
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
		/* Only the answer to the final PING ends probation: alive at its end. */
		return v->state == FWVERIFY_FINAL_PING ? pass(v, now_ms) : FWVERIFY_NONE;
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
