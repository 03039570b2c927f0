/* exporter metrics: stream model, incident counting (once, in seq order), label escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

/* Applies one JSON line to the model. */
static void feed(struct mx_model *m, const char *json)
{
	cJSON *o = cJSON_Parse(json);

	assert_non_null(o);
	assert_int_equal(mx_model_apply(m, o), 0);
	cJSON_Delete(o);
}

static void incidents(struct mx_model *m, const char *json)
{
	cJSON *o = cJSON_Parse(json);

	assert_non_null(o);
	assert_int_equal(mx_model_incidents(m, o), 0);
	cJSON_Delete(o);
}

/* Renders and returns the text (caller frees). */
static char *render(const struct mx_model *m, const char *status, bool om)
{
	cJSON *st = status ? cJSON_Parse(status) : NULL;
	struct mx_buf b = {0};

	assert_int_equal(mx_render(m, st, NULL, om, &b), 0);
	cJSON_Delete(st);
	mx_buf_printf(&b, "%s", "");
	return b.s;
}

static void assert_has(const char *text, const char *line)
{
	assert_non_null(text);
	if (!strstr(text, line))
		fail_msg("missing line '%s' in:\n%s", line, text);
}

/* A channel with no closed incident yet still has its duration histogram, at zero: a
 * series that appeared with the first observation would hide it from rate() and
 * increase(), which need a sample from before. A channel that has one is not doubled. */
static void test_duration_histogram_from_zero(void **state)
{
	struct mx_model m = {0};
	const char *status = "{\"class\":\"STATUS\",\"channels\":[{\"name\":\"m7\",\"state\":"
			     "\"up\"},{\"name\":\"b\",\"state\":\"up\"}]}";

	incidents(&m, "{\"class\":\"INCIDENTS\",\"incidents\":[{\"seq\":1,\"channel\":\"b\","
		      "\"outcome\":\"recovered\",\"start_us\":0,\"end_us\":300000}]}");
	char *t = render(&m, status, false);

	assert_has(t, "m7bridge_recovery_duration_seconds_bucket{channel=\"m7\",le=\"0.01\"} 0\n");
	assert_has(t, "m7bridge_recovery_duration_seconds_bucket{channel=\"m7\",le=\"+Inf\"} 0\n");
	assert_has(t, "m7bridge_recovery_duration_seconds_sum{channel=\"m7\"} 0\n");
	assert_has(t, "m7bridge_recovery_duration_seconds_count{channel=\"m7\"} 0\n");
	assert_has(t, "m7bridge_recovery_duration_seconds_count{channel=\"b\"} 1\n");
	const char *first = strstr(t, "m7bridge_recovery_duration_seconds_count{channel=\"b\"}");

	assert_null(strstr(first + 1, "m7bridge_recovery_duration_seconds_count{channel=\"b\"}"));
	free(t);
	mx_model_clear(&m);
}

static void test_frames_per_port(void **state)
{
	struct mx_model m = {0};

	feed(&m, "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":2,\"len\":5,\"data\":\"\"}");
	feed(&m,
	     "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":2,\"len\":7,\"port_name\":\"gps\"}");
	feed(&m, "{\"class\":\"FRAME\",\"channel\":\"m7\",\"port\":0,\"len\":1}");
	feed(&m, "{\"class\":\"FRAME\",\"channel\":\"b\",\"port\":2,\"len\":100}");
	feed(&m, "{\"class\":\"DROPPED\",\"count\":17,\"total\":17}");
	feed(&m, "{\"class\":\"STATE\",\"channel\":\"m7\",\"state\":\"up\"}");
	char *t = render(&m, NULL, false);

	assert_has(t,
		   "m7bridge_port_frames_total{channel=\"m7\",port=\"2\",port_name=\"gps\"} 2\n");
	assert_has(t,
		   "m7bridge_port_bytes_total{channel=\"m7\",port=\"2\",port_name=\"gps\"} 12\n");
	assert_has(t, "m7bridge_port_bytes_total{channel=\"m7\",port=\"0\"} 1\n");
	assert_has(t, "m7bridge_port_bytes_total{channel=\"b\",port=\"2\"} 100\n");
	assert_has(t, "m7bridge_exporter_dropped_objects_total 17\n");
	assert_has(t, "m7bridge_up 0\n");
	free(t);
	mx_model_clear(&m);
}

static void test_faults_take_daemon_count(void **state)
{
	struct mx_model m = {0};

	/* The exporter connected after two kick timeouts: the third says count 3. */
	feed(&m, "{\"class\":\"FAULT\",\"channel\":\"m7\",\"kind\":\"kick_timeout\","
		 "\"source\":\"kernel\",\"count\":3}");
	feed(&m, "{\"class\":\"FAULT\",\"channel\":\"m7\",\"kind\":\"kick_timeout\","
		 "\"source\":\"kernel\",\"count\":4}");
	feed(&m, "{\"class\":\"FAULT\",\"channel\":\"m7\",\"kind\":\"silent\","
		 "\"source\":\"liveness\",\"count\":1}");
	char *t = render(&m, NULL, false);

	assert_has(t, "m7bridge_faults_total{channel=\"m7\",kind=\"kick_timeout\",source="
		      "\"kernel\"} 4\n");
	assert_has(t,
		   "m7bridge_faults_total{channel=\"m7\",kind=\"silent\",source=\"liveness\"} 1\n");
	free(t);

	/* The daemon restarted and counts from 1 again: the counter resets with it, so
	 * Prometheus sees the new fault (staying at 4 would hide it). */
	feed(&m, "{\"class\":\"FAULT\",\"channel\":\"m7\",\"kind\":\"kick_timeout\","
		 "\"source\":\"kernel\",\"count\":1}");
	t = render(&m, NULL, false);
	assert_has(t, "m7bridge_faults_total{channel=\"m7\",kind=\"kick_timeout\",source="
		      "\"kernel\"} 1\n");
	free(t);
	mx_model_clear(&m);
}

static void test_incidents_counted_once_in_order(void **state)
{
	struct mx_model m = {0};
	const char *one =
		"{\"class\":\"INCIDENTS\",\"incidents\":["
		"{\"seq\":1,\"channel\":\"m7\",\"start_us\":1000000,\"end_us\":1300000,"
		"\"kind\":\"kick_timeout\",\"outcome\":\"recovered\",\"steps\":["
		"{\"action\":\"resync\",\"result\":\"failed\"},{\"action\":\"remoteproc\","
		"\"result\":\"ok\"}]},"
		"{\"seq\":2,\"channel\":\"m7\",\"start_us\":5000000,\"kind\":\"silent\","
		"\"outcome\":\"open\",\"steps\":[{\"action\":\"resync\",\"result\":\"ok\"}]},"
		"{\"seq\":3,\"channel\":\"m7\",\"start_us\":6000000,\"end_us\":6020000,"
		"\"kind\":\"silent\",\"outcome\":\"recovered\",\"steps\":["
		"{\"action\":\"resync\",\"result\":\"ok\"}]}]}";

	incidents(&m, one);
	incidents(&m, one); /* a second scrape adds nothing */
	char *t = render(&m, NULL, false);

	/* seq 3 waits behind the open seq 2. */
	assert_has(t, "m7bridge_recovery_duration_seconds_count{channel=\"m7\"} 1\n");
	assert_has(t, "m7bridge_recovery_duration_seconds_sum{channel=\"m7\"} 0.3\n");
	assert_has(t, "m7bridge_recovery_duration_seconds_bucket{channel=\"m7\",le=\"0.25\"} 0\n");
	assert_has(t, "m7bridge_recovery_duration_seconds_bucket{channel=\"m7\",le=\"0.5\"} 1\n");
	assert_has(t, "m7bridge_recovery_duration_seconds_bucket{channel=\"m7\",le=\"+Inf\"} 1\n");
	assert_has(t, "m7bridge_recovery_steps_total{channel=\"m7\",step=\"resync\","
		      "cause=\"kick_timeout\",result=\"failed\"} 1\n");
	assert_has(t, "m7bridge_recovery_steps_total{channel=\"m7\",step=\"remoteproc\","
		      "cause=\"kick_timeout\",result=\"ok\"} 1\n");
	assert_null(strstr(t, "cause=\"silent\""));
	free(t);

	/* seq 2 closes: 2 and 3 are counted, once. */
	incidents(&m, "{\"incidents\":[{\"seq\":2,\"channel\":\"m7\",\"start_us\":5000000,"
		      "\"end_us\":7000000,\"kind\":\"silent\",\"outcome\":\"failed\",\"steps\":["
		      "{\"action\":\"resync\",\"result\":\"ok\"}]},"
		      "{\"seq\":3,\"channel\":\"m7\",\"start_us\":6000000,\"end_us\":6020000,"
		      "\"kind\":\"silent\",\"outcome\":\"recovered\",\"steps\":["
		      "{\"action\":\"resync\",\"result\":\"ok\"}]}]}");
	t = render(&m, NULL, false);
	assert_has(t, "m7bridge_recovery_duration_seconds_count{channel=\"m7\"} 3\n");
	assert_has(t, "m7bridge_recovery_steps_total{channel=\"m7\",step=\"resync\","
		      "cause=\"silent\",result=\"ok\"} 2\n");
	free(t);

	/* A restarted daemon numbers from 1 again: its first incident still counts. */
	incidents(&m, "{\"incidents\":[{\"seq\":1,\"channel\":\"m7\",\"start_us\":1,"
		      "\"end_us\":2,\"kind\":\"silent\",\"outcome\":\"recovered\"}]}");
	t = render(&m, NULL, false);
	assert_has(t, "m7bridge_recovery_duration_seconds_count{channel=\"m7\"} 4\n");
	free(t);
	mx_model_clear(&m);
}

/* An incident that reached its cap closes `continued` with the step then under way shown
 * `running`; the incident that continues it has that step again, with its result. The
 * step is counted once, with that result, whichever of the two a scrape sees first. */
static void test_step_across_continued_incident_counted_once(void **state)
{
	struct mx_model m = {0};
	const char *full = "{\"seq\":4,\"channel\":\"m7\",\"start_us\":1000000,"
			   "\"end_us\":31000000,\"kind\":\"kick_timeout\","
			   "\"outcome\":\"continued\",\"steps\":["
			   "{\"action\":\"resync\",\"result\":\"timeout\"},"
			   "{\"action\":\"remoteproc\",\"result\":\"running\"}]}";
	char list[1024];

	snprintf(list, sizeof(list), "{\"incidents\":[%s]}", full);
	incidents(&m, list);
	snprintf(list, sizeof(list),
		 "{\"incidents\":[%s,{\"seq\":5,\"channel\":\"m7\",\"start_us\":31000000,"
		 "\"end_us\":33000000,\"kind\":\"kick_timeout\",\"continues\":4,"
		 "\"outcome\":\"recovered\",\"steps\":["
		 "{\"action\":\"remoteproc\",\"result\":\"ok\"}]}]}",
		 full);
	incidents(&m, list);
	char *t = render(&m, NULL, false);

	assert_has(t, "m7bridge_recovery_steps_total{channel=\"m7\",step=\"resync\","
		      "cause=\"kick_timeout\",result=\"timeout\"} 1\n");
	assert_has(t, "m7bridge_recovery_steps_total{channel=\"m7\",step=\"remoteproc\","
		      "cause=\"kick_timeout\",result=\"ok\"} 1\n");
	assert_null(strstr(t, "result=\"running\""));
	free(t);

	/* A step still running when the daemon stopped has no other record: it counts. */
	incidents(&m, "{\"incidents\":[{\"seq\":6,\"channel\":\"m7\",\"start_us\":40000000,"
		      "\"end_us\":41000000,\"kind\":\"stall\",\"outcome\":\"interrupted\","
		      "\"steps\":[{\"action\":\"reopen\",\"result\":\"running\"}]}]}");
	t = render(&m, NULL, false);
	assert_has(t, "m7bridge_recovery_steps_total{channel=\"m7\",step=\"reopen\","
		      "cause=\"stall\",result=\"running\"} 1\n");
	free(t);
	mx_model_clear(&m);
}

/* The M7's reboot losses are in STATUS only as the books' per-port lost_reboot: their sum
 * is the channel's metric, at 0 before the first loss. */
static void test_reboot_losses_from_accounting(void **state)
{
	struct mx_model m = {0};
	const char *st = "{\"class\":\"STATUS\",\"channels\":[{\"name\":\"m7\",\"state\":\"up\","
			 "\"accounting\":{\"boots_settled\":2,\"ports\":[{\"port\":0,"
			 "\"lost_reboot\":12,\"lost_link\":4},{\"port\":2,\"lost_reboot\":3}]}},"
			 "{\"name\":\"b\",\"state\":\"up\",\"accounting\":{\"ports\":[]}}]}";
	char *t = render(&m, st, false);

	(void)state;
	assert_has(t, "m7bridge_channel_reboot_lost_frames_total{channel=\"m7\"} 15\n");
	assert_has(t, "m7bridge_channel_reboot_lost_frames_total{channel=\"b\"} 0\n");
	free(t);
	mx_model_clear(&m);
}

/* A restarted daemon that keeps incidents in memory numbers them from 1 again: those it
 * made before the first scrape after its restart count, even when they outnumber the old
 * daemon's. One that kept them on disk lists the old ones again (begun before it
 * started): they are not counted twice. */
static void test_incidents_of_a_restarted_daemon(void **state)
{
	struct mx_model m = {0};
	char list[2048];
	size_t n;
	char *t;

	(void)state;
	/* The old daemon (pid 100, started at t = 0): incidents 1 and 2, one step each. */
	mx_model_daemon(&m, 100, 50000, 50e6);
	incidents(&m, "{\"incidents\":["
		      "{\"seq\":1,\"channel\":\"m7\",\"start_us\":10000000,\"end_us\":11000000,"
		      "\"kind\":\"stall\",\"outcome\":\"recovered\",\"steps\":["
		      "{\"action\":\"resync\",\"result\":\"ok\"}]},"
		      "{\"seq\":2,\"channel\":\"m7\",\"start_us\":20000000,\"end_us\":21000000,"
		      "\"kind\":\"stall\",\"outcome\":\"recovered\",\"steps\":["
		      "{\"action\":\"resync\",\"result\":\"ok\"}]}]}");
	/* Restarted at t = 100 s, in memory: three new incidents by the next scrape. */
	mx_model_daemon(&m, 200, 30000, 130e6);
	n = (size_t)snprintf(list, sizeof(list), "{\"incidents\":[");
	for (int i = 1; i <= 3; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n,
				      "%s{\"seq\":%d,\"channel\":\"m7\",\"start_us\":%d,"
				      "\"end_us\":%d,\"kind\":\"stall\",\"outcome\":\"recovered\","
				      "\"steps\":[{\"action\":\"resync\",\"result\":\"ok\"}]}",
				      i > 1 ? "," : "", i, 100000000 + i * 1000000,
				      100500000 + i * 1000000);
	snprintf(list + n, sizeof(list) - n, "]}");
	incidents(&m, list);
	t = render(&m, NULL, false);
	assert_has(t, "m7bridge_recovery_steps_total{channel=\"m7\",step=\"resync\","
		      "cause=\"stall\",result=\"ok\"} 5\n");
	free(t);
	/* Restarted again (same pid, uptime back) with them kept on disk, and one new. */
	mx_model_daemon(&m, 200, 1000, 201e6);
	incidents(&m, "{\"incidents\":["
		      "{\"seq\":3,\"channel\":\"m7\",\"start_us\":103000000,\"end_us\":103500000,"
		      "\"kind\":\"stall\",\"outcome\":\"recovered\",\"steps\":["
		      "{\"action\":\"resync\",\"result\":\"ok\"}]},"
		      "{\"seq\":4,\"channel\":\"m7\",\"start_us\":200500000,\"end_us\":200600000,"
		      "\"kind\":\"stall\",\"outcome\":\"recovered\",\"steps\":["
		      "{\"action\":\"resync\",\"result\":\"ok\"}]}]}");
	t = render(&m, NULL, false);
	assert_has(t, "m7bridge_recovery_steps_total{channel=\"m7\",step=\"resync\","
		      "cause=\"stall\",result=\"ok\"} 6\n");
	free(t);
	mx_model_clear(&m);
}

static void test_status_labels_escaped_and_optional_members(void **state)
{
	struct mx_model m = {0};
	const char *st = "{\"class\":\"STATUS\",\"channels\":[{\"name\":\"a\\\"b\\\\c\\nd\","
			 "\"state\":\"recovering\",\"frames\":10,\"recoveries\":2,"
			 "\"write_stall_ms\":1500,\"clock\":{\"source\":\"sync\","
			 "\"mapped\":true,\"offset_ns\":-2500,\"rate_ppm\":12.5,"
			 "\"rate_err_ppm\":4.2,\"err_ns\":800,\"samples\":14}}],"
			 "\"release\":\"0.1.0\",\"uptime_ms\":81234,\"client_id\":5,"
			 "\"clients\":[{\"id\":5,\"pid\":42,\"dropped\":3,\"queued_bytes\":0}]}";
	char *t = render(&m, st, false);
	const char *lab = "{channel=\"a\\\"b\\\\c\\nd\"}";
	char line[256];

	snprintf(line, sizeof(line), "m7bridge_channel_frames_total%s 10\n", lab);
	assert_has(t, line);
	snprintf(line, sizeof(line), "m7bridge_channel_write_stall_seconds_total%s 1.5\n", lab);
	assert_has(t, line);
	snprintf(line, sizeof(line), "m7bridge_clock_offset_seconds%s -2.5e-06\n", lab);
	assert_has(t, line);
	snprintf(line, sizeof(line), "m7bridge_clock_drift_ratio%s 1.25e-05\n", lab);
	assert_has(t, line);
	snprintf(line, sizeof(line), "m7bridge_clock_uncertainty_seconds%s 8e-07\n", lab);
	assert_has(t, line);
	assert_has(t, "state=\"recovering\"} 1\n");
	assert_has(t, "m7bridge_daemon_uptime_seconds 81.234\n");
	assert_has(
		t,
		"m7bridge_client_dropped_objects_total{client=\"5\",pid=\"42\",self=\"true\"} 3\n");
	/* Members STATUS did not send are not invented. */
	assert_null(strstr(t, "m7bridge_channel_reboot_lost_frames"));
	assert_null(strstr(t, "m7bridge_channel_bytes"));
	assert_null(strstr(t, "# EOF"));
	free(t);
	t = render(&m, st, true);
	assert_has(t, "# TYPE m7bridge_channel_frames counter\n");
	assert_has(t, "# TYPE m7bridge_daemon info\n");
	assert_int_equal(strcmp(t + strlen(t) - 6, "# EOF\n"), 0);
	free(t);
	mx_model_clear(&m);
}

/* The firmware's counters come from STATUS m7_counters, which the daemon sums across the
 * M7's u32 wraps and reboots: a wrapped HEARTBEAT value (here 16 after 0xFFFFFFF0) must not
 * make the counter fall back (Prometheus would read a reset, and then a jump). A daemon
 * without m7_counters still gets the HEARTBEAT values; no daemon, no firmware counters. */
static void test_m7_counters_from_status_not_raw_heartbeat(void **state)
{
	struct mx_model m = {0};
	const char *st = "{\"class\":\"STATUS\",\"channels\":[{\"name\":\"m7\",\"state\":\"up\","
			 "\"frames\":10,\"recoveries\":0,\"untimed_frames\":4,"
			 "\"m7_counters\":{\"acks_dropped\":4294967312,\"captures\":9}},"
			 "{\"name\":\"old\",\"state\":\"up\",\"frames\":1,\"recoveries\":0}],"
			 "\"release\":\"0.1.0\",\"uptime_ms\":1,\"client_id\":1,\"clients\":[]}";

	(void)state;
	feed(&m, "{\"class\":\"HEARTBEAT\",\"channel\":\"m7\",\"seq\":1,\"now_ticks\":5,"
		 "\"counters\":{\"acks_dropped\":16,\"captures\":9}}");
	feed(&m, "{\"class\":\"HEARTBEAT\",\"channel\":\"old\",\"seq\":1,\"now_ticks\":5,"
		 "\"counters\":{\"logs_dropped\":3}}");
	char *t = render(&m, st, false);
	assert_has(t, "m7bridge_m7_dropped_acks_total{channel=\"m7\"} 4294967312\n");
	assert_null(strstr(t, "m7bridge_m7_dropped_acks_total{channel=\"m7\"} 16\n"));
	assert_has(t, "m7bridge_m7_captures_total{channel=\"m7\"} 9\n");
	assert_has(t, "m7bridge_m7_dropped_logs_total{channel=\"old\"} 3\n");
	assert_has(t, "m7bridge_channel_untimed_frames_total{channel=\"m7\"} 4\n");
	free(t);
	t = render(&m, NULL, false);
	assert_null(strstr(t, "m7bridge_m7_dropped_acks_total"));
	free(t);
	mx_model_clear(&m);
}

/* A firmware name as long as the wire allows (458 bytes), of two-byte characters and
 * characters that need escaping: whole in its label, and the labels after it too. */
static void test_long_firmware_name_label(void **state)
{
	struct mx_model m = {0};
	char name[460] = "", st[1024], want[1200];
	size_t k = 0;

	while (k + 2 <= 456) {
		memcpy(name + k, "\xc3\xa9", 2); /* U+00E9 */
		k += 2;
	}
	memcpy(name + k, "\\\"", 2); /* a backslash and a quote: 458 bytes */
	name[k + 2] = '\0';
	snprintf(st, sizeof(st),
		 "{\"class\":\"STATUS\",\"channels\":[{\"name\":\"m7\",\"state\":\"up\","
		 "\"firmware\":{\"name\":\"%.456s\\\\\\\"\",\"boot_id\":3}}]}",
		 name);
	snprintf(want, sizeof(want),
		 "m7bridge_firmware_info{channel=\"m7\",name=\"%.456s\\\\\\\"\","
		 "boot_id=\"00000003\"} 1\n",
		 name);
	char *t = render(&m, st, false);

	assert_has(t, want);
	free(t);
	mx_model_clear(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_per_port),
		cmocka_unit_test(test_faults_take_daemon_count),
		cmocka_unit_test(test_duration_histogram_from_zero),
		cmocka_unit_test(test_incidents_counted_once_in_order),
		cmocka_unit_test(test_step_across_continued_incident_counted_once),
		cmocka_unit_test(test_reboot_losses_from_accounting),
		cmocka_unit_test(test_incidents_of_a_restarted_daemon),
		cmocka_unit_test(test_status_labels_escaped_and_optional_members),
		cmocka_unit_test(test_long_firmware_name_label),
		cmocka_unit_test(test_m7_counters_from_status_not_raw_heartbeat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
