/* The section headers of a configuration file, found before libinih reads it: each with
 * its full name and line, checked (terminated, not repeated), and the text handed to
 * libinih with every header replaced by a short token, so long names are never cut. Pure. */
#ifndef M7B_CONFSECT_H
#define M7B_CONFSECT_H

#include <stddef.h>

#define CONFSECT_NAME_MAX 80  /* bytes of a section name kept, with the NUL */
#define CONFSECT_MAX	  256 /* sections per file */
#define CONFSECT_LINE_MAX 198 /* bytes of a line without its newline: libinih's buffer */

struct confsect {
	char name[CONFSECT_NAME_MAX]; /* as written, inner blanks trimmed */
	int line;
};

struct confsect_list {
	struct confsect *v;
	unsigned n;
	char *text; /* the file with each header replaced by "[#N]" (N = index in v) */
};

/* Finds and checks the headers of text. 0; -EINVAL with *line and msg saying why (an
 * unterminated header, a section named twice, a name too long); -ENOMEM. */
int confsect_scan(const char *text, struct confsect_list *out, int *line, char *msg, size_t cap);
/* The section a token from the rewritten text stands for, or NULL. */
const struct confsect *confsect_lookup(const struct confsect_list *l, const char *token);
/* Frees what confsect_scan allocated. */
void confsect_clear(struct confsect_list *l);

#endif
