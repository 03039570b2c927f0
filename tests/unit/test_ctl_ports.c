/* Unit tests for m7bridgectl ports (tools/ctl_ports.c) on a machine the test makes up: the
 * libserialport calls are replaced, standard output goes to a file read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <libserialport.h>

#include "ctl.h"

/* The ports the machine has: name, description (NULL: none), USB or not. */
struct fake_port {
	char name[32];
	const char *desc;
	bool usb;
};

#define MAX_FAKE 300
static struct fake_port fake[MAX_FAKE];
static struct sp_port *fake_list[MAX_FAKE + 1];
static size_t nfake;

enum sp_return __wrap_sp_list_ports(struct sp_port ***list);
void __wrap_sp_free_port_list(struct sp_port **list);
char *__wrap_sp_get_port_name(const struct sp_port *p);
char *__wrap_sp_get_port_description(const struct sp_port *p);
enum sp_transport __wrap_sp_get_port_transport(const struct sp_port *p);
enum sp_return __wrap_sp_get_port_usb_vid_pid(const struct sp_port *p, int *vid, int *pid);

enum sp_return __wrap_sp_list_ports(struct sp_port ***list)
{
	for (size_t i = 0; i < nfake; i++)
		fake_list[i] = (struct sp_port *)&fake[i];
	fake_list[nfake] = NULL;
	*list = fake_list;
	return SP_OK;
}

void __wrap_sp_free_port_list(struct sp_port **list)
{
	(void)list;
}

char *__wrap_sp_get_port_name(const struct sp_port *p)
{
	return ((struct fake_port *)p)->name;
}

char *__wrap_sp_get_port_description(const struct sp_port *p)
{
	return (char *)((const struct fake_port *)p)->desc;
}

enum sp_transport __wrap_sp_get_port_transport(const struct sp_port *p)
{
	return ((const struct fake_port *)p)->usb ? SP_TRANSPORT_USB : SP_TRANSPORT_NATIVE;
}

enum sp_return __wrap_sp_get_port_usb_vid_pid(const struct sp_port *p, int *vid, int *pid)
{
	(void)p;
	*vid = 0x0403;
	*pid = 0x6001;
	return SP_OK;
}

/* m7bridgectl.c holds the help texts; ports asks for them only on --help. */
void ctl_help(FILE *f, const char *cmd)
{
	fprintf(f, "help of %s\n", cmd);
}

/* Runs `ports ARGS...` and returns what it printed (free it) and its exit code. */
static char *run_ports(int *rc, bool json)
{
	char cmd[] = "ports", opt[] = "--json";
	char *argv[] = {cmd, json ? opt : NULL, NULL};
	struct ctl ctl = {.timeout_ms = 5000};
	FILE *f = tmpfile();
	int out = dup(1), fd = f ? fileno(f) : -1;

	assert_true(fd >= 0 && out >= 0);
	fflush(stdout);
	dup2(fd, 1);
	*rc = cmd_ports(&ctl, json ? 2 : 1, argv);
	fflush(stdout);
	dup2(out, 1);
	close(out);

	off_t len = lseek(fd, 0, SEEK_END);
	char *s = calloc(1, (size_t)len + 1);
	assert_non_null(s);
	assert_int_equal(pread(fd, s, (size_t)len, 0), len);
	fclose(f);
	return s;
}

static void add_port(const char *name, const char *desc, bool usb)
{
	assert_true(nfake < MAX_FAKE);
	snprintf(fake[nfake].name, sizeof(fake[nfake].name), "%s", name);
	fake[nfake].desc = desc;
	fake[nfake].usb = usb;
	nfake++;
}

static int reset(void **state)
{
	(void)state;
	nfake = 0;
	return 0;
}

static void test_no_ports(void **state)
{
	(void)state;
	int rc;
	char *s = run_ports(&rc, false);
	assert_int_equal(rc, EXIT_OK);
	assert_string_equal(s, "no serial ports found\n"
			       "(RPMSG ttys are not listed: see 'm7bridgectl status')\n");
	free(s);
	s = run_ports(&rc, true);
	assert_int_equal(rc, EXIT_OK);
	assert_string_equal(s, "[]\n");
	free(s);
}

/* Every one of many ports, in the order the system gives them. */
static void test_many_ports(void **state)
{
	(void)state;
	char name[32];
	int rc;

	for (int i = 0; i < MAX_FAKE; i++) {
		snprintf(name, sizeof(name), "/dev/ttyS%d", i);
		add_port(name, NULL, false);
	}
	char *s = run_ports(&rc, true);
	assert_int_equal(rc, EXIT_OK);
	cJSON *arr = cJSON_Parse(s);
	assert_int_equal(cJSON_GetArraySize(arr), MAX_FAKE);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
				    cJSON_GetArrayItem(arr, MAX_FAKE - 1), "name")),
			    "/dev/ttyS299");
	cJSON_Delete(arr);
	free(s);
	s = run_ports(&rc, false);
	assert_int_equal(rc, EXIT_OK);
	assert_non_null(strstr(s, "\n/dev/ttyS0 "));
	assert_non_null(strstr(s, "\n/dev/ttyS299 "));
	free(s);
}

/* A USB adapter's product string is the device's own choice: no escape reaches the
 * terminal, and --json stays UTF-8 (so JSON) with everything else as it was. */
static void test_description_from_the_device(void **state)
{
	(void)state;
	int rc;

	add_port("/dev/ttyUSB0",
		 "FT232R \x1b]0;owned\x07\x1b[2J\xc2\x9b"
		 "31m \xff UART",
		 true);
	char *s = run_ports(&rc, false);
	assert_int_equal(rc, EXIT_OK);
	assert_non_null(strstr(s, "/dev/ttyUSB0     usb       0403:6001 FT232R ?]0;owned??[2J?31m "
				  "? UART\n"));
	assert_null(strchr(s, '\x1b'));
	free(s);
	s = run_ports(&rc, true);
	assert_int_equal(rc, EXIT_OK);
	assert_string_equal(s, "[{\"name\":\"/dev/ttyUSB0\",\"transport\":\"usb\",\"description\":"
			       "\"FT232R \\u001b]0;owned\\u0007\\u001b[2J\xc2\x9b"
			       "31m \xef\xbf\xbd UART\",\"usb_id\":\"0403:6001\"}]\n");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_no_ports, reset),
		cmocka_unit_test_setup(test_many_ports, reset),
		cmocka_unit_test_setup(test_description_from_the_device, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
