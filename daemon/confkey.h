/* Configuration keys as table rows, one parser for every section (chrony's way): a row
 * names a key, the kind of value, where it goes and its range or check. Pure. */
#ifndef M7B_CONFKEY_H
#define M7B_CONFKEY_H

#include <stdbool.h>
#include <stddef.h>

enum confkey_kind {
	CONFKEY_UINT,	  /* unsigned, decimal, in min..max */
	CONFKEY_OCTAL,	  /* unsigned, octal, in min..max (file modes) */
	CONFKEY_BOOL,	  /* bool: 1/yes/true/on, 0/no/false/off */
	CONFKEY_STRDUP,	  /* char *, heap copy (the old one is freed) */
	CONFKEY_CHARS,	  /* char[max] in place */
	CONFKEY_PATH,	  /* char[max], an absolute path */
	CONFKEY_PATH_OPT, /* char[max], an absolute path or empty */
	CONFKEY_FN,	  /* set by the row's own function */
	CONFKEY_SUBTABLE, /* the keys of sub, for the struct at offset */
};

struct confkey;

/* Writes a CONFKEY_FN row's value at field as it would be written in the file. */
typedef void (*confkey_fmt_fn)(const void *field, char *buf, size_t cap);
/* Receives one key in effect and its value as text (confkey_each). */
typedef void (*confkey_out_fn)(void *ud, const char *key, const char *value);

/* Checks (CHECK rows) or sets (CONFKEY_FN rows, at the field) a value. 0, or -EINVAL with
 * msg saying why, or -ENOMEM. */
typedef int (*confkey_fn)(void *field, const char *value, char *msg, size_t msg_cap);

struct confkey {
	const char *name;
	enum confkey_kind kind;
	size_t offset;		   /* of the field in the section's struct */
	unsigned long min, max;	   /* UINT/OCTAL: range; CHARS/PATH: array size (max) */
	confkey_fn fn;		   /* CONFKEY_FN: the setter; others: an extra check, or NULL */
	const struct confkey *sub; /* CONFKEY_SUBTABLE: its rows, ended by a NULL name */
};

/* How confkey_each() prints the value of a CONFKEY_FN row. */
struct confkey_format {
	const char *name;
	confkey_fmt_fn fmt;
};

/* Sets key from value in the struct at base, by the rows of table (ended by a NULL
 * name). 0; -ENOENT when no row names key; -EINVAL (msg says why); -ENOMEM. */
int confkey_set(const struct confkey *table, void *base, const char *key, const char *value,
		char *msg, size_t msg_cap);
/* True when a row of table (or of its sub-tables) names key. */
bool confkey_known(const struct confkey *table, const char *key);
/* Calls out for every row of table (subtables included, in order) with the value in
 * effect in the struct at base, as text; CONFKEY_FN rows by fmts (ended by a NULL name). */
void confkey_each(const struct confkey *table, const void *base, const struct confkey_format *fmts,
		  confkey_out_fn out, void *ud);
/* Whether the structs at a and b hold the same value for every row of table (values
 * compared as confkey_each() prints them). */
bool confkey_same(const struct confkey *table, const void *a, const void *b,
		  const struct confkey_format *fmts);
/* Parses an unsigned in min..max in base 8 or 10 (no sign, no trailing text). 0 or
 * -EINVAL. */
int confkey_parse_uint(const char *v, unsigned long min, unsigned long max, int base,
		       unsigned *out);

#endif
