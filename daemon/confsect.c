/* Section headers of the INI file, found and checked before libinih reads it. Pure. */
#include "confsect.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends n bytes to the rewritten text (sized for the worst case up front). */
static void emit(char **w, const char *s, size_t n)
{
	memcpy(*w, s, n);
	*w += n;
}

/* A header line [NAME]: checks it and records it. s points at '[', eol at the line end. */
static int take_header(struct confsect_list *l, const char *s, const char *eol, int lineno,
		       char *msg, size_t cap)
{
	const char *e = memchr(s, ']', (size_t)(eol - s));
	if (!e) {
		snprintf(msg, cap, "section header without ']'");
		return -EINVAL;
	}
	/* After the ']' only a comment: libinih drops anything else unread, so a key
	 * written there ("[daemon] max_clients = 5") would be lost without a word. */
	const char *r = e + 1;
	while (r < eol && (*r == ' ' || *r == '\t' || *r == '\r'))
		r++;
	if (r < eol && *r != ';' && *r != '#') {
		snprintf(msg, cap,
			 "text after the section header's ']' (put keys on lines of their own)");
		return -EINVAL;
	}
	const char *a = s + 1, *b = e;
	while (a < b && (*a == ' ' || *a == '\t'))
		a++;
	while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
		b--;
	size_t n = (size_t)(b - a);
	if (n >= CONFSECT_NAME_MAX) {
		snprintf(msg, cap, "section name longer than %d bytes", CONFSECT_NAME_MAX - 1);
		return -EINVAL;
	}
	if (l->n >= CONFSECT_MAX) {
		snprintf(msg, cap, "more than %d sections", CONFSECT_MAX);
		return -EINVAL;
	}
	struct confsect *c = &l->v[l->n];
	memcpy(c->name, a, n);
	c->name[n] = '\0';
	c->line = lineno;
	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, c->name) == 0) {
			snprintf(msg, cap, "[%s] defined twice (first at line %d)", c->name,
				 l->v[i].line);
			return -EINVAL;
		}
	l->n++;
	return 0;
}

/* One line: a header is rewritten as a token; other lines are copied. *key_seen follows
 * libinih's rule that an indented line after a key continues its value. */
static int scan_line(struct confsect_list *l, const char *p, const char *eol, int lineno,
		     bool *key_seen, char **w, char *msg, size_t cap)
{
	if (eol - p > CONFSECT_LINE_MAX) {
		/* libinih would cut it and count the rest as a line of its own; a CR before
		 * the newline takes a byte of its buffer too. */
		snprintf(msg, cap, "line longer than %d bytes%s", CONFSECT_LINE_MAX,
			 eol[-1] == '\r' ? " (counting the CR of its CRLF line end)" : "");
		return -EINVAL;
	}
	const char *s = p;
	if (lineno == 1 && (size_t)(eol - s) >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3; /* libinih skips a UTF-8 byte order mark */
	const char *t = s;
	while (t < eol && (*t == ' ' || *t == '\t' || *t == '\r'))
		t++;
	bool continuation = *key_seen && t > s && t < eol;
	if (t < eol && *t == '[' && !continuation) {
		int r = take_header(l, t, eol, lineno, msg, cap);
		if (r < 0)
			return r;
		char tok[16];
		int n = snprintf(tok, sizeof(tok), "[#%u]", l->n - 1);
		emit(w, tok, (size_t)n);
		*key_seen = false;
		return 0;
	}
	if (t < eol && *t != ';' && *t != '#' && !continuation)
		*key_seen = true;
	emit(w, p, (size_t)(eol - p));
	return 0;
}

int confsect_scan(const char *text, struct confsect_list *out, int *line, char *msg, size_t cap)
{
	size_t len = strlen(text);
	memset(out, 0, sizeof(*out));
	*line = 0;
	out->v = calloc(CONFSECT_MAX, sizeof(*out->v));
	/* A token "[#255]" is at most 6 bytes, a header at least 2 ("[]"). */
	out->text = malloc(len + 4 * CONFSECT_MAX + 1);
	if (!out->v || !out->text) {
		confsect_clear(out);
		return -ENOMEM;
	}
	char *w = out->text;
	bool key_seen = false;
	int lineno = 1;
	for (const char *p = text; *p; lineno++) {
		const char *nl = strchr(p, '\n');
		const char *eol = nl ? nl : p + strlen(p);
		int r = scan_line(out, p, eol, lineno, &key_seen, &w, msg, cap);
		if (r < 0) {
			*line = lineno;
			confsect_clear(out);
			return r;
		}
		if (!nl)
			break;
		emit(&w, "\n", 1);
		p = nl + 1;
	}
	*w = '\0';
	return 0;
}

const struct confsect *confsect_lookup(const struct confsect_list *l, const char *token)
{
	char *end;
	if (token[0] != '#' || token[1] < '0' || token[1] > '9')
		return NULL;
	unsigned long i = strtoul(token + 1, &end, 10);
	return *end == '\0' && i < l->n ? &l->v[i] : NULL;
}

void confsect_clear(struct confsect_list *l)
{
	free(l->v);
	free(l->text);
	memset(l, 0, sizeof(*l));
}
