/* Stand-in for rpmsg-lite's environment header, including the chain that breaks a build
 * whose ELF target lacks the debug console's include directory: with MCUXPRESSO_SDK
 * defined it includes fsl_debug_console.h, as the real one does. */
#ifndef STANDIN_RPMSG_ENV_H
#define STANDIN_RPMSG_ENV_H
#include <stdint.h>
#include "rpmsg_default_config.h"
#include "rpmsg_env_specific.h"
#include "rpmsg_platform.h"

int32_t env_init(void);
void *env_allocate_memory(uint32_t size);
void env_free_memory(void *ptr);

#ifdef MCUXPRESSO_SDK
#include "fsl_debug_console.h"
#if defined SDK_DEBUGCONSOLE && (SDK_DEBUGCONSOLE != DEBUGCONSOLE_DISABLE)
#define env_print(...) (void)PRINTF(__VA_ARGS__)
#else
#define env_print(...)
#endif
#else
#define env_print(...)
#endif
#endif
