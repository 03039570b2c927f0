/* Stand-in for the SDK's MU driver (drivers/mu): what rpmsg-lite's i.MX8MP platform uses. */
#ifndef STANDIN_FSL_MU_H
#define STANDIN_FSL_MU_H

#include "fsl_common.h"

void MU_Init(MU_Type *base);
void MU_SendMsg(MU_Type *base, uint32_t regIndex, uint32_t msg);
uint32_t MU_ReceiveMsgNonBlocking(MU_Type *base, uint32_t regIndex);

#endif
