/* Incident recorder: RAM ring per channel, incident JSON files in a bounded directory. */
#include "incident.h"
#include "evidence.h"
#include "macro.h"
#include "regfile.h"
#include "utf8.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Integers are written without fraction or exponent (the client protocol's rule), which
 * cJSON's double printing does not promise for values above 2^31. */
static void add_u64(cJSON *o, const char *key, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	cJSON_AddItemToObject(o, key, cJSON_CreateRaw(buf));
}

/* Re-creates integral numbers of a parsed tree as raw integers, in place. */
static void fix_numbers(cJSON *item)
{
	cJSON *c;

	for (c = item ? item->child : NULL; c; c = c->next) {
		if (cJSON_IsNumber(c) && c->valuedouble >= 0 &&
		    c->valuedouble < 9007199254740992.0 &&
		    c->valuedouble == (double)(uint64_t)c->valuedouble) {
			char buf[24];
			snprintf(buf, sizeof(buf), "%llu", (unsigned long long)c->valuedouble);
			c->type = cJSON_Raw;
			c->valuestring = strdup(buf);
			if (!c->valuestring)
				c->type = cJSON_NULL;
		} else {
			fix_numbers(c);
		}
	}
}

#define INCIDENT_BEFORE_MAX 64 /* entries kept from before the fault */
#define INCIDENT_FILE_MAX   (1u << 20)

static const char *const incident_entry_kind_names[] = {
	[INCIDENT_FRAME] = "frame",   [INCIDENT_STATE] = "state", [INCIDENT_FAULT] = "fault",
	[INCIDENT_KERNEL] = "kernel", [INCIDENT_STEP] = "step",	  [INCIDENT_NOTE] = "note",
};
DEFINE_STRING_TABLE_LOOKUP(incident_entry_kind, enum incident_entry_kind, incident_entry_kind_names)

const char *incident_result_to_string(int result)
{
	if (result == 0)
		return "ok";
	if (result == -ETIMEDOUT)
		return "timeout";
	if (result > 0)
		return "running";
	return "failed";
}

int incident_ring_init(struct incident_ring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	if (cap == 0)
		return -EINVAL;
	r->e = calloc(cap, sizeof(*r->e));
	if (!r->e)
		return -ENOMEM;
	r->next = r->e;
	r->end = r->e + cap;
	r->cap = cap;
	return 0;
}

void incident_ring_clear(struct incident_ring *r)
{
	free(r->e);
	memset(r, 0, sizeof(*r));
}

/* Up to the first NUL or len bytes of text into dst (INCIDENT_TEXT_MAX bytes) as valid
 * UTF-8: the incident files and replies are JSON, and a kernel line or a firmware's
 * text may not be, or may be cut inside a character. Returns the bytes kept. */
static size_t incident_text_copy(char *dst, const char *text, size_t len)
{
	return utf8_clean(dst, INCIDENT_TEXT_MAX, text, strnlen(text, len));
}

void incident_ring_text(struct incident_ring *r, uint64_t t_us, enum incident_entry_kind kind,
			const char *text, size_t len)
{
	struct incident_entry *e = incident_ring_push(r);

	if (!e)
		return;
	memset(e, 0, sizeof(*e));
	e->t_us = t_us;
	e->kind = kind;
	size_t n = incident_text_copy(e->text, text, len);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)e->text[i] < 0x20 || e->text[i] == 0x7f)
			e->text[i] = '?';
}

const struct incident_entry *incident_ring_at(const struct incident_ring *r, size_t i)
{
	if (i >= incident_ring_len(r))
		return NULL;
	/* Full, the oldest is the next to be overwritten; else the first slot. */
	size_t oldest = r->full ? (size_t)(r->next - r->e) : 0;
	return &r->e[(oldest + i) % r->cap];
}

static cJSON *entry_json(const struct incident_entry *e)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	add_u64(o, "t_us", e->t_us);
	cJSON_AddStringToObject(o, "kind", incident_entry_kind_to_string(e->kind));
	if (e->kind == INCIDENT_FRAME) {
		cJSON_AddNumberToObject(o, "type", e->type);
		cJSON_AddNumberToObject(o, "port", e->port);
		cJSON_AddNumberToObject(o, "flags", e->flags);
		cJSON_AddNumberToObject(o, "seq", e->seq);
		cJSON_AddNumberToObject(o, "len", e->len);
	} else {
		/* cJSON escapes; the ring already replaced control bytes. Invalid UTF-8 from
		 * the kernel stays bytes: JSON readers that care will replace it. */
		cJSON_AddStringToObject(o, "text", e->text);
	}
	return o;
}

/* incident-000042-m7.json -> 42; 0 when the name is not ours: digits only (scanf would
 * take a sign or blanks) and at most 2^53, so that a planted or damaged name can neither
 * wrap the numbering (the next one is the largest plus one) nor pass what JSON readers
 * hold exactly. */
#define INCIDENT_SEQ_MAX (1ull << 53)

static uint64_t file_seq(const char *name)
{
	static const char pre[] = "incident-";
	const char *p = name + sizeof(pre) - 1;
	uint64_t v = 0;
	size_t len = strlen(name);

	if (strncmp(name, pre, sizeof(pre) - 1) != 0 || len < 5 ||
	    strcmp(name + len - 5, ".json") != 0 || *p < '0' || *p > '9')
		return 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > INCIDENT_SEQ_MAX)
			return 0;
	}
	return *p == '-' ? v : 0;
}

struct fileent {
	uint64_t seq;
	uint64_t size;
	char name[NAME_MAX + 1];
};

static int cmp_fileent(const void *a, const void *b)
{
	const struct fileent *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The incident files in the store's directory, sorted by sequence: regular files only,
 * never followed through a symlink. Caller frees *out. */
static int list_files(const struct incident_store *s, struct fileent **out, size_t *n)
{
	struct fileent *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	int fd = dup(s->dirfd); /* closedir() closes it; the store keeps its own */
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	*out = NULL;
	*n = 0;
	if (!d) {
		int r = -errno;
		if (fd >= 0)
			close(fd);
		return r;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		uint64_t seq = file_seq(de->d_name);
		struct stat st;

		if (!seq || fstatat(s->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (cnt == cap) {
			struct fileent *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
			cap = cap ? cap * 2 : 16;
		}
		v[cnt].seq = seq;
		v[cnt].size = (uint64_t)st.st_size;
		snprintf(v[cnt].name, sizeof(v[cnt].name), "%s", de->d_name);
		cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_fileent);
	*out = v;
	*n = cnt;
	return 0;
}

int incident_store_check(const struct incident_store *s)
{
	struct stat st;

	if (fstat(s->dirfd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	/* Anyone else who can write here can plant a link for us to follow or serve. */
	if (st.st_uid != s->owner || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return 0;
}

int incident_store_new(const char *dir, uid_t owner, unsigned max_files, uint64_t max_bytes,
		       struct incident_store **out)
{
	struct incident_store *s;
	struct fileent *v;
	size_t n;
	int r;

	*out = NULL;
	if (!dir || !*dir)
		return -EINVAL;
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		return -errno;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		return -ENOMEM;
	}
	s->owner = owner;
	s->dirfd = -1;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->dirfd < 0) {
		r = errno == ELOOP ? -ENOTDIR : -errno;
		incident_store_free(s);
		return r;
	}
	s->max_files = max_files ? max_files : 1;
	s->max_bytes = max_bytes;
	r = incident_store_check(s);
	if (r == 0)
		r = list_files(s, &v, &n);
	if (r < 0) {
		incident_store_free(s);
		return r;
	}
	s->next_seq = n ? v[n - 1].seq + 1 : 1;
	free(v);
	*out = s;
	return 0;
}

struct incident_store *incident_store_free(struct incident_store *s)
{
	if (!s)
		return NULL;
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->dir);
	free(s);
	return NULL;
}

struct incident *incident_open(struct incident_store *s, const struct incident_ring *ring,
			       const char *channel, const char *kind, const char *source,
			       const char *detail, uint64_t now_us)
{
	struct incident *inc = calloc(1, sizeof(*inc));
	size_t i, first, n;

	if (!inc)
		return NULL;
	inc->seq = s->next_seq++;
	snprintf(inc->channel, sizeof(inc->channel), "%s", channel ? channel : "");
	snprintf(inc->kind, sizeof(inc->kind), "%s", kind ? kind : "unknown");
	snprintf(inc->source, sizeof(inc->source), "%s", source ? source : "unknown");
	(void)incident_text_copy(inc->detail, detail ? detail : "", INCIDENT_TEXT_MAX);
	inc->start_us = now_us;
	inc->events = 1;
	inc->ring_at = incident_ring_total(ring);
	inc->before = cJSON_CreateArray();
	if (!inc->before) {
		free(inc);
		return NULL;
	}
	n = incident_ring_len(ring);
	first = n > INCIDENT_BEFORE_MAX ? n - INCIDENT_BEFORE_MAX : 0;
	for (i = first; i < n; i++) {
		cJSON *e = entry_json(incident_ring_at(ring, i));
		if (e)
			cJSON_AddItemToArray(inc->before, e);
	}
	return inc;
}

bool incident_full(const struct incident *inc, uint64_t now_ms)
{
	return inc->events >= INCIDENT_MAX_EVENTS ||
	       (now_ms >= inc->open_ms && now_ms - inc->open_ms >= INCIDENT_MAX_MS);
}

bool incident_extend(struct incident *inc, uint64_t now_ms)
{
	if (incident_full(inc, now_ms))
		return false;
	inc->events++;
	return true;
}

void incident_discard(struct incident *inc)
{
	if (!inc)
		return;
	cJSON_Delete(inc->before);
	cJSON_Delete(inc->evidence);
	free(inc);
}

static cJSON *steps_json(const struct incident_step *steps, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; a && i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddStringToObject(o, "action", steps[i].action ? steps[i].action : "unknown");
		cJSON_AddStringToObject(o, "result", incident_result_to_string(steps[i].result));
		if (steps[i].result < 0)
			cJSON_AddNumberToObject(o, "errno", -steps[i].result);
		add_u64(o, "ms", steps[i].ms);
		if (steps[i].why)
			cJSON_AddStringToObject(o, "why", steps[i].why);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

/* Removes the oldest files until the directory is within its bounds. */
static void prune(const struct incident_store *s)
{
	struct fileent *v;
	size_t n, i = 0;
	uint64_t total = 0;

	if (list_files(s, &v, &n) < 0)
		return;
	for (size_t k = 0; k < n; k++)
		total += v[k].size;
	/* The newest file always stays, even if it alone exceeds max_bytes. */
	while (n - i > 1 && (n - i > s->max_files || (s->max_bytes && total > s->max_bytes))) {
		(void)unlinkat(s->dirfd, v[i].name, 0);
		total -= v[i].size;
		i++;
	}
	free(v);
}

static void safe_name(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < size && src[i]; i++) {
		char c = src[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		dst[i] = ok && !(i == 0 && c == '.') ? c : '_';
	}
	dst[i] = '\0';
}

/* Writes text and a newline to name, atomically (regfile_replace_at()): a reader never
 * sees half a file, and no name planted in the store is followed. Frees text. */
static int write_file(const struct incident_store *s, const char *name, char *text)
{
	size_t len = strlen(text);
	char *line = realloc(text, len + 2);
	int r;

	if (!line) {
		free(text);
		return -ENOMEM;
	}
	line[len] = '\n';
	r = regfile_replace_at(s->dirfd, name, line, len + 1);
	free(line);
	return r;
}

/* The contents of name if it is a regular file the store's owner wrote (not a link, not
 * a device, not planted by someone else) of at most INCIDENT_FILE_MAX bytes; NULL if
 * not. Caller frees. */
static char *read_file(const struct incident_store *s, const char *name)
{
	int fd = openat(s->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t got = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == s->owner && st.st_size > 0 &&
	    st.st_size <= INCIDENT_FILE_MAX)
		buf = malloc((size_t)st.st_size + 1);
	while (buf && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			break;
		if (n > 0)
			got += (size_t)n;
	}
	close(fd);
	if (buf)
		buf[got] = '\0';
	return buf;
}

int incident_close(struct incident_store *s, struct incident *inc, const struct incident_ring *ring,
		   const char *outcome, const struct incident_step *steps, size_t nsteps,
		   cJSON *counters, uint64_t now_us)
{
	char name[NAME_MAX + 1], chan[64];
	cJSON *o = cJSON_CreateObject(), *after;
	char *text = NULL;
	size_t i, len;
	uint64_t total, since, kept;
	int r;

	if (!o) {
		cJSON_Delete(counters);
		incident_discard(inc);
		return -ENOMEM;
	}
	add_u64(o, "seq", inc->seq);
	cJSON_AddStringToObject(o, "channel", inc->channel);
	add_u64(o, "start_us", inc->start_us);
	add_u64(o, "end_us", now_us);
	cJSON_AddStringToObject(o, "kind", inc->kind);
	cJSON_AddStringToObject(o, "source", inc->source);
	if (inc->detail[0])
		cJSON_AddStringToObject(o, "detail", inc->detail);
	cJSON_AddStringToObject(o, "outcome", outcome ? outcome : "failed");
	/* The wall clock may have been set meanwhile: never a negative (huge) duration. */
	if (inc->close_ms && inc->close_ms >= inc->open_ms)
		add_u64(o, "duration_ms", inc->close_ms - inc->open_ms);
	else
		add_u64(o, "duration_ms",
			now_us >= inc->start_us ? (now_us - inc->start_us) / 1000 : 0);
	add_u64(o, "events", inc->events);
	if (inc->continues)
		add_u64(o, "continues", inc->continues);
	cJSON_AddItemToObject(o, "steps", steps_json(steps, nsteps));
	if (counters)
		cJSON_AddItemToObject(o, "counters", counters);
	cJSON_AddItemToObject(o, "before", inc->before);
	inc->before = NULL;
	if (inc->evidence)
		cJSON_AddItemToObject(o, "evidence", inc->evidence);
	inc->evidence = NULL;
	/* The entries written since the open, told apart by count, not time (the wall
	 * clock may have been set back); those the ring let go since are counted. */
	after = cJSON_AddArrayToObject(o, "after");
	total = incident_ring_total(ring);
	len = incident_ring_len(ring);
	since = total >= inc->ring_at ? total - inc->ring_at : len; /* a new ring: all */
	kept = since < len ? since : len;
	for (i = len - kept; after && i < len; i++) {
		cJSON *j = entry_json(incident_ring_at(ring, i));
		if (j)
			cJSON_AddItemToArray(after, j);
	}
	add_u64(o, "after_dropped", since - kept);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	safe_name(chan, sizeof(chan), inc->channel);
	snprintf(name, sizeof(name), "incident-%06llu-%s.json", (unsigned long long)inc->seq, chan);
	incident_discard(inc);
	if (!text)
		return -ENOMEM;
	r = write_file(s, name, text);
	prune(s);
	return r;
}

static cJSON *summary_from(const cJSON *full, const char *file)
{
	static const char *const keep[] = {"seq",    "channel",	    "start_us", "end_us",
					   "kind",   "source",	    "outcome",	"steps",
					   "detail", "duration_ms", "events",	"continues"};
	cJSON *o = cJSON_CreateObject(), *words;
	size_t i;

	if (!o)
		return NULL;
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(full, keep[i]);
		if (v)
			cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, 1));
	}
	fix_numbers(o);
	words = evidence_last_words(cJSON_GetObjectItemCaseSensitive(full, "evidence"), 3);
	if (words)
		cJSON_AddItemToObject(o, "last_words", words);
	if (file)
		cJSON_AddStringToObject(o, "file", file);
	return o;
}

cJSON *incident_list(const struct incident_store *s, const char *channel)
{
	cJSON *a = cJSON_CreateArray();
	struct fileent *v;
	size_t n, i;

	if (!a)
		return NULL;
	if (list_files(s, &v, &n) < 0)
		return a;
	for (i = 0; i < n; i++) {
		char path[PATH_MAX], *buf = read_file(s, v[i].name);
		cJSON *full, *sum;
		const cJSON *ch;

		if (!buf)
			continue;
		full = cJSON_Parse(buf);
		free(buf);
		if (!full)
			continue; /* not ours or damaged: skipped, never fatal */
		ch = cJSON_GetObjectItemCaseSensitive(full, "channel");
		if (!channel || (cJSON_IsString(ch) && strcmp(ch->valuestring, channel) == 0)) {
			snprintf(path, sizeof(path), "%s/%s", s->dir, v[i].name);
			sum = summary_from(full, path);
			if (sum)
				cJSON_AddItemToArray(a, sum);
		}
		cJSON_Delete(full);
	}
	free(v);
	return a;
}

cJSON *incident_summary_open(const struct incident *inc, const struct incident_step *steps,
			     size_t nsteps)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	add_u64(o, "seq", inc->seq);
	cJSON_AddStringToObject(o, "channel", inc->channel);
	add_u64(o, "start_us", inc->start_us);
	cJSON_AddStringToObject(o, "kind", inc->kind);
	cJSON_AddStringToObject(o, "source", inc->source);
	cJSON_AddStringToObject(o, "outcome", "open");
	add_u64(o, "events", inc->events);
	if (inc->continues)
		add_u64(o, "continues", inc->continues);
	cJSON_AddItemToObject(o, "steps", steps_json(steps, nsteps));
	if (inc->detail[0])
		cJSON_AddStringToObject(o, "detail", inc->detail);
	return o;
}
