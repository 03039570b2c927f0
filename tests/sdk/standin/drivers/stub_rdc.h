/* Stand-in for the SDK's RDC driver. */
#ifndef STANDIN_FSL_RDC_H
#define STANDIN_FSL_RDC_H
#include "fsl_common.h"
uint8_t RDC_GetCurrentMasterDomainId(void);
#endif
