/* Stand-in for the FreeRTOS GCC Cortex-M port's portmacro.h: the basic types. */
#ifndef STANDIN_PORTMACRO_H
#define STANDIN_PORTMACRO_H
#include <stdint.h>
typedef long BaseType_t;
typedef unsigned long UBaseType_t;
typedef uint32_t TickType_t;
typedef uint32_t StackType_t;
#define portMAX_DELAY ((TickType_t)0xffffffffUL)
#endif
