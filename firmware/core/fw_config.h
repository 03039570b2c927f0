/* Compile-time sizes of the firmware core. A port overrides any of them with -D or with
 * a header named by FW_PORT_CONFIG (e.g. -DFW_PORT_CONFIG='"port_config.h"'). */
#ifndef M7FW_FW_CONFIG_H
#define M7FW_FW_CONFIG_H

#ifdef FW_PORT_CONFIG
#include FW_PORT_CONFIG
#endif

/* Captured UART ports. */
#ifndef FW_MAX_PORTS
#define FW_MAX_PORTS 4
#endif

/* Bytes of the receive ring of each port (a power of two). Must hold at least one
 * whole capture part (max_capture bytes) plus what arrives while the link is busy. */
#ifndef FW_RX_RING_SIZE
#define FW_RX_RING_SIZE 2048u
#endif

/* Closed captures waiting to be sent, per port (a power of two). */
#ifndef FW_CAPTURE_QUEUE
#define FW_CAPTURE_QUEUE 32u
#endif

/* SEND/CONFIG frames the core buffers from the host: the initial credit in HELLO. */
#ifndef FW_HOST_QUEUE
#define FW_HOST_QUEUE 8u
#endif

/* ACKs waiting to be sent. */
#ifndef FW_ACK_QUEUE
#define FW_ACK_QUEUE (FW_HOST_QUEUE + 4u)
#endif

/* SEND/CONFIG frames refused for want of credit whose NO_CREDIT ACK waits for the ACKs
 * of the frames queued before them; a refusal beyond these loses its ACK (counted). */
#ifndef FW_REFUSAL_QUEUE
#define FW_REFUSAL_QUEUE 4u
#endif

/* SYNC_REPLYs waiting to be sent; more SYNCs in flight are dropped and counted. */
#ifndef FW_SYNC_QUEUE
#define FW_SYNC_QUEUE 4u
#endif

/* LOG frames waiting to be sent, and the longest text kept per LOG. */
#ifndef FW_LOG_QUEUE
#define FW_LOG_QUEUE 4u
#endif
#ifndef FW_LOG_MAX
#define FW_LOG_MAX 120u
#endif

/* Frames fw_poll writes at most per call, so one call stays short. */
#ifndef FW_POLL_BURST
#define FW_POLL_BURST 16u
#endif

#if (FW_RX_RING_SIZE & (FW_RX_RING_SIZE - 1u)) != 0
#error "FW_RX_RING_SIZE must be a power of two"
#endif
#if FW_RX_RING_SIZE < 512u
#error "FW_RX_RING_SIZE must hold one largest capture part (>= 512)"
#endif
#if (FW_CAPTURE_QUEUE & (FW_CAPTURE_QUEUE - 1u)) != 0
#error "FW_CAPTURE_QUEUE must be a power of two"
#endif
#if FW_MAX_PORTS < 1 || FW_MAX_PORTS > 255
#error "FW_MAX_PORTS must be 1..255"
#endif
#if FW_REFUSAL_QUEUE < 1 || FW_REFUSAL_QUEUE > 255
#error "FW_REFUSAL_QUEUE must be 1..255"
#endif
#if FW_HOST_QUEUE < 1 || FW_HOST_QUEUE > 255
#error "FW_HOST_QUEUE must be 1..255"
#endif

#endif
