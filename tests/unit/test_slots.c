/* Tests for daemon/slots.c: who gets one of max_clients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "slots.h"

static void test_admit(void **state)
{
	static const struct {
		struct slots_policy p;
		unsigned total, of_uid;
		bool privileged;
		enum slots_verdict want;
	} cases[] = {
		/* The reserve: the last 2 of 8 only for privileged peers. */
		{{8, 2, 0}, 5, 5, false, SLOTS_OK},
		{{8, 2, 0}, 6, 6, false, SLOTS_RESERVED},
		{{8, 2, 0}, 6, 0, true, SLOTS_OK},
		{{8, 2, 0}, 7, 0, true, SLOTS_OK},
		{{8, 2, 0}, 8, 0, true, SLOTS_FULL},
		{{8, 2, 0}, 8, 0, false, SLOTS_FULL},
		/* No reserve: one pool. */
		{{8, 0, 0}, 7, 7, false, SLOTS_OK},
		{{8, 0, 0}, 8, 0, false, SLOTS_FULL},
		/* A reserve as large as the pool: only privileged peers. */
		{{4, 4, 0}, 0, 0, false, SLOTS_RESERVED},
		{{4, 9, 0}, 0, 0, false, SLOTS_RESERVED},
		{{4, 9, 0}, 3, 0, true, SLOTS_OK},
		/* Per-uid cap; privileged peers are exempt. */
		{{64, 8, 3}, 10, 2, false, SLOTS_OK},
		{{64, 8, 3}, 10, 3, false, SLOTS_UID_CAP},
		{{64, 8, 3}, 10, 30, true, SLOTS_OK},
		/* The reserve is checked before the cap: the peer learns the pool is the limit. */
		{{8, 2, 3}, 6, 3, false, SLOTS_RESERVED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum slots_verdict v = slots_admit(&cases[i].p, cases[i].total, cases[i].of_uid,
						   cases[i].privileged);
		if (v != cases[i].want)
			fail_msg("case %zu: %s, want %s", i, slots_verdict_to_string(v),
				 slots_verdict_to_string(cases[i].want));
	}
	assert_string_equal(slots_verdict_to_string(SLOTS_FULL), "too many clients");
	assert_string_equal(slots_verdict_to_string((enum slots_verdict)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
