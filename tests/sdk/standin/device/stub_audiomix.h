/* Stand-in for the i.MX8MP AUDIOMIX driver header (the EVK's clock_config.c uses it). */
#ifndef STANDIN_FSL_AUDIOMIX_H
#define STANDIN_FSL_AUDIOMIX_H
#include "fsl_common.h"
void AUDIOMIX_InitAudioPll(uint32_t rate_hz);
#endif
