/* The pty's termios compared with raw mode. Pure. */
#include "ptytermios.h"

#include <stdio.h>

unsigned ptytermios_cooked(const struct termios *t)
{
	unsigned c = 0;
	c |= (t->c_lflag & ECHO) ? PTYTERMIOS_ECHO : 0;
	c |= (t->c_lflag & ICANON) ? PTYTERMIOS_ICANON : 0;
	c |= (t->c_lflag & ISIG) ? PTYTERMIOS_ISIG : 0;
	c |= (t->c_lflag & IEXTEN) ? PTYTERMIOS_IEXTEN : 0;
	c |= (t->c_iflag & (ICRNL | INLCR | IGNCR)) ? PTYTERMIOS_CRNL : 0;
	c |= (t->c_iflag & ISTRIP) ? PTYTERMIOS_ISTRIP : 0;
	c |= (t->c_iflag & IXON) ? PTYTERMIOS_IXON : 0;
	c |= (t->c_iflag & PARMRK) ? PTYTERMIOS_PARMRK : 0;
	c |= (t->c_oflag & OPOST) ? PTYTERMIOS_OPOST : 0;
	return c;
}

const char *ptytermios_names(unsigned cooked, char *buf, size_t cap)
{
	static const char *const names[] = {"echo",   "icanon", "isig",	  "iexten", "crnl",
					    "istrip", "ixon",	"parmrk", "opost"};
	size_t o = 0;
	if (cap)
		buf[0] = '\0';
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(cooked & (1u << i)) || o >= cap)
			continue;
		int n = snprintf(buf + o, cap - o, "%s%s", o ? " " : "", names[i]);
		if (n > 0)
			o += (size_t)n;
	}
	return buf;
}
