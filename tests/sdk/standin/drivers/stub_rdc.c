/* Stand-in for the SDK's RDC driver (drivers/rdc/fsl_rdc.c). */
#include "fsl_rdc.h"

uint8_t RDC_GetCurrentMasterDomainId(void)
{
	return 1U; /* the M7's domain on the EVK */
}
