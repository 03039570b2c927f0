/* m7sim's control commands (from --ctl FIFO lines and --at): parsing only. */
#include "sim_ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw.h"

/* Counts and rates are 32-bit where they are used; times in ms are kept below 2^32 so
 * that their nanoseconds cannot overflow. */
#define ARG_MAX UINT32_MAX

static const struct {
	const char *name;
	enum sim_ctl_op op;
	int arg;      /* 0 none, 1 optional number, 2 required number */
	uint64_t def; /* value when the optional number is missing */
	uint64_t max; /* largest number taken: more is refused, never cut down */
} cmds[] = {
	{"stall", SIM_CTL_STALL, 1, 0, ARG_MAX},
	{"resume", SIM_CTL_RESUME, 0, 0, 0},
	{"deaf", SIM_CTL_DEAF, 1, 0, ARG_MAX},
	{"garbage", SIM_CTL_GARBAGE, 1, 64, SIM_CTL_GARBAGE_MAX},
	{"corrupt", SIM_CTL_CORRUPT, 1, 1, ARG_MAX},
	{"drop", SIM_CTL_DROP, 1, 1, ARG_MAX},
	{"reboot", SIM_CTL_REBOOT, 0, 0, 0},
	{"hangup", SIM_CTL_HANGUP, 1, 500, ARG_MAX},
	{"swap", SIM_CTL_SWAP, 0, 0, 0},
	{"vanish", SIM_CTL_VANISH, 1, 1000, ARG_MAX},
	{"slow", SIM_CTL_SLOW, 2, 0, ARG_MAX},
	{"throttle", SIM_CTL_THROTTLE, 2, 0, ARG_MAX},
	{"uart-error", SIM_CTL_UART_ERROR, 0, 0, 0},
	{"log", SIM_CTL_LOG, 0, 0, 0},
	{"assert", SIM_CTL_ASSERT, 0, 0, 0},
	{"stats", SIM_CTL_STATS, 0, 0, 0},
	{"quit", SIM_CTL_QUIT, 0, 0, 0},
};

const char *sim_ctl_op_to_string(enum sim_ctl_op op)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (cmds[i].op == op)
			return cmds[i].name;
	return "unknown";
}

static int number(const char *s, uint64_t *v)
{
	char *end;

	if (!s || *s == '-' || *s == '\0')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno || *end != '\0') ? -EINVAL : 0;
}

int sim_ctl_parse(const char *line, struct sim_ctl_cmd *cmd, char *err, size_t errlen)
{
	char buf[256], *save = NULL, *word, *a1, *rest;
	size_t i;

	memset(cmd, 0, sizeof(*cmd));
	if (strlen(line) >= sizeof(buf)) {
		snprintf(err, errlen, "command too long");
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", line);
	buf[strcspn(buf, "\r\n")] = '\0';
	word = strtok_r(buf, " \t", &save);
	if (!word) {
		snprintf(err, errlen, "empty command");
		return -EINVAL;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(word, cmds[i].name))
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		snprintf(err, errlen, "unknown command '%s'", word);
		return -EINVAL;
	}
	cmd->op = cmds[i].op;
	cmd->arg = cmds[i].def;

	if (cmd->op == SIM_CTL_LOG) {
		/* log LEVEL TEXT... */
		a1 = strtok_r(NULL, " \t", &save);
		rest = strtok_r(NULL, "", &save);
		if (number(a1, &cmd->arg) || cmd->arg > 7 || !rest) {
			snprintf(err, errlen, "usage: log LEVEL(0-7) TEXT");
			return -EINVAL;
		}
		snprintf(cmd->text, sizeof(cmd->text), "%s", rest);
		return 0;
	}
	if (cmd->op == SIM_CTL_UART_ERROR) {
		/* uart-error PORT overrun|line */
		uint64_t port;
		a1 = strtok_r(NULL, " \t", &save);
		rest = strtok_r(NULL, " \t", &save);
		if (number(a1, &port) || port >= FW_MAX_PORTS || !rest ||
		    strtok_r(NULL, " \t", &save)) {
			snprintf(err, errlen, "usage: uart-error PORT overrun|line");
			return -EINVAL;
		}
		cmd->port = (unsigned)port;
		if (!strcmp(rest, "overrun"))
			cmd->arg = FW_RX_OVERRUN;
		else if (!strcmp(rest, "line"))
			cmd->arg = FW_RX_LINE_ERROR;
		else {
			snprintf(err, errlen, "uart-error: 'overrun' or 'line', not '%s'", rest);
			return -EINVAL;
		}
		return 0;
	}
	a1 = strtok_r(NULL, " \t", &save);
	if (cmds[i].arg == 0 && a1) {
		snprintf(err, errlen, "%s takes no argument", word);
		return -EINVAL;
	}
	if (cmds[i].arg == 2 && !a1) {
		snprintf(err, errlen, "%s needs a number", word);
		return -EINVAL;
	}
	if (a1 && number(a1, &cmd->arg)) {
		snprintf(err, errlen, "%s: bad number '%s'", word, a1);
		return -EINVAL;
	}
	if (cmd->arg > cmds[i].max) {
		snprintf(err, errlen, "%s: %s is more than %llu", word, a1,
			 (unsigned long long)cmds[i].max);
		return -EINVAL;
	}
	if (strtok_r(NULL, " \t", &save)) {
		snprintf(err, errlen, "%s: too many arguments", word);
		return -EINVAL;
	}
	return 0;
}
