/* An incident's evidence from the platform: trace0 decoded, devcoredumps summed, bounded. */
#include "evidence.h"
#include "fwtrace.h"
#include "regfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Integers without fraction or exponent, as everywhere in the client protocol. */
static void add_u64(cJSON *o, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	cJSON_AddItemToObject(o, key, cJSON_CreateRaw(buf));
}

static void add_error(cJSON *o, int err)
{
	cJSON_AddStringToObject(o, "error", strerror(-err));
	cJSON_AddNumberToObject(o, "errno", -err);
}

/* read() until n bytes or end of file; bytes read or -errno. */
static ssize_t read_full(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(fd, buf + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

int evidence_read_bounded(const char *path, size_t max, char **out, size_t *len, bool *more)
{
	int fd = regfile_open(path);

	if (fd < 0) {
		*out = NULL;
		*len = 0;
		*more = false;
		return fd;
	}
	return evidence_read_bounded_fd(fd, max, out, len, more);
}

int evidence_read_bounded_fd(int fd, size_t max, char **out, size_t *len, bool *more)
{
	char *buf, extra;
	ssize_t n;

	*out = NULL;
	*len = 0;
	*more = false;
	buf = malloc(max + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read_full(fd, buf, max);
	/* One byte more tells a file of exactly max bytes from a longer one. */
	if (n == (ssize_t)max && read_full(fd, &extra, 1) == 1)
		*more = true;
	close(fd);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	return 0;
}

cJSON *evidence_trace_json(const char *snap, size_t len, bool truncated, size_t max_lines)
{
	size_t cap = fwtrace_max_lines(len), n, i;
	struct fwtrace_stats st = {0};
	struct fwtrace_line *v;
	cJSON *o, *a;

	v = calloc(cap ? cap : 1, sizeof(*v));
	o = cJSON_CreateObject();
	if (!v || !o) {
		free(v);
		cJSON_Delete(o);
		return NULL;
	}
	n = fwtrace_decode(snap, len, v, cap, &st);
	add_u64(o, "bytes", len);
	cJSON_AddBoolToObject(o, "truncated", truncated);
	a = cJSON_AddArrayToObject(o, "lines");
	/* The newest lines are the M7's last words; older ones are counted, not kept. */
	for (i = n > max_lines ? n - max_lines : 0; a && i < n; i++) {
		cJSON *l = cJSON_CreateObject();
		char *text = strndup(v[i].text, v[i].text_len);
		if (!l || !text) {
			cJSON_Delete(l);
			free(text);
			break;
		}
		add_u64(l, "seq", v[i].seq);
		add_u64(l, "ticks", v[i].ticks);
		add_u64(l, "level", v[i].level);
		cJSON_AddStringToObject(l, "text", text);
		free(text);
		cJSON_AddItemToArray(a, l);
	}
	add_u64(o, "lines_dropped", (n > max_lines ? n - max_lines : 0) + st.overflow);
	add_u64(o, "bad_lines", st.bad_lines);
	add_u64(o, "bad_bytes", st.bad_bytes);
	free(v);
	return o;
}

/* FNV-1a, 64 bit: enough to tell two dumps apart, no crypto library needed. */
static uint64_t fnv1a64(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

cJSON *evidence_dump_json(const char *path, size_t max)
{
	unsigned char buf[8192];
	char head[2 * EVIDENCE_DUMP_HEAD + 1] = "", hash[17];
	uint64_t h = 0xcbf29ce484222325ull;
	size_t total = 0, nhead = 0;
	bool complete = false;
	cJSON *o = cJSON_CreateObject();
	int fd;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "path", path);
	fd = regfile_open(path);
	if (fd < 0) {
		add_error(o, fd);
		return o;
	}
	/* Streamed: a dump can be as large as the M7's memory; only max bytes are read. */
	while (total < max) {
		size_t want = max - total < sizeof(buf) ? max - total : sizeof(buf);
		ssize_t k = read_full(fd, (char *)buf, want);
		if (k < 0) {
			add_error(o, (int)k);
			break;
		}
		for (size_t i = 0; nhead < EVIDENCE_DUMP_HEAD && i < (size_t)k; i++, nhead++)
			snprintf(head + 2 * nhead, 3, "%02x", buf[i]);
		h = fnv1a64(h, buf, (size_t)k);
		total += (size_t)k;
		if ((size_t)k < want) {
			complete = true;
			break;
		}
	}
	if (total == max && read_full(fd, (char *)buf, 1) == 0)
		complete = true;
	close(fd);
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)h);
	add_u64(o, "bytes", total);
	cJSON_AddBoolToObject(o, "complete", complete);
	cJSON_AddStringToObject(o, "fnv1a64", hash);
	cJSON_AddStringToObject(o, "head", head);
	return o;
}

static cJSON *trace_of(const struct evidence_source *src)
{
	char path[PATH_MAX], *snap;
	size_t len;
	bool more;
	cJSON *o;
	int r;

	snprintf(path, sizeof(path), "%s/remoteproc/%s/trace0", src->debugfs_root, src->instance);
	if (!src->trace_given)
		r = evidence_read_bounded(path, EVIDENCE_TRACE_MAX, &snap, &len, &more);
	else if (src->trace_fd >= 0)
		r = evidence_read_bounded_fd(src->trace_fd, EVIDENCE_TRACE_MAX, &snap, &len, &more);
	else
		r = src->trace_fd;
	if (r < 0) {
		o = cJSON_CreateObject();
		if (o) {
			add_error(o, r);
			cJSON_AddStringToObject(o, "path", path);
		}
		return o;
	}
	o = evidence_trace_json(snap, len, more, EVIDENCE_TRACE_LINES);
	free(snap);
	if (o)
		cJSON_AddStringToObject(o, "path", path);
	return o;
}

/* Whether devcdN's failing device is ours (its failing_device link names the remoteproc
 * instance or its parent); with no names to compare, every dump is kept. */
static bool dump_is_ours(const struct evidence_source *src, const char *dir, char *name, size_t cap)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	const char *base;

	n = -1;
	if (snprintf(link, sizeof(link), "%s/failing_device", dir) < (int)sizeof(link))
		n = readlink(link, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(name, cap, "%s", "");
		return true;
	}
	target[n] = '\0';
	base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	snprintf(name, cap, "%.*s", (int)(cap - 1), base);
	if (!src->instance && !(src->device && *src->device))
		return true;
	return (src->instance && strcmp(base, src->instance) == 0) ||
	       (src->device && *src->device && strcmp(base, src->device) == 0);
}

/* At most EVIDENCE_DUMPS_MAX dumps of ours, summed; *skipped counts the others of ours. */
static cJSON *dumps_of(const struct evidence_source *src, unsigned *skipped)
{
	char dir[PATH_MAX], sub[PATH_MAX], data[PATH_MAX + 8], failing[256];
	cJSON *a = cJSON_CreateArray();
	struct dirent *de;
	unsigned seen = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/class/devcoredump", src->sysfs_root);
	if (!a || !(d = opendir(dir)))
		return a;
	while ((de = readdir(d))) {
		cJSON *o;

		if (strncmp(de->d_name, "devcd", 5) != 0)
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= (int)sizeof(sub))
			continue;
		if (!dump_is_ours(src, sub, failing, sizeof(failing)))
			continue;
		if (seen == EVIDENCE_DUMPS_MAX) {
			(*skipped)++;
			continue;
		}
		seen++;
		snprintf(data, sizeof(data), "%s/data", sub);
		o = evidence_dump_json(data, EVIDENCE_DUMP_MAX);
		if (!o)
			break;
		cJSON_AddStringToObject(o, "name", de->d_name);
		cJSON_AddStringToObject(o, "failing_device", failing);
		cJSON_AddItemToArray(a, o);
	}
	closedir(d);
	return a;
}

cJSON *evidence_gather(const struct evidence_source *src)
{
	cJSON *o = cJSON_CreateObject(), *x;
	unsigned skipped = 0;

	if (!o) {
		if (src->trace_given && src->trace_fd >= 0)
			close(src->trace_fd);
		return NULL;
	}
	if (src->debugfs_root && src->instance) {
		if ((x = trace_of(src)))
			cJSON_AddItemToObject(o, "trace", x);
	} else if (src->trace_given && src->trace_fd >= 0) {
		close(src->trace_fd); /* taken either way */
	}
	if (src->sysfs_root && (x = dumps_of(src, &skipped))) {
		cJSON_AddItemToObject(o, "devcoredumps", x);
		if (skipped)
			add_u64(o, "devcoredumps_skipped", skipped);
	}
	return o;
}

cJSON *evidence_last_words(const cJSON *evidence, size_t n)
{
	const cJSON *lines = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(evidence, "trace"), "lines");
	int total = cJSON_GetArraySize(lines);
	cJSON *a;

	if (total <= 0 || !(a = cJSON_CreateArray()))
		return NULL;
	for (int i = total > (int)n ? total - (int)n : 0; i < total; i++) {
		const cJSON *t =
			cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(lines, i), "text");
		if (cJSON_IsString(t))
			cJSON_AddItemToArray(a, cJSON_CreateString(t->valuestring));
	}
	return a;
}
