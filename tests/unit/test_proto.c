/* proto: request parsing and errors, exact rendering of FRAME and the other objects,
 * base64/hex/JSON quoting. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "m7bridge/base64.h"
#include "m7bridge/hex.h"
#include "proto.h"

static enum proto_err parse(const char *line, struct proto_request *r)
{
	struct proto_error e;
	int rc = proto_parse_request(line, strlen(line), r, &e);
	assert_true(rc == 0 ? e.code == PROTO_E_NONE : e.code != PROTO_E_NONE);
	return e.code;
}

static void test_reload_members(void **state)
{
	struct proto_request r;

	(void)state;
	assert_int_equal(parse("{\"cmd\":\"reload\",\"channel\":\"a\",\"no_rollback\":true}", &r),
			 PROTO_E_NONE);
	assert_true(r.no_rollback);
	proto_request_clear(&r);
	assert_int_equal(parse("{\"cmd\":\"reload\",\"channel\":\"a\"}", &r), PROTO_E_NONE);
	assert_false(r.no_rollback);
	proto_request_clear(&r);
}

/* A channel name of any length is a name (unknown to the daemon when it is longer than
 * any channel's), kept whole for every request that takes one; one that is not a string
 * is still a type error. */
static void test_channel_names_of_any_length(void **state)
{
	static const char *const around[][2] = {
		{"{\"cmd\":\"watch\",\"channels\":[\"m7\",\"", "\"]}"},
		{"{\"cmd\":\"send\",\"channel\":\"", "\",\"port\":1,\"data\":\"AA==\"}"},
		{"{\"cmd\":\"recover\",\"channel\":\"", "\"}"},
		{"{\"cmd\":\"reload\",\"channel\":\"", "\"}"},
		{"{\"cmd\":\"incidents\",\"channel\":\"", "\"}"},
	};
	static const size_t lens[] = {63, 64, 65, 1000, PROTO_LINE_MAX - 100};
	char *name = malloc(PROTO_LINE_MAX), *line = malloc(PROTO_LINE_MAX + 1);

	(void)state;
	assert_non_null(name);
	assert_non_null(line);
	for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
		for (size_t i = 0; i < lens[k]; i++)
			name[i] = (char)('a' + i % 26);
		name[lens[k]] = '\0';
		for (size_t f = 0; f < sizeof around / sizeof around[0]; f++) {
			struct proto_request r;
			snprintf(line, PROTO_LINE_MAX + 1, "%s%s%s", around[f][0], name,
				 around[f][1]);
			assert_int_equal(parse(line, &r), PROTO_E_NONE);
			const char *got = f == 0 ? r.channels[1] : r.channel;
			assert_int_equal(strlen(got), lens[k]);
			assert_string_equal(got, name);
			proto_request_clear(&r);
		}
	}
	free(name);
	free(line);
	static const char *const not_strings[] = {
		"{\"cmd\":\"watch\",\"channels\":[\"m7\",[\"m7\"]]}",
		"{\"cmd\":\"send\",\"channel\":{},\"port\":1,\"data\":\"AA==\"}",
		"{\"cmd\":\"recover\",\"channel\":7}",
		"{\"cmd\":\"reload\",\"channel\":null}",
		"{\"cmd\":\"incidents\",\"channel\":true}",
	};
	for (size_t f = 0; f < sizeof not_strings / sizeof not_strings[0]; f++) {
		struct proto_request r;
		assert_int_equal(parse(not_strings[f], &r), PROTO_E_BAD_TYPE);
		proto_request_clear(&r);
	}
}

/* A member that takes one of a few words answers a long value as it answers any other
 * word it does not take: the same code, the same message naming the words. */
static void test_long_words_are_unknown_words(void **state)
{
	static const char *const around[][2] = {
		{"{\"cmd\":\"watch\",\"encoding\":\"", "\"}"},
		{"{\"cmd\":\"watch\",\"policy\":\"", "\"}"},
		{"{\"cmd\":\"recover\",\"channel\":\"m7\",\"action\":\"", "\"}"},
	};
	char word[200], line[400];

	(void)state;
	memset(word, 'x', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	for (size_t f = 0; f < sizeof around / sizeof around[0]; f++) {
		struct proto_request r;
		struct proto_error e_short, e_long;
		snprintf(line, sizeof(line), "%sx%s", around[f][0], around[f][1]);
		assert_int_equal(proto_parse_request(line, strlen(line), &r, &e_short), -EINVAL);
		proto_request_clear(&r);
		snprintf(line, sizeof(line), "%s%s%s", around[f][0], word, around[f][1]);
		assert_int_equal(proto_parse_request(line, strlen(line), &r, &e_long), -EINVAL);
		proto_request_clear(&r);
		assert_int_equal(e_short.code, PROTO_E_BAD_VALUE);
		assert_int_equal(e_long.code, PROTO_E_BAD_VALUE);
		assert_string_equal(e_long.message, e_short.message);
	}
}

static void test_watch_defaults_and_filters(void **state)
{
	(void)state;
	struct proto_request r;
	assert_int_equal(parse("{\"cmd\":\"watch\"}", &r), PROTO_E_NONE);
	assert_int_equal(r.cmd, PROTO_CMD_WATCH);
	assert_true(r.all_channels);
	assert_int_equal(r.classes, PROTO_C_ALL);
	assert_true(r.ports[0] == UINT64_MAX && r.ports[3] == UINT64_MAX);
	assert_int_equal(r.encoding, PROTO_ENC_BASE64);
	assert_int_equal(r.policy, PROTO_POLICY_DROP);
	assert_string_equal(r.id, "");
	proto_request_clear(&r);

	assert_int_equal(parse("{\"cmd\":\"watch\",\"id\":\"w1\",\"channels\":[\"a\",\"b\"],"
			       "\"ports\":[0,255],\"classes\":[\"FRAME\",\"LOG\"],"
			       "\"encoding\":\"hex\",\"policy\":\"disconnect\"}",
			       &r),
			 PROTO_E_NONE);
	assert_string_equal(r.id, "\"w1\"");
	assert_false(r.all_channels);
	assert_int_equal(r.nchannels, 2);
	assert_string_equal(r.channels[1], "b");
	assert_true(r.ports[0] == 1 && r.ports[3] == 1ull << 63 && r.ports[1] == 0);
	assert_int_equal(r.classes, PROTO_C_FRAME | PROTO_C_LOG);
	assert_int_equal(r.encoding, PROTO_ENC_HEX);
	assert_int_equal(r.policy, PROTO_POLICY_DISCONNECT);
	proto_request_clear(&r);

	assert_int_equal(parse("{\"cmd\":\"watch\",\"channels\":[]}", &r), PROTO_E_NONE);
	assert_false(r.all_channels);
	assert_int_equal(r.nchannels, 0);
	proto_request_clear(&r);
}

static void test_watch_since(void **state)
{
	(void)state;
	struct proto_request r;
	assert_int_equal(parse("{\"cmd\":\"watch\"}", &r), PROTO_E_NONE);
	assert_int_equal(r.since, PROTO_SINCE_NONE);
	proto_request_clear(&r);
	assert_int_equal(
		parse("{\"cmd\":\"watch\",\"since_seq\":4294967295,\"boot_id\":2712847316}", &r),
		PROTO_E_NONE);
	assert_int_equal(r.since, PROTO_SINCE_SEQ);
	assert_int_equal(r.since_seq, 4294967295u);
	assert_int_equal(r.since_boot_id, 2712847316u);
	proto_request_clear(&r);
	/* The string form keeps every nanosecond; a number is exact up to 2^53. */
	assert_int_equal(parse("{\"cmd\":\"watch\",\"since_ns\":\"1763740000123456789\"}", &r),
			 PROTO_E_NONE);
	assert_int_equal(r.since, PROTO_SINCE_TIME);
	assert_true(r.since_ns == 1763740000123456789ull);
	proto_request_clear(&r);
	assert_int_equal(parse("{\"cmd\":\"watch\",\"since_ns\":1000}", &r), PROTO_E_NONE);
	assert_true(r.since_ns == 1000);
	proto_request_clear(&r);
	static const struct {
		const char *line;
		enum proto_err code;
	} bad[] = {
		{"{\"cmd\":\"watch\",\"since_seq\":1}", PROTO_E_MISSING_MEMBER},
		{"{\"cmd\":\"watch\",\"boot_id\":1}", PROTO_E_MISSING_MEMBER},
		{"{\"cmd\":\"watch\",\"since_seq\":1,\"boot_id\":1,\"since_ns\":1}",
		 PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"watch\",\"since_seq\":4294967296,\"boot_id\":1}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"since_seq\":-1,\"boot_id\":1}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"since_seq\":1.5,\"boot_id\":1}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"since_seq\":1,\"boot_id\":\"x\"}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"since_ns\":\"\"}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"since_ns\":\"12a\"}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"since_ns\":\"18446744073709551616\"}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"since_ns\":1e300}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"since_ns\":true}", PROTO_E_BAD_TYPE},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum proto_err got = parse(bad[i].line, &r);
		if (got != bad[i].code)
			fail_msg("%s: got %s", bad[i].line, proto_err_to_string(got));
		proto_request_clear(&r);
	}
}

static void test_send(void **state)
{
	(void)state;
	struct proto_request r;
	assert_int_equal(parse("{\"cmd\":\"send\",\"id\":5,\"channel\":\"m7\",\"port\":3,"
			       "\"data\":\"aGVsbG8\"}",
			       &r),
			 PROTO_E_NONE);
	assert_int_equal(r.port, 3);
	assert_int_equal(r.len, 5);
	assert_memory_equal(r.data, "hello", 5);
	assert_string_equal(r.id, "5");
	proto_request_clear(&r);
	assert_int_equal(
		parse("{\"cmd\":\"send\",\"channel\":\"m7\",\"port\":0,\"hex\":\"00FFa0\"}", &r),
		PROTO_E_NONE);
	assert_int_equal(r.len, 3);
	assert_memory_equal(r.data, "\x00\xff\xa0", 3);
	proto_request_clear(&r);
}

/* A send with no port parses (raw channels take it); the daemon requires the port of
 * wire channels. */
static void test_send_without_port(void **state)
{
	(void)state;
	struct proto_request r;
	assert_int_equal(parse("{\"cmd\":\"send\",\"channel\":\"a\",\"data\":\"AAE=\"}", &r),
			 PROTO_E_NONE);
	assert_int_equal(r.port, -1);
	assert_int_equal(r.len, 2);
	proto_request_clear(&r);
}

/* RAW: the exact line, both encodings, and a buffer too small for it. */
static void test_render_raw(void **state)
{
	(void)state;
	char buf[512];
	const uint8_t data[] = {'h', 'i', 0x00, 0xff};
	int n = proto_render_raw(buf, sizeof(buf), "\"fw\"", 4, data, sizeof(data),
				 1700000000123456789ull, 42, PROTO_ENC_BASE64);
	const char *want = "{\"class\":\"RAW\",\"channel\":\"fw\",\"data\":\"aGkA/w==\",\"len\":4,"
			   "\"t_rx_ns\":1700000000123456789,\"t_rx_mono_ns\":42}\n";
	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
	n = proto_render_raw(buf, sizeof(buf), "\"fw\"", 4, data, sizeof(data), 1, 2,
			     PROTO_ENC_HEX);
	want = "{\"class\":\"RAW\",\"channel\":\"fw\",\"hex\":\"686900ff\",\"len\":4,"
	       "\"t_rx_ns\":1,\"t_rx_mono_ns\":2}\n";
	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
	assert_int_equal(
		proto_render_raw(buf, 40, "\"fw\"", 4, data, sizeof(data), 1, 2, PROTO_ENC_BASE64),
		-ENOSPC);
	assert_int_equal(proto_class_from_string("RAW"), PROTO_C_RAW);
}

/* An unknown class is named, with every class a watch may ask for. */
static void test_unknown_class_message(void **state)
{
	(void)state;
	struct proto_request r;
	struct proto_error e;
	const char *line = "{\"cmd\":\"watch\",\"classes\":[\"FRAME\",\"NOPE\"]}";
	assert_int_equal(proto_parse_request(line, strlen(line), &r, &e), -EINVAL);
	assert_int_equal(e.code, PROTO_E_BAD_VALUE);
	assert_non_null(strstr(e.message, "\"NOPE\""));
	static const char *const names[] = {"FRAME",	 "STATE", "LOG",   "HELLO",
					    "HEARTBEAT", "FAULT", "CLOCK", "RAW"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strstr(e.message, names[i]))
			fail_msg("\"%s\" does not name %s", e.message, names[i]);
	proto_request_clear(&r);
}

static void test_errors(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		enum proto_err code;
	} cases[] = {
		{"", PROTO_E_BAD_JSON},
		{"{", PROTO_E_BAD_JSON},
		{"{\"cmd\":\"status\"}x", PROTO_E_BAD_JSON},
		{"null", PROTO_E_NOT_OBJECT},
		{"42", PROTO_E_NOT_OBJECT},
		{"{}", PROTO_E_MISSING_MEMBER},
		{"{\"cmd\":null}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"status\",\"id\":[1]}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"status\",\"id\":true}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"channels\":\"a\"}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"channels\":[1]}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"ports\":[1.5]}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"ports\":[-1]}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"watch\",\"classes\":[\"frame\"]}", PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"watch\",\"policy\":\"block\"}", PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"watch\",\"encoding\":7}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"send\",\"channel\":\"a\",\"port\":-1,\"data\":\"AA\"}",
		 PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"send\",\"channel\":\"a\",\"port\":256,\"data\":\"AA\"}",
		 PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"send\",\"channel\":\"a\",\"port\":1}", PROTO_E_MISSING_MEMBER},
		{"{\"cmd\":\"send\",\"channel\":\"a\",\"port\":1,\"data\":\"AA\",\"hex\":\"00\"}",
		 PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"send\",\"channel\":\"a\",\"port\":1,\"data\":\"\"}",
		 PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"send\",\"channel\":\"a\",\"port\":1,\"hex\":\"0\"}",
		 PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"send\",\"channel\":\"a\",\"port\":1,\"hex\":\"zz\"}",
		 PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"send\",\"channel\":\"a\",\"port\":1,\"data\":\"A\"}",
		 PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"send\",\"channel\":\"a\",\"port\":1,\"data\":7}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"send\",\"channel\":5,\"port\":1,\"data\":\"AA\"}", PROTO_E_BAD_TYPE},
		{"{\"cmd\":\"recover\"}", PROTO_E_MISSING_MEMBER},
		{"{\"cmd\":\"recover\",\"channel\":\"a\",\"action\":\"reboot\"}",
		 PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"reload\",\"channel\":\"a\",\"firmware\":\"a/b.elf\"}",
		 PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"reload\",\"channel\":\"a\",\"firmware\":\"..\"}", PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"reload\",\"channel\":\"a\",\"no_rollback\":\"yes\"}",
		 PROTO_E_BAD_TYPE},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct proto_request r;
		enum proto_err got = parse(cases[i].line, &r);
		if (got != cases[i].code)
			fail_msg("%s: got %s, want %s", cases[i].line, proto_err_to_string(got),
				 proto_err_to_string(cases[i].code));
		proto_request_clear(&r);
	}
	/* 479 bytes is one too many for a send. */
	char line[2048];
	char hex[960];
	for (int i = 0; i < 479; i++)
		memcpy(hex + 2 * i, "ab", 2);
	hex[958] = '\0';
	snprintf(line, sizeof line,
		 "{\"cmd\":\"send\",\"channel\":\"a\",\"port\":1,\"hex\":\"%s\"}", hex);
	struct proto_request r;
	assert_int_equal(parse(line, &r), PROTO_E_BAD_VALUE);
	proto_request_clear(&r);
	/* Unknown commands are parsed (a handler may take them). */
	assert_int_equal(parse("{\"cmd\":\"frobnicate\",\"channel\":3}", &r), PROTO_E_NONE);
	assert_int_equal(r.cmd, PROTO_CMD_OTHER);
	assert_string_equal(r.cmd_name, "frobnicate");
	proto_request_clear(&r);
	/* Too long. */
	char *big = malloc(PROTO_LINE_MAX + 10);
	memset(big, ' ', PROTO_LINE_MAX + 10);
	struct proto_error e;
	assert_int_equal(proto_parse_request(big, PROTO_LINE_MAX + 1, &r, &e), -EINVAL);
	assert_int_equal(e.code, PROTO_E_TOO_LONG);
	proto_request_clear(&r);
	free(big);
}

/* Lines cJSON would take but JSON does not allow, and ids that cannot be echoed. */
static void test_strict_requests(void **state)
{
	(void)state;
	struct proto_request r;
	static const struct {
		const char *line;
		enum proto_err code;
	} cases[] = {
		{"{\"cmd\":\"ping\",\"id\":1e400}", PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"ping\",\"id\":-1e400}", PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"ping\",\"id\":007}", PROTO_E_BAD_JSON},
		{"{\"cmd\":\"ping\",\"id\":\"\xff\xfe\"}", PROTO_E_BAD_JSON},
		{"{\"cmd\":\"ping\",\"id\":\"\xc0\xaf\"}", PROTO_E_BAD_JSON},
		{"{\"cmd\":\"ping\",\"id\":\"\xed\xa0\x80\"}", PROTO_E_BAD_JSON},
		{"{\"cmd\":\"ping\\u0000junk\"}", PROTO_E_BAD_VALUE},
		{"{\"cmd\":\"ping\",\"x\":\"\\ud800\"}", PROTO_E_BAD_JSON},
		{"{\"cmd\":\"ping\",\"x\":1.}", PROTO_E_BAD_JSON},
		{"{\"cmd\":\"ping\",\"x\":\"a\tb\"}", PROTO_E_BAD_JSON},
		{"{\"cmd\":\"ping\",}", PROTO_E_BAD_JSON},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum proto_err c = parse(cases[i].line, &r);
		if (c != cases[i].code)
			fail_msg("case %zu (%s): code %d, want %d", i, cases[i].line, c,
				 cases[i].code);
		assert_string_equal(r.id, "");
		proto_request_clear(&r);
	}
	/* valid ones still pass, UTF-8 and escapes included */
	assert_int_equal(parse("{\"cmd\":\"ping\",\"id\":\"caf\xc3\xa9 \\ud83d\\ude00\"}", &r),
			 PROTO_E_NONE);
	assert_int_equal(r.cmd, PROTO_CMD_PING);
	proto_request_clear(&r);
	assert_int_equal(parse(" {\"cmd\":\"ping\",\"id\":-0.5e+3} \r", &r), PROTO_E_NONE);
	assert_string_equal(r.id, "-500");
	proto_request_clear(&r);
	/* Integer ids below 2^53 come back digit for digit (docs/CLIENT-PROTOCOL.md 3). */
	static const char *const exact[] = {"9007199254740991", "-9007199254740991",
					    "4503599627370497", "1000000000000001"};
	for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
		char line[80];

		snprintf(line, sizeof line, "{\"cmd\":\"ping\",\"id\":%s}", exact[i]);
		assert_int_equal(parse(line, &r), PROTO_E_NONE);
		assert_string_equal(r.id, exact[i]);
		proto_request_clear(&r);
	}
}

/* A member named twice: parsers disagree on which one counts (cJSON the first, Python,
 * jq and Qt the last), so a request must not mean one thing here and another to a proxy
 * or a log reader. */
static void test_duplicate_members(void **state)
{
	(void)state;
	struct proto_request r;
	static const char *const dup[] = {
		"{\"cmd\":\"ping\",\"cmd\":\"status\"}",
		"{\"cmd\":\"ping\",\"id\":1,\"id\":2}",
		"{\"cmd\":\"ping\",\"c\\u006dd\":\"status\"}",
		"{\"cmd\":\"watch\",\"ports\":[2],\"classes\":[],\"ports\":[3]}",
		"{\"cmd\":\"ping\",\"x\":[{\"a\":1,\"b\":2,\"a\":3}]}",
	};
	for (size_t i = 0; i < sizeof dup / sizeof dup[0]; i++) {
		enum proto_err c = parse(dup[i], &r);
		if (c != PROTO_E_BAD_JSON)
			fail_msg("%s: code %d, want bad_json", dup[i], c);
		assert_string_equal(r.id, "");
		proto_request_clear(&r);
	}
	/* An object of many members is checked whole, not only its first few. */
	char big[8192];
	size_t n = (size_t)snprintf(big, sizeof big, "{\"cmd\":\"ping\"");
	for (int k = 0; k < 500; k++)
		n += (size_t)snprintf(big + n, sizeof big - n, ",\"m%d\":0", k);
	snprintf(big + n, sizeof big - n, "}");
	assert_int_equal(parse(big, &r), PROTO_E_NONE);
	proto_request_clear(&r);
	snprintf(big + n, sizeof big - n, ",\"m250\":1}");
	assert_int_equal(parse(big, &r), PROTO_E_BAD_JSON);
	proto_request_clear(&r);
	/* The same name in different objects is fine. */
	assert_int_equal(parse("{\"cmd\":\"ping\",\"x\":{\"cmd\":1,\"y\":{\"cmd\":2}}}", &r),
			 PROTO_E_NONE);
	proto_request_clear(&r);
}

/* Nesting as docs/CLIENT-PROTOCOL.md 3 says: 64 levels, the request's object included. */
static void test_nesting_limit(void **state)
{
	(void)state;
	struct proto_request r;
	for (int depth = 63; depth <= 65; depth++) {
		char line[256];
		size_t n = (size_t)snprintf(line, sizeof line, "{\"cmd\":\"ping\",\"x\":");
		for (int i = 1; i < depth; i++)
			line[n++] = '[';
		for (int i = 1; i < depth; i++)
			line[n++] = ']';
		snprintf(line + n, sizeof line - n, "}");
		enum proto_err want = depth <= 64 ? PROTO_E_NONE : PROTO_E_BAD_JSON;
		if (parse(line, &r) != want)
			fail_msg("depth %d: not %s", depth, depth <= 64 ? "taken" : "refused");
		proto_request_clear(&r);
	}
}

/* A numeric id that is not an integer below 2^53 comes back as the same double: a client
 * that numbers requests with Math.random() matches its reply by value. */
static void test_fraction_ids_round_trip(void **state)
{
	(void)state;
	struct proto_request r;
	static const char *const ids[] = {"0.30000000000000004",
					  "0.5931236676608271",
					  "0.17693109505003501",
					  "1e300",
					  "-2.2250738585072014e-308",
					  "9007199254740993",
					  "0.1",
					  "123.456"};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		char line[80];

		snprintf(line, sizeof line, "{\"cmd\":\"ping\",\"id\":%s}", ids[i]);
		assert_int_equal(parse(line, &r), PROTO_E_NONE);
		char *end;
		double sent = strtod(ids[i], NULL), echoed = strtod(r.id, &end);
		if (*end != '\0' || echoed != sent)
			fail_msg("id %s echoed as %s", ids[i], r.id);
		proto_request_clear(&r);
	}
	/* A string id is measured as written back: 100 escaped e-acutes (600 bytes in the
	 * request) come back as 200 bytes of UTF-8, within the 256. */
	char line[700];
	size_t n = (size_t)snprintf(line, sizeof line, "{\"cmd\":\"ping\",\"id\":\"");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(line + n, sizeof line - n, "\\u00e9");
	snprintf(line + n, sizeof line - n, "\"}");
	assert_int_equal(parse(line, &r), PROTO_E_NONE);
	assert_int_equal(strlen(r.id), 202);
	assert_memory_equal(r.id, "\"\xc3\xa9", 3);
	proto_request_clear(&r);
	/* and as few digits as that takes */
	assert_int_equal(parse("{\"cmd\":\"ping\",\"id\":0.1}", &r), PROTO_E_NONE);
	assert_string_equal(r.id, "0.1");
	proto_request_clear(&r);
}

/* FRAME pieces from pre-quoted names; port 2's name unless port_json is NULL. */
static const struct proto_frame_names *names(struct proto_frame_names *nm, const char *chan_json,
					     size_t chan_len, const char *port_json,
					     size_t port_len)
{
	proto_frame_names_clear(nm);
	assert_int_equal(proto_frame_names_head(nm, chan_json, chan_len), 0);
	if (port_json)
		assert_int_equal(proto_frame_names_port(nm, 2, port_json, port_len), 0);
	return nm;
}

/* The live stream's renderer keeps the mapped times' leading digits from line to line:
 * whatever came before, its bytes are the plain renderer's, through times that keep,
 * change and lose those digits, small and largest ones, in both encodings. */
static void test_render_frame_memo_same_bytes(void **state)
{
	(void)state;
	char want[PROTO_FRAME_MAX], got[PROTO_FRAME_MAX];
	const uint8_t bytes[] = {'o', 'k'};
	static struct proto_frame_names n;
	names(&n, "\"m7\"", 4, "\"gps\"", 5);
	const uint64_t base = 1795957489478546546ull, mono = 14189971365329ull;
	const int64_t steps[] = {
		0, 1,	      4166625, 99999999, 100000000, -100000000, 7, 0, -14189971365329 + 5,
		0, 123456789, 0};
	uint64_t real = base, mo = mono;
	uint32_t rng = 7;

	for (unsigned i = 0; i < 200; i++) {
		rng = rng * 1103515245u + 12345u;
		int64_t d = steps[i % (sizeof steps / sizeof steps[0])];
		real += (uint64_t)d; /* wraps now and then: any uint64_t renders */
		mo += (uint64_t)d;
		if (i == 100) {
			real = UINT64_MAX - 3;
			mo = 99999999;
		}
		uint64_t span = (rng >> 8) % 200000000u; /* may cross a tenth of a second */
		struct proto_frame f = {.port = 2,
					.seq = i,
					.t_first = mo / 125,
					.t_last = mo / 125 + span / 2, /* may cross 10^8 */
					.nbytes = sizeof bytes,
					.has_realtime = i % 17 != 5,
					.has_mono = i % 13 != 4,
					.t_first_ns = real,
					.t_last_ns = real + span,
					.t_first_mono_ns = mo,
					.t_last_mono_ns = mo + span,
					.t_err_ns = rng % 100000};
		enum proto_encoding enc = i % 3 ? PROTO_ENC_BASE64 : PROTO_ENC_HEX;
		int w = proto_render_frame(want, sizeof want, &n, &f, bytes, enc);
		int g = proto_render_frame_memo(got, sizeof got, &n, &f, bytes, enc);
		assert_true(w > 0);
		assert_int_equal(g, w);
		assert_memory_equal(got, want, (size_t)w);
	}
	proto_frame_names_clear(&n);
}

/* Captures that straddle a multiple of 10^8 one after another (several ports, a burst):
 * the first time before it, the last after it, line after line (the first line all before
 * it, so that the next starts from the memo), then both after it. The memo keeps the
 * later digits and the range it left, for the first times; the bytes stay the plain
 * renderer's, and the memo ends with the digits of the times after the multiple. */
static void test_render_frame_memo_straddle(void **state)
{
	(void)state;
	char want[PROTO_FRAME_MAX], got[PROTO_FRAME_MAX];
	const uint8_t bytes[] = {1, 2, 3};
	static struct proto_frame_names n;
	names(&n, "\"m7\"", 4, NULL, 0);
	const uint64_t edge = 17959963626ull * 100000000u;

	for (unsigned i = 0; i < 40; i++) {
		uint64_t a = i < 30 ? edge - 4000000 + i * 1000 : edge + i;
		uint64_t b = i ? edge + 166000 + i * 1000 : edge - 1;
		struct proto_frame f = {.port = 0,
					.seq = i,
					.t_first = a / 1000,
					.t_last = b / 1000,
					.nbytes = sizeof bytes,
					.has_realtime = true,
					.has_mono = true,
					.t_first_ns = a,
					.t_last_ns = b,
					.t_first_mono_ns = a - edge + 99000000,
					.t_last_mono_ns = b - edge + 99000000,
					.t_err_ns = 1000 + i};
		int w = proto_render_frame(want, sizeof want, &n, &f, bytes, PROTO_ENC_BASE64);
		int g = proto_render_frame_memo(got, sizeof got, &n, &f, bytes, PROTO_ENC_BASE64);
		assert_true(w > 0);
		assert_int_equal(g, w);
		assert_memory_equal(got, want, (size_t)w);
		assert_int_equal(n.memo[0].base, i ? edge : edge - 100000000u);
		if (i)
			assert_int_equal(n.memo[0].prev_base, edge - 100000000u);
	}
	proto_frame_names_clear(&n);
}

static void test_render_frame_exact(void **state)
{
	(void)state;
	char buf[PROTO_FRAME_MAX];
	const uint8_t bytes[] = {0x00, 0x01, 'h', 'i', 0x00};
	static struct proto_frame_names n;
	const struct proto_frame_names *nm = names(&n, "\"m7\"", 4, NULL, 0);
	struct proto_frame f = {
		.port = 2, .seq = 1, .t_first = 1000, .t_last = 1090, .nbytes = sizeof bytes};
	int r = proto_render_frame(buf, sizeof buf, nm, &f, bytes, PROTO_ENC_BASE64);
	const char *want = "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":2,\"seq\":1,"
			   "\"t_first\":1000,\"t_last\":1090,\"data\":\"AAFoaQA=\",\"len\":5}\n";
	assert_int_equal(r, (int)strlen(want));
	assert_memory_equal(buf, want, (size_t)r);

	f.flags = M7B_DATA_LINE_ERROR | M7B_DATA_CONTINUED;
	nm = names(&n, "\"m7\"", 4, "\"gps\"", 5);
	f.has_realtime = true;
	f.t_first_ns = 1;
	f.t_last_ns = UINT64_MAX;
	r = proto_render_frame(buf, sizeof buf, nm, &f, bytes, PROTO_ENC_HEX);
	want = "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":2,\"seq\":1,\"t_first\":1000,"
	       "\"t_last\":1090,\"hex\":\"000168690"
	       "0\",\"len\":5,\"flags\":[\"line_error\","
	       "\"continued\"],\"port_name\":\"gps\",\"t_first_ns\":1,"
	       "\"t_last_ns\":18446744073709551615}\n";
	assert_int_equal(r, (int)strlen(want));
	assert_memory_equal(buf, want, (size_t)r);
	/* Too small a buffer is an error, never a truncated line. */
	assert_int_equal(proto_render_frame(buf, 40, nm, &f, bytes, PROTO_ENC_BASE64), -ENOSPC);
	/* The largest capture fits PROTO_FRAME_MAX with the longest pieces, every member. */
	static uint8_t big[M7B_PAYLOAD_MAX];
	char cname[PROTO_FRAME_HEAD_MAX], pname[PROTO_FRAME_PNAME_MAX];
	size_t head_name = PROTO_FRAME_HEAD_MAX - 35, port_name = PROTO_FRAME_PNAME_MAX - 13;
	memset(cname, 'x', sizeof cname);
	memset(pname, 'y', sizeof pname);
	cname[0] = cname[head_name - 1] = pname[0] = pname[port_name - 1] = '"';
	nm = names(&n, cname, head_name, NULL, 0);
	assert_int_equal(proto_frame_names_port(&n, 255, pname, port_name), 0);
	assert_int_equal(nm->head_len, PROTO_FRAME_HEAD_MAX);
	assert_int_equal(nm->port_name_len[255], PROTO_FRAME_PNAME_MAX);
	f = (struct proto_frame){.port = 255,
				 .flags = 0xff,
				 .seq = UINT32_MAX,
				 .t_first = UINT64_MAX - 1,
				 .t_last = UINT64_MAX,
				 .nbytes = sizeof big,
				 .late = true,
				 .has_realtime = true,
				 .t_first_ns = UINT64_MAX,
				 .t_last_ns = 1,
				 .has_mono = true,
				 .t_first_mono_ns = UINT64_MAX,
				 .t_last_mono_ns = UINT64_MAX,
				 .t_err_ns = UINT64_MAX};
	assert_true(proto_render_frame(buf, sizeof buf, nm, &f, big, PROTO_ENC_HEX) > 0);
	/* A payload beyond its bound is refused, whatever the room; so are pieces. */
	static char huge[2 * PROTO_FRAME_MAX];
	f.nbytes = M7B_PAYLOAD_MAX + 1;
	assert_int_equal(proto_render_frame(huge, sizeof huge, nm, &f, big, PROTO_ENC_HEX),
			 -ENOSPC);
	assert_int_equal(proto_frame_names_head(&n, cname, head_name + 1), -ENOSPC);
	assert_int_equal(proto_frame_names_port(&n, 1, pname, port_name + 1), -ENOSPC);
	assert_null(n.port_name[1]);
	/* A port renamed: the old member is replaced. */
	assert_int_equal(proto_frame_names_port(&n, 255, "\"gps\"", 5), 0);
	assert_int_equal(n.port_name_len[255], 18);
	assert_memory_equal(n.port_name[255], ",\"port_name\":\"gps\"", 18);
	proto_frame_names_clear(&n);
	assert_null(n.port_name[255]);
	assert_int_equal(n.head_len, 0);
}

/* The small-number digits (port, length) at each width, the bench's 48-byte payload, and
 * a buffer of exactly the line's length (and one byte less) through the tight path. */
static void test_render_frame_numbers_and_tight_buffers(void **state)
{
	(void)state;
	static const unsigned ports[] = {0, 9, 10, 99, 100, 255};
	uint8_t bytes[48];
	for (size_t i = 0; i < sizeof bytes; i++)
		bytes[i] = (uint8_t)(i * 37);
	static struct proto_frame_names nn;
	const struct proto_frame_names *nm = names(&nn, "\"m7\"", 4, NULL, 0);
	for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
		struct proto_frame f = {.port = (uint8_t)ports[i],
					.flags = M7B_DATA_OVERRUN,
					.seq = UINT32_MAX,
					.t_first = 0,
					.t_last = UINT64_MAX,
					.nbytes = ports[i] < 100 ? sizeof bytes : 0};
		char want[512], buf[PROTO_FRAME_MAX];
		int w = snprintf(want, sizeof want,
				 "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":%u,"
				 "\"seq\":4294967295,\"t_first\":0,"
				 "\"t_last\":18446744073709551615,\"data\":\"%s\",\"len\":%u,"
				 "\"flags\":[\"overrun\"]}\n",
				 ports[i],
				 f.nbytes ? "ACVKb5S53gMoTXKXvOEGK1B1mr/kCS5T"
					    "eJ3C5wwxVnugxeoPNFl+o8jtEjdcgabL"
					  : "",
				 (unsigned)f.nbytes);
		int n = proto_render_frame(buf, sizeof buf, nm, &f, bytes, PROTO_ENC_BASE64);
		assert_int_equal(n, w);
		assert_memory_equal(buf, want, (size_t)n);
		memset(buf, 0, sizeof buf);
		assert_int_equal(
			proto_render_frame(buf, (size_t)w, nm, &f, bytes, PROTO_ENC_BASE64), w);
		assert_memory_equal(buf, want, (size_t)w);
		assert_int_equal(
			proto_render_frame(buf, (size_t)w - 1, nm, &f, bytes, PROTO_ENC_BASE64),
			-ENOSPC);
	}
}

/* seq and t_err_ns at every digit count, each way they are made (together when both are
 * under 10^8, else apart), against printf. */
static void test_render_frame_seq_and_err(void **state)
{
	(void)state;
	static const uint64_t v[] = {0,		1,	    9,	       10,	  99,
				     100,	999,	    1000,      9999,	  10000,
				     99999,	100000,	    999999,    1000000,	  9999999,
				     10000000,	12345678,   99999999,  100000000, 100000001,
				     999999999, UINT32_MAX, UINT64_MAX};
	static struct proto_frame_names nn;
	const struct proto_frame_names *nm = names(&nn, "\"m7\"", 4, NULL, 0);
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		for (size_t j = 0; j < sizeof v / sizeof v[0]; j++) {
			uint32_t seq = v[i] > UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)v[i];
			struct proto_frame f = {.port = 3,
						.seq = seq,
						.t_first = 7,
						.t_last = 8,
						.has_mono = true,
						.t_first_mono_ns = 5,
						.t_last_mono_ns = 6,
						.t_err_ns = v[j]};
			char want[512], buf[PROTO_FRAME_MAX];
			int w = snprintf(want, sizeof want,
					 "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":3,"
					 "\"seq\":%" PRIu32
					 ",\"t_first\":7,\"t_last\":8,\"data\":\"\","
					 "\"len\":0,\"t_first_mono_ns\":5,\"t_last_mono_ns\":6,"
					 "\"t_err_ns\":%" PRIu64 "}\n",
					 seq, v[j]);
			int n = proto_render_frame(buf, sizeof buf, nm, &f, NULL, PROTO_ENC_BASE64);
			assert_int_equal(n, w);
			assert_memory_equal(buf, want, (size_t)n);
		}
	}
}

static void test_render_others(void **state)
{
	(void)state;
	char buf[1024];
	int n = proto_render_version(buf, sizeof buf, "0.1.0");
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"class\":\"VERSION\",\"release\":\"0.1.0\",\"proto_major\":1,"
				 "\"proto_minor\":1}\n");
	n = proto_render_state(buf, sizeof buf, "m7", "down", "eof", "", NULL);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"class\":\"STATE\",\"channel\":\"m7\",\"state\":\"down\","
				 "\"reason\":\"eof\"}\n");
	n = proto_render_error(buf, sizeof buf, "7", PROTO_E_NO_CHANNEL, "no \"x\"", "x");
	buf[n] = '\0';
	assert_string_equal(buf, "{\"class\":\"ERROR\",\"id\":7,\"code\":\"no_channel\","
				 "\"message\":\"no \\\"x\\\"\",\"channel\":\"x\"}\n");
	n = proto_render_ack(buf, sizeof buf, "\"a\"", "send", "m7", true, 17);
	buf[n] = '\0';
	assert_string_equal(buf,
			    "{\"class\":\"ACK\",\"id\":\"a\",\"cmd\":\"send\",\"channel\":\"m7\","
			    "\"seq\":17}\n");
	n = proto_render_dropped(buf, sizeof buf, 3, 10, 0, 0);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"class\":\"DROPPED\",\"count\":3,\"total\":10}\n");
	n = proto_render_dropped(buf, sizeof buf, 3, 10, 0, 4096);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"class\":\"DROPPED\",\"count\":3,\"total\":10,"
				 "\"raw_bytes\":0,\"raw_bytes_total\":4096}\n");
	struct m7b_heartbeat hb = {.now_ticks = 5, .ncounters = 2, .counter = {7, 8}};
	n = proto_render_heartbeat(buf, sizeof buf, "m7", 9, &hb);
	buf[n] = '\0';
	assert_string_equal(buf,
			    "{\"class\":\"HEARTBEAT\",\"channel\":\"m7\",\"seq\":9,"
			    "\"now_ticks\":5,\"counters\":{\"uart_rx_bytes\":7,\"captures\":8}}\n");
	struct m7b_hello h = {.tick_hz = 8000000,
			      .boot_id = 0xA1B2C3D4,
			      .now_ticks = 1,
			      .max_payload = 478,
			      .host_credits = 8,
			      .name = "m7sim 1.0",
			      .name_len = 9};
	n = proto_render_hello(buf, sizeof buf, "m7", &h, true);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"class\":\"HELLO\",\"channel\":\"m7\",\"name\":\"m7sim 1.0\","
				 "\"boot_id\":2712847316,\"tick_hz\":8000000,\"max_payload\":478,"
				 "\"host_credits\":8,\"now_ticks\":1,\"new_boot\":true}\n");
	n = proto_render_log(buf, sizeof buf, "m7", 3, "a\nb\x01", 4, 2);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"class\":\"LOG\",\"channel\":\"m7\",\"level\":3,"
				 "\"text\":\"a\\nb\\u0001\",\"level_name\":\"err\",\"seq\":2}\n");
	n = proto_render_fault(buf, sizeof buf, "m7", "kick_failed", "", "kernel", 2);
	buf[n] = '\0';
	assert_string_equal(buf, "{\"class\":\"FAULT\",\"channel\":\"m7\",\"kind\":\"kick_failed\","
				 "\"source\":\"kernel\",\"count\":2}\n");
}

static void test_status(void **state)
{
	(void)state;
	struct proto_status_channel ch = {.name = "m7",
					  .device = "/dev/x",
					  .state = "up",
					  .reason = "hello",
					  .frames = 5,
					  .has_firmware = true,
					  .fw_name = "fw",
					  .boot_id = 1,
					  .tick_hz = 2,
					  .max_payload = 3,
					  .holder_pid = 0};
	struct proto_status_client cl = {
		.id = 4, .pid = 99, .uid = 0, .watching = true, .delivered = 6, .dropped = 1};
	struct proto_status s = {.id = "\"q\"",
				 .release = "0.1.0",
				 .uptime_ms = 10,
				 .client_id = 4,
				 .pid = 321,
				 .channels = &ch,
				 .nchannels = 1,
				 .clients = &cl,
				 .nclients = 1};
	size_t len;
	char *t = proto_render_status(&s, &len);
	assert_non_null(t);
	assert_int_equal(t[len - 1], '\n');
	const char *prefix = "{\"class\":\"STATUS\",\"id\":\"q\",\"channels\":[{\"name\":\"m7\","
			     "\"state\":\"up\",\"frames\":5,\"recoveries\":0,";
	assert_memory_equal(t, prefix, strlen(prefix));
	assert_non_null(strstr(t, "\"firmware\":{\"name\":\"fw\",\"boot_id\":1,\"tick_hz\":2,"
				  "\"max_payload\":3}"));
	assert_non_null(strstr(t, "\"clients\":[{\"id\":4,\"pid\":99,\"uid\":0,\"watching\":true,"
				  "\"policy\":\"drop\",\"delivered\":6,\"dropped\":1"));
	assert_null(strstr(t, "holder"));
	assert_non_null(strstr(t, "\"client_id\":4,\"pid\":321,\"clients\":["));
	free(t);
	s.pid = 0; /* unknown: left out, never null */
	t = proto_render_status(&s, &len);
	assert_non_null(t);
	assert_non_null(strstr(t, "\"client_id\":4,\"clients\":["));
	free(t);
}

/* STATUS prints integers in full, never with an exponent (section 4: cJSON prints 1e15 as
 * 1e+15 and 5000000000000001 as 5e+15), and echoes the id as the request parser printed
 * it: CLOCK_MONOTONIC nanoseconds pass 1e15 after 12 days of uptime. */
static void test_status_numbers_in_full(void **state)
{
	(void)state;
	struct proto_status_channel ch = {.name = "m7",
					  .device = "/dev/x",
					  .state = "up",
					  .reason = "hello",
					  .frames = 1000000000000000ull,
					  .has_clock = true,
					  .clock = {.source = "sync",
						    .mapped = true,
						    .offset_ns = -1000000123456780ll,
						    .rate_ppm = -99.57261,
						    .rate_err_ppm = 4.21609,
						    .err_ns = 16995,
						    .samples = 14,
						    .updated_mono_ns = 5000000000000001ull}};
	struct proto_status_client cl = {.id = 4, .uid = 0, .delivered = 9007199254740993ull};
	static const char *const ids[] = {"9007199254740991", "0.30000000000000004", "\"q\""};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		struct proto_status s = {.id = ids[i],
					 .release = "0.1.0",
					 .uptime_ms = 10,
					 .client_id = 4,
					 .channels = &ch,
					 .nchannels = 1,
					 .clients = &cl,
					 .nclients = 1};
		size_t len;
		char *t = proto_render_status(&s, &len);
		assert_non_null(t);
		char want[64];
		snprintf(want, sizeof want, "{\"class\":\"STATUS\",\"id\":%s,", ids[i]);
		if (strncmp(t, want, strlen(want)) != 0)
			fail_msg("id %s: %.60s", ids[i], t);
		assert_non_null(strstr(t, "\"frames\":1000000000000000,"));
		assert_non_null(strstr(t, "\"clock\":{\"source\":\"sync\",\"mapped\":true,"
					  "\"offset_ns\":-1000000123456780,\"rate_ppm\":-99.5726,"
					  "\"rate_err_ppm\":4.2161,\"err_ns\":16995,\"samples\":14,"
					  "\"updated_mono_ns\":5000000000000001,\"epochs\":0,"
					  "\"rejected\":0}"));
		assert_non_null(strstr(t, "\"delivered\":9007199254740993,"));
		free(t);
	}
}

static void test_codecs(void **state)
{
	(void)state;
	/* RFC 4648 section 10 vectors. */
	static const char *const v[][2] = {{"", ""},
					   {"f", "Zg=="},
					   {"fo", "Zm8="},
					   {"foo", "Zm9v"},
					   {"foob", "Zm9vYg=="},
					   {"fooba", "Zm9vYmE="},
					   {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < 7; i++) {
		char out[16];
		int n = m7b_base64_encode(v[i][0], strlen(v[i][0]), out, sizeof out);
		assert_int_equal(n, (int)strlen(v[i][1]));
		assert_memory_equal(out, v[i][1], (size_t)n);
		uint8_t dec[16];
		n = m7b_base64_decode(v[i][1], strlen(v[i][1]), dec, sizeof dec);
		assert_int_equal(n, (int)strlen(v[i][0]));
		assert_memory_equal(dec, v[i][0], (size_t)n);
	}
	uint8_t d[8];
	assert_int_equal(m7b_base64_decode("Zm9vYg", 6, d, sizeof d), 4); /* no padding */
	assert_int_equal(m7b_base64_decode("Zm9vY", 5, d, sizeof d), -EBADMSG);
	assert_int_equal(m7b_base64_decode("Zh==", 4, d, sizeof d), -EBADMSG); /* not canonical */
	assert_int_equal(m7b_base64_decode("Zm9v\n", 5, d, sizeof d), -EBADMSG);
	assert_int_equal(m7b_base64_decode("Zm9v", 4, d, 2), -ENOSPC);
	assert_int_equal(m7b_hex_decode("0aFf", 4, d, sizeof d), 2);
	assert_int_equal(d[0], 0x0a);
	assert_int_equal(d[1], 0xff);

	char q[64];
	int n = proto_quote(q, sizeof q, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9); /* é € 😀 */
	assert_int_equal(n, 11);
	assert_memory_equal(q, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", 11);
	/* Overlong, surrogate, truncated: each byte becomes U+FFFD. */
	n = proto_quote(q, sizeof q, "\xc0\xaf|\xed\xa0\x80|\xe2\x82", 9);
	q[n] = '\0';
	assert_string_equal(q, "\"\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
			       "\xef\xbf\xbd\xef\xbf\xbd\"");
	assert_int_equal(proto_quote(q, 3, "abc", 3), -ENOSPC);
	assert_int_equal(proto_class_from_string("HEARTBEAT"), PROTO_C_HEARTBEAT);
	assert_string_equal(proto_class_to_string(PROTO_C_FAULT), "FAULT");
	assert_string_equal(proto_err_to_string(PROTO_E_TOO_LONG), "too_long");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watch_defaults_and_filters),
		cmocka_unit_test(test_watch_since),
		cmocka_unit_test(test_reload_members),
		cmocka_unit_test(test_channel_names_of_any_length),
		cmocka_unit_test(test_long_words_are_unknown_words),
		cmocka_unit_test(test_send),
		cmocka_unit_test(test_send_without_port),
		cmocka_unit_test(test_render_raw),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_unknown_class_message),
		cmocka_unit_test(test_strict_requests),
		cmocka_unit_test(test_fraction_ids_round_trip),
		cmocka_unit_test(test_duplicate_members),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_render_frame_exact),
		cmocka_unit_test(test_render_frame_memo_same_bytes),
		cmocka_unit_test(test_render_frame_memo_straddle),
		cmocka_unit_test(test_render_frame_numbers_and_tight_buffers),
		cmocka_unit_test(test_render_frame_seq_and_err),
		cmocka_unit_test(test_render_others),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_status_numbers_in_full),
		cmocka_unit_test(test_codecs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
