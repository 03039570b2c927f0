/* Decoy: the full debug console, which needs the serial manager (not in this stand-in).
 * The port needs only the lite console's header. */
#ifndef STANDIN_FULL_DEBUG_CONSOLE_H
#define STANDIN_FULL_DEBUG_CONSOLE_H
#include "fsl_component_serial_manager.h"
#endif
