/* kernel_log's sources by name: pure, so that the configuration code can be linked
 * without libevent and the journal. */
#include "kwatch.h"
#include "macro.h"

#include <errno.h>
#include <string.h>

static const char *const kwatch_source_names[] = {
	[KWATCH_OFF] = "off",
	[KWATCH_JOURNAL] = "journal",
	[KWATCH_KMSG] = "kmsg",
};
DEFINE_STRING_TABLE_LOOKUP(kwatch_source, enum kwatch_source, kwatch_source_names)

int kwatch_source_from_string(const char *s, struct kwatch_config *cfg)
{
	if (!s)
		return -EINVAL;
	cfg->off = 0;
	if (strcmp(s, "auto") == 0)
		cfg->source = KWATCH_OFF;
	else if (strcmp(s, "journal") == 0)
		cfg->source = KWATCH_JOURNAL;
	else if (strcmp(s, "kmsg") == 0)
		cfg->source = KWATCH_KMSG;
	else if (strcmp(s, "off") == 0)
		cfg->off = 1;
	else
		return -EINVAL;
	return 0;
}
