/* The client protocol's object classes ("class" of each NDJSON object), one list for the
 * daemon that writes them and the library that reads them. */
#ifndef M7BRIDGE_CLASSES_H
#define M7BRIDGE_CLASSES_H

/* Calls OBJ(NAME) for each reply-only class and STREAM(NAME) for each class a client can
 * watch (the "classes" filter of a watch request). Order is not meaningful. */
#define M7B_CLASSES(OBJ, STREAM)                                                                   \
	OBJ(VERSION)                                                                               \
	STREAM(FRAME)                                                                              \
	STREAM(STATE)                                                                              \
	OBJ(STATUS)                                                                                \
	STREAM(LOG)                                                                                \
	STREAM(HELLO)                                                                              \
	STREAM(FAULT)                                                                              \
	OBJ(DROPPED)                                                                               \
	OBJ(ACK)                                                                                   \
	OBJ(ERROR)                                                                                 \
	OBJ(INCIDENTS)                                                                             \
	STREAM(HEARTBEAT)                                                                          \
	OBJ(PONG)                                                                                  \
	STREAM(RAW)                                                                                \
	STREAM(CLOCK)

#endif
