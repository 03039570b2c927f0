/* The one configuration-key parser: walks a table of rows. */
#include "confkey.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int confkey_parse_uint(const char *v, unsigned long min, unsigned long max, int base, unsigned *out)
{
	char *end;

	/* strtoul would also take leading blanks and a sign ("port. 1", "-1" as a huge
	 * number): the text must start with a digit. */
	if (!v || v[0] < '0' || v[0] > '9')
		return -EINVAL;
	errno = 0;
	unsigned long n = strtoul(v, &end, base);
	if (errno || *end || n < min || n > max)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"1", "yes", "true", "on"};
	static const char *const no[] = {"0", "no", "false", "off"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int set_chars(char *dst, size_t cap, const char *v, char *msg, size_t msg_cap)
{
	if (strlen(v) >= cap) {
		snprintf(msg, msg_cap, "longer than %zu bytes", cap - 1);
		return -EINVAL;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int set_strdup(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* Stores v by the row's kind once its check (if any) passed. */
static int store(const struct confkey *k, void *field, const char *v, char *msg, size_t cap)
{
	switch (k->kind) {
	case CONFKEY_UINT:
	case CONFKEY_OCTAL:
		if (confkey_parse_uint(v, k->min, k->max, k->kind == CONFKEY_OCTAL ? 8 : 10,
				       field) == 0)
			return 0;
		if (k->kind == CONFKEY_OCTAL)
			snprintf(msg, cap, "expected an octal mode such as 0660, got '%s'", v);
		else
			snprintf(msg, cap, "expected %lu..%lu, got '%s'", k->min, k->max, v);
		return -EINVAL;
	case CONFKEY_BOOL:
		if (parse_bool(v, field) == 0)
			return 0;
		snprintf(msg, cap, "expected true or false, got '%s'", v);
		return -EINVAL;
	case CONFKEY_STRDUP:
		return set_strdup(field, v);
	case CONFKEY_PATH_OPT:
		if (!v[0])
			return set_chars(field, k->max, v, msg, cap);
		/* fall through */
	case CONFKEY_PATH:
		if (v[0] != '/') {
			snprintf(msg, cap, "must be an absolute path, got '%s'", v);
			return -EINVAL;
		}
		/* fall through */
	case CONFKEY_CHARS:
		return set_chars(field, k->max, v, msg, cap);
	case CONFKEY_FN:
		return k->fn(field, v, msg, cap);
	case CONFKEY_SUBTABLE:
		break;
	}
	return -EINVAL;
}

int confkey_set(const struct confkey *table, void *base, const char *key, const char *value,
		char *msg, size_t msg_cap)
{
	for (const struct confkey *k = table; k->name; k++) {
		void *field = (char *)base + k->offset;
		if (k->kind == CONFKEY_SUBTABLE) {
			int r = confkey_set(k->sub, field, key, value, msg, msg_cap);
			if (r != -ENOENT)
				return r;
			continue;
		}
		if (strcmp(k->name, key) != 0)
			continue;
		if (k->kind != CONFKEY_FN && k->fn) {
			int r = k->fn(field, value, msg, msg_cap);
			if (r < 0)
				return r;
		}
		return store(k, field, value, msg, msg_cap);
	}
	return -ENOENT;
}

bool confkey_known(const struct confkey *table, const char *key)
{
	for (const struct confkey *k = table; k->name; k++)
		if (k->kind == CONFKEY_SUBTABLE ? confkey_known(k->sub, key)
						: strcmp(k->name, key) == 0)
			return true;
	return false;
}

/* The value of row k at field as text. */
static void format(const struct confkey *k, const void *field, const struct confkey_format *fmts,
		   char *buf, size_t cap)
{
	switch (k->kind) {
	case CONFKEY_UINT:
		snprintf(buf, cap, "%u", *(const unsigned *)field);
		return;
	case CONFKEY_OCTAL:
		snprintf(buf, cap, "%04o", *(const unsigned *)field);
		return;
	case CONFKEY_BOOL:
		snprintf(buf, cap, "%s", *(const bool *)field ? "true" : "false");
		return;
	case CONFKEY_STRDUP:
		snprintf(buf, cap, "%s", *(char *const *)field ? *(char *const *)field : "");
		return;
	case CONFKEY_CHARS:
	case CONFKEY_PATH:
	case CONFKEY_PATH_OPT:
		snprintf(buf, cap, "%s", (const char *)field);
		return;
	case CONFKEY_FN:
		for (; fmts && fmts->name; fmts++)
			if (strcmp(fmts->name, k->name) == 0) {
				fmts->fmt(field, buf, cap);
				return;
			}
		snprintf(buf, cap, "(set)");
		return;
	case CONFKEY_SUBTABLE:
		break;
	}
	buf[0] = '\0';
}

void confkey_each(const struct confkey *table, const void *base, const struct confkey_format *fmts,
		  confkey_out_fn out, void *ud)
{
	for (const struct confkey *k = table; k->name; k++) {
		const void *field = (const char *)base + k->offset;
		char buf[1024];

		if (k->kind == CONFKEY_SUBTABLE) {
			confkey_each(k->sub, field, fmts, out, ud);
			continue;
		}
		format(k, field, fmts, buf, sizeof(buf));
		out(ud, k->name, buf);
	}
}

bool confkey_same(const struct confkey *table, const void *a, const void *b,
		  const struct confkey_format *fmts)
{
	for (const struct confkey *k = table; k->name; k++) {
		const void *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
		char va[1024], vb[1024];

		if (k->kind == CONFKEY_SUBTABLE) {
			if (!confkey_same(k->sub, fa, fb, fmts))
				return false;
			continue;
		}
		/* As the file would say them: bytes past a string's end, or a struct's
		 * padding, are no difference. */
		format(k, fa, fmts, va, sizeof(va));
		format(k, fb, fmts, vb, sizeof(vb));
		if (strcmp(va, vb) != 0)
			return false;
	}
	return true;
}
