/* Requests to m7bridged: struct m7b_request formatted as one NDJSON line. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "m7bridge/client.h"
#include "m7bridge/utf8.h"

/* Largest request id a double holds exactly, with all below it: 2^53 - 1. */
#define REQUEST_ID_MAX 9007199254740991LL

static const char *const cmd_names[] = {
	[M7B_CMD_WATCH] = "watch",	   [M7B_CMD_UNWATCH] = "unwatch",
	[M7B_CMD_STATUS] = "status",	   [M7B_CMD_SEND] = "send",
	[M7B_CMD_RECOVER] = "recover",	   [M7B_CMD_RELOAD] = "reload",
	[M7B_CMD_INCIDENTS] = "incidents", [M7B_CMD_PING] = "ping",
};

const char *m7b_cmd_to_string(enum m7b_cmd cmd)
{
	if ((unsigned)cmd < sizeof(cmd_names) / sizeof(cmd_names[0]))
		return cmd_names[cmd];
	return NULL;
}

static bool add_strings(cJSON *obj, const char *name, const char *const *v, size_t n)
{
	cJSON *arr;

	if (!v || n == 0)
		return true;
	if (n > INT32_MAX)
		return false;
	arr = cJSON_CreateStringArray(v, (int)n);
	return arr && cJSON_AddItemToObject(obj, name, arr);
}

static bool add_ints(cJSON *obj, const char *name, const int *v, size_t n)
{
	cJSON *arr;

	if (!v || n == 0)
		return true;
	if (n > INT32_MAX)
		return false;
	arr = cJSON_CreateIntArray(v, (int)n);
	return arr && cJSON_AddItemToObject(obj, name, arr);
}

/* What the daemon would refuse with bad_type: a NULL among the strings, a port beyond
 * 0..255 (docs/CLIENT-PROTOCOL.md 3.1). Arrays left out are not looked at. */
static bool watch_valid(const struct m7b_watch *w)
{
	for (size_t i = 0; w && w->channels && i < w->nchannels; i++)
		if (!w->channels[i])
			return false;
	for (size_t i = 0; w && w->classes && i < w->nclasses; i++)
		if (!w->classes[i])
			return false;
	for (size_t i = 0; w && w->ports && i < w->nports; i++)
		if (w->ports[i] < 0 || w->ports[i] > 255)
			return false;
	return true;
}

static bool add_watch(cJSON *obj, const struct m7b_watch *w)
{
	if (!w)
		return true;
	if (!add_strings(obj, "channels", w->channels, w->nchannels) ||
	    !add_ints(obj, "ports", w->ports, w->nports) ||
	    !add_strings(obj, "classes", w->classes, w->nclasses))
		return false;
	if (w->encoding && !cJSON_AddStringToObject(obj, "encoding", w->encoding))
		return false;
	if (w->policy && !cJSON_AddStringToObject(obj, "policy", w->policy))
		return false;
	return true;
}

static bool add_send(cJSON *obj, const struct m7b_request *req)
{
	size_t cap = (req->len + 2) / 3 * 4 + 1;
	char *b64;
	bool ok;

	if (req->port < 0 || req->port > 255 || (req->len && !req->data))
		return false;
	b64 = malloc(cap);
	if (!b64)
		return false;
	ok = m7b_base64_encode(req->data ? req->data : "", req->len, b64, cap) >= 0 &&
	     cJSON_AddNumberToObject(obj, "port", req->port) &&
	     cJSON_AddStringToObject(obj, "data", b64);
	free(b64);
	return ok;
}

char *m7b_request_format(const struct m7b_request *req, int64_t id, int *error)
{
	const char *cmd = req ? m7b_cmd_to_string(req->cmd) : NULL;
	cJSON *obj;
	char *json = NULL, *line = NULL;
	char id_text[24];
	bool ok;
	int r = -ENOMEM;

	/* The daemon reads numbers as doubles: beyond 2^53 the id it echoes could be another.
	 * Printed here from the integer, as cJSON would round a double near 2^53. */
	if (!cmd || id > REQUEST_ID_MAX || id < -REQUEST_ID_MAX) {
		if (error)
			*error = -EINVAL;
		return NULL;
	}
	snprintf(id_text, sizeof(id_text), "%" PRId64, id);
	obj = cJSON_CreateObject();
	if (!obj)
		goto out;
	ok = cJSON_AddStringToObject(obj, "cmd", cmd) && cJSON_AddRawToObject(obj, "id", id_text);
	switch (req->cmd) {
	case M7B_CMD_WATCH:
		if (ok && !watch_valid(req->watch)) {
			r = -EINVAL;
			ok = false;
		}
		ok = ok && add_watch(obj, req->watch);
		break;
	case M7B_CMD_SEND:
		if (ok && !add_send(obj, req)) {
			r = -EINVAL;
			ok = false;
		}
		if (ok && req->channel)
			ok = cJSON_AddStringToObject(obj, "channel", req->channel);
		break;
	case M7B_CMD_RECOVER:
	case M7B_CMD_RELOAD:
	case M7B_CMD_INCIDENTS:
		if (ok && req->channel)
			ok = cJSON_AddStringToObject(obj, "channel", req->channel);
		if (ok && req->cmd == M7B_CMD_RELOAD && req->firmware)
			ok = cJSON_AddStringToObject(obj, "firmware", req->firmware);
		if (ok && req->cmd == M7B_CMD_RELOAD && req->no_rollback)
			ok = cJSON_AddTrueToObject(obj, "no_rollback");
		if (ok && req->cmd == M7B_CMD_RECOVER && req->action)
			ok = cJSON_AddStringToObject(obj, "action", req->action);
		break;
	default:
		break;
	}
	if (!ok)
		goto out;
	json = cJSON_PrintUnformatted(obj);
	if (!json)
		goto out;
	size_t n = strlen(json);
	/* The daemon refuses anything else as bad_json, without the id a reply is matched
	 * by. */
	if (!m7b_utf8_valid(json, n)) {
		r = -EINVAL;
		goto out;
	}
	/* Nor a line longer than any may be: it would close the connection (too_long). */
	if (n > M7B_LINE_MAX) {
		r = -EMSGSIZE;
		goto out;
	}

	line = malloc(n + 2);
	if (!line)
		goto out;
	memcpy(line, json, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	r = 0;
out:
	cJSON_free(json);
	cJSON_Delete(obj);
	if (error)
		*error = r;
	return line;
}
