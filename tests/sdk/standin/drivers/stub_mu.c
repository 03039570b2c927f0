/* Stand-in for the SDK's MU driver (drivers/mu/fsl_mu.c). */
#include "fsl_mu.h"

void MU_Init(MU_Type *base)
{
	base->CR = 0;
}

void MU_SendMsg(MU_Type *base, uint32_t regIndex, uint32_t msg)
{
	base->TR[regIndex & 3U] = msg;
}

uint32_t MU_ReceiveMsgNonBlocking(MU_Type *base, uint32_t regIndex)
{
	return base->RR[regIndex & 3U];
}
