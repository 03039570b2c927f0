/* Firmware verification after a load: the image that comes up must say HELLO, report the
 * build identity that was asked for in BOOT_INFO, and stay alive through a probation.
 * Pure: events and the current time in, one action out. See docs/RECOVERY.md. */
#ifndef M7B_FWVERIFY_H
#define M7B_FWVERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FWVERIFY_ID_MAX 64u

enum fwverify_state {
	FWVERIFY_IDLE = 0,
	FWVERIFY_WAIT_HELLO,	 /* the link is open, HOST_HELLO sent */
	FWVERIFY_WAIT_BOOT_INFO, /* HELLO came; its identity follows */
	FWVERIFY_PROBATION,	 /* identity right; any fault now fails it */
	FWVERIFY_FINAL_PING,	 /* probation over: a PING must be answered */
	FWVERIFY_VERIFIED,
	FWVERIFY_FAILED,
};

/* Why a verification failed (also the STATE reason of a rollback). */
enum fwverify_reason {
	FWVERIFY_OK = 0,
	FWVERIFY_NO_HELLO,	 /* no HELLO before the deadline */
	FWVERIFY_NO_BOOT_INFO,	 /* HELLO, but no BOOT_INFO after it */
	FWVERIFY_NO_IDENTITY,	 /* BOOT_INFO without a build id, one was expected */
	FWVERIFY_WRONG_IDENTITY, /* another image runs */
	FWVERIFY_REBOOTED,	 /* a new boot during probation */
	FWVERIFY_FAULT,		 /* a fault (kick failure, stall, link lost) during probation */
	FWVERIFY_SILENT,	 /* no HEARTBEAT answered the PING at the end of probation */
	FWVERIFY_NOT_RESTARTED,	 /* HELLO with the boot_id from before the load */
};

enum fwverify_event_type {
	FWVERIFY_EV_HELLO,     /* boot_id */
	FWVERIFY_EV_BOOT_INFO, /* id, id_len (0: none reported) */
	FWVERIFY_EV_HEARTBEAT, /* liveness: the firmware answers; has_host_frames, host_frames */
	FWVERIFY_EV_FAULT,     /* fault: static token (kick_timeout, stall, link_lost) */
	FWVERIFY_EV_TICK,      /* time passed */
};

struct fwverify_event {
	enum fwverify_event_type type;
	uint32_t boot_id;
	const uint8_t *id;
	size_t id_len;
	const char *fault;
	/* HEARTBEAT: the firmware's count of frames it took from the host, when it carries
	 * it (a periodic HEARTBEAT whose count did not move does not answer a PING). */
	bool has_host_frames;
	uint32_t host_frames;
};

enum fwverify_action {
	FWVERIFY_NONE = 0,
	FWVERIFY_SEND_PING, /* ask for a HEARTBEAT now */
	FWVERIFY_PASSED,    /* verified: reported once */
	FWVERIFY_REJECTED,  /* failed: reported once; reason says why */
};

struct fwverify_config {
	uint32_t boot_info_ms; /* BOOT_INFO must follow HELLO within this */
	uint32_t probation_ms; /* 0 = identity only */
	uint32_t answer_ms;    /* the final PING's answer */
};

struct fwverify {
	struct fwverify_config cfg;
	enum fwverify_state state;
	enum fwverify_reason reason;
	const char *fault; /* FAULT: the fault's token */
	uint8_t want[FWVERIFY_ID_MAX];
	size_t want_len; /* 0: identity unknown, not checked */
	uint8_t got[FWVERIFY_ID_MAX];
	size_t got_len;
	bool got_boot_info;
	uint32_t boot_id;
	bool old_boot_known; /* the boot before the load, which the HELLO must not be */
	uint32_t old_boot_id;
	/* host_frames: the last count seen, and the count when the final PING was sent */
	bool hf_known, hf_ping_known;
	uint32_t hf_last, hf_ping;
	uint64_t started_ms, deadline, verified_ms;
};

/* Starts verifying: want (want_len bytes, 0 = unknown) is the expected build id; a HELLO
 * must come by hello_deadline_ms. */
void fwverify_start(struct fwverify *v, const struct fwverify_config *cfg, const uint8_t *want,
		    size_t want_len, uint64_t hello_deadline_ms, uint64_t now_ms);
/* After fwverify_start(): the image that ran before the load said boot_id; a HELLO with
 * it comes from that image, still running, and fails (not_restarted). */
void fwverify_expect_new_boot(struct fwverify *v, uint32_t boot_id);
/* Feeds one event at now_ms; says what to do. Nothing happens after PASSED/REJECTED. */
enum fwverify_action fwverify_handle(struct fwverify *v, const struct fwverify_event *ev,
				     uint64_t now_ms);
/* When TICK must come next; 0 when no timer is needed. */
uint64_t fwverify_deadline(const struct fwverify *v);
/* True while a verification runs. */
bool fwverify_running(const struct fwverify *v);
/* The last good record, one line "NAME BUILD_ID_HEX\n" ("none" for no id): parses
 * line (len bytes, from a file) into name (name_cap, NUL-terminated; a plain firmware
 * file name) and id. 0 or -EBADMSG. */
int fwverify_record_parse(const char *line, size_t len, char *name, size_t name_cap, uint8_t *id,
			  size_t id_cap, size_t *id_len);
/* Formats that line into buf; the length, or -ENOSPC / -EINVAL (not a plain name). */
int fwverify_record_format(char *buf, size_t cap, const char *name, const uint8_t *id,
			   size_t id_len);
/* Lower-case hex of id into buf ("none" when id_len is 0), cut to fit cap. */
void fwverify_hex(const uint8_t *id, size_t id_len, char *buf, size_t cap);

/* Whether an ELF of elf_class (1 = ELF32) and e_machine may be loaded before anything is
 * stopped: the kernel's remoteproc runs ELF32 ARM images on the Cortex-M7; a simulated
 * remoteproc boots the simulator, a program of this host, so host_machine (when not 0)
 * fits there too. */
bool fwverify_machine_fits(unsigned elf_class, unsigned machine, bool simulated,
			   unsigned host_machine);

/* Names for logs and STATE reasons. */
const char *fwverify_reason_to_string(enum fwverify_reason r);
const char *fwverify_state_to_string(enum fwverify_state s);

#endif
