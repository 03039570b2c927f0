/* Strict JSON (RFC 8259) checking of one request line before cJSON, which is lenient:
 * numbers as the grammar has them, strings of valid UTF-8, no control characters. Pure. */
#ifndef M7B_JSONCHECK_H
#define M7B_JSONCHECK_H

#include <stdbool.h>
#include <stddef.h>

#define JSONCHECK_DEPTH 64 /* nesting of arrays and objects */

struct jsoncheck {
	const char *why; /* what is wrong (static text), NULL when valid */
	size_t offset;	 /* where */
	bool nul;	 /* a string holds \u0000, which C strings cannot carry */
};

/* Checks that buf[0..len) is one JSON value with only blanks around it. true if so;
 * false with r->why and r->offset set. */
bool jsoncheck(const char *buf, size_t len, struct jsoncheck *r);

#endif
