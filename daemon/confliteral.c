/* Literal configuration values: shell commands keep their ';' (see confliteral.h). */
#include "confliteral.h"

#include <stdlib.h>
#include <string.h>

#include "macro.h"

/* Control bytes that never appear in a valid command line. */
#define MARK_SPACE '\x1e'
#define MARK_TAB   '\x1f'

static const char *const literal_keys[] = {"hook", "driver_reload"};

bool confliteral_key(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(literal_keys); i++)
		if (strcmp(key, literal_keys[i]) == 0)
			return true;
	return false;
}

/* True when the line starting at p (up to eol) is "  KEY = ..." with a literal KEY. */
static bool literal_line(const char *p, const char *eol)
{
	const char *k, *e;

	while (p < eol && (*p == ' ' || *p == '\t'))
		p++;
	k = p;
	while (p < eol && *p != '=' && *p != ' ' && *p != '\t')
		p++;
	e = p;
	while (p < eol && (*p == ' ' || *p == '\t'))
		p++;
	if (p == eol || *p != '=' || e == k)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(literal_keys); i++)
		if (strlen(literal_keys[i]) == (size_t)(e - k) &&
		    memcmp(literal_keys[i], k, (size_t)(e - k)) == 0)
			return true;
	return false;
}

char *confliteral_protect(const char *text)
{
	char *out = strdup(text);

	for (char *p = out; p && *p;) {
		char *eol = strchr(p, '\n');

		if (!eol)
			eol = p + strlen(p);
		if (literal_line(p, eol)) {
			char *v = (char *)memchr(p, '=', (size_t)(eol - p)) + 1;
			for (char *q = v + 1; q < eol; q++)
				if (*q == ';' && (q[-1] == ' ' || q[-1] == '\t'))
					q[-1] = q[-1] == ' ' ? MARK_SPACE : MARK_TAB;
		}
		p = *eol ? eol + 1 : eol;
	}
	return out;
}

void confliteral_restore(char *value)
{
	for (char *p = value; *p; p++)
		if (*p == MARK_SPACE || *p == MARK_TAB)
			*p = *p == MARK_SPACE ? ' ' : '\t';
}
