/* The remoteproc resource table of the i.MX8M Plus port (one rpmsg vdev, two vrings). */
#ifndef M7FW_RSC_TABLE_H
#define M7FW_RSC_TABLE_H

/* Copies the table into the rsc-table region (M7B_RSC_TABLE_ADDR) where Linux looks
 * for it when U-Boot started the M7 (attach mode) and where NXP's kernel reads it. */
void rsc_table_copy(void);

#endif
