/* libFuzzer target: configuration files as SIGHUP sees them. The input is two files
 * (split at the first NUL; without one, the second is the first with one byte changed):
 * the first is parsed and applied, the second parsed as a reload. Any text must give a
 * configuration or an error naming a line of its file, a failed reload must leave the
 * running configuration as it was, and parsing is deterministic. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "supervisor_conf.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const chans[] = {"extra=/dev/null"};
static const struct conf_overrides ov = {
	.socket_mode = -1, .log_level = -1, .channels = chans, .nchannels = 1};

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Two channel configurations hold the same settings. */
static bool same_channel(const struct conf_channel *a, const struct conf_channel *b)
{
	if (!same_str(a->name, b->name) || !same_str(a->device, b->device) ||
	    !same_str(a->firmware, b->firmware) || !same_str(a->remoteproc, b->remoteproc) ||
	    a->send_timeout_ms != b->send_timeout_ms || a->send_queue != b->send_queue ||
	    a->reopen_min_ms != b->reopen_min_ms || a->reopen_max_ms != b->reopen_max_ms ||
	    a->host_hello != b->host_hello || a->enabled != b->enabled || a->line != b->line ||
	    memcmp(&a->sup, &b->sup, sizeof(a->sup)) != 0)
		return false;
	for (unsigned p = 0; p < CONF_PORTS; p++)
		if (!same_str(a->port_names[p], b->port_names[p]))
			return false;
	return true;
}

static bool same_conf(const struct conf *a, const struct conf *b)
{
	if (a->nchannels != b->nchannels ||
	    !same_str(a->daemon.socket_path, b->daemon.socket_path) ||
	    a->daemon.max_clients != b->daemon.max_clients ||
	    a->daemon.client_queue_kib != b->daemon.client_queue_kib ||
	    memcmp(&a->daemon.sup, &b->daemon.sup, sizeof(a->daemon.sup)) != 0)
		return false;
	for (unsigned i = 0; i < a->nchannels; i++)
		if (!same_channel(&a->channels[i], &b->channels[i]))
			return false;
	return true;
}

static unsigned count_lines(const char *text)
{
	unsigned n = 1;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	return n;
}

/* Parses text as the daemon reads a file (then overrides, then checks); checks what any
 * outcome must look like. NULL when the text was refused. */
static struct conf *parse(const char *text)
{
	struct conf *c = NULL;
	struct conf_error e;
	char msg[512];
	if (conf_parse_string(text, "fuzz.conf", &c, &e) == 0 &&
	    conf_apply_overrides(c, &ov, &e) == 0 && conf_validate(c, &e) == 0) {
		for (unsigned i = 0; i < c->nchannels; i++) {
			const struct conf_channel *ch = &c->channels[i];
			size_t n = strlen(ch->name);
			CHECK(n >= 1 && n <= 63);
			/* the tty by its path, or by what it is (rpmsg =): one of the two */
			CHECK(!ch->device != !ch->rpmsg);
			CHECK(ch->device ? ch->device[0] != '\0' : ch->rpmsg[0] != '\0');
			CHECK(!conf_find_channel(c, ch->name) ||
			      conf_find_channel(c, ch->name) == ch);
			CHECK(ch->line >= 0 && (unsigned)ch->line <= count_lines(text));
		}
		return c;
	}
	conf_free(c);
	CHECK(e.message[0]);
	CHECK(e.line >= 0 && (unsigned)e.line <= count_lines(text));
	(void)conf_error_format(&e, msg, sizeof msg);
	return NULL;
}

/* The reload: the daemon keeps slots by channel name; a channel stays, changes in place,
 * reopens (device changed) or goes; new ones are added. Copies must equal the source. */
static void reload(const struct conf *running, const struct conf *next)
{
	for (unsigned i = 0; i < running->nchannels; i++) {
		const struct conf_channel *old = &running->channels[i];
		const struct conf_channel *nw = conf_find_channel(next, old->name);
		if (!nw)
			continue;
		struct conf_channel copy;
		memset(&copy, 0, sizeof copy);
		if (conf_channel_copy(&copy, nw) == 0) {
			CHECK(same_channel(&copy, nw));
			CHECK(conf_channel_needs_reopen(old, &copy) ==
			      conf_channel_needs_reopen(old, nw));
			CHECK(!conf_channel_needs_reopen(nw, &copy));
			/* Supervision kept across the reload only when nothing of it changed. */
			CHECK(supervisor_conf_channel_same(&copy.sup, &nw->sup));
			if (!supervisor_conf_channel_same(&old->sup, &nw->sup))
				CHECK(memcmp(&old->sup, &nw->sup, sizeof(old->sup)) != 0);
			conf_channel_clear(&copy);
		}
	}
}

/* The keys read only at start keep the running values: once kept, nothing is left to
 * say, and the rest of next is untouched. */
static void keep_start_keys(const struct conf *running, struct conf *next)
{
	char changed[256];
	unsigned max_clients = next->daemon.max_clients;
	int r = conf_keep_start_keys(next, running, changed, sizeof(changed));

	if (r < 0)
		return;
	CHECK((r == 0) == (changed[0] == '\0'));
	CHECK(same_str(next->daemon.socket_path, running->daemon.socket_path));
	CHECK(strcmp(next->daemon.sup.sysfs_root, running->daemon.sup.sysfs_root) == 0);
	CHECK(next->daemon.max_clients == max_clients);
	CHECK(conf_keep_start_keys(next, running, changed, sizeof(changed)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *a = malloc(size + 1), *b = malloc(size + 1);
	if (!a || !b)
		goto out;
	memcpy(a, data, size);
	a[size] = '\0';
	size_t alen = strlen(a);
	if (alen < size) {
		memcpy(b, a + alen + 1, size - alen - 1);
		b[size - alen - 1] = '\0';
	} else {
		/* One byte changed, chosen by the text itself: a typo in the edited file. */
		memcpy(b, a, size + 1);
		if (size > 1)
			b[(unsigned char)a[0] % size] = (char)(a[size - 1] ^ 0x20);
		b[strlen(b)] = '\0';
	}
	struct conf *running = parse(a);
	if (!running)
		goto out;
	struct conf *next = parse(b);
	if (next) {
		reload(running, next);
		keep_start_keys(running, next);
		/* Deterministic: the same file gives the same configuration (the keys kept
		 * above aside). */
		struct conf *again = parse(b);
		CHECK(again && conf_keep_start_keys(again, running, NULL, 0) >= 0 &&
		      same_conf(next, again));
		conf_free(again);
		conf_free(next);
	}
	/* A refused reload changed nothing: the running file still parses the same. */
	struct conf *same = parse(a);
	CHECK(same && same_conf(running, same));
	conf_free(same);
	conf_free(running);
out:
	free(a);
	free(b);
	return 0;
}
