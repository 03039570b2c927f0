/* Stand-in start-up: a vector table, Reset_Handler clearing .bss and calling main, and
 * weak handlers for what the port and FreeRTOS override. */
	.syntax unified
	.arch armv7e-m

	.section .isr_vector, "a"
	.align 2
	.globl __isr_vector
__isr_vector:
	.long __StackTop
	.long Reset_Handler
	.long Default_Handler /* NMI */
	.long HardFault_Handler
	.rept 7
	.long Default_Handler
	.endr
	.long SVC_Handler
	.long Default_Handler
	.long Default_Handler
	.long PendSV_Handler
	.long SysTick_Handler
	.rept 29
	.long Default_Handler
	.endr
	.long UART4_IRQHandler /* 16 + 29 */
	.rept 82
	.long Default_Handler
	.endr

	.text
	.thumb
	.thumb_func
	.globl Reset_Handler
Reset_Handler:
	cpsid i
	bl SystemInit
#ifdef __STARTUP_CLEAR_BSS
	ldr r1, =__bss_start__
	ldr r2, =__bss_end__
	movs r0, #0
1:	cmp r1, r2
	itt lt
	strlt r0, [r1], #4
	blt 1b
#endif
	cpsie i
	bl main
	b .

	.thumb_func
	.weak Default_Handler
Default_Handler:
	b .

	.weak HardFault_Handler
	.thumb_set HardFault_Handler, Default_Handler
	.weak SVC_Handler
	.thumb_set SVC_Handler, Default_Handler
	.weak PendSV_Handler
	.thumb_set PendSV_Handler, Default_Handler
	.weak SysTick_Handler
	.thumb_set SysTick_Handler, Default_Handler
	.weak UART4_IRQHandler
	.thumb_set UART4_IRQHandler, Default_Handler
