/* Keys whose value is a shell command, taken literally: inih would cut it at " ;" (its
 * inline comment), so those lines are protected before inih reads them. Pure. */
#ifndef M7B_CONFLITERAL_H
#define M7B_CONFLITERAL_H

#include <stdbool.h>

/* True for the keys whose value is the whole rest of the line (hook, driver_reload). */
bool confliteral_key(const char *key);
/* A copy of the INI text in which, on the lines of literal keys, the blank before each
 * ';' is replaced by a marker inih does not treat as a comment start. NULL on ENOMEM. */
char *confliteral_protect(const char *text);
/* Turns the markers in a literal key's value back into the blanks they were. */
void confliteral_restore(char *value);

#endif
