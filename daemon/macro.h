/* Small macros every daemon module may use: array size and the string-table helper. */
#ifndef M7B_MACRO_H
#define M7B_MACRO_H

#include <stddef.h>

/* Elements in a true array (not a pointer). */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Defines `const char *name##_to_string(type v)` over a designated-initializer table
 * `table[]`: values outside it, or holes in it, read as "unknown", so a log line never
 * prints NULL. */
#define DEFINE_STRING_TABLE_LOOKUP(name, type, table)                                              \
	const char *name##_to_string(type v)                                                       \
	{                                                                                          \
		if ((size_t)v < ARRAY_SIZE(table) && (table)[(size_t)v])                           \
			return (table)[(size_t)v];                                                 \
		return "unknown";                                                                  \
	}

#endif
