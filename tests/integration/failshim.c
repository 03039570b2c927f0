/* failshim: a preload for fault tests, reaching error paths no resource limit reproduces
 * for root. pthread_create() fails with EAGAIN, as at a thread limit. The first
 * $FAILSHIM_LOOKUPS getaddrinfo() calls fail with EAI_AGAIN, as while a name server is
 * away, so a program's retry path runs before its thread start-up. */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>

int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	(void)t;
	(void)a;
	(void)fn;
	(void)arg;
	return EAGAIN;
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	static long failed;
	const char *n = getenv("FAILSHIM_LOOKUPS");

	if (n && failed < atol(n)) {
		failed++;
		return EAI_AGAIN;
	}
	/* POSIX's way to take a function pointer from dlsym(). */
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	return real ? real(node, service, hints, res) : EAI_SYSTEM;
}
