/* A recovery command's output (stdout and stderr) cut into lines for the log, capped per
 * run: the first lines are logged as clean one-line text, the rest is counted. Pure. */
#ifndef M7B_HOOKOUT_H
#define M7B_HOOKOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOOKOUT_LINE_MAX  256	/* bytes of one line that reach the log; the rest is counted */
#define HOOKOUT_MAX_LINES 100	/* lines logged per run */
#define HOOKOUT_MAX_BYTES 16384 /* bytes of text logged per run */
/* Room for one cleaned line: each kept byte may become U+FFFD (3 bytes), plus the note
 * of a cut line. */
#define HOOKOUT_TEXT_MAX (3 * HOOKOUT_LINE_MAX + 48)

struct hookout {
	char line[HOOKOUT_LINE_MAX]; /* the current line's first bytes, NUL as '?' */
	size_t len;		     /* bytes in line */
	uint64_t over;		     /* bytes of the current line beyond line[] */
	bool capped;		     /* a line was refused: every later one is too */
	uint64_t lines, bytes;	     /* logged this run: lines, bytes of their text */
	uint64_t lost_lines;	     /* lines not logged after the cap */
	uint64_t lost_bytes;	     /* their bytes, newlines included */
};

/* Called with each line to log: valid UTF-8, no control characters, NUL-terminated. A line
 * longer than HOOKOUT_LINE_MAX ends with "… (+N bytes)", N the bytes left out. */
typedef void (*hookout_emit_fn)(void *arg, const char *text);

/* Starts a run: nothing logged, nothing counted. */
void hookout_init(struct hookout *h);
/* Takes n bytes of output; emits each line it completes that is within the caps. */
void hookout_feed(struct hookout *h, const void *buf, size_t n, hookout_emit_fn emit, void *arg);
/* End of the output: a last line without a newline is a line too. */
void hookout_end(struct hookout *h, hookout_emit_fn emit, void *arg);

#endif
