/* libFuzzer target for the kernel log classifier and the /dev/kmsg record parser.
 * Checks: never crashes or reads out of bounds; results are deterministic; names are
 * terminated and printable; a parsed record's message and the text past a line's
 * prefix lie inside the input; a scope fed the input's lines in turn stays bounded. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "klog.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s)
{
	size_t n = strnlen(s, KLOG_NAME_MAX);
	CHECK(n < KLOG_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)s[i] > 0x1f && (unsigned char)s[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes so ASan catches any read past the end. */
	char *buf = malloc(size ? size : 1);
	struct klog_event a, b;
	struct klog_record rec;
	struct klog_scope scope = {0};

	CHECK(buf);
	memcpy(buf, data, size);
	bool ok = klog_classify(buf, size, &a);
	CHECK(ok == (a.kind != KLOG_NONE));
	CHECK(a.kind < KLOG_KIND_COUNT);
	CHECK(klog_classify(buf, size, &b) == ok);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	check_name(a.driver);
	check_name(a.device);
	check_name(a.name);
	const char *text = klog_skip_prefix(buf, buf + size);
	CHECK(text >= buf && text <= buf + size);
	(void)klog_scope_add(&scope, "imx-rproc");
	(void)klog_scope_add(&scope, "remoteproc0");
	(void)klog_scope_add(&scope, "imx8mp-cm7");
	CHECK(klog_scope_match(&scope, &a) <= KLOG_OWNER_UNKNOWN);

	/* The lines of the input in turn through one scope: what it learns stays bounded
	 * and printable, whatever the order of boots and registrations. */
	struct klog_scope seq = {0};
	(void)klog_scope_add(&seq, "remoteproc0");
	for (const char *p = buf, *end = buf + size; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		if (klog_classify(p, (size_t)(e - p), &b))
			CHECK(klog_scope_match(&seq, &b) <= KLOG_OWNER_UNKNOWN);
		p = nl ? nl + 1 : end;
	}
	CHECK(seq.n <= KLOG_SCOPE_MAX);
	CHECK(seq.n == KLOG_SCOPE_MAX || seq.learned >> seq.n == 0);
	for (size_t i = 0; i < seq.n; i++)
		check_name(seq.names[i]);

	if (klog_parse_kmsg(buf, size, &rec) == 0) {
		CHECK(rec.msg >= buf && rec.msg + rec.msg_len <= buf + size);
		CHECK(rec.level >= 0 && rec.level <= 7);
		(void)klog_classify(rec.msg, rec.msg_len, &a);
	}
	free(buf);
	return 0;
}
