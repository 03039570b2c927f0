/* Log levels by name (syslog's, and the usual "error" and "warn"): pure, so that the
 * configuration code can be linked without the journal. */
#include "log.h"
#include "macro.h"

#include <errno.h>
#include <strings.h>

static const char *const level_names[] = {"emerg",   "alert",  "crit", "err",
					  "warning", "notice", "info", "debug"};

int log_level_from_string(const char *s)
{
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	for (int i = 0; i < 8; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	if (strcasecmp(s, "error") == 0)
		return LOG_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_WARNING;
	return -EINVAL;
}

DEFINE_STRING_TABLE_LOOKUP(log_level, int, level_names)
