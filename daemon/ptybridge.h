/* Attaches the per-channel ptys to the daemon: one ptylink for each channel with `pty`
 * set, fed from RAW chunks or the DATA of `pty_port`, kept across recoveries and reloads. */
#ifndef M7B_PTYBRIDGE_H
#define M7B_PTYBRIDGE_H

struct daemon;
struct ptybridge;

/* Registers with d and creates the ptys of the channels already there. 0 with *out, or
 * a negative errno. A pty that cannot be made is logged and left out. */
int ptybridge_new(struct daemon *d, struct ptybridge **out);
/* Removes the ptys and their links; returns NULL. */
struct ptybridge *ptybridge_free(struct ptybridge *pb);

#endif
