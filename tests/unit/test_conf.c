/* conf: INI parsing into the daemon configuration, defaults, errors with line and key,
 * command-line overrides. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "conf.h"

static void test_defaults_and_values(void **state)
{
	(void)state;
	struct conf *c;
	struct conf_error e;
	const char *text = "; m7bridge\n"
			   "[daemon]\n"
			   "socket = /run/x/y.sock\n"
			   "socket_mode = 0600\n"
			   "socket_group = dialout\n"
			   "client_queue_kib = 64\n"
			   "max_clients = 3\n"
			   "allow_send = no\n"
			   "log_level = debug\n"
			   "\n"
			   "[channel m7]\n"
			   "device = /dev/ttyRPMSG30\n"
			   "port.0 = console\n"
			   "port.2 = gps  ; the GNSS receiver\n"
			   "send_timeout_ms = 500\n"
			   "host_hello = off\n"
			   "[channel second]\n"
			   "device = /dev/ttyRPMSG31\n";
	assert_int_equal(conf_parse_string(text, "t.conf", &c, &e), 0);
	assert_string_equal(c->daemon.socket_path, "/run/x/y.sock");
	assert_int_equal(c->daemon.socket_mode, 0600);
	assert_string_equal(c->daemon.socket_group, "dialout");
	assert_int_equal(c->daemon.client_queue_kib, 64);
	assert_int_equal(c->daemon.max_clients, 3);
	assert_false(c->daemon.allow_send);
	assert_true(c->daemon.allow_control);
	assert_int_equal(c->daemon.log_level, 7);
	assert_int_equal(c->nchannels, 2);
	const struct conf_channel *m7 = conf_find_channel(c, "m7");
	assert_non_null(m7);
	assert_string_equal(m7->device, "/dev/ttyRPMSG30");
	assert_string_equal(m7->port_names[0], "console");
	assert_string_equal(m7->port_names[2], "gps");
	assert_null(m7->port_names[1]);
	assert_int_equal(m7->send_timeout_ms, 500);
	assert_false(m7->host_hello);
	assert_int_equal(m7->line, 11);
	const struct conf_channel *s = conf_find_channel(c, "second");
	assert_int_equal(s->send_timeout_ms, 2000);
	assert_int_equal(s->send_queue, 64);
	assert_true(s->host_hello);
	assert_int_equal(s->line, 17);
	assert_null(conf_find_channel(c, "nope"));
	conf_free(c);

	/* An empty socket_group is the default (--check-config prints it so), not a group
	 * named "" that the daemon would fail to find at start. */
	assert_int_equal(conf_parse_string("[daemon]\nsocket_group =\n", "t.conf", &c, &e), 0);
	assert_null(c->daemon.socket_group);
	conf_free(c);

	c = conf_new();
	assert_string_equal(c->daemon.socket_path, CONF_DEFAULT_SOCKET);
	assert_int_equal(c->daemon.socket_mode, 0660);
	assert_int_equal(c->daemon.client_queue_kib, 256);
	assert_int_equal(c->nchannels, 0);
	assert_null(conf_free(c));
	assert_null(conf_free(NULL));
}

static void test_errors(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int line;
		const char *key;
	} cases[] = {
		{"[daemon]\nsocket_mode = 0999\n", 2, "socket_mode"},
		{"[daemon]\nmax_clients = -1\n", 2, "max_clients"},
		{"[daemon]\nclient_queue_kib = 1\n", 2, "client_queue_kib"},
		{"[daemon]\nallow_send = maybe\n", 2, "allow_send"},
		{"[daemon]\nlog_level = loud\n", 2, "log_level"},
		/* at its line, not only when the daemon would start with it */
		{"[daemon]\nmax_clients = 5\nsocket_group = no-such-group-m7b\n", 3,
		 "socket_group"},
		{"\n\n[channel a]\ndevice = /d\nport.x = y\n", 5, "port.x"},
		{"[channel a]\ndevice = /d\nport.1 = has space\n", 3, "port.1"},
		/* the same port under another spelling is the same key given twice */
		{"[channel a]\ndevice = /d\nport.7 = x\nport.07 = y\n", 4, "port.07"},
		{"[channel a]\ndevice = /d\nreopen_min_ms = 0\n", 3, "reopen_min_ms"},
		{"[channel a]\ndevice = /d\nreopen_min_ms = 500\nreopen_max_ms = 100\n", 1,
		 "reopen_min_ms"},
		/* accepted, the supervisor would run the channel without any recovery */
		{"[channel a]\ndevice = /d\nrecovery_backoff_ms = 5000\nrecovery_backoff_max_ms = "
		 "100\n",
		 1, "recovery_backoff_ms"},
		{"[channel a]\ndevice = /d\nfirmware = ../evil.elf\n", 3, "firmware"},
		/* a pty in place of a channel's own device, or two channels' ptys at one path:
		 * the daemon would replace one link with the other at start */
		{"[channel a]\ndevice = /dev/ttyRPMSG30\npty = /dev/ttyRPMSG30\n", 1, "pty"},
		{"[channel a]\ndevice = /d\npty = /run/a\n[channel b]\ndevice = /e\npty = "
		 "/run/a\n",
		 4, "pty"},
		{"[channel a]\ndevice = /d\npty = /e\n[channel b]\ndevice = /e\n", 1, "pty"},
		{"[channel a]\ndevice = /d\ndevice = /e\n", 3, "device"},
		{"[channel a]\ndevice = /d\nwhat = 1\n", 3, "what"},
		/* a probe the supervisor would never run (it probes raw channels only) */
		{"[channel a]\ndevice = /d\nprobe_period_ms = 500\n", 1, "probe_period_ms"},
		{"[channel a]\nport.1 = x\n", 1, "device"},
		{"[channel a]\nrpmsg = imx-rproc\n", 2, "rpmsg"},
		{"[channel a]\nrpmsg = imx-rproc:thirty\n", 2, "rpmsg"},
		{"[channel a]\ndevice = /d\nrpmsg = 0:30\n", 1, "rpmsg"},
		{"key = 1\n", 1, "key"},
		{"[daemon]\nno equals sign\n", 2, ""},
		/* values go into JSON replies: a device path that is not UTF-8 is refused */
		{"[channel a]\ndevice = /dev/tty\xff\n", 2, "device"},
		/* the first error is the one reported, with its own line and message */
		{"[daemon]\nmax_clients 5\nbogus = 1\n", 2, ""},
		{"[daemon]\nbogus = 1\nmax_clients 5\n", 2, "bogus"},
		/* sections repeated, adjacent or not; names too long; bad headers */
		{"[daemon]\nmax_clients = 4\n[daemon]\nallow_send = no\n", 3, ""},
		{"[channel m7]\ndevice = /d\n[channel m7]\nhost_hello = no\n", 3, ""},
		{"[channel m7]\ndevice = /d\n[daemon]\n[channel m7]\n", 4, ""},
		{"[channel m7]\ndevice = /d\n\n[channel "
		 "a234567890123456789012345678901234567890123456789012345678901234]\ndevice = /e\n",
		 4, ""},
		{"[channel m7]\ndevice = /d\nfirmware = my app.elf\n", 3, "firmware"},
		{"[daemon]\n\n[channel m7]\n", 3, "device"},
		{"[daemon]\nmax_clients = 4\n[channel m7\ndevice = /d\n", 3, ""},
		{"[daemon]\n[nosuch]\n", 2, ""},
		/* libinih would count the rest of a long line as line 3 */
		{"[daemon]\n# "
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxx"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxx"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
		 2, ""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct conf *c = (struct conf *)1;
		struct conf_error e;
		assert_int_equal(conf_parse_string(cases[i].text, "f.conf", &c, &e), -EINVAL);
		assert_null(c);
		if (e.line != cases[i].line || strcmp(e.key, cases[i].key) != 0)
			fail_msg("case %zu: line %d key '%s' (%s), want %d '%s'", i, e.line, e.key,
				 e.message, cases[i].line, cases[i].key);
		char buf[512];
		conf_error_format(&e, buf, sizeof buf);
		assert_memory_equal(buf, "f.conf:", 7);
	}
	struct conf_error e;
	struct conf *c;
	assert_int_equal(conf_load("/nonexistent/x.conf", &c, &e), -ENOENT);
	assert_non_null(strstr(e.message, "cannot open"));
	/* A directory opens but does not read: the message says why. */
	assert_int_equal(conf_load("/", &c, &e), -EISDIR);
	assert_null(c);
	assert_string_equal(e.message, "cannot read: Is a directory");
}

/* A FIFO or a device in place of the file is refused at once: reading it would block the
 * start (or a reload, in the event loop) for ever, or never end. A symbolic link to a
 * regular file is read as the file. */
static void test_not_regular(void **state)
{
	char dir[] = "/tmp/test_conf_XXXXXX", fifo[64], link[64], file[64];
	struct conf_error e;
	struct conf *c = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo.conf", dir);
	snprintf(link, sizeof(link), "%s/link.conf", dir);
	snprintf(file, sizeof(file), "%s/file.conf", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* A guard, not a measure: without the check the load below never returns. */
	alarm(20);
	assert_int_equal(conf_load(fifo, &c, &e), -EINVAL);
	assert_null(c);
	assert_string_equal(e.message, "cannot read: not a regular file");
	assert_int_equal(conf_load("/dev/zero", &c, &e), -EINVAL);
	assert_string_equal(e.message, "cannot read: not a regular file");
	alarm(0);
	/* The null device reads as an empty file, as a command line with no file wants. */
	assert_int_equal(conf_load("/dev/null", &c, &e), 0);
	conf_free(c);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("[daemon]\nmax_clients = 7\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(symlink(file, link), 0);
	assert_int_equal(conf_load(link, &c, &e), 0);
	assert_int_equal(c->daemon.max_clients, 7);
	conf_free(c);
	unlink(link);
	unlink(file);
	unlink(fifo);
	rmdir(dir);
}

/* Channel names up to 63 characters are kept whole (libinih cuts section names). */
static void test_long_names(void **state)
{
	(void)state;
	const char *n63 = "a23456789012345678901234567890123456789012345678901234567890123";
	char text[300];
	snprintf(text, sizeof text, "[channel x]\ndevice = /x\n[channel %s]\ndevice = /d\n", n63);
	struct conf *c;
	struct conf_error e;
	assert_int_equal(conf_parse_string(text, "f.conf", &c, &e), 0);
	assert_int_equal(c->nchannels, 2);
	assert_string_equal(c->channels[1].name, n63);
	assert_string_equal(c->channels[1].device, "/d");
	assert_int_equal(c->channels[1].line, 3);
	conf_free(c);
	/* an unterminated header says so, not "unknown key" */
	assert_int_equal(conf_parse_string("[channel m7\ndevice = /d\n", "f.conf", &c, &e),
			 -EINVAL);
	assert_non_null(strstr(e.message, "']'"));
	assert_int_equal(conf_parse_string("[daemon]\n[daemon]\n", "f.conf", &c, &e), -EINVAL);
	assert_non_null(strstr(e.message, "twice"));
	/* A 198-byte line with a CRLF end is one byte too long: the message says why. */
	char crlf[260] = "[daemon]\r\n#";
	memset(crlf + strlen(crlf), 'x', 197);
	strcpy(crlf + 10 + 198, "\r\n"); /* the line starts at 10 */
	assert_int_equal(conf_parse_string(crlf, "f.conf", &c, &e), -EINVAL);
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.message, "CRLF"));
}

/* A channel by what it is: the endpoint instead of a node path. */
static void test_rpmsg_channel(void **state)
{
	struct conf *c, *c2;
	struct conf_error e;
	assert_int_equal(conf_parse_string("[channel m7]\nrpmsg = imx-rproc:0x1e\n", "f", &c, &e),
			 0);
	assert_string_equal(c->channels[0].rpmsg, "imx-rproc:0x1e");
	assert_null(c->channels[0].device);
	assert_int_equal(conf_parse_string("[channel m7]\nrpmsg = imx-rproc:31\n", "f", &c2, &e),
			 0);
	/* A different endpoint reopens; the same one does not. */
	assert_true(conf_channel_needs_reopen(&c->channels[0], &c2->channels[0]));
	assert_false(conf_channel_needs_reopen(&c->channels[0], &c->channels[0]));
	struct conf_channel copy = {0};
	assert_int_equal(conf_channel_copy(&copy, &c->channels[0]), 0);
	assert_string_equal(copy.rpmsg, "imx-rproc:0x1e");
	conf_channel_clear(&copy);
	conf_free(c);
	conf_free(c2);
}

static void test_overrides(void **state)
{
	(void)state;
	struct conf *c;
	struct conf_error e;
	assert_int_equal(
		conf_parse_string("[channel a]\ndevice = /dev/a\nport.1 = x\n", "f", &c, &e), 0);
	const char *chans[] = {"a=/dev/other", "b=/dev/b"};
	struct conf_overrides o = {.socket = "/tmp/s.sock",
				   .socket_mode = 0600,
				   .log_level = 3,
				   .channels = chans,
				   .nchannels = 2};
	assert_int_equal(conf_apply_overrides(c, &o, &e), 0);
	assert_string_equal(c->daemon.socket_path, "/tmp/s.sock");
	assert_int_equal(c->daemon.socket_mode, 0600);
	assert_int_equal(c->nchannels, 2);
	assert_string_equal(conf_find_channel(c, "a")->device, "/dev/other");
	assert_null(conf_find_channel(c, "a")->port_names[1]); /* replaced whole */
	assert_string_equal(conf_find_channel(c, "b")->device, "/dev/b");

	const char *bad[] = {"nodevice"};
	struct conf_overrides ob = {
		.socket_mode = -1, .log_level = -1, .channels = bad, .nchannels = 1};
	assert_int_equal(conf_apply_overrides(c, &ob, &e), -EINVAL);
	assert_string_equal(e.key, "--channel");
	struct conf_overrides os = {.socket = "rel", .socket_mode = -1, .log_level = -1};
	assert_int_equal(conf_apply_overrides(c, &os, &e), -EINVAL);
	/* A group of the command line is the command line's mistake, not the file's. */
	struct conf_overrides og = {
		.socket_group = "no-such-group-m7b", .socket_mode = -1, .log_level = -1};
	assert_int_equal(conf_apply_overrides(c, &og, &e), -EINVAL);
	assert_string_equal(e.section, "command line");
	assert_string_equal(e.key, "--socket-group");
	assert_non_null(strstr(e.message, "no-such-group-m7b"));
	og.socket_group = "root";
	assert_int_equal(conf_apply_overrides(c, &og, &e), 0);
	assert_string_equal(c->daemon.socket_group, "root");

	struct conf_channel a, b;
	assert_int_equal(conf_channel_copy(&a, conf_find_channel(c, "a")), 0);
	assert_int_equal(conf_channel_copy(&b, &a), 0);
	assert_false(conf_channel_needs_reopen(&a, &b));
	b.send_timeout_ms = 1; /* applied in place */
	assert_false(conf_channel_needs_reopen(&a, &b));
	free(b.device);
	b.device = strdup("/dev/c");
	assert_true(conf_channel_needs_reopen(&a, &b));
	conf_channel_clear(&a);
	conf_channel_clear(&b);
	conf_free(c);

	/* conf_read: a missing optional file means defaults plus overrides. */
	const char *one[] = {"x=/dev/x"};
	struct conf_overrides ox = {
		.socket_mode = -1, .log_level = -1, .channels = one, .nchannels = 1};
	assert_int_equal(conf_read("/nonexistent/m7.conf", true, &ox, &c, &e), 0);
	assert_int_equal(c->nchannels, 1);
	conf_free(c);
	assert_int_equal(conf_read("/nonexistent/m7.conf", false, &ox, &c, &e), -ENOENT);

	/* One name twice on the command line is a mistake, not a silent replacement of the
	 * first by the second (which replaces the file's channel of that name). */
	const char *twice[] = {"x=/dev/x", "y=/dev/y", "x=/dev/z"};
	struct conf_overrides o2 = {
		.socket_mode = -1, .log_level = -1, .channels = twice, .nchannels = 3};
	assert_int_equal(conf_read("/nonexistent/m7.conf", true, &o2, &c, &e), -EINVAL);
	assert_null(c);
	assert_string_equal(e.section, "command line");
	assert_string_equal(e.key, "--channel");
	assert_string_equal(e.message, "channel x given twice ('x=/dev/z')");
}

/* Refusals an operator meets with odd input, each at its line with a message that says
 * what is wrong (not one about another key). */
static void test_odd_input(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int line;
		const char *key, *message;
	} cases[] = {
		/* one channel under two spellings of its header */
		{"[channel a]\ndevice = /d\n[channel  a]\ndevice = /e\n", 3, "",
		 "channel a defined twice (first at line 1)"},
		/* blanks and signs inside a number are not a number */
		{"[channel a]\ndevice = /d\nport. 1 = gps\n", 3, "port. 1",
		 "expected port.N with N in 0..255"},
		{"[channel a]\ndevice = /d\nport.\t1 = gps\n", 3, "port.\t1",
		 "expected port.N with N in 0..255"},
		{"[channel a]\ndevice = /d\nsend_queue = +5\n", 3, "send_queue",
		 "expected 1..4096, got '+5'"},
		/* a key on the header's line would be dropped unread */
		{"[daemon] max_clients = 5\n", 1, "",
		 "text after the section header's ']' (put keys on lines of their own)"},
		{"[channel a]]\ndevice = /d\n", 1, "",
		 "text after the section header's ']' (put keys on lines of their own)"},
		/* a key of the other section: where it belongs */
		{"[daemon]\nsend_timeout_ms = 500\n", 2, "send_timeout_ms",
		 "unknown key here: it belongs in a [channel NAME] section"},
		{"[daemon]\nport.1 = gps\n", 2, "port.1",
		 "unknown key here: it belongs in a [channel NAME] section"},
		{"[channel a]\ndevice = /d\nmax_clients = 5\n", 3, "max_clients",
		 "unknown key here: it belongs in [daemon]"},
		{"[channel a]\ndevice = /d\nallow_group = x\n", 3, "allow_group",
		 "unknown key here: it belongs in [daemon]"},
		{"[channel a]\ndevice = /d\nmax_client = 5\n", 3, "max_client", "unknown key"},
		/* a device that is no absolute path would be waited for forever */
		{"[channel a]\ndevice = ttyRPMSG30\n", 2, "device",
		 "must be an absolute path such as /dev/ttyRPMSG30, got 'ttyRPMSG30'"},
		{"[channel a]\ndevice = \"/dev/ttyRPMSG30\"\n", 2, "device",
		 "must be an absolute path such as /dev/ttyRPMSG30, got '\"/dev/ttyRPMSG30\"'"},
		{"[channel a]\ndevice =\n", 2, "device",
		 "must be an absolute path such as /dev/ttyRPMSG30, got ''"},
		/* a value whose key was left out: not "unknown key" with no key named */
		{"[channel a]\ndevice = /d\n= /dev/x\n", 3, "",
		 "a value without a key ('= /dev/x'; expected key = value)"},
		{"[daemon]\n  = 5\n", 2, "", "a value without a key ('= 5'; expected key = value)"},
		/* kernel names the scope could not hold, or could never match */
		{"[channel a]\ndevice = /d\nkernel_names = a,b,c,d,e,f,g,h,i\n", 3, "kernel_names",
		 "more than 8 names"},
		{"[channel a]\ndevice = /d\nkernel_names = a "
		 "b234567890123456789012345678901234567890123456789012345678901234\n",
		 3, "kernel_names",
		 "a name longer than 63 bytes: "
		 "'b234567890123456789012345678901234567890123456789012345678901234'"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct conf *c = (struct conf *)1;
		struct conf_error e;
		assert_int_equal(conf_parse_string(cases[i].text, "f.conf", &c, &e), -EINVAL);
		assert_null(c);
		if (e.line != cases[i].line || strcmp(e.key, cases[i].key) != 0 ||
		    strcmp(e.message, cases[i].message) != 0)
			fail_msg("case %zu: line %d key '%s' '%s', want %d '%s' '%s'", i, e.line,
				 e.key, e.message, cases[i].line, cases[i].key, cases[i].message);
	}
	struct conf *c;
	struct conf_error e;
	/* a comment after a header is fine */
	assert_int_equal(conf_parse_string("[daemon] ; the daemon\nmax_clients = 6\n[channel a] "
					   "# m7\r\ndevice = /d\n",
					   "f.conf", &c, &e),
			 0);
	assert_int_equal(c->daemon.max_clients, 6);
	conf_free(c);
	assert_int_equal(conf_parse_string("[channel a]\ndevice = /d\nkernel_names = a, b c,,d\n",
					   "f.conf", &c, &e),
			 0);
	conf_free(c);
	/* What a bad file says is quoted as one line of UTF-8: no escape sequence reaches the
	 * operator's terminal, no invalid byte the journal. */
	static const char *const raw[] = {"[daemon]\n\xff\x1b[2J = 1\n", "[\x1b[2Jx\x07]\n",
					  "[daemon]\nlog_level = \xc2\x9b"
					  "2J\t\n"};
	static const char *const shown[] = {
		"f.conf:2: [daemon] ??[2J: unknown key", "f.conf:1: [?[2Jx?]: unknown section",
		"f.conf:2: [daemon] log_level: expected debug, info, notice, warning or err, "
		"got '??2J'"};
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		char buf[512];
		assert_int_equal(conf_parse_string(raw[i], "f.conf", &c, &e), -EINVAL);
		conf_error_format(&e, buf, sizeof(buf));
		if (strncmp(buf, shown[i], strlen(shown[i])) != 0)
			fail_msg("case %zu: '%s', want '%s...'", i, buf, shown[i]);
	}
	/* A NUL byte is refused at its line. */
	char path[] = "/tmp/test_conf_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char text[] = "[channel a]\ndevice = /d\nsend_queue = 5\0\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	assert_int_equal(conf_load(path, &c, &e), -EINVAL);
	unlink(path);
	assert_null(c);
	assert_int_equal(e.line, 3);
	assert_string_equal(e.message, "contains a NUL byte");
}

/* A channel name names its state records: no leading '.', in the file or on the command
 * line; a '.' further in is fine. */
static void test_channel_name_dot(void **state)
{
	struct conf *c = NULL;
	struct conf_error e;

	(void)state;
	assert_int_equal(
		conf_parse_string("[daemon]\n[channel .m7]\ndevice = /d\n", "f.conf", &c, &e),
		-EINVAL);
	assert_null(c);
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.message, "not starting with '.'"));
	assert_int_equal(conf_parse_string("[channel ..]\ndevice = /d\n", "f.conf", &c, &e),
			 -EINVAL);
	assert_int_equal(conf_parse_string("[channel m.7]\ndevice = /d\n", "f.conf", &c, &e), 0);
	assert_int_equal(conf_add_channel(c, ".x", "/dev/x"), -EINVAL);
	assert_int_equal(conf_add_channel(c, "rel", "ttyRPMSG30"), -EINVAL); /* -C rel=tty */
	assert_int_equal(conf_add_channel(c, "x.", "/dev/x"), 0);
	assert_non_null(conf_find_channel(c, "m.7"));
	conf_free(c);
}

/* A uid 0 `user` is refused at its line, wherever allow_root_user is not set; an
 * ordinary user (nobody) passes. */
static void test_root_user(void **state)
{
	static const struct {
		const char *text;
		int line; /* 0: accepted */
	} cases[] = {
		{"[daemon]\nuser = root\n", 2},
		{"[daemon]\nmax_clients = 6\n\nuser = root\n[channel a]\ndevice = /d\n", 4},
		{"[channel a]\ndevice = /d\n[daemon]\nuser = root\n", 4},
		{"[daemon]\nuser = root\nallow_root_user = true\n", 0},
		{"[daemon]\nallow_root_user = yes\nuser = root\n", 0},
		{"[daemon]\nuser = root\nallow_root_user = false\n", 2},
		{"[daemon]\nuser = nobody\n", 0},
		{"[daemon]\nuser =\n", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conf *c = NULL;
		struct conf_error e;
		int r = conf_parse_string(cases[i].text, "f.conf", &c, &e);
		if (!cases[i].line) {
			assert_int_equal(r, 0);
			conf_free(c);
			continue;
		}
		assert_int_equal(r, -EINVAL);
		assert_null(c);
		assert_int_equal(e.line, cases[i].line);
		assert_string_equal(e.section, "daemon");
		assert_string_equal(e.key, "user");
		assert_non_null(strstr(e.message, "uid 0"));
	}
	/* A user that does not exist is refused at its line too: the daemon could not
	 * start as it (and --check-config would otherwise say so without a line). */
	struct conf *c = NULL;
	struct conf_error e;
	assert_int_equal(conf_parse_string("[daemon]\nmax_clients = 6\n\nuser = no-such-user-m7b\n",
					   "f.conf", &c, &e),
			 -EINVAL);
	assert_null(c);
	assert_int_equal(e.line, 4);
	assert_string_equal(e.section, "daemon");
	assert_string_equal(e.key, "user");
	assert_string_equal(e.message, "no user named 'no-such-user-m7b'");
	assert_true(conf_user_is_root("root"));
	assert_false(conf_user_is_root("nobody"));
	assert_false(conf_user_is_root("no-such-user-m7b"));
}

/* A reload keeps the [daemon] keys read only at start (the socket, the user, the kernel
 * log, the trees and directories the supervisor and its helper use) at their running
 * values and names those the file changed; every other key is the file's. */
static void test_keep_start_keys(void **state)
{
	(void)state;
	struct conf *run, *n;
	struct conf_error e;
	char changed[256];

	assert_int_equal(conf_parse_string("[daemon]\nsocket = /run/a.sock\nsocket_mode = 0600\n"
					   "kernel_log = off\nmax_clients = 3\n"
					   "[channel m7]\ndevice = /dev/ttyRPMSG30\n",
					   "a.conf", &run, &e),
			 0);
	assert_int_equal(conf_parse_string("[daemon]\nsocket = /run/b.sock\nsocket_mode = 0600\n"
					   "socket_group = root\nkernel_log = kmsg\n"
					   "sysfs_root = /tmp/sys\nmax_clients = 5\n"
					   "log_level = debug\nallow_uids = 7\n"
					   "[channel m7]\ndevice = /dev/ttyRPMSG31\n",
					   "b.conf", &n, &e),
			 0);
	assert_int_equal(conf_keep_start_keys(n, run, changed, sizeof(changed)), 4);
	assert_string_equal(changed, "socket, socket_group, kernel_log, sysfs_root");
	assert_string_equal(n->daemon.socket_path, "/run/a.sock");
	assert_null(n->daemon.socket_group);
	assert_string_equal(n->daemon.sup.kernel_log, "off");
	assert_string_equal(n->daemon.sup.sysfs_root, "/sys");
	/* The rest is the new file's. */
	assert_int_equal(n->daemon.max_clients, 5);
	assert_int_equal(n->daemon.log_level, 7);
	assert_int_equal(n->daemon.sup.n_allow_uids, 1);
	assert_string_equal(n->channels[0].device, "/dev/ttyRPMSG31");
	/* Now the same: nothing to say. */
	assert_int_equal(conf_keep_start_keys(n, run, changed, sizeof(changed)), 0);
	assert_string_equal(changed, "");
	/* And back: a group given at start is kept when the file drops it. */
	conf_free(n);
	assert_int_equal(conf_parse_string("[daemon]\nsocket_group = root\n", "c.conf", &n, &e), 0);
	conf_free(run);
	assert_int_equal(conf_parse_string("[daemon]\n", "d.conf", &run, &e), 0);
	assert_int_equal(conf_keep_start_keys(run, n, changed, sizeof(changed)), 1);
	assert_string_equal(changed, "socket_group");
	assert_string_equal(run->daemon.socket_group, "root");
	conf_free(run);
	conf_free(n);
}

/* Two channels on one tty: the second could never open it (the first holds it
 * exclusively) and would wait forever, blaming "another process". An error at the
 * second's header, however the path is spelt, also for an rpmsg endpoint. */
static void test_device_twice(void **state)
{
	struct conf *c;
	struct conf_error e;

	(void)state;
	assert_int_equal(conf_parse_string("[channel a]\ndevice = /dev/ttyRPMSG30\n"
					   "[channel b]\ndevice = /dev//ttyRPMSG30\n",
					   "x.conf", &c, &e),
			 -EINVAL);
	assert_null(c);
	assert_int_equal(e.line, 3);
	assert_string_equal(e.section, "channel b");
	assert_string_equal(e.key, "device");
	assert_string_equal(e.message, "/dev//ttyRPMSG30 is the device of channel a");
	assert_int_equal(conf_parse_string("[channel a]\nrpmsg = imx-rproc:30\n"
					   "[channel b]\nrpmsg = imx-rproc:30\n",
					   "x.conf", &c, &e),
			 -EINVAL);
	assert_string_equal(e.key, "rpmsg");
	assert_string_equal(e.message, "imx-rproc:30 is the endpoint of channel a");
	/* Through the command line too: -C b=DEVICE of a. */
	static const char *const chans[] = {"b=/dev/ttyRPMSG30"};
	const struct conf_overrides ov = {
		.socket_mode = -1, .log_level = -1, .channels = chans, .nchannels = 1};
	char dir[] = "/tmp/test_conf_XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("[channel a]\ndevice = /dev/ttyRPMSG30\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(conf_read(path, false, &ov, &c, &e), -EINVAL);
	assert_string_equal(e.message, "/dev/ttyRPMSG30 is the device of channel a");
	unlink(path);
	rmdir(dir);
	/* Different ttys are fine. */
	assert_int_equal(conf_parse_string("[channel a]\ndevice = /dev/ttyRPMSG30\n"
					   "[channel b]\ndevice = /dev/ttyRPMSG31\n"
					   "[channel c]\nrpmsg = imx-rproc:31\n",
					   "x.conf", &c, &e),
			 0);
	conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_values), cmocka_unit_test(test_errors),
		cmocka_unit_test(test_long_names),	    cmocka_unit_test(test_rpmsg_channel),
		cmocka_unit_test(test_overrides),	    cmocka_unit_test(test_odd_input),
		cmocka_unit_test(test_root_user),	    cmocka_unit_test(test_not_regular),
		cmocka_unit_test(test_channel_name_dot),    cmocka_unit_test(test_keep_start_keys),
		cmocka_unit_test(test_device_twice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
