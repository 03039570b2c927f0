/* Unit tests for libm7bridge's pure parts: event parsing (lib/event.c), base64
 * (lib/base64.c), request formatting (lib/request.c) and resume positions
 * (lib/resume.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <time.h>
#include <cmocka.h>

#include "m7bridge/client.h"
#include "resume.h"

static struct m7b_event *parse_ok(const char *line)
{
	struct m7b_event *ev = NULL;
	struct m7b_error err = {0};

	assert_int_equal(m7b_event_parse(line, strlen(line), &ev, &err), 0);
	assert_non_null(ev);
	assert_string_equal(ev->line, line);
	return ev;
}

static int parse_fails(const char *line, size_t len, struct m7b_error *err)
{
	struct m7b_event *ev = (struct m7b_event *)1;
	int r = m7b_event_parse(line, len, &ev, err);

	assert_null(ev);
	return r;
}

static void test_frame_base64(void **state)
{
	/* The protocol document's FRAME example. */
	struct m7b_event *ev = parse_ok(
		"{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":2,\"seq\":1,\"t_first\":1000,"
		"\"t_last\":1090,\"data\":\"AAFoaQA=\",\"len\":5,\"flags\":[\"overrun\"],"
		"\"port_name\":\"gps\"}");
	static const uint8_t want[] = {0x00, 0x01, 0x68, 0x69, 0x00};
	int64_t v;

	assert_int_equal(ev->type, M7B_EV_FRAME);
	assert_string_equal(ev->cls, "FRAME");
	assert_string_equal(ev->channel, "m7");
	assert_int_equal(ev->port, 2);
	assert_int_equal(ev->seq, 1);
	assert_int_equal(ev->t_first, 1000);
	assert_int_equal(ev->t_last, 1090);
	assert_int_equal(ev->flags, M7B_FRAME_OVERRUN);
	assert_int_equal(ev->data_len, 5);
	assert_memory_equal(ev->data, want, 5);
	assert_false(ev->has_id);
	assert_string_equal(m7b_event_get_string(ev, "port_name"), "gps");
	assert_int_equal(m7b_event_get_int(ev, "len", &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(m7b_event_get_int(ev, "port_name", &v), -EINVAL);
	assert_int_equal(m7b_event_get_int(ev, "nope", &v), -ENOENT);
	assert_null(m7b_event_get_string(ev, "nope"));
	m7b_event_free(ev);
}

static void test_frame_hex_and_flags(void **state)
{
	struct m7b_event *ev = parse_ok(
		"{\"class\":\"FRAME\",\"channel\":\"a\",\"port\":0,\"seq\":4294967295,"
		"\"t_first\":9007199254740991,\"t_last\":9007199254740991,\"hex\":\"00ff7A\","
		"\"len\":3,\"flags\":[\"overrun\",\"line_error\",\"continued\",\"new\",7]}");
	static const uint8_t want[] = {0x00, 0xff, 0x7a};

	assert_int_equal(ev->seq, 4294967295LL);
	assert_int_equal(ev->t_first, 9007199254740991LL);
	assert_int_equal(ev->flags, M7B_FRAME_OVERRUN | M7B_FRAME_LINE_ERROR | M7B_FRAME_CONTINUED);
	assert_int_equal(ev->data_len, 3);
	assert_memory_equal(ev->data, want, 3);
	m7b_event_free(ev);

	/* An empty capture still has a non-NULL buffer. */
	ev = parse_ok("{\"class\":\"FRAME\",\"channel\":\"a\",\"port\":0,\"data\":\"\"}");
	assert_non_null(ev->data);
	assert_int_equal(ev->data_len, 0);
	m7b_event_free(ev);
}

/* Mapped times are exact although CLOCK_REALTIME ns exceed a double's 2^53. */
static void test_frame_mapped_times(void **state)
{
	struct m7b_event *ev = parse_ok(
		"{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":1,\"seq\":2,\"t_first\":80,"
		"\"t_last\":90,\"data\":\"AA==\",\"len\":1,\"t_first_ns\":1763740000123456789,"
		"\"t_last_ns\":1763740000123456790,\"t_first_mono_ns\":81234567890123,"
		"\"t_last_mono_ns\":81234567890124,\"t_err_ns\":152}");

	assert_int_equal(ev->t_first_ns, 1763740000123456789LL);
	assert_int_equal(ev->t_last_ns, 1763740000123456790LL);
	assert_int_equal(ev->t_first_mono_ns, 81234567890123LL);
	assert_int_equal(ev->t_last_mono_ns, 81234567890124LL);
	assert_int_equal(ev->t_err_ns, 152);
	m7b_event_free(ev);

	/* Unmapped, and members that are not such integers: -1. */
	ev = parse_ok("{\"class\":\"FRAME\",\"channel\":\"m7\",\"t_err_ns\":-5,"
		      "\"t_first_ns\":\"1\",\"t_last_ns\":1.5}");
	assert_int_equal(ev->t_first_ns, -1);
	assert_int_equal(ev->t_last_ns, -1);
	assert_int_equal(ev->t_first_mono_ns, -1);
	assert_int_equal(ev->t_err_ns, -1);
	m7b_event_free(ev);

	/* Spaced JSON (not the daemon's form) still parses, through the double. */
	ev = parse_ok("{\"class\":\"FRAME\", \"t_err_ns\" : 7}");
	assert_int_equal(ev->t_err_ns, 7);
	m7b_event_free(ev);
}

/* m7b_event_get_int reads integers beyond 2^53 exactly too: a RAW's t_rx_ns (the header
 * points there for it), a HELLO's now_ticks after years. A nested member of the same name
 * that comes first in the line is not taken for it. */
static void test_get_int_exact(void **state)
{
	struct m7b_event *ev =
		parse_ok("{\"class\":\"RAW\",\"channel\":\"fw\",\"data\":\"QQ==\",\"len\":1,"
			 "\"t_rx_ns\":1764412345123456789,\"t_rx_mono_ns\":3456789012345}");
	int64_t v = 0;

	assert_int_equal(m7b_event_get_int(ev, "t_rx_ns", &v), 0);
	assert_int_equal(v, 1764412345123456789LL);
	assert_int_equal(m7b_event_get_int(ev, "t_rx_mono_ns", &v), 0);
	assert_int_equal(v, 3456789012345LL);
	m7b_event_free(ev);

	ev = parse_ok("{\"class\":\"X\",\"o\":{\"v\":1},\"a\":[{\"v\":2}],"
		      "\"v\":-9007199254740993,\"w\":9223372036854775000}");
	assert_int_equal(m7b_event_get_int(ev, "v", &v), 0);
	assert_int_equal(v, -9007199254740993LL);
	assert_int_equal(m7b_event_get_int(ev, "w", &v), 0);
	assert_int_equal(v, 9223372036854775000LL);
	m7b_event_free(ev);

	/* Digits elsewhere that round to the same double are not taken: those of a nested
	 * member of that name, of a key that ends in the name, of a later duplicate (cJSON
	 * takes the first). */
	ev = parse_ok("{\"class\":\"FRAME\",\"o\":{\"t_first_ns\":1152921504606846977},"
		      "\"a\\\"t_first_ns\":1152921504606846978,"
		      "\"t_first_ns\":1152921504606846976,\"t_first_ns\":1152921504606846975}");
	assert_int_equal(ev->t_first_ns, 1152921504606846976LL);
	assert_int_equal(m7b_event_get_int(ev, "t_first_ns", &v), 0);
	assert_int_equal(v, 1152921504606846976LL);
	m7b_event_free(ev);
	/* Brackets and escaped backslashes inside strings do not change the level. */
	ev = parse_ok("{\"class\":\"X\",\"s\":\"}]\\\\\",\"k\\\\\":[{\"n\":1152921504606846977}],"
		      "\"n\":1152921504606846976}");
	assert_int_equal(m7b_event_get_int(ev, "n", &v), 0);
	assert_int_equal(v, 1152921504606846976LL);
	m7b_event_free(ev);
}

static void test_frame_bad_payload(void **state)
{
	struct m7b_error err = {0};
	const char *bad[] = {
		"{\"class\":\"FRAME\",\"data\":\"AAF*aQA=\"}",
		"{\"class\":\"FRAME\",\"data\":\"A\"}",
		"{\"class\":\"FRAME\",\"data\":\"AA=A\"}",
		"{\"class\":\"FRAME\",\"hex\":\"abc\"}",
		"{\"class\":\"FRAME\",\"hex\":\"zz\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(parse_fails(bad[i], strlen(bad[i]), &err), -EBADMSG);
		assert_int_equal(err.errnum, -EBADMSG);
		assert_true(strstr(err.message, "FRAME") != NULL);
	}
}

static void test_types_and_members(void **state)
{
	static const struct {
		const char *cls;
		enum m7b_event_type t;
	} cases[] = {
		{"VERSION", M7B_EV_VERSION},
		{"FRAME", M7B_EV_FRAME},
		{"STATE", M7B_EV_STATE},
		{"STATUS", M7B_EV_STATUS},
		{"LOG", M7B_EV_LOG},
		{"HELLO", M7B_EV_HELLO},
		{"FAULT", M7B_EV_FAULT},
		{"DROPPED", M7B_EV_DROPPED},
		{"ACK", M7B_EV_ACK},
		{"ERROR", M7B_EV_ERROR},
		{"INCIDENTS", M7B_EV_INCIDENTS},
		{"HEARTBEAT", M7B_EV_HEARTBEAT},
		{"PONG", M7B_EV_PONG},
		{"RAW", M7B_EV_RAW},
		{"CLOCK", M7B_EV_CLOCK},
		{"SOMETHING_NEW", M7B_EV_UNKNOWN},
		{"frame", M7B_EV_UNKNOWN},
	};
	char line[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line), "{\"class\":\"%s\",\"extra\":{\"x\":[1]}}",
			 cases[i].cls);
		struct m7b_event *ev = parse_ok(line);

		assert_int_equal(ev->type, cases[i].t);
		assert_string_equal(ev->cls, cases[i].cls);
		if (cases[i].t != M7B_EV_UNKNOWN)
			assert_string_equal(m7b_event_type_to_string(ev->type), cases[i].cls);
		assert_null(ev->channel);
		assert_int_equal(ev->port, -1);
		assert_int_equal(ev->seq, -1);
		assert_null(ev->data);
		char *j = m7b_event_get_json(ev, "extra");

		assert_string_equal(j, "{\"x\":[1]}");
		free(j);
		m7b_event_free(ev);
	}
	assert_string_equal(m7b_event_type_to_string((enum m7b_event_type)999), "UNKNOWN");
}

static void test_version_state_error_log(void **state)
{
	struct m7b_event *ev = parse_ok("{\"class\":\"VERSION\",\"release\":\"0.1.0\",\"proto_"
					"major\":1,\"proto_minor\":3}");

	assert_string_equal(ev->release, "0.1.0");
	assert_int_equal(ev->proto_major, 1);
	assert_int_equal(ev->proto_minor, 3);
	m7b_event_free(ev);

	ev = parse_ok("{\"class\":\"STATE\",\"channel\":\"m7\",\"state\":\"recovering\","
		      "\"reason\":\"fault\",\"errno\":\"EIO\"}");
	assert_string_equal(ev->state, "recovering");
	assert_string_equal(ev->reason, "fault");
	assert_string_equal(m7b_event_get_string(ev, "errno"), "EIO");
	m7b_event_free(ev);

	ev = parse_ok("{\"class\":\"ERROR\",\"id\":4,\"code\":\"channel_down\","
		      "\"message\":\"channel m7 is down\",\"channel\":\"m7\"}");
	assert_true(ev->has_id);
	assert_int_equal(ev->id, 4);
	assert_string_equal(ev->code, "channel_down");
	assert_string_equal(ev->message, "channel m7 is down");
	m7b_event_free(ev);

	/* A string id (another client's style) is not one of ours. */
	ev = parse_ok("{\"class\":\"PONG\",\"id\":\"abc\"}");
	assert_false(ev->has_id);
	m7b_event_free(ev);
	ev = parse_ok("{\"class\":\"PONG\",\"id\":1.5}");
	assert_false(ev->has_id);
	m7b_event_free(ev);

	ev = parse_ok("{\"class\":\"LOG\",\"channel\":\"m7\",\"level\":6,\"text\":\"uart2 baud\","
		      "\"level_name\":\"info\",\"seq\":42}");
	assert_int_equal(ev->level, 6);
	assert_string_equal(ev->text, "uart2 baud");
	m7b_event_free(ev);
}

static void test_wrong_types_are_absent(void **state)
{
	struct m7b_event *ev = parse_ok(
		"{\"class\":\"FRAME\",\"channel\":5,\"port\":\"2\",\"seq\":\"x\",\"t_first\":1e400,"
		"\"state\":[],\"flags\":\"overrun\"}");

	assert_null(ev->channel);
	assert_int_equal(ev->port, -1);
	assert_int_equal(ev->seq, -1);
	assert_int_equal(ev->t_first, -1);
	assert_null(ev->state);
	assert_int_equal(ev->flags, 0);
	m7b_event_free(ev);

	ev = parse_ok("{\"class\":\"FRAME\",\"port\":300}");
	assert_int_equal(ev->port, -1);
	m7b_event_free(ev);
}

static void test_narrow_members_out_of_range(void **state)
{
	/* 2^32 + 1 must not pass for protocol 1 (the client would accept the daemon), nor
	 * 2^32 + 2 for port 2: out of range is absent, as a wrong type is. */
	struct m7b_event *ev = parse_ok("{\"class\":\"VERSION\",\"proto_major\":4294967297,"
					"\"proto_minor\":-4294967295}");

	assert_int_equal(ev->proto_major, -1);
	assert_int_equal(ev->proto_minor, -1);
	m7b_event_free(ev);
	ev = parse_ok("{\"class\":\"LOG\",\"port\":4294967298,\"level\":4294967302}");
	assert_int_equal(ev->port, -1);
	assert_int_equal(ev->level, -1);
	m7b_event_free(ev);
	ev = parse_ok("{\"class\":\"LOG\",\"level\":8}");
	assert_int_equal(ev->level, -1);
	m7b_event_free(ev);
	ev = parse_ok("{\"class\":\"LOG\",\"port\":255,\"level\":0}");
	assert_int_equal(ev->port, 255);
	assert_int_equal(ev->level, 0);
	m7b_event_free(ev);
}

static void test_status_channels(void **state)
{
	struct m7b_event *ev = parse_ok(
		"{\"class\":\"STATUS\",\"id\":3,\"channels\":[{\"name\":\"m7\",\"state\":\"up\","
		"\"frames\":120345,\"recoveries\":0,\"device\":\"/dev/ttyRPMSG30\","
		"\"firmware\":{\"name\":\"m7sim 1.0\"}},{\"name\":\"b\",\"state\":\"down\","
		"\"frames\":0,\"recoveries\":2},7],\"release\":\"0.1.0\",\"uptime_ms\":81234}");
	struct m7b_channel_status ch;
	int64_t v;

	assert_int_equal(m7b_event_array_size(ev, "channels"), 3);
	assert_int_equal(m7b_event_channel(ev, 0, &ch), 0);
	assert_string_equal(ch.name, "m7");
	assert_string_equal(ch.state, "up");
	assert_string_equal(ch.device, "/dev/ttyRPMSG30");
	assert_int_equal(ch.frames, 120345);
	assert_int_equal(ch.recoveries, 0);
	assert_int_equal(m7b_event_channel(ev, 1, &ch), 0);
	assert_null(ch.device);
	assert_int_equal(ch.recoveries, 2);
	assert_int_equal(m7b_event_channel(ev, 2, &ch), -ENOENT);
	assert_int_equal(m7b_event_channel(ev, 3, &ch), -ENOENT);
	assert_int_equal(m7b_event_array_int(ev, "channels", 0, "frames", &v), 0);
	assert_int_equal(v, 120345);
	assert_int_equal(m7b_event_array_int(ev, "channels", 0, "state", &v), -EINVAL);
	assert_int_equal(m7b_event_array_int(ev, "channels", 9, "frames", &v), -ENOENT);
	assert_string_equal(m7b_event_array_string(ev, "channels", 1, "name"), "b");
	assert_null(m7b_event_array_string(ev, "release", 0, "name"));
	assert_int_equal(m7b_event_array_size(ev, "release"), 0);
	assert_int_equal(m7b_event_get_int(ev, "uptime_ms", &v), 0);
	assert_int_equal(v, 81234);
	m7b_event_free(ev);
}

static void test_bad_lines(void **state)
{
	struct m7b_error err;
	static const char nul_line[] = "{\"class\":\"A\"}\0x";
	struct m7b_event *ev;
	const char *bad[] = {
		"",
		"not json",
		"[1,2]",
		"\"str\"",
		"{\"class\":1}",
		"{\"noclass\":\"x\"}",
		"{\"class\":\"A\"} trailing",
		"{\"class\":\"A\"",
		"{\"class\":\"A\",}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(parse_fails(bad[i], strlen(bad[i]), &err), -EBADMSG);
		assert_int_equal(err.errnum, -EBADMSG);
		assert_true(err.message[0] != '\0');
		assert_true(err.offset <= strlen(bad[i]));
	}
	memset(&err, 0, sizeof(err));
	assert_int_equal(parse_fails(nul_line, sizeof(nul_line) - 1, &err), -EBADMSG);
	assert_int_equal(err.offset, 13);
	/* Text that is not UTF-8 (the daemon never sends such) is not handed on as it came:
	 * each byte that is not part of valid UTF-8 reads as U+FFFD, as the daemon cleans
	 * text from the M7, and the line stays as received. */
	ev = parse_ok("{\"class\":\"LOG\",\"text\":\"ok \xc3\xa9 \xff!\",\"level\":3}");
	assert_string_equal(ev->text, "ok \xc3\xa9 \xef\xbf\xbd!");
	assert_int_equal(ev->level, 3);
	assert_non_null(memchr(ev->line, 0xff, ev->line_len));
	ev = m7b_event_free(ev);
	ev = parse_ok("{\"class\":\"LOG\",\"text\":\"\xed\xa0\x80\\\\\xc3\"}");
	assert_string_equal(ev->text, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\\\xef\xbf\xbd");
	ev = m7b_event_free(ev);
	/* A \u0000 (the daemon's escape of a NUL byte from the M7) reads as U+FFFD: the
	 * rest of the string is kept, not cut off there. The line stays as received. */
	ev = parse_ok("{\"class\":\"LOG\",\"text\":\"a\\u0000b\\u0000\",\"level\":3}");
	assert_string_equal(ev->text, "a\xef\xbf\xbd"
				      "b\xef\xbf\xbd");
	assert_int_equal(ev->level, 3);
	assert_non_null(strstr(ev->line, "a\\u0000b"));
	ev = m7b_event_free(ev);
	/* An escaped backslash before u0000 is text, not an escape. */
	ev = parse_ok("{\"class\":\"LOG\",\"text\":\"a\\\\u0000 \xc3\xa9\"}");
	assert_string_equal(ev->text, "a\\u0000 \xc3\xa9");
	ev = m7b_event_free(ev);
	/* A bad line with one still says where it went wrong, as it would without. */
	struct m7b_error err2 = {0};
	memset(&err, 0, sizeof(err));
	assert_int_equal(parse_fails("{\"class\":\"LOG\",\"text\":\"\\u0000\",]", 32, &err),
			 -EBADMSG);
	assert_int_equal(parse_fails("{\"class\":\"LOG\",\"text\":\"\\u0020\",]", 32, &err2),
			 -EBADMSG);
	assert_true(err.offset > 24);
	assert_int_equal(err.offset, err2.offset);
	/* Without an error struct it still fails cleanly. */
	assert_int_equal(parse_fails("{", 1, NULL), -EBADMSG);
	/* Only len bytes count: the rest of the buffer is not read. */
	ev = NULL;

	assert_int_equal(m7b_event_parse("{\"class\":\"PONG\"}garbage", 16, &ev, NULL), 0);
	assert_int_equal(ev->type, M7B_EV_PONG);
	m7b_event_free(ev);
	assert_null(m7b_event_free(NULL));
}

static void test_base64(void **state)
{
	static const struct {
		const char *plain, *enc;
	} v[] = {
		/* RFC 4648 section 10 */
		{"", ""},
		{"f", "Zg=="},
		{"fo", "Zm8="},
		{"foo", "Zm9v"},
		{"foob", "Zm9vYg=="},
		{"fooba", "Zm9vYmE="},
		{"foobar", "Zm9vYmFy"},
	};
	char enc[32];
	uint8_t dec[32];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i].plain);

		assert_int_equal(m7b_base64_encode(v[i].plain, n, enc, sizeof(enc)),
				 (int)strlen(v[i].enc));
		assert_string_equal(enc, v[i].enc);
		assert_int_equal(m7b_base64_decode(v[i].enc, strlen(v[i].enc), dec, sizeof(dec)),
				 (int)n);
		assert_memory_equal(dec, v[i].plain, n);
	}
	/* Padding is optional on input. */
	assert_int_equal(m7b_base64_decode("Zm8", 3, dec, sizeof(dec)), 2);
	assert_memory_equal(dec, "fo", 2);
	assert_int_equal(m7b_base64_decode("Zg", 2, dec, sizeof(dec)), 1);
	/* All 256 byte values round-trip. */
	uint8_t all[256], back[256];
	char big[400];

	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	assert_int_equal(m7b_base64_encode(all, 256, big, sizeof(big)), 344);
	assert_int_equal(m7b_base64_decode(big, 344, back, sizeof(back)), 256);
	assert_memory_equal(all, back, 256);
	/* Errors. */
	assert_int_equal(m7b_base64_encode("foo", 3, enc, 4), -ENOSPC);
	assert_int_equal(m7b_base64_decode("Zm9v", 4, dec, 2), -ENOSPC);
	assert_int_equal(m7b_base64_decode("Z", 1, dec, sizeof(dec)), -EBADMSG);
	assert_int_equal(m7b_base64_decode("Zm=v", 4, dec, sizeof(dec)), -EBADMSG);
	assert_int_equal(m7b_base64_decode("Zg=", 3, dec, sizeof(dec)), -EBADMSG);
	assert_int_equal(m7b_base64_decode("Z===", 4, dec, sizeof(dec)), -EBADMSG);
	assert_int_equal(m7b_base64_decode("Zm 9", 4, dec, sizeof(dec)), -EBADMSG);
	assert_int_equal(m7b_base64_decode("Zm-_", 4, dec, sizeof(dec)), -EBADMSG);
}

static void test_request_format(void **state)
{
	const char *chans[] = {"m7", "b"};
	const int ports[] = {0, 2};
	const char *classes[] = {"FRAME", "STATE"};
	struct m7b_watch w = {chans, 2, ports, 2, classes, 2, "hex", "disconnect"};
	struct m7b_request req = {.cmd = M7B_CMD_WATCH, .watch = &w};
	int r = 1;
	char *line = m7b_request_format(&req, 1, &r);

	assert_int_equal(r, 0);
	assert_string_equal(
		line, "{\"cmd\":\"watch\",\"id\":1,\"channels\":[\"m7\",\"b\"],\"ports\":[0,2],"
		      "\"classes\":[\"FRAME\",\"STATE\"],\"encoding\":\"hex\","
		      "\"policy\":\"disconnect\"}\n");
	free(line);

	/* What the daemon would refuse as bad_type is refused here, not out of memory. */
	const char *with_null[] = {"m7", NULL};
	const int bad_ports[][1] = {{-1}, {256}};
	struct m7b_watch bad[] = {
		{.channels = with_null, .nchannels = 2},
		{.classes = with_null, .nclasses = 2},
		{.ports = bad_ports[0], .nports = 1},
		{.ports = bad_ports[1], .nports = 1},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req = (struct m7b_request){.cmd = M7B_CMD_WATCH, .watch = &bad[i]};
		r = 0;
		assert_null(m7b_request_format(&req, 2, &r));
		assert_int_equal(r, -EINVAL);
	}

	req = (struct m7b_request){.cmd = M7B_CMD_WATCH};
	line = m7b_request_format(&req, 2, NULL);
	assert_string_equal(line, "{\"cmd\":\"watch\",\"id\":2}\n");
	free(line);

	req = (struct m7b_request){
		.cmd = M7B_CMD_SEND, .channel = "m7", .port = 1, .data = "hello\n", .len = 6};
	line = m7b_request_format(&req, 4, &r);
	assert_string_equal(line, "{\"cmd\":\"send\",\"id\":4,\"port\":1,\"data\":\"aGVsbG8K\","
				  "\"channel\":\"m7\"}\n");
	free(line);

	/* Text the daemon would refuse without echoing the id (the reply would never be
	 * matched) is refused here; UTF-8 goes through. */
	static const char *const not_utf8[] = {
		"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
	for (size_t i = 0; i < sizeof(not_utf8) / sizeof(not_utf8[0]); i++) {
		req = (struct m7b_request){.cmd = M7B_CMD_INCIDENTS, .channel = not_utf8[i]};
		r = 0;
		assert_null(m7b_request_format(&req, 5, &r));
		assert_int_equal(r, -EINVAL);
	}
	req = (struct m7b_request){.cmd = M7B_CMD_INCIDENTS, .channel = "\xc3\xa9\xf0\x9f\x98\x80"};
	line = m7b_request_format(&req, 5, &r);
	assert_int_equal(r, 0);
	assert_string_equal(
		line,
		"{\"cmd\":\"incidents\",\"id\":5,\"channel\":\"\xc3\xa9\xf0\x9f\x98\x80\"}\n");
	free(line);

	/* Nor a line longer than the daemon takes: it would close the connection. */
	static char long_name[M7B_LINE_MAX];
	memset(long_name, 'a', sizeof(long_name) - 1);
	req = (struct m7b_request){.cmd = M7B_CMD_INCIDENTS, .channel = long_name};
	r = 0;
	assert_null(m7b_request_format(&req, 5, &r));
	assert_int_equal(r, -EMSGSIZE);
	/* The longest that fits: {"cmd":"incidents","id":5,"channel":""} is 39 bytes. */
	long_name[M7B_LINE_MAX - 39] = '\0';
	line = m7b_request_format(&req, 5, &r);
	assert_int_equal(r, 0);
	assert_int_equal(strlen(line), M7B_LINE_MAX + 1);
	free(line);

	req = (struct m7b_request){.cmd = M7B_CMD_SEND, .channel = "m7", .port = 256};
	assert_null(m7b_request_format(&req, 5, &r));
	assert_int_equal(r, -EINVAL);
	req = (struct m7b_request){.cmd = M7B_CMD_SEND, .port = 1, .data = NULL, .len = 3};
	assert_null(m7b_request_format(&req, 5, &r));
	assert_int_equal(r, -EINVAL);

	req = (struct m7b_request){.cmd = M7B_CMD_RELOAD, .channel = "m7", .firmware = "a.elf"};
	line = m7b_request_format(&req, 7, &r);
	assert_string_equal(
		line, "{\"cmd\":\"reload\",\"id\":7,\"channel\":\"m7\",\"firmware\":\"a.elf\"}\n");
	free(line);
	req.no_rollback = true;
	line = m7b_request_format(&req, 8, &r);
	assert_string_equal(line, "{\"cmd\":\"reload\",\"id\":8,\"channel\":\"m7\",\"firmware\":"
				  "\"a.elf\",\"no_rollback\":true}\n");
	free(line);

	req = (struct m7b_request){.cmd = M7B_CMD_RECOVER, .channel = "m\"7", .action = "resync"};
	line = m7b_request_format(&req, 6, &r);
	assert_string_equal(
		line,
		"{\"cmd\":\"recover\",\"id\":6,\"channel\":\"m\\\"7\",\"action\":\"resync\"}\n");
	free(line);

	static const char *const simple[][2] = {
		{"status", "{\"cmd\":\"status\",\"id\":3}\n"},
		{"unwatch", "{\"cmd\":\"unwatch\",\"id\":3}\n"},
		{"incidents", "{\"cmd\":\"incidents\",\"id\":3}\n"},
		{"ping", "{\"cmd\":\"ping\",\"id\":3}\n"},
	};
	enum m7b_cmd cmds[] = {M7B_CMD_STATUS, M7B_CMD_UNWATCH, M7B_CMD_INCIDENTS, M7B_CMD_PING};

	for (size_t i = 0; i < 4; i++) {
		req = (struct m7b_request){.cmd = cmds[i]};
		assert_string_equal(m7b_cmd_to_string(cmds[i]), simple[i][0]);
		line = m7b_request_format(&req, 3, NULL);
		assert_string_equal(line, simple[i][1]);
		free(line);
	}
	req = (struct m7b_request){.cmd = (enum m7b_cmd)99};
	assert_null(m7b_request_format(&req, 1, &r));
	assert_int_equal(r, -EINVAL);
	assert_null(m7b_cmd_to_string((enum m7b_cmd)99));
}

/* Every id the daemon can echo exactly (|id| < 2^53) goes out digit for digit; a larger
 * one, which the daemon's doubles could turn into another, is refused. */
static void test_request_id_exact(void **state)
{
	static const struct {
		int64_t id;
		const char *line;
	} ok[] = {
		{4503599627370497LL, "{\"cmd\":\"ping\",\"id\":4503599627370497}\n"},
		{9007199254740991LL, "{\"cmd\":\"ping\",\"id\":9007199254740991}\n"},
		{-9007199254740991LL, "{\"cmd\":\"ping\",\"id\":-9007199254740991}\n"},
		{0, "{\"cmd\":\"ping\",\"id\":0}\n"},
	};
	static const int64_t bad[] = {9007199254740992LL, -9007199254740992LL, INT64_MAX,
				      INT64_MIN};
	struct m7b_request req = {.cmd = M7B_CMD_PING};
	char *line;
	int r;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		r = 1;
		line = m7b_request_format(&req, ok[i].id, &r);
		assert_int_equal(r, 0);
		assert_string_equal(line, ok[i].line);
		free(line);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = 0;
		assert_null(m7b_request_format(&req, bad[i], &r));
		assert_int_equal(r, -EINVAL);
	}
}

/* A request id beyond 32 bits survives formatting and parsing. */
static void test_request_roundtrip_id(void **state)
{
	struct m7b_request req = {.cmd = M7B_CMD_STATUS};
	char *line = m7b_request_format(&req, 2147483648LL, NULL);
	struct m7b_event *ev = NULL;
	size_t n = strlen(line);
	char *obj;

	/* Reuse the event parser: turn the request into an object with a class. */
	obj = malloc(n + 32);
	snprintf(obj, n + 32, "{\"class\":\"X\",%s", line + 1);
	obj[strlen(obj) - 1] = '\0';
	assert_int_equal(m7b_event_parse(obj, strlen(obj), &ev, NULL), 0);
	assert_true(ev->has_id);
	assert_int_equal(ev->id, 2147483648LL);
	m7b_event_free(ev);
	free(obj);
	free(line);
}

/* Feeds one object to the resume positions. */
static void feed(struct resume *r, const char *line)
{
	struct m7b_event *ev = parse_ok(line);

	resume_on_event(r, ev);
	m7b_event_free(ev);
}

#define HELLO_B1  "{\"class\":\"HELLO\",\"channel\":\"m7\",\"boot_id\":11,\"new_boot\":true}"
#define LIVE(seq) "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":0,\"seq\":" #seq "}"

/* The position of m7, or -ENOENT: boot * 1000000 + seq. */
static int64_t pos_m7(const struct resume *r)
{
	uint32_t boot = 0, seq = 0;

	if (resume_position(r, "m7", &boot, &seq) < 0)
		return -ENOENT;
	return (int64_t)boot * 1000000 + seq;
}

/* Replayed frames name their run; one the daemon could not name claims no position. */
static void test_resume_replayed_frames(void **state)
{
	struct resume r = {0};

	feed(&r, HELLO_B1);
	feed(&r, "{\"class\":\"FRAME\",\"channel\":\"m7\",\"seq\":7,\"boot_id\":5,"
		 "\"replay\":true}");
	assert_int_equal(pos_m7(&r), 5000007);
	/* After a restart without a HELLO: not of the last HELLO's run, nor of any known. */
	feed(&r, "{\"class\":\"FRAME\",\"channel\":\"m7\",\"seq\":3,\"replay\":true}");
	assert_int_equal(pos_m7(&r), -ENOENT);
	assert_null(resume_from(&r, NULL));
	feed(&r, LIVE(4));
	assert_int_equal(pos_m7(&r), 11000004);
	assert_non_null(resume_from(&r, NULL));
}

/* The daemon's STATE m7_restarted, or a live seq that went back with no HELLO between:
 * the run is unknown until the next HELLO. */
static void test_resume_restart_without_hello(void **state)
{
	struct resume r = {0};

	feed(&r, HELLO_B1);
	feed(&r, LIVE(1));
	feed(&r, LIVE(2));
	assert_int_equal(pos_m7(&r), 11000002);
	feed(&r, "{\"class\":\"STATE\",\"channel\":\"m7\",\"state\":\"up\","
		 "\"reason\":\"m7_restarted\"}");
	feed(&r, LIVE(9));
	assert_int_equal(pos_m7(&r), -ENOENT);
	feed(&r, "{\"class\":\"HELLO\",\"channel\":\"m7\",\"boot_id\":12}");
	feed(&r, LIVE(1));
	assert_int_equal(pos_m7(&r), 12000001);
	/* Another reason changes nothing; another channel's restart neither. */
	feed(&r, "{\"class\":\"STATE\",\"channel\":\"m7\",\"state\":\"up\","
		 "\"reason\":\"hello\"}");
	feed(&r, "{\"class\":\"STATE\",\"channel\":\"other\",\"state\":\"up\","
		 "\"reason\":\"m7_restarted\"}");
	feed(&r, LIVE(2));
	assert_int_equal(pos_m7(&r), 12000002);
	/* seq back (or the same again) without a HELLO: the daemon's notice may be filtered
	 * out or dropped, the frames tell. Forward jumps (frames filtered or lost) do not. */
	feed(&r, LIVE(500));
	assert_int_equal(pos_m7(&r), 12000500);
	feed(&r, LIVE(500));
	assert_int_equal(pos_m7(&r), -ENOENT);
	feed(&r, "{\"class\":\"HELLO\",\"channel\":\"m7\",\"boot_id\":12}");
	feed(&r, LIVE(4294967295));
	feed(&r, LIVE(0)); /* wraps: forward */
	assert_int_equal(pos_m7(&r), 12000000);
	feed(&r, LIVE(3));
	feed(&r, LIVE(2));
	assert_int_equal(pos_m7(&r), -ENOENT);
	/* A HELLO without a usable boot_id names no run. */
	feed(&r, "{\"class\":\"HELLO\",\"channel\":\"m7\",\"boot_id\":-1}");
	feed(&r, LIVE(1));
	assert_int_equal(pos_m7(&r), -ENOENT);
}

/* A DROPPED notice may stand for a HELLO or STATE; a new connection learns runs anew. */
static void test_resume_dropped_and_reconnect(void **state)
{
	struct resume r = {0};

	feed(&r, HELLO_B1);
	feed(&r, LIVE(1));
	feed(&r, "{\"class\":\"DROPPED\",\"count\":3,\"total\":3}");
	feed(&r, LIVE(5));
	assert_int_equal(pos_m7(&r), -ENOENT);
	feed(&r, HELLO_B1);
	feed(&r, LIVE(6));
	assert_int_equal(pos_m7(&r), 11000006);
	resume_on_connect(&r);
	/* The position stays for the resume; frames after it need a HELLO of this
	 * connection (the daemon sends one after the watch while it knows the run). */
	assert_int_equal(pos_m7(&r), 11000006);
	feed(&r, LIVE(7));
	assert_int_equal(pos_m7(&r), -ENOENT);
}

/* One position per watch: the watched channel's, or that of the only channel with
 * frames, and only when sure. */
static void test_resume_from(void **state)
{
	struct resume r = {0};
	const char *m7[] = {"m7"}, *other[] = {"other"};
	struct m7b_watch w_m7 = {.channels = m7, .nchannels = 1};
	struct m7b_watch w_other = {.channels = other, .nchannels = 1};

	assert_null(resume_from(&r, NULL));
	feed(&r, HELLO_B1);
	feed(&r, LIVE(1));
	assert_ptr_equal(resume_from(&r, NULL), resume_from(&r, &w_m7));
	assert_non_null(resume_from(&r, NULL));
	/* Frames of a second channel, its run unknown: neither is the one position. */
	feed(&r, "{\"class\":\"FRAME\",\"channel\":\"other\",\"seq\":1}");
	assert_null(resume_from(&r, NULL));
	assert_null(resume_from(&r, &w_other));
	assert_non_null(resume_from(&r, &w_m7));
}

/* Frames of more channels than positions are kept for: the one channel tracked is not
 * "the only channel with frames", and a lookup by a watch's channel name keeps no place. */
static void test_resume_more_channels(void **state)
{
	struct resume r = {0};
	char name[16], line[128];
	const char *one[] = {name};
	struct m7b_watch w = {.channels = one, .nchannels = 1};
	int64_t since = -1;

	for (unsigned i = 0; i < 2 * RESUME_CHANNELS; i++) {
		snprintf(name, sizeof(name), "nope%u", i);
		assert_null(resume_from(&r, &w));
	}
	feed(&r, HELLO_B1);
	feed(&r, LIVE(1));
	assert_int_equal(pos_m7(&r), 11000001);

	resume_on_heard(&r, 100);
	for (unsigned i = 0; i < RESUME_CHANNELS; i++) {
		snprintf(line, sizeof(line),
			 "{\"class\":\"HELLO\",\"channel\":\"c%u\",\"boot_id\":1}", i);
		feed(&r, line);
	}
	/* Channel c15 found no place: its frame is not tracked, but was delivered. */
	feed(&r, "{\"class\":\"FRAME\",\"channel\":\"c15\",\"seq\":1}");
	assert_null(resume_from(&r, NULL));
	assert_true(resume_seen(&r, &since));
	assert_int_equal(since, 100);
	/* Nor is a channel whose name is longer than a position holds. */
	memset(&r, 0, sizeof(r));
	feed(&r, HELLO_B1);
	feed(&r, LIVE(1));
	assert_non_null(resume_from(&r, NULL));
	feed(&r, "{\"class\":\"FRAME\",\"channel\":\"a-channel-name-that-is-longer-than-the-"
		 "sixty-four-bytes-a-position-holds\",\"seq\":1}");
	assert_null(resume_from(&r, NULL));
}

/* When the latest connection that delivered frames was made: a daemon that started after
 * it is another one. */
static void test_resume_seen(void **state)
{
	struct resume r = {0};
	int64_t since = -1;

	resume_on_connect(&r);
	resume_on_heard(&r, 100);
	assert_false(resume_seen(&r, &since));
	feed(&r, LIVE(1));
	resume_on_connect(&r);
	resume_on_heard(&r, 200);
	feed(&r, "{\"class\":\"FRAME\",\"channel\":\"other\",\"seq\":1}");
	resume_on_connect(&r);
	resume_on_heard(&r, 300);
	assert_true(resume_seen(&r, &since));
	assert_int_equal(since, 200);
	feed(&r, LIVE(2));
	assert_true(resume_seen(&r, &since));
	assert_int_equal(since, 300);
}

/* The client's socket replaced (-Wl,--wrap): connect succeeds, recv hands out a script in
 * chunks of varying size, then the end of the stream; memmove counts the bytes moved. */
static const char *script;
static size_t script_len, script_off, moved;

int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	(void)fd, (void)sa, (void)len;
	return 0;
}

/* The client's clock (CLOCK_MONOTONIC ms) when not -1, and what it reads once recv was
 * called when that is not -1. */
static int64_t fake_ms = -1, recv_ms = -1;

int __real_clock_gettime(clockid_t id, struct timespec *ts);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts);
int __wrap_clock_gettime(clockid_t id, struct timespec *ts)
{
	if (fake_ms < 0)
		return __real_clock_gettime(id, ts);
	ts->tv_sec = fake_ms / 1000;
	ts->tv_nsec = fake_ms % 1000 * 1000000;
	return 0;
}

/* When not -1: recv hands out one line per call, and between two lines nothing yet
 * (EAGAIN) while the clock moves on by this many ms. */
static int64_t line_step_ms = -1;
static bool gave_line;

ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
	size_t chunk = 1 + script_off * 7919 % 6000, k = script_len - script_off;

	(void)fd, (void)flags;
	if (recv_ms >= 0)
		fake_ms = recv_ms;
	if (line_step_ms >= 0 && k > 0) {
		const char *nl = memchr(script + script_off, '\n', k);

		gave_line = !gave_line;
		if (!gave_line) {
			fake_ms += line_step_ms;
			errno = EAGAIN;
			return -1;
		}
		chunk = nl ? (size_t)(nl - (script + script_off)) + 1 : k;
	}
	k = k < n ? k : n;
	k = k < chunk ? k : chunk;
	memcpy(buf, script + script_off, k);
	script_off += k;
	return (ssize_t)k;
}

/* What the client sent, for the last test that looks. */
static char sent[4096];
static size_t sent_len;

ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags);
/* What a send costs on the fake clock, when that runs. */
static int64_t send_step_ms;

ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags)
{
	(void)fd, (void)flags;
	if (fake_ms >= 0)
		fake_ms += send_step_ms;
	if (n < sizeof(sent) - sent_len) {
		memcpy(sent + sent_len, buf, n);
		sent_len += n;
		sent[sent_len] = '\0';
	}
	return (ssize_t)n;
}

void *__real_memmove(void *dst, const void *src, size_t n);
void *__wrap_memmove(void *dst, const void *src, size_t n);
void *__wrap_memmove(void *dst, const void *src, size_t n)
{
	moved += n;
	return __real_memmove(dst, src, n);
}

/* A burst of lines read at once: each comes out whole and in order (split across reads,
 * with \r\n, a bad one among them), and the bytes received are not moved once per
 * line, which made a client that fell behind slower the more it had to catch up. */
static void test_client_line_burst(void **state)
{
	const unsigned nframes = 3000;
	size_t cap = 64 + nframes * 128, len = 0;
	char *s = malloc(cap);
	struct m7b_client *c = m7b_client_new();
	struct m7b_event *ev;
	unsigned frames = 0, bad = 0;
	int r;

	assert_non_null(s);
	assert_non_null(c);
	len += (size_t)sprintf(s + len, "{\"class\":\"VERSION\",\"proto_major\":1}\r\n");
	for (unsigned i = 0; i < nframes; i++)
		len += (size_t)sprintf(
			s + len,
			i == 1234 ? "not json %u\n"
				  : "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":1,"
				    "\"seq\":%u,\"data\":\"AAECAwQFBgcICQ==\"}\n",
			i);
	script = s;
	script_len = len;
	script_off = 0;
	assert_int_equal(m7b_client_connect(c, "/nonexistent/m7bridge.sock"), 0);
	moved = 0;
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_int_equal(ev->type, M7B_EV_VERSION);
	m7b_event_free(ev);
	while ((r = m7b_client_next(c, &ev, 0)) != -ECONNRESET) {
		if (r == -EBADMSG) {
			bad++;
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(ev->type, M7B_EV_FRAME);
		if (frames == 1234)
			frames++; /* the bad line's place */
		assert_int_equal(ev->seq, frames);
		assert_int_equal(ev->data_len, 10);
		frames++;
		m7b_event_free(ev);
	}
	assert_int_equal(frames, nframes);
	assert_int_equal(bad, 1);
	assert_true(moved <= len);
	m7b_client_free(c);
	free(s);
}

/* A refused watch changes nothing: the watch before it streams on, and what that one asked
 * for is still shown (the library hides only the HELLO and STATE it added itself). */
static void test_client_refused_watch(void **state)
{
	static const char s[] =
		"{\"class\":\"VERSION\",\"proto_major\":1}\n"
		"{\"class\":\"ACK\",\"id\":1,\"cmd\":\"watch\"}\n"
		"{\"class\":\"ERROR\",\"id\":2,\"code\":\"bad_value\",\"message\":\"no class "
		"NOPE\"}\n"
		"{\"class\":\"HELLO\",\"channel\":\"m7\",\"boot_id\":5}\n"
		"{\"class\":\"STATE\",\"channel\":\"m7\",\"state\":\"up\",\"reason\":\"hello\"}\n";
	const char *first[] = {"FRAME", "STATE"}, *second[] = {"FRAME", "NOPE"};
	struct m7b_watch w1 = {.classes = first, .nclasses = 2};
	struct m7b_watch w2 = {.classes = second, .nclasses = 2};
	struct m7b_client *c = m7b_client_new();
	struct m7b_event *ev;

	assert_non_null(c);
	script = s;
	script_len = strlen(s);
	script_off = 0;
	sent_len = 0;
	assert_int_equal(m7b_client_connect(c, "/nonexistent/m7bridge.sock"), 0);
	assert_int_equal(m7b_client_watch(c, &w1), 0);
	assert_non_null(strstr(sent, "\"classes\":[\"FRAME\",\"STATE\",\"HELLO\"]"));
	assert_int_equal(m7b_client_watch(c, &w2), -EREMOTEIO);
	assert_string_equal(m7b_client_error(c)->code, "bad_value");
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_int_equal(ev->type, M7B_EV_VERSION);
	m7b_event_free(ev);
	/* The HELLO stays hidden, the STATE the first watch asked for comes. */
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_int_equal(ev->type, M7B_EV_STATE);
	m7b_event_free(ev);
	assert_int_equal(m7b_client_next(c, &ev, 0), -ECONNRESET);
	m7b_client_free(c);
}

/* The daemon closed the connection within a line: the objects before it come, then the
 * cut line is reported once (not dropped in silence), then the end of the connection. */
static void test_client_cut_line(void **state)
{
	static const char s[] = "{\"class\":\"VERSION\",\"proto_major\":1}\n"
				"{\"class\":\"PONG\",\"id\":7}\n"
				"{\"class\":\"FRAME\",\"chan";
	struct m7b_client *c = m7b_client_new();
	struct m7b_event *ev;

	assert_non_null(c);
	script = s;
	script_len = strlen(s);
	script_off = 0;
	assert_int_equal(m7b_client_connect(c, "/nonexistent/m7bridge.sock"), 0);
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	m7b_event_free(ev);
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_int_equal(ev->type, M7B_EV_PONG);
	m7b_event_free(ev);
	assert_int_equal(m7b_client_next(c, &ev, 0), -EBADMSG);
	assert_null(ev);
	assert_non_null(strstr(m7b_client_error(c)->message, "within a line"));
	assert_int_equal(m7b_client_next(c, &ev, 0), -ECONNRESET);
	assert_int_equal(m7b_client_next(c, &ev, 0), -ECONNRESET);
	m7b_client_free(c);
}

/* A blocking next() waits timeout_ms in all, however many objects the library hides
 * meanwhile (the HELLO and STATE a watch added): a crash-looping M7 sends them more often
 * than the timeout, and each one started the wait over, so it never timed out. */
static void test_client_next_timeout_spans_hidden(void **state)
{
	char s[4096];
	size_t len = 0;
	struct m7b_client *c = m7b_client_new();
	struct m7b_event *ev;
	int r, hidden_left = 20;

	assert_non_null(c);
	len += (size_t)sprintf(s + len, "{\"class\":\"VERSION\",\"proto_major\":1}\n"
					"{\"class\":\"ACK\",\"id\":1,\"cmd\":\"watch\"}\n");
	for (int i = 0; i < hidden_left; i++)
		len += (size_t)sprintf(s + len,
				       "{\"class\":\"HELLO\",\"channel\":\"m7\",\"boot_id\":%d}\n",
				       i + 1);
	len += (size_t)sprintf(s + len, "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":1,"
					"\"seq\":0,\"data\":\"\"}\n");
	script = s;
	script_len = len;
	script_off = 0;
	fake_ms = 0;
	line_step_ms = 60; /* one line per 60 ms */
	gave_line = false;
	const char *only_frames[] = {"FRAME"};
	struct m7b_watch w = {.classes = only_frames, .nclasses = 1};
	assert_int_equal(m7b_client_connect(c, "/nonexistent/m7bridge.sock"), 0);
	m7b_client_set_timeout(c, 10000);
	assert_int_equal(m7b_client_watch(c, &w), 0);
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_int_equal(ev->type, M7B_EV_VERSION);
	m7b_event_free(ev);
	/* 100 ms see two hidden HELLOs at most, not the FRAME 1.2 s later. */
	assert_int_equal(m7b_client_next(c, &ev, 100), -ETIMEDOUT);
	assert_null(ev);
	/* Nothing was lost: the FRAME comes to a caller that waits long enough. */
	while ((r = m7b_client_next(c, &ev, 100)) == -ETIMEDOUT)
		assert_true(hidden_left-- > 0);
	assert_int_equal(r, 0);
	assert_int_equal(ev->type, M7B_EV_FRAME);
	m7b_event_free(ev);
	m7b_client_free(c);
	line_step_ms = fake_ms = -1;
}

/* A call's timeout holds for the whole call: a daemon slow to take the request leaves
 * only the rest of it for the reply, not a second timeout. */
static void test_client_call_timeout_in_all(void **state)
{
	static const char s[] = "{\"class\":\"VERSION\",\"proto_major\":1}\n"
				"{\"class\":\"HEARTBEAT\",\"channel\":\"m7\"}\n"
				"{\"class\":\"HEARTBEAT\",\"channel\":\"m7\"}\n"
				"{\"class\":\"HEARTBEAT\",\"channel\":\"m7\"}\n"
				"{\"class\":\"PONG\",\"id\":1}\n";
	struct m7b_client *c = m7b_client_new();
	struct m7b_event *ev;
	int n = 0;

	assert_non_null(c);
	script = s;
	script_len = strlen(s);
	script_off = 0;
	fake_ms = 0;
	line_step_ms = 1000; /* a line a second */
	gave_line = false;
	send_step_ms = 4000; /* the request takes 4 s to go out */
	assert_int_equal(m7b_client_connect(c, "/nonexistent/m7bridge.sock"), 0);
	m7b_client_set_timeout(c, 5000);
	/* The PONG comes 8 s after the call began: past its 5 s. */
	assert_int_equal(m7b_client_ping(c), -ETIMEDOUT);
	send_step_ms = 0;
	/* Nothing lost: all that came, and the late reply, are there for next(). */
	while (m7b_client_next(c, &ev, 10000) == 0) {
		n++;
		if (ev->type == M7B_EV_PONG)
			break;
		m7b_event_free(ev);
	}
	assert_int_equal(n, 5);
	assert_int_equal(ev->type, M7B_EV_PONG);
	m7b_event_free(ev);
	m7b_client_free(c);
	line_step_ms = fake_ms = -1;
}

/* A second VERSION of another major version ends the connection; what a blocking call
 * queued before it was received and still comes, as for the other failures that end a
 * connection. */
static void test_client_bad_version_keeps_queue(void **state)
{
	static const char s[] =
		"{\"class\":\"VERSION\",\"proto_major\":1}\n"
		"{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":1,\"seq\":4,\"data\":\"\"}\n"
		"{\"class\":\"VERSION\",\"proto_major\":2}\n";
	struct m7b_client *c = m7b_client_new();
	struct m7b_event *ev;

	assert_non_null(c);
	script = s;
	script_len = strlen(s);
	script_off = 0;
	assert_int_equal(m7b_client_connect(c, "/nonexistent/m7bridge.sock"), 0);
	assert_int_equal(m7b_client_ping(c), -EPROTO);
	assert_false(m7b_client_connected(c));
	assert_null(m7b_client_version(c));
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_int_equal(ev->type, M7B_EV_VERSION);
	m7b_event_free(ev);
	assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	assert_int_equal(ev->type, M7B_EV_FRAME);
	assert_int_equal(ev->seq, 4);
	m7b_event_free(ev);
	assert_int_equal(m7b_client_next(c, &ev, 0), -ENOTCONN);
	m7b_client_free(c);
}

/* NULL where a client, an event or a place for a result belongs is refused, never a
 * crash: a program that did not check m7b_client_new() for out of memory goes on to use
 * NULL. */
static void test_null_arguments(void **state)
{
	struct m7b_client *c = m7b_client_new();
	struct m7b_event *ev = (struct m7b_event *)&ev, *st;
	struct m7b_channel_status ch;
	uint32_t boot, seq;

	assert_int_equal(m7b_client_connect(NULL, "/nonexistent/m7bridge.sock"), -EINVAL);
	assert_int_equal(m7b_client_fd(NULL), -1);
	assert_false(m7b_client_connected(NULL));
	assert_null(m7b_client_path(NULL));
	assert_null(m7b_client_version(NULL));
	assert_false(m7b_client_pending(NULL));
	assert_int_equal(m7b_client_error(NULL)->errnum, -EINVAL);
	m7b_client_set_timeout(NULL, 10);
	m7b_client_set_resume(NULL, false);
	m7b_client_close(NULL);
	assert_int_equal(m7b_client_next(NULL, &ev, 0), -EINVAL);
	assert_null(ev);
	assert_int_equal(m7b_client_ping(NULL), -EINVAL);
	assert_int_equal(m7b_client_status(NULL, &ev), -EINVAL);
	assert_int_equal(m7b_client_watch(NULL, NULL), -EINVAL);
	assert_int_equal(m7b_client_submit(NULL, NULL, NULL), -EINVAL);
	assert_int_equal(m7b_client_position(NULL, "m7", &boot, &seq), -EINVAL);

	assert_non_null(c);
	assert_int_equal(m7b_client_next(c, NULL, 0), -EINVAL);
	assert_int_equal(m7b_client_error(c)->errnum, -EINVAL);
	assert_int_equal(m7b_client_position(c, "m7", NULL, NULL), -EINVAL);
	m7b_client_free(c);

	assert_int_equal(m7b_event_parse("{}", 2, NULL, NULL), -EINVAL);
	assert_int_equal(m7b_event_parse(NULL, 5, &ev, NULL), -EINVAL);
	assert_int_equal(m7b_event_parse(NULL, 0, &ev, NULL), -EBADMSG);
	st = parse_ok(
		"{\"class\":\"STATUS\",\"n\":3,\"channels\":[{\"name\":\"m7\",\"frames\":4}]}");
	assert_int_equal(m7b_event_get_int(st, "n", NULL), 0);
	assert_int_equal(m7b_event_array_int(st, "channels", 0, "frames", NULL), 0);
	assert_int_equal(m7b_event_channel(st, 0, NULL), -EINVAL);
	assert_int_equal(m7b_event_channel(st, 0, &ch), 0);
	m7b_event_free(st);
}

/* A client that had frames reconnects; the daemon's STATUS says it has been up for
 * uptime_ms. Returns what the client sent on the second connection. */
static void resume_after(int64_t uptime_ms, const char *want)
{
	static const char first[] =
		"{\"class\":\"VERSION\",\"proto_major\":1}\n"
		"{\"class\":\"ACK\",\"id\":1,\"cmd\":\"watch\"}\n"
		"{\"class\":\"HELLO\",\"channel\":\"m7\",\"boot_id\":5}\n"
		"{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":1,\"seq\":9,\"data\":\"\"}\n";
	char second[256];
	struct m7b_client *c = m7b_client_new();
	struct m7b_event *ev = NULL;

	assert_non_null(c);
	/* Connected at 1 s, first heard from at 2 s (under socket activation the daemon may
	 * start in between). */
	fake_ms = 1000;
	recv_ms = 2000;
	script = first;
	script_len = strlen(first);
	script_off = 0;
	assert_int_equal(m7b_client_connect(c, "/nonexistent/m7bridge.sock"), 0);
	assert_int_equal(m7b_client_watch(c, NULL), 0);
	do {
		m7b_event_free(ev);
		assert_int_equal(m7b_client_next(c, &ev, 0), 0);
	} while (ev->type != M7B_EV_FRAME);
	m7b_event_free(ev);
	m7b_client_close(c);

	fake_ms = recv_ms = 5000;
	snprintf(second, sizeof(second),
		 "{\"class\":\"VERSION\",\"proto_major\":1}\n"
		 "{\"class\":\"STATUS\",\"id\":2,\"channels\":[],\"uptime_ms\":%lld}\n"
		 "{\"class\":\"ACK\",\"id\":3,\"cmd\":\"watch\"}\n",
		 (long long)uptime_ms);
	script = second;
	script_len = strlen(second);
	script_off = 0;
	sent_len = 0;
	assert_int_equal(m7b_client_connect(c, "/nonexistent/m7bridge.sock"), 0);
	assert_int_equal(m7b_client_watch(c, NULL), 0);
	assert_non_null(strstr(sent, "{\"cmd\":\"status\",\"id\":2}\n"));
	assert_non_null(strstr(sent, want));
	m7b_client_free(c);
	fake_ms = recv_ms = -1;
}

/* Resuming tells a restarted daemon (started after the connection that delivered the
 * frames was first heard from) from the same one, also one that started after the
 * client connected (socket activation holds the connection until it runs). */
static void test_client_resume_restarted_daemon(void **state)
{
	resume_after(3500, "\"since_seq\":9,\"boot_id\":5}\n"); /* started at 1.5 s */
	resume_after(1000, "\"since_ns\":0}\n");		/* started at 4 s */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_base64),
		cmocka_unit_test(test_frame_hex_and_flags),
		cmocka_unit_test(test_frame_mapped_times),
		cmocka_unit_test(test_get_int_exact),
		cmocka_unit_test(test_frame_bad_payload),
		cmocka_unit_test(test_types_and_members),
		cmocka_unit_test(test_version_state_error_log),
		cmocka_unit_test(test_wrong_types_are_absent),
		cmocka_unit_test(test_narrow_members_out_of_range),
		cmocka_unit_test(test_status_channels),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_request_format),
		cmocka_unit_test(test_request_id_exact),
		cmocka_unit_test(test_request_roundtrip_id),
		cmocka_unit_test(test_resume_replayed_frames),
		cmocka_unit_test(test_resume_restart_without_hello),
		cmocka_unit_test(test_resume_dropped_and_reconnect),
		cmocka_unit_test(test_resume_from),
		cmocka_unit_test(test_resume_seen),
		cmocka_unit_test(test_resume_more_channels),
		cmocka_unit_test(test_client_line_burst),
		cmocka_unit_test(test_client_refused_watch),
		cmocka_unit_test(test_client_cut_line),
		cmocka_unit_test(test_client_resume_restarted_daemon),
		cmocka_unit_test(test_client_next_timeout_spans_hidden),
		cmocka_unit_test(test_client_bad_version_keeps_queue),
		cmocka_unit_test(test_client_call_timeout_in_all),
		cmocka_unit_test(test_null_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
