/* Stand-in for the SDK's feature header: nothing the port reads. */
#ifndef STANDIN_MIMX8ML8_CM7_FEATURES_H
#define STANDIN_MIMX8ML8_CM7_FEATURES_H
#define FSL_FEATURE_SOC_UART_COUNT 4
#endif
