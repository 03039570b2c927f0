/* Client protocol v1 requests: one line parsed with cJSON into a struct proto_request,
 * every member checked. */
#include "proto.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "m7bridge/base64.h"
#include "m7bridge/hex.h"

#include "jsoncheck.h"
#include "macro.h"

static int fail(struct proto_error *e, enum proto_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct proto_error *e, enum proto_err code, const char *fmt, ...)
{
	e->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void proto_request_clear(struct proto_request *req)
{
	cJSON_Delete(req->json);
	free(req->channels);
	req->json = NULL;
	req->channels = NULL;
	req->nchannels = 0;
}

static const struct {
	const char *name;
	enum proto_cmd cmd;
} cmds[] = {
	{"watch", PROTO_CMD_WATCH},	    {"unwatch", PROTO_CMD_UNWATCH},
	{"status", PROTO_CMD_STATUS},	    {"send", PROTO_CMD_SEND},
	{"recover", PROTO_CMD_RECOVER},	    {"reload", PROTO_CMD_RELOAD},
	{"incidents", PROTO_CMD_INCIDENTS}, {"ping", PROTO_CMD_PING},
};

/* A JSON number that is an integer in [min, max]. */
static bool int_in(const cJSON *it, double min, double max, long *out)
{
	if (!cJSON_IsNumber(it))
		return false;
	double v = it->valuedouble;
	if (!(v >= min && v <= max) || floor(v) != v)
		return false;
	*out = (long)v;
	return true;
}

/* A string member, any length, where cJSON holds it: *out. 1 when present, 0 when absent
 * (and not required). What it may hold is for the caller to judge: a value too long for
 * any word the member takes is answered like any other value it does not take. */
static int get_text(const cJSON *root, const char *key, bool required, const char **out,
		    struct proto_error *e)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
	if (!it) {
		if (required)
			return fail(e, PROTO_E_MISSING_MEMBER, "member \"%s\" is required", key);
		return 0;
	}
	if (!cJSON_IsString(it))
		return fail(e, PROTO_E_BAD_TYPE, "member \"%s\" must be a string", key);
	*out = it->valuestring;
	return 1;
}

/* A channel name member: kept whole (a name too long for any channel is unknown, which
 * the daemon says, not malformed). 1 when present. */
static int get_channel(const cJSON *root, bool required, struct proto_request *req,
		       struct proto_error *e)
{
	return get_text(root, "channel", required, &req->channel, e);
}

static int parse_watch_channels(const cJSON *it, struct proto_request *req, struct proto_error *e)
{
	if (!cJSON_IsArray(it))
		return fail(e, PROTO_E_BAD_TYPE, "\"channels\" must be an array of strings");
	int n = cJSON_GetArraySize(it);
	if (n > 1024)
		return fail(e, PROTO_E_BAD_VALUE, "\"channels\" has too many entries");
	req->all_channels = false;
	req->channels = calloc((size_t)(n ? n : 1), sizeof(*req->channels));
	if (!req->channels)
		return fail(e, PROTO_E_INTERNAL, "out of memory");
	const cJSON *c;
	cJSON_ArrayForEach(c, it)
	{
		if (!cJSON_IsString(c))
			return fail(e, PROTO_E_BAD_TYPE,
				    "\"channels\" must be an array of strings");
		req->channels[req->nchannels++] = c->valuestring;
	}
	return 0;
}

static int parse_watch_ports(const cJSON *it, struct proto_request *req, struct proto_error *e)
{
	if (!cJSON_IsArray(it))
		return fail(e, PROTO_E_BAD_TYPE, "\"ports\" must be an array of integers");
	memset(req->ports, 0, sizeof(req->ports));
	const cJSON *p;
	cJSON_ArrayForEach(p, it)
	{
		long v;
		if (!int_in(p, 0, 255, &v))
			return fail(e, PROTO_E_BAD_TYPE, "\"ports\" must hold integers 0..255");
		req->ports[v >> 6] |= 1ull << (v & 63);
	}
	return 0;
}

static int parse_watch_classes(const cJSON *it, struct proto_request *req, struct proto_error *e)
{
	if (!cJSON_IsArray(it))
		return fail(e, PROTO_E_BAD_TYPE, "\"classes\" must be an array of strings");
	req->classes = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, it)
	{
		if (!cJSON_IsString(c))
			return fail(e, PROTO_E_BAD_TYPE, "\"classes\" must be an array of strings");
		unsigned bit = proto_class_from_string(c->valuestring);
		if (!bit)
			return fail(e, PROTO_E_BAD_VALUE,
				    "unknown class \"%.32s\" (FRAME, STATE, LOG, HELLO, HEARTBEAT, "
				    "FAULT, CLOCK, RAW)",
				    c->valuestring);
		req->classes |= bit;
	}
	return 0;
}

/* An optional string member that must be one of two words: *out = v1 or v2. */
static int parse_choice(const cJSON *root, const char *key, const char *w1, int v1, const char *w2,
			int v2, int *out, const char *why, struct proto_error *e)
{
	const char *s = NULL; /* set when r > 0; the initialiser quiets -O3's doubt */
	int r = get_text(root, key, false, &s, e);
	if (r <= 0)
		return r;
	if (strcmp(s, w1) == 0)
		*out = v1;
	else if (strcmp(s, w2) == 0)
		*out = v2;
	else
		return fail(e, PROTO_E_BAD_VALUE, "%s", why);
	return 0;
}

/* An unsigned integer member: a JSON number (exact up to 2^53) or a string of decimal
 * digits (exact to 2^64 - 1, for nanosecond times). */
static int get_u64(const cJSON *it, const char *name, uint64_t max, uint64_t *out,
		   struct proto_error *e)
{
	if (cJSON_IsNumber(it)) {
		double v = it->valuedouble;
		if (v >= 0 && v <= 9007199254740992.0 && v == (double)(uint64_t)v &&
		    (uint64_t)v <= max) {
			*out = (uint64_t)v;
			return 0;
		}
	} else if (cJSON_IsString(it) && it->valuestring[0] && strlen(it->valuestring) <= 20 &&
		   strspn(it->valuestring, "0123456789") == strlen(it->valuestring)) {
		errno = 0;
		unsigned long long v = strtoull(it->valuestring, NULL, 10);
		if (errno == 0 && v <= max) {
			*out = v;
			return 0;
		}
	}
	return fail(e, PROTO_E_BAD_TYPE, "\"%s\" must be an integer 0..%llu", name,
		    (unsigned long long)max);
}

/* since_seq with boot_id, or since_ns: where a replay starts. */
static int parse_watch_since(const cJSON *root, struct proto_request *req, struct proto_error *e)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "since_seq");
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "boot_id");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "since_ns");
	uint64_t v;
	int r;
	if (s && t)
		return fail(e, PROTO_E_BAD_VALUE,
			    "\"since_seq\" and \"since_ns\" exclude each other");
	if (t) {
		if ((r = get_u64(t, "since_ns", UINT64_MAX, &req->since_ns, e)) < 0)
			return r;
		req->since = PROTO_SINCE_TIME;
		return 0;
	}
	if (!s && !b)
		return 0;
	if (!s || !b)
		return fail(e, PROTO_E_MISSING_MEMBER, "\"since_seq\" and \"boot_id\" go together");
	if ((r = get_u64(s, "since_seq", UINT32_MAX, &v, e)) < 0)
		return r;
	req->since_seq = (uint32_t)v;
	if ((r = get_u64(b, "boot_id", UINT32_MAX, &v, e)) < 0)
		return r;
	req->since_boot_id = (uint32_t)v;
	req->since = PROTO_SINCE_SEQ;
	return 0;
}

static int parse_watch(const cJSON *root, struct proto_request *req, struct proto_error *e)
{
	const cJSON *it;
	int r = 0, enc = PROTO_ENC_BASE64, pol = PROTO_POLICY_DROP;

	req->all_channels = true;
	memset(req->ports, 0xff, sizeof(req->ports));
	req->classes = PROTO_C_ALL;
	if ((it = cJSON_GetObjectItemCaseSensitive(root, "channels")))
		r = parse_watch_channels(it, req, e);
	if (r == 0 && (it = cJSON_GetObjectItemCaseSensitive(root, "ports")))
		r = parse_watch_ports(it, req, e);
	if (r == 0 && (it = cJSON_GetObjectItemCaseSensitive(root, "classes")))
		r = parse_watch_classes(it, req, e);
	if (r == 0)
		r = parse_choice(root, "encoding", "base64", PROTO_ENC_BASE64, "hex", PROTO_ENC_HEX,
				 &enc, "\"encoding\" must be base64 or hex", e);
	if (r == 0)
		r = parse_choice(root, "policy", "drop", PROTO_POLICY_DROP, "disconnect",
				 PROTO_POLICY_DISCONNECT, &pol,
				 "\"policy\" must be drop or disconnect", e);
	if (r == 0)
		r = parse_watch_since(root, req, e);
	req->encoding = (enum proto_encoding)enc;
	req->policy = (enum proto_policy)pol;
	return r < 0 ? r : 0;
}

static int parse_send(const cJSON *root, struct proto_request *req, struct proto_error *e)
{
	int r = get_channel(root, true, req, e);
	if (r < 0)
		return r;
	/* Optional here: a raw channel takes bytes without a port; the daemon requires it
	 * for wire channels once it knows which kind the channel is. */
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "port");
	long v;
	if (p && !int_in(p, 0, 255, &v))
		return fail(e, PROTO_E_BAD_TYPE, "\"port\" must be an integer 0..255");
	req->port = p ? (int)v : -1;
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "data");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "hex");
	if ((d && h) || (!d && !h))
		return fail(e, d ? PROTO_E_BAD_VALUE : PROTO_E_MISSING_MEMBER,
			    "exactly one of \"data\" (base64) or \"hex\" is required");
	const cJSON *it = d ? d : h;
	if (!cJSON_IsString(it))
		return fail(e, PROTO_E_BAD_TYPE, "\"%s\" must be a string", d ? "data" : "hex");
	size_t n = strlen(it->valuestring);
	int len = d ? m7b_base64_decode(it->valuestring, n, req->data, sizeof(req->data))
		    : m7b_hex_decode(it->valuestring, n, req->data, sizeof(req->data));
	if (len == -ENOSPC)
		return fail(e, PROTO_E_BAD_VALUE, "at most %u bytes per send", M7B_PAYLOAD_MAX);
	if (len < 0)
		return fail(e, PROTO_E_BAD_VALUE, "\"%s\" is not valid %s", d ? "data" : "hex",
			    d ? "base64" : "hex");
	if (len == 0)
		return fail(e, PROTO_E_BAD_VALUE, "nothing to send");
	req->len = (size_t)len;
	return 0;
}

/* The members each built-in command takes. */
static int parse_members(const cJSON *root, struct proto_request *req, struct proto_error *e)
{
	const char *text = NULL; /* set when get_text() says > 0 */
	int r;
	switch (req->cmd) {
	case PROTO_CMD_WATCH:
		return parse_watch(root, req, e);
	case PROTO_CMD_SEND:
		return parse_send(root, req, e);
	case PROTO_CMD_RECOVER:
		r = get_channel(root, true, req, e);
		if (r < 0)
			return r;
		r = get_text(root, "action", false, &text, e);
		if (r < 0)
			return r;
		if (r > 0 && strcmp(text, "resync") && strcmp(text, "reopen") &&
		    strcmp(text, "driver") && strcmp(text, "remoteproc"))
			return fail(e, PROTO_E_BAD_VALUE,
				    "\"action\" must be resync, reopen, driver or remoteproc");
		if (r > 0)
			strcpy(req->action, text); /* one of the words above */
		return 0;
	case PROTO_CMD_RELOAD:
		r = get_channel(root, true, req, e);
		if (r < 0)
			return r;
		r = get_text(root, "firmware", false, &text, e);
		if (r < 0)
			return r;
		if (r > 0 && strlen(text) >= sizeof(req->firmware))
			return fail(e, PROTO_E_BAD_VALUE,
				    "\"firmware\" is longer than a file name");
		if (r > 0)
			strcpy(req->firmware, text);
		if (r > 0 && (!req->firmware[0] || strchr(req->firmware, '/') ||
			      strcmp(req->firmware, ".") == 0 || strcmp(req->firmware, "..") == 0))
			return fail(e, PROTO_E_BAD_VALUE,
				    "\"firmware\" must be a plain file name under /lib/firmware");
		const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "no_rollback");
		if (item && !cJSON_IsBool(item))
			return fail(e, PROTO_E_BAD_TYPE, "\"no_rollback\" must be true or false");
		req->no_rollback = cJSON_IsTrue(item);
		return 0;
	case PROTO_CMD_INCIDENTS:
		r = get_channel(root, false, req, e);
		return r < 0 ? r : 0;
	default:
		/* Other commands (registered handlers) read their own members from json. */
		return 0;
	}
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A member name given twice in one object of the tree (names as decoded, so "c\u006dd"
 * is "cmd"), or NULL. Parsers disagree on which one counts: cJSON takes the first, Python,
 * jq and Qt the last. The tree is at most JSONCHECK_DEPTH deep; a large object is sorted
 * so that a 64 KiB line costs little. *nomem on allocation failure. */
static const char *duplicate_name(const cJSON *node, bool *nomem)
{
	if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
		return NULL;
	const char *found = NULL;
	const cJSON *k;
	if (cJSON_IsObject(node)) {
		size_t n = 0;
		cJSON_ArrayForEach(k, node) n++;
		if (n > 1) {
			const char **names = malloc(n * sizeof(*names));
			if (!names) {
				*nomem = true;
				return NULL;
			}
			n = 0;
			cJSON_ArrayForEach(k, node) names[n++] = k->string;
			qsort(names, n, sizeof(*names), name_cmp);
			for (size_t i = 1; i < n && !found; i++)
				if (strcmp(names[i - 1], names[i]) == 0)
					found = names[i];
			free(names);
		}
	}
	cJSON_ArrayForEach(k, node)
	{
		if (found || *nomem)
			break;
		found = duplicate_name(k, nomem);
	}
	return found;
}

/* A numeric id as the client's parser reads it back: the same double. An integer below
 * 2^53 in full (+ 0.0 makes -0 print as 0), else the fewest digits that round-trip. */
static void id_number(char *out, size_t size, double d)
{
	if (d == floor(d) && fabs(d) < 9007199254740992.0) {
		snprintf(out, size, "%.0f", d + 0.0);
		return;
	}
	for (int digits = 15; digits < 17; digits++) {
		snprintf(out, size, "%.*g", digits, d);
		if (strtod(out, NULL) == d)
			return;
	}
	snprintf(out, size, "%.17g", d);
}

int proto_parse_request(const char *line, size_t len, struct proto_request *req,
			struct proto_error *e)
{
	memset(req, 0, sizeof(*req));
	req->channel = "";
	req->port = -1;
	e->code = PROTO_E_NONE;
	e->message[0] = '\0';
	if (len > PROTO_LINE_MAX)
		return fail(e, PROTO_E_TOO_LONG, "line longer than %u bytes", PROTO_LINE_MAX);

	/* cJSON takes 007, invalid UTF-8 and more; what it takes is echoed back. */
	struct jsoncheck jc;
	if (!jsoncheck(line, len, &jc))
		return fail(e, PROTO_E_BAD_JSON, "not valid JSON: %s at byte %zu", jc.why,
			    jc.offset);
	/* cJSON's strings end at the first NUL: "ping\u0000junk" would read as "ping". */
	if (jc.nul)
		return fail(e, PROTO_E_BAD_VALUE, "strings must not contain \\u0000");
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(line, len, &end, false);
	if (!root)
		return fail(e, PROTO_E_BAD_JSON, "not valid JSON");
	req->json = root;
	/* Only whitespace may follow the value. */
	for (const char *p = end; p && p < line + len; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return fail(e, PROTO_E_BAD_JSON,
				    "trailing characters after the JSON value");
	if (!cJSON_IsObject(root))
		return fail(e, PROTO_E_NOT_OBJECT, "a request must be a JSON object");
	bool nomem = false;
	const char *dup = duplicate_name(root, &nomem);
	if (nomem)
		return fail(e, PROTO_E_INTERNAL, "out of memory");
	/* A name of 64 bytes at most is shown: cutting a longer one could split a
	 * character. */
	if (dup && strlen(dup) <= 64)
		return fail(e, PROTO_E_BAD_JSON, "member \"%s\" given twice in one object", dup);
	if (dup)
		return fail(e, PROTO_E_BAD_JSON, "a member given twice in one object");

	const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (id) {
		if (!cJSON_IsNumber(id) && !cJSON_IsString(id))
			return fail(e, PROTO_E_BAD_TYPE, "\"id\" must be a number or a string");
		/* 1e400 is a double's infinity, which JSON cannot write back. */
		if (cJSON_IsNumber(id) && !isfinite(id->valuedouble))
			return fail(e, PROTO_E_BAD_VALUE, "\"id\" out of range");
		/* cJSON prints 2^53 - 1 rounded to 15 digits, and 0.30000000000000004 as
		 * 0.3: the client could not match its reply. Numbers are printed here. */
		char num[32], *t = NULL;
		const char *text = num;
		if (cJSON_IsNumber(id))
			id_number(num, sizeof num, id->valuedouble);
		else if (!(text = t = cJSON_PrintUnformatted(id)))
			return fail(e, PROTO_E_INTERNAL, "out of memory");
		bool fits = strlen(text) <= PROTO_ID_MAX;
		if (fits)
			strcpy(req->id, text);
		free(t);
		if (!fits)
			return fail(e, PROTO_E_BAD_VALUE, "\"id\" longer than %d bytes",
				    PROTO_ID_MAX);
	}
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(root, "cmd");
	if (!cmd)
		return fail(e, PROTO_E_MISSING_MEMBER, "member \"cmd\" is required");
	if (!cJSON_IsString(cmd))
		return fail(e, PROTO_E_BAD_TYPE, "\"cmd\" must be a string");
	if (strlen(cmd->valuestring) >= sizeof(req->cmd_name))
		return fail(e, PROTO_E_UNKNOWN_CMD, "unknown cmd");
	strcpy(req->cmd_name, cmd->valuestring);
	req->cmd = PROTO_CMD_OTHER;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, req->cmd_name) == 0)
			req->cmd = cmds[i].cmd;

	return parse_members(root, req, e);
}
