/* Unit tests for firmware verification (daemon/fwverify.c) as tables of timed events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "elfinfo.h"
#include "fwverify.h"

/* HB_COUNT: a HEARTBEAT carrying host_frames (the row's boot_id field holds it). */
enum input { HELLO, BOOT_INFO, BOOT_INFO_NONE, BOOT_INFO_WRONG, HEARTBEAT, HB_COUNT, FAULT, TICK };

struct row {
	uint64_t t;
	enum input in;
	uint32_t boot_id; /* HELLO; HB_COUNT: host_frames */
	enum fwverify_action want;
	enum fwverify_state state;
	uint64_t deadline;
};

static const uint8_t good_id[] = {0xde, 0xad, 0xbe, 0xef};
static const uint8_t wrong_id[] = {0xde, 0xad, 0xbe, 0xee};
static const struct fwverify_config cfg = {
	.boot_info_ms = 500, .probation_ms = 3000, .answer_ms = 1000};

struct tcase {
	const char *name;
	bool know_id;	       /* the ELF had a build id */
	uint32_t probation_ms; /* overrides cfg's when not 0xffffffff */
	const struct row *rows;
	size_t n;
	enum fwverify_reason reason; /* at the end */
};

/* Start at t=0 with the HELLO due by t=2000. */
static const struct row good[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{101, BOOT_INFO, 0, FWVERIFY_SEND_PING, FWVERIFY_PROBATION, 3101},
	{150, HEARTBEAT, 0, FWVERIFY_NONE, FWVERIFY_PROBATION, 3101},
	{200, HELLO, 7, FWVERIFY_NONE, FWVERIFY_PROBATION, 3101}, /* answer to HOST_HELLO */
	{3000, TICK, 0, FWVERIFY_NONE, FWVERIFY_PROBATION, 3101},
	{3101, TICK, 0, FWVERIFY_SEND_PING, FWVERIFY_FINAL_PING, 4101},
	{3110, HEARTBEAT, 0, FWVERIFY_PASSED, FWVERIFY_VERIFIED, 0},
	{3200, FAULT, 0, FWVERIFY_NONE, FWVERIFY_VERIFIED, 0}, /* over: nothing changes */
};
static const struct row wrong[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{101, BOOT_INFO_WRONG, 0, FWVERIFY_REJECTED, FWVERIFY_FAILED, 0},
};
static const struct row no_identity[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{101, BOOT_INFO_NONE, 0, FWVERIFY_REJECTED, FWVERIFY_FAILED, 0},
};
static const struct row no_hello[] = {
	{50, BOOT_INFO, 0, FWVERIFY_NONE, FWVERIFY_WAIT_HELLO, 2000}, /* an older HELLO's */
	{60, FAULT, 0, FWVERIFY_NONE, FWVERIFY_WAIT_HELLO, 2000},     /* the old image's end */
	{1999, TICK, 0, FWVERIFY_NONE, FWVERIFY_WAIT_HELLO, 2000},
	{2000, TICK, 0, FWVERIFY_REJECTED, FWVERIFY_FAILED, 0},
};
static const struct row no_boot_info[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{600, TICK, 0, FWVERIFY_REJECTED, FWVERIFY_FAILED, 0},
};
static const struct row silent[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{101, BOOT_INFO, 0, FWVERIFY_SEND_PING, FWVERIFY_PROBATION, 3101},
	{3101, TICK, 0, FWVERIFY_SEND_PING, FWVERIFY_FINAL_PING, 4101},
	{4100, TICK, 0, FWVERIFY_NONE, FWVERIFY_FINAL_PING, 4101},
	{4101, TICK, 0, FWVERIFY_REJECTED, FWVERIFY_FAILED, 0},
};
/* A heartbeat early in probation does not save an image that then goes quiet. */
static const struct row early_beat_then_silent[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{101, BOOT_INFO, 0, FWVERIFY_SEND_PING, FWVERIFY_PROBATION, 3101},
	{120, HEARTBEAT, 0, FWVERIFY_NONE, FWVERIFY_PROBATION, 3101},
	{3200, TICK, 0, FWVERIFY_SEND_PING, FWVERIFY_FINAL_PING, 4200},
	{4200, TICK, 0, FWVERIFY_REJECTED, FWVERIFY_FAILED, 0},
};
static const struct row kick_in_probation[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{101, BOOT_INFO, 0, FWVERIFY_SEND_PING, FWVERIFY_PROBATION, 3101},
	{400, FAULT, 0, FWVERIFY_REJECTED, FWVERIFY_FAILED, 0},
};
static const struct row rebooted[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{101, BOOT_INFO, 0, FWVERIFY_SEND_PING, FWVERIFY_PROBATION, 3101},
	{900, HELLO, 8, FWVERIFY_REJECTED, FWVERIFY_FAILED, 0},
};
/* No build id in the ELF: HELLO and liveness only; BOOT_INFO is recorded. */
static const struct row unknown_id[] = {
	{100, HELLO, 7, FWVERIFY_SEND_PING, FWVERIFY_PROBATION, 3100},
	{101, BOOT_INFO_WRONG, 0, FWVERIFY_NONE, FWVERIFY_PROBATION, 3100},
	{3100, TICK, 0, FWVERIFY_SEND_PING, FWVERIFY_FINAL_PING, 4100},
	{3150, HEARTBEAT, 0, FWVERIFY_PASSED, FWVERIFY_VERIFIED, 0},
};
/* An image deaf to the mailbox: its periodic HEARTBEATs go on with the same count of
 * frames taken from the host, and answer no PING. */
static const struct row deaf[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{101, BOOT_INFO, 0, FWVERIFY_SEND_PING, FWVERIFY_PROBATION, 3101},
	{1000, HB_COUNT, 1, FWVERIFY_NONE, FWVERIFY_PROBATION, 3101},
	{3101, TICK, 0, FWVERIFY_SEND_PING, FWVERIFY_FINAL_PING, 4101},
	{3500, HB_COUNT, 1, FWVERIFY_NONE, FWVERIFY_FINAL_PING, 4101},
	{4000, HB_COUNT, 1, FWVERIFY_NONE, FWVERIFY_FINAL_PING, 4101},
	{4101, TICK, 0, FWVERIFY_REJECTED, FWVERIFY_FAILED, 0},
};
/* The same with a count that moved: the final PING arrived. */
static const struct row hearing[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{101, BOOT_INFO, 0, FWVERIFY_SEND_PING, FWVERIFY_PROBATION, 3101},
	{1000, HB_COUNT, 2, FWVERIFY_NONE, FWVERIFY_PROBATION, 3101},
	{3101, TICK, 0, FWVERIFY_SEND_PING, FWVERIFY_FINAL_PING, 4101},
	{3500, HB_COUNT, 3, FWVERIFY_PASSED, FWVERIFY_VERIFIED, 0},
};
/* No count before the final PING: the first one after it is the baseline. */
static const struct row count_late[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{101, BOOT_INFO, 0, FWVERIFY_SEND_PING, FWVERIFY_PROBATION, 3101},
	{3101, TICK, 0, FWVERIFY_SEND_PING, FWVERIFY_FINAL_PING, 4101},
	{3200, HB_COUNT, 4, FWVERIFY_NONE, FWVERIFY_FINAL_PING, 4101},
	{3300, HB_COUNT, 5, FWVERIFY_PASSED, FWVERIFY_VERIFIED, 0},
};

/* Identity only (the ladder's remoteproc step): done at the right BOOT_INFO. */
static const struct row identity_only[] = {
	{100, HELLO, 7, FWVERIFY_NONE, FWVERIFY_WAIT_BOOT_INFO, 600},
	{101, BOOT_INFO, 0, FWVERIFY_PASSED, FWVERIFY_VERIFIED, 0},
};

#define CASE(nm, id, prob, rows, why)                                                              \
	{                                                                                          \
		nm, id, prob, rows, sizeof(rows) / sizeof(rows[0]), why                            \
	}

static const struct tcase cases[] = {
	CASE("good", true, 0xffffffffu, good, FWVERIFY_OK),
	CASE("deaf", true, 0xffffffffu, deaf, FWVERIFY_SILENT),
	CASE("hearing", true, 0xffffffffu, hearing, FWVERIFY_OK),
	CASE("count_late", true, 0xffffffffu, count_late, FWVERIFY_OK),
	CASE("wrong", true, 0xffffffffu, wrong, FWVERIFY_WRONG_IDENTITY),
	CASE("no_identity", true, 0xffffffffu, no_identity, FWVERIFY_NO_IDENTITY),
	CASE("no_hello", true, 0xffffffffu, no_hello, FWVERIFY_NO_HELLO),
	CASE("no_boot_info", true, 0xffffffffu, no_boot_info, FWVERIFY_NO_BOOT_INFO),
	CASE("silent", true, 0xffffffffu, silent, FWVERIFY_SILENT),
	CASE("early_beat", true, 0xffffffffu, early_beat_then_silent, FWVERIFY_SILENT),
	CASE("kick", true, 0xffffffffu, kick_in_probation, FWVERIFY_FAULT),
	CASE("rebooted", true, 0xffffffffu, rebooted, FWVERIFY_REBOOTED),
	CASE("unknown_id", false, 0xffffffffu, unknown_id, FWVERIFY_OK),
	CASE("identity_only", true, 0, identity_only, FWVERIFY_OK),
};

static void run_case(const struct tcase *c)
{
	struct fwverify_config k = cfg;
	struct fwverify v;

	if (c->probation_ms != 0xffffffffu)
		k.probation_ms = c->probation_ms;
	fwverify_start(&v, &k, c->know_id ? good_id : NULL, c->know_id ? sizeof(good_id) : 0, 2000,
		       0);
	for (size_t i = 0; i < c->n; i++) {
		const struct row *r = &c->rows[i];
		struct fwverify_event ev = {.boot_id = r->boot_id, .fault = "kick_timeout"};
		enum fwverify_action got;

		switch (r->in) {
		case HELLO:
			ev.type = FWVERIFY_EV_HELLO;
			break;
		case BOOT_INFO:
			ev.type = FWVERIFY_EV_BOOT_INFO;
			ev.id = good_id;
			ev.id_len = sizeof(good_id);
			break;
		case BOOT_INFO_WRONG:
			ev.type = FWVERIFY_EV_BOOT_INFO;
			ev.id = wrong_id;
			ev.id_len = sizeof(wrong_id);
			break;
		case BOOT_INFO_NONE:
			ev.type = FWVERIFY_EV_BOOT_INFO;
			break;
		case HEARTBEAT:
			ev.type = FWVERIFY_EV_HEARTBEAT;
			break;
		case HB_COUNT:
			ev.type = FWVERIFY_EV_HEARTBEAT;
			ev.has_host_frames = true;
			ev.host_frames = r->boot_id;
			break;
		case FAULT:
			ev.type = FWVERIFY_EV_FAULT;
			break;
		case TICK:
			ev.type = FWVERIFY_EV_TICK;
			break;
		}
		got = fwverify_handle(&v, &ev, r->t);
		if (got != r->want || v.state != r->state || fwverify_deadline(&v) != r->deadline)
			fail_msg(
				"%s row %zu: got action %d state %s deadline %llu; want %d %s %llu",
				c->name, i, got, fwverify_state_to_string(v.state),
				(unsigned long long)fwverify_deadline(&v), r->want,
				fwverify_state_to_string(r->state),
				(unsigned long long)r->deadline);
	}
	if (v.reason != c->reason)
		fail_msg("%s: reason %s, want %s", c->name, fwverify_reason_to_string(v.reason),
			 fwverify_reason_to_string(c->reason));
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

static void test_details(void **state)
{
	struct fwverify v;
	struct fwverify_event ev = {.type = FWVERIFY_EV_HELLO, .boot_id = 1};

	(void)state;
	/* Both identities are kept for the incident. */
	fwverify_start(&v, &cfg, good_id, sizeof(good_id), 100, 0);
	assert_true(fwverify_running(&v));
	fwverify_handle(&v, &ev, 10);
	ev = (struct fwverify_event){.type = FWVERIFY_EV_BOOT_INFO, .id = wrong_id, .id_len = 4};
	assert_int_equal(fwverify_handle(&v, &ev, 11), FWVERIFY_REJECTED);
	assert_memory_equal(v.want, good_id, 4);
	assert_memory_equal(v.got, wrong_id, 4);
	assert_false(fwverify_running(&v));
	/* The fault's token is kept. */
	fwverify_start(&v, &cfg, NULL, 0, 100, 0);
	ev = (struct fwverify_event){.type = FWVERIFY_EV_HELLO, .boot_id = 1};
	assert_int_equal(fwverify_handle(&v, &ev, 10), FWVERIFY_SEND_PING);
	ev = (struct fwverify_event){.type = FWVERIFY_EV_FAULT, .fault = "stall"};
	assert_int_equal(fwverify_handle(&v, &ev, 20), FWVERIFY_REJECTED);
	assert_string_equal(v.fault, "stall");
	/* A deadline in the past is now; an idle machine wants no timer. */
	fwverify_start(&v, &cfg, NULL, 0, 5, 10);
	assert_int_equal(fwverify_deadline(&v), 10);
	memset(&v, 0, sizeof(v));
	assert_int_equal(fwverify_deadline(&v), 0);
	assert_int_equal(fwverify_handle(&v, &ev, 20), FWVERIFY_NONE);
	assert_string_equal(fwverify_reason_to_string(FWVERIFY_SILENT), "silent");
	assert_string_equal(fwverify_reason_to_string(99), "unknown");
}

/* An image that answers with the boot_id seen before the load did not restart: the old
 * image still runs (stop, new name, start left it so). Its identity cannot tell when it
 * is unchecked or the same build, so the boot decides; another boot goes on as usual. */
static void test_old_boot(void **state)
{
	static const struct {
		bool know_id;
		uint32_t boot_id;
		enum fwverify_action want;
	} rows[] = {
		{true, 7, FWVERIFY_REJECTED},
		{false, 7, FWVERIFY_REJECTED},
		{true, 8, FWVERIFY_NONE},
		{false, 8, FWVERIFY_SEND_PING},
	};
	struct fwverify v;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct fwverify_event ev = {.type = FWVERIFY_EV_HELLO, .boot_id = rows[i].boot_id};
		fwverify_start(&v, &cfg, rows[i].know_id ? good_id : NULL,
			       rows[i].know_id ? sizeof(good_id) : 0, 2000, 0);
		fwverify_expect_new_boot(&v, 7);
		if (fwverify_handle(&v, &ev, 100) != rows[i].want)
			fail_msg("row %zu: boot %u", i, rows[i].boot_id);
		assert_int_equal(v.reason, rows[i].want == FWVERIFY_REJECTED
						   ? FWVERIFY_NOT_RESTARTED
						   : FWVERIFY_OK);
	}
	assert_string_equal(fwverify_reason_to_string(FWVERIFY_NOT_RESTARTED), "not_restarted");
	/* Not asked for (a rollback, a ladder's step): the same boot is fine. */
	struct fwverify_event ev = {.type = FWVERIFY_EV_HELLO, .boot_id = 7};
	fwverify_start(&v, &cfg, NULL, 0, 2000, 0);
	assert_int_equal(fwverify_handle(&v, &ev, 100), FWVERIFY_SEND_PING);
}

/* The last good record: what the state directory holds across restarts. */
static void test_record(void **state)
{
	static const struct {
		const char *line;
		int ret;
		const char *name;
		size_t id_len;
	} rows[] = {
		{"app.elf deadbeef\n", 0, "app.elf", 4},
		{"app.elf DEADbeef", 0, "app.elf", 4},
		{"app.elf none\n", 0, "app.elf", 0},
		{"app.elf\n", -EBADMSG, NULL, 0},
		{"app.elf \n", -EBADMSG, NULL, 0},
		{"app.elf deadbee\n", -EBADMSG, NULL, 0},
		{"app.elf deadbeeg\n", -EBADMSG, NULL, 0},
		{"app.elf dead beef\n", -EBADMSG, NULL, 0},
		{"../x.elf 00\n", -EBADMSG, NULL, 0},
		{".hidden 00\n", -EBADMSG, NULL, 0},
		{" 00\n", -EBADMSG, NULL, 0},
		{"", -EBADMSG, NULL, 0},
	};
	char name[32], buf[200], hex[9];
	uint8_t id[FWVERIFY_ID_MAX];
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int r = fwverify_record_parse(rows[i].line, strlen(rows[i].line), name,
					      sizeof(name), id, sizeof(id), &len);
		if (r != rows[i].ret)
			fail_msg("row %zu (%s): %d, want %d", i, rows[i].line, r, rows[i].ret);
		if (r == 0) {
			assert_string_equal(name, rows[i].name);
			assert_int_equal(len, rows[i].id_len);
		}
	}
	/* A name that does not fit, an id longer than the caller's buffer. */
	assert_int_equal(fwverify_record_parse("abcdefgh.elf 00", 15, name, 8, id, 4, &len),
			 -EBADMSG);
	assert_int_equal(fwverify_record_parse("a.elf 0011223344", 16, name, 8, id, 4, &len),
			 -EBADMSG);
	/* format -> parse gives the same record */
	assert_int_equal(fwverify_record_format(buf, sizeof(buf), "good.elf", good_id, 4), 18);
	assert_string_equal(buf, "good.elf deadbeef\n");
	assert_int_equal(
		fwverify_record_parse(buf, strlen(buf), name, sizeof(name), id, sizeof(id), &len),
		0);
	assert_memory_equal(id, good_id, 4);
	assert_int_equal(fwverify_record_format(buf, sizeof(buf), "a/b", good_id, 4), -EINVAL);
	assert_int_equal(fwverify_record_format(buf, 10, "good.elf", good_id, 4), -ENOSPC);
	fwverify_hex(good_id, 4, hex, sizeof(hex));
	assert_string_equal(hex, "deadbeef");
	fwverify_hex(good_id, 4, hex, 5); /* cut to fit, whole bytes */
	assert_string_equal(hex, "dead");
	fwverify_hex(NULL, 0, hex, sizeof(hex));
	assert_string_equal(hex, "none");
}

/* Only ELF32 ARM goes to the kernel's remoteproc; the simulator also takes this host's. */
static void test_machine_fits(void **state)
{
	static const struct {
		unsigned cls, machine;
		bool simulated;
		unsigned host;
		bool fits;
	} fits[] = {
		{1, ELFINFO_EM_ARM, false, ELFINFO_EM_X86_64, true},
		{1, ELFINFO_EM_ARM, true, ELFINFO_EM_X86_64, true},
		{2, ELFINFO_EM_X86_64, false, ELFINFO_EM_X86_64, false},
		{2, ELFINFO_EM_AARCH64, false, ELFINFO_EM_X86_64, false},
		{2, ELFINFO_EM_AARCH64, false, ELFINFO_EM_AARCH64, false},
		{2, ELFINFO_EM_ARM, false, ELFINFO_EM_X86_64, false},
		{2, ELFINFO_EM_X86_64, true, ELFINFO_EM_X86_64, true},
		{2, ELFINFO_EM_AARCH64, true, ELFINFO_EM_X86_64, false},
		{2, ELFINFO_EM_AARCH64, true, ELFINFO_EM_AARCH64, true},
		{2, 0, true, 0, false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(fits) / sizeof(fits[0]); i++)
		if (fwverify_machine_fits(fits[i].cls, fits[i].machine, fits[i].simulated,
					  fits[i].host) != fits[i].fits)
			fail_msg("case %zu", i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),	     cmocka_unit_test(test_details),
		cmocka_unit_test(test_old_boot),     cmocka_unit_test(test_record),
		cmocka_unit_test(test_machine_fits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
