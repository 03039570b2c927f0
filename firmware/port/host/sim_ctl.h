/* m7sim's control commands (from --ctl FIFO lines and --at): parsing only. */
#ifndef M7SIM_SIM_CTL_H
#define M7SIM_SIM_CTL_H

#include <stddef.h>
#include <stdint.h>

enum sim_ctl_op {
	SIM_CTL_STALL,	 /* arg ms (0 = until resume): hung M7, link not read nor written */
	SIM_CTL_RESUME,	 /* end a stall or deafness */
	SIM_CTL_DEAF,	 /* arg ms (0 = until resume): the link is read, nothing reaches the core */
	SIM_CTL_GARBAGE, /* arg bytes of noise, then 0x00 */
	SIM_CTL_CORRUPT, /* arg frames with a bad CRC */
	SIM_CTL_DROP,	 /* arg frames swallowed: seq gaps */
	SIM_CTL_REBOOT,	 /* new boot_id, seq restarts, 0x00 + HELLO */
	SIM_CTL_HANGUP,	 /* arg ms: close the pty, come back on a new one after arg ms */
	SIM_CTL_SWAP,	 /* new pty, symlink swapped atomically, old pty closed */
	SIM_CTL_VANISH,	 /* arg ms: symlink removed, old pty silent but open, new pty later */
	SIM_CTL_SLOW,	 /* arg bytes/s: read the link (host -> M7) slowly; 0 = off */
	SIM_CTL_THROTTLE,   /* arg bytes/s: write the link (M7 -> host) slowly; 0 = off */
	SIM_CTL_UART_ERROR, /* port, arg FW_RX_* bits: the next byte on port carries them */
	SIM_CTL_LOG,	    /* arg level, text: a LOG frame */
	SIM_CTL_ASSERT,	    /* the firmware asserts: LOG, then only HELLO/PING answers */
	SIM_CTL_STATS,	    /* prints a stats line on stdout */
	SIM_CTL_QUIT,	    /* exits cleanly */
};

struct sim_ctl_cmd {
	enum sim_ctl_op op;
	uint64_t arg;
	unsigned port;
	char text[128];
};

/* Most noise bytes one "garbage" writes (before its 0x00). */
#define SIM_CTL_GARBAGE_MAX 511u

/* Parses one command line (no newline needed). Returns 0 or -EINVAL with a message in err. */
int sim_ctl_parse(const char *line, struct sim_ctl_cmd *cmd, char *err, size_t errlen);
/* The command's name, for logs. */
const char *sim_ctl_op_to_string(enum sim_ctl_op op);

#endif
