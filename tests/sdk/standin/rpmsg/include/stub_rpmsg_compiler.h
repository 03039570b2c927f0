/* Stand-in for rpmsg-lite's compiler abstraction. */
#ifndef STANDIN_RPMSG_COMPILER_H
#define STANDIN_RPMSG_COMPILER_H
#define RL_PACKED_BEGIN
#define RL_PACKED_END __attribute__((__packed__))
#endif
