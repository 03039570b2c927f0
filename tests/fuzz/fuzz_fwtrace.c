/* libFuzzer target for the trace ring decoder (daemon/fwtrace.c) and the ring itself
 * (firmware/core/fw_trace.c). Byte 0 picks the mode: odd = the input is a trace0
 * snapshot; even = the input is a list of LOG texts appended to a small ring, whose
 * text must then decode with no bad line and consecutive sequence numbers. A snapshot is
 * also rendered as an incident's evidence, which must print as JSON that parses back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evidence.h"
#include "fw_trace.h"
#include "fwtrace.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_snapshot(const char *snap, size_t len, size_t max)
{
	struct fwtrace_line *l = malloc((max ? max : 1) * sizeof(*l));
	struct fwtrace_stats st;
	size_t n;

	if (!l)
		return;
	n = fwtrace_decode(snap, len, l, max, &st);
	CHECK(n <= max && n <= st.lines && st.lines - n == st.overflow);
	CHECK(st.lines <= fwtrace_max_lines(len));
	for (size_t i = 0; i < n; i++) {
		CHECK(l[i].level <= 7);
		CHECK(l[i].text >= snap && l[i].text + l[i].text_len <= snap + len);
	}
	free(l);
}

static void as_evidence(const char *snap, size_t len, size_t max)
{
	cJSON *o = evidence_trace_json(snap, len, false, max), *back;
	char *text;

	if (!o)
		return;
	CHECK((size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "lines")) <= max);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!text)
		return;
	back = cJSON_Parse(text);
	CHECK(back != NULL);
	cJSON_Delete(back);
	free(text);
}

static void ring_roundtrip(const uint8_t *data, size_t size)
{
	/* Ring size from the input: from too small to hold anything up to 600 bytes. */
	uint32_t rsize = size > 1 ? (uint32_t)(data[1] * 2u + 8u) : 64u;
	char *buf = malloc(rsize);
	struct fw_trace t;
	size_t pos = 2, appended = 0;
	struct fwtrace_line l[64];
	struct fwtrace_stats st;
	size_t n;

	if (!buf)
		return;
	fw_trace_init(&t, buf, rsize);
	while (pos < size) {
		size_t len = data[pos] % 48u;

		pos++;
		if (len > size - pos)
			len = size - pos;
		fw_trace_append(&t, (uint64_t)appended * 977u, (uint8_t)(len % 9u),
				(const char *)data + pos, len);
		pos += len;
		appended++;
		CHECK(buf[rsize - 1] == '\0');
	}
	n = fwtrace_decode(buf, rsize, l, 64, &st);
	CHECK(st.bad_lines == 0 && st.bad_bytes == 0);
	for (size_t i = 0; i + 1 < n; i++)
		CHECK(l[i + 1].seq == l[i].seq + 1);
	if (n > 0 && st.overflow == 0)
		CHECK(l[n - 1].seq + 1 == appended);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *snap;

	if (size < 1)
		return 0;
	if (data[0] & 1u) {
		/* exact-size heap copy: a read past the end is caught */
		snap = malloc(size - 1 ? size - 1 : 1);
		if (!snap)
			return 0;
		memcpy(snap, data + 1, size - 1);
		decode_snapshot(snap, size - 1, data[0] >> 1);
		decode_snapshot(snap, size - 1, fwtrace_max_lines(size - 1));
		as_evidence(snap, size - 1, data[0] >> 1);
		free(snap);
	} else {
		ring_roundtrip(data, size);
	}
	return 0;
}
