/* Decodes a snapshot of the firmware trace ring (remoteproc debugfs trace0) into lines
 * ordered oldest first. Pure: text in, lines out. Format: docs/FIRMWARE.md, "Trace ring". */
#ifndef M7B_FWTRACE_H
#define M7B_FWTRACE_H

#include <stddef.h>
#include <stdint.h>

/* One line as the firmware wrote it; text points into the snapshot (not NUL-terminated). */
struct fwtrace_line {
	uint32_t seq;
	uint64_t ticks;
	uint8_t level; /* syslog level 0..7 */
	const char *text;
	size_t text_len;
};

/* What the decoder skipped or could not keep; nothing is dropped uncounted. */
struct fwtrace_stats {
	size_t lines;	  /* well-formed lines found */
	size_t bad_lines; /* non-empty lines that are not in the format */
	size_t bad_bytes; /* bytes of bad lines, control characters in texts, non-NUL
			    * bytes after the first NUL */
	size_t overflow;  /* good lines that did not fit the caller's array (the oldest) */
};

/* Most lines a snapshot of len bytes can hold: size the out array with it. */
size_t fwtrace_max_lines(size_t len);
/* Decodes len bytes of snap (the text ends at the first NUL) into at most max lines, ordered by sequence number (serial
 * number order, so a sequence that wrapped past 2^32 sorts right); when there are more,
 * the newest max are kept. Returns the number of lines in out. */
size_t fwtrace_decode(const char *snap, size_t len, struct fwtrace_line *out, size_t max,
		      struct fwtrace_stats *st);

#endif
