/* Stand-in for the i.MX8MP AUDIOMIX driver. */
#include "fsl_audiomix.h"

static volatile uint32_t audio_pll_hz;

void AUDIOMIX_InitAudioPll(uint32_t rate_hz)
{
	audio_pll_hz = rate_hz;
}
