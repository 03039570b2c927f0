/* The firmware trace ring: LOG lines as plain text in RAM that Linux reads through
 * remoteproc's debugfs trace file. Line format: docs/FIRMWARE.md, "Trace ring". */
#ifndef M7FW_FW_TRACE_H
#define M7FW_FW_TRACE_H

#include <stddef.h>
#include <stdint.h>

/* Characters before the text of each line: "SSSSSSSS TTTTTTTTTTTTTTTT L " (hex seq,
 * hex ticks, level digit, one space each). */
#define FW_TRACE_PREFIX 28u

struct fw_trace {
	char *buf;
	uint32_t size;
	uint32_t head;
	uint32_t seq;
};

/* Starts an empty ring over buf (size bytes); the ring stays NUL-terminated text. */
void fw_trace_init(struct fw_trace *t, char *buf, uint32_t size);
/* Appends one line: sequence number, ticks, level and text, wrapping over the oldest. */
void fw_trace_append(struct fw_trace *t, uint64_t ticks, uint8_t level, const char *text,
		     size_t len);

#endif
