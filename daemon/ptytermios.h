/* Which of the pty's termios settings change the bytes between the app and the M7: the
 * pty carries them as they are only in raw mode (cfmakeraw), but the app owns the slave's
 * settings and they outlive its close (the daemon keeps the slave open). Pure. */
#ifndef M7B_PTYTERMIOS_H
#define M7B_PTYTERMIOS_H

#include <stddef.h>
#include <termios.h>

enum {
	PTYTERMIOS_ECHO = 1u << 0,   /* the M7's bytes are echoed back to the M7 */
	PTYTERMIOS_ICANON = 1u << 1, /* input in lines (at most 4095 bytes), editing */
	PTYTERMIOS_ISIG = 1u << 2,   /* INTR, QUIT, SUSP bytes become signals */
	PTYTERMIOS_IEXTEN = 1u << 3, /* LNEXT, DISCARD act on the input */
	PTYTERMIOS_CRNL = 1u << 4,   /* CR and NL translated or dropped on input */
	PTYTERMIOS_ISTRIP = 1u << 5, /* the 8th bit cleared */
	PTYTERMIOS_IXON = 1u << 6,   /* XON/XOFF from the M7 taken as flow control */
	PTYTERMIOS_PARMRK = 1u << 7, /* bytes inserted before 0xff */
	PTYTERMIOS_OPOST = 1u << 8,  /* the app's output translated (NL to CR NL) */
};

/* The settings of t that depart from raw mode, as PTYTERMIOS_* bits; 0 = raw. */
unsigned ptytermios_cooked(const struct termios *t);
/* Their names, space-separated ("echo icanon"), into buf ("" for 0). Returns buf. */
const char *ptytermios_names(unsigned cooked, char *buf, size_t cap);

#endif
